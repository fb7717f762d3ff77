"""Tests of lrsweep.theory: exact predictions for per-sample SGD on y = a x.

Every random draw comes from ``np.random.default_rng(<fixed seed>)``. Each
tolerance is stated next to its assertion with the reason for its size.
"""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrsweep import theory as T

EULER_GAMMA = 0.57721566490153286061


# --------------------------------------------------------------------------- helpers


def naive_s(x, lr):
    """S by the definition, broadcast the obvious way (no blocks, no log1p)."""
    x = np.asarray(x, dtype=float)
    lr = np.asarray(lr, dtype=float)
    v = 2.0 * lr[..., None] * np.square(x.reshape(x.shape[:-1] + (1,) * lr.ndim + x.shape[-1:]))
    return np.log(np.abs(1.0 - v)).sum(axis=-1)


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


def node_graph_run(x, y, lr, theta0, epochs):
    """The seed's per-sample update in its operation order, fixed order; returns theta_k."""
    th = theta0
    out = [th]
    for _ in range(epochs):
        for xi, yi in zip(x, y, strict=True):
            z1 = th * xi
            z2 = yi - z1
            dz2 = 2.0 * z2
            dth = -dz2 * xi
            th = th - lr * dth
            out.append(th)
    return np.array(out)


@pytest.fixture(scope="module")
def z2_samples():
    # 4e6 squared standard normals: the Monte Carlo standard error of
    # E log|1 - u Z^2| is then about 6e-4 near the a.s. threshold.
    return np.random.default_rng(12345).standard_normal(4_000_000) ** 2


# --------------------------------------------------------------------------- thresholds


def test_closed_form_thresholds():
    assert T.ms_threshold() == 1.0 / 3.0
    assert T.ms_threshold(2.0) == 1.0 / 12.0
    np.testing.assert_array_equal(T.ms_threshold([1.0, 0.5]), [1.0 / 3.0, 4.0 / 3.0])
    assert T.mean_threshold(1.0) == 1.0
    assert T.mean_threshold(0.5) == 4.0
    # E(1 - 2 lr X^2)^2 = 1 - 4 lr s^2 + 12 lr^2 s^4 is 1 at the ms threshold (exact rationals).
    lr, s2 = Fraction(1, 3), 1
    assert 1 - 4 * lr * s2 + 12 * lr**2 * s2**2 == 1


def test_gd_threshold():
    x = np.random.default_rng(0).standard_normal((3, 50))
    thr = T.gd_threshold(x)
    np.testing.assert_allclose(thr, 1.0 / np.mean(x**2, axis=1), rtol=1e-15)
    # the GD multiplier 1 - 2 lr mean(x^2) is -1 at the threshold (rounding only)
    np.testing.assert_allclose(1.0 - 2.0 * thr * np.mean(x**2, axis=1), -1.0, atol=1e-15)
    assert T.gd_threshold([0.0, 0.0]) == math.inf


# --------------------------------------------------------------------------- population L


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


# --------------------------------------------------------------------------- tail index


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


# --------------------------------------------------------------------------- S, poles, roots


def test_epoch_log_multiplier_matches_definition(monkeypatch):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((7, 13))
    lr = np.linspace(0.0, 2.0, 11)
    want = naive_s(x, lr)
    got = T.epoch_log_multiplier(x, lr)
    assert got.shape == (7, 11)
    # log1p vs log(|1 - v|): differ by rounding of O(eps) per term
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)
    # tiny blocks give the same bits
    monkeypatch.setattr(T._common, "_BLOCK_ELEMENTS", 16)
    np.testing.assert_array_equal(T.epoch_log_multiplier(x, lr), got)
    # shapes: x.shape[:-1] + lr.shape
    assert np.ndim(T.epoch_log_multiplier(x[0], 0.1)) == 0
    assert T.epoch_log_multiplier(x[0], lr).shape == (11,)
    assert T.epoch_log_multiplier(x, 0.1).shape == (7,)
    assert T.epoch_log_multiplier(x[0], lr.reshape(1, 11)).shape == (1, 11)


