"""Finished chunks on disk: atomic Parquet files and a manifest, so sweeps resume.

``sweep(config, out=DIR)`` writes every finished chunk to
``DIR/chunk-000007.parquet`` (its metric arrays) and, when trajectories are
recorded, ``DIR/chunk-000007.records.parquet``. Each file is written to a
temporary name, fsynced and renamed, so a crash leaves either the whole file
or none. ``DIR/manifest.json`` names the sweep: a hash of the config, the
chunking, the recording request and the package version. A rerun with the
same key loads the finished chunks and computes only the rest; a different
key is refused (with both hashes), never mixed. A chunk file that cannot be
read or has the wrong length (a crash mid-write on a file system without
atomic rename, a truncated copy) is recomputed.

The manifest also holds the config (and ``record_ids.npy`` the recorded
ids), so a directory describes itself: :func:`load_results` assembles a
complete directory without the script that wrote it, and :func:`merge`
combines the chunks of one sweep written to several directories (shards of
an array job on machines without a shared file system).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._validation import ListOf, ParameterError, PathLike, validate_params
from .config import SweepConfig
from .engine.layout import ChunkResult
from .grid import Chunk, chunks
from .metrics import DERIVED_FIELDS, FLOAT_FIELDS, INT_FIELDS

__all__ = ["CheckpointStatus", "ChunkStore", "find_checkpoints", "load_results", "merge"]


def _atomic_write_table(table, path: Path) -> None:
    import pyarrow.parquet as pq

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class ChunkStore:
    """The chunk files of one sweep in one directory."""

    def __init__(self, directory: str | os.PathLike, config: SweepConfig, chunk_size: int,
                 rec_ids: np.ndarray, record_every: int):
        from . import __version__

        self.dir = Path(directory)
        rec_hash = hashlib.sha256(np.ascontiguousarray(rec_ids, dtype=np.int64).tobytes()).hexdigest()
        ident = {
            "grid_hash": config.grid_hash(),
            "chunk_size": int(chunk_size),
            "record_ids_sha256": rec_hash,
            "record_every": int(record_every),
            "lrsweep": __version__,
        }
        self.key = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()
        self.ident = ident
        self.config = config
        self.rec_ids = np.ascontiguousarray(rec_ids, dtype=np.int64)
        self.recorded = rec_ids.size > 0

    def open(self) -> None:
        """Create the directory and manifest, or check that they belong to this sweep."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ParameterError(f"The 'out' parameter of sweep must be a writable directory. "
                                 f"Got {str(self.dir)!r} instead ({exc.strerror}).") from None
        manifest = self.dir / "manifest.json"
        if manifest.exists():
            try:
                found = json.loads(manifest.read_text()).get("key")
            except (OSError, ValueError):
                found = None
            if found != self.key:
                raise ParameterError(
                    f"The output directory {str(self.dir)!r} holds chunks of another sweep "
                    f"(key {found}); this sweep has key {self.key}. Use another directory or "
                    f"delete that one; chunks of different sweeps are never mixed."
                )
            return
        if self.rec_ids.size:
            ids_tmp = self.dir / f".record_ids.{os.getpid()}.npy"
            np.save(ids_tmp, self.rec_ids)
            os.replace(ids_tmp, self.dir / "record_ids.npy")
        tmp = self.dir / f".manifest.{os.getpid()}.tmp"
        body = {"key": self.key, **self.ident, "config": self.config.to_dict(),
                "n_chunks": math.ceil(self.config.n_trajectories / self.ident["chunk_size"])}
        tmp.write_text(json.dumps(body, indent=1, sort_keys=True))
        os.replace(tmp, manifest)

    @staticmethod
    def started_chunk_size(directory: str | os.PathLike, config: SweepConfig, rec_ids: np.ndarray,
                           record_every: int) -> int | None:
        """Chunk size of this sweep's checkpoint in ``directory``, if one was started there."""
        try:
            found = json.loads((Path(directory) / "manifest.json").read_text())
        except (OSError, ValueError):
            return None
        probe = ChunkStore(directory, config, int(found.get("chunk_size", 1) or 1), rec_ids, record_every)
        return probe.ident["chunk_size"] if found.get("key") == probe.key else None

    def _path(self, index: int, records: bool = False) -> Path:
        return self.dir / (f"chunk-{index:06d}" + (".records" if records else "") + ".parquet")

    def save(self, result: ChunkResult) -> None:
        """Write one finished chunk."""
        import pyarrow as pa

        index = result.chunk.index
        cols = {name: result.out_f[r] for r, name in enumerate(FLOAT_FIELDS)}
        cols.update({name: result.out_i[r] for r, name in enumerate(INT_FIELDS)})
        cols.update({name: result.derived[name] for name in DERIVED_FIELDS})
        if self.recorded:
            # Records first, so a chunk file never exists without its records.
            slots = result.rec_theta.shape[1]
            rec = {"trajectory_id": np.repeat(result.rec_ids, slots),
                   "theta": result.rec_theta.ravel(), "loss": result.rec_loss.ravel()}
            rt = pa.table(rec).replace_schema_metadata({b"slots": str(slots).encode()})
            _atomic_write_table(rt, self._path(index, records=True))
        _atomic_write_table(pa.table(cols), self._path(index))

    def plan(self) -> list[Chunk]:
        """The sweep's chunks at this store's chunk size (:func:`lrsweep.grid.chunks`)."""
        return chunks(self.config, self.ident["chunk_size"])

    def exists(self, chunk: Chunk) -> bool:
        """Whether the chunk's files are complete (reads only the Parquet footers)."""
        import pyarrow.parquet as pq

        index = chunk.index
        try:
            if pq.read_metadata(self._path(index)).num_rows != len(chunk):
                return False
            if self.recorded:
                pq.read_metadata(self._path(index, records=True))
        except Exception:  # missing, truncated or not Parquet: recompute
            return False
        return True

    def load(self, chunk: Chunk) -> ChunkResult | None:
        """The chunk's result if its files are complete, else ``None``."""
        import pyarrow.parquet as pq

        path = self._path(chunk.index)
        if not path.exists():
            return None
        try:
            t = pq.read_table(path)
            if t.num_rows != len(chunk):
                return None
            out_f = np.stack([t.column(n).to_numpy() for n in FLOAT_FIELDS])
            out_i = np.stack([t.column(n).to_numpy() for n in INT_FIELDS]).astype(np.int64)
            derived = {n: t.column(n).to_numpy() for n in DERIVED_FIELDS}
            if self.recorded:
                rt = pq.read_table(self._path(chunk.index, records=True))
                slots = int(rt.schema.metadata[b"slots"])
                ids = rt.column("trajectory_id").to_numpy()
                n_rec = len(ids) // slots if slots else 0
                chunk_rec = ids[::slots] if slots else np.zeros(0, dtype=np.int64)
                rec_theta = rt.column("theta").to_numpy().reshape(n_rec, slots)
                rec_loss = rt.column("loss").to_numpy().reshape(n_rec, slots)
            else:
                chunk_rec = np.zeros(0, dtype=np.int64)
                rec_theta = rec_loss = np.zeros((0, 0))
            return ChunkResult(chunk, out_f, out_i, derived, chunk_rec, rec_theta, rec_loss)
        except Exception:  # any unreadable or truncated file is recomputed
            return None


