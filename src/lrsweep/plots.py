"""Figures from tidy frames, in lrsweep's seaborn theme, leaving matplotlib's global state alone.

Every function takes tidy frames, an optional ``ax`` (or draws its own
figure), returns the :class:`matplotlib.figure.Figure` and never shows it.
Colours: seaborn's colour-blind-safe palette, except the seed's rainbow fan,
where the rainbow is the point.

The look (seaborn's ``notebook`` context, ``whitegrid`` style and
``colorblind`` palette) is applied only while a figure is built, inside
:func:`theme`: the caller's rcParams, colour codes and backend are the same
after a call as before it, and the figure keeps its look when it is rendered
later, outside the theme (``savefig`` after the call, Jupyter's display at the
end of a cell). The backend is the application's choice; these functions work
under whichever one is active.

Arguments are checked first (:mod:`lrsweep._validation`): a wrong type or
value, or a frame without a column the call needs, raises a
:class:`~lrsweep._validation.ParameterError` naming the parameter.
"""

from __future__ import annotations

import contextlib
import numbers
import reprlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ._validation import (
    Array,
    Boolean,
    Constraint,
    Described,
    InstanceOf,
    Interval,
    NoneOr,
    ParameterError,
    ParameterTypeError,
    message,
    validate_params,
)

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "divergence_curve",
    "heatmaps",
    "lines_with_bands",
    "lr_comparison",
    "oscillation_curve",
    "rainbow_fan",
    "seed_trajectory",
    "speed_vs_stability",
    "survival_loglog",
    "theme",
]


# ------------------------------------------------------------------ the theme
@contextlib.contextmanager
def theme() -> Iterator[None]:
    """Apply lrsweep's look to what is created inside the block, and only there.

    seaborn's ``notebook`` context, ``whitegrid`` style and ``colorblind``
    colour cycle (the rcParams ``seaborn.set_theme(context="notebook",
    style="whitegrid", palette="colorblind")`` would set for the whole
    session), set inside a :func:`matplotlib.rc_context`, which restores
    every rcParam on exit, also on error (seaborn's own ``theme_context``
    habit). Unlike ``set_theme`` it leaves the single-letter colour codes
    (``"k"``, ``"b"``, ...) their matplotlib meaning.

    The font family is pinned to the font the style's ``font.sans-serif``
    list resolves to on this machine (Arial where installed, else DejaVu
    Sans): text stores its family when created but a generic family such as
    ``"sans-serif"`` is looked up only when drawn, so a figure rendered after
    the block would otherwise take the font of the caller's
    ``font.sans-serif``.

    Figures created inside the block take the theme. matplotlib reads a
    few settings only when a figure is drawn; lrsweep's plot functions fix
    those before returning, so their figures look the same wherever they
    are saved or displayed. A figure of your own made in the block keeps
    its look exactly if it is also saved in the block.

    Examples
    --------
    ::

        with plots.theme():
            fig, ax = plt.subplots()
            ax.plot(x, y)
    """
    import matplotlib as mpl
    import seaborn as sns
    from cycler import cycler

    params = {
        # seaborn.set_theme sets the context, then the style (their keys do not overlap), then the palette.
        **sns.plotting_context("notebook"),
        **sns.axes_style("whitegrid"),
        "axes.prop_cycle": cycler(color=sns.color_palette("colorblind")),
    }
    with mpl.rc_context(params):
        family = _concrete_font_family()
        if family is not None:
            mpl.rcParams["font.family"] = [family]
        yield


def _concrete_font_family() -> str | None:
    """The name of the font matplotlib would draw the current ``font.family`` with (None if unknown)."""
    from matplotlib import font_manager

    path = font_manager.findfont(font_manager.FontProperties())
    return next((f.name for f in font_manager.fontManager.ttflist if f.fname == path), None)


def _palette(n: int | None = None) -> list[tuple[float, float, float]]:
    """The colour-blind-safe palette as RGB tuples (``n`` colours, cycling; the 10 of the cycle by default).

    Colours are passed as values, never as ``"C0"``...: a line resolves a
    ``"Cn"`` colour against the colour cycle in force when it is drawn, which
    may be the caller's rather than the theme's.
    """
    import seaborn as sns

    return sns.color_palette("colorblind", n)


# seaborn.set_theme also remapped the colour code "k" to this near-black (its colour codes for the
# colorblind palette); the data points of the rainbow fan keep that colour.
_NEAR_BLACK = (0.1, 0.1, 0.1)


def _subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float],
              **kw: Any) -> tuple[Figure, Any]:
    """A new figure in constrained layout with a grid of axes (call inside :func:`theme`).

    The figure is made by pyplot, so that it belongs to the caller's backend:
    in Jupyter a pyplot figure is displayed (or, with ipympl, is a widget),
    whereas a bare :class:`matplotlib.figure.Figure` showed only as
    ``<Figure size ... with 1 Axes>`` in a fresh kernel until pyplot had made
    a figure (checked with ipykernel 7.4 and matplotlib-inline 0.2.2). This
    is pyplot's only use here: no backend is chosen, nothing is shown, and
    the caller closes the figure (``plt.close(fig)``) when done with it.
    """
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots(nrows, ncols, **kw)


