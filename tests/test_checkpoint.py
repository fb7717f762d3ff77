"""Checkpointed sweeps: finished chunks survive a crash, resume exactly, never mix."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from conftest import run, wait_for_chunks

import lrsweep

CFG = dict(lr=[0.01, 0.3, 1.5], seed=range(40), n_samples=[10, 50], order=["fixed", "shuffle"])


def test_rerun_loads_every_chunk_and_equals_a_plain_run(tmp_path):
    cfg = lrsweep.SweepConfig(**CFG)
    plain = run(cfg, chunk_size=50, record="seed == 3")
    first = run(cfg, chunk_size=50, record="seed == 3", out=tmp_path)
    assert first.meta["chunks_computed"] == first.meta["chunks"] > 1
    again = run(cfg, chunk_size=50, record="seed == 3", out=tmp_path)
    assert again.meta["chunks_loaded"] == again.meta["chunks"] and again.meta["chunks_computed"] == 0
    assert again == plain and first == plain
    assert not list(tmp_path.glob(".*tmp"))  # no temporary files left behind


def test_truncated_chunk_is_recomputed(tmp_path):
    cfg = lrsweep.SweepConfig(**CFG)
    plain = run(cfg, chunk_size=50)
    run(cfg, chunk_size=50, out=tmp_path)
    victim = tmp_path / "chunk-000003.parquet"
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])
    again = run(cfg, chunk_size=50, out=tmp_path)
    assert again.meta["chunks_computed"] == 1
    assert again == plain


def test_foreign_sweep_is_refused_naming_both_hashes(tmp_path):
    run(lrsweep.SweepConfig(**CFG), chunk_size=50, out=tmp_path)
    other = lrsweep.SweepConfig(**{**CFG, "epochs": 6})
    with pytest.raises(ValueError, match=r"holds chunks of another sweep \(key [0-9a-f]{64}\); this sweep "
                                         r"has key [0-9a-f]{64}"):
        run(other, chunk_size=50, out=tmp_path)
    with pytest.raises(ValueError, match="another sweep"):  # a different chunking is another sweep too
        run(lrsweep.SweepConfig(**CFG), chunk_size=51, out=tmp_path)


KILL_SCRIPT = """
import sys, numpy as np, lrsweep
cfg = lrsweep.SweepConfig(lr=np.geomspace(0.01, 2, 50), seed=range(400), n_samples=1000, epochs=5)
lrsweep.sweep(cfg, chunk_size=250, out=sys.argv[1], progress=False, threads=1)
"""


def test_sigkill_then_rerun_is_identical_and_recomputes_only_the_rest(tmp_path):
    out = tmp_path / "ck"
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(out)])
    try:
        wait_for_chunks(proc, out, "chunk-*.parquet", count=2, timeout=240)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    done_before = len(list(out.glob("chunk-*.parquet")))
    cfg = lrsweep.SweepConfig(lr=np.geomspace(0.01, 2, 50), seed=range(400), n_samples=1000, epochs=5)
    resumed = run(cfg, chunk_size=250, out=out)
    assert resumed.meta["chunks_loaded"] >= min(done_before, 2) >= 1
    assert resumed.meta["chunks_computed"] == resumed.meta["chunks"] - resumed.meta["chunks_loaded"]
    assert resumed.meta["chunks_computed"] < resumed.meta["chunks"]
    assert resumed == run(cfg, chunk_size=250)


def test_three_shards_merge_into_the_single_run_table(tmp_path):
    cfg = lrsweep.SweepConfig(**CFG)
    single = run(cfg, chunk_size=37, record="seed == 2")
    reports = [lrsweep.sweep_shard(cfg, (i, 3), out=tmp_path, chunk_size=37, record="seed == 2")
               for i in (2, 0, 1)]
    assert sum(r.chunks for r in reports) == single.meta["chunks"]
    assert all(r.chunks_computed == r.chunks for r in reports)
    merged = run(cfg, chunk_size=37, record="seed == 2", out=tmp_path)
    assert merged.meta["chunks_computed"] == 0
    assert merged == single
    # A shard run again finds its chunks done.
    again = lrsweep.sweep_shard(cfg, (1, 3), out=tmp_path, chunk_size=37, record="seed == 2")
    assert again.chunks_computed == 0


@pytest.mark.parametrize("shard", [(3, 3), (-1, 2), (0, 0), "0/2", (0.0, 2)])
def test_bad_shard(shard, tmp_path):
    with pytest.raises(ValueError, match=r"The 'shard' parameter of sweep_shard must be a pair \(i, N\)"):
        lrsweep.sweep_shard(lrsweep.SweepConfig(), shard, out=tmp_path)
