"""The command lines: the ``eqlatent`` command (:mod:`~eqlatent.cli.commands`), Hydra's entry point for the studies
(:mod:`~eqlatent.cli.run`, ``python -m eqlatent.cli.run``) and ``eqlatent retention`` (:mod:`~eqlatent.cli.retention`).

The top floor of the package: it imports the studies, the data, the report and the toolkit, and nothing imports it.
What every command line shares (one-line errors, Hydra overrides checked before anything is written) is in
:mod:`eqlatent.runtime.commandline`, below the packages that parse their own arguments.
"""

from eqlatent.cli.commands import main

__all__ = ["main"]
