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

from ._validation import Array, Described, Interval, NoneOr, ParameterError, message, validate_params

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


@validate_params({
    "x": Array(ndim=(1, 2), what="a 1-D array (or an (n, 1) column)"),
    "y": Array(ndim=(1, 2), what="a 1-D array (or an (n, 1) column)"),
    "lr": Interval("float", 0, math.inf, "left"),
    "theta0": Interval("float", -math.inf, math.inf, "neither"),
    "epochs": Interval("int", 1, 2**40),
})
def run_trajectory(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    *,
    lr: float = 0.01,
    theta0: float = -1.0,
    epochs: int = 5,
    order: Sequence[int] | np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run one per-sample SGD trajectory through the node graph.

    Parameters
    ----------
    x, y : array_like of float, shape (n,)
        The samples.
    lr, theta0 : float
        Learning rate and initial theta.
    epochs : int
        Passes over the data.
    order : array_like of int, shape (epochs * n,), optional
        Sample index of each step; default the seed's fixed order
        ``0, 1, ..., n-1`` every epoch.

    Returns
    -------
    theta : ndarray of float64, shape (steps,)
        Theta after each step (the seed's ``th_list``).
    loss : ndarray of float64, shape (steps,)
        Per-sample loss of each step, computed in the forward pass before
        the update (the seed's ``loss_list``).
    """
    xs = [float(v) for v in x.ravel()]
    ys = [float(v) for v in y.ravel()]
    n = len(xs)
    owner = "run_trajectory"
    if len(ys) != n:
        got = Described(f"{len(ys)} samples")
        raise ParameterError(message("y", owner, f"as long as x ({n} samples)", got))
    if order is None:
        steps = [k % n for k in range(epochs * n)]
    else:
        idx = np.asarray(order)
        if idx.ndim != 1 or idx.dtype.kind not in "iu" or (idx.size and (idx.min() < 0 or idx.max() >= n)):
            got = Described(f"an array of dtype {idx.dtype} and shape {idx.shape}")
            allowed = f"None or a 1-D array of sample indices in [0, {n - 1}]"
            raise ParameterError(message("order", owner, allowed, got))
        steps = [int(i) for i in idx]
    mul, minus, square = MulNode(), MinusNode(), SquareNode()
    th, lr = float(theta0), float(lr)
    th_list, loss_list = [], []
    for i in steps:
        xi, yi = xs[i], ys[i]
        z1 = mul.forward(th, xi)
        z2 = minus.forward(yi, z1)
        loss = square.forward(z2)
        dz2 = square.backward(1)
        _dy, dz1 = minus.backward(dz2)
        dth, _dx = mul.backward(dz1)
        th = th - lr * dth
        th_list.append(th)
        loss_list.append(loss)
    return np.array(th_list, dtype=np.float64), np.array(loss_list, dtype=np.float64)


#: The kernel's cap on the divergence bound (see lrsweep.metrics); restated here on purpose: the
#: oracle must not import the kernel it checks.
_MAX_BOUND = float(np.finfo(np.float64).max) / 4


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
) -> dict:
    """Every metric of one trajectory, from the node graph and the definitions in :mod:`lrsweep.metrics`.

    The plain-Python oracle of the kernel's metrics: one step at a time
    through the seed's nodes, each metric computed as its entry in
    :data:`lrsweep.metrics.METRICS` and :class:`lrsweep.metrics.Status`
    says, with the divergence freeze. ``n`` is the epoch length (default
    ``len(x)``; an online stream has ``epochs * n`` samples used in order);
    ``order`` the sample of each step (default ``k mod len(x)``);
    ``floor2`` the squared noise floor (``noise_factor^2 * noise_rms^2``,
    negative for none). Returns a dict keyed by the kernel's metric names
    (``status`` as the lower-case name).
    """
    xs = [float(v) for v in x.ravel()]
    ys = [float(v) for v in y.ravel()]
    m = len(xs)
    n = m if n is None else n
    K = epochs * n
    last_start = K - n
    steps = [k % m for k in range(K)] if order is None else [int(i) for i in order]
    th, ref = float(theta0), float(theta_ref)
    e0 = th - ref
    scale = max(abs(e0), abs(ref)) or 1.0
    bound = min(diverge_factor * scale, _MAX_BOUND)
    floor = sign_floor * scale
    thr = tol * abs(e0)
    mul, minus, square = MulNode(), MinusNode(), SquareNode()
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
        i = steps[k]
        z1 = mul.forward(th, xs[i])
        z2 = minus.forward(ys[i], z1)
        loss = square.forward(z2)
        dz2 = square.backward(1)
        _dy, dz1 = minus.backward(dz2)
        dth, _dx = mul.backward(dz1)
        tn = th - lr * dth
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
        growth = math.inf if e0 == 0 else (math.log(bound) - math.log(abs(e0))) * n / div
    elif exit_step >= 0:
        growth = (_log(exit_err) - _log(abs(e0))) * n / exit_step
    elif e_start == 0:
        growth = math.nan
    else:
        growth = math.log(abs(e)) - math.log(abs(e_start))
    conv = -1
    if div >= 0:
        status = "diverged"
    elif last_viol <= last_start:
        status, conv = "converged", last_viol + 1
    elif e2sum <= n * floor2:
        status = "noise_floor"
    elif abs(e) > abs(e_start):
        status = "growing"
    elif sc_last >= oscillation_min:
        status = "oscillating"
    else:
        status = "slow"
    return {
        "theta_final": th, "max_abs_error": mae, "max_jump": mj,
        "loss_zigzag": math.nan if div >= 0 or n < 3 else zig / (n - 2),
        "loss_last_epoch": math.nan if div >= 0 else lsum / n,
        "growth_rate": growth,
        "rms_error_last_epoch": math.nan if div >= 0 else math.sqrt(e2sum / n),
        "status": status, "converged_step": conv, "diverged_step": div, "sign_changes": sc,
        "sign_changes_last_epoch": sc_last, "max_abs_error_step": mae_step, "max_jump_step": mj_step,
        "max_jump_sample": -1 if mj_step == 0 else steps[mj_step - 1],
    }
