r"""Momentum (heavy ball and Nesterov): exact growth per dataset, mean-square and almost-sure stability.

Convention (PyTorch's ``SGD``, dampening 0): ``v_0 = 0``, ``v_{t+1} = beta v_t
+ g_t``; heavy ball ``theta_{t+1} = theta_t - lr v_{t+1}``, Nesterov
``theta_{t+1} = theta_t - lr (g_t + beta v_{t+1})``. With the batch gradient
``g_t = A_t e_t - b_t`` (``A_t`` the batch mean of ``2 x_i^2``, ``b_t`` of
``2 x_i r_i``) and ``w = lr v`` the step is linear in ``(e, w)``:

.. math:: \begin{pmatrix} e \\ w \end{pmatrix}_{t+1} =
          \underbrace{\begin{pmatrix} 1 - \kappa X_t & -\eta \\ X_t & \beta \end{pmatrix}}_{T(X_t)}
          \begin{pmatrix} e \\ w \end{pmatrix}_t
          + lr\,b_t \begin{pmatrix} \kappa \\ -1 \end{pmatrix},
          \qquad X_t = lr\,A_t ,

with ``(kappa, eta) = (1, beta)`` (heavy ball) or ``(1 + beta, beta^2)``
(Nesterov). ``(e, w)`` is ``(e, v)`` up to the fixed similarity
``diag(1, lr)``, which changes no growth rate or spectral radius and makes
every quantity a function of ``X = lr A`` alone. ``det T = beta`` (heavy
ball) and ``beta (1 - X)`` (Nesterov); ``beta = 0`` is plain SGD,
``T = [[1 - X, 0], [X, 0]]``.

Per dataset, fixed order, noise-free
------------------------------------
Batch ``k`` of the epoch has ``X_k = 2 lr c_k`` (the batch features of
:mod:`~lrsweep.theory.batches`), so an epoch maps the state by the fixed
matrix ``P = T(X_{n_b - 1}) ... T(X_0)`` and after ``q`` epochs by ``P^q``.
By Gelfand's formula ``||P^q||^{1/q} -> rho(P)``, so ``log|e|`` (and the
log-norm of the state) grows by ``log rho(P)`` per epoch asymptotically,
from any start with a component along the dominant eigenvector (almost
every start; ``v_0 = 0`` too unless the data conspire). A norm of ``P`` is
only an upper bound: a non-normal ``P`` can have ``||P|| > 1`` (transient
growth) with ``rho(P) < 1`` (eventual decay), and a complex pair of
eigenvalues makes ``|e|`` oscillate within a bounded factor of ``rho^q``.
:func:`momentum_epoch_growth` returns ``log rho(P)``: the product is formed
with exact power-of-two rescaling (no overflow over any number of steps),
``det P`` from the exact determinants of the factors (with their signs:
Nesterov's ``beta (1 - X)`` is negative for ``X > 1``), and ``rho`` from the
trace and determinant (``(|tr| + sqrt(tr^2 - 4 det))/2`` for real, ``sqrt(det)``
for complex eigenvalues). With ``beta = 0`` it is
:func:`~lrsweep.theory.batches.batch_log_multiplier` (up to the rounding
of a product of ``n_b`` factors).

Population, fresh samples ``X ~ N(0, s^2)``: mean square
---------------------------------------------------------
Without noise the second moments ``(E e^2, E e w, E w^2)`` evolve by the
``3 x 3`` matrix (``x1 = E X = 2u``, ``x2 = E X^2 = 4u^2 (1 + 2/B)``,
``u = lr s^2``; for ``B = 1``, ``E A = 2 s^2``, ``E A^2 = 12 s^4``)

.. math:: M = \begin{pmatrix}
          1 - 2\kappa x_1 + \kappa^2 x_2 & -2\eta (1 - \kappa x_1) & \eta^2 \\
          x_1 - \kappa x_2 & \beta (1 - \kappa x_1) - \eta x_1 & -\eta\beta \\
          x_2 & 2 \beta x_1 & \beta^2 \end{pmatrix} ,

so ``E e_t^2`` converges iff ``rho(M) < 1`` (:func:`momentum_ms_radius`).
``M`` is the map ``Sigma -> E[T Sigma T^T]`` on symmetric 2 x 2 matrices,
which preserves the cone of positive semi-definite ones, so (Krein-Rutman)
``rho(M)`` is itself an eigenvalue: ``rho(M)`` first reaches 1 where
``det(I - M) = 0``. With ``m2 = E x^2`` and ``E' = E c^2 = m4/B + (1 -
1/B) m2^2`` (``c`` the batch mean of ``x^2``; ``E' = s^4 (1 + 2/B)`` for
Gaussian ``x``), ``det(I - M)`` is ``4 lr`` times (exact algebra)

.. math:: D(lr) = m_2 (1 - \beta^2) - lr\,\bigl((1 + \beta) E' - 2\gamma m_2^2\bigr)
                  - 2\,\delta\,\gamma\,m_2 E'\,lr^2 ,

``gamma = beta, delta = 0`` (heavy ball), ``gamma = beta (1 + 2 beta),
delta = 1`` (Nesterov). ``D(0) > 0`` and ``D`` is linear (heavy ball) or a
concave quadratic with ``D(0) > 0`` (Nesterov), so it has exactly one
positive root and the mean-square region is the interval ``0 < lr < lr_c``
(:func:`momentum_ms_threshold`; heavy ball, Gaussian ``x``):

.. math:: lr_c = \frac{1 - \beta^2}{s^2 \bigl((1 + \beta)(1 + 2/B) - 2\beta\bigr)}

(``1/(3 s^2)`` at ``beta = 0, B = 1``; ``B/(s^2 (B + 2))`` at ``beta = 0``).

Population: almost sure
-----------------------
Fresh-sample momentum SGD converges almost surely iff the top Lyapunov
exponent ``lambda = lim (1/t) log ||T(X_t) ... T(X_1)||`` is negative.
There is no closed form for a random 2 x 2 product;
:func:`momentum_lyapunov_exponent` *estimates* it by Monte Carlo (seeded
chains, a standard error across chains). ``beta = 0`` gives
:func:`~lrsweep.theory.batches.batch_population_log_multiplier` exactly
(a 1 x 1 product), the check used in the tests.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .._validation import Array, Boolean, Interval, RandomSource, validate_params
from ._common import (
    _LN2,
    BATCH_SIZES,
    LR,
    X_DATASETS,
    X_SCALE,
    _broadcast,
    _frexp,
    _ldexp,
    _log_abs_one_minus_scaled,
    _over_square,
    _plain_ok,
    _scalar_or_array,
)
from .batches import BATCH_SIZE, Features
from .population import _u_of

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "LyapunovEstimate",
    "momentum_epoch_growth",
    "momentum_lyapunov_exponent",
    "momentum_ms_radius",
    "momentum_ms_threshold",
]

#: ``momentum`` beta: ``[0, 1)``, broadcast against the learning rates.
MOMENTUM = Array(0.0, 1.0, "left", ndim=None, nonempty=False)


def _kappa_eta(beta: NDArray[np.float64], nesterov: bool) -> tuple[Any, Any]:
    """``(kappa, eta)`` of the step matrix ``T = [[1 - kappa X, -eta], [X, beta]]``."""
    return (1.0 + beta, beta * beta) if nesterov else (np.ones_like(beta), beta)


# ----- per dataset: log spectral radius of the epoch product -----


def _epoch_growth(f: Features, lr: NDArray[np.float64], beta: NDArray[np.float64], nesterov: bool) -> Any:
    """``log rho(P)`` for features ``f`` (D datasets) and the 1-D pairs ``(lr, beta)``; shape ``(D, P)``."""
    d_all, n_b = f.c.shape
    kappa, eta = _kappa_eta(beta, nesterov)
    plain = _plain_ok(f.nz, f.c, float(lr.max()) if lr.size else 0.0)
    lm, le = _frexp(lr)
    shape = (d_all, lr.size)
    p11, p12, p21, p22 = np.ones(shape), np.zeros(shape), np.zeros(shape), np.ones(shape)
    scale = np.zeros(shape, dtype=np.int64)  # P = 2^scale * (p11 p12; p21 p22)
    log_det = np.zeros(shape)
    det_negative = np.zeros(shape, dtype=bool)  # Nesterov: det T = beta (1 - X) < 0 where X > 1
    with np.errstate(divide="ignore", under="ignore", over="ignore", invalid="ignore"):
        for k in range(n_b):
            if plain:
                x = lr[None, :] * f.c[:, k, None]
                w, ke = _frexp(x)
            else:
                w, ke = lm[None, :] * f.cm[:, k, None], le[None, :] + f.ce[:, k, None]
                x = _ldexp(w, ke)
            # T = 2^s (a b; c d) with s = 0 for X < 1 and the exponent of X above: entries <= ~3
            s = np.where(x >= 1.0, ke + _frexp(w)[1], 0)
            inv = _ldexp(1.0, -s)
            xs = np.where(s > 0, _ldexp(w, ke - s), x)  # X 2^-s without forming an overflowed X
            a = inv - kappa * xs
            b, c, d = -eta * inv, xs, beta * inv
            p11, p12, p21, p22 = a * p11 + b * p21, a * p12 + b * p22, c * p11 + d * p21, c * p12 + d * p22
            big = np.maximum(np.maximum(np.abs(p11), np.abs(p12)), np.maximum(np.abs(p21), np.abs(p22)))
            r = np.where(big > 0, _frexp(big)[1], 0)
            p11, p12, p21, p22 = (_ldexp(p, -r) for p in (p11, p12, p21, p22))
            scale += s + r
            if nesterov:
                log_det += np.log(beta) + _log_abs_one_minus_scaled(w, ke)
                det_negative ^= x > 1.0
        if not nesterov:
            log_det = n_b * np.log(np.broadcast_to(beta, shape))
        tr = p11 + p22
        det = np.exp(log_det - 2.0 * _LN2 * scale)  # |det| of the rescaled product (<= ~1)
        det = np.where(det_negative, -det, det)
        disc = tr * tr - 4.0 * det
        rho = np.where(disc >= 0.0, 0.5 * (np.abs(tr) + np.sqrt(np.maximum(disc, 0.0))), np.sqrt(det))
        return np.log(rho) + _LN2 * scale


@validate_params({"x": X_DATASETS, "lr": LR, "momentum": MOMENTUM, "batch_size": BATCH_SIZE,
                  "nesterov": Boolean()})
def momentum_epoch_growth(x: ArrayLike, lr: ArrayLike, momentum: ArrayLike = 0.0, batch_size: int = 1,
                          nesterov: bool = False) -> Any:
    r"""Asymptotic growth of ``log|e|`` per epoch of noise-free fixed-order momentum SGD.

    .. math:: \log \rho\bigl(T(X_{n_b-1}) \cdots T(X_1)\,T(X_0)\bigr), \qquad
              T(X) = \begin{pmatrix} 1 - \kappa X & -\eta \\ X & \beta \end{pmatrix},\
              X_k = \frac{2\,lr}{B_k} \sum_{i \in \text{batch } k} x_i^2

    (module docstring; ``(kappa, eta) = (1, beta)`` heavy ball, ``(1 + beta,
    beta^2)`` Nesterov). Repeated epochs diverge iff it is ``> 0``.

    Parameters
    ----------
    x : array_like of float, shape (n,) or (n_datasets, n)
        One dataset or a stack of datasets.
    lr : array_like of float
        Learning rates, finite and ``>= 0``.
    momentum : array_like of float, optional
        ``beta`` in ``[0, 1)`` (default 0), broadcast against ``lr``.
    batch_size : int, optional
        ``B >= 1`` (default 1).
    nesterov : bool, optional
        Nesterov's update instead of heavy ball (default False).

    Returns
    -------
    growth : float or ndarray of float, shape ``x.shape[:-1] + broadcast(lr, momentum).shape``
        ``log rho`` of the epoch product; ``-inf`` where ``rho = 0`` (``beta =
        0`` at a pole, or every factor singular). With ``beta = 0`` it equals
        :func:`~lrsweep.theory.batches.batch_log_multiplier` to about
        ``n_b eps`` relative. Where the two eigenvalues of the product nearly
        coincide, ``rho`` is ill-conditioned (a relative error of order
        ``sqrt(eps)``, inherent to a double eigenvalue).

    Notes
    -----
    A loop over the ``n_b`` steps of an epoch, vectorised over datasets and
    learning rates.
    """
    lr_b, beta_b = _broadcast("momentum_epoch_growth", {"lr": (lr, LR), "momentum": (momentum, MOMENTUM)})
    beta_b = beta_b.astype(np.float64)
    f = Features(x.reshape(-1, x.shape[-1]), batch_size)
    out = _epoch_growth(f, lr_b.reshape(-1), beta_b.reshape(-1), nesterov)
    return _scalar_or_array(out.reshape(x.shape[:-1] + lr_b.shape))


# ----- population: mean square -----


def _moment_matrix(u: Any, beta: Any, b: Any, nesterov: bool) -> NDArray[np.float64]:
    """The 3 x 3 second-moment matrix ``M`` (module docstring) at ``u = lr s^2``, shape ``(..., 3, 3)``."""
    kappa, eta = _kappa_eta(beta, nesterov)
    x1 = 2.0 * u
    x2 = 4.0 * u * u * (1.0 + 2.0 / b)
    m = np.empty((*np.shape(u), 3, 3))
    m[..., 0, 0] = 1.0 - 2.0 * kappa * x1 + kappa * kappa * x2
    m[..., 0, 1] = -2.0 * eta * (1.0 - kappa * x1)
    m[..., 0, 2] = eta * eta
    m[..., 1, 0] = x1 - kappa * x2
    m[..., 1, 1] = beta * (1.0 - kappa * x1) - eta * x1
    m[..., 1, 2] = -eta * beta
    m[..., 2, 0] = x2
    m[..., 2, 1] = 2.0 * beta * x1
    m[..., 2, 2] = beta * beta
    return m


@validate_params({"lr": LR, "momentum": MOMENTUM, "batch_size": BATCH_SIZES, "nesterov": Boolean(),
                  "x_scale": X_SCALE})
def momentum_ms_radius(lr: ArrayLike, momentum: ArrayLike = 0.0, batch_size: ArrayLike = 1,
                       nesterov: bool = False, x_scale: ArrayLike = 1.0) -> Any:
    r"""Spectral radius of the second-moment recursion of momentum SGD on fresh Gaussian samples.

    ``rho(M)`` of the 3 x 3 matrix of the module docstring, the factor by
    which ``E e^2`` (and ``E e v``, ``E v^2``) grows or shrinks per step in the
    long run; mean-square stable iff ``rho(M) < 1``. ``beta = 0``:
    ``E (1 - lr A)^2 = 1 - 4 lr s^2 + 4 lr^2 s^4 (1 + 2/B)``.

    Parameters
    ----------
    lr : array_like of float
        Learning rates, finite and ``>= 0``.
    momentum : array_like of float, optional
        ``beta`` in ``[0, 1)`` (default 0).
    batch_size : array_like of int, optional
        ``B >= 1`` (default 1).
    nesterov : bool, optional
        Nesterov instead of heavy ball (default False).
    x_scale : array_like of float, optional
        Standard deviation ``s`` (default 1), ``> 0``. ``lr``, ``momentum``,
        ``batch_size`` and ``x_scale`` are broadcast together.

    Returns
    -------
    rho : float or ndarray of float
        ``1`` at ``lr = 0``; crosses 1 exactly at :func:`momentum_ms_threshold`.
        From ``numpy.linalg.eigvals`` (absolute error about ``1e-15`` for
        ``rho`` near 1); ``inf`` where ``lr s^2 > ~1e153`` overflows ``M``.
    """
    lr_b, beta_b, b_b, s_b = _broadcast("momentum_ms_radius", {
        "lr": (lr, LR), "momentum": (momentum, MOMENTUM), "batch_size": (batch_size, BATCH_SIZES),
        "x_scale": (x_scale, X_SCALE)})
    u = 0.5 * _u_of(lr_b, s_b.astype(np.float64))[0]
    with np.errstate(invalid="ignore", over="ignore"):
        m = _moment_matrix(u, beta_b.astype(np.float64), b_b.astype(np.float64), nesterov)
    finite = np.isfinite(m).all(axis=(-2, -1))
    rho = np.full(u.shape, np.inf)  # entries ~ u^2 overflow only for u > 1e153: E e^2 explodes
    if finite.any():
        rho[finite] = np.abs(np.linalg.eigvals(m[finite])).max(axis=-1)
    return _scalar_or_array(rho)


def _ms_root(beta: Any, e2: Any, nesterov: bool) -> Any:
    """Positive root ``u`` of ``D(u) = (1 - beta^2) - u ((1+beta) e2 - 2 gamma) - 2 delta gamma e2 u^2``.

    ``D`` divided by ``m2`` with ``u = lr m2`` and ``e2 = E'/m2^2``.
    """
    gamma = beta * (1.0 + 2.0 * beta) if nesterov else beta
    r0 = (1.0 - beta) * (1.0 + beta)
    p = (1.0 + beta) * e2 - 2.0 * gamma
    if not nesterov:
        return r0 / p  # p >= (1 - beta) > 0 (e2 >= 1)
    q = 2.0 * gamma * e2
    with np.errstate(divide="ignore", invalid="ignore"):
        sq = np.sqrt(p * p + 4.0 * q * r0)
        return np.where(q == 0.0, r0 / p, np.where(p >= 0.0, 2.0 * r0 / (p + sq), (sq - p) / (2.0 * q)))


@validate_params({"momentum": MOMENTUM, "batch_size": BATCH_SIZES, "nesterov": Boolean(), "x_scale": X_SCALE})
def momentum_ms_threshold(momentum: ArrayLike = 0.0, batch_size: ArrayLike = 1, nesterov: bool = False,
                          x_scale: ArrayLike = 1.0) -> Any:
    r"""Mean-square critical learning rate of momentum SGD on fresh Gaussian samples.

    The unique positive root of ``D(lr)`` (module docstring): ``E e_t^2``
    converges iff ``0 < lr < lr_c``. Heavy ball:

    .. math:: lr_c = \frac{1 - \beta^2}{s^2 \bigl((1 + \beta)(1 + 2/B) - 2\beta\bigr)} ;

    Nesterov: the positive root of ``(1 - beta^2) - u ((1 + beta) e - 2 gamma)
    - 2 gamma e u^2`` in ``u = lr s^2`` with ``e = 1 + 2/B``, ``gamma = beta (1 +
    2 beta)``.

    Parameters
    ----------
    momentum : array_like of float, optional
        ``beta`` in ``[0, 1)`` (default 0).
    batch_size : array_like of int, optional
        ``B >= 1`` (default 1).
    nesterov : bool, optional
        Nesterov instead of heavy ball (default False).
    x_scale : array_like of float, optional
        Standard deviation ``s`` (default 1), ``> 0``. ``momentum``,
        ``batch_size`` and ``x_scale`` are broadcast together.

    Returns
    -------
    lr_c : float or ndarray of float
        ``beta = 0``: :func:`~lrsweep.theory.batches.batch_ms_threshold`
        (``1/(3 s^2)`` at ``B = 1``). Heavy ball, ``B = 1``: ``(1 - beta^2)/(3 +
        beta)``: 0.2143 at ``beta = 0.5``, 0.04872 at ``0.9`` (``s = 1``).
    """
    beta_b, b_b, s_b = _broadcast("momentum_ms_threshold", {
        "momentum": (momentum, MOMENTUM), "batch_size": (batch_size, BATCH_SIZES),
        "x_scale": (x_scale, X_SCALE)})
    beta_b = beta_b.astype(np.float64)
    u = _ms_root(beta_b, 1.0 + 2.0 / b_b.astype(np.float64), nesterov)
    return _scalar_or_array(np.asarray(_over_square(u, 1.0, s_b.astype(np.float64))))


# ----- population: almost sure (Monte Carlo) -----


class LyapunovEstimate(NamedTuple):
    """Result of :func:`momentum_lyapunov_exponent`: a Monte Carlo estimate, not an exact value.

    Attributes
    ----------
    exponent : float or ndarray of float
        Estimated top Lyapunov exponent per step (mean over the chains).
    standard_error : float or ndarray of float
        Standard error of the mean over the independent chains (it does not
        include the ``O(1/n_steps)`` bias of a finite product).
    """

    exponent: Any
    standard_error: Any


_STEPS = Interval("int", 10, 2**31, "both")
_CHAINS = Interval("int", 2, 2**31, "both")


@validate_params({"lr": LR, "momentum": MOMENTUM, "batch_size": BATCH_SIZES, "nesterov": Boolean(),
                  "x_scale": X_SCALE, "n_steps": _STEPS, "n_chains": _CHAINS, "rng": RandomSource()})
def momentum_lyapunov_exponent(
    lr: ArrayLike,
    momentum: ArrayLike = 0.0,
    batch_size: ArrayLike = 1,
    nesterov: bool = False,
    x_scale: ArrayLike = 1.0,
    n_steps: int = 4000,
    n_chains: int = 64,
    *,
    rng: int | np.random.Generator,
) -> LyapunovEstimate:
    r"""Monte Carlo *estimate* of the top Lyapunov exponent of fresh-sample momentum SGD.

    .. math:: \lambda = \lim_{t \to \infty} \frac{1}{t} \log \|T(X_t) \cdots T(X_1)\|,
              \qquad X = \frac{2\,lr}{B} \sum_{i=1}^{B} X_i^2,\ X_i \sim N(0, s^2)

    (module docstring); almost-sure stability iff ``lambda < 0``. Each of
    ``n_chains`` independent chains starts from ``(e, w) = (1, 0)``, applies
    ``n_steps`` random step matrices with renormalisation, and averages
    ``log`` of the norm growth over the steps after a burn-in of
    ``n_steps // 10``; the estimate is the mean over chains and its standard
    error ``std / sqrt(n_chains)``. All points with the same ``B`` share the
    draws (common random numbers, so differences between learning rates are
    estimated more precisely than each value).

    Parameters
    ----------
    lr : array_like of float
        Learning rates, finite and ``>= 0``.
    momentum : array_like of float, optional
        ``beta`` in ``[0, 1)`` (default 0).
    batch_size : array_like of int, optional
        ``B >= 1`` (default 1).
    nesterov : bool, optional
        Nesterov instead of heavy ball (default False).
    x_scale : array_like of float, optional
        Standard deviation ``s`` (default 1), ``> 0``. The five array
        arguments are broadcast together.
    n_steps : int, optional
        Steps per chain (default 4000), in ``[10, 2**31]``.
    n_chains : int, optional
        Independent chains (default 64), in ``[2, 2**31]``.
    rng : int or numpy.random.Generator
        Seed or generator of the draws, required (keyword only): an estimate
        states its seed. A generator is advanced; no global state is used.

    Returns
    -------
    LyapunovEstimate
        ``(exponent, standard_error)``, each shaped like the broadcast
        arguments. ``beta = 0`` estimates
        :func:`~lrsweep.theory.batches.batch_population_log_multiplier`.
        Cost ``O(points x n_chains x n_steps)``; ``lr s^2`` is assumed below
        about ``1e150`` (the products are formed in plain float64).
    """
    lr_b, beta_b, b_b, s_b = _broadcast("momentum_lyapunov_exponent", {
        "lr": (lr, LR), "momentum": (momentum, MOMENTUM), "batch_size": (batch_size, BATCH_SIZES),
        "x_scale": (x_scale, X_SCALE)})
    shape = lr_b.shape
    u = 0.5 * _u_of(lr_b, s_b.astype(np.float64))[0].ravel()
    beta = beta_b.astype(np.float64).ravel()
    bs = b_b.ravel()
    est, se = np.empty(u.size), np.empty(u.size)
    burn = n_steps // 10
    gen = rng
    for b in np.unique(bs):
        sel = np.flatnonzero(bs == b)
        kappa, eta = (a[:, None] for a in _kappa_eta(beta[sel], nesterov))
        be, two_u = beta[sel, None], 2.0 * u[sel, None]
        e, w = np.ones((sel.size, n_chains)), np.zeros((sel.size, n_chains))
        acc = np.zeros((sel.size, n_chains))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            for t in range(n_steps):
                y = gen.standard_gamma(0.5 * b, n_chains) * (2.0 / b)  # chi2_B / B
                x = two_u * y[None, :]
                e, w = (1.0 - kappa * x) * e - eta * w, x * e + be * w
                norm = np.hypot(e, w)
                if t >= burn:
                    acc += np.log(norm)
                e, w = e / norm, w / norm
        per_chain = acc / (n_steps - burn)
        est[sel] = per_chain.mean(axis=1)
        se[sel] = per_chain.std(axis=1, ddof=1) / math.sqrt(n_chains)
    return LyapunovEstimate(_scalar_or_array(est.reshape(shape)), _scalar_or_array(se.reshape(shape)))
