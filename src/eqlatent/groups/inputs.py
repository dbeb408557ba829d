"""Turn what a researcher's model returns into the flat ``[B, D]`` latent the projections use.

Accepted: an escnn ``GeometricTensor`` of the expected field type, ``[B, C]`` or with a 1x1
spatial map ``[B, C, 1, 1]``, or a plain tensor with ``field_type.size`` channels in the
same two shapes.  Everything else is a one-line error that names the fix, raised here so
every entry point (projections, distances, retention) refuses bad input the same way.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from eqlatent.errors import LatentShapeError


def check_finite(z: Tensor, what: str = "latent") -> Tensor:
    """``z`` unchanged, or a one-line error if it holds NaN / inf."""
    if z.is_floating_point() and not bool(torch.isfinite(z).all()):
        bad = int((~torch.isfinite(z)).sum())
        raise LatentShapeError(f"the {what} holds {bad} NaN/inf value(s)",
                               "drop or fix those samples (e.g. z[torch.isfinite(z).flatten(1).all(1)]) first")
    return z


def flat_latent(x: Any, field_type: Any = None, size: int | None = None, what: str = "latent") -> Tensor:
    """``[B, D]`` float tensor from a GeometricTensor / tensor ``[B, D]`` or ``[B, D, 1, 1]``.

    ``field_type`` (escnn) or ``size`` (the channel count D) says what to expect.
    """
    tensor = getattr(x, "tensor", None)
    if tensor is not None and hasattr(x, "type"):  # escnn GeometricTensor
        if field_type is not None and x.type != field_type:
            raise LatentShapeError(
                f"the GeometricTensor has field type {x.type} but this was built for {field_type}",
                "build it from the tensor's own type: eqlatent.invariant_projection(x.type, ...)")
        x = tensor
    if not isinstance(x, Tensor):
        raise LatentShapeError(f"expected a torch.Tensor or escnn GeometricTensor, got {type(x).__name__}",
                               "pass the encoder's output (torch.as_tensor(z) for arrays)")
    expected = field_type.size if field_type is not None else size
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
    return check_finite(x, what)
