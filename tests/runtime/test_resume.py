"""The shared resume pieces: epoch-seeded shuffling and RNG states that survive a safe checkpoint load."""

from __future__ import annotations

import io
import random

import numpy as np
import torch

from eqlatent.runtime.config import compose
from eqlatent.runtime.loggers import log_config
from eqlatent.runtime.resume import EpochSeededSampler, RngStateCheckpoint, TrainingClock


def test_sampler_order_depends_only_on_seed_and_epoch():
    a, b = EpochSeededSampler(50, seed=3), EpochSeededSampler(50, seed=3)
    a.set_epoch(4)
    b.set_epoch(0)
    first = list(b)
    b.set_epoch(4)
    assert list(a) == list(b) and sorted(list(a)) == list(range(50))
    assert first != list(a)  # different epochs shuffle differently


def test_rng_states_round_trip_through_a_weights_only_load():
    cb, ckpt = RngStateCheckpoint(), {}
    torch.manual_seed(1); np.random.seed(1); random.seed(1)
    cb.on_save_checkpoint(None, None, ckpt)
    expected = (torch.rand(3), np.random.rand(3), random.random())
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=True)   # Lightning's safe default must accept it
    torch.manual_seed(99); np.random.seed(99); random.seed(99)
    cb.on_load_checkpoint(None, None, loaded)
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1]) and random.random() == expected[2]


def test_training_clock_carries_the_killed_runs_seconds_into_the_resumed_fit():
    now = [100.0]
    first = TrainingClock(clock=lambda: now[0])
    first.on_fit_start(None, None)
    now[0] = 130.0
    ckpt: dict = {}
    first.on_save_checkpoint(None, None, ckpt)      # epoch k saved after 30 s
    now[0] = 137.0                                 # killed 7 s into the next epoch: those seconds are lost
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    buf.seek(0)
    resumed = TrainingClock(clock=lambda: now[0])
    resumed.on_load_checkpoint(None, None, torch.load(buf, weights_only=True))
    now[0] = 500.0
    resumed.on_fit_start(None, None)
    now[0] = 512.5
    resumed.on_fit_end(None, None)
    now[0] = 900.0                                 # time after the fit is not training
    assert resumed.seconds == 30.0 + 12.5
    old = TrainingClock()
    old.on_load_checkpoint(None, None, {})         # a checkpoint from before the clock existed
    assert old.seconds == 0.0


def test_log_config_works_on_a_composed_config():
    class Recorder:
        def log_hyperparams(self, params):
            self.params = params

    rec = Recorder()
    log_config([rec], compose(["experiment=molecules"]))
    assert rec.params["task_name"] == "molecules" and "hydra" not in rec.params


def test_disabling_the_progress_bar_also_drops_its_callback():
    from lightning.pytorch.callbacks import ProgressBar

    from eqlatent.runtime.config import compose
    from eqlatent.runtime.loggers import make_callbacks

    with_bar = make_callbacks(compose(["experiment=molecules"], with_hydra=False))
    without = make_callbacks(compose(["experiment=molecules", "trainer.enable_progress_bar=false"], with_hydra=False))
    assert any(isinstance(c, ProgressBar) for c in with_bar)
    assert not any(isinstance(c, ProgressBar) for c in without) and len(without) == len(with_bar) - 1
