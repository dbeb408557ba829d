"""Smoke run of ``make paper-check`` on tiny real data: every paper-profile model trains one (short) epoch.

The real command times a full epoch per model; here a few molecules / digits keep it
to seconds, but the models are the paper profile's own sizes, so a paper config that no
longer builds or trains fails this test.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import paper_check  # noqa: E402


@pytest.mark.slow
def test_paper_check_trains_every_paper_model_and_projects_time(tmp_path):
    out = tmp_path / "paper_check.md"
    md = paper_check.main(["--out", str(out),
                           "--molecules-override", "profile.molecules.n_molecules=300",
                           "--images-override", "profile.images.n_train=128",
                           "--images-override", "profile.images.n_test=32"])
    assert out.read_text() == md
    for model in ("graph VAE d=1", "c8", "c16", "so2", "cnn_aug", "cnn_plain"):
        row = next(line for line in md.splitlines() if line.startswith(f"| {'molecules' if 'VAE' in model else 'images'} | {model} |"))
        seconds = float(row.split("|")[5])
        assert seconds > 0
    cnn_aug = next(line for line in md.splitlines() if line.startswith("| images | cnn_aug |"))
    assert int(cnn_aug.split("|")[6]) == 60  # projected with the paper profile's per-encoder epochs
    hours = [float(h) for h in re.findall(r"reproduce-\w+` here: \*\*([0-9.]+) h", md)]
    assert len(hours) == 2 and all(h >= 0 for h in hours)


def test_paper_check_rejects_a_bad_fraction():
    with pytest.raises(SystemExit):
        paper_check.main(["--fraction", "0"])
