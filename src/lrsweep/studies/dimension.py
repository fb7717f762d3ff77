"""Study ``dimension``: stability thresholds and steps to tolerance against the number of features d.

Per-sample SGD on ``y = w . x (+ b)`` with ``d`` features, noise-free, ``coef =
0`` (so ``w_ref = 0``, ``b_ref = 0`` and ``||e|| = ||theta||``), every weight
started at 1 and the bias at 0. Learning rates are declared in units of
``1 / E||x||^2`` (``c = lr E||x||^2``, ``E||x||^2 = s^2 sum_j r_j^2``): the
scaling whose value the study measures. Sweeps (tables in
:mod:`lrsweep.studies.dimension_runs`):

* ``online_d<d>`` (fresh samples, one per d, with and without a bias): the
  mean of ``log(||e_T|| / ||e_0||) / T`` against the population exponent
  (:func:`~lrsweep.theory.isotropic_log_multiplier`, a quadrature, or
  :func:`~lrsweep.theory.feature_lyapunov_exponent`, Monte Carlo with its
  standard error, with a bias), its root against
  :func:`~lrsweep.theory.isotropic_as_threshold` /
  :func:`~lrsweep.theory.feature_as_threshold`, the mean-square threshold
  :func:`~lrsweep.theory.feature_ms_threshold` (exact), and the steps to
  tolerance at the best lr.
* ``kappa`` (fresh samples, d = 10, condition kappa = 100): the same with
  feature variances spread geometrically from ``s^2`` to ``kappa s^2``.
* ``order_d<d>`` (datasets of n = 100, orders fixed, shuffle, replacement and
  online on the same data): fixed order against its exact verdict ``log rho(M)
  > 0`` (:func:`~lrsweep.theory.feature_epoch_growth`), the datasets' critical
  lr (:func:`~lrsweep.theory.feature_critical_lr`) and fixed minus shuffled
  growth per epoch, paired by dataset.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from .dimension_report import figures, report
from .dimension_runs import online_table, order_tables, per_dimension
from .spec import ANY, Axis, Options, Output, Study, SweepSpec

if TYPE_CHECKING:
    from ..results import Results

#: Numbers of features, and those of the sample-order sweeps.
DIMS = (1, 2, 5, 10, 32, 64)
QUICK_DIMS = (1, 10)
ORDER_DIMS = (1, 10)
#: The ill-conditioned case: d and kappa.
KAPPA_D, KAPPA = 10, 100.0
#: Learning rates in units of 1/E||x||^2: a coarse range for the steps to tolerance and a dense one
#: across the thresholds (c = 0.54 .. 1.21 for d = 1 .. 64, with and without a bias).
C_GRID = (
    0.125,
    0.177,
    0.25,
    0.3,
    0.354,
    0.42,
    0.5,
    0.55,
    0.6,
    0.65,
    0.7,
    0.75,
    0.8,
    0.85,
    0.9,
    0.95,
    1.0,
    1.05,
    1.1,
    1.2,
    1.3,
    1.4,
)
QUICK_C = (0.25, 0.5, 0.7, 0.9, 1.1, 1.3)
ORDER_C = (0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.2, 1.3, 1.4, 1.6)
QUICK_ORDER_C = (0.7, 0.9, 1.1, 1.4)
ORDER_N = 100
#: Monte Carlo of the theory (bias, unequal scales): steps and chains.
MC = {False: (2000, 32), True: (300, 8)}
TOL = 1e-4


#: Epochs per fresh-sample run: converged_step counts a run that stays within tol for the whole last
#: epoch, so the tolerance must be reached within the first EPOCHS - 1 (32 d steps: the steps to 1e-4
#: at the best lr are about 20 d to 31 d).
EPOCHS = 3


def _n(d: int, quick: bool) -> int:
    """Samples per epoch: the steps to tolerance grow like d."""
    return max(32, 4 * d) if quick else max(128, 16 * d)


def _seeds(d: int, quick: bool) -> range:
    """Runs per cell: fewer at large d, where log ||e|| is a walk of many small steps."""
    return range(16 if quick else max(64, 60000 // (EPOCHS * _n(d, quick))))


def _dims(opts: Options, default: tuple[int, ...]) -> list[int]:
    v = opts.sets.get("n_features")
    return sorted({int(x) for x in v}) if isinstance(v, list | tuple) else ([int(v)] if v else list(default))


def _lrs(units, cfg_probe, d: int, kappa: float) -> list[float]:
    from .. import theory

    (s,) = cfg_probe.axes["x_scale"]
    m2 = float((theory.condition_scales(d, kappa, s) ** 2).sum())
    return sorted({u / m2 for u in units})


def declare(opts: Options) -> dict[str, SweepSpec]:
    q = opts.quick
    base = replace(opts, sets={k: v for k, v in opts.sets.items() if k != "n_features"})
    common = dict(
        noise=0.0,
        coef=0.0,
        theta0=1.0,
        diverge_factor=1e300,
        sign_floor=0.0,
        tol=TOL,
        epochs=EPOCHS,
        fit_intercept=[False, True],
    )
    probe = base.config(**common)
    units = QUICK_C if q else C_GRID
    out = {}
    for d in _dims(opts, QUICK_DIMS if q else DIMS):
        out[f"online_d{d}"] = SweepSpec(
            base.config(
                **common,
                order="online",
                n_features=d,
                n_samples=_n(d, q),
                lr=_lrs(units, probe, d, 1.0),
                seed=_seeds(d, q),
            )
        )
    dk = max(_dims(opts, (KAPPA_D,)))
    out["kappa"] = SweepSpec(
        base.config(
            **common,
            order="online",
            n_features=dk,
            condition=KAPPA,
            n_samples=128 if q else 1024,
            lr=_lrs(units, probe, dk, KAPPA),
            seed=range(16 if q else 64),
        )
    )
    for d in _dims(opts, ORDER_DIMS):
        out[f"order_d{d}"] = SweepSpec(
            base.config(
                noise=0.0,
                coef=0.0,
                theta0=1.0,
                diverge_factor=1e300,
                sign_floor=0.0,
                tol=TOL,
                epochs=8 if q else 20,
                order=["fixed", "shuffle", "replacement", "online"],
                n_features=d,
                n_samples=ORDER_N,
                lr=_lrs(QUICK_ORDER_C if q else ORDER_C, probe, d, 1.0),
                seed=range(12 if q else 64),
            )
        )
    return out


def analyse(runs: dict[str, Results], opts: Options) -> Output:
    import pandas as pd

    n_steps, n_chains = MC[opts.quick]
    online = [
        (runs[k].config, online_table(runs[k], n_steps, n_chains))
        for k in runs
        if k.startswith("online_") or k == "kappa"
    ]
    per_d = per_dimension(online, n_steps, n_chains)
    orders = [order_tables(runs[k], 6 if opts.quick else 40) for k in runs if k.startswith("order_")]
    order_s = pd.concat([o[0] for o in orders], ignore_index=True)
    paired = pd.concat([o[1] for o in orders], ignore_index=True)
    critical = pd.concat([o[2] for o in orders], ignore_index=True)
    summary = pd.concat([t for _, t in online], ignore_index=True)
    figs = figures(summary, per_d, order_s, critical, runs, n_steps, n_chains)
    body, answer, headline = report(summary, per_d, order_s, paired, critical, runs, n_steps, n_chains)
    return Output(
        summary,
        figs,
        body,
        headline,
        {"per_dimension": per_d, "orders": order_s, "orders_paired": paired, "critical_lr": critical},
        answer=answer,
    )


STUDY = Study(
    name="dimension",
    question=(
        "How do the mean-square and almost-sure stability thresholds of per-sample SGD fall with the "
        "number of features d (with and without a bias, isotropic and ill-conditioned), how much does "
        "the sample order matter once d > 1, and what does scaling the lr by 1/E||x||^2 buy?"
    ),
    declare=declare,
    analyse=analyse,
    axes={"seed": ANY, "n_features": ANY, "x_scale": Axis(multi=False)},
    refused={
        "lr": "the study sets the lrs per d, in units of 1/E||x||^2 around each d's thresholds",
        "n_samples": "the study sets n itself: fresh-sample epochs that grow with d and datasets of 100",
        "order": "the study runs fresh samples and compares the four orders on the same datasets itself",
        "condition": "the study runs isotropic features and one ill-conditioned case (kappa = 100) itself",
        "fit_intercept": "the study runs every case with and without a bias itself",
        "theta0": "the study starts every weight at 1 and the bias at 0 (e_0 is part of the measured growth)",
        "noise": "the thresholds and steps to tolerance are for noise-free data",
        "batch_size": "the theory drawn is for per-sample SGD (see the study batch-size)",
        "schedule": "the theory is for a constant learning rate (see the study schedules)",
        "momentum": "the theory is for plain SGD (see the study momentum)",
        "nesterov": "the theory is for plain SGD (see the study momentum)",
        **{
            a: "the population theory is for Gaussian samples without outliers"
            for a in ("outlier_kind", "outlier_frac", "outlier_scale")
        },
    },
    figures=("thresholds", "scaling", "exponent", "orders"),
)
