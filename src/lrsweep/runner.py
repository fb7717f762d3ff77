"""``sweep()``: config -> chunks -> datasets -> kernel -> ``Results``.

The friendly layer over the kernel: it validates the call, lays out plain
arrays for each chunk (datasets shared by data key, sample orders shared by
seed), runs the numba kernel and assembles the tidy table.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from . import grid as _grid
from ._validation import Interval, ParameterError, ParameterTypeError, message
from .config import SweepConfig
from .data import Dataset, dataset_for, sample_order
from .metrics import FLOAT_FIELDS, INT_FIELDS

if TYPE_CHECKING:
    from .results import Results

__all__ = ["ShardReport", "sweep", "sweep_shard"]

#: Recorded (step, theta, loss) points allowed in one sweep (16 bytes each).
MAX_RECORD_POINTS = 50_000_000


def _check_call(config, record, record_every, chunk_size, threads, progress):
    owner = "sweep"
    if not isinstance(config, SweepConfig):
        raise ParameterTypeError(message("config", owner, "a SweepConfig", type(config).__name__))
    record_every = Interval("int", 1, float("inf"), "left").check("record_every", owner, record_every)
    if chunk_size is not None:
        chunk_size = Interval("int", 1, float("inf"), "left").check("chunk_size", owner, chunk_size)
    if threads is not None:
        import numba

        hi = numba.config.NUMBA_NUM_THREADS
        threads = Interval("int", 1, hi).check("threads", owner, threads)
    if progress is not None and not isinstance(progress, bool):
        raise ParameterTypeError(message("progress", owner, "True, False or None", progress))
    return record_every, chunk_size, threads


def _record_ids(config: SweepConfig, record: Any) -> np.ndarray:
    """Normalise ``record`` to sorted unique trajectory ids."""
    owner = "sweep"
    allowed = "None, 'all', a sequence of trajectory ids or a query string on the axis columns"
    n = config.n_trajectories
    if record is None:
        return np.zeros(0, dtype=np.int64)
    if isinstance(record, str):
        if record == "all":
            return np.arange(n, dtype=np.int64)
        from .results import grid_frame

        frame = grid_frame(config)
        try:
            sel = frame.query(record)
        except Exception as exc:  # pandas raises many types for a bad query
            raise ParameterError(message("record", owner, allowed, record) + f" ({exc})") from None
        return sel["trajectory_id"].to_numpy(dtype=np.int64)
    try:
        ids = np.unique(np.asarray(record, dtype=np.int64).ravel())
    except (TypeError, ValueError):
        raise ParameterTypeError(message("record", owner, allowed, record)) from None
    if ids.size and (ids[0] < 0 or ids[-1] >= n):
        bad = ids[0] if ids[0] < 0 else ids[-1]
        raise ParameterError(message("record", owner, f"trajectory ids in [0, {n - 1}]", int(bad)))
    return ids


@contextlib.contextmanager
def _numba_threads(threads: int | None) -> Iterator[None]:
    import numba

    if threads is None:
        yield
        return
    old = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        yield
    finally:
        numba.set_num_threads(old)


class _ChunkData:
    """Plain arrays for one chunk: concatenated datasets and sample orders."""

    def __init__(self, config: SweepConfig, groups: np.ndarray):
        datasets: dict[tuple, int] = {}
        orders: dict[tuple, int] = {}
        ds_list: list[Dataset] = []
        idx_list: list[np.ndarray] = []
        n_g = len(groups)
        self.g_doff = np.empty(n_g, dtype=np.int64)
        self.g_m = np.empty(n_g, dtype=np.int64)
        self.g_n = np.empty(n_g, dtype=np.int64)
        self.g_ioff = np.empty(n_g, dtype=np.int64)
        self.g_ref = np.empty(n_g)
        self.g_stats = np.empty((3, n_g))  # mean r^2, mean x r, mean x^2
        doff = ioff = 0
        ds_off: list[int] = []
        idx_off: list[int] = []
        for li, g in enumerate(groups):
            key, order = _grid.group_key(config, int(g))
            seed, n = key[0], key[1]
            if config.user_data is not None:
                n = len(config.user_data[0])
            dkey = (key, order == "online")
            if dkey not in datasets:
                ds = dataset_for(config, key, order)
                datasets[dkey] = len(ds_list)
                ds_list.append(ds)
                ds_off.append(doff)
                doff += len(ds)
            d = datasets[dkey]
            ds = ds_list[d]
            okey = (seed, n, order)
            if okey not in orders:
                o = sample_order(order, n, config.epochs, seed)
                orders[okey] = -1 if o is None else len(idx_list)
                if o is not None:
                    idx_list.append(o.astype(np.int32, copy=False))
                    idx_off.append(ioff)
                    ioff += len(o)
            oi = orders[okey]
            self.g_doff[li] = ds_off[d]
            self.g_m[li] = len(ds)
            self.g_n[li] = n
            self.g_ioff[li] = -1 if oi < 0 else idx_off[oi]
            self.g_ref[li] = ds.theta_ref
            r = ds.y - ds.theta_ref * ds.x
            self.g_stats[:, li] = (np.mean(r * r), np.mean(ds.x * r), np.mean(ds.x * ds.x))
        self.x = np.concatenate([d.x for d in ds_list]) if ds_list else np.zeros(0)
        self.y = np.concatenate([d.y for d in ds_list]) if ds_list else np.zeros(0)
        self.idx = np.concatenate(idx_list) if idx_list else np.zeros(1, dtype=np.int32)


class _ChunkCall:
    """The kernel's arguments for one chunk, laid out once (also used by the benchmarks)."""

    def __init__(self, config, chunk, rec_ids, record_every, n_slots):
        self.plan = plan = _grid.plan_chunk(config, chunk)
        groups, self.lane_group = np.unique(plan.lane_group, return_inverse=True)
        self.data = data = _ChunkData(config, groups)
        vals = _grid.axis_values(config, np.arange(chunk.start, chunk.stop, dtype=np.int64))
        T = len(chunk)
        # Recording rows for the recorded trajectories of this chunk.
        lo, hi = np.searchsorted(rec_ids, [chunk.start, chunk.stop])
        self.chunk_rec = rec_ids[lo:hi]
        rec_row = np.full(T, -1, dtype=np.int64)
        rec_row[self.chunk_rec - chunk.start] = np.arange(len(self.chunk_rec))
        self.rec_theta = np.full((len(self.chunk_rec), n_slots), np.nan)
        self.rec_loss = np.full((len(self.chunk_rec), n_slots), np.nan)
        self.out_f = np.empty((len(FLOAT_FIELDS), T))
        self.out_i = np.empty((len(INT_FIELDS), T), dtype=np.int64)
        lg = self.lane_group
        first = lg[plan.b_start]  # group of each block's first lane
        self.args = (
            data.x, data.y, data.g_doff[lg], data.g_ioff[lg], data.g_ref[lg], data.idx,
            config.epochs, plan.b_start, plan.b_len, data.g_m[first], data.g_n[first], plan.b_gather,
            vals["lr"].astype(np.float64), vals["theta0"].astype(np.float64),
            config.tol, config.diverge_factor, config.sign_floor, config.oscillation_min,
            rec_row, record_every, self.rec_theta, self.rec_loss, self.out_f, self.out_i,
        )

    def run(self) -> None:
        """Call the kernel; fills ``out_f``, ``out_i`` and the recording arrays."""
        from . import kernel

        kernel.run_chunk_nb(*self.args)


