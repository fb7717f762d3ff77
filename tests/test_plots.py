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
    div = pd.DataFrame([{"lr": lr, "n_samples": n, "unstable_rate": r, "unstable_lo": 0.8 * r,
                         "unstable_hi": min(1.0, 1.2 * r + 0.01)}
                        for n in (5, 20) for lr, r in zip(lrs, np.linspace(0, 1, 6), strict=True)])
    # Medians over every run: inf where beyond the budget (the first cell) or the interval is open (the last).
    speed = pd.DataFrame({"lr": lrs, "steps_median": [np.inf, *(1000 / (1 + 100 * lrs[1:]))],
                          "steps_median_lo": [np.inf, *(800 / (1 + 100 * lrs[1:]))],
                          "steps_median_hi": [np.inf, *(1200 / (1 + 100 * lrs[1:-1])), np.inf],
                          "budget": 500})
    for i, status in enumerate(("converged", "slow", "oscillating", "growing", "diverged", "exact")):
        speed[f"{status}_rate"] = np.linspace(0.1 * i, 0.1 * i + 0.1, 6)
        speed[f"{status}_lo"] = 0.9 * speed[f"{status}_rate"]
        speed[f"{status}_hi"] = 1.1 * speed[f"{status}_rate"]
    medians = speed[["lr", "steps_median", "steps_median_lo", "steps_median_hi"]]
    steps_frame = pd.concat([medians.assign(n_samples=n, budget=50 * n, theory_steps=900 / (1 + 100 * lrs))
                             for n in (10, 100)], ignore_index=True)
    theory = pd.DataFrame({"lr": lrs, "steps": 900 / (1 + 100 * lrs)})
    heat = pd.DataFrame([{"kind": k, "scale": s, "frac": f,
                          "rate": 0.1 + 0.2 * i + 0.05 * j + 0.3 * (k == "b")}
                         for k in ("a", "b") for i, s in enumerate((1, 10, 100))
                         for j, f in enumerate((0.01, 0.1))])
    windows = div.rename(columns={"n_samples": "frac"})
    heat["lo"], heat["hi"] = 0.8 * heat["rate"], np.minimum(1.0, 1.2 * heat["rate"])
    heat.loc[0, "lo"] = heat.loc[0, "rate"]  # a proportion at its lower end: shown as "<hi"
    x = rng.normal(size=20)
    tails = pd.DataFrame({"kind": np.tile(np.repeat(["a", "b"], 300), 2), "lr": np.repeat([0.5, 0.8], 600),
                          "v": np.abs(np.r_[rng.standard_cauchy(300), rng.normal(size=300),
                                            rng.standard_cauchy(300), rng.normal(size=300)])})
    nlr = np.array([0.02, 0.1, 0.2, 0.3, 0.5])
    fine = np.geomspace(0.02, 0.33, 20)
    orders = {"order": np.repeat(["online", "replacement"], 5), "lr": np.tile(nlr, 2)}
    noisy = pd.DataFrame({**orders, "e2_mean": np.tile(nlr / np.abs(1 - 3 * nlr), 2),
                          "e2_mean_se": np.tile(0.05 * nlr, 2),
                          "deviation_se": np.tile([0.5, -1.0, 1.5, -30.0, np.nan], 2),
                          "se_valid": np.tile([True, True, False, False, False], 2),
                          "abs_error_median": np.tile(np.sqrt(nlr), 2),
                          "abs_error_median_lo": np.tile(np.sqrt(nlr) * 0.9, 2),
                          "abs_error_median_hi": np.tile(np.sqrt(nlr) * 1.1, 2)})
    budget = pd.DataFrame({"budget": np.tile([1, 2, 5], 4), "panel": np.repeat(["a", "b"], 6),
                           "schedule": np.tile(np.repeat(["constant", "cosine"], 3), 2),
                           "y": np.geomspace(0.01, 10, 12), "lo": np.geomspace(0.005, 5, 12),
                           "hi": np.geomspace(0.02, 20, 12), "cens": [False] * 11 + [True]})
    status = pd.DataFrame(orders)
    for i, key in enumerate(("noise_floor", "growing", "within")):
        status[f"{key}_rate"] = np.tile(np.clip(np.linspace(1 - 0.3 * i, 0.2 * i, 5), 0, 1), 2)
        status[f"{key}_lo"] = 0.9 * status[f"{key}_rate"]
        status[f"{key}_hi"] = np.minimum(1.0, 1.1 * status[f"{key}_rate"])
    steps = np.arange(301)
    thetas = [5 - 6 * np.exp(-steps * lr) * np.cos(steps * w)
              for lr, w in ((0.01, 0), (0.04, 0), (0.05, 3.0))]
    return {
        "seed_trajectory": ((pd.DataFrame({"step": steps, "theta": 5 - 6 * np.exp(-steps / 50),
                                           "loss": np.exp(-steps / 40) + 0.01 * rng.random(301)}),),
                            {"theta_ref": 5.0, "epoch_length": 100, "title": "theta and loss"}),
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
        "speed_vs_stability": ((speed,), {"theory": theory, "theory_label": "theory", "statuses": [
            "converged", "slow", "oscillating", "growing", "diverged"], "verdict": "exact",
            "verdict_label": "exact verdict", "thresholds": {"a": 0.05, "b": 0.5}, "title": "speed"}),
        "steps_to_converge": ((steps_frame,), {
            "panel": "n_samples", "panel_name": "n", "reference": "theory_steps", "reference_label": "theory",
            "theory": theory, "theory_label": "theory", "thresholds": {"a": 0.05, "b": 0.5},
            "title": "steps"}),
        "oscillation_curve": ((pd.DataFrame({"lr": lrs, "mean": np.r_[0.0, 10 * lrs[1:]], "mean_se": lrs,
                                             "runs": 100, "left_out": [0, 0, 0, 0, 1, 3],
                                             "predicted": 9 * lrs}),),
                              {"thresholds": {"mean-square": 1 / 3, "almost-sure": 1.21},
                               "title": "overshoots"}),
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
        "survival_loglog": ((tails,), {"value": "v", "hue": "kind", "panel": "lr", "top_k": 25,
                                       "slopes": pd.DataFrame({"kind": ["a", "a", "b"], "lr": [0.5, 0.8, 0.5],
                                                               "alpha": [1.0, 0.5, np.nan]}),
                                       "bounds": pd.DataFrame({"kind": ["b"], "lr": [0.8], "bound": [40.0]}),
                                       "title": "tails"}),
        "mean_square_vs_median": ((noisy,), {"theory": pd.DataFrame(
            {"order": np.repeat(["online", "replacement"], 20), "lr": np.tile(fine, 2),
             "variance": np.tile(fine / (1 - 3 * fine), 2)}),
            "thresholds": pd.DataFrame({"order": ["online", "replacement"], "label": ["ms", "ms"],
                                        "lr": [1 / 3, 0.37]}), "title": "mean square"}),
        "status_rates": ((status,), {"rates": {"noise_floor": "at the floor", "growing": "growing"},
                                     "reference": {"within": "closed form"}, "title": "statuses",
                                     "thresholds": pd.DataFrame({"order": ["online"], "label": ["ms"],
                                                                 "lr": [1 / 3]})}),
        "versus_budget": ((budget,), {"y": "y", "lo": "lo", "hi": "hi", "censored": "cens", "ncols": 1,
                                      "sharey": False, "ymin": 1e-3, "ylabel": "error", "xlabel": "epochs",
                                      "panel_title": "band {}", "title": "budget",
                                      "theory": budget[["panel", "schedule", "budget"]].assign(
                                          theory=budget["y"] * 1.1),
                                      "references": pd.DataFrame({"panel": ["a", "b"], "label": ["floor"] * 2,
                                                                  "value": [0.01, 0.02]})}),
        **_momentum_examples(),
    }


