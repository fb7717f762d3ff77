"""The d-feature kernel: SGD trajectories of ``p`` coordinates per lane, metrics streamed in one pass.

Pure numeric code on plain arrays, like :mod:`lrsweep.engine.kernel` (its
flags, block loop and per-lane buffer, from :mod:`lrsweep.engine.lanes`),
which picks these variants (:func:`lrsweep.engine.kernel.variant`) for
chunks with a lane of more than one coordinate. Importing it compiles
nothing.

d features (issue 15)
---------------------
Chunks with a lane of more than one coordinate (``p = d`` features, ``+ 1``
for a bias, which is the weight of a constant input 1.0 stored as a last
column of the chunk's rows) run the fifth flag's variants,
:func:`_make_chunk_feat`; the others never compile them, and the one-feature
variants of :mod:`lrsweep.engine.kernel` are unchanged (their lane loops and bits; benchmarks/
test_features.py times them old against new). The oracle is
:mod:`lrsweep.reference_features`. Per-lane scalars stay in the alloca'd
``f``; the coordinates live in a per-call array ``V`` of compile-time layout
(coordinate-major, six vector fields of BLOCK_LANES lanes interleaved per
coordinate, see the comment at ``_CS``). A step is:

1. forward: ``z1 = ((-0.0 + w_0 x_0) + w_1 x_1) + ...`` with the coordinate
   loop outside and the lane loop inside, four coordinates per lane loop
   (same order of additions), committing the previous step's accepted
   coordinates on the way;
2. update (:func:`_coord`), four coordinates per lane loop: the new
   coordinates and three sums per lane, left to right from -0.0: ``||e_k||^2``,
   ``e_k . e_{k-1}`` and ``||step||^2``;
3. accept: where no lane needs a norm (:func:`_needs_norms`: every sum of
   squares normal, no lane able to set max_abs_error, max_jump or the floor
   exit, phase before the last epoch) on the sums of squares against the exact
   limits of :func:`_q_limit` (:func:`_accept_q`, no square root); else
   ``llvm.sqrt`` per lane (:func:`_sqrt`), the rare scaled forms of
   ``error_norm`` / ``overshoot`` lane by lane, and :func:`_accept_feat`.

What LLVM emits for it (machine and versions as in :mod:`lrsweep.engine.kernel`, ``inspect_asm``
and ``-pass-remarks=loop-vectorize``): the forward, update, norm and accept
lane loops are zmm loops (VF 8; ``vsqrtpd`` in the norm loop); what stays
scalar is the per-lane setup and the scaled-norm fallbacks (float reductions
over coordinates, which must keep their order). Gathered blocks stage each
step's samples in V's slots after the coordinates: with the implicit order
and ``m (p + 1) <= 2 TILE_ROWS`` copied as whole vectors from a tile filled
once per block (lane-interleaved like the one-feature tile), else gathered
coordinate by coordinate (a vector of row starts, then one gather per
coordinate); against every step copying each lane's row, 2.4x at d = 10
with the fixed order and 1.6x shuffled (/tmp A/B probe, same process,
benchmarks/README.md). Measured on the shared 2-core VM (one thread,
interleaved medians, benchmarks/README.md): d = 10 about 1.75e8
traj-steps/s on a quiet machine, 1.0e8 under a load average of 2-3 (4.1e7,
same load, before the layout, unsigned indices, blocking by four and the
square roots on demand).

No fastmath, for the reasons of :mod:`lrsweep.engine.kernel`; the metric
definitions in d dimensions are in :mod:`lrsweep.metrics` ("In d
dimensions").
"""

from __future__ import annotations

import numpy as np
from numba import carray, njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from ..config import MAX_FEATURES
from .lanes import (
    _BETA,
    _BOUND,
    _DIV,
    _E2SUM,
    _ESTART,
    _EXITERR,
    _EXITSTEP,
    _FLOOR,
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
    _SC,
    _SCLAST,
    _THR,
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
    NOISE_FLOOR,
    OSCILLATING,
    SLOW,
    _last_epoch,
    _prefer_512bit_vectors,
    _sel,
)
from .layout import BLOCK_LANES, TILE_ROWS, VEC_LANES

#: SHA-256 of :mod:`lrsweep.engine.lanes`, whose helpers the compiled variants inline: numba's
#: cache checks only this file, so a change there must come with a change here (lanes' docstring).
LANES_SHA256 = "40742d274b057fc307ee0a1548ff59d079789a03341a875f74f1e7dffd4c75e3"


# ------------------------------------------------------------------ d features
# The d-feature variant (issue 15): p = d (+ 1 for a bias) coordinates per lane. Per-lane scalars
# stay in the alloca'd field-major buffer ``f`` (the fields of engine.lanes, plus the ones below); the
# coordinates live in a per-call scratch array ``V`` of compile-time layout: coordinate c of lane j
# of vector field F (offset oF = F * BLOCK_LANES: weights, new weights, references, velocities,
# batch gradients, gathered rows) is V[oF + c * _CS + j], the six fields of one coordinate side by
# side (3 KiB). Every coordinate loop is outside, every lane loop inside (``for c: for j: acc[j] +=
# w[c, j] * x[c]``), so the lane loops are the vectorised ones, as in the one-feature variants.
# Interleaving the fields per coordinate (rather than one field after another, 33 KiB apart) keeps a
# coordinate's working set contiguous and puts the stored fields (new weights, velocities; odd
# slots) at no 4 KiB alias of a loaded one (even slots) in any coordinate: with fields 33 KiB apart
# the new weights of coordinate c aliased the weights of c + 1 and d = 8 ran 3.4x slower per
# coordinate than d = 4.
(_Z1, _DZ, _Q, _DOT, _JQ, _NRM, _NN, _JN, _NEG, _OK, _LRT, _N0) = range(
    28 * BLOCK_LANES, 40 * BLOCK_LANES, BLOCK_LANES)
