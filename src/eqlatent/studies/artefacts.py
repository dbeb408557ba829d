"""Optional artefacts: a figure that cannot be made costs that figure, never the run.

Why: figures come at the end of a run that may have trained for hours.  A missing system
library (``rdkit.Chem.Draw`` loads libXrender and libXext), an rdkit drawing error or a
matplotlib failure must not throw the numbers away.  :meth:`OptionalArtefacts.build` runs
one builder; when it fails it logs one line naming what is missing and the fix, and keeps
a :class:`MissingArtefact` that the end of the run
(:meth:`eqlatent.studies.skeleton.StudyRun.finish`) writes to ``results.md`` (section
"Missing artefacts") and ``metrics.json`` (``missing_artefacts``).  Only optional outputs
go through it: an error in the numbers still stops the run.

>>> artefacts = OptionalArtefacts()
>>> def grid():
...     raise ImportError("libXrender.so.1: cannot open shared object file: No such file or directory")
>>> artefacts.build("figures/grid.png", grid) is None
True
>>> artefacts.missing[0].fix
'apt-get install -y libxrender1 libxext6 (as root)'
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, TypeVar

from eqlatent.errors import EqlatentError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: shared libraries a figure may load -> the Debian/Ubuntu packages that provide them
#: (rdkit's drawing code needs both X libraries, so either one missing names both)
SYSTEM_PACKAGES = {
    "libXrender.so.1": "libxrender1 libxext6",
    "libXext.so.6": "libxrender1 libxext6",
    "libX11.so.6": "libx11-6",
    "libGL.so.1": "libgl1",
}
_SHARED_LIBRARY = re.compile(r"\b(lib[\w+-]+(?:\.[\w+-]+)*?\.so(?:\.\d+)*)")
_REASON_CHARS = 200


@dataclass(frozen=True)
class MissingArtefact:
    """An optional output that was not made: ``what`` (its path in the run folder), ``reason``, ``fix``."""

    what: str
    reason: str
    fix: str

    def line(self, markdown: bool = False) -> str:
        """One line naming the artefact, why it is missing and the fix (the artefact as code in markdown)."""
        what = f"`{self.what}`" if markdown else self.what
        return f"{what} was not made ({self.reason}) -- fix: {self.fix}"


def fix_for(err: BaseException) -> str:
    """The one-line fix for a failed artefact: our own error's, a system package, the environment, or a hint."""
    if isinstance(err, EqlatentError):
        return err.fix
    text = str(err)
    lib = _SHARED_LIBRARY.search(text) if isinstance(err, (ImportError, OSError)) else None
    if lib:
        name = lib.group(1)
        packages = SYSTEM_PACKAGES.get(name)
        if packages:
            return f"apt-get install -y {packages} (as root)"
        return f"install the system package that provides {name} (Debian/Ubuntu: `apt-file search {name}`)"
    if isinstance(err, ModuleNotFoundError):
        return f"the environment lacks Python module {err.name!r}: rm .venv/.eqlatent-installed && make setup"
    return f"see the traceback with hydra.verbose={__name__}; the numbers are not affected"


def _reason(err: BaseException) -> str:
    """The exception as one line of at most ``_REASON_CHARS`` characters."""
    message = err.problem if isinstance(err, EqlatentError) else str(err)   # its fix is the note's fix
    text = f"{type(err).__name__}: {' '.join(message.split()) or 'no message'}"
    return text if len(text) <= _REASON_CHARS else text[: _REASON_CHARS - 3] + "..."


@dataclass
class OptionalArtefacts:
    """The optional outputs of one run that could not be made."""

    missing: list[MissingArtefact] = field(default_factory=list)

    def build(self, what: str, builder: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """``builder(*args, **kwargs)``, or ``None`` (logged once and noted) when it raises.

        ``what`` names the artefact as the reader will look for it, e.g. ``figures/pca_latents.png``.
        """
        try:
            return builder(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 -- whatever broke, the artefact is optional
            note = MissingArtefact(what, _reason(err), fix_for(err))
            self.missing.append(note)
            log.warning("%s", note.line())
            log.debug("traceback of the failed artefact %s", what, exc_info=True)
            return None

    def records(self) -> list[dict[str, str]]:
        """The missing artefacts as JSON-able dicts (``metrics.json``'s ``missing_artefacts``)."""
        return [asdict(m) for m in self.missing]

    def markdown(self) -> str:
        """The ``## Missing artefacts`` section of ``results.md`` (empty when nothing is missing)."""
        if not self.missing:
            return ""
        lines = ["", "## Missing artefacts", "",
                 "The numbers above are complete; these optional outputs were not made. Fix the cause and run the "
                 "same command again: trained models and latents are reused.", ""]
        return "\n".join(lines + [f"- {m.line(markdown=True)}" for m in self.missing]) + "\n"
