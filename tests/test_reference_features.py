"""The d-feature node-graph oracle: today's bits for one feature, the matrix dynamics, the d-dim metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lrsweep import reference
from lrsweep._validation import ParameterError
from lrsweep.data import make_dataset, make_features_dataset, sample_order
from lrsweep.reference_features import (
    SumNode,
    error_norm,
    overshoot,
    run_trajectory_features,
    trajectory_metrics_features,
)

AXES = dict(
    n=st.integers(1, 10),
    epochs=st.integers(1, 4),
    lr=st.sampled_from([0.0, 1e-3, 0.05, 0.3, 0.5, 0.9, 1.2, 2.0, 40.0]),
    theta0=st.sampled_from([-1.0, 5.0, 1e3, 1e200]),
    seed=st.integers(0, 2**32 - 1),
    data=st.sampled_from([dict(), dict(noise=0.5), dict(outlier_frac=0.3), dict(outlier_frac=0.3,
                          outlier_kind="response"), dict(kind="lecture", noise=0.1)]),
    order=st.sampled_from(["fixed", "shuffle", "replacement", "online"]),
    metric_settings=st.sampled_from([dict(), dict(tol=0.3, sign_floor=0.0), dict(floor2=0.01),
                                     dict(diverge_factor=10.0, oscillation_min=2), dict(floor2=1e6)]),
    batch_size=st.sampled_from([1, 2, 3, 5]),
    schedule=st.sampled_from([None, "cosine:0.1", "range:100", "warmup:3+step:0.5:1"]),
    momentum=st.sampled_from([0.0, 0.5, 0.9]),
    nesterov=st.booleans(),
)


def _same(a, b) -> bool:
    if isinstance(a, float):
        return bool(np.array_equal(np.float64(a), np.float64(b), equal_nan=True))
    return a == b


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(**AXES)
def test_one_feature_without_bias_is_todays_oracle_bit_for_bit(n, epochs, lr, theta0, seed, data, order,
                                                                metric_settings, batch_size, schedule,
                                                                momentum, nesterov):
    from lrsweep.schedules import multipliers

    ds = make_dataset(seed, n, online_epochs=epochs if order == "online" else None, **data)
    fds = make_features_dataset(seed, n, 1, online_epochs=epochs if order == "online" else None, **data)
    steps = -(-n // batch_size)
    mult = None if schedule is None else multipliers(schedule, epochs * steps, steps)
    idx = sample_order(order, n, epochs, seed)
    opt = dict(batch_size=batch_size, lr_multipliers=mult, momentum=momentum, nesterov=nesterov)
    if order != "online":
        th, loss = reference.run_trajectory(ds.x, ds.y, lr=lr, theta0=theta0, epochs=epochs, order=idx, **opt)
        w, b, loss_f = run_trajectory_features(fds.x, fds.y, lr=lr, theta0=theta0, epochs=epochs, order=idx,
                                               **opt)
        np.testing.assert_array_equal(w[:, 0], th)
        np.testing.assert_array_equal(loss_f, loss)
        assert w.shape == (len(th), 1) and not b.any()
    want = reference.trajectory_metrics(ds.x, ds.y, lr=lr, theta0=theta0, theta_ref=ds.theta_ref,
                                        epochs=epochs, n=n, order=idx, **metric_settings, **opt)
    got = trajectory_metrics_features(fds.x, fds.y, lr=lr, theta0=theta0, w_ref=fds.w_ref, epochs=epochs, n=n,
                                      order=idx, **metric_settings, **opt)
    assert got.pop("b_final") == 0.0
    got["theta_final"] = float(got.pop("w_final")[0])
    assert set(got) == set(want)
    for name, value in want.items():
        assert _same(value, got[name]), (name, value, got[name])


@pytest.mark.parametrize("opt", [dict(), dict(batch_size=3, momentum=0.9, nesterov=True),
                                 dict(momentum=0.5, lr_multipliers=np.linspace(1, 0.1, 16))])
def test_a_bias_is_the_weight_of_a_constant_input_bit_for_bit(opt):
    ds = make_features_dataset(6, 8, 3, noise=0.3, intercept=2.0, fit_intercept=True)
    ones = np.hstack([ds.x, np.ones((8, 1))])
    w, b, loss = run_trajectory_features(ds.x, ds.y, lr=0.05, theta0=[-1.0, 0.5, 2.0], b0=0.25,
                                         fit_intercept=True, epochs=2, **opt)
    w1, b1, loss1 = run_trajectory_features(ones, ds.y, lr=0.05, theta0=[-1.0, 0.5, 2.0, 0.25], epochs=2,
                                            **opt)
    np.testing.assert_array_equal(np.hstack([w, b[:, None]]), w1)
    np.testing.assert_array_equal(loss, loss1)
    assert not b1.any()
    m = trajectory_metrics_features(ds.x, ds.y, lr=0.05, theta0=[-1.0, 0.5, 2.0], b0=0.25, w_ref=ds.w_ref,
                                    b_ref=ds.b_ref, fit_intercept=True, epochs=2, **opt)
    m1 = trajectory_metrics_features(ones, ds.y, lr=0.05, theta0=[-1.0, 0.5, 2.0, 0.25], w_ref=ds.theta_ref,
                                     epochs=2, **opt)
    np.testing.assert_array_equal(np.append(m.pop("w_final"), m.pop("b_final")), m1.pop("w_final"))
    assert m1.pop("b_final") == 0.0
    assert all(_same(v, m1[k]) for k, v in m.items())


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_error_obeys_the_matrix_recursion(fit_intercept):
    # Noise-free: e_{k+1} = (I - 2 lr x_k x_k^T) e_k, x extended by a 1 for the bias (to rounding).
    ds = make_features_dataset(3, 20, 4, condition=10.0, intercept=0.5 * fit_intercept,
                               fit_intercept=fit_intercept)
    lr = 0.04
    w, b, _ = run_trajectory_features(ds.x, ds.y, lr=lr, theta0=-1.0, fit_intercept=fit_intercept, epochs=2)
    th = np.hstack([w, b[:, None]]) if fit_intercept else w
    xs = np.hstack([ds.x, np.ones((20, 1))]) if fit_intercept else ds.x
    e_prev = np.append(np.full(4, -1.0), 0.0)[:th.shape[1]] - ds.theta_ref
    for k in range(40):
        x = xs[k % 20]
        want = e_prev - 2 * lr * x * (x @ e_prev)
        got = th[k] - ds.theta_ref
        assert np.linalg.norm(got - want) <= 1e-12 * np.linalg.norm(e_prev)
        e_prev = got


@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("lr", [0.05, 0.15, 0.3])
def test_growth_per_epoch_tends_to_the_log_spectral_radius_of_the_epoch_product(fit_intercept, lr):
    # y = 0 (coefficients 0): theta_ref = 0 exactly, so e = theta carries no rounding floor.
    n, d = 6, 3
    ds = make_features_dataset(4, n, d, coef=0.0, fit_intercept=fit_intercept)
    assert not ds.theta_ref.any()
    xs = np.hstack([ds.x, np.ones((n, 1))]) if fit_intercept else ds.x
    p = xs.shape[1]
    m = np.eye(p)
    for x in xs:
        m = (np.eye(p) - 2 * lr * np.outer(x, x)) @ m
    log_rho = math.log(np.abs(np.linalg.eigvals(m)).max())
    epochs = int(min(400, 300 / abs(log_rho)))  # log ||e|| stays within +-300 (no under- or overflow)
    w, b, _ = run_trajectory_features(ds.x, ds.y, lr=lr, theta0=-1.0, fit_intercept=fit_intercept,
                                      epochs=epochs)
    th = np.hstack([w, b[:, None]]) if fit_intercept else w
    log_e = np.log([error_norm(t) for t in th[n - 1::n]])  # after each epoch
    half = epochs // 2
    rate = (log_e[-1] - log_e[half - 1]) / (epochs - half)
    # The top eigenvalues are a complex pair for some of these lr, so ||e|| wobbles within a bounded factor:
    # over >= 100 epochs the mean rate is within 5e-3 of log rho (measured: at most 1.1e-3).
    assert epochs - half >= 100
    assert abs(rate - log_rho) < 5e-3, (rate, log_rho)


def test_overshoot_and_jump_on_a_hand_computed_example():
    # x = e_1, e_2 in turn, y = 0 (w_ref = 0), theta0 = (1, 1), lr = 0.75: each step sets w_j <- -w_j / 2.
    x, y = np.array([[1.0, 0.0], [0.0, 1.0]]), np.zeros(2)
    w, _, loss = run_trajectory_features(x, y, lr=0.75, theta0=1.0, epochs=2)
    np.testing.assert_array_equal(w, [[-0.5, 1.0], [-0.5, -0.5], [0.25, -0.5], [0.25, 0.25]])
    np.testing.assert_array_equal(loss, [1.0, 1.0, 0.25, 0.25])
    # e_1 . e_0 = 0.5 > 0 (w_0 changed sign, the error did not turn back: no overshoot);
    # e_2 . e_1 = -0.25, e_3 . e_2 = 0.125, e_4 . e_3 = -0.0625: overshoots at steps 2 and 4.
    got = trajectory_metrics_features(x, y, lr=0.75, theta0=1.0, w_ref=0.0, epochs=2)
    assert got["sign_changes"] == 2 and got["sign_changes_last_epoch"] == 1
    assert got["max_jump"] == 1.5 and got["max_jump_step"] == 1 and got["max_jump_sample"] == 0
    assert got["max_abs_error"] == math.sqrt(2) and got["max_abs_error_step"] == 0
    assert got["growth_rate"] == math.log(math.sqrt(0.125)) - math.log(math.sqrt(0.5))  # ||e_4|| / ||e_2||
    # sqrt(sum ||e_k||^2 / E), each term the norm times itself (sqrt(0.3125)^2 rounds to 0.3125 + 1 ulp).
    assert got["rms_error_last_epoch"] == pytest.approx(math.sqrt((0.3125 + 0.125) / 2), rel=1e-15)
    np.testing.assert_array_equal(got["w_final"], [0.25, 0.25])


def test_norm_and_overshoot_are_exact_in_one_dimension():
    rng = np.random.default_rng(1)
    values = rng.standard_normal(20_000) * np.exp2(rng.integers(-1074, 1023, 20_000).astype(float))
    values = np.concatenate([values, [0.0, -0.0, 5e-324, -5e-324, 1.7e308, -1.7e308, 1e-160, 1e160]])
    for v in values:
        assert error_norm([float(v)]) == abs(v)
    for a, b in zip(values[1::2], values[::2], strict=False):
        if a != 0 and b != 0:
            assert overshoot([float(a)], [float(b)]) == ((a < 0) != (b < 0))
    assert overshoot([1e-200], [-1e-200]) and overshoot([1e300], [-1e300])  # the product under/overflows


def test_norm_is_euclidean_without_under_or_overflow():
    for k in (1.0, 1e-200, 1e200, 1e-310):
        assert error_norm([3 * k, 4 * k]) == pytest.approx(5 * k, rel=1e-15)
    assert math.isnan(error_norm([1.0, math.nan])) and error_norm([math.inf, 1.0]) == math.inf
    assert error_norm([-0.0, 0.0]) == 0.0
    assert not overshoot([1.0, 0.0], [0.0, 1.0])  # orthogonal: no overshoot
    assert overshoot([1e-200, 1e-200], [-1e-200, 0.0])  # the dot product underflows; its sign does not


def test_sum_node_starts_at_negative_zero():
    node = SumNode()
    assert math.copysign(1.0, node.forward([-0.0])) == -1.0  # -0.0 + p == p, signed zeros included
    assert node.forward([1.0, 2.0, 3.0]) == 6.0 and node.backward(2.0) == [2.0, 2.0, 2.0]


def test_momentum_acts_per_coordinate():
    # Features on disjoint samples: a sample without feature j gives w_j the gradient dz1 * 0 = +-0, so
    # coordinate j runs exactly the 1-d trajectory on column j (momentum and Nesterov per coordinate).
    x = np.array([[1.0, 0.0], [0.0, 2.0], [0.5, 0.0], [0.0, -1.0]])
    y = np.array([3.0, 1.0, -2.0, 4.0])
    kw = dict(lr=0.1, epochs=3, momentum=0.9, nesterov=True, batch_size=1)
    w, _, _ = run_trajectory_features(x, y, theta0=[-1.0, 2.0], **kw)
    for j, t0 in enumerate([-1.0, 2.0]):
        th, _ = reference.run_trajectory(x[:, j], y, theta0=t0, **kw)
        np.testing.assert_array_equal(w[:, j], th)


@pytest.mark.parametrize(("kw", "name"), [
    (dict(theta0=[1.0, 2.0, 3.0]), "theta0"),
    (dict(b0=1.0), "b0"),
    (dict(y=[1.0]), "y"),
    (dict(order=[0, 5]), "order"),
    (dict(lr_multipliers=[1.0]), "lr_multipliers"),
    (dict(x=[[1.0, np.nan], [1.0, 2.0]]), "x"),
    (dict(x=np.zeros((0, 2))), "x"),
    (dict(fit_intercept=1), "fit_intercept"),
])
def test_errors_name_the_parameter(kw, name):
    args = {"x": [[1.0, 0.5], [2.0, -1.0]], "y": [1.0, 2.0], "lr": 0.1, "epochs": 1, **kw}
    metrics_args = {"w_ref": [0.0, 0.0], **({} if "theta0" in kw else {"theta0": -1.0})}
    for fn, extra in ((run_trajectory_features, {}), (trajectory_metrics_features, metrics_args)):
        with pytest.raises(ParameterError, match=f"^The '{name}' parameter of {fn.__name__} must be"):
            fn(**args, **extra)
    wrong = r"^The 'w_ref' parameter of trajectory_metrics_features must be"
    with pytest.raises(ParameterError, match=wrong):
        trajectory_metrics_features([[1.0, 0.5]], [1.0], lr=0.1, theta0=-1.0, w_ref=[0.0], epochs=1)
