"""Study ``outliers``: leverage versus response outliers, which make theta jump, which make it diverge."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .spec import ANY, Axis, Options, Output, Study, SweepSpec

if TYPE_CHECKING:
    from ..results import Results

BY = ["outlier_kind", "outlier_frac", "outlier_scale"]


def declare(opts: Options) -> dict[str, SweepSpec]:
    q = opts.quick
    cfg = opts.config(lr=0.04, seed=range(40 if q else 400), n_samples=100, epochs=20,
                      outlier_kind=["leverage", "response"], outlier_frac=[0.0, 0.01, 0.02, 0.05, 0.1],
                      outlier_scale=[2.0, 3.0, 5.0, 10.0])
    return {"runs": SweepSpec(cfg)}


def analyse(runs: dict[str, Results], opts: Options) -> Output:
    from .. import plots, theory

    res = runs["runs"]
    cfg = res.config
    (lr,) = cfg.axes["lr"]
    (n,) = cfg.axes["n_samples"]
    f = res.frame
    summary = res.summary(by=BY)
    g = f.groupby(BY, observed=True)
    summary["max_jump_median"] = g["max_jump"].median().to_numpy()
    shift = (f["theta_ref"] - cfg.coef).abs().groupby([f[c] for c in BY], observed=True).median()
    summary["theta_ref_shift_median"] = shift.to_numpy()
    # Exact theory for the same datasets: a dataset diverges iff S(lr) > 0 on its (modified) x,
    # evaluated per trajectory on its own regenerated dataset at its own lr.
    pred = theory.trajectory_predictions(f, cfg)["predicted_diverges"]
    summary["theory_diverging_fraction"] = pred.groupby([f[c] for c in BY], observed=True).mean().to_numpy()
    title = (f"\nlr = {lr:g}, n = {n}, {cfg.epochs} epochs, "
             f"{len(cfg.axes['seed'])} datasets per cell: {cfg.n_trajectories:,} trajectories")
    fig1 = plots.heatmaps(summary, x="outlier_scale", y="outlier_frac", value="diverged_rate",
                          panel="outlier_kind", label="fraction of runs diverged",
                          title="Which outliers make SGD diverge?" + title)
    fig2 = plots.heatmaps(summary, x="outlier_scale", y="outlier_frac", value="max_jump_median",
                          panel="outlier_kind", fmt=".2g", label="median largest jump of theta (log)",
                          title="Which outliers make theta jump?" + title, cmap="magma", log=True)
    lev = summary[summary.outlier_kind == "leverage"]
    rsp = summary[summary.outlier_kind == "response"]
    clean = summary[summary.outlier_frac == 0.0]["max_jump_median"].median()
    agree = float(np.max(np.abs(summary["diverged_rate"] - summary["theory_diverging_fraction"])))
    lines, head = [], []
    if len(lev):
        worst = lev.loc[lev["diverged_rate"].idxmax()]
        lines.append(
            f"- Leverage outliers cause divergence: up to {worst['diverged_rate']:.1%} of runs diverge "
            f"(fraction {worst['outlier_frac']:g}, scale {worst['outlier_scale']:g}); one sample with "
            "2 lr (s x)^2 > 2 amplifies the error by |1 - 2 lr s^2 x^2| each epoch.\n")
        head.append(f"leverage up to {worst['diverged_rate']:.0%} diverged")
    if len(rsp):
        jump = rsp.loc[rsp["max_jump_median"].idxmax()]
        clean_text = f" against {clean:.3g} without outliers" if np.isfinite(clean) else ""
        lines.append(
            f"- Response outliers never make it diverge (largest diverged rate "
            f"{rsp['diverged_rate'].max():.1%}) but make theta jump: the median largest jump reaches "
            f"{jump['max_jump_median']:.3g} (fraction {jump['outlier_frac']:g}, scale "
            f"{jump['outlier_scale']:g}){clean_text}, and they move the least-squares fit itself.\n")
        head.append(f"response {rsp['diverged_rate'].max():.0%} diverged but jumps up to "
                    f"{jump['max_jump_median']:.3g}")
    report = (
        "Leverage outliers (x multiplied by the scale, still on the line y = "
        f"{cfg.coef:g}x) versus response outliers (y shifted by scale standard deviations of y), at "
        f"lr = {lr:g} with n = {n} samples.\n\n" + "".join(lines) +
        f"- Exact theory (S(lr) > 0 on each dataset's modified x, same datasets) versus the simulated "
        f"diverged rate: largest difference {agree:.3f} over all cells (runs that diverge slowly "
        f"may not cross the bound within {cfg.epochs} epochs).\n"
    )
    headline = "outliers: " + ", ".join(head)
    return Output(summary, {"outliers_divergence": fig1, "outliers_jumps": fig2}, report, headline)


STUDY = Study(
    name="outliers",
    question="Leverage versus response outliers: which make theta jump, which make it diverge.",
    declare=declare,
    analyse=analyse,
    axes={"seed": ANY, "outlier_kind": ANY, "outlier_frac": ANY, "outlier_scale": ANY,
          **{a: Axis(multi=False, why="each heatmap cell is one (fraction, scale) of one kind")
             for a in ("lr", "n_samples", "x_scale", "noise", "theta0")},
          "order": Axis(multi=False, values=("fixed", "shuffle"),
                        why="S decides divergence exactly for an epoch over the dataset in any order")},
    figures=("outliers_divergence", "outliers_jumps"),
)
