"""The node graph with d features and a learned bias: the plain-Python oracle of y = w . x + b.

The seed's graph with a vector multiply and a sum node::

    p_j = mul_j.forward(w_j, x_j)        # w_j * x_j, j = 0 .. d - 1
    z1  = sum.forward(p)                 # ((-0.0 + p_0) + p_1) + ... + p_{d-1}   (then + b)
    z2  = minus.forward(y, z1)           # y - z1
    l   = square.forward(z2)             # z2 * z2
    dz2 = square.backward(1)             # 2 * z2
    dy, dz1 = minus.backward(dz2)        # dz2, -dz2
    dw_j, dx_j = mul_j.backward(dz1)     # dz1 * x_j, dz1 * w_j     (the sum passes dz1 to every term)
    db = dz1
    w_j = w_j - lr * dw_j ;  b = b - lr * db

**Operation order** (what a numba lane loop must do to equal it bit for bit;
no fused multiply-add, no reassociation: numba's default, not ``fastmath``):

- ``z1`` is accumulated left to right over ``j`` starting from ``-0.0``, the
  exact identity of IEEE addition (``-0.0 + p == p`` for every ``p``, while
  ``0.0 + (-0.0) == +0.0``): with ``d = 1`` the sum is ``w_0 * x_0`` itself,
  signed zeros included, so ``z2 = y - z1`` is today's bit for bit (with a
  ``+0.0`` start, ``y = -0.0`` and ``z1 = -0.0`` would give ``-0.0`` where
  today gives ``+0.0``). A learned bias is the last term, ``z1 = (...) + b``:
  the bias is exactly the weight of a constant input 1 (``b * 1.0 == b``,
  ``dz1 * 1.0 == dz1``), so a kernel may append a column of ones to x and run
  ``p = d + 1`` coordinates; the tests check that equivalence bit for bit.
- A batch sums ``l`` and every ``dw_j`` (and ``db``) over its samples in
  sample order, each sum started at ``-0.0``, then divides each by the batch's
  size ``B_k`` when ``B_k > 1`` (as :mod:`lrsweep.reference`).
- ``lr_k = lr * m(k)``; then per coordinate, independently, PyTorch's momentum
  (``v_j = beta v_j + g_j``; ``u_j = g_j + beta v_j`` with Nesterov, else
  ``v_j``; ``u_j = g_j`` when ``beta = 0``) and ``w_j = w_j - lr_k * u_j``.

The metrics follow :mod:`lrsweep.metrics` ("In d dimensions"): the error
norm :func:`error_norm` and the overshoot test :func:`overshoot` are the two
reductions a kernel must reproduce exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ._validation import Array, Boolean, Described, Interval, NoneOr, ParameterError, message, validate_params
from .metrics import NORM_TINY
from .reference import (
    _MAX_BOUND,
    _OPTIMIZER,
    MinusNode,
    MulNode,
    SquareNode,
    _batches,
    _check_multipliers,
    _log,
    _samples,
)

__all__ = ["SumNode", "error_norm", "overshoot", "run_trajectory_features", "trajectory_metrics_features"]


class SumNode:
    """z = sum of the terms, left to right from -0.0; backward gives dz to every term."""

    def forward(self, terms: Sequence[float]) -> float:
        z = -0.0
        for t in terms:
            z = z + t
        self.n = len(terms)
        return z

    def backward(self, dz: float) -> list[float]:
        return [dz] * self.n


def error_norm(e: Sequence[float]) -> float:
    """Euclidean norm ``||e||`` in the documented order (:mod:`lrsweep.metrics`, "In d dimensions").

    ``q = e_0 * e_0 + e_1 * e_1 + ...`` (left to right); ``sqrt(q)`` when ``q``
    is a normal float (``NORM_TINY <= q <= max``), which for one coordinate is
    ``|e_0|`` exactly (in binary floating point ``sqrt(fl(x * x)) == |x|``
    without under- or overflow). Otherwise (``q`` zero, subnormal or
    infinite, which is rare) the scaled form ``m * sqrt(sum_j (e_j / m)^2)``
    with ``m = max_j |e_j|`` (``|e_0|`` exactly for one coordinate); NaN if
    any coordinate is NaN, inf if any is infinite.
    """
    q = -0.0
    for v in e:
        q = q + v * v
    if NORM_TINY <= q <= _FLOAT_MAX:
        return math.sqrt(q)
    if q != q:
        return math.nan
    m = 0.0
    for v in e:
        m = max(m, abs(v))
    if m == 0.0 or m == math.inf:
        return m
    s = -0.0
    for v in e:
        s = s + (v / m) * (v / m)
    return m * math.sqrt(s)


_FLOAT_MAX = float(np.finfo(np.float64).max)


def overshoot(e_new: Sequence[float], e_old: Sequence[float]) -> bool:
    """Whether ``e_new . e_old < 0`` (the error turned by more than 90 degrees: an overshoot).

    ``D = sum_j e_new_j * e_old_j`` left to right; when ``D`` is 0 or NaN
    (exactly orthogonal, or products that under- or overflowed) it is
    recomputed on the errors divided by their largest coordinates
    ``m = max_j |e_j|`` (nonzero, finite: the caller counts only errors above
    the floor), so that for one coordinate the test is exactly today's sign
    comparison ``(e_new < 0) != (e_old < 0)`` of nonzero errors.
    """
    dot = -0.0
    for a, b in zip(e_new, e_old, strict=True):
        dot = dot + a * b
    if dot < 0.0:
        return True
    if dot > 0.0:
        return False
    ma = mb = 0.0
    for a, b in zip(e_new, e_old, strict=True):
        ma, mb = max(ma, abs(a)), max(mb, abs(b))
    if not (0.0 < ma < math.inf and 0.0 < mb < math.inf):
        return False
    dot = -0.0
    for a, b in zip(e_new, e_old, strict=True):
        dot = dot + (a / ma) * (b / mb)
    return dot < 0.0


def _rows(owner: str, x, y, order, n: int | None, epochs: int):
    """Rows of x (each a list of d floats, with a trailing 1.0 for a bias), ys, the epoch length, the run."""
    arr = np.asarray(x, dtype=np.float64)
    arr = arr[:, None] if arr.ndim == 1 else arr
    if arr.shape[0] == 0:
        raise ParameterError(message("x", owner, "an array of at least one sample", Described("no samples")))
    _, ys, n, seq = _samples(owner, arr[:, 0], y, order, n, epochs)
    return [[float(v) for v in row] for row in arr], ys, n, seq


def _start(owner: str, theta0, b0: float, d: int, fit_intercept: bool) -> list[float]:
    """The initial parameter vector ``(w_0 .. w_{d-1}[, b])``."""
    t0 = np.asarray(theta0, dtype=np.float64)
    if t0.ndim == 1 and t0.shape != (d,):
        got = Described(f"{t0.size} values")
        raise ParameterError(message("theta0", owner, f"a float or one value per feature ({d})", got))
    if b0 != 0.0 and not fit_intercept:
        raise ParameterError(message("b0", owner, "0.0 when fit_intercept is False", b0))
    w = [float(v) for v in np.broadcast_to(t0, (d,))]
    return [*w, float(b0)] if fit_intercept else w


class _VectorOptimizer:
    """One trajectory's update through the nodes, per coordinate: batch gradient, schedule, momentum."""

    def __init__(self, rows, ys, lr, mult, momentum, nesterov, fit_intercept):
        self.rows, self.ys, self.lr, self.mult = rows, ys, lr, mult
        self.bias = bool(fit_intercept)
        self.beta, self.nesterov = float(momentum), bool(nesterov)
        d = len(rows[0])
        self.v = [-0.0] * (d + self.bias)  # -0.0 + g == g: the first velocity is g exactly
        self.mul = [MulNode() for _ in range(d)]
        self.sum, self.minus, self.square = SumNode(), MinusNode(), SquareNode()

    def step(self, th: list[float], k: int, samples) -> tuple[list[float], float]:
        """``(theta after step k, the step's loss)``; ``th`` is ``(w[, b])`` (module docstring's order)."""
        p = len(th)
        d = p - self.bias
        g = [-0.0] * p
        loss = -0.0
        for i in samples:
            xi = self.rows[i]
            terms = [self.mul[j].forward(th[j], xi[j]) for j in range(d)]
            if self.bias:
                terms.append(th[d])
            z1 = self.sum.forward(terms)
            z2 = self.minus.forward(self.ys[i], z1)
            loss += self.square.forward(z2)
            dz2 = self.square.backward(1)
            _dy, dz1 = self.minus.backward(dz2)
            dterms = self.sum.backward(dz1)
            for j in range(d):
                dw, _dx = self.mul[j].backward(dterms[j])
                g[j] += dw
            if self.bias:
                g[d] += dterms[d]
        if len(samples) > 1:
            size = float(len(samples))
            g, loss = [gj / size for gj in g], loss / size
        lr = self.lr if self.mult is None else self.lr * self.mult[k]
        out = []
        for j in range(p):
            u = g[j]
            if self.beta != 0.0:
                self.v[j] = self.beta * self.v[j] + g[j]
                u = g[j] + self.beta * self.v[j] if self.nesterov else self.v[j]
            out.append(th[j] - lr * u)
        return out, loss


