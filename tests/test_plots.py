"""plots: the theme only inside, no backend choice, figures keep their look, validated arguments.

Every public plot function (``plots.__all__`` but ``theme``) is called with a
small valid tidy input from ``EXAMPLES``; the invalid calls are generated
from each function's constraint table (``__lrsweep_constraints__``).
"""

from __future__ import annotations

import inspect
import io
import re

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import seaborn as sns
from cycler import cycler
from matplotlib import font_manager
from matplotlib.colors import to_rgba
from PIL import Image

from lrsweep import plots
from lrsweep._validation import ParameterError, ParameterTypeError

PLOTS = sorted(set(plots.__all__) - {"theme"})


def _examples() -> dict[str, tuple[tuple, dict]]:
    """Name -> (args, kwargs): small valid inputs whose frames hold only the columns the call needs."""
    rng = np.random.default_rng(0)
    lrs = np.geomspace(0.01, 1.0, 6)
    steps = np.arange(301)
    div = pd.DataFrame([{"lr": lr, "n_samples": n, "unstable_rate": r, "unstable_lo": 0.8 * r,
                         "unstable_hi": min(1.0, 1.2 * r + 0.01)}
                        for n in (5, 20) for lr, r in zip(lrs, np.linspace(0, 1, 6), strict=True)])
    speed = pd.DataFrame({"lr": lrs, "converged_step_median": 1000 / (1 + 100 * lrs),
                          "converged_step_q25": 800 / (1 + 100 * lrs),
                          "converged_step_q75": 1200 / (1 + 100 * lrs)})
    for i, status in enumerate(("converged", "slow", "oscillating", "diverged")):
        speed[f"{status}_rate"] = np.linspace(0.1 * i, 0.2 * i + 0.1, 6)
        speed[f"{status}_lo"] = 0.9 * speed[f"{status}_rate"]
        speed[f"{status}_hi"] = 1.1 * speed[f"{status}_rate"]
    heat = pd.DataFrame([{"kind": k, "scale": s, "frac": f,
                          "rate": 0.1 + 0.2 * i + 0.05 * j + 0.3 * (k == "b")}
                         for k in ("a", "b") for i, s in enumerate((1, 10, 100))
                         for j, f in enumerate((0.01, 0.1))])
    windows = div.rename(columns={"n_samples": "frac"})
    heat["lo"], heat["hi"] = 0.8 * heat["rate"], np.minimum(1.0, 1.2 * heat["rate"])
    heat.loc[0, "lo"] = heat.loc[0, "rate"]  # a proportion at its lower end: shown as "<hi"
    x = rng.normal(size=20)
    thetas = [5 - 6 * np.exp(-steps * lr) * np.cos(steps * w)
              for lr, w in ((0.01, 0), (0.04, 0), (0.05, 3.0))]
    return {
        "seed_trajectory": ((pd.DataFrame({"step": steps, "theta": 5 - 6 * np.exp(-steps / 50),
                                           "loss": np.exp(-steps / 40) + 0.01 * rng.random(301)}),),
                            {"title": "theta and loss"}),
        "rainbow_fan": ((x, 5 * x, 5 - 6 * np.exp(-np.arange(40) / 8)), {"n_lines": 30, "title": "fan"}),
        "divergence_curve": ((div,), {"predicted": div.rename(columns={"unstable_rate": "probability"})[
            ["lr", "n_samples", "probability"]], "thresholds": {"mean-square": 0.05, "almost-sure": 0.5},
            "title": "divergence", "x": "lr", "logx": True, "xlabel": "lr", "ylabel": "fraction unstable",
            "hue_label": "n", "predicted_label": "exact"}),
        "lr_comparison": ((pd.DataFrame({"trajectory_id": np.repeat([0, 1, 2], 301),
                                         "step": np.tile(steps, 3), "theta": np.concatenate(thetas)}),
                           pd.DataFrame({"trajectory_id": [0, 1, 2], "lr": [0.01, 0.04, 1.0],
                                         "status": ["slow", "converged", "oscillating"]})),
                          {"theta_ref": 5.0, "title": "learning rates"}),
        "speed_vs_stability": ((speed,), {"title": "speed"}),
        "oscillation_curve": ((pd.DataFrame({"lr": lrs, "mean": 10 * lrs, "q25": 8 * lrs, "q75": 12 * lrs,
                                             "predicted": 9 * lrs}),), {"title": "overshoots"}),
        "heatmaps": ((heat,), {"x": "scale", "y": "frac", "value": "rate", "panel": "kind", "label": "rate",
                               "title": "heat", "log": True, "fmt": ".2g", "lo": "lo", "hi": "hi",
                               "proportion": True, "xfmt": ".1f", "xlabel": "scale", "ylabel": "fraction",
                               "panel_format": "kind {level}", "marks": {"threshold": 20.0}, "xscale": "log",
                               "points": pd.DataFrame({"kind": ["a", "b"], "frac": [0.01, 0.1],
                                                       "scale": [3.0, 50.0]}),
                               "points_label": "theory"}),
        "diverging_windows": ((windows,
                               pd.DataFrame({"frac": [5, 5, 20], "dataset": [0, 0, 1], "lo": [0.02, 0.3, 0.1],
                                             "hi": [0.05, np.inf, 0.5]})),
                              {"predicted": windows.rename(columns={"unstable_rate": "probability"})[
                                  ["lr", "frac", "probability"]],
                               "hue": "frac", "thresholds": {"mean-square": 0.05}, "hue_label": "fraction",
                               "predicted_label": "exact", "ylabel": "unstable", "title": "windows"}),
        "critical_lr_curve": ((pd.DataFrame({"n": [5, 20, 100], "m": [1.0, 1.1, 1.2],
                                             "mlo": [0.9, 1.05, 1.18], "mhi": [1.1, 1.15, 1.22],
                                             "a": [0.6, 0.9, 1.1], "b": [1.8, 1.4, 1.3]}),),
                              {"x": "n", "median": "m", "median_lo": "mlo", "median_hi": "mhi", "q25": "a",
                               "q75": "b", "theory": pd.DataFrame({"n": [5, 100], "median": [1.05, 1.21],
                                                                   "median_lo": [1.0, 1.2],
                                                                   "median_hi": [1.1, 1.22],
                                                                   "q25": [0.6, 1.1],
                                                                   "q75": [1.9, 1.3]}),
                               "thresholds": {"almost-sure": 1.21}, "label": "sample", "theory_label": "MC",
                               "xlabel": "n", "ylabel": "critical lr", "title": "critical"}),
        "lines_with_bands": ((pd.DataFrame({"n": np.tile([5, 20, 100], 2), "m": np.arange(6.0) + 1,
                                            "q1": np.arange(6.0) + 0.5, "q3": np.arange(6.0) + 1.5,
                                            "src": np.repeat(["a", "b"], 3)}),),
                             {"x": "n", "y": "m", "lo": "q1", "hi": "q3", "hue": "src",
                              "theory": pd.DataFrame({"x": [5, 100], "y": [2.0, 2.0]}), "title": "bands"}),
        "survival_loglog": (({"a": np.abs(rng.standard_cauchy(500)), "b": np.abs(rng.normal(size=500))},),
                            {"slopes": {"a": 1.0, "b": float("nan")}, "title": "tails"}),
    }