def _momentum_examples() -> dict[str, tuple[tuple, dict]]:
    """Examples of the momentum figures: a rate over (lr, beta), critical lr versus beta."""
    lrs, betas = np.geomspace(0.01, 2.0, 8), np.array([0.0, 0.5, 0.9])
    cells = pd.DataFrame([{"method": m, "momentum": b, "lr": lr, "grew_rate": float(lr > (1 - b) * 1.2)}
                          for m in ("heavy ball", "Nesterov") for b in betas for lr in lrs])
    crit = pd.DataFrame({"method": np.repeat(["heavy ball", "Nesterov"], 3), "momentum": np.tile(betas, 2),
                         "lr": [1.2, 0.6, np.nan, 1.2, 0.66, 0.34],
                         "lr_lo": [1.1, 0.55, np.nan, 1.1, 0.6, 0.3],
                         "lr_hi": [1.3, 0.65, np.nan, 1.3, 0.7, 0.4],
                         "z": [0.1, -1.0, np.nan, 0.5, 2.5, -0.3]})
    fine = np.linspace(0.0, 0.9, 10)
    ms = (1 - fine**2) / (3 + fine)
    curves = pd.concat([pd.DataFrame({"method": m, "curve": "mean-square", "momentum": fine, "lr": ms,
                                      "lr_lo": ms, "lr_hi": ms}) for m in ("heavy ball", "Nesterov")]
                       + [crit.assign(curve="almost-sure")[["method", "curve", "momentum", "lr", "lr_lo",
                                                            "lr_hi"]]], ignore_index=True)
    return {
        "stability_region": ((cells,), {"rate": "grew", "panel": "method", "critical": crit.drop(columns="z"),
                                        "curves": curves,
                                        "rate_label": "fraction grew", "cmap": "rocket_r",
                                        "title": "region"}),
        "critical_lr_vs_momentum": ((crit,), {"curves": curves, "hue": "method", "deviation": "z",
                                              "deviation_label": "z", "ylabel": "critical lr",
                                              "title": "critical"}),
    }


