"""Figures of learning-rate finders: estimates per design arm with intervals, range-test curves."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from .._validation import Boolean, NoneOr, validate_params
from .checks import _COLUMN, _FRAME, _STR, _TITLE, _LabelMap, _need_columns, _Real
from .curves import plain_log_ticks
from .noise import _mark_thresholds
from .theme import _palette, _settle, _subplots, theme

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

_GREY = (0.3, 0.3, 0.3)
_MARKERS = ("o", "s", "D", "^", "v", "P", "X", "*")
_STYLES = ("-", "--", ":", "-.")


@validate_params({"data": _FRAME, "panel": _COLUMN, "x": _COLUMN, "y": _COLUMN, "lo": _COLUMN, "hi": _COLUMN,
                  "hue": _COLUMN, "style": _COLUMN, "row": NoneOr(_COLUMN),
                  "spread": NoneOr(_LabelMap(_STR, "column names")),
                  "theory": NoneOr(_FRAME), "lines": NoneOr(_LabelMap(_Real(), "numbers")),
                  "panel_labels": NoneOr(_LabelMap(_STR, "axis labels")), "ylabel": _STR,
                  "log_y": Boolean(), "title": _TITLE})
def estimates_by_arm(data: pd.DataFrame, *, panel: str, x: str, y: str, lo: str, hi: str, hue: str,
                     style: str, row: str | None = None, spread: Mapping[str, str] | None = None,
                     theory: pd.DataFrame | None = None,
                     lines: Mapping[str, float] | None = None, panel_labels: Mapping[str, str] | None = None,
                     ylabel: str = "estimate", log_y: bool = False, title: str | None = None) -> Figure:
    """An estimate with its interval against the varied value, one panel per arm of a design.

    Each panel (one per value of ``panel``: the axis varied in that arm, the
    others at the baseline) shows ``y`` against ``x`` (log scale) as points
    with ``[lo, hi]`` bars, one colour per ``hue`` and one marker and line
    style per ``style``, dodged sideways so that the bars stay apart.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per ``panel``, ``x``, ``hue``, ``style``: the estimate ``y``
        and its interval ``lo``, ``hi`` (NaN: not drawn).
    panel, x, y, lo, hi, hue, style : str
        Columns of ``data``.
    row : str, optional
        One row of panels per value of this column (e.g. the tool), sharing the y axis.
    spread : mapping, optional
        ``{"lo": column, "hi": column}``: a second, thinner bar (e.g. the
        quartiles) drawn behind each point.
    theory : pandas.DataFrame, optional
        ``panel``, ``x``, ``value``, ``label``: reference lines (one per
        ``label``, black, dashed), labelled at their right end.
    lines : mapping of str to float, optional
        Horizontal lines (label -> y), grey, labelled at the left.
    panel_labels : mapping of str to str, optional
        x-axis label of each panel (default: the panel's value).
    ylabel : str
        The y-axis label.
    log_y : bool
        Logarithmic y axis.
    """
    owner = "estimates_by_arm"
    _need_columns("data", owner, data, [panel, x, y, lo, hi, hue, style] + ([row] if row else []))
    if spread is not None:
        _need_columns("data", owner, data, [spread.get("lo", lo), spread.get("hi", hi)])
    if theory is not None:
        _need_columns("theory", owner, theory, [panel, x, "value", "label"])
    panels = list(dict.fromkeys(data[panel]))
    rows = list(dict.fromkeys(data[row])) if row else [None]
    hues = list(dict.fromkeys(data[hue]))
    styles = list(dict.fromkeys(data[style]))
    with theme():
        size = (4.4 * len(panels) + 2.2, 1.2 + 3.1 * len(rows))
        fig, axes = _subplots(len(rows), len(panels), figsize=size,
                              squeeze=False, sharey=True, sharex="col")
        colours = _palette(max(len(hues), 1))
        for (i, r_level), (j, level) in ((a, b) for a in enumerate(rows) for b in enumerate(panels)):
            ax = axes[i, j]
            part = data[data[panel] == level]
            if row:
                part = part[part[row] == r_level]
            present = [(h, s) for h in hues for s in styles
                       if ((part[hue] == h) & (part[style] == s)).any()]
            slots = len(present)
            xs = np.array(sorted(part[x].unique()), dtype=float)
            step = np.log10(xs[1:] / xs[:-1]).min() if len(xs) > 1 else 1.0
            width = 0.4 * step / max(slots, 1)
            for h_i, h in enumerate(hues):
                for s_i, s in enumerate(styles):
                    g = part[(part[hue] == h) & (part[style] == s)].sort_values(x)
                    if g.empty:
                        continue
                    k = present.index((h, s)) - (slots - 1) / 2
                    gx = g[x].to_numpy(dtype=float) * 10 ** (k * width)
                    gy, glo, ghi = (g[c].to_numpy(dtype=float) for c in (y, lo, hi))
                    c = colours[h_i]
                    if spread is not None:
                        qlo, qhi = (g[spread[k2]].to_numpy(dtype=float) for k2 in ("lo", "hi"))
                        ax.vlines(gx, qlo, qhi, color=c, lw=0.8, alpha=0.45, zorder=2)
                    ok = np.isfinite(glo) & np.isfinite(ghi)
                    ax.vlines(gx[ok], glo[ok], ghi[ok], color=c, lw=2.2, zorder=3)
                    filled = s_i == 0
                    ax.plot(gx, gy, ls=_STYLES[s_i % len(_STYLES)], lw=0.9, color=c,
                            marker=_MARKERS[h_i % len(_MARKERS)], ms=5.5,
                            mfc=c if filled else "white", mec=c, zorder=4,
                            label=f"{h}, {s}")
            if theory is not None:
                t = theory[theory[panel] == level]
                for l_i, (lab, tt) in enumerate(t.groupby("label", sort=False)):
                    tt = tt.sort_values(x)
                    ax.plot(tt[x], tt["value"], color="black", ls=("--", "-.", ":")[l_i % 3], lw=1.4,
                            zorder=5)
                    ax.annotate(str(lab), (float(tt[x].iloc[-1]), float(tt["value"].iloc[-1])),
                                xytext=(4, 0), textcoords="offset points", fontsize=8, va="center")
            for lab, v in (lines or {}).items():
                ax.axhline(v, color=_GREY, lw=1.1, ls=":", zorder=1)
                ax.annotate(lab, (0.01, v), xycoords=("axes fraction", "data"), xytext=(0, 3),
                            textcoords="offset points", fontsize=8, color=_GREY, va="bottom")
            ax.set_xscale("log")
            pad = 10 ** (0.5 * step)
            ax.set_xlim(xs.min() / pad, xs.max() * pad * (1.6 if theory is not None else 1.0))
            ax.set_xticks(xs)
            ax.set_xticklabels([f"{v:g}" for v in xs])
            ax.minorticks_off()
            if i == len(rows) - 1:
                ax.set_xlabel((panel_labels or {}).get(str(level), str(level)) + " (log scale)")
            if log_y:
                ax.set_yscale("log")
                plain_log_ticks(ax.yaxis)
            if j == 0:
                ax.set_ylabel((f"{r_level}\n" if row else "") + ylabel + (" (log scale)" if log_y else ""),
                              fontsize=9)
        handles: dict = {}
        for ax in axes.flat:
            for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
                handles.setdefault(lab, h)
        fig.legend(list(handles.values()), list(handles.keys()), loc="outside right center", fontsize=8,
                   frameon=False)
        if title:
            fig.suptitle(title, fontsize=10)
        return _settle(fig)


@validate_params({"curves": _FRAME, "points": _FRAME, "marks": NoneOr(_FRAME), "panel": _COLUMN,
                  "title": _TITLE})
def range_test_curves(curves: pd.DataFrame, *, points: pd.DataFrame, marks: pd.DataFrame | None = None,
                      panel: str = "tool", title: str | None = None) -> Figure:
    """Range-test curves (raw and recorded loss versus lr), each rule's suggestion and reference lrs.

    Parameters
    ----------
    curves : pandas.DataFrame
        ``panel``, ``lr``, ``raw``, ``recorded``: the loss of every step and
        what the tool records (smoothed), up to the tool's stop.
    points : pandas.DataFrame
        ``panel``, ``rule``, ``lr``, ``loss``: each rule's suggestion, drawn
        on the recorded curve (a rule that failed has no row); colours follow
        the sorted rule names, as in :func:`estimates_by_arm` for sorted hues.
    marks : pandas.DataFrame, optional
        ``panel``, ``label``, ``lr``: vertical lines at exact learning rates,
        labelled next to them.
    panel : str
        One panel per value of this column.
    """
    owner = "range_test_curves"
    _need_columns("curves", owner, curves, [panel, "lr", "raw", "recorded"])
    _need_columns("points", owner, points, [panel, "rule", "lr", "loss"])
    if marks is not None:
        _need_columns("marks", owner, marks, [panel, "label", "lr"])
    panels = list(dict.fromkeys(curves[panel]))
    rules = sorted(dict.fromkeys(points["rule"]))
    with theme():
        fig, axes = _subplots(1, len(panels), figsize=(5.2 * len(panels) + 1.8, 4.6), squeeze=False)
        colours = _palette(max(len(rules), 1))
        for j, level in enumerate(panels):
            ax = axes[0, j]
            c = curves[curves[panel] == level].sort_values("lr")
            ax.plot(c["lr"], c["raw"], color=(0.65, 0.65, 0.65), lw=0.8, label="loss of each step" if j == 0
                    else None, zorder=2)
            ax.plot(c["lr"], c["recorded"], color="black", lw=1.6, label="recorded (smoothed) loss" if j == 0
                    else None, zorder=3)
            p = points[points[panel] == level]
            for r_i, rule in enumerate(rules):
                q = p[p["rule"] == rule]
                if len(q):
                    ax.plot(q["lr"], q["loss"], ls="none", marker=_MARKERS[r_i % len(_MARKERS)], ms=9,
                            color=colours[r_i], mec="black", mew=0.6, zorder=5, label=str(rule))
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("learning rate of the step (log scale)")
            ax.set_title(str(level), fontsize=10)
            if marks is not None:
                m = marks[marks[panel] == level]
                _mark_thresholds(ax, [(str(r["label"]), float(r["lr"])) for _, r in m.iterrows()],
                                 at="upper", side="left")
        axes[0, 0].set_ylabel("training loss (log scale)")
        handles, labels = {}, {}
        for ax in axes[0]:
            for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
                handles.setdefault(lab, h)
                labels.setdefault(lab, lab)
        fig.legend(list(handles.values()), list(labels.values()), loc="outside right center", fontsize=8,
                   frameon=False)
        if title:
            fig.suptitle(title, fontsize=10)
        return _settle(fig)
