r"""The pole form of ``S`` for one dataset: the pole table and what is evaluated on it.

The numerics under :mod:`~lrsweep.theory.roots`: ``S``, the Newton function
for its maximum between two poles, and two upper bounds of ``S`` (per
inter-pole interval and per range of intervals) used to skip intervals.
They are exact in the normal float range and robust outside it.

Pole table
----------
``p_i = 1/(2 x_i^2)``, sorted and made distinct with multiplicities
``cnt``. Datasets are limited to ``|x_i| <= 2**510`` (:data:`X_DATASET`),
so every pole is a normal float (``>= 2**-1021``); a pole beyond the largest
float (``|x_i| < 5.3e-155``) makes its sample *far*: its term
``log(1 - 2 lr x_i^2)`` is smooth and negative for every float ``lr``
(``2 lr x_i^2 < 1``), so it is kept out of the table and added to ``S``
from ``2 lr x_i^2`` formed without underflow (it matters only for ``lr``
near the largest float). Zeros contribute nothing.

Range bound
-----------
On ``(alpha, beta)`` each term ``log|1 - t/p_j|`` is largest at an end
(``|1 - t/p|`` is convex in ``t``), so

.. math:: U(\alpha, \beta) = \sum_j cnt_j \max(\log|1 - \alpha/p_j|, \log|1 - \beta/p_j|)

bounds ``S`` on the whole range, in ``O(n)`` however many poles it holds;
with ``alpha = p_lo`` and ``beta = p_hi`` it also bounds the per-interval
bound :func:`_interval_upper_bounds` of every interval in between (each
term of the latter is a value at an end of a sub-interval, or the maximum
of the two adjacent terms, which the range terms dominate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .._validation import Array
from ._common import (
    _BLOCK_ELEMENTS,
    _EPS,
    _HUGE,
    _brent_root,
    _frexp,
    _ldexp,
    _log_abs_one_minus_scaled,
    _over_square,
    _two_lr_x2,
)

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import NDArray

__all__: list[str] = []

#: Largest ``|x|`` the root functions accept: its pole ``2**-1021`` is a normal float.
X_BOUND = 2.0**510

#: Intervals whose upper bound of S is below -this are skipped (covers rounding).
SCREEN_MARGIN = 1e-6


@dataclass(frozen=True)
class _PoleArray(Array):
    """A dataset whose poles ``1/(2 x^2)`` are normal floats: ``|x| <= 2**510``."""

    @property
    def description(self) -> str:  # type: ignore[override]
        return (f"{self.what} of finite floats with |x| <= 2**510 (about 3.4e153; the pole 1/(2 x^2) of "
                "a larger sample is below the smallest normal float, where no learning rate is resolved)")

    def invalid_example(self) -> object:
        return [1.0, 2.0**511]


#: ``x`` of :func:`~lrsweep.theory.roots.roots` and :func:`~lrsweep.theory.roots.diverging_intervals`.
X_DATASET = _PoleArray(-X_BOUND, X_BOUND, "both", ndim=(1,), what="a 1-D array (one dataset)")
#: ``x`` of :func:`~lrsweep.theory.roots.critical_lr`: one dataset or a stack.
X_DATASETS = _PoleArray(-X_BOUND, X_BOUND, "both", ndim=(1, 2),
                        what="a 1-D array (one dataset) or a 2-D array (n_datasets, n)")


class Table(NamedTuple):
    """Distinct finite poles ``p`` (sorted), their multiplicities ``cnt``, the far samples' ``x``.

    ``cnt`` may be any positive weights (:mod:`~lrsweep.theory.schedules` weighs each
    pole by its number of visits); ``far_cnt`` weighs the far samples (``None``: 1 each).
    """

    p: NDArray[np.float64]
    cnt: NDArray[np.float64]
    far: NDArray[np.float64]
    far_cnt: NDArray[np.float64] | None = None


def _far_sum(terms: NDArray[np.float64], tab: Table) -> Any:
    """Sum of the far samples' ``terms`` over the last axis, weighted by ``tab.far_cnt``."""
    return terms.sum(axis=-1) if tab.far_cnt is None else terms @ tab.far_cnt


