"""fit_or_reuse: a fit starts from the run's seed, whatever the process did before it.

Why: the molecules study trains one VAE per latent size in one process; without a seed per fit
the third size's initial weights depended on the first two (trained, or reused from a folder), so
a resumed run and a fresh one trained different models under one fingerprint.
"""

from __future__ import annotations

import torch
from torch import nn

from eqlatent.studies.fitting import fit_or_reuse


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(4, 3)


def _fit():
    return _Tiny(), 0.0


def test_a_fit_starts_from_the_seed_whatever_ran_before(tmp_path):
    settings = {"model": {"width": 4}, "seed": 7}
    first = fit_or_reuse(tmp_path / "a", settings, 1, "a tiny model", _fit).model
    torch.randn(1000)   # another model's training, or nothing: it must not matter
    second = fit_or_reuse(tmp_path / "b", settings, 1, "a tiny model", _fit).model
    assert torch.equal(first.layer.weight, second.layer.weight)
    other = fit_or_reuse(tmp_path / "c", {**settings, "seed": 8}, 1, "a tiny model", _fit).model
    assert not torch.equal(first.layer.weight, other.layer.weight)


def _checkpoint(folder, seconds):
    """A ``last.ckpt`` as a killed or finished fit leaves it, with the TrainingClock's seconds."""
    from eqlatent.runtime.resume import TrainingClock
    from eqlatent.studies.fitting import last_checkpoint

    last_checkpoint(folder).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {}, TrainingClock.KEY: seconds}, last_checkpoint(folder))


def test_training_done_by_earlier_processes_is_counted_resumed_or_reused(tmp_path):
    from eqlatent.studies.fitting import LATENTS_FILE
    from eqlatent.studies.skeleton import StudyRun
    from omegaconf import OmegaConf

    settings = {"model": {"width": 4}, "seed": 7}
    fresh = fit_or_reuse(tmp_path / "fresh", settings, 1, "a tiny model", _fit)
    assert fresh.earlier_seconds == 0.0                      # no checkpoint: this process does all of it
    _checkpoint(tmp_path / "killed", 125.5)                  # an attempt killed after some epochs
    resumed = fit_or_reuse(tmp_path / "killed", settings, 2, "a tiny model", _fit)
    assert resumed.trained and resumed.earlier_seconds == 125.5
    fit_or_reuse(tmp_path / "done", settings, 1, "a tiny model", _fit)
    _checkpoint(tmp_path / "done", 300.0)                    # a finished model with its latents: reused
    torch.save({"z": torch.zeros(1)}, tmp_path / "done" / LATENTS_FILE)
    reused = fit_or_reuse(tmp_path / "done", settings, 1, "a tiny model", _fit, load=lambda folder: _Tiny())
    assert reused.reused and reused.earlier_seconds == 300.0

    cfg = OmegaConf.create({"paths": {"output_dir": str(tmp_path / "run")}})
    study = StudyRun(cfg)
    study.add_earlier([fresh, resumed, reused])
    assert study.earlier_s == 425.5 and 425.5 <= study.wall_s() < 425.5 + 60


def test_wall_time_text_says_how_much_came_from_earlier_processes():
    from eqlatent.studies.results import wall_time_text

    assert wall_time_text(645.2) == "645 s"
    assert wall_time_text(5400.0, 3100.0) == ("5,400 s, 3,100 s of it training in earlier processes "
                                              "(resumed or reused checkpoints)")
