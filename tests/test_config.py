"""SweepConfig: every constraint in the tables raises with the documented message."""

from __future__ import annotations

import re

import numpy as np
import pytest

import lrsweep
from lrsweep._validation import Interval, OneOf, ParameterError, ParameterTypeError
from lrsweep.config import AXES, SETTINGS
from lrsweep.schedules import ScheduleConstraint

ALL = {**AXES, **SETTINGS}


def _expected(name: str, constraint, value) -> str:
    # The template, with the reason a parsed value was refused in parentheses where there is one.
    head = re.escape(f"The {name!r} parameter of SweepConfig must be {constraint.description}")
    return head + r"( \(.*\))?\. Got "


@pytest.mark.parametrize("name", list(ALL))
def test_every_constraint_violation_raises_with_the_template(name):
    constraint = ALL[name][0]
    bad = constraint.invalid_example()
    with pytest.raises(ParameterError, match=_expected(name, constraint, bad) + ".* instead\\.$"):
        lrsweep.SweepConfig(**{name: bad})


@pytest.mark.parametrize("name", list(ALL))
def test_wrong_type_is_a_type_error(name):
    constraint = ALL[name][0]
    bad = 3.5 if isinstance(constraint, OneOf | ScheduleConstraint) else "abc"
    if isinstance(constraint, Interval) and constraint.kind == "int":
        bad = 2.5
    with pytest.raises(ParameterTypeError, match=_expected(name, constraint, bad)):
        lrsweep.SweepConfig(**{name: bad})
    assert issubclass(ParameterTypeError, TypeError) and issubclass(ParameterTypeError, ValueError)


@pytest.mark.parametrize("name", list(AXES))
def test_bad_element_inside_an_axis_is_named(name):
    constraint, default = AXES[name]
    bad = constraint.invalid_example()
    with pytest.raises(ParameterError, match=_expected(name, constraint, bad)):
        lrsweep.SweepConfig(**{name: [default, bad]})


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"lr": -0.1},
         "The 'lr' parameter of SweepConfig must be a float in the range [0, inf). Got -0.1 instead."),
        ({"lr": float("inf")}, "Got inf instead."),
        ({"lr": float("nan")}, "Got nan instead."),
        ({"n_samples": 0}, "must be an int in the range [1, 2147483647]. Got 0 instead."),
        ({"epochs": 0}, "The 'epochs' parameter of SweepConfig must be an int in the range [1, 2**53]."),
        ({"outlier_frac": 1.5}, "must be a float in the range [0, 1]. Got 1.5 instead."),
        ({"outlier_kind": "weird"}, "must be one of 'leverage', 'response'. Got 'weird' instead."),
        ({"order": "random"}, "one of 'fixed', 'shuffle', 'replacement', 'online'. Got 'random'"),
        ({"seed": -1}, "The 'seed' parameter of SweepConfig must be an int in the range [0, 4294967295]."),
        ({"lr": []}, "The 'lr' parameter of SweepConfig must be a scalar or a non-empty sequence. Got []"),
        ({"lr": np.array([])}, "must be a scalar or a non-empty sequence"),
        ({"seed": [1, 1]}, "must be a sequence without repeated values. Got 1 instead."),
        ({"lr": np.ones((2, 2))}, "must be a scalar or a 1-D sequence"),
        ({"seed": True}, "The 'seed' parameter"),
        ({"data": "mnist"}, "The 'data' parameter of SweepConfig must be one of 'gaussian', 'lecture'."),
        ({"data": ([1.0, 2.0], [1.0])}, "The 'data' parameter"),
        ({"data": ([1.0, np.nan], [1.0, 2.0])}, "of floats in the range [-1e+90, 1e+90]. Got nan instead."),
        ({"data": ([1.0, 2.0], [1.0, 2.0]), "noise": 1.0}, "The 'noise' parameter"),
        ({"data": ([1.0, 2.0], [1.0, 2.0]), "order": "online"}, "The 'order' parameter"),
        ({"memory_limit": 0}, "The 'memory_limit' parameter"),
    ],
)
def test_messages(kwargs, fragment):
    with pytest.raises(ParameterError, match=re.escape(fragment)):
        lrsweep.SweepConfig(**kwargs)


def test_lr_zero_and_scalars_are_valid():
    cfg = lrsweep.SweepConfig(lr=0.0, seed=np.int64(3), n_samples=np.array([5, 7]))
    assert cfg.axes["lr"] == (0.0,)
    assert cfg.axes["seed"] == (3,)
    assert cfg.axes["n_samples"] == (5, 7)
    assert cfg.n_trajectories == 2
    assert cfg.swept == ("n_samples",)


def test_big_grid_is_a_valid_config():
    # The table's size is checked when a sweep collects it (tests/test_planner.py),
    # not here: a grid too big for memory can still run to disk in chunks.
    cfg = lrsweep.SweepConfig(lr=np.geomspace(1e-3, 1, 1000), seed=range(10**6))
    assert cfg.n_trajectories == 10**9



