"""The one validator: every public function declares its constraints, and each violation
gets the one message template (invalid calls generated from the tables).

Theory and plot functions have their own generated tests (test_theory_validation.py,
test_plots.py); this file covers the rest of the public API and checks that nothing
public escapes the validator.
"""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest

import lrsweep
from lrsweep import _validation as V
from lrsweep import (
    checkpoint,
    data,
    distributed,
    intervals,
    planner,
    plots,
    reference,
    reference_features,
    results,
    runner,
    theory,
)

CFG = lrsweep.SweepConfig(lr=[0.1, 0.2])

#: One valid call per public function (keyword arguments); each constrained
#: parameter is replaced in turn by its constraint's invalid example.
VALID = {
    runner.sweep: dict(config=CFG, record_every=1, chunk_size=5, threads=1, progress=False, out="unused"),
    runner.sweep_shard: dict(config=CFG, shard=(0, 1), out="unused", record_every=1, chunk_size=5, threads=1),
    data.make_dataset: dict(seed=1, n_samples=10, x_scale=1.0, noise=0.0, outlier_frac=0.1,
                            outlier_scale=3.0, outlier_kind="leverage", coef=2.0, intercept=0.0,
                            kind="gaussian", online_epochs=2),
    data.sample_order: dict(order="shuffle", n_samples=5, epochs=2, seed=3),
    data.make_features_dataset: dict(seed=1, n_samples=10, n_features=2, x_scale=1.0, condition=1.0,
                                     feature_scales=[1.0, 2.0], coefficients=[1.0, -1.0], coef=2.0,
                                     intercept=0.5, fit_intercept=True, noise=0.1, outlier_frac=0.1,
                                     outlier_scale=3.0, outlier_kind="response", kind="gaussian",
                                     online_epochs=2),
    reference_features.run_trajectory_features: dict(x=[[1.0, 0.5], [2.0, -1.0]], y=[5.0, 10.0], lr=0.01,
                                                     theta0=[-1.0, 0.0], b0=0.5, fit_intercept=True,
                                                     epochs=2),
    reference_features.trajectory_metrics_features: dict(x=[[1.0, 0.5], [2.0, -1.0]], y=[5.0, 10.0], lr=0.01,
                                                         theta0=-1.0, w_ref=[5.0, 0.0], b_ref=0.0, b0=0.5,
                                                         fit_intercept=True, epochs=2, n=2),
    results.load: dict(path="unused.parquet"),
    intervals.wilson_interval: dict(k=[1, 2], n=[4, 4], z=1.96),
    intervals.median_interval: dict(values=[1.0, 2.0, 3.0], level=0.9),
    intervals.mean_and_se: dict(values=[1.0, 2.0]),
    intervals.hill: dict(values=[1.0, 2.0, 3.0], k=1),
    reference.trajectory_metrics: dict(x=[1.0, 2.0], y=[5.0, 10.0], lr=0.01, theta0=-1.0, theta_ref=5.0,
                                       epochs=2),
    reference.run_trajectory: dict(x=[1.0, 2.0], y=[5.0, 10.0], lr=0.01, theta0=-1.0, epochs=2),
    checkpoint.load_results: dict(directory="unused"),
    checkpoint.find_checkpoints: dict(directory="unused"),
    checkpoint.merge: dict(sources=["unused"], into="unused"),
    planner.plan_memory: dict(config=CFG, n_recorded=0, n_slots=0, chunk_size=None, collect=True,
                              concurrent=1, budget=2**30),
    distributed.local_cluster: dict(n_workers=1, threads_per_worker=1, numba_threads=1),
    distributed.connect: dict(address="tcp://127.0.0.1:1", timeout=1.0),
}
METHODS = {
    (results.Results, "summary"): dict(by=["lr"]),
    (results.Results, "to_parquet"): dict(path="unused.parquet"),
}


def _cases():
    for fn, kw in VALID.items():
        for name in fn.__lrsweep_constraints__:
            yield pytest.param(fn, kw, name, id=f"{fn.__lrsweep_owner__}-{name}")


@pytest.mark.parametrize(("fn", "kw", "name"), list(_cases()))
def test_every_constraint_violation_raises_with_the_template(fn, kw, name):
    constraint = fn.__lrsweep_constraints__[name]
    bad = constraint.invalid_example()
    owner = fn.__lrsweep_owner__
    expected = re.escape(f"The {name!r} parameter of {owner} must be {constraint.description}. Got ")
    expected += ".* instead\\.$"
    with pytest.raises(V.ParameterError, match=expected):
        fn(**{**kw, name: bad})  # raises before doing anything (local_cluster: before starting one)


