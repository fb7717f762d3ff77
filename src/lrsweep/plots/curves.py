"""Figures of summaries versus an axis: rates with Wilson bands, steps, overshoots, survival functions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validation import (
    Boolean,
    Described,
    Interval,
    NoneOr,
    ParameterError,
    StrList,
    message,
    validate_params,
)
from .checks import _AX, _COLUMN, _FRAME, _STR, _TITLE, _LabelMap, _need_columns
from .noise import _GREY, _mark_thresholds
from .steps import censoring_handles, draw_censored_medians, mark_thresholds
from .theme import _palette, _settle, _subplots, theme

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


#: Readable names of the axes a figure may group by (no column name leaks into a legend or label).
AXIS_LABELS = {"n_samples": "dataset size n", "outlier_frac": "outlier fraction",
               "outlier_scale": "outlier scale", "outlier_kind": "outlier kind", "x_scale": "x scale",
               "noise": "noise", "order": "sample order", "theta0": "theta0", "lr": "learning rate lr",
               "seed": "seed", "schedule": "lr schedule", "batch_size": "batch size B",
               "momentum": "momentum beta", "nesterov": "Nesterov momentum"}


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


#: The statuses drawn by default (noise_floor needs noise; lr-tuning's default runs have none).
_STATUSES = ("converged", "slow", "oscillating", "growing", "diverged")


@validate_params({"summary": _FRAME, "steps": _STR, "theory": NoneOr(_FRAME), "theory_label": _STR,
                  "statuses": StrList(), "verdict": NoneOr(_STR), "verdict_label": _STR,
                  "thresholds": NoneOr(_LabelMap(Interval("float", 0, np.inf, "neither"),
                                                 "learning rates in the range (0, inf)")),
                  "title": _TITLE})
def speed_vs_stability(summary: pd.DataFrame, *, steps: str = "steps", theory: pd.DataFrame | None = None,
                       theory_label: str = "theory", statuses: Sequence[str] = _STATUSES,
                       verdict: str | None = None, verdict_label: str = "exact verdict",
                       thresholds: Mapping[str, float] | None = None, title: str | None = None) -> Figure:
    """Median steps to converge (censoring shown) over status fractions versus lr, shared log lr axis.

    Parameters
    ----------
    summary : pandas.DataFrame
        One row per ``lr``: ``{steps}_median``, ``{steps}_median_lo``,
        ``{steps}_median_hi`` (medians over every run, ``inf`` for beyond the
        budget: :func:`lrsweep.studies.steps.steps_median`), ``budget`` and
        ``{s}_rate``, ``{s}_lo``, ``{s}_hi`` for each status ``s`` (Wilson
        bands), as :meth:`lrsweep.Results.summary` grouped by ``lr`` has them.
    steps : str
        Stem of the median columns.
    theory : pandas.DataFrame, optional
        Columns ``lr`` and ``steps``: a theory curve of the steps, dashed.
    theory_label : str
        Its legend entry.
    statuses : list of str
        The statuses whose fractions are drawn, one colour each.
    verdict : str, optional
        Stem of a rate drawn dashed in black with its band (``{verdict}_rate``,
        ``_lo``, ``_hi``): an exact verdict next to the simulated statuses.
    verdict_label : str
        Its legend entry.
    thresholds : mapping of label to lr, optional
        Vertical lines in both panels, labelled along the line in the top one.
    title : str, optional
        Figure title.
    """
    owner = "speed_vs_stability"
    cols = [f"{steps}_median", f"{steps}_median_lo", f"{steps}_median_hi"]
    rates = [f"{s}_{c}" for s in [*statuses, *([verdict] if verdict else [])] for c in ("rate", "lo", "hi")]
    _need_columns("summary", owner, summary, ["lr", *cols, "budget", *rates])
    if theory is not None:
        _need_columns("theory", owner, theory, ["lr", "steps"])
    with theme():
        fig, (a0, a1) = _subplots(2, 1, figsize=(12, 8), sharex=True)
        g = summary.sort_values("lr")
        c0 = _palette()[0]
        budget = g["budget"].to_numpy(dtype=np.float64)
        if theory is not None:
            t = theory.sort_values("lr")
            a0.plot(t["lr"], t["steps"], "--", color="0.3", lw=1.4, label=theory_label)
        a0.axhline(budget.max(), color=c0, ls=":", lw=1.0)
        a0.text(0.5, budget.max(), f"budget {budget.max():,.0f} steps", color=c0, fontsize=8, va="bottom",
                ha="center", transform=a0.get_yaxis_transform())
        draw_censored_medians(a0, g["lr"], *(g[c] for c in cols), budget, color=c0,
                              label="median over every run (95 % interval)")
        a0.set_yscale("log")
        a0.set_ylabel("steps to converge\n(log scale)")
        handles, labels = a0.get_legend_handles_labels()
        extra = censoring_handles()
        a0.legend(handles + extra, labels + [h.get_label() for h in extra], fontsize=8,
                  loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        palette = dict(zip(statuses, _palette(len(statuses)), strict=True))
        for status, c in palette.items():
            a1.plot(g["lr"], g[f"{status}_rate"], "-", color=c, lw=1.8, label=status)
            a1.fill_between(g["lr"], g[f"{status}_lo"], g[f"{status}_hi"], color=c, alpha=0.2, lw=0)
        if verdict:
            a1.plot(g["lr"], g[f"{verdict}_rate"], "--", color="0.1", lw=1.6, label=verdict_label)
            a1.fill_between(g["lr"], g[f"{verdict}_lo"], g[f"{verdict}_hi"], color="0.1", alpha=0.12, lw=0)
        for ax, text in ((a0, True), (a1, False)):
            mark_thresholds(ax, thresholds or {}, text=text)
        a1.set_xscale("log")
        a1.set_ylim(-0.02, 1.02)
        a1.set_xlabel("learning rate lr (log scale)")
        a1.set_ylabel("fraction of runs\n(Wilson 95 % bands)")
        a1.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        if title:
            fig.suptitle(title)
        return _settle(fig)

@validate_params({"per_lr": _FRAME,
                  "thresholds": NoneOr(_LabelMap(Interval("float", 0, np.inf, "neither"),
                                                 "learning rates in the range (0, inf)")),
                  "title": _TITLE})
def oscillation_curve(per_lr: pd.DataFrame, *, thresholds: Mapping[str, float] | None = None,
                      title: str | None = None) -> Figure:
    """Overshoots (sign changes of e) per epoch versus lr on log-log axes, with the prediction.

    Top: the simulated mean with a band of +-2 standard errors and the
    theory line; a mean of exactly 0 is drawn as an open triangle at its
    95 % upper bound ``3 / runs`` (no overshoot in any run); a mean from
    which runs were left out (``left_out > 0``: runs that left the
    divergence bound, a censored estimate) is drawn as an open circle; rows
    without runs have no point. Bottom: the deviation from the theory in
    standard errors, with the +-2 band.

    Parameters
    ----------
    per_lr : pandas.DataFrame
        Columns ``lr``, ``mean``, ``mean_se`` (overshoots per epoch over the
        runs, and its standard error), ``runs``, ``left_out`` (runs not in
        the mean) and ``predicted`` (theory).
    thresholds : mapping of label to lr, optional
        Vertical lines, labelled next to them.
    """
    _need_columns("per_lr", "oscillation_curve", per_lr, ["lr", "mean", "mean_se", "runs", "left_out",
                                                          "predicted"])
    with theme():
        fig, (ax, dev) = _subplots(2, 1, figsize=(9, 7.2), sharex=True,
                                   gridspec_kw={"height_ratios": [3, 1.3]})
        pal = _palette()
        theory_lr, theory_y = per_lr.sort_values("lr")[["lr", "predicted"]].to_numpy(dtype=float).T
        g = per_lr[(per_lr["runs"] > 0) & np.isfinite(per_lr["mean"])].sort_values("lr")
        lr = g["lr"].to_numpy(dtype=float)
        mean = g["mean"].to_numpy(dtype=float)
        se = g["mean_se"].to_numpy(dtype=float)
        zero = mean == 0
        upper = 3.0 / g["runs"].to_numpy(dtype=float)
        floor_y = float(np.min(np.concatenate([mean[~zero], upper[zero]]))) / 4 if len(g) else 1e-3
        ax.fill_between(lr, np.clip(mean - 2 * se, floor_y / 10, None), mean + 2 * se, where=~zero,
                        color=pal[0], alpha=0.25, lw=0, label="simulated mean +- 2 standard errors")
        cut = g["left_out"].to_numpy() > 0
        full = ~zero & ~cut
        ax.plot(lr[full], mean[full], "o", ms=4, color=pal[0], label="simulated mean over runs")
        if cut.any():
            ax.plot(lr[cut], mean[cut], "o", ms=5, mfc="none", mec=pal[0],
                    label="runs left out (left the bound): censored, biased low")
        if zero.any():
            ax.plot(lr[zero], upper[zero], "v", ms=6, mfc="none", mec=pal[0],
                    label="no overshoot in any run: below 3 / runs (95 %)")
        ax.plot(theory_lr, theory_y, "-", color=pal[3], lw=1.5, label=r"theory: $n\,P(2\,lr\,X^2 > 1)$")
        marks = list((thresholds or {}).items())
        _mark_thresholds(ax, marks, at="bottom")
        _mark_thresholds(dev, marks, label=False)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(floor_y, float(np.nanmax(np.concatenate([mean + 2 * se, theory_y]))) * 3)
        ax.set_ylabel("sign changes of theta - theta_ref\nper epoch (log scale)")
        ax.legend(fontsize=9, loc="upper left")
        ok = se > 0
        d = (mean - g["predicted"].to_numpy(dtype=float))[ok] / se[ok]
        dev.axhspan(-2, 2, color="0.85", lw=0, zorder=0)
        dev.axhline(0, color=_GREY, lw=0.8)
        dev.plot(lr[ok & ~cut], d[~cut[ok]], "o", ms=4, color=pal[0])
        dev.plot(lr[ok & cut], d[cut[ok]], "o", ms=5, mfc="none", mec=pal[0])
        lim = max(4.0, 1.2 * float(np.max(np.abs(d)))) if d.size else 4.0
        dev.set_ylim(-lim, lim)
        dev.set_ylabel("(simulated - theory)\n/ standard error")
        dev.set_xlabel("learning rate lr (log scale)")
        if title:
            fig.suptitle(title)
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

@validate_params({"samples": _FRAME, "value": _COLUMN, "hue": _COLUMN, "panel": NoneOr(_COLUMN),
                  "slopes": NoneOr(_FRAME), "top_k": NoneOr(Interval("int", 1, 2**62, "both")),
                  "bounds": NoneOr(_FRAME), "xlabel": _STR, "title": _TITLE})
def survival_loglog(samples: pd.DataFrame, *, value: str, hue: str, panel: str | None = None,
                    slopes: pd.DataFrame | None = None, top_k: int | None = None,
                    bounds: pd.DataFrame | None = None, xlabel: str = "|theta - theta_ref|",
                    title: str | None = None) -> Figure:
    """Empirical survival functions P(V > v) on log-log axes: colour per ``hue``, a panel per ``panel``.

    Non-finite and non-positive values are left out.

    Parameters
    ----------
    samples : pandas.DataFrame
        One row per run: ``value``, ``hue`` and (if given) ``panel``.
    slopes : pandas.DataFrame, optional
        Theory: columns ``hue``, ``panel`` (if given) and ``alpha``; a dashed
        line of slope ``-alpha`` in the curve's colour, anchored on the curve
        at ``P = top_k / N`` (the start of the Hill window; at ``P = 0.05``
        without ``top_k``) and drawn down to ``P = 1/N``, the smallest
        probability ``N`` runs resolve. None for a NaN or infinite alpha.
    top_k : int, optional
        The Hill window (the ``top_k`` largest values): shaded in grey.
    bounds : pandas.DataFrame, optional
        Upper bounds of the support: columns ``hue``, ``panel`` (if given) and
        ``bound``; a dotted vertical line in the curve's colour, labelled.
    xlabel : str
        The quantity (its scale is added).
    """
    import pandas as pd

    owner = "survival_loglog"
    keys = [hue] + ([panel] if panel is not None else [])
    _need_columns("samples", owner, samples, [value, *keys])
    if slopes is not None:
        _need_columns("slopes", owner, slopes, [*keys, "alpha"])
    if bounds is not None:
        _need_columns("bounds", owner, bounds, [*keys, "bound"])

    def rows(frame: pd.DataFrame | None, h: object, p: object) -> pd.DataFrame | None:
        if frame is None:
            return None
        sel = frame[hue] == h
        if panel is not None:
            sel &= frame[panel] == p
        return frame[sel]

    with theme():
        levels = list(pd.unique(samples[panel])) if panel is not None else [None]
        hues = list(pd.unique(samples[hue]))
        colors = dict(zip(hues, _palette(len(hues)), strict=True))
        fig, axes = _subplots(1, len(levels), figsize=(5.4 * len(levels) + 0.8, 6.0), squeeze=False,
                              sharey=True)
        n_max = 1
        for ax, level in zip(axes[0], levels, strict=True):
            here = samples if panel is None else samples[samples[panel] == level]
            lo_x, hi_x = np.inf, 0.0
            for h in hues:
                v = here.loc[here[hue] == h, value].to_numpy(dtype=float)
                v = np.sort(v[np.isfinite(v) & (v > 0)])
                if len(v) == 0:
                    continue
                n = len(v)
                n_max = max(n_max, n)
                surv = 1.0 - np.arange(n) / n
                ax.plot(v, surv, color=colors[h], lw=1.6, zorder=3)
                # the left edge at the 20 % quantile: P(V > v) ~ 1 there says nothing about the tail
                lo_x, hi_x = min(lo_x, float(np.quantile(v, 0.2))), max(hi_x, float(v[-1]))
                sl = rows(slopes, h, level)
                alpha = float(sl["alpha"].iloc[0]) if sl is not None and len(sl) else np.nan
                if np.isfinite(alpha) and alpha > 0:
                    k = top_k if top_k is not None and top_k < n else max(1, n // 20)
                    v0, p0 = v[n - k - 1], k / n  # the (k+1)-th largest value, P(V > v0) = k / n
                    v1 = v0 * (p0 * n) ** (1.0 / alpha)  # where the line reaches P = 1 / n
                    xs = np.geomspace(v0, v1, 30)
                    ax.plot(xs, p0 * (xs / v0) ** (-alpha), "--", color=colors[h], lw=1.4, zorder=4)
                    ax.text(v1, 1.0 / n, f" {alpha:.2f}", color=colors[h], fontsize=8, ha="left", va="top")
                    hi_x = max(hi_x, float(v1))
                b = rows(bounds, h, level)
                if b is not None and len(b) and np.isfinite(float(b["bound"].iloc[0])):
                    bv = float(b["bound"].iloc[0])
                    ax.axvline(bv, color=colors[h], ls=":", lw=1.6, zorder=2)
                    ax.text(bv, 0.5, f"bound {bv:.3g} ", color=colors[h], fontsize=8, rotation=90,
                            ha="right", va="center", transform=ax.get_xaxis_transform(),
                            bbox={"facecolor": "white", "alpha": 0.85, "lw": 0, "pad": 1.0})
                    hi_x = max(hi_x, bv)
            if top_k is not None:
                n_here = max((int(np.sum(np.isfinite(g) & (g > 0))) for g in (
                    here.loc[here[hue] == h, value].to_numpy(dtype=float) for h in hues)), default=0)
                if n_here > top_k:
                    ax.axhspan(1.0 / n_here, top_k / n_here, color="0.88", lw=0, zorder=0)
            if np.isfinite(lo_x) and hi_x > 0:
                ax.set_xlim(lo_x / 2, hi_x * 4)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(xlabel + " (log scale)")
            if level is not None:
                ax.set_title(f"{panel} = {level}", fontsize=11)
        axes[0, 0].set_ylim(0.4 / n_max, 1.5)
        axes[0, 0].set_ylabel("P(value > x) (log scale)")
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch

        handles = [Line2D([], [], color=colors[h], lw=1.6, label=f"{hue} = {h} (simulated)") for h in hues]
        if slopes is not None:
            handles.append(Line2D([], [], color=_GREY, ls="--", lw=1.4,
                                  label="theory: slope -alpha (value at its end), to P = 1/N"))
        if bounds is not None:
            handles.append(Line2D([], [], color=_GREY, ls=":", lw=1.6, label="bound of the support"))
        if top_k is not None:
            handles.append(Patch(color="0.88",
                                 label=f"Hill window: the top k = {top_k:,} runs of each curve"))
        fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=8.5, frameon=False)
        if title:
            fig.suptitle(title)
        return _settle(fig)
