"""What the theory modules share: numerics, float constants and the argument constraints.

Nothing here knows about SGD: the helpers evaluate ``v = lr * c`` in
memory-bounded blocks, take ``log|1 - v|`` without cancellation, find a
bracketed root, and turn 0-d results into scalars. The constraints of the
arguments that several modules take (datasets, learning rates, feature
scales) are defined once here, for :func:`lrsweep._validation.validate_params`.
This module imports nothing of the package (every other module may import it).

Extreme inputs
--------------
Every input is finite, but ``2 lr x^2`` of two finite numbers need not be:
``x = 1e200`` overflows ``x^2``, ``x = 1e-170`` underflows it to 0 although
``2 lr x^2 = 2e-32`` at ``lr = 1e308``. The quantities are products of powers,
so they are evaluated as a mantissa and a power of two
(:func:`_two_lr_x2`: ``v = w 2^k`` with ``w`` the product of the mantissas of
``lr`` and ``x``), which has the same rounding as the plain product wherever
that neither overflows nor underflows (the same bits there), and
``log|1 - v| = log w + k log 2`` where ``v`` itself overflows
(:func:`_log_abs_one_minus_scaled`). The fast plain products are used
whenever :func:`_plain_ok` shows that no intermediate leaves the normal
float range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validation import Array, ParameterError, message

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    from numpy.typing import NDArray

#: Largest number of float64 temporaries of one broadcast block (about 32 MB).
_BLOCK_ELEMENTS = 1 << 22
#: Elements of ``v = lr * c`` per block of :func:`_blocked`: its few
#: temporaries stay in the CPU cache (2**22-element blocks were 2x slower).
_REDUCE_ELEMENTS = 1 << 16
_EPS = float(np.finfo(np.float64).eps)
_TINY = float(np.finfo(np.float64).tiny)
#: The largest float64.
_HUGE = float(np.finfo(np.float64).max)
_LN2 = math.log(2.0)

#: ``x``: one dataset ``(n,)`` or a stack of datasets ``(n_datasets, n)``, finite.
X_DATASETS = Array(ndim=(1, 2), what="a 1-D array (one dataset) or a 2-D array (n_datasets, n)")
#: ``x`` of the functions that take exactly one dataset.
X_DATASET = Array(ndim=(1,), what="a 1-D array (one dataset)")
#: ``lr``: learning rates of any shape (an empty array gives an empty result).
LR = Array(0.0, math.inf, "left", ndim=None, nonempty=False)
#: ``x_scale`` of the population functions: broadcast against ``lr``.
X_SCALE = Array(0.0, math.inf, "neither", ndim=None, nonempty=False)


@dataclass(frozen=True)
class _IntArray(Array):
    """An :class:`~lrsweep._validation.Array` of whole numbers; returned as int64."""

    @property
    def description(self) -> str:  # type: ignore[override]
        return super().description.replace("of floats", "of integers")

    def check(self, name: str, owner: str, value: object) -> Any:
        arr = super().check(name, owner, value)
        bad = arr != np.floor(arr)
        if bad.any():
            raise ParameterError(message(name, owner, self.description, arr[bad].flat[0]))
        return arr.astype(np.int64)


#: ``batch_size`` of the population functions: whole numbers >= 1 (``2**53``: exact in float64),
#: broadcast against the other arguments.
BATCH_SIZES = _IntArray(1, 2**53, "both", ndim=None, nonempty=False)
#: ``n_features`` d of the population functions of d features: whole numbers in ``[1, 2**20]``, broadcast.
N_FEATURES = _IntArray(1, 2**20, "both", ndim=None, nonempty=False)


def _scalar_or_array(arr: NDArray[Any]) -> Any:
    """0-d arrays become NumPy scalars (``arr[()]``); others are returned as is."""
    return arr[()] if arr.ndim == 0 else arr


def _broadcast(owner: str, args: dict[str, tuple[Any, Array]]) -> list[NDArray[Any]]:
    """Broadcast the arrays ``{name: (value, constraint)}`` in order; refuse one that does not fit.

    The message names the first argument whose shape does not broadcast
    against those before it, e.g. ``The 'momentum' parameter of f must be a
    scalar or an array of floats in the range [0, 1) broadcastable against
    'lr' of shape (2,). Got an array of shape (3,) instead.``
    """
    from .._validation import Described

    names = list(args)
    arrays = [np.asarray(args[k][0]) for k in names]
    for i in range(1, len(arrays)):
        try:
            np.broadcast_shapes(*(a.shape for a in arrays[: i + 1]))
        except ValueError:
            pairs = zip(names[:i], arrays[:i], strict=True)
            before = ", ".join(f"{k!r} of shape {a.shape}" for k, a in pairs)
            allowed = f"{args[names[i]][1].description} broadcastable against {before}"
            raise ParameterError(message(names[i], owner, allowed,
                                         Described(f"an array of shape {arrays[i].shape}"))) from None
    return list(np.broadcast_arrays(*arrays))


def _log_abs_one_minus(v: NDArray[np.float64]) -> NDArray[np.float64]:
    """``log|1 - v|`` for ``v >= 0``, accurate for small ``v``; ``-inf`` at ``v == 1``."""
    # log1p(-v) for v < 1 and log1p(v - 2) = log(v - 1) for v >= 1 (v - 2 is exact on [1, 4]).
    # The branch is selected with integer bit operations, b ^ ((a ^ b) & mask): the same
    # bits as np.where(v < 1, -v, v - 2), which took 4-7 ns per element (it branches on
    # each one) against ~2 ns for these five vectorised passes.
    v = np.asarray(v, dtype=np.float64)
    a = np.negative(v, out=np.empty(v.shape))
    b = np.subtract(v, 2.0, out=np.empty(v.shape))
    mask = np.negative((v < 1.0).view(np.int8), out=np.empty(v.shape, np.int64), casting="unsafe")
    ai, bi = a.view(np.int64), b.view(np.int64)  # mask: 0 (take b) or -1, all bits set (take a)
    np.bitwise_xor(ai, bi, out=ai)
    np.bitwise_and(ai, mask, out=ai)
    np.bitwise_xor(ai, bi, out=ai)
    with np.errstate(divide="ignore"):
        return np.log1p(a, out=a)


def _frexp(a: Any) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Mantissa in ``[0.5, 1)`` (0 for 0) and exponent of each element, ``a = m 2^e``."""
    m, e = np.frexp(np.asarray(a, dtype=np.float64))
    return m, e.astype(np.int64)


