"""Figures of momentum's stability region: a rate over (lr, beta) with boundaries, critical lr versus beta."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._validation import NoneOr, validate_params
from .checks import _COLUMN, _FRAME, _STR, _TITLE, _Colormap, _need_columns
from .curves import plain_log_ticks
from .theme import _palette, _settle, _subplots, theme

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Line styles of the theory curves, in the order of their first appearance.
_CURVE_STYLES = ("--", "-", "-.", ":")


def _edges(values: np.ndarray, *, log: bool) -> np.ndarray:
    """Cell edges around sorted centres: midpoints (geometric if ``log``), the ends half a step out."""
    v = np.log(values) if log else np.asarray(values, dtype=float)
    if len(v) == 1:
        step = np.log(1.2) if log else 0.05
        e = np.array([v[0] - step, v[0] + step])
    else:
        mid = (v[1:] + v[:-1]) / 2
        e = np.concatenate([[v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]])
    return np.exp(e) if log else e


def _to_t(beta: np.ndarray) -> np.ndarray:
    """The momentum axis's coordinate ``-log(1 - beta)``: equal steps for 0, 0.5, 0.75, 0.875 ... ."""
    b = np.minimum(np.asarray(beta, dtype=float), 1.0 - 1e-12)
    return -np.log1p(-b)


def _from_t(t: np.ndarray) -> np.ndarray:
    return -np.expm1(-np.asarray(t, dtype=float))


def _momentum_axis(ax: Axes, which: str, betas: np.ndarray) -> None:
    """A momentum axis on the scale ``-log(1 - beta)``, ticked at ``betas``: beta -> 1 gets room."""
    from matplotlib.ticker import NullLocator

    getattr(ax, f"set_{which}scale")("function", functions=(_to_t, _from_t))
    axis = ax.xaxis if which == "x" else ax.yaxis
    axis.set_ticks(betas, [f"{v:g}" for v in betas])
    axis.set_minor_locator(NullLocator())


def _curve_styles(curves: pd.DataFrame | None) -> dict[str, object]:
    names = [] if curves is None else list(dict.fromkeys(curves["curve"]))
    return {name: _CURVE_STYLES[i % len(_CURVE_STYLES)] for i, name in enumerate(names)}


@validate_params({"cells": _FRAME, "rate": _STR, "panel": _COLUMN, "critical": NoneOr(_FRAME),
                  "curves": NoneOr(_FRAME), "rate_label": _TITLE, "cmap": _Colormap(), "title": _TITLE})
