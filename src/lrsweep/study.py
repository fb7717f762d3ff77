"""Named studies and their command line: ``python -m lrsweep.study NAME``.

A study is a recipe: a sweep, its summaries, the theory next to them, figures
and a Markdown report, all written to ``results/NAME/`` (or ``--out DIR``)::

    python -m lrsweep.study --list
    python -m lrsweep.study divergence [--quick] [--out DIR] [--threads N]
        [--seed S] [--set axis=values ...] [--no-progress] [--format png|svg|pdf]
        [--workers N | --scheduler ADDRESS] [--shard I/N]

Finished chunks are checkpointed under ``OUT/chunks/``: a study killed
midway and rerun with the same command recomputes only what is missing.
``--workers N`` runs the chunks on a local dask cluster of N processes,
``--scheduler`` on an existing one (the ``dask`` extra). ``--shard I/N`` runs
only part I of N of every sweep of the study (array jobs; no report); the
same command without ``--shard`` on the same ``--out`` (after ``lrsweep
merge`` if the shards wrote to different directories) then loads every
chunk and writes the report, bit-identical to a single run.

Bad input exits with status 2 and one line on stderr; files already written
are never deleted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._validation import ParameterError
from .config import AXES, SweepConfig

__all__ = ["STUDIES", "Study", "StudyError", "main", "run_study"]


class StudyError(ValueError):
    """A study cannot run with the arguments given (reported as one line, exit 2)."""


@dataclass
class Context:
    """What the command line passes to a study."""

    quick: bool = False
    threads: int | None = None
    progress: bool | None = None
    seed: int = 0
    sets: dict[str, Any] = field(default_factory=dict)
    checkpoint: Path | None = None  # finished chunks go here, so a killed study resumes
    client: Any = None  # dask.distributed.Client, or None for local threads
    shard: tuple[int, int] | None = None  # run only this part of every sweep
    shard_reports: list = field(default_factory=list)

    def config(self, **defaults: Any) -> SweepConfig:
        """The study's config with ``--seed`` and ``--set`` applied (validated)."""
        kw = dict(defaults)
        if self.seed and "seed" in kw:
            seeds = kw["seed"]
            seeds = seeds if isinstance(seeds, range | list | tuple) else [seeds]
            kw["seed"] = [s + self.seed for s in seeds]
        kw.update(self.sets)
        return SweepConfig(**kw)


@dataclass
class Output:
    """What a study produces; :func:`run_study` writes it."""

    results: Any
    summary: Any
    figures: dict[str, Any]
    report: str
    headline: str
    extra: dict[str, Any] = field(default_factory=dict)  # more tables: name -> DataFrame


@dataclass(frozen=True)
class Study:
    """A named recipe."""

    name: str
    question: str
    run: Callable[[Context], Output]


class _ShardDone(Exception):
    """A shard run reached the study's analysis: its sweeps' chunks are done."""


class _ShardPending:
    """Stands for the results of a sharded sweep; using it ends the shard run.

    The study goes on past a sweep (so a later sweep that does not depend on
    it gets sharded too) until its analysis touches these results.
    """

    def __getattr__(self, name: str) -> Any:
        raise _ShardDone(name)

    def __len__(self) -> int:
        raise _ShardDone("len")

    def __getitem__(self, key: Any) -> Any:
        raise _ShardDone("getitem")

    def __iter__(self) -> Any:
        raise _ShardDone("iter")


def _sweep(cfg: SweepConfig, ctx: Context, **kw: Any):
    import hashlib

    from .runner import sweep, sweep_shard

    out = None
    if ctx.checkpoint is not None:
        # One subdirectory per sweep of the study: a changed --set makes a new one.
        key = hashlib.sha256((cfg.grid_hash() + repr(sorted(kw.items()))).encode()).hexdigest()[:16]
        out = ctx.checkpoint / key
    if ctx.shard is not None:
        if out is None:
            raise StudyError("--shard needs a checkpoint directory (--out)")
        ctx.shard_reports.append(sweep_shard(cfg, ctx.shard, out=out, threads=ctx.threads,
                                             client=ctx.client, **kw))
        return _ShardPending()
    return sweep(cfg, threads=ctx.threads, progress=ctx.progress, out=out, client=ctx.client, **kw)


def _fmt(v: float, digits: int = 4) -> str:
    return "nan" if not np.isfinite(v) else f"{v:.{digits}g}"


# --------------------------------------------------------------------- seed
def _seed(ctx: Context) -> Output:
    from . import plots, reference
    from .data import make_dataset

    cfg = ctx.config(lr=0.01, seed=0, theta0=-1.0, epochs=5, data="lecture")
    res = _sweep(cfg, ctx, record="all")
    row = res.frame.iloc[0]
    ds = make_dataset(int(row["seed"]), int(row["n_samples"]), kind="lecture", coef=cfg.coef)
    rec = res.records[res.records["trajectory_id"] == row["trajectory_id"]]
    th_ref, loss_ref = reference.run_trajectory(ds.x, ds.y, lr=row["lr"], theta0=row["theta0"],
                                                epochs=cfg.epochs)
    n_ok = len(rec)
    identical = bool(np.array_equal(rec["theta"].to_numpy(), th_ref[:n_ok])
                     and np.array_equal(rec["loss"].to_numpy(), loss_ref[:n_ok]))
    theta200 = float(rec["theta"].iloc[199]) if n_ok >= 200 else float("nan")
    summary = res.frame.copy()
    summary["theta_at_200"] = theta200
    summary["identical_to_node_graph"] = identical
    figs = {
        "theta_and_loss": plots.seed_trajectory(
            rec, title=f"Per-sample SGD on y = 5x: lr = {row['lr']:g}, theta0 = {row['theta0']:g}, "
                       f"{cfg.epochs} epochs x {row['n_samples']} samples (1 trajectory)"),
        "rainbow_fan": plots.rainbow_fan(
            ds.x, ds.y, rec["theta"].to_numpy(), n_lines=200,
            title="The first 200 iterations: y = theta_k x, purple (k=1) to red (k=200)"),
    }
    report = (
        "The lecture's run reproduced: legacy `np.random.seed(0)` data (100 samples of N(0, 1), "
        f"y = 5x), theta0 = {row['theta0']:g}, lr = {row['lr']:g}, {cfg.epochs} epochs.\n\n"
        f"| quantity | value |\n|---|---|\n"
        f"| theta after iteration 200 | {_fmt(theta200, 6)} |\n"
        f"| theta after iteration {cfg.epochs * int(row['n_samples'])} | {_fmt(row['theta_final'], 8)} |\n"
        f"| converged_step (within 1 % of the initial error for good) | {row['converged_step']} |\n"
        f"| status | {row['status']} |\n"
        f"| loss zig-zag in the last epoch (fraction of turning points) | {_fmt(row['loss_zigzag'], 3)} |\n"
        f"| recorded theta and loss identical to the node graph, bit for bit | {identical} |\n"
    )
    headline = (f"seed: theta = {_fmt(theta200, 5)} at iteration 200, "
                f"{_fmt(row['theta_final'], 7)} at the end; identical to the node graph: {identical}")
    return Output(res, summary, figs, report, headline)


