"""StudyRun.figure: the one way both studies make an optional figure, named once."""

from __future__ import annotations

from omegaconf import OmegaConf

from eqlatent.runtime.io import atomic_write_text
from eqlatent.studies.skeleton import StudyRun


def test_a_figure_is_made_in_figures_and_a_failed_one_is_noted_under_the_same_name(tmp_path):
    run = StudyRun(OmegaConf.create({"paths": {"output_dir": str(tmp_path / "run")}}))

    def draw(text, *, path, suffix=""):
        return atomic_write_text(path, text + suffix)

    made = run.figure("a.png", draw, "pixels", suffix="!")
    assert made == [tmp_path / "run" / "figures" / "a.png"] and made[0].read_text() == "pixels!"

    def no_xrender(*, path):
        raise ImportError("libXrender.so.1: cannot open shared object file: No such file or directory")

    assert run.figure("b.png", no_xrender) == [] and not (tmp_path / "run" / "figures" / "b.png").exists()
    assert [m["what"] for m in run.artefacts.records()] == ["figures/b.png"]