def stability_region(cells: pd.DataFrame, *, rate: str, panel: str, critical: pd.DataFrame | None = None,
                     curves: pd.DataFrame | None = None, rate_label: str | None = None,
                     cmap: str = "rocket_r",
                     title: str | None = None) -> Figure:
    """A simulated rate over the (lr, momentum) plane, one panel per level of ``panel``, with boundaries.

    Each cell of the grid is coloured by ``{rate}_rate`` on a fixed 0-1
    scale (a proportion: no single cell sets the colours); simulated
    boundaries are drawn as white diamonds with horizontal 95 % bars, theory
    boundaries as lines (one style per curve, light bands for their
    intervals), each labelled at its top end.

    Parameters
    ----------
    cells : pandas.DataFrame
        One row per (``panel``, ``momentum``, ``lr``) with ``{rate}_rate``.
    rate : str
        The rate drawn (column ``{rate}_rate``).
    panel : str
        One panel per value of this column (e.g. the method).
    critical : pandas.DataFrame, optional
        Simulated boundary points: columns ``panel``, ``momentum``, ``lr``,
        ``lr_lo``, ``lr_hi`` (NaN points are not drawn).
    curves : pandas.DataFrame, optional
        Theory lines: columns ``panel``, ``curve`` (its name), ``momentum``,
        ``lr``, ``lr_lo``, ``lr_hi``.
    rate_label : str, optional
        Colour bar label.
    cmap : str or Colormap
        Colour map of the rate.
    title : str, optional
        The figure's title.
    """
    owner = "stability_region"
    _need_columns("cells", owner, cells, [panel, "momentum", "lr", f"{rate}_rate"])
    if critical is not None:
        _need_columns("critical", owner, critical, [panel, "momentum", "lr", "lr_lo", "lr_hi"])
    if curves is not None:
        _need_columns("curves", owner, curves, [panel, "curve", "momentum", "lr", "lr_lo", "lr_hi"])
    from matplotlib.lines import Line2D
    from matplotlib.transforms import offset_copy

    levels = list(dict.fromkeys(cells[panel]))
    styles = _curve_styles(curves)
    with theme():
        fig, axes = _subplots(1, len(levels), figsize=(6.2 * len(levels) + 1.4, 6.4), squeeze=False,
                              sharey=True)
        mesh = None
        for ax, level in zip(axes[0], levels, strict=True):
            part = cells[cells[panel] == level]
            grid = part.pivot_table(index="momentum", columns="lr", values=f"{rate}_rate", aggfunc="first")
            xs, ys = grid.columns.to_numpy(float), grid.index.to_numpy(float)
            y_edges = _from_t(_edges(_to_t(ys), log=False))
            mesh = ax.pcolormesh(_edges(xs, log=True), y_edges, grid.to_numpy(float), cmap=cmap,
                                 vmin=0.0, vmax=1.0, shading="flat", rasterized=True)
            ax.set_xscale("log")
            _momentum_axis(ax, "y", ys)
            if curves is not None:
                for name, c in curves[curves[panel] == level].groupby("curve", sort=False):
                    c = c.sort_values("momentum")
                    ax.fill_betweenx(c["momentum"], c["lr_lo"], c["lr_hi"], color="white", alpha=0.35, lw=0)
                    ax.plot(c["lr"], c["momentum"], ls=styles[name], color="white", lw=2.6, zorder=3)
                    ax.plot(c["lr"], c["momentum"], ls=styles[name], color="black", lw=1.3, zorder=3.1)
                    end = c.dropna(subset=["lr"])
                    if len(end):  # labelled left of its lowest end, in the grid's bottom half-row
                        end = end.iloc[0]
                        below = offset_copy(ax.transData, fig=fig, x=-4, y=-7, units="points")
                        ax.text(end["lr"], end["momentum"], str(name).split(" (")[0], transform=below,
                                ha="right", va="top", fontsize=8.5, color="black",
                                bbox={"facecolor": "white", "alpha": 0.85, "lw": 0, "pad": 1.0}, zorder=4)
            if critical is not None:
                p = critical[(critical[panel] == level) & critical["lr"].notna()]
                err = np.vstack([p["lr"] - p["lr_lo"], p["lr_hi"] - p["lr"]])
                err = np.where(np.isfinite(err), err, 0.0)
                ax.errorbar(p["lr"], p["momentum"], xerr=err, fmt="D", ms=6, mfc="white", mec="black",
                            mew=1.1,
                            ecolor="black", elinewidth=1.3, capsize=3, ls="none", zorder=5)
            ax.set_xlim(_edges(xs, log=True)[[0, -1]])
            ax.set_ylim(y_edges[0], y_edges[-1])
            plain_log_ticks(ax.xaxis)
            ax.set_title(str(level), fontsize=11)
            ax.set_xlabel("learning rate lr (log scale)")
        axes[0][0].set_ylabel("momentum beta (spaced as -log(1 - beta))")
        cbar = fig.colorbar(mesh, ax=list(axes[0]), fraction=0.04, pad=0.02)
        cbar.set_label(rate_label or rate)
        handles = [Line2D([], [], ls=styles[n], color="black", lw=1.3, label=f"theory: {n}") for n in styles]
        if critical is not None:
            handles.append(Line2D([], [], marker="D", ms=6, mfc="white", mec="black", color="black", ls="-",
                                  lw=1.3, label="simulation: boundary where half of the runs grew (95 %)"))
        if handles:
            fig.legend(handles=handles, loc="outside lower center", ncol=min(3, len(handles)), fontsize=9,
                       frameon=False)
        if title:
            fig.suptitle(title)
        return _settle(fig)


@validate_params({"table": _FRAME, "curves": NoneOr(_FRAME), "hue": _COLUMN, "deviation": NoneOr(_COLUMN),
                  "deviation_label": _STR, "ylabel": _TITLE, "title": _TITLE})
