"""Canonicalisation: move every latent to a fixed representative of its orbit.

A cross-section picks, for each orbit, one of its points.  Here every latent ``z`` gets a few
*candidates* ``g . z`` chosen by an orbit feature that moves with the group, and the
candidate is picked by keys that are functions of the candidate vector alone, so the pick
depends on the orbit only (invariance) and is a member of the orbit (lossless: injective on
orbits).  Ties, which ReLU encoders produce all the time (a zero field, a tied argmax, a
constant field, two fields that cancel), are broken by those same keys, never by a
candidate's position in a list:

* finite group (C_N, D_N, ...): the candidates are the whole orbit ``rho(g) z``, every g.
  The first key is the total activation of the regular fields at their channel 0,
  ``a(g) = sum over regular fields of (rho(g) z)[field, 0]`` (with a regular field, its
  largest value is the old "roll the argmax of the summed activation to the front": the
  pick is unchanged wherever the two largest summed activations differ by more than the
  tie tolerance below); the next keys, which decide ties, are two fixed pseudo-random unit
  functionals ``<w_i, rho(g) z>``.
* SO(2): the feature is the first non-vanishing one of: the summed frequency-1 vector of
  all fields, the summed frequency-2 vector, ..., the summed frequency-L vector, then each
  field's own frequency-k blocks in channel order (two frequency-1 fields that cancel have a
  zero sum but not zero blocks).  For a frequency-k feature of phase ``phi`` the k rotations
  ``(2 pi j - phi) / k`` all turn it onto the positive x axis; the candidates are the latent
  rotated by them, and two pseudo-random functionals of their irreps coefficients pick one.  A frequency-1 sum gives a
  single candidate (the old "rotate by minus the phase of the summed frequency-1 vector").
  When every non-trivial block vanishes the latent is already invariant and is returned as is.

Ties are judged with a tolerance relative to the latent's scale (``s = ||z||``, or the sum
of its irrep-block norms over SO(2)): keys within ``64 eps s`` (times ``sqrt(D)`` for the
random keys) are equal, and an SO(2) feature shorter than ``256 eps s`` counts as zero, so
float rounding of the group action (escnn's matrices, float32) cannot flip a tie.

Where it is discontinuous (no continuous cross-section exists): where the leading key of two
candidates crosses (two channels' summed activations swap rank; over SO(2) where the chosen
feature changes, i.e. crosses the zero threshold, or two of the k > 1 candidates' keys
cross).  Near those points the pick is ill-conditioned: over SO(2) a feature of length
``|u|`` just above the threshold carries a phase error ``~ eps s / |u|``, which the
representative carries too.  Gradients are finite everywhere (the phase is taken of a
guarded vector in units of the latent's own scale; picks are gathers).

Cost: finite groups ``O(B D |G|)`` (the keys are one ``[D, 2 |G|]`` matrix product, then one
group action per latent); SO(2) ``O(B D s)`` for fields of size s, as before the ties: the
keys of the k candidates are trigonometric polynomials read off the irreps coefficients,
and only the picked candidate is rotated.

Defined for every finite group and SO(2); O(2) (no per-sample rotation here) is a one-line
error.  SO(3) / O(3) on e3nn latents: a frame read off the latent's l = 1 vectors, the inversion
decided by the same kind of keys (:mod:`~eqlatent.projections.e3nn_frame`, which also says where the
frame is ill-defined; :meth:`Canonicalize.ill_defined` reports those rows).  The result is invariant (up to the tolerance above) and lossless, but not isometric:
two latents whose canonical frames are far apart can be closer after a different group
element, so distances only upper-bound the quotient distances.

:func:`canonical_representative` is the one implementation, run by :class:`Canonicalize` on every
layout it is built from (``eqlatent.invariant_projection(field_type, "canonicalize")`` builds it from a
field type).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from eqlatent.errors import ConfigError
from eqlatent.groups.actions import FieldAction, FieldKind
from eqlatent.groups.inputs import LOW_PRECISION
from eqlatent.projections.base import Meta
from eqlatent.projections.e3nn_frame import WignerCouplings, canonical_frame
from eqlatent.projections.field_projection import FieldProjection
from eqlatent.projections.tie_keys import KEY_TOL, ZERO_TOL, pick, tie_functionals

def _regular_kinds(action: FieldAction) -> list[FieldKind]:
    return [fk for fk in action.kinds if fk.regular]


def canonicalization_error(action: FieldAction) -> str | None:
    """Why ``action`` has no canonical representative here (None when it has one)."""
    if action.kind == "finite" or action.rotate is not None:
        return None
    return f"{action.name} (only SO(2) and finite groups are supported)"


def _cached(action: FieldAction, name: str, build, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``build()`` cast to ``dtype`` on ``device``, built once per action, dtype and device."""
    key = (name, dtype, device)
    if key not in action._cast:
        action._cast[key] = build().to(dtype=dtype, device=device).contiguous()
    return action._cast[key]


