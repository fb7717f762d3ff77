"""The d-feature kernel variant equals the node-graph oracle ``reference_features`` bit for bit.

Every metric and status, and the final weights (``Results.weights``), of every
trajectory of sweeps over d, the bias, the condition number, every optimizer
axis, every order, noise and outliers, shared and gathered blocks, thread
counts and chunk sizes; d = 1 without a bias keeps the one-feature bits.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lrsweep
from lrsweep.config import DATA_AXES
from lrsweep.data import features_dataset_for, sample_order
from lrsweep.engine.chunk import noise_floor
from lrsweep.reference_features import trajectory_metrics_features
from lrsweep.schedules import multipliers


def _bits(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64).view(np.int64)


def _oracle(cfg: lrsweep.SweepConfig, row) -> tuple[dict, np.ndarray]:
    """The oracle's metrics of one results row, and its reference vector."""
    order = str(row["order"])
    n, epochs = int(row["n_samples"]), cfg.epochs
    ds = features_dataset_for(cfg, tuple(row[a] for a in DATA_AXES), order)
    seq = np.arange(len(ds)) if order == "online" else sample_order(order, n, epochs, int(row["seed"]))
    bs = int(row["batch_size"])
    steps = -(-n // bs)
    spec = str(row["schedule"])
    mult = None if spec == "constant" else multipliers(spec, epochs * steps, steps, cfg.lr_multipliers)
    floor2 = -1.0
    if ds.n_features == 1 and not ds.fit_intercept:  # the one-feature noise floor
        x = ds.x[:, 0]
        r = ds.y - ds.w_ref[0] * x
        lr_last = row["lr"] if mult is None else row["lr"] * mult[-steps:].max()
        _, f2 = noise_floor(np.array([lr_last]), np.mean(x * x), np.mean((x * r) ** 2), np.mean(x ** 4),
                            cfg.noise_factor, bs, row["momentum"], bool(row["nesterov"]))
        floor2 = float(f2[0])
    want = trajectory_metrics_features(
        ds.x, ds.y, lr=row["lr"], theta0=row["theta0"], w_ref=ds.w_ref, b_ref=ds.b_ref,
        fit_intercept=ds.fit_intercept, epochs=epochs, n=n, order=seq, tol=cfg.tol,
        diverge_factor=cfg.diverge_factor, sign_floor=cfg.sign_floor, oscillation_min=cfg.oscillation_min,
        floor2=floor2, batch_size=bs, lr_multipliers=mult, momentum=row["momentum"],
        nesterov=bool(row["nesterov"]))
    return want, ds.theta_ref


def assert_equals_oracle(cfg: lrsweep.SweepConfig, res) -> None:
    """Every metric of every row and every final coordinate equal the oracle's, bit for bit."""
    w = res.weights
    by_id = dict(list(w.groupby("trajectory_id", sort=False)))
    for _, row in res.frame.iterrows():
        want, ref = _oracle(cfg, row)
        got_w = by_id[row["trajectory_id"]]
        theta = np.append(want.pop("w_final"), want.pop("b_final")) if row["fit_intercept"] else want.pop(
            "w_final")
        want.pop("b_final", None)
        assert np.array_equal(_bits(got_w["value"]), _bits(theta)), (row["trajectory_id"], got_w, theta)
        assert np.array_equal(_bits(got_w["reference"]), _bits(ref))
        names = [f"w_{c}" for c in range(int(row["n_features"]))] + (["b"] if row["fit_intercept"] else [])
        assert list(got_w["coordinate"].astype(str)) == names
        if len(theta) == 1:
            assert _bits(row["theta_final"]) == _bits(theta[0])
        else:
            assert np.isnan(row["theta_final"]) and np.isnan(row["theta_ref"]) and np.isnan(row["noise_rms"])
        for name, value in want.items():
            got = row[name]
            if isinstance(value, float):
                assert np.array_equal(np.float64(got), np.float64(value), equal_nan=True), (
                    row["trajectory_id"], name, got, value)
            else:
                assert got == value, (row["trajectory_id"], name, got, value)


OPTIMIZERS = [
    dict(), dict(batch_size=[1, 3]), dict(schedule=["constant", "cosine:0.1"]),
    dict(momentum=[0.0, 0.9], nesterov=[False, True]),
    dict(schedule="warmup:3+step:0.5:1", batch_size=[2, 4], momentum=[0.0, 0.5], nesterov=True),
]


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(
    d=st.one_of(st.integers(1, 8), st.sampled_from([16, 33, 64])),
    bias=st.sampled_from([False, True, [False, True]]),
    condition=st.sampled_from([1.0, 100.0]),
    n=st.integers(1, 12),
    epochs=st.integers(1, 3),
    lrs=st.lists(st.floats(0, 1.5, allow_nan=False), min_size=1, max_size=4, unique=True),
    theta0=st.sampled_from([-1.0, [0.0, 3.0]]),
    seeds=st.sampled_from([3, [0, 1, 2]]),
    noise=st.sampled_from([0.0, 0.5]),
    order=st.sampled_from(["fixed", "shuffle", "replacement", "online"]),
    outlier=st.sampled_from([(0.0, "leverage"), (0.2, "leverage"), (0.2, "response")]),
    optimizer=st.sampled_from(OPTIMIZERS),
    settings_=st.sampled_from([dict(), dict(tol=0.3, sign_floor=0.0), dict(diverge_factor=10.0)]),
)
def test_kernel_equals_reference_features(d, bias, condition, n, epochs, lrs, theta0, seeds, noise, order,
                                          outlier, optimizer, settings_):
    cfg = lrsweep.SweepConfig(n_features=d, fit_intercept=bias, condition=condition, n_samples=n,
                              epochs=epochs, lr=lrs, theta0=theta0, seed=seeds, noise=noise, order=order,
                              outlier_frac=outlier[0], outlier_kind=outlier[1], **optimizer, **settings_)
    assert_equals_oracle(cfg, run(cfg))


@pytest.mark.parametrize("order", ["fixed", "shuffle", "online"])
@pytest.mark.parametrize("chunk_size", [None, 7])
def test_gathered_blocks_and_chunking(order, chunk_size):
    """One lane per seed (gathered blocks), d mixed with one feature, split into odd chunks."""
    cfg = lrsweep.SweepConfig(n_features=[1, 4], fit_intercept=[False, True], seed=range(6), n_samples=9,
                              lr=0.05, epochs=2, noise=0.3, order=order)
    res = run(cfg, chunk_size=chunk_size)
    assert_equals_oracle(cfg, res)
