"""The node-graph oracle reproduces the seed's run and its exact dynamics."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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


# ----------------------------------------------------------- the metrics oracle
METRIC_KINDS = dict(
    n=st.integers(1, 12),
    epochs=st.integers(1, 4),
    lrs=st.lists(st.sampled_from([0.0, 1e-3, 0.05, 0.3, 0.5, 0.9, 1.2, 2.0, 40.0]), min_size=1, max_size=4,
                 unique=True),
    theta0=st.sampled_from([-1.0, 5.0, 1e3]),
    seed=st.integers(0, 2**32 - 1),
    noise=st.sampled_from([0.0, 0.5]),
    order=st.sampled_from(["fixed", "shuffle", "replacement", "online"]),
    outlier=st.sampled_from([(0.0, "leverage"), (0.3, "leverage"), (0.3, "response")]),
    settings=st.sampled_from([dict(), dict(tol=0.3, sign_floor=0.0), dict(noise_factor=0.5),
                              dict(diverge_factor=10.0, oscillation_min=2)]),
    # The optimizer axes, alone and together, mixed with plain lanes in one chunk.
    optimizer=st.sampled_from([
        dict(), dict(batch_size=[1, 3]), dict(batch_size=5), dict(schedule=["constant", "cosine:0.1"]),
        dict(schedule=["range:100", "invtime:3", "exp:0.5"]),
        dict(momentum=[0.0, 0.9], nesterov=[False, True]),
        dict(schedule="warmup:3+step:0.5:1", batch_size=[2, 4], momentum=[0.0, 0.5], nesterov=True),
    ]),
)


@settings(max_examples=80, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(**METRIC_KINDS)
def test_kernel_metrics_equal_the_plain_python_oracle(n, epochs, lrs, theta0, seed, noise, order, outlier,
                                                        settings, optimizer):
    """Every metric and status of every trajectory equals reference.trajectory_metrics, bit for bit,
    across every axis (schedules, batches and momentum included)."""
    import lrsweep
    from lrsweep.config import DATA_AXES
    from lrsweep.data import dataset_for, sample_order
    from lrsweep.engine.chunk import noise_floor
    from lrsweep.schedules import multipliers

    cfg = lrsweep.SweepConfig(lr=lrs, theta0=theta0, seed=seed, n_samples=n, epochs=epochs, noise=noise,
                              order=order, outlier_frac=outlier[0], outlier_kind=outlier[1], **settings,
                              **optimizer)
    frame = lrsweep.sweep(cfg, progress=False).frame
    for _, row in frame.iterrows():
        ds = dataset_for(cfg, tuple(row[a] for a in DATA_AXES), order)
        r = ds.y - ds.theta_ref * ds.x
        xr, xx = ds.x * r, ds.x * ds.x
        bs = int(row["batch_size"])
        steps = -(-n // bs)
        mult = None if row["schedule"] == "constant" else multipliers(row["schedule"], epochs * steps, steps)
        # The floor at the largest learning rate of the last epoch, with the batch size and momentum.
        lr_last = row["lr"] if mult is None else row["lr"] * mult[-steps:].max()
        _, floor2 = noise_floor(np.array([lr_last]), np.mean(xx), np.mean(xr * xr), np.mean(xx * xx),
                                cfg.noise_factor, bs, row["momentum"], bool(row["nesterov"]))
        want = reference.trajectory_metrics(
            ds.x, ds.y, lr=row["lr"], theta0=row["theta0"], theta_ref=row["theta_ref"], epochs=epochs,
            n=n, order=sample_order(order, n, epochs, seed), tol=cfg.tol, diverge_factor=cfg.diverge_factor,
            sign_floor=cfg.sign_floor, oscillation_min=cfg.oscillation_min,
            floor2=float(floor2[0]), batch_size=bs, lr_multipliers=mult,
            momentum=row["momentum"], nesterov=bool(row["nesterov"]))
        for name, value in want.items():
            got = row[name]
            if isinstance(value, float):
                assert np.array_equal(np.float64(got), np.float64(value), equal_nan=True), (name, got, value)
            else:
                assert got == value, (name, got, value)
