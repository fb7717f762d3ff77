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


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