# --------------------------------------------------------------- divergence
def _crossing(lr: np.ndarray, p: np.ndarray, level: float = 0.5) -> float:
    """Smallest lr where ``p`` crosses ``level`` upwards (log-linear interpolation)."""
    above = np.nonzero(p >= level)[0]
    if len(above) == 0:
        return float("nan")
    i = above[0]
    if i == 0:
        return float(lr[0])
    l0, l1 = np.log(lr[i - 1]), np.log(lr[i])
    t = (level - p[i - 1]) / (p[i] - p[i - 1])
    return float(np.exp(l0 + t * (l1 - l0)))


def _containment_note(rows: list[dict], n_ds: int) -> str:
    missed = [r for r in rows if not r["contains_theory"]]
    if not missed:
        return "\nEvery interval contains the theory's critical lr.\n"
    parts = []
    for r in missed:
        lo, hi, th = r["critical_lr_sim_lo"], r["critical_lr_sim_hi"], r["critical_lr_theory"]
        gap = lo - th if th < lo else th - hi
        parts.append(f"n = {r['n_samples']} (theory {_fmt(th)} lies {_fmt(gap, 2)} "
                     f"{'below' if th < lo else 'above'} the interval)")
    return (
        "\nNot contained: " + "; ".join(parts) + ". Why: the interval reflects only the "
        "simulation's binomial noise at each grid point, read off by interpolation; the theory "
        f"value has its own Monte Carlo error ({n_ds} datasets per n); and the simulated "
        "datasets of different n share seeds (each is a prefix of the next), so one sampling "
        "fluctuation shifts every n the same way. Per run, the simulated verdict equals "
        "sign(S) of its own dataset exactly (tests/test_theory_sim.py).\n"
    )


def _unstable_summary(res: Any, by: list[str]) -> Any:
    """``res.summary(by)`` plus the count, rate and Wilson 95 % interval of unstable runs.

    A run is *unstable* when its error grew over the last epoch (growth_rate > 0) or it
    left the divergence bound.
    """
    from .results import wilson_interval

    f = res.frame
    unstable = (f["growth_rate"] > 0) | (f["status"] == "diverged")
    k = unstable.groupby([f[c] for c in by], observed=True).sum()
    summary = res.summary(by=by)
    k = k.reindex(_by_index(summary, by)).to_numpy()
    n = summary["n"].to_numpy()
    summary["n_unstable"] = k
    summary["unstable_rate"] = k / n
    summary["unstable_lo"], summary["unstable_hi"] = wilson_interval(k, n)
    return summary


def _by_index(frame: Any, by: list[str]) -> Any:
    """The ``by`` columns of ``frame`` as a (Multi)Index, for aligning group results."""
    import pandas as pd

    return pd.MultiIndex.from_frame(frame[by]) if len(by) > 1 else pd.Index(frame[by[0]])


