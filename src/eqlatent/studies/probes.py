"""Downstream probes: what a simple model can still read off a latent or a projection.

A probe that does well on an invariant projection but badly on the raw equivariant
latent (or on the same latent with shuffled node order) is the practical symptom of the
ambiguity the paper describes.  Features are standardised inside every probe so the
comparison between representations is not a comparison of their scales.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.metrics import accuracy_score, mean_absolute_error, r2_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from eqlatent.errors import ConfigError

REGRESSION = ("ridge", "mlp_regressor")
CLASSIFICATION = ("logistic", "knn", "mlp_classifier")
PROBE_KINDS = REGRESSION + CLASSIFICATION


def _np(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _estimator(kind: str, seed: int, **kw: Any) -> Any:
    if kind == "ridge":
        return RidgeCV(alphas=kw.get("alphas", (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)))
    if kind == "mlp_regressor":
        return MLPRegressor(hidden_layer_sizes=tuple(kw.get("hidden", (64, 64))), max_iter=kw.get("max_iter", 300),
                            early_stopping=True, random_state=seed)
    if kind == "logistic":
        return LogisticRegression(C=kw.get("C", 1.0), max_iter=kw.get("max_iter", 1000))
    if kind == "knn":
        return KNeighborsClassifier(n_neighbors=kw.get("k", 5))
    if kind == "mlp_classifier":
        return MLPClassifier(hidden_layer_sizes=tuple(kw.get("hidden", (64,))), max_iter=kw.get("max_iter", 300),
                             early_stopping=True, random_state=seed)
    raise ConfigError(f"unknown probe kind '{kind}'", f"use one of {', '.join(PROBE_KINDS)}")


def run_probe(kind: str, x_train: Any, y_train: Any, x_test: Any, y_test: Any, seed: int = 0, **kw: Any) -> dict[str, Any]:
    """Fit a probe on ``(x_train, y_train)`` and score it on ``(x_test, y_test)``.

    Regression probes (``ridge``, ``mlp_regressor``) return ``mae`` and ``r2`` (means over
    targets) plus ``mae_per_target`` / ``r2_per_target`` arrays; targets are standardised
    for fitting and errors reported in the original units.  Classification probes
    (``logistic``, ``knn``, ``mlp_classifier``) return ``accuracy``.
    """
    xtr = _np(x_train).reshape(len(x_train), -1).astype(np.float64)
    xte = _np(x_test).reshape(len(x_test), -1).astype(np.float64)
    if xtr.shape[1] != xte.shape[1]:
        raise ValueError(f"train and test features differ in width: {xtr.shape[1]} vs {xte.shape[1]}")
    model = make_pipeline(StandardScaler(), _estimator(kind, seed, **kw))
    ytr, yte = _np(y_train), _np(y_test)
    if kind in CLASSIFICATION:
        model.fit(xtr, ytr.ravel())
        return {"accuracy": float(accuracy_score(yte.ravel(), model.predict(xte)))}
    ytr = ytr.reshape(len(ytr), -1).astype(np.float64)
    yte = yte.reshape(len(yte), -1).astype(np.float64)
    mu, sd = ytr.mean(0), ytr.std(0) + 1e-12
    model.fit(xtr, (ytr - mu) / sd if ytr.shape[1] > 1 else ((ytr - mu) / sd).ravel())
    pred = model.predict(xte).reshape(len(xte), -1) * sd + mu
    mae = np.abs(pred - yte).mean(0)
    r2 = np.array([r2_score(yte[:, j], pred[:, j]) for j in range(yte.shape[1])])
    return {"mae": float(mae.mean()), "r2": float(r2.mean()), "mae_per_target": mae, "r2_per_target": r2}
