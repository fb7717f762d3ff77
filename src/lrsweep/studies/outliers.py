"""Study ``outliers``: leverage versus response outliers, which make theta jump, which make it diverge."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .common import (
    add_median,
    add_rate,
    column_or_value,
    datasets,
    exact_log_multiplier,
    percent,
    verdict_summary,
)
from .spec import ANY, Axis, Options, Output, Study, SweepSpec

if TYPE_CHECKING:
    import pandas as pd

    from ..config import SweepConfig
    from ..results import Results

BY = ["outlier_kind", "outlier_frac", "outlier_scale"]
#: The lr sweep's summary groups: one curve per outlier case.
SWEEP_BY = [*BY, "lr"]
#: Datasets per case whose diverging intervals are drawn, and lr points of the dense exact curve.
SHOWN_DATASETS, DENSE_LRS = 25, 400


def shown_datasets(opts: Options) -> int:
    """Datasets per case whose diverging intervals the lr sweep's figure draws (each costs a root search)."""
    return 8 if opts.quick else SHOWN_DATASETS


def declare(opts: Options) -> dict[str, SweepSpec]:
    q = opts.quick
    seeds = range(40 if q else 400)
    grid = opts.config(lr=0.04, seed=seeds, n_samples=100, epochs=20,
                       outlier_kind=["leverage", "response"], outlier_frac=[0.0, 0.01, 0.02, 0.05, 0.1],
                       outlier_scale=[2.0, 3.0, 5.0, 10.0])
    # The same kind of datasets (n, epochs, seeds) over a wide lr range, with large leverage outliers:
    # their diverging set of learning rates is not an interval above a threshold. Started at
    # |e_0| = 1e100 with the bound at 1e150 |e_0|: one outlier step multiplies e by up to 2 lr (s x)^2,
    # so from theta0 = -1 a stable dataset's transient excursion can leave a bound of 1e6 |e_0|. The
    # floor, 1e-100 |e_0| (|e| = 1), stops measuring the growth of a run that has decayed by 100
    # decades, long before theta's rounding (|e| ~ 1e-15, where e forgets its past; reached in 20
    # epochs at S ~ -14 per epoch) and far below the swings of log|e| near the threshold (~ e^+-50
    # over 2,000 steps). The error dynamics are linear, so the start changes nothing else.
    lr_sweep = opts.config(lr=np.geomspace(1e-3, 3.0, 16 if q else 40), seed=seeds, n_samples=100, epochs=20,
                           outlier_kind="leverage", outlier_frac=[0.02, 0.05, 0.1], outlier_scale=10.0,
                           theta0=-1e100, diverge_factor=1e150, sign_floor=1e-100)
    return {"runs": SweepSpec(grid), "lr_sweep": SweepSpec(lr_sweep)}


def _case(frame: pd.DataFrame, config: SweepConfig) -> pd.Series:
    """Each row's outlier case: its fraction when only the fraction varies (numbers sort as numbers),
    else a label of the kind, fraction and scale."""
    import pandas as pd

    kind, frac, scale = (column_or_value(frame, config, a) for a in BY)
    if len(config.axes["outlier_kind"]) == 1 and len(config.axes["outlier_scale"]) == 1:
        return pd.Series(np.asarray(frac, dtype=np.float64), index=frame.index)
    label = [f"{k} {fr:g} at {s:g}x" for k, fr, s in zip(kind, frac, scale, strict=True)]
    return pd.Series(label, index=frame.index)


def _case_name(config: SweepConfig) -> str:
    """What the case values are, for a legend title."""
    (kind, *more_kinds), (scale, *more_scales) = config.axes["outlier_kind"], config.axes["outlier_scale"]
    if not more_kinds and not more_scales:
        return f"{kind} outliers\n(x times {scale:g}): fraction"
    return "outliers: kind,\nfraction, scale"


