"""Analysis helpers shared by the named studies (number formatting, rates, crossings)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import DATA_AXES, SweepConfig
from ..data import Dataset, dataset_for

if TYPE_CHECKING:
    import pandas as pd

    from ..results import Results

__all__ = ["by_index", "column_or_value", "crossing", "datasets", "divergence_table", "fmt", "rate_interval",
           "replay", "steps_to_tol", "unstable_summary"]

#: Seed of the Monte Carlo datasets of P(S > 0) for dataset size n: THEORY_SEED + n.
THEORY_SEED = 12345


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
    schedule (the multipliers the engine used) and momentum.
    """
    from ..data import sample_order
    from ..reference import run_trajectory
    from ..schedules import multipliers

    order = str(row["order"])
    n = int(row["n_samples"]) if config.user_data is None else len(config.user_data[0])
    ds = dataset_for(config, tuple(row[a] for a in DATA_AXES), order)
    # An online run reads its stream of epochs * n fresh samples in order, n per epoch.
    idx = np.arange(len(ds)) if order == "online" else sample_order(order, n, config.epochs, int(row["seed"]))
    bs = int(row["batch_size"])
    per_epoch = -(-n // bs)
    spec = str(row["schedule"])
    mult = (None if spec == "constant" else
            multipliers(spec, config.epochs * per_epoch, per_epoch, config.lr_multipliers))
    th, loss = run_trajectory(ds.x, ds.y, lr=float(row["lr"]), theta0=float(row["theta0"]),
                              epochs=config.epochs, order=idx, batch_size=bs, lr_multipliers=mult,
                              momentum=float(row["momentum"]), nesterov=bool(row["nesterov"]))
    return ds, th, loss
