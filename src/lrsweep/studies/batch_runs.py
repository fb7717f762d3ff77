"""The ``batch-size`` study's tables: exponents, exact verdicts, best learning rates, linear scaling, floors.

The numbers behind :mod:`lrsweep.studies.batch_size` (which declares the
sweeps and writes the figures and the report): the mean log growth per step
of fresh-sample runs against ``E log|1 - 2 lr c|`` and its root, the
fixed-order runs against their datasets' exact ``S_B``, the best learning
rate and the linear-scaling rule per batch size, and the noisy runs'
stationary error against its closed form.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

from .common import add_rate, crossing, datasets
from .steps import rate_crossing, steps_median

if TYPE_CHECKING:
    import pandas as pd

    from ..config import SweepConfig
    from ..results import Results

#: Base learning rates (units of ``1/s^2``) of the linear-scaling rule ``lr(B) = B lr1``.
LINEAR_BASES = (2.0 ** -7, 2.0 ** -5, 2.0 ** -3)
#: A run's |e_T| at or below this times max(|theta_ref|, 1) is too close to float64's rounding floor
#: (|e| ~ 1e-16 |theta_ref|, where theta lands on theta_ref and e = 0 for good) for log|e_T| to count.
FLOOR = 1e-8

# ------------------------------------------------------------------ online: exponent, verdict, steps
def _log_growth(f: pd.DataFrame, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per run: ``log|e_T / e_0| / T`` and whether it is censored (left the bound or reached the floor)."""
    e0 = np.abs(f["theta0"].to_numpy(dtype=float) - f["theta_ref"].to_numpy(dtype=float))
    eT = f["abs_error_final"].to_numpy(dtype=float)
    floor = FLOOR * np.maximum(np.abs(f["theta_ref"].to_numpy(dtype=float)), 1.0)
    diverged = (f["status"] == "diverged").to_numpy()
    censored = diverged | ~(eT > floor) | ~np.isfinite(eT)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = (np.log(eT) - np.log(e0)) / steps
    return g, censored


@functools.lru_cache(maxsize=4096)
def _population_L(lr: float, b: int, x_scale: float) -> float:
    """``theory.batch_population_log_multiplier`` of one cell (a quadrature), kept for the other sweeps."""
    from .. import theory

    return float(theory.batch_population_log_multiplier(lr, b, x_scale))


