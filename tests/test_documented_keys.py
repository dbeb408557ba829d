"""Every config key the docs show being set changes what a run does: no setting is silently ignored.

Why: ``eqlatent reproduce images trainer.max_epochs=1`` once trained each encoder for the profile's
epochs, because the images study read another key; Hydra accepted the override and nothing said
it was unused.  This test collects every ``key=value`` the README and docs/*.md show on a command line
(and the config keys docs/configuration.md names), composes the real configs with and without it, and
compares what the study code derives from each config (:func:`study_inputs`: the epochs it hands the
trainer, the trainer's and the dataset's arguments, the settings a model is trained with, the block keys
the study code reads).  Nothing is trained and no data is loaded.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from eqlatent.runtime.config import CONFIG_DIR, compose, project_root
from eqlatent.studies.images.latents import epochs_for
from eqlatent.studies.images.latents import training_settings as encoder_settings
from eqlatent.studies.molecules.training import training_epochs
from eqlatent.studies.molecules.training import training_settings as vae_settings

ROOT = project_root()
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
STUDIES = ROOT / "src" / "eqlatent" / "studies"

#: the configs a documented override is tried on, in order (``trainer.strategy`` exists under ``trainer=ddp``)
BASES = [("experiment=images",), ("experiment=molecules",),
         ("experiment=images", "trainer=ddp"), ("experiment=molecules", "trainer=ddp"),
         ("experiment=molecules_zinc",)]   # the ZINC experiment reads its own profile block (profile.zinc.*)
#: values for the docs' placeholders (``<partition>``, ``N``) and for keys the docs name without a value
PLACEHOLDERS = {"experiment": ["images", "molecules"], "data.path": ["/tmp/own-data"], "data.angles": ["4"],
                "hydra.launcher.partition": ["gpu"], "paths.root_dir": ["/tmp/elsewhere"]}

_SPAN = re.compile(r"`([^`\n]+)`")
_TOKEN = re.compile(r"(?<![\w.$/-])([a-z_]\w*(?:[./]\w+)*)=(<[^>]*>|[^\s`'\"()]+)")
_KEY = re.compile(r"(?<![\w.$/-])([a-z_]\w*(?:\.\w+)+)(?![\w=(/])")


def _snippets(text: str) -> list[str]:
    """Command lines: each line of a non-Python code block (comments cut) and each inline code span."""
    out, fence = [], None
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fence = None if fence is not None else line.strip().strip("`")
            continue
        if fence is None:
            out.extend(_SPAN.findall(line))
        elif fence not in ("python", "py"):
            out.append(line.split(" #")[0])
    return [s for s in out if not set("()") & set(s)]   # a call's keyword arguments are Python, not overrides


@functools.cache
def _config_roots() -> frozenset[str]:
    """Top-level keys and group names of the composed configs: what an override can start with."""
    roots = {p.name for p in CONFIG_DIR.iterdir() if p.is_dir()}
    for base in BASES[:2]:
        roots |= set(_compose(base))
    return frozenset(roots)


def _values(key: str, raw: str) -> list[str]:
    if raw.startswith("<") or raw.isupper():   # <partition>, N
        return PLACEHOLDERS.get(key, [])
    return [v for v in re.split(r"[|,]", raw) if v]   # cpu|full|paper, and a sweep's 0,1,2


def _leaf_value(key: str) -> Any:
    """The value of ``key`` in the first base config holding it as a leaf; None for a node or no such key."""
    for base in BASES[:2]:
        node = OmegaConf.select(_compose(base), key, throw_on_missing=False)
        if node is not None:
            return None if isinstance(node, DictConfig | ListConfig) else node
    return None


def _another_value(key: str) -> list[str]:
    """A value to set a key the docs name without one: its default changed, or one from PLACEHOLDERS."""
    if key in PLACEHOLDERS:
        return PLACEHOLDERS[key]
    value = _leaf_value(key)
    if isinstance(value, bool):
        return [str(not value).lower()]
    return [str(value + 1)] if isinstance(value, int | float) else []


def documented_overrides() -> list[tuple[str, tuple[str, ...], str, tuple[str, ...]]]:
    """``(where, overrides before it on the same command line, key, values)`` for each documented setting.

    A command that names its study (``eqlatent reproduce images``, ``make reproduce-molecules``) starts
    from that experiment and its ``--profile``, so a key is checked in the study the docs show it in.
    """
    roots, found = _config_roots(), []
    for page in PAGES:
        for snippet in _snippets(page.read_text()):
            study = re.search(r"(?:reproduce|sweep)[ -](images|molecules)\b", snippet)
            profile = re.search(r"--profile (\w+)", snippet)
            before = [f"experiment={study.group(1)}"] if study else []
            before += [f"profile={profile.group(1)}"] if profile else []
            for key, raw in _TOKEN.findall(snippet):
                if re.split(r"[./]", key)[0] not in roots:
                    continue   # a Python keyword argument or an environment variable
                values = _values(key, raw)
                found.append((f"{page.name}: {snippet.strip()}", tuple(before), key, tuple(values)))
                before += [f"{key}={values[0]}"] if values else []
    # docs/configuration.md names some keys without a value (`paths.root_dir`): settable too, if they are leaves
    for snippet in _snippets((ROOT / "docs" / "configuration.md").read_text()):
        for key in _KEY.findall(snippet):
            named = {k for _, _, k, _ in found}
            if key.split(".")[0] in roots and key not in named and _leaf_value(key) is not None:
                found.append((f"configuration.md: {snippet.strip()}", (), key, tuple(_another_value(key))))
    return found


@functools.cache
def _compose(overrides: tuple[str, ...]) -> DictConfig:
    return compose(list(overrides))


def _plain(node: Any) -> Any:
    if not isinstance(node, DictConfig | ListConfig):
        return node
    try:
        return OmegaConf.to_container(node, resolve=True)
    except OmegaConfBaseException:  # a sweep's ${hydra:...} keys resolve only inside a multirun
        return OmegaConf.to_container(node, resolve=False)


@functools.cache
def _block_keys_read(block: str) -> frozenset[str]:
    """Keys of the ``images:`` / ``molecules:`` block that the study code reads (``icfg.n_eval``, ``mcfg.get("x")``)."""
    alias = {"images": "icfg", "molecules": "mcfg"}[block]
    source = "\n".join(p.read_text() for p in (STUDIES / block).glob("*.py"))
    pattern = rf"(?:\b{alias}|cfg\.{block})(?:\.get\(\"(\w+)\"|\.(\w+))"
    return frozenset(a or b for a, b in re.findall(pattern, source)) - {"get"}


def study_inputs(cfg: DictConfig) -> dict[str, Any]:
    """What a run takes from ``cfg``, as the study code derives it.

    The dataset, the trainer, the projections and the probes are instantiated from their whole
    config nodes, so every key there is an argument (an unknown one fails at instantiation); the
    trainer's ``max_epochs`` is replaced by the epochs each study hands it.  Hydra itself reads
    the launcher, the sweep and the log verbosity.
    """
    inputs: dict[str, Any] = {
        "study": cfg.study, "seed": int(cfg.seed), "data": _plain(cfg.data), "paths": _plain(cfg.paths),
        "trainer": {k: v for k, v in _plain(cfg.trainer).items() if k != "max_epochs"},
        "projection": _plain(cfg.projection), "probe": _plain(cfg.probe), "matmul_precision": cfg.matmul_precision,
        "hydra": {"verbose": _plain(cfg.hydra.verbose), "launcher": _plain(cfg.hydra.launcher),
                  "sweep": _plain(cfg.hydra.sweeper.get("params"))},
    }
    if "images" in cfg:
        inputs["epochs"] = {name: epochs_for(cfg, name) for name in cfg.model}
        inputs["encoders"] = {name: encoder_settings(cfg, cfg.model[name]) for name in cfg.model}
    if "molecules" in cfg:
        inputs["epochs"] = {int(d): training_epochs(cfg, int(d)) for d in cfg.molecules.latent_dims}
        inputs["vaes"] = {int(d): vae_settings(cfg, int(d)) for d in cfg.molecules.latent_dims}
    for block in ("images", "molecules"):
        if block in cfg:
            inputs[block] = {k: _plain(cfg[block][k]) for k in cfg[block] if k in _block_keys_read(block)}
    return inputs


def _inputs_or_none(overrides: tuple[str, ...]) -> dict[str, Any] | None:
    try:
        return study_inputs(_compose(overrides))
    except ConfigCompositionException:
        return None   # this base has no such key (e.g. model.c8 in the molecules study)


DOCUMENTED = documented_overrides()
VALUES_BY_KEY: dict[str, set[str]] = {}
for _, _, _key, _vals in DOCUMENTED:
    VALUES_BY_KEY.setdefault(_key, set()).update(_vals)


def test_the_docs_show_settings_to_check():
    keys = {key for _, _, key, _ in DOCUMENTED}
    # the settings this test exists for, and a sample of the rest: if the parsing breaks, this fails
    assert {"trainer.max_epochs", "seed", "profile.molecules.epochs", "model.c8.lr", "data.path",
            "molecules.parallel_fits", "trainer.devices"} <= keys, sorted(keys)


@pytest.mark.parametrize(("where", "before", "key", "values"), DOCUMENTED,
                         ids=[f"{k}={'|'.join(v)}" for _, _, k, v in DOCUMENTED])
def test_documented_setting_changes_the_run(where, before, key, values):
    assert values, f"{where}: no value to try for {key}; add one to PLACEHOLDERS"
    others = sorted(VALUES_BY_KEY[key] - set(values))   # a value that is the default is compared with the others
    composed_somewhere = False
    own_study = any(o.startswith("experiment=") for o in before)   # the command names its study: only that one
    for base in sorted({b[1:] for b in BASES}) if own_study else BASES:
        start = _inputs_or_none((*base, *before))
        runs = [_inputs_or_none((*base, *before, f"{key}={v}")) for v in values]
        if start is None or None in runs:
            continue
        composed_somewhere = True
        if any(run != start for run in runs):
            return
        for value in others:
            run = _inputs_or_none((*base, *before, f"{key}={value}"))
            if run is not None and run != start:
                return
    assert composed_somewhere, f"{where}: {key} is not a key of any study's config"
    pytest.fail(f"{where}: setting {key} changes nothing the studies read (documented but ignored)")


@pytest.mark.parametrize("study", ["images", "molecules"])
def test_trainer_max_epochs_sets_the_epochs_of_both_studies(study):
    default = study_inputs(_compose((f"experiment={study}",)))["epochs"]
    for epochs in (2, 7):
        got = study_inputs(_compose((f"experiment={study}", f"trainer.max_epochs={epochs}")))["epochs"]
        if study == "molecules":
            # the profile's per-latent-size exceptions stay; every other VAE trains for the set number
            exceptions = {int(k): v for k, v in (_compose(("experiment=molecules",)).molecules.epochs_by_latent
                                                  or {}).items()}
            assert got == {d: exceptions.get(d, epochs) for d in default}
            continue
        # the profile's per-encoder exceptions stay; every other encoder trains for the set number
        exceptions = dict(_compose((f"experiment={study}",)).images.epochs_by_encoder or {})
        assert got == {name: exceptions.get(name, epochs) for name in default}
    if study == "images":
        dropped = _compose(("experiment=images", "trainer.max_epochs=2", "images.epochs_by_encoder=null"))
        assert set(study_inputs(dropped)["epochs"].values()) == {2}
        assert study_inputs(_compose(("experiment=images", "images.epochs=3")))["epochs"]["c8"] == 3
    if study == "molecules":
        dropped = _compose(("experiment=molecules", "trainer.max_epochs=2", "molecules.epochs_by_latent=null"))
        assert set(study_inputs(dropped)["epochs"].values()) == {2}
        one = _compose(("experiment=molecules", "+molecules.epochs_by_latent.1=5"))
        assert study_inputs(one)["epochs"][1] == 5


def test_a_key_nothing_reads_fails_the_check():
    # a key added to the study's block that no study code reads: setting it must count as changing nothing
    base = ("experiment=images",)
    assert study_inputs(_compose((*base, "+images.unread_size=5"))) == study_inputs(_compose(base))
    assert study_inputs(_compose((*base, "+trainer_unread=5"))) == study_inputs(_compose(base))
