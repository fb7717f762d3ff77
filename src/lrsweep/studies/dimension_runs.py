"""The ``dimension`` study's tables: exponents and thresholds per d, sample orders, steps to tolerance.

The numbers behind :mod:`lrsweep.studies.dimension` (which declares the
sweeps and writes the figures and the report). Every run is noise-free with
``coef = 0``, so ``theta_ref = 0`` and ``||e|| = ||theta||`` has no rounding
floor above float64's smallest normal norm; learning rates are in units of
``1 / E||x||^2`` (``c = lr s^2 sum_j r_j^2``, ``r_j`` the relative feature
scales), the scaling the study asks about.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

from .common import add_rate, crossing
from .steps import rate_crossing, steps_median

if TYPE_CHECKING:
    import pandas as pd

    from ..config import SweepConfig
    from ..results import Results

#: Seed of the Monte Carlo exponents and thresholds (bias or unequal scales): THEORY_SEED + d.
THEORY_SEED = 1515
#: A run whose ||e_T|| is at or below this times ||e_0|| is too close to the smallest normal norm for
#: log ||e_T|| to count (theta0 = 1: e_0 = 1 per weight).
FLOOR = 1e-140


def scales(cfg: SweepConfig) -> np.ndarray:
    """Feature standard deviations of the config's one (d, kappa, x_scale)."""
    from .. import theory

    (d,), (kappa,), (s,) = cfg.axes["n_features"], cfg.axes["condition"], cfg.axes["x_scale"]
    return np.asarray(theory.condition_scales(int(d), float(kappa), float(s)), dtype=float).reshape(-1)


def second_moment(cfg: SweepConfig) -> float:
    """``E||x||^2 = sum_j s_j^2`` of the features (the bias's constant 1 not included)."""
    return float(np.sum(scales(cfg) ** 2))


@functools.lru_cache(maxsize=256)
def _mc_exponent(lrs: tuple, sc: tuple, bias: bool, n_steps: int, n_chains: int, seed: int):
    from .. import theory

    est = theory.feature_lyapunov_exponent(
        np.asarray(lrs), np.asarray(sc), fit_intercept=bias, n_steps=n_steps, n_chains=n_chains, rng=seed
    )
    return np.asarray(est.exponent, dtype=float).reshape(-1), np.asarray(
        est.standard_error, dtype=float
    ).reshape(-1)


@functools.lru_cache(maxsize=64)
def theory_thresholds(
    d: int, kappa: float, s: float, bias: bool, n_steps: int, n_chains: int
) -> tuple[float, float, float, str]:
    """(mean-square threshold, almost-sure threshold, its standard error, how the latter is computed)."""
    from .. import theory

    sc = np.asarray(theory.condition_scales(d, kappa, s), dtype=float).reshape(-1)
    ms = float(theory.feature_ms_threshold(sc, fit_intercept=bias))
    if kappa == 1.0 and not bias:
        return ms, float(theory.isotropic_as_threshold(d, s)), 0.0, "quadrature"
    est = theory.feature_as_threshold(
        sc, fit_intercept=bias, n_steps=n_steps, n_chains=n_chains, rng=THEORY_SEED + d
    )
    return ms, float(est.exponent), float(est.standard_error), "Monte Carlo"


def theory_exponent(
    cfg: SweepConfig, lr: np.ndarray, bias: bool, n_steps: int, n_chains: int
) -> tuple[np.ndarray, np.ndarray]:
    """The population exponent per step at ``lr``: quadrature (isotropic, no bias) or Monte Carlo, with SE."""
    from .. import theory

    (d,), (kappa,), (s,) = cfg.axes["n_features"], cfg.axes["condition"], cfg.axes["x_scale"]
    if kappa == 1.0 and not bias:
        return (
            np.asarray(theory.isotropic_log_multiplier(lr, int(d), s), dtype=float).reshape(-1),
            np.zeros(len(lr)),
        )
    return _mc_exponent(
        tuple(float(v) for v in lr), tuple(scales(cfg)), bool(bias), n_steps, n_chains, THEORY_SEED + int(d)
    )


