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

Finding the first root fast
---------------------------
The critical lr only needs the *first* interval between poles whose maximum
of S is positive. For Gaussian data that is about the ``n/2``-th of ``n``
intervals (``lr_c ~ 1.2`` and ``P(1/(2 Z^2) < 1.2) = 0.52``), and bounding or
maximising S on one interval costs ``O(n)``, so scanning the intervals one by
one was ``O(n^2)`` (2.1 s at ``n = 1e4``, 116-188 s at ``1e5``). Two facts
make it ``O(n log n)``:

* each term ``log|1 - t/p_j|`` is largest at an end of any range of ``t``
  (``|1 - t/p|`` is convex), so one ``O(n)`` sum bounds S on a whole range of
  intervals, however many (:func:`~lrsweep.theory._poles.range_upper_bound`);
* below its first root S is far below 0 except near the root: it is about
  ``n L(lr)`` (``L`` the population exponent, ``-0.49`` at its minimum) while
  the bound of a range of ``m`` intervals exceeds the true maximum by about
  ``m (log m + O(log n))``.

The intervals are taken in increasing order in batches of 32, 64, 128, ...;
each batch is split in halves depth first and a half is dropped when its
range bound is below 0 (:func:`~lrsweep.theory._poles.candidates`), down to
leaves of 8 intervals whose per-interval bounds pick the candidates; Newton's
method finds the maxima of the candidates 16 at a time, and the first
positive one brackets the root (Brent). Far below the root whole batches go
in one bound; only ``O(log n)`` ranges around the root are split. Measured
on Gaussian data (``critical_lr``, one core, three seeds): 20-40 range
bounds, 40-50 per-interval bounds and one Newton group of 16 at ``n = 1e3``;
about 90, 80-110 and one at ``n = 1e6``. So the cost is ``O(n log n)``: the
sort of the poles plus ``O(log n)`` sums of ``O(n)`` logs (one core,
benchmark medians on a quiet machine: 17 ms at ``n = 1e4``, 0.15 s at
``1e5``, 2.5 s at ``1e6``; up to 0.4 s and 5.5 s under load). The worst case stays
``O(n^2)`` (no range is dropped when S stays within the bounds' slack of 0
over many intervals below its first root, e.g. near-tangent data), at about
the cost of the old scan.

The batches, the candidates and the groups of 16 are exactly those of the
old scan, because the last bits of a Newton row depend on the rows that share
its matrix-vector products (BLAS): every critical lr is the same float as
before (checked on the 3,200 datasets of the ``dataset-size`` study and
Gaussian, uniform, Student-t, rounded and rescaled datasets).

:func:`roots` and :func:`diverging_intervals` screen their range the same way
when it holds more than ``2**24`` bound terms (intervals x poles; a single
vectorised pass is faster below that), which makes the screening of the
negative stretch ``O(n log n)`` too. Every interval with a positive maximum
then costs a Newton search and two Brent solves of ``O(n)`` per evaluation,
and for Gaussian data almost every interval above ``lr_c`` has one (two roots
each): all roots up to ``c lr_c`` cost ``O(n^2)``, inherently so with a direct
evaluation of S (0.1-0.2 s for all 950 roots at ``n = 1000``; ranges up to
the first few roots take milliseconds).

Extreme inputs
--------------
``x`` is limited to ``|x| <= 2**510`` (about 3.4e153), so that every pole is
a normal float; larger samples are refused by name (their pole, and hence the
first root, would be below the smallest normal float, where no learning rate
is resolved). Poles beyond the largest float (``|x| < 5.3e-155``) belong to
*far* samples, whose terms stay in S (:mod:`~lrsweep.theory._poles`); with
them the last interval really ends at the smallest far pole, so S may come
back below 0 before the largest float and the last window be bounded
(:func:`~lrsweep.theory._poles.last_window`). A root beyond the largest
float is not reported by :func:`roots` (nor its unbounded interval by
:func:`diverging_intervals`) and makes :func:`critical_lr` ``inf``.
Intervals whose poles are more than ``2**400`` apart are searched by
bisection, and Brent brackets wider than ``2**256`` are first narrowed
geometrically; both happen only for pole spans beyond any Gaussian dataset,
so ordinary results are unaffected.
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validation import Interval, NoneOr, ParameterError, message, validate_params
from ._common import _BLOCK_ELEMENTS, _scalar_or_array
from ._poles import (
    SCREEN_MARGIN,
    X_DATASET,
    X_DATASETS,
    Table,
    candidates,
    interval_maxima,
    interval_upper_bounds,
    last_window,
    pole_table,
    root_near_pole,
)