EXAMPLES = _examples()

# The caller's settings, different from the theme in the keys it sets (and in a few read when artists are
# created). Not here: rcParams matplotlib reads at draw or save time that the theme does not set
# (savefig.*, text.hinting, axes.autolimit_mode, axes.formatter.*): they are the renderer's (plots._settle).
OTHER_RC = {
    "xtick.labelsize": 5, "ytick.labelsize": 17, "axes.labelsize": 20, "axes.titlesize": 6, "font.size": 20,
    "legend.fontsize": 15, "font.sans-serif": ["DejaVu Serif"], "grid.color": "red", "grid.linewidth": 3,
    "xtick.major.size": 9, "ytick.major.width": 4, "xtick.color": "blue", "axes.edgecolor": "green",
    "axes.prop_cycle": cycler(color=["m", "y"]), "lines.linewidth": 4, "lines.solid_capstyle": "round",
    "axes.axisbelow": False,
}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _call(name: str, **overrides):
    args, kw = EXAMPLES[name]
    return getattr(plots, name)(*args, **{**kw, **overrides})


def _global_state() -> tuple[dict, dict, str]:
    """rcParams, the single-letter colour codes (seaborn's set_theme remaps them) and the backend."""
    return (dict(matplotlib.rcParams), {c: to_rgba(c) for c in "bgrmyck"}, matplotlib.get_backend())


