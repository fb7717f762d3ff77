"""Analysis helpers shared by the named studies (number formatting, rates, crossings)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import DATA_AXES, SweepConfig
from ..data import Dataset, dataset_for

if TYPE_CHECKING:
    import pandas as pd

    from ..results import Results

__all__ = ["add_median", "add_rate", "by_index", "column_or_value", "crossing", "datasets",
           "divergence_table", "exact_log_multiplier", "fmt", "percent", "pooled_z", "rate_interval",
           "replay", "steps_to_tol", "unstable_summary", "verdict_summary"]

#: Seed of the Monte Carlo datasets of P(S > 0) for dataset size n: THEORY_SEED + n.
THEORY_SEED = 12345


def percent(rate: float, lo: float, hi: float, digits: int = 1) -> str:
    """A proportion and its interval in percent: ``"1.1 % [0.8, 1.7]"``."""
    return f"{100 * rate:.{digits}f} % [{100 * lo:.{digits}f}, {100 * hi:.{digits}f}]"


def fmt(v: float, digits: int = 4) -> str:
    """``v`` with ``digits`` significant digits, or ``nan``."""
    return "nan" if not np.isfinite(v) else f"{v:.{digits}g}"


def crossing(lr: np.ndarray, p: np.ndarray, level: float = 0.5) -> float:
    """Smallest lr where ``p`` crosses ``level`` upwards (log-linear interpolation); NaN if never."""
    above = np.nonzero(p >= level)[0]
    if len(above) == 0:
        return float("nan")
    i = above[0]
    if i == 0:
        return float(lr[0])
    l0, l1 = np.log(lr[i - 1]), np.log(lr[i])
    t = (level - p[i - 1]) / (p[i] - p[i - 1])
    return float(np.exp(l0 + t * (l1 - l0)))


def by_index(frame: pd.DataFrame, by: list[str]) -> Any:
    """The ``by`` columns of ``frame`` as a (Multi)Index, for aligning group results."""
    import pandas as pd

    return pd.MultiIndex.from_frame(frame[by]) if len(by) > 1 else pd.Index(frame[by[0]])


def unstable_summary(res: Results, by: list[str]) -> pd.DataFrame:
    """``res.summary(by)`` plus the count, rate and Wilson 95 % interval of unstable runs.

    A run is *unstable* when its error grew over the last epoch (growth_rate > 0) or it
    left the divergence bound.
    """
    from ..results import wilson_interval

    f = res.frame
    unstable = (f["growth_rate"] > 0) | (f["status"] == "diverged")
    k = unstable.groupby([f[c] for c in by], observed=True).sum()
    summary = res.summary(by=by)
    k = k.reindex(by_index(summary, by)).to_numpy()
    n = summary["n"].to_numpy()
    summary["n_unstable"] = k
    summary["unstable_rate"] = k / n
    summary["unstable_lo"], summary["unstable_hi"] = wilson_interval(k, n)
    return summary


def add_rate(summary: pd.DataFrame, frame: pd.DataFrame, hit: Any, by: list[str], name: str) -> None:
    """Add ``n_{name}``, ``{name}_rate`` and its Wilson 95 % interval (``{name}_lo``, ``{name}_hi``).

    ``hit`` is a boolean per row of ``frame``; ``summary`` has one row per
    group of ``by`` and a column ``n`` (the runs of the group), as
    :meth:`lrsweep.Results.summary` returns it.
    """
    import pandas as pd

    from ..intervals import wilson_interval

    hit = pd.Series(np.asarray(hit, dtype=bool), index=frame.index)
    k = hit.groupby([frame[c] for c in by], observed=True).sum().reindex(by_index(summary, by)).to_numpy()
    n = summary["n"].to_numpy()
    summary[f"n_{name}"] = k
    summary[f"{name}_rate"] = k / n
    summary[f"{name}_lo"], summary[f"{name}_hi"] = wilson_interval(k, n)


def add_median(summary: pd.DataFrame, frame: pd.DataFrame, values: Any, by: list[str], name: str) -> None:
    """Add ``{name}_median`` with its 95 % order-statistic interval (``_median_lo``, ``_median_hi``)
    and ``{name}_count`` (the values it is taken over) to ``summary``, one per group of ``by``.

    NaN values are left out (pass NaN for the runs a median excludes); the
    interval is NaN for fewer than 6 values (:func:`lrsweep.intervals.median_interval`).
    """
    import pandas as pd

    from ..intervals import median_interval

    v = pd.Series(np.asarray(values, dtype=np.float64), index=frame.index)
    rows = []
    for _, g in v.groupby([frame[c] for c in by], observed=True):
        g = g.dropna().to_numpy()
        rows.append((np.median(g) if len(g) else np.nan, *median_interval(g), len(g)))
    keys = v.groupby([frame[c] for c in by], observed=True).size().index
    table = pd.DataFrame(rows, index=keys, columns=["m", "lo", "hi", "count"]).reindex(by_index(summary, by))
    summary[f"{name}_median"] = table["m"].to_numpy()
    summary[f"{name}_median_lo"] = table["lo"].to_numpy()
    summary[f"{name}_median_hi"] = table["hi"].to_numpy()
    summary[f"{name}_count"] = table["count"].to_numpy(dtype=np.int64)


def exact_log_multiplier(res: Results) -> np.ndarray:
    """``S(lr) = sum_i log|1 - 2 lr x_i^2|`` of every trajectory's own dataset, in the frame's row order.

    The ``S`` column of :meth:`lrsweep.Results.with_theory`, computed with the
    datasets stacked over seeds (one vectorised call per data key without the
    seed) instead of one call per dataset: the same numbers, several times
    faster. For noise-free data in ``fixed`` or ``shuffle`` order (a run is
    unstable iff ``S > 0``); with response outliers or noise S still decides
    divergence (:mod:`lrsweep.theory.dataset`). Gaussian datasets without
    outliers of a smaller n are prefixes of the largest (:mod:`lrsweep.data`),
    so only those of the largest n are generated.
    """
    from .. import theory

    f, cfg = res.frame, res.config
    orders = set(np.unique(column_or_value(f, cfg, "order")).tolist())
    if not orders <= {"fixed", "shuffle"}:
        raise ValueError(f"exact_log_multiplier: S decides a run in fixed or shuffle order, not {orders}")
    if cfg.user_data is not None:
        return np.asarray(theory.epoch_log_multiplier(cfg.user_data[0], f["lr"].to_numpy()), dtype=np.float64)
    out = np.full(len(f), np.nan)
    cols = {a: column_or_value(f, cfg, a) for a in DATA_AXES}
    rest = [a for a in DATA_AXES if a not in ("seed", "n_samples")]
    lr = f["lr"].to_numpy(dtype=np.float64)
    seed = np.asarray(cols["seed"], dtype=np.int64)
    n_col = np.asarray(cols["n_samples"], dtype=np.int64)
    import pandas as pd

    groups = pd.DataFrame({a: cols[a] for a in rest}).groupby(rest, sort=False, observed=True).indices
    for key, rows in groups.items():
        key = dict(zip(rest, key if isinstance(key, tuple) else (key,), strict=True))
        seeds = np.unique(seed[rows])
        ns = np.unique(n_col[rows])
        prefix = cfg.data == "gaussian" and float(key["outlier_frac"]) == 0.0
        big = None
        if prefix:
            big = np.stack([d.x for d in datasets(cfg, seeds, n_samples=int(ns[-1]), **key)])
        for n in ns:
            sel = rows[n_col[rows] == n]
            if prefix:
                X = big[:, :n]
            else:
                X = np.stack([d.x for d in datasets(cfg, seeds, n_samples=int(n), **key)])
            lrs, j = np.unique(lr[sel], return_inverse=True)
            S = np.asarray(theory.epoch_log_multiplier(X, lrs), dtype=np.float64)
            S = S.reshape(len(seeds), len(lrs))
            out[sel] = S[np.searchsorted(seeds, seed[sel]), j]
    return out


def verdict_summary(res: Results, by: list[str], S: np.ndarray | None = None) -> pd.DataFrame:
    """:func:`unstable_summary` plus the exact per-dataset verdict, next to the simulated statuses.

    Adds ``n_exact``, ``exact_rate`` with its Wilson 95 % interval ``exact_lo``, ``exact_hi``
    (runs whose own dataset has ``S(lr) > 0``: repeated epochs diverge, exactly,
    for noise-free fixed- or shuffle-order runs) and ``n_mismatch`` (runs whose
    simulated *unstable* verdict differs from ``S > 0``). ``S`` defaults to
    :func:`exact_log_multiplier`.
    """
    f = res.frame
    S = exact_log_multiplier(res) if S is None else S
    summary = unstable_summary(res, by)
    add_rate(summary, f, S > 0, by, "exact")
    unstable = (f["growth_rate"] > 0) | (f["status"] == "diverged")
    add_rate(summary, f, unstable.to_numpy() != (S > 0), by, "mismatch")
    return summary.drop(columns=["mismatch_rate", "mismatch_lo", "mismatch_hi"])


def pooled_z(k1: Any, n1: Any, k2: Any, n2: Any) -> np.ndarray:
    """Deviation of two binomial proportions ``k1/n1 - k2/n2`` in standard errors.

    ``z = (p1 - p2) / sqrt(p (1 - p) (1/n1 + 1/n2))`` with both standard errors
    evaluated at the pooled proportion ``p = (k1 + k2) / (n1 + n2)`` (under the
    hypothesis that both estimate the same probability), so that a 0 of n1
    against a small p2 is not read as an exact 0; 0 where both are 0 or both 1.
    """
    k1, n1, k2, n2 = (np.asarray(a, dtype=np.float64) for a in (k1, n1, k2, n2))
    p = (k1 + k2) / (n1 + n2)
    se = np.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    diff = k1 / n1 - k2 / n2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(se > 0, diff / np.where(se > 0, se, 1.0), 0.0)


def column_or_value(frame: pd.DataFrame, config: SweepConfig, name: str) -> np.ndarray:
    """Axis ``name`` per row of ``frame``: its column, or the config's one value broadcast.

    Theory columns are evaluated with this, so that they use the values that
    ran whether or not the axis was swept (and grouped by).
    """
    if name in frame.columns:
        return frame[name].to_numpy()
    (value,) = config.axes[name]  # an axis not in the frame has one value
    return np.full(len(frame), value)


def datasets(config: SweepConfig, seeds: Any, **key: Any) -> list[Dataset]:
    """The datasets of ``config`` for ``seeds``, the other data axes at their one value
    (or as given in ``key``), exactly as the sweep generated them."""
    order = key.pop("order", config.axes["order"][0])
    values = {a: key.get(a, config.axes[a][0]) for a in DATA_AXES if a != "seed"}
    unknown = set(key) - set(values)
    if unknown:
        raise KeyError(f"not data axes: {sorted(unknown)}; data axes are {DATA_AXES}")
    return [dataset_for(config, tuple(int(s) if a == "seed" else values[a] for a in DATA_AXES), order)
            for s in seeds]



def divergence_table(config: SweepConfig, n_datasets: int) -> pd.DataFrame:
    """Exact P(S(lr) > 0) for random Gaussian datasets of each n of ``config`` (Monte Carlo).

    Columns ``n_samples``, ``lr``, ``probability``, ``standard_error``; the
    datasets of size n are drawn from ``THEORY_SEED + n`` (the same for
    every lr), at the config's one ``x_scale``.
    """
    import pandas as pd

    from .. import theory

    lrs = np.asarray(config.axes["lr"])
    (x_scale,) = config.axes["x_scale"]
    parts = []
    for n in config.axes["n_samples"]:
        p = theory.divergence_probability(n, lrs, x_scale=x_scale, method="montecarlo",
                                          n_datasets=n_datasets, rng=THEORY_SEED + n)
        parts.append(pd.DataFrame({"n_samples": n, "lr": lrs, "probability": p.probability,
                                   "standard_error": p.standard_error}))
    return pd.concat(parts, ignore_index=True)


def steps_to_tol(lr: np.ndarray, config: SweepConfig) -> np.ndarray:
    """Population prediction of the steps to tolerance: ``log(tol) / L(lr)`` where ``L < 0`` (else NaN).

    ``log|e_k / e_0| ~ k L(lr)`` with ``L(lr) = E log|1 - 2 lr X^2|``, so ``|e|``
    falls below ``tol |e_0|`` after ``log(tol) / L(lr)`` steps whatever n is.
    """
    from .. import theory

    (x_scale,) = config.axes["x_scale"]
    L = np.asarray(theory.population_log_multiplier(lr, x_scale))
    return np.where(L < 0, np.log(config.tol) / np.where(L < 0, L, -1.0), np.nan)


def rate_interval(row: Any, key: str) -> str:
    """``{key}_rate`` of ``row`` with its ``[{key}_lo, {key}_hi]`` interval, as percentages.

    One decimal, or as many as it takes (up to three) to show a bound
    within 1 % of 0 or 100 %: a Wilson bound of 0.04 % is not printed as 0.0 %.
    """
    values = [float(row[f"{key}_{c}"]) for c in ("rate", "lo", "hi")]

    def pct(v: float) -> str:
        near = min(v, 1.0 - v)
        digits = 1 if near >= 0.01 or near == 0 else (2 if near >= 0.001 else 3)
        return f"{v:.{digits}%}"

    r, lo, hi = (pct(v) for v in values)
    return f"{r} [{lo}, {hi}]"


def replay(config: SweepConfig, row: Any) -> tuple[Dataset, np.ndarray, np.ndarray]:
    """The node-graph oracle's run of one trajectory of ``config`` (a results row): (dataset, theta, loss).

    Every axis the row ran with: its dataset and sample order, batch size,
    schedule (the multipliers the engine used) and momentum
    (:func:`lrsweep.replay.replay_inputs`); one feature without a bias.
    """
    from ..reference import run_trajectory
    from ..replay import replay_inputs

    ds = dataset_for(config, tuple(row[a] for a in DATA_AXES), str(row["order"]))
    th, loss = run_trajectory(ds.x, ds.y, **replay_inputs(config, row))
    return ds, th, loss
