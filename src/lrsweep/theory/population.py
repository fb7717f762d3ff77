r"""Population thresholds (``n -> inf``, ``X ~ N(0, s^2)``): ``L``, its variance, thresholds.

What fresh Gaussian samples do on average, whatever the dataset: the
Lyapunov exponent ``L`` of the error and the variance of its summands
(adaptive quadrature of a log-singular Gaussian integral, also used by
:mod:`~lrsweep.theory.tails` and :mod:`~lrsweep.theory.probability`), and the
closed-form mean-square and mean thresholds.

* Almost-sure (Lyapunov) stability for fresh samples:
  ``L(lr) = E log|1 - 2 lr X^2| = E log|1 - u Z^2| < 0`` (law of large
  numbers for ``log|e_k|/k``; :func:`population_log_multiplier`,
  :func:`as_threshold`). The integrand has a log singularity at
  ``|Z| = z0 = 1/sqrt(u)``; the integral is split there, the pieces next to
  ``z0`` are mapped by ``|z - z0| = exp(-t)`` (which turns ``log|z - z0|``
  into ``-t`` and the singular piece into a smooth exponentially decaying
  integrand on ``[t0, inf)``), and the rest is integrated by
  ``scipy.integrate.quad``; absolute accuracy about 1e-13.
  An independent closed form, used in the tests: with ``F`` Dawson's
  integral, ``PV E[1/(Z - c)] = -sqrt(2) F(c/sqrt(2))`` (Hilbert transform of
  the Gaussian), hence ``d/dc E log|Z^2 - c| = sqrt(2/c) F(sqrt(c/2))`` and,
  with ``E log Z^2 = -gamma - log 2``,

  .. math:: L(u) = \log u - \gamma - \log 2 + 4 \int_0^{1/\sqrt{2u}} F(t)\,dt,
            \qquad \frac{dL}{du} = 2w^2 F'(w),\ w = \frac{1}{\sqrt{2u}} .

  ``F'`` changes sign once (F peaks at ``w_F = 0.9241...``), so L decreases
  from ``L(0) = 0`` to its minimum at ``u = 1/(2 w_F^2) = 0.5855`` and then
  increases to ``+inf``: its positive root (the a.s. threshold) is unique.
* Mean-square stability: ``E (1 - 2 lr X^2)^2 = 1 - 4 lr s^2 + 12 lr^2 s^4
  < 1`` iff ``lr < 1/(3 s^2)`` (:func:`ms_threshold`).
* Mean: ``E (1 - 2 lr X^2) = 1 - 2 lr s^2``, of modulus < 1 iff
  ``lr < 1/s^2`` (:func:`mean_threshold`; stability of ``E e_k``).
* Full-batch GD on ``mean((y - theta x)^2)``: ``e <- (1 - 2 lr mean(x^2)) e``,
  stable iff ``lr < 1/mean(x^2)`` (:func:`~lrsweep.theory.dataset.gd_threshold`).

Small ``u``: ``L = -u - 3u^2/2 - 5u^3 - O(u^4)`` and ``V = 2u^2 + 12u^3 +
O(u^4)`` (``E Z^2k = (2k-1)!!``); below ``u = 1e-8`` these are used (relative
error below 1e-15, where the quadrature of ``V`` loses digits to the
cancellation of ``E l^2 - (E l)^2`` and subnormal ``u`` loses them in
``u z^2``). Large ``u``: from the Dawson form, ``L = log u - gamma - log 2 + 1/u -
1/(6 u^2) + O(u^-3)``; the variance tends to that of ``log Z^2``,
``V = pi^2/2 - pi sqrt(2 pi/u) + 4/u + O(u^-3/2)`` (the ``u^-1/2`` term from
the neighbourhood ``|Z| ~ u^-1/2`` of the singularity, the ``4/u`` one fitted
to the quadrature: ``(V - pi^2/2 + pi sqrt(2 pi/u)) u = 4.0001`` at
``u = 1e6``, ``4.00013`` at ``1e8``). From ``u = 1e9`` on both are used
instead of the quadrature (truncation below 1e-13; the quadrature itself
degrades beyond ``u ~ 1e10``), so ``L`` and ``V`` are finite for every
finite ``lr`` and ``x_scale``, with ``log u`` formed from their logs where
``u`` overflows. ``u = 2 lr s^2`` is never formed from ``s^2`` alone, so an
``s^2`` that over- or underflows does not turn ``u`` into ``inf`` or 0.

By Jensen ``L <= (1/2) log E m^2``, so the a.s. threshold lies above the
mean-square one; for ``s = 1`` the thresholds are ``1/3`` (mean square),
``1`` (mean, and GD at ``mean(x^2) = 1``) and ``1.2106...`` (almost sure).
Between 1/3 and 1.21, ``E e_k^2`` blows up while almost every fresh-sample
trajectory converges.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validation import Described, ParameterError, message, validate_params
from ._common import (
    _LN2,
    LR,
    X_SCALE,
    _brent_root,
    _ldexp,
    _over_square,
    _scalar_or_array,
    _two_lr_x2,
)

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "as_threshold",
    "mean_threshold",
    "ms_threshold",
    "population_log_multiplier",
    "population_log_multiplier_variance",
]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_EULER_GAMMA = 0.57721566490153286061
#: From this ``u`` on, ``L`` and ``V`` come from their expansions in ``1/u`` (module docstring).
_U_BIG = 1e9
#: Below this ``u``, from their series in ``u`` (module docstring).
_U_SMALL = 1e-8
#: |z| beyond which the standard normal density underflows (phi(40) ~ 1e-348).
_Z_SUPPORT = 40.0
_QUAD = {"epsabs": 1e-14, "epsrel": 1e-13, "limit": 400}


def _ell(z: float, u: float, z0: float, log_z0: float) -> float:
    """``log|1 - u z^2|`` away from ``z0 = 1/sqrt(u)``, without cancellation."""
    v = u * z * z
    if v < 0.5:
        return math.log1p(-v)
    return math.log(abs(z0 - z)) + math.log(z0 + z) - 2.0 * log_z0


def _gauss_expect(u: float, g: Callable[[float, float], float], peak: float = 0.0) -> float:
    """``E g(Z, log|1 - u Z^2|)``-type integral ``2 int_0^inf g(z, l(z)) dz`` for ``u > 0``.

    ``g(z, l)`` must include the normal density. The half-line is split at
    the singularity ``z0 = 1/sqrt(u)``; on ``[z0 - d, z0]`` and
    ``[z0, z0 + d]`` the substitution ``|z - z0| = exp(-t)`` makes
    ``l = -t + log(z0 + z) - 2 log z0`` exact and the integrand smooth and
    exponentially decaying in ``t``. ``peak`` is where the integrand peaks
    beyond ``z0`` (the support ends 40 further on).
    """
    from scipy.integrate import quad

    def q(f: Callable[[float], float], a: float, b: float, **kw: Any) -> float:
        return float(quad(f, a, b, full_output=1, **_QUAD, **kw)[0])

    z0 = 1.0 / math.sqrt(u)
    lz0 = math.log(z0)
    z_end = max(_Z_SUPPORT, peak + _Z_SUPPORT)
    if z0 > z_end + 1.0:  # singularity outside the numerical support
        return 2.0 * q(lambda z: g(z, _ell(z, u, z0, lz0)), 0.0, z_end)
    d = min(0.5 * z0, 1.0)
    t0 = -math.log(d)
    total = q(lambda z: g(z, _ell(z, u, z0, lz0)), 0.0, min(z0 - d, _Z_SUPPORT))

    def left(t: float) -> float:
        h = math.exp(-t)
        return g(z0 - h, -t + math.log(2.0 * z0 - h) - 2.0 * lz0) * h

    def right(t: float) -> float:
        h = math.exp(-t)
        return g(z0 + h, -t + math.log(2.0 * z0 + h) - 2.0 * lz0) * h

    total += q(left, t0, math.inf) + q(right, t0, math.inf)
    a = z0 + d
    if a < z_end:
        pts = [peak] if a < peak < z_end else None
        total += q(lambda z: g(z, _ell(z, u, z0, lz0)), a, z_end, points=pts)
    return 2.0 * total


def _phi_log(z: float) -> float:
    return -0.5 * z * z - _LOG_SQRT_2PI


def _log_moments(u: float) -> tuple[float, float]:
    """``(E l, E l^2)`` with ``l = log|1 - u Z^2|``."""
    if u == 0.0:
        return 0.0, 0.0
    m1 = _gauss_expect(u, lambda z, ell: math.exp(_phi_log(z)) * ell)
    m2 = _gauss_expect(u, lambda z, ell: math.exp(_phi_log(z)) * ell * ell)
    return m1, m2


def _u_of(lr: NDArray[np.float64], s: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``u = 2 lr s^2`` (``inf`` where it overflows) and ``log u`` (finite there), broadcast.

    Formed from mantissas and exponents (:func:`~lrsweep.theory._common._two_lr_x2`):
    the bits of ``2.0 * lr * s**2`` wherever that stays in the normal range,
    and no spurious 0 or ``inf`` where ``s^2`` or ``2 lr`` alone would leave it.
    """
    w, k = _two_lr_x2(s, lr)
    u = _ldexp(w, k)
    with np.errstate(divide="ignore"):
        log_u = np.where(np.isinf(u), np.log(w) + k * _LN2, np.log(u))
    return u, log_u


