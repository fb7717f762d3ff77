"""Shared fixtures: the seed's dataset and a small helper to run one config."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

import lrsweep


@pytest.fixture(scope="session")
def lecture_data():
    """The seed's dataset: legacy np.random.seed(0), 100 samples of N(0, 1), y = 5x."""
    return lrsweep.make_dataset(0, 100, kind="lecture")


def run(config: lrsweep.SweepConfig, **kw):
    """Sweep without a progress bar."""
    kw.setdefault("progress", False)
    return lrsweep.sweep(config, **kw)


def wait_for_chunks(proc, directory, pattern: str, count: int = 1, timeout: float = 300.0) -> None:
    """Block until ``count`` files match ``pattern`` under ``directory`` (to kill ``proc`` mid-run).

    Fails the test if ``proc`` exits first (nothing left to interrupt) or on timeout.
    """
    import time

    deadline = time.monotonic() + timeout
    while len(list(directory.glob(pattern))) < count:
        if proc.poll() is not None:
            pytest.fail("the run finished before it could be interrupted")
        if time.monotonic() > deadline:
            pytest.fail(f"no {count} files {pattern} in {directory} after {timeout} s")
        time.sleep(0.02)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