def _png(fig, dpi: int = 50) -> np.ndarray:
    # savefig.* rcParams are read when saving, by whoever saves: pinned here.
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="auto", edgecolor="auto", transparent=False)
    return np.asarray(Image.open(buf))


def test_every_plot_function_has_an_example_and_a_constraint_per_parameter():
    assert set(EXAMPLES) == set(PLOTS)
    for name in PLOTS:
        func = getattr(plots, name)
        assert set(func.__lrsweep_constraints__) == set(inspect.signature(func).parameters), name


# ------------------------------------------------------- global state, backends
#: Non-Agg backends that work headless; each function runs under one of them in turn, so that
#: every function and every backend is covered without the product (the suite's time).
BACKENDS = ("svg", "pdf", "template")


@pytest.fixture
def backend(request):
    """The test's non-Agg backend, set for the test and restored after."""
    old = matplotlib.get_backend()
    matplotlib.use(request.param)
    try:
        yield request.param
    finally:
        plt.close("all")
        matplotlib.use(old)


@pytest.mark.parametrize(("name", "backend"), [(n, BACKENDS[i % len(BACKENDS)]) for i, n in enumerate(PLOTS)],
                         indirect=["backend"])
def test_leaves_rcparams_colour_codes_and_backend_alone(name, backend):
    before = _global_state()
    fig = _call(name)
    assert _global_state() == before
    assert matplotlib.get_backend() == backend
    assert isinstance(fig, matplotlib.figure.Figure)
    for fmt in ("png", backend if backend != "template" else "svg"):
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=40)
        assert buf.getbuffer().nbytes > 1000
    assert _global_state() == before


def test_theme_applies_inside_only_and_restores_on_error():
    before = _global_state()
    with plots.theme():
        inside = dict(matplotlib.rcParams)
        assert inside["axes.facecolor"] == "white"  # seaborn whitegrid
        assert inside["axes.grid"] is True
        assert inside["xtick.labelsize"] == 11  # seaborn notebook context
        assert inside["axes.prop_cycle"] == cycler(color=sns.color_palette("colorblind"))
        assert inside["font.sans-serif"] == sns.axes_style("whitegrid")["font.sans-serif"]
        # The family is pinned to the concrete font that list resolves to on this machine.
        (family,) = inside["font.family"]
        assert family in {f.name for f in font_manager.fontManager.ttflist}
    assert _global_state() == before
    with pytest.raises(RuntimeError, match="boom"), plots.theme():
        raise RuntimeError("boom")
    assert _global_state() == before


