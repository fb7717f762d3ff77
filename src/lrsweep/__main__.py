"""``python -m lrsweep study ...`` / ``python -m lrsweep merge ...`` (see :mod:`lrsweep.cli`)."""

import sys

from .cli import main

sys.exit(main())
