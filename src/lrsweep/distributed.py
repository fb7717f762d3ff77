"""The dask.distributed backend: chunks of a sweep as tasks on a cluster.

Optional: needs the ``dask`` extra (``pip install "lrsweep[dask]"``). A task is
a small chunk spec (the config, shipped once per worker with
``Client.scatter``, a chunk's id range and its recorded ids); the worker
builds the chunk's datasets itself, runs the kernel and sends back the
chunk's arrays, which the caller checkpoints and assembles. Every chunk is a
pure function of its spec, so the table is bit-identical to a local run
whatever the cluster, the scheduling order or the retries: a task lost with
its worker is rerun by dask (up to the scheduler's ``allowed-failures``).

Use an existing cluster (``dask-jobqueue``'s ``SLURMCluster`` on a cluster, a
scheduler address) through its :class:`distributed.Client`, or
:func:`local_cluster` for worker processes on this machine::

    with lrsweep.distributed.local_cluster(n_workers=2) as client:
        res = lrsweep.sweep(cfg, client=client)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from ._validation import InstanceOf, Interval, NoneOr, ParameterTypeError, validate_params

__all__ = ["check_client", "connect", "local_cluster", "run_chunks"]

# A chunk's kernel call is itself parallel over the process's kernel threads
# (numba.get_num_threads()), so a worker with several dask threads runs one
# chunk at a time rather than oversubscribing its cores; the other threads
# still receive tasks and send results meanwhile.
_KERNEL_LOCK = threading.Lock()


def _require_distributed():
    try:
        import distributed
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "lrsweep's dask backend needs dask.distributed: pip install 'lrsweep[dask]'"
        ) from None
    return distributed


def check_client(client: Any, owner: str) -> None:
    """Raise unless ``client`` is a :class:`distributed.Client`."""
    distributed = _require_distributed()
    if not isinstance(client, distributed.Client):
        raise ParameterTypeError(
            f"The 'client' parameter of {owner} must be a dask.distributed.Client or None. "
            f"Got {type(client).__name__} instead."
        )


def _chunk_task(config: Any, chunk: Any, rec_ids: np.ndarray, record_every: int, n_slots: int,
                threads: int | None) -> Any:
    """Run one chunk on a worker (module-level so workers import it by name)."""
    from .engine.chunk import run_chunk
    from .engine.threads import numba_threads

    with _KERNEL_LOCK, numba_threads(threads):
        return run_chunk(config, chunk, rec_ids, record_every, n_slots)


def run_chunks(client: Any, config: Any, todo: list, rec_ids: np.ndarray, record_every: int,
               n_slots: int, threads: int | None) -> Iterator[Any]:
    """Submit ``todo`` to ``client``; yield each chunk's ``ChunkResult`` as its task finishes.

    Tasks finish in any order; the caller places each chunk by its id range.
    Unfinished tasks are cancelled if the caller stops early (an interrupt).
    """
    distributed = _require_distributed()
    if not todo:
        return
    [cfg] = client.scatter([config], broadcast=False, hash=True)
    futures = {}
    prefix = f"lrsweep-chunk-{config.grid_hash()[:12]}-{os.getpid()}"
    for chunk in todo:
        lo, hi = np.searchsorted(rec_ids, [chunk.start, chunk.stop])
        fut = client.submit(_chunk_task, cfg, chunk, rec_ids[lo:hi], record_every, n_slots, threads,
                            key=f"{prefix}-{chunk.index}",
                            pure=False)
        futures[fut] = chunk
    try:
        for fut in distributed.as_completed(futures):
            futures.pop(fut)
            yield fut.result()
    finally:
        if futures:
            client.cancel(list(futures))


@contextlib.contextmanager
@validate_params({"n_workers": Interval("int", 1, 1024), "threads_per_worker": Interval("int", 1, 1024),
                  "numba_threads": NoneOr(Interval("int", 1, 1024))})
def local_cluster(n_workers: int, *, threads_per_worker: int = 1,
                  numba_threads: int | None = None) -> Iterator[Any]:
    """A ``LocalCluster`` of worker processes and its client; closed on exit.

    Parameters
    ----------
    n_workers : int
        Worker processes.
    threads_per_worker : int
        Dask threads per worker (chunks in flight per worker).
    numba_threads : int, optional
        Numba threads in each worker; default the cores divided among the
        workers, so the machine is not oversubscribed.
    """
    distributed = _require_distributed()
    if numba_threads is None:
        numba_threads = max(1, (os.cpu_count() or 1) // max(1, n_workers))
    # Nannies set these in the worker processes (and in workers they restart),
    # never in this process: numba rereads its config from os.environ.
    env = {"NUMBA_NUM_THREADS": str(numba_threads), "OMP_NUM_THREADS": "1"}
    with contextlib.ExitStack() as stack:
        # The workers' scratch space is ours and goes with the cluster (dask would
        # leave a dask-scratch-space directory in the system's temporary directory).
        scratch = tempfile.mkdtemp(prefix="lrsweep-dask-")
        stack.callback(shutil.rmtree, scratch, ignore_errors=True)
        cluster = stack.enter_context(distributed.LocalCluster(
            n_workers=n_workers, threads_per_worker=threads_per_worker, processes=True,
            dashboard_address=None, silence_logs=40, env=env, local_directory=scratch))
        client = stack.enter_context(distributed.Client(cluster))
        yield client


@validate_params({"address": InstanceOf("builtins.str", "a scheduler address (str)"),
                  "timeout": Interval("float", 0, 3600, "right")})
def connect(address: str, *, timeout: float = 10.0) -> Any:
    """A client for the scheduler at ``address`` (e.g. ``tcp://10.0.0.5:8786``).

    Raises ``OSError`` if no scheduler answers within ``timeout`` seconds.
    """
    distributed = _require_distributed()
    return distributed.Client(address, timeout=timeout)
