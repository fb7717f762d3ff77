"""Figures of summaries versus an axis: rates with Wilson bands, steps, overshoots, survival functions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from .._validation import Boolean, Interval, NoneOr, StrList, validate_params
from .checks import _AX, _COLUMN, _FRAME, _STR, _TITLE, _LabelMap, _need_columns, _Real, _Samples
from .steps import censoring_handles, draw_censored_medians, mark_thresholds
from .theme import _palette, _settle, _subplots, theme

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


@validate_params({"summary": _FRAME, "rate": _STR, "hue": _COLUMN, "predicted": NoneOr(_FRAME),
                  "thresholds": NoneOr(_LabelMap(Interval("float", 0, np.inf, "neither"),
                                                 "learning rates in the range (0, inf)")),
                  "ax": _AX, "title": _TITLE})
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
    rate : str
        The rate to draw (the prefix of its columns).
    hue : str
        The column with one line per value.
    predicted : pandas.DataFrame, optional
        Theory: columns ``lr``, ``hue``, ``probability``, drawn dashed.
    thresholds : mapping of label to lr, optional
        Vertical lines (population thresholds).
    ax : matplotlib Axes, optional
        Draw there (the axes keep the caller's style) instead of in a new figure.
    """
    owner = "divergence_curve"
    _need_columns("summary", owner, summary, ["lr", hue, f"{rate}_rate", f"{rate}_lo", f"{rate}_hi"])
    if predicted is not None:
        _need_columns("predicted", owner, predicted, ["lr", hue, "probability"])
    with theme():
        if ax is None:
            fig, ax = _subplots(figsize=(9, 5.5))
            callers: tuple[Axes, ...] = ()
        else:
            fig = ax.figure
            callers = tuple(fig.axes)
        levels: Sequence = sorted(summary[hue].unique())
        colors = _palette(len(levels))
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
        return _settle(fig, callers=callers)

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
