"""The d-feature data recipe: one feature is today's bits, the rest follows its documented NumPy recipe."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from lrsweep._validation import ParameterError
from lrsweep.data import make_dataset, make_features_dataset

# Every data setting of make_dataset: kind, noise, outliers (none, leverage, response), x_scale, online,
# coefficients; three seeds each (a derandomised sweep: 2 * 2 * 3 * 2 * 2 * 2 = 96 keys x 3 seeds).
ONE_FEATURE = list(itertools.product(
    ["gaussian", "lecture"], [0.0, 0.7], [(0.0, "leverage"), (0.2, "leverage"), (0.25, "response")],
    [1.0, 2.5], [None, 3], [(5.0, 0.0), (-1.3, 0.4)]))


@pytest.mark.parametrize(("kind", "noise", "outlier", "x_scale", "online", "coef"), ONE_FEATURE)
def test_one_feature_without_bias_is_todays_dataset_bit_for_bit(kind, noise, outlier, x_scale, online, coef):
    for seed in (0, 1, 2**32 - 1):
        kw = dict(x_scale=x_scale, noise=noise, outlier_frac=outlier[0], outlier_kind=outlier[1], kind=kind,
                  online_epochs=online, coef=coef[0], intercept=coef[1])
        old = make_dataset(seed, 17, **kw)
        new = make_features_dataset(seed, 17, 1, **kw)
        assert new.x.shape == (len(old), 1)
        np.testing.assert_array_equal(new.x[:, 0], old.x)
        np.testing.assert_array_equal(new.y, old.y)
        np.testing.assert_array_equal(new.outliers, old.outliers)
        assert new.w_ref[0] == old.theta_ref and new.b_ref == 0.0
        assert new.theta_ref.tolist() == [old.theta_ref]


def test_gaussian_recipe_is_the_documented_plain_numpy():
    seed, m, d, xs, kappa, noise, frac, scale = 7, 40, 4, 2.0, 100.0, 0.3, 0.1, 4.0
    a = np.array([1.0, -2.0, 0.5, 3.0])
    ds = make_features_dataset(seed, m, d, x_scale=xs, condition=kappa, coefficients=a, intercept=1.5,
                               noise=noise, outlier_frac=frac, outlier_scale=scale, outlier_kind="response",
                               fit_intercept=True)
    s = xs * np.array([kappa ** (j / (2 * (d - 1))) for j in range(d)])
    x = np.random.default_rng([seed, 0]).standard_normal(m * d).reshape(m, d) * s
    u = np.random.default_rng([seed, 2]).random(m)
    out = np.sort(np.argsort(u, kind="stable")[:4])  # floor(0.1 * 40 + 1/2)
    y = a[0] * x[:, 0]
    for j in range(1, d):
        y = y + a[j] * x[:, j]
    y = y + 1.5 + noise * np.random.default_rng([seed, 1]).standard_normal(m)
    var = 0.0
    for j in range(d):
        var += (a[j] * s[j]) ** 2
    y[out] += scale * math.sqrt(var + noise**2)
    np.testing.assert_array_equal(ds.scales, s)
    np.testing.assert_array_equal(ds.x, x)
    np.testing.assert_array_equal(ds.y, y)
    np.testing.assert_array_equal(ds.outliers, out)
    np.testing.assert_array_equal(ds.coefficients, a)
    # Leverage: the same rows of x, scaled whole; y stays on the plane (plus the same noise).
    lev = make_features_dataset(seed, m, d, x_scale=xs, condition=kappa, coefficients=a, noise=noise,
                                outlier_frac=frac, outlier_scale=scale)
    clean = make_features_dataset(seed, m, d, x_scale=xs, condition=kappa, coefficients=a, noise=noise)
    np.testing.assert_array_equal(lev.x[out], scale * clean.x[out])
    np.testing.assert_array_equal(np.delete(lev.x, out, axis=0), np.delete(clean.x, out, axis=0))


def test_lecture_recipe_follows_the_lectures_code_without_global_state():
    seed, n, d = 3, 30, 4
    a, b, noise = np.array([5.0, 1.0, -2.0, 0.5]), 0.7, 0.2
    state = np.random.get_state()  # noqa: NPY002
    try:
        # The lecture's dataset_generator with feature_dim = d (legacy global RNG, on purpose here).
        np.random.seed(seed)  # noqa: NPY002
        x = np.random.normal(0, 1, size=(n, d))  # noqa: NPY002
        y = np.matmul(x, a[:, None]) + b + noise * np.random.normal(0, 1, size=(n, 1))  # noqa: NPY002
        after = np.random.get_state()  # noqa: NPY002
        np.random.set_state(state)  # noqa: NPY002
        ds = make_features_dataset(seed, n, d, coefficients=a, intercept=b, noise=noise, kind="lecture")
        unchanged = np.random.get_state()  # noqa: NPY002
    finally:
        np.random.set_state(state)  # noqa: NPY002
    assert unchanged[1].tolist() == state[1].tolist() and after[1].tolist() != state[1].tolist()
    np.testing.assert_array_equal(ds.x, x)
    # x a is summed left to right (machine-independent); matmul may differ in the last bit.
    np.testing.assert_allclose(ds.y, y[:, 0], rtol=1e-14, atol=1e-14)


def test_lecture_recipe_scales_each_feature_in_the_draw():
    ds = make_features_dataset(5, 20, 3, feature_scales=[1.0, 2.0, 0.5], x_scale=3.0, kind="lecture")
    want = np.random.RandomState(5).normal(0, [3.0, 6.0, 1.5], size=(20, 3))
    np.testing.assert_array_equal(ds.x, want)


@pytest.mark.parametrize("kind_out", ["leverage", "response"])
def test_smaller_dataset_is_a_prefix_of_the_larger(kind_out):
    kw = dict(noise=0.5, condition=10.0, outlier_kind=kind_out)
    small = make_features_dataset(3, 10, 5, **kw)
    big = make_features_dataset(3, 1000, 5, **kw)
    np.testing.assert_array_equal(small.x, big.x[:10])
    np.testing.assert_array_equal(small.y, big.y[:10])
    online = make_features_dataset(3, 10, 5, online_epochs=4, **kw)  # a stream is the longer dataset
    np.testing.assert_array_equal(online.x, make_features_dataset(3, 40, 5, **kw).x)


def test_condition_number_gives_the_stated_variances():
    d, kappa, xs, m = 5, 100.0, 2.0, 200_000
    ds = make_features_dataset(11, m, d, x_scale=xs, condition=kappa)
    want = xs**2 * kappa ** (np.arange(d) / (d - 1))  # variances geometric from x_scale^2 to kappa x_scale^2
    np.testing.assert_allclose(ds.scales**2, want, rtol=1e-14)
    # Sample variances: relative standard error sqrt(2 / m) = 0.32 %; 2 % is over 6 standard errors.
    np.testing.assert_allclose(ds.x.var(axis=0), want, rtol=0.02)
    corr = np.corrcoef(ds.x, rowvar=False)
    assert np.abs(corr - np.eye(d)).max() < 0.02  # independent features (SE 1 / sqrt(m) = 0.0022)
    assert make_features_dataset(0, 5, 1, condition=1e6).scales.tolist() == [1.0]  # no effect when d = 1


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_reference_is_the_lstsq_fit(fit_intercept):
    ds = make_features_dataset(2, 50, 6, noise=1.0, condition=30.0, intercept=2.0,
                               fit_intercept=fit_intercept,
                               outlier_frac=0.1, outlier_kind="response")
    a = np.hstack([ds.x, np.ones((50, 1))]) if fit_intercept else ds.x
    sol = np.linalg.lstsq(a, ds.y, rcond=None)[0]
    np.testing.assert_allclose(ds.theta_ref, sol, rtol=1e-12, atol=1e-12)
    if not fit_intercept:
        assert ds.b_ref == 0.0 and ds.theta_ref.shape == (6,)


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_rank_deficient_reference_is_the_minimum_norm_fit(fit_intercept):
    ds = make_features_dataset(4, 3, 8, noise=0.5, fit_intercept=fit_intercept)  # n < d
    a = np.hstack([ds.x, np.ones((3, 1))]) if fit_intercept else ds.x
    np.testing.assert_allclose(ds.theta_ref, np.linalg.pinv(a) @ ds.y, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(a @ ds.theta_ref, ds.y, rtol=1e-12, atol=1e-12)  # interpolates the data


@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("kind", ["gaussian", "lecture"])
def test_noise_free_reference_is_the_true_coefficients(fit_intercept, kind):
    a = np.array([5.0, -1.0, 2.5, 0.1])
    b = 1.25 if fit_intercept else 0.0
    for extra in (dict(), dict(condition=1e4), dict(outlier_frac=0.2, outlier_scale=10.0)):
        ds = make_features_dataset(9, 40, 4, coefficients=a, intercept=b, fit_intercept=fit_intercept,
                                   kind=kind,
                                   **extra)
        np.testing.assert_allclose(ds.w_ref, a, rtol=0, atol=1e-12)
        assert abs(ds.b_ref - b) <= 1e-12
    assert make_features_dataset(0, 10, 3).w_ref.round(12).tolist() == [5.0, 5.0, 5.0]  # default a_j = coef


def test_response_outliers_shift_y_by_population_sds_and_move_the_fit():
    a, s = np.array([2.0, -1.0]), np.array([1.0, 3.0])
    clean = make_features_dataset(1, 200, 2, coefficients=a, feature_scales=s, noise=0.5)
    res = make_features_dataset(1, 200, 2, coefficients=a, feature_scales=s, noise=0.5, outlier_frac=0.05,
                                outlier_scale=10.0, outlier_kind="response")
    assert len(res.outliers) == 10
    np.testing.assert_array_equal(res.x, clean.x)
    np.testing.assert_allclose(res.y[res.outliers] - clean.y[res.outliers], 10 * math.sqrt(4 + 9 + 0.25))
    assert np.abs(res.w_ref - clean.w_ref).max() > 1e-3


def test_online_stream_has_the_population_reference():
    ds = make_features_dataset(2, 20, 3, online_epochs=3, noise=1.0, intercept=0.5,
                               coefficients=[1.0, 2.0, 3.0])
    assert len(ds) == 60 and ds.w_ref.tolist() == [1.0, 2.0, 3.0] and ds.b_ref == 0.0
    ds = make_features_dataset(2, 20, 3, online_epochs=3, intercept=0.5, fit_intercept=True)
    assert ds.w_ref.tolist() == [5.0, 5.0, 5.0] and ds.b_ref == 0.5
    assert ds.theta_ref.tolist() == [5.0, 5.0, 5.0, 0.5]


def test_arrays_are_read_only():
    ds = make_features_dataset(0, 5, 2, fit_intercept=True)
    for arr in (ds.x, ds.y, ds.w_ref, ds.coefficients, ds.scales):
        with pytest.raises(ValueError, match="read-only"):
            arr[0] = 1.0


@pytest.mark.parametrize(("kw", "name"), [
    (dict(n_features=0), "n_features"),
    (dict(condition=0.5), "condition"),
    (dict(feature_scales=[1.0, 2.0]), "feature_scales"),
    (dict(feature_scales=[1.0, 0.0, 1.0]), "feature_scales"),
    (dict(feature_scales=[1.0, 2.0, 3.0], condition=10.0), "condition"),
    (dict(coefficients=[1.0, 2.0]), "coefficients"),
    (dict(coefficients=[1.0, 2.0, 1e31]), "coefficients"),
    (dict(coefficients=[1.0, 2.0, np.nan]), "coefficients"),
    (dict(x_scale=1e30, condition=100.0), "condition"),
    (dict(x_scale=1e29, feature_scales=[1.0, 1.0, 100.0]), "feature_scales"),
    (dict(fit_intercept="yes"), "fit_intercept"),
    (dict(kind="mnist"), "kind"),
])
def test_errors_name_the_parameter(kw, name):
    args = {"seed": 0, "n_samples": 10, "n_features": 3, **kw}
    with pytest.raises(ParameterError, match=f"^The '{name}' parameter of make_features_dataset must be"):
        make_features_dataset(**args)
