"""Tests of lrsweep.theory.momentum: epoch growth per dataset, mean-square region, Lyapunov estimate.

The simulators below follow PyTorch's SGD literally (``v <- beta v + g``;
heavy ball ``theta <- theta - lr v``, Nesterov ``theta <- theta - lr (g +
beta v)``; ``g`` the mean gradient of the batch), in float64 with fixed
seeds. Noise-free runs use ``y = 0``: theta is the error and the update is
linear in ``(theta, v)``. Every tolerance is stated with its reason.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from lrsweep import theory as T
from lrsweep.theory import momentum as M

EPS = float(np.finfo(np.float64).eps)


def sgd_step(theta, v, xb, lr, beta, nesterov):
    """One step of PyTorch's SGD with momentum on the batch ``xb`` (last axis), y = 0."""
    grad = np.mean(2.0 * xb * (theta[..., None] * xb - 0.0), axis=-1)
    v = beta * v + grad
    theta = theta - lr * (grad + beta * v) if nesterov else theta - lr * v
    return theta, v


def epoch_matrix_by_simulation(x, lr, beta, batch_size, nesterov):
    """The epoch map in (e, w = lr v) coordinates: one simulated epoch from (1, 0) and from (0, 1)."""
    theta = np.array([[1.0], [0.0]]) * np.ones(lr.shape)
    v = np.array([[0.0], [1.0]]) / lr  # w = lr v = 1
    for k0 in range(0, len(x), batch_size):
        xb = x[k0 : k0 + batch_size]
        theta, v = sgd_step(theta, v, xb[None, None, :], lr, beta, nesterov)
    p = np.empty((*lr.shape, 2, 2))
    p[..., 0, :] = theta.T
    p[..., 1, :] = (lr * v).T
    return p


# --------------------------------------------------------------------------- per dataset


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize(("batch_size", "beta"), [(1, 0.3), (1, 0.9), (3, 0.5), (7, 0.8)])
def test_epoch_growth_is_log_spectral_radius_of_the_simulated_epoch_map(batch_size, beta, nesterov):
    rng = np.random.default_rng(600 + batch_size)
    x = rng.standard_normal(7)
    lr = np.geomspace(1e-3, 2.0, 80)
    p = epoch_matrix_by_simulation(x, lr, beta, batch_size, nesterov)
    lam = np.linalg.eigvals(p)
    # a double eigenvalue is ill-conditioned (an eps perturbation moves it by sqrt(eps)): compare where
    # the two are apart; then the entries' rounding (~ n eps relative) moves log rho by < 1e-12
    apart = np.abs(lam[:, 0] - lam[:, 1]) > 1e-3 * np.abs(lam).max(axis=1)
    assert apart.sum() > 40
    sim = np.log(np.abs(lam).max(axis=1))
    theory = T.momentum_epoch_growth(x, lr, beta, batch_size, nesterov)
    np.testing.assert_allclose(theory[apart], sim[apart], rtol=1e-10, atol=1e-10)


def test_asymptotic_growth_is_the_spectral_radius_not_a_norm():
    # a non-normal epoch map: ||P|| = 3.5 > 1 while rho(P) = 0.77 < 1 (found by a scan, see the numbers)
    x = np.random.default_rng(601).standard_normal(5)
    lr, beta = np.array([0.05]), 0.9
    p = epoch_matrix_by_simulation(x, lr, beta, 1, False)[0]
    assert np.linalg.norm(p, 2) > 3 and float(T.momentum_epoch_growth(x, 0.05, beta)) < math.log(0.8)
    # 400 simulated epochs from the unit state P stretches most (its top right singular vector in
    # (e, w = lr v)): |state| first grows by ||P||, then decays at the rate rho
    start = np.linalg.svd(p)[2][0]
    theta, v = np.array([start[0]]), np.array([start[1]]) / lr
    log_norm, shift = [], 0.0
    for _ in range(400):
        for xi in x:
            theta, v = sgd_step(theta, v, np.array([[xi]]), lr, beta, False)
        log_norm.append(math.log(math.hypot(theta[0], lr[0] * v[0])) + shift)
        _, e = np.frexp(max(abs(theta[0]), abs(lr[0] * v[0])))
        theta, v, shift = np.ldexp(theta, -e), np.ldexp(v, -e), shift + e * math.log(2.0)
    assert log_norm[0] == pytest.approx(math.log(np.linalg.norm(p, 2)), rel=1e-12)  # grows by ||P|| > 3
    # the slope over epochs 100..400 is log rho up to the bounded oscillation of the state within the
    # eigenvector basis: |error| <= 2 log cond(V) / 300
    slope = (log_norm[399] - log_norm[99]) / 300
    cond = np.linalg.cond(np.linalg.eig(p)[1])
    assert abs(slope - float(T.momentum_epoch_growth(x, 0.05, beta))) <= 2 * math.log(cond) / 300