EXAMPLES = _examples()


def _finder_examples() -> dict[str, tuple[tuple, dict]]:
    """The lr-finder study's figures: estimates per design arm, range-test curves."""
    arms = pd.DataFrame({"arm": np.repeat(["T", "n"], 4), "x": np.tile([100.0, 100.0, 300.0, 300.0], 2),
                         "rule": "valley", "order": np.tile(["fixed", "shuffle"], 4), "tool": "fastai",
                         "m": [0.1, 0.12, 0.2, 0.22, 0.1, 0.11, 0.3, 0.31], "lo": 0.05, "hi": 0.4,
                         "q1": 0.03, "q3": 0.5})
    lr = np.geomspace(1e-7, 1.0, 30)
    return {
        "estimates_by_arm": ((arms,), {"panel": "arm", "x": "x", "y": "m", "lo": "lo", "hi": "hi",
                                       "hue": "rule", "style": "order", "row": "tool",
                                       "spread": {"lo": "q1", "hi": "q3"},
                                       "theory": pd.DataFrame({"arm": ["T", "T"], "x": [100.0, 300.0],
                                                               "value": [0.3, 0.3], "label": "best"}),
                                       "lines": {"critical": 1.0}, "panel_labels": {"T": "steps"},
                                       "ylabel": "ratio", "log_y": True, "title": "ratios"}),
        "range_test_curves": ((pd.DataFrame({"tool": "fastai", "lr": lr, "raw": 1 / (1 + lr) + lr ** 2,
                                             "recorded": 1 / (1 + lr) + lr ** 2}),),
                              {"points": pd.DataFrame({"tool": ["fastai"], "rule": ["valley"], "lr": [1e-3],
                                                       "loss": [0.999]}),
                               "marks": pd.DataFrame({"tool": ["fastai"], "label": ["critical"],
                                                      "lr": [0.5]}),
                               "panel": "tool", "title": "range test"}),
    }


EXAMPLES.update(_finder_examples())


