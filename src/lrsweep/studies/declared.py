"""Studies declared in TOML files: ``python -m lrsweep.study run FILE.toml``.

A file declares one or more studies; each names its sweeps (axes and
settings, exactly the parameters of :class:`~lrsweep.SweepConfig`), the
summary's ``by`` columns and the standard figures to draw. Everything is read
with a whitelist: a key that is not listed here, or a value of the wrong
kind, is one :class:`~lrsweep.studies.StudyError` naming the key and what is
allowed. Nothing in a file is evaluated. ::

    [[study]]
    name = "noise-divergence"          # the output directory: lower case, digits, '-'
    question = "How does noise move the divergence boundary?"
    by = ["noise", "lr"]               # summary groups (default: the swept axes but seed)

    [study.sweep]                      # one sweep; several: [study.sweeps.NAME] tables
    lr = { geomspace = [0.3, 3.0, 16] }  # also: linspace = [a, b, k], range = [a, b] or [a, b, step]
    seed = { range = [0, 400] }
    noise = [0.0, 0.5, 1.0]            # a value or a list of values
    epochs = 5                         # settings: epochs, coef, intercept, tol, diverge_factor,
    theta0 = -1e100                    # sign_floor, oscillation_min, data ("gaussian" or "lecture")

    [study.sweep.quick]                # optional: what --quick changes
    seed = { range = [0, 40] }

    [[study.figure]]
    kind = "rate"                      # a rate versus an axis, Wilson 95 % bands per group
    rate = "unstable"                  # converged, slow, oscillating, diverged or unstable
    x = "lr"                           # default lr
    hue = "noise"                      # optional: one line per value

    [[study.figure]]
    kind = "heatmap"                   # a rate over two axes (one panel per value of `panel`)
    rate = "diverged"
    x = "lr"
    y = "noise"

    [[study.figure]]
    kind = "steps"                     # median steps to converge (quartile band) versus lr
    hue = "n_samples"

Theory overlays are drawn where they apply to the configs that ran (never
otherwise): for ``rate = "unstable"`` versus lr on noise-free Gaussian data
without outliers in fixed or shuffled order, the exact ``P(S > 0)``
(:func:`lrsweep.theory.divergence_probability`, Monte Carlo over datasets of
each n) and the mean-square and almost-sure thresholds; for ``steps`` on
such data, ``log(tol) / E log|1 - 2 lr X^2|``. The summary table carries
the theory columns next to the simulated rates. A ``unstable`` run is one
whose error grew over its last epoch or left the divergence bound.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validation import ParameterError
from ..config import AXES, SETTINGS, SweepConfig
from ..metrics import Status
from .common import crossing, divergence_table, fmt, percent, steps_to_tol, unstable_summary
from .spec import ANY, Options, Output, Study, StudyError, SweepSpec

if TYPE_CHECKING:
    import pandas as pd

    from ..results import Results

__all__ = ["load_studies", "parse_studies"]

RATES = (*(s.name.lower() for s in Status), "unstable")
FIGURE_KINDS = ("rate", "heatmap", "steps")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_STUDY_KEYS = ("name", "question", "by", "sweep", "sweeps", "figure")
_FIGURE_KEYS = {"rate": ("kind", "sweep", "rate", "x", "hue", "theory"),
                "heatmap": ("kind", "sweep", "rate", "x", "y", "panel"),
                "steps": ("kind", "sweep", "hue", "theory")}
_SWEEP_KEYS = (*AXES, *SETTINGS, "data", "quick")
_GENERATORS = ("range", "linspace", "geomspace")
#: Largest number of values one axis may list or generate (a typo of 1e9 should not run out of memory).
MAX_AXIS_VALUES = 1_000_000
#: Monte Carlo datasets per dataset size for the P(S > 0) overlay (seeded as in studies.common).
THEORY_DATASETS = 20000


# ------------------------------------------------------------------------- parsing
def _fail(path: str, allowed: str, got: object) -> StudyError:
    shown = repr(got)
    return StudyError(f"{path}: must be {allowed}; got {shown if len(shown) <= 80 else shown[:77] + '...'}")


def _table(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(path, "a table", value)
    return value


def _keys(table: Mapping[str, Any], allowed: tuple[str, ...], path: str) -> None:
    for key in table:
        if key not in allowed:
            raise StudyError(f"{path}.{key}: unknown key; allowed keys are {', '.join(allowed)}")


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _scalar(value: object) -> bool:
    """A TOML value an axis may hold: a string, a number or a boolean (``nesterov``)."""
    return isinstance(value, str | bool) or _number(value)


def _axis_values(value: object, path: str) -> Any:
    """An axis value: a scalar, a list, or {range | linspace | geomspace = [...]}."""
    allowed = ("a value, a list of values, or a table with one key of range = [start, stop(, step)], "
               "linspace = [a, b, count], geomspace = [a, b, count]")
    if _scalar(value):
        return value
    if isinstance(value, list):
        if len(value) > MAX_AXIS_VALUES:
            raise _fail(path, f"at most {MAX_AXIS_VALUES:,} values", f"{len(value):,} values")
        if not all(_scalar(v) for v in value):
            raise _fail(path, "a list of numbers, strings or booleans", value)
        return value
    if not isinstance(value, Mapping) or len(value) != 1 or next(iter(value)) not in _GENERATORS:
        raise _fail(path, allowed, value)
    (kind, args), = value.items()
    where = f"{path}.{kind}"
    if not isinstance(args, list) or not all(_number(a) for a in args):
        raise _fail(where, "a list of numbers", args)
    if kind == "range":
        if len(args) not in (2, 3) or not all(isinstance(a, int) for a in args) or (len(args) == 3 and
                                                                                    args[2] == 0):
            raise _fail(where, "[start, stop] or [start, stop, step] of integers, step not 0", args)
        r = range(*args)
        if len(r) > MAX_AXIS_VALUES:
            raise _fail(where, f"at most {MAX_AXIS_VALUES:,} values", f"{len(r):,} values")
        return r
    if len(args) != 3 or not isinstance(args[2], int) or not 1 <= args[2] <= MAX_AXIS_VALUES:
        raise _fail(where, f"[a, b, count] with an integer count in [1, {MAX_AXIS_VALUES:,}]", args)
    a, b, count = float(args[0]), float(args[1]), args[2]
    if not (math.isfinite(a) and math.isfinite(b)):
        raise _fail(where, "finite end points", args)
    if kind == "geomspace":
        if a <= 0 or b <= 0:
            raise _fail(where, "positive end points (geomspace)", args)
        return np.geomspace(a, b, count)
    return np.linspace(a, b, count)


def _sweep(raw: object, path: str, quick: bool) -> SweepConfig:
    table = dict(_table(raw, path))
    _keys(table, _SWEEP_KEYS, path)
    overrides = dict(_table(table.pop("quick", {}), f"{path}.quick"))
    _keys(overrides, tuple(k for k in _SWEEP_KEYS if k != "quick"), f"{path}.quick")
    kw: dict[str, Any] = {}
    for source, where in ((table, path), (overrides if quick else {}, f"{path}.quick")):
        for key, value in source.items():
            if key in AXES:
                kw[key] = _axis_values(value, f"{where}.{key}")
            elif key == "data":
                if value not in ("gaussian", "lecture"):
                    raise _fail(f"{where}.data", "'gaussian' or 'lecture'", value)
                kw[key] = value
            else:  # a setting: one value
                if not _number(value):
                    raise _fail(f"{where}.{key}", "one number (a fixed setting)", value)
                kw[key] = value
    return kw  # type: ignore[return-value]  # validated as a SweepConfig when declared


@dataclass(frozen=True)
class Figure:
    """One standard figure of a declared study."""

    kind: str
    sweep: str
    rate: str = "unstable"
    x: str = "lr"
    y: str | None = None
    hue: str | None = None
    panel: str | None = None
    theory: bool = True


def _figure(raw: object, path: str, sweeps: tuple[str, ...]) -> Figure:
    table = _table(raw, path)
    kind = table.get("kind")
    if kind not in FIGURE_KINDS:
        raise _fail(f"{path}.kind", "one of " + ", ".join(map(repr, FIGURE_KINDS)), kind)
    _keys(table, _FIGURE_KEYS[kind], path)
    sweep = table.get("sweep", sweeps[0])
    if sweep not in sweeps:
        raise _fail(f"{path}.sweep", "one of the study's sweeps: " + ", ".join(map(repr, sweeps)), sweep)
    rate = table.get("rate", "unstable")
    if rate not in RATES:
        raise _fail(f"{path}.rate", "one of " + ", ".join(map(repr, RATES)), rate)
    axes = {}
    for key in ("x", "y", "hue", "panel"):
        if key in table:
            if table[key] not in AXES:
                raise _fail(f"{path}.{key}", "an axis name (" + ", ".join(AXES) + ")", table[key])
            axes[key] = table[key]
    if kind == "heatmap" and ("x" not in axes or "y" not in axes):
        raise StudyError(f"{path}: a heatmap needs both x and y (axis names)")
    theory = table.get("theory", True)
    if not isinstance(theory, bool):
        raise _fail(f"{path}.theory", "true or false", theory)
    x = axes.get("x", "lr")
    if kind == "steps":
        x = "lr"
    return Figure(kind, sweep, rate, x, axes.get("y"), axes.get("hue"), axes.get("panel"), theory)


@dataclass(frozen=True)
class _Declared:
    """The parsed content of one ``[[study]]`` table."""

    name: str
    question: str
    by: tuple[str, ...] | None
    sweeps: dict[str, dict[str, Any]]
    quick_sweeps: dict[str, dict[str, Any]]
    figures: tuple[Figure, ...] = field(default=())


def _study(raw: object, path: str) -> _Declared:
    table = _table(raw, path)
    _keys(table, _STUDY_KEYS, path)
    name = table.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise _fail(f"{path}.name", "a name of lower-case letters, digits and '-' (at most 64)", name)
    question = table.get("question", "")
    if not isinstance(question, str) or not question.strip():
        raise _fail(f"{path}.question", "a non-empty string (the question the study answers)", question)
    if ("sweep" in table) == ("sweeps" in table):
        raise StudyError(f"{path}: give exactly one of sweep (one sweep) or sweeps (named sweeps)")
    named = {"main": table["sweep"]} if "sweep" in table else dict(_table(table["sweeps"], f"{path}.sweeps"))
    if not named:
        raise StudyError(f"{path}.sweeps: declare at least one sweep")
    for sweep_name in named:
        if not _NAME.match(sweep_name):
            raise _fail(f"{path}.sweeps", "sweep names of lower-case letters, digits and '-'", sweep_name)
    prefix = (lambda n: f"{path}.sweep") if "sweep" in table else (lambda n: f"{path}.sweeps.{n}")
    sweeps = {n: _sweep(v, prefix(n), quick=False) for n, v in named.items()}
    quick = {n: _sweep(v, prefix(n), quick=True) for n, v in named.items()}
    by = table.get("by")
    if by is not None:
        if not isinstance(by, list) or not by or not all(b in AXES for b in by):
            raise _fail(f"{path}.by", "a non-empty list of axis names (" + ", ".join(AXES) + ")", by)
        by = tuple(by)
    raw_figures = table.get("figure", [])
    if not isinstance(raw_figures, list):
        raise _fail(f"{path}.figure", "an array of tables ([[study.figure]])", raw_figures)
    figures = tuple(_figure(f, f"{path}.figure[{i}]", tuple(named)) for i, f in enumerate(raw_figures))
    return _Declared(name, question.strip(), by, sweeps, quick, figures)


def parse_studies(text: str, source: str = "<string>") -> list[Study]:
    """The studies declared in TOML ``text`` (``source`` names it in messages)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StudyError(f"{source}: not valid TOML: {exc}") from None
    _keys(doc, ("study",), source)
    raw = doc.get("study")
    if not isinstance(raw, list) or not raw:
        raise StudyError(f"{source}: declare at least one study as [[study]] with a name, a question "
                         "and a sweep")
    declared = [_study(s, f"study[{i}]") for i, s in enumerate(raw)]
    names = [d.name for d in declared]
    if len(set(names)) != len(names):
        raise StudyError(f"{source}: study names must differ; got {names}")
    studies = [_as_study(d) for d in declared]
    for d, s in zip(declared, studies, strict=True):  # every config must be valid before anything runs
        for quick in (False, True):
            try:
                s.declare(Options(quick=quick))
            except ParameterError as exc:
                where = f"study {d.name!r}" + (" (quick)" if quick else "")
                raise StudyError(f"{where}: {exc}") from None
    return studies


