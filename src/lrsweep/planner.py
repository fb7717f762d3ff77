"""Memory planner: what a sweep will hold in memory, checked before it runs.

A sweep holds three things at once: the interpreter with its libraries, the
tidy table it returns (when the results are collected in memory), and the
working set of the chunks in flight (datasets, sample orders, kernel arrays,
recordings, the Parquet writer's buffers). :func:`plan_memory` estimates each
from the config alone, picks a chunk size whose working set fits the budget,
and refuses (with the estimate and the setting to change) a sweep or a
recording request that cannot fit.

The per-item costs below were measured with ``resource.getrusage`` peaks on
numpy 2.4 / pandas 3.1 / pyarrow 26 (see ``tests/test_planner.py`` and the
10-million-trajectory test in ``tests/test_scale.py``); they are deliberately
on the high side, so the estimate is an upper bound within a factor of 2.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass

from . import grid as _grid
from ._validation import Boolean, InstanceOf, Interval, NoneOr, validate_params
from .config import SweepConfig

__all__ = ["MemoryPlan", "available_memory", "peak_rss", "plan_memory"]

#: Bytes per row of the collected table: trajectory_id and 17 axis columns
#: (three of them 1-byte categoricals, two bools), 19 metric columns (status 1 byte).
TABLE_ROW_BYTES = 8 * 13 + 4 + 1 + 8 * 18 + 1 + 8  # 262 (245 before the d-feature axes, 227 before
#: the four optimizer axes)
#: Per coordinate of a d-feature sweep's final weights (value and reference, float64), held with
#: the table (``Results.weight_arrays``) and once more per chunk in flight.
WEIGHT_BYTES = 16
#: Per feature of a sample of a d-feature dataset in a chunk: its row in the engine's array, the
#: NumPy recipe's normal draws and scaled copy.
FEATURE_SAMPLE_BYTES = 8 + 24
#: Kernel and bookkeeping arrays per trajectory of a chunk: lr, theta0, momentum,
#: Nesterov, the last epoch's lr, recording row, noise floor, 7 float and 8 int
#: outputs, axis values and their
#: indices while laying out the call, derived columns, and the Parquet table of a
#: checkpointed chunk.
CHUNK_TRAJ_BYTES = 8 * (7 + 15) + 8 * 20 + 8 * 9 + 8 * 19
#: Per sample of a dataset in a chunk: x and y (16 bytes) plus the normal
#: draws and products made while generating it.
DATA_SAMPLE_BYTES = 16 + 32
#: Per step of a stored sample order (int32).
ORDER_STEP_BYTES = 4
#: Per group of a chunk: the Dataset object, its arrays' headers, group arrays.
GROUP_BYTES = 2048
#: Per recorded (theta, error, loss) point: the kernel's buffers (24 bytes),
#: the chunk's records frame (40) and the final concatenation (40).
RECORD_POINT_BYTES = 104
#: The interpreter with numpy, pandas, numba, pyarrow and the compiled kernel
#: loaded (measured 220-260 MB on x86-64 Linux).
LIBRARY_BYTES = 260 * 2**20
#: Share of the available memory a sweep may plan for when no limit is set.
DEFAULT_FRACTION = 0.5


def _proc_kb(path: str, key: str) -> int | None:
    """The ``key:  N kB`` line of a /proc file, in bytes (None if absent or not Linux)."""
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    return None


def available_memory() -> int:
    """Bytes of memory available to new allocations (``MemAvailable``), or physical memory."""
    avail = _proc_kb("/proc/meminfo", "MemAvailable")
    if avail is not None:
        return avail
    try:  # pragma: no cover - not Linux
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return 8 * 2**30


def _process_rss() -> int:
    """Resident bytes of this process now (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):  # pragma: no cover
        return 0


def peak_rss() -> int:
    """Peak resident bytes of this process since it started (0 where unknown).

    Read from ``VmHWM`` in ``/proc/self/status``, which starts afresh at
    ``exec``; ``resource.getrusage(...).ru_maxrss`` does not: in a child of a
    large process (a test runner) it reports the parent's size at ``fork``.
    """
    return _proc_kb("/proc/self/status", "VmHWM") or 0


