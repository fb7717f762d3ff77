"""Study ``divergence``: the probability of divergence versus lr per dataset size, against exact theory."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .common import (
    THEORY_SEED,
    crossing,
    divergence_table,
    exact_log_multiplier,
    fmt,
    percent,
    pooled_z,
    verdict_summary,
)
from .spec import ANY, SINGLE, Axis, Options, Output, Study, SweepSpec

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd

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


def _critical_rows(summary: pd.DataFrame, pred: pd.DataFrame, ns: Sequence[int]) -> list[dict]:
    """Per n: the lr where half of the runs are unstable (simulated) and where P(S > 0) = 1/2 (theory),
    each with the interval where its 95 % band crosses 1/2, and their deviation in standard errors."""
    from ..intervals import Z95

    rows = []
    for n in ns:
        g = summary[summary["n_samples"] == n].sort_values("lr")
        lr = g["lr"].to_numpy()
        sim = crossing(lr, g["unstable_rate"].to_numpy())
        lo, hi = crossing(lr, g["unstable_hi"].to_numpy()), crossing(lr, g["unstable_lo"].to_numpy())
        p = pred[pred["n_samples"] == n].sort_values("lr")
        pl, pp, pse = p["lr"].to_numpy(), p["probability"].to_numpy(), p["standard_error"].to_numpy()
        th = crossing(pl, pp)
        th_lo, th_hi = crossing(pl, pp + Z95 * pse), crossing(pl, pp - Z95 * pse)
        se = np.hypot((hi - lo) / (2 * Z95), (th_hi - th_lo) / (2 * Z95))
        rows.append({"n_samples": n, "critical_lr_sim": sim, "critical_lr_sim_lo": lo,
                     "critical_lr_sim_hi": hi, "critical_lr_theory": th, "critical_lr_theory_lo": th_lo,
                     "critical_lr_theory_hi": th_hi, "z": (sim - th) / se if se > 0 else np.nan,
                     "contains_theory": bool(lo <= th <= hi)})
    return rows


def _critical_note(rows: list[dict], n_ds: int) -> str:
    """What the comparison of the critical lr with the theory shows, in standard errors."""
    far = [r for r in rows if not np.isfinite(r["z"]) or abs(r["z"]) > 2]
    if not far:
        return ("\nEvery simulated critical lr lies within 2 standard errors of the theory's "
                f"(largest |z| = {max(abs(r['z']) for r in rows):.2f}).\n")
    parts = [f"n = {r['n_samples']} (z = {r['z']:.2f})" if np.isfinite(r["z"])
             else f"n = {r['n_samples']} (no crossing of 1/2 within the grid)" for r in far]
    return ("\nMore than 2 standard errors apart: " + "; ".join(parts) + ". The standard errors are read "
            "off the 95 % bands by interpolation between grid points, and the simulated datasets of "
            "different n share seeds (each is a prefix of the next), so one sampling fluctuation of the "
            f"{n_ds:,}-dataset theory or of the simulated datasets shifts several n alike.\n")


def analyse(runs: dict[str, Results], opts: Options) -> Output:
    import pandas as pd

    from .. import plots, theory
    from ..intervals import wilson_interval
    from ..metrics import CENSORED

    res = runs["runs"]
    cfg = res.config
    f = res.frame
    S = exact_log_multiplier(res)
    summary = verdict_summary(res, BY, S)
    lrs = np.asarray(cfg.axes["lr"])
    n_ds = theory_datasets(opts)
    pred = divergence_table(cfg, n_ds)
    summary = summary.merge(pred.rename(columns={"probability": "theory_probability",
                                                 "standard_error": "theory_se"}),
                            on=["n_samples", "lr"], how="left")
    summary["theory_datasets"] = n_ds
    summary["z_unstable_vs_theory"] = pooled_z(summary["n_unstable"], summary["n"],
                                               np.rint(summary["theory_probability"] * n_ds), n_ds)
    rows = _critical_rows(summary, pred, cfg.axes["n_samples"])
    crit = pd.DataFrame(rows)
    (x_scale,) = cfg.axes["x_scale"]
    (theta0,) = cfg.axes["theta0"]
    (order,) = cfg.axes["order"]
    ms, a_s = float(theory.ms_threshold(x_scale)), float(theory.as_threshold(x_scale))
    line = f"y = {cfg.coef:g}x" + (f" + {cfg.intercept:g}" if cfg.intercept else "")
    n_seeds = len(cfg.axes["seed"])
    z = summary["z_unstable_vs_theory"].to_numpy()
    fig = plots.divergence_curve(
        summary, rate="unstable", predicted=pred, deviation="z_unstable_vs_theory",
        thresholds={"mean-square": ms, "almost-sure (n = \u221e)": a_s}, hue_label="dataset size n",
        predicted_label=f"theory: P(S > 0), {n_ds:,} datasets", ylabel="fraction of runs unstable",
        title=("The unstable fraction rises slowly with lr for small datasets,\n"
               "steeply at the almost-sure threshold for large ones\n"
               f"per-sample SGD on {line}: {len(lrs)} lr x {n_seeds} datasets x {len(cfg.axes['n_samples'])} "
               f"sizes = {cfg.n_trajectories:,} runs, {cfg.epochs} epochs each"))
    table = ("| n | critical lr, simulated (50 % unstable) | 95 % interval | theory (P(S > 0) = 1/2, Monte "
             "Carlo) | 95 % interval | deviation (standard errors) |\n|---|---|---|---|---|---|\n")
    for r in rows:
        table += (f"| {r['n_samples']} | {fmt(r['critical_lr_sim'])} | [{fmt(r['critical_lr_sim_lo'])}, "
                  f"{fmt(r['critical_lr_sim_hi'])}] | {fmt(r['critical_lr_theory'])} | "
                  f"[{fmt(r['critical_lr_theory_lo'])}, {fmt(r['critical_lr_theory_hi'])}] | {r['z']:.2f} "
                  "|\n")
    n_max = max(cfg.axes["n_samples"])
    total = len(f)
    unstable = (f["growth_rate"] > 0) | (f["status"] == "diverged")
    exact = S > 0
    agree = int((unstable.to_numpy() == exact).sum())
    status = f["status"].astype(str).to_numpy()
    censored_names = [c.name.lower() for c in CENSORED]
    cen = np.isin(status, censored_names)
    cen_counts = ", ".join(f"{int((status == c).sum()):,} {c}" for c in censored_names)
    div = status == "diverged"
    grow = status == "growing"
    n_div, n_exact = int(div.sum()), max(int(exact.sum()), 1)
    fast = percent(n_div / n_exact, *wilson_interval(n_div, n_exact))
    rate = summary.sort_values(["n_samples", "lr"])
    first = rate[rate["n_samples"] == min(cfg.axes["n_samples"])].iloc[0]
    big = max(rows, key=lambda r: r["n_samples"])
    small = min(rows, key=lambda r: r["n_samples"])
    k2, k3 = int((np.abs(z) > 2).sum()), int((np.abs(z) > 3).sum())
    report = (
        f"Setup: {line}, x ~ N(0, {x_scale:g}^2), no noise, {order} sample order, {cfg.epochs} epochs; "
        f"{n_seeds} datasets (seeds {_seeds(cfg.axes['seed'])}) per n, each run at every lr. The error obeys "
        "the linear recursion e <- (1 - 2 lr x^2) e, so whether it grows does not depend on e_0; the runs "
        f"start at theta0 = {theta0:.3g} (bound {cfg.diverge_factor:g} |e_0|, rounding floor "
        f"{cfg.sign_floor:g}) because near the threshold log|e| swings widely over {cfg.epochs} epochs of "
        f"{n_max} samples: from theta0 = -1 such a dip reaches float64's rounding floor (|e| ~ 1e-15), "
        "where e forgets its past, and a bound of 1e6 would count transient excursions as divergence.\n\n"
        "Which notion each rate uses (all in summary.csv, each with its Wilson 95 % interval):\n\n"
        "- **unstable** (simulated; the figure, the critical lr and the answer): the run's error grew over "
        "the last epoch (growth_rate > 0) or left the divergence bound.\n"
        "- **exact** (per-dataset theory): the run's own dataset has S(lr) = sum_i log|1 - 2 lr x_i^2| > 0, "
        "so that repeated epochs diverge, in any sample order; exact for noise-free data. It agrees with "
        f"*unstable* in {agree:,} of {total:,} runs.\n"
        f"- **diverged** (simulated status): |e| left the bound within {cfg.epochs} epochs; only fast "
        f"divergence does: {int(div.sum()):,} runs, {fast} of the "
        f"{int(exact.sum()):,} runs with S > 0.\n"
        f"- **theory_probability** (population theory): P(S > 0) for a random dataset of n samples, "
        f"estimated from {n_ds:,} independent Monte Carlo datasets per n (standard error theory_se; "
        f"generator seeded {THEORY_SEED} + n).\n\n"
        f"Censored: {int(cen.sum()):,} of {total:,} runs ({cen.mean():.1%}) ended with a censored status "
        f"({cen_counts}): the budget did not decide their fate by status, but the exact verdict does: "
        f"{int((exact & grow).sum()):,} of the {int(grow.sum()):,} growing runs have S > 0 and "
        f"{int((~exact & cen & ~grow).sum()):,} of the {int((cen & ~grow).sum()):,} oscillating or slow ones "
        "S < 0.\n\n"
        "The critical lr below is where half of the runs are unstable; its interval is where the Wilson 95 % "
        "band of the simulated rate crosses 1/2, and the theory's interval where P(S > 0) +- 1.96 standard "
        "errors does. The deviation is (simulated - theory) / sqrt(se_sim^2 + se_theory^2), with each "
        "standard error read off its interval.\n\n" + table + _critical_note(rows, n_ds) +
        f"\nSimulation against theory at every lr: over the {len(z)} (n, lr) cells the simulated unstable "
        f"fraction deviates from the Monte Carlo P(S > 0) by at most |z| = {np.max(np.abs(z)):.2f} standard "
        f"errors; {k2} cells exceed 2 ({int((z < -2).sum())} below the theory, {int((z > 2).sum())} above) "
        f"and {k3} exceed 3, where about {0.0455 * len(z):.1f} and {0.0027 * len(z):.1f} would if the cells "
        "were independent. They are not: the cells of one n share their datasets across lr, and the "
        "datasets of a smaller n are prefixes of those of a larger one, so one fluctuation of the "
        f"{n_seeds} datasets moves many cells together. Since the simulated verdict equals the exact one "
        "in every run, such deviations measure how far these datasets are from the population, not an "
        "error of the simulation. z = (sim - theory) / sqrt(se_sim^2 + se_theory^2) with both standard "
        f"errors at the pooled proportion, so that 0 of {n_seeds} runs is not read as an exact 0 (column "
        "z_unstable_vs_theory; bottom panel).\n"
        f"\nPopulation thresholds (theory): mean-square lr = {fmt(ms)}, almost-sure (infinite data) lr = "
        f"{fmt(a_s)}. Small datasets spread the critical lr widely: with n = {small['n_samples']} already "
        f"{percent(first['unstable_rate'], first['unstable_lo'], first['unstable_hi'])} of the runs "
        f"are unstable at lr = {first['lr']:.3g}, and the unstable fraction rises slowly with lr, while "
        f"for n = {big['n_samples']} it approaches a step at the almost-sure threshold.\n\n"
        "The loss of this model is quadratic in theta with a curvature 2 x_i^2 per sample that does not "
        "depend on theta, so edge-of-stability behaviour and progressive sharpening, which need a "
        "curvature that changes along the trajectory, cannot occur here: whether a run diverges is decided "
        "by its data and its lr alone.\n"
    )
    first_rate = percent(first["unstable_rate"], first["unstable_lo"], first["unstable_hi"])
    answer = (f"Half of the runs are unstable at lr = {fmt(big['critical_lr_sim'])} "
              f"[{fmt(big['critical_lr_sim_lo'])}, {fmt(big['critical_lr_sim_hi'])}] with n = "
              f"{big['n_samples']} samples, next to the almost-sure threshold {fmt(a_s)} of infinite data, "
              f"and at {fmt(small['critical_lr_sim'])} [{fmt(small['critical_lr_sim_lo'])}, "
              f"{fmt(small['critical_lr_sim_hi'])}] with n = {small['n_samples']}, where the unstable "
              f"fraction rises slowly, from {first_rate} at lr = {first['lr']:.3g}.")
    parts = ", ".join(f"n={r['n_samples']}: {fmt(r['critical_lr_sim'])} "
                      f"[{fmt(r['critical_lr_sim_lo'])}, {fmt(r['critical_lr_sim_hi'])}] "
                      f"vs theory {fmt(r['critical_lr_theory'])}" for r in rows)
    headline = f"divergence: critical lr (50 % unstable) {parts}"
    return Output(summary, {"divergence_probability": fig}, report, headline, {"critical_lr": crit},
                  answer=answer)


def _seeds(seeds: Sequence[int]) -> str:
    """The seeds as a range when they are consecutive."""
    s = list(seeds)
    if len(s) > 2 and s == list(range(s[0], s[0] + len(s))):
        return f"{s[0]}-{s[-1]}"
    return ", ".join(map(str, s))


STUDY = Study(
    name="divergence",
    question=("How does the fraction of per-sample SGD runs that diverge grow with the learning rate, and "
              "how does it depend on the dataset size n?"),
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
