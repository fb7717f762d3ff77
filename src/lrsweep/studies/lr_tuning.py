"""Study ``lr-tuning``: the seed's lr 0.01 versus 0.04 and a fine lr grid, speed versus stability.

Two sweeps: a grid of learning rates over many Gaussian datasets (with the
lecture's 0.01 and 0.04 in it exactly), and five learning rates on the
seed's own dataset, recorded step by step and set next to that dataset's
exact theory (its epoch log-multiplier ``S``, its diverging intervals, its
exact steps to converge).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..config import DATA_AXES
from ..intervals import wilson_interval
from .common import fmt, steps_to_tol
from .spec import ANY, SINGLE, Axis, Options, Output, Study, SweepSpec
from .steps import (
    exact_steps,
    exact_steps_applies,
    excess_over_theory,
    pct,
    rate_crossing,
    steps_median,
    theory_lrs,
)

if TYPE_CHECKING:
    import pandas as pd

    from ..results import Results

#: The lecture's two learning rates and three larger ones, run on the seed's own data.
DEMO_LRS = (0.01, 0.04, 0.2, 0.5, 1.0)
#: The lecture's slow and fast learning rates, compared over many datasets (and in the grid exactly).
LECTURE_SLOW, LECTURE_FAST = 0.01, 0.04
#: Orders for which S > 0 is the exact verdict of a dataset (repeated epochs diverge).
EXACT_VERDICT_ORDERS = ("fixed", "shuffle")
#: Epochs within which the exact converged step of the seed's data is looked for beyond the budget.
LONG_EPOCHS = 100_000
#: Why the study needs noise-free data.
NOISE_FREE = ("steps to a tolerance need noise-free data: with noise or response outliers the error settles "
              "at a noise floor instead of reaching tol |e_0|")


def declare(opts: Options) -> dict[str, SweepSpec]:
    q = opts.quick
    lrs = np.unique(np.append(np.geomspace(1e-3, 2.0, 20 if q else 60), [LECTURE_SLOW, LECTURE_FAST]))
    grid = opts.config(lr=lrs, seed=range(100 if q else 1000), n_samples=100, epochs=5)
    # The seed's own data: the lecture's generator, one dataset (the grid's first seed).
    sets = {k: v for k, v in opts.sets.items() if k != "seed"}
    demo = Options(opts.quick, 0, sets).config(lr=list(DEMO_LRS), seed=grid.axes["seed"][0], data="lecture",
                                               n_samples=100, epochs=5)
    return {"grid": SweepSpec(grid), "demo": SweepSpec(demo, record="all")}


def _summary(res: Results, f: pd.DataFrame, exact_ok: bool, verdict_ok: bool,
             population_ok: bool) -> pd.DataFrame:
    """Results.summary by lr plus the censored medians, the exact theory and the population theory."""
    cfg = res.config
    (n,) = cfg.axes["n_samples"]
    summary = res.summary(by=["lr"])
    summary["budget"] = cfg.epochs * n
    summary = summary.merge(steps_median(f, ["lr"]), on="lr")
    if exact_ok:
        summary = summary.merge(steps_median(f, ["lr"], "exact_step", "exact_steps"), on="lr")
    else:
        for c in ("exact_steps_median", "exact_steps_median_lo", "exact_steps_median_hi"):
            summary[c] = np.nan
        summary["exact_steps_censored"] = False
    k = f.groupby("lr", observed=True)["predicted_diverges"].sum().reindex(summary["lr"]).to_numpy()
    m = summary["n"].to_numpy()
    lo, hi = wilson_interval(k, m)
    summary["n_exact_unstable"] = k if verdict_ok else -1
    for col, v in (("rate", k / m), ("lo", lo), ("hi", hi)):
        summary[f"exact_unstable_{col}"] = v if verdict_ok else np.nan
    summary["theory_steps"] = steps_to_tol(summary["lr"].to_numpy(), cfg) if population_ok else np.nan
    excess_over_theory(summary)
    return summary


def _at(summary: pd.DataFrame, lr: float) -> tuple[pd.Series, str]:
    """The summary row at ``lr`` (or at the nearest grid point, said so)."""
    i = int(np.argmin(np.abs(np.log(summary["lr"].to_numpy() / lr))))
    row = summary.iloc[i]
    exact = math.isclose(row["lr"], lr, rel_tol=1e-12)
    return row, (f"lr {lr:g}" if exact else f"lr {row['lr']:.3g} (the grid point nearest {lr:g})")


def _steps(r: pd.Series, stem: str = "steps") -> str:
    """``m [lo, hi] steps`` of a median over every run, or what the budget says of a censored one."""
    m, lo, hi = r[f"{stem}_median"], r[f"{stem}_median_lo"], r[f"{stem}_median_hi"]
    if np.isinf(m):
        return f"more than the budget of {int(r['budget'])} steps"
    return f"{fmt(m)} [{fmt(lo)}, {'beyond the budget' if np.isinf(hi) else fmt(hi)}] steps"


def _place(intervals: list[tuple[float, float]], lr: float, crit: float) -> dict:
    """Where ``lr`` lies on a dataset's stability map: in a diverging interval, below the critical lr, or
    in a stable gap between two diverging intervals (``left``, ``right``)."""
    for a, b in intervals:
        if a < lr < b:
            return {"kind": "diverging", "text": f"inside the diverging interval ({a:.5g}, {b:.5g})"}
    if lr < crit:
        return {"kind": "below", "text": f"below the first critical lr {crit:.5g} ({crit / lr:.3g} x this "
                                         "lr)"}
    left = [iv for iv in intervals if iv[1] <= lr][-1:]
    right = [iv for iv in intervals if iv[0] >= lr][:1]
    lo, hi = (left[0][1] if left else crit), (right[0][0] if right else math.inf)
    sides = " and ".join(f"({a:.5g}, {b:.5g})" for a, b in left + right)
    return {"kind": "gap", "lo": lo, "hi": hi, "both": bool(left and right),
            "text": f"in a stable gap ({lo:.5g}, {hi:.5g}) of width {hi - lo:.3g}"
                    + (f" between the diverging intervals {sides}" if sides else "")}


def _seed_data(demo: Results) -> tuple[pd.DataFrame, dict]:
    """The seed-data runs with the exact theory of their dataset, and the dataset's stability map."""
    from .. import theory
    from ..data import dataset_for

    dcfg = demo.config
    d = demo.with_theory()
    row = d.iloc[0]
    ds = dataset_for(dcfg, tuple(row[a] for a in DATA_AXES), str(row["order"]))
    x = np.asarray(ds.x, dtype=np.float64)
    applies = bool(exact_steps_applies(d).all())
    d["exact_converged_step"] = exact_steps(demo) if applies else np.nan
    d["exact_converged_step_long"] = exact_steps(demo, epochs=LONG_EPOCHS) if applies else np.nan
    d["max_step_factor"] = 2 * d["lr"] * float(np.max(x ** 2))  # > 1: that step overshoots
    crit = float(theory.critical_lr(x))
    lr_hi = max(2.0, 1.5 * float(d["lr"].max()))
    intervals = theory.diverging_intervals(x, 0.0, lr_hi)
    places = [_place(intervals, float(lr), crit) for lr in d["lr"]]
    info = {"crit": crit, "intervals": intervals, "lr_hi": lr_hi, "applies": applies, "places": places,
            "gd": float(theory.gd_threshold(x))}
    return d.reset_index(drop=True), info


