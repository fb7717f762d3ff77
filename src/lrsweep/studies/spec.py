"""What a study is: its declared sweeps, the axes it can vary, its analysis (specification only).

A study is a small paper (``STUDIES.md``): a question, the sweeps that answer
it, an analysis that turns their results into a summary table, figures and a
report. This module describes one; :mod:`lrsweep.studies.execute` runs it.
The split (seaborn's ``Plot`` / ``Plotter``) keeps the science apart from
the machinery that checkpoints, shards, distributes and writes:

* :meth:`Study.declare` maps the command line's :class:`Options` to named
  :class:`SweepSpec` objects (the configs that will run). A shard run runs
  exactly these and stops.
* :meth:`Study.analyse` receives the :class:`~lrsweep.Results` of every
  declared sweep and must read every parameter it uses (n, lr, epochs,
  x_scale, noise, tolerances, ...) from ``results[name].config``, never from
  a literal, so ``--set`` can never leave a stale number in a report.
* :attr:`Study.axes` says, for every axis, whether ``--set`` may change it
  (and to which values); any other axis is refused with one line naming it
  and the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..config import AXES, SETTINGS, SweepConfig

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from ..results import Results

__all__ = ["ANY", "SINGLE", "Axis", "Options", "Output", "Study", "StudyError", "SweepSpec"]


class StudyError(ValueError):
    """A study cannot run with the arguments given (the command line: one line, exit 2)."""


@dataclass(frozen=True)
class Axis:
    """What ``--set`` may do to one axis of a study.

    Attributes
    ----------
    multi : bool
        Whether several values may be given (the analysis groups by the axis).
    values : tuple, optional
        The only values allowed (e.g. orders whose theory the study has).
    why : str
        Why values are restricted (said in the refusal).
    """

    multi: bool = True
    values: tuple | None = None
    why: str = ""


#: ``--set`` may give this axis any values / exactly one value.
ANY = Axis()
SINGLE = Axis(multi=False)


@dataclass(frozen=True)
class Options:
    """What the command line asks of a study.

    Attributes
    ----------
    quick : bool
        A small, fast version (for tests and a first look).
    seed : int
        Offset added to every dataset seed of the study.
    sets : dict
        ``--set`` values: axis or setting name -> a value or a list of values.
    """

    quick: bool = False
    seed: int = 0
    sets: Mapping[str, Any] = field(default_factory=dict)

    def config(self, **defaults: Any) -> SweepConfig:
        """The study's config: ``defaults`` with the seed offset and every ``--set`` applied."""
        kw = dict(defaults)
        if self.seed and "seed" in kw:
            seeds = kw["seed"]
            seeds = seeds if isinstance(seeds, range | list | tuple) else [seeds]
            kw["seed"] = [s + self.seed for s in seeds]
        kw.update(self.sets)
        return SweepConfig(**kw)


@dataclass(frozen=True)
class SweepSpec:
    """One sweep of a study: its config and what to record."""

    config: SweepConfig
    record: str | Sequence[int] | None = None
    record_every: int = 1


@dataclass
class Output:
    """What an analysis produces; :func:`lrsweep.studies.execute.run_study` writes it.

    Attributes
    ----------
    summary : pandas.DataFrame
        The numbers behind the figures (``summary.csv``).
    figures : dict of str to Figure
        File stem -> figure.
    report : str
        The Markdown body after the answer: setup, tables, what each rate
        means, what is censored.
    headline : str
        One line printed by the command.
    tables : dict of str to DataFrame
        More CSVs (file stem -> table).
    answer : str
        The answer to the study's question in one sentence, with its number
        and its interval (``STUDIES.md``); the report opens with the question
        and this answer.
    """

    summary: pd.DataFrame
    figures: dict[str, Figure]
    report: str
    headline: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    answer: str = ""


@dataclass(frozen=True)
class Study:
    """A named study: declared sweeps, the axes ``--set`` may change, and an analysis.

    Attributes
    ----------
    name, question : str
        Its name on the command line and the question it answers (one sentence).
    declare : callable
        ``declare(options) -> {sweep name: SweepSpec}``; the first sweep's
        results are written as ``trajectories.parquet``.
    analyse : callable
        ``analyse(results, options) -> Output`` with ``results`` the
        :class:`~lrsweep.Results` of every declared sweep, by name.
    axes : mapping of str to Axis
        Axes that ``--set`` may change; every other axis is refused.
    refused : mapping of str to str
        Why an axis is refused (default: the study's theory does not cover it).
    figures : tuple of str
        The figure file stems it writes.
    """

    name: str
    question: str
    declare: Callable[[Options], dict[str, SweepSpec]]
    analyse: Callable[[dict[str, Results], Options], Output]
    axes: Mapping[str, Axis]
    refused: Mapping[str, str] = field(default_factory=dict)
    figures: tuple[str, ...] = ()

    def check(self, options: Options) -> None:
        """Refuse ``--set`` values this study cannot run with: one :class:`StudyError` naming the axis."""
        for name, value in options.sets.items():
            values = list(value) if isinstance(value, list | tuple | range) else [value]
            if name in SETTINGS:
                if len(values) != 1:
                    raise StudyError(f"--set {name}: a fixed setting takes one value, got {len(values)} "
                                     f"({', '.join(map(str, values[:5]))})")
                continue
            if name not in AXES:
                raise StudyError(f"--set {name}: unknown axis or setting; axes are {', '.join(AXES)}; "
                                 f"settings are {', '.join(SETTINGS)}")
            rule = self.axes.get(name)
            if rule is None:
                why = self.refused.get(name, "its theory and figures do not cover other values")
                raise StudyError(f"study {self.name!r} cannot vary the axis {name!r}: {why}")
            if not rule.multi and len(values) > 1:
                raise StudyError(f"study {self.name!r} takes one value of the axis {name!r}, got "
                                 f"{len(values)}" + (f": {rule.why}" if rule.why else ""))
            if rule.values is not None:
                bad = [v for v in values if v not in rule.values]
                if bad:
                    allowed = ", ".join(map(repr, rule.values))
                    raise StudyError(f"study {self.name!r} cannot run {name}={bad[0]!r}: it allows "
                                     f"{allowed}" + (f" ({rule.why})" if rule.why else ""))
