"""Small timing helpers: median wall time of a callable after warm-up (CUDA synchronised), and of a training step."""

from __future__ import annotations

import statistics
import time
from typing import Callable

import torch
from lightning.pytorch.callbacks import Callback

from eqlatent.runtime.markdown import markdown_table as table_lines


def median_seconds(fn: Callable[[], object], repeats: int = 5, warmup: int = 1, device: str = "cpu") -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` runs (after ``warmup`` runs)."""
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    with torch.no_grad():
        for _ in range(warmup):
            fn()
        sync()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            sync()
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def markdown_table(headers: list[str], rows: list[list[object]]) -> str:
    """A GitHub markdown table with numbers formatted to 3-4 significant digits."""
    def fmt(v: object) -> str:
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
        return str(v)

    return "\n".join(table_lines(headers, [[fmt(v) for v in row] for row in rows]))


class StepTimer(Callback):
    """Median seconds of one training batch (forward, backward, optimiser step), after ``skip`` warm-up batches.

    Why: timing a whole short fit and scaling it up also scales its fixed costs (building the
    trainer, the first batches' allocations, saving the checkpoint) by 1 / fraction, which
    made ``--fraction 0.05`` report some models 20-60x slower than they train.  The median
    step time times the batches of a full epoch is the steady-state epoch time.  Finished
    fits append their median to :attr:`results` (the instance itself is built from config
    inside the studies' training code, out of the caller's reach).  On a GPU each step ends
    when the device has finished it (CUDA kernels run asynchronously to the Python code).
    """

    results: list[float] = []

    def __init__(self, skip: int = 3) -> None:
        self.skip = skip
        self.times: list[float] = []
        self._start = 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:  # noqa: ANN001
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)
        self.times.append(time.perf_counter() - self._start)

    def step_seconds(self) -> float:
        """Median seconds of the batches after the ``skip`` warm-up ones (of all of them when there are no more)."""
        steady = self.times[self.skip:] or self.times
        return statistics.median(steady) if steady else float("nan")

    def on_train_end(self, trainer, pl_module) -> None:  # noqa: ANN001
        StepTimer.results.append(self.step_seconds())


class StepProfile(StepTimer):
    """Operators and median seconds of one training step inside a real Lightning fit (forward, backward, optimiser).

    Why count operators: on a GPU a small model's step is bound by how many kernels it
    launches, not by arithmetic (the paper-profile graph VAE idled an H200 at ~6,500 ops
    per step), so the count, measured with ``torch.profiler`` on any machine, tracks the
    GPU cost where no GPU is at hand.  Every profiler event of the step is counted, nested
    ones included (``aten::matmul`` and the ``aten::mm`` inside it both count).  Batch
    ``profile_at`` is profiled; the batches before it are warm-up; the median time is over
    the batches after it.  The caller reads :attr:`ops` and :meth:`step_seconds` (nothing
    goes to :attr:`StepTimer.results`).
    """

    def __init__(self, profile_at: int = 2) -> None:
        super().__init__(skip=profile_at + 1)
        self.profile_at = profile_at
        self.ops = 0
        self._prof = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:  # noqa: ANN001
        if batch_idx == self.profile_at:
            self._prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
            self._prof.__enter__()
        super().on_train_batch_start(trainer, pl_module, batch, batch_idx)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # noqa: ANN001
        if self._prof is not None:   # closed first: the step's own events are counted, not the timer's
            self._prof.__exit__(None, None, None)
            self.ops = len(self._prof.events())
            self._prof = None
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def step_seconds(self) -> float:
        """Median seconds of the steps after the profiled one (NaN when there were none)."""
        steady = self.times[self.skip:]
        return statistics.median(steady) if steady else float("nan")

    def on_train_end(self, trainer, pl_module) -> None:  # noqa: ANN001
        pass
