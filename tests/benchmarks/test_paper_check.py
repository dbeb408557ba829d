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

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import paper_check  # noqa: E402


@pytest.mark.slow
def test_paper_check_trains_every_paper_model_and_projects_time(tmp_path):
    out = tmp_path / "paper_check.md"
    md = paper_check.main(["--out", str(out),
                           "--molecules-override", "profile.molecules.n_molecules=300",
                           "--images-override", "profile.images.n_train=128",
                           "--images-override", "profile.images.n_test=32"])
    assert out.read_text() == md
    lines = md.splitlines()
    header = [c.strip() for c in next(line for line in lines if line.startswith("| study |")).strip("|").split("|")]

    def cell(model: str, column: str) -> str:
        row = next(line for line in lines if line.startswith(f"| {'molecules' if 'VAE' in model else 'images'} | {model} |"))
        return row.strip("|").split("|")[header.index(column)].strip()

    for model in ("graph VAE d=1", "c8", "c16", "so2", "cnn_aug", "cnn_plain"):
        assert float(cell(model, "s / epoch")) > 0
        assert cell(model, "epochs run here") == "1"   # cnn_aug's 60 paper epochs must not leak into the check
    assert cell("cnn_aug", "paper epochs") == "60"     # but they are what the projection uses
    hours = [float(h) for h in re.findall(r"reproduce-\w+` here: \*\*([0-9.]+) h", md)]
    assert len(hours) == 2 and all(h >= 0 for h in hours)


def test_paper_check_rejects_a_bad_fraction():
    with pytest.raises(SystemExit):
        paper_check.main(["--fraction", "0"])


def test_gpu_check_says_in_one_line_that_there_is_no_gpu(capsys, monkeypatch):
    import gpu_check

    monkeypatch.setattr(gpu_check.torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as exit_info:
        gpu_check.main([])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no CUDA device" in err


@pytest.mark.slow
def test_gpu_check_prints_one_table_of_device_epoch_times_and_hours(tmp_path):
    import gpu_check

    md = gpu_check.main(["--allow-cpu", "--skip-tests", "--fraction", "1", "--out", str(tmp_path / "gpu_check.md"),
                         "--paper-check-arg=--study=molecules", "--paper-check-arg=--out=" + str(tmp_path / "pc.md"),
                         "--paper-check-arg=--molecules-override=profile.molecules.n_molecules=300"])
    assert "Device: cpu" in md and "| molecules | graph VAE d=1 |" in md
    assert re.search(r"whole paper profile, one model after another: \*\*[0-9.]+ h", md)
