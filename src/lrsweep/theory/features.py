r"""d features and a learned bias, one dataset: the epoch product, its spectral radius, the critical lr.

The model is ``y = w . x + b`` with ``d`` features; the loss per sample is
``(y - w . x - b)^2`` (no 1/2) and a step of size ``B`` uses the mean
gradient of its batch. With ``fit_intercept=True`` the bias is one more
weight whose feature is the constant 1: every sample is *extended* to
``z = (x, 1)`` in ``R^p``, ``p = d + 1`` (``p = d`` without a bias). On
noise-free data the error ``e = (w, b) - (w_ref, b_ref)`` obeys

.. math:: e \leftarrow (I - 2\,lr\,C_k)\,e, \qquad
          C_k = \frac{1}{B_k} \sum_{i \in \text{batch } k} z_i z_i^T

(``C_k = z_i z_i^T`` for ``B = 1``). Batches are those of
:mod:`~lrsweep.theory.batches`: fixed order, consecutive, the last one
shorter when ``B`` does not divide ``n``. In ``d = 1`` without a bias
``I - 2 lr C_k`` is the scalar ``1 - 2 lr c_k`` of that module.

Epoch product and growth
------------------------
An epoch maps ``e`` by ``M(lr) = F_{n_b - 1} \cdots F_1 F_0`` with ``F_k = I -
2 lr C_k`` (the *last* batch's factor on the left; the factors no longer
commute for ``d > 1``, so the order of the samples matters). After ``q``
epochs ``e_q = M^q e_0`` and by Gelfand's formula ``||M^q||^{1/q} -> rho(M)``:

* for every ``e_0`` with a nonzero component along the dominant (generalised)
  eigenspace of ``M`` - almost every ``e_0`` - ``(1/q) log ||e_q|| ->
  log rho(M)``; a start inside an invariant subspace of smaller eigenvalues
  grows more slowly;
* if the dominant eigenvalue is real and simple, ``log ||e_{q+1}|| - log
  ||e_q|| -> log rho`` itself; if it is a complex pair ``rho e^{+-i phi}``
  (``M`` is real but not symmetric), the error rotates in a 2-D invariant
  plane and ``||e_q|| / rho^q`` oscillates between two positive bounds (set
  by the conditioning of the pair's eigenvectors) without converging: the
  per-epoch increment oscillates around ``log rho`` and only its average over
  many epochs tends to ``log rho`` (error ``O(1/q)``); a defective (Jordan)
  eigenvalue adds a factor ``q^{j-1}``, again ``O(log q / q)`` per epoch;
* a norm of ``M`` is only an upper bound: ``||M|| > 1`` (transient growth)
  with ``rho < 1`` is possible.

The span of the samples: every ``z_i`` lies in ``R = range(sum_i z_i z_i^T)``,
each factor maps ``R`` into itself and is the identity on its orthogonal
complement, so ``M = M_R (+) I``. When the samples do not span ``R^p`` (``n <
p``, collinear features, a constant feature with a bias) the component of
``e`` orthogonal to ``R`` never changes and ``rho(M) = max(1, rho(M_R))``.
:func:`feature_epoch_growth` returns ``log rho(M_R)``, the growth of the part
of the error SGD can change (``log rho(M)`` itself whenever the samples span
``R^p``); it is formed as the spectral radius of ``M P_R`` (``P_R`` the
orthogonal projector on ``R``, rank from the SVD of the samples with
NumPy's ``matrix_rank`` tolerance), whose other eigenvalues are 0.

Numerics: the product is formed factor by factor as ``P <- P - (2 lr / B_k)
Z_k^T (Z_k P)`` (``O(B_k p^2)`` per factor, never the ``p x p`` factor
itself) and after every factor ``P`` is divided by the power of two of its
largest entry (exact: no rounding), its exponent added to an integer
``k``, so ``M = 2^k P`` with ``max|P_ij|`` in ``[1/2, 1)``: no overflow or
underflow over any number of factors, as long as one factor's entries,
``2 lr max ||z||^2``, stay below about ``1e300``. ``rho`` comes from
``numpy.linalg.eigvals`` of ``P``: absolute error about ``eps ||P||`` times the
condition number of the dominant eigenvalue, i.e. ``log rho`` to about
``1e-13`` unless ``rho << ||M||``.

Critical learning rate
----------------------
``g(lr) = log rho(M_R(lr))`` is 0 at ``lr = 0`` and negative just above
(``M ~ I - 2 lr sum_i z_i z_i^T / B``). It has no closed form, and for
``d > 1`` no concavity or pole structure to exploit, so
:func:`feature_critical_lr` *scans*: below ``lr_0 = 1/max_k lambda_max(C_k)``
every factor is a contraction (``||F_k||_2 <= 1``, with equality only on the
null space of ``C_k``), so ``M_R`` is a strict contraction and ``g < 0``;
from ``lr_0`` up, ``g`` is evaluated on a geometric grid (``points_per_octave``
points per doubling, 64 by default: a step of 1.09%), vectorised over the
grid, until ``g >= 0``; the bracket is then refined by evaluating 32-point
sub-grids of it (the first sign change each time) down to a relative
width of ``1e-13``. A positive excursion of ``g`` narrower than one grid step
can be missed (the answer is then the first crossing the grid resolves);
for ``d = 1`` without a bias, where such narrow windows between poles do
occur, the exact pole method of :func:`~lrsweep.theory.batches.batch_critical_lr`
is used instead. The tests check the scan at ``d = 1`` against it (agreement
to 1e-11 or a missed window narrower than a grid step) and at ``d > 1``
against a 16 times finer scan.

Cost (measured on the shared two-core machine, so upper bounds): one
evaluation of ``g`` costs ``O(n p^2)`` per learning rate in ``n_b`` NumPy
steps; :func:`feature_epoch_growth` of one Gaussian dataset of ``n = 1000``,
``d = 10`` at 64 learning rates 0.2 s; :func:`feature_critical_lr` of that
dataset 1 s (two octaves of 65 growths and four to five refinements of 32;
a stack of datasets is scanned together, at the same cost per dataset: 7.5 s
for 8). On 200 Gaussian datasets of ``n = 100``, ``d = 1`` the scan missed a
first diverging interval narrower than its grid step on 4 (the exact method
is used there).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .._validation import Array, Boolean, Interval, validate_params
from ._common import _LN2, LR, _scalar_or_array
from .batches import BATCH_SIZE, _batch_critical_lr

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import ArrayLike, NDArray

__all__ = ["EpochProduct", "feature_critical_lr", "feature_epoch_growth", "feature_epoch_product"]

#: ``x`` with features: one dataset ``(n, d)`` or a stack ``(n_datasets, n, d)``, ``|x| <= 2**510``
#: (as :func:`~lrsweep.theory.batches.batch_critical_lr`, which ``d = 1`` uses).
X_FEATURES = Array(-(2**510), 2**510, "both", ndim=(2, 3),
                   what="a 2-D array (n, d) (one dataset) or a 3-D array (n_datasets, n, d)")
_OCTAVE = Interval("int", 4, 4096, "both")
#: Relative width to which the critical lr's bracket is refined.
_RTOL = 1e-13
#: Largest ``lr / lr_0`` scanned before a dataset is declared stable (``inf``).
_SCAN_LIMIT = 2.0**60


class EpochProduct(NamedTuple):
    """Result of :func:`feature_epoch_product`: ``M = exp(log_scale) * matrix``.

    Attributes
    ----------
    matrix : ndarray of float, shape ``(..., p, p)``
        The product divided by a power of two: its largest entry in
        ``[1/2, 1)`` (0 for a zero product).
    log_scale : ndarray of float, shape ``(...)``
        ``k log 2`` with ``2^k`` the power of two taken out (exact).
    """

    matrix: Any
    log_scale: Any


def _design(x: NDArray[np.float64], fit_intercept: bool) -> NDArray[np.float64]:
    """Samples extended by a 1 when a bias is learned, as a stack ``(D, n, p)``."""
    z = x.reshape(-1, *x.shape[-2:])
    if fit_intercept:
        z = np.concatenate([z, np.ones((*z.shape[:-1], 1))], axis=-1)
    return z


def _product(z: NDArray[np.float64], lr: NDArray[np.float64], batch_size: int,
             start: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """``M(lr) start = 2^k P`` for samples ``z (D, n, p)``, lrs ``(D, m)`` and starts ``(D, p, p)``.

    Returns ``P (D, m, p, p)`` with its largest entry in ``[1/2, 1)`` (or 0)
    and ``k (D, m)``: the rescaling by powers of two of the module docstring.
    """
    d_all, n, p = z.shape
    m = lr.shape[-1]
    out = np.array(np.broadcast_to(start[:, None], (d_all, m, p, p)))
    k = np.zeros((d_all, m), dtype=np.int64)
    zt = np.swapaxes(z, 1, 2)
    for s in range(0, n, batch_size):
        zb = z[:, None, s:s + batch_size]  # (D, 1, b, p)
        coef = (2.0 / zb.shape[2]) * lr  # (D, m)
        out -= coef[..., None, None] * (zt[:, None, :, s:s + batch_size] @ (zb @ out))
        big = np.abs(out).max(axis=(-2, -1))
        e = np.frexp(big)[1]
        out = np.ldexp(out, -e[..., None, None])
        k += e
    return out, k


def _projectors(z: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Orthogonal projectors on the span of each dataset's samples ``(D, p, p)`` and the ranks ``(D,)``."""
    d_all, n, p = z.shape
    proj = np.empty((d_all, p, p))
    rank = np.empty(d_all, dtype=np.int64)
    for i in range(d_all):
        _, sv, vt = np.linalg.svd(z[i], full_matrices=False)
        tol = sv.max(initial=0.0) * max(n, p) * np.finfo(np.float64).eps
        r = int((sv > tol).sum())
        rank[i] = r
        proj[i] = np.eye(p) if r == p else vt[:r].T @ vt[:r]
    return proj, rank


