"""Study ``lr-finder``: the range tests of fastai, Lightning and torch-lr-finder against the exact answers.

Each tool trains with an exponential ramp of the learning rate, records a
smoothed training loss until it exceeds a multiple of the best one, and reads
a learning rate off the curve (:mod:`lrsweep.finder` reproduces fastai
2.8.12, Lightning 2.6 and torch-lr-finder 0.2.2 exactly). Here the training
is lrsweep's kernel on the seed's problem (y = a x, noise-free), one sweep
per tool and design cell with ``schedule="custom"`` and the tool's own ramp
as multipliers, recording the loss of every step (the batch's mean loss
before the update: what the tools record). The suggestions are scored
against two exact answers for the same dataset: its first critical learning
rate (:func:`lrsweep.theory.batch_critical_lr`; ``critical_lr`` for B = 1)
and the robust best constant learning rate for the same budget of T steps
(:func:`lrsweep.theory.best_constant_lr`).

The design has three arms around a baseline (T = 100 steps, the tools'
default, n = 100, B = 8): the run length T, the dataset size n and the batch
size B each vary with the other two at the baseline, in fixed and shuffled
order, over a thousand datasets (seeds) per cell.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .common import datasets, fmt
from .common import rate_interval as _pct
from .spec import Axis, Options, Output, Study, StudyError, SweepSpec

if TYPE_CHECKING:
    import pandas as pd

    from ..results import Results

#: Each tool's ramp (start_lr, end_lr): fastai's and Lightning's defaults; torch-lr-finder has no
#: default start (it starts at the optimizer's lr): fastai's 1e-7 with its own default end 10.
RANGES = {"fastai": (1e-7, 10.0), "lightning": (1e-8, 1.0), "torch-lr-finder": (1e-7, 10.0)}
#: The design: run lengths, dataset sizes, batch sizes, the baseline (T, n, B), datasets per cell
#: (fewer for the longest runs: their records hold 1000 steps per run) and the recording budget.
FULL = {"T": (100, 300, 1000), "n": (10, 100, 1000), "B": (1, 8, 32, 128), "base": (100, 100, 8),
        "seeds": 1000, "long_seeds": 300}
QUICK = {"T": (100, 300), "n": (10, 100), "B": (1, 8), "base": (100, 100, 8), "seeds": 40, "long_seeds": 40}
#: Runs of at least this many steps use ``long_seeds`` datasets.
LONG = 1000
#: The divergence bound, in units of max(|e_0|, |theta_ref|): far above anything a tool reaches
#: before it stops (a run stops when its smoothed loss is 4 or 5 times its best), so the kernel
#: never freezes a run the tool is still reading; every run is checked.
DIVERGE = 1e12
ARMS = {"T": "run length T (steps)", "n": "dataset size n", "B": "batch size B"}
ORDERS = ("fixed", "shuffle")


def _rules(tool: str) -> list[str]:
    from .. import finder

    return [r for r in finder.RULES if r.split("-")[0] == tool.split("-")[0]]


def _cells(design: dict) -> list[tuple[int, int, int]]:
    """The (T, n, B) of every cell: each arm varies one of them, the others at the baseline."""
    bt, bn, bb = design["base"]
    cells = [(t, bn, bb) for t in design["T"]] + [(bt, n, bb) for n in design["n"]] + \
        [(bt, bn, b) for b in design["B"]]
    return list(dict.fromkeys(cells))


def _name(tool: str, t: int, n: int, b: int) -> str:
    return f"{tool} T={t} n={n} B={b}"


def declare(opts: Options) -> dict[str, SweepSpec]:
    from .. import finder

    if "epochs" in opts.sets:
        raise StudyError("study 'lr-finder' sets each run's epochs from its length T (epochs = ceil(T / E)); "
                         "--set epochs cannot be honoured")
    d = QUICK if opts.quick else FULL
    specs = {}
    for tool, (start, end) in RANGES.items():
        for t, n, b in _cells(d):
            per_epoch = -(-n // b)
            epochs = -(-t // per_epoch)
            # The tool's ramp for T steps, then lr 0 (theta stays put) to the end of the last epoch.
            mult = np.zeros(epochs * per_epoch)
            mult[:t] = finder.ramp(tool, start, end, t) / start
            cfg = opts.config(lr=start, schedule="custom", lr_multipliers=mult, n_samples=n, batch_size=b,
                              epochs=epochs, order=list(ORDERS), diverge_factor=DIVERGE,
                              seed=range(d["long_seeds"] if t >= LONG else d["seeds"]))
            specs[_name(tool, t, n, b)] = SweepSpec(cfg, record="all")
    return specs


# ------------------------------------------------------------------ analysis
def _steps(cfg: Any) -> int:
    """T: the ramp's steps (the multipliers after it are 0)."""
    return int(np.count_nonzero(cfg.lr_multipliers))


