"""lrsweep.theory.noise: stationary mean-square error with noise (closed forms, batches and momentum,
simulation, the engine) and the bound of shuffled epochs (brute force over permutations, simulation)."""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest

import lrsweep
from lrsweep import theory as T
from lrsweep._validation import ParameterError
from lrsweep.data import make_dataset


def _stationary_variance(lr, x_scale=1.0, noise=1.0):
    """Plain SGD (B = 1, beta = 0), fresh samples: the population closed form lr sigma^2 / (1 - 3 lr s^2)."""
    return T.population_stationary_mse(lr, noise, x_scale)


# ------------------------------------------------------------------ fresh samples: closed form
def test_stationary_variance_closed_form_threshold_and_scaling():
    lr = np.array([0.0, 0.01, 0.1, 0.2, 0.3])
    np.testing.assert_allclose(_stationary_variance(lr), lr / (1 - 3 * lr), rtol=1e-15)
    # the threshold 1/(3 s^2) and above: no finite mean-square fixed point
    assert _stationary_variance(1 / 3) == math.inf
    assert np.all(np.isinf(_stationary_variance([0.34, 0.5, 1.2, 1e300])))
    assert _stationary_variance(0.2 / 4, x_scale=2.0) == pytest.approx(_stationary_variance(0.2) / 4)
    # v(lr, s, sigma) = sigma^2 / s^2 v(lr s^2, 1, 1), and it broadcasts
    got = _stationary_variance(np.array([[0.01], [0.05]]), x_scale=[0.5, 2.0], noise=0.3)
    want = 0.3**2 / np.array([0.25, 4.0]) * _stationary_variance(np.array([[0.01], [0.05]]) * [0.25, 4.0])
    assert got.shape == (2, 2)
    np.testing.assert_allclose(got, want, rtol=1e-14)
    assert _stationary_variance(0.2, noise=0.0) == 0.0


def test_stationary_variance_is_the_fixed_point_of_the_mean_square_recursion():
    lr, s, sigma = 0.12, 1.3, 0.7
    g = 1 - 4 * lr * s**2 + 12 * lr**2 * s**4  # E (1 - 2 lr X^2)^2
    q = 4 * lr**2 * s**2 * sigma**2  # E (2 lr X eps)^2
    m = 25.0
    for _ in range(2000):
        m = g * m + q
    assert _stationary_variance(lr, s, sigma) == pytest.approx(m, rel=1e-13)


def test_stationary_variance_against_simulation():
    """Plain NumPy SGD on fresh samples from e_0 = 0: the mean of e_K^2 over 20,000 runs is the closed
    form within 4 standard errors (lr where e^2 has a finite variance: tail index > 4)."""
    rng = np.random.default_rng(2024)
    s, sigma, runs, steps = 1.5, 0.5, 20_000, 150
    for lr in (0.02, 0.06):  # u = 2 lr s^2 = 0.09, 0.27; tail index 20 and 5.4
        assert T.tail_index(lr, s) > 4
        theta = np.full(runs, 5.0)
        for _ in range(steps):
            x = rng.normal(0, s, runs)
            y = 5.0 * x + rng.normal(0, sigma, runs)
            theta = theta + 2 * lr * x * (y - theta * x)
        e2 = (theta - 5.0) ** 2
        se = e2.std(ddof=1) / math.sqrt(runs)
        v = _stationary_variance(lr, s, sigma)
        assert abs(e2.mean() - v) < 4 * se, (lr, e2.mean(), v, se)


# ------------------------------------------------------------------ one dataset, with replacement
def test_dataset_formula_by_hand_and_the_population_limit():
    x, y = np.array([1.0, -1.0, 2.0]), np.array([1.5, -0.5, 2.0])  # theta_ref = 1, r = (.5, .5, 0)
    assert T.dataset_stationary_mse(x, y, 0.1) == pytest.approx(0.1 * (1 / 6) / (2 - 0.1 * 6), rel=1e-15)
    assert T.dataset_stationary_mse(x, y, 0.0) == 0.0
    assert T.dataset_stationary_mse(x, y, 2 / 6) == math.inf  # mean(x^2) / mean(x^4) = 1/3
    # a large Gaussian dataset approaches the fresh-sample closed form; stacks and lr arrays broadcast
    ds = make_dataset(7, 200_000, noise=0.8, x_scale=1.2, coef=5.0)
    lr = np.array([0.02, 0.1, 0.2])
    np.testing.assert_allclose(T.dataset_stationary_mse(ds.x, ds.y, lr),
                               _stationary_variance(lr, 1.2, 0.8), rtol=0.03)
    stack = T.dataset_stationary_mse(np.stack([x, 2 * x]), np.stack([y, y]), [[0.1], [0.01]])
    assert stack.shape == (2, 2, 1)
    assert stack[0, 0, 0] == T.dataset_stationary_mse(x, y, 0.1)
    # features whose fourth powers overflow: v(a x, y, lr / a^2) = v(x, y, lr) / a^2 still holds
    assert T.dataset_stationary_mse(1e100 * x, y, 0.1e-200) == pytest.approx(
        T.dataset_stationary_mse(x, y, 0.1) / 1e200, rel=1e-12)