def _channel_zero_source(action: FieldAction) -> Tensor:
    """``[elements]``: the channel c of a regular field with ``(rho(g) z)[0] = z[c]``."""
    return _regular_kinds(action)[0].mats[:, 0, :].argmax(dim=-1)


def _finite_representative(action: FieldAction, z: Tensor) -> Tensor:
    eps = torch.finfo(z.dtype).eps
    with torch.no_grad():
        zd = z.detach()
        scale = zd.norm(dim=1)  # invariant: the actions are orthogonal
        key_map = _cached(action, "canonical_keys", lambda: action.score_map(tie_functionals(action.dim)), z.dtype,
                          z.device)
        scores = zd @ key_map
        keys = [scores.view(z.shape[0], action.n_elements, 2)]
        tols = [KEY_TOL * eps * math.sqrt(action.dim) * scale[:, None].expand(-1, 2)]
        regular = _regular_kinds(action)
        if regular:
            feature = sum(zd[:, fk.index.to(z.device)].sum(dim=1) for fk in regular)  # [B, |G|] per channel
            source = _cached(action, "canonical_source", lambda: _channel_zero_source(action), torch.long, z.device)
            keys.insert(0, feature[:, source, None])  # a(g): channel 0 of rho(g) z, summed over regular fields
            tols.insert(0, KEY_TOL * eps * scale[:, None])
        element = pick(torch.cat(keys, dim=-1), torch.cat(tols, dim=-1))
    return action.act(z, element)


def _so2_features(action: FieldAction, coeffs: list[Tensor]) -> tuple[Tensor, list[int], Tensor]:
    """``(features [B, F, 2], frequency of each, scale [B])``: the equivariant 2-vectors in the order they are tried."""
    sums: dict[int, Tensor] = {}
    blocks, freqs, scale = [], [], coeffs[0].new_zeros(coeffs[0].shape[0])
    for fk, co in zip(action.kinds, coeffs):
        start = 0
        for irr in fk.irreps:
            block = co[..., start:start + irr.size]  # [B, fields, size]
            scale = scale + block.detach().norm(dim=-1).sum(dim=1)  # invariant; no gradient (norm at 0)
            if irr.frequency > 0:
                sums[irr.frequency] = sums.get(irr.frequency, 0) + block.sum(dim=1)
                blocks.append(block)
                freqs += [irr.frequency] * block.shape[1]
            start += irr.size
    order = sorted(sums)
    features = torch.cat([torch.stack([sums[k] for k in order], dim=1)] + blocks, dim=1)
    return features, order + freqs, scale