def _divergence(ctx: Context) -> Output:
    import pandas as pd

    from . import plots, theory

    q = ctx.quick
    # A log grid over the whole range, denser around the almost-sure threshold (1.21).
    lrs = np.geomspace(0.3, 4.0, 16) if q else np.union1d(np.geomspace(0.3, 4.0, 24),
                                                           np.linspace(1.05, 1.4, 15))
    cfg = ctx.config(lr=lrs, seed=range(200 if q else 2000),
                     n_samples=[10, 100] if q else [10, 100, 1000], epochs=5,
                     # Measure the sign of the per-epoch growth exactly. Near the threshold
                     # log|e| is a driftless random walk: over 5 epochs of n = 1000 samples it
                     # swings by ~e^(+-100). Started at theta0 = -1 it would hit float64's
                     # rounding floor (|e| ~ 1e-15, where e forgets its past); the error
                     # dynamics are linear, so starting at |e_0| = 1e100 changes nothing but
                     # keeps every excursion representable.
                     theta0=-1e100, diverge_factor=1e150, sign_floor=0.0)
    res = _sweep(cfg, ctx)
    summary = _unstable_summary(res, ["n_samples", "lr"])
    lrs = np.asarray(cfg.axes["lr"])
    preds, rows = [], []
    n_ds = 1000 if q else 20000
    for n in cfg.axes["n_samples"]:
        p = theory.divergence_probability(n, lrs, x_scale=cfg.axes["x_scale"][0], method="montecarlo",
                                          n_datasets=n_ds, rng=12345 + n)
        preds.append(pd.DataFrame({"n_samples": n, "lr": lrs, "probability": p.probability,
                                   "standard_error": p.standard_error}))
        g = summary[summary["n_samples"] == n].sort_values("lr")
        sim = _crossing(g["lr"].to_numpy(), g["unstable_rate"].to_numpy())
        lo = _crossing(g["lr"].to_numpy(), g["unstable_hi"].to_numpy())
        hi = _crossing(g["lr"].to_numpy(), g["unstable_lo"].to_numpy())
        th = _crossing(lrs, np.asarray(p.probability))
        rows.append({"n_samples": n, "critical_lr_sim": sim, "critical_lr_sim_lo": lo,
                     "critical_lr_sim_hi": hi, "critical_lr_theory": th,
                     "contains_theory": bool(lo <= th <= hi)})
    pred = pd.concat(preds, ignore_index=True)
    summary = summary.merge(pred.rename(columns={"probability": "theory_probability",
                                                 "standard_error": "theory_se"}),
                            on=["n_samples", "lr"], how="left")
    crit = pd.DataFrame(rows)
    x_scale = cfg.axes["x_scale"][0]
    thresholds = {"mean-square (theory)": float(theory.ms_threshold(x_scale)),
                  "almost-sure, n = inf (theory)": float(theory.as_threshold(x_scale))}
    fig = plots.divergence_curve(
        summary, rate="unstable", predicted=pred, thresholds=thresholds,
        title=(f"Divergence of per-sample SGD on y = 5x versus learning rate\n{len(lrs)} lr x "
               f"{len(cfg.axes['seed'])} seeds x {len(cfg.axes['n_samples'])} dataset sizes = "
               f"{cfg.n_trajectories:,} trajectories, {cfg.epochs} epochs each"))
    table = ("| n | critical lr, simulated (50 % unstable) | 95 % interval "
             "| theory (exact S, Monte Carlo) | interval contains theory |\n|---|---|---|---|---|\n")
    for r in rows:
        table += (f"| {r['n_samples']} | {_fmt(r['critical_lr_sim'])} | [{_fmt(r['critical_lr_sim_lo'])}, "
                  f"{_fmt(r['critical_lr_sim_hi'])}] | {_fmt(r['critical_lr_theory'])} | "
                  f"{'yes' if r['contains_theory'] else 'no'} |\n")
    report = (
        "How does the probability that per-sample SGD diverges grow with the learning rate, "
        "and how does it depend on the dataset size n?\n\n"
        f"Setup: y = 5x, x ~ N(0, {x_scale:g}^2), no noise, fixed sample order, "
        f"{cfg.epochs} epochs; {len(cfg.axes['seed'])} datasets (seeds) per n. A run counts as "
        "*unstable* when its error grew over the last epoch (growth_rate > 0) or left the "
        "divergence bound. The error obeys the linear recursion e <- (1 - 2 lr x^2) e, so the "
        "verdict does not depend on e_0; the runs start at theta0 = -1e100 (bound 1e150 |e_0|, "
        "rounding floor 0) because near the threshold log|e| swings by about e^(+-100) over 5 "
        "epochs of 1000 samples: from theta0 = -1 such a dip reaches float64's rounding floor "
        "(|e| ~ 1e-15), where e forgets its past, and a bound of 1e6 would count transient "
        "excursions as divergence. For this noise-free problem the theory is exact: a dataset "
        "diverges iff S(lr) = sum_i log|1 - 2 lr x_i^2| > 0, and the predicted probability is "
        f"P(S > 0) over {n_ds} independent Monte Carlo datasets per n.\n\n"
        "The critical lr below is where half of the runs are unstable; its interval is where "
        "the Wilson 95 % band of the simulated rate crosses 1/2.\n\n" + table
        + _containment_note(rows, n_ds) +
        f"\nPopulation thresholds (theory): mean-square lr = {_fmt(thresholds['mean-square (theory)'])}, "
        f"almost-sure (infinite data) lr = {_fmt(thresholds['almost-sure, n = inf (theory)'])}. "
        "Small datasets spread the critical lr widely: "
        "the fraction of unstable runs rises more slowly with lr the smaller n is, while for "
        "large n it approaches a step at the almost-sure threshold.\n"
    )
    parts = ", ".join(f"n={r['n_samples']}: {_fmt(r['critical_lr_sim'])} "
                      f"[{_fmt(r['critical_lr_sim_lo'])}, {_fmt(r['critical_lr_sim_hi'])}] "
                      f"vs theory {_fmt(r['critical_lr_theory'])}" for r in rows)
    headline = f"divergence: critical lr (50 % unstable) {parts}"
    return Output(res, summary, {"divergence_probability": fig}, report, headline,
                  extra={"critical_lr": crit})