def _growth(z: NDArray[np.float64], lr: NDArray[np.float64], batch_size: int,
            proj: NDArray[np.float64], rank: NDArray[np.int64]) -> NDArray[np.float64]:
    """``log rho(M_R)`` for samples ``(D, n, p)`` and lrs ``(D, m)``; 0 where the rank is 0."""
    out = np.zeros(lr.shape)
    live = rank > 0
    if live.any() and lr.shape[-1]:
        p_mat, k = _product(z[live], lr[live], batch_size, proj[live])
        rho = np.abs(np.linalg.eigvals(p_mat)).max(axis=-1)
        with np.errstate(divide="ignore"):
            out[live] = np.log(rho) + _LN2 * k
    return out


@validate_params({"x": X_FEATURES, "lr": LR, "batch_size": BATCH_SIZE, "fit_intercept": Boolean()})
def feature_epoch_product(x: ArrayLike, lr: ArrayLike, batch_size: int = 1,
                          fit_intercept: bool = False) -> EpochProduct:
    r"""The matrix by which one fixed-order epoch multiplies the error, ``M = prod_k (I - 2 lr C_k)``.

    .. math:: M(lr) = F_{n_b-1} \cdots F_1 F_0, \qquad F_k = I - \frac{2\,lr}{B_k}
              \sum_{i \in \text{batch } k} z_i z_i^T ,

    ``z_i = x_i`` (or ``(x_i, 1)`` with a bias), batch ``k`` the samples
    ``kB .. min((k+1)B, n) - 1``; ``e_{q n_b} = M^q e_0`` on noise-free data.

    Parameters
    ----------
    x : array_like of float, shape (n, d) or (n_datasets, n, d)
        One dataset (``n`` samples of ``d`` features) or a stack of datasets.
    lr : array_like of float, any shape
        Learning rates, finite and ``>= 0``.
    batch_size : int, optional
        ``B >= 1`` (default 1); ``B >= n`` is full-batch GD.
    fit_intercept : bool, optional
        Learn a bias (default False): ``p = d + 1``.

    Returns
    -------
    EpochProduct
        ``(matrix, log_scale)`` with ``M = exp(log_scale) * matrix``;
        ``matrix`` of shape ``x.shape[:-2] + lr.shape + (p, p)``, ``log_scale``
        of shape ``x.shape[:-2] + lr.shape`` (the power-of-two rescaling of
        the module docstring: ``M`` itself may overflow).
    """
    z = _design(x, fit_intercept)
    p = z.shape[-1]
    lrf = np.broadcast_to(lr.reshape(1, -1), (z.shape[0], lr.size))
    mat, k = _product(z, lrf, batch_size, np.broadcast_to(np.eye(p), (z.shape[0], p, p)))
    shape = x.shape[:-2] + lr.shape
    return EpochProduct(mat.reshape(*shape, p, p), _scalar_or_array((_LN2 * k).reshape(shape)))


