r"""d features, fresh Gaussian samples: the almost-sure exponent and the mean-square thresholds.

Fresh samples ``x ~ N(0, Lambda)``, ``Lambda = diag(s_1^2, ..., s_d^2)``
(isotropic: ``s^2 I_d``), extended to ``z = (x, 1)`` with a bias; a step
multiplies the error by ``F = I - 2 lr A``, ``A = (1/B) sum_{i<=B} z_i z_i^T``.

Almost sure, isotropic, no bias
-------------------------------
For ``B = 1`` and a unit error ``e``: ``||F e||^2 = 1 - 4 lr (x.e)^2 + 4 lr^2
||x||^2 (x.e)^2 = 1 - 4 u (1 - u) c`` with ``u = lr ||x||^2`` and ``c =
cos^2`` of the angle between ``x`` and ``e``. By isotropy the direction of
``x`` relative to ``e`` is uniform and independent of ``||x||`` and of the
past, so ``log ||e_t||`` is a random walk with i.i.d. increments and every
``e_0`` grows at the rate

.. math:: \lambda(lr) = \tfrac12 E \log|1 - 4 u (1 - u) c|, \quad u = lr\,r,\
          r \sim s^2 \chi^2_d,\ c \sim \mathrm{Beta}(\tfrac12, \tfrac{d-1}{2})

(:func:`isotropic_log_multiplier`). ``1 - 4u(1 - u)c = (1 - c) + c (1 -
2u)^2 >= 0`` vanishes only at ``c = 1, u = 1/2``; at ``d = 1`` (``c = 1``) it is
``(1 - 2 lr x^2)^2`` and ``lambda`` is
:func:`~lrsweep.theory.population.population_log_multiplier`. Computed in
the equivalent coordinates ``xi = x.e ~ N(0, s^2)`` and ``q = ||x||^2 - xi^2
~ s^2 chi^2_{d-1}`` (independent): ``||F e||^2 = a + b q`` with ``a = (1 - 2 lr
xi^2)^2``, ``b = 4 lr^2 xi^2``, so (``s = 1``; ``lambda`` depends on ``lr s^2``
only)

.. math:: \lambda = \tfrac12 E_\xi\bigl[\log a + \Phi_{d-1}(a/b)\bigr], \qquad
          \Phi_k(\epsilon^2) = E \log(\epsilon^2 + \chi^2_k) - \log \epsilon^2
          = \int_{-\infty}^{\infty} e^{-\epsilon^2 e^v}\bigl(1 - (1 + 2e^v)^{-k/2}\bigr)\,dv .

The inner integral (Frullani's ``log(1 + q/eps^2) = int (e^{-eps^2 t} - e^{-(eps^2 + q) t})
dt/t`` with ``E e^{-q t} = (1 + 2t)^{-k/2}`` and ``t = e^v``) is analytic in the
strip ``|Im v| < pi/2``, so the trapezoidal rule with step ``1/4`` is accurate to
``exp(-pi^2 / (1/4)) ~ 1e-17`` (checked against adaptive quadrature). The
outer integral over ``xi`` has a log singularity (``d = 1``) or a kink
(``d >= 2``) at ``xi_0 = 1/sqrt(2 lr)``: it is split there and the pieces next to
it mapped by ``|xi - xi_0| = exp(-t)``, exactly as in
:mod:`~lrsweep.theory.population`; absolute accuracy about 1e-11 (tests: the
``d = 1`` reduction, the ``d = 2`` closed form ``lambda = E log((1 + |1 - 2 lr
r|)/2)``, ``r ~ chi^2_2``, and a ``d = 3`` closed form of the inner integral).
Below ``lr s^2 = 1e-7`` the series ``lambda = -2 l + 2 (d - 4) l^2`` (``l = lr
s^2``) is used, above ``1e8`` the limit ``log(2 l) + (psi(1/2) + psi(d/2))/2 +
log 2`` (error ``O(1/l)``).

The almost-sure threshold (:func:`isotropic_as_threshold`) is the root of
``lambda`` above the mean-square threshold (``lambda <= (1/2) log E||F e||^2 <
0`` below it, by Jensen); ``lr s^2 = 1.2106, 0.4913, 0.1581, 0.07546,
0.02260, 0.01114`` at ``d = 1, 2, 5, 10, 32, 64`` (``d * lr_as s^2`` from 1.21
to 0.713: roughly ``lr_as ~ 0.7/E||x||^2`` for large ``d``).

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
1`` against 1/3 without a bias). For variances geometric between ``s^2`` and
``kappa s^2`` (:func:`condition_scales`) the threshold is set by the
largest ones.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validation import Array, Boolean, Interval, validate_params
from ._common import BATCH_SIZES, LR, X_SCALE, _brent_root, _broadcast, _IntArray, _scalar_or_array

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "condition_scales",
    "feature_ms_radius",
    "feature_ms_threshold",
    "isotropic_as_threshold",
    "isotropic_log_multiplier",
    "isotropic_ms_threshold",
]

#: ``n_features`` of the population functions: whole numbers in ``[1, 2**20]``, broadcast.
N_FEATURES = _IntArray(1, 2**20, "both", ndim=None, nonempty=False)
#: ``scales``: per-feature standard deviations, one model ``(d,)`` or a stack ``(n_models, d)``.
SCALES = Array(0.0, math.inf, "neither", ndim=(1, 2),
               what="a 1-D array of per-feature scales (d,) or a 2-D array (n_models, d)")
#: ``condition_number`` kappa >= 1: variances geometric between ``s^2`` and ``kappa s^2``.
CONDITION = Array(1.0, math.inf, "left", ndim=None, nonempty=False)
_N_FEATURES_ONE = Interval("int", 1, 2**20, "both")

_LN2 = math.log(2.0)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_L_SMALL = 1e-7
_L_BIG = 1e8
_Z_SUPPORT = 40.0
_QUAD = {"epsabs": 1e-13, "epsrel": 1e-12, "limit": 400}
#: Trapezoidal step in ``v`` for ``Phi_k`` (error ``exp(-pi^2/h)``, module docstring).
_H = 0.25


def _phi(log_eps2: float, k: int) -> float:
    """``Phi_k(eps^2) = E log(eps^2 + chi2_k) - log eps^2`` from ``log eps^2`` (module docstring)."""
    if log_eps2 < -60.0:  # Phi = E log chi2_k - log eps^2 + O(eps^min(k, 2))
        from scipy.special import digamma

        return float(digamma(0.5 * k)) + _LN2 - log_eps2
    v_hi = math.log(46.0) - log_eps2 + 1.0  # exp(-eps^2 e^v) < 1e-20 beyond
    if v_hi < -35.0:  # eps^2 > 1e16: Phi = k / eps^2 (1 + O(1/eps^2))
        return k * math.exp(-log_eps2)
    v = np.arange(-42.0, v_hi + _H, _H)
    ev = np.exp(v)
    f = np.exp(-np.exp(log_eps2 + v)) * -np.expm1(-0.5 * k * np.log1p(2.0 * ev))
    return float(_H * f.sum())


def _lyap(ell: float, d: int) -> float:
    """``lambda`` at ``l = lr s^2`` for ``d`` features (module docstring)."""
    if ell == 0.0:
        return 0.0
    if ell < _L_SMALL:
        return -2.0 * ell + 2.0 * (d - 4) * ell * ell
    if ell > _L_BIG:
        from scipy.special import digamma

        return math.log(2.0 * ell) + 0.5 * (float(digamma(0.5)) + float(digamma(0.5 * d))) + _LN2
    from scipy.integrate import quad

    k = d - 1
    log_2l = math.log(2.0 * ell)
    xi0 = 1.0 / math.sqrt(2.0 * ell)

    def value(xi: float, log_a: float) -> float:
        if k == 0 or xi == 0.0:
            return 0.5 * log_a
        return 0.5 * (log_a + _phi(log_a - 2.0 * math.log(2.0 * ell * xi), k))

    def log_a_of(xi: float) -> float:
        v = 2.0 * ell * xi * xi
        if v < 0.5:
            return 2.0 * math.log1p(-v)
        return 2.0 * (log_2l + math.log(abs(xi0 - xi)) + math.log(xi0 + xi))

    def dens(xi: float) -> float:
        return 2.0 * math.exp(-0.5 * xi * xi - _LOG_SQRT_2PI)  # both signs of xi

    def g(xi: float) -> float:
        return dens(xi) * value(xi, log_a_of(xi))

    def q(f: Any, a: float, b: float) -> float:
        return float(quad(f, a, b, full_output=1, **_QUAD)[0]) if a < b else 0.0

    if xi0 > _Z_SUPPORT + 1.0:
        return q(g, 0.0, _Z_SUPPORT)
    delta = min(0.5 * xi0, 1.0)
    t0 = -math.log(delta)

    def left(t: float) -> float:
        h = math.exp(-t)
        xi = xi0 - h
        return dens(xi) * value(xi, 2.0 * (log_2l - t + math.log(xi0 + xi))) * h

    def right(t: float) -> float:
        h = math.exp(-t)
        xi = xi0 + h
        return dens(xi) * value(xi, 2.0 * (log_2l - t + math.log(xi0 + xi))) * h

    total = q(g, 0.0, xi0 - delta) + q(left, t0, math.inf) + q(right, t0, math.inf)
    return total + q(g, xi0 + delta, max(_Z_SUPPORT, xi0 + delta))


@validate_params({"lr": LR, "n_features": N_FEATURES, "x_scale": X_SCALE})
def isotropic_log_multiplier(lr: ArrayLike, n_features: ArrayLike = 1, x_scale: ArrayLike = 1.0) -> Any:
    r"""Almost-sure growth rate of ``log ||e||`` per step of SGD on fresh isotropic Gaussian samples.

    .. math:: \lambda(lr) = \tfrac12 E \log|1 - 4 u (1 - u) c|, \quad u = lr\,r,\
              r \sim s^2 \chi^2_d,\ c \sim \mathrm{Beta}(\tfrac12, \tfrac{d-1}{2})

    (module docstring: ``B = 1``, no bias, ``x ~ N(0, s^2 I_d)``);
    ``(1/t) log ||e_t|| -> lambda`` almost surely for every ``e_0``.

    Parameters
    ----------
    lr : array_like of float
        Learning rates, finite and ``>= 0``.
    n_features : array_like of int, optional
        ``d >= 1`` (default 1).
    x_scale : array_like of float, optional
        Standard deviation ``s`` of each feature (default 1), ``> 0``. The
        three arguments are broadcast together.

    Returns
    -------
    lambda : float or ndarray of float
        Absolute accuracy about 1e-11 (module docstring). ``d = 1``:
        :func:`~lrsweep.theory.population.population_log_multiplier` (to
        1e-12, tested). ``lambda ~ -2 lr s^2`` for small ``lr``.

    Notes
    -----
    Each value costs four adaptive quadratures whose integrand is a
    trapezoidal sum of about 200 terms (10-40 ms; ``d = 1`` about 2 ms).
    """
    lr_b, d_b, s_b = _broadcast("isotropic_log_multiplier", {
        "lr": (lr, LR), "n_features": (n_features, N_FEATURES), "x_scale": (x_scale, X_SCALE)})
    ell = lr_b * np.square(s_b.astype(np.float64))
    out = np.array([_lyap(float(v), int(d)) for v, d in zip(ell.ravel(), d_b.ravel(), strict=True)])
    return _scalar_or_array(out.reshape(ell.shape))


_AS: dict[int, float] = {}  # cache: the a.s. threshold in lr s^2 per d (universal constants)


def _as_ell(d: int) -> float:
    """Root of ``lambda(l)`` above the mean-square threshold ``1/(d + 2)``."""
    if d not in _AS:
        def f(ell: float) -> float:
            return _lyap(ell, d)

        lo = 1.0 / (d + 2.0)  # lambda < 0 up to here (Jensen), and lambda(lo) < 0
        hi = 2.0 * lo
        while f(hi) <= 0.0:
            lo, hi = hi, 2.0 * hi
        _AS[d] = _brent_root(f, lo, hi)
    return _AS[d]


@validate_params({"n_features": N_FEATURES, "x_scale": X_SCALE})
def isotropic_as_threshold(n_features: ArrayLike = 1, x_scale: ArrayLike = 1.0) -> Any:
    r"""Almost-sure stability threshold of SGD on fresh isotropic Gaussian samples (``B = 1``, no bias).

    The root of :func:`isotropic_log_multiplier` above the mean-square
    threshold ``1/(s^2 (d + 2))`` (Brent's method to 4 ulps of the computed
    ``lambda``, cached per ``d``; about 0.3-1 s per new ``d``).

    Parameters
    ----------
    n_features : array_like of int, optional
        ``d >= 1`` (default 1).
    x_scale : array_like of float, optional
        Standard deviation ``s`` (default 1), ``> 0``; broadcast against
        ``n_features``.

    Returns
    -------
    lr : float or ndarray of float
        ``d = 1``: :func:`~lrsweep.theory.population.as_threshold` (1.2106...,
        to 1e-10); 0.4913, 0.1581, 0.07546, 0.02260, 0.01114 at ``d = 2, 5,
        10, 32, 64`` (``s = 1``).
    """
    d_b, s_b = _broadcast("isotropic_as_threshold", {"n_features": (n_features, N_FEATURES),
                                                      "x_scale": (x_scale, X_SCALE)})
    ell = np.array([_as_ell(int(d)) for d in d_b.ravel()]).reshape(d_b.shape)
    return _scalar_or_array(ell / np.square(s_b.astype(np.float64)))


# ----- mean square -----


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
