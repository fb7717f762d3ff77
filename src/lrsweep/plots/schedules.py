"""Figures of learning-rate schedules: a quantity versus the budget, one colour per schedule, exact lines.

The simulation is drawn as points with their 95 % intervals (slightly
offset per schedule so that the bars do not hide each other), the exact
theory as a line of the same colour, horizontal references (a noise floor,
the rounding floor, ``|e_T| = |e_0|``) as grey lines labelled at their right
end, and a censored point (its value only bounded: beyond the rounding floor
or the divergence bound) as an open triangle at that bound.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._validation import Boolean, Interval, NoneOr, validate_params
from .checks import _COLUMN, _FRAME, _STR, _TITLE, _need_columns
from .curves import plain_log_ticks
from .theme import _palette, _settle, _subplots, theme

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["versus_budget"]

_GREY = (0.3, 0.3, 0.3)
_REF_STYLES = (":", "--", "-.")


@validate_params(
    {
        "summary": _FRAME,
        "y": _COLUMN,
        "lo": _COLUMN,
        "hi": _COLUMN,
        "hue": _COLUMN,
        "panel": _COLUMN,
        "x": _COLUMN,
        "theory": NoneOr(_FRAME),
        "references": NoneOr(_FRAME),
        "censored": NoneOr(_COLUMN),
        "ncols": Interval("int", 1, 16, "both"),
        "sharey": Boolean(),
        "ymin": NoneOr(Interval("float", -np.inf, np.inf, "neither")),
        "ylabel": _STR,
        "xlabel": _STR,
        "logy": Boolean(),
        "panel_title": _STR,
        "title": _TITLE,
    }
)
def versus_budget(
    summary: pd.DataFrame,
    *,
    y: str,
    lo: str,
    hi: str,
    hue: str = "schedule",
    panel: str = "panel",
    x: str = "budget",
    theory: pd.DataFrame | None = None,
    references: pd.DataFrame | None = None,
    censored: str | None = None,
    ncols: int = 4,
    sharey: bool = True,
    ymin: float | None = None,
    ylabel: str = "",
    xlabel: str = "budget (epochs, log scale)",
    logy: bool = True,
    panel_title: str = "{}",
    title: str | None = None,
) -> Figure:
    """A quantity versus the budget, one panel per ``panel`` value, one colour per ``hue`` value.

    Parameters
    ----------
    summary : pandas.DataFrame
        One row per (``panel``, ``hue``, ``x``): the simulated estimate ``y``
        and its interval ``lo``, ``hi`` (drawn as points with bars).
    y, lo, hi : str
        Columns of the estimate and its interval.
    hue, panel, x : str
        Columns of the colour (a schedule), the panel and the budget.
    theory : pandas.DataFrame, optional
        Columns ``panel``, ``hue``, ``x`` and ``theory``: one line per (panel, hue), same colour.
    references : pandas.DataFrame, optional
        Columns ``panel``, ``label`` and ``value``: grey horizontal lines labelled at their right end.
    censored : str, optional
        A boolean column: the point is only bounded (drawn open, at ``y``, without a bar).
    ncols : int
        Panels per row.
    sharey : bool
        One y axis for all panels.
    ymin : float, optional
        Lower limit of the y axis (theory lines continue below it: a value far below the
        resolution of the simulation does not set the range).
    ylabel, xlabel : str
        Axis labels (the x axis is logarithmic).
    logy : bool
        Logarithmic y axis.
    panel_title : str
        Format of each panel's title (``{}`` is the panel value).
    title : str, optional
        The figure's title: its one message.
    """
    _need_columns(
        "summary", "versus_budget", summary, [x, y, lo, hi, hue, panel] + ([censored] if censored else [])
    )
    if theory is not None:
        _need_columns("theory", "versus_budget", theory, [panel, hue, x, "theory"])
    if references is not None:
        _need_columns("references", "versus_budget", references, [panel, "label", "value"])
    panels = list(dict.fromkeys(summary[panel]))
    hues = list(dict.fromkeys(summary[hue]))
    with theme():
        cols = min(ncols, len(panels))
        rows = -(-len(panels) // cols)
        fig, axes = _subplots(
            rows, cols, figsize=(4.6 * cols + 2.6, 4.0 * rows + 0.8), sharey=sharey, squeeze=False
        )
        flat = axes.ravel()
        for ax in flat[len(panels) :]:
            ax.set_visible(False)
        colors = dict(zip(hues, _palette(len(hues)), strict=True))
        spread = np.log(1.12)
        for ax, pv in zip(flat, panels, strict=False):
            part = summary[summary[panel] == pv]
            for j, hv in enumerate(hues):
                g = part[part[hue] == hv].sort_values(x)
                if g.empty:
                    continue
                c = colors[hv]
                xs = g[x].to_numpy(dtype=float) * np.exp(spread * (j - (len(hues) - 1) / 2) / len(hues))
                cen = g[censored].to_numpy(dtype=bool) if censored else np.zeros(len(g), dtype=bool)
                val = g[y].to_numpy(dtype=float)
                ax.plot(
                    xs[~cen],
                    val[~cen],
                    ls="none",
                    marker="o",
                    ms=4.5,
                    color=c,
                    label=hv if pv == panels[0] else None,
                    zorder=3,
                )
                ax.vlines(
                    xs[~cen],
                    g[lo].to_numpy(dtype=float)[~cen],
                    g[hi].to_numpy(dtype=float)[~cen],
                    color=c,
                    lw=1.3,
                    zorder=3,
                )
                ax.plot(
                    xs[cen], val[cen], ls="none", marker="v", ms=6, mfc="none", mew=1.2, color=c, zorder=3
                )
                if theory is not None:
                    t = theory[(theory[panel] == pv) & (theory[hue] == hv)].sort_values(x)
                    ax.plot(t[x], t["theory"], ls="-", lw=1.2, color=c, alpha=0.85, zorder=2)
            ax.set_xscale("log")
            if logy:
                ax.set_yscale("log")
            plain_log_ticks(ax.xaxis)
            ax.set_title(panel_title.format(pv), fontsize=10)
            ax.set_xlabel(xlabel if ax in axes[-1] or len(panels) <= cols else "")
            if ymin is not None:
                ax.set_ylim(bottom=ymin)
        for ax in axes[:, 0]:
            ax.set_ylabel(ylabel)
        for ax, pv in zip(flat, panels, strict=False):  # after the shared y limits are settled
            if references is None:
                continue
            refs = references[references[panel] == pv]
            for i, r in enumerate(refs.itertuples()):
                lo_y, hi_y = ax.get_ylim()
                if not min(lo_y, hi_y) <= r.value <= max(lo_y, hi_y):
                    continue
                ax.axhline(r.value, color=_GREY, ls=_REF_STYLES[i % len(_REF_STYLES)], lw=1.1, zorder=1)
                ax.annotate(
                    r.label,
                    (1.0, r.value),
                    xycoords=("axes fraction", "data"),
                    xytext=(-3, 2),
                    textcoords="offset points",
                    ha="right",
                    va="bottom",
                    fontsize=8,
                    color=_GREY,
                )
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], ls="none", marker="o", ms=4.5, color=colors[h], label=h) for h in hues]
        handles += [
            Line2D([], [], ls="-", color="0.3", label="exact theory (line)"),
            Line2D([], [], ls="none", marker="o", color="0.3", label="simulation, 95 % interval"),
        ]
        if censored:
            handles.append(
                Line2D([], [], ls="none", marker="v", mfc="none", color="0.3", label="censored: only bounded")
            )
        fig.legend(handles=handles, loc="outside right center", fontsize=8.5, frameon=False)
        if title:
            fig.suptitle(title, fontsize=11)
        return _settle(fig)
