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


# ---------------------------------------------------------------- integrity
# Each test below pins one way a checkpoint used to be loaded wrongly.

def test_without_manifest_a_sweep_of_another_config_of_the_same_shape_loads_none_of_its_chunks(tmp_path):
    old = lrsweep.SweepConfig(**CFG)
    new = lrsweep.SweepConfig(**{**CFG, "epochs": 6})  # the same shape, other results
    run(old, chunk_size=50, out=tmp_path)
    (tmp_path / "manifest.json").unlink()
    got = run(new, chunk_size=50, out=tmp_path)
    assert got == run(new, chunk_size=50)
    assert got.meta["chunks_loaded"] == 0 and got.meta["chunks_rejected"] == got.meta["chunks"]


def test_a_stale_chunk_of_another_chunk_size_and_the_same_length_is_not_loaded(tmp_path):
    cfg = lrsweep.SweepConfig(**CFG)  # 480 trajectories
    run(cfg, chunk_size=100, out=tmp_path)  # chunk 4 holds ids 400..479: 80 rows
    (tmp_path / "manifest.json").unlink()
    got = run(cfg, chunk_size=80, out=tmp_path)  # chunk 4 is ids 320..399: 80 rows too
    assert got == run(cfg, chunk_size=80)
    assert got.meta["chunks_loaded"] == 0 and got.meta["chunks_rejected"] == 5


def test_swapped_chunks_are_recomputed(tmp_path):
    cfg = lrsweep.SweepConfig(**CFG)
    run(cfg, chunk_size=50, out=tmp_path)
    a, b = tmp_path / "chunk-000001.parquet", tmp_path / "chunk-000002.parquet"
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)
    got = run(cfg, chunk_size=50, out=tmp_path)
    assert got == run(cfg, chunk_size=50)
    assert got.meta["chunks_rejected"] == 2 and got.meta["chunks_computed"] == 2


def _silent_flip(data: bytes, column: str) -> bytes:
    """``data`` with one bit flipped in ``column``'s pages such that Parquet still reads a changed column."""
    import io

    import pyarrow.parquet as pq

    clean = pq.read_table(io.BytesIO(data)).column(column).to_numpy()
    md = pq.ParquetFile(io.BytesIO(data)).metadata.row_group(0)
    col = next(md.column(j) for j in range(md.num_columns) if md.column(j).path_in_schema == column)
    start = min(o for o in (col.dictionary_page_offset, col.data_page_offset) if o is not None)
    for pos in range(start + col.total_compressed_size - 1, start, -1):
        for bit in range(8):
            flipped = bytearray(data)
            flipped[pos] ^= 1 << bit
            try:
                got = pq.read_table(io.BytesIO(bytes(flipped))).column(column).to_numpy()
            except Exception:
                continue
            if not np.array_equal(got, clean, equal_nan=True):
                return bytes(flipped)
    raise AssertionError(f"no silent flip found in {column}")


def test_a_single_flipped_bit_in_a_chunk_is_caught_and_recomputed(tmp_path):
    cfg = lrsweep.SweepConfig(**CFG)
    plain = run(cfg, chunk_size=50)
    run(cfg, chunk_size=50, out=tmp_path)
    victim = tmp_path / "chunk-000003.parquet"
    victim.write_bytes(_silent_flip(victim.read_bytes(), "max_abs_error"))
    got = run(cfg, chunk_size=50, out=tmp_path)
    assert got == plain
    assert got.meta["chunks_rejected"] == 1 and got.meta["chunks_computed"] == 1


