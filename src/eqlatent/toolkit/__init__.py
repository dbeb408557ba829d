"""The public toolkit: invariant projections and quotient metrics for your own escnn / e3nn / PyG model.

Everything here is re-exported at the package top (``eqlatent.invariant_projection`` ...)
and runs on the same implementation as the studies (the projection classes of
:mod:`eqlatent.projections`, resolved by name in :mod:`eqlatent.projections.registry`, over the
group actions and quotient distance of :mod:`eqlatent.groups`).
"""

from eqlatent.groups.quotient import quotient_distance
from eqlatent.projections.field_projection import FieldProjection
from eqlatent.toolkit.invariant import invariant_projection
from eqlatent.toolkit.nodes import NodeProjection, ProjectedNodes, project_nodes
from eqlatent.toolkit.retention_measure import RetentionReport, RetentionResult, SmallSampleWarning, retention

__all__ = ["FieldProjection", "NodeProjection", "ProjectedNodes", "RetentionReport", "RetentionResult",
           "SmallSampleWarning", "invariant_projection", "project_nodes", "quotient_distance", "retention"]
