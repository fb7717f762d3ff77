"""The dask.distributed backend: a real 2-process LocalCluster gives the local table, bit for bit."""

from __future__ import annotations

import os
import signal
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import run

import lrsweep

distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
psutil = pytest.importorskip("psutil")

from lrsweep.distributed import local_cluster  # noqa: E402

CFG = dict(lr=[0.01, 0.3, 1.5], seed=range(40), n_samples=[10, 50], order=["fixed", "shuffle"])


def _children() -> dict[int, str]:
    out = {}
    for p in psutil.Process().children(recursive=True):
        try:
            cmd = " ".join(p.cmdline())
        except psutil.Error:  # already gone
            continue
        # multiprocessing's resource tracker is one per interpreter, started on first
        # use and ended with the interpreter: not something a test can leak.
        if "resource_tracker" not in cmd:
            out[p.pid] = cmd
    return out


def _scratch() -> set:
    return set(Path(tempfile.gettempdir()).glob("lrsweep-dask-*"))


@pytest.fixture(scope="module")
def client():
    before = _children()
    scratch_before = _scratch()
    with local_cluster(2, numba_threads=1) as c:
        assert len(_scratch() - scratch_before) == 1  # the workers' scratch directory
        yield c
    assert _scratch() == scratch_before  # removed with the cluster
    # No worker, nanny or spawned process outlives the cluster.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        left = {pid: cmd for pid, cmd in _children().items() if pid not in before}
        if not left:
            break
        time.sleep(0.2)
    assert not left, f"processes left behind: {left}"


def test_two_worker_processes_give_the_local_table_bit_for_bit(client):
    cfg = lrsweep.SweepConfig(**CFG)
    local = run(cfg, chunk_size=37, record="seed == 3")
    dist = run(cfg, chunk_size=37, record="seed == 3", client=client)
    assert dist.meta["backend"] == "dask" and dist.meta["chunks_computed"] == dist.meta["chunks"] > 1
    assert dist == local
    # Really two processes, neither of them this one.
    pids = set(client.run(os.getpid).values())
    assert len(pids) == 2 and os.getpid() not in pids


def test_checkpointed_dask_sweep_resumes_locally(client, tmp_path):
    cfg = lrsweep.SweepConfig(**CFG)
    dist = run(cfg, chunk_size=50, client=client, out=tmp_path)
    again = run(cfg, chunk_size=50, out=tmp_path)
    assert again.meta["chunks_loaded"] == again.meta["chunks"]
    assert again == dist == run(cfg, chunk_size=50)


def test_local_threads_dask_and_three_shards_agree(client, tmp_path):
    cfg = lrsweep.SweepConfig(**CFG)
    threads = run(cfg, chunk_size=29, threads=2)
    dist = run(cfg, chunk_size=29, client=client)
    for i in range(3):
        lrsweep.sweep_shard(cfg, (i, 3), out=tmp_path, chunk_size=29, client=client if i == 1 else None)
    merged = lrsweep.checkpoint.load_results(tmp_path)
    assert threads == dist
    assert merged.frame.equals(threads.frame)


def test_a_worker_killed_mid_sweep_is_replaced_and_the_table_is_unchanged(client, tmp_path):
    # ~30 chunks of about 0.1 s each: long enough to kill a worker after the first chunk.
    cfg = lrsweep.SweepConfig(lr=np.geomspace(1e-3, 1, 10), seed=range(3000), n_samples=500, epochs=4)
    local = run(cfg, chunk_size=100, threads=1)
    old_pids = set(client.run(os.getpid).values())
    box: dict = {}

    def target():
        try:
            box["res"] = run(cfg, chunk_size=100, client=client, out=tmp_path)
        except BaseException as exc:  # surfaced below
            box["exc"] = exc

    th = threading.Thread(target=target)
    th.start()
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("chunk-*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.01)
    victim = sorted(old_pids)[0]
    killed_while_running = th.is_alive() and len(list(tmp_path.glob("chunk-*.parquet"))) < 30
    os.kill(victim, signal.SIGKILL)
    th.join(timeout=300)
    assert not th.is_alive()
    if "exc" in box:
        raise box["exc"]
    assert killed_while_running
    assert box["res"] == local
    # The nanny started a new worker process in place of the killed one.
    client.wait_for_workers(2, timeout=60)
    new_pids = set(client.run(os.getpid).values())
    assert victim not in new_pids and len(new_pids) == 2


def test_a_bad_client_is_refused():
    with pytest.raises(TypeError, match=r"The 'client' parameter of sweep must be a "
                                        r"dask.distributed.Client or None. Got str instead."):
        lrsweep.sweep(lrsweep.SweepConfig(), client="tcp://localhost:8786")


def test_study_on_an_existing_scheduler_gives_the_local_table(client, tmp_path):
    import pandas as pd

    from lrsweep import study

    argv = ["divergence", "--quick", "--no-progress", "--set", "seed=0:1200"]
    assert study.main([*argv, "--out", str(tmp_path / "local")]) == 0
    assert study.main([*argv, "--out", str(tmp_path / "dask"), "--scheduler", client.scheduler.address]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "dask" / "trajectories.parquet"),
                                  pd.read_parquet(tmp_path / "local" / "trajectories.parquet"))


def test_an_unreachable_scheduler_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    from lrsweep import study

    with pytest.raises(OSError):
        lrsweep.distributed.connect("tcp://127.0.0.1:1", timeout=1)
    # The CLI waits 10 s for a scheduler; 1 s is enough to fail here.
    monkeypatch.setitem(lrsweep.distributed.connect.__wrapped__.__kwdefaults__, "timeout", 1)
    argv = ["seed", "--out", str(tmp_path), "--no-progress", "--scheduler", "tcp://127.0.0.1:1"]
    assert study.main(argv) == 2
    err = capsys.readouterr().err
    assert "cannot connect to the dask scheduler 'tcp://127.0.0.1:1'" in err and err.count("\n") == 1
