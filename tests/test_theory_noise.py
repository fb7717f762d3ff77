"""lrsweep.theory.noise: stationary variance with noise (closed forms, simulation, the engine) and the
bound of shuffled epochs (brute force over permutations, simulation)."""

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


# ------------------------------------------------------------------ fresh samples: closed form
def test_stationary_variance_closed_form_threshold_and_scaling():
    lr = np.array([0.0, 0.01, 0.1, 0.2, 0.3])
    np.testing.assert_allclose(T.stationary_variance(lr), lr / (1 - 3 * lr), rtol=1e-15)
    # the threshold 1/(3 s^2) and above: no finite mean-square fixed point
    assert T.stationary_variance(1 / 3) == math.inf
    assert np.all(np.isinf(T.stationary_variance([0.34, 0.5, 1.2, 1e300])))
    assert T.stationary_variance(0.2 / 4, x_scale=2.0) == pytest.approx(T.stationary_variance(0.2) / 4)
    # v(lr, s, sigma) = sigma^2 / s^2 v(lr s^2, 1, 1), and it broadcasts
    got = T.stationary_variance(np.array([[0.01], [0.05]]), x_scale=[0.5, 2.0], noise=0.3)
    want = 0.3**2 / np.array([0.25, 4.0]) * T.stationary_variance(np.array([[0.01], [0.05]]) * [0.25, 4.0])
    assert got.shape == (2, 2)
    np.testing.assert_allclose(got, want, rtol=1e-14)
    assert T.stationary_variance(0.2, noise=0.0) == 0.0


def test_stationary_variance_is_the_fixed_point_of_the_mean_square_recursion():
    lr, s, sigma = 0.12, 1.3, 0.7
    g = 1 - 4 * lr * s**2 + 12 * lr**2 * s**4  # E (1 - 2 lr X^2)^2
    q = 4 * lr**2 * s**2 * sigma**2  # E (2 lr X eps)^2
    m = 25.0
    for _ in range(2000):
        m = g * m + q
    assert T.stationary_variance(lr, s, sigma) == pytest.approx(m, rel=1e-13)


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
        v = T.stationary_variance(lr, s, sigma)
        assert abs(e2.mean() - v) < 4 * se, (lr, e2.mean(), v, se)


# ------------------------------------------------------------------ one dataset, with replacement
def test_dataset_formula_by_hand_and_the_population_limit():
    x, y = np.array([1.0, -1.0, 2.0]), np.array([1.5, -0.5, 2.0])  # theta_ref = 1, r = (.5, .5, 0)
    assert T.stationary_variance_dataset(x, y, 0.1) == pytest.approx(0.1 * (1 / 6) / (2 - 0.1 * 6), rel=1e-15)
    assert T.stationary_variance_dataset(x, y, 0.0) == 0.0
    assert T.stationary_variance_dataset(x, y, 2 / 6) == math.inf  # mean(x^2) / mean(x^4) = 1/3
    # a large Gaussian dataset approaches the fresh-sample closed form; stacks and lr arrays broadcast
    ds = make_dataset(7, 200_000, noise=0.8, x_scale=1.2, coef=5.0)
    lr = np.array([0.02, 0.1, 0.2])
    np.testing.assert_allclose(T.stationary_variance_dataset(ds.x, ds.y, lr),
                               T.stationary_variance(lr, 1.2, 0.8), rtol=0.03)
    stack = T.stationary_variance_dataset(np.stack([x, 2 * x]), np.stack([y, y]), [[0.1], [0.01]])
    assert stack.shape == (2, 2, 1)
    assert stack[0, 0, 0] == T.stationary_variance_dataset(x, y, 0.1)
    # features whose fourth powers overflow: v(a x, y, lr / a^2) = v(x, y, lr) / a^2 still holds
    assert T.stationary_variance_dataset(1e100 * x, y, 0.1e-200) == pytest.approx(
        T.stationary_variance_dataset(x, y, 0.1) / 1e200, rel=1e-12)


def test_dataset_formula_is_the_engines_noise_rms():
    """The results' noise_rms (the engine's moments) is sqrt of the theory's v, NaN where v is inf."""
    cfg = lrsweep.SweepConfig(n_samples=40, noise=0.7, order="replacement", lr=[0.05, 0.2, 0.3, 0.6],
                              seed=range(4), epochs=1)
    f = lrsweep.sweep(cfg, progress=False).frame
    for seed, g in f.groupby("seed"):
        ds = make_dataset(int(seed), 40, noise=0.7, coef=cfg.coef)
        v = T.stationary_variance_dataset(ds.x, ds.y, g["lr"].to_numpy())
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
        v = T.stationary_variance_dataset(ds.x, ds.y, lr)
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
    msg = ("The 'y' parameter of stationary_variance_dataset must be a 1-D array (one dataset) or a "
           "2-D array (n_datasets, n) of finite floats of the shape of x (3,). Got an array of shape (2,) "
           "instead.")
    with pytest.raises(ParameterError, match=re.escape(msg)):
        T.stationary_variance_dataset([1.0, 2.0, 3.0], [1.0, 2.0], 0.1)
    with pytest.raises(ParameterError, match=re.escape("The 'y' parameter of shuffle_error_bound must be")):
        T.shuffle_error_bound([1.0, 2.0, 3.0], [1.0, 2.0], 0.1)
    with pytest.raises(ParameterError, match=re.escape("The 'noise' parameter of stationary_variance must")):
        T.stationary_variance([0.1, 0.2], 1.0, [0.1, 0.2, 0.3])
