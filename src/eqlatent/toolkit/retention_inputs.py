"""What ``eqlatent.retention`` is given -> what it measures: latents as tensors, projections as callables.

Latents come as node rows with a batch vector, a PyG Batch, dense node latents with a mask, a
field type's tensors (or a GeometricTensor), an e3nn model's flat ``[n, irreps.dim]`` latents, numpy arrays; projections as names (resolved in
:mod:`eqlatent.projections.registry`, built for the group: :func:`eqlatent.invariant_projection` /
the node projection of that name) or any callable.  S_n latents of different sizes are zero-padded
to the largest graph, and a callable that takes the padding mask gets it.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from eqlatent.errors import ConfigError, LatentShapeError
from eqlatent.groups.inputs import check_finite
from eqlatent.groups.o3 import irreps_action, is_irreps
from eqlatent.groups.specs import field_type_for, is_field_type, is_field_type_spec, is_permutation_group, \
    parse_field_type
from eqlatent.projections.base import InvariantProjection
from eqlatent.projections.node_inputs import dense_nodes
from eqlatent.projections.node_projection import zero_padding
from eqlatent.projections.registry import projection_class
from eqlatent.toolkit.invariant import invariant_projection

Projector = Callable[[Tensor], Tensor]


def resolve_group(group_or_field_type: Any) -> Any:
    """What ``retention`` measures against: a field-type spec read into its escnn FieldType; S_n, a group name,
    a FieldType or e3nn irreps (an ``Irreps``, an ``"O3: ..."`` / ``"SO3: ..."`` spec) as they are."""
    if is_field_type_spec(group_or_field_type) and not is_irreps(group_or_field_type):
        return parse_field_type(group_or_field_type)
    return group_or_field_type


def layout_name(spec: Any) -> str:
    """The registry's layout for projections of latents under ``spec``: ``"nodes"``, ``"e3nn"`` or ``"field_type"``."""
    if is_permutation_group(spec):
        return "nodes"
    return "e3nn" if is_irreps(spec) else "field_type"


def node_latents(latents: Any, batch: Any, mask: Any) -> tuple[Tensor, Tensor | None]:
    """Dense ``[graphs, nodes, d]`` node latents with zero padding, and the padding mask (None: every slot a node)."""
    if isinstance(latents, np.ndarray):
        latents = torch.from_numpy(latents)
    if mask is not None and (batch is not None or hasattr(latents, "batch")):
        raise ConfigError("mask is for a dense latent [graphs, nodes, d]; a batch vector already says which nodes are real",
                          "pass either (x, batch=...) / a PyG Batch, or (dense, mask=...)")
    z, found = dense_nodes(latents, batch)
    if mask is not None:
        found = torch.as_tensor(mask, device=z.device).bool()
        if found.shape != z.shape[:2]:
            raise LatentShapeError(f"mask has shape {tuple(found.shape)} but the latent is {tuple(z.shape)}",
                                   "pass the [graphs, nodes] mask of to_dense_batch with its dense latent")
    return zero_padding(z, found), found  # the reference compares graphs zero-padded to the largest one


def field_latents(latents: Any) -> Tensor:
    z = getattr(latents, "tensor", latents)
    if isinstance(z, np.ndarray):
        z = torch.from_numpy(z)
    if not isinstance(z, Tensor):
        raise LatentShapeError(f"latents must be a tensor [n, ...], got {type(latents).__name__}",
                               "pass the encoder's output as a torch.Tensor, numpy array or GeometricTensor")
    return check_finite(z) if z.is_floating_point() else z


def _mask_keyword(projection: Any) -> str | None:
    """How a callable takes the S_n padding mask: ``"mask"`` (``f(z, mask=m)``, e.g. :class:`eqlatent.NodeProjection`,
    as a module built with its own ``max_num_nodes``), ``"meta"`` (``f(z, meta={"mask": m})``, the
    :class:`~eqlatent.projections.base.InvariantProjection` convention), or None (``f(z)``: only the
    zero-padded latent)."""
    target = projection.forward if isinstance(projection, torch.nn.Module) else projection
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):  # a builtin or C callable: no signature to read
        return None
    return next((name for name in ("mask", "meta") if name in params), None)


def _with_mask(projection: Any, mask: Tensor | None) -> Projector:
    """``projection`` called with the padding mask where it takes one (see :func:`_mask_keyword`)."""
    keyword = None if mask is None else _mask_keyword(projection)
    if keyword == "meta":
        return lambda x: projection(x, meta={"mask": mask})
    if keyword == "mask":
        return lambda x: projection(x, mask=mask)
    return projection


def projector(projection: Any, spec: Any, z: Tensor, mask: Tensor | None, seed: int,
               n_functionals: int | None) -> tuple[Projector, str]:
    """A callable ``latents -> [n, F]`` and its name, for a projection name or a callable."""
    if not isinstance(projection, str):
        name = projection.name if isinstance(projection, InvariantProjection) else (
            getattr(projection, "__name__", None) or getattr(projection, "name", None) or type(projection).__name__)
        return (_with_mask(projection, mask) if is_permutation_group(spec) else projection), name
    if is_permutation_group(spec):
        proj = projection_class(projection, "nodes")()   # the name was checked by retention() before any work
        if mask is None:
            return proj, projection
        return (lambda x: proj(x, meta={"mask": mask})), projection
    if is_irreps(spec):  # flat [n, irreps.dim]: the projection checks the width in one line
        return invariant_projection(spec, projection, n_functionals=n_functionals, seed=seed), projection
    proj = invariant_projection(field_type_for(spec, tuple(z.shape)), projection, n_functionals=n_functionals,
                                seed=seed)
    if is_field_type(spec):
        return proj, projection
    return (lambda x: proj(x.flatten(1))), projection  # a name or spec: the flat / studies' [n, fields, N] layouts


def group_name(spec: Any) -> str:
    if is_permutation_group(spec):
        return "S_n"
    if is_field_type(spec):
        return f"{spec.fibergroup.name} field type ({spec.size} channels)"
    if is_irreps(spec):
        return irreps_action(spec).spec
    return str(spec) if isinstance(spec, str) else getattr(spec, "name", type(spec).__name__)
