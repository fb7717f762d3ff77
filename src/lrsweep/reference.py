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

from ._validation import Array, Described, Interval, ParameterError, message, validate_params

__all__ = ["MinusNode", "MulNode", "SquareNode", "run_trajectory"]


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