@validate_params({"x": X_FEATURES, "lr": LR, "batch_size": BATCH_SIZE, "fit_intercept": Boolean()})
def feature_epoch_growth(x: ArrayLike, lr: ArrayLike, batch_size: int = 1,
                         fit_intercept: bool = False) -> Any:
    r"""Asymptotic growth of ``log ||e||`` per epoch of noise-free fixed-order SGD with ``d`` features.

    .. math:: \log \rho\bigl(M_R(lr)\bigr), \qquad M(lr) = \prod_{k} \Bigl(I - \frac{2\,lr}{B_k}
              \sum_{i \in \text{batch } k} z_i z_i^T\Bigr)

    restricted to the span ``R`` of the samples (module docstring): for
    almost every ``e_0``, ``(1/q) log ||e_q|| -> log rho`` (for a complex
    dominant pair only on average over epochs). Repeated epochs diverge iff
    it is ``> 0``.

    Parameters
    ----------
    x : array_like of float, shape (n, d) or (n_datasets, n, d)
        One dataset or a stack of datasets.
    lr : array_like of float, any shape
        Learning rates, finite and ``>= 0`` (``2 lr max ||z||^2 < 1e300``).
    batch_size : int, optional
        ``B >= 1`` (default 1).
    fit_intercept : bool, optional
        Learn a bias (default False).

    Returns
    -------
    growth : float or ndarray of float, shape ``x.shape[:-2] + lr.shape``
        ``log rho(M_R)``: ``log rho(M)`` when the samples span ``R^p``
        (otherwise ``log rho(M) = max(0, growth)``); ``-inf`` where ``M_R`` is
        nilpotent (``d = 1`` at a pole); 0 for a dataset of zeros. For
        ``d = 1`` without a bias it is
        :func:`~lrsweep.theory.batches.batch_log_multiplier` up to the
        rounding of a product of ``n_b`` factors (tested to 1e-12).

    Notes
    -----
    ``O(n p^2)`` per learning rate plus one ``p x p`` eigenvalue problem, in
    ``n_b`` vectorised NumPy steps (about 0.2 s for ``n = 1000``, ``d = 10``,
    64 learning rates).
    """
    z = _design(x, fit_intercept)
    proj, rank = _projectors(z)
    lrf = np.broadcast_to(lr.reshape(1, -1), (z.shape[0], lr.size))
    out = _growth(z, lrf, batch_size, proj, rank)
    return _scalar_or_array(out.reshape(x.shape[:-2] + lr.shape))


