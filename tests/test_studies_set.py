"""``--quick --set AXIS=VALUE`` for every named study and every axis.

Each study either runs with its theory evaluated at the values that ran
(checked here against the theory functions, study by study) or refuses the
axis with one line naming it (exit 2) before anything runs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from lrsweep import study, theory
from lrsweep.cli import parse_set
from lrsweep.config import AXES
from lrsweep.data import make_dataset
from lrsweep.studies import SINGLE, STUDIES, Options, Runtime, StudyError, run_study
from lrsweep.studies.common import replay

#: A value other than every study's default, for each axis.
VALUES = {"lr": "0.3", "seed": "3:15", "n_samples": "50", "x_scale": "2.0", "noise": "0.5",
          "outlier_kind": "response", "outlier_frac": "0.05", "outlier_scale": "3.0", "order": "shuffle",
          "theta0": "2.0", "schedule": "cosine", "batch_size": "4", "nesterov": "true", "momentum": "0.5",
          "n_features": "3", "condition": "10.0", "fit_intercept": "true"}
#: Few seeds: these runs check where the theory is evaluated, not its agreement with simulation.
FEW = "seed=0:12"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def test_every_axis_has_a_test_value():
    assert set(VALUES) == set(AXES)


def _value(st, axis: str) -> str:
    """The test value of ``axis``; one seed for a study that takes one value of it."""
    rule = st.axes.get(axis)
    return "3" if axis == "seed" and rule is not None and not rule.multi else VALUES[axis]


def _accepts(st, axis: str) -> bool:
    try:
        st.check(Options(quick=True, sets=parse_set([f"{axis}={_value(st, axis)}"])))
    except StudyError:
        return False
    return True


CASES = [(name, axis) for name in STUDIES for axis in AXES]


@pytest.mark.parametrize(("name", "axis"), CASES)
def test_set_runs_with_theory_at_the_set_value_or_names_the_axis(name, axis, tmp_path, capsys):
    st = STUDIES[name]
    few = axis != "seed" and st.axes.get("seed", SINGLE).multi  # fewer seeds, where there are many
    sets = [f"{axis}={_value(st, axis)}"] + ([FEW] if few else [])
    if not _accepts(st, axis):
        code = study.main([name, "--quick", *[a for s in sets for a in ("--set", s)], "--out", str(tmp_path),
                           "--no-progress"])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
        assert f"the axis {axis!r}" in err or f"{axis}=" in err, err
        assert not any(tmp_path.iterdir())  # refused before anything ran or was written
        return
    options = Options(quick=True, sets=parse_set(sets))
    run = run_study(st, options, Runtime(progress=False))
    value = options.sets[axis]
    for res in run.results.values():  # every declared sweep ran with the set value
        if res.config.user_data is None or axis not in ("n_samples", "x_scale", "noise"):
            expected = tuple(value) if isinstance(value, list) else (value,)
            got = res.config.axes[axis]
            if axis == "seed" and len(got) == 1:  # a one-dataset sweep (lr-tuning's demo): the first
                assert got[0] == expected[0], (name, axis)
            else:
                assert got == expected, (name, axis)
    CHECKS[name](run, options)


# ------------------------------------------------------------------ theory, study by study
def _datasets_x(cfg, seeds, n):
    """x of the datasets of ``cfg`` for ``seeds`` at size ``n`` (the other data axes at their one value)."""
    one = {a: cfg.axes[a][0] for a in ("x_scale", "noise", "outlier_frac", "outlier_scale", "outlier_kind")}
    return np.stack([make_dataset(int(s), int(n), coef=cfg.coef, intercept=cfg.intercept, kind=cfg.data,
                                  **one).x for s in seeds])


def _exact_verdict(cfg, n, lrs):
    """Fraction of the datasets of ``cfg`` with S(lr) > 0, per lr (NaN where S is not the verdict)."""
    if cfg.axes["order"][0] not in ("fixed", "shuffle"):
        return np.full(len(lrs), np.nan)
    S = theory.epoch_log_multiplier(_datasets_x(cfg, cfg.axes["seed"], n), np.asarray(lrs))
    return (np.asarray(S) > 0).mean(axis=0)


def _population_steps(cfg, lrs):
    (x_scale,) = cfg.axes["x_scale"]
    L = np.asarray(theory.population_log_multiplier(np.asarray(lrs), x_scale))
    return np.where(L < 0, np.log(cfg.tol) / np.where(L < 0, L, -1.0), np.nan)


def _check_seed(run, options):
    res = run.results["seed"]
    cfg = res.config
    row = res.frame.iloc[0]
    order = str(row["order"])
    ds, th, _ = replay(cfg, row)
    s = run.output.summary.iloc[0]
    assert bool(s["identical_to_node_graph"])
    expected = th[199] if len(th) >= 200 and row["diverged_step"] < 0 else float("nan")
    assert s["theta_at_200"] == pytest.approx(expected, nan_ok=True, rel=0, abs=0)
    # The exact theory of the dataset that ran: S per epoch (a stream average for online order).
    S = float(theory.epoch_log_multiplier(ds.x, row["lr"])) / (cfg.epochs if order == "online" else 1)
    assert s["S"] == pytest.approx(S, rel=1e-12, abs=1e-12)
    noise_free = row["noise"] == 0 and not (row["outlier_frac"] > 0 and row["outlier_kind"] == "response")
    if noise_free and order == "fixed":
        k = int(theory.predicted_steps_to_tol(ds.x, row["lr"], cfg.tol, cfg.epochs))
        n = int(row["n_samples"])
        assert s["exact_converged_step"] == (k if 0 <= k <= cfg.epochs * n - n + 1 else -1)
    else:
        assert math.isnan(s["exact_converged_step"])
    if noise_free and order in ("fixed", "shuffle") and s["epochs_measured"] > 0:
        assert s["log_change_per_epoch_mean"] == pytest.approx(S, rel=1e-6, abs=1e-9)


def _check_lr_tuning(run, options):
    grid, demo = run.results["grid"].config, run.results["demo"].config
    summary = run.output.summary
    np.testing.assert_array_equal(summary["lr"], grid.axes["lr"])
    report = run.output.report
    assert f"{demo.axes['n_samples'][0]} samples" in report and f"seed {demo.axes['seed'][0]}" in report
    (n,) = grid.axes["n_samples"]
    assert f"datasets of n = {n}" in report
    assert (summary["budget"] == grid.epochs * n).all()
    population = grid.axes["noise"] == (0.0,) and grid.axes["outlier_frac"] == (0.0,)
    expected = _population_steps(grid, summary["lr"]) if population else np.full(len(summary), np.nan)
    np.testing.assert_allclose(summary["theory_steps"], expected, rtol=1e-12)
    np.testing.assert_allclose(summary["exact_unstable_rate"], _exact_verdict(grid, n, summary["lr"]), rtol=0)
    # The seed's own data: S and the critical lr of the dataset that ran.
    runs = run.output.tables["seed_data_runs"]
    x = _datasets_x(demo, demo.axes["seed"], demo.axes["n_samples"][0])[0]
    if demo.axes["order"][0] != "online":
        np.testing.assert_allclose(runs["S"], theory.epoch_log_multiplier(x, runs["lr"].to_numpy()),
                                   rtol=1e-12)
    assert f"the first critical lr is {float(theory.critical_lr(x)):.5g}" in report


def _check_convergence(run, options):
    cfg = run.results["runs"].config
    s = run.output.summary
    (x_scale,) = cfg.axes["x_scale"]
    np.testing.assert_allclose(s["theory_steps"], _population_steps(cfg, s["lr"]), rtol=1e-12)
    assert f"X ~ N(0, {x_scale:g}^2)" in run.output.report
    L = np.asarray(theory.population_log_multiplier(s["lr"].to_numpy(), x_scale))
    V = np.asarray(theory.population_log_multiplier_variance(s["lr"].to_numpy(), x_scale))
    spread = np.sqrt(_population_steps(cfg, s["lr"]) * V) / abs(np.log(cfg.tol))
    np.testing.assert_allclose(s["spread_ratio"], np.where(L < 0, spread, np.nan), rtol=1e-9)
    for n in cfg.axes["n_samples"]:
        g = s[s["n_samples"] == n]
        np.testing.assert_allclose(g["exact_unstable_rate"], _exact_verdict(cfg, n, g["lr"]), rtol=0)
        assert (g["budget"] == cfg.epochs * n).all()


def _check_oscillation(run, options):
    from scipy.special import erfc

    cfg = run.results["runs"].config
    s = run.output.summary
    (n,), (x_scale,) = cfg.axes["n_samples"], cfg.axes["x_scale"]
    np.testing.assert_allclose(s["predicted"], n * erfc(1 / (2 * np.sqrt(s["lr"]) * x_scale)), rtol=1e-12)
    assert f"n = {n}" in run.output.report


def _exact_rate(cfg, lr, **key):
    """Fraction of the config's datasets (one per seed, the other data axes as in ``key``) with S(lr) > 0."""
    (x_scale,), (noise,) = cfg.axes["x_scale"], cfg.axes["noise"]
    xs = np.stack([make_dataset(seed, x_scale=x_scale, noise=noise, coef=cfg.coef, **key).x
                   for seed in cfg.axes["seed"]])
    return (np.asarray(theory.epoch_log_multiplier(xs, lr)) > 0).mean(axis=0)


