"""The kernel equals the node-graph reference bit for bit and obeys the exact dynamics."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lrsweep
from lrsweep import reference
from lrsweep.studies.common import replay


def _reference_for(cfg: lrsweep.SweepConfig, row) -> tuple[np.ndarray, np.ndarray, float]:
    ds, th, loss = replay(cfg, row)  # every axis of the row, through the node graph
    return th, loss, ds.theta_ref


def _assert_records_equal_reference(cfg: lrsweep.SweepConfig, res) -> None:
    rec = res.records.groupby("trajectory_id")
    for _, row in res.frame.iterrows():
        th_ref, loss_ref, theta_ref = _reference_for(cfg, row)
        got = rec.get_group(row["trajectory_id"]) if row["trajectory_id"] in rec.groups else None
        d = row["diverged_step"]
        n_ok = len(th_ref) if d < 0 else d - 1
        if n_ok == 0:
            assert got is None
        else:
            np.testing.assert_array_equal(got["step"].to_numpy(), np.arange(1, n_ok + 1))
            # Bit for bit: compare the float64 bit patterns.
            assert np.array_equal(got["theta"].to_numpy().view(np.int64), th_ref[:n_ok].view(np.int64))
            assert np.array_equal(got["loss"].to_numpy().view(np.int64), loss_ref[:n_ok].view(np.int64))
        assert row["theta_final"] == (th_ref[n_ok - 1] if n_ok else row["theta0"])
        if d >= 0:  # the reference's step d left the bound (or is not finite)
            scale = max(abs(row["theta0"] - theta_ref), abs(theta_ref)) or 1.0
            e_d = th_ref[d - 1] - theta_ref
            assert not abs(e_d) <= cfg.diverge_factor * scale


def test_seed_run_bit_for_bit(lecture_data):
    cfg = lrsweep.SweepConfig(lr=0.01, seed=0, theta0=-1, epochs=5, data="lecture")
    res = run(cfg, record="all")
    th_ref, loss_ref = reference.run_trajectory(lecture_data.x, lecture_data.y, lr=0.01, theta0=-1, epochs=5)
    assert np.array_equal(res.records["theta"].to_numpy(), th_ref)
    assert np.array_equal(res.records["loss"].to_numpy(), loss_ref)
    row = res.frame.iloc[0]
    assert row["status"] == "converged"
    assert 150 < row["converged_step"] < 300  # theta ~5 around iteration 200


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 25),
    epochs=st.integers(1, 4),
    lrs=st.lists(st.floats(0, 3, allow_nan=False), min_size=1, max_size=5, unique=True),
    theta0=st.lists(st.floats(-20, 20, allow_nan=False), min_size=1, max_size=2, unique=True),
    seed=st.integers(0, 2**32 - 1),
    noise=st.sampled_from([0.0, 0.5]),
    order=st.sampled_from(["fixed", "shuffle", "replacement", "online"]),
    outlier=st.sampled_from([(0.0, "leverage"), (0.2, "leverage"), (0.2, "response")]),
    data=st.sampled_from(["gaussian", "lecture"]),
    optimizer=st.sampled_from([dict(), dict(batch_size=[1, 4]),
                               dict(schedule=["constant", "warmup:4+cosine"]),
                               dict(momentum=[0.0, 0.8], nesterov=[False, True]),
                               dict(schedule="range:50", batch_size=3, momentum=0.9)]),
)
def test_kernel_equals_reference(n, epochs, lrs, theta0, seed, noise, order, outlier, data, optimizer):
    """Every recorded theta and loss of every step equals the node graph's, on every axis."""
    cfg = lrsweep.SweepConfig(lr=lrs, theta0=theta0, seed=seed, n_samples=n, epochs=epochs,
                              noise=noise, order=order, outlier_frac=outlier[0],
                              outlier_kind=outlier[1], data=data, diverge_factor=1e8, **optimizer)
    res = run(cfg, record="all")
    _assert_records_equal_reference(cfg, res)