def _batch_examples() -> dict[str, tuple[tuple, dict]]:
    """Examples of the batch-size figures (plots.batches)."""
    lrs = np.array([0.3, 0.6, 1.0, 1.5])
    sizes = (1, 4)
    rates = pd.DataFrame([{"order": o, "batch_size": b, "lr": lr, "unstable_rate": r, "unstable_lo": r / 2,
                           "unstable_hi": min(1.0, r + 0.1)} for o in ("online", "fixed") for b in sizes
                          for lr, r in zip(lrs, (0.0, 0.1, 0.5, 1.0), strict=True)])
    growth = pd.DataFrame({"batch_size": np.repeat(sizes, 4), "lr": np.tile(lrs, 2),
                           "log_growth_mean": np.tile([-0.5, -0.3, 0.0, 0.4], 2), "log_growth_mean_se": 0.02,
                           "source": np.tile(["long", "short"], 4)})
    theory = pd.DataFrame({"batch_size": np.repeat(sizes, 4), "lr": np.tile(lrs, 2),
                           "log_multiplier": np.tile([-0.5, -0.3, 0.0, 0.4], 2)})
    exact = pd.DataFrame({"batch_size": np.repeat(sizes, 4), "lr": np.tile(lrs, 2),
                          "exact_rate": np.tile([0.0, 0.1, 0.5, 1.0], 2)})
    per_b = pd.DataFrame({"batch_size": [1, 2, 4], "ms_threshold": [1 / 3, 0.5, 2 / 3],
                          "as_threshold": [1.21, 1.34, 1.33], "gd_threshold": 1.0,
                          "theory_best_lr": [0.29, 0.37, 0.43], "as_sim": [1.2, 1.35, 1.33],
                          "as_sim_lo": [1.18, 1.33, 1.31], "as_sim_hi": [1.22, 1.37, 1.35],
                          "fixed_critical_lr_median": [1.2, 1.3, 1.3],
                          "fixed_critical_lr_median_lo": [1.1, 1.2, 1.2],
                          "fixed_critical_lr_median_hi": [1.3, 1.4, 1.4], "best_lr": [0.25, 0.35, 0.5],
                          "best_lr_lo": [0.25, 0.25, 0.35], "best_lr_hi": [0.35, 0.5, 0.5],
                          "steps_median": [20.0, 14.0, 10.0], "steps_median_lo": [18.0, 13.0, 9.0],
                          "steps_median_hi": [21.0, 15.0, np.inf], "samples_median": [20.0, 28.0, 40.0],
                          "samples_median_lo": [18.0, 26.0, 36.0], "samples_median_hi": [21.0, 30.0, np.inf],
                          "theory_best_steps": [18.8, 12.4, 8.9], "theory_best_samples": [18.8, 24.8, 35.5]})
    linear = pd.DataFrame({"base_lr": np.repeat([0.03, 0.125], 3), "batch_size": np.tile([1, 2, 4], 2),
                           "samples_median": [139.0, 135.0, 124.0, 29.0, 30.0, np.inf],
                           "samples_median_lo": [135.0, 128.0, 120.0, 28.0, 28.0, np.inf],
                           "samples_median_hi": [144.0, 140.0, 128.0, 31.0, np.inf, np.inf],
                           "budget_samples": 512, "theory_samples": [131.0, 125.0, 112.0, 27.0, 27.5, 36.4],
                           "unstable_rate": [0.0, 0.0, 0.0, 0.0, 0.1, 1.0]})
    floor = pd.DataFrame({"batch_size": np.repeat(sizes, 3), "lr": np.tile([0.01, 0.03, 0.1], 2),
                          "e2_mean": [0.01, 0.03, 0.12, 0.0025, 0.0075, 0.026], "e2_mean_se": 0.001,
                          "se_valid": [True, True, False, True, True, True]})
    return {
        "noise_floor_by_batch": ((floor,), {"theory": floor[["batch_size", "lr"]].assign(
                                                variance=floor["e2_mean"]),
                                            "rules": floor.iloc[[0, 4]].assign(
                                                rule=["lr = B x 0.01", "lr = B x 0.01"],
                                                theory_variance=[0.01, 0.0075])[
                                                ["rule", "batch_size", "e2_mean", "e2_mean_se",
                                                 "theory_variance"]],
                                            "title": "floor"}),
        "batch_thresholds": ((rates,), {"growth": growth, "theory": theory, "exact": exact,
                                        "thresholds": per_b[["batch_size", "ms_threshold", "as_threshold"]],
                                        "order_labels": {"online": "fresh"}, "title": "thresholds"}),
        "threshold_scaling": ((per_b.drop(columns=[c for c in per_b if c.startswith(("steps", "samples",
                                                                                      "theory_best_s"))]),),
                              {"linear": linear, "title": "scaling"}),
        "samples_and_steps": ((per_b[["batch_size", "steps_median", "steps_median_lo", "steps_median_hi",
                                      "samples_median", "samples_median_lo", "samples_median_hi",
                                      "theory_best_steps", "theory_best_samples"]],),
                              {"tol": 1e-4, "title": "samples"}),
    }


