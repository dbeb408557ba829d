"""The maximum over SO(3) of ``F(R) = sum_l <M_l, D^l(R)>``, shared by every SO(3) / O(3) computation.

Why this module exists: for an e3nn latent the inner product ``<z1, D(R) z2>`` of one latent
with a rotated other is ``sum_l <M_l, D^l(R)>`` (Frobenius), where ``M_l`` (``(2l+1)^2``
numbers) sums ``z1_u z2_u^T`` over the degree-l channels.  The quotient distance is
``||z1||^2 + ||z2||^2 - 2 max_R F(R)``, so the group is only ever needed through these
small matrices: the SO(3) analogue of :mod:`eqlatent.groups.trig`.

How the maximum is found:

* ``l <= 1`` only: closed form.  ``D^1(R)`` runs over all of SO(3), so ``max <M_1, D^1>`` is
  orthogonal Procrustes with the determinant fix (Kabsch): ``M_1 = U S V^T``,
  ``D^1 = U diag(1, 1, det(U V^T)) V^T``, maximum ``s1 + s2 + det(U V^T) s3``.
* otherwise: ``F`` on a fixed quasi-uniform grid of rotations (:func:`super_fibonacci`,
  Alexa 2022: deterministic, any size; both O(3) cosets scored by one matrix product), the
  highest grid values that are not within ``SUPPRESS_RADIUS`` of a higher one of their coset
  as starting points (distinct peaks, not one peak's neighbours: :func:`default_starts`),
  then Newton steps on the exponential map ``R exp(w . X)`` (gradient and Hessian exact:
  ``F`` is a polynomial in ``D``) with a trust radius, ``SCREEN_STEPS`` for every start and
  ``NEWTON_STEPS`` more for the ``N_KEEP`` best.  A step is taken only if ``F`` does not
  drop, so the result is never below the best grid value.

Error bound of the grid maximum (``refine=False``): along a unit-speed geodesic
``|d^2/dt^2 <M_l, D^l>| <= l^2 ||M_l||_*``, and ``F'`` vanishes at the maximum, so with every
rotation within angle ``h`` (the grid's covering radius, :attr:`SO3Grid.covering_radius`) of a
grid point::

    0 <= max F - max_grid F <= h^2 / 2 * sum_l l^2 ||M_l||_* <= h^2 L^2 / 2 * ||z1|| ||z2||

(``||J||_op = l`` for a unit generator of degree l; nuclear norms summed by Cauchy-Schwarz),
plus the float32 rounding of the grid scores that pick the best grid point (~1e-7 of
``||z1|| ||z2||``).  With refinement the result is the true maximum to float64 precision
whenever a start lies in its basin; how fine the grid and how many starts that takes was
measured, see :data:`GRID_PER_L3`.

The matrices ``D^l`` come from ``D^1 = R`` by Clebsch-Gordan recursion with e3nn's own
``wigner_3j`` (``D^l = P^T (D^(l-1) (x) D^1) P``), which equals e3nn's ``D_from_matrix`` to
~1e-14 and has no Euler-angle pole; ``R`` is in e3nn's l = 1 basis (x, y, z, where
``D_from_matrix(R)`` of a ``1o`` irrep is ``R``: checked by the tests).

Examples
--------
>>> import torch
>>> R = quaternion_to_matrix(torch.tensor([[0.0, 0.0, 0.6, 0.8]], dtype=torch.float64))
>>> f, best, coset = maximize([None, R[:, None]])   # <R, D^1(Q)> is largest at Q = R, where it is 3
>>> round(float(f[0]), 12), bool(torch.allclose(best, R)), int(coset[0])
(3.0, True, 0)
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import Tensor

#: the irrational of Alexa's super-Fibonacci spiral (the real root of psi^4 = psi + 4)
PSI = 1.533751168755204288118041
#: grid points whose rotation angle from a higher-valued one (same coset) is below this start no Newton run
SUPPRESS_RADIUS = 0.6
#: Newton iterations every start gets before all but the N_KEEP best are dropped
SCREEN_STEPS = 3
#: starts per problem that are refined to the end
N_KEEP = 2
#: grid values looked at per problem when choosing the starts, per start
TOP_PER_START = 3
#: Newton iterations after screening (quadratic convergence needs ~4 from a grid start)
NEWTON_STEPS = 8
#: the largest step, in radians, of a Newton iteration (halved on each rejected step)
TRUST_RADIUS = 0.5
#: problems (rows x starts) refined at once: keeps the intermediates near the CPU cache
PROBLEMS_PER_CHUNK = 8192
#: grid values (rows x cosets x grid) scored at once
SCORES_PER_CHUNK = 1 << 23


def default_grid_size(lmax: int) -> int:
    """Grid rotations for band limit ``lmax``: ``GRID_PER_L3 * lmax^3``, at least 1,024.

    Why cubic: a degree-L function on SO(3) varies on the scale ``1/L`` in three directions.
    """
    return max(1024, GRID_PER_L3 * int(lmax) ** 3)


def default_starts(lmax: int) -> int:
    """Newton starts per problem: 16 up to L = 3, 32 above (see :data:`GRID_PER_L3`)."""
    return 16 if lmax <= 3 else 32


#: Grid rotations per L^3.  Measured against a dense reference (100,000-150,000 rotations,
#: Newton from its 32 best distinct peaks to convergence) on 2,000-4,000 random problems
#: (Gaussian latents) per case; a miss is a maximum below the reference by more than 1e-9 of
#: ``sum |M|``.  Single irreps (one channel: the most peaks) are the hard case.  With these
#: defaults (128 L^3 rotations, 16 / 32 starts, 3 screening steps, 2 kept): no miss for 2e,
#: 3o and 2e+3o (SO(3) and O(3)), 16x0e+8x1o+4x2e+2x3o, 4e, 4e+2x2e, and 6e (with 32 starts).
#: Fewer starts or screening steps do miss: 16 starts at L = 4, 2 of 3,000 (worst 4e-4); 8
#: starts at L = 3, 7 of 2,000 (4e-3); 2 screening steps for 3o, 1 of 3,000 (1e-3); 4 starts
#: and no screening 31 of 2,000 even on a 4,096 grid.  ``benchmarks/o3_quotient.py`` reruns it.
GRID_PER_L3 = 128


# -- rotations -------------------------------------------------------------------------------------

def quaternion_to_matrix(q: Tensor) -> Tensor:
    """``[..., 3, 3]`` rotation of unit quaternions ``q [..., 4]`` (scalar last)."""
    x, y, z, w = q.unbind(-1)
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
    ], dim=-1).unflatten(-1, (3, 3))


def super_fibonacci(n: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """``[n, 4]`` unit quaternions (scalar last, ``w >= 0``) of Alexa's super-Fibonacci spiral.

    Deterministic and quasi-uniform on SO(3) for every ``n`` (Alexa, "Super-Fibonacci
    spirals", CVPR 2022): a grid of any size with no random seed and no HEALPix.
    """
    s = torch.arange(n, dtype=torch.float64) + 0.5
    t = s / n
    r, rr = t.sqrt(), (1 - t).sqrt()
    a, b = 2 * math.pi * s / math.sqrt(2.0), 2 * math.pi * s / PSI
    q = torch.stack([r * torch.sin(a), r * torch.cos(a), rr * torch.sin(b), rr * torch.cos(b)], dim=-1)
    q = torch.where(q[:, 3:] < 0, -q, q)
    return q.to(dtype)


def exp_so3(w: Tensor) -> Tensor:
    """``[..., 3, 3]`` = ``exp(w . X)`` (``w . X`` the cross-product matrix of ``w``, e3nn's l = 1 generators).

    Rodrigues' formula, with its series near 0 (exact in float64).
    """
    theta2 = (w * w).sum(-1)
    small = theta2 < 1e-8
    theta = torch.where(small, torch.ones_like(theta2), theta2).sqrt()
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / (theta * theta))
    c = 1 - b * theta2  # cos(theta)
    out = (b[..., None, None] * w[..., :, None]) * w[..., None, :]
    x, y, z = (a[..., None] * w).unbind(-1)
    out[..., 0, 0] += c
    out[..., 1, 1] += c
    out[..., 2, 2] += c
    out[..., 0, 1] -= z
    out[..., 1, 0] += z
    out[..., 0, 2] += y
    out[..., 2, 0] -= y
    out[..., 1, 2] -= x
    out[..., 2, 1] += x
    return out


# -- Wigner matrices by Clebsch-Gordan recursion -----------------------------------------------------

def coupling(l: int) -> Tensor:
    """The float64 CPU coupling ``P`` of degree ``l >= 2`` (:func:`wigner_blocks`), for a caller that holds it."""
    return _coupling(int(l), torch.float64, "cpu")


@lru_cache(maxsize=32)
def _coupling(l: int, dtype: torch.dtype, device: str) -> Tensor:
    """``P [3(2l-1), 2l+1]``, an isometry with ``D^l = P^T (D^(l-1) (x) D^1) P`` (e3nn's wigner_3j)."""
    from eqlatent.groups.o3 import e3nn_float64, import_e3nn

    o3 = import_e3nn()
    with e3nn_float64():
        C = o3.wigner_3j(l - 1, 1, l)
    return (C * math.sqrt(2 * l + 1)).reshape(3 * (2 * l - 1), 2 * l + 1).to(dtype=dtype, device=device)


def wigner_blocks(R: Tensor, lmax: int, couplings: dict[int, Tensor] | None = None) -> list[Tensor]:
    """``[D^0, D^1, ..., D^lmax]`` (each ``[B, 2l+1, 2l+1]``) of rotations ``R [B, 3, 3]`` in e3nn's basis.

    ``D^l[m, n] = sum P[(i,k), m] D^(l-1)[i, j] R[k, q] P[(j,q), n]``, contracted as three matrix products.
    ``couplings``: ``{l: P}`` held by the caller (a module under ``torch.compile``, which traces into this
    module's cache and e3nn instead of reading them); None reads the cache.
    """
    B = R.shape[0]
    blocks = [R.new_ones(B, 1, 1)]
    if lmax >= 1:
        blocks.append(R)
    for l in range(2, lmax + 1):
        d, e = 2 * l - 1, 2 * l + 1
        P = _coupling(l, R.dtype, str(R.device)) if couplings is None else couplings[l].to(R)
        P3 = P.view(d, 3, e)
        right = (R.reshape(B * 3, 3) @ P3.permute(1, 0, 2).reshape(3, d * e)).view(B, 3, d, e)  # [b, k, j, n]
        right = right.transpose(1, 2).reshape(B, d, 3 * e)  # [b, j, (k, n)]
        both = torch.bmm(blocks[-1], right).view(B, 3 * d, e)  # [b, (i, k), n]
        blocks.append(torch.einsum("xm,bxn->bmn", P3.reshape(3 * d, e), both))
    return blocks


# -- the grid ------------------------------------------------------------------------------------------

class SO3Grid:
    """A fixed super-Fibonacci grid of ``n`` rotations and ``F``'s basis at them.

    ``basis [sum_l (2l+1)^2, n]``: rows ``vec(D^l(R_g))`` for l = 0..lmax, so that the grid
    values of ``F`` for flattened ``M`` rows are one matrix product (``flat(M) @ basis``).
    """

    def __init__(self, n: int, lmax: int) -> None:
        self.n, self.lmax = int(n), int(lmax)
        self.quaternions = super_fibonacci(self.n)
        self.rotations = quaternion_to_matrix(self.quaternions)
        #: ``D^l`` at the grid rotations (float64): the first Newton step of a grid start needs no new matrices
        self.blocks = wigner_blocks(self.rotations, self.lmax)
        self.basis = torch.cat([b.flatten(1) for b in self.blocks], dim=1).T.contiguous()
        self._cast: dict = {}

    def cast_blocks(self, like: Tensor) -> list[Tensor]:
        key = ("blocks", like.dtype, like.device)
        if key not in self._cast:
            self._cast[key] = [b.to(dtype=like.dtype, device=like.device) for b in self.blocks]
        return self._cast[key]

    def cast(self, name: str, like: Tensor) -> Tensor:
        key = (name, like.dtype, like.device)
        if key not in self._cast:
            self._cast[key] = getattr(self, name).to(dtype=like.dtype, device=like.device)
        return self._cast[key]

    @property
    def covering_radius(self) -> float:
        """``h``: the largest angle from a rotation to its nearest grid point (estimated, see :func:`covering_radius`)."""
        return covering_radius(self.n)


@lru_cache(maxsize=16)
def covering_radius(n: int, probes: int = 8_000) -> float:
    """Largest angle from ``probes`` fixed pseudo-random rotations to their nearest of ``n`` grid rotations.

    An estimate of the covering radius from below (the worst rotation is rarely a probe).  With
    20,000 probes, for the default grids: 1,024 rotations 0.39 rad, 3,456 (L = 3) 0.25, 8,192
    (L = 4) 0.19, 27,648 (L = 6) 0.12.
    """
    gen = torch.Generator().manual_seed(0)
    probe = torch.randn(probes, 4, generator=gen)
    probe = probe / probe.norm(dim=1, keepdim=True)
    grid = super_fibonacci(n, torch.float32)
    best = torch.zeros(probes)
    for s in range(0, n, 8192):
        best = torch.maximum(best, (probe @ grid[s:s + 8192].T).abs().amax(1))
    return float(2 * torch.arccos(best.double().clamp(max=1.0)).max())


@lru_cache(maxsize=8)
def so3_grid(n: int, lmax: int) -> SO3Grid:
    return SO3Grid(n, lmax)


def value(M: list[Tensor | None], D: list[Tensor]) -> Tensor:
    """``[B]``: ``F = sum_l <M_l, D_l>``."""
    out = 0
    for m, d in zip(M, D):
        if m is not None:
            out = out + (m * d).sum((-2, -1))
    return out


# -- closed form, l <= 1 ---------------------------------------------------------------------------

def kabsch(M1: Tensor) -> tuple[Tensor, Tensor]:
    """``(max_R <M1, R>, argmax R)`` over SO(3) for ``M1 [B, 3, 3]`` (orthogonal Procrustes with the det fix)."""
    U, S, Vh = torch.linalg.svd(M1)
    d = torch.linalg.det(U @ Vh).sign()
    d = torch.where(d == 0, torch.ones_like(d), d)
    flip = torch.ones_like(S)
    flip[:, 2] = d
    R = (U * flip[:, None, :]) @ Vh
    return (S * flip).sum(-1), R


# -- grid + Newton ------------------------------------------------------------------------------------

@lru_cache(maxsize=8)
def _derivative_basis64(lmax: int) -> tuple[Tensor, ...]:
    """Per l: ``[(2l+1)^2, 9]`` columns ``vec(X_a)`` (3) and ``vec((X_a X_b + X_b X_a) / 2)`` (6, a <= b)."""
    from eqlatent.groups.o3 import e3nn_float64, import_e3nn

    o3 = import_e3nn()
    out = []
    for l in range(lmax + 1):
        with e3nn_float64():
            X = o3.so3_generators(l).to(torch.float64)  # [3, d, d]
        cols = [X[a] for a in range(3)]
        cols += [(X[a] @ X[b] + X[b] @ X[a]) / 2 for a, b in _PAIRS]
        out.append(torch.stack([c.flatten() for c in cols], dim=1))
    return tuple(out)


_PAIRS = [(a, b) for a in range(3) for b in range(a, 3)]


def _ascent_step(feats: Tensor) -> Tensor:
    """``[B, 3]`` step ``(mu I - H)^-1 g`` from ``feats [B, 9]`` (gradient, then H00 H01 H02 H11 H12 H22).

    ``mu = 0`` (Newton) where ``-H`` is positive definite (Sylvester's criterion), else a
    Gershgorin bound above H's largest eigenvalue (a damped gradient step); 3x3 formulas
    written out, as batched LAPACK calls on 3x3 matrices cost more than the whole step.
    """
    g = feats[:, :3]
    a00, a01, a02, a11, a12, a22 = (-feats[:, 3 + c] for c in range(6))  # A = -H
    scale = feats[:, 3:].abs().amax(1) + 1e-12 * g.abs().amax(1) + 1e-300
    c00, c01, c02 = a11 * a22 - a12 * a12, a02 * a12 - a01 * a22, a01 * a12 - a02 * a11  # cofactors
    det = a00 * c00 + a01 * c01 + a02 * c02
    tiny = 1e-9 * scale
    concave = (a00 > tiny) & (a00 * a11 - a01 * a01 > tiny * scale) & (det > tiny * scale * scale)
    bound = torch.stack([a00.abs() + a01.abs() + a02.abs() - 2 * a00, a01.abs() + a11.abs() + a12.abs() - 2 * a11,
                         a02.abs() + a12.abs() + a22.abs() - 2 * a22], dim=1).amax(1)  # >= largest eigenvalue of H
    mu = torch.where(concave, torch.zeros_like(scale), bound.clamp_min(0) + 1e-6 * scale)
    a00, a11, a22 = a00 + mu, a11 + mu, a22 + mu
    c00, c01, c02 = a11 * a22 - a12 * a12, a02 * a12 - a01 * a22, a01 * a12 - a02 * a11
    c11, c12, c22 = a00 * a22 - a02 * a02, a01 * a02 - a00 * a12, a00 * a11 - a01 * a01
    det = (a00 * c00 + a01 * c01 + a02 * c02).clamp_min(1e-300)
    gx, gy, gz = g.unbind(1)
    step = torch.stack([c00 * gx + c01 * gy + c02 * gz, c01 * gx + c11 * gy + c12 * gz,
                        c02 * gx + c12 * gy + c22 * gz], dim=1) / det[:, None]
    return torch.where(torch.isfinite(step), step, torch.zeros_like(step))


def _newton(M: list[Tensor | None], R: Tensor, steps: int, D: list[Tensor] | None) -> tuple[Tensor, Tensor]:
    """One chunk of :func:`newton`."""
    lmax = len(M) - 1
    basis = [t.to(R) for t in _derivative_basis64(lmax)]
    D = wigner_blocks(R, lmax) if D is None else D
    f = value(M, D)
    radius = torch.full_like(f, TRUST_RADIUS)
    # |F| <= sum_l ||M_l|| sqrt(2l+1): a step that loses less than rounding of F is still taken, or the
    # last digits of R (F is flat at its maximum: F's rounding hides rotations of ~sqrt(eps)) are never reached
    tol = 8 * torch.finfo(R.dtype).eps * sum(m.flatten(1).norm(dim=1) * math.sqrt(2 * l + 1)
                                             for l, m in enumerate(M) if m is not None)
    for _ in range(steps):
        feats = 0
        for l in range(1, lmax + 1):
            if M[l] is not None:
                N = D[l].transpose(-1, -2) @ M[l]  # <M, D E> = <D^T M, E>
                feats = feats + N.flatten(1) @ basis[l]
        step = _ascent_step(feats)
        norm = step.norm(dim=1)
        step = step * (radius / norm.clamp_min(1e-300)).clamp(max=1.0)[:, None]
        R_new = R @ exp_so3(step)
        D_new = wigner_blocks(R_new, lmax)
        f_new = value(M, D_new)
        better = f_new > f - tol
        R = torch.where(better[:, None, None], R_new, R)
        D = [torch.where(better[:, None, None], dn, d) for dn, d in zip(D_new, D)]
        f = torch.where(better, f_new, f)
        radius = torch.where(better, radius, radius / 2)
        if bool((norm < 1e-12).all()):  # a rotation within 1e-12 rad: d is off by < 1e-12 L ||z2||
            break
    return f, R


def newton(M: list[Tensor | None], R: Tensor, steps: int = NEWTON_STEPS,
           D: list[Tensor] | None = None) -> tuple[Tensor, Tensor]:
    """Refine rotations ``R [B, 3, 3]`` towards a local maximum of ``F``; ``(F, R)``, never below the start
    (beyond rounding).

    Each step: gradient ``g`` and Hessian ``H`` of ``w -> F(R exp(w . X))`` at 0, the step
    ``(mu I - H)^-1 g`` (``mu`` lifts H below zero where it is not negative definite: Newton
    near a maximum, a damped gradient step elsewhere), cut to the trust radius; a step is
    taken only if ``F`` does not decrease beyond its rounding, else the radius halves.  ``M``: list over l of
    ``[B, 2l+1, 2l+1]`` or None; ``D``: the matrices ``D^l(R)`` when known (grid starts).
    """
    fs, Rs = [], []
    for s in range(0, len(R), PROBLEMS_PER_CHUNK):
        part = [None if m is None else m[s:s + PROBLEMS_PER_CHUNK] for m in M]
        known = None if D is None else [d[s:s + PROBLEMS_PER_CHUNK] for d in D]
        f, r = _newton(part, R[s:s + PROBLEMS_PER_CHUNK], steps, known)
        fs.append(f)
        Rs.append(r)
    return torch.cat(fs), torch.cat(Rs)


def _starts(scores: Tensor, quaternions: Tensor, n_starts: int) -> tuple[Tensor, Tensor]:
    """``(coset, grid index)``, each ``[B, n_starts]``: the highest values not near a higher one of their coset.

    ``scores [B, cosets * n]`` (coset-major).
    """
    n = len(quaternions)
    top = min(TOP_PER_START * n_starts, scores.shape[1])
    idx = scores.topk(top, dim=1).indices  # [B, T], highest first
    coset, g = idx // n, idx % n
    q = quaternions[g]  # [B, T, 4]
    near = ((q @ q.transpose(1, 2)).abs() > math.cos(SUPPRESS_RADIUS / 2)) & (coset[:, :, None] == coset[:, None, :])
    higher = torch.ones(top, top, dtype=torch.bool, device=scores.device).triu(1)  # [a, b]: a ranks above b
    kept = ~(near & higher).any(1)  # [B, T]
    order = torch.where(kept, 0, top) + torch.arange(top, device=scores.device)
    pick = order.argsort(dim=1)[:, :min(n_starts, top)]
    return coset.gather(1, pick), g.gather(1, pick)


def _take(M: list[Tensor | None], rows: Tensor, coset: Tensor) -> list[Tensor | None]:
    """``M_l[rows, coset]`` for ``M_l [B, cosets, d, d]``."""
    return [None if m is None else m[rows, coset] for m in M]


def _best(f: Tensor, R: Tensor, coset: Tensor, keep: int) -> tuple[Tensor, Tensor, Tensor]:
    """Per row the ``keep`` highest of ``f [B, S]`` (and their ``R``, ``coset``)."""
    pick = f.topk(keep, dim=1).indices
    rows = torch.arange(len(f), device=f.device)[:, None]
    return f[rows, pick], R[rows, pick], coset[rows, pick]


def maximize(M: list[Tensor | None], grid: SO3Grid | None = None, refine: bool = True,
             n_starts: int | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """``(max F, argmax R, argmax coset)`` per row, over rotations and the ``C`` cosets.

    ``M``: list over l = 0..lmax of ``[B, C, 2l+1, 2l+1]`` or None (absent degree); coset c of
    row b maximises ``sum_l <M_l[b, c], D^l(R)>``.  ``lmax <= 1``: closed form
    (:func:`kabsch`), ``grid`` unused.  Otherwise the grid maximum, refined when ``refine``:
    :func:`newton` runs ``SCREEN_STEPS`` from ``n_starts`` distinct grid peaks, then to the end
    from the ``N_KEEP`` best.  float64 throughout; no gradient (callers differentiate through
    the maximiser, not the search).
    """
    with torch.no_grad():
        M = [None if m is None else m.detach().to(torch.float64) for m in M]
        like = next(m for m in M if m is not None)
        B, C = like.shape[:2]
        lmax = len(M) - 1
        rows = torch.arange(B, device=like.device)
        if lmax <= 1:
            f = M[0].flatten(1) if M[0] is not None else like.new_zeros(B, C)
            R = torch.eye(3, dtype=like.dtype, device=like.device).expand(B, C, 3, 3)
            if lmax == 1 and M[1] is not None:
                f1, R = kabsch(M[1].flatten(0, 1))
                f, R = f + f1.view(B, C), R.view(B, C, 3, 3)
            best = f.argmax(1)
            return f[rows, best], R[rows, best].contiguous(), best
        if grid is None:
            grid = so3_grid(default_grid_size(lmax), lmax)
        n_starts = default_starts(lmax) if n_starts is None else int(n_starts)
        basis, rot = grid.cast("basis", like.float()), grid.cast("rotations", like)
        quats = grid.cast("quaternions", like)
        out_f, out_R, out_c = like.new_empty(B), like.new_empty(B, 3, 3), torch.empty(B, dtype=torch.long,
                                                                                        device=like.device)
        chunk = max(1, SCORES_PER_CHUNK // (C * grid.n))
        for s in range(0, B, chunk):
            part = [None if m is None else m[s:s + chunk] for m in M]
            b = len(next(m for m in part if m is not None))
            flat = torch.cat([(m if m is not None else like.new_zeros(b, C, 2 * l + 1, 2 * l + 1)).flatten(2)
                              for l, m in enumerate(part)], dim=2)  # [b, C, K]
            scores = (flat.float() @ basis).view(b, C * grid.n)  # float32 picks the starts only
            r = torch.arange(b, device=like.device)
            if not refine:
                top = scores.argmax(1)
                c, R = top // grid.n, rot[top % grid.n]
                f = value(_take(part, r, c), wigner_blocks(R, lmax))
            else:
                c, g = _starts(scores, quats, n_starts)  # [b, S]
                S = c.shape[1]
                rr = r[:, None].expand(b, S)
                D0 = [blk[g.flatten()] for blk in grid.cast_blocks(like)]
                f, R = newton(_take(part, rr.flatten(), c.flatten()), rot[g.flatten()], SCREEN_STEPS, D0)
                f, R, c = _best(f.view(b, S), R.view(b, S, 3, 3), c, min(N_KEEP, S))
                K = c.shape[1]
                rr = r[:, None].expand(b, K)
                f, R = newton(_take(part, rr.flatten(), c.flatten()), R.flatten(0, 1), NEWTON_STEPS)
                f, R, c = _best(f.view(b, K), R.view(b, K, 3, 3), c, 1)
                f, R, c = f[:, 0], R[:, 0], c[:, 0]
            out_f[s:s + b], out_R[s:s + b], out_c[s:s + b] = f, R, c
        return out_f, out_R, out_c
