"""Figures of the molecules study: latent embeddings and latent interpolations.

* :func:`embedding_figure` -- PCA and t-SNE of the naive latent (dataset node order and
  shuffled node order) next to an invariant cross-section, coloured by a property.  The
  naive latent's picture changes when only the node order changes; the projection's
  does not.
* :func:`interpolation_figure` -- decode the straight line between two molecules'
  latents, once in the equivariant latent as stored and once between their canonical
  (sorted) representatives, and draw the decoded molecules with rdkit.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.manifold import TSNE  # noqa: E402
from torch import Tensor  # noqa: E402

from eqlatent.data.graphs import graph_to_mol, quiet_rdkit  # noqa: E402
from eqlatent.io import atomic_savefig  # noqa: E402
from eqlatent.models.graph_vae import GraphVAE  # noqa: E402
from eqlatent.projections.node_latent import gather_nodes  # noqa: E402


def embedding_figure(panels: dict[str, Tensor], colour: Tensor, colour_label: str, path: Path, seed: int,
                     title: str) -> Path:
    """2 x len(panels) grid: PCA (top) and t-SNE (bottom) of each ``[m, features]`` representation."""
    fig, axes = plt.subplots(2, len(panels), figsize=(4.2 * len(panels), 8), squeeze=False)
    c = colour.numpy()
    for col, (name, feats) in enumerate(panels.items()):
        x = feats.double().numpy()
        x = (x - x.mean(0)) / (x.std(0) + 1e-12)
        pca = PCA(n_components=2, random_state=seed).fit(x)
        emb = {"PCA": pca.transform(x),
               "t-SNE": TSNE(n_components=2, perplexity=min(30.0, (len(x) - 1) / 3), init="pca",
                             random_state=seed).fit_transform(x)}
        for row, (method, e) in enumerate(emb.items()):
            ax = axes[row, col]
            sc = ax.scatter(e[:, 0], e[:, 1], c=c, s=6, cmap="viridis", alpha=0.8, linewidths=0)
            extra = f"\n(2 PCs explain {pca.explained_variance_ratio_.sum():.0%} of the variance)" if method == "PCA" else ""
            ax.set_title(f"{method}: {name}{extra}", fontsize=9)
            ax.set_xticks([]), ax.set_yticks([])
    fig.colorbar(sc, ax=axes.ravel().tolist(), shrink=0.6, label=colour_label)
    fig.suptitle(title, fontsize=11)
    atomic_savefig(fig, path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


@torch.no_grad()
def decode_path(model: GraphVAE, z_a: Tensor, z_b: Tensor, steps: int, atom_types: Sequence[str]) -> list:
    """rdkit molecules (None where invalid) decoded along ``(1 - t) z_a + t z_b``, ``t`` in ``[0, 1]``."""
    quiet_rdkit()
    ts = torch.linspace(0, 1, steps, dtype=z_a.dtype).view(-1, 1, 1)
    node, bond = model.decode_graph((1 - ts) * z_a + ts * z_b)
    return [graph_to_mol(nt, bt, list(atom_types)) for nt, bt in zip(node, bond)]


def _grid_image(mols: list, legends: list[str], per_row: int) -> np.ndarray:
    from PIL import Image
    from rdkit import Chem
    from rdkit.Chem import Draw

    placeholder = Chem.MolFromSmiles("*")          # drawn where the decoded graph is not a valid molecule
    drawn = [m if m is not None else placeholder for m in mols]
    img = Draw.MolsToGridImage(drawn, molsPerRow=per_row, subImgSize=(200, 200), legends=legends, returnPNG=False)
    if not isinstance(img, Image.Image):      # some rdkit builds return PNG bytes
        img = Image.open(io.BytesIO(img))
    return np.asarray(img.convert("RGB"))


def interpolation_figure(model: GraphVAE, z_a: Tensor, z_b: Tensor, perm_a: Tensor, perm_b: Tensor,
                         steps: int, atom_types: Sequence[str], names: tuple[str, str], cross_section: str,
                         path: Path) -> dict[str, float]:
    """Decode the equivariant and the invariant interpolation and draw them as an rdkit grid.

    ``perm_a`` / ``perm_b`` are the cross-section's sorting permutations of the two
    latents ``[n, d]``.  Returns the fraction of valid decoded molecules on each path.
    """
    from rdkit import Chem

    rows = {
        "equivariant latent (dataset node order)": decode_path(model, z_a, z_b, steps, atom_types),
        f"invariant: {cross_section} cross-section": decode_path(
            model, gather_nodes(z_a[None], perm_a[None])[0], gather_nodes(z_b[None], perm_b[None])[0], steps,
            atom_types),
    }
    ts = np.linspace(0, 1, steps)
    mols, legends = [], []
    for mol_row in rows.values():
        for t, m in zip(ts, mol_row):
            mols.append(m)
            legends.append(f"t={t:.2f}: " + (Chem.MolToSmiles(m) if m is not None else "invalid"))
    fig, axes = plt.subplots(len(rows), 1, figsize=(2.2 * steps, 2.6 * len(rows)))
    for ax, (label, mol_row), k in zip(np.atleast_1d(axes), rows.items(), range(len(rows))):
        ax.imshow(_grid_image(mols[k * steps:(k + 1) * steps], legends[k * steps:(k + 1) * steps], steps))
        ax.set_title(label, fontsize=11)
        ax.axis("off")
    fig.suptitle(f"Interpolation {names[0]}  ->  {names[1]}", fontsize=12)
    atomic_savefig(fig, path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return {label: float(np.mean([m is not None for m in row])) for label, row in rows.items()}