@pytest.fixture(scope="module")
def res():
    return lrsweep.sweep(CFG, progress=False)


@pytest.mark.parametrize(("owner", "method"), list(METHODS), ids=lambda v: getattr(v, "__name__", v))
def test_methods_validate_too(owner, method, res):
    fn = getattr(owner, method)
    for name, constraint in fn.__lrsweep_constraints__.items():
        bad = constraint.invalid_example()
        owner_name = f"{owner.__name__}.{method}"
        with pytest.raises(V.ParameterError, match=re.escape(f"The {name!r} parameter of {owner_name}")):
            getattr(res, method)(**{**METHODS[(owner, method)], name: bad})


def _public_functions():
    """Functions a user calls: lrsweep's top-level names and the public names of its user-facing modules."""
    seen = {}
    for mod, names in ((lrsweep, [n for n in lrsweep.__all__ if n not in lrsweep._SUBMODULES]),
                       (theory, theory.__all__), (plots, plots.__all__),
                       (checkpoint, ("load_results", "merge", "find_checkpoints")),
                       (planner, ("plan_memory",)), (distributed, ("local_cluster", "connect")),
                       (reference, ("run_trajectory", "trajectory_metrics")),
                       (reference_features, ("run_trajectory_features", "trajectory_metrics_features")),
                       (intervals, ("median_interval", "mean_and_se", "hill"))):
        for n in names:
            obj = getattr(mod, n)
            if inspect.isfunction(obj) and inspect.signature(obj).parameters:
                seen[f"{mod.__name__}.{n}"] = obj
    return seen


@pytest.mark.parametrize("name", sorted(_public_functions()))
def test_every_public_function_validates_through_the_one_validator(name):
    fn = _public_functions()[name]
    assert hasattr(fn, "__lrsweep_constraints__"), f"{name} is not decorated with validate_params"
    params = set(inspect.signature(fn).parameters)
    assert set(fn.__lrsweep_constraints__) <= params


def test_every_table_has_a_valid_call_here_or_in_its_own_tests():
    covered = {f.__lrsweep_owner__ for f in (*VALID, *(getattr(o, m) for o, m in METHODS))}
    # test_theory_validation.py, test_plots.py, test_finder.py, test_replay.py (needs a sweep's Results)
    own = ("lrsweep.theory", "lrsweep.plots", "lrsweep.finder", "lrsweep.replay")
    missing = [f.__lrsweep_owner__ for f in V.VALIDATED
               if f.__lrsweep_owner__ not in covered and not f.__module__.startswith(own)]
    assert not missing, missing


@pytest.mark.parametrize("value", [1 + 2j, "12", True, None, object(), [[1.0], [1.0, 2.0]],
                                   np.array(["1.0"]), 2**80])
def test_hostile_values_get_named_errors(value):
    with pytest.raises(V.ParameterError, match=r"The 'x' parameter of run_trajectory must be"):
        reference.run_trajectory(value, [1.0])


def test_cross_parameter_conditions_use_the_template():
    with pytest.raises(V.ParameterError, match=r"The 'k' parameter of wilson_interval must be at most n"):
        intervals.wilson_interval(5, 4)
    with pytest.raises(V.ParameterError, match=r"The 'y' parameter of run_trajectory must be as long as x"):
        reference.run_trajectory([1.0, 2.0], [1.0])
    with pytest.raises(V.ParameterError, match=r"The 'order' parameter of run_trajectory must be None or a"):
        reference.run_trajectory([1.0, 2.0], [1.0, 2.0], epochs=1, order=[0, 2])


def test_bounds_print_readably():
    assert V.Interval("int", 1, 2**63 - 1).description == "an int in the range [1, 2**63 - 1]"
    assert V.Interval("int", 0, 2**32 - 1).description == "an int in the range [0, 4294967295]"
    assert V.NoneOr(V.Boolean()).description == "True, False or None"
    with pytest.raises(V.ParameterError, match=r"Got 10\*\*400|Got 1000000"):
        V.Interval("int", 0, 10).check("n", "f", 10**400)


def test_unknown_parameter_in_a_table_is_a_programming_error():
    with pytest.raises(TypeError, match="constraints for unknown parameters"):
        V.validate_params({"nope": V.Boolean()})(lambda x: x)
