"""Tests of the argument validation of every public lrsweep.theory function.

The invalid calls are generated from the constraint tables themselves
(``__lrsweep_constraints__``, kept by ``validate_params``): one valid call
per function below, then each constrained parameter replaced by its
constraint's ``invalid_example()``. Every violation must raise a
``ParameterError`` with the one message template.
"""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest

import lrsweep
from lrsweep import theory as T
from lrsweep._validation import ParameterError, ParameterTypeError

FUNCTIONS = [name for name in T.__all__ if inspect.isfunction(getattr(T, name))]

X = [1.0, -0.5, 2.0]
#: One dataset of 3 samples with 2 features (the ``x`` of :mod:`lrsweep.theory.features`).
XD = [[1.0, 0.5], [-0.5, 1.0], [2.0, 0.0]]


def valid_call(name: str) -> dict:
    """One valid call of each public function, every parameter given by keyword."""
    if name == "trajectory_predictions":
        import pandas as pd

        # single-valued data axes: the frame needs only its 'lr' column
        config = lrsweep.SweepConfig(lr=[0.1, 0.5], n_samples=5, epochs=2)
        return {"frame": pd.DataFrame({"lr": [0.1, 0.5]}), "config": config}
    table = {
        "epoch_log_multiplier": {"x": X, "lr": [0.0, 0.1]},
        "overshoot_count": {"x": X, "lr": [0.0, 0.4]},
        "amplify_count": {"x": X, "lr": [0.0, 0.4]},
        "poles": {"x": X},
        "gd_threshold": {"x": X},
        "critical_lr": {"x": X},
        "roots": {"x": X, "lr_min": 0.0, "lr_max": 5.0},
        "diverging_intervals": {"x": X, "lr_min": 0.0, "lr_max": 5.0},
        "predicted_error": {"x": X, "lr": 0.1, "e0": -1.0, "epochs": 2},
        "predicted_steps_to_tol": {"x": X, "lr": 0.1, "tol": 0.1, "epochs": 2},
        "population_log_multiplier": {"lr": 0.1, "x_scale": 1.0},
        "population_log_multiplier_variance": {"lr": 0.1, "x_scale": 1.0},
        "as_threshold": {"x_scale": 1.0},
        "ms_threshold": {"x_scale": 1.0},
        "mean_threshold": {"x_scale": 1.0},
        "tail_index": {"lr": 0.1, "x_scale": 1.0},
        "tail_index_dataset": {"x": X, "lr": [0.1, 0.6]},
        "dataset_stationary_mse": {"x": X, "y": [0.5, 0.0, 1.0], "lr": [0.1, 0.6], "batch_size": 2,
                                   "momentum": 0.5, "nesterov": False},
        "shuffle_error_bound": {"x": X, "y": [0.5, 0.0, 1.0], "lr": [0.1, 0.6], "e0": 1.0, "epochs": 2},
        "divergence_probability": {"n": 5, "lr": 0.5, "x_scale": 1.0, "method": "montecarlo",
                                   "n_datasets": 10, "rng": 0},
        "batch_log_multiplier": {"x": X, "lr": [0.0, 0.1], "batch_size": 2},
        "batch_critical_lr": {"x": X, "batch_size": 2},
        "batch_ms_threshold": {"batch_size": [1, 2], "x_scale": 1.0},
        "batch_as_threshold": {"batch_size": 2, "x_scale": 1.0},
        "batch_population_log_multiplier": {"lr": 0.1, "batch_size": 2, "x_scale": 1.0},
        "schedule_log_growth": {"x": X, "lr": [0.0, 0.1], "multipliers": [1.0, 0.5, 0.25, 1.0],
                                "batch_size": 2},
        "best_constant_lr": {"x": X, "n_steps": 5, "batch_size": 1},
        "momentum_epoch_growth": {"x": X, "lr": [0.0, 0.1], "momentum": 0.5, "batch_size": 2,
                                  "nesterov": True},
        "momentum_ms_radius": {"lr": 0.1, "momentum": 0.5, "batch_size": 2, "nesterov": False,
                               "x_scale": 1.0},
        "momentum_ms_threshold": {"momentum": 0.5, "batch_size": 2, "nesterov": True, "x_scale": 1.0},
        "momentum_lyapunov_exponent": {"lr": 0.1, "momentum": 0.5, "batch_size": 2, "nesterov": False,
                                       "x_scale": 1.0, "n_steps": 10, "n_chains": 2, "rng": 0},
        "stationary_mse": {"m2": 1.0, "m4": 3.0, "m2r2": 0.5, "lr": 0.1, "batch_size": 2,
                           "momentum": 0.5, "nesterov": False, "coordinates": 3},
        "population_stationary_mse": {"lr": 0.1, "noise": 0.5, "x_scale": 1.0, "batch_size": 2,
                                      "momentum": 0.5, "nesterov": True},
        "feature_epoch_product": {"x": XD, "lr": [0.0, 0.1], "batch_size": 2, "fit_intercept": True},
        "feature_epoch_growth": {"x": XD, "lr": [0.0, 0.1], "batch_size": 2, "fit_intercept": True},
        "feature_critical_lr": {"x": XD, "batch_size": 1, "fit_intercept": True, "points_per_octave": 8},
        "isotropic_log_multiplier": {"lr": 0.1, "n_features": 2, "x_scale": 1.0},
        "isotropic_as_threshold": {"n_features": 1, "x_scale": 1.0},
        "isotropic_ms_threshold": {"n_features": 2, "batch_size": 2, "fit_intercept": True, "x_scale": 1.0},
        "condition_scales": {"n_features": 3, "condition_number": 10.0, "x_scale": 1.0},
        "feature_ms_threshold": {"scales": [1.0, 2.0], "batch_size": 2, "fit_intercept": True},
        "feature_ms_radius": {"lr": 0.1, "scales": [1.0, 2.0], "batch_size": 2, "fit_intercept": True},
        "feature_stationary_mse": {"lr": [0.0, 0.1], "scales": [1.0, 2.0], "noise": 0.5, "batch_size": 2,
                                   "fit_intercept": True},
        "feature_lyapunov_exponent": {"lr": 0.1, "scales": [1.0, 2.0], "batch_size": 2, "fit_intercept": True,
                                      "n_steps": 10, "n_chains": 2, "rng": 0},
        "feature_as_threshold": {"scales": [1.0, 2.0], "batch_size": 1, "fit_intercept": True,
                                 "n_steps": 20, "n_chains": 2, "rng": 0},
    }
    return dict(table[name])