def _check_outliers(run, options):
    cfg = run.results["runs"].config
    s = run.output.summary
    (lr,), (n,) = cfg.axes["lr"], cfg.axes["n_samples"]
    for _, row in s.iterrows():
        key = {"n_samples": n, "outlier_frac": row.outlier_frac, "outlier_scale": row.outlier_scale,
               "outlier_kind": row.outlier_kind}
        assert row.exact_rate == float(_exact_rate(cfg, lr, **key))
    assert f"lr = {lr:g} with n = {n}" in run.output.report
    assert "{" not in run.output.report + run.output.answer  # no format string left unformatted
    # The lr sweep: its exact rates at the lr that ran and on the dense grid of its figure.
    sweep_cfg = run.results["lr_sweep"].config
    (n,) = sweep_cfg.axes["n_samples"]
    for name in ("lr_sweep", "lr_sweep_exact"):
        table = run.output.tables[name]
        for (kind, frac, scale), g in table.groupby(["outlier_kind", "outlier_frac", "outlier_scale"]):
            rates = _exact_rate(sweep_cfg, g["lr"].to_numpy(), n_samples=n, outlier_kind=kind,
                                outlier_frac=frac, outlier_scale=scale)
            np.testing.assert_array_equal(g["exact_rate"], rates)
        if name == "lr_sweep":
            assert sorted(table["lr"].unique()) == sorted(sweep_cfg.axes["lr"])


