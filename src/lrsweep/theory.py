r"""Exact theory of per-sample SGD on the one-feature problem y = a x.

Everything here is a prediction made *without* running SGD: the simulations
(kernel, reference) are tested against it and the studies draw it on their
figures. All functions work in float64, accept arrays of datasets and arrays
of learning rates, import SciPy lazily, and never touch a global random
state.

Notation
--------
Loss per sample ``l = (y - theta x)^2`` (no 1/2), step ``theta <- theta +
2 lr x (y - theta x)``. ``x`` is one dataset (shape ``(n,)``) or a stack of
datasets (shape ``(n_datasets, n)``); a one-feature column ``(n, 1)`` must be
passed as ``x[:, 0]`` (it would otherwise be read as ``n`` datasets of one
sample). ``X ~ N(0, s^2)`` with ``s = x_scale`` and ``Z ~ N(0, 1)``;
``u = 2 lr s^2`` is the only combination of ``lr`` and ``s`` the population
quantities depend on.

1. Error recursion (noise-free data)
------------------------------------
With ``y_i = a x_i`` and ``e = theta - a`` the step is ``e <- m_i e`` with the
*step multiplier* ``m_i = 1 - 2 lr x_i^2``. A step *overshoots* (``e`` changes
sign) when ``2 lr x_i^2 > 1`` and *amplifies* (``|e|`` grows) when
``2 lr x_i^2 > 2`` (:func:`overshoot_count`, :func:`amplify_count`). One epoch
multiplies ``e`` by ``prod_i m_i`` whatever the order, so

.. math:: \log|e_{qn}| = \log|e_0| + q\,S(lr), \qquad
          S(lr) = \sum_i \log|1 - 2\,lr\,x_i^2|,

and repeated epochs diverge iff ``S(lr) > 0`` (:func:`epoch_log_multiplier`,
:func:`predicted_error`, :func:`predicted_steps_to_tol`).

2. Shape of S: poles, concavity, roots
--------------------------------------
Write ``p_i = 1/(2 x_i^2)`` (the *poles*, :func:`poles`; at ``lr = p_i``
sample ``i`` puts theta exactly on the solution, ``m_i = 0``). Then
``S(lr) = sum_i log|1 - lr/p_i|`` and on every interval between consecutive
poles

.. math:: S''(lr) = -\sum_i \frac{1}{(lr - p_i)^2} < 0 ,

so **S is strictly concave between poles** and tends to ``-inf`` at each
pole. Consequences, used by :func:`roots`, :func:`critical_lr` and
:func:`diverging_intervals`:

* between two consecutive poles S has 0, 1 (a tangent, double root) or 2
  roots: find the maximum (the unique zero of the decreasing ``S'``), and if
  it is positive bracket one root on each side of it - nothing can be missed
  by a too coarse grid;
* on ``(0, p_min)``: ``S(0) = 0`` and ``S'(0) = -2 sum_i x_i^2 < 0``, so by
  concavity ``S < 0`` there: **no dataset diverges below 1/(2 max x_i^2)**;
* on ``(p_max, inf)``: S rises from ``-inf`` to ``+inf`` (like
  ``n log lr``) and is concave, so it has exactly one root, in
  ``(p_max, 2 p_max]`` (every term is ``>= 0`` at ``2 p_max``).

So the set of diverging learning rates is a finite union of open intervals,
the last one unbounded; the *critical* learning rate of a dataset is the
smallest root of S (the trivial root ``S(0) = 0`` is never reported).

3. Outliers
-----------
A response outlier shifts ``y_i`` only. The error recursion becomes affine,
``e <- m_i e + 2 lr x_i r_i`` (``r_i`` the residual of sample ``i`` at the
least-squares fit), and deviations from the epoch's fixed point still
contract by ``prod_i m_i``: S is unchanged, a response outlier moves theta
but cannot cause divergence. A leverage outlier multiplies ``x_i`` by ``s``
and changes S by ``log|1 - 2 lr s^2 x_i^2| - log|1 - 2 lr x_i^2|``: S is the
same formula evaluated on the modified ``x``.

4. Population thresholds (n -> inf, X ~ N(0, s^2))
--------------------------------------------------
* Almost-sure (Lyapunov) stability for fresh samples:
  ``L(lr) = E log|1 - 2 lr X^2| = E log|1 - u Z^2| < 0`` (law of large
  numbers for ``log|e_k|/k``; :func:`population_log_multiplier`,
  :func:`as_threshold`). The integrand has a log singularity at
  ``|Z| = z0 = 1/sqrt(u)``; the integral is split there, the pieces next to
  ``z0`` are mapped by ``|z - z0| = exp(-t)`` (which turns ``log|z - z0|``
  into ``-t`` and the singular piece into a smooth exponentially decaying
  integrand on ``[t0, inf)``), and the rest is integrated by
  ``scipy.integrate.quad``; absolute accuracy about 1e-13.
  An independent closed form, used in the tests: with ``F`` Dawson's
  integral, ``PV E[1/(Z - c)] = -sqrt(2) F(c/sqrt(2))`` (Hilbert transform of
  the Gaussian), hence ``d/dc E log|Z^2 - c| = sqrt(2/c) F(sqrt(c/2))`` and,
  with ``E log Z^2 = -gamma - log 2``,

  .. math:: L(u) = \log u - \gamma - \log 2 + 4 \int_0^{1/\sqrt{2u}} F(t)\,dt,
            \qquad \frac{dL}{du} = 2w^2 F'(w),\ w = \frac{1}{\sqrt{2u}} .

  ``F'`` changes sign once (F peaks at ``w_F = 0.9241...``), so L decreases
  from ``L(0) = 0`` to its minimum at ``u = 1/(2 w_F^2) = 0.5855`` and then
  increases to ``+inf``: its positive root (the a.s. threshold) is unique.
* Mean-square stability: ``E (1 - 2 lr X^2)^2 = 1 - 4 lr s^2 + 12 lr^2 s^4
  < 1`` iff ``lr < 1/(3 s^2)`` (:func:`ms_threshold`).
* Mean: ``E (1 - 2 lr X^2) = 1 - 2 lr s^2``, of modulus < 1 iff
  ``lr < 1/s^2`` (:func:`mean_threshold`; stability of ``E e_k``).
* Full-batch GD on ``mean((y - theta x)^2)``: ``e <- (1 - 2 lr mean(x^2)) e``,
  stable iff ``lr < 1/mean(x^2)`` (:func:`gd_threshold`).

By Jensen ``L <= (1/2) log E m^2``, so the a.s. threshold lies above the
mean-square one; for ``s = 1`` the thresholds are ``1/3`` (mean square),
``1`` (mean, and GD at ``mean(x^2) = 1``) and ``1.2106...`` (almost sure).
Between 1/3 and 1.21, ``E e_k^2`` blows up while almost every fresh-sample
trajectory converges.

5. Heavy tails (noise, fresh or resampled data)
-----------------------------------------------
With noise the recursion is ``e_{k+1} = m_k e_k + q_k`` with i.i.d. pairs
``(m_k, q_k)`` (``q_k = 2 lr x_k eps_k``) for the ``online`` and
``replacement`` orders. By Kesten (1973) and Goldie (1991), if
``E log|m| < 0`` and ``E|m|^alpha = 1`` for some ``alpha > 0`` (plus
moment and non-lattice conditions), the stationary law has a power tail
``P(|e| > t) ~ C t^{-alpha}``; Gurbuzbalaban, Simsekli and Zhu (2021) used
this to explain heavy tails in SGD. ``h(a) = log E|m|^a`` is convex with
``h(0) = 0`` and ``h'(0) = L``, so a positive root exists iff ``L < 0`` and
``P(|m| > 1) > 0``, and it is unique (:func:`tail_index`). Special values:
``alpha = 2`` at the mean-square threshold ``lr = 1/(3 s^2)`` and
``alpha = 1`` where ``E|m| = 1``; ``alpha -> 0`` at the a.s. threshold and
``alpha -> inf`` as ``lr -> 0``. For ``replacement`` from a fixed dataset
``m`` is uniform on ``{m_i}`` and ``(1/n) sum_i |m_i|^alpha_n = 1``
(:func:`tail_index_dataset`); when every ``|m_i| <= 1`` (``lr <= 1/max
x_i^2``) the stationary law is bounded: no tail. With ``fixed`` or
``shuffle`` orders the epoch multiplier is a constant, so there is no power
law at all.

6. Divergence probability of a random dataset
----------------------------------------------
``S`` of a dataset of ``n`` fresh samples is a sum of ``n`` i.i.d. copies of
``log|1 - 2 lr X^2|`` (mean ``L``, variance ``V``), so by the central limit
theorem ``P(S > 0) ~ Phi(sqrt(n) L / sqrt(V))``
(:func:`divergence_probability`, which also has an exact Monte Carlo mode).

References
----------
.. [1] M. Gurbuzbalaban, U. Simsekli, L. Zhu, "The heavy-tail phenomenon in
   SGD", ICML 2021.
.. [2] H. Kesten, "Random difference equations and renewal theory for
   products of random matrices", Acta Math. 131 (1973) 207-248.
.. [3] C. M. Goldie, "Implicit renewal theory and tails of solutions of
   random equations", Ann. Appl. Probab. 1 (1991) 126-166.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "DivergenceProbability",
    "amplify_count",
    "as_threshold",
    "critical_lr",
    "divergence_probability",
    "diverging_intervals",
    "epoch_log_multiplier",
    "gd_threshold",
    "mean_threshold",
    "ms_threshold",
    "overshoot_count",
    "poles",
    "population_log_multiplier",
    "population_log_multiplier_variance",
    "predicted_error",
    "predicted_steps_to_tol",
    "roots",
    "tail_index",
    "tail_index_dataset",
    "trajectory_predictions",
]

#: Largest number of float64 temporaries of one broadcast block (about 32 MB).
_BLOCK_ELEMENTS = 1 << 22
#: Elements of ``v = lr * c`` per block of :func:`_blocked`: its few
#: temporaries stay in the CPU cache (2**22-element blocks were 2x slower).
_REDUCE_ELEMENTS = 1 << 16
_EPS = float(np.finfo(np.float64).eps)
_TINY = float(np.finfo(np.float64).tiny)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
#: |z| beyond which the standard normal density underflows (phi(40) ~ 1e-348).
_Z_SUPPORT = 40.0
#: Tail indices above this are reported as inf (reached only for lr -> 0).
_ALPHA_MAX = 1e6
#: Intervals whose upper bound of S is below -this are skipped (covers rounding).
_SCREEN_MARGIN = 1e-6
_QUAD = {"epsabs": 1e-14, "epsrel": 1e-13, "limit": 400}


# --------------------------------------------------------------------------- validation


def _fmt(value: object) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return repr(float(value))
    return repr(value)


def _error(func: str, name: str, allowed: str, value: object) -> ValueError:
    return ValueError(
        f"The {name!r} parameter of {func} must be {allowed}. Got {_fmt(value)} instead."
    )


def _as_float_array(value: object, func: str, name: str) -> NDArray[np.float64]:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise _error(func, name, "an array of real numbers", value) from None
    return arr


def _first_bad(arr: NDArray[Any], bad: NDArray[np.bool_]) -> object:
    return arr[bad].flat[0] if arr.ndim else arr.item()


def _check_x(x: ArrayLike, func: str, *, one_dataset: bool = False) -> NDArray[np.float64]:
    arr = _as_float_array(x, func, "x")
    allowed_nd = (1,) if one_dataset else (1, 2)
    if arr.ndim not in allowed_nd:
        shape = "a 1-D array (one dataset)" if one_dataset else (
            "a 1-D array (one dataset) or a 2-D array (n_datasets, n)"
        )
        raise _error(func, "x", shape, f"an array of shape {arr.shape}")
    if arr.shape[-1] == 0:
        raise _error(func, "x", "non-empty along its last axis", f"an array of shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise _error(func, "x", "finite", _first_bad(arr, bad))
    return arr


def _check_nonneg(value: ArrayLike, func: str, name: str) -> NDArray[np.float64]:
    arr = _as_float_array(value, func, name)
    bad = ~(np.isfinite(arr) & (arr >= 0))
    if bad.any():
        raise _error(func, name, "finite and >= 0", _first_bad(arr, bad))
    return arr


def _check_positive(value: ArrayLike, func: str, name: str) -> NDArray[np.float64]:
    arr = _as_float_array(value, func, name)
    bad = ~(np.isfinite(arr) & (arr > 0))
    if bad.any():
        raise _error(func, name, "finite and > 0", _first_bad(arr, bad))
    return arr


def _check_scalar(value: object, func: str, name: str, *, positive: bool) -> float:
    if isinstance(value, bool) or (not np.isscalar(value) and np.ndim(value) != 0):
        raise _error(func, name, "a real number", value)
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise _error(func, name, "a real number", value) from None
    if not math.isfinite(v) or (v <= 0 if positive else v < 0):
        raise _error(func, name, "finite and > 0" if positive else "finite and >= 0", value)
    return v


def _check_int(value: object, func: str, name: str, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise _error(func, name, f"an int >= {lo}", value)
    if int(value) < lo:
        raise _error(func, name, f"an int >= {lo}", int(value))
    return int(value)


def _scalar_or_array(arr: NDArray[Any]) -> Any:
    """0-d arrays become NumPy scalars (``arr[()]``); others are returned as is."""
    return arr[()] if arr.ndim == 0 else arr


# --------------------------------------------------------------------------- per dataset


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


def epoch_log_multiplier(x: ArrayLike, lr: ArrayLike) -> Any:
    r"""Log of the factor by which one epoch multiplies the error, ``S(lr)``.

    .. math:: S(lr) = \sum_{i=1}^{n} \log|1 - 2\,lr\,x_i^2|

    For noise-free data ``log|e_{qn}| - log|e_0| = q S(lr)`` whatever the
    sample order within each epoch; repeated epochs diverge iff ``S > 0``.

    Parameters
    ----------
    x : array_like of float, shape (n,) or (n_datasets, n)
        One dataset or a stack of datasets (a one-feature column must be
        passed as ``x[:, 0]``).
    lr : array_like of float, any shape
        Learning rates, finite and ``>= 0``.

    Returns
    -------
    S : float or ndarray of float, shape ``x.shape[:-1] + lr.shape``
        ``S[..., j]`` for dataset ``...`` and ``lr[j]``. ``-inf`` exactly
        where ``2 lr x_i^2`` rounds to 1 for some ``i`` (a pole: that step
        lands on the solution). Terms with ``2 lr x_i^2 < 1/2`` use
        ``log1p`` so that ``S`` keeps full relative accuracy for small ``lr``
        (``S ~ -2 lr sum x^2``).

    Notes
    -----
    Computed in blocks of at most about ``2**22`` temporaries, so any number
    of datasets times learning rates fits in memory.

    Examples
    --------
    >>> round(float(epoch_log_multiplier([1.0, 2.0], 0.1)), 6)  # log(0.8) + log(0.2)
    -1.832581
    """
    func = "epoch_log_multiplier"
    xa = _check_x(x, func)
    lra = _check_nonneg(lr, func, "lr")
    c, lrf, shape = _batch(xa, lra)
    out = _blocked(c, lrf, lambda v: _log_abs_one_minus(v).sum(axis=-1), np.float64)
    return _scalar_or_array(out.reshape(shape))


def _count_steps_beyond(x: ArrayLike, lr: ArrayLike, level: float, func: str) -> Any:
    """``#{i: lr * (2 x_i^2) > level}`` per dataset and learning rate."""
    xa = _check_x(x, func)
    lra = _check_nonneg(lr, func, "lr")
    c, lrf, shape = _batch(xa, lra)
    out = _blocked(c, lrf, lambda v: np.count_nonzero(v > level, axis=-1), np.int64)
    return _scalar_or_array(out.reshape(shape))