def _baseline() -> int:
    """The interpreter and libraries: what this process holds now, or will once loaded."""
    loaded = all(m in sys.modules for m in ("numba", "pandas", "pyarrow"))
    rss = _process_rss()
    return max(rss, LIBRARY_BYTES) if loaded else rss + LIBRARY_BYTES


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


@dataclass(frozen=True)
class MemoryPlan:
    """The planner's estimate for one sweep (bytes).

    Attributes
    ----------
    chunk_size : int
        Trajectories per chunk.
    n_chunks : int
    chunk_bytes : int
        Working set of one chunk in flight (data, orders, kernel arrays, its
        recording).
    table_bytes : int
        The collected table and records (0 when not collected).
    baseline_bytes : int
        The interpreter and libraries.
    peak_bytes : int
        Estimated peak resident memory: baseline + table + ``concurrent``
        chunks.
    budget_bytes : int
        What the sweep may use.
    """

    chunk_size: int
    n_chunks: int
    chunk_bytes: int
    table_bytes: int
    baseline_bytes: int
    peak_bytes: int
    budget_bytes: int

    def describe(self) -> str:
        """One line for logs and reports."""
        return (f"{self.n_chunks:,} chunks of {self.chunk_size:,}; estimated peak "
                f"{_human(self.peak_bytes)} (table {_human(self.table_bytes)}, chunk "
                f"{_human(self.chunk_bytes)}, libraries {_human(self.baseline_bytes)}) "
                f"of a budget of {_human(self.budget_bytes)}")


def _group_bytes(config: SweepConfig) -> int:
    """Data, sample order and bookkeeping of the largest group."""
    n_max = max(config.axes["n_samples"]) if config.user_data is None else len(config.user_data[0])
    online = "online" in config.axes["order"]
    m = n_max * (config.epochs if online else 1)
    stored_order = any(o in ("shuffle", "replacement") for o in config.axes["order"])
    order = ORDER_STEP_BYTES * config.epochs * n_max if stored_order else 0
    p = _coordinates(config)
    features = FEATURE_SAMPLE_BYTES * p * m if p > 1 else 0
    return DATA_SAMPLE_BYTES * m + features + order + GROUP_BYTES


def _coordinates(config: SweepConfig) -> int:
    """The most coordinates of a trajectory: d (+ 1 with a bias)."""
    return max(config.axes["n_features"]) + (True in config.axes["fit_intercept"])


def chunk_bytes(config: SweepConfig, chunk_size: int, n_recorded: int = 0, n_slots: int = 0) -> int:
    """Working set of one chunk of ``chunk_size`` trajectories (upper bound).

    ``n_recorded`` trajectories of the chunk record ``n_slots`` points each.
    """
    lpg = _grid.lanes_per_group(config)
    groups = min(chunk_size, math.ceil(chunk_size / lpg) + 1)
    weights = WEIGHT_BYTES * 2 * _coordinates(config) * chunk_size if config.has_features else 0
    return (CHUNK_TRAJ_BYTES * chunk_size + _group_bytes(config) * groups
            + 16 * n_recorded * n_slots + weights)


