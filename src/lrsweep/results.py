"""``Results``: the tidy table of a sweep, its summaries and its Parquet file.

One row per trajectory: ``trajectory_id``, the axis columns (named as in
:class:`~lrsweep.SweepConfig`, in canonical order), then the metric columns
(:mod:`lrsweep.metrics`). The dtypes never depend on the data: ints are
int64, floats float64, ``nesterov`` bool, ``order``, ``outlier_kind`` and
``status`` categorical with every allowed category, ``schedule`` categorical
with the config's schedules (an open set of spellings) in the order given.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._validation import (
    NoneOr,
    ParameterError,
    PathLike,
    StrList,
    message,
    validate_params,
)
from .config import AXES, ORDERS, OUTLIER_KINDS, SweepConfig
from .grid import axis_values
from .intervals import median_intervals_by_group as _median_intervals
from .intervals import wilson_interval  # re-exported (lrsweep.)
from .metrics import CENSORED, DERIVED_FIELDS, FLOAT_FIELDS, INT_FIELDS, METRIC_COLUMNS, Status
from .provenance import versions  # re-exported: studies name them in reports

if TYPE_CHECKING:
    from .engine.layout import ChunkResult

__all__ = ["Results", "frame_problem", "grid_frame", "load", "wilson_interval"]

STATUS_DTYPE = pd.CategoricalDtype([s.name.lower() for s in Status], ordered=False)
_CATEGORIES = {"order": ORDERS, "outlier_kind": OUTLIER_KINDS}
RECORD_DTYPES = {"trajectory_id": np.int64, "step": np.int64, "theta": np.float64, "error": np.float64,
                 "loss": np.float64}
RECORD_COLUMNS = tuple(RECORD_DTYPES)


def _axis_columns(config: SweepConfig, ids: np.ndarray) -> dict[str, Any]:
    if len(ids) == config.n_trajectories and (len(ids) == 0 or (ids[0] == 0 and ids[-1] == len(ids) - 1)):
        return _full_axis_columns(config, ids)
    vals = axis_values(config, ids)
    cols: dict[str, Any] = {"trajectory_id": ids}
    for name in AXES:
        cats = _categories(config, name)
        if cats is not None:
            cols[name] = pd.Categorical(vals[name], categories=cats)
        else:
            cols[name] = vals[name].astype(config.axis_array(name).dtype)
    return cols


def _categories(config: SweepConfig, name: str) -> list[str] | None:
    """The categories of a categorical axis column (None for numeric and boolean axes).

    ``order`` and ``outlier_kind`` have every allowed value; ``schedule`` (an
    open set of spellings) has the config's schedules, in the order given.
    """
    if name in _CATEGORIES:
        return list(_CATEGORIES[name])
    if name == "schedule":
        return list(config.axes["schedule"])
    return None


def _full_axis_columns(config: SweepConfig, ids: np.ndarray) -> dict[str, Any]:
    """Axis columns of the whole grid, one allocation per column.

    Each column is the axis' values repeated (inner axes) and tiled (outer
    axes), written in place: no index arrays or intermediate copies, so 1e7
    rows cost only the columns themselves.
    """
    return {"trajectory_id": ids, **dict(_grid_columns(config, len(ids)))}


def _grid_columns(config: SweepConfig, n: int) -> Iterator[tuple[str, Any]]:
    """``(name, column)`` of each axis of the whole grid (``n`` rows), one at a time."""
    inner = n
    for name, values in config.axes.items():
        size = len(values)
        inner //= size
        cats = _categories(config, name)
        if cats is not None:
            base = np.array([cats.index(v) for v in values], dtype=np.int8 if len(cats) < 128 else np.int32)
        else:
            base = config.axis_array(name)
        # One allocation per column, filled by broadcasting (outer, axis, inner).
        col = np.empty(n, dtype=base.dtype)
        if n:
            col.reshape(n // (size * inner), size, inner)[...] = base[None, :, None]
        if cats is not None:
            col = pd.Categorical.from_codes(col, categories=cats)
        yield name, col


def grid_frame(config: SweepConfig) -> pd.DataFrame:
    """The grid as a table: ``trajectory_id`` and the axis columns, no results."""
    ids = np.arange(config.n_trajectories, dtype=np.int64)
    return pd.DataFrame(_axis_columns(config, ids), copy=False)


def _column_problem(name: str, got: pd.Series, want: pd.Series) -> str | None:
    """How column ``name`` of a table differs from the grid's (dtype, categories or values), if it does."""
    if got.dtype != want.dtype:
        return f"its {name!r} column has dtype {got.dtype}, not {want.dtype}"
    if isinstance(want.dtype, pd.CategoricalDtype):
        if tuple(got.cat.categories) != tuple(want.cat.categories):
            return f"its {name!r} column has the categories {list(got.cat.categories)}"
        a, b = got.cat.codes.to_numpy(), want.cat.codes.to_numpy()
    else:
        a, b = got.to_numpy(), want.to_numpy()
        if a.dtype == np.float64:  # bit for bit: -0.0 is not 0.0
            a, b = a.view(np.int64), b.view(np.int64)
    bad = np.flatnonzero(a != b)
    if bad.size:
        return (f"its {name!r} column differs from the config's values at {bad.size:,} trajectories "
                f"(first at trajectory id {int(bad[0])})")
    return None


