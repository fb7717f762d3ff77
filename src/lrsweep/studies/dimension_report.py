"""The ``dimension`` study's figures and report (:mod:`lrsweep.studies.dimension` declares its sweeps)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .common import fmt, pooled_z, rate_interval
from .dimension_runs import second_moment, theory_exponent

if TYPE_CHECKING:
    import pandas as pd

    from ..results import Results


def _theory_curves(
    summary: pd.DataFrame, runs: dict[str, Results], n_steps: int, n_chains: int
) -> pd.DataFrame:
    import pandas as pd

    parts = []
    for k, res in runs.items():
        if not k.startswith("online_"):
            continue
        cfg = res.config
        (d,) = cfg.axes["n_features"]
        m2 = second_moment(cfg)
        cs = np.unique(summary.loc[summary["n_features"] == d, "c"].to_numpy(dtype=float))
        for bias in (False, True):
            fine = np.linspace(cs.min(), cs.max(), 60) if not bias else cs
            L, se = theory_exponent(cfg, fine / m2, bias, n_steps, n_chains)
            parts.append(
                pd.DataFrame(
                    {
                        "n_features": int(d),
                        "fit_intercept": bias,
                        "c": fine,
                        "log_multiplier": L,
                        "log_multiplier_se": se,
                    }
                )
            )
    return pd.concat(parts, ignore_index=True)


def figures(summary, per_d, order_s, critical, runs, n_steps, n_chains) -> dict:
    import pandas as pd

    from .. import plots

    iso = summary[summary["condition"] == 1.0]
    cfg0 = next(r.config for k, r in runs.items() if k.startswith("online_"))
    (s,) = cfg0.axes["x_scale"]
    kap = per_d[per_d["condition"] != 1.0]
    ktxt = (
        f"; kappa = {kap['condition'].iloc[0]:g} at d = {int(kap['n_features'].iloc[0])}: squares/diamonds"
        if len(kap)
        else ""
    )
    fig_t = plots.thresholds_vs_dimension(
        per_d,
        title=(
            "Both thresholds fall like 1/d; the simulated almost-sure threshold (points, 95 % intervals) "
            "sits on the theory (lines)\nand a bias lowers it most at small d "
            f"(fresh samples, x ~ N(0, {s:g}^2 I), no noise{ktxt})"
        ),
    )
    fig_s = plots.steps_vs_dimension(
        per_d,
        title=(
            f"In units of 1/E||x||^2 the best lr and the almost-sure threshold hardly move with d, "
            f"but the median steps to {cfg0.tol:g} ||e_0|| grow like d\n(fresh samples; "
            "bars: lrs whose median steps are tied with the best (left), 95 % order-statistic "
            "intervals (right))"
        ),
    )
    fig_e = plots.exponent_by_dimension(
        iso,
        theory=_theory_curves(iso, runs, n_steps, n_chains),
        title=(
            "d x the growth of log ||e|| per step against lr E||x||^2 collapses onto nearly one curve for "
            "d >= 5: simulation (points, 1.96 SE)\nagrees with the population exponent (lines: quadrature; "
            "with a bias, Monte Carlo with a 1.96 SE band)"
        ),
    )
    marks = []
    for _, r in critical.iterrows():
        p = per_d[
            (per_d["n_features"] == r["n_features"]) & (per_d["condition"] == 1.0) & (~per_d["fit_intercept"])
        ]
        if len(p):
            marks.append(
                {
                    "n_features": r["n_features"],
                    "ms_c": float(p["ms_threshold_scaled"].iloc[0]),
                    "as_c": float(p["as_threshold_scaled"].iloc[0]),
                }
            )
    ocfg = next(r.config for k, r in runs.items() if k.startswith("order_"))
    fig_o = plots.orders_vs_lr(
        order_s,
        critical=critical,
        marks=pd.DataFrame(marks, columns=["n_features", "ms_c", "as_c"]),
        title=(
            f"On the same datasets (n = {ocfg.axes['n_samples'][0]}, {len(ocfg.axes['seed'])} per point, "
            f"{ocfg.epochs} epochs) fixed order follows its exact verdict log rho(M) > 0 (line); fixed, "
            f"shuffled "
            "and with-replacement orders\nturn unstable together, at the datasets' critical lr (grey band), "
            "and fresh samples switch sharply at the population almost-sure threshold"
        ),
    )
    return {"thresholds": fig_t, "scaling": fig_s, "exponent": fig_e, "orders": fig_o}


def _iv(r, stem: str, digits: int = 4) -> str:
    return f"{fmt(r[stem], digits)} [{fmt(r[stem + '_lo'], digits)}, {fmt(r[stem + '_hi'], digits)}]"


def _steps(r) -> str:
    def one(v):
        return "beyond budget" if np.isinf(v) else fmt(v, 4)

    return f"{one(r['steps_median'])} [{one(r['steps_median_lo'])}, {one(r['steps_median_hi'])}]"


def _kappa_text(per_d) -> str:
    """Steps at the best lr with kappa > 1 against the isotropic case of the same d (no bias)."""
    k = per_d[(per_d["condition"] != 1.0) & ~per_d["fit_intercept"].astype(bool)]
    if k.empty:
        return ""
    r = k.iloc[0]
    iso = per_d[(per_d["condition"] == 1.0) & ~per_d["fit_intercept"].astype(bool)
                & (per_d["n_features"] == r["n_features"])]
    txt = (f"Ill-conditioned features (kappa = {r['condition']:g}, d = {int(r['n_features'])}) keep the "
           f"scaled almost-sure threshold at {_iv(r, 'as_sim_scaled', 3)} (theory "
           f"{r['as_threshold_scaled']:.3g}) but need {_steps(r)} steps at their best lr E||x||^2 = "
           f"{fmt(r['best_lr_scaled'], 3)}")
    if len(iso):
        i = iso.iloc[0]
        both = np.isfinite(r["steps_median"]) and np.isfinite(i["steps_median"]) and i["steps_median"] > 0
        ratio = f" ({r['steps_median'] / i['steps_median']:.3g} times more)" if both else ""
        txt += f", against {_steps(i)} isotropic{ratio}"
    return txt + (": the slowest direction contracts at about 2 lr s_min^2 per step, a fraction "
                  "s_min^2 / E||x||^2 of what the scaling allows.")


def report(summary, per_d, order_s, paired, critical, runs, n_steps, n_chains) -> tuple[str, str, str]:
    ons = {k: r.config for k, r in runs.items() if k.startswith("online_")}
    cfg0 = next(iter(ons.values()))
    (s,), tol = cfg0.axes["x_scale"], cfg0.tol
    iso = per_d[per_d["condition"] == 1.0]
    rows = [
        "| d | bias | E\\|\\|x\\|\\|^2 | mean-square (exact) | almost-sure, theory (+- SE) | almost-sure, "
        "simulated [95 %] | z | lr E\\|\\|x\\|\\|^2 at a.s., simulated | best lr E\\|\\|x\\|\\|^2 (tied "
        "range) "
        "| median steps to tol [95 %] | steps / d |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in per_d.iterrows():
        kap = "" if r["condition"] == 1.0 else f" (kappa {r['condition']:g})"
        rows.append(
            f"| {int(r['n_features'])}{kap} | {'yes' if r['fit_intercept'] else 'no'} | "
            f"{fmt(r['second_moment'])} | "
            f"{fmt(r['ms_threshold'])} | {fmt(r['as_threshold'])} +- {fmt(r['as_threshold_se'], 2)} "
            f"({r['as_theory']}) | {_iv(r, 'as_sim')} | {fmt(r['z_as'], 2)} | {_iv(r, 'as_sim_scaled', 3)} | "
            f"{fmt(r['best_lr_scaled'], 3)} "
            f"({fmt(r['best_lr_scaled_lo'], 3)}-{fmt(r['best_lr_scaled_hi'], 3)}) | "
            f"{_steps(r)} | {fmt(r['steps_median_per_d'], 3)} |"
        )
    exact = ((summary["condition"] == 1.0) & ~summary["fit_intercept"].astype(bool)).to_numpy()
    z = summary["z_log_growth"].to_numpy(dtype=float)
    zf = z[np.isfinite(z) & exact]
    zo = z[np.isfinite(z) & ~exact]
    zas = per_d["z_as"].to_numpy(dtype=float)
    zas = zas[np.isfinite(zas)]
    lo_d, hi_d = iso[~iso["fit_intercept"]].iloc[0], iso[~iso["fit_intercept"]].iloc[-1]
    lo_b, hi_b = iso[iso["fit_intercept"]].iloc[0], iso[iso["fit_intercept"]].iloc[-1]
    # sample orders
    olines = []
    for d, g in order_s.groupby("n_features"):
        fx = g[g["order"] == "fixed"]
        n_fixed = int(fx["n"].sum())
        mism = int(fx["n_mismatch"].sum())
        cr = critical[critical["n_features"] == d].iloc[0]
        p = paired[paired["n_features"] == d]
        a_s = per_d[(per_d["n_features"] == d) & (per_d["condition"] == 1.0) & (~per_d["fit_intercept"])]
        as_c = f"{float(a_s['as_threshold_scaled'].iloc[0]):.4g}" if len(a_s) else "nan"
        big = (
            p.iloc[int(np.nanargmax(np.abs(p["growth_diff_mean"].to_numpy(dtype=float))))]
            if p["growth_diff_mean"].notna().any()
            else None
        )
        txt = (
            f"- d = {int(d)}: fixed order's simulated verdict (||e|| grew over "
            f"{runs[f'order_d{int(d)}'].config.epochs} "
            f"epochs) equals the exact one (log rho(M) > 0) in {n_fixed - mism:,} of {n_fixed:,} runs. The "
            f"datasets' median critical lr x E||x||^2 is {_iv(cr, 'critical_c_median')} over "
            f"{int(cr['datasets'])} "
            f"datasets (exact per dataset; population almost-sure threshold {as_c}). Fixed minus shuffled "
            f"growth of log ||e|| per epoch, paired by dataset: largest |difference| over datasets "
            f"{fmt(float(p['max_abs_growth_diff'].max()), 3)}"
        )
        if big is not None:
            txt += (
                f"; the largest mean difference is {fmt(big['growth_diff_mean'], 3)} +- "
                f"{fmt(big['growth_diff_mean_se'], 2)} at lr E||x||^2 = {big['c']:.3g}; datasets where "
                f"only the "
                f"fixed order grew: {int(p['n_only_fixed_grew'].sum())}, only the shuffled order: "
                f"{int(p['n_only_shuffle_grew'].sum())} (over {int(p['n_datasets'].sum())} dataset-lr pairs)."
            )
        rates = "; ".join(
            f"{o}: "
            + ", ".join(
                f"{r['c']:.3g}: {rate_interval(r, 'unstable')}"
                for _, r in g[g["order"] == o].sort_values("c").iterrows()
                if 0.8 <= r["c"] <= 1.1
            )
            for o in dict.fromkeys(g["order"].astype(str))
        )
        olines += [txt, f"  Unstable fractions near the thresholds (lr E||x||^2: rate [95 %]): {rates}."]
        if d > 1 and len(p):
            a = g[g["order"] == "fixed"].sort_values("lr")
            b = g[g["order"] == "shuffle"].sort_values("lr")
            zmax = float(np.max(np.abs(pooled_z(a["n_unstable"], a["n"], b["n_unstable"], b["n"]))))
            flips = int(p["n_only_fixed_grew"].sum() + p["n_only_shuffle_grew"].sum())
            pairs = int(p["n_datasets"].sum())
            olines.append(
                f"  In short, at d = {int(d)} the order changes a dataset's growth per epoch (by up to "
                f"{fmt(float(p['max_abs_growth_diff'].max()), 3)}) but not where runs turn unstable: fixed "
                f"and shuffled order disagree on {flips} of {pairs} dataset-lr pairs "
                f"({100 * flips / pairs:.1f} %, table orders_paired.csv), and their unstable fractions "
                f"differ by at most {zmax:.2g} standard errors over the lrs (pooled two-proportion z)."
            )
    seeds = {k: (len(c.axes["seed"]), c.axes["n_samples"][0], c.epochs) for k, c in ons.items()}
    kcfg = runs["kappa"].config
    body = [
        f"Setup: y = w . x (+ b) with true w = 0 (coef 0, so w_ref = 0 and ||e|| = ||theta||), x ~ N(0, "
        f"{s:g}^2 I) (isotropic) or with variances spread geometrically from {s:g}^2 to kappa {s:g}^2, "
        f"no noise; "
        "per-sample SGD, constant lr, every weight started at 1 and the bias at 0. Learning rates are "
        "set per "
        "d in units of 1/E||x||^2 (lr E||x||^2 = c; E||x||^2 = d s^2 isotropic, the bias's constant "
        "input not "
        "counted).\n",
        "- **Fresh samples** (sweeps `online_d<d>`, order online): "
        + "; ".join(
            f"d = {k.split('_d')[1]}: {v[0]} streams, {v[2]} epochs of {v[1]:,} samples"
            for k, v in seeds.items()
        )
        + f"; sweep `kappa`: d = {kcfg.axes['n_features'][0]}, kappa = {kcfg.axes['condition'][0]:g}, "
        f"{len(kcfg.axes['seed'])} streams of {kcfg.epochs} x {kcfg.axes['n_samples'][0]:,} samples. Each "
        "with and without a bias, streams shared across lrs.",
        "- **Sample orders** (sweeps `order_d<d>`): the same datasets in fixed, shuffled, "
        "with-replacement and "
        "fresh (online) order.\n",
        "Which notion each number uses:\n",
        "- *mean log growth per step* (simulated): mean over runs of log(||e_T|| / ||e_0||) / T with its "
        "standard error, against the population exponent lambda(lr): isotropic without a bias the quadrature "
        "`theory.isotropic_log_multiplier` (exact: log ||e|| is then a random walk with independent steps, "
        "so the mean is unbiased); with a bias or unequal scales `theory.feature_lyapunov_exponent`, a "
        f"Monte Carlo estimate ({n_chains} chains of {n_steps} steps, seeds 1515 + d) with its standard "
        f"error "
        "(the run's own start adds an O(1/T) bias there). Deviations are in combined standard errors.",
        "- *almost-sure threshold*: the root of lambda. Theory: quadrature "
        "(`theory.isotropic_as_threshold`) or "
        "Monte Carlo with SE (`theory.feature_as_threshold`); simulated: where the mean log growth "
        "crosses 0, "
        "with the interval where mean +- 1.96 SE do. Below it almost every run converges.",
        "- *mean-square threshold* (`theory.feature_ms_threshold`, exact population value; 1/(s^2 (d + 2)) "
        "isotropic without a bias): where E||e||^2 stops falling. Not simulated: between it and the "
        "almost-sure threshold E||e||^2 is carried by rare runs (study `noise-floor`), so a mean over runs "
        "does not estimate it.",
        "- *unstable* (simulated status): ||e_T|| > ||e_0|| or the run left the bound (Wilson 95 %).",
        "- *exact* (per dataset, fixed order): log rho(M) > 0 for the epoch product M "
        "(`theory.feature_epoch_growth`); the *critical lr* of a dataset is its first root "
        "(`theory.feature_critical_lr`).",
        f"- *steps to tolerance* (simulated): converged_step, the first step after which ||e|| <= {tol:g} "
        "||e_0|| for good; runs that did not get there count as beyond the budget (median over all runs, "
        "order-statistic 95 % interval); population prediction log(tol) / lambda (isotropic, no bias).\n",
        "## Thresholds and steps versus d\n",
        *rows,
        "",
        "The simulated exponent agrees with the theory where the mean is unbiased (isotropic, no bias): over "
        f"those {len(zf)} (d, lr) cells with no censored run the largest deviation is "
        f"{fmt(np.max(np.abs(zf)) if len(zf) else np.nan, 3)} standard errors ({int((np.abs(zf) > 2).sum())} "
        f"beyond 2 and {int((np.abs(zf) > 3).sum())} beyond 3, against about {0.0455 * len(zf):.1f} and "
        f"{0.0027 * len(zf):.1f} for independent cells; cells of one d share their streams). With a bias or "
        f"kappa > 1 ({len(zo)} cells) the largest deviation is "
        f"{fmt(np.max(np.abs(zo)) if len(zo) else np.nan, 3)} "
        f"standard errors ({int((np.abs(zo) > 3).sum())} beyond 3), all where the runs contract (table "
        "summary.csv): there the run's start is not the stationary direction, the components along the fast "
        "directions die in the first steps and lower log(||e_T|| / ||e_0||) / T by O(1/T), a bias the "
        "standard error does not contain (largest for kappa = 100, where the slow direction's exponent is "
        "tiny); at the root the growth is along the unstable direction and the thresholds agree. The "
        "simulated almost-sure thresholds deviate from the theory's by at most "
        f"{fmt(np.max(np.abs(zas)) if len(zas) else np.nan, 3)} combined standard errors.\n",
        "## Sample order once d > 1\n",
        "At d = 1 an epoch multiplies e by a product of scalars, the same in any order, so fixed and "
        "shuffled "
        "order have the same verdict S(lr) > 0 per dataset; for d > 1 the factors I - 2 lr x x^T do not "
        "commute and the order changes the epoch's growth.\n",
        *olines,
        "",
        "## What lr E||x||^2 buys\n",
        f"In units of 1/E||x||^2 the almost-sure threshold is {_iv(lo_d, 'as_sim_scaled', 3)} at d = "
        f"{int(lo_d['n_features'])} and {_iv(hi_d, 'as_sim_scaled', 3)} at d = "
        f"{int(hi_d['n_features'])} (theory "
        f"{lo_d['as_threshold_scaled']:.4g} and {hi_d['as_threshold_scaled']:.4g}; with a bias "
        f"{_iv(lo_b, 'as_sim_scaled', 3)} and {_iv(hi_b, 'as_sim_scaled', 3)}); the mean-square threshold "
        f"d/(d + 2) rises from {lo_d['ms_threshold_scaled']:.3g} to {hi_d['ms_threshold_scaled']:.3g}. So "
        "lr = c / E||x||^2 with one c below the smallest of them is stable at every d, and the best c "
        f"(fewest steps) stays near {fmt(hi_d['best_lr_scaled'], 3)} (d = {int(hi_d['n_features'])}; "
        f"population "
        f"theory {fmt(hi_d['theory_best_lr_scaled'], 3)}). What it does not buy: at the best c the steps to "
        f"{tol:g} ||e_0|| grow like d, from {_steps(lo_d)} at d = {int(lo_d['n_features'])} to "
        f"{_steps(hi_d)} "
        f"at d = {int(hi_d['n_features'])} (steps / d: {fmt(lo_d['steps_median_per_d'], 3)} and "
        f"{fmt(hi_d['steps_median_per_d'], 3)}): each step contracts only the error's component along "
        f"its own "
        "sample. " + _kappa_text(per_d) + "\n",
        "## Censored\n",
        f"- Steps: cells with at least half the runs beyond the budget have an infinite median "
        f"({int(summary['steps_censored'].sum())} of {len(summary)} cells; drawn as open triangles).",
        f"- Log growth: {int((summary['n_growth_censored'] > 0).sum())} of {len(summary)} cells have "
        f"runs that "
        "left the bound or reached 1e-140 ||e_0||; their mean is left out of the comparison.",
        "- The unstable verdict is never censored.",
    ]
    answer = (
        f"Both thresholds fall like 1/d: the almost-sure threshold is {_iv(lo_d, 'as_sim')} at d = "
        f"{int(lo_d['n_features'])} and {_iv(hi_d, 'as_sim')} at d = {int(hi_d['n_features'])} (simulated; "
        f"theory {lo_d['as_threshold']:.4g} and {hi_d['as_threshold']:.4g}), i.e. lr E||x||^2 = "
        f"{_iv(lo_d, 'as_sim_scaled', 3)} and {_iv(hi_d, 'as_sim_scaled', 3)}, so scaling the lr by "
        "1/E||x||^2 makes one lr stable at every d, while the steps to tolerance at the best scaled lr still "
        f"grow like d ({_steps(lo_d)} to {_steps(hi_d)})."
    )
    headline = (
        f"dimension: a.s. threshold x E||x||^2 = {_iv(lo_d, 'as_sim_scaled', 3)} at d = "
        f"{int(lo_d['n_features'])}, {_iv(hi_d, 'as_sim_scaled', 3)} at d = {int(hi_d['n_features'])}"
    )
    return "\n".join(body) + "\n", answer, headline
