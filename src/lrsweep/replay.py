"""Every step of one trajectory again, by the node-graph oracle: what a sweep did not record.

A sweep keeps per-trajectory metrics and, for the trajectories it records,
each recorded step's theta, error and loss (:attr:`lrsweep.Results.records`),
not the coordinates of d-feature trajectories. :func:`replay_trajectory`
recomputes every step of one trajectory of a :class:`lrsweep.Results` with the
plain-Python oracle on the row's own dataset (regenerated from its data key, or
the config's arrays), sample order, batch size, schedule and momentum:
:func:`lrsweep.reference_features.run_trajectory_features`, which the kernel
equals bit for bit (and which is :func:`lrsweep.reference.run_trajectory` for
one feature without a bias). :func:`replay_inputs` is that row's set-up,
shared with the studies that replay the seed's trajectory.

Plain Python: about a microsecond per coordinate and step, so it is for a few
trajectories (a run of 500 steps at d = 10 takes a few milliseconds).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ._validation import Described, InstanceOf, Interval, ParameterError, message, validate_params
from .config import DATA_AXES, SweepConfig
from .data import sample_order
from .schedules import multipliers

__all__ = ["replay_inputs", "replay_trajectory"]


def replay_inputs(config: SweepConfig, row: Any) -> dict[str, Any]:
    """The oracle's keyword arguments for one results row, less the data.

    ``order`` (the sample sequence the engine used: the row's shuffled or
    resampled order, or the stream read in order for ``online``), ``lr``,
    ``theta0``, ``epochs``, ``batch_size``, ``lr_multipliers`` (the schedule's
    per-step multipliers, None for a constant lr), ``momentum`` and
    ``nesterov``, as :func:`lrsweep.reference.run_trajectory` and
    :func:`lrsweep.reference_features.run_trajectory_features` take them.
    """
    order = str(row["order"])
    n = int(row["n_samples"]) if config.user_data is None else len(config.user_data[0])
    seq = (np.arange(config.epochs * n) if order == "online"
           else sample_order(order, n, config.epochs, int(row["seed"])))
    bs = int(row["batch_size"])
    per_epoch = -(-n // bs)
    spec = str(row["schedule"])
    mult = (None if spec == "constant" else
            multipliers(spec, config.epochs * per_epoch, per_epoch, config.lr_multipliers))
    return dict(order=seq, lr=float(row["lr"]), theta0=float(row["theta0"]), epochs=config.epochs,
                batch_size=bs, lr_multipliers=mult, momentum=float(row["momentum"]),
                nesterov=bool(row["nesterov"]))


@validate_params({"results": InstanceOf("lrsweep.results.Results", "an lrsweep.Results"),
                  "trajectory_id": Interval("int", 0, 2**62)})
def replay_trajectory(results: Any, trajectory_id: int) -> pd.DataFrame:
    """Every step of one trajectory: its coordinates, error norm and loss, recomputed exactly.

    Parameters
    ----------
    results : lrsweep.Results
        A sweep's results (:func:`lrsweep.sweep`, :func:`lrsweep.load`).
    trajectory_id : int
        The trajectory, in ``[0, n_trajectories)``.

    Returns
    -------
    pandas.DataFrame
        One row per step ``k = 1 ..`` up to the last accepted one (a
        diverged trajectory stops before its ``diverged_step``, like the
        kernel's records): ``step``, the coordinates after the step ``w_0 ..
        w_{d-1}`` (and ``b`` when a bias is learned), ``error`` (the norm
        ``||theta_k - theta_ref||`` of :mod:`lrsweep.metrics`, "In d
        dimensions") and ``loss`` (the step's per-sample or batch loss before
        its update). Where the sweep recorded the trajectory, ``error`` and
        ``loss`` equal its records bit for bit, and the last row's
        coordinates equal :attr:`lrsweep.Results.weights`.

    Raises
    ------
    lrsweep.ParameterError
        ``trajectory_id`` outside the sweep's trajectories (as
        :class:`lrsweep.ParameterTypeError`, also a ``TypeError``, when
        ``results`` is not a Results).

    Examples
    --------
    >>> import lrsweep  # doctest: +SKIP
    >>> cfg = lrsweep.SweepConfig(n_features=2, lr=[0.05, 0.2])  # doctest: +SKIP
    >>> res = lrsweep.sweep(cfg, progress=False)  # doctest: +SKIP
    >>> lrsweep.replay_trajectory(res, 1).tail(2)  # doctest: +SKIP
    """
    from .data import features_dataset_for
    from .reference_features import error_norm, run_trajectory_features

    config = results.config
    if trajectory_id >= config.n_trajectories:
        raise ParameterError(message("trajectory_id", "replay_trajectory",
                                     f"a trajectory id in [0, {config.n_trajectories - 1:,}]",
                                     Described(f"{trajectory_id:,}")))
    row = results.frame.iloc[trajectory_id]
    order = str(row["order"])
    ds = features_dataset_for(config, tuple(row[a] for a in DATA_AXES), order)
    w, b, loss = run_trajectory_features(ds.x, ds.y, fit_intercept=ds.fit_intercept,
                                         **replay_inputs(config, row))
    steps = len(loss) if row["diverged_step"] < 0 else int(row["diverged_step"]) - 1
    theta = np.column_stack([w, b]) if ds.fit_intercept else w
    ref = ds.theta_ref
    cols: dict[str, Any] = {"step": np.arange(1, steps + 1, dtype=np.int64)}
    for c in range(ds.n_features):
        cols[f"w_{c}"] = w[:steps, c]
    if ds.fit_intercept:
        cols["b"] = b[:steps]
    with np.errstate(over="ignore", invalid="ignore"):  # an error far above the bound is inf, not a warning
        cols["error"] = np.array([error_norm(theta[k] - ref) for k in range(steps)], dtype=np.float64)
    cols["loss"] = loss[:steps]
    return pd.DataFrame(cols)
