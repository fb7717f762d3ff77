"""The optimizer axes (issue 14): what they cost, and that today's workload kept its speed.

Three measurements, each from calls interleaved in one process (rounds of
every engine back to back, ratios = medians of per-round ratios), because
this machine is shared and separate benchmarks minutes apart move by tens of
per cent:

* ``test_default_workload_keeps_its_speed``: the kernel before the optimizer
  axes (``kernel_before_optimizer_axes.py``, a verbatim copy of
  ``lrsweep/engine/kernel.py`` at commit c59853d with absolute imports, kept
  only for this comparison) against today's, on the same laid-out arrays:
  shared data (an lr sweep on the lecture data) and per-trajectory datasets
  (gathered blocks). Same bits, and the ratio new / old.
* ``test_feature_costs``: per trajectory-step (per sample processed for
  batches) relative to plain SGD on the same workload: a non-constant
  schedule (cosine), momentum (heavy ball, Nesterov), batches of 4, and all
  three together. Targets (issue 14): schedule <= 1.2x, momentum <= 1.5x,
  batch <= 1.2x per sample.
* ``test_cold_compile_of_each_variant`` (``LRSWEEP_BENCH_FULL=1`` only): the
  first call of each variant in a fresh process with an empty numba cache,
  under the 8 s target, and a sweep compiles only the variant it uses.

Targets are asserted with ``LRSWEEP_BENCH_FULL=1`` (large sizes, 5 rounds);
the default smoke run checks the bits and that everything runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import kernel_before_optimizer_axes as old_kernel
import numpy as np
import pytest
from baselines import FULL, STEPS, interleaved, kernel_run, median_ratio, shared_config, whole_sweep_call

import lrsweep
from lrsweep.engine.chunk import ChunkCall

#: Trajectories per call and interleaved rounds.
T = 100_000 if FULL else 2_000
ROUNDS = 5 if FULL else 1






def _run_old(call: ChunkCall):
    """The old kernel on the new call's arrays (it takes neither batches, schedules nor momentum)."""
    a = call.args
    # new: x y doff ioff ref floor2 beta nest idx sched epochs b_start b_len b_m b_n b_bs b_soff b_gather ...
    old = (*a[:6], a[8], a[10], a[11], a[12], a[13], a[14], a[17], *a[18:])
    n = len(call.plan.b_start)
    return lambda: old_kernel.run_chunk_nb(*old, 0, n)






WORKLOADS = {
    "shared": lambda: shared_config(T),
    "gathered": lambda: lrsweep.SweepConfig(lr=0.01, seed=range(T), n_samples=100, epochs=5, noise=1.0),
    # Explicit orders stage every lane's sample at every step: the path where per-block views
    # matter (indexing the chunk's arrays at s0 + j made it 1.6-1.7x slower than before).
    "gathered shuffle": lambda: lrsweep.SweepConfig(lr=0.01, seed=range(T), n_samples=100, epochs=5,
                                                    order="shuffle"),
}


@pytest.mark.parametrize("workload", list(WORKLOADS))
@pytest.mark.benchmark(group="optimizer axes: today's workload, old vs new kernel")
def test_default_workload_keeps_its_speed(benchmark, workload):
    call = whole_sweep_call(WORKLOADS[workload]())
    new, old = kernel_run(call), _run_old(call)
    new()
    got = call.out_f.copy(), call.out_i.copy()
    old()
    assert np.array_equal(got[0].view(np.uint64), call.out_f.view(np.uint64))  # the same bits
    assert np.array_equal(got[1], call.out_i)
    times: dict[str, list[float]] = {}
    benchmark.pedantic(lambda: times.update(interleaved({"new": new, "old": old}, ROUNDS)),
                       rounds=1, iterations=1)
    ratio = median_ratio(times, "new", "old")
    rate = T * STEPS / float(np.median(times["new"]))
    benchmark.extra_info.update(T=T, rounds=ROUNDS, new_over_old=ratio, new_traj_steps_per_s=rate)
    print(f"\n{workload}: new / old {ratio:.3f} ({ROUNDS} rounds, T = {T}); new {rate:.3g} traj-steps/s")
    if FULL:
        assert ratio < 1.1, ratio  # no slower (10 %: the spread of interleaved medians on this machine)