def pole_table(x: NDArray[np.float64]) -> Table:
    """The pole table of one dataset (module docstring); ``x`` validated, ``|x| <= 2**510``."""
    xs = x[x != 0.0]
    with np.errstate(divide="ignore"):
        p_all = _over_square(1.0, 2.0, xs)  # the bits of 1 / (2 x^2) where x^2 is normal
    finite = np.isfinite(p_all)
    p, cnt = np.unique(p_all[finite], return_counts=True)
    return Table(p, cnt.astype(np.float64), xs[~finite])


def _far_terms(t: NDArray[np.float64], far: NDArray[np.float64]) -> NDArray[np.float64]:
    """``log(1 - 2 t x^2)`` of each far sample (columns) at the points ``t`` (rows)."""
    w, k = _two_lr_x2(far[None, :], t[:, None])
    return _log_abs_one_minus_scaled(w, k)


def s_pole(t: NDArray[np.float64], tab: Table) -> Any:
    """``S(t) = sum_j cnt_j log|1 - t/p_j|`` (plus the far samples) at the points ``t`` (1-D)."""
    p, cnt = tab.p, tab.cnt
    t = np.asarray(t, dtype=np.float64)
    out = np.empty(t.shape)
    step = max(1, _BLOCK_ELEMENTS // max(1, p.size))
    for i0 in range(0, t.size, step):
        tb = t[i0 : i0 + step, None]
        with np.errstate(divide="ignore", over="ignore"):
            r = tb / p
            term = np.where(
                r < 0.5, np.log1p(-np.minimum(r, 0.5)), np.log(np.abs(tb - p) / p)
            )
        if p.size and float(tb.max()) > 1e300 * float(p[0]):  # |t - p| / p may overflow
            big = np.isposinf(term)
            if big.any():
                tt = np.broadcast_to(tb, term.shape)[big]
                pp = np.broadcast_to(p, term.shape)[big]
                term[big] = np.log(tt - pp) - np.log(pp)
        out[i0 : i0 + step] = term @ cnt
    if tab.far.size:
        out += _far_sum(_far_terms(t, tab.far), tab)
    return out


def _row_scale(t: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64] | None:
    """A power of two ``sigma ~ 1/t`` for the rows with ``t`` or ``b`` far from 1, else ``None``.

    ``1/(t - p)`` overflows for ``t`` near ``2**-1021`` and ``(t - a)(b - t)``
    for ``b`` near the largest float; scaling every difference of a row by
    ``sigma`` (exact) keeps both in range on intervals with ``b/a <= 2**400``
    and leaves rows with ``sigma = 1`` bit for bit as they were.
    """
    ext = (t < 2.0**-400) | (b > 2.0**400)
    if not ext.any():
        return None
    sig = np.ones(t.shape)
    sig[ext] = _ldexp(1.0, -_frexp(t[ext])[1])
    return sig


def _far_inverse(t: NDArray[np.float64], far: NDArray[np.float64], scale: NDArray[np.float64]) -> Any:
    """``1/(scale (t - p))`` for the far samples' poles ``p = 1/(2 x^2) > t`` (rows of ``t``).

    ``= -(v / (scale t)) / (1 - v)`` with ``v = 2 t x^2 < 1``, formed without ``p``.
    """
    w, e = _two_lr_x2(far[None, :], t[:, None])
    v = _ldexp(w, e)
    # v < 1, but a far pole within half an ulp above the largest float can round v to 1:
    # then S is -inf there as at any pole, and so is this term
    with np.errstate(under="ignore", divide="ignore"):
        return -(v / (t * scale)[:, None]) / (1.0 - v)


def g_pole(
    t: NDArray[np.float64], k: NDArray[np.intp], tab: Table,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64] | None]:
    """``G = (t - a)(b - t) S'(t)`` and ``G'`` on the intervals ``(a, b) = (p[k], p[k+1])``.

    ``G`` has the zeros of ``S'`` in ``(a, b)`` but no poles there:
    ``G(a) = cnt_a (b - a) > 0`` and ``G(b) = -cnt_b (b - a) < 0``, which
    makes Newton's method well behaved (``S'`` itself has ``1/(t - p)``
    branches that make Newton overshoot). Returns ``(sigma G, G', sigma)``
    with the row scale of :func:`_row_scale` (``sigma`` is ``None`` when it
    is 1 for every row): the Newton step is ``(sigma G / G') / sigma``.
    """
    p, cnt = tab.p, tab.cnt
    a, b = p[k], p[k + 1]
    sig = _row_scale(t, b)
    da, db = t - a, b - t
    dp = t[:, None] - p
    if sig is not None:
        da, db = da * sig, db * sig
        with np.errstate(over="ignore"):  # a difference to a pole far beyond b: 1/inf = 0
            dp *= sig[:, None]
    rows = np.arange(k.size)
    dp[rows, k] = np.inf  # the two adjacent poles are handled in closed form
    dp[rows, k + 1] = np.inf
    inv = 1.0 / dp
    r, rp = inv @ cnt, -(np.square(inv) @ cnt)
    if tab.far.size:
        f = _far_inverse(t, tab.far, np.ones(t.shape) if sig is None else sig)
        r, rp = r + _far_sum(f, tab), rp - _far_sum(np.square(f), tab)
    ca, cb = cnt[k], cnt[k + 1]
    g = ca * db - cb * da + da * db * r
    gp = -ca - cb + (db - da) * r + da * db * rp
    return g, gp, sig


