"""Figures from tidy frames (seaborn on matplotlib's Agg backend).

Every function takes tidy frames, an optional ``ax`` (or draws its own
figure), returns the :class:`matplotlib.figure.Figure` and never shows it.
Colours: seaborn's colour-blind-safe palette, except the seed's rainbow fan,
where the rainbow is the point.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "divergence_curve",
    "heatmaps",
    "lines_with_bands",
    "lr_comparison",
    "oscillation_curve",
    "rainbow_fan",
    "seed_trajectory",
    "speed_vs_stability",
    "survival_loglog",
]


def _plt():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "cairo", "pgf", "ps"):
        # Library code may run headless: never depend on a display.
        matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    return plt, sns


def seed_trajectory(records: pd.DataFrame, *, title: str | None = None) -> Figure:
    """The seed's first figure: theta and per-sample loss over iterations, stacked.

    Parameters
    ----------
    records : pandas.DataFrame
        Recorded steps of one trajectory (``step``, ``theta``, ``loss``).
    title : str, optional
        Figure title.
    """
    plt, _ = _plt()
    fig, (a0, a1) = plt.subplots(2, 1, figsize=(10, 6), sharex=True, layout="constrained")
    a0.plot(records["step"], records["theta"], lw=1.5)
    a0.set_ylabel(r"$\theta$ (slope)")
    a1.plot(records["step"], records["loss"], lw=0.8, color="C1")
    a1.set_ylabel(r"per-sample loss $(y - \theta x)^2$")
    a1.set_xlabel("iteration (SGD step)")
    if title:
        fig.suptitle(title)
    return fig


def rainbow_fan(x: np.ndarray, y: np.ndarray, theta: np.ndarray, *, n_lines: int = 200,
                ax: Axes | None = None, title: str | None = None) -> Figure:
    """The seed's second figure: data and the line y = theta_k x of each iteration.

    Lines are coloured by iteration with the ``rainbow`` colormap at alpha
    0.1, from purple (the first step) to red, between ``min(x)`` and ``max(x)``.
    """
    plt, _ = _plt()
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 7), layout="constrained")
    else:
        fig = ax.figure
    ax.scatter(x, y, s=14, color="k", zorder=3, label="data")
    k = min(n_lines, len(theta))
    cmap = plt.get_cmap("rainbow", k)
    xr = np.array([np.min(x), np.max(x)])
    for i in range(k):
        ax.plot(xr, theta[i] * xr, color=cmap(i), alpha=0.1)
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(1, k))
    fig.colorbar(sm, ax=ax, label="iteration")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    if title:
        ax.set_title(title)
    return fig


def divergence_curve(
    summary: pd.DataFrame,
    *,
    rate: str = "unstable",
    hue: str = "n_samples",
    predicted: pd.DataFrame | None = None,
    thresholds: Mapping[str, float] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """Rate versus lr (log axis), one line per ``hue`` value, Wilson 95 % bands.

    Parameters
    ----------
    summary : pandas.DataFrame
        Columns ``lr``, ``hue``, ``{rate}_rate``, ``{rate}_lo``, ``{rate}_hi``.
    predicted : pandas.DataFrame, optional
        Theory: columns ``lr``, ``hue``, ``probability``, drawn dashed.
    thresholds : mapping of label to lr, optional
        Vertical lines (population thresholds).
    """
    plt, sns = _plt()
    if ax is None:
        fig, ax = plt.subplots(figsize=(9, 5.5), layout="constrained")
    else:
        fig = ax.figure
    levels: Sequence = sorted(summary[hue].unique())
    colors = sns.color_palette("colorblind", len(levels))
    for c, level in zip(colors, levels, strict=True):
        g = summary[summary[hue] == level].sort_values("lr")
        ax.plot(g["lr"], g[f"{rate}_rate"], "o-", ms=3, color=c, label=f"{hue} = {level} (simulated)")
        ax.fill_between(g["lr"], g[f"{rate}_lo"], g[f"{rate}_hi"], color=c, alpha=0.25, lw=0)
        if predicted is not None:
            p = predicted[predicted[hue] == level].sort_values("lr")
            ax.plot(p["lr"], p["probability"], "--", color=c, lw=1.5, label=f"{hue} = {level} (theory)")
    styles = [":", "-."]
    for i, (label, v) in enumerate((thresholds or {}).items()):
        ax.axvline(v, color="0.3", ls=styles[i % 2], lw=1.2)
        ax.text(v, 1.02, f" {label}\n lr = {v:.4g}", transform=ax.get_xaxis_transform(),
                fontsize=9, va="bottom", ha="left" if i % 2 == 0 else "right")
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("learning rate lr (log scale)")
    ax.set_ylabel("fraction of runs diverging")
    ax.legend(fontsize=8, loc="upper left")
    if title:
        ax.set_title(title, pad=34)
    return fig


def lr_comparison(records: pd.DataFrame, frame: pd.DataFrame, *, theta_ref: float = 5.0,
                  zoom_max_lr: float = 0.25, zoom_steps: int = 200, title: str | None = None) -> Figure:
    """Theta over iterations for several learning rates on the same data.

    Two panels: the first ``zoom_steps`` iterations of the learning rates up
    to ``zoom_max_lr`` on a linear scale (the seed's 0.01 versus 0.04), and
    every learning rate over the whole run on a symmetric log scale.

    Parameters
    ----------
    records : pandas.DataFrame
        Recorded steps (``trajectory_id``, ``step``, ``theta``).
    frame : pandas.DataFrame
        The results table (maps ``trajectory_id`` to ``lr`` and ``status``).
    """
    plt, sns = _plt()
    fig, (a0, a1) = plt.subplots(2, 1, figsize=(10, 8), layout="constrained")
    meta = frame.set_index("trajectory_id")
    ids = sorted(records["trajectory_id"].unique(), key=lambda t: meta.loc[t, "lr"])
    colors = dict(zip(ids, sns.color_palette("colorblind", len(ids)), strict=True))
    for tid in ids:
        r = records[records["trajectory_id"] == tid]
        lr, status = meta.loc[tid, "lr"], meta.loc[tid, "status"]
        label = f"lr = {lr:g} ({status})"
        if lr <= zoom_max_lr:
            z = r[r["step"] <= zoom_steps]
            a0.plot(z["step"], z["theta"], color=colors[tid], lw=1.4, label=label)
        a1.plot(r["step"], r["theta"], color=colors[tid], lw=1.0, label=label)
    for ax in (a0, a1):
        ax.axhline(theta_ref, color="0.3", ls=":", lw=1, label=f"least-squares theta = {theta_ref:.4g}")
        ax.set_xlabel("iteration (SGD step)")
        ax.legend(fontsize=8, loc="lower right")
    a0.set_ylabel(r"$\theta$")
    a0.set_title(f"First {zoom_steps} iterations, lr <= {zoom_max_lr:g}", fontsize=11)
    a1.set_yscale("symlog", linthresh=10)
    a1.set_ylabel(r"$\theta$ (symmetric log beyond $\pm$10)")
    a1.set_title("All learning rates, whole run", fontsize=11)
    if title:
        fig.suptitle(title)
    return fig


def speed_vs_stability(summary: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Steps to converge (median, quartile band) and status fractions versus lr.

    ``summary`` is :meth:`lrsweep.Results.summary` grouped by ``lr``.
    """
    plt, sns = _plt()
    fig, (a0, a1) = plt.subplots(2, 1, figsize=(10, 7.5), sharex=True, layout="constrained")
    g = summary.sort_values("lr")
    a0.plot(g["lr"], g["converged_step_median"], "o-", ms=3, color="C0", label="median")
    a0.fill_between(g["lr"], g["converged_step_q25"], g["converged_step_q75"], color="C0", alpha=0.25,
                    lw=0, label="quartiles")
    a0.set_yscale("log")
    a0.set_ylabel("steps to converge\n(converged runs)")
    a0.legend(fontsize=8)
    palette = dict(zip(("converged", "slow", "oscillating", "diverged"),
                       sns.color_palette("colorblind", 4), strict=True))
    for status, c in palette.items():
        a1.plot(g["lr"], g[f"{status}_rate"], "-", color=c, lw=1.8, label=status)
        a1.fill_between(g["lr"], g[f"{status}_lo"], g[f"{status}_hi"], color=c, alpha=0.2, lw=0)
    a1.set_xscale("log")
    a1.set_ylim(-0.02, 1.02)
    a1.set_xlabel("learning rate lr (log scale)")
    a1.set_ylabel("fraction of runs")
    a1.legend(fontsize=8, ncol=4, loc="center left")
    if title:
        fig.suptitle(title)
    return fig


def oscillation_curve(per_lr: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Overshoots (sign changes of e) per epoch versus lr, with the prediction.

    ``per_lr`` has columns ``lr``, ``mean``, ``q25``, ``q75`` (sign changes per
    epoch over the runs) and ``predicted`` (n P(2 lr X^2 > 1)).
    """
    plt, _ = _plt()
    fig, ax = plt.subplots(figsize=(9, 5.5), layout="constrained")
    g = per_lr.sort_values("lr")
    ax.plot(g["lr"], g["mean"], "o", ms=4, color="C0", label="simulated mean over datasets")
    ax.fill_between(g["lr"], g["q25"], g["q75"], color="C0", alpha=0.25, lw=0, label="simulated quartiles")
    ax.plot(g["lr"], g["predicted"], "-", color="C3", lw=1.5, label=r"theory: $n\,P(2\,lr\,X^2 > 1)$")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate lr (log scale)")
    ax.set_ylabel("sign changes of theta - theta_ref per epoch")
    ax.legend(fontsize=9, loc="upper left")
    if title:
        ax.set_title(title)
    return fig


def heatmaps(summary: pd.DataFrame, *, x: str, y: str, value: str, panel: str,
             fmt: str = ".2f", label: str | None = None, title: str | None = None,
             cmap: str = "viridis", log: bool = False) -> Figure:
    """One heatmap of ``value`` over two axes per level of ``panel``, side by side.

    ``summary`` is tidy (one row per combination); a shared colour scale makes
    the panels comparable.
    """
    plt, sns = _plt()
    levels = list(summary[panel].unique())
    n_cols = summary[x].nunique()
    width = max(5.2, 0.62 * n_cols + 1.5)  # room for each annotated cell
    fig, axes = plt.subplots(1, len(levels), figsize=(width * len(levels) + 1, 4.6 + 0.1 * n_cols),
                             layout="constrained", squeeze=False)
    from matplotlib.colors import LogNorm

    vmin, vmax = float(summary[value].min()), float(summary[value].max())
    norm = LogNorm(vmin, vmax) if log else None
    for i, (ax, level) in enumerate(zip(axes[0], levels, strict=True)):
        grid = summary[summary[panel] == level].pivot(index=y, columns=x, values=value).sort_index(
            ascending=False)
        sns.heatmap(grid, ax=ax, annot=True, fmt=fmt, cmap=cmap, norm=norm,
                    vmin=None if log else vmin, vmax=None if log else vmax,
                    cbar=i == len(levels) - 1, cbar_kws={"label": label or value},
                    annot_kws={"fontsize": 9})
        ax.set_title(f"{panel} = {level}", fontsize=11)
        ax.set_xlabel(x)
        ax.set_ylabel(y if i == 0 else "")
    if title:
        fig.suptitle(title)
    return fig


def lines_with_bands(data: pd.DataFrame, *, x: str, y: str, lo: str, hi: str, hue: str,
                     theory: pd.DataFrame | None = None, theory_label: str = "theory",
                     xlabel: str | None = None, ylabel: str | None = None, logx: bool = True,
                     logy: bool = False, title: str | None = None) -> Figure:
    """One line (with a ``lo``-``hi`` band) per ``hue`` level; optional theory line(s).

    ``theory`` has columns ``x`` and ``y`` (one curve) or also ``hue`` (one per level).
    """
    plt, sns = _plt()
    fig, ax = plt.subplots(figsize=(9, 5.5), layout="constrained")
    levels = sorted(data[hue].unique())
    colors = sns.color_palette("colorblind", len(levels))
    for c, level in zip(colors, levels, strict=True):
        g = data[data[hue] == level].sort_values(x)
        ax.plot(g[x], g[y], "o-", ms=3, color=c, label=f"{hue} = {level}")
        ax.fill_between(g[x], g[lo], g[hi], color=c, alpha=0.2, lw=0)
        if theory is not None and hue in theory.columns:
            t = theory[theory[hue] == level].sort_values("x")
            ax.plot(t["x"], t["y"], "--", color=c, lw=1.3)
    if theory is not None and hue not in theory.columns:
        t = theory.sort_values("x")
        ax.plot(t["x"], t["y"], "--", color="0.2", lw=1.5, label=theory_label)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return fig


def survival_loglog(values: Mapping[str, np.ndarray], *, slopes: Mapping[str, float] | None = None,
                    xlabel: str = "|theta - theta_ref|", title: str | None = None) -> Figure:
    """Empirical survival functions P(V > v) on log-log axes, one per label.

    ``slopes`` (label -> alpha) adds a dashed line of slope ``-alpha`` through
    the curve's upper 5 % point.
    """
    plt, sns = _plt()
    fig, ax = plt.subplots(figsize=(9, 5.5), layout="constrained")
    colors = sns.color_palette("colorblind", len(values))
    for c, (label, v) in zip(colors, values.items(), strict=True):
        v = np.sort(np.asarray(v)[np.isfinite(v) & (np.asarray(v) > 0)])
        if len(v) == 0:
            continue
        surv = 1.0 - np.arange(len(v)) / len(v)
        ax.plot(v, surv, color=c, lw=1.5, label=label)
        if slopes and label in slopes and np.isfinite(slopes[label]):
            a = slopes[label]
            v0 = np.quantile(v, 0.95)
            xs = np.geomspace(v0, v[-1], 20)
            ax.plot(xs, 0.05 * (xs / v0) ** (-a), "--", color=c, lw=1.2, label=f"slope -alpha = {-a:.2f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel + " (log scale)")
    ax.set_ylabel("P(value > x) (log scale)")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return fig