# Squared-norm shadows for the steps that need no square root (_accept_q): the sum of squares of the
# last accepted error (-1 where its norm came from the scaled form), of max_abs_error and of
# max_jump (0 where unknown: every larger step is then a candidate), and the largest sums of squares
# whose rounded square roots are within the bound, the tolerance and the sign floor (_q_limit).
(_NRMQ, _MAEQ, _MJQ, _TB, _TTHR, _TFL) = range(40 * BLOCK_LANES, 46 * BLOCK_LANES, BLOCK_LANES)
N_STATE_FEAT = 46
#: Distance between coordinates in V (six fields of BLOCK_LANES lanes) and V's size: room for
#: MAX_FEATURES coordinates and a bias, plus the gathered y in the tile slot of one more.
_CS = 6 * BLOCK_LANES
_V_SIZE = (MAX_FEATURES + 2) * _CS
#: Smallest normal float64 and the largest float64: an error's sum of squares within them is
#: ``sqrt``'ed directly (lrsweep.metrics, "In d dimensions"), else the scaled form is taken.
_TINY = 2.0**-1022
_FMAX = float(np.finfo(np.float64).max)
#: Above every norm whose sum of squares is subnormal (sqrt(2 * 2**-1022 * 65) < 2e-153).
_JUMP_TINY = 1e-150


@intrinsic
def _state_buffer_feat(typingctx):
    """:func:`lrsweep.engine.lanes._state_buffer` with the d-feature variant's ``N_STATE_FEAT`` fields."""
    sig = types.CPointer(types.float64)()

    def codegen(context, builder, signature, args):
        dbl = context.get_value_type(types.float64)
        buf = cgutils.alloca_once(builder, dbl, size=N_STATE_FEAT * BLOCK_LANES)
        buf.align = 64
        return buf

    return sig, codegen


@intrinsic
def _sqrt(typingctx, v):
    """``sqrt(v)`` as LLVM's ``llvm.sqrt.f64``: correctly rounded like libm's, and vectorisable.

    numba lowers ``math.sqrt`` and ``np.sqrt`` to a call of libm's ``sqrt``,
    which LLVM does not vectorise (it may set errno); the intrinsic becomes
    ``vsqrtpd`` in a lane loop. Same bits (IEEE 754 square root); the
    argument here is a sum of squares, never negative.
    """
    if v != types.float64:
        return None

    def codegen(context, builder, signature, args):
        fn = builder.module.declare_intrinsic("llvm.sqrt", [context.get_value_type(types.float64)])
        return builder.call(fn, args)

    return types.float64(types.float64), codegen


@njit(inline="always", error_model="numpy")
def _norm_diff(V, oa, ob, j, P):  # pragma: no cover - compiled
    """``error_norm`` of ``V[oa + c _CS + j] - V[ob + c _CS + j]``, c < P (reference_features.error_norm)."""
    q = -0.0
    for c in range(P):
        v = V[oa + c * _CS + j] - V[ob + c * _CS + j]
        q = q + v * v
    if q >= _TINY and q <= _FMAX:
        return np.sqrt(q)
    if q != q:
        return np.nan
    mx = 0.0
    for c in range(P):
        v = abs(V[oa + c * _CS + j] - V[ob + c * _CS + j])
        if v > mx:
            mx = v
    if mx == 0.0 or mx == np.inf:
        return mx
    sq = -0.0
    for c in range(P):
        v = (V[oa + c * _CS + j] - V[ob + c * _CS + j]) / mx
        sq = sq + v * v
    return mx * np.sqrt(sq)


@njit(inline="always", error_model="numpy")
def _overshoot_scaled(V, oTN, oW, oRF, j, P):  # pragma: no cover - compiled
    """reference_features.overshoot's rescaled recheck of ``e_new . e_old < 0`` (the dot was 0 or NaN)."""
    ma = 0.0
    mb = 0.0
    for c in range(P):
        r = V[oRF + c * _CS + j]
        ma = max(ma, abs(V[oTN + c * _CS + j] - r))
        mb = max(mb, abs(V[oW + c * _CS + j] - r))
    if not (0.0 < ma < np.inf and 0.0 < mb < np.inf):
        return 0.0
    dot = -0.0
    for c in range(P):
        r = V[oRF + c * _CS + j]
        dot = dot + ((V[oTN + c * _CS + j] - r) / ma) * ((V[oW + c * _CS + j] - r) / mb)
    return 1.0 if dot < 0.0 else 0.0


