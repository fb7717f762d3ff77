"""NumPy's reductions over the datasets of a chunk, bit for bit, in numba.

``sweep`` needs three statistics of every dataset (``mean(r*r)``,
``mean(x*r)``, ``mean(x*x)`` for the final full-batch loss) and its
least-squares fit ``theta_ref``. :mod:`lrsweep.data` (the plain-NumPy
reference) computes them with ``np.mean`` and ``np.dot``; this module gives
the same bits for thousands of datasets in one compiled call:

* ``np.mean`` is NumPy's pairwise summation (``DOUBLE_pairwise_sum``),
  ported as :func:`_pairwise_sum`;
* ``np.dot`` is BLAS, whose rounding depends on the kernel OpenBLAS picks at
  run time: it is not ported but called (:func:`numpy_ddot` finds NumPy's own
  ``cblas_ddot`` and checks it against ``np.dot`` before use).

``tests/test_generators.py`` checks both against NumPy. Kept apart from
:mod:`lrsweep.engine.generators` because neither shares code with the bit
generators (numba's cache does not notice edits to helpers in other files,
so compiled functions here only call helpers of this file).
"""

from __future__ import annotations

import numba as nb
import numpy as np

__all__ = ["dataset_stats", "dot_many", "least_squares_many", "numpy_ddot"]

# nogil: lrsweep.engine.chunkdata runs them on several threads (disjoint datasets).
_jit = nb.njit(cache=True, error_model="numpy", nogil=True)
# Helpers with one call site, inlined into it as numba IR (one function to compile).
_inline = nb.njit(cache=True, error_model="numpy", inline="always")


