"""The docs' profile tables are rendered from docs/measured.json, and measured.json follows the newest report.

Three things can go wrong, and each has a test that fails then:
- someone edits a number of the README's or docs/results.md's table by hand (the table is no longer
  the rendering of docs/measured.json);
- new runs were reported but the docs were not regenerated (outputs/report/profiles.json holds numbers
  docs/measured.json does not) -- checked on this checkout's report when there is one, and on the
  fixture runs (tests/fixtures/report_runs) always, so that the check is seen to fail in CI too;
- profiles.json computes the wrong numbers from the runs (checked against values worked out by hand
  from the fixture runs' metrics.json).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from eqlatent.runtime.config import project_root
from eqlatent.errors import ConfigError
from eqlatent.report.build import build_report, main as report_main
from eqlatent.report.collect import find_runs, group_cells
from eqlatent.report.measured import MEASURED_JSON, RECORDED, TABLES, stale_entries, stale_tables, update_docs
from eqlatent.report.profiles import MEASURED, molecules_metrics, profile_entries

ROOT = project_root()
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "report_runs"


def _checkout(tmp: Path) -> Path:
    """A copy of the files --update-docs reads and writes."""
    root = tmp / "checkout"
    for rel in [*TABLES, str(MEASURED_JSON)]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, root / rel)
    return root


@pytest.fixture(scope="module")
def fixture_report(tmp_path_factory) -> Path:
    """outputs/report built from the fixture runs (once: it takes seconds)."""
    tmp = tmp_path_factory.mktemp("report")
    shutil.copytree(FIXTURE, tmp / "outputs")
    build_report(tmp / "outputs", tmp / "report")
    return tmp / "report"


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


# --- (a) the tables are the rendering of docs/measured.json -------------------------------------------------------


def test_the_readme_and_results_tables_are_the_rendering_of_measured_json():
    assert stale_tables(ROOT) == []


def test_a_number_edited_by_hand_in_a_table_is_caught(tmp_path):
    root = _checkout(tmp_path)
    readme = root / "README.md"
    text = readme.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `full`"))
    readme.write_text(text.replace(row, row.replace("0.9", "0.8", 1)))
    stale = stale_tables(root)
    assert len(stale) == 1 and stale[0].startswith("README.md:") and "0.8" in stale[0]


def test_every_recorded_entry_names_its_commit_and_date():
    measured = _load(ROOT / MEASURED_JSON)
    for key, entry in [*measured["entries"].items(), *measured.get("projections", {}).items()]:
        assert entry["source"] in (MEASURED, RECORDED) or RECORDED in entry["source"], key
        assert entry.get("commit") and entry.get("date"), key


# --- (b) docs/measured.json against the newest report ------------------------------------------------------------


def test_the_docs_hold_the_numbers_of_the_newest_report():
    report = ROOT / "outputs" / "report" / "profiles.json"
    if not report.is_file():
        pytest.skip("no outputs/report/profiles.json in this checkout (run `eqlatent report`)")
    stale = stale_entries(_load(ROOT / MEASURED_JSON), _load(report))
    assert stale == [], "the docs are behind outputs/report: run `eqlatent report --update-docs`\n" + "\n".join(stale)


def test_docs_behind_a_report_are_caught_and_update_docs_mends_them(fixture_report, tmp_path):
    root = _checkout(tmp_path)
    profiles = _load(fixture_report / "profiles.json")
    # the committed docs do not hold the fixture runs' numbers: the comparison must say so
    assert {line.split(":")[0] for line in stale_entries(_load(root / MEASURED_JSON), profiles)} == \
        {"images/cpu", "molecules/cpu"}

    lines = update_docs(fixture_report / "profiles.json", root)
    assert [line.split(":")[0] for line in lines] == [str(MEASURED_JSON), "README.md", "docs/results.md"]
    assert "table rewritten" in lines[1] and "table rewritten" in lines[2]
    measured = _load(root / MEASURED_JSON)
    assert stale_entries(measured, profiles) == [] and stale_tables(root) == []

    # entries not re-run keep their numbers and provenance, and stay marked in the tables
    before = _load(ROOT / MEASURED_JSON)
    for key in ("images/full", "molecules/full", "images/paper"):
        assert measured["entries"][key] == before["entries"][key] and measured["entries"][key]["source"] == RECORDED
    readme = (root / "README.md").read_text()
    assert "| `cpu` (default) | 0.085 / 0.140 / 0.125 / 0.080 |" in readme      # regenerated: no mark
    assert "| `full` | 0.977 / 0.978 / 0.974 / 0.968¹ |" in readme               # recorded: marked
    assert "c8 0.085–0.120" in (root / "docs/results.md").read_text()

    # a number changed in measured.json afterwards is caught against the report, at its place
    measured["entries"]["images/cpu"]["per_seed"]["1"]["metrics"]["acc.c8"] = 0.5
    stale = stale_entries(measured, profiles)
    assert len(stale) == 1 and stale[0].startswith("images/cpu:") and "per_seed.1.metrics.acc.c8" in stale[0]

    # a second update with the same report changes no table
    again = update_docs(fixture_report / "profiles.json", root)
    assert again[1:] == ["README.md: table unchanged", "docs/results.md: table unchanged"]


def test_the_report_command_updates_the_docs_and_prints_one_line_per_file(tmp_path, capsys):
    root = _checkout(tmp_path)
    shutil.copytree(FIXTURE / "molecules", tmp_path / "outputs" / "molecules")
    status = report_main(["--outputs", str(tmp_path / "outputs"), "--out", str(tmp_path / "report"), "--update-docs",
                          "--docs", str(root)])
    assert status == 0
    err = capsys.readouterr().err.splitlines()
    assert err[-3].startswith("docs/measured.json: 1 entry") and "molecules/cpu" in err[-3]
    assert err[-2].startswith("README.md: table rewritten") and err[-1].startswith("docs/results.md: table rewritten")
    assert _load(root / MEASURED_JSON)["entries"]["images/cpu"]["source"] == RECORDED   # not re-run: kept


def test_a_table_without_its_markers_changes_nothing(fixture_report, tmp_path):
    root = _checkout(tmp_path)
    results = root / "docs" / "results.md"
    results.write_text(results.read_text().replace("<!-- measured:profiles-per-seed end -->", ""))
    before = (root / MEASURED_JSON).read_text(), (root / "README.md").read_text()
    with pytest.raises(ConfigError, match="markers"):
        update_docs(fixture_report / "profiles.json", root)
    assert ((root / MEASURED_JSON).read_text(), (root / "README.md").read_text()) == before


# --- (c) profiles.json computes the numbers by hand -------------------------------------------------------------


def test_profiles_json_holds_the_fixture_runs_numbers_worked_out_by_hand(fixture_report):
    doc = _load(fixture_report / "profiles.json")
    assert doc["schema"] == 1 and doc["skipped"] == []
    images, molecules = doc["entries"]["images/cpu"], doc["entries"]["molecules/cpu"]
    assert images["seeds"] == [0, 1] and images["source"] == MEASURED and images["date"]
    # metrics.json: c8 0.08500000089406967 (seed 0) and 0.11999999731779099 (seed 1); wall 132.175... and 82.858... s
    assert images["per_seed"]["0"]["metrics"]["acc.c8"] == 0.085
    assert images["per_seed"]["1"]["metrics"]["acc.c8"] == 0.12
    assert images["summary"]["acc.c8"] == {"min": 0.085, "max": 0.12, "mean": 0.1025, "n": 2}
    assert images["summary"]["acc.cnn_plain"] == {"min": 0.115, "max": 0.14, "mean": 0.1275, "n": 2}
    assert images["summary"]["wall_s"] == {"min": 82.9, "max": 132.2, "mean": 107.55, "n": 2}
    assert images["summary"]["claims"] == {"2": {"held": 2, "evaluated": 2}, "3": {"held": 2, "evaluated": 2}}
    assert images["per_seed"]["0"]["device"] == "cpu" and images["per_seed"]["0"]["run"] == "images/cpu-seed0"
    # molecules: nothing rebuilt exactly, all valid; claim 1 held in seed 0 only; no ceiling in these older runs
    assert molecules["per_seed"]["1"]["metrics"] == {"exact.d1": 0.0, "valid.d1": 1.0, "wall_s": 3.8, "train_s": 0.5}
    assert molecules["summary"]["claims"] == {"1": {"held": 1, "evaluated": 2}}


def test_molecules_numbers_per_latent_size_with_the_ceiling():
    rec = {"posterior mean": {"graph_exact": 0.5061, "validity": 1.0, "exact_of_decodable": 0.9887}}
    metrics = {"latent_dims": {"4": {"reconstruction": rec}, "1": {"reconstruction": {"posterior mean": {
        "graph_exact": 0.25, "validity": 0.75, "exact_of_decodable": None}}}},
        "ceiling": {"decodable": 0.921, "n_test": 13083}, "wall_time_s": 534.04, "train_time_s": 439.0}
    assert molecules_metrics(metrics) == {"exact.d1": 0.25, "valid.d1": 0.75, "exact_of_ceiling.d1": None,
                                          "exact.d4": 0.5061, "valid.d4": 1.0, "exact_of_ceiling.d4": 0.9887,
                                          "ceiling": 0.921, "wall_s": 534.0, "train_s": 439.0}


def test_overridden_sizes_are_skipped_and_a_gpu_run_is_timed_as_one(tmp_path):
    import yaml

    out = tmp_path / "outputs"
    shutil.copytree(FIXTURE, out)
    hydra = out / "images" / "cpu-seed0" / ".hydra"
    (hydra / "overrides.yaml").write_text(yaml.safe_dump(["experiment=images", "profile.images.n_train=123"]))
    cfg = yaml.safe_load((hydra / "config.yaml").read_text())
    cfg["profile"]["images"]["n_train"] = 123
    (hydra / "config.yaml").write_text(yaml.safe_dump(cfg))
    mol = out / "molecules" / "cpu-seed1" / ".hydra"
    (mol / "overrides.yaml").write_text(yaml.safe_dump(["experiment=molecules", "seed=1", "trainer=gpu"]))
    cfg = yaml.safe_load((mol / "config.yaml").read_text())
    cfg["trainer"]["accelerator"] = "gpu"
    (mol / "config.yaml").write_text(yaml.safe_dump(cfg))
    entries, skipped = profile_entries(group_cells(find_runs(out)), out, "abc1234", "2026-01-01")
    # seed 0 of images overrode a size: its cell is another experiment, never the cpu profile's numbers
    assert entries["images/cpu"]["seeds"] == [1]
    assert [(s["study"], s["seeds"]) for s in skipped] == [("images", [0])]
    assert "profile.images.n_train=123" in skipped[0]["why"]
    # seed=1 and trainer=gpu say how it ran, not what: the cell stays whole, and seed 1 is timed on the GPU
    assert entries["molecules/cpu"]["seeds"] == [0, 1]
    assert [entries["molecules/cpu"]["per_seed"][s]["device"] for s in ("0", "1")] == ["cpu", "gpu"]
    assert entries["molecules/cpu"]["commit"] == "abc1234"
