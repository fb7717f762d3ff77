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
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from ._validation import ParameterError
from .config import SweepConfig
from .metrics import FLOAT_FIELDS, INT_FIELDS

__all__ = ["ChunkStore"]

_DERIVED = ("theta_ref", "abs_error_final", "loss_final")


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
        tmp = self.dir / f".manifest.{os.getpid()}.tmp"
        tmp.write_text(json.dumps({"key": self.key, **self.ident}, indent=1, sort_keys=True))
        os.replace(tmp, manifest)

    def _path(self, index: int, records: bool = False) -> Path:
        return self.dir / (f"chunk-{index:06d}" + (".records" if records else "") + ".parquet")

    def save(self, index: int, part: tuple) -> None:
        """Write one finished chunk (the runner's per-chunk tuple)."""
        import pyarrow as pa

        out_f, out_i, derived, chunk_rec, rec_theta, rec_loss = part
        cols = {name: out_f[r] for r, name in enumerate(FLOAT_FIELDS)}
        cols.update({name: out_i[r] for r, name in enumerate(INT_FIELDS)})
        cols.update({name: derived[name] for name in _DERIVED})
        if self.recorded:
            # Records first, so a chunk file never exists without its records.
            rec = {"trajectory_id": np.repeat(chunk_rec, rec_theta.shape[1]),
                   "theta": rec_theta.ravel(), "loss": rec_loss.ravel()}
            rt = pa.table(rec).replace_schema_metadata({b"slots": str(rec_theta.shape[1]).encode()})
            _atomic_write_table(rt, self._path(index, records=True))
        _atomic_write_table(pa.table(cols), self._path(index))

    def load(self, index: int, length: int) -> tuple | None:
        """The chunk's tuple if its files are complete, else ``None``."""
        import pyarrow.parquet as pq

        path = self._path(index)
        if not path.exists():
            return None
        try:
            t = pq.read_table(path)
            if t.num_rows != length:
                return None
            out_f = np.stack([t.column(n).to_numpy() for n in FLOAT_FIELDS])
            out_i = np.stack([t.column(n).to_numpy() for n in INT_FIELDS]).astype(np.int64)
            derived = {n: t.column(n).to_numpy() for n in _DERIVED}
            if self.recorded:
                rt = pq.read_table(self._path(index, records=True))
                slots = int(rt.schema.metadata[b"slots"])
                ids = rt.column("trajectory_id").to_numpy()
                n_rec = len(ids) // slots if slots else 0
                chunk_rec = ids[::slots] if slots else np.zeros(0, dtype=np.int64)
                rec_theta = rt.column("theta").to_numpy().reshape(n_rec, slots)
                rec_loss = rt.column("loss").to_numpy().reshape(n_rec, slots)
            else:
                chunk_rec = np.zeros(0, dtype=np.int64)
                rec_theta = rec_loss = np.zeros((0, 0))
        except Exception:  # any unreadable or truncated file is recomputed
            return None
        return out_f, out_i, derived, chunk_rec, rec_theta, rec_loss
