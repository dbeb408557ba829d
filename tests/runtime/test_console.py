"""The console gets one line per event: no doubled Lightning lines, no advertisements, no wandb deprecation noise."""

from __future__ import annotations

import logging

import pytest

from eqlatent.runtime.console import configure_console


@pytest.fixture
def root_handler():
    """A root handler, as Hydra installs one before the job starts."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(level=logging.INFO)
    root = logging.getLogger()
    root.addHandler(handler)
    yield records
    root.removeHandler(handler)


def test_lightning_messages_reach_the_root_logger_once(root_handler):
    configure_console()
    configure_console()                                            # idempotent
    assert logging.getLogger("lightning").handlers == []           # Lightning's own console handler is gone
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    rank_zero.info("GPU available: False, used: False")
    rank_zero.info("💡 Tip: For seamless cloud logging, try installing another product")
    messages = [r.getMessage() for r in root_handler]
    assert messages.count("GPU available: False, used: False") == 1
    assert not any("Tip:" in m for m in messages)


def test_offline_wandb_logger_does_not_warn_about_the_anonymous_setting(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    import wandb

    from eqlatent.runtime.loggers import OfflineWandbLogger

    logger = OfflineWandbLogger(project="eqlatent-test", save_dir=str(tmp_path), name="console-test")
    logger.experiment.log({"x": 1.0})
    wandb.finish()
    err = capfd.readouterr().err
    assert "anonymous" not in err


def test_lightning_matmul_tip_does_not_reach_the_console(root_handler, monkeypatch):
    # the tip Lightning logs on an Ampere+ GPU while the precision is torch's default, here without a GPU
    import torch
    from lightning.fabric.accelerators import cuda

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H200")
    monkeypatch.setattr(torch, "get_float32_matmul_precision", lambda: "highest")
    monkeypatch.setattr(cuda, "_is_ampere_or_later", lambda device=None: True)
    configure_console()
    cuda._check_cuda_matmul_precision(torch.device("cuda", 0))
    logging.getLogger("lightning.fabric.utilities.rank_zero").info("GPU available: True (cuda), used: True")
    messages = [r.getMessage() for r in root_handler]
    assert not any("Tensor Cores" in m for m in messages)
    assert messages.count("GPU available: True (cuda), used: True") == 1     # other records still pass


def test_few_workers_warning_is_filtered_and_other_warnings_are_not(monkeypatch):
    import types
    import warnings

    from lightning.fabric.utilities.warnings import PossibleUserWarning
    from lightning.pytorch.trainer.connectors import data_connector
    from torch.utils.data import DataLoader

    monkeypatch.setattr(data_connector, "suggested_max_num_workers", lambda devices: 8)   # as on a 16-core machine
    trainer = types.SimpleNamespace(num_devices=1, reload_dataloaders_every_n_epochs=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        configure_console()
        data_connector._worker_check(trainer, DataLoader(list(range(8)), num_workers=0), "train_dataloader")
        data_connector._worker_check(trainer, DataLoader(list(range(8)), num_workers=0), "val_dataloader")
        warnings.warn("The 'train_dataloader' is something else", PossibleUserWarning)
        warnings.warn("does not have many workers which may be a bottleneck", UserWarning)
    messages = [str(w.message) for w in caught]
    assert not any(m.startswith("The '") and "does not have many workers" in m for m in messages)
    assert "The 'train_dataloader' is something else" in messages
    assert "does not have many workers which may be a bottleneck" in messages


def test_matmul_precision_is_set_from_the_config_at_the_start_of_a_run(monkeypatch):
    import hydra
    import torch

    from eqlatent.runtime.config import compose
    from eqlatent.errors import ConfigError
    from eqlatent.cli.run import run_study

    calls: list[str] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch, "set_float32_matmul_precision", calls.append)
    monkeypatch.setattr(hydra.utils, "get_method", lambda path: lambda cfg: {"study": path})
    cfg = compose(["experiment=images", "profile=cpu"], with_hydra=False)
    assert cfg.matmul_precision == "high"
    assert run_study(cfg) == {"study": cfg.study} and calls == ["high"]
    run_study(compose(["experiment=images", "matmul_precision=highest"], with_hydra=False))
    assert calls == ["high", "highest"]
    with pytest.raises(ConfigError, match="matmul_precision='fast' is not known") as err:
        run_study(compose(["experiment=images", "matmul_precision=fast"], with_hydra=False))
    assert "\n" not in str(err.value) and calls == ["high", "highest"]


def test_matmul_precision_is_left_alone_on_cpu(monkeypatch):
    import torch

    from eqlatent.runtime.console import set_matmul_precision

    calls: list[str] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch, "set_float32_matmul_precision", calls.append)
    set_matmul_precision("high")
    assert calls == []


def test_every_fit_sets_the_configs_matmul_precision(monkeypatch, tmp_path):
    """Side-by-side fits run in spawned processes that skip ``run_study``: the fit itself applies the precision."""
    import torch

    from eqlatent.runtime.config import compose
    from eqlatent.studies import fitting

    class Stop(Exception):
        pass

    def stop(_sub):
        raise Stop

    calls: list[str] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch, "set_float32_matmul_precision", calls.append)
    monkeypatch.setattr(fitting, "make_loggers", stop)   # nothing past the precision is needed here
    sub = fitting.folder_config(compose(["experiment=molecules", "matmul_precision=medium"], with_hydra=False),
                                tmp_path, "latent1")
    with pytest.raises(Stop):
        fitting.fit_in_folder(sub, None, None, None)
    assert calls == ["medium"]