def frame_problem(frame: pd.DataFrame, config: SweepConfig) -> str | None:
    """What makes ``frame`` not a results table of ``config``, or ``None``.

    Checks the columns (names and order), the row count and index, the
    ``trajectory_id`` and axis columns against the grid (dtype, categories
    and every value, floats bit for bit: each trajectory id has its axis
    values) and the dtypes of the metric columns. The grid's columns are
    built one at a time: the check needs one column's memory, not a table's.
    """
    n = config.n_trajectories
    expected = ["trajectory_id", *config.axes, *METRIC_COLUMNS]
    if list(frame.columns) != expected:
        missing = [c for c in expected if c not in frame.columns]
        extra = [c for c in frame.columns if c not in expected]
        return (f"its columns differ from a results table's (missing {missing}, unexpected {extra}"
                f"{', or in another order' if not missing and not extra else ''})")
    if len(frame) != n:
        return f"it has {len(frame):,} rows; its config has {n:,} trajectories"
    if not frame.index.equals(pd.RangeIndex(n)):
        return "its index is not 0 .. n - 1"
    problem = _column_problem("trajectory_id", frame["trajectory_id"], pd.Series(np.arange(n, dtype="i8")))
    for name, want in _grid_columns(config, n):
        problem = problem or _column_problem(name, frame[name], pd.Series(want, copy=False))
        del want  # one column alive at a time
    if problem:
        return problem
    for name in METRIC_COLUMNS:
        want = STATUS_DTYPE if name == "status" else np.dtype(np.int64 if name in INT_FIELDS else np.float64)
        got = frame[name]
        if got.dtype != want or (name == "status" and tuple(got.cat.categories) != tuple(want.categories)):
            return f"its {name!r} column has dtype {got.dtype}, not {want}"
    if (frame["status"].cat.codes.to_numpy() < 0).any():
        return "its 'status' column has missing values"
    return None


