"""The README's examples run as scripts (CI covers them) and show invariance errors at float precision."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("script", ["escnn_own_model.py", "pyg_own_encoder.py", "e3nn_own_model.py"])
def test_example_runs_and_is_invariant(script):
    out = subprocess.run([sys.executable, str(EXAMPLES / script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    errors = [float(e) for e in re.findall(r"invariance error[^:]*: ([0-9.e+-]+)", out.stdout)]
    assert errors and max(errors) < 1e-4, out.stdout
    assert "| group" in out.stdout  # the retention table
