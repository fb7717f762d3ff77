"""Tests of lrsweep.theory.tails: tail indices for fresh samples and for a fixed dataset.

Every random draw comes from ``np.random.default_rng(<fixed seed>)``. Each
tolerance is stated next to its assertion with the reason for its size.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from lrsweep import theory as T


def mean_abs_multiplier(u):
    """Closed form of E|1 - u Z^2| (split at |Z| = c = 1/sqrt(u)).

    E|m| = E m + 2 E[(u Z^2 - 1)_+] = 1 - u + 4 u c phi(c) + 4 (u - 1) Q(c),
    using E[Z^2; |Z| > c] = 2 (c phi(c) + Q(c)) and P(|Z| > c) = 2 Q(c).
    """
    from scipy.special import ndtr

    c = 1.0 / math.sqrt(u)
    phi = math.exp(-0.5 * c * c) / math.sqrt(2.0 * math.pi)
    return 1.0 - u + 4.0 * u * c * phi + 4.0 * (u - 1.0) * float(ndtr(-c))


def even_moment_multiplier(u, a):
    """E(1 - u Z^2)^a for even a, exactly in rationals (E Z^2k = (2k - 1)!!)."""
    uf = Fraction(u)
    total = Fraction(0)
    dfact = 1
    for k in range(a + 1):
        if k > 0:
            dfact *= 2 * k - 1
        total += math.comb(a, k) * (-uf) ** k * dfact
    return float(total)


def test_tail_index_is_two_at_ms_threshold():
    assert abs(T.tail_index(1.0 / 3.0) - 2.0) < 1e-8
    assert abs(T.tail_index(1.0 / 12.0, x_scale=2.0) - 2.0) < 1e-8


def test_tail_index_is_one_where_mean_abs_multiplier_is_one():
    from scipy.optimize import brentq

    u1 = brentq(lambda u: mean_abs_multiplier(u) - 1.0, 0.7, 2.4, xtol=1e-15, rtol=1e-15)
    # a = 1 is the kink of |1 - u z^2|: the hardest integer case for the quadrature
    assert abs(T.tail_index(u1 / 2.0) - 1.0) < 1e-8


@pytest.mark.parametrize("a", [4, 20])
def test_tail_index_at_even_integer_roots(a):
    from scipy.optimize import brentq

    # E(1 - u Z^2)^a = 1 from the exact polynomial in u; a = 20 exercises the scaled
    # integrand (u ~ 0.09, the Gaussian tail |Z| ~ 6 carries the mass).
    ua = brentq(lambda u: even_moment_multiplier(u, a) - 1.0, 1e-3, 2.0 / 3.0,
                xtol=1e-16, rtol=1e-15)
    # the polynomial loses ~4 digits to cancellation for a = 20; 1e-7 relative is ample
    assert T.tail_index(ua / 2.0) == pytest.approx(a, rel=1e-7)


def test_tail_index_scaling_and_shape():
    lr = np.array([0.05, 0.2, 0.6])
    for s in (0.5, 3.0):
        # only u = 2 lr s^2 matters; the two u differ by at most one rounding
        np.testing.assert_allclose(T.tail_index(lr, s), T.tail_index(lr * s * s, 1.0), rtol=1e-9)
    assert T.tail_index(lr).shape == (3,)


def test_tail_index_limits():
    thr = T.as_threshold()
    assert T.tail_index(0.0) == math.inf
    assert math.isnan(T.tail_index(thr * 1.01))  # L > 0: no stationary law
    alphas = T.tail_index(np.array([0.01, 0.1, 0.3, 0.6, 1.0, 1.2]))
    assert np.all(np.diff(alphas) < 0)  # decreasing in lr
    assert 0 < T.tail_index(thr * 0.999) < 0.01  # -> 0 at the a.s. threshold
    # small lr: alpha ~ 0.8977/lr (c (log 2c - 1) = 1/2); 1% covers the log corrections
    assert T.tail_index(1e-4) * 1e-4 == pytest.approx(0.8977, rel=0.01)


def test_tail_index_dataset_equation_and_limits():
    x = np.random.default_rng(1).standard_normal((4, 30))
    lr = np.array([0.3, 0.6, 0.9])
    alpha = T.tail_index_dataset(x, lr)
    assert alpha.shape == (4, 3)
    m = np.abs(1.0 - 2.0 * lr[None, :, None] * x[:, None, :] ** 2)
    s = np.log(m).sum(axis=-1)
    for i in range(4):
        for j in range(3):
            if np.max(m[i, j]) <= 1.0:
                assert alpha[i, j] == math.inf
            elif s[i, j] >= 0:
                assert math.isnan(alpha[i, j])
            else:
                # the defining equation, to rounding of a mean of powers
                assert np.mean(m[i, j] ** alpha[i, j]) == pytest.approx(1.0, abs=1e-12)
                assert alpha[i, j] > 0
    # no tail at or below lr = 1/max x^2 (all |m_i| <= 1); a hair below avoids the
    # rounding of 1 - 2 lr x^2 at exactly -1
    x1 = x[0]
    lr_edge = 1.0 / np.max(x1**2)
    assert np.all(np.isinf(T.tail_index_dataset(x1, [0.0, 0.1 * lr_edge, lr_edge * (1 - 1e-12)])))
    assert np.isfinite(T.tail_index_dataset(x1, lr_edge * 1.01))


def test_tail_index_dataset_large_n_approaches_population():
    # sampling with replacement from n = 4e5 Gaussian samples approximates fresh samples;
    # at lr = 0.5 (alpha ~ 1.09) the statistical error is ~0.3%; allow 2%
    x = np.random.default_rng(2).standard_normal(400_000)
    assert T.tail_index_dataset(x, 0.5) == pytest.approx(T.tail_index(0.5), rel=0.02)
