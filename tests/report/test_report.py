"""make report: aggregation over seeds (hand-checked) and REPORT.md / index.html from real tiny runs.

The fixture ``tests/fixtures/report_runs`` holds the small result files of four REAL tiny
runs (molecules and images, seeds 0 and 1) made by ``tests/fixtures/make_report_runs.py``.
A toy third study, registered for the test, shows that the report follows the registry.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import pytest
from omegaconf import OmegaConf

from eqlatent.errors import ConfigError
from eqlatent.report import registry
from eqlatent.report.aggregate import mean_std, pm
from eqlatent.report.build import build_report
from eqlatent.report.collect import Cell, find_runs, group_cells
from eqlatent.studies.results import StudyResults, Verdict
from eqlatent.studies.skeleton import Outcome, StudyRun

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "report_runs"


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
    edit(1, lambda c: c["profile"]["images"].update(epochs=999))              # another study's sizes: same cell
    assert sorted(len(c.runs) for c in group_cells(find_runs(runs_dir))) == [2, 2]
    edit(1, lambda c: c["profile"]["molecules"].update(epochs=999))                           # what it ran: new cell
    assert sorted(len(c.runs) for c in group_cells(find_runs(runs_dir))) == [1, 1, 2]


def test_a_run_without_profile_blocks_keeps_every_profile_block_in_its_signature(runs_dir):
    # runs recorded before experiments named the profile blocks they read: grouped strictly, never merged wrongly
    import yaml

    for seed in (0, 1):
        path = runs_dir / "molecules" / f"cpu-seed{seed}" / ".hydra" / "config.yaml"
        cfg = yaml.safe_load(path.read_text())
        cfg.pop("profile_blocks")
        if seed == 1:
            cfg["profile"]["images"]["epochs"] = 999
        path.write_text(yaml.safe_dump(cfg))
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


@dataclass
class ToyResults(StudyResults):
    """A third study's results: one number and the verdict on its claim."""

    verdict_keys: ClassVar[dict[str, str]] = {"claim9": "9"}
    score: float = 0.0
    claim9: Verdict | None = None


def _toy_section(cell: Cell) -> tuple[list[str], list[Verdict]]:
    runs = [ToyResults.from_json(r.metrics) for r in cell.runs]
    held = all(r.claim9.held for r in runs)
    return [f"### `{cell.study}`: mean score {sum(r.score for r in runs) / len(runs):.2f}", ""], [Verdict("9", held)]


def _finish_toy_run(outputs: Path, seed: int, score: float) -> None:
    """A finished toy run, written by the studies' own end of a run."""
    run_dir = outputs / "toy" / f"cpu-seed{seed}"
    cfg = OmegaConf.create({"task_name": "toy", "run_name": run_dir.name,
                            "paths": {"output_root": str(outputs), "output_dir": str(run_dir)}})
    results = ToyResults(score=score, claim9=Verdict("9", score > 0.5, f"score {score} > 0.5"))
    StudyRun(cfg).finish(Outcome("# Toy study\n", results, {"score": score}))


@pytest.fixture()
def toy_registered():
    saved = list(registry.STUDIES)
    registry.register_section("Claim 9: a toy study's claim", "toy", empty="No toy runs found.")(_toy_section)
    yield
    registry.STUDIES[:] = saved


def test_a_registered_study_gets_its_section_and_verdicts(runs_dir, tmp_path, toy_registered):
    for seed, score in ((0, 0.7), (1, 0.8)):
        _finish_toy_run(runs_dir, seed, score)
    text = build_report(runs_dir, tmp_path / "report")
    assert "- [Claim 9: a toy study's claim](#claim-9-a-toy-studys-claim)" in text        # in the contents
    assert "| 9 | toy | cpu | 0, 1 | **HELD** |" in text                                  # in the verdict table
    assert "## Claim 9: a toy study's claim\n\n### `toy`: mean score 0.75" in text        # its own section
    assert "## Claim 1" in text and "## Claims 2 and 3" in text and "Not reported" not in text


def test_runs_of_an_unregistered_study_are_named_not_dropped(runs_dir, tmp_path):
    _finish_toy_run(runs_dir, 0, 0.7)
    text = build_report(runs_dir, tmp_path / "report")
    assert "Not reported (no report section is registered" in text and "`toy` (cpu profile, 1 run(s))" in text
    assert "Claim 9" not in text


def test_report_without_runs_is_a_one_line_error(tmp_path):
    with pytest.raises(ConfigError, match="no finished runs"):
        build_report(tmp_path, tmp_path / "report")


class _Outline(HTMLParser):
    """The parts of index.html a reader navigates by: headings with ids, links, lists, tables, images."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.links: list[str] = []
        self.order: list[str] = []           # "h2:<id>", "table", "ul" in document order
        self.list_items: list[int] = []      # number of <li> per <ul>
        self.table_rows: list[int] = []      # number of <tr> per <table>
        self.images = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.append(a["id"])
        if tag == "h2":
            self.order.append(f"h2:{a.get('id')}")
        elif tag == "a" and (a.get("href") or "").startswith("#"):
            self.links.append(a["href"][1:])
        elif tag == "ul":
            self.order.append("ul")
            self.list_items.append(0)
        elif tag == "li" and self.list_items:
            self.list_items[-1] += 1
        elif tag == "table":
            self.order.append("table")
            self.table_rows.append(0)
        elif tag == "tr" and self.table_rows:
            self.table_rows[-1] += 1
        elif tag == "img" and (a.get("src") or "").startswith("data:image/png;base64,"):
            self.images += 1


def test_report_html_has_contents_verdicts_lists_and_tables(runs_dir, tmp_path):
    out = tmp_path / "report"
    build_report(runs_dir, out)
    page = _Outline()
    page.feed((out / "index.html").read_text())
    # a table of contents first: a list whose links all point at headings of the page
    assert page.order[0] == "ul" and page.list_items[0] == 4   # the verdicts and the three studies' sections
    assert page.links[:3] and all(link in page.ids for link in page.links)
    # the verdicts come right after it, as a table with one row per claim and cell (+ header)
    assert page.order[1] == "h2:verdicts" and page.order[2] == "table" and page.table_rows[0] == 1 + 3
    # the bullet lists under each claim are real lists, not one run-on paragraph
    assert sum(n >= 2 for n in page.list_items[1:]) >= 1
    # each claim section opens with its compact table of deciding numbers, before the detailed per-projection tables
    text = (out / "REPORT.md").read_text()
    for section, detail in (("## Claim 1", "latent_dim 1 (mean ± std over seeds):"),
                            ("## Claims 2 and 3", "c8 (mean ± std over seeds):")):
        body = text.split(section)[1]
        deciding = body.index("Deciding numbers")
        assert deciding < body.index("\n|", deciding) < body.index(detail)