def _seed_notes(d: pd.DataFrame, info: dict, epochs: int, n: int) -> list[str]:
    """What the seed's data say about lr 1 (censored next to unstable learning rates) and about lr 0.04."""
    dd = d.set_index("lr")
    crit = info["crit"]
    notes = []
    for lr, place in zip(d["lr"], info["places"], strict=True):
        r = dd.loc[lr]
        long = r["exact_converged_step_long"]
        if place["kind"] != "gap" or r["predicted_diverges"] or r["status"] == "converged" or not long >= 0:
            continue
        swing = r["max_abs_error"] / abs(r["theta0"] - r["theta_ref"])
        notes.append(
            f"lr {lr:g} is {place['text']}: its error shrinks by exp(S) = {math.exp(r['S']):.3g} per epoch, "
            f"but within each epoch it swings up to {fmt(swing, 3)} times |e_0|, so it stays within "
            f"tolerance only from step {int(long):,} (epoch {int(long - 1) // n + 1}): with {epochs} epochs "
            f"it is *{r['status']}* (censored), not converged"
            + (". Learning rates just below and just above it diverge." if place["both"] else "."))
    if LECTURE_FAST in dd.index:
        r = dd.loc[LECTURE_FAST]
        r0 = dd.loc[LECTURE_SLOW] if LECTURE_SLOW in dd.index else None
        jump = (f"its largest jump of theta, {fmt(r['max_jump'], 3)}, is {r['max_jump'] / r0['max_jump']:.2g}"
                f" times that of lr {LECTURE_SLOW:g} ({fmt(r0['max_jump'], 3)}), each step being "
                f"{LECTURE_FAST / LECTURE_SLOW:g} times larger, " if r0 is not None else "")
        calm = r["max_step_factor"] < 1 and not r["predicted_diverges"]
        notes.append(
            f"The lecture says lr {LECTURE_FAST:g} \"moves in big, unstable jumps\". On its data "
            + (f"{jump}but no step overshoots (largest 2 lr x_i^2 = {fmt(r['max_step_factor'], 3)} < 1: "
               f"{r['sign_changes']} sign changes, {r['predicted_sign_changes']} overshooting steps "
               f"exactly), the error falls monotonically by exp(S) = {math.exp(r['S']):.2g} per epoch, the "
               f"run converges at step {r['converged_step']}, and lr {LECTURE_FAST:g} is "
               f"{crit / LECTURE_FAST:.3g} times below this dataset's first critical lr {crit:.4g}: it is "
               "fast and stable, not unstable."
               if calm else
               f"{jump}{r['predicted_sign_changes']} steps overshoot (largest 2 lr x_i^2 = "
               f"{fmt(r['max_step_factor'], 3)}) and S = {fmt(r['S'], 4)} per epoch; the first critical lr "
               f"is {crit:.4g}."))
    return notes