@pytest.mark.parametrize("batch_size", [1, 2, 5])
def test_zero_momentum_is_batch_log_multiplier(batch_size):
    x = np.random.default_rng(602).standard_normal((4, 11))
    lr = np.geomspace(1e-3, 3.0, 60)
    s_b = T.batch_log_multiplier(x, lr, batch_size)
    for nesterov in (False, True):
        # a product of n_b factors against a sum of their logs: n_b eps relative each way
        g = T.momentum_epoch_growth(x, lr, 0.0, batch_size, nesterov)
        np.testing.assert_allclose(g, s_b, rtol=1e-13, atol=1e-13)


def test_epoch_growth_shapes_extremes_and_broadcast():
    x = np.random.default_rng(603).standard_normal((3, 6))
    assert T.momentum_epoch_growth(x, [[0.1], [0.2]], [0.0, 0.5, 0.9]).shape == (3, 2, 3)
    assert np.ndim(T.momentum_epoch_growth(x[0], 0.1, 0.5)) == 0
    # a pole with beta = 0: the epoch product is singular, rho = 0
    assert T.momentum_epoch_growth([0.5, 1.0], 2.0, 0.0) == -math.inf
    # |x| = 1e200 (x^2 and lr x^2 overflow): finite, from the rescaled factors; for huge X the heavy
    # ball step is ~X [[-1, 0], [1, 0]] + O(1), so the epoch grows like sum log X_k
    g = T.momentum_epoch_growth([1e200, 1e200], 0.1, 0.5)
    assert math.isfinite(g) and g == pytest.approx(2 * (math.log(0.2) + 400 * math.log(10.0)), rel=1e-12)
    with pytest.raises(ValueError, match="'momentum' parameter of momentum_epoch_growth must be .* "
                       r"broadcastable against 'lr' of shape \(2,\)"):
        T.momentum_epoch_growth(x, [0.1, 0.2], [0.1, 0.2, 0.3])


# --------------------------------------------------------------------------- mean square


@pytest.mark.parametrize(("beta", "batch_size", "nesterov"),
                         [(0.0, 1, False), (0.5, 1, False), (0.5, 1, True), (0.9, 1, False), (0.9, 1, True),
                          (0.5, 4, False), (0.5, 4, True)])
def test_moment_matrix_and_threshold_against_one_step_simulation(beta, batch_size, nesterov):
    rng = np.random.default_rng(700 + batch_size)
    n = 400_000
    xb = rng.standard_normal((n, batch_size))
    lc = T.momentum_ms_threshold(beta, batch_size, nesterov)
    for lr in (0.95 * lc, 1.05 * lc):
        # one step from three states (e, w) = (1, 0), (0, 1), (1, 1): their second-moment vectors
        # (1,0,0), (0,0,1), (1,1,1) give M's columns 0, 2 and the sum of all three
        per_sample = []
        for e0, w0 in ((1.0, 0.0), (0.0, 1.0), (1.0, 1.0)):
            theta, v = sgd_step(np.full(n, e0), np.full(n, w0 / lr), xb, lr, beta, nesterov)
            w = lr * v
            per_sample.append(np.stack([theta * theta, theta * w, w * w]))
        samples = [per_sample[0], per_sample[2] - per_sample[0] - per_sample[1], per_sample[1]]
        m_sim = np.stack([s.mean(axis=1) for s in samples], axis=1)
        se = np.stack([s.std(axis=1) for s in samples], axis=1) / math.sqrt(n)
        m_theory = M._moment_matrix(np.float64(lr), np.float64(beta), np.float64(batch_size), nesterov)
        # each of the 9 entries within 5 standard errors (SE ~ 1.6e-3 of its spread)
        assert np.all(np.abs(m_sim - m_theory) <= 5 * se + 1e-15)
        # rho of the simulated matrix is on the right side of 1, with a margin of > 5 times its spread
        # over 20 sub-samples of 20,000 draws (divided by sqrt(20) for the whole sample); the margins
        # are 9-32 such standard errors here
        rhos = []
        for chunk in np.array_split(np.arange(n), 20):
            m_chunk = np.stack([s[:, chunk].mean(axis=1) for s in samples], axis=1)
            rhos.append(np.abs(np.linalg.eigvals(m_chunk)).max())
        rho_sim = np.abs(np.linalg.eigvals(m_sim)).max()
        se_rho = np.std(rhos, ddof=1) / math.sqrt(20)
        assert (rho_sim - 1.0) * (1 if lr > lc else -1) > 5 * se_rho
        assert abs(rho_sim - T.momentum_ms_radius(lr, beta, batch_size, nesterov)) < 5 * se_rho


