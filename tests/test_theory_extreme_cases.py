"""Regression tests: the extreme inputs that broke lrsweep.theory, one case each.

Every test here failed on the code before the fix (an exception from SciPy
or NumPy, a RuntimeWarning turned into an error by ``filterwarnings =
error``, ``inf``/``NaN``/0 where the value is finite, a silently wrong root,
or minutes of run time); the property tests of ``test_theory_extremes.py``
cover the categories. Expected values come from closed forms, stated next
to each assertion.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

import lrsweep
from lrsweep import theory as T
from lrsweep._validation import ParameterError

HUGE = float(np.finfo(np.float64).max)
EULER_GAMMA = 0.57721566490153286061


# --------------------------------------------------------------------------- S, counts, poles


def test_s_where_x_squared_overflows():
    # log|1 - 0.2e400| + log(0.8) = log(2e399 - 1) + log 0.8; was inf
    want = math.log(2.0) + 399 * math.log(10.0) + math.log(0.8)
    assert T.epoch_log_multiplier([1e200, 1.0], 0.1) == pytest.approx(want, rel=1e-15, abs=0)
    # lr = 0 is exactly 0 whatever x (was NaN: 0 * inf)
    assert T.epoch_log_multiplier([1e200, 1.0], 0.0) == 0.0


def test_s_where_x_squared_underflows_to_zero():
    # S = log(1 - 2 lr x^2) = -2e-32 at lr = 1e308, x = 1e-170, although x^2 = 0 in float64 (was 0.0)
    assert T.epoch_log_multiplier([1e-170], 1e308) == pytest.approx(-2e-32, rel=1e-15, abs=0)
    assert T.epoch_log_multiplier([1e-300], 1e300) == pytest.approx(-2e-300, rel=1e-15, abs=0)


def test_counts_and_poles_of_huge_and_tiny_samples():
    assert T.amplify_count([1e200, 1.0], 1e-300) == 1  # 2 lr x^2 = 2e100 > 2
    assert T.overshoot_count([1e200, 1.0], 0.0) == 0
    np.testing.assert_array_equal(T.poles([1e200, 1e-200, 1.0]), [0.0, 0.5, math.inf])
    assert T.gd_threshold([1e200, 1.0]) == 0.0  # 1/(5e399) is below the smallest subnormal
    assert T.gd_threshold([1e-160, 1e-160]) == math.inf  # 1e320 beyond the largest float


def test_predicted_error_and_steps_at_the_limits():
    log_abs, sign = T.predicted_error([1.0, 2.0], [])  # was a bare NumPy reshape ValueError
    assert log_abs.shape == sign.shape == (0, 3)
    with pytest.raises(ParameterError, match="'epochs' parameter of predicted_error"):
        T.predicted_error([1.0], 0.1, epochs=10**12)  # 1e12 entries: was a MemoryError
    with pytest.raises(ParameterError, match="'epochs' parameter of predicted_steps_to_tol"):
        T.predicted_steps_to_tol([1.0, 2.0], 0.1, 0.5, 2**62)  # int64 steps would wrap
    # the largest allowed run, diverging: never within tol at the end
    assert T.predicted_steps_to_tol([1.0, 2.0], 3.0, 0.5, 2**61 - 1) == -1


# --------------------------------------------------------------------------- roots


def test_critical_lr_of_samples_whose_poles_overflow():
    # poles 5e599: every root beyond the largest float (was SciPy's "f(inf) is NaN")
    assert T.critical_lr([1e-300, 1e-300]) == math.inf
    assert T.roots([1e-300, 1e-300]).size == 0
    assert T.diverging_intervals([1e-300, 1e-300]) == []


def test_a_tiny_sample_keeps_the_roots_of_the_others():
    # S = log|1 - 2 lr| + log(1 - 2 lr x^2), the second term below 1e-300: root lr = 1
    assert T.critical_lr([1e-170, 1.0]) == pytest.approx(1.0, rel=4e-16, abs=0)  # failed inside SciPy
    np.testing.assert_allclose(T.roots([1e-300, 1.0]), [1.0], rtol=4e-16)  # was [] (pole inf dropped)
    assert T.diverging_intervals([1e-300, 1.0]) == [(T.roots([1e-300, 1.0])[0], math.inf)]


@pytest.mark.parametrize("func", [T.critical_lr, T.roots, T.diverging_intervals])
def test_samples_beyond_2_510_are_refused_by_name(func):
    # the pole 1/(2 x^2) = 5e-401 underflows: critical_lr was 5e-324, roots [5e-324, 0.5, 0.5]
    with pytest.raises(ParameterError, match=r"\|x\| <= 2\*\*510 .* Got 1e\+200 instead"):
        func([1e200, 1.0])
    func([2.0**510, 1.0])  # the bound itself is accepted


def test_poles_spanning_the_float_range():
    # poles 5e-301, 5e199, 5e299 (Brent gave up after 500 iterations, or overflow warnings)
    x = [1e-100, 1e150, 1e-150]
    c = T.critical_lr(x)
    # first root just right of 5e-301: S ~ log(lr / 5e-301 - 1), zero at lr ~ 1e-300
    assert c == pytest.approx(1e-300, rel=1e-12, abs=0)
    assert T.epoch_log_multiplier(x, c * (1 - 1e-9)) < 0 < T.epoch_log_multiplier(x, c * (1 + 1e-9))
    assert T.roots(x)[0] == c


def test_root_at_the_bottom_of_the_normal_range():
    # one sample 2**510: S = log|1 - lr 2**1021|, root at 2**-1020 exactly (Brent's
    # xtol = 2**-1022 stopped 1.5e-309 early, 9.16e-308 instead of 8.90e-308)
    assert T.critical_lr([2.0**510]) == pytest.approx(2.0**-1020, rel=4e-16, abs=0)


def test_far_samples_can_close_the_last_window():
    # ten poles at 5e307 and one sample whose pole is just beyond the largest float: S
    # rises above 0 after 5e307 and falls below it again before the largest float (its
    # term log(1 - lr/p_far) -> -16 there), so the last window is bounded
    x_far = math.sqrt(0.5 / HUGE) * (1.0 - 1e-8)
    x = [1e-154] * 10 + [x_far]
    ivs = T.diverging_intervals(x)
    assert len(ivs) == 1 and ivs[0][1] < HUGE
    a, b = ivs[0]
    assert T.epoch_log_multiplier(x, 0.5 * a + 0.5 * b) > 0 > T.epoch_log_multiplier(x, HUGE)
    np.testing.assert_array_equal(T.roots(x), [a, b])


def test_critical_lr_is_fast():
    # was O(n^2): 2.1 s at n = 1e4 and 92-188 s at 1e5; now about 0.1 s at 5e4
    x = np.random.default_rng(0).standard_normal(50_000)
    t0 = time.perf_counter()
    c = T.critical_lr(x)
    assert time.perf_counter() - t0 < 10.0
    assert 1.0 < c < 1.4  # near the a.s. threshold 1.2106


# --------------------------------------------------------------------------- population, tails, probability


def test_population_at_extreme_u():
    # u = 2e308 overflows: L = log u - gamma - log 2 + O(1/u) = log(1e308) - gamma (was a math domain error)
    assert T.population_log_multiplier(1e308) == pytest.approx(308 * math.log(10.0) - EULER_GAMMA, abs=1e-12)
    # subnormal u: L = -u (was -0.0); V = 2 u^2 underflows to 0
    assert T.population_log_multiplier(5e-324) == -1e-323
    # large u: V = pi^2/2 - pi sqrt(2 pi / u) + 4/u + O(u^-1.5); the quadrature was off by 2e-5 at 1e15
    u = 1e15
    want = 0.5 * math.pi**2 - math.pi * math.sqrt(2.0 * math.pi / u) + 4.0 / u
    assert T.population_log_multiplier_variance(u / 2) == pytest.approx(want, abs=1e-13)
    # small u: V = 2 u^2 + 12 u^3 (the quadrature's m2 - m1^2 lost 5 digits at 1e-10)
    assert T.population_log_multiplier_variance(5e-11) == pytest.approx(2e-20, rel=1e-9, abs=0)
    assert T.as_threshold(1e-200) == math.inf and T.ms_threshold(1e200) == 0.0


def test_tail_index_at_tiny_u():
    # alpha ~ 1.8/u: above 1e6, reported as inf (was a math domain error, and nan at 8e-323)
    assert T.tail_index(1e-308, 1e100) == math.inf
    assert T.tail_index(8e-323) == math.inf
    assert math.isnan(T.tail_index(1e308))  # L > 0: no stationary law


def test_tail_index_dataset_with_extreme_samples():
    # S = log(2e100) + log(1 - 2e-300) > 0: no stationary law (was warnings: x^2 = inf)
    assert math.isnan(T.tail_index_dataset([1e200, 1.0], 1e-300))
    # one |m| = 2e399 - 1 (log 919.4) and 4999 of 0.8: S = 919.4 + 4999 log 0.8 < 0, and
    # alpha solves (2e399 - 1)^a + 4999 * 0.8^a = 5000
    a = T.tail_index_dataset([1e200] + [1.0] * 4999, 0.1)
    big = math.log(2.0) + 399 * math.log(10.0)
    assert 0 < a < 1
    h = np.logaddexp(a * big, math.log(4999) + a * math.log(0.8)) - math.log(5000)
    assert abs(h) < 1e-12


def test_divergence_probability_at_extreme_scales():
    assert T.divergence_probability(100, 1e308).probability == 1.0  # was a math domain error
    # only u = 2 lr s^2 matters: s = 2**520 with lr * 2**-1040 (exact) is exactly the s = 1
    # problem, bit for bit ((s z)^2 overflowed: warnings, NaN)
    lrs = np.array([0.25, 1.0, 1.5])
    big = T.divergence_probability(10, lrs * 2.0**-1040, 2.0**520, method="montecarlo",
                                   n_datasets=200, rng=1)
    one = T.divergence_probability(10, lrs, 1.0, method="montecarlo", n_datasets=200, rng=1)
    np.testing.assert_array_equal(big.probability, one.probability)
    with pytest.raises(ParameterError, match=r"\[1, 2\*\*24\] when method='montecarlo'"):
        T.divergence_probability(10**12, 0.5, method="montecarlo", rng=0)  # was a MemoryError


# --------------------------------------------------------------------------- trajectories


def test_trajectory_predictions_with_extreme_data():
    import pandas as pd

    frame = pd.DataFrame({"lr": [0.1, 1e308, 0.0]})
    # user data at the largest |x| SweepConfig accepts (1e90; beyond, the config refuses it):
    # 2 lr x^2 overflows at lr = 1e308 and S takes the scaled path
    cfg = lrsweep.SweepConfig(lr=[0.1], data=(np.array([1e90, 1.0]), np.array([1.0, 2.0])), epochs=2)
    pred = T.trajectory_predictions(frame, cfg)
    np.testing.assert_array_equal(pred["S"], T.epoch_log_multiplier([1e90, 1.0], [0.1, 1e308, 0.0]))
    assert np.isfinite(pred["S"]).all()
    # generated data with x_scale = 1e-300: x^2 = 0 in float64, but 2 lr x^2 ~ 1e-292 at lr = 1e308
    cfg = lrsweep.SweepConfig(lr=[0.1], n_samples=5, epochs=2, x_scale=1e-300)
    s = T.trajectory_predictions(frame, cfg)["S"].to_numpy()
    assert s[0] == 0.0 and -1e-290 < s[1] < 0.0 and s[2] == 0.0
