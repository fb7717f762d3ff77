"""Tests of lrsweep.theory.batches: S_B of a dataset, its critical lr, the population thresholds in B.

Every formula is checked against a plain-NumPy simulation of mini-batch SGD
written here from the update rule (``g = (1/B_k) sum_batch 2 x (theta x - y)``,
``theta <- theta - lr g``), with fixed seeds. Noise-free runs use ``y = 0``,
so ``theta`` *is* the error ``e`` and the update is linear in it: the
simulators rescale ``theta`` by exact powers of two to run any number of
steps without over- or underflow. Each tolerance is stated with the reason
for its size.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from lrsweep import theory as T
from lrsweep._validation import ParameterError

EPS = float(np.finfo(np.float64).eps)


# --------------------------------------------------------------------------- simulators


def simulate_fixed(x, lr, batch_size, epochs=1):
    """``log|e_T| - log|e_0|`` and the rounding allowance of fixed-order mini-batch SGD (y = 0).

    Vectorised over ``lr`` (1-D). The allowance is the sum over steps of
    ``4 eps (1 + 2 v) / |1 - v|`` (``v = lr A``): the rounding of ``x theta``,
    the mean, the product ``lr g`` and the subtraction, relative to the new
    ``|theta|`` (which is ``|1 - v|`` times the old one).
    """
    x = np.asarray(x, dtype=np.float64)
    lr = np.asarray(lr, dtype=np.float64)
    n = x.size
    theta = np.ones(lr.shape)
    log_scale = np.zeros(lr.shape)
    allowance = np.zeros(lr.shape)
    for _ in range(epochs):
        for k0 in range(0, n, batch_size):
            xb = x[k0 : k0 + batch_size]
            grad = np.mean(2.0 * xb[:, None] * (theta[None, :] * xb[:, None] - 0.0), axis=0)
            theta = theta - lr * grad
            v = lr * np.mean(2.0 * xb * xb)
            allowance += 4.0 * EPS * (1.0 + 2.0 * v) / np.abs(1.0 - v)
            m, e = np.frexp(theta)  # exact rescaling: theta = m 2^e
            theta, log_scale = m, log_scale + e * math.log(2.0)
    return np.log(np.abs(theta)) + log_scale, allowance


def batch_features(x, batch_size):
    """``c_k = mean of x^2 over batch k`` (plain NumPy)."""
    return np.array([np.mean(np.square(x[k : k + batch_size])) for k in range(0, len(x), batch_size)])


# --------------------------------------------------------------------------- per dataset


@pytest.mark.parametrize("batch_size", [1, 2, 4, 5, 13, 20])
def test_batch_log_multiplier_equals_simulated_growth(batch_size):
    # n = 13: B = 2, 4, 5 leave a short last batch, B = 13 and 20 are full-batch GD
    rng = np.random.default_rng(101)
    x = rng.standard_normal(13)
    lr = np.geomspace(1e-3, 4.0, 200)
    c = batch_features(x, batch_size)
    # keep away from the poles 1/(2 c_k), where one step's rounding is amplified without bound
    lr = lr[np.min(np.abs(1.0 - 2.0 * lr[:, None] * c[None, :]), axis=1) > 1e-6]
    for epochs in (1, 3):
        sim, allowance = simulate_fixed(x, lr, batch_size, epochs)
        s_b = T.batch_log_multiplier(x, lr, batch_size)
        # exact up to the simulation's rounding (allowance) and the theory's (n eps |S| terms)
        assert np.all(np.abs(epochs * s_b - sim) <= allowance + 1e-13 * (1 + np.abs(sim)))


def test_batch_size_one_is_epoch_log_multiplier_bit_for_bit():
    rng = np.random.default_rng(102)
    x = rng.standard_normal((40, 25))
    lr = np.concatenate([[0.0], np.geomspace(1e-6, 50.0, 300), T.poles(x[0])])
    np.testing.assert_array_equal(T.batch_log_multiplier(x, lr, 1), T.epoch_log_multiplier(x, lr))
    # the scaled path (x^2 or 2 lr x^2 outside the normal range): the same bits too
    xe = x[:4].copy()
    xe[0, 3], xe[1, 5] = 1e200, 1e-170
    xe[2] *= 1e-160
    xe[3, 0] = 0.0
    lr_e = np.concatenate([lr, [1e300, 1e-300, 5e-324]])
    np.testing.assert_array_equal(T.batch_log_multiplier(xe, lr_e, 1), T.epoch_log_multiplier(xe, lr_e))
    # and the critical lr: the same pole table, the same search
    np.testing.assert_array_equal(T.batch_critical_lr(x, 1), T.critical_lr(x))
    xe[0, 3] = 1e150  # roots accept |x| <= 2**510
    np.testing.assert_array_equal(T.batch_critical_lr(xe, 1), T.critical_lr(xe))


def test_batch_overshoot_count():
    # the count trajectory_predictions gives mini-batch rows: batch_size=1 is overshoot_count bit for
    # bit (the same features, plain and scaled paths); B > 1 counts the batches with 2 lr c_k > 1
    from lrsweep.theory.batches import _batch_overshoot_count

    rng = np.random.default_rng(104)
    x = rng.standard_normal((6, 25))
    x[1] *= 1e-160
    x[2, 3], x[3, 5], x[4, 0] = 1e200, 1e-170, 0.0
    lr = np.concatenate([[0.0], np.geomspace(1e-6, 50.0, 200), T.poles(x[0]), [1e300, 1e-300]])
    np.testing.assert_array_equal(_batch_overshoot_count(x, lr, 1), T.overshoot_count(x, lr))
    for batch_size in (2, 7, 25):
        c = np.stack([batch_features(row, batch_size) for row in x[[0, 5]]])
        got = _batch_overshoot_count(x[[0, 5]], lr[1:201], batch_size)
        want = (2.0 * lr[None, 1:201, None] * c[:, None, :] > 1.0).sum(-1)
        # a product within an ulp of 1 may round either way: 2 lr c vs lr (2 c)
        near = (np.abs(2.0 * lr[None, 1:201, None] * c[:, None, :] - 1.0) < 1e-12).any(-1)
        np.testing.assert_array_equal(got[~near], want[~near])


@pytest.mark.parametrize("batch_size", [2, 3, 7])
def test_s_b_is_s_of_the_batch_features(batch_size):
    # S_B(lr) = S(sqrt(c)) exactly in real arithmetic; in floats sqrt(c)^2 moves each c by
    # <= 1 ulp, so the two agree to a few eps per term (n_b <= 15 terms of size <= 40)
    rng = np.random.default_rng(103)
    x = rng.standard_normal((5, 31))
    lr = np.geomspace(1e-3, 3.0, 97)
    for row in x:
        c = batch_features(row, batch_size)
        s_feat = T.epoch_log_multiplier(np.sqrt(c), lr)
        s_b = T.batch_log_multiplier(row, lr, batch_size)
        near = np.min(np.abs(1.0 - 2.0 * lr[:, None] * c[None, :]), axis=1) < 1e-8
        assert np.allclose(s_b[~near], s_feat[~near], rtol=1e-12, atol=1e-12)
        # the critical lr: the same root to within the ulp-moves of the poles
        assert T.batch_critical_lr(row, batch_size) == pytest.approx(T.critical_lr(np.sqrt(c)), rel=1e-12)


def test_full_batch_is_gradient_descent():
    rng = np.random.default_rng(104)
    x = rng.standard_normal((6, 9))
    lr = np.geomspace(1e-3, 3.0, 50)
    for b in (9, 10, 1000):
        s_b = T.batch_log_multiplier(x, lr, b)
        gd = np.log(np.abs(1.0 - 2.0 * lr[None, :] * np.mean(x**2, axis=1)[:, None]))
        np.testing.assert_allclose(s_b, gd, rtol=1e-13, atol=1e-15)
        # one pole 1/(2 mean x^2): the first root of log|1 - lr/p| is 2p = 1/mean(x^2)
        np.testing.assert_allclose(T.batch_critical_lr(x, b), T.gd_threshold(x), rtol=4 * EPS)


@pytest.mark.parametrize("batch_size", [2, 3, 8])
def test_batch_critical_lr_separates_simulated_convergence_and_divergence(batch_size):
    rng = np.random.default_rng(105)
    for row in rng.standard_normal((8, 24)):
        lc = T.batch_critical_lr(row, batch_size)
        c = batch_features(row, batch_size)
        assert 1.0 / (2.0 * c.max()) < lc <= 1.0 / c.min()
        # simulated epochs shrink |e| on a grid below lr_c (S_B < 0 there, by concavity) ...
        below = np.linspace(0.0, lc, 2001)[1:-1]
        below = below[np.min(np.abs(1.0 - 2.0 * below[:, None] * c[None, :]), axis=1) > 1e-9]
        sim, allowance = simulate_fixed(row, below, batch_size)
        assert np.all(sim < allowance)
        # ... and grow just above it: S_B(lc (1 + 1e-6)) ~ 1e-6 lc S_B'(lc) is far above rounding
        sim_hi, allowance_hi = simulate_fixed(row, [lc * (1 + 1e-6)], batch_size)
        sim_lo, allowance_lo = simulate_fixed(row, [lc * (1 - 1e-6)], batch_size)
        assert sim_hi[0] > allowance_hi[0] and sim_lo[0] < -allowance_lo[0]


def test_batch_functions_shapes_and_errors():
    x = np.random.default_rng(106).standard_normal((3, 10))
    assert T.batch_log_multiplier(x, np.ones((2, 4)) * 0.1, 3).shape == (3, 2, 4)
    assert np.ndim(T.batch_log_multiplier(x[0], 0.1, 3)) == 0
    assert T.batch_critical_lr(x, 4).shape == (3,)
    assert T.batch_critical_lr(np.zeros(5), 2) == math.inf
    assert T.batch_log_multiplier(np.empty((0, 4)), [0.1, 0.2], 2).shape == (0, 2)
    with pytest.raises(ParameterError, match="'batch_size' parameter of batch_ms_threshold must be a "
                       r"scalar or an array of integers in the range \[1, 2\*\*53\]. Got 1.5 instead."):
        T.batch_ms_threshold([1, 1.5])
    with pytest.raises(ParameterError, match="'x_scale' parameter of batch_as_threshold must be .* "
                       r"broadcastable against 'batch_size' of shape \(2,\)"):
        T.batch_as_threshold([1, 2], [1.0, 2.0, 3.0])


# --------------------------------------------------------------------------- population: mean square


def test_ms_threshold_closed_form_and_linear_scaling():
    b = np.array([1, 2, 4, 8, 16])
    np.testing.assert_allclose(T.batch_ms_threshold(b), b / (b + 2.0), rtol=EPS)
    assert T.batch_ms_threshold(1) == T.ms_threshold()  # the same float, not only close
    assert T.batch_ms_threshold(1, 0.5) == T.ms_threshold(0.5)
    np.testing.assert_allclose(T.batch_ms_threshold(4, [0.5, 2.0]), [4 / 6 / 0.25, 4 / 6 / 4.0], rtol=EPS)
    # threshold / B = 1/(B + 2): linear scaling fails from the first doubling on
    per_b = T.batch_ms_threshold(b) / b
    assert np.all(np.diff(per_b) < 0)
    assert T.batch_ms_threshold(2**40) == pytest.approx(1.0, rel=1e-11)  # the GD threshold 1/s^2


def draw_factor(rng, lr, batch_size, n):
    """``1 - lr A`` of ``n`` one-step simulations from ``theta = 1`` (y = 0, fresh N(0, 1) batches)."""
    xb = rng.standard_normal((n, batch_size))
    grad = np.mean(2.0 * xb * (1.0 * xb - 0.0), axis=1)
    return 1.0 - lr[:, None] * grad[None, :]  # theta after one step, per lr


@pytest.mark.parametrize("batch_size", [1, 2, 4, 8])
def test_ms_threshold_against_simulated_second_moment(batch_size):
    rng = np.random.default_rng(200 + batch_size)
    lc = T.batch_ms_threshold(batch_size)
    lr = lc * np.array([0.95, 1.05])
    # one step, 10^6 draws: E e_1^2 = E(1 - lr A)^2 = 1 + lr a2 (lr - lc) = 1 -+ 0.05 (1 -+ 0.05) 4/(1+2/B)
    f = draw_factor(rng, lr, batch_size, 1_000_000)
    m2 = np.mean(f**2, axis=1)
    se = np.std(f**2, axis=1) / 1000.0
    exact = 1.0 - 4.0 * lr + 4.0 * lr**2 * (1.0 + 2.0 / batch_size)
    assert np.all(np.abs(m2 - exact) < 5 * se)  # the recursion's coefficient, within 5 standard errors
    assert m2[0] < 1 - 5 * se[0] and m2[1] > 1 + 5 * se[1]  # shrinks below, grows above: > 5 SE from 1
    # two steps of whole trajectories (4e5 chains): E e_2^2 = rho^2 on either side of 1; the
    # heavy tail of e^2 makes longer runs useless for a mean (E e_T^4 grows like (E m^4)^T)
    theta = np.ones((2, 400_000))
    for _ in range(2):
        xb = rng.standard_normal((400_000, batch_size))
        theta = theta - lr[:, None] * np.mean(2.0 * xb * (theta[..., None] * xb - 0.0), axis=-1)
    m2_2, se_2 = np.mean(theta**2, axis=1), np.std(theta**2, axis=1) / math.sqrt(400_000)
    assert np.all(np.abs(m2_2 - exact**2) < 5 * se_2)
    assert m2_2[0] < 1 - 4 * se_2[0] and m2_2[1] > 1 + 4 * se_2[1]


# --------------------------------------------------------------------------- population: almost sure


def l2_closed_form(u):
    """E log|1 - u Y| for Y ~ Exp(1) (B = 2): -exp(-1/u) Ei(1/u) (integration by parts)."""
    from scipy.special import expi

    c = 1.0 / u
    if c > 500.0:  # exp(-c) Ei(c) = sum_k k!/c^(k+1) (asymptotic; 25 terms: error < 25!/500^26 ~ 1e-45)
        return -sum(math.factorial(k) / c ** (k + 1) for k in range(25))
    return -math.exp(-c) * float(expi(c))


@pytest.mark.parametrize("u", [1e-6, 1e-3, 0.1, 0.5, 1.0, 2.0, 2.6845, 3.0, 10.0, 1e3, 1e6, 1e8])
def test_b2_quadrature_matches_exponential_integral(u):
    # two independent computations, each accurate to ~1e-14 relative to max(1, |L|): require 1e-12
    exact = l2_closed_form(u)
    assert abs(T.batch_population_log_multiplier(u / 2.0, 2) - exact) < 1e-12 * max(1.0, abs(exact))


def test_b2_as_threshold_is_the_root_of_ei():
    from scipy.optimize import brentq
    from scipy.special import expi

    x0 = brentq(expi, 0.1, 1.0, xtol=1e-16)  # Ei(x0) = 0: L_2 = 0 at u = 1/x0
    assert T.batch_as_threshold(2) == pytest.approx(0.5 / x0, rel=1e-13)


def test_batch_one_is_the_per_sample_population():
    lr = np.array([0.0, 1e-9, 0.01, 0.2927, 1.0, 1.2106, 3.0, 1e6])
    np.testing.assert_array_equal(T.batch_population_log_multiplier(lr, 1), T.population_log_multiplier(lr))
    np.testing.assert_array_equal(T.batch_population_log_multiplier(lr, 1, 2.0),
                                  T.population_log_multiplier(lr, 2.0))
    assert T.batch_as_threshold(1) == T.as_threshold()
    assert T.batch_as_threshold(1, 3.0) == T.as_threshold(3.0)


@pytest.mark.parametrize("batch_size", [2, 3, 16])
def test_series_and_asymptotics_join_the_quadrature(batch_size):
    b = batch_size
    ey2, ey3 = 1 + 2 / b, (1 + 2 / b) * (1 + 4 / b)
    for u in (1e-8 * 0.999, 1e-8 * 1.001, 1e-5):  # series: next term ~ u^4 E Y^4 / 4 < 1e-19 relative
        series = -(u + u**2 * ey2 / 2 + u**3 * ey3 / 3)
        assert T.batch_population_log_multiplier(u / 2, b) == pytest.approx(series, rel=1e-12)
    from scipy.special import digamma

    for u in (1e7, 1e8, 1e9 * 0.999, 1e9 * 1.001):
        # log u + E log Y - E[1/Y]/u (B > 2; for B = 2, (1/u)(log(1/u) + gamma - 1)): the next terms are
        # O(u^-3/2) or smaller, below 1e-12 from u = 1e8 on; quadrature below 1e9, expansion above
        r = 1.0 / u
        tail = r * (math.log(r) + 0.5772156649015329 - 1.0) if b == 2 else -r * b / (b - 2)
        expansion = math.log(u) + digamma(b / 2) + math.log(2 / b) + tail
        assert abs(T.batch_population_log_multiplier(u / 2, b) - expansion) < (1e-10 if u < 1e8 else 1e-12)


def test_as_thresholds_against_known_values_and_gd_limit():
    b = np.array([1, 2, 4, 8, 16, 64, 1024])
    lr_as = T.batch_as_threshold(b)
    np.testing.assert_allclose(lr_as, [1.2106247605, 1.34225518, 1.33149783, 1.24628946, 1.14965119,
                                       1.03440561, 1.00196215], rtol=1e-8)
    np.testing.assert_allclose(T.batch_population_log_multiplier(lr_as, b), 0.0, atol=1e-12)
    assert np.all(lr_as > T.batch_ms_threshold(b))  # Jensen: the a.s. threshold is above the m.s. one
    small = T.batch_as_threshold(np.arange(1, 9))
    assert np.argmax(small) == 2 and np.all(np.diff(small[2:]) < 0)  # largest at B = 3, then falling
    np.testing.assert_allclose(T.batch_as_threshold(4, [0.5, 2.0]), lr_as[2] / np.array([0.25, 4.0]),
                               rtol=EPS)


@pytest.mark.parametrize("batch_size", [2, 4, 16])
def test_as_threshold_against_simulated_growth(batch_size):
    # 200 chains x 2000 steps of fresh-sample mini-batch SGD (y = 0) at lr_as (1 -+ 5%) and two more
    # learning rates: the mean log-growth per step is L_B within 4 standard errors (chains are
    # independent: SE = sd of the per-chain means / sqrt(200), about 2e-3 here), and its sign flips
    # at the threshold (|L_B| at +-5% is > 6 SE, checked first so that the test has the power)
    rng = np.random.default_rng(300 + batch_size)
    lr_as = T.batch_as_threshold(batch_size)
    lr = np.array([0.3, 0.95 * lr_as, 1.05 * lr_as, 1.6])
    n_chains, n_steps = 200, 2000
    theta = np.ones((lr.size, n_chains))
    acc = np.zeros_like(theta)
    for _ in range(n_steps):
        xb = rng.standard_normal((n_chains, batch_size))
        grad = np.mean(2.0 * xb * (theta[..., None] * xb - 0.0), axis=-1)
        theta = theta - lr[:, None] * grad
        acc += np.log(np.abs(theta))
        theta = theta / np.abs(theta)  # |theta| = 1: the recursion is linear in theta
    per_chain = acc / n_steps
    mean, se = per_chain.mean(axis=1), per_chain.std(axis=1, ddof=1) / math.sqrt(n_chains)
    theory = T.batch_population_log_multiplier(lr, batch_size)
    assert np.all(np.abs(theory[1:3]) > 6 * se[1:3])
    assert np.all(np.abs(mean - theory) < 4 * se)
    assert mean[1] < 0 < mean[2]
