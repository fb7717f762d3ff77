"""Figures of SGD with d features: thresholds versus d, the exponent per d, the sample orders.

Theory as lines (Monte Carlo theory with a band of 1.96 standard errors),
simulation as points with 95 % intervals; medians beyond the budget drawn
open (:func:`lrsweep.plots.steps.draw_censored_medians`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._validation import Boolean, validate_params
from .checks import _FRAME, _TITLE, _need_columns
from .steps import _GREY, censoring_handles, draw_censored_medians
from .theme import _palette, _settle, _subplots, theme

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

_PER_D = [
    "n_features",
    "condition",
    "fit_intercept",
    "ms_threshold",
    "as_threshold",
    "as_threshold_se",
    "as_sim",
    "as_sim_lo",
    "as_sim_hi",
    "second_moment",
]


def _d_axis(ax, dims) -> None:
    ax.set_xscale("log")
    ax.set_xticks(dims)
    ax.set_xticklabels([str(int(d)) for d in dims])
    ax.minorticks_off()
    ax.set_xlabel("number of features d (log scale)")


def _bias_label(bias: bool) -> str:
    return "with a bias" if bias else "no bias"


@validate_params({"per_d": _FRAME, "scaled": Boolean(), "title": _TITLE})
def thresholds_vs_dimension(per_d: pd.DataFrame, *, scaled: bool = False, title: str | None = None) -> Figure:
    """Mean-square and almost-sure thresholds versus d: theory lines, simulated roots as points.

    Parameters
    ----------
    per_d : pandas.DataFrame
        One row per (``n_features``, ``condition``, ``fit_intercept``) with ``ms_threshold``,
        ``as_threshold``, ``as_threshold_se`` (0 for a quadrature), ``as_sim`` with its
        interval ``as_sim_lo``, ``as_sim_hi`` and ``second_moment`` (``E||x||^2``). Isotropic
        rows (``condition`` 1) are drawn as lines over d; others as separate markers.
    scaled : bool
        Plot ``lr E||x||^2`` on a linear axis instead of lr on a log axis.
    title : str, optional
        Figure title.
    """
    _need_columns("per_d", "thresholds_vs_dimension", per_d, _PER_D)
    with theme():
        fig, ax = _subplots(figsize=(8.6, 5.6))
        colors = _palette(3)
        iso = per_d[per_d["condition"] == 1.0]
        other = per_d[per_d["condition"] != 1.0]
        dims = sorted(per_d["n_features"].unique())
        k = (lambda g: g["second_moment"].to_numpy(dtype=float)) if scaled else (lambda g: 1.0)
        for bias, c in ((False, colors[0]), (True, colors[1])):
            g = iso[iso["fit_intercept"] == bias].sort_values("n_features")
            if g.empty:
                continue
            d = g["n_features"].to_numpy(dtype=float)
            ax.plot(
                d,
                g["as_threshold"] * k(g),
                "-",
                color=c,
                lw=1.6,
                label=f"almost-sure, theory ({_bias_label(bias)})",
            )
            se = 1.96 * g["as_threshold_se"].to_numpy(dtype=float) * k(g)
            ax.fill_between(
                d, g["as_threshold"] * k(g) - se, g["as_threshold"] * k(g) + se, color=c, alpha=0.25, lw=0
            )
            ax.plot(
                d,
                g["ms_threshold"] * k(g),
                ":",
                color=c,
                lw=1.6,
                label=f"mean-square, exact ({_bias_label(bias)})",
            )
            off = 1.04 if bias else 0.96
            y = g["as_sim"].to_numpy(dtype=float) * k(g)
            ax.errorbar(
                d * off,
                y,
                yerr=[y - g["as_sim_lo"] * k(g), g["as_sim_hi"] * k(g) - y],
                fmt="o",
                ms=5,
                color=c,
                capsize=0,
                lw=1.2,
                label=f"almost-sure, simulated ({_bias_label(bias)})",
            )
        for bias, g in other.groupby("fit_intercept"):
            c = colors[2]
            y = g["as_sim"].to_numpy(dtype=float) * k(g)
            d = g["n_features"].to_numpy(dtype=float) * (1.04 if bias else 0.96)
            kap = float(g["condition"].iloc[0])
            ax.errorbar(
                d,
                y,
                yerr=[y - g["as_sim_lo"] * k(g), g["as_sim_hi"] * k(g) - y],
                fmt="D" if bias else "s",
                ms=6,
                mfc="none" if bias else c,
                color=c,
                capsize=0,
                lw=1.2,
                label=f"kappa = {kap:g}, simulated ({_bias_label(bool(bias))})",
            )
            ax.errorbar(
                d,
                g["as_threshold"] * k(g),
                yerr=1.96 * g["as_threshold_se"] * k(g),
                fmt="_",
                ms=14,
                mew=2,
                color="0.2",
                capsize=0,
                label="kappa: almost-sure theory (Monte Carlo)" if not bias else None,
            )
            ax.plot(
                d,
                g["ms_threshold"] * k(g),
                "x",
                color="0.2",
                ms=7,
                label="kappa: mean-square, exact" if not bias else None,
            )
        _d_axis(ax, dims)
        if scaled:
            ax.axhline(1.0, color=_GREY, lw=1.0, ls="--", zorder=1)
            ax.text(dims[-1], 1.0, "lr E||x||^2 = 1 ", ha="right", va="bottom", fontsize=8, color="0.2")
            ax.set_ylabel("threshold x E||x||^2  (lr E||x||^2, linear)")
        else:
            ax.set_yscale("log")
            ax.set_ylabel("threshold learning rate (log scale)")
        ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        if title:
            fig.suptitle(title, fontsize=10)
        return _settle(fig)


@validate_params({"per_d": _FRAME, "title": _TITLE})
def steps_vs_dimension(per_d: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Left: the thresholds and the best lr in units of ``1/E||x||^2`` per d; right: the median steps there.

    Parameters
    ----------
    per_d : pandas.DataFrame
        As :func:`thresholds_vs_dimension`, plus ``best_lr_scaled``, ``best_lr_scaled_lo``,
        ``best_lr_scaled_hi``, ``steps_median``, ``steps_median_lo``, ``steps_median_hi``,
        ``budget``, ``theory_best_lr_scaled`` and ``theory_best_steps`` (NaN where not known),
        ``as_sim_scaled``, ``as_threshold_scaled`` and ``ms_threshold_scaled`` (thresholds x ``E||x||^2``).
    title : str, optional
        Figure title.
    """
    _need_columns(
        "per_d",
        "steps_vs_dimension",
        per_d,
        [
            "n_features",
            "condition",
            "fit_intercept",
            "best_lr_scaled",
            "best_lr_scaled_lo",
            "best_lr_scaled_hi",
            "steps_median",
            "steps_median_lo",
            "steps_median_hi",
            "budget",
            "theory_best_lr_scaled",
            "theory_best_steps",
            "as_sim_scaled",
            "as_threshold_scaled",
            "ms_threshold_scaled",
        ],
    )
    with theme():
        fig, (left, right) = _subplots(1, 2, figsize=(12.5, 6.4))
        colors = _palette(3)
        iso = per_d[per_d["condition"] == 1.0]
        dims = sorted(per_d["n_features"].unique())
        for bias, c in ((False, colors[0]), (True, colors[1])):
            g = iso[iso["fit_intercept"] == bias].sort_values("n_features")
            if g.empty:
                continue
            d = g["n_features"].to_numpy(dtype=float) * (1.04 if bias else 0.96)
            y = g["best_lr_scaled"].to_numpy(dtype=float)
            left.errorbar(
                d,
                y,
                yerr=[y - g["best_lr_scaled_lo"], g["best_lr_scaled_hi"] - y],
                fmt="o",
                ms=5,
                color=c,
                capsize=0,
                lw=1.2,
                label=f"fewest steps, simulated ({_bias_label(bias)})",
            )
            left.plot(
                d,
                g["as_sim_scaled"],
                "x",
                color=c,
                ms=6,
                label=f"almost-sure threshold, simulated ({_bias_label(bias)})",
            )
            dd = g["n_features"].to_numpy(dtype=float)
            left.plot(dd, g["as_threshold_scaled"], "-.", color=c, lw=1.0,
                      label=f"almost-sure threshold, theory ({_bias_label(bias)})")
            left.plot(dd, g["ms_threshold_scaled"], ":", color=c, lw=1.2,
                      label=f"mean-square threshold, exact ({_bias_label(bias)})")
            draw_censored_medians(
                right,
                d,
                g["steps_median"],
                g["steps_median_lo"],
                g["steps_median_hi"],
                g["budget"],
                color=c,
                label=f"simulated median ({_bias_label(bias)})",
            )
            if not bias:
                t = g[np.isfinite(g["theory_best_steps"])]
                left.plot(
                    t["n_features"],
                    t["theory_best_lr_scaled"],
                    "-",
                    color=c,
                    lw=1.4,
                    label="fewest steps, population theory (no bias)",
                )
                right.plot(
                    t["n_features"],
                    t["theory_best_steps"],
                    "-",
                    color=c,
                    lw=1.4,
                    label="population theory log(tol) / min lambda (no bias)",
                )
        other = per_d[per_d["condition"] != 1.0]
        for bias, g in other.groupby("fit_intercept"):
            d = g["n_features"].to_numpy(dtype=float) * (1.04 if bias else 0.96)
            kap = float(g["condition"].iloc[0])
            draw_censored_medians(
                right,
                d,
                g["steps_median"],
                g["steps_median_lo"],
                g["steps_median_hi"],
                g["budget"],
                color=colors[2],
                marker="D" if bias else "s",
                ls="none",
                label=f"kappa = {kap:g} ({_bias_label(bool(bias))})",
            )
        for ax in (left, right):
            _d_axis(ax, dims)
        left.set_ylabel("lr E||x||^2 (linear)")
        left.set_ylim(0, None)
        left.axhline(1.0, color=_GREY, lw=1.0, ls="--", zorder=1)
        right.set_yscale("log")
        right.set_ylabel("median steps to tolerance at the best lr (log scale)")
        left.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
        h, lab = right.get_legend_handles_labels()
        right.legend(
            h + censoring_handles(),
            lab + [x.get_label() for x in censoring_handles()],
            fontsize=7,
            loc="upper left",
        )
        if title:
            fig.suptitle(title, fontsize=10)
        return _settle(fig)