def overshoot_count(x: ArrayLike, lr: ArrayLike) -> Any:
    """Number of samples whose step overshoots the solution, ``#{i: 2 lr x_i^2 > 1}``.

    Such a step flips the sign of the error ``e`` (``m_i = 1 - 2 lr x_i^2 < 0``).

    Parameters
    ----------
    x : array_like of float, shape (n,) or (n_datasets, n)
        One dataset or a stack of datasets.
    lr : array_like of float, any shape
        Learning rates, finite and ``>= 0``.

    Returns
    -------
    count : int or ndarray of int64, shape ``x.shape[:-1] + lr.shape``
        Evaluated as ``lr * (2 x_i^2) > 1`` in float64.
    """
    return _count_steps_beyond(x, lr, 1.0, "overshoot_count")


def amplify_count(x: ArrayLike, lr: ArrayLike) -> Any:
    """Number of samples whose step amplifies the error, ``#{i: 2 lr x_i^2 > 2}``.

    Such a step overshoots so far that ``|e|`` grows (``|m_i| > 1``).

    Parameters
    ----------
    x : array_like of float, shape (n,) or (n_datasets, n)
        One dataset or a stack of datasets.
    lr : array_like of float, any shape
        Learning rates, finite and ``>= 0``.

    Returns
    -------
    count : int or ndarray of int64, shape ``x.shape[:-1] + lr.shape``
        Evaluated as ``lr * (2 x_i^2) > 2`` in float64.
    """
    return _count_steps_beyond(x, lr, 2.0, "amplify_count")


