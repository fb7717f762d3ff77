"""Figures of the divergence boundary: diverging windows of learning rates, critical lr versus n."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from .._validation import Boolean, Interval, NoneOr, validate_params
from .checks import _COLUMN, _FRAME, _STR, _TITLE, _LabelMap, _need_columns
from .curves import _threshold_lines, axis_label, divergence_curve, plain_log_ticks
from .theme import _palette, _settle, _subplots, theme

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

_LRS = NoneOr(_LabelMap(Interval("float", 0, np.inf, "neither"), "learning rates in the range (0, inf)"))


@validate_params({"summary": _FRAME, "intervals": _FRAME, "rate": _STR, "hue": _COLUMN,
                  "predicted": NoneOr(_FRAME), "thresholds": _LRS, "hue_label": _TITLE,
                  "predicted_label": _STR,
                  "ylabel": _TITLE, "title": _TITLE})
def diverging_windows(summary: pd.DataFrame, intervals: pd.DataFrame, *, rate: str = "unstable",
                      hue: str = "outlier_frac", predicted: pd.DataFrame | None = None,
                      thresholds: Mapping[str, float] | None = None, hue_label: str | None = None,
                      predicted_label: str = "theory", ylabel: str | None = None,
                      title: str | None = None) -> Figure:
    """A rate versus lr (top) over the diverging learning rates of single datasets (bottom).

    The top panel is :func:`divergence_curve` (points with Wilson bands,
    theory dashed, threshold lines); the bottom one draws, for each dataset,
    the intervals of lr on which it diverges (``S(lr) > 0``) as horizontal
    bars, one row per dataset, coloured by ``hue``: a window of small
    learning rates that diverges below a stable range shows as a bar left
    of a gap.

    Parameters
    ----------
    summary : pandas.DataFrame
        Columns ``lr``, ``hue``, ``{rate}_rate``, ``{rate}_lo``, ``{rate}_hi``.
    intervals : pandas.DataFrame
        Columns ``hue``, ``dataset`` (its row within its ``hue`` level),
        ``lo`` and ``hi`` (one diverging interval per row; ``hi`` may be inf).
    rate, hue, predicted, thresholds, hue_label, predicted_label
        As in :func:`divergence_curve` (``x`` is ``lr``, logarithmic).
    ylabel : str, optional
        Label of the rate axis.
    title : str, optional
        The figure's title.
    """
    owner = "diverging_windows"
    _need_columns("summary", owner, summary, ["lr", hue, f"{rate}_rate", f"{rate}_lo", f"{rate}_hi"])
    _need_columns("intervals", owner, intervals, [hue, "dataset", "lo", "hi"])
    if predicted is not None:
        _need_columns("predicted", owner, predicted, ["lr", hue, "probability"])
    with theme():
        fig, (top, bottom) = _subplots(2, 1, figsize=(10, 8.2), sharex=True,
                                       gridspec_kw={"height_ratios": [3, 2.2]})
        divergence_curve(summary, rate=rate, hue=hue, predicted=predicted, thresholds=thresholds, ax=top,
                         hue_label=hue_label, predicted_label=predicted_label, ylabel=ylabel, xlabel="")
        levels = sorted(summary[hue].unique())
        colors = dict(zip(levels, _palette(len(levels)), strict=True))
        lr_lo, lr_hi = float(summary["lr"].min()), float(summary["lr"].max())
        row, ticks, names = 0.0, [], []
        for level in levels:
            part = intervals[intervals[hue] == level]
            ids = sorted(part["dataset"].unique())
            first = row
            for d in ids:
                for _, iv in part[part["dataset"] == d].iterrows():
                    a, b = max(float(iv["lo"]), lr_lo), min(float(iv["hi"]), lr_hi)
                    if b > a:
                        bottom.plot([a, b], [row, row], "-", color=colors.get(level, "0.3"), lw=2.2,
                                    solid_capstyle="butt")
                row += 1
            if ids:
                ticks.append((first + row - 1) / 2)
                names.append(f"{level:g}" if isinstance(level, float) else str(level))
                row += 1.5  # a gap between levels
        bottom.set_xscale("log")
        plain_log_ticks(bottom.xaxis)
        bottom.set_xlim(*top.get_xlim())
        _threshold_lines(bottom, thresholds or {}, label=False)
        bottom.set_ylim(max(row - 1.0, 0.0), -1.0)  # one row per dataset, top down
        bottom.set_yticks(ticks, names)
        bottom.grid(axis="y", visible=False)
        bottom.set_ylabel("single datasets", fontsize=10)
        bottom.set_xlabel("learning rate lr (log scale); bars: the lr at which that dataset diverges, "
                          "S(lr) > 0")
        if title:
            fig.suptitle(title)
        return _settle(fig)


@validate_params({"table": _FRAME, "x": _COLUMN, "median": _COLUMN, "median_lo": _COLUMN,
                  "median_hi": _COLUMN, "q25": _COLUMN, "q75": _COLUMN, "theory": NoneOr(_FRAME),
                  "thresholds": _LRS,
                  "label": _STR, "theory_label": _STR, "logx": Boolean(), "xlabel": _TITLE, "ylabel": _TITLE,
                  "title": _TITLE})
def critical_lr_curve(table: pd.DataFrame, *, x: str = "n_samples", median: str = "critical_lr_median",
                      median_lo: str = "critical_lr_median_lo", median_hi: str = "critical_lr_median_hi",
                      q25: str = "critical_lr_q25", q75: str = "critical_lr_q75",
                      theory: pd.DataFrame | None = None, thresholds: Mapping[str, float] | None = None,
                      label: str = "datasets that ran", theory_label: str = "theory",
                      logx: bool = True, xlabel: str | None = None, ylabel: str | None = None,
                      title: str | None = None) -> Figure:
    """A distribution of learning rates versus ``x``: median with its interval, quartiles, theory lines.

    The sample (e.g. the first critical lr of the datasets that ran) is
    drawn as points with 95 % error bars on the median and a light quartile
    band; the theory (e.g. the same quantiles over many Monte Carlo
    datasets) as lines: median dashed with its own interval as a thin band,
    quartiles dotted. Horizontal ``thresholds`` are labelled on their line.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``x``, ``median``, ``median_lo``, ``median_hi``, ``q25``, ``q75``.
    x, median, median_lo, median_hi, q25, q75 : str
        Its column names.
    theory : pandas.DataFrame, optional
        Columns ``x``, ``median``, ``median_lo``, ``median_hi``, ``q25``, ``q75`` (these names).
    thresholds : mapping of label to lr, optional
        Horizontal lines.
    label, theory_label : str
        What the points and the lines are, in the legend.
    logx : bool
        Logarithmic ``x`` axis.
    xlabel, ylabel, title : str, optional
        Labels (default: readable names of the columns) and title.
    """
    owner = "critical_lr_curve"
    _need_columns("table", owner, table, [x, median, median_lo, median_hi, q25, q75])
    if theory is not None:
        _need_columns("theory", owner, theory, [x, "median", "median_lo", "median_hi", "q25", "q75"])
    from matplotlib.ticker import NullFormatter
    from matplotlib.transforms import offset_copy

    with theme():
        fig, ax = _subplots(figsize=(10, 5.6))
        pal = _palette()
        sim, th = pal[0], pal[3]
        t = table.sort_values(x)
        ax.fill_between(t[x], t[q25], t[q75], color=sim, alpha=0.15, lw=0, label=f"{label}: quartiles")
        err = np.vstack([t[median] - t[median_lo], t[median_hi] - t[median]])
        ax.errorbar(t[x], t[median], yerr=err, fmt="o", ms=5, color=sim, capsize=3, lw=1.3,
                    label=f"{label}: median, 95 % interval")
        if theory is not None:
            u = theory.sort_values(x)
            ax.fill_between(u[x], u["median_lo"], u["median_hi"], color=th, alpha=0.25, lw=0)
            ax.plot(u[x], u["median"], "--", color=th, lw=1.6, label=f"{theory_label}: median (band: 95 %)")
            ax.plot(u[x], u["q25"], ":", color=th, lw=1.4, label=f"{theory_label}: quartiles")
            ax.plot(u[x], u["q75"], ":", color=th, lw=1.4)
        styles = ["-.", (0, (5, 2, 1, 2)), (0, (1, 3))]
        beside = offset_copy(ax.get_yaxis_transform(), fig=fig, x=4, units="points")
        for i, (name, v) in enumerate((thresholds or {}).items()):
            ax.axhline(v, color="0.25", ls=styles[i % len(styles)], lw=1.2, zorder=1)
            ax.text(1.0, v, f"{name}:\n{v:.4g}", transform=beside, ha="left", va="center", fontsize=8.5)
        if logx:
            ax.set_xscale("log")
            ax.set_xticks(sorted(table[x].unique()), [f"{v:g}" for v in sorted(table[x].unique())])
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(xlabel or (axis_label(x) + (" (log scale)" if logx else "")))
        ax.set_ylabel(ylabel or axis_label(median))
        handles, labels = ax.get_legend_handles_labels()
        first = labels.index(f"{label}: median, 95 % interval")  # the points first, the theory after
        order = [first] + [i for i in range(len(labels)) if i != first]
        ax.legend([handles[i] for i in order], [labels[i] for i in order], fontsize=8, loc="upper left",
                  bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
        if title:
            ax.set_title(title)
        return _settle(fig)