@njit(inline="always", error_model="numpy")
def _coord(V, f, j, iw, itn, irf, ivel, g, q, dt, jq, MOM):  # pragma: no cover - compiled
    """Coordinate ``c`` of lane ``j`` updated with gradient ``g``; returns its error sums grown.

    ``iw, itn, irf, ivel`` (unsigned) index coordinate ``c`` of lane ``j`` in
    the fields W, TN, RF, VEL of ``V``: unsigned, so that numba emits no
    negative-index wraparound and LLVM sees affine, provably disjoint
    accesses. ``tn = w - lr_t u`` (momentum per coordinate as in
    :func:`_update`) goes to TN; ``q``, ``dt``, ``jq`` (the lane's sums over
    coordinates, left to right from -0.0, of ``en^2`` for the new error's
    norm, ``en ep`` for the overshoot test and ``(tn - w)^2`` for the jump)
    come back with this coordinate's terms added.
    """
    w = V[iw]
    if MOM:
        beta = f[_BETA + j]
        vn = beta * V[ivel] + g
        V[ivel] = vn
        u = _sel(beta == 0.0, g, _sel(f[_NEST + j] != 0.0, g + beta * vn, vn))
        tn = w - f[_LRT + j] * u
    else:
        tn = w - f[_LRT + j] * g
    V[itn] = tn
    r = V[irf]
    en = tn - r
    dj = tn - w
    return q + en * en, dt + en * (w - r), jq + dj * dj


@njit(inline="always", error_model="numpy")
def _commit(V, ok, iw, itn):  # pragma: no cover - compiled
    """The lane's coordinate after the last step: its new value if that step was accepted (stored)."""
    w = V[iw]
    w = _sel(ok, V[itn], w)
    V[iw] = w
    return w


@njit(error_model="numpy")
def _q_limit(v):  # pragma: no cover - compiled
    """The largest ``q >= 0`` with ``fl(sqrt(q)) <= v`` (``v >= 0``): ``sqrt(q) <= v`` iff ``q <= limit``.

    The rounded square root is monotone, so the set is ``[0, limit]``; found
    from ``v * v`` by stepping ulps (a few at most). Exact, so that a
    comparison on the sum of squares decides what the norm's would.
    """
    if v != v:
        return -1.0
    if v == np.inf:
        return np.inf
    q = v * v
    if q == np.inf:
        q = _FMAX
    while q > 0.0 and _sqrt(q) > v:
        q = np.nextafter(q, 0.0)
    while q < _FMAX and _sqrt(np.nextafter(q, np.inf)) <= v:
        q = np.nextafter(q, np.inf)
    return q


@njit(inline="always", error_model="numpy")
def _accept_q(f, j, fstep):  # pragma: no cover - compiled
    """:func:`_accept_feat` on sums of squares, for a step where no lane needs a norm.

    The caller has checked (:func:`_needs_norms`) that every sum is a normal
    float and no lane can set max_abs_error, max_jump or the floor exit, and
    that the last accepted error's shadow is exact: then ``sqrt(q) <= x`` is
    ``q <= _q_limit(x)`` for the bound, the tolerance and the floor, and the
    same metrics follow without a square root (issue 15: two vsqrtpd per
    vector were half of a step at d <= 4).
    """
    qn = f[_Q + j]
    div = f[_DIV + j]
    alive = div < 0.0
    ok = alive & (qn <= f[_TB + j])
    f[_DIV + j] = _sel(alive & ~ok, fstep, div)
    f[_OK + j] = _sel(ok, 1.0, 0.0)
    lv = f[_LASTVIOL + j]
    f[_LASTVIOL + j] = _sel(ok & (qn > f[_TTHR + j]), fstep, lv)
    tfl = f[_TFL + j]
    nrmq = f[_NRMQ + j]
    flip = ok & (nrmq > tfl) & (qn > tfl) & (f[_DOT + j] < 0.0)
    sc = f[_SC + j]
    f[_SC + j] = _sel(flip, sc + 1.0, sc)
    f[_NRMQ + j] = _sel(ok, qn, nrmq)


@njit(inline="always", error_model="numpy")
def _needs_norms(f, j):  # pragma: no cover - compiled
    """Whether lane ``j``'s step needs its norms (:func:`_accept_feat`) rather than :func:`_accept_q`."""
    qn = f[_Q + j]
    jq = f[_JQ + j]
    dot = f[_DOT + j]
    tfl = f[_TFL + j]
    nrmq = f[_NRMQ + j]
    odd_q = ~((qn >= _TINY) & (qn <= _FMAX))
    # dot 0 (or NaN): the overshoot's rescaled recheck, which counts only above the floor.
    zero_dot = ~((dot < 0.0) | (dot > 0.0)) & (qn > tfl) & (nrmq > tfl)
    alive = f[_DIV + j] < 0.0  # a diverged lane is frozen: nothing of its steps is measured
    # A step whose jq is not a normal float can still set a max_jump below 1.5e-154 (a subnormal lr).
    odd_jump = ~((jq >= _TINY) & (jq <= _FMAX)) & (f[_MJ + j] < _JUMP_TINY)
    return alive & (odd_q | (qn > f[_MAEQ + j]) | (jq > f[_MJQ + j]) | odd_jump
                    | ((qn <= tfl) & (f[_EXITSTEP + j] < 0.0)) | (nrmq < 0.0) | zero_dot)


