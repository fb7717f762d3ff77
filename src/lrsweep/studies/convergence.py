"""Study ``convergence``: steps to converge versus lr and n, with population and exact theory.

Population theory: ``log|e_k / e_0|`` drifts like ``k L(lr)`` with ``L(lr) =
E log|1 - 2 lr X^2|``, so ``|e|`` reaches ``tol |e_0|`` after about
``log(tol) / L(lr)`` steps whatever n is. Exact theory: for noise-free
fixed-order runs the step after which ``|e|`` stays within tolerance is known
per dataset (:func:`lrsweep.theory.predicted_steps_to_tol`). The steps are
summarised by their median over *every* run (a run that did not converge
counts as beyond the budget, :func:`lrsweep.studies.steps.steps_median`).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

from ..config import AXES
from ..intervals import wilson_interval
from .common import fmt, steps_to_tol
from .spec import ANY, SINGLE, Options, Output, Study, SweepSpec
from .steps import (
    exact_steps,
    exact_steps_applies,
    excess_over_theory,
    pct,
    rate_crossing,
    rate_text,
    steps_median,
    theory_lrs,
)

if TYPE_CHECKING:
    import pandas as pd

    from ..results import Results

#: Orders for which S > 0 is the exact verdict of a dataset (repeated epochs diverge).
EXACT_VERDICT_ORDERS = ("fixed", "shuffle")
#: Spread of log|e| at the predicted step (over |log tol|) from which the answer quotes the large excess.
SPREAD_SPLIT = 0.9
#: The report's deviation table shows the learning rates whose spread is at least this.
SPREAD_ROWS = 0.25
#: Relative excess the answer calls "close".
CLOSE = 0.01


def _one(opts: Options, name: str) -> float:
    """The one value of axis ``name`` the study runs with (``--set`` or the default)."""
    v = opts.sets.get(name, AXES[name][1])
    return float(v[0] if isinstance(v, list | tuple) else v)


def declare(opts: Options) -> dict[str, SweepSpec]:
    q = opts.quick
    # Past the almost-sure threshold (1.21 / x_scale^2), and the lr of the theory's minimum exactly.
    grid = np.geomspace(1e-3, 2.0, 16 if q else 45)
    lrs = np.unique(np.append(grid, _fastest_theory_lr(_one(opts, "x_scale"))))
    cfg = opts.config(lr=lrs, seed=range(50 if q else 1000), n_samples=[10, 100] if q else [10, 100, 1000],
                      epochs=10 if q else 20)
    return {"runs": SweepSpec(cfg)}


@functools.lru_cache(maxsize=16)  # declare and analyse both need it: a numerical minimum of integrals
def _fastest_theory_lr(x_scale: float) -> float:
    """The lr minimising L(lr) = E log|1 - 2 lr X^2|, the fastest population contraction (0.2927 / s^2)."""
    from scipy.optimize import minimize_scalar

    from .. import theory

    hi = float(theory.as_threshold(x_scale))
    opt = minimize_scalar(lambda lr: float(theory.population_log_multiplier(lr, x_scale)),
                          bounds=(1e-6 * hi, hi), method="bounded", options={"xatol": 1e-9 * hi})
    return float(opt.x)


def spread_ratio(lr: np.ndarray, tol: float, x_scale: float) -> np.ndarray:
    """Standard deviation of ``log|e_k / e_0|`` at the predicted step ``k = log(tol) / L``, over |log tol|.

    ``sqrt(k V(lr)) / |log tol|`` with ``V`` the variance of ``log|1 - 2 lr X^2|``: near 0 the error
    path hugs its drift and crosses ``tol`` once; near 1 and above it crosses, comes back above
    and the last exit, which ``converged_step`` measures, comes later than the drift's crossing.
    NaN where L >= 0.
    """
    from .. import theory

    L = np.asarray(theory.population_log_multiplier(lr, x_scale))
    V = np.asarray(theory.population_log_multiplier_variance(lr, x_scale))
    k = np.where(L < 0, np.log(tol) / np.where(L < 0, L, -1.0), np.nan)
    return np.sqrt(k * V) / abs(np.log(tol))


def _interval(r: pd.Series) -> str:
    """``median [lo, hi]`` of the steps, "beyond the budget" where censored."""
    m, lo, hi = r["steps_median"], r["steps_median_lo"], r["steps_median_hi"]
    if np.isinf(m):
        return "beyond the budget"
    return f"{fmt(m)} [{fmt(lo)}, {'beyond the budget' if np.isinf(hi) else fmt(hi)}]"


def _range(lo: float, hi: float, fmt_: str, unit: str) -> str:
    """``lo-hi unit`` (or one value): a range quoted in the answer."""
    a, b = format(lo, fmt_), format(hi, fmt_)
    return f"{a}{unit}" if a == b else f"{a} to {b}{unit}"


def _summary(res: Results, f: pd.DataFrame, exact_ok: bool, verdict_ok: bool) -> pd.DataFrame:
    """Results.summary by (n, lr) plus the censored medians, the exact theory and the population theory."""
    import pandas as pd

    cfg = res.config
    by = ["n_samples", "lr"]
    (x_scale,) = cfg.axes["x_scale"]
    summary = res.summary(by=by)
    summary["budget"] = cfg.epochs * summary["n_samples"]
    summary = summary.merge(steps_median(f, by), on=by)
    if exact_ok:
        summary = summary.merge(steps_median(f, by, "exact_step", "exact_steps"), on=by)
    else:
        for c in ("exact_steps_median", "exact_steps_median_lo", "exact_steps_median_hi"):
            summary[c] = np.nan
        summary["exact_steps_censored"] = False
    k = f.groupby(by, observed=True)["predicted_diverges"].sum().reindex(
        pd.MultiIndex.from_frame(summary[by])).to_numpy()
    n = summary["n"].to_numpy()
    lo, hi = wilson_interval(k, n)
    summary["n_exact_unstable"] = k if verdict_ok else -1
    for col, v in (("rate", k / n), ("lo", lo), ("hi", hi)):
        summary[f"exact_unstable_{col}"] = v if verdict_ok else np.nan
    # The population theory once per learning rate (each value is a numerical integral).
    lr_u, inv = np.unique(summary["lr"].to_numpy(), return_inverse=True)
    summary["theory_steps"] = steps_to_tol(lr_u, cfg)[inv]
    summary["spread_ratio"] = spread_ratio(lr_u, cfg.tol, x_scale)[inv]
    excess_over_theory(summary)
    return summary


def _per_n(summary: pd.DataFrame, n: int, lr_star: float) -> dict:
    """The numbers the report quotes for dataset size ``n``."""
    g = summary[summary["n_samples"] == n].sort_values("lr")
    gl = g["lr"].to_numpy()
    det = g[np.isfinite(g["steps_median"])]
    past = gl >= lr_star  # the converged fraction also rises at small lr (the budget): its fall only
    conv = rate_crossing(gl[past], *(g[f"converged_{c}"].to_numpy()[past] for c in ("rate", "lo", "hi")),
                         falling=True)
    unst = rate_crossing(gl, *(g[f"exact_unstable_{c}"].to_numpy() for c in ("rate", "lo", "hi")))
    k_c, n_all = int(g["n_censored"].sum()), int(g["n"].sum())
    c_lo, c_hi = wilson_interval(k_c, n_all)
    # Up to which lr the theory lies inside every median's interval (from the smallest determined lr on).
    gd = det[np.isfinite(det["theory_steps"])]
    inside = ((gd["theory_steps"] >= gd["steps_median_lo"])
              & (gd["theory_steps"] <= gd["steps_median_hi"])).to_numpy()
    agree_to = (float(gd["lr"].max()) if inside.all() else np.nan if not inside[0]
                else float(gd["lr"].to_numpy()[np.argmin(inside) - 1])) if len(inside) else np.nan
    return {"n": n, "best": det[det["steps_median"] == det["steps_median"].min()],
            "at_star": g.iloc[int(np.argmin(np.abs(np.log(gl / lr_star))))], "conv": conv, "unst": unst,
            "censored": (k_c, n_all, float(c_lo), float(c_hi)),
            "censored_cells": int(g["steps_censored"].sum()),
            "cells": len(g), "agree_to": agree_to, "top_conv": float(g["converged_rate"].iloc[-1]),
            "top_lr": float(gl[-1])}


def analyse(runs: dict[str, Results], opts: Options) -> Output:
    import pandas as pd

    from .. import plots, theory

    res = runs["runs"]
    cfg = res.config
    f = res.with_theory()
    lrs = np.asarray(cfg.axes["lr"])
    (x_scale,) = cfg.axes["x_scale"]
    (order,) = cfg.axes["order"]
    ns = list(cfg.axes["n_samples"])
    ms, as_ = float(theory.ms_threshold(x_scale)), float(theory.as_threshold(x_scale))
    lr_star = _fastest_theory_lr(x_scale)
    min_theory = float(steps_to_tol(np.array([lr_star]), cfg)[0])
    whole = int(np.ceil(min_theory))
    exact_ok = bool(exact_steps_applies(f).all())
    verdict_ok = order in EXACT_VERDICT_ORDERS
    if exact_ok:
        f["exact_step"] = exact_steps(res)
    summary = _summary(res, f, exact_ok, verdict_ok)
    rows = [_per_n(summary, n, lr_star) for n in ns]

    # ---------------------------------------------------------------- the answer: the largest n
    big = rows[-1]
    big_n = big["n"]
    gb = summary[summary["n_samples"] == big_n].sort_values("lr")
    # Cells whose median and prediction are both within the budget (near the threshold a prediction
    # beyond the budget meets the median of the datasets that happen to converge fast: not comparable).
    gb = gb[np.isfinite(gb["steps_median"]) & (gb["theory_steps"] <= gb["budget"])]
    ex = gb["excess"].to_numpy()
    far = np.flatnonzero(np.abs(ex) > CLOSE)
    low_to = (float(gb["lr"].max()) if not len(far) else
              float(gb["lr"].iloc[far[0] - 1]) if far[0] > 0 else np.nan)
    tail = gb[gb["spread_ratio"] >= SPREAD_SPLIT]
    mid = gb[(gb["spread_ratio"] < SPREAD_SPLIT) & ~(gb["lr"] <= low_to)]

    def band(d: pd.DataFrame) -> str:
        steps = d["steps_median"] - d["theory_steps"]
        return (f"by {_range(100 * d['excess'].min(), 100 * d['excess'].max(), '+.0f', ' %')} ("
                f"{_range(steps.min(), steps.max(), '+.1f', ' steps')}) at lr "
                + _range(d["lr"].min(), d["lr"].max(), ".3g", ""))

    star = big["at_star"]
    diff = star["steps_median"] - whole
    rel = ("matches" if diff == 0 else
           f"is {fmt(abs(diff), 2)} step{'s' if abs(diff) != 1 else ''} {'above' if diff > 0 else 'below'}")
    parts = ([f"by less than {100 * CLOSE:.0f} % up to lr {low_to:.3g}"] if np.isfinite(low_to) else []) + [
        band(d) for d in (mid, tail) if len(d)]
    where = "at every lr" if (ex > 0).all() else "on balance"
    answer = (
        f"The simulated median at the theory's best lr {lr_star:.4g}, {_interval(star)} steps (n = {big_n}), "
        f"{rel} the theory's minimum of {min_theory:.3g} steps (the whole step {whole}); the n = {big_n} "
        f"medians lie above log(tol) / L(lr) {where}"
        + (", " + ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1] if parts else "")
        + ", the excess growing with the spread of log|e| that the drift ignores.")

    # ---------------------------------------------------------------- the table per n
    def cross_text(c: tuple[float, float, float]) -> str:
        return f"{fmt(c[0], 3)} [{fmt(c[1], 3)}, {fmt(c[2], 3)}]"

    def ntab_row(r: dict) -> str:
        k_c, n_all = r["censored"][:2]
        b = r["best"]
        best = ("none determined" if not len(b) else
                f"{_interval(b.loc[b['steps_median_hi'].idxmin()])} (lr "
                + (f"{b['lr'].min():.3g}-{b['lr'].max():.3g})" if len(b) > 1 else f"{b['lr'].iloc[0]:.3g})"))
        conv = (cross_text(r["conv"]) if np.isfinite(r["conv"][0]) else
                f"not in the grid: {r['top_conv']:.0%} converge at its top lr {r['top_lr']:.3g} (grid edge)")
        unst = (cross_text(r["unst"]) if verdict_ok and np.isfinite(r["unst"][0])
                else "beyond the grid" if verdict_ok else "no exact verdict")
        agree = (f"{r['agree_to']:.3g}" if np.isfinite(r["agree_to"])
                 else "nowhere (the first determined median is already above)")
        st = r["at_star"]
        return (f"| {r['n']} | {cfg.epochs * r['n']:,} | {rate_text(k_c, n_all)}; median beyond the budget "
                f"in {r['censored_cells']} of {r['cells']} cells | {best} | {_interval(st)} ("
                f"{fmt(st['excess_z'], 2)} SE from {min_theory:.3g}) | {agree} | {conv} | {unst} |\n")

    ntab = ("| n | budget (steps) | censored runs (slow, oscillating, growing) | smallest median steps [95 "
            "%] (lr where reached) | median at the theory's best lr | theory inside every interval up to lr "
            "| converged fraction falls below 50 % at lr | exact: 50 % of datasets unstable at lr |\n"
            "|---|---|---|---|---|---|---|---|\n" + "".join(ntab_row(r) for r in rows))

    # ---------------------------------------------------------------- the deviation table
    shown = summary[(summary["n_samples"] == big_n) & (summary["spread_ratio"] >= SPREAD_ROWS)]
    quiet = summary[(summary["n_samples"] == big_n) & (summary["spread_ratio"] < SPREAD_ROWS)]

    def dev_cell(r: pd.Series) -> str:
        if not np.isfinite(r["excess"]):
            return _interval(r)
        hi = "open" if not np.isfinite(r["excess_hi"]) else f"{100 * r['excess_hi']:+.0f}"
        return (f"{_interval(r)}: {100 * r['excess']:+.0f} % [{100 * r['excess_lo']:+.0f}, {hi}], "
                f"{fmt(r['excess_z'], 2)} SE")

    dev_rows = []
    for lr in shown["lr"]:
        at = summary[summary["lr"] == lr]
        t = at.iloc[0]
        cells = [dev_cell(at[at["n_samples"] == n].iloc[0]) for n in ns]
        dev_rows.append(f"| {lr:.3g} | {fmt(t['theory_steps'], 4)} | {fmt(t['spread_ratio'], 2)} | "
                        + " | ".join(cells) + " |\n")
    dev = ("| lr | theory log(tol)/L | spread | "
           + " | ".join(f"n = {n}: median [95 %]: excess [95 %], deviation" for n in ns) + " |\n"
           "|---|---|---|" + "---|" * len(ns) + "\n" + "".join(dev_rows))
    quiet_ex = quiet["excess"].dropna()
    quiet_txt = (f"At the {len(quiet)} smaller learning rates (spread below {SPREAD_ROWS:g}) the n = {big_n} "
                 f"medians are {100 * quiet_ex.min():.1f} to {100 * quiet_ex.max():.1f} % above the theory "
                 "(summary.csv has every cell).\n\n" if len(quiet_ex) else "")

    # ---------------------------------------------------------------- exact per-dataset theory
    if exact_ok:
        same = f["converged_step"].to_numpy() == f["exact_step"].to_numpy()
        k_same = int(same.sum())
        s_lo, s_hi = wilson_interval(k_same, len(f))
        miss = f[~same]
        excursion = miss["status"] == "diverged"
        # Within a few ulps of theta_ref rounding holds theta on the solution (e stops following its factors).
        ulps = 8 * np.finfo(np.float64).eps * np.maximum(np.abs(miss["theta_ref"]), 1.0)
        held = ~excursion & ((miss["theta_final"] - miss["theta_ref"]).abs() <= ulps)
        other = len(miss) - int(excursion.sum()) - int(held.sum())
        exact_text = (
            "Exact per-dataset theory: for noise-free fixed-order runs the step after which |e| stays within "
            "tol |e_0| follows from the dataset alone (`theory.predicted_steps_to_tol`, with the kernel's "
            "rule that the whole last epoch must be within tolerance; column `exact_steps_median`). It "
            f"equals the simulated `converged_step` for {k_same:,} of {len(f):,} runs ({pct(k_same / len(f))}"
            f", Wilson 95 % [{pct(s_lo)}, {pct(s_hi)}])."
            + (f" Of the {len(miss):,} others, {int(excursion.sum()):,} left the divergence bound ("
               f"{cfg.diverge_factor:g} x scale) in a transient excursion (status diverged) although without "
               f"the bound they converge within the budget, and {int(held.sum()):,} (at lr "
               f"{miss.loc[held, 'lr'].min():.3g} and above) came within float64 resolution of theta_ref and "
               "were held there by rounding, although in exact arithmetic their error path, after dipping "
               "below that resolution, comes back above the tolerance ("
               f"{int((held & miss['predicted_diverges']).sum())} of them on datasets that diverge, S > 0): "
               "rounding makes them converged"
               + (f"; {other} differ otherwise" if other else "") + "." if len(miss) else "")
            + " The deviations from the population line are therefore properties of the datasets, not of the "
            "simulation.\n\n")
    else:
        exact_text = (f"No exact per-dataset steps for order {order!r} (they exist for noise-free "
                      "fixed-order runs only): the population line is the only theory of the steps here.\n\n")

    first = summary[summary["n_samples"] == ns[0]]
    small = first[first["steps_censored"] & (first["lr"] < lr_star)
                  & np.isfinite(first["converged_step_median"])]
    small_txt = ""
    if len(small):
        s0 = small.iloc[-1]
        small_txt = (
            f"Censored cells: at n = {ns[0]} the budget is only {cfg.epochs * ns[0]:,} steps, and up to lr "
            f"{small['lr'].max():.3g} fewer than half the runs converge within it: the median is only known "
            "to exceed the budget (open triangles in the figure). The median of the converged runs alone "
            "(`converged_step_median` in summary.csv) describes the fastest datasets only: at lr "
            f"{s0['lr']:.3g} it is {fmt(s0['converged_step_median'])} steps from {int(s0['n_converged'])} of "
            f"{int(s0['n'])} runs, against {fmt(s0['theory_steps'])} from theory; it is not an estimate of "
            "the steps to converge and is not drawn.\n\n")
    nested = ("The datasets of one seed are nested (a smaller one is the prefix of a larger one): the runs "
              f"of n = {ns[-2]} and n = {ns[-1]} coincide for their first {ns[-2]} steps, so where most runs "
              "settle within them their medians are equal or nearly so.\n\n"
              if len(ns) > 1 and cfg.data == "gaussian" else "")

    div_txt = ""
    top = summary[(summary["n_samples"] == big_n) & (summary["lr"] < as_)].sort_values("lr")
    if verdict_ok and len(top):
        t = top.iloc[-1]
        div_txt = (
            f"Diverged is not unstable: at lr {t['lr']:.3g} (below the almost-sure threshold) and n = {big_n}"
            f", {pct(t['diverged_rate'])} [{pct(t['diverged_lo'])}, {pct(t['diverged_hi'])}] of the runs "
            f"left the bound once (diverged) while the exact verdict calls {pct(t['exact_unstable_rate'])} ["
            f"{pct(t['exact_unstable_lo'])}, {pct(t['exact_unstable_hi'])}] of their datasets unstable.\n\n")

    report = (
        f"Setup: {len(lrs)} learning rates from {lrs.min():.3g} to {lrs.max():.3g} (past the almost-sure "
        f"threshold {as_:.4g}, with the theory's best lr {lr_star:.4g} among them) x "
        f"{len(cfg.axes['seed']):,} seeds x n in {{{', '.join(map(str, ns))}}}: noise-free y = {cfg.coef:g}"
        f"x, X ~ N(0, {x_scale:g}^2), order {order}, theta0 = {cfg.axes['theta0'][0]:g}, {cfg.epochs} epochs "
        f"(a budget of {cfg.epochs} n steps), tol = {cfg.tol:g}.\n\n"
        "What each number is. *Steps to converge* is `converged_step`, the step after which |e| stays within "
        f"{cfg.tol:g} |e_0| to the end of the run; a run is *converged* only if its whole last epoch is "
        "within tolerance. Its median is taken over **every** run, a run that did not converge counting as "
        "beyond the budget, with the distribution-free 95 % order-statistic interval; where at least half "
        "the runs did not converge the median is only known to exceed the budget (censored). Rates are "
        "simulated statuses with Wilson 95 % intervals: *diverged* means |e| left the bound once (a "
        "transient excursion counts), *slow*, *oscillating* and *growing* are censored (the budget did not "
        "decide). *Unstable (exact)* is the exact per-dataset verdict S(lr) = sum_i log|1 - 2 lr x_i^2| > 0 "
        "(repeated epochs diverge), exact for fixed and shuffled order"
        + ("" if verdict_ok else f", so not given for order {order!r}") + ". The population theory is "
        "log(tol) / L(lr), L(lr) = E log|1 - 2 lr X^2|: the step at which the mean drift of log|e| reaches "
        f"log(tol), the same for every n; its thresholds are the mean-square {ms:.4g} and the almost-sure "
        f"{as_:.4g}.\n\n"
        + ntab + "\n"
        f"The minimum. L(lr) is smallest at lr = {lr_star:.4g} (0.2927 / x_scale^2, x_scale {x_scale:g}), so "
        f"log(tol) / L(lr) is smallest there too: {min_theory:.4g} steps, whose first whole step is {whole}. "
        "The smallest simulated medians (table) are reached over a range of learning rates around it: the "
        "minimum is flat, and the simulation sits above the theory there as everywhere.\n\n"
        "Deviation from the population line (excess = median / theory - 1, its interval from the median's; "
        "the deviation in standard errors of the median, its 95 % half-width / 1.96, at least half a step). "
        "*Spread* is the standard deviation of log|e_k / e_0| at the predicted step over the distance to the "
        "tolerance, sqrt(k V(lr)) / |log tol|, V the variance of log|1 - 2 lr X^2|: as it nears 1 the error "
        "crosses the tolerance, comes back above it, and its last exit, which `converged_step` measures, "
        "comes later than the drift's crossing; the excess grows with it.\n\n"
        + dev + "\n" + quiet_txt + nested + exact_text + small_txt + div_txt
        + f"The grid ends at lr {lrs.max():.3g}, past the almost-sure threshold. Where the converged "
          "fraction falls below 50 % depends on the budget (runs near the threshold converge slowly); the "
          "exact verdict does not.\n"
    )

    dense = theory_lrs(lrs.min(), min(lrs.max(), as_ * 0.999))
    pred = pd.DataFrame({"lr": dense, "steps": steps_to_tol(dense, cfg)}).dropna()
    pred = pred[pred["steps"] <= 4 * cfg.epochs * max(ns)]  # the asymptote must not set the axis range
    fig = plots.steps_to_converge(
        summary, panel="n_samples", panel_name="n", reference="theory_steps",
        reference_label="population theory", theory=pred,
        theory_label=f"population theory log(tol) / L(lr)\n(minimum {min_theory:.3g} at lr {lr_star:.3g})",
        thresholds={f"mean-square\nlr {ms:.3g}": ms, f"almost-sure\nlr {as_:.4g}": as_},
        title=(f"Median steps until |e| stays within {cfg.tol:g} |e_0| lie above log(tol) / L(lr), the more "
               "so near the threshold\n"
               f"{len(lrs)} lr x {len(cfg.axes['seed']):,} seeds x {len(ns)} sizes = {cfg.n_trajectories:,} "
               f"trajectories, {cfg.epochs} epochs; bottom: median / theory"))
    headline = (f"convergence: theory minimum {min_theory:.3g} steps at lr {lr_star:.3g}, simulated median "
                f"{_interval(star)} (n = {big_n}); above theory " + ", ".join(parts))
    return Output(summary, {"steps_to_converge": fig}, report, headline, answer=answer)


STUDY = Study(
    name="convergence",
    question=("How many steps does per-sample SGD need until its error stays within tol |e_0|, as a function "
              "of lr and n, and how well does the population theory log(tol) / E log|1 - 2 lr X^2| predict "
              "it?"),
    declare=declare,
    analyse=analyse,
    axes={"lr": ANY, "seed": ANY, "n_samples": ANY, "x_scale": SINGLE, "order": SINGLE, "theta0": SINGLE},
    refused={
        "noise": "steps to a tolerance are defined for noise-free data; with noise the error settles at a "
                 "noise floor instead of reaching tol |e_0|",
        **{a: "outliers change the law of x or the fixed point, so log(tol) / E log|1 - 2 lr X^2| (Gaussian "
              "samples) does not apply" for a in ("outlier_kind", "outlier_frac", "outlier_scale")},
    },
    figures=("steps_to_converge",),
)