# ------------------------------------------------------------------ fresh samples
def _log_growth(f: pd.DataFrame, T: int) -> tuple[np.ndarray, np.ndarray]:
    """Per run: ``log(||e_T|| / ||e_0||) / T`` and whether it is censored (left the bound or the floor)."""
    d = f["n_features"].to_numpy(dtype=float)
    e0 = np.abs(f["theta0"].to_numpy(dtype=float)) * np.sqrt(d)  # every weight starts at theta0, b at 0
    eT = f["abs_error_final"].to_numpy(dtype=float)
    diverged = (f["status"] == "diverged").to_numpy()
    censored = diverged | ~(eT > FLOOR * e0) | ~np.isfinite(eT)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = (np.log(eT) - np.log(e0)) / T
    return g, censored


def online_table(res: Results, n_steps: int, n_chains: int) -> pd.DataFrame:
    """Per (bias, lr) of one fresh-sample sweep: unstable fraction, mean log growth per step against the
    population exponent, steps to tolerance."""
    from ..intervals import mean_and_se

    cfg, f = res.config, res.frame
    (n,), (d,), (kappa,) = cfg.axes["n_samples"], cfg.axes["n_features"], cfg.axes["condition"]
    T = cfg.epochs * n
    by = ["fit_intercept", "lr"]
    g, cens = _log_growth(f, T)
    s = res.summary(by=by)
    grew = (f["status"] == "diverged").to_numpy() | (np.nan_to_num(g, nan=-np.inf) > 0)
    add_rate(s, f, grew, by, "unstable")
    mean, se, nc = [], [], []
    for key in zip(s["fit_intercept"], s["lr"], strict=True):
        idx = f.groupby(by, observed=True).indices[key]
        ok = ~cens[idx]
        m, e = mean_and_se(g[idx][ok]) if ok.sum() >= 2 else (np.nan, np.nan)
        mean.append(m)
        se.append(e)
        nc.append(int((~ok).sum()))
    s["log_growth_mean"], s["log_growth_mean_se"], s["n_growth_censored"] = mean, se, nc
    s = s.merge(steps_median(f, by), on=by, how="left")
    m2 = second_moment(cfg)
    s.insert(0, "n_features", int(d))
    s.insert(1, "condition", float(kappa))
    s["c"] = s["lr"] * m2
    s["steps_per_run"] = T
    L, Lse = np.full(len(s), np.nan), np.full(len(s), np.nan)
    for bias in (False, True):
        sel = (s["fit_intercept"] == bias).to_numpy()
        if sel.any():
            L[sel], Lse[sel] = theory_exponent(
                cfg, s.loc[sel, "lr"].to_numpy(dtype=float), bias, n_steps, n_chains
            )
    s["theory_log_multiplier"], s["theory_log_multiplier_se"] = L, Lse
    ok = (s["n_growth_censored"] == 0) & (s["log_growth_mean_se"] > 0)
    tot = np.sqrt(s["log_growth_mean_se"] ** 2 + s["theory_log_multiplier_se"] ** 2)
    s["z_log_growth"] = np.where(ok, (s["log_growth_mean"] - L) / tot, np.nan)
    s["theory_steps"] = np.where(L < 0, np.log(cfg.tol) / np.where(L < 0, L, -1.0), np.nan)
    return s


def _root(g: pd.DataFrame) -> tuple[float, float, float]:
    """Where the mean log growth crosses 0 upwards, with the crossings of its +-1.96 SE."""
    from ..intervals import Z95

    g = g[np.isfinite(g["log_growth_mean"])].sort_values("lr")
    lr, m, se = (g[c].to_numpy(dtype=float) for c in ("lr", "log_growth_mean", "log_growth_mean_se"))
    return crossing(lr, m, 0.0), crossing(lr, m + Z95 * se, 0.0), crossing(lr, m - Z95 * se, 0.0)


def _best(g: pd.DataFrame) -> dict:
    """The lr with the smallest median steps to tolerance, and the lrs whose intervals overlap it."""
    g = g[np.isfinite(g["steps_median"])].sort_values("lr")
    keys = ("median", "median_lo", "median_hi")
    if g.empty:
        return {
            "best_lr": np.nan,
            "best_lr_lo": np.nan,
            "best_lr_hi": np.nan,
            **{f"steps_{k}": np.inf for k in keys},
        }
    best = g.iloc[int(g["steps_median"].to_numpy().argmin())]
    tie = g[
        (g["steps_median_lo"] <= best["steps_median_hi"]) & (g["steps_median_hi"] >= best["steps_median_lo"])
    ]
    return {
        "best_lr": float(best["lr"]),
        "best_lr_lo": float(tie["lr"].min()),
        "best_lr_hi": float(tie["lr"].max()),
        **{f"steps_{k}": float(best[f"steps_{k}"]) for k in keys},
    }


