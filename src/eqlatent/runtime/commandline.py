"""What every command line of the package shares: one-line errors and Hydra overrides checked up front.

Why: a researcher who misspells an experiment, a profile or a key should get one line that
names the problem and the fix, and nothing on disk; Hydra itself creates the run folder (and
its log file) before the job can look at the config, and answers a bad override with a
multi-line message ending in a tip about ``HYDRA_FULL_ERROR``.  So the entry points compose
the config here first (composing writes nothing) and turn Hydra's errors into a
:class:`~eqlatent.errors.ConfigError`.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, NoReturn, Sequence

from omegaconf import DictConfig

from eqlatent.runtime.config import CONFIG_DIR, compose
from eqlatent.errors import ConfigError, EqlatentError


class OneLineParser(argparse.ArgumentParser):
    """An argparse parser whose errors are one ``error: ...`` line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {self.prog}: {message} -- fix: see `{self.prog} --help`", file=sys.stderr)
        raise SystemExit(2)


def require_configs() -> None:
    """Raise a one-line :class:`ConfigError` when the Hydra configs cannot be found (a pip install run elsewhere)."""
    if (CONFIG_DIR / "config.yaml").is_file():
        return
    env = os.environ.get("EQLATENT_ROOT")
    where = (f"EQLATENT_ROOT={env} has no configs/config.yaml" if env
             else f"no configs/config.yaml under {CONFIG_DIR.parent}")
    raise ConfigError(f"cannot find the eqlatent configs ({where})",
                      "run from the eqlatent source checkout, or set EQLATENT_ROOT to the checkout "
                      "(the folder holding configs/)")


def is_override(token: str) -> bool:
    """A Hydra override (``key=value``, ``+key=value``, ``~key``) rather than a flag or a name."""
    return not token.startswith("-") and ("=" in token or token.startswith("~"))


def parse_with_overrides(parser: argparse.ArgumentParser, argv: Sequence[str],
                         passthrough: bool = False) -> tuple[argparse.Namespace, list[str]]:
    """Parse ``argv`` with its Hydra overrides standing anywhere; they are appended to ``args.overrides``.

    Why: left to argparse, an override after a ``nargs="+"`` option is read as one of its values
    (``--data qm9 seed=1`` would name a dataset ``seed=1``), so the overrides are taken out first.
    ``passthrough``: the arguments argparse does not know are returned (for Hydra) instead of refused.
    """
    overrides = [a for a in argv if is_override(a)]
    rest = [a for a in argv if not is_override(a)]
    args, unknown = parser.parse_known_args(rest) if passthrough else (parser.parse_args(rest), [])
    args.overrides = [*args.overrides, *overrides]
    return args, unknown


def config_error(err: Exception, overrides: Sequence[str] = ()) -> ConfigError:
    """Hydra's (multi-line) composition or override error as one line naming the fix."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import MissingConfigException, OverrideParseException

    text = str(err).strip()
    first = text.splitlines()[0].rstrip(".") if text else type(err).__name__
    if isinstance(err, MissingConfigException) and err.missing_cfg_file and err.options:
        group, _, name = err.missing_cfg_file.rpartition("/")
        return ConfigError(f"unknown {group or 'config'} '{name}'", f"use one of {', '.join(err.options)}")
    if isinstance(err, OverrideParseException):
        parser = OverridesParser.create()
        for override in overrides:
            try:
                parser.parse_overrides([override])
            except OverrideParseException:
                return ConfigError(f"cannot parse the override '{override}'",
                                   "write key=value (quote values with spaces or commas: key='a,b'); grammar: "
                                   "https://hydra.cc/docs/advanced/override_grammar/basic/")
    if first.startswith("Could not override '"):
        key = first.split("'")[1]
        return ConfigError(f"{first}: the config has no key '{key}'",
                           f"check its spelling (`python -m eqlatent.cli.run experiment=... --cfg job` prints every key), "
                           f"or add a new key with +{key}=...")
    if first.startswith("Ambiguous value for argument"):
        return ConfigError(f"{first.replace('Ambiguous value for argument', 'the override')} is a sweep",
                           "add --multirun to run one job per value, or write key=[a,b] for a list")
    return ConfigError(first, "see `python -m eqlatent.cli.run --help`")


def _sweep_axes(overrides: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """The fixed overrides, and per sweep override its one-value overrides (``seed=0,1`` -> ``seed=0``, ``seed=1``).

    A sweep whose values cannot be listed here (an ``interval`` of an optimising sweeper, a ``glob``)
    is left to Hydra.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    fixed, axes = [], []
    for text in overrides:
        override = parser.parse_overrides([text])[0]
        if not override.is_sweep_override():
            fixed.append(text)
            continue
        try:
            axes.append([f"{override.get_key_element()}={v}" for v in override.sweep_string_iterator()])
        except Exception:  # noqa: BLE001 - not listable here: Hydra's sweeper checks it
            continue
    return fixed, axes


def check_overrides(overrides: Sequence[str], multirun: bool = False, config_name: str = "config") -> DictConfig:
    """Compose the config of these overrides (for a multirun: of each value of each sweep) or raise a ConfigError.

    Returns the config of the first job.  Nothing is written and no run folder is made.
    """
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    require_configs()
    overrides = list(overrides)
    try:
        fixed, axes = _sweep_axes(overrides)
        first = [axis[0] for axis in axes]
        cfg = compose([*fixed, *first], config_name=config_name)
        if axes and not multirun and str(cfg.hydra.mode) != "RunMode.MULTIRUN":
            compose(overrides, config_name=config_name)   # Hydra's own "ambiguous value" error
        for i, axis in enumerate(axes):                  # each value once: a typo in any option is caught
            for value in axis[1:]:
                compose([*fixed, *first[:i], value, *first[i + 1:]], config_name=config_name)
    except (HydraException, OmegaConfBaseException) as err:
        raise config_error(err, overrides) from None
    return cfg


def exit_status(action: Callable[[], object]) -> int:
    """Run a command's ``action``: 0, or 2 after its :class:`EqlatentError` as one ``error: ... -- fix: ...`` line.

    Why one helper: every command that only reports its own errors ends the same way, and a user's
    mistake must never surface as a traceback.
    """
    try:
        action()
    except EqlatentError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
