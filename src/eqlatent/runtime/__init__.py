"""What a run stands on: where the configs are (:mod:`~eqlatent.runtime.config`), the shared command-line checks
(:mod:`~eqlatent.runtime.commandline`), atomic writes (:mod:`~eqlatent.runtime.io`), markdown tables
(:mod:`~eqlatent.runtime.markdown`), loggers (:mod:`~eqlatent.runtime.loggers`), resumption
(:mod:`~eqlatent.runtime.resume`) and the console (:mod:`~eqlatent.runtime.console`).

The ground floor beside :mod:`eqlatent.errors`: it imports nothing else of the package.  This file imports
nothing, so ``eqlatent.runtime.markdown`` costs no Lightning or Hydra import.
"""