def critical_lr_vs_momentum(table: pd.DataFrame, *, curves: pd.DataFrame | None = None, hue: str = "method",
                            deviation: str | None = None,
                            deviation_label: str = "simulation - theory\n(standard errors)",
                            ylabel: str | None = None, title: str | None = None) -> Figure:
    """Critical learning rate versus momentum: simulated points with 95 % bars over theory lines.

    Colour encodes ``hue`` (e.g. the method); line style the theory curve
    (e.g. mean-square, almost-sure), with a light band for a curve's
    interval. An optional lower panel shows ``deviation`` (simulation minus
    theory in standard errors) with its +-2 band.

    Parameters
    ----------
    table : pandas.DataFrame
        Simulated points: columns ``hue``, ``momentum``, ``lr``, ``lr_lo``,
        ``lr_hi`` (and ``deviation`` if given); NaN points are not drawn.
    curves : pandas.DataFrame, optional
        Theory lines: columns ``hue``, ``curve``, ``momentum``, ``lr``, ``lr_lo``, ``lr_hi``.
    hue : str
        The column that colours points and lines.
    deviation : str, optional
        Column of the deviation in standard errors, drawn in a lower panel.
    deviation_label : str
        Label of the lower panel's axis (say which theory it is measured against).
    ylabel, title : str, optional
        Label of the lr axis and the figure's title.
    """
    owner = "critical_lr_vs_momentum"
    _need_columns("table", owner, table, [hue, "momentum", "lr", "lr_lo", "lr_hi",
                                          *([deviation] if deviation else [])])
    if curves is not None:
        _need_columns("curves", owner, curves, [hue, "curve", "momentum", "lr", "lr_lo", "lr_hi"])
    from matplotlib.lines import Line2D

    levels = list(dict.fromkeys([*table[hue], *([] if curves is None else curves[hue])]))
    colors = dict(zip(levels, _palette(len(levels)), strict=True))
    styles = _curve_styles(curves)
    with theme():
        if deviation:
            fig, (ax, axz) = _subplots(2, 1, figsize=(10, 7.4), sharex=True,
                                       gridspec_kw={"height_ratios": [3, 1.1]})
        else:
            fig, ax = _subplots(figsize=(10, 5.8))
            axz = None
        n = max(len(levels), 1)
        width = float(np.ptp(table["momentum"])) if len(table) else 0.0
        dodge = 0.006 * (width or 1.0)
        for j, level in enumerate(levels):
            col = colors[level]
            if curves is not None:
                for name, c in curves[curves[hue] == level].groupby("curve", sort=False):
                    c = c.sort_values("momentum")
                    ax.fill_between(c["momentum"], c["lr_lo"], c["lr_hi"], color=col, alpha=0.18, lw=0)
                    ax.plot(c["momentum"], c["lr"], ls=styles[name], color=col, lw=1.6)
            p = table[(table[hue] == level) & table["lr"].notna()]
            shift = (j - (n - 1) / 2) * dodge
            err = np.vstack([p["lr"] - p["lr_lo"], p["lr_hi"] - p["lr"]])
            ax.errorbar(p["momentum"] + shift, p["lr"], yerr=np.where(np.isfinite(err), err, 0.0), fmt="o",
                        ms=5,
                        color=col, capsize=3, lw=1.2, ls="none", zorder=4)
            if axz is not None:
                axz.plot(p["momentum"] + shift, p[deviation], "o", color=col, ms=5)
        ax.set_yscale("log")
        plain_log_ticks(ax.yaxis)
        betas = np.sort(table["momentum"].unique())
        _momentum_axis(ax, "x", betas)
        if axz is not None:
            _momentum_axis(axz, "x", betas)
        t = _to_t(betas)
        pad = 0.05 * max(float(np.ptp(t)), 1.0)
        ax.set_xlim(float(_from_t(t[0] - pad)), float(_from_t(t[-1] + pad)))
        ax.set_ylabel(ylabel or "critical learning rate (log scale)")
        handles = [Line2D([], [], marker="o", color=colors[v], ls="none", label=f"simulation, {v}")
                   for v in levels if v in set(table[hue])]
        handles += [Line2D([], [], color="0.3", ls=styles[n_], label=f"theory: {n_}") for n_ in styles]
        ax.legend(handles=handles, fontsize=8.5, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  borderaxespad=0.0)
        if axz is not None:
            axz.axhspan(-2, 2, color="0.85", lw=0)
            axz.axhline(0, color="0.3", lw=1)
            top = float(np.nanmax(np.abs(table[deviation].to_numpy(dtype=float)), initial=0.0))
            axz.set_ylim(-max(3.5, 1.1 * top), max(3.5, 1.1 * top))
            axz.set_ylabel(deviation_label, fontsize=10)
            axz.set_xlabel("momentum beta (spaced as -log(1 - beta))")
        else:
            ax.set_xlabel("momentum beta (spaced as -log(1 - beta))")
        if title:
            fig.suptitle(title)
        return _settle(fig)

