"""The frame both studies run in: the run's clock, and everything that happens once the numbers exist.

Why shared: the molecules and images studies measure different things, but a finished
run must leave the same trail whichever study it was -- ``results.md`` (also copied to
``<output_root>/<task_name>/results.md``, the latest run of that study) and
``metrics.json``, both written atomically so an interrupted run never leaves half a file;
the headline metrics, tables and figures in every configured logger; and one short block
on the console that says where the results are, whether each claim held, and how good
each trained model is (a verdict on a badly trained model means little).  A figure that
could not be made (:mod:`eqlatent.studies.artefacts`) costs only that figure: the run
notes it under "Missing artefacts" in ``results.md`` and in ``metrics.json``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from omegaconf import DictConfig

from eqlatent.runtime.io import atomic_write_json, atomic_write_text
from eqlatent.runtime.loggers import finish_loggers, log_config, log_run_summary, make_loggers
from eqlatent.studies.artefacts import OptionalArtefacts
from eqlatent.studies.results import StudyResults


@dataclass
class Outcome:
    """What a study hands to :meth:`StudyRun.finish`.

    ``results``: the study's typed results, saved as ``metrics.json`` (their verdicts are the
    summary's); ``logged``: flat headline metrics for the loggers; ``tables``:
    ``key -> (columns, rows)`` for wandb; ``quality``: model -> one line on how well it trained.
    """

    results_md: str
    results: StudyResults
    logged: dict[str, float]
    tables: dict[str, tuple[list, list]] = field(default_factory=dict)
    figures: Sequence[str | Path] = ()
    quality: Mapping[str, str] = field(default_factory=dict)


def verdict_word(held: bool | None) -> str:
    """``holds`` / ``does not hold`` / ``not tested``: the verdict as the summary prints it."""
    return "not tested" if held is None else "holds" if held else "does not hold"


def summary_lines(study: str, results_path: Path, wall_s: float, verdicts: Mapping[str, bool | None],
                  quality: Mapping[str, str]) -> list[str]:
    """The end-of-run block: where the results are, each claim's verdict, each model's quality."""
    lines = [f"== {study} study done in {wall_s:.0f} s ==",
             f"results: {results_path} (metrics.json and figures/ beside it)"]
    lines += [f"{claim}: {verdict_word(held)}" for claim, held in verdicts.items()]
    lines += [f"{model}: {text}" for model, text in quality.items()]
    return lines


def log_results(cfg: DictConfig, logged: dict[str, float], tables: dict[str, tuple[list, list]],
                figures: Sequence[str | Path]) -> None:
    """Send the config and a finished run's metrics, tables and figures to every configured logger."""
    loggers = make_loggers(cfg)
    try:
        log_config(loggers, cfg)
        log_run_summary(loggers, logged, tables, figures)
    finally:
        finish_loggers(loggers)


class StudyRun:
    """One run of a study: its output folder, its clock, its optional artefacts, and its end.

    Build every figure through :meth:`figure`: one that fails is logged once and noted in
    ``results.md`` and ``metrics.json``, and the run goes on.
    """

    def __init__(self, cfg: DictConfig) -> None:
        self.cfg = cfg
        self.out_dir = Path(cfg.paths.output_dir)
        self.started = time.time()
        self.earlier_s = 0.0
        self.artefacts = OptionalArtefacts()

    def add_earlier(self, fitted: Iterable[Any]) -> None:
        """Count the training the run's models got in earlier processes (``Fitted.earlier_seconds``) into its wall time.

        Why: a run killed and resumed, or one reusing a model trained before, would otherwise
        report only its last process, and README's "how long it takes" would be a fraction
        of what the result cost.  Lost partial epochs and earlier start-ups are not counted.
        """
        self.earlier_s += sum(f.earlier_seconds for f in fitted)

    def wall_s(self) -> float:
        """Seconds since the run started, plus the training its models got in earlier processes."""
        return time.time() - self.started + self.earlier_s

    def figure(self, name: str, builder: Callable[..., Any], *args: Any, **kwargs: Any) -> list[Path]:
        """Make the optional figure ``<out_dir>/figures/<name>``: ``[its path]``, or ``[]`` when it failed.

        Calls ``builder(*args, path=<that path>, **kwargs)`` (a builder returns the path it
        wrote) through :attr:`artefacts`, which notes a failure as ``figures/<name>``: the
        name a missing figure is reported under is always the file the run would have made.
        """
        path = self.out_dir / "figures" / name
        made = self.artefacts.build(f"figures/{name}", builder, *args, path=path, **kwargs)
        return [] if made is None else [path]

    def finish(self, outcome: Outcome) -> Path:
        """Write results.md (and the study's latest copy) and metrics.json, log, print the summary block.

        Artefacts that could not be made are appended to ``results.md`` (section "Missing
        artefacts") and listed in ``metrics.json`` under ``missing_artefacts``.  Returns the
        path of the run's ``results.md``.
        """
        results_md = outcome.results_md + self.artefacts.markdown()
        results_path = atomic_write_text(self.out_dir / "results.md", results_md)
        atomic_write_text(Path(self.cfg.paths.output_root) / str(self.cfg.task_name) / "results.md", results_md)
        atomic_write_json(self.out_dir / "metrics.json",
                          {**outcome.results.to_json(), "missing_artefacts": self.artefacts.records()})
        log_results(self.cfg, outcome.logged, outcome.tables, outcome.figures)
        verdicts = {f"claim {v.claim}": v.held for v in outcome.results.verdicts()}
        lines = summary_lines(str(self.cfg.task_name), results_path, self.wall_s(), verdicts, outcome.quality)
        print("\n" + "\n".join(lines))  # own line, also after a progress bar that ended without one
        return results_path
