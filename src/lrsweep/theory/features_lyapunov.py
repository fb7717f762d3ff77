r"""d features, fresh samples, any covariance, bias or batches: the almost-sure exponent by Monte Carlo.

Without isotropy (unequal feature scales, a learned bias) or with ``B > 1``
the growth of ``log ||e||`` is no longer a random walk and
:func:`~lrsweep.theory.features_population.isotropic_log_multiplier` does
not apply: the top Lyapunov exponent

.. math:: \lambda = \lim_{t \to \infty} \frac1t \log \|F_t \cdots F_1 e_0\|, \qquad
          F = I - \frac{2\,lr}{B} \sum_{i=1}^{B} z_i z_i^T,\ z = x \text{ or } (x, 1),\
          x \sim N(0, \mathrm{diag}(s_j^2))

(Furstenberg-Kesten: the same for almost every ``e_0`` and almost every
sequence) has no closed form. :func:`feature_lyapunov_exponent` estimates it
by the standard method for products of random matrices: the product is
applied to an orthonormal frame which is re-orthonormalised (QR) after
every step and the logs of the diagonal of ``R`` are averaged. For the *top*
exponent a frame of one vector suffices (QR of one column is its
normalisation, ``R_11 = ||F e||``), which is what is done: ``O(B p)`` per step,
never the matrix ``F``.

Error, stated: ``n_chains`` independent chains, each from a random unit
``e_0``, each averaged over its ``n_steps - burn`` steps after a burn-in of
``n_steps // 10`` (the frame forgets ``e_0`` geometrically fast, at the gap
between the top two exponents); the chains are independent batches, so the
standard error is ``std over chains / sqrt(n_chains)`` (batch means). The
bias of a finite product is ``O(1/n_steps)`` (the memory of the burn-in
start) and is not in the standard error; with the defaults it is far below
it (tested: the isotropic estimate is within a few standard errors of the
quadrature of :func:`~lrsweep.theory.features_population.isotropic_log_multiplier`).
All learning rates share the draws (common random numbers), so ``lambda``
is estimated as a smooth function of ``lr`` whose differences are far more
precise than each value; :func:`feature_as_threshold` uses this to find the
root and propagates the standard error through the slope (delta method).

Cost (measured on the shared two-core machine): about ``2e-8 s x n_steps x
n_chains x n_lr x B x p`` plus some 30 us per step, e.g. 0.3 s for 1000 steps
of 64 chains at 16 learning rates, ``d = 10`` with a bias, 1 s at ``d = 64``;
:func:`feature_as_threshold` with the defaults about six such simulations of
4000 steps: 5 s at ``d = 10``, 30 s at ``d = 64``.

Estimates (defaults, ``s = 1``, ``B = 1``; seeds ``d`` and ``100 + d``), almost-sure
threshold with a bias at ``d = 1, 2, 5, 10, 32, 64``: ``0.5442(12), 0.3230(6),
0.1508(2), 0.08271(14), 0.02890(2), 0.014985(8)`` (the last digits in brackets
are one standard error); without a bias the same estimator gives ``1.2076(50),
0.4686(12), 0.17571(28), 0.09002(14), 0.029704(30), 0.015209(10)`` against the
quadrature's ``1.2106, 0.46854, 0.17561, 0.089944, 0.029724, 0.015194``. A
bias more than halves the threshold at ``d = 1`` and matters less and less
as ``d`` grows. Unequal scales at ``d = 10``: ``0.02104(4)`` for ``kappa = 10``
and ``0.003143(14)`` for ``kappa = 100`` (mean-square thresholds 0.018567 and
0.0025553).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .._validation import Array, Boolean, Interval, RandomSource, validate_params
from ._common import LR, _scalar_or_array
from .features_ms import _ms_lr, _ms_parts
from .momentum import LyapunovEstimate

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import ArrayLike, NDArray

__all__ = ["feature_as_threshold", "feature_lyapunov_exponent"]

#: ``scales`` of one model: per-feature standard deviations ``(d,)``.
SCALES_ONE = Array(0.0, math.inf, "neither", ndim=(1,),
                   what="a 1-D array of per-feature scales (d,)")
_BATCH = Interval("int", 1, 2**20, "both")
_STEPS = Interval("int", 10, 2**31, "both")
_CHAINS = Interval("int", 2, 2**31, "both")


def _per_chain(lr: NDArray[np.float64], scales: NDArray[np.float64], batch_size: int, fit_intercept: bool,
               n_steps: int, n_chains: int, seed: int) -> NDArray[np.float64]:
    """Average ``log ||F e||`` per (lr, chain) after the burn-in, shape ``(L, C)``; draws from ``seed``."""
    gen = np.random.default_rng(seed)
    d = scales.size
    p = d + int(fit_intercept)
    e = gen.standard_normal((n_chains, p))
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    e = np.repeat(e[:, None, :], lr.size, axis=1)  # (C, L, p): one matrix product per chain
    coef = (2.0 / batch_size) * lr[None, :, None]
    acc = np.zeros((n_chains, lr.size))
    burn = n_steps // 10
    z = np.ones((n_chains, batch_size, p))
    with np.errstate(divide="ignore", invalid="ignore"):
        for t in range(n_steps):
            z[..., :d] = gen.standard_normal((n_chains, batch_size, d)) * scales
            if batch_size == 1:  # a rank-one step: elementwise, no small matrix products
                zc = z[:, None, 0, :]
                e -= coef * np.einsum("clp,cqp->clq", e, zc) * zc
            else:
                e -= coef * (np.einsum("clp,cbp->clb", e, z) @ z)
            norm = np.sqrt(np.einsum("clp,clp->cl", e, e))
            if t >= burn:
                acc += np.log(norm)
            e /= norm[..., None]
    return acc.T / (n_steps - burn)


@validate_params({"lr": LR, "scales": SCALES_ONE, "batch_size": _BATCH, "fit_intercept": Boolean(),
                  "n_steps": _STEPS, "n_chains": _CHAINS, "rng": RandomSource()})
def feature_lyapunov_exponent(
    lr: ArrayLike,
    scales: ArrayLike,
    batch_size: int = 1,
    fit_intercept: bool = False,
    n_steps: int = 4000,
    n_chains: int = 64,
    *,
    rng: int | np.random.Generator,
) -> LyapunovEstimate:
    r"""Monte Carlo *estimate* of the top Lyapunov exponent per step of fresh-sample SGD with ``d`` features.

    .. math:: \lambda = \lim_{t \to \infty} \frac1t \log \|F_t \cdots F_1 e_0\|,
              \qquad F = I - \frac{2\,lr}{B} \sum_{i=1}^{B} z_i z_i^T

    (module docstring); almost-sure convergence iff ``lambda < 0``.

    Parameters
    ----------
    lr : array_like of float
        Learning rates, finite and ``>= 0``; they share the draws.
    scales : array_like of float, shape (d,)
        Per-feature standard deviations ``s_j > 0`` (e.g.
        :func:`~lrsweep.theory.features_ms.condition_scales`).
    batch_size : int, optional
        ``B >= 1`` (default 1).
    fit_intercept : bool, optional
        Learn a bias (default False): ``z = (x, 1)``.
    n_steps : int, optional
        Steps per chain (default 4000), in ``[10, 2**31]``.
    n_chains : int, optional
        Independent chains (default 64), in ``[2, 2**31]``.
    rng : int or numpy.random.Generator
        Seed or generator, required (keyword only); a generator is advanced
        by one draw (the seed of the chains). No global state is used.

    Returns
    -------
    LyapunovEstimate
        ``(exponent, standard_error)``, each of shape ``lr.shape``: the mean
        over chains and ``std / sqrt(n_chains)`` (batch means over independent
        chains; the ``O(1/n_steps)`` bias is not included).
    """
    seed = int(rng.integers(2**63))
    per = _per_chain(lr.reshape(-1), scales, batch_size, fit_intercept, n_steps, n_chains, seed)
    est = per.mean(axis=1)
    se = per.std(axis=1, ddof=1) / math.sqrt(n_chains)
    return LyapunovEstimate(_scalar_or_array(est.reshape(lr.shape)), _scalar_or_array(se.reshape(lr.shape)))


@validate_params({"scales": SCALES_ONE, "batch_size": _BATCH, "fit_intercept": Boolean(),
                  "n_steps": _STEPS, "n_chains": _CHAINS, "rng": RandomSource()})
def feature_as_threshold(
    scales: ArrayLike,
    batch_size: int = 1,
    fit_intercept: bool = False,
    n_steps: int = 4000,
    n_chains: int = 64,
    *,
    rng: int | np.random.Generator,
) -> LyapunovEstimate:
    r"""Monte Carlo *estimate* of the almost-sure threshold: the root of the estimated exponent.

    With the draws fixed (common random numbers) the estimate
    ``lambda_hat(lr)`` of :func:`feature_lyapunov_exponent` is a continuous
    function of ``lr``. It is negative at the mean-square threshold
    :func:`~lrsweep.theory.features_ms.feature_ms_threshold` (where
    ``lambda <= (1/2) log rho_ms = 0``, Jensen); the grid ``lr_ms 2^(j/8)`` is
    scanned for its first sign change and the bracket refined by 16-point
    sub-grids to a relative ``1e-4`` (far below the standard error). The standard error is that of
    ``lambda_hat`` at the root divided by the slope there (delta method).

    Parameters
    ----------
    scales : array_like of float, shape (d,)
        Per-feature standard deviations ``s_j > 0``.
    batch_size : int, optional
        ``B >= 1`` (default 1).
    fit_intercept : bool, optional
        Learn a bias (default False).
    n_steps, n_chains : int, optional
        As :func:`feature_lyapunov_exponent` (defaults 4000 and 64).
    rng : int or numpy.random.Generator
        Seed or generator, required (keyword only).

    Returns
    -------
    LyapunovEstimate
        ``(exponent, standard_error)`` where ``exponent`` is the estimated
        threshold learning rate (a float) and ``standard_error`` its standard
        error. Isotropic without a bias it estimates
        :func:`~lrsweep.theory.features_population.isotropic_as_threshold`
        (tested within a few standard errors). About five simulations of 16
        learning rates (1-3 s at ``d = 10``).
    """
    seed = int(rng.integers(2**63))
    m, gauss = _ms_parts(scales[None, :], fit_intercept)
    b = int(batch_size)
    lr_ms = _ms_lr(m[0], gauss[0], b)

    def lam(lrs: NDArray[np.float64]) -> NDArray[np.float64]:
        return _per_chain(lrs, scales, b, fit_intercept, n_steps, n_chains, seed).mean(axis=1)

    lo, j = lr_ms, 0
    while True:
        grid = lr_ms * 2.0 ** ((j + np.arange(1, 17)) / 8.0)
        g = lam(grid)
        if (g >= 0).any():
            first = int(np.argmax(g >= 0))
            lo, hi = (grid[first - 1] if first else lo), grid[first]
            break
        lo, j = grid[-1], j + 16
        if j > 8 * 64:  # 2^64 above lr_ms: no root found
            return LyapunovEstimate(math.inf, math.nan)
    while hi - lo > 1e-4 * hi:
        grid = lo + (hi - lo) * np.arange(1, 17) / 17.0
        g = lam(grid)
        up = g >= 0
        first = int(np.argmax(up)) if up.any() else grid.size
        lo = grid[first - 1] if first else lo
        hi = grid[first] if first < grid.size else hi
    root = 0.5 * (lo + hi)
    h = 1e-3 * root
    per = _per_chain(np.array([root - h, root, root + h]), scales, b, fit_intercept, n_steps, n_chains, seed)
    slope = (per[2].mean() - per[0].mean()) / (2.0 * h)
    se = per[1].std(ddof=1) / math.sqrt(n_chains) / abs(slope)
    return LyapunovEstimate(float(root), float(se))
