"""One command on a GPU host: ``make gpu-check`` (``python benchmarks/gpu_check.py``).

Why: a GPU is lent rarely and briefly, so what it must show is one prepared run: the
``gpu``-marked tests (encoders equivariant on CUDA, fit -> encode -> killed-run resume on
CUDA, same seed -> same metrics), then ``paper_check`` (every paper-profile model trained
on a fraction of an epoch, step times projected to the whole profile), then one table:
device, seconds per epoch, projected hours.  Without CUDA it says so in one line and exits
with status 2, unless ``--allow-cpu`` (used by its smoke test).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import paper_check  # noqa: E402
from timing import markdown_table  # noqa: E402

from eqlatent.runtime.config import project_root  # noqa: E402
from eqlatent.runtime.io import atomic_write_text  # noqa: E402


def device_name() -> str:
    """The CUDA device this check runs on, or ``cpu``."""
    if not torch.cuda.is_available():
        return "cpu"
    return f"{torch.cuda.get_device_name(0)} (torch {torch.__version__}, CUDA {torch.version.cuda})"


def run_gpu_tests(extra: list[str]) -> str:
    """Run ``pytest -m gpu`` in a subprocess; returns pytest's closing line (counts)."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider", *extra]
    proc = subprocess.run(cmd, cwd=project_root(), capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if re.search(r"\d+ (passed|failed|skipped|deselected)", line)]
    summary = lines[-1].strip("= ") if lines else f"pytest exited {proc.returncode} without a summary"
    if proc.returncode not in (0, 5):        # 5: no test selected
        print(proc.stdout[-4000:], proc.stderr[-2000:], sep="\n")
    return summary


def summary_table(device: str, tests: str, rows: list[dict]) -> str:
    """Markdown: the device, the GPU tests' counts, and per model its epoch time and projected hours."""
    table = [[r["study"], r["model"], r["epoch_s"], r["epochs"], r["epoch_s"] * r["epochs"] / 3600] for r in rows]
    total = sum(r["epoch_s"] * r["epochs"] for r in rows) / 3600
    return "\n".join([f"# GPU check\n\nDevice: {device}\n\nGPU tests: {tests}\n",
                      markdown_table(["study", "model", "s / epoch", "paper epochs", "projected h"], table),
                      f"\nProjected training time of the whole paper profile, one model after another: **{total:.3g} h**"
                      " (models that train side by side on the one GPU take less wall time)."]) + "\n"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(  # prog: the script's name, or `eqlatent gpu-check` through the eqlatent command
        description="On a CUDA host: the gpu-marked tests, then paper-check on a fraction of each epoch, then one "
                    "table (device, seconds per epoch, projected hours); writes outputs/bench/gpu_check.md.",
        epilog="example: eqlatent gpu-check --fraction 0.1   (without CUDA it exits 2; --allow-cpu smoke-tests it)")
    parser.add_argument("--fraction", type=float, default=0.1, help="share of each epoch's batches paper_check times")
    parser.add_argument("--allow-cpu", action="store_true", help="run without CUDA too (smoke test of this script)")
    parser.add_argument("--skip-tests", action="store_true", help="do not run the gpu-marked tests")
    parser.add_argument("--pytest-arg", action="append", default=[], help="extra pytest argument (repeatable)")
    parser.add_argument("--paper-check-arg", action="append", default=[],
                        help="extra paper_check argument (repeatable), e.g. --paper-check-arg=--study=images")
    parser.add_argument("--out", default=str(project_root() / "outputs" / "bench" / "gpu_check.md"),
                        help="markdown file written (default outputs/bench/gpu_check.md)")
    args = parser.parse_args(argv)
    device = device_name()
    if device == "cpu" and not args.allow_cpu:
        print("gpu-check: no CUDA device here (torch.cuda.is_available() is False) -- run it on a GPU host "
              "(see docs/gpu.md)", file=sys.stderr)
        raise SystemExit(2)
    tests = "not run (--skip-tests)" if args.skip_tests else run_gpu_tests(args.pytest_arg)
    print(f"[gpu-check] gpu tests: {tests}", flush=True)
    rows: list[dict] = []
    paper_check.main(["--fraction", str(args.fraction), *args.paper_check_arg], rows_out=rows)
    text = summary_table(device, tests, rows)
    atomic_write_text(Path(args.out), text)
    print(text)
    return text


if __name__ == "__main__":
    main()
