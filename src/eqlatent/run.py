"""Command-line entry point: ``python -m eqlatent.run experiment=<study> [overrides]``.

Thin on purpose: it seeds, sets wandb to offline unless asked otherwise, and hands the
composed config to the study function named by ``cfg.study``.  Errors caused by the
user's input are printed as one line and exit with status 2.
"""

from __future__ import annotations

import os
import sys

import hydra
from omegaconf import DictConfig

from eqlatent.config import CONFIG_DIR
from eqlatent.errors import ConfigError, EqlatentError


def run_study(cfg: DictConfig) -> dict:
    """Run the study ``cfg.study`` names and return its final metrics."""
    if not cfg.get("study"):
        raise ConfigError("no study selected", "pass experiment=molecules or experiment=images")
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    # deterministic cuBLAS (trainer.deterministic): read when the first cuBLAS handle is made, so before any GPU work
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    import lightning

    from eqlatent.console import configure_console, set_matmul_precision

    configure_console()
    set_matmul_precision(str(cfg.get("matmul_precision", "highest")))
    lightning.seed_everything(int(cfg.seed), workers=True)
    study = hydra.utils.get_method(cfg.study)
    return study(cfg)


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
def main(cfg: DictConfig) -> None:
    try:
        run_study(cfg)
    except EqlatentError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
