"""Invariant projections: one concept per module, all following :class:`InvariantProjection`."""

from eqlatent.projections.base import InvariantProjection, Meta

__all__ = ["InvariantProjection", "Meta"]
