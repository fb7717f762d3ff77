r"""d features, fresh isotropic Gaussian samples: the almost-sure exponent and threshold by quadrature.

Fresh samples ``x ~ N(0, s^2 I_d)``, one per step, no bias: a step multiplies
the error by ``F = I - 2 lr x x^T``. The mean-square thresholds (any
diagonal covariance, ``B`` and bias) are in :mod:`~lrsweep.theory.features_ms`,
the almost-sure exponent without isotropy (a bias, unequal scales, batches)
in :mod:`~lrsweep.theory.features_lyapunov`.

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
0`` below it, by Jensen; the tests check on a grid that ``lambda`` changes sign
once): ``lr s^2 = 1.2106, 0.46854, 0.17561, 0.089944, 0.029724, 0.015194``
at ``d = 1, 2, 5, 10, 32, 64``, so ``d lr_as s^2 = 1.21, 0.937, 0.878, 0.899,
0.951, 0.972``: smallest near ``d = 5``, then rising to 1. For large ``d``
``r ~ d s^2`` concentrates and ``c ~ 1/d``, so ``lambda ~ -2 u (1 - u) E c =
-2 u (1 - u)/d`` with ``u ~ lr d s^2``: negative iff ``lr E||x||^2 < 1``. The
mean-square threshold ``1/(s^2 (d + 2))`` tends to the same ``1/(d s^2)``: in
high dimension the two criteria merge and ``lr E||x||^2`` is the right scale
(at ``d = 1`` they differ by a factor 3.6).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validation import validate_params
from ._common import LR, N_FEATURES, X_SCALE, _brent_root, _broadcast, _scalar_or_array

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import ArrayLike

__all__ = ["isotropic_as_threshold", "isotropic_log_multiplier"]


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
        Absolute accuracy about 1e-11 (module docstring; 1e-16 against the
        ``d = 2`` closed form in the tests). ``d = 1``:
        :func:`~lrsweep.theory.population.population_log_multiplier` (to
        1e-12, tested). ``lambda ~ -2 lr s^2`` for small ``lr``.

    Notes
    -----
    Each value costs four adaptive quadratures whose integrand is a
    trapezoidal sum of about 200-400 terms (measured: 5-30 ms).
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
    ``lambda``, cached per ``d``; about 0.1-0.6 s per new ``d``).

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
        to 1e-10); 0.46854, 0.17561, 0.089944, 0.029724, 0.015194 at ``d = 2,
        5, 10, 32, 64`` (``s = 1``).
    """
    d_b, s_b = _broadcast("isotropic_as_threshold", {"n_features": (n_features, N_FEATURES),
                                                      "x_scale": (x_scale, X_SCALE)})
    ell = np.array([_as_ell(int(d)) for d in d_b.ravel()]).reshape(d_b.shape)
    return _scalar_or_array(ell / np.square(s_b.astype(np.float64)))