def _plan(config, record, record_every, chunk_size):
    """Recorded ids, recording slots, chunk size and chunks of a (validated) call."""
    rec_ids = _record_ids(config, record)
    k_max = config.epochs * max(config.axes["n_samples"])
    n_slots = k_max // record_every if rec_ids.size else 0
    if rec_ids.size * n_slots > MAX_RECORD_POINTS:
        raise ParameterError(
            f"The 'record' parameter of sweep asks for {rec_ids.size:,} trajectories x "
            f"{n_slots:,} steps = {rec_ids.size * n_slots:,} recorded points, more than the "
            f"limit of {MAX_RECORD_POINTS:,} (16 bytes each). Record fewer trajectories or "
            f"raise record_every."
        )
    size = chunk_size or _grid.default_chunk_size(config)
    return rec_ids, n_slots, size, _grid.chunks(config, size)


def _run_chunk(config, chunk, rec_ids, record_every, n_slots):
    call = _ChunkCall(config, chunk, rec_ids, record_every, n_slots)
    call.run()
    # Per-lane group (local index) for the derived columns.
    lane_group = call.lane_group
    theta_ref = call.data.g_ref[lane_group]
    e = call.out_f[0] - theta_ref
    r2, xr, xx = call.data.g_stats[:, lane_group]
    with np.errstate(over="ignore"):  # inf only beyond float64's range (documented)
        loss_final = r2 - 2.0 * e * xr + e * e * xx
    derived = {"theta_ref": theta_ref, "abs_error_final": np.abs(e), "loss_final": loss_final}
    return call.out_f, call.out_i, derived, call.chunk_rec, call.rec_theta, call.rec_loss


