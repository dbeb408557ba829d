"""Both studies on two CPU processes (``trainer=ddp``, gloo): the training is shared, everything else happens once.

Lightning's ``ddp`` strategy starts rank 1 by re-running the command, so each study runs
as ``python -m eqlatent.cli.run`` in a subprocess, as on a GPU node.  Checked: the run exits
0; each model trained on two ranks (each rank saw half of the batches, so the steps per
epoch halve); rank 1 stopped after the last fit; results.md, metrics.json and the summary
block exist once.  Also: Lightning's distributed sampler shards the epoch-seeded order.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from lightning.fabric.utilities.distributed import DistributedSamplerWrapper
from tests.studies.images.test_study import TINY as IMAGES_TINY
from tests.studies.molecules.test_study import TINY as MOLECULES_TINY

from eqlatent.runtime.resume import EpochSeededSampler

DDP = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.enable_progress_bar=false"]


def _run(overrides: list[str]) -> str:
    proc = subprocess.run([sys.executable, "-m", "eqlatent.cli.run", *overrides], capture_output=True, text=True,
                          timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    return out


def _check_once(out: str, root: Path, study: str, run_dir: Path, stopped: str) -> None:
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in out                      # rank 1 joined the training
    assert out.count(f"== {study} study done") == 1                  # the summary block, once
    assert sorted(root.rglob("results.md")) == sorted([run_dir / "results.md", root / study / "results.md"])
    assert sorted(root.rglob("metrics.json")) == [run_dir / "metrics.json"]
    rank1 = (run_dir / "train_ddp_process_1.log").read_text()      # rank 1's own log: it stopped after training
    assert stopped in rank1.strip().splitlines()[-1]


def _steps(checkpoint: Path) -> int:
    return int(torch.load(checkpoint, map_location="cpu", weights_only=False)["global_step"])


def _sharded_steps(n_train: int, batch: int, epochs: int) -> int:
    """Optimiser steps when each of two ranks sees half of the training set."""
    return epochs * math.ceil(math.ceil(n_train / 2) / batch)


def test_distributed_sampler_shards_the_epoch_seeded_order():
    shards = {}
    for epoch in (0, 1):
        for rank in (0, 1):
            inner = EpochSeededSampler(10, seed=3)
            wrapper = DistributedSamplerWrapper(inner, num_replicas=2, rank=rank, shuffle=True, seed=0)
            wrapper.set_epoch(epoch)                                  # what Lightning calls before each epoch
            assert inner.epoch == epoch                               # forwarded: our order changes per epoch
            shards[epoch, rank] = list(wrapper)
        assert sorted(shards[epoch, 0] + shards[epoch, 1]) == list(range(10))   # distinct halves, all covered
    assert shards[0, 0] != shards[1, 0]
    again = DistributedSamplerWrapper(EpochSeededSampler(10, seed=3), num_replicas=2, rank=0, shuffle=True, seed=0)
    again.set_epoch(1)
    assert list(again) == shards[1, 0]                                # seeded: a re-run sees the same batches


@pytest.mark.slow
def test_molecules_study_on_two_processes(tmp_path):
    out = _run([*MOLECULES_TINY, *DDP, f"paths.output_root={tmp_path}"])
    run_dir = tmp_path / "molecules" / "cpu-seed0"
    _check_once(out, tmp_path, "molecules", run_dir, "every VAE is trained")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    n_train = int(re.search(r"split train (\d+)", metrics["dataset"]["summary"]).group(1))
    for d in metrics["latent_dims"]:                                  # two VAEs: two collective fits in a row
        assert (run_dir / f"latent{d}" / "latents.pt").is_file()
        assert _steps(run_dir / f"latent{d}" / "checkpoints" / "last.ckpt") == _sharded_steps(n_train, 64, 2)


@pytest.mark.slow
def test_images_study_on_two_processes_with_synchronised_escnn_batch_norms(tmp_path):
    # c8: escnn InnerBatchNorm inside a SequentialModule, which Lightning's own sync_batchnorm cannot convert
    out = _run(["experiment=images", "profile=cpu", *IMAGES_TINY, "logger=csv", "model=c8",
                "profile.images.tsne_encoders=[]", *DDP, f"paths.output_root={tmp_path}"])
    run_dir = tmp_path / "images" / "cpu-seed0"
    _check_once(out, tmp_path, "images", run_dir, "every encoder is trained")
    info = json.loads((run_dir / "metrics.json").read_text())["info"]
    assert _steps(run_dir / "c8" / "checkpoints" / "last.ckpt") == _sharded_steps(info["n_train"], 64, 1)
    assert (run_dir / "c8" / "latents.pt").is_file()
