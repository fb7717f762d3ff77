"""The grid: trajectory ids, their axis values, groups and chunks.

Trajectory ``t`` of a sweep is element ``t`` of the Cartesian product of the
axes in canonical order (:data:`lrsweep.config.AXES`, C order, ``lr``
innermost). Consecutive trajectories that differ only in the *lane axes*
(``theta0``, ``lr``) form a *group*: they share a dataset and a sample order.
A *chunk* is a contiguous id range ``[start, stop)`` run as one unit; it may
start or end inside a group. How a chunk's lanes are cut into kernel
*blocks* is the engine's business (:mod:`lrsweep.engine.layout`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .config import AXES, DATA_AXES, LANE_AXES, SweepConfig

__all__ = [
    "CHUNK_TRAJECTORIES", "Chunk", "axis_values", "chunks", "default_chunk_size", "group_indices",
    "group_key", "group_n_order", "group_values", "lane_axis", "lane_values", "lanes_per_group",
]

def lanes_per_group(config: SweepConfig) -> int:
    """Trajectories per group: the product of the lane axes' sizes."""
    return math.prod(len(config.axes[a]) for a in LANE_AXES)


def axis_values(config: SweepConfig, ids: np.ndarray) -> dict[str, np.ndarray]:
    """Axis values of trajectories ``ids`` (index arrays into each axis too).

    Returns a dict ``name -> values`` (object arrays for strings) and
    ``name + "_index" -> int64 index into the axis``.
    """
    axes = config.axes
    idx = np.unravel_index(np.asarray(ids, dtype=np.int64), config.shape)
    out: dict[str, np.ndarray] = {}
    for (name, values), ix in zip(axes.items(), idx, strict=True):
        arr = np.asarray(values, dtype=object if isinstance(values[0], str) else None)
        out[name] = arr[ix]
        out[name + "_index"] = ix.astype(np.int64)
    return out


def lane_values(config: SweepConfig, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """``lr`` and ``theta0`` (float64) of trajectories ``start .. stop - 1``.

    The lane axes are the innermost (``lr`` innermost), so the values repeat
    with the period of a group: no index arrays over all axes.
    """
    lrs = config.axis_array("lr")
    th0 = config.axis_array("theta0")
    n = stop - start
    lr = _periodic(lrs, start, n)
    if len(th0) == 1:
        return lr, np.full(n, th0[0])
    k = np.arange(start, stop, dtype=np.int64) % (len(lrs) * len(th0))
    return lr, th0[k // len(lrs)]


def lane_axis(config: SweepConfig, name: str, start: int, stop: int) -> np.ndarray:
    """Values of lane axis ``name`` for trajectories ``start .. stop - 1`` (from its period)."""
    values = config.axis_array(name)
    n = stop - start
    if len(values) == 1:
        return np.full(n, values[0], dtype=values.dtype)
    inner = math.prod(len(config.axes[a]) for a in LANE_AXES[LANE_AXES.index(name) + 1:])
    k = np.arange(start, stop, dtype=np.int64) // inner
    return values[k % len(values)]


def _periodic(base: np.ndarray, start: int, n: int) -> np.ndarray:
    """``base[(start + arange(n)) % len(base)]`` from slices (no per-element modulo)."""
    size = len(base)
    s = start % size
    if s + n <= size:
        return base[s:s + n].copy()
    if size >= n:  # wraps once
        return np.concatenate([base[s:], base[:s + n - size]])
    return np.tile(base, -(-(s + n) // size))[s:s + n]


def group_key(config: SweepConfig, group: int) -> tuple[tuple, str]:
    """Data key (values of ``DATA_AXES``) and order of group ``group``."""
    vals = group_values(config, group)
    return tuple(vals[a] for a in DATA_AXES), vals["order"]


def group_values(config: SweepConfig, group: int) -> dict:
    """Every group axis' value of group ``group`` (data axes, order, schedule, batch size)."""
    axes = config.axes
    group_axes = [a for a in AXES if a not in LANE_AXES]
    shape = tuple(len(axes[a]) for a in group_axes)
    ix = np.unravel_index(group, shape)
    return {a: axes[a][int(i)] for a, i in zip(group_axes, ix, strict=True)}


@dataclass(frozen=True)
class Chunk:
    """A contiguous range of trajectory ids, ``[start, stop)``."""

    index: int
    start: int
    stop: int

    def __len__(self) -> int:
        return self.stop - self.start


def group_indices(config: SweepConfig, groups: np.ndarray) -> dict[str, np.ndarray]:
    """Index into every group axis of each group (vectorised :func:`group_values`)."""
    axes = config.axes
    group_axes = [a for a in AXES if a not in LANE_AXES]
    shape = tuple(len(axes[a]) for a in group_axes)
    return dict(zip(group_axes, np.unravel_index(groups, shape), strict=True))


def group_n_order(config: SweepConfig, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index into the n_samples and order axes of each group (vectorised ``group_key``)."""
    ix = group_indices(config, groups)
    return ix["n_samples"], ix["order"]


#: Trajectories per chunk by default: enough work per kernel call to keep the
#: threads busy, small enough that a chunk's arrays stay a few MB.
CHUNK_TRAJECTORIES = 16384


def default_chunk_size(config: SweepConfig, *, data_budget: int = 64 * 2**20) -> int:
    """A chunk size that keeps threads busy and the chunk's arrays small.

    About :data:`CHUNK_TRAJECTORIES` trajectories: as many whole groups as fit
    (fewer if their data would exceed ``data_budget`` bytes), or, when one
    group has more lanes than that, that many lanes of it (a chunk may split
    a group; each part loads the group's dataset).
    """
    lpg = lanes_per_group(config)
    n_max = max(config.axes["n_samples"])
    online = "online" in config.axes["order"]
    m = n_max * (config.epochs if online else 1)
    p = max(config.axes["n_features"]) + (True in config.axes["fit_intercept"])  # coordinates per row
    per_group = 8 * (p + 1) * m + 4 * config.epochs * n_max  # x, y and a sample-order stream
    if lpg > CHUNK_TRAJECTORIES:
        return min(CHUNK_TRAJECTORIES, config.n_trajectories)
    groups = max(1, min(CHUNK_TRAJECTORIES // lpg, data_budget // max(per_group, 1)))
    return max(1, min(groups * lpg, config.n_trajectories))


def chunks(config: SweepConfig, chunk_size: int) -> list[Chunk]:
    """Split the grid into contiguous chunks of ``chunk_size`` trajectories."""
    n = config.n_trajectories
    return [Chunk(i, s, min(s + chunk_size, n)) for i, s in enumerate(range(0, n, chunk_size))]
