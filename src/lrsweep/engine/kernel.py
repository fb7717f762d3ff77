"""The numba kernel: many per-sample SGD trajectories, metrics streamed in one pass.

Pure numeric code on plain arrays; it checks nothing (the Python layer in
:mod:`lrsweep.engine.chunk` validates, allocates and lays out the arrays). Importing
this module imports numba but compiles nothing: the first call compiles (or
loads the on-disk cache, ``cache=True``).

Layout
------
The trajectories of one chunk are numbered ``t = 0 .. T-1``. Trajectories that
share a dataset and a sample order (a *group*) and differ only in ``lr`` and
``theta0`` are contiguous *lanes*; a *block* is a run of at most
``BLOCK_LANES`` lanes that advance together, step by step. Blocks run in
parallel (a range of blocks per thread, :meth:`lrsweep.engine.chunk.ChunkCall.run`);
the lane loop is branch-free (selects, not jumps) so that LLVM vectorises it.
Two kinds of blocks (:func:`lrsweep.engine.layout.plan_chunk`):

* *shared*: lanes of one group (groups of >= ``GATHER_BELOW`` lanes, e.g. an
  lr sweep); each sample is loaded once and broadcast to all lanes;
* *gathered*: lanes of different small groups (e.g. one lane per seed) with
  equal ``n`` and order kind. With the implicit order (``"fixed"``, the
  default) each block first copies its lanes' datasets lane-interleaved into
  a scratch tile (once per block, not once per epoch), and each step loads
  whole vectors from it; with an explicit order (shuffled, with replacement)
  each step copies every lane's own sample into the tile's first row
  (``vgatherqpd``). Then the same lane loop runs.

All blocks of a chunk are of one kind. Each *variant* is its own compiled
function, made from one source by :func:`_make_chunk` with four constant
flags: the kind of block (shared or gathered) and the optimizer features
the chunk needs (a schedule of per-step multipliers, batches of more than
one sample, momentum). :func:`variant` makes a variant on first use and
:func:`run_chunk_nb` picks it, so a sweep compiles only the variants it
runs, and the plain per-sample, constant-lr variants compile to the same
lane loops as before the optimizer axes (``benchmarks/test_optimizer_axes.py``
measures old against new, interleaved). The block loop lives inside each
variant: a closure that calls another compiled closure cannot be cached.

What LLVM emits (checked with ``inspect_asm`` on a Sapphire-Rapids-class
AVX-512 CPU, numba 0.68 / LLVM via llvmlite 0.50; on AVX-512 machines
``tests/test_kernel.py::test_lane_loops_are_512_bit_vector_loops`` checks
that both variants' lane loops are zmm loops with masked stores and no
scalar arithmetic)
---------------------------------------------------------------------------
* LLVM's default there is ``prefer-vector-width=256`` (AVX-512 instructions
  on ymm, 4 lanes). :func:`_prefer_512bit_vectors` sets the function
  attributes ``prefer-vector-width=512`` / ``min-legal-vector-width=512`` on
  the block function only: its lane loops use zmm (8 lanes, VF=8, no
  interleave); measured 1.5x over ymm on the same loop. No global LLVM
  option: ``-force-vector-width=8`` via ``llvmlite.binding.set_option`` also
  gives zmm but is process-wide, and it prints "loop not vectorized"
  remarks for every loop it cannot vectorise.
* The state buffer is an ``alloca`` (:func:`_state_buffer`), so LLVM knows it
  aliases no argument: no runtime alias checks; 1.3-1.6x over ``np.zeros``.
* ``f[i] = v if c else old`` with ``old`` loaded *before* the select becomes
  one masked store (``vmovupd ... {%k}``); with the load inside the ternary
  LLVM emitted knot + masked load + blend + store. ``if c: f[i] = v`` blocks
  are not vectorised at all ("Control flow cannot be substituted for a
  select"). The lane loop before the last epoch is 48 instructions per 8
  lanes (13 FP arithmetic, 10 compares into mask registers, 4 mask ops, 11
  zmm stores, no scalar fallback inside the loop); the last-epoch loop ~62.
* The lane loops run over a multiple of 8 lanes (padding lanes are never
  written out), so the scalar remainder loop LLVM emits is never entered.
* Gathered blocks: the staging loops vectorise to ``vgatherqpd`` (and
  ``vpgatherqd`` for int32 sample orders) because the indices are unsigned
  (signed indices add numba's negative-index wraparound code; in the lane
  loop a signed ``tile[row + j]`` turned the contiguous loads into gathers
  and the kernel 1.5x slower). Fusing the gathers into the lane loop
  measured slower than staging. The tile (fixed order) made per-trajectory
  datasets 1.34-1.44x faster than per-step gathers (``/tmp`` A/B probe,
  same process, T = 1e5 and 16384, 1 thread); copying lane by lane
  (sequential reads, strided stores) instead of sample by sample (gathers)
  was slower (1.13-1.16x).
* The state buffer and the tile start on a cache line (64 bytes).

The update is the seed's node graph, in the seed's operation order
(:mod:`lrsweep.reference` is the oracle, equal to the last bit)::

    z1 = theta * x; z2 = y - z1; loss = z2 * z2
    dz2 = 2 * z2; dz1 = -dz2; dtheta = dz1 * x; theta = theta - lr * dtheta

With the optimizer axes, ``lr`` is the base lr times the step's schedule
multiplier; a batch sums the ``dtheta`` of its samples (from ``-0.0``) and
divides by its size; momentum follows PyTorch's SGD (``v = beta * v + g``;
the step is ``v``, or ``g + beta * v`` with Nesterov; a lane with
``beta = 0`` steps with ``g`` itself, so its bits are plain SGD's).

d features
----------
Chunks with a lane of more than one coordinate run the fifth flag's
variants, made by :func:`lrsweep.engine.kernel_features._make_chunk_feat`
(:func:`variant` makes both kinds); the variants above never see them.

No fastmath: it would let LLVM drop the finiteness tests that detect
divergence, and contraction to FMA would change the last bit.

Metric definitions live in :mod:`lrsweep.metrics`; the column order of the
output arrays is :data:`lrsweep.metrics.FLOAT_FIELDS` and
:data:`lrsweep.metrics.INT_FIELDS`.
"""