def test_record_every_subsamples(lecture_data):
    cfg = lrsweep.SweepConfig(lr=[0.01, 0.04], data="lecture")
    res = run(cfg, record=[1], record_every=7)
    th_ref, loss_ref = reference.run_trajectory(lecture_data.x, lecture_data.y, lr=0.04, theta0=-1, epochs=5)
    rec = res.records
    assert set(rec["trajectory_id"]) == {1}
    np.testing.assert_array_equal(rec["step"], np.arange(7, 501, 7))
    np.testing.assert_array_equal(rec["theta"], th_ref[6::7])
    np.testing.assert_array_equal(rec["loss"], loss_ref[6::7])


def test_lr_zero_leaves_theta_unchanged():
    cfg = lrsweep.SweepConfig(lr=0.0, seed=range(5), theta0=[-1.0, 3.0], noise=[0.0, 1.0],
                              order=["fixed", "online"])
    f = run(cfg).frame
    np.testing.assert_array_equal(f["theta_final"], f["theta0"])
    assert (f["max_jump"] == 0).all() and (f["sign_changes"] == 0).all()
    assert (f["status"] == "slow").all()


def _clean_lr_grid(x: np.ndarray, lrs: np.ndarray, epochs: int, margin: float = 1e-3) -> np.ndarray:
    """Learning rates whose run stays far from rounding floor and overflow."""
    m = 1 - 2 * lrs[:, None] * x[None, :] ** 2
    logm = np.log(np.abs(m))
    # Far from any pole (|m| tiny) and from the overshoot boundary (|m| near 0 or 1 vs sign).
    ok = np.all(np.abs(m) > margin, axis=1) & np.all(np.abs(2 * lrs[:, None] * x ** 2 - 1) > margin, axis=1)
    # |e| stays within [1e-6, 1e6] relative over the whole run: partial products bounded.
    csum = np.cumsum(np.tile(logm, (1, epochs)), axis=1)
    ok &= (csum.min(axis=1) > np.log(1e-6)) & (csum.max(axis=1) < np.log(1e6))
    return lrs[ok]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_log_error_equals_epochs_times_S(seed):
    x = lrsweep.make_dataset(seed, 30).x
    epochs = 3
    lrs = _clean_lr_grid(x, np.geomspace(1e-3, 3, 400), epochs)
    assert len(lrs) > 50
    cfg = lrsweep.SweepConfig(lr=lrs, seed=seed, n_samples=30, epochs=epochs, diverge_factor=1e12)
    f = run(cfg).frame
    S = np.log(np.abs(1 - 2 * lrs[:, None] * x[None, :] ** 2)).sum(axis=1)
    e0 = np.abs(f["theta0"] - f["theta_ref"]).to_numpy()
    eK = f["abs_error_final"].to_numpy()
    lhs = np.log(eK) - np.log(e0)
    rhs = epochs * S
    # Relative error 1e-9: each step adds a few ulps (1e-16) of relative error to e;
    # 90 steps with |e| >= 1e-6 |theta_ref| keep it below 1e-9 of the log change.
    np.testing.assert_allclose(lhs, rhs, rtol=1e-9, atol=1e-9)
    # Sign changes: one per overshooting sample (2 lr x^2 > 1) per epoch.
    over = (2 * lrs[:, None] * x[None, :] ** 2 > 1).sum(axis=1)
    np.testing.assert_array_equal(f["sign_changes"].to_numpy(), epochs * over)


def test_growth_rate_is_S_for_noise_free_fixed_order():
    x = lrsweep.make_dataset(4, 20).x
    lrs = _clean_lr_grid(x, np.geomspace(1e-3, 2, 300), 2, margin=1e-2)
    cfg = lrsweep.SweepConfig(lr=lrs, seed=4, n_samples=20, epochs=2, diverge_factor=1e12)
    f = run(cfg).frame
    S = np.log(np.abs(1 - 2 * lrs[:, None] * x[None, :] ** 2)).sum(axis=1)
    np.testing.assert_allclose(f["growth_rate"], S, rtol=1e-9, atol=1e-9)


