"""Provenance: the versions of lrsweep and of the packages that shape its results.

Written into every results file and study report, so that a table can be
traced to the code that produced it.
"""

from __future__ import annotations

__all__ = ["versions"]


def versions() -> dict[str, str]:
    """Versions of lrsweep and the packages that shape its results."""
    import importlib.metadata as md
    import platform

    out = {"python": platform.python_version()}
    for pkg in ("lrsweep", "numpy", "numba", "llvmlite", "pandas", "pyarrow"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:  # pragma: no cover - source checkout
            out[pkg] = "unknown"
    return out
