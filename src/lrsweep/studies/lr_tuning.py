"""Study ``lr-tuning``: the seed's lr 0.01 versus 0.04 and a fine lr grid, speed versus stability."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .common import fmt
from .spec import ANY, SINGLE, Options, Output, Study, SweepSpec

if TYPE_CHECKING:
    from ..results import Results

#: The lecture's two learning rates and three larger ones, run on the seed's own data.
DEMO_LRS = (0.01, 0.04, 0.2, 0.5, 1.0)
#: The lecture's slow and fast learning rates, compared over many datasets.
LECTURE_SLOW, LECTURE_FAST = 0.01, 0.04


def declare(opts: Options) -> dict[str, SweepSpec]:
    q = opts.quick
    grid = opts.config(lr=np.geomspace(1e-3, 2.0, 20 if q else 60), seed=range(100 if q else 1000),
                       n_samples=100, epochs=5)
    # The seed's own data: the lecture's generator, one dataset (the grid's first seed).
    sets = {k: v for k, v in opts.sets.items() if k != "seed"}
    demo = Options(opts.quick, 0, sets).config(lr=list(DEMO_LRS), seed=grid.axes["seed"][0], data="lecture",
                                               n_samples=100, epochs=5)
    return {"grid": SweepSpec(grid), "demo": SweepSpec(demo, record="all")}


def analyse(runs: dict[str, Results], opts: Options) -> Output:
    from .. import plots

    res, demo = runs["grid"], runs["demo"]
    cfg, dcfg = res.config, demo.config
    summary = res.summary(by=["lr"])
    conv = summary[summary["converged_rate"] >= 0.5]
    best = conv.loc[conv["converged_step_median"].idxmin()] if len(conv) else None
    d = demo.frame.set_index("lr")
    fast = summary.iloc[(summary["lr"] - LECTURE_FAST).abs().argmin()]
    slow = summary.iloc[(summary["lr"] - LECTURE_SLOW).abs().argmin()]
    demo_lrs = list(dcfg.axes["lr"])
    n_demo = dcfg.axes["n_samples"][0]
    (n_grid,) = cfg.axes["n_samples"]
    fig1 = plots.lr_comparison(
        demo.records, demo.frame, theta_ref=float(demo.frame["theta_ref"].iloc[0]),
        title=f"The seed's data ({n_demo} samples, y = {dcfg.coef:g}x), theta0 = {dcfg.axes['theta0'][0]:g}: "
              f"{len(demo_lrs)} learning rates, one trajectory each")
    fig2 = plots.speed_vs_stability(
        summary, title=f"Speed versus stability: {len(cfg.axes['lr'])} lr x {len(cfg.axes['seed'])} "
                       f"datasets of n = {n_grid} = {cfg.n_trajectories:,} trajectories, {cfg.epochs} epochs")
    rows = "".join(
        f"| {lr:g} | {d.loc[lr, 'status']} | {d.loc[lr, 'converged_step']} | {d.loc[lr, 'sign_changes']} | "
        f"{fmt(d.loc[lr, 'max_jump'], 3)} |\n" for lr in demo_lrs)
    # Where most runs are still slow after the budget: the lr below which it is too short.
    slow_rows = summary[summary["slow_rate"] > 0.5]
    budget = (f"below lr ~ {slow_rows['lr'].max():.3g} {cfg.epochs} epochs are not enough (most runs are "
              "slow). " if len(slow_rows) else "")
    report = (
        "How much faster is a larger learning rate, and what does it cost in stability?\n\n"
        f"On the seed's own data (the lecture's generator, seed {dcfg.axes['seed'][0]}, "
        f"{n_demo} samples):\n\n"
        "| lr | status | converged_step | sign changes (overshoots) | largest single jump of theta |\n"
        "|---|---|---|---|---|\n" + rows +
        f"\nOver {len(cfg.axes['seed'])} Gaussian datasets of {n_grid} samples: at lr = {fast['lr']:.3g} the "
        f"median steps to converge is {fmt(fast['converged_step_median'])} (quartiles "
        f"{fmt(fast['converged_step_q25'])}-{fmt(fast['converged_step_q75'])}) against "
        f"{fmt(slow['converged_step_median'])} at lr = {slow['lr']:.3g}; "
        + (f"the fastest median convergence, {fmt(best['converged_step_median'])} steps, is at "
           f"lr = {best['lr']:.3g}, where {best['converged_rate']:.1%} of runs converge and "
           f"{best['diverged_rate']:.1%} diverge. " if best is not None else "")
        + "Beyond it runs overshoot (oscillating) and then diverge; " + budget + "\n"
    )
    headline = (f"lr-tuning: median steps to converge {fmt(slow['converged_step_median'])} at lr "
                f"{slow['lr']:.3g} vs {fmt(fast['converged_step_median'])} at lr {fast['lr']:.3g}"
                + (f"; fastest at lr {best['lr']:.3g}" if best is not None else ""))
    tables = {"seed_data_runs": demo.frame.reset_index(drop=True)}
    return Output(summary, {"lr_comparison": fig1, "speed_vs_stability": fig2}, report, headline, tables)


STUDY = Study(
    name="lr-tuning",
    question="The seed's lr 0.01 versus 0.04 and a fine lr grid: speed versus stability.",
    declare=declare,
    analyse=analyse,
    axes={"lr": ANY, "seed": ANY, **dict.fromkeys(
        ("n_samples", "x_scale", "noise", "outlier_kind", "outlier_frac", "outlier_scale", "order", "theta0"),
        SINGLE)},
    figures=("lr_comparison", "speed_vs_stability"),
)