def template(name: str, owner: str, allowed: str) -> str:
    return re.escape(f"The {name!r} parameter of {owner} must be {allowed}. Got ")


CASES = [(func, param) for func in FUNCTIONS for param in getattr(T, func).__lrsweep_constraints__]


# --------------------------------------------------------------------------- the tables


def test_every_public_function_is_decorated():
    assert [n for n in T.__all__ if inspect.isclass(getattr(T, n))] == [
        "BestConstantLR", "DivergenceProbability", "EpochProduct", "LyapunovEstimate"]
    assert len(FUNCTIONS) == len(T.__all__) - 4
    for name in FUNCTIONS:
        func = getattr(T, name)
        assert hasattr(func, "__lrsweep_constraints__"), f"{name} is not decorated with validate_params"
        assert func.__lrsweep_owner__ == name
        # a constraint for each parameter
        assert set(func.__lrsweep_constraints__) == set(inspect.signature(func).parameters), name


@pytest.mark.parametrize("name", FUNCTIONS)
def test_valid_call(name):
    kwargs = valid_call(name)
    assert set(kwargs) == set(inspect.signature(getattr(T, name)).parameters)
    getattr(T, name)(**kwargs)


@pytest.mark.parametrize(("name", "param"), CASES, ids=[f"{f}-{p}" for f, p in CASES])
def test_every_constraint_violation_raises_with_the_template(name, param):
    func = getattr(T, name)
    constraint = func.__lrsweep_constraints__[param]
    kwargs = valid_call(name)
    kwargs[param] = constraint.invalid_example()
    with pytest.raises(ParameterError, match=template(param, name, constraint.description)) as info:
        func(**kwargs)
    assert str(info.value).endswith(" instead.")


