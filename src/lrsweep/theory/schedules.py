r"""Learning-rate schedules on one dataset: exact growth over a run, best constant lr for a budget.

Noise-free data, fixed order. Step ``t = 0, 1, ..., T - 1`` uses the learning
rate ``lr_t = lr * m_t`` (``m`` the schedule's per-step multipliers, the
float product as the kernel forms it) and batch ``j(t) = t mod n_b`` of the
epoch (``n_b = ceil(n/B)``; ``B = 1``: sample ``t mod n``), so

.. math:: \log|e_T| - \log|e_0| = \sum_{t=0}^{T-1} \log|1 - 2\,lr_t\,c_{j(t)}|

with ``c_k = (1/B_k) sum_{i in batch k} x_i^2`` (:mod:`~lrsweep.theory.batches`;
``c_i = x_i^2`` for ``B = 1``): :func:`schedule_log_growth`. Every term is
taken as in :func:`~lrsweep.theory.dataset.epoch_log_multiplier`
(``log1p`` below ``v = 1/2``, ``-inf`` at a pole, mantissas and exponents
where ``2 lr_t c`` leaves the float range). A constant schedule over ``q``
epochs gives ``q S`` (``q S_B``) up to the rounding of the longer sum.

Best constant learning rate for a budget
----------------------------------------
With a constant ``lr`` and a budget of ``K = q n_b + r`` steps (``0 <= r <
n_b``), batch ``k`` is used ``w_k = q + [k < r]`` times, so

.. math:: F_K(lr) = \log\frac{|e_K|}{|e_0|} = \sum_k w_k \log|1 - lr/p_k|,
          \qquad p_k = \frac{1}{2 c_k} .

**The plain minimum is degenerate.** ``F_K = -inf`` at every pole ``p_k``
of a batch used within the budget (that step lands exactly on the
solution, ``e_K = 0``), and between two consecutive poles ``F_K`` is
strictly concave (``F_K'' = -sum_k w_k/(lr - p_k)^2 < 0``), so it has no
interior minimum at all: ``inf |e_K| = 0``, attained only at the poles,
where an error of one ulp in ``lr`` already matters. On ``(0, p_min)``
``F_K`` decreases from 0 to ``-inf``; above the last pole it increases to
``+inf``.

What :func:`best_constant_lr` returns instead is the **robust (minimax)
optimum**: on each bounded interval ``(p_k, p_{k+1})`` between consecutive
poles the concave ``F_K`` has a unique maximum ``M_k`` at ``t_k``, so every
``lr`` in that interval gives ``|e_K| <= exp(M_k) |e_0|``; the interval with
the smallest ``M_k`` guarantees the smallest error over a whole range of
learning rates, and ``t_k`` is the point of that range where ``|e_K|`` is
flat in ``lr`` (``F_K'(t_k) = 0``: an error in ``lr`` changes ``|e_K|``
only at second order). It returns ``t_k``, ``M_k``, ``exp(M_k)`` and the
interval's poles. The poles bracket everything: ``t_k`` is the zero of the
decreasing ``F_K'`` between them, found by
:func:`~lrsweep.theory._poles.interval_maxima` (Newton inside the bracket,
with ``F_K`` in pole form and the weights ``w_k`` as multiplicities), so no
grid can miss an interval. For Gaussian data the poles are dense and the
intervals narrow (``n = 100``: the best one is ``1e-4`` wide relative), so
``t_k`` follows the minimum of the upper envelope of ``F_K`` through its
local maxima: ``lr = 0.2868`` for one seed at ``n = 100`` against the
population optimum ``0.2927/s^2`` (the minimum of ``L``, ``u = 0.5855``).
Whole epochs (``r = 0``) give ``F_K = q S_B`` and the same ``lr`` for every
``q``. To avoid ``O(n_b)`` Newton searches, ``F_K`` is
first evaluated once per interval (at its geometric midpoint, a lower bound
of ``M_k``); intervals are searched in increasing order of that bound and
the search stops when the bound reaches the best ``M_k`` found. Cost
``O(n_b^2)`` per dataset (one pass over all intervals, a few Newton groups;
about 0.07 s at ``n_b = 1000`` and 7 s at ``10^4`` on a busy 2-core machine).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .._validation import Array, Interval, validate_params
from ._common import (
    _REDUCE_ELEMENTS,
    LR,
    X_DATASETS,
    _frexp,
    _log_abs_one_minus,
    _log_abs_one_minus_scaled,
    _plain_ok,
    _scalar_or_array,
)
from ._poles import X_DATASETS as X_POLE_DATASETS
from ._poles import Table, interval_maxima, s_pole
from .batches import BATCH_SIZE, Features

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    from numpy.typing import ArrayLike, NDArray

__all__ = ["BestConstantLR", "best_constant_lr", "schedule_log_growth"]

#: ``multipliers``: the per-step multipliers ``m_t`` of the schedule, one per step.
MULTIPLIERS = Array(0.0, math.inf, "left", ndim=(1,), nonempty=False, what="a 1-D array (one per step)")
#: Newton searches of :func:`best_constant_lr` run this many intervals at a time.
_GROUP = 16


def _schedule_reduce(x: NDArray[np.float64], lr: NDArray[np.float64], m: NDArray[np.float64], batch_size: int,
                     reduce: Callable[[NDArray[np.float64]], NDArray[Any]],
                     reduce_scaled: Callable[[NDArray[np.float64], NDArray[np.int64]], NDArray[Any]],
                     dtype: type) -> NDArray[Any]:
    """Sum over steps of ``reduce(v)``, ``v_t = (lr m_t) c_{t mod n_b}`` (``2 c_k`` the batch features).

    ``x (D, n)``, ``lr (L,)``, ``m (T,)``; returns ``(D, L)``. ``reduce`` maps
    ``v`` of shape ``(d, l, t)`` to ``(d, l)``; where some product leaves the
    normal range ``reduce_scaled`` gets ``v = w 2^k`` instead (as
    :func:`schedule_log_growth` documents). Blocks of ``2**16`` terms.
    """
    f = Features(x, batch_size)
    with np.errstate(over="ignore"):
        lrt = lr[:, None] * m[None, :]  # (L, T): the per-step learning rates
    idx = np.arange(m.size) % f.c.shape[-1]
    d_all, n_l, n_t = f.c.shape[0], lr.size, m.size
    out = np.zeros((d_all, n_l), dtype=dtype)
    plain = _plain_ok(f.nz, f.c, float(lrt.max()) if lrt.size else 0.0) and bool(np.isfinite(lrt).all())
    if not plain:
        lm, le = _frexp(lrt)
    t_blk = max(1, min(n_t, _REDUCE_ELEMENTS))
    rest = max(1, _REDUCE_ELEMENTS // t_blk)
    l_blk = max(1, min(n_l, rest))
    d_blk = max(1, rest // l_blk)
    for t0 in range(0, n_t, t_blk):
        j = idx[t0 : t0 + t_blk]
        ts = slice(t0, t0 + t_blk)
        for l0 in range(0, n_l, l_blk):
            ls = slice(l0, l0 + l_blk)
            for d0 in range(0, d_all, d_blk):
                ds = slice(d0, d0 + d_blk)
                if plain:
                    v = lrt[None, ls, ts] * f.c[ds, None][..., j]
                    out[ds, ls] += reduce(v)
                else:
                    w = lm[None, ls, ts] * f.cm[ds, None][..., j]
                    k = le[None, ls, ts] + f.ce[ds, None][..., j]
                    out[ds, ls] += reduce_scaled(w, k)
    return out


@validate_params({"x": X_DATASETS, "lr": LR, "multipliers": MULTIPLIERS, "batch_size": BATCH_SIZE})
def schedule_log_growth(x: ArrayLike, lr: ArrayLike, multipliers: ArrayLike, batch_size: int = 1) -> Any:
    r"""Exact ``log|e_T| - log|e_0|`` of noise-free fixed-order SGD under a learning-rate schedule.

    .. math:: \sum_{t=0}^{T-1} \log\bigl|1 - 2\,(lr\,m_t)\,c_{t \bmod n_b}\bigr|,
              \qquad c_k = \frac{1}{B_k} \sum_{i \in \text{batch } k} x_i^2

    (module docstring); ``T = len(multipliers)`` need not be a multiple of
    the epoch length ``n_b = ceil(n/B)``.

    Parameters
    ----------
    x : array_like of float, shape (n,) or (n_datasets, n)
        One dataset or a stack of datasets.
    lr : array_like of float, any shape
        Base learning rates, finite and ``>= 0``.
    multipliers : array_like of float, shape (T,)
        ``m_t >= 0`` per step: step ``t`` uses ``lr * m_t`` (pass ``lr=1``
        and the per-step learning rates as ``multipliers`` to give them
        directly: ``1 * m_t`` is exact).
    batch_size : int, optional
        ``B >= 1`` (default 1).

    Returns
    -------
    growth : float or ndarray of float, shape ``x.shape[:-1] + lr.shape``
        ``-inf`` where some step lands exactly on the solution (``2 lr_t c =
        1`` after rounding); 0 for ``T = 0``. With all ``m_t = 1`` and ``T = q
        n_b`` this is ``q`` times
        :func:`~lrsweep.theory.batches.batch_log_multiplier` (``q S`` for
        ``B = 1``) up to the rounding of the sums (about ``T eps`` relative).

    Notes
    -----
    Costs ``O(T)`` per dataset and learning rate, in blocks of ``2**16``
    terms; ``lr * m_t`` overflowing the float range is ``inf`` (as in a
    kernel that forms the same product).
    """
    out = _schedule_reduce(x.reshape(-1, x.shape[-1]), lr.reshape(-1), multipliers, batch_size,
                           lambda v: _log_abs_one_minus(v).sum(axis=-1),
                           lambda w, k: _log_abs_one_minus_scaled(w, k).sum(axis=-1), np.float64)
    return _scalar_or_array(out.reshape(x.shape[:-1] + lr.shape))


class BestConstantLR(NamedTuple):
    """Result of :func:`best_constant_lr` (each field a float, or an array with one entry per dataset).

    Attributes
    ----------
    lr : float or ndarray of float
        The robust optimum ``t_k``: the maximiser of ``F_K`` on the interval
        between consecutive poles whose maximum is smallest.
    log_ratio : float or ndarray of float
        ``M_k = F_K(t_k) = log(|e_K| / |e_0|)`` at ``lr``: the largest value of
        ``F_K`` on ``(lower, upper)``.
    ratio : float or ndarray of float
        ``exp(log_ratio) = |e_K| / |e_0|`` at ``lr`` (0 where it underflows).
    lower, upper : float or ndarray of float
        The two poles around ``lr``: every learning rate in ``(lower,
        upper)`` gives ``|e_K| <= ratio |e_0|``.
    """

    lr: Any
    log_ratio: Any
    ratio: Any
    lower: Any
    upper: Any


def _best_one(tab: Table) -> tuple[float, float, float, float]:
    """``(t_k, M_k, p_k, p_{k+1})`` of the bounded interval with the smallest maximum of ``F_K``."""
    p = tab.p
    if p.size == 0:  # F_K has no pole: 0 for a dataset of zeros (any lr is as good)
        return math.nan, 0.0, math.nan, math.nan
    if p.size == 1:  # no bounded interval: the one pole solves the problem exactly
        return float(p[0]), -math.inf, float(p[0]), float(p[0])
    k_all = np.arange(p.size - 1)
    with np.errstate(over="ignore"):
        mid = np.sqrt(p[:-1]) * np.sqrt(p[1:])  # geometric midpoints, no overflow
    bound = s_pole(mid, tab)  # F_K at one point: a lower bound of the interval's maximum
    order = np.argsort(bound, kind="stable")
    best = (math.inf, math.nan, -1)
    for g0 in range(0, order.size, _GROUP):
        group = order[g0 : g0 + _GROUP]
        if bound[group[0]] >= best[0]:
            break  # this interval and all later ones have M_k >= bound >= best
        k = k_all[group]
        t, s = interval_maxima(k, tab)
        for kk, tt, ss in zip(k, t, s, strict=True):
            if ss < best[0] or (ss == best[0] and kk < best[2]):
                best = (float(ss), float(tt), int(kk))
    m_k, t_k, k = best
    return t_k, m_k, float(p[k]), float(p[k + 1])


@validate_params({"x": X_POLE_DATASETS, "n_steps": Interval("int", 1, 2**62, "both"),
                  "batch_size": BATCH_SIZE})
def best_constant_lr(x: ArrayLike, n_steps: int, batch_size: int = 1) -> BestConstantLR:
    r"""Robust best constant learning rate for a budget of ``K`` noise-free fixed-order steps.

    Minimises over the intervals between consecutive poles the largest
    value there of

    .. math:: F_K(lr) = \log\frac{|e_K|}{|e_0|} = \sum_{t=0}^{K-1} \log|1 - 2\,lr\,c_{t \bmod n_b}|

    and returns the maximiser on the best interval (module docstring: the
    plain minimum of ``|e_K|`` is 0, at every pole ``1/(2 c_k)`` of a batch
    visited within the budget, which is why a robust optimum is returned).

    Parameters
    ----------
    x : array_like of float, shape (n,) or (n_datasets, n)
        One dataset or a stack of datasets, ``|x_i| <= 2**510``.
    n_steps : int
        Budget ``K >= 1`` in steps (not necessarily a multiple of the epoch
        length ``n_b = ceil(n/B)``).
    batch_size : int, optional
        ``B >= 1`` (default 1).

    Returns
    -------
    BestConstantLR
        ``(lr, log_ratio, ratio, lower, upper)``, each a float or an array of
        shape ``x.shape[:-1]``. When the visited batches have a single
        distinct pole there is no bounded interval and ``lr = lower = upper``
        is that pole (``|e_K| = 0``, ``log_ratio = -inf``); for a dataset of
        zeros ``lr`` is NaN and ``log_ratio = 0``. ``log_ratio`` may be
        ``>= 0`` for tiny budgets: then no interval between poles guarantees
        a decrease (every ``lr`` below the first pole decreases ``|e|``).
    """
    flat = x.reshape(-1, x.shape[-1])
    f = Features(flat, batch_size)
    n_b = f.c.shape[-1]
    q, r = divmod(n_steps, n_b)
    weights = np.full(n_b, float(q)) + (np.arange(n_b) < r)
    rows = [_best_one(f.pole_table(i, weights)) for i in range(flat.shape[0])]
    cols = np.array(rows, dtype=np.float64).reshape(*x.shape[:-1], 4)
    with np.errstate(under="ignore"):
        ratio = np.exp(cols[..., 1])
    return BestConstantLR(_scalar_or_array(cols[..., 0]), _scalar_or_array(cols[..., 1]),
                          _scalar_or_array(ratio), _scalar_or_array(cols[..., 2]),
                          _scalar_or_array(cols[..., 3]))