def load_studies(path: str | Path) -> list[Study]:
    """The studies declared in the TOML file at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or exc
        raise StudyError(f"cannot read the study file {str(path)!r}: {why}") from None
    return parse_studies(text, str(path))


# ------------------------------------------------------------------------- the study
def _as_study(d: _Declared) -> Study:
    def declare(opts: Options) -> dict[str, SweepSpec]:
        tables = d.quick_sweeps if opts.quick else d.sweeps
        return {name: SweepSpec(opts.config(**kw)) for name, kw in tables.items()}

    def analyse(runs: dict[str, Results], opts: Options) -> Output:
        return _analyse(d, runs, opts)

    return Study(name=d.name, question=d.question, declare=declare, analyse=analyse,
                 axes=dict.fromkeys(AXES, ANY),
                 figures=tuple(_figure_name(f, i) for i, f in enumerate(d.figures)))


def _figure_name(f: Figure, i: int) -> str:
    """File stem of figure ``i``: its number, then what it shows (``02_diverged_over_lr_n_samples``)."""
    if f.kind == "steps":
        return f"{i + 1:02d}_steps_vs_lr"
    if f.kind == "heatmap":
        return f"{i + 1:02d}_{f.rate}_over_{f.x}_{f.y}"
    return f"{i + 1:02d}_{f.rate}_vs_{f.x}"


def _by(d: _Declared, config: SweepConfig) -> list[str]:
    by = list(d.by) if d.by is not None else [a for a in config.swept if a != "seed"]
    return by or ["lr"]


def _theory_applies(config: SweepConfig) -> str | None:
    """Why the exact noise-free theory does not apply to ``config`` (None if it does)."""
    axes = config.axes
    if config.user_data is not None or config.data != "gaussian":
        return "the data are not the Gaussian generator's"
    if any(v != 0 for v in axes["noise"]):
        return "the data are noisy"
    if any(v != 0 for v in axes["outlier_frac"]):
        return "the data have outliers"
    if any(o not in ("fixed", "shuffle") for o in axes["order"]):
        return "the sample order is not an epoch over the dataset (fixed or shuffle)"
    if len(axes["x_scale"]) != 1:
        return "x_scale takes several values"
    optimizer = _optimizer_differs(config)
    if optimizer is not None:
        return optimizer
    return None


def _optimizer_differs(config: SweepConfig, batches: bool = True) -> str | None:
    """Why the constant-lr, plain-SGD theory (per-sample unless not ``batches``) does not model ``config``.

    None if it does.
    """
    axes = config.axes
    if any(str(v) != "constant" for v in axes["schedule"]):
        return "the learning rate follows a schedule"
    if any(v != 0 for v in axes["momentum"]):
        return "the runs use momentum"
    if batches and any(v != 1 for v in axes["batch_size"]):
        return "the steps use mini-batches"
    return None


def _analyse(d: _Declared, runs: dict[str, Results], opts: Options) -> Output:
    import pandas as pd

    from .. import plots, theory

    summaries, figures, findings, notes = [], {}, [], []
    theory_cols: dict[str, pd.DataFrame] = {}
    for name, res in runs.items():
        cfg = res.config
        by = _by(d, cfg)
        s = unstable_summary(res, by)
        why_not = _theory_applies(cfg)
        wants = [f for f in d.figures if f.sweep == name and f.theory]
        if why_not is None and "lr" not in by:
            why_not = "the summary is not grouped by lr"
        others = [b for b in by if b not in ("n_samples", "lr") and len(cfg.axes[b]) > 1]
        if why_not is None and others:
            why_not = f"the summary is grouped by {', '.join(others)}, which the theory does not model"
        if why_not is None and "n_samples" not in by and len(cfg.axes["n_samples"]) > 1:
            why_not = "n_samples takes several values but the summary is not grouped by it"
        if why_not is None and any(f.kind == "rate" and f.rate == "unstable" and f.x == "lr" for f in wants):
            on = ["n_samples", "lr"] if "n_samples" in by else ["lr"]
            table = divergence_table(cfg, THEORY_DATASETS).rename(
                columns={"probability": "theory_probability", "standard_error": "theory_se"})
            s = s.merge(table[[*on, "theory_probability", "theory_se"]], on=on, how="left")
        if why_not is None and any(f.kind == "steps" for f in wants):
            lrs = np.asarray(cfg.axes["lr"])
            steps = steps_to_tol(lrs, cfg)
            theory_cols[name] = pd.DataFrame({"x": lrs, "y": steps})
            s = s.merge(pd.DataFrame({"lr": lrs, "theory_steps": steps}), on="lr", how="left")
        if len(runs) > 1:
            s.insert(0, "sweep", name)
        summaries.append(s)
        if why_not is not None and wants:
            notes.append(f"Sweep `{name}` has no theory overlay: {why_not}.")
    summary = pd.concat(summaries, ignore_index=True) if len(summaries) > 1 else summaries[0]
    for i, f in enumerate(d.figures):
        res = runs[f.sweep]
        s = summary[summary["sweep"] == f.sweep] if "sweep" in summary.columns else summary
        figures[_figure_name(f, i)], text = _draw(f, res, s, theory_cols.get(f.sweep), plots, theory)
        findings.append(text)
    setup = "".join(_describe(name, r.config, _by(d, r.config)) for name, r in runs.items())
    report = ("\n".join(t for t in findings if t) + "\n\n" + setup +
              "".join(f"\n{n}\n" for n in notes) +
              "\nRates are fractions of runs with Wilson 95 % intervals (columns `*_lo`, `*_hi` of "
              "summary.csv); a run is *unstable* when its error grew over the last epoch or it left "
              "the divergence bound.\n")
    first = next((t for t in findings if t.startswith("- ")), "")
    headline = f"{d.name}: " + (first[2:].split(";")[0] if first else f"{len(summary)} summary rows")
    # The answer is the first finding: a number with its 95 % interval.
    return Output(summary, figures, report, headline, answer=first[2:] if first else "")


def _describe(name: str, config: SweepConfig, by: list[str]) -> str:
    axes = ", ".join(f"{a} = {_values(v)}" for a, v in config.axes.items())
    return (f"Sweep `{name}`: {config.n_trajectories:,} trajectories; {axes}; {config.epochs} epochs, "
            f"y = {config.coef:g} x + {config.intercept:g}, tol {config.tol:g}, divergence bound "
            f"{config.diverge_factor:g}; summary by {', '.join(by)}.\n")


def _show(x: object) -> str:
    return f"{x:g}" if isinstance(x, float | np.floating) else str(x)


def _values(v: tuple) -> str:
    if len(v) == 1:
        return _show(v[0])
    if len(v) > 4:
        return f"{len(v)} values from {_show(v[0])} to {_show(v[-1])}"
    return "[" + ", ".join(_show(x) for x in v) + "]"


def _draw(f: Figure, res: Results, s: pd.DataFrame, steps_theory: pd.DataFrame | None, plots: Any,
          theory: Any) -> tuple[Any, str]:
    """One standard figure and the finding it supports (a report line)."""
    import pandas as pd

    from ..plots.curves import axis_label

    cfg = res.config
    title_n = f"{cfg.n_trajectories:,} trajectories, {cfg.epochs} epochs"
    if f.kind == "heatmap":
        from ..intervals import wilson_interval

        groups = [c for c in (f.x, f.y, f.panel) if c is not None and c in s.columns]
        cell = s.groupby(groups, observed=True)[["n", f"n_{f.rate}"]].sum().reset_index()
        cell[f"{f.rate}_rate"] = cell[f"n_{f.rate}"] / cell["n"]
        # Each cell with its 95 % Wilson interval: "0.00" of 400 runs only means below ~1 %.
        cell[f"{f.rate}_lo"], cell[f"{f.rate}_hi"] = wilson_interval(
            cell[f"n_{f.rate}"].to_numpy(), cell["n"].to_numpy())
        fig = plots.heatmaps(cell, x=f.x, y=f.y, value=f"{f.rate}_rate", panel=f.panel,
                             lo=f"{f.rate}_lo", hi=f"{f.rate}_hi", proportion=True,
                             xlabel=axis_label(f.x), ylabel=axis_label(f.y),
                             xfmt=".3g" if pd.api.types.is_numeric_dtype(cell[f.x]) else None,
                             label=f"fraction of runs {f.rate}",
                             title=(f"Fraction of runs {f.rate} over {axis_label(f.x)} and "
                                    f"{axis_label(f.y)}: {title_n}"))
        top = cell.loc[cell[f"{f.rate}_rate"].idxmax()]
        where = ", ".join(f"{c} = {_show(top[c])}" for c in groups)
        return fig, (f"- The {f.rate} rate is highest, "
                     f"{percent(top[f'{f.rate}_rate'], top[f'{f.rate}_lo'], top[f'{f.rate}_hi'])} "
                     f"of {int(top['n'])} runs (95 % Wilson interval), at {where}.")
    hue = f.hue
    data = s
    if hue is None:
        hue = "sweep" if "sweep" in s.columns else "_all"
        data = s.assign(_all="all runs") if hue == "_all" else s
    if f.kind == "steps":
        shown = data[data["converged_rate"] >= 0.5]
        fig = plots.lines_with_bands(
            shown, x="lr", y="converged_step_median", lo="converged_step_q25", hi="converged_step_q75",
            hue=hue, theory=None if steps_theory is None else steps_theory.dropna(),
            theory_label="theory: log(tol) / E log|1 - 2 lr X^2|", xlabel="learning rate lr (log scale)",
            ylabel="steps to converge (median, quartile band)", logy=True,
            title=f"Steps to converge (cells where at least half converged): {title_n}")
        if len(shown) == 0:
            return fig, "- No cell has at least half of its runs converged."
        b = shown.loc[shown["converged_step_median"].idxmin()]
        return fig, (f"- The fastest median convergence is {fmt(b['converged_step_median'])} steps "
                     f"(quartiles {fmt(b['converged_step_q25'])}-{fmt(b['converged_step_q75'])}) at "
                     f"lr = {b['lr']:.3g}.")
    # rate versus an axis
    if f.x == "lr":
        predicted = None
        if f.rate == "unstable" and "theory_probability" in data and data["theory_probability"].notna().all():
            predicted = data[[hue, "lr", "theory_probability"]].rename(
                columns={"theory_probability": "probability"})
        thresholds = None
        single = len(cfg.axes["x_scale"]) == 1 and len(cfg.axes["batch_size"]) == 1
        if single and _optimizer_differs(cfg, batches=False) is None and f.rate in ("unstable", "diverged"):
            # Fresh-sample thresholds of a constant lr without momentum, at the batch size that ran.
            (x_scale,), (batch,) = cfg.axes["x_scale"], cfg.axes["batch_size"]
            thresholds = {"mean-square (theory)": float(theory.batch_ms_threshold(batch, x_scale)),
                          "almost-sure, n = inf (theory)": float(theory.batch_as_threshold(batch, x_scale))}
        fig = plots.divergence_curve(data, rate=f.rate, hue=hue, predicted=predicted, thresholds=thresholds,
                                     title=f"Fraction of runs {f.rate} versus lr: {title_n}")
    else:
        fig = plots.lines_with_bands(data, x=f.x, y=f"{f.rate}_rate", lo=f"{f.rate}_lo", hi=f"{f.rate}_hi",
                                     hue=hue, xlabel=axis_label(f.x), ylabel=f"fraction of runs {f.rate}",
                                     logx=bool((data[f.x] > 0).all()) if pd.api.types.is_numeric_dtype(
                                         data[f.x]) else False,
                                     title=f"Fraction of runs {f.rate} versus {axis_label(f.x)}: {title_n}")
    parts = []
    for level, g in data.groupby(hue, observed=True):
        g = g.sort_values(f.x)
        if not pd.api.types.is_numeric_dtype(g[f.x]):
            continue
        xs = g[f.x].to_numpy(dtype=float)
        mid = crossing(xs, g[f"{f.rate}_rate"].to_numpy())
        lo = crossing(xs, g[f"{f.rate}_hi"].to_numpy())
        hi = crossing(xs, g[f"{f.rate}_lo"].to_numpy())
        label = "" if hue == "_all" else f"{hue} = {level}: "
        if np.isfinite(mid):
            th = ""
            if f.rate == "unstable" and "theory_probability" in g and g["theory_probability"].notna().all():
                th = f", exact theory {fmt(crossing(xs, g['theory_probability'].to_numpy()))}"
            parts.append(f"{label}{f.x} = {fmt(mid)} [{fmt(lo)}, {fmt(hi)}]{th}")
        else:
            parts.append(f"{label}below 1/2 over the whole grid (largest rate "
                         f"{g[f'{f.rate}_rate'].max():.1%})")
    return fig, f"- Half of the runs are {f.rate} at " + "; ".join(parts) + " (95 % interval in brackets)."
