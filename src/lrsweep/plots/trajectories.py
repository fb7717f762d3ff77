"""Figures of single trajectories: the seed's two figures and several learning rates on one dataset."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._validation import Described, Interval, ParameterError, message, validate_params
from .checks import _AX, _FINITE_1D, _FRAME, _TITLE, _need_columns
from .theme import _NEAR_BLACK, _palette, _settle, _subplots, theme

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


@validate_params({"records": _FRAME, "title": _TITLE})
def seed_trajectory(records: pd.DataFrame, *, title: str | None = None) -> Figure:
    """The seed's first figure: theta and per-sample loss over iterations, stacked.

    Parameters
    ----------
    records : pandas.DataFrame
        Recorded steps of one trajectory (``step``, ``theta``, ``loss``).
    title : str, optional
        Figure title.
    """
    _need_columns("records", "seed_trajectory", records, ["step", "theta", "loss"])
    with theme():
        fig, (a0, a1) = _subplots(2, 1, figsize=(10, 6), sharex=True)
        a0.plot(records["step"], records["theta"], lw=1.5)
        a0.set_ylabel(r"$\theta$ (slope)")
        a1.plot(records["step"], records["loss"], lw=0.8, color=_palette()[1])
        a1.set_ylabel(r"per-sample loss $(y - \theta x)^2$")
        a1.set_xlabel("iteration (SGD step)")
        if title:
            fig.suptitle(title)
        return _settle(fig)

@validate_params({"x": _FINITE_1D, "y": _FINITE_1D, "theta": _FINITE_1D,
                  "n_lines": Interval("int", 1, np.inf), "ax": _AX, "title": _TITLE})
def rainbow_fan(x: np.ndarray, y: np.ndarray, theta: np.ndarray, *, n_lines: int = 200,
                ax: Axes | None = None, title: str | None = None) -> Figure:
    """The seed's second figure: data and the line y = theta_k x of each iteration.

    Lines are coloured by iteration with the ``rainbow`` colormap at alpha
    0.1, from purple (the first step) to red, between ``min(x)`` and ``max(x)``.

    Parameters
    ----------
    x, y : array of float
        The data (same length).
    theta : array of float
        Theta after each iteration; the first ``n_lines`` are drawn.
    ax : matplotlib Axes, optional
        Draw there (the axes keep the caller's style; the colorbar gets the
        theme) instead of in a new figure.
    """
    if len(x) != len(y):
        raise ParameterError(message("y", "rainbow_fan", f"an array of the same length as x ({len(x)})",
                                     Described(f"an array of length {len(y)}")))
    import matplotlib

    with theme():
        if ax is None:
            fig, ax = _subplots(figsize=(7, 7))
            callers: tuple[Axes, ...] = ()
        else:
            fig = ax.figure
            callers = tuple(fig.axes)
        ax.scatter(x, y, s=14, color=_NEAR_BLACK, zorder=3, label="data")
        k = min(n_lines, len(theta))
        cmap = matplotlib.colormaps["rainbow"].resampled(k)
        xr = np.array([np.min(x), np.max(x)])
        for i in range(k):
            ax.plot(xr, theta[i] * xr, color=cmap(i), alpha=0.1)
        sm = matplotlib.cm.ScalarMappable(cmap=cmap, norm=matplotlib.colors.Normalize(1, k))
        fig.colorbar(sm, ax=ax, label="iteration")
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        if title:
            ax.set_title(title)
        return _settle(fig, callers=callers)

@validate_params({"records": _FRAME, "frame": _FRAME,
                  "theta_ref": Interval("float", -np.inf, np.inf, "neither"),
                  "zoom_max_lr": Interval("float", 0, np.inf, "left"),
                  "zoom_steps": Interval("int", 1, np.inf, "left"), "title": _TITLE})
def lr_comparison(records: pd.DataFrame, frame: pd.DataFrame, *, theta_ref: float = 5.0,
                  zoom_max_lr: float = 0.25, zoom_steps: int = 200, title: str | None = None) -> Figure:
    """Theta over iterations for several learning rates on the same data.

    Two panels: the first ``zoom_steps`` iterations of the learning rates up
    to ``zoom_max_lr`` on a linear scale (the seed's 0.01 versus 0.04), and
    every learning rate over the whole run on a symmetric log scale.

    Parameters
    ----------
    records : pandas.DataFrame
        Recorded steps (``trajectory_id``, ``step``, ``theta``).
    frame : pandas.DataFrame
        The results table (maps ``trajectory_id`` to ``lr`` and ``status``),
        one row for each trajectory of ``records``.
    """
    owner = "lr_comparison"
    _need_columns("records", owner, records, ["trajectory_id", "step", "theta"])
    _need_columns("frame", owner, frame, ["trajectory_id", "lr", "status"])
    ids = records["trajectory_id"].unique()
    counts = frame["trajectory_id"].value_counts()
    for tid in ids:
        if counts.get(tid, 0) != 1:
            rows = "no row" if counts.get(tid, 0) == 0 else f"{counts[tid]} rows"
            shown = tid.item() if isinstance(tid, np.generic) else tid
            raise ParameterError(message("frame", owner,
                                         "a DataFrame with one row for each trajectory_id of records",
                                         Described(f"{rows} for trajectory_id {shown!r}")))
    with theme():
        fig, (a0, a1) = _subplots(2, 1, figsize=(10, 8))
        meta = frame.set_index("trajectory_id")
        ids = sorted(ids, key=lambda t: meta.loc[t, "lr"])
        colors = dict(zip(ids, _palette(len(ids)), strict=True))
        for tid in ids:
            r = records[records["trajectory_id"] == tid]
            lr, status = meta.loc[tid, "lr"], meta.loc[tid, "status"]
            label = f"lr = {lr:g} ({status})"
            if lr <= zoom_max_lr:
                z = r[r["step"] <= zoom_steps]
                a0.plot(z["step"], z["theta"], color=colors[tid], lw=1.4, label=label)
            a1.plot(r["step"], r["theta"], color=colors[tid], lw=1.0, label=label)
        for ax in (a0, a1):
            ax.axhline(theta_ref, color="0.3", ls=":", lw=1, label=f"least-squares theta = {theta_ref:.4g}")
            ax.set_xlabel("iteration (SGD step)")
            ax.legend(fontsize=8, loc="lower right")
        a0.set_ylabel(r"$\theta$")
        a0.set_title(f"First {zoom_steps} iterations, lr <= {zoom_max_lr:g}", fontsize=11)
        a1.set_yscale("symlog", linthresh=10)
        a1.set_ylabel(r"$\theta$ (symmetric log beyond $\pm$10)")
        a1.set_title("All learning rates, whole run", fontsize=11)
        if title:
            fig.suptitle(title)
        return _settle(fig)
