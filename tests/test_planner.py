"""The memory planner: estimates, chunk sizes that fit, clear refusals."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import run

import lrsweep
from lrsweep import ParameterError
from lrsweep.grid import default_chunk_size
from lrsweep.planner import TABLE_ROW_BYTES, chunk_bytes, plan_memory


def test_a_table_too_big_for_memory_is_refused_at_sweep_time_with_bytes_and_advice():
    cfg = lrsweep.SweepConfig(lr=np.geomspace(1e-3, 1, 1000), seed=range(10**6))
    with pytest.raises(ParameterError) as info:
        lrsweep.sweep(cfg, progress=False)
    msg = str(info.value)
    assert "1,000,000,000 trajectories" in msg and "GB" in msg and "memory_limit" in msg
    assert "seed: 1000000 values" in msg and "sweep_shard(config, (0, 1), out=DIR)" in msg
    # The same grid written to disk chunk by chunk fits: the table is never held.
    plan = plan_memory(cfg, collect=False)
    assert plan.table_bytes == 0 and plan.peak_bytes < plan.budget_bytes


def test_memory_limit_is_the_budget():
    cfg = lrsweep.SweepConfig(seed=range(100), memory_limit=1000)
    with pytest.raises(ParameterError, match=r"memory budget of 1000 B"):
        lrsweep.sweep(cfg, progress=False)


def test_a_recording_that_cannot_fit_is_refused_naming_record_and_the_setting():
    # 5e3 trajectories x 5e3 steps = 2.5e7 points: under the hard cap, over a 1 GB budget.
    cfg = lrsweep.SweepConfig(lr=np.geomspace(1e-3, 1, 50), seed=range(100), n_samples=1000,
                              memory_limit=2**30)
    with pytest.raises(ParameterError, match=r"The 'record' parameter of sweep asks for 5,000 "
                                             r"trajectories x 5,000 steps.*raise record_every"):
        lrsweep.sweep(cfg, record="all", progress=False)
    run(cfg.replace(seed=range(2)), record="all")  # a smaller recording fits the same budget


def test_a_tight_budget_shrinks_the_chunks_and_changes_nothing_else():
    cfg = lrsweep.SweepConfig(lr=np.geomspace(1e-3, 1, 40), seed=range(500), n_samples=200)
    default = run(cfg)
    base = plan_memory(cfg)
    assert base.chunk_size == default_chunk_size(cfg) == default.meta["chunk_size"]
    # Leave room for about a quarter of the default chunk next to the table.
    budget = base.baseline_bytes + base.table_bytes + base.chunk_bytes // 4
    tight = run(cfg.replace(memory_limit=budget))
    assert tight.meta["chunk_size"] < base.chunk_size
    assert tight.meta["chunk_size"] % 40 == 0  # whole groups
    assert chunk_bytes(cfg, tight.meta["chunk_size"]) <= budget - base.baseline_bytes - base.table_bytes
    assert tight.frame.equals(default.frame)


def test_a_chunk_that_cannot_fit_is_refused():
    cfg = lrsweep.SweepConfig(lr=0.1, n_samples=10**7, epochs=1)
    with pytest.raises(ParameterError, match=r"does not fit its memory budget.*chunk_size=1 needs about"):
        plan_memory(cfg, chunk_size=1, budget=plan_memory(cfg).baseline_bytes + 10**6)


def test_a_rerun_keeps_the_chunk_size_its_checkpoint_was_started_with(tmp_path):
    cfg = lrsweep.SweepConfig(lr=[0.01, 0.5], seed=range(60))
    first = run(cfg, chunk_size=37, out=tmp_path)
    again = run(cfg, out=tmp_path)  # no chunk_size: the checkpoint's 37, not the planner's choice
    assert again.meta["chunk_size"] == 37 and again.meta["chunks_computed"] == 0
    assert again == first


def test_table_row_bytes_matches_pandas():
    res = run(lrsweep.SweepConfig(lr=[0.01, 0.5], seed=range(50), order=["fixed", "shuffle"]))
    per_row = res.frame.memory_usage(deep=True, index=False).sum() / len(res.frame)
    assert per_row <= TABLE_ROW_BYTES <= 1.1 * per_row


PEAK_SCRIPT = """
import json, sys, tempfile
import numpy as np, lrsweep
from lrsweep.planner import peak_rss, plan_memory
cfg = lrsweep.SweepConfig(lr=np.geomspace(1e-3, 1, 1000), seed=range(int(sys.argv[1])),
                          n_samples=20, epochs=2)
lrsweep.sweep(lrsweep.SweepConfig(lr=[0.1]), progress=False)  # load the kernel first
collect = sys.argv[2] == "memory"
plan = plan_memory(cfg, collect=collect)
if collect:
    lrsweep.sweep(cfg, progress=False)
else:
    with tempfile.TemporaryDirectory() as d:
        lrsweep.sweep_shard(cfg, (0, 1), out=d)
peak = peak_rss()
from lrsweep.engine import kernel as k
misses = sum(sum(f.stats.cache_misses.values()) for f in k._VARIANTS.values())
print(json.dumps({"estimate": plan.peak_bytes, "peak": peak, "plan": plan.describe(),
                  "kernel_cache_misses": misses}))
"""


def peak_and_estimate(n_seeds: int, mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(n_seeds), mode], capture_output=True,
                         text=True, timeout=600, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode", ["memory", "disk"])
def test_the_estimate_is_within_2x_of_the_measured_peak(mode):
    # 1e6 trajectories: the table (~200 MB) dominates the in-memory sweep.
    d = peak_and_estimate(1000, mode)
    assert d["peak"] / 2 <= d["estimate"] <= 2 * d["peak"], d