def _theory_best(cfg: SweepConfig) -> tuple[float, float]:
    """Isotropic without a bias: the lr minimising the exponent and the population steps there."""
    from scipy.optimize import minimize_scalar

    from .. import theory

    (d,), (s,) = cfg.axes["n_features"], cfg.axes["x_scale"]
    hi = float(theory.isotropic_ms_threshold(int(d), x_scale=s))
    r = minimize_scalar(
        lambda v: float(theory.isotropic_log_multiplier(v, int(d), s)),
        bounds=(1e-3 * hi, hi),
        method="bounded",
        options={"xatol": 1e-6 * hi},
    )
    return float(r.x), float(np.log(cfg.tol) / r.fun)


def per_dimension(
    tables: list[tuple[SweepConfig, pd.DataFrame]], n_steps: int, n_chains: int
) -> pd.DataFrame:
    """One row per (d, kappa, bias): thresholds (theory, simulated) and the best lr with its steps."""
    import pandas as pd

    from ..intervals import Z95

    rows = []
    for cfg, t in tables:
        (d,), (kappa,), (s,) = cfg.axes["n_features"], cfg.axes["condition"], cfg.axes["x_scale"]
        m2 = second_moment(cfg)
        for bias, g in t.groupby("fit_intercept", sort=True):
            g = g.sort_values("lr")
            ms, a_s, a_se, how = theory_thresholds(
                int(d), float(kappa), float(s), bool(bias), n_steps, n_chains
            )
            root, lo, hi = _root(g)
            se = (hi - lo) / (2 * Z95)
            half = rate_crossing(
                *(g[c].to_numpy(dtype=float) for c in ("lr", "unstable_rate", "unstable_lo", "unstable_hi"))
            )
            row = {
                "n_features": int(d),
                "condition": float(kappa),
                "fit_intercept": bool(bias),
                "second_moment": m2,
                "ms_threshold": ms,
                "as_threshold": a_s,
                "as_threshold_se": a_se,
                "as_theory": how,
                "as_sim": root,
                "as_sim_lo": lo,
                "as_sim_hi": hi,
                "z_as": (root - a_s) / np.hypot(se, a_se) if se > 0 else np.nan,
                "half_unstable_lr": half[0],
                "half_unstable_lr_lo": half[1],
                "half_unstable_lr_hi": half[2],
                **_best(g),
                "budget": int(g["steps_per_run"].iloc[0]),
                "n_cells_steps_censored": int(g["steps_censored"].sum()),
                "runs_per_lr": int(g["n"].min()),
            }
            if kappa == 1.0 and not bias:
                row["theory_best_lr"], row["theory_best_steps"] = _theory_best(cfg)
            else:
                row["theory_best_lr"], row["theory_best_steps"] = np.nan, np.nan
            rows.append(row)
    p = pd.DataFrame(rows)
    for c in (
        "ms_threshold",
        "as_threshold",
        "as_threshold_se",
        "as_sim",
        "as_sim_lo",
        "as_sim_hi",
        "best_lr",
        "best_lr_lo",
        "best_lr_hi",
        "theory_best_lr",
    ):
        stem, tail = (c[:-3], c[-3:]) if c.endswith(("_lo", "_hi")) else (c, "")
        p[f"{stem}_scaled{tail}"] = p[c] * p["second_moment"]
    for c in ("steps_median", "theory_best_steps"):
        p[f"{c}_per_d"] = p[c] / p["n_features"]
    return p.sort_values(["condition", "fit_intercept", "n_features"], ignore_index=True)


# ------------------------------------------------------------------ sample orders
def features_x(cfg: SweepConfig, seeds) -> np.ndarray:
    """The fixed-order datasets' features, stacked ``(D, n, d)``, as the sweep generated them."""
    from ..data import features_dataset_for

    (n,) = cfg.axes["n_samples"]
    rest = {
        a: cfg.axes[a][0]
        for a in (
            "x_scale",
            "noise",
            "outlier_kind",
            "outlier_frac",
            "outlier_scale",
            "n_features",
            "condition",
            "fit_intercept",
        )
    }
    return np.stack(
        [features_dataset_for(cfg, (int(s), n, *rest.values()), "fixed").x.reshape(n, -1) for s in seeds]
    )