# --------------------------------------------------------------------------- hostile inputs

HOSTILE_ARRAYS = [
    ("complex", np.array([1.0 + 1.0j, 2.0]), ParameterTypeError, "an array of dtype complex128"),
    ("digits", "123", ParameterTypeError, "'123'"),
    ("bool", np.array([True, False]), ParameterTypeError, "an array of dtype bool"),
    ("strings", ["1", "2"], ParameterTypeError, "an array of dtype <U1"),
    ("objects", np.array([1.0, None], dtype=object), ParameterTypeError, "an array of dtype object"),
    ("ragged", [[1.0], [1.0, 2.0]], ParameterTypeError, "an object of type list"),
    ("None", None, ParameterTypeError, "None"),
    ("huge ints", np.array([2**63 + 1], dtype=np.uint64), ParameterError,
     "integers too large for float64"),
    ("nan", [1.0, float("nan")], ParameterError, "nan"),
    ("inf", [1.0, float("inf")], ParameterError, "inf"),
]
X_ONLY = [
    ("3-D", np.ones((2, 2, 2)), ParameterError, "an array of shape (2, 2, 2)"),
    ("empty", np.array([]), ParameterError, "an array of shape (0,)"),
    ("no samples", np.empty((3, 0)), ParameterError, "an array of shape (3, 0)"),
    ("scalar", 1.0, ParameterError, "an array of shape ()"),
]
#: The ``x`` of :mod:`lrsweep.theory.features` is (n, d) or (n_datasets, n, d): 4-D is too many.
X_FEATURES_ONLY = [("4-D", np.ones((2, 2, 2, 2)), ParameterError, "an array of shape (2, 2, 2, 2)"),
                   *X_ONLY[1:]]


def _hostile(name: str, param: str) -> list:
    """The hostile values of ``param``; those of the features' ``x`` as columns ``(n, 1)``."""
    if param != "x":
        return HOSTILE_ARRAYS
    if not name.startswith("feature_"):
        return HOSTILE_ARRAYS + X_ONLY
    column = [(label, np.asarray(v)[:, None] if isinstance(v, np.ndarray | list) and label != "ragged" else v,
               error, shown) for label, v, error, shown in HOSTILE_ARRAYS]
    return column + X_FEATURES_ONLY


ARRAY_CASES = [(f, p, *h) for f in FUNCTIONS for p in ("x", "lr")
               if p in inspect.signature(getattr(T, f)).parameters
               for h in _hostile(f, p)]


@pytest.mark.parametrize(("name", "param", "label", "value", "error", "shown"), ARRAY_CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in ARRAY_CASES])
def test_hostile_arrays_give_named_errors(name, param, label, value, error, shown):
    func = getattr(T, name)
    kwargs = valid_call(name)
    kwargs[param] = value
    allowed = func.__lrsweep_constraints__[param].description
    with pytest.raises(error, match=template(param, name, allowed) + re.escape(f"{shown} instead.")):
        func(**kwargs)