if TYPE_CHECKING:  # pragma: no cover

    from numpy.typing import ArrayLike, NDArray

__all__ = ["critical_lr", "diverging_intervals", "roots"]

_LR_MIN = Interval("float", 0.0, math.inf, "left")
#: The range ``[lr_min, lr_max]`` of :func:`roots` and :func:`diverging_intervals`.
_RANGE = {"lr_min": _LR_MIN, "lr_max": NoneOr(_LR_MIN)}
#: Up to this many bound terms (intervals x poles), :func:`_windows` screens every interval.
_DIRECT_SCREEN = 1 << 24


def _windows(tab: Table, k: NDArray[np.intp]) -> list[tuple[float, float]]:
    """Positive windows of S in the bounded inter-pole intervals ``k`` (plus the last one).

    ``k`` (consecutive) indexes intervals ``(p[k], p[k+1])``; ``k = p.size - 1``
    means the unbounded interval ``(p[-1], inf)``. Zero-width windows are
    tangent roots. The maxima are computed for all candidates at once (in
    blocks of ``2**22`` matrix elements when there are more).
    """
    p = tab.p
    out: list[tuple[float, float]] = []
    bounded = k[k < p.size - 1]
    if bounded.size * p.size <= _DIRECT_SCREEN:  # one vectorised pass beats the range search
        bounded = bounded[interval_upper_bounds(tab, bounded) > -SCREEN_MARGIN]
    else:
        found = candidates(tab, int(bounded[0]), int(bounded[-1]) + 1, leaf=64)
        bounded = np.fromiter(found, dtype=np.intp)
    rows = max(16, _BLOCK_ELEMENTS // max(1, p.size))
    for i0 in range(0, bounded.size, rows):
        kb = bounded[i0 : i0 + rows]
        tmax, smax = interval_maxima(kb, tab)
        for kk, tm, sm in zip(kb, tmax, smax, strict=True):
            if sm > 0:
                out.append((
                    root_near_pole(float(p[kk]), float(tm), tab),
                    root_near_pole(float(p[kk + 1]), float(tm), tab),
                ))
            elif sm == 0:
                out.append((float(tm), float(tm)))
    if p.size and (k == p.size - 1).any():
        last = last_window(tab)
        if last is not None:
            out.append(last)
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
        One dataset, ``|x_i| <= 2**510`` (module docstring).
    lr_min, lr_max : float, optional
        Report roots in ``[lr_min, lr_max]`` (default ``[0, inf)``: all of
        them; there are finitely many, all in ``(p_min, 2 p_max]`` with
        ``p_i = 1/(2 x_i^2)``, i.e. in ``(1/(2 max x^2), 1/min x^2]``).

    Returns
    -------
    r : ndarray of float, sorted
        The roots of S, excluding the trivial root ``S(0) = 0``. Empty when
        all ``x`` are 0 (then ``S`` is identically 0) or when every root
        exceeds the largest float (only with ``|x_i| < 7.5e-155``); a root
        beyond the largest float is left out.

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
    tab = pole_table(x)
    if tab.p.size == 0:
        return np.empty(0)
    found = []
    for a, b in _windows(tab, _intervals_in(tab.p, lo, hi)):
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
        One dataset, ``|x_i| <= 2**510`` (module docstring).
    lr_min, lr_max : float, optional
        Clip the intervals to ``[lr_min, lr_max]`` (default ``[0, inf)``).

    Returns
    -------
    intervals : list of (float, float)
        Sorted, disjoint open intervals ``(lo, hi)`` on which ``S(lr) > 0``,
        clipped to the range; ends are roots of S (or the range ends). The
        last interval of the full set is unbounded (``hi = inf``) unless its
        root exceeds the largest float (then it is left out); every other
        one lies strictly between two consecutive poles (S is ``-inf`` at
        the poles). See :func:`roots` for what rounding can hide.
    """
    lo, hi = _lr_range(lr_min, lr_max, "diverging_intervals")
    tab = pole_table(x)
    if tab.p.size == 0:
        return []
    out = []
    for a, b in _windows(tab, _intervals_in(tab.p, lo, hi)):
        a2, b2 = max(a, lo), min(b, hi)
        if a2 < b2:
            out.append((float(a2), float(b2)))
    return out


def _first_hit(kk: NDArray[np.intp], tab: Table) -> float | None:
    """The smallest root in the intervals ``kk`` (one batch of maxima), or ``None``."""
    tmax, smax = interval_maxima(kk, tab)
    hit = np.flatnonzero(smax >= 0)
    if not hit.size:
        return None
    j = hit[0]
    if smax[j] == 0:
        return float(tmax[j])
    return root_near_pole(float(tab.p[kk[j]]), float(tmax[j]), tab)


def _critical_one(x: NDArray[np.float64]) -> float:
    return _critical_table(pole_table(x))


def _critical_table(tab: Table) -> float:
    """The smallest root of S given by its pole table (also of the batch features' S_B)."""
    p = tab.p
    if p.size == 0:
        return math.inf
    # Bounded intervals in increasing order, in batches of 32, 64, 128, ...; within a
    # batch the candidates (per-interval bound above the margin) go to Newton 16 at a
    # time, and the first positive maximum gives the root (S < 0 on (0, p[0])). The
    # batches and groups of 16 are those of the O(n^2) scan this replaces: a row's
    # last bits depend on the rows it shares a matrix product with, and keeping the
    # groups keeps every root bit for bit. Only finding the candidates changed
    # (candidates(): whole ranges of intervals skipped by one O(n) bound).
    k0, batch = 0, 32
    while k0 < p.size - 1:
        k1 = min(k0 + batch, p.size - 1)
        found = candidates(tab, k0, k1)
        while group := list(itertools.islice(found, 16)):
            r = _first_hit(np.array(group, dtype=np.intp), tab)
            if r is not None:
                return r
        k0, batch = k0 + batch, batch * 2
    last = last_window(tab)
    return math.inf if last is None else last[0]


@validate_params({"x": X_DATASETS})
def critical_lr(x: ArrayLike) -> Any:
    r"""Smallest learning rate at which repeated epochs over a dataset diverge.

    The smallest positive root of ``S(lr) = sum_i log|1 - 2 lr x_i^2|``.

    Parameters
    ----------
    x : array_like of float, shape (n,) or (n_datasets, n)
        One dataset or a stack of datasets, ``|x_i| <= 2**510`` (module
        docstring; a ``ParameterError`` beyond).

    Returns
    -------
    lr_c : float or ndarray of float, shape ``x.shape[:-1]``
        ``S < 0`` on ``(0, lr_c)`` and ``S > 0`` just above ``lr_c`` (except
        for a tangent root, see :func:`roots`). Always in
        ``(1/(2 max x_i^2), 1/min_{x_i != 0} x_i^2]``: S is negative below the
        first pole (``S(0) = 0``, ``S'(0) = -2 sum x_i^2`` and concavity) and
        positive at twice the last pole. ``inf`` for a dataset of zeros and
        where the first root exceeds the largest float (possible only with
        ``|x_i| < 7.5e-155``).

    Notes
    -----
    The inter-pole intervals are examined in increasing order and the first
    one whose maximum of S is positive gives the root; whole ranges of
    intervals are skipped with one ``O(n)`` bound each, so the cost is
    ``O(n log n)`` on Gaussian data (module docstring: 17 ms at
    ``n = 1e4``, 0.15 s at ``1e5``, 2.5 s at ``1e6`` on one core), ``O(n^2)``
    at worst. Datasets are processed one at a time.
    """
    flat = x.reshape(-1, x.shape[-1])
    out = np.array([_critical_one(row) for row in flat]).reshape(x.shape[:-1])
    return _scalar_or_array(out)