def _check_divergence(run, options):
    cfg = run.results["runs"].config
    s = run.output.summary
    (x_scale,) = cfg.axes["x_scale"]
    for n in cfg.axes["n_samples"]:
        g = s[s["n_samples"] == n].sort_values("lr")
        p = theory.divergence_probability(n, g["lr"].to_numpy(), x_scale=x_scale, method="montecarlo",
                                          n_datasets=1000, rng=12345 + n)
        np.testing.assert_array_equal(g["theory_probability"], p.probability)
        np.testing.assert_array_equal(g["exact_rate"], _exact_rate(cfg, g["lr"].to_numpy(), n_samples=n))
    thresholds = f"mean-square lr = {float(theory.ms_threshold(x_scale)):.4g}"
    assert thresholds in run.output.report
    assert "{" not in run.output.report + run.output.answer


def _check_dataset_size(run, options):
    cfg = run.results["runs"].config
    crit = run.output.tables["critical_lr"]
    s = run.output.summary
    (x_scale,) = cfg.axes["x_scale"]
    for _, row in crit.iterrows():
        n = int(row.n_samples)
        X = np.stack([make_dataset(seed, n, x_scale=x_scale, coef=cfg.coef).x for seed in cfg.axes["seed"]])
        assert row["critical_lr_median"] == np.median(theory.critical_lr(X))
        mc = x_scale * np.random.default_rng([12345, n]).standard_normal((int(row.theory_datasets), n))
        assert row["theory_critical_lr_median"] == np.median(theory.critical_lr(mc))
        g = s[s["n_samples"] == n].sort_values("lr")
        p = theory.divergence_probability(n, g["lr"].to_numpy(), x_scale=x_scale, method="montecarlo",
                                          n_datasets=int(g["theory_datasets"].iloc[0]), rng=12345 + n)
        np.testing.assert_array_equal(g["theory_probability"], p.probability)
        np.testing.assert_array_equal(g["exact_rate"], _exact_rate(cfg, g["lr"].to_numpy(), n_samples=n))
    assert "{" not in run.output.report + run.output.answer