@pytest.mark.parametrize("nesterov", [False, True])
def test_second_moments_over_several_steps_of_whole_trajectories(nesterov):
    # 4 steps of 200,000 chains at lr = lc/2: E(e^2, e w, w^2) = M^4 (1, 0, 0) within 5 standard errors
    # (chains are independent; at lc/2 the fourth moments are finite and the SE reliable)
    rng = np.random.default_rng(710)
    beta, b, n = 0.6, 2, 200_000
    lr = 0.5 * T.momentum_ms_threshold(beta, b, nesterov)
    theta, v = np.ones(n), np.zeros(n)
    for _ in range(4):
        theta, v = sgd_step(theta, v, rng.standard_normal((n, b)), lr, beta, nesterov)
    w = lr * v
    sim = np.array([np.mean(theta**2), np.mean(theta * w), np.mean(w**2)])
    se = np.array([np.std(theta**2), np.std(theta * w), np.std(w**2)]) / math.sqrt(n)
    m = M._moment_matrix(np.float64(lr), np.float64(beta), np.float64(b), nesterov)
    assert np.all(np.abs(sim - np.linalg.matrix_power(m, 4) @ [1.0, 0.0, 0.0]) < 5 * se)


def test_ms_region_is_an_interval_with_the_closed_form_end():
    for nesterov in (False, True):
        for beta in (0.0, 0.3, 0.6, 0.9, 0.99):
            for b in (1, 2, 8):
                lc = T.momentum_ms_threshold(beta, b, nesterov)
                assert T.momentum_ms_radius(lc, beta, b, nesterov) == pytest.approx(1.0, abs=1e-12)
                grid = np.linspace(0.0, 4.0 * lc, 801)[1:]
                grid = grid[np.abs(grid / lc - 1.0) > 1e-9]  # rho = 1 +- rounding right at lc
                rho = T.momentum_ms_radius(grid, beta, b, nesterov)
                np.testing.assert_array_equal(rho < 1.0, grid < lc)


def test_det_of_i_minus_m_is_four_lr_d():
    # the algebra behind the closed forms: det(I - M) = 4 u D(u) (s = 1, D of the module docstring)
    rng = np.random.default_rng(711)
    for nesterov in (False, True):
        for _ in range(50):
            u, beta, b = rng.uniform(0, 1), rng.uniform(0, 0.99), int(rng.integers(1, 17))
            e2 = 1.0 + 2.0 / b
            gamma, delta = (beta * (1 + 2 * beta), 1.0) if nesterov else (beta, 0.0)
            d = (1 - beta**2) - u * ((1 + beta) * e2 - 2 * gamma) - 2 * delta * gamma * e2 * u**2
            m = M._moment_matrix(np.float64(u), np.float64(beta), np.float64(b), nesterov)
            assert np.linalg.det(np.eye(3) - m) == pytest.approx(4 * u * d, rel=1e-9, abs=1e-13)


def test_ms_threshold_values_and_reductions():
    b = np.array([1, 2, 4, 8, 16])
    np.testing.assert_allclose(T.momentum_ms_threshold(0.0, b), T.batch_ms_threshold(b), rtol=EPS)
    np.testing.assert_allclose(T.momentum_ms_threshold(0.0, b, True), T.batch_ms_threshold(b), rtol=EPS)
    beta = np.array([0.0, 0.5, 0.9])
    np.testing.assert_allclose(T.momentum_ms_threshold(beta), (1 - beta**2) / (3 + beta), rtol=1e-15)
    np.testing.assert_allclose(T.momentum_ms_threshold(beta, 1, True), [1 / 3, 0.2020357417, 0.0923783050],
                               rtol=1e-9)
    np.testing.assert_allclose(T.momentum_ms_threshold(0.5, 1, False, [0.5, 2.0]),
                               np.array([4.0, 0.25]) * 0.75 / 3.5, rtol=EPS)
    # beta = 0: rho(M) = E(1 - lr A)^2
    lr = np.linspace(0, 1, 11)
    np.testing.assert_allclose(T.momentum_ms_radius(lr, 0.0, 1), np.abs(1 - 4 * lr + 12 * lr**2), atol=1e-15)


