"""The ``schedules`` study's tables: each run against its exact sum, the noisy mean square, the warmup shift.

The numbers behind :mod:`lrsweep.studies.schedules` (which declares the
sweeps and writes the figures and the report): the per-step multipliers the
engine used, the exact mean-square recursion of fresh samples under any
schedule, the runs grouped by lr / (their dataset's critical lr), and the
summaries with their intervals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..config import SweepConfig
from .common import add_median, add_rate

if TYPE_CHECKING:
    import pandas as pd

    from ..results import Results

#: Bands of lr / (the dataset's first critical lr): (label, lo, hi], in the figures' order.
BANDS = (
    ("well below", 0.4, 0.7),
    ("just below", 0.9, 1.0),
    ("just above", 1.0, 1.1),
    ("well above", 1.3, 1.8),
)
#: The one band of a sweep whose learning rates (--set lr) fall in none of BANDS.
ALL = "all runs"
#: A resolved run agrees with the exact sum when |log(sim / exact)| <= AGREE (a relative 1e-5).
AGREE = 1e-5

# ----------------------------------------------------------------------------- theory
def run_multipliers(schedule: str, cfg: SweepConfig) -> np.ndarray:
    """The per-step multipliers ``m_t`` the engine used for ``schedule`` in a run of ``cfg``."""
    from ..schedules import multipliers

    (n,) = cfg.axes["n_samples"]
    (b,) = cfg.axes["batch_size"]
    per_epoch = -(-n // b)
    return multipliers(schedule, cfg.epochs * per_epoch, per_epoch, cfg.lr_multipliers)


def mean_square_recursion(lr_steps: np.ndarray, e0: float, noise: float, x_scale: float) -> np.ndarray:
    """Exact ``E e_k^2`` (``k = 0 .. T``) of per-sample SGD on fresh samples under per-step rates ``lr_t``.

    ``x ~ N(0, s^2)`` and the residual ``r`` (sd ``noise``) independent of ``x``:
    ``E (1 - 2 lr x^2)^2 = 1 - 4 lr s^2 + 12 lr^2 s^4``, ``E (1 - 2 lr x^2) x r = 0``
    and ``E (2 lr x r)^2 = 4 lr^2 s^2 sigma^2``, so
    ``E e_{t+1}^2 = a_t E e_t^2 + b_t`` exactly. At a constant lr its fixed
    point is :func:`lrsweep.theory.population_stationary_mse`.
    """
    u = np.asarray(lr_steps, dtype=np.float64) * x_scale**2
    a = 1.0 - 4.0 * u + 12.0 * u * u
    b = 4.0 * u * np.asarray(lr_steps, dtype=np.float64) * noise**2
    out = np.empty(u.size + 1)
    out[0] = e0 * e0
    with np.errstate(over="ignore"):
        for t in range(u.size):
            out[t + 1] = a[t] * out[t] + b[t]
    return out


def datasets_x(cfg: SweepConfig, seeds: np.ndarray) -> np.ndarray:
    from .common import datasets

    return np.stack([d.x for d in datasets(cfg, seeds)])


# ----------------------------------------------------------------------------- analysis
def _band(rel: np.ndarray) -> np.ndarray:
    out = np.full(rel.shape, "", dtype=object)
    for name, lo, hi in BANDS:
        out[(rel > lo) & (rel <= hi)] = name
    return out


def _exact_frame(
    res: Results, x: np.ndarray, seeds: np.ndarray, lr_c: np.ndarray, S: np.ndarray
) -> pd.DataFrame:
    """The runs of one noise-free sweep with their exact log-ratio, simulated log-ratio and censoring."""
    from .. import theory

    cfg = res.config
    f = res.frame
    lrs = np.asarray(cfg.axes["lr"], dtype=np.float64)
    G = np.full(len(f), np.nan)
    sched = f["schedule"].astype(str).to_numpy()
    row_seed = np.searchsorted(seeds, f["seed"].to_numpy())
    row_lr = np.searchsorted(lrs, f["lr"].to_numpy())
    for s in np.unique(sched):
        sel = sched == s
        g = np.asarray(theory.schedule_log_growth(x, lrs, run_multipliers(s, cfg)), dtype=np.float64)
        G[sel] = g[row_seed[sel], row_lr[sel]]
    (theta0,) = cfg.axes["theta0"]
    ref = f["theta_ref"].to_numpy(dtype=np.float64)
    e0 = np.abs(theta0 - ref)
    scale = np.maximum(e0, np.abs(ref))
    floor = np.log(cfg.sign_floor * scale / e0)
    bound = np.log(min(cfg.diverge_factor * 1.0, 2.0**1021) * scale / e0)
    diverged = (f["status"] == "diverged").to_numpy()
    err = f["abs_error_final"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore"):
        sim = np.log(err / e0)
    below = ~diverged & (sim < floor)
    sim_c = np.where(diverged, np.inf, np.where(below, -np.inf, sim))
    rel = f["lr"].to_numpy(dtype=np.float64) / lr_c[row_seed]
    s_run = S[row_seed, row_lr]
    band = _band(rel)
    # Above the first critical lr S(lr) > 0 except in the windows around later poles where the constant
    # lr is stable again: those runs are left out of the bands above the edge (and counted).
    window = (rel > 1) & (s_run <= 0)
    band[window] = ""
    decided = ~diverged & ~below & (floor < G) & (bound > G)
    tol = np.log(cfg.tol)
    import pandas as pd

    return pd.DataFrame(
        {
            "budget": cfg.epochs,
            "schedule": sched,
            "seed": f["seed"].to_numpy(),
            "lr": f["lr"].to_numpy(),
            "rel_lr": rel,
            "band": band,
            "S": s_run,
            "window": window,
            "exact": G,
            "sim": sim_c,
            "floor": floor,
            "bound": bound,
            "decided": decided,
            "dev": np.where(decided, np.abs(sim - G), np.nan),
            "theory_censored": (floor >= G) | (bound <= G),
            "rescued_sim": ~diverged & (sim <= tol),
            "rescued_exact": tol >= G,
            "diverged": diverged,
            "below": below,
        }
    )


def _ln10(v: np.ndarray) -> np.ndarray:
    return np.asarray(v, dtype=np.float64) / np.log(10.0)


def _add_median_inf(
    summary: pd.DataFrame, frame: pd.DataFrame, values: np.ndarray, by: list[str], name: str
) -> None:
    """:func:`~lrsweep.studies.common.add_median` of values that may be -inf or inf (censored runs:
    below the rounding floor, beyond the bound); a median or bound that is censored is +-inf."""
    big = 1e300
    add_median(summary, frame, np.clip(values, -big, big), by, name)
    for c in (f"{name}_median", f"{name}_median_lo", f"{name}_median_hi"):
        v = summary[c].to_numpy(dtype=np.float64)
        summary[c] = np.where(v >= big, np.inf, np.where(v <= -big, -np.inf, v))


def exact_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (budget, schedule, band): simulated and exact medians of log10(|e_T|/|e_0|), rates."""
    by = ["budget", "schedule", "band"]
    r = runs[runs["band"] != ""].reset_index(drop=True)
    if r.empty:  # learning rates (--set lr) in none of the bands: one panel of every run
        r = runs.assign(band=ALL).reset_index(drop=True)
    s = r.groupby(by, sort=False).size().rename("n").reset_index()
    _add_median_inf(s, r, _ln10(r["sim"]), by, "log10_ratio_sim")
    _add_median_inf(s, r, _ln10(r["exact"]), by, "log10_ratio_exact")
    add_rate(s, r, r["rescued_sim"], by, "rescued_sim")
    add_rate(s, r, r["rescued_exact"], by, "rescued_exact")
    add_rate(s, r, r["resolved"], by, "resolved")
    agree = r["resolved"] & (r["dev"] <= AGREE)
    add_rate(s, r, agree, by, "agree")
    from ..intervals import wilson_interval

    with np.errstate(invalid="ignore", divide="ignore"):
        s["agree_rate"] = s["n_agree"] / s["n_resolved"].where(s["n_resolved"] > 0)
    s["agree_lo"], s["agree_hi"] = wilson_interval(s["n_agree"].to_numpy(), np.maximum(s["n_resolved"], 1))
    s["max_abs_dev"] = r.groupby(by, sort=False)["dev"].max().reindex(s.set_index(by).index).to_numpy()
    add_rate(s, r, r["below"], by, "below_floor")
    add_rate(s, r, r["diverged"], by, "diverged")
    s["log10_floor"] = float(_ln10(np.median(runs["floor"])))
    s["log10_bound"] = float(_ln10(np.median(runs["bound"])))
    order = {b[0]: i for i, b in enumerate(BANDS)} | {ALL: len(BANDS)}
    order.update({sc: i for i, sc in enumerate(dict.fromkeys(runs["schedule"]))})
    return s.sort_values(
        ["band", "schedule", "budget"], key=lambda c: c.map(order) if c.name != "budget" else c, kind="stable"
    ).reset_index(drop=True)


