"""One chunk through the kernel: its arguments laid out, run on threads, its result.

:class:`ChunkCall` turns a chunk of the grid into the kernel's plain arrays
(block plan, datasets, sample orders, learning rates, recording rows,
outputs); :meth:`ChunkCall.run` runs it on this thread and the pool,
:meth:`ChunkCall.start` in the pool only (the runner pipelines chunks so);
:meth:`ChunkCall.result` adds the derived columns and returns the
:class:`~lrsweep.engine.layout.ChunkResult`. :func:`run_chunk` does all
three (a dask worker runs exactly this).
"""

from __future__ import annotations

import numpy as np

from ..config import SweepConfig
from ..grid import Chunk, group_indices, lane_axis, lane_values
from ..metrics import FLOAT_FIELDS, INT_FIELDS
from ..schedules import multipliers
from ..theory.noise import _closure
from . import kernel
from .chunkdata import ChunkData
from .layout import ChunkResult, plan_chunk
from .threads import cut, on_threads, start_pieces

__all__ = ["ChunkCall", "Running", "noise_floor", "run_chunk"]


class ChunkCall:
    """The kernel's arguments for one chunk, laid out once (also used by the benchmarks)."""

    def __init__(self, config, chunk, rec_ids, record_every, n_slots, reuse=None):
        self.plan = plan = plan_chunk(config, chunk)
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
            data = ChunkData(config, groups)
            if reuse is not None:
                reuse.update(groups=key, data=data)
        self.data = data
        lr, theta0 = lane_values(config, chunk.start, chunk.stop)
        T = len(chunk)
        # Recording rows for the recorded trajectories of this chunk.
        lo, hi = np.searchsorted(rec_ids, [chunk.start, chunk.stop])
        self.chunk = chunk
        self.chunk_rec = rec_ids[lo:hi]
        rec_row = np.full(T, -1, dtype=np.int64)
        rec_row[self.chunk_rec - chunk.start] = np.arange(len(self.chunk_rec))
        self.rec_theta = np.full((len(self.chunk_rec), n_slots), np.nan)
        self.rec_loss = np.full((len(self.chunk_rec), n_slots), np.nan)
        self.out_f = np.empty((len(FLOAT_FIELDS), T))
        self.out_i = np.empty((len(INT_FIELDS), T), dtype=np.int64)
        lg = self.lane_group
        first = lg[plan.b_start]  # group of each block's first lane
        # The optimizer: per lane momentum and Nesterov, per group batch size and schedule.
        beta = lane_axis(config, "momentum", chunk.start, chunk.stop)
        nest = lane_axis(config, "nesterov", chunk.start, chunk.stop)
        ix = group_indices(config, groups)
        g_bs = config.axis_array("batch_size")[ix["batch_size"]]
        g_sched = ix["schedule"]
        g_steps = -(-data.g_n // g_bs)  # steps per epoch
        sched, g_soff, g_last_max, has_sched = _schedules(config, g_sched, g_steps)
        self.features = (has_sched, bool((g_bs > 1).any()), bool((beta > 0).any()))
        stats = data.g_stats[:, lg]
        # The noise floor at the largest learning rate of the last epoch (a schedule's, quasi-static);
        # lanes of p > 1 coordinates take their rows' moments (the isotropic closure).
        lr_last = lr * g_last_max[lg] if has_sched else lr
        moments, coords = stats[2:5], 1
        if config.has_features and data.has_features:
            coords = data.g_p[lg]
            moments = np.where(coords > 1, data.g_zmoments[:, lg], moments)
        self.noise_rms, floor2 = noise_floor(lr_last, *moments, config.noise_factor, g_bs[lg], beta, nest,
                                             coords)
        self.feat = None
        self.weights_ref = None
        if config.has_features:
            l_p = data.g_p[lg]
            self.l_p = l_p
            l_woff = np.zeros(T, dtype=np.int64)
            np.cumsum(l_p[:-1], out=l_woff[1:])
            self.l_woff = l_woff
            if data.has_features:
                l_roff = data.g_roff[lg]
                self.out_w = np.empty(int(l_p.sum()))
                self.rec_err = np.full(self.rec_theta.shape, np.nan)  # the d-feature variant writes it
                self.feat = (data.xf, data.g_xoff[lg], data.refv, l_roff, l_p[plan.b_start],
                             data.g_d[lg][plan.b_start], self.out_w, l_woff, self.rec_err)
                coord = np.arange(len(self.out_w), dtype=np.int64) - np.repeat(l_woff, l_p)
                self.weights_ref = data.refv[np.repeat(l_roff, l_p) + coord]
        self.args = (
            data.x, data.y, data.g_doff[lg], data.g_ioff[lg], data.g_ref[lg], floor2, beta, nest, data.idx,
            sched, config.epochs, plan.b_start, plan.b_len, data.g_m[first], data.g_n[first],
            g_bs[first], g_soff[first], plan.b_gather,
            lr, theta0,
            config.tol, config.diverge_factor, config.sign_floor, config.oscillation_min,
            rec_row, record_every, self.rec_theta, self.rec_loss, self.out_f, self.out_i,
        )

    #: Pieces per thread: block ranges are handed out as each thread finishes
    #: its last one, so a thread slowed by another process does not hold up
    #: the chunk (a static split waits for the slowest thread).
    PIECES_PER_THREAD = 4

    def _kernel(self, lo: int, hi: int) -> None:
        kernel.run_chunk_nb(*self.args, lo, hi, self.features, self.feat)

    def _n_pieces(self, n_t: int) -> int:
        return min(len(self.plan.b_start), self.PIECES_PER_THREAD * n_t)

    def result(self) -> ChunkResult:
        """The finished chunk, with the derived columns computed from the kernel's output."""
        # Per-lane group (local index) for the derived columns.
        lane_group = self.lane_group
        theta_ref = self.data.g_ref[lane_group]
        e = self.out_f[FLOAT_FIELDS.index("theta_final")] - theta_ref
        r2, xr, xx = self.data.g_stats[:3, lane_group]
        with np.errstate(over="ignore"):  # inf only beyond float64's range (documented)
            loss_final = r2 - 2.0 * e * xr + e * e * xx
        derived = {"theta_ref": theta_ref, "abs_error_final": np.abs(e), "loss_final": loss_final,
                   "noise_rms": self.noise_rms}
        weights = None
        if self.weights_ref is not None:
            weights = np.stack([self.out_w, self.weights_ref])
            _feature_columns(self, derived, weights)
        elif hasattr(self, "l_p"):  # a sweep with d features, but every lane of this chunk has one
            weights = np.stack([self.out_f[FLOAT_FIELDS.index("theta_final")], theta_ref])
        if self.feat is None:  # one coordinate per lane: |theta_k - theta_ref| (NaN where not recorded)
            rec_err = np.abs(self.rec_theta - theta_ref[self.chunk_rec - self.chunk.start][:, None])
        else:
            rec_err = self.rec_err
        return ChunkResult(self.chunk, self.out_f, self.out_i, derived, self.chunk_rec, self.rec_theta,
                           self.rec_loss, rec_err, weights)

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
        on_threads(n_b, self._n_pieces(n_t), self._kernel, n_t)

    def start(self, n_t: int) -> Running:
        """Run the kernel on ``n_t`` pool threads and return at once (the runner pipelines chunks with it)."""
        n_t = max(1, min(n_t, len(self.plan.b_start)))
        _work, stop, futures = start_pieces(cut(len(self.plan.b_start), self._n_pieces(n_t)),
                                             self._kernel, n_t)
        return Running(self, stop, futures)


class Running:
    """A chunk whose kernel runs in the pool: ``wait()`` for it, or ``cancel()``."""

    def __init__(self, call: ChunkCall, stop, futures):
        self.call, self._stop, self._futures = call, stop, futures

    def wait(self) -> ChunkCall:
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


def _feature_columns(call: ChunkCall, derived: dict, weights: np.ndarray) -> None:
    """The derived columns of the lanes with more than one coordinate (lrsweep.metrics, "In d dimensions").

    ``theta_ref`` NaN (the reference is in the weights frame),
    ``abs_error_final`` the error norm of the final coordinates,
    ``loss_final`` the full-batch MSE ``mean r^2 - 2 e . mean(x r) + e^T mean(x x^T) e``
    (``r = y - x theta_ref``, the one-feature formula with vectors); ``noise_rms``
    is set when laid out (:func:`noise_floor`).
    """
    from ..reference_features import error_norm

    l_p, l_woff = call.l_p, call.l_woff
    big = np.flatnonzero(l_p > 1)
    derived["theta_ref"][big] = np.nan
    l_ds = call.data.g_ds[call.lane_group]
    for p in np.unique(l_p[big]).tolist():
        lanes = big[l_p[big] == p]
        at = l_woff[lanes][:, None] + np.arange(p)
        e = weights[0][at] - weights[1][at]  # (lanes, p)
        q = np.full(len(lanes), -0.0)
        with np.errstate(over="ignore", invalid="ignore"):
            for c in range(p):  # left to right, as the kernel's norm
                q = q + e[:, c] * e[:, c]
            norm = np.sqrt(q)
        for r in np.flatnonzero(~((q >= 2.0**-1022) & (q <= np.finfo(np.float64).max))).tolist():
            norm[r] = error_norm(e[r].tolist())  # the rare scaled form
        derived["abs_error_final"][lanes] = norm
        loss = np.empty(len(lanes))
        ds = l_ds[lanes]
        for k in np.unique(ds).tolist():
            sel = ds == k
            r2, xr, xx = call.data.gram[k]
            ek = e[sel]
            with np.errstate(over="ignore", invalid="ignore"):
                loss[sel] = r2 - 2.0 * (ek @ xr) + np.einsum("lp,pq,lq->l", ek, xx, ek)
        derived["loss_final"][lanes] = loss


def _schedules(config: SweepConfig, g_sched: np.ndarray, g_steps: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """The schedule multipliers of a chunk's groups: ``(sched, g_soff, g_last_max, any non-constant)``.

    One array per distinct (schedule, steps per epoch) of the chunk,
    concatenated; group ``g``'s step ``k`` uses ``sched[g_soff[g] + k]``, and
    ``g_last_max[g]`` is its largest multiplier over the last epoch. Without
    any non-constant schedule, nothing is built (the kernel variant without
    schedules ignores them).
    """
    specs = config.axes["schedule"]
    if all(specs[int(s)] == "constant" for s in np.unique(g_sched)):
        return np.ones(1), np.zeros(len(g_sched), dtype=np.int64), np.ones(len(g_sched)), False
    key = g_sched.astype(np.int64) * (int(g_steps.max()) + 1) + g_steps
    uniq, first, inv = np.unique(key, return_index=True, return_inverse=True)
    parts, offsets, last_max, off = [], np.empty(len(uniq), dtype=np.int64), np.empty(len(uniq)), 0
    for u, g in enumerate(first):
        per_epoch = int(g_steps[g])
        steps = config.epochs * per_epoch
        m = multipliers(specs[int(g_sched[g])], steps, per_epoch, config.lr_multipliers)
        parts.append(m)
        offsets[u] = off
        last_max[u] = m[steps - per_epoch:].max()
        off += steps
    inv = inv.ravel()
    return np.concatenate(parts), offsets[inv], last_max[inv], True


def noise_floor(lr: np.ndarray, mean_xx: np.ndarray, mean_xr2: np.ndarray, mean_x4: np.ndarray,
                noise_factor: float, batch_size: np.ndarray | int = 1, momentum: np.ndarray | float = 0.0,
                nesterov: np.ndarray | bool = False,
                coordinates: np.ndarray | int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Stationary RMS error per lane and the kernel's squared noise floor (see ``metrics.DERIVED``).

    ``v`` = :func:`lrsweep.theory.stationary_mse` of the dataset's moments
    (batches drawn with replacement, momentum, Nesterov); per-sample SGD:
    ``v = lr mean(x^2 r^2) / (mean(x^2) - lr mean(x^4))``. A lane of ``p =
    coordinates > 1`` passes ``mean ||z||^2``, ``mean r^2 ||z||^2`` and
    ``mean ||z||^4`` and gets ``E ||e||^2`` by the isotropic closure (same
    function). Where ``v`` is finite (inside the mean-square region) returns
    ``sqrt(v)`` and ``noise_factor^2 v``, elsewhere NaN and -1.
    """
    b = np.asarray(batch_size, dtype=np.float64)
    beta = np.asarray(momentum, dtype=np.float64)
    p = np.asarray(coordinates, dtype=np.float64)
    nest = np.broadcast_to(np.asarray(nesterov, dtype=bool), np.shape(lr))
    v = np.empty(np.shape(lr))
    for flag in (False, True):  # the closed form takes Nesterov as one flag
        sel = nest == flag
        if sel.any():
            args = (np.broadcast_to(a, np.shape(lr))[sel] for a in (mean_xx, mean_x4, mean_xr2, lr, b, beta))
            v[sel] = _closure(*args, flag, np.broadcast_to(p, np.shape(lr))[sel])
    with np.errstate(all="ignore"):  # inf is sorted out just below
        ok = np.isfinite(v)
        rms = np.where(ok, np.sqrt(np.where(ok, v, 0.0)), np.nan)
        floor2 = np.where(ok, (noise_factor * noise_factor) * np.where(ok, v, 0.0), -1.0)
    return rms, floor2


def run_chunk(config: SweepConfig, chunk: Chunk, rec_ids: np.ndarray, record_every: int, n_slots: int,
              reuse: dict | None = None) -> ChunkResult:
    """Lay out, run and collect one chunk on ``numba.get_num_threads()`` threads.

    ``rec_ids`` are the sweep's recorded trajectory ids (sorted), recorded
    every ``record_every`` steps into ``n_slots`` slots; ``reuse`` is a dict
    kept by the caller for one sweep (see :class:`ChunkCall`).
    """
    call = ChunkCall(config, chunk, rec_ids, record_every, n_slots, reuse)
    call.run()
    return call.result()
