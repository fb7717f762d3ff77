r"""d features, fresh Gaussian samples: exact mean-square thresholds (diagonal covariance, any B, bias).

Fresh samples ``x ~ N(0, Lambda)``, ``Lambda = diag(s_1^2, ..., s_d^2)``
(isotropic: ``s^2 I_d``; geometric variances: :func:`condition_scales`),
extended to ``z = (x, 1)`` with a bias; a step multiplies the error by ``F =
I - 2 lr A``, ``A = (1/B) sum_{i<=B} z_i z_i^T``.

Mean square, diagonal covariance, any ``B``, with or without a bias
-------------------------------------------------------------------
``Sigma = E e e^T`` evolves by ``Sigma -> E[F Sigma F]``. With ``D = E A =
diag(m)`` (``m_j = s_j^2``, and 1 for the bias) and Isserlis' theorem
(``E[x x^T S x x^T] = 2 Lambda S Lambda + tr(Lambda S) Lambda`` for Gaussian
``x``; the bias coordinate is constant, its fourth moment 1, not 3):

.. math:: E[A \Sigma A] = (1 - \tfrac1B) D \Sigma D + \tfrac1B E[(z^T \Sigma z) z z^T] .

The map sends diagonal matrices to diagonal ones and off-diagonal ones to
off-diagonal ones (every odd moment vanishes); it preserves the cone of
positive semi-definite matrices, whose Perron eigenvector (Krein-Rutman)
has a positive trace and hence a nonzero diagonal. So ``E ||e_t||^2``
converges iff the Perron root of the ``p x p`` nonnegative matrix acting on
``diag(Sigma)`` is below 1 (:func:`feature_ms_radius`):

.. math:: K = \mathrm{diag}(a_j) + \tfrac{4 lr^2}{B}\, m m^T, \quad
          a_j = (1 - 2 lr m_j)^2 + \tfrac{4 lr^2}{B} (2 g_j - 1) m_j^2

(``g_j = 1`` for a Gaussian feature, 0 for the bias). Diagonal plus a
positive rank one: its Perron root is below 1 iff every ``a_j < 1`` and
``(4 lr^2/B) sum_j m_j^2/(1 - a_j) < 1``, that is

.. math:: h(lr) = \frac{lr}{B} \Bigl(\sum_{j \le d} \frac{s_j^2}{1 - (1 + \frac1B) lr\,s_j^2}
          + \frac{[\text{bias}]}{1 - (1 - \frac1B) lr}\Bigr) < 1 .

``h`` increases from 0 to ``inf`` on ``(0, 1/((1 + 1/B) max_j m_j))``, so the
mean-square threshold is its unique root there (:func:`feature_ms_threshold`,
Brent's method). In particular ``E A^2 = s^4 (1 + (d + 1)/B) I`` for the
isotropic case without a bias, and

.. math:: lr_{ms} = \frac{B}{s^2 (B + d + 1)}

(``1/(s^2 (d + 2))`` at ``B = 1``, :func:`~lrsweep.theory.batches.batch_ms_threshold`
at ``d = 1``); with a bias the equation is a quadratic, ``lr_ms = 2 / (1 +
s^2 q + sqrt((1 - s^2 q)^2 + 4 s^2 d / B^2))``, ``q = 1 + (d + 1)/B``
(:func:`isotropic_ms_threshold`, closed forms; 0.2929 at ``d = 1, B = 1, s =
1`` against 1/3 without a bias). Values (``s = 1``, ``B = 1``), ``d = 1, 2, 5,
10, 32, 64``: ``1/3, 1/4, 1/7, 1/12, 1/34, 1/66`` without and ``0.29289,
0.21922, 0.12917, 0.077856, 0.028618, 0.014932`` with a bias. For variances
geometric between ``s^2`` and ``kappa s^2`` (:func:`condition_scales`) the
threshold is set by the largest ones: at ``d = 10``, ``0.018567`` for ``kappa =
10`` and ``0.0025553`` for ``kappa = 100`` (``1/12`` isotropic).

With noise: the stationary error
--------------------------------
For ``y = w . x + b + sigma Z`` the error gains ``(2 lr/B) sum_i z_i
sigma Z_i`` per step, independent of ``e`` and of mean zero, so
``diag(Sigma)`` obeys ``d <- K d + f`` with ``f_j = 4 lr^2 sigma^2 m_j / B``.
Inside the mean-square region its fixed point ``(I - K)^{-1} f`` follows from
Sherman-Morrison (``I - K`` is diagonal minus a rank one), and its trace is

.. math:: E \|e\|^2 = \frac{\sigma^2\, k(lr)}{1 - h(lr)}, \qquad
          k(lr) = \frac{lr}{B} \sum_j \frac{1}{1 - c_j\, lr\, m_j}

with ``h`` as above and ``c_j = 1 + 1/B`` for a Gaussian feature, ``1 - 1/B``
for the bias (:func:`feature_stationary_mse`). Isotropic, ``B = 1``, no bias:
``sigma^2 lr d / (1 - (d + 2) lr s^2)``; ``d = 1``: the one-feature
``sigma^2 lr / (1 - 3 lr s^2)`` of :func:`~lrsweep.theory.noise.population_stationary_mse`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validation import Array, Boolean, Interval, validate_params
from ._common import BATCH_SIZES, LR, N_FEATURES, X_SCALE, _brent_root, _broadcast, _scalar_or_array

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "condition_scales",
    "feature_ms_radius",
    "feature_ms_threshold",
    "feature_stationary_mse",
    "isotropic_ms_threshold",
]

#: ``scales``: per-feature standard deviations, one model ``(d,)`` or a stack ``(n_models, d)``.
SCALES = Array(0.0, math.inf, "neither", ndim=(1, 2),
               what="a 1-D array of per-feature scales (d,) or a 2-D array (n_models, d)")
#: ``condition_number`` kappa >= 1: variances geometric between ``s^2`` and ``kappa s^2``.
CONDITION = Array(1.0, math.inf, "left", ndim=None, nonempty=False)
_N_FEATURES_ONE = Interval("int", 1, 2**20, "both")


@validate_params({"n_features": N_FEATURES, "batch_size": BATCH_SIZES, "fit_intercept": Boolean(),
                  "x_scale": X_SCALE})
def isotropic_ms_threshold(n_features: ArrayLike = 1, batch_size: ArrayLike = 1, fit_intercept: bool = False,
                           x_scale: ArrayLike = 1.0) -> Any:
    r"""Mean-square threshold of SGD on fresh isotropic Gaussian samples, closed form.

    .. math:: lr_{ms} = \frac{B}{s^2 (B + d + 1)} \quad \text{(no bias)}, \qquad
              lr_{ms} = \frac{2}{1 + s^2 q + \sqrt{(1 - s^2 q)^2 + 4 s^2 d / B^2}},\
              q = 1 + \frac{d + 1}{B} \quad \text{(bias)}

    (module docstring: the root of ``h(lr) = 1``).

    Parameters
    ----------
    n_features : array_like of int, optional
        ``d >= 1`` (default 1).
    batch_size : array_like of int, optional
        ``B >= 1`` (default 1).
    fit_intercept : bool, optional
        Learn a bias (default False).
    x_scale : array_like of float, optional
        Standard deviation ``s`` of each feature (default 1), ``> 0``.
        ``n_features``, ``batch_size`` and ``x_scale`` are broadcast together.

    Returns
    -------
    lr : float or ndarray of float
        ``E ||e_t||^2`` converges iff ``0 < lr < lr_ms``. ``1/(d + 2)`` at
        ``B = 1`` without a bias; equal to :func:`feature_ms_threshold` of
        ``d`` equal scales (tested).
    """
    d_b, b_b, s_b = _broadcast("isotropic_ms_threshold", {
        "n_features": (n_features, N_FEATURES), "batch_size": (batch_size, BATCH_SIZES),
        "x_scale": (x_scale, X_SCALE)})
    d, b, s2 = d_b.astype(np.float64), b_b.astype(np.float64), np.square(s_b.astype(np.float64))
    if not fit_intercept:
        return _scalar_or_array(b / (s2 * (b + d + 1.0)))
    q = 1.0 + (d + 1.0) / b
    return _scalar_or_array(2.0 / (1.0 + s2 * q + np.sqrt(np.square(1.0 - s2 * q) + 4.0 * s2 * d / (b * b))))


@validate_params({"n_features": _N_FEATURES_ONE, "condition_number": CONDITION, "x_scale": X_SCALE})
def condition_scales(n_features: int, condition_number: ArrayLike = 1.0, x_scale: ArrayLike = 1.0) -> Any:
    r"""Per-feature standard deviations whose variances are geometric between ``s^2`` and ``kappa s^2``.

    .. math:: s_j = s\,\kappa^{j / (2 (d - 1))}, \qquad j = 0, \dots, d - 1

    (``s_0 = s`` for ``d = 1``), the input of :func:`feature_ms_threshold`,
    :func:`feature_ms_radius` and
    :func:`~lrsweep.theory.features_lyapunov.feature_lyapunov_exponent`.

    Parameters
    ----------
    n_features : int
        ``d >= 1``.
    condition_number : array_like of float, optional
        ``kappa >= 1`` (default 1: isotropic), the ratio of the largest to the
        smallest variance.
    x_scale : array_like of float, optional
        ``s > 0`` (default 1), broadcast against ``condition_number``.

    Returns
    -------
    scales : ndarray of float, shape ``broadcast(condition_number, x_scale).shape + (d,)``
    """
    kappa, s = _broadcast("condition_scales", {"condition_number": (condition_number, CONDITION),
                                               "x_scale": (x_scale, X_SCALE)})
    frac = np.arange(n_features) / (2.0 * max(n_features - 1, 1))
    return np.asarray(s)[..., None] * np.power(np.asarray(kappa)[..., None], frac)


def _ms_parts(scales: NDArray[np.float64], fit_intercept: bool) -> tuple[NDArray[np.float64], Any]:
    """Second moments ``m`` of the coordinates ``(K, p)`` and which are Gaussian (``g_j``)."""
    m = np.square(scales)
    gauss = np.ones(m.shape, dtype=bool)
    if fit_intercept:
        m = np.concatenate([m, np.ones((m.shape[0], 1))], axis=1)
        gauss = np.concatenate([gauss, np.zeros((m.shape[0], 1), dtype=bool)], axis=1)
    return m, gauss


def _h(lr: float, m: NDArray[np.float64], gauss: NDArray[np.bool_], b: int) -> float:
    """``h(lr)`` of the module docstring (``inf`` at and beyond its first pole)."""
    den = 1.0 - np.where(gauss, 1.0 + 1.0 / b, 1.0 - 1.0 / b) * lr * m
    if np.any(den <= 0.0):
        return math.inf
    return float(lr / b * np.sum(m / den))


def _ms_lr(m: NDArray[np.float64], gauss: NDArray[np.bool_], b: int) -> float:
    """The root of ``h(lr) = 1`` below the first pole of ``h`` (Brent; ``h`` increases from 0 to inf)."""
    pole = 1.0 / ((1.0 + 1.0 / b) * float(m[gauss].max()))
    if not gauss.all() and b > 1:
        pole = min(pole, 1.0 / (1.0 - 1.0 / b))
    return _brent_root(lambda lr: min(_h(lr, m, gauss, b), 2.0) - 1.0, 0.0, pole * (1.0 - 1e-15))


@validate_params({"scales": SCALES, "batch_size": Interval("int", 1, 2**53, "both"),
                  "fit_intercept": Boolean()})
def feature_ms_threshold(scales: ArrayLike, batch_size: int = 1, fit_intercept: bool = False) -> Any:
    r"""Mean-square threshold of SGD on fresh samples ``x ~ N(0, diag(scales^2))``, exact.

    The unique root of ``h(lr) = 1`` (module docstring) on ``(0, 1/((1 + 1/B)
    max_j m_j))``, by Brent's method to 4 ulps.

    Parameters
    ----------
    scales : array_like of float, shape (d,) or (n_models, d)
        Per-feature standard deviations ``s_j > 0`` (e.g. :func:`condition_scales`).
    batch_size : int, optional
        ``B >= 1`` (default 1).
    fit_intercept : bool, optional
        Learn a bias (default False).

    Returns
    -------
    lr : float or ndarray of float, shape ``scales.shape[:-1]``
        ``E ||e_t||^2`` converges iff ``0 < lr < lr_ms`` (the Perron root of
        :func:`feature_ms_radius` crosses 1 there, tested against a
        Gauss-Hermite cubature of the second-moment map). Equal scales:
        :func:`isotropic_ms_threshold`.
    """
    m_all, gauss_all = _ms_parts(scales.reshape(-1, scales.shape[-1]), fit_intercept)
    out = np.array([_ms_lr(m, gauss, int(batch_size)) for m, gauss in zip(m_all, gauss_all, strict=True)])
    return _scalar_or_array(out.reshape(scales.shape[:-1]))


@validate_params({"lr": LR, "scales": SCALES, "batch_size": Interval("int", 1, 2**53, "both"),
                  "fit_intercept": Boolean()})
def feature_ms_radius(lr: ArrayLike, scales: ArrayLike, batch_size: int = 1,
                      fit_intercept: bool = False) -> Any:
    r"""Per-step growth factor of ``E ||e||^2`` in the long run: the Perron root of ``K`` (module docstring).

    .. math:: K = \mathrm{diag}\bigl((1 - 2 lr m_j)^2 + \tfrac{4 lr^2}{B}(2 g_j - 1) m_j^2\bigr)
              + \tfrac{4 lr^2}{B} m m^T

    Parameters
    ----------
    lr : array_like of float
        Learning rates, finite and ``>= 0``.
    scales : array_like of float, shape (d,) or (n_models, d)
        Per-feature standard deviations ``s_j > 0``.
    batch_size : int, optional
        ``B >= 1`` (default 1).
    fit_intercept : bool, optional
        Learn a bias (default False).

    Returns
    -------
    rho : float or ndarray of float, shape ``scales.shape[:-1] + lr.shape``
        1 at ``lr = 0``, below 1 exactly on ``(0, lr_ms)``
        (:func:`feature_ms_threshold`); from ``numpy.linalg.eigvals``.
    """
    m_all, gauss_all = _ms_parts(scales.reshape(-1, scales.shape[-1]), fit_intercept)
    lrf = lr.reshape(-1)[None, :, None]  # (1, L, 1)
    m, g = m_all[:, None, :], gauss_all[:, None, :]  # (K, 1, p)
    c = 4.0 * lrf * lrf / batch_size
    diag = np.square(1.0 - 2.0 * lrf * m) + c * (2.0 * g - 1.0) * m * m  # (K, L, p)
    k = c[..., None] * m[..., :, None] * m[..., None, :] + diag[..., :, None] * np.eye(m.shape[-1])
    rho = np.abs(np.linalg.eigvals(k)).max(axis=-1) if k.size else np.zeros(k.shape[:-2])
    return _scalar_or_array(rho.reshape(scales.shape[:-1] + lr.shape))


@validate_params({"lr": LR, "scales": SCALES, "noise": Interval("float", 0.0, math.inf, "left"),
                  "batch_size": Interval("int", 1, 2**53, "both"), "fit_intercept": Boolean()})
def feature_stationary_mse(lr: ArrayLike, scales: ArrayLike, noise: float, batch_size: int = 1,
                           fit_intercept: bool = False) -> Any:
    r"""Stationary ``E ||e||^2`` of SGD on fresh samples ``x ~ N(0, diag(scales^2))`` with noise, exact.

    .. math:: E \|e\|^2 = rac{\sigma^2 k(lr)}{1 - h(lr)}, \quad
              k = rac{lr}{B} \sum_j rac{1}{1 - c_j lr m_j}, \quad
              h = rac{lr}{B} \sum_j rac{m_j}{1 - c_j lr m_j}

    (module docstring, "With noise"): the fixed point of the second-moment
    map plus the noise's forcing, for ``y = w . x (+ b) + sigma Z`` and
    ``e = theta - theta_true``.

    Parameters
    ----------
    lr : array_like of float
        Learning rates, finite and ``>= 0``.
    scales : array_like of float, shape (d,) or (n_models, d)
        Per-feature standard deviations ``s_j > 0`` (e.g. :func:`condition_scales`).
    noise : float
        Noise standard deviation ``sigma >= 0``.
    batch_size : int, optional
        ``B >= 1`` (default 1).
    fit_intercept : bool, optional
        Learn a bias (default False): the constant coordinate ``z_p = 1``.

    Returns
    -------
    mse : float or ndarray of float, shape ``scales.shape[:-1] + lr.shape``
        ``E ||e||^2``, 0 at ``lr = 0``, ``inf`` at and beyond the mean-square
        threshold (:func:`feature_ms_threshold`), where it grows without
        bound. Isotropic scales without a bias: ``sigma^2 lr d / (B - (B +
        d + 1) lr s^2)``, which is also
        :func:`~lrsweep.theory.noise.stationary_mse` with ``coordinates=d``
        (its isotropic closure is exact there; tested).
    """
    m_all, gauss_all = _ms_parts(scales.reshape(-1, scales.shape[-1]), fit_intercept)
    b = float(batch_size)
    lrf = lr.reshape(-1)[None, :, None]  # (1, L, 1)
    m, g = m_all[:, None, :], gauss_all[:, None, :]  # (K, 1, p)
    den = 1.0 - np.where(g, 1.0 + 1.0 / b, 1.0 - 1.0 / b) * lrf * m  # (K, L, p)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = lrf[..., 0] / b * np.sum(1.0 / den, axis=-1)
        h = lrf[..., 0] / b * np.sum(m / den, axis=-1)
        mse = (noise * noise) * k / (1.0 - h)
    inside = np.all(den > 0.0, axis=-1) & (h < 1.0)
    out = np.where(inside, mse, np.inf)
    out = np.where(lrf[..., 0] == 0.0, 0.0, out)
    return _scalar_or_array(out.reshape(scales.shape[:-1] + lr.shape))