def path_minimum(x: np.ndarray, lrs: np.ndarray, m: np.ndarray, chunk: int = 32) -> np.ndarray:
    """``min(0, min_k sum_{t<k} log|1 - 2 lr m_t x_t^2|)`` per (dataset, lr): the lowest point of the path.

    Where the exact path comes closer to the solution than the float64 theta
    can resolve, the rounding of that step is amplified by every later
    factor, so a run's simulated end is compared with the exact one only
    where this minimum stays above the rounding floor.
    """
    idx = np.arange(m.size) % x.shape[1]
    out = np.empty((x.shape[0], lrs.size))
    lrt = lrs[:, None] * m[None, :]
    for c0 in range(0, x.shape[0], chunk):
        xx = x[c0 : c0 + chunk, idx] ** 2
        with np.errstate(divide="ignore"):
            v = np.log(np.abs(1.0 - 2.0 * lrt[None] * xx[:, None, :]))
        out[c0 : c0 + chunk] = np.minimum(np.cumsum(v, axis=-1).min(axis=-1), 0.0)
    return out


def exact_runs(
    res: Results, x: np.ndarray, seeds: np.ndarray, lr_c: np.ndarray, S: np.ndarray
) -> pd.DataFrame:
    """:func:`_exact_frame` plus the path minimum and the per-run verdict ``resolved``."""
    runs = _exact_frame(res, x, seeds, lr_c, S)
    cfg = res.config
    lrs = np.asarray(cfg.axes["lr"], dtype=np.float64)
    f = res.frame
    row_seed = np.searchsorted(seeds, f["seed"].to_numpy())
    row_lr = np.searchsorted(lrs, f["lr"].to_numpy())
    pm = np.full(len(f), np.nan)
    sched = runs["schedule"].to_numpy()
    for s in np.unique(sched):
        sel = sched == s
        pm[sel] = path_minimum(x, lrs, run_multipliers(s, cfg))[row_seed[sel], row_lr[sel]]
    runs["path_min"] = pm
    runs["resolved"] = runs["decided"] & (pm > runs["floor"])
    runs["dev"] = np.where(runs["resolved"], runs["dev"], np.nan)
    return runs


