"""Studies: declared sweeps, their analysis against exact theory, figures and a report.

One module per named study (its sweeps, the axes ``--set`` may change, its
analysis), the specification (:mod:`~lrsweep.studies.spec`), the machinery
that runs and writes them (:mod:`~lrsweep.studies.execute`), studies
declared in TOML files (:mod:`~lrsweep.studies.declared`) and shared
analysis helpers (:mod:`~lrsweep.studies.common`). :data:`STUDIES` is the
registry; the command line is ``python -m lrsweep.study`` (or ``lrsweep
study``), defined once in :mod:`lrsweep.cli`.

======================  ==========================================================
study                   where its sweeps, theory and figures are
======================  ==========================================================
``seed``                :mod:`~lrsweep.studies.seed` (replay: :mod:`lrsweep.reference`)
``lr-tuning``           :mod:`~lrsweep.studies.lr_tuning`
``convergence``         :mod:`~lrsweep.studies.convergence` (``theory.population_log_multiplier``)
``oscillation``         :mod:`~lrsweep.studies.oscillation` (``n P(2 lr X^2 > 1)``)
``outliers``            :mod:`~lrsweep.studies.outliers` (``theory.trajectory_predictions``)
``divergence``          :mod:`~lrsweep.studies.divergence` (``theory.divergence_probability``)
``dataset-size``        :mod:`~lrsweep.studies.dataset_size` (``theory.critical_lr``)
``heavy-tails``         :mod:`~lrsweep.studies.heavy_tails` (``theory.tail_index``, ``tail_index_dataset``)
``noise-floor``         :mod:`~lrsweep.studies.noise_floor` (``theory.population_stationary_mse``)
``batch-size``          :mod:`~lrsweep.studies.batch_size` (``theory.batches``)
``schedules``           :mod:`~lrsweep.studies.schedules` (``theory.schedule_log_growth``)
``momentum``            :mod:`~lrsweep.studies.momentum` (``theory.momentum_lyapunov_exponent``)
``lr-finder``           :mod:`~lrsweep.studies.lr_finder` (``lrsweep.finder``; ``theory.batch_critical_lr``,
                        ``best_constant_lr``)
``dimension``           :mod:`~lrsweep.studies.dimension` (``theory.isotropic_as_threshold``,
                        ``feature_as_threshold``, ``feature_epoch_growth``)
======================  ==========================================================
"""

from __future__ import annotations

from . import (
    batch_size,
    convergence,
    dataset_size,
    dimension,
    divergence,
    heavy_tails,
    lr_finder,
    lr_tuning,
    momentum,
    noise_floor,
    oscillation,
    outliers,
    schedules,
    seed,
)
from .execute import Run, Runtime, run_shard, run_study, write_study
from .spec import ANY, SINGLE, Axis, Options, Output, Study, StudyError, SweepSpec

__all__ = [
    "ANY", "SINGLE", "STUDIES", "Axis", "Options", "Output", "Run", "Runtime", "Study", "StudyError",
    "SweepSpec", "run_shard", "run_study", "write_study",
]

#: The named studies, in the order ``--list`` and ``all`` show and run them.
STUDIES: dict[str, Study] = {
    m.STUDY.name: m.STUDY
    for m in (seed, lr_tuning, convergence, oscillation, outliers, divergence, dataset_size, heavy_tails,
              noise_floor, batch_size, schedules, momentum, lr_finder, dimension)
}
