"""What the kernel records per trajectory: exact definitions.

Notation: step ``k = 1 .. K`` is the k-th update (``K = epochs * n_samples``),
``theta_k`` theta after it (``theta_0 = theta0``), ``e_k = theta_k - theta_ref``
with ``theta_ref`` the least-squares fit of the trajectory's own dataset (the
population fit ``coef`` for ``order="online"``), ``l_k`` the per-sample loss of
step k computed in the forward pass before the update (the seed's
``loss_list``). ``scale = max(|e_0|, |theta_ref|)`` (1 if both are 0). The
*last epoch* is steps ``K - n + 1 .. K``.

Divergence: step k *diverges* when ``theta_k`` is not finite or ``|e_k| >
bound`` with ``bound = min(diverge_factor * scale, MAX_BOUND)`` (``MAX_BOUND`` a
quarter of float64's largest value, :data:`MAX_BOUND`).
The trajectory is then frozen at ``theta_{k-1}``
(the last in-bound value): no step after it changes any metric. All metrics
below describe the accepted steps ``1 .. diverged_step - 1``.

Every column is finite except where its entry says otherwise.

In d dimensions (y = w . x + b, issue 15)
-----------------------------------------
theta is the parameter vector ``(w_0 .. w_{d-1})``, followed by ``b`` when a
bias is learned; ``theta_ref = (w_ref[, b_ref])`` (least squares, or the
population fit online: :func:`lrsweep.data.make_features_dataset`) and
``e_k = theta_k - theta_ref``, coordinate by coordinate. Every definition
above holds with these replacements, and with one feature and no bias each
reduces to the one above *bit for bit* (the oracle
:func:`lrsweep.reference_features.trajectory_metrics_features` is tested
equal to :func:`lrsweep.reference.trajectory_metrics`):

- ``|e_k|`` becomes the Euclidean norm ``||e_k||``, computed as ``sqrt(q)``
  with ``q = e_0^2 + e_1^2 + ...`` summed left to right when ``q`` is a
  normal float (``NORM_TINY <= q <= float64 max``), else (q zero, subnormal or
  inf: rare) as ``m sqrt(sum_j (e_j / m)^2)`` with ``m = max_j |e_j|`` (NaN if
  some e_j is NaN, inf if some is inf). Both forms give ``|e_0|`` exactly for
  one coordinate. ``max_abs_error``, ``converged_step`` (``||e_k|| <= tol
  ||e_0||``), the status rules (``||e_K|| > ||e_{K-E}||`` for growing) and
  ``rms_error_last_epoch`` (``sqrt(sum ||e_k||^2 / E)``, each term the norm
  times itself) use it.
- ``scale = max(||e_0||, ||theta_ref||)`` (1 if both are 0), so ``bound =
  min(diverge_factor * scale, MAX_BOUND)``, the sign floor ``sign_floor *
  scale`` and the tolerance ``tol * ||e_0||`` are relative to the same
  quantities as in one dimension; divergence is ``||e_k|| > bound`` or a
  non-finite norm.
- A *sign change* (overshoot) at step k is ``e_k . e_{k-1} < 0`` (the error
  turned by more than 90 degrees), counted while ``||e_{k-1}||`` and
  ``||e_k||`` are above the floor. The dot product is summed left to right;
  when it is 0 or NaN (orthogonal, or products that under/overflowed) it is
  recomputed with each error divided by its largest ``|e_j|``, so that in one
  dimension the test is exactly the sign comparison above.
- ``max_jump`` is the largest ``||theta_k - theta_{k-1}||`` (same norm),
  ``growth_rate`` is measured on ``log ||e||`` (noise-free fixed order: it
  tends to ``log rho(M)`` for the epoch product ``M = prod_i (I - 2 lr x_i
  x_i^T)``, x extended by a 1 when a bias is learned).
- Losses are unchanged (the batch's mean of ``(y - w . x - b)^2``).
- Final weights: the oracle returns the vector ``w_final`` and ``b_final``;
  :attr:`lrsweep.Results.weights` keeps them tidily as a long frame
  ``(trajectory_id, coordinate, value, reference)`` with one row per
  coordinate named ``w_0 .. w_{d-1}``, then ``b`` (a sweep may mix d from 1
  to 64, which wide columns would pad with NaN; :mod:`lrsweep.weights`).
  ``theta_final`` and ``theta_ref`` keep their meaning for d = 1 without a
  bias and are NaN for a trajectory of more than one coordinate.
- Derived columns of a trajectory of more than one coordinate:
  ``abs_error_final`` is ``||e_K||`` (the norm above); ``loss_final`` is the
  full-batch MSE ``mean(r^2) - 2 e . mean(x r) + e^T mean(x x^T) e`` with
  ``r = y - x theta_ref`` and x extended by a 1 with a bias (the one-feature
  formula with vectors; NumPy's sums, not bit-defined).
- Noise floor: ``noise_rms`` is the square root of the stationary ``E
  ||e||^2`` by the *isotropic closure* (``E e e^T`` taken proportional to
  the identity, :func:`lrsweep.theory.stationary_mse` with ``coordinates=p``)
  on the dataset's rows ``z = x`` (or ``(x, 1)``): ``mean ||z||^2``, ``mean
  ||z||^4`` and ``mean r^2 ||z||^2``. It is exact for rotation-invariant
  inputs (isotropic Gaussian features, no bias: ``lr sigma^2 d / (1 - (d +
  2) lr s^2)``) and the scale otherwise (within 6.5 % of the exact
  :func:`lrsweep.theory.feature_stationary_mse` for d = 4, kappa = 10 with a
  bias, and d = 10, kappa = 100, at 0.3 times the mean-square threshold);
  the ``noise_floor`` status compares ``rms_error_last_epoch`` with it as in
  one dimension.
"""

