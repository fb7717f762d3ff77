"""Studies of speed: ``seed``, ``lr-tuning``, ``convergence``: censored medians, exact steps, report numbers.

The shared contract (question, answer, uncertainty columns, ``--set``) is in
``test_studies.py`` and ``test_studies_set.py``; here: the helpers these
studies share (:mod:`lrsweep.studies.steps`), the seed-data case the gallery
issue pinned (lr 1 is censored, in a narrow stable gap), and the numbers each
report states, checked against its own summary.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

import lrsweep
from lrsweep import theory
from lrsweep.data import make_dataset
from lrsweep.intervals import median_interval
from lrsweep.studies import STUDIES, Options, Runtime, run_study
from lrsweep.studies.convergence import _fastest_theory_lr
from lrsweep.studies.steps import exact_steps, steps_median


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(scope="module")
def runs():
    """The quick lr-tuning and convergence studies, run once (their seed-data sweep is the published one)."""
    import matplotlib.pyplot as plt

    out = {name: run_study(STUDIES[name], Options(quick=True), Runtime(progress=False))
           for name in ("lr-tuning", "convergence")}
    plt.close("all")
    return out


# ------------------------------------------------------------------ the helpers
def test_steps_median_counts_runs_that_did_not_converge_as_beyond_the_budget():
    rng = np.random.default_rng(1)
    steps = rng.integers(10, 100, size=300).astype(float)
    frame = pd.DataFrame({"g": np.repeat([0, 1, 2], 100), "converged_step": steps})
    frame.loc[100:139, "converged_step"] = -1  # group 1: 40 % censored, the median still determined
    frame.loc[200:259, "converged_step"] = -1  # group 2: 60 % censored, the median beyond the budget
    m = steps_median(frame, ["g"]).set_index("g")
    v0 = steps[:100]
    assert m.loc[0, "steps_median"] == np.median(v0)
    assert (m.loc[0, "steps_median_lo"], m.loc[0, "steps_median_hi"]) == median_interval(v0)
    v1 = np.sort(np.concatenate([steps[140:200], np.full(40, np.inf)]))
    assert m.loc[1, "steps_median"] == (v1[49] + v1[50]) / 2 > np.median(steps[140:200])
    assert np.isinf(m.loc[1, "steps_median_hi"]) and not m.loc[1, "steps_censored"]  # interval open above
    assert np.isinf(m.loc[2, "steps_median"]) and m.loc[2, "steps_censored"]


def test_exact_steps_equal_the_kernel_for_noise_free_fixed_order():
    cfg = lrsweep.SweepConfig(lr=[0.02, 0.3, 0.9, 1.3], seed=range(40), n_samples=[5, 30], epochs=6)
    res = lrsweep.sweep(cfg, progress=False)
    pred = exact_steps(res)
    f = res.frame
    differ = pred != f["converged_step"].to_numpy()
    # Only runs that left the divergence bound in an excursion, or that rounding held at theta_ref, differ.
    held = (f["theta_final"] - f["theta_ref"]).abs() <= 8 * np.finfo(float).eps * f["theta_ref"].abs()
    assert (f.loc[differ, "status"].eq("diverged") | held[differ]).all()
    assert differ.mean() < 0.02
    for other in ({"order": "shuffle"}, {"noise": 0.5}):  # no exact steps: another sample order, noise
        res = lrsweep.sweep(lrsweep.SweepConfig(lr=[0.3], seed=range(3), epochs=2, **other), progress=False)
        assert np.isnan(exact_steps(res)).all()


# ------------------------------------------------------------------ lr-tuning
def test_lr_tuning_seed_data_at_lr_1_is_censored_in_a_narrow_stable_gap(runs):
    run = runs["lr-tuning"]
    table = run.output.tables["seed_data_runs"].set_index("lr")
    x = make_dataset(0, 100, kind="lecture").x
    crit = float(theory.critical_lr(x))
    assert crit == pytest.approx(0.98318, abs=1e-5)
    r = table.loc[1.0]
    # Stable (S < 0) but not within tolerance over the whole last epoch within 5 epochs: censored.
    assert r["S"] < 0 and not r["predicted_diverges"]
    assert r["status"] == "oscillating" and r["converged_step"] == -1
    assert r["exact_converged_step"] == -1 and r["exact_converged_step_long"] == 1448
    gap = [(a, b) for a, b in theory.diverging_intervals(x, 0.9, 1.1)]
    below = max(b for a, b in gap if b <= 1.0)
    above = min(a for a, b in gap if a >= 1.0)
    assert above - below < 0.02  # unstable learning rates on both sides of lr 1
    assert f"in a stable gap ({below:.5g}, {above:.5g})" in run.output.report
    # lr 0.04 never overshoots and sits ~25 times below the first critical lr.
    r = table.loc[0.04]
    assert r["sign_changes"] == 0 and r["predicted_sign_changes"] == 0 and r["max_step_factor"] < 1
    assert f"{crit / 0.04:.3g} times below this dataset's first critical lr" in run.output.report


def test_lr_tuning_answer_numbers_come_from_its_summary(runs):
    run = runs["lr-tuning"]
    s = run.output.summary.set_index("lr")
    assert {0.01, 0.04} <= set(s.index)  # evaluated exactly at the lecture's learning rates
    m = re.search(r"needs (\S+) \[(\S+), (\S+)\] steps at lr 0\.04 against (\S+) \[(\S+), (\S+)\] steps at "
                  r"lr 0\.01", run.output.answer)
    assert m, run.output.answer
    got = [float(v) for v in m.groups()]
    want = [s.loc[lr, f"steps_median{c}"] for lr in (0.04, 0.01) for c in ("", "_lo", "_hi")]
    assert got == pytest.approx(want, rel=5e-4)
    # The median is over every run: recomputed from the table, non-converged runs as beyond the budget.
    f = run.results["grid"].frame
    g = f[f["lr"] == 0.04]["converged_step"].to_numpy(float)
    assert np.median(np.where(g >= 0, g, np.inf)) == s.loc[0.04, "steps_median"]


# ------------------------------------------------------------------ convergence
def test_convergence_answer_and_theory_minimum_come_from_its_summary(runs):
    run = runs["convergence"]
    cfg = run.results["runs"].config
    s = run.output.summary
    lr_star = _fastest_theory_lr(1.0)
    assert lr_star == pytest.approx(0.29273, abs=1e-4)
    assert lr_star in set(cfg.axes["lr"])  # the simulated median is measured exactly at the theory's best lr
    L = lambda lr: float(theory.population_log_multiplier(lr, 1.0))  # noqa: E731
    assert L(lr_star) < min(L(0.99 * lr_star), L(1.01 * lr_star))
    m = re.search(r"best lr (\S+), (\S+) \[(\S+), (\S+)\] steps \(n = (\d+)\)", run.output.answer)
    assert m, run.output.answer
    n = int(m.group(5))
    row = s[(s["n_samples"] == n) & (s["lr"] == lr_star)].iloc[0]
    assert [float(v) for v in m.groups()[1:4]] == pytest.approx(
        [row["steps_median"], row["steps_median_lo"], row["steps_median_hi"]])
    assert f"theory's minimum of {math.log(cfg.tol) / L(lr_star):.3g} steps" in run.output.answer
    # Censored cells are flagged, not reported as data: inf medians exactly where half did not converge.
    assert (s["steps_censored"] == (s["n_converged"] * 2 <= s["n"])).all()
    # The grid reaches past the almost-sure threshold: the top of the grid is not a finding.
    assert max(cfg.axes["lr"]) > float(theory.as_threshold(1.0))
