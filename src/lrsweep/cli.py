"""The ``lrsweep`` command: ``lrsweep study ...`` and ``lrsweep merge ...``.

``lrsweep study NAME ...`` is ``python -m lrsweep.study NAME ...``.
``lrsweep merge DIR... --into DEST`` combines the checkpoints of shards
written to different directories (``--shard I/N`` of a study, or
:func:`lrsweep.sweep_shard`) into ``DEST``; rerunning the study with
``--out DEST`` (or :func:`lrsweep.checkpoint.load_results`) then gives the
table of a single run. With ``--table FILE``, a complete sweep is also
written as a Results Parquet file.

Exit status: 0 when every merged sweep is complete, 1 when some chunks are
still missing (the message says which), 2 for bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ._validation import ParameterError

__all__ = ["main"]


def _merge(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="lrsweep merge",
                                     description="Combine sweep checkpoints written by shards.")
    parser.add_argument("dirs", nargs="+", type=Path, metavar="DIR",
                        help="checkpoint directories, or study --out directories holding them")
    parser.add_argument("--into", type=Path, default=None, metavar="DEST",
                        help="destination (default: the first DIR)")
    parser.add_argument("--table", type=Path, default=None, metavar="FILE",
                        help="also write a complete sweep's Results to this Parquet file")
    args = parser.parse_args(list(argv))
    from .checkpoint import load_results, merge

    into = args.into or args.dirs[0]
    try:
        for d in args.dirs:
            if not d.is_dir():
                raise ParameterError(f"{str(d)!r} is not a directory")
        statuses = merge(args.dirs, into)
        if args.table is not None:
            if len(statuses) != 1:
                raise ParameterError(f"--table needs exactly one sweep; {into} holds {len(statuses)}")
            if statuses[0].complete:
                load_results(statuses[0].path).to_parquet(args.table)
    except ParameterError as exc:
        print(f"lrsweep merge: error: {exc}", file=sys.stderr)
        return 2
    incomplete = 0
    for st in statuses:
        state = "complete" if st.complete else f"missing {len(st.missing)}: {st.missing[:10]}"
        print(f"{st.path}: {len(st.done)}/{st.n_chunks} chunks ({state})")
        incomplete += not st.complete
    if args.table is not None and not incomplete:
        print(f"wrote {args.table}")
    return 1 if incomplete else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lrsweep`` command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"study": "run a named study (see lrsweep study --list)",
                "merge": "combine shard checkpoints into one directory"}
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in commands:
        usage = "usage: lrsweep {study,merge} ...\n" + "".join(
            f"  {k:6s} {v}\n" for k, v in commands.items())
        if argv and argv[0] not in ("-h", "--help"):
            print(f"lrsweep: error: unknown command {argv[0]!r}\n" + usage, file=sys.stderr, end="")
            return 2
        print(usage, end="")
        return 0 if argv else 2
    if argv[0] == "study":
        from .study import main as study_main

        return study_main(argv[1:])
    return _merge(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
