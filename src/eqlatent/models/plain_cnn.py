"""A plain (not equivariant) CNN, the baseline for claim 3.

Trained with random-rotation augmentation it becomes *approximately* rotation robust
but its latent is not a group representation: the rotation acts on the input only, so
the ambiguity the paper describes reappears as "the same digit, many latents".  Trained
without augmentation it is the control.
"""

from __future__ import annotations

from torch import Tensor, nn

from eqlatent.models.image_classifier import ImageClassifier, scaled_widths


class PlainCNN(ImageClassifier):
    """Conv-BN-ReLU blocks, global average pooling, an MLP head.

    The latent is the ``[B, channels[-1]]`` vector after spatial pooling, the same place
    the steerable encoders take theirs.
    """

    latent_layout = "vector"

    def __init__(self, channels: tuple[int, ...] = (32, 64, 64), kernel_sizes: tuple[int, ...] = (5, 5, 3),
                 hidden: int = 64, n_classes: int = 10, lr: float = 1e-3, augment_rotations: bool = False,
                 pool_after: tuple[int, ...] | None = None, train_on: str = "rotated",
                 width: float = 1.0, label_smoothing: float = 0.0) -> None:
        super().__init__(lr=lr, augment_rotations=augment_rotations, train_on=train_on,
                         label_smoothing=label_smoothing)
        self.save_hyperparameters()
        channels = scaled_widths(channels, width)
        pools = set(range(len(channels) - 1) if pool_after is None else pool_after)
        layers: list[nn.Module] = []
        c_in = 1
        for i, (c, k) in enumerate(zip(channels, kernel_sizes)):
            layers += [nn.Conv2d(c_in, c, k, padding=k // 2), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            if i in pools:
                layers.append(nn.AvgPool2d(3, stride=2, padding=1))
            c_in = c
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(c_in, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, n_classes))

    def encode(self, x: Tensor) -> Tensor:
        return self.features(x).mean(dim=(-2, -1))

    def classify(self, z: Tensor) -> Tensor:
        return self.head(z)
