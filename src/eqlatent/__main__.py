"""``python -m eqlatent ...`` is the ``eqlatent`` command (:mod:`eqlatent.cli`), for environments without its script."""

import sys

from eqlatent.cli import main

sys.exit(main())
