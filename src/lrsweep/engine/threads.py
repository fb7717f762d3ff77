"""Threads for the engine: a process-wide pool and the piece-taking loop.

The kernel and the data generators are ``nogil`` numba functions, run on
Python threads: a range of work is cut into pieces that the calling thread
and pool threads take as they become free (:func:`start_pieces`), so a
thread slowed by another process does not hold the others up. Pieces are
independent, so results never depend on the split. No ``parallel=True``
in numba: its parfor passes cost seconds of the first compile and it starts
numba's threading layer, whose workqueue aborts on concurrent launches.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from .._validation import Constraint, Interval, NoneOr

__all__ = ["Threads", "cut", "in_parallel", "numba_threads", "on_threads", "start_pieces", "work_and_wait"]


class Threads(Constraint):
    """``None`` or a thread count numba can run: an int in ``[1, NUMBA_NUM_THREADS]``.

    The bound is numba's, read when a value is checked (it is set by the
    environment of the process), so the constraint imports numba only then.
    """

    def _rule(self) -> Constraint:
        import numba

        return NoneOr(Interval("int", 1, numba.config.NUMBA_NUM_THREADS))

    @property
    def description(self) -> str:  # type: ignore[override]
        return self._rule().description

    def check(self, name: str, owner: str, value: object) -> Any:
        return self._rule().check(name, owner, value)

    def invalid_example(self) -> object:
        return 0


@contextlib.contextmanager
def numba_threads(threads: int | None) -> Iterator[None]:
    """Run the block with numba's thread count set to ``threads`` (unchanged if None)."""
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


def start_pieces(pieces: list[tuple[int, int]], fn, n_pool: int):
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


def work_and_wait(work, futures) -> None:
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


def cut(n_items: int, n_pieces: int) -> list[tuple[int, int]]:
    """``[0, n_items)`` as ``n_pieces`` contiguous ranges of (nearly) equal length."""
    return [(n_items * i // n_pieces, n_items * (i + 1) // n_pieces) for i in range(n_pieces)]


def on_threads(n_items: int, n_pieces: int, fn, n_t: int) -> None:
    """``fn(lo, hi)`` over ``[0, n_items)`` cut into ``n_pieces``, taken by this thread
    and ``n_t - 1`` pool threads; here alone if ``n_t == 1`` or ``n_pieces < 2``."""
    if n_t == 1 or n_pieces < 2:
        fn(0, n_items)
        return
    work, _stop, futures = start_pieces(cut(n_items, n_pieces), fn, n_t - 1)
    work_and_wait(work, futures)


def in_parallel(n_items: int, fn, min_piece: int = 256) -> None:
    """``fn(lo, hi)`` over ``[0, n_items)`` on ``numba.get_num_threads()`` threads (this
    one included), two pieces per thread; here alone below ``2 * min_piece`` items."""
    import numba

    n_t = numba.get_num_threads()
    on_threads(n_items, min(2 * n_t, n_items // min_piece), fn, n_t)
