"""The profile tables' ZINC column, rendered from hand-made measured.json entries.

Each expected cell is worked out by hand from the entry's numbers.  The d = 1 exact rate of the
hand-made ZINC entries is a value of its own (0.4 %) that no other number renders to, so a cell
that showed it -- or a d = 2 / d = 4 pair swapped -- fails.
"""

from __future__ import annotations

from typing import Any

from eqlatent.report.profiles import MEASURED, summarize
from eqlatent.report.render import readme_block, results_block

RECORDED = "recorded by an earlier session (runs not kept)"
ZINC_README = "zinc: exact at d = 2 / d = 4, valid"
ZINC_DOCS = "zinc: test reconstruction (posterior mean)"


def _entry(study: str, profile: str, per_seed: dict[int, dict[str, float]], claims: dict[str, bool] | None = None,
           source: str = MEASURED) -> dict[str, Any]:
    rows = {str(s): {"device": "cpu", "metrics": m, "claims": dict(claims or {}), "run": f"{study}/{profile}-seed{s}"}
            for s, m in per_seed.items()}
    return {"study": study, "profile": profile, "source": source, "commit": "abc1234", "date": "2026-01-01",
            "seeds": sorted(per_seed), "per_seed": rows, "summary": summarize(rows)}


def _zinc(**over: float) -> dict[str, float]:
    m = {"exact.d1": 0.004, "valid.d1": 0.5, "exact.d2": 0.123, "valid.d2": 1.0, "exact_of_ceiling.d2": 0.25,
         "exact.d4": 0.456, "valid.d4": 1.0, "exact_of_ceiling.d4": 0.75, "ceiling": 0.5, "wall_s": 1260.0,
         "train_s": 1000.0}
    return {**m, **over}


def _measured(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"schema": 1, "entries": {f"{e['study']}/{e['profile']}": e for e in entries}}


def _table(lines: list[str]) -> list[dict[str, str]]:
    """The markdown table in ``lines`` as one dict per row, keyed by the header's cells."""
    rows = [ln.strip("|").split(" | ") for ln in lines if ln.startswith("| ")]
    header = [c.strip() for c in rows[0]]
    return [dict(zip(header, (c.strip() for c in row), strict=True)) for row in rows[1:]]


def _qm9() -> dict[str, Any]:
    return _entry("molecules", "cpu", {0: {"exact.d1": 0.5, "valid.d1": 1.0, "exact.d4": 0.9, "valid.d4": 1.0,
                                           "wall_s": 960.0}}, {"1": True})


def test_the_readme_shows_zinc_at_d2_and_d4_its_time_and_its_claim_apart_from_qm9s():
    lines = readme_block(_measured(_qm9(), _entry("molecules_zinc", "cpu", {0: _zinc()}, {"1": False})))
    (row,) = _table(lines)
    assert row[ZINC_README] == "12.3 % / 45.6 %, 100 % valid"        # d = 1's 0.4 % and 50 % valid left out
    assert row["molecules: exact at d = 1 / d = 4, valid"] == "50.0 % / 90.0 %, 100 % valid"
    assert row["2 CPU cores"] == "molecules 16.0 min, zinc 21.0 min"
    text = " ".join(lines)
    assert "`cpu`: 1 held, 1 on ZINC did not hold." in text        # not "1 held, 1 did not hold"
    assert "0.4" not in row[ZINC_README]


def test_a_profile_without_a_zinc_entry_says_not_yet_run_in_both_tables():
    measured = _measured(_qm9(), _entry("molecules_zinc", "full", {0: _zinc()}))
    readme = {r["profile"]: r for r in _table(readme_block(measured))}
    docs = {r["profile"]: r for r in _table(results_block(measured))}
    assert readme["`cpu` (default)"][ZINC_README] == "not yet run"
    assert docs["`cpu` (default)"][ZINC_DOCS] == "not yet run"
    assert readme["`cpu` (default)"]["2 CPU cores"] == "molecules 16.0 min"
    # a profile only ZINC ran at still gets its row, every other column "not yet run"
    assert readme["`full`"][ZINC_README] == "12.3 % / 45.6 %, 100 % valid"
    assert readme["`full`"]["molecules: exact at d = 1 / d = 4, valid"] == "not yet run"
    assert readme["`full`"]["2 CPU cores"] == "zinc 21.0 min"


def test_several_seeds_show_the_exact_range_and_name_the_seeds():
    second = _zinc(**{"exact.d2": 0.2, "exact.d4": 0.4, "wall_s": 600.0})
    zinc = _entry("molecules_zinc", "cpu", {0: _zinc(), 1: second}, {"1": True})
    (row,) = _table(readme_block(_measured(zinc)))
    assert row[ZINC_README] == "12.3–20.0 % / 40.0–45.6 %, 100 % valid (exact: seeds 0, 1)"
    assert row["2 CPU cores"] == "zinc 21.0 min"                       # the README times the first seed
    (docs,) = _table(results_block(_measured(zinc)))
    assert docs["seeds"] == "0, 1"
    assert docs[ZINC_DOCS] == ("exact 12.3–20.0 % (d = 2; 25.0 % of the ceiling), 40.0–45.6 % (d = 4; 75.0 % of "
                               "the ceiling); ceiling 50.0 %; rdkit-valid 100 %")
    assert docs["paper claims"] == "1 on ZINC (2/2) held"
    assert docs["time on 2 CPU cores"] == "zinc 10.0–21.0 min (seeds 0, 1)"


def test_the_docs_name_zinc_in_the_seeds_cell_when_the_studies_ran_different_seeds():
    (docs,) = _table(results_block(_measured(_qm9(), _entry("molecules_zinc", "cpu", {3: _zinc()}))))
    assert docs["seeds"] == "molecules 0; zinc 3"
    assert docs[ZINC_DOCS].startswith("exact 12.3 % (d = 2;") and "(d = 1" not in docs[ZINC_DOCS]


def test_validity_that_differs_by_size_follows_the_exact_rates_order():
    zinc = _entry("molecules_zinc", "cpu", {0: _zinc(**{"valid.d2": 0.985, "valid.d4": 1.0})})
    (row,) = _table(readme_block(_measured(zinc)))
    assert row[ZINC_README] == "12.3 % / 45.6 %, valid 98.5 / 100 %"
    (docs,) = _table(results_block(_measured(zinc)))
    assert docs[ZINC_DOCS].endswith("rdkit-valid 98.5–100 %")          # d = 1's 50 % valid is not in the range


def test_sizes_other_than_the_headers_are_named():
    metrics = {k: v for k, v in _zinc().items() if not k.endswith(".d2")}
    metrics.update({"exact.d8": 0.789, "valid.d8": 1.0})
    (row,) = _table(readme_block(_measured(_entry("molecules_zinc", "paper", {0: metrics}))))
    assert row[ZINC_README] == "d = 4: 45.6 %, d = 8: 78.9 %, 100 % valid"


def test_a_zinc_entry_recorded_by_an_earlier_session_is_marked_with_its_commit():
    zinc = _entry("molecules_zinc", "full", {0: _zinc()}, source=RECORDED)
    lines = readme_block(_measured(zinc))
    (row,) = _table(lines)
    assert row[ZINC_README] == "12.3 % / 45.6 %, 100 % valid¹" and row["2 CPU cores"] == "zinc 21.0 min¹"
    assert "¹ abc1234, 2026-01-01" in " ".join(lines)
    docs = results_block(_measured(zinc))
    assert "- ¹ `molecules_zinc/full`: recorded by an earlier session" in "\n".join(docs)
