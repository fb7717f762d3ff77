"""What the theory modules share: numerics, float constants and the argument constraints.

Nothing here knows about SGD: the helpers evaluate ``v = lr * c`` in
memory-bounded blocks, take ``log|1 - v|`` without cancellation, find a
bracketed root, and turn 0-d results into scalars. The constraints of the
arguments that several modules take (datasets, learning rates, feature
scales) are defined once here, for :func:`lrsweep._validation.validate_params`.
This module imports nothing of the package (every other module may import it).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validation import Array

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

#: ``x``: one dataset ``(n,)`` or a stack of datasets ``(n_datasets, n)``, finite.
X_DATASETS = Array(ndim=(1, 2), what="a 1-D array (one dataset) or a 2-D array (n_datasets, n)")
#: ``x`` of the functions that take exactly one dataset.
X_DATASET = Array(ndim=(1,), what="a 1-D array (one dataset)")
#: ``lr``: learning rates of any shape (an empty array gives an empty result).
LR = Array(0.0, math.inf, "left", ndim=None, nonempty=False)
#: ``x_scale`` of the population functions: broadcast against ``lr``.
X_SCALE = Array(0.0, math.inf, "neither", ndim=None, nonempty=False)


def _scalar_or_array(arr: NDArray[Any]) -> Any:
    """0-d arrays become NumPy scalars (``arr[()]``); others are returned as is."""
    return arr[()] if arr.ndim == 0 else arr


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


def _blocked(
    c: NDArray[np.float64],
    lr: NDArray[np.float64],
    reduce: Callable[[NDArray[np.float64]], NDArray[Any]],
    dtype: type,
) -> NDArray[Any]:
    """Apply ``reduce`` over the last axis of ``v = lr * c`` in memory-bounded blocks.

    ``c`` has shape ``(D, n)`` and ``lr`` shape ``(m,)``; ``reduce`` maps
    ``v`` of shape ``(d, k, n)`` to ``(d, k)``. Returns ``(D, m)``.
    """
    d_all, n = c.shape
    m = lr.shape[0]
    out = np.empty((d_all, m), dtype=dtype)
    size = min(_BLOCK_ELEMENTS, _REDUCE_ELEMENTS)
    lr_block = max(1, min(m, size // n))
    d_block = max(1, size // (n * lr_block))
    # One thread: two threads on these ~0.2 ms blocks measured slower (7.4 vs 5.2 ns
    # per element), NumPy's calls fight over the GIL between its loops.
    for j0 in range(0, m, lr_block):
        lrb = lr[j0 : j0 + lr_block]
        for d0 in range(0, d_all, d_block):
            v = lrb[None, :, None] * c[d0 : d0 + d_block, None, :]
            out[d0 : d0 + d_block, j0 : j0 + lr_block] = reduce(v)
    return out


def _batch(x: NDArray[np.float64], lr: NDArray[np.float64]) -> tuple:
    """Flatten datasets to ``(D, n)`` and lrs to ``(m,)``; return the output shape."""
    out_shape = x.shape[:-1] + lr.shape
    c = 2.0 * np.square(x.reshape(-1, x.shape[-1]))
    return c, lr.reshape(-1), out_shape


def _brent_root(f: Callable[[float], float], a: float, b: float) -> float:
    from scipy.optimize import brentq

    return float(brentq(f, a, b, xtol=_TINY, rtol=4 * _EPS, maxiter=500))

