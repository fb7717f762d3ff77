"""The ``lrsweep`` command: merging shards written to different directories."""

from __future__ import annotations

import subprocess
import sys

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
