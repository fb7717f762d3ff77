r"""With noise: the stationary mean-square error of SGD with mini-batches and momentum.

Samples drawn afresh each step (``online``), or ``B`` at a time with
replacement from a fixed dataset (``replacement``): the pairs ``(A_t,
b_t)`` (batch means of ``2 x_i^2`` and ``2 x_i r_i``, ``r_i = y_i - ref
x_i``) are i.i.d. and independent of the state, so the recursion of
:mod:`~lrsweep.theory.momentum`,

.. math:: s_{t+1} = T(X_t)\,s_t + lr\,b_t\,(\kappa, -1)^T, \qquad s = (e, lr\,v),

drives the second moments ``(E e^2, E e w, E w^2)`` by ``M`` plus the
forcing ``lr^2 E b^2 (kappa^2, -kappa, 1)``. The cross terms
``E[(1 - kappa X) b] E e`` and ``E b E w`` vanish at stationarity, where
``E e = E w = 0`` (the mean recursion is forced by ``E b = 2 mean(x r) = 0``
at the least-squares ``ref``, and is stable wherever the second moments
are). Solving the 3 x 3 system in closed form (exact algebra, checked in
the tests against a numerical solve and against simulation):

.. math:: E e^2 = \frac{lr\,m_{2r2}\,\bigl(1 + \beta + 2\,\delta\,\gamma\,m_2\,lr\bigr)}
                       {B\,D(lr)},

with ``D`` the mean-square determinant of
:mod:`~lrsweep.theory.momentum` (``gamma = beta, delta = 0`` heavy ball;
``gamma = beta (1 + 2 beta), delta = 1`` Nesterov), ``m2 = E x^2``,
``E' = m4/B + (1 - 1/B) m2^2`` and ``E b^2 = 4 m2r2 / B``
(``m2r2 = E x^2 r^2``; the batch's cross terms vanish because
``mean(x r) = 0``). It exists iff ``D > 0``, i.e. inside the mean-square
region ``0 <= lr < lr_c``; outside, ``E e_t^2`` grows without bound and the
functions return ``inf`` (never NaN).

``B = 1``, ``beta = 0``: ``E e^2 = lr m2r2 / (m2 - lr m4)``, the fixed point
of ``E e^2 <- E(1 - 2 lr x^2)^2 E e^2 + 4 lr^2 m2r2`` that the engine uses
as its noise floor (``noise_rms``), to the same bits.

Population (``X ~ N(0, s^2)``, ``y = a x + sigma Z``): ``m2 = s^2``,
``m4 = 3 s^4``, ``m2r2 = s^2 sigma^2``, so ``E e^2 = (sigma/s)^2 f(lr s^2)``
with ``f`` the closed form at ``m2 = m4/3 = m2r2 = 1``; at ``B = 1``,
``beta = 0``: ``sigma^2 lr / (1 - 3u)``, ``u = lr s^2``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validation import Array, Boolean, validate_params
from ._common import BATCH_SIZES, LR, X_SCALE, _broadcast, _scalar_or_array
from .momentum import MOMENTUM
from .population import _u_of

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import ArrayLike, NDArray

__all__ = ["population_stationary_mse", "stationary_mse"]

_POSITIVE = Array(0.0, math.inf, "neither", ndim=None, nonempty=False)
_NONNEGATIVE = Array(0.0, math.inf, "left", ndim=None, nonempty=False)


def _stationary(m2: Any, m4: Any, m2r2: Any, lr: Any, b: Any, beta: Any,
                nesterov: bool) -> NDArray[np.float64]:
    """The closed form of the module docstring on broadcast float64 arrays; ``inf`` where ``D <= 0``."""
    with np.errstate(all="ignore"):  # inf and NaN of the region's outside are replaced below
        e2 = m4 / b + (1.0 - 1.0 / b) * (m2 * m2)
        gamma = beta * (1.0 + 2.0 * beta) if nesterov else beta
        denom = m2 * ((1.0 - beta) * (1.0 + beta)) - lr * ((1.0 + beta) * e2 - 2.0 * gamma * (m2 * m2))
        num = 1.0 + beta
        if nesterov:
            denom = denom - 2.0 * gamma * m2 * e2 * (lr * lr)
            num = num + 2.0 * gamma * m2 * lr
        v = lr * m2r2 * num / (b * denom)
        inside = (denom > 0.0) & ~np.isnan(v)
        return np.where(inside, v, np.inf)


_MOMENTS = {"m2": _POSITIVE, "m4": _POSITIVE, "m2r2": _NONNEGATIVE, "lr": LR, "batch_size": BATCH_SIZES,
            "momentum": MOMENTUM}


@validate_params({**_MOMENTS, "nesterov": Boolean()})
def stationary_mse(m2: ArrayLike, m4: ArrayLike, m2r2: ArrayLike, lr: ArrayLike, batch_size: ArrayLike = 1,
                   momentum: ArrayLike = 0.0, nesterov: bool = False) -> Any:
    r"""Stationary ``E e^2`` of SGD with noise, batches of ``B`` drawn with replacement, and momentum.

    .. math:: E e^2 = \frac{lr\,m_{2r2}\,(1 + \beta + 2\delta\gamma\,m_2\,lr)}{B\,D(lr)},
              \quad D = m_2 (1 - \beta^2) - lr\bigl((1+\beta) E' - 2\gamma m_2^2\bigr)
                        - 2\delta\gamma\,m_2 E'\,lr^2

    with ``E' = m4/B + (1 - 1/B) m2^2`` (module docstring). For a dataset
    pass its moments ``m2 = mean(x^2)``, ``m4 = mean(x^4)``, ``m2r2 =
    mean(x^2 r^2)`` (``r = y - theta_ref x``, ``theta_ref`` the least-squares
    fit): exact for the ``replacement`` and ``online`` orders, the scale of
    the noise floor for ``fixed`` and ``shuffle``.

    Parameters
    ----------
    m2, m4 : array_like of float
        ``E x^2 > 0`` and ``E x^4 > 0`` (``m4 >= m2^2`` for moments of one
        distribution; not checked).
    m2r2 : array_like of float
        ``E x^2 r^2 >= 0`` (0 without noise: then ``E e^2 = 0`` inside the
        region).
    lr : array_like of float
        Learning rates, finite and ``>= 0``.
    batch_size : array_like of int, optional
        ``B >= 1`` (default 1).
    momentum : array_like of float, optional
        ``beta`` in ``[0, 1)`` (default 0).
    nesterov : bool, optional
        Nesterov instead of heavy ball (default False).

    Returns
    -------
    mse : float or ndarray of float, shape of the broadcast arguments
        ``E e^2`` inside the mean-square region (``D > 0``), ``inf`` outside
        and on its boundary (the second moment grows without bound there).
        ``B = 1``, ``beta = 0`` gives ``lr m2r2 / (m2 - lr m4)`` with the
        bits of ``lrsweep.engine.chunk.noise_floor``. Intermediate products
        such as ``m2^2`` and ``lr m4`` are plain float64 (moments of data
        within about ``1e75`` in modulus).
    """
    args = {"m2": (m2, _POSITIVE), "m4": (m4, _POSITIVE), "m2r2": (m2r2, _NONNEGATIVE), "lr": (lr, LR),
            "batch_size": (batch_size, BATCH_SIZES), "momentum": (momentum, MOMENTUM)}
    a = [v.astype(np.float64) for v in _broadcast("stationary_mse", args)]
    return _scalar_or_array(_stationary(*a, nesterov))


@validate_params({"lr": LR, "noise": _NONNEGATIVE, "x_scale": X_SCALE, "batch_size": BATCH_SIZES,
                  "momentum": MOMENTUM, "nesterov": Boolean()})
def population_stationary_mse(lr: ArrayLike, noise: ArrayLike, x_scale: ArrayLike = 1.0,
                              batch_size: ArrayLike = 1, momentum: ArrayLike = 0.0,
                              nesterov: bool = False) -> Any:
    r"""Stationary ``E e^2`` of fresh-sample SGD on ``y = a x + sigma Z``, ``x ~ N(0, s^2)``.

    :func:`stationary_mse` with ``m2 = s^2``, ``m4 = 3 s^4``, ``m2r2 = s^2
    sigma^2``, evaluated as ``(sigma/s)^2 f(u)`` at ``u = lr s^2`` (``f`` the
    closed form with unit moments; no ``s^4`` is formed). ``B = 1``, ``beta =
    0``: ``sigma^2 lr / (1 - 3 u)``.

    Parameters
    ----------
    lr : array_like of float
        Learning rates, finite and ``>= 0``.
    noise : array_like of float
        Noise standard deviation ``sigma >= 0``.
    x_scale : array_like of float, optional
        Standard deviation ``s`` of the feature (default 1), ``> 0``.
    batch_size : array_like of int, optional
        ``B >= 1`` (default 1).
    momentum : array_like of float, optional
        ``beta`` in ``[0, 1)`` (default 0).
    nesterov : bool, optional
        Nesterov instead of heavy ball (default False).

    Returns
    -------
    mse : float or ndarray of float, shape of the broadcast arguments
        ``inf`` outside the mean-square region
        (:func:`~lrsweep.theory.momentum.momentum_ms_threshold`).
    """
    lr_b, sig, s, b, beta = _broadcast("population_stationary_mse", {
        "lr": (lr, LR), "noise": (noise, _NONNEGATIVE), "x_scale": (x_scale, X_SCALE),
        "batch_size": (batch_size, BATCH_SIZES), "momentum": (momentum, MOMENTUM)})
    u = 0.5 * _u_of(lr_b, s.astype(np.float64))[0]
    one = np.ones(u.shape)
    f = _stationary(one, 3.0 * one, one, u, b.astype(np.float64), beta.astype(np.float64), nesterov)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        ratio = sig.astype(np.float64) / s.astype(np.float64)
        out = np.where(np.isinf(f), np.inf, np.square(ratio) * f)
    return _scalar_or_array(out)
