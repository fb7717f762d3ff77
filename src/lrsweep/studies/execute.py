"""Running a study: its declared sweeps (checkpointed, sharded or distributed), then its files.

:func:`run_study` runs every sweep a :class:`~lrsweep.studies.spec.Study`
declares through :func:`lrsweep.sweep` (finished chunks checkpointed under
``OUT/chunks/<sweep key>/``, so a killed study resumes), hands the results
to the study's analysis and writes ``report.md``, ``summary.csv``, the extra
tables, ``trajectories.parquet`` and ``figures/``. :func:`run_shard` runs
shard ``i`` of ``N`` of every declared sweep and nothing else.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..files import atomic_write
from .spec import Options, Output, Study, StudyError, SweepSpec

if TYPE_CHECKING:
    from ..results import Results
    from ..runner import ShardReport

__all__ = ["MARKER", "Run", "Runtime", "claim_output", "run_shard", "run_study", "sweep_dir", "write_study"]

#: The file in a study's output directory that says which study wrote it and which files.
MARKER = ".lrsweep-study.json"


@dataclass
class Runtime:
    """How the sweeps of a study run (nothing here changes a result)."""

    threads: int | None = None
    progress: bool | None = None
    client: Any = None  # dask.distributed.Client, or None for local threads
    checkpoint: Path | None = None  # finished chunks go here, so a killed study resumes


@dataclass
class Run:
    """A finished study: its output and the results of every declared sweep."""

    output: Output
    results: dict[str, Results] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def main(self) -> Results:
        """The results of the first declared sweep (written as ``trajectories.parquet``)."""
        return next(iter(self.results.values()))


def sweep_dir(checkpoint: Path, spec: SweepSpec) -> Path:
    """The checkpoint directory of one declared sweep: a changed ``--set`` gets a new one."""
    record = spec.record if spec.record is None or isinstance(spec.record, str) else list(spec.record)
    key = json.dumps({"grid": spec.config.grid_hash(), "record": record, "every": spec.record_every})
    return checkpoint / hashlib.sha256(key.encode()).hexdigest()[:16]


def _declared(study: Study, options: Options) -> dict[str, SweepSpec]:
    study.check(options)
    specs = study.declare(options)
    if not specs:  # pragma: no cover - a study without sweeps is a programming error
        raise StudyError(f"study {study.name!r} declares no sweep")
    return specs


def run_shard(study: Study, options: Options, runtime: Runtime, shard: tuple[int, int]) -> list[ShardReport]:
    """Run shard ``shard = (i, N)`` of every sweep ``study`` declares into ``runtime.checkpoint``."""
    from ..runner import sweep_shard

    if runtime.checkpoint is None:
        raise StudyError("--shard needs a checkpoint directory (--out)")
    return [sweep_shard(spec.config, shard, out=sweep_dir(runtime.checkpoint, spec), record=spec.record,
                        record_every=spec.record_every, threads=runtime.threads, client=runtime.client)
            for spec in _declared(study, options).values()]


def run_study(study: Study, options: Options, runtime: Runtime) -> Run:
    """Run the declared sweeps of ``study`` and its analysis (no files written)."""
    from ..runner import sweep

    t0 = time.perf_counter()
    results = {}
    for name, spec in _declared(study, options).items():
        out = None if runtime.checkpoint is None else sweep_dir(runtime.checkpoint, spec)
        results[name] = sweep(spec.config, record=spec.record, record_every=spec.record_every,
                              threads=runtime.threads, progress=runtime.progress, out=out,
                              client=runtime.client)
    output = study.analyse(results, options)
    return Run(output, results, time.perf_counter() - t0)


def _marker(out: Path) -> dict | None:
    """The marker of ``out`` (None if absent); a marker that cannot be read counts as foreign."""
    path = out / MARKER
    if not path.exists():
        return None
    try:
        found = json.loads(path.read_text())
        if isinstance(found, dict) and isinstance(found.get("study"), str) and isinstance(
                found.get("files", []), list):
            return found
    except (OSError, ValueError):
        pass
    return {"study": "<unreadable marker>", "files": []}


def claim_output(out: Path, study: str, *, force: bool = False) -> None:
    """Make ``out`` the output directory of ``study``, or refuse (one :class:`StudyError`).

    A directory that holds another study's results, or files that no lrsweep
    study wrote, is refused unless ``force``; with ``force`` the files the
    previous study wrote are removed first (never other files). The same
    study may write again (a rerun resumes from its chunks).
    """
    if str(out) == "":
        raise StudyError("--out must name a directory; got ''")
    if out.exists() and not out.is_dir():
        raise StudyError(f"--out {str(out)!r} is a file, not a directory")
    found = _marker(out) if out.is_dir() else None
    if found is not None and found["study"] != study:
        if not force:
            raise StudyError(f"--out {str(out)!r} holds the results of study {found['study']!r}; use another "
                             "directory, or --force to replace them")
        _remove_listed(out, found.get("files", []))
    elif found is None and out.is_dir():
        # Only chunks/ (checkpoints merged from shards, keyed by sweep: never mixed) is welcome.
        entries = sorted(p.name for p in out.iterdir() if p.name != "chunks")
        if entries and not force:
            shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
            raise StudyError(f"--out {str(out)!r} is not empty and holds no lrsweep study ({shown}); use a "
                             "new or empty directory, or --force to write there anyway")
    try:
        out.mkdir(parents=True, exist_ok=True)
        if found is None or found["study"] != study:
            _write_marker(out, {"study": study, "files": []})
    except (NotADirectoryError, FileExistsError) as exc:  # a path through a file: a bad argument
        raise StudyError(f"cannot write to --out {str(out)!r}: {exc.strerror}") from None
    except OSError as exc:  # permissions, a full or read-only disk: the environment
        raise OSError(exc.errno, f"cannot write to --out {str(out)!r}: {exc.strerror}") from None


def _remove_listed(out: Path, files: list) -> None:
    """Remove files a study wrote into ``out`` (relative paths inside it only)."""
    root = out.resolve()
    for rel in files:
        if not isinstance(rel, str):
            continue
        path = (out / rel).resolve()
        if root in path.parents and path.is_file():
            path.unlink()


def _write_marker(out: Path, body: dict) -> None:
    atomic_write(out / MARKER, json.dumps(body, indent=1, sort_keys=True).encode(), sync=False)


def _versions() -> str:
    from ..results import versions

    return ", ".join(f"{k} {v}" for k, v in versions().items())


def write_study(study: Study, run: Run, out: Path, runtime: Runtime, *, fmt: str = "png",
                argv: Sequence[str] = ()) -> None:
    """Write a finished study's files into ``out`` and close its figures."""
    import matplotlib.pyplot as plt

    from .. import plots

    output = run.output
    try:
        figdir = out / "figures"
        figdir.mkdir(parents=True, exist_ok=True)
        written = ["report.md", "summary.csv", "trajectories.parquet"]
        run.main.to_parquet(out / "trajectories.parquet")
        if run.main.records is not None:
            written.append("trajectories.records.parquet")
        atomic_write(out / "summary.csv", output.summary.to_csv(index=False).encode(), sync=False)
        for key, table in output.tables.items():
            atomic_write(out / f"{key}.csv", table.to_csv(index=False).encode(), sync=False)
            written.append(f"{key}.csv")
        fig_md = []
        for fname, fig in output.figures.items():
            path = figdir / f"{fname}.{fmt}"
            written.append(f"figures/{fname}.{fmt}")
            with plots.theme():  # rendered in lrsweep's look whatever the user's matplotlibrc
                fig.savefig(path, dpi=120)
            fig_md.append(f"![{fname}](figures/{fname}.{fmt})")
        command = "python -m lrsweep.study " + " ".join(shlex.quote(a) for a in argv)
        n_traj = sum(r.config.n_trajectories for r in run.results.values())
        report = (
            f"# Study `{study.name}`\n\n**Question.** {study.question}\n\n"
            + (f"**Answer.** {output.answer}\n\n" if output.answer else "")
            + f"{output.report}\n" + "\n\n".join(fig_md) +
            f"\n\n---\nCommand: `{command.strip()}`  \n"
            f"Trajectories: {n_traj:,}; runtime {run.elapsed_s:.1f} s "
            f"(compile included) on {platform.machine()} with {runtime.threads or 'all'} threads.  \n"
            f"Versions: {_versions()}.\n"
        )
        atomic_write(out / "report.md", report.encode(), sync=False)
        # Files this study wrote before and not now (a renamed figure, another format) are stale.
        previous = (_marker(out) or {}).get("files", [])
        _remove_listed(out, [f for f in previous if f not in written])
        _write_marker(out, {"study": study.name, "files": written})
    finally:  # also when a write fails: figures are registered with pyplot
        for fig in output.figures.values():
            plt.close(fig)
