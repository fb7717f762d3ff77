r"""Exact theory of per-sample SGD on the one-feature problem y = a x.

Everything here is a prediction made *without* running SGD: the simulations
(kernel, reference) are tested against it and the studies draw it on their
figures. All functions work in float64, accept arrays of datasets and arrays
of learning rates, import SciPy lazily, and never touch a global random
state.

Notation
--------
Loss per sample ``l = (y - theta x)^2`` (no 1/2), step ``theta <- theta +
2 lr x (y - theta x)``. ``x`` is one dataset (shape ``(n,)``) or a stack of
datasets (shape ``(n_datasets, n)``); a one-feature column ``(n, 1)`` must be
passed as ``x[:, 0]`` (it would otherwise be read as ``n`` datasets of one
sample). ``X ~ N(0, s^2)`` with ``s = x_scale`` and ``Z ~ N(0, 1)``;
``u = 2 lr s^2`` is the only combination of ``lr`` and ``s`` the population
quantities depend on.

Modules
-------
One job per module; each module's docstring carries its part of the theory.

* :mod:`~lrsweep.theory.dataset` - one dataset: the error recursion, the epoch
  log-multiplier ``S(lr)``, poles, overshoot and amplify counts, the
  full-batch GD threshold, the predicted error path and steps to tolerance,
  and what outliers do to ``S``.
* :mod:`~lrsweep.theory.roots` - the shape of ``S`` between its poles (strictly
  concave): all its roots, the diverging intervals and the critical
  learning rate.
* :mod:`~lrsweep.theory.population` - ``n -> inf``: ``L = E log|1 - 2 lr X^2|``
  and its variance (singular Gaussian quadrature), the almost-sure,
  mean-square and mean thresholds.
* :mod:`~lrsweep.theory.tails` - heavy tails with noise: the tail index for
  fresh samples (Kesten-Goldie) and for resampling a fixed dataset.
* :mod:`~lrsweep.theory.probability` - the probability that a random dataset
  diverges (central limit approximation or Monte Carlo).
* :mod:`~lrsweep.theory.predictions` - the exact noise-free predictions for
  every trajectory of a results frame.
* :mod:`~lrsweep.theory.batches` - mini-batches: the epoch log-multiplier
  ``S_B`` of a dataset (``S`` of its batch features) and its critical lr;
  fresh samples: the mean-square and almost-sure thresholds as functions
  of ``B``.
* :mod:`~lrsweep.theory.schedules` - learning-rate schedules: the exact
  ``log|e_T/e_0|`` under any per-step learning rates, and the (robust) best
  constant learning rate for a budget of steps.
* :mod:`~lrsweep.theory.momentum` - heavy ball and Nesterov: the log spectral
  radius of a dataset's epoch product, the mean-square region (3 x 3
  second-moment recursion) and a Monte Carlo estimate of the almost-sure
  (Lyapunov) exponent for fresh samples.
* :mod:`~lrsweep.theory.features` - ``d`` features and a learned bias, one
  dataset (fixed order, any ``B``): the epoch product ``M = prod (I - 2 lr
  C_k)``, its log spectral radius (the growth of ``log ||e||`` per epoch) and
  the first critical learning rate (a scan).
* :mod:`~lrsweep.theory.features_population` - ``d`` features, fresh
  isotropic Gaussian samples: the almost-sure exponent ``lambda = (1/2) E
  log|1 - 4u(1 - u)c|`` (quadrature) and its root, the almost-sure threshold.
* :mod:`~lrsweep.theory.features_ms` - ``d`` features, fresh Gaussian samples:
  the exact mean-square threshold for any diagonal covariance, ``B`` and
  bias (a ``p x p`` Perron root; closed forms when isotropic) and the
  stationary error with noise.
* :mod:`~lrsweep.theory.features_lyapunov` - ``d`` features with a bias,
  unequal scales or batches: the almost-sure exponent and threshold by
  Monte Carlo (products of random matrices, re-orthonormalised), with
  standard errors.
* :mod:`~lrsweep.theory.noise` - with noise: the stationary mean-square error
  for batch size ``B`` and momentum ``beta``, per dataset (its moments or its
  samples) and for the population, in ``d`` dimensions by the isotropic
  closure (the engine's noise floor); the bounded support of shuffled epochs.
* ``_common`` - the numerics they share (memory-bounded blocks,
  ``log|1 - v|`` without cancellation, ``2 lr x^2`` without overflow or
  underflow, Brent's method, float constants).
* ``_poles`` - the pole form of ``S`` under ``roots``: the pole table,
  ``S`` and Newton's function on it, and the bounds that skip intervals.

Imports go one way: ``_common`` imports nothing of the package; ``dataset``,
``_poles`` and ``population`` import only ``_common``, ``roots`` only
``_common`` and ``_poles``; ``tails`` imports
``population``; ``probability`` imports ``dataset`` and ``population``;
``predictions`` imports ``dataset``; ``batches`` imports ``_common``,
``_poles``, ``population`` and ``roots``; ``schedules`` imports ``_common``,
``_poles`` and ``batches``; ``momentum`` imports ``_common``, ``batches`` and
``population``; ``noise`` imports ``_common``, ``momentum`` and
``population``; ``features`` imports ``_common`` and ``batches``;
``features_population`` and ``features_ms`` only ``_common``;
``features_lyapunov`` imports ``_common``, ``features_ms`` and ``momentum``.

Optimizer conventions (batches, schedules, momentum, noise): step ``t``
uses ``lr_t = lr * m_t``; a batch of ``B_k`` samples uses the mean of their
gradients (fixed order: consecutive batches, the last one shorter when
``B`` does not divide ``n``); momentum follows PyTorch's ``SGD`` (dampening
0). ``B = 1``, ``beta = 0`` and a constant schedule reduce every new
function to the per-sample one (bit for bit where the docstring says so).

Every public function declares a constraint for each parameter through
:func:`lrsweep._validation.validate_params` (its table is kept as
``__lrsweep_constraints__``) and receives normalised values (float64 arrays,
ints, a Generator); a violation raises :class:`lrsweep.ParameterError` (a
``ValueError``) or :class:`lrsweep.ParameterTypeError` (also a ``TypeError``)
with the one message template, e.g. ``The 'lr' parameter of tail_index must
be a scalar or an array of floats in the range [0, inf). Got -1.0 instead.``
Functions of the package call each other's unvalidated implementations.

References
----------
.. [1] M. Gurbuzbalaban, U. Simsekli, L. Zhu, "The heavy-tail phenomenon in
   SGD", ICML 2021.
.. [2] H. Kesten, "Random difference equations and renewal theory for
   products of random matrices", Acta Math. 131 (1973) 207-248.
.. [3] C. M. Goldie, "Implicit renewal theory and tails of solutions of
   random equations", Ann. Appl. Probab. 1 (1991) 126-166.
"""

