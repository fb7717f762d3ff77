"""Study ``dataset-size``: how the divergence boundary moves with the dataset size n."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .common import datasets, unstable_summary
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


def critical_lrs(config: SweepConfig) -> pd.DataFrame:
    """Median and quartiles of the exact first critical lr of the datasets that ran, per n."""
    import pandas as pd

    from .. import theory

    crit = []
    for n in config.axes["n_samples"]:
        X = np.stack([ds.x for ds in datasets(config, config.axes["seed"], n_samples=n)])
        c = np.asarray(theory.critical_lr(X))
        crit.append({"n_samples": n, "median": np.median(c), "q25": np.quantile(c, 0.25),
                     "q75": np.quantile(c, 0.75), "source": "exact first root of S, per dataset"})
    return pd.DataFrame(crit)


def analyse(runs: dict[str, Results], opts: Options) -> Output:
    import pandas as pd

    from .. import plots, theory

    res = runs["runs"]
    cfg = res.config
    ns = list(cfg.axes["n_samples"])
    summary = unstable_summary(res, BY)
    summary["learning rate lr"] = summary["lr"].map(lambda v: f"{v:.2f}")
    summary["all"] = "noise-free, fixed order"
    fig1 = plots.heatmaps(summary, x="learning rate lr", y="n_samples", value="unstable_rate", panel="all",
                          label="fraction of runs unstable",
                          title=f"Divergence versus dataset size and lr: {cfg.n_trajectories:,} trajectories")
    crit = critical_lrs(cfg)
    (x_scale,) = cfg.axes["x_scale"]
    (theta0,) = cfg.axes["theta0"]
    a_s = float(theory.as_threshold(x_scale))
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
        f"log|1 - 2 lr x_i^2|, x ~ N(0, {x_scale:g}^2)); runs start at theta0 = {theta0:.3g} so that "
        f"the simulated verdict (growth over the last of {cfg.epochs} epochs) is exact.\n\n"
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
    return Output(summary, {"unstable_heatmap": fig1, "critical_lr_vs_n": fig2}, report, headline,
                  {"critical_lr": crit})


STUDY = Study(
    name="dataset-size",
    question="How the divergence boundary moves with the dataset size.",
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