from __future__ import annotations

import sys
from enum import IntEnum

__all__ = [
    "CENSORED",
    "DERIVED",
    "DERIVED_FIELDS",
    "FLOAT_FIELDS",
    "INT_FIELDS",
    "MAX_BOUND",
    "METRICS",
    "METRIC_COLUMNS",
    "NORM_TINY",
    "Status",
]

#: Smallest normal float64, 2**-1022: an error norm's sum of squares q at or above it (and finite) is
#: taken as ``sqrt(q)``, below it (or infinite) by the scaled form (module docstring, "In d dimensions").
NORM_TINY = 2.0**-1022
#: The divergence bound's cap, a quarter of the largest float64 (``bound = min(diverge_factor * scale,
#: MAX_BOUND)``): ``|theta_k - theta_{k-1}|`` of an accepted step stays finite, and an infinite theta
#: is never "within" an infinite bound. Results of bounds below it (every default and every study)
#: are unchanged. The kernels and the oracles take it from here.
MAX_BOUND = sys.float_info.max / 4


class Status(IntEnum):
    """Fate of a trajectory; the values are the kernel's integer codes.

    The one definition of the codes: :mod:`lrsweep.engine.lanes` compiles
    them in, the results table names them (lower case, categorical). Each
    status says what the run *showed* within its budget; the checks are made
    in this order and the first that holds is the status:

    DIVERGED
        Some step left the divergence bound (see the module docstring).
        Guarantees: ``|e|`` exceeded ``bound`` once; not that the dataset is
        unstable (a transient excursion of a stable run counts too: compare
        the exact verdict, :meth:`lrsweep.Results.with_theory`).
    CONVERGED
        ``|e_k| <= tol * |e_0|`` for every step of the last epoch (and, by
        ``converged_step``, from that step to the end): a whole epoch of
        evidence, so the status does not depend on where the budget happens
        to cut. Guarantees: within tolerance for at least the last ``n``
        steps; not that it stays there (a noisy run can leave again).
    NOISE_FLOOR
        Not converged, and the root mean square of ``e`` over the last epoch
        (``rms_error_last_epoch``) is at most ``noise_factor`` times the
        dataset's stationary RMS error ``noise_rms`` (see
        :data:`DERIVED`): the error has fallen to the spread the noise (or
        response outliers) keeps it at; the iterates converge in
        distribution, not to a point. Only below the dataset's mean-square
        threshold, where that spread is finite; noise-free data have
        ``noise_rms`` ~ 0 and never reach it.
    GROWING
        Not converged, not at the noise floor, and ``|e_K| > |e_{K-n}|``:
        the error grew over the last epoch. Lumps together slow divergence
        (unstable but still within the bound), cycles that happen to end high and,
        for noisy runs above the mean-square threshold (no finite noise
        floor), stationary fluctuations that happened to grow; the exact
        verdict tells them apart for noise-free data.
    OSCILLATING
        Not converged, not at the noise floor, ``|e_K| <= |e_{K-n}|``, and at
        least ``oscillation_min`` sign changes of ``e`` (above the sign floor)
        in the last epoch: converging while it overshoots, out of steps.
    SLOW
        As OSCILLATING but with fewer sign changes: a (nearly) monotone
        approach that ran out of steps (lr too small for the budget; lr = 0,
        where theta never moves, is slow too).

    SLOW, OSCILLATING and GROWING are *censored*: the budget did not decide
    the run's fate.
    """

    CONVERGED = 0
    SLOW = 1
    OSCILLATING = 2
    DIVERGED = 3
    NOISE_FLOOR = 4
    GROWING = 5


#: Statuses whose fate the budget did not decide.
CENSORED = (Status.SLOW, Status.OSCILLATING, Status.GROWING)


