"""Study ``noise-floor``: mean-square versus almost-sure convergence of SGD with noisy data.

With noise the error obeys ``e <- (1 - 2 lr x^2) e + 2 lr x r``: the iterates
converge in distribution, not to a point. Below the mean-square threshold
``E e^2`` tends to the closed form of :func:`lrsweep.theory.population_stationary_mse`
(fresh samples) or :func:`~lrsweep.theory.dataset_stationary_mse`
(sampling with replacement from one dataset); between it and the almost-sure
threshold the stationary law still exists but ``E e^2`` is infinite, while the
typical ``|e|`` barely moves. The study measures both, checks the closed
forms in standard errors and uses them to justify the ``noise_floor`` status.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..config import SweepConfig
from .common import fmt
from .common import rate_interval as _pct
from .spec import ANY, Axis, Options, Output, Study, StudyError, SweepSpec

if TYPE_CHECKING:
    import pandas as pd

    from ..results import Results

#: Learning rates in units of the mean-square threshold 1/(3 s^2): from far below it to just
#: below the almost-sure threshold (3.63 in these units), denser around 1.
FULL_GRID = tuple(sorted({*np.round(np.geomspace(0.06, 3.2, 20), 4), 0.8, 0.9, 0.95, 0.98, 1.02, 1.1, 1.25}))
QUICK_GRID = (0.06, 0.3, 0.6, 0.9, 1.1, 1.8, 3.2)
#: Learning rates (in the same units) quoted in the report's table.
PICKS = (0.06, 0.3, 0.6, 0.9, 0.98, 1.02, 1.25, 1.8, 3.2)
SINGLE_DATA = Axis(multi=False, why="the replacement sweep draws its one dataset from these values")


def declare(opts: Options) -> dict[str, SweepSpec]:
    from .. import theory
    from ..data import make_dataset

    q = opts.quick
    # 10 epochs of 100 steps forget e_0 at every lr of the grid (the mean square contracts by
    # (1 - 4 lr s^2 + 12 lr^2 s^4)^k, |e| by exp(k L)); the bound is the largest float's quarter
    # so that the heavy tail above the mean-square threshold is measured, not cut off as diverged.
    kw = dict(order="online", n_samples=100, noise=1.0, epochs=10, seed=range(300 if q else 10_000),
              diverge_factor=1e300)
    probe = opts.config(**kw)
    (x_scale,), (noise,) = probe.axes["x_scale"], probe.axes["noise"]
    if noise == 0:
        raise StudyError("study 'noise-floor' needs noise > 0 (--set noise=...): without noise the error "
                         "converges to 0 and there is no noise floor to measure")
    ms = float(theory.ms_threshold(x_scale))
    online = opts.config(**kw, lr=[round(c * ms, 6) for c in (QUICK_GRID if q else FULL_GRID)])
    (n,) = online.axes["n_samples"]
    ds = make_dataset(opts.seed + 1, n, noise=noise, x_scale=x_scale, coef=online.coef,
                      intercept=online.intercept)
    one = SweepConfig(data=(ds.x, ds.y), order="replacement", lr=online.axes["lr"], seed=online.axes["seed"],
                      theta0=online.axes["theta0"], **{s: getattr(online, s) for s in (
                          "epochs", "coef", "intercept", "tol", "diverge_factor", "sign_floor",
                          "oscillation_min", "noise_factor")})
    return {"online": SweepSpec(online), "replacement": SweepSpec(one)}


def _variance(order: str, lr: np.ndarray, cfg: SweepConfig, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Closed-form stationary variance of the error for ``order`` at ``lr`` (``inf`` where there is none)."""
    from .. import theory

    (x_scale,), (noise,) = cfg.axes["x_scale"], cfg.axes["noise"]
    if order == "online":  # residual r = intercept + noise (x has mean 0: the population fit is coef)
        sigma = float(np.hypot(noise, cfg.intercept))
        return np.asarray(theory.population_stationary_mse(lr, sigma, x_scale), dtype=float)
    return np.asarray(theory.dataset_stationary_mse(x, y, lr), dtype=float)


