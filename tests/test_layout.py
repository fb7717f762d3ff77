"""The block plan of a chunk (lrsweep.engine.layout)."""

from __future__ import annotations

import numpy as np

import lrsweep
from lrsweep import grid
from lrsweep.engine import layout


def test_plan_chunk_blocks():
    """Blocks cover the chunk in order, hold at most BLOCK_LANES lanes, and gathered blocks
    only mix groups of equal n_samples and order (hence equal steps and order kind)."""
    cfg = lrsweep.SweepConfig(lr=[0.01, 0.1], seed=range(40), n_samples=[5, 30],
                              order=["fixed", "shuffle"])
    assert grid.lanes_per_group(cfg) < layout.GATHER_BELOW
    for chunk in grid.chunks(cfg, 77):
        plan = layout.plan_chunk(cfg, chunk)
        assert plan.b_gather.all()
        np.testing.assert_array_equal(plan.b_start, np.concatenate([[0], np.cumsum(plan.b_len)[:-1]]))
        assert plan.b_len.sum() == len(chunk) and (plan.b_len >= 1).all()
        assert (plan.b_len <= layout.BLOCK_LANES).all()
        vals = grid.axis_values(cfg, np.arange(chunk.start, chunk.stop))
        for s, n in zip(plan.b_start, plan.b_len, strict=True):
            assert len(set(vals["n_samples"][s:s + n])) == 1
            assert len(set(vals["order"][s:s + n])) == 1
    # Shared blocks: one group each.
    cfg = lrsweep.SweepConfig(lr=np.geomspace(1e-3, 1, 150), seed=[0, 1])
    plan = layout.plan_chunk(cfg, grid.chunks(cfg, cfg.n_trajectories)[0])
    assert not plan.b_gather.any()
    assert all(len(set(plan.lane_group[s:s + n])) == 1 for s, n in zip(plan.b_start, plan.b_len, strict=True))
    np.testing.assert_array_equal(plan.b_len, [64, 64, 22, 64, 64, 22])
