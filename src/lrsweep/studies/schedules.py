r"""Study ``schedules``: constant versus step, cosine, 1/t and warmup at and near the stability edge.

Three questions, each against exact theory:

1. **Noise-free, fixed order** (exact per dataset). Step ``t`` multiplies the
   error by ``1 - 2 lr_t x_{t mod n}^2``, so the final error of every run is
   known in closed form, ``log(|e_T| / |e_0|) = sum_t log|1 - 2 lr_t x^2|``
   (:func:`lrsweep.theory.schedule_log_growth`); the study checks it run by
   run and shows the final error against the budget per schedule, at base
   learning rates below, near and above each dataset's first critical lr
   (:func:`lrsweep.theory.critical_lr`: a constant lr diverges iff it is
   above it, up to the poles).
2. **With noise, fresh samples** (population, exact in expectation). With
   ``x ~ N(0, s^2)`` and residual sd ``sigma`` drawn afresh every step the
   mean square obeys the scalar recursion
   ``E e_{t+1}^2 = (1 - 4 lr_t s^2 + 12 lr_t^2 s^4) E e_t^2 + 4 lr_t^2 s^2 sigma^2``
   for *any* schedule (:func:`mean_square_recursion`); its fixed point at a
   constant lr is :func:`lrsweep.theory.population_stationary_mse`. The
   study measures the last epoch's mean square against it, in standard
   errors, and the median RMS against the stationary floor at the base and
   at the final lr.
3. **Warmup just above the edge.** A constant lr above the critical lr grows
   by ``S(lr) > 0`` per epoch whatever came before, so a warmup of ``W``
   steps only adds the fixed amount
   ``Delta_W = sum_{t<W} [log|1 - 2 lr (t+1)/W x_t^2| - log|1 - 2 lr x_t^2|]``
   and delays the growth by ``-Delta_W / S`` epochs; only a schedule that
   ends below the critical lr (cosine, step, 1/t) can rescue a run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .common import fmt
from .common import rate_interval as _pct
from .schedule_runs import (
    AGREE,
    ALL,
    BANDS,
    datasets_x,
    exact_runs,
    exact_summary,
    noisy_summary,
    warmup_table,
)
from .spec import ANY, Axis, Options, Output, Study, SweepSpec

if TYPE_CHECKING:
    import pandas as pd

    from ..results import Results

#: Budgets in epochs (each a sweep: cosine, 1/t and warmup depend on the run's length).
BUDGETS = (1, 2, 5, 10, 20)
QUICK_BUDGETS = (1, 5)
#: Base learning rates of the noise-free sweeps: they cover 0.4 to 1.8 times the first critical lr of
#: Gaussian datasets of 100 samples (0.65 to 2.4 for 1000 seeds), 13 % apart.
LR_GRID = tuple(float(v) for v in np.round(np.geomspace(0.25, 4.5, 24), 4))
QUICK_LR_GRID = tuple(float(v) for v in np.round(np.geomspace(0.25, 4.5, 10), 4))
#: Base learning rates of the noisy sweeps, in units of the mean-square threshold 1/(3 s^2).
NOISY_LR = (0.5, 0.9)
_BAND_TITLE = {b[0]: f"in ({b[1]:g}, {b[2]:g}]: {b[0]}" for b in BANDS} | {ALL: "anywhere: all runs"}
#: The band where the study asks what warmup buys.
EDGE = "just above"
#: Noise sd of the noisy sweeps (fresh samples).
NOISE = 1.0
SEEDS, QUICK_SEEDS = 2000, 60
NOISY_SEEDS, QUICK_NOISY_SEEDS = 4000, 200


def schedules_for(n: int) -> tuple[str, ...]:
    """The schedules compared, for epochs of ``n`` steps: warmup over half an epoch, 1/t halving after one."""
    w = max(1, n // 2)
    return ("constant", "step:0.5:1", "cosine", f"invtime:{n}", f"warmup:{w}+constant", f"warmup:{w}+cosine")


def _sets(opts: Options, *drop: str) -> Options:
    return Options(
        quick=opts.quick, seed=opts.seed, sets={k: v for k, v in opts.sets.items() if k not in drop}
    )


def budgets(opts: Options) -> tuple[int, ...]:
    """The budgets (epochs) of the study: its own, or those up to ``--set epochs=K`` and K."""
    own = QUICK_BUDGETS if opts.quick else BUDGETS
    if "epochs" not in opts.sets:
        return own
    k = int(opts.sets["epochs"])
    return tuple(sorted({b for b in own if b < k} | {k}))


def declare(opts: Options) -> dict[str, SweepSpec]:
    from .. import theory

    q = opts.quick
    probe = _sets(opts, "epochs").config(n_samples=100)
    (n,), (x_scale,) = probe.axes["n_samples"], probe.axes["x_scale"]
    scheds = schedules_for(n)
    sets = _sets(opts, "epochs")
    ms = float(theory.ms_threshold(x_scale))
    out = {}
    for b in budgets(opts):
        # A bound of a quarter of the largest float: no run diverges unless the theory says
        # |e_T| / |e_0| > 1e300 (then it is censored, not compared).
        out[f"exact_{b}"] = SweepSpec(
            sets.config(
                order="fixed",
                n_samples=100,
                epochs=b,
                schedule=list(scheds),
                seed=range(QUICK_SEEDS if q else SEEDS),
                lr=list(QUICK_LR_GRID if q else LR_GRID),
                diverge_factor=1e300,
            )
        )
    for b in budgets(opts):
        cfg = sets.config(
            order="online",
            n_samples=100,
            noise=NOISE,
            epochs=b,
            schedule=list(scheds),
            seed=range(QUICK_NOISY_SEEDS if q else NOISY_SEEDS),
            lr=[round(c * ms, 6) for c in NOISY_LR],
            diverge_factor=1e300,
        )
        out[f"noisy_{b}"] = SweepSpec(cfg)
    return out


# ----------------------------------------------------------------------------- figures and report
def _sweeps(runs: dict[str, Results], kind: str) -> list[Results]:
    return [
        r for name, r in sorted(runs.items(), key=lambda kv: kv[1].config.epochs) if name.startswith(kind)
    ]


def analyse(runs: dict[str, Results], opts: Options) -> Output:
    import pandas as pd

    from .. import plots, theory

    exact = _sweeps(runs, "exact_")
    noisy = _sweeps(runs, "noisy_")
    cfg = exact[0].config
    seeds = np.asarray(cfg.axes["seed"], dtype=np.int64)
    x = datasets_x(cfg, seeds)
    lr_c = np.asarray(theory.critical_lr(x), dtype=np.float64).reshape(-1)
    S = np.asarray(theory.epoch_log_multiplier(x, np.asarray(cfg.axes["lr"], dtype=np.float64)))
    per_run = pd.concat([exact_runs(r, x, seeds, lr_c, S) for r in exact], ignore_index=True)
    summary = exact_summary(per_run)
    scheds = list(dict.fromkeys(exact[0].frame["schedule"].astype(str)))
    warm = next(s for s in scheds if s.startswith("warmup:") and s.endswith("+constant"))
    wtab, ident = warmup_table(per_run, x, seeds, cfg, warm)
    noisy_tab = pd.concat([noisy_summary(r) for r in noisy], ignore_index=True)
    figures = _figures(plots, summary, noisy_tab, exact, noisy, scheds)
    return _report(summary, noisy_tab, wtab, ident, per_run, figures, exact, noisy, lr_c, opts)


def _figures(
    plots, summary: pd.DataFrame, noisy_tab: pd.DataFrame, exact: list, noisy: list, scheds: list[str]
) -> dict:
    import pandas as pd

    from .. import theory

    cfg, ncfg = exact[0].config, noisy[0].config
    (n,), (x_scale,), (noise,) = cfg.axes["n_samples"], ncfg.axes["x_scale"], ncfg.axes["noise"]
    n_seeds = len(cfg.axes["seed"])
    s = summary.copy()
    floor, bound = 10.0 ** s["log10_floor"].iloc[0], 10.0 ** s["log10_bound"].iloc[0]
    ymin = floor * 1e-6
    med = s["log10_ratio_sim_median"].to_numpy()
    s["censored"] = ~np.isfinite(med)
    s["y"] = np.where(
        np.isposinf(med), bound, np.where(np.isneginf(med), floor, 10.0 ** np.clip(med, -300, 300))
    )
    s["lo"] = 10.0 ** np.clip(s["log10_ratio_sim_median_lo"].to_numpy(), np.log10(ymin), 300)
    s["hi"] = 10.0 ** np.clip(s["log10_ratio_sim_median_hi"].to_numpy(), np.log10(ymin), 300)
    s["panel"] = s["band"].map(_BAND_TITLE)
    th = s.assign(theory=10.0 ** np.clip(s["log10_ratio_exact_median"].to_numpy(), np.log10(ymin), 300))
    refs = pd.DataFrame(
        [
            {"panel": panel, "label": lab, "value": v}
            for panel in dict.fromkeys(s["panel"])
            for lab, v in (("rounding floor of float64 theta", floor), ("|e_T| = |e_0|", 1.0))
        ]
    )
    fig1 = plots.versus_budget(
        s,
        ncols=2,
        sharey=False,
        y="y",
        lo="lo",
        hi="hi",
        theory=th,
        references=refs,
        censored="censored",
        ymin=ymin,
        ylabel="final error |e_T| / |e_0| (median, log scale)",
        panel_title="lr / (the dataset's critical lr) {}",
        title=(
            "Noise-free: the exact growth sum predicts every run's final error; above the edge only a "
            "decaying "
            f"schedule ends small\n(fixed order, n = {n}, {n_seeds:,} datasets, base lr / critical lr in the "
            "band of each panel; median over the runs in it)"
        ),
    )
    near = summary["band"].isin(["just below", EDGE, "well above"])
    r = summary[near if near.any() else slice(None)].assign(
        panel=lambda d: d["band"].map(_BAND_TITLE)
    )
    fig2 = plots.versus_budget(
        r.assign(y=r["rescued_sim_rate"], lo=r["rescued_sim_lo"], hi=r["rescued_sim_hi"]),
        y="y",
        lo="lo",
        hi="hi",
        theory=r.assign(theory=r["rescued_exact_rate"]),
        logy=False,
        ylabel=f"fraction with |e_T| <= {cfg.tol:g} |e_0|",
        panel_title="lr / (the dataset's critical lr) {}",
        title=(
            "Just above the edge a warmup only delays the growth (its runs fail once the budget is longer); "
            "the decaying schedules rescue"
        ),
    )
    ms = float(theory.ms_threshold(x_scale))
    rank = {sc: i for i, sc in enumerate(scheds)}
    nt = noisy_tab.sort_values(["lr", "schedule"], key=lambda c: c.map(rank) if c.name == "schedule" else c)
    nt = nt.assign(panel=[f"lr = {r.lr:.3g} = {r.lr / ms:.2g} x 1/(3 s^2)"
                          + ("" if r.se_valid else "\n(tail index < 4: sample means fall short)")
                          for r in nt.itertuples()])
    nt["lo"] = np.maximum(nt["e2_mean"] - 1.96 * nt["e2_mean_se"], nt["e2_mean"] * 0.05)
    nt["hi"] = nt["e2_mean"] + 1.96 * nt["e2_mean_se"]
    refs3 = (
        nt.groupby("panel", sort=False)["floor_base"]
        .first()
        .reset_index()
        .rename(columns={"floor_base": "value"})
        .assign(label="stationary floor of the constant lr")
    )
    fig3 = plots.versus_budget(
        nt,
        y="e2_mean",
        lo="lo",
        hi="hi",
        theory=nt.rename(columns={"e2_exact": "theory"}),
        references=refs3,
        ylabel="E e^2 over the last epoch (log scale)",
        panel_title="{}",
        title=(
            f"With noise (fresh samples, noise sd {noise:g}): the exact mean-square recursion; decaying "
            "schedules end below the constant lr's floor\n(mean over "
            f"{len(ncfg.axes['seed']):,} runs with 95 % intervals)"
        ),
    )
    return {"final_error": fig1, "warmup_rescue": fig2, "noisy_mean_square": fig3}


def _num(v: float, digits: int) -> str:
    return "< floor" if v == -np.inf else "> bound" if v == np.inf else fmt(v, digits)


def _med(row, key: str, digits: int = 3) -> str:
    """``{key}_median [lo, hi]`` of ``row`` (``< floor`` / ``> bound`` for a censored value)."""
    return (
        f"{_num(row[f'{key}_median'], digits)} [{_num(row[f'{key}_median_lo'], digits)}, "
        f"{_num(row[f'{key}_median_hi'], digits)}]"
    )


def _report(
    summary: pd.DataFrame,
    noisy_tab: pd.DataFrame,
    wtab: pd.DataFrame,
    ident: float,
    per_run: pd.DataFrame,
    figures: dict,
    exact: list,
    noisy: list,
    lr_c: np.ndarray,
    opts: Options,
) -> Output:
    from .. import theory
    from ..intervals import wilson_interval

    cfg, ncfg = exact[0].config, noisy[0].config
    (n,), (x_scale,), (theta0,) = cfg.axes["n_samples"], cfg.axes["x_scale"], cfg.axes["theta0"]
    (noise,) = ncfg.axes["noise"]
    seeds, nseeds = cfg.axes["seed"], ncfg.axes["seed"]
    buds = [r.config.epochs for r in exact]
    big = max(buds)
    scheds = list(dict.fromkeys(exact[0].frame["schedule"].astype(str)))
    warm = next(s for s in scheds if s.startswith("warmup:") and s.endswith("+constant"))
    warm_cos = next(s for s in scheds if s.startswith("warmup:") and s.endswith("+cosine"))
    w = int(warm.split(":")[1].split("+")[0])
    ms, a_s = float(theory.ms_threshold(x_scale)), float(theory.as_threshold(x_scale))
    lrs = cfg.axes["lr"]
    # ---- part 1: run by run
    res_ = per_run["resolved"]
    n_all, n_res = len(per_run), int(res_.sum())
    dev = per_run.loc[res_, "dev"]
    k_agree = int((dev <= AGREE).sum())
    a_lo, a_hi = wilson_interval(k_agree, max(n_res, 1))
    both_below = int((per_run["below"] & (per_run["exact"] <= per_run["floor"])).sum())
    n_div = int(per_run["diverged"].sum())
    div_ok = int((per_run["diverged"] & (per_run["exact"] >= per_run["bound"])).sum())
    dipped = int((per_run["decided"] & ~res_).sum())
    dip_abs = (
        per_run.loc[per_run["decided"] & ~res_, "sim"] - per_run.loc[per_run["decided"] & ~res_, "exact"]
    ).abs()
    other = n_all - n_res - both_below - div_ok - dipped
    q_lo, q_hi = np.percentile(lr_c, [2.5, 97.5])
    one = per_run[per_run["budget"] == big]
    n_window = int(one["window"].sum())
    n_above = int((one["rel_lr"] > 1).sum())
    lines1 = []
    for band in dict.fromkeys(summary["band"]):
        for sc in scheds:
            r = summary[(summary["band"] == band) & (summary["schedule"] == sc) & (summary["budget"] == big)]
            if r.empty:
                continue
            r = r.iloc[0]
            lines1.append(
                f"| {band} | {sc} | {int(r.n)} | {_med(r, 'log10_ratio_sim')} | "
                f"{_med(r, 'log10_ratio_exact')} | {_pct(r, 'rescued_sim')} | {_pct(r, 'rescued_exact')} |"
            )
    # ---- part 3: warmup at the edge
    edge = summary[summary["band"] == EDGE]
    lines3 = []
    for bud in buds:
        cells = []
        for sc in ("constant", warm, "cosine", warm_cos, "step:0.5:1", f"invtime:{n}"):
            r = edge[(edge["schedule"] == sc) & (edge["budget"] == bud)]
            cells.append(_pct(r.iloc[0], "rescued_sim") if len(r) else "-")
        lines3.append(f"| {bud} | " + " | ".join(cells) + " |")
    wl = []
    for r in wtab.itertuples():
        rr = wtab.loc[r.Index]
        wl.append(
            f"| {r.band} | {r.n} | {_med(rr, 'delta_w')} | {_pct(rr, 'warmup_helps')} | {_med(rr, 'S', 3)} | "
            f"{_med(rr, 'delay_epochs', 3)} |"
        )
    e_row = wtab[wtab["band"] == EDGE]
    e_row = e_row.iloc[0] if len(e_row) else None

    def edge_cell(sc: str, bud: int):
        r = edge[(edge["schedule"] == sc) & (edge["budget"] == bud)]
        return r.iloc[0] if len(r) else None

    w_short = edge_cell(warm, min(buds))
    c_long, w_long = edge_cell("constant", big), edge_cell(warm, big)
    cos_long, wcos_long = edge_cell("cosine", big), edge_cell(warm_cos, big)
    # ---- part 2: noise
    nt = noisy_tab
    valid = nt[nt["se_valid"]]
    worst = float(valid["deviation_se"].abs().max()) if len(valid) else float("nan")
    worst_all = float(nt["deviation_se"].abs().max())
    nbig = max(r.config.epochs for r in noisy)
    lines2 = []
    for r in nt[nt["budget"] == nbig].itertuples():
        rr = nt.loc[r.Index]
        lines2.append(
            f"| {r.lr:.4g} | {r.schedule} | {_med(rr, 'rms')} | {np.sqrt(r.floor_base):.4g} | "
            f"{np.sqrt(r.floor_final):.4g} | {_med(rr, 'rms_over_floor')} | {fmt(r.e2_mean, 4)} +- "
            f"{fmt(r.e2_mean_se, 2)} | {fmt(r.e2_exact, 4)} | "
            f"{r.deviation_se:+.2f}{'' if r.se_valid else ' (*)'} |"
        )
    lo_nt = nt[(nt["budget"] == nbig)]
    best = lo_nt[lo_nt["schedule"] != "constant"].sort_values("rms_over_floor_median").groupby("lr").first()
    beats = "; ".join(
        f"lr {lr:.3g}: {r['schedule']} {_med(r, 'rms_over_floor')} x the constant floor"
        for lr, r in best.iterrows()
    )
    const_nt = lo_nt[lo_nt["schedule"] == "constant"]
    const_txt = "; ".join(
        f"lr {r.lr:.3g}: {_med(lo_nt.loc[r.Index], 'rms_over_floor')}" for r in const_nt.itertuples()
    )
    body = [
        "Step t = 0 .. T - 1 of a run of T = epochs x n steps uses lr_t = lr m(t) (`lrsweep.schedules`): "
        f"`constant` m = 1; `step:0.5:1` m = 0.5^floor(t / n) (halved every epoch); `cosine` "
        "m = (1 + cos(pi t / T)) / 2; `invtime:T0` m = T0 / (T0 + t); `warmup:W+S` m = (t + 1) / W for "
        f"t < W, then S over the remaining T - W steps (here W = {w} steps, half an epoch, and 1/t halves "
        f"the lr after one epoch, T0 = {n}). Budgets: {', '.join(map(str, buds))} epochs of {n} steps "
        "(one sweep each: cosine, 1/t and warmup depend on T). The learning rate is the base (peak) rate.\n",
        "**1. Noise-free, fixed order: exact per dataset.** "
        f"{len(seeds):,} Gaussian datasets (x ~ N(0, {x_scale:g}^2), n = {n}, seeds {seeds[0]}-{seeds[-1]}, "
        f"no noise), theta0 = {theta0:g}, {len(lrs)} base learning rates from {min(lrs):.3g} to "
        f"{max(lrs):.3g}. "
        "Each run's error obeys e_{t+1} = (1 - 2 lr_t x_t^2) e_t, so log(|e_T| / |e_0|) = "
        "sum_t log|1 - 2 lr_t x_{t mod n}^2| exactly (`theory.schedule_log_growth`), for every schedule. "
        "A constant lr is unstable iff its epoch sum S(lr) > 0, first above the dataset's first critical lr "
        f"(`theory.critical_lr`; here between {q_lo:.3g} and {q_hi:.3g} for 95 % of the datasets, against "
        "the "
        f"population's almost-sure threshold {a_s:.4g} and mean-square threshold {ms:.4g}). Runs are "
        "grouped by "
        "lr / (their own dataset's critical lr) into the bands "
        + ", ".join(f"{b[0]} ({b[1]:g}, {b[2]:g}]" for b in BANDS)
        + f". Above the critical lr S(lr) > 0 except in the windows around later poles (lr = 1/(2 x_i^2)) "
        f"where a constant lr is stable again: {n_window:,} of the {n_above:,} (dataset, lr) pairs above it "
        "are in such a window and are left out of the bands above the edge.\n",
        f"*Run by run.* Of {n_all:,} runs, {n_res:,} are *resolved*: their exact path never came closer to "
        f"the solution than the float64 resolution of theta (sign_floor x scale = {cfg.sign_floor:g} x "
        "max(|e_0|, |theta_ref|)) and never left the bound. For these the simulated log|e_T / e_0| agrees "
        f"with the exact sum within {AGREE:g} (relative {AGREE:g} in |e_T|) for "
        f"{k_agree:,} of {n_res:,} runs ({100 * k_agree / max(n_res, 1):.3f} % [{100 * a_lo:.3f}, "
        f"{100 * a_hi:.3f}]); the largest deviation is {fmt(float(dev.max()), 3)}. The rest are censored and "
        f"said apart: {both_below:,} end below the rounding floor in both (the simulation sits at the floor, "
        f"the exact |e_T| is smaller); {div_ok:,} left the bound ({cfg.diverge_factor:g} x scale), all with "
        f"an exact growth beyond it ({n_div:,} diverged in all); {dipped:,} came within the rounding floor "
        "mid-run and grew again, so that the rounding of the closest step was amplified by every later "
        f"factor (their deviation: median {fmt(float(np.median(dip_abs)) if len(dip_abs) else np.nan, 3)}, "
        f"largest {fmt(float(dip_abs.max()) if len(dip_abs) else np.nan, 3)} in log); {other} other"
        f"{'' if other == 1 else 's'} (a simulation and an exact end on opposite sides of the floor or the "
        "bound).\n",
        "![final error](figures/final_error.png)\n",
        f"Final error after {big} epochs per band and schedule (log10 |e_T| / |e_0|: median over the runs "
        "in the band with its 95 % order-statistic interval; -inf: the median run is below the rounding "
        "floor, inf: beyond the bound), and the fraction of runs ending within tol = "
        f"{cfg.tol:g} of |e_0| (simulated: |e_T| <= tol |e_0| and never diverged; exact: the sum <= log tol; "
        "Wilson 95 %):\n",
        "| band | schedule | runs | log10 ratio, simulated [95 %] | exact [95 %] | within tol, simulated | "
        "exact |",
        "|---|---|---|---|---|---|---|",
        *lines1,
        "",
        f"**2. Warmup just above the edge** (lr / critical lr {_BAND_TITLE[EDGE]}, S(lr) > 0). For a "
        "warmup followed "
        "by a constant lr, the run's sum is the constant run's sum plus the fixed amount "
        f"Delta_W = sum_(t<W) [log|1 - 2 lr (t+1)/W x_t^2| - log|1 - 2 lr x_t^2|] (W = {w}): after the "
        "warmup the steps are those of the constant lr, and every further epoch adds S(lr) > 0 whatever came "
        "before (the stability of a constant lr in this linear model depends only on lr, not on the "
        f"history). Checked on every run: |sum(warmup) - Delta_W - sum(constant)| <= {fmt(ident, 2)} "
        "relative. "
        "So a warmup can only *delay* the growth by -Delta_W / S epochs, and only where Delta_W < 0:\n",
        "| band | runs | Delta_W (exact, median [95 %]) | warmup lowers the error (Delta_W < 0) | "
        "S(lr) per epoch | delay -Delta_W / S (epochs) |",
        "|---|---|---|---|---|---|",
        *wl,
        "",
        f"Fraction of the runs in the band just above the edge ending within tol = {cfg.tol:g} of |e_0| "
        "(simulated, Wilson 95 %), per budget:\n",
        f"| epochs | constant | {warm} | cosine | {warm_cos} | step:0.5:1 | invtime:{n} |",
        "|---|---|---|---|---|---|---|",
        *lines3,
        "",
        "![warmup rescue](figures/warmup_rescue.png)\n",
        "A constant lr above its dataset's critical lr (with S(lr) > 0) never ends within tol at whole "
        "epochs (|e_T| = "
        "|e_0| exp(epochs S) > |e_0|)"
        + (f" ({_pct(c_long, 'rescued_sim')} at {big} epochs)" if c_long is not None else "")
        + ". The warmup's runs are rescued only while the budget is shorter than the delay"
        + (
            f": {_pct(w_short, 'rescued_sim')} at {min(buds)} epoch(s), {_pct(w_long, 'rescued_sim')} at "
            f"{big}"
            if w_short is not None and w_long is not None
            else ""
        )
        + ". What rescues a run is a schedule that ends below the critical lr: "
        + (
            f"cosine {_pct(cos_long, 'rescued_sim')}, warmup + cosine {_pct(wcos_long, 'rescued_sim')} at "
            f"{big} "
            "epochs"
            if cos_long is not None and wcos_long is not None
            else ""
        )
        + "; what warmup adds to cosine is the same Delta_W.\n",
        f"**3. With noise, fresh samples (order online): population theory.** x ~ N(0, {x_scale:g}^2), "
        f"y = {cfg.coef:g} x + noise (sd {noise:g}), {len(nseeds):,} runs (seeds {nseeds[0]}-{nseeds[-1]}) "
        "per "
        f"cell, base lr {', '.join(f'{v:.4g}' for v in ncfg.axes['lr'])} (mean-square threshold 1/(3 s^2) = "
        f"{ms:.4g}). With a fresh sample every step the mean square obeys, for any schedule, "
        "E e_{t+1}^2 = (1 - 4 lr_t s^2 + 12 lr_t^2 s^4) E e_t^2 + 4 lr_t^2 s^2 sigma^2 (exact: "
        "`mean_square_recursion` in the study; its fixed point at a constant lr is "
        "`theory.population_stationary_mse`, the constant lr's stationary floor). The simulated mean square "
        "is the mean over runs of rms_error_last_epoch^2 (the mean of e^2 over the last epoch's steps) with "
        "its standard error, against the recursion's mean over the same steps. Where the base lr is above "
        "the lr of tail index 4 (0.1917 / s^2) the stationary e^2 of the constant lr has infinite variance "
        "and its standard error understates the spread ((*) below; a yardstick elsewhere). "
        f"Largest deviation: {fmt(worst, 3)} standard errors where valid, {fmt(worst_all, 3)} over all "
        "cells. "
        f"At {nbig} epochs:\n",
        "| lr | schedule | median RMS over the last epoch [95 %] | floor of the base lr sqrt(v(lr)) | "
        "floor of the final lr | median RMS / floor of the base lr [95 %] | E e^2 simulated +- SE | "
        "exact | deviation (SE) |",
        "|---|---|---|---|---|---|---|---|---|",
        *lines2,
        "",
        "![noisy mean square](figures/noisy_mean_square.png)\n",
        f"A constant lr sits at its floor (median RMS / floor: {const_txt}); every decaying schedule "
        f"ends below it, the best: {beats}. A schedule's floor at its final lr is no prediction of where it "
        "ends (cosine's final lr is almost 0): the error lags the decaying lr, and the exact recursion above "
        "is what predicts it. The status noise_floor uses the floor at the last epoch's largest lr.\n",
        "Censored: runs below the rounding floor or beyond the bound (part 1, counted above, drawn as "
        "open triangles where the median itself is censored); no noisy run left the bound."
        if int(nt["n_diverged"].sum()) == 0
        else f"Censored: part 1 as counted above; {int(nt['n_diverged'].sum())} noisy runs left the bound "
        "(left out of the means).",
    ]
    answer = (
        f"Just above each dataset's critical lr a constant lr ends within tol in "
        f"{_pct(c_long, 'rescued_sim')} of the runs after {big} epochs and warmup + constant in "
        f"{_pct(w_long, 'rescued_sim')}: in this linear model a warmup only shifts log|e| by a fixed "
        f"Delta_W (median {_med(e_row, 'delta_w')}) while every epoch adds S(lr) > 0, whereas cosine rescues "
        f"{_pct(cos_long, 'rescued_sim')}; every resolved noise-free run matches the exact growth sum "
        f"(largest deviation {fmt(float(dev.max()), 2)} in log|e|, {100 * k_agree / max(n_res, 1):.2f} % "
        f"[{100 * a_lo:.2f}, {100 * a_hi:.2f}] within {AGREE:g})."
        if c_long is not None and w_long is not None and cos_long is not None and e_row is not None
        else "The band just above the critical lr is empty at this grid."
    )
    headline = (
        f"schedules: {k_agree:,}/{n_res:,} resolved runs match the exact sum (max dev "
        f"{fmt(float(dev.max()), 2)}); at the edge, {big} epochs: constant "
        + (
            f"{_pct(c_long, 'rescued_sim')}, warmup {_pct(w_long, 'rescued_sim')}, cosine "
            f"{_pct(cos_long, 'rescued_sim')} within tol"
            if c_long is not None
            else ""
        )
    )
    return Output(
        summary,
        figures,
        "\n".join(body) + "\n",
        headline,
        tables={"noisy": noisy_tab, "warmup": wtab},
        answer=answer,
    )


STUDY = Study(
    name="schedules",
    question=(
        "How do step, cosine, 1/t and warmup schedules compare with a constant learning rate near the "
        "stability edge, noise-free and with noise, and what does a warmup buy just above the edge?"
    ),
    declare=declare,
    analyse=analyse,
    axes={
        "seed": ANY,
        "lr": ANY,
        "theta0": Axis(multi=False),
        "n_samples": Axis(multi=False, why="the schedules (warmup over half an epoch, 1/t) are set per n"),
        "x_scale": Axis(multi=False, why="the noisy sweeps' theory takes one x_scale"),
    },
    refused={
        "noise": "the study runs noise-free sweeps (exact per dataset) next to its noisy ones (noise sd "
        f"{NOISE:g}, fresh samples); one --set cannot give both",
        "schedule": "the study sweeps its own schedules (constant, step, cosine, 1/t, warmup); its "
        "comparisons "
        "need all of them",
        "order": "the study sweeps fixed order (exact per dataset) and online (the exact mean-square "
        "recursion) itself",
        "batch_size": "the per-run sum and the mean-square recursion here are for per-sample SGD (B = 1)",
        "momentum": "with momentum the error is not a product of scalar factors (study momentum)",
        "nesterov": "with momentum the error is not a product of scalar factors (study momentum)",
        **{
            a: "the exact sums and the recursion are for Gaussian samples without outliers"
            for a in ("outlier_kind", "outlier_frac", "outlier_scale")
        },
    },
    figures=("final_error", "warmup_rescue", "noisy_mean_square"),
)