def noisy_summary(res: Results) -> pd.DataFrame:
    """One row per (lr, schedule) of one noisy sweep: mean square against the exact recursion, median RMS."""
    import pandas as pd

    from .. import theory
    from ..intervals import mean_and_se
    from .noise_floor import _alpha4_lr

    cfg = res.config
    f = res.frame
    (n,), (x_scale,), (noise,), (theta0,) = (cfg.axes[a] for a in ("n_samples", "x_scale", "noise", "theta0"))
    sigma = float(np.hypot(noise, cfg.intercept))
    s2 = x_scale**2
    a4 = _alpha4_lr(s2, 3 * s2**2, 15 * s2**3, 105 * s2**4)
    e0 = theta0 - cfg.coef
    by = ["lr", "schedule"]
    g = f.assign(schedule=f["schedule"].astype(str))
    s = g.groupby(by, sort=True).size().rename("n").reset_index()
    rms = g["rms_error_last_epoch"].to_numpy(dtype=np.float64)
    add_median(s, g, rms, by, "rms")
    add_rate(s, g, g["status"] == "diverged", by, "diverged")
    rows = []
    for r in s.itertuples():
        sel = ((g["lr"] == r.lr) & (g["schedule"] == r.schedule)).to_numpy()
        v = rms[sel]
        with np.errstate(over="ignore"):
            mean, se = mean_and_se(v[np.isfinite(v)] ** 2)
        m = run_multipliers(r.schedule, cfg)
        rec = mean_square_recursion(r.lr * m, e0, sigma, x_scale)
        rows.append(
            {
                "e2_mean": mean,
                "e2_mean_se": se,
                "e2_exact": float(np.mean(rec[-n:])),
                "lr_final": float(r.lr * m[-1]),
            }
        )
    s = pd.concat([s, pd.DataFrame(rows)], axis=1)
    s["budget"] = cfg.epochs
    s["deviation_se"] = (s["e2_mean"] - s["e2_exact"]) / s["e2_mean_se"]
    s["floor_base"] = np.asarray(theory.population_stationary_mse(s["lr"].to_numpy(), sigma, x_scale))
    s["floor_final"] = np.asarray(theory.population_stationary_mse(s["lr_final"].to_numpy(), sigma, x_scale))
    s["rms_over_floor_median"] = s["rms_median"] / np.sqrt(s["floor_base"])
    s["rms_over_floor_median_lo"] = s["rms_median_lo"] / np.sqrt(s["floor_base"])
    s["rms_over_floor_median_hi"] = s["rms_median_hi"] / np.sqrt(s["floor_base"])
    s["se_valid"] = s["lr"] < a4
    s["lr_over_ms"] = s["lr"] / float(theory.ms_threshold(x_scale))
    return s


