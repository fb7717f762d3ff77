"""How a chunk is laid out for the kernel, and what comes back: the engine's contract.

The kernel advances the trajectories of a chunk in *blocks* of lanes: lanes
that step together, sample by sample. This module holds the constants that
the block layout and the compiled kernel must agree on (defined here once:
if the block size the planner uses outgrew the kernel's stack buffer, the
kernel would write past it), the block plan of a chunk
(:func:`plan_chunk`), and the named record a finished chunk travels in
between the engine, the checkpoint files and the results table
(:class:`ChunkResult`). Plain NumPy: importing it compiles nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..config import SweepConfig
from ..grid import Chunk, group_indices, lanes_per_group
from ..metrics import DERIVED_FIELDS, FLOAT_FIELDS, INT_FIELDS

__all__ = [
    "BLOCK_LANES", "GATHER_BELOW", "TILE_ROWS", "VEC_LANES", "ChunkPlan", "ChunkResult", "plan_chunk",
]

#: Most lanes advanced together in one kernel block: their state (22 float64
#: fields each) fits in L1, and it sizes the kernel's stack buffer.
BLOCK_LANES = 64
#: Lanes per 512-bit vector: the kernel's lane loops are padded to a multiple of this.
VEC_LANES = 8
#: Gathered blocks with the implicit sample order and datasets of at most this
#: many samples copy them lane-interleaved into a scratch tile once per block
#: (2 * BLOCK_LANES * TILE_ROWS float64 = 1 MiB at most, within L2), so each
#: step loads whole vectors; longer datasets gather every step.
TILE_ROWS = 1024
#: Groups with fewer lanes than this run *gathered*: lanes of different groups
#: (equal n_samples and order) share a block, each loading its own samples.
GATHER_BELOW = 8


class ChunkPlan(NamedTuple):
    """Lanes and blocks of a chunk (see :func:`plan_chunk`)."""

    lane_group: np.ndarray  #: group of each lane (trajectory ``chunk.start + t``)
    b_start: np.ndarray  #: first lane of each block (index into the chunk)
    b_len: np.ndarray  #: lanes of each block
    b_gather: np.ndarray  #: 1 if the block's lanes may have different groups


def plan_chunk(config: SweepConfig, chunk: Chunk) -> ChunkPlan:
    """Blocks of a chunk: lanes that step together in one kernel block.

    Groups of at least :data:`GATHER_BELOW` lanes are split into blocks of at
    most :data:`BLOCK_LANES` lanes of one group (shared samples). Smaller
    groups (e.g. one lane per seed) are packed into gathered blocks of up to
    ``BLOCK_LANES`` consecutive lanes with equal n_samples, number of
    features, bias, order, schedule and batch size (hence equal steps, epoch
    length, coordinates per lane, kind of sample order and per-step
    learning-rate multipliers).
    """
    lpg = lanes_per_group(config)
    T = len(chunk)
    lane_group = np.arange(chunk.start, chunk.stop, dtype=np.int64) // lpg
    starts: list[int] = []
    if lpg >= GATHER_BELOW:
        t = chunk.start
        while t < chunk.stop:
            g = t // lpg
            end = min(chunk.stop, (g + 1) * lpg, t + BLOCK_LANES)
            starts.append(t - chunk.start)
            t = end
        gather = 0
    else:
        # Lanes of one gathered block share the steps, the kind of sample order, the
        # schedule and the batch size: one key of their axis indices.
        ix = group_indices(config, lane_group)
        names = ("n_samples", "n_features", "fit_intercept", "order", "schedule", "batch_size")
        key = np.ravel_multi_index(tuple(ix[a] for a in names), tuple(len(config.axes[a]) for a in names))
        # A new block where the key changes, and every BLOCK_LANES lanes within a run.
        brk = np.flatnonzero(np.diff(key)) + 1
        run_starts = np.concatenate([[0], brk])
        run_ends = np.concatenate([brk, [T]])
        for a, z in zip(run_starts.tolist(), run_ends.tolist(), strict=True):
            starts.extend(range(a, z, BLOCK_LANES))
        gather = 1
    b_start = np.asarray(starts, dtype=np.int64)
    b_len = np.diff(np.append(b_start, T)).astype(np.int64)
    return ChunkPlan(lane_group, b_start, b_len, np.full(len(b_start), gather, dtype=np.int64))


@dataclass(frozen=True, eq=False)
class ChunkResult:
    """The outcome of one chunk: what the engine returns, a checkpoint file holds
    and the results table is assembled from.

    Attributes
    ----------
    chunk : lrsweep.grid.Chunk
        Which trajectories (ids ``chunk.start .. chunk.stop - 1``).
    out_f : ndarray of float64, shape (len(FLOAT_FIELDS), T)
        Float metrics, rows in :data:`lrsweep.metrics.FLOAT_FIELDS` order.
    out_i : ndarray of int64, shape (len(INT_FIELDS), T)
        Integer metrics (status codes first), rows in
        :data:`lrsweep.metrics.INT_FIELDS` order.
    derived : dict of str to ndarray of float64, shape (T,)
        The columns computed after the kernel, keyed by
        :data:`lrsweep.metrics.DERIVED_FIELDS`.
    rec_ids : ndarray of int64
        Recorded trajectories of this chunk (sorted ids).
    rec_theta, rec_loss, rec_error : ndarray of float64, shape (len(rec_ids), slots)
        Recorded theta, per-sample loss and error norm ``||theta_k -
        theta_ref||`` every ``record_every`` steps (NaN after a trajectory
        diverged; theta NaN for a trajectory of more than one coordinate).
    weights : ndarray of float64, shape (2, coordinates), or None
        For a sweep with d features (``SweepConfig.has_features``): every
        trajectory's final coordinates ``w_0 .. w_{d-1}[, b]`` (row 0) and
        their reference (row 1), trajectory after trajectory; None otherwise
        (the weights frame then comes from ``theta_final`` and ``theta_ref``).
    """

    chunk: Chunk
    out_f: np.ndarray
    out_i: np.ndarray
    derived: dict[str, np.ndarray]
    rec_ids: np.ndarray
    rec_theta: np.ndarray
    rec_loss: np.ndarray
    rec_error: np.ndarray
    weights: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.weights is not None and (self.weights.ndim != 2 or self.weights.shape[0] != 2):
            raise ValueError(f"weights of shape {self.weights.shape}, expected (2, coordinates)")
        T = len(self.chunk)
        if self.out_f.shape != (len(FLOAT_FIELDS), T) or self.out_i.shape != (len(INT_FIELDS), T):
            raise ValueError(f"metric arrays of shapes {self.out_f.shape}, {self.out_i.shape} do not "
                             f"fit a chunk of {T} trajectories")
        if set(self.derived) != set(DERIVED_FIELDS):
            raise ValueError(f"derived columns {sorted(self.derived)}, expected {sorted(DERIVED_FIELDS)}")
        if not (self.rec_theta.shape == self.rec_loss.shape == self.rec_error.shape) or (
                self.rec_theta.size and len(self.rec_theta) != len(self.rec_ids)):
            raise ValueError(f"recorded arrays of shapes {self.rec_theta.shape}, {self.rec_loss.shape}, "
                             f"{self.rec_error.shape} do not fit {len(self.rec_ids)} recorded trajectories")