def _u_checked(
    lr: NDArray[np.float64], x_scale: ArrayLike, owner: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``(u, log u)`` of validated ``lr`` and ``x_scale``; refuse shapes that do not broadcast."""
    s = np.asarray(x_scale, dtype=np.float64)  # the default 1.0 arrives as given
    try:
        np.broadcast_shapes(lr.shape, s.shape)
    except ValueError:
        allowed = f"{X_SCALE.description} broadcastable against 'lr' of shape {lr.shape}"
        raise ParameterError(message("x_scale", owner, allowed,
                                     Described(f"an array of shape {s.shape}"))) from None
    return _u_of(lr, s)


def _mean_var(u: float, log_u: float) -> tuple[float, float]:
    """``(L, V)``: mean and variance of ``log|1 - u Z^2|`` for any ``u >= 0`` (``inf`` included).

    Quadrature below ``_U_BIG``; above it the expansions of the module
    docstring (``log_u`` carries ``log u`` where ``u`` itself overflowed).
    """
    if u == 0.0:
        return 0.0, 0.0
    if u < _U_SMALL:  # the series; the quadrature's m2 - m1^2 cancels (1e-5 relative at u = 1e-10)
        return -u * (1.0 + 1.5 * u + 5.0 * u * u), 2.0 * u * u * (1.0 + 6.0 * u)
    if u < _U_BIG:
        m1, m2 = _log_moments(u)
        return m1, max(m2 - m1 * m1, 0.0)
    r = 1.0 / u
    m1 = log_u - _EULER_GAMMA - _LN2 + r - r * r / 6.0
    var = 0.5 * math.pi**2 - math.pi * math.sqrt(2.0 * math.pi * r) + 4.0 * r
    return m1, var


@validate_params({"lr": LR, "x_scale": X_SCALE})
def population_log_multiplier(lr: ArrayLike, x_scale: ArrayLike = 1.0) -> Any:
    r"""Lyapunov exponent per step of SGD on fresh Gaussian samples.

    .. math:: L(lr) = E \log|1 - 2\,lr\,X^2| = E \log|1 - u Z^2|,
              \quad X \sim N(0, s^2),\ u = 2\,lr\,s^2 .

    ``log|e_k|/k -> L`` almost surely for the ``online`` order (and ``S/n ->
    L`` for a dataset of ``n`` samples), so fresh-sample SGD converges a.s.
    iff ``L < 0``.

    Parameters
    ----------
    lr : array_like of float
        Learning rates, finite and ``>= 0``.
    x_scale : array_like of float, optional
        Standard deviation ``s`` of the feature (default 1), ``> 0``;
        broadcast against ``lr``.

    Returns
    -------
    L : float or ndarray of float, shape ``broadcast(lr, x_scale)``
        Absolute accuracy about 1e-13 (checked against the Dawson-integral
        closed form in the module docstring). ``L(0) = 0``,
        ``L ~ -u - 3u^2/2`` for small ``u``, ``L ~ log u - gamma - log 2``
        for large ``u``; minimum ``-0.49071...`` at ``u = 0.58546``
        (``lr = 0.29273`` for ``s = 1``). Finite for every finite ``lr``
        and ``x_scale``: below ``u = 1e-8`` and above ``1e9`` from the series
        of the module docstring (full relative accuracy at small ``u``, down
        to subnormal ``u``; ``log u`` from ``log lr + 2 log s`` where ``u``
        overflows).

    Notes
    -----
    Each value costs a few adaptive quadratures (about a millisecond).
    """
    u, log_u = _u_checked(lr, x_scale, "population_log_multiplier")
    pairs = zip(u.ravel(), log_u.ravel(), strict=True)
    out = np.array([_mean_var(float(v), float(lv))[0] for v, lv in pairs])
    return _scalar_or_array(out.reshape(u.shape))


@validate_params({"lr": LR, "x_scale": X_SCALE})
def population_log_multiplier_variance(lr: ArrayLike, x_scale: ArrayLike = 1.0) -> Any:
    """Variance ``V(lr) = Var log|1 - 2 lr X^2|`` for ``X ~ N(0, s^2)``.

    Parameters
    ----------
    lr : array_like of float
        Learning rates, finite and ``>= 0``.
    x_scale : array_like of float, optional
        Standard deviation ``s`` of the feature (default 1), ``> 0``.

    Returns
    -------
    V : float or ndarray of float, shape ``broadcast(lr, x_scale)``
        ``E l^2 - (E l)^2`` with both moments integrated as in
        :func:`population_log_multiplier` (the ``log^2`` singularity becomes
        ``t^2 exp(-t)`` under the same substitution); increasing from 0 to
        ``pi^2/2`` (``Var log Z^2``), from the series below ``u = 1e-8``
        (``2u^2 + 12u^3``) and above ``1e9``, so finite for every finite input.
    """
    u, log_u = _u_checked(lr, x_scale, "population_log_multiplier_variance")
    pairs = zip(u.ravel(), log_u.ravel(), strict=True)
    out = np.array([_mean_var(float(v), float(lv))[1] for v, lv in pairs])
    return _scalar_or_array(out.reshape(u.shape))


_AS_U: list[float] = []  # cache of the a.s. threshold in u (a universal constant)


def _as_threshold_u() -> float:
    if not _AS_U:
        # L decreases on (0, 0.5855) and increases after: L(0.5) < 0, and L -> inf.
        def f(u: float) -> float:
            return _log_moments(u)[0]

        hi = 2.0
        while f(hi) <= 0:
            hi *= 2.0
        _AS_U.append(_brent_root(f, 0.5, hi))
    return _AS_U[0]


@validate_params({"x_scale": X_SCALE})
def as_threshold(x_scale: ArrayLike = 1.0) -> Any:
    """Almost-sure stability threshold of SGD on fresh Gaussian samples.

    The unique positive root of ``L(lr) = E log|1 - 2 lr X^2|``,
    ``X ~ N(0, s^2)``: ``lr_as = u_as / (2 s^2)`` with ``u_as`` the root of
    ``E log|1 - u Z^2|`` (computed once by Brent's method and cached).
    Below it fresh-sample SGD converges almost surely although (above
    :func:`ms_threshold`) its mean square diverges.

    Parameters
    ----------
    x_scale : array_like of float, optional
        Standard deviation ``s`` of the feature (default 1), ``> 0``.

    Returns
    -------
    lr : float or ndarray of float, shape of ``x_scale``
        ``as_threshold(1) = 1.2106247605...`` (``u_as = 2.42124952...``): above
        both :func:`ms_threshold` (1/3) and :func:`mean_threshold` (1).
        ``s^2`` is never formed: ``inf`` only where the threshold exceeds the
        largest float (``s < 8.2e-155``), 0 where it is below the smallest
        subnormal (``s > 7e161``).
    """
    return _scalar_or_array(_over_square(_as_threshold_u(), 2.0, x_scale))


@validate_params({"x_scale": X_SCALE})
def ms_threshold(x_scale: ArrayLike = 1.0) -> Any:
    """Mean-square stability threshold, ``1 / (3 s^2)``.

    ``E (1 - 2 lr X^2)^2 = 1 - 4 lr s^2 + 12 lr^2 s^4`` (``E X^4 = 3 s^4``)
    is below 1 iff ``0 < lr < 1/(3 s^2)``; for fresh samples ``E e_k^2``
    converges iff ``lr`` is below it. It is also where the tail index is 2.

    Parameters
    ----------
    x_scale : array_like of float, optional
        Standard deviation ``s`` of the feature (default 1), ``> 0``.

    Returns
    -------
    lr : float or ndarray of float, shape of ``x_scale``
        ``inf`` or 0 only where the threshold leaves the float range (as
        :func:`as_threshold`).
    """
    return _scalar_or_array(_over_square(1.0, 3.0, x_scale))


@validate_params({"x_scale": X_SCALE})
def mean_threshold(x_scale: ArrayLike = 1.0) -> Any:
    """Threshold of the mean error, ``1 / s^2``.

    ``E e_{k+1} = E(1 - 2 lr X^2) E e_k = (1 - 2 lr s^2) E e_k`` for fresh
    samples, and ``|1 - 2 lr s^2| < 1`` iff ``0 < lr < 1/s^2``. It is the
    population counterpart of :func:`~lrsweep.theory.dataset.gd_threshold` (the same condition with
    ``mean(x^2) = s^2``).

    Parameters
    ----------
    x_scale : array_like of float, optional
        Standard deviation ``s`` of the feature (default 1), ``> 0``.

    Returns
    -------
    lr : float or ndarray of float, shape of ``x_scale``
        ``inf`` or 0 only where the threshold leaves the float range (as
        :func:`as_threshold`).
    """
    return _scalar_or_array(_over_square(1.0, 1.0, x_scale))