def warmup_table(
    runs: pd.DataFrame, x: np.ndarray, seeds: np.ndarray, cfg: SweepConfig, warm: str
) -> tuple[pd.DataFrame, float]:
    """Per band: the exact warmup shift Delta_W, S(lr) and the delay -Delta_W / S (medians, intervals).

    Also returns the largest |G(warmup + constant) - (Delta_W + G(constant))| over the runs
    where both are finite: the identity that makes warmup a constant shift.
    """
    import pandas as pd

    from .. import theory

    w = int(warm.split(":")[1].split("+")[0])
    lrs = np.asarray(cfg.axes["lr"], dtype=np.float64)
    ramp = (np.arange(w) + 1.0) / w
    delta = np.asarray(theory.schedule_log_growth(x, lrs, ramp)) - np.asarray(
        theory.schedule_log_growth(x, lrs, np.ones(w))
    )
    S = np.asarray(theory.epoch_log_multiplier(x, lrs))
    one = runs[(runs["schedule"] == "constant")].set_index(["budget", "seed", "lr"])
    wr = runs[(runs["schedule"] == warm)].set_index(["budget", "seed", "lr"])
    both = one.join(wr, suffixes=("_c", "_w"), how="inner")
    si = np.searchsorted(seeds, both.index.get_level_values("seed"))
    li = np.searchsorted(lrs, both.index.get_level_values("lr"))
    ident = both["exact_w"].to_numpy() - both["exact_c"].to_numpy() - delta[si, li]
    fin = np.isfinite(ident) & (both.index.get_level_values("budget") * x.shape[1] >= w)
    scale = np.maximum(1.0, np.abs(both["exact_c"].to_numpy()))
    worst = float(np.max(np.abs(ident[fin]) / scale[fin])) if fin.any() else float("nan")
    first = runs[(runs["schedule"] == "constant") & (runs["budget"] == runs["budget"].min())]
    si = np.searchsorted(seeds, first["seed"].to_numpy())
    li = np.searchsorted(lrs, first["lr"].to_numpy())
    t = pd.DataFrame({"band": first["band"].to_numpy(), "delta": delta[si, li], "S": S[si, li]})
    t = t[t["band"] != ""].reset_index(drop=True) if (t["band"] != "").any() else t.assign(band=ALL)
    with np.errstate(divide="ignore", invalid="ignore"):
        t["delay"] = np.where(t["S"] > 0, -t["delta"] / t["S"], np.nan)
    out = t.groupby("band", sort=False).size().rename("n").reset_index()
    add_median(out, t, t["delta"], ["band"], "delta_w")
    add_median(out, t, t["S"], ["band"], "S")
    add_median(out, t, t["delay"], ["band"], "delay_epochs")
    add_rate(out, t, t["delta"] < 0, ["band"], "warmup_helps")
    order = {b[0]: i for i, b in enumerate(BANDS)} | {ALL: len(BANDS)}
    return out.sort_values("band", key=lambda c: c.map(order)).reset_index(drop=True), worst
