"""The d-feature kernel variant equals the node-graph oracle ``reference_features`` bit for bit.

Every metric and status, and the final weights (``Results.weights``), of every
trajectory of sweeps over d, the bias, the condition number, every optimizer
axis, every order, noise and outliers, shared and gathered blocks, thread
counts and chunk sizes; d = 1 without a bias keeps the one-feature bits.
"""

from __future__ import annotations

import os

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
    lr_last = row["lr"] if mult is None else row["lr"] * mult[-steps:].max()
    if ds.n_features == 1 and not ds.fit_intercept:  # the one-feature noise floor
        x = ds.x[:, 0]
        r = ds.y - ds.w_ref[0] * x
        moments, p = (np.mean(x * x), np.mean((x * r) ** 2), np.mean(x ** 4)), 1
    else:  # the isotropic closure on the rows z = x (, 1), as lrsweep.engine.chunkdata computes them
        z = np.column_stack([ds.x, np.ones(len(ds))]) if ds.fit_intercept else ds.x
        r = ds.y - z @ ds.theta_ref
        zz = np.einsum("ij,ij->i", z, z)
        moments, p = (np.mean(zz), np.mean(r * r * zz), np.mean(zz * zz)), z.shape[1]
    _, f2 = noise_floor(np.array([lr_last]), *moments, cfg.noise_factor, bs, row["momentum"],
                        bool(row["nesterov"]), p)
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
            assert np.isnan(row["theta_final"]) and np.isnan(row["theta_ref"])
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
if os.environ.get("LRSWEEP_TEST_ALL_VARIANTS") != "1":
    # Each d-feature variant is a cold compile of ~14 s on the 2-core CI machine: CI samples the
    # variant without optimizer features and the one with all three (every feature's code; a
    # single-feature variant is the same source with branches pruned), which keeps the suite
    # under 10 minutes. LRSWEEP_TEST_ALL_VARIANTS=1 samples all five.
    OPTIMIZERS = [OPTIMIZERS[0], OPTIMIZERS[-1]]


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


def test_gathered_fixed_order_beyond_the_tile():
    """Datasets too long for the gathered blocks' tile (m (p + 1) > 2 TILE_ROWS) gather every step instead."""
    from lrsweep.engine.layout import TILE_ROWS

    n = 2 * TILE_ROWS // 11 + 1  # d = 10 with a bias: p + 1 = 12 values a sample; d = 10 alone: 11
    cfg = lrsweep.SweepConfig(n_features=10, fit_intercept=[False, True], seed=range(3), n_samples=[20, n],
                              lr=0.02, epochs=1, noise=0.1)
    res = run(cfg)
    assert_equals_oracle(cfg, res)


def test_noise_floor_in_d_dimensions():
    """Noisy d-feature runs settle at their noise floor: the oracle's status with the closure's floor."""
    # (batches and momentum with the floor: the property test above, whose oracle takes every row's floor)
    cfg = lrsweep.SweepConfig(n_features=[1, 5], fit_intercept=[False, True], condition=[1.0, 10.0],
                              lr=[0.002, 0.02, 0.2], seed=range(2), n_samples=60, epochs=8, noise=0.5,
                              order=["fixed", "replacement"])
    res = run(cfg)
    assert_equals_oracle(cfg, res)
    f = res.frame
    many = (f["n_features"] > 1) | f["fit_intercept"]
    assert (f.loc[many, "status"] == "noise_floor").sum() >= 10
    inside = many & (f["lr"] < 0.1)  # below every mean-square threshold here: a finite floor
    assert np.isfinite(f.loc[inside, "noise_rms"]).all() and (f.loc[inside, "noise_rms"] > 0).all()


def test_one_feature_rows_keep_their_bits_in_a_d_feature_sweep():
    """The n_features=1, no-bias rows of a mixed sweep equal a one-feature sweep's rows, column by column."""
    common = dict(lr=[0.01, 0.3, 1.5], seed=range(4), n_samples=15, epochs=3, noise=[0.0, 0.5],
                  order=["fixed", "shuffle"], momentum=[0.0, 0.5])
    mixed = run(lrsweep.SweepConfig(n_features=[1, 6], fit_intercept=[False, True], **common)).frame
    plain = run(lrsweep.SweepConfig(**common)).frame
    part = mixed[(mixed["n_features"] == 1) & ~mixed["fit_intercept"]].reset_index(drop=True)
    assert len(part) == len(plain)
    for col in plain.columns:
        if col == "trajectory_id":
            continue
        a, b = part[col].to_numpy(), plain[col].to_numpy()
        if a.dtype == np.float64:
            assert np.array_equal(a.view(np.int64), b.view(np.int64)), col
        else:
            assert np.array_equal(a, b), col