def _sweep_theory(res: Results, shown: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The exact verdict of the lr sweep's datasets beyond the grid of lr that ran.

    Returns the fraction of datasets with S(lr) > 0 on a dense lr grid (one
    curve per case, with its Wilson interval), the diverging intervals of
    the first ``shown`` datasets of each case
    (:func:`lrsweep.theory.diverging_intervals`), and per dataset whether it
    has a diverging window below the clean mean-square threshold that is
    followed by stable learning rates.
    """
    import pandas as pd

    from .. import theory
    from ..intervals import wilson_interval

    cfg = res.config
    lrs = np.asarray(cfg.axes["lr"])
    dense = np.geomspace(lrs.min(), lrs.max(), DENSE_LRS) if len(lrs) > 1 else lrs
    (x_scale,) = cfg.axes["x_scale"]
    ms = float(theory.ms_threshold(x_scale))
    curves, bars, windows = [], [], []
    keys = [(k, fr, s) for k in cfg.axes["outlier_kind"] for fr in cfg.axes["outlier_frac"]
            for s in cfg.axes["outlier_scale"]]
    for kind, frac, scale in keys:
        one = pd.DataFrame({"outlier_kind": [kind], "outlier_frac": [frac], "outlier_scale": [scale]})
        label = _case(one, cfg).iloc[0]
        ds = datasets(cfg, cfg.axes["seed"], outlier_kind=kind, outlier_frac=frac, outlier_scale=scale)
        X = np.stack([d.x for d in ds])
        grows = np.asarray(theory.epoch_log_multiplier(X, dense)).reshape(len(X), len(dense)) > 0
        k = grows.sum(axis=0)
        lo, hi = wilson_interval(k, len(X))
        curves.append(pd.DataFrame({"outliers": label, "outlier_kind": kind, "outlier_frac": frac,
                                    "outlier_scale": scale, "lr": dense, "datasets": len(X), "n_exact": k,
                                    "exact_rate": k / len(X), "exact_lo": lo, "exact_hi": hi}))
        small = dense < ms
        # a window: some lr below 1/3 diverges and a larger lr below 1/3... or above it is stable again
        for seed, g in zip(cfg.axes["seed"], grows, strict=True):
            first = np.flatnonzero(g & small)
            later = np.flatnonzero(~g)
            window = bool(first.size and (later > first[0]).any())
            windows.append({"outliers": label, "seed": seed, "window": window})
        for i, (seed, d) in enumerate(zip(cfg.axes["seed"], ds, strict=True)):
            if i >= shown:
                break
            for a, b in theory.diverging_intervals(d.x, float(dense.min()), float(dense.max())):
                bars.append({"outliers": label, "dataset": i, "seed": seed, "lo": a, "hi": b})
    columns = ["outliers", "dataset", "seed", "lo", "hi"]
    return (pd.concat(curves, ignore_index=True), pd.DataFrame(bars, columns=columns), pd.DataFrame(windows))


def _window_finding(summary: pd.DataFrame, ms: float, a_s: float) -> dict | None:
    """The case whose small-lr window is most pronounced: its peak below ``ms`` and the valley after it."""
    best = None
    for label, g in summary.groupby("outliers", sort=False):
        g = g.sort_values("lr")
        low = g[g["lr"] < ms]
        if low.empty:
            continue
        peak = low.loc[low["unstable_rate"].idxmax()]
        after = g[(g["lr"] > peak["lr"]) & (g["lr"] < a_s)]
        if after.empty:
            continue
        valley = after.loc[after["unstable_rate"].idxmin()]
        drop = peak["unstable_rate"] - valley["unstable_rate"]
        if best is None or drop > best["drop"]:
            best = {"outliers": label, "peak": peak, "valley": valley, "drop": drop}
    return best


def analyse(runs: dict[str, Results], opts: Options) -> Output:

    from .. import plots, theory
    from ..intervals import wilson_interval

    res = runs["runs"]
    cfg = res.config
    (lr,) = cfg.axes["lr"]
    (n,) = cfg.axes["n_samples"]
    (x_scale,) = cfg.axes["x_scale"]
    f = res.frame
    S = exact_log_multiplier(res)
    summary = verdict_summary(res, BY, S)
    e0 = column_or_value(f, cfg, "theta0") - f["theta_ref"]
    tol_abs = cfg.tol * np.abs(e0)
    add_median(summary, f, np.where(S > 0, np.nan, f["max_jump"]), BY, "max_jump")
    add_median(summary, f, (f["theta_ref"] - cfg.coef).abs(), BY, "theta_ref_shift")
    add_median(summary, f, f["rms_error_last_epoch"] / tol_abs, BY, "rms_over_tol")
    add_rate(summary, f, f["abs_error_final"] <= tol_abs, BY, "ends_within_tol")
    ms, a_s = float(theory.ms_threshold(x_scale)), float(theory.as_threshold(x_scale))
    setup = (f"lr = {lr:g}, n = {n}, {cfg.epochs} epochs, {len(cfg.axes['seed'])} datasets per point")

    # Which outliers make SGD diverge (leverage; response outliers leave S unchanged).
    rsp = summary[(summary["outlier_kind"] == "response") & (summary["outlier_frac"] > 0)]
    lev = summary[summary["outlier_kind"] == "leverage"]
    shown = lev if len(lev) else summary
    k_rsp, n_rsp = int(rsp["n_unstable"].sum()), int(rsp["n"].sum())
    rsp_note = ""
    if n_rsp:
        rsp_hi = float(wilson_interval(k_rsp, n_rsp)[1])
        rsp_note = f"\nresponse outliers: {k_rsp:,} of {n_rsp:,} runs unstable (below {rsp_hi:.2%})"
    fig1 = plots.divergence_curve(
        shown, x="outlier_frac", logx=False, hue="outlier_scale", rate="unstable",
        predicted=shown[["outlier_frac", "outlier_scale", "exact_rate"]].rename(
            columns={"exact_rate": "probability"}),
        predicted_label="exact: S(lr) > 0 on the same datasets",
        hue_label=f"{'leverage' if len(lev) else shown['outlier_kind'].iloc[0]} outliers:\nscale (x times)",
        xlabel="fraction of the samples that are outliers", ylabel="fraction of runs unstable",
        title=("Only leverage outliers make SGD diverge, and only large, frequent ones\n"
               f"{setup}{rsp_note}"))
    fig2 = plots.heatmaps(
        summary.dropna(subset=["max_jump_median"]), x="outlier_scale", y="outlier_frac",
        value="max_jump_median", lo="max_jump_median_lo", hi="max_jump_median_hi", panel="outlier_kind",
        panel_format="{level} outliers", fmt=".3g", log=True, cmap="magma", xfmt="g",
        xlabel="outlier scale", ylabel="fraction of samples that are outliers",
        label="median largest step |theta_k - theta_(k-1)| (log scale)",
        title=("Larger and more frequent outliers of both kinds make theta jump further\n"
               "median over the runs whose dataset is stable (S < 0), 95 % interval below\n" + setup))

    # The lr sweep with leverage outliers: the diverging set of lr is not monotone.
    sw = runs["lr_sweep"]
    scfg = sw.config
    sweep = verdict_summary(sw, SWEEP_BY, exact_log_multiplier(sw))
    sweep.insert(0, "outliers", _case(sweep, scfg))
    shown = shown_datasets(opts)
    curves, bars, windows = _sweep_theory(sw, shown)
    s_setup = (f"n = {scfg.axes['n_samples'][0]}, {scfg.epochs} epochs, {len(scfg.axes['seed'])} datasets "
               f"per case, {len(scfg.axes['lr'])} lr")
    fig3 = plots.diverging_windows(
        sweep, bars, rate="unstable", hue="outliers",
        predicted=curves[["outliers", "lr", "exact_rate"]].rename(columns={"exact_rate": "probability"}),
        thresholds={"mean-square (clean data)": ms, "almost-sure (clean data, n = \u221e)": a_s},
        hue_label=_case_name(scfg), predicted_label="exact: fraction with S(lr) > 0",
        ylabel="fraction of runs unstable",
        title=("With leverage outliers a window of small learning rates diverges below a stable range\n"
               f"{s_setup}; bottom: the first {shown} datasets of each case"))

    report, answer, head = _report(cfg, summary, sweep, windows, ms, a_s, S, f, setup, scfg)
    tables = {"lr_sweep": sweep, "lr_sweep_exact": curves, "diverging_intervals": bars}
    return Output(summary, {"outliers_divergence": fig1, "outliers_jumps": fig2, "outliers_lr_sweep": fig3},
                  report, "outliers: " + head, tables, answer=answer)


def _label(best: dict) -> str:
    """The outlier case of a finding, in words."""
    p = best["peak"]
    return f"{p['outlier_frac']:.0%} of the samples, x times {p['outlier_scale']:g}"


def _pct(r: pd.Series, stem: str) -> str:
    return percent(r[f"{stem}_rate"], r[f"{stem}_lo"], r[f"{stem}_hi"])


def _report(cfg: SweepConfig, summary: pd.DataFrame, sweep: pd.DataFrame, windows: pd.DataFrame, ms: float,
            a_s: float, S: np.ndarray, f: pd.DataFrame, setup: str,
            scfg: SweepConfig) -> tuple[str, str, str]:
    """The report body, the one-sentence answer and the headline."""
    from ..intervals import median_interval, wilson_interval

    (lr,) = cfg.axes["lr"]
    (n,) = cfg.axes["n_samples"]
    budget = cfg.epochs * n
    lev = summary[summary["outlier_kind"] == "leverage"]
    rsp = summary[(summary["outlier_kind"] == "response") & (summary["outlier_frac"] > 0)]
    lines, head = [], []
    rsp_answer = ""
    if len(lev):
        worst = lev.loc[lev["unstable_rate"].idxmax()]
        lines.append(
            f"- **Leverage outliers cause divergence**: at worst {_pct(worst, 'unstable')} of the runs are "
            f"unstable (fraction {worst['outlier_frac']:g}, scale {worst['outlier_scale']:g}; exact "
            f"{_pct(worst, 'exact')}; status diverged {_pct(worst, 'diverged')}, the rest still inside the "
            f"bound after {cfg.epochs} epochs). One sample with 2 lr (s x)^2 > 2 multiplies the error by "
            "|1 - 2 lr s^2 x^2| each epoch.\n")
        head.append(f"leverage up to {worst['unstable_rate']:.0%} unstable")
    if len(rsp):
        k_u, n_r = int(rsp["n_unstable"].sum()), int(rsp["n"].sum())
        k_nf, k_c = int(rsp["n_noise_floor"].sum()), int(rsp["n_converged"].sum())
        nf_lo, nf_hi = wilson_interval(k_nf, n_r)
        rows = f["outlier_kind"].astype(str).eq("response") & (f["outlier_frac"] > 0)
        conv = f.loc[rows & f["status"].eq("converged"), "converged_step"].to_numpy(dtype=float)
        c_lo, c_hi = median_interval(conv)
        nf = rows & f["status"].eq("noise_floor")
        n_nf = max(int(nf.sum()), 1)
        e0 = np.abs(column_or_value(f, cfg, "theta0") - f["theta_ref"])
        end_in = int((nf & (f["abs_error_final"] <= cfg.tol * e0)).sum())
        ratio = (f["rms_error_last_epoch"] / (cfg.tol * e0))[nf].to_numpy()
        r_lo, r_hi = median_interval(ratio)
        jump = rsp.loc[rsp["max_jump_median"].idxmax()]
        c_share = percent(k_c / n_r, *wilson_interval(k_c, n_r))
        conv_text = (f"the {k_c:,} that converge ({c_share}) do so early, at a median step of "
                     f"{np.median(conv):.0f} [{c_lo:.0f}, {c_hi:.0f}] of {budget:,}: datasets whose outliers "
                     "have so small an x that the cycle fits inside the "
                     "tolerance" if k_c else "none converges")
        lines.append(
            f"- **Response outliers never make it diverge** ({k_u:,} of {n_r:,} runs unstable, below "
            f"{wilson_interval(k_u, n_r)[1]:.2%}; they leave S unchanged) **but most of their runs end in a "
            f"limit cycle**: {k_nf:,} ({percent(k_nf / n_r, nf_lo, nf_hi)}) end at the noise floor, "
            "the fixed order repeating the same outlier kick every epoch, and "
            f"{conv_text}. Over the last epoch the cycle's RMS error is a median {np.median(ratio):.3g} "
            f"[{r_lo:.3g}, {r_hi:.3g}] times the tolerance (tol |e_0|); yet {end_in:,} of these "
            f"{int(nf.sum()):,} cycling runs ({percent(end_in / n_nf, *wilson_interval(end_in, n_nf))}) are "
            "within tolerance at "
            f"the final step {budget:,}, by the phase of the cycle: a rule that looked only at the end of "
            "the budget would call them converged, at a step in the last epoch; the whole-epoch rule calls "
            "them noise_floor. They make theta jump: the median largest step reaches "
            f"{jump['max_jump_median']:.3g} [{jump['max_jump_median_lo']:.3g}, "
            f"{jump['max_jump_median_hi']:.3g}] "
            f"(fraction {jump['outlier_frac']:g}, scale {jump['outlier_scale']:g}), and they move the "
            "least-squares fit itself.\n")
        rsp_answer = (f" ({k_u:,} of {n_r:,} runs unstable, below {wilson_interval(k_u, n_r)[1]:.2%}) but "
                      f"keep {percent(k_nf / n_r, nf_lo, nf_hi)} of their runs in a limit cycle")
        head.append(f"response 0 % unstable, {k_nf / n_r:.0%} in a limit cycle")
    clean = summary[summary["outlier_frac"] == 0.0]
    if len(clean):
        c = clean.iloc[0]
        lines.append(f"- Without outliers the median largest step is {c['max_jump_median']:.3g} "
                     f"[{c['max_jump_median_lo']:.3g}, {c['max_jump_median_hi']:.3g}].\n")
    n_excl = int((S > 0).sum())
    best = _window_finding(sweep, ms, a_s)
    window = ""
    answer = ""
    if best is not None:
        p, v = best["peak"], best["valley"]
        w = windows[windows["outliers"] == best["outliers"]]
        k_w = int(w["window"].sum())
        w_lo, w_hi = wilson_interval(k_w, len(w))
        window = (
            f"- **Lowering the learning rate can make it diverge.** With leverage outliers ({_label(best)}"
            f") {_pct(p, 'unstable')} of the runs are unstable at "
            f"lr = {p['lr']:.3g} (exact {_pct(p, 'exact')}) but {_pct(v, 'unstable')} at lr = {v['lr']:.3g} "
            f"(exact {_pct(v, 'exact')}): {k_w} of {len(w)} datasets ({percent(k_w / len(w), w_lo, w_hi)}) "
            f"diverge on a window of lr below the mean-square threshold {ms:.4g} of clean data "
            "and are stable again at larger lr (exact S on a dense lr grid). The window sits where one "
            "outlier step amplifies the error, 2 lr (s x)^2 > 2, while the other steps still contract it too "
            "little: "
            "log|1 - 2 lr s^2 x^2| > 2 lr sum_i x_i^2 roughly; at larger lr the contraction of the other "
            f"samples wins until the clean almost-sure threshold {a_s:.4g}. Figure outliers_lr_sweep: top, "
            "the fraction of unstable runs (points, Wilson bands) and the exact fraction of the same "
            f"datasets with S > 0 on {DENSE_LRS} lr (dashed); bottom, the lr at which single datasets "
            "diverge.\n")
        answer = (f"Only leverage outliers make per-sample SGD diverge, and not monotonically in lr: with "
                  f"leverage outliers ({_label(best)}), "
                  f"{_pct(p, 'unstable')} of the runs are unstable at lr = {p['lr']:.3g} but "
                  f"{_pct(v, 'unstable')} at lr = {v['lr']:.3g}, while response outliers never make it "
                  f"diverge{rsp_answer} and make theta jump.")
        head.append(f"window: {p['unstable_rate']:.0%} unstable at lr {p['lr']:.3g} vs "
                    f"{v['unstable_rate']:.0%} at {v['lr']:.3g}")
    if not answer and len(lev):
        worst = lev.loc[lev["unstable_rate"].idxmax()]
        answer = (f"Leverage outliers make up to {_pct(worst, 'unstable')} of the runs unstable (fraction "
                  f"{worst['outlier_frac']:g}, scale {worst['outlier_scale']:g}); response outliers never "
                  "do.")
    if not answer:
        top = summary.loc[summary["unstable_rate"].idxmax()]
        answer = (f"These outliers make {summary['n_unstable'].sum():,} of {summary['n'].sum():,} runs "
                  f"unstable (largest rate {_pct(top, 'unstable')}).")
    agree = int(summary["n"].sum() - summary["n_mismatch"].sum())
    agree2 = int(sweep["n"].sum() - sweep["n_mismatch"].sum())
    report = (
        f"Leverage outliers (x multiplied by the scale, still on the line y = {cfg.coef:g}x) versus response "
        f"outliers (y shifted by scale standard deviations of y), at lr = {lr:g} with n = {n} samples, "
        f"{cfg.epochs} epochs (a budget of {budget:,} steps), theta0 = {cfg.axes['theta0'][0]:g}, "
        f"{len(cfg.axes['seed'])} datasets (seeds {cfg.axes['seed'][0]}-{cfg.axes['seed'][-1]}) per cell; "
        f"then an lr sweep over {scfg.axes['lr'][0]:.3g}-{scfg.axes['lr'][-1]:.3g} "
        f"({len(scfg.axes['lr'])} values) on datasets of the same kind with large leverage outliers, started "
        f"at theta0 = {scfg.axes['theta0'][0]:.3g} with the bound at {scfg.diverge_factor:g} |e_0| and the "
        f"floor at {scfg.sign_floor:g} |e_0|. One outlier step multiplies e by up to 2 lr (s x)^2, so from "
        "theta0 = -1 a stable dataset's transient excursion can leave a bound of 1e6 |e_0| and be counted as "
        "divergence; the floor stops measuring the growth of a run that has decayed that far, long before "
        "theta's rounding (|e| ~ 1e-15) makes e forget its past. The error dynamics are linear, so the start "
        "changes nothing else.\n\n"
        "Which notion each rate uses (summary.csv and lr_sweep.csv, each with its Wilson 95 % interval):\n\n"
        "- **unstable** (simulated; the figures): the error grew over the last epoch or left the divergence "
        f"bound ({cfg.diverge_factor:g} times the initial scale).\n"
        "- **diverged** (simulated status): the error left the bound; slow divergence stays inside it "
        "(status growing, censored).\n"
        "- **exact** (per-dataset theory): the run's own dataset (outliers included) has S(lr) = sum_i "
        "log|1 - 2 lr x_i^2| > 0, so that repeated epochs diverge; response outliers do not change x, so "
        f"they do not change S. It agrees with *unstable* in {agree:,} of {int(summary['n'].sum()):,} runs "
        f"of the grid and {agree2:,} of {int(sweep['n'].sum()):,} of the lr sweep.\n"
        "- **noise_floor** (simulated status): the RMS error over the last epoch is within "
        f"{cfg.noise_factor:g} times the dataset's stationary RMS error: for response outliers in fixed "
        "order, a limit cycle.\n"
        "- **population** thresholds (clean data, n = infinity): mean-square "
        f"{ms:.4g}, almost-sure {a_s:.4g}; outliers are not in them.\n\n"
        "Findings:\n\n" + "".join(lines) + window +
        f"- Largest steps: the medians exclude the {n_excl:,} runs whose dataset has S > 0 (their steps grow "
        "with the budget until the bound: one diverging cell would otherwise set the colour scale); each "
        "cell's 95 % order-statistic interval is written under its median, and the number of runs each "
        "median is taken over is max_jump_count in summary.csv.\n\n"
        f"Censored (slow, oscillating or growing): {int(summary['n_censored'].sum()):,} of "
        f"{int(summary['n'].sum()):,} runs of the grid and {int(sweep['n_censored'].sum()):,} of "
        f"{int(sweep['n'].sum()):,} of the lr sweep; the exact verdict decides each of them.\n"
    )
    return report, answer, ", ".join(head)


STUDY = Study(
    name="outliers",
    question=("Which outliers make per-sample SGD diverge and which make theta jump: leverage outliers "
              "(large x) or response outliers (shifted y)?"),
    declare=declare,
    analyse=analyse,
    axes={"seed": ANY, "outlier_kind": ANY, "outlier_frac": ANY, "outlier_scale": ANY,
          **{a: Axis(multi=False, why="each heatmap cell is one (fraction, scale) of one kind; one value "
                                      "also sets the lr sweep's")
             for a in ("lr", "n_samples", "x_scale", "noise", "theta0")},
          "order": Axis(multi=False, values=("fixed", "shuffle"),
                        why="S decides divergence exactly for an epoch over the dataset in any order")},
    figures=("outliers_divergence", "outliers_jumps", "outliers_lr_sweep"),
)