def _losses(res: Results, t: int) -> tuple[pd.DataFrame, np.ndarray]:
    """The frame and the loss of each run's first ``t`` steps, (runs, t), NaN after a divergence.

    The kernel records a run up to its divergence step (the loss of that step, computed before
    the update that left the bound, is the last one).
    """
    frame = res.frame.sort_values("trajectory_id", kind="stable").reset_index(drop=True)
    rec = res.records
    row = np.searchsorted(frame["trajectory_id"].to_numpy(), rec["trajectory_id"].to_numpy())
    step = rec["step"].to_numpy() - 1
    keep = step < t
    out = np.full((len(frame), t), np.nan)
    out[row[keep], step[keep]] = rec["loss"].to_numpy()[keep]
    return frame, out


def _references(res: Results, t: int, cache: dict) -> pd.DataFrame:
    """Per dataset (seed) of the sweep: first critical lr and robust best constant lr for ``t`` steps."""
    import pandas as pd

    from .. import theory

    cfg = res.config
    (n,), (b,) = cfg.axes["n_samples"], cfg.axes["batch_size"]
    seeds = np.array(sorted(cfg.axes["seed"]))
    key = (n, b, t, tuple(seeds.tolist()))
    if key not in cache:
        x = np.stack([ds.x for ds in datasets(cfg, seeds)])
        crit_key = (n, b, tuple(seeds.tolist()))
        if crit_key not in cache:
            cache[crit_key] = np.asarray(theory.batch_critical_lr(x, b), dtype=float).reshape(-1)
        best = theory.best_constant_lr(x, t, b)
        cache[key] = pd.DataFrame({"n_samples": n, "batch_size": b, "T": t, "seed": seeds,
                                   "lr_critical": cache[crit_key],
                                   "lr_best": np.asarray(best.lr, dtype=float).reshape(-1),
                                   "best_log_ratio": np.asarray(best.log_ratio, dtype=float).reshape(-1)})
    return cache[key]


def _per_run(name: str, res: Results, cache: dict) -> tuple[pd.DataFrame, dict]:
    """One row per run and rule: the suggestion, the tool's stop, the references; plus one example."""
    import pandas as pd

    from .. import finder

    cfg = res.config
    tool = name.split(" ")[0]
    t = _steps(cfg)
    (lr0,), (n,), (b,) = cfg.axes["lr"], cfg.axes["n_samples"], cfg.axes["batch_size"]
    lrs = lr0 * cfg.lr_multipliers[:t]  # the learning rate of each step as the kernel formed it
    frame, raw = _losses(res, t)
    rec = finder.record(tool, raw)
    div = frame["diverged_step"].to_numpy()
    frozen = (div >= 1) & (rec.length > div)  # the kernel froze the run before the tool stopped
    refs = _references(res, t, cache).set_index("seed")
    base = pd.DataFrame({"tool": tool, "T": t, "n_samples": n, "batch_size": b,
                         "order": frame["order"].astype(str).to_numpy(), "seed": frame["seed"].to_numpy(),
                         "stop_step": rec.length, "frozen": frozen,
                         "lr_critical": refs.loc[frame["seed"], "lr_critical"].to_numpy(),
                         "lr_best": refs.loc[frame["seed"], "lr_best"].to_numpy()})
    parts, example = [], {}
    for rule in _rules(tool):
        s = finder.suggest(rule, lrs, rec.losses, rec.length)
        parts.append(base.assign(rule=rule, lr_suggested=s.lr, failed=s.reason != finder.Reason.OK))
        example[rule] = s
    # The example: the first dataset in shuffled order.
    i = int(np.flatnonzero(base["order"].to_numpy() == "shuffle")[0]) if (base["order"] == "shuffle").any() \
        else 0
    ex = {"tool": tool, "lrs": lrs, "raw": raw[i], "recorded": rec.losses[i], "length": int(rec.length[i]),
          "lr_critical": float(base["lr_critical"].iloc[i]), "lr_best": float(base["lr_best"].iloc[i]),
          "seed": int(base["seed"].iloc[i]), "order": str(base["order"].iloc[i]),
          "suggestions": {r: float(s.lr[i]) for r, s in example.items()}}
    return pd.concat(parts, ignore_index=True), ex


