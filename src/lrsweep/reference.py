"""The seed's computational graph: the slow, readable oracle for the kernel.

The lecture builds the loss of y = theta * x from three nodes and runs
per-sample SGD by hand::

    z1 = mul.forward(th, x)      # th * x
    z2 = minus.forward(y, z1)    # y - z1
    l  = square.forward(z2)      # z2 ** 2          (no 1/2 factor)
    dz2 = square.backward(1)     # 2 * z2
    dy, dz1 = minus.backward(dz2)    # dz2, -dz2
    dth, dx = mul.backward(dz1)      # dz1 * x, dz1 * th
    th = th - lr * dth

:func:`run_trajectory` does exactly this in float64, one sample at a time, and
records theta and the per-sample loss after every step, as the seed's
``th_list`` and ``loss_list``. The numba kernel must equal it bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ._validation import Array, Boolean, Described, Interval, NoneOr, ParameterError, message, validate_params
from .metrics import MAX_BOUND

__all__ = ["MinusNode", "MulNode", "SquareNode", "run_trajectory", "trajectory_metrics"]


class MulNode:
    """z = x * y; backward gives (dz * y, dz * x)."""

    def forward(self, x: float, y: float) -> float:
        self.x, self.y = x, y
        return x * y

    def backward(self, dz: float) -> tuple[float, float]:
        return dz * self.y, dz * self.x


class MinusNode:
    """z = x - y; backward gives (dz, -dz)."""

    def forward(self, x: float, y: float) -> float:
        return x - y

    def backward(self, dz: float) -> tuple[float, float]:
        return dz, -dz


class SquareNode:
    """z = x ** 2; backward gives 2 * x * dz."""

    def forward(self, x: float) -> float:
        self.x = x
        return x * x

    def backward(self, dz: float) -> float:
        return 2 * self.x * dz


_OPTIMIZER = {
    "batch_size": Interval("int", 1, 2**40),
    "lr_multipliers": NoneOr(Array(0, math.inf, "both", ndim=(1,), what="a 1-D array")),
    "momentum": Interval("float", 0, 1, "left"),
    "nesterov": Boolean(),
}


def _samples(owner: str, x, y, order, n: int | None, epochs: int) -> tuple[list, list, int, list]:
    """Floats of x and y, the epoch length and the sample of every position of the run."""
    xs = [float(v) for v in np.asarray(x).ravel()]
    ys = [float(v) for v in np.asarray(y).ravel()]
    m = len(xs)
    if len(ys) != m:
        got = Described(f"{len(ys)} samples")
        raise ParameterError(message("y", owner, f"as long as x ({m} samples)", got))
    n = m if n is None else n
    if order is None:
        seq = [p % m for p in range(epochs * n)]
    else:
        idx = np.asarray(order)
        if idx.ndim != 1 or idx.dtype.kind not in "iu" or (idx.size and (idx.min() < 0 or idx.max() >= m)):
            got = Described(f"an array of dtype {idx.dtype} and shape {idx.shape}")
            allowed = f"None or a 1-D array of sample indices in [0, {m - 1}]"
            raise ParameterError(message("order", owner, allowed, got))
        seq = [int(i) for i in idx]
        if len(seq) % epochs:
            got = Described(f"{len(seq)} sample indices")
            allowed = f"None or epochs * n sample indices (epochs = {epochs})"
            raise ParameterError(message("order", owner, allowed, got))
        n = len(seq) // epochs
    return xs, ys, n, seq


def _batches(n: int, epochs: int, batch_size: int) -> list[range]:
    """The positions of each step: consecutive batches of ``batch_size`` within each epoch."""
    return [range(q * n + b, q * n + min(b + batch_size, n))
            for q in range(epochs) for b in range(0, n, batch_size)]


def _check_multipliers(owner: str, lr_multipliers, steps: int) -> list[float] | None:
    if lr_multipliers is None:
        return None
    if len(lr_multipliers) < steps:
        got = Described(f"{len(lr_multipliers)} multipliers")
        allowed = f"None or at least one per step ({steps})"
        raise ParameterError(message("lr_multipliers", owner, allowed, got))
    return [float(v) for v in lr_multipliers[:steps]]


class _Optimizer:
    """One trajectory's update through the nodes: gradient and loss of a batch, schedule, momentum."""

    def __init__(self, xs, ys, lr, mult, momentum, nesterov):
        self.xs, self.ys, self.lr, self.mult = xs, ys, lr, mult
        self.beta, self.nesterov = float(momentum), bool(nesterov)
        self.v = -0.0  # -0.0 + g == g for every g: the first velocity is g exactly
        self.mul, self.minus, self.square = MulNode(), MinusNode(), SquareNode()

    def step(self, th: float, k: int, samples) -> tuple[float, float]:
        """``(theta after step k, the step's loss)`` from ``th`` and the samples of the batch.

        The gradient and the loss of a batch are sums in sample order, started
        at -0.0 (so one sample's sum is that sample's value exactly), divided
        by the number of samples; ``lr_k = lr * m(k)``; momentum as in
        :class:`lrsweep.SweepConfig` (PyTorch's convention), a lane with
        ``beta = 0`` using the gradient itself.
        """
        g = loss = -0.0
        for i in samples:
            z1 = self.mul.forward(th, self.xs[i])
            z2 = self.minus.forward(self.ys[i], z1)
            loss += self.square.forward(z2)
            dz2 = self.square.backward(1)
            _dy, dz1 = self.minus.backward(dz2)
            dth, _dx = self.mul.backward(dz1)
            g += dth
        if len(samples) > 1:  # the kernel's variant without batches divides nothing (x / 1.0 == x)
            g, loss = g / float(len(samples)), loss / float(len(samples))
        lr = self.lr if self.mult is None else self.lr * self.mult[k]
        u = g
        if self.beta != 0.0:
            self.v = self.beta * self.v + g
            u = g + self.beta * self.v if self.nesterov else self.v
        return th - lr * u, loss