@njit(inline="always", error_model="numpy")
def _accept_feat(f, j, fstep):  # pragma: no cover - compiled
    """:func:`_accept` on norms: lane ``j``'s step (its ``NN``, ``JN``, ``NEG``) accepted unless it diverges.

    Returns (ok, flip, nn). ``NRM`` is the norm of the last accepted error.
    """
    nn = f[_NN + j]
    div = f[_DIV + j]
    alive = div < 0.0
    ok = alive & (nn <= f[_BOUND + j])  # False for NaN too
    f[_DIV + j] = _sel(alive & ~ok, fstep, div)
    f[_OK + j] = _sel(ok, 1.0, 0.0)
    jump = f[_JN + j]
    mj = f[_MJ + j]
    mjs = f[_MJSTEP + j]
    up = ok & (jump > mj)
    f[_MJ + j] = _sel(up, jump, mj)
    f[_MJSTEP + j] = _sel(up, fstep, mjs)
    # The shadows of the squared norms (_accept_q): a sum of squares that is a normal float is
    # exactly the norm's (nn = sqrt(q)); otherwise the norm came from the scaled form.
    qn = f[_Q + j]
    exact_n = (qn >= _TINY) & (qn <= _FMAX)
    jq = f[_JQ + j]
    mjq = f[_MJQ + j]
    f[_MJQ + j] = _sel(up, _sel((jq >= _TINY) & (jq <= _FMAX), jq, 0.0), mjq)
    mae = f[_MAE + j]
    maes = f[_MAESTEP + j]
    maeq = f[_MAEQ + j]
    up = ok & (nn > mae)
    f[_MAE + j] = _sel(up, nn, mae)
    f[_MAESTEP + j] = _sel(up, fstep, maes)
    f[_MAEQ + j] = _sel(up, _sel(exact_n, qn, 0.0), maeq)
    lv = f[_LASTVIOL + j]
    f[_LASTVIOL + j] = _sel(ok & (nn > f[_THR + j]), fstep, lv)
    fl = f[_FLOOR + j]
    ex = f[_EXITSTEP + j]
    exe = f[_EXITERR + j]
    hit = ok & (nn <= fl) & (ex < 0.0)
    f[_EXITSTEP + j] = _sel(hit, fstep, ex)
    f[_EXITERR + j] = _sel(hit, nn, exe)
    nrmq = f[_NRMQ + j]
    nrm = _sel(nrmq >= 0.0, _sqrt(nrmq), f[_NRM + j])
    flip = ok & (nrm > fl) & (nn > fl) & (f[_NEG + j] != 0.0)
    sc = f[_SC + j]
    f[_SC + j] = _sel(flip, sc + 1.0, sc)
    f[_NRM + j] = _sel(ok, nn, nrm)
    f[_NRMQ + j] = _sel(ok, _sel(exact_n, qn, -1.0), nrmq)
    return ok, flip, nn