def test_round_trip_and_equality():
    cfg = lrsweep.SweepConfig(lr=[0.01, 0.04], seed=range(3), noise=0.5, order=["fixed", "online"])
    again = lrsweep.SweepConfig.from_dict(cfg.to_dict())
    assert again == cfg and again.grid_hash() == cfg.grid_hash()
    assert cfg.replace(epochs=6) != cfg
    user = lrsweep.SweepConfig(data=([1.0, 2.0, 3.0], [5.0, 10.0, 15.0]), lr=[0.1, 0.2])
    assert lrsweep.SweepConfig.from_dict(user.to_dict()) == user
    assert user.axes["n_samples"] == (3,)
    assert user.replace(lr=0.3).axes["n_samples"] == (3,)


def test_config_is_frozen():
    cfg = lrsweep.SweepConfig()
    with pytest.raises(AttributeError):
        cfg.lr = 0.5  # type: ignore[misc]


def test_axis_array_is_typed_read_only_and_built_once():
    cfg = lrsweep.SweepConfig(lr=[0.1, 0.2], seed=range(3), order=["fixed", "shuffle"])
    lr = cfg.axis_array("lr")
    assert lr.dtype == np.float64 and not lr.flags.writeable and cfg.axis_array("lr") is lr
    assert cfg.axis_array("seed").dtype == np.int64
    assert list(cfg.axis_array("order")) == ["fixed", "shuffle"]
    assert cfg == lrsweep.SweepConfig(lr=[0.1, 0.2], seed=range(3), order=["fixed", "shuffle"])


def test_grid_hash_is_computed_once_and_ignores_memory_limit():
    cfg = lrsweep.SweepConfig(lr=[0.1, 0.2], seed=range(3))
    h = cfg.grid_hash()
    assert cfg.grid_hash() is h  # cached: a million-value axis takes ~1 s to hash
    assert cfg.replace(memory_limit=10**9).grid_hash() == h
    assert cfg.replace(epochs=6).grid_hash() != h


# ------------------------------------------------------------- integrity: bounds
@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"epochs": 10**14}, "The 'epochs' parameter of SweepConfig must be at most 9,007,199,254,740,992 steps"),
    ({"epochs": 2**63}, "The 'epochs' parameter of SweepConfig must be an int in the range [1, 2**53]"),
    ({"epochs": 10**17}, "The 'epochs' parameter of SweepConfig must be an int in the range [1, 2**53]"),
    ({"oscillation_min": 10**30}, "The 'oscillation_min' parameter of SweepConfig must be an int in"),
    ({"n_samples": 2**31},
     "The 'n_samples' parameter of SweepConfig must be an int in the range [1, 2147483647]. Got 2147483648"),
    ({"theta0": 1e308}, "'theta0' parameter of SweepConfig must be a float in the range [-1e+300, 1e+300]"),
    ({"x_scale": 1e200}, "The 'x_scale' parameter of SweepConfig must be a float in the range (0, 1e+30]"),
    ({"noise": 1e200}, "The 'noise' parameter"),
    ({"outlier_scale": 1e200}, "The 'outlier_scale' parameter"),
    ({"coef": 1e200}, "The 'coef' parameter"),
    ({"intercept": -1e200}, "The 'intercept' parameter"),
    ({"memory_limit": 2**64}, "The 'memory_limit' parameter"),
    ({"seed": range(2**16), "lr": np.linspace(0, 1, 2**16), "theta0": np.linspace(-1, 1, 2**16),
      "n_samples": range(1, 2**15)}, "at most 2**62 trajectories"),
    ({"data": ([1 + 2j, 1.0], [1.0, 2.0])},
     "'data' parameter of SweepConfig must be a pair (x, y): x of shape (n,) or (n, d)"),
    ({"data": (["1", "2"], [1.0, 2.0])}, "Got an array of dtype <U1 instead"),
    ({"data": ([True, False], [1.0, 2.0])}, "Got an array of dtype bool instead"),
    ({"data": ([1e100, 1.0], [1.0, 2.0])}, "of floats in the range [-1e+90, 1e+90]. Got 1e+100 instead"),
    ({"lr": "0.1"}, "The 'lr' parameter of SweepConfig must be a float"),
    ({"seed": "12"}, "The 'seed' parameter of SweepConfig must be an int"),
])
def test_integers_and_floats_are_bounded_with_the_bound_in_the_message(kwargs, fragment):
    with pytest.raises(ParameterError, match=re.escape(fragment)):
        lrsweep.SweepConfig(**kwargs)


def test_extremes_at_the_bounds_run_finite_without_warnings():
    """At the edges of every range the table is finite where documented (warnings are errors here)."""
    from conftest import run

    for kw in (dict(theta0=[1e300, -1e300]), dict(x_scale=1e30, outlier_frac=0.1, outlier_scale=1e30,
                                                  coef=-1e30, intercept=1e30, noise=1e30),
               dict(x_scale=1e-300, noise=1e-300), dict(diverge_factor=1e308, theta0=1e300)):
        for outlier_kind in ("leverage", "response"):
            res = run(lrsweep.SweepConfig(lr=[1e-3, 0.5, 1e300], seed=range(3), n_samples=7,
                                          outlier_kind=outlier_kind, order=["fixed", "online"], **kw))
            f = res.frame
            for col in ("theta_ref", "theta_final", "abs_error_final", "max_abs_error", "max_jump"):
                assert np.isfinite(f[col]).all(), (kw, col)
