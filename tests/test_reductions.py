"""NumPy's reductions in numba (``lrsweep.engine.reductions``) give NumPy's bits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrsweep.data import least_squares, make_dataset
from lrsweep.engine import reductions as _rng

#: Scratch space of reductions._pairwise_sum.
SCRATCH = (np.empty((3, 128), dtype=np.int64), np.empty(128))


def bits(a):
    """Exact comparison key: -0.0 and NaN payloads count."""
    return np.ascontiguousarray(a, dtype=np.float64).view(np.int64)


@settings(max_examples=60, deadline=None, database=None)
@given(st.integers(1, 20000))
def test_pairwise_sum_is_numpys(n):
    rng = np.random.default_rng(n)
    a = rng.standard_normal(n) * 10.0 ** rng.integers(-8, 8, n)
    assert bits(_rng._pairwise_sum(a, 0, n, *SCRATCH)) == bits(np.add.reduce(a))


def test_pairwise_sum_every_small_length():
    rng = np.random.default_rng(0)
    for n in [*range(1, 1100), 8191, 8192, 8193, 16400, 100_000]:
        a = rng.standard_normal(n) * 10.0 ** rng.integers(-8, 8, n)
        assert bits(_rng._pairwise_sum(a, 0, n, *SCRATCH)) == bits(np.add.reduce(a)), n


def test_dataset_stats_equal_numpy_means():
    got = [(ds.x, ds.y, None) for ds in (
        make_dataset(seed, n, noise=noise, outlier_frac=0.1, coef=5.0, intercept=0.5)
        for seed, n, noise in ((0, 1, 0.0), (1, 2, 0.3), (2, 129, 1.0), (3, 1000, 0.0), (4, 4099, 2.0)))]
    x = np.concatenate([g[0] for g in got])
    y = np.concatenate([g[1] for g in got])
    m = np.array([len(g[0]) for g in got], dtype=np.int64)
    off = np.concatenate([[0], np.cumsum(m)[:-1]]).astype(np.int64)
    ref = np.array([least_squares(g[0], g[1]) for g in got])
    out = np.empty((5, len(got)))
    _rng.dataset_stats(x, y, off, m, ref, out)
    for d, (xd, yd, _) in enumerate(got):
        r = yd - ref[d] * xd
        xr, xx = xd * r, xd * xd
        expect = np.array([np.mean(r * r), np.mean(xr), np.mean(xx), np.mean(xr * xr), np.mean(xx * xx)])
        np.testing.assert_array_equal(bits(out[:, d]), bits(expect))


def test_numpy_ddot_is_found_and_equals_np_dot():
    fn = _rng.numpy_ddot()
    if fn is None:  # another BLAS layout: the runner falls back to np.dot in Python
        pytest.skip("NumPy's OpenBLAS ddot not found")
    rng = np.random.default_rng(3)
    m = np.array([*range(1, 300), 1024, 5000, 30000], dtype=np.int64)
    off = np.zeros(len(m), dtype=np.int64)
    np.cumsum(m[:-1], out=off[1:])
    x = rng.standard_normal(int(m.sum()))
    y = rng.standard_normal(int(m.sum()))
    x[:3] = [-2.0, 0.0, -0.0]  # signed zeros at lengths 1 and 2
    y[:3] = [0.0, -0.0, 0.0]
    got = np.empty(len(m))
    _rng.least_squares_many(fn, x, y, off, m, got)
    ref = [least_squares(x[o:o + k], y[o:o + k]) for o, k in zip(off, m, strict=True)]
    np.testing.assert_array_equal(bits(got), bits(ref))
    zeros = np.zeros(4)
    _rng.least_squares_many(fn, zeros, zeros, np.array([0, 1]), np.array([1, 3]), got[:2])
    assert bits(got[:2]).tolist() == [0, 0]  # all-zero x: theta_ref 0