# ---------------------------------------------------------------- lr-tuning
def _lr_tuning(ctx: Context) -> Output:

    from . import plots

    q = ctx.quick
    # Part 1: the seed's data, the lecture's two learning rates and larger ones.
    demo_lrs = [0.01, 0.04, 0.2, 0.5, 1.0]
    demo = _sweep(ctx.config(lr=demo_lrs, seed=0, data="lecture", epochs=5), ctx, record="all")
    # Part 2: a fine lr grid over many Gaussian datasets: speed versus stability.
    cfg = ctx.config(lr=np.geomspace(1e-3, 2.0, 20 if q else 60), seed=range(100 if q else 1000),
                     n_samples=100, epochs=5)
    res = _sweep(cfg, ctx)
    summary = res.summary(by=["lr"])
    conv = summary[summary["converged_rate"] >= 0.5]
    best = conv.loc[conv["converged_step_median"].idxmin()] if len(conv) else None
    d = demo.frame.set_index("lr")
    fast = summary.iloc[(summary["lr"] - 0.04).abs().argmin()]
    slow = summary.iloc[(summary["lr"] - 0.01).abs().argmin()]
    fig1 = plots.lr_comparison(
        demo.records, demo.frame, theta_ref=float(demo.frame["theta_ref"].iloc[0]),
        title=f"The seed's data (100 samples, y = 5x), theta0 = -1: {len(demo_lrs)} learning rates, "
              "one trajectory each")
    fig2 = plots.speed_vs_stability(
        summary, title=f"Speed versus stability: {len(cfg.axes['lr'])} lr x {len(cfg.axes['seed'])} "
                       f"datasets of n = 100 = {cfg.n_trajectories:,} trajectories, 5 epochs")
    rows = "".join(
        f"| {lr:g} | {d.loc[lr, 'status']} | {d.loc[lr, 'converged_step']} | {d.loc[lr, 'sign_changes']} | "
        f"{_fmt(d.loc[lr, 'max_jump'], 3)} |\n" for lr in demo_lrs)
    report = (
        "How much faster is a larger learning rate, and what does it cost in stability?\n\n"
        "On the seed's own data (legacy seed 0, 100 samples):\n\n"
        "| lr | status | converged_step | sign changes (overshoots) | largest single jump of theta |\n"
        "|---|---|---|---|---|\n" + rows +
        f"\nOver {len(cfg.axes['seed'])} Gaussian datasets of 100 samples: at lr = {fast['lr']:.3g} the "
        f"median steps to converge is {_fmt(fast['converged_step_median'])} (quartiles "
        f"{_fmt(fast['converged_step_q25'])}-{_fmt(fast['converged_step_q75'])}) against "
        f"{_fmt(slow['converged_step_median'])} at lr = {slow['lr']:.3g}; "
        + (f"the fastest median convergence, {_fmt(best['converged_step_median'])} steps, is at "
           f"lr = {best['lr']:.3g}, where {best['converged_rate']:.1%} of runs converge and "
           f"{best['diverged_rate']:.1%} diverge. " if best is not None else "")
        + "Beyond it runs overshoot (oscillating) and then diverge; below lr ~ 0.005 five epochs "
        "are not enough (slow).\n"
    )
    headline = (f"lr-tuning: median steps to converge {_fmt(slow['converged_step_median'])} at lr "
                f"{slow['lr']:.3g} vs {_fmt(fast['converged_step_median'])} at lr {fast['lr']:.3g}"
                + (f"; fastest at lr {best['lr']:.3g}" if best is not None else ""))
    extra = {"seed_data_runs": demo.frame.reset_index(drop=True)}
    return Output(res, summary, {"lr_comparison": fig1, "speed_vs_stability": fig2}, report,
                  headline, extra=extra)


# -------------------------------------------------------------- oscillation
def _oscillation(ctx: Context) -> Output:
    import pandas as pd
    from scipy.special import erfc

    from . import plots

    q = ctx.quick
    n = 100
    cfg = ctx.config(lr=np.geomspace(0.01, 1.2, 12 if q else 40), seed=range(100 if q else 1000),
                     n_samples=n, epochs=5,
                     # Count every overshoot exactly: start far out (the error dynamics are
                     # linear) so that 5 epochs of contraction (down to ~e^-250) stay far above
                     # the rounding floor near theta_ref, with no floor and a bound of 1e300.
                     theta0=-1e250, diverge_factor=1e50, sign_floor=0.0)
    res = _sweep(cfg, ctx)
    f = res.frame.assign(per_epoch=lambda d: d["sign_changes"] / cfg.epochs)
    f = f[f["status"] != "diverged"]
    g = f.groupby("lr")["per_epoch"]
    per_lr = pd.DataFrame({"mean": g.mean(), "q25": g.quantile(0.25), "q75": g.quantile(0.75),
                           "runs": g.size()}).reset_index()
    x_scale = cfg.axes["x_scale"][0]
    # P(2 lr X^2 > 1) = P(|X| > 1 / sqrt(2 lr)) = erfc(1 / (2 sqrt(lr) x_scale)) for X ~ N(0, s^2).
    per_lr["predicted"] = n * erfc(1.0 / (2.0 * np.sqrt(per_lr["lr"]) * x_scale))
    summary = res.summary(by=["lr"]).merge(per_lr, on="lr", how="left")
    fig = plots.oscillation_curve(
        per_lr, title=(f"Overshoots per epoch: {len(cfg.axes['lr'])} lr x {len(cfg.axes['seed'])} datasets "
                       f"of n = {n} = {cfg.n_trajectories:,} trajectories, noise-free"))
    picks = [per_lr.iloc[(per_lr["lr"] - v).abs().argmin()] for v in (0.04, 0.25, 0.5, 1.0)]
    rows = "".join(f"| {r['lr']:.3g} | {r['mean']:.3f} | {r['predicted']:.3f} | {int(r['runs'])} |\n"
                   for r in picks)
    rel = float(np.max(np.abs(per_lr["mean"] - per_lr["predicted"]) / np.maximum(per_lr["predicted"], 1.0)))
    report = (
        "How often does per-sample SGD overshoot the solution, as a function of lr?\n\n"
        "A step overshoots theta_ref (e changes sign) exactly when 2 lr x^2 > 1, so the expected "
        f"number of overshoots per epoch of n = {n} Gaussian samples is n P(2 lr X^2 > 1) = "
        "n erfc(1 / (2 sqrt(lr))). Runs start at |e_0| = 1e250 with no floor and a bound of "
        "1e50 |e_0| so that every overshoot is counted (the error dynamics are linear, and from "
        "theta0 = -1 five epochs of contraction would sink e into float64's rounding noise); "
        "runs that still diverged are left out. The prediction is the population mean; the "
        "simulated mean is over the same datasets for every lr, so its deviations are "
        "correlated along the curve.\n\n"
        "| lr | overshoots per epoch (simulated mean) | theory | runs |\n|---|---|---|---|\n" + rows +
        f"\nLargest deviation over the grid: {rel:.3f} overshoots per epoch relative to "
        "max(prediction, 1). The seed's lr 0.01 and 0.04 essentially never overshoot "
        "(theta approaches 5 from one side); by lr 0.5 about a third of all steps overshoot.\n"
    )
    headline = "oscillation: overshoots per epoch " + ", ".join(
        f"lr {r['lr']:.3g}: {r['mean']:.2f} (theory {r['predicted']:.2f})" for r in picks)
    return Output(res, summary, {"overshoots_per_epoch": fig}, report, headline)