def test_load_results_refuses_a_manifest_of_another_sweep(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    run(lrsweep.SweepConfig(**CFG), chunk_size=50, out=a)
    run(lrsweep.SweepConfig(**{**CFG, "epochs": 6}), chunk_size=50, out=b)
    (a / "manifest.json").write_bytes((b / "manifest.json").read_bytes())
    with pytest.raises(lrsweep.ParameterError, match=r"does not match its chunks"):
        lrsweep.checkpoint.load_results(a)
    with pytest.raises(lrsweep.ParameterError, match=r"does not match its chunks"):
        lrsweep.checkpoint.merge([a], tmp_path / "c")


MANIFEST_FIELDS = ["format", "key", "grid_hash", "chunk_size", "record_ids_sha256", "record_every", "lrsweep",
                   "config", "n_chunks"]


@pytest.mark.parametrize("field", MANIFEST_FIELDS)
def test_load_results_names_a_missing_manifest_field(tmp_path, field):
    import json

    run(lrsweep.SweepConfig(**CFG), chunk_size=50, out=tmp_path)
    manifest = tmp_path / "manifest.json"
    body = json.loads(manifest.read_text())
    del body[field]
    manifest.write_text(json.dumps(body))
    with pytest.raises(lrsweep.ParameterError, match=f"'{field}'"):
        lrsweep.checkpoint.load_results(tmp_path)


@pytest.mark.parametrize(("field", "value"), [("chunk_size", "50"), ("chunk_size", 0), ("record_every", 1.5),
                                              ("config", [1]), ("config", {"lr": "fast"}),
                                              ("config", {"learning_rate": 0.1}), ("n_chunks", 11),
                                              ("grid_hash", "0" * 64), ("key", None)])
def test_load_results_names_a_mistyped_or_edited_manifest_field(tmp_path, field, value):
    import json

    run(lrsweep.SweepConfig(**CFG), chunk_size=50, out=tmp_path)
    manifest = tmp_path / "manifest.json"
    body = json.loads(manifest.read_text())
    body[field] = value
    manifest.write_text(json.dumps(body))
    with pytest.raises(lrsweep.ParameterError, match=f"'{field}'|key"):
        lrsweep.checkpoint.load_results(tmp_path)


KILLED_WRITER = """
import os, signal, sys, numpy as np, lrsweep
real = os.replace
def replace(src, dst):
    if str(src).endswith(".tmp") and "chunk-000002.parquet" in str(dst):
        os.kill(os.getpid(), signal.SIGKILL)  # killed mid-chunk: the temporary file is complete
    return real(src, dst)
os.replace = replace
cfg = lrsweep.SweepConfig(lr=[0.01, 0.3, 1.5], seed=range(40), n_samples=[10, 50], order=["fixed", "shuffle"])
lrsweep.sweep(cfg, chunk_size=50, out=sys.argv[1], progress=False, threads=1)
"""


def test_the_temporary_file_of_a_killed_writer_is_removed_by_the_next_run(tmp_path):
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(tmp_path)], timeout=300)
    assert proc.returncode == -signal.SIGKILL
    assert list(tmp_path.glob(".chunk-000002.parquet*.tmp"))
    cfg = lrsweep.SweepConfig(**CFG)
    got = run(cfg, chunk_size=50, out=tmp_path)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert got == run(cfg, chunk_size=50)
    assert got.meta["chunks_loaded"] == 2


def test_only_temporary_files_no_live_writer_can_own_are_removed(tmp_path):
    import time

    from lrsweep.files import HOST, STALE_AFTER_S, remove_stale_temps

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        old = time.time() - STALE_AFTER_S - 60
        files = {  # name -> (age, removed?)
            f".chunk-000001.parquet.{HOST}.pid{dead.pid}.0.tmp": (None, True),  # this host, process gone
            f".chunk-000002.parquet.{HOST}.pid{os.getpid()}.7.tmp": (None, True),  # this process, not writing
            f".chunk-000003.parquet.{HOST}.pid{alive.pid}.0.tmp": (None, False),  # a live writer
            f".chunk-000004.parquet.{HOST}.pid{alive.pid}.1.tmp": (old, True),  # live pid, but idle for hours
            ".chunk-000005.parquet.other-node.pid1.0.tmp": (None, False),  # another host: by age only
            ".chunk-000006.parquet.other-node.pid1.0.tmp": (old, True),
            ".chunk-000007.parquet.12345.tmp": (None, False),  # an older lrsweep's name: by age only
            ".chunk-000008.parquet.12345.tmp": (old, True),
            ".record_ids.12345.npy": (old, True),
            ".keep-me": (old, False),  # not a temporary name
            "manifest.json": (old, False),
        }
        for name, (age, _) in files.items():
            (tmp_path / name).write_bytes(b"x")
            if age is not None:
                os.utime(tmp_path / name, (age, age))
        assert remove_stale_temps(tmp_path) == sum(gone for _, gone in files.values())
        left = {p.name for p in tmp_path.iterdir()}
        assert left == {name for name, (_, gone) in files.items() if not gone}
    finally:
        alive.kill()
        alive.wait()