from __future__ import annotations

from .batches import (
    batch_as_threshold,
    batch_critical_lr,
    batch_log_multiplier,
    batch_ms_threshold,
    batch_population_log_multiplier,
)
from .dataset import (
    amplify_count,
    epoch_log_multiplier,
    gd_threshold,
    overshoot_count,
    poles,
    predicted_error,
    predicted_steps_to_tol,
)
from .features import EpochProduct, feature_critical_lr, feature_epoch_growth, feature_epoch_product
from .features_lyapunov import feature_as_threshold, feature_lyapunov_exponent
from .features_ms import (
    condition_scales,
    feature_ms_radius,
    feature_ms_threshold,
    feature_stationary_mse,
    isotropic_ms_threshold,
)
from .features_population import isotropic_as_threshold, isotropic_log_multiplier
from .momentum import (
    LyapunovEstimate,
    momentum_epoch_growth,
    momentum_lyapunov_exponent,
    momentum_ms_radius,
    momentum_ms_threshold,
)
from .noise import dataset_stationary_mse, population_stationary_mse, shuffle_error_bound, stationary_mse
from .population import (
    as_threshold,
    mean_threshold,
    ms_threshold,
    population_log_multiplier,
    population_log_multiplier_variance,
)
from .predictions import trajectory_predictions
from .probability import DivergenceProbability, divergence_probability
from .roots import critical_lr, diverging_intervals, roots
from .schedules import BestConstantLR, best_constant_lr, schedule_log_growth
from .tails import tail_index, tail_index_dataset

__all__ = [
    "BestConstantLR",
    "DivergenceProbability",
    "EpochProduct",
    "LyapunovEstimate",
    "amplify_count",
    "as_threshold",
    "batch_as_threshold",
    "batch_critical_lr",
    "batch_log_multiplier",
    "batch_ms_threshold",
    "batch_population_log_multiplier",
    "best_constant_lr",
    "condition_scales",
    "critical_lr",
    "dataset_stationary_mse",
    "divergence_probability",
    "diverging_intervals",
    "epoch_log_multiplier",
    "feature_as_threshold",
    "feature_critical_lr",
    "feature_epoch_growth",
    "feature_epoch_product",
    "feature_lyapunov_exponent",
    "feature_ms_radius",
    "feature_ms_threshold",
    "feature_stationary_mse",
    "gd_threshold",
    "isotropic_as_threshold",
    "isotropic_log_multiplier",
    "isotropic_ms_threshold",
    "mean_threshold",
    "momentum_epoch_growth",
    "momentum_lyapunov_exponent",
    "momentum_ms_radius",
    "momentum_ms_threshold",
    "ms_threshold",
    "overshoot_count",
    "poles",
    "population_log_multiplier",
    "population_log_multiplier_variance",
    "population_stationary_mse",
    "predicted_error",
    "predicted_steps_to_tol",
    "roots",
    "schedule_log_growth",
    "shuffle_error_bound",
    "stationary_mse",
    "tail_index",
    "tail_index_dataset",
    "trajectory_predictions",
]