@_inline
def _block_sum(a, lo, n):
    """The leaves of NumPy's pairwise sum (n <= 128): 8 accumulators, then the rest."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0 = a[lo]
    r1 = a[lo + 1]
    r2 = a[lo + 2]
    r3 = a[lo + 3]
    r4 = a[lo + 4]
    r5 = a[lo + 5]
    r6 = a[lo + 6]
    r7 = a[lo + 7]
    i = 8
    while i < n - (n % 8):
        j = lo + i
        r0 += a[j]
        r1 += a[j + 1]
        r2 += a[j + 2]
        r3 += a[j + 3]
        r4 += a[j + 4]
        r5 += a[j + 5]
        r6 += a[j + 6]
        r7 += a[j + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@_inline
def _pairwise_sum(a, lo, n, stack, vals):
    """NumPy's ``DOUBLE_pairwise_sum`` (``add.reduce`` on a contiguous float64 array).

    NumPy recurses: ``n <= 128`` is a leaf (:func:`_block_sum`), otherwise
    ``sum(a[:n2]) + sum(a[n2:])`` with ``n2 = n // 2`` rounded down to a
    multiple of 8. The same tree is walked here in post-order with an
    explicit stack: a self-recursive function loaded from numba's cache
    crashed when called from a ``prange`` loop. ``stack`` (int64, (3, 128))
    and ``vals`` (float64, 128) are scratch space (depth <= 64).
    """
    st_lo = stack[0]
    st_n = stack[1]
    st_ph = stack[2]
    sp = 1
    st_lo[0] = lo
    st_n[0] = n
    st_ph[0] = 0
    vsp = 0
    while sp > 0:
        t = sp - 1
        k = st_n[t]
        if k <= 128:
            vals[vsp] = _block_sum(a, st_lo[t], k)
            vsp += 1
            sp -= 1
            continue
        n2 = k // 2
        n2 -= n2 % 8
        ph = st_ph[t]
        if ph == 0:
            st_ph[t] = 1
            st_lo[sp] = st_lo[t]
            st_n[sp] = n2
            st_ph[sp] = 0
            sp += 1
        elif ph == 1:
            st_ph[t] = 2
            st_lo[sp] = st_lo[t] + n2
            st_n[sp] = k - n2
            st_ph[sp] = 0
            sp += 1
        else:
            vsp -= 1
            vals[vsp - 1] = vals[vsp - 1] + vals[vsp]
            sp -= 1
    return vals[0]


@_jit
def dataset_stats(x, y, off, m, ref, out):
    """``out[:, d] = mean(r*r), mean(x*r), mean(x*x), mean((x*r)**2), mean((x*x)**2)``.

    ``r = y - ref[d] * x`` is the residual of dataset ``d`` at its least-squares fit.

    Bit for bit ``np.mean`` of the same NumPy expressions on dataset ``d``
    (``x[off[d]:off[d] + m[d]]``): the elementwise products are the same
    IEEE operations and the sums are NumPy's pairwise summation.
    """
    stack = np.empty((3, 128), dtype=np.int64)
    vals = np.empty(128)
    zero = np.int64(0)  # not a literal 0: one specialisation of _pairwise_sum (as the tests call it)
    longest = 0
    for d in range(m.shape[0]):
        longest = max(longest, m[d])
    terms = np.empty((5, longest))
    for d in range(off.shape[0]):
        n = m[d]
        o = off[d]
        t = ref[d]
        for i in range(n):
            xi = x[o + i]
            r = y[o + i] - t * xi
            xr = xi * r
            xx = xi * xi
            terms[0, i] = r * r
            terms[1, i] = xr
            terms[2, i] = xx
            terms[3, i] = xr * xr
            terms[4, i] = xx * xx
        for q in range(5):  # one call site (compile time)
            out[q, d] = _pairwise_sum(terms[q], zero, n, stack, vals) / n


# ------------------------------------------------- least squares with NumPy's BLAS
# ``np.dot`` of two float64 vectors is ``0.0 + cblas_ddot(...)`` (length >= 2)
# or the plain product ``x[0] * y[0]`` (length 1), and cblas_ddot's rounding
# depends on the BLAS kernel chosen at run time (SIMD width, accumulators).
# A numba loop cannot reproduce that, so the kernel calls the very ddot
# NumPy calls: the same function of NumPy's bundled OpenBLAS, through a
# ctypes pointer passed as an argument (so the compiled code is cacheable).
# :func:`numpy_ddot` checks it against ``np.dot`` before it is used; when the
# library is not found or disagrees, callers use ``np.dot`` in Python.

_DDOT_SYMBOLS = (("scipy_cblas_ddot64_", 64), ("cblas_ddot64_", 64),
                 ("scipy_cblas_ddot", 32), ("cblas_ddot", 32))
_ddot_cache: list = []


def _find_ddot():
    import ctypes
    import glob
    import os

    root = os.path.dirname(os.path.dirname(np.__file__))
    patterns = [os.path.join(root, "numpy.libs", "*openblas*"),
                os.path.join(os.path.dirname(np.__file__), ".dylibs", "*openblas*")]
    for path in sorted(p for pat in patterns for p in glob.glob(pat)):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name, bits_ in _DDOT_SYMBOLS:
            fn = getattr(lib, name, None)
            if fn is None:
                continue
            i = ctypes.c_int64 if bits_ == 64 else ctypes.c_int32
            fn.restype = ctypes.c_double
            fn.argtypes = [i, ctypes.c_void_p, i, ctypes.c_void_p, i]
            if _ddot_agrees(fn):
                return fn
    return None


def _ddot_agrees(fn) -> bool:
    """``dot_many`` with ``fn`` equals ``np.dot`` bit for bit on a probe set."""
    rng = np.random.default_rng(20261129)
    m = np.array([*range(1, 140), 255, 256, 257, 1000, 4099, 20001], dtype=np.int64)
    off = np.zeros(len(m), dtype=np.int64)
    np.cumsum(m[:-1], out=off[1:])
    x = rng.standard_normal(int(m.sum())) * 10.0 ** rng.integers(-6, 6, int(m.sum()))
    y = rng.standard_normal(int(m.sum()))
    x[off[:5]] = -1.0  # signed zeros: -1 * 0.0 = -0.0 at length 1, and sums of zeros
    y[off[:5]] = 0.0
    y[off[5]:off[5] + m[5]] = -0.0
    out = np.empty(len(m))
    try:
        dot_many(fn, x, y, off, m, out)
    except Exception:  # any failure means: do not use it
        return False
    ref = np.array([np.dot(x[o:o + k], y[o:o + k]) for o, k in zip(off, m, strict=True)])
    return bool(np.array_equal(out.view(np.int64), ref.view(np.int64)))


def numpy_ddot():
    """NumPy's own ``cblas_ddot`` as a ctypes function, or None (looked up once)."""
    if not _ddot_cache:
        _ddot_cache.append(_find_ddot())
    return _ddot_cache[0]


@_jit
def _dot(fn, a, b, o, n):
    if n == 1:
        return a[o] * b[o]
    return 0.0 + fn(n, a[o:].ctypes.data, 1, b[o:].ctypes.data, 1)


@_jit
def dot_many(fn, x, y, off, m, out):
    """``out[d] = np.dot(x[off[d]:off[d]+m[d]], y[...])`` with NumPy's ddot ``fn``."""
    for d in range(off.shape[0]):
        out[d] = _dot(fn, x, y, off[d], m[d])


@_jit
def least_squares_many(fn, x, y, off, m, out):
    """``out[d] = data.least_squares(x_d, y_d)`` with NumPy's ddot ``fn`` (serial)."""
    for d in range(off.shape[0]):
        sxx = _dot(fn, x, x, off[d], m[d])
        sxy = _dot(fn, x, y, off[d], m[d])
        out[d] = sxy / sxx if sxx > 0 else 0.0
