"""Tests of lrsweep.theory.dataset: S, poles, counts, the GD threshold, error paths, outliers.

Every random draw comes from ``np.random.default_rng(<fixed seed>)``. Each
tolerance is stated next to its assertion with the reason for its size.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from lrsweep import theory as T


def naive_s(x, lr):
    """S by the definition, broadcast the obvious way (no blocks, no log1p)."""
    x = np.asarray(x, dtype=float)
    lr = np.asarray(lr, dtype=float)
    v = 2.0 * lr[..., None] * np.square(x.reshape(x.shape[:-1] + (1,) * lr.ndim + x.shape[-1:]))
    return np.log(np.abs(1.0 - v)).sum(axis=-1)


def node_graph_run(x, y, lr, theta0, epochs):
    """The seed's per-sample update in its operation order, fixed order; returns theta_k."""
    th = theta0
    out = [th]
    for _ in range(epochs):
        for xi, yi in zip(x, y, strict=True):
            z1 = th * xi
            z2 = yi - z1
            dz2 = 2.0 * z2
            dth = -dz2 * xi
            th = th - lr * dth
            out.append(th)
    return np.array(out)


def test_gd_threshold():
    x = np.random.default_rng(0).standard_normal((3, 50))
    thr = T.gd_threshold(x)
    np.testing.assert_allclose(thr, 1.0 / np.mean(x**2, axis=1), rtol=1e-15)
    # the GD multiplier 1 - 2 lr mean(x^2) is -1 at the threshold (rounding only)
    np.testing.assert_allclose(1.0 - 2.0 * thr * np.mean(x**2, axis=1), -1.0, atol=1e-15)
    assert T.gd_threshold([0.0, 0.0]) == math.inf


def test_epoch_log_multiplier_matches_definition(monkeypatch):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((7, 13))
    lr = np.linspace(0.0, 2.0, 11)
    want = naive_s(x, lr)
    got = T.epoch_log_multiplier(x, lr)
    assert got.shape == (7, 11)
    # log1p vs log(|1 - v|): differ by rounding of O(eps) per term
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)
    # tiny blocks give the same bits
    monkeypatch.setattr(T._common, "_BLOCK_ELEMENTS", 16)
    np.testing.assert_array_equal(T.epoch_log_multiplier(x, lr), got)
    # shapes: x.shape[:-1] + lr.shape
    assert np.ndim(T.epoch_log_multiplier(x[0], 0.1)) == 0
    assert T.epoch_log_multiplier(x[0], lr).shape == (11,)
    assert T.epoch_log_multiplier(x, 0.1).shape == (7,)
    assert T.epoch_log_multiplier(x[0], lr.reshape(1, 11)).shape == (1, 11)


def test_epoch_log_multiplier_small_lr_keeps_relative_accuracy():
    x = np.array([0.3, -1.2, 2.0])
    lr = 1e-12
    # S ~ -2 lr sum x^2 with full relative accuracy (log1p); log(1 - v) would lose it
    assert T.epoch_log_multiplier(x, lr) == pytest.approx(-2 * lr * np.sum(x**2), rel=1e-10)


def test_epoch_log_multiplier_is_log_of_epoch_product():
    x = np.random.default_rng(4).standard_normal(25)
    for lr in (0.01, 0.3, 1.5):
        e = 1.0
        for xi in x:
            e = (1.0 - 2.0 * lr * xi * xi) * e
        # one epoch of 25 float multiplications: relative error ~25 eps
        assert math.log(abs(e)) == pytest.approx(T.epoch_log_multiplier(x, lr), abs=1e-12)


def test_pole_is_minus_inf_without_warnings():
    # 2 * 2.0 * 0.5^2 == 1 exactly: the step lands on the solution
    assert T.epoch_log_multiplier([0.5, 1.0], 2.0) == -math.inf
    assert T.epoch_log_multiplier([0.5, 1.0], 2.0 * (1 + 1e-12)) < -25


def test_poles():
    x = np.array([[1.0, -0.5, 0.0], [2.0, 1.0, -1.0]])
    np.testing.assert_array_equal(
        T.poles(x), [[0.5, 2.0, math.inf], [0.125, 0.5, 0.5]]
    )


def test_overshoot_and_amplify_counts():
    x = np.array([0.1, 1.0, -2.0])
    # 2 lr x^2 at lr = 0.3: [0.006, 0.6, 2.4]; at lr = 0.6: [0.012, 1.2, 4.8]
    np.testing.assert_array_equal(T.overshoot_count(x, [0.3, 0.6]), [1, 2])
    np.testing.assert_array_equal(T.amplify_count(x, [0.3, 0.6]), [1, 1])
    assert T.overshoot_count(x, 0.0) == 0
    xx = np.random.default_rng(9).standard_normal((4, 40))
    lr = np.array([0.1, 0.5, 2.0])
    v = 2.0 * lr[None, :, None] * xx[:, None, :] ** 2
    np.testing.assert_array_equal(T.overshoot_count(xx, lr), (v > 1).sum(-1))
    np.testing.assert_array_equal(T.amplify_count(xx, lr), (v > 2).sum(-1))


