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


# ------------------------------------------------------------ threads
# The kernel and the data generators are nogil numba functions; they run on a
# pool of Python threads kept for the process (starting threads per call cost
# ~0.1 ms), rebuilt in a forked child, where its threads do not exist.
_POOL: list = [None, 0, 0]  # executor, pid, size


def _pool(n: int):
    """A thread pool of at least ``n`` threads."""
    import concurrent.futures

    pool, pid, size = _POOL
    if pool is None or pid != os.getpid() or size < n:
        if pool is not None and pid == os.getpid():
            pool.shutdown(wait=False)  # its idle threads exit
        _POOL[:] = [concurrent.futures.ThreadPoolExecutor(n, thread_name_prefix="lrsweep"), os.getpid(), n]
    return _POOL[0]


def _start_pieces(pieces: list[tuple[int, int]], fn, n_pool: int):
    """Start ``n_pool`` pool threads calling ``fn(lo, hi)`` on the pieces, each taken once.

    Returns ``(work, stop, futures)``: ``work()`` takes pieces in the calling
    thread too, until none is left; ``stop()`` makes every thread stop after
    its current piece. Pieces are handed out as threads become free, so a
    thread slowed by another process does not hold the others up.
    """
    import threading

    it = iter(pieces)
    lock = threading.Lock()
    stopped = threading.Event()

    def work() -> None:
        try:
            while not stopped.is_set():
                with lock:
                    piece = next(it, None)
                if piece is None:
                    return
                fn(*piece)
        except BaseException:  # incl. Ctrl-C in this thread
            stopped.set()  # the other threads stop after their current piece
            raise

    futures = [_pool(n_pool).submit(work) for _ in range(n_pool)] if n_pool else []
    return work, stopped.set, futures


def _work_and_wait(work, futures) -> None:
    """Run ``work()`` here, then wait for the pool threads that took pieces.

    A future that has not started when no piece is left (its pool thread
    was busy, e.g. with the kernel of the previous chunk) is cancelled
    rather than waited for.
    """
    try:
        work()
    finally:
        for f in futures:
            if not f.cancel():
                f.result()  # waits; re-raises a worker's exception here


