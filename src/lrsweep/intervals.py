"""Uncertainty of estimates: Wilson intervals (rates), order-statistic intervals (medians), standard errors.

The standard every study meets (``STUDIES.md``): every estimate carries an
interval or a standard error. Proportions get Wilson 95 % score intervals
(:func:`wilson_interval`), medians a distribution-free interval from order
statistics (:func:`median_interval`), means their standard error
(:func:`mean_and_se`) and Hill tail indices theirs (:func:`hill`). Plain
NumPy (SciPy lazily for binomial quantiles); vectorised where the summaries
need it.
"""

from __future__ import annotations

import math

import numpy as np

from ._validation import (
    Array,
    Described,
    Interval,
    ParameterError,
    message,
    validate_params,
)

__all__ = ["Z95", "hill", "mean_and_se", "median_interval", "median_rank", "wilson_interval"]

Z95 = 1.959963984540054  # scipy.stats.norm.ppf(0.975)


@validate_params({"k": Array(0, math.inf, "left", ndim=None, nonempty=False, what="a count or an array"),
                  "n": Array(0, math.inf, "neither", ndim=None, nonempty=False, what="a count or an array"),
                  "z": Interval("float", 0, math.inf, "neither")})
def wilson_interval(
    k: np.ndarray | int, n: np.ndarray | int, z: float = Z95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion ``k / n``.

    Vectorised; written out rather than taken from statsmodels (a heavy
    dependency for one formula) or scipy (``binomtest`` is not vectorised).

    Parameters
    ----------
    k, n : array_like of int
        Successes and trials (``n >= 1``).
    z : float
        Normal quantile; default the 95 % two-sided 1.95996...

    Returns
    -------
    lo, hi : ndarray of float64
    """
    try:
        above = k > n  # float64 arrays (validated)
    except ValueError:
        raise ParameterError(message("k", "wilson_interval", "broadcastable against 'n'",
                                     Described(f"an array of shape {k.shape}"))) from None
    if np.any(above):
        first = np.broadcast_to(k, above.shape)[above].flat[0]
        raise ParameterError(message("k", "wilson_interval", "at most n (successes out of n trials)", first))
    p = k / n
    z2 = z * z
    denom = 1.0 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = z / denom * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # Exact at the ends (the formula gives 0 and 1 only up to rounding).
    lo = np.where(k == 0, 0.0, np.clip(center - half, 0.0, 1.0))
    hi = np.where(k == n, 1.0, np.clip(center + half, 0.0, 1.0))
    return lo, hi


def median_rank(m: np.ndarray | int, level: float = 0.95) -> np.ndarray:
    """The 1-based rank ``r`` of the order-statistic interval ``[x_(r), x_(m-r+1)]`` for a median.

    ``r`` is the smallest ``k`` with ``P(B <= k) >= (1 - level) / 2`` for
    ``B ~ Binomial(m, 1/2)``, so that ``P(B <= r - 1) < (1 - level) / 2`` and
    the interval covers the median with probability at least ``level``
    whatever the distribution (continuous). 0 where no such interval exists
    (``m <= 5`` at 95 %: even ``[min, max]`` covers with less).
    """
    from scipy.stats import binom

    m = np.asarray(m)
    r = binom.ppf((1.0 - level) / 2.0, m, 0.5)
    return np.where(np.isnan(r), 0, r).astype(np.int64)


@validate_params({"values": Array(ndim=(1,), nonempty=False, what="a 1-D array"),
                  "level": Interval("float", 0, 1, "neither")})
def median_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Distribution-free ``level`` interval for the median of ``values`` (order statistics).

    Returns ``(x_(r), x_(m-r+1))`` of the sorted values (:func:`median_rank`),
    or ``(nan, nan)`` for fewer than 6 values at 95 %. Exact for any
    continuous distribution; for discrete values (step counts) the coverage
    is at least ``level``.
    """
    v = np.sort(values)
    r = int(median_rank(len(v), level)) if len(v) else 0
    if r < 1:
        return math.nan, math.nan
    return float(v[r - 1]), float(v[len(v) - r])


def group_median_intervals(sorted_values: np.ndarray, starts: np.ndarray, sizes: np.ndarray,
                           level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """:func:`median_interval` of many groups at once: values sorted within contiguous groups.

    ``sorted_values[starts[g]:starts[g] + sizes[g]]`` are group ``g``'s values,
    sorted, NaN-free. Returns ``lo, hi`` arrays (NaN for groups too small).
    """
    r = median_rank(sizes, level)
    ok = r >= 1
    lo = np.full(len(sizes), np.nan)
    hi = np.full(len(sizes), np.nan)
    lo[ok] = sorted_values[starts[ok] + r[ok] - 1]
    hi[ok] = sorted_values[starts[ok] + sizes[ok] - r[ok]]
    return lo, hi


@validate_params({"values": Array(ndim=(1,), nonempty=False, what="a 1-D array")})
def mean_and_se(values: np.ndarray) -> tuple[float, float]:
    """The mean of ``values`` and its standard error ``s / sqrt(m)`` (NaN for fewer than 2 values)."""
    m = len(values)
    if m == 0:
        return math.nan, math.nan
    mean = float(np.mean(values))
    se = float(np.std(values, ddof=1) / math.sqrt(m)) if m > 1 else math.nan
    return mean, se


@validate_params({"values": Array(ndim=(1,), nonempty=False, what="a 1-D array"),
                  "k": Interval("int", 1, 2**62)})
def hill(values: np.ndarray, k: int) -> tuple[float, float]:
    """Hill estimate of a tail index from the top ``k`` order statistics, and its standard error.

    ``alpha = 1 / mean(log(v_(i) / v_(k+1)))`` over the ``k`` largest positive
    finite values; its asymptotic standard error is ``alpha / sqrt(k)``.
    ``(nan, nan)`` if there are not more than ``k`` such values.
    """
    v = np.sort(values[np.isfinite(values) & (values > 0)])[::-1]
    if len(v) <= k:
        return math.nan, math.nan
    alpha = float(1.0 / np.mean(np.log(v[:k] / v[k])))
    return alpha, alpha / math.sqrt(k)


def median_intervals_by_group(values: np.ndarray, group: np.ndarray, n_groups: int
                              ) -> tuple[np.ndarray, np.ndarray]:
    """95 % order-statistic intervals of the median of ``values`` per group (NaN values left out)."""
    keep = ~np.isnan(values)
    v, gr = values[keep], group[keep]
    order = np.lexsort((v, gr))  # by group, then by value
    sizes = np.bincount(gr, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return group_median_intervals(v[order], starts, sizes)
