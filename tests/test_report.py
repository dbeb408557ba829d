"""make report: aggregation over seeds (hand-checked) and REPORT.md / index.html from real tiny runs.

The fixture ``tests/fixtures/report_runs`` holds the small result files of four REAL tiny
runs (molecules and images, seeds 0 and 1) made by ``tests/fixtures/make_report_runs.py``.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from eqlatent.report.aggregate import mean_std, pm
from eqlatent.report.build import build_report
from eqlatent.report.collect import find_runs, group_cells

FIXTURE = Path(__file__).parent / "fixtures" / "report_runs"


def test_nested_mean_and_std_by_hand():
    runs = [{"a": 1.0, "b": [{"x": 2.0, "name": "sort"}], "n": 5, "ok": True},
            {"a": 3.0, "b": [{"x": 6.0, "name": "sort"}], "n": 5, "ok": False}]
    mean, std = mean_std(runs)
    assert mean == {"a": 2.0, "b": [{"x": 4.0, "name": "sort"}], "n": 5, "ok": 0.5}
    assert std["a"] == pytest.approx(math.sqrt(2)) and std["b"][0]["x"] == pytest.approx(math.sqrt(8))
    assert std["n"] == 0  # identical counts stay exact
    assert pm(2.0, math.sqrt(2)) == "2.000 ± 1.414" and pm(5, 0) == "5" and pm(3e-7, 0.0) == "3.0e-07"
    assert pm(None, None) == "n/a" and pm(True, 0) == "yes"
    assert pm(True, 0) == "yes"


@pytest.fixture()
def runs_dir(tmp_path):
    dst = tmp_path / "outputs"
    shutil.copytree(FIXTURE, dst)
    return dst


def test_runs_are_grouped_by_config_across_seeds(runs_dir):
    cells = group_cells(find_runs(runs_dir))
    assert sorted((c.study, tuple(c.seeds)) for c in cells) == [("images", (0, 1)), ("molecules", (0, 1))]


def test_execution_settings_do_not_split_a_cell_but_experiment_settings_do(runs_dir):
    import yaml

    def edit(seed, change):
        path = runs_dir / "molecules" / f"cpu-seed{seed}" / ".hydra" / "config.yaml"
        cfg = yaml.safe_load(path.read_text())
        change(cfg)
        path.write_text(yaml.safe_dump(cfg))

    edit(1, lambda c: c["profile"].update(loader={"num_workers": 4, "pin_memory": True}))   # how it ran: same cell
    assert sorted(len(c.runs) for c in group_cells(find_runs(runs_dir))) == [2, 2]
    edit(1, lambda c: c["profile"]["molecules"].update(epochs=999))                           # what it ran: new cell
    assert sorted(len(c.runs) for c in group_cells(find_runs(runs_dir))) == [1, 1, 2]


def test_unfinished_and_corrupt_runs_are_skipped(runs_dir):
    (runs_dir / "molecules" / "cpu-seed7").mkdir()                     # crashed before writing metrics
    bad = runs_dir / "molecules" / "cpu-seed8"
    bad.mkdir()
    (bad / "metrics.json").write_text('{"truncated": ')               # corrupt
    cells = group_cells(find_runs(runs_dir))
    assert sorted(len(c.runs) for c in cells) == [2, 2]


def test_report_from_real_tiny_runs(runs_dir, tmp_path):
    out = tmp_path / "report"
    text = build_report(runs_dir, out)
    assert (out / "REPORT.md").read_text() == text
    html = (out / "index.html").read_text()
    assert html.startswith("<!doctype html>") and "<table>" in html and "Claim 1" in html
    # one table per claim, mean ± std over the two seeds
    assert "## Claim 1" in text and "## Claims 2 and 3" in text and " ± " in text
    # the seed counts in the verdict lines are the fixtures' own per-run verdicts
    mol = [json.loads(p.read_text()) for p in sorted((runs_dir / "molecules").rglob("metrics.json"))]
    held1 = sum(bool(m["claim1"]["held"]) for m in mol)
    assert f"held in {held1}/2 seeds" in text
    img = [json.loads(p.read_text()) for p in sorted((runs_dir / "images").rglob("metrics.json"))]
    held2 = sum(bool(m["claim2"]["holds"]) for m in img)
    assert f"{held2}/2 seeds" in text.split("**Claim 2")[1]
    # the molecules table's sort row at d = 1 shows the seed-mean of the runs' Spearman
    spearman = [m["latent_dims"]["1"]["retention"]["sort"]["spearman"] for m in mol]
    row = next(ln for ln in text.splitlines() if ln.startswith("| sort |"))
    assert f"{sum(spearman) / 2:.3f}" in row


def test_report_without_runs_is_a_one_line_error(tmp_path):
    with pytest.raises(SystemExit, match="no finished runs"):
        build_report(tmp_path, tmp_path / "report")