def analyse(runs: dict[str, Results], opts: Options) -> Output:
    import pandas as pd

    from .. import plots, theory

    res, demo = runs["grid"], runs["demo"]
    cfg, dcfg = res.config, demo.config
    f = res.with_theory()
    (n_grid,) = cfg.axes["n_samples"]
    (order,) = cfg.axes["order"]
    (x_scale,) = cfg.axes["x_scale"]
    lrs = np.asarray(cfg.axes["lr"])
    seeds = len(cfg.axes["seed"])
    exact_ok = bool(exact_steps_applies(f).all())
    verdict_ok = order in EXACT_VERDICT_ORDERS
    population_ok = cfg.axes["outlier_frac"] == (0.0,)  # Gaussian x: leverage outliers change its law
    if exact_ok:
        f["exact_step"] = exact_steps(res)
    summary = _summary(res, f, exact_ok, verdict_ok, population_ok)
    ms, as_ = float(theory.ms_threshold(x_scale)), float(theory.as_threshold(x_scale))
    budget = cfg.epochs * n_grid
    gl = summary["lr"].to_numpy()

    # ------------------------------------------------------------ the grid: speed
    slow, slow_name = _at(summary, LECTURE_SLOW)
    fast, fast_name = _at(summary, LECTURE_FAST)
    det = summary[np.isfinite(summary["steps_median"])]
    best = det[det["steps_median"] == det["steps_median"].min()]
    best_row = best.loc[best["steps_median_hi"].idxmin()] if len(best) else None
    best_span = ("" if best_row is None else
                 f"lr {best['lr'].min():.3g}-{best['lr'].max():.3g}" if len(best) > 1 else
                 f"lr {best_row['lr']:.3g}")
    ratio = ""
    if slow["lr"] != fast["lr"] and np.isfinite(slow["steps_median"]) and np.isfinite(fast["steps_median"]):
        r_lo = slow["steps_median_lo"] / fast["steps_median_hi"]  # 0 if the fast interval is open above
        r_hi = slow["steps_median_hi"] / fast["steps_median_lo"]
        ratio = (f"{slow['steps_median'] / fast['steps_median']:.2g} times fewer steps (between {r_lo:.2g} "
                 f"and {fmt(r_hi, 2) if np.isfinite(r_hi) else 'more'} from the intervals)")
    speed = (f"the median run needs {_steps(fast)} at {fast_name} against {_steps(slow)} at {slow_name}"
             + (f", {ratio}" if ratio else "") if slow["lr"] != fast["lr"] else
             f"the median run needs {_steps(fast)} at lr {fast['lr']:.3g}, the grid point nearest both "
             f"{LECTURE_SLOW:g} and {LECTURE_FAST:g}")

    # ------------------------------------------------------------ the grid: stability
    past = gl >= (best_row["lr"] if best_row is not None else 0.0)  # the converged fraction's fall
    losing = summary[past & (summary["converged_rate"] < 1.0)]
    kept = summary[past & (summary["converged_rate"] == 1.0)]
    all_conv_to = (float(kept["lr"][kept["lr"] < losing["lr"].min()].max()) if len(losing) and len(kept)
                   else np.nan)

    def cross(stem: str, falling: bool = False, mask: np.ndarray | None = None) -> tuple[float, float, float]:
        m = np.ones(len(gl), bool) if mask is None else mask
        return rate_crossing(gl[m], *(summary[f"{stem}_{c}"].to_numpy()[m] for c in ("rate", "lo", "hi")),
                             falling=falling)

    def ctext(c: tuple[float, float, float]) -> str:
        return (f"lr {fmt(c[0], 3)} [{fmt(c[1], 3)}, {fmt(c[2], 3)}]" if np.isfinite(c[0])
                else "no lr of the grid")

    unst = cross("exact_unstable") if verdict_ok else (np.nan,) * 3
    divc, convc = cross("diverged"), cross("converged", falling=True, mask=past)
    k_c, n_all = int(summary["n_censored"].sum()), int(summary["n"].sum())
    c_lo, c_hi = wilson_interval(k_c, n_all)
    cens = summary[summary["steps_censored"]]
    split = best_row["lr"] if best_row is not None else np.inf
    cens_small, cens_large = cens[cens["lr"] < split], cens[cens["lr"] > split]

    # ------------------------------------------------------------ the seed's own data
    d, info = _seed_data(demo)
    dd = d.set_index("lr")
    n_demo = dcfg.axes["n_samples"][0]
    crit = info["crit"]

    def seed_row(lr: float, place: dict) -> str:
        r = dd.loc[lr]
        long = r["exact_converged_step_long"]
        exact = ("n/a" if not info["applies"] else str(int(r["exact_converged_step"]))
                 if r["exact_converged_step"] >= 0 else
                 f"-1 (converges at step {int(long):,}, epoch {int(long - 1) // n_demo + 1})" if long >= 0
                 else "-1 (never)")
        verdict = "unstable" if r["predicted_diverges"] else "stable"
        return (f"| {lr:g} | {r['status']} | {r['converged_step']} | {exact} | {fmt(r['S'], 4)} ({verdict}) "
                f"| {int(r['predicted_sign_changes']) // dcfg.epochs} | {r['sign_changes']} | "
                f"{fmt(r['max_step_factor'], 3)} | {fmt(r['max_jump'], 3)} | {place['text']} |\n")

    seed_table = (
        "| lr | status | converged_step | exact converged_step (within the budget; beyond it) | exact S per "
        "epoch (verdict) | overshooting steps per epoch (exact: 2 lr x_i^2 > 1) | sign changes of e "
        f"(simulated, counted while |e| > {dcfg.sign_floor:g} scale) | largest 2 lr x_i^2 | largest jump of "
        "theta | where lr lies on this dataset |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n"
        + "".join(seed_row(lr, p) for lr, p in zip(d["lr"], info["places"], strict=True)))
    ivs = info["intervals"]
    map_text = (
        "This dataset's exact stability map (`theory.critical_lr`, `theory.diverging_intervals`): the first "
        f"critical lr is {crit:.5g} (full-batch gradient descent would diverge from {info['gd']:.4g}); up to "
        f"lr {info['lr_hi']:g} the diverging set is the union of {len(ivs)} intervals"
        + (f", the first ones {', '.join(f'({a:.5g}, {b:.5g})' for a, b in ivs[:4])}" if ivs else "")
        + ". S dips to -inf at each pole 1/(2 x_i^2), so above the critical lr the stable learning rates "
          "form narrow gaps around the poles.\n\n")
    notes = _seed_notes(d, info, dcfg.epochs, n_demo)

    # ------------------------------------------------------------ the grid table
    key_lrs = sorted({float(slow["lr"]), float(fast["lr"]), *([float(best_row["lr"])] if best_row is not None
                                                                else []), *gl[gl >= 0.5].tolist()})

    def rate(r: pd.Series, stem: str) -> str:
        return f"{pct(r[f'{stem}_rate'])} [{pct(r[f'{stem}_lo'])}, {pct(r[f'{stem}_hi'])}]"

    def excess(r: pd.Series) -> str:
        if not np.isfinite(r["excess"]):
            return "n/a"
        hi = f"{100 * r['excess_hi']:+.1f}" if np.isfinite(r["excess_hi"]) else "open"
        return (f"{100 * r['excess']:+.1f} % [{100 * r['excess_lo']:+.1f}, {hi}], "
                f"{fmt(r['excess_z'], 2)} SE")

    def grid_row(lr: float) -> str:
        r = summary[summary["lr"] == lr].iloc[0]
        th = fmt(r["theory_steps"], 3) if np.isfinite(r["theory_steps"]) else "none (L >= 0)"
        return (f"| {lr:.3g} | {_steps(r)} | {th} | {excess(r)} | "
                f"{rate(r, 'converged')} | {rate(r, 'censored')} | {rate(r, 'diverged')} | "
                f"{rate(r, 'exact_unstable') if verdict_ok else 'n/a'} |\n")

    grid_table = (
        "| lr | median steps over every run [95 %] | population theory log(tol)/L | median vs theory: "
        "excess [95 %], deviation | converged | censored (slow, oscillating, growing) | diverged (left the "
        "bound) | unstable (exact, S > 0) |\n"
        "|---|---|---|---|---|---|---|---|\n" + "".join(grid_row(lr) for lr in key_lrs))

    # ------------------------------------------------------------ exact theory against the simulation
    exact_text = ""
    if exact_ok:
        same = f["converged_step"].to_numpy() == f["exact_step"].to_numpy()
        lo_s, hi_s = wilson_interval(int(same.sum()), len(f))
        n_exc = int((f.loc[~same, "status"] == "diverged").sum())
        exact_text = (
            "The exact per-dataset steps (`theory.predicted_steps_to_tol` on each dataset, with the kernel's "
            f"rule) equal the simulated `converged_step` for {int(same.sum()):,} of {len(f):,} runs ("
            f"{pct(same.mean())} [{pct(lo_s)}, {pct(hi_s)}])"
            + (f"; {n_exc} of the others left the divergence bound in a transient excursion although their "
               "error contracts" if n_exc else "")
            + (f"; {int((~same).sum()) - n_exc} came within float64 resolution of theta_ref and were held "
               "there by rounding" if int((~same).sum()) > n_exc else "") + ". ")
    cross_tab = ""
    if verdict_ok:
        div, pu = f["status"] == "diverged", f["predicted_diverges"]
        held = int((pu & (f["status"] == "converged")).sum())
        cross_tab = (
            f"Simulated status against the exact verdict: of the {int(pu.sum()):,} runs on unstable datasets "
            f"(S > 0), {int((pu & div).sum()):,} diverged and "
            f"{int((pu & (f['status'] == 'growing')).sum()):,} are "
            "growing" + (f", {held:,} converged (held at theta_ref by rounding)" if held else "")
            + f"; {int((~pu & div).sum()):,} runs diverged on stable datasets (transient excursions).")
    mid = cens_large.iloc[len(cens_large) // 2] if len(cens_large) else None
    censored_text = (
        f"Censored runs (slow, oscillating or growing: {cfg.epochs} epochs did not decide them): {k_c:,} of "
        f"{n_all:,} ({pct(k_c / n_all)} [{pct(c_lo)}, {pct(c_hi)}]). The median steps are beyond the budget "
        f"of {budget} steps, because at least half the runs did not converge (open triangles in the figure)"
        + (f", at lr <= {cens_small['lr'].max():.3g}, where {cfg.epochs} epochs are too few"
           if len(cens_small) else "")
        + (f"{', and' if len(cens_small) else ','} at lr >= {cens_large['lr'].min():.3g}, where more than "
           "half the runs diverge or stay censored" if len(cens_large) else "")
        + ". The median of the converged runs alone (`converged_step_median` in summary.csv) is not used: "
        "there it describes the few runs that converged"
        + (f" (at lr {mid['lr']:.3g}: {fmt(mid['converged_step_median'])} steps from "
           f"{int(mid['n_converged'])} of {int(mid['n'])} runs)" if mid is not None else "") + ".")

    answer = (
        f"Over {seeds:,} Gaussian datasets of {n_grid} samples {speed}"
        + (f"; the fastest median, {_steps(best_row)}, is reached at {best_span}"
           if best_row is not None else "")
        + (f", every run converges up to lr {all_conv_to:.3g}" if np.isfinite(all_conv_to) else "")
        + ((f", and half of the datasets are unstable (exact verdict) from {ctext(unst)}"
            if np.isfinite(unst[0]) else
            ", and at no lr of the grid are half of the datasets unstable (exact verdict)")
           if verdict_ok else "") + ".")
    all_lo = wilson_interval(seeds, seeds)[0]
    report = (
        f"On the seed's own data (the lecture's generator, seed {dcfg.axes['seed'][0]}, {n_demo} samples, "
        f"theta0 = {dcfg.axes['theta0'][0]:g}, {dcfg.epochs} epochs), each run next to the exact theory of "
        "that dataset:\n\n" + seed_table + "\n" + map_text + "".join(f"{t}\n\n" for t in notes)
        + f"Over {seeds:,} Gaussian datasets of n = {n_grid} ({len(lrs)} learning rates from {lrs.min():.3g} "
          f"to {lrs.max():.3g}, the lecture's {LECTURE_SLOW:g} and {LECTURE_FAST:g} among them; order {order}"
          f", {cfg.epochs} epochs = {budget} steps):\n\n" + grid_table + "\n"
        "What each number is. *Steps to converge* is `converged_step` (the step after which |e| stays within "
        f"{cfg.tol:g} |e_0|; converged means the whole last epoch within tolerance); its median is over "
        "every run, a run that did not converge counting as beyond the budget, with its distribution-free 95 "
        "% interval. The rates are simulated statuses with Wilson 95 % intervals: *diverged* means |e| left "
        f"the bound ({cfg.diverge_factor:g} x scale) once, a transient excursion included; *censored* (slow, "
        "oscillating, growing) means the budget did not decide. *Unstable (exact)* is the exact per-dataset "
        "verdict S(lr) = sum_i log|1 - 2 lr x_i^2| > 0, exact for fixed and shuffled order"
        + ("" if verdict_ok else f" (not given for order {order!r})") + ". The population theory log(tol) / "
        "L(lr), L = E log|1 - 2 lr X^2|, is the dashed line of the figure; the table gives the median's "
        "excess over it with its interval and the deviation in standard errors of the median (the "
        "interval's half-width / 1.96, at least half a step). The population thresholds are the "
        f"mean-square {ms:.4g} and the almost-sure {as_:.4g}.\n\n"
        f"Speed: {speed}. "
        + (f"The fastest median is {_steps(best_row)}, reached at {best_span}. "
           if best_row is not None else "")
        + exact_text + "\n\nStability: "
        + (f"every run converges up to lr {all_conv_to:.3g} ({seeds:,} of {seeds:,}: Wilson 95 % lower bound "
           f"{pct(all_lo)}); " if np.isfinite(all_conv_to) else "")
        + f"the converged fraction falls below 50 % at {ctext(convc)}, the simulated diverged fraction "
          f"passes 50 % at {ctext(divc)}"
        + (f" and the exact unstable fraction at {ctext(unst)} (almost-sure threshold {as_:.4g}; with n = "
           f"{n_grid} the datasets' own thresholds scatter around it)" if verdict_ok else "") + ". "
        + cross_tab + "\n\n" + censored_text + "\n\n"
        "The model has constant curvature: the loss is quadratic in theta with Hessian 2 mean(x^2) fixed by "
        "the data, so edge-of-stability behaviour and progressive sharpening, in which training changes the "
        "curvature, cannot occur here; stability is decided by the learning rate and the data alone.\n"
    )

    theory_line = None
    if population_ok:
        dense = theory_lrs(lrs.min(), min(lrs.max(), as_ * 0.999))
        pred = pd.DataFrame({"lr": dense, "steps": steps_to_tol(dense, cfg)}).dropna()
        theory_line = pred[pred["steps"] <= 4 * budget]  # the asymptote must not set the axis range
    swings = [r for lr, r in dd.iterrows() if r["max_abs_error"] > 100 * abs(r["theta0"] - r["theta_ref"])]
    fig1 = plots.lr_comparison(
        demo.records, d, theta_ref=float(d["theta_ref"].iloc[0]),
        title=(f"The seed's data ({n_demo} samples, y = {dcfg.coef:g}x), theta0 = {dcfg.axes['theta0'][0]:g}"
               f", {len(d)} learning rates: the error shrinks by its exact exp(S) per epoch (dashed)"
               + (f";\nat lr {swings[-1].name:g} it swings by orders of magnitude within each epoch" if swings
                  else "")))
    fig2 = plots.speed_vs_stability(
        summary, theory=theory_line, theory_label="population theory log(tol) / L(lr)",
        statuses=["converged", "slow", "oscillating", "growing", "diverged"],
        verdict="exact_unstable" if verdict_ok else None, verdict_label="unstable: exact verdict S > 0",
        thresholds={f"mean-square\nlr {ms:.3g}": ms, f"almost-sure\nlr {as_:.4g}": as_},
        title=(f"Speed versus stability, {seeds:,} datasets of n = {n_grid} x {len(lrs)} lr, {cfg.epochs} "
               "epochs: "
               + (f"the median run is fastest at {best_span},\n" if best_row is not None else "\n")
               + "and runs become unstable as the exact verdict rises near the almost-sure threshold"))
    headline = (f"lr-tuning: {_steps(slow)} at {slow_name} vs {_steps(fast)} at {fast_name}"
                + (f"; fastest {_steps(best_row)} at {best_span}" if best_row is not None else ""))
    # predicted_growth_rate repeats S (the exact growth of log|e| per epoch): one column is enough.
    tables = {"seed_data_runs": d.drop(columns=["predicted_growth_rate"])}
    return Output(summary, {"lr_comparison": fig1, "speed_vs_stability": fig2}, report, headline, tables,
                  answer=answer)


STUDY = Study(
    name="lr-tuning",
    question=("How much faster does a larger learning rate make per-sample SGD converge, from the lecture's "
              "0.01 and 0.04 up, and from which learning rate does it cost stability?"),
    declare=declare,
    analyse=analyse,
    axes={"lr": ANY, "seed": ANY,
          "outlier_kind": Axis(multi=False, values=("leverage",), why=NOISE_FREE),
          **dict.fromkeys(("n_samples", "x_scale", "outlier_frac", "outlier_scale", "order", "theta0"),
                          SINGLE)},
    refused={"noise": NOISE_FREE},
    figures=("lr_comparison", "speed_vs_stability"),
)
