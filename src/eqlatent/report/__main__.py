"""``python -m eqlatent.report``: see :mod:`eqlatent.report.build`."""

import sys

from eqlatent.report.build import main

sys.exit(main())
