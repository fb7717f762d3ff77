"""Tests of the lrsweep.theory package: re-exports, imports (no scipy at import, one direction)."""

from __future__ import annotations

import ast
import importlib
import pathlib
import pkgutil
import subprocess
import sys

from lrsweep import theory as T

#: ``lrsweep.theory.__all__`` of the single-module theory; every name must stay importable.
PUBLIC = [
    "DivergenceProbability", "amplify_count", "as_threshold", "critical_lr", "divergence_probability",
    "diverging_intervals", "epoch_log_multiplier", "gd_threshold", "mean_threshold", "ms_threshold",
    "overshoot_count", "poles", "population_log_multiplier", "population_log_multiplier_variance",
    "predicted_error", "predicted_steps_to_tol", "roots", "tail_index", "tail_index_dataset",
    "trajectory_predictions",
    # optimizer axes (issue 14): batches, schedules, momentum, noise
    "BestConstantLR", "LyapunovEstimate", "batch_as_threshold", "batch_critical_lr", "batch_log_multiplier",
    "batch_ms_threshold", "batch_population_log_multiplier", "best_constant_lr", "momentum_epoch_growth",
    "momentum_lyapunov_exponent", "momentum_ms_radius", "momentum_ms_threshold",
    "population_stationary_mse", "schedule_log_growth", "stationary_mse", "dataset_stationary_mse",
    "shuffle_error_bound",
    # d features and a bias (issue 15, point 4)
    "EpochProduct", "feature_critical_lr", "feature_epoch_growth", "feature_epoch_product",
    "feature_as_threshold", "feature_lyapunov_exponent", "condition_scales", "feature_ms_radius",
    "feature_ms_threshold", "feature_stationary_mse", "isotropic_as_threshold", "isotropic_log_multiplier",
    "isotropic_ms_threshold",
]
#: Which modules of the package each module may import (one direction, no cycles).
ALLOWED = {
    "_common": set(),
    "dataset": {"_common"},
    "_poles": {"_common"},
    "roots": {"_common", "_poles"},
    "population": {"_common"},
    "tails": {"_common", "population"},
    "probability": {"_common", "dataset", "population"},
    # the per-row bridge: every per-dataset theory its rows can use (batches, momentum, schedules, features)
    "predictions": {"_common", "batches", "dataset", "features", "momentum", "schedules"},
    "batches": {"_common", "_poles", "population", "roots"},
    "schedules": {"_common", "_poles", "batches"},
    "momentum": {"_common", "batches", "population"},
    "noise": {"_common", "momentum", "population"},
    "features": {"_common", "batches"},
    "features_population": {"_common"},
    "features_ms": {"_common"},
    "features_lyapunov": {"_common", "features_ms", "momentum"},
}
MODULES = sorted(m.name for m in pkgutil.iter_modules(T.__path__))


def test_every_public_name_is_reexported():
    assert sorted(T.__all__) == sorted(PUBLIC)
    namespace: dict = {}
    exec(f"from lrsweep.theory import {', '.join(PUBLIC)}", namespace)
    for name in PUBLIC:
        obj = getattr(T, name)
        assert namespace[name] is obj
        home = importlib.import_module(obj.__module__)
        assert home.__name__.startswith("lrsweep.theory.") and getattr(home, name) is obj
        assert name in home.__all__  # each module lists what it defines


def test_module_imports_only_numpy():
    # every module of the package, imported alone in a fresh interpreter, leaves scipy
    # (and pandas) unloaded: both are imported inside the functions that need them
    assert set(MODULES) == set(ALLOWED)
    for name in ["lrsweep.theory", *(f"lrsweep.theory.{m}" for m in MODULES)]:
        code = (
            "import importlib, sys\n"
            f"importlib.import_module({name!r})\n"
            f"assert 'scipy' not in sys.modules, 'scipy imported at module level by {name}'\n"
            f"assert 'pandas' not in sys.modules, 'pandas imported at module level by {name}'\n"
        )
        subprocess.run([sys.executable, "-c", code], check=True)


def test_modules_import_each_other_in_one_direction():
    root = pathlib.Path(T.__file__).parent
    for name in MODULES:
        tree = ast.parse((root / f"{name}.py").read_text())
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                imported.add(node.module or "")
        assert "" not in imported, f"{name}: 'from . import' hides what is imported"
        assert imported <= ALLOWED[name], f"{name} imports {sorted(imported - ALLOWED[name])}"
