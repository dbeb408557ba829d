"""Shared fixtures: fixed seeds, quiet wandb, and the real datasets loaded once per session."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


@pytest.fixture(autouse=True)
def _fixed_seeds():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def data_cache_dir():
    """The project's real cache folder (data/processed), so CI builds QM9 once for all tests."""
    from eqlatent.config import project_root

    path = project_root() / "data" / "processed"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def qm9_full(data_cache_dir):
    """All of QM9 from the qm9pack CSVs (processed once, ~1 min on 2 cores, then cached)."""
    from eqlatent.data.qm9 import load_qm9

    return load_qm9(cache_dir=str(data_cache_dir))