# ----------------------------------------------------------------- outliers
def _outliers(ctx: Context) -> Output:
    from . import plots, theory
    from .data import make_dataset

    q = ctx.quick
    cfg = ctx.config(lr=0.04, seed=range(40 if q else 400), n_samples=100, epochs=20,
                     outlier_kind=["leverage", "response"], outlier_frac=[0.0, 0.01, 0.02, 0.05, 0.1],
                     outlier_scale=[2.0, 3.0, 5.0, 10.0])
    res = _sweep(cfg, ctx)
    f = res.frame
    summary = res.summary(by=["outlier_kind", "outlier_frac", "outlier_scale"])
    g = f.groupby(["outlier_kind", "outlier_frac", "outlier_scale"], observed=True)
    summary["max_jump_median"] = g["max_jump"].median().to_numpy()
    shift = (f["theta_ref"] - cfg.coef).abs().groupby(
        [f["outlier_kind"], f["outlier_frac"], f["outlier_scale"]], observed=True).median()
    summary["theta_ref_shift_median"] = shift.to_numpy()
    # Exact theory for the same datasets: a dataset diverges iff S(lr) > 0 on its (modified) x.
    pred = []
    for _, row in summary.iterrows():
        xs = [make_dataset(s, 100, outlier_frac=row.outlier_frac, outlier_scale=row.outlier_scale,
                           outlier_kind=row.outlier_kind).x for s in cfg.axes["seed"]]
        pred.append(float((theory.epoch_log_multiplier(np.stack(xs), 0.04) > 0).mean()))
    summary["theory_diverging_fraction"] = pred
    title = (f"\nlr = 0.04 (the seed's fast lr), n = 100, {cfg.epochs} epochs, "
             f"{len(cfg.axes['seed'])} datasets per cell: {cfg.n_trajectories:,} trajectories")
    fig1 = plots.heatmaps(summary, x="outlier_scale", y="outlier_frac", value="diverged_rate",
                          panel="outlier_kind", label="fraction of runs diverged",
                          title="Which outliers make SGD diverge?" + title)
    fig2 = plots.heatmaps(summary, x="outlier_scale", y="outlier_frac", value="max_jump_median",
                          panel="outlier_kind", fmt=".2g", label="median largest jump of theta (log)",
                          title="Which outliers make theta jump?" + title, cmap="magma", log=True)
    lev = summary[summary.outlier_kind == "leverage"]
    rsp = summary[summary.outlier_kind == "response"]
    worst = lev.loc[lev["diverged_rate"].idxmax()]
    jump = rsp.loc[rsp["max_jump_median"].idxmax()]
    clean = summary[summary.outlier_frac == 0.0]["max_jump_median"].median()
    agree = float(np.max(np.abs(summary["diverged_rate"] - summary["theory_diverging_fraction"])))
    report = (
        "Leverage outliers (x multiplied by the scale, still on the line y = 5x) versus response "
        "outliers (y shifted by scale standard deviations of y), at the seed's fast lr 0.04.\n\n"
        f"- Leverage outliers cause divergence: up to {worst['diverged_rate']:.1%} of runs diverge "
        f"(fraction {worst['outlier_frac']:g}, scale {worst['outlier_scale']:g}); one sample with "
        "2 lr (s x)^2 > 2 amplifies the error by |1 - 2 lr s^2 x^2| each epoch.\n"
        f"- Response outliers never make it diverge (largest diverged rate "
        f"{rsp['diverged_rate'].max():.1%}) but make theta jump: the median largest jump reaches "
        f"{jump['max_jump_median']:.3g} (fraction {jump['outlier_frac']:g}, scale {jump['outlier_scale']:g}) "
        f"against {clean:.3g} without outliers, and they move the least-squares fit itself.\n"
        f"- Exact theory (S(lr) > 0 on each dataset's modified x, same datasets) versus the simulated "
        f"diverged rate: largest difference {agree:.3f} over all cells (runs that diverge slowly "
        f"may not cross the bound within {cfg.epochs} epochs).\n"
    )
    headline = (f"outliers: leverage up to {worst['diverged_rate']:.0%} diverged, response "
                f"{rsp['diverged_rate'].max():.0%} diverged but jumps up to {jump['max_jump_median']:.3g}")
    return Output(res, summary, {"outliers_divergence": fig1, "outliers_jumps": fig2}, report, headline)


# -------------------------------------------------------------- convergence
def _convergence(ctx: Context) -> Output:
    import pandas as pd

    from . import plots, theory

    q = ctx.quick
    cfg = ctx.config(lr=np.geomspace(1e-3, 1.0, 14 if q else 36), seed=range(50 if q else 300),
                     n_samples=[10, 100] if q else [10, 100, 1000], epochs=10 if q else 20)
    res = _sweep(cfg, ctx)
    summary = res.summary(by=["n_samples", "lr"])
    lrs = np.asarray(cfg.axes["lr"])
    L = np.asarray(theory.population_log_multiplier(lrs, cfg.axes["x_scale"][0]))
    # Population prediction: log|e_k / e_0| ~ k L(lr), so |e| falls below tol |e_0| after
    # log(tol) / L(lr) steps whatever n is (for L < 0).
    pred = pd.DataFrame({"x": lrs, "y": np.where(L < 0, np.log(cfg.tol) / np.where(L < 0, L, -1.0), np.nan)})
    summary = summary.merge(pred.rename(columns={"x": "lr", "y": "theory_steps"}), on="lr", how="left")
    shown = summary[summary["converged_rate"] >= 0.5]
    fig = plots.lines_with_bands(
        shown, x="lr", y="converged_step_median", lo="converged_step_q25", hi="converged_step_q75",
        hue="n_samples", theory=pred.dropna(), theory_label="theory: log(tol) / E log|1 - 2 lr X^2|",
        xlabel="learning rate lr (log scale)", ylabel="steps to converge (median, quartile band)",
        logy=True,
        title=(f"Steps until |e| stays within {cfg.tol:g} |e_0|: {len(lrs)} lr x {len(cfg.axes['seed'])} "
               f"seeds x {len(cfg.axes['n_samples'])} sizes = {cfg.n_trajectories:,} trajectories\n"
               "(cells where at least half of the runs converged)"))
    rows = ""
    for n in cfg.axes["n_samples"]:
        g = shown[shown["n_samples"] == n]
        if len(g) == 0:
            continue
        b = g.loc[g["converged_step_median"].idxmin()]
        rows += (f"| {n} | {b['lr']:.3g} | {_fmt(b['converged_step_median'])} | {_fmt(b['theory_steps'])} | "
                 f"{g['lr'].max():.3g} |\n")
    report = (
        "How many steps does per-sample SGD need to converge, as a function of lr and n?\n\n"
        "Population theory: log|e_k / e_0| grows like k L(lr) with L(lr) = E log|1 - 2 lr X^2|, so "
        "the steps to reach tol |e_0| are about log(tol) / L(lr), independent of n (dashed line).\n\n"
        "| n | fastest lr (median steps) | median steps there | theory there "
        "| largest lr where >= 50 % converge |\n"
        "|---|---|---|---|---|\n" + rows +
        "\nBelow lr ~ 0.05 the number of steps falls like 1/lr for every n (the theory line); the "
        "fastest lr sits near the minimum of L (lr ~ 0.29), and beyond it convergence slows again "
        "as overshoots grow until the runs stop converging near the divergence boundary.\n"
    )
    headline = "convergence: fastest median convergence " + ", ".join(
        f"n={int(r.split('|')[1])}: lr {r.split('|')[2].strip()} ({r.split('|')[3].strip()} steps)"
        for r in rows.strip().splitlines())
    return Output(res, summary, {"steps_to_converge": fig}, report, headline)