def test_threads_chunks_and_axis_order_do_not_change_the_bits():
    cfg = lrsweep.SweepConfig(n_features=[3, 10], fit_intercept=[False, True], condition=[1.0, 100.0],
                              lr=[0.01, 0.05, 0.2], seed=range(5), n_samples=20, noise=0.2, order="shuffle")
    one = run(cfg, threads=1)
    assert run(cfg, threads=2, chunk_size=11) == one
    flipped = run(cfg.replace(n_features=[10, 3], seed=[4, 3, 2, 1, 0]), threads=2)
    a = one.frame.set_index(["n_features", "fit_intercept", "condition", "seed", "lr"]).sort_index()
    b = flipped.frame.set_index(["n_features", "fit_intercept", "condition", "seed", "lr"]).sort_index()
    cols = [c for c in a.columns if c != "trajectory_id"]
    assert a[cols].equals(b[cols])


def test_the_weights_frame_round_trips_through_parquet_checkpoints_and_merge(tmp_path):
    from lrsweep.checkpoint import load_results
    from lrsweep.checkpoint.directory import merge

    cfg = lrsweep.SweepConfig(n_features=[1, 4], fit_intercept=[False, True], lr=[0.02, 0.1], seed=range(3),
                              n_samples=10)
    res = run(cfg, chunk_size=5, out=tmp_path / "ckpt")
    w = res.weights
    assert list(w.columns) == ["trajectory_id", "coordinate", "value", "reference"]
    assert list(w["coordinate"].cat.categories) == ["w_0", "w_1", "w_2", "w_3", "b"]
    per = w.groupby("trajectory_id").size().to_numpy()
    np.testing.assert_array_equal(per, res.frame["n_features"] + res.frame["fit_intercept"])
    res.to_parquet(tmp_path / "r.parquet")
    back = lrsweep.load(tmp_path / "r.parquet")
    assert back == res and back.weights.equals(w)
    again = run(cfg, chunk_size=5, out=tmp_path / "ckpt")  # every chunk loaded, weights included
    assert again.meta["chunks_computed"] == 0 and again == res
    merge([tmp_path / "ckpt"], tmp_path / "merged")
    assert load_results(tmp_path / "merged") == res
    # An altered weights file fails verification: recomputed, never loaded.
    victim = sorted((tmp_path / "ckpt").glob("chunk-*.weights.parquet"))[1]
    victim.write_bytes(victim.read_bytes()[:-20])
    third = run(cfg, chunk_size=5, out=tmp_path / "ckpt")
    assert third.meta["chunks_rejected"] == 1 and third == res
    # ... and a results file whose weights file was swapped is refused by name.
    (tmp_path / "r.weights.parquet").write_bytes(b"not parquet")
    with pytest.raises(lrsweep.ParameterError, match="weights file"):
        lrsweep.load(tmp_path / "r.parquet")


def test_the_one_feature_weights_frame_is_theta_final():
    res = run(lrsweep.SweepConfig(lr=[0.01, 0.5], seed=range(2)))
    w = res.weights
    assert list(w["coordinate"].astype(str).unique()) == ["w_0"] and res.weight_arrays is None
    np.testing.assert_array_equal(w["value"], res.frame["theta_final"])
    np.testing.assert_array_equal(w["reference"], res.frame["theta_ref"])


def test_coefficients_set_the_true_weights():
    cfg = lrsweep.SweepConfig(n_features=[2, 3], coefficients=[1.0, -2.0, 0.5], lr=0.05, n_samples=50,
                              epochs=40)
    w = run(cfg).weights
    ref = w.groupby("trajectory_id")["reference"].apply(list).tolist()
    np.testing.assert_allclose(ref[0], [1.0, -2.0], atol=1e-12)
    np.testing.assert_allclose(ref[1], [1.0, -2.0, 0.5], atol=1e-12)
    np.testing.assert_allclose(w["value"], w["reference"], atol=1e-6)  # converged


