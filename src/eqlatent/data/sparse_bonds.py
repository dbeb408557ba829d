"""Bond types of many molecules kept as edge lists, made dense only for the rows in use.

Why: the graph VAE reads ``[B, n, n]`` bond tensors, and a dense ``[N, 38, 38]`` tensor of
the whole MOSES set (1.58 M molecules) is 2.3 GB as int8 and 18 GB as the ``long`` the
study indexes -- while the bonds themselves are ~25 per molecule.  :class:`SparseBonds`
stores them as one edge list with per-molecule offsets and stands in for
``MoleculeDataset.bond_type``: indexing it with rows gives a view of those rows (nothing
copied), and using it as a tensor -- an operator, a torch function, a tensor method,
iterating over it -- builds the dense ``long`` tensor of the rows it holds, then.  So the
study's code written for the dense tensor runs unchanged, and the DataLoader
(:func:`eqlatent.data.loaders.tensor_loader`) densifies one batch at a time.
"""

from __future__ import annotations

import operator
from typing import Any, Iterator

import torch
from torch import Tensor

from eqlatent.errors import ConfigError

#: rows densified at once when iterating over a view
_CHUNK = 4096
#: the most memory one densification may take: more is an error naming the fix, not a silent 18 GB tensor
MAX_DENSE_BYTES = 4 << 30


