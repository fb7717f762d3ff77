"""Tests of lrsweep.theory.probability: the divergence probability of a random dataset.

Every random draw comes from ``np.random.default_rng(<fixed seed>)``. Each
tolerance is stated next to its assertion with the reason for its size.
"""

from __future__ import annotations

import numpy as np
import pytest

from lrsweep import theory as T


def test_divergence_probability_normal_vs_montecarlo():
    thr = T.as_threshold()
    lr = np.array([1.0, thr, 1.4])
    normal = T.divergence_probability(100, lr)
    mc = T.divergence_probability(100, lr, method="montecarlo", n_datasets=20_000, rng=1)
    np.testing.assert_array_equal(normal.standard_error, 0.0)
    assert normal.probability[1] == 0.5  # L = 0 at the a.s. threshold
    np.testing.assert_allclose(mc.standard_error,
                               np.sqrt(mc.probability * (1 - mc.probability) / 20_000))
    # MC SE <= 0.0036; the CLT error at n = 100 was measured below 0.006 (the summands
    # are skewed by the log singularity): 0.02 covers both
    np.testing.assert_allclose(normal.probability, mc.probability, atol=0.02)
    # same rng seed -> same answer; datasets are shared across learning rates
    mc2 = T.divergence_probability(100, lr, method="montecarlo", n_datasets=20_000,
                                   rng=np.random.default_rng(1))
    np.testing.assert_array_equal(mc.probability, mc2.probability)
    assert np.all(np.diff(mc.probability) > 0)


def test_divergence_probability_edges():
    assert T.divergence_probability(10, 0.0).probability == 0.0
    # the CLT tail is far too heavy here (the true P(S > 0) at lr = 0.04, n = 50 is
    # astronomically small: it needs some |x_i| > 3.5 and much more), but it is small
    assert T.divergence_probability(50, 0.04).probability < 1e-4
    # below the a.s. threshold more data makes divergence rarer, above it more likely
    lo = [T.divergence_probability(n, 1.0).probability for n in (10, 100, 1000)]
    hi = [T.divergence_probability(n, 1.5).probability for n in (10, 100, 1000)]
    assert lo[0] > lo[1] > lo[2] and hi[0] < hi[1] < hi[2]
    with pytest.raises(ValueError, match="'rng' parameter of divergence_probability"):
        T.divergence_probability(10, 0.5, method="montecarlo")
    with pytest.raises(ValueError, match="'method' parameter"):
        T.divergence_probability(10, 0.5, method="exact")
