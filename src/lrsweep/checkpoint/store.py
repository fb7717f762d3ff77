"""``ChunkStore``: one sweep's chunk files in one directory, written with identities, read only if verified.

The file format is described in :mod:`lrsweep.checkpoint`. Writing a chunk
(:meth:`ChunkStore.save`) encodes its Parquet files in memory, hashes them,
and writes, each atomically (:mod:`.files`), its checksum entry, its records
file and last its metrics file: the rename of the metrics file is the commit
point, so a metrics file never exists without the entry and records written
before it. Reading a chunk (:meth:`ChunkStore.check`, :meth:`ChunkStore.load`)
accepts it only if its checksum entry names this sweep, this chunk and the
exact size and SHA-256 of every file, and each file's embedded identity
names this sweep and chunk; anything else is "missing" (no metrics file),
"foreign" (an intact identity of another sweep or chunking) or "corrupt".
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import ParameterError
from ..config import SweepConfig
from ..engine.layout import ChunkResult
from ..files import atomic_write, fsync_dir, remove_stale_temps
from ..grid import Chunk, chunks
from ..metrics import DERIVED_FIELDS, FLOAT_FIELDS, INT_FIELDS

__all__ = ["FORMAT", "MANIFEST", "RECORD_IDS", "ChunkStore", "read_manifest"]

#: Version of the checkpoint format (part of every sweep key, manifest and chunk identity).
FORMAT = 2
MANIFEST = "manifest.json"
RECORD_IDS = "record_ids.npy"
#: Parquet schema-metadata key of a chunk file's identity.
IDENTITY_KEY = b"lrsweep_chunk"
#: The files of a chunk, in the order they are written (the metrics file commits the chunk).
KINDS = ("sums", "records", "weights", "metrics")
_SUFFIX = {"sums": ".sums.json", "records": ".records.parquet", "weights": ".weights.parquet",
           "metrics": ".parquet"}


def _schemas() -> dict[str, Any]:
    import pyarrow as pa

    metrics = [(n, pa.float64()) for n in FLOAT_FIELDS] + [(n, pa.int64()) for n in INT_FIELDS]
    metrics += [(n, pa.float64()) for n in DERIVED_FIELDS]
    records = [("trajectory_id", pa.int64()), ("theta", pa.float64()), ("error", pa.float64()),
               ("loss", pa.float64())]
    weights = [("value", pa.float64()), ("reference", pa.float64())]
    return {"metrics": pa.schema(metrics), "records": pa.schema(records), "weights": pa.schema(weights)}


def _sha256(data) -> str:
    return hashlib.sha256(data).hexdigest()


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, indent=1, sort_keys=True, allow_nan=False).encode()


def read_manifest(directory: Path) -> dict | None:
    """The parsed ``manifest.json`` of ``directory`` (``None`` if there is none).

    Raises :class:`~lrsweep.ParameterError` if it cannot be read or is not a
    JSON object.
    """
    path = directory / MANIFEST
    try:
        found = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        why = f"not readable JSON: {exc}"
    else:
        if isinstance(found, dict):
            return found
        why = f"a JSON {type(found).__name__}, not an object"
    raise ParameterError(
        f"{str(path)!r} is not a readable lrsweep checkpoint manifest ({why}). If the directory holds "
        f"chunks of the sweep you mean to run, delete the manifest and rerun it: every chunk carries "
        f"its own identity and checksum, so that sweep's are kept and any other is recomputed."
    )


class ChunkStore:
    """The chunk files of one sweep in one directory.

    Parameters
    ----------
    directory : path
        The checkpoint directory.
    config : SweepConfig
    chunk_size : int
    rec_ids : ndarray of int64
        Recorded trajectory ids (sorted, unique).
    record_every : int

    Attributes
    ----------
    key : str
        SHA-256 of the sweep's identity (``ident``): the config's grid hash,
        the chunk size, the recorded ids, ``record_every``, the lrsweep
        version and the checkpoint format. Chunks of another key are never read.
    rejected : set of int
        Indices of chunks whose files were found but failed verification.
    temps_removed : int
        Abandoned temporary files removed by :meth:`open`.
    """

    def __init__(self, directory: str | os.PathLike, config: SweepConfig, chunk_size: int,
                 rec_ids: np.ndarray, record_every: int):
        from .. import __version__

        self.dir = Path(directory)
        self.rec_ids = np.ascontiguousarray(rec_ids, dtype=np.int64)
        ident = {
            "format": FORMAT,
            "grid_hash": config.grid_hash(),
            "chunk_size": int(chunk_size),
            "record_ids_sha256": _sha256(self.rec_ids.tobytes()),
            "record_every": int(record_every),
            "lrsweep": __version__,
        }
        self.key = _sha256(json.dumps(ident, sort_keys=True).encode())
        self.ident = ident
        self.config = config
        self.recorded = self.rec_ids.size > 0
        self.rejected: set[int] = set()
        self.temps_removed = 0

    # ------------------------------------------------------------- manifest
    def manifest_body(self) -> dict:
        """The manifest this store writes (as read back from JSON)."""
        body = {"key": self.key, **self.ident, "config": self.config.to_dict(),
                "n_chunks": math.ceil(self.config.n_trajectories / self.ident["chunk_size"])}
        return json.loads(_json_bytes(body))

    def open(self) -> None:
        """Create the directory and manifest, or check that they belong to this sweep.

        Removes the temporary files of killed writers (:func:`lrsweep.files.remove_stale_temps`).
        A manifest of this sweep's key whose other fields differ (edited, or a
        bit flipped in its config) is written again; a manifest of another key
        or format is refused, and so is one that cannot be read.
        """
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ParameterError(f"The 'out' parameter of sweep must be a writable directory. "
                                 f"Got {str(self.dir)!r} instead ({exc.strerror}).") from None
        self.temps_removed = remove_stale_temps(self.dir)
        found = read_manifest(self.dir)
        if found is not None and found.get("key") != self.key:
            if found.get("format") != FORMAT:
                raise ParameterError(
                    f"The output directory {str(self.dir)!r} holds a checkpoint in format "
                    f"{found.get('format', 1)!r} (an older lrsweep, without chunk identities and checksums); "
                    f"this lrsweep writes format {FORMAT}. Use another directory or delete that one."
                )
            raise ParameterError(
                f"The output directory {str(self.dir)!r} holds chunks of another sweep "
                f"(key {found.get('key')}); this sweep has key {self.key}. Use another directory or "
                f"delete that one; chunks of different sweeps are never mixed."
            )
        ids_path = self.dir / RECORD_IDS
        if self.recorded and not self._record_ids_intact(ids_path):
            buf = io.BytesIO()
            np.save(buf, self.rec_ids, allow_pickle=False)
            atomic_write(ids_path, buf.getbuffer())
        body = self.manifest_body()
        if found != body:
            atomic_write(self.dir / MANIFEST, _json_bytes(body))
        fsync_dir(self.dir)

    def _record_ids_intact(self, path: Path) -> bool:
        try:
            ids = np.load(path, allow_pickle=False)
        except Exception:  # missing, truncated or not .npy
            return False
        return ids.dtype == np.int64 and _sha256(np.ascontiguousarray(ids).tobytes()) == \
            self.ident["record_ids_sha256"]

    @staticmethod
    def started_chunk_size(directory: str | os.PathLike, config: SweepConfig, rec_ids: np.ndarray,
                           record_every: int) -> int | None:
        """Chunk size of this sweep's checkpoint in ``directory``, if one was started there.

        Read from the manifest, or, if it was deleted, from the identity of
        chunk 0; ``None`` if neither names this sweep.
        """
        directory = Path(directory)
        try:
            found = json.loads((directory / MANIFEST).read_bytes())
            size = found["chunk_size"]
        except FileNotFoundError:
            try:
                found = json.loads((directory / ("chunk-000000" + _SUFFIX["sums"])).read_bytes())
                size = found["stop"] - found["start"]
            except Exception:  # missing or unreadable: no information
                return None
        except Exception:  # unreadable: open() will say so
            return None
        if not isinstance(found, dict) or not isinstance(size, int) or isinstance(size, bool) or size < 1:
            return None
        probe = ChunkStore(directory, config, size, rec_ids, record_every)
        return size if found.get("key") == probe.key else None

    # ----------------------------------------------------------- chunk files
    def _path(self, index: int, kind: str = "metrics") -> Path:
        return self.dir / (f"chunk-{index:06d}" + _SUFFIX[kind])

    def _kinds(self) -> tuple[str, ...]:
        """The Parquet files of a chunk in writing order: records if recorded, weights with d features."""
        return (*(("records",) if self.recorded else ()), *(("weights",) if self.config.has_features else ()),
                "metrics")

    def _weight_rows(self, chunk: Chunk) -> int:
        from ..weights import coordinates

        return int(coordinates(self.config, chunk.start, chunk.stop).sum())

    def _identity(self, chunk: Chunk, kind: str, rows: int, **extra: int) -> dict:
        return {"format": FORMAT, "kind": kind, "key": self.key, "index": chunk.index, "start": chunk.start,
                "stop": chunk.stop, "rows": rows, **extra}

    def _sums(self, chunk: Chunk, files: dict[str, Any]) -> dict:
        """The checksum entry of a chunk whose files hold ``files`` (kind -> bytes)."""
        entries = {self._path(chunk.index, kind).name: {"bytes": memoryview(data).nbytes,
                                                        "sha256": _sha256(data)}
                   for kind, data in files.items()}
        return {"format": FORMAT, "key": self.key, "index": chunk.index, "start": chunk.start,
                "stop": chunk.stop, "files": entries}

    def _chunk_ids(self, chunk: Chunk) -> np.ndarray:
        lo, hi = np.searchsorted(self.rec_ids, [chunk.start, chunk.stop])
        return self.rec_ids[lo:hi]

    def encode(self, result: ChunkResult) -> dict[str, Any]:
        """The Parquet bytes of a finished chunk's files (kind -> buffer), each with its identity."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        schemas = _schemas()
        chunk = result.chunk
        cols = {name: result.out_f[r] for r, name in enumerate(FLOAT_FIELDS)}
        cols.update({name: result.out_i[r] for r, name in enumerate(INT_FIELDS)})
        cols.update({name: result.derived[name] for name in DERIVED_FIELDS})
        tables = {"metrics": (pa.table(cols, schema=schemas["metrics"]),
                              self._identity(chunk, "metrics", len(chunk)))}
        if self.recorded:
            n_rec, slots = result.rec_theta.shape
            rec = {"trajectory_id": np.repeat(result.rec_ids, slots),
                   "theta": result.rec_theta.ravel(), "error": result.rec_error.ravel(),
                   "loss": result.rec_loss.ravel()}
            tables["records"] = (pa.table(rec, schema=schemas["records"]),
                                 self._identity(chunk, "records", n_rec * slots, slots=slots, recorded=n_rec))
        if self.config.has_features:
            w = {"value": result.weights[0], "reference": result.weights[1]}
            tables["weights"] = (pa.table(w, schema=schemas["weights"]),
                                 self._identity(chunk, "weights", result.weights.shape[1]))
        out = {}
        for kind in self._kinds():
            table, ident = tables[kind]
            sink = pa.BufferOutputStream()
            pq.write_table(table.replace_schema_metadata({IDENTITY_KEY: json.dumps(ident).encode()}), sink)
            out[kind] = sink.getvalue()
        return out

    def write(self, chunk: Chunk, files: dict[str, Any]) -> None:
        """Write a chunk's files (kind -> bytes): checksum entry, records, then metrics, each atomically.

        The Parquet files are fsynced before their rename and the directory
        after the last one, as before checksums existed; the checksum entry
        is not (should it not reach the disk, the chunk is recomputed).
        """
        atomic_write(self._path(chunk.index, "sums"), _json_bytes(self._sums(chunk, files)), sync=False)
        for kind in self._kinds():
            atomic_write(self._path(chunk.index, kind), files[kind])
        fsync_dir(self.dir)

    def save(self, result: ChunkResult) -> None:
        """Write one finished chunk."""
        self.write(result.chunk, self.encode(result))

    def check(self, chunk: Chunk) -> tuple[str, dict[str, bytes] | None]:
        """Verify a chunk's files; returns ``(status, files)``.

        ``status`` is ``"ok"`` (``files`` holds the verified bytes, kind ->
        bytes), ``"missing"`` (no metrics file: never finished), ``"foreign"``
        (the metrics file's identity names another sweep or chunking) or
        ``"corrupt"`` (anything else that fails: checksum entry missing or not
        this chunk's, a size or SHA-256 that differs, an identity that does
        not match). Foreign and corrupt chunks are added to :attr:`rejected`.
        """
        status, files = self._check(chunk)
        if status in ("foreign", "corrupt"):
            self.rejected.add(chunk.index)
        return status, files

    def _check(self, chunk: Chunk) -> tuple[str, dict[str, bytes] | None]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        files: dict[str, bytes] = {}
        try:
            files["metrics"] = self._path(chunk.index).read_bytes()
        except FileNotFoundError:
            return "missing", None
        except OSError:
            return "corrupt", None
        try:
            meta = pq.read_metadata(pa.BufferReader(files["metrics"]))
            ident = json.loads(meta.metadata[IDENTITY_KEY])
            if ident != self._identity(chunk, "metrics", len(chunk)) or meta.num_rows != len(chunk):
                foreign = isinstance(ident, dict) and ident.get("key") != self.key
                return ("foreign" if foreign else "corrupt"), None
            if self.recorded:
                files["records"] = self._path(chunk.index, "records").read_bytes()
                meta = pq.read_metadata(pa.BufferReader(files["records"]))
                ident = json.loads(meta.metadata[IDENTITY_KEY])
                n_rec, slots = len(self._chunk_ids(chunk)), ident["slots"]
                expected = self._identity(chunk, "records", n_rec * slots, slots=slots, recorded=n_rec)
                if ident != expected or meta.num_rows != n_rec * slots:
                    return "corrupt", None
            if self.config.has_features:
                files["weights"] = self._path(chunk.index, "weights").read_bytes()
                meta = pq.read_metadata(pa.BufferReader(files["weights"]))
                rows = self._weight_rows(chunk)
                if json.loads(meta.metadata[IDENTITY_KEY]) != self._identity(chunk, "weights", rows) or (
                        meta.num_rows != rows):
                    return "corrupt", None
            files = {kind: files[kind] for kind in self._kinds()}  # in writing order
            sums = json.loads(self._path(chunk.index, "sums").read_bytes())
            if sums != self._sums(chunk, files):
                return "corrupt", None
        except Exception:  # missing, truncated, not Parquet/JSON, no identity: not this chunk
            return "corrupt", None
        return "ok", files

    def exists(self, chunk: Chunk) -> bool:
        """Whether the chunk's files are complete and verified (identity and checksums)."""
        return self.check(chunk)[0] == "ok"

    def decode(self, chunk: Chunk, files: dict[str, bytes]) -> ChunkResult:
        """The :class:`~lrsweep.engine.layout.ChunkResult` held by a chunk's verified files.

        Raises ``ValueError`` if a schema differs from the format's.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        schemas = _schemas()
        t = pq.read_table(pa.BufferReader(files["metrics"]))
        if not t.schema.remove_metadata().equals(schemas["metrics"]):
            raise ValueError(f"chunk {chunk.index}: unexpected metric schema")
        out_f = np.stack([t.column(n).to_numpy() for n in FLOAT_FIELDS])
        out_i = np.stack([t.column(n).to_numpy() for n in INT_FIELDS])
        derived = {n: t.column(n).to_numpy() for n in DERIVED_FIELDS}
        chunk_rec = self._chunk_ids(chunk)
        if self.recorded:
            rt = pq.read_table(pa.BufferReader(files["records"]))
            if not rt.schema.remove_metadata().equals(schemas["records"]):
                raise ValueError(f"chunk {chunk.index}: unexpected records schema")
            slots = json.loads(rt.schema.metadata[IDENTITY_KEY])["slots"]
            if not np.array_equal(rt.column("trajectory_id").to_numpy(), np.repeat(chunk_rec, slots)):
                raise ValueError(f"chunk {chunk.index}: recorded ids differ")
            rec_theta, rec_error, rec_loss = (rt.column(c).to_numpy().reshape(len(chunk_rec), slots)
                                              for c in ("theta", "error", "loss"))
        else:
            rec_theta = rec_error = rec_loss = np.zeros((0, 0))
        weights = None
        if self.config.has_features:
            wt = pq.read_table(pa.BufferReader(files["weights"]))
            if not wt.schema.remove_metadata().equals(schemas["weights"]):
                raise ValueError(f"chunk {chunk.index}: unexpected weights schema")
            weights = np.stack([wt.column("value").to_numpy(), wt.column("reference").to_numpy()])
        return ChunkResult(chunk, out_f, out_i, derived, chunk_rec, rec_theta, rec_loss, rec_error, weights)

    def load(self, chunk: Chunk) -> ChunkResult | None:
        """The chunk's result if its files are complete and verified, else ``None``."""
        status, files = self.check(chunk)
        if status != "ok":
            return None
        try:
            return self.decode(chunk, files)
        except Exception:  # verified bytes that do not decode: another format; recompute
            self.rejected.add(chunk.index)
            return None

    def plan(self) -> list[Chunk]:
        """The sweep's chunks at this store's chunk size (:func:`lrsweep.grid.chunks`)."""
        return chunks(self.config, self.ident["chunk_size"])