def _check_heavy_tails(run, options):
    cfg = run.results["online"].config
    table = run.output.tables["tail_index"]
    (x_scale,), (n,), (noise,) = cfg.axes["x_scale"], cfg.axes["n_samples"], cfg.axes["noise"]
    x = make_dataset(options.seed + 1, n, noise=noise, x_scale=x_scale, coef=cfg.coef).x
    np.testing.assert_array_equal(run.results["one_dataset"].config.user_data[0], x)
    y = run.results["one_dataset"].config.user_data[1]
    (theta0,) = cfg.axes["theta0"]
    for r in table.itertuples():
        if r.order == "online":
            np.testing.assert_array_equal(r.theory_alpha, theory.tail_index(r.lr, x_scale))
        elif r.order == "replacement":
            np.testing.assert_array_equal(r.theory_alpha, theory.tail_index_dataset(x, r.lr))
        else:
            assert math.isnan(r.theory_alpha)
            bound = theory.shuffle_error_bound(x, y, r.lr, e0=theta0 - x @ y / (x @ x), epochs=cfg.epochs)
            assert r.bound == pytest.approx(bound, rel=1e-12)
    assert set(table["lr"]) == set(cfg.axes["lr"])


def _check_noise_floor(run, options):
    cfg = run.results["online"].config
    s = run.output.summary
    (x_scale,), (n,), (noise,) = cfg.axes["x_scale"], cfg.axes["n_samples"], cfg.axes["noise"]
    ds = make_dataset(options.seed + 1, n, noise=noise, x_scale=x_scale, coef=cfg.coef)
    np.testing.assert_array_equal(run.results["replacement"].config.user_data[0], ds.x)
    on, rep = s[s["order"] == "online"], s[s["order"] == "replacement"]
    np.testing.assert_array_equal(on["theory_variance"],
                                  theory.population_stationary_mse(on["lr"].to_numpy(), noise, x_scale))
    np.testing.assert_array_equal(on["theory_alpha"], theory.tail_index(on["lr"].to_numpy(), x_scale))
    np.testing.assert_array_equal(rep["theory_variance"],
                                  theory.dataset_stationary_mse(ds.x, ds.y, rep["lr"].to_numpy()))
    np.testing.assert_array_equal(rep["theory_alpha"], theory.tail_index_dataset(ds.x, rep["lr"].to_numpy()))
    assert set(on["lr"]) == set(rep["lr"]) == set(cfg.axes["lr"])
    assert f"1/(3 s^2) = {float(theory.ms_threshold(x_scale)):.4g}" in run.output.report
    assert f"x ~ N(0, {x_scale:g}^2), noise sd {noise:g}" in run.output.report