def _stable_below(z: NDArray[np.float64], batch_size: int) -> NDArray[np.float64]:
    """``lr_0 = 1 / max_k lambda_max(C_k)`` per dataset (``inf`` for zeros): every factor contracts below."""
    d_all, n, _ = z.shape
    top = np.zeros(d_all)
    for s in range(0, n, batch_size):
        zb = z[:, s:s + batch_size]
        if batch_size == 1:
            lam = np.square(zb[:, 0]).sum(axis=-1)
        else:  # the nonzero eigenvalues of Z^T Z / b are those of Z Z^T / b (the smaller matrix)
            g = zb @ np.swapaxes(zb, 1, 2) if zb.shape[1] <= zb.shape[2] else np.swapaxes(zb, 1, 2) @ zb
            lam = np.linalg.eigvalsh(g)[..., -1] / zb.shape[1]
        top = np.maximum(top, lam)
    with np.errstate(divide="ignore"):
        return 1.0 / top


def _critical_scan(z: NDArray[np.float64], batch_size: int, points_per_octave: int) -> NDArray[np.float64]:
    """The scan of the module docstring for samples ``(D, n, p)``; ``(D,)`` critical lrs."""
    d_all = z.shape[0]
    proj, rank = _projectors(z)
    lr0 = _stable_below(z, batch_size)
    out = np.full(d_all, math.inf)
    todo = np.flatnonzero((rank > 0) & np.isfinite(lr0))
    lo, hi = np.empty(d_all), np.empty(d_all)
    block = points_per_octave
    j0 = 0
    steps = 2.0 ** (np.arange(block + 1) / points_per_octave)  # one octave per block, both ends
    while todo.size and 2.0**j0 <= _SCAN_LIMIT:
        grid = lr0[todo, None] * (2.0**j0 * steps[None, :])
        g = _growth(z[todo], grid, batch_size, proj[todo], rank[todo])
        up = g >= 0.0
        found = up.any(axis=1)
        first = np.argmax(up, axis=1)
        for t in np.flatnonzero(found):  # g < 0 at grid[t, 0]: the previous block ended below 0
            i = todo[t]
            lo[i], hi[i] = grid[t, first[t] - 1] if first[t] else grid[t, 0], grid[t, first[t]]
        done = todo[found]
        todo = todo[~found]
        j0 += 1
        if done.size:
            out[done] = _refine(z[done], batch_size, proj[done], rank[done], lo[done], hi[done])
    return out


