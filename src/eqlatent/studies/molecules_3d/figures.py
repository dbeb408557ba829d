"""Figures of the QM9-3D study: retention vs K, retention per projection, PCA of raw vs invariant, learning curve.

The PCA figure is the 3-D analogue of the images study's Figure 1: each test molecule is drawn
twice, as encoded and rotated, joined by a grey line.  In the raw latent the two copies of one
molecule land apart (the latent turned with it); in an invariant projection they coincide, and
what is left is the molecules' own structure.  All figures are saved atomically.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402

from eqlatent.runtime.io import atomic_savefig  # noqa: E402

#: panels of the PCA figure: the raw latent, the two simplest invariants, the random invariant projection
PCA_PANELS = ("identity", "scalars", "norm", "gram", "canonicalize", "random_invariant")
#: projections drawn as dashed reference lines on the K-curve
REFERENCES = ("identity", "norm", "scalars", "gram", "canonicalize")


def retention_vs_k(views: dict[str, tuple[list[dict[str, float]], dict[str, dict[str, float]]]], min_spearman: float,
                   min_k_over_dim: float, path: Path) -> Path:
    """Per latent view (rows): Spearman and 10-NN consistency of random invariant projections vs K / D, the
    fixed projections as dashed lines."""
    views = {v: cm for v, cm in views.items() if cm[0]}
    keys = [("spearman", "Spearman vs O(3) quotient distance"), ("knn", "10-NN consistency")]
    fig, axes = plt.subplots(len(views), len(keys), figsize=(9.5, 3.4 * len(views)), squeeze=False,
                             layout="constrained")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for row, (view, (curve, metrics)) in zip(axes, views.items()):
        x = [r["K_over_dim"] for r in curve]
        for ax, (key, title) in zip(row, keys):
            ax.plot(x, [r[key] for r in curve], "o-", color="k", label="random_invariant (K functionals)")
            for i, name in enumerate(n for n in REFERENCES if n in metrics):
                ax.axhline(metrics[name][key], ls="--", lw=1, color=colors[i % len(colors)], label=name)
            if key == "spearman":
                ax.axhline(min_spearman, color="grey", lw=0.8, ls=":")
            ax.axvline(min_k_over_dim, color="grey", lw=0.8, ls=":")
            ax.set_xscale("log", base=2)
            ax.set_xlabel("K / latent dimension D")
            ax.set_title(f"{title} ({view} latent)", fontsize=10)
            ax.grid(alpha=0.3)
        row[0].legend(fontsize=7)
    fig.suptitle("QM9-3D e3nn latent: retained quotient geometry vs number of random functionals", fontsize=11)
    out = atomic_savefig(fig, path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out


def retention_bars(views: dict[str, dict[str, dict[str, float]]], min_spearman: float, path: Path) -> Path:
    """Spearman against the O(3) quotient distance per projection, one bar per latent view."""
    names = list(next(iter(views.values())))
    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 2.5, 3.6), layout="constrained")
    pos = np.arange(len(names))
    width = 0.8 / len(views)
    for k, (view, metrics) in enumerate(views.items()):
        vals = [metrics.get(n, {}).get("spearman", np.nan) for n in names]
        ax.bar(pos - 0.4 + width * (k + 0.5), vals, width, color=f"C{k}", label=f"{view} latent")
    ax.axhline(min_spearman, color="grey", lw=0.8, ls=":")
    ax.set_xticks(pos, names, rotation=20, fontsize=8)
    lows = [m.get("spearman", 0.0) for metrics in views.values() for m in metrics.values()]
    ax.set_ylim(min(0.0, *lows), 1.02)
    ax.set_ylabel("Spearman vs O(3) quotient distance")
    ax.set_title("Rank agreement with the O(3) quotient distance (identity: the raw latent, not invariant)", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    out = atomic_savefig(fig, path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out


def pca_raw_vs_invariant(features: dict[str, dict[str, np.ndarray]], colour: np.ndarray, label: str, path: Path,
                         n_points: int = 300, seed: int = 0) -> Path:
    """Per projection: PCA of the test molecules and of their rotated copies, each pair joined by a line."""
    names = [n for n in PCA_PANELS if n in features] or list(features)[:4]
    fig, axes = plt.subplots(1, len(names), figsize=(3.3 * len(names) + 1.0, 3.4), squeeze=False, layout="constrained")
    n = min(n_points, len(features[names[0]]["rot_test"]), len(colour))
    sc = None
    for ax, name in zip(axes[0], names):
        a = np.asarray(features[name]["test"][:n], dtype=np.float64)
        b = np.asarray(features[name]["rot_test"][:n], dtype=np.float64)
        both = np.concatenate([a, b])
        mu, sd = both.mean(0), both.std(0) + 1e-8
        pca = PCA(n_components=2, random_state=seed).fit((a - mu) / sd)
        pa, pb = pca.transform((a - mu) / sd), pca.transform((b - mu) / sd)
        ax.plot(np.stack([pa[:, 0], pb[:, 0]]), np.stack([pa[:, 1], pb[:, 1]]), color="0.75", lw=0.4, zorder=1)
        sc = ax.scatter(pa[:, 0], pa[:, 1], c=colour[:n], s=5, cmap="viridis", zorder=2)
        ax.scatter(pb[:, 0], pb[:, 1], c=colour[:n], s=5, cmap="viridis", marker="x", lw=0.5, zorder=2)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(sc, ax=axes, label=label, shrink=0.7)
    fig.suptitle("PCA of test molecules (dots) and the same molecules rotated (crosses), joined: raw latent vs "
                 "invariant projections", fontsize=10)
    out = atomic_savefig(fig, path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out


def learning_curve(curve: list[dict[str, float]], test_mae: dict[str, float], units: dict[str, str],
                   published: dict[str, dict[str, float]], goal: dict[str, float], path: Path) -> Path:
    """Training and validation MAE per epoch for each trained target; the test MAE, the goal and published ones."""
    targets = list(test_mae)
    fig, axes = plt.subplots(1, len(targets), figsize=(4.5 * len(targets), 3.6), squeeze=False, layout="constrained")
    for ax, t in zip(axes[0], targets):
        for stage, style in (("train", "o--"), ("val", "o-")):
            pts = [(r["epoch"], r[f"{stage}_mae_{t}"]) for r in curve if f"{stage}_mae_{t}" in r]
            if pts:
                ax.plot(*zip(*pts), style, label=f"{stage} MAE")
        ax.axhline(test_mae[t], color="k", lw=1, label=f"test MAE {test_mae[t]:.3f}")
        if t in goal:
            ax.axhline(goal[t], color="C3", ls=":", label=f"profile goal {goal[t]:g}")
        for i, (model, value) in enumerate(published.get(t, {}).items()):
            ax.axhline(value, color=f"C{4 + i}", ls="-.", lw=0.8, label=f"{model} (published)")
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"MAE [{units[t]}]")
        ax.set_title(t, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("e3nn regressor on QM9-3D: learning curve", fontsize=11)
    out = atomic_savefig(fig, path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out
