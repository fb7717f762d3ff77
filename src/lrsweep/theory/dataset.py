r"""One dataset: the error recursion and the epoch log-multiplier ``S(lr)``.

Everything here is exact for a given dataset ``x`` (noise-free data): the
factor by which an epoch multiplies the error, the learning rates at which
one step lands on the solution, how many steps overshoot or amplify, the
full-batch threshold, and the whole predicted error path.

Error recursion (noise-free data)
---------------------------------
With ``y_i = a x_i`` and ``e = theta - a`` the step is ``e <- m_i e`` with the
*step multiplier* ``m_i = 1 - 2 lr x_i^2``. A step *overshoots* (``e`` changes
sign) when ``2 lr x_i^2 > 1`` and *amplifies* (``|e|`` grows) when
``2 lr x_i^2 > 2`` (:func:`overshoot_count`, :func:`amplify_count`). One epoch
multiplies ``e`` by ``prod_i m_i`` whatever the order, so

.. math:: \log|e_{qn}| = \log|e_0| + q\,S(lr), \qquad
          S(lr) = \sum_i \log|1 - 2\,lr\,x_i^2|,

and repeated epochs diverge iff ``S(lr) > 0`` (:func:`epoch_log_multiplier`,
:func:`predicted_error`, :func:`predicted_steps_to_tol`).

Full-batch GD on ``mean((y - theta x)^2)``: ``e <- (1 - 2 lr mean(x^2)) e``,
stable iff ``lr < 1/mean(x^2)`` (:func:`gd_threshold`).

Outliers
--------
A response outlier shifts ``y_i`` only. The error recursion becomes affine,
``e <- m_i e + 2 lr x_i r_i`` (``r_i`` the residual of sample ``i`` at the
least-squares fit), and deviations from the epoch's fixed point still
contract by ``prod_i m_i``: S is unchanged, a response outlier moves theta
but cannot cause divergence. A leverage outlier multiplies ``x_i`` by ``s``
and changes S by ``log|1 - 2 lr s^2 x_i^2| - log|1 - 2 lr x_i^2|``: S is the
same formula evaluated on the modified ``x``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validation import Array, Described, Interval, ParameterError, message, validate_params
from ._common import (
    LR,
    X_DATASETS,
    _batch,
    _blocked,
    _double_square,
    _frexp,
    _ldexp,
    _log_abs_one_minus,
    _log_abs_one_minus_scaled,
    _over_square,
    _plain_ok,
    _scalar_or_array,
    _two_lr_x2,
)

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "amplify_count",
    "epoch_log_multiplier",
    "gd_threshold",
    "overshoot_count",
    "poles",
    "predicted_error",
    "predicted_steps_to_tol",
]

_EPOCHS = Interval("int", 1, math.inf, "left")
#: Most entries ``(epochs + 1) * n * n_datasets * n_lr`` one :func:`predicted_error` call
#: computes (measured peak: about 40 bytes per entry, so 5.4 GB here).
_MAX_PATH_ENTRIES = 1 << 27
#: Step numbers ``q n + r`` are int64: :func:`predicted_steps_to_tol` needs ``epochs * n`` below this.
_MAX_STEPS = 1 << 62
#: ``e0``: initial errors, broadcast against ``x.shape[:-1] + lr.shape``.
_E0 = Array(ndim=None, nonempty=False)


@validate_params({"x": X_DATASETS, "lr": LR})
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
        (``S ~ -2 lr sum x^2``) down to the float range: a term whose
        ``2 lr x_i^2`` is below the smallest subnormal (about 5e-324)
        contributes 0. Finite for every finite input away from a pole, also
        where ``x_i^2`` or ``2 lr x_i^2`` overflows (``S([1e200, 1], 0.1) =
        919.4...``, from ``log(2 lr) + 2 log|x_i|``) or ``x_i^2`` underflows
        (``2 lr x_i^2`` is formed from the mantissas and exponents of ``lr``
        and ``x_i``, see :mod:`~lrsweep.theory._common`).

    Notes
    -----
    Computed in blocks of at most about ``2**22`` temporaries, so any number
    of datasets times learning rates fits in memory. Inputs whose products
    stay in the normal float range take the plain ``lr * (2 x^2)`` path
    (about twice as fast as the scaled one, with the same bits).

    Examples
    --------
    >>> round(float(epoch_log_multiplier([1.0, 2.0], 0.1)), 6)  # log(0.8) + log(0.2)
    -1.832581
    """
    return _epoch_log_multiplier(x, lr)


