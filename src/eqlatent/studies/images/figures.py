"""Figures of the images study: latent embeddings coloured by class, and retention vs K.

The embedding grid is the paper's Figure 1 analogue: the raw equivariant latent smears
each digit class over its rotation orbit, while invariant projections (group pooling,
random invariant projections, orbit averaging) collapse the orbits and let the classes
separate.  All figures are saved atomically.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.manifold import TSNE  # noqa: E402

from eqlatent.runtime.io import atomic_savefig  # noqa: E402

# columns of the embedding grid: the raw latent, the simplest invariant, random-K
PANEL_CHOICES = (("identity_field",), ("group_pool_max", "norm", "orbit_average"), ("random_invariant", "orbit_max"))


def panel_projections(available: list[str]) -> list[str]:
    """For each column, the first configured projection an encoder has."""
    return [next((c for c in choices if c in available)) for choices in PANEL_CHOICES
            if any(c in available for c in choices)]


def _embed(x: np.ndarray, method: str, seed: int) -> np.ndarray:
    x = (x - x.mean(0)) / (x.std(0) + 1e-8)
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(x)
    return TSNE(n_components=2, init="pca", perplexity=30, random_state=seed).fit_transform(x)


def embedding_grid(features: dict[str, dict[str, np.ndarray]], labels: np.ndarray, path: Path, method: str = "pca",
                   n_points: int = 1000, seed: int = 0) -> Path:
    """Rows = encoders, columns = projections; 2-D ``method`` (pca | tsne) embedding coloured by digit."""
    encoders = list(features)
    cols = max(len(panel_projections(list(features[e]))) for e in encoders)
    fig, axes = plt.subplots(len(encoders), cols, figsize=(3.2 * cols + 1.0, 3.0 * len(encoders) + 0.6), squeeze=False,
                             layout="constrained")
    n = min(n_points, len(labels))
    for r, enc in enumerate(encoders):
        names = panel_projections(list(features[enc]))
        for c in range(cols):
            ax = axes[r, c]
            ax.set_xticks([]); ax.set_yticks([])
            if c >= len(names):
                ax.axis("off")
                continue
            xy = _embed(np.asarray(features[enc][names[c]][:n], dtype=np.float64), method, seed)
            sc = ax.scatter(xy[:, 0], xy[:, 1], c=labels[:n], cmap="tab10", s=4, vmin=-0.5, vmax=9.5)
            ax.set_title(f"{enc}: {names[c]}", fontsize=9)
    fig.colorbar(sc, ax=axes, ticks=range(10), label="digit", shrink=0.6)
    fig.suptitle(f"{method.upper()} of rotated test digits: raw latent vs invariant projections", fontsize=10)
    out = atomic_savefig(fig, path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out


def retention_curve(curves: dict[str, list[dict[str, float]]], reference: dict[str, dict[str, float]], path: Path) -> Path:
    """Spearman, kNN consistency and kNN class accuracy of random invariant projections vs K / dim.

    Dashed lines: the same metric for the raw latent (``identity_field``) of each encoder.
    """
    metrics = [("spearman", "Spearman vs quotient distance"), ("knn_consistency", "10-NN consistency"),
               ("knn_acc", "kNN class accuracy")]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.8), layout="constrained")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (enc, rows) in enumerate(curves.items()):
        if not rows:
            continue
        x = [r["K_over_dim"] for r in rows]
        for ax, (key, title) in zip(axes, metrics):
            if key in rows[0]:
                ax.plot(x, [r[key] for r in rows], "o-", color=colors[i % len(colors)], label=f"{enc} random-K")
            ref = reference.get(enc, {}).get(key)
            if ref is not None:
                ax.axhline(ref, color=colors[i % len(colors)], ls="--", lw=1, label=f"{enc} raw latent")
    for ax, (_, title) in zip(axes, metrics):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("K / latent dimension")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle("Retained information of random invariant projections vs number of functionals K", fontsize=11)
    out = atomic_savefig(fig, path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out
