"""Figures of mini-batch SGD versus the batch size B: thresholds, linear scaling, samples against steps.

Simulation as points with 95 % intervals, population theory as lines, the
thresholds as labelled vertical lines; medians beyond the budget are drawn
open (:func:`lrsweep.plots.steps.draw_censored_medians`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from .._validation import Interval, NoneOr, validate_params
from .checks import _FRAME, _STR, _TITLE, _LabelMap, _need_columns
from .curves import plain_log_ticks
from .steps import _GREY, censoring_handles, draw_censored_medians
from .theme import _palette, _settle, _subplots, theme

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_MS_STYLE, _AS_STYLE = ":", "-."


def _batch_axis(ax: Axes, sizes: np.ndarray) -> None:
    """A log2 axis of batch sizes, ticked at the sizes that ran."""
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes)
    ax.set_xticklabels([f"{int(b)}" for b in sizes])
    ax.minorticks_off()
    ax.set_xlabel("batch size B (log scale)")


def _sparse_log_ticks(ax: Axes, lo: float, hi: float) -> None:
    """Plain-number ticks at 1, 2 and 5 times powers of ten in ``[lo, hi]`` (narrow panels)."""
    from matplotlib.ticker import FixedLocator, NullFormatter

    decades = np.arange(np.floor(np.log10(lo)), np.ceil(np.log10(hi)) + 1)
    ticks = [m * 10.0**d for d in decades for m in (1, 2, 5) if lo <= m * 10.0**d <= hi]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticklabels([f"{t:g}" for t in ticks])


def _marks(ax: Axes, ms: float, a_s: float, *, label: bool) -> None:
    """The mean-square and almost-sure thresholds of one B, labelled above the axes."""
    from matplotlib.transforms import offset_copy

    for i, (name, v, ls) in enumerate((("mean-sq.", ms, _MS_STYLE), ("almost-sure", a_s, _AS_STYLE))):
        ax.axvline(v, color=_GREY, ls=ls, lw=1.2, zorder=1)
        if label:
            above = offset_copy(ax.get_xaxis_transform(), fig=ax.figure, y=2 + 11 * i, units="points")
            ax.text(v, 1.0, f"{name} {v:.3g}", transform=above, ha="center", va="bottom", fontsize=7.5,
                    color="0.15")


@validate_params({"summary": _FRAME, "growth": _FRAME, "theory": _FRAME, "exact": _FRAME,
                  "thresholds": _FRAME, "order_labels": NoneOr(_LabelMap(_STR, "str legend entries")),
                  "title": _TITLE})
def batch_thresholds(summary: pd.DataFrame, *, growth: pd.DataFrame, theory: pd.DataFrame,
                     exact: pd.DataFrame, thresholds: pd.DataFrame,
                     order_labels: Mapping[str, str] | None = None, title: str | None = None) -> Figure:
    """Per batch size: the unstable fraction (top) and the mean log growth per step (bottom) versus lr.

    Parameters
    ----------
    summary : pandas.DataFrame
        ``order``, ``batch_size``, ``lr``, ``unstable_rate``, ``unstable_lo``,
        ``unstable_hi``: simulated fractions with Wilson intervals, one marker per order.
    growth : pandas.DataFrame
        ``batch_size``, ``lr``, ``log_growth_mean``, ``log_growth_mean_se``, ``source``: the
        simulated mean of ``log|e_T/e_0| / T``, drawn with a 1.96 SE bar, one marker per ``source``
        (its legend entry).
    theory : pandas.DataFrame
        ``batch_size``, ``lr``, ``log_multiplier``: the population exponent, a line.
    exact : pandas.DataFrame
        ``batch_size``, ``lr``, ``exact_rate``: the fraction of datasets whose exact verdict
        is unstable, a line.
    thresholds : pandas.DataFrame
        ``batch_size``, ``ms_threshold``, ``as_threshold``: vertical lines per panel.
    order_labels : mapping of str to str, optional
        Legend entry per value of ``order``.
    title : str, optional
        Figure title.
    """
    owner = "batch_thresholds"
    _need_columns("summary", owner, summary, ["order", "batch_size", "lr", "unstable_rate", "unstable_lo",
                                              "unstable_hi"])
    _need_columns("growth", owner, growth, ["batch_size", "lr", "log_growth_mean", "log_growth_mean_se",
                                            "source"])
    _need_columns("theory", owner, theory, ["batch_size", "lr", "log_multiplier"])
    _need_columns("exact", owner, exact, ["batch_size", "lr", "exact_rate"])
    _need_columns("thresholds", owner, thresholds, ["batch_size", "ms_threshold", "as_threshold"])
    labels = dict(order_labels or {})
    sizes = sorted(summary["batch_size"].unique())
    orders = sorted(summary["order"].astype(str).unique())
    sources = list(dict.fromkeys(growth["source"].astype(str)))
    with theme():
        colors = _palette(max(len(orders), 2))
        fig, axes = _subplots(2, len(sizes), figsize=(2.9 * len(sizes) + 1.0, 7.4), sharey="row",
                              squeeze=False)
        lo_lr = float(min(summary["lr"].min(), growth["lr"].min()))
        hi_lr = float(max(summary["lr"].max(), growth["lr"].max()))
        g_all = growth["log_growth_mean"].to_numpy(dtype=float)
        finite = g_all[np.isfinite(g_all)]
        ylim = ((max(float(finite.min()), -3.0) - 0.1, min(float(finite.max()), 2.0) + 0.1) if finite.size
                else (-1.0, 1.0))
        for j, b in enumerate(sizes):
            top, bottom = axes[0, j], axes[1, j]
            th = thresholds[thresholds["batch_size"] == b]
            for k, (order, c) in enumerate(zip(orders, colors, strict=False)):
                g = summary[(summary["batch_size"] == b) & (summary["order"].astype(str) == order)]
                g = g.sort_values("lr")
                r = g["unstable_rate"].to_numpy(dtype=float)
                top.errorbar(g["lr"], r, yerr=[r - g["unstable_lo"], g["unstable_hi"] - r], fmt="os"[k % 2],
                             ms=3.5, color=c, lw=0.9, capsize=0,
                             label=f"simulated: {labels.get(order, order)}")
            e = exact[exact["batch_size"] == b].sort_values("lr")
            top.plot(e["lr"], e["exact_rate"], "-", color=colors[orders.index("fixed")] if "fixed" in orders
                     else _GREY, lw=1.3, alpha=0.8, label="exact per dataset: share with S_B > 0")
            t = theory[theory["batch_size"] == b].sort_values("lr")
            bottom.plot(t["lr"], t["log_multiplier"], "--", color="0.15", lw=1.4,
                        label="population theory E log|1 - 2 lr c|")
            gc = colors[orders.index("online")] if "online" in orders else colors[0]
            for k, src in enumerate(sources):
                gg = growth[(growth["batch_size"] == b) & (growth["source"] == src)].sort_values("lr")
                m = gg["log_growth_mean"].to_numpy(dtype=float)
                bottom.errorbar(gg["lr"], m, yerr=1.96 * gg["log_growth_mean_se"].to_numpy(dtype=float),
                                fmt="o^"[k % 2], ms=3.5 if k == 0 else 4.5, mfc=gc if k == 0 else "white",
                                color=gc, lw=0.9, label=f"simulated mean of log|e_T / e_0| / T, {src} (95 %)")
            bottom.axhline(0.0, color=_GREY, lw=0.8)
            for ax in (top, bottom):
                ax.set_xscale("log")
                ax.set_xlim(lo_lr / 1.05, hi_lr * 1.05)
                _sparse_log_ticks(ax, lo_lr / 1.05, hi_lr * 1.05)
                if len(th):
                    _marks(ax, float(th["ms_threshold"].iloc[0]), float(th["as_threshold"].iloc[0]),
                           label=ax is top)
            top.set_title(f"B = {b}", fontsize=11, pad=28)
            top.set_ylim(-0.03, 1.03)
            bottom.set_ylim(*ylim)
            bottom.set_xlabel("learning rate lr (log)")
        axes[0, 0].set_ylabel("fraction of runs unstable")
        axes[1, 0].set_ylabel("log growth of |e| per step")
        h1, l1 = axes[0, 0].get_legend_handles_labels()
        h2, l2 = axes[1, 0].get_legend_handles_labels()
        fig.legend(h1 + h2, l1 + l2, loc="outside lower center", ncol=3, fontsize=8.5)
        if title:
            fig.suptitle(title, fontsize=11)
        return _settle(fig)


@validate_params({"per_batch": _FRAME, "linear": _FRAME, "title": _TITLE})
def threshold_scaling(per_batch: pd.DataFrame, *, linear: pd.DataFrame, title: str | None = None) -> Figure:
    """Left: thresholds and best lr divided by B versus B; right: samples to tolerance at lr = B lr(1).

    Parameters
    ----------
    per_batch : pandas.DataFrame
        One row per ``batch_size``: theory lines ``ms_threshold``, ``as_threshold``,
        ``gd_threshold``, ``theory_best_lr``; simulated points with intervals ``as_sim``
        (``_lo``, ``_hi``), ``fixed_critical_lr_median`` (``_lo``, ``_hi``) and
        ``best_lr`` (``_lo``, ``_hi``).
    linear : pandas.DataFrame
        One row per (``base_lr``, ``batch_size``): ``samples_median``, ``samples_median_lo``,
        ``samples_median_hi`` (``inf`` beyond the budget), ``budget_samples`` and the
        population ``theory_samples``.
    title : str, optional
        Figure title.
    """
    owner = "threshold_scaling"
    sim = {"as_sim": "as_sim", "fixed_critical_lr_median": "fixed_critical_lr_median", "best_lr": "best_lr"}
    _need_columns("per_batch", owner, per_batch,
                  ["batch_size", "ms_threshold", "as_threshold", "gd_threshold", "theory_best_lr",
                   *[c + s for c in sim for s in ("", "_lo", "_hi")]])
    _need_columns("linear", owner, linear, ["base_lr", "batch_size", "samples_median", "samples_median_lo",
                                            "samples_median_hi", "budget_samples", "theory_samples",
                                            "unstable_rate"])
    with theme():
        fig, (left, right) = _subplots(1, 2, figsize=(14.5, 7.2))
        p = per_batch.sort_values("batch_size")
        b = p["batch_size"].to_numpy(dtype=float)
        colors = _palette(5)
        lines = [("gd_threshold", "full-batch GD threshold 1/s^2", "-", "0.55"),
                 ("ms_threshold", "mean-square threshold", _MS_STYLE, colors[0]),
                 ("as_threshold", "almost-sure threshold", _AS_STYLE, colors[1]),
                 ("theory_best_lr", "best lr (fewest steps), theory", "--", colors[2])]
        for col, label, ls, c in lines:
            v = p[col].to_numpy(dtype=float)
            left.plot(b, v / b, ls=ls, color=c, lw=1.5, label=f"{label} / B")
        points = [("as_sim", "almost-sure, simulated root (fresh samples)", "o", colors[1]),
                  ("fixed_critical_lr_median", "median critical lr of fixed-order datasets (exact)", "s",
                   colors[4]),
                  ("best_lr", "best lr on the grid, simulated (range: indistinguishable lrs)", "D",
                   colors[2])]
        for k, (col, label, mk, c) in enumerate(points):
            shift = 2.0 ** (0.06 * (k - 1))
            v, lo, hi = (p[col + s].to_numpy(dtype=float) / b for s in ("", "_lo", "_hi"))
            ok = np.isfinite(v)
            left.errorbar(b[ok] * shift, v[ok], yerr=[np.where(np.isfinite(lo), v - lo, 0)[ok],
                                                      np.where(np.isfinite(hi), hi - v, 0)[ok]],
                          fmt=mk, ms=5, mfc="white", color=c, lw=1.1, capsize=2, label=f"{label} / B")
        b1 = float(b[0])
        ref = float(p["as_threshold"].iloc[0]) / b1
        left.axhline(ref, color=_GREY, ls=(0, (1, 3)), lw=1.2)
        left.text(b[-1], ref, "linear scaling of the\nalmost-sure threshold", ha="right", va="bottom",
                  fontsize=8,
                  color=_GREY)
        _batch_axis(left, b)
        left.set_yscale("log")
        left.set_ylabel("learning rate / B (log scale)")
        left.set_title("Thresholds and best lr per unit of batch", fontsize=11)
        left.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
        bases = sorted(linear["base_lr"].unique())
        lc = _palette(max(len(bases), 2))
        for base, c in zip(bases, lc, strict=False):
            g = linear[linear["base_lr"] == base].sort_values("batch_size")
            x = g["batch_size"].to_numpy(dtype=float)
            right.plot(x, g["theory_samples"], "--", color=c, lw=1.3)
            draw_censored_medians(right, x, g["samples_median"], g["samples_median_lo"],
                                  g["samples_median_hi"],
                                  g["budget_samples"], color=c, ls="none", label=f"lr = B x {base:.3g}")
            bad = g[g["unstable_rate"] > 0.5]  # most runs diverge: a cross at the budget, not a triangle
            right.plot(bad["batch_size"], bad["budget_samples"] * 1.25, ls="none", marker="x", ms=7, mew=1.6,
                       color=c)
        if len(linear):
            right.axhline(float(linear["budget_samples"].max()), color=_GREY, ls=":", lw=1.0)
            right.text(0.02, float(linear["budget_samples"].max()), "budget",
                       transform=right.get_yaxis_transform(),
                       fontsize=8, color=_GREY, va="bottom")
        _batch_axis(right, b)
        right.set_yscale("log")
        right.set_ylabel("samples to tolerance = steps x B (log scale)")
        right.set_title("Linear scaling lr = B lr(1): flat = samples conserved", fontsize=11)
        h, lab = right.get_legend_handles_labels()
        from matplotlib.lines import Line2D

        h += [Line2D([], [], ls="--", color=_GREY), *censoring_handles(),
              Line2D([], [], ls="none", marker="x", ms=7, mew=1.6, color=_GREY)]
        lab += ["population theory B log(tol) / L_B(B lr(1))", *[x.get_label() for x in censoring_handles()],
                "most runs unstable (diverge): never reach the tolerance"]
        right.legend(h, lab, fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
        if title:
            fig.suptitle(title, fontsize=11)
        return _settle(fig)


@validate_params({"per_batch": _FRAME, "tol": Interval("float", 0, 1, "neither"), "title": _TITLE})
def samples_and_steps(per_batch: pd.DataFrame, *, tol: float, title: str | None = None) -> Figure:
    """Steps (left) and samples (right) to tolerance at the best lr per batch size, against theory.

    Parameters
    ----------
    per_batch : pandas.DataFrame
        One row per ``batch_size``: ``steps_median`` and ``samples_median`` with their
        ``_lo``/``_hi`` (``inf`` beyond the budget) and the population values at the
        theory's best lr, ``theory_best_steps`` and ``theory_best_samples``.
    tol : float
        The tolerance (relative to ``|e_0|``), for the axis labels.
    title : str, optional
        Figure title.
    """
    owner = "samples_and_steps"
    cols = [f"{q}_{s}" for q in ("steps", "samples") for s in ("median", "median_lo", "median_hi")]
    _need_columns("per_batch", owner, per_batch, ["batch_size", *cols, "theory_best_steps",
                                                   "theory_best_samples"])
    with theme():
        fig, axes = _subplots(1, 2, figsize=(12.5, 5.2))
        p = per_batch.sort_values("batch_size")
        b = p["batch_size"].to_numpy(dtype=float)
        c = _palette(2)
        panels = ((axes[0], "steps", "steps (updates)"), (axes[1], "samples", "samples = steps x B"))
        for ax, q, what in panels:
            v = p[f"{q}_median"].to_numpy(dtype=float)
            ax.plot(b, p[f"theory_best_{q}"], "--", color="0.15", lw=1.4,
                    label="population theory log(tol) / min L_B (at its best lr)")
            if np.isfinite(v[0]):
                ideal = v[0] * (b[0] / b if q == "steps" else np.ones_like(b))
                ax.plot(b, ideal, ls=(0, (1, 3)), color=_GREY, lw=1.3,
                        label="perfect scaling from B = 1 (samples conserved)")
            draw_censored_medians(ax, b, v, p[f"{q}_median_lo"], p[f"{q}_median_hi"], np.nan, color=c[0],
                                  ls="none", label="simulated median at the best grid lr (95 %)")
            _batch_axis(ax, b)
            ax.set_yscale("log")
            plain_log_ticks(ax.yaxis)
            ax.set_ylabel(f"{what} to tolerance (log scale)")
            ax.legend(fontsize=8, loc="upper center" if q == "steps" else "upper left")
        axes[0].set_title(f"Steps to |e| <= {tol:g} |e_0| fall with B, but slower than 1/B", fontsize=11)
        axes[1].set_title("so samples rise with B", fontsize=11)
        if title:
            fig.suptitle(title, fontsize=11)
        return _settle(fig)


@validate_params({"summary": _FRAME, "theory": _FRAME, "rules": _FRAME, "title": _TITLE})
def noise_floor_by_batch(summary: pd.DataFrame, *, theory: pd.DataFrame, rules: pd.DataFrame,
                         title: str | None = None) -> Figure:
    """Left: the stationary E e^2 versus lr, one colour per batch size; right: along learning-rate rules.

    Parameters
    ----------
    summary : pandas.DataFrame
        One row per (``batch_size``, ``lr``): ``e2_mean`` with ``e2_mean_se`` (drawn as a 1.96 SE
        bar) and ``se_valid`` (filled marker; open where the standard error is no yardstick).
    theory : pandas.DataFrame
        ``batch_size``, ``lr``, ``variance``: the closed form, one line per batch size.
    rules : pandas.DataFrame
        ``rule`` (legend entry), ``batch_size``, ``e2_mean``, ``e2_mean_se``, ``theory_variance``:
        the cells of each rule (e.g. ``lr = B lr(1)``), drawn against B.
    title : str, optional
        Figure title.
    """
    owner = "noise_floor_by_batch"
    _need_columns("summary", owner, summary, ["batch_size", "lr", "e2_mean", "e2_mean_se", "se_valid"])
    _need_columns("theory", owner, theory, ["batch_size", "lr", "variance"])
    _need_columns("rules", owner, rules, ["rule", "batch_size", "e2_mean", "e2_mean_se", "theory_variance"])
    with theme():
        fig, (left, right) = _subplots(1, 2, figsize=(14.0, 6.2))
        sizes = sorted(summary["batch_size"].unique())
        colors = _palette(len(sizes))
        for b, c in zip(sizes, colors, strict=True):
            t = theory[theory["batch_size"] == b].sort_values("lr")
            left.plot(t["lr"], t["variance"], "-", color=c, lw=1.2, alpha=0.8)
            g = summary[summary["batch_size"] == b].sort_values("lr")
            ok = g["se_valid"].to_numpy(dtype=bool)
            m, se = g["e2_mean"].to_numpy(dtype=float), g["e2_mean_se"].to_numpy(dtype=float)
            left.errorbar(g["lr"][ok], m[ok], yerr=1.96 * se[ok], fmt="o", ms=4, color=c, lw=1.0,
                          label=f"B = {b}")
            left.plot(g["lr"][~ok], m[~ok], ls="none", marker="o", ms=5, mfc="white", color=c)
        left.set_xscale("log")
        left.set_yscale("log")
        plain_log_ticks(left.xaxis)
        left.set_xlabel("learning rate lr (log scale)")
        left.set_ylabel("stationary mean square error E e^2 (log scale)")
        left.set_title("Per batch size: simulation (points) and closed form (lines)", fontsize=11)
        from matplotlib.lines import Line2D

        h, lab = left.get_legend_handles_labels()
        h += [Line2D([], [], ls="-", color=_GREY),
              Line2D([], [], ls="none", marker="o", mfc="white", color=_GREY)]
        lab += ["closed form lr sigma^2 / (B - lr s^2 (B + 2))",
                "e^2 has an infinite variance (heavy tail): no standard error"]
        left.legend(h, lab, fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3)
        names = list(dict.fromkeys(rules["rule"].astype(str)))
        rc = _palette(max(len(names), 2))
        for k, (name, c) in enumerate(zip(names, rc, strict=False)):
            g = rules[rules["rule"].astype(str) == name].sort_values("batch_size")
            x = g["batch_size"].to_numpy(dtype=float) * 2.0 ** (0.04 * (k - 0.5))
            right.plot(g["batch_size"], g["theory_variance"], "--", color=c, lw=1.3)
            right.errorbar(x, g["e2_mean"], yerr=1.96 * g["e2_mean_se"].to_numpy(dtype=float), fmt="o", ms=5,
                           color=c, lw=1.0, label=f"{name}: simulated (95 %)")
        _batch_axis(right, np.asarray(sizes, dtype=float))
        right.set_yscale("log")
        right.set_ylabel("stationary mean square error E e^2 (log scale)")
        right.set_title("Linear scaling keeps the floor; a fixed lr lowers it like 1/B", fontsize=11)
        h, lab = right.get_legend_handles_labels()
        h += [Line2D([], [], ls="--", color=_GREY)]
        lab += ["closed form"]
        right.legend(h, lab, fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
        if title:
            fig.suptitle(title, fontsize=11)
        return _settle(fig)
