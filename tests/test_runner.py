"""sweep(): results do not depend on threads, chunking or the order of axis values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import run

import lrsweep
from lrsweep.config import AXES

MIXED = dict(
    lr=[0.001, 0.02, 0.3, 0.9, 2.5], seed=[0, 5, 9], n_samples=[3, 20], noise=[0.0, 0.3],
    order=["fixed", "shuffle", "replacement", "online"], theta0=[-1.0, 7.0],
)


@pytest.fixture(scope="module")
def mixed_cfg():
    return lrsweep.SweepConfig(**MIXED, outlier_frac=0.1, outlier_kind="leverage", epochs=3)


@pytest.fixture(scope="module")
def mixed_default(mixed_cfg):
    return run(mixed_cfg, record="seed == 5 and lr == 0.3")


def _bits_equal(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    for c in a.select_dtypes("float").columns:  # also -0.0 vs 0.0 and NaN payloads
        assert np.array_equal(a[c].to_numpy().view(np.int64), b[c].to_numpy().view(np.int64)), c


@pytest.mark.parametrize("chunk_size", [1, 7, None])
@pytest.mark.parametrize("threads", [1, 2])
def test_identical_for_threads_and_chunks(mixed_cfg, mixed_default, chunk_size, threads):
    res = run(mixed_cfg, chunk_size=chunk_size, threads=threads, record="seed == 5 and lr == 0.3")
    _bits_equal(res.frame, mixed_default.frame)
    _bits_equal(res.records, mixed_default.records)


def test_identical_when_axis_values_come_in_another_order(mixed_cfg, mixed_default):
    rev = {k: list(reversed(v)) for k, v in MIXED.items()}
    other = run(lrsweep.SweepConfig(**rev, outlier_frac=0.1, epochs=3))
    axes = list(AXES)
    a = mixed_default.frame.drop(columns="trajectory_id").sort_values(axes).reset_index(drop=True)
    b = other.frame.drop(columns="trajectory_id").sort_values(axes).reset_index(drop=True)
    _bits_equal(a, b)
    assert not mixed_default.frame["lr"].equals(other.frame["lr"])  # the ids really differ


def test_a_dataset_does_not_depend_on_the_rest_of_the_grid():
    one = run(lrsweep.SweepConfig(lr=0.3, seed=9, n_samples=20, noise=0.3, order="shuffle")).frame
    many = run(lrsweep.SweepConfig(**MIXED)).frame
    row = many[(many.lr == 0.3) & (many.seed == 9) & (many.n_samples == 20) & (many.noise == 0.3)
               & (many.order == "shuffle") & (many.theta0 == -1.0)]
    _bits_equal(one.drop(columns="trajectory_id"), row.drop(columns="trajectory_id").reset_index(drop=True))


def test_frame_layout_and_dtypes(mixed_default):
    f = mixed_default.frame
    assert list(f.columns[: 1 + len(AXES)]) == ["trajectory_id", *AXES]
    np.testing.assert_array_equal(f["trajectory_id"], np.arange(len(f)))
    assert f["status"].dtype == "category"
    assert list(f["status"].cat.categories) == ["converged", "slow", "oscillating", "diverged", "noise_floor",
                                                "growing"]
    assert list(f["order"].cat.categories) == ["fixed", "shuffle", "replacement", "online"]
    for c in ("seed", "n_samples", "converged_step", "diverged_step", "sign_changes", "max_jump_sample"):
        assert f[c].dtype == np.int64, c
    for c in ("lr", "theta0", "theta_final", "growth_rate", "loss_final"):
        assert f[c].dtype == np.float64, c
    # The same dtypes for a one-trajectory sweep.
    one = run(lrsweep.SweepConfig()).frame
    assert (one.dtypes == f.dtypes).all()


def test_records_query_ids_and_all(mixed_cfg, mixed_default):
    ids = mixed_default.frame.query("seed == 5 and lr == 0.3")["trajectory_id"].to_numpy()
    assert set(mixed_default.records["trajectory_id"]) <= set(ids)
    res = run(mixed_cfg, record=list(ids))
    _bits_equal(res.records, mixed_default.records)
    assert run(lrsweep.SweepConfig(lr=[0.1, 0.2]), record="all").records["trajectory_id"].nunique() == 2
    assert run(lrsweep.SweepConfig()).records is None


def test_loss_final_is_the_full_batch_mse():
    res = run(lrsweep.SweepConfig(lr=[0.01, 0.3], seed=[1, 2], noise=[0.0, 1.0], outlier_frac=0.05,
                                  outlier_kind="response"))
    for _, row in res.frame.iterrows():
        ds = lrsweep.make_dataset(row.seed, 100, noise=row.noise, outlier_frac=0.05, outlier_kind="response")
        mse = np.mean((ds.y - row.theta_final * ds.x) ** 2)
        assert row.loss_final == pytest.approx(mse, rel=1e-9, abs=1e-24)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"chunk_size": 0},
         "The 'chunk_size' parameter of sweep must be None or an int in the range [1, 2**63 - 1]. Got 0"),
        ({"threads": 0}, "The 'threads' parameter of sweep must be None or an int in the range [1, "),
        ({"record_every": 0}, "The 'record_every' parameter of sweep"),
        ({"record": [5]}, "The 'record' parameter of sweep must be trajectory ids in [0, 1]. Got 5"),
        ({"record": "lr >>> 2"}, "The 'record' parameter of sweep must be None, 'all'"),
        ({"progress": "yes"},
         "The 'progress' parameter of sweep must be True, False or None. Got 'yes' instead."),
    ],
)
def test_bad_arguments(kwargs, fragment):
    with pytest.raises(ValueError, match=__import__("re").escape(fragment)):
        lrsweep.sweep(lrsweep.SweepConfig(lr=[0.1, 0.2]), **kwargs)


def test_not_a_config():
    msg = r"The 'config' parameter of sweep must be a SweepConfig\. Got an object of type dict instead\."
    with pytest.raises(TypeError, match=msg):
        lrsweep.sweep({"lr": 0.1})


def test_record_limit_names_the_numbers():
    cfg = lrsweep.SweepConfig(lr=np.linspace(0.001, 0.01, 100), seed=range(100), n_samples=1000, epochs=10)
    with pytest.raises(ValueError, match=r"10,000 trajectories x 10,000 steps = 100,000,000 recorded points"):
        lrsweep.sweep(cfg, record="all")


def test_user_data():
    x = np.array([0.5, -1.0, 2.0, 0.1])
    res = run(lrsweep.SweepConfig(data=(x, 3 * x), lr=[0.01, 0.1], order=["fixed", "shuffle"], coef=3.0),
              record="all")
    f = res.frame
    assert (f["n_samples"] == 4).all()
    np.testing.assert_allclose(f["theta_ref"], 3.0)
    th, _ = lrsweep.reference.run_trajectory(x, 3 * x, lr=0.1, theta0=-1, epochs=5)
    rec = res.records[res.records.trajectory_id == 1]
    np.testing.assert_array_equal(rec["theta"], th)


def _counting_kernel(monkeypatch, fail_on_call=None, delay=0.0):
    """Wrap the kernel: counts calls and calls still running, may fail or sleep."""
    import threading
    import time

    from lrsweep.engine import kernel

    real = kernel.run_chunk_nb
    state = {"calls": 0, "active": 0}
    lock = threading.Lock()

    def fake(*args):
        with lock:
            state["calls"] += 1
            state["active"] += 1
            n = state["calls"]
        try:
            if delay:
                time.sleep(delay)
            if n == fail_on_call:
                raise RuntimeError("kernel failed on purpose")
            return real(*args)
        finally:
            with lock:
                state["active"] -= 1

    monkeypatch.setattr(kernel, "run_chunk_nb", fake)
    return state


def test_pipelined_chunks_raise_a_kernel_error(monkeypatch):
    """With threads > 1 the next chunk is laid out while the kernel runs (runner._compute):
    an exception in a kernel thread reaches the caller, and the pool stays usable."""
    cfg = lrsweep.SweepConfig(lr=np.geomspace(1e-3, 1, 40), seed=[0, 1, 2])
    state = _counting_kernel(monkeypatch, fail_on_call=5)
    with pytest.raises(RuntimeError, match="on purpose"):
        lrsweep.sweep(cfg, chunk_size=8, threads=2, progress=False)
    assert state["active"] == 0
    monkeypatch.undo()
    _bits_equal(run(cfg, chunk_size=8, threads=2).frame, run(cfg, threads=1).frame)


def test_pipelined_chunks_stop_when_the_caller_stops(monkeypatch):
    """Closing the chunk generator (Ctrl-C in the caller, or an error while storing a chunk)
    returns only after the running kernel pieces have finished: nothing writes afterwards."""
    import time

    from lrsweep import grid, runner

    cfg = lrsweep.SweepConfig(lr=np.geomspace(1e-3, 1, 200), seed=[0, 1])
    state = _counting_kernel(monkeypatch, delay=0.2)
    todo = grid.chunks(cfg, 128)
    gen = runner._compute(None, cfg, todo, np.zeros(0, dtype=np.int64), 1, 0, 2)
    result = next(gen)  # chunk 0 done, chunk 1 started
    assert result.chunk.index == 0 and result.out_f.shape == (7, 128)
    deadline = time.monotonic() + 10
    while state["active"] == 0 and time.monotonic() < deadline:  # chunk 1's pieces are sleeping
        time.sleep(0.001)
    assert state["active"] > 0
    gen.close()
    assert state["active"] == 0
    # 2 blocks per chunk -> 2 pieces: chunk 0's and at most chunk 1's; chunks 2 and 3 never ran.
    assert state["calls"] <= 4
