"""Dataset generation: the runner's chunk data (numba ports of NumPy's
generators, ``lrsweep.engine.generators``) against the NumPy recipe of ``make_dataset``,
and ``lrsweep.sweep`` over per-trajectory datasets end to end.

Workload: ``SweepConfig(lr=0.01, seed=range(T))`` (``data="gaussian"``, 100
samples, 5 epochs): one dataset per trajectory; for the sample orders the same
with ``order="shuffle"`` / ``"replacement"`` (one order stream per seed). Each benchmark checks its
result against ``lrsweep.make_dataset`` bit for bit (``extra_info["datasets"]``
is the number of datasets built; per-dataset time = median / datasets).
"""

from __future__ import annotations

import numpy as np
import pytest
from baselines import FULL, STEPS, record_rate, seed_config, warm_up

import lrsweep
from lrsweep import grid
from lrsweep.data import dataset_for, sample_order
from lrsweep.engine.chunkdata import ChunkData
from lrsweep.engine.threads import numba_threads

T_CHUNK = [10_000, 100_000] if FULL else [2_000]
T_NUMPY = 10_000 if FULL else 200
T_SWEEP = [10_000, 100_000] if FULL else [2_000]


@pytest.fixture(scope="module")
def warm():
    """Compile (or load from cache) the kernel and the generators outside every timed region."""
    warm_up()
    ChunkData(seed_config(4), np.arange(4))
    return True


def bits(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64).view(np.int64)


def check_chunk(config: lrsweep.SweepConfig, data: ChunkData, groups: np.ndarray) -> None:
    """A strided sample of the chunk's datasets equals make_dataset (x, y, theta_ref)."""
    for li in np.unique(np.linspace(0, len(groups) - 1, 25).astype(np.int64)):
        key, order = grid.group_key(config, int(groups[li]))
        ds = dataset_for(config, key, order)
        o, m = data.g_doff[li], data.g_m[li]
        np.testing.assert_array_equal(bits(data.x[o:o + m]), bits(ds.x))
        np.testing.assert_array_equal(bits(data.y[o:o + m]), bits(ds.y))
        assert bits(data.g_ref[li]) == bits(ds.theta_ref)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("T", T_CHUNK)
@pytest.mark.benchmark(group="data: chunk datasets, ChunkData (numba generators)")
def test_chunk_data(benchmark, warm, T, threads):
    cfg = seed_config(T)
    groups = np.arange(T)
    with numba_threads(threads):  # datasets are split over the threads
        data = benchmark(ChunkData, cfg, groups)
    benchmark.extra_info.update(datasets=T, engine="numba", threads=threads)
    check_chunk(cfg, data, groups)


@pytest.mark.benchmark(group="data: chunk datasets, NumPy recipe (make_dataset per key)")
def test_numpy_recipe(benchmark, warm):
    cfg = seed_config(T_NUMPY)

    def build():
        return [lrsweep.make_dataset(s, 100) for s in range(T_NUMPY)]

    sets = benchmark(build)
    benchmark.extra_info.update(datasets=T_NUMPY, engine="numpy")
    data = ChunkData(cfg, np.arange(T_NUMPY))
    for s in np.unique(np.linspace(0, T_NUMPY - 1, 25).astype(np.int64)):
        o = data.g_doff[s]
        np.testing.assert_array_equal(bits(data.x[o:o + 100]), bits(sets[s].x))
        np.testing.assert_array_equal(bits(data.y[o:o + 100]), bits(sets[s].y))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("T", T_SWEEP)
@pytest.mark.benchmark(group="data: lrsweep.sweep, per-trajectory datasets (lr=0.01, seed=range(T))")
def test_sweep_per_trajectory_data(benchmark, warm, T, threads):
    cfg = seed_config(T)
    res = benchmark(lrsweep.sweep, cfg, progress=False, threads=threads)
    record_rate(benchmark, T * STEPS, T=T, datasets=T, engine="sweep", threads=threads)
    pick = [0, 1, T // 2, T - 1]
    ref = lrsweep.sweep(lrsweep.SweepConfig(lr=0.01, seed=pick), progress=False).frame
    frame = res.frame
    np.testing.assert_array_equal(bits(frame["theta_final"].to_numpy()[pick]), bits(ref["theta_final"]))
    theta_ref = [lrsweep.make_dataset(s, 100).theta_ref for s in pick]
    np.testing.assert_array_equal(bits(frame["theta_ref"].to_numpy()[pick]), bits(theta_ref))


T_ORDERS = 10_000 if FULL else 500


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("order", ["shuffle", "replacement"])
@pytest.mark.benchmark(group="data: chunk sample orders, ChunkData (numba generators)")
def test_chunk_orders(benchmark, warm, order, threads):
    cfg = lrsweep.SweepConfig(lr=0.01, seed=range(T_ORDERS), order=order)
    groups = np.arange(T_ORDERS)
    with numba_threads(threads):
        data = benchmark(ChunkData, cfg, groups)
    benchmark.extra_info.update(datasets=T_ORDERS, orders=T_ORDERS, engine="numba", threads=threads)
    for li in np.unique(np.linspace(0, T_ORDERS - 1, 25).astype(np.int64)):
        ref = sample_order(order, 100, cfg.epochs, int(li))
        np.testing.assert_array_equal(data.idx[data.g_ioff[li]:data.g_ioff[li] + len(ref)], ref)


@pytest.mark.parametrize("order", ["shuffle", "replacement"])
@pytest.mark.benchmark(group="data: chunk sample orders, NumPy (data.sample_order per seed)")
def test_numpy_orders(benchmark, warm, order):
    n_seeds = T_NUMPY
    orders = benchmark(lambda: [sample_order(order, 100, 5, s) for s in range(n_seeds)])
    benchmark.extra_info.update(orders=n_seeds, engine="numpy")
    cfg = lrsweep.SweepConfig(lr=0.01, seed=range(n_seeds), order=order)
    data = ChunkData(cfg, np.arange(n_seeds))
    for s in (0, n_seeds - 1):
        np.testing.assert_array_equal(data.idx[data.g_ioff[s]:data.g_ioff[s] + 500], orders[s])