def _epoch_log_multiplier(x: NDArray[np.float64], lr: NDArray[np.float64], shift: int = 0) -> Any:
    """:func:`epoch_log_multiplier` of validated float64 arrays (the package's own calls).

    ``shift``: evaluate at ``lr 2**shift`` (for a feature scale ``2**(shift/2)``
    that must not be multiplied into ``x``).
    """
    c, lrf, shape, xf = _batch(x, lr)
    out = _blocked(c, lrf, lambda v: _log_abs_one_minus(v).sum(axis=-1), np.float64,
                   xf, lambda w, k: _log_abs_one_minus_scaled(w, k).sum(axis=-1), shift)
    return _scalar_or_array(out.reshape(shape))


def _count_steps_beyond(x: NDArray[np.float64], lr: NDArray[np.float64], level: float) -> Any:
    """``#{i: lr * (2 x_i^2) > level}`` per dataset and learning rate (validated arrays)."""
    c, lrf, shape, xf = _batch(x, lr)
    out = _blocked(c, lrf, lambda v: np.count_nonzero(v > level, axis=-1), np.int64,
                   xf, lambda w, k: np.count_nonzero(_ldexp(w, k) > level, axis=-1))
    return _scalar_or_array(out.reshape(shape))


@validate_params({"x": X_DATASETS, "lr": LR})
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
        Evaluated as ``lr * (2 x_i^2) > 1`` in float64 (formed without
        intermediate overflow or underflow, so also right for ``|x| = 1e200``
        or ``1e-300``).
    """
    return _count_steps_beyond(x, lr, 1.0)


@validate_params({"x": X_DATASETS, "lr": LR})
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
        Evaluated as ``lr * (2 x_i^2) > 2`` in float64 (without intermediate
        overflow or underflow, as :func:`overshoot_count`).
    """
    return _count_steps_beyond(x, lr, 2.0)


@validate_params({"x": X_DATASETS})
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
        kept); ``inf`` for ``x_i = 0`` and where the pole exceeds the largest
        float (``|x_i| < 5.3e-155``), 0 where it is below the smallest
        subnormal (``|x_i| > 4.5e161``); ``x^2`` is never formed, so the
        poles in between are exact to rounding.
    """
    with np.errstate(divide="ignore"):
        p = _over_square(1.0, 2.0, x)
    return np.sort(p, axis=-1)


@validate_params({"x": X_DATASETS})
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
        ``inf`` for a dataset of zeros or where ``1/mean(x^2)`` exceeds the
        largest float; 0 where it is below the smallest subnormal. The mean
        is taken of ``x`` scaled by a power of two (the same bits as the plain
        formula wherever ``x^2`` does not leave the normal range).
    """
    # scale each dataset by the power of two of its largest |x|: no overflow of x^2
    _, e = _frexp(np.max(np.abs(x), axis=-1, initial=0.0))
    with np.errstate(under="ignore"):
        y = np.ldexp(x, -e[..., None].astype(np.int32))
    mean = np.mean(np.square(y), axis=-1)
    with np.errstate(divide="ignore"):
        return _scalar_or_array(_ldexp(1.0 / mean, -2 * e))


# ----- predicted error trajectory (fixed order) -----