class Assembler:
    """Builds the tidy table from finished chunks, in any order.

    The metric columns are allocated once for the whole grid and each chunk
    is copied into its slice as it arrives, so the peak memory of a sweep is
    the table itself plus one chunk (not the table plus every chunk's
    arrays plus a concatenated copy). The DataFrame is built without copying
    the columns.
    """

    def __init__(self, config: SweepConfig, record_every: int, recorded: bool):
        n = config.n_trajectories
        self.config = config
        self.record_every = record_every
        self.recorded = recorded
        self._cols: dict[str, np.ndarray] = {name: np.empty(n) for name in (*DERIVED_FIELDS, *FLOAT_FIELDS)}
        self._cols.update({name: np.empty(n, dtype=np.int64) for name in INT_FIELDS if name != "status"})
        self._status = np.empty(n, dtype=np.int8)
        self._records: dict[int, pd.DataFrame] = {}
        self._weights: dict[int, np.ndarray] = {}  # chunk index -> (value, reference), d-feature sweeps

    def add(self, result: ChunkResult) -> None:
        """Copy one finished chunk's arrays into place."""
        chunk, out_f, out_i, derived = result.chunk, result.out_f, result.out_i, result.derived
        chunk_rec, th, lo, er = result.rec_ids, result.rec_theta, result.rec_loss, result.rec_error
        sl = slice(chunk.start, chunk.stop)
        for r, name in enumerate(FLOAT_FIELDS):
            self._cols[name][sl] = out_f[r]
        for r, name in enumerate(INT_FIELDS):
            if name == "status":
                self._status[sl] = out_i[r]
            else:
                self._cols[name][sl] = out_i[r]
        for name in DERIVED_FIELDS:
            self._cols[name][sl] = derived[name]
        if result.weights is not None:
            self._weights[chunk.index] = result.weights
        if self.recorded and len(chunk_rec):
            slots = th.shape[1]
            steps = np.arange(1, slots + 1, dtype=np.int64) * self.record_every
            rows, cs = np.nonzero(~(np.isnan(th) & np.isnan(er)))  # recorded (theta NaN in d dimensions)
            self._records[chunk.index] = pd.DataFrame({
                "trajectory_id": chunk_rec[rows],
                "step": steps[cs],
                "theta": th[rows, cs],
                "error": er[rows, cs],
                "loss": lo[rows, cs],
            })

    def weights(self) -> np.ndarray | None:
        """Every chunk's ``(value, reference)`` weights in trajectory order (None for one feature)."""
        if not self.config.has_features:
            return None
        parts, self._weights = [self._weights[k] for k in sorted(self._weights)], {}
        return np.concatenate(parts, axis=1) if parts else np.zeros((2, 0))

    def finish(self) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        """The frame (and records, or None); the assembler must not be reused (:meth:`weights` first)."""
        ids = np.arange(self.config.n_trajectories, dtype=np.int64)
        cols = _axis_columns(self.config, ids)
        metrics: dict[str, Any] = dict(self._cols)
        metrics["status"] = pd.Categorical.from_codes(self._status, dtype=STATUS_DTYPE)
        for name in METRIC_COLUMNS:
            cols[name] = metrics[name]
        self._cols = {}
        frame = pd.DataFrame(cols, copy=False)
        records = None
        if self.recorded:
            parts = [self._records[k] for k in sorted(self._records)]
            self._records = {}
            if parts:
                records = pd.concat(parts, ignore_index=True)
            else:
                records = pd.DataFrame({c: np.zeros(0, dtype=t) for c, t in RECORD_DTYPES.items()})
        return frame, records


