"""Every config group option composes, and bad keys fail with Hydra's one-line message."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from eqlatent.runtime.config import CONFIG_DIR, compose

GROUPS = sorted(p.name for p in CONFIG_DIR.iterdir() if p.is_dir() and p.name != "hydra")
OPTIONS = [(g, f.stem) for g in GROUPS for f in sorted((CONFIG_DIR / g).glob("*.yaml"))]


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_group_option_composes_and_resolves(group, option):
    cfg = compose([f"{group}={option}"])
    container = OmegaConf.to_container(cfg, resolve=False)
    container.pop("hydra")  # its sweep keys only resolve inside a multirun
    container = OmegaConf.to_container(OmegaConf.create(container), resolve=True)
    out = container["paths"]["output_dir"]
    if group == "experiment" and option.startswith("sweep_"):
        assert out is None  # a sweep job's folder comes from Hydra at launch (tests/configs/test_sweeps.py)
    else:
        assert out.startswith(container["paths"]["root_dir"])


def test_groups_include_the_documented_ones():
    for group in ("data", "model", "projection", "probe", "trainer", "logger", "experiment", "paths", "profile"):
        assert (CONFIG_DIR / group).is_dir(), group


@pytest.mark.parametrize("profile", ["cpu", "paper"])
def test_profiles_define_every_study_block(profile):
    cfg = compose([f"profile={profile}"])
    assert cfg.profile.name == profile
    for block in ("molecules", "images", "zinc"):
        assert block in cfg.profile


def test_paper_profile_is_larger_than_cpu():
    cpu, paper = compose(["profile=cpu"]).profile, compose(["profile=paper"]).profile
    assert paper.molecules.n_molecules == 0  # 0 = full QM9 (the cpu profile uses all of it too, for fewer epochs)
    assert paper.molecules.epochs > cpu.molecules.epochs


@pytest.mark.parametrize("profile", sorted(f.stem for f in (CONFIG_DIR / "profile").glob("*.yaml")))
def test_profile_selects_its_model_variants_and_keeps_only_sizes(profile):
    # the model group owns the hyper-parameters: every profile names a graph VAE variant of the same keys,
    # and the model map has one shape (name -> node) in both studies
    molecules = compose(["experiment=molecules", f"profile={profile}"], with_hydra=False)
    images = compose(["experiment=images", f"profile={profile}"], with_hydra=False)
    assert list(molecules.model) == ["graph_vae"] and set(images.model) == {"c8", "c16", "so2", "cnn_aug", "cnn_plain"}
    reference = OmegaConf.load(CONFIG_DIR / "model" / "graph_vae" / "cpu.yaml")
    assert set(molecules.model.graph_vae) == set(reference)
    assert not set(molecules.profile.molecules) & set(reference)
    assert molecules.molecules.batch_size == molecules.profile.molecules.batch_size
    assert images.images.epochs == images.profile.images.epochs == images.trainer.max_epochs


def test_the_images_block_sizes_are_the_digits_loaded():
    """``images.n_train`` / ``images.n_test`` were read by nothing: the data config read the profile directly."""
    cfg = compose(["experiment=images", "images.n_train=300", "images.n_test=40"], with_hydra=False)
    assert (cfg.data.n_train, cfg.data.n_test) == (300, 40)
    assert compose(["experiment=images"], with_hydra=False).data.n_train == cfg.profile.images.n_train


def test_paths_do_not_depend_on_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = compose([])
    assert cfg.paths.root_dir == str(CONFIG_DIR.parent)


def test_unknown_override_key_is_rejected():
    with pytest.raises(ConfigCompositionException, match="no_such_key"):
        compose(["data.no_such_key=1"])


def test_unknown_group_option_is_rejected():
    with pytest.raises(ConfigCompositionException, match="no_such_dataset"):
        compose(["data=no_such_dataset"])


def test_cli_unknown_key_gives_one_line_error():
    proc = subprocess.run([sys.executable, "-m", "eqlatent.cli.run", "no_such_key=1"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode != 0
    assert "Could not override 'no_such_key'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_without_study_gives_one_line_error():
    proc = subprocess.run([sys.executable, "-m", "eqlatent.cli.run", "logger=csv"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines[-1].startswith("error: no study selected") and "experiment=" in lines[-1]
    assert "Traceback" not in proc.stderr
