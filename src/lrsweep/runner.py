"""``sweep`` and ``sweep_shard``: a validated call -> chunks -> engine -> ``Results``.

The friendly layer over the engine: it validates the call, plans the chunks
(memory planner, checkpoint store), runs them through
:mod:`lrsweep.engine` (here, pipelined over threads, or as tasks on a dask
cluster), and assembles the tidy table (:mod:`lrsweep.results`) or writes
the chunks to disk.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from . import grid as _grid
from ._validation import (
    Boolean,
    InstanceOf,
    Interval,
    NoneOr,
    ParameterError,
    PathLike,
    message,
    validate_params,
)
from .config import SweepConfig
from .engine.threads import Threads
from .selection import select_ids

if TYPE_CHECKING:
    from .engine.layout import ChunkResult
    from .grid import Chunk
    from .results import Results

__all__ = ["ShardReport", "sweep", "sweep_shard"]

#: Recorded (step, theta, error, loss) points allowed in one sweep (24 bytes each).
MAX_RECORD_POINTS = 50_000_000
#: Largest count a call may ask for (int64).
MAX_INT = 2**63 - 1


#: The parameters of :func:`sweep` and :func:`sweep_shard` (``record`` and
#: ``client`` are checked where they are used: their rules depend on the config
#: and on an optional library).
_CALL = {
    "config": InstanceOf("lrsweep.config.SweepConfig", "a SweepConfig"),
    "record_every": Interval("int", 1, MAX_INT, "both"),
    "chunk_size": NoneOr(Interval("int", 1, MAX_INT, "both")),
    "threads": Threads(),
    "progress": NoneOr(Boolean()),
    "out": NoneOr(PathLike()),
}
_SHARD_CALL = {**_CALL, "out": PathLike()}
del _SHARD_CALL["progress"]


def _plan(config, record, record_every, chunk_size, *, out=None, collect=True, concurrent=1,
          owner="sweep"):
    """Recorded ids, recording slots, memory plan and chunks of a (validated) call.

    Without an explicit ``chunk_size``, a checkpoint directory that already
    holds this sweep keeps the chunk size it was started with (so a rerun
    resumes even if the planner would choose differently today); otherwise
    the planner picks one that fits the memory budget.
    """
    from .planner import plan_memory

    rec_ids = select_ids(config, record, owner)
    k_max = config.epochs * max(config.axes["n_samples"])
    n_slots = k_max // record_every if rec_ids.size else 0
    if rec_ids.size * n_slots > MAX_RECORD_POINTS:
        raise ParameterError(
            f"The 'record' parameter of {owner} asks for {rec_ids.size:,} trajectories x "
            f"{n_slots:,} steps = {rec_ids.size * n_slots:,} recorded points, more than the "
            f"limit of {MAX_RECORD_POINTS:,} (24 bytes each). Record fewer trajectories or "
            f"raise record_every."
        )
    if chunk_size is None and out is not None:
        from .checkpoint import ChunkStore

        chunk_size = ChunkStore.started_chunk_size(out, config, rec_ids, record_every)
    mplan = plan_memory(config, n_recorded=int(rec_ids.size), n_slots=n_slots, chunk_size=chunk_size,
                        collect=collect, concurrent=concurrent, owner=owner)
    return rec_ids, n_slots, mplan, _grid.chunks(config, mplan.chunk_size)


@validate_params(_CALL)
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
    record : None, "all", sequence of int, mapping or str, optional
        Trajectories whose theta, error (norm) and per-sample loss are
        recorded every ``record_every`` steps (:attr:`Results.records`; any
        number of features): trajectory ids, ``"all"``, a mapping
        ``{axis: values}``, or an expression over the axis names (for
        example ``"lr == 0.04 and seed < 3"``), parsed with a whitelist and
        never evaluated (:mod:`lrsweep.selection`). At most
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
        chunking and recording loads the finished chunks that verify (their
        identity and checksums) and computes the rest. The results are identical to an uninterrupted run. A
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
        loaded, chunks found in ``out`` that failed verification and were
        recomputed (``chunks_rejected``), the memory plan).

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
            found = store.load(chunk) if store is not None else None
            if found is None:
                todo.append(chunk)
                continue
            loaded += 1
            assembler.add(found)
            if bar is not None:
                bar.update(len(chunk))
        for result in _compute(client, config, todo, rec_ids, record_every, n_slots, threads):
            if store is not None:
                store.save(result)
            assembler.add(result)
            computed += 1
            if bar is not None:
                bar.update(len(result.chunk))
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - t0
    weights = assembler.weights()
    frame, records = assembler.finish()
    meta = {"elapsed_s": elapsed, "chunks": len(plan), "chunks_computed": computed, "chunks_loaded": loaded,
            "chunks_rejected": 0 if store is None else len(store.rejected), "chunk_size": mplan.chunk_size,
            "memory_plan": mplan.describe(), "backend": "local" if client is None else "dask"}
    return Results(frame=frame, records=records, config=config, meta=meta, weight_arrays=weights)


#: Chunks alive at once in a local run: the one whose kernel runs and the next
#: one being laid out (or the previous one being stored), see :func:`_compute`.
_IN_FLIGHT = 2


def _compute(client: Any, config: SweepConfig, todo: list[Chunk], rec_ids: np.ndarray, record_every: int,
             n_slots: int, threads: int | None) -> Iterator[ChunkResult]:
    """Run the chunks ``todo``; yields each :class:`~lrsweep.engine.layout.ChunkResult` as it finishes.

    Here, in order (with more than one thread, the next chunk's kernel is
    already running while the caller handles a yielded one), or as tasks on
    the dask ``client`` (in any order).
    """
    if client is not None:
        from .distributed import run_chunks

        yield from run_chunks(client, config, todo, rec_ids, record_every, n_slots, threads)
        return
    import numba

    from .engine.chunk import ChunkCall, run_chunk
    from .engine.threads import numba_threads

    reuse: dict = {}
    with numba_threads(threads):
        n_t = numba.get_num_threads()
        if n_t == 1 or len(todo) < 2:
            for chunk in todo:
                yield run_chunk(config, chunk, rec_ids, record_every, n_slots, reuse)
            return
        # Pipelined: the kernel of chunk i runs on n_t pool threads while this
        # thread lays out chunk i + 1 and the caller stores chunk i - 1 (the
        # Python work per chunk, ~2-4 ms, no longer leaves the cores idle).
        # Same chunks, same kernel calls: the same bits.
        running = None  # the chunk whose kernel is running (engine.chunk.Running)
        try:
            for chunk in todo:
                call = ChunkCall(config, chunk, rec_ids, record_every, n_slots, reuse)
                if running is None:
                    running = call.start(n_t)
                    continue
                done = running.wait()
                running = call.start(n_t)
                yield done.result()
            done = running.wait()
            running = None
            yield done.result()
        finally:
            if running is not None:  # interrupted, or the caller stopped early
                running.cancel()


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
    chunks_rejected: int = 0  #: chunks found in ``out`` that failed verification (recomputed)


@validate_params(_SHARD_CALL)
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
        Chunks of this shard, how many were computed, how many were
        already in ``out`` (verified) and how many were there but failed
        verification (recomputed).
    """
    owner = "sweep_shard"
    ok = (isinstance(shard, tuple | list) and len(shard) == 2
          and all(isinstance(v, int) and not isinstance(v, bool) for v in shard)
          and shard[1] >= 1 and 0 <= shard[0] < shard[1])
    if not ok:
        raise ParameterError(message("shard", owner, "a pair (i, N) of ints with 0 <= i < N", shard))
    i, n_shards = shard
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
        if store.exists(chunk):
            loaded += 1
        else:
            todo.append(chunk)
    for result in _compute(client, config, todo, rec_ids, record_every, n_slots, threads):
        store.save(result)
        computed += 1
    return ShardReport(i, n_shards, len(plan), computed, loaded, str(out), mplan.describe(),
                       len(store.rejected))