@validate_params({
    "x": Array(ndim=(1, 2), what="a 1-D array (or an (n, 1) column)"),
    "y": Array(ndim=(1, 2), what="a 1-D array (or an (n, 1) column)"),
    "lr": Interval("float", 0, math.inf, "left"),
    "theta0": Interval("float", -math.inf, math.inf, "neither"),
    "epochs": Interval("int", 1, 2**40),
    **_OPTIMIZER,
})
def run_trajectory(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    *,
    lr: float = 0.01,
    theta0: float = -1.0,
    epochs: int = 5,
    order: Sequence[int] | np.ndarray | None = None,
    batch_size: int = 1,
    lr_multipliers: Sequence[float] | np.ndarray | None = None,
    momentum: float = 0.0,
    nesterov: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Run one SGD trajectory through the node graph.

    Parameters
    ----------
    x, y : array_like of float, shape (n,)
        The samples.
    lr, theta0 : float
        Learning rate (the base of the schedule) and initial theta.
    epochs : int
        Passes over the data.
    order : array_like of int, shape (epochs * n,), optional
        Sample index of each position of the run (its length sets the epoch
        length ``n``: an online stream is ``arange(epochs * n)``); default the
        seed's fixed order ``0, 1, ..., len(x) - 1`` every epoch.
    batch_size : int
        Samples per step: consecutive batches of each epoch's positions
        (``ceil(n / batch_size)`` steps per epoch, the last one shorter if
        ``batch_size`` does not divide ``n``); the step uses the mean gradient.
    lr_multipliers : array_like of float, optional
        ``m(k)`` of each step ``k`` (at least one per step): the step uses
        ``lr * m(k)`` (:mod:`lrsweep.schedules`); default none (``lr``).
    momentum, nesterov : float, bool
        ``beta`` and the update of :class:`lrsweep.SweepConfig`.

    Returns
    -------
    theta : ndarray of float64, shape (steps,)
        Theta after each step (the seed's ``th_list``).
    loss : ndarray of float64, shape (steps,)
        Loss of each step (the batch's mean per-sample loss), computed in the
        forward pass before the update (the seed's ``loss_list``).
    """
    owner = "run_trajectory"
    xs, ys, n, seq = _samples(owner, x, y, order, None, epochs)
    steps = _batches(n, epochs, batch_size)
    mult = _check_multipliers(owner, lr_multipliers, len(steps))
    opt = _Optimizer(xs, ys, float(lr), mult, momentum, nesterov)
    th = float(theta0)
    th_list, loss_list = [], []
    for k, positions in enumerate(steps):
        th, loss = opt.step(th, k, [seq[p] for p in positions])
        th_list.append(th)
        loss_list.append(loss)
    return np.array(th_list, dtype=np.float64), np.array(loss_list, dtype=np.float64)


#: The cap on the divergence bound, from its definition (lrsweep.metrics), not from the kernel the
#: oracle checks.
_MAX_BOUND = MAX_BOUND


def _log(v: float) -> float:
    """``log(v)`` for ``v >= 0`` with ``log(0) = -inf`` (as NumPy's, which the kernel uses)."""
    return -math.inf if v == 0 else math.log(v)


@validate_params({
    "x": Array(ndim=(1, 2), what="a 1-D array (or an (n, 1) column)"),
    "y": Array(ndim=(1, 2), what="a 1-D array (or an (n, 1) column)"),
    "lr": Interval("float", 0, math.inf, "left"),
    "theta0": Interval("float", -math.inf, math.inf, "neither"),
    "theta_ref": Interval("float", -math.inf, math.inf, "neither"),
    "epochs": Interval("int", 1, 2**40),
    "n": NoneOr(Interval("int", 1, 2**40)),
    "tol": Interval("float", 0, 1, "neither"),
    "diverge_factor": Interval("float", 1, math.inf, "neither"),
    "sign_floor": Interval("float", 0, 1, "left"),
    "oscillation_min": Interval("int", 1, 2**53),
    "floor2": Interval("float", -math.inf, math.inf, "neither"),
    **_OPTIMIZER,
})
def trajectory_metrics(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    *,
    lr: float,
    theta0: float,
    theta_ref: float,
    epochs: int,
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
    """Every metric of one trajectory, from the node graph and the definitions in :mod:`lrsweep.metrics`.

    The plain-Python oracle of the kernel's metrics: one step at a time
    through the seed's nodes, each metric computed as its entry in
    :data:`lrsweep.metrics.METRICS` and :class:`lrsweep.metrics.Status`
    says, with the divergence freeze. ``n`` is the epoch length (default
    ``len(x)``; an online stream has ``epochs * n`` samples used in order);
    ``order`` the sample of each position of the run (default ``p mod
    len(x)``), cut into steps of ``batch_size`` as :func:`run_trajectory` does;
    ``floor2`` the squared noise floor (``noise_factor^2 * noise_rms^2``,
    negative for none). Returns a dict keyed by the kernel's metric names
    (``status`` as the lower-case name).
    """
    owner = "trajectory_metrics"
    xs, ys, n, seq = _samples(owner, x, y, order, n, epochs)
    batches = _batches(n, epochs, batch_size)
    E = -(-n // batch_size)  # steps per epoch
    K = epochs * E
    last_start = K - E
    opt = _Optimizer(xs, ys, float(lr), _check_multipliers(owner, lr_multipliers, K), momentum, nesterov)
    th, ref = float(theta0), float(theta_ref)
    e0 = th - ref
    scale = max(abs(e0), abs(ref)) or 1.0
    bound = min(diverge_factor * scale, _MAX_BOUND)
    floor = sign_floor * scale
    thr = tol * abs(e0)
    div = -1
    mae, mae_step = abs(e0), 0
    mj, mj_step = 0.0, 0
    last_viol = 0 if abs(e0) > thr else -1
    exit_step, exit_err = -1, 0.0
    sc = sc_last = zig = 0
    lsum = e2sum = 0.0
    lprev = dprev = 0.0
    e_start = e0
    for k in range(K):
        step = k + 1
        tn, loss = opt.step(th, k, [seq[p] for p in batches[k]])
        en, ep = tn - ref, th - ref
        ok = div < 0 and abs(en) <= bound  # False for NaN too
        if div < 0 and not ok:
            div = step
        if ok:
            jump = abs(tn - th)
            if jump > mj:
                mj, mj_step = jump, step
            if abs(en) > mae:
                mae, mae_step = abs(en), step
            if abs(en) > thr:
                last_viol = step
            if abs(en) <= floor and exit_step < 0:
                exit_step, exit_err = step, abs(en)
        flip = ok and ((en < 0) != (ep < 0)) and abs(ep) > floor and abs(en) > floor
        sc += flip
        if k >= last_start:
            sc_last += flip
            if ok:
                lsum += loss
                e2sum += en * en
            d = loss - lprev
            if ok and k >= last_start + 2 and d * dprev < 0:
                zig += 1
            dprev, lprev = d, loss
        if ok:
            th = tn
        if step == last_start and last_start > 0:
            e_start = th - ref
    e = th - ref
    if div >= 0:
        growth = math.inf if e0 == 0 else (math.log(bound) - math.log(abs(e0))) * E / div
    elif exit_step >= 0:
        growth = (_log(exit_err) - _log(abs(e0))) * E / exit_step
    elif e_start == 0:
        growth = math.nan
    else:
        growth = math.log(abs(e)) - math.log(abs(e_start))
    conv = -1
    if div >= 0:
        status = "diverged"
    elif last_viol <= last_start:
        status, conv = "converged", last_viol + 1
    elif e2sum <= E * floor2:
        status = "noise_floor"
    elif abs(e) > abs(e_start):
        status = "growing"
    elif sc_last >= oscillation_min:
        status = "oscillating"
    else:
        status = "slow"
    return {
        "theta_final": th, "max_abs_error": mae, "max_jump": mj,
        "loss_zigzag": math.nan if div >= 0 or E < 3 else zig / (E - 2),
        "loss_last_epoch": math.nan if div >= 0 else lsum / E,
        "growth_rate": growth,
        "rms_error_last_epoch": math.nan if div >= 0 else math.sqrt(e2sum / E),
        "status": status, "converged_step": conv, "diverged_step": div, "sign_changes": sc,
        "sign_changes_last_epoch": sc_last, "max_abs_error_step": mae_step, "max_jump_step": mj_step,
        "max_jump_sample": -1 if mj_step == 0 else seq[batches[mj_step - 1][0]],
    }