def _refine(z: NDArray[np.float64], batch_size: int, proj: NDArray[np.float64], rank: NDArray[np.int64],
            lo: NDArray[np.float64], hi: NDArray[np.float64]) -> NDArray[np.float64]:
    """Shrink brackets ``g(lo) < 0 <= g(hi)`` to relative width ``_RTOL`` by 32-point sub-grids."""
    frac = np.arange(1, 33) / 33.0
    while True:
        wide = (hi - lo) > _RTOL * hi
        if not wide.any():
            return hi
        w = np.flatnonzero(wide)
        grid = lo[w, None] + (hi[w] - lo[w])[:, None] * frac[None, :]
        g = _growth(z[w], grid, batch_size, proj[w], rank[w])
        up = g >= 0.0
        has = up.any(axis=1)
        first = np.where(has, np.argmax(up, axis=1), grid.shape[1])
        new_lo = np.where(first > 0, grid[np.arange(w.size), np.maximum(first - 1, 0)], lo[w])
        new_hi = np.where(has, grid[np.arange(w.size), np.minimum(first, grid.shape[1] - 1)], hi[w])
        lo[w], hi[w] = new_lo, new_hi


@validate_params({"x": X_FEATURES, "batch_size": BATCH_SIZE, "fit_intercept": Boolean(),
                  "points_per_octave": _OCTAVE})
def feature_critical_lr(x: ArrayLike, batch_size: int = 1, fit_intercept: bool = False,
                        points_per_octave: int = 64) -> Any:
    r"""Smallest learning rate at which repeated fixed-order epochs with ``d`` features diverge.

    The smallest ``lr > 0`` with ``rho(M_R(lr)) = 1`` (:func:`feature_epoch_growth`
    crosses 0), found by the scan of the module docstring.

    Parameters
    ----------
    x : array_like of float, shape (n, d) or (n_datasets, n, d)
        One dataset or a stack of datasets.
    batch_size : int, optional
        ``B >= 1`` (default 1).
    fit_intercept : bool, optional
        Learn a bias (default False).
    points_per_octave : int, optional
        Grid points per doubling of the learning rate (default 64, in
        ``[4, 4096]``): the scan resolves positive excursions of the growth
        wider than a relative ``2^(1/points_per_octave) - 1``.

    Returns
    -------
    lr_c : float or ndarray of float, shape ``x.shape[:-2]``
        In ``[1/max_k lambda_max(C_k), inf)``, to a relative ``1e-13`` (or the
        rounding of ``log rho``, about ``1e-13`` absolute, divided by its
        slope). ``inf`` for a dataset of zeros or when no crossing is found up
        to ``2^60`` times the lower bound. ``d = 1`` without a bias:
        :func:`~lrsweep.theory.batches.batch_critical_lr` (the same float).

    Notes
    -----
    About 1 s for one dataset of ``n = 1000``, ``d = 10`` (two octaves of 65
    growths and four to five refinements of 32); a stack is scanned together.
    """
    if x.shape[-1] == 1 and not fit_intercept:
        return _batch_critical_lr(x[..., 0], batch_size)
    out = _critical_scan(_design(x, fit_intercept), batch_size, points_per_octave)
    return _scalar_or_array(out.reshape(x.shape[:-2]))
