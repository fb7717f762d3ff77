"""Tests of lrsweep.theory.noise: the stationary mean-square error with batches and momentum.

The closed form is checked against a numerical solve of the 3 x 3 moment
system written independently in (e, v) coordinates, against the engine's
per-sample noise floor, and against simulated SGD with noise (fresh samples
and resampling a fixed dataset) written here from PyTorch's update rule.
Every random draw has a fixed seed; each tolerance is stated with its reason.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from lrsweep import theory as T


def solve_moments(m2, m4, m2r2, lr, b, beta, nesterov):
    """Stationary (E e^2, E e v, E v^2) by ``numpy.linalg.solve`` in (e, v) coordinates.

    With ``g = A e - b``, ``A`` and ``b`` the batch means of ``2 x^2`` and
    ``2 x r``: ``e' = (1 - k A) e - h v + k b``, ``v' = A e + beta v - b`` with
    ``(k, h) = (lr, lr beta)`` (heavy ball) or ``(lr (1 + beta), lr beta^2)``
    (Nesterov); ``a1 = E A``, ``a2 = E A^2``, ``c = E b^2``.
    """
    a1 = 2.0 * m2
    a2 = 4.0 * (m4 / b + (1.0 - 1.0 / b) * m2**2)
    c = 4.0 * m2r2 / b
    k, h = (lr * (1 + beta), lr * beta**2) if nesterov else (lr, lr * beta)
    m = np.array([
        [1 - 2 * k * a1 + k**2 * a2, -2 * h * (1 - k * a1), h**2],
        [a1 - k * a2, beta - k * beta * a1 - h * a1, -h * beta],
        [a2, 2 * beta * a1, beta**2],
    ])
    forcing = c * np.array([k**2, -k, 1.0])
    return np.linalg.solve(np.eye(3) - m, forcing), m


def test_closed_form_solves_the_moment_system():
    rng = np.random.default_rng(800)
    for nesterov in (False, True):
        for _ in range(200):
            m2 = rng.uniform(0.2, 3.0)
            m4 = m2**2 * rng.uniform(1.0, 6.0)
            m2r2, beta, b = rng.uniform(0.0, 2.0), rng.uniform(0.0, 0.99), int(rng.integers(1, 33))
            lr_c = T.momentum_ms_threshold(beta, b, nesterov) * 3.0  # wide range; some outside
            lr = rng.uniform(0.0, 1.0) * lr_c / m2
            sol, m = solve_moments(m2, m4, m2r2, lr, b, beta, nesterov)
            out = T.stationary_mse(m2, m4, m2r2, lr, b, beta, nesterov)
            if np.abs(np.linalg.eigvals(m)).max() < 1.0 - 1e-3:
                # inside the region: the two solutions agree to rounding (cond(I - M) <= ~1e5 here)
                assert out == pytest.approx(sol[0], rel=1e-9, abs=1e-300)
            elif np.abs(np.linalg.eigvals(m)).max() > 1.0 + 1e-9:
                assert out == math.inf


def test_per_sample_formula_bit_for_bit_with_the_engine_noise_floor():
    from lrsweep.engine.chunk import noise_floor

    rng = np.random.default_rng(801)
    x = rng.standard_normal((50, 30))
    y = 3.0 * x + 0.5 * rng.standard_normal(x.shape)
    ref = np.sum(x * y, axis=1, keepdims=True) / np.sum(x * x, axis=1, keepdims=True)
    r = y - ref * x
    m2, m4, m2r2 = np.mean(x**2, axis=1), np.mean(x**4, axis=1), np.mean(x**2 * r**2, axis=1)
    lr = rng.uniform(0.0, 0.6, 50)
    _, floor2 = noise_floor(lr, m2, m2r2, m4, 1.0)  # noise_factor 1: floor2 = v where it exists
    out = T.stationary_mse(m2, m4, m2r2, lr)
    inside = floor2 >= 0
    assert inside.sum() > 20 and (~inside).sum() > 5
    np.testing.assert_array_equal(out[inside], floor2[inside])
    assert np.all(out[~inside] == np.inf)
    # and the formula itself, written out
    np.testing.assert_array_equal(out[inside], (lr * m2r2 / (m2 - lr * m4))[inside])


def test_population_wrapper_edges_and_shapes():
    lr = np.array([0.0, 0.05, 0.2, 1.0 / 3.0, 0.5])
    expected = [0.0, 0.25 * 0.05 / 0.85, 0.25 * 0.2 / 0.4, np.inf, np.inf]  # sigma^2 lr / (1 - 3 lr s^2)
    np.testing.assert_allclose(T.population_stationary_mse(lr, 0.5), expected, rtol=1e-15)
    np.testing.assert_allclose(T.population_stationary_mse(lr / 4.0, 0.5, 2.0), expected / np.array(4.0),
                               rtol=1e-15)
    for b, beta, nes in ((1, 0.0, False), (4, 0.5, False), (2, 0.9, True)):
        # s = 2, sigma = 0.3: m2 = 4, m4 = 48, m2r2 = 0.36
        gaussian_moments = T.stationary_mse(4.0, 48.0, 4.0 * 0.09, lr / 4.0, b, beta, nes)
        np.testing.assert_allclose(T.population_stationary_mse(lr / 4.0, 0.3, 2.0, b, beta, nes),
                                   gaussian_moments, rtol=1e-13)
        lc = T.momentum_ms_threshold(beta, b, nes)
        assert T.population_stationary_mse(lc * (1 + 1e-12), 1.0, 1.0, b, beta, nes) == math.inf
        assert math.isfinite(T.population_stationary_mse(lc * (1 - 1e-9), 1.0, 1.0, b, beta, nes))
    assert T.population_stationary_mse(0.0, 1.0) == 0.0
    assert T.population_stationary_mse(0.1, 0.0) == 0.0  # no noise: e -> 0 inside the region
    assert T.population_stationary_mse(0.5, 0.0) == math.inf
    assert T.stationary_mse(1.0, 3.0, 1.0, np.ones((2, 3)) * 0.1, [1, 2, 4], [[0.0], [0.5]]).shape == (2, 3)
    # momentum and larger batches: more samples per step lower the floor, momentum raises it
    f = T.population_stationary_mse(0.1, 1.0, 1.0, [1, 2, 4, 8])
    assert np.all(np.diff(f) < 0)
    g = T.population_stationary_mse(0.02, 1.0, 1.0, 1, [0.0, 0.5, 0.9])
    assert np.all(np.diff(g) > 0)


def stationary_by_simulation(draw, lr, beta, nesterov, n_chains, burn, n_avg, rng):
    """Per-chain time averages of ``e^2`` after ``burn`` steps of SGD with momentum from ``e = v = 0``.

    ``draw(rng)`` returns a batch ``(x, y)`` of shape ``(n_chains, B)`` and the
    reference ``ref`` (``e = theta - ref``). Chains are independent, so the
    standard error of the mean of the per-chain averages is their standard
    deviation over ``sqrt(n_chains)`` whatever the correlation in time.
    """
    ref = draw(None)
    theta, v = np.full(n_chains, ref), np.zeros(n_chains)
    acc = np.zeros(n_chains)
    for t in range(burn + n_avg):
        xb, yb = draw(rng)
        grad = np.mean(2.0 * xb * (theta[:, None] * xb - yb), axis=1)
        v = beta * v + grad
        theta = theta - lr * (grad + beta * v) if nesterov else theta - lr * v
        if t >= burn:
            acc += (theta - ref) ** 2
    per_chain = acc / n_avg
    return per_chain.mean(), per_chain.std(ddof=1) / math.sqrt(n_chains)


def burn_in(lr, beta, b, nesterov, x_scale=1.0):
    """Steps after which E e^2 from 0 is within 1e-3 of stationary: rho(M)^t < 1e-3."""
    rho = T.momentum_ms_radius(lr, beta, b, nesterov, x_scale)
    return math.ceil(math.log(1e-3) / math.log(rho))


@pytest.mark.parametrize(("batch_size", "beta", "nesterov"),
                         [(1, 0.0, False), (4, 0.5, False), (2, 0.9, False), (1, 0.7, True), (3, 0.5, True)])
def test_stationary_mse_against_fresh_sample_simulation(batch_size, beta, nesterov):
    # y = a x + sigma Z with a = 0 (so theta_ref = 0 and e = theta), x ~ N(0, 1.5^2), sigma = 0.7, at 40 %
    # of the mean-square threshold (finite fourth moments, so the standard error is reliable)
    s, sigma = 1.5, 0.7
    rng = np.random.default_rng(810 + batch_size)
    lr = 0.4 * T.momentum_ms_threshold(beta, batch_size, nesterov, s)

    def draw(gen):
        if gen is None:
            return 0.0
        xb = s * gen.standard_normal((2000, batch_size))
        return xb, sigma * gen.standard_normal((2000, batch_size))

    burn = burn_in(lr, beta, batch_size, nesterov, s)
    mean, se = stationary_by_simulation(draw, lr, beta, nesterov, 2000, burn, 1500, rng)
    theory = T.population_stationary_mse(lr, sigma, s, batch_size, beta, nesterov)
    # within 5 standard errors (SE ~ 1 % of the value) plus the 0.1 % burn-in bias
    assert abs(mean - theory) < 5 * se + 1e-3 * theory
    # the test can tell: dropping the batch factor 1/B or the momentum factor would miss by > 10 SE
    assert se < 0.02 * theory


@pytest.mark.parametrize(("batch_size", "beta", "nesterov"),
                         [(1, 0.0, False), (3, 0.5, False), (2, 0.6, True)])
def test_stationary_mse_against_resampling_a_dataset(batch_size, beta, nesterov):
    # 'replacement' order: every step draws B indices uniformly with replacement from one noisy dataset;
    # the dataset's moments (about theta_ref, the least-squares fit) give the stationary E e^2
    rng = np.random.default_rng(820 + batch_size)
    x = rng.standard_normal(25)
    y = 2.0 * x + 0.8 * rng.standard_normal(25)
    ref = float(np.sum(x * y) / np.sum(x * x))
    r = y - ref * x
    m2, m4, m2r2 = np.mean(x**2), np.mean(x**4), np.mean(x**2 * r**2)
    lr = 0.4 * float(T.momentum_ms_threshold(beta, batch_size, nesterov)) / m2

    def draw(gen):
        if gen is None:
            return ref
        idx = gen.integers(0, x.size, (2000, batch_size))
        return x[idx], y[idx]

    burn = burn_in(lr * m2, beta, batch_size, nesterov) * 2  # the dataset's rho is close to N(0, m2)'s
    mean, se = stationary_by_simulation(draw, lr, beta, nesterov, 2000, burn, 1500, rng)
    theory = T.stationary_mse(m2, m4, m2r2, lr, batch_size, beta, nesterov)
    assert abs(mean - theory) < 5 * se + 1e-3 * theory
    assert se < 0.02 * theory
