"""Datasets and sample orders are pure, documented functions of their keys."""

from __future__ import annotations

import numpy as np
import pytest

import lrsweep
from lrsweep.data import sample_order


def test_lecture_mode_is_the_seeds_generator():
    # The seed: np.random.seed(seed); x = np.random.normal(0, 1, (n, 1)); y = 5x (+ 0 * noise).
    state = np.random.get_state()  # noqa: NPY002
    try:
        np.random.seed(0)  # noqa: NPY002 - reproducing the lecture's legacy global RNG on purpose
        x = np.random.normal(0, 1, size=(100, 1))  # noqa: NPY002
        y = 5 * x + 0 + 0.0 * np.random.normal(0, 1, size=(100, 1))  # noqa: NPY002
    finally:
        np.random.set_state(state)  # noqa: NPY002
    ds = lrsweep.make_dataset(0, 100, kind="lecture")
    np.testing.assert_array_equal(ds.x, x[:, 0])
    np.testing.assert_array_equal(ds.y, y[:, 0])
    assert abs(ds.theta_ref - 5) < 1e-14


def test_gaussian_mode_follows_the_documented_numpy_recipe():
    seed, m, s, noise, frac, scale = 7, 50, 2.0, 0.3, 0.1, 4.0
    ds = lrsweep.make_dataset(seed, m, x_scale=s, noise=noise, outlier_frac=frac,
                              outlier_scale=scale, outlier_kind="response", coef=3.0, intercept=1.0)
    x = s * np.random.default_rng([seed, 0]).standard_normal(m)
    u = np.random.default_rng([seed, 2]).random(m)
    out = np.sort(np.argsort(u, kind="stable")[:5])
    y = 3.0 * x + 1.0 + noise * np.random.default_rng([seed, 1]).standard_normal(m)
    y[out] += scale * np.sqrt((3.0 * s) ** 2 + noise**2)
    np.testing.assert_array_equal(ds.x, x)
    np.testing.assert_array_equal(ds.y, y)
    np.testing.assert_array_equal(ds.outliers, out)
    assert ds.theta_ref == pytest.approx(np.dot(x, y) / np.dot(x, x), rel=1e-15)


def test_smaller_dataset_is_a_prefix_of_the_larger():
    small = lrsweep.make_dataset(3, 10, noise=0.5)
    big = lrsweep.make_dataset(3, 1000, noise=0.5)
    np.testing.assert_array_equal(small.x, big.x[:10])
    np.testing.assert_array_equal(small.y, big.y[:10])


def test_leverage_outliers_stay_on_the_line_and_response_outliers_shift_y():
    clean = lrsweep.make_dataset(1, 200)
    lev = lrsweep.make_dataset(1, 200, outlier_frac=0.05, outlier_scale=10.0, outlier_kind="leverage")
    res = lrsweep.make_dataset(1, 200, outlier_frac=0.05, outlier_scale=10.0, outlier_kind="response")
    assert len(lev.outliers) == len(res.outliers) == 10
    np.testing.assert_array_equal(lev.outliers, res.outliers)
    np.testing.assert_array_equal(lev.x[lev.outliers], 10 * clean.x[lev.outliers])
    np.testing.assert_allclose(lev.y, 5 * lev.x)  # on the regression line
    assert lev.theta_ref == pytest.approx(5, abs=1e-13)
    np.testing.assert_array_equal(res.x, clean.x)
    np.testing.assert_allclose(res.y[res.outliers] - clean.y[res.outliers], 50.0)
    assert abs(res.theta_ref - 5) > 1e-3  # response outliers move the fit


def test_online_stream_has_population_reference():
    ds = lrsweep.make_dataset(2, 20, online_epochs=3, noise=1.0)
    assert len(ds) == 60 and ds.theta_ref == 5.0


def test_datasets_are_read_only():
    ds = lrsweep.make_dataset(0, 5)
    with pytest.raises(ValueError, match="read-only"):
        ds.x[0] = 1.0


def test_make_dataset_validates():
    with pytest.raises(ValueError, match="The 'n_samples' parameter of make_dataset must be"):
        lrsweep.make_dataset(0, 0)
    with pytest.raises(ValueError, match="The 'kind' parameter of make_dataset"):
        lrsweep.make_dataset(0, 5, kind="mnist")


def test_sample_orders():
    assert sample_order("fixed", 5, 3, 0) is None and sample_order("online", 5, 3, 0) is None
    sh = sample_order("shuffle", 6, 4, 11)
    assert sh.shape == (24,)
    for e in range(4):
        np.testing.assert_array_equal(np.sort(sh[6 * e: 6 * (e + 1)]), np.arange(6))
    expected = np.random.default_rng([11, 3]).permuted(np.tile(np.arange(6), (4, 1)), axis=1).ravel()
    np.testing.assert_array_equal(sh, expected)
    rep = sample_order("replacement", 6, 4, 11)
    np.testing.assert_array_equal(rep, np.random.default_rng([11, 3]).integers(0, 6, 24, dtype=np.int32))
    with pytest.raises(ValueError, match="The 'order' parameter of sample_order"):
        sample_order("sorted", 6, 4, 11)
