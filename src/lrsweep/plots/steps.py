"""Figures of steps to converge: medians over every run with their intervals, censored cells drawn apart.

A run that did not converge within its budget is *censored*: its steps to
converge are only known to exceed the budget. A median over every run is
then either determined (drawn as a filled marker with its 95 % interval as
a bar), determined with an interval open above (the bar runs to the budget
and ends in an open triangle) or itself beyond the budget (an open triangle
at the budget, no bar). The frames carry ``inf`` for "beyond the budget"
(:func:`lrsweep.studies.steps.steps_median`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validation import Interval, NoneOr, validate_params
from .checks import _COLUMN, _FRAME, _STR, _TITLE, _LabelMap, _need_columns
from .theme import _palette, _settle, theme

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Line styles of the threshold marks, in the order given.
_THRESHOLD_STYLES = (":", "-.", (0, (5, 2, 1, 2)), "--")
_GREY = (0.3, 0.3, 0.3)


def _figure(figsize: tuple[float, float]) -> Figure:
    """A new pyplot figure in constrained layout (as :func:`lrsweep.plots.theme._subplots`)."""
    import matplotlib.pyplot as plt

    return plt.figure(figsize=figsize, layout="constrained")


def draw_censored_medians(ax: Axes, x: Any, median: Any, lo: Any, hi: Any, budget: Any, *, color: Any,
                          label: str | None = None, marker: str = "o", ls: Any = "-") -> None:
    """Medians with their intervals on ``ax``; ``inf`` means beyond ``budget`` (drawn open at the budget).

    Determined medians: filled markers joined by a line (broken where a
    median is censored) and a bar from ``lo`` to ``hi``; where ``hi`` is
    ``inf`` the bar runs to the budget and ends in an open triangle. A median
    beyond the budget: an open triangle at the budget.
    """
    x, med, lo, hi = (np.asarray(a, dtype=np.float64) for a in (x, median, lo, hi))
    budget = np.broadcast_to(np.asarray(budget, dtype=np.float64), x.shape)
    det = np.isfinite(med)
    cens = np.isinf(med)
    ax.plot(x, np.where(det, med, np.nan), marker=marker, ms=4, ls=ls, lw=1.2, color=color, label=label)
    bars = det & np.isfinite(lo)
    top = np.where(np.isfinite(hi), hi, budget)
    ax.vlines(x[bars], lo[bars], top[bars], color=color, lw=1.3, alpha=0.8)
    open_top = bars & np.isinf(hi)
    ax.plot(x[open_top], budget[open_top], ls="none", marker="^", ms=5, mfc="none", mew=1.0, color=color)
    ax.plot(x[cens], budget[cens], ls="none", marker="^", ms=6, mfc="none", mew=1.2, color=color)


def mark_thresholds(ax: Axes, thresholds: Mapping[str, float], *, text: bool = True) -> None:
    """Vertical grey lines at ``thresholds`` (label -> lr), labelled just above the axes at the line.

    Labels alternate between ending at the line (the first, third, ...) and starting at it, so that two
    close thresholds do not overwrite each other; a newline in a label keeps it narrow.
    """
    trans = ax.get_xaxis_transform()
    for i, (label, v) in enumerate(thresholds.items()):
        ax.axvline(v, color=_GREY, ls=_THRESHOLD_STYLES[i % len(_THRESHOLD_STYLES)], lw=1.1, zorder=1)
        if text:
            ax.text(v, 1.01, label, transform=trans, va="bottom", ha="right" if i % 2 == 0 else "left",
                    fontsize=8, color=_GREY, linespacing=1.0)


def censoring_handles(color: Any = _GREY) -> list:
    """Legend entries that explain the open triangles."""
    from matplotlib.lines import Line2D

    return [Line2D([], [], ls="none", marker="^", ms=6, mfc="none", color=color,
                   label="median beyond the budget\n(censored: at least half did not converge)"),
            Line2D([], [], ls="-", marker="^", ms=5, mfc="none", color=color,
                   label="interval open above the budget")]


@validate_params({"summary": _FRAME, "panel": _COLUMN, "panel_name": NoneOr(_STR), "steps": _STR,
                  "reference": NoneOr(_COLUMN),
                  "reference_label": _STR, "theory": NoneOr(_FRAME), "theory_label": _STR,
                  "thresholds": NoneOr(_LabelMap(Interval("float", 0, np.inf, "neither"),
                                                 "learning rates in the range (0, inf)")),
                  "title": _TITLE})
def steps_to_converge(summary: pd.DataFrame, *, panel: str, panel_name: str | None = None,
                      steps: str = "steps", reference: str | None = None, reference_label: str = "theory",
                      theory: pd.DataFrame | None = None,
                      theory_label: str = "theory", thresholds: Mapping[str, float] | None = None,
                      title: str | None = None) -> Figure:
    """Median steps to converge versus lr (log-log), one panel per ``panel`` value, censoring shown.

    Parameters
    ----------
    summary : pandas.DataFrame
        One row per (``panel``, ``lr``): ``lr``, ``panel``, ``{steps}_median``,
        ``{steps}_median_lo``, ``{steps}_median_hi`` (``inf`` for "beyond the
        budget") and ``budget`` (the run's number of steps, drawn as a dotted line).
    panel : str
        The column with one panel (and one colour) per value.
    panel_name : str, optional
        How the panels name it (default the column's name).
    steps : str
        Stem of the median columns.
    reference : str, optional
        A column of ``summary`` to divide the medians by; adds a bottom panel
        of ``median / reference`` with its interval, every ``panel`` value
        (slightly offset in lr) together; censored medians are left out there.
    reference_label : str
        What ``reference`` is, for the bottom panel's axis label.
    theory : pandas.DataFrame, optional
        Columns ``lr`` and ``steps``: one theory curve, dashed, in every panel.
    theory_label : str
        Its legend entry.
    thresholds : mapping of label to lr, optional
        Vertical lines, labelled along the line.
    title : str, optional
        Figure title.
    """
    owner = "steps_to_converge"
    cols = [f"{steps}_median", f"{steps}_median_lo", f"{steps}_median_hi"]
    _need_columns("summary", owner, summary,
                  ["lr", panel, *cols, "budget", *([reference] if reference else [])])
    if theory is not None:
        _need_columns("theory", owner, theory, ["lr", "steps"])
    thresholds = thresholds or {}
    name = panel_name or panel
    with theme():
        levels = sorted(summary[panel].unique())
        colors = _palette(len(levels))
        fig = _figure((4.3 * max(len(levels), 2) + 2.6, 8.0 if reference else 5.2))
        mosaic = [[str(i) for i in range(len(levels))]] + ([["ratio"] * len(levels)] if reference else [])
        axd = fig.subplot_mosaic(mosaic, height_ratios=[2.0, 1.0] if reference else None)
        top = [axd[str(i)] for i in range(len(levels))]
        finite = summary[[*cols, "budget"]].to_numpy(dtype=np.float64)
        ymax = np.nanmax(np.where(np.isfinite(finite), finite, np.nan))
        ymin = np.nanmin(np.where(np.isfinite(finite) & (finite > 0), finite, np.nan))
        for i, (ax, level, c) in enumerate(zip(top, levels, colors, strict=True)):
            g = summary[summary[panel] == level].sort_values("lr")
            if theory is not None:
                t = theory.sort_values("lr")
                ax.plot(t["lr"], t["steps"], "--", color=_GREY, lw=1.4, label=theory_label)
            budget = g["budget"].to_numpy(dtype=np.float64)
            ax.axhline(budget.max(), color=c, ls=":", lw=1.0)
            ax.text(0.5, budget.max(), f"budget {budget.max():,.0f} steps", color=c, fontsize=8, va="bottom",
                    ha="center", transform=ax.get_yaxis_transform())
            draw_censored_medians(ax, g["lr"], *(g[k] for k in cols), budget, color=c,
                                  label="simulated median (95 % interval)")
            mark_thresholds(ax, thresholds)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_ylim(ymin / 1.6, ymax * 1.6)
            ax.set_title(f"{name} = {level}", fontsize=11, pad=30 if thresholds else 6)
            ax.set_xlabel("learning rate lr (log scale)")
            if i == 0:
                ax.set_ylabel("steps to converge (log scale)")
            else:  # the same limits in every panel: their labels once
                ax.tick_params(labelleft=False)
        handles, labels = top[0].get_legend_handles_labels()
        handles += censoring_handles()
        labels += [h.get_label() for h in censoring_handles()]
        if reference:
            ax = axd["ratio"]
            ax.axhline(1.0, color=_GREY, ls="--", lw=1.2)
            shift = np.exp(0.025 * (np.arange(len(levels)) - (len(levels) - 1) / 2))
            for level, c, s in zip(levels, colors, shift, strict=True):
                g = summary[summary[panel] == level].sort_values("lr")
                ref = g[reference].to_numpy(dtype=np.float64)
                ok = np.isfinite(ref) & (ref > 0) & np.isfinite(g[cols[0]].to_numpy(dtype=np.float64))
                g, ref = g[ok], ref[ok]
                draw_censored_medians(ax, g["lr"] * s, *(g[k] / ref for k in cols),
                                      g["budget"].to_numpy(dtype=np.float64) / ref, color=c,
                                      label=f"{name} = {level}")
            mark_thresholds(ax, thresholds, text=False)
            ax.set_xscale("log")
            lim = ax.get_ylim()  # a bar of a cell near the threshold must not set the range
            ax.set_ylim(max(lim[0], 0.5), min(lim[1], 3.0))
            ax.set_xlim(*top[0].get_xlim())
            ax.set_xlabel("learning rate lr (log scale; the sizes slightly offset)")
            ax.set_ylabel(f"median / {reference_label}")
            h2, l2 = ax.get_legend_handles_labels()
            ax.legend(h2, l2, fontsize=8, loc="upper left")
        fig.legend(handles, labels, loc="outside lower center", ncol=len(handles), fontsize=8)
        if title:
            fig.suptitle(title)
        return _settle(fig)
