"""Studies declared in TOML (lrsweep.studies.declared): the example files run, errors are one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lrsweep import cli, study, theory
from lrsweep.studies import Options, Runtime, StudyError, run_study
from lrsweep.studies.declared import load_studies, parse_studies

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.toml"))


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def test_there_are_example_files():
    assert len(EXAMPLES) >= 2


#: Each example runs once, through one of the two spellings of the one command line.
ENTRIES = {"python -m lrsweep.study": study.main, "lrsweep study": lambda argv: cli.main(["study", *argv])}


@pytest.mark.parametrize(("path", "entry"), [(p, list(ENTRIES)[i % 2]) for i, p in enumerate(EXAMPLES)],
                         ids=lambda v: getattr(v, "stem", v))
def test_example_runs_with_the_named_studies_layout(path, entry, tmp_path, capsys):
    [declared] = load_studies(path)
    out = tmp_path / "out"
    assert ENTRIES[entry](["run", str(path), "--quick", "--out", str(out), "--no-progress"]) == 0
    assert declared.name in capsys.readouterr().out
    for f in ("report.md", "summary.csv", "trajectories.parquet"):
        assert (out / f).stat().st_size > 0, f
    assert any((out / "chunks").rglob("chunk-*.parquet"))
    figs = sorted(p.stem for p in (out / "figures").glob("*.png"))
    assert figs == sorted(declared.figures)
    report = (out / "report.md").read_text()
    assert declared.question in report and all(f"figures/{f}.png" in report for f in figs)
    summary = pd.read_csv(out / "summary.csv")
    for rate in ("converged", "diverged", "unstable"):  # every rate carries its Wilson interval
        assert {f"{rate}_rate", f"{rate}_lo", f"{rate}_hi"} <= set(summary.columns)


def test_convergence_theory_is_evaluated_at_the_values_that_ran():
    [st] = load_studies(EXAMPLES[0].with_name("convergence_speed.toml"))
    options = Options(quick=True, sets={"tol": 0.001, "x_scale": 2.0})
    run = run_study(st, options, Runtime(progress=False))
    cfg = run.main.config
    assert cfg.tol == 0.001 and cfg.axes["x_scale"] == (2.0,)
    s = run.output.summary
    L = np.asarray(theory.population_log_multiplier(s["lr"].to_numpy(), 2.0))
    expected = np.where(L < 0, np.log(0.001) / np.where(L < 0, L, -1.0), np.nan)
    np.testing.assert_allclose(s["theory_steps"], expected, rtol=1e-12)


def test_divergence_theory_only_where_it_applies():
    [st] = load_studies(EXAMPLES[0].with_name("order_divergence.toml"))
    run = run_study(st, Options(quick=True), Runtime(progress=False))
    s = run.output.summary
    fixed = s[s["sweep"] == "fixed"]
    lrs = np.asarray(run.results["fixed"].config.axes["lr"])
    p = theory.divergence_probability(100, lrs, method="montecarlo", n_datasets=20000, rng=12345 + 100)
    np.testing.assert_array_equal(fixed.sort_values("lr")["theory_probability"], p.probability)
    assert s[s["sweep"] == "orders"]["theory_probability"].isna().all()  # mixed orders: no theory
    assert "Sweep `orders` has no theory overlay: the sample order" in run.output.report


@pytest.mark.parametrize("setting, why", [("batch_size", "the steps use mini-batches"),
                                           ("momentum", "the runs use momentum"),
                                           ("schedule", "the learning rate follows a schedule")])
def test_per_sample_theory_is_left_out_for_the_optimizer_axes(setting, why):
    [st] = load_studies(EXAMPLES[0].with_name("convergence_speed.toml"))
    value = {"batch_size": 4, "momentum": 0.5, "schedule": "cosine"}[setting]
    run = run_study(st, Options(quick=True, sets={setting: value}), Runtime(progress=False))
    assert "theory_steps" not in run.output.summary.columns
    assert f"has no theory overlay: {why}." in run.output.report


def test_the_answer_is_a_finding_with_its_interval():
    [st] = load_studies(EXAMPLES[0].with_name("order_divergence.toml"))
    run = run_study(st, Options(quick=True), Runtime(progress=False))
    assert run.output.answer.startswith("Half of the runs are unstable at") and "[" in run.output.answer
    assert f"- {run.output.answer}" in run.output.report  # the first finding
    assert "(95 % Wilson interval)" in run.output.report  # the heatmap's finding too


GOOD = """
[[study]]
name = "t"
question = "Q?"
[study.sweep]
lr = [0.1, 0.5]
seed = { range = [0, 3] }
[[study.figure]]
kind = "rate"
"""


@pytest.mark.parametrize(("text", "fragment"), [
    ("[[study]\n", "not valid TOML"),
    ("x = 1", "<string>.x: unknown key; allowed keys are study"),
    ("", "declare at least one study"),
    (GOOD.replace('name = "t"', 'name = "T T"'), "study[0].name: must be a name of lower-case letters"),
    (GOOD.replace('question = "Q?"', ""), "study[0].question: must be a non-empty string"),
    (GOOD.replace("lr = [0.1, 0.5]", 'lr = "abc"'), "The 'lr' parameter of SweepConfig must be"),
    (GOOD.replace("lr = [0.1, 0.5]", "lr = { logspace = [1, 2, 3] }"), "study[0].sweep.lr: must be a value"),
    (GOOD.replace("lr = [0.1, 0.5]", "lr = { geomspace = [0, 1, 3] }"), "positive end points"),
    (GOOD.replace("lr = [0.1, 0.5]", "lr = { linspace = [0, 1, 1e9] }"), "an integer count"),
    (GOOD.replace("{ range = [0, 3] }", "{ range = [0, 100000000000] }"), "at most 1,000,000 values"),
    (GOOD.replace("lr = [0.1, 0.5]", "lr = [0.1, 0.5]\nwarp = 3"), "study[0].sweep.warp: unknown key"),
    (GOOD.replace("lr = [0.1, 0.5]", "lr = [0.1, 0.5]\nepochs = [1, 2]"),
     "study[0].sweep.epochs: must be one number (a fixed setting)"),
    (GOOD.replace('kind = "rate"', 'kind = "pie"'), "study[0].figure[0].kind: must be one of 'rate'"),
    (GOOD.replace('kind = "rate"', 'kind = "rate"\nrate = "fast"'), "figure[0].rate: must be one of"),
    (GOOD.replace('kind = "rate"', 'kind = "rate"\nx = "speed"'), "figure[0].x: must be an axis name"),
    (GOOD.replace('kind = "rate"', 'kind = "heatmap"'), "a heatmap needs both x and y"),
    (GOOD.replace('kind = "rate"', 'kind = "rate"\nsweep = "other"'), "figure[0].sweep: must be one of"),
    (GOOD.replace('question = "Q?"', 'question = "Q?"\nby = ["nope"]'), "study[0].by: must be a non-empty"),
    (GOOD.replace("[study.sweep]", "[study.sweeps]"), "study[0].sweeps.lr: must be a table"),
    (GOOD + GOOD.replace("[[study.figure]]\nkind = \"rate\"", ""), "study names must differ"),
    (GOOD.replace('question = "Q?"', 'question = "Q?"\n[study.sweeps.a]\nlr = 1'),
     "give exactly one of sweep (one sweep) or sweeps"),
    ("__import__ = 1", "unknown key"),
    (GOOD.replace("lr = [0.1, 0.5]", 'lr = "__import__(\'os\').system(\'touch /tmp/x\')"'),
     "The 'lr' parameter of SweepConfig"),
])
def test_errors_name_the_key(text, fragment):
    with pytest.raises(StudyError) as info:
        parse_studies(text)
    assert fragment in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_bad_file_is_one_line_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD.replace('kind = "rate"', 'kind = "pie"'))
    for argv in (["run", str(bad)], ["run", str(tmp_path / "missing.toml")], ["run"]):
        assert study.main([*argv, "--out", str(tmp_path / "o"), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, err
    assert not (tmp_path / "o").exists()
