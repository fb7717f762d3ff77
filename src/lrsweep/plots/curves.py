"""Figures of summaries versus an axis: rates with Wilson bands, steps, overshoots, survival functions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validation import Boolean, Described, Interval, NoneOr, ParameterError, message, validate_params
from .checks import _AX, _COLUMN, _FRAME, _STR, _TITLE, _LabelMap, _need_columns, _Real, _Samples
from .theme import _palette, _settle, _subplots, theme

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


#: Readable names of the axes a figure may group by (no column name leaks into a legend or label).
AXIS_LABELS = {"n_samples": "dataset size n", "outlier_frac": "outlier fraction",
               "outlier_scale": "outlier scale", "outlier_kind": "outlier kind", "x_scale": "x scale",
               "noise": "noise", "order": "sample order", "theta0": "theta0", "lr": "learning rate lr",
               "seed": "seed"}


def axis_label(column: str) -> str:
    """The readable name of ``column`` (itself if it has none)."""
    return AXIS_LABELS.get(column, column)


@validate_params({"summary": _FRAME, "rate": _STR, "hue": _COLUMN, "predicted": NoneOr(_FRAME),
                  "thresholds": NoneOr(_LabelMap(Interval("float", 0, np.inf, "neither"),
                                                 "learning rates in the range (0, inf)")),
                  "ax": _AX, "title": _TITLE, "x": _COLUMN, "logx": Boolean(), "xlabel": _TITLE,
                  "ylabel": _TITLE, "hue_label": _TITLE, "predicted_label": _STR,
                  "deviation": NoneOr(_COLUMN)})
def divergence_curve(
    summary: pd.DataFrame,
    *,
    rate: str = "unstable",
    hue: str = "n_samples",
    predicted: pd.DataFrame | None = None,
    thresholds: Mapping[str, float] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    x: str = "lr",
    logx: bool = True,
    xlabel: str | None = None,
    ylabel: str | None = None,
    hue_label: str | None = None,
    predicted_label: str = "theory",
    deviation: str | None = None,
) -> Figure:
    """Rate versus ``x`` (lr by default, log axis), one colour per ``hue`` value, Wilson 95 % bands.

    Simulation is drawn as points with their band, theory as dashed lines of
    the same colour; the legend (outside the axes, never over the data) has
    one entry per colour and one per line style.

    Parameters
    ----------
    summary : pandas.DataFrame
        Columns ``x``, ``hue``, ``{rate}_rate``, ``{rate}_lo``, ``{rate}_hi``
        (and ``deviation`` if given).
    rate : str
        The rate to draw (the prefix of its columns).
    hue : str
        The column with one colour per value.
    predicted : pandas.DataFrame, optional
        Theory: columns ``x``, ``hue``, ``probability``, drawn dashed.
    thresholds : mapping of label to lr, optional
        Vertical lines (population thresholds), labelled next to the line.
    ax : matplotlib Axes, optional
        Draw there (the axes keep the caller's style) instead of in a new figure.
    title : str, optional
        The figure's title.
    x : str
        The column on the horizontal axis (default ``lr``).
    logx : bool
        Logarithmic horizontal axis (default True).
    xlabel, ylabel, hue_label : str, optional
        Axis labels and legend title; by default readable names of ``x``,
        ``rate`` and ``hue``.
    predicted_label : str
        What the dashed lines are, in the legend.
    deviation : str, optional
        A column of ``summary`` with the deviation of simulation from theory
        in standard errors, drawn in a panel below with the band |z| < 2
        (a new figure only: not with ``ax``).
    """
    owner = "divergence_curve"
    _need_columns("summary", owner, summary, [x, hue, f"{rate}_rate", f"{rate}_lo", f"{rate}_hi",
                                              *([deviation] if deviation else [])])
    if predicted is not None:
        _need_columns("predicted", owner, predicted, [x, hue, "probability"])
    if deviation is not None and ax is not None:
        raise ParameterError(message("deviation", owner, "None when ax is given (its panel needs a new "
                                     "figure)", Described(repr(deviation))))
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    with theme():
        axz = None
        if ax is None:
            if deviation is None:
                fig, ax = _subplots(figsize=(10, 5.5))
            else:
                fig, (ax, axz) = _subplots(2, 1, figsize=(10, 7.4), sharex=True,
                                           gridspec_kw={"height_ratios": [3, 1.25]})
            callers: tuple[Axes, ...] = ()
        else:
            fig = ax.figure
            callers = tuple(fig.axes)
        levels: Sequence = sorted(summary[hue].unique())
        colors = _palette(len(levels))
        for c, level in zip(colors, levels, strict=True):
            g = summary[summary[hue] == level].sort_values(x)
            ax.fill_between(g[x], g[f"{rate}_lo"], g[f"{rate}_hi"], color=c, alpha=0.25, lw=0)
            ax.plot(g[x], g[f"{rate}_rate"], "o", ms=3.5, color=c)
            if predicted is not None:
                p = predicted[predicted[hue] == level].sort_values(x)
                ax.plot(p[x], p["probability"], "--", color=c, lw=1.5)
            if axz is not None:
                axz.plot(g[x], g[deviation], "o", ms=3.5, color=c)
        if logx:
            ax.set_xscale("log")
            plain_log_ticks(ax.xaxis)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlim(*ax.get_xlim())  # the data's limits, before the threshold lines (which may lie outside)
        for target in (ax, axz):
            if target is not None:
                _threshold_lines(target, thresholds or {}, label=target is ax)
        default_x = f"{axis_label(x)}" + (" (log scale)" if logx else "")
        (axz if axz is not None else ax).set_xlabel(default_x if xlabel is None else xlabel)
        ax.set_ylabel(f"fraction of runs {rate}" if ylabel is None else ylabel)
        handles = [Patch(color=c, label=f"{level:g}" if isinstance(level, float) else str(level))
                   for c, level in zip(colors, levels, strict=True)]
        grey = "0.35"
        handles += [Line2D([], [], marker="o", ms=4, ls="none", color=grey, label="simulated"),
                    Patch(color=grey, alpha=0.3, label="Wilson 95 % band")]
        if predicted is not None:
            handles.append(Line2D([], [], ls="--", color=grey, lw=1.5, label=predicted_label))
        ax.legend(handles=handles, title=hue_label or axis_label(hue), fontsize=8, title_fontsize=9,
                  loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
        if axz is not None:
            axz.axhspan(-2, 2, color="0.85", lw=0, zorder=0)
            axz.axhline(0, color="0.3", lw=0.8)
            top = float(np.nanmax(np.abs(summary[deviation].to_numpy(dtype=float)), initial=0.0))
            axz.set_ylim(-max(3.5, 1.1 * top), max(3.5, 1.1 * top))
            axz.set_ylabel("simulation - theory\n(standard errors)", fontsize=10)
        if title:
            if callers:  # the caller's figure: a title over its axes, above the threshold labels
                ax.set_title(title, pad=40 if thresholds else 6)
            else:
                fig.suptitle(title)
        return _settle(fig, callers=callers)


def plain_log_ticks(axis: Any) -> None:
    """Label a logarithmic axis with plain numbers (0.3, 1, 2) instead of powers of ten (3 x 10^-1).

    matplotlib's :class:`~matplotlib.ticker.LogFormatter` still decides which
    minor ticks get a label (all of them on an axis shorter than a decade or
    two, none on a longer one).
    """
    from matplotlib.ticker import LogFormatter

    class Plain(LogFormatter):
        def _num_to_string(self, x: float, vmin: float, vmax: float) -> str:
            return f"{x:.4g}"

    axis.set_major_formatter(Plain(labelOnlyBase=False))
    axis.set_minor_formatter(Plain(labelOnlyBase=False, minor_thresholds=(2, 0.5)))


def _threshold_lines(ax: Axes, thresholds: Mapping[str, float], *, label: bool = True) -> None:
    """Vertical lines at ``thresholds`` (label -> x), each labelled above the axes at the line's end.

    Call after the axis scale and limits are set (a threshold outside them
    is not drawn): above the axes a label never covers data, and labels of
    lines closer than a fifth of the axis width are staggered in height so
    that they do not overlap each other.
    """
    from matplotlib.transforms import offset_copy

    styles = [":", "-.", (0, (5, 2, 1, 2)), (0, (1, 3))]
    lo, hi = ax.get_xlim()
    log = ax.get_xscale() == "log"
    where = (lambda v: (np.log(v) - np.log(lo)) / (np.log(hi) - np.log(lo))) if log else (
        lambda v: (v - lo) / (hi - lo))
    level, last = 0, -np.inf
    for i, (name, v) in enumerate(sorted(thresholds.items(), key=lambda kv: kv[1])):
        if not min(lo, hi) <= v <= max(lo, hi):  # outside the data's range: not drawn
            continue
        ax.axvline(v, color="0.25", ls=styles[i % len(styles)], lw=1.2, zorder=1)
        if not label:
            continue
        level = level + 1 if where(v) - last < 0.2 else 0
        last = where(v)
        above = offset_copy(ax.get_xaxis_transform(), fig=ax.figure, y=3 + 13 * level, units="points")
        ax.text(v, 1.0, f"{name}: {v:.4g}", transform=above, ha="center", va="bottom", fontsize=8.5,
                color="0.15")


_STATUSES = ("converged", "slow", "oscillating", "diverged")

@validate_params({"summary": _FRAME, "title": _TITLE})
def speed_vs_stability(summary: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Steps to converge (median, quartile band) and status fractions versus lr.

    ``summary`` is :meth:`lrsweep.Results.summary` grouped by ``lr``: columns
    ``lr``, ``converged_step_median``, ``converged_step_q25``,
    ``converged_step_q75`` and ``{status}_rate``, ``{status}_lo``,
    ``{status}_hi`` for each status.
    """
    _need_columns("summary", "speed_vs_stability", summary,
                  ["lr", "converged_step_median", "converged_step_q25", "converged_step_q75",
                   *(f"{s}_{c}" for s in _STATUSES for c in ("rate", "lo", "hi"))])
    with theme():
        fig, (a0, a1) = _subplots(2, 1, figsize=(10, 7.5), sharex=True)
        g = summary.sort_values("lr")
        c0 = _palette()[0]
        a0.plot(g["lr"], g["converged_step_median"], "o-", ms=3, color=c0, label="median")
        a0.fill_between(g["lr"], g["converged_step_q25"], g["converged_step_q75"], color=c0, alpha=0.25,
                        lw=0, label="quartiles")
        a0.set_yscale("log")
        a0.set_ylabel("steps to converge\n(converged runs)")
        a0.legend(fontsize=8)
        palette = dict(zip(_STATUSES, _palette(4), strict=True))
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
        return _settle(fig)

@validate_params({"per_lr": _FRAME, "title": _TITLE})
def oscillation_curve(per_lr: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Overshoots (sign changes of e) per epoch versus lr, with the prediction.

    ``per_lr`` has columns ``lr``, ``mean``, ``q25``, ``q75`` (sign changes per
    epoch over the runs) and ``predicted`` (n P(2 lr X^2 > 1)).
    """
    _need_columns("per_lr", "oscillation_curve", per_lr, ["lr", "mean", "q25", "q75", "predicted"])
    with theme():
        fig, ax = _subplots(figsize=(9, 5.5))
        g = per_lr.sort_values("lr")
        pal = _palette()
        ax.plot(g["lr"], g["mean"], "o", ms=4, color=pal[0], label="simulated mean over datasets")
        ax.fill_between(g["lr"], g["q25"], g["q75"], color=pal[0], alpha=0.25, lw=0,
                        label="simulated quartiles")
        ax.plot(g["lr"], g["predicted"], "-", color=pal[3], lw=1.5, label=r"theory: $n\,P(2\,lr\,X^2 > 1)$")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate lr (log scale)")
        ax.set_ylabel("sign changes of theta - theta_ref per epoch")
        ax.legend(fontsize=9, loc="upper left")
        if title:
            ax.set_title(title)
        return _settle(fig)

@validate_params({"data": _FRAME, "x": _COLUMN, "y": _COLUMN, "lo": _COLUMN, "hi": _COLUMN, "hue": _COLUMN,
                  "theory": NoneOr(_FRAME), "theory_label": _STR, "xlabel": _TITLE, "ylabel": _TITLE,
                  "logx": Boolean(), "logy": Boolean(), "title": _TITLE})
def lines_with_bands(data: pd.DataFrame, *, x: str, y: str, lo: str, hi: str, hue: str,
                     theory: pd.DataFrame | None = None, theory_label: str = "theory",
                     xlabel: str | None = None, ylabel: str | None = None, logx: bool = True,
                     logy: bool = False, title: str | None = None) -> Figure:
    """One line (with a ``lo``-``hi`` band) per ``hue`` level; optional theory line(s).

    ``theory`` has columns ``x`` and ``y`` (one curve) or also ``hue`` (one per level).
    """
    _need_columns("data", "lines_with_bands", data, [x, y, lo, hi, hue])
    if theory is not None:
        _need_columns("theory", "lines_with_bands", theory, ["x", "y"])
    with theme():
        fig, ax = _subplots(figsize=(9, 5.5))
        levels = sorted(data[hue].unique())
        colors = _palette(len(levels))
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
        return _settle(fig)

@validate_params({"values": _LabelMap(_Samples(), "1-D arrays of real numbers"),
                  "slopes": NoneOr(_LabelMap(_Real(), "real numbers")), "xlabel": _STR, "title": _TITLE})
def survival_loglog(values: Mapping[str, np.ndarray], *, slopes: Mapping[str, float] | None = None,
                    xlabel: str = "|theta - theta_ref|", title: str | None = None) -> Figure:
    """Empirical survival functions P(V > v) on log-log axes, one per label.

    Non-finite and non-positive values are left out. ``slopes`` (label ->
    alpha) adds a dashed line of slope ``-alpha`` through the curve's upper
    5 % point (none for a NaN alpha).
    """
    with theme():
        fig, ax = _subplots(figsize=(9, 5.5))
        colors = _palette(len(values))
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
        return _settle(fig)