@pytest.mark.parametrize("order", ["fixed", "shuffle", "replacement"])
def test_user_data_with_d_features_equals_the_oracle(order):
    """data=(x of shape (n, d), y): the kernel on the user's rows, with and without a bias, bit for bit."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((25, 3)) * [1.0, 0.5, 2.0]
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.7 + 0.2 * rng.standard_normal(25)
    cfg = lrsweep.SweepConfig(data=(x, y), lr=[0.01, 0.08, 0.6], fit_intercept=[False, True], seed=range(2),
                              epochs=3, order=order)
    assert cfg.axes["n_features"] == (3,) and cfg.axes["n_samples"] == (25,)
    res = run(cfg, record="lr == 0.08")
    assert_equals_oracle(cfg, res)
    ref = res.weights.groupby("trajectory_id")["reference"].apply(np.array)
    a = np.column_stack([x, np.ones(25)])
    np.testing.assert_allclose(ref.iloc[-1], np.linalg.lstsq(a, y, rcond=None)[0], rtol=1e-12)  # with a bias
    assert lrsweep.SweepConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.replace(lr=0.02).axes["n_features"] == (3,)
    assert not res.records.empty and res.records["theta"].isna().all()


def test_user_data_of_one_column_is_the_one_feature_model():
    x, y = np.linspace(-1, 1, 9), 5 * np.linspace(-1, 1, 9) ** 3
    a = lrsweep.SweepConfig(data=(x[:, None], y), lr=[0.1, 0.3])
    b = lrsweep.SweepConfig(data=(x, y), lr=[0.1, 0.3])
    assert a == b and a.grid_hash() == b.grid_hash() and not a.has_features
    assert run(a) == run(b)


@pytest.mark.parametrize(("kw", "match"), [
    (dict(n_features=65), r"'n_features' parameter of SweepConfig must be an int in the range \[1, 64\]"),
    (dict(n_features=0), "'n_features'"),
    (dict(condition=0.5), r"'condition' parameter of SweepConfig must be a float in the range \[1, "),
    (dict(fit_intercept="yes"), "'fit_intercept' parameter of SweepConfig must be True or False"),
    (dict(n_features=3, coefficients=[1.0, 2.0]), r"'coefficients'.*one coefficient per feature \(3\)"),
    (dict(coefficients=[[1.0]]), "'coefficients'"),
    (dict(coefficients=[2e30]), "'coefficients'"),
    (dict(n_features=2, condition=1e16, x_scale=1e23), "x_scale \\* sqrt\\(condition\\)"),
    (dict(data=([1.0, 2.0], [2.0, 4.0]), n_features=2), "'n_features'.*left at its default"),
    (dict(data=([1.0, 2.0], [2.0, 4.0]), condition=10.0), "'condition'.*left at its default"),
    (dict(data=(np.ones((3, 65)), np.ones(3))), r"'data'.*d <= 64.*Got x of shape \(3, 65\)"),
    (dict(data=(np.ones((3, 2)), np.ones(4))), r"'data'.*as many samples as y.*shapes \(3, 2\) and \(4,\)"),
    (dict(data=(np.ones((3, 2, 1)), np.ones(3))), r"'data'.*Got an array of shape \(3, 2, 1\)"),
])
def test_feature_axes_are_validated(kw, match):
    with pytest.raises(lrsweep.ParameterError, match=match):
        lrsweep.SweepConfig(**kw)


@pytest.mark.parametrize("order", ["fixed", "shuffle"])
@pytest.mark.parametrize("gathered", [False, True])
def test_records_of_d_feature_trajectories_equal_the_oracle(order, gathered):
    """Recorded error norms and losses of every step, bit for bit; theta NaN beyond one coordinate."""
    from lrsweep.reference_features import error_norm, run_trajectory_features

    seeds = range(4) if gathered else 0
    lrs = 0.07 if gathered else [0.01, 0.07, 1.5]  # 1.5 diverges (records stop there)
    cfg = lrsweep.SweepConfig(n_features=[1, 3], fit_intercept=[False, True], lr=lrs, seed=seeds,
                              n_samples=12, epochs=3, noise=0.2, order=order)
    res = run(cfg, record="all", record_every=2)
    assert list(res.records.columns) == ["trajectory_id", "step", "theta", "error", "loss"]
    by_id = dict(list(res.records.groupby("trajectory_id")))
    for _, row in res.frame.iterrows():
        ds = features_dataset_for(cfg, tuple(row[a] for a in DATA_AXES), order)
        n = int(row["n_samples"])
        seq = sample_order(order, n, cfg.epochs, int(row["seed"]))
        w, b, loss = run_trajectory_features(ds.x, ds.y, lr=row["lr"], theta0=row["theta0"],
                                             fit_intercept=ds.fit_intercept, epochs=cfg.epochs, order=seq)
        theta = np.column_stack([w, b]) if ds.fit_intercept else w
        last = int(row["diverged_step"]) - 1 if row["diverged_step"] >= 0 else len(loss)
        steps = np.arange(2, last + 1, 2)
        got = by_id[row["trajectory_id"]]
        assert list(got["step"]) == list(steps)
        err = np.array([error_norm(theta[k - 1] - ds.theta_ref) for k in steps])
        assert np.array_equal(_bits(got["error"]), _bits(err)), row["trajectory_id"]
        assert np.array_equal(_bits(got["loss"]), _bits(loss[steps - 1]))
        if theta.shape[1] == 1:
            assert np.array_equal(_bits(got["theta"]), _bits(theta[steps - 1, 0]))
        else:
            assert got["theta"].isna().all()
    assert (res.frame["status"] == "diverged").any() or gathered


def test_set_parses_the_feature_axes():
    from lrsweep.cli import parse_set

    got = parse_set(["n_features=1,10", "fit_intercept=true,false", "condition=1,100"])
    assert got == {"n_features": [1, 10], "fit_intercept": [True, False], "condition": [1.0, 100.0]}
    lrsweep.SweepConfig(**got)


def test_default_configs_keep_their_grid_hash_and_json():
    cfg = lrsweep.SweepConfig(lr=[0.01, 0.04], seed=range(3))
    assert not any(k in cfg.to_dict() for k in ("n_features", "condition", "fit_intercept", "coefficients"))
    feat = lrsweep.SweepConfig(n_features=[1, 3], coefficients=[1.0, 2.0, 3.0])
    assert lrsweep.SweepConfig.from_dict(feat.to_dict()) == feat
    assert feat.grid_hash() != lrsweep.SweepConfig().grid_hash()


# ------------------------------------------------------------------ theory against simulation
@pytest.mark.parametrize("bias", [False, True])
def test_fixed_order_growth_is_the_epoch_products_spectral_radius(bias):
    """log ||e|| per epoch of noise-free fixed-order runs against theory.feature_epoch_growth (log rho(M))."""
    from lrsweep.theory import feature_epoch_growth

    lrs = np.geomspace(0.005, 0.3, 40)
    epochs = 40
    # coef 0: theta_ref = 0, so ||e|| = ||theta|| shrinks or grows without a rounding floor.
    cfg = lrsweep.SweepConfig(n_features=5, fit_intercept=bias, condition=10.0, n_samples=30, seed=3, lr=lrs,
                              coef=0.0, theta0=1.0, sign_floor=0.0, diverge_factor=1e300, epochs=epochs)
    f = run(cfg).frame
    ds = features_dataset_for(cfg, tuple(f.iloc[0][a] for a in DATA_AXES), "fixed")
    theory = feature_epoch_growth(ds.x, lrs, fit_intercept=bias)
    keep = (np.abs(theory * epochs) < 600) & (f["status"] != "diverged").to_numpy()
    assert keep.sum() >= 25
    # The average rate over the run tends to log rho (an O(1/epochs) offset from the start) ...
    avg = (np.log(f["abs_error_final"]) - np.log(np.sqrt(5.0))).to_numpy() / epochs
    np.testing.assert_allclose(avg[keep], theory[keep], atol=0.1)
    # ... and the last epoch's growth_rate equals it where the dominant eigenvalue is real and
    # separated (near a complex dominant pair the last epoch oscillates around it).
    close = np.abs(f["growth_rate"].to_numpy()[keep] - theory[keep]) < 1e-3
    assert close.mean() > 0.8


def test_online_instability_switches_at_the_isotropic_threshold():
    """d = 10, fresh samples: almost no run grows below isotropic_as_threshold, almost all above."""
    from lrsweep.theory import isotropic_as_threshold

    thr = isotropic_as_threshold(10)
    cfg = lrsweep.SweepConfig(n_features=10, order="online", n_samples=100, epochs=20, seed=range(300),
                              lr=[0.7 * thr, 1.4 * thr], coef=0.0, theta0=1.0, sign_floor=0.0,
                              diverge_factor=1e300)
    f = run(cfg).frame
    up = ((f["status"] == "diverged") | (f["growth_rate"] > 0)).groupby(f["lr"]).mean().to_numpy()
    assert up[0] < 0.05 and up[1] > 0.95


def test_long_runs_equal_the_oracle():
    """Hundreds of steps per lane, so that most steps take the kernel's square-root-free path
    (no lane able to set a maximum or the floor exit): the metrics still equal the oracle's."""
    cfg = lrsweep.SweepConfig(n_features=5, fit_intercept=[False, True], n_samples=40, epochs=6,
                              lr=np.geomspace(1e-3, 0.3, 16), noise=[0.0, 0.5], order=["fixed", "shuffle"],
                              sign_floor=1e-6)
    assert_equals_oracle(cfg, run(cfg))
