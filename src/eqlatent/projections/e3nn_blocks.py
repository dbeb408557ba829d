"""The pieces of an e3nn latent the ``e3nn``-layout projections share: its copies, grouped by irrep type.

Why here and not in each projection: ``norm``, ``scalars``, ``gram``, ``canonicalize`` and
``random_invariant`` all read the same structure of a flat ``[B, irreps.dim]`` latent -- ``mul``
consecutive copies of ``2l+1`` numbers per ``mulx(l, p)`` entry (e3nn's mul-major layout) -- and
must agree on which copies the group mixes with which.  Under O(3) an element ``(R, k)`` acts on a
copy of type ``(l, p)`` by ``p^k D^l(R)``, so copies of one type ``(l, p)`` move together; under SO(3)
(``k = 0`` only) the parity plays no part and copies of one degree ``l`` move together.
:func:`irrep_types` is that grouping, :func:`invariant_scalars` the channels the group fixes.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


def type_key(group: str, l: int, p: int) -> tuple[int, int]:
    """The irrep type copies are grouped by: ``(l, p)`` under O(3), ``(l, 0)`` under SO(3) (parity plays no part)."""
    return (l, p) if group == "O3" else (l, 0)


def irrep_types(action: Any) -> dict[tuple[int, int], list[Any]]:
    """``{type: [IrrepBlock, ...]}`` in order of first appearance (:func:`type_key`); blocks of one type may be
    apart in the Irreps (``"2x1o + 0e + 1x1o"``), their copies still move together."""
    out: dict[tuple[int, int], list[Any]] = {}
    for block in action.blocks:
        out.setdefault(type_key(action.group, block.l, block.p), []).append(block)
    return out


def copies(z: Tensor, blocks: list[Any]) -> Tensor:
    """``[B, copies, 2l+1]``: every copy of the ``blocks`` (one degree l), in channel order."""
    return torch.cat([z[:, b.start:b.stop].unflatten(1, (b.mul, 2 * b.l + 1)) for b in blocks], dim=1)


def is_invariant_scalar(group: str, l: int, p: int) -> bool:
    """Whether the group fixes a copy of type ``(l, p)``: every ``l = 0`` under SO(3), only ``0e`` under O(3)
    (a ``0o`` pseudoscalar changes sign under the inversion)."""
    return l == 0 and (group == "SO3" or p == 1)


def invariant_scalars(action: Any) -> Tensor:
    """``[S]`` long: the channels the group leaves as they are (:func:`is_invariant_scalar`), in channel order."""
    idx = [torch.arange(b.start, b.stop) for b in action.blocks if is_invariant_scalar(action.group, b.l, b.p)]
    return torch.cat(idx) if idx else torch.zeros(0, dtype=torch.long)


def rotate_copies(action: Any, z: Tensor, wigner: list[Tensor], signs: Tensor | None = None) -> Tensor:
    """``[B, D]``: every copy ``u`` of degree l replaced by ``s_p D^l u``, per row.

    ``wigner``: ``[D^0, D^1, ...]`` each ``[B, 2l+1, 2l+1]`` (:func:`eqlatent.groups.so3_max.wigner_blocks`,
    differentiable); ``signs``: None, or ``[B]`` with the factor of the odd-parity copies (``-1`` where
    the inversion is applied).  Differentiable in ``z`` and in the matrices.
    """
    parts = []
    for b in action.blocks:
        u = z[:, b.start:b.stop].unflatten(1, (b.mul, 2 * b.l + 1))
        moved = u if b.l == 0 else u @ wigner[b.l].to(z).transpose(1, 2)
        if signs is not None and b.p == -1:
            moved = moved * signs.to(z)[:, None, None]
        parts.append(moved.flatten(1))
    return torch.cat(parts, dim=1)
