"""Optional artefacts: a failed figure is noted once with its fix, a built one passes through untouched."""

from __future__ import annotations

import logging

import pytest

from eqlatent.errors import ConfigError
from eqlatent.studies.artefacts import OptionalArtefacts, fix_for


@pytest.mark.parametrize("err, fix", [
    (ImportError("libXrender.so.1: cannot open shared object file: No such file or directory"),
     "apt-get install -y libxrender1 libxext6 (as root)"),
    (ImportError("libXext.so.6: cannot open shared object file: No such file or directory"),
     "apt-get install -y libxrender1 libxext6 (as root)"),
    (OSError("libfoo-2.0.so.3: cannot open shared object file"),
     "install the system package that provides libfoo-2.0.so.3 (Debian/Ubuntu: `apt-file search libfoo-2.0.so.3`)"),
    (ModuleNotFoundError("No module named 'PIL'", name="PIL"),
     "the environment lacks Python module 'PIL': rm .venv/.eqlatent-installed && make setup"),
    (ConfigError("molecules.figure_property='foo' is not a target", "use one of mu, alpha"), "use one of mu, alpha"),
    (RuntimeError("libXrender.so.1 mentioned, but not an import failure"),
     "see the traceback with hydra.verbose=eqlatent.studies.artefacts; the numbers are not affected"),
])
def test_the_fix_names_the_package_the_environment_or_the_traceback(err, fix):
    assert fix_for(err) == fix


def test_a_failed_builder_is_logged_once_and_noted_in_one_line(caplog):
    artefacts = OptionalArtefacts()

    def broken(path, *, dpi):
        raise ValueError(f"cannot draw {path} at {dpi} dpi\n" + "x" * 500)

    with caplog.at_level(logging.DEBUG, logger="eqlatent.studies.artefacts"):
        assert artefacts.build("figures/a.png", broken, "a.png", dpi=90) is None
    (note,) = artefacts.missing
    assert note.reason.startswith("ValueError: cannot draw a.png at 90 dpi x") and note.reason.endswith("...")
    assert "\n" not in note.line() and len(note.reason) <= 200
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [note.line()]
    assert any(r.levelno == logging.DEBUG and r.exc_info for r in caplog.records)     # the traceback, on request
    assert artefacts.records() == [{"what": "figures/a.png", "reason": note.reason, "fix": note.fix}]
    md = artefacts.markdown()
    assert md.count("## Missing artefacts") == 1 and md.rstrip().endswith(f"- {note.line(markdown=True)}")
    assert note.line(markdown=True).startswith("`figures/a.png` was not made (ValueError: cannot draw")


def test_our_own_error_keeps_its_problem_and_fix():
    def misconfigured():
        raise ConfigError("molecules.figure_property='foo' is not a target", "use one of mu, alpha")

    artefacts = OptionalArtefacts()
    artefacts.build("figures/d.png", misconfigured)
    assert artefacts.missing[0].line() == ("figures/d.png was not made (ConfigError: molecules.figure_property='foo' "
                                           "is not a target) -- fix: use one of mu, alpha")


def test_a_built_artefact_passes_through_and_nothing_is_noted():
    artefacts = OptionalArtefacts()
    assert artefacts.build("figures/b.png", lambda p: p, "b.png") == "b.png"
    assert artefacts.missing == [] and artefacts.records() == [] and artefacts.markdown() == ""


def test_errors_that_are_not_exceptions_still_stop_the_run():
    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        OptionalArtefacts().build("figures/c.png", interrupted)
