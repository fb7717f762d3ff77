"""Study ``heavy-tails``: heavy-tailed iterates with noise, fresh samples versus one dataset."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..config import SweepConfig
from .common import fmt
from .common import rate_interval as _pct
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


def analyse(runs: dict[str, Results], opts: Options) -> Output:
    import pandas as pd

    from .. import plots, theory
    from ..intervals import hill, median_interval

    res, one = runs["online"], runs["one_dataset"]
    cfg = res.config
    x, y = one.config.user_data
    lrs = list(cfg.axes["lr"])
    (x_scale,), (noise,), (n,), (theta0,) = (cfg.axes[a] for a in ("x_scale", "noise", "n_samples", "theta0"))
    n_seeds = len(cfg.axes["seed"])
    ms, a_s = float(theory.ms_threshold(x_scale)), float(theory.as_threshold(x_scale))
    ms_ds, as_ds = float(np.mean(x**2) / np.mean(x**4)), float(theory.critical_lr(x))
    theta_ref = float(np.dot(x, y) / np.dot(x, x))
    k = max(50, n_seeds // 20)
    rows, samples = [], []
    for source, frame in (("online", res.frame), ("replacement", one.frame), ("shuffle", one.frame)):
        for lr in lrs:
            sel = frame["lr"] == lr
            if source != "online":
                sel &= frame["order"] == source
            v = frame.loc[sel, "abs_error_final"].to_numpy(dtype=float)
            if source == "online":
                alpha, bound = float(theory.tail_index(lr, x_scale)), float("inf")
            elif source == "replacement":
                alpha, bound = float(theory.tail_index_dataset(x, lr)), float("inf")
            else:  # every epoch multiplies e by the same constant: a bounded law, no tail index
                alpha = float("nan")
                bound = float(theory.shuffle_error_bound(x, y, lr, e0=theta0 - theta_ref, epochs=cfg.epochs))
            h, h_se = hill(v, k) if source != "shuffle" else (float("nan"), float("nan"))
            lo, hi = median_interval(v)
            rows.append({"order": source, "lr": lr, "runs": len(v), "hill_alpha": h, "hill_alpha_se": h_se,
                         "theory_alpha": alpha,
                         "hill_deviation_se": (h - alpha) / h_se if h_se > 0 else np.nan,
                         "abs_error_median": float(np.median(v)), "abs_error_median_lo": lo,
                         "abs_error_median_hi": hi, "max_abs_error": float(v.max()), "bound": bound})
            samples.append(pd.DataFrame({"order": source, "lr": f"{lr:g}", "abs_error": v}))
    table = pd.DataFrame(rows)
    summary = pd.concat([res.summary(by=["order", "lr"]), one.summary(by=["order", "lr"])], ignore_index=True)
    summary["order"] = summary["order"].astype(str)
    summary = summary.merge(table, on=["order", "lr"], how="left")
    drawn = pd.concat(samples, ignore_index=True)
    slopes = table[table["order"] != "shuffle"].assign(lr=lambda t: t["lr"].map(lambda v: f"{v:g}"))
    bounds = table[table["order"] == "shuffle"].assign(lr=lambda t: t["lr"].map(lambda v: f"{v:g}"))
    fig = plots.survival_loglog(
        drawn, value="abs_error", hue="order", panel="lr", slopes=slopes[["order", "lr", "theory_alpha"]]
        .rename(columns={"theory_alpha": "alpha"}), top_k=k, bounds=bounds[["order", "lr", "bound"]],
        xlabel="|theta_final - theta_ref|",
        title=("Power tails with the predicted index for fresh samples (online) and resampling "
               "(replacement); a bounded law for shuffled epochs\n"
               f"(noise sd {noise:g}, x ~ N(0, {x_scale:g}^2), {n_seeds:,} runs of {cfg.epochs} epochs of "
               f"{n} steps per curve)"))
    md = "".join(
        f"| {r.order} | {r.lr:g} | {_fmt_pm(r.hill_alpha, r.hill_alpha_se)} | {_alpha(r.theory_alpha)} | "
        f"{fmt(r.hill_deviation_se, 2)} | {r.abs_error_median:.3g} [{r.abs_error_median_lo:.3g}, "
        f"{r.abs_error_median_hi:.3g}] | {r.max_abs_error:.3g} | "
        f"{'unbounded' if r.bound == np.inf else fmt(r.bound, 3)} |\n"
        for r in table.itertuples())
    st = "".join(
        f"| {r['order']} | {r['lr']:g} | {_pct(r, 'noise_floor')} | {_pct(r, 'oscillating')} | "
        f"{_pct(r, 'growing')} | {_pct(r, 'converged')} |\n"
        for _, r in summary.sort_values(["order", "lr"]).iterrows())
    below = [lr for lr in lrs if lr < ms]
    above = [lr for lr in lrs if ms <= lr < a_s]
    report = (
        "With fresh samples each step (order online) theta - theta_ref follows a random affine "
        "recursion e <- (1 - 2 lr x^2) e + 2 lr x noise. The iterates do not converge to a point: "
        "below the almost-sure threshold they converge *in distribution* to a stationary law, which "
        "by Kesten's theorem has a power tail P(|e| > t) ~ t^-alpha with E|1 - 2 lr X^2|^alpha = 1 "
        f"(Gurbuzbalaban, Simsekli and Zhu 2021), here X ~ N(0, {x_scale:g}^2) and noise sd {noise:g}. "
        f"alpha = 2 at lr = {ms:.4g} (the mean-square threshold): below it the stationary variance is "
        "finite (study noise-floor), above it infinite, but the stationary law exists up to the "
        f"almost-sure threshold lr = {a_s:.4g}, where E log|1 - 2 lr X^2| = 0. Sampling with "
        f"replacement from one dataset (n = {n}, dataset seed {opts.seed + 1}) gives the dataset's own "
        "index alpha_n ((1/n) sum_i |1 - 2 lr x_i^2|^alpha_n = 1; inf where every |1 - 2 lr x_i^2| <= 1, "
        f"a bounded law), with thresholds mean(x^2)/mean(x^4) = {ms_ds:.4g} (mean square) and the "
        f"dataset's critical lr {as_ds:.4g} (almost sure). Shuffled epochs over the same dataset all "
        "multiply e by the same constant prod_i (1 - 2 lr x_i^2), so the law is bounded: no power law in "
        "one dimension; `theory.shuffle_error_bound` bounds |e| at the end of the last epoch (the noise "
        "term of an epoch maximised over every sample order, plus the contracted e_0).\n\n"
        f"Each curve is {n_seeds:,} runs (seeds {cfg.axes['seed'][0]}-{cfg.axes['seed'][-1]}: the online "
        f"streams and the sample orders) of {cfg.epochs * n} steps from theta0 = {theta0:g}, which forget "
        "e_0 at these learning rates: each run gives one draw of the stationary law. Hill estimates use "
        f"the top k = {k} of the {n_seeds:,} runs (`intervals.hill`; standard error alpha / sqrt(k)); "
        "where alpha is large the top "
        f"{k / n_seeds:.0%} is not yet in the power-law regime and the estimate is biased low, by more "
        "than its standard error: the deviation column says how many.\n\n"
        "| order | lr | Hill alpha +- SE | theory alpha | deviation (SE) | median abs(e) [95 %] | "
        "max abs(e) | bound |\n|---|---|---|---|---|---|---|---|\n" + md +
        "\n**Statuses.** With noise `converged` (|e| within tol of |e_0| over the whole last epoch) "
        "cannot happen at these learning rates, and `oscillating` (which the earlier statuses gave "
        "92-99 % of these runs) described no oscillation: the runs are stationary. `noise_floor` says "
        "the RMS of e over the "
        f"last epoch is at most {cfg.noise_factor:g} times the stationary RMS error sqrt(v) of the run's "
        "data (`noise_rms`: the mean-square fixed point, finite only below the mean-square threshold). "
        "Above it no finite floor exists, and `oscillating` / `growing` only say whether |e| fell or rose "
        "over the last epoch (censored: the budget cannot decide the fate of a run that converges in "
        "distribution). Rates with Wilson 95 % intervals:\n\n"
        "| order | lr | noise_floor | oscillating | growing | converged |\n|---|---|---|---|---|---|\n" + st +
        "\n"
        + (f"Below the mean-square threshold (lr {', '.join(f'{v:g}' for v in below)}) the runs sit at their "
           "noise floor; " if below else "")
        + (f"above it (lr {', '.join(f'{v:g}' for v in above)}) they split about evenly between oscillating "
           "and growing, which says nothing about them: their median and tail index do." if above else "")
        + " Shuffled epochs have a bounded law, with finite variance at every lr below the dataset's "
        "critical lr, but `noise_rms` is the with-replacement value (infinite from lr "
        f"{ms_ds:.4g} on), so above that lr the status cannot certify shuffled runs either.\n"
    )
    on = table[table.order == "online"]
    fin = on[np.isfinite(on["theory_alpha"]) & (on["theory_alpha"] <= 2)]
    pick = fin if len(fin) else on
    rep_rows, sh_rows = table[table.order == "replacement"], table[table.order == "shuffle"]
    rep_top = next(rep_rows[rep_rows["lr"] == rep_rows["lr"].max()].itertuples(), None)
    sh_top = next(sh_rows[sh_rows["lr"] == sh_rows["lr"].max()].itertuples(), None)
    answer = (
        "Yes where the variance is infinite: with fresh samples the Hill index of |theta - theta_ref| "
        "matches E|1 - 2 lr X^2|^alpha = 1, "
        + ", ".join(f"{r.hill_alpha:.2f} +- {r.hill_alpha_se:.2f}" + (" (standard error)" if i == 0 else "")
                    + f" against {r.theory_alpha:.2f} at lr {r.lr:g}"
                    for i, r in enumerate(pick.itertuples()))
        + "; sampling with replacement follows the dataset's own index"
        + (f" ({rep_top.hill_alpha:.2f} +- {rep_top.hill_alpha_se:.2f} against {rep_top.theory_alpha:.2f} "
           f"at lr {rep_top.lr:g})" if rep_top is not None else "")
        + " and shuffled epochs stay bounded"
        + (f" (largest |e| {sh_top.max_abs_error:.3g} of {n_seeds:,} runs against the bound "
           f"{sh_top.bound:.3g} at lr {sh_top.lr:g})" if sh_top is not None else "") + "."
    )
    headline = "heavy-tails: online Hill alpha " + ", ".join(
        f"lr {r.lr:g}: {r.hill_alpha:.2f} +- {r.hill_alpha_se:.2f} (theory {fmt(r.theory_alpha, 3)})"
        for r in on.itertuples())
    return Output(summary, {"tails": fig}, report, headline, {"tail_index": table}, answer=answer)


def _fmt_pm(v: float, se: float) -> str:
    return "nan" if not np.isfinite(v) else f"{v:.3g} +- {se:.2g}"


def _alpha(a: float) -> str:
    return "inf (bounded)" if a == np.inf else fmt(a, 3)


STUDY = Study(
    name="heavy-tails",
    question=("Do the iterates of per-sample SGD on noisy data have power tails with the index Kesten's "
              "theorem predicts, for fresh samples, for resampling one dataset and for shuffled epochs?"),
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
