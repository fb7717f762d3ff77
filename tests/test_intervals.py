"""Uncertainty (lrsweep.intervals): coverage of the median interval, Hill's standard error, Wilson."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lrsweep.intervals import hill, mean_and_se, median_interval, median_rank, wilson_interval


def test_median_interval_covers_at_least_95_percent():
    """Coverage over 4,000 samples (fixed seed) of size 7, 30 and 200 from a skewed law: at least
    0.95 minus 3 binomial standard errors (0.0104 at 4,000 draws), so a correct interval fails this
    with probability below 0.2 %; a plain quartile range or a 90 % interval would fail it."""
    rng = np.random.default_rng(20261206)
    for m in (7, 30, 200):
        draws = rng.exponential(size=(4000, m))
        true_median = math.log(2)
        hits = 0
        for row in draws:
            lo, hi = median_interval(row)
            hits += lo <= true_median <= hi
        assert hits / 4000 >= 0.95 - 3 * math.sqrt(0.95 * 0.05 / 4000), (m, hits / 4000)


def test_median_interval_edges():
    assert all(math.isnan(v) for v in median_interval(np.arange(5.0)))  # no 95 % interval from 5 values
    assert median_interval(np.arange(6.0)) == (0.0, 5.0)  # P(all on one side) = 2 / 64 < 5 %
    assert median_rank(6) == 1 and median_rank(100) == 40
    lo, hi = median_interval(np.arange(101.0))
    assert lo < 50 < hi


def test_mean_and_se_and_hill():
    m, se = mean_and_se(np.array([1.0, 2.0, 3.0, 4.0]))
    assert m == 2.5 and se == pytest.approx(np.std([1, 2, 3, 4], ddof=1) / 2)
    assert all(math.isnan(v) for v in mean_and_se(np.array([])))
    rng = np.random.default_rng(1)
    v = rng.pareto(1.5, 200_000) + 1.0  # P(V > t) = t^-1.5
    alpha, se = hill(v, 2000)
    assert abs(alpha - 1.5) < 3 * se and se == pytest.approx(alpha / math.sqrt(2000))
    assert all(math.isnan(x) for x in hill(np.array([1.0, 2.0]), 5))


def test_wilson_is_exact_at_the_ends():
    lo, hi = wilson_interval([0, 10], [10, 10])
    assert lo[0] == 0.0 and hi[1] == 1.0 and 0 < hi[0] < 0.31 and 0.69 < lo[1] < 1
