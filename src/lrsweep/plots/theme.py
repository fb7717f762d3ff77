"""The figures' look: lrsweep's seaborn theme in a context; figures that keep it when drawn later."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


# ------------------------------------------------------------------ the theme
@contextlib.contextmanager
def theme() -> Iterator[None]:
    """Apply lrsweep's look to what is created inside the block, and only there.

    seaborn's ``notebook`` context, ``whitegrid`` style and ``colorblind``
    colour cycle (the rcParams that seaborn's ``set_theme`` with
    ``context="notebook"``, ``style="whitegrid"`` and ``palette="colorblind"``
    would set for the whole session), set inside a :func:`matplotlib.rc_context`, which restores
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