@validate_params({"summary": _FRAME, "theory": _FRAME, "title": _TITLE})
def exponent_by_dimension(summary: pd.DataFrame, *, theory: pd.DataFrame, title: str | None = None) -> Figure:
    """``d x`` the mean log growth per step versus ``lr E||x||^2``, one colour per d, a panel per bias.

    Parameters
    ----------
    summary : pandas.DataFrame
        ``n_features``, ``fit_intercept``, ``c``, ``log_growth_mean``, ``log_growth_mean_se``:
        simulation (points with 1.96 SE bars).
    theory : pandas.DataFrame
        ``n_features``, ``fit_intercept``, ``c``, ``log_multiplier``, ``log_multiplier_se``: the
        population exponent (a line; a band where it is a Monte Carlo estimate).
    title : str, optional
        Figure title.
    """
    _need_columns(
        "summary",
        "exponent_by_dimension",
        summary,
        ["n_features", "fit_intercept", "c", "log_growth_mean", "log_growth_mean_se"],
    )
    _need_columns(
        "theory",
        "exponent_by_dimension",
        theory,
        ["n_features", "fit_intercept", "c", "log_multiplier", "log_multiplier_se"],
    )
    biases = sorted(summary["fit_intercept"].unique())
    dims = sorted(summary["n_features"].unique())
    with theme():
        fig, axes = _subplots(
            1, len(biases), figsize=(6.2 * len(biases) + 1.8, 5.2), sharey=True, squeeze=False
        )
        colors = _palette(len(dims))
        for ax, bias in zip(axes[0], biases, strict=True):
            for d, c in zip(dims, colors, strict=True):
                t = theory[(theory["n_features"] == d) & (theory["fit_intercept"] == bias)].sort_values("c")
                ax.plot(t["c"], d * t["log_multiplier"], "-", color=c, lw=1.3)
                ax.fill_between(
                    t["c"],
                    d * (t["log_multiplier"] - 1.96 * t["log_multiplier_se"]),
                    d * (t["log_multiplier"] + 1.96 * t["log_multiplier_se"]),
                    color=c,
                    alpha=0.25,
                    lw=0,
                )
                g = summary[(summary["n_features"] == d) & (summary["fit_intercept"] == bias)].sort_values(
                    "c"
                )
                ax.errorbar(
                    g["c"],
                    d * g["log_growth_mean"],
                    yerr=1.96 * d * g["log_growth_mean_se"],
                    fmt="o",
                    ms=3.5,
                    color=c,
                    capsize=0,
                    lw=0.9,
                    label=f"d = {int(d)}",
                )
            ax.axhline(0.0, color=_GREY, lw=1.0, zorder=1)
            ax.set_xlabel("lr E||x||^2 (linear)")
            ax.set_title(_bias_label(bool(bias)), fontsize=10)
        axes[0, 0].set_ylabel("d x mean log growth of ||e|| per step")
        axes[0, -1].legend(
            fontsize=8,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            frameon=False,
            title="points: simulated\nlines: theory",
        )
        if title:
            fig.suptitle(title, fontsize=10)
        return _settle(fig)


