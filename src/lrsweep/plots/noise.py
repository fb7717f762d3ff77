"""Figures of noisy runs: mean square against the typical error, status rates, threshold marks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from .._validation import NoneOr, validate_params
from .checks import _COLUMN, _FRAME, _STR, _TITLE, _LabelMap, _need_columns
from .theme import _NEAR_BLACK, _palette, _settle, _subplots, theme

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_THRESHOLD_STYLES = (":", "-.", "--")
_GREY = (0.3, 0.3, 0.3)


def _mark_thresholds(ax: Axes, marks: list[tuple[str, float]], *, label: bool = True,
                     at: str = "top", side: str = "left") -> None:
    """Vertical lines at learning rates, each labelled next to its line (rotated).

    ``marks`` are ``(label, lr)`` pairs; line styles cycle through dotted,
    dash-dotted and dashed so that neighbouring thresholds stay apart. The
    label starts at the ``at`` end of the axes (``"top"``, ``"bottom"``, or
    ``"upper"``: from 93 % of the height down) on the ``side`` of its line
    where the figure has no data; ``at="outside"`` writes it horizontally
    just above the axes, over its line (for figures whose data fill the
    height at the thresholds; call it after the x limits are set).
    """
    from matplotlib.transforms import blended_transform_factory

    trans = blended_transform_factory(ax.transData, ax.transAxes)
    for i, (text, lr) in enumerate(marks):
        if not np.isfinite(lr):
            continue
        ax.axvline(lr, color=_GREY, ls=_THRESHOLD_STYLES[i % len(_THRESHOLD_STYLES)], lw=1.1, zorder=1)
        if label and at == "outside":
            lo, hi = (np.log10(v) for v in ax.get_xlim())
            frac = (np.log10(lr) - lo) / (hi - lo) if ax.get_xscale() == "log" else 0.5
            ha = "right" if frac > 0.85 else ("left" if frac < 0.15 else "center")
            ax.text(lr, 1.01, f"{text} {lr:.3g}", transform=trans, ha=ha, va="bottom", fontsize=8,
                    color=_GREY)
        elif label:
            y = {"top": 0.985, "upper": 0.93, "bottom": 0.015}[at]
            ax.text(lr, y, f"{text} {lr:.3g}", transform=trans, rotation=90,
                    ha="left" if side == "right" else "right", va="bottom" if at == "bottom" else "top",
                    fontsize=8, color=_GREY, bbox={"facecolor": "white", "alpha": 0.85, "lw": 0, "pad": 1.0})


def _first(j: int, label: str) -> str | None:
    """``label`` in the first panel only (one legend entry for the figure)."""
    return label if j == 0 else None


def _panel_marks(thresholds: pd.DataFrame | None, panel: str, level: object) -> list[tuple[str, float]]:
    if thresholds is None:
        return []
    rows = thresholds[thresholds[panel] == level]
    return [(str(r["label"]), float(r["lr"])) for _, r in rows.iterrows()]


@validate_params({"summary": _FRAME, "theory": _FRAME, "thresholds": NoneOr(_FRAME), "panel": _COLUMN,
                  "title": _TITLE})
def mean_square_vs_median(summary: pd.DataFrame, *, theory: pd.DataFrame,
                          thresholds: pd.DataFrame | None = None, panel: str = "order",
                          title: str | None = None) -> Figure:
    """Root mean square and median ``|e|`` versus lr, with the closed form; deviations in standard errors.

    One column of panels per value of ``panel``. Top: ``sqrt(e2_mean)`` (the
    simulated root mean square, bars at ``e2_mean +- 2 e2_mean_se``), the
    closed form ``sqrt(variance)`` of ``theory`` as a line, and the median
    ``|e|`` with its interval. Bottom: ``deviation_se``, the simulated mean
    minus the closed form in standard errors, with the +-2 band. Rows whose
    ``se_valid`` is false (a standard error that means nothing: ``e^2`` has
    infinite variance, or ``E e^2`` itself is infinite) are drawn as open
    markers; values beyond the axis range as triangles at its edge.

    Parameters
    ----------
    summary : pandas.DataFrame
        One row per ``panel`` and ``lr``: ``e2_mean``, ``e2_mean_se``,
        ``deviation_se``, ``se_valid``, ``abs_error_median``,
        ``abs_error_median_lo``, ``abs_error_median_hi``.
    theory : pandas.DataFrame
        The closed form on a fine grid: ``panel``, ``lr``, ``variance``
        (``inf`` where it does not exist; not drawn there).
    thresholds : pandas.DataFrame, optional
        ``panel``, ``label``, ``lr``: vertical marks, labelled.
    panel : str
        The column with one column of panels per value.
    """
    owner = "mean_square_vs_median"
    _need_columns("summary", owner, summary,
                  [panel, "lr", "e2_mean", "e2_mean_se", "deviation_se", "se_valid", "abs_error_median",
                   "abs_error_median_lo", "abs_error_median_hi"])
    _need_columns("theory", owner, theory, [panel, "lr", "variance"])
    if thresholds is not None:
        _need_columns("thresholds", owner, thresholds, [panel, "label", "lr"])
    with theme():
        levels = list(dict.fromkeys(summary[panel]))
        fig, axes = _subplots(2, len(levels), figsize=(6.4 * len(levels) + 0.6, 7.8), squeeze=False,
                              sharex="col", sharey="row", gridspec_kw={"height_ratios": [3, 1.4]})
        c_rms, c_med = _palette()[0], _palette()[1]
        s = summary.sort_values("lr")
        valid = s["se_valid"].astype(bool).to_numpy()
        rms = np.sqrt(s["e2_mean"].to_numpy(dtype=float))
        # The axis range comes from the estimates that mean something: the medians, the root mean
        # squares with a valid standard error and the closed form at the learning rates that ran.
        finite_theory = theory[np.isfinite(theory["variance"])]
        trusted = np.concatenate([s["abs_error_median_lo"], s["abs_error_median_hi"], rms[valid],
                                  np.sqrt(finite_theory["variance"][finite_theory["lr"] <= s["lr"].max()])])
        trusted = trusted[np.isfinite(trusted) & (trusted > 0)]
        lo_y = float(trusted.min()) / 2 if trusted.size else 1e-3
        hi_y = float(trusted.max()) * 40 if trusted.size else 1e3
        dev = s["deviation_se"].to_numpy(dtype=float)
        dev_ok = valid & np.isfinite(dev)
        d_lim = max(4.0, 1.3 * float(np.max(np.abs(dev[dev_ok]))) if dev_ok.any() else 4.0)
        for j, level in enumerate(levels):
            top, bottom = axes[0, j], axes[1, j]
            g = s[s[panel] == level]
            ok = g["se_valid"].astype(bool).to_numpy()
            x = g["lr"].to_numpy(dtype=float)
            m = g["e2_mean"].to_numpy(dtype=float)
            se = g["e2_mean_se"].to_numpy(dtype=float)
            r = np.sqrt(m)
            t = finite_theory[finite_theory[panel] == level].sort_values("lr")
            top.plot(t["lr"], np.sqrt(t["variance"]), "-", color=c_rms, lw=1.6, zorder=3,
                     label=r"closed form $\sqrt{v}$ (mean-square fixed point)" if j == 0 else None)
            with np.errstate(invalid="ignore"):
                lo_bar = np.sqrt(np.clip(m - 2 * se, lo_y**2, None))
                hi_bar = np.sqrt(m + 2 * se)
            inside = r <= hi_y
            good = ok & inside
            if good.any():
                top.errorbar(x[good], r[good], yerr=[r[good] - lo_bar[good], hi_bar[good] - r[good]],
                             fmt="o", ms=5, color=c_rms, lw=1, capsize=2, zorder=4,
                             label=_first(j, r"simulated $\sqrt{\mathrm{mean}\ e^2}$, bars $\pm 2$ SE"))
            bad = ~ok & inside
            if bad.any():  # no bars: a standard error means nothing there
                top.plot(x[bad], r[bad], "o", ms=5, mfc="none", mec=c_rms, zorder=4,
                         label=_first(j, r"simulated, no valid SE ($e^2$ of infinite variance or mean)"))
            if (~inside).any():
                top.plot(x[~inside], np.full((~inside).sum(), hi_y / 1.4), "^", ms=7, mfc="none", mec=c_rms,
                         zorder=4, label="simulated, off scale (set by the largest run)" if j == 0 else None)
            med = g["abs_error_median"].to_numpy(dtype=float)
            top.errorbar(x, med, yerr=[med - g["abs_error_median_lo"], g["abs_error_median_hi"] - med],
                         fmt="s", ms=4.5, color=c_med, lw=1, capsize=2, zorder=4,
                         label=r"simulated median $|e|$, 95 % interval" if j == 0 else None)
            _mark_thresholds(top, _panel_marks(thresholds, panel, level))
            _mark_thresholds(bottom, _panel_marks(thresholds, panel, level), label=False)
            top.set_xscale("log")
            top.set_yscale("log")
            top.set_ylim(lo_y, hi_y)
            top.set_title(f"{panel} = {level}", fontsize=11)
            d = g["deviation_se"].to_numpy(dtype=float)
            fin = np.isfinite(d)
            bottom.axhspan(-2, 2, color="0.85", lw=0, zorder=0)
            bottom.axhline(0, color=_GREY, lw=0.8)
            shown = np.clip(d, -d_lim * 0.97, d_lim * 0.97)
            clipped = fin & (np.abs(d) > d_lim * 0.97)
            for mask, face in ((fin & ok & ~clipped, c_rms), (fin & ~ok & ~clipped, "none")):
                bottom.plot(x[mask], shown[mask], "o", ms=5, mfc=face, mec=c_rms)
            if clipped.any():
                bottom.plot(x[clipped], shown[clipped], "v", ms=7, mfc="none", mec=c_rms)
            bottom.set_ylim(-d_lim, d_lim)
            bottom.set_xlabel("learning rate lr (log scale)")
        axes[0, 0].set_ylabel("|theta - theta_ref| (log scale)")
        axes[1, 0].set_ylabel("(mean e^2 - v) / SE\n(band: +-2)")
        fig.legend(loc="outside lower center", ncol=2, fontsize=8.5, frameon=False)
        if title:
            fig.suptitle(title)
        return _settle(fig)


@validate_params({"summary": _FRAME, "rates": _LabelMap(_STR, "legend labels (str)"),
                  "reference": NoneOr(_LabelMap(_STR, "legend labels (str)")), "panel": _COLUMN,
                  "thresholds": NoneOr(_FRAME), "ylabel": _STR, "title": _TITLE})
def status_rates(summary: pd.DataFrame, *, rates: Mapping[str, str],
                 reference: Mapping[str, str] | None = None, panel: str = "order",
                 thresholds: pd.DataFrame | None = None, ylabel: str = "fraction of runs",
                 title: str | None = None) -> Figure:
    """Rates with their Wilson 95 % bands versus lr (log axis), one panel per value of ``panel``.

    Parameters
    ----------
    summary : pandas.DataFrame
        ``panel``, ``lr`` and, for each key ``k`` of ``rates``, ``k_rate``,
        ``k_lo``, ``k_hi``.
    rates : mapping of str to str
        Rate prefix -> legend label, one colour each, in this order.
    reference : mapping of str to str, optional
        Rates drawn dashed in near-black over the others (a rule to compare
        the statuses with), with their bands.
    thresholds : pandas.DataFrame, optional
        ``panel``, ``label``, ``lr``: vertical marks, labelled.
    """
    owner = "status_rates"
    every = {**rates, **(reference or {})}
    _need_columns("summary", owner, summary,
                  [panel, "lr", *(f"{k}_{c}" for k in every for c in ("rate", "lo", "hi"))])
    if thresholds is not None:
        _need_columns("thresholds", owner, thresholds, [panel, "label", "lr"])
    with theme():
        levels = list(dict.fromkeys(summary[panel]))
        fig, axes = _subplots(1, len(levels), figsize=(6.2 * len(levels) + 0.6, 5.0), squeeze=False,
                              sharey=True)
        # blue, green, vermillion, purple, brown, ...: no two oranges side by side
        pal = _palette(10)
        colors = [pal[i] for i in (0, 2, 3, 4, 5, 8, 9, 6, 1)]
        for j, level in enumerate(levels):
            ax = axes[0, j]
            g = summary[summary[panel] == level].sort_values("lr")
            for i, (key, lab) in enumerate(rates.items()):
                c = colors[i % len(colors)]
                ax.plot(g["lr"], g[f"{key}_rate"], "o-", ms=3.5, lw=1.5, color=c, label=_first(j, lab))
                ax.fill_between(g["lr"], g[f"{key}_lo"], g[f"{key}_hi"], color=c, alpha=0.25, lw=0)
            for k, (key, lab) in enumerate((reference or {}).items()):
                ax.plot(g["lr"], g[f"{key}_rate"], _THRESHOLD_STYLES[(k + 2) % 3], lw=1.6, color=_NEAR_BLACK,
                        zorder=5, label=lab if j == 0 else None)
                ax.fill_between(g["lr"], g[f"{key}_lo"], g[f"{key}_hi"], color="0.5", alpha=0.2, lw=0)
            ax.set_xscale("log")
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlabel("learning rate lr (log scale)")
            ax.set_title(f"{panel} = {level}", fontsize=11, loc="left")
            _mark_thresholds(ax, _panel_marks(thresholds, panel, level), at="outside")
        axes[0, 0].set_ylabel(ylabel)
        fig.legend(loc="outside lower center", ncol=2, fontsize=8.5, frameon=False)
        if title:
            fig.suptitle(title)
        return _settle(fig)
