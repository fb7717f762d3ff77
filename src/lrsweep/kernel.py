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


# Per-lane state lives in one flat buffer, field-major with a compile-time
# stride of BLOCK_LANES: field f of lane j is f[f * BLOCK_LANES + j]. With one
# buffer and constant distances between fields, LLVM proves the lane loop free
# of aliasing and vectorises it (with ~25 separate arrays it gave up: "too many
# memory checks needed").
BLOCK_LANES = 64
(_TH, _LR, _BOUND, _FLOOR, _THR, _MAE, _MJ, _LSUM, _LPREV, _DPREV, _ESTART, _EXITERR,
 _LSTEP) = range(13)
N_FSTATE = 13
# Counters and step numbers are kept as float64 in the same buffer (exact below
# 2**53 steps): one underlying object means no runtime alias checks at all.
(_ALIVE, _DIV, _MAESTEP, _MJSTEP, _MJSAMPLE, _LASTVIOL, _SC, _SCLAST, _ZIG, _EXITSTEP) = range(13, 23)
N_STATE = 23


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
    At most ``BLOCK_LANES`` lanes.
    """
    B = BLOCK_LANES
    L = lr.shape[0]
    K = epochs * n
    last_start = K - n  # updates done when the last epoch starts
    f = np.zeros(N_STATE * B)
    for j in range(L):
        t0 = theta0[j]
        e0 = t0 - ref
        scale = max(abs(e0), abs(ref))
        if scale == 0.0:
            scale = 1.0
        f[_TH * B + j] = t0
        f[_LR * B + j] = lr[j]
        f[_BOUND * B + j] = div_factor * scale
        f[_FLOOR * B + j] = sign_floor * scale
        f[_THR * B + j] = tol * abs(e0)
        f[_MAE * B + j] = abs(e0)
        f[_ESTART * B + j] = e0
        f[_ALIVE * B + j] = 1
        f[_DIV * B + j] = -1
        f[_MJSAMPLE * B + j] = -1
        f[_LASTVIOL * B + j] = 0 if abs(e0) > tol * abs(e0) else -1
        f[_EXITSTEP * B + j] = -1
    n_rec = 0
    for j in range(L):
        if rec_row[j] >= 0:
            n_rec += 1
    for k in range(K):
        if ioff < 0:
            i = k % m
        else:
            i = np.int64(idx[ioff + k])
        xi = x[doff + i]
        yi = y[doff + i]
        step = k + 1
        in_last = k >= last_start
        zig_ok = k >= last_start + 2
        at_start = step == last_start
        fstep = np.float64(step)
        fi = np.float64(i)
        for j in range(L):
            t = f[_TH * B + j]
            # --- the seed's node graph, in its operation order ---
            z1 = t * xi
            z2 = yi - z1
            loss = z2 * z2
            dz2 = 2.0 * z2
            dz1 = -dz2
            dth = dz1 * xi
            tn = t - f[_LR * B + j] * dth
            # --- divergence: freeze at the last in-bound theta ---
            # Bitwise & and | (not `and`/`or`) and selects: no branches, so the
            # lane loop vectorises.
            en = tn - ref
            aen = abs(en)
            was = f[_ALIVE * B + j] != 0
            ok = was & (aen <= f[_BOUND * B + j])  # False for NaN too
            f[_DIV * B + j] = fstep if (was & ~ok) else f[_DIV * B + j]
            f[_ALIVE * B + j] = 1.0 if ok else 0.0
            tk = tn if ok else t
            f[_TH * B + j] = tk
            f[_LSTEP * B + j] = loss
            # --- streaming metrics (accepted steps only) ---
            ep = t - ref
            jump = abs(tn - t)
            up = ok & (jump > f[_MJ * B + j])
            f[_MJ * B + j] = jump if up else f[_MJ * B + j]
            f[_MJSTEP * B + j] = fstep if up else f[_MJSTEP * B + j]
            f[_MJSAMPLE * B + j] = fi if up else f[_MJSAMPLE * B + j]
            up = ok & (aen > f[_MAE * B + j])
            f[_MAE * B + j] = aen if up else f[_MAE * B + j]
            f[_MAESTEP * B + j] = fstep if up else f[_MAESTEP * B + j]
            f[_LASTVIOL * B + j] = fstep if (ok & (aen > f[_THR * B + j])) else f[_LASTVIOL * B + j]
            fl = f[_FLOOR * B + j]
            hit = ok & (aen <= fl) & (f[_EXITSTEP * B + j] < 0)
            f[_EXITSTEP * B + j] = fstep if hit else f[_EXITSTEP * B + j]
            f[_EXITERR * B + j] = aen if hit else f[_EXITERR * B + j]
            flip = ok & (((en < 0.0) & (ep > 0.0)) | ((en > 0.0) & (ep < 0.0)))
            flip = flip & (abs(ep) > fl) & (aen > fl)
            f[_SC * B + j] += np.float64(flip)
            # Last-epoch statistics, as selects on the (uniform) in_last flag.
            f[_SCLAST * B + j] += np.float64(flip & in_last)
            f[_LSUM * B + j] += loss if (ok & in_last) else 0.0
            d = loss - f[_LPREV * B + j]
            f[_ZIG * B + j] += np.float64(ok & zig_ok & (d * f[_DPREV * B + j] < 0.0))
            f[_DPREV * B + j] = d
            f[_LPREV * B + j] = loss
            f[_ESTART * B + j] = (tk - ref) if at_start else f[_ESTART * B + j]
        if n_rec > 0 and step % rec_every == 0:
            slot = step // rec_every - 1
            for j in range(L):
                r = rec_row[j]
                if r >= 0 and f[_ALIVE * B + j] != 0:
                    rec_theta[r, slot] = f[_TH * B + j]
                    rec_loss[r, slot] = f[_LSTEP * B + j]
    # --- per-lane results ---
    for j in range(L):
        th = f[_TH * B + j]
        e = th - ref
        e0 = theta0[j] - ref
        div = np.int64(f[_DIV * B + j])
        exit_step = np.int64(f[_EXITSTEP * B + j])
        out_f[F_THETA, j] = th
        out_f[F_MAX_ABS_ERROR, j] = f[_MAE * B + j]
        out_f[F_MAX_JUMP, j] = f[_MJ * B + j]
        if div >= 0 or n < 3:
            out_f[F_LOSS_ZIGZAG, j] = np.nan
        else:
            out_f[F_LOSS_ZIGZAG, j] = f[_ZIG * B + j] / (n - 2)
        out_f[F_LOSS_LAST, j] = np.nan if div >= 0 else f[_LSUM * B + j] / n
        if div >= 0:
            if e0 == 0.0:
                out_f[F_GROWTH, j] = np.inf
            else:
                out_f[F_GROWTH, j] = (np.log(f[_BOUND * B + j]) - np.log(abs(e0))) * n / div
        elif exit_step >= 0:
            out_f[F_GROWTH, j] = (np.log(f[_EXITERR * B + j]) - np.log(abs(e0))) * n / exit_step
        elif f[_ESTART * B + j] == 0.0:
            out_f[F_GROWTH, j] = np.nan
        else:
            out_f[F_GROWTH, j] = np.log(abs(e)) - np.log(abs(f[_ESTART * B + j]))
        last_viol = np.int64(f[_LASTVIOL * B + j])
        if div >= 0:
            status = DIVERGED
            conv = -1
        elif last_viol < K:
            status = CONVERGED
            conv = last_viol + 1
        else:
            conv = -1
            status = OSCILLATING if np.int64(f[_SCLAST * B + j]) >= osc_min else SLOW
        out_i[I_STATUS, j] = status
        out_i[I_CONVERGED, j] = conv
        out_i[I_DIVERGED, j] = div
        out_i[I_SIGN, j] = np.int64(f[_SC * B + j])
        out_i[I_SIGN_LAST, j] = np.int64(f[_SCLAST * B + j])
        out_i[I_MAX_ABS_STEP, j] = np.int64(f[_MAESTEP * B + j])
        out_i[I_MAX_JUMP_STEP, j] = np.int64(f[_MJSTEP * B + j])
        out_i[I_MAX_JUMP_SAMPLE, j] = np.int64(f[_MJSAMPLE * B + j])


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