EXAMPLES.update(_batch_examples())


def _dimension_examples() -> dict[str, tuple[tuple, dict]]:
    """Examples of the d-feature figures (plots.dimension)."""
    rows = []
    for kappa, dims in ((1.0, (1, 10, 64)), (100.0, (10,))):
        for bias in (False, True):
            for d in dims:
                a = 1.0 / d
                rows.append({"n_features": d, "condition": kappa, "fit_intercept": bias,
                             "second_moment": float(d),
                             "ms_threshold": 0.9 * a, "as_threshold": a, "as_threshold_se": 0.01 * a * bias,
                             "as_sim": a, "as_sim_lo": 0.95 * a, "as_sim_hi": 1.05 * a, "as_sim_scaled": 1.0,
                             "as_threshold_scaled": 1.0, "ms_threshold_scaled": 0.9,
                             "best_lr_scaled": 0.5, "best_lr_scaled_lo": 0.42, "best_lr_scaled_hi": 0.6,
                             "steps_median": 20.0 * d, "steps_median_lo": 18.0 * d,
                             "steps_median_hi": np.inf if d == 64 else 22.0 * d, "budget": 2000,
                             "theory_best_lr_scaled": np.nan if bias else 0.5,
                             "theory_best_steps": np.nan if bias else 19.0 * d})
    per_d = pd.DataFrame(rows)
    cs = np.array([0.5, 0.9, 1.3])
    growth = pd.DataFrame([{"n_features": d, "fit_intercept": b, "c": c, "log_growth_mean": (c - 1) / d,
                            "log_growth_mean_se": 0.01 / d}
                           for d in (1, 10) for b in (False, True) for c in cs])
    theory = growth.rename(columns={"log_growth_mean": "log_multiplier",
                                    "log_growth_mean_se": "log_multiplier_se"})
    orders = pd.DataFrame([{"n_features": d, "order": o, "c": c, "unstable_rate": r, "unstable_lo": r / 2,
                            "unstable_hi": min(1.0, r + 0.1), "exact_rate": r if o == "fixed" else np.nan}
                           for d in (1, 10) for o in ("fixed", "shuffle") for c, r in zip(cs, (0.0, 0.4, 1.0),
                                                                                          strict=True)])
    critical = pd.DataFrame({"n_features": [1, 10], "critical_c_median": [1.2, 0.9],
                             "critical_c_median_lo": [1.1, 0.85], "critical_c_median_hi": [1.3, 0.95]})
    marks = pd.DataFrame({"n_features": [1, 10], "ms_c": [1 / 3, 10 / 12], "as_c": [1.21, 0.9]})
    return {
        "thresholds_vs_dimension": ((per_d[["n_features", "condition", "fit_intercept", "ms_threshold",
                                            "as_threshold", "as_threshold_se", "as_sim", "as_sim_lo",
                                            "as_sim_hi", "second_moment"]],), {"scaled": False,
                                                                               "title": "thresholds"}),
        "steps_vs_dimension": ((per_d[["n_features", "condition", "fit_intercept", "best_lr_scaled",
                                       "best_lr_scaled_lo", "best_lr_scaled_hi", "steps_median",
                                       "steps_median_lo", "steps_median_hi", "budget",
                                       "theory_best_lr_scaled", "theory_best_steps", "as_sim_scaled",
                                       "as_threshold_scaled", "ms_threshold_scaled"]],),
                               {"title": "steps"}),
        "exponent_by_dimension": ((growth,), {"theory": theory, "title": "exponent"}),
        "orders_vs_lr": ((orders,), {"critical": critical, "marks": marks, "title": "orders"}),
    }


