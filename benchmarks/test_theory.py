"""Exact theory: ``lrsweep.theory.critical_lr`` of one Gaussian dataset of ``n`` samples.

Workload: ``x = default_rng(n).standard_normal(n)``, one dataset, one call
(the first root of ``S`` lies near the a.s. threshold 1.21, about the
``n/2``-th of ``n`` inter-pole intervals). ``extra_info["samples"]`` is
``n``. The search is ``O(n log n)`` (the docstring of
``lrsweep.theory.roots``); it was ``O(n^2)`` before: 2.1 s at ``n = 1e4``,
92-188 s at ``1e5``.

NumPy and OpenBLAS run it; for one core, run with ``OMP_NUM_THREADS=1``
(OpenBLAS reads it when ``OPENBLAS_NUM_THREADS`` is unset; recorded in
``extra_info``). Smoke mode runs ``n = 1e4`` and ``1e5`` once (about 0.4 s);
``LRSWEEP_BENCH_FULL=1`` adds ``n = 1e6``.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from baselines import FULL

from lrsweep import theory

N = [10_000, 100_000, *([1_000_000] if FULL else [])]


@pytest.mark.parametrize("n", N)
@pytest.mark.benchmark(group="theory: critical_lr of one Gaussian dataset")
def test_critical_lr(benchmark, n):
    x = np.random.default_rng(n).standard_normal(n)
    c = benchmark(theory.critical_lr, x)
    benchmark.extra_info.update(
        samples=n, **{k: os.environ.get(k, "") for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    )
    # the first root: S < 0 just below, > 0 just above, near the a.s. threshold
    assert 1.0 < c < 1.45
    s_lo, s_hi = theory.epoch_log_multiplier(x, [c * (1 - 1e-9), c * (1 + 1e-9)])
    assert s_lo < 0 < s_hi