class SparseBonds:
    """``[N, n, n]`` bond types (0 = none, k = bond type k) held as an edge list; dense on use.

    Parameters
    ----------
    edges:
        ``[E, 3]`` integer tensor of ``(i, j, bond_index)`` per bond, molecule after molecule
        (``bond_index`` is 0-based: the dense value is ``bond_index + 1``, both ``[i, j]`` and ``[j, i]``).
    offsets:
        ``[M + 1]`` long: the bonds of molecule ``m`` are ``edges[offsets[m]:offsets[m + 1]]``.
    max_nodes:
        ``n``, the padded number of node slots.
    rows:
        which of the ``M`` molecules this view holds, in order (``None``: all of them).
    """

    dtype = torch.long
    device = torch.device("cpu")

    def __init__(self, edges: Tensor, offsets: Tensor, max_nodes: int, rows: Tensor | None = None) -> None:
        self._edges, self._offsets, self._n = edges, offsets.long(), int(max_nodes)
        self._rows = None if rows is None else torch.as_tensor(rows, dtype=torch.long)

    # -- shape, as a tensor of the same rows would have it ------------------------------------------------------
    def __len__(self) -> int:
        return len(self._offsets) - 1 if self._rows is None else len(self._rows)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self), self._n, self._n))

    def size(self, dim: int | None = None) -> torch.Size | int:
        return self.shape if dim is None else self.shape[dim]

    def dim(self) -> int:
        return 3

    ndim = property(dim)

    def numel(self) -> int:
        return len(self) * self._n * self._n

    @property
    def n_bonds(self) -> int:
        """Bonds stored for the rows of this view."""
        counts = self._offsets[1:] - self._offsets[:-1]
        return int(counts.sum() if self._rows is None else counts[self._rows].sum())

    def __repr__(self) -> str:
        return f"SparseBonds({len(self):,} molecules, {self._n} node slots, {self.n_bonds:,} bonds)"

    # -- rows -> a view, or dense --------------------------------------------------------------------------------
    def _all_rows(self) -> Tensor:
        return torch.arange(len(self._offsets) - 1) if self._rows is None else self._rows

    def __getitem__(self, index: Any) -> "SparseBonds | Tensor":
        """One molecule (an int) -> its dense ``[n, n]``; rows (slice, index or mask tensor, list) -> a view."""
        if isinstance(index, tuple):
            head, rest = (index[0], index[1:]) if index else (slice(None), ())
            picked = self[head]
            dense = picked.dense() if isinstance(picked, SparseBonds) else picked
            return dense[(slice(None),) * isinstance(picked, SparseBonds) + rest]
        i = _single_row(index)
        if i is not None:
            if not -len(self) <= i < len(self):
                raise IndexError(f"index {i} is out of range for {len(self)} molecules")
            return self._densify(self._all_rows()[i].reshape(1))[0]
        if isinstance(index, slice):
            return SparseBonds(self._edges, self._offsets, self._n, self._all_rows()[index])
        return SparseBonds(self._edges, self._offsets, self._n, self._all_rows()[torch.as_tensor(index)])

    def dense(self, rows: Any = None) -> Tensor:
        """The dense ``[len, n, n]`` long tensor of this view (or of its ``rows``): what a dense dataset holds."""
        base = self._all_rows() if rows is None else self._all_rows()[torch.as_tensor(rows, dtype=torch.long)]
        return self._densify(base)

    def _densify(self, base_rows: Tensor) -> Tensor:
        need = len(base_rows) * self._n * self._n * 8
        if need > MAX_DENSE_BYTES:
            raise ConfigError(f"making the bonds of {len(base_rows):,} molecules dense would take "
                              f"{need / 2**30:.1f} GB", "index the rows you need first (ds.bond_type[rows]), "
                              "or read them in batches (eqlatent.data.loaders.tensor_loader)")
        start = self._offsets[base_rows]
        count = self._offsets[base_rows + 1] - start
        out = torch.zeros(len(base_rows), self._n, self._n, dtype=torch.long)
        total = int(count.sum())
        if total:
            mol = torch.repeat_interleave(torch.arange(len(base_rows)), count)
            first = torch.cumsum(count, 0) - count                       # where each molecule's bonds start in `mol`
            e = self._edges[start[mol] + torch.arange(total) - first[mol]].long()
            out[mol, e[:, 0], e[:, 1]] = e[:, 2] + 1
            out[mol, e[:, 1], e[:, 0]] = e[:, 2] + 1
        return out

    def __iter__(self) -> Iterator[Tensor]:
        rows = self._all_rows()
        for s in range(0, len(rows), _CHUNK):
            yield from self._densify(rows[s:s + _CHUNK])

    # -- used as a tensor: the dense rows of this view ------------------------------------------------------------
    def long(self) -> "SparseBonds":
        return self      # already long when dense

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return func(*_densified(args), **_densified(kwargs or {}))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):      # no dense fallback for private and special names (pickling, copying)
            raise AttributeError(name)
        return getattr(self.dense(), name)

    def __array__(self, dtype=None, copy=None):
        return self.dense().numpy() if dtype is None else self.dense().numpy().astype(dtype)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self.dense() == _densified(other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self.dense() != _densified(other)

    def __lt__(self, other: Any) -> Tensor:
        return self.dense() < _densified(other)

    def __le__(self, other: Any) -> Tensor:
        return self.dense() <= _densified(other)

    def __gt__(self, other: Any) -> Tensor:
        return self.dense() > _densified(other)

    def __ge__(self, other: Any) -> Tensor:
        return self.dense() >= _densified(other)

    __hash__ = None  # type: ignore[assignment]


def _single_row(index: Any) -> int | None:
    """``index`` as one row number (a Python, numpy or 0-d tensor integer), else None (rows, a slice, a mask)."""
    if isinstance(index, Tensor):
        scalar = index.dim() == 0 and not index.is_floating_point() and index.dtype != torch.bool
        return int(index) if scalar else None
    if isinstance(index, (bool, list, tuple, slice)) or index is None:
        return None
    try:
        return operator.index(index)
    except TypeError:
        return None


def _densified(obj: Any) -> Any:
    """``obj`` with every :class:`SparseBonds` in it (also inside lists, tuples and dicts) made dense."""
    if isinstance(obj, SparseBonds):
        return obj.dense()
    if isinstance(obj, (list, tuple)):
        return type(obj)(_densified(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _densified(v) for k, v in obj.items()}
    return obj


def concat_sparse(parts: list[tuple[Tensor, Tensor]], max_nodes: int) -> SparseBonds:
    """One :class:`SparseBonds` over consecutive blocks of molecules, each ``(edges [E_k, 3], counts [M_k])``."""
    edges = torch.cat([e for e, _ in parts]) if parts else torch.zeros(0, 3, dtype=torch.uint8)
    counts = torch.cat([c.long() for _, c in parts]) if parts else torch.zeros(0, dtype=torch.long)
    offsets = torch.zeros(len(counts) + 1, dtype=torch.long)
    torch.cumsum(counts, 0, out=offsets[1:])
    return SparseBonds(edges, offsets, max_nodes)
