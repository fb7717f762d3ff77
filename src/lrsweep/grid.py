"""The grid: trajectory ids, their axis values, groups, blocks and chunks.

Trajectory ``t`` of a sweep is element ``t`` of the Cartesian product of the
axes in canonical order (:data:`lrsweep.config.AXES`, C order, ``lr``
innermost). Consecutive trajectories that differ only in the *lane axes*
(``theta0``, ``lr``) form a *group*: they share a dataset and a sample order.
A *chunk* is a contiguous id range ``[start, stop)`` run as one unit; it may
start or end inside a group.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .config import AXES, DATA_AXES, LANE_AXES, SweepConfig

__all__ = ["BLOCK_LANES", "Chunk", "axis_values", "chunks", "default_chunk_size", "plan_chunk"]

#: Most lanes advanced together in one kernel block (their state fits in L1).
BLOCK_LANES = 64


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


def group_key(config: SweepConfig, group: int) -> tuple[tuple, str]:
    """Data key (values of ``DATA_AXES``) and order of group ``group``."""
    axes = config.axes
    group_axes = [a for a in AXES if a not in LANE_AXES]
    shape = tuple(len(axes[a]) for a in group_axes)
    ix = np.unravel_index(group, shape)
    vals = {a: axes[a][int(i)] for a, i in zip(group_axes, ix, strict=True)}
    return tuple(vals[a] for a in DATA_AXES), vals["order"]


@dataclass(frozen=True)
class Chunk:
    """A contiguous range of trajectory ids, ``[start, stop)``."""

    index: int
    start: int
    stop: int

    def __len__(self) -> int:
        return self.stop - self.start


def plan_chunk(config: SweepConfig, chunk: Chunk) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blocks of a chunk: arrays (group, first lane in chunk, lane count)."""
    lpg = lanes_per_group(config)
    groups, starts, lens = [], [], []
    t = chunk.start
    while t < chunk.stop:
        g = t // lpg
        end = min(chunk.stop, (g + 1) * lpg, t + BLOCK_LANES)
        groups.append(g)
        starts.append(t - chunk.start)
        lens.append(end - t)
        t = end
    return (np.asarray(groups, dtype=np.int64), np.asarray(starts, dtype=np.int64),
            np.asarray(lens, dtype=np.int64))


def default_chunk_size(config: SweepConfig, *, data_budget: int = 64 * 2**20) -> int:
    """A chunk size that keeps threads busy and the chunk's data small.

    At least 16384 trajectories (rounded up to whole groups) unless the data
    of the groups in a chunk would exceed ``data_budget`` bytes.
    """
    lpg = lanes_per_group(config)
    n_max = max(config.axes["n_samples"])
    online = "online" in config.axes["order"]
    m = n_max * (config.epochs if online else 1)
    per_group = 16 * m + 4 * config.epochs * n_max  # x, y and a sample-order stream
    groups = max(1, min(max(1, 16384 // lpg), data_budget // max(per_group, 1)))
    return max(1, min(groups * lpg, config.n_trajectories))


def chunks(config: SweepConfig, chunk_size: int) -> list[Chunk]:
    """Split the grid into contiguous chunks of ``chunk_size`` trajectories."""
    n = config.n_trajectories
    return [Chunk(i, s, min(s + chunk_size, n)) for i, s in enumerate(range(0, n, chunk_size))]
