r"""Exact noise-free predictions for every trajectory of a results frame.

The bridge between the theory of one dataset (:mod:`lrsweep.theory.dataset`,
and for mini-batches, momentum, schedules and d features
:mod:`~lrsweep.theory.batches`, :mod:`~lrsweep.theory.momentum`,
:mod:`~lrsweep.theory.schedules`, :mod:`~lrsweep.theory.features`) and a
sweep: each row's dataset is regenerated from its data key exactly as the
engine does, and ``S`` and the overshoot count are evaluated on it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .._validation import Array, Described, InstanceOf, ParameterError, message, validate_params
from ..config import DATA_AXES
from ..schedules import multipliers
from ._common import _ldexp, _log_abs_one_minus, _log_abs_one_minus_scaled
from .batches import Features, _batch_log_multiplier, _batch_overshoot_count
from .dataset import _count_steps_beyond, _epoch_log_multiplier
from .features import _design, _growth, _projectors
from .momentum import _epoch_growth as _momentum_growth
from .schedules import _schedule_reduce

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    from numpy.typing import NDArray

__all__ = ["trajectory_predictions"]

#: The ``lr`` column of ``frame``, checked like the ``lr`` of the other functions.
_LR_COLUMN = Array(0.0, math.inf, "left", ndim=(1,), nonempty=False,
                   what="a frame whose 'lr' column is an array")

#: Axis columns of a results frame that decide the dataset, in the order of a data key.
_DATA_COLUMNS = DATA_AXES
#: Largest ``2 lr max ||z||^2`` at which :func:`~lrsweep.theory.feature_epoch_growth` is evaluated
#: (its documented range: one factor's entries must stay far from overflow).
_MAX_FACTOR = 1e300
#: Most floats of one stacked product (datasets x learning rates x p x p): about 32 MB.
_STACK_ELEMENTS = 1 << 22


@validate_params({
    "frame": InstanceOf("pandas.DataFrame", "a pandas.DataFrame"),
    "config": InstanceOf("lrsweep.config.SweepConfig", "an lrsweep.SweepConfig"),
})
def trajectory_predictions(frame: Any, config: Any) -> Any:
    r"""Exact noise-free predictions for every trajectory of a results frame.

    For each row (one trajectory: a dataset, a sample order, an optimizer and
    a learning rate) the theory of its kind of run is evaluated on the row's
    *own* dataset, regenerated from its data key exactly as the engine does
    (:func:`lrsweep.make_dataset` or, with more than one feature or a bias,
    :func:`lrsweep.data.features_dataset_for`, with the config's ``coef``,
    ``coefficients``, ``intercept`` and ``data`` kind, or the config's user
    arrays). Rows for which no exact per-dataset theory exists get ``S =
    NaN`` (Notes lists which).

    Parameters
    ----------
    frame : pandas.DataFrame
        A results frame (:attr:`lrsweep.Results.frame`) or any frame with its
        ``lr`` and ``order`` columns, the data-axis columns ``seed``,
        ``n_samples``, ``x_scale``, ``noise``, ``outlier_kind``,
        ``outlier_frac``, ``outlier_scale``, ``n_features``, ``condition``,
        ``fit_intercept`` and the optimizer columns ``batch_size``,
        ``momentum``, ``nesterov``, ``schedule``. A column may be missing when
        the config has a single value for that axis; with user data only
        ``fit_intercept`` of the data axes is read (the arrays give the rest).
    config : lrsweep.SweepConfig
        The configuration that produced the frame (for ``epochs``, ``coef``,
        ``coefficients``, ``intercept``, ``data``, ``lr_multipliers`` and the
        user arrays).

    Returns
    -------
    pandas.DataFrame
        Indexed like ``frame``, with columns (for per-sample SGD with a
        constant learning rate and one feature; the other rows in Notes)

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
            repeated epochs diverge). False where ``S`` is NaN.
        ``predicted_sign_changes`` : int64
            ``epochs * overshoot_count(x, lr)`` (:func:`~lrsweep.theory.dataset.overshoot_count`), the
            number of steps whose multiplier ``1 - 2 lr x_i^2`` is negative;
            for ``online`` the count over the whole stream. Exact for the
            kernel's ``sign_changes`` with the ``fixed``, ``shuffle`` and
            ``online`` orders on noise-free data while ``|e|`` stays above the
            kernel's sign floor and below its divergence bound; the
            expectation for ``replacement``. -1 where there is no exact count.
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
    **Other optimizers and d features.** An epoch multiplies the error by a
    product of per-step factors; where that product is the same every epoch
    (``fixed`` order) or known per epoch (``online``), or the whole run is a
    known sum, the columns are filled as follows (``B`` the batch size,
    ``beta`` the momentum; ``nesterov`` matters only with ``beta > 0``):

    * One feature, ``B > 1``, constant lr, ``beta = 0``: ``S`` is
      :func:`~lrsweep.theory.batch_log_multiplier` ``S_B`` (each batch a
      factor ``1 - 2 lr c_k``, ``c_k`` its mean of ``x^2``) and the sign
      changes are ``epochs`` times the batches with ``2 lr c_k > 1``, both
      exact as above, for ``fixed`` and (per epoch of the stream, averaged /
      summed) ``online``; ``predicted_growth_rate = S``.
    * One feature, ``beta > 0``, constant lr, ``fixed``: ``S`` is
      :func:`~lrsweep.theory.momentum_epoch_growth`, ``log rho`` of the
      epoch's product of 2 x 2 matrices; repeated epochs diverge iff ``S >
      0``. ``predicted_growth_rate = S`` is *asymptotic*: the kernel's
      last-epoch change of ``log|e|`` (while ``|e|`` stays within its floor
      and bound) tends to it as epochs grow (the second eigenvalue's share
      decays like ``|lambda_2 / lambda_1|^epochs``), and for a complex pair
      of eigenvalues only its average over epochs does.
      No exact sign-change count (the sign of ``e`` depends on the velocity
      too): -1.
    * One feature, a schedule other than ``constant``, ``beta = 0``, ``fixed``
      (any ``B``): the run is the exact sum
      :func:`~lrsweep.theory.schedule_log_growth` over its steps
      (``lr * m_t`` per step, the multipliers the engine uses). ``S`` is
      that sum divided by ``epochs`` (the per-epoch average, as for
      ``online``: ``log|e_K| - log|e_0| = epochs * S``),
      ``predicted_growth_rate`` the same sum over the last epoch's steps
      alone (exact for the kernel's ``growth_rate`` under the same floor and
      bound conditions), ``predicted_sign_changes`` the steps with ``2 lr m_t
      c_k > 1`` (exact as above).
    * More than one feature or a learned bias (issue 15), ``beta = 0``,
      constant lr, ``fixed`` (any ``B``): the error ``e`` (over ``w`` and
      ``b``) obeys ``e <- (I - 2 lr/B_k sum z z^T) e`` per step (``z = x`` or
      ``(x, 1)``); ``S`` is :func:`~lrsweep.theory.feature_epoch_growth`,
      ``log rho(M)`` of the epoch product ``M`` (on the span of the
      samples), and repeated epochs diverge iff ``S > 0``.
      ``predicted_growth_rate = S`` is asymptotic as for momentum (the
      kernel's ``growth_rate`` is on ``log ||e||``, with the same floor and
      bound conditions). No exact sign-change count (``e_k . e_{k-1} < 0``
      depends on the direction of ``e``, not only on the data): -1.
      Learning rates with ``2 lr max ||z||^2 >= 1e300`` (beyond that
      function's range) get NaN.

    Every other row gets ``S = NaN``, ``predicted_diverges = False``,
    ``predicted_sign_changes = -1``, ``predicted_growth_rate = NaN``:

    * ``shuffle`` or ``replacement`` with ``B > 1``, momentum, a schedule or
      d features, and ``online`` with momentum, a schedule or d features:
      each epoch multiplies by its own product (other batches, matrices
      that do not commute in another order, or its own learning rates), so
      there is no single exact value per dataset;
    * momentum with a schedule, and d features with momentum or a schedule
      (any order): no exact per-dataset theory in :mod:`lrsweep.theory`.

    **Grouping and cost.** Rows are grouped by data key (and by ``online``,
    whose dataset is the stream), each dataset is generated once (d-feature
    datasets only when some row can use them), and each quantity is
    evaluated for the distinct learning rates of a group (and optimizer) in
    one vectorised call, so a frame of 1e5 rows over a few thousand datasets
    takes well under a second plus the data generation. The epoch products
    of momentum and d-feature rows cost ``n_b`` NumPy steps per call, so
    their datasets are stacked (same shape, optimizer and learning rates:
    in a sweep, every seed) and evaluated together: about 1.3 s for 1.4e5
    rows on 600 datasets (two batch sizes, three momenta, both updates, 20
    learning rates), 3.4 s for 1e5 rows, three quarters of them on 1800
    datasets of 5 features or a bias (n <= 100, data generation included).
    A stack takes the mantissa-exponent path of
    :func:`~lrsweep.theory.momentum_epoch_growth` as soon as one of its
    datasets needs it (extreme ``x`` or ``lr``), which can move the others'
    last bits.

    **Noise.** With noise or response outliers the recursion is affine
    (``e <- m_i e + q_i``): ``S`` still decides divergence (deviations from
    the fixed point contract or grow by ``exp(S)`` per epoch) but the
    sign-change count is no longer exact.

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

    from ..data import features_dataset_for, make_dataset

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
    # The order and optimizer of every row (issue 15's axes are data axes, read with the data key below).
    opt = _optimizer_columns(column)
    order_col = opt.order
    online = np.asarray(order_col == "online", dtype=bool)
    plain = opt.plain
    n_rows = len(frame)
    s_out = np.full(n_rows, np.nan)
    sc_out = np.full(n_rows, -1, dtype=np.int64)
    g_out = np.full(n_rows, np.nan)
    stacks = _Stacks()

    if user is not None:  # one dataset, with or without a learned bias
        keys = [column("fit_intercept")]
        group = np.asarray(keys[0], dtype=bool).astype(np.int64)
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
        features = False
        if user is not None:
            bias = bool(keys[0][r0])
            key = tuple(bias if a == "fit_intercept" else config.axes[a][0] for a in _DATA_COLUMNS)
            seed, n, x_scale, noise, kind, frac, scale, d, _kappa, _ = key
            features = int(d) > 1 or bias
            x = user[0]  # only x matters (user_dataset would also fit theta_ref)
        else:
            key = tuple(k[r0] for k in keys)
            seed, n, x_scale, noise, kind, frac, scale, d, _kappa, bias = key
            features = int(d) > 1 or bool(bias)
        if user is None or features:
            if features:  # d features: only fixed order, plain SGD or batches (see Notes)
                todo = rows[(order_col[rows] == "fixed") & (opt.beta[rows] == 0.0) & opt.constant[rows]]
                if todo.size == 0:
                    continue
                with np.errstate(over="ignore", invalid="ignore"):
                    x = features_dataset_for(config, key, "fixed").x
            else:
                # only x is used: y and the least-squares theta_ref may overflow for extreme
                # x_scale, coef or noise without touching it
                with np.errstate(over="ignore", invalid="ignore"):
                    x = make_dataset(
                        int(seed), int(n), x_scale=float(x_scale), noise=float(noise),
                        outlier_frac=float(frac), outlier_scale=float(scale), outlier_kind=str(kind),
                        coef=config.coef, intercept=config.intercept, kind=config.data,
                        online_epochs=epochs if stream else None,
                    ).x
        x = np.asarray(x, dtype=np.float64)
        if not np.isfinite(x).all():
            allowed = "a config whose datasets are finite (x_scale * outlier_scale * |z| overflows float64)"
            raise ParameterError(message("config", func, allowed, Described(
                f"x_scale={x_scale!r}, outlier_scale={scale!r}, outlier_kind={kind!r}")))
        if features:
            for r in _subgroups(todo, opt.code):  # fixed, constant lr, no momentum: by batch size
                stacks.add(("features", int(opt.batch[r[0]]), bool(bias)), x, r, lr)
            continue
        if plain[rows].any():
            # per-sample SGD, constant lr: every order (S over the group's lrs, as it always was)
            lr_u, inv = np.unique(lr[rows], return_inverse=True)
            s_u = np.asarray(_epoch_log_multiplier(x, lr_u), dtype=np.float64)
            c_u = np.asarray(_count_steps_beyond(x, lr_u, 1.0), dtype=np.int64)  # overshoot_count
            if stream:
                s_u = s_u / epochs  # per-epoch average of the stream; counts are already totals
            else:
                c_u = c_u * epochs
            mine = plain[rows]
            s_out[rows[mine]] = s_u[inv[mine]]
            g_out[rows[mine]] = s_u[inv[mine]]
            sc_out[rows[mine]] = c_u[inv[mine]]
        other = rows[~plain[rows]]
        if other.size:
            _optimizer_rows(x, stream, other, lr, opt, epochs, config.lr_multipliers,
                            s_out, sc_out, g_out, stacks)
    stacks.run(s_out, g_out)
    return pd.DataFrame(
        {
            "S": s_out,
            "predicted_diverges": s_out > 0,
            "predicted_sign_changes": sc_out,
            "predicted_growth_rate": g_out,
        },
        index=frame.index,
    )


class _Optimizer(NamedTuple):
    """The optimizer columns of a frame (and its order), one entry per row."""

    order: NDArray[Any]
    batch: NDArray[np.int64]
    beta: NDArray[np.float64]
    nesterov: NDArray[np.bool_]  # only where beta > 0: with beta = 0 Nesterov's step is plain SGD
    schedule: NDArray[Any]
    constant: NDArray[np.bool_]
    plain: NDArray[np.bool_]  # per-sample SGD with a constant learning rate
    code: NDArray[np.int64]  # one integer per distinct (order, batch, schedule, beta, nesterov)


def _optimizer_columns(column: Callable[[str], NDArray[Any]]) -> _Optimizer:
    import pandas as pd

    order = column("order")
    batch = np.asarray(column("batch_size"), dtype=np.int64)
    beta = np.asarray(column("momentum"), dtype=np.float64)
    nesterov = np.asarray(column("nesterov"), dtype=bool) & (beta > 0.0)
    schedule = np.asarray(column("schedule"), dtype=object)
    constant = np.asarray(schedule == "constant", dtype=bool)
    cols = pd.DataFrame({"order": order, "batch": batch, "schedule": schedule, "beta": beta,
                         "nesterov": nesterov})
    code = cols.groupby(list(cols.columns), sort=False, dropna=False).ngroup().to_numpy(dtype=np.int64)
    return _Optimizer(order, batch, beta, nesterov, schedule, constant,
                      (batch == 1) & constant & (beta == 0.0), code)


def _subgroups(rows: NDArray[np.int64], code: NDArray[np.int64]) -> list[NDArray[np.int64]]:
    """``rows`` split by their optimizer ``code`` (one array per code, in increasing code)."""
    uniq, inv = np.unique(code[rows], return_inverse=True)
    if uniq.size == 1:
        return [rows]
    perm = np.argsort(inv, kind="stable")
    return np.split(rows[perm], np.flatnonzero(np.diff(inv[perm])) + 1)


class _Stacks:
    """Rows whose theory is evaluated for many datasets at once (momentum, d features).

    Their products cost ``O(n_b)`` NumPy calls per evaluation whatever the
    number of datasets, so datasets of one shape, optimizer and set of
    learning rates (in a sweep: every seed) are stacked and evaluated together.
    """

    def __init__(self) -> None:
        self.jobs: dict[tuple, list[tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]]] = {}
        self.lrs: dict[tuple, NDArray[np.float64]] = {}

    def add(self, kind: tuple, x: NDArray[np.float64], rows: NDArray[np.int64],
            lr: NDArray[np.float64]) -> None:
        lr_u, inv = np.unique(lr[rows], return_inverse=True)
        key = (kind, x.shape, lr_u.tobytes())
        self.jobs.setdefault(key, []).append((x, rows, inv))
        self.lrs[key] = lr_u

    def run(self, s_out: NDArray[np.float64], g_out: NDArray[np.float64]) -> None:
        for key, items in self.jobs.items():
            kind, lr_u = key[0], self.lrs[key]
            x = np.stack([item[0] for item in items])
            p = x.shape[-1] + 1 if x.ndim == 3 else 2  # coordinates of the product
            step = max(1, _STACK_ELEMENTS // (lr_u.size * p * p))
            for a in range(0, len(items), step):
                part = x[a:a + step]
                values = _features_growth(part, lr_u, *kind[1:]) if kind[0] == "features" else (
                    _momentum_growth(Features(part, kind[1]), lr_u, np.full(lr_u.size, kind[2]), kind[3]))
                for value, (_, rows, inv) in zip(values, items[a:a + step], strict=True):
                    s_out[rows] = value[inv]
                    g_out[rows] = value[inv]


def _features_growth(x: NDArray[np.float64], lr: NDArray[np.float64], batch: int,
                     bias: bool) -> NDArray[np.float64]:
    """:func:`~lrsweep.theory.feature_epoch_growth` of datasets ``(D, n, d)``, shape ``(D, L)``.

    NaN where ``2 lr max ||z||^2 >= 1e300`` (beyond what the product can hold).
    """
    z = _design(x, bias)
    proj, rank = _projectors(z)
    top = np.square(z).sum(axis=-1).max(axis=-1, initial=0.0)
    ok = 2.0 * lr[None, :] * top[:, None] < _MAX_FACTOR
    out = _growth(z, np.where(ok, lr[None, :], 0.0), batch, proj, rank)
    out[~ok] = np.nan
    return out


def _optimizer_rows(x: NDArray[np.float64], stream: bool, rows: NDArray[np.int64],
                    lr: NDArray[np.float64], opt: _Optimizer, epochs: int, custom: NDArray[np.float64] | None,
                    s_out: NDArray[np.float64], sc_out: NDArray[np.int64], g_out: NDArray[np.float64],
                    stacks: _Stacks) -> None:
    """One feature, not per-sample constant-lr SGD: the rows with an exact theory (Notes).

    Momentum rows go to ``stacks``.
    """
    n = x.size // epochs if stream else x.size
    for r in _subgroups(rows, opt.code):
        r0 = int(r[0])
        o, batch, spec = opt.order[r0], int(opt.batch[r0]), opt.schedule[r0]
        beta, nesterov = opt.beta[r0], opt.nesterov[r0]
        lr_u, inv = np.unique(lr[r], return_inverse=True)
        growth = count = None
        if beta == 0.0 and spec == "constant" and o == "fixed":  # mini-batches: S_B
            s = np.asarray(_batch_log_multiplier(x, lr_u, batch), dtype=np.float64)
            count = epochs * np.asarray(_batch_overshoot_count(x, lr_u, batch), dtype=np.int64)
        elif beta == 0.0 and spec == "constant" and stream:  # mini-batches of each epoch's fresh samples
            xs = x.reshape(epochs, n)
            s = np.asarray(_batch_log_multiplier(xs, lr_u, batch), dtype=np.float64).sum(axis=0) / epochs
            count = np.asarray(_batch_overshoot_count(xs, lr_u, batch), dtype=np.int64).sum(axis=0)
        elif beta > 0.0 and spec == "constant" and o == "fixed":  # momentum: log rho of the 2 x 2 product
            stacks.add(("momentum", batch, float(beta), bool(nesterov)), x, r, lr)
            continue
        elif beta == 0.0 and o == "fixed":  # a schedule: exact sums over the run and its last epoch
            per_epoch = -(-n // batch)
            m = multipliers(str(spec), epochs * per_epoch, per_epoch, custom)
            total, count = _schedule_sums(x, lr_u, m, batch)
            growth, _ = _schedule_sums(x, lr_u, m[-per_epoch:], batch, count=False)
            s = total / epochs
        else:  # the product changes from epoch to epoch (Notes): nothing exact per dataset
            continue
        s_out[r] = s[inv]
        g_out[r] = (s if growth is None else growth)[inv]
        if count is not None:
            sc_out[r] = count[inv]


def _schedule_sums(x: NDArray[np.float64], lr: NDArray[np.float64], m: NDArray[np.float64], batch: int,
                   count: bool = True) -> tuple[NDArray[np.float64], NDArray[np.int64] | None]:
    """:func:`~lrsweep.theory.schedule_log_growth` of one dataset and the count of overshooting steps.

    Learning rates in blocks so that ``lr * m_t`` stays below ``2**22`` floats.
    """
    growth = np.empty(lr.size)
    over = np.empty(lr.size, dtype=np.int64) if count else None
    step = max(1, (1 << 22) // max(m.size, 1))
    for a in range(0, lr.size, step):
        part = lr[a:a + step]
        growth[a:a + step] = _schedule_reduce(
            x[None], part, m, batch, lambda v: _log_abs_one_minus(v).sum(axis=-1),
            lambda w, k: _log_abs_one_minus_scaled(w, k).sum(axis=-1), np.float64)[0]
        if over is not None:
            over[a:a + step] = _schedule_reduce(
                x[None], part, m, batch, lambda v: np.count_nonzero(v > 1.0, axis=-1),
                lambda w, k: np.count_nonzero(_ldexp(w, k) > 1.0, axis=-1), np.int64)[0]
    return growth, over