def test_predicted_error_matches_float_loop():
    x = np.random.default_rng(10).standard_normal(9)
    lrs = np.array([0.01, 0.2, 0.6, 1.4])
    epochs = 6
    log_abs, sign = T.predicted_error(x, lrs, e0=-0.7, epochs=epochs)
    assert log_abs.shape == sign.shape == (4, epochs * 9 + 1)
    for j, lr in enumerate(lrs):
        e = -0.7
        ref = [e]
        for k in range(epochs * 9):
            e = (1.0 - 2.0 * lr * x[k % 9] ** 2) * e
            ref.append(e)
        ref = np.array(ref)
        # 1e-9 relative: the loop's and the cumulative log's rounding are ~54 eps each
        np.testing.assert_allclose(log_abs[j], np.log(np.abs(ref)), rtol=0, atol=1e-9)
        np.testing.assert_array_equal(sign[j], np.sign(ref))


def test_predicted_error_matches_node_graph_sgd():
    # the real update on y = 5 x; e_k = theta_k - 5 loses digits to cancellation when
    # |e_k| << 5, so compare while |e_k| > 1e-4 (relative error then < 1e-11)
    rng = np.random.default_rng(11)
    x = rng.standard_normal(20)
    for lr in (0.04, 0.3):
        theta = node_graph_run(x, 5.0 * x, lr, theta0=-1.0, epochs=3)
        e = theta - 5.0
        log_abs, sign = T.predicted_error(x, lr, e0=-6.0, epochs=3)
        keep = np.abs(e) > 1e-4
        np.testing.assert_allclose(np.exp(log_abs[keep]) * sign[keep], e[keep], rtol=1e-9)


def test_predicted_error_at_pole_and_zero_start():
    log_abs, sign = T.predicted_error([0.5, 1.0], 2.0, e0=1.0, epochs=2)
    assert log_abs[0] == 0.0 and sign[0] == 1
    assert np.all(np.isneginf(log_abs[1:])) and np.all(sign[1:] == 0)
    log_abs, sign = T.predicted_error([1.0], 0.1, e0=0.0, epochs=1)
    assert np.all(np.isneginf(log_abs)) and np.all(sign == 0)


def test_predicted_error_broadcasts_e0():
    x = np.random.default_rng(12).standard_normal((2, 5))
    la, sg = T.predicted_error(x, [0.1, 0.9], e0=np.array([[1.0, -2.0], [3.0, 4.0]]), epochs=2)
    assert la.shape == (2, 2, 11)
    assert la[0, 1, 0] == pytest.approx(math.log(2.0)) and sg[0, 1, 0] == -1


def _steps_brute(log_abs, e0_log, tol):
    viol = np.flatnonzero(log_abs - e0_log > math.log(tol))
    if viol.size == 0:
        return 0
    last = viol[-1]
    return -1 if last == log_abs.size - 1 else last + 1


def test_predicted_steps_to_tol_matches_brute_force():
    x = np.random.default_rng(13).standard_normal((3, 8))
    lrs = np.array([0.0, 0.005, 0.05, 0.2, 0.5, 1.0, 3.0])
    epochs = 40
    log_abs, _ = T.predicted_error(x, lrs, e0=1.0, epochs=epochs)
    for tol in (1e-6, 1e-2, 0.5, 1.0, 2.0):
        got = T.predicted_steps_to_tol(x, lrs, tol, epochs)
        assert got.shape == (3, 7)
        want = np.array([[_steps_brute(log_abs[i, j], 0.0, tol) for j in range(7)]
                         for i in range(3)])
        np.testing.assert_array_equal(got, want)
    # pole hit: converged right after the step that lands on the solution
    assert T.predicted_steps_to_tol([1.0, 0.5], 2.0, 1e-3, 3) == 2


def test_leverage_outlier_changes_s_by_its_terms():
    rng = np.random.default_rng(14)
    x = rng.standard_normal(50)
    out = np.array([3, 17, 41])
    s = 8.0
    xm = x.copy()
    xm[out] *= s
    lr = np.array([0.001, 0.01, 0.04, 0.3])
    delta = (np.log(np.abs(1 - 2 * lr[:, None] * s**2 * x[out] ** 2))
             - np.log(np.abs(1 - 2 * lr[:, None] * x[out] ** 2))).sum(axis=1)
    # rounding of sums of 50 logs: 1e-12 absolute
    np.testing.assert_allclose(
        T.epoch_log_multiplier(xm, lr), T.epoch_log_multiplier(x, lr) + delta, atol=1e-12
    )
    # a leverage outlier can make a stable lr diverge
    assert T.epoch_log_multiplier(x, 0.04) < 0 < T.epoch_log_multiplier(xm, 0.04)


def test_response_outlier_leaves_epoch_multiplier_unchanged():
    # one epoch of the real update is affine in theta: theta -> P theta + c; P depends
    # on x only. Two starts give P = (theta_A' - theta_B') / (theta_A - theta_B), and
    # |P| = exp(S) with or without response outliers (y shifted at 3 samples).
    rng = np.random.default_rng(15)
    x = rng.standard_normal(30)
    y_clean = 5.0 * x
    y_out = y_clean.copy()
    y_out[[2, 11, 25]] += 10.0 * 5.0
    lr = 0.3
    s = T.epoch_log_multiplier(x, lr)
    for y in (y_clean, y_out):
        a = node_graph_run(x, y, lr, theta0=-1.0, epochs=1)[-1]
        b = node_graph_run(x, y, lr, theta0=3.0, epochs=1)[-1]
        p = (a - b) / (-1.0 - 3.0)
        # the difference of two O(1) thetas after 30 steps: ~1e-13 absolute on P
        assert math.log(abs(p)) == pytest.approx(s, abs=1e-9)
