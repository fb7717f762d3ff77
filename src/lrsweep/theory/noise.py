r"""Noisy data: the stationary variance of the error (mean square) and the bound of shuffled epochs.

With noise the error recursion is affine, ``e <- m e + q`` with ``m = 1 - 2
lr x^2`` and ``q = 2 lr x r`` (``r`` the residual of the sample at the
reference fit: the noise for fresh samples, the least-squares residual for a
fixed dataset). The iterates do not converge to a point; they converge *in
distribution* while the recursion is almost surely contracting (``E log|m|
< 0``, :func:`~lrsweep.theory.population.as_threshold`), and two stationary
quantities tell how far from the solution they stay:

* **Mean square** (``online`` and ``replacement``: ``(m, q)`` i.i.d., ``q``
  independent of ``e``, ``E q = 0`` at the reference fit). ``E e^2`` obeys
  ``E e_{k+1}^2 = E m^2 E e_k^2 + 2 E[m q] E e_k + E q^2`` with ``E e_k -> 0``,
  so it converges iff ``E m^2 < 1`` (the mean-square threshold), to

  .. math:: v = \frac{E q^2}{1 - E m^2}
              = \frac{lr\,E[x^2 r^2]}{E x^2 - lr\,E x^4} .

  Fresh samples ``x ~ N(0, s^2)``, independent noise of sd ``sigma``:
  ``v = lr sigma^2 / (1 - 3 lr s^2)`` (:func:`stationary_variance`), finite
  below ``lr = 1/(3 s^2)`` only. Sampling with replacement from one dataset:
  the dataset's means in place of the expectations (:func:`stationary_variance_dataset`;
  the results' ``noise_rms`` is its square root, :mod:`lrsweep.metrics`).
  Between the mean-square and the almost-sure thresholds the stationary law
  exists but has infinite variance (its tail index,
  :func:`~lrsweep.theory.tails.tail_index`, is at most 2): ``E e_k^2 -> inf``
  while the typical ``|e|`` stays finite.
* **Bounded support** (``shuffle`` and ``fixed``): every epoch multiplies
  ``e`` by the same ``M = prod_i m_i`` and adds ``c(pi) = sum_p q_{pi(p)}
  prod_{p' > p} m_{pi(p')}`` for its order ``pi``, so ``|e|`` at epoch ends is
  bounded by ``C / (1 - |M|)`` with ``C >= max_pi |c(pi)|``
  (:func:`shuffle_error_bound`): no power tail in one dimension.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validation import Array, Described, Interval, NoneOr, ParameterError, message, validate_params
from ._common import LR, X_DATASET, X_DATASETS, X_SCALE, _log_abs_one_minus, _scalar_or_array

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import ArrayLike, NDArray

__all__ = ["shuffle_error_bound", "stationary_variance", "stationary_variance_dataset"]

#: ``noise``: standard deviation of the noise, ``>= 0``, broadcast against ``lr``.
NOISE = Array(0.0, math.inf, "left", ndim=None, nonempty=False)
#: ``y``: the responses of the datasets ``x`` (same shape), finite.
Y_DATASETS = Array(ndim=(1, 2), what="a 1-D array (one dataset) or a 2-D array (n_datasets, n)")
Y_DATASET = Array(ndim=(1,), what="a 1-D array (one dataset)")


def _same_shape(y: NDArray[np.float64], x: NDArray[np.float64], owner: str) -> None:
    if y.shape != x.shape:
        allowed = f"{Y_DATASETS.description} of the shape of x {x.shape}"
        raise ParameterError(message("y", owner, allowed, Described(f"an array of shape {y.shape}")))


@validate_params({"lr": LR, "x_scale": X_SCALE, "noise": NOISE})
def stationary_variance(lr: ArrayLike, x_scale: ArrayLike = 1.0, noise: ArrayLike = 1.0) -> Any:
    r"""Stationary variance of the error of SGD on fresh Gaussian samples with noise.

    The limit of ``E e_k^2`` for ``order="online"``, ``x ~ N(0, s^2)`` and
    responses ``y = a x + eps`` with ``eps ~ N(0, sigma^2)`` independent:

    .. math:: v = \frac{lr\,\sigma^2}{1 - 3\,lr\,s^2}, \qquad lr < \frac{1}{3 s^2},

    the fixed point of ``E e_{k+1}^2 = (1 - 4 lr s^2 + 12 lr^2 s^4) E e_k^2 +
    4 lr^2 s^2 sigma^2`` (module docstring), reached from any ``e_0`` at the
    rate ``(1 - 4 lr s^2 + 12 lr^2 s^4)^k``.

    Parameters
    ----------
    lr : array_like of float
        Learning rates, finite and ``>= 0``.
    x_scale : array_like of float, optional
        Standard deviation ``s`` of the feature (default 1), ``> 0``.
    noise : array_like of float, optional
        Standard deviation ``sigma`` of the noise (default 1), ``>= 0``.

    Returns
    -------
    v : float or ndarray of float, shape ``broadcast(lr, x_scale, noise)``
        ``inf`` at and above the mean-square threshold ``lr = 1/(3 s^2)``
        (:func:`~lrsweep.theory.population.ms_threshold`), where ``E e_k^2``
        grows without bound (with noise from any ``e_0``): between it and
        the almost-sure threshold the stationary law exists with infinite
        variance, above that there is none. 0 for ``lr = 0`` or
        ``noise = 0`` below the threshold. ``inf`` also where ``lr sigma^2``
        overflows.

    Examples
    --------
    >>> round(float(stationary_variance(0.2)), 12)  # 0.2 / (1 - 0.6)
    0.5
    """
    s = np.asarray(x_scale, dtype=np.float64)  # defaults arrive as given, not validated
    noise = np.asarray(noise, dtype=np.float64)
    try:
        shape = np.broadcast_shapes(lr.shape, s.shape, noise.shape)
    except ValueError:
        allowed = f"{NOISE.description} broadcastable against 'lr' and 'x_scale'"
        shapes = f"shapes {lr.shape}, {s.shape} and {noise.shape}"
        raise ParameterError(message("noise", "stationary_variance", allowed,
                                     Described(f"arrays of {shapes}"))) from None
    lr, s, noise = (np.broadcast_to(a, shape) for a in (lr, s, noise))
    with np.errstate(over="ignore", under="ignore"):
        t = 3.0 * lr * s * s  # 3 lr s^2: inf where it overflows (then >= 1)
        num = lr * noise * noise
        ok = t < 1.0
        v = np.where(ok, num / np.where(ok, 1.0 - t, 1.0), math.inf)
    return _scalar_or_array(np.asarray(v, dtype=np.float64))


@validate_params({"x": X_DATASETS, "y": Y_DATASETS, "lr": LR})
def stationary_variance_dataset(x: ArrayLike, y: ArrayLike, lr: ArrayLike) -> Any:
    r"""Stationary variance of the error of SGD sampling with replacement from a fixed dataset.

    .. math:: v = \frac{lr\,\overline{x^2 r^2}}{\overline{x^2} - lr\,\overline{x^4}}

    with bars the means over the dataset and ``r = y - theta_ref x`` the
    residuals at the least-squares fit ``theta_ref = sum x y / sum x^2``
    (no intercept, as the sweeps use): the limit of ``E e_k^2`` over the
    random sample indices for ``order="replacement"`` (module docstring).
    Finite below the dataset's mean-square threshold ``lr <
    mean(x^2) / mean(x^4)``. The results' ``noise_rms`` column is ``sqrt(v)``
    (NaN where ``v`` is infinite).

    Parameters
    ----------
    x, y : array_like of float, shape (n,) or (n_datasets, n)
        One dataset or a stack of datasets (features and responses, the same shape).
    lr : array_like of float, any shape
        Learning rates, finite and ``>= 0``.

    Returns
    -------
    v : float or ndarray of float, shape ``x.shape[:-1] + lr.shape``
        ``inf`` at and above the dataset's mean-square threshold (also for a
        dataset of zeros, which never contracts); 0 at ``lr = 0``. The
        moments are formed with ``x`` scaled by its largest ``|x|``, so they
        do not overflow for large features.

    Examples
    --------
    >>> x, y = [1.0, -1.0, 2.0], [1.5, -0.5, 2.0]
    >>> round(float(stationary_variance_dataset(x, y, 0.1)), 6)  # 0.1 (1/6) / (2 - 0.1 * 6)
    0.011905
    """
    _same_shape(y, x, "stationary_variance_dataset")
    out_shape = x.shape[:-1] + lr.shape
    xf = x.reshape(-1, x.shape[-1])
    yf = y.reshape(-1, y.shape[-1])
    scale = np.max(np.abs(xf), axis=-1, keepdims=True)
    safe = np.where(scale > 0, scale, 1.0)
    xs = xf / safe  # |xs| <= 1: no overflow below
    with np.errstate(over="ignore", invalid="ignore"):
        sxx = np.sum(xs * xs, axis=-1, keepdims=True)
        ref = np.where(sxx > 0, np.sum(xs * yf, axis=-1, keepdims=True) / np.where(sxx > 0, sxx, 1.0), 0.0)
        r = yf - ref * xs  # theta_ref x = (ref / scale) (scale xs)
        c = np.mean(xs * xs * r * r, axis=-1)  # mean(x^2 r^2) / scale^2
        m2 = np.mean(xs * xs, axis=-1)  # mean(x^2) / scale^2
        m4 = np.mean(xs ** 4, axis=-1)  # mean(x^4) / scale^4
        lrf = lr.reshape(-1)
        s2 = (scale[:, 0] ** 2)[:, None]
        # v = lr c / (m2 - lr scale^2 m4) in the scaled moments
        denom = m2[:, None] - lrf[None, :] * s2 * m4[:, None]
        ok = denom > 0
        num = lrf[None, :] * c[:, None]
        v = np.where(ok, num / np.where(ok, denom, 1.0), math.inf)
        v[:, lrf == 0] = 0.0
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
