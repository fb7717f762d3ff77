"""Study ``momentum``: the stability region of heavy ball and Nesterov in (lr, beta) against theory.

Noise-free, the error and the scaled velocity obey a random linear recursion
``(e, w) <- T(X_t) (e, w)`` (:mod:`lrsweep.theory.momentum`). Two notions of
stability part ways:

* **mean square** (``E e_t^2 -> 0``): the spectral radius of the 3 x 3
  second-moment recursion below 1, the closed-form region ``lr <
  momentum_ms_threshold(beta)``;
* **almost sure** (``e_t -> 0`` for almost every stream): the top Lyapunov
  exponent of the random product below 0, estimated by seeded Monte Carlo
  (``momentum_lyapunov_exponent``); its zero in lr is the boundary a typical
  run sees.

The study sweeps (lr, beta) for both methods with fresh samples (``online``)
and reads off, per beta, the lr where half of the runs' errors grew over the
run, against the Lyapunov zero and the mean-square threshold; and, with a
fixed sample order over small datasets, compares each run's verdict with the
exact per-dataset growth ``momentum_epoch_growth`` (the log spectral radius of
the epoch product).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .common import THEORY_SEED, add_median, add_rate, crossing, datasets, fmt
from .common import rate_interval as _pct
from .spec import ANY, SINGLE, Axis, Options, Output, Study, SweepSpec

if TYPE_CHECKING:
    import pandas as pd

    from ..config import SweepConfig
    from ..results import Results

BY = ["nesterov", "momentum", "lr"]
#: The momentum grid (denser towards 1, where the region shrinks fastest).
BETAS = (0.0, 0.25, 0.5, 0.7, 0.8, 0.9, 0.95)
QUICK_BETAS = (0.0, 0.5, 0.9)
#: Start at |e_0| = 1e-30 on y = 0 x (theta_ref = 0, so e = theta): float64 resolves log|e| from
#: e_0 down to the subnormals (about -675 in log units) and up to the bound (+576), a window that holds
#: every run near the boundary (log|e_T/e_0| spreads by about 80 over 4000 steps).
E0 = 1e-30
#: Monte Carlo of the Lyapunov exponent: (coarse bracket, refined) (steps, chains) per point.
LYAPUNOV = {False: ((2000, 48), (20000, 128)), True: ((400, 16), (3000, 32))}


def _method(nesterov: object) -> str:
    return "Nesterov" if bool(nesterov) else "heavy ball"


def declare(opts: Options) -> dict[str, SweepSpec]:
    q = opts.quick
    common = dict(momentum=list(QUICK_BETAS if q else BETAS), nesterov=[False, True], coef=0.0, theta0=E0,
                  diverge_factor=1e250, sign_floor=0.0,
                  lr=np.round(np.geomspace(0.01, 2.5, 24 if q else 64), 5))
    online = opts.config(**common, order="online", n_samples=200 if q else 1000, epochs=3 if q else 4,
                         seed=range(40 if q else 300))
    fixed = opts.config(**common, order="fixed", n_samples=20 if q else 50, epochs=40 if q else 100,
                        seed=range(20 if q else 100))
    return {"online": SweepSpec(online), "fixed": SweepSpec(fixed)}


def _log_growth(res: Results) -> np.ndarray:
    """``log|e_T / e_0|`` per run, clipped to what float64 can measure (diverged: the bound's value)."""
    f, cfg = res.frame, res.config
    e0 = np.abs(f["theta0"].to_numpy(dtype=float) - f["theta_ref"].to_numpy(dtype=float))
    with np.errstate(divide="ignore"):
        g = np.log(f["abs_error_final"].to_numpy(dtype=float)) - np.log(e0)
    bound = np.log(np.minimum(cfg.diverge_factor * e0, np.finfo(np.float64).max / 4)) - np.log(e0)
    floor = np.log(np.finfo(np.float64).smallest_subnormal) - np.log(e0)
    g = np.where(f["status"].astype(str).to_numpy() == "diverged", bound, g)
    return np.clip(np.nan_to_num(g, nan=floor, neginf=floor), floor, bound)


def _cells(res: Results) -> pd.DataFrame:
    """Per (method, beta, lr): runs, the fraction whose error grew (Wilson 95 %), the median growth."""
    from .. import theory

    f = res.frame
    g = _log_growth(res)
    s = res.summary(by=BY)
    add_rate(s, f, g > 0, BY, "grew")
    add_median(s, f, g, BY, "log_growth")
    cfg = res.config
    (x_scale,), (b,) = cfg.axes["x_scale"], cfg.axes["batch_size"]
    s["method"] = [_method(v) for v in s["nesterov"]]
    for nest in (False, True):
        m = s["nesterov"].to_numpy(dtype=bool) == nest
        beta, lr = s.loc[m, "momentum"].to_numpy(float), s.loc[m, "lr"].to_numpy(float)
        s.loc[m, "ms_threshold"] = theory.momentum_ms_threshold(beta, b, nest, x_scale)
        s.loc[m, "ms_log_radius"] = np.log(theory.momentum_ms_radius(lr, beta, b, nest, x_scale))
    return s


def _lyapunov_zero(betas: np.ndarray, nest: bool, cfg: SweepConfig, quick: bool) -> pd.DataFrame:
    """Per beta: the lr where the Monte Carlo Lyapunov exponent crosses 0, with its 95 % interval.

    A coarse pass on lr from the mean-square threshold (below which the exponent is negative: the
    almost-sure region contains the mean-square one) up to 12 times it brackets the sign change; a
    refined pass (more steps and chains, common random numbers across its 7 learning rates) finds the
    zero of the estimate and of the estimate +- 1.96 standard errors by log-linear interpolation.
    """
    import pandas as pd

    from .. import theory
    from ..intervals import Z95

    (x_scale,), (b,) = cfg.axes["x_scale"], cfg.axes["batch_size"]
    (s1, c1), (s2, c2) = LYAPUNOV[quick]
    ms = np.asarray(theory.momentum_ms_threshold(betas, b, nest, x_scale), dtype=float)
    coarse = ms[:, None] * np.geomspace(1.0, 12.0, 40)[None, :]
    est = theory.momentum_lyapunov_exponent(coarse, betas[:, None], b, nest, x_scale, n_steps=s1, n_chains=c1,
                                            rng=THEORY_SEED).exponent
    rows = []
    lo_b, hi_b = np.full(len(betas), np.nan), np.full(len(betas), np.nan)
    for i in range(len(betas)):
        up = np.nonzero(est[i] > 0)[0]
        if len(up) and up[0] > 0:
            lo_b[i], hi_b[i] = coarse[i, up[0] - 1] / 1.06, coarse[i, up[0]] * 1.06
    ok = np.isfinite(lo_b)
    fine = np.full((len(betas), 7), 1.0)
    fine[ok] = np.geomspace(lo_b[ok], hi_b[ok], 7, axis=-1)
    L = theory.momentum_lyapunov_exponent(fine, betas[:, None], b, nest, x_scale, n_steps=s2, n_chains=c2,
                                          rng=THEORY_SEED + 1)
    for i, beta in enumerate(betas):
        lr, e, se = fine[i], L.exponent[i], L.standard_error[i]
        zero = crossing(lr, e, 0.0) if ok[i] else np.nan
        lo = crossing(lr, e + Z95 * se, 0.0) if ok[i] else np.nan
        hi = crossing(lr, e - Z95 * se, 0.0) if ok[i] else np.nan
        if ok[i] and (e - Z95 * se)[-1] <= 0:
            hi = np.nan  # the band did not cross within the refined bracket
        rows.append({"nesterov": nest, "momentum": float(beta), "ms_threshold": float(ms[i]),
                     "as_theory": zero, "as_theory_lo": lo, "as_theory_hi": hi,
                     "lyapunov_steps": s2, "lyapunov_chains": c2})
    return pd.DataFrame(rows)


def _critical(cells: pd.DataFrame, cfg: SweepConfig, quick: bool) -> pd.DataFrame:
    """Per (method, beta): simulated boundary (median log|e_T/e_0| = 0) against the Lyapunov zero."""
    import pandas as pd

    from ..intervals import Z95

    parts = []
    for nest in (False, True):
        part = cells[cells["nesterov"].to_numpy(dtype=bool) == nest]
        if part.empty:
            continue
        betas = np.sort(part["momentum"].unique())
        th = _lyapunov_zero(betas, nest, cfg, quick)
        sims = []
        for beta in betas:
            g = part[part["momentum"] == beta].sort_values("lr")
            lr = g["lr"].to_numpy(float)
            # Half of the runs grew where the median of log|e_T/e_0| crosses 0; its 95 % interval is where
            # the median's order-statistic interval does.
            sims.append({"sim": crossing(lr, g["log_growth_median"].to_numpy(float), 0.0),
                         "sim_lo": crossing(lr, g["log_growth_median_hi"].to_numpy(float), 0.0),
                         "sim_hi": crossing(lr, g["log_growth_median_lo"].to_numpy(float), 0.0),
                         "grid_lo": float(lr.min()), "grid_hi": float(lr.max())})
        parts.append(pd.concat([th, pd.DataFrame(sims)], axis=1))
    t = pd.concat(parts, ignore_index=True)
    # A crossing at the grid's first lr is censored (the boundary may lie below the grid).
    for c in ("sim", "sim_lo", "sim_hi"):
        t.loc[t[c] <= t["grid_lo"], c] = np.nan
    t["method"] = [_method(v) for v in t["nesterov"]]
    se = np.hypot((t["sim_hi"] - t["sim_lo"]) / (2 * Z95),
                  (t["as_theory_hi"] - t["as_theory_lo"]) / (2 * Z95))
    t["z"] = (t["sim"] - t["as_theory"]) / se
    t["as_over_ms"] = t["as_theory"] / t["ms_threshold"]
    t["sim_over_ms"] = t["sim"] / t["ms_threshold"]
    cols = ["method", "nesterov", "momentum", "ms_threshold", "as_theory", "as_theory_lo", "as_theory_hi",
            "sim", "sim_lo", "sim_hi", "z", "as_over_ms", "sim_over_ms", "grid_lo", "grid_hi",
            "lyapunov_steps", "lyapunov_chains"]
    return t[cols]


def _fixed(res: Results) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fixed order: each run's simulated verdict against its dataset's exact ``momentum_epoch_growth > 0``."""
    import pandas as pd

    from .. import theory

    f, cfg = res.frame, res.config
    (n,), (b,) = cfg.axes["n_samples"], cfg.axes["batch_size"]
    seeds = np.sort(np.asarray(cfg.axes["seed"]))
    X = np.stack([d.x for d in datasets(cfg, seeds, n_samples=n)])
    lrs = np.sort(np.asarray(cfg.axes["lr"], dtype=float))
    rho = np.full(len(f), np.nan)
    nest_col, beta_col = f["nesterov"].to_numpy(dtype=bool), f["momentum"].to_numpy(float)
    for nest in np.unique(nest_col):
        for beta in np.unique(beta_col):
            rows = np.flatnonzero((nest_col == nest) & (beta_col == beta))
            g = np.asarray(theory.momentum_epoch_growth(X, lrs, float(beta), int(b), bool(nest)), dtype=float)
            g = g.reshape(len(seeds), len(lrs))
            sub = f.iloc[rows]
            rho[rows] = g[np.searchsorted(seeds, sub["seed"].to_numpy()),
                          np.searchsorted(lrs, sub["lr"].to_numpy())]
    grew = _log_growth(res) > 0
    exact = rho > 0
    by = ["nesterov", "momentum"]
    s = res.summary(by=by)
    add_rate(s, f, exact, by, "exact_unstable")
    add_rate(s, f, grew, by, "grew")
    add_rate(s, f, grew == exact, by, "agree")
    margin = np.abs(cfg.epochs * rho)
    mism = grew != exact
    worst = pd.Series(np.where(mism, margin, np.nan)).groupby([f[c].to_numpy() for c in by]).max()
    s["mismatch_max_margin"] = worst.reindex(pd.MultiIndex.from_frame(s[by])).to_numpy()
    s["method"] = [_method(v) for v in s["nesterov"]]
    runs = f[["seed", "nesterov", "momentum", "lr", "status"]].assign(
        log_rho=rho, log_growth=_log_growth(res), grew=grew, exact_unstable=exact)
    return s, runs


def _boundary_curves(crit: pd.DataFrame, cfg: SweepConfig) -> pd.DataFrame:
    """Theory lines for the figures: the mean-square threshold on a fine beta grid, the Lyapunov zeros."""
    import pandas as pd

    from .. import theory

    (x_scale,), (b,) = cfg.axes["x_scale"], cfg.axes["batch_size"]
    parts = []
    for nest in sorted(crit["nesterov"].unique()):
        c = crit[crit["nesterov"] == nest]
        top = float(c["momentum"].max())
        fine = np.linspace(float(c["momentum"].min()), top, 120) if len(c) > 1 else np.array([top])
        ms = np.asarray(theory.momentum_ms_threshold(fine, b, bool(nest), x_scale), dtype=float)
        parts.append(pd.DataFrame({"method": _method(nest), "curve": "mean-square boundary (exact)",
                                   "momentum": fine, "lr": ms, "lr_lo": ms, "lr_hi": ms}))
        parts.append(pd.DataFrame({"method": _method(nest), "curve": "almost-sure boundary (Lyapunov zero)",
                                   "momentum": c["momentum"].to_numpy(), "lr": c["as_theory"].to_numpy(),
                                   "lr_lo": c["as_theory_lo"].to_numpy(),
                                   "lr_hi": c["as_theory_hi"].to_numpy()}))
    return pd.concat(parts, ignore_index=True)


def analyse(runs: dict[str, Results], opts: Options) -> Output:
    from .. import plots

    on, fx = runs["online"], runs["fixed"]
    cfg = on.config
    cells = _cells(on)
    crit = _critical(cells, cfg, opts.quick)
    fixed, _ = _fixed(fx)
    curves = _boundary_curves(crit, cfg)
    (n,), (b,), (x_scale,) = cfg.axes["n_samples"], cfg.axes["batch_size"], cfg.axes["x_scale"]
    steps = cfg.epochs * -(-n // b)
    seeds = len(cfg.axes["seed"])
    fig_region = plots.stability_region(
        cells.assign(method=cells["method"]), rate="grew", panel="method", critical=crit.rename(columns={
            "sim": "lr", "sim_lo": "lr_lo", "sim_hi": "lr_hi"}), curves=curves,
        rate_label="fraction of runs whose |e| grew over the run",
        title=("Typical runs converge far beyond the mean-square boundary: the error of half the runs grows "
               "only at the almost-sure boundary\n"
               f"fresh samples x ~ N(0, {x_scale:g}^2), batch {b}, {seeds:,} runs of {steps:,} steps per "
               "cell"))
    fig_crit = plots.critical_lr_vs_momentum(
        crit.rename(columns={"sim": "lr", "sim_lo": "lr_lo", "sim_hi": "lr_hi"}), curves=curves, hue="method",
        deviation="z", deviation_label="simulation - Lyapunov zero\n(standard errors)",
        title=("Where half of the runs grow (points) is the Lyapunov zero (solid),\nfar above the "
               f"mean-square threshold (dashed); {seeds:,} runs per lr, 95 % bars and bands"))
    figures = {"stability_region": fig_region, "critical_lr": fig_crit}
    return _report(cells, crit, fixed, figures, on, fx, opts)


def _report(cells: pd.DataFrame, crit: pd.DataFrame, fixed: pd.DataFrame, figures: dict, on: Results,
            fx: Results, opts: Options) -> Output:
    cfg, fcfg = on.config, fx.config
    (n,), (b,), (x_scale,) = cfg.axes["n_samples"], cfg.axes["batch_size"], cfg.axes["x_scale"]
    (fn,) = fcfg.axes["n_samples"]
    steps = cfg.epochs * -(-n // b)
    seeds = cfg.axes["seed"]
    fseeds = fcfg.axes["seed"]
    (s1, c1), (s2, c2) = LYAPUNOV[opts.quick]
    lines = []
    for r in crit.itertuples():
        lines.append(
            f"| {r.method} | {r.momentum:g} | {fmt(r.ms_threshold)} | {fmt(r.as_theory)} | "
            f"[{fmt(r.as_theory_lo)}, {fmt(r.as_theory_hi)}] | {fmt(r.sim)} | "
            f"[{fmt(r.sim_lo)}, {fmt(r.sim_hi)}] "
            f"| {fmt(r.z, 3)} | {fmt(r.as_over_ms, 3)} |")
    z = crit["z"].to_numpy(float)
    zf = z[np.isfinite(z)]
    ratio = crit["as_over_ms"].to_numpy(float)
    rf = ratio[np.isfinite(ratio)]
    # Twice the mean-square threshold (the first grid lr at or above it, below the Lyapunov zero): E e^2
    # grows there by exp(T log rho(M)), yet the runs shrink.
    from ..intervals import wilson_interval

    twice = []
    for r in crit.itertuples():
        g = cells[(cells["method"] == r.method) & (cells["momentum"] == r.momentum)
                  & (cells["lr"] >= 2 * r.ms_threshold)].sort_values("lr")
        if len(g) and np.isfinite(r.as_theory) and float(g["lr"].iloc[0]) < r.as_theory:
            twice.append(g.iloc[0])
    k_b = int(sum(int(c["n_grew"]) for c in twice))
    n_b = int(sum(int(c["n"]) for c in twice))
    bet_lo, bet_hi = wilson_interval(k_b, n_b) if n_b else (np.nan, np.nan)
    growth = min((steps * float(c["ms_log_radius"]) for c in twice), default=np.nan)
    fx_lines = []
    for r in fixed.itertuples():
        rr = fixed.loc[r.Index]
        fx_lines.append(
            f"| {r.method} | {r.momentum:g} | {int(r.n):,} | {int(r.n_exact_unstable):,} | "
            f"{int(r.n_grew):,} | "
            f"{int(r.n_agree):,} | {_pct(rr, 'agree')} | {fmt(r.mismatch_max_margin, 3)} |")
    n_fx, k_fx = int(fixed["n"].sum()), int(fixed["n_agree"].sum())
    fx_lo, fx_hi = wilson_interval(k_fx, n_fx)
    has_mismatch = fixed["mismatch_max_margin"].notna().any()
    worst_margin = float(np.nanmax(fixed["mismatch_max_margin"])) if has_mismatch else float("nan")
    censored_sim = int(crit["sim"].isna().sum())
    censored_th = int(crit["as_theory"].isna().sum())
    n_div = int(cells["n_diverged"].sum())
    cen = int(cells["n_censored"].sum())
    total = int(cells["n"].sum())
    body = [
        f"Setup: noise-free y = {cfg.coef:g} x, x ~ N(0, {x_scale:g}^2), batch size {b}, PyTorch's SGD "
        "momentum (heavy ball: v <- beta v + g, theta <- theta - lr v; Nesterov: theta <- theta - lr (g + "
        "beta v); v_0 = 0). The error e = theta - theta_ref and the velocity follow a random *linear* "
        "recursion, so whether |e| grows does not depend on e_0 or on the true slope: the runs fit y = 0 "
        f"from theta0 = {E0:g} (theta_ref = 0, e = theta), which keeps log|e| resolvable by float64 over "
        f"the whole run (from about -675 to +{np.log(cfg.diverge_factor):.0f} in log units; "
        f"bound {cfg.diverge_factor:g} |e_0|, rounding floor {cfg.sign_floor:g}).\n",
        "**Fresh samples** (order online): "
        f"{len(cfg.axes['lr'])} learning rates from {min(cfg.axes['lr']):g} to {max(cfg.axes['lr']):g} "
        f"(geometric) x beta in {{{', '.join(f'{v:g}' for v in cfg.axes['momentum'])}}} x both methods, "
        f"{len(seeds):,} runs per cell (streams of seeds {seeds[0]}-{seeds[-1]}, shared by every cell), "
        f"{steps:,} steps each ({cfg.epochs} epochs of {-(-n // b)} steps).\n",
        "Which notion each number uses:\n",
        "- **grew** (simulated, per run; the colour of the first figure, `grew_rate` with its Wilson 95 % "
        "interval in summary.csv): |e_T| > |e_0| at the end of the run, or the run left the bound "
        "(diverged). This is the sign of the run's finite-time Lyapunov exponent log|e_T/e_0| / T, "
        "which uses all T steps (the status's growth_rate uses only the last epoch).",
        "- **simulated boundary** (critical_lr.csv `sim`): per beta, the lr where the median of log|e_T/e_0| "
        "over the runs crosses 0, i.e. where half of the runs grew (log-linear interpolation between grid "
        "points); its 95 % interval is where the median's order-statistic interval crosses 0.",
        "- **mean-square boundary** (exact population theory, `theory.momentum_ms_threshold`): E e_t^2 -> 0 "
        "iff lr is below it (spectral radius of the 3 x 3 second-moment recursion < 1; `ms_log_radius` in "
        "summary.csv is its log per step at each cell).",
        "- **almost-sure boundary** (population theory, *estimated*: `theory.momentum_lyapunov_exponent`): "
        "the lr where the top Lyapunov exponent of the random 2 x 2 product crosses 0. A coarse pass "
        f"({s1:,} steps x {c1} chains, 40 learning rates from the mean-square threshold to 12 times it, "
        f"seed {THEORY_SEED}) brackets the sign change; a refined pass ({s2:,} steps x {c2} chains, 7 "
        f"learning rates around it with common random numbers, seed {THEORY_SEED + 1}) gives the zero and, "
        "where the exponent +- 1.96 standard errors crosses 0, its 95 % interval. The standard error does "
        f"not include the O(1/{s2:,}) bias of a finite product.\n",
        "| method | beta | mean-square boundary (exact) | almost-sure boundary (Lyapunov zero) | 95 % | "
        "simulated boundary (half grew) | 95 % | deviation (standard errors) | almost-sure / mean-square |",
        "|---|---|---|---|---|---|---|---|---|",
        *lines,
        "",
        "The deviation is (simulated - Lyapunov zero) / sqrt(se_sim^2 + se_theory^2), each standard error "
        "read off its 95 % interval (width / 3.92). "
        + (f"Over the {len(zf)} (method, beta) pairs |z| is at most {np.max(np.abs(zf)):.2f} "
           f"({int((np.abs(zf) > 2).sum())} above 2, where about {0.0455 * len(zf):.1f} would be by chance). "
           if len(zf) else "No pair has both a simulated and a theoretical boundary inside the grid. ")
        + "The simulated boundary is a finite-time one: at the Lyapunov zero log|e_T/e_0| is a driftless "
        "sum of T skewed terms whose median differs from its mean by O(1) in log units, a shift of O(1/T) "
        "in the exponent, far below the resolution here.\n",
        "**Mean square against almost sure.** "
        + (f"The almost-sure boundary lies {np.min(rf):.2f} to {np.max(rf):.2f} times above the mean-square "
           "one" if len(rf) else "The almost-sure boundary lies above the mean-square one")
        + ": between them E e^2 grows without bound (a few rare streams grow enormously) while the typical "
        "run converges. "
        + (f"At the first grid lr at or above twice the mean-square threshold (below the Lyapunov zero), "
           f"{len(twice)} (method, beta) cells, E e^2 grows over the run by a factor of at least "
           f"e^{growth:.0f} (exact: T log rho(M)), yet {k_b} of {n_b:,} runs grew "
           f"({percent_or_nan(k_b, n_b, bet_lo, bet_hi)}"
           + (f"; below about {100 * 3 / n_b:.2g} %)" if k_b == 0 else ")")
           if n_b else "No cell of the grid lies between twice the mean-square threshold and the Lyapunov "
           "zero")
        + ". " + _scaling(crit) + "\n",
        f"**Fixed order per dataset** ({len(fseeds):,} datasets of n = {fn} "
        f"(seeds {fseeds[0]}-{fseeds[-1]}), "
        f"the same lr x beta x method grid, {fcfg.epochs} epochs): each epoch multiplies the state by the "
        "same 2 x 2 matrix P, so the error grows over repeated epochs iff log rho(P) > 0 "
        "(`theory.momentum_epoch_growth`, exact per dataset). The simulated verdict is *grew* as above "
        f"(|e| after {fcfg.epochs} epochs above |e_0|); `margin` = epochs x |log rho(P)| is how far the "
        "run is from the boundary in log units.\n",
        "| method | beta | runs | exact: log rho(P) > 0 | simulated: grew | agree | agreement [95 %] | "
        "largest margin of a disagreement |",
        "|---|---|---|---|---|---|---|---|",
        *fx_lines,
        "",
        f"The verdicts agree in {k_fx:,} of {n_fx:,} runs ({100 * k_fx / n_fx:.3f} % [{100 * fx_lo:.3f}, "
        f"{100 * fx_hi:.3f}])"
        + (f"; every disagreement has a margin of at most {worst_margin:.3g} in log units: after "
           f"{fcfg.epochs} epochs log|e_T/e_0| = epochs log rho(P) + O(1) (the start's component along the "
           "dominant eigenvector, and a bounded oscillation when the eigenvalues are complex), so runs that "
           "close to the boundary are not decided by the budget (censored), not wrong."
           if np.isfinite(worst_margin) else ": the exact per-dataset theory decides every run.") + "\n",
        f"Censored: {cen:,} of {total:,} fresh-sample runs ({cen / total:.1%}) ended with a censored status "
        f"(slow, oscillating or growing) and {n_div:,} left the bound; the *grew* verdict decides every run "
        "from its final error. "
        + (f"{censored_sim} simulated boundaries lie outside the lr grid (NaN in critical_lr.csv). "
           if censored_sim else "Every simulated boundary lies inside the lr grid. ")
        + (f"{censored_th} Lyapunov zeros were not bracketed (NaN). " if censored_th else "")
        + "Not covered: noise (the stationary error of the noise-floor study), schedules and outliers.\n",
    ]
    hb = crit[(~crit["nesterov"]) & np.isfinite(crit["sim"])]
    pick = hb.loc[hb["momentum"].idxmax()] if len(hb) else None
    zero = crit[crit["momentum"] == 0]
    z0 = zero.iloc[0] if len(zero) else None
    answer = (
        "Typical runs converge far beyond the mean-square region: "
        + (f"the almost-sure boundary lies {np.min(rf):.2f} to {np.max(rf):.2f} times above the mean-square "
           "threshold" if len(rf) else "the almost-sure boundary lies above the mean-square threshold")
        + (f" (beta = 0: half of the runs grow at lr {fmt(z0.sim)} [{fmt(z0.sim_lo)}, {fmt(z0.sim_hi)}] "
           f"against the mean-square {fmt(z0.ms_threshold)})" if z0 is not None else "")
        + (f"; heavy ball at beta = {pick.momentum:g}: {fmt(pick.sim)} [{fmt(pick.sim_lo)}, "
           f"{fmt(pick.sim_hi)}] against {fmt(pick.ms_threshold)}" if pick is not None else "")
        + (f", and the simulated boundary matches the Lyapunov zero within {np.max(np.abs(zf)):.2f} standard "
           "errors" if len(zf) else "")
        + "."
    )
    headline = (f"momentum: almost-sure / mean-square boundary {np.min(rf):.2f}-{np.max(rf):.2f}; sim vs "
                f"Lyapunov max |z| {np.max(np.abs(zf)):.2f}; fixed order agreement {k_fx}/{n_fx}"
                if len(rf) and len(zf) else "momentum: boundaries outside the grid")
    return Output(cells, figures, "\n".join(body) + "\n", headline,
                  tables={"critical_lr": crit, "fixed_order": fixed}, answer=answer)


def _scaling(crit: pd.DataFrame) -> str:
    """How each almost-sure boundary scales with 1 - beta: least-squares slope of log lr on log(1 - beta)."""
    parts = []
    for method, g in crit.groupby("method", sort=False):
        g = g[np.isfinite(g["as_theory"])]
        if len(g) < 3:
            continue
        k = np.polyfit(np.log1p(-g["momentum"].to_numpy(float)), np.log(g["as_theory"].to_numpy(float)), 1)[0]
        parts.append(f"{method}'s almost-sure boundary scales like (1 - beta)^{k:.2f}")
    if not parts:
        return ""
    return ("Over the betas that ran, " + " and ".join(parts) + " (least-squares slope of log lr on "
            "log(1 - beta)); heavy ball's mean-square threshold is (1 - beta^2) / ((3 + beta) s^2) at batch "
            "size 1, also about proportional to 1 - beta. Nesterov keeps a much larger almost-sure region at "
            "high momentum: its step matrix has determinant beta (1 - X), which damps the large draws of X.")


def percent_or_nan(k: int, n: int, lo: float, hi: float) -> str:
    """``k/n`` with its interval in percent."""
    return f"{100 * k / n:.1f} % [{100 * lo:.1f}, {100 * hi:.1f}]" if n else "nan"


STUDY = Study(
    name="momentum",
    question=("Where in (lr, beta) do heavy-ball and Nesterov SGD converge, and how far apart are the "
              "mean-square and the almost-sure stability boundaries?"),
    declare=declare,
    analyse=analyse,
    axes={"lr": ANY, "seed": ANY, "momentum": ANY, "nesterov": ANY,
          "n_samples": Axis(multi=False, why="the epoch length of the online runs and the dataset size of "
                                             "the fixed-order runs"),
          "batch_size": Axis(multi=False, why="every theory line is drawn for one batch size"),
          "x_scale": SINGLE},
    refused={
        "order": "the study sweeps the order itself: fresh samples (online) against the population theory, "
                 "fixed order against the exact per-dataset theory",
        "noise": "the stability boundaries are those of the noise-free linear recursion; with noise the "
                 "error converges in distribution (study noise-floor)",
        "theta0": "the recursion is linear, so e_0 changes nothing; the study starts at |e_0| = 1e-30 on "
                  "y = 0 x to keep log|e| within float64's range",
        "schedule": "the boundaries are those of a constant learning rate",
        **{a: "the theory's samples are Gaussian without outliers" for a in (
            "outlier_kind", "outlier_frac", "outlier_scale")},
    },
    figures=("stability_region", "critical_lr"),
)