def _so2_keys(action: FieldAction, coeffs: list[Tensor], angles: Tensor) -> Tensor:
    """``[B, C, 2]``: the tie-break keys ``<w_i, irreps coefficients of R(theta) z>`` at ``angles [B, C]``.

    In irreps coordinates a frequency-f block turns by ``f theta``, so each key is the
    trigonometric polynomial ``k0 + sum_f a_f cos(f theta) + b_f sin(f theta)`` whose
    coefficients cost one pass over the latent: no candidate is rotated to be compared.
    """
    w = _cached(action, "canonical_tie", lambda: tie_functionals(action.dim), angles.dtype, angles.device)
    keys = angles.new_zeros(angles.shape[0], 1, 2)
    for fk, co in zip(action.kinds, coeffs):
        wk, start = w[:, fk.index.to(w.device)], 0  # [2, fields, size]
        for irr in fk.irreps:
            c, v = co[..., start:start + irr.size], wk[..., start:start + irr.size]
            if irr.frequency == 0:
                keys = keys + torch.einsum("bfs,ifs->bi", c, v)[:, None]
            else:
                cos = torch.einsum("bf,if->bi", c[..., 0], v[..., 0]) + torch.einsum("bf,if->bi", c[..., 1], v[..., 1])
                sin = torch.einsum("bf,if->bi", c[..., 0], v[..., 1]) - torch.einsum("bf,if->bi", c[..., 1], v[..., 0])
                f_theta = irr.frequency * angles[..., None]  # [B, C, 1]
                keys = keys + torch.cos(f_theta) * cos[:, None] + torch.sin(f_theta) * sin[:, None]
            start += irr.size
    return keys


def _so2_representative(action: FieldAction, z: Tensor) -> Tensor:
    if all(irr.frequency == 0 for fk in action.kinds for irr in fk.irreps):
        return z  # only trivial irreps: already invariant
    eps = torch.finfo(z.dtype).eps
    coeffs = [action.irrep_coefficients(fk, z) for fk in action.kinds]
    with torch.no_grad():
        # in units of a power of two near the largest coefficient: dividing by it is exact (the phase is
        # bit for bit that of the unscaled feature), and no norm below underflows, even for a 1e-30 latent
        peak = torch.stack([co.detach().abs().flatten(1).amax(dim=1) for co in coeffs]).amax(dim=0)
        unit = torch.exp2(torch.round(torch.log2(torch.where(peak > 0, peak, torch.ones_like(peak)))))
    coeffs = [co / unit[:, None, None] for co in coeffs]
    features, freqs, scale = _so2_features(action, coeffs)
    band = max(freqs)
    with torch.no_grad():
        live = features.detach().norm(dim=-1) > ZERO_TOL * eps * scale[:, None]  # [B, F]
        found = live.any(dim=1)
        first = live.to(torch.int8).argmax(dim=1)  # the first non-vanishing feature
    # the phase of the feature (a guarded vector where nothing was found keeps atan2's gradient finite)
    u = features.gather(1, first[:, None, None].expand(-1, 1, 2))[:, 0]
    u = torch.where(found[:, None], u, torch.tensor([1.0, 0.0], dtype=z.dtype, device=z.device))
    k = torch.tensor(freqs, dtype=z.dtype, device=z.device)[first]
    k = torch.where(found, k, torch.ones_like(k))
    j = torch.arange(band, dtype=z.dtype, device=z.device)
    angles = (2 * math.pi * j[None, :] - torch.atan2(u[:, 1], u[:, 0])[:, None]) / k[:, None]  # [B, band]
    if band == 1:
        return _rotated(action, z, angles[:, 0])
    with torch.no_grad():
        keys = _so2_keys(action, [co.detach() for co in coeffs], angles.detach())  # [B, band, 2]
        tol = KEY_TOL * eps * math.sqrt(action.dim) * scale[:, None].expand(-1, 2)
        chosen = pick(keys, tol, allowed=j[None, :] < k[:, None])
    return _rotated(action, z, angles.gather(1, chosen[:, None])[:, 0])


def _rotated(action: FieldAction, z: Tensor, theta: Tensor) -> Tensor:
    """``[B, D]``, ``theta [B]`` -> ``[B, D]``: every latent rotated by its angle."""
    out = torch.empty_like(z)
    for fk in action.kinds:
        idx = fk.index.to(z.device)
        m = action.rotate(fk, theta)  # [B, s, s]
        out[:, idx.flatten()] = torch.bmm(z[:, idx], m.transpose(1, 2)).flatten(1)
    return out