from __future__ import annotations

import numpy as np
from numba import carray, njit

from . import kernel_features
from .lanes import (
    _BETA,
    _BOUND,
    _DIV,
    _E2SUM,
    _ESTART,
    _EXITERR,
    _EXITSTEP,
    _FLOOR,
    _GACC,
    _LACC,
    _LASTVIOL,
    _LR,
    _LREC,
    _LSUM,
    _MAE,
    _MAESTEP,
    _MJ,
    _MJSTEP,
    _NEST,
    _REF,
    _SC,
    _SCLAST,
    _TH,
    _THR,
    _V,
    _ZIG,
    CONVERGED,
    DIVERGED,
    F_GROWTH,
    F_LOSS_LAST,
    F_LOSS_ZIGZAG,
    F_MAX_ABS_ERROR,
    F_MAX_JUMP,
    F_RMS_LAST,
    F_THETA,
    GROWING,
    I_CONVERGED,
    I_DIVERGED,
    I_MAX_ABS_STEP,
    I_MAX_JUMP_SAMPLE,
    I_MAX_JUMP_STEP,
    I_SIGN,
    I_SIGN_LAST,
    I_STATUS,
    MAX_BOUND,
    N_STATE,
    NOISE_FLOOR,
    OSCILLATING,
    SLOW,
    _last_epoch,
    _prefer_512bit_vectors,
    _sel,
    _state_buffer,
)
from .layout import BLOCK_LANES, TILE_ROWS, VEC_LANES

#: SHA-256 of :mod:`lrsweep.engine.lanes`, whose helpers the compiled variants inline: numba's
#: cache checks only this file, so a change there must come with a change here (lanes' docstring).
LANES_SHA256 = "40742d274b057fc307ee0a1548ff59d079789a03341a875f74f1e7dffd4c75e3"


@njit(inline="always", error_model="numpy")
def _grad(f, j, xi, yi):  # pragma: no cover - compiled
    """The seed's node graph, in its operation order: (z2, dtheta) of lane ``j`` at sample (xi, yi)."""
    t = f[_TH + j]
    z1 = t * xi
    z2 = yi - z1
    dz2 = 2.0 * z2
    dz1 = -dz2
    dth = dz1 * xi
    return z2, dth