#: Intervals wider than this ratio ``b/a`` are searched by bisection (:func:`_wide_argmax`).
_WIDE = 2.0**400


def _wide_argmax(a: float, b: float, tab: Table) -> float:
    """Argmax of S on ``(a, b)``: bisection on the sign of ``S'`` (``b/a > 2**400``, or ``b = HUGE``).

    ``S'`` decreases on the interval; its sign is that of ``sum_j m/(t - p_j)``
    with ``m = min(t - a, b - t)``, every term at most ``cnt_j`` in modulus
    (no overflow however far apart the poles). Geometric midpoints while
    ``hi/lo > 4`` (about ``log2 log2(b/a)`` steps), then arithmetic ones.
    """
    p, cnt = tab.p, tab.cnt
    lo, hi = a, b
    t = lo
    for _ in range(2200):
        t = math.exp(0.5 * (math.log(lo) + math.log(hi))) if hi > 4.0 * lo else 0.5 * lo + 0.5 * hi
        if not lo < t < hi:
            break
        m = min(t - a, b - t)
        with np.errstate(under="ignore"):
            d = float((m / (t - p)) @ cnt)
        if tab.far.size:
            d += float(m * _far_sum(_far_inverse(np.array([t]), tab.far, np.ones(1)), tab)[0])
        if d > 0:
            lo = t
        elif d < 0:
            hi = t
        else:
            break
    return t