def test_epoch_log_multiplier_small_lr_keeps_relative_accuracy():
    x = np.array([0.3, -1.2, 2.0])
    lr = 1e-12
    # S ~ -2 lr sum x^2 with full relative accuracy (log1p); log(1 - v) would lose it
    assert T.epoch_log_multiplier(x, lr) == pytest.approx(-2 * lr * np.sum(x**2), rel=1e-10)


def test_epoch_log_multiplier_is_log_of_epoch_product():
    x = np.random.default_rng(4).standard_normal(25)
    for lr in (0.01, 0.3, 1.5):
        e = 1.0
        for xi in x:
            e = (1.0 - 2.0 * lr * xi * xi) * e
        # one epoch of 25 float multiplications: relative error ~25 eps
        assert math.log(abs(e)) == pytest.approx(T.epoch_log_multiplier(x, lr), abs=1e-12)


def test_pole_is_minus_inf_without_warnings():
    # 2 * 2.0 * 0.5^2 == 1 exactly: the step lands on the solution
    assert T.epoch_log_multiplier([0.5, 1.0], 2.0) == -math.inf
    assert T.epoch_log_multiplier([0.5, 1.0], 2.0 * (1 + 1e-12)) < -25


def test_poles():
    x = np.array([[1.0, -0.5, 0.0], [2.0, 1.0, -1.0]])
    np.testing.assert_array_equal(
        T.poles(x), [[0.5, 2.0, math.inf], [0.125, 0.5, 0.5]]
    )


def test_s_is_negative_below_first_pole_and_concave_between_poles():
    x = np.random.default_rng(5).standard_normal(10)
    p = np.unique(T.poles(x))
    below = np.linspace(0.0, p[0], 1002)[1:-1]
    assert np.all(T.epoch_log_multiplier(x, below) < 0)
    for a, b in itertools.pairwise(p):
        t = np.linspace(a, b, 203)[1:-1]
        s = T.epoch_log_multiplier(x, t)
        assert np.all(np.isfinite(s))
        # strictly concave: negative second differences (up to rounding of S)
        assert np.all(np.diff(s, 2) < 1e-9)


def _ds(x, t):
    return np.sum(1.0 / (t - 1.0 / (2.0 * np.asarray(x) ** 2)))


@pytest.mark.parametrize("seed", range(6))
def test_roots_are_roots_with_sign_change(seed):
    x = np.random.default_rng(seed).standard_normal(12)
    r = T.roots(x, 0.0, 5.0)
    assert np.all(np.diff(r) > 0)
    for t in r:
        # |S(root)| is what a relative perturbation of 1e-12 of the root explains
        assert abs(T.epoch_log_multiplier(x, t)) < 1e-12 * (1.0 + abs(_ds(x, t)) * t)
        # sign change across the root at +-1e-10 relative (no pole that close here)
        lo, hi = T.epoch_log_multiplier(x, [t * (1 - 1e-10), t * (1 + 1e-10)])
        assert lo * hi < 0


def test_critical_lr_is_smallest_root_and_grid_consistent():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((5, 20))
    crit = T.critical_lr(x)
    assert crit.shape == (5,)
    for row, c in zip(x, crit, strict=True):
        assert c == T.roots(row)[0] == T.critical_lr(row)
        # bounds: (1/(2 max x^2), 1/min x^2]
        assert 1.0 / (2.0 * np.max(row**2)) < c <= 1.0 / np.min(row**2)
        grid = np.linspace(0.0, c * (1 - 1e-9), 20001)[1:]
        assert np.all(T.epoch_log_multiplier(row, grid) < 0)
        assert T.epoch_log_multiplier(row, c * (1 + 1e-9)) > 0


