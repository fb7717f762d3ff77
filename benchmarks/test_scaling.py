"""How the kernel scales: trajectories, threads, per-trajectory datasets,
end-to-end overhead, import time, compile time and memory per trajectory.

The subprocess benchmarks (cold compile, cached first call, memory) run only
with ``LRSWEEP_BENCH_FULL=1``: each takes seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from baselines import (
    FULL,
    STEPS,
    KernelCall,
    lrs,
    numba_threads,
    record_rate,
    reference_frame,
    seed_config,
    shared_config,
    warm_up,
)

import lrsweep


@pytest.fixture(scope="module")
def warm():
    """Compile (or load from cache) the kernel once, outside every timed region."""
    return warm_up()


full_only = pytest.mark.skipif(not FULL, reason="takes seconds: set LRSWEEP_BENCH_FULL=1 to run it")


def _check_shared(theta: np.ndarray, T: int) -> None:
    """theta_final of a shared-data sweep of size T against lrsweep.sweep (strided sample)."""
    pick = np.unique(np.linspace(0, T - 1, 50).astype(np.int64))
    small = lrsweep.sweep(
        lrsweep.SweepConfig(lr=lrs(T)[pick], seed=0, n_samples=100, epochs=5, data="lecture"),
        progress=False,
    ).frame
    np.testing.assert_array_equal(theta[pick], small["theta_final"].to_numpy())


# ------------------------------------------------------------- trajectories


@pytest.mark.parametrize("T", [1_000, 10_000, 100_000, *([1_000_000] if FULL else [])])
@pytest.mark.benchmark(group="scaling: shared-data trajectories, bare kernel, 1 thread")
def test_kernel_trajectories(benchmark, warm, T):
    call = KernelCall(shared_config(T))
    with numba_threads(1):
        call()
        theta = benchmark(call)
    record_rate(benchmark, T * STEPS, T=T, threads=1, engine="kernel")
    _check_shared(theta, T)


# ------------------------------------------------------------- divergence


T_DIV = 100_000 if FULL else 5_000


@pytest.mark.parametrize("regime", ["stable", "diverging"])
@pytest.mark.benchmark(group="divergence: frozen lanes cost no more than live ones, bare kernel, 1 thread")
def test_kernel_divergence_freeze(benchmark, warm, regime):
    # Same data and sizes; lr in [2, 4] on N(0, 1) data leaves the bound within a few dozen steps.
    lr = lrs(T_DIV) if regime == "stable" else np.geomspace(2.0, 4.0, T_DIV)
    cfg = lrsweep.SweepConfig(lr=lr, seed=0, n_samples=100, epochs=5, data="lecture")
    call = KernelCall(cfg)
    with numba_threads(1):
        call()
        benchmark(call)
    record_rate(benchmark, T_DIV * STEPS, T=T_DIV, threads=1, engine="kernel", regime=regime)
    out_f, out_i = call.outputs()
    diverged = (out_i[0] == int(lrsweep.Status.DIVERGED)).mean()
    assert diverged == (0.0 if regime == "stable" else 1.0)
    pick = np.unique(np.linspace(0, T_DIV - 1, 40).astype(np.int64))
    small = lrsweep.sweep(cfg.replace(lr=lr[pick]), progress=False).frame
    np.testing.assert_array_equal(out_f[0][pick], small["theta_final"].to_numpy())
    np.testing.assert_array_equal(out_i[2][pick], small["diverged_step"].to_numpy())


# ------------------------------------------------------------- threads


T_THREADS = 200_000 if FULL else 20_000


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.benchmark(group="threads: lrsweep.sweep end-to-end, shared data")
def test_sweep_threads(benchmark, warm, threads):
    cfg = shared_config(T_THREADS)
    res = benchmark(lrsweep.sweep, cfg, progress=False, threads=threads)
    record_rate(benchmark, T_THREADS * STEPS, T=T_THREADS, threads=threads, engine="sweep")
    _check_shared(res.frame["theta_final"].to_numpy(), T_THREADS)


# ------------------------------------------------------------- per-trajectory datasets


T_SEEDS = 100_000 if FULL else 2_000


@pytest.fixture(scope="module")
def seed_call(warm):
    call = KernelCall(seed_config(T_SEEDS))  # builds T_SEEDS datasets (not timed)
    # Every group has one lane: the chunk runs as gathered blocks of 64 lanes.
    assert call.plan_gathered()
    return call


def _check_per_trajectory(call: KernelCall) -> None:
    """Every metric of a strided sample of lanes equals lrsweep.sweep, bit for bit."""
    from lrsweep.metrics import FLOAT_FIELDS, INT_FIELDS

    pick = np.unique(np.linspace(0, T_SEEDS - 1, 40).astype(np.int64))
    ref = lrsweep.sweep(lrsweep.SweepConfig(lr=0.01, seed=pick.tolist(), n_samples=100, epochs=5),
                        progress=False).frame
    out_f, out_i = call.outputs()
    for row, name in enumerate(FLOAT_FIELDS):
        got, want = out_f[row, pick], ref[name].to_numpy()
        assert np.array_equal(got.view(np.int64), want.view(np.int64)), name
    for row, name in enumerate(INT_FIELDS):
        if name != "status":  # categorical in the frame
            np.testing.assert_array_equal(out_i[row, pick], ref[name].to_numpy(), err_msg=name)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.benchmark(group="per-trajectory datasets: bare kernel, gathered blocks (lr=0.01, seed=range(T))")
def test_kernel_per_trajectory_data(benchmark, seed_call, threads):
    with numba_threads(threads):
        seed_call()
        benchmark(seed_call)
    record_rate(benchmark, T_SEEDS * STEPS, T=T_SEEDS, threads=threads, engine="kernel-seeds")
    _check_per_trajectory(seed_call)


# ------------------------------------------------------------- end-to-end vs bare kernel


T_E2E = 1_000_000 if FULL else 10_000


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.benchmark(group="end-to-end: lrsweep.sweep vs bare kernel")
def test_e2e_sweep(benchmark, warm, threads):
    cfg = shared_config(T_E2E)
    res = benchmark(lrsweep.sweep, cfg, progress=False, threads=threads)
    record_rate(benchmark, T_E2E * STEPS, T=T_E2E, engine="sweep", threads=threads)
    np.testing.assert_array_equal(res.frame["theta_final"].to_numpy(),
                                  reference_frame(T_E2E)["theta_final"].to_numpy())


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.benchmark(group="end-to-end: lrsweep.sweep vs bare kernel")
def test_e2e_bare_kernel(benchmark, warm, threads):
    call = KernelCall(shared_config(T_E2E))
    with numba_threads(threads):
        call()
        theta = benchmark(call)
    record_rate(benchmark, T_E2E * STEPS, T=T_E2E, engine="kernel", threads=threads)
    np.testing.assert_array_equal(theta, reference_frame(T_E2E)["theta_final"].to_numpy())


# ------------------------------------------------------------- subprocesses


def _run_py(code: str, env: dict | None = None, timeout: float = 600) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON line last."""
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=timeout, check=True,
        env={**os.environ, **(env or {})},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


