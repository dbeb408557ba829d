"""eqlatent: invariant, information-keeping latents for equivariant networks.

Public API (``import eqlatent``; docs/toolkit.md has the long form):

  invariant_projection(field_type, projection="random_invariant", n_functionals=None, seed=0)
      An invariant ``torch.nn.Module`` (a :class:`FieldProjection`) for latents of an escnn
      FieldType: C_N, D_N, SO(2), O(2), any mix of fields; or of an e3nn model, from its ``Irreps``
      or a spec ``"O3: 8x0e + 4x1o"`` (SO(3), O(3)).  ``.out_features`` sizes the next layer.
  project_nodes(x, batch=None, projection="lex_sort", max_num_nodes=None, return_counts=False)
      One S_n-invariant row per graph from PyG node latents; :class:`NodeProjection` is the module.
  quotient_distance(z1, z2, group_or_field_type=None, pairwise=False)
      ``min_g ||z1 - g . z2||``, the reference every projection is judged by.
  retention(latents, projection, group_or_field_type, ...)
      How much of the quotient geometry each projection keeps, beside the raw latent
      (a :class:`RetentionReport` of :class:`RetentionResult` rows; :class:`SmallSampleWarning`
      when the sample is too small for what it reports).

Command line: ``eqlatent --help`` (reproduce, sweep, prepare, report, retention, bench,
paper-check, gpu-check).

Why: the latent of an equivariant model is only defined up to the group action (node order,
rotation), so a probe, PCA or interpolation on it treats one point as many.  This package
builds those latents on real data (the paper's studies), maps them through invariant
projections, and measures how much information each projection keeps.  Importing
``eqlatent`` stays light: escnn and torch_geometric load on first use.
"""

__version__ = "0.1.0"

from eqlatent.groups import escnn_setup as _escnn_setup  # noqa: E402

_escnn_setup.install()  # escnn's scikit-learn >= 1.9 fix and user cache folder, applied when escnn loads

from eqlatent.toolkit import (  # noqa: E402
    FieldProjection,
    NodeProjection,
    ProjectedNodes,
    RetentionReport,
    RetentionResult,
    SmallSampleWarning,
    invariant_projection,
    project_nodes,
    quotient_distance,
    retention,
)

__all__ = ["invariant_projection", "project_nodes", "quotient_distance", "retention", "FieldProjection",
           "NodeProjection", "ProjectedNodes", "RetentionReport", "RetentionResult", "SmallSampleWarning",
           "__version__"]