def test_mostly_diverging_sweep_is_clean():
    cfg = lrsweep.SweepConfig(lr=np.geomspace(2, 1e6, 40), seed=range(20), n_samples=[5, 50],
                              noise=[0.0, 1.0], order=["fixed", "replacement"], theta0=[-1.0, 20.0])
    with np.errstate(all="raise"):
        f = run(cfg).frame
    assert (f["status"] == "diverged").mean() > 0.8
    nan_ok = {"loss_zigzag", "loss_last_epoch", "rms_error_last_epoch"}  # documented NaN if diverged
    for col in f.select_dtypes("number").columns:
        vals = f[col].to_numpy()
        if col in nan_ok:
            vals = vals[f["status"].to_numpy() != "diverged"]
        if col == "noise_rms":  # documented NaN at and above the dataset's mean-square threshold
            vals = vals[f["lr"].to_numpy() < 1 / 3]
        assert np.isfinite(vals).all(), col
    div = f[f["status"] == "diverged"]
    assert (div["diverged_step"] >= 1).all() and (div["converged_step"] == -1).all()
    assert (div["growth_rate"] > 0).all()
    scale = np.maximum(np.abs(div["theta0"] - div["theta_ref"]), np.abs(div["theta_ref"]))
    assert (div["abs_error_final"] <= cfg.diverge_factor * scale).all()


def test_status_regimes_on_the_seed_problem():
    cfg = lrsweep.SweepConfig(lr=[1e-4, 0.01, 0.04, 5.0], data="lecture", epochs=5)
    f = run(cfg).frame.set_index("lr")
    assert f.loc[1e-4, "status"] == "slow"
    assert f.loc[0.01, "status"] == "converged"
    assert f.loc[0.04, "status"] == "converged"
    assert f.loc[5.0, "status"] == "diverged"
    assert f.loc[0.04, "converged_step"] < f.loc[0.01, "converged_step"]
    assert f.loc[0.04, "sign_changes"] == 0  # the lecture's "big, unstable jumps": no overshoot at all


def test_noise_keeps_it_at_the_noise_floor_not_converged():
    """With noise the iterates converge in distribution: the last epoch's RMS error sits at the
    dataset's stationary RMS (noise_floor), with overshoots, never within 1 % of e_0."""
    cfg = lrsweep.SweepConfig(lr=0.2, noise=1.0, seed=range(10), n_samples=200, epochs=3)
    f = run(cfg).frame
    assert (f["status"] == "noise_floor").all()
    assert (f["sign_changes_last_epoch"] >= 1).all()
    assert (f["rms_error_last_epoch"] <= cfg.noise_factor * f["noise_rms"]).all()


def test_status_needs_a_whole_epoch_of_evidence(lecture_data):
    """The seed's data at lr 1: within tolerance only in the last 5 of 500 steps (the error peaks
    near 4.7e3 in epoch 6 and settles from about step 1,448). Not converged after 5 epochs: it is
    converging while it overshoots (oscillating, censored); after 20 epochs it converged."""
    f = run(lrsweep.SweepConfig(lr=1.0, data="lecture", epochs=5)).frame.iloc[0]
    assert f["status"] == "oscillating" and f["converged_step"] == -1
    long = run(lrsweep.SweepConfig(lr=1.0, data="lecture", epochs=20)).frame.iloc[0]
    assert long["status"] == "converged" and 1400 < long["converged_step"] < 1900 - 100


def test_a_response_outlier_limit_cycle_is_at_its_noise_floor():
    """Noise-free data with one response outlier, fixed order: SGD settles on a limit cycle around
    the least-squares fit, at the size the outlier's residual forces (noise_floor), not converged."""
    cfg = lrsweep.SweepConfig(lr=0.1, seed=range(10), n_samples=50, epochs=40, outlier_kind="response",
                              outlier_frac=0.02, outlier_scale=5.0)
    f = run(cfg).frame
    assert (f["status"] == "noise_floor").all()
    assert (f["rms_error_last_epoch"] > 0.001 * (f["theta0"] - f["theta_ref"]).abs()).all()