def _ldexp(w: Any, k: Any) -> Any:
    """``w 2^k``: ``inf`` where it overflows, 0 or subnormal where it underflows, no warning."""
    with np.errstate(over="ignore", under="ignore"):
        return np.ldexp(w, np.clip(k, -4000, 4000).astype(np.int32))


def _two_lr_x2(x: Any, lr: Any) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """``v = 2 lr x^2`` (broadcast) as ``(w, k)`` with ``v = w 2^k``, no over- or underflow.

    ``w = m_lr (2 m_x^2)`` is the product of the mantissas: the same
    roundings as ``lr * (2 * x * x)`` in the normal range, so ``_ldexp(w, k)``
    has the bits of the plain product wherever that product and ``x^2`` are
    normal floats.
    """
    mx, ex = _frexp(x)
    ml, el = _frexp(lr)
    return ml * (2.0 * np.square(mx)), el + 2 * ex


def _log_abs_one_minus_scaled(w: NDArray[np.float64], k: NDArray[np.int64]) -> NDArray[np.float64]:
    """``log|1 - v|`` of ``v = w 2^k`` (see :func:`_two_lr_x2`); finite where ``v`` overflows."""
    v = _ldexp(w, k)
    out = _log_abs_one_minus(v)
    big = np.isinf(v)
    if big.any():  # v > 2^1024: log|1 - v| = log v to within 1/v
        out[big] = np.log(w[big]) + k[big] * _LN2
    return out


def _plain_ok(x: NDArray[np.float64], x2: NDArray[np.float64], lr_max: float) -> bool:
    """True if every ``c = 2 x^2`` (``x2``) is normal (or 0 for ``x = 0``) and no ``lr * c`` overflows.

    Then the plain products ``lr * c`` are what :func:`_two_lr_x2` gives
    (up to the last bit of a subnormal product, where the plain one is the
    correctly rounded one) and the fast path may be used.
    """
    if x2.size == 0:
        return True
    nz = x2 != 0.0
    if not np.array_equal(nz, x != 0.0):  # some x^2 underflowed to 0
        return False
    c = x2[nz]
    if c.size and not (float(c.min()) >= _TINY and math.isfinite(float(c.max()))):
        return False
    with np.errstate(over="ignore"):
        return math.isfinite(lr_max * float(x2.max()))


