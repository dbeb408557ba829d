"""Typed study results: one verdict type for every claim, and metrics.json of older runs still loads.

The older layouts are those of the runs in ``tests/fixtures/report_runs`` (claim 1 as
``{held, text, ...}``, claims 2 and 3 as ``{evaluated, holds, ...}``).
"""

from __future__ import annotations

import json
from pathlib import Path

from eqlatent.studies.results import ImagesResults, MoleculesResults, Verdict

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "report_runs"


def test_verdict_reads_both_older_layouts_and_its_own():
    old1 = Verdict.from_json("1", {"held": True, "isometric": True, "text": "**Claim 1 HELD**"})
    assert (old1.held, old1.evaluated, old1.text, old1.details) == (True, True, "**Claim 1 HELD**", {"isometric": True})
    assert Verdict.from_json("1", {"held": None, "text": "not tested"}).evaluated is False
    old2 = Verdict.from_json("2", {"evaluated": True, "holds": False, "per_encoder": {}})
    assert (old2.held, old2.details) == (False, {"per_encoder": {}})
    assert Verdict.from_json("3", {"evaluated": False, "holds": False}).held is None    # not evaluated, not "failed"
    v = Verdict("3", False, "why", {"raw_inv_err": 0.2})
    assert v.to_json() == {"claim": "3", "evaluated": True, "held": False, "text": "why", "raw_inv_err": 0.2}
    assert Verdict.from_json("3", v.to_json()) == v


def test_metrics_json_of_older_runs_loads_and_keeps_its_keys():
    for study, cls in (("molecules", MoleculesResults), ("images", ImagesResults)):
        keys = tuple(cls.verdict_keys)
        for path in sorted((FIXTURE / study).rglob("metrics.json")):
            stored = json.loads(path.read_text())
            results = cls.from_json(stored)
            assert [v.claim for v in results.verdicts()] == [cls.verdict_keys[k] for k in keys]   # all claims
            again = results.to_json()
            assert set(again) == set(stored)                            # the same top-level keys, nothing lost
            same = [k for k in stored if k not in keys]
            assert [again[k] for k in same] == [stored[k] for k in same]
            assert cls.from_json(again) == results                      # the new layout reads back the same
    images = ImagesResults.from_json(json.loads((FIXTURE / "images" / "cpu-seed0" / "metrics.json").read_text()))
    assert images.claim2.held is True and set(images.claim2.details["per_encoder"]) == {"c8", "c16", "so2"}