@njit(inline="always", error_model="numpy")
def _update(f, j, g, ref, fstep, mk, SCHED, MOM):  # pragma: no cover - compiled
    """Lane ``j``'s update with gradient ``g``; returns (ok, flip, en) of :func:`_accept`.

    ``lr_t = lr * mk`` (``SCHED``, ``mk`` the step's schedule multiplier) or
    ``lr``. Momentum (``MOM``, PyTorch's convention): ``v = beta v + g``, then
    the step uses ``v`` (heavy ball) or ``g + beta v`` (Nesterov); a lane
    with ``beta == 0`` uses ``g`` itself, so that it equals plain SGD to the
    last bit. ``SCHED`` and ``MOM`` are constants of the calling variant: the
    branches of the others fold away before vectorisation.
    """
    t = f[_TH + j]
    lrt = f[_LR + j]
    if SCHED:
        lrt = lrt * mk
    if MOM:
        beta = f[_BETA + j]
        vn = beta * f[_V + j] + g
        f[_V + j] = vn
        u = _sel(beta == 0.0, g, _sel(f[_NEST + j] != 0.0, g + beta * vn, vn))
        tn = t - lrt * u
    else:
        tn = t - lrt * g
    return _accept(f, j, t, tn, ref, fstep)


@njit(inline="always", error_model="numpy")
def _step(f, j, xi, yi, ref, fstep, mk, SCHED, MOM):  # pragma: no cover - compiled
    """One per-sample update of lane ``j`` and the metrics of every step; returns (ok, flip, z2, en).

    Inlined (numba IR) into each lane loop. Bitwise & | ^ and selects, no
    branches, so that the lane loop vectorises.
    """
    z2, dth = _grad(f, j, xi, yi)
    ok, flip, en = _update(f, j, dth, ref, fstep, mk, SCHED, MOM)
    return ok, flip, z2, en


@njit(inline="always", error_model="numpy")
def _accumulate(f, j, xi, yi, LOSS):  # pragma: no cover - compiled
    """Add sample (xi, yi)'s gradient (and, with ``LOSS``, its loss) to lane ``j``'s batch sums."""
    z2, dth = _grad(f, j, xi, yi)
    f[_GACC + j] += dth
    if LOSS:
        f[_LACC + j] += z2 * z2


@njit(inline="always", error_model="numpy")
def _accept(f, j, t, tn, ref, fstep):  # pragma: no cover - compiled
    """Accept lane ``j``'s step from ``t`` to ``tn`` unless it diverges; the metrics of every step.

    Returns (ok, flip, en): whether the step was accepted, whether it changed
    the sign of ``e`` (above the floor), and the new error ``en``.
    """
    # --- divergence: freeze at the last in-bound theta ---
    en = tn - ref
    aen = abs(en)
    div = f[_DIV + j]
    alive = div < 0.0
    ok = alive & (aen <= f[_BOUND + j])  # False for NaN too
    # Each field is loaded before its select, `f[i] = v if c else old`: LLVM
    # then emits one masked store (with the load inside the ternary it made a
    # masked load, a mask negation and a blend). `if c: f[i] = v` blocks are
    # not vectorised at all ("Control flow cannot be substituted for a select").
    f[_DIV + j] = _sel(alive & ~ok, fstep, div)
    f[_TH + j] = _sel(ok, tn, t)
    # --- streaming metrics (accepted steps only) ---
    ep = t - ref
    jump = abs(tn - t)
    mj = f[_MJ + j]
    mjs = f[_MJSTEP + j]
    up = ok & (jump > mj)
    f[_MJ + j] = _sel(up, jump, mj)
    f[_MJSTEP + j] = _sel(up, fstep, mjs)
    mae = f[_MAE + j]
    maes = f[_MAESTEP + j]
    up = ok & (aen > mae)
    f[_MAE + j] = _sel(up, aen, mae)
    f[_MAESTEP + j] = _sel(up, fstep, maes)
    lv = f[_LASTVIOL + j]
    f[_LASTVIOL + j] = _sel(ok & (aen > f[_THR + j]), fstep, lv)
    fl = f[_FLOOR + j]
    ex = f[_EXITSTEP + j]
    exe = f[_EXITERR + j]
    hit = ok & (aen <= fl) & (ex < 0.0)
    f[_EXITSTEP + j] = _sel(hit, fstep, ex)
    f[_EXITERR + j] = _sel(hit, aen, exe)
    # Sign change of e above the floor. fl >= 0 (sign_floor >= 0), so both
    # |e| > fl make e nonzero and not NaN: "opposite signs" is then exactly
    # (en < 0) != (ep < 0), the seed test (en<0 & ep>0) | (en>0 & ep<0).
    flip = ok & ((en < 0.0) ^ (ep < 0.0)) & (abs(ep) > fl) & (aen > fl)
    sc = f[_SC + j]
    f[_SC + j] = _sel(flip, sc + 1.0, sc)  # a masked add (+= float(flip) took 4 instructions)
    return ok, flip, en


