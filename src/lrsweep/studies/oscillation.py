"""Study ``oscillation``: overshoots of the solution per epoch versus lr, against n P(2 lr X^2 > 1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .common import column_or_value, datasets
from .common import rate_interval as _pct
from .spec import ANY, SINGLE, Options, Output, Study, SweepSpec

if TYPE_CHECKING:
    import pandas as pd

    from ..config import SweepConfig
    from ..results import Results

#: Learning rates quoted in the report (the nearest that ran): the seed's fast lr and three larger ones.
PICKS = (0.04, 0.25, 0.5, 1.0)
#: Learning rates of the status table (the nearest that ran): where the statuses split.
STATUS_PICKS = (0.04, 0.5, 0.83, 0.94, 1.06, 1.2)


def declare(opts: Options) -> dict[str, SweepSpec]:
    q = opts.quick
    cfg = opts.config(lr=np.geomspace(0.01, 1.2, 12 if q else 40), seed=range(100 if q else 10_000),
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


def _nearest(table: pd.DataFrame, values: tuple[float, ...]) -> pd.DataFrame:
    lrs = table["lr"].to_numpy()
    idx = list(dict.fromkeys(int(np.argmin(np.abs(lrs - v))) for v in values))
    return table.iloc[idx]


def analyse(runs: dict[str, Results], opts: Options) -> Output:
    import pandas as pd

    from .. import plots, theory
    from ..intervals import mean_and_se, wilson_interval

    res = runs["runs"]
    cfg = res.config
    (n,), (x_scale,), (theta0,), (order,) = (cfg.axes[a] for a in ("n_samples", "x_scale", "theta0", "order"))
    # The exact per-dataset theory, vectorised over the stack of datasets (one row per seed): the
    # overshooting steps #(2 lr x_i^2 > 1) per epoch (for online: of the whole stream, which the
    # sweep generates as one dataset of epochs * n samples) and S(lr) (its sign: unstable or not).
    seeds = list(cfg.axes["seed"])
    xs = np.stack([d.x for d in datasets(cfg, seeds)])
    lrs = np.asarray(cfg.axes["lr"], dtype=float)
    exact_count = np.asarray(theory.overshoot_count(xs, lrs)) * (1 if order == "online" else cfg.epochs)
    exact_s = np.asarray(theory.epoch_log_multiplier(xs, lrs))  # (seed, lr)
    f = res.frame
    at = (pd.Index(seeds).get_indexer(f["seed"]), pd.Index(lrs).get_indexer(f["lr"]))
    f = f.assign(per_epoch=f["sign_changes"] / cfg.epochs, exact_sign_changes=exact_count[at],
                 exact_unstable=exact_s[at] > 0)
    kept = f["status"] != "diverged"
    rows = []
    for lr, g in f.groupby("lr", sort=True):
        k = g[g["status"] != "diverged"]
        mean, se = mean_and_se(k["per_epoch"].to_numpy(dtype=float))
        # every dataset, also those whose run left the bound, by its exact count
        all_mean, all_se = mean_and_se(g["exact_sign_changes"].to_numpy(dtype=float) / cfg.epochs)
        unstable = g["exact_unstable"].to_numpy()
        sim_unstable = g["status"].isin(["growing", "diverged"]).to_numpy()
        rows.append({"lr": float(lr), "runs": len(k), "left_out_diverged": len(g) - len(k),
                     "overshoots_mean": mean, "overshoots_mean_se": se,
                     "exact_all_mean": all_mean, "exact_all_mean_se": all_se,
                     "n_unstable_exact": int(unstable.sum()),
                     "n_status_vs_exact_mismatch": int(np.sum(unstable != sim_unstable))})
    per_lr = pd.DataFrame(rows)
    per_lr["predicted"] = predicted_overshoots(per_lr, cfg)
    per_lr["deviation_se"] = (per_lr["overshoots_mean"] - per_lr["predicted"]) / per_lr["overshoots_mean_se"]
    per_lr["exact_all_deviation_se"] = ((per_lr["exact_all_mean"] - per_lr["predicted"])
                                        / per_lr["exact_all_mean_se"])
    n_all = per_lr["runs"] + per_lr["left_out_diverged"]
    per_lr["unstable_exact_rate"] = per_lr["n_unstable_exact"] / n_all
    per_lr["unstable_exact_lo"], per_lr["unstable_exact_hi"] = wilson_interval(
        per_lr["n_unstable_exact"].to_numpy(), n_all.to_numpy())
    summary = res.summary(by=["lr"]).merge(per_lr.drop(columns="predicted"), on="lr", how="left")
    # The theory for every lr, also where every run diverged (no simulated mean there).
    summary["predicted"] = predicted_overshoots(summary, cfg)
    exact_ok = order in ("fixed", "shuffle", "online")
    mismatched = int(((f["sign_changes"] != f["exact_sign_changes"]) & kept).sum())
    ms, a_s = float(theory.ms_threshold(x_scale)), float(theory.as_threshold(x_scale))
    fig = plots.oscillation_curve(
        per_lr.rename(columns={"overshoots_mean": "mean", "overshoots_mean_se": "mean_se",
                               "left_out_diverged": "left_out"}),
        thresholds={"mean-square": ms, "almost-sure": a_s},
        title=(f"Overshoots per epoch follow n P(2 lr X^2 > 1) at every lr\n({len(cfg.axes['lr'])} lr x "
               f"{len(cfg.axes['seed']):,} datasets of n = {n}, noise-free, order {order})"))
    zero = per_lr[per_lr["overshoots_mean"] == 0]
    fin = per_lr[np.isfinite(per_lr["deviation_se"]) & (per_lr["left_out_diverged"] == 0)]
    worst = fin.loc[fin["deviation_se"].abs().idxmax()] if len(fin) else None
    cut = per_lr[per_lr["left_out_diverged"] > 0]
    rows_md = "".join(
        f"| {r.lr:.3g} | {r.overshoots_mean:.4f} +- {r.overshoots_mean_se:.2g} | {r.predicted:.4f} | "
        f"{r.deviation_se:+.2f} | {r.runs} |\n" for r in _nearest(per_lr, PICKS).itertuples())
    st = _nearest(summary, STATUS_PICKS)
    status_md = "".join(
        f"| {r['lr']:.3g} | {_pct(r, 'converged')} | {_pct(r, 'oscillating')} | {_pct(r, 'slow')} | "
        f"{_pct(r, 'growing')} | {_pct(r, 'diverged')} | {_pct(r, 'unstable_exact')} |\n"
        for _, r in st.iterrows())
    low, high = _nearest(per_lr, (PICKS[0],)).iloc[0], _nearest(per_lr, (PICKS[-1],)).iloc[0]
    mid = _nearest(per_lr, (0.5,)).iloc[0]
    mean_x2 = float(np.mean(xs**2))
    se_x2 = float(np.std(xs**2, ddof=1) / np.sqrt(xs.size))
    report = (
        "A step overshoots theta_ref (e changes sign) exactly when 2 lr x^2 > 1, so the expected "
        f"number of overshoots per epoch of n = {n} Gaussian samples (x ~ N(0, {x_scale:g}^2)) is "
        f"n P(2 lr X^2 > 1) = n erfc(1 / (2 sqrt(lr) {x_scale:g})), a population value. Runs (order "
        f"{order}, noise-free, {cfg.epochs} epochs, seeds {cfg.axes['seed'][0]}-{cfg.axes['seed'][-1]}) "
        f"start at theta0 = {theta0:.3g} with a sign floor of {cfg.sign_floor:g} and a bound of "
        f"{cfg.diverge_factor:g} |e_0| so that every overshoot is counted (the error dynamics are linear, "
        "and from theta0 = -1 five epochs of contraction would sink e into float64's rounding noise); "
        f"runs that still left the bound ({int(per_lr['left_out_diverged'].sum())} in all, at the largest "
        "lr: the most unstable datasets, which have more large x, so the mean there is biased low) are "
        "left out of the means"
        + (f"; at lr {', '.join(f'{v:.3g}' for v in per_lr.loc[per_lr['runs'] == 0, 'lr'])} every run left "
           "it: no estimate there" if (per_lr["runs"] == 0).any() else "")
        + ". Each mean carries its standard error over the datasets.\n\n"
        "| lr | overshoots per epoch (simulated mean +- SE) | theory | deviation (SE) | runs |\n"
        "|---|---|---|---|---|\n" + rows_md +
        "\n"
        + (f"Largest deviation over the {len(fin)} learning rates where some run overshoots and none left "
           f"the bound: {worst['deviation_se']:+.2f} standard errors at lr {worst['lr']:.3g}. "
           if worst is not None else "")
        + (f"At the {len(zero)} smallest lr ({zero['lr'].min():.3g} to {zero['lr'].max():.3g}) no run "
           f"overshot at all: the mean is below about 3 / {int(zero['runs'].min()):,} per epoch (theory "
           f"at most {zero['predicted'].max():.2g}). " if len(zero) else "")
        + (f"Where runs left the bound (lr {cut['lr'].min():.3g} to {cut['lr'].max():.3g}) the remaining "
           f"runs undercount: at lr {cut['lr'].max():.3g} {cut.iloc[-1]['deviation_se']:+.2f} standard "
           f"errors with {int(cut.iloc[-1]['left_out_diverged'])} runs left out, while the exact counts of "
           f"all {int(cut.iloc[-1]['runs'] + cut.iloc[-1]['left_out_diverged']):,} datasets give "
           f"{cut.iloc[-1]['exact_all_mean']:.4f} +- {cut.iloc[-1]['exact_all_mean_se']:.2g} "
           f"({cut.iloc[-1]['exact_all_deviation_se']:+.2f} standard errors). " if len(cut) else "")
        + "The same datasets serve every lr, so the deviations are correlated along the curve: they "
        f"move together with the datasets' pooled mean of x^2, {mean_x2:.4f} +- {se_x2:.4f} (population "
        f"{x_scale**2:g}). Per run the count is exact: "
        + (f"the simulated sign changes equal epochs x #(2 lr x_i^2 > 1) of the run's own dataset "
           f"(`theory.overshoot_count`) for {int(kept.sum()) - mismatched:,} of the {int(kept.sum()):,} runs "
           "that stayed in the bound. " if exact_ok else "with replacement only its expectation is. ")
        + f"At lr {low['lr']:.3g} {low['overshoots_mean'] / n:.2%} of the steps overshoot (theta "
        f"approaches theta_ref from one side), at lr {mid['lr']:.3g} {mid['overshoots_mean'] / n:.1%} "
        f"and at lr {high['lr']:.3g} {high['overshoots_mean'] / n:.1%}.\n\n"
        "**Statuses.** Without noise the runs can only converge (geometrically, while overshooting or "
        "not) or grow: there is no noise ball (noise_floor never applies: `noise_rms` is 0) and no limit "
        "cycle (every epoch multiplies e by the same constant). `oscillating` (at least one sign change "
        "in the last epoch, |e| not larger than an epoch before, not yet within tol = "
        f"{cfg.tol:g} of |e_0|) is a stable run that ran out of budget while overshooting; `growing` "
        "(|e| grew over the last epoch, still in the bound) and `diverged` (left it) are the unstable "
        "datasets. Simulated statuses (Wilson 95 % intervals) against the exact verdict of each "
        "dataset, S(lr) = sum_i log|1 - 2 lr x_i^2| > 0:\n\n"
        "| lr | converged | oscillating | slow | growing | diverged | exact: S > 0 |\n"
        "|---|---|---|---|---|---|---|\n" + status_md +
        f"\ngrowing or diverged equals S > 0 for "
        f"{int(n_all.sum()) - int(per_lr['n_status_vs_exact_mismatch'].sum()):,} of {int(n_all.sum()):,} "
        "runs. "
        "oscillating, slow and growing are censored (`censored_rate` in summary.csv): the budget did "
        "not decide them; the exact verdict does.\n"
    )
    pick_mid = _nearest(per_lr, (0.5,)).iloc[0]
    answer = (
        f"It overshoots n P(2 lr X^2 > 1) times per epoch: at lr {pick_mid['lr']:.3g} "
        f"{pick_mid['overshoots_mean']:.2f} +- {pick_mid['overshoots_mean_se']:.2f} (standard error) "
        f"against the theory {pick_mid['predicted']:.2f}, "
        + (f"within {abs(worst['deviation_se']):.1f} standard errors at each of the {len(fin)} learning "
           f"rates from {fin['lr'].min():.3g} to {fin['lr'].max():.3g} where some run overshoots and none "
           "left the bound" if worst is not None else "")
        + f", and at lr {low['lr']:.3g} only {low['overshoots_mean']:.3f} +- "
        f"{low['overshoots_mean_se']:.3f} (theory {low['predicted']:.3f})."
    )
    headline = "oscillation: overshoots per epoch " + ", ".join(
        f"lr {r.lr:.3g}: {r.overshoots_mean:.2f} +- {r.overshoots_mean_se:.2f} (theory {r.predicted:.2f})"
        for r in _nearest(per_lr, PICKS).itertuples())
    return Output(summary, {"overshoots_per_epoch": fig}, report, headline, answer=answer)


STUDY = Study(
    name="oscillation",
    question="How many times per epoch does per-sample SGD overshoot the solution, as a function of lr?",
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
