"""The command line, defined once: ``lrsweep study`` (= ``python -m lrsweep.study``), ``lrsweep merge``.

``study NAME`` runs a named study (``--list`` names them, ``all`` runs every
one); ``study run FILE.toml`` runs the studies declared in a file
(:mod:`lrsweep.studies.declared`). Both write ``results/NAME/`` (or
``--out DIR``): report.md, summary.csv, the other tables, trajectories.parquet,
figures/ and chunks/ (finished chunks, so a killed study resumes)::

    python -m lrsweep.study divergence [--quick] [--out DIR] [--threads N]
        [--seed S] [--set axis=values ...] [--no-progress] [--format png|svg|pdf]
        [--workers N | --scheduler ADDRESS] [--shard I/N]

``--workers N`` runs the chunks on a local dask cluster of N processes,
``--scheduler`` on an existing one (the ``dask`` extra). ``--shard I/N`` runs
only part I of N of every declared sweep (array jobs; no report); the same
command without ``--shard`` on the same ``--out`` (after ``lrsweep merge`` if
the shards wrote to different directories) then loads every chunk and writes
the report, bit-identical to a single run.

``merge DIR... --into DEST [--table FILE]`` combines the checkpoints of shards
written to different directories; with ``--table``, a complete sweep is also
written as a Results Parquet file.

An ``--out`` that holds another study's results (or files no study wrote)
is refused unless ``--force``; each study directory has a marker file
(``.lrsweep-study.json``) naming the study and the files it wrote, so a
rerun replaces exactly those and removes its own stale ones.

Exit status: 0 on success; 2 for bad arguments; 1 for a failure of the
environment (a full disk, a permission, a read-only file system) and when
``merge`` leaves some chunks missing; 130 when interrupted (finished chunks
are kept). Every failure is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from ._validation import Boolean, ParameterError

__all__ = ["entry", "main", "study_main"]

STUDY_PROG = "python -m lrsweep.study"
#: Most values one --set may give (an axis of 1e7 values is already a 1e7-trajectory grid).
MAX_SET_VALUES = 10_000_000


class _Parser(argparse.ArgumentParser):
    """argparse with errors as one line (``prog: error: ...``) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def study_parser(prog: str = STUDY_PROG) -> argparse.ArgumentParser:
    """The arguments of ``study`` (shared by ``lrsweep study`` and ``python -m lrsweep.study``)."""
    parser = _Parser(prog=prog, description="Run a learning-rate study of per-sample SGD: a named one, "
                                            "'all', or 'run FILE.toml' for studies declared in a file.")
    parser.add_argument("name", nargs="?", help="study name (see --list), 'all', or 'run'")
    parser.add_argument("file", nargs="?", type=Path, help="with 'run': a TOML file declaring studies")
    parser.add_argument("--list", action="store_true", help="list the named studies and exit")
    parser.add_argument("--quick", action="store_true", help="a small, fast version")
    parser.add_argument("--out", type=Path, default=None, help="output directory (default results/NAME)")
    parser.add_argument("--threads", type=int, default=None, help="numba threads")
    parser.add_argument("--seed", type=int, default=0, help="offset added to every dataset seed")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUES",
                        help="override an axis (lr=0.01,0.04 or seed=0:100) or a setting (epochs=10); "
                             "repeatable")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--format", choices=("png", "svg", "pdf"), default="png", help="figure format")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="run the chunks on a local dask cluster of N worker processes")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="run the chunks on the dask scheduler at ADDRESS (e.g. tcp://host:8786)")
    parser.add_argument("--shard", default=None, metavar="I/N",
                        help="run only part I of N (0 <= I < N) of every sweep into --out; no report")
    parser.add_argument("--force", action="store_true",
                        help="write into an --out that holds another study's results (they are removed) "
                             "or other files")
    return parser


#: How --set spells a boolean.
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


def parse_set(items: Sequence[str]) -> dict[str, Any]:
    """``--set NAME=VALUES`` items -> {name: value or list of values} (typed by the config's tables).

    ``a,b,c`` is a list, ``a:b`` (integer axes) the integers ``a .. b-1``; a
    single value stays a scalar; booleans are ``true``/``false``; schedules
    are their spellings (``step:0.5:2``, ``warmup:50+cosine``). Whether the
    study may use them is its own check.
    """
    from .config import AXES, SETTINGS
    from .studies import StudyError

    tables = {**AXES, **SETTINGS}
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise StudyError(f"--set {item!r}: expected name=values, e.g. lr=0.01,0.04 or seed=0:100")
        name, _, raw = item.partition("=")
        name = name.strip()
        if name not in tables:
            raise StudyError(f"--set {item!r}: unknown axis {name!r}; axes are {', '.join(AXES)}; "
                             f"settings are {', '.join(SETTINGS)}")
        constraint = tables[name][0]
        kind = getattr(constraint, "kind", None)
        try:
            if ":" in raw and kind == "int":
                a, b = (int(v) for v in raw.split(":"))
                vals: Any = range(a, b)
            else:
                vals = [v.strip() for v in raw.split(",") if v.strip()]
                if kind == "int":
                    vals = [int(v) for v in vals]
                elif kind == "float":
                    vals = [float(v) for v in vals]
                elif isinstance(constraint, Boolean):
                    vals = [_BOOLEANS[v.lower()] for v in vals]
        except (ValueError, KeyError):
            raise StudyError(f"--set {item!r}: cannot read {raw!r} as values of {name}") from None
        if len(vals) > MAX_SET_VALUES:
            raise StudyError(f"--set {item!r}: at most {MAX_SET_VALUES:,} values, got {len(vals):,}")
        vals = list(vals)
        if not vals:
            raise StudyError(f"--set {item!r}: no values given")
        out[name] = vals[0] if len(vals) == 1 else vals
    return out


def _parse_shard(raw: str) -> tuple[int, int]:
    from .studies import StudyError

    try:
        i, n = (int(v) for v in raw.split("/"))
    except ValueError:
        raise StudyError(f"--shard must be I/N with integers 0 <= I < N, e.g. 0/4; got {raw!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise StudyError(f"--shard must be I/N with 0 <= I < N, e.g. 0/4; got {raw!r}")
    return i, n


def _client(stack: contextlib.ExitStack, args: argparse.Namespace) -> Any:
    """The dask client asked for by --workers / --scheduler (closed by ``stack``), or None."""
    from .studies import StudyError

    if args.workers is None and args.scheduler is None:
        return None
    try:
        from . import distributed as dist

        if args.workers is not None:
            numba_threads = args.threads or max(1, (os.cpu_count() or 1) // args.workers)
            return stack.enter_context(dist.local_cluster(args.workers, numba_threads=numba_threads))
        client = dist.connect(args.scheduler)
        stack.callback(client.close)
        return client
    except ImportError as exc:
        raise StudyError(str(exc)) from None
    except (OSError, TimeoutError, ValueError) as exc:
        raise StudyError(f"cannot connect to the dask scheduler {args.scheduler!r}: {exc}") from None


def _studies(args: argparse.Namespace) -> list:
    """The studies the arguments name: one, all, or those declared in a file."""
    from .studies import STUDIES, StudyError

    if args.name is None:
        raise StudyError("no study named; use --list to see them, or 'run FILE.toml'")
    if args.name == "run":
        if args.file is None:
            raise StudyError("'run' needs a TOML file: run FILE.toml")
        from .studies.declared import load_studies

        return load_studies(args.file)
    if args.file is not None:
        raise StudyError(f"unexpected argument {str(args.file)!r} after the study name "
                         "(only 'run' takes a file)")
    if args.name == "all":
        return list(STUDIES.values())
    if args.name not in STUDIES:
        raise StudyError(f"unknown study {args.name!r}; studies are {', '.join(STUDIES)}, all, run FILE.toml")
    return [STUDIES[args.name]]


def study_main(argv: Sequence[str] | None = None, prog: str = STUDY_PROG) -> int:
    """``python -m lrsweep.study`` / ``lrsweep study``; returns the exit status."""
    from .studies import STUDIES, Options, Runtime, StudyError, run_shard, run_study, write_study
    from .studies.execute import claim_output

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = study_parser(prog).parse_args(argv)
    except SystemExit as exc:  # --help (0) or an argparse error (2, already printed as one line)
        return int(exc.code or 0)
    if args.list:
        for s in STUDIES.values():
            print(f"{s.name:12s} {s.question}")
        return 0
    runtime = Runtime(threads=args.threads, progress=False if args.no_progress else None)
    try:
        studies = _studies(args)
        if args.threads is not None and args.threads < 1:
            raise StudyError(f"--threads must be >= 1, got {args.threads}")
        if args.seed < 0:
            raise StudyError(f"--seed must be >= 0, got {args.seed}")
        if args.workers is not None and args.workers < 1:
            raise StudyError(f"--workers must be >= 1, got {args.workers}")
        if args.workers is not None and args.scheduler is not None:
            raise StudyError("--workers and --scheduler exclude each other: start a local cluster "
                             "or use an existing one")
        shard = _parse_shard(args.shard) if args.shard is not None else None
        options = Options(quick=args.quick, seed=args.seed, sets=parse_set(args.set))
        outs = {}
        for study in studies:  # refuse what cannot run (a --set, an --out) before anything runs
            study.check(options)
            out = args.out if (args.out is not None and len(studies) == 1) else (
                (args.out or Path("results")) / study.name)
            claim_output(out, study.name, force=args.force)
            outs[study.name] = out
        with contextlib.ExitStack() as stack:
            runtime.client = _client(stack, args)
            for study in studies:
                out = outs[study.name]
                runtime.checkpoint = out / "chunks"
                if shard is not None:
                    reports = run_shard(study, options, runtime, shard)
                    i, n = shard
                    print(f"{study.name}: shard {i}/{n} of {len(reports)} sweep(s): "
                          f"{sum(r.chunks_computed for r in reports)} chunks computed, "
                          f"{sum(r.chunks_loaded for r in reports)} already done, in {runtime.checkpoint}. "
                          f"When every shard has run, run the command without --shard on --out {out} "
                          "to load them and write the report.")
                    continue
                run = run_study(study, options, runtime)
                write_study(study, run, out, runtime, fmt=args.format, argv=argv)
                print(run.output.headline)
                print(f"wrote {out}/report.md, summary.csv, trajectories.parquet, "
                      f"figures/ ({len(run.output.figures)})")
    except (StudyError, ParameterError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the environment: a full disk, a permission, a read-only file system
        print(f"{prog}: error: {_os_error(exc)}", file=sys.stderr)
        return 2 if isinstance(exc, NotADirectoryError | FileExistsError) else 1
    except KeyboardInterrupt:
        where = f" in {runtime.checkpoint}" if runtime.checkpoint is not None else ""
        print(f"{prog}: interrupted; finished chunks are kept{where}: rerun the same command to resume",
              file=sys.stderr)
        return 130
    return 0


def _os_error(exc: OSError) -> str:
    """One line for an operating-system failure: what failed, on which file."""
    what = exc.strerror or str(exc) or type(exc).__name__
    where = f": {exc.filename!s}" if exc.filename else ""
    return f"{what}{where}".replace("\n", " ")


def _merge(argv: Sequence[str]) -> int:
    parser = _Parser(prog="lrsweep merge", description="Combine sweep checkpoints written by shards.")
    parser.add_argument("dirs", nargs="+", type=Path, metavar="DIR",
                        help="checkpoint directories, or study --out directories holding them")
    parser.add_argument("--into", type=Path, default=None, metavar="DEST",
                        help="destination (default: the first DIR)")
    parser.add_argument("--table", type=Path, default=None, metavar="FILE",
                        help="also write a complete sweep's Results to this Parquet file")
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:
        return int(exc.code or 0)
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
    except OSError as exc:
        print(f"lrsweep merge: error: {_os_error(exc)}", file=sys.stderr)
        return 1
    incomplete = 0
    for st in statuses:
        state = "complete" if st.complete else f"missing {len(st.missing)}: {st.missing[:10]}"
        print(f"{st.path}: {len(st.done)}/{st.n_chunks} chunks ({state})")
        incomplete += not st.complete
    if args.table is not None and not incomplete:
        print(f"wrote {args.table}")
    return 1 if incomplete else 0


COMMANDS = {"study": "run a study (lrsweep study --list; lrsweep study run FILE.toml)",
            "merge": "combine shard checkpoints into one directory"}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lrsweep`` command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        usage = "usage: lrsweep {study,merge} ...\n" + "".join(f"  {k:6s} {v}\n" for k, v in COMMANDS.items())
        if argv and argv[0] not in ("-h", "--help"):
            print(f"lrsweep: error: unknown command {argv[0]!r} (commands: study, merge)", file=sys.stderr)
            return 2
        print(usage, end="")
        return 0 if argv else 2
    if argv[0] == "study":
        return study_main(argv[1:], prog="lrsweep study")
    return _merge(argv[1:])


def headless() -> None:
    """Select matplotlib's Agg backend for this process (the command line draws no window).

    Only the programs call this, never the library: a user's backend
    (Jupyter's inline one, say) is theirs.
    """
    import matplotlib

    matplotlib.use("Agg")


def entry() -> None:  # pragma: no cover - the console script
    """The ``lrsweep`` console script."""
    headless()
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    entry()
