"""The named studies (lrsweep.studies): every one in --quick mode, its files, resume and shards."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import wait_for_chunks

from lrsweep import study
from lrsweep.studies import Options, Runtime, run_study, write_study


def rerun(name, out, **options):
    """Run study ``name`` in-process on the checkpoints of ``out`` and write its files there."""
    st = study.STUDIES[name]
    runtime = Runtime(progress=False, checkpoint=out / "chunks")
    run = run_study(st, Options(**options), runtime)
    write_study(st, run, out, runtime)
    return run

FIGURES = {"seed": 2, "lr-tuning": 2, "oscillation": 1, "outliers": 3, "divergence": 1,
           "convergence": 1, "dataset-size": 2, "heavy-tails": 1, "noise-floor": 2,
           "batch-size": 4, "schedules": 3, "momentum": 2, "lr-finder": 3,
           "dimension": 4}


def test_every_study_has_a_figure_count():
    assert set(FIGURES) == set(study.STUDIES)
    assert all(len(s.figures) == FIGURES[name] for name, s in study.STUDIES.items())


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture(scope="module")
def gallery(tmp_path_factory):
    """``all --quick --format svg``, run once: every named study's files, for the tests below."""
    import contextlib
    import io

    root = tmp_path_factory.mktemp("gallery")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert study.main(["all", "--quick", "--out", str(root), "--no-progress", "--format", "svg"]) == 0
    return root, printed.getvalue()


@pytest.mark.parametrize("name", list(study.STUDIES))
def test_quick_study_writes_its_files(name, gallery):
    root, printed = gallery
    out = root / name
    assert f"wrote {out}/report.md" in printed
    for f in ("report.md", "summary.csv", "trajectories.parquet"):
        assert (out / f).stat().st_size > 0, f
    figs = sorted((out / "figures").glob("*.svg"))
    assert len(figs) == FIGURES[name] and not list((out / "figures").glob("*.png"))
    report = (out / "report.md").read_text()
    for fig in figs:
        assert f"figures/{fig.name}" in report
    assert "python -m lrsweep.study all" in report and "Versions:" in report


@pytest.mark.parametrize("name", list(study.STUDIES))
def test_published_tables_have_the_columns_the_code_writes(name, gallery):
    """studies/NAME holds every table the study writes, with the same header (a stale table fails here)."""
    published = Path(__file__).resolve().parents[1] / "studies" / name
    for table in sorted((gallery[0] / name).glob("*.csv")):
        with open(table) as fh:
            want = fh.readline()
        assert (published / table.name).is_file(), f"studies/{name}/{table.name} is not published"
        with open(published / table.name) as fh:
            assert fh.readline() == want, f"studies/{name}/{table.name}: columns differ from the code's"


def test_divergence_report_numbers_come_from_the_csv(gallery):
    out = gallery[0] / "divergence"
    crit = pd.read_csv(out / "critical_lr.csv")
    report = (out / "report.md").read_text()
    for _, r in crit.iterrows():
        pattern = rf"\| {int(r.n_samples)} \| ([0-9.]+) \| \[([0-9.]+), ([0-9.]+)\] \| ([0-9.]+) \|"
        row = re.search(pattern, report)
        assert row, f"no report row for n={r.n_samples}"
        sim, lo, hi, th = map(float, row.groups())
        assert sim == pytest.approx(r.critical_lr_sim, rel=1e-3)
        assert lo == pytest.approx(r.critical_lr_sim_lo, rel=1e-3)
        assert hi == pytest.approx(r.critical_lr_sim_hi, rel=1e-3)
        assert th == pytest.approx(r.critical_lr_theory, rel=1e-3)
    s = pd.read_csv(out / "summary.csv")
    assert {"unstable_rate", "unstable_lo", "unstable_hi", "theory_probability"} <= set(s.columns)
    # Simulation and exact theory agree: every predicted probability is within the
    # Wilson band widened by 3 Monte Carlo standard errors of the prediction.
    ok = (s.theory_probability >= s.unstable_lo - 3 * s.theory_se) & (
        s.theory_probability <= s.unstable_hi + 3 * s.theory_se)
    assert ok.mean() >= 0.9


