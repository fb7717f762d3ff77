"""Figures of single trajectories: the seed's two figures and several learning rates on one dataset."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._validation import Described, Interval, NoneOr, ParameterError, message, validate_params
from .checks import _AX, _FINITE_1D, _FRAME, _TITLE, _need_columns
from .theme import _NEAR_BLACK, _palette, _settle, _subplots, theme

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def _mark_epochs(ax: Axes, epoch_length: int | None, last_step: float, *, label: str | None = None) -> None:
    """Thin vertical lines at the epoch boundaries (after steps n, 2n, ...).

    ``label`` ("top" or "bottom") writes "epoch j" just right of each line, at that edge of the axes.
    """
    if not epoch_length:
        return
    trans = ax.get_xaxis_transform()
    for j, b in enumerate(np.arange(epoch_length, last_step, epoch_length), start=1):
        ax.axvline(b + 0.5, color="0.55", lw=0.8, ls="--", zorder=1)
        if label:
            ax.text(b + 0.5, 0.97 if label == "top" else 0.03, f" epoch {j + 1}", transform=trans, ha="left",
                    va="top" if label == "top" else "bottom", fontsize=8, color="0.4")


@validate_params({"records": _FRAME, "theta_ref": NoneOr(Interval("float", -np.inf, np.inf, "neither")),
                  "epoch_length": NoneOr(Interval("int", 1, np.inf)), "title": _TITLE})
def seed_trajectory(records: pd.DataFrame, *, theta_ref: float | None = None, epoch_length: int | None = None,
                    title: str | None = None) -> Figure:
    """The seed's first figure: theta and per-sample loss over iterations, plus the loss on a log scale.

    Three panels sharing the step axis: theta (with the least-squares
    ``theta_ref`` as a dotted line), the per-sample loss on a linear scale
    (the lecture's panel) and on a log scale, where the zig-zag of the loss
    stays visible after the linear panel has flattened. Epoch boundaries are
    marked when ``epoch_length`` is given.

    Parameters
    ----------
    records : pandas.DataFrame
        Recorded steps of one trajectory (``step``, ``theta``, ``loss``).
    theta_ref : float, optional
        The least-squares slope of the data, drawn as a reference line.
    epoch_length : int, optional
        Samples per epoch (n): dashed lines at the epoch boundaries.
    title : str, optional
        Figure title.
    """
    _need_columns("records", "seed_trajectory", records, ["step", "theta", "loss"])
    with theme():
        fig, (a0, a1, a2) = _subplots(3, 1, figsize=(10, 8.5), sharex=True,
                                      gridspec_kw={"height_ratios": [1.0, 0.8, 1.1]})
        pal = _palette()
        last = float(records["step"].max()) if len(records) else 0.0
        a0.plot(records["step"], records["theta"], lw=1.5, color=pal[0], label=r"SGD iterate $\theta_k$")
        if theta_ref is not None:
            a0.axhline(theta_ref, color="0.2", ls=":", lw=1.3,
                       label=f"least-squares theta_ref = {theta_ref:.4g}")
            a0.legend(fontsize=8, loc="center right")
        a0.set_ylabel(r"$\theta$ (slope)")
        a1.plot(records["step"], records["loss"], lw=0.8, color=pal[1])
        a1.set_ylabel("per-sample loss\n" r"$(y - \theta x)^2$")
        loss = records["loss"].to_numpy(dtype=np.float64)
        a2.plot(records["step"], np.where(loss > 0, loss, np.nan), lw=0.7, color=pal[1])
        a2.set_yscale("log")
        a2.set_ylabel("per-sample loss\n(log scale)")
        a2.set_xlabel("iteration (SGD step)")
        for ax in (a0, a1, a2):
            _mark_epochs(ax, epoch_length, last, label="bottom" if ax is a0 else None)
        if title:
            fig.suptitle(title)
        return _settle(fig)


@validate_params({"x": _FINITE_1D, "y": _FINITE_1D, "theta": _FINITE_1D,
                  "n_lines": Interval("int", 1, np.inf), "ax": _AX, "title": _TITLE})
def rainbow_fan(x: np.ndarray, y: np.ndarray, theta: np.ndarray, *, n_lines: int = 200,
                ax: Axes | None = None, title: str | None = None) -> Figure:
    """The seed's second figure: data and the line y = theta_k x of each iteration.

    Lines are coloured by iteration with the ``rainbow`` colormap at alpha
    0.1, from purple (the first step) to red, between ``min(x)`` and ``max(x)``,
    drawn above the data, which are small open circles: the last lines, which
    lie on the data, stay visible.

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
        ax.scatter(x, y, s=16, facecolors="none", edgecolors=_NEAR_BLACK, linewidths=0.8, zorder=2,
                   label="data")
        k = min(n_lines, len(theta))
        cmap = matplotlib.colormaps["rainbow"].resampled(k)
        xr = np.array([np.min(x), np.max(x)])
        for i in range(k):
            ax.plot(xr, theta[i] * xr, color=cmap(i), alpha=0.1, zorder=3)
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
    """Theta over iterations for several learning rates on the same data, and the error on a log scale.

    Two panels: the first ``zoom_steps`` iterations of the learning rates up
    to ``zoom_max_lr`` on a linear scale (the seed's 0.01 versus 0.04), and
    the error ``|theta - theta_ref|`` of every learning rate over the whole
    run on a log scale. When ``frame`` has the columns ``S``, ``n_samples``
    and ``theta0`` (:meth:`lrsweep.Results.with_theory`), each error is drawn
    with its exact trend ``|e_0| exp(k S / n)``, dashed in the same colour
    (for noise-free fixed-order runs ``|e|`` is on it after every whole epoch),
    and the epoch boundaries are marked.

    Parameters
    ----------
    records : pandas.DataFrame
        Recorded steps (``trajectory_id``, ``step``, ``theta``).
    frame : pandas.DataFrame
        The results table (maps ``trajectory_id`` to ``lr`` and ``status``;
        optionally ``S``, ``n_samples``, ``theta0``), one row for each
        trajectory of ``records``.
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
    trend = all(c in frame.columns for c in ("S", "n_samples", "theta0"))
    with theme():
        fig, (a0, a1) = _subplots(2, 1, figsize=(12, 8.5), gridspec_kw={"height_ratios": [1.0, 1.25]})
        meta = frame.set_index("trajectory_id")
        ids = sorted(ids, key=lambda t: meta.loc[t, "lr"])
        colors = dict(zip(ids, _palette(len(ids)), strict=True))
        positive = []
        last = float(records["step"].max()) if len(records) else 0.0
        for tid in ids:
            r = records[records["trajectory_id"] == tid]
            lr, status = meta.loc[tid, "lr"], meta.loc[tid, "status"]
            label = f"lr = {lr:g}: {status}"
            if trend:
                s = float(meta.loc[tid, "S"])
                label += f"; exact S = {s:.3g} per epoch ({'unstable' if s > 0 else 'stable'})"
            if lr <= zoom_max_lr:
                z = r[r["step"] <= zoom_steps]
                a0.plot(z["step"], z["theta"], color=colors[tid], lw=1.4, label=f"lr = {lr:g}")
            err = np.abs(r["theta"].to_numpy(dtype=np.float64) - theta_ref)
            positive.append(err[err > 0])
            a1.plot(r["step"], np.where(err > 0, err, np.nan), color=colors[tid], lw=0.9, label=label)
            if trend:
                n = int(meta.loc[tid, "n_samples"])
                e0 = abs(float(meta.loc[tid, "theta0"]) - theta_ref)
                k = np.linspace(0.0, last, 400)
                with np.errstate(over="ignore", divide="ignore"):
                    a1.plot(k, e0 * np.exp(k * s / n), "--", color=colors[tid], lw=1.3, alpha=0.9)
        a0.axhline(theta_ref, color="0.3", ls=":", lw=1, label=f"least-squares theta_ref = {theta_ref:.4g}")
        a0.set_xlabel("iteration (SGD step)")
        a0.legend(fontsize=8, loc="lower right")
        a0.set_ylabel(r"$\theta$")
        a0.set_title(f"First {zoom_steps} iterations, lr <= {zoom_max_lr:g}", fontsize=11)
        a1.set_yscale("log")
        values = np.concatenate(positive) if positive else np.array([1.0])
        if values.size:  # the data set the range; the trend lines run on below it
            a1.set_ylim(values.min() / 10, values.max() * 10)
        resolution = np.finfo(np.float64).eps * abs(theta_ref)
        if resolution > 0:
            a1.axhline(resolution, color="0.45", lw=0.9, ls=":")
            a1.text(1.0, resolution, "float64 resolution of theta_ref ", transform=a1.get_yaxis_transform(),
                    ha="right", va="bottom", fontsize=8, color="0.35")
        if trend:
            n_all = meta["n_samples"].unique()
            if len(n_all) == 1:
                _mark_epochs(a1, int(n_all[0]), last, label="top")
            from matplotlib.lines import Line2D

            handles, labels = a1.get_legend_handles_labels()
            handles.append(Line2D([], [], ls="--", color="0.3"))
            labels.append(r"exact trend $|e_0|\,e^{kS/n}$ (dashed, same colour)")
        else:
            handles, labels = a1.get_legend_handles_labels()
        fig.legend(handles, labels, fontsize=8, loc="outside lower center", ncol=2)
        a1.set_xlabel("iteration (SGD step)")
        a1.set_ylabel(r"$|\theta - \theta_{ref}|$ (log scale)")
        a1.set_title("Every learning rate, whole run: the error", fontsize=11)
        if title:
            fig.suptitle(title)
        return _settle(fig)