IMPORT_CODE = """
import json, sys, time
t = time.perf_counter()
import lrsweep
dt = time.perf_counter() - t
print(json.dumps({"import_s": dt, "numba_imported": "numba" in sys.modules,
                  "pandas_imported": "pandas" in sys.modules}))
"""


@pytest.mark.benchmark(group="subprocess: import lrsweep")
def test_import_time(benchmark):
    info = benchmark.pedantic(_run_py, args=(IMPORT_CODE,), rounds=5 if FULL else 1, iterations=1)
    benchmark.extra_info.update(info)  # last round; the timing includes interpreter start-up
    assert info["import_s"] < 5.0


FIRST_CALL_CODE = """
import json, time
t = time.perf_counter()
import lrsweep
res = lrsweep.sweep(lrsweep.SweepConfig(lr=[0.01, 0.1], data="lecture"), progress=False)
print(json.dumps({"first_call_s": time.perf_counter() - t,
                  "theta_final": res.frame["theta_final"].tolist()}))
"""


@full_only
@pytest.mark.benchmark(group="subprocess: first sweep (import + compile or cache load)")
def test_cold_compile(benchmark, tmp_path_factory):
    def fresh_cache():
        return (FIRST_CALL_CODE, {"NUMBA_CACHE_DIR": str(tmp_path_factory.mktemp("numba_cold"))}), {}

    info = benchmark.pedantic(_run_py, setup=fresh_cache, rounds=1, iterations=1)
    benchmark.extra_info.update(info)
    assert len(info["theta_final"]) == 2


