"""``python -m lrsweep.study``: run a named or declared study (the command line is :mod:`lrsweep.cli`).

The studies themselves are in :mod:`lrsweep.studies`; this module is the
entry point that ``python -m`` needs, and re-exports :func:`main` (the
in-process form, returning the exit status) and :data:`STUDIES`.
"""

from __future__ import annotations

import sys

from .cli import headless
from .cli import study_main as main
from .studies import STUDIES

__all__ = ["STUDIES", "main"]

if __name__ == "__main__":
    headless()
    sys.exit(main())
