"""lrsweep.replay: every step of a trajectory again, by the oracle, equal to what the kernel recorded."""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import run

import lrsweep
from lrsweep import _validation as V
from lrsweep.replay import replay_trajectory


def _assert_replay_equals_the_sweep(res) -> None:
    """Errors and losses equal the records bit for bit, the last coordinates the final weights."""
    weights = dict(list(res.weights.groupby("trajectory_id")))
    records = dict(list(res.records.groupby("trajectory_id")))
    for tid in range(res.config.n_trajectories):
        rp = replay_trajectory(res, tid)
        rec = records.get(tid)
        assert list(rp["step"]) == ([] if rec is None else list(rec["step"]))
        if rec is not None:
            assert np.array_equal(rp["error"].to_numpy(), rec["error"].to_numpy())
            assert np.array_equal(rp["loss"].to_numpy(), rec["loss"].to_numpy())
        coords = [c for c in rp.columns if c.startswith("w_")] + (["b"] if "b" in rp.columns else [])
        assert coords == list(weights[tid]["coordinate"].astype(str))
        if len(rp):  # a run that diverges at its first step has no accepted step
            assert np.array_equal(rp[coords].iloc[-1].to_numpy(), weights[tid]["value"].to_numpy())


@pytest.mark.parametrize("order", ["fixed", "shuffle", "online"])
def test_replay_equals_the_records_and_the_final_weights(order):
    cfg = lrsweep.SweepConfig(n_features=[1, 3], fit_intercept=[False, True], lr=[0.02, 1.5], seed=[1, 2],
                              n_samples=15, epochs=3, noise=0.3, order=order, momentum=[0.0, 0.5])
    res = run(cfg, record="all")
    assert (res.frame["status"] == "diverged").any()
    _assert_replay_equals_the_sweep(res)


def test_replay_with_batches_a_schedule_momentum_and_user_data():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((12, 2))
    y = x @ np.array([2.0, -1.0]) + 0.5 + 0.1 * rng.standard_normal(12)
    # all three optimizer features: the d-feature variant the property test of test_kernel_features compiles
    cfg = lrsweep.SweepConfig(data=(x, y), fit_intercept=[False, True], lr=[0.05, 0.3], batch_size=[1, 4],
                              schedule=["constant", "cosine"], momentum=[0.0, 0.5], epochs=4, order="shuffle",
                              seed=5)
    _assert_replay_equals_the_sweep(run(cfg, record="all"))


def test_replay_of_one_feature_is_the_seed_node_graph():
    """One feature without a bias: w_0 is reference.run_trajectory's theta (the seed's trajectory)."""
    from lrsweep.data import make_dataset
    from lrsweep.reference import run_trajectory

    res = run(lrsweep.SweepConfig(lr=0.01, data="lecture"))
    rp = replay_trajectory(res, 0)
    ds = make_dataset(0, 100, kind="lecture")
    th, loss = run_trajectory(ds.x, ds.y, lr=0.01, theta0=-1.0, epochs=5)
    assert np.array_equal(rp["w_0"].to_numpy(), th) and np.array_equal(rp["loss"].to_numpy(), loss)
    np.testing.assert_array_equal(rp["error"].to_numpy(), np.abs(th - ds.theta_ref))


def test_bad_arguments_are_named():
    res = run(lrsweep.SweepConfig(lr=[0.1, 0.2]))
    fn = replay_trajectory
    for name, constraint in fn.__lrsweep_constraints__.items():
        kw = {"results": res, "trajectory_id": 0, name: constraint.invalid_example()}
        expected = re.escape(f"The {name!r} parameter of replay_trajectory must be {constraint.description}.")
        with pytest.raises(V.ParameterError, match=expected):
            fn(**kw)
    with pytest.raises(lrsweep.ParameterError, match=r"must be a trajectory id in \[0, 1\]\. Got 2 instead"):
        replay_trajectory(res, 2)