@pytest.mark.parametrize("name", PLOTS)
def test_theme_inside_caller_settings_outside(name):
    with plots.theme():
        theme = dict(matplotlib.rcParams)
    with matplotlib.rc_context({**OTHER_RC, "axes.facecolor": "0.3", "axes.grid": False}):
        caller = dict(matplotlib.rcParams)
        fig = _call(name)
        assert dict(matplotlib.rcParams) == caller
    for ax in fig.axes:
        assert ax.get_facecolor() == to_rgba(theme["axes.facecolor"])
        for axis, key in ((ax.xaxis, "xtick"), (ax.yaxis, "ytick")):
            tick = axis.get_major_ticks(1)[0]
            assert tick.label1.get_fontsize() == theme[f"{key}.labelsize"]
            assert to_rgba(tick.tick1line.get_color()) == to_rgba(theme[f"{key}.color"])
            assert to_rgba(tick.gridline.get_color()) == to_rgba(theme["grid.color"])
            assert tick.label1.get_fontfamily() == theme["font.family"]
    if name != "heatmaps":  # seaborn's heatmap turns its grid off
        assert fig.axes[0].yaxis.get_major_ticks(1)[0].gridline.get_visible()


@pytest.mark.parametrize("name", ["divergence_curve", "rainbow_fan"])
def test_callers_axes_keep_the_callers_style(name):
    with matplotlib.rc_context({"xtick.labelsize": 7, "axes.facecolor": "0.9"}):
        fig, ax = plt.subplots()
        before = _global_state()
        assert _call(name, ax=ax) is fig
        assert _global_state() == before
    assert ax.get_facecolor() == to_rgba("0.9")
    assert ax.xaxis.get_major_ticks(1)[0].label1.get_fontsize() == 7


@pytest.mark.parametrize("name", PLOTS)
def test_figure_rendered_later_under_other_style_looks_the_same(name):
    """Ticks, fonts and colours are fixed when the figure is built, not when it is drawn (plots._settle)."""
    with plots.theme():
        expected = _png(_call(name))
    fig = _call(name)  # built by the caller's (default) settings, drawn for the first time below
    with plt.style.context(["dark_background", OTHER_RC]):
        got = _png(fig)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


# ------------------------------------------------------------------ validation
def _bound(name: str):
    func = getattr(plots, name)
    args, kw = EXAMPLES[name]
    return func, inspect.signature(func).bind(*args, **kw)


CONSTRAINED = [(name, param) for name in PLOTS for param in getattr(plots, name).__lrsweep_constraints__]


@pytest.mark.parametrize(("name", "param"), CONSTRAINED, ids=[f"{n}-{p}" for n, p in CONSTRAINED])
def test_invalid_argument_message(name, param):
    func, bound = _bound(name)
    constraint = func.__lrsweep_constraints__[param]
    bound.arguments[param] = constraint.invalid_example()
    expected = f"The {param!r} parameter of {func.__lrsweep_owner__} must be {constraint.description}. Got "
    with pytest.raises(ParameterError, match=re.escape(expected)):
        func(*bound.args, **bound.kwargs)
    assert not plt.get_fignums()  # refused before a figure was made


FRAME_COLUMNS = [(name, param, column) for name in PLOTS
                 for param, value in _bound(name)[1].arguments.items() if isinstance(value, pd.DataFrame)
                 for column in value.columns]


@pytest.mark.parametrize(("name", "param", "column"), FRAME_COLUMNS,
                         ids=[f"{n}-{p}-{c}" for n, p, c in FRAME_COLUMNS])
def test_missing_column_names_the_frame(name, param, column):
    func, bound = _bound(name)
    bound.arguments[param] = bound.arguments[param].drop(columns=column)
    expected = f"The {param!r} parameter of {name} must be a DataFrame with the column {column!r}. Got "
    with pytest.raises(ParameterError, match=re.escape(expected)):
        func(*bound.args, **bound.kwargs)


def test_wrong_types_are_type_errors():
    msg = ("The 'summary' parameter of heatmaps must be a pandas.DataFrame. "
           "Got an object of type list instead.")
    with pytest.raises(ParameterTypeError, match=re.escape(msg)):
        plots.heatmaps([1, 2], x="scale", y="frac", value="rate", panel="kind")
    with pytest.raises(ParameterTypeError, match="'log' parameter of heatmaps must be True or False"):
        _call("heatmaps", log="yes")


