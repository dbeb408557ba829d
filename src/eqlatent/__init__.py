"""eqlatent: make the latent space of an equivariant network usable.

The latent of an equivariant model is only defined up to the group action (node order,
rotation).  This package builds those latents on real data, maps them through invariant
projections, and measures how much information each projection keeps.

Public API (for your own escnn / PyG model; see README "Use it on your own model"):
:func:`invariant_projection`, :func:`project_nodes` / :class:`NodeProjection`,
:func:`quotient_distance`, :func:`retention` (CLI: ``python -m eqlatent.retention_cli``).
Importing ``eqlatent`` stays light: escnn and torch_geometric load on first use.
"""

__version__ = "0.1.0"

from eqlatent.toolkit import (  # noqa: E402
    FieldProjection,
    NodeProjection,
    RetentionResult,
    invariant_projection,
    project_nodes,
    quotient_distance,
    retention,
)

__all__ = ["FieldProjection", "NodeProjection", "RetentionResult", "__version__", "invariant_projection",
           "project_nodes", "quotient_distance", "retention"]