def test_single_sample_and_zero_dataset():
    np.testing.assert_array_equal(T.roots([1.0]), [1.0])  # S = log|1 - 2 lr|
    assert T.critical_lr([1.0]) == 1.0
    assert T.diverging_intervals([1.0]) == [(1.0, math.inf)]
    assert T.roots([0.0, 0.0]).size == 0  # S identically 0
    assert T.critical_lr([0.0, 0.0]) == math.inf
    assert T.diverging_intervals([0.0]) == []


def test_diverging_intervals_match_dense_grid():
    x = np.random.default_rng(8).standard_normal(15)
    lr_max = 6.0
    ivs = T.diverging_intervals(x, 0.0, lr_max)
    assert all(a < b for a, b in ivs)
    assert all(b1 <= a2 for (_, b1), (a2, _) in itertools.pairwise(ivs))
    grid = np.linspace(1e-6, lr_max, 400_001)[:-1]  # open intervals: lr_max itself is an end
    s = T.epoch_log_multiplier(x, grid)
    inside = np.zeros(grid.shape, dtype=bool)
    for a, b in ivs:
        inside |= (grid > a) & (grid < b)
    # away from roots and poles (relative distance 1e-9) the sign of S decides
    marks = np.concatenate([T.roots(x, 0.0, lr_max), T.poles(x)])
    far = np.min(np.abs(grid[:, None] - marks[None, :]), axis=1) > 1e-9 * grid
    np.testing.assert_array_equal((s > 0)[far], inside[far])
    # clipping and the full (unbounded) set
    full = T.diverging_intervals(x)
    assert full[-1][1] == math.inf
    assert T.diverging_intervals(x, 1.0, 2.0) == [
        (max(a, 1.0), min(b, 2.0)) for a, b in full if a < 2.0 and b > 1.0
    ]
    r_all = T.roots(x)
    np.testing.assert_array_equal(T.roots(x, 1.0, 3.0), r_all[(r_all >= 1.0) & (r_all <= 3.0)])


@settings(max_examples=60, deadline=None, database=None)
@given(
    st.lists(
        st.floats(min_value=0.05, max_value=3.0) | st.floats(min_value=-3.0, max_value=-0.05),
        min_size=1, max_size=8,
    )
)
def test_windows_property(xs):
    x = np.array(xs)
    ivs = T.diverging_intervals(x)
    assert ivs and ivs[-1][1] == math.inf
    p = T.poles(x)
    assert p[0] < ivs[0][0] <= 2 * p[-1]
    assert T.critical_lr(x) == ivs[0][0]
    for a, b in ivs[:-1]:
        # every bounded window lies between two consecutive poles and S > 0 inside
        assert not np.any((p > a) & (p < b))
        assert T.epoch_log_multiplier(x, 0.5 * (a + b)) > 0


# --------------------------------------------------------------------------- counts


def test_overshoot_and_amplify_counts():
    x = np.array([0.1, 1.0, -2.0])
    # 2 lr x^2 at lr = 0.3: [0.006, 0.6, 2.4]; at lr = 0.6: [0.012, 1.2, 4.8]
    np.testing.assert_array_equal(T.overshoot_count(x, [0.3, 0.6]), [1, 2])
    np.testing.assert_array_equal(T.amplify_count(x, [0.3, 0.6]), [1, 1])
    assert T.overshoot_count(x, 0.0) == 0
    xx = np.random.default_rng(9).standard_normal((4, 40))
    lr = np.array([0.1, 0.5, 2.0])
    v = 2.0 * lr[None, :, None] * xx[:, None, :] ** 2
    np.testing.assert_array_equal(T.overshoot_count(xx, lr), (v > 1).sum(-1))
    np.testing.assert_array_equal(T.amplify_count(xx, lr), (v > 2).sum(-1))


# --------------------------------------------------------------------------- error paths