#: Metric columns, in kernel output order, with their definitions.
METRICS: dict[str, str] = {
    "theta_final": "theta after the last step (after the last accepted step if diverged).",
    "max_abs_error": "max over accepted k >= 0 of |e_k| (includes |e_0|).",
    "max_jump": "largest |theta_k - theta_{k-1}| over accepted steps (0 if none).",
    "loss_zigzag": (
        "fraction of the n - 2 interior steps of the last epoch where the per-sample loss "
        "turns (l_k - l_{k-1}) * (l_{k+1} - l_k) < 0: 0 for a monotone loss, about 2/3 for "
        "white noise. NaN if the trajectory diverged or n < 3."
    ),
    "loss_last_epoch": (
        "mean per-sample loss l_k over the last epoch. NaN if diverged; inf if a loss exceeded "
        "float64's range (errors near the divergence bound with a diverge_factor far above the default)."
    ),
    "growth_rate": (
        "empirical Lyapunov exponent per epoch: log|e_K| - log|e_{K-n}|, the change of log|e| "
        "over the last epoch (exactly sum_i log|1 - 2 lr x_i^2| for noise-free fixed-order "
        "runs). Only measured while |e| is within [floor, bound] (floor = sign_floor * scale, "
        "below which rounding dominates): if |e| first fell to the floor at step h, it is the "
        "average rate (log|e_h| - log|e_0|) * n / h (-inf if e_h = 0); if the trajectory "
        "diverged at step d, (log(bound) - log|e_0|) * n / d, the average rate needed to "
        "cross the bound (a lower bound on the true rate; inf if e_0 = 0). NaN if "
        "e_{K-n} = 0 otherwise."
    ),
    "rms_error_last_epoch": (
        "root mean square of e_k over the accepted steps of the last epoch, sqrt(sum e_k^2 / n) "
        "(k = K - n + 1 .. K). NaN if diverged; inf if e_k^2 exceeded float64's range."
    ),
    "status": (
        "Status: converged, slow, oscillating, diverged, noise_floor or growing (categorical; "
        "the rules and what each guarantees are in Status)."
    ),
    "converged_step": (
        "first step k with |e_j| <= tol * |e_0| for every j >= k, if that holds for the whole last "
        "epoch (status converged); -1 otherwise."
    ),
    "diverged_step": "step at which the trajectory diverged; -1 if it did not.",
    "sign_changes": (
        "steps where e changed sign (overshoots of theta_ref), counted only while |e_{k-1}| "
        "and |e_k| are both above sign_floor * scale: once theta sits within a few ulps of "
        "theta_ref its sign flips are rounding noise."
    ),
    "sign_changes_last_epoch": "sign_changes counted over the last epoch only.",
    "max_abs_error_step": "step of max_abs_error (0 for e_0).",
    "max_jump_step": "step of max_jump (0 if no step was accepted).",
    "max_jump_sample": "dataset index of the sample of max_jump (-1 if no step was accepted).",
}

#: Float metric names: the rows of the kernel's float output, in order
#: (:mod:`lrsweep.engine.lanes` takes its row numbers from here).
FLOAT_FIELDS = (
    "theta_final", "max_abs_error", "max_jump", "loss_zigzag", "loss_last_epoch", "growth_rate",
    "rms_error_last_epoch",
)
#: Int metric names: the rows of the kernel's int output, in order; status first.
INT_FIELDS = (
    "status", "converged_step", "diverged_step", "sign_changes", "sign_changes_last_epoch",
    "max_abs_error_step", "max_jump_step", "max_jump_sample",
)

#: Derived per-trajectory columns added by the Python layer.
DERIVED: dict[str, str] = {
    "theta_ref": "least-squares reference of the trajectory's dataset (see module docstring).",
    "abs_error_final": "|theta_final - theta_ref|.",
    "loss_final": (
        "full-batch MSE mean_i (y_i - theta_final x_i)^2 over the dataset (the whole stream "
        "for online order), computed as mean(r^2) - 2 e mean(x r) + e^2 mean(x^2) with "
        "r = y - theta_ref x and e = theta_final - theta_ref, which avoids cancellation. "
        "inf if it exceeds float64's range (possible only with a diverge_factor far above the "
        "default)."
    ),
    "noise_rms": (
        "the dataset's stationary RMS error at this lr, sqrt(v) with v = lr mean(x^2 r^2) / "
        "(mean(x^2) - lr mean(x^4)) and r = y - theta_ref x: the mean-square fixed point of "
        "e <- (1 - 2 lr x^2) e + 2 lr x r for samples drawn with replacement (exact for "
        "order replacement and online, the scale of the limit cycle for fixed and shuffle). "
        "With batches and momentum, v is lrsweep.theory.stationary_mse of the same moments "
        "(batches drawn with replacement); with a schedule, it is taken at the largest learning "
        "rate of the last epoch. NaN outside the mean-square region (per-sample SGD: lr >= "
        "mean(x^2) / mean(x^4)), where the stationary variance is infinite; ~0 for noise-free "
        "data. A run is at its noise floor when rms_error_last_epoch <= noise_factor * noise_rms. "
        "With more than one coordinate: sqrt(E ||e||^2) by the isotropic closure on the rows' moments "
        "(module docstring, 'In d dimensions')."
    ),
}

#: Names of the derived columns, in the order a chunk carries them.
DERIVED_FIELDS = tuple(DERIVED)

#: The metric columns of the results table, in table order (after the axis columns).
METRIC_COLUMNS = (
    "theta_ref", "theta_final", "abs_error_final", "loss_final", "status", "converged_step",
    "diverged_step", "sign_changes", "sign_changes_last_epoch", "max_abs_error",
    "max_abs_error_step", "max_jump", "max_jump_step", "max_jump_sample", "loss_zigzag",
    "loss_last_epoch", "growth_rate", "rms_error_last_epoch", "noise_rms",
)
