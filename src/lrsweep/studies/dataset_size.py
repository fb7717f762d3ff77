"""Study ``dataset-size``: how the divergence boundary moves with the dataset size n."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .common import (
    THEORY_SEED,
    crossing,
    datasets,
    divergence_table,
    exact_log_multiplier,
    fmt,
    pooled_z,
    verdict_summary,
)
from .spec import ANY, SINGLE, Axis, Options, Output, Study, SweepSpec

if TYPE_CHECKING:
    import pandas as pd

    from ..config import SweepConfig
    from ..results import Results

BY = ["n_samples", "lr"]


def declare(opts: Options) -> dict[str, SweepSpec]:
    q = opts.quick
    ns = [5, 20, 100] if q else [5, 10, 20, 50, 100, 200, 500, 1000]
    cfg = opts.config(lr=np.geomspace(0.3, 3.0, 8 if q else 16), seed=range(50 if q else 400), n_samples=ns,
                      epochs=5, theta0=-1e100, diverge_factor=1e150, sign_floor=0.0)
    return {"runs": SweepSpec(cfg)}


def theory_datasets(opts: Options) -> tuple[int, int]:
    """Monte Carlo datasets per n: for P(S > 0) at each lr, and for the first critical lr's distribution."""
    return (500, 100) if opts.quick else (4000, 1000)


def _quantiles(c: np.ndarray, prefix: str) -> dict[str, float]:
    """Median with its 95 % order-statistic interval, and quartiles, of critical learning rates ``c``."""
    from ..intervals import median_interval

    lo, hi = median_interval(c)
    return {f"{prefix}median": float(np.median(c)), f"{prefix}median_lo": lo, f"{prefix}median_hi": hi,
            f"{prefix}q25": float(np.quantile(c, 0.25)), f"{prefix}q75": float(np.quantile(c, 0.75))}


def monte_carlo_x(config: SweepConfig, n: int, m: int) -> np.ndarray:
    """``m`` independent Gaussian datasets of ``n`` samples for the theory, drawn from
    ``default_rng([THEORY_SEED, n])`` at the config's one ``x_scale`` (independent of the datasets that
    ran)."""
    (x_scale,) = config.axes["x_scale"]
    return x_scale * np.random.default_rng([THEORY_SEED, n]).standard_normal((m, n))


def critical_lrs(config: SweepConfig, m: int) -> pd.DataFrame:
    """Per n: the exact first critical lr of the datasets that ran (median with its 95 % interval,
    quartiles) and the same for ``m`` Monte Carlo datasets (the population distribution), with the
    deviation of the two medians in standard errors (read off their intervals)."""
    import pandas as pd

    from .. import theory
    from ..intervals import Z95

    rows = []
    for n in config.axes["n_samples"]:
        X = np.stack([ds.x for ds in datasets(config, config.axes["seed"], n_samples=n)])
        ran = _quantiles(np.asarray(theory.critical_lr(X)), "critical_lr_")
        mc = _quantiles(np.asarray(theory.critical_lr(monte_carlo_x(config, n, m))), "theory_critical_lr_")
        se = np.hypot(ran["critical_lr_median_hi"] - ran["critical_lr_median_lo"],
                      mc["theory_critical_lr_median_hi"] - mc["theory_critical_lr_median_lo"]) / (2 * Z95)
        rows.append({"n_samples": n, "datasets": len(X), **ran, "theory_datasets": m, **mc,
                     "z_medians": (ran["critical_lr_median"] - mc["theory_critical_lr_median"]) / se})
    return pd.DataFrame(rows)


