"""A group acting on flat latents ``[B, D]`` field by field: what every group projection needs to know.

Why one description: the studies' latents (``[B, C, N]`` regular C_N fields, ``[B, C, 1+2L]``
SO(2) irreps) and a researcher's escnn ``FieldType`` (any finite group, SO(2), O(2), any
mix of fields) are all direct sums of small representations.  Describing both the same way
(:class:`FieldAction`) lets the random, norm, pool and canonicalize projections, and the
quotient distances, have one implementation each; only the builders differ
(:mod:`eqlatent.groups.layouts` for the studies' layouts,
:mod:`eqlatent.groups.field_types` for escnn field types).

A :class:`FieldAction` lists its *elements*: every element of a finite group, or, for
SO(2) / O(2), the interpolation nodes of :class:`~eqlatent.groups.trig.TrigGrid` (per
coset: rotations, then reflections), and per kind of field (:class:`FieldKind`) the
representation matrices at those elements, its change of basis to irreps and its irreps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor

from eqlatent.groups.trig import TrigGrid


@dataclass(frozen=True)
class Irrep:
    """One irrep block in a field's irreps coordinates."""

    size: int
    frequency: int = 0
    #: keep the signed value instead of its norm (trivial irreps are invariant as they are)
    signed: bool = False


@dataclass
class FieldKind:
    """All fields of one representation type inside a latent.

    Attributes
    ----------
    index:
        ``[fields, size]`` channel positions of these fields in the flat latent.
    mats:
        ``[elements, size, size]`` representation matrices at the action's elements (float64).
    to_irreps, from_irreps:
        ``[size, size]`` change of basis (``Q^-1``, ``Q``); None when already in irreps coordinates.
    irreps:
        The irrep blocks, in order, in irreps coordinates.
    regular:
        Whether this is the regular representation of a finite group (channels = group elements).
    """

    name: str
    index: Tensor
    mats: Tensor
    irreps: tuple[Irrep, ...]
    to_irreps: Tensor | None = None
    from_irreps: Tensor | None = None
    regular: bool = False

    @property
    def size(self) -> int:
        return int(self.index.shape[1])


@dataclass
class FieldAction:
    """How a group acts on ``[B, D]`` latents, as a direct sum of :class:`FieldKind` s.

    ``kind`` is ``"finite"`` (``elements`` = the whole group, exact maxima) or ``"circle"``
    (SO(2): one coset, O(2): two cosets of rotations; ``elements`` = the interpolation nodes
    of ``grid`` per coset).  ``rotate`` (SO(2) only) returns the ``[B, size, size]`` matrices
    of one field kind at per-sample angles, for canonicalisation.
    """

    name: str
    dim: int
    kind: str
    kinds: list[FieldKind]
    n_elements: int
    grid: TrigGrid | None = None
    cosets: int = 1
    rotate: Callable[[FieldKind, Tensor], Tensor] | None = None
    _cast: dict = field(default_factory=dict, repr=False)

    # -- acting -------------------------------------------------------------------------
    def _mats(self, fk: FieldKind, like: Tensor, transpose: bool) -> Tensor:
        key = (id(fk), like.dtype, like.device, transpose)
        if key not in self._cast:
            m = fk.mats.transpose(1, 2) if transpose else fk.mats
            self._cast[key] = m.to(like).contiguous()
        return self._cast[key]

    def orbit(self, z: Tensor, transpose: bool = False) -> Tensor:
        """``[B, D] -> [B, elements, D]``: ``rho(g) z`` (or ``rho(g)^T z``) for every element g."""
        out = z.new_empty(z.shape[0], self.n_elements, self.dim)
        for fk in self.kinds:
            idx = fk.index.to(z.device)
            zf = z[:, idx]  # [B, f, s]
            moved = torch.einsum("gts,bfs->bgft", self._mats(fk, z, transpose), zf)
            out[:, :, idx.flatten()] = moved.flatten(2)  # [B, elements, f * s] (also for B = 0)
        return out

    def score_map(self, w: Tensor) -> Tensor:
        """``A [D, elements * K]`` with ``z @ A`` = ``<w_k, rho(g) z>`` for functionals ``w [K, D]``.

        Columns are element-major (g outer, k inner): ``<w, rho(g) z> = <rho(g)^T w, z>``, so the
        group acts on the K functionals once instead of on every latent.
        """
        moved = self.orbit(w, transpose=True)  # [K, elements, D]: rho(g)^T w_k
        return moved.transpose(0, 1).reshape(-1, self.dim).T

    def act(self, z: Tensor, element: Tensor) -> Tensor:
        """``[B, D]``: ``rho(g_b) z_b`` with one element index per sample (``element [B]``)."""
        out = torch.empty_like(z)
        for fk in self.kinds:
            idx = fk.index.to(z.device)
            m = self._mats(fk, z, True)[element]  # [B, s, s]: rho(g_b)^T, so that rows map as z_f rho^T
            out[:, idx.flatten()] = torch.bmm(z[:, idx], m).flatten(1)
        return out

    def regular_fields(self, z: Tensor) -> Tensor:
        """``[B, D] -> [B, fields, |G|]``: the regular fields of ``z``, in channel order (all fields must be regular).

        In a regular field the channels are the group elements and the group permutes them, so any
        symmetric function of its last axis (max, mean) is invariant: group pooling.
        """
        irregular = sorted({fk.name for fk in self.kinds if not fk.regular})
        if irregular:
            raise ValueError(f"this {self.name} latent has {', '.join(irregular)} fields, not only regular ones")
        index = torch.cat([fk.index for fk in self.kinds])
        return z[:, index[index[:, 0].argsort()].to(z.device)]  # fields in channel order

    def irrep_coefficients(self, fk: FieldKind, z: Tensor) -> Tensor:
        """``[B, fields, size]`` coordinates of the fields of ``fk`` in their irreps basis."""
        zf = z[:, fk.index.to(z.device)]
        if fk.to_irreps is None:
            return zf
        return zf @ fk.to_irreps.to(z).T

    # -- maximising over the orbit ----------------------------------------------------------
    def max_over_orbit(self, values: Tensor, refine: bool = True) -> Tensor:
        """``[..., elements, K] -> [..., K]``: max of per-element values over the whole orbit.

        Finite groups: the exact max.  Circle groups: ``values`` are at the interpolation
        nodes; see :meth:`TrigGrid.maximum` for the grid / Newton maximum and its bound.
        """
        if self.kind == "finite":
            return values.amax(dim=-2)
        nodes = values.unflatten(-2, (self.cosets, self.grid.n_nodes)).movedim(-1, -3)  # [..., K, cosets, M]
        return self.grid.maximum(nodes, refine=refine).amax(dim=-1)

    def values_over_orbit(self, values: Tensor) -> Tensor:
        """``[..., elements, K] -> [..., group or grid elements, K]`` (circle: interpolated onto the grid)."""
        if self.kind == "finite":
            return values
        nodes = values.unflatten(-2, (self.cosets, self.grid.n_nodes)).movedim(-1, -3)
        return self.grid.grid_values(nodes).flatten(-2).movedim(-1, -2)