def _cut(n_items: int, n_pieces: int) -> list[tuple[int, int]]:
    """``[0, n_items)`` as ``n_pieces`` contiguous ranges of (nearly) equal length."""
    return [(n_items * i // n_pieces, n_items * (i + 1) // n_pieces) for i in range(n_pieces)]


def _on_threads(n_items: int, n_pieces: int, fn, n_t: int) -> None:
    """``fn(lo, hi)`` over ``[0, n_items)`` cut into ``n_pieces``, taken by this thread
    and ``n_t - 1`` pool threads; here alone if ``n_t == 1`` or ``n_pieces < 2``."""
    if n_t == 1 or n_pieces < 2:
        fn(0, n_items)
        return
    work, _stop, futures = _start_pieces(_cut(n_items, n_pieces), fn, n_t - 1)
    _work_and_wait(work, futures)


def _in_parallel(n_items: int, fn, min_piece: int = 256) -> None:
    """``fn(lo, hi)`` over ``[0, n_items)`` on ``numba.get_num_threads()`` threads (this
    one included), two pieces per thread; here alone below ``2 * min_piece`` items."""
    import numba

    n_t = numba.get_num_threads()
    _on_threads(n_items, min(2 * n_t, n_items // min_piece), fn, n_t)


class _ChunkData:
    """Plain arrays for one chunk: concatenated datasets and sample orders.

    Vectorised over the chunk's groups: the data keys come from one
    ``unravel_index``, the ``data="gaussian"`` datasets from nogil numba
    calls (:func:`lrsweep._rng.gaussian_datasets`, NumPy's generators ported
    bit for bit) on ranges of datasets split over the threads
    (:func:`_in_parallel`), and so do the per-dataset statistics and the
    sample orders. Lecture and user data
    are built per dataset by :func:`lrsweep.data.dataset_for`. The bits are
    those of :func:`lrsweep.make_dataset` whatever the chunking.

    Chunks with at most ``NUMPY_DATASETS`` datasets (or sample orders) build
    them with NumPy instead, one :func:`lrsweep.data.dataset_for` each
    (~0.1 ms; the numba ports take ~1 us each but ~4 s to compile on an
    empty numba cache): the first call of a small sweep compiles only the
    kernel. Same bits either way (tests/test_rng.py).
    """

    NUMPY_DATASETS = 32

    def __init__(self, config: SweepConfig, groups: np.ndarray):
        import math

        from . import _rng
        from .config import AXES, DATA_AXES, LANE_AXES
        from .data import least_squares

        axes = config.axes
        group_axes = [a for a in AXES if a not in LANE_AXES]
        shape = tuple(len(axes[a]) for a in group_axes)
        groups = np.asarray(groups, dtype=np.int64)
        n_g = len(groups)
        ix = dict(zip(group_axes, np.unravel_index(groups, shape), strict=True))
        orders = np.asarray(axes["order"], dtype=object)[ix["order"]]  # of each group
        g_online = orders == "online"
        # One dataset per (data key, online), numbered in order of first use.
        dshape = (*(len(axes[a]) for a in DATA_AXES), 2)
        dcode = np.ravel_multi_index((*(ix[a] for a in DATA_AXES), g_online), dshape)
        uniq, first, inv = np.unique(dcode, return_index=True, return_inverse=True)
        by_first = np.argsort(first, kind="stable")
        rank = np.empty(len(uniq), dtype=np.int64)
        rank[by_first] = np.arange(len(uniq))
        g_ds = rank[inv.ravel()]
        rix = {a: ix[a][first[by_first]] for a in group_axes}  # axis indices of each dataset
        n_ds = len(uniq)
        d_online = g_online[first[by_first]]

        def vals(a, dtype=None):
            return np.asarray(axes[a], dtype=dtype)[rix[a]]

        if config.user_data is not None:
            d_n = np.full(n_ds, len(config.user_data[0]), dtype=np.int64)
        else:
            d_n = vals("n_samples", np.int64)
        d_m = np.where(d_online, d_n * config.epochs, d_n)
        d_off = np.zeros(n_ds, dtype=np.int64)
        np.cumsum(d_m[:-1], out=d_off[1:])
        total = int(d_m.sum())
        self.x = np.empty(total)
        self.y = np.empty(total)
        d_ref = np.empty(n_ds)
        if config.user_data is None and config.data == "gaussian" and n_ds > self.NUMPY_DATASETS:
            frac = vals("outlier_frac", np.float64)
            # k = floor(frac * m + 1/2) as in data._outlier_index (float64, m exact).
            k = np.where(frac > 0, np.floor(frac * d_m + 0.5), 0).astype(np.int64)
            koff = np.zeros(n_ds, dtype=np.int64)
            np.cumsum(k[:-1], out=koff[1:])
            x_scale, noise, scale = (vals(a, np.float64) for a in ("x_scale", "noise", "outlier_scale"))
            leverage = vals("outlier_kind") == "leverage"
            # The response shift in Python floats, exactly as data._generate.
            shift = np.zeros(n_ds)
            cache: dict[tuple, float] = {}
            coef = float(config.coef)
            for d in np.flatnonzero((k > 0) & ~leverage):
                t = (float(x_scale[d]), float(noise[d]), float(scale[d]))
                if t not in cache:
                    cache[t] = t[2] * math.sqrt((coef * t[0]) ** 2 + t[1] ** 2)
                shift[d] = cache[t]
            seeds = vals("seed", np.int64)
            out_idx = np.empty(int(k.sum()), dtype=np.int64)
            icpt = float(config.intercept)
            # theta_ref = data.least_squares, whose np.dot is BLAS: NumPy's own
            # ddot called from numba, else np.dot in Python (~3 us per dataset).
            d_ref[:] = coef  # online streams: the population fit
            ddot = _rng.numpy_ddot()
            x, y = self.x, self.y

            def build(a: int, b: int) -> None:  # datasets a .. b-1: disjoint slices of x, y
                r = slice(a, b)
                _rng.gaussian_datasets(seeds[r], d_off[r], d_m[r], x_scale[r], noise[r], leverage[r],
                                       k[r], koff[r], scale[r], shift[r], coef, icpt, x, y, out_idx)
                fit = a + np.flatnonzero(~d_online[r])
                if ddot is not None:
                    ref = np.empty(len(fit))
                    _rng.least_squares_many(ddot, x, y, d_off[fit], d_m[fit], ref)
                    d_ref[fit] = ref
                else:
                    for d in fit:
                        d_ref[d] = least_squares(x[d_off[d]:d_off[d] + d_m[d]], y[d_off[d]:d_off[d] + d_m[d]])

            _in_parallel(n_ds, build)
        else:
            key_vals = {a: [axes[a][int(i)] for i in rix[a]] for a in DATA_AXES}
            for d in range(n_ds):
                key = tuple(key_vals[a][d] for a in DATA_AXES)
                ds: Dataset = dataset_for(config, key, "online" if d_online[d] else "fixed")
                o = d_off[d]
                self.x[o:o + d_m[d]] = ds.x
                self.y[o:o + d_m[d]] = ds.y
                d_ref[d] = ds.theta_ref
        # mean r^2, mean x r, mean x^2 (np.mean's pairwise sums, in numba).
        d_stats = np.empty((3, n_ds))
        if n_ds > self.NUMPY_DATASETS:
            def stats(a: int, b: int) -> None:
                _rng.dataset_stats(self.x, self.y, d_off[a:b], d_m[a:b], d_ref[a:b], d_stats[:, a:b])

            _in_parallel(n_ds, stats)
        else:
            for d in range(n_ds):
                xd = self.x[d_off[d]:d_off[d] + d_m[d]]
                r = self.y[d_off[d]:d_off[d] + d_m[d]] - d_ref[d] * xd
                d_stats[:, d] = np.mean(r * r), np.mean(xd * r), np.mean(xd * xd)
        self.g_doff = d_off[g_ds]
        self.g_m = d_m[g_ds]
        self.g_n = d_n[g_ds]
        self.g_ref = d_ref[g_ds]
        self.g_stats = d_stats[:, g_ds]
        # Sample orders, shared by (seed, n, order); none for fixed and online.
        # One numba call (stream 3 ported like the datasets) for all of them.
        self.g_ioff = np.full(n_g, -1, dtype=np.int64)
        shuffle = orders == "shuffle"
        need = np.flatnonzero(shuffle | (orders == "replacement"))
        self.idx = np.zeros(1, dtype=np.int32)
        if need.size:
            ocode = np.ravel_multi_index((ix["seed"][need], ix["n_samples"][need], ix["order"][need]),
                                         (len(axes["seed"]), len(axes["n_samples"]), len(axes["order"])))
            _, ofirst, oinv = np.unique(ocode, return_index=True, return_inverse=True)
            ofirst = need[ofirst]
            o_seed = np.asarray(axes["seed"], dtype=np.int64)[ix["seed"][ofirst]]
            o_n = self.g_n[ofirst]
            o_len = o_n * config.epochs
            o_off = np.zeros(len(ofirst), dtype=np.int64)
            np.cumsum(o_len[:-1], out=o_off[1:])
            self.idx = np.empty(int(o_len.sum()), dtype=np.int32)
            if o_n.max() < 2**31 and len(ofirst) > self.NUMPY_DATASETS:
                o_shuffle = shuffle[ofirst]

                def draw(a: int, b: int) -> None:
                    _rng.sample_orders(o_seed[a:b], o_n[a:b], o_shuffle[a:b], config.epochs, o_off[a:b],
                                       self.idx)

                _in_parallel(len(ofirst), draw)
            else:  # few orders (or int64 indices, unreachable in memory): NumPy
                for u, g in enumerate(ofirst):
                    o = sample_order(orders[g], int(o_n[u]), config.epochs, int(o_seed[u]))
                    self.idx[o_off[u]:o_off[u] + o_len[u]] = o
            self.g_ioff[need] = o_off[oinv.ravel()]


class _ChunkCall:
    """The kernel's arguments for one chunk, laid out once (also used by the benchmarks)."""

    def __init__(self, config, chunk, rec_ids, record_every, n_slots, reuse=None):
        self.plan = plan = _grid.plan_chunk(config, chunk)
        # The chunk's groups and each lane's index among them: lane_group is
        # non-decreasing (ids are contiguous, groups are id // lanes per group),
        # so np.unique's sort is not needed.
        lg = plan.lane_group
        new = np.empty(len(lg), dtype=bool)
        new[:1] = True
        np.not_equal(lg[1:], lg[:-1], out=new[1:])
        groups = lg[new]
        self.lane_group = np.cumsum(new) - 1
        # `reuse` (a dict kept by the caller for one sweep) holds the previous
        # chunk's data: consecutive chunks of one group (an lr sweep split into
        # chunks) then build its dataset once, not once per chunk.
        key = groups.tobytes()
        if reuse is not None and reuse.get("groups") == key:
            data = reuse["data"]
        else:
            data = _ChunkData(config, groups)
            if reuse is not None:
                reuse.update(groups=key, data=data)
        self.data = data
        lr, theta0 = _grid.lane_values(config, chunk.start, chunk.stop)
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
            lr, theta0,
            config.tol, config.diverge_factor, config.sign_floor, config.oscillation_min,
            rec_row, record_every, self.rec_theta, self.rec_loss, self.out_f, self.out_i,
        )

    #: Pieces per thread: block ranges are handed out as each thread finishes
    #: its last one, so a thread slowed by another process does not hold up
    #: the chunk (a static split waits for the slowest thread).
    PIECES_PER_THREAD = 4

    def _kernel(self, lo: int, hi: int) -> None:
        from . import kernel

        kernel.run_chunk_nb(*self.args, lo, hi)

    def _n_pieces(self, n_t: int) -> int:
        return min(len(self.plan.b_start), self.PIECES_PER_THREAD * n_t)

    def run(self) -> None:
        """Call the kernel; fills ``out_f``, ``out_i`` and the recording arrays.

        The blocks are cut into ``PIECES_PER_THREAD * numba.get_num_threads()``
        contiguous ranges, taken in order by this thread and
        ``numba.get_num_threads() - 1`` pool threads, each running the
        ``nogil`` kernel on one range at a time. Blocks are independent, so
        the results do not depend on the split.
        """
        import numba

        n_b = len(self.plan.b_start)
        n_t = max(1, min(numba.get_num_threads(), n_b))
        _on_threads(n_b, self._n_pieces(n_t), self._kernel, n_t)

    def start(self, n_t: int) -> _Running:
        """Run the kernel on ``n_t`` pool threads and return at once (see :func:`_compute`)."""
        n_t = max(1, min(n_t, len(self.plan.b_start)))
        _work, stop, futures = _start_pieces(_cut(len(self.plan.b_start), self._n_pieces(n_t)),
                                             self._kernel, n_t)
        return _Running(self, stop, futures)


class _Running:
    """A chunk whose kernel runs in the pool: ``wait()`` for it, or ``cancel()``."""

    def __init__(self, call: _ChunkCall, stop, futures):
        self.call, self._stop, self._futures = call, stop, futures

    def wait(self) -> _ChunkCall:
        try:
            for f in self._futures:
                f.result()  # re-raises a worker's exception
        except BaseException:  # incl. Ctrl-C while waiting
            self.cancel()
            raise
        return self.call

    def cancel(self) -> None:
        """Stop after the pieces in progress, and wait for them (nothing left writing)."""
        import concurrent.futures

        self._stop()
        concurrent.futures.wait(self._futures)


def _plan(config, record, record_every, chunk_size, *, out=None, collect=True, concurrent=1,
          owner="sweep"):
    """Recorded ids, recording slots, memory plan and chunks of a (validated) call.

    Without an explicit ``chunk_size``, a checkpoint directory that already
    holds this sweep keeps the chunk size it was started with (so a rerun
    resumes even if the planner would choose differently today); otherwise
    the planner picks one that fits the memory budget.
    """
    from .planner import plan_memory

    rec_ids = _record_ids(config, record)
    k_max = config.epochs * max(config.axes["n_samples"])
    n_slots = k_max // record_every if rec_ids.size else 0
    if rec_ids.size * n_slots > MAX_RECORD_POINTS:
        raise ParameterError(
            f"The 'record' parameter of {owner} asks for {rec_ids.size:,} trajectories x "
            f"{n_slots:,} steps = {rec_ids.size * n_slots:,} recorded points, more than the "
            f"limit of {MAX_RECORD_POINTS:,} (16 bytes each). Record fewer trajectories or "
            f"raise record_every."
        )
    if chunk_size is None and out is not None:
        from .checkpoint import ChunkStore

        chunk_size = ChunkStore.started_chunk_size(out, config, rec_ids, record_every)
    mplan = plan_memory(config, n_recorded=int(rec_ids.size), n_slots=n_slots, chunk_size=chunk_size,
                        collect=collect, concurrent=concurrent, owner=owner)
    return rec_ids, n_slots, mplan, _grid.chunks(config, mplan.chunk_size)


def _run_chunk(config, chunk, rec_ids, record_every, n_slots, reuse=None):
    call = _ChunkCall(config, chunk, rec_ids, record_every, n_slots, reuse)
    call.run()
    return _chunk_part(call)


def _chunk_part(call: _ChunkCall) -> tuple:
    """The runner's per-chunk tuple (results, derived columns, recordings) of a finished call."""
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
    client: Any = None,
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
        Trajectories per chunk (a kernel call, a progress tick, a checkpoint
        file, a distributed task). Default: the chunk size a checkpoint in
        ``out`` was started with, else the memory planner's choice
        (:func:`lrsweep.planner.plan_memory`). Results do not depend on it.
    threads : int, optional
        Threads for the kernel and the data generation (default: numba's
        setting, ``numba.get_num_threads()``; on dask workers, the worker
        process's). With more than one, the calling thread lays out the next
        chunk and stores the previous one while the kernel runs. Results do
        not depend on it.
    progress : bool, optional
        Show a tqdm bar ticking per finished chunk; default: when stderr is a
        terminal.
    out : path, optional
        Checkpoint directory: every finished chunk is written there atomically
        (:mod:`lrsweep.checkpoint`), and a rerun with the same config,
        chunking and recording loads the finished chunks and computes only
        the rest. The results are identical to an uninterrupted run. A
        directory holding another sweep is refused.
    client : dask.distributed.Client, optional
        Run the chunks as tasks on this dask cluster (needs the ``dask``
        extra): each task is a small chunk spec, the worker generates its
        datasets and runs the kernel, the arrays stream back and are
        checkpointed here. A task lost with its worker is rerun by dask. The
        table is identical, bit for bit, to a local run.

    Returns
    -------
    Results
        ``.frame`` has one row per trajectory, ``.records`` the recorded
        steps; ``.meta`` the run facts (elapsed seconds, chunks computed and
        loaded, the memory plan).

    Raises
    ------
    lrsweep.ParameterError
        For invalid arguments, or a sweep whose table or recording cannot fit
        the memory budget (``SweepConfig.memory_limit``).

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
    if client is not None:
        from .distributed import check_client

        check_client(client, "sweep")
    from .results import Assembler, Results

    rec_ids, n_slots, mplan, plan = _plan(config, record, record_every, chunk_size, out=out,
                                          concurrent=_IN_FLIGHT)
    store = None
    if out is not None:
        from .checkpoint import ChunkStore

        store = ChunkStore(out, config, mplan.chunk_size, rec_ids, record_every)
        store.open()
    if progress is None:
        progress = sys.stderr.isatty()
    t0 = time.perf_counter()
    assembler = Assembler(config, record_every, rec_ids.size > 0)
    computed = loaded = 0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.n_trajectories, unit="traj", unit_scale=True, desc="lrsweep")
    try:
        todo = []
        for chunk in plan:
            part = store.load(chunk.index, len(chunk)) if store is not None else None
            if part is None:
                todo.append(chunk)
                continue
            loaded += 1
            assembler.add(chunk, part)
            if bar is not None:
                bar.update(len(chunk))
        for chunk, part in _compute(client, config, todo, rec_ids, record_every, n_slots, threads):
            if store is not None:
                store.save(chunk.index, part)
            assembler.add(chunk, part)
            computed += 1
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - t0
    frame, records = assembler.finish()
    meta = {"elapsed_s": elapsed, "chunks": len(plan), "chunks_computed": computed, "chunks_loaded": loaded,
            "chunk_size": mplan.chunk_size, "memory_plan": mplan.describe(),
            "backend": "local" if client is None else "dask"}
    return Results(frame=frame, records=records, config=config, meta=meta)


#: Chunks alive at once in a local run: the one whose kernel runs and the next
#: one being laid out (or the previous one being stored), see :func:`_compute`.
_IN_FLIGHT = 2


def _compute(client, config, todo, rec_ids, record_every, n_slots, threads):
    """Run the chunks ``todo``; yields ``(chunk, part)`` as each finishes.

    Here, in order (with more than one thread, the next chunk's kernel is
    already running while the caller handles a yielded one), or as tasks on
    the dask ``client`` (in any order).
    """
    if client is not None:
        from .distributed import run_chunks

        yield from run_chunks(client, config, todo, rec_ids, record_every, n_slots, threads)
        return
    import numba

    reuse: dict = {}
    with _numba_threads(threads):
        n_t = numba.get_num_threads()
        if n_t == 1 or len(todo) < 2:
            for chunk in todo:
                yield chunk, _run_chunk(config, chunk, rec_ids, record_every, n_slots, reuse)
            return
        # Pipelined: the kernel of chunk i runs on n_t pool threads while this
        # thread lays out chunk i + 1 and the caller stores chunk i - 1 (the
        # Python work per chunk, ~2-4 ms, no longer leaves the cores idle).
        # Same chunks, same kernel calls: the same bits.
        prev = None  # (chunk, _Running): the chunk whose kernel is running
        try:
            for chunk in todo:
                call = _ChunkCall(config, chunk, rec_ids, record_every, n_slots, reuse)
                if prev is None:
                    prev = (chunk, call.start(n_t))
                    continue
                done_chunk, running = prev
                prev = None
                done = running.wait()
                prev = (chunk, call.start(n_t))
                yield done_chunk, _chunk_part(done)
            done_chunk, running = prev
            prev = None
            yield done_chunk, _chunk_part(running.wait())
        finally:
            if prev is not None:  # interrupted, or the caller stopped early
                prev[1].cancel()


@dataclass(frozen=True)
class ShardReport:
    """What :func:`sweep_shard` did: its share of the chunks, computed or found done."""

    shard: int
    n_shards: int
    chunks: int
    chunks_computed: int
    chunks_loaded: int
    out: str
    memory_plan: str = ""


def sweep_shard(
    config: SweepConfig,
    shard: tuple[int, int],
    *,
    out: str | os.PathLike,
    record: str | Sequence[int] | np.ndarray | None = None,
    record_every: int = 1,
    chunk_size: int | None = None,
    threads: int | None = None,
    client: Any = None,
) -> ShardReport:
    """Run shard ``i`` of ``N`` of a sweep into the checkpoint directory ``out``.

    The chunks of the sweep are dealt round-robin: shard ``i`` runs chunks
    ``i, i + N, i + 2N, ...`` (for array jobs, e.g. SLURM's task id). Shards
    of one sweep share ``out`` (a shared file system); once all have run,
    ``sweep(config, out=out, ...)`` with the same arguments loads every chunk
    and returns the table a single run gives, bit for bit (and computes any
    chunk still missing); so does :func:`lrsweep.checkpoint.load_results`,
    and ``lrsweep merge`` combines shards written to different directories.

    ``shard=(0, 1)`` runs a whole sweep to disk in bounded memory: only the
    chunks in flight are held, never the table (the memory planner sizes the
    chunks for that).

    Parameters
    ----------
    config : SweepConfig
    shard : (int, int)
        ``(i, N)`` with ``0 <= i < N``.
    out : path
        Checkpoint directory shared by the shards.
    record, record_every, chunk_size, threads, client
        As in :func:`sweep`; ``record``, ``record_every`` and ``chunk_size``
        must be the same for every shard and the merge.

    Returns
    -------
    ShardReport
        Chunks of this shard, how many were computed and how many were
        already in ``out``.
    """
    owner = "sweep_shard"
    ok = (isinstance(shard, tuple | list) and len(shard) == 2
          and all(isinstance(v, int) and not isinstance(v, bool) for v in shard)
          and shard[1] >= 1 and 0 <= shard[0] < shard[1])
    if not ok:
        raise ParameterError(message("shard", owner, "a pair (i, N) of ints with 0 <= i < N", shard))
    i, n_shards = shard
    record_every, chunk_size, threads = _check_call(config, record, record_every, chunk_size, threads, False)
    if client is not None:
        from .distributed import check_client

        check_client(client, owner)
    from .checkpoint import ChunkStore

    rec_ids, n_slots, mplan, plan = _plan(config, record, record_every, chunk_size, out=out,
                                          collect=False, concurrent=_IN_FLIGHT, owner=owner)
    plan = [c for c in plan if c.index % n_shards == i]
    store = ChunkStore(out, config, mplan.chunk_size, rec_ids, record_every)
    store.open()
    computed = loaded = 0
    todo = []
    for chunk in plan:
        if store.exists(chunk.index, len(chunk)):
            loaded += 1
        else:
            todo.append(chunk)
    for chunk, part in _compute(client, config, todo, rec_ids, record_every, n_slots, threads):
        store.save(chunk.index, part)
        computed += 1
    return ShardReport(i, n_shards, len(plan), computed, loaded, str(out), mplan.describe())