_X = Array(ndim=(1, 2), what="a 1-D array (one feature) or an (n, d) array")
_Y = Array(ndim=(1, 2), what="a 1-D array (or an (n, 1) column)")
_THETA0 = Array(ndim=(0, 1), what="a float or a 1-D array")


@validate_params({
    "x": _X, "y": _Y,
    "lr": Interval("float", 0, math.inf, "left"),
    "theta0": _THETA0,
    "b0": Interval("float", -math.inf, math.inf, "neither"),
    "fit_intercept": Boolean(),
    "epochs": Interval("int", 1, 2**40),
    **_OPTIMIZER,
})
def run_trajectory_features(
    x: Sequence[Sequence[float]] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    *,
    lr: float = 0.01,
    theta0: float | Sequence[float] | np.ndarray = -1.0,
    b0: float = 0.0,
    fit_intercept: bool = False,
    epochs: int = 5,
    order: Sequence[int] | np.ndarray | None = None,
    batch_size: int = 1,
    lr_multipliers: Sequence[float] | np.ndarray | None = None,
    momentum: float = 0.0,
    nesterov: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run one SGD trajectory of y = w . x (+ b) through the node graph.

    Parameters
    ----------
    x : array_like of float, shape (n, d) or (n,)
        The samples, one row each (1-D: one feature).
    y : array_like of float, shape (n,)
    lr : float
        Learning rate (the base of the schedule).
    theta0 : float or array_like of float, shape (d,)
        Initial weights (a float: every ``w_j``; the seed: -1).
    b0 : float
        Initial bias (only with ``fit_intercept``; must be 0 otherwise).
    fit_intercept : bool
        Learn a bias b.
    epochs, order, batch_size, lr_multipliers, momentum, nesterov
        As :func:`lrsweep.reference.run_trajectory` (same batch conventions).

    Returns
    -------
    w : ndarray of float64, shape (steps, d)
        The weights after each step.
    b : ndarray of float64, shape (steps,)
        The bias after each step (zeros without ``fit_intercept``).
    loss : ndarray of float64, shape (steps,)
        Each step's batch mean loss, computed before the update.
    """
    owner = "run_trajectory_features"
    rows, ys, n, seq = _rows(owner, x, y, order, None, epochs)
    d = len(rows[0])
    th = _start(owner, theta0, b0, d, fit_intercept)
    steps = _batches(n, epochs, batch_size)
    mult = _check_multipliers(owner, lr_multipliers, len(steps))
    opt = _VectorOptimizer(rows, ys, float(lr), mult, momentum, nesterov, fit_intercept)
    w_list, b_list, loss_list = [], [], []
    for k, positions in enumerate(steps):
        th, loss = opt.step(th, k, [seq[p] for p in positions])
        w_list.append(th[:d])
        b_list.append(th[d] if fit_intercept else 0.0)
        loss_list.append(loss)
    return (np.array(w_list, dtype=np.float64).reshape(len(steps), d), np.array(b_list, dtype=np.float64),
            np.array(loss_list, dtype=np.float64))


@validate_params({
    "x": _X, "y": _Y,
    "lr": Interval("float", 0, math.inf, "left"),
    "theta0": _THETA0,
    "w_ref": Array(ndim=(0, 1), what="a float or a 1-D array"),
    "b_ref": Interval("float", -math.inf, math.inf, "neither"),
    "b0": Interval("float", -math.inf, math.inf, "neither"),
    "fit_intercept": Boolean(),
    "epochs": Interval("int", 1, 2**40),
    "n": NoneOr(Interval("int", 1, 2**40)),
    "tol": Interval("float", 0, 1, "neither"),
    "diverge_factor": Interval("float", 1, math.inf, "neither"),
    "sign_floor": Interval("float", 0, 1, "left"),
    "oscillation_min": Interval("int", 1, 2**53),
    "floor2": Interval("float", -math.inf, math.inf, "neither"),
    **_OPTIMIZER,
})
def trajectory_metrics_features(
    x: Sequence[Sequence[float]] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    *,
    lr: float,
    theta0: float | Sequence[float] | np.ndarray,
    w_ref: float | Sequence[float] | np.ndarray,
    epochs: int,
    b_ref: float = 0.0,
    b0: float = 0.0,
    fit_intercept: bool = False,
    n: int | None = None,
    order: Sequence[int] | np.ndarray | None = None,
    tol: float = 1e-2,
    diverge_factor: float = 1e6,
    sign_floor: float = 1e-10,
    oscillation_min: int = 1,
    floor2: float = -1.0,
    batch_size: int = 1,
    lr_multipliers: Sequence[float] | np.ndarray | None = None,
    momentum: float = 0.0,
    nesterov: bool = False,
) -> dict:
    """Every metric of one d-feature trajectory, as :mod:`lrsweep.metrics` defines them in d dimensions.

    The d-feature counterpart of :func:`lrsweep.reference.trajectory_metrics`
    (same arguments, plus ``w_ref``, ``b_ref``, ``b0`` and ``fit_intercept``;
    ``theta0`` and ``w_ref`` may be vectors). The error is ``e = (w - w_ref,
    b - b_ref)`` (``w - w_ref`` without a bias), measured by
    :func:`error_norm`; sign changes are :func:`overshoot`; jumps are
    ``error_norm`` of the step. Returns the same keys as
    ``trajectory_metrics`` except ``theta_final``, replaced by ``w_final``
    (ndarray, shape (d,)) and ``b_final`` (float; 0 without a bias). With
    one feature and no bias every value equals ``trajectory_metrics``' bit
    for bit (``w_final[0]`` its ``theta_final``).
    """
    owner = "trajectory_metrics_features"
    rows, ys, n, seq = _rows(owner, x, y, order, n, epochs)
    d = len(rows[0])
    th = _start(owner, theta0, b0, d, fit_intercept)
    wr = np.asarray(w_ref, dtype=np.float64)
    if wr.ndim == 1 and wr.shape != (d,):
        got = Described(f"{wr.size} values")
        raise ParameterError(message("w_ref", owner, f"a float or one value per feature ({d})", got))
    ref = [float(v) for v in np.broadcast_to(wr, (d,))] + ([float(b_ref)] if fit_intercept else [])
    p = len(ref)
    batches = _batches(n, epochs, batch_size)
    E = -(-n // batch_size)  # steps per epoch
    K = epochs * E
    last_start = K - E
    opt = _VectorOptimizer(rows, ys, float(lr), _check_multipliers(owner, lr_multipliers, K), momentum,
                           nesterov, fit_intercept)
    ev = [th[j] - ref[j] for j in range(p)]
    n0 = error_norm(ev)
    scale = max(n0, error_norm(ref)) or 1.0
    bound = min(diverge_factor * scale, _MAX_BOUND)
    floor = sign_floor * scale
    thr = tol * n0
    div = -1
    mae, mae_step = n0, 0
    mj, mj_step = 0.0, 0
    last_viol = 0 if n0 > thr else -1
    exit_step, exit_err = -1, 0.0
    sc = sc_last = zig = 0
    lsum = e2sum = 0.0
    lprev = dprev = 0.0
    n_start, nrm = n0, n0
    for k in range(K):
        step = k + 1
        tn, loss = opt.step(th, k, [seq[q] for q in batches[k]])
        en = [tn[j] - ref[j] for j in range(p)]
        nn = error_norm(en)
        ok = div < 0 and nn <= bound  # False for NaN too
        if div < 0 and not ok:
            div = step
        if ok:
            jump = error_norm([tn[j] - th[j] for j in range(p)])
            if jump > mj:
                mj, mj_step = jump, step
            if nn > mae:
                mae, mae_step = nn, step
            if nn > thr:
                last_viol = step
            if nn <= floor and exit_step < 0:
                exit_step, exit_err = step, nn
        flip = ok and nrm > floor and nn > floor and overshoot(en, ev)
        sc += flip
        if k >= last_start:
            sc_last += flip
            if ok:
                lsum += loss
                e2sum += nn * nn
            dl = loss - lprev
            if ok and k >= last_start + 2 and dl * dprev < 0:
                zig += 1
            dprev, lprev = dl, loss
        if ok:
            th, ev, nrm = tn, en, nn
        if step == last_start and last_start > 0:
            n_start = nrm
    if div >= 0:
        growth = math.inf if n0 == 0 else (math.log(bound) - math.log(n0)) * E / div
    elif exit_step >= 0:
        growth = (_log(exit_err) - _log(n0)) * E / exit_step
    elif n_start == 0:
        growth = math.nan
    else:
        growth = math.log(nrm) - math.log(n_start)
    conv = -1
    if div >= 0:
        status = "diverged"
    elif last_viol <= last_start:
        status, conv = "converged", last_viol + 1
    elif e2sum <= E * floor2:
        status = "noise_floor"
    elif nrm > n_start:
        status = "growing"
    elif sc_last >= oscillation_min:
        status = "oscillating"
    else:
        status = "slow"
    return {
        "w_final": np.array(th[:d], dtype=np.float64), "b_final": th[d] if fit_intercept else 0.0,
        "max_abs_error": mae, "max_jump": mj,
        "loss_zigzag": math.nan if div >= 0 or E < 3 else zig / (E - 2),
        "loss_last_epoch": math.nan if div >= 0 else lsum / E,
        "growth_rate": growth,
        "rms_error_last_epoch": math.nan if div >= 0 else math.sqrt(e2sum / E),
        "status": status, "converged_step": conv, "diverged_step": div, "sign_changes": sc,
        "sign_changes_last_epoch": sc_last, "max_abs_error_step": mae_step, "max_jump_step": mj_step,
        "max_jump_sample": -1 if mj_step == 0 else seq[batches[mj_step - 1][0]],
    }