# --------------------------------------------------------------------------- almost sure (Monte Carlo)


@pytest.mark.parametrize("batch_size", [1, 4])
def test_lyapunov_estimate_without_momentum_is_l_b(batch_size):
    lr = np.array([0.1, 0.5, 1.2, 1.6])
    est = T.momentum_lyapunov_exponent(lr, 0.0, batch_size, n_steps=2000, n_chains=64, rng=11)
    exact = T.batch_population_log_multiplier(lr, batch_size)
    # within 4 standard errors (SE ~ 3e-3); the O(1/n_steps) bias of a 1 x 1 product is 0
    assert np.all(np.abs(est.exponent - exact) < 4 * est.standard_error)


def simulate_lyapunov(lr, beta, batch_size, nesterov, n_steps, n_chains, seed):
    """Independent estimate: literal SGD (theta, v) from fresh samples, log-growth of |(theta, lr v)|."""
    rng = np.random.default_rng(seed)
    theta, v = np.ones((lr.size, n_chains)), np.zeros((lr.size, n_chains))
    acc = np.zeros_like(theta)
    for t in range(n_steps):
        xb = rng.standard_normal((1, n_chains, batch_size))
        theta, v = sgd_step(theta, v, xb, lr[:, None], beta, nesterov)
        norm = np.hypot(theta, lr[:, None] * v)
        if t >= n_steps // 10:
            acc += np.log(norm)
        theta, v = theta / norm, v / norm
    per_chain = acc / (n_steps - n_steps // 10)
    return per_chain.mean(axis=1), per_chain.std(axis=1, ddof=1) / math.sqrt(n_chains)


@pytest.mark.parametrize(("beta", "nesterov", "batch_size"),
                         [(0.5, False, 1), (0.9, False, 2), (0.7, True, 1)])
def test_lyapunov_estimate_agrees_with_an_independent_simulation(beta, nesterov, batch_size):
    lc = T.momentum_ms_threshold(beta, batch_size, nesterov)
    lr = lc * np.array([0.5, 1.5, 3.0])
    est = T.momentum_lyapunov_exponent(lr, beta, batch_size, nesterov, n_steps=2000, n_chains=64, rng=12)
    sim, se = simulate_lyapunov(lr, beta, batch_size, nesterov, 2000, 64, seed=13)
    # two independent Monte Carlo estimates: within 5 combined standard errors plus the O(1/n_steps)
    # burn-in bias both share (2e-3 covers log(cond) / 1800 steps for these matrices)
    assert np.all(np.abs(est.exponent - sim) < 5 * np.hypot(est.standard_error, se) + 2e-3)
    # above the mean-square threshold (1.5 lc) almost every run still converges: lambda < 0 by > 5 SE
    assert est.exponent[1] < -5 * est.standard_error[1]


def test_lyapunov_estimate_is_seeded_and_shaped():
    a = T.momentum_lyapunov_exponent([0.1, 0.2], 0.5, n_steps=50, n_chains=4, rng=3)
    b = T.momentum_lyapunov_exponent([0.1, 0.2], 0.5, n_steps=50, n_chains=4, rng=3)
    np.testing.assert_array_equal(a.exponent, b.exponent)
    gen = np.random.default_rng(3)
    first = T.momentum_lyapunov_exponent([0.1, 0.2], 0.5, n_steps=50, n_chains=4, rng=gen)
    np.testing.assert_array_equal(first.exponent, a.exponent)
    second = T.momentum_lyapunov_exponent([0.1, 0.2], 0.5, n_steps=50, n_chains=4, rng=gen)
    assert not np.array_equal(second.exponent, a.exponent)  # the generator was advanced
    shaped = T.momentum_lyapunov_exponent(np.full((2, 3), 0.1), [0.0, 0.5, 0.9], [[1], [2]], n_steps=20,
                                          n_chains=3, rng=0)
    assert shaped.exponent.shape == shaped.standard_error.shape == (2, 3)
