"""The maximum over a circle of band-limited functions, shared by every SO(2) / O(2) computation.

Why this module exists: over SO(2) (or each coset of O(2)) acting through irreps of
frequency <= L, every quantity the projections and quotient distances maximise,
``theta -> <w, rho(theta) z>``, is a trigonometric polynomial of degree L.  It is fixed
exactly by its values at the ``2L + 1`` equally spaced *nodes*, so the group only ever acts
at those nodes; a grid of ``n_angles`` values follows by exact trigonometric interpolation,
and (optionally) Newton steps on the polynomial move the best grid angle onto the true
local maximum.

Error bound of the grid maximum (``refine=False``): the maximum ``p(theta*)`` lies within
``h / 2 = pi / n_angles`` of a grid angle and ``p'(theta*) = 0``, so by Taylor and
Bernstein's inequality ``|p''| <= L^2 max|p|``::

    0 <= max p - max_grid p <= (pi L / n_angles)^2 / 2 * max|p| <= pi^2 L^2 / (2 n_angles^2) * ||w|| ||z||

(for orthogonal representations).  With ``refine=True`` Newton runs from each of the L
highest grid peaks of every polynomial (it has at most L local maxima) and the iterates
converge quadratically to the local maxima next to them; the largest is kept: the result
equals the true maximum to float precision (measured: ~1e-9 in float64 on random degree-3
polynomials) and is never below the grid maximum.  Its gradient is the envelope gradient
(the trigonometric basis at the maximising angle), finite for every input.  Cost: linear
in the number of polynomials, a few passes over the grid each (see :meth:`TrigGrid.maximum`).

Examples
--------
>>> import torch
>>> grid = TrigGrid(band_limit=1, n_angles=8)
>>> nodes = torch.cos(grid.nodes - 0.3).unsqueeze(0)   # p(theta) = cos(theta - 0.3), max 1
>>> round(float(grid.maximum(nodes, refine=True)), 6)
1.0
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

#: rows (polynomials) maximised at once by the refined maximum: keeps its ``[rows, n_angles]``
#: intermediates near the CPU cache (8,192 x 64 float32 = 2 MB); cost is linear in the rows either way
ROWS_PER_CHUNK = 8192


def trig_basis(theta: Tensor, band_limit: int) -> Tensor:
    """``[len(theta), 2L+1]`` columns ``1, cos(theta), sin(theta), ..., cos(L theta), sin(L theta)``."""
    cols = [torch.ones_like(theta)]
    for k in range(1, band_limit + 1):
        cols += [torch.cos(k * theta), torch.sin(k * theta)]
    return torch.stack(cols, dim=-1)


class TrigGrid:
    """Interpolation nodes, grid and maximisation of degree-``L`` trigonometric polynomials.

    Parameters
    ----------
    band_limit:
        L, the highest frequency.
    n_angles:
        Size of the equally spaced grid the maximum is first taken over.
    """

    def __init__(self, band_limit: int, n_angles: int) -> None:
        self.band_limit, self.n_angles = int(band_limit), int(n_angles)
        m = 2 * self.band_limit + 1
        self.nodes = torch.arange(m, dtype=torch.float64) * (2 * math.pi / m)
        self.grid = torch.arange(self.n_angles, dtype=torch.float64) * (2 * math.pi / self.n_angles)
        #: node values -> coefficients (1, cos, sin, ...): v = c @ B(nodes)^T, so c = v @ B(nodes)^-T
        self.to_coeffs = torch.linalg.inv(trig_basis(self.nodes, self.band_limit)).T.contiguous()
        #: node values -> grid values, ``[2L+1, n_angles]`` (a Dirichlet kernel)
        self.interp = (self.to_coeffs @ trig_basis(self.grid, self.band_limit).T).contiguous()
        self._cast: dict[tuple, tuple[Tensor, Tensor]] = {}

    @property
    def n_nodes(self) -> int:
        return 2 * self.band_limit + 1

    def _mats(self, like: Tensor) -> tuple[Tensor, Tensor]:
        key = (like.dtype, like.device)
        if key not in self._cast:
            self._cast[key] = (self.interp.to(like), self.to_coeffs.to(like))
        return self._cast[key]

    def grid_values(self, node_values: Tensor) -> Tensor:
        """``[..., 2L+1]`` node values -> ``[..., n_angles]`` values on the grid (exact interpolation)."""
        return node_values @ self._mats(node_values)[0]

    def maximum(self, node_values: Tensor, refine: bool = True, newton_steps: int = 4) -> Tensor:
        """Max over the circle of the polynomials given by ``[..., 2L+1]`` node values -> ``[...]``.

        Cost: ``O(rows * (n_angles + L^2 * newton_steps))`` (rows = the product of the leading
        axes), linear in the number of rows.  The refined maximum runs :data:`ROWS_PER_CHUNK`
        rows at a time so that its few ``[rows, n_angles]`` intermediates stay in the CPU cache
        instead of growing with the batch and K (unchunked, 4,096 latents x K = 2,048
        functionals wrote several 2 GB grids and cost twice as much per functional as K = 112).
        Shapes depend only on the input's shape (no ``.item()``, no data-dependent indexing),
        so it runs under ``torch.compile(fullgraph=True)`` and on the ``meta`` device.
        """
        if not refine or self.band_limit == 0:
            return self.grid_values(node_values).amax(dim=-1)
        rows = node_values.reshape(-1, self.n_nodes)
        chunks = [self._refined_maximum(rows[s:s + ROWS_PER_CHUNK], newton_steps)
                  for s in range(0, rows.shape[0], ROWS_PER_CHUNK)]
        out = chunks[0] if len(chunks) == 1 else torch.cat(chunks) if chunks else rows.new_empty(0)
        return out.view(node_values.shape[:-1])

    def _refined_maximum(self, node_values: Tensor, newton_steps: int) -> Tensor:
        """``[rows, 2L+1] -> [rows]``: grid maximum, then Newton from the L highest grid peaks of every row.

        A degree-L polynomial has at most L local maxima, so its L highest grid peaks (grid
        values at least their two neighbours) include one next to the true maximum: Newton runs
        from each of them in every row (a fixed ``[L, rows]`` shape, whatever the data: no
        rows picked by value) and the highest local maximum reached is kept, never below the
        grid maximum.  A row with fewer peaks starts its spare runs at other grid angles;
        their values are values of the polynomial, so they never raise the maximum above the true one.

        Gradient: the angles are found on detached coefficients and the polynomial is then
        evaluated at the best one with its gradient, so the gradient is the envelope
        gradient ``d max / d coeffs = basis(theta*)`` (Danskin) and no Newton division ever
        enters the backward pass (float32 Newton steps made inf/NaN gradients before, issue 26).
        """
        grid = self.grid_values(node_values)  # [rows, n_angles]
        # operands frequency-major and row-contiguous ([L or starts, rows]): every op of the Newton
        # steps is one long vector op (a trailing axis of L = 3 made each op ~10x slower per number)
        coeffs = (node_values @ self._mats(node_values)[1]).T  # [2L+1, rows]
        with torch.no_grad():
            flat = grid.detach()
            peak = (flat >= flat.roll(1, dims=-1)) & (flat >= flat.roll(-1, dims=-1))
            starts = flat.masked_fill(~peak, float("-inf")).topk(min(self.band_limit, self.n_angles), dim=-1).indices
            fixed = coeffs.detach()
            theta = self._newton(self.grid.to(flat)[starts.T], fixed, newton_steps)  # [L, rows]
            best = self._value(theta, fixed).argmax(dim=0, keepdim=True)  # [1, rows]
            theta = theta.gather(0, best)
        return torch.maximum(grid.amax(dim=-1), self._value(theta, coeffs)[0])

    def _newton(self, theta: Tensor, coeffs: Tensor, newton_steps: int) -> Tensor:
        """``[starts, rows]`` angles -> ``[starts, rows]`` angles of the local maxima Newton reaches from them.

        A step is taken only where the polynomial is concave (``p'' < 0``) and is at most half a
        grid spacing, so a start never leaves its grid cell's hill.  The divisor is made safe
        before dividing (``-1`` where the step is not taken): ``-d1 / d2`` is never inf or NaN,
        even in float32 where a clamp to ``-1e-300`` rounds to ``-0.0``.
        """
        a, b = coeffs[1::2], coeffs[2::2]
        half = math.pi / self.n_angles
        for _ in range(newton_steps):
            d1, d2 = torch.zeros_like(theta), torch.zeros_like(theta)
            for j, cos, sin in self._harmonics(theta):
                d1 += j * (b[j - 1] * cos - a[j - 1] * sin)
                d2 -= (j * j) * (a[j - 1] * cos + b[j - 1] * sin)
            concave = d2 < 0
            step = torch.where(concave, -d1 / torch.where(concave, d2, -torch.ones_like(d2)), torch.zeros_like(d1))
            theta = theta + step.clamp(-half, half)
        return theta

    def _value(self, theta: Tensor, coeffs: Tensor) -> Tensor:
        """``[starts, rows]`` angles -> ``[starts, rows]`` values of the polynomials at them."""
        a, b = coeffs[1::2], coeffs[2::2]
        value = coeffs[0].expand_as(theta)
        for j, cos, sin in self._harmonics(theta):
            value = value + a[j - 1] * cos + b[j - 1] * sin
        return value

    def _harmonics(self, theta: Tensor):
        """``(j, cos(j theta), sin(j theta))`` for j = 1..L: one cos / sin, then the angle-addition recurrence."""
        c1, s1 = torch.cos(theta), torch.sin(theta)
        cos, sin = c1, s1
        for j in range(1, self.band_limit + 1):
            yield j, cos, sin
            if j < self.band_limit:
                cos, sin = cos * c1 - sin * s1, sin * c1 + cos * s1