@pytest.mark.parametrize(("name", "change", "pattern"), [
    ("rainbow_fan", lambda a, k: ((a[0], a[1][:-1], a[2]), k),
     "The 'y' parameter of rainbow_fan must be an array of the same length as x (20). "
     "Got an array of length 19 instead."),
    ("lr_comparison", lambda a, k: ((a[0], a[1].iloc[:2]), k),
     "The 'frame' parameter of lr_comparison must be a DataFrame with one row for each trajectory_id of "
     "records. Got no row for trajectory_id 2 instead."),
    ("lr_comparison", lambda a, k: ((a[0], pd.concat([a[1], a[1].iloc[:1]])), k),
     "Got 2 rows for trajectory_id 0 instead."),
    ("heatmaps", lambda a, k: ((a[0].iloc[:0],), k),
     "The 'summary' parameter of heatmaps must be a DataFrame with at least one row. Got an empty DataFrame"),
    ("heatmaps", lambda a, k: ((pd.concat([a[0], a[0].iloc[:1]]),), k),
     "must be a DataFrame with one row per combination of 'kind', 'frac', 'scale'. Got repeated rows for "
     "{'kind': 'a', 'frac': 0.01, 'scale': 1}"),
    ("heatmaps", lambda a, k: ((a[0].assign(rate=a[0]["rate"] - 0.1),), k),
     "must be a DataFrame with positive values of 'rate' (log=True). Got 0.0 instead."),
    ("divergence_curve", lambda a, k: (a, {**k, "thresholds": {"zero": 0.0}}),
     "The 'thresholds' parameter of divergence_curve must be None or a mapping of str labels to learning "
     "rates in the range (0, inf). Got {'zero': 0.0} instead."),
    ("survival_loglog", lambda a, k: (({"a": [[1.0]]},), k),
     "The 'values' parameter of survival_loglog must be a mapping of str labels to 1-D arrays of real "
     "numbers. Got {'a': [[1.0]]} instead."),
])
def test_cross_parameter_checks(name, change, pattern):
    args, kw = change(*EXAMPLES[name])
    with pytest.raises(ParameterError, match=re.escape(pattern)):
        getattr(plots, name)(*args, **kw)


def test_valid_variants():
    """Defaults, extra columns, a NaN slope, a colormap object and a linear heatmap all draw."""
    args, kw = EXAMPLES["heatmaps"]
    plots.heatmaps(args[0].assign(extra=1), **{**kw, "log": False, "cmap": matplotlib.colormaps["magma"]})
    plots.heatmaps(args[0], x="scale", y="frac", value="rate", panel="kind", cmap="rocket")
    plots.survival_loglog({"a": np.array([np.nan, np.inf, -1.0, 0.5, 2.0])}, slopes={"a": np.float64(1.5)})
    plots.rainbow_fan([0.0, 1.0], [0.0, 5.0], [4.0], n_lines=np.int64(5))
    plots.lines_with_bands(*EXAMPLES["lines_with_bands"][0], x="n", y="m", lo="q1", hi="q3", hue="src")


def test_divergence_curve_draws_the_deviation_panel_and_refuses_it_on_a_callers_axes():
    args, kw = EXAMPLES["divergence_curve"]
    summary = args[0].assign(z=np.linspace(-3, 3, len(args[0])))
    fig = plots.divergence_curve(summary, **kw, deviation="z")
    assert len(fig.axes) == 2 and fig.axes[1].get_ylim()[1] >= 3.5
    with pytest.raises(ParameterError, match="must be a DataFrame with the column 'z'"):
        plots.divergence_curve(args[0], **kw, deviation="z")
    _, ax = plt.subplots()
    with pytest.raises(ParameterError, match="'deviation' parameter of divergence_curve must be None when"):
        plots.divergence_curve(summary, **kw, deviation="z", ax=ax)
