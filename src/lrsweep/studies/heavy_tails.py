"""Study ``heavy-tails``: heavy-tailed iterates with noise, fresh samples versus one dataset."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..config import SweepConfig
from .common import fmt
from .spec import ANY, Axis, Options, Output, Study, SweepSpec

if TYPE_CHECKING:
    from ..results import Results

SINGLE_DATA = Axis(multi=False, why="the one-dataset sweep draws its dataset from these values")


def declare(opts: Options) -> dict[str, SweepSpec]:
    from ..data import make_dataset

    q = opts.quick
    n_seeds = 2000 if q else 20000
    # 500 steps forget e_0 (by exp(500 L), L = -0.24 per step at lr 0.8): each seed gives one
    # stationary draw. The bound is 1e300 so that the tail itself is not cut off as "diverged".
    online = opts.config(n_samples=100, noise=1.0, order="online", lr=[0.2, 0.5, 0.8], seed=range(n_seeds),
                         epochs=5, diverge_factor=1e300, sign_floor=0.0)
    # One fixed noisy dataset (its own seed), many random sample orders: with replacement the
    # multipliers are i.i.d. over the dataset (a Kesten recursion again); shuffled epochs all
    # multiply e by the same constant, so the law is bounded.
    axes = online.axes
    (n,), (noise,), (x_scale,) = axes["n_samples"], axes["noise"], axes["x_scale"]
    ds = make_dataset(opts.seed + 1, n, noise=noise, x_scale=x_scale, coef=online.coef,
                      intercept=online.intercept)
    one = SweepConfig(data=(ds.x, ds.y), order=["shuffle", "replacement"], lr=axes["lr"], seed=axes["seed"],
                      theta0=axes["theta0"], **{s: getattr(online, s) for s in (
                          "epochs", "coef", "intercept", "tol", "diverge_factor", "sign_floor",
                          "oscillation_min")})
    return {"online": SweepSpec(online), "one_dataset": SweepSpec(one)}


def hill(v: np.ndarray, k: int) -> float:
    """Hill estimate of the tail index from the top ``k`` order statistics."""
    v = np.sort(v[np.isfinite(v) & (v > 0)])[::-1]
    if len(v) <= k:
        return float("nan")
    return float(1.0 / np.mean(np.log(v[:k] / v[k])))


def analyse(runs: dict[str, Results], opts: Options) -> Output:
    import pandas as pd

    from .. import plots, theory

    res, one = runs["online"], runs["one_dataset"]
    cfg = res.config
    x = one.config.user_data[0]
    lrs = list(cfg.axes["lr"])
    (x_scale,) = cfg.axes["x_scale"]
    (noise,) = cfg.axes["noise"]
    (n,) = cfg.axes["n_samples"]
    n_seeds = len(cfg.axes["seed"])
    ms, a_s = float(theory.ms_threshold(x_scale)), float(theory.as_threshold(x_scale))
    # The figure shows the learning rates with infinite variance (above the mean-square threshold),
    # where the tail is a power law within reach of the runs; all of them if none is.
    drawn = [lr for lr in lrs if lr > ms] or lrs
    k = max(50, n_seeds // 20)
    rows, values, slopes = [], {}, {}
    for source, frame in (("online", res.frame), ("shuffle", one.frame), ("replacement", one.frame)):
        for lr in lrs:
            sel = frame["lr"] == lr
            if source != "online":
                sel &= frame["order"] == source
            v = frame.loc[sel, "abs_error_final"].to_numpy()
            if source == "online":
                alpha = float(theory.tail_index(lr, x_scale))
            elif source == "replacement":
                alpha = float(theory.tail_index_dataset(x, lr))
            else:
                alpha = float("nan")
            rows.append({"order": source, "lr": lr, "runs": len(v),
                         "hill_alpha": hill(v, k) if source != "shuffle" else float("nan"),
                         "theory_alpha": alpha, "q99": float(np.quantile(v, 0.99)),
                         "max": float(v.max())})
            if lr in drawn:
                label = f"{source}, lr = {lr:g}"
                values[label] = v
                if source != "shuffle":
                    slopes[label] = alpha
    table = pd.DataFrame(rows)
    summary = res.summary(by=["order", "lr"]).merge(table, on=["order", "lr"], how="left")
    fig = plots.survival_loglog(
        values, slopes=slopes, xlabel="|theta_final - theta_ref|",
        title=(f"Tails of theta with noise (sd {noise:g}), {n_seeds:,} runs per curve, "
               f"{cfg.epochs} epochs of {n} steps:\nfresh samples (online), one dataset with replacement, "
               "one dataset shuffled"))
    md = "".join(f"| {r.order} | {r.lr:g} | {fmt(r.hill_alpha, 3)} | {fmt(r.theory_alpha, 3)} | "
                 f"{r.q99:.3g} | {r.max:.3g} |\n" for r in table.itertuples())
    report = (
        "Does per-sample SGD with noisy data have heavy-tailed iterates, and when?\n\n"
        "With fresh samples each step (order online) theta - theta_ref follows a random affine "
        "recursion e <- (1 - 2 lr x^2) e + 2 lr x noise; by Kesten's theorem its stationary law "
        "has a power tail P(|e| > t) ~ t^-alpha with E|1 - 2 lr X^2|^alpha = 1 (Gurbuzbalaban, "
        f"Simsekli and Zhu 2021), here X ~ N(0, {x_scale:g}^2) and noise sd {noise:g}. alpha = 2 at "
        f"lr = {ms:.4g} (the mean-square threshold): below it the variance is finite, above it "
        f"infinite, while the log of |e| still drifts down (its stationary law exists) up to the "
        f"almost-sure threshold lr = {a_s:.4g}. Sampling with replacement from one dataset gives the "
        "dataset's own index alpha_n ((1/n) sum_i |1 - 2 lr x_i^2|^alpha_n = 1). Shuffled epochs "
        "over one dataset all multiply e by the same constant prod_i (1 - 2 lr x_i^2), so the law "
        "is bounded: no power law in one dimension.\n\n"
        f"Hill estimates use the top {k} of {n_seeds:,} runs (where alpha is large the top "
        f"{k / n_seeds:.0%} is not yet in the power-law regime, so the Hill estimate is biased low).\n\n"
        "| order | lr | Hill alpha | theory alpha | 99 % quantile of abs(e) | max abs(e) |\n"
        "|---|---|---|---|---|---|\n" + md
    )
    on = table[table.order == "online"]
    headline = "heavy-tails: online Hill alpha " + ", ".join(
        f"lr {r.lr:g}: {r.hill_alpha:.2f} (theory {fmt(r.theory_alpha, 3)})" for r in on.itertuples())
    return Output(summary, {"tails": fig}, report, headline, {"tail_index": table})


STUDY = Study(
    name="heavy-tails",
    question="Heavy-tailed iterates with noise: fresh samples versus a fixed order.",
    declare=declare,
    analyse=analyse,
    axes={"lr": ANY, "seed": ANY, "theta0": Axis(multi=False),
          "n_samples": SINGLE_DATA, "x_scale": SINGLE_DATA, "noise": SINGLE_DATA},
    refused={
        "order": "the study sweeps the order itself: fresh samples (online), and one dataset with "
                 "shuffle and replacement",
        **{a: "the tail index theory is for Gaussian samples without outliers" for a in (
            "outlier_kind", "outlier_frac", "outlier_scale")},
    },
    figures=("tails",),
)
