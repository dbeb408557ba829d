"""``eqlatent.quotient_distance``: ``min_g ||z1 - g . z2||`` for S_n, finite groups, SO(2) and O(2).

Why one function: the quotient distance is the reference every projection is judged by, in
the studies (all pairs of test latents) and in :func:`eqlatent.retention`.  It is computed
through the same pieces as the projections:

* S_n (node latents ``[n, d]``): exact, for every d, by the Hungarian algorithm on the cost
  matrix ``C[a, b] = ||z1_a - z2_b||^2`` (the sum of matched costs is the squared distance;
  :func:`scipy.optimize.linear_sum_assignment`, one pair at a time).  Not by sorting at
  d = 1, although that is exact too: the molecules study judges the sort projection against
  this distance, so the reference must not be a sort itself.
* finite groups: exact -- ``max_g <z1, rho(g) z2>`` over every element
  (:meth:`FieldAction.orbit`), then ``||z1||^2 + ||z2||^2 - 2 max``.  The studies' C_N layout
  (``"C8"``) is acted on without escnn (:func:`eqlatent.groups.specs.resolve_action`).
* SO(3) / O(3) (e3nn ``Irreps``, or a spec ``"O3: 8x0e + 4x1o"``): closed form for l <= 1,
  grid + Newton on SO(3) otherwise, in :mod:`eqlatent.groups.o3_quotient`.
* SO(2) / O(2): ``<z1, rho(theta) z2>`` is a degree-L trigonometric polynomial per coset,
  maximised by :class:`~eqlatent.groups.trig.TrigGrid` (grid + Newton, float-precision
  in practice).  Without refinement the squared distance is over-estimated by at most
  ``pi^2 L^2 / n_angles^2 * ||z1|| ||z2||``.

Pairs are taken row by row (``z1[i]`` with ``z2[i]``) or, with ``pairwise=True``, all of
them: then the orbit of ``z2`` is built once and scored against a chunk of ``z1`` by one
matrix product, which is what makes a study's ``n x n`` reference fast.

A plain CNN has no group action on its latent, only on its input:
:func:`orbit_quotient_distances` minimises over the latents of rotated input copies instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from eqlatent.errors import ConfigError, EqlatentError, LatentShapeError
from eqlatent.groups.actions import FieldAction
from eqlatent.groups.inputs import check_finite, flat_latent, same_fields
from eqlatent.groups.o3 import is_irreps
from eqlatent.groups.specs import check_group_argument, field_type_for, is_field_type, is_permutation_group, resolve_action

#: pairs scored at once by the all-pairs paths (bounds the ``[pairs, n_angles]`` grid of SO(2) / O(2))
PAIRS_PER_CHUNK = 1 << 16


def _as_tensor(z: Any, what: str) -> Tensor:
    z = getattr(z, "tensor", z)
    z = torch.as_tensor(z)
    if not z.is_floating_point():
        z = z.double()
    return check_finite(z, what)


def _from_max_inner(a: Tensor, b: Tensor, max_inner: Tensor) -> Tensor:
    """``sqrt(||a||^2 + ||b||^2 - 2 max)`` with ``a [P, D]``, ``b [P, D]`` or ``[n, D]``, ``[m, D]`` for ``max [n, m]``."""
    sq_a, sq_b = a.pow(2).sum(1), b.pow(2).sum(1)
    if max_inner.ndim == 2:
        sq_a, sq_b = sq_a[:, None], sq_b[None, :]
    return (sq_a + sq_b - 2 * max_inner).clamp_min(0).sqrt()


# -- S_n ------------------------------------------------------------------------------------------

def hungarian_distance(z1: Tensor, z2: Tensor, return_permutation: bool = False):
    """Exact ``min_P ||z1[k] - P z2[k]||`` for each pair ``k`` of node latents ``[pairs, n, d]``.

    Returns ``[pairs]`` float64 distances, and with ``return_permutation`` also ``perm [pairs, n]``
    such that ``z2[k, perm[k]]`` is the member of ``z2[k]``'s orbit closest to ``z1[k]``.
    """
    if z1.ndim != 3 or z1.shape != z2.shape:
        raise LatentShapeError(f"S_n distances need two node latents [pairs, nodes, d] of one shape, got "
                               f"{tuple(z1.shape)} and {tuple(z2.shape)}",
                               "pad graphs to the same number of nodes (to_dense_batch) and add a d axis")
    a, b = z1.detach().to(torch.float64).cpu(), z2.detach().to(torch.float64).cpu()
    cost = torch.cdist(a, b).pow(2).numpy()  # [pairs, n, n]
    perms = np.empty((len(cost), a.shape[1]), dtype=np.int64)
    dist = np.empty(len(cost))
    for k, c in enumerate(cost):
        rows, cols = linear_sum_assignment(c)
        perms[k, rows] = cols
        dist[k] = c[rows, cols].sum()
    out = torch.from_numpy(np.sqrt(np.maximum(dist, 0.0)))
    return (out, torch.from_numpy(perms)) if return_permutation else out


def _hungarian_all_pairs(a: Tensor, b: Tensor | None, chunk: int = 4096) -> Tensor:
    """``[n, m]`` S_n distances of every pair (``b`` None: the pairs of ``a``, computed once each)."""
    n = len(a)
    if b is None:
        i, j = torch.triu_indices(n, n, offset=1)
    else:
        i, j = torch.arange(n).repeat_interleave(len(b)), torch.arange(len(b)).repeat(n)
    d = torch.empty(len(i), dtype=torch.float64)
    from rich.console import Console
    from rich.progress import track  # the bar Lightning and the images study draw too; removed when done

    # a bar only for more than one chunk and on a terminal: elsewhere rich's transient bar leaves a blank line
    console = Console(stderr=True)
    quiet = len(i) <= chunk or not console.is_terminal
    for s in track(range(0, len(i), chunk), description=f"quotient distances ({len(i):,} pairs)", transient=True,
                   disable=quiet, console=console):
        d[s:s + chunk] = hungarian_distance(a[i[s:s + chunk]], (a if b is None else b)[j[s:s + chunk]])
    out = torch.zeros(n, n if b is None else len(b), dtype=torch.float64)
    out[i, j] = d
    if b is None:
        out[j, i] = d
    return out


# -- groups acting on flat latents --------------------------------------------------------------

def group_distance(action: FieldAction, z1: Tensor, z2: Tensor, refine: bool = True, chunk: int = 1024) -> Tensor:
    """``[pairs]`` distances ``min_g ||z1 - rho(g) z2||`` for flat ``[pairs, D]`` latents (float64)."""
    a, b = z1.double(), z2.double()
    best = []
    for s in range(0, len(a), chunk):
        inner = torch.einsum("pd,ped->pe", a[s:s + chunk], action.orbit(b[s:s + chunk]))  # [P, elements]
        best.append(action.max_over_orbit(inner.unsqueeze(-1), refine=refine).squeeze(-1))
    best = torch.cat(best) if best else a.new_zeros(0)
    return _from_max_inner(a, b, best)


def _group_all_pairs(action: FieldAction, z1: Tensor, z2: Tensor | None, refine: bool) -> Tensor:
    """``[n, m]`` distances of every pair of flat latents (``z2`` None: the pairs of ``z1``, symmetric, zero diagonal).

    The orbit of ``z2`` is built once; each chunk of rows of ``z1`` meets all of it in one
    matrix product (``[rows, m, elements]``).  Within one set both ``d(i, j)`` and ``d(j, i)``
    are computed; the smaller is kept (each over-estimates the true distance, if at all, by
    the grid error of a circle group).
    """
    a = z1.double()
    b = a if z2 is None else z2.double()
    m = len(b)
    orbit = action.orbit(b).reshape(m * action.n_elements, action.dim)  # [m * elements, D]
    rows = max(1, PAIRS_PER_CHUNK // max(m, 1))
    best = []
    for s in range(0, len(a), rows):
        chunk = a[s:s + rows]
        inner = (chunk @ orbit.T).view(len(chunk), m, action.n_elements)
        best.append(action.max_over_orbit(inner.unsqueeze(-1), refine=refine).squeeze(-1))
    d = _from_max_inner(a, b, torch.cat(best) if best else a.new_zeros(0, m))
    if z2 is None:
        d = torch.minimum(d, d.T).fill_diagonal_(0.0)
    return d


# -- the public function ------------------------------------------------------------------------

def infer_field_type(z1: Any, z2: Any, given: Any, who: str = "quotient_distance") -> Any:
    """The group / field type to use: ``given``, else the one the GeometricTensors carry (the same for both).

    A GeometricTensor carries its field type, so a ``given`` one that lays out other fields (a
    FieldType, a spec string, or a group / name whose default layout differs) is refused: it
    would silently reinterpret the latent's channels.
    """
    if given is not None:
        check_group_argument(given, who)
    types = [z.type for z in (z1, z2) if hasattr(z, "tensor") and hasattr(z, "type")]
    if len(types) == 2 and not same_fields(types[0], types[1]):
        raise LatentShapeError(f"the two GeometricTensors have different field types: {types[0]} vs {types[1]}",
                               "compare latents of the same encoder (the same out_type)")
    if given is None:
        if not types:
            raise ConfigError(f"{who} needs the group of plain-tensor latents",
                              "pass group_or_field_type: 'S_n' (node latents), encoder.out_type (escnn FieldType), "
                              "a name such as 'C8' / 'SO2', or pass GeometricTensors")
        return types[0]
    if types and not is_permutation_group(given):
        try:
            named = field_type_for(given, (1, types[0].size))
        except EqlatentError:  # e.g. "SO2" needs a [n, fields, 1+2L] layout: not this latent's
            named = None
        if named is None or not same_fields(named, types[0]):
            drop = "drop group_or_field_type (it is read from the GeometricTensors) or " if who == "quotient_distance" \
                else ""
            raise LatentShapeError(f"the GeometricTensors have field type {types[0]} but group_or_field_type is "
                                   f"{given}", f"{drop}pass their .type as group_or_field_type")
    return given


def quotient_distance(z1: Any, z2: Any = None, group_or_field_type: Any = None, n_angles: int | None = None,
                      refine: bool = True, pairwise: bool = False) -> Tensor:
    """Quotient distance ``min_g ||z1 - g . z2||`` between latents, pair by pair or all pairs.

    Parameters
    ----------
    z1, z2:
        Two latents of the same shape, or two batches ``[pairs, ...]`` (distance of row i to
        row i).  S_n: node latents ``[nodes, d]`` / ``[pairs, nodes, d]``.  Groups: anything with
        the field type's ``size`` numbers per sample (``[pairs, C]``, ``[pairs, C, 1, 1]``, a
        GeometricTensor, or a studies layout ``[pairs, fields, N]``).
    group_or_field_type:
        ``"S_n"``, an escnn ``FieldType``, a field-type spec string (``"C8: 2 regular + trivial"``),
        an escnn group, or ``"C8"`` / ``"D4"`` / ``"SO2"`` (see :mod:`eqlatent.groups.specs` for
        the layout a name implies) -- not a GSpace.  Optional when ``z1`` / ``z2`` are escnn
        GeometricTensors: their (common) ``.type`` is used, and one that disagrees with it is refused.
        e3nn latents ``[pairs, irreps.dim]``: an ``e3nn.o3.Irreps`` (O(3)) or a spec ``"SO3: 8x0e+4x1o"``
        / ``"O3: ..."`` (:func:`eqlatent.groups.o3_quotient.irreps_quotient_distance`).
    n_angles, refine:
        SO(2) / O(2) only: the grid the maximum over rotations starts from (at least ``4(2L+1)``;
        default ``max(64, 4(2L+1))``, see :func:`eqlatent.groups.specs.grid_angles`), and whether
        Newton steps refine it (see :mod:`eqlatent.groups.trig`).
    pairwise:
        Every pair instead of row by row: ``z1 [n, ...]`` and ``z2 [m, ...]`` give ``[n, m]``;
        ``z2=None`` gives the ``[n, n]`` distances within ``z1`` (symmetric, zero diagonal).

    Returns
    -------
    Tensor
        float64 distances: a scalar for two single latents, ``[pairs]`` otherwise, ``[n, m]``
        with ``pairwise``.  No rows give an empty result (``[0]``, ``[0, m]``, ``[n, 0]``).

    Examples
    --------
    >>> import torch, eqlatent
    >>> z = torch.tensor([[0.0], [1.0], [5.0]])
    >>> float(eqlatent.quotient_distance(z, z[[2, 0, 1]], "S_n"))
    0.0
    >>> a = torch.arange(8.0)
    >>> round(float(eqlatent.quotient_distance(a, a.roll(3), "C8")), 6)   # sqrt of a float64 cancellation
    0.0
    >>> eqlatent.quotient_distance(torch.stack([a, a.roll(1), -a]), None, "C8", pairwise=True).shape
    torch.Size([3, 3])
    """
    if is_irreps(group_or_field_type):
        if n_angles is not None:
            raise ConfigError("n_angles sets the grid of SO(2) / O(2); SO(3) / O(3) latents have their own grid",
                              "drop n_angles, or call eqlatent.groups.o3_quotient.irreps_quotient_distance(n_grid=...)")
        from eqlatent.groups.o3_quotient import irreps_quotient_distance  # e3nn loads on first use

        return irreps_quotient_distance(z1, z2, group_or_field_type, pairwise=pairwise, refine=refine)
    group_or_field_type = infer_field_type(z1, z2, group_or_field_type)
    if z2 is None and not pairwise:
        raise LatentShapeError("quotient_distance got no second latent", "pass z2, or pairwise=True for the pairs within z1")
    a = _as_tensor(z1, "first latent")
    b = None if z2 is None else _as_tensor(z2, "second latent")
    rows = a.shape[1:] if pairwise else a.shape
    if b is not None and (b.shape[1:] if pairwise else b.shape) != rows:
        raise LatentShapeError(f"the two latents differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}",
                               "compare latents of the same encoder" + ("" if pairwise else ", row by row"))
    if is_permutation_group(group_or_field_type):
        if pairwise:
            if a.ndim != 3:
                raise LatentShapeError(f"all-pairs S_n distances need node latents [n, nodes, d], got {tuple(a.shape)}",
                                       "add a d axis with z.unsqueeze(-1) for one number per node")
            return _hungarian_all_pairs(a, b)
        single = a.ndim == 2
        d = hungarian_distance(a.unsqueeze(0), b.unsqueeze(0)) if single else hungarian_distance(a, b)
        return d[0] if single else d
    field_type = group_or_field_type if is_field_type(group_or_field_type) else None
    single = a.ndim == 1 and not pairwise
    a, b = (a.unsqueeze(0), b.unsqueeze(0)) if single else (a, b)
    action = resolve_action(group_or_field_type, tuple(a.shape), n_angles)

    def flat(z: Tensor, what: str) -> Tensor:
        return flat_latent(z.flatten(1) if z.ndim > 2 and field_type is None else z, size=action.dim, what=what)

    fa, fb = flat(a, "first latent"), None if b is None else flat(b, "second latent")
    if pairwise:
        return _group_all_pairs(action, fa, fb, refine=refine)
    d = group_distance(action, fa, fb, refine=refine)
    return d[0] if single else d


def orbit_quotient_distances(z: Tensor, z_orbit: Tensor) -> Tensor:
    """``min_m ||f(x_i) - f(R_m x_j)||`` for a plain CNN: ``z [n, F]`` and ``z_orbit [n, M, F]`` -> ``[n, n]``.

    The group acts on the input only, so the orbit of ``x_j`` in latent space is the set of
    latents of its rotated copies (the studies' ``orbit`` layout); this is not symmetric in
    i, j, so it is symmetrised by the smaller of the two directions.
    """
    if z.ndim != 2 or z_orbit.ndim != 3 or z_orbit.shape[0] != z.shape[0] or z_orbit.shape[2] != z.shape[1]:
        raise LatentShapeError(f"need z [n, F] and z_orbit [n, M, F], got {tuple(z.shape)} and {tuple(z_orbit.shape)}",
                               "encode M rotated copies of the same inputs")
    a, b = z.double(), z_orbit.double()
    n, m, f = b.shape
    d = torch.cdist(a, b.reshape(n * m, f)).view(n, n, m).amin(-1)
    d = torch.minimum(d, d.T)
    return d.fill_diagonal_(0.0)
