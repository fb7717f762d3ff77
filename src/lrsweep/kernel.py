"""The numba kernel: many per-sample SGD trajectories, metrics streamed in one pass.

Pure numeric code on plain arrays; it checks nothing (the Python layer in
:mod:`lrsweep.runner` validates, allocates and lays out the arrays). Importing
this module imports numba but compiles nothing: the first call compiles (or
loads the on-disk cache, ``cache=True``).

Layout
------
The trajectories of one chunk are numbered ``t = 0 .. T-1``. Trajectories that
share a dataset and a sample order (a *group*) and differ only in ``lr`` and
``theta0`` are contiguous *lanes*; a *block* is a run of at most a few dozen
lanes of one group. Blocks run in parallel (``prange``); inside a block the
lanes advance together, step by step, so each sample is loaded once and
broadcast to all lanes, and the lane loop is branch-free (selects, not jumps)
so that LLVM can vectorise it.

The update is the seed's node graph, in the seed's operation order
(:mod:`lrsweep.reference` is the oracle, equal to the last bit)::

    z1 = theta * x; z2 = y - z1; loss = z2 * z2
    dz2 = 2 * z2; dz1 = -dz2; dtheta = dz1 * x; theta = theta - lr * dtheta

No fastmath: it would let LLVM drop the finiteness tests that detect
divergence, and contraction to FMA would change the last bit.

Metric definitions live in :mod:`lrsweep.metrics`; the column order of the
output arrays is :data:`lrsweep.metrics.FLOAT_FIELDS` and
:data:`lrsweep.metrics.INT_FIELDS`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# Status codes (mirrored by lrsweep.metrics.Status).
CONVERGED, SLOW, OSCILLATING, DIVERGED = 0, 1, 2, 3

# Output rows of the float and int result arrays (names in lrsweep.metrics).
F_THETA, F_MAX_ABS_ERROR, F_MAX_JUMP, F_LOSS_ZIGZAG, F_LOSS_LAST, F_GROWTH = range(6)
N_FLOAT = 6
(I_STATUS, I_CONVERGED, I_DIVERGED, I_SIGN, I_SIGN_LAST, I_MAX_ABS_STEP, I_MAX_JUMP_STEP,
 I_MAX_JUMP_SAMPLE) = range(8)
N_INT = 8


@njit(cache=True, error_model="numpy", nogil=True)
def _run_block_nb(
    x, y, doff, m, n, ioff, idx, epochs, ref,
    lr, theta0, tol, div_factor, sign_floor, osc_min,
    rec_row, rec_every, rec_theta, rec_loss,
    out_f, out_i,
):  # pragma: no cover - compiled
    """Run the lanes ``lr``/``theta0`` (views of one block) on one dataset.

    Equal, step for step, to :func:`lrsweep.reference.run_trajectory`.
    ``ioff < 0`` means the implicit order ``i = k mod m`` (fixed, and online
    where ``m`` is the whole stream); otherwise ``i = idx[ioff + k]``.
    """
    L = lr.shape[0]
    K = epochs * n
    last_start = K - n  # updates done when the last epoch starts
    th = np.empty(L)
    alive = np.empty(L, dtype=np.bool_)
    bound = np.empty(L)
    floor = np.empty(L)
    thr = np.empty(L)
    mae = np.empty(L)
    mae_step = np.zeros(L, dtype=np.int64)
    mj = np.zeros(L)
    mj_step = np.zeros(L, dtype=np.int64)
    mj_sample = np.full(L, -1, dtype=np.int64)
    last_viol = np.full(L, -1, dtype=np.int64)
    sc = np.zeros(L, dtype=np.int64)
    sc_last = np.zeros(L, dtype=np.int64)
    div_step = np.full(L, -1, dtype=np.int64)
    lsum = np.zeros(L)
    lprev = np.zeros(L)
    dprev = np.zeros(L)
    zig = np.zeros(L, dtype=np.int64)
    e_start = np.empty(L)
    exit_step = np.full(L, -1, dtype=np.int64)
    exit_err = np.zeros(L)
    lstep = np.zeros(L)
    for j in range(L):
        t0 = theta0[j]
        e0 = t0 - ref
        scale = max(abs(e0), abs(ref))
        if scale == 0.0:
            scale = 1.0
        th[j] = t0
        alive[j] = True
        bound[j] = div_factor * scale
        floor[j] = sign_floor * scale
        thr[j] = tol * abs(e0)
        mae[j] = abs(e0)
        last_viol[j] = 0 if abs(e0) > thr[j] else -1
        e_start[j] = e0
    n_rec = 0
    for j in range(L):
        if rec_row[j] >= 0:
            n_rec += 1
    for k in range(K):
        if ioff < 0:
            i = k % m
        else:
            i = idx[ioff + k]
        xi = x[doff + i]
        yi = y[doff + i]
        step = k + 1
        in_last = k >= last_start
        zig_ok = k >= last_start + 2
        for j in range(L):
            t = th[j]
            # --- the seed's node graph, in its operation order ---
            z1 = t * xi
            z2 = yi - z1
            loss = z2 * z2
            dz2 = 2.0 * z2
            dz1 = -dz2
            dth = dz1 * xi
            tn = t - lr[j] * dth
            # --- divergence: freeze at the last in-bound theta ---
            en = tn - ref
            aen = abs(en)
            ok = alive[j] and aen <= bound[j]  # False for NaN too
            div_step[j] = step if (alive[j] and not ok) else div_step[j]
            alive[j] = ok
            th[j] = tn if ok else t
            lstep[j] = loss
            # --- streaming metrics (accepted steps only) ---
            ep = t - ref
            jump = abs(tn - t)
            up = ok and jump > mj[j]
            mj[j] = jump if up else mj[j]
            mj_step[j] = step if up else mj_step[j]
            mj_sample[j] = i if up else mj_sample[j]
            up = ok and aen > mae[j]
            mae[j] = aen if up else mae[j]
            mae_step[j] = step if up else mae_step[j]
            last_viol[j] = step if (ok and aen > thr[j]) else last_viol[j]
            hit = ok and aen <= floor[j] and exit_step[j] < 0
            exit_step[j] = step if hit else exit_step[j]
            exit_err[j] = aen if hit else exit_err[j]
            flip = ok and ((en < 0.0 and ep > 0.0) or (en > 0.0 and ep < 0.0))
            flip = flip and abs(ep) > floor[j] and aen > floor[j]
            sc[j] += 1 if flip else 0
            if in_last:
                sc_last[j] += 1 if flip else 0
                lsum[j] += loss if ok else 0.0
                d = loss - lprev[j]
                zig[j] += 1 if (ok and zig_ok and d * dprev[j] < 0.0) else 0
                dprev[j] = d
                lprev[j] = loss
            if step == last_start:
                e_start[j] = th[j] - ref
        if n_rec > 0 and step % rec_every == 0:
            slot = step // rec_every - 1
            for j in range(L):
                r = rec_row[j]
                if r >= 0 and alive[j]:
                    rec_theta[r, slot] = th[j]
                    rec_loss[r, slot] = lstep[j]
    # --- per-lane results ---
    for j in range(L):
        e = th[j] - ref
        e0 = theta0[j] - ref
        out_f[F_THETA, j] = th[j]
        out_f[F_MAX_ABS_ERROR, j] = mae[j]
        out_f[F_MAX_JUMP, j] = mj[j]
        if div_step[j] >= 0 or n < 3:
            out_f[F_LOSS_ZIGZAG, j] = np.nan
        else:
            out_f[F_LOSS_ZIGZAG, j] = zig[j] / (n - 2)
        out_f[F_LOSS_LAST, j] = np.nan if div_step[j] >= 0 else lsum[j] / n
        if div_step[j] >= 0:
            if e0 == 0.0:
                out_f[F_GROWTH, j] = np.inf
            else:
                out_f[F_GROWTH, j] = (np.log(bound[j]) - np.log(abs(e0))) * n / div_step[j]
        elif exit_step[j] >= 0:
            out_f[F_GROWTH, j] = (np.log(exit_err[j]) - np.log(abs(e0))) * n / exit_step[j]
        elif e_start[j] == 0.0:
            out_f[F_GROWTH, j] = np.nan
        else:
            out_f[F_GROWTH, j] = np.log(abs(e)) - np.log(abs(e_start[j]))
        if div_step[j] >= 0:
            status = DIVERGED
            conv = -1
        elif last_viol[j] < K:
            status = CONVERGED
            conv = last_viol[j] + 1
        else:
            conv = -1
            status = OSCILLATING if sc_last[j] >= osc_min else SLOW
        out_i[I_STATUS, j] = status
        out_i[I_CONVERGED, j] = conv
        out_i[I_DIVERGED, j] = div_step[j]
        out_i[I_SIGN, j] = sc[j]
        out_i[I_SIGN_LAST, j] = sc_last[j]
        out_i[I_MAX_ABS_STEP, j] = mae_step[j]
        out_i[I_MAX_JUMP_STEP, j] = mj_step[j]
        out_i[I_MAX_JUMP_SAMPLE, j] = mj_sample[j]


@njit(cache=True, parallel=True, error_model="numpy")
def run_chunk_nb(
    x, y, g_doff, g_m, g_n, g_ioff, g_ref, idx, epochs,
    b_group, b_start, b_len,
    lr, theta0, tol, div_factor, sign_floor, osc_min,
    rec_row, rec_every, rec_theta, rec_loss,
    out_f, out_i,
):  # pragma: no cover - compiled
    """Run every block of a chunk; blocks in parallel, results into ``out_*``.

    Parameters are plain arrays: datasets concatenated in ``x``/``y`` (group
    ``g`` uses ``x[g_doff[g] : g_doff[g] + g_m[g]]``, ``g_n[g]`` steps per
    epoch, sample order ``idx[g_ioff[g]:]`` or implicit if ``g_ioff[g] < 0``,
    reference ``g_ref[g]``); block ``b`` holds lanes ``b_start[b] ..
    b_start[b] + b_len[b] - 1`` of group ``b_group[b]``; per-lane ``lr``,
    ``theta0`` and ``rec_row`` (row of ``rec_theta``/``rec_loss`` or -1);
    outputs ``out_f`` (N_FLOAT, T) and ``out_i`` (N_INT, T).
    """
    for b in prange(b_group.shape[0]):
        g = b_group[b]
        s = b_start[b]
        e = s + b_len[b]
        _run_block_nb(
            x, y, g_doff[g], g_m[g], g_n[g], g_ioff[g], idx, epochs, g_ref[g],
            lr[s:e], theta0[s:e], tol, div_factor, sign_floor, osc_min,
            rec_row[s:e], rec_every, rec_theta, rec_loss,
            out_f[:, s:e], out_i[:, s:e],
        )
