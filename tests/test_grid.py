"""Grid bookkeeping: lane values without index arrays equal the general lookup."""

from __future__ import annotations

import numpy as np
import pytest

import lrsweep
from lrsweep import grid


@pytest.mark.parametrize(("start", "stop"), [(0, 1), (0, 120), (7, 93), (119, 120), (35, 35)])
def test_lane_values_equal_axis_values(start, stop):
    cfg = lrsweep.SweepConfig(lr=[0.3, 0.01, 2.0], theta0=[-1.0, 4.0], seed=range(4), n_samples=[5, 9],
                              order=["fixed", "shuffle"], noise=[0.0, 0.5])
    assert cfg.n_trajectories == 192
    lr, th = grid.lane_values(cfg, start, stop)
    vals = grid.axis_values(cfg, np.arange(start, stop))
    assert lr.dtype == th.dtype == np.float64
    np.testing.assert_array_equal(lr, vals["lr"].astype(np.float64))
    np.testing.assert_array_equal(th, vals["theta0"].astype(np.float64))


@pytest.mark.parametrize("n_lr", [1, 3, 50])
@pytest.mark.parametrize(("start", "stop"), [(0, 1), (0, 100), (7, 93), (49, 51), (40, 140), (149, 150)])
def test_lane_values_one_theta0(n_lr, start, stop):
    """One theta0: lr from slices of the lr axis (within it, wrapping once, or tiled)."""
    cfg = lrsweep.SweepConfig(lr=np.geomspace(1e-3, 1, n_lr), seed=range(150))
    stop = min(stop, cfg.n_trajectories)
    lr, th = grid.lane_values(cfg, start, stop)
    vals = grid.axis_values(cfg, np.arange(start, stop))
    assert lr.dtype == th.dtype == np.float64 and lr.flags.writeable
    np.testing.assert_array_equal(lr, vals["lr"].astype(np.float64))
    np.testing.assert_array_equal(th, vals["theta0"].astype(np.float64))


def test_default_chunks_split_a_group_bigger_than_a_chunk():
    # One group of 40,000 learning rates: chunks of CHUNK_TRAJECTORIES lanes, not one 40,000-lane chunk.
    cfg = lrsweep.SweepConfig(lr=np.geomspace(1e-3, 1, 40_000))
    assert grid.default_chunk_size(cfg) == grid.CHUNK_TRAJECTORIES
    small = lrsweep.SweepConfig(lr=[0.01, 0.1, 1.0], seed=range(10_000))
    size = grid.default_chunk_size(small)
    assert size % 3 == 0 and grid.CHUNK_TRAJECTORIES - 3 < size <= grid.CHUNK_TRAJECTORIES


def test_a_group_split_over_chunks_gives_the_same_table():
    from conftest import run

    cfg = lrsweep.SweepConfig(lr=np.geomspace(1e-3, 2, 500), seed=range(3), n_samples=20)
    whole = run(cfg, chunk_size=1500)
    split = run(cfg, chunk_size=170)  # every group cut in several places
    assert split.frame.equals(whole.frame)
