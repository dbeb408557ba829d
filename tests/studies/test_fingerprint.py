"""What the Trainer changes about a training step is in the training fingerprint; a plain run's settings are not.

Why: ``batch_size`` is per device, so a folder trained under DDP on N devices holds another
model than a one-device run of the same settings, and must be refused, not reused.  At their
neutral values (one process, no accumulation, float32) the settings are left out, so every
folder trained before they were recorded keeps its fingerprint and is still reused.
"""

from __future__ import annotations

import pytest
import torch

from eqlatent.runtime.config import compose
from eqlatent.errors import ConfigError
from eqlatent.studies.fingerprint import check_fingerprint, trainer_settings, world_size
from eqlatent.studies.images.latents import training_settings as encoder_settings
from eqlatent.studies.molecules.training import training_settings as vae_settings

DDP_CPU = ["trainer=ddp", "trainer.accelerator=cpu"]


def _settings(study: str, overrides: list[str]) -> dict:
    """The fingerprinted settings of the study's first model (a VAE of latent size 1, or the first encoder)."""
    cfg = compose([f"experiment={study}", *overrides], with_hydra=False)
    if study == "images":
        name = next(iter(cfg.model))
        return encoder_settings(cfg, cfg.model[name])
    return vae_settings(cfg, 1)


@pytest.mark.parametrize("study", ["molecules", "images"])
@pytest.mark.parametrize("trainer", ["default", "cpu", "gpu", "ddp"])
def test_a_plain_run_fingerprints_no_trainer_settings(study, trainer):
    # ddp composed on a machine without GPUs: devices -1 finds none, one process; the gpu config's 32-true is float32
    extra = ["trainer.devices=1"] if trainer == "ddp" and torch.cuda.device_count() > 1 else []
    assert "trainer" not in _settings(study, [f"trainer={trainer}", *extra])


@pytest.mark.parametrize("study", ["molecules", "images"])
def test_ddp_devices_change_the_fingerprint_and_a_one_device_run_is_refused(study, tmp_path):
    two = _settings(study, [*DDP_CPU, "trainer.devices=2"])
    one = _settings(study, [*DDP_CPU, "trainer.devices=1"])
    assert two["trainer"]["world_size"] == 2 and "trainer" not in one
    assert {k: v for k, v in two.items() if k != "trainer"} == one          # nothing else differs
    check_fingerprint(tmp_path, two, 1, "a VAE")                            # the folder trained under DDP
    with pytest.raises(ConfigError, match=r"changed: trainer\)"):
        check_fingerprint(tmp_path, one, 1, "a VAE")


@pytest.mark.parametrize(("overrides", "expected"), [
    ([*DDP_CPU, "trainer.devices=2", "trainer.num_nodes=3"],
     {"world_size": 6, "sync_batchnorm": True, "use_distributed_sampler": True}),
    (["+trainer.accumulate_grad_batches=4"], {"accumulate_grad_batches": 4}),
    (["+trainer.precision=bf16"], {"precision": "bf16-mixed"}),
    (["+trainer.gradient_clip_val=0.5"], {"gradient_clip_val": 0.5, "gradient_clip_algorithm": "norm"}),
    (["+trainer.limit_train_batches=1"], {"limit_train_batches": 1}),       # an int: one batch an epoch
])
def test_what_changes_a_step_is_recorded(overrides, expected):
    assert _settings("molecules", overrides)["trainer"] == expected


@pytest.mark.parametrize("neutral", ["+trainer.precision=32", "+trainer.precision=32-true",
                                     "+trainer.accumulate_grad_batches=1", "+trainer.limit_train_batches=1.0",
                                     "+trainer.gradient_clip_val=0", "trainer.devices=[0]"])
def test_neutral_spellings_leave_the_fingerprint_as_before(neutral):
    assert _settings("molecules", [neutral]) == _settings("molecules", [])


def test_world_size_reads_devices_as_lightning_does(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert world_size({"devices": -1, "accelerator": "gpu", "num_nodes": 2}) == 8   # every visible GPU, per node
    assert world_size({"devices": "auto", "accelerator": "auto"}) == 4
    assert world_size({"devices": "auto", "accelerator": "cpu"}) == 1
    assert world_size({"devices": "0,2", "accelerator": "gpu"}) == 2
    assert world_size({"devices": [1, 3, 5]}) == 3 and world_size({"devices": "3"}) == 3
    assert trainer_settings({"devices": 1, "num_nodes": 1, "precision": None}) == {}
    assert set(trainer_settings({"devices": 2, "accumulate_grad_batches": 2})) == {
        "world_size", "accumulate_grad_batches", "sync_batchnorm", "use_distributed_sampler"}