def order_tables(res: Results, n_critical: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Per (order, lr): unstable fraction (grew over the run) and the exact fixed-order verdict; paired
    fixed-minus-shuffle growth per epoch; the datasets' critical lr (exact) with its median's interval."""
    import pandas as pd

    from .. import theory
    from ..intervals import mean_and_se, median_interval

    cfg, f = res.config, res.frame
    (d,), (n,) = cfg.axes["n_features"], cfg.axes["n_samples"]
    by = ["order", "lr"]
    g, cens = _log_growth(f, cfg.epochs)  # per epoch
    grew = (f["status"] == "diverged").to_numpy() | (np.nan_to_num(g, nan=-np.inf) > 0)
    seeds = np.asarray(cfg.axes["seed"])
    X = features_x(cfg, seeds)
    lrs = np.asarray(cfg.axes["lr"], dtype=float)
    G = np.asarray(theory.feature_epoch_growth(X, lrs), dtype=float).reshape(len(seeds), len(lrs))
    exact = G[np.searchsorted(seeds, f["seed"].to_numpy()), np.searchsorted(lrs, f["lr"].to_numpy())]
    s = res.summary(by=by)
    add_rate(s, f, grew, by, "unstable")
    fixed = (f["order"] == "fixed").to_numpy()
    add_rate(s, f, exact > 0, by, "exact")
    add_rate(s, f, fixed & (grew != (exact > 0)), by, "mismatch")
    s = s.drop(columns=["mismatch_rate", "mismatch_lo", "mismatch_hi"])
    s.loc[s["order"] != "fixed", ["n_exact", "exact_rate", "exact_lo", "exact_hi", "n_mismatch"]] = np.nan
    s.insert(0, "n_features", int(d))
    s["c"] = s["lr"] * second_moment(cfg)
    # Paired by dataset: growth per epoch in fixed order minus that in shuffled order (both uncensored).
    rows = []
    frame = pd.DataFrame(
        {
            "seed": f["seed"].to_numpy(),
            "lr": f["lr"].to_numpy(),
            "order": f["order"].astype(str),
            "g": np.where(cens, np.nan, g),
            "grew": grew,
        }
    )
    wide = frame.pivot_table(index=["lr", "seed"], columns="order", values=["g", "grew"], aggfunc="first")
    for lr, w in wide.groupby(level="lr"):
        diff = (w[("g", "fixed")] - w[("g", "shuffle")]).to_numpy(dtype=float)
        ok = np.isfinite(diff)
        m, se = mean_and_se(diff[ok]) if ok.sum() >= 2 else (np.nan, np.nan)
        gf, gs = w[("grew", "fixed")].astype(bool), w[("grew", "shuffle")].astype(bool)
        rows.append(
            {
                "n_features": int(d),
                "lr": float(lr),
                "c": float(lr) * second_moment(cfg),
                "growth_diff_mean": m,
                "growth_diff_mean_se": se,
                "pairs": int(ok.sum()),
                "max_abs_growth_diff": float(np.max(np.abs(diff[ok]))) if ok.any() else np.nan,
                "n_only_fixed_grew": int((gf & ~gs).sum()),
                "n_only_shuffle_grew": int((gs & ~gf).sum()),
                "n_datasets": len(w),
            }
        )
    paired = pd.DataFrame(rows)
    crit = np.asarray(theory.feature_critical_lr(X[:n_critical]), dtype=float).reshape(-1)
    lo, hi = median_interval(crit)
    m2 = second_moment(cfg)
    critical = pd.DataFrame(
        [
            {
                "n_features": int(d),
                "n_samples": int(n),
                "datasets": len(crit),
                "critical_lr_median": float(np.median(crit)),
                "critical_lr_median_lo": lo,
                "critical_lr_median_hi": hi,
                "critical_c_median": float(np.median(crit)) * m2,
                "critical_c_median_lo": lo * m2,
                "critical_c_median_hi": hi * m2,
            }
        ]
    )
    return s, paired, critical
