"""Heatmaps of a summary value over two axes, one panel per value of a third."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._validation import Boolean, Described, ParameterError, message, validate_params
from .checks import _COLUMN, _FRAME, _STR, _TITLE, _Colormap, _need_columns
from .theme import _settle, _subplots, theme

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure


@validate_params({"summary": _FRAME, "x": _COLUMN, "y": _COLUMN, "value": _COLUMN, "panel": _COLUMN,
                  "fmt": _STR, "label": _TITLE, "title": _TITLE, "cmap": _Colormap(), "log": Boolean()})
def heatmaps(summary: pd.DataFrame, *, x: str, y: str, value: str, panel: str,
             fmt: str = ".2f", label: str | None = None, title: str | None = None,
             cmap: str = "viridis", log: bool = False) -> Figure:
    """One heatmap of ``value`` over two axes per level of ``panel``, side by side.

    ``summary`` is tidy (one row per combination of ``panel``, ``y`` and
    ``x``); a shared colour scale makes the panels comparable (logarithmic
    with ``log=True``, which needs positive values).
    """
    owner = "heatmaps"
    _need_columns("summary", owner, summary, [x, y, value, panel])
    keys = list(dict.fromkeys([panel, y, x]))
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
        levels = list(summary[panel].unique())
        n_cols = summary[x].nunique()
        width = max(5.2, 0.62 * n_cols + 1.5)  # room for each annotated cell
        fig, axes = _subplots(1, len(levels), figsize=(width * len(levels) + 1, 4.6 + 0.1 * n_cols),
                              squeeze=False)
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
        return _settle(fig)
