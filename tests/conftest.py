"""Shared fixtures: fixed seeds, quiet wandb, the real datasets loaded once per session, and the devices.

Tests that take the ``device`` fixture run on the CPU and, where CUDA is available, once more
on the GPU; those GPU cases carry the ``gpu`` mark, so ``pytest -m gpu`` runs only them.
"""

from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import pytest
import torch

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
# deterministic cuBLAS (trainer.deterministic): read when the first cuBLAS handle is made, so before any test's GPU work
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

#: marks of a test that needs a CUDA device: selected by ``pytest -m gpu``, skipped where there is none
GPU = (pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"))


@pytest.fixture(autouse=True)
def _fixed_seeds():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=GPU)])
def device(request) -> str:
    """``"cpu"``, and ``"cuda"`` where CUDA is available (that case is marked ``gpu``)."""
    return request.param


@pytest.fixture
def full_float32():
    """Full float32 products on a GPU during the test: no TF32 in cuBLAS matmuls or cuDNN convolutions.

    TF32 (the ``matmul_precision: high`` of the config, cuDNN's default for convolutions) keeps
    10 mantissa bits of each factor; checks of exact math (equivariance to 1e-4) turn it off
    and restore the settings after.  On the CPU these are torch's defaults anyway.
    """
    with tf32_products(False):
        yield


@pytest.fixture
def tf32():
    """TF32 products on, as the studies run on an Ampere or later GPU (``matmul_precision: high``); restored after."""
    with tf32_products(True):
        yield


@contextlib.contextmanager
def tf32_products(on: bool):
    """TF32 in cuBLAS matmuls and cuDNN convolutions on (``True``) or off, the settings restored after."""
    matmul, conv = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    torch.set_float32_matmul_precision("high" if on else "highest")
    torch.backends.cudnn.allow_tf32 = on
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(matmul)
        torch.backends.cudnn.allow_tf32 = conv


@pytest.fixture(scope="session")
def data_cache_dir():
    """The project's real cache folder (data/processed), so CI builds QM9 once for all tests."""
    from eqlatent.runtime.config import project_root

    path = project_root() / "data" / "processed"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def qm9_full(data_cache_dir):
    """All of QM9 from the qm9pack CSVs (processed once, ~1 min on 2 cores, then cached)."""
    from eqlatent.data.qm9 import load_qm9

    return load_qm9(cache_dir=str(data_cache_dir))


@pytest.fixture
def noted_once(caplog):
    """Check that a finished run noted each failed optional artefact once.

    ``check(run_dir, {what: fix})``: one console (log) line per artefact, one results.md line naming
    it with its fix, and ``metrics.json`` (written all the same) listing exactly these artefacts.
    """
    import json
    import logging

    caplog.set_level(logging.WARNING, logger="eqlatent.studies.artefacts")

    def check(run_dir, expected: dict[str, str]) -> None:
        logged = [r.getMessage() for r in caplog.records if r.name == "eqlatent.studies.artefacts"]
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert [m["what"] for m in metrics["missing_artefacts"]] == list(expected)
        md = (run_dir / "results.md").read_text()
        assert md.count("## Missing artefacts") == 1 and len(logged) == len(expected)
        for what, fix in expected.items():
            lines = [line for line in md.splitlines() if what in line]
            assert len(lines) == 1 and f"fix: {fix}" in lines[0], lines
            assert sum(what in m for m in logged) == 1 and any(fix in m for m in logged), logged
    return check
