"""Build a :class:`~eqlatent.groups.actions.FieldAction` from an escnn ``FieldType``.

Why: escnn knows every representation matrix and change of basis of a field type, for any
finite group and for SO(2) / O(2); the projections only need those numbers.  Fields are
grouped by representation (one :class:`FieldKind` per distinct representation), so a latent
with 64 regular fields asks escnn for one set of matrices, not 64.

Finite groups: the elements are the whole group (``G.elements``).  SO(2) / O(2): the band
limit L is the highest irrep frequency in the field type, and the elements are the ``2L+1``
interpolation nodes of the rotation coset (and, for O(2), of the reflection coset).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from eqlatent.errors import ConfigError
from eqlatent.groups import escnn_setup
from eqlatent.groups.actions import FieldAction, FieldKind, Irrep
from eqlatent.groups.trig import TrigGrid


def import_escnn() -> Any:
    """``escnn``, loaded lazily, with :mod:`~eqlatent.groups.escnn_setup`'s fixes applied.

    ``import eqlatent`` already installs them for a plain ``import escnn``; this applies them again in case
    escnn was loaded by a process that bypassed the hook (idempotent, and cheap once escnn is loaded).
    """
    import escnn

    escnn_setup.apply(escnn.group)
    return escnn


def circle_kind(group: Any) -> str | None:
    """``"SO(2)"``, ``"O(2)"`` or None (escnn group objects)."""
    group_mod = import_escnn().group
    if isinstance(group, group_mod.SO2):
        return "SO(2)"
    if isinstance(group, group_mod.O2):
        return "O(2)"
    return None


def _irreps(group: Any, rep: Any) -> tuple[Irrep, ...]:
    out = []
    for irr_id in rep.irreps:
        irr = group.irrep(*irr_id)
        out.append(Irrep(irr.size, int(irr.attributes.get("frequency", 0)), signed=irr.is_trivial()))
    return tuple(out)


def _matrix(rep: Any, element: Any) -> Tensor:
    return torch.from_numpy(np.asarray(rep(element), dtype=np.float64))


def _elements(group: Any, circle: str | None, grid: TrigGrid | None) -> list[Any]:
    if circle is None:
        return list(group.elements)
    thetas = [float(t) for t in grid.nodes]
    if circle == "SO(2)":
        return [group.element(t) for t in thetas]
    return [group.element((flip, t)) for flip in (0, 1) for t in thetas]


def _rotation(kind: FieldKind, theta: Tensor) -> Tensor:
    """``[B, s, s]`` = ``Q blockdiag(R(k theta)) Q^-1`` for an SO(2) field kind at angles ``theta [B]``."""
    blocks = torch.zeros(len(theta), kind.size, kind.size, dtype=theta.dtype, device=theta.device)
    start = 0
    for irr in kind.irreps:
        if irr.size == 1:
            blocks[:, start, start] = 1.0
        else:
            c, s = torch.cos(irr.frequency * theta), torch.sin(irr.frequency * theta)
            blocks[:, start, start], blocks[:, start, start + 1] = c, -s
            blocks[:, start + 1, start], blocks[:, start + 1, start + 1] = s, c
        start += irr.size
    if kind.to_irreps is None:
        return blocks
    return kind.from_irreps.to(blocks) @ blocks @ kind.to_irreps.to(blocks)


def band_limit(field_type: Any) -> int:
    """L, the highest irrep frequency in an escnn FieldType (0 for a finite group's): the degree of its orbit polynomials."""
    group = field_type.fibergroup
    if circle_kind(group) is None:
        return 0
    return max((irr.frequency for rep in field_type.representations for irr in _irreps(group, rep)), default=0)


def action_from_field_type(field_type: Any, n_angles: int = 64) -> FieldAction:
    """The :class:`FieldAction` of an escnn ``FieldType`` (finite group, SO(2) or O(2))."""
    group = field_type.fibergroup
    circle = circle_kind(group)
    if circle is None and group.continuous:
        raise ConfigError(f"group {group.name} is not supported (finite groups, SO(2) and O(2) are)",
                          "use a field type over C_N, D_N, another finite group, SO(2) or O(2)")
    kinds_by_rep: dict[str, dict] = {}
    start = 0
    for rep in field_type.representations:
        entry = kinds_by_rep.setdefault(rep.name, {"rep": rep, "starts": []})
        entry["starts"].append(start)
        start += rep.size
    grid = None
    if circle is not None:
        grid = TrigGrid(band_limit(field_type), n_angles)
    elements = _elements(group, circle, grid)
    kinds = []
    for name, entry in kinds_by_rep.items():
        rep = entry["rep"]
        index = torch.tensor(entry["starts"])[:, None] + torch.arange(rep.size)[None, :]
        q = torch.from_numpy(np.asarray(rep.change_of_basis, dtype=np.float64))
        identity = torch.allclose(q, torch.eye(rep.size, dtype=torch.float64))
        kinds.append(FieldKind(
            name, index, torch.stack([_matrix(rep, g) for g in elements]), _irreps(group, rep),
            to_irreps=None if identity else torch.from_numpy(np.asarray(rep.change_of_basis_inv, dtype=np.float64)),
            from_irreps=None if identity else q,
            regular=circle is None and name == group.regular_representation.name))
    if circle is None:
        return FieldAction(group.name, field_type.size, "finite", kinds, len(elements))
    return FieldAction(circle, field_type.size, "circle", kinds, len(elements), grid=grid,
                       cosets=2 if circle == "O(2)" else 1, rotate=_rotation if circle == "SO(2)" else None)
