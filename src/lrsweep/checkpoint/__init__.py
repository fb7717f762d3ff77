"""Finished chunks on disk, verified before they are used: resume, shards and merge.

``sweep(config, out=DIR)`` and ``sweep_shard`` write every finished chunk to
``DIR`` and a rerun loads the chunks that verify and computes the rest. This
docstring is the documentation of the format (format 2); the modules are
:mod:`lrsweep.files` (atomic writes, temporary files and their cleanup),
:mod:`.store` (:class:`ChunkStore`: writing and verifying one sweep's chunks)
and :mod:`.directory` (:func:`load_results`, :func:`merge`).

Files of a checkpoint directory
-------------------------------
``manifest.json``
    The sweep: its ``key`` (SHA-256 of the identity fields below), the
    identity fields ``format`` (2), ``grid_hash`` (of the config),
    ``chunk_size``, ``record_every``, ``record_ids_sha256`` (of the recorded
    trajectory ids) and ``lrsweep`` (version), the full ``config`` and
    ``n_chunks``. Written once, by whichever writer opens the directory
    first (every writer of the sweep writes the same bytes), and never per
    chunk. A sweep of another key or format is refused, never mixed in; a
    manifest of this sweep's key whose other fields differ (edited, a bit
    flipped in its config) is written again by the sweep; one that cannot be
    read is refused (delete it to reuse the directory: the chunks carry
    their own identity).
``record_ids.npy``
    The recorded trajectory ids (only when recording); their hash is in the key.
``chunk-000007.parquet``
    Chunk 7's metric columns (float64 and int64, :mod:`lrsweep.metrics`).
    Its Parquet schema metadata ``lrsweep_chunk`` holds its identity:
    ``{"format", "kind": "metrics", "key", "index", "start", "stop", "rows"}``
    (trajectory ids ``start .. stop - 1``, one row each).
``chunk-000007.records.parquet``
    Only when recording: ``trajectory_id, theta, error, loss`` of the chunk's
    recorded trajectories, ``slots`` rows each (a records file without
    ``error``, written before d-feature recording, is refused like any other
    unexpected schema: the sweep recomputes that chunk), with the identity
    ``{"format", "kind": "records", "key", "index", "start", "stop", "rows",
    "slots", "recorded"}``.
``chunk-000007.sums.json``
    The chunk's checksum entry: ``{"format", "key", "index", "start", "stop",
    "files": {name: {"bytes", "sha256"}}}`` for each of its Parquet files.

Why per-chunk checksum entries, not a manifest rewritten per chunk
------------------------------------------------------------------
Several shard processes (``sweep_shard``, ``--shard I/N``), on one machine
or several sharing a file system, write chunks of one sweep into one
directory at the same time. A single manifest that each writer reads,
extends and rewrites would lose entries (two writers read the same old list
and the last rename wins), and appending to one log is not atomic on NFS.
So the manifest holds what all writers agree on, and its record of each
finished chunk is that chunk's own checksum entry, a file no other writer touches (chunks are dealt to
shards without overlap). Every file is written whole or not at all (to a
temporary name, then renamed; :mod:`lrsweep.files`), in the order checksum
entry, records, metrics: the rename of the metrics file commits the chunk,
so a writer killed at any moment leaves either a committed chunk or one
that is missing (recomputed). Two writers of the same chunk (a shard rerun
while a sweep runs) write the same bytes; should they differ (different
pyarrow versions), the mix fails verification and is recomputed, never used.

Verification
------------
A chunk is used only if its checksum entry names this sweep's key and this
chunk's index and id range and lists exactly its files with their size and
SHA-256, and each file's embedded identity names this key, index, range and
row count (and its schema is the format's). The key binds the chunk to the
config, the chunk size, the recording and the format, so a chunk of another
sweep or chunking is never loaded, whether or not the manifest survived;
a truncated, bit-flipped or swapped file fails the checksum or the identity.
``sweep`` recomputes what fails and counts it (``meta["chunks_rejected"]``,
``ShardReport.chunks_rejected``); :func:`load_results` and :func:`merge`
check every field of the manifest and refuse, naming it, a manifest that is
incomplete, mistyped or inconsistent, or one whose chunks belong to another
sweep (the manifest does not match its chunks). The cost is small: each
file is hashed once, from its in-memory Parquet bytes before they are written
and from the bytes read back (about 1 ms for a default chunk of 16,384
trajectories, a tenth of its Parquet encoding), and a chunk write fsyncs no
more often than before checksums existed (measurements: benchmarks/README.md).

Temporary files
---------------
Named ``.<file>.<host>.pid<pid>.<n>.tmp``. Opening a directory for writing
removes those no live writer can own: this host's whose process is gone (or
is this one, not writing it), and any host's untouched for an hour
(:data:`lrsweep.files.STALE_AFTER_S`).
"""

from __future__ import annotations

from .directory import CheckpointStatus, find_checkpoints, load_results, merge
from .store import ChunkStore

__all__ = ["CheckpointStatus", "ChunkStore", "find_checkpoints", "load_results", "merge"]
