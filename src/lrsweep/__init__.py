"""lrsweep: learning-rate studies of per-sample SGD at scale.

Runs thousands to millions of independent per-sample SGD trajectories of the
seed's problem (fit y = 5x, loss (y - theta x)^2) in a numba kernel, and
returns tidy pandas tables of their convergence, oscillation and divergence.

>>> import numpy as np, lrsweep
>>> cfg = lrsweep.SweepConfig(lr=np.geomspace(1e-3, 3, 64), seed=range(500),
...                           n_samples=[10, 100, 1000], epochs=5)
>>> res = lrsweep.sweep(cfg)            # doctest: +SKIP
>>> res.summary(by=["lr", "n_samples"])  # doctest: +SKIP

``import lrsweep`` is cheap: pandas, numba and matplotlib are imported (and
the kernel compiled or loaded from numba's cache) on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._validation import ParameterError, ParameterTypeError
from .config import SweepConfig

__version__ = "0.1.0"

# Public name -> submodule that defines it; loaded on first access (PEP 562)
# so that importing lrsweep does not import pandas or numba.
_LAZY = {
    "sweep": "runner",
    "sweep_shard": "runner",
    "ShardReport": "runner",
    "Results": "results",
    "load": "results",
    "wilson_interval": "intervals",
    "Dataset": "data",
    "make_dataset": "data",
    "sample_order": "data",
    "replay_trajectory": "replay",
    "Status": "metrics",
    "METRICS": "metrics",
}
_SUBMODULES = {"checkpoint", "cli", "config", "data", "distributed", "engine", "files", "finder", "grid",
               "intervals", "metrics", "planner", "plots", "provenance", "reference", "reference_features",
               "replay", "results", "runner", "schedules", "selection", "studies", "study", "theory",
               "weights"}

__all__ = ["ParameterError", "ParameterTypeError", "SweepConfig", "__version__", *_LAZY, *sorted(_SUBMODULES)]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'lrsweep' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover
    from . import config, data, engine, grid, metrics, reference, results, runner, theory  # noqa: F401
    from .data import Dataset, make_dataset, sample_order  # noqa: F401
    from .intervals import wilson_interval  # noqa: F401
    from .metrics import METRICS, Status  # noqa: F401
    from .results import Results, load  # noqa: F401
    from .runner import ShardReport, sweep, sweep_shard  # noqa: F401