@pytest.mark.parametrize(
    ("name", "param", "value", "error"),
    [
        ("predicted_steps_to_tol", "tol", "0.1", ParameterTypeError),
        ("predicted_steps_to_tol", "tol", [0.1], ParameterTypeError),
        ("predicted_steps_to_tol", "tol", float("inf"), ParameterError),
        ("predicted_error", "epochs", 2.5, ParameterTypeError),
        ("predicted_error", "epochs", True, ParameterTypeError),
        ("divergence_probability", "n", True, ParameterTypeError),
        ("divergence_probability", "n", np.int64(0), ParameterError),
        ("divergence_probability", "x_scale", 1.0 + 1.0j, ParameterTypeError),
        ("divergence_probability", "x_scale", [1.0], ParameterTypeError),
        ("divergence_probability", "rng", 1.5, ParameterTypeError),
        ("divergence_probability", "rng", True, ParameterTypeError),
        ("divergence_probability", "method", 1, ParameterTypeError),
        ("roots", "lr_min", float("nan"), ParameterError),
        ("population_log_multiplier", "x_scale", np.array([1.0, 1.0j]), ParameterTypeError),
        ("trajectory_predictions", "config", {"epochs": 2}, ParameterTypeError),
    ],
)
def test_hostile_scalars_give_named_errors(name, param, value, error):
    func = getattr(T, name)
    kwargs = valid_call(name)
    kwargs[param] = value
    allowed = func.__lrsweep_constraints__[param].description
    with pytest.raises(error, match=template(param, name, allowed)):
        func(**kwargs)


