"""What ZINC's targets are and how they are computed: logP, QED and SA score with rdkit, one molecule at a time.

Shared by the in-memory build (:mod:`eqlatent.data.zinc`) and the shard-by-shard one
(:mod:`eqlatent.data.zinc_shards`), so both compute the same numbers and neither imports the other
for them.  ``BUILDER_VERSION`` names the way a ZINC cache is built: a change here that changes its
numbers raises it, so old caches are rebuilt.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

TARGET_NAMES = ["logP", "QED", "SA"]
TARGET_UNITS = ["log10", "1", "1"]
BUILDER_VERSION = 1


def _sascorer():
    """rdkit's Contrib SA-score module (ships with the rdkit wheel, not importable by name)."""
    spec = importlib.util.find_spec("rdkit")
    contrib = Path(list(spec.submodule_search_locations)[0]) / "Contrib" / "SA_Score"
    if str(contrib) not in sys.path:
        sys.path.append(str(contrib))
    import sascorer  # noqa: PLC0415

    return sascorer


def molecule_properties(smiles: str, sa=None) -> tuple[float, float, float]:
    """logP, QED and SA score of one valid SMILES (``sa``: :func:`_sascorer`'s module, found once by the caller)."""
    from rdkit import Chem
    from rdkit.Chem import QED, Crippen

    mol = Chem.MolFromSmiles(smiles)
    return Crippen.MolLogP(mol), QED.qed(mol), (sa or _sascorer()).calculateScore(mol)


def properties(smiles: Sequence[str]) -> np.ndarray:
    """``[n, 3]`` logP, QED and SA score of each (valid) SMILES."""
    sa = _sascorer()
    rows = [molecule_properties(s, sa) for s in smiles]
    return np.asarray(rows, dtype=np.float32).reshape(-1, 3)