def _settle(fig: Figure, *, callers: Sequence[Axes] = ()) -> Figure:
    """Fix now, inside the theme, what matplotlib would otherwise take from rcParams at draw time.

    A figure is often rendered after the function has returned and the
    theme is gone: ``fig.savefig`` later, Jupyter's display at the end of a
    cell. Most artists read rcParams when they are created, inside the
    theme; these are read when the figure is drawn:

    - How many ticks fit on an axis (``Axis.get_tick_space``, asked at every
      draw) is computed from the tick label size in the axis's tick
      parameters, else from the ``xtick.labelsize``/``ytick.labelsize``
      rcParams then: the first tick's label size is stored in the tick
      parameters. Without this, a caller's different label size changed
      the number of ticks of a figure saved later (seen with matplotlib 3.11).
    - Tick objects (marks, labels, grid lines) are made lazily, reading the
      tick and grid rcParams (sizes, colours, grid colour and width) when
      made, and every further tick copies the axis's first one
      (``Axis.get_major_ticks``). matplotlib 3.11 already makes the first
      tick when an axes is constructed; making sure here costs nothing and
      keeps the look if that changes or the tick lists were reset (a spine
      being positioned resets them).
    - Autoscaled view limits, computed at the first draw under the then
      ``axes.autolimit_mode``: asking for the limits computes them here.

    ``"Cn"`` colours, which a line resolves when drawn, are avoided by passing
    colours as values (:func:`_palette`), and the font family is pinned by
    :func:`theme`. ``tests/test_plots.py`` checks that a figure saved outside
    the theme under another style (dark background, other tick label sizes,
    fonts, grid and colour cycle) is pixel-identical to one saved inside it.
    Left to the renderer, as they are not part of the theme: what is read at
    draw or save time such as ``savefig.*`` (the saver's choice),
    ``text.hinting``, ``axes.formatter.*`` and the tick locators' use of
    ``axes.autolimit_mode``.

    Axes in ``callers`` (an ``ax`` passed in, and the other axes of its
    figure) belong to the caller and are left as they are: their frame, grid
    and ticks follow the caller's settings.
    """
    for ax in fig.axes:
        if any(ax is c for c in callers):
            continue
        for axis in (ax.xaxis, ax.yaxis):
            first = axis.get_major_ticks(1)[0]
            axis.get_minor_ticks(1)
            axis.set_tick_params(which="major", labelsize=first.label1.get_fontsize())
        ax.get_xlim()
        ax.get_ylim()
    return fig


# ----------------------------------------------------------------- validation
@dataclass(frozen=True)
class _Real(Constraint):
    """Any real number, NaN and infinities included; returned as a float."""

    description: str = "a real number"

    def check(self, name: str, owner: str, value: object) -> Any:
        if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
            value = value.item()  # type: ignore[attr-defined]
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ParameterTypeError(message(name, owner, self.description, value))
        return float(value)

    def invalid_example(self) -> object:
        return "1.5"


@dataclass(frozen=True)
class _Samples(Constraint):
    """A 1-D array of real numbers, NaN and infinities included; returned as a float64 ndarray."""

    description: str = "a 1-D array of real numbers"

    def check(self, name: str, owner: str, value: object) -> Any:
        if isinstance(value, str | bytes):
            raise ParameterTypeError(message(name, owner, self.description, value))
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError):  # ragged nested sequences
            raise ParameterTypeError(
                message(name, owner, self.description, Described(f"an object of type {type(value).__name__}"))
            ) from None
        if arr.dtype.kind not in "iuf":
            raise ParameterTypeError(message(name, owner, self.description,
                                             Described(f"an array of dtype {arr.dtype}")))
        if arr.ndim != 1:
            raise ParameterError(message(name, owner, self.description,
                                         Described(f"an array of shape {arr.shape}")))
        return arr.astype(np.float64, copy=False)

    def invalid_example(self) -> object:
        return [[1.0, 2.0]]


@dataclass(frozen=True)
class _LabelMap(Constraint):
    """A mapping of str labels to values each allowed by ``value``; returned as a dict.

    ``what`` names the values in the plural, for the message.
    """

    value: Constraint
    what: str

    @property
    def description(self) -> str:  # type: ignore[override]
        return f"a mapping of str labels to {self.what}"

    def check(self, name: str, owner: str, value: object) -> Any:
        if not isinstance(value, Mapping):
            raise ParameterTypeError(message(name, owner, self.description,
                                             Described(f"an object of type {type(value).__name__}")))
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                bad = Described(f"the key {key!r}")
                raise ParameterTypeError(message(name, owner, self.description, bad))
            try:
                out[key] = self.value.check(name, owner, item)
            except ParameterError as exc:
                kind = ParameterTypeError if isinstance(exc, ParameterTypeError) else ParameterError
                entry = Described(f"{{{key!r}: {reprlib.repr(item)}}}")
                raise kind(message(name, owner, self.description, entry)) from None
        return out

    def invalid_example(self) -> object:
        return {"label": self.value.invalid_example()}