def test_predicted_error_matches_float_loop():
    x = np.random.default_rng(10).standard_normal(9)
    lrs = np.array([0.01, 0.2, 0.6, 1.4])
    epochs = 6
    log_abs, sign = T.predicted_error(x, lrs, e0=-0.7, epochs=epochs)
    assert log_abs.shape == sign.shape == (4, epochs * 9 + 1)
    for j, lr in enumerate(lrs):
        e = -0.7
        ref = [e]
        for k in range(epochs * 9):
            e = (1.0 - 2.0 * lr * x[k % 9] ** 2) * e
            ref.append(e)
        ref = np.array(ref)
        # 1e-9 relative: the loop's and the cumulative log's rounding are ~54 eps each
        np.testing.assert_allclose(log_abs[j], np.log(np.abs(ref)), rtol=0, atol=1e-9)
        np.testing.assert_array_equal(sign[j], np.sign(ref))


def test_predicted_error_matches_node_graph_sgd():
    # the real update on y = 5 x; e_k = theta_k - 5 loses digits to cancellation when
    # |e_k| << 5, so compare while |e_k| > 1e-4 (relative error then < 1e-11)
    rng = np.random.default_rng(11)
    x = rng.standard_normal(20)
    for lr in (0.04, 0.3):
        theta = node_graph_run(x, 5.0 * x, lr, theta0=-1.0, epochs=3)
        e = theta - 5.0
        log_abs, sign = T.predicted_error(x, lr, e0=-6.0, epochs=3)
        keep = np.abs(e) > 1e-4
        np.testing.assert_allclose(np.exp(log_abs[keep]) * sign[keep], e[keep], rtol=1e-9)


def test_predicted_error_at_pole_and_zero_start():
    log_abs, sign = T.predicted_error([0.5, 1.0], 2.0, e0=1.0, epochs=2)
    assert log_abs[0] == 0.0 and sign[0] == 1
    assert np.all(np.isneginf(log_abs[1:])) and np.all(sign[1:] == 0)
    log_abs, sign = T.predicted_error([1.0], 0.1, e0=0.0, epochs=1)
    assert np.all(np.isneginf(log_abs)) and np.all(sign == 0)


def test_predicted_error_broadcasts_e0():
    x = np.random.default_rng(12).standard_normal((2, 5))
    la, sg = T.predicted_error(x, [0.1, 0.9], e0=np.array([[1.0, -2.0], [3.0, 4.0]]), epochs=2)
    assert la.shape == (2, 2, 11)
    assert la[0, 1, 0] == pytest.approx(math.log(2.0)) and sg[0, 1, 0] == -1


def _steps_brute(log_abs, e0_log, tol):
    viol = np.flatnonzero(log_abs - e0_log > math.log(tol))
    if viol.size == 0:
        return 0
    last = viol[-1]
    return -1 if last == log_abs.size - 1 else last + 1


def test_predicted_steps_to_tol_matches_brute_force():
    x = np.random.default_rng(13).standard_normal((3, 8))
    lrs = np.array([0.0, 0.005, 0.05, 0.2, 0.5, 1.0, 3.0])
    epochs = 40
    log_abs, _ = T.predicted_error(x, lrs, e0=1.0, epochs=epochs)
    for tol in (1e-6, 1e-2, 0.5, 1.0, 2.0):
        got = T.predicted_steps_to_tol(x, lrs, tol, epochs)
        assert got.shape == (3, 7)
        want = np.array([[_steps_brute(log_abs[i, j], 0.0, tol) for j in range(7)]
                         for i in range(3)])
        np.testing.assert_array_equal(got, want)
    # pole hit: converged right after the step that lands on the solution
    assert T.predicted_steps_to_tol([1.0, 0.5], 2.0, 1e-3, 3) == 2


# --------------------------------------------------------------------------- outliers