def _double_square(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """``2 x^2`` (``inf`` or 0 where it leaves the float range, no warning)."""
    with np.errstate(over="ignore", under="ignore"):
        return 2.0 * np.square(x)


def _block_slices(d_all: int, n: int, m: int) -> Any:
    """``(datasets, lrs)`` slices of the memory-bounded blocks of a ``(d_all, m, n)`` product."""
    size = min(_BLOCK_ELEMENTS, _REDUCE_ELEMENTS)
    lr_block = max(1, min(m, size // max(n, 1)))
    d_block = max(1, size // (max(n, 1) * lr_block))
    for j0 in range(0, m, lr_block):
        for d0 in range(0, d_all, d_block):
            yield slice(d0, d0 + d_block), slice(j0, j0 + lr_block)


def _blocked(
    c: NDArray[np.float64],
    lr: NDArray[np.float64],
    reduce: Callable[[NDArray[np.float64]], NDArray[Any]],
    dtype: type,
    x: NDArray[np.float64] | None = None,
    reduce_scaled: Callable[[NDArray[np.float64], NDArray[np.int64]], NDArray[Any]] | None = None,
    shift: int = 0,
    scaled_c: tuple[NDArray[np.float64], NDArray[np.int64]] | None = None,
) -> NDArray[Any]:
    """Apply ``reduce`` over the last axis of ``v = lr * c`` in memory-bounded blocks.

    ``c`` has shape ``(D, n)`` and ``lr`` shape ``(m,)``; ``reduce`` maps
    ``v`` of shape ``(d, k, n)`` to ``(d, k)``. Returns ``(D, m)``. When
    ``x`` (with ``c = 2 x^2``) and ``reduce_scaled`` are given and some
    product leaves the normal range (:func:`_plain_ok`), ``reduce_scaled``
    gets ``v`` as ``(w, k)`` (:func:`_two_lr_x2`) instead; ``shift``
    multiplies every ``v`` by ``2**shift`` (scaled path only). ``scaled_c``
    gives ``c = cm 2^ce`` directly (mantissa-sized ``cm``, e.g. the batch
    features of :mod:`~lrsweep.theory.batches`); ``x`` then only marks the
    nonzero entries of ``c`` (nonzero exactly where ``c`` should be).
    """
    d_all, n = c.shape
    m = lr.shape[0]
    out = np.empty((d_all, m), dtype=dtype)
    plain = reduce_scaled is None or (shift == 0 and _plain_ok(x, c, float(lr.max()) if m else 0.0))
    if not plain:
        if scaled_c is None:
            xm, xe = _frexp(x)
            cm, ce = 2.0 * np.square(xm), 2 * xe + shift
        else:
            cm, ce = scaled_c[0], scaled_c[1] + shift
        lm, le = _frexp(lr)
    # One thread: two threads on these ~0.2 ms blocks measured slower (7.4 vs 5.2 ns
    # per element), NumPy's calls fight over the GIL between its loops.
    for ds, ls in _block_slices(d_all, n, m):
        if plain:
            v = lr[ls][None, :, None] * c[ds, None, :]
            out[ds, ls] = reduce(v)
        else:
            w = lm[ls][None, :, None] * cm[ds, None, :]
            k = le[ls][None, :, None] + ce[ds, None, :]
            out[ds, ls] = reduce_scaled(w, k)  # type: ignore[misc]
    return out


def _batch(x: NDArray[np.float64], lr: NDArray[np.float64]) -> tuple:
    """Flatten datasets to ``(D, n)`` and lrs to ``(m,)``; return ``(2 x^2, lr, output shape, x)``."""
    out_shape = x.shape[:-1] + lr.shape
    xf = x.reshape(-1, x.shape[-1])
    return _double_square(xf), lr.reshape(-1), out_shape, xf


def _over_square(num: float, k: float, scale: Any) -> NDArray[np.float64]:
    """``num / (k scale^2)`` for ``scale > 0`` without intermediate over- or underflow.

    The bits of ``num / (k * np.square(scale))`` where ``k scale^2`` is a
    normal float; ``inf`` or 0 only where the result itself leaves the float
    range (``k`` a small positive constant, ``num`` a normal float).
    """
    m, e = _frexp(scale)
    return _ldexp(num / (k * np.square(m)), -2 * e)


def _brent_root(f: Callable[[float], float], a: float, b: float) -> float:
    """Brent's method on ``[a, b]`` to 4 ulps relative (``f(a)``, ``f(b)`` of opposite signs).

    The absolute tolerance is the smallest subnormal: ``xtol = 2**-1022``
    stopped roots near ``2**-1021`` (a pole of ``|x| = 2**510``) about
    ``2e-308`` early, and it is absorbed in ``xtol + rtol |x|`` for every
    root above ``1e-277`` (the same iterates there).
    """
    from scipy.optimize import brentq

    return float(brentq(f, a, b, xtol=5e-324, rtol=4 * _EPS, maxiter=500))