@dataclass(frozen=True)
class CheckpointStatus:
    """One checkpoint directory: which sweep, how many of its chunks are done."""

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


def _open_existing(directory: Path) -> tuple[ChunkStore, dict]:
    """The store described by the manifest in ``directory`` (no checks of the chunks)."""
    try:
        found = json.loads((directory / "manifest.json").read_text())
        config = SweepConfig.from_dict(found["config"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ParameterError(f"{str(directory)!r} is not an lrsweep checkpoint directory "
                             f"(no readable manifest.json with a config: {exc}).") from None
    ids_path = directory / "record_ids.npy"
    rec_ids = np.load(ids_path) if ids_path.exists() else np.zeros(0, dtype=np.int64)
    store = ChunkStore(directory, config, found["chunk_size"], rec_ids, found["record_every"])
    if store.key != found.get("key"):
        raise ParameterError(
            f"The checkpoint in {str(directory)!r} has key {found.get('key')} but its manifest "
            f"describes key {store.key} (written by another lrsweep version?); it cannot be used."
        )
    return store, found


def _status(store: ChunkStore) -> CheckpointStatus:
    plan = store.plan()
    done = tuple(c.index for c in plan if store.exists(c))
    return CheckpointStatus(store.dir, store.key, len(plan), done)


@validate_params({"directory": PathLike()})
def find_checkpoints(directory: str | os.PathLike) -> list[Path]:
    """Checkpoint directories at or below ``directory`` (those with a manifest.json)."""
    root = Path(directory)
    if (root / "manifest.json").exists():
        return [root]
    return sorted(p.parent for p in root.rglob("manifest.json"))


@validate_params({"directory": PathLike()})
def load_results(directory: str | os.PathLike):
    """The :class:`~lrsweep.Results` of a complete checkpoint directory.

    Equal, bit for bit, to what ``sweep`` returned (or would return) for the
    sweep that wrote it. Raises :class:`~lrsweep.ParameterError` naming the
    missing chunks if some are not done yet.
    """
    from .results import Assembler, Results

    store, _ = _open_existing(Path(directory))
    plan = store.plan()
    assembler = Assembler(store.config, store.ident["record_every"], store.recorded)
    missing = []
    for c in plan:
        found = store.load(c)
        if found is None:
            missing.append(c.index)
            continue
        assembler.add(found)
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        raise ParameterError(
            f"The checkpoint in {str(directory)!r} is missing {len(missing)} of {len(plan)} chunks "
            f"({shown}); run the remaining shards (or sweep(config, out=...)) first."
        )
    frame, records = assembler.finish()
    meta = {"chunks": len(plan), "chunks_computed": 0, "chunks_loaded": len(plan),
            "chunk_size": store.ident["chunk_size"], "checkpoint": str(directory)}
    return Results(frame=frame, records=records, config=store.config, meta=meta)


@validate_params({"sources": ListOf(PathLike(), what="a non-empty list of paths"), "into": PathLike()})
def merge(sources: list[str | os.PathLike], into: str | os.PathLike) -> list[CheckpointStatus]:
    """Copy the finished chunks of ``sources`` into the checkpoint tree ``into``.

    Each source is a checkpoint directory or a tree of them (a study's
    ``--out``); a checkpoint lands in ``into`` at the same relative place (a
    bare checkpoint directory lands in ``into`` itself). Chunks already in
    the destination are kept; the same sweep is recognised by its key, and a
    destination holding another sweep is refused. Returns the status of
    every destination checkpoint.
    """
    into = Path(into)
    touched: dict[Path, ChunkStore] = {}
    for src in sources:
        src = Path(src)
        found = find_checkpoints(src)
        if not found:
            raise ParameterError(f"{str(src)!r} holds no lrsweep checkpoint (no manifest.json below it).")
        for ckpt in found:
            store, _ = _open_existing(ckpt)
            rel = ckpt.relative_to(src)
            dest_dir = into / rel
            if dest_dir.resolve() == ckpt.resolve():
                touched.setdefault(dest_dir, store)
                continue
            dest = ChunkStore(dest_dir, store.config, store.ident["chunk_size"], store.rec_ids,
                              store.ident["record_every"])
            dest.open()  # refuses a foreign sweep
            for c in store.plan():
                if not store.exists(c) or dest.exists(c):
                    continue
                # Records first, as in save(): a chunk file never exists without its records.
                for records in ((True, False) if store.recorded else (False,)):
                    target = dest._path(c.index, records)
                    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
                    shutil.copyfile(store._path(c.index, records), tmp)
                    os.replace(tmp, target)
            touched[dest_dir] = dest
    return [_status(s) for s in touched.values()]

