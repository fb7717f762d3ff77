"""Study ``divergence``: the probability of divergence versus lr per dataset size, against exact theory."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .common import crossing, divergence_table, fmt, unstable_summary
from .spec import ANY, SINGLE, Axis, Options, Output, Study, SweepSpec

if TYPE_CHECKING:

    from ..results import Results

BY = ["n_samples", "lr"]


def theory_datasets(opts: Options) -> int:
    """Monte Carlo datasets per n for the theory's P(S > 0)."""
    return 1000 if opts.quick else 20000


def declare(opts: Options) -> dict[str, SweepSpec]:
    q = opts.quick
    # A log grid over the whole range, denser around the almost-sure threshold (1.21).
    lrs = np.geomspace(0.3, 4.0, 16) if q else np.union1d(np.geomspace(0.3, 4.0, 24),
                                                           np.linspace(1.05, 1.4, 15))
    cfg = opts.config(lr=lrs, seed=range(200 if q else 2000),
                      n_samples=[10, 100] if q else [10, 100, 1000], epochs=5,
                      # Measure the sign of the per-epoch growth exactly. Near the threshold
                      # log|e| is a driftless random walk: over 5 epochs of n = 1000 samples it
                      # swings by ~e^(+-100). Started at theta0 = -1 it would hit float64's
                      # rounding floor (|e| ~ 1e-15, where e forgets its past); the error
                      # dynamics are linear, so starting at |e_0| = 1e100 changes nothing but
                      # keeps every excursion representable.
                      theta0=-1e100, diverge_factor=1e150, sign_floor=0.0)
    return {"runs": SweepSpec(cfg)}


def _containment_note(rows: list[dict], n_ds: int) -> str:
    missed = [r for r in rows if not r["contains_theory"]]
    if not missed:
        return "\nEvery interval contains the theory's critical lr.\n"
    parts = []
    for r in missed:
        lo, hi, th = r["critical_lr_sim_lo"], r["critical_lr_sim_hi"], r["critical_lr_theory"]
        if not np.isfinite(th) or not (np.isfinite(lo) and np.isfinite(hi)):
            parts.append(f"n = {r['n_samples']} (no crossing of 1/2 within the grid)")
            continue
        gap = lo - th if th < lo else th - hi
        parts.append(f"n = {r['n_samples']} (theory {fmt(th)} lies {fmt(gap, 2)} "
                     f"{'below' if th < lo else 'above'} the interval)")
    return (
        "\nNot contained: " + "; ".join(parts) + ". Why: the interval reflects only the "
        "simulation's binomial noise at each grid point, read off by interpolation; the theory "
        f"value has its own Monte Carlo error ({n_ds} datasets per n); and the simulated "
        "datasets of different n share seeds (each is a prefix of the next), so one sampling "
        "fluctuation shifts every n the same way. Per run, the simulated verdict equals "
        "sign(S) of its own dataset exactly (tests/test_theory_sim.py).\n"
    )


