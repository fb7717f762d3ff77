"""A checkpoint directory read without the script that wrote it: status, ``load_results``, ``merge``.

The manifest is the only description of such a directory, so it is checked
field by field (:func:`open_existing`) before anything is trusted, and every
chunk is verified against it (:meth:`.store.ChunkStore.check`).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._validation import ListOf, ParameterError, PathLike, validate_params
from ..config import SweepConfig
from .store import FORMAT, MANIFEST, RECORD_IDS, ChunkStore, read_manifest

__all__ = ["CheckpointStatus", "find_checkpoints", "load_results", "merge", "open_existing"]


def _count(v: object, least: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= least


#: Every field of a manifest: what it must be, and a test.
FIELDS = {
    "format": (f"the int {FORMAT}", lambda v: _count(v, 0)),
    "key": ("a str", lambda v: isinstance(v, str)),
    "grid_hash": ("a str", lambda v: isinstance(v, str)),
    "chunk_size": ("an int >= 1", lambda v: _count(v, 1)),
    "record_ids_sha256": ("a str", lambda v: isinstance(v, str)),
    "record_every": ("an int >= 1", lambda v: _count(v, 1)),
    "lrsweep": ("a str", lambda v: isinstance(v, str)),
    "config": ("an object (a SweepConfig)", lambda v: isinstance(v, dict)),
    "n_chunks": ("an int >= 0", lambda v: _count(v, 0)),
}


def open_existing(directory: Path) -> tuple[ChunkStore, dict]:
    """The store described by the manifest in ``directory``, after checking every field of it.

    Raises :class:`~lrsweep.ParameterError` naming the field if the manifest
    is missing, unreadable, of another format, lacks a field, has one of the
    wrong type, a config that is not valid, record ids that do not match, or
    any field that differs from what its config, chunk size and recording
    describe (e.g. an edited grid hash or key).
    """
    where = f"The checkpoint manifest {str(directory / MANIFEST)!r}"
    if not directory.is_dir():
        what = "a file" if directory.exists() else "no such directory"
        raise ParameterError(f"{str(directory)!r} is not an lrsweep checkpoint directory ({what}).")
    found = read_manifest(directory)
    if found is None:
        below = [str(p.relative_to(directory)) for p in find_checkpoints(directory)]
        there = (f"the checkpoints below it: {_shown(below)}; pass one of them" if below else
                 f"it holds {_shown(sorted(p.name for p in directory.iterdir())) or 'nothing'}")
        raise ParameterError(f"{str(directory)!r} is not an lrsweep checkpoint directory (no {MANIFEST}; "
                             f"{there}).")
    if "format" in found and found["format"] != FORMAT:
        raise ParameterError(f"{where} has 'format' {found['format']!r}; this lrsweep reads format {FORMAT} "
                             f"(chunks with identities and checksums). Rerun the sweep into a new directory.")
    for name, (what, ok) in FIELDS.items():
        if name not in found:
            hint = " (written by an older lrsweep?)" if name == "format" else ""
            raise ParameterError(f"{where} lacks the field {name!r} ({what}){hint}; it cannot be used.")
        if not ok(found[name]):
            raise ParameterError(f"{where} has {name!r} = {found[name]!r}; it must be {what}.")
    try:
        config = SweepConfig.from_dict(found["config"])
    except Exception as exc:  # validation errors, unknown keys (TypeError), malformed data
        raise ParameterError(f"{where} has a 'config' that is not a valid SweepConfig ({exc}).") from None
    rec_ids = np.zeros(0, dtype=np.int64)
    ids_path = directory / RECORD_IDS
    if ids_path.exists():
        try:
            rec_ids = np.load(ids_path, allow_pickle=False)
        except Exception as exc:
            raise ParameterError(f"{str(ids_path)!r} is not readable ({exc}); "
                                 f"the checkpoint cannot be used.") from None
    if rec_ids.dtype != np.int64 or \
            hashlib.sha256(np.ascontiguousarray(rec_ids).tobytes()).hexdigest() != found["record_ids_sha256"]:
        raise ParameterError(f"{where} has a 'record_ids_sha256' that does not match {RECORD_IDS}; the "
                             f"recorded trajectories cannot be told.")
    store = ChunkStore(directory, config, found["chunk_size"], rec_ids, found["record_every"])
    expected = store.manifest_body()
    differ = sorted(k for k in expected.keys() | found.keys() if found.get(k) != expected.get(k))
    if differ:
        shown = ", ".join(repr(k) for k in differ)
        raise ParameterError(f"{where} has {shown} that do not match its config, chunk size and recording "
                             f"(key {found['key']} versus {store.key}: edited, or written by another lrsweep "
                             f"version?); it cannot be used.")
    return store, found


@dataclass(frozen=True)
class CheckpointStatus:
    """One checkpoint directory: which sweep, how many of its chunks are done (verified)."""

    path: Path
    key: str
    n_chunks: int
    done: tuple[int, ...]

    @property
    def complete(self) -> bool:
        return len(self.done) == self.n_chunks

    @property
    def missing(self) -> list[int]:
        have = set(self.done)
        return [i for i in range(self.n_chunks) if i not in have]


def _status(store: ChunkStore) -> CheckpointStatus:
    plan = store.plan()
    done = tuple(c.index for c in plan if store.exists(c))
    return CheckpointStatus(store.dir, store.key, len(plan), done)


def _shown(indices: list[int]) -> str:
    return ", ".join(map(str, indices[:10])) + (" ..." if len(indices) > 10 else "")


def _refuse_foreign(directory: Path, store: ChunkStore, foreign: list[int]) -> ParameterError:
    return ParameterError(
        f"The manifest of the checkpoint in {str(directory)!r} does not match its chunks: chunks "
        f"{_shown(foreign)} belong to another sweep or another chunking (the manifest describes key "
        f"{store.key}). Refusing to label them with its config; use the manifest that came with them."
    )


@validate_params({"directory": PathLike()})
def find_checkpoints(directory: str | os.PathLike) -> list[Path]:
    """Checkpoint directories at or below ``directory`` (those with a manifest.json)."""
    root = Path(directory)
    if (root / MANIFEST).exists():
        return [root]
    return sorted(p.parent for p in root.rglob(MANIFEST))


@validate_params({"directory": PathLike()})
def load_results(directory: str | os.PathLike):
    """The :class:`~lrsweep.Results` of a complete checkpoint directory.

    Equal, bit for bit, to what ``sweep`` returned (or would return) for the
    sweep that wrote it. Every field of the manifest and every chunk's
    identity and checksums are verified, and the assembled table is checked
    against the config (:func:`lrsweep.results.frame_problem`).

    Raises
    ------
    lrsweep.ParameterError
        Naming the field if the manifest is missing, unreadable or does not
        describe itself consistently (:func:`open_existing`); if chunks of
        another sweep or chunking sit under it (the manifest does not match
        its chunks); or naming the chunks that are missing or failed
        verification (rerun ``sweep(config, out=...)`` to compute them).
    """
    from ..results import Assembler, Results, frame_problem

    directory = Path(directory)
    store, _ = open_existing(directory)
    plan = store.plan()
    assembler = Assembler(store.config, store.ident["record_every"], store.recorded)
    failed: dict[str, list[int]] = {"missing": [], "corrupt": [], "foreign": []}
    for c in plan:
        status, files = store.check(c)
        if status == "ok":
            try:
                assembler.add(store.decode(c, files))
                continue
            except Exception:  # verified bytes that do not decode
                status = "corrupt"
        failed[status].append(c.index)
    if failed["foreign"]:
        raise _refuse_foreign(directory, store, failed["foreign"])
    if failed["missing"] or failed["corrupt"]:
        parts = []
        missing, corrupt = failed["missing"], failed["corrupt"]
        if missing:
            parts.append(f"is missing {len(missing)} of {len(plan)} chunks ({_shown(missing)})")
        if corrupt:
            parts.append(f"has {len(corrupt)} of {len(plan)} chunks that fail verification "
                         f"({_shown(corrupt)}: truncated, altered or of another format)")
        raise ParameterError(
            f"The checkpoint in {str(directory)!r} {' and '.join(parts)}; run the remaining shards "
            f"(or sweep(config, out=...), which recomputes them) first."
        )
    weights = assembler.weights()
    frame, records = assembler.finish()
    problem = frame_problem(frame, store.config)
    if problem:  # cannot happen for verified chunks; checked as load() checks a file
        raise ParameterError(f"The table of the checkpoint in {str(directory)!r} does not match its config: "
                             f"{problem}.")
    meta = {"chunks": len(plan), "chunks_computed": 0, "chunks_loaded": len(plan), "chunks_rejected": 0,
            "chunk_size": store.ident["chunk_size"], "checkpoint": str(directory)}
    return Results(frame=frame, records=records, config=store.config, meta=meta, weight_arrays=weights)


@validate_params({"sources": ListOf(PathLike(), what="a non-empty list of paths"), "into": PathLike()})
def merge(sources: list[str | os.PathLike], into: str | os.PathLike) -> list[CheckpointStatus]:
    """Copy the finished chunks of ``sources`` into the checkpoint tree ``into``.

    Each source is a checkpoint directory or a tree of them (a study's
    ``--out``); a checkpoint lands in ``into`` at the same relative place (a
    bare checkpoint directory lands in ``into`` itself). Only verified chunks
    are copied (identity and checksums, :meth:`.store.ChunkStore.check`), each
    file atomically with its checksum entry; a source chunk that fails
    verification is left out (the destination reports it missing). A
    destination chunk is kept if it verifies and replaced otherwise; the same
    sweep is recognised by its key, and a destination holding another sweep
    is refused, as is a source whose manifest does not match its chunks.
    Returns the status of every destination checkpoint.
    """
    into = Path(into)
    touched: dict[Path, ChunkStore] = {}
    for src in sources:
        src = Path(src)
        found = find_checkpoints(src)
        if not found:
            raise ParameterError(f"{str(src)!r} holds no lrsweep checkpoint (no manifest.json below it).")
        for ckpt in found:
            store, _ = open_existing(ckpt)
            dest_dir = into / ckpt.relative_to(src)
            same = dest_dir.resolve() == ckpt.resolve()
            dest = store if same else ChunkStore(dest_dir, store.config, store.ident["chunk_size"],
                                                 store.rec_ids, store.ident["record_every"])
            if not same:
                dest.open()  # refuses a foreign sweep
            foreign = []
            for c in store.plan():
                status, files = store.check(c)
                if status == "foreign":
                    foreign.append(c.index)
                if status == "ok" and not same and not dest.exists(c):
                    dest.write(c, files)
            if foreign:
                raise _refuse_foreign(ckpt, store, foreign)
            touched.setdefault(dest_dir, dest)
    return [_status(s) for s in touched.values()]
