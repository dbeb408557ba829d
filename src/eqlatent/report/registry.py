"""The studies REPORT.md knows: each registers the section that shows its runs and the claims it decides.

A study's runs are found by their ``task_name`` (the run folder's study).  Its section
function turns one cell (all seeds of one configuration) into markdown lines and one
:class:`~eqlatent.studies.results.Verdict` per claim for the verdict table::

    @register_section("Claim 4: ...", "my_study", empty="No my_study runs found.")
    def claim4_section(cell: Cell) -> tuple[list[str], list[Verdict]]:
        ...

The report shows the registered sections in registration order; runs of a study nobody
registered are named in the report rather than left out silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from eqlatent.report.collect import Cell
from eqlatent.studies.results import Verdict

Section = Callable[[Cell], tuple[list[str], list[Verdict]]]


@dataclass(frozen=True)
class ReportedStudy:
    """How REPORT.md shows the runs of some studies: under ``title``, through ``section``."""

    title: str
    tasks: tuple[str, ...]
    section: Section
    empty: str


#: every registered section, in the order REPORT.md shows them
STUDIES: list[ReportedStudy] = []


def register_section(title: str, *tasks: str, empty: str) -> Callable[[Section], Section]:
    """Decorator: show the runs of the studies named ``tasks`` (their ``task_name``) with this section function."""

    def register(section: Section) -> Section:
        STUDIES.append(ReportedStudy(title, tasks, section, empty))
        return section

    return register


def reported_study(task: str) -> ReportedStudy | None:
    """The registered entry that shows runs of study ``task``; ``None`` if none does."""
    return next((s for s in STUDIES if task in s.tasks), None)