# --------------------------------------------------------------------------- cross-parameter conditions


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: T.tail_index(-1.0),
         "The 'lr' parameter of tail_index must be a scalar or an array of floats in the range [0, inf). "
         "Got -1.0 instead."),
        (lambda: T.epoch_log_multiplier([1.0, np.nan], 0.1),
         "The 'x' parameter of epoch_log_multiplier must be a 1-D array (one dataset) or a 2-D array "
         "(n_datasets, n) of finite floats. Got nan instead."),
        (lambda: T.epoch_log_multiplier(np.ones((2, 2, 2)), 0.1), "'x' parameter"),
        (lambda: T.roots(np.ones((2, 3))), "'x' parameter of roots must be a 1-D array"),
        (lambda: T.roots([1.0], 2.0, 1.0),
         "The 'lr_max' parameter of roots must be None or a float >= lr_min (2.0). Got 1.0 instead."),
        (lambda: T.population_log_multiplier(0.1, x_scale=0.0),
         "The 'x_scale' parameter of population_log_multiplier must be a scalar or an array of floats "
         "in the range (0, inf). Got 0.0 instead."),
        (lambda: T.predicted_error([1.0], 0.1, epochs=0), "'epochs' parameter"),
        (lambda: T.predicted_steps_to_tol([1.0], 0.1, tol=0.0, epochs=1), "'tol' parameter"),
        (lambda: T.divergence_probability(0, 0.1), "'n' parameter"),
        # conditions on two parameters, raised inside the functions with the same template
        (lambda: T.diverging_intervals([1.0], lr_min=0.5, lr_max=0.25),
         "The 'lr_max' parameter of diverging_intervals must be None or a float >= lr_min (0.5). "
         "Got 0.25 instead."),
        (lambda: T.predicted_error(np.ones((3, 4)), [0.1, 0.2], e0=[1.0, 2.0, 3.0]),
         "The 'e0' parameter of predicted_error must be a scalar or an array of finite floats "
         "broadcastable to shape (3, 2) (x.shape[:-1] + lr.shape). Got an array of shape (3,) instead."),
        (lambda: T.tail_index([0.1, 0.2], x_scale=[1.0, 2.0, 3.0]),
         "The 'x_scale' parameter of tail_index must be a scalar or an array of floats in the range "
         "(0, inf) broadcastable against 'lr' of shape (2,). Got an array of shape (3,) instead."),
        (lambda: T.divergence_probability(10, 0.5, method="montecarlo"),
         "The 'rng' parameter of divergence_probability must be an int seed >= 0 or a "
         "numpy.random.Generator when method='montecarlo'. Got None instead."),
    ],
)
def test_validation_messages(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


def test_trajectory_predictions_frame_conditions():
    import pandas as pd

    kwargs = valid_call("trajectory_predictions")
    config = kwargs["config"]
    with pytest.raises(ParameterTypeError, match=re.escape(
            "The 'frame' parameter of trajectory_predictions must be a pandas.DataFrame. "
            "Got an object of type dict instead.")):
        T.trajectory_predictions({"lr": [0.1]}, config)
    with pytest.raises(ParameterError, match=re.escape(
            "The 'frame' parameter of trajectory_predictions must be a frame with an 'lr' column. "
            "Got columns ['rate'] instead.")):
        T.trajectory_predictions(pd.DataFrame({"rate": [0.1]}), config)
    swept = lrsweep.SweepConfig(lr=[0.1], seed=[0, 1], n_samples=5)
    with pytest.raises(ParameterError, match=re.escape(
            "must be a frame with a 'seed' column (the config sweeps it). Got columns ['lr'] instead.")):
        T.trajectory_predictions(pd.DataFrame({"lr": [0.1]}), swept)
    for bad, error, shown in [(-1.0, ParameterError, "-1.0"), (float("nan"), ParameterError, "nan"),
                              ("fast", ParameterTypeError, "an array of dtype object")]:
        with pytest.raises(error, match=re.escape(
                "The 'frame' parameter of trajectory_predictions must be a frame whose 'lr' column is "
                f"an array of floats in the range [0, inf). Got {shown} instead.")):
            T.trajectory_predictions(pd.DataFrame({"lr": [0.1, bad]}), config)


# --------------------------------------------------------------------------- what stays accepted


def test_accepts_numbers_lists_arrays_and_numpy_scalars_with_the_same_result():
    x = np.array([1.0, -0.5, 2.0])
    want = T.epoch_log_multiplier(x, 0.25)
    assert isinstance(want, np.float64)
    for xv in (x, x.tolist(), [1, -0.5, 2], x.astype(np.float32).astype(np.float64)):
        for lr in (0.25, np.float64(0.25), np.array(0.25), np.float32(0.25), [0.25]):
            got = T.epoch_log_multiplier(xv, lr)
            assert np.shape(got) == np.shape(lr)
            assert np.asarray(got).tobytes() == np.asarray(want).reshape(np.shape(lr)).tobytes()
    assert T.epoch_log_multiplier([1, 2, 3], 0) == 0.0  # ints
    assert T.predicted_steps_to_tol(x, 0.1, np.float32(0.5), np.int64(3)) == T.predicted_steps_to_tol(
        x, 0.1, float(np.float32(0.5)), 3)
    assert T.divergence_probability(np.int64(10), 0.0).probability == 0.0
    gen = np.random.default_rng(4)
    a = T.divergence_probability(10, [0.5, 1.5], method="montecarlo", n_datasets=50, rng=gen)
    b = T.divergence_probability(10, [0.5, 1.5], method="montecarlo", n_datasets=50, rng=4)
    np.testing.assert_array_equal(a.probability, b.probability)  # a Generator is used as given
    # rng is ignored (and may be None) by the normal approximation
    assert T.divergence_probability(10, 0.5, rng=None) == T.divergence_probability(10, 0.5)


def test_empty_inputs_that_were_accepted_stay_accepted():
    # no learning rates: an empty result of the documented shape
    assert T.epoch_log_multiplier([1.0, 2.0], []).shape == (0,)
    assert T.overshoot_count(np.ones((3, 2)), np.empty((0, 4))).shape == (3, 0, 4)
    assert T.population_log_multiplier([]).shape == (0,)
    assert T.ms_threshold([]).shape == (0,)
    assert T.divergence_probability(5, []).probability.shape == (0,)
    # a stack of zero datasets
    assert T.epoch_log_multiplier(np.empty((0, 5)), [0.1, 0.2]).shape == (0, 2)
    assert T.critical_lr(np.empty((0, 5))).shape == (0,)
    assert T.poles(np.empty((0, 5))).shape == (0, 5)
