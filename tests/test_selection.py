"""``record=`` selections (lrsweep.selection): a whitelisted grammar that never runs code."""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
import pytest
from conftest import run

import lrsweep
from lrsweep.results import grid_frame
from lrsweep.selection import MAX_EXPRESSION, select_ids

CFG = lrsweep.SweepConfig(lr=[0.01, 0.04, 0.5], seed=range(6), n_samples=[10, 20], theta0=[-1.0, 2.5],
                          order=["fixed", "shuffle", "online"], outlier_kind=["leverage", "response"])


@pytest.mark.parametrize("expr", [
    "lr == 0.04 and seed < 3",
    "lr == 0.04 or seed >= 4",
    "not (lr == 0.04)",
    "order in ['shuffle', 'online'] and not (0.02 <= lr < 1)",
    "order not in ['fixed'] or n_samples != 10",
    "0.01 < lr <= 0.5 and theta0 == -1",
    "seed == 2 and outlier_kind == 'response' and order == 'online'",
    "trajectory_id < 17 or trajectory_id >= 400",
    "lr in [0.01] and seed in [1, 3, 5]",
    "(seed < 2 or seed > 4) and (lr < 0.1 and not order == 'online')",
    "lr > theta0",
])
def test_expressions_select_what_a_dataframe_filter_selects(expr):
    """Differential test: pandas' query (the old implementation, fine in a test) as the oracle."""
    frame = grid_frame(CFG)
    expected = frame.query(expr)["trajectory_id"].to_numpy()
    np.testing.assert_array_equal(select_ids(CFG, expr), np.sort(expected))


def test_ids_all_none_and_mappings():
    n = CFG.n_trajectories
    np.testing.assert_array_equal(select_ids(CFG, "all"), np.arange(n))
    assert select_ids(CFG, None).size == 0
    np.testing.assert_array_equal(select_ids(CFG, [5, 3, 5, np.int64(0)]), [0, 3, 5])
    np.testing.assert_array_equal(select_ids(CFG, np.array([7, 2], dtype=np.uint8)), [2, 7])
    np.testing.assert_array_equal(select_ids(CFG, range(3)), [0, 1, 2])
    frame = grid_frame(CFG)
    got = select_ids(CFG, {"lr": [0.5], "seed": range(2), "order": "shuffle"})
    want = frame[(frame.lr == 0.5) & (frame.seed < 2) & (frame.order == "shuffle")]["trajectory_id"]
    np.testing.assert_array_equal(got, want.to_numpy())


@pytest.mark.parametrize(("record", "fragment"), [
    ("1", "not a comparison"),
    ("seed", "not a comparison"),
    ("lr == 'a'", "'lr' compares with numbers"),
    ("order < 'z'", "text axes compare only with"),
    ("order == 1", "'order' compares with strings"),
    ("speed > 1", "unknown name"),
    ("lr == 0.04 & seed < 3", "not a name, a number, a string"),
    ("lr in 0.04", "'in' takes an axis name on the left and a list"),
    ("lr in []", "empty list"),
    ("1 == 1", "each comparison needs an axis name"),
    ("lr == nan", "unknown name"),
    ("lr == 1e999", "not a finite number"),
    ("lr ==", "invalid syntax"),
    ("trajectory_id == 1.5", "trajectory_id compares with integers"),
    ([1.5], "Got 1.5 instead"),
    (["3"], "Got '3' instead"),
    ([True], "Got True instead"),
    ([2**63], "trajectory ids in [0, "),
    ([-1], "trajectory ids in [0, "),
    ({"speed": 1}, "keys are axis names"),
    ({"lr": []}, "at least one value of 'lr'"),
    ({"order": [1]}, "strings for 'order'"),
    (3.5, "Got 3.5 instead"),
    (b"lr == 1", "Got an object of type bytes"),
])
def test_bad_selections_are_named_errors(record, fragment):
    with pytest.raises(lrsweep.ParameterError, match="The 'record' parameter of sweep must be") as info:
        select_ids(CFG, record)
    assert fragment in str(info.value), str(info.value)


#: Strings that evaluate code in pandas' DataFrame.query / eval (attribute chains from a column
#: to __globals__, calls, subscripts, lambdas, comprehensions, f-strings, walrus, ...).
HOSTILE = [
    "lr.__class__.__init__.__globals__['os'].system('touch {canary}')",
    "seed.values.tofile('{canary}')",
    "@pd.io.common.os.system('touch {canary}')",
    "__import__('os').system('touch {canary}')",
    "(lambda: __import__('os').system('touch {canary}'))()",
    "[__import__('os').system('touch {canary}') for _ in [1]]",
    "f\"{{__import__('os').system('touch {canary}')}}\" == 'x'",
    "lr == 1 or __import__('os').system('touch {canary}')",
    "seed in [__import__('os').system('touch {canary}')]",
    "(x := __import__('os')) and x.system('touch {canary}')",
    "lr[__import__('os').system('touch {canary}')]",
    "lr == 1 if __import__('os').system('touch {canary}') else 0",
    "getattr(__builtins__, 'exec')(\"open('{canary}', 'w')\")",
    "{{'a': __import__('os').system('touch {canary}')}}",
    "lr == open('{canary}', 'w')",
    "exec(\"open('{canary}','w')\")",
    "lr == 0.04; import os; os.system('touch {canary}')",
    "__builtins__",
    "lr.__dict__",
    "lr + 1 == 2",
    "~(lr == 1)",
    "lr is 1",
    "*lr",
    "await lr",
    "yield lr",
]


@pytest.mark.parametrize("template", HOSTILE)
def test_hostile_strings_run_nothing_and_are_named_errors(template, tmp_path):
    canary = tmp_path / "canary"
    text = template.format(canary=canary)
    with pytest.raises(lrsweep.ParameterError, match="The 'record' parameter of sweep must be"):
        lrsweep.sweep(CFG, record=text, progress=False)
    assert not canary.exists()


@pytest.mark.parametrize("text", ["(" * 200 + "lr == 1" + ")" * 200, "not " * 5000 + "lr == 1",
                                  " or ".join(["lr == 1"] * 3000), "x" * (MAX_EXPRESSION + 1),
                                  "lr == " + "9" * 5000])
def test_huge_or_deep_inputs_are_named_errors_quickly(text):
    import time

    t0 = time.perf_counter()
    with contextlib.suppress(lrsweep.ParameterError):
        select_ids(CFG, text)
    assert time.perf_counter() - t0 < 5


def test_a_selection_on_a_big_grid_is_evaluated_in_blocks():
    cfg = lrsweep.SweepConfig(lr=np.geomspace(1e-3, 1, 1000), seed=range(5000))  # 5e6 trajectories
    ids = select_ids(cfg, "seed == 4321 and lr > 0.5")
    frame_ids = np.arange(4321 * 1000, 4322 * 1000)[np.asarray(cfg.axes["lr"]) > 0.5]
    np.testing.assert_array_equal(ids, frame_ids)


def test_sweep_records_what_the_expression_selects():
    cfg = lrsweep.SweepConfig(lr=[0.01, 0.04], seed=range(4), epochs=1, n_samples=5)
    res = run(cfg, record="lr == 0.04 and seed < 3")
    assert sorted(res.records["trajectory_id"].unique()) == [1, 3, 5]
    assert isinstance(res.records, pd.DataFrame)