def _make_chunk_feat(GATHER: bool, SCHED: bool, BATCH: bool, MOM: bool):
    """The chunk function of a d-feature variant (any number of coordinates per lane, 1 included).

    Same flags and block loop as :func:`_make_chunk`; a step is four passes
    over the block: the forward sums ``z1`` (coordinates outside, lanes
    inside), the lanes' ``dz1`` and loss, the coordinate updates with their
    error sums (:func:`_coord`), then per lane the norms (the rare scaled
    forms in a scalar loop over the lanes that need them), the metrics
    (:func:`_accept_feat`) and the commit of the accepted coordinates.
    Gathered blocks stage each step's samples in V (from a per-block tile,
    or by gathers; module docstring).
    """

    @njit(cache=True, error_model="numpy", nogil=True)
    def run_chunk_feat(
        x, y, l_xoff, l_doff, l_ioff, refv, l_roff, l_floor2, l_beta, l_nest, idx, sched, epochs,
        b_start, b_len, b_m, b_n, b_bs, b_soff, b_p, b_d,
        lr, theta0, tol, div_factor, sign_floor, osc_min,
        rec_row, rec_every, rec_theta, rec_loss, rec_err,
        out_f, out_i, out_w, l_woff, b_lo, b_hi,
    ):  # pragma: no cover - compiled
        _prefer_512bit_vectors()
        B = BLOCK_LANES
        # V is coordinate-major, its six vector fields interleaved per coordinate at compile-time
        # distances (_CS, module comment): LLVM proves the lane loops free of aliasing between fields
        # (with runtime distances it added checks or gave up: "cannot identify array bounds").
        oW, oTN, oRF, oVEL, oGA, oXT = 0, B, 2 * B, 3 * B, 4 * B, 5 * B
        raw = np.empty(_V_SIZE + 8)
        # Gathered: each lane's dataset start in x and y and order start in idx (per block), and this
        # step's row start in x and y (padding lanes: lane 0's, so that they step as it does).
        xo = np.empty(B, dtype=np.uint64)
        yo = np.empty(B, dtype=np.uint64)
        io = np.empty(B, dtype=np.uint64)
        rb = np.empty(B, dtype=np.uint64)
        yb = np.empty(B, dtype=np.uint64)
        # Gathered blocks with the implicit order copy their lanes' datasets into `tile` once per
        # block: sample s, coordinate c (c = P: y) of lane j at (s (P + 1) + c) B + j, so that a step
        # copies whole vectors into V's staging slots instead of gathering them (1.5x at d = 10,
        # fixed order, against the gathers below).
        t_size = 2 * B * TILE_ROWS if GATHER else 0
        t_raw = np.empty(t_size + 8)
        t_a = (-t_raw.ctypes.data) % 64 // 8
        tile = t_raw[t_a:t_a + t_size]
        a0 = (-raw.ctypes.data) % 64 // 8
        V = raw[a0:a0 + _V_SIZE]
        f = carray(_state_buffer_feat(), (N_STATE_FEAT * B,))
        for b in range(b_lo, b_hi):
            s0 = b_start[b]
            L = b_len[b]
            m = b_m[b]
            n = b_n[b]
            P = b_p[b]
            D = b_d[b]
            oY = oXT + P * _CS  # gathered: the lanes' y in the tile slot of coordinate P
            bs = b_bs[b] if BATCH else 1
            soff = b_soff[b] if SCHED else 0
            E = (n + bs - 1) // bs if BATCH else n
            K = epochs * E
            last_start = K - E
            implicit = l_ioff[s0] < 0
            xoff0 = l_xoff[s0]
            doff0 = l_doff[s0]
            ioff0 = l_ioff[s0]
            Lp = min(B, (L + VEC_LANES - 1) // VEC_LANES * VEC_LANES)
            for q in range(N_STATE_FEAT * B):
                f[q] = 0.0
            for j in range(Lp):
                js = s0 + (j if j < L else 0)
                t0 = theta0[js]
                ro = l_roff[js]
                for c in range(P):
                    V[oRF + c * _CS + j] = refv[ro + c]
                    V[oW + c * _CS + j] = t0 if c < D else 0.0  # a bias starts at 0.0
                    V[oTN + c * _CS + j] = 0.0
                    if MOM:
                        V[oVEL + c * _CS + j] = -0.0  # -0.0 + g is g: v_1 = g exactly
                n0 = _norm_diff(V, oW, oRF, j, P)
                nref = _norm_diff(V, oRF, oTN, j, P)  # ||ref - 0||
                scale = max(n0, nref)
                if scale == 0.0:
                    scale = 1.0
                f[_LR + j] = lr[js]
                f[_LRT + j] = lr[js]
                f[_BOUND + j] = min(div_factor * scale, MAX_BOUND)
                f[_FLOOR + j] = sign_floor * scale
                f[_THR + j] = tol * n0
                f[_TB + j] = _q_limit(f[_BOUND + j])
                f[_TTHR + j] = _q_limit(tol * n0)
                f[_TFL + j] = _q_limit(sign_floor * scale)
                q0 = -0.0
                for c in range(P):
                    e = V[oW + c * _CS + j] - V[oRF + c * _CS + j]
                    q0 = q0 + e * e
                q0_exact = q0 >= _TINY and q0 <= _FMAX  # then n0 == sqrt(q0)
                f[_NRMQ + j] = q0 if q0_exact else -1.0
                f[_MAEQ + j] = q0 if q0_exact else 0.0
                f[_MJQ + j] = 0.0
                f[_MAE + j] = n0
                f[_NRM + j] = n0
                f[_N0 + j] = n0
                f[_ESTART + j] = n0
                f[_DIV + j] = -1
                f[_LASTVIOL + j] = 0 if n0 > tol * n0 else -1
                f[_EXITSTEP + j] = -1
                if MOM:
                    f[_BETA + j] = l_beta[js]
                    f[_NEST + j] = 1.0 if l_nest[js] else 0.0
            tiled = GATHER and implicit and m * (P + 1) * B <= t_size
            if GATHER:
                for j in range(Lp):
                    js = s0 + (j if j < L else 0)
                    xo[j] = np.uint64(l_xoff[js])
                    yo[j] = np.uint64(l_doff[js])
                    io[j] = np.uint64(0 if implicit else l_ioff[js])
            if tiled:
                for smp in range(m):
                    row = np.uint64(smp * (P + 1) * B)
                    for c in range(P):
                        for j in range(Lp):
                            tile[row + np.uint64(c * B + j)] = x[xo[j] + np.uint64(smp * P + c)]
                    for j in range(Lp):
                        tile[row + np.uint64(P * B + j)] = y[yo[j] + np.uint64(smp)]
            n_rec = 0
            for j in range(L):
                if rec_row[s0 + j] >= 0:
                    n_rec += 1
            for phase in range(2):
                k_lo = 0 if phase == 0 else last_start
                k_hi = last_start if phase == 0 else K
                pos = k_lo // E * n
                i = pos % m
                kb = 0
                for k in range(k_lo, k_hi):
                    step = k + 1
                    fstep = np.float64(step)
                    if SCHED:
                        mk = sched[soff + k]
                        for j in range(Lp):
                            f[_LRT + j] = f[_LR + j] * mk
                    rec = n_rec > 0 and step % rec_every == 0
                    nb = 1
                    if BATCH:
                        nb = min(bs, n - kb * bs)
                        kb += 1
                        if kb == E:
                            kb = 0
                        for c in range(P):
                            for j in range(Lp):
                                V[np.uint64(oGA + c * _CS + j)] = -0.0
                        for j in range(Lp):
                            f[_LACC + j] = -0.0
                    for _q in range(nb):
                        # --- this sample's rows ---
                        xrow = 0
                        yi = 0.0
                        if tiled:  # this sample's rows from the tile: whole vectors
                            row = np.uint64(i * (P + 1) * B)
                            for c in range(P + 1):  # c = P: y, into the slot at oY
                                for j in range(Lp):
                                    V[np.uint64(oXT + c * _CS + j)] = tile[row + np.uint64(c * B + j)]
                        elif GATHER:
                            # Each lane's row start, then the rows coordinate by coordinate: a gather
                            # per vector of lanes and a contiguous store (lane by lane, P strided
                            # stores each, was 1.4x slower at d = 10).
                            for j in range(Lp):
                                sg = np.uint64(i) if implicit else np.uint64(idx[io[j] + np.uint64(pos)])
                                rb[j] = xo[j] + sg * np.uint64(P)
                                yb[j] = yo[j] + sg
                            for c in range(P):
                                for j in range(Lp):
                                    V[np.uint64(oXT + c * _CS + j)] = x[rb[j] + np.uint64(c)]
                            for j in range(Lp):
                                V[np.uint64(oY + j)] = y[yb[j]]
                        else:
                            smp = i if implicit else np.int64(idx[ioff0 + pos])
                            xrow = xoff0 + smp * P
                            yi = y[doff0 + smp]
                        pos += 1
                        i += 1
                        if i == m:
                            i = 0
                        # --- forward: z1 = ((-0.0 + w_0 x_0) + w_1 x_1) + ..., four coordinates per
                        # lane loop (same order of additions; a quarter of the loads and stores of z1).
                        # The last step's accepted coordinates are committed on the way (_commit).
                        c = 0
                        while c < P:
                            cB = c * _CS
                            first = c == 0  # z1 starts at -0.0 (no separate lane loop to set it)
                            if c + 4 <= P:
                                x0 = 0.0 if GATHER else x[xrow + c]
                                x1 = 0.0 if GATHER else x[xrow + c + 1]
                                x2 = 0.0 if GATHER else x[xrow + c + 2]
                                x3 = 0.0 if GATHER else x[xrow + c + 3]
                                for j in range(Lp):
                                    ix = cB + j
                                    if GATHER:
                                        x0 = V[np.uint64(oXT + ix)]
                                        x1 = V[np.uint64(oXT + ix + _CS)]
                                        x2 = V[np.uint64(oXT + ix + 2 * _CS)]
                                        x3 = V[np.uint64(oXT + ix + 3 * _CS)]
                                    ok = f[_OK + j] != 0.0
                                    acc = _sel(first, -0.0, f[_Z1 + j])
                                    acc = acc + _commit(V, ok, np.uint64(oW + ix), np.uint64(oTN + ix)) * x0
                                    acc = acc + _commit(V, ok, np.uint64(oW + ix + _CS),
                                                        np.uint64(oTN + ix + _CS)) * x1
                                    acc = acc + _commit(V, ok, np.uint64(oW + ix + 2 * _CS),
                                                        np.uint64(oTN + ix + 2 * _CS)) * x2
                                    acc = acc + _commit(V, ok, np.uint64(oW + ix + 3 * _CS),
                                                        np.uint64(oTN + ix + 3 * _CS)) * x3
                                    f[_Z1 + j] = acc
                                c += 4
                            else:
                                x0 = 0.0 if GATHER else x[xrow + c]
                                for j in range(Lp):
                                    ix = cB + j
                                    if GATHER:
                                        x0 = V[np.uint64(oXT + ix)]
                                    ok = f[_OK + j] != 0.0
                                    acc = _sel(first, -0.0, f[_Z1 + j])
                                    w0 = _commit(V, ok, np.uint64(oW + ix), np.uint64(oTN + ix))
                                    f[_Z1 + j] = acc + w0 * x0
                                c += 1
                        for j in range(Lp):
                            yj = V[oY + j] if GATHER else yi
                            z2 = yj - f[_Z1 + j]
                            f[_DZ + j] = -(2.0 * z2)
                            if BATCH:
                                f[_LACC + j] += z2 * z2
                            else:
                                f[_LREC + j] = z2 * z2
                        if BATCH:
                            for c in range(P):
                                xc = 0.0 if GATHER else x[xrow + c]
                                cB = c * _CS
                                for j in range(Lp):
                                    xj = V[np.uint64(oXT + cB + j)] if GATHER else xc
                                    V[np.uint64(oGA + cB + j)] += f[_DZ + j] * xj
                    # --- the update, four coordinates per lane loop (_coord); sums from -0.0 ---
                    inv = np.float64(nb)
                    if BATCH:
                        for j in range(Lp):
                            f[_LREC + j] = f[_LACC + j] / inv
                    c = 0
                    while c < P:
                        cB = c * _CS
                        first = c == 0
                        if c + 4 <= P:
                            x0 = 0.0 if GATHER or BATCH else x[xrow + c]
                            x1 = 0.0 if GATHER or BATCH else x[xrow + c + 1]
                            x2 = 0.0 if GATHER or BATCH else x[xrow + c + 2]
                            x3 = 0.0 if GATHER or BATCH else x[xrow + c + 3]
                            for j in range(Lp):
                                ix = cB + j
                                dz = f[_DZ + j]
                                if BATCH:
                                    g0 = V[np.uint64(oGA + ix)] / inv
                                    g1 = V[np.uint64(oGA + ix + _CS)] / inv
                                    g2 = V[np.uint64(oGA + ix + 2 * _CS)] / inv
                                    g3 = V[np.uint64(oGA + ix + 3 * _CS)] / inv
                                elif GATHER:
                                    g0 = dz * V[np.uint64(oXT + ix)]
                                    g1 = dz * V[np.uint64(oXT + ix + _CS)]
                                    g2 = dz * V[np.uint64(oXT + ix + 2 * _CS)]
                                    g3 = dz * V[np.uint64(oXT + ix + 3 * _CS)]
                                else:
                                    g0 = dz * x0
                                    g1 = dz * x1
                                    g2 = dz * x2
                                    g3 = dz * x3
                                q = _sel(first, -0.0, f[_Q + j])
                                dt = _sel(first, -0.0, f[_DOT + j])
                                jq = _sel(first, -0.0, f[_JQ + j])
                                q, dt, jq = _coord(V, f, j, np.uint64(oW + ix), np.uint64(oTN + ix),
                                                   np.uint64(oRF + ix), np.uint64(oVEL + ix), g0, q, dt, jq,
                                                   MOM)
                                ix = ix + _CS
                                q, dt, jq = _coord(V, f, j, np.uint64(oW + ix), np.uint64(oTN + ix),
                                                   np.uint64(oRF + ix), np.uint64(oVEL + ix), g1, q, dt, jq,
                                                   MOM)
                                ix = ix + _CS
                                q, dt, jq = _coord(V, f, j, np.uint64(oW + ix), np.uint64(oTN + ix),
                                                   np.uint64(oRF + ix), np.uint64(oVEL + ix), g2, q, dt, jq,
                                                   MOM)
                                ix = ix + _CS
                                q, dt, jq = _coord(V, f, j, np.uint64(oW + ix), np.uint64(oTN + ix),
                                                   np.uint64(oRF + ix), np.uint64(oVEL + ix), g3, q, dt, jq,
                                                   MOM)
                                f[_Q + j] = q
                                f[_DOT + j] = dt
                                f[_JQ + j] = jq
                            c += 4
                        else:
                            x0 = 0.0 if GATHER or BATCH else x[xrow + c]
                            for j in range(Lp):
                                ix = cB + j
                                if BATCH:
                                    g0 = V[np.uint64(oGA + ix)] / inv
                                elif GATHER:
                                    g0 = f[_DZ + j] * V[np.uint64(oXT + ix)]
                                else:
                                    g0 = f[_DZ + j] * x0
                                q, dt, jq = _coord(V, f, j, np.uint64(oW + ix), np.uint64(oTN + ix),
                                                   np.uint64(oRF + ix), np.uint64(oVEL + ix), g0,
                                                   _sel(first, -0.0, f[_Q + j]),
                                                   _sel(first, -0.0, f[_DOT + j]),
                                                   _sel(first, -0.0, f[_JQ + j]), MOM)
                                f[_Q + j] = q
                                f[_DOT + j] = dt
                                f[_JQ + j] = jq
                            c += 1
                    # --- accept: on sums of squares where no lane needs its norms (phase 0); deciding
                    # per vector of VEC_LANES lanes instead measured 4x slower (short loops, branches) ---
                    full = phase == 1
                    if not full:
                        for j in range(Lp):
                            full = full | _needs_norms(f, j)
                    if not full:
                        for j in range(Lp):
                            _accept_q(f, j, fstep)
                    else:
                        # the norms; the rare scaled forms lane by lane, where they can change a metric
                        nbad = False  # an or-reduction (a float sum would not vectorise without fastmath)
                        for j in range(Lp):
                            qn = f[_Q + j]
                            jq = f[_JQ + j]
                            dot = f[_DOT + j]
                            nn = _sqrt(qn)
                            f[_NN + j] = nn
                            f[_JN + j] = _sqrt(jq)
                            f[_NEG + j] = _sel(dot < 0.0, 1.0, 0.0)
                            fl = f[_FLOOR + j]
                            bad_n = ~((qn >= _TINY) & (qn <= _FMAX))
                            # A sum of squares below the smallest normal is a norm below 1.5e-154: it can
                            # only change max_jump while that is below it (an exactly converged lane's
                            # zero steps would otherwise take the scalar path every step).
                            bad_j = (jq > _FMAX) | (jq != jq) | ((jq < _TINY) & (f[_MJ + j] < _JUMP_TINY))
                            # The overshoot's rescaled recheck counts only above the floor.
                            bad_d = ~((dot < 0.0) | (dot > 0.0)) & ((nn > fl) | bad_n) & (
                                (f[_NRMQ + j] < 0.0) | (f[_NRMQ + j] > f[_TFL + j]))
                            nbad = nbad | bad_n | bad_j | bad_d
                        if nbad:
                            for j in range(Lp):
                                qn = f[_Q + j]
                                jq = f[_JQ + j]
                                dot = f[_DOT + j]
                                if not (qn >= _TINY and qn <= _FMAX):
                                    f[_NN + j] = _norm_diff(V, oTN, oRF, j, P)
                                if not (jq >= _TINY and jq <= _FMAX):
                                    f[_JN + j] = _norm_diff(V, oTN, oW, j, P)
                                if not (dot < 0.0 or dot > 0.0):
                                    f[_NEG + j] = _overshoot_scaled(V, oTN, oW, oRF, j, P)
                        if phase == 0:
                            for j in range(Lp):
                                _accept_feat(f, j, fstep)
                        else:
                            zig_ok = k >= last_start + 2
                            for j in range(Lp):
                                ok, flip, nn = _accept_feat(f, j, fstep)
                                _last_epoch(f, j, ok, flip, f[_LREC + j], nn, zig_ok)
                    if rec:  # coordinates are committed by the next forward pass: select here
                        slot = step // rec_every - 1
                        for j in range(L):
                            r = rec_row[s0 + j]
                            if r >= 0 and f[_DIV + j] < 0.0:
                                oS = oTN if f[_OK + j] != 0.0 else oW
                                rec_theta[r, slot] = V[oS + j] if P == 1 else np.nan
                                rec_err[r, slot] = _norm_diff(V, oS, oRF, j, P)
                                rec_loss[r, slot] = f[_LREC + j]
                for j in range(Lp):  # the exact norm of the last accepted error (from its shadow)
                    nrmq = f[_NRMQ + j]
                    f[_NRM + j] = _sel(nrmq >= 0.0, _sqrt(nrmq), f[_NRM + j])
                if phase == 0 and last_start > 0:
                    for j in range(L):
                        f[_ESTART + j] = f[_NRM + j]
            for c in range(P):  # the last step's commit
                for j in range(Lp):
                    _commit(V, f[_OK + j] != 0.0, np.uint64(oW + c * _CS + j), np.uint64(oTN + c * _CS + j))
            _results_feat(f, V, oW, s0, L, m, n, E, bs, P, last_start, l_ioff, l_floor2, idx, osc_min,
                          out_f, out_i, out_w, l_woff)

    return run_chunk_feat


@njit(inline="always", error_model="numpy")
def _results_feat(f, V, oW, s0, L, m, n, E, bs, P, last_start, l_ioff, l_floor2, idx, osc_min,
                  out_f, out_i, out_w, l_woff):  # pragma: no cover - compiled
    """:func:`_results` on norms; the final coordinates into ``out_w`` (``theta_final`` NaN unless P = 1)."""
    for j in range(L):
        t = s0 + j
        nrm = f[_NRM + j]
        n0 = f[_N0 + j]
        est = f[_ESTART + j]
        div = np.int64(f[_DIV + j])
        exit_step = np.int64(f[_EXITSTEP + j])
        for c in range(P):
            out_w[l_woff[t] + c] = V[oW + c * _CS + j]
        out_f[F_THETA, t] = V[oW + j] if P == 1 else np.nan
        out_f[F_MAX_ABS_ERROR, t] = f[_MAE + j]
        out_f[F_MAX_JUMP, t] = f[_MJ + j]
        if div >= 0 or E < 3:
            out_f[F_LOSS_ZIGZAG, t] = np.nan
        else:
            out_f[F_LOSS_ZIGZAG, t] = f[_ZIG + j] / (E - 2)
        out_f[F_LOSS_LAST, t] = np.nan if div >= 0 else f[_LSUM + j] / E
        if div >= 0:
            if n0 == 0.0:
                out_f[F_GROWTH, t] = np.inf
            else:
                out_f[F_GROWTH, t] = (np.log(f[_BOUND + j]) - np.log(n0)) * E / div
        elif exit_step >= 0:
            out_f[F_GROWTH, t] = (np.log(f[_EXITERR + j]) - np.log(n0)) * E / exit_step
        elif est == 0.0:
            out_f[F_GROWTH, t] = np.nan
        else:
            out_f[F_GROWTH, t] = np.log(nrm) - np.log(est)
        out_f[F_RMS_LAST, t] = np.nan if div >= 0 else np.sqrt(f[_E2SUM + j] / E)
        last_viol = np.int64(f[_LASTVIOL + j])
        conv = -1
        if div >= 0:
            status = DIVERGED
        elif last_viol <= last_start:
            status = CONVERGED
            conv = last_viol + 1
        elif f[_E2SUM + j] <= E * l_floor2[t]:
            status = NOISE_FLOOR
        elif nrm > est:
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
            pos = k0 // E * n + k0 % E * bs
            mj_sample = pos % m if l_ioff[t] < 0 else np.int64(idx[l_ioff[t] + pos])
        out_i[I_STATUS, t] = status
        out_i[I_CONVERGED, t] = conv
        out_i[I_DIVERGED, t] = div
        out_i[I_SIGN, t] = np.int64(f[_SC + j])
        out_i[I_SIGN_LAST, t] = np.int64(f[_SCLAST + j])
        out_i[I_MAX_ABS_STEP, t] = np.int64(f[_MAESTEP + j])
        out_i[I_MAX_JUMP_STEP, t] = mj_step
        out_i[I_MAX_JUMP_SAMPLE, t] = mj_sample
