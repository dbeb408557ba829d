"""A C_N group-convolutional classifier (escnn) whose latent is a regular field over C_N.

Why this design: every hidden layer carries regular-representation fields, so rotating
the input by ``2pi k/N`` (exact on the pixel grid for k*2pi/N a multiple of pi/2)
cyclically shifts the group axis of every field.  Pooling over *space* only (global mean
over the whole 29x29 -> 8x8 map) leaves a latent ``[B, fields, N]`` that is an
equivariant field over the group alone: the object whose ambiguity the paper studies.
The classifier head sees only its group-pooled (invariant) version.
"""

from __future__ import annotations

from torch import Tensor, nn

from eqlatent.models.image_classifier import ImageClassifier, scaled_widths


class CyclicSteerableCNN(ImageClassifier):
    """escnn C_N CNN: R2Conv + InnerBatchNorm + ReLU blocks with antialiased pooling.

    Parameters
    ----------
    order:
        N of the rotation group C_N (8 and 16 in the study).
    fields:
        Number of regular fields per block (each field has N channels).
    kernel_sizes:
        Filter size per block (odd, padding keeps the odd spatial size: 29 -> 15 -> 8).

    Notes
    -----
    Inputs must be 29x29 (odd): stride-2 pooling of an even grid is not rotation
    equivariant.  The latent layout is ``"regular"``: ``[B, fields[-1], N]``.
    """

    latent_layout = "regular"

    def __init__(self, order: int = 8, fields: tuple[int, ...] = (6, 12, 16), kernel_sizes: tuple[int, ...] = (5, 5, 3),
                 hidden: int = 64, n_classes: int = 10, lr: float = 1e-3, augment_rotations: bool = False,
                 pool_after: tuple[int, ...] | None = None, train_on: str = "rotated",
                 width: float = 1.0, label_smoothing: float = 0.0) -> None:
        super().__init__(lr=lr, augment_rotations=augment_rotations, train_on=train_on,
                         label_smoothing=label_smoothing)
        self.save_hyperparameters()
        fields = scaled_widths(fields, width)
        from escnn import gspaces
        from escnn import nn as enn

        self.order = order
        self.gspace = gspaces.rot2dOnR2(N=order)
        ftype = enn.FieldType(self.gspace, [self.gspace.trivial_repr])
        self.input_type = ftype
        pools = set(range(len(fields) - 1) if pool_after is None else pool_after)
        blocks: list[enn.EquivariantModule] = []
        for i, (f, k) in enumerate(zip(fields, kernel_sizes)):
            out = enn.FieldType(self.gspace, [self.gspace.regular_repr] * f)
            # recompute=True: a sampled filter basis of its own.  Otherwise escnn hands every alike R2Conv
            # the one module of its process-wide cache, and casting or moving one model casts or moves all.
            conv = enn.R2Conv(ftype, out, kernel_size=k, padding=k // 2, recompute=True)
            blocks += [conv, enn.InnerBatchNorm(out), enn.ReLU(out, inplace=True)]
            if i in pools:
                blocks.append(enn.PointwiseAvgPoolAntialiased(out, sigma=0.66, stride=2))
            ftype = out
        self.features = enn.SequentialModule(*blocks)
        self.latent_type = ftype
        self.head = nn.Sequential(nn.Linear(fields[-1], hidden), nn.ReLU(inplace=True), nn.Linear(hidden, n_classes))

    def encode(self, x: Tensor) -> Tensor:
        from escnn import nn as enn

        feat = self.features(enn.GeometricTensor(x, self.input_type)).tensor  # [B, fields*N, h, w]
        z = feat.mean(dim=(-2, -1))
        return z.view(z.shape[0], -1, self.order)

    def classify(self, z: Tensor) -> Tensor:
        return self.head(z.max(dim=-1).values)  # group max-pooling: invariant input to the head