def test_seed_study_reproduces_the_lecture(tmp_path):
    out = tmp_path / "s"  # the seed study has no quick form: this is the published run (PNG)
    assert study.main(["seed", "--out", str(out), "--no-progress"]) == 0
    s = pd.read_csv(out / "summary.csv")
    assert abs(s.loc[0, "theta_at_200"] - 5) < 0.1
    assert bool(s.loc[0, "identical_to_node_graph"])
    assert sorted(p.stem for p in (out / "figures").glob("*.png")) == ["rainbow_fan", "theta_and_loss"]
    report = (out / "report.md").read_text()
    assert f"| theta after iteration 200 | {s.loc[0, 'theta_at_200']:.6g} |" in report
    assert (f"| converged_step (within 1 % of the initial error for good) | {s.loc[0, 'converged_step']} |"
            in report)


def test_list(capsys):
    assert study.main(["--list"]) == 0
    assert "divergence" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["nope"], "unknown study 'nope'"),
        ([], "no study named"),
        (["seed", "--set", "lr=-1"], "The 'lr' parameter of SweepConfig must be"),
        (["seed", "--set", "lr=abc"], "cannot read 'abc'"),
        (["seed", "--set", "learning_rate=0.1"], "unknown axis 'learning_rate'"),
        (["seed", "--set", "lr"], "expected name=values"),
        (["seed", "--threads", "0"], "--threads must be >= 1"),
    ],
)
def test_bad_input_is_one_line_exit_2(argv, fragment, capsys, tmp_path):
    assert study.main([*argv, "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1 and "Traceback" not in err


def test_unwritable_out_keeps_existing_files(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    out = subprocess.run([sys.executable, "-m", "lrsweep.study", "seed", "--out", str(blocker / "sub"),
                          "--no-progress"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "cannot write to --out" in out.stderr
    assert blocker.read_text() == "keep me"


def test_report_numbers_match_summary(gallery, tmp_path):
    # oscillation: every table row (lr, simulated mean, its standard error, theory) is a row of summary.csv.
    o = pd.read_csv(gallery[0] / "oscillation" / "summary.csv")
    row = r"^\| ([0-9.e-]+) \| ([0-9.]+) \+- ([0-9.e-]+) \| ([0-9.]+) \| ([-+0-9.]+) \| ([0-9]+) \|$"
    rows = re.findall(row, (gallery[0] / "oscillation" / "report.md").read_text(), flags=re.M)
    assert len(rows) == 4
    for lr, mean, se, pred, dev, _runs in rows:
        r = o.iloc[(o["lr"] - float(lr)).abs().argmin()]
        assert float(mean) == pytest.approx(r["overshoots_mean"], abs=5e-5)
        assert float(se) == pytest.approx(r["overshoots_mean_se"], rel=0.06)
        assert float(pred) == pytest.approx(r["predicted"], abs=5e-5)
        assert float(dev) == pytest.approx(r["deviation_se"], abs=5e-3)
    # seed offset: --seed shifts every dataset seed.
    assert study.main(["oscillation", "--quick", "--seed", "7", "--out", str(tmp_path / "o7"),
                       "--no-progress"]) == 0
    import lrsweep

    assert lrsweep.load(tmp_path / "o7" / "trajectories.parquet").frame["seed"].min() == 7


def test_rerun_of_a_study_resumes_from_its_chunks(tmp_path):
    argv = ["divergence", "--quick", "--out", str(tmp_path), "--no-progress"]
    assert study.main(argv) == 0
    first = pd.read_parquet(tmp_path / "trajectories.parquet")
    assert any((tmp_path / "chunks").rglob("chunk-*.parquet"))
    run = rerun("divergence", tmp_path, quick=True)
    assert run.main.meta["chunks_computed"] == 0 and run.main.meta["chunks_loaded"] >= 1
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "trajectories.parquet"), first)


@pytest.mark.parametrize(
    ("name", "csv", "pattern", "columns"),
    [
        ("heavy-tails", "tail_index.csv", r"^\| (online|replacement) \| ([0-9.]+) \| ([0-9.]+) \+-",
         ("order", "lr", "hill_alpha")),
        ("noise-floor", "summary.csv", r"^\| (online|replacement) \| ([0-9.]+) \| ([0-9.e+-]+) \+-",
         ("order", "lr", "e2_mean")),
        ("dataset-size", "critical_lr.csv", r"^\| ([0-9]+) \| ([0-9.]+) \|",
         ("n_samples", "critical_lr_median")),
        ("lr-tuning", "seed_data_runs.csv", r"^\| ([0-9.]+) \| [a-z]+ \| (-?[0-9]+) \|",
         ("lr", "converged_step")),
        ("batch-size", "per_batch_size.csv", r"^\| ([0-9]+) \| [0-9.]+ \| [0-9.]+ \| ([0-9.]+) \[",
         ("batch_size", "as_sim")),
        ("dimension", "per_dimension.csv",
         r"^\| ([0-9]+) \| no \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \+- [0-9.e-]+ \([A-Za-z ]+\) \| ([0-9.]+) \[",
         ("n_features", "as_sim")),
    ],
)
def test_report_tables_come_from_the_csv(name, csv, pattern, columns, gallery):
    out = gallery[0] / name
    table = pd.read_csv(out / csv)
    rows = re.findall(pattern, (out / "report.md").read_text(), flags=re.M)
    assert rows
    for row in rows:
        sel = table
        for col, val in zip(columns[:-1], row[:-1], strict=True):
            sel = sel[sel[col].astype(str) == val] if col == "order" else sel[
                (sel[col] - float(val)).abs() <= 5e-3 * abs(float(val))]
        assert len(sel) >= 1, row
        assert float(row[-1]) == pytest.approx(float(sel[columns[-1]].iloc[0]), rel=5e-3, abs=1e-9), row


def test_schedules_report_tables_come_from_the_csv(gallery):
    """The noisy table (largest budget) and the warmup table of the schedules report, row by row."""
    out = gallery[0] / "schedules"
    report = (out / "report.md").read_text()
    noisy = pd.read_csv(out / "noisy.csv")
    noisy = noisy[noisy["budget"] == noisy["budget"].max()]
    rows = re.findall(r"^\| ([0-9.]+) \| ([a-z0-9:.+]+) \| ([0-9.e+-]+) \[([0-9.e+-]+), ([0-9.e+-]+)\] \|",
                      report, flags=re.M)
    assert len(rows) == len(noisy)
    for lr, sched, med, lo, hi in rows:
        r = noisy[((noisy["lr"] - float(lr)).abs() <= 5e-4 * float(lr)) & (noisy["schedule"] == sched)]
        assert len(r) == 1, (lr, sched)
        for v, col in ((med, "rms_median"), (lo, "rms_median_lo"), (hi, "rms_median_hi")):
            assert float(v) == pytest.approx(float(r[col].iloc[0]), rel=5e-3), (lr, sched, col)
    warm = pd.read_csv(out / "warmup.csv")
    rows = re.findall(r"^\| ([a-z ]+) \| ([0-9]+) \| (-?[0-9.e+-]+) \[", report, flags=re.M)
    assert len(rows) == len(warm)
    for band, n, delta in rows:
        r = warm[warm["band"] == band].iloc[0]
        assert int(n) == r["n"] and float(delta) == pytest.approx(r["delta_w_median"], rel=5e-3)
def test_momentum_report_tables_come_from_the_csv(gallery):
    """Every row of the momentum report's two tables is a row of its CSVs (boundaries, agreement counts)."""
    out = gallery[0] / "momentum"
    report = (out / "report.md").read_text()
    crit = pd.read_csv(out / "critical_lr.csv")
    num = r"([0-9.]+|nan)"
    rows = re.findall(rf"^\| (heavy ball|Nesterov) \| ([0-9.]+) \| {num} \| {num} \| \[{num}, {num}\] \| "
                      rf"{num} \| \[{num}, {num}\] \|", report, flags=re.M)
    assert len(rows) == len(crit)
    for method, beta, ms, th, th_lo, th_hi, sim, lo, hi in rows:
        r = crit[(crit["method"] == method) & ((crit["momentum"] - float(beta)).abs() < 1e-9)].iloc[0]
        for text, col in ((ms, "ms_threshold"), (th, "as_theory"), (th_lo, "as_theory_lo"),
                          (th_hi, "as_theory_hi"), (sim, "sim"), (lo, "sim_lo"), (hi, "sim_hi")):
            assert float(text) == pytest.approx(r[col], rel=1e-3, nan_ok=True), (method, beta, col)
    fixed = pd.read_csv(out / "fixed_order.csv")
    rows = re.findall(r"^\| (heavy ball|Nesterov) \| ([0-9.]+) \| ([0-9,]+) \| ([0-9,]+) \| ([0-9,]+) \| "
                      r"([0-9,]+) \|", report, flags=re.M)
    assert len(rows) == len(fixed)
    for method, beta, *counts in rows:
        r = fixed[(fixed["method"] == method) & ((fixed["momentum"] - float(beta)).abs() < 1e-9)].iloc[0]
        got = [int(c.replace(",", "")) for c in counts]
        assert got == [r["n"], r["n_exact_unstable"], r["n_grew"], r["n_agree"]], (method, beta)
def test_lr_finder_report_table_comes_from_the_csv(gallery):
    from lrsweep.studies.lr_finder import _base

    out = gallery[0] / "lr-finder"
    table = pd.read_csv(out / "summary.csv")
    bt, bn, bb = _base(table)
    num = r"([0-9.e+-]+)"
    rows = re.findall(rf"^\| ([a-z-]+) \| (fixed|shuffle) \| [^|]+ \| {num} \[{num}, {num}\]",
                      (out / "report.md").read_text(), flags=re.M)
    assert rows
    for rule, order, median, lo, hi in rows:
        sel = table[(table["rule"] == rule) & (table["order"] == order) & (table["T"] == bt)
                    & (table["n_samples"] == bn) & (table["batch_size"] == bb)]
        assert len(sel) == 1, (rule, order)
        for v, col in ((median, "ratio_critical_median"), (lo, "ratio_critical_median_lo"),
                       (hi, "ratio_critical_median_hi")):
            assert float(v) == pytest.approx(float(sel[col].iloc[0]), rel=5e-3), (rule, order, col)


# ------------------------------------------------------- scale-out and resilience
def _frame(out):
    return pd.read_parquet(out / "trajectories.parquet")


BIG = ["--set", "seed=0:3000"]  # divergence --quick with 6 chunks of 16,000 trajectories


def test_three_shards_then_the_plain_command_give_the_single_run_table(tmp_path, capsys):
    single = tmp_path / "single"
    assert study.main(["divergence", "--quick", *BIG, "--out", str(single), "--no-progress"]) == 0
    out = tmp_path / "sharded"
    for i in (2, 0, 1):
        assert study.main(["divergence", "--quick", *BIG, "--out", str(out), "--no-progress",
                           "--shard", f"{i}/3"]) == 0
        assert f"shard {i}/3 of 1 sweep(s): 2 chunks computed" in capsys.readouterr().out
    assert not (out / "report.md").exists()  # a shard writes chunks only
    run = rerun("divergence", out, quick=True, sets={"seed": range(3000)})
    assert run.main.meta["chunks_computed"] == 0 and run.main.meta["chunks_loaded"] == 6
    pd.testing.assert_frame_equal(_frame(out), _frame(single))


def test_shards_reach_every_sweep_of_a_two_sweep_study(tmp_path, capsys):
    out = tmp_path / "o"
    for i in range(2):
        assert study.main(["heavy-tails", "--quick", "--out", str(out), "--no-progress",
                           "--shard", f"{i}/2"]) == 0
    assert "of 2 sweep(s)" in capsys.readouterr().out
    assert len(list((out / "chunks").glob("*/manifest.json"))) == 2
    run = rerun("heavy-tails", out, quick=True)
    assert all(r.meta["chunks_computed"] == 0 for r in run.results.values())


def test_workers_run_the_study_on_a_local_cluster_with_the_same_table(tmp_path):
    pytest.importorskip("distributed")
    local, dist = tmp_path / "local", tmp_path / "dist"
    assert study.main(["divergence", "--quick", "--out", str(local), "--no-progress"]) == 0
    assert study.main(["divergence", "--quick", "--out", str(dist), "--no-progress", "--workers", "2"]) == 0
    pd.testing.assert_frame_equal(_frame(dist), _frame(local))


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--shard", "3/3"], "--shard must be I/N with 0 <= I < N"),
        (["--shard", "x"], "--shard must be I/N with integers"),
        (["--workers", "0"], "--workers must be >= 1"),
        (["--workers", "2", "--scheduler", "tcp://h:1"], "--workers and --scheduler exclude each other"),
    ],
)
def test_bad_scale_out_options_are_one_line_exit_2(argv, fragment, capsys, tmp_path):
    assert study.main(["seed", *argv, "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1 and "Traceback" not in err


KILL_ARGV = ["divergence", "--quick", "--set", "seed=0:6000", "--set", "n_samples=2000", "--threads", "1",
             "--no-progress"]


@pytest.mark.slow
def test_a_study_killed_mid_sweep_resumes_to_the_identical_table(tmp_path):
    import os
    import signal

    import lrsweep

    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "lrsweep.study", *KILL_ARGV, "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_chunks(proc, out, "chunks/*/chunk-*.parquet")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    import json

    [manifest] = out.glob("chunks/*/manifest.json")
    n_chunks = json.loads(manifest.read_text())["n_chunks"]
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("chunks/*/chunk-*.parquet")}
    assert 1 <= len(before) < n_chunks and not (out / "report.md").exists()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("chunks/*/chunk-*.parquet")}
    assert len(after) == n_chunks
    assert all(after[name] == t for name, t in before.items())  # finished chunks were not redone
    meta = lrsweep.load(out / "trajectories.parquet").meta
    assert meta["chunks_loaded"] == len(before) and meta["chunks_computed"] == n_chunks - len(before)
    clean = tmp_path / "clean"
    assert study.main([*KILL_ARGV, "--out", str(clean)]) == 0
    pd.testing.assert_frame_equal(_frame(out), _frame(clean), check_exact=True)


@pytest.mark.slow
def test_ctrl_c_keeps_the_finished_chunks_and_says_so_in_one_line(tmp_path):
    import signal

    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "lrsweep.study", *KILL_ARGV, "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_chunks(proc, out, "chunks/*/chunk-*.parquet")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert err.count("\n") == 1 and "interrupted; finished chunks are kept in" in err
    assert "Traceback" not in err
    assert list(out.glob("chunks/*/chunk-*.parquet"))


# ------------------------------------------------------------- what every study shows (STUDIES.md)
def _uncertainty_missing(columns: list[str]) -> list[str]:
    """Estimate columns without their uncertainty: ``x_rate`` needs ``x_lo`` and ``x_hi``,
    ``x_median`` needs ``x_median_lo`` and ``x_median_hi``, ``x_mean`` needs ``x_mean_se``, a Hill
    index ``..hill_alpha`` needs ``..hill_alpha_se``."""
    from lrsweep.metrics import METRIC_COLUMNS

    missing = []
    for col in columns:
        if col in METRIC_COLUMNS:  # a trajectory's own value (growth_rate), not an estimate
            continue
        if col.endswith("_rate"):
            need = [col[: -len("_rate")] + "_lo", col[: -len("_rate")] + "_hi"]
        elif col.endswith("_median"):
            need = [col + "_lo", col + "_hi"]
        elif col.endswith(("_mean", "hill_alpha")):
            need = [col + "_se"]
        else:
            continue
        missing += [f"{col} -> {n}" for n in need if n not in columns]
    return missing


@pytest.mark.parametrize("name", list(study.STUDIES))
def test_every_estimate_carries_its_uncertainty(name, gallery):
    """Every rate has its Wilson interval, every median its interval, every mean its standard error
    and every Hill index its standard error, next to it in every table the study writes."""
    out = gallery[0] / name
    for csv in sorted(out.glob("*.csv")):
        columns = list(pd.read_csv(csv, nrows=1).columns)
        assert not _uncertainty_missing(columns), (csv.name, _uncertainty_missing(columns))


@pytest.mark.parametrize("name", list(study.STUDIES))
def test_report_opens_with_the_question_and_an_answer_with_its_interval(name, gallery):
    report = (gallery[0] / name / "report.md").read_text()
    question = re.search(r"^\*\*Question\.\*\* (.+)$", report, flags=re.M)
    answer = re.search(r"^\*\*Answer\.\*\* (.+)$", report, flags=re.M)
    assert question and question.group(1).rstrip().endswith("?"), name
    assert answer and re.search(r"\d", answer.group(1)), name
    assert re.search(r"\[[-+0-9.e]+, [-+0-9.e]+\]|\u00b1|standard error", answer.group(1)), answer.group(1)
    assert report.index("**Question.**") < report.index("**Answer.**") < report.index("![")