def _epoch_prefix(
    xa: NDArray[np.float64], lra: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.int64], tuple]:
    """Prefix sums ``c_r`` (r = 0..n) of ``log|m_i|`` and of the negative-multiplier count."""
    n = xa.shape[-1]
    c = _double_square(xa)
    shaped = c.shape[:-1] + (1,) * lra.ndim + (n,)
    if _plain_ok(xa, c, float(lra.max()) if lra.size else 0.0):
        v = lra[..., None] * c.reshape(shaped)
        logm = _log_abs_one_minus(v)
    else:  # some x^2 or lr * 2 x^2 leaves the normal range: mantissas and exponents
        w, k = _two_lr_x2(xa.reshape(shaped), lra[..., None])
        v = _ldexp(w, k)
        logm = _log_abs_one_minus_scaled(w, k)
    zeros = np.zeros((*v.shape[:-1], 1))
    cum = np.concatenate([zeros, np.cumsum(logm, axis=-1)], axis=-1)
    neg = np.concatenate([zeros.astype(np.int64), np.cumsum(v > 1.0, axis=-1)], axis=-1)
    return cum, neg, v.shape[:-1]


def _rel_log(q: Any, s: Any, c_r: Any) -> Any:
    """``log|e_{qn+r}/e_0| = q S + c_r`` (``q S`` taken as 0 for ``q = 0`` even if S = -inf)."""
    with np.errstate(invalid="ignore"):
        return np.where(q == 0, 0.0, q * s) + c_r


@validate_params({"x": X_DATASETS, "lr": LR, "e0": _E0, "epochs": _EPOCHS})
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
        Number of epochs (default 1), ``>= 1``, with at most ``2**27`` entries
        ``(epochs + 1) n`` per dataset and learning rate in all (about 5 GB of
        temporaries; a ``ParameterError`` beyond).

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
    e0a = np.asarray(e0, dtype=np.float64)  # the default arrives as given
    ep = epochs
    n = x.shape[-1]
    paths = math.prod(x.shape[:-1] + lr.shape)
    if max(paths, 1) * (ep + 1) * n > _MAX_PATH_ENTRIES:
        allowed = (f"an int with (epochs + 1) * n * n_paths <= 2**27 (n = {n} samples, n_paths = {paths} "
                   "datasets x learning rates; use predicted_steps_to_tol or epoch_log_multiplier "
                   "for longer runs)")
        raise ParameterError(message("epochs", "predicted_error", allowed, epochs))
    cum, neg, bshape = _epoch_prefix(x, lr)
    try:
        e0b = np.broadcast_to(e0a, bshape)
    except ValueError:
        allowed = f"{_E0.description} broadcastable to shape {bshape} (x.shape[:-1] + lr.shape)"
        raise ParameterError(message("e0", "predicted_error", allowed,
                                     Described(f"an array of shape {e0a.shape}"))) from None
    s, n_neg = cum[..., -1:], neg[..., -1:]
    q = np.arange(ep + 1)[:, None]  # (epochs + 1, 1) against r = 0..n-1
    rel = _rel_log(q, s[..., None], cum[..., None, :n])  # (..., epochs + 1, n)
    parity = (q * n_neg[..., None] + neg[..., None, :n]) % 2
    k_total = ep * n + 1
    rel = rel.reshape((*bshape, (ep + 1) * n))[..., :k_total]  # explicit: bshape may hold a 0
    parity = parity.reshape((*bshape, (ep + 1) * n))[..., :k_total]
    with np.errstate(divide="ignore"):
        log_abs = rel + np.log(np.abs(e0b))[..., None]
    sign = (np.sign(e0b)[..., None] * (1 - 2 * parity)).astype(np.int8)
    sign[np.isneginf(log_abs)] = 0
    return log_abs, sign


@validate_params({"x": X_DATASETS, "lr": LR, "tol": Interval("float", 0.0, math.inf, "neither"),
                  "epochs": _EPOCHS})
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
        Number of epochs, ``>= 1``, with ``epochs * n < 2**62`` (step numbers
        are int64; a ``ParameterError`` beyond).

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
    t = math.log(tol)
    ep = epochs
    n = x.shape[-1]
    if ep * n >= _MAX_STEPS:
        allowed = f"an int >= 1 with epochs * n < 2**62 (n = {n} samples; steps are int64)"
        raise ParameterError(message("epochs", "predicted_steps_to_tol", allowed, epochs))
    cum, _, bshape = _epoch_prefix(x, lr)
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