FEATURES = {  # name: (config keywords, samples per step relative to plain, target)
    "cosine schedule": (dict(schedule="cosine"), 1, 1.2),
    "momentum": (dict(momentum=0.9), 1, 1.5),
    "nesterov": (dict(momentum=0.9, nesterov=True), 1, 1.5),
    "batch 4": (dict(batch_size=4), 1, 1.2),  # the same samples processed, a quarter of the updates
    "all three": (dict(schedule="cosine", momentum=0.9, batch_size=4), 1, 1.5),
}


@pytest.mark.parametrize("workload", list(WORKLOADS))
@pytest.mark.benchmark(group="optimizer axes: cost per sample processed, interleaved")
def test_feature_costs(benchmark, workload):
    """Each feature's time per sample processed over plain SGD's, on the same data and lrs."""
    base = WORKLOADS[workload]()
    kw = {a: base.axes[a] for a in ("lr", "seed", "n_samples", "noise")}
    fns = {"plain": kernel_run(whole_sweep_call(base))}
    for name, (extra, _, _) in FEATURES.items():
        cfg = lrsweep.SweepConfig(**kw, data=base.data, epochs=base.epochs, **extra)
        fns[name] = kernel_run(whole_sweep_call(cfg))
    times: dict[str, list[float]] = {}
    benchmark.pedantic(lambda: times.update(interleaved(fns, ROUNDS)), rounds=1, iterations=1)
    ratios = {name: median_ratio(times, name, "plain") for name in FEATURES}
    benchmark.extra_info.update(T=T, rounds=ROUNDS, **{f"{k}_over_plain": v for k, v in ratios.items()})
    print(f"\n{workload}, per sample processed over plain ({ROUNDS} rounds, T = {T}): "
          + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items()))
    if FULL:
        for name, (_, _, target) in FEATURES.items():
            assert ratios[name] <= target, (name, ratios[name])


COMPILE_PROBE = """
import json, sys, time
import numpy as np
import lrsweep
from lrsweep.engine import kernel
extra = json.loads(sys.argv[1])
gather = extra.pop("gathered")
cfg = lrsweep.SweepConfig(lr=[0.01, 0.1] if gather else np.geomspace(1e-3, 1, 16), data="lecture", **extra)
t = time.perf_counter()
lrsweep.sweep(cfg, progress=False)
print(json.dumps({"seconds": time.perf_counter() - t, "variants": len(kernel._VARIANTS)}))
"""


@pytest.mark.skipif(not FULL, reason="cold compiles take ~5 s each: LRSWEEP_BENCH_FULL=1")
@pytest.mark.parametrize("gathered", [False, True])
@pytest.mark.parametrize("extra", [{}, {"schedule": "cosine"}, {"batch_size": 4}, {"momentum": 0.9},
                                   {"schedule": "cosine", "batch_size": 4, "momentum": 0.9}],
                         ids=["plain", "schedule", "batch", "momentum", "all"])
def test_cold_compile_of_each_variant(extra, gathered, tmp_path):
    """First call of one variant with an empty numba cache: under 8 s, and only that variant is made."""
    out = subprocess.run([sys.executable, "-c", COMPILE_PROBE, json.dumps({**extra, "gathered": gathered})],
                         capture_output=True, text=True, check=True, timeout=300,
                         env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "NUMBA_NUM_THREADS": "1"})
    info = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\ncold first call {extra or 'plain'} ({'gathered' if gathered else 'shared'}): "
          f"{info['seconds']:.2f} s")
    assert info["variants"] == 1
    assert info["seconds"] < 8.0
