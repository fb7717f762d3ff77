"""Fault injection: whatever happens to a checkpoint's files, the table is the clean one or a named error.

Hypothesis draws up to three faults (truncations and bit flips anywhere in
any file, deleted files, swapped chunk files, chunk files of another config
of the same shape or of another chunking, a manifest edited, deleted or taken
from another sweep; no fault at all is the baseline) and one way to read the directory (resume with the same,
the default or another chunk size; shards then ``load_results``;
``merge`` then ``load_results``; ``load_results``). The outcome is the clean
run's table bit for bit, or a :class:`~lrsweep.ParameterError`; never a
wrong table, never another exception. A resume whose manifest is intact or
deleted must succeed, load exactly the chunks left intact and leave a
directory a rerun loads whole. The sweeps are tiny (100 trajectories, 5
chunks) and computed once per session; each example works on a copy.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import run
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import lrsweep
from lrsweep.checkpoint import load_results, merge

CFG = lrsweep.SweepConfig(lr=[0.01, 0.05, 0.3, 1.5], seed=range(25), n_samples=[10], order=["shuffle"],
                          epochs=3)
OTHER = CFG.replace(epochs=4)  # the same shape: its chunks have the same lengths
REC = "seed in [3, 17]"
SIZE, OTHER_SIZE = 20, 25
N_CHUNKS = 5
KINDS = (".parquet", ".records.parquet", ".sums.json")
CHUNK_FILES = [f"chunk-{i:06d}{k}" for i in range(N_CHUNKS) for k in KINDS]
FILES = ["manifest.json", "record_ids.npy", *CHUNK_FILES]


def _edit(field, value):
    def edit(body):
        if field.startswith("config."):
            body["config"][field[7:]] = value
        elif value is _DROP:
            body.pop(field)
        else:
            body[field] = value
    edit.__name__ = f"{field}={value!r}"
    return edit


_DROP = object()
MANIFEST_EDITS = [
    _edit("chunk_size", OTHER_SIZE), _edit("chunk_size", "20"), _edit("record_every", 2),
    _edit("n_chunks", 4), _edit("grid_hash", "0" * 64), _edit("key", "0" * 64), _edit("format", 1),
    _edit("lrsweep", "0.0.1"), _edit("config.epochs", 4), _edit("config.lr", [0.01, 0.05, 0.3, 1.4]),
    _edit("config.seed", list(range(24))), _edit("config.bogus", 1), _edit("config", "lr=0.1"),
    _edit("record_ids_sha256", "0" * 64),
    *[_edit(f, _DROP) for f in ("format", "key", "grid_hash", "chunk_size", "record_ids_sha256",
                                "record_every", "lrsweep", "config", "n_chunks")],
]

position = st.integers(0, 2**31)
FAULTS = st.one_of(
    st.tuples(st.just("truncate"), st.sampled_from(FILES), position),
    st.tuples(st.just("flip"), st.sampled_from(FILES), position, st.integers(0, 7)),
    st.tuples(st.just("delete"), st.sampled_from(FILES)),
    st.tuples(st.just("swap"), st.sampled_from(KINDS), st.integers(0, N_CHUNKS - 1),
              st.integers(0, N_CHUNKS - 1)),
    st.tuples(st.just("swap_chunks"), st.integers(0, N_CHUNKS - 1), st.integers(0, N_CHUNKS - 1)),
    st.tuples(st.just("foreign"), st.sampled_from(["other", "rechunked"]), st.sampled_from((*KINDS, "all")),
              st.integers(0, N_CHUNKS - 1)),
    st.tuples(st.just("manifest_from"), st.sampled_from(["other", "rechunked"])),
    st.tuples(st.just("edit_manifest"), st.sampled_from(MANIFEST_EDITS)),
)
OPS = ["resume", "resume_default_size", "resume_other_size", "shards", "merge", "load_results"]


@pytest.fixture(scope="session")
def pristine(tmp_path_factory):
    """Clean table and checkpoints: this sweep, another config of its shape, this sweep rechunked."""
    base = tmp_path_factory.mktemp("faults")
    clean = run(CFG, chunk_size=SIZE, record=REC)
    run(CFG, chunk_size=SIZE, record=REC, out=base / "ckpt")
    run(OTHER, chunk_size=SIZE, record=REC, out=base / "other")
    run(CFG, chunk_size=OTHER_SIZE, record=REC, out=base / "rechunked")
    assert sorted(p.name for p in (base / "ckpt").iterdir()) == sorted(FILES)
    return base, clean


def _apply(fault, d: Path, base: Path) -> None:
    kind = fault[0]
    if kind in ("truncate", "flip", "delete"):
        path = d / fault[1]
        if not path.exists():
            return
        data = path.read_bytes()
        if kind == "delete":
            path.unlink()
        elif kind == "truncate" and data:
            path.write_bytes(data[: fault[2] % len(data)])  # strictly shorter
        elif kind == "flip" and data:
            flipped = bytearray(data)
            flipped[fault[2] % len(data)] ^= 1 << fault[3]
            path.write_bytes(bytes(flipped))
    elif kind in ("swap", "swap_chunks"):
        suffixes = [fault[1]] if kind == "swap" else KINDS
        i, j = fault[-2:]
        for suffix in suffixes:
            a, b = d / f"chunk-{i:06d}{suffix}", d / f"chunk-{j:06d}{suffix}"
            da, db = (a.read_bytes() if a.exists() else None), (b.read_bytes() if b.exists() else None)
            for path, data in ((a, db), (b, da)):
                path.unlink(missing_ok=True)
                if data is not None:
                    path.write_bytes(data)
    elif kind == "foreign":
        src, suffix, i = base / fault[1], fault[2], fault[3]
        for s in (KINDS if suffix == "all" else [suffix]):
            name = f"chunk-{i:06d}{s}"
            if (src / name).exists():
                shutil.copyfile(src / name, d / name)
    elif kind == "manifest_from":
        shutil.copyfile(base / fault[1] / "manifest.json", d / "manifest.json")
    elif kind == "edit_manifest":
        path = d / "manifest.json"
        if path.exists():
            try:
                body = json.loads(path.read_bytes())
                fault[1](body)
            except Exception:  # an earlier fault broke it: leave it broken
                return
            path.write_text(json.dumps(body))


def _outcome(op: str, d: Path, scratch: Path):
    if op == "resume":
        return run(CFG, chunk_size=SIZE, record=REC, out=d)
    if op == "resume_default_size":
        return run(CFG, record=REC, out=d)
    if op == "resume_other_size":
        return run(CFG, chunk_size=OTHER_SIZE, record=REC, out=d)
    if op == "shards":
        for i in (1, 0):
            lrsweep.sweep_shard(CFG, (i, 2), out=d, chunk_size=SIZE, record=REC, threads=1)
        return load_results(d)
    if op == "merge":
        merge([d], into=scratch / "merged")
        return load_results(scratch / "merged")
    return load_results(d)


def _assert_bit_identical(res, clean) -> None:
    assert res == clean
    for got, want in ((res.frame, clean.frame), (res.records, clean.records)):
        for col in want.columns:
            a, b = got[col].to_numpy(), want[col].to_numpy()
            if b.dtype == np.float64:
                assert np.array_equal(a.view(np.int64), b.view(np.int64)), col


def _intact_chunks(d: Path, base: Path) -> int:
    def same(name):
        return (d / name).exists() and (d / name).read_bytes() == (base / "ckpt" / name).read_bytes()
    return sum(all(same(f"chunk-{i:06d}{k}") for k in KINDS) for i in range(N_CHUNKS))


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(faults=st.lists(FAULTS, max_size=3), op=st.sampled_from(OPS))
def test_any_fault_gives_the_clean_table_or_a_named_error(pristine, faults, op):
    base, clean = pristine
    with tempfile.TemporaryDirectory(dir=base) as scratch:
        scratch = Path(scratch)
        d = scratch / "ckpt"
        shutil.copytree(base / "ckpt", d)
        for fault in faults:
            _apply(fault, d, base)
        manifest = d / "manifest.json"
        kept = (base / "ckpt/manifest.json").read_bytes()
        manifest_ok = not manifest.exists() or manifest.read_bytes() == kept
        intact = _intact_chunks(d, base)
        try:
            res = _outcome(op, d, scratch)
        except lrsweep.ParameterError:
            event(f"{op}: named error")
            assert not (manifest_ok and op in ("resume", "shards")), "intact or absent manifest: must resume"
            return
        event(f"{op}: clean table")
        _assert_bit_identical(res, clean)
        if op == "resume":
            assert res.meta["chunks_loaded"] == intact
            assert res.meta["chunks_computed"] == N_CHUNKS - intact
            again = run(CFG, chunk_size=SIZE, record=REC, out=d)
            assert again.meta["chunks_loaded"] == N_CHUNKS
            _assert_bit_identical(again, clean)
