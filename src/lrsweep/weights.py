"""The final weights of a sweep as a tidy long frame: one row per coordinate of every trajectory.

With d features and a learned bias (issue 15) a trajectory ends at a vector
``(w_0 .. w_{d-1}[, b])``; a sweep may mix d from 1 to 64, which one column
per coordinate would pad with NaN, so :attr:`lrsweep.Results.weights` is a
long frame (:mod:`lrsweep.metrics`, "In d dimensions")::

    trajectory_id  int64        the trajectory (ids ascending, coordinates in order)
    coordinate     categorical  "w_0" .. "w_{d_max - 1}", then "b" (if a bias is swept)
    value          float64      the final coordinate (after the last accepted step)
    reference      float64      its least-squares reference (w_ref or b_ref)

For a sweep of the one-feature model the frame is made from ``theta_final``
and ``theta_ref`` (one row ``w_0`` per trajectory); otherwise from the
arrays the engine returns per chunk (``ChunkResult.weights``), which the
checkpoint files and the results file carry (``<stem>.weights.parquet``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .config import SweepConfig

__all__ = ["WEIGHT_COLUMNS", "coordinates", "weights_frame"]

WEIGHT_COLUMNS = ("trajectory_id", "coordinate", "value", "reference")


def coordinates(config: SweepConfig, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Coordinates ``d (+ 1 with a bias)`` of trajectories ``start .. stop - 1`` (int64)."""
    from .grid import axis_values

    stop = config.n_trajectories if stop is None else stop
    vals = axis_values(config, np.arange(start, stop, dtype=np.int64))
    return vals["n_features"].astype(np.int64) + vals["fit_intercept"].astype(np.int64)


def _categories(config: SweepConfig) -> list[str]:
    d_max = max(config.axes["n_features"])
    bias = True in config.axes["fit_intercept"]
    return [f"w_{c}" for c in range(d_max)] + (["b"] if bias else [])


def weights_frame(config: SweepConfig, frame: pd.DataFrame, arrays: np.ndarray | None) -> pd.DataFrame:
    """The long frame of final weights (module docstring).

    ``arrays`` is ``(value, reference)`` of every coordinate of every
    trajectory in order (shape ``(2, total)``), or None for the one-feature
    model (then ``frame``'s ``theta_final`` and ``theta_ref``).
    """
    cats = _categories(config)
    n = config.n_trajectories
    if arrays is None:
        return pd.DataFrame({
            "trajectory_id": frame["trajectory_id"].to_numpy(dtype=np.int64),
            "coordinate": pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=cats),
            "value": frame["theta_final"].to_numpy(dtype=np.float64),
            "reference": frame["theta_ref"].to_numpy(dtype=np.float64),
        })
    p = coordinates(config)
    d = frame["n_features"].to_numpy(dtype=np.int64)
    off = np.zeros(n, dtype=np.int64)
    np.cumsum(p[:-1], out=off[1:])
    c = np.arange(int(p.sum()), dtype=np.int64) - np.repeat(off, p)
    code = np.where(c < np.repeat(d, p), c, len(cats) - 1)  # the last coordinate of a biased run is "b"
    return pd.DataFrame({
        "trajectory_id": np.repeat(np.arange(n, dtype=np.int64), p),
        "coordinate": pd.Categorical.from_codes(code.astype(np.int8 if len(cats) < 128 else np.int32),
                                                categories=cats),
        "value": np.ascontiguousarray(arrays[0]),
        "reference": np.ascontiguousarray(arrays[1]),
    })


def weights_path(path):
    """The weights file next to a results file ``path`` (``<stem>.weights.parquet``)."""
    return path.with_name(path.stem + ".weights.parquet")


def encode_weights(arrays: np.ndarray) -> bytes:
    """Parquet bytes of ``(value, reference)`` columns (with page checksums)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"value": arrays[0], "reference": arrays[1]}), sink, write_page_checksum=True)
    return sink.getvalue().to_pybytes()


def decode_weights(data: bytes, rows: int) -> np.ndarray:
    """``(value, reference)`` from :func:`encode_weights` bytes (``ValueError`` unless ``rows`` rows)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = pq.read_table(pa.BufferReader(data))
    if t.column_names != ["value", "reference"] or t.num_rows != rows or any(
            c.type != pa.float64() for c in t.columns):
        raise ValueError(f"a weights table of {t.num_rows} rows and columns {t.schema}, expected {rows} "
                         "float64 rows (value, reference)")
    return np.stack([t.column("value").to_numpy(), t.column("reference").to_numpy()])


def load_weights(path, meta: dict, config: SweepConfig, refuse) -> np.ndarray | None:
    """The verified weights file of a d-feature results file ``path``; else ``raise refuse(detail)``."""
    import hashlib

    if not config.has_features:
        return None
    wpath = weights_path(path)
    try:
        data = wpath.read_bytes()
        if hashlib.sha256(data).hexdigest() != meta.get("weights_sha256"):
            raise ValueError("not the one the metadata field 'weights_sha256' names")
        return decode_weights(data, int(coordinates(config).sum()))
    except (OSError, ValueError) as exc:
        raise refuse(f"its weights file {wpath.name!r}: {exc}") from None