@validate_params({"summary": _FRAME, "critical": _FRAME, "marks": _FRAME, "title": _TITLE})
def orders_vs_lr(
    summary: pd.DataFrame, *, critical: pd.DataFrame, marks: pd.DataFrame, title: str | None = None
) -> Figure:
    """Per d: the unstable fraction of each sample order versus ``lr E||x||^2``, with the exact
    fixed-order fraction (line), the datasets' median critical lr (band) and the population thresholds.

    Parameters
    ----------
    summary : pandas.DataFrame
        ``n_features``, ``order``, ``c``, ``unstable_rate``, ``unstable_lo``, ``unstable_hi``,
        ``exact_rate`` (NaN except for ``fixed``).
    critical : pandas.DataFrame
        ``n_features``, ``critical_c_median``, ``critical_c_median_lo``, ``critical_c_median_hi``.
    marks : pandas.DataFrame
        ``n_features``, ``ms_c``, ``as_c``: population thresholds in the same units.
    title : str, optional
        Figure title.
    """
    _need_columns(
        "summary",
        "orders_vs_lr",
        summary,
        ["n_features", "order", "c", "unstable_rate", "unstable_lo", "unstable_hi", "exact_rate"],
    )
    _need_columns(
        "critical",
        "orders_vs_lr",
        critical,
        ["n_features", "critical_c_median", "critical_c_median_lo", "critical_c_median_hi"],
    )
    _need_columns("marks", "orders_vs_lr", marks, ["n_features", "ms_c", "as_c"])
    dims = sorted(summary["n_features"].unique())
    orders = list(dict.fromkeys(summary["order"].astype(str)))
    with theme():
        fig, axes = _subplots(1, len(dims), figsize=(5.6 * len(dims) + 2.2, 4.8), sharey=True, squeeze=False)
        colors = _palette(len(orders))
        for ax, d in zip(axes[0], dims, strict=True):
            for k, (o, c) in enumerate(zip(orders, colors, strict=True)):
                g = summary[(summary["n_features"] == d) & (summary["order"].astype(str) == o)].sort_values(
                    "c"
                )
                r = g["unstable_rate"].to_numpy(dtype=float)
                ax.errorbar(
                    g["c"] * (1 + 0.006 * (k - 1.5)),
                    r,
                    yerr=[r - g["unstable_lo"], g["unstable_hi"] - r],
                    fmt="osD^"[k % 4],
                    ms=4,
                    color=c,
                    lw=0.9,
                    capsize=0,
                    label=f"{o}, simulated",
                )
                if o == "fixed":
                    ax.plot(
                        g["c"], g["exact_rate"], "-", color=c, lw=1.4, label="fixed, exact log rho(M) > 0"
                    )
            cr = critical[critical["n_features"] == d]
            if len(cr):
                r = cr.iloc[0]
                ax.axvspan(
                    r["critical_c_median_lo"],
                    r["critical_c_median_hi"],
                    color=_GREY,
                    alpha=0.25,
                    lw=0,
                    label="datasets' median critical lr (95 %)",
                )
            mk = marks[marks["n_features"] == d]
            if len(mk):
                ax.axvline(mk["ms_c"].iloc[0], color="0.2", ls=":", lw=1.2, label="mean-square (population)")
                ax.axvline(mk["as_c"].iloc[0], color="0.2", ls="-.", lw=1.2, label="almost-sure (population)")
            ax.set_xlabel("lr E||x||^2 (linear)")
            ax.set_title(f"d = {int(d)}", fontsize=10)
        axes[0, 0].set_ylabel("fraction of runs whose ||e|| grew over the run")
        axes[0, -1].legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        if title:
            fig.suptitle(title, fontsize=10)
        return _settle(fig)
