"""Smoke run of ``make bench --quick``: every section is produced and written (no timing asserted)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench.py"


def test_bench_quick_writes_every_section(tmp_path):
    spec = importlib.util.spec_from_file_location("eqlatent_bench", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "bench.md"
    text = bench.main(["--quick", "--out", str(out)])
    assert out.read_text() == text
    for section in ("## (a) Projection cost", "## (b) Latent-extraction throughput", "## (c) Scaling",
                    "## (e) Data loading vs a training step", "## (g) Paper-profile training steps",
                    "## (h) ZINC at scale"):
        assert section in text
    step_rows = [line.strip("|").split("|") for line in text.splitlines() if line.startswith("| paper ")]
    assert {r[0].strip() for r in step_rows} == {"paper graph VAE d=1", "paper c8"}
    assert all(int(r[4].replace(",", "")) > 100 for r in step_rows)   # ops per step, counted by the profiler
    rows = [line for line in text.splitlines() if line.startswith("| QM9 VAE") or line.startswith("| c8 |")]
    assert rows and all(line.rstrip(" |").split("|")[-1].strip() in ("yes", "NO") for line in rows)
    so2 = [line.strip("|").split("|") for line in text.splitlines() if line.startswith("| escnn SO(2)")]
    assert [r[1].strip() for r in so2] == ["invariant_projection random_invariant K=512",
                                           "invariant_projection random_invariant K=2048"]
    assert all(float(r[3].replace(",", "")) > 0 for r in so2)   # projection ms


@pytest.mark.parametrize("device, waits", [("cuda", True), ("cpu", False)])
def test_step_timers_wait_for_the_gpu_to_finish_each_step(monkeypatch, device, waits):
    """CUDA kernels run asynchronously: a step's time must end when the device is done (paper_check, gpu_check, bench)."""
    sys.path.insert(0, str(BENCH.parent))
    import timing

    synced = []
    monkeypatch.setattr(timing.torch.cuda, "synchronize", lambda dev=None: synced.append(dev))
    module = SimpleNamespace(device=torch.device(device))
    for timer in (timing.StepTimer(skip=0), timing.StepProfile(profile_at=0)):
        timer.on_train_batch_start(None, module, None, 1)
        timer.on_train_batch_end(None, module, None, None, 1)
        assert len(timer.times) == 1
    assert synced == ([torch.device(device)] * 2 if waits else [])
