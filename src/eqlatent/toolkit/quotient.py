"""``eqlatent.quotient_distance``: ``min_g ||z1 - g . z2||`` for S_n, finite groups, SO(2) and O(2).

Why one function: the quotient distance is the reference every projection is judged by
(:func:`eqlatent.retention`).  It is computed through the same pieces as the projections:

* S_n (node latents ``[n, d]``): exact -- sorting at d = 1 (rearrangement inequality),
  the Hungarian algorithm otherwise (:mod:`eqlatent.metrics.permutation_quotient`).
* finite groups: exact -- ``max_g <z1, rho(g) z2>`` over every element
  (:meth:`FieldAction.orbit`), then ``||z1||^2 + ||z2||^2 - 2 max``.
* SO(2) / O(2): ``<z1, rho(theta) z2>`` is a degree-L trigonometric polynomial per coset,
  maximised by :class:`~eqlatent.projections.trig.TrigGrid` (grid + Newton, float-precision
  in practice).  Without refinement the squared distance is over-estimated by at most
  ``pi^2 L^2 / n_angles^2 * ||z1|| ||z2||``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from eqlatent.errors import LatentShapeError
from eqlatent.metrics.permutation_quotient import quotient_distance as hungarian_distance
from eqlatent.projections.field_action import FieldAction
from eqlatent.toolkit.groups import is_permutation_group, resolve_action
from eqlatent.toolkit.inputs import check_finite, flat_latent


def _as_tensor(z: Any, what: str) -> Tensor:
    z = getattr(z, "tensor", z)
    z = torch.as_tensor(z)
    if not z.is_floating_point():
        z = z.double()
    return check_finite(z, what)


def permutation_distance(z1: Tensor, z2: Tensor) -> Tensor:
    """Exact ``min_P ||z1 - P z2||`` for node latents ``[pairs, n, d]`` (sort at d = 1, Hungarian otherwise)."""
    if z1.ndim != 3 or z1.shape != z2.shape:
        raise LatentShapeError(f"S_n distances need two node latents [pairs, nodes, d] of one shape, got "
                               f"{tuple(z1.shape)} and {tuple(z2.shape)}",
                               "pad graphs to the same number of nodes (to_dense_batch) and add a d axis")
    if z1.shape[-1] == 1:
        a, b = z1.double().sort(dim=1).values, z2.double().sort(dim=1).values
        return (a - b).flatten(1).norm(dim=1)
    return hungarian_distance(z1, z2)


def group_distance(action: FieldAction, z1: Tensor, z2: Tensor, refine: bool = True, chunk: int = 1024) -> Tensor:
    """``[pairs]`` distances ``min_g ||z1 - rho(g) z2||`` for flat ``[pairs, D]`` latents (float64)."""
    a, b = z1.double(), z2.double()
    best = []
    for s in range(0, len(a), chunk):
        inner = torch.einsum("pd,ped->pe", a[s:s + chunk], action.orbit(b[s:s + chunk]))  # [P, elements]
        best.append(action.max_over_orbit(inner.unsqueeze(-1), refine=refine).squeeze(-1))
    best = torch.cat(best) if best else a.new_zeros(0)
    return (a.pow(2).sum(1) + b.pow(2).sum(1) - 2 * best).clamp_min(0).sqrt()


def quotient_distance(z1: Any, z2: Any, group_or_field_type: Any, n_angles: int = 64, refine: bool = True) -> Tensor:
    """Quotient distance ``min_g ||z1 - g . z2||`` between latents, pair by pair.

    Parameters
    ----------
    z1, z2:
        Two latents of the same shape, or two batches ``[pairs, ...]`` (distance of row i to
        row i).  S_n: node latents ``[nodes, d]`` / ``[pairs, nodes, d]``.  Groups: anything with
        the field type's ``size`` numbers per sample (``[pairs, C]``, ``[pairs, C, 1, 1]``, a
        GeometricTensor, or a studies layout ``[pairs, fields, N]``).
    group_or_field_type:
        ``"S_n"``, an escnn ``FieldType``, an escnn group, or ``"C8"`` / ``"D4"`` / ``"SO2"``
        (see :mod:`eqlatent.toolkit.groups` for the layout a name implies).

    Returns
    -------
    Tensor
        float64 distances: a scalar for two single latents, ``[pairs]`` otherwise.

    Examples
    --------
    >>> import torch, eqlatent
    >>> z = torch.tensor([[0.0], [1.0], [5.0]])
    >>> float(eqlatent.quotient_distance(z, z[[2, 0, 1]], "S_n"))
    0.0
    >>> a = torch.arange(8.0)
    >>> round(float(eqlatent.quotient_distance(a, a.roll(3), "C8")), 6)   # sqrt of a float64 cancellation
    0.0
    """
    a, b = _as_tensor(z1, "first latent"), _as_tensor(z2, "second latent")
    if is_permutation_group(group_or_field_type):
        single = a.ndim == 2
        a, b = (a.unsqueeze(0), b.unsqueeze(0)) if single else (a, b)
        d = permutation_distance(a, b)
        return d[0] if single else d
    field_type = group_or_field_type if hasattr(group_or_field_type, "fibergroup") else None
    size = field_type.size if field_type is not None else None
    single = a.ndim == 1
    a, b = (a.unsqueeze(0), b.unsqueeze(0)) if single else (a, b)
    if a.shape != b.shape:
        raise LatentShapeError(f"the two latents differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}",
                               "compare latents of the same encoder, row by row")
    action = resolve_action(group_or_field_type, tuple(a.shape), n_angles)
    fa = flat_latent(a.flatten(1) if a.ndim > 2 and size is None else a, size=action.dim, what="first latent")
    fb = flat_latent(b.flatten(1) if b.ndim > 2 and size is None else b, size=action.dim, what="second latent")
    d = group_distance(action, fa, fb, refine=refine)
    return d[0] if single else d
