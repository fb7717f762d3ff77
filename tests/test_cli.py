"""The ``lrsweep`` command: merging shards written to different directories."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import run

import lrsweep
from lrsweep import cli, study

CFG = dict(lr=[0.01, 0.3, 1.5], seed=range(40), n_samples=[10, 50], order=["fixed", "shuffle"])


def test_merge_shards_from_three_directories_into_the_single_run_table(tmp_path, capsys):
    cfg = lrsweep.SweepConfig(**CFG)
    single = run(cfg, chunk_size=37, record="seed == 2")
    dirs = [tmp_path / f"shard{i}" for i in range(3)]
    for i, d in enumerate(dirs):
        lrsweep.sweep_shard(cfg, (i, 3), out=d, chunk_size=37, record="seed == 2")
    dest = tmp_path / "merged"
    # Two of three shards: incomplete, exit 1, and the missing chunks are named.
    assert cli.main(["merge", str(dirs[0]), str(dirs[1]), "--into", str(dest)]) == 1
    assert "missing 4: [2, 5, 8, 11]" in capsys.readouterr().out
    with pytest.raises(ValueError, match="is missing 4 of 13 chunks"):
        lrsweep.checkpoint.load_results(dest)
    table = tmp_path / "t.parquet"
    assert cli.main(["merge", str(dirs[2]), "--into", str(dest), "--table", str(table)]) == 0
    assert "13/13 chunks (complete)" in capsys.readouterr().out
    assert lrsweep.load(table) == single
    assert lrsweep.checkpoint.load_results(dest) == single
    assert run(cfg, chunk_size=37, record="seed == 2", out=dest).meta["chunks_computed"] == 0


def test_merge_refuses_a_destination_holding_another_sweep(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    run(lrsweep.SweepConfig(**CFG), chunk_size=50, out=a)
    run(lrsweep.SweepConfig(**{**CFG, "epochs": 6}), chunk_size=50, out=b)
    assert cli.main(["merge", str(a), "--into", str(b)]) == 2
    err = capsys.readouterr().err
    assert "holds chunks of another sweep" in err and err.count("\n") == 1


def test_study_shards_in_separate_directories_merge_and_report(tmp_path, capsys):
    argv = ["divergence", "--quick", "--set", "seed=0:3000", "--no-progress"]
    dirs = [tmp_path / f"job{i}" for i in range(3)]
    for i, d in enumerate(dirs):
        assert study.main([*argv, "--out", str(d), "--shard", f"{i}/3"]) == 0
    final = tmp_path / "final"
    assert cli.main(["merge", *map(str, dirs), "--into", str(final)]) == 0
    assert study.main([*argv, "--out", str(final)]) == 0
    single = tmp_path / "single"
    assert study.main([*argv, "--out", str(single)]) == 0
    assert lrsweep.load(final / "trajectories.parquet").meta["chunks_computed"] == 0
    pd.testing.assert_frame_equal(pd.read_parquet(final / "trajectories.parquet"),
                                  pd.read_parquet(single / "trajectories.parquet"))


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["merge", "/nonexistent/dir"], "'/nonexistent/dir' is not a directory"),
        (["frobnicate"], "unknown command 'frobnicate'"),
    ],
)
def test_bad_input_is_short_and_exits_2(argv, fragment, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err


def test_merge_of_a_directory_without_checkpoints(tmp_path, capsys):
    assert cli.main(["merge", str(tmp_path)]) == 2
    assert "holds no lrsweep checkpoint" in capsys.readouterr().err


def test_python_dash_m_lrsweep_runs_the_cli(tmp_path):
    out = subprocess.run([sys.executable, "-m", "lrsweep", "study", "--list"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and "divergence" in out.stdout


# ------------------------------------------------------- integrity: the command line
def test_a_huge_range_is_one_line_not_a_memory_error(tmp_path, capsys):
    assert study.main(["seed", "--set", "seed=0:100000000000", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "at most 10,000,000 values" in err


@pytest.mark.parametrize("argv", [["--out", ""], ["--set", "epochs=1,2"], ["--set", "tol=0.1,0.2"],
                                  ["--bogus"], ["--threads", "x"]])
def test_bad_arguments_are_one_line_exit_2(argv, tmp_path, capsys):
    extra = [] if "--out" in argv else ["--out", str(tmp_path / "o")]
    assert study.main(["seed", "--quick", *argv, *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert not (tmp_path / "o" / "report.md").exists()


def test_out_holding_another_study_is_refused_unless_forced(tmp_path, capsys):
    out = tmp_path / "seed"
    assert study.main(["seed", "--out", str(out), "--no-progress"]) == 0
    before = sorted(p.name for p in (out / "figures").iterdir())
    capsys.readouterr()
    assert study.main(["oscillation", "--quick", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds the results of study 'seed'" in err and "--force" in err
    assert sorted(p.name for p in (out / "figures").iterdir()) == before  # nothing touched
    assert study.main(["oscillation", "--quick", "--out", str(out), "--no-progress", "--force"]) == 0
    figures = sorted(p.name for p in (out / "figures").iterdir())
    assert figures == ["overshoots_per_epoch.png"]  # the seed study's figures are gone
    assert not (out / "trajectories.records.parquet").exists()
    assert "Study `oscillation`" in (out / "report.md").read_text()
    # A directory of other files is refused too; the same study may write again.
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    assert study.main(["seed", "--out", str(other), "--no-progress"]) == 2
    assert "holds no lrsweep study (notes.txt)" in capsys.readouterr().err
    assert study.main(["oscillation", "--quick", "--out", str(out), "--no-progress"]) == 0


def test_a_rerun_in_another_format_removes_its_stale_figures(tmp_path):
    out = tmp_path / "s"
    assert study.main(["seed", "--out", str(out), "--no-progress"]) == 0
    assert study.main(["seed", "--out", str(out), "--no-progress", "--format", "svg"]) == 0
    assert sorted(p.suffix for p in (out / "figures").iterdir()) == [".svg", ".svg"]


def test_environment_failures_are_one_line_exit_1(tmp_path, capsys, monkeypatch):
    import errno

    from lrsweep import results

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "o" / "trajectories.parquet"))

    monkeypatch.setattr(results.Results, "to_parquet", full)
    assert study.main(["seed", "--out", str(tmp_path / "o"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device" in err and "Traceback" not in err


def test_merge_table_into_a_full_disk_or_a_device_is_one_line(tmp_path, capsys, monkeypatch):
    import errno

    cfg = lrsweep.SweepConfig(**CFG)
    d = tmp_path / "d"
    lrsweep.sweep_shard(cfg, (0, 1), out=d, chunk_size=100)
    (tmp_path / "file").write_text("")
    # A device (never removed or replaced: pyarrow deletes a target it fails to write) and a
    # path through a file: one line each, nothing written.
    for table, code in (("/dev/null", 2), (str(tmp_path / "file" / "t.parquet"), 1)):
        assert cli.main(["merge", str(d), "--table", table]) == code
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, err
    assert Path("/dev/null").is_char_device()

    def full(path, data, **kw):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr("lrsweep.files.atomic_write", full)
    assert cli.main(["merge", str(d), "--table", str(tmp_path / "t.parquet")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device" in err
    assert not (tmp_path / "t.parquet").exists()
