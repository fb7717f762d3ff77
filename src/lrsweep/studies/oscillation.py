"""Study ``oscillation``: overshoots of the solution per epoch versus lr, against n P(2 lr X^2 > 1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .common import column_or_value
from .spec import ANY, SINGLE, Options, Output, Study, SweepSpec

if TYPE_CHECKING:
    import pandas as pd

    from ..config import SweepConfig
    from ..results import Results

#: Learning rates quoted in the report (the nearest that ran): the seed's fast lr and three larger ones.
PICKS = (0.04, 0.25, 0.5, 1.0)


def declare(opts: Options) -> dict[str, SweepSpec]:
    q = opts.quick
    cfg = opts.config(lr=np.geomspace(0.01, 1.2, 12 if q else 40), seed=range(100 if q else 1000),
                      n_samples=100, epochs=5,
                      # Count every overshoot exactly: start far out (the error dynamics are
                      # linear) so that 5 epochs of contraction (down to ~e^-250) stay far above
                      # the rounding floor near theta_ref, with no floor and a bound of 1e300.
                      theta0=-1e250, diverge_factor=1e50, sign_floor=0.0)
    return {"runs": SweepSpec(cfg)}


def predicted_overshoots(frame: pd.DataFrame, config: SweepConfig) -> np.ndarray:
    """``n P(2 lr X^2 > 1)`` per row of ``frame``, at the row's lr, n and x_scale.

    ``P(2 lr X^2 > 1) = P(|X| > 1 / sqrt(2 lr)) = erfc(1 / (2 sqrt(lr) s))`` for
    ``X ~ N(0, s^2)``: the expected number of steps per epoch whose multiplier
    ``1 - 2 lr x^2`` is negative.
    """
    from scipy.special import erfc

    n = column_or_value(frame, config, "n_samples")
    x_scale = column_or_value(frame, config, "x_scale")
    return n * erfc(1.0 / (2.0 * np.sqrt(frame["lr"]) * x_scale))


def analyse(runs: dict[str, Results], opts: Options) -> Output:
    import pandas as pd

    from .. import plots

    res = runs["runs"]
    cfg = res.config
    (n,) = cfg.axes["n_samples"]
    (x_scale,) = cfg.axes["x_scale"]
    (theta0,) = cfg.axes["theta0"]
    f = res.frame.assign(per_epoch=lambda d: d["sign_changes"] / cfg.epochs)
    f = f[f["status"] != "diverged"]
    g = f.groupby("lr")["per_epoch"]
    per_lr = pd.DataFrame({"mean": g.mean(), "q25": g.quantile(0.25), "q75": g.quantile(0.75),
                           "runs": g.size()}).reset_index()
    per_lr["predicted"] = predicted_overshoots(per_lr, cfg)
    summary = res.summary(by=["lr"]).merge(per_lr.drop(columns="predicted"), on="lr", how="left")
    # The theory for every lr, also where every run diverged (no simulated mean there).
    summary["predicted"] = predicted_overshoots(summary, cfg)
    fig = plots.oscillation_curve(
        per_lr, title=(f"Overshoots per epoch: {len(cfg.axes['lr'])} lr x {len(cfg.axes['seed'])} datasets "
                       f"of n = {n} = {cfg.n_trajectories:,} trajectories, noise-free"))
    picks = [per_lr.iloc[(per_lr["lr"] - v).abs().argmin()] for v in PICKS]
    picks = [p for i, p in enumerate(picks) if all(p["lr"] != q["lr"] for q in picks[:i])]
    rows = "".join(f"| {r['lr']:.3g} | {r['mean']:.3f} | {r['predicted']:.3f} | {int(r['runs'])} |\n"
                   for r in picks)
    rel = float(np.max(np.abs(per_lr["mean"] - per_lr["predicted"]) / np.maximum(per_lr["predicted"], 1.0)))
    low, high = picks[0], picks[-1]
    report = (
        "How often does per-sample SGD overshoot the solution, as a function of lr?\n\n"
        "A step overshoots theta_ref (e changes sign) exactly when 2 lr x^2 > 1, so the expected "
        f"number of overshoots per epoch of n = {n} Gaussian samples (x ~ N(0, {x_scale:g}^2)) is "
        f"n P(2 lr X^2 > 1) = n erfc(1 / (2 sqrt(lr) {x_scale:g})). Runs start at theta0 = {theta0:.3g} "
        f"with a sign floor of {cfg.sign_floor:g} and a bound of {cfg.diverge_factor:g} |e_0| so that every "
        "overshoot is counted (the error dynamics are linear, and from theta0 = -1 five epochs of "
        "contraction would sink e into float64's rounding noise); runs that still diverged are left out. "
        "The prediction is the population mean; the simulated mean is over the same datasets for every "
        "lr, so its deviations are correlated along the curve.\n\n"
        "| lr | overshoots per epoch (simulated mean) | theory | runs |\n|---|---|---|---|\n" + rows +
        f"\nLargest deviation over the grid: {rel:.3f} overshoots per epoch relative to "
        f"max(prediction, 1). At lr {low['lr']:.3g} {low['mean'] / n:.2%} of the steps overshoot "
        f"(theta approaches theta_ref from one side); at lr {high['lr']:.3g}, {high['mean'] / n:.1%}.\n"
    )
    headline = "oscillation: overshoots per epoch " + ", ".join(
        f"lr {r['lr']:.3g}: {r['mean']:.2f} (theory {r['predicted']:.2f})" for r in picks)
    return Output(summary, {"overshoots_per_epoch": fig}, report, headline)


STUDY = Study(
    name="oscillation",
    question="Overshoots of the solution per epoch versus lr, against n P(2 lr X^2 > 1).",
    declare=declare,
    analyse=analyse,
    axes={"lr": ANY, "seed": ANY, "n_samples": SINGLE, "x_scale": SINGLE, "order": SINGLE, "theta0": SINGLE},
    refused={
        "noise": "with noise the recursion is affine and a sign change of theta - theta_ref is not an "
                 "overshoot, so n P(2 lr X^2 > 1) no longer counts them",
        **{a: "outliers change the law of x (leverage) or make the recursion affine (response): "
              "n P(2 lr X^2 > 1) is for Gaussian samples" for a in ("outlier_kind", "outlier_frac",
                                                                      "outlier_scale")},
    },
    figures=("overshoots_per_epoch",),
)
