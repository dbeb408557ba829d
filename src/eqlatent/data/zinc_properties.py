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
import torch
from torch import Tensor

TARGET_NAMES = ["logP", "QED", "SA"]
TARGET_UNITS = ["log10", "1", "1"]
#: targets derived from the stored ones and the SMILES when a dataset is loaded (not stored: no cache changes)
DERIVED_NAMES = ["penalized_logP"]
DERIVED_UNITS = ["1"]
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


def ring_penalty(smiles: Sequence[str]) -> np.ndarray:
    """``max(0, largest ring size - 6)`` per SMILES (rdkit's ring perception), the cycle term of penalized logP.

    Only rdkit calls that return numbers are used (``IsAtomInRingOfSize``): with this rdkit wheel,
    ``RingInfo.AtomRings()`` / ``GetSymmSSSR`` (tuples of tuples through boost-python) returned
    garbage or crashed the process inside a loaded study, while scalar calls never did.
    """
    from rdkit import Chem

    out = np.zeros(len(smiles), dtype=np.float64)
    for i, s in enumerate(smiles):
        mol = Chem.MolFromSmiles(s)
        info = mol.GetRingInfo()
        if info.NumRings() == 0:
            continue
        ring_atoms = [a.GetIdx() for a in mol.GetAtoms() if a.IsInRing()]
        for size in range(len(ring_atoms), 6, -1):   # the largest ring first; sizes <= 6 cost nothing
            if any(info.IsAtomInRingOfSize(a, size) for a in ring_atoms):
                out[i] = size - 6
                break
    return out


def with_derived(targets: Tensor, smiles: Sequence[str]) -> Tensor:
    """``targets`` (logP, QED, SA columns) with penalized logP appended: ``logP - SA - ring penalty``.

    Why this form: it is the penalized logP of the molecular-optimisation literature (You et al.,
    GCPN, NeurIPS 2018, unnormalised), ZINC's customary target; computed from the stored logP and
    SA and the kept SMILES when a dataset is loaded, so existing caches stay valid.
    """
    if targets.shape[1] != len(TARGET_NAMES):
        return targets   # already derived
    logp, sa = targets[:, 0].double(), targets[:, 2].double()
    plogp = logp - sa - torch.from_numpy(ring_penalty(smiles))
    return torch.cat([targets, plogp.to(targets.dtype)[:, None]], dim=1)
