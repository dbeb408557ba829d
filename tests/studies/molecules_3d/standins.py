"""Test-only stand-ins for the e3nn projections the registry does not serve yet (issue 27, item 3 lands them).

Why: the study builds every projection by name from the registry (``analysis.resolve``); while a name is
not served for e3nn latents there, the tests substitute these small, honest implementations so the
pipeline is exercised whole.  Once the registry serves a name, the tests use the registry's class and
these are not called.  ``canonicalize`` is stood in by the Gram invariants (a pipeline test, not a frame).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from eqlatent.groups.o3 import irreps_action


class StandIn(nn.Module):
    """A projection-shaped module: ``name``, ``invariant``, ``lossless``; computes ``fn(action, z)``."""

    invariant, lossless = True, False

    def __init__(self, name: str, irreps: Any, fn, **kwargs: Any) -> None:
        super().__init__()
        self.name, self.action, self.fn, self.kwargs = name, irreps_action(irreps), fn, kwargs

    def forward(self, z: Tensor) -> Tensor:
        return self.fn(self.action, z, **self.kwargs)


def _blocks(action, z: Tensor):
    for b in action.blocks:
        yield b, z[:, b.start:b.stop].reshape(len(z), b.mul, 2 * b.l + 1)


def norm(action, z: Tensor) -> Tensor:
    return torch.cat([u.norm(dim=2) for _, u in _blocks(action, z)], dim=1)


def scalars(action, z: Tensor) -> Tensor:
    return torch.cat([u[:, :, 0] for b, u in _blocks(action, z) if b.l == 0 and b.p == 1], dim=1)


def gram(action, z: Tensor) -> Tensor:
    out = []
    for b, u in _blocks(action, z):
        g = u @ u.transpose(1, 2)
        i, j = torch.triu_indices(b.mul, b.mul)
        out.append(g[:, i, j])
    return torch.cat(out, dim=1)


def random_invariant(action, z: Tensor, n_functionals: int, seed: int = 0, n_rotations: int = 512) -> Tensor:
    """max over a fixed sample of O(3) elements of <w_k, D(g) z>: invariant up to the sample's coverage."""
    gen = torch.Generator().manual_seed(int(seed))
    w = torch.randn(int(n_functionals), action.dim, generator=gen, dtype=torch.float64)
    from eqlatent.studies.molecules_3d.orientation import random_rotations

    R = random_rotations(n_rotations, int(seed) + 1)
    R = torch.cat([R, -R]) if action.group == "O3" else R
    D = action.matrix(R)                                   # [G, D, D]
    scores = torch.einsum("kd,gde,be->bgk", w, D, z.double())
    return scores.amax(dim=1).to(z.dtype)


FUNCTIONS = {"norm": norm, "scalars": scalars, "gram": gram, "canonicalize": gram, "random_invariant": random_invariant}


def install(monkeypatch) -> list[str]:
    """Make ``analysis.resolve`` fall back on the stand-ins for names the registry does not serve; returns them."""
    from eqlatent.projections.registry import projection_names
    from eqlatent.studies.molecules_3d import analysis

    served = set(projection_names(analysis.E3NN_LAYOUT))
    missing = [n for n in FUNCTIONS if n not in served]
    real = analysis.resolve

    def resolve(projection: str, irreps: Any, kwargs: dict[str, Any]):
        if projection in missing:
            return StandIn(projection, irreps, FUNCTIONS[projection], **kwargs)
        return real(projection, irreps, kwargs)

    monkeypatch.setattr(analysis, "resolve", resolve)
    return missing
