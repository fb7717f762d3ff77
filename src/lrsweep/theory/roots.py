r"""Shape of ``S`` between its poles: roots, diverging intervals, critical learning rate.

Where the epoch log-multiplier of one dataset changes sign, found without a
grid: the pole form of ``S``, Newton's method for its maximum between two
poles, Brent's method for the roots on either side.

Poles, concavity, roots
-----------------------
Write ``p_i = 1/(2 x_i^2)`` (the *poles*, :func:`~lrsweep.theory.dataset.poles`; at ``lr = p_i``
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
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validation import Interval, NoneOr, ParameterError, message, validate_params
from ._common import _BLOCK_ELEMENTS, _EPS, X_DATASET, X_DATASETS, _brent_root, _scalar_or_array

if TYPE_CHECKING:  # pragma: no cover

    from numpy.typing import ArrayLike, NDArray

__all__ = ["critical_lr", "diverging_intervals", "roots"]

_LR_MIN = Interval("float", 0.0, math.inf, "left")
#: The range ``[lr_min, lr_max]`` of :func:`roots` and :func:`diverging_intervals`.
_RANGE = {"lr_min": _LR_MIN, "lr_max": NoneOr(_LR_MIN)}

#: Intervals whose upper bound of S is below -this are skipped (covers rounding).
_SCREEN_MARGIN = 1e-6


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


def _lr_range(lr_min: float, lr_max: float | None, owner: str) -> tuple[float, float]:
    """``(lr_min, lr_max)`` as floats, ``lr_max=None`` as ``inf``; refuse ``lr_max < lr_min``."""
    lo = float(lr_min)
    if lr_max is None:
        return lo, math.inf
    hi = float(lr_max)
    if hi < lo:
        raise ParameterError(message("lr_max", owner, f"None or a float >= lr_min ({lo!r})", lr_max))
    return lo, hi


def _intervals_in(p: NDArray[np.float64], lo: float, hi: float) -> NDArray[np.intp]:
    """Indices of the inter-pole intervals meeting ``[lo, hi]`` (see :func:`_windows`)."""
    k = np.arange(p.size)
    right = np.append(p[1:], math.inf)
    return k[(p < hi) & (right > lo)]


@validate_params({"x": X_DATASET, **_RANGE})
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
    ``S`` is strictly concave between consecutive poles (module docstring), so
    each inter-pole interval holds 0, 1 or 2 roots: the maximum of S is
    found from the zero of the decreasing ``S'`` and, when
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
    lo, hi = _lr_range(lr_min, lr_max, "roots")
    p, cnt = _pole_table(x)
    if p.size == 0:
        return np.empty(0)
    found = []
    for a, b in _windows(p, cnt, _intervals_in(p, lo, hi)):
        found.extend([a] if a == b else [a, b])
    r = np.array(sorted(v for v in found if lo <= v <= hi and math.isfinite(v)))
    return r.astype(np.float64)


@validate_params({"x": X_DATASET, **_RANGE})
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
    lo, hi = _lr_range(lr_min, lr_max, "diverging_intervals")
    p, cnt = _pole_table(x)
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


@validate_params({"x": X_DATASETS})
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
    flat = x.reshape(-1, x.shape[-1])
    out = np.array([_critical_one(row) for row in flat]).reshape(x.shape[:-1])
    return _scalar_or_array(out)

