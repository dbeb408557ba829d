"""Invariant projections of your own e3nn model's latent, and what each keeps (runs in seconds on a CPU).

SYNTHETIC inputs: random point clouds (8 Gaussian points each), not molecules.  A small O(3)-equivariant
e3nn model (untrained, random weights: a fully connected tensor product of the spherical harmonics of
neighbouring points, pooled over the cloud) maps a cloud to a flat latent of irreps ``8x0e + 4x1o + 2x2e``.
Rotating and inverting the cloud moves the latent by the group; every invariant projection must not move.
The retention table says how much of the O(3) quotient geometry each projection keeps.  15 lines of code
after the imports: the model is 5; an invariant latent (``invariant_projection``) and the retention report
(``retention``) are one line each, the rest is printing.  "invariance error" is ``max |pi(g.z) - pi(z)|``
for g a rotation times the inversion (float32 latents: ~1e-7 is rounding).
"""

import torch
from e3nn import o3

import eqlatent

torch.manual_seed(0)
irreps_sh, irreps_out = o3.Irreps.spherical_harmonics(2), o3.Irreps("8x0e + 4x1o + 2x2e")
model = o3.FullyConnectedTensorProduct(irreps_sh, irreps_sh, irreps_out)  # your own e3nn model


def encode(points):  # [clouds, 8, 3] -> [clouds, irreps_out.dim]: each point with its neighbour, pooled
    sh = o3.spherical_harmonics(irreps_sh, points, normalize=True, normalization="component")
    return model(sh, sh.roll(1, dims=1)).mean(dim=1)


clouds, g = torch.randn(64, 8, 3), -o3.rand_matrix()  # SYNTHETIC point clouds; a rotation times the inversion
names, k = ["random_invariant", "gram", "canonicalize", "norm", "scalars"], 2 * irreps_out.dim
with torch.no_grad():
    z, z_moved = encode(clouds), encode(clouds @ g.T)  # [64, 30]; z_moved = D(g) z
    print(f"latent {tuple(z.shape)} ({irreps_out}); the raw latent moves by {float((z_moved - z).abs().max()):.3f}")
    for name in names:
        proj = eqlatent.invariant_projection(irreps_out, name, n_functionals=k)  # a torch.nn.Module
        print(f"{name:<16} {tuple(proj(z).shape)} invariance error: {float((proj(z_moved) - proj(z)).abs().max()):.1e}")
    print(eqlatent.retention(z, names, irreps_out, n_pairs=500, n_knn=64, n_functionals=k).to_markdown())