def _make_chunk(GATHER: bool, SCHED: bool, BATCH: bool, MOM: bool):
    """The chunk function of one variant: its kind of block and the optimizer features it has.

    The four flags are constants of the closure: numba prunes (and LLVM
    folds) the branches of the other variants, so each variant compiles and
    caches only its own lane loops and a sweep compiles only the variants it
    runs (:func:`variant`). ``GATHER``: gathered blocks (else shared);
    ``SCHED``: per-step learning-rate multipliers; ``BATCH``: steps of more
    than one sample; ``MOM``: momentum lanes. A variant runs every lane it
    is given exactly (a constant schedule is a multiplier of 1, a batch of
    one sample is divided by 1, a lane with ``beta = 0`` skips the velocity),
    so blocks without a feature may share a chunk with blocks that have it.
    """

    @njit(cache=True, error_model="numpy", nogil=True)
    def run_chunk(
        x, y, l_doff, l_ioff, l_ref, l_floor2, l_beta, l_nest, idx, sched, epochs,
        b_start, b_len, b_m, b_n, b_bs, b_soff,
        lr, theta0, tol, div_factor, sign_floor, osc_min,
        rec_row, rec_every, rec_theta, rec_loss,
        out_f, out_i, b_lo, b_hi,
    ):  # pragma: no cover - compiled
        _prefer_512bit_vectors()
        B = BLOCK_LANES
        rows_max = 1  # scratch for gathered blocks, reused by every block of the range
        if GATHER:
            for b in range(b_lo, b_hi):
                rows_max = max(rows_max, min(b_m[b], TILE_ROWS))
        size = 2 * B * rows_max if GATHER else 0
        raw = np.empty(size + 8)
        a = (-raw.ctypes.data) % 64 // 8  # start on a cache line, like the state buffer
        tile = raw[a:a + size]
        f = carray(_state_buffer(), (N_STATE * B,))
        for b in range(b_lo, b_hi):
            s0 = b_start[b]
            L = b_len[b]
            m = b_m[b]
            n = b_n[b]
            bs = b_bs[b] if BATCH else 1
            soff = b_soff[b] if SCHED else 0
            E = (n + bs - 1) // bs if BATCH else n  # steps per epoch
            K = epochs * E
            last_start = K - E  # updates done when the last epoch starts
            # The block's own views: a lane loop indexed ``v[j]`` (j from 0) loads contiguously;
            # ``l_doff[s0 + j]`` made LLVM add negative-index code to the staging loops (gathered
            # blocks 1.1x slower when tiled, 1.7x with a shuffled order: same-process A/B).
            bv_doff = l_doff[s0:s0 + L]
            bv_ioff = l_ioff[s0:s0 + L]
            bv_rec = rec_row[s0:s0 + L]
            implicit = l_ioff[s0] < 0
            doff0 = l_doff[s0]
            ioff0 = l_ioff[s0]
            ref0 = l_ref[s0]
            # The lane loops run over Lp >= L lanes, a multiple of VEC_LANES: the
            # vectorised loop then never falls into its scalar remainder. The padding
            # lanes copy lane 0 (samples 0 if gathered) and are never written out.
            Lp = min(B, (L + VEC_LANES - 1) // VEC_LANES * VEC_LANES)
            for q in range(N_STATE * B):
                f[q] = 0.0
            for j in range(Lp):
                js = s0 + (j if j < L else 0)
                t0 = theta0[js]
                ref = l_ref[js]
                e0 = t0 - ref
                scale = max(abs(e0), abs(ref))
                if scale == 0.0:
                    scale = 1.0
                f[_TH + j] = t0
                f[_LR + j] = lr[js]
                f[_REF + j] = ref
                f[_BOUND + j] = min(div_factor * scale, MAX_BOUND)
                f[_FLOOR + j] = sign_floor * scale
                f[_THR + j] = tol * abs(e0)
                f[_MAE + j] = abs(e0)
                f[_ESTART + j] = e0
                f[_DIV + j] = -1
                f[_LASTVIOL + j] = 0 if abs(e0) > tol * abs(e0) else -1
                f[_EXITSTEP + j] = -1
                if MOM:
                    f[_BETA + j] = l_beta[js]
                    f[_NEST + j] = 1.0 if l_nest[js] else 0.0
                    f[_V + j] = -0.0  # -0.0 + g is g for every g (also -0.0): v_1 = g exactly
            # Gathered blocks read their samples from `tile`: x rows then y rows,
            # sample i of lane j at row i, column j. Tiled: all m samples, copied once
            # here (the gathers of a step then happen once per dataset, not once per
            # epoch); otherwise row 0 is refilled for every sample. Padding lanes read 0.
            tiled = GATHER and implicit and 2 * B * m <= tile.shape[0]
            rows = m if tiled else 1
            ty = rows * B  # start of the y rows
            if GATHER:
                for r in range(rows):
                    for j in range(L):
                        p = np.uint64(bv_doff[j] + r)  # unsigned: no negative-index wraparound code
                        tile[r * B + j] = x[p]
                        tile[ty + r * B + j] = y[p]
                    for j in range(L, Lp):
                        tile[r * B + j] = 0.0
                        tile[ty + r * B + j] = 0.0
            n_rec = 0
            for j in range(L):
                if bv_rec[j] >= 0:
                    n_rec += 1
            # Two phases: before the last epoch (the lighter lane loop) and the last
            # epoch (plus its loss, zigzag and sign statistics).
            for phase in range(2):
                k_lo = 0 if phase == 0 else last_start
                k_hi = last_start if phase == 0 else K
                pos = k_lo // E * n  # samples used before step k_lo (steps start at epoch starts)
                i = pos % m  # implicit order: sample pos mod m, as a wrapping counter (no division)
                kb = 0  # batch of the epoch
                for k in range(k_lo, k_hi):
                    step = k + 1
                    fstep = np.float64(step)
                    mk = sched[soff + k] if SCHED else 1.0
                    rec = n_rec > 0 and step % rec_every == 0
                    xi = 0.0
                    yi = 0.0
                    row = 0  # offset of this step's samples in `tile`
                    if BATCH:
                        nb = min(bs, n - kb * bs)  # samples in this batch
                        kb += 1
                        if kb == E:
                            kb = 0
                        loss_on = phase == 1 or rec
                        for j in range(Lp):
                            f[_GACC + j] = -0.0  # -0.0 + d is d for every d: the first sum is exact
                            f[_LACC + j] = -0.0
                        for _q in range(nb):
                            if GATHER:
                                if tiled:
                                    row = i * B
                                elif implicit:
                                    for j in range(L):
                                        p = np.uint64(bv_doff[j] + i)
                                        tile[j] = x[p]
                                        tile[ty + j] = y[p]
                                else:
                                    for j in range(L):
                                        p = np.uint64(bv_doff[j]
                                                      + np.int64(idx[np.uint64(bv_ioff[j] + pos)]))
                                        tile[j] = x[p]
                                        tile[ty + j] = y[p]
                            elif implicit:
                                xi = x[doff0 + i]
                                yi = y[doff0 + i]
                            else:
                                p = doff0 + np.int64(idx[ioff0 + pos])
                                xi = x[p]
                                yi = y[p]
                            pos += 1
                            i += 1
                            if i == m:
                                i = 0
                            if GATHER:
                                if loss_on:
                                    for j in range(Lp):
                                        _accumulate(f, j, tile[np.uint64(row + j)],
                                                    tile[np.uint64(ty + row + j)], True)
                                else:
                                    for j in range(Lp):
                                        _accumulate(f, j, tile[np.uint64(row + j)],
                                                    tile[np.uint64(ty + row + j)], False)
                            elif loss_on:
                                for j in range(Lp):
                                    _accumulate(f, j, xi, yi, True)
                            else:
                                for j in range(Lp):
                                    _accumulate(f, j, xi, yi, False)
                        inv = np.float64(nb)
                        if rec:
                            for j in range(L):
                                f[_LREC + j] = f[_LACC + j] / inv
                        if phase == 0:
                            for j in range(Lp):
                                _update(f, j, f[_GACC + j] / inv, f[_REF + j], fstep, mk, SCHED, MOM)
                        else:
                            zig_ok = k >= last_start + 2
                            for j in range(Lp):
                                loss = f[_LACC + j] / inv
                                ok, flip, en = _update(f, j, f[_GACC + j] / inv, f[_REF + j], fstep, mk,
                                                       SCHED, MOM)
                                _last_epoch(f, j, ok, flip, loss, en, zig_ok)
                    else:
                        if GATHER:
                            if tiled:
                                row = i * B
                            elif implicit:
                                for j in range(L):
                                    p = np.uint64(bv_doff[j] + i)
                                    tile[j] = x[p]
                                    tile[ty + j] = y[p]
                            else:
                                for j in range(L):
                                    p = np.uint64(bv_doff[j]
                                                  + np.int64(idx[np.uint64(bv_ioff[j] + k)]))
                                    tile[j] = x[p]
                                    tile[ty + j] = y[p]
                        elif implicit:
                            xi = x[doff0 + i]
                            yi = y[doff0 + i]
                        else:
                            p = doff0 + np.int64(idx[ioff0 + k])
                            xi = x[p]
                            yi = y[p]
                        i += 1
                        if i == m:
                            i = 0
                        if rec:  # the loss of this step, from theta before it (same operations)
                            for j in range(L):
                                if bv_rec[j] >= 0:
                                    xj = tile[row + j] if GATHER else xi
                                    yj = tile[ty + row + j] if GATHER else yi
                                    z2 = yj - f[_TH + j] * xj
                                    f[_LREC + j] = z2 * z2
                        if phase == 0:
                            if GATHER:
                                for j in range(Lp):
                                    xj = tile[np.uint64(row + j)]
                                    yj = tile[np.uint64(ty + row + j)]
                                    _step(f, j, xj, yj, f[_REF + j], fstep, mk, SCHED, MOM)
                            else:
                                for j in range(Lp):
                                    _step(f, j, xi, yi, ref0, fstep, mk, SCHED, MOM)
                        else:
                            zig_ok = k >= last_start + 2
                            if GATHER:
                                for j in range(Lp):
                                    xj = tile[np.uint64(row + j)]
                                    yj = tile[np.uint64(ty + row + j)]
                                    ok, flip, z2, en = _step(f, j, xj, yj, f[_REF + j], fstep, mk, SCHED, MOM)
                                    _last_epoch(f, j, ok, flip, z2 * z2, en, zig_ok)
                            else:
                                for j in range(Lp):
                                    ok, flip, z2, en = _step(f, j, xi, yi, ref0, fstep, mk, SCHED, MOM)
                                    _last_epoch(f, j, ok, flip, z2 * z2, en, zig_ok)
                    if rec:
                        slot = step // rec_every - 1
                        for j in range(L):
                            r = bv_rec[j]
                            if r >= 0 and f[_DIV + j] < 0.0:
                                rec_theta[r, slot] = f[_TH + j]
                                rec_loss[r, slot] = f[_LREC + j]
                if phase == 0 and last_start > 0:
                    # e when the last epoch starts (theta is frozen if diverged).
                    for j in range(L):
                        f[_ESTART + j] = f[_TH + j] - f[_REF + j]
            _results(f, s0, L, m, n, E, bs, last_start, l_ref, l_ioff, l_floor2, idx, theta0, osc_min,
                     out_f, out_i)

    return run_chunk


@njit(inline="always", error_model="numpy")
def _results(f, s0, L, m, n, E, bs, last_start, l_ref, l_ioff, l_floor2, idx, theta0, osc_min,
             out_f, out_i):  # pragma: no cover - compiled
    """Write the per-lane results of a block (lanes ``s0 .. s0 + L - 1`` of the chunk).

    ``E`` steps per epoch of ``bs`` samples (the last one ``n - bs (E - 1)``);
    "per epoch" rates and last-epoch means are over the ``E`` steps. The
    sample of the largest jump is the first sample of its step.
    """
    for j in range(L):
        t = s0 + j
        ref = l_ref[t]
        th = f[_TH + j]
        e = th - ref
        e0 = theta0[t] - ref
        div = np.int64(f[_DIV + j])
        exit_step = np.int64(f[_EXITSTEP + j])
        out_f[F_THETA, t] = th
        out_f[F_MAX_ABS_ERROR, t] = f[_MAE + j]
        out_f[F_MAX_JUMP, t] = f[_MJ + j]
        if div >= 0 or E < 3:
            out_f[F_LOSS_ZIGZAG, t] = np.nan
        else:
            out_f[F_LOSS_ZIGZAG, t] = f[_ZIG + j] / (E - 2)
        out_f[F_LOSS_LAST, t] = np.nan if div >= 0 else f[_LSUM + j] / E
        if div >= 0:
            if e0 == 0.0:
                out_f[F_GROWTH, t] = np.inf
            else:
                out_f[F_GROWTH, t] = (np.log(f[_BOUND + j]) - np.log(abs(e0))) * E / div
        elif exit_step >= 0:
            out_f[F_GROWTH, t] = (np.log(f[_EXITERR + j]) - np.log(abs(e0))) * E / exit_step
        elif f[_ESTART + j] == 0.0:
            out_f[F_GROWTH, t] = np.nan
        else:
            out_f[F_GROWTH, t] = np.log(abs(e)) - np.log(abs(f[_ESTART + j]))
        out_f[F_RMS_LAST, t] = np.nan if div >= 0 else np.sqrt(f[_E2SUM + j] / E)
        # Statuses (lrsweep.metrics.Status): converged needs a whole last epoch within
        # tolerance; the others say what the last epoch showed.
        last_viol = np.int64(f[_LASTVIOL + j])
        conv = -1
        if div >= 0:
            status = DIVERGED
        elif last_viol <= last_start:
            status = CONVERGED
            conv = last_viol + 1
        elif f[_E2SUM + j] <= E * l_floor2[t]:
            status = NOISE_FLOOR
        elif abs(e) > abs(f[_ESTART + j]):
            status = GROWING
        elif np.int64(f[_SCLAST + j]) >= osc_min:
            status = OSCILLATING
        else:
            status = SLOW
        mj_step = np.int64(f[_MJSTEP + j])
        if mj_step == 0:
            mj_sample = -1
        else:
            k0 = mj_step - 1
            pos = k0 // E * n + k0 % E * bs  # the first sample of the step
            mj_sample = pos % m if l_ioff[t] < 0 else np.int64(idx[l_ioff[t] + pos])
        out_i[I_STATUS, t] = status
        out_i[I_CONVERGED, t] = conv
        out_i[I_DIVERGED, t] = div
        out_i[I_SIGN, t] = np.int64(f[_SC + j])
        out_i[I_SIGN_LAST, t] = np.int64(f[_SCLAST + j])
        out_i[I_MAX_ABS_STEP, t] = np.int64(f[_MAESTEP + j])
        out_i[I_MAX_JUMP_STEP, t] = mj_step
        out_i[I_MAX_JUMP_SAMPLE, t] = mj_sample


#: The compiled variants made so far, by their flags (GATHER, SCHED, BATCH, MOM, FEAT).
_VARIANTS: dict[tuple[bool, bool, bool, bool, bool], object] = {}


def variant(gather: bool, sched: bool, batch: bool, mom: bool, feat: bool = False):
    """The chunk function of one variant (made on first use; compiled on its first call).

    ``feat``: the d-feature variant (:func:`_make_chunk_feat`), for chunks with
    some lane of more than one coordinate; the others are :func:`_make_chunk`'s.
    """
    key = (bool(gather), bool(sched), bool(batch), bool(mom), bool(feat))
    fn = _VARIANTS.get(key)
    if fn is None:
        fn = _VARIANTS[key] = (kernel_features._make_chunk_feat if feat else _make_chunk)(*key[:4])
    return fn


def run_chunk_nb(
    x, y, l_doff, l_ioff, l_ref, l_floor2, l_beta, l_nest, idx, sched, epochs,
    b_start, b_len, b_m, b_n, b_bs, b_soff, b_gather,
    lr, theta0, tol, div_factor, sign_floor, osc_min,
    rec_row, rec_every, rec_theta, rec_loss,
    out_f, out_i, b_lo, b_hi, features=(False, False, False), feat=None,
) -> None:
    """Run blocks ``b_lo .. b_hi - 1`` of a chunk; results into ``out_*``.

    Calls the variant (:func:`variant`) of the chunk's kind of block
    (``b_gather``: all blocks of a chunk are of one kind,
    :func:`lrsweep.engine.layout.plan_chunk`) and ``features`` (schedule,
    batch, momentum: whether any block of the chunk needs them). One compiled
    function per variant, so that a sweep compiles only what it runs: with
    one function for both kinds of block the cold first call took 18-19 %
    longer (alternating runs with fresh numba caches, medians of 4: 7.4 ->
    6.0 s for a 2-lr sweep, 5.6 -> 4.6 s for a 16-lr sweep).

    Serial and ``nogil``: the caller (:meth:`lrsweep.engine.chunk.ChunkCall.run`)
    cuts the blocks into contiguous ranges (four per thread) that its
    threads take as they finish the previous one. No ``parallel=True``: numba's
    parfor passes cost ~2.5 s of the first compile (and loading a parallel
    function from the cache starts numba's threading layer).

    Parameters are plain arrays: datasets concatenated in ``x``/``y``; per
    lane (trajectory of the chunk) ``t``: its dataset starts at
    ``l_doff[t]``, its sample sequence at ``idx[l_ioff[t]:]`` (implicit if
    ``l_ioff[t] < 0``: sample ``p mod m`` at position ``p``), its reference
    is ``l_ref[t]``, its squared noise floor ``l_floor2[t]``
    (``noise_factor^2`` times the stationary mean-square error, negative
    where there is none), momentum ``l_beta[t]`` and ``l_nest[t]``
    (Nesterov), and ``lr``, ``theta0`` and ``rec_row`` (row of
    ``rec_theta``/``rec_loss`` or -1); block ``b`` holds lanes
    ``b_start[b] .. b_start[b] + b_len[b] - 1``, all with ``b_n[b]`` samples
    per epoch in batches of ``b_bs[b]``, dataset length ``b_m[b]``, the
    schedule multipliers ``sched[b_soff[b] + k]`` of steps ``k``, sharing one
    dataset and order unless ``b_gather[b]``; outputs ``out_f``
    (len(FLOAT_FIELDS), T) and ``out_i`` (len(INT_FIELDS), T). The d-feature
    variant also writes ``rec_err`` (the recorded error norms ``||theta_k -
    theta_ref||``, like ``rec_theta``; ``rec_theta`` is NaN for a lane of more
    than one coordinate); for the others the caller derives ``|theta_k -
    theta_ref|`` from ``rec_theta``.
    """
    gather = bool(len(b_gather) and b_gather[0])
    if feat is not None:
        # The d-feature variant: feat = (xf, l_xoff, refv, l_roff, b_p, b_d, out_w, l_woff, rec_err), see
        # lrsweep.engine.chunkdata.ChunkData._features and ChunkCall; x is then not read.
        xf, l_xoff, refv, l_roff, b_p, b_d, out_w, l_woff, rec_err = feat
        fn = variant(gather, *features, True)
        fn(xf, y, l_xoff, l_doff, l_ioff, refv, l_roff, l_floor2, l_beta, l_nest, idx, sched, epochs,
           b_start, b_len, b_m, b_n, b_bs, b_soff, b_p, b_d, lr, theta0, tol, div_factor, sign_floor,
           osc_min, rec_row, rec_every, rec_theta, rec_loss, rec_err, out_f, out_i, out_w, l_woff, b_lo, b_hi)
        return
    fn = variant(gather, *features)
    fn(x, y, l_doff, l_ioff, l_ref, l_floor2, l_beta, l_nest, idx, sched, epochs, b_start, b_len, b_m, b_n,
       b_bs, b_soff, lr, theta0, tol, div_factor, sign_floor, osc_min, rec_row, rec_every, rec_theta,
       rec_loss, out_f, out_i, b_lo, b_hi)
