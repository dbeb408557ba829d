"""Rotate images about their centre pixel, batched, with one angle per image.

Images have odd side length so the centre is a pixel: rotations by multiples of pi/2
then map the grid onto itself exactly (``rotate_images(x, pi/2) == torch.rot90(x)``),
which is what lets the tests check escnn's equivariance without interpolation error.
Positive angles rotate counter-clockwise as the image is displayed (row 0 on top).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def rotate_images(images: Tensor, angles: Tensor | float, mode: str = "bilinear") -> Tensor:
    """Rotate ``images`` ``[n, C, H, W]`` by ``angles`` (radians, scalar or ``[n]``); zeros outside."""
    if images.ndim != 4:
        raise ValueError(f"rotate_images needs [n, C, H, W], got shape {tuple(images.shape)}")
    n = images.shape[0]
    angles = torch.as_tensor(angles, dtype=torch.float64, device=images.device).reshape(-1)
    if angles.numel() not in (1, n):
        raise ValueError(f"rotate_images got {angles.numel()} angles for {n} images")
    angles = angles.expand(n)
    cos, sin = torch.cos(angles), torch.sin(angles)
    # affine_grid maps output coords (x right, y down) to input coords; sampling the input at
    # R(-theta) of the output point rotates the picture counter-clockwise by theta on screen.
    theta = torch.zeros(n, 2, 3, dtype=torch.float64, device=images.device)
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin
    theta[:, 1, 0], theta[:, 1, 1] = sin, cos
    # float64 sampling grid: in float32 the grid points drift ~1e-6 off the pixel centres
    grid = F.affine_grid(theta, [n, images.shape[1], images.shape[2], images.shape[3]], align_corners=True)
    out = F.grid_sample(images.double(), grid, mode=mode, padding_mode="zeros", align_corners=True).to(images.dtype)
    # Quarter turns permute the pixel grid; bilinear sampling still leaves ~1e-15 residues, so
    # angles within float32 rounding of k*pi/2 are done exactly with rot90.
    quarters = torch.round(angles / (math.pi / 2))
    exact = (angles - quarters * (math.pi / 2)).abs() < 1e-6
    for k in range(4):
        rows = (exact & (quarters.long() % 4 == k)).nonzero().flatten()
        if len(rows):
            out[rows] = torch.rot90(images[rows], k, dims=(-2, -1))
    return out


def sample_angles(n: int, mode: str | int, seed: int) -> Tensor:
    """``n`` seeded angles: uniform in [0, 2pi) for ``"continuous"``, or multiples of 2pi/N for an int N."""
    gen = torch.Generator().manual_seed(seed)
    if mode == "continuous":
        return torch.rand(n, generator=gen, dtype=torch.float64).mul(2 * math.pi).float()
    order = int(mode)
    if order < 1:
        raise ValueError(f"angle mode must be 'continuous' or a positive integer N, got {mode!r}")
    return (torch.randint(order, (n,), generator=gen).double() * (2 * math.pi / order)).float()
