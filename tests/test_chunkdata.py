"""A chunk's datasets and sample orders (lrsweep.engine.chunkdata) are the NumPy recipe's."""

from __future__ import annotations

import numpy as np
import pytest

import lrsweep
from lrsweep import grid
from lrsweep.data import dataset_for, sample_order
from lrsweep.engine.chunkdata import ChunkData
from lrsweep.engine.threads import numba_threads


@pytest.mark.parametrize("kw", [
    dict(seed=range(40)),
    dict(seed=[0, 5, 2**32 - 1], n_samples=[1, 2, 9, 130], noise=[0.0, 0.4], x_scale=[1.0, 2.5],
         outlier_kind=["leverage", "response"], outlier_frac=[0.0, 0.1, 1.0], outlier_scale=[0.0, 7.0],
         order=["fixed", "online", "shuffle"], epochs=2, intercept=-0.0, coef=-1.5),
    dict(seed=range(6), data="lecture", order=["fixed", "online", "replacement"]),
])
def test_chunk_data_is_make_dataset_bit_for_bit(kw):
    """The engine's vectorised datasets (numba generators for "gaussian") are make_dataset's."""
    cfg = lrsweep.SweepConfig(lr=[0.01, 0.02], **kw)
    n_groups = cfg.n_trajectories // grid.lanes_per_group(cfg)
    groups = np.arange(n_groups)
    for sel in (groups, groups[n_groups // 3:]):
        data = ChunkData(cfg, sel)
        for li, g in enumerate(sel):
            key, order = grid.group_key(cfg, int(g))
            ds = dataset_for(cfg, key, order)
            o, m = data.g_doff[li], data.g_m[li]
            assert m == len(ds)
            np.testing.assert_array_equal(data.x[o:o + m].view(np.int64), ds.x.view(np.int64))
            np.testing.assert_array_equal(data.y[o:o + m].view(np.int64), ds.y.view(np.int64))
            assert np.float64(data.g_ref[li]).view(np.int64) == np.float64(ds.theta_ref).view(np.int64)
            r = ds.y - ds.theta_ref * ds.x
            xr, xx = ds.x * r, ds.x * ds.x
            stats = np.array([np.mean(r * r), np.mean(xr), np.mean(xx), np.mean(xr * xr), np.mean(xx * xx)])
            np.testing.assert_array_equal(data.g_stats[:, li].view(np.int64), stats.view(np.int64))
            if order in ("shuffle", "replacement"):
                idx = sample_order(order, key[1], cfg.epochs, key[0])
                i0 = data.g_ioff[li]
                np.testing.assert_array_equal(data.idx[i0:i0 + len(idx)], idx)
            else:
                assert data.g_ioff[li] == -1


def test_chunk_data_does_not_depend_on_threads():
    """ChunkData splits its datasets and sample orders over threads (engine.threads.in_parallel):
    the same bits with 1 and 2 threads, ranges cut anywhere."""
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 numba threads")
    cfg = lrsweep.SweepConfig(lr=[0.01, 0.02], seed=range(150), n_samples=[3, 40], noise=[0.0, 0.4],
                              outlier_kind=["leverage", "response"], outlier_frac=[0.0, 0.1],
                              order=["fixed", "online", "shuffle", "replacement"], epochs=2)
    groups = np.arange(cfg.n_trajectories // grid.lanes_per_group(cfg))
    assert len(groups) > 4 * 256  # several pieces per thread
    built = []
    for threads in (1, 2):
        with numba_threads(threads):
            built.append(ChunkData(cfg, groups))
    one, two = built
    for name in ("x", "y", "g_ref", "g_stats", "idx", "g_doff", "g_ioff"):
        a, b = (np.ascontiguousarray(getattr(d, name)) for d in (one, two))
        assert a.dtype == b.dtype and np.array_equal(a.view(np.uint8), b.view(np.uint8)), name