@dataclass(frozen=True)
class _Colormap(Constraint):
    """A matplotlib Colormap or the name of a registered one (seaborn's included)."""

    description: str = "a matplotlib Colormap or the name of a registered one"

    def check(self, name: str, owner: str, value: object) -> Any:
        import matplotlib
        import seaborn  # noqa: F401  (registers seaborn's colormaps: rocket, mako, vlag, ...)

        if isinstance(value, matplotlib.colors.Colormap):
            return value
        if not isinstance(value, str):
            raise ParameterTypeError(message(name, owner, self.description,
                                             Described(f"an object of type {type(value).__name__}")))
        if value not in matplotlib.colormaps:
            raise ParameterError(message(name, owner, self.description, value))
        return value

    def invalid_example(self) -> object:
        return "no-such-colormap"


_FRAME = InstanceOf("pandas.DataFrame", "a pandas.DataFrame")
_STR = InstanceOf("builtins.str", "a str")
_COLUMN = InstanceOf("builtins.str", "a column name (str)")
_TITLE = NoneOr(_STR)
_AX = NoneOr(InstanceOf("matplotlib.axes.Axes", "a matplotlib Axes"))
_FINITE_1D = Array(ndim=(1,), what="a 1-D array")


def _need_columns(name: str, owner: str, frame: pd.DataFrame, columns: Sequence[str]) -> None:
    """Raise a ParameterError naming ``name`` if ``frame`` lacks any of ``columns``."""
    missing = [c for c in dict.fromkeys(columns) if c not in frame.columns]
    if not missing:
        return
    what = (f"the column {missing[0]!r}" if len(missing) == 1
            else "the columns " + ", ".join(repr(c) for c in missing))
    has = ", ".join(repr(c) for c in frame.columns)
    if len(has) > 150:
        has = has[:147] + "..."
    got = Described(f"a DataFrame with the columns {has}" if has else "a DataFrame without columns")
    raise ParameterError(message(name, owner, f"a DataFrame with {what}", got))


# -------------------------------------------------------------------- figures
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


@validate_params({"summary": _FRAME, "x": _COLUMN, "y": _COLUMN, "value": _COLUMN, "panel": _COLUMN,
                  "fmt": _STR, "label": _TITLE, "title": _TITLE, "cmap": _Colormap(), "log": Boolean()})
def heatmaps(summary: pd.DataFrame, *, x: str, y: str, value: str, panel: str,
             fmt: str = ".2f", label: str | None = None, title: str | None = None,
             cmap: str = "viridis", log: bool = False) -> Figure:
    """One heatmap of ``value`` over two axes per level of ``panel``, side by side.

    ``summary`` is tidy (one row per combination of ``panel``, ``y`` and
    ``x``); a shared colour scale makes the panels comparable (logarithmic
    with ``log=True``, which needs positive values).
    """
    owner = "heatmaps"
    _need_columns("summary", owner, summary, [x, y, value, panel])
    keys = list(dict.fromkeys([panel, y, x]))
    if summary.empty:
        raise ParameterError(message("summary", owner, "a DataFrame with at least one row",
                                     Described("an empty DataFrame")))
    if summary.duplicated(keys).any():
        dup = {k: v.item() if isinstance(v, np.generic) else v
               for k, v in summary.loc[summary.duplicated(keys), keys].iloc[0].items()}
        one_row = "a DataFrame with one row per combination of " + ", ".join(repr(k) for k in keys)
        raise ParameterError(message("summary", owner, one_row, Described(f"repeated rows for {dup}")))
    if log and (summary[value] <= 0).any():
        raise ParameterError(message("summary", owner, f"a DataFrame with positive values of {value!r} "
                                     "(log=True)", summary.loc[summary[value] <= 0, value].iloc[0]))
    import seaborn as sns
    from matplotlib.colors import LogNorm

    with theme():
        levels = list(summary[panel].unique())
        n_cols = summary[x].nunique()
        width = max(5.2, 0.62 * n_cols + 1.5)  # room for each annotated cell
        fig, axes = _subplots(1, len(levels), figsize=(width * len(levels) + 1, 4.6 + 0.1 * n_cols),
                              squeeze=False)
        vmin, vmax = float(summary[value].min()), float(summary[value].max())
        norm = LogNorm(vmin, vmax) if log else None
        for i, (ax, level) in enumerate(zip(axes[0], levels, strict=True)):
            grid = summary[summary[panel] == level].pivot(index=y, columns=x, values=value).sort_index(
                ascending=False)
            sns.heatmap(grid, ax=ax, annot=True, fmt=fmt, cmap=cmap, norm=norm,
                        vmin=None if log else vmin, vmax=None if log else vmax,
                        cbar=i == len(levels) - 1, cbar_kws={"label": label or value},
                        annot_kws={"fontsize": 9})
            ax.set_title(f"{panel} = {level}", fontsize=11)
            ax.set_xlabel(x)
            ax.set_ylabel(y if i == 0 else "")
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