def sweep(
    config: SweepConfig,
    *,
    record: str | Sequence[int] | np.ndarray | None = None,
    record_every: int = 1,
    chunk_size: int | None = None,
    threads: int | None = None,
    progress: bool | None = None,
    out: str | os.PathLike | None = None,
) -> Results:
    """Run every trajectory of ``config`` and return the tidy results.

    Parameters
    ----------
    config : SweepConfig
        The grid to run.
    record : None, "all", sequence of int or str, optional
        Trajectories whose theta and per-sample loss are recorded every
        ``record_every`` steps: trajectory ids, ``"all"``, or a
        :meth:`pandas.DataFrame.query` string on the axis columns (for
        example ``"lr == 0.04 and seed < 3"``). At most
        :data:`MAX_RECORD_POINTS` points in all.
    record_every : int
        Record steps ``record_every, 2 * record_every, ...`` (1: every step,
        as the seed's ``th_list``).
    chunk_size : int, optional
        Trajectories per chunk (a kernel call and a progress tick); default
        from :func:`lrsweep.grid.default_chunk_size`. Results do not depend on it.
    threads : int, optional
        Numba threads for this call (default: numba's setting). Results do
        not depend on it.
    progress : bool, optional
        Show a tqdm bar ticking per chunk; default: when stderr is a terminal.
    out : path, optional
        Checkpoint directory: every finished chunk is written there atomically
        (:mod:`lrsweep.checkpoint`), and a rerun with the same config,
        chunking and recording loads the finished chunks and computes only
        the rest. The results are identical to an uninterrupted run. A
        directory holding another sweep is refused.

    Returns
    -------
    Results
        ``.frame`` has one row per trajectory, ``.records`` the recorded steps.

    Examples
    --------
    >>> import numpy as np, lrsweep
    >>> cfg = lrsweep.SweepConfig(lr=[0.01, 0.04, 0.5], seed=range(10))
    >>> res = lrsweep.sweep(cfg, progress=False)
    >>> len(res.frame)
    30
    """
    record_every, chunk_size, threads = _check_call(
        config, record, record_every, chunk_size, threads, progress
    )
    from .results import Results, assemble

    rec_ids, n_slots, size, plan = _plan(config, record, record_every, chunk_size)
    store = None
    if out is not None:
        from .checkpoint import ChunkStore

        store = ChunkStore(out, config, size, rec_ids, record_every)
        store.open()
    computed = loaded = 0
    if progress is None:
        progress = sys.stderr.isatty()
    t0 = time.perf_counter()
    parts = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.n_trajectories, unit="traj", unit_scale=True, desc="lrsweep")
    try:
        with _numba_threads(threads):
            for chunk in plan:
                part = store.load(chunk.index, len(chunk)) if store is not None else None
                if part is None:
                    part = _run_chunk(config, chunk, rec_ids, record_every, n_slots)
                    computed += 1
                    if store is not None:
                        store.save(chunk.index, part)
                else:
                    loaded += 1
                parts.append(part)
                if bar is not None:
                    bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - t0
    frame, records = assemble(config, parts, record_every, rec_ids.size > 0)
    meta = {"elapsed_s": elapsed, "chunks": len(plan), "chunks_computed": computed, "chunks_loaded": loaded}
    return Results(frame=frame, records=records, config=config, meta=meta)



@dataclass(frozen=True)
class ShardReport:
    """What :func:`sweep_shard` did: its share of the chunks, computed or found done."""

    shard: int
    n_shards: int
    chunks: int
    chunks_computed: int
    chunks_loaded: int
    out: str


def sweep_shard(
    config: SweepConfig,
    shard: tuple[int, int],
    *,
    out: str | os.PathLike,
    record: str | Sequence[int] | np.ndarray | None = None,
    record_every: int = 1,
    chunk_size: int | None = None,
    threads: int | None = None,
) -> ShardReport:
    """Run shard ``i`` of ``N`` of a sweep into the checkpoint directory ``out``.

    The chunks of the sweep are dealt round-robin: shard ``i`` runs chunks
    ``i, i + N, i + 2N, ...`` (for array jobs, e.g. SLURM's task id). Shards
    of one sweep share ``out`` (a shared file system); once all have run,
    ``sweep(config, out=out, ...)`` with the same arguments loads every chunk
    and returns the table a single run gives, bit for bit (and computes any
    chunk still missing).

    Parameters
    ----------
    config : SweepConfig
    shard : (int, int)
        ``(i, N)`` with ``0 <= i < N``.
    out : path
        Checkpoint directory shared by the shards.
    record, record_every, chunk_size, threads
        As in :func:`sweep`; must be the same for every shard and the merge.
    """
    owner = "sweep_shard"
    ok = (isinstance(shard, tuple | list) and len(shard) == 2
          and all(isinstance(v, int) and not isinstance(v, bool) for v in shard)
          and shard[1] >= 1 and 0 <= shard[0] < shard[1])
    if not ok:
        raise ParameterError(message("shard", owner, "a pair (i, N) of ints with 0 <= i < N", shard))
    i, n_shards = shard
    record_every, chunk_size, threads = _check_call(config, record, record_every, chunk_size, threads, False)
    from .checkpoint import ChunkStore

    rec_ids, n_slots, size, plan = _plan(config, record, record_every, chunk_size)
    plan = [c for c in plan if c.index % n_shards == i]
    store = ChunkStore(out, config, size, rec_ids, record_every)
    store.open()
    computed = loaded = 0
    with _numba_threads(threads):
        for chunk in plan:
            if store.load(chunk.index, len(chunk)) is not None:
                loaded += 1
                continue
            store.save(chunk.index, _run_chunk(config, chunk, rec_ids, record_every, n_slots))
            computed += 1
    return ShardReport(i, n_shards, len(plan), computed, loaded, str(out))
