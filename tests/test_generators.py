"""The numba generators of ``lrsweep.engine.generators`` reproduce NumPy's bits exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lrsweep.data import _generate, least_squares, sample_order
from lrsweep.engine import generators as _rng

SEEDS = st.one_of(st.sampled_from([0, 1, 2**31 - 1, 2**31, 2**32 - 1]),
                  st.integers(0, 2**32 - 1))
STREAMS = st.integers(0, 3)
FAST = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])

#: (seed, stream, m) whose standard_normal draws take the ziggurat's rare
#: paths; test_rare_ziggurat_branches_are_hit checks they still do.
RARE = {
    "wedge test": (3, 1, 20),
    "wedge rejection": (15, 0, 1),  # the very first draw is rejected
    "tail": (14, 1, 20),
    "tail rejection": (139259, 0, 1),  # first draw: tail, first exponential pair rejected
}


def bits(a):
    """Exact comparison key: -0.0 and NaN payloads count."""
    return np.ascontiguousarray(a, dtype=np.float64).view(np.int64)


def numpy_normals(seed, stream, m):
    return np.random.default_rng([seed, stream]).standard_normal(m)


@FAST
@given(SEEDS, STREAMS)
def test_seed_sequence_words(seed, stream):
    ref = np.random.SeedSequence([seed, stream]).generate_state(4, np.uint64)
    np.testing.assert_array_equal(np.array(_rng.seed_words(seed, stream), dtype=np.uint64), ref)


@FAST
@given(SEEDS, STREAMS, st.integers(1, 50))
def test_pcg64_raw_outputs(seed, stream, n):
    ref = np.random.PCG64(np.random.SeedSequence([seed, stream])).random_raw(n)
    np.testing.assert_array_equal(_rng.pcg64_uint64(seed, stream, n), ref)


@FAST
@given(SEEDS, STREAMS, st.integers(1, 2000))
def test_random_doubles(seed, stream, m):
    out = np.empty(m)
    _rng.fill_random(seed, stream, out)
    np.testing.assert_array_equal(bits(out), bits(np.random.default_rng([seed, stream]).random(m)))


@FAST
@given(SEEDS, STREAMS, st.integers(1, 2000), st.sampled_from([1.0, 0.5, 3.0, 1e-300, 1e300]))
def test_standard_normal(seed, stream, m, scale):
    out = np.empty(m)
    _rng.fill_standard_normal(seed, stream, scale, out, np.zeros(4, dtype=np.int64))
    np.testing.assert_array_equal(bits(out), bits(scale * numpy_normals(seed, stream, m)))


@pytest.mark.parametrize("name", list(RARE))
def test_rare_ziggurat_branches_are_hit(name):
    seed, stream, m = RARE[name]
    branches = np.zeros(4, dtype=np.int64)
    out = np.empty(m)
    _rng.fill_standard_normal(seed, stream, 1.0, out, branches)
    assert branches[list(RARE).index(name)] >= 1
    np.testing.assert_array_equal(bits(out), bits(numpy_normals(seed, stream, m)))


def test_long_streams_take_every_branch_many_times():
    # 4 x 2e5 draws: each rare path is taken hundreds of times (tail rejection ~10x).
    branches = np.zeros(4, dtype=np.int64)
    for seed in (0, 2**32 - 1):
        for stream in (0, 1):
            out = np.empty(200_000)
            _rng.fill_standard_normal(seed, stream, 1.0, out, branches)
            np.testing.assert_array_equal(bits(out), bits(numpy_normals(seed, stream, 200_000)))
    assert (branches >= 5).all(), branches


def reference_keys(draw_kinds=("leverage", "response")):
    """Data keys covering all outlier kinds, fractions (k = 0, 1, m) and lengths."""
    keys = []
    rng = np.random.default_rng(7)
    for i in range(60):
        m = int(rng.choice([1, 2, 7, 8, 9, 100, 129, 1000, 2000]))
        keys.append(dict(
            seed=int(rng.choice([0, 2**32 - 1, 139259, 15, int(rng.integers(0, 2**32))])),
            n=m, x_scale=float(rng.choice([1.0, 0.3, 7.5])),
            noise=float(rng.choice([0.0, 0.0, 0.5, 2.0])),
            kind_out=draw_kinds[i % len(draw_kinds)],
            frac=float(rng.choice([0.0, 0.001, 0.05, 0.5, 1.0])),
            scale=float(rng.choice([0.0, 10.0, 3.5])),
        ))
    return keys


def numba_datasets(keys, coef, intercept):
    d = len(keys)
    m = np.array([k["n"] for k in keys], dtype=np.int64)
    frac = np.array([k["frac"] for k in keys])
    kk = np.array([math.floor(k["frac"] * k["n"] + 0.5) if k["frac"] > 0 else 0 for k in keys],
                  dtype=np.int64)
    off = np.concatenate([[0], np.cumsum(m)[:-1]]).astype(np.int64)
    koff = np.concatenate([[0], np.cumsum(kk)[:-1]]).astype(np.int64)
    shift = np.array([k["scale"] * math.sqrt((coef * k["x_scale"]) ** 2 + k["noise"] ** 2)
                      for k in keys])
    x = np.empty(m.sum())
    y = np.empty(m.sum())
    out = np.empty(kk.sum(), dtype=np.int64)
    _rng.gaussian_datasets(
        np.array([k["seed"] for k in keys], dtype=np.int64), off, m,
        np.array([k["x_scale"] for k in keys]), np.array([k["noise"] for k in keys]),
        np.array([k["kind_out"] == "leverage" for k in keys]), kk, koff,
        np.array([k["scale"] for k in keys]), shift, coef, intercept, x, y, out)
    assert len(frac) == d
    return [(x[off[i]:off[i] + m[i]], y[off[i]:off[i] + m[i]], out[koff[i]:koff[i] + kk[i]])
            for i in range(d)]


@pytest.mark.parametrize("coef, intercept", [(5.0, 0.0), (-2.5, 1.25), (0.0, -0.0), (3.0, -0.0)])
def test_gaussian_datasets_equal_generate(coef, intercept):
    keys = reference_keys()
    got = numba_datasets(keys, coef, intercept)
    for key, (x, y, out) in zip(keys, got, strict=True):
        ref = _generate(key["seed"], key["n"], key["x_scale"], key["noise"], key["kind_out"],
                        key["frac"], key["scale"], coef, intercept, "gaussian", None)
        np.testing.assert_array_equal(bits(x), bits(ref.x), err_msg=str(key))
        np.testing.assert_array_equal(bits(y), bits(ref.y), err_msg=str(key))
        np.testing.assert_array_equal(out, ref.outliers, err_msg=str(key))
        assert bits(least_squares(x, y)) == bits(ref.theta_ref)


@FAST
@given(SEEDS, st.integers(1, 2000), st.sampled_from(["leverage", "response"]),
       st.floats(0, 1), st.sampled_from([0.0, 0.7]), st.sampled_from([-0.0, 0.0, 1.5]))
def test_gaussian_dataset_property(seed, m, kind_out, frac, noise, intercept):
    key = dict(seed=seed, n=m, x_scale=1.3, noise=noise, kind_out=kind_out, frac=frac, scale=6.0)
    (x, y, out), = numba_datasets([key], 5.0, intercept)
    ref = _generate(seed, m, 1.3, noise, kind_out, frac, 6.0, 5.0, intercept, "gaussian", None)
    np.testing.assert_array_equal(bits(x), bits(ref.x))
    np.testing.assert_array_equal(bits(y), bits(ref.y))
    np.testing.assert_array_equal(out, ref.outliers)


@FAST
@given(SEEDS, st.integers(1, 2000), st.integers(1, 4))
def test_shuffle_order(seed, n, epochs):
    out = np.empty(n * epochs, dtype=np.int32)
    _rng.fill_permuted(seed, 3, n, epochs, out)
    np.testing.assert_array_equal(out, sample_order("shuffle", n, epochs, seed))


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 255, 256, 257, 1024, 1025, 4097])
def test_shuffle_order_at_powers_of_two(n):
    """The Fisher-Yates mask halves as i crosses powers of two: same draws as NumPy."""
    out = np.empty(n * 3, dtype=np.int32)
    _rng.fill_permuted(11, 3, n, 3, out)
    np.testing.assert_array_equal(out, sample_order("shuffle", n, 3, 11))


@FAST
@given(SEEDS, st.integers(1, 2000), st.integers(1, 4))
def test_replacement_order(seed, n, epochs):
    out = np.empty(n * epochs, dtype=np.int32)
    _rng.fill_integers(seed, 3, n, out)
    np.testing.assert_array_equal(out, sample_order("replacement", n, epochs, seed))


@pytest.mark.parametrize("n", [3 * 2**29, 2**30 + 1, 2**31 - 1, 65537])
def test_bounded_integers_with_rejections(n):
    # Lemire's rejection: for n = 3 * 2**29 a quarter of the uint32 draws are
    # rejected (threshold (2**32 - n) % n = 2**30); check some are, then the bits.
    seed = 2**32 - 1
    raw = np.random.PCG64(np.random.SeedSequence([seed, 3])).random_raw(3000)
    words = np.stack([raw & 0xFFFFFFFF, raw >> np.uint64(32)], axis=1).ravel()
    threshold = (2**32 - n) % n
    rejected = int(np.sum((words * np.uint64(n)) & np.uint64(0xFFFFFFFF) < threshold))
    if n == 3 * 2**29:
        assert rejected > 1000
    out = np.empty(5000, dtype=np.int32)
    _rng.fill_integers(seed, 3, n, out)
    ref = np.random.default_rng([seed, 3]).integers(0, n, size=5000, dtype=np.int32)
    np.testing.assert_array_equal(out, ref)


def test_sample_orders_many_keys():
    keys = [(0, 1, True), (2**32 - 1, 7, False), (5, 300, True), (5, 300, False), (9, 1, False)]
    epochs = 3
    seeds = np.array([k[0] for k in keys], dtype=np.int64)
    n = np.array([k[1] for k in keys], dtype=np.int64)
    off = np.zeros(len(keys), dtype=np.int64)
    np.cumsum(n[:-1] * epochs, out=off[1:])
    out = np.empty(int(n.sum()) * epochs, dtype=np.int32)
    _rng.sample_orders(seeds, n, np.array([k[2] for k in keys]), epochs, off, out)
    for (seed, nn, shuf), o in zip(keys, off, strict=True):
        ref = sample_order("shuffle" if shuf else "replacement", nn, epochs, seed)
        np.testing.assert_array_equal(out[o:o + nn * epochs], ref)
