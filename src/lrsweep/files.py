"""Whole files or none: atomic writes under names that say who writes them; a killed writer's cleanup.

Every file lrsweep writes for later reading (checkpoint chunks, results
tables, a study's marker) is written to a temporary name in its own directory
and renamed over its final name (``os.replace``, atomic within one directory
on POSIX file systems and NFS), so a reader sees the old file, the new file
or no file, never a part. Data files are fsynced before the rename and the
directory after the last rename of a chunk (:func:`fsync_dir`), so finished
chunks survive a power loss; integrity does not depend on it (a file whose
data did not reach the disk fails its checksum and is recomputed), which is
why a chunk's small checksum entry is not fsynced on its own.

The temporary name carries the writer: ``.<final name>.<host>.pid<pid>.<n>.tmp``
(``host`` is this machine's name with anything but letters, digits and ``-``
replaced by ``-``; ``n`` counts the writes of the process). A writer killed
between creating and renaming it leaves it behind; :func:`remove_stale_temps`
(called when a checkpoint directory is opened) removes a temporary file only
if no live writer can own it:

- its host is this host and its pid is no running process (``os.kill(pid, 0)``
  fails with ``ProcessLookupError``), or its pid is this process and this
  process is not writing it now; or
- it was last modified more than :data:`STALE_AFTER_S` (one hour) ago,
  whatever its host: a live writer renames its temporary file seconds after
  its last write, and an hour absorbs any clock skew between the hosts of a
  shared file system. Temporary files of other hosts (whose pids mean nothing
  here) and of older lrsweep versions (``.<name>.<pid>.tmp``, no host) go by
  this rule alone.

Should a concurrent cleaner still remove a live temporary file (a recycled
host name on a shared file system, say), the writer notices at the rename and
writes the file again: nothing is lost but time.
"""

from __future__ import annotations

import itertools
import os
import re
import socket
import threading
import time
from pathlib import Path

__all__ = ["HOST", "STALE_AFTER_S", "atomic_write", "fsync_dir", "remove_stale_temps", "temp_path"]

#: Age (seconds since the last modification) after which any temporary file is abandoned.
STALE_AFTER_S = 3600.0
#: This host's name as it appears in temporary names.
HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:63] or "host"
_TEMP = re.compile(r"^\.(?P<target>.+)\.(?P<host>[A-Za-z0-9-]+)\.pid(?P<pid>\d+)\.(?P<n>\d+)\.tmp$")
_LEGACY = re.compile(r"^\..+\.\d+\.tmp$|^\.record_ids\.\d+\.npy$")
_counter = itertools.count()
_live: set[str] = set()  # temporary files this process is writing now
_live_lock = threading.Lock()


def temp_path(target: Path) -> Path:
    """A fresh temporary name for ``target`` in its directory, naming this host and process."""
    return target.with_name(f".{target.name}.{HOST}.pid{os.getpid()}.{next(_counter)}.tmp")


def fsync_dir(directory: Path) -> None:
    """Make the renames in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data, *, sync: bool = True) -> None:
    """Write ``data`` (bytes or any buffer) to ``path``: the whole of it, or nothing.

    Written to :func:`temp_path`, fsynced (if ``sync``) and renamed over
    ``path``; the directory is not fsynced (:func:`fsync_dir`). If the
    temporary file vanished before the rename (a cleaner took it for a dead
    writer's), the write is repeated.
    """
    for attempt in range(3):
        tmp = temp_path(path)
        with _live_lock:
            _live.add(tmp.name)
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                if sync:
                    fh.flush()
                    os.fsync(fh.fileno())
            os.replace(tmp, path)
            break
        except FileNotFoundError:
            if attempt == 2 or not path.parent.is_dir():
                raise
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        finally:
            with _live_lock:
                _live.discard(tmp.name)


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # exists (another user's), or cannot tell: keep
    return True


def _abandoned(entry: os.DirEntry, now: float) -> bool:
    try:
        age = now - entry.stat(follow_symlinks=False).st_mtime
    except OSError:
        return False  # gone already
    if age > STALE_AFTER_S:
        return True
    m = _TEMP.match(entry.name)
    if m is None or m["host"] != HOST:
        return False
    pid = int(m["pid"])
    if pid == os.getpid():
        with _live_lock:
            return entry.name not in _live
    return not _pid_running(pid)


def remove_stale_temps(directory: Path) -> int:
    """Remove the temporary files in ``directory`` that no live writer can own; return how many.

    See the module docstring for the rule.
    """
    now = time.time()
    removed = 0
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return 0
    for entry in entries:
        name = entry.name
        if not name.startswith(".") or not (_TEMP.match(name) or _LEGACY.match(name)):
            continue
        if entry.is_file(follow_symlinks=False) and _abandoned(entry, now):
            try:
                os.unlink(entry.path)
                removed += 1
            except FileNotFoundError:
                pass  # another run removed it first
    return removed
