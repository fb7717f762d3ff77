"""Studies of speed: ``seed``, ``lr-tuning``, ``convergence``: censored medians, exact steps, report numbers.

The shared contract (question, answer, uncertainty columns, ``--set``) is in
``test_studies.py`` and ``test_studies_set.py``; here: the helpers these
studies share (:mod:`lrsweep.studies.steps`), the seed-data case the gallery
issue pinned (lr 1 is censored, in a narrow stable gap), and the numbers each
report states, checked against its own summary.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lrsweep
from lrsweep.intervals import median_interval
from lrsweep.studies import STUDIES, Options, Runtime, run_study
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
