r"""Mini-batches: the epoch log-multiplier ``S_B`` of a dataset and the population thresholds in ``B``.

A mini-batch step of size ``B`` uses the mean gradient of its samples:
``theta <- theta - lr (1/B_k) sum_{i in batch} 2 x_i (theta x_i - y_i)``, so
for noise-free data the error is multiplied by

.. math:: 1 - \frac{2\,lr}{B_k} \sum_{i \in \text{batch } k} x_i^2 = 1 - 2\,lr\,c_k,
          \qquad c_k = \frac{1}{B_k} \sum_{i \in \text{batch } k} x_i^2 .

Fixed order: an epoch is ``n_b = ceil(n/B)`` steps; batch ``k`` holds the
consecutive samples ``kB .. min((k+1)B, n) - 1``, so the last one has
``B_k = n - B (n_b - 1)`` samples (all ``B_k = B`` when ``B`` divides ``n``;
``B >= n`` is one batch of all samples: full-batch GD).

Batch features
--------------
``S_B`` *is* the ``S`` of a dataset of ``n_b`` samples with squares ``c_k``
(exactly: ``1 - (2 lr/B_k) sum x_i^2 = 1 - 2 lr c_k`` is the same number),

.. math:: S_B(lr) = \sum_{k=1}^{n_b} \log|1 - 2\,lr\,c_k| ,

so everything :mod:`~lrsweep.theory.dataset` and :mod:`~lrsweep.theory.roots`
know about ``S`` holds for ``S_B``: poles at ``1/(2 c_k)``, strict concavity
between them, ``S_B < 0`` below the first pole, one root above the last, and
the first critical learning rate is the smallest root
(:func:`batch_log_multiplier`, :func:`batch_critical_lr`). The features are
carried as ``c_k = (cm_k / 2) 2^{ce_k}`` (``cm = 2 mean((x 2^-e)^2)`` with
``2^e`` the power of two of the batch's largest ``|x|``), never as
``sqrt(c_k)``: squaring a square root would move each pole by an ulp. For
``B = 1`` these are exactly the mantissa and exponent of ``2 x_i^2`` that
:func:`~lrsweep.theory.dataset.epoch_log_multiplier` and
:func:`~lrsweep.theory.roots.critical_lr` use, so both agree **bit for bit**
with them (tested), on the plain and on the scaled (extreme ``x``) paths.

Population, fresh samples ``X ~ N(0, s^2)``
--------------------------------------------
``c = (s^2/B) chi2_B``, so the factor is ``1 - u Y`` with ``u = 2 lr s^2``
and ``Y = chi2_B / B`` (Gamma with shape ``B/2`` and mean 1; ``E Y^2 = 1 +
2/B``, ``E Y^3 = (1 + 2/B)(1 + 4/B)``).

* Mean square: ``E (1 - u Y)^2 = 1 - 2u + u^2 (1 + 2/B) < 1`` iff
  ``u < 2B/(B + 2)``, i.e.

  .. math:: lr < lr_{ms}(B) = \frac{B}{s^2 (B + 2)}

  (:func:`batch_ms_threshold`; ``1/(3 s^2)`` at ``B = 1``, ``-> 1/s^2``, the
  full-batch GD threshold, as ``B -> inf``).
* Almost sure: ``L_B(lr) = E log|1 - u Y| < 0``
  (:func:`batch_population_log_multiplier`, :func:`batch_as_threshold`).
  ``B = 1`` is :func:`~lrsweep.theory.population.population_log_multiplier`
  and :func:`~lrsweep.theory.population.as_threshold` themselves (the same
  quadrature and cached root, so the same floats). For ``B >= 2`` the density
  of ``Y`` is bounded and the only singularity is the log one at
  ``y0 = 1/u``: the integral is split there and the two pieces next to it are
  mapped by ``|y - y0| = exp(-t)`` (as in :mod:`~lrsweep.theory.population`),
  the rest goes to ``scipy.integrate.quad``. Independent check (tests): for
  ``B = 2``, ``Y`` is exponential and ``L_2 = -exp(-1/u) Ei(1/u)``.
  Below ``u = 1e-8`` the series ``-u - u^2 E Y^2/2 - u^3 E Y^3/3`` and above
  ``1e9`` the expansion ``log u + E log Y - E[1/Y]/u`` (``E log Y = psi(B/2)
  + log(2/B)``, ``E[1/Y] = B/(B - 2)``; for ``B = 2`` the last term is
  ``(1/u)(log(1/u) + gamma - 1)``) are used; the quadrature meets both to
  1e-12 (tests).

Linear scaling
--------------
The linear scaling rule says the threshold grows like ``B``. Here
``lr_ms(B) / B = 1/(s^2 (B + 2))``: the mean-square threshold grows
sub-linearly from the start (``1/3, 1/2, 2/3, 4/5, 8/9`` at ``B = 1, 2, 4,
8, 16``) and saturates at the GD threshold ``1/s^2``. The almost-sure
threshold is not monotone: ``1.2106, 1.3423, 1.3494, 1.3315, 1.2463,
1.1497`` at ``B = 1, 2, 3, 4, 8, 16`` (``s = 1``), then ``1.0344`` at 64 and
``1.0020`` at 1024, down to ``1/s^2``; its maximum is at ``B = 3``. Above
the GD threshold (``u > 2``) a typical factor ``|1 - u Y| ~ u - 1``
amplifies, and ``E log|1 - u Y|`` stays negative only through the draws
near ``Y = 1/u`` that nearly cancel the error; the spread of ``chi2_B / B``
that produces them shrinks like ``sqrt(2/B)``, so the threshold falls to
``1/s^2`` for large ``B``. At ``B = 1`` the long right tail of ``Z^2``
(large, amplifying draws) costs more than it gains. So neither threshold
scales linearly: ``threshold / B`` falls from the first doubling on.
Both functions take arrays of ``B`` so a study can plot ``threshold / B``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validation import Interval, validate_params
from ._common import (
    BATCH_SIZES,
    LR,
    X_DATASETS,
    X_SCALE,
    _blocked,
    _brent_root,
    _broadcast,
    _ldexp,
    _log_abs_one_minus,
    _log_abs_one_minus_scaled,
    _over_square,
    _scalar_or_array,
)
from ._poles import X_DATASETS as X_POLE_DATASETS
from ._poles import Table
from .population import _as_threshold_u, _mean_var, _u_of
from .roots import _critical_table

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "batch_as_threshold",
    "batch_critical_lr",
    "batch_log_multiplier",
    "batch_ms_threshold",
    "batch_population_log_multiplier",
]

#: ``batch_size`` of the per-dataset functions: one int (``>= n`` means full-batch GD).
BATCH_SIZE = Interval("int", 1, math.inf, "left")

_EULER_GAMMA = 0.57721566490153286061
_U_SMALL = 1e-8
_U_BIG = 1e9
_QUAD = {"epsabs": 1e-14, "epsrel": 1e-13, "limit": 400}


# ----- batch features of one dataset (fixed order) -----


class Features:
    """Batch features ``c_k = (cm/2) 2^ce`` of datasets ``(D, n)`` for batch size ``B`` (module docstring).

    Attributes: ``cm`` (mantissa-sized, ``2 mean((x 2^-e)^2)``), ``ce`` (int64,
    ``2 e``), ``c`` (``2 c_k = cm 2^ce`` as a float: ``inf`` or subnormal where
    it leaves the normal range), ``nz`` (1.0 where the batch has a nonzero
    sample, else 0.0), ``sizes`` (the ``B_k``), all of shape ``(D, n_b)``
    except ``sizes`` ``(n_b,)``.
    """

    def __init__(self, x: NDArray[np.float64], batch_size: int) -> None:
        n = x.shape[-1]
        starts = np.arange(0, n, batch_size)
        self.sizes = np.diff(np.append(starts, n)).astype(np.float64)
        big = np.maximum.reduceat(np.abs(x), starts, axis=-1)
        _, e = np.frexp(big)
        e = e.astype(np.int64)
        which = np.repeat(np.arange(starts.size), self.sizes.astype(np.int64))
        with np.errstate(under="ignore"):
            y = np.ldexp(x, -e[..., which].astype(np.int32))  # exact but for samples far below the max
            sums = np.add.reduceat(np.square(y), starts, axis=-1)
        self.cm = 2.0 * (sums / self.sizes)
        self.ce = 2 * e
        self.c = _ldexp(self.cm, self.ce)
        self.nz = (self.cm != 0.0).astype(np.float64)

    def pole_table(self, row: int, weights: NDArray[np.float64] | None = None) -> Table:
        """The pole table of ``S_B`` (or of ``sum_k w_k log|1 - 2 lr c_k|``) of dataset ``row``.

        Poles ``1/(2 c_k)`` from the mantissas (the bits of
        :func:`~lrsweep.theory._poles.pole_table` for ``B = 1``); features
        with zero weight or ``c_k = 0`` are left out; features whose pole
        exceeds the largest float are *far* samples ``sqrt(c_k)`` (for
        ``B = 1`` exactly ``|x_i|``: ``sqrt(fl(m^2)) = |m|`` in binary
        floating point).
        """
        cm, ce = self.cm[row], self.ce[row]
        keep = cm != 0.0
        if weights is not None:
            keep &= weights > 0
        cm, ce = cm[keep], ce[keep]
        with np.errstate(divide="ignore"):
            p_all = _ldexp(1.0 / cm, -ce)
        finite = np.isfinite(p_all)
        p, inverse, cnt = np.unique(p_all[finite], return_inverse=True, return_counts=True)
        far = _ldexp(np.sqrt(0.5 * cm[~finite]), ce[~finite] // 2)
        if weights is None:
            return Table(p, cnt.astype(np.float64), far)
        w = weights[keep]
        summed = np.bincount(inverse.ravel(), weights=w[finite], minlength=p.size)
        return Table(p, summed, far, w[~finite])


def _batch_log_multiplier(x: NDArray[np.float64], lr: NDArray[np.float64], batch_size: int) -> Any:
    """:func:`batch_log_multiplier` of validated arrays."""
    out_shape = x.shape[:-1] + lr.shape
    f = Features(x.reshape(-1, x.shape[-1]), batch_size)
    lrf = lr.reshape(-1)
    out = _blocked(f.c, lrf, lambda v: _log_abs_one_minus(v).sum(axis=-1), np.float64, f.nz,
                   lambda w, k: _log_abs_one_minus_scaled(w, k).sum(axis=-1), 0, (f.cm, f.ce))
    return _scalar_or_array(out.reshape(out_shape))


def _batch_overshoot_count(x: NDArray[np.float64], lr: NDArray[np.float64], batch_size: int) -> Any:
    """``#{k: 2 lr c_k > 1}`` (batches whose step flips the sign of ``e``) of validated arrays.

    The batch counterpart of :func:`~lrsweep.theory.dataset.overshoot_count`,
    evaluated as ``lr * (2 c_k)`` on the features of :func:`batch_log_multiplier`
    (its bits for ``batch_size=1``).
    """
    out_shape = x.shape[:-1] + lr.shape
    f = Features(x.reshape(-1, x.shape[-1]), batch_size)
    out = _blocked(f.c, lr.reshape(-1), lambda v: np.count_nonzero(v > 1.0, axis=-1), np.int64, f.nz,
                   lambda w, k: np.count_nonzero(_ldexp(w, k) > 1.0, axis=-1), 0, (f.cm, f.ce))
    return _scalar_or_array(out.reshape(out_shape))


@validate_params({"x": X_DATASETS, "lr": LR, "batch_size": BATCH_SIZE})
def batch_log_multiplier(x: ArrayLike, lr: ArrayLike, batch_size: int = 1) -> Any:
    r"""Log of the factor by which one epoch of fixed-order mini-batch SGD multiplies the error.

    .. math:: S_B(lr) = \sum_{k=1}^{\lceil n/B \rceil}
              \log\Bigl|1 - \frac{2\,lr}{B_k} \sum_{i \in \text{batch } k} x_i^2\Bigr|

    with batch ``k`` the samples ``kB .. min((k+1)B, n) - 1`` (``B_k`` of them).
    For noise-free data ``log|e_{q n_b}| - log|e_0| = q S_B(lr)``; repeated
    epochs diverge iff ``S_B > 0``.

    Parameters
    ----------
    x : array_like of float, shape (n,) or (n_datasets, n)
        One dataset or a stack of datasets.
    lr : array_like of float, any shape
        Learning rates, finite and ``>= 0``.
    batch_size : int, optional
        ``B >= 1`` (default 1); ``B >= n`` is full-batch GD
        (``S_B = log|1 - 2 lr mean(x^2)|``).

    Returns
    -------
    S_B : float or ndarray of float, shape ``x.shape[:-1] + lr.shape``
        ``-inf`` where ``2 lr c_k`` rounds to 1 (a pole). ``batch_size=1``
        gives :func:`~lrsweep.theory.dataset.epoch_log_multiplier` bit for
        bit; extreme ``x`` are handled as there (module docstring).
    """
    return _batch_log_multiplier(x, lr, batch_size)


@validate_params({"x": X_POLE_DATASETS, "batch_size": BATCH_SIZE})
def batch_critical_lr(x: ArrayLike, batch_size: int = 1) -> Any:
    r"""Smallest learning rate at which repeated fixed-order mini-batch epochs diverge.

    The smallest positive root of :func:`batch_log_multiplier`, found by
    :func:`~lrsweep.theory.roots.critical_lr`'s search on the pole table of
    the batch features ``c_k`` (poles ``1/(2 c_k)``, module docstring): ``S_B``
    is concave between its poles and negative below the first one, so the
    root is bracketed without a grid.

    Parameters
    ----------
    x : array_like of float, shape (n,) or (n_datasets, n)
        One dataset or a stack of datasets, ``|x_i| <= 2**510``.
    batch_size : int, optional
        ``B >= 1`` (default 1).

    Returns
    -------
    lr_c : float or ndarray of float, shape ``x.shape[:-1]``
        In ``(1/(2 max c_k), 1/min_{c_k > 0} c_k]``. ``batch_size=1`` gives
        :func:`~lrsweep.theory.roots.critical_lr` bit for bit; ``B >= n``
        gives the GD threshold ``1/mean(x^2)`` (to rounding). ``inf`` for a
        dataset of zeros.
    """
    return _batch_critical_lr(x, batch_size)


def _batch_critical_lr(x: NDArray[np.float64], batch_size: int) -> Any:
    """:func:`batch_critical_lr` of validated arrays (also used by :mod:`~lrsweep.theory.features`)."""
    flat = x.reshape(-1, x.shape[-1])
    f = Features(flat, batch_size)
    out = np.array([_critical_table(f.pole_table(i)) for i in range(flat.shape[0])])
    return _scalar_or_array(out.reshape(x.shape[:-1]))


# ----- population: fresh Gaussian samples -----


@validate_params({"batch_size": BATCH_SIZES, "x_scale": X_SCALE})
def batch_ms_threshold(batch_size: ArrayLike = 1, x_scale: ArrayLike = 1.0) -> Any:
    r"""Mean-square stability threshold of mini-batch SGD on fresh samples, ``B / (s^2 (B + 2))``.

    With ``A = (2/B) sum_{i<=B} X_i^2``: ``E A = 2 s^2``, ``E A^2 = 4 s^4 (1 +
    2/B)`` (``E X^4 = 3 s^4``), and

    .. math:: E(1 - lr A)^2 = 1 - 4\,lr\,s^2 + 4\,lr^2 s^4 (1 + 2/B) < 1
              \iff lr < \frac{B}{s^2 (B + 2)} .

    Parameters
    ----------
    batch_size : array_like of int, optional
        ``B >= 1`` (default 1).
    x_scale : array_like of float, optional
        Standard deviation ``s`` of the feature (default 1), ``> 0``;
        broadcast against ``batch_size``.

    Returns
    -------
    lr : float or ndarray of float, shape ``broadcast(batch_size, x_scale)``
        ``1/3, 1/2, 2/3, 4/5, 8/9, 16/18`` (``s = 1``) at ``B = 1, 2, 4, 8, 16``;
        ``B = 1`` is :func:`~lrsweep.theory.population.ms_threshold` bit for bit.
        ``threshold / B = 1/(s^2 (B + 2))``: linear scaling fails from ``B ~ 2``.
    """
    b, s = _broadcast("batch_ms_threshold", {"batch_size": (batch_size, BATCH_SIZES),
                                             "x_scale": (x_scale, X_SCALE)})
    b, s = b.astype(np.float64), s.astype(np.float64)
    return _scalar_or_array(np.asarray(_over_square(b, b + 2.0, s)))


def _gamma_log_expect(u: float, b: int) -> float:
    """``E log|1 - u Y|``, ``Y ~ chi2_b / b`` (Gamma, shape ``b/2``, mean 1), ``b >= 2``, ``u > 0``."""
    from scipy.integrate import quad
    from scipy.special import gammainccinv, gammaln

    k, theta = 0.5 * b, 2.0 / b
    log_norm = -gammaln(k) - k * math.log(theta)

    def dens(y: float) -> float:
        if y <= 0.0:
            return math.exp(log_norm) if k == 1.0 else 0.0
        return math.exp((k - 1.0) * math.log(y) - y / theta + log_norm)

    y0, log_u = 1.0 / u, math.log(u)

    def ell(y: float) -> float:
        v = u * y
        return math.log1p(-v) if v < 0.5 else log_u + math.log(abs(y0 - y))

    def q(f: Any, a: float, bnd: float, pts: list[float] | None = None) -> float:
        if not a < bnd:
            return 0.0
        inside = [p for p in pts or [] if a < p < bnd] or None
        return float(quad(f, a, bnd, full_output=1, points=inside, **_QUAD)[0])

    y_hi = float(gammainccinv(k, 1e-30)) * theta  # beyond: the density's mass is below 1e-30
    mode = (k - 1.0) * theta
    sd = math.sqrt(k) * theta

    def g(y: float) -> float:
        return dens(y) * ell(y)

    if y0 > y_hi + sd:
        return q(g, 0.0, y_hi, [mode])
    d = min(0.5 * y0, sd)
    t0 = -math.log(d)

    def left(t: float) -> float:
        h = math.exp(-t)
        return dens(y0 - h) * (log_u - t) * h

    def right(t: float) -> float:
        h = math.exp(-t)
        return dens(y0 + h) * (log_u - t) * h

    total = q(g, 0.0, y0 - d, [mode]) + q(left, t0, math.inf) + q(right, t0, math.inf)
    # beyond y0 + d the log term still varies on the scale of y - y0, which for large u is far
    # below the density's scale: geometric segments keep each quad on one scale (for B = 2 one
    # quad on [y0 + d, y_hi] erred by 3e-7 at u = 1e7)
    a = y0 + d
    while a < y_hi:
        b_end = min(y_hi, y0 + 16.0 * (a - y0)) if a - y0 < sd else y_hi
        total += q(g, a, b_end, [mode])
        a = b_end
    return total


def _batch_mean_log(u: float, log_u: float, b: int) -> float:
    """``L_B`` at ``u = 2 lr s^2`` (``log_u`` carries ``log u`` where ``u`` overflowed); any ``b >= 1``."""
    if b == 1:
        return _mean_var(u, log_u)[0]
    if u == 0.0:
        return 0.0
    ey2 = 1.0 + 2.0 / b
    if u < _U_SMALL:
        return -u * (1.0 + 0.5 * u * ey2 + u * u * ey2 * (1.0 + 4.0 / b) / 3.0)
    if u < _U_BIG:
        return _gamma_log_expect(u, b)
    from scipy.special import digamma

    r = 1.0 / u
    # E log Y = psi(b/2) + log(2/b); next term -E[1/Y]/u (b > 2), r (log r + gamma - 1) for b = 2
    tail = r * (math.log(r) + _EULER_GAMMA - 1.0) if b == 2 else -r * b / (b - 2.0)
    return log_u + float(digamma(0.5 * b)) + math.log(2.0 / b) + tail


@validate_params({"lr": LR, "batch_size": BATCH_SIZES, "x_scale": X_SCALE})
def batch_population_log_multiplier(lr: ArrayLike, batch_size: ArrayLike = 1,
                                    x_scale: ArrayLike = 1.0) -> Any:
    r"""Lyapunov exponent per step of mini-batch SGD on fresh Gaussian samples.

    .. math:: L_B(lr) = E \log\Bigl|1 - \frac{2\,lr}{B} \sum_{i=1}^{B} X_i^2\Bigr|
              = E \log|1 - u Y|, \quad u = 2\,lr\,s^2,\ Y = \chi^2_B / B .

    Fresh-sample mini-batch SGD converges almost surely iff ``L_B < 0``.

    Parameters
    ----------
    lr : array_like of float
        Learning rates, finite and ``>= 0``.
    batch_size : array_like of int, optional
        ``B >= 1`` (default 1).
    x_scale : array_like of float, optional
        Standard deviation ``s`` (default 1), ``> 0``. The three arguments
        are broadcast together.

    Returns
    -------
    L_B : float or ndarray of float
        ``B = 1``: :func:`~lrsweep.theory.population.population_log_multiplier`
        (same floats). ``B >= 2``: quadrature (module docstring), absolute
        accuracy about 1e-12 (checked against ``-exp(-1/u) Ei(1/u)`` at
        ``B = 2`` and by simulation).

    Notes
    -----
    Each value costs a few adaptive quadratures (about a millisecond).
    """
    lr_b, b_b, s_b = _broadcast("batch_population_log_multiplier", {
        "lr": (lr, LR), "batch_size": (batch_size, BATCH_SIZES), "x_scale": (x_scale, X_SCALE)})
    s_b = s_b.astype(np.float64)
    u, log_u = _u_of(lr_b, s_b)
    out = np.array([_batch_mean_log(float(v), float(lv), int(bb))
                    for v, lv, bb in zip(u.ravel(), log_u.ravel(), b_b.ravel(), strict=True)])
    return _scalar_or_array(out.reshape(u.shape))


_AS_U: dict[int, float] = {}  # cache: the a.s. threshold in u per batch size (universal constants)


def _as_u(b: int) -> float:
    """Root of ``L_B(u) = 0``: ``L_B`` is negative on ``(0, 1]`` and tends to ``+inf``."""
    if b == 1:
        return _as_threshold_u()
    if b not in _AS_U:
        def f(u: float) -> float:
            return _batch_mean_log(u, math.log(u), b)

        hi = 2.0
        while f(hi) <= 0:
            hi *= 2.0
        _AS_U[b] = _brent_root(f, 1.0, hi)
    return _AS_U[b]


@validate_params({"batch_size": BATCH_SIZES, "x_scale": X_SCALE})
def batch_as_threshold(batch_size: ArrayLike = 1, x_scale: ArrayLike = 1.0) -> Any:
    r"""Almost-sure stability threshold of mini-batch SGD on fresh Gaussian samples.

    The positive root of :func:`batch_population_log_multiplier`,
    ``lr_as(B) = u_as(B) / (2 s^2)`` with ``u_as(B)`` the root of
    ``E log|1 - u chi2_B / B| = 0`` (Brent's method, cached per ``B``).

    Parameters
    ----------
    batch_size : array_like of int, optional
        ``B >= 1`` (default 1).
    x_scale : array_like of float, optional
        Standard deviation ``s`` (default 1), ``> 0``; broadcast against
        ``batch_size``.

    Returns
    -------
    lr : float or ndarray of float, shape ``broadcast(batch_size, x_scale)``
        ``B = 1``: :func:`~lrsweep.theory.population.as_threshold` (the same
        float, 1.2106...); ``1.3423`` at ``B = 2`` (where ``Ei(1/u) = 0``),
        largest at ``B = 3`` (``1.3494``), then decreasing towards the GD
        threshold ``1/s^2`` (module docstring).
    """
    b, s = _broadcast("batch_as_threshold", {"batch_size": (batch_size, BATCH_SIZES),
                                             "x_scale": (x_scale, X_SCALE)})
    s = s.astype(np.float64)
    u = np.array([_as_u(int(v)) for v in b.ravel()]).reshape(b.shape)
    return _scalar_or_array(np.asarray(_over_square(u, 2.0, s)))