def exponent_table(res: Results) -> pd.DataFrame:
    """Per (B, lr): the mean of ``log|e_T / e_0| / T`` over the uncensored runs with its standard error,
    the censored runs, the population exponent ``L_B`` and the deviation in standard errors."""
    import pandas as pd

    from ..intervals import mean_and_se, wilson_interval

    cfg, f = res.config, res.frame
    by = ["batch_size", "lr"]
    (n,), (x_scale,) = cfg.axes["n_samples"], cfg.axes["x_scale"]
    T = cfg.epochs * -(-n // f["batch_size"].to_numpy())
    g, cens = _log_growth(f, T)
    rows = []
    for (b, lr), idx in f.groupby(by, observed=True, sort=True).indices.items():
        gi, ci = g[idx], cens[idx]
        m, se = mean_and_se(gi[~ci]) if (~ci).sum() >= 2 else (np.nan, np.nan)
        rows.append((b, lr, len(idx), cfg.epochs * -(-n // int(b)), m, se, int(ci.sum())))
    t = pd.DataFrame(rows, columns=[*by, "runs", "steps_per_run", "log_growth_mean", "log_growth_mean_se",
                                    "n_growth_censored"])
    t["growth_censored_rate"] = t["n_growth_censored"] / t["runs"]
    t["growth_censored_lo"], t["growth_censored_hi"] = wilson_interval(t["n_growth_censored"].to_numpy(),
                                                                       t["runs"].to_numpy())
    L = np.array([_population_L(float(lr), int(b), float(x_scale)) for b, lr in zip(
        t["batch_size"], t["lr"], strict=True)])
    t["theory_log_multiplier"] = L
    # Only cells without a censored run: a left-out run would bias the mean (it is the extreme one).
    ok = (t["n_growth_censored"] == 0) & (t["log_growth_mean_se"] > 0)
    t["z_log_growth"] = np.where(ok, (t["log_growth_mean"] - L) / t["log_growth_mean_se"], np.nan)
    return t


def online_summary(res: Results) -> pd.DataFrame:
    cfg, f = res.config, res.frame
    by = ["batch_size", "lr"]
    (n,) = cfg.axes["n_samples"]
    T = cfg.epochs * -(-n // f["batch_size"].to_numpy())
    g, _ = _log_growth(f, T)
    diverged = (f["status"] == "diverged").to_numpy()
    # Unstable: the error grew over the run (|e_T| > |e_0|) or left the bound.
    grew = diverged | (np.nan_to_num(g, nan=-np.inf) > 0)
    s = res.summary(by=by)
    add_rate(s, f, grew, by, "unstable")
    s = s.merge(exponent_table(res).drop(columns="runs"), on=by, how="left")
    L = s["theory_log_multiplier"].to_numpy()
    steps = steps_median(f, by)
    s = s.merge(steps, on=by, how="left")
    for c in ("median", "median_lo", "median_hi"):
        s[f"samples_{c}"] = s[f"steps_{c}"] * s["batch_size"]
    s["budget"] = cfg.epochs * -(-n // s["batch_size"])
    s["budget_samples"] = cfg.epochs * n
    s["theory_steps"] = np.where(L < 0, np.log(cfg.tol) / np.where(L < 0, L, -1.0), np.nan)
    s["theory_samples"] = s["theory_steps"] * s["batch_size"]
    s.insert(0, "order", "online")
    return s


def _as_root(g: pd.DataFrame) -> tuple[float, float, float]:
    """The lr where the mean log growth per step crosses 0 upwards, with the crossings of its +-1.96 SE."""
    from ..intervals import Z95

    g = g[np.isfinite(g["log_growth_mean"])].sort_values("lr")
    lr = g["lr"].to_numpy()
    m, se = g["log_growth_mean"].to_numpy(), g["log_growth_mean_se"].to_numpy()
    # crossing() finds where a curve reaches a level from below: shift the level to 0.
    return (crossing(lr, m, 0.0), crossing(lr, m + Z95 * se, 0.0), crossing(lr, m - Z95 * se, 0.0))


# ------------------------------------------------------------------ fixed order: exact per dataset
def fixed_tables(res: Results) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per (B, lr): simulated and exact unstable rates; per B: the datasets' critical lr, exact."""
    import pandas as pd

    from .. import theory
    from ..intervals import median_interval

    cfg, f = res.config, res.frame
    by = ["batch_size", "lr"]
    seeds = np.asarray(cfg.axes["seed"])
    (n,) = cfg.axes["n_samples"]
    X = np.stack([d.x for d in datasets(cfg, seeds, n_samples=n)])
    S = np.full(len(f), np.nan)
    crit = {}
    for b, idx in f.groupby("batch_size", observed=True).indices.items():
        lrs, j = np.unique(f["lr"].to_numpy()[idx], return_inverse=True)
        SB = np.asarray(theory.batch_log_multiplier(X, lrs, int(b)), dtype=float)
        SB = SB.reshape(len(seeds), len(lrs))
        S[idx] = SB[np.searchsorted(seeds, f["seed"].to_numpy()[idx]), j]
        crit[int(b)] = np.asarray(theory.batch_critical_lr(X, int(b)), dtype=float).reshape(-1)
    unstable = ((f["growth_rate"] > 0) | (f["status"] == "diverged")).to_numpy()
    s = res.summary(by=by)
    add_rate(s, f, unstable, by, "unstable")
    add_rate(s, f, S > 0, by, "exact")
    add_rate(s, f, unstable != (S > 0), by, "mismatch")
    s = s.drop(columns=["mismatch_rate", "mismatch_lo", "mismatch_hi"])
    s.insert(0, "order", "fixed")
    rows = []
    for b, c in crit.items():
        lo, hi = median_interval(c)
        rows.append({"batch_size": b, "fixed_critical_lr_median": float(np.median(c)),
                     "fixed_critical_lr_median_lo": lo, "fixed_critical_lr_median_hi": hi,
                     "fixed_datasets": len(c)})
    return s, pd.DataFrame(rows)


# ------------------------------------------------------------------ best lr, linear scaling
def _theory_best(b: int, x_scale: float) -> tuple[float, float]:
    """The lr minimising ``L_B`` (fewest population steps to any tolerance) and ``L_B`` there."""
    from scipy.optimize import minimize_scalar


    r = minimize_scalar(lambda v: _population_L(float(v), b, float(x_scale)),
                        bounds=(0.01 / x_scale**2, 1.0 / x_scale**2), method="bounded",
                        options={"xatol": 1e-7 / x_scale**2})
    return float(r.x), float(r.fun)


def _best(g: pd.DataFrame, col: str) -> dict:
    """The grid lr with the smallest median ``col`` and the range of lrs whose 95 % intervals overlap its."""
    g = g[np.isfinite(g[f"{col}_median"])].sort_values("lr")
    if g.empty:
        return {"best_lr": np.nan, "best_lr_lo": np.nan, "best_lr_hi": np.nan,
                **{f"{col}_{k}": np.nan for k in ("median", "median_lo", "median_hi")}}
    i = g[f"{col}_median"].to_numpy().argmin()
    best = g.iloc[i]
    lo, hi = f"{col}_median_lo", f"{col}_median_hi"
    tie = g[(g[lo] <= best[hi]) & (g[hi] >= best[lo])]
    return {"best_lr": float(best["lr"]), "best_lr_lo": float(tie["lr"].min()),
            "best_lr_hi": float(tie["lr"].max()),
            **{f"{col}_{k}": float(best[f"{col}_{k}"]) for k in ("median", "median_lo", "median_hi")}}


def per_batch(on: pd.DataFrame, fixed_s: pd.DataFrame, crit: pd.DataFrame, cfg: SweepConfig) -> pd.DataFrame:
    """One row per B: thresholds (theory and simulated), the best lr and its steps and samples."""
    import pandas as pd

    from .. import theory
    from ..intervals import Z95

    (x_scale,) = cfg.axes["x_scale"]
    rows = []
    for b in sorted(on["batch_size"].unique()):
        g = on[on["batch_size"] == b]
        fx = fixed_s[fixed_s["batch_size"] == b].sort_values("lr")
        root, root_lo, root_hi = _as_root(g)
        a_s = float(theory.batch_as_threshold(int(b), x_scale))
        se = (root_hi - root_lo) / (2 * Z95)
        half, half_lo, half_hi = rate_crossing(g.sort_values("lr")["lr"].to_numpy(),
                                               *(g.sort_values("lr")[c].to_numpy() for c in (
                                                   "unstable_rate", "unstable_lo", "unstable_hi")))
        fhalf, fhalf_lo, fhalf_hi = rate_crossing(fx["lr"].to_numpy(), fx["unstable_rate"].to_numpy(),
                                                  fx["unstable_lo"].to_numpy(), fx["unstable_hi"].to_numpy())
        blr, bL = _theory_best(int(b), x_scale)
        steps = _best(g, "steps")
        sim_L = g.loc[g["lr"] == steps["best_lr"], "theory_log_multiplier"]
        row = {"batch_size": int(b), "ms_threshold": float(theory.batch_ms_threshold(int(b), x_scale)),
               "as_threshold": a_s, "gd_threshold": 1.0 / x_scale**2,
               "as_sim": root, "as_sim_lo": root_lo, "as_sim_hi": root_hi,
               "z_as": (root - a_s) / se if se > 0 else np.nan,
               "half_unstable_lr": half, "half_unstable_lr_lo": half_lo, "half_unstable_lr_hi": half_hi,
               "fixed_half_unstable_lr": fhalf, "fixed_half_unstable_lr_lo": fhalf_lo,
               "fixed_half_unstable_lr_hi": fhalf_hi,
               "theory_best_lr": blr, "theory_best_steps": np.log(cfg.tol) / bL,
               **steps,
               "theory_steps_at_best": (np.log(cfg.tol) / float(sim_L.iloc[0]) if len(sim_L)
                                        and float(sim_L.iloc[0]) < 0 else np.nan)}
        for k in ("median", "median_lo", "median_hi"):
            row[f"samples_{k}"] = row.get(f"steps_{k}", np.nan) * b
        rows.append(row)
    t = pd.DataFrame(rows).merge(crit, on="batch_size", how="left")
    t["theory_best_samples"] = t["theory_best_steps"] * t["batch_size"]
    # The simulated median over the population prediction at the same lr, with the median's interval.
    for k in ("", "_lo", "_hi"):
        t[f"steps_over_theory{k}"] = t[f"steps_median{k}"] / t["theory_steps_at_best"]
    return t


def linear_scaling(on: pd.DataFrame, cfg: SweepConfig) -> pd.DataFrame:
    """Steps and samples to tolerance at ``lr = B lr1`` for each base lr1 whose multiples ran."""
    import pandas as pd

    (x_scale,) = cfg.axes["x_scale"]
    lrs = np.asarray(sorted(on["lr"].unique()))
    b1 = min(on["batch_size"].unique())
    wanted = [u / x_scale**2 for u in LINEAR_BASES]
    bases = [lrs[np.isclose(lrs, w, rtol=1e-9)][0] for w in wanted if np.isclose(lrs, w, rtol=1e-9).any()]
    parts = []
    for base in bases:
        for b in sorted(on["batch_size"].unique()):
            target = base * b / b1
            row = on[(on["batch_size"] == b) & np.isclose(on["lr"], target, rtol=1e-9)]
            if len(row):
                parts.append(row.assign(base_lr=base))
    cols = ["base_lr", "batch_size", "lr", "steps_median", "steps_median_lo", "steps_median_hi",
            "samples_median", "samples_median_lo", "samples_median_hi", "steps_censored", "budget",
            "budget_samples", "theory_steps", "theory_samples", "n", "n_unstable", "unstable_rate",
            "unstable_lo", "unstable_hi", "n_converged", "converged_rate", "converged_lo", "converged_hi"]
    if not parts:  # no base lr whose multiples ran (a --set lr grid): an empty table, same columns
        return pd.DataFrame(columns=[*cols, "theory_samples_ratio"], dtype=float)
    t = pd.concat(parts, ignore_index=True)
    t = t[cols].copy()
    first = t.groupby("base_lr")["theory_samples"].transform("first")
    t["theory_samples_ratio"] = t["theory_samples"] / first
    return t


# ------------------------------------------------------------------ noise: the stationary error
def _e4_finite(lr: np.ndarray, b: np.ndarray, x_scale: float) -> np.ndarray:
    """Whether ``E(1 - u Y)^4 < 1`` (``u = 2 lr s^2``, ``Y = chi2_B / B``): the stationary e^2 then has a
    finite variance (tail index above 4), so its sample mean has a valid standard error."""
    u = 2.0 * np.asarray(lr, dtype=float) * x_scale**2
    b = np.asarray(b, dtype=float)
    m2 = 1 + 2 / b
    m3 = m2 * (1 + 4 / b)
    m4 = m3 * (1 + 6 / b)
    return 1 - 4 * u + 6 * u**2 * m2 - 4 * u**3 * m3 + u**4 * m4 < 1


def noisy_table(res: Results) -> pd.DataFrame:
    """Per (B, lr): the mean over runs of the last epoch's mean e^2 with its standard error, against
    ``theory.population_stationary_mse``; ``se_valid`` where e^2 has a finite variance and e_0 is
    forgotten."""
    import pandas as pd

    from .. import theory
    from ..intervals import mean_and_se, wilson_interval

    cfg, f = res.config, res.frame
    (x_scale,), (noise,), (n,), (theta0,) = (cfg.axes[a] for a in ("x_scale", "noise", "n_samples", "theta0"))
    rows = []
    for (b, lr), g in f.groupby(["batch_size", "lr"], observed=True, sort=True):
        rms = g["rms_error_last_epoch"].to_numpy(dtype=float)
        kept = np.isfinite(rms)
        m, se = mean_and_se(rms[kept] ** 2)
        rows.append({"batch_size": int(b), "lr": float(lr), "runs": len(g),
                     "n_left_bound": int((~kept).sum()),
                     "e2_mean": m, "e2_mean_se": se})
    t = pd.DataFrame(rows)
    t["left_bound_rate"] = t["n_left_bound"] / t["runs"]
    t["left_bound_lo"], t["left_bound_hi"] = wilson_interval(t["n_left_bound"].to_numpy(),
                                                             t["runs"].to_numpy())
    b, lr = t["batch_size"].to_numpy(), t["lr"].to_numpy()
    t["theory_variance"] = np.asarray(theory.population_stationary_mse(lr, noise, x_scale, b), dtype=float)
    # What is left of e_0 at the start of the last epoch, squared, against the floor (mean-square decay).
    u = 2.0 * lr * x_scale**2
    rho = 1 - 2 * u + u**2 * (1 + 2 / b)
    burn = (cfg.epochs - 1) * -(-n // b)
    with np.errstate(divide="ignore", over="ignore"):
        left = (theta0 - cfg.coef) ** 2 * rho**burn
    t["e0_left"] = left
    # Stationary: a finite floor, e_0 forgotten, no run at the bound; then the SE is valid where e^2 has
    # a finite variance.
    t["stationary"] = (np.isfinite(t["theory_variance"]) & (left < 1e-3 * t["theory_variance"])
                       & (t["n_left_bound"] == 0))
    t["se_valid"] = t["stationary"] & _e4_finite(lr, b, x_scale)
    t["z_e2"] = np.where(t["se_valid"], (t["e2_mean"] - t["theory_variance"]) / t["e2_mean_se"], np.nan)
    return t