def canonical_representative(action: FieldAction, z: Tensor) -> Tensor:
    """``[B, D] -> [B, D]``: the orbit representative of each latent (see the module docstring)."""
    why = canonicalization_error(action)
    if why is not None:
        raise ConfigError(f"canonicalize is not defined for {why}",
                          "use projection='random_invariant' or 'norm' for this group")
    if action.kind == "finite":
        return _finite_representative(action, z)
    return _so2_representative(action, z)


class Canonicalize(FieldProjection):
    """Orbit representative chosen by the argmax (finite groups) or phase (SO(2)) of an orbit feature, or by a frame of
    its l = 1 vectors (SO(3) / O(3)), ties broken invariantly: ``[B, D] -> [B, D]`` (a field type, e3nn irreps),
    ``[B, C, N or 1+2L] -> [B, C*(N or 1+2L)]`` (the studies').

    Group: any finite group (C_N, D_N, ...), SO(2), SO(3) or O(3) on e3nn irreps; not O(2) (a one-line error at
    construction).  Lossless (injective on orbits) where the representative is defined; not isometric.  On e3nn
    latents :meth:`ill_defined` reports the rows without a well-defined frame
    (:mod:`~eqlatent.projections.e3nn_frame`: fewer than two independent l = 1 vectors, near-parallel ones).
    """

    name = "canonicalize"
    group = ("C_N shifts of regular fields / SO(2) rotations of irreps fields / a field type's finite group or SO(2) / "
             "SO(3) or O(3) on e3nn irreps")
    lossless = True
    layouts = ("regular", "irreps", "field_type", "e3nn")

    def __init__(self, layout: Any = None, *, check_finite: bool = False, n_angles: int | None = None) -> None:
        super().__init__(layout, check_finite=check_finite, n_angles=n_angles)
        if self.latent_layout == "e3nn":
            action = self.action
            if action.lmax >= 2 and not any(b.l == 1 for b in action.blocks):
                raise ConfigError(f"canonicalize reads its frame off the l = 1 vectors, and the e3nn irreps "
                                  f"{action.spec} have none", "use projection='random_invariant', 'gram' or 'norm'")
            self.couplings = WignerCouplings(action.lmax)
        elif self.in_layout.fixed and canonicalization_error(self.in_layout.action()):
            canonical_representative(self.in_layout.action(), torch.zeros(1, self.in_layout.action().dim))  # raises

    @classmethod
    def example_field_types(cls) -> tuple[str, ...]:
        """A finite group with regular fields, a dihedral group and SO(2) (O(2) has no canonical form here)."""
        return (*super().example_field_types(), "D4: 2 regular + irrep(1,1) + trivial")

    @classmethod
    def example_irreps(cls) -> tuple[str, ...]:
        """The family's specs, and O(3) irreps of l <= 1 (where a degenerate frame still gives an invariant output)."""
        return (*super().example_irreps(), "O3: 2x0e + 0o + 3x1o + 1x1e")

    def width(self, action: Any) -> int:
        """The orbit representative itself: D."""
        return action.dim

    def ill_defined(self, z: Any) -> Tensor:
        """``[B]`` bool: e3nn latents whose frame is ill-defined (see :mod:`~eqlatent.projections.e3nn_frame`).

        There the output is finite, its ``l <= 1`` part invariant, its ``l >= 2`` part defined only up to the
        rotations that fix the vectors.  Every other layout's representative is defined everywhere: all False.
        """
        z = self.in_layout.tensor(z, self.name)
        if self.latent_layout != "e3nn":
            return torch.zeros(z.shape[0], dtype=torch.bool, device=z.device)
        with torch.no_grad():
            return canonical_frame(self.action, z.float() if z.dtype in LOW_PRECISION else z, self.couplings())[1]

    def project(self, z: Tensor, meta: Meta) -> Tensor:
        if self.latent_layout == "e3nn":
            return canonical_frame(self.action, z, self.couplings())[0]
        return canonical_representative(self.action_for(z), z.flatten(1))
