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


@pytest.mark.parametrize("kw", [
    dict(seed=range(40)),
    dict(seed=[0, 5, 2**32 - 1], n_samples=[1, 2, 9, 130], noise=[0.0, 0.4], x_scale=[1.0, 2.5],
         outlier_kind=["leverage", "response"], outlier_frac=[0.0, 0.1, 1.0], outlier_scale=[0.0, 7.0],
         order=["fixed", "online", "shuffle"], epochs=2, intercept=-0.0, coef=-1.5),
    dict(seed=range(6), data="lecture", order=["fixed", "online", "replacement"]),
])
def test_chunk_data_is_make_dataset_bit_for_bit(kw):
    """The runner's vectorised datasets (numba generators for "gaussian") are make_dataset's."""
    from lrsweep import grid, runner
    from lrsweep.data import dataset_for

    cfg = lrsweep.SweepConfig(lr=[0.01, 0.02], **kw)
    n_groups = cfg.n_trajectories // grid.lanes_per_group(cfg)
    groups = np.arange(n_groups)
    for sel in (groups, groups[n_groups // 3:]):
        data = runner._ChunkData(cfg, sel)
        for li, g in enumerate(sel):
            key, order = grid.group_key(cfg, int(g))
            ds = dataset_for(cfg, key, order)
            o, m = data.g_doff[li], data.g_m[li]
            assert m == len(ds)
            np.testing.assert_array_equal(data.x[o:o + m].view(np.int64), ds.x.view(np.int64))
            np.testing.assert_array_equal(data.y[o:o + m].view(np.int64), ds.y.view(np.int64))
            assert np.float64(data.g_ref[li]).view(np.int64) == np.float64(ds.theta_ref).view(np.int64)
            r = ds.y - ds.theta_ref * ds.x
            stats = np.array([np.mean(r * r), np.mean(ds.x * r), np.mean(ds.x * ds.x)])
            np.testing.assert_array_equal(data.g_stats[:, li].view(np.int64), stats.view(np.int64))
            if order in ("shuffle", "replacement"):
                idx = sample_order(order, key[1], cfg.epochs, key[0])
                i0 = data.g_ioff[li]
                np.testing.assert_array_equal(data.idx[i0:i0 + len(idx)], idx)
            else:
                assert data.g_ioff[li] == -1


def test_chunk_data_does_not_depend_on_threads():
    """_ChunkData splits its datasets and sample orders over threads (runner._in_parallel):
    the same bits with 1 and 2 threads, ranges cut anywhere."""
    import numba

    from lrsweep import grid, runner

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 numba threads")
    cfg = lrsweep.SweepConfig(lr=[0.01, 0.02], seed=range(150), n_samples=[3, 40], noise=[0.0, 0.4],
                              outlier_kind=["leverage", "response"], outlier_frac=[0.0, 0.1],
                              order=["fixed", "online", "shuffle", "replacement"], epochs=2)
    groups = np.arange(cfg.n_trajectories // grid.lanes_per_group(cfg))
    assert len(groups) > 4 * 256  # several pieces per thread
    built = []
    for threads in (1, 2):
        with runner._numba_threads(threads):
            built.append(runner._ChunkData(cfg, groups))
    one, two = built
    for name in ("x", "y", "g_ref", "g_stats", "idx", "g_doff", "g_ioff"):
        a, b = (np.ascontiguousarray(getattr(d, name)) for d in (one, two))
        assert a.dtype == b.dtype and np.array_equal(a.view(np.uint8), b.view(np.uint8)), name