def _tail_index(order: str, lr: np.ndarray, cfg: SweepConfig, x: np.ndarray) -> np.ndarray:
    """Tail index of the stationary law for ``order`` at ``lr`` (``inf``: bounded, NaN: no stationary law)."""
    from .. import theory

    if order == "online":
        return np.asarray(theory.tail_index(lr, cfg.axes["x_scale"][0]), dtype=float)
    return np.asarray(theory.tail_index_dataset(x, lr), dtype=float)


def _per_lr(res: Results, order: str, x: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    """One row per lr: mean square with its standard error against theory, median |e|, floor rates."""
    import pandas as pd

    from ..intervals import mean_and_se, median_interval, wilson_interval

    cfg = res.config
    f = res.frame
    rows = []
    for lr, g in f.groupby("lr", sort=True):
        rms = g["rms_error_last_epoch"].to_numpy(dtype=float)
        kept = np.isfinite(rms)  # NaN for a run that left the bound (none below the a.s. threshold)
        with np.errstate(over="ignore"):
            e2 = rms[kept] ** 2
        mean, se = mean_and_se(e2)
        err = g["abs_error_final"].to_numpy(dtype=float)
        lo, hi = median_interval(err)
        rows.append({"order": order, "lr": float(lr), "runs": len(g), "runs_in_bound": int(kept.sum()),
                     "e2_mean": mean, "e2_mean_se": se,
                     "largest_share": (float(e2.max() / e2.sum()) if e2.size and np.isfinite(e2.sum())
                                       else 1.0),
                     "abs_error_median": float(np.median(err)), "abs_error_median_lo": lo,
                     "abs_error_median_hi": hi, "rms": rms})
    t = pd.DataFrame(rows)
    t["theory_variance"] = _variance(order, t["lr"].to_numpy(), cfg, x, y)
    t["theory_alpha"] = _tail_index(order, t["lr"].to_numpy(), cfg, x)
    finite = np.isfinite(t["theory_variance"])
    t["deviation_se"] = np.where(finite, (t["e2_mean"] - t["theory_variance"]) / t["e2_mean_se"], np.nan)
    # The standard error is a yardstick only where e^2 has a finite variance (tail index > 4).
    t["se_valid"] = finite & (t["theory_alpha"] > 4)
    # The status rule with the closed form in place of each run's own estimate of it.
    k = np.array([int(np.sum(r <= cfg.noise_factor * np.sqrt(v))) if np.isfinite(v) else 0
                  for r, v in zip(t["rms"], t["theory_variance"], strict=True)])
    t["n_within_floor"] = k
    t["within_floor_rate"] = k / t["runs"]
    t["within_floor_lo"], t["within_floor_hi"] = wilson_interval(k, t["runs"].to_numpy())
    return t.drop(columns="rms")


def _alpha4_lr(m2: float, m4: float, m6: float, m8: float) -> float:
    """The lr where the tail index is 4 (``e^2`` has finite variance below it), from moments of x.

    ``E (1 - u x^2)^4 = 1 - 4u m2 + 6u^2 m4 - 4u^3 m6 + u^4 m8 = 1`` (``u = 2 lr``) at the
    smallest positive root of ``m8 u^3 - 4 m6 u^2 + 6 m4 u - 4 m2``. Fresh samples ``N(0, s^2)``:
    ``m_2k = (2k-1)!! s^2k``, ``u = 0.3835 / s^2``, lr = 0.1917 / s^2; a dataset: its means.
    """
    r = np.roots([m8, -4.0 * m6, 6.0 * m4, -4.0 * m2])
    real = r.real[(np.abs(r.imag) < 1e-9 * np.abs(r).max()) & (r.real > 0)]
    return float(real.min()) / 2.0 if real.size else float("nan")


def _alpha4_lrs(x_scale: float, x: np.ndarray) -> tuple[float, float]:
    """Tail index 4 for fresh samples (``N(0, s^2)`` moments) and for the replacement dataset."""
    s2 = x_scale**2
    return (_alpha4_lr(s2, 3 * s2**2, 15 * s2**3, 105 * s2**4),
            _alpha4_lr(*(float(np.mean(x ** (2 * k))) for k in range(1, 5))))


def _alpha(a: float) -> str:
    return "inf (bounded)" if a == np.inf else fmt(a, 3)


def _pick(table: pd.DataFrame, ms: float) -> pd.DataFrame:
    lrs = np.array(sorted(table["lr"].unique()))
    want = {float(lrs[np.argmin(np.abs(lrs - c * ms))]) for c in PICKS}
    return table[table["lr"].isin(want)]


def analyse(runs: dict[str, Results], opts: Options) -> Output:
    import pandas as pd

    from .. import plots, theory

    on, rep = runs["online"], runs["replacement"]
    cfg = on.config
    x, y = rep.config.user_data
    (x_scale,), (noise,), (n,) = cfg.axes["x_scale"], cfg.axes["noise"], cfg.axes["n_samples"]
    seeds = cfg.axes["seed"]
    ms, a_s = float(theory.ms_threshold(x_scale)), float(theory.as_threshold(x_scale))
    ms_ds = float(np.mean(x**2) / np.mean(x**4))
    as_ds = float(theory.critical_lr(x))
    table = pd.concat([_per_lr(on, "online", x, y), _per_lr(rep, "replacement", x, y)], ignore_index=True)
    summary = pd.concat([on.summary(by=["order", "lr"]), rep.summary(by=["order", "lr"])], ignore_index=True)
    summary = summary.merge(table, on=["order", "lr"], how="left")
    summary["order"] = summary["order"].astype(str)
    a4, a4_ds = _alpha4_lrs(x_scale, x)
    thresholds = pd.DataFrame([
        {"order": "online", "label": "tail index 4:", "lr": a4},
        {"order": "online", "label": "mean-square 1/(3 s^2) =", "lr": ms},
        {"order": "online", "label": "almost-sure", "lr": a_s},
        {"order": "replacement", "label": "tail index 4:", "lr": a4_ds},
        {"order": "replacement", "label": "dataset mean-square", "lr": ms_ds},
        {"order": "replacement", "label": "dataset almost-sure", "lr": as_ds}])
    lr_max = float(summary["lr"].max()) * 1.05
    lr_min = float(summary["lr"].min()) * 0.95
    fine = np.geomspace(lr_min, lr_max, 400)
    fine = np.unique(np.concatenate([fine, ms * (1 - np.geomspace(1e-4, 0.5, 80)),
                                     ms_ds * (1 - np.geomspace(1e-4, 0.5, 80))]))
    fine = fine[(fine >= lr_min) & (fine <= lr_max)]
    curve = pd.concat([pd.DataFrame({"order": o, "lr": fine,
                                     "variance": _variance(o, fine, cfg, x, y)})
                       for o in ("online", "replacement")], ignore_index=True)
    steps = cfg.epochs * n
    runs_per = len(seeds)
    fig_ms = plots.mean_square_vs_median(
        summary, theory=curve, thresholds=thresholds,
        title=(f"E e^2 follows its closed form below the mean-square threshold and is infinite above it;\n"
               f"the median |e| moves smoothly through it (noise sd {noise:g}, x ~ N(0, {x_scale:g}^2), "
               f"{runs_per:,} runs of {steps:,} steps per point)"))
    fig_st = plots.status_rates(
        summary, thresholds=thresholds[~thresholds["label"].str.startswith("tail")].assign(
            label=lambda t: t["label"].str.replace(" 1/(3 s^2) =", "").str.replace("dataset ", "")),
        rates={"noise_floor": "noise_floor (status: RMS of the last epoch <= "
                              f"{cfg.noise_factor:g} x the run's own sqrt(v))",
               "oscillating": "oscillating (censored)", "growing": "growing (censored)",
               "converged": "converged"},
        reference={"within_floor": f"RMS of the last epoch <= {cfg.noise_factor:g} x the closed-form "
                                   "sqrt(v)"},
        title=("Noisy runs sit at their noise floor below the mean-square threshold; above it they are a "
               f"coin\nflip between oscillating and growing ({runs_per:,} runs per point, "
               "Wilson 95 % bands)"))
    return _report(summary, {"mean_square_vs_median": fig_ms, "statuses": fig_st}, cfg, x, ms, a_s, ms_ds,
                   as_ds, opts)


def _report(summary: pd.DataFrame, figures: dict, cfg: SweepConfig, x: np.ndarray, ms: float, a_s: float,
            ms_ds: float, as_ds: float, opts: Options) -> Output:
    (x_scale,), (noise,), (n,) = cfg.axes["x_scale"], cfg.axes["noise"], cfg.axes["n_samples"]
    (theta0,) = cfg.axes["theta0"]
    seeds = cfg.axes["seed"]
    steps = cfg.epochs * n
    nf = cfg.noise_factor
    a4, a4_ds = _alpha4_lrs(x_scale, x)
    below = {"online": ms, "replacement": ms_ds}
    s = summary.assign(below=[lr < below[o] for o, lr in zip(summary["order"], summary["lr"], strict=True)])
    valid = s[s["se_valid"]]
    dev = {o: valid.loc[valid["order"] == o, "deviation_se"] for o in below}
    worst = {o: (float(d.abs().max()) if len(d) else float("nan")) for o, d in dev.items()}
    bl = s[s["below"]]
    unreliable = s[~s["se_valid"] & np.isfinite(s["deviation_se"])]
    short = unreliable.loc[unreliable["deviation_se"].idxmin()] if len(unreliable) else None
    ab = s[~s["below"]]
    lines = []
    for r in _pick(s, ms).itertuples():
        rr = s.loc[r.Index]
        lines.append(
            f"| {r.order} | {r.lr:.4g} | {fmt(r.e2_mean, 4)} +- {fmt(r.e2_mean_se, 2)} | "
            f"{fmt(r.theory_variance, 4)} | {fmt(r.deviation_se, 3)} | {_alpha(r.theory_alpha)} | "
            f"{r.largest_share:.3f} | {fmt(r.abs_error_median, 3)} [{fmt(r.abs_error_median_lo, 3)}, "
            f"{fmt(r.abs_error_median_hi, 3)}] | {_pct(rr, 'noise_floor')} | {_pct(rr, 'within_floor')} |")
    on_b = bl[bl["order"] == "online"]
    low_nf = on_b.loc[on_b["noise_floor_rate"].idxmin()] if len(on_b) else None
    min_within = bl.loc[bl["within_floor_rate"].idxmin()] if len(bl) else None
    k_conv = int(s["n_converged"].sum())
    n_all = int(s["n"].sum())
    above_on = ab[ab["order"] == "online"]
    ab_first_on = above_on.loc[above_on["lr"].idxmin()] if len(above_on) else None
    ab_lr = {o: sorted(ab.loc[ab["order"] == o, "lr"]) for o in below}
    share_big = above_on[above_on["largest_share"] > 0.5]
    body = [
        "With noise the error e = theta - theta_ref obeys e <- (1 - 2 lr x^2) e + 2 lr x r (r the residual "
        "of the sample at the reference fit). The iterates do not converge to a point but *in "
        "distribution*: below the almost-sure threshold (E log|1 - 2 lr X^2| < 0) e has a stationary "
        "law. Its variance is the fixed point of the mean-square recursion, finite only below the "
        "mean-square threshold (E (1 - 2 lr X^2)^2 < 1):\n",
        f"- **fresh samples** (order online, x ~ N(0, {x_scale:g}^2), noise sd {noise:g}): "
        f"v = lr sigma^2 / (1 - 3 lr s^2), finite for lr < 1/(3 s^2) = {ms:.4g}; the stationary law "
        f"exists up to the almost-sure threshold {a_s:.4g} (`theory.population_stationary_mse`, "
        "`theory.as_threshold`). Exact in expectation over the random streams.",
        f"- **sampling with replacement from one dataset** (n = {n}, dataset seed {opts.seed + 1}): "
        "v = lr mean(x^2 r^2) / (mean(x^2) - lr mean(x^4)), finite for lr < mean(x^2)/mean(x^4) = "
        f"{ms_ds:.4g}; the stationary law exists up to the dataset's critical lr {as_ds:.4g} "
        "(`theory.dataset_stationary_mse`, `theory.critical_lr`). Exact for this dataset.\n",
        f"Each point is {len(seeds):,} runs (seeds {seeds[0]}-{seeds[-1]}: the online streams and the "
        f"replacement index streams) of {steps:,} steps from theta0 = {theta0:g}; the bound is "
        f"{cfg.diverge_factor:g} times the scale (the largest float's quarter) so that no heavy-tailed "
        "excursion is cut off as diverged. The simulated E e^2 is the mean over runs of "
        "rms_error_last_epoch^2 (each run's mean of e^2 over its last epoch) with its standard error. "
        "Between the two thresholds e^2 has infinite mean; and where the tail index alpha is at most "
        f"4 (fresh samples: lr >= {a4:.4g}; this dataset with replacement: lr >= {a4_ds:.4g}) "
        "e^2 already has infinite variance, so the "
        "central limit theorem fails and a standard error is no yardstick (open markers in the "
        "figure; `se_valid` in summary.csv). `largest_share` is the share of the largest run in the "
        "sum of e^2. Tail index: `theory.tail_index` (online), `theory.tail_index_dataset` "
        "(replacement; inf where every |1 - 2 lr x_i^2| <= 1: the law is bounded).\n",
        "| order | lr | E e^2 simulated +- SE | closed form v | deviation (SE) | tail index alpha | "
        "largest share | median abs(e) [95 %] | noise_floor status [95 %] | RMS <= "
        f"{nf:g} sqrt(v) [95 %] |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *lines,
        "",
        "**Mean square.** Where e^2 has finite variance (alpha > 4) the simulation agrees with the closed "
        f"forms: the largest deviation is {fmt(worst['online'], 3)} standard errors over "
        f"{len(dev['online'])} learning rates with fresh samples and {fmt(worst['replacement'], 3)} over "
        f"{len(dev['replacement'])} with replacement. Closer to the threshold the sample mean falls "
        "short of v and its standard error understates the shortfall"
        + (f" ({short.order} lr {short.lr:.3g}: {fmt(short.e2_mean, 4)} +- {fmt(short.e2_mean_se, 2)} "
           f"against v = {fmt(short.theory_variance, 4)}, {short.deviation_se:.1f} standard errors)"
           if short is not None else "")
        + f": the mean of {len(seeds):,} draws of a variable with tail index alpha/2 < 2 is dominated by its "
        "few largest draws. v itself tends "
        f"to infinity as lr -> {ms:.4g} (online) and {ms_ds:.4g} (replacement). Above the threshold "
        "E e^2 is infinite: the sample mean of the runs is set by its largest run"
        + (f" (largest share above 0.5 from lr {share_big['lr'].min():.3g} on, online)"
           if len(share_big) else "")
        + " and grows with the number of runs; it estimates nothing.\n",
        "**Typical error.** The median |e| has no such break: "
        + ", ".join(f"{r.abs_error_median:.3g} [{r.abs_error_median_lo:.3g}, {r.abs_error_median_hi:.3g}] "
                    f"at lr {r.lr:.3g}" for r in _pick(s[s["order"] == "online"], ms).itertuples())
        + " (online): it grows smoothly through the mean-square threshold and only explodes towards the "
        "almost-sure threshold, where the stationary law ceases to exist.\n",
        "**The noise_floor status.** A run is at its noise floor when the RMS of e over its last epoch "
        f"is at most noise_factor = {nf:g} times sqrt(v), v computed from the run's own data "
        "(the dataset's moments; for online the moments of its own stream, `noise_rms`). Below the "
        "mean-square threshold the rule with the closed-form v holds for at least "
        + (f"{_pct(min_within, 'within_floor')} of the runs (lowest at {min_within.order} lr "
           f"{min_within.lr:.3g})" if min_within is not None else "nan")
        + "; the status itself agrees with it for sampling with replacement (the same v) but, for "
        "fresh samples near 1/(3 s^2), each stream's estimate mean(x^2) - lr mean(x^4) of the "
        "denominator is negative for a growing share of streams, which then have no finite floor: "
        + (f"the status rate falls to {_pct(low_nf, 'noise_floor')} at lr {low_nf.lr:.3g}"
           if low_nf is not None else "")
        + ". Above the threshold v is infinite: no run is within a finite floor of the closed form, and "
        "the status finds one only for fresh-sample streams whose own moments still put them below it"
        + (f" ({_pct(ab_first_on, 'noise_floor')} at lr {ab_first_on.lr:.3g})" if ab_first_on is not None
           else "")
        + ". The other runs are labelled oscillating or growing, which only says whether |e| fell or "
        "rose over the last epoch, as a stationary run does about half of the time: "
        + "; ".join(f"{r.order} lr {r.lr:.3g}: oscillating {_pct(s.loc[r.Index], 'oscillating')}, "
                    f"growing {_pct(s.loc[r.Index], 'growing')}"
                    for r in ab.itertuples() if r.lr in (ab_lr[r.order][0], ab_lr[r.order][-1]))
        + ". Both are censored: the budget does not decide anything for a run that converges in "
        "distribution; its median and quantiles (and the tail index, study heavy-tails) describe "
        f"it. Converged (|e| within tol = {cfg.tol:g} of |e_0| over the whole last epoch) is "
        f"meaningless here: {k_conv} of {n_all:,} runs"
        + (f" (below about {3 / n_all:.1g})" if k_conv == 0 else "") + ".\n",
        "Censored: the oscillating and growing runs (`censored_rate` in summary.csv, with its "
        "interval). No run left the bound at any lr of the grid."
        if int(s["n_diverged"].sum()) == 0 else
        f"Censored: the oscillating and growing runs (`censored_rate`); {int(s['n_diverged'].sum())} runs "
        "left the bound and are left out of the means.",
    ]
    online_lo = bl[bl["order"] == "online"]
    if len(online_lo):
        w = online_lo.loc[online_lo["within_floor_rate"].idxmin()]
        st = online_lo.loc[online_lo["noise_floor_rate"].idxmin()]
        floor = (f"at every lr below it at least {_pct(w, 'within_floor')} of the runs are within {nf:g} "
                 f"sqrt(v) of the solution over their last epoch ({_pct(st, 'noise_floor')} with the "
                 f"status noise_floor, lowest at lr {st.lr:.3g})")
    else:
        floor = "no lr of the grid lies below it"
    answer = (
        f"With fresh samples the simulated E e^2 matches lr sigma^2 / (1 - 3 lr s^2) below the mean-square "
        f"threshold lr = {ms:.4g} (largest deviation {fmt(worst['online'], 2)} standard errors where e^2 has "
        f"finite variance) and {floor}; above it E e^2 is infinite while the median |e| stays finite up to "
        f"the almost-sure threshold {a_s:.4g}."
    )
    headline = (f"noise-floor: E e^2 within {fmt(worst['online'], 2)} SE of lr sigma^2/(1 - 3 lr s^2) "
                f"(online, alpha > 4), {fmt(worst['replacement'], 2)} SE of the dataset formula; infinite "
                f"above lr {ms:.4g}")
    return Output(summary, figures, "\n".join(body) + "\n", headline, answer=answer)


STUDY = Study(
    name="noise-floor",
    question=("With noisy data, where does the mean square error E e^2 of per-sample SGD stop existing "
              "while the typical run still converges in distribution, and how many runs sit at their "
              "noise floor?"),
    declare=declare,
    analyse=analyse,
    axes={"lr": ANY, "seed": ANY, "theta0": Axis(multi=False),
          "n_samples": SINGLE_DATA, "x_scale": SINGLE_DATA, "noise": SINGLE_DATA},
    refused={
        "order": "the study sweeps the order itself: fresh samples (online) and one dataset with replacement",
        **{a: "the closed forms are for Gaussian samples without outliers" for a in (
            "outlier_kind", "outlier_frac", "outlier_scale")},
    },
    figures=("mean_square_vs_median", "statuses"),
)
