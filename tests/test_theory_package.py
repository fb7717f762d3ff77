"""Tests of the lrsweep.theory package: re-exports, imports (no scipy at import, one direction).
"""

from __future__ import annotations

import subprocess
import sys

from lrsweep import theory as T


def test_module_imports_only_numpy():
    # every module of the package, imported alone in a fresh interpreter, leaves scipy unloaded
    import pkgutil

    names = [m.name for m in pkgutil.iter_modules(T.__path__, T.__name__ + ".")]
    assert len(names) >= 7
    for name in [T.__name__, *names]:
        code = (
            "import importlib, sys\n"
            f"importlib.import_module({name!r})\n"
            "assert 'scipy' not in sys.modules, 'scipy imported at module level'\n"
        )
        subprocess.run([sys.executable, "-c", code], check=True)
