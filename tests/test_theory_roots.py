"""Tests of lrsweep.theory.roots: the roots of S, its diverging intervals, the critical lr.

Every random draw comes from ``np.random.default_rng(<fixed seed>)``. Each
tolerance is stated next to its assertion with the reason for its size.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrsweep import theory as T


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


def _poles_module():
    import importlib

    return importlib.import_module("lrsweep.theory._poles")


@pytest.mark.parametrize("kind", ["gauss", "student", "rounded", "uniform"])
def test_range_screening_keeps_exactly_the_per_interval_candidates(kind):
    # candidates() drops whole ranges by one O(n) bound; what it keeps must be exactly the
    # intervals whose own bound is above the margin (the old scan's candidates)
    P = _poles_module()
    rng = np.random.default_rng(21)
    x = {"gauss": rng.standard_normal(400), "student": rng.standard_t(2, 400),
         "rounded": np.round(rng.standard_normal(400), 1), "uniform": rng.uniform(-2, 2, 400)}[kind]
    tab = P.pole_table(x)
    k = np.arange(tab.p.size - 1)
    want = k[P.interval_upper_bounds(tab, k) > -P.SCREEN_MARGIN]
    for leaf in (1, 8, 64):
        np.testing.assert_array_equal(list(P.candidates(tab, 0, k.size, leaf)), want)
    # and the first interval with a positive maximum (all maxima at once) holds critical_lr
    _, smax = P.interval_maxima(k, tab)
    first = int(np.flatnonzero(smax >= 0)[0]) if (smax >= 0).any() else k.size
    c = T.critical_lr(x)
    lo = tab.p[first]
    hi = tab.p[first + 1] if first + 1 < tab.p.size else math.inf
    assert lo < c < hi
    # range bounds dominate the per-interval bounds they stand for
    ub = P.interval_upper_bounds(tab, k)
    for a, b in ((0, min(10, k.size)), (k.size // 4, k.size // 2), (0, k.size), (k.size // 2, k.size)):
        u, tol = P.range_upper_bound(tab, a, b)
        assert np.all(ub[a:b] <= u + tol)