SHARD_SCRIPT = """
import sys, lrsweep
cfg = lrsweep.SweepConfig(lr=[0.01, 0.3, 1.5], seed=range(40), n_samples=[10, 50], order=["fixed", "shuffle"])
print(lrsweep.sweep_shard(cfg, (int(sys.argv[2]), 3), out=sys.argv[1], chunk_size=11, record="seed == 2",
                          threads=1).chunks_computed)
"""


def test_concurrent_shard_processes_share_one_directory(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", SHARD_SCRIPT, str(tmp_path), str(i)],
                              stdout=subprocess.PIPE, text=True) for i in range(3)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0]
    cfg = lrsweep.SweepConfig(**CFG)
    single = run(cfg, chunk_size=11, record="seed == 2")
    assert sum(int(o) for o in outs) == single.meta["chunks"]
    assert lrsweep.checkpoint.load_results(tmp_path) == single
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_shard_recomputes_and_reports_chunks_that_fail_verification(tmp_path):
    cfg = lrsweep.SweepConfig(**CFG)
    lrsweep.sweep_shard(cfg, (0, 1), out=tmp_path, chunk_size=50)
    (tmp_path / "chunk-000004.sums.json").unlink()
    (tmp_path / "chunk-000006.parquet").write_bytes((tmp_path / "chunk-000007.parquet").read_bytes())
    report = lrsweep.sweep_shard(cfg, (0, 1), out=tmp_path, chunk_size=50)
    assert report.chunks_rejected == 2 and report.chunks_computed == 2
    assert lrsweep.checkpoint.load_results(tmp_path) == run(cfg, chunk_size=50)


def test_load_results_names_chunks_that_fail_verification(tmp_path):
    run(lrsweep.SweepConfig(**CFG), chunk_size=50, out=tmp_path)
    victim = tmp_path / "chunk-000002.parquet"
    victim.write_bytes(victim.read_bytes()[:-1] + b"!")
    with pytest.raises(lrsweep.ParameterError, match=r"has 1 of 10 chunks that fail verification \(2: "):
        lrsweep.checkpoint.load_results(tmp_path)


def test_a_directory_of_the_older_format_is_refused_saying_so(tmp_path):
    import json

    cfg = lrsweep.SweepConfig(**CFG)
    run(cfg, chunk_size=50, out=tmp_path)
    manifest = tmp_path / "manifest.json"
    body = json.loads(manifest.read_text())
    del body["format"]
    body["key"] = "0" * 64
    manifest.write_text(json.dumps(body))
    with pytest.raises(lrsweep.ParameterError, match=r"format 1 \(an older lrsweep"):
        run(cfg, chunk_size=50, out=tmp_path)
    with pytest.raises(lrsweep.ParameterError, match=r"lacks the field 'format'.*older lrsweep"):
        lrsweep.checkpoint.load_results(tmp_path)


def test_load_results_of_a_directory_without_a_manifest_says_what_is_there(tmp_path):
    cfg = lrsweep.SweepConfig(**CFG)
    for name in ("a", "b"):
        run(cfg, chunk_size=200, out=tmp_path / name)
    with pytest.raises(lrsweep.ParameterError, match=r"no manifest.json; the checkpoints below it: a, b; "
                                                     r"pass one of them"):
        lrsweep.checkpoint.load_results(tmp_path)
    with pytest.raises(lrsweep.ParameterError, match=r"\(a file\)"):
        lrsweep.checkpoint.load_results(tmp_path / "a" / "manifest.json")
