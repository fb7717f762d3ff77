r"""With noise: the stationary mean-square error (batches, momentum) and the bound of shuffled epochs.

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

The iterates do not converge to a point; they converge *in distribution*
while the recursion is almost surely contracting
(:func:`~lrsweep.theory.population.as_threshold`). Between the mean-square
and the almost-sure thresholds the stationary law exists but has infinite
variance (its tail index, :func:`~lrsweep.theory.tails.tail_index`, is at
most 2): ``E e_k^2 -> inf`` while the typical ``|e|`` stays finite. For one
dataset, :func:`dataset_stationary_mse` takes its moments (the results'
``noise_rms`` is its square root at ``B = 1``, ``beta = 0``).

**Bounded support** (``shuffle`` and ``fixed``): every epoch multiplies
  ``e`` by the same ``M = prod_i m_i`` and adds ``c(pi) = sum_p q_{pi(p)}
  prod_{p' > p} m_{pi(p')}`` for its order ``pi``, so ``|e|`` at epoch ends is
  bounded by ``C / (1 - |M|)`` with ``C >= max_pi |c(pi)|``
  (:func:`shuffle_error_bound`): no power tail in one dimension.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validation import (
    Array,
    Boolean,
    Described,
    Interval,
    NoneOr,
    ParameterError,
    message,
    validate_params,
)
from ._common import (
    BATCH_SIZES,
    LR,
    X_DATASET,
    X_DATASETS,
    X_SCALE,
    _broadcast,
    _IntArray,
    _log_abs_one_minus,
    _scalar_or_array,
)
from .momentum import MOMENTUM
from .population import _u_of

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import ArrayLike, NDArray

__all__ = ["dataset_stationary_mse", "population_stationary_mse", "shuffle_error_bound", "stationary_mse"]

_POSITIVE = Array(0.0, math.inf, "neither", ndim=None, nonempty=False)
_NONNEGATIVE = Array(0.0, math.inf, "left", ndim=None, nonempty=False)
#: ``y``: the responses of the datasets ``x`` (same shape), finite.
Y_DATASETS = Array(ndim=(1, 2), what="a 1-D array (one dataset) or a 2-D array (n_datasets, n)")
Y_DATASET = Array(ndim=(1,), what="a 1-D array (one dataset)")


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


#: ``coordinates``: p = d features (+ 1 for a learned bias); the theory takes any d, like ``N_FEATURES``.
COORDINATES = _IntArray(1, 2**20, "both", ndim=None, nonempty=False)


@validate_params({**_MOMENTS, "nesterov": Boolean(), "coordinates": COORDINATES})
def stationary_mse(m2: ArrayLike, m4: ArrayLike, m2r2: ArrayLike, lr: ArrayLike, batch_size: ArrayLike = 1,
                   momentum: ArrayLike = 0.0, nesterov: bool = False, coordinates: ArrayLike = 1) -> Any:
    r"""Stationary ``E e^2`` of SGD with noise, batches of ``B`` drawn with replacement, and momentum.

    .. math:: E e^2 = \frac{lr\,m_{2r2}\,(1 + \beta + 2\delta\gamma\,m_2\,lr)}{B\,D(lr)},
              \quad D = m_2 (1 - \beta^2) - lr\bigl((1+\beta) E' - 2\gamma m_2^2\bigr)
                        - 2\delta\gamma\,m_2 E'\,lr^2

    with ``E' = m4/B + (1 - 1/B) m2^2`` (module docstring). For a dataset
    pass its moments ``m2 = mean(x^2)``, ``m4 = mean(x^4)``, ``m2r2 =
    mean(x^2 r^2)`` (``r = y - theta_ref x``, ``theta_ref`` the least-squares
    fit): exact for the ``replacement`` and ``online`` orders, the scale of
    the noise floor for ``fixed`` and ``shuffle``.

    With ``p = coordinates > 1`` (``d`` features, ``+ 1`` for a bias, the
    input ``z = x`` or ``(x, 1)``) pass ``m2 = E ||z||^2``, ``m4 = E ||z||^4``
    and ``m2r2 = E r^2 ||z||^2``; the result is ``E ||e||^2`` under the
    *isotropic closure* ``E e e^T = (E ||e||^2 / p) I`` (and likewise for the
    momentum moments), which turns the recursion into ``p`` copies of the
    one-coordinate one with moments ``m2 / p``, ``m4 / p``, ``m2r2 / p`` and
    ``m2^2 -> (m2 / p)^2``:

    .. math:: E \|e\|^2 = p\, f\bigl(m_2/p,\ m_4/p,\ m_{2r2}/p\bigr)

    with ``f`` the one-coordinate closed form. It is exact for a
    rotation-invariant input (``x ~ N(0, s^2 I_d)`` without a bias: ``lr
    sigma^2 d / (1 - (d + 2) lr s^2)`` at ``B = 1``, ``beta = 0``, vanishing
    at the mean-square threshold of
    :func:`~lrsweep.theory.features_ms.isotropic_ms_threshold`) and the
    scale otherwise; for fresh Gaussian inputs with unequal scales or a bias
    :func:`~lrsweep.theory.features_ms.feature_stationary_mse` is exact. The
    engine's noise floor in ``d`` dimensions is this closure on the
    dataset's moments. ``p = 1`` is the formula above, to the same bits.

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
    coordinates : array_like of int, optional
        ``p >= 1`` (default 1): coordinates of the model (above).

    Returns
    -------
    mse : float or ndarray of float, shape of the broadcast arguments
        ``E e^2`` (``E ||e||^2``) inside the mean-square region (``D > 0``), ``inf`` outside
        and on its boundary (the second moment grows without bound there).
        ``B = 1``, ``beta = 0`` gives ``lr m2r2 / (m2 - lr m4)`` with the
        bits of ``lrsweep.engine.chunk.noise_floor``. Intermediate products
        such as ``m2^2`` and ``lr m4`` are plain float64 (moments of data
        within about ``1e75`` in modulus).
    """
    args = {"m2": (m2, _POSITIVE), "m4": (m4, _POSITIVE), "m2r2": (m2r2, _NONNEGATIVE), "lr": (lr, LR),
            "batch_size": (batch_size, BATCH_SIZES), "momentum": (momentum, MOMENTUM),
            "coordinates": (coordinates, COORDINATES)}
    *a, p = (v.astype(np.float64) for v in _broadcast("stationary_mse", args))
    return _scalar_or_array(_closure(*a, nesterov, p))


def _closure(m2: Any, m4: Any, m2r2: Any, lr: Any, b: Any, beta: Any, nesterov: bool,
                      p: Any) -> NDArray[np.float64]:
    """:func:`stationary_mse` of ``p`` coordinates on float64 arrays (``p`` times :func:`_stationary`).

    Shared with the engine's noise floor (:func:`lrsweep.engine.chunk.noise_floor`),
    so that both evaluate the same operations; ``p = 1`` divides and
    multiplies by 1, which keeps the one-coordinate bits.
    """
    with np.errstate(all="ignore"):  # inf stays inf; the moments are finite and p >= 1
        return p * _stationary(m2 / p, m4 / p, m2r2 / p, lr, b, beta, nesterov)


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


@validate_params({"x": X_DATASETS, "y": Y_DATASETS, "lr": LR, "batch_size": BATCH_SIZES,
                  "momentum": MOMENTUM, "nesterov": Boolean()})
def dataset_stationary_mse(x: ArrayLike, y: ArrayLike, lr: ArrayLike, batch_size: ArrayLike = 1,
                           momentum: ArrayLike = 0.0, nesterov: bool = False) -> Any:
    r"""Stationary ``E e^2`` of SGD sampling batches with replacement from a fixed dataset.

    :func:`stationary_mse` at the dataset's moments ``m2 = mean(x^2)``, ``m4 =
    mean(x^4)``, ``m2r2 = mean(x^2 r^2)``, ``r = y - theta_ref x`` the
    residuals at the least-squares fit ``theta_ref = sum x y / sum x^2`` (no
    intercept, as the sweeps use). ``B = 1``, ``beta = 0``:

    .. math:: v = \frac{lr\,\overline{x^2 r^2}}{\overline{x^2} - lr\,\overline{x^4}},

    finite below the dataset's mean-square threshold ``mean(x^2) / mean(x^4)``;
    the results' ``noise_rms`` is ``sqrt(v)`` (NaN where ``v`` is infinite).

    Parameters
    ----------
    x, y : array_like of float, shape (n,) or (n_datasets, n)
        One dataset or a stack of datasets (features and responses, the same shape).
    lr : array_like of float, any shape
        Learning rates, finite and ``>= 0``.
    batch_size : int, optional
        ``B >= 1`` (default 1), one value.
    momentum : float, optional
        ``beta`` in ``[0, 1)`` (default 0), one value.
    nesterov : bool, optional
        Nesterov instead of heavy ball (default False).

    Returns
    -------
    v : float or ndarray of float, shape ``x.shape[:-1] + lr.shape``
        ``inf`` at and above the mean-square threshold (also for a dataset
        of zeros, which never contracts); 0 at ``lr = 0``. The moments are
        formed with ``x`` scaled by its largest ``|x|`` (``E e^2`` is
        ``_stationary`` of the scaled moments at ``lr scale^2``, divided by
        ``scale^2``), so they do not overflow for large features.

    Examples
    --------
    >>> x, y = [1.0, -1.0, 2.0], [1.5, -0.5, 2.0]
    >>> round(float(dataset_stationary_mse(x, y, 0.1)), 6)  # 0.1 (1/6) / (2 - 0.1 * 6)
    0.011905
    """
    owner = "dataset_stationary_mse"
    if y.shape != x.shape:
        allowed = f"{Y_DATASETS.description} of the shape of x {x.shape}"
        raise ParameterError(message("y", owner, allowed, Described(f"an array of shape {y.shape}")))
    if np.ndim(batch_size) or np.ndim(momentum):
        allowed = "one batch size and one momentum (broadcast over lr only)"
        raise ParameterError(message("batch_size", owner, allowed, Described("arrays")))
    out_shape = x.shape[:-1] + lr.shape
    xf = x.reshape(-1, x.shape[-1])
    yf = y.reshape(-1, y.shape[-1])
    scale = np.max(np.abs(xf), axis=-1, keepdims=True)
    safe = np.where(scale > 0, scale, 1.0)
    xs = xf / safe  # |xs| <= 1: no overflow below
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        sxx = np.sum(xs * xs, axis=-1, keepdims=True)
        ref = np.where(sxx > 0, np.sum(xs * yf, axis=-1, keepdims=True) / np.where(sxx > 0, sxx, 1.0), 0.0)
        r = yf - ref * xs  # theta_ref x = (ref / scale) (scale xs)
        c = np.mean(xs * xs * r * r, axis=-1)[:, None]  # mean(x^2 r^2) / scale^2
        m2 = np.mean(xs * xs, axis=-1)[:, None]  # mean(x^2) / scale^2
        m4 = np.mean(xs ** 4, axis=-1)[:, None]  # mean(x^4) / scale^4
        s2 = safe ** 2
        lrf = lr.reshape(1, -1)
        b, beta = np.float64(batch_size), np.float64(momentum)
        v = _stationary(m2, m4, c, lrf * s2, b, beta, bool(nesterov)) / s2
        v = np.where(lrf == 0, 0.0, v)
    return _scalar_or_array(v.reshape(out_shape))


@validate_params({"x": X_DATASET, "y": Y_DATASET, "lr": LR,
                  "e0": Interval("float", -math.inf, math.inf, "neither"),
                  "epochs": NoneOr(Interval("int", 1, 2**62, "both"))})
def shuffle_error_bound(x: ArrayLike, y: ArrayLike, lr: ArrayLike, e0: float = 0.0,
                        epochs: int | None = None) -> Any:
    r"""Bound on ``|e|`` at the end of an epoch for shuffled (or fixed-order) epochs over one dataset.

    Each epoch maps ``e`` to ``M e + c(pi)`` with ``M = prod_i (1 - 2 lr
    x_i^2)`` and ``c(pi) = sum_p q_{pi(p)} prod_{p' > p} m_{pi(p')}`` for its
    sample order ``pi`` (``q_i = 2 lr x_i r_i``, ``r`` the least-squares
    residuals). With ``C = max_pi sum_p |q_{pi(p)}| prod_{p' > p}
    |m_{pi(p')}| >= max_pi |c(pi)|``,

    .. math:: |e_E| \le |M|^E |e_0| + C \frac{1 - |M|^E}{1 - |M|}
              \quad\text{and}\quad \sup |e| \le \frac{C}{1 - |M|}
              \ \text{(stationary, } |M| < 1\text{)} .

    ``C`` is computed exactly: an adjacent swap of samples ``j, k`` does not
    lower the sum iff ``|q_j| (|m_k| - 1) >= |q_k| (|m_j| - 1)``, so the
    samples sorted by ``(|m_i| - 1) / |q_i|`` (increasing) maximise it. The
    triangle inequality makes the result an upper bound on the support, not
    the support's end itself.

    Parameters
    ----------
    x, y : array_like of float, shape (n,)
        One dataset: features and responses.
    lr : array_like of float, any shape
        Learning rates, finite and ``>= 0``.
    e0 : float, optional
        Initial error ``theta0 - theta_ref`` (default 0).
    epochs : int, optional
        Bound after this many epochs; default the stationary bound (over
        every number of epochs, ``e0`` forgotten).

    Returns
    -------
    bound : float or ndarray of float, shape of ``lr``
        ``inf`` where the stationary bound does not exist (``|M| >= 1``, an
        unstable dataset) or a term leaves the float range.

    Examples
    --------
    >>> x, y = np.array([1.0, -1.0, 2.0]), np.array([1.5, -0.5, 2.0])
    >>> round(float(shuffle_error_bound(x, y, 0.1)), 6)
    0.206422
    """
    owner = "shuffle_error_bound"
    if y.shape != x.shape:
        allowed = f"{Y_DATASET.description} of the length of x ({x.shape[0]})"
        raise ParameterError(message("y", owner, allowed, Described(f"an array of shape {y.shape}")))
    sxx = float(np.dot(x, x))
    ref = float(np.dot(x, y)) / sxx if sxx > 0 else 0.0  # data.least_squares
    r = y - ref * x
    out = np.empty(lr.size)
    for j, lr_j in enumerate(lr.reshape(-1)):
        out[j] = _shuffle_bound_one(x, r, float(lr_j), e0, epochs)
    return _scalar_or_array(out.reshape(lr.shape))


def _shuffle_bound_one(x: NDArray[np.float64], r: NDArray[np.float64], lr: float, e0: float,
                       epochs: int | None) -> float:
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        log_a = _log_abs_one_minus(2.0 * lr * x * x)  # log|m_i|; -inf at a pole
        w = np.abs(2.0 * lr * x * r)  # |q_i|
        a_minus_1 = np.expm1(log_a)
        key = np.where(w > 0, a_minus_1 / np.where(w > 0, w, 1.0), np.sign(a_minus_1) * math.inf)
        order = np.argsort(np.nan_to_num(key, nan=0.0), kind="stable")
        la = log_a[order]
        # log of prod_{p' > p} |m_{pi(p')}|: reversed exclusive cumulative sums
        suffix = np.concatenate([np.cumsum(la[::-1])[::-1][1:], [0.0]])
        terms = np.log(w[order]) + suffix
        top = float(np.max(terms)) if terms.size else -math.inf
        log_c = top + math.log(float(np.sum(np.exp(terms - top)))) if np.isfinite(top) else -math.inf
        s = float(np.sum(log_a))  # log|M| = S(lr)
        if epochs is None:
            if not s < 0:
                return math.inf
            return float(np.exp(log_c - math.log(-math.expm1(s)))) if s > -math.inf else float(np.exp(log_c))
        # geometric sum 1 + |M| + ... + |M|^(E-1) = expm1(E s) / expm1(s)
        if s == 0:
            geo = float(epochs)
        elif s == -math.inf:
            geo = 1.0
        else:
            geo = float(math.expm1(epochs * s) / math.expm1(s)) if epochs * s < 700 else math.inf
        start = float(np.exp(epochs * s + math.log(abs(e0)))) if e0 != 0 else 0.0
        return start + (float(np.exp(log_c)) * geo if log_c > -math.inf else 0.0)
