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

from ..config import SweepConfig
from .common import add_median, add_rate, fmt
from .common import rate_interval as _pct
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
#: Bands of lr / (the dataset's first critical lr): (label, lo, hi], in the figures' order.
BANDS = (
    ("well below", 0.4, 0.7),
    ("just below", 0.9, 1.0),
    ("just above", 1.0, 1.1),
    ("well above", 1.3, 1.8),
)
#: The one band of a sweep whose learning rates (--set lr) fall in none of BANDS.
ALL = "all runs"
_BAND_TITLE = {b[0]: f"in ({b[1]:g}, {b[2]:g}]: {b[0]}" for b in BANDS} | {ALL: "anywhere: all runs"}
#: The band where the study asks what warmup buys.
EDGE = "just above"
#: Noise sd of the noisy sweeps (fresh samples).
NOISE = 1.0
#: A resolved run agrees with the exact sum when |log(sim / exact)| <= AGREE (a relative 1e-5).
AGREE = 1e-5
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


def _datasets_x(cfg: SweepConfig, seeds: np.ndarray) -> np.ndarray:
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


def _exact_runs(
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
    x = _datasets_x(cfg, seeds)
    lr_c = np.asarray(theory.critical_lr(x), dtype=np.float64).reshape(-1)
    S = np.asarray(theory.epoch_log_multiplier(x, np.asarray(cfg.axes["lr"], dtype=np.float64)))
    per_run = pd.concat([_exact_runs(r, x, seeds, lr_c, S) for r in exact], ignore_index=True)
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