# ------------------------------------------------------------- dataset-size
def _dataset_size(ctx: Context) -> Output:
    import pandas as pd

    from . import plots, theory
    from .data import make_dataset

    q = ctx.quick
    ns = [5, 20, 100] if q else [5, 10, 20, 50, 100, 200, 500, 1000]
    cfg = ctx.config(lr=np.geomspace(0.3, 3.0, 8 if q else 16), seed=range(50 if q else 400), n_samples=ns,
                     epochs=5, theta0=-1e100, diverge_factor=1e150, sign_floor=0.0)
    res = _sweep(cfg, ctx)
    summary = _unstable_summary(res, ["n_samples", "lr"])
    summary["learning rate lr"] = summary["lr"].map(lambda v: f"{v:.2f}")
    summary["all"] = "noise-free, fixed order"
    fig1 = plots.heatmaps(summary, x="learning rate lr", y="n_samples", value="unstable_rate", panel="all",
                          label="fraction of runs unstable",
                          title=f"Divergence versus dataset size and lr: {cfg.n_trajectories:,} trajectories")
    crit = []
    for n in ns:
        X = np.stack([make_dataset(s, n).x for s in cfg.axes["seed"]])
        c = np.asarray(theory.critical_lr(X))
        crit.append({"n_samples": n, "median": np.median(c), "q25": np.quantile(c, 0.25),
                     "q75": np.quantile(c, 0.75), "source": "exact first root of S, per dataset"})
    crit = pd.DataFrame(crit)
    a_s = float(theory.as_threshold(cfg.axes["x_scale"][0]))
    fig2 = plots.lines_with_bands(
        crit, x="n_samples", y="median", lo="q25", hi="q75", hue="source",
        theory=pd.DataFrame({"x": [min(ns), max(ns)], "y": [a_s, a_s]}),
        theory_label=f"almost-sure threshold (n = inf) = {a_s:.4g}", xlabel="dataset size n (log scale)",
        ylabel="critical lr (median, quartile band)",
        title=(f"The first critical learning rate of a dataset versus n "
               f"({len(cfg.axes['seed'])} datasets per n)"))
    rows = "".join(f"| {int(r.n_samples)} | {r['median']:.3g} | [{r.q25:.3g}, {r.q75:.3g}] |\n"
                   for _, r in crit.iterrows())
    report = (
        "How does the divergence boundary move with the dataset size n?\n\n"
        "Each dataset has an exact first critical lr (the smallest root of S(lr) = sum_i "
        "log|1 - 2 lr x_i^2|); runs start at |e_0| = 1e100 so that the simulated verdict "
        "(growth over the last epoch) is exact.\n\n"
        "| n | median first critical lr | quartiles |\n|---|---|---|\n" + rows +
        f"\nThe quartile band of the first critical lr is {crit['q75'].iloc[0] - crit['q25'].iloc[0]:.3g} "
        f"wide at n = {ns[0]} and {crit['q75'].iloc[-1] - crit['q25'].iloc[-1]:.3g} at n = {ns[-1]}: "
        "small datasets spread the boundary widely, large ones concentrate it near the "
        f"almost-sure threshold {a_s:.4g} of infinite data. The first critical lr is where a "
        "dataset *starts* to diverge; its diverging set is a union of intervals, so the "
        "heatmap's 50 % line need not follow the median first root exactly.\n"
    )
    headline = "dataset-size: median first critical lr " + ", ".join(
        f"n={int(r.n_samples)}: {r['median']:.3g}" for _, r in crit.iterrows())
    return Output(res, summary, {"unstable_heatmap": fig1, "critical_lr_vs_n": fig2}, report, headline,
                  extra={"critical_lr": crit})


# -------------------------------------------------------------- heavy-tails
def _hill(v: np.ndarray, k: int) -> float:
    """Hill estimate of the tail index from the top ``k`` order statistics."""
    v = np.sort(v[np.isfinite(v) & (v > 0)])[::-1]
    if len(v) <= k:
        return float("nan")
    return float(1.0 / np.mean(np.log(v[:k] / v[k])))


