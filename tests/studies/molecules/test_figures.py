"""The molecules study's interpolation figure: laid out without a blank band.

Why: the figure is a stack of rdkit grids, each much wider than tall; drawn into equal
slots, each grid was centred in a taller slot and a blank band opened between the title
and the first row (62 px at the study's dpi).  The test reads the saved PNG.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rdkit.Chem.Draw", exc_type=ImportError)


def _white_runs(png: Path) -> list[int]:
    """Lengths of the runs of all-white pixel rows, top to bottom."""
    from PIL import Image

    white = (np.asarray(Image.open(png).convert("L")) > 250).all(axis=1)
    runs, current = [], 0
    for is_white in white:
        if is_white:
            current += 1
        elif current:
            runs.append(current)
            current = 0
    return runs


def test_the_first_row_follows_the_title_without_a_blank_band(tmp_path: Path) -> None:
    from eqlatent.studies.molecules.figures import interpolation_figure

    paths = [{"equivariant latent": ["CCO", "CCN", None, "c1ccccc1", "CC(=O)O"],
              "sort cross-section": ["CCO", "CO", "CCC", "CCCC", "CC(=O)O"]},
             {"equivariant latent": ["C", "CC", "CCC", "CCCC", "CCCCC"],
              "sort cross-section": ["C", "N", "O", "F", "CCCCC"]}]
    png = interpolation_figure(paths, [("CCO", "CC(=O)O"), ("C", "CCCCC")], 5, tmp_path / "interp.png")
    runs = _white_runs(png)
    # runs[0]: margin above the title; runs[1]: title -> first row title; runs[2]: row title -> its drawings
    assert runs[1] <= runs[2], f"blank band of {runs[1]} px under the title (row title gap {runs[2]} px)"