EXAMPLES.update(_dimension_examples())

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
    ("status_rates", lambda a, k: (a, {**k, "rates": {"noise_floor": 3}}),
     "The 'rates' parameter of status_rates must be a mapping of str labels to legend labels (str). "
     "Got {'noise_floor': 3} instead."),
])
def test_cross_parameter_checks(name, change, pattern):
    args, kw = change(*EXAMPLES[name])
    with pytest.raises(ParameterError, match=re.escape(pattern)):
        getattr(plots, name)(*args, **kw)


def test_valid_variants():
    """Defaults, extra columns, non-finite values, a colormap object and a linear heatmap all draw."""
    args, kw = EXAMPLES["heatmaps"]
    plots.heatmaps(args[0].assign(extra=1), **{**kw, "log": False, "cmap": matplotlib.colormaps["magma"]})
    plots.heatmaps(args[0], x="scale", y="frac", value="rate", panel="kind", cmap="rocket")
    plots.survival_loglog(pd.DataFrame({"k": "a", "v": [np.nan, np.inf, -1.0, 0.5, 2.0]}), value="v",
                          hue="k", slopes=pd.DataFrame({"k": ["a"], "alpha": [np.float64(1.5)]}))
    plots.oscillation_curve(EXAMPLES["oscillation_curve"][0][0])
    plots.rainbow_fan([0.0, 1.0], [0.0, 5.0], [4.0], n_lines=np.int64(5))
    plots.lines_with_bands(*EXAMPLES["lines_with_bands"][0], x="n", y="m", lo="q1", hi="q3", hue="src")
    (speed,), _ = EXAMPLES["speed_vs_stability"]
    plots.speed_vs_stability(speed)
    (steps,), _ = EXAMPLES["steps_to_converge"]
    plots.steps_to_converge(steps, panel="n_samples")


def test_lr_comparison_draws_the_exact_trend_and_the_epochs():
    """With S, n_samples and theta0 in the frame each error gets its dashed trend |e_0| exp(k S / n)."""
    (records, frame), kw = EXAMPLES["lr_comparison"]
    frame = frame.assign(S=[-1.0, -4.0, 0.5], n_samples=100, theta0=-1.0)
    fig = plots.lr_comparison(records, frame, **kw)
    err = fig.axes[1]
    dashed = [ln for ln in err.get_lines() if ln.get_linestyle() == "--" and len(ln.get_xdata()) > 2]
    assert len(dashed) == 3
    k, e = dashed[2].get_xdata(), dashed[2].get_ydata()
    np.testing.assert_allclose(e, 6.0 * np.exp(k * 0.5 / 100))
    assert err.get_yscale() == "log"
    assert sum("epoch" in t.get_text() for t in err.texts) == 2  # epochs 2 and 3 of 300 steps
    legend = " ".join(t.get_text() for t in fig.legends[0].get_texts())
    assert "lr = 1: oscillating; exact S = 0.5 per epoch (unstable)" in legend


def test_censored_medians_are_drawn_apart():
    """A median beyond the budget is an open marker at the budget, not a data point; an open interval ends
    in an open marker at the budget."""
    (steps,), kw = EXAMPLES["steps_to_converge"]
    fig = plots.steps_to_converge(steps, **kw)
    ax = fig.axes[0]
    filled, hollow = [], []
    for ln in ax.get_lines():
        (hollow if ln.get_markerfacecolor() == "none" else filled).append(ln)
    y_filled = np.concatenate([np.asarray(ln.get_ydata(), float) for ln in filled if ln.get_marker() == "o"])
    assert np.isnan(y_filled[0]) and np.isfinite(y_filled[1:]).all()  # the censored cell is no data point
    open_y = [y for ln in hollow for y in np.asarray(ln.get_ydata(), float)]
    assert sorted(open_y) == [500.0, 500.0]  # budget of n = 10: the censored median and the open interval


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
