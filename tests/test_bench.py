"""Smoke run of ``make bench --quick``: every section is produced and written (no timing asserted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench.py"


def test_bench_quick_writes_every_section(tmp_path):
    spec = importlib.util.spec_from_file_location("eqlatent_bench", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "bench.md"
    text = bench.main(["--quick", "--out", str(out)])
    assert out.read_text() == text
    for section in ("## (a) Projection cost", "## (b) Latent-extraction throughput", "## (c) Scaling",
                    "## (e) Data loading vs a training step"):
        assert section in text
    rows = [line for line in text.splitlines() if line.startswith("| QM9 VAE") or line.startswith("| c8 |")]
    assert rows and all(line.rstrip(" |").split("|")[-1].strip() in ("yes", "NO") for line in rows)
