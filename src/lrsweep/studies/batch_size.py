"""Study ``batch-size``: thresholds and steps to tolerance versus the batch size B, against exact theory.

A mini-batch step multiplies the noise-free error by ``1 - 2 lr c`` with ``c``
the batch's mean of ``x^2`` (:mod:`lrsweep.theory.batches`). Two sweeps:

* ``online`` (fresh samples, the population): every run starts at a huge
  ``|e_0|`` so that ``log|e_T / e_0|`` is measured over the whole run without
  touching float64's range; its mean per step is an unbiased estimate of
  the population exponent ``L_B(lr) = E log|1 - 2 lr c|``
  (:func:`~lrsweep.theory.batch_population_log_multiplier`), whose root is
  the almost-sure threshold (:func:`~lrsweep.theory.batch_as_threshold`);
  the mean-square threshold ``B / (s^2 (B + 2))`` is drawn next to it. The
  same runs give the steps to a tolerance (``converged_step``) against the
  population prediction ``log(tol) / L_B``, per B, at every lr: the best lr
  per B, the linear scaling rule ``lr(B) = B lr(1)`` and samples (``steps x
  B``) versus steps.
* ``fixed`` (one dataset per seed, consecutive batches): the simulated
  verdict of every run against the exact per-dataset verdict ``S_B(lr) > 0``
  (:func:`~lrsweep.theory.batch_log_multiplier`) and the median of the
  datasets' critical lr (:func:`~lrsweep.theory.batch_critical_lr`) per B.
* ``short`` (fresh samples, 128 per run): the exponent over the whole lr
  grid, where the long runs would reach the bound or the rounding floor.
* ``noisy`` (fresh samples with noise): the stationary ``E e^2`` per (B, lr)
  against :func:`~lrsweep.theory.population_stationary_mse`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .batch_runs import (
    FLOOR,
    exponent_table,
    fixed_tables,
    linear_scaling,
    noisy_table,
    online_summary,
    per_batch,
)
from .common import datasets, fmt
from .common import rate_interval as _pct
from .spec import ANY, Axis, Options, Output, Study, SweepSpec

if TYPE_CHECKING:
    import pandas as pd

    from ..config import SweepConfig
    from ..results import Results

#: Batch sizes (powers of two: ``B lr`` of a grid point is a grid point).
BATCHES = (1, 2, 4, 8, 16, 32, 64)
#: Learning rates in units of ``1/s^2``: powers of sqrt(2) from 2^-7 to 2 (steps and linear scaling)
#: and a dense grid across the thresholds (0.33 .. 1.35 for B = 1 .. 64).
COARSE = tuple(2.0 ** (k / 2) for k in range(-14, 3))
DENSE = (0.3, 0.4, 0.45, *np.round(np.arange(0.70, 1.601, 0.05), 4))
QUICK_COARSE = tuple(2.0 ** k for k in range(-7, 2))
QUICK_DENSE = (0.9, 1.1, 1.2, 1.3, 1.4)
#: Starting error: log|e| has 345 nats of room below e_0 and 360 above it (the bound is a quarter of
#: the largest float), so that log|e_T / e_0| of every run near the thresholds is measured exactly.
THETA0 = 1e150
FIXED_N = 256
SHORT_N = 64
#: The noisy sweep: noise sd, samples per epoch and learning rates (units of 1/s^2: 2^-7 .. 2^-1, the
#: linear-scaling lrs of LINEAR_BASES[0] and below the mean-square threshold of every B >= 2).
NOISE = 1.0
NOISY_N = 1024
NOISY_LRS = tuple(2.0 ** k for k in range(-7, 0))


def _lrs(units: tuple[float, ...], x_scale: float) -> list[float]:
    return sorted({u / x_scale**2 for u in units})


def declare(opts: Options) -> dict[str, SweepSpec]:
    q = opts.quick
    common = dict(noise=0.0, batch_size=list(BATCHES), theta0=THETA0, diverge_factor=1e300, sign_floor=0.0,
                  tol=1e-4, epochs=2)
    probe = opts.config(**common)
    (x_scale,) = probe.axes["x_scale"]
    coarse, dense = (QUICK_COARSE, QUICK_DENSE) if q else (COARSE, DENSE)
    # Online: an epoch is 1024 fresh samples (1024 / B steps), two epochs: every B gets the same
    # budget of samples; a run converges (converged_step) when it reaches tol within the first.
    online = opts.config(**common, order="online", n_samples=256 if q else 1024,
                         lr=_lrs(coarse + dense, x_scale), seed=range(80 if q else 3000))
    fixed_units = (*np.round(np.geomspace(0.4, 2.5, 6 if q else 24), 4), *(d for d in dense if d >= 0.7))
    fixed = opts.config(**common, order="fixed", n_samples=FIXED_N, lr=_lrs(fixed_units, x_scale),
                        seed=range(30 if q else 1000))
    # Short fresh-sample runs (2 epochs of 64 samples: 128/B steps) measure the exponent over the whole
    # lr range: the long runs reach the bound or the floor away from the thresholds.
    short = opts.config(**common, order="online", n_samples=SHORT_N, lr=online.axes["lr"],
                        seed=range(40 if q else 3000))
    # With noise (sd NOISE): the stationary E e^2 per (B, lr) against theory.population_stationary_mse;
    # 4 epochs of 1,024 fresh samples from the default theta0, the last one measured.
    noisy = opts.config(noise=NOISE, batch_size=list(BATCHES), order="online", n_samples=NOISY_N, epochs=4,
                        lr=_lrs(NOISY_LRS, x_scale), seed=range(30 if q else 1000))
    return {"online": SweepSpec(online), "fixed": SweepSpec(fixed), "short": SweepSpec(short),
            "noisy": SweepSpec(noisy)}


# ------------------------------------------------------------------ analysis and report
def analyse(runs: dict[str, Results], opts: Options) -> Output:
    import pandas as pd

    from .. import plots

    on_res, fx_res = runs["online"], runs["fixed"]
    short = exponent_table(runs["short"])
    noisy = noisy_table(runs["noisy"])
    cfg, fcfg = on_res.config, fx_res.config
    on = online_summary(on_res)
    fixed_s, crit = fixed_tables(fx_res)
    per_b = per_batch(on, fixed_s, crit, cfg)
    lin = linear_scaling(on, cfg)
    summary = pd.concat([on, fixed_s], ignore_index=True)
    (x_scale,) = cfg.axes["x_scale"]
    figs = _figures(on, fixed_s, per_b, lin, short, cfg, fcfg, plots, opts.quick)
    figs["noise_floor"] = _noise_figure(noisy, runs["noisy"].config, plots)
    return _report(summary, on, fixed_s, per_b, lin, short, noisy, figs, cfg, fcfg, runs["short"].config,
                   runs["noisy"].config, x_scale)


def _figures(on, fixed_s, per_b, lin, short, cfg, fcfg, plots, quick: bool) -> dict:
    import pandas as pd

    from .. import theory
    (x_scale,), (n,) = cfg.axes["x_scale"], cfg.axes["n_samples"]
    (nf,) = fcfg.axes["n_samples"]
    near = 0.25 / x_scale**2  # far below every threshold nothing is unstable: the figure starts here
    fine = np.geomspace(near, float(on["lr"].max()), 20 if quick else 100)
    curve = pd.concat([pd.DataFrame({"batch_size": b, "lr": fine,
                                     "log_multiplier": np.asarray(theory.batch_population_log_multiplier(
                                         fine, int(b), x_scale), dtype=float)})
                       for b in sorted(on["batch_size"].unique())], ignore_index=True)
    thr = per_b[["batch_size", "ms_threshold", "as_threshold"]]
    cols = ["order", "batch_size", "lr", "unstable_rate", "unstable_lo", "unstable_hi"]
    both = pd.concat([on.loc[on["lr"] >= near, cols], fixed_s.loc[fixed_s["lr"] >= near, cols]],
                     ignore_index=True)
    exact = fixed_s.loc[fixed_s["lr"] >= near, ["batch_size", "lr", "exact_rate"]]
    # Cells with a run at the bound or the floor are left out of the exponent's panel (their mean is biased).
    gcols = ["batch_size", "lr", "log_growth_mean", "log_growth_mean_se"]
    (ns,) = {int(v) for v in short["steps_per_run"][short["batch_size"] == short["batch_size"].min()]}
    growth = pd.concat([
        on.loc[(on["lr"] >= near) & (on["n_growth_censored"] == 0), gcols].assign(
            source=f"{cfg.epochs * n:,} samples per run"),
        short.loc[(short["lr"] >= near) & (short["n_growth_censored"] == 0), gcols].assign(
            source=f"{ns * int(short['batch_size'].min()):,} samples per run")], ignore_index=True)
    fig_t = plots.batch_thresholds(
        both, growth=growth,
        theory=curve[["batch_size", "lr", "log_multiplier"]],
        exact=exact, thresholds=thr,
        order_labels={"online": f"fresh samples, |e| grew over the run ({cfg.epochs * n:,} samples)",
                      "fixed": f"fixed order, datasets of n = {nf}, |e| grew over the last epoch"},
        title=("The error's growth per step follows E log|1 - 2 lr c| (lines) for every B, and runs turn "
               "unstable at its root, the almost-sure threshold, not at the mean-square one;\nfixed-order "
               f"datasets follow their exact verdict S_B > 0 (x ~ N(0, {x_scale:g}^2), no noise; "
               f"{len(cfg.axes['seed']):,} streams and {len(fcfg.axes['seed']):,} datasets per point)"))
    fig_s = plots.threshold_scaling(
        per_b, linear=lin,
        title=("Linear scaling lr(B) = B lr(1) holds only while B lr(1) stays far below the thresholds:\n"
               "the thresholds and the best lr saturate at the full-batch values (the almost-sure threshold "
               "is not even monotone in B)"))
    fig_v = plots.samples_and_steps(
        per_b, tol=cfg.tol,
        title=(f"At the best lr per B, larger batches need fewer steps but more samples to reach "
               f"|e| <= {cfg.tol:g} |e_0|\n(fresh samples, medians over {len(cfg.axes['seed']):,} runs "
               "with 95 % intervals; lines: population theory log(tol) / min L_B)"))
    return {"thresholds": fig_t, "linear_scaling": fig_s, "samples_vs_steps": fig_v}


def _int(v: float) -> str:
    return "beyond budget" if np.isinf(v) else ("nan" if not np.isfinite(v) else f"{v:,.0f}")


def _med(r, stem: str) -> str:
    return f"{_int(r[f'{stem}_median'])} [{_int(r[f'{stem}_median_lo'])}, {_int(r[f'{stem}_median_hi'])}]"


def _stream_moment(cfg: SweepConfig) -> tuple[float, float, int]:
    """Mean of x^2 over every sample of the online streams that ran, its standard error, the count."""
    (n,) = cfg.axes["n_samples"]
    xs = np.concatenate([d.x for d in datasets(cfg, cfg.axes["seed"], n_samples=n, order="online")])
    x2 = xs**2
    return float(x2.mean()), float(x2.std(ddof=1) / np.sqrt(x2.size)), int(x2.size)


def _noise_rules(noisy: pd.DataFrame, x_scale: float) -> pd.DataFrame:
    """Cells along lr(B) = B lr(1) (lr(1) the smallest lr) and at one constant lr (the largest that every
    B ran), labelled by ``rule``."""
    import pandas as pd

    b1 = int(noisy["batch_size"].min())
    lrs = np.sort(noisy["lr"].unique())
    parts = []
    base = lrs[0]
    lin = [noisy[(noisy["batch_size"] == b) & np.isclose(noisy["lr"], base * b / b1, rtol=1e-9)]
           for b in sorted(noisy["batch_size"].unique())]
    lin = [x for x in lin if len(x)]
    if len(lin) > 1:
        parts.append(pd.concat(lin).assign(rule=f"lr = B x {base:.3g} (linear scaling)"))
    fixed = min(lrs[-1], 0.125 / x_scale**2)
    const = noisy[np.isclose(noisy["lr"], lrs[np.argmin(np.abs(lrs - fixed))], rtol=1e-9)]
    parts.append(const.assign(rule=f"lr = {float(const['lr'].iloc[0]):.3g} at every B"))
    return pd.concat(parts, ignore_index=True)[["rule", "batch_size", "lr", "e2_mean", "e2_mean_se",
                                                 "theory_variance"]]


def _noise_figure(noisy: pd.DataFrame, ncfg: SweepConfig, plots) -> object:
    import pandas as pd

    from .. import theory

    (x_scale,), (noise,), (n,) = ncfg.axes["x_scale"], ncfg.axes["noise"], ncfg.axes["n_samples"]
    lrs = np.geomspace(noisy["lr"].min(), noisy["lr"].max(), 60)
    curve = pd.concat([pd.DataFrame({"batch_size": b, "lr": lrs, "variance": np.asarray(
        theory.population_stationary_mse(lrs, noise, x_scale, int(b)), dtype=float)})
        for b in sorted(noisy["batch_size"].unique())], ignore_index=True)
    return plots.noise_floor_by_batch(
        noisy.loc[noisy["stationary"], ["batch_size", "lr", "e2_mean", "e2_mean_se", "se_valid"]],
        theory=curve,
        rules=_noise_rules(noisy, x_scale),
        title=(f"With noise (sd {noise:g}) the stationary E e^2 follows the closed form for every B (lines); "
               "at a fixed lr it falls like 1/B,\nunder lr(B) = B lr(1) it stays put while B lr(1) is small "
               f"(fresh samples, {len(ncfg.axes['seed']):,} runs of {ncfg.epochs} x {n:,} samples per point, "
               "95 % bars)"))


def _noise_text(noisy: pd.DataFrame, ncfg: SweepConfig, x_scale: float) -> list[str]:
    (noise,), (n,), (theta0,) = ncfg.axes["noise"], ncfg.axes["n_samples"], ncfg.axes["theta0"]
    seeds = ncfg.axes["seed"]
    z = noisy["z_e2"].to_numpy(dtype=float)
    zv = z[np.isfinite(z)]
    rules = _noise_rules(noisy, x_scale)
    lines = []
    for rule, g in rules.groupby("rule", sort=False):
        g = g.sort_values("batch_size")
        lines.append(f"{rule}: " + ", ".join(
            f"B = {r.batch_size}: {fmt(r.e2_mean, 3)} +- {fmt(r.e2_mean_se, 2)} (theory "
            f"{fmt(r.theory_variance, 3)})"
            for r in g.itertuples()))
    return [
        f"Sweep `noisy`: y = {ncfg.coef:g} x + noise of sd {noise:g}, fresh samples, {ncfg.epochs} epochs of "
        f"{n:,} samples from theta0 = {theta0:g}, {len(seeds):,} runs (seeds {seeds[0]}-{seeds[-1]}) per "
        "(B, lr). The error no longer converges but settles at a stationary spread: with c the batch's mean "
        "of x^2, e <- (1 - 2 lr c) e + 2 lr mean(x r), whose second moment has the fixed point "
        "v = lr sigma^2 / (B - lr s^2 (B + 2)) below the mean-square threshold "
        "(`theory.population_stationary_mse`; population theory, exact in expectation). The simulated "
        "E e^2 is the mean over runs of each run's mean e^2 over its last epoch, with its standard error; "
        "it is compared where e^2 has a finite variance (E(1 - 2 lr c)^4 < 1), e_0 is forgotten (its "
        "mean-square remainder below 1e-3 v at the start of the last epoch) and no run left the bound "
        f"(`se_valid` in noise_floor.csv). Cells without a finite floor, where e_0 is not yet forgotten or "
        "a run left the bound are not stationary and left out of the figure: "
        f"{int((~noisy['stationary']).sum())} "
        f"of {len(noisy)}.\n",
        f"Over those {len(zv)} of {len(noisy)} cells the largest deviation is "
        f"{fmt(np.max(np.abs(zv)) if len(zv) else np.nan, 3)} standard errors ({int((np.abs(zv) > 2).sum())} "
        "beyond 2; the cells share their streams). At a fixed lr the floor falls like 1/B (the batch "
        "averages the gradient noise); under lr(B) = B lr(1) it is lr(1) sigma^2 / (1 - lr(1) s^2 (B + 2)): "
        "conserved while lr(1) s^2 (B + 2) is small, rising as B lr(1) nears the threshold. Simulated:\n",
        *[f"- {x}" for x in lines], "",
    ]


def _report(summary, on, fixed_s, per_b, lin, short, noisy, figs, cfg, fcfg, scfg, ncfg, x_scale) -> Output:
    from .. import theory

    (n,), (nf,) = cfg.axes["n_samples"], fcfg.axes["n_samples"]
    (theta0,) = cfg.axes["theta0"]
    seeds, fseeds = cfg.axes["seed"], fcfg.axes["seed"]
    bs = [int(b) for b in per_b["batch_size"]]
    # --- thresholds
    z = on["z_log_growth"].to_numpy(dtype=float)
    zc = z[np.isfinite(z)]
    zs = short["z_log_growth"].to_numpy(dtype=float)
    zs = zs[np.isfinite(zs)]
    n_cells = len(on)
    n_cens_cells = int((on["n_growth_censored"] > 0).sum())
    t1 = ["| B | mean-square B/(s^2(B+2)) | almost-sure (theory) | almost-sure, simulated root of the mean "
          "log growth [95 %] | deviation (SE) | 50 % of fresh-sample runs unstable [95 %] | median critical "
          f"lr of fixed-order datasets (n = {nf}) [95 %] | 50 % of fixed-order runs unstable [95 %] |",
          "|---|---|---|---|---|---|---|---|"]
    for r in per_b.itertuples():
        t1.append(f"| {r.batch_size} | {r.ms_threshold:.4g} | {r.as_threshold:.4g} | {fmt(r.as_sim)} "
                  f"[{fmt(r.as_sim_lo)}, {fmt(r.as_sim_hi)}] | {fmt(r.z_as, 2)} | {fmt(r.half_unstable_lr)} "
                  f"[{fmt(r.half_unstable_lr_lo)}, {fmt(r.half_unstable_lr_hi)}] | "
                  f"{fmt(r.fixed_critical_lr_median)} [{fmt(r.fixed_critical_lr_median_lo)}, "
                  f"{fmt(r.fixed_critical_lr_median_hi)}] | {fmt(r.fixed_half_unstable_lr)} "
                  f"[{fmt(r.fixed_half_unstable_lr_lo)}, {fmt(r.fixed_half_unstable_lr_hi)}] |")
    n_fixed = int(fixed_s["n"].sum())
    mism = int(fixed_s["n_mismatch"].sum())
    zas = per_b["z_as"].to_numpy(dtype=float)
    zas_f = zas[np.isfinite(zas)]
    peak = per_b.loc[per_b["as_threshold"].idxmax()]
    small = np.arange(1, 9)  # the theory's maximum over every B lies among the small ones
    th_small = np.asarray(theory.batch_as_threshold(small, x_scale), dtype=float)
    b_peak, as_peak = int(small[th_small.argmax()]), float(th_small.max())
    m2, m2_se, m2_n = _stream_moment(cfg)
    # --- best lr, samples and steps
    t2 = ["| B | best lr, simulated (fewest median steps) | lrs within its interval | best lr, theory "
          "(argmin L_B) | best lr / B | median steps to tol [95 %] | population steps log(tol)/L_B "
          "at that lr | median samples = steps x B [95 %] | population samples at the theory's best lr |",
          "|---|---|---|---|---|---|---|---|---|"]
    for r in per_b.itertuples():
        rr = per_b.loc[r.Index]
        t2.append(f"| {r.batch_size} | {fmt(r.best_lr)} | [{fmt(r.best_lr_lo)}, {fmt(r.best_lr_hi)}] | "
                  f"{fmt(r.theory_best_lr)} | {fmt(r.best_lr / r.batch_size)} | {_med(rr, 'steps')} | "
                  f"{fmt(r.theory_steps_at_best, 3)} | {_med(rr, 'samples')} | "
                  f"{fmt(r.theory_best_samples, 3)} |")
    # --- linear scaling
    t3 = []
    holds = {}
    if len(lin):
        t3 = ["| lr(1) | B | lr = B lr(1) | median samples to tol [95 %] | population samples B log(tol)/L_B "
              "| population samples / those at B = 1 | unstable [95 %] |", "|---|---|---|---|---|---|---|"]
        for r in lin.itertuples():
            rr = lin.loc[r.Index]
            t3.append(f"| {r.base_lr:.4g} | {r.batch_size} | {r.lr:.4g} | {_med(rr, 'samples')} | "
                      f"{fmt(r.theory_samples, 4)} | {fmt(r.theory_samples_ratio, 3)} | "
                      f"{_pct(rr, 'unstable')} |")
        for base, g in lin.groupby("base_lr"):
            g = g.sort_values("batch_size")
            off = ~(np.abs(g["theory_samples_ratio"].to_numpy(dtype=float) - 1.0) <= 0.1)
            upto = g["batch_size"].to_numpy()[: int(np.argmax(off)) if off.any() else len(g)]
            holds[base] = int(upto.max()) if len(upto) else None
    b_max = max(bs)
    last = per_b[per_b["batch_size"] == b_max].iloc[0]
    first = per_b[per_b["batch_size"] == min(bs)].iloc[0]
    lin_text = ""
    if holds:
        lin_text = ("With lr(B) = B lr(1) the population samples to tolerance stay within 10 % of those at "
                    "B = 1 up to " + "; ".join(
                        f"B = {v} for lr(1) = {k:.3g} (lr = {k * v / min(bs):.3g})" if v else
                        f"no B for lr(1) = {k:.3g}" for k, v in holds.items())
                    + ": linear scaling holds while B lr(1) stays well below the best lr "
                    f"({fmt(first.theory_best_lr)} at B = 1, {fmt(last.theory_best_lr)} at B = {b_max}). "
                    "Beyond, the samples first fall below those at B = 1 (without noise one step of B lr "
                    "contracts more than B steps of lr: with v_i = 2 lr x_i^2 and V = sum v_i < 1, "
                    "1 - V <= prod (1 - v_i)), bottom out near the best lr, then rise steeply, and the runs "
                    "diverge once B lr(1) passes the almost-sure threshold.")
    body = [
        f"Setup: y = {cfg.coef:g} x, x ~ N(0, {x_scale:g}^2), no noise (the tolerance is reachable), plain "
        f"mini-batch SGD with a constant lr; batch sizes B = {', '.join(map(str, bs))}. A step uses the mean "
        "gradient of its B samples, so it multiplies the error by 1 - 2 lr c with c the batch's mean of x^2 "
        "(`lrsweep.theory.batches`).\n",
        f"- **Fresh samples** (sweep `online`): {len(seeds):,} streams (seeds {seeds[0]}-{seeds[-1]}) per "
        f"(B, lr), shared across B and lr; an epoch is {n:,} samples = {n:,}/B steps, {cfg.epochs} epochs, "
        f"so every B gets the same {cfg.epochs * n:,} samples and "
        f"{cfg.epochs * n // b_max}-{cfg.epochs * n:,} "
        f"steps. Runs start at theta0 = {theta0:g} (bound: a quarter of the largest float; no rounding "
        "floor) so that log|e_T/e_0| is measured over the whole run; the error dynamics are linear, so e_0 "
        "changes "
        "nothing else.",
        f"- **Fixed order** (sweep `fixed`): {len(fseeds):,} datasets of n = {nf} (seeds "
        f"{fseeds[0]}-{fseeds[-1]}), consecutive batches, {fcfg.epochs} epochs, the same datasets at every B "
        "and lr.\n",
        "Which notion each number uses:\n",
        "- *log growth per step* (simulated, online): mean over runs of log|e_T/e_0|/T with its standard "
        "error, against the population exponent L_B(lr) = E log|1 - 2 lr c| "
        "(`theory.batch_population_log_multiplier`), which it estimates without bias (each step's factor "
        "is independent): exact in expectation. Its root is the almost-sure threshold "
        "(`theory.batch_as_threshold`); the simulated root is where the mean crosses 0, with the interval "
        "where mean +- 1.96 SE do.",
        "- *unstable* (simulated status): online, |e_T| > |e_0| or the run left the bound; fixed order, the "
        "error grew over the last epoch (growth_rate > 0) or left the bound. Each with its Wilson 95 % "
        "interval in summary.csv.",
        "- *exact* (per dataset, fixed order): the run's own dataset has S_B(lr) = sum over batches of "
        "log|1 - 2 lr c_k| > 0 (`theory.batch_log_multiplier`): repeated epochs diverge, exactly. The "
        "*critical lr* of a dataset is the smallest root of S_B (`theory.batch_critical_lr`).",
        "- *mean-square threshold* B / (s^2 (B + 2)) (`theory.batch_ms_threshold`, population): where E e^2 "
        "stops falling. It is not where runs diverge: between it and the almost-sure threshold E e^2 grows "
        "while almost every run converges (study `noise-floor`).",
        f"- *steps to tolerance* (simulated, online): converged_step, the first step after which |e| <= "
        f"{cfg.tol:g} |e_0| for good, reached within the first epoch; a run that did not converge counts as "
        "beyond the budget (median over all runs, order-statistic 95 % interval). Population prediction: "
        "log(tol) / L_B(lr) steps (a law of large numbers, not exact per run); samples = steps x B.\n",
        "## Thresholds versus B\n",
        "| " + " | ".join(t1[0].strip("| ").split(" | ")) + " |", *t1[1:], "",
        f"The simulated exponent agrees with L_B. Long runs ({cfg.epochs * n:,} samples each): over the "
        f"{len(zc)} of {n_cells} (B, lr) cells where no run "
        "left the bound or reached the floor, the largest deviation is "
        f"{fmt(np.max(np.abs(zc)) if len(zc) else np.nan, 3)} standard errors "
        f"({int((np.abs(zc) > 2).sum())} beyond 2 and {int((np.abs(zc) > 3).sum())} beyond 3, where about "
        f"{0.0455 * len(zc):.1f} and {0.0027 * len(zc):.1f} would be for independent cells; these share "
        "their streams, so their deviations move together, see below). Short runs "
        f"({scfg.epochs * SHORT_N} samples each, {len(scfg.axes['seed']):,} seeds, sweep `short`, table "
        f"exponent_short.csv), which stay within range over the whole lr grid: {len(zs)} of {len(short)} "
        f"cells uncensored, largest deviation {fmt(np.max(np.abs(zs)) if len(zs) else np.nan, 3)} standard "
        f"errors ({int((np.abs(zs) > 2).sum())} beyond 2, {int((np.abs(zs) > 3).sum())} beyond 3). "
        "The simulated almost-sure "
        "threshold deviates from the theory's by at most "
        f"{fmt(np.max(np.abs(zas_f)) if len(zas_f) else np.nan, 3)} standard errors over B. Half of the "
        "fresh-sample runs are unstable near it too (at finite T the median of log|e_T/e_0| differs "
        "from T L_B by the skewness of the factors, so this crossing sits slightly off the root). The "
        f"almost-sure threshold is not monotone in B: it peaks at B = {int(peak.batch_size)} "
        f"({peak.as_threshold:.4g}) among the B that ran (the theory's maximum over all B: B = {b_peak}, "
        f"{as_peak:.4g}) and falls towards the full-batch threshold 1/s^2 = {1 / x_scale**2:.4g}; the "
        f"mean-square threshold rises to it from {first.ms_threshold:.4g}.\n",
        "The cells are not independent: every (B, lr) reads the same streams, so one fluctuation of their "
        "moments moves all of them alike (far below the thresholds L_B = -2 lr s^2 + O(lr^2) is set by the "
        f"mean of x^2). The streams' mean of x^2 is {m2:.5g} +- {m2_se:.2g} over {m2_n:,} samples, "
        f"{(m2 - x_scale**2) / m2_se:+.2f} standard errors from s^2 = {x_scale**2:g}: the simulated "
        "exponent is shifted by about that relative amount at small lr, at every B.\n",
        f"Fixed order: the simulated verdict equals the exact one (S_B > 0) in {n_fixed - mism:,} of "
        f"{n_fixed:,} runs. The median critical lr of the datasets (exact per dataset, interval over "
        f"datasets) goes from {fmt(first.fixed_critical_lr_median)} at B = {int(first.batch_size)} to "
        f"{fmt(last.fixed_critical_lr_median)} at B = {b_max}; with n = {nf} samples an epoch has n/B "
        "batches, and as n/B grows it tends to the population almost-sure threshold (a population value, "
        "not exact for any one dataset).\n",
        "## Linear scaling\n",
        "The rule lr(B) = B lr(1) keeps the samples to tolerance fixed if B small steps of lr act like one "
        "step of B lr: prod over the B samples of (1 - 2 lr x_i^2) = 1 - 2 (B lr) mean(x^2) + O(lr^2). The "
        "thresholds do not follow it: "
        + ", ".join(f"B = {r.batch_size}: mean-square / B = {r.ms_threshold / r.batch_size:.3g}, "
                    f"almost-sure / B = {r.as_threshold / r.batch_size:.3g}"
                    for r in per_b.itertuples() if r.batch_size in (min(bs), 4, 16, b_max))
        + " (theory), since both saturate at the full-batch threshold. Nor does the best lr (table below): "
        f"{fmt(first.best_lr)} [{fmt(first.best_lr_lo)}, {fmt(first.best_lr_hi)}] at B = "
        f"{int(first.batch_size)}"
        f" and {fmt(last.best_lr)} [{fmt(last.best_lr_lo)}, {fmt(last.best_lr_hi)}] at B = {b_max} "
        f"(theory {fmt(first.theory_best_lr)} and {fmt(last.theory_best_lr)}; full-batch GD's 1/(2 s^2) = "
        f"{0.5 / x_scale**2:.4g}). " + lin_text + "\n",
        *([*t3, ""] if t3 else []),
        "## Samples versus steps at the best lr\n",
        *t2, "",
        f"At the best lr the median steps to tolerance fall from {_med(first, 'steps')} at B = "
        f"{int(first.batch_size)} to {_med(last, 'steps')} at B = {b_max} (a factor "
        f"{first.steps_median / last.steps_median:.3g}, far from {b_max // int(first.batch_size)}), so the "
        f"samples rise from {_med(first, 'samples')} to {_med(last, 'samples')}: past the smallest B every "
        "doubling of the batch buys fewer than half the steps. Population theory: "
        f"{fmt(first.theory_best_steps, 3)} and {fmt(last.theory_best_steps, 3)} steps at its own best lr. "
        "At the simulated best lr the median over the population prediction log(tol)/L_B is "
        + ", ".join(f"{r.steps_over_theory:.3g} [{r.steps_over_theory_lo:.3g}, {r.steps_over_theory_hi:.3g}]"
                    f" (B = {r.batch_size})" for r in per_b.itertuples())
        + " (`steps_over_theory` in per_batch_size.csv). The prediction is a law of large numbers, not "
        "exact per run, and it lies below the interval wherever the interval excludes 1: converged_step is "
        "the last step |e| is above the tolerance, an integer exit time of the random walk log|e_k|, which "
        "overshoots the level it crosses (Wald), so its median exceeds the drift's k L_B = log(tol) by a "
        "fraction of a step to a step.\n",
        "## With noise: the stationary error\n",
        *_noise_text(noisy, ncfg, x_scale),
        "## Censored\n",
        f"- Steps: a run that did not reach the tolerance within its first epoch counts as beyond the budget "
        f"({cfg.epochs} epochs of {n:,} samples); cells where at least half did are drawn as open triangles "
        f"and have an infinite median ({int(on['steps_censored'].sum())} of {n_cells} cells).",
        f"- Log growth: {n_cens_cells} of {n_cells} online cells have runs that left the bound or came "
        f"within {FLOOR:g} |theta_ref| of float64's rounding floor (`n_growth_censored`); their mean is "
        "left out of "
        "the comparison (far below or far above the thresholds, where the verdict is not in doubt).",
        "- The unstable verdict is never censored: a run that left the bound grew, one at the floor did "
        "not.",
    ]
    a = per_b
    reach = [k * v / min(bs) for k, v in holds.items() if v and v > min(bs)]
    lim = min(reach) if reach else float("nan")
    answer = (
        f"Neither threshold scales linearly in B: the almost-sure threshold (simulated "
        f"{fmt(first.as_sim)} [{fmt(first.as_sim_lo)}, {fmt(first.as_sim_hi)}] at B = "
        f"{int(first.batch_size)}, "
        f"{fmt(last.as_sim)} [{fmt(last.as_sim_lo)}, {fmt(last.as_sim_hi)}] at B = {b_max}; theory "
        f"{first.as_threshold:.4g} and {last.as_threshold:.4g}) saturates at the full-batch 1/s^2, and at "
        f"the best lr the median samples to reach {cfg.tol:g} |e_0| grow from {_med(first, 'samples')} at "
        f"B = {int(first.batch_size)} to {_med(last, 'samples')} at B = {b_max}; lr(B) = B lr(1) "
        + (f"conserves the samples (population theory, within 10 %) only while B lr(1) <= {lim:.3g}, "
           f"{lim / first.theory_best_lr:.2g} times the best lr of B = {int(first.batch_size)}."
           if np.isfinite(lim) else "conserves the samples only far below the best lr.")
    )
    headline = ("batch-size: a.s. threshold " + ", ".join(
        f"B={r.batch_size}: {fmt(r.as_sim)} [{fmt(r.as_sim_lo)}, {fmt(r.as_sim_hi)}] vs {r.as_threshold:.4g}"
        for r in a.itertuples() if r.batch_size in (min(bs), b_max)))
    return Output(summary, figs, "\n".join(body) + "\n", headline,
                  {"per_batch_size": per_b, "linear_scaling": lin, "exponent_short": short,
                   "noise_floor": noisy}, answer=answer)


STUDY = Study(
    name="batch-size",
    question=("How do the stability thresholds and the steps and samples to reach a tolerance of "
              "mini-batch SGD move with the batch size B, and where does the linear scaling rule "
              "lr(B) = B lr(1) hold?"),
    declare=declare,
    analyse=analyse,
    axes={"lr": ANY, "seed": ANY, "batch_size": ANY, "x_scale": Axis(multi=False),
          "theta0": Axis(multi=False)},
    refused={
        "n_samples": "the study sets n itself: epochs of 1,024 fresh samples and fixed-order datasets "
                     "of 256, multiples of every B, so that no batch is cut short",
        "order": "the study runs both orders itself: fresh samples (online) and fixed-order datasets",
        "noise": "the thresholds and steps to tolerance are for noise-free data (with noise the tolerance "
                 "is not reachable; see the study noise-floor)",
        "schedule": "the theory is for a constant learning rate (see the study schedules)",
        "momentum": "the theory is for plain mini-batch SGD (see the study momentum)",
        "nesterov": "the theory is for plain mini-batch SGD (see the study momentum)",
        **{a: "the population theory is for Gaussian samples without outliers" for a in (
            "outlier_kind", "outlier_frac", "outlier_scale")},
    },
    figures=("thresholds", "linear_scaling", "samples_vs_steps", "noise_floor"),
)
