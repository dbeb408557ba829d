"""Invariant projections: one family behind one base, one module per projection, one registry of names.

* :mod:`~eqlatent.projections.base`: :class:`InvariantProjection`, the contract (a ``torch.nn.Module``
  whose invariance every subclass proves on its own examples);
* :mod:`~eqlatent.projections.layouts`: what a projection is built from (node latents, an escnn
  FieldType, the studies' image layouts) -- the hook a new group family slots into;
* :mod:`~eqlatent.projections.field_projection` / :mod:`~eqlatent.projections.node_projection`: the two
  family bases (:class:`FieldProjection`, :class:`NodeProjection`), which take latents as models return them;
* one module per projection, named as the projection (``norm.py`` holds ``Norm``, named ``"norm"``);
* :mod:`~eqlatent.projections.registry`: the one place a name becomes a class.
"""

from eqlatent.projections.base import InvariantProjection, Meta
from eqlatent.projections.field_projection import FieldProjection
from eqlatent.projections.node_projection import NodeProjection, ProjectedNodes

__all__ = ["FieldProjection", "InvariantProjection", "Meta", "NodeProjection", "ProjectedNodes"]
