"""Figures of the molecules study: latent embeddings and latent interpolations.

* :func:`embedding_figure` -- PCA and t-SNE of the naive latent (dataset node order and
  shuffled node order) next to an invariant cross-section, coloured by a property.  The
  naive latent's picture changes when only the node order changes; the projection's
  does not.
* :func:`interpolation_figure` -- rdkit grids of a few decoded interpolation paths, in
  the equivariant latent as stored and between canonical (sorted) representatives
  (decoded and scored over many pairs by :mod:`eqlatent.studies.molecules.interpolation`).
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.manifold import TSNE  # noqa: E402
from torch import Tensor  # noqa: E402

from eqlatent.runtime.io import atomic_savefig  # noqa: E402


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


def interpolation_figure(paths: list[dict[str, list]], names: list[tuple[str, str]], steps: int,
                         path: Path) -> Path:
    """rdkit grids of decoded interpolations: for each pair, one row per path kind.

    ``paths[p]`` maps a path label (e.g. "equivariant latent", "sort cross-section") to the
    decoded canonical SMILES along it (None = invalid); ``names[p]`` are the end points.
    """
    from rdkit import Chem

    ts = np.linspace(0, 1, steps)
    rows = [(f"{a}  ->  {b}: {label}", smiles) for (a, b), kinds in zip(names, paths) for label, smiles in kinds.items()]
    images = []
    for _, smiles in rows:
        mols = [Chem.MolFromSmiles(s) if s is not None else None for s in smiles]
        legends = [f"t={t:.2f}: " + (s if s is not None else "invalid") for t, s in zip(ts, smiles)]
        images.append(_grid_image(mols, legends, steps))
    # each row's axes gets its image's aspect ratio, so no slot is taller than its picture (no blank bands)
    width = 2.2 * steps
    ratios = [img.shape[0] / img.shape[1] for img in images]
    fig, axes = plt.subplots(len(rows), 1, figsize=(width, width * sum(ratios) + 0.35 * len(rows) + 0.5),
                             squeeze=False, layout="constrained", gridspec_kw={"height_ratios": ratios})
    for ax, (title, _), img in zip(axes[:, 0], rows, images):
        ax.imshow(img)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.suptitle("Interpolations between test molecules the VAE reconstructs exactly", fontsize=12)
    atomic_savefig(fig, path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return path
