"""An SO(2)-equivariant classifier (escnn) whose latent is a field of band-limited irreps.

Why this design: SO(2) has no finite regular representation, so hidden features are
Fourier coefficients up to a band limit ``L`` (irreps of frequency 0..L) with a
pointwise nonlinearity applied on ``N`` sampled rotations (``FourierPointwise``).  After
spatial pooling the latent is ``[B, channels, 1 + 2L]`` in escnn's irreps basis
``[a0, c1, s1, ..., cL, sL]``; rotating the input by ``theta`` rotates each ``(c_k, s_k)``
pair by ``k * theta`` (exactly for multiples of pi/2, up to interpolation otherwise).
"""

from __future__ import annotations

from torch import Tensor, nn

from eqlatent.models.image_classifier import ImageClassifier, scaled_widths


class SO2SteerableCNN(ImageClassifier):
    """escnn SO(2) CNN: R2Conv + IIDBatchNorm + FourierPointwise blocks.

    Parameters
    ----------
    max_frequency:
        Band limit ``L`` of the hidden and latent fields.
    channels:
        Number of band-limited fields per block (each of size ``1 + 2L``).
    grid_size:
        Number of rotations the Fourier nonlinearity samples.
    activation:
        Pointwise function applied on those samples (escnn's ``p_relu``, ``p_elu``, ...).
    """

    latent_layout = "irreps"

    def __init__(self, max_frequency: int = 3, channels: tuple[int, ...] = (8, 16, 16), kernel_sizes: tuple[int, ...] = (5, 5, 3),
                 grid_size: int = 12, hidden: int = 64, n_classes: int = 10, lr: float = 1e-3,
                 augment_rotations: bool = False, pool_after: tuple[int, ...] | None = None, train_on: str = "rotated",
                 width: float = 1.0, activation: str = "p_relu", label_smoothing: float = 0.0) -> None:
        super().__init__(lr=lr, augment_rotations=augment_rotations, train_on=train_on,
                         label_smoothing=label_smoothing)
        self.save_hyperparameters()
        channels = scaled_widths(channels, width)
        from escnn import gspaces
        from escnn import nn as enn

        self.max_frequency = max_frequency
        self.gspace = gspaces.rot2dOnR2(N=-1, maximum_frequency=2 * max_frequency + 2)
        irreps = self.gspace.fibergroup.bl_irreps(max_frequency)
        ftype = enn.FieldType(self.gspace, [self.gspace.trivial_repr])
        self.input_type = ftype
        pools = set(range(len(channels) - 1) if pool_after is None else pool_after)
        blocks: list[enn.EquivariantModule] = []
        for i, (c, k) in enumerate(zip(channels, kernel_sizes)):
            act = enn.FourierPointwise(self.gspace, c, irreps, function=activation, N=grid_size)
            # recompute=True: the model's own filter basis, not escnn's shared cached one (see CyclicSteerableCNN)
            conv = enn.R2Conv(ftype, act.in_type, kernel_size=k, padding=k // 2, recompute=True)
            blocks += [conv, enn.IIDBatchNorm2d(act.in_type), act]
            if i in pools:
                blocks.append(enn.PointwiseAvgPoolAntialiased(act.out_type, sigma=0.66, stride=2))
            ftype = act.out_type
        self.features = enn.SequentialModule(*blocks)
        self.latent_type = ftype
        self.field_size = 1 + 2 * max_frequency
        # invariant head input: the frequency-0 coefficient and the norm of every other frequency
        self.head = nn.Sequential(nn.Linear(channels[-1] * (max_frequency + 1), hidden), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, n_classes))

    def encode(self, x: Tensor) -> Tensor:
        from escnn import nn as enn

        feat = self.features(enn.GeometricTensor(x, self.input_type)).tensor
        z = feat.mean(dim=(-2, -1))
        return z.view(z.shape[0], -1, self.field_size)

    def classify(self, z: Tensor) -> Tensor:
        a0 = z[..., :1]
        pairs = z[..., 1:].unflatten(-1, (self.max_frequency, 2)).pow(2).sum(-1).add(1e-8).sqrt()  # smooth at 0
        return self.head(torch_cat_flat(a0, pairs))


def torch_cat_flat(a: Tensor, b: Tensor) -> Tensor:
    """Concatenate two ``[B, C, *]`` tensors along the last axis and flatten per sample."""
    import torch

    return torch.cat([a, b], dim=-1).flatten(1)