@dataclass(eq=False)
class Results:
    """The outcome of :func:`lrsweep.sweep`.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per trajectory (see the module docstring and :mod:`lrsweep.metrics`).
    records : pandas.DataFrame or None
        Long frame ``(trajectory_id, step, theta, error, loss)`` of the
        recorded steps, up to the last accepted step: ``theta`` after the
        step (NaN for a trajectory of more than one coordinate), ``error`` its
        distance to the reference, ``|theta - theta_ref|`` or the norm
        ``||theta - theta_ref||`` of :mod:`lrsweep.metrics` ("In d
        dimensions"), and ``loss`` the per-sample (batch) loss of that step
        before its update; ``None`` if nothing was recorded.
    config : SweepConfig
        The configuration that produced it.
    meta : dict
        Run facts that do not define the results (elapsed seconds, versions).
    weight_arrays : ndarray of float64, shape (2, coordinates), or None
        Final coordinates and references behind :attr:`weights` (None for one feature).
    """

    frame: pd.DataFrame
    records: pd.DataFrame | None
    config: SweepConfig
    meta: dict = field(default_factory=dict)
    weight_arrays: np.ndarray | None = None

    @property
    def weights(self) -> pd.DataFrame:
        """Final weights, one row per coordinate ``w_0 .. w_{d-1}[, b]``: :mod:`lrsweep.weights`."""
        from .weights import weights_frame

        return weights_frame(self.config, self.frame, self.weight_arrays)

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        counts = self.frame["status"].value_counts(sort=False).to_dict()
        swept = ", ".join(f"{a}[{len(self.config.axes[a])}]" for a in self.config.swept) or "nothing"
        return f"<Results: {len(self.frame):,} trajectories, swept {swept}; {counts}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Results):
            return NotImplemented
        if self.config != other.config or not self.frame.equals(other.frame):
            return False
        if (self.records is None) != (other.records is None) or not _same(self.weight_arrays,
                                                                           other.weight_arrays):
            return False
        return self.records is None or self.records.equals(other.records)

    __hash__ = None  # type: ignore[assignment]

    # -------------------------------------------------------------- summaries
    @validate_params({"by": NoneOr(StrList())}, owner="Results.summary")
    def summary(self, by: Sequence[str] | str | None = None) -> pd.DataFrame:
        """Rates and step statistics per group of trajectories.

        Parameters
        ----------
        by : str or sequence of str, optional
            Columns to group by; default the swept axes (all trajectories
            together if nothing is swept).

        Returns
        -------
        pandas.DataFrame
            One row per group: ``n``; for each status ``s`` (converged,
            slow, oscillating, diverged, noise_floor, growing) and for
            ``censored`` (slow, oscillating or growing: the budget did not
            decide): ``n_s``, ``s_rate`` and its Wilson 95 % interval ``s_lo``,
            ``s_hi``; the median of ``converged_step`` over converged
            trajectories with its distribution-free 95 % interval and the
            quartiles (``converged_step_median``, ``_median_lo``,
            ``_median_hi``, ``_q25``, ``_q75``; NaN where none converged, and
            the interval where fewer than 6 did), and the same for
            ``sign_changes`` and ``growth_rate`` over all trajectories
            (``growth_rate`` over those where it is not NaN).
        """
        frame = self.frame
        by = list(self.config.swept) if by is None else by
        for col in by:
            if col not in frame.columns:
                raise ParameterError(
                    message("by", "Results.summary", "a list of columns of Results.frame", col)
                )
        work = frame.assign(_one=1)
        rates = [*STATUS_DTYPE.categories, "censored"]
        for s in STATUS_DTYPE.categories:
            work[f"n_{s}"] = (frame["status"] == s).astype(np.int64)
        work["n_censored"] = frame["status"].isin([c.name.lower() for c in CENSORED]).astype(np.int64)
        work["_conv"] = frame["converged_step"].where(frame["status"] == "converged")
        keys = by if by else [np.zeros(len(frame), dtype=np.int64)]
        g = work.groupby(keys, observed=True, sort=True)
        out = g[["_one"] + [f"n_{s}" for s in rates]].sum()
        out = out.rename(columns={"_one": "n"})
        for s in rates:
            k = out[f"n_{s}"].to_numpy()
            n = out["n"].to_numpy()
            out[f"{s}_rate"] = k / n
            out[f"{s}_lo"], out[f"{s}_hi"] = wilson_interval(k, n)
        group = g.ngroup().to_numpy()
        for col, src in (("converged_step", "_conv"), ("sign_changes", "sign_changes"),
                         ("growth_rate", "growth_rate")):
            q = g[src].quantile([0.25, 0.5, 0.75]).unstack()
            out[f"{col}_median"] = q[0.5].astype(np.float64)
            out[f"{col}_median_lo"], out[f"{col}_median_hi"] = _median_intervals(
                work[src].to_numpy(dtype=np.float64), group, len(out))
            out[f"{col}_q25"] = q[0.25].astype(np.float64)
            out[f"{col}_q75"] = q[0.75].astype(np.float64)
        out = out.reset_index()
        if not by:
            out = out.drop(columns=out.columns[0])
        return out

    def to_xarray(self) -> Any:
        """The table as an N-dimensional :class:`xarray.Dataset` over the swept axes.

        Needs the ``xarray`` extra (``pip install "lrsweep[xarray]"``). The grid
        is a Cartesian product in canonical axis order, so each column
        reshapes to ``config.shape`` without a copy of the index: the
        dimensions are the swept axes (outermost first, ``lr`` last) with
        their values as coordinates, every axis with one value is a scalar
        coordinate, and there is one variable per metric column (plus
        ``trajectory_id``), described in its ``description`` attribute
        (:mod:`lrsweep.metrics`). ``status`` holds the status names as
        strings. The dataset's attributes carry the config (JSON) and the
        grid hash. Recorded steps are not included (see :attr:`records`).

        Returns
        -------
        xarray.Dataset

        Examples
        --------
        >>> ds = res.to_xarray()  # doctest: +SKIP
        >>> ds["diverged_step"].where(ds["status"] == "diverged").mean("seed")  # doctest: +SKIP
        """
        try:
            import xarray as xr
        except ImportError:  # pragma: no cover - exercised only without the extra
            raise ImportError("Results.to_xarray needs xarray: pip install 'lrsweep[xarray]'") from None
        from .metrics import DERIVED, METRICS

        config = self.config
        shape = config.shape
        swept = [a for a in AXES if len(config.axes[a]) > 1]
        dims = tuple(swept)
        dim_shape = tuple(len(config.axes[a]) for a in swept)
        coords: dict[str, Any] = {}
        for name, values in config.axes.items():
            arr = np.asarray(values, dtype=object if _categories(config, name) is not None else None)
            coords[name] = (name, arr) if name in swept else arr[0]

        def grid(column: str) -> np.ndarray:
            values = self.frame[column]
            arr = values.astype(str).to_numpy(dtype=object) if column == "status" else values.to_numpy()
            return arr.reshape(shape).reshape(dim_shape)  # squeeze the one-value axes

        descriptions = {**METRICS, **DERIVED, "trajectory_id": "index of the trajectory in the grid "
                        "(C order over the axes in canonical order)."}
        data = {c: (dims, grid(c), {"description": descriptions[c]})
                for c in ("trajectory_id", *METRIC_COLUMNS)}
        return xr.Dataset(data, coords=coords,
                          attrs={"config": self.config.to_json(), "grid_hash": self.config.grid_hash(),
                                 "lrsweep": versions().get("lrsweep", "unknown")})

    def with_theory(self) -> pd.DataFrame:
        """The frame with the exact predictions for each trajectory's own dataset.

        Adds the columns of :func:`lrsweep.theory.trajectory_predictions`
        (``S``, ``predicted_diverges``, ``predicted_sign_changes``,
        ``predicted_growth_rate``) so that simulation and theory sit side by
        side, e.g. ``(f.growth_rate > 0) == f.predicted_diverges``. Exact for
        noise-free data in fixed or shuffle order; rows of mini-batches,
        momentum, schedules or d features get the theory of their kind where
        there is one, NaN where not (that function's Notes).
        """
        from .theory import trajectory_predictions  # theory sits beside the summaries

        return self.frame.join(trajectory_predictions(self.frame, self.config))

    # ------------------------------------------------------------------- I/O
    @validate_params({"path": PathLike()}, owner="Results.to_parquet")
    def to_parquet(self, path: str | os.PathLike) -> Path:
        """Write the table to ``path`` (and records to ``<stem>.records.parquet``).

        The file metadata (key ``lrsweep``) holds the config, the grid hash,
        the package versions, :attr:`meta`, ``has_records`` and, with records,
        the SHA-256 of the records file (``records_sha256``), so :func:`load`
        gives back an equal object and can tell the records file is this
        table's. Data pages carry Parquet's CRC checksums.
        """
        import hashlib

        import pyarrow as pa
        import pyarrow.parquet as pq

        meta = {
            "config": self.config.to_dict(),
            "grid_hash": self.config.grid_hash(),
            "versions": versions(),
            "meta": self.meta,
            "has_records": self.records is not None,
        }
        from .files import atomic_write
        from .weights import encode_weights, weights_path

        # Only regular files are replaced: pyarrow deletes a target it fails to write, and a
        # device or directory named by mistake must never be removed.
        for target in (path, _records_path(path), weights_path(path)):
            if target.exists() and not target.is_file():
                raise ParameterError(message("path", "Results.to_parquet", "a path to a regular file",
                                             str(target)))
        if self.records is not None:  # first, so that the table names its checksum
            sink = pa.BufferOutputStream()
            pq.write_table(pa.Table.from_pandas(self.records, preserve_index=False), sink,
                           write_page_checksum=True)
            buf = sink.getvalue()
            meta["records_sha256"] = hashlib.sha256(buf).hexdigest()
            atomic_write(_records_path(path), buf)
        if self.weight_arrays is not None:
            buf = encode_weights(self.weight_arrays)
            meta["weights_sha256"] = hashlib.sha256(buf).hexdigest()
            atomic_write(weights_path(path), buf)
        table = pa.Table.from_pandas(self.frame, preserve_index=False)
        schema_meta = dict(table.schema.metadata or {})
        schema_meta[b"lrsweep"] = json.dumps(meta).encode()
        sink = pa.BufferOutputStream()  # whole file or none: written to a temporary name, then renamed
        pq.write_table(table.replace_schema_metadata(schema_meta), sink, write_page_checksum=True)
        atomic_write(path, sink.getvalue())
        return path


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    """Both None, or equal bit for bit."""
    return (a is None and b is None) or (a is not None and b is not None and a.shape == b.shape
                                         and np.array_equal(a.view(np.int64), b.view(np.int64)))