def _check_schedules(run, options):
    from lrsweep.schedules import multipliers

    exact = [r for name, r in run.results.items() if name.startswith("exact_")]
    noisy = [r for name, r in run.results.items() if name.startswith("noisy_")]
    cfg, ncfg = exact[0].config, noisy[0].config
    (n,), (x_scale,), (noise,), (theta0,) = (ncfg.axes[a]
                                             for a in ("n_samples", "x_scale", "noise", "theta0"))
    assert all(r.config.axes["noise"] == (0.0,) and r.config.axes["order"] == ("fixed",) for r in exact)
    # The noisy theory at the values that ran: the floor, and the recursion against a plain loop.
    table = run.output.tables["noisy"]
    floor = theory.population_stationary_mse(table["lr"].to_numpy(), noise, x_scale)
    np.testing.assert_allclose(table["floor_base"], floor, rtol=1e-12)
    for r in table.itertuples():
        m = multipliers(r.schedule, int(r.budget) * n, n)
        e2 = (theta0 - ncfg.coef) ** 2
        seq = []
        for lr in r.lr * m:
            e2 = (1 - 4 * lr * x_scale**2 + 12 * lr**2 * x_scale**4) * e2 + 4 * lr**2 * x_scale**2 * noise**2
            seq.append(e2)
        assert r.e2_exact == pytest.approx(np.mean(seq[-n:]), rel=1e-9)
    assert set(table["lr"]) == set(ncfg.axes["lr"])
    # The exact per-run growth: a few runs of each sweep against schedule_log_growth and the oracle.
    for res in exact:
        f = res.frame
        (nx,) = res.config.axes["n_samples"]
        for i in f.index[:: max(1, len(f) // 5)]:
            row = f.loc[i]
            x = _datasets_x(res.config, [row["seed"]], nx)[0]
            m = multipliers(str(row["schedule"]), res.config.epochs * nx, nx)
            g = float(theory.schedule_log_growth(x, float(row["lr"]), m))
            e0 = abs(float(row["theta0"]) - row["theta_ref"])
            if row["status"] != "diverged" and -20 < g < 600:
                assert np.log(row["abs_error_final"] / e0) == pytest.approx(g, abs=1e-4)
                _, th, _ = replay(res.config, row)
                assert th[-1] == row["theta_final"]
    report = run.output.report
    assert f"x ~ N(0, {x_scale:g}^2), y = {ncfg.coef:g} x + noise (sd {noise:g})" in report
    assert f"n = {cfg.axes['n_samples'][0]}" in report
def _check_momentum(run, options):
    on, fx = run.results["online"].config, run.results["fixed"].config
    (x_scale,), (b,), (n,) = on.axes["x_scale"], on.axes["batch_size"], fx.axes["n_samples"]
    s = run.output.summary
    assert set(s["lr"]) == set(on.axes["lr"]) and set(s["momentum"]) == set(on.axes["momentum"])
    assert set(s["nesterov"]) == set(on.axes["nesterov"])
    for nest in set(on.axes["nesterov"]):
        part = s[s["nesterov"] == nest]
        beta, lr = part["momentum"].to_numpy(), part["lr"].to_numpy()
        np.testing.assert_array_equal(part["ms_threshold"],
                                      theory.momentum_ms_threshold(beta, b, bool(nest), x_scale))
        np.testing.assert_array_equal(part["ms_log_radius"],
                                      np.log(theory.momentum_ms_radius(lr, beta, b, bool(nest), x_scale)))
    crit = run.output.tables["critical_lr"]
    for r in crit.itertuples():
        assert r.ms_threshold == float(theory.momentum_ms_threshold(r.momentum, b, bool(r.nesterov), x_scale))
        if np.isfinite(r.as_theory):  # the Monte Carlo zero lies above the exact mean-square threshold
            assert r.as_theory > r.ms_threshold
    # The exact per-dataset verdict, recomputed from the datasets that ran (n, batch size, x_scale, seeds).
    seeds = sorted(fx.axes["seed"])
    x = _datasets_x(fx, seeds, n)
    fixed = run.output.tables["fixed_order"]
    for r in fixed.itertuples():
        g = theory.momentum_epoch_growth(x, np.asarray(fx.axes["lr"]), r.momentum, b, bool(r.nesterov))
        assert r.n_exact_unstable == int((np.asarray(g) > 0).sum())
    assert f"x ~ N(0, {x_scale:g}^2), batch size {b}" in run.output.report
def _check_lr_finder(run, options):
    from lrsweep import finder
    from lrsweep.studies.lr_finder import RANGES

    s = run.output.summary
    refs = run.output.tables["references"]
    for name, res in run.results.items():
        cfg = res.config
        tool = name.split(" ")[0]
        (n,), (b,), (lr0,) = cfg.axes["n_samples"], cfg.axes["batch_size"], cfg.axes["lr"]
        t = int(np.count_nonzero(cfg.lr_multipliers))
        assert lr0 == RANGES[tool][0]
        np.testing.assert_allclose(lr0 * cfg.lr_multipliers[:t], finder.ramp(tool, *RANGES[tool], t),
                                   rtol=1e-15)
        seeds = sorted(cfg.axes["seed"])
        x = _datasets_x(cfg, seeds, n)
        r = refs[(refs["n_samples"] == n) & (refs["batch_size"] == b) & (refs["T"] == t)].sort_values("seed")
        np.testing.assert_array_equal(r["seed"], seeds)
        np.testing.assert_array_equal(r["lr_critical"], theory.batch_critical_lr(x, b))
        np.testing.assert_array_equal(r["lr_best"], theory.best_constant_lr(x, t, b).lr)
        cell = s[(s["tool"] == tool) & (s["n_samples"] == n) & (s["batch_size"] == b) & (s["T"] == t)]
        assert len(cell) and set(cell["order"]) == set(cfg.axes["order"])
        np.testing.assert_allclose(cell["lr_critical_median"], np.median(theory.batch_critical_lr(x, b)),
                                   rtol=1e-15)
        np.testing.assert_allclose(cell["lr_best_median"], np.median(theory.best_constant_lr(x, t, b).lr),
                                   rtol=1e-15)
    (x_scale,), (theta0,) = cfg.axes["x_scale"], cfg.axes["theta0"]
    assert f"x ~ N(0, {x_scale:g}^2), theta0 = {theta0:g}" in run.output.report
def _check_batch_size(run, options):
    on, fx = run.results["online"].config, run.results["fixed"].config
    s, per_b = run.output.summary, run.output.tables["per_batch_size"]
    (x_scale,) = on.axes["x_scale"]
    o, f = s[s["order"] == "online"], s[s["order"] == "fixed"]
    L = np.asarray(theory.batch_population_log_multiplier(o["lr"].to_numpy(), o["batch_size"].to_numpy(),
                                                          x_scale))
    np.testing.assert_array_equal(o["theory_log_multiplier"], L)
    steps = np.where(L < 0, np.log(on.tol) / np.where(L < 0, L, -1), np.nan)
    np.testing.assert_allclose(o["theory_steps"], steps, rtol=1e-12)
    short = run.output.tables["exponent_short"]
    (s_scale,) = run.results["short"].config.axes["x_scale"]
    np.testing.assert_array_equal(short["theory_log_multiplier"], theory.batch_population_log_multiplier(
        short["lr"].to_numpy(), short["batch_size"].to_numpy(), s_scale))
    assert set(o["lr"]) == set(on.axes["lr"]) == set(short["lr"]) and set(f["lr"]) == set(fx.axes["lr"])
    noisy, ncfg = run.output.tables["noise_floor"], run.results["noisy"].config
    (noise,), (n_scale,) = ncfg.axes["noise"], ncfg.axes["x_scale"]
    np.testing.assert_array_equal(noisy["theory_variance"], theory.population_stationary_mse(
        noisy["lr"].to_numpy(), noise, n_scale, noisy["batch_size"].to_numpy()))
    assert set(o["batch_size"]) == set(per_b["batch_size"]) == set(on.axes["batch_size"])
    for r in per_b.itertuples():
        assert r.ms_threshold == theory.batch_ms_threshold(r.batch_size, x_scale)
        assert r.as_threshold == theory.batch_as_threshold(r.batch_size, x_scale)
    (n,) = fx.axes["n_samples"]
    X = _datasets_x(fx, fx.axes["seed"], n)
    for b, g in f.groupby("batch_size"):
        S = np.asarray(theory.batch_log_multiplier(X, g["lr"].to_numpy(), int(b)))
        np.testing.assert_array_equal(g["exact_rate"], (S > 0).mean(axis=0))
        crit = per_b.loc[per_b["batch_size"] == b, "fixed_critical_lr_median"].iloc[0]
        assert crit == np.median(theory.batch_critical_lr(X, int(b)))
    assert f"x ~ N(0, {x_scale:g}^2)" in run.output.report
    assert "{" not in run.output.report + run.output.answer


CHECKS = {"seed": _check_seed, "lr-tuning": _check_lr_tuning, "convergence": _check_convergence,
          "oscillation": _check_oscillation, "outliers": _check_outliers, "divergence": _check_divergence,
          "dataset-size": _check_dataset_size, "heavy-tails": _check_heavy_tails,
          "noise-floor": _check_noise_floor, "schedules": _check_schedules, "momentum": _check_momentum,
          "lr-finder": _check_lr_finder, "batch-size": _check_batch_size}


def test_every_study_has_a_check():
    assert set(CHECKS) == set(STUDIES)


@pytest.mark.parametrize(("argv", "fragment"), [
    (["seed", "--set", "lr=0.01,0.04"], "study 'seed' takes one value of the axis 'lr', got 2"),
    (["divergence", "--set", "order=online"], "study 'divergence' cannot run order='online'"),
    (["divergence", "--set", "noise=0.5"], "study 'divergence' cannot vary the axis 'noise'"),
    (["heavy-tails", "--set", "order=fixed"], "study 'heavy-tails' cannot vary the axis 'order'"),
    (["noise-floor", "--set", "noise=0"], "study 'noise-floor' needs noise > 0"),
    (["schedules", "--set", "noise=0.5"], "study 'schedules' cannot vary the axis 'noise'"),
    (["schedules", "--set", "schedule=cosine"], "study 'schedules' cannot vary the axis 'schedule'"),
    (["convergence", "--set", "epochs=1,2"], "--set epochs: a fixed setting takes one value, got 2"),
])
def test_refusals_are_one_line_naming_the_axis(argv, fragment, tmp_path, capsys):
    assert study.main([*argv, "--quick", "--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1, err


def test_a_setting_reaches_the_theory(tmp_path):
    """--set tol=0.001 moves the convergence theory (a setting, not an axis)."""
    options = Options(quick=True, sets=parse_set(["tol=0.001", FEW]))
    run = run_study(STUDIES["convergence"], options, Runtime(progress=False))
    assert run.results["runs"].config.tol == 0.001
    _check_convergence(run, options)
