"""Invariant projections of your own escnn encoder's latent (runs in seconds on a CPU).

A small C_8 steerable CNN (untrained, random weights; synthetic random images) maps a
15x15 image to a 1x1 latent of mixed field types: regular fields, frequency-1 irreps and
trivial fields.  Rotating the image by 90 degrees (exact on the pixel grid) moves the
latent by the group; every invariant projection must not move.
"""

import torch

import eqlatent
from eqlatent.groups.field_types import import_escnn

escnn = import_escnn()  # escnn with the scikit-learn >= 1.9 fix applied
from escnn import gspaces, nn  # noqa: E402

torch.manual_seed(0)
r2 = gspaces.rot2dOnR2(8)
in_type = nn.FieldType(r2, [r2.trivial_repr])
hidden = nn.FieldType(r2, 4 * [r2.regular_repr])
out_type = nn.FieldType(r2, 4 * [r2.regular_repr] + 2 * [r2.irrep(1)] + 2 * [r2.trivial_repr])
encoder = nn.SequentialModule(nn.R2Conv(in_type, hidden, 7), nn.ReLU(hidden), nn.R2Conv(hidden, out_type, 9)).eval()

images = nn.GeometricTensor(torch.randn(64, 1, 15, 15), in_type)  # synthetic images
quarter_turn = r2.fibergroup.element(2)                          # 2 * 2pi/8 = 90 degrees
with torch.no_grad():
    z, z_rot = encoder(images), encoder(images.transform(quarter_turn))  # [64, 38, 1, 1]
    print(f"latent {tuple(z.tensor.shape)}; the raw latent moves by {float((z_rot.tensor - z.tensor).abs().max()):.3f}")
    for method in ("random_invariant", "norm", "canonicalize"):
        proj = eqlatent.invariant_projection(out_type, method, n_functionals=32)
        head = torch.nn.Linear(proj.out_features, 10)  # out_features: the width, known before any call
        err = float((proj(z_rot) - proj(z)).abs().max())
        print(f"{method:<16} -> {tuple(proj(z).shape)}, invariance error under a 90 degree input rotation: {err:.1e}; "
              f"a linear head on it gives {tuple(head(proj(z)).shape)}")
    print(f"z vs z_rot quotient distance (field type read from the GeometricTensors): "
          f"{float(eqlatent.quotient_distance(z, z_rot).max()):.1e}")
    print(eqlatent.retention(z, "random_invariant", out_type, n_pairs=500, n_knn=64).to_markdown())