def _heavy_tails(ctx: Context) -> Output:
    import pandas as pd

    from . import plots, theory
    from .data import make_dataset

    q = ctx.quick
    lrs = [0.2, 0.5, 0.8]
    n_seeds = 2000 if q else 20000
    # 500 steps forget e_0 (by exp(500 L), L = -0.24 per step at lr 0.8): each seed gives one
    # stationary draw. The bound is 1e300 so that the tail itself is not cut off as "diverged".
    common = dict(lr=lrs, seed=range(n_seeds), epochs=5, diverge_factor=1e300, sign_floor=0.0)
    cfg = ctx.config(n_samples=100, noise=1.0, order="online", **common)
    res = _sweep(cfg, ctx)
    # One fixed noisy dataset, many random sample orders: with replacement the multipliers
    # are i.i.d. over the dataset (a Kesten recursion again); shuffled epochs all multiply e
    # by the same constant, so the law is bounded.
    ds = make_dataset(ctx.seed + 1, 100, noise=1.0)
    one = _sweep(SweepConfig(data=(ds.x, ds.y), order=["shuffle", "replacement"], **common), ctx)
    k = max(50, n_seeds // 20)
    rows, values, slopes = [], {}, {}
    for source, frame in (("online", res.frame), ("shuffle", one.frame), ("replacement", one.frame)):
        for lr in lrs:
            sel = frame["lr"] == lr
            if source != "online":
                sel &= frame["order"] == source
            v = frame.loc[sel, "abs_error_final"].to_numpy()
            if source == "online":
                alpha = float(theory.tail_index(lr))
            elif source == "replacement":
                alpha = float(theory.tail_index_dataset(ds.x, lr))
            else:
                alpha = float("nan")
            rows.append({"order": source, "lr": lr, "runs": len(v),
                         "hill_alpha": _hill(v, k) if source != "shuffle" else float("nan"),
                         "theory_alpha": alpha, "q99": float(np.quantile(v, 0.99)),
                         "max": float(v.max())})
            if lr != 0.2:
                label = f"{source}, lr = {lr:g}"
                values[label] = v
                if source != "shuffle":
                    slopes[label] = alpha
    table = pd.DataFrame(rows)
    summary = res.summary(by=["order", "lr"]).merge(table, on=["order", "lr"], how="left")
    fig = plots.survival_loglog(
        values, slopes=slopes, xlabel="|theta_final - theta_ref|",
        title=(f"Tails of theta with noise (sd 1), {n_seeds:,} runs per curve, 5 epochs of 100 steps:\n"
               "fresh samples (online), one dataset with replacement, one dataset shuffled"))
    md = "".join(f"| {r.order} | {r.lr:g} | {_fmt(r.hill_alpha, 3)} | {_fmt(r.theory_alpha, 3)} | "
                 f"{r.q99:.3g} | {r.max:.3g} |\n" for r in table.itertuples())
    report = (
        "Does per-sample SGD with noisy data have heavy-tailed iterates, and when?\n\n"
        "With fresh samples each step (order online) theta - theta_ref follows a random affine "
        "recursion e <- (1 - 2 lr x^2) e + 2 lr x noise; by Kesten's theorem its stationary law "
        "has a power tail P(|e| > t) ~ t^-alpha with E|1 - 2 lr X^2|^alpha = 1 (Gurbuzbalaban, "
        "Simsekli and Zhu 2021). alpha = 2 at lr = 1/3 (the mean-square threshold): below it "
        "the variance is finite, above it infinite while runs still converge almost surely "
        "(up to lr = 1.21). Sampling with replacement from one dataset gives the dataset's own "
        "index alpha_n ((1/n) sum_i |1 - 2 lr x_i^2|^alpha_n = 1). Shuffled epochs over one "
        "dataset all multiply e by the same constant prod_i (1 - 2 lr x_i^2), so the law is "
        "bounded: no power law in one dimension.\n\n"
        f"Hill estimates use the top {k} of {n_seeds:,} runs (at lr 0.2, alpha is large and the "
        "top 5 % is not yet in the power-law regime, so the Hill estimate is biased low).\n\n"
        "| order | lr | Hill alpha | theory alpha | 99 % quantile of abs(e) | max abs(e) |\n"
        "|---|---|---|---|---|---|\n" + md
    )
    on = table[table.order == "online"]
    headline = "heavy-tails: online Hill alpha " + ", ".join(
        f"lr {r.lr:g}: {r.hill_alpha:.2f} (theory {_fmt(r.theory_alpha, 3)})" for r in on.itertuples())
    return Output(res, summary, {"tails": fig}, report, headline, extra={"tail_index": table})


STUDIES: dict[str, Study] = {
    s.name: s
    for s in (
        Study("seed", "The lecture's run reproduced exactly, with both of its figures.", _seed),
        Study("lr-tuning", "The seed's lr 0.01 versus 0.04 and a fine lr grid: speed versus stability.",
              _lr_tuning),
        Study("convergence", "Steps to converge versus lr for several dataset sizes, with theory.",
              _convergence),
        Study("oscillation", "Overshoots of the solution per epoch versus lr, against n P(2 lr X^2 > 1).",
              _oscillation),
        Study("outliers", "Leverage versus response outliers: which make theta jump, which make it diverge.",
              _outliers),
        Study("divergence", "Divergence probability versus lr per dataset size, with exact theory.",
              _divergence),
        Study("dataset-size", "How the divergence boundary moves with the dataset size.", _dataset_size),
        Study("heavy-tails", "Heavy-tailed iterates with noise: fresh samples versus a fixed order.",
              _heavy_tails),
    )
}


# ---------------------------------------------------------------------- I/O
def _parse_set(items: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise StudyError(f"--set {item!r}: expected axis=values, e.g. lr=0.01,0.04 or seed=0:100")
        name, _, raw = item.partition("=")
        name = name.strip()
        if name not in AXES and name not in ("epochs",):
            raise StudyError(f"--set {item!r}: unknown axis {name!r}; axes are {', '.join(AXES)}, epochs")
        kind = AXES[name][0] if name in AXES else None
        try:
            if ":" in raw:
                a, b = (int(v) for v in raw.split(":"))
                vals: list[Any] = list(range(a, b))
            else:
                vals = [v.strip() for v in raw.split(",") if v.strip()]
                if name == "epochs" or getattr(kind, "kind", None) == "int":
                    vals = [int(v) for v in vals]
                elif getattr(kind, "kind", None) == "float":
                    vals = [float(v) for v in vals]
        except ValueError:
            raise StudyError(f"--set {item!r}: cannot read {raw!r} as values of {name}") from None
        if not vals:
            raise StudyError(f"--set {item!r}: no values given")
        out[name] = vals[0] if (len(vals) == 1 or name == "epochs") else vals
    return out


def _versions() -> str:
    from .results import versions

    return ", ".join(f"{k} {v}" for k, v in versions().items())


def run_study(name: str, out: Path, ctx: Context, *, fmt: str = "png", argv: Sequence[str] = ()) -> Output:
    """Run study ``name`` and write its files into ``out``; return its output."""
    import matplotlib.pyplot as plt

    study = STUDIES[name]
    t0 = time.perf_counter()
    res = study.run(ctx)
    elapsed = time.perf_counter() - t0
    figdir = out / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    res.results.to_parquet(out / "trajectories.parquet")
    res.summary.to_csv(out / "summary.csv", index=False)
    for key, table in res.extra.items():
        table.to_csv(out / f"{key}.csv", index=False)
    fig_md = []
    for fname, fig in res.figures.items():
        path = figdir / f"{fname}.{fmt}"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        fig_md.append(f"![{fname}](figures/{fname}.{fmt})")
    command = "python -m lrsweep.study " + " ".join(shlex.quote(a) for a in argv)
    report = (
        f"# Study `{name}`\n\n{study.question}\n\n{res.report}\n" + "\n\n".join(fig_md) +
        f"\n\n---\nCommand: `{command.strip()}`  \n"
        f"Trajectories: {res.results.config.n_trajectories:,}; runtime {elapsed:.1f} s "
        f"(compile included) on {platform.machine()} with {ctx.threads or 'all'} threads.  \n"
        f"Versions: {_versions()}.\n"
    )
    (out / "report.md").write_text(report)
    return res


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m lrsweep.study",
                                     description="Run a named learning-rate study of per-sample SGD.")
    parser.add_argument("name", nargs="?", help="study name (see --list), or 'all'")
    parser.add_argument("--list", action="store_true", help="list the studies and exit")
    parser.add_argument("--quick", action="store_true", help="a small, fast version")
    parser.add_argument("--out", type=Path, default=None, help="output directory (default results/NAME)")
    parser.add_argument("--threads", type=int, default=None, help="numba threads")
    parser.add_argument("--seed", type=int, default=0, help="offset added to every dataset seed")
    parser.add_argument("--set", action="append", default=[], metavar="AXIS=VALUES",
                        help="override an axis: lr=0.01,0.04 or seed=0:100 (repeatable)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--format", choices=("png", "svg", "pdf"), default="png", help="figure format")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="run the chunks on a local dask cluster of N worker processes")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="run the chunks on the dask scheduler at ADDRESS (e.g. tcp://host:8786)")
    parser.add_argument("--shard", default=None, metavar="I/N",
                        help="run only part I of N (0 <= I < N) of every sweep into --out; no report")
    args = parser.parse_args(argv)
    if args.list:
        for s in STUDIES.values():
            print(f"{s.name:12s} {s.question}")
        return 0
    ctx: Context | None = None
    try:
        if args.name is None:
            raise StudyError("no study named; use --list to see them")
        names = list(STUDIES) if args.name == "all" else [args.name]
        for n in names:
            if n not in STUDIES:
                raise StudyError(f"unknown study {n!r}; studies are {', '.join(STUDIES)}, all")
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
        ctx = Context(quick=args.quick, threads=args.threads, seed=args.seed, sets=_parse_set(args.set),
                      progress=False if args.no_progress else None, shard=shard)
        with contextlib.ExitStack() as stack:
            ctx.client = _client(stack, args)
            for n in names:
                out = args.out if (args.out is not None and len(names) == 1) else (
                    (args.out or Path("results")) / n)
                try:
                    out.mkdir(parents=True, exist_ok=True)
                    probe = out / ".lrsweep-write-test"
                    probe.write_text("")
                    probe.unlink()
                except OSError as exc:
                    raise StudyError(f"cannot write to --out {str(out)!r}: {exc.strerror or exc}") from None
                ctx.checkpoint = out / "chunks"
                if shard is not None:
                    print(_run_shard(n, out, ctx))
                    continue
                res = run_study(n, out, ctx, fmt=args.format, argv=argv)
                print(res.headline)
                print(f"wrote {out}/report.md, summary.csv, trajectories.parquet, "
                      f"figures/ ({len(res.figures)})")
    except (StudyError, ParameterError) as exc:
        print(f"python -m lrsweep.study: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        where = f" in {ctx.checkpoint}" if ctx is not None and ctx.checkpoint is not None else ""
        print(f"python -m lrsweep.study: interrupted; finished chunks are kept{where}: "
              "rerun the same command to resume", file=sys.stderr)
        return 130
    return 0


def _parse_shard(raw: str) -> tuple[int, int]:
    try:
        i, n = (int(v) for v in raw.split("/"))
    except ValueError:
        raise StudyError(f"--shard must be I/N with integers 0 <= I < N, e.g. 0/4; got {raw!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise StudyError(f"--shard must be I/N with 0 <= I < N, e.g. 0/4; got {raw!r}")
    return i, n


def _client(stack: contextlib.ExitStack, args: argparse.Namespace) -> Any:
    """The dask client asked for by --workers / --scheduler (closed by ``stack``), or None."""
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


def _run_shard(name: str, out: Path, ctx: Context) -> str:
    """Run the sweeps of study ``name`` for shard ``ctx.shard``; a one-line account."""
    ctx.shard_reports = []
    with contextlib.suppress(_ShardDone):  # the analysis needs every shard
        STUDIES[name].run(ctx)
    reps = ctx.shard_reports
    i, n = ctx.shard  # type: ignore[misc]
    done = sum(r.chunks_computed for r in reps)
    had = sum(r.chunks_loaded for r in reps)
    return (f"{name}: shard {i}/{n} of {len(reps)} sweep(s): {done} chunks computed, {had} already "
            f"done, in {ctx.checkpoint}. When every shard has run, run the command without --shard "
            f"on --out {out} to load them and write the report.")


if __name__ == "__main__":
    sys.exit(main())
