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
