"""Heatmaps of a summary value over two axes, one panel per value of a third."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from .._validation import Boolean, Described, NoneOr, OneOf, ParameterError, message, validate_params
from .checks import _COLUMN, _FRAME, _STR, _TITLE, _Colormap, _LabelMap, _need_columns, _Real
from .curves import plain_log_ticks
from .theme import _settle, _subplots, theme

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


@validate_params({"summary": _FRAME, "x": _COLUMN, "y": _COLUMN, "value": _COLUMN, "panel": NoneOr(_COLUMN),
                  "fmt": _STR, "label": _TITLE, "title": _TITLE, "cmap": _Colormap(), "log": Boolean(),
                  "lo": NoneOr(_COLUMN), "hi": NoneOr(_COLUMN), "proportion": Boolean(), "xfmt": _TITLE,
                  "xlabel": _TITLE, "ylabel": _TITLE, "panel_format": _STR,
                  "marks": NoneOr(_LabelMap(_Real(), "real numbers")), "xscale": OneOf(("linear", "log")),
                  "points": NoneOr(_FRAME), "points_label": _STR})
def heatmaps(summary: pd.DataFrame, *, x: str, y: str, value: str, panel: str | None = None,
             fmt: str = ".2f", label: str | None = None, title: str | None = None,
             cmap: str = "viridis", log: bool = False, lo: str | None = None, hi: str | None = None,
             proportion: bool = False, xfmt: str | None = None, xlabel: str | None = None,
             ylabel: str | None = None, panel_format: str = "{panel} = {level}",
             marks: Mapping[str, float] | None = None, xscale: str = "linear",
             points: pd.DataFrame | None = None, points_label: str = "") -> Figure:
    """One heatmap of ``value`` over two axes per level of ``panel``, side by side.

    ``summary`` is tidy (one row per combination of ``panel``, ``y`` and
    ``x``); a shared colour scale makes the panels comparable (logarithmic
    with ``log=True``, which needs positive values).

    Parameters
    ----------
    summary : pandas.DataFrame
        Columns ``x``, ``y``, ``value`` (and ``panel``, ``lo``, ``hi`` if given).
    x, y, value : str
        Columns of the horizontal and vertical axes and of the colour.
    panel : str, optional
        One panel per value of this column (one panel if None).
    fmt : str
        Format of the numbers written in the cells.
    label, title : str, optional
        Colour bar label and figure title.
    cmap : str or Colormap
        Colour map.
    log : bool
        Logarithmic colour scale.
    lo, hi : str, optional
        Columns of the interval of each cell (a Wilson interval, an
        order-statistic interval), written under the value. Both or neither.
    proportion : bool
        The value is a proportion with its interval: a cell whose value
        equals ``lo`` (no event: 0 of k runs) shows ``<hi``, the upper bound of
        what it can mean, and one whose value equals ``hi`` (all k runs)
        shows ``>lo``.
    xfmt : str, optional
        Format of the ``x`` tick labels (e.g. ``".2f"``); default ``str``.
    xlabel, ylabel : str, optional
        Axis labels (default: the column names).
    panel_format : str
        Panel titles, with fields ``panel`` (the column) and ``level``.
    marks : mapping of label to float, optional
        Vertical lines at these values of ``x`` (placed between the cells by
        interpolation on ``xscale``), labelled next to the line.
    xscale : {"linear", "log"}
        How ``x`` is spaced, for placing ``marks`` and ``points``.
    points : pandas.DataFrame, optional
        Markers at a continuous ``x`` in the row of each ``y`` (columns ``x``
        and ``y``, and ``panel`` if given), e.g. where a theory crosses 1/2.
    points_label : str
        What the markers are, in a legend under the panels.
    """
    owner = "heatmaps"
    _need_columns("summary", owner, summary, [x, y, value, *(c for c in (panel, lo, hi) if c)])
    if points is not None:
        _need_columns("points", owner, points, [x, y, *([panel] if panel else [])])
    if (lo is None) != (hi is None):
        raise ParameterError(message("hi" if hi is None else "lo", owner, "a column name when "
                                     f"{'lo' if hi is None else 'hi'} is given (both or neither)", None))
    keys = list(dict.fromkeys([*([panel] if panel else []), y, x]))
    if summary.empty:
        raise ParameterError(message("summary", owner, "a DataFrame with at least one row",
                                     Described("an empty DataFrame")))
    if summary.duplicated(keys).any():
        dup = {k: v.item() if isinstance(v, np.generic) else v
               for k, v in summary.loc[summary.duplicated(keys), keys].iloc[0].items()}
        one_row = "a DataFrame with one row per combination of " + ", ".join(repr(k) for k in keys)
        raise ParameterError(message("summary", owner, one_row, Described(f"repeated rows for {dup}")))
    if log and (summary[value] <= 0).any():
        raise ParameterError(message("summary", owner, f"a DataFrame with positive values of {value!r} "
                                     "(log=True)", summary.loc[summary[value] <= 0, value].iloc[0]))
    import seaborn as sns
    from matplotlib.colors import LogNorm

    with theme():
        levels = list(summary[panel].unique()) if panel else [None]
        n_cols, n_rows = summary[x].nunique(), summary[y].nunique()
        two_lines = lo is not None
        width = max(5.2, (0.72 if two_lines else 0.62) * n_cols + 1.5)  # room for each annotated cell
        height = max(4.6 + 0.1 * n_cols, (0.62 * n_rows + 2.2) if two_lines else 0.0)
        fig, axes = _subplots(1, len(levels), figsize=(width * len(levels) + 1, height), squeeze=False)
        vmin, vmax = float(summary[value].min()), float(summary[value].max())
        norm = LogNorm(vmin, vmax) if log else None
        for i, (ax, level) in enumerate(zip(axes[0], levels, strict=True)):
            part = summary if panel is None else summary[summary[panel] == level]
            grid = part.pivot(index=y, columns=x, values=value).sort_index(ascending=False)
            annot = _annotations(part, grid, x, y, value, lo, hi, fmt, proportion)
            sns.heatmap(grid, ax=ax, annot=annot, fmt="", cmap=cmap, norm=norm,
                        vmin=None if log else vmin, vmax=None if log else vmax,
                        cbar=i == len(levels) - 1, cbar_kws={"label": label or value},
                        annot_kws={"fontsize": 8 if two_lines else 9, "linespacing": 1.1})
            if log and i == len(levels) - 1:
                plain_log_ticks(ax.collections[0].colorbar.ax.yaxis)
            if xfmt is not None:
                ax.set_xticklabels([format(v, xfmt) for v in grid.columns], rotation=0)  # short labels
            if panel is not None:
                ax.set_title(panel_format.format(panel=panel, level=level), fontsize=11)
            ax.set_xlabel(xlabel or x)
            ax.set_ylabel((ylabel or y) if i == 0 else "")
            _marks(ax, grid, marks or {}, xscale, label=i == len(levels) - 1)
            if points is not None:
                pts = points if panel is None else points[points[panel] == level]
                _points(ax, grid, pts, x, y, xscale, points_label if i == 0 else None)
        if points is not None and points_label:
            fig.legend(loc="outside lower center", fontsize=9, frameon=False)
        if title:
            fig.suptitle(title)
        return _settle(fig)


def _annotations(part: pd.DataFrame, grid: pd.DataFrame, x: str, y: str, value: str, lo: str | None,
                 hi: str | None, fmt: str, proportion: bool) -> np.ndarray:
    """The text of each cell of ``grid``: the value, and its interval under it."""
    out = np.full(grid.shape, "", dtype=object)
    rows = {v: i for i, v in enumerate(grid.index)}
    cols = {v: j for j, v in enumerate(grid.columns)}
    for _, r in part.iterrows():
        v = r[value]
        text = format(v, fmt) if np.isfinite(v) else "n/a"
        if lo is not None and hi is not None:
            a, b = r[lo], r[hi]
            if proportion and v <= a and b > v:
                text = f"<{format(b, fmt)}"
            elif proportion and v >= b and a < v:
                text = f">{format(a, fmt)}"
            elif np.isfinite(a) and np.isfinite(b):
                text += f"\n[{format(a, fmt)}, {format(b, fmt)}]"
        out[rows[r[y]], cols[r[x]]] = text
    return out


def _cell_position(grid: pd.DataFrame, values: np.ndarray, xscale: str) -> np.ndarray:
    """Horizontal positions (cell centres at j + 1/2) of continuous ``x`` values, by interpolation."""
    xs = np.asarray(grid.columns, dtype=float)
    t = np.log if xscale == "log" else (lambda v: v)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.interp(t(np.asarray(values, dtype=float)), t(xs), np.arange(len(xs)) + 0.5,
                         left=np.nan, right=np.nan)


def _marks(ax: Axes, grid: pd.DataFrame, marks: Mapping[str, float], xscale: str, *, label: bool) -> None:
    """Dashed lines through the grid under the cell numbers, triangles on its edges, labels above it."""
    styles = ["--", ":", "-."]
    for k, (name, v) in enumerate(marks.items()):
        (pos,) = _cell_position(grid, np.array([v]), xscale)
        if not np.isfinite(pos):
            continue
        ax.axvline(pos, color="black", lw=1.0, ls=styles[k % len(styles)], zorder=2.5)
        ax.plot([pos, pos], [0, 1], ls="none", marker="v", ms=7, color="black", clip_on=False, zorder=4,
                transform=ax.get_xaxis_transform(), markevery=[1])
        ax.plot([pos, pos], [0, 1], ls="none", marker="^", ms=7, color="black", clip_on=False, zorder=4,
                transform=ax.get_xaxis_transform(), markevery=[0])
        if label:
            ax.text(pos, 1.0, f"{name}: {v:.4g}\n", transform=ax.get_xaxis_transform(), ha="center",
                    va="bottom", fontsize=8.5, linespacing=0.9)


def _points(ax: Axes, grid: pd.DataFrame, pts: pd.DataFrame, x: str, y: str, xscale: str,
            label: str | None) -> None:
    rows = {v: i for i, v in enumerate(grid.index)}
    keep = pts[pts[y].isin(list(rows))]
    px = _cell_position(grid, keep[x].to_numpy(), xscale)
    py = np.array([rows[v] for v in keep[y]], dtype=float) + 0.17  # near the top of the cell, above its text
    ax.plot(px, py, "D", ms=5.5, mfc="white", mec="black", mew=1.0, ls="none", zorder=5, label=label or None)