def poles(x: ArrayLike) -> NDArray[np.float64]:
    """Learning rates at which one step lands exactly on the solution, sorted.

    .. math:: p_i = \\frac{1}{2 x_i^2}

    At ``lr = p_i`` the multiplier ``m_i = 1 - 2 lr x_i^2`` vanishes and
    ``S(lr) = -inf``.

    Parameters
    ----------
    x : array_like of float, shape (n,) or (n_datasets, n)
        One dataset or a stack of datasets.

    Returns
    -------
    p : ndarray of float, same shape as ``x``
        Poles sorted along the last axis, one per sample (repeated values
        kept); ``inf`` for ``x_i = 0``.
    """
    xa = _check_x(x, "poles")
    with np.errstate(divide="ignore"):
        p = 1.0 / (2.0 * np.square(xa))
    return np.sort(p, axis=-1)


# ----- pole form of S, for root finding (one dataset) -----


def _pole_table(x: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Distinct finite poles (sorted) and their multiplicities."""
    xs = x[x != 0.0]
    if xs.size == 0:
        return np.empty(0), np.empty(0)
    p, cnt = np.unique(1.0 / (2.0 * np.square(xs)), return_counts=True)
    return p, cnt.astype(np.float64)


def _s_pole(t: NDArray[np.float64], p: NDArray[np.float64], cnt: NDArray[np.float64]) -> Any:
    """``S(t) = sum_j cnt_j log|1 - t/p_j|`` at the points ``t`` (1-D)."""
    t = np.asarray(t, dtype=np.float64)
    out = np.empty(t.shape)
    step = max(1, _BLOCK_ELEMENTS // max(1, p.size))
    for i0 in range(0, t.size, step):
        tb = t[i0 : i0 + step, None]
        r = tb / p
        with np.errstate(divide="ignore"):
            term = np.where(
                r < 0.5, np.log1p(-np.minimum(r, 0.5)), np.log(np.abs(tb - p) / p)
            )
        out[i0 : i0 + step] = term @ cnt
    return out


def _g_pole(
    t: NDArray[np.float64], k: NDArray[np.intp], p: NDArray[np.float64],
    cnt: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``G = (t - a)(b - t) S'(t)`` and ``G'`` on the intervals ``(a, b) = (p[k], p[k+1])``.

    ``G`` has the zeros of ``S'`` in ``(a, b)`` but no poles there:
    ``G(a) = cnt_a (b - a) > 0`` and ``G(b) = -cnt_b (b - a) < 0``, which
    makes Newton's method well behaved (``S'`` itself has ``1/(t - p)``
    branches that make Newton overshoot).
    """
    a, b = p[k], p[k + 1]
    da, db = t - a, b - t
    dp = t[:, None] - p
    rows = np.arange(k.size)
    dp[rows, k] = np.inf  # the two adjacent poles are handled in closed form
    dp[rows, k + 1] = np.inf
    inv = 1.0 / dp
    r, rp = inv @ cnt, -(np.square(inv) @ cnt)
    ca, cb = cnt[k], cnt[k + 1]
    g = ca * db - cb * da + da * db * r
    gp = -ca - cb + (db - da) * r + da * db * rp
    return g, gp


def _interval_upper_bounds(
    p: NDArray[np.float64], cnt: NDArray[np.float64], k: NDArray[np.intp]
) -> NDArray[np.float64]:
    """Cheap upper bound of S on each bounded interval ``(p[k], p[k+1])``.

    On ``(a, b)`` a term of a pole left of ``a`` increases with ``t`` (bounded
    by its value at ``b``), a term of a pole right of ``b`` decreases (bounded
    by its value at ``a``), and the two terms of ``a`` and ``b`` are maximised
    together in closed form. Used to skip intervals before the Newton search.
    """
    out = np.empty(k.size)
    step = max(1, _BLOCK_ELEMENTS // max(1, p.size))
    j = np.arange(p.size)
    for i0 in range(0, k.size, step):
        kb = k[i0 : i0 + step, None]
        a, b = p[kb], p[kb + 1]
        # Left terms only in the columns left of the block's largest k, right terms
        # only right of its smallest k + 1 (about half the logs of the full matrix
        # for a batch of consecutive intervals); the same terms, so the same sum.
        lo_k, hi_k = int(kb.min()), int(kb.max())
        terms = np.zeros((kb.shape[0], p.size))
        r = slice(lo_k + 2, None)
        with np.errstate(divide="ignore", invalid="ignore"):
            left = np.log(np.abs(b / p[:hi_k] - 1.0))
            terms[:, :hi_k] = np.where(j[:hi_k] < kb, left, 0.0)
            right = np.log1p(-np.minimum(a / p[r], 1.0))
            terms[:, r] = np.where(j[r] > kb + 1, right, terms[:, r])
        ca, cb = cnt[kb[:, 0]], cnt[kb[:, 0] + 1]
        w = (b - a)[:, 0] / (ca + cb)
        adj = ca * np.log(ca * w / a[:, 0]) + cb * np.log(cb * w / b[:, 0])
        out[i0 : i0 + step] = terms @ cnt + adj
    return out


def _interval_maxima(
    k: NDArray[np.intp], p: NDArray[np.float64], cnt: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Argmax and max of S on each open interval ``(p[k], p[k+1])`` between consecutive poles.

    ``S'`` decreases from ``+inf`` to ``-inf`` there; its unique zero is found
    as the zero of :func:`_g_pole` by Newton's method inside a shrinking
    bracket (bisection whenever Newton leaves it).
    """
    lo, hi = p[k], p[k + 1]
    t = 0.5 * (lo + hi)
    active = np.arange(t.size)
    for _ in range(100):
        if active.size == 0:
            break
        ti, lo_i, hi_i = t[active], lo[active], hi[active]
        g, gp = _g_pole(ti, k[active], p, cnt)
        lo_i = np.where(g > 0, ti, lo_i)
        hi_i = np.where(g < 0, ti, hi_i)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = g / gp
        tn = ti - step
        small = ~(np.abs(step) > 2 * _EPS * ti)  # Newton converged (or g == 0)
        ok = (tn > lo_i) & (tn < hi_i)
        tn = np.where(small, ti, np.where(ok, tn, 0.5 * (lo_i + hi_i)))
        done = small | (hi_i - lo_i <= 2 * _EPS * hi_i)
        t[active], lo[active], hi[active] = tn, lo_i, hi_i
        active = active[~done]
    return t, _s_pole(t, p, cnt)


def _brent_root(f: Callable[[float], float], a: float, b: float) -> float:
    from scipy.optimize import brentq

    return float(brentq(f, a, b, xtol=_TINY, rtol=4 * _EPS, maxiter=500))


def _root_near_pole(pole: float, inner: float, p: NDArray, cnt: NDArray) -> float:
    """The root of S between a pole (where S = -inf) and ``inner`` (where S > 0)."""
    def f(t: float) -> float:
        return float(_s_pole(np.array([t]), p, cnt)[0])

    edge = float(np.nextafter(pole, inner))
    if f(edge) >= 0:  # the dip at the pole is narrower than one ulp
        return edge
    return _brent_root(f, edge, inner) if edge < inner else _brent_root(f, inner, edge)


def _windows(
    p: NDArray[np.float64], cnt: NDArray[np.float64], k: NDArray[np.intp]
) -> list[tuple[float, float]]:
    """Positive windows of S in the bounded inter-pole intervals ``k`` (plus the last one).

    ``k`` indexes intervals ``(p[k], p[k+1])``; ``k = p.size - 1`` means the
    unbounded interval ``(p[-1], inf)``. Zero-width windows are tangent roots.
    """
    out: list[tuple[float, float]] = []
    bounded = k[k < p.size - 1]
    if bounded.size:
        bounded = bounded[_interval_upper_bounds(p, cnt, bounded) > -_SCREEN_MARGIN]
    if bounded.size:
        tmax, smax = _interval_maxima(bounded, p, cnt)
        for kk, tm, sm in zip(bounded, tmax, smax, strict=True):
            if sm > 0:
                out.append((
                    _root_near_pole(float(p[kk]), float(tm), p, cnt),
                    _root_near_pole(float(p[kk + 1]), float(tm), p, cnt),
                ))
            elif sm == 0:
                out.append((float(tm), float(tm)))
    if p.size and (k == p.size - 1).any():
        out.append((_root_near_pole(float(p[-1]), 4.0 * float(p[-1]), p, cnt), math.inf))
    return out


def _check_range(lr_min: float, lr_max: float | None, func: str) -> tuple[float, float]:
    lo = _check_scalar(lr_min, func, "lr_min", positive=False)
    if lr_max is None:
        return lo, math.inf
    hi = _check_scalar(lr_max, func, "lr_max", positive=False)
    if hi < lo:
        raise _error(func, "lr_max", f">= lr_min = {lo!r}", lr_max)
    return lo, hi


def _intervals_in(p: NDArray[np.float64], lo: float, hi: float) -> NDArray[np.intp]:
    """Indices of the inter-pole intervals meeting ``[lo, hi]`` (see :func:`_windows`)."""
    k = np.arange(p.size)
    right = np.append(p[1:], math.inf)
    return k[(p < hi) & (right > lo)]


def roots(x: ArrayLike, lr_min: float = 0.0, lr_max: float | None = None) -> NDArray[np.float64]:
    r"""All positive roots of the epoch log-multiplier ``S`` of one dataset.

    Parameters
    ----------
    x : array_like of float, shape (n,)
        One dataset.
    lr_min, lr_max : float, optional
        Report roots in ``[lr_min, lr_max]`` (default ``[0, inf)``: all of
        them; there are finitely many, all in ``(p_min, 2 p_max]`` with
        ``p_i = 1/(2 x_i^2)``, i.e. in ``(1/(2 max x^2), 1/min x^2]``).

    Returns
    -------
    r : ndarray of float, sorted
        The roots of S, excluding the trivial root ``S(0) = 0``. Empty when
        all ``x`` are 0 (then ``S`` is identically 0).

    Notes
    -----
    ``S`` is strictly concave between consecutive poles (module docstring,
    section 2), so each inter-pole interval holds 0, 1 or 2 roots: the
    maximum of S is found from the zero of the decreasing ``S'`` and, when
    positive, one root is bracketed on each side of it and polished with
    Brent's method. No sub-grid is involved, so no pair of close roots can be
    missed. Two limits remain, both from rounding: a double (tangent) root is
    reported (once) only if the computed maximum is exactly 0, and a
    near-tangent pair whose maximum is within rounding (about
    ``n * eps * max|log|m_i||``) of 0 may be reported or missed. Near a pole
    where S is so large that its dip to ``-inf`` is narrower than one ulp,
    the root is reported as the float next to the pole.

    Examples
    --------
    >>> roots([1.0])  # S = log|1 - 2 lr|: root at lr = 1
    array([1.])
    """
    func = "roots"
    xa = _check_x(x, func, one_dataset=True)
    lo, hi = _check_range(lr_min, lr_max, func)
    p, cnt = _pole_table(xa)
    if p.size == 0:
        return np.empty(0)
    found = []
    for a, b in _windows(p, cnt, _intervals_in(p, lo, hi)):
        found.extend([a] if a == b else [a, b])
    r = np.array(sorted(v for v in found if lo <= v <= hi and math.isfinite(v)))
    return r.astype(np.float64)


def diverging_intervals(
    x: ArrayLike, lr_min: float = 0.0, lr_max: float | None = None
) -> list[tuple[float, float]]:
    """Learning rates at which repeated epochs diverge, as a list of intervals.

    Parameters
    ----------
    x : array_like of float, shape (n,)
        One dataset.
    lr_min, lr_max : float, optional
        Clip the intervals to ``[lr_min, lr_max]`` (default ``[0, inf)``).

    Returns
    -------
    intervals : list of (float, float)
        Sorted, disjoint open intervals ``(lo, hi)`` on which ``S(lr) > 0``,
        clipped to the range; ends are roots of S (or the range ends). The
        last interval of the full set is unbounded (``hi = inf``); every
        other one lies strictly between two consecutive poles (S is ``-inf``
        at the poles). See :func:`roots` for what rounding can hide.
    """
    func = "diverging_intervals"
    xa = _check_x(x, func, one_dataset=True)
    lo, hi = _check_range(lr_min, lr_max, func)
    p, cnt = _pole_table(xa)
    if p.size == 0:
        return []
    out = []
    for a, b in _windows(p, cnt, _intervals_in(p, lo, hi)):
        a2, b2 = max(a, lo), min(b, hi)
        if a2 < b2:
            out.append((float(a2), float(b2)))
    return out


def _critical_one(x: NDArray[np.float64]) -> float:
    p, cnt = _pole_table(x)
    if p.size == 0:
        return math.inf
    # Bounded intervals in increasing order, in growing batches; stop at the first
    # with a positive maximum (S < 0 on (0, p[0]) so it is never examined).
    k0, batch = 0, 32
    while k0 < p.size - 1:
        k = np.arange(k0, min(k0 + batch, p.size - 1))
        cand = k[_interval_upper_bounds(p, cnt, k) > -_SCREEN_MARGIN]
        for i0 in range(0, cand.size, 16):
            kk = cand[i0 : i0 + 16]
            tmax, smax = _interval_maxima(kk, p, cnt)
            hit = np.flatnonzero(smax >= 0)
            if hit.size:
                j = hit[0]
                if smax[j] == 0:
                    return float(tmax[j])
                return _root_near_pole(float(p[kk[j]]), float(tmax[j]), p, cnt)
        k0, batch = k0 + batch, batch * 2
    return _root_near_pole(float(p[-1]), 4.0 * float(p[-1]), p, cnt)


def critical_lr(x: ArrayLike) -> Any:
    r"""Smallest learning rate at which repeated epochs over a dataset diverge.

    The smallest positive root of ``S(lr) = sum_i log|1 - 2 lr x_i^2|``.

    Parameters
    ----------
    x : array_like of float, shape (n,) or (n_datasets, n)
        One dataset or a stack of datasets.

    Returns
    -------
    lr_c : float or ndarray of float, shape ``x.shape[:-1]``
        ``S < 0`` on ``(0, lr_c)`` and ``S > 0`` just above ``lr_c`` (except
        for a tangent root, see :func:`roots`). Always in
        ``(1/(2 max x_i^2), 1/min_{x_i != 0} x_i^2]``: S is negative below the
        first pole (``S(0) = 0``, ``S'(0) = -2 sum x_i^2`` and concavity) and
        positive at twice the last pole. ``inf`` for a dataset of zeros.

    Notes
    -----
    The inter-pole intervals are scanned in increasing order (vectorised, in
    growing batches) and the first one whose maximum of S is positive gives
    the root, so the cost is about the number of poles below ``lr_c`` times
    ``n`` per Newton iteration. Datasets are processed one at a time.
    """
    xa = _check_x(x, "critical_lr")
    flat = xa.reshape(-1, xa.shape[-1])
    out = np.array([_critical_one(row) for row in flat]).reshape(xa.shape[:-1])
    return _scalar_or_array(out)


def gd_threshold(x: ArrayLike) -> Any:
    """Stability threshold of full-batch gradient descent, ``1 / mean(x^2)``.

    Full-batch GD on ``mean((y - theta x)^2)`` maps ``e`` to
    ``(1 - 2 lr mean(x^2)) e``; it converges iff ``lr < 1/mean(x^2)``.

    Parameters
    ----------
    x : array_like of float, shape (n,) or (n_datasets, n)
        One dataset or a stack of datasets.

    Returns
    -------
    lr : float or ndarray of float, shape ``x.shape[:-1]``
        ``inf`` for a dataset of zeros.
    """
    xa = _check_x(x, "gd_threshold")
    with np.errstate(divide="ignore"):
        return _scalar_or_array(1.0 / np.mean(np.square(xa), axis=-1))


# ----- predicted error trajectory (fixed order) -----


def _epoch_prefix(
    xa: NDArray[np.float64], lra: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.int64], tuple]:
    """Prefix sums ``c_r`` (r = 0..n) of ``log|m_i|`` and of the negative-multiplier count."""
    n = xa.shape[-1]
    c = 2.0 * np.square(xa)
    v = lra[..., None] * c.reshape(c.shape[:-1] + (1,) * lra.ndim + (n,))
    logm = _log_abs_one_minus(v)
    zeros = np.zeros((*v.shape[:-1], 1))
    cum = np.concatenate([zeros, np.cumsum(logm, axis=-1)], axis=-1)
    neg = np.concatenate([zeros.astype(np.int64), np.cumsum(v > 1.0, axis=-1)], axis=-1)
    return cum, neg, v.shape[:-1]


def _rel_log(q: Any, s: Any, c_r: Any) -> Any:
    """``log|e_{qn+r}/e_0| = q S + c_r`` (``q S`` taken as 0 for ``q = 0`` even if S = -inf)."""
    with np.errstate(invalid="ignore"):
        return np.where(q == 0, 0.0, q * s) + c_r


def predicted_error(
    x: ArrayLike, lr: ArrayLike, e0: ArrayLike = 1.0, epochs: int = 1
) -> tuple[NDArray[np.float64], NDArray[np.int8]]:
    r"""Exact error path of noise-free SGD in fixed order, as log-modulus and sign.

    .. math:: e_k = e_0 \prod_{j=0}^{k-1} (1 - 2\,lr\,x_{j \bmod n}^2),
              \qquad k = 0, \dots, K = \text{epochs} \cdot n,

    where ``e_k = theta_k - a`` after ``k`` steps. With ``k = q n + r`` it is
    evaluated as ``log|e_k| = log|e_0| + q S + c_r`` (``c_r`` the sum of the
    first ``r`` terms ``log|m_i|``) and ``sign(e_k) = sign(e_0) (-1)^(q N +
    N_r)`` (``N_r`` the number of negative multipliers among them), so it
    never overflows however fast the error grows.

    Parameters
    ----------
    x : array_like of float, shape (n,) or (n_datasets, n)
        One dataset or a stack of datasets.
    lr : array_like of float, any shape
        Learning rates, finite and ``>= 0``.
    e0 : array_like of float, optional
        Initial error ``theta_0 - a`` (default 1), broadcastable to
        ``x.shape[:-1] + lr.shape``.
    epochs : int, optional
        Number of epochs (default 1), ``>= 1``.

    Returns
    -------
    log_abs : ndarray of float, shape ``x.shape[:-1] + lr.shape + (K + 1,)``
        ``log|e_k|``; ``-inf`` once a step hits a pole exactly or if ``e0 = 0``.
    sign : ndarray of int8, same shape
        ``sign(e_k)`` in ``{-1, 0, 1}`` (0 where ``e_k = 0``).

    Notes
    -----
    The output has ``K + 1`` entries per dataset and learning rate; for long
    runs prefer :func:`predicted_steps_to_tol` or :func:`epoch_log_multiplier`.
    Rounding: the error in ``log|e_k|`` is about ``(q + 1) n eps max|log|m_i||``.
    """
    func = "predicted_error"
    xa = _check_x(x, func)
    lra = _check_nonneg(lr, func, "lr")
    e0a = _as_float_array(e0, func, "e0")
    bad = ~np.isfinite(e0a)
    if bad.any():
        raise _error(func, "e0", "finite", _first_bad(e0a, bad))
    ep = _check_int(epochs, func, "epochs", 1)
    n = xa.shape[-1]
    cum, neg, bshape = _epoch_prefix(xa, lra)
    try:
        e0b = np.broadcast_to(e0a, bshape)
    except ValueError:
        raise _error(func, "e0", f"broadcastable to shape {bshape}",
                     f"an array of shape {e0a.shape}") from None
    s, n_neg = cum[..., -1:], neg[..., -1:]
    q = np.arange(ep + 1)[:, None]  # (epochs + 1, 1) against r = 0..n-1
    rel = _rel_log(q, s[..., None], cum[..., None, :n])  # (..., epochs + 1, n)
    parity = (q * n_neg[..., None] + neg[..., None, :n]) % 2
    k_total = ep * n + 1
    rel = rel.reshape((*bshape, -1))[..., :k_total]
    parity = parity.reshape((*bshape, -1))[..., :k_total]
    with np.errstate(divide="ignore"):
        log_abs = rel + np.log(np.abs(e0b))[..., None]
    sign = (np.sign(e0b)[..., None] * (1 - 2 * parity)).astype(np.int8)
    sign[np.isneginf(log_abs)] = 0
    return log_abs, sign


def predicted_steps_to_tol(x: ArrayLike, lr: ArrayLike, tol: float, epochs: int) -> Any:
    """First step after which the noise-free fixed-order error stays within ``tol``.

    The smallest ``k`` in ``0..K`` (``K = epochs n``) with
    ``|e_j| <= tol |e_0|`` for every ``j = k..K``, i.e. one plus the last
    step ``j`` with ``|e_j| > tol |e_0|`` (0 if there is none); ``-1`` when
    ``|e_K| > tol |e_0|`` (not converged within ``epochs``). This is the
    kernel's ``converged_step`` for noise-free data (which is 0 for
    ``e_0 = 0``; here ``e_0 != 0`` is assumed since only ratios enter).

    Parameters
    ----------
    x : array_like of float, shape (n,) or (n_datasets, n)
        One dataset or a stack of datasets.
    lr : array_like of float, any shape
        Learning rates, finite and ``>= 0``.
    tol : float
        Relative tolerance, ``> 0``.
    epochs : int
        Number of epochs, ``>= 1``.

    Returns
    -------
    step : int or ndarray of int64, shape ``x.shape[:-1] + lr.shape``

    Notes
    -----
    Uses the same expression ``log|e_k/e_0| = q S + c_r`` as
    :func:`predicted_error` (so the two agree exactly) but costs
    ``O(n log(epochs))`` per dataset and learning rate instead of
    ``O(epochs n)``: for each position ``r`` in the epoch, ``q S + c_r`` is
    monotone in the epoch index ``q``, so the last violating epoch is found
    by bisection.
    """
    func = "predicted_steps_to_tol"
    xa = _check_x(x, func)
    lra = _check_nonneg(lr, func, "lr")
    t = math.log(_check_scalar(tol, func, "tol", positive=True))
    ep = _check_int(epochs, func, "epochs", 1)
    n = xa.shape[-1]
    cum, _, bshape = _epoch_prefix(xa, lra)
    s = cum[..., -1:]
    c_r = cum[..., :n]
    q_max = np.where(np.arange(n) == 0, ep, ep - 1)  # step q n + r must be <= K
    q_max = np.broadcast_to(q_max, c_r.shape)

    def viol(q: NDArray[np.int64]) -> NDArray[np.bool_]:
        return _rel_log(q, s, c_r) > t

    # S >= 0: violations increase with q; the last one is q_max if any.
    last_up = np.where(viol(q_max), q_max, -1)
    # S < 0 (or -inf): violations decrease with q; bisection for the last one.
    lo = np.full(c_r.shape, -1, dtype=np.int64)  # viol(lo) treated as true
    hi = q_max + 1  # viol(hi) false (beyond the run)
    while True:
        open_ = hi - lo > 1
        if not open_.any():
            break
        mid = (lo + hi) // 2
        vm = viol(np.where(open_, mid, 0))
        lo = np.where(open_ & vm, mid, lo)
        hi = np.where(open_ & ~vm, mid, hi)
    q_last = np.where(s >= 0, last_up, lo)
    k_last = np.where(q_last >= 0, q_last * n + np.arange(n), -1).max(axis=-1)
    out = np.where(k_last == ep * n, -1, k_last + 1)
    return _scalar_or_array(out.astype(np.int64).reshape(bshape))


# --------------------------------------------------------------------------- population


def _ell(z: float, u: float, z0: float, log_z0: float) -> float:
    """``log|1 - u z^2|`` away from ``z0 = 1/sqrt(u)``, without cancellation."""
    v = u * z * z
    if v < 0.5:
        return math.log1p(-v)
    return math.log(abs(z0 - z)) + math.log(z0 + z) - 2.0 * log_z0


def _gauss_expect(u: float, g: Callable[[float, float], float], peak: float = 0.0) -> float:
    """``E g(Z, log|1 - u Z^2|)``-type integral ``2 int_0^inf g(z, l(z)) dz`` for ``u > 0``.

    ``g(z, l)`` must include the normal density. The half-line is split at
    the singularity ``z0 = 1/sqrt(u)``; on ``[z0 - d, z0]`` and
    ``[z0, z0 + d]`` the substitution ``|z - z0| = exp(-t)`` makes
    ``l = -t + log(z0 + z) - 2 log z0`` exact and the integrand smooth and
    exponentially decaying in ``t``. ``peak`` is where the integrand peaks
    beyond ``z0`` (the support ends 40 further on).
    """
    from scipy.integrate import quad

    def q(f: Callable[[float], float], a: float, b: float, **kw: Any) -> float:
        return float(quad(f, a, b, full_output=1, **_QUAD, **kw)[0])

    z0 = 1.0 / math.sqrt(u)
    lz0 = math.log(z0)
    z_end = max(_Z_SUPPORT, peak + _Z_SUPPORT)
    if z0 > z_end + 1.0:  # singularity outside the numerical support
        return 2.0 * q(lambda z: g(z, _ell(z, u, z0, lz0)), 0.0, z_end)
    d = min(0.5 * z0, 1.0)
    t0 = -math.log(d)
    total = q(lambda z: g(z, _ell(z, u, z0, lz0)), 0.0, min(z0 - d, _Z_SUPPORT))

    def left(t: float) -> float:
        h = math.exp(-t)
        return g(z0 - h, -t + math.log(2.0 * z0 - h) - 2.0 * lz0) * h

    def right(t: float) -> float:
        h = math.exp(-t)
        return g(z0 + h, -t + math.log(2.0 * z0 + h) - 2.0 * lz0) * h

    total += q(left, t0, math.inf) + q(right, t0, math.inf)
    a = z0 + d
    if a < z_end:
        pts = [peak] if a < peak < z_end else None
        total += q(lambda z: g(z, _ell(z, u, z0, lz0)), a, z_end, points=pts)
    return 2.0 * total


def _phi_log(z: float) -> float:
    return -0.5 * z * z - _LOG_SQRT_2PI


def _log_moments(u: float) -> tuple[float, float]:
    """``(E l, E l^2)`` with ``l = log|1 - u Z^2|``."""
    if u == 0.0:
        return 0.0, 0.0
    m1 = _gauss_expect(u, lambda z, ell: math.exp(_phi_log(z)) * ell)
    m2 = _gauss_expect(u, lambda z, ell: math.exp(_phi_log(z)) * ell * ell)
    return m1, m2


def _log_power_mean(u: float, a: float) -> float:
    """``h(a) = log E|1 - u Z^2|^a`` for ``u > 0``, ``a > 0``, without overflow."""
    # Largest exponent a l(z) - z^2/2 beyond z0: at z*^2 = 2a + 1/u.
    z_star = math.sqrt(2.0 * a + 1.0 / u)
    f_star = a * math.log(2.0 * a * u) - a - 0.5 / u
    if f_star <= 0.0:
        # exponent <= 0 everywhere: E|m|^a - 1 = E expm1(a l), accurate as a -> 0
        def g(z: float, ell: float) -> float:
            al = a * ell
            if al > 0:
                return math.exp(al + _phi_log(z)) - math.exp(_phi_log(z))
            return math.exp(_phi_log(z)) * math.expm1(al)

        return math.log1p(_gauss_expect(u, g, peak=z_star))
    return f_star + math.log(
        _gauss_expect(u, lambda z, ell: math.exp(a * ell + _phi_log(z) - f_star), peak=z_star)
    )


def _u_of(lr: NDArray[np.float64], s: NDArray[np.float64]) -> NDArray[np.float64]:
    return 2.0 * lr * np.square(s)


def population_log_multiplier(lr: ArrayLike, x_scale: ArrayLike = 1.0) -> Any:
    r"""Lyapunov exponent per step of SGD on fresh Gaussian samples.

    .. math:: L(lr) = E \log|1 - 2\,lr\,X^2| = E \log|1 - u Z^2|,
              \quad X \sim N(0, s^2),\ u = 2\,lr\,s^2 .

    ``log|e_k|/k -> L`` almost surely for the ``online`` order (and ``S/n ->
    L`` for a dataset of ``n`` samples), so fresh-sample SGD converges a.s.
    iff ``L < 0``.

    Parameters
    ----------
    lr : array_like of float
        Learning rates, finite and ``>= 0``.
    x_scale : array_like of float, optional
        Standard deviation ``s`` of the feature (default 1), ``> 0``;
        broadcast against ``lr``.

    Returns
    -------
    L : float or ndarray of float, shape ``broadcast(lr, x_scale)``
        Absolute accuracy about 1e-13 (checked against the Dawson-integral
        closed form in the module docstring, section 4). ``L(0) = 0``,
        ``L ~ -u - 3u^2/2`` for small ``u``, ``L ~ log u - gamma - log 2``
        for large ``u``; minimum ``-0.49071...`` at ``u = 0.58546``
        (``lr = 0.29273`` for ``s = 1``).

    Notes
    -----
    Each value costs a few adaptive quadratures (about a millisecond).
    """
    func = "population_log_multiplier"
    u = _u_of(_check_nonneg(lr, func, "lr"), _check_positive(x_scale, func, "x_scale"))
    out = np.array([_log_moments(float(v))[0] for v in u.ravel()]).reshape(u.shape)
    return _scalar_or_array(out)


def population_log_multiplier_variance(lr: ArrayLike, x_scale: ArrayLike = 1.0) -> Any:
    """Variance ``V(lr) = Var log|1 - 2 lr X^2|`` for ``X ~ N(0, s^2)``.

    Parameters
    ----------
    lr : array_like of float
        Learning rates, finite and ``>= 0``.
    x_scale : array_like of float, optional
        Standard deviation ``s`` of the feature (default 1), ``> 0``.

    Returns
    -------
    V : float or ndarray of float, shape ``broadcast(lr, x_scale)``
        ``E l^2 - (E l)^2`` with both moments integrated as in
        :func:`population_log_multiplier` (the ``log^2`` singularity becomes
        ``t^2 exp(-t)`` under the same substitution).
    """
    func = "population_log_multiplier_variance"
    u = _u_of(_check_nonneg(lr, func, "lr"), _check_positive(x_scale, func, "x_scale"))
    out = np.empty(u.size)
    for i, v in enumerate(u.ravel()):
        m1, m2 = _log_moments(float(v))
        out[i] = max(m2 - m1 * m1, 0.0)
    return _scalar_or_array(out.reshape(u.shape))


_AS_U: list[float] = []  # cache of the a.s. threshold in u (a universal constant)


def _as_threshold_u() -> float:
    if not _AS_U:
        # L decreases on (0, 0.5855) and increases after: L(0.5) < 0, and L -> inf.
        def f(u: float) -> float:
            return _log_moments(u)[0]

        hi = 2.0
        while f(hi) <= 0:
            hi *= 2.0
        _AS_U.append(_brent_root(f, 0.5, hi))
    return _AS_U[0]


def as_threshold(x_scale: ArrayLike = 1.0) -> Any:
    """Almost-sure stability threshold of SGD on fresh Gaussian samples.

    The unique positive root of ``L(lr) = E log|1 - 2 lr X^2|``,
    ``X ~ N(0, s^2)``: ``lr_as = u_as / (2 s^2)`` with ``u_as`` the root of
    ``E log|1 - u Z^2|`` (computed once by Brent's method and cached).
    Below it fresh-sample SGD converges almost surely although (above
    :func:`ms_threshold`) its mean square diverges.

    Parameters
    ----------
    x_scale : array_like of float, optional
        Standard deviation ``s`` of the feature (default 1), ``> 0``.

    Returns
    -------
    lr : float or ndarray of float, shape of ``x_scale``
        ``as_threshold(1) = 1.2106247605...`` (``u_as = 2.42124952...``): above
        both :func:`ms_threshold` (1/3) and :func:`mean_threshold` (1).
    """
    s = _check_positive(x_scale, "as_threshold", "x_scale")
    return _scalar_or_array(_as_threshold_u() / (2.0 * np.square(s)))


def ms_threshold(x_scale: ArrayLike = 1.0) -> Any:
    """Mean-square stability threshold, ``1 / (3 s^2)``.

    ``E (1 - 2 lr X^2)^2 = 1 - 4 lr s^2 + 12 lr^2 s^4`` (``E X^4 = 3 s^4``)
    is below 1 iff ``0 < lr < 1/(3 s^2)``; for fresh samples ``E e_k^2``
    converges iff ``lr`` is below it. It is also where the tail index is 2.

    Parameters
    ----------
    x_scale : array_like of float, optional
        Standard deviation ``s`` of the feature (default 1), ``> 0``.

    Returns
    -------
    lr : float or ndarray of float, shape of ``x_scale``
    """
    s = _check_positive(x_scale, "ms_threshold", "x_scale")
    return _scalar_or_array(1.0 / (3.0 * np.square(s)))


def mean_threshold(x_scale: ArrayLike = 1.0) -> Any:
    """Threshold of the mean error, ``1 / s^2``.

    ``E e_{k+1} = E(1 - 2 lr X^2) E e_k = (1 - 2 lr s^2) E e_k`` for fresh
    samples, and ``|1 - 2 lr s^2| < 1`` iff ``0 < lr < 1/s^2``. It is the
    population counterpart of :func:`gd_threshold` (the same condition with
    ``mean(x^2) = s^2``).

    Parameters
    ----------
    x_scale : array_like of float, optional
        Standard deviation ``s`` of the feature (default 1), ``> 0``.

    Returns
    -------
    lr : float or ndarray of float, shape of ``x_scale``
    """
    s = _check_positive(x_scale, "mean_threshold", "x_scale")
    return _scalar_or_array(1.0 / np.square(s))


def _tail_index_u(u: float) -> float:
    if u == 0.0:
        return math.inf
    if _log_moments(u)[0] >= 0.0:  # h'(0) = L >= 0: no positive root (no stationary law)
        return math.nan

    def h(a: float) -> float:
        return _log_power_mean(u, a)

    # h(2) = log(1 - 2u + 3u^2) exactly: alpha > 2 iff lr < the mean-square threshold.
    a_lo = a_hi = 2.0
    if h(2.0) < 0.0:
        while h(a_hi) < 0.0:
            a_lo, a_hi = a_hi, 2.0 * a_hi
            if a_hi > _ALPHA_MAX:
                return math.inf
    else:
        while h(a_lo) >= 0.0:
            a_hi, a_lo = a_lo, 0.5 * a_lo
            if a_lo < 1e-300:  # pragma: no cover - L < 0 makes h < 0 near 0
                return 0.0
    if h(a_hi) == 0.0:
        return a_hi
    return _brent_root(h, a_lo, a_hi)


def tail_index(lr: ArrayLike, x_scale: ArrayLike = 1.0) -> Any:
    r"""Tail index of the stationary error of SGD on fresh Gaussian samples with noise.

    The ``alpha > 0`` solving

    .. math:: E|1 - 2\,lr\,X^2|^\alpha = 1, \qquad X \sim N(0, s^2),

    so that ``P(|e_inf| > t) ~ C t^{-alpha}`` (Kesten 1973, Goldie 1991;
    Gurbuzbalaban, Simsekli and Zhu 2021). ``h(a) = log E|m|^a`` is convex
    with ``h(0) = 0``, ``h'(0) = L(lr)``, so the root exists and is unique iff
    ``L(lr) < 0``. It is found by Brent's method in ``a``, bracketed from
    ``h(2) = log(1 - 2u + 3u^2)``; ``h`` is integrated like ``L`` (the
    ``|z - z0|^a`` cusp becomes ``exp(-a t)``) and scaled to avoid overflow
    for large ``a``.

    Parameters
    ----------
    lr : array_like of float
        Learning rates, finite and ``>= 0``.
    x_scale : array_like of float, optional
        Standard deviation ``s`` of the feature (default 1), ``> 0``;
        broadcast against ``lr``. Only ``u = 2 lr s^2`` matters, so
        ``tail_index(lr, s) == tail_index(lr s^2, 1)``.

    Returns
    -------
    alpha : float or ndarray of float, shape ``broadcast(lr, x_scale)``
        Decreasing in ``lr``: ``inf`` at ``lr = 0``; large for small ``lr``
        (``alpha ~ c/u`` with ``c (log 2c - 1) = 1/2``, ``c = 1.80``, i.e.
        ``alpha ~ 0.90 / (lr s^2)``; values above 1e6 are reported as
        ``inf``); exactly 2 at
        ``lr = 1/(3 s^2)``; 1 where ``E|m| = 1``; tending to 0 at
        :func:`as_threshold`. ``nan`` at and above the a.s. threshold
        (``L >= 0``), where SGD has no stationary law. Accuracy about 1e-10
        relative.

    Notes
    -----
    The tail only exists with noise (otherwise ``e_k -> 0`` a.s.). Each value
    costs a few dozen quadratures (tens of milliseconds).
    """
    func = "tail_index"
    u = _u_of(_check_nonneg(lr, func, "lr"), _check_positive(x_scale, func, "x_scale"))
    out = np.array([_tail_index_u(float(v)) for v in u.ravel()]).reshape(u.shape)
    return _scalar_or_array(out)


def tail_index_dataset(x: ArrayLike, lr: ArrayLike) -> Any:
    r"""Tail index of SGD sampling with replacement from a fixed noisy dataset.

    The ``alpha_n > 0`` solving

    .. math:: \frac{1}{n} \sum_{i=1}^{n} |1 - 2\,lr\,x_i^2|^{\alpha_n} = 1 .

    Parameters
    ----------
    x : array_like of float, shape (n,) or (n_datasets, n)
        One dataset or a stack of datasets.
    lr : array_like of float, any shape
        Learning rates, finite and ``>= 0``.

    Returns
    -------
    alpha : float or ndarray of float, shape ``x.shape[:-1] + lr.shape``
        ``inf`` when every ``|1 - 2 lr x_i^2| <= 1`` (``lr <= 1/max x_i^2``;
        the stationary law is then bounded: no power tail); ``nan`` when
        ``S(lr) >= 0`` (the mean of ``log|m_i|`` is ``>= 0``: no positive
        root, no stationary law).

    Notes
    -----
    ``h_n(a) = logsumexp(a log|m_i|) - log n`` is convex with ``h_n(0) = 0``
    and ``h_n'(0) = S/n < 0``; it is positive at
    ``a_0 = (log n + 1)/max log|m_i|``. Newton's method started there
    decreases monotonically to the root (convexity), vectorised over all
    datasets and learning rates; about ten iterations. Multipliers equal to
    0 (poles) contribute nothing for ``a > 0``.
    """
    func = "tail_index_dataset"
    xa = _check_x(x, func)
    lra = _check_nonneg(lr, func, "lr")
    c, lrf, shape = _batch(xa, lra)
    n = c.shape[-1]
    out = np.empty((c.shape[0], lrf.size))
    step = max(1, _BLOCK_ELEMENTS // (4 * n))
    for j, lr_j in enumerate(lrf):
        for d0 in range(0, c.shape[0], step):
            logm = _log_abs_one_minus(lr_j * c[d0 : d0 + step])  # (d, n)
            out[d0 : d0 + step, j] = _tail_index_rows(logm)
    return _scalar_or_array(out.reshape(shape))


def _tail_index_rows(logm: NDArray[np.float64]) -> NDArray[np.float64]:
    n = logm.shape[-1]
    lmax = logm.max(axis=-1)
    s_mean = logm.mean(axis=-1)
    res = np.full(logm.shape[0], math.nan)
    res[lmax <= 0.0] = math.inf
    live = (lmax > 0.0) & (s_mean < 0.0)
    if not live.any():
        return res
    lg = logm[live]
    lm = lmax[live]
    finite = np.isfinite(lg)
    lg0 = np.where(finite, lg, 0.0)
    log_n = math.log(n)
    a = (log_n + 1.0) / lm
    for _ in range(200):
        z = np.where(finite, a[:, None] * lg0 - (a * lm)[:, None], -np.inf)
        w = np.exp(z)
        sw = w.sum(axis=-1)
        h = a * lm + np.log(sw) - log_n
        dh = (w * lg0).sum(axis=-1) / sw
        step = h / dh
        a_new = np.where(h > 0, a - step, a)
        if np.all(np.abs(a_new - a) <= 4 * _EPS * a):
            a = a_new
            break
        a = a_new
    res[live] = a
    return res


# --------------------------------------------------------------------------- probability


class DivergenceProbability(NamedTuple):
    """Result of :func:`divergence_probability`.

    Attributes
    ----------
    probability : float or ndarray of float
        Probability that a random dataset diverges, ``P(S(lr) > 0)``.
    standard_error : float or ndarray of float
        Monte Carlo standard error ``sqrt(p (1 - p) / n_datasets)``; 0 for
        the (deterministic) normal approximation, whose approximation error
        is not quantified by it.
    """

    probability: Any
    standard_error: Any


def _as_generator(rng: object, func: str) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool) and int(rng) >= 0:
        return np.random.default_rng(int(rng))
    raise _error(func, "rng", "an int seed >= 0 or a numpy.random.Generator", rng)


def divergence_probability(
    n: int,
    lr: ArrayLike,
    x_scale: float = 1.0,
    method: str = "normal",
    n_datasets: int = 10_000,
    rng: int | np.random.Generator | None = None,
) -> DivergenceProbability:
    r"""Probability that a random Gaussian dataset of ``n`` samples diverges at ``lr``.

    ``P(S(lr) > 0)`` for ``x_1..x_n`` i.i.d. ``N(0, s^2)`` and
    ``S = sum_i log|1 - 2 lr x_i^2|``.

    Parameters
    ----------
    n : int
        Dataset size, ``>= 1``.
    lr : array_like of float
        Learning rates, finite and ``>= 0``.
    x_scale : float, optional
        Standard deviation ``s`` of the feature (default 1), ``> 0``.
    method : {"normal", "montecarlo"}, optional
        ``"normal"`` (default): central limit approximation
        ``S ~ N(n L, n V)`` with ``L`` and ``V`` the mean and variance of
        ``log|1 - 2 lr X^2|`` (:func:`population_log_multiplier`,
        :func:`population_log_multiplier_variance`), giving

        .. math:: P(S > 0) \approx \Phi\!\left(\frac{\sqrt{n}\,L}{\sqrt{V}}\right)

        (0 at ``lr = 0`` where ``S = 0``). The summands have a log-singular
        left tail, so the approximation is poorest far in the tails of
        ``P`` and for small ``n``. ``"montecarlo"``: draw ``n_datasets``
        datasets (the same ones for every ``lr``) and count ``S > 0``.
    n_datasets : int, optional
        Number of Monte Carlo datasets (default 10000).
    rng : int or numpy.random.Generator
        Seed or generator for ``"montecarlo"`` (required there: there is no
        silent default); ignored by ``"normal"``.

    Returns
    -------
    DivergenceProbability
        ``(probability, standard_error)``, each a float or an array shaped
        like ``lr``.
    """
    func = "divergence_probability"
    n_ = _check_int(n, func, "n", 1)
    lra = _check_nonneg(lr, func, "lr")
    s = _check_scalar(x_scale, func, "x_scale", positive=True)
    if method not in ("normal", "montecarlo"):
        raise _error(func, "method", "one of 'normal', 'montecarlo'", method)
    if method == "normal":
        from scipy.special import ndtr

        u = _u_of(lra, np.asarray(s)).ravel()
        p = np.zeros(u.size)
        for i, v in enumerate(u):
            if v > 0:
                m1, m2 = _log_moments(float(v))
                var = max(m2 - m1 * m1, _TINY)
                p[i] = ndtr(math.sqrt(n_) * m1 / math.sqrt(var))
        p = p.reshape(lra.shape)
        return DivergenceProbability(_scalar_or_array(p), _scalar_or_array(np.zeros(lra.shape)))
    nd = _check_int(n_datasets, func, "n_datasets", 1)
    gen = _as_generator(rng, func)
    lrf = lra.reshape(-1)
    count = np.zeros(lrf.size, dtype=np.int64)
    block = max(1, _BLOCK_ELEMENTS // (n_ * max(1, lrf.size)))
    done = 0
    while done < nd:
        b = min(block, nd - done)
        x = s * gen.standard_normal((b, n_))
        count += np.count_nonzero(epoch_log_multiplier(x, lrf).reshape(b, -1) > 0, axis=0)
        done += b
    p = count / nd
    se = np.sqrt(p * (1.0 - p) / nd)
    return DivergenceProbability(
        _scalar_or_array(p.reshape(lra.shape)), _scalar_or_array(se.reshape(lra.shape))
    )


# --------------------------------------------------------------------------- per trajectory

#: Axis columns of a results frame that decide the dataset (``lrsweep.config.DATA_AXES``).
_DATA_COLUMNS = (
    "seed", "n_samples", "x_scale", "noise", "outlier_kind", "outlier_frac", "outlier_scale",
)


def trajectory_predictions(frame: Any, config: Any) -> Any:
    r"""Exact noise-free predictions for every trajectory of a results frame.

    For each row (one trajectory: a dataset, a sample order and a learning
    rate) the predictions of sections 1 and 3 of the module docstring are
    evaluated on the row's *own* dataset, regenerated from its data key
    exactly as the engine does (:func:`lrsweep.make_dataset` with the
    config's ``coef``, ``intercept`` and ``data`` kind, or the config's user
    arrays).

    Parameters
    ----------
    frame : pandas.DataFrame
        A results frame (:attr:`lrsweep.Results.frame`) or any frame with its
        ``lr`` and ``order`` columns and the data-axis columns ``seed``,
        ``n_samples``, ``x_scale``, ``noise``, ``outlier_kind``,
        ``outlier_frac``, ``outlier_scale``. A data-axis column (or ``order``)
        may be missing when the config has a single value for that axis; with
        user data only ``lr`` and ``order`` are read.
    config : lrsweep.SweepConfig
        The configuration that produced the frame (for ``epochs``, ``coef``,
        ``intercept``, ``data`` and the user arrays).

    Returns
    -------
    pandas.DataFrame
        Indexed like ``frame``, with columns

        ``S`` : float
            :func:`epoch_log_multiplier` of the row's dataset at its ``lr``,
            ``sum_i log|1 - 2 lr x_i^2|`` (``-inf`` at a pole). For
            ``order="online"`` every epoch sees fresh samples, so there is no
            dataset multiplier: ``S`` is computed on the row's whole stream
            (``epochs * n_samples`` samples, as the engine generates it) and
            divided by ``epochs``, the per-epoch average of that stream. For
            every order ``log|e_K| - log|e_0| = epochs * S`` holds exactly
            (noise-free, up to rounding) except ``replacement``, where ``S``
            is the expected per-epoch change.
        ``predicted_diverges`` : bool
            ``S > 0``: the error grows over the run (for a dataset order,
            repeated epochs diverge).
        ``predicted_sign_changes`` : int64
            ``epochs * overshoot_count(x, lr)`` (:func:`overshoot_count`), the
            number of steps whose multiplier ``1 - 2 lr x_i^2`` is negative;
            for ``online`` the count over the whole stream. Exact for the
            kernel's ``sign_changes`` with the ``fixed``, ``shuffle`` and
            ``online`` orders on noise-free data while ``|e|`` stays above the
            kernel's sign floor and below its divergence bound; the
            expectation for ``replacement``.
        ``predicted_growth_rate`` : float
            Equal to ``S``: the kernel's ``growth_rate`` (change of ``log|e|``
            over the last epoch) for ``fixed`` and ``shuffle`` on noise-free
            data while ``|e|`` stays within the kernel's floor and bound; its
            expectation for ``replacement``; the stream average per epoch for
            ``online`` (whose last epoch fluctuates around it).

    Raises
    ------
    ValueError
        If a needed column is missing (and the config has several values for
        that axis) or ``lr`` holds a negative or non-finite value.

    Notes
    -----
    Rows are grouped by data key (and by ``online``, whose dataset is the
    stream), each dataset is generated once, and S and the overshoot count
    are evaluated for the distinct learning rates of the group in one
    vectorised call, so a frame of 1e5 rows over a few thousand datasets
    takes well under a second plus the data generation. With noise or
    response outliers the recursion is affine (``e <- m_i e + q_i``): ``S``
    still decides divergence (deviations from the fixed point contract or
    grow by ``exp(S)`` per epoch) but the sign-change count is no longer
    exact. Only the one-feature problem exists, so every dataset is 1-D.

    Examples
    --------
    >>> import numpy as np, lrsweep  # doctest: +SKIP
    >>> cfg = lrsweep.SweepConfig(lr=[0.05, 0.2], seed=range(3), n_samples=20,
    ...                           epochs=2)  # doctest: +SKIP
    >>> res = lrsweep.sweep(cfg, progress=False)  # doctest: +SKIP
    >>> pred = trajectory_predictions(res.frame, cfg)  # doctest: +SKIP
    >>> np.allclose(pred["S"], res.frame["growth_rate"])  # doctest: +SKIP
    True
    """
    import pandas as pd

    from .data import make_dataset, user_dataset

    func = "trajectory_predictions"
    if not isinstance(frame, pd.DataFrame):
        raise _error(func, "frame", "a pandas.DataFrame", type(frame).__name__)
    epochs = int(config.epochs)
    axes = config.axes
    user = config.user_data

    def column(name: str) -> NDArray[Any]:
        if name in frame.columns:
            col = frame[name]
            if isinstance(col.dtype, pd.CategoricalDtype):
                return col.astype(object).to_numpy()
            return col.to_numpy()
        if len(axes[name]) == 1:
            return np.full(len(frame), axes[name][0], dtype=object)
        raise _error(func, "frame", f"a frame with a {name!r} column (the config sweeps it)",
                     f"columns {list(frame.columns)}")

    if "lr" not in frame.columns:
        raise _error(func, "frame", "a frame with an 'lr' column", f"columns {list(frame.columns)}")
    lr = _check_nonneg(frame["lr"].to_numpy(dtype=np.float64), func, "lr")
    online = np.asarray(column("order") == "online", dtype=bool)
    n_rows = len(frame)
    s_out = np.empty(n_rows)
    sc_out = np.empty(n_rows, dtype=np.int64)

    if user is not None:
        keys: list[NDArray[Any]] = []
        group = np.zeros(n_rows, dtype=np.int64)
    else:
        keys = [column(name) for name in _DATA_COLUMNS]
        key_frame = pd.DataFrame({name: k for name, k in zip(_DATA_COLUMNS, keys, strict=True)})
        key_frame["_online"] = online
        group = key_frame.groupby(list(key_frame.columns), sort=False, dropna=False).ngroup()
        group = group.to_numpy(dtype=np.int64)
    order = np.argsort(group, kind="stable")
    bounds = np.flatnonzero(np.diff(group[order])) + 1
    for rows in np.split(order, bounds):
        if rows.size == 0:
            continue
        r0 = int(rows[0])
        stream = bool(online[r0])
        if user is not None:
            x = user_dataset(*user).x
        else:
            seed, n, x_scale, noise, kind, frac, scale = (k[r0] for k in keys)
            x = make_dataset(
                int(seed), int(n), x_scale=float(x_scale), noise=float(noise),
                outlier_frac=float(frac), outlier_scale=float(scale), outlier_kind=str(kind),
                coef=config.coef, intercept=config.intercept, kind=config.data,
                online_epochs=epochs if stream else None,
            ).x
        lr_u, inv = np.unique(lr[rows], return_inverse=True)
        s_u = np.asarray(epoch_log_multiplier(x, lr_u), dtype=np.float64)
        c_u = np.asarray(overshoot_count(x, lr_u), dtype=np.int64)
        if stream:
            s_u = s_u / epochs  # per-epoch average of the stream; counts are already totals
        else:
            c_u = c_u * epochs
        s_out[rows] = s_u[inv]
        sc_out[rows] = c_u[inv]
    return pd.DataFrame(
        {
            "S": s_out,
            "predicted_diverges": s_out > 0,
            "predicted_sign_changes": sc_out,
            "predicted_growth_rate": s_out.copy(),
        },
        index=frame.index,
    )
