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
