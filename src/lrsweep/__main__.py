"""``python -m lrsweep study ...`` / ``python -m lrsweep merge ...`` (see :mod:`lrsweep.cli`)."""

from .cli import entry

entry()
