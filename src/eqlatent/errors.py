"""Errors that reach the user as one line naming the problem and the fix.

Every error a researcher can trigger through bad input (a missing file, a malformed
SMILES, a latent of the wrong shape, a misspelt config key) derives from
:class:`EqlatentError`, so the command-line entry points can print ``str(err)`` alone
instead of a traceback.
"""

from __future__ import annotations


class EqlatentError(Exception):
    """Base class: its message is a single line, ``<problem> -- <fix>``."""

    def __init__(self, problem: str, fix: str) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem} -- fix: {fix}")


class DataFileError(EqlatentError):
    """A data file is missing, truncated, or not in the expected format."""


class LatentShapeError(EqlatentError, ValueError):
    """A latent tensor does not have the layout a projection or metric needs."""


class ConfigError(EqlatentError, ValueError):
    """A configuration value is unknown or out of range."""