def interval_maxima(k: NDArray[np.intp], tab: Table) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Argmax and max of S on each open interval ``(p[k], p[k+1])`` between consecutive poles.

    ``S'`` decreases from ``+inf`` to ``-inf`` there; its unique zero is found
    as the zero of :func:`g_pole` by Newton's method inside a shrinking
    bracket (bisection whenever Newton leaves it); intervals wider than
    ``b/a = 2**400`` (a pole span beyond the float range) by
    :func:`_wide_argmax`. The rows are independent, but the last bits of a
    row depend on which rows share its matrix products (BLAS), so callers
    keep their batches as they were.
    """
    p = tab.p
    lo, hi = p[k], p[k + 1]
    t = 0.5 * lo + 0.5 * hi  # the bits of 0.5 * (lo + hi) (poles are normal), without overflow
    wide = hi / _WIDE > lo
    for i in np.flatnonzero(wide):
        t[i] = _wide_argmax(float(lo[i]), float(hi[i]), tab)
    active = np.flatnonzero(~wide)
    for _ in range(100):
        if active.size == 0:
            break
        ti, lo_i, hi_i = t[active], lo[active], hi[active]
        g, gp, sig = g_pole(ti, k[active], tab)
        lo_i = np.where(g > 0, ti, lo_i)
        hi_i = np.where(g < 0, ti, hi_i)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            step = g / gp
            if sig is not None:
                step = step / sig
        tn = ti - step
        small = ~(np.abs(step) > 2 * _EPS * ti)  # Newton converged (or g == 0)
        ok = (tn > lo_i) & (tn < hi_i)
        tn = np.where(small, ti, np.where(ok, tn, 0.5 * lo_i + 0.5 * hi_i))
        done = small | (hi_i - lo_i <= 2 * _EPS * hi_i)
        t[active], lo[active], hi[active] = tn, lo_i, hi_i
        active = active[~done]
    return t, s_pole(t, tab)


def interval_upper_bounds(tab: Table, k: NDArray[np.intp]) -> NDArray[np.float64]:
    """Cheap upper bound of S on each bounded interval ``(p[k], p[k+1])``.

    On ``(a, b)`` a term of a pole left of ``a`` increases with ``t`` (bounded
    by its value at ``b``), a term of a pole right of ``b`` decreases (bounded
    by its value at ``a``), and the two terms of ``a`` and ``b`` are maximised
    together in closed form; the far samples' terms are negative (bounded by
    0). ``log((b - p)/p)`` rather than ``log|b/p - 1|``: the difference of two
    close poles is exact, where the ratio could round to 1 (a bound of
    ``-inf``). ``inf`` where a ratio overflows (a pole span beyond the float
    range): never skipped, only slower.
    """
    p, cnt = tab.p, tab.cnt
    out = np.empty(k.size)
    step = max(1, _BLOCK_ELEMENTS // max(1, p.size))
    j = np.arange(p.size)
    for i0 in range(0, k.size, step):
        kb = k[i0 : i0 + step, None]
        a, b = p[kb], p[kb + 1]
        # Left terms only in the columns left of the block's largest k, right terms
        # only right of its smallest k + 1 (about half the logs of the full matrix).
        lo_k, hi_k = int(kb.min()), int(kb.max())
        terms = np.zeros((kb.shape[0], p.size))
        r = slice(lo_k + 2, None)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            left = np.log((b - p[:hi_k]) / p[:hi_k])
            terms[:, :hi_k] = np.where(j[:hi_k] < kb, left, 0.0)
            right = np.log((p[r] - a) / p[r])
            terms[:, r] = np.where(j[r] > kb + 1, right, terms[:, r])
            ca, cb = cnt[kb[:, 0]], cnt[kb[:, 0] + 1]
            w = (b - a)[:, 0] / (ca + cb)
            adj = ca * np.log(ca * (w / a[:, 0])) + cb * np.log(cb * (w / b[:, 0]))
        out[i0 : i0 + step] = terms @ cnt + adj
    return out


def range_upper_bound(tab: Table, lo: int, hi: int) -> tuple[float, float]:
    """``U(p[lo], p[hi])`` of the module docstring and its rounding allowance (``lo < hi``).

    Every interval ``k`` in ``[lo, hi)`` has :func:`interval_upper_bounds`
    at most ``U + tol`` (``tol`` covers the rounding of both sums).
    """
    p, cnt = tab.p, tab.cnt
    al, be = p[lo], p[hi]
    with np.errstate(over="ignore"):
        left = np.log((be - p[:hi]) / p[:hi])  # j < hi: its value at beta
        right = np.log((p[lo + 1 :] - al) / p[lo + 1 :])  # j > lo: its value at alpha
    terms = np.empty(p.size)
    terms[:lo + 1] = left[:lo + 1]
    terms[hi:] = right[hi - lo - 1 :]
    np.maximum(left[lo + 1 :], right[: hi - lo - 1], out=terms[lo + 1 : hi])
    u = float(terms @ cnt)
    return u, 1e-9 * (float(np.abs(terms) @ cnt) + 1.0)


#: Widest bracket ``hi/lo`` handed to Brent's method (:func:`root_near_pole`).
_BRACKET_SPAN = 2.0**256

def candidates(tab: Table, lo: int, hi: int, leaf: int = 8) -> Any:
    """Yield, in increasing order, the bounded intervals ``k`` in ``[lo, hi)`` not skipped by their bound.

    Exactly those with :func:`interval_upper_bounds` ``> -SCREEN_MARGIN`` (up
    to rounding far below the margin), found by splitting ``[lo, hi)`` in
    halves depth first and dropping every range whose
    :func:`range_upper_bound` is below the margin: ``O(n)`` per range, and
    the per-interval bounds (``O(n)`` each) only in the ranges that survive,
    ``leaf`` intervals or fewer.
    """
    stack = [(lo, hi)]
    while stack:
        a, b = stack.pop()
        if b - a <= leaf:
            k = np.arange(a, b)
            yield from k[interval_upper_bounds(tab, k) > -SCREEN_MARGIN]
            continue
        u, tol = range_upper_bound(tab, a, b)
        if u + tol < -SCREEN_MARGIN:
            continue
        mid = (a + b) // 2
        stack.append((mid, b))
        stack.append((a, mid))


def root_near_pole(pole: float, inner: float, tab: Table) -> float:
    """The root of S between a pole (where S = -inf) and ``inner`` (where S > 0)."""
    def f(t: float) -> float:
        return float(s_pole(np.array([t]), tab)[0])

    edge = float(np.nextafter(pole, inner))
    if f(edge) >= 0:  # the dip at the pole is narrower than one ulp
        return edge
    lo, hi = (edge, inner) if edge < inner else (inner, edge)
    f_lo_neg = lo == edge
    # Brent's bisection steps are arithmetic: a bracket spanning more than 2**256 could
    # exhaust its iterations, so bisect geometrically first (never for poles in one
    # float range, e.g. Gaussian data, whose brackets are far narrower)
    while hi > _BRACKET_SPAN * lo:
        mid = math.exp(0.5 * (math.log(lo) + math.log(hi)))
        fm = f(mid)
        if fm == 0.0:
            return mid
        if (fm < 0.0) == f_lo_neg:
            lo = mid
        else:
            hi = mid
    return _brent_root(f, lo, hi)


def _s_at(t: float, tab: Table) -> float:
    return float(s_pole(np.array([t]), tab)[0])


def last_window(tab: Table) -> tuple[float, float] | None:
    """The positive window of S above the largest finite pole, within the float range.

    Without far samples S rises from ``-inf`` to ``+inf`` on ``(p_max, inf)``
    (every term increases) and has one root, at most ``2 p_max`` (every term
    is ``>= 0`` there): ``(root, inf)``, bracketed by ``4 p_max`` (``None`` if
    the root exceeds the largest float). With far samples the interval really
    ends at the smallest far pole, beyond the largest float: S is concave
    there and may have 0, 1 or 2 roots in the float range, found from its
    maximum on ``(p_max, HUGE]`` (bisection on the sign of ``S'``); ``hi`` is
    ``inf`` when S is still positive at the largest float.
    """
    p = tab.p
    pole = float(p[-1])
    if not tab.far.size:
        top = 4.0 * pole if pole <= _HUGE / 4.0 else _HUGE
        if top == _HUGE:
            s_top = _s_at(top, tab)
            if s_top < 0.0:
                return None
            if s_top == 0.0:
                return top, math.inf
        return root_near_pole(pole, top, tab), math.inf
    t_max = _wide_argmax(pole, _HUGE, tab)
    s_max = _s_at(t_max, tab)
    if s_max < 0.0:
        return None
    if s_max == 0.0:
        return t_max, t_max
    lo = root_near_pole(pole, t_max, tab)
    s_huge = _s_at(_HUGE, tab)
    if s_huge >= 0.0:
        return lo, math.inf
    return lo, _brent_root(lambda t: _s_at(t, tab), t_max, _HUGE)