def test_max_jump_identifies_the_outlier():
    # One response outlier: the largest jump of theta happens at that sample.
    cfg = lrsweep.SweepConfig(lr=0.01, seed=3, n_samples=100, outlier_frac=0.01,
                              outlier_kind="response", outlier_scale=50.0, theta0=5.0)
    f = run(cfg).frame
    ds = lrsweep.make_dataset(3, 100, outlier_frac=0.01, outlier_kind="response", outlier_scale=50.0)
    assert f.loc[0, "max_jump_sample"] == ds.outliers[0]


def test_loss_zigzag_bounds():
    cfg = lrsweep.SweepConfig(lr=[0.001, 0.01], seed=range(5), noise=0.5)
    f = run(cfg).frame
    assert f["loss_zigzag"].between(0, 1).all()
    # Per-sample loss on Gaussian data is close to white noise: about 2/3 turns.
    assert abs(f["loss_zigzag"].mean() - 2 / 3) < 0.1


GATHER_MIX = dict(lr=[0.003, 0.02, 0.3, 1.1, 2.5], seed=[0, 5, 9], n_samples=[3, 20], noise=[0.0, 0.3],
                  order=["fixed", "shuffle", "replacement", "online"], theta0=[-1.0, 7.0], epochs=3)


def _assert_gathered_equals_shared(monkeypatch, cfg, chunk_size=None):
    """Run ``cfg`` as shared blocks and, with every block gathered, compare bit for bit."""
    from lrsweep import grid
    from lrsweep.engine import layout

    assert grid.lanes_per_group(cfg) >= layout.GATHER_BELOW  # default: shared blocks
    shared = run(cfg, record="all", record_every=2, chunk_size=chunk_size)
    monkeypatch.setattr(layout, "GATHER_BELOW", 10**9)  # every block gathered
    plan = layout.plan_chunk(cfg, grid.chunks(cfg, cfg.n_trajectories)[0])
    assert plan.b_gather.all()
    gathered = run(cfg, record="all", record_every=2, chunk_size=chunk_size)
    for a, b in ((shared.frame, gathered.frame), (shared.records, gathered.records)):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
        for c in a.select_dtypes("float").columns:
            assert np.array_equal(a[c].to_numpy().view(np.int64), b[c].to_numpy().view(np.int64)), c


@pytest.mark.parametrize("chunk_size", [None, 13])
def test_gathered_blocks_equal_shared_blocks(monkeypatch, chunk_size):
    """The same trajectories run as shared blocks (one dataset per block) and as gathered
    blocks (every lane its own dataset and order): identical frames and records, bit for bit.
    Fixed and online orders run from the lane-interleaved tile, shuffled orders stage a row
    per step; 10 lanes per block (chunk 13: 3) also exercise the padding lanes."""
    _assert_gathered_equals_shared(monkeypatch, lrsweep.SweepConfig(**GATHER_MIX, outlier_frac=0.1),
                                   chunk_size)


def test_gathered_blocks_longer_than_the_tile(monkeypatch):
    """Datasets longer than kernel.TILE_ROWS samples are gathered step by step (no tile)."""
    from lrsweep.engine import kernel

    n = kernel.TILE_ROWS + 77
    cfg = lrsweep.SweepConfig(lr=[0.003, 0.02, 0.3, 1.1, 2.5], seed=[0, 5], n_samples=n, noise=0.3,
                              order=["fixed", "online"], epochs=2, theta0=[-1.0, 7.0])
    _assert_gathered_equals_shared(monkeypatch, cfg)


