"""Numba ports of the NumPy generators behind ``data="gaussian"``, bit for bit.

Why hand-port instead of calling NumPy: one ``np.random.default_rng([seed,
stream])`` (a ``SeedSequence``, a ``PCG64`` and a ``Generator`` object) costs
about 20 us of Python per stream, three streams per dataset, and a sweep over
``seed=range(1e5)`` has 1e5 datasets. Numba's own ``np.random.Generator``
support still needs one Python-side Generator object per stream. The ports
below run the same integer arithmetic in compiled code, for all datasets of a
chunk in one call, and reproduce NumPy's output exactly
(``tests/test_rng.py`` compares the bits against NumPy):

``SeedSequence(entropy=[seed, stream])``
    NumPy's ``bit_generator.pyx``: the entropy words are hashed into a pool of
    4 uint32 (``hashmix``/``mix``, constants ``INIT_A``, ``MULT_A``, ...), and
    ``generate_state(4, np.uint64)`` draws 8 uint32 words (``INIT_B``,
    ``MULT_B``) read as 4 little-endian uint64.
``PCG64``
    ``pcg64_set_seed(state, seed=words[0:2], inc=words[2:4])`` with
    ``PCG_128BIT_CONSTANT(high=words[0], low=words[1])``, i.e. PCG's
    ``setseq_128_srandom_r`` (state 0, inc = 2 * initseq + 1, step, add
    initstate, step); ``next_uint64`` is the 128-bit LCG step (multiplier
    ``0x2360ED051FC65DA44385DF649FCCF645``) followed by the XSL-RR output. Numba
    has no uint128: the state is two uint64 halves and the product uses an
    exact 64x64 -> 128 multiply-high.
``next_double``
    ``(next_uint64 >> 11) * (1.0 / 9007199254740992.0)`` (``Generator.random``).
``random_standard_normal``
    NumPy's ``distributions.c`` ziggurat (256 boxes; the tables
    ``ki_double``, ``wi_double``, ``fi_double`` and the tail constants are
    numba's copies of NumPy's ``ziggurat_constants.h``), with its bit split of
    one uint64 (8 bits box index, 1 sign bit, 52 bits magnitude), the tail
    branch for box 0 (``-log1p(-U)`` exponential rejection, the sign from bit
    8 of the magnitude) and the wedge test ``exp(-x*x/2)`` for the others.
``permuted(..., axis=1)`` and ``integers(0, n, dtype=np.int32)``
    The sample orders: Fisher-Yates per row with ``random_interval`` (masked
    rejection on ``next_uint32``), and Lemire's bounded ``uint32`` draws, both
    on PCG64's buffered ``next_uint32`` (low half first, then high half).

The per-dataset reductions (``np.mean``, ``np.dot``) are in
:mod:`lrsweep.engine.reductions`.

Nothing here is compiled at ``import lrsweep``: this module imports numba and is
imported lazily by :class:`lrsweep.engine.chunkdata.ChunkData` on first use
(:mod:`lrsweep.data` stays the plain-NumPy reference).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
from numba.np.random._constants import (
    fi_double,
    ki_double,
    wi_double,
    ziggurat_nor_inv_r,
    ziggurat_nor_r,
)

# The streams of a data key are defined once, by the reference recipe.
from ..data import STREAM_ORDER, STREAM_OUTLIER, STREAM_X

# nogil: lrsweep.engine.chunkdata.ChunkData runs them on several threads (disjoint datasets).
_jit = nb.njit(cache=True, error_model="numpy", nogil=True)
# Helpers with one call site: inlined into it as numba IR, so that the first
# call compiles one function instead of two (each njit function is typed,
# lowered and optimised on its own, then again as part of its caller).
_inline = nb.njit(cache=True, error_model="numpy", inline="always")

# All integer constants are uint64: numba types a mixed uint64/int64 operation
# as float64, which would silently lose bits.
_U = np.uint64
_M32 = _U(0xFFFFFFFF)
_S32 = _U(32)
_S16 = _U(16)
_ONE = _U(1)
# SeedSequence (numpy/random/bit_generator.pyx).
_INIT_A = _U(0x43B0D7E5)
_MULT_A = _U(0x931E8875)
_INIT_B = _U(0x8B51F9DD)
_MULT_B = _U(0x58F38DED)
_MIX_MULT_L = _U(0xCA01F9DD)
_MIX_MULT_R = _U(0x4973F715)
# PCG64 (numpy/random/src/pcg64/pcg64.h): PCG_DEFAULT_MULTIPLIER_128.
_MULT_HI = _U(0x2360ED051FC65DA4)
_MULT_LO = _U(0x4385DF649FCCF645)

_KI = np.ascontiguousarray(ki_double, dtype=np.uint64)
_WI = np.ascontiguousarray(wi_double, dtype=np.float64)
_FI = np.ascontiguousarray(fi_double, dtype=np.float64)
_NOR_R = float(ziggurat_nor_r)
_NOR_INV_R = float(ziggurat_nor_inv_r)
_TO_DOUBLE = 1.0 / 9007199254740992.0



# --------------------------------------------------------------- SeedSequence
@_jit
def _hashmix(value, hash_const, mult):
    """One 32-bit mixing step of SeedSequence: returns (mixed value, next hash constant).

    ``mult`` is ``_MULT_A`` for ``hashmix`` (pool mixing) and ``_MULT_B`` for a
    word of ``generate_state``: NumPy's two loops differ only in it.
    """
    value = (value ^ hash_const) & _M32
    hash_const = (hash_const * mult) & _M32
    value = (value * hash_const) & _M32
    value ^= value >> _S16
    return value, hash_const


@_jit
def _mix(x, y):
    result = ((_MIX_MULT_L * x) - (_MIX_MULT_R * y)) & _M32
    result ^= result >> _S16
    return result


@_jit
def seed_words(seed, stream):
    """``SeedSequence([seed, stream]).generate_state(4, np.uint64)`` as a 4-tuple of uint64.

    ``seed`` and ``stream`` must be in ``[0, 2**32)`` (one entropy word each,
    as NumPy's ``_coerce_to_uint32_array`` makes of such ints). Written out
    on scalars (no arrays: this runs once per stream).
    """
    hc = _INIT_A
    # mix_entropy: the pool of 4 words, entropy [seed, stream] padded with 0 ...
    p0, hc = _hashmix(_U(seed) & _M32, hc, _MULT_A)
    p1, hc = _hashmix(_U(stream) & _M32, hc, _MULT_A)
    p2, hc = _hashmix(_U(0), hc, _MULT_A)
    p3, hc = _hashmix(_U(0), hc, _MULT_A)
    # ... then every word mixed into every other (i_src outer, i_dst inner).
    h, hc = _hashmix(p0, hc, _MULT_A)
    p1 = _mix(p1, h)
    h, hc = _hashmix(p0, hc, _MULT_A)
    p2 = _mix(p2, h)
    h, hc = _hashmix(p0, hc, _MULT_A)
    p3 = _mix(p3, h)
    h, hc = _hashmix(p1, hc, _MULT_A)
    p0 = _mix(p0, h)
    h, hc = _hashmix(p1, hc, _MULT_A)
    p2 = _mix(p2, h)
    h, hc = _hashmix(p1, hc, _MULT_A)
    p3 = _mix(p3, h)
    h, hc = _hashmix(p2, hc, _MULT_A)
    p0 = _mix(p0, h)
    h, hc = _hashmix(p2, hc, _MULT_A)
    p1 = _mix(p1, h)
    h, hc = _hashmix(p2, hc, _MULT_A)
    p3 = _mix(p3, h)
    h, hc = _hashmix(p3, hc, _MULT_A)
    p0 = _mix(p0, h)
    h, hc = _hashmix(p3, hc, _MULT_A)
    p1 = _mix(p1, h)
    h, hc = _hashmix(p3, hc, _MULT_A)
    p2 = _mix(p2, h)
    # generate_state(4, uint64): 8 uint32 words cycling over the pool, read
    # as little-endian uint64 (word 2i low, word 2i + 1 high).
    hb = _INIT_B
    w0, hb = _hashmix(p0, hb, _MULT_B)
    w1, hb = _hashmix(p1, hb, _MULT_B)
    w2, hb = _hashmix(p2, hb, _MULT_B)
    w3, hb = _hashmix(p3, hb, _MULT_B)
    w4, hb = _hashmix(p0, hb, _MULT_B)
    w5, hb = _hashmix(p1, hb, _MULT_B)
    w6, hb = _hashmix(p2, hb, _MULT_B)
    w7, hb = _hashmix(p3, hb, _MULT_B)
    return w0 | (w1 << _S32), w2 | (w3 << _S32), w4 | (w5 << _S32), w6 | (w7 << _S32)


# ---------------------------------------------------------------------- PCG64
@_jit
def _mulhi(a, b):
    """High 64 bits of the exact 128-bit product of two uint64."""
    a0 = a & _M32
    a1 = a >> _S32
    b0 = b & _M32
    b1 = b >> _S32
    p00 = a0 * b0
    p01 = a0 * b1
    p10 = a1 * b0
    p11 = a1 * b1
    mid = (p00 >> _S32) + (p01 & _M32) + (p10 & _M32)
    return p11 + (p01 >> _S32) + (p10 >> _S32) + (mid >> _S32)


@_jit
def _step(sh, sl, ih, il):
    """One LCG step: state = state * MULT + inc (mod 2**128); returns (hi, lo)."""
    hi = _mulhi(sl, _MULT_LO) + sl * _MULT_HI + sh * _MULT_LO
    lo = sl * _MULT_LO
    lo2 = lo + il
    carry = _ONE if lo2 < lo else _U(0)
    return hi + ih + carry, lo2


@_jit
def _output(sh, sl):
    """XSL-RR: rotate (hi ^ lo) right by the top 6 bits of the state."""
    v = sh ^ sl
    rot = sh >> _U(58)
    return (v >> rot) | (v << ((_U(64) - rot) & _U(63)))


@_jit
def pcg64_seed(seed, stream):
    """PCG64 state ``(state_hi, state_lo, inc_hi, inc_lo)`` of ``default_rng([seed, stream])``."""
    init_hi, init_lo, seq_hi, seq_lo = seed_words(seed, stream)
    ih = (seq_hi << _ONE) | (seq_lo >> _U(63))
    il = (seq_lo << _ONE) | _ONE
    sh, sl = _step(_U(0), _U(0), ih, il)
    lo = sl + init_lo
    carry = _ONE if lo < sl else _U(0)
    sh = sh + init_hi + carry
    sh, sl = _step(sh, lo, ih, il)
    return sh, sl, ih, il


@_jit
def pcg64_uint64(seed, stream, n):
    """The first ``n`` ``next_uint64`` outputs (``bit_generator.random_raw(n)``)."""
    sh, sl, ih, il = pcg64_seed(seed, stream)
    out = np.empty(n, dtype=np.uint64)
    for i in range(n):
        sh, sl = _step(sh, sl, ih, il)
        out[i] = _output(sh, sl)
    return out


@_jit
def fill_random(seed, stream, out):
    """``out[:] = default_rng([seed, stream]).random(len(out))``."""
    sh, sl, ih, il = pcg64_seed(seed, stream)
    for i in range(out.shape[0]):
        sh, sl = _step(sh, sl, ih, il)
        out[i] = np.float64(_output(sh, sl) >> _U(11)) * _TO_DOUBLE


@_jit
def fill_standard_normal(seed, stream, scale, out, branches):
    """``out[:] = scale * default_rng([seed, stream]).standard_normal(len(out))``.

    NumPy's ``random_standard_normal`` (ziggurat). ``branches`` (int64, 4)
    counts the rare paths for the tests: [0] wedge tests (box > 0 rejected by
    the fast test), [1] wedge rejections (a new draw), [2] tail entries (box
    0), [3] tail rejections (a new exponential pair).
    """
    sh, sl, ih, il = pcg64_seed(seed, stream)
    mask52 = _U(0x000FFFFFFFFFFFFF)
    for i in range(out.shape[0]):
        while True:
            sh, sl = _step(sh, sl, ih, il)
            r = _output(sh, sl)
            idx = np.intp(r & _U(0xFF))
            r >>= _U(8)
            sign = r & _ONE
            rabs = (r >> _ONE) & mask52
            x = np.float64(rabs) * _WI[idx]
            if sign == _ONE:
                x = -x
            if rabs < _KI[idx]:
                break  # 99.3 % of draws
            if idx == 0:
                branches[2] += 1
                while True:
                    sh, sl = _step(sh, sl, ih, il)
                    u1 = np.float64(_output(sh, sl) >> _U(11)) * _TO_DOUBLE
                    xx = -_NOR_INV_R * math.log1p(-u1)
                    sh, sl = _step(sh, sl, ih, il)
                    u2 = np.float64(_output(sh, sl) >> _U(11)) * _TO_DOUBLE
                    yy = -math.log1p(-u2)
                    if yy + yy > xx * xx:
                        break
                    branches[3] += 1
                x = -(_NOR_R + xx) if (rabs >> _U(8)) & _ONE else _NOR_R + xx
                break
            branches[0] += 1
            sh, sl = _step(sh, sl, ih, il)
            u = np.float64(_output(sh, sl) >> _U(11)) * _TO_DOUBLE
            if (_FI[idx - 1] - _FI[idx]) * u + _FI[idx] < math.exp(-0.5 * x * x):
                break
            branches[1] += 1
        out[i] = scale * x


# -------------------------------------------------------------- sample orders
@_inline
def _next_uint32(sh, sl, ih, il, has32, buf32):
    """PCG64's ``next_uint32``: the buffered high half of the last uint64 if there
    is one, else the low half of a fresh uint64 (whose high half is buffered).

    Returns ``(value, sh, sl, has32, buf32)``, the new state and buffer.
    """
    if has32:
        return buf32, sh, sl, False, buf32
    sh, sl = _step(sh, sl, ih, il)
    r = _output(sh, sl)
    return r & _M32, sh, sl, True, r >> _S32


@_jit
def fill_permuted(seed, stream, n, epochs, out):
    """``default_rng([seed, stream]).permuted(broadcast_to(arange(n), (epochs, n)), axis=1).ravel()``.

    NumPy's ``permuted`` shuffles each row in turn with ``_shuffle_raw``: Fisher-Yates
    from the last position down to 1, ``j = random_interval(i)`` (the smallest
    all-ones mask >= i, ``next_uint32 & mask`` until <= i; NumPy switches to
    ``next_uint64`` for i >= 2**32, unreachable here: ``n < 2**31``), with
    PCG64's buffered ``next_uint32`` (:func:`_next_uint32`).
    """
    sh, sl, ih, il = pcg64_seed(seed, stream)
    has32 = False
    buf32 = _U(0)
    # The mask for i = n - 1 (smallest all-ones value >= n - 1); as i falls it
    # halves whenever i drops to half of it, which gives the same mask as
    # recomputing it for every i (12 operations per element).
    top = _U(max(n - 1, 1))
    top |= top >> _U(1)
    top |= top >> _U(2)
    top |= top >> _U(4)
    top |= top >> _U(8)
    top |= top >> _U(16)
    top |= top >> _U(32)
    for e in range(epochs):
        row = out[e * n:(e + 1) * n]
        for i in range(n):
            row[i] = i
        mask = top
        for i in range(n - 1, 0, -1):
            mx = _U(i)
            if mx <= (mask >> _ONE):
                mask >>= _ONE
            while True:
                v, sh, sl, has32, buf32 = _next_uint32(sh, sl, ih, il, has32, buf32)
                v &= mask
                if v <= mx:
                    break
            j = np.intp(v)
            t = row[j]
            row[j] = row[i]
            row[i] = t


@_jit
def fill_integers(seed, stream, n, out):
    """``default_rng([seed, stream]).integers(0, n, size=len(out), dtype=np.int32)``.

    NumPy's ``random_bounded_uint32_fill`` with Lemire's multiply-shift and
    rejection (``use_masked=False``): ``m = next_uint32 * n``; if the low 32 bits
    are below ``(2**32 - n) % n`` draw again; the value is ``m >> 32``. n == 1
    draws nothing.
    """
    sh, sl, ih, il = pcg64_seed(seed, stream)
    has32 = False
    buf32 = _U(0)
    rng_excl = _U(n)
    if n == 1:
        out[:] = 0
        return
    threshold = (_M32 - (rng_excl - _ONE)) % rng_excl
    for i in range(out.shape[0]):
        while True:
            v, sh, sl, has32, buf32 = _next_uint32(sh, sl, ih, il, has32, buf32)
            m = v * rng_excl
            leftover = m & _M32
            if leftover >= threshold:
                break
        out[i] = np.int32(m >> _S32)


@_jit
def sample_orders(seeds, n, shuffle, epochs, off, out):
    """Sample orders of many (seed, n, order) keys (stream 3) in one call.

    Key ``d`` fills ``out[off[d]:off[d] + epochs * n[d]]`` with
    ``data.sample_order("shuffle" if shuffle[d] else "replacement", n[d],
    epochs, seeds[d])`` (int32; ``n[d] < 2**31``).
    """
    stream = np.int64(STREAM_ORDER)  # not a literal: no extra specialisation of pcg64_seed
    for d in range(seeds.shape[0]):
        o = off[d]
        e = o + epochs * n[d]
        if shuffle[d]:
            fill_permuted(seeds[d], stream, n[d], epochs, out[o:e])
        else:
            fill_integers(seeds[d], stream, n[d], out[o:e])


# ------------------------------------------------------------------- datasets
@_jit
def _stable_argsort(u):
    """``np.argsort(u, kind="stable")`` for float64 without NaN: bottom-up merge sort.

    Written out because numba's own ``np.argsort``/``np.sort`` took ~15 s to
    compile here, for a result that is unique anyway: the order by
    ``(u[i], i)``. (Likewise ``np.arange``/``np.zeros``/``.max()`` are
    replaced by loops in this module: each cost ~0.5 s of first compile.)
    """
    m = u.shape[0]
    a = np.empty(m, dtype=np.int64)
    for i in range(m):
        a[i] = i
    b = np.empty(m, dtype=np.int64)
    width = 1
    while width < m:
        for lo in range(0, m, 2 * width):
            mid = min(lo + width, m)
            hi = min(lo + 2 * width, m)
            i, j, t = lo, mid, lo
            while i < mid and j < hi:
                if u[a[j]] < u[a[i]]:  # ties keep the left (lower index) first
                    b[t] = a[j]
                    j += 1
                else:
                    b[t] = a[i]
                    i += 1
                t += 1
            while i < mid:
                b[t] = a[i]
                i += 1
                t += 1
            while j < hi:
                b[t] = a[j]
                j += 1
                t += 1
        a, b = b, a
        width *= 2
    return a


@_jit
def _smallest_k(u, k, out):
    """``out[:] = np.sort(np.argsort(u, kind="stable")[:k])`` (data._outlier_index)."""
    order = _stable_argsort(u)
    mark = np.empty(u.shape[0], dtype=np.bool_)
    for i in range(u.shape[0]):
        mark[i] = False
    for j in range(k):
        mark[order[j]] = True
    t = 0
    for i in range(u.shape[0]):
        if mark[i]:
            out[t] = i
            t += 1


@_jit
def _outlier_indices(seeds, off, m, k, koff, out_idx):
    """The sorted outlier indices (stream 2) of every dataset with ``k[d] > 0``.

    A separate function so that a sweep without outliers never compiles the
    stream-2 draws and the merge sort (about a second of the first compile).
    """
    stream = np.int64(STREAM_OUTLIER)  # not a literal: no extra specialisation of pcg64_seed
    for d in range(seeds.shape[0]):
        if k[d] > 0:
            u = np.empty(m[d])
            fill_random(seeds[d], stream, u)
            _smallest_k(u, k[d], out_idx[koff[d]:koff[d] + k[d]])


@_inline
def _one_dataset(seed, x_scale, noise, leverage, k, scale, shift, coef, intercept, x, y, out_idx,
                 branches):
    """One ``data="gaussian"`` dataset into ``x``, ``y`` (length m), given its outliers ``out_idx``.

    The operations and their order are those of :func:`lrsweep.data._generate`
    (the outlier indices come from their own stream, so computing them first,
    in :func:`_outlier_indices`, changes no bit).
    """
    m = x.shape[0]
    # y = coef * x + intercept + noise * z, left to right. With noise == 0 the
    # term noise * z is a signed zero, and s + (+-0) == s unless s is -0.0,
    # which needs intercept == -0.0: only then is the noise stream drawn.
    neg_zero_icpt = intercept == 0.0 and math.copysign(1.0, intercept) < 0.0
    draw_noise = noise != 0.0 or neg_zero_icpt
    # One call site for the normals (x, then the noise into y): each inlined
    # copy of the ziggurat costs seconds of LLVM time at the first compile.
    for stream in range(2 if draw_noise else 1):
        target = x if stream == STREAM_X else y
        fill_standard_normal(seed, stream, x_scale if stream == STREAM_X else noise, target, branches)
        if stream == STREAM_X and k > 0 and leverage:
            for j in range(k):
                x[out_idx[j]] *= scale
    if draw_noise:
        for i in range(m):
            y[i] = (coef * x[i] + intercept) + y[i]  # y held noise * z
    else:
        for i in range(m):
            y[i] = coef * x[i] + intercept
    if k > 0 and not leverage:
        for j in range(k):
            y[out_idx[j]] += shift


@_jit
def _gaussian_datasets(seeds, off, m, x_scale, noise, leverage, k, koff, scale, shift,
                       coef, intercept, x_out, y_out, out_idx, branches):
    for d in range(seeds.shape[0]):
        o = off[d]
        e = o + m[d]
        _one_dataset(seeds[d], x_scale[d], noise[d], leverage[d], k[d], scale[d], shift[d],
                     coef, intercept, x_out[o:e], y_out[o:e], out_idx[koff[d]:koff[d] + k[d]],
                     branches)


def gaussian_datasets(seeds, off, m, x_scale, noise, leverage, k, koff, scale, shift,
                      coef, intercept, x_out, y_out, out_idx):
    """Many ``data="gaussian"`` datasets in two numba calls.

    Serial and ``nogil``: the caller (:class:`lrsweep.engine.chunkdata.ChunkData`)
    runs disjoint ranges of datasets on several threads (no ``parallel=True``:
    its compile time and per-thread scratch space). Each dataset depends only
    on its own seed, so results never depend on the split.

    Dataset ``d`` (``seeds[d]``, ``m[d]`` samples, ...) goes to
    ``x_out[off[d]:off[d] + m[d]]``, ``y_out[...]`` and its ``k[d]`` sorted
    outlier indices to ``out_idx[koff[d]:koff[d] + k[d]]``. ``leverage[d]``
    is True for leverage outliers, False for response outliers; ``k[d]`` is
    ``floor(outlier_frac * m + 0.5)`` and ``shift[d]`` the response shift
    ``outlier_scale * sqrt((coef * x_scale)**2 + noise**2)``, both computed by
    the caller in Python exactly as :func:`lrsweep.data._generate` does.
    The outlier indices are drawn (and compiled) only if some ``k[d] > 0``.
    """
    if np.any(k > 0):
        _outlier_indices(seeds, off, m, k, koff, out_idx)
    _gaussian_datasets(seeds, off, m, x_scale, noise, leverage, k, koff, scale, shift,
                       coef, intercept, x_out, y_out, out_idx, np.zeros(4, dtype=np.int64))