def _quantile_interval(v: np.ndarray, q: float, level: float = 0.95) -> tuple[float, float, float]:
    """The ``q`` quantile of ``v`` and its distribution-free order-statistic interval (NaN: too few)."""
    from scipy.stats import binom

    m = len(v)
    if m == 0:
        return math.nan, math.nan, math.nan
    s = np.sort(v)
    est = float(np.quantile(s, q))
    lo = int(binom.ppf((1 - level) / 2, m, q))  # 1-based ranks [x_(lo), x_(hi)]
    hi = int(binom.ppf(1 - (1 - level) / 2, m, q)) + 1
    if lo < 1 or hi > m:
        return est, math.nan, math.nan
    return est, float(s[lo - 1]), float(s[hi - 1])


def _put(row: dict, key: str, values: tuple[float, float, float]) -> None:
    """``row[key]``, ``row[key_lo]``, ``row[key_hi]`` from (estimate, lo, hi)."""
    row[key], row[f"{key}_lo"], row[f"{key}_hi"] = values


KEYS = ["tool", "rule", "T", "n_samples", "batch_size", "order"]


def _summary(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per cell (rule, T, n, B, order): failure rate, ratios with intervals, P(above)."""
    import pandas as pd

    from ..intervals import wilson_interval

    rows = []
    for key, g in runs.groupby(KEYS, sort=True, observed=True):
        row = dict(zip(KEYS, key, strict=True))
        m = len(g)
        failed = g["failed"].to_numpy()
        frozen = g["frozen"].to_numpy()
        ok = ~failed & ~frozen
        sugg = g["lr_suggested"].to_numpy()[ok]
        rc = sugg / g["lr_critical"].to_numpy()[ok]
        rb = sugg / g["lr_best"].to_numpy()[ok]
        row.update(runs=m, n_fail=int(failed.sum()), n_frozen=int(frozen.sum()), n_scored=int(ok.sum()))
        stopped = g["stop_step"].to_numpy() < g["T"].to_numpy()
        for name, k, tot in (("fail", failed.sum(), m), ("frozen", frozen.sum(), m),
                             ("stopped", stopped.sum(), m),
                             ("above_critical", (rc > 1).sum(), ok.sum()),
                             ("above_best", (rb > 1).sum(), ok.sum())):
            lo, hi = wilson_interval(np.array([k]), np.array([max(tot, 1)]))
            row[f"{name}_rate"] = k / tot if tot else math.nan
            row[f"{name}_lo"], row[f"{name}_hi"] = ((float(lo[0]), float(hi[0])) if tot
                                                    else (math.nan, math.nan))
        for name, v in (("ratio_critical", rc), ("ratio_best", rb), ("lr_suggested", sugg),
                        ("stop_step", g["stop_step"].to_numpy().astype(float))):
            _put(row, f"{name}_median", _quantile_interval(v, 0.5))
        for name, v in (("ratio_critical", rc), ("ratio_best", rb)):
            for q in (25, 75):
                _put(row, f"{name}_q{q}", _quantile_interval(v, q / 100))
        ds = g.drop_duplicates("seed")  # the references: one per dataset
        for name, v in (("lr_critical", ds["lr_critical"].to_numpy()), ("lr_best", ds["lr_best"].to_numpy()),
                        ("best_over_critical", (ds["lr_best"] / ds["lr_critical"]).to_numpy())):
            _put(row, f"{name}_median", _quantile_interval(v, 0.5))
        rows.append(row)
    return pd.DataFrame(rows)


def _base(summary: pd.DataFrame) -> tuple[int, int, int]:
    """The baseline (T, n, B): the value of each shared by most cells (every arm holds it)."""
    cells = summary[["T", "n_samples", "batch_size"]].drop_duplicates()
    return tuple(int(cells[c].value_counts().idxmax()) for c in ("T", "n_samples", "batch_size"))


def _arms(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary's rows by arm (``arm``, ``value``): the baseline cell belongs to every arm."""
    import pandas as pd

    bt, bn, bb = _base(summary)
    parts = []
    for arm, col, others in (("T", "T", (("n_samples", bn), ("batch_size", bb))),
                             ("n", "n_samples", (("T", bt), ("batch_size", bb))),
                             ("B", "batch_size", (("T", bt), ("n_samples", bn)))):
        sel = summary
        for c, v in others:
            sel = sel[sel[c] == v]
        if sel[col].nunique() > 1:
            parts.append(sel.assign(arm=arm, value=sel[col].astype(float)))
    return pd.concat(parts, ignore_index=True)


def _figures(summary: pd.DataFrame, examples: list[dict], cfg_seeds: str) -> dict:
    import pandas as pd

    from .. import plots

    arms = _arms(summary)
    labels = {a: ARMS[a] for a in arms["arm"].unique()}
    bt, bn, bb = _base(summary)
    refs = arms[arms["order"] == arms["order"].iloc[0]].drop_duplicates(["arm", "value"])
    theory = pd.DataFrame({"arm": refs["arm"].to_numpy(), "value_x": refs["value"].to_numpy(),
                           "value": refs["best_over_critical_median"].to_numpy(),
                           "label": "best constant lr\n(median)"})
    data = arms.rename(columns={"value": "value_x"})
    base = f"baseline T = {bt}, n = {bn}, B = {bb}"
    fig_ratio = plots.estimates_by_arm(
        data, panel="arm", x="value_x", y="ratio_critical_median", lo="ratio_critical_median_lo",
        hi="ratio_critical_median_hi", hue="rule", style="order", row="tool",
        spread={"lo": "ratio_critical_q25", "hi": "ratio_critical_q75"}, theory=theory,
        lines={"dataset's first critical lr": 1.0}, panel_labels=labels, log_y=True,
        ylabel="suggested lr / first critical lr",
        title=("The rules' suggestions differ by up to eight decades, mostly far below the best constant lr "
               "for the budget (dashed), and move with T and B\n(medians with 95 % order-statistic "
               "intervals, "
               f"thin bars: quartiles; {base}; {cfg_seeds})"))
    fig_fail = plots.estimates_by_arm(
        data, panel="arm", x="value_x", y="fail_rate", lo="fail_lo", hi="fail_hi", hue="rule", style="order",
        row="tool", panel_labels=labels, ylabel="share of runs with no suggestion",
        title=("The rules fail (too few recorded points after the tool's stop) mostly with single-sample "
               f"batches\n(Wilson 95 % intervals; {base}; {cfg_seeds})"))
    curves, points, marks = [], [], []
    for ex in examples:
        k = ex["length"]
        panel = (f"{ex['tool']} (dataset seed {ex['seed']}, {ex['order']}, stops at step {k} of "
                 f"{len(ex['lrs'])})")
        lr = ex["lrs"][:k]
        curves.append(pd.DataFrame({"tool": panel, "lr": lr, "raw": ex["raw"][:k],
                                    "recorded": ex["recorded"][:k]}))
        for rule, s in sorted(ex["suggestions"].items()):
            if np.isfinite(s):
                y = float(np.exp(np.interp(np.log(s), np.log(lr), np.log(ex["recorded"][:k]))))
                points.append({"tool": panel, "rule": rule, "lr": s, "loss": y})
        marks += [{"tool": panel, "label": "best constant lr", "lr": ex["lr_best"]},
                  {"tool": panel, "label": "first critical lr", "lr": ex["lr_critical"]}]
    fig_curves = plots.range_test_curves(
        pd.concat(curves, ignore_index=True), points=pd.DataFrame(points), marks=pd.DataFrame(marks),
        title=(f"One range test per tool ({base}): the loss falls by decades between the best constant lr "
               "and the critical lr,\nbut the recorded (smoothed) loss lags the ramp and barely shows it; "
               "the suggestions are read off that curve"))
    return {"suggestion_ratio": fig_ratio, "failure_rates": fig_fail, "example_curves": fig_curves}


def analyse(results: dict[str, Results], opts: Options) -> Output:
    import pandas as pd

    cache: dict = {}
    parts, examples = [], {}
    for name, res in results.items():
        runs, ex = _per_run(name, res, cache)
        parts.append(runs)
        examples[name] = ex
    runs = pd.concat(parts, ignore_index=True)
    summary = _summary(runs)
    refs = pd.concat([v for v in cache.values() if isinstance(v, pd.DataFrame)], ignore_index=True)
    bt, bn, bb = _base(summary)
    ex = [examples[_name(tool, bt, bn, bb)] for tool in RANGES if _name(tool, bt, bn, bb) in examples]
    seeds = sorted({int(s) for res in results.values() for s in res.config.axes["seed"]})
    counts = sorted({len(res.config.axes["seed"]) for res in results.values()})
    seed_text = ("datasets " + (f"seeds {seeds[0]}-{seeds[-1]}" if len(seeds) > 1 else f"seed {seeds[0]}")
                 + ", " + " or ".join(f"{c:,}" for c in counts) + " per cell and order")
    figures = _figures(summary, ex, " or ".join(f"{c:,}" for c in counts) + " datasets per point")
    return _report(summary, refs, runs, figures, results, opts, seed_text)


def _cell(summary: pd.DataFrame, rule: str, t: int, n: int, b: int, order: str) -> pd.Series | None:
    sel = summary[(summary["rule"] == rule) & (summary["T"] == t) & (summary["n_samples"] == n)
                  & (summary["batch_size"] == b) & (summary["order"] == order)]
    return sel.iloc[0] if len(sel) else None


def _med(row: Any, key: str, digits: int = 3) -> str:
    return (f"{fmt(row[f'{key}_median'], digits)} [{fmt(row[f'{key}_median_lo'], digits)}, "
            f"{fmt(row[f'{key}_median_hi'], digits)}]")


def _q(row: Any, key: str) -> str:
    return f"{fmt(row[key], 3)} [{fmt(row[f'{key}_lo'], 3)}, {fmt(row[f'{key}_hi'], 3)}]"


def _report(summary: pd.DataFrame, refs: pd.DataFrame, runs: pd.DataFrame, figures: dict,
            results: dict[str, Results], opts: Options, seed_text: str) -> Output:
    from .. import finder

    bt, bn, bb = _base(summary)
    cfg = next(iter(results.values())).config
    (x_scale,), (theta0,) = cfg.axes["x_scale"], cfg.axes["theta0"]
    orders = list(dict.fromkeys(summary["order"]))
    order = "shuffle" if "shuffle" in orders else orders[0]
    rules = list(dict.fromkeys(summary["rule"]))
    base_rows = [r for r in (_cell(summary, rule, bt, bn, bb, o) for rule in rules for o in orders)
                 if r is not None]
    table = [
        "| rule | order | no suggestion [95 %] | suggestion / critical lr: median [95 %] | "
        "quartiles [95 %] | "
        "suggestion / best lr: median [95 %] | P(suggestion > critical lr) [95 %] | tool stopped before T "
        "[95 %] |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in base_rows:
        table.append(f"| {r['rule']} | {r['order']} | {_pct(r, 'fail')} | {_med(r, 'ratio_critical')} | "
                     f"{_q(r, 'ratio_critical_q25')} - {_q(r, 'ratio_critical_q75')} | "
                     f"{_med(r, 'ratio_best')} | {_pct(r, 'above_critical')} | {_pct(r, 'stopped')} |")
    ref = _cell(summary, rules[0], bt, bn, bb, order)
    at_base = [r for r in base_rows if r["order"] == order and np.isfinite(r["ratio_critical_median"])]
    lo_r = min(at_base, key=lambda r: r["ratio_critical_median"])
    hi_r = max(at_base, key=lambda r: r["ratio_critical_median"])
    # Arms: each rule's median ratio along each varied axis (the chosen order).
    arm_lines = []
    for arm, col in (("T", "T"), ("n", "n_samples"), ("B", "batch_size")):
        others = {"T": bt, "n_samples": bn, "batch_size": bb}
        others.pop(col)
        sel = summary[(summary["order"] == order)]
        for c, v in others.items():
            sel = sel[sel[c] == v]
        values = sorted(sel[col].unique())
        if len(values) < 2:
            continue
        parts = []
        for rule in rules:
            g = sel[sel["rule"] == rule].set_index(col)
            parts.append(f"{rule}: " + ", ".join(
                f"{_med(g.loc[v], 'ratio_critical', 2)}" + (f" (fails {100 * g.loc[v, 'fail_rate']:.0f} %)"
                                                            if g.loc[v, "fail_rate"] >= 0.05 else "")
                for v in values))
        refs_line = ", ".join(f"{_med(sel[sel[col] == v].iloc[0], 'best_over_critical', 3)}" for v in values)
        arm_lines.append(f"- **{ARMS[arm]}** = {', '.join(str(v) for v in values)} (the others at the "
                         "baseline): "
                         + "; ".join(parts) + f". Best constant lr / critical lr: {refs_line}.")
    fail = summary.loc[summary["fail_rate"].idxmax()]
    above = summary.loc[summary["above_critical_rate"].idxmax()]
    order_dev = []
    for rule in rules:
        a, b = _cell(summary, rule, bt, bn, bb, "fixed"), _cell(summary, rule, bt, bn, bb, "shuffle")
        if a is not None and b is not None:
            order_dev.append(f"{rule} {fmt(a['ratio_critical_median'], 3)} vs "
                             f"{fmt(b['ratio_critical_median'], 3)}")
    n_frozen = int(summary["n_frozen"].sum())
    recorded = sum(len(res.records) for res in results.values())
    n_runs = int(summary["runs"].sum())
    lengths = sorted({(_steps(res.config), len(res.config.axes["seed"])) for res in results.values()})
    lengths = sorted(dict(lengths).items())  # one count per T
    tools = "; ".join(f"{tool}: {start:g} to {end:g}, smoothing {finder.DEFAULTS[tool]['smoothing']:g}, stop "
                      f"at {finder.DEFAULTS[tool]['threshold']:g} x the best"
                      for tool, (start, end) in RANGES.items())
    body = [
        "## Setup\n",
        f"The seed's problem, y = {cfg.coef:g} x without noise, x ~ N(0, {x_scale:g}^2), theta0 = "
        f"{theta0:g}. "
        "Each tool's range test is emulated exactly (`lrsweep.finder`, checked against fastai 2.8.12, "
        "Lightning "
        "2.6 and torch-lr-finder 0.2.2): its own exponential ramp of T steps from its default start to its "
        f"default end lr ({tools}; torch-lr-finder has no default start, it takes the optimizer's lr: 1e-7 "
        "here), its smoothing of the recorded loss, its stop rule and its suggestion rules (fastai: valley, "
        "steep = steepest descent of the smoothed loss against log lr, minimum = the lr of the least "
        "smoothed "
        "loss divided by 10, slide; Lightning: steepest descent against the lr itself; torch-lr-finder: "
        "steepest descent per step). The training is lrsweep's kernel: one sweep per tool and design cell "
        "with `schedule=\"custom\"`, `lr` the tool's start and `lr_multipliers` its ramp divided by the "
        "start "
        "(then 0 to the end of the last epoch: the first T steps are the test), recording every step's loss "
        "(the batch's mean loss before the update, what the tools record).\n",
        f"Design: three arms around the baseline T = {bt} steps (the tools' default), n = {bn}, B = {bb}; "
        "each arm varies one of run length, dataset size and batch size with the others at the baseline; "
        f"orders {', '.join(orders)}; {seed_text} (the same datasets for every tool and rule; "
        + ", ".join(f"T = {t}: {k:,}" for t, k in lengths) + " datasets; fewer for the longest runs to "
        f"keep their records, {lengths[-1][0]:,} steps a run, in memory: {recorded / 1e6:.1f} million "
        "recorded steps in all, every step of every run, since the tools smooth every step's loss and "
        f"record_every would change what they see). {n_runs:,} scored (run, rule) pairs.\n",
        "**Exact references, per dataset** (`references.csv`):\n",
        "- *First critical lr* `lr_c`: the smallest lr at which repeated epochs diverge "
        "(`theory.batch_critical_lr(x, B)`, the smallest root of S_B(lr) = sum over batches of "
        "log|1 - 2 lr c_k|; `theory.critical_lr` bit for bit at B = 1). Exact for fixed order; for B = 1 the "
        "epoch product does not depend on the order, so it is exact for shuffled runs too; for shuffled runs "
        "with B > 1 the batches change every epoch and it is the fixed-order partition's value.",
        "- *Best constant lr for the budget* `lr*`: `theory.best_constant_lr(x, T, B)`. The plain argmin of "
        "|e_T| over lr is degenerate (|e_T| = 0 at every pole 1/(2 c_k) of a batch seen within the budget, "
        "where one step lands exactly on the solution, and the log-error is concave between poles); it "
        "returns "
        "the robust minimax optimum instead: of the intervals between consecutive poles, the one whose "
        "largest "
        "log|e_T/e_0| is smallest, and the point of that interval where the error is flat in lr. Every lr in "
        "that interval guarantees that error, so it is the constant lr a user can actually aim at. It is "
        "exact "
        "for fixed order; for B = 1 and whole epochs it is the same for any order (the argmin of S over an "
        "interval of S, T-independent), otherwise it is the fixed-order value for the shuffled runs (for T < "
        "n "
        "it concerns the first T samples only). The argmin of S on a grid would land on a pole and depend on "
        "the grid; this does not.\n",
        "**Statuses.** *No suggestion*: the rule returns nothing (fastai and torch-lr-finder raise, "
        "Lightning "
        "returns None) because the tool stopped before recording enough points past its trimming (Wilson 95 "
        "% "
        "intervals). A run whose loss left the kernel's divergence bound (diverge_factor = "
        f"{cfg.diverge_factor:g}) before the tool's stop step would be censored: {n_frozen} of {n_runs:,} "
        "(every other stop comes before the run's `diverged_step`). Ratios are over the runs with a "
        "suggestion; medians and quartiles carry distribution-free order-statistic 95 % intervals. A tool "
        "*stopped before T* when its stop rule fired; otherwise it ran the whole ramp.\n",
        f"## The baseline (T = {bt}, n = {bn}, B = {bb})\n",
        *table,
        "",
        f"The best constant lr for these {bt} steps is {_med(ref, 'best_over_critical')} times the critical "
        f"lr (median over the datasets; the critical lr itself {_med(ref, 'lr_critical')}).\n",
        "## Bias and spread against T, n and B\n",
        "Figure `suggestion_ratio`: each rule's median suggestion / critical lr with its interval and "
        "quartiles along each arm, one row per tool, the best constant lr as a dashed line.\n",
        f"Median suggestion / critical lr [95 %] in {order} order at each value:\n",
        *arm_lines,
        "",
        "Order (fixed vs shuffled) at the baseline, median suggestion / critical lr: " + "; ".join(order_dev)
        + ".\n",
        "## Failures\n",
        "Figure `failure_rates`: the share of runs without a suggestion along each arm.\n",
        f"The most failures: {fail['rule']} at T = {fail['T']}, n = {fail['n_samples']}, B = "
        f"{fail['batch_size']} ({fail['order']}): {_pct(fail, 'fail')} of the runs give no suggestion. With "
        "single-sample steps the per-step loss varies by orders of magnitude from one sample to the next, "
        "the "
        "smoothed loss crosses the stop threshold on noise within the first steps and the trimmed window is "
        "empty.\n",
        f"The largest P(suggestion > critical lr) in any cell: {_pct(above, 'above_critical')} "
        f"({above['rule']}, "
        f"T = {above['T']}, n = {above['n_samples']}, B = {above['batch_size']}, {above['order']}).\n",
        "## Example curves\n",
        "Figure `example_curves`: one dataset's range test per tool at the baseline: the loss of every step, "
        "the smoothed loss the tool records, each rule's suggestion on it and the two exact learning rates. "
        "The raw loss falls by orders of magnitude between the best constant lr and the critical lr, but the "
        "smoothed loss lags a ramp that crosses that range in a few steps, so the recorded curve barely "
        "shows "
        "the fall; the steepest-descent rules then pick the noise of the batches at the start of the ramp.\n",
        "Censored: no cell is bounded by a grid edge (the references are exact roots and optima, not grid "
        "points); cells with fewer than 6 scored runs have no median interval (NaN in summary.csv).",
    ]
    top_b = max(at_base, key=lambda r: r["ratio_best_median"])
    answer = (
        f"At the tools' defaults (T = {bt} steps, n = {bn}, B = {bb}, {order} order) the median suggestion "
        f"ranges from {_med(lo_r, 'ratio_critical')} ({lo_r['rule']}) to {_med(hi_r, 'ratio_critical')} "
        f"({hi_r['rule']}) times the dataset's first critical lr, against "
        f"{_med(ref, 'best_over_critical')} for the best constant lr for the same budget"
        + (f", so the median suggestion of every rule is below the best constant lr (at most "
           f"{_med(top_b, 'ratio_best')} of it, {top_b['rule']})." if top_b["ratio_best_median"] < 1 else
           f"; the highest median suggestion / best lr is {_med(top_b, 'ratio_best')} ({top_b['rule']}).")
    )
    headline = (f"lr-finder: median suggestion / critical lr from {fmt(lo_r['ratio_critical_median'], 2)} "
                f"({lo_r['rule']}) to {fmt(hi_r['ratio_critical_median'], 2)} ({hi_r['rule']}); best "
                "constant "
                f"lr {fmt(ref['best_over_critical_median'], 2)}")
    return Output(summary, figures, "\n".join(body) + "\n", headline, tables={"references": refs},
                  answer=answer)


STUDY = Study(
    name="lr-finder",
    question=("How far from the exact answers (the dataset's first critical learning rate and the best "
              "constant learning rate for the same budget) do the learning-rate range tests of fastai, "
              "Lightning and torch-lr-finder land, and how do their bias and spread move with the run "
              "length, the dataset size, the batch size and the data order?"),
    declare=declare,
    analyse=analyse,
    axes={"seed": Axis(), "order": Axis(values=ORDERS, why="the exact references are per dataset, for a "
                                        "fixed or shuffled pass over it"),
          "x_scale": Axis(multi=False), "theta0": Axis(multi=False)},
    refused={
        "lr": "each tool ramps from its own default start lr (the study sets lr to it)",
        "schedule": "the schedule is each tool's own exponential ramp",
        "n_samples": "the study sweeps the dataset size itself (one arm of its design)",
        "batch_size": "the study sweeps the batch size itself (one arm of its design)",
        "momentum": "the references (critical and best constant lr) are for plain SGD",
        "nesterov": "the references (critical and best constant lr) are for plain SGD",
        "noise": "the exact references are for noise-free data",
        **{a: "the study's datasets are Gaussian without outliers" for a in (
            "outlier_kind", "outlier_frac", "outlier_scale")},
    },
    figures=("suggestion_ratio", "failure_rates", "example_curves"),
)
