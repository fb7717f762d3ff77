"""Steps to converge, honestly: medians over every run (censored ones included) and the exact steps.

Two helpers for the studies that report how many steps SGD needs
(``lr-tuning``, ``convergence``):

* :func:`steps_median` - the median of ``converged_step`` over *all* runs of
  a group, a run that did not converge within its budget (any status but
  converged, diverged included) counting as "more than the budget". The
  median of the converged runs alone is biased low wherever some runs are
  censored: it describes the few that happened to converge.
* :func:`exact_steps` - the exact per-dataset prediction of ``converged_step``
  for noise-free fixed-order runs (:func:`lrsweep.theory.predicted_steps_to_tol`),
  row by row, with the kernel's rule (the whole last epoch within tolerance).

They live in their own module (not :mod:`~lrsweep.studies.common`) so that
studies changed at the same time do not edit one file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..config import DATA_AXES
from .common import crossing, datasets

if TYPE_CHECKING:
    import pandas as pd

    from ..results import Results

__all__ = [
    "exact_steps",
    "exact_steps_applies",
    "excess_over_theory",
    "pct",
    "rate_crossing",
    "rate_text",
    "steps_median",
    "theory_lrs",
]

#: Largest float64 array (elements) one call of predicted_steps_to_tol may build per block of datasets.
_BLOCK = 4_000_000


def steps_median(frame: pd.DataFrame, by: list[str], steps: str = "converged_step",
                 prefix: str = "steps") -> pd.DataFrame:
    """Median steps to converge over every run of each group, with its 95 % order-statistic interval.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per run, with the ``by`` columns and ``steps`` (the step
        after which the run stayed within tolerance; negative or NaN when it
        did not converge within its budget).
    by : list of str
        Group columns.
    steps : str
        The column of steps.
    prefix : str
        Stem of the output columns.

    Returns
    -------
    pandas.DataFrame
        One row per group: the ``by`` columns, ``{prefix}_median``,
        ``{prefix}_median_lo``, ``{prefix}_median_hi`` (the distribution-free
        95 % interval ``[x_(r), x_(m-r+1)]`` of :func:`lrsweep.intervals.median_rank`)
        and ``{prefix}_censored``. A run that did not converge counts as
        ``inf`` (more than its budget), so the median is ``inf`` when at least
        half the runs did not converge (``{prefix}_censored`` is then True:
        the budget bounds it from below), and ``_hi`` is ``inf`` when the run
        at the interval's upper rank did not converge. NaN bounds for groups
        of fewer than 6 runs.
    """
    import pandas as pd

    from ..intervals import median_rank

    rows = []
    for key, g in frame.groupby(by, observed=True, sort=True):
        v = g[steps].to_numpy(dtype=np.float64)
        v = np.sort(np.where(np.isfinite(v) & (v >= 0), v, np.inf))
        m = len(v)
        mid = (v[(m - 1) // 2] + v[m // 2]) / 2 if m else np.nan  # inf if either middle value is inf
        r = int(median_rank(m)) if m else 0
        lo, hi = (v[r - 1], v[m - r]) if r >= 1 else (np.nan, np.nan)
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(by, key, strict=True)), f"{prefix}_median": mid, f"{prefix}_median_lo": lo,
                     f"{prefix}_median_hi": hi, f"{prefix}_censored": bool(np.isinf(mid))})
    return pd.DataFrame(rows)


def exact_steps_applies(frame: pd.DataFrame) -> np.ndarray:
    """Rows whose ``converged_step`` the exact theory predicts: noise-free data in fixed order.

    Noise and response outliers make the error recursion affine (the error
    settles at a noise floor instead of reaching a tolerance) and the other
    orders change the sample sequence; leverage outliers keep the data on the
    line, so the prediction holds for them.
    """
    response = (frame["outlier_kind"].astype(str) == "response") & (frame["outlier_frac"] > 0)
    return ((frame["order"].astype(str) == "fixed") & (frame["noise"] == 0) & ~response).to_numpy()


def exact_steps(res: Results, epochs: int | None = None) -> np.ndarray:
    """The exact ``converged_step`` of every row of ``res.frame`` (NaN where the theory does not apply).

    For noise-free fixed-order runs (:func:`exact_steps_applies`) the error
    after step k is ``e_0`` times a product of known factors, so the first
    step after which ``|e| <= tol |e_0|`` for good is known in advance
    (:func:`lrsweep.theory.predicted_steps_to_tol`, on each row's own dataset
    regenerated from its data key). With the kernel's rule, a run whose last
    epoch is not entirely within tolerance has not converged: ``-1``.

    Parameters
    ----------
    res : Results
        The sweep (its config gives ``tol`` and ``epochs``).
    epochs : int, optional
        A different budget in epochs: the step at which the run would
        converge given that many epochs (default the config's).

    Returns
    -------
    numpy.ndarray of float
        One value per row: the predicted ``converged_step``, ``-1`` if it does
        not converge within the budget, NaN where the theory does not apply.
    """
    from .. import theory

    frame, cfg = res.frame, res.config
    ep = int(cfg.epochs if epochs is None else epochs)
    out = np.full(len(frame), np.nan)
    ok = exact_steps_applies(frame)
    if not ok.any():
        return out
    sub = frame[ok]
    others = [a for a in DATA_AXES if a != "seed"]
    for key, g in sub.groupby(others, observed=True, sort=False):
        values = dict(zip(others, key, strict=True))
        n = int(values["n_samples"])
        seeds = np.unique(g["seed"].to_numpy())
        lrs = np.unique(g["lr"].to_numpy(dtype=np.float64))
        step = np.empty((len(seeds), len(lrs)))
        block = max(1, _BLOCK // max(1, n * len(lrs)))
        for i in range(0, len(seeds), block):
            xs = np.stack([d.x for d in datasets(cfg, seeds[i:i + block], order="fixed", **values)])
            step[i:i + block] = theory.predicted_steps_to_tol(xs, lrs, cfg.tol, ep)
        k = ep * n
        # The kernel's rule: converged only if the whole last epoch (steps K - n + 1 .. K) is within tol.
        step = np.where((step >= 0) & (step <= k - n + 1), step, -1.0)
        rows = np.searchsorted(seeds, g["seed"].to_numpy()), np.searchsorted(lrs, g["lr"].to_numpy())
        out[np.flatnonzero(ok)[sub.index.get_indexer(g.index)]] = step[rows]
    return out


def rate_crossing(lr: np.ndarray, rate: np.ndarray, lo: np.ndarray, hi: np.ndarray, *,
                  falling: bool = False) -> tuple[float, float, float]:
    """Where a rate crosses 1/2 over ``lr`` (log-linear), with an interval from its Wilson bounds.

    The crossings of the bounds ``lo`` and ``hi`` bracket the crossing of the rate: they are where the
    rate is first compatible with 1/2 and where it is last. ``falling`` for a rate that falls with lr.
    NaN where the rate (or a bound) does not cross within the grid.
    """
    if falling:  # 1 - rate rises; its bounds are 1 - hi (crosses last) and 1 - lo (crosses first)
        return (crossing(lr, 1 - np.asarray(rate)), crossing(lr, 1 - np.asarray(lo)),
                crossing(lr, 1 - np.asarray(hi)))
    return crossing(lr, np.asarray(rate)), crossing(lr, np.asarray(hi)), crossing(lr, np.asarray(lo))


def theory_lrs(lo: float, hi: float) -> np.ndarray:
    """Learning rates at which to draw a population-theory curve on ``[lo, hi]`` (log axis).

    60 log-spaced points, and 30 more in the last tenth below ``hi`` (a threshold, where the steps
    to tolerance rise steeply): each point is a numerical integral, so no more than the eye needs.
    """
    return np.unique(np.concatenate([np.geomspace(lo, hi, 60), np.geomspace(max(lo, 0.9 * hi), hi, 30)]))


def pct(p: float) -> str:
    """A proportion in percent with the digits it needs: ``0%``, ``0.0083%``, ``3.9%``, ``99.68%``."""
    if not np.isfinite(p):
        return "nan"
    if p == 0 or p == 1:
        return f"{100 * p:.0f}%"
    if p < 0.001 or p > 0.999:
        return f"{100 * p:.4g}%"
    return f"{100 * p:.1f}%"


def rate_text(k: int, n: int) -> str:
    """``k of n: p% [lo%, hi%]`` with the Wilson 95 % interval (a 0 of n reads as below about 3/n)."""
    from ..intervals import wilson_interval

    lo, hi = wilson_interval(k, n)
    return f"{k:,} of {n:,}: {pct(k / n)} [{pct(float(lo))}, {pct(float(hi))}]"


def excess_over_theory(summary: pd.DataFrame, theory: str = "theory_steps", stem: str = "steps") -> None:
    """Add the deviation of the median steps from a theory column, relative and in standard errors.

    ``excess = median / theory - 1`` with ``excess_lo``, ``excess_hi`` from the median's interval (NaN
    where the median is censored or the theory undefined, ``excess_hi`` NaN where the interval is open
    above), and ``excess_z = (median - theory) / se`` with ``se`` the interval's half-width / 1.96: steps
    are integers, so an interval can have zero width, and ``se`` is taken as at least half a step.
    """
    from ..intervals import Z95

    med, mlo, mhi = (summary[f"{stem}_median{s}"].to_numpy() for s in ("", "_lo", "_hi"))
    th = summary[theory].to_numpy(dtype=np.float64)
    det = np.isfinite(med) & np.isfinite(th)
    with np.errstate(invalid="ignore", divide="ignore"):
        summary["excess"] = np.where(det, med / th - 1, np.nan)
        summary["excess_lo"] = np.where(det, mlo / th - 1, np.nan)
        summary["excess_hi"] = np.where(det & np.isfinite(mhi), mhi / th - 1, np.nan)
        se = np.maximum((mhi - mlo) / (2 * Z95), 0.5 / Z95)
        summary["excess_z"] = np.where(det & np.isfinite(mhi), (med - th) / se, np.nan)