def analyse(runs: dict[str, Results], opts: Options) -> Output:
    import pandas as pd

    from .. import plots, theory

    res = runs["runs"]
    cfg = res.config
    summary = unstable_summary(res, BY)
    lrs = np.asarray(cfg.axes["lr"])
    n_ds = theory_datasets(opts)
    pred = divergence_table(cfg, n_ds)
    rows = []
    for n in cfg.axes["n_samples"]:
        g = summary[summary["n_samples"] == n].sort_values("lr")
        p = pred[pred["n_samples"] == n]
        sim = crossing(g["lr"].to_numpy(), g["unstable_rate"].to_numpy())
        lo = crossing(g["lr"].to_numpy(), g["unstable_hi"].to_numpy())
        hi = crossing(g["lr"].to_numpy(), g["unstable_lo"].to_numpy())
        th = crossing(lrs, p["probability"].to_numpy())
        rows.append({"n_samples": n, "critical_lr_sim": sim, "critical_lr_sim_lo": lo,
                     "critical_lr_sim_hi": hi, "critical_lr_theory": th,
                     "contains_theory": bool(lo <= th <= hi)})
    summary = summary.merge(pred.rename(columns={"probability": "theory_probability",
                                                 "standard_error": "theory_se"}),
                            on=["n_samples", "lr"], how="left")
    crit = pd.DataFrame(rows)
    (x_scale,) = cfg.axes["x_scale"]
    (theta0,) = cfg.axes["theta0"]
    thresholds = {"mean-square (theory)": float(theory.ms_threshold(x_scale)),
                  "almost-sure, n = inf (theory)": float(theory.as_threshold(x_scale))}
    line = f"y = {cfg.coef:g}x" + (f" + {cfg.intercept:g}" if cfg.intercept else "")
    (order,) = cfg.axes["order"]
    fig = plots.divergence_curve(
        summary, rate="unstable", predicted=pred, thresholds=thresholds,
        title=(f"Divergence of per-sample SGD on {line} versus learning rate\n{len(lrs)} lr x "
               f"{len(cfg.axes['seed'])} seeds x {len(cfg.axes['n_samples'])} dataset sizes = "
               f"{cfg.n_trajectories:,} trajectories, {cfg.epochs} epochs each"))
    table = ("| n | critical lr, simulated (50 % unstable) | 95 % interval "
             "| theory (exact S, Monte Carlo) | interval contains theory |\n|---|---|---|---|---|\n")
    for r in rows:
        table += (f"| {r['n_samples']} | {fmt(r['critical_lr_sim'])} | [{fmt(r['critical_lr_sim_lo'])}, "
                  f"{fmt(r['critical_lr_sim_hi'])}] | {fmt(r['critical_lr_theory'])} | "
                  f"{'yes' if r['contains_theory'] else 'no'} |\n")
    n_max = max(cfg.axes["n_samples"])
    report = (
        "How does the probability that per-sample SGD diverges grow with the learning rate, "
        "and how does it depend on the dataset size n?\n\n"
        f"Setup: {line}, x ~ N(0, {x_scale:g}^2), no noise, {order} sample order, "
        f"{cfg.epochs} epochs; {len(cfg.axes['seed'])} datasets (seeds) per n. A run counts as "
        "*unstable* when its error grew over the last epoch (growth_rate > 0) or left the "
        "divergence bound. The error obeys the linear recursion e <- (1 - 2 lr x^2) e, so the "
        f"verdict does not depend on e_0; the runs start at theta0 = {theta0:.3g} (bound "
        f"{cfg.diverge_factor:g} |e_0|, rounding floor {cfg.sign_floor:g}) because near the threshold "
        f"log|e| swings widely over {cfg.epochs} epochs of {n_max} samples: from theta0 = -1 such a dip "
        "reaches float64's rounding floor (|e| ~ 1e-15), where e forgets its past, and a bound of 1e6 "
        "would count transient excursions as divergence. For this noise-free problem the theory is "
        "exact: a dataset diverges iff S(lr) = sum_i log|1 - 2 lr x_i^2| > 0 (in any sample order), "
        f"and the predicted probability is P(S > 0) over {n_ds} independent Monte Carlo datasets per "
        "n.\n\n"
        "The critical lr below is where half of the runs are unstable; its interval is where "
        "the Wilson 95 % band of the simulated rate crosses 1/2.\n\n" + table
        + _containment_note(rows, n_ds) +
        f"\nPopulation thresholds (theory): mean-square lr = {fmt(thresholds['mean-square (theory)'])}, "
        f"almost-sure (infinite data) lr = {fmt(thresholds['almost-sure, n = inf (theory)'])}. "
        "Small datasets spread the critical lr widely: "
        "the fraction of unstable runs rises more slowly with lr the smaller n is, while for "
        "large n it approaches a step at the almost-sure threshold.\n"
    )
    parts = ", ".join(f"n={r['n_samples']}: {fmt(r['critical_lr_sim'])} "
                      f"[{fmt(r['critical_lr_sim_lo'])}, {fmt(r['critical_lr_sim_hi'])}] "
                      f"vs theory {fmt(r['critical_lr_theory'])}" for r in rows)
    headline = f"divergence: critical lr (50 % unstable) {parts}"
    return Output(summary, {"divergence_probability": fig}, report, headline, {"critical_lr": crit})


STUDY = Study(
    name="divergence",
    question="Divergence probability versus lr per dataset size, with exact theory.",
    declare=declare,
    analyse=analyse,
    axes={"lr": ANY, "seed": ANY, "n_samples": ANY, "x_scale": SINGLE, "theta0": SINGLE,
          "order": Axis(multi=False, values=("fixed", "shuffle"),
                        why="an epoch over the dataset multiplies e by exp(S) in any order; with "
                            "replacement or fresh samples it does not")},
    refused={
        "noise": "with noise the recursion is affine: the growth of |e| over the last epoch is no longer "
                 "the sign of S, the exact verdict the theory gives",
        **{a: "the theory's Monte Carlo datasets are Gaussian without outliers" for a in (
            "outlier_kind", "outlier_frac", "outlier_scale")},
    },
    figures=("divergence_probability",),
)
