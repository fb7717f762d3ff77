"""Results: summaries with Wilson intervals, and a Parquet round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import run
from hypothesis import given, settings
from hypothesis import strategies as st

import lrsweep
from lrsweep.results import wilson_interval


def test_wilson_matches_scipy():
    from scipy.stats import binomtest

    for k, n in [(0, 10), (3, 10), (10, 10), (57, 1000), (1, 1)]:
        ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        lo, hi = wilson_interval(k, n)
        assert lo == pytest.approx(ci.low, abs=1e-12) and hi == pytest.approx(ci.high, abs=1e-12)


@pytest.fixture(scope="module")
def res():
    cfg = lrsweep.SweepConfig(lr=[0.01, 0.04, 1.0, 1.5], seed=range(40), n_samples=[10, 100], epochs=5)
    return run(cfg, record="seed == 0")


def test_summary_counts_and_rates(res):
    s = res.summary(by=["lr", "n_samples"])
    assert len(s) == 8 and (s["n"] == 40).all()
    statuses = ["converged", "slow", "oscillating", "diverged", "noise_floor", "growing"]
    np.testing.assert_array_equal(s[[f"n_{x}" for x in statuses]].sum(axis=1), s["n"])
    f = res.frame
    for _, row in s.iterrows():
        g = f[(f.lr == row.lr) & (f.n_samples == row.n_samples)]
        assert row.diverged_rate == (g.status == "diverged").mean()
        assert row.diverged_lo <= row.diverged_rate <= row.diverged_hi
        conv = g.loc[g.status == "converged", "converged_step"]
        if len(conv):
            assert row.converged_step_median == conv.median()
        else:
            assert np.isnan(row.converged_step_median)
        assert row.sign_changes_q75 == g.sign_changes.quantile(0.75)
    # Defaults: group by the swept axes; a string is one column; no grouping at all works.
    assert list(res.summary().columns[:3]) == ["seed", "n_samples", "lr"]
    assert len(res.summary("lr")) == 4
    whole = run(lrsweep.SweepConfig()).summary()
    assert len(whole) == 1 and whole.loc[0, "n"] == 1


def test_summary_rejects_unknown_column(res):
    with pytest.raises(ValueError, match=r"The 'by' parameter of Results\.summary must be a list of columns"):
        res.summary(by=["learning_rate"])


def test_parquet_round_trip(res, tmp_path):
    path = res.to_parquet(tmp_path / "t.parquet")
    meta = pq.read_schema(path).metadata
    assert b"lrsweep" in meta
    back = lrsweep.load(path)
    assert back == res
    assert back.config == res.config
    assert back.frame["status"].dtype == "category"
    assert "numba" in back.meta["versions"]


def test_load_rejects_foreign_parquet(tmp_path):
    import pandas as pd

    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "x.parquet")
    with pytest.raises(lrsweep.ParameterError, match="must be an lrsweep results file"):
        lrsweep.load(tmp_path / "x.parquet")


def test_repr(res):
    assert "320 trajectories" in repr(res) and "lr[4]" in repr(res)


def test_with_theory_puts_prediction_beside_simulation():
    cfg = lrsweep.SweepConfig(lr=np.geomspace(0.05, 3, 25), seed=range(20), n_samples=20, epochs=2,
                              diverge_factor=1e100, sign_floor=0.0, theta0=-1e20)
    f = run(cfg).with_theory()
    assert {"S", "predicted_diverges", "predicted_sign_changes", "predicted_growth_rate"} <= set(f.columns)
    simulated = (f["growth_rate"] > 0) | (f["status"] == "diverged")
    np.testing.assert_array_equal(simulated, f["predicted_diverges"])
    np.testing.assert_array_equal(f["sign_changes"], f["predicted_sign_changes"])


def test_whole_grid_axis_columns_equal_the_general_lookup():
    import pandas as pd

    from lrsweep import results

    cfg = lrsweep.SweepConfig(lr=[0.3, 0.01], theta0=[-1.0, 2.0], seed=[5, 1, 3], n_samples=[7, 4],
                              order=["shuffle", "fixed"], outlier_kind=["response", "leverage"])
    full = results.grid_frame(cfg)  # the repeat/tile path
    ids = np.arange(1, cfg.n_trajectories, dtype=np.int64)
    general = pd.DataFrame(results._axis_columns(cfg, ids))  # the axis_values path
    pd.testing.assert_frame_equal(full.iloc[1:].reset_index(drop=True), general, check_exact=True)


def test_to_xarray_round_trips_to_the_frame():
    pytest.importorskip("xarray")
    cfg = lrsweep.SweepConfig(lr=[0.01, 0.3, 1.5], seed=range(4), n_samples=[10, 30], noise=0.5,
                              order=["fixed", "shuffle"], outlier_frac=0.1)
    res = run(cfg)
    ds = res.to_xarray()
    assert list(ds.dims) == ["seed", "n_samples", "order", "lr"]  # swept axes, canonical order
    assert dict(ds.sizes) == {"seed": 4, "n_samples": 2, "order": 2, "lr": 3}
    assert float(ds["noise"]) == 0.5 and str(ds["outlier_kind"].item()) == "leverage"  # scalar coords
    assert set(ds.data_vars) == {"trajectory_id", *lrsweep.metrics.METRIC_COLUMNS}
    assert ds["status"].attrs["description"] == lrsweep.metrics.METRICS["status"]
    assert lrsweep.SweepConfig.from_dict(json.loads(ds.attrs["config"])) == cfg
    back = ds.to_dataframe().reset_index().sort_values("trajectory_id").reset_index(drop=True)
    frame = res.frame
    assert len(back) == len(frame)
    for col in frame.columns:
        got, want = back[col], frame[col]
        if isinstance(want.dtype, pd.CategoricalDtype):
            assert list(got.astype(str)) == list(want.astype(str)), col
        else:
            np.testing.assert_array_equal(got.to_numpy(), want.to_numpy(), err_msg=col)
    # One lane of the grid, addressed by its labels.
    row = frame[(frame.seed == 2) & (frame.n_samples == 30) & (frame.order == "shuffle") & (frame.lr == 0.3)]
    one = ds.sel(seed=2, n_samples=30, order="shuffle", lr=0.3)
    assert float(one["theta_final"]) == row["theta_final"].item()
    assert str(one["status"].item()) == row["status"].item()


def test_to_xarray_of_an_unswept_config_is_zero_dimensional():
    pytest.importorskip("xarray")
    ds = run(lrsweep.SweepConfig(lr=0.05)).to_xarray()
    assert dict(ds.sizes) == {} and float(ds["lr"]) == 0.05 and int(ds["trajectory_id"]) == 0


# ----------------------------------------------------- load checks everything
# Each test below pins one way a results file used to be loaded wrongly.

def _rewrite(path, edit=None, drop=None):
    """Rewrite the results file at ``path`` with its lrsweep metadata edited (or a column dropped)."""
    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[b"lrsweep"])
    if edit is not None:
        edit(meta)
    if drop is not None:
        table = table.drop_columns([drop])
    schema_meta = {**table.schema.metadata, b"lrsweep": json.dumps(meta).encode()}
    pq.write_table(table.replace_schema_metadata(schema_meta), path)


def test_load_refuses_a_directory_naming_what_is_in_it(tmp_path):
    # Two files of the same columns: read as a directory they were concatenated under the first's config.
    for name, epochs in (("a", 5), ("b", 6)):
        cfg = lrsweep.SweepConfig(lr=[0.01, 1.0], seed=range(3), epochs=epochs)
        run(cfg).to_parquet(tmp_path / f"{name}.parquet")
    with pytest.raises(lrsweep.ParameterError, match=r"must be a single lrsweep results file\. Got .* "
                                                     r"instead \(a directory holding a\.parquet, "
                                                     r"b\.parquet\)"):
        lrsweep.load(tmp_path)


def test_load_refuses_a_missing_file(tmp_path):
    with pytest.raises(lrsweep.ParameterError, match="no such file"):
        lrsweep.load(tmp_path / "nothing.parquet")


def _seeds(meta):
    meta["config"]["seed"] = meta["config"]["seed"][:20]


def _lrs(meta):
    meta["config"]["lr"] = [0.02, 0.04, 1.0, 1.5]


def _rehash(edit):
    def both(meta):
        edit(meta)
        meta["grid_hash"] = lrsweep.SweepConfig.from_dict(meta["config"]).grid_hash()
    return both


def _zero_hash(meta):
    meta["grid_hash"] = "0" * 64


@pytest.mark.parametrize(("edit", "drop", "fragment"), [
    (_lrs, None, "grid hash"),
    (_rehash(_lrs), None, "'lr' column"),
    (_rehash(_seeds), None, "rows"),
    (_zero_hash, None, "grid hash"),
    (None, "max_abs_error", "columns"),
    (None, "lr", "columns"),
], ids=["lr-list", "lr-list-rehashed", "seed-count-rehashed", "zeroed-grid-hash", "dropped-metric",
        "dropped-axis"])
def test_load_refuses_metadata_that_does_not_match_the_table(res, tmp_path, edit, drop, fragment):
    path = res.to_parquet(tmp_path / "t.parquet")
    _rewrite(path, edit=edit, drop=drop)
    with pytest.raises(lrsweep.ParameterError, match=fragment):
        lrsweep.load(path)


@pytest.mark.parametrize("field", ["config", "grid_hash", "versions", "meta", "has_records"])
def test_load_names_a_missing_metadata_field(res, tmp_path, field):
    path = res.to_parquet(tmp_path / "t.parquet")
    _rewrite(path, edit=lambda meta: meta.pop(field))
    with pytest.raises(lrsweep.ParameterError, match=f"'{field}'"):
        lrsweep.load(path)


@pytest.mark.parametrize(("field", "value"), [
    ("config", "lr=0.1"), ("config", {"lr": [0.1], "learning_rate": 2}), ("config", {"lr": "fast"}),
    ("grid_hash", 7), ("versions", []), ("meta", None), ("has_records", "yes"),
])
def test_load_names_a_mistyped_metadata_field(res, tmp_path, field, value):
    path = res.to_parquet(tmp_path / "t.parquet")
    _rewrite(path, edit=lambda meta: meta.__setitem__(field, value))
    with pytest.raises(lrsweep.ParameterError, match=f"'{field}'"):
        lrsweep.load(path)


def test_load_refuses_metadata_that_is_not_json_or_not_an_object(res, tmp_path):
    path = res.to_parquet(tmp_path / "t.parquet")
    table = pq.read_table(path)
    for raw in (b"{not json", b"[1, 2]"):
        pq.write_table(table.replace_schema_metadata({**table.schema.metadata, b"lrsweep": raw}), path)
        with pytest.raises(lrsweep.ParameterError, match="metadata"):
            lrsweep.load(path)


def test_load_refuses_records_of_another_results_file(res, tmp_path):
    other = run(lrsweep.SweepConfig(lr=[0.01, 0.04, 1.0, 1.5], seed=range(40), n_samples=[10, 100], epochs=6),
                record="seed == 0")
    a = res.to_parquet(tmp_path / "a.parquet")
    other.to_parquet(tmp_path / "b.parquet")
    (tmp_path / "a.records.parquet").write_bytes((tmp_path / "b.records.parquet").read_bytes())
    with pytest.raises(lrsweep.ParameterError, match="records"):
        lrsweep.load(a)


def test_load_refuses_a_truncated_file(res, tmp_path):
    path = res.to_parquet(tmp_path / "t.parquet")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(lrsweep.ParameterError, match="not a readable Parquet file"):
        lrsweep.load(path)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(name=st.sampled_from(["t.parquet", "t.records.parquet"]), position=st.integers(0, 2**31),
       bit=st.integers(-1, 7))
def test_a_flipped_bit_or_truncation_anywhere_loads_the_same_results_or_fails_named(res, name, position, bit):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        path = res.to_parquet(Path(d) / "t.parquet")
        victim = Path(d) / name
        data = bytearray(victim.read_bytes())
        if bit < 0:
            data = data[: position % len(data)]
        else:
            data[position % len(data)] ^= 1 << bit
        victim.write_bytes(bytes(data))
        try:
            back = lrsweep.load(path)
        except lrsweep.ParameterError:
            return
        assert back == res
        for got, want in ((back.frame, res.frame), (back.records, res.records)):
            for col in want.select_dtypes("float64").columns:
                assert np.array_equal(got[col].to_numpy().view(np.int64), want[col].to_numpy().view(np.int64))
