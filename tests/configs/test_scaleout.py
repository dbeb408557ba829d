"""Scale-out configs compose and build their objects (no cluster or GPU needed)."""

from __future__ import annotations

import hydra
import pytest

from eqlatent.runtime.config import compose


def test_slurm_launcher_config_composes_and_instantiates():
    cfg = compose(["hydra/launcher=slurm", "hydra.launcher.partition=gpu"])
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert launcher.gpus_per_node == 1 and launcher.partition == "gpu"
    obj = hydra.utils.instantiate(launcher, _convert_="partial")
    assert type(obj).__name__ == "SlurmLauncher"


def test_local_joblib_launcher_config():
    cfg = compose(["hydra/launcher=local"])
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher") and cfg.hydra.launcher.n_jobs == 2


def test_ddp_trainer_config_builds_a_ddp_trainer_on_cpu(tmp_path):
    cfg = compose(["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2",
                   f"paths.output_root={tmp_path}"])
    assert cfg.trainer.strategy == "ddp" and cfg.trainer.sync_batchnorm
    trainer = hydra.utils.instantiate(cfg.trainer, logger=False, enable_checkpointing=False)
    assert type(trainer.strategy).__name__ == "DDPStrategy"
    assert trainer.num_devices == 2


@pytest.mark.parametrize("name", ["cpu", "gpu", "default"])
def test_single_device_trainers_compose(name):
    assert compose([f"trainer={name}"]).trainer.devices == 1
