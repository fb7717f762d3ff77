r"""Heavy tails of SGD with noise: the tail index, for fresh samples and for a fixed dataset.

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
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validation import validate_params
from ._common import (
    _BLOCK_ELEMENTS,
    _EPS,
    _HUGE,
    LR,
    X_DATASETS,
    X_SCALE,
    _batch,
    _brent_root,
    _log_abs_one_minus,
    _log_abs_one_minus_scaled,
    _plain_ok,
    _scalar_or_array,
    _two_lr_x2,
)
from .population import _U_BIG, _gauss_expect, _log_moments, _phi_log, _u_checked

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import ArrayLike, NDArray

__all__ = ["tail_index", "tail_index_dataset"]

#: Tail indices above this are reported as inf (reached only for lr -> 0).
_ALPHA_MAX = 1e6


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

        # the integrand beyond z0 is below exp(f_star): with f_star < -1e6 (u below about
        # 5e-7) it is 0 in floats, and z0 + 1 may round to z0 (u < 1e-32)
        return math.log1p(_gauss_expect(u, g, peak=z_star if f_star > -1e6 else 0.0))
    return f_star + math.log(
        _gauss_expect(u, lambda z, ell: math.exp(a * ell + _phi_log(z) - f_star), peak=z_star)
    )



def _tail_index_u(u: float) -> float:
    if u < 1e-7:  # alpha ~ 1.80/u > 1e6 (reported as inf); h(a) ~ -a u may underflow to 0 here
        return math.inf
    if u >= _U_BIG or _log_moments(u)[0] >= 0.0:  # h'(0) = L >= 0: no positive root (no stationary law)
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


@validate_params({"lr": LR, "x_scale": X_SCALE})
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
        :func:`~lrsweep.theory.population.as_threshold`. ``nan`` at and above the a.s. threshold
        (``L >= 0``), where SGD has no stationary law. Accuracy about 1e-10
        relative.

    Notes
    -----
    The tail only exists with noise (otherwise ``e_k -> 0`` a.s.). Each value
    costs a few dozen quadratures (tens of milliseconds).
    """
    u, _ = _u_checked(lr, x_scale, "tail_index")
    out = np.array([_tail_index_u(float(v)) for v in u.ravel()]).reshape(u.shape)
    return _scalar_or_array(out)


@validate_params({"x": X_DATASETS, "lr": LR})
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
    0 (poles) contribute nothing for ``a > 0``. Extreme inputs: ``log|m_i|``
    is formed without overflow (finite for every finite ``x`` and ``lr``);
    where ``a_0`` exceeds the largest float (``max log|m_i| < 1e-307``) Newton
    starts there, and an index beyond it is reported as ``inf``.
    """
    c, lrf, shape, xf = _batch(x, lr)
    n = c.shape[-1]
    out = np.empty((c.shape[0], lrf.size))
    step = max(1, _BLOCK_ELEMENTS // (4 * n))
    plain = _plain_ok(xf, c, float(lrf.max()) if lrf.size else 0.0)
    for j, lr_j in enumerate(lrf):
        for d0 in range(0, c.shape[0], step):
            if plain:
                logm = _log_abs_one_minus(lr_j * c[d0 : d0 + step])  # (d, n)
            else:  # 2 lr x^2 from mantissas and exponents (see _common)
                logm = _log_abs_one_minus_scaled(*_two_lr_x2(xf[d0 : d0 + step], lr_j))
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
    with np.errstate(over="ignore"):
        a = (log_n + 1.0) / lm
    # a tiny max log|m| (a multiplier a hair above 1 in modulus): start at the largest float;
    # if h_n is still <= 0 there, the root exceeds it (reported as inf, an overflow)
    clipped = ~(a <= _HUGE)
    a[clipped] = _HUGE
    h = np.zeros(a.shape)
    with np.errstate(over="ignore"):
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
    a[clipped & (a == _HUGE) & (h < 0)] = math.inf
    res[live] = a
    return res

