"""Study ``convergence``: steps to converge versus lr for several dataset sizes, with population theory."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .common import fmt, steps_to_tol
from .spec import ANY, SINGLE, Options, Output, Study, SweepSpec

if TYPE_CHECKING:

    from ..results import Results


def declare(opts: Options) -> dict[str, SweepSpec]:
    q = opts.quick
    cfg = opts.config(lr=np.geomspace(1e-3, 1.0, 14 if q else 36), seed=range(50 if q else 300),
                      n_samples=[10, 100] if q else [10, 100, 1000], epochs=10 if q else 20)
    return {"runs": SweepSpec(cfg)}


def _fastest_theory_lr(x_scale: float) -> float:
    """The lr minimising L(lr) = E log|1 - 2 lr X^2| (the fastest population contraction)."""
    from scipy.optimize import minimize_scalar

    from .. import theory

    hi = float(theory.as_threshold(x_scale))
    opt = minimize_scalar(lambda lr: float(theory.population_log_multiplier(lr, x_scale)),
                          bounds=(1e-6 * hi, hi), method="bounded", options={"xatol": 1e-6 * hi})
    return float(opt.x)


def analyse(runs: dict[str, Results], opts: Options) -> Output:
    import pandas as pd

    from .. import plots

    res = runs["runs"]
    cfg = res.config
    summary = res.summary(by=["n_samples", "lr"])
    lrs = np.asarray(cfg.axes["lr"])
    (x_scale,) = cfg.axes["x_scale"]
    pred = pd.DataFrame({"x": lrs, "y": steps_to_tol(lrs, cfg)})
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
    fastest = []
    for n in cfg.axes["n_samples"]:
        g = shown[shown["n_samples"] == n]
        if len(g) == 0:
            continue
        b = g.loc[g["converged_step_median"].idxmin()]
        fastest.append({"n": n, "lr": b["lr"], "steps": b["converged_step_median"],
                        "theory": b["theory_steps"], "largest_lr": g["lr"].max()})
    rows = "".join(f"| {r['n']} | {r['lr']:.3g} | {fmt(r['steps'])} | {fmt(r['theory'])} | "
                   f"{r['largest_lr']:.3g} |\n" for r in fastest)
    report = (
        "How many steps does per-sample SGD need to converge, as a function of lr and n?\n\n"
        "Population theory: log|e_k / e_0| grows like k L(lr) with L(lr) = E log|1 - 2 lr X^2| "
        f"(X ~ N(0, {x_scale:g}^2)), so the steps to reach tol |e_0| (tol = {cfg.tol:g}) are about "
        "log(tol) / L(lr), independent of n (dashed line).\n\n"
        "| n | fastest lr (median steps) | median steps there | theory there "
        "| largest lr where >= 50 % converge |\n"
        "|---|---|---|---|---|\n" + rows +
        f"\nAt small lr the number of steps falls like 1/lr for every n (the theory line); L is "
        f"smallest at lr = {_fastest_theory_lr(x_scale):.3g}, and beyond it convergence slows again "
        "as overshoots grow until the runs stop converging near the divergence boundary.\n"
    )
    headline = "convergence: fastest median convergence " + ", ".join(
        f"n={r['n']}: lr {r['lr']:.3g} ({fmt(r['steps'])} steps)" for r in fastest)
    return Output(summary, {"steps_to_converge": fig}, report, headline)


STUDY = Study(
    name="convergence",
    question="Steps to converge versus lr for several dataset sizes, with theory.",
    declare=declare,
    analyse=analyse,
    axes={"lr": ANY, "seed": ANY, "n_samples": ANY, "x_scale": SINGLE, "order": SINGLE, "theta0": SINGLE},
    refused={
        "noise": "steps to a tolerance are defined for noise-free data; with noise the error settles "
                 "at a noise floor instead of reaching tol |e_0|",
        **{a: "outliers change the law of x or the fixed point, so log(tol) / E log|1 - 2 lr X^2| "
              "(Gaussian samples) does not apply" for a in ("outlier_kind", "outlier_frac", "outlier_scale")},
    },
    figures=("steps_to_converge",),
)