def test_dataset_formula_is_the_engines_noise_rms():
    """The results' noise_rms (the engine's moments) is sqrt of the theory's v, NaN where v is inf."""
    cfg = lrsweep.SweepConfig(n_samples=40, noise=0.7, order="replacement", lr=[0.05, 0.2, 0.3, 0.6],
                              seed=range(4), epochs=1)
    f = lrsweep.sweep(cfg, progress=False).frame
    for seed, g in f.groupby("seed"):
        ds = make_dataset(int(seed), 40, noise=0.7, coef=cfg.coef)
        v = T.dataset_stationary_mse(ds.x, ds.y, g["lr"].to_numpy())
        np.testing.assert_allclose(g["noise_rms"].to_numpy(), np.where(np.isinf(v), np.nan, np.sqrt(v)),
                                   rtol=1e-12)
    assert f["noise_rms"].isna().any() and f["noise_rms"].notna().any()


def test_dataset_formula_against_simulation():
    """Plain NumPy SGD with replacement from one dataset (20,000 index streams): mean e_K^2 within 4
    standard errors of the dataset formula."""
    ds = make_dataset(3, 30, noise=1.0, coef=5.0)
    rng = np.random.default_rng(11)
    runs, steps = 20_000, 400
    for lr in (0.03, 0.08):
        assert T.tail_index_dataset(ds.x, lr) > 4
        theta = np.full(runs, ds.theta_ref)
        for _ in range(steps):
            i = rng.integers(0, 30, runs)
            x, y = ds.x[i], ds.y[i]
            theta = theta + 2 * lr * x * (y - theta * x)
        e2 = (theta - ds.theta_ref) ** 2
        se = e2.std(ddof=1) / math.sqrt(runs)
        v = T.dataset_stationary_mse(ds.x, ds.y, lr)
        assert abs(e2.mean() - v) < 4 * se, (lr, e2.mean(), v, se)


# ------------------------------------------------------------------ shuffled epochs: bounded support
def _brute(x, y, lr):
    ref = x @ y / (x @ x)
    m, q = 1 - 2 * lr * x * x, 2 * lr * x * (y - ref * x)
    best_abs, best_c = 0.0, 0.0
    for p in itertools.permutations(range(len(x))):
        p = list(p)
        suffix = np.append(np.cumprod(m[p][::-1])[::-1][1:], 1.0)
        best_abs = max(best_abs, float(np.sum(np.abs(q[p]) * np.abs(suffix))))
        best_c = max(best_c, abs(float(np.sum(q[p] * suffix))))
    return best_abs, best_c, float(np.prod(np.abs(m)))


@pytest.mark.parametrize("lr", [0.05, 0.3, 0.7])
def test_shuffle_bound_is_the_exact_maximum_over_permutations(lr):
    ds = make_dataset(5, 6, noise=1.0, coef=5.0)
    c_abs, c_max, big_m = _brute(ds.x, ds.y, lr)
    # one epoch from e_0 = 0: the bound is the maximised sum itself, found by sorting
    assert T.shuffle_error_bound(ds.x, ds.y, lr, epochs=1) == pytest.approx(c_abs, rel=1e-12)
    assert c_max <= c_abs * (1 + 1e-12)
    if big_m < 1:
        assert T.shuffle_error_bound(ds.x, ds.y, lr) == pytest.approx(c_abs / (1 - big_m), rel=1e-12)
        e3 = T.shuffle_error_bound(ds.x, ds.y, lr, e0=2.0, epochs=3)
        assert e3 == pytest.approx(big_m**3 * 2 + c_abs * (1 + big_m + big_m**2), rel=1e-12)
    else:
        assert T.shuffle_error_bound(ds.x, ds.y, lr) == math.inf


def test_shuffle_bound_holds_in_simulation():
    ds = make_dataset(1, 50, noise=1.0, coef=5.0)
    rng = np.random.default_rng(5)
    lr = 0.5
    bound = T.shuffle_error_bound(ds.x, ds.y, lr)
    assert np.isfinite(bound)
    theta = np.full(2000, ds.theta_ref)
    largest = 0.0
    for _ in range(20):  # epochs, a new permutation per run and epoch
        perm = np.argsort(rng.random((2000, 50)), axis=1)
        for k in range(50):
            i = perm[:, k]
            theta = theta + 2 * lr * ds.x[i] * (ds.y[i] - theta * ds.x[i])
        largest = max(largest, float(np.max(np.abs(theta - ds.theta_ref))))
    assert 0 < largest <= bound


# ------------------------------------------------------------------ arguments
def test_y_must_match_x():
    msg = ("The 'y' parameter of dataset_stationary_mse must be a 1-D array (one dataset) or a "
           "2-D array (n_datasets, n) of finite floats of the shape of x (3,). Got an array of shape (2,) "
           "instead.")
    with pytest.raises(ParameterError, match=re.escape(msg)):
        T.dataset_stationary_mse([1.0, 2.0, 3.0], [1.0, 2.0], 0.1)
    with pytest.raises(ParameterError, match=re.escape("The 'y' parameter of shuffle_error_bound must be")):
        T.shuffle_error_bound([1.0, 2.0, 3.0], [1.0, 2.0], 0.1)
    msg = "The 'noise' parameter of population_stationary_mse must"
    with pytest.raises(ParameterError, match=re.escape(msg)):
        _stationary_variance([0.1, 0.2], 1.0, [0.1, 0.2, 0.3])



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