ASM_PROBE = r"""
import json, re
import numpy as np
import lrsweep
from lrsweep.engine import kernel
from llvmlite import binding as llvm

for extra in EXTRAS:
    lrsweep.sweep(lrsweep.SweepConfig(lr=np.geomspace(1e-3, 1, 16), data="lecture", **extra),
                  progress=False)  # shared
    lrsweep.sweep(lrsweep.SweepConfig(lr=[0.01, 0.1], data="lecture", **extra), progress=False)  # gathered
out = {"avx512f": "+avx512f" in llvm.get_host_cpu_features().flatten(), "variants": []}
for flags, fn in kernel._VARIANTS.items():
    name = "/".join(f for f, on in zip(("gather", "schedule", "batch", "momentum"), flags) if on) or "shared"
    out["variants"].append(name)
    (asm,) = fn.inspect_asm().values()
    lines = asm.splitlines()
    labels = {m.group(1): i for i, l in enumerate(lines) if (m := re.match(r"^(\.LBB\S+):", l))}
    loops = []
    for i, l in enumerate(lines):
        m = re.match(r"\s+j\w+\s+(\.LBB\S+)", l)
        if m and m.group(1) in labels and labels[m.group(1)] < i:  # a backward jump: a loop
            body = [b.strip() for b in lines[labels[m.group(1)]:i + 1]
                    if b.startswith("\t") and not b.strip().startswith(".")]
            loops.append({
                "n": len(body),
                "masked_zmm_stores": sum(bool(re.match(r"vmov\w+\s+%zmm\d+,\s*-?\d*\(.*\)\s*\{%k\d\}", b))
                                         for b in body),
                "packed_zmm_fp": sum(bool(re.match(r"v(mul|sub|add)pd\s.*zmm", b)) for b in body),
                "scalar_fp": sum(bool(re.match(r"v(mul|sub|add)sd\s", b)) for b in body),
            })
    out[name] = loops
print(json.dumps(out))
"""


#: The optimizer features of the variants the asm test compiles: in CI the plain one and the one
#: with all three (every feature's code: a single-feature variant is the same source with branches
#: pruned), as the d-feature property test samples; LRSWEEP_TEST_ALL_VARIANTS=1 adds each alone.
ASM_EXTRAS = [{}, {"schedule": "cosine", "batch_size": 4, "momentum": 0.9}]
if os.environ.get("LRSWEEP_TEST_ALL_VARIANTS"):
    ASM_EXTRAS += [{"schedule": "cosine"}, {"batch_size": 4}, {"momentum": 0.9}]


def test_lane_loops_are_512_bit_vector_loops(tmp_path):
    """What the kernel's docstring claims LLVM emits: in every compiled variant (both kinds
    of block, plain and with a schedule, batches and momentum), the lane loops (before and in
    the last epoch) are zmm loops with masked stores and no scalar floating-point arithmetic.
    A fresh numba cache, because inspect_asm does not work on cached code (each variant a cold
    compile of about 5 s); skipped on CPUs without AVX-512."""
    probe = f"EXTRAS = {ASM_EXTRAS!r}\n" + ASM_PROBE
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}, timeout=600)
    info = json.loads(out.stdout.strip().splitlines()[-1])
    if not info["avx512f"]:
        pytest.skip("no AVX-512 on this CPU")
    assert len(info["variants"]) == 2 * len(ASM_EXTRAS), info["variants"]
    for name in info["variants"]:
        # (with batches, the update loops take the batch's gradient: fewer FP instructions)
        lane = [lp for lp in info[name] if lp["masked_zmm_stores"] >= 8 and lp["packed_zmm_fp"] >= 2
                and lp["n"] < 100]
        assert len(lane) >= 2, (name, info[name])
        assert all(lp["scalar_fp"] == 0 for lp in lane), (name, lane)


def test_both_kernels_name_the_lanes_module_they_inline():
    """numba's cache checks only each kernel's own file: a change to lanes.py must come with both hashes."""
    import hashlib

    from lrsweep.engine import kernel, kernel_features, lanes

    with open(lanes.__file__, "rb") as fh:
        sha = hashlib.sha256(fh.read()).hexdigest()
    for mod in (kernel, kernel_features):
        assert sha == mod.LANES_SHA256, (
            f"{mod.__name__}.LANES_SHA256 is not the SHA-256 of engine/lanes.py ({sha}): set it in "
            "kernel.py and kernel_features.py, so that numba's cache recompiles the variants that inline it")