def analyse(runs: dict[str, Results], opts: Options) -> Output:
    import pandas as pd

    from .. import plots, theory
    from ..intervals import wilson_interval
    from ..metrics import CENSORED

    res = runs["runs"]
    cfg = res.config
    f = res.frame
    ns = list(cfg.axes["n_samples"])
    lrs = np.asarray(cfg.axes["lr"])
    n_seeds = len(cfg.axes["seed"])
    S = exact_log_multiplier(res)
    summary = verdict_summary(res, BY, S)
    n_p, n_c = theory_datasets(opts)
    pred = divergence_table(cfg, n_p)
    summary = summary.merge(pred.rename(columns={"probability": "theory_probability",
                                                 "standard_error": "theory_se"}), on=BY, how="left")
    summary["theory_datasets"] = n_p
    summary["z_unstable_vs_theory"] = pooled_z(summary["n_unstable"], summary["n"],
                                               np.rint(summary["theory_probability"] * n_p), n_p)
    (x_scale,) = cfg.axes["x_scale"]
    (theta0,) = cfg.axes["theta0"]
    (order,) = cfg.axes["order"]
    ms, a_s = float(theory.ms_threshold(x_scale)), float(theory.as_threshold(x_scale))
    half = pd.DataFrame([{"n_samples": n, "lr": crossing(lrs, pred[pred["n_samples"] == n]
                                                         .sort_values("lr")["probability"].to_numpy())}
                         for n in ns])
    fig1 = plots.heatmaps(
        summary, x="lr", y="n_samples", value="unstable_rate", lo="unstable_lo", hi="unstable_hi",
        proportion=True, xfmt=".2f", xscale="log", xlabel="learning rate lr (log-spaced grid)",
        ylabel="dataset size n", label="fraction of runs unstable (Wilson 95 % interval below)",
        marks={"mean-square": ms, "almost-sure (n = \u221e)": a_s},
        points=half.dropna(), points_label=f"theory: P(S > 0) = 1/2 ({n_p:,} Monte Carlo datasets per n)",
        title=(f"Small datasets spread the divergence boundary over lr, large ones concentrate it\n"
               f"fraction of unstable runs, {n_seeds} datasets per n x {len(lrs)} lr = "
               f"{cfg.n_trajectories:,} runs"))
    crit = critical_lrs(cfg, n_c)
    theory_curve = crit[["n_samples", "theory_critical_lr_median", "theory_critical_lr_median_lo",
                         "theory_critical_lr_median_hi", "theory_critical_lr_q25", "theory_critical_lr_q75"]]
    theory_curve = theory_curve.rename(columns=lambda c: c.replace("theory_critical_lr_", ""))
    fig2 = plots.critical_lr_curve(
        crit, theory=theory_curve, thresholds={"almost-sure (n = \u221e)": a_s},
        label=f"the {n_seeds} datasets that ran", theory_label=f"theory, {n_c:,} Monte Carlo datasets",
        xlabel="dataset size n (log scale)", ylabel="first critical lr of a dataset",
        title=(f"The first critical lr of a dataset concentrates at the almost-sure threshold as n grows\n"
               f"exact smallest root of S(lr) per dataset; x ~ N(0, {x_scale:g}^2), no noise"))
    rows = "".join(
        f"| {int(r.n_samples)} | {r.critical_lr_median:.3g} | [{r.critical_lr_median_lo:.3g}, "
        f"{r.critical_lr_median_hi:.3g}] | [{r.critical_lr_q25:.3g}, {r.critical_lr_q75:.3g}] | "
        f"{r.theory_critical_lr_median:.3g} [{r.theory_critical_lr_median_lo:.3g}, "
        f"{r.theory_critical_lr_median_hi:.3g}] | {r.z_medians:.2f} |\n" for r in crit.itertuples())
    first, last = crit.iloc[0], crit.iloc[-1]
    steps = np.abs(np.diff(crit["critical_lr_median"].to_numpy()))
    overlap = all(max(a.critical_lr_median_lo, b.critical_lr_median_lo)
                  <= min(a.critical_lr_median_hi, b.critical_lr_median_hi)
                  for a, b in zip(crit.iloc[:-1].itertuples(), crit.iloc[1:].itertuples(), strict=True))
    zmax = float(np.max(np.abs(crit["z_medians"])))
    wiggle = "" if len(steps) == 0 else (
        f"The medians of consecutive n differ by at most {steps.max():.3g}, and "
        + ("their 95 % intervals overlap for every pair: the wiggle of the medians is sampling noise of "
           f"{n_seeds} datasets per n. " if overlap else "not every pair of their 95 % intervals overlaps. "))
    unstable = ((f["growth_rate"] > 0) | (f["status"] == "diverged")).to_numpy()
    agree = int((unstable == (S > 0)).sum())
    status = f["status"].astype(str).to_numpy()
    cen = np.isin(status, [c.name.lower() for c in CENSORED])
    z = summary["z_unstable_vs_theory"].to_numpy()
    zero_hi = float(wilson_interval(0, n_seeds)[1])
    report = (
        f"Setup: y = {cfg.coef:g}x, x ~ N(0, {x_scale:g}^2), no noise, {order} sample order, {cfg.epochs} "
        f"epochs; {n_seeds} datasets per n (seeds {cfg.axes['seed'][0]}-{cfg.axes['seed'][-1]}; for one seed "
        f"the smaller datasets are prefixes of the larger), {len(lrs)} learning rates from {lrs[0]:.3g} to "
        f"{lrs[-1]:.3g}. Runs start at theta0 = {theta0:.3g} (bound {cfg.diverge_factor:g} |e_0|, rounding "
        f"floor {cfg.sign_floor:g}) so that the growth of |e| over the last epoch is never cut by the bound "
        "or the floor.\n\n"
        "Which notion each number uses:\n\n"
        "- **unstable** (simulated; the heatmap): the run's error grew over the last epoch or left the "
        "divergence bound (summary.csv, with its Wilson 95 % interval).\n"
        "- **exact** (per-dataset theory): the run's dataset has S(lr) = sum_i log|1 - 2 lr x_i^2| > 0; it "
        f"agrees with *unstable* in {agree:,} of {len(f):,} runs. **First critical lr** of a dataset: the "
        "smallest root of S, the smallest lr at which that dataset diverges (critical_lr.csv).\n"
        "- **theory** (population): P(S > 0) at each lr from "
        f"{n_p:,} Monte Carlo datasets per n (summary.csv, theory_probability with theory_se; the diamonds "
        f"of the heatmap mark where it crosses 1/2), and the distribution of the first critical lr from "
        f"{n_c:,} Monte Carlo datasets per n (critical_lr.csv, theory_*), drawn independently of the "
        f"datasets that ran (generators seeded {THEORY_SEED} + n and [{THEORY_SEED}, n]).\n\n"
        f"Censored: {int(cen.sum()):,} of {len(f):,} runs ({cen.mean():.1%}) ended slow, oscillating or "
        "growing; the exact verdict decides each of them. Simulation against theory: over the "
        f"{len(z)} (n, lr) cells the unstable fraction deviates from P(S > 0) by at most |z| = "
        f"{np.max(np.abs(z)):.2f} standard errors ({int((np.abs(z) > 2).sum())} cells beyond 2, about "
        f"{0.0455 * len(z):.1f} expected by chance; both standard errors at the pooled proportion). A cell "
        f"with no unstable run shows the upper end of its Wilson interval (<{zero_hi:.2g} for {n_seeds} "
        "runs: a 0 only means below that), one with all runs unstable the lower end.\n\n"
        "| n | median first critical lr | 95 % interval | quartiles | theory: median [95 %] | deviation "
        "(standard errors) |\n|---|---|---|---|---|---|\n" + rows +
        "\nThe quartile range of the first critical lr is "
        f"{first.critical_lr_q75 - first.critical_lr_q25:.3g} "
        f"wide at n = {ns[0]} and {last.critical_lr_q75 - last.critical_lr_q25:.3g} at n = {ns[-1]}: small "
        "datasets spread the boundary widely, large ones concentrate it near the almost-sure threshold "
        f"{a_s:.4g} of infinite data. " + wiggle + f"The medians lie within |z| = {zmax:.2f} standard errors "
        f"of the medians of {n_c:,} independent Monte Carlo datasets (the deviation column; each standard "
        "error read off its interval). The first critical lr is where a dataset *starts* to diverge; its "
        "diverging set is a union of intervals (a dataset can be stable again above its first critical lr), "
        "so the population median of the first critical lr lies at or below the lr where P(S > 0) = 1/2 (the "
        "diamonds of the heatmap).\n"
    )
    answer = (f"The median first critical lr of a dataset moves from {first.critical_lr_median:.3g} "
              f"[{first.critical_lr_median_lo:.3g}, {first.critical_lr_median_hi:.3g}] at n = {ns[0]} to "
              f"{last.critical_lr_median:.3g} [{last.critical_lr_median_lo:.3g}, "
              f"{last.critical_lr_median_hi:.3g}] at n = {ns[-1]} (almost-sure threshold {a_s:.4g}), while "
              f"its quartile range narrows from {first.critical_lr_q75 - first.critical_lr_q25:.3g} to "
              f"{last.critical_lr_q75 - last.critical_lr_q25:.3g}.")
    headline = "dataset-size: median first critical lr " + ", ".join(
        f"n={int(r.n_samples)}: {fmt(r.critical_lr_median, 3)}" for r in crit.itertuples())
    return Output(summary, {"unstable_heatmap": fig1, "critical_lr_vs_n": fig2}, report, headline,
                  {"critical_lr": crit}, answer=answer)


STUDY = Study(
    name="dataset-size",
    question="How does the divergence boundary of per-sample SGD move with the dataset size n?",
    declare=declare,
    analyse=analyse,
    axes={"lr": ANY, "seed": ANY, "n_samples": ANY, "x_scale": SINGLE, "theta0": SINGLE,
          "order": Axis(multi=False, values=("fixed", "shuffle"),
                        why="the first critical lr is a property of an epoch over the dataset in any order")},
    refused={
        "noise": "with noise the growth of |e| over the last epoch is no longer the sign of S",
        **{a: "the unstable verdict equals the sign of S only without outliers" for a in (
            "outlier_kind", "outlier_frac", "outlier_scale")},
    },
    figures=("unstable_heatmap", "critical_lr_vs_n"),
)
