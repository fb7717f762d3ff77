"""The node-graph oracle reproduces the seed's run and its exact dynamics."""

from __future__ import annotations

import numpy as np

from lrsweep import reference


def test_nodes_forward_backward():
    mul, minus, sq = reference.MulNode(), reference.MinusNode(), reference.SquareNode()
    assert mul.forward(3.0, 2.0) == 6.0
    assert mul.backward(1.5) == (3.0, 4.5)  # (dz * y, dz * x)
    assert minus.forward(3.0, 2.0) == 1.0
    assert minus.backward(2.0) == (2.0, -2.0)
    assert sq.forward(-3.0) == 9.0
    assert sq.backward(1.0) == -6.0


def test_seed_run_reaches_five_by_iteration_200(lecture_data):
    theta, loss = reference.run_trajectory(lecture_data.x, lecture_data.y, lr=0.01, theta0=-1, epochs=5)
    assert theta.shape == loss.shape == (500,)
    # The lecture: theta rises from -1 to about 5 by iteration 200, loss near 0.
    assert abs(theta[199] - 5) < 0.1
    assert abs(theta[-1] - 5) < 1e-3
    assert theta[0] > -1 and np.all(np.diff(theta[:200]) >= 0)  # lr 0.01: no overshoot here
    assert loss[0] == (lecture_data.y[0] + lecture_data.x[0]) ** 2


def test_error_follows_the_exact_recursion(lecture_data):
    # Noise-free: e_{k+1} = (1 - 2 lr x_k^2) e_k (to rounding).
    x = lecture_data.x
    lr = 0.04
    theta, _ = reference.run_trajectory(x, lecture_data.y, lr=lr, theta0=-1, epochs=1)
    e = -1 - lecture_data.theta_ref
    for k in range(20):
        e *= 1 - 2 * lr * x[k] ** 2
        assert abs((theta[k] - lecture_data.theta_ref) - e) <= 1e-12 * max(1.0, abs(e))


def test_custom_order():
    x = np.array([1.0, 2.0])
    y = 5 * x
    th_a, _ = reference.run_trajectory(x, y, lr=0.1, theta0=0.0, epochs=1, order=[1, 0])
    th_b, _ = reference.run_trajectory(x[::-1], y[::-1], lr=0.1, theta0=0.0, epochs=1)
    np.testing.assert_array_equal(th_a, th_b)