def _records_path(path: Path) -> Path:
    return path.with_name(path.stem + ".records.parquet")


#: Every field of a results file's ``lrsweep`` metadata: what it must be, and its type.
META_FIELDS = {
    "config": ("an object (a SweepConfig)", dict),
    "grid_hash": ("a str", str),
    "versions": ("an object", dict),
    "meta": ("an object", dict),
    "has_records": ("a bool", bool),
}
def _refuse(path: Path, allowed: str, detail: str) -> ParameterError:
    return ParameterError(message("path", "load", allowed, str(path))[:-1] + f" ({detail}).")


def _read_table(path: Path, what: str):
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path, page_checksum_verification=True)
    except Exception as exc:  # truncated, not Parquet, a flipped bit in a page
        raise _refuse(path, f"a readable lrsweep results file{what}", f"not a readable Parquet file: {exc}") \
            from None


@validate_params({"path": PathLike()})
def load(path: str | os.PathLike) -> Results:
    """Read a :class:`Results` written by :meth:`Results.to_parquet`, checking it against its metadata.

    ``path`` must be one results file (not a directory: a directory of
    Parquet files would read as one table under the first file's config).
    Every metadata field must be there with its type; the config must be
    valid and hash to the stored grid hash; the table must be a table of that
    config (:func:`frame_problem`: columns and their dtypes, one row per
    trajectory, the axis values of each trajectory id); the records file
    must be the one whose SHA-256 the metadata names.

    Raises
    ------
    lrsweep.ParameterError
        Naming what is wrong: not a single readable file (listing a
        directory's contents), not written by lrsweep, a missing or mistyped
        metadata field, a config that does not match its grid hash or its
        table, records that are missing or not this table's.
    """
    import hashlib

    from .weights import load_weights

    path = Path(path)
    one = "a single lrsweep results file"
    if path.is_dir():
        names = sorted(p.name for p in path.iterdir())
        shown = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
        raise _refuse(path, one, f"a directory holding {shown}" if names else "an empty directory")
    if not path.is_file():
        raise _refuse(path, one, "no such file" if not path.exists() else "not a regular file")
    table = _read_table(path, "")
    raw = (table.schema.metadata or {}).get(b"lrsweep")
    if raw is None:
        raise ParameterError(message("path", "load", "an lrsweep results file (with 'lrsweep' metadata)",
                                     str(path)))
    fits = "an lrsweep results file whose metadata matches its table"
    try:
        meta = json.loads(raw)
    except ValueError as exc:
        raise _refuse(path, fits, f"its 'lrsweep' metadata is not JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise _refuse(path, fits, f"its 'lrsweep' metadata is a JSON {type(meta).__name__}, not an object")
    fields = dict(META_FIELDS)
    if meta.get("has_records") is True:
        fields["records_sha256"] = ("a str", str)
    for name, (what, kind) in fields.items():
        if name not in meta:
            raise _refuse(path, fits, f"its metadata lacks the field {name!r} ({what})")
        if not isinstance(meta[name], kind):
            raise _refuse(path, fits, f"its metadata field {name!r} is {meta[name]!r}, not {what}")
    try:
        config = SweepConfig.from_dict(meta["config"])
    except Exception as exc:  # validation errors, unknown keys (TypeError), malformed data
        raise _refuse(path, fits, f"its metadata field 'config' is not a valid SweepConfig: {exc}") from None
    if config.grid_hash() != meta["grid_hash"]:
        raise _refuse(path, fits, f"its metadata field 'grid_hash' is {meta['grid_hash']!r}, but its "
                                  f"config's grid hash is {config.grid_hash()!r}")
    try:
        frame = table.to_pandas()
    except Exception as exc:
        raise _refuse(path, fits, f"its table does not convert to pandas: {exc}") from None
    problem = frame_problem(frame, config)
    if problem:
        raise _refuse(path, fits, f"{problem} (metadata field 'config')")
    records = None
    if meta["has_records"]:
        rpath = _records_path(path)
        try:
            data = rpath.read_bytes()
        except OSError as exc:
            raise _refuse(path, fits, f"its records file {rpath.name!r} cannot be read: {exc.strerror}") \
                from None
        if hashlib.sha256(data).hexdigest() != meta["records_sha256"]:
            raise _refuse(path, fits, f"its records file {rpath.name!r} is not the one its metadata field "
                                      f"'records_sha256' names (altered, or another results file's)")
        records = _read_table(rpath, " (its records)").to_pandas()
        dtypes = {c: np.dtype(t) for c, t in RECORD_DTYPES.items()}
        if dict(records.dtypes) != dtypes or list(records.columns) != list(RECORD_COLUMNS):
            raise _refuse(path, fits, f"its records file {rpath.name!r} has columns {dict(records.dtypes)}")
    return Results(frame=frame, records=records, config=config,
                   meta={**meta["meta"], "versions": meta["versions"]}, weight_arrays=load_weights(
        path, meta, config, lambda detail: _refuse(path, fits, detail)))