@validate_params({
    "config": InstanceOf("lrsweep.config.SweepConfig", "a SweepConfig"),
    "n_recorded": Interval("int", 0, 2**62), "n_slots": Interval("int", 0, 2**62),
    "chunk_size": NoneOr(Interval("int", 1, 2**63 - 1)), "collect": Boolean(),
    "concurrent": Interval("int", 1, 1024), "budget": NoneOr(Interval("int", 1, 2**63 - 1)),
})
def plan_memory(
    config: SweepConfig,
    *,
    n_recorded: int = 0,
    n_slots: int = 0,
    chunk_size: int | None = None,
    collect: bool = True,
    concurrent: int = 1,
    budget: int | None = None,
    owner: str = "sweep",
) -> MemoryPlan:
    """Estimate a sweep's memory and choose its chunk size.

    Parameters
    ----------
    config : SweepConfig
        The sweep; ``config.memory_limit`` (if set) is the budget.
    n_recorded, n_slots : int
        Recorded trajectories and points recorded per trajectory.
    chunk_size : int, optional
        Fixed chunk size; default :func:`lrsweep.grid.default_chunk_size`,
        shrunk (by whole groups where possible) until ``concurrent`` chunks
        fit next to the table.
    collect : bool
        Whether the table is collected in memory (``sweep``) or only written
        to disk (``sweep_shard``).
    concurrent : int
        Chunks in flight at once in this process.
    budget : int, optional
        Bytes; default ``config.memory_limit`` or half the available memory.
    owner : str
        Function name for error messages.

    Returns
    -------
    MemoryPlan

    Raises
    ------
    lrsweep.ParameterError
        If the table, the recording or one chunk cannot fit the budget; the
        message gives the estimate and what to change.
    """
    from ._validation import ParameterError

    if budget is None:
        budget = config.memory_limit or int(DEFAULT_FRACTION * available_memory())
    T = config.n_trajectories
    row = TABLE_ROW_BYTES + (WEIGHT_BYTES * _coordinates(config) if config.has_features else 0)
    rows = row * T if collect else 0
    rec_table = RECORD_POINT_BYTES * n_recorded * n_slots if collect else 0
    table = rows + rec_table
    base = _baseline()
    room = budget - base - table
    if room <= 0 and rec_table and base + rows < budget:
        raise ParameterError(
            f"The 'record' parameter of {owner} asks for {n_recorded:,} trajectories x {n_slots:,} "
            f"steps, about {_human(rec_table)} in memory; with the table ({_human(rows)}) and "
            f"the libraries ({_human(base)}) that exceeds the budget of {_human(budget)}. "
            f"Record fewer trajectories, raise record_every, or raise SweepConfig.memory_limit."
        )
    if room <= 0:
        biggest = sorted(config.axes.items(), key=lambda kv: -len(kv[1]))[:3]
        axes = ", ".join(f"{k}: {len(v)} values" for k, v in biggest if len(v) > 1) or "none"
        raise ParameterError(
            f"The grid of {owner} has {T:,} trajectories; its table would take about "
            f"{_human(rows)} ({row} bytes each) on top of {_human(base)} for the "
            f"libraries, more than the memory budget of {_human(budget)}. Write it to disk in "
            f"bounded memory with sweep_shard(config, (0, 1), out=DIR) (or a study's --shard), "
            f"use fewer values on the largest axes ({axes}), or raise SweepConfig.memory_limit."
        )
    per_slot = 16 * n_slots
    rec_frac = n_recorded / T if T else 0.0

    def cost(size: int) -> int:
        return chunk_bytes(config, size, math.ceil(rec_frac * size), n_slots) * concurrent

    if chunk_size is None:
        size = _grid.default_chunk_size(config)
        lpg = _grid.lanes_per_group(config)
        while size > 1 and cost(size) > room:
            # Halve, keeping whole groups while a chunk holds more than one.
            size = max(1, size // 2)
            if size > lpg:
                size -= size % lpg
    else:
        size = chunk_size
    if cost(size) > room:
        what = (f"chunk_size={size:,}" if chunk_size is not None
                else "even one trajectory per chunk")
        raise ParameterError(
            f"The sweep does not fit its memory budget: {what} needs about {_human(cost(size))} "
            f"per chunk in flight ({concurrent} at once; datasets of up to "
            f"{_human(_group_bytes(config))} per group, {per_slot:,} bytes of recording per "
            f"recorded trajectory) next to {_human(table + base)} for the table and libraries, "
            f"budget {_human(budget)}. Use a smaller chunk_size, fewer samples per dataset, "
            f"or raise SweepConfig.memory_limit."
        )
    n_chunks = math.ceil(T / size) if T else 0
    c = cost(size)
    return MemoryPlan(chunk_size=size, n_chunks=n_chunks, chunk_bytes=c // concurrent,
                      table_bytes=table, baseline_bytes=base, peak_bytes=base + table + c,
                      budget_bytes=budget)
