r"""Exact noise-free predictions for every trajectory of a results frame.

The bridge between the theory of one dataset (:mod:`lrsweep.theory.dataset`)
and a sweep: each row's dataset is regenerated from its data key exactly as
the engine does, and ``S`` and the overshoot count are evaluated on it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validation import Array, Described, InstanceOf, ParameterError, message, validate_params
from ..config import DATA_AXES
from .dataset import _count_steps_beyond, _epoch_log_multiplier

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import NDArray

__all__ = ["trajectory_predictions"]

#: The ``lr`` column of ``frame``, checked like the ``lr`` of the other functions.
_LR_COLUMN = Array(0.0, math.inf, "left", ndim=(1,), nonempty=False,
                   what="a frame whose 'lr' column is an array")

#: Axis columns of a results frame that decide the dataset, in the order of a data key.
_DATA_COLUMNS = DATA_AXES


@validate_params({
    "frame": InstanceOf("pandas.DataFrame", "a pandas.DataFrame"),
    "config": InstanceOf("lrsweep.config.SweepConfig", "an lrsweep.SweepConfig"),
})
def trajectory_predictions(frame: Any, config: Any) -> Any:
    r"""Exact noise-free predictions for every trajectory of a results frame.

    For each row (one trajectory: a dataset, a sample order and a learning
    rate) the predictions of :mod:`lrsweep.theory.dataset` are
    evaluated on the row's *own* dataset, regenerated from its data key
    exactly as the engine does (:func:`lrsweep.make_dataset` with the
    config's ``coef``, ``intercept`` and ``data`` kind, or the config's user
    arrays).

    Parameters
    ----------
    frame : pandas.DataFrame
        A results frame (:attr:`lrsweep.Results.frame`) or any frame with its
        ``lr`` and ``order`` columns and the data-axis columns ``seed``,
        ``n_samples``, ``x_scale``, ``noise``, ``outlier_kind``,
        ``outlier_frac``, ``outlier_scale``. A data-axis column (or ``order``)
        may be missing when the config has a single value for that axis; with
        user data only ``lr`` and ``order`` are read.
    config : lrsweep.SweepConfig
        The configuration that produced the frame (for ``epochs``, ``coef``,
        ``intercept``, ``data`` and the user arrays).

    Returns
    -------
    pandas.DataFrame
        Indexed like ``frame``, with columns

        ``S`` : float
            :func:`~lrsweep.theory.dataset.epoch_log_multiplier` of the row's dataset at its ``lr``,
            ``sum_i log|1 - 2 lr x_i^2|`` (``-inf`` at a pole). For
            ``order="online"`` every epoch sees fresh samples, so there is no
            dataset multiplier: ``S`` is computed on the row's whole stream
            (``epochs * n_samples`` samples, as the engine generates it) and
            divided by ``epochs``, the per-epoch average of that stream. For
            every order ``log|e_K| - log|e_0| = epochs * S`` holds exactly
            (noise-free, up to rounding) except ``replacement``, where ``S``
            is the expected per-epoch change.
        ``predicted_diverges`` : bool
            ``S > 0``: the error grows over the run (for a dataset order,
            repeated epochs diverge).
        ``predicted_sign_changes`` : int64
            ``epochs * overshoot_count(x, lr)`` (:func:`~lrsweep.theory.dataset.overshoot_count`), the
            number of steps whose multiplier ``1 - 2 lr x_i^2`` is negative;
            for ``online`` the count over the whole stream. Exact for the
            kernel's ``sign_changes`` with the ``fixed``, ``shuffle`` and
            ``online`` orders on noise-free data while ``|e|`` stays above the
            kernel's sign floor and below its divergence bound; the
            expectation for ``replacement``.
        ``predicted_growth_rate`` : float
            Equal to ``S``: the kernel's ``growth_rate`` (change of ``log|e|``
            over the last epoch) for ``fixed`` and ``shuffle`` on noise-free
            data while ``|e|`` stays within the kernel's floor and bound; its
            expectation for ``replacement``; the stream average per epoch for
            ``online`` (whose last epoch fluctuates around it).

    Raises
    ------
    lrsweep.ParameterError
        A ``ValueError``: a needed column is missing (and the config has
        several values for that axis), the ``lr`` column holds a negative or
        non-finite value, or a generated dataset overflows (``x_scale`` times
        a normal draw, or a leverage outlier's ``outlier_scale`` on top,
        beyond the largest float); as :class:`lrsweep.ParameterTypeError` (also a
        ``TypeError``) when ``frame`` is not a DataFrame or ``config`` not a
        :class:`lrsweep.SweepConfig`.

    Notes
    -----
    Rows are grouped by data key (and by ``online``, whose dataset is the
    stream), each dataset is generated once, and S and the overshoot count
    are evaluated for the distinct learning rates of the group in one
    vectorised call, so a frame of 1e5 rows over a few thousand datasets
    takes well under a second plus the data generation. With noise or
    response outliers the recursion is affine (``e <- m_i e + q_i``): ``S``
    still decides divergence (deviations from the fixed point contract or
    grow by ``exp(S)`` per epoch) but the sign-change count is no longer
    exact. Rows with more than one feature or a learned bias (issue 15) get
    ``S = NaN``, ``predicted_diverges = False`` and
    ``predicted_sign_changes = -1``: their epoch is a product of matrices
    whose exact growth is :func:`lrsweep.theory.feature_epoch_growth` (fixed
    order), not a per-sample sum; the frame's columns keep one meaning.

    Examples
    --------
    >>> import numpy as np, lrsweep  # doctest: +SKIP
    >>> cfg = lrsweep.SweepConfig(lr=[0.05, 0.2], seed=range(3), n_samples=20,
    ...                           epochs=2)  # doctest: +SKIP
    >>> res = lrsweep.sweep(cfg, progress=False)  # doctest: +SKIP
    >>> pred = trajectory_predictions(res.frame, cfg)  # doctest: +SKIP
    >>> np.allclose(pred["S"], res.frame["growth_rate"])  # doctest: +SKIP
    True
    """
    import pandas as pd

    from ..data import make_dataset

    func = "trajectory_predictions"
    epochs = int(config.epochs)
    axes = config.axes
    user = config.user_data

    def column(name: str) -> NDArray[Any]:
        if name in frame.columns:
            col = frame[name]
            if isinstance(col.dtype, pd.CategoricalDtype):
                return col.astype(object).to_numpy()
            return col.to_numpy()
        if len(axes[name]) == 1:
            return np.full(len(frame), axes[name][0], dtype=object)
        raise ParameterError(message("frame", func, f"a frame with a {name!r} column (the config sweeps it)",
                                     Described(f"columns {list(frame.columns)}")))

    if "lr" not in frame.columns:
        raise ParameterError(message("frame", func, "a frame with an 'lr' column",
                                     Described(f"columns {list(frame.columns)}")))
    try:
        lr_values = frame["lr"].to_numpy(dtype=np.float64)
    except (TypeError, ValueError):  # not numbers: let the constraint name the dtype
        lr_values = frame["lr"].to_numpy()
    lr = _LR_COLUMN.check("frame", func, lr_values)
    online = np.asarray(column("order") == "online", dtype=bool)
    n_rows = len(frame)
    s_out = np.empty(n_rows)
    sc_out = np.empty(n_rows, dtype=np.int64)

    if user is not None:
        keys: list[NDArray[Any]] = []
        group = np.zeros(n_rows, dtype=np.int64)
    else:
        keys = [column(name) for name in _DATA_COLUMNS]
        key_frame = pd.DataFrame({name: k for name, k in zip(_DATA_COLUMNS, keys, strict=True)})
        key_frame["_online"] = online
        group = key_frame.groupby(list(key_frame.columns), sort=False, dropna=False).ngroup()
        group = group.to_numpy(dtype=np.int64)
    order = np.argsort(group, kind="stable")
    bounds = np.flatnonzero(np.diff(group[order])) + 1
    for rows in np.split(order, bounds):
        if rows.size == 0:
            continue
        r0 = int(rows[0])
        stream = bool(online[r0])
        if user is not None:
            x = user[0]  # only x matters (user_dataset would also fit theta_ref)
        else:
            seed, n, x_scale, noise, kind, frac, scale, d, _kappa, bias = (k[r0] for k in keys)
            if int(d) > 1 or bool(bias):  # d features: no one-feature S (see Notes)
                s_out[rows] = np.nan
                sc_out[rows] = -1
                continue
            # only x is used: y and the least-squares theta_ref may overflow for extreme
            # x_scale, coef or noise without touching it
            with np.errstate(over="ignore", invalid="ignore"):
                x = make_dataset(
                    int(seed), int(n), x_scale=float(x_scale), noise=float(noise),
                    outlier_frac=float(frac), outlier_scale=float(scale), outlier_kind=str(kind),
                    coef=config.coef, intercept=config.intercept, kind=config.data,
                    online_epochs=epochs if stream else None,
                ).x
        lr_u, inv = np.unique(lr[rows], return_inverse=True)
        x = np.asarray(x, dtype=np.float64)
        if not np.isfinite(x).all():
            allowed = "a config whose datasets are finite (x_scale * outlier_scale * |z| overflows float64)"
            raise ParameterError(message("config", func, allowed, Described(
                f"x_scale={x_scale!r}, outlier_scale={scale!r}, outlier_kind={kind!r}")))
        s_u = np.asarray(_epoch_log_multiplier(x, lr_u), dtype=np.float64)
        c_u = np.asarray(_count_steps_beyond(x, lr_u, 1.0), dtype=np.int64)  # overshoot_count
        if stream:
            s_u = s_u / epochs  # per-epoch average of the stream; counts are already totals
        else:
            c_u = c_u * epochs
        s_out[rows] = s_u[inv]
        sc_out[rows] = c_u[inv]
    return pd.DataFrame(
        {
            "S": s_out,
            "predicted_diverges": s_out > 0,
            "predicted_sign_changes": sc_out,
            "predicted_growth_rate": s_out.copy(),
        },
        index=frame.index,
    )