def test_leverage_outlier_changes_s_by_its_terms():
    rng = np.random.default_rng(14)
    x = rng.standard_normal(50)
    out = np.array([3, 17, 41])
    s = 8.0
    xm = x.copy()
    xm[out] *= s
    lr = np.array([0.001, 0.01, 0.04, 0.3])
    delta = (np.log(np.abs(1 - 2 * lr[:, None] * s**2 * x[out] ** 2))
             - np.log(np.abs(1 - 2 * lr[:, None] * x[out] ** 2))).sum(axis=1)
    # rounding of sums of 50 logs: 1e-12 absolute
    np.testing.assert_allclose(
        T.epoch_log_multiplier(xm, lr), T.epoch_log_multiplier(x, lr) + delta, atol=1e-12
    )
    # a leverage outlier can make a stable lr diverge
    assert T.epoch_log_multiplier(x, 0.04) < 0 < T.epoch_log_multiplier(xm, 0.04)


def test_response_outlier_leaves_epoch_multiplier_unchanged():
    # one epoch of the real update is affine in theta: theta -> P theta + c; P depends
    # on x only. Two starts give P = (theta_A' - theta_B') / (theta_A - theta_B), and
    # |P| = exp(S) with or without response outliers (y shifted at 3 samples).
    rng = np.random.default_rng(15)
    x = rng.standard_normal(30)
    y_clean = 5.0 * x
    y_out = y_clean.copy()
    y_out[[2, 11, 25]] += 10.0 * 5.0
    lr = 0.3
    s = T.epoch_log_multiplier(x, lr)
    for y in (y_clean, y_out):
        a = node_graph_run(x, y, lr, theta0=-1.0, epochs=1)[-1]
        b = node_graph_run(x, y, lr, theta0=3.0, epochs=1)[-1]
        p = (a - b) / (-1.0 - 3.0)
        # the difference of two O(1) thetas after 30 steps: ~1e-13 absolute on P
        assert math.log(abs(p)) == pytest.approx(s, abs=1e-9)


# --------------------------------------------------------------------------- probability


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


# --------------------------------------------------------------------------- validation, imports


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: T.tail_index(-1.0),
         "The 'lr' parameter of tail_index must be a scalar or an array of floats in the range [0, inf). "
         "Got -1.0 instead."),
        (lambda: T.epoch_log_multiplier([1.0, np.nan], 0.1),
         "The 'x' parameter of epoch_log_multiplier must be a 1-D array (one dataset) or a 2-D array "
         "(n_datasets, n) of finite floats. Got nan instead."),
        (lambda: T.epoch_log_multiplier(np.ones((2, 2, 2)), 0.1), "'x' parameter"),
        (lambda: T.roots(np.ones((2, 3))), "'x' parameter of roots must be a 1-D array"),
        (lambda: T.roots([1.0], 2.0, 1.0),
         "The 'lr_max' parameter of roots must be None or a float >= lr_min (2.0). Got 1.0 instead."),
        (lambda: T.population_log_multiplier(0.1, x_scale=0.0),
         "The 'x_scale' parameter of population_log_multiplier must be a scalar or an array of floats "
         "in the range (0, inf). Got 0.0 instead."),
        (lambda: T.predicted_error([1.0], 0.1, epochs=0), "'epochs' parameter"),
        (lambda: T.predicted_steps_to_tol([1.0], 0.1, tol=0.0, epochs=1), "'tol' parameter"),
        (lambda: T.divergence_probability(0, 0.1), "'n' parameter"),
    ],
)
def test_validation_messages(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace(".", r"\.").replace("[", r"\[")):
        call()


def test_module_imports_only_numpy():
    # every module of the package, imported alone in a fresh interpreter, leaves scipy unloaded
    import pkgutil

    names = [m.name for m in pkgutil.iter_modules(T.__path__, T.__name__ + ".")]
    assert len(names) >= 7
    for name in [T.__name__, *names]:
        code = (
            "import importlib, sys\n"
            f"importlib.import_module({name!r})\n"
            "assert 'scipy' not in sys.modules, 'scipy imported at module level'\n"
        )
        subprocess.run([sys.executable, "-c", code], check=True)
