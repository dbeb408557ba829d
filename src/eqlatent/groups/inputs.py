"""Turn what a researcher's model returns into the flat ``[B, D]`` latent the projections use.

Accepted: an escnn ``GeometricTensor`` of the expected field type, ``[B, C]`` or with a 1x1
spatial map ``[B, C, 1, 1]``, or a plain tensor with ``field_type.size`` channels in the
same two shapes.  Everything else is a one-line error that names the fix, raised here so
every entry point (projections, distances, retention) refuses bad input the same way.

Every check in :func:`flat_latent` reads shapes, dtypes and field types only -- never the
latent's values -- so it costs no host-device synchronisation and traces under
``torch.compile(fullgraph=True)``.  The one check that must read values, :func:`check_finite`
(NaN / inf), is a host sync (``bool(...)`` of a device tensor): the API functions
(``quotient_distance``, ``retention``, ``project_nodes``, the CLI) run it; the modules
(``FieldProjection``, ``NodeProjection``) run it only when built with ``check_finite=True``
and otherwise pass NaN through (NaN in, NaN out, as torch modules do).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from eqlatent.errors import LatentShapeError

#: dtypes the projections compute in float32 and return in (their float error is the dtype's rounding)
LOW_PRECISION = (torch.float16, torch.bfloat16)


def check_finite(z: Tensor, what: str = "latent") -> Tensor:
    """``z`` unchanged, or a one-line error if it holds NaN / inf (a host sync: API boundaries only)."""
    if z.is_floating_point() and not bool(torch.isfinite(z).all()):
        bad = int((~torch.isfinite(z)).sum())
        raise LatentShapeError(f"the {what} holds {bad} NaN/inf value(s)",
                               "drop or fix those samples (e.g. z[torch.isfinite(z).flatten(1).all(1)]) first")
    return z


def same_fields(a: Any, b: Any) -> bool:
    """Whether two escnn FieldTypes lay out the same fields of the same group (their base spaces may differ).

    A spec string's FieldType lives on ``no_base_space``; the encoder's on R^2: the latent's
    numbers mean the same thing when the group and the representations, in order, agree.
    """
    return a is b or (a.fibergroup == b.fibergroup and list(a.representations) == list(b.representations))


def check_geometric_type(x: Any, field_type: Any, fix: str) -> None:
    """A one-line error when ``x`` is a GeometricTensor of other fields than ``field_type`` (None: no check)."""
    own = getattr(x, "type", None) if hasattr(x, "tensor") else None
    if own is not None and field_type is not None and hasattr(own, "representations") \
            and not same_fields(own, field_type):
        raise LatentShapeError(f"the GeometricTensor has field type {own} but {field_type} was given", fix)


def _wrong_rank(x: Tensor, expected: int | None, what: str) -> LatentShapeError:
    """A 3-D latent ``[B, a, b]`` (b != 1): no escnn latent has this rank, so say what shape is meant."""
    per_sample = 1
    for s in x.shape[1:]:
        per_sample *= int(s)
    if expected is not None and per_sample == expected:
        fix = (f"if its last {x.ndim - 1} axes hold the field type's {expected} channels in order, flatten them: "
               "z.flatten(1)")
    else:
        want = f"{expected} channels" if expected is not None else "the field type's channels"
        fix = f"pass [batch, channels] with {want} (or [batch, channels, 1, 1], or a pooled GeometricTensor)"
    return LatentShapeError(f"the {what} has shape {tuple(x.shape)}, but a field-type latent is [batch, channels] "
                            "or [batch, channels, 1, 1]", fix)


def flat_latent(x: Any, field_type: Any = None, size: int | None = None, what: str = "latent",
                check_finite: bool = True) -> Tensor:
    """``[B, D]`` float tensor from a GeometricTensor / tensor ``[B, D]`` or ``[B, D, 1, 1]``.

    ``field_type`` (escnn) or ``size`` (the channel count D) says what to expect.  ``check_finite``
    also refuses NaN / inf (a host sync; the modules pass False: see the module docstring).
    """
    if getattr(x, "tensor", None) is not None and hasattr(x, "type"):  # escnn GeometricTensor
        if field_type is not None:
            check_geometric_type(x, field_type, "build it from the tensor's own type: "
                                 "eqlatent.invariant_projection(x.type, ...)")
        x = x.tensor
    if not isinstance(x, Tensor):
        raise LatentShapeError(f"expected a torch.Tensor or escnn GeometricTensor, got {type(x).__name__}",
                               "pass the encoder's output (torch.as_tensor(z) for arrays)")
    expected = field_type.size if field_type is not None else size
    if x.ndim == 3 and x.shape[2] != 1:
        raise _wrong_rank(x, expected, what)
    if x.ndim > 2 and any(s != 1 for s in x.shape[2:]):
        raise LatentShapeError(
            f"the {what} has a spatial map {tuple(x.shape[2:])} larger than 1x1",
            "pool it to 1x1 first (e.g. escnn.nn.PointwiseAdaptiveAvgPool2D(type, 1)) or move positions "
            "into the batch axis (x.tensor.permute(0, 2, 3, 1).reshape(-1, C))")
    if x.ndim < 2:
        raise LatentShapeError(f"the {what} has shape {tuple(x.shape)}, not [batch, channels]",
                               "add the batch axis with z.unsqueeze(0)")
    x = x.reshape(x.shape[0], x.shape[1])
    if expected is not None and x.shape[1] != expected:
        raise LatentShapeError(f"the {what} has {x.shape[1]} channels but the field type has {expected}",
                               "pass the latent of the field type the projection was built for")
    if not x.is_floating_point():
        raise LatentShapeError(f"the {what} is {x.dtype}, not floating point", "cast with z.float()")
    return _check_finite(x, what) if check_finite else x


_check_finite = check_finite  # the parameter of flat_latent shadows the function's name