@full_only
@pytest.mark.benchmark(group="subprocess: first sweep (import + compile or cache load)")
def test_cached_first_call(benchmark, tmp_path_factory):
    env = {"NUMBA_CACHE_DIR": str(tmp_path_factory.mktemp("numba_cached"))}
    _run_py(FIRST_CALL_CODE, env)  # populate the cache (not timed)
    info = benchmark.pedantic(_run_py, args=(FIRST_CALL_CODE, env), rounds=3, iterations=1)
    benchmark.extra_info.update(info)
    assert len(info["theta_final"]) == 2


MEMORY_CODE = """
import json, tracemalloc
import numpy as np
import lrsweep
from lrsweep.planner import peak_rss
T, record = {T}, {record!r}
lrsweep.sweep(lrsweep.SweepConfig(lr=[0.01, 0.1], data="lecture"), progress=False)  # warm-up
cfg = lrsweep.SweepConfig(lr=np.geomspace(1e-3, 1, T), seed=0, n_samples=100, epochs=5, data="lecture")
tracemalloc.start()  # NumPy reports its buffers to tracemalloc
res = lrsweep.sweep(cfg, progress=False, record=record, record_every=10)
_cur, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
frame = int(res.frame.memory_usage(deep=True, index=False).sum())
rec = 0 if res.records is None else int(res.records.memory_usage(deep=True, index=False).sum())
print(json.dumps({{"T": T, "tracemalloc_peak_bytes": peak, "peak_bytes_per_trajectory": peak / T,
                  "frame_bytes_per_trajectory": frame / T, "records_bytes": rec,
                  "beyond_results_bytes_per_trajectory": (peak - frame - rec) / T,
                  "process_peak_rss_bytes": peak_rss()}}))
"""


@full_only
@pytest.mark.parametrize(("T", "record"), [(100_000, None), (1_000_000, None), (100_000, "lr < 0.002")])
@pytest.mark.benchmark(group="subprocess: sweep, peak memory")
def test_peak_memory(benchmark, T, record):
    info = benchmark.pedantic(_run_py, args=(MEMORY_CODE.format(T=T, record=record),), rounds=1,
                              iterations=1)
    benchmark.extra_info.update(info)
    print(f"\nT={T}, record={record}: tracemalloc peak {info['peak_bytes_per_trajectory']:.0f} "
          f"B/trajectory, results frame {info['frame_bytes_per_trajectory']:.0f} B/trajectory, "
          f"beyond the results {info['beyond_results_bytes_per_trajectory']:.0f} B/trajectory")
    assert info["peak_bytes_per_trajectory"] < 10_000


DISK_CODE = """
import json, sys, tempfile, time
import numpy as np
import lrsweep
from lrsweep.planner import peak_rss, plan_memory
lrsweep.sweep(lrsweep.SweepConfig(lr=[0.01, 0.1]), progress=False)  # warm-up
# 1e7 trajectories: 1000 learning rates x 10,000 datasets of 100 samples, 5 epochs.
cfg = lrsweep.SweepConfig(lr=np.geomspace(1e-3, 1, 1000), seed=range(10_000))
plan = plan_memory(cfg, collect=False)
with tempfile.TemporaryDirectory() as d:
    t = time.perf_counter()
    rep = lrsweep.sweep_shard(cfg, (0, 1), out=d)
    wall = time.perf_counter() - t
print(json.dumps({"T": cfg.n_trajectories, "chunks": rep.chunks, "wall_s": wall,
                  "process_peak_rss_bytes": peak_rss(), "planner_estimate_bytes": plan.peak_bytes}))
"""


@full_only
@pytest.mark.benchmark(group="subprocess: 1e7 trajectories to disk in chunks")
def test_ten_million_to_disk(benchmark):
    info = benchmark.pedantic(_run_py, args=(DISK_CODE,), rounds=1, iterations=1, kwargs={"timeout": 1800})
    benchmark.extra_info.update(info)
    print(f"\n1e7 to disk: peak RSS {info['process_peak_rss_bytes'] / 2**20:.0f} MB, planner "
          f"{info['planner_estimate_bytes'] / 2**20:.0f} MB, {info['wall_s']:.1f} s")
    assert info["process_peak_rss_bytes"] < 2 * 2**30
