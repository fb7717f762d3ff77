"""Tests of lrsweep.theory.population: L, its variance and the population thresholds.

Every random draw comes from ``np.random.default_rng(<fixed seed>)``. Each
tolerance is stated next to its assertion with the reason for its size.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from lrsweep import theory as T

EULER_GAMMA = 0.57721566490153286061


def l_dawson(u):
    """Independent closed form of L(u) = E log|1 - u Z^2| (module docstring, section 4).

    L(u) = log u - gamma - log 2 + 4 int_0^{1/sqrt(2u)} F(t) dt with F Dawson's
    integral: a smooth integrand, no singularity, a different derivation.
    """
    from scipy import integrate, special

    w = 1.0 / math.sqrt(2.0 * u)
    val = integrate.quad(special.dawsn, 0.0, w, epsabs=1e-15, epsrel=1e-14, limit=2000,
                         full_output=1)[0]
    return math.log(u) - EULER_GAMMA - math.log(2.0) + 4.0 * val


@pytest.fixture(scope="module")
def z2_samples():
    # 4e6 squared standard normals: the Monte Carlo standard error of
    # E log|1 - u Z^2| is then about 6e-4 near the a.s. threshold.
    return np.random.default_rng(12345).standard_normal(4_000_000) ** 2


def test_closed_form_thresholds():
    assert T.ms_threshold() == 1.0 / 3.0
    assert T.ms_threshold(2.0) == 1.0 / 12.0
    np.testing.assert_array_equal(T.ms_threshold([1.0, 0.5]), [1.0 / 3.0, 4.0 / 3.0])
    assert T.mean_threshold(1.0) == 1.0
    assert T.mean_threshold(0.5) == 4.0
    # E(1 - 2 lr X^2)^2 = 1 - 4 lr s^2 + 12 lr^2 s^4 is 1 at the ms threshold (exact rationals).
    lr, s2 = Fraction(1, 3), 1
    assert 1 - 4 * lr * s2 + 12 * lr**2 * s2**2 == 1


def test_population_log_multiplier_signs():
    assert T.population_log_multiplier(0.04) < 0
    assert T.population_log_multiplier(2.0) > 0
    assert T.population_log_multiplier(0.0) == 0.0


@pytest.mark.parametrize(
    "lr", [1e-3, 0.01, 0.04, 0.1, 0.2927, 1.0 / 3.0, 0.5, 1.0, 1.2106, 2.0, 10.0, 1e3, 1e5]
)
def test_population_log_multiplier_matches_dawson_closed_form(lr):
    # Two independent computations (singular Gaussian quadrature vs. Dawson-integral
    # closed form); both are accurate to ~1e-14, the requirement is 1e-10 absolute.
    assert abs(T.population_log_multiplier(lr) - l_dawson(2.0 * lr)) < 1e-10


def test_population_log_multiplier_asymptotics():
    # small u: E log(1 - u Z^2) = -(u + 3u^2/2 + 5u^3 + ...); next term ~ 26 u^4 < 1e-17 here
    u = 2e-5
    series = -(u + 1.5 * u**2 + 5.0 * u**3)
    assert T.population_log_multiplier(1e-5) == pytest.approx(series, rel=1e-12)
    # large u: L = log u - gamma - log 2 + 1/u + O(u^-2); at u = 2e4 the O(u^-2) is ~1e-8
    u = 2e4
    asym = math.log(u) - EULER_GAMMA - math.log(2.0) + 1.0 / u
    assert abs(T.population_log_multiplier(u / 2.0) - asym) < 1e-7


def test_population_log_multiplier_vectorised_and_scaled():
    lr = np.array([[0.01, 0.5], [1.0, 3.0]])
    out = T.population_log_multiplier(lr, x_scale=2.0)
    assert out.shape == (2, 2)
    # only u = 2 lr s^2 matters
    np.testing.assert_allclose(out, T.population_log_multiplier(4.0 * lr), rtol=0, atol=1e-14)


def test_population_log_multiplier_monte_carlo(z2_samples):
    for lr in (0.04, 0.5, 2.0):
        ell = np.log(np.abs(1.0 - 2.0 * lr * z2_samples))
        se = ell.std() / math.sqrt(ell.size)
        # 4 standard errors: a false alarm has probability ~6e-5 per value
        assert abs(T.population_log_multiplier(lr) - ell.mean()) < 4 * se
        # the variance: its Monte Carlo error is dominated by the log^2 left tail; 2%
        assert T.population_log_multiplier_variance(lr) == pytest.approx(ell.var(), rel=0.02)


def test_as_threshold(z2_samples):
    thr = T.as_threshold()
    assert 1.21 < thr < 1.211
    assert abs(T.population_log_multiplier(thr)) < 1e-12  # a root of L (quadrature accuracy)
    assert abs(l_dawson(2.0 * thr)) < 1e-12  # and of the independent closed form
    assert T.as_threshold(2.0) == pytest.approx(thr / 4.0, rel=1e-15)
    # Monte Carlo on 4e6 samples, common random numbers for the three learning rates:
    # L is clearly negative 0.05 below, clearly positive 0.05 above (about 40 SE), and
    # indistinguishable from 0 at the threshold (within 3 SE).
    for delta, sign in ((-0.05, -1), (0.0, 0), (0.05, 1)):
        ell = np.log(np.abs(1.0 - 2.0 * (thr + delta) * z2_samples))
        mean, se = ell.mean(), ell.std() / math.sqrt(ell.size)
        if sign == 0:
            assert abs(mean) < 3 * se
        else:
            assert sign * mean > 3 * se


def test_population_log_multiplier_single_sign_change():
    # L < 0 on (0, as_threshold) and > 0 above: the root is unique (module docstring)
    thr = T.as_threshold()
    below = T.population_log_multiplier(np.linspace(0.01, thr - 1e-3, 25))
    above = T.population_log_multiplier(np.linspace(thr + 1e-3, 20.0, 25))
    assert np.all(below < 0) and np.all(above > 0)
