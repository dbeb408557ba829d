"""The l = 0 slice of an e3nn latent: what MACE's ``get_descriptors(invariants_only=True)`` returns.

Why it is a projection of its own: it is what most users of e3nn models take as "the invariant
embedding" today (MACE's invariant descriptors, the ``0e`` output of an e3nn network), so
``retention`` must be able to measure it beside ``norm``, ``gram`` and ``random_invariant``.  It is
linear (a slice: exact, with the trivial gradient) and keeps nothing of the ``l >= 1`` copies:
every relative orientation, and every magnitude, of the vectors and tensors is lost.

Which scalars are invariant depends on the group:

* SO(3) (``"SO3: ..."``): every ``l = 0`` copy, ``0e`` and ``0o`` (rotations do not see parity);
* O(3) (an e3nn ``Irreps``, ``"O3: ..."``): only ``0e``.  A ``0o`` pseudoscalar changes sign under the
  inversion, so it is **left out**, not squared or made absolute: the slice stays linear and signed,
  exactly the numbers MACE returns (MACE's invariant part is ``0e``), and ``|0o|`` is already in
  ``norm``, its sign relative to the other pseudoscalars in ``gram``.

Irreps with no invariant scalar (``"O3: 4x1o + 0o"``) are a one-line error at construction.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from eqlatent.errors import ConfigError
from eqlatent.projections.base import Meta
from eqlatent.projections.e3nn_blocks import is_invariant_scalar
from eqlatent.projections.field_projection import FieldProjection


class Scalars(FieldProjection):
    """``[B, irreps.dim] -> [B, invariant scalars]``: the ``0e`` copies (SO(3): every ``l = 0`` copy), in channel order.

    Group: SO(3) or O(3) on e3nn irreps.  Lossy (drops every ``l >= 1`` copy; under O(3) the ``0o`` ones).
    """

    name = "scalars"
    group = "SO(3) or O(3) on e3nn irreps"
    lossless = False
    layouts = ("e3nn",)

    def __init__(self, layout: Any = None, *, check_finite: bool = False, n_angles: int | None = None) -> None:
        super().__init__(layout, check_finite=check_finite, n_angles=n_angles)
        action = self.action
        self._slices = [(b.start, b.stop) for b in action.blocks if is_invariant_scalar(action.group, b.l, b.p)]
        if not self._slices:
            odd = " (its 0o copies change sign under the inversion)" if action.group == "O3" else ""
            raise ConfigError(f"the e3nn irreps {action.spec} have no invariant scalars{odd}",
                              "use projection='norm', 'gram' or 'random_invariant', which read the l >= 1 copies too")

    @classmethod
    def example_irreps(cls) -> tuple[str, ...]:
        """The family's specs, and O(3) irreps whose only scalars are split around a pseudoscalar."""
        return (*super().example_irreps(), "O3: 0e + 0o + 2x1o + 3x0e")

    def width(self, action: Any) -> int:
        return sum(stop - start for start, stop in self._slices)

    def project(self, z: Tensor, meta: Meta) -> Tensor:
        return torch.cat([z[:, start:stop] for start, stop in self._slices], dim=1)
