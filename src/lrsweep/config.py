"""``SweepConfig``: what to sweep, validated once at construction.

Every *axis* (a parameter that may be swept) accepts a scalar or a sequence;
a sequence of k values multiplies the grid by k. *Fixed settings* (epochs,
true coefficients, metric thresholds) apply to every trajectory. The
constraint tables :data:`AXES` and :data:`SETTINGS` are the single source of
truth for what is allowed; the tests generate one violation per entry.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._validation import (
    Array,
    Boolean,
    Constraint,
    Described,
    Interval,
    OneOf,
    ParameterError,
    ParameterTypeError,
    as_axis,
)
from .schedules import ScheduleConstraint

__all__ = ["AXES", "DATA_AXES", "FEATURE_AXES", "LANE_AXES", "OPTIMIZER_AXES", "ORDERS", "OUTLIER_KINDS",
           "SETTINGS", "SweepConfig"]

ORDERS = ("fixed", "shuffle", "replacement", "online")
OUTLIER_KINDS = ("leverage", "response")
INF = math.inf

# Ranges that keep every number a sweep computes finite (no inf or NaN in a
# column documented finite, no overflow warning). Generated x reaches about
# 40 * x_scale * outlier_scale (NumPy's normal draws stay below 40 in
# magnitude), y about |coef| |x| + outlier_scale * sqrt((coef x_scale)^2 +
# noise^2); with every scale at most 1e30, x^2 and y^2 stay below 1e185 and
# their sums over 2**31 samples below 1e195. User data is bounded the same
# way. The least-squares reference obeys |theta_ref x_i| <= sqrt(sum y^2)
# (Cauchy-Schwarz), so with |theta0| <= 1e300 the initial error is finite.
#: Largest x_scale, noise, outlier_scale, |coef| and |intercept|.
MAX_SCALE = 1e30
#: Largest |x| and |y| of user data.
MAX_DATA = 1e90
#: Largest |theta0|.
MAX_THETA0 = 1e300
#: Most samples per dataset (sample orders are int32; such a dataset is 32 GB already).
MAX_SAMPLES = 2**31 - 1
#: Most steps per trajectory: the kernel counts steps in float64, exact below 2**53.
MAX_STEPS = 2**53
#: Most trajectories in a grid (ids are int64, and products with steps must not overflow).
MAX_TRAJECTORIES = 2**62
#: Most features a sweep may have: the kernel keeps d (+ 1 for a bias) coordinates per lane in a
#: scratch buffer of ``(d + 1) * BLOCK_LANES`` float64 per field (issue 15 asks for 1..64).
MAX_FEATURES = 64
#: Largest condition number kappa (feature SDs spread by sqrt(kappa) = 1e8: beyond that float64's
#: 16 digits cannot tell the features apart in a least-squares fit).
MAX_CONDITION = 1e16

#: Sweepable parameters in canonical grid order, outermost first. Trajectory
#: ids enumerate the grid in this order (C order), so the learning rates of
#: one dataset are contiguous: they run as lanes of one kernel block.
AXES: dict[str, tuple[Constraint, Any]] = {
    "seed": (Interval("int", 0, 2**32 - 1), 0),
    "n_samples": (Interval("int", 1, MAX_SAMPLES), 100),
    "x_scale": (Interval("float", 0, MAX_SCALE, "right"), 1.0),
    "noise": (Interval("float", 0, MAX_SCALE), 0.0),
    "outlier_kind": (OneOf(OUTLIER_KINDS), "leverage"),
    "outlier_frac": (Interval("float", 0, 1), 0.0),
    "outlier_scale": (Interval("float", 0, MAX_SCALE), 10.0),
    "n_features": (Interval("int", 1, MAX_FEATURES), 1),
    "condition": (Interval("float", 1, MAX_CONDITION), 1.0),
    "fit_intercept": (Boolean(), False),
    "order": (OneOf(ORDERS), "fixed"),
    "schedule": (ScheduleConstraint(), "constant"),
    "batch_size": (Interval("int", 1, MAX_SAMPLES), 1),
    "nesterov": (Boolean(), False),
    "momentum": (Interval("float", 0, 1, "left"), 0.0),
    "theta0": (Interval("float", -MAX_THETA0, MAX_THETA0), -1.0),
    "lr": (Interval("float", 0, INF, "left"), 0.01),
}
#: Axes that decide the dataset (its *data key*).
DATA_AXES = ("seed", "n_samples", "x_scale", "noise", "outlier_kind", "outlier_frac", "outlier_scale",
             "n_features", "condition", "fit_intercept")
#: The data axes of the d-feature model (issue 15): at their defaults (one feature, isotropic, no
#: bias) a dataset and every trajectory on it are the one-feature model's, bit for bit.
FEATURE_AXES = ("n_features", "condition", "fit_intercept")
#: Axes that only change the optimiser per lane: trajectories differing only in
#: these share a dataset, a sample order, a schedule and a batch size, and run
#: as lanes of one kernel block.
LANE_AXES = ("nesterov", "momentum", "theta0", "lr")
#: The optimizer's axes beyond per-sample SGD with a constant learning rate (their
#: defaults are exactly that): studies whose theory assumes it refuse them.
OPTIMIZER_AXES = ("schedule", "batch_size", "nesterov", "momentum")

#: Fixed settings: constraint and default.
SETTINGS: dict[str, tuple[Constraint, Any]] = {
    "epochs": (Interval("int", 1, MAX_STEPS), 5),
    "coef": (Interval("float", -MAX_SCALE, MAX_SCALE), 5.0),
    "intercept": (Interval("float", -MAX_SCALE, MAX_SCALE), 0.0),
    "tol": (Interval("float", 0, 1, "neither"), 1e-2),
    "diverge_factor": (Interval("float", 1, INF, "neither"), 1e6),
    "sign_floor": (Interval("float", 0, 1, "left"), 1e-10),
    "oscillation_min": (Interval("int", 1, MAX_STEPS), 1),
    "noise_factor": (Interval("float", 0, 1e6, "right"), 3.0),
}

DATA_KINDS = ("gaussian", "lecture")


@dataclass(frozen=True, eq=False)
class SweepConfig:
    """A grid of per-sample SGD trajectories on y = coef*x + intercept + noise.

    Each axis accepts a scalar or a non-empty sequence of distinct values; the
    grid is the Cartesian product of all axes. Trajectory ``i`` of the grid is
    the ``i``-th element of that product in the order of :data:`AXES`
    (``seed`` outermost, ``lr`` innermost).

    Parameters
    ----------
    lr : float or sequence of float
        Learning rate(s), ``>= 0`` (``0`` is a valid control: theta never moves).
    seed : int or sequence of int
        Dataset seed(s) in ``[0, 2**32 - 1]``; keys every random stream of a
        dataset and its sample order (see :func:`lrsweep.make_dataset`).
    n_samples : int or sequence of int
        Samples per dataset, in ``[1, 2**31 - 1]`` (with ``order="online"``: steps
        per epoch).
    noise : float or sequence of float
        Standard deviation of the Gaussian noise added to y, in ``[0, 1e30]``.
    x_scale : float or sequence of float
        Standard deviation of x, in ``(0, 1e30]``.
    outlier_frac : float or sequence of float
        Fraction of samples made outliers, in ``[0, 1]``
        (``round(outlier_frac * n)`` samples).
    outlier_scale : float or sequence of float
        Outlier strength ``s`` in ``[0, 1e30]``: leverage outliers have x
        multiplied by ``s``; response outliers have y shifted by ``s`` times the standard
        deviation of y.
    outlier_kind : {"leverage", "response"} or sequence
        Which kind of outlier.
    theta0 : float or sequence of float
        Initial theta (the seed: ``-1``), ``|theta0| <= 1e300``.
    order : {"fixed", "shuffle", "replacement", "online"} or sequence
        How step k picks its sample: ``fixed`` (0..n-1 every epoch, the
        seed's), ``shuffle`` (a new permutation each epoch), ``replacement``
        (i.i.d. indices), ``online`` (a fresh sample every step).
    epochs : int
        Passes over the data; a trajectory takes ``epochs * n_samples`` steps,
        at most ``2**53`` (the kernel counts steps in float64).
    coef, intercept : float
        True slope ``a`` and intercept ``b`` of the data (the seed: 5 and 0),
        each of magnitude at most ``1e30``.
        The model ``theta * x`` has no intercept, so ``b != 0`` moves the
        least-squares reference away from ``a``.
    data : {"gaussian", "lecture"} or (x, y)
        ``"gaussian"``: x ~ N(0, x_scale^2) from NumPy's default generator,
        keyed by the seed. ``"lecture"``: the seed's legacy generator
        (the lecture's ``np.random.seed(seed); np.random.normal(0, 1, (n, 1))``). A pair ``(x, y)`` of
        real numbers with ``|x|, |y| <= 1e90``, ``x`` of shape ``(n,)`` or ``(n, d)`` (``d <= 64``
        features; ``(n, 1)`` is kept as ``(n,)``) and ``y`` of shape ``(n,)``: your own data. Then
        ``n_samples`` and ``n_features`` are the arrays', ``noise``, ``x_scale``, ``condition``
        and the outlier axes must stay at their defaults, ``order`` may not be ``"online"``, and
        ``fit_intercept`` may be swept (the reference is the least-squares fit, with a bias when
        one is learned).
    tol : float
        Convergence tolerance in ``(0, 1)``, relative to the initial error:
        converged when ``|e|`` stays within ``tol * |e_0|`` for the whole last
        epoch (:class:`lrsweep.metrics.Status`).
    diverge_factor : float
        Divergence bound in ``(1, inf)``: a trajectory diverges when theta is
        not finite or ``|e| > diverge_factor * max(|e_0|, |theta_ref|)`` (at
        most a quarter of float64's largest value, see :mod:`lrsweep.metrics`).
    sign_floor : float
        Sign changes of ``e`` are counted only while ``|e|`` is above
        ``sign_floor * max(|e_0|, |theta_ref|)``, in ``[0, 1)``.
    oscillation_min : int
        Sign changes in the last epoch that make a non-converged trajectory
        ``oscillating`` rather than ``slow``, ``>= 1``.
    noise_factor : float
        A run is at its noise floor (status ``noise_floor``) when the RMS of
        ``e`` over the last epoch is at most ``noise_factor`` times the
        dataset's stationary RMS error (``noise_rms``, :mod:`lrsweep.metrics`),
        in ``(0, 1e6]``.
    schedule : str, Schedule or sequence
        Learning-rate schedule(s): the step uses ``lr * m(t)``
        (:mod:`lrsweep.schedules`, one formula per spelling: ``constant``
        (default), ``step:F:K``, ``exp:G``, ``cosine[:F]``, ``invtime:T0[:C]``,
        ``range:R``, ``warmup:W+S``, ``custom``).
    batch_size : int or sequence of int
        Samples per step, in ``[1, 2**31 - 1]``: a step uses the gradient of
        the mean loss over ``B`` consecutive samples of the epoch's sample
        sequence (the order's), so an epoch has ``ceil(n / B)`` steps and its
        last batch has ``n - B (ceil(n / B) - 1)`` samples. 1 (default) is
        per-sample SGD.
    nesterov : bool or sequence of bool
        With ``momentum > 0``: Nesterov's update instead of heavy ball.
    momentum : float or sequence of float
        ``beta`` in ``[0, 1)``, PyTorch's convention (dampening 0):
        ``v <- beta v + g``, then ``theta <- theta - lr_t v`` (heavy ball) or
        ``theta <- theta - lr_t (g + beta v)`` (Nesterov), ``v_0 = 0``.
        0 (default) is plain SGD.
    n_features : int or sequence of int
        d, the number of features, in ``[1, 64]``: the model is ``y = w . x (+ b)``
        (:func:`lrsweep.make_features_dataset` is the data recipe). 1 (default)
        is the seed's one-weight model, bit for bit.
    condition : float or sequence of float
        kappa in ``[1, 1e16]``: feature j has standard deviation ``x_scale *
        kappa ** (j / (2 (d - 1)))`` (eigenvalues of the population covariance
        spread geometrically from ``x_scale^2`` to ``kappa x_scale^2``); 1
        (default) is isotropic; no effect with one feature.
    fit_intercept : bool or sequence of bool
        Learn a bias ``b`` (a weight on a constant input 1.0, started at 0.0);
        the reference ``(w_ref, b_ref)`` is then the least-squares fit with an
        intercept. False (default): no bias, ``b_ref = 0``.
    coefficients : 1-D array, optional
        The true weights ``a_j`` (``|a_j| <= 1e30``), one per feature of the
        largest ``n_features``; a dataset of ``d`` features uses the first
        ``d``. Default: every ``a_j = coef``.
    lr_multipliers : 1-D array, optional
        The per-step multipliers of ``schedule="custom"`` (finite, ``>= 0``,
        at least as many as the longest run has steps); only with it.
    memory_limit : int, optional
        Bytes a sweep of this config may use: the collected table, the chunks
        in flight and the libraries, as estimated by
        :func:`lrsweep.planner.plan_memory` before the sweep starts (default:
        half the memory available at that time). Not part of the grid: it
        changes neither the results nor the grid hash.

    Raises
    ------
    ParameterError
        (a ``ValueError``) for a value outside what is allowed, naming the
        parameter, what is allowed and the value given.
    ParameterTypeError
        (a ``TypeError``) for a value of the wrong type.
    """

    lr: Any = AXES["lr"][1]
    seed: Any = AXES["seed"][1]
    n_samples: Any = AXES["n_samples"][1]
    noise: Any = AXES["noise"][1]
    x_scale: Any = AXES["x_scale"][1]
    outlier_frac: Any = AXES["outlier_frac"][1]
    outlier_scale: Any = AXES["outlier_scale"][1]
    outlier_kind: Any = AXES["outlier_kind"][1]
    theta0: Any = AXES["theta0"][1]
    order: Any = AXES["order"][1]
    epochs: int = SETTINGS["epochs"][1]
    coef: float = SETTINGS["coef"][1]
    intercept: float = SETTINGS["intercept"][1]
    data: Any = "gaussian"
    tol: float = SETTINGS["tol"][1]
    diverge_factor: float = SETTINGS["diverge_factor"][1]
    sign_floor: float = SETTINGS["sign_floor"][1]
    oscillation_min: int = SETTINGS["oscillation_min"][1]
    noise_factor: float = SETTINGS["noise_factor"][1]
    schedule: Any = AXES["schedule"][1]
    batch_size: Any = AXES["batch_size"][1]
    nesterov: Any = AXES["nesterov"][1]
    momentum: Any = AXES["momentum"][1]
    lr_multipliers: Any = field(default=None, repr=False)
    memory_limit: int | None = None
    n_features: Any = AXES["n_features"][1]
    condition: Any = AXES["condition"][1]
    fit_intercept: Any = AXES["fit_intercept"][1]
    coefficients: Any = field(default=None, repr=False)
    _axes: dict = field(init=False, repr=False, compare=False)
    _cache: dict = field(init=False, repr=False, compare=False, default_factory=dict)  # derived values

    def __post_init__(self) -> None:
        owner = "SweepConfig"
        set_ = object.__setattr__
        axes = {}
        for name, (constraint, _default) in AXES.items():
            axes[name] = as_axis(name, owner, getattr(self, name), constraint)
        for name, (constraint, _default) in SETTINGS.items():
            set_(self, name, constraint.check(name, owner, getattr(self, name)))
        set_(self, "data", self._check_data(self.data, axes))
        if self.user_data is not None:  # the samples and features are the user's
            x = self.data[0]
            axes["n_samples"] = (len(x),)
            axes["n_features"] = (1 if x.ndim == 1 else x.shape[1],)
        set_(self, "lr_multipliers", self._check_multipliers(self.lr_multipliers, axes))
        set_(self, "coefficients", self._check_features(self.coefficients, axes))
        # Store axes as given (scalars stay scalars for repr), tuples internally.
        set_(self, "_axes", axes)
        if self.memory_limit is not None:
            set_(
                self,
                "memory_limit",
                Interval("int", 1, 2**63 - 1).check("memory_limit", owner, self.memory_limit),
            )
        # Products of the axes: step counters and trajectory ids must stay exact.
        steps = self.epochs * max(axes["n_samples"])  # the most steps (batch size 1)
        if steps > MAX_STEPS:
            got = Described(f"{self.epochs:,} epochs of {max(axes['n_samples']):,} samples")
            raise ParameterError(_msg("epochs", f"at most {MAX_STEPS:,} steps per trajectory (epochs * "
                                      "n_samples; the kernel counts steps in float64)", got))
        if math.prod(len(v) for v in axes.values()) > MAX_TRAJECTORIES:
            largest = max(axes, key=lambda a: len(axes[a]))
            got = Described("a grid of " + " x ".join(str(len(v)) for v in axes.values()) + " trajectories")
            raise ParameterError(_msg(largest, "one of axes whose grid has at most 2**62 trajectories", got))

    # ------------------------------------------------------------------ schedule
    def _check_multipliers(self, value: Any, axes: dict) -> np.ndarray | None:
        custom = "custom" in axes["schedule"]
        if value is None:
            if custom:
                raise ParameterError(_msg("lr_multipliers", "a 1-D array of per-step multipliers when "
                                          "schedule 'custom' is swept", None))
            return None
        if not custom:
            raise ParameterError(_msg("lr_multipliers", "None unless schedule 'custom' is swept",
                                      Described("an array")))
        arr = Array(0, 1e15, "both", ndim=(1,), what="a 1-D array").check("lr_multipliers", "SweepConfig",
                                                                           value).copy()
        n = max(axes["n_samples"]) if self.user_data is None else len(self.user_data[0])
        steps = self.epochs * -(-n // min(axes["batch_size"]))
        if arr.size < steps:
            raise ParameterError(_msg("lr_multipliers", f"at least one multiplier per step ({steps:,})",
                                      Described(f"{arr.size:,} multipliers")))
        arr.setflags(write=False)
        return arr

    # -------------------------------------------------------------- features
    def _check_features(self, value: Any, axes: dict) -> np.ndarray | None:
        """The coefficients (None or one per feature of the largest d) and the feature scales' range."""
        d_max = max(axes["n_features"])
        if d_max > 1 and max(axes["condition"]) > 1.0:
            top = max(axes["x_scale"]) * math.sqrt(max(axes["condition"]))
            if top > MAX_SCALE:
                got = Described(f"a feature standard deviation of {top!r} (x_scale * sqrt(condition))")
                raise ParameterError(_msg("condition", f"such that x_scale * sqrt(condition) is at most "
                                          f"{MAX_SCALE:g}", got))
        if value is None:
            return None
        what = f"None or a 1-D array of one coefficient per feature ({d_max})"
        arr = Array(-MAX_SCALE, MAX_SCALE, "both", ndim=(1,), what=what).check(
            "coefficients", "SweepConfig", value).copy()
        if arr.shape != (d_max,):
            raise ParameterError(_msg("coefficients", what, Described(f"{arr.size} coefficients")))
        arr.setflags(write=False)
        return arr

    def feature_coefficients(self, n_features: int) -> np.ndarray:
        """The true weights of a dataset of ``n_features`` features (``coefficients`` or every ``coef``)."""
        if self.coefficients is None:
            return np.full(n_features, float(self.coef))
        return np.array(self.coefficients[:n_features], dtype=np.float64)

    @property
    def has_features(self) -> bool:
        """Whether some trajectory has more than one coordinate (``n_features > 1`` or a bias)."""
        return max(self._axes["n_features"]) > 1 or True in self._axes["fit_intercept"]

    # ------------------------------------------------------------------ data
    @staticmethod
    def _check_data(data: Any, axes: dict) -> Any:
        owner = "SweepConfig"
        allowed = ("'gaussian', 'lecture' or a pair of float arrays (x, y): x of shape (n,) or (n, d) with "
                   f"d <= {MAX_FEATURES} features, y of shape (n,), n >= 1")
        if isinstance(data, str):
            return OneOf(DATA_KINDS).check("data", owner, data)
        if not isinstance(data, Sequence | tuple) or len(data) != 2:
            raise ParameterTypeError(_msg("data", allowed, type(data).__name__))
        # Real numbers only (a complex value would lose its imaginary part, a string of
        # digits be read as a number), finite and within the range that keeps sums finite.
        what = f"a pair (x, y): x of shape (n,) or (n, d), d <= {MAX_FEATURES}, and y of shape (n,)"
        x = Array(-MAX_DATA, MAX_DATA, "both", ndim=(1, 2), what=what).check("data", owner, data[0])
        y = Array(-MAX_DATA, MAX_DATA, "both", ndim=(1,), what=what).check("data", owner, data[1]).copy()
        if x.ndim == 2 and not 1 <= x.shape[1] <= MAX_FEATURES:
            raise ParameterError(_msg("data", what, Described(f"x of shape {x.shape}")))
        # One feature is kept 1-D (the one-feature model's arrays and config, bit for bit).
        x = np.array(x[:, 0] if x.ndim == 2 and x.shape[1] == 1 else x, order="C")  # a C-ordered copy
        if len(x) != len(y) or len(x) == 0:
            raise ParameterError(_msg("data", what + " with as many samples as y, at least one",
                                      Described(f"arrays of shapes {x.shape} and {y.shape}")))
        if len(x) > MAX_SAMPLES:
            got = Described(f"{len(x)} samples")
            raise ParameterError(_msg("data", f"at most {MAX_SAMPLES} samples", got))
        # The generator's axes mean nothing for the user's data (a learned bias does: fit_intercept).
        for name in ("n_samples", "noise", "x_scale", "outlier_frac", "n_features", "condition"):
            if axes[name] != (AXES[name][1],):
                raise ParameterError(
                    _msg(name, "left at its default when data=(x, y) is given", axes[name])
                )
        if "online" in axes["order"]:
            raise ParameterError(
                _msg("order", "'fixed', 'shuffle' or 'replacement' when data=(x, y) is given",
                     "online")
            )
        x.setflags(write=False)
        y.setflags(write=False)
        return (x, y)

    @property
    def user_data(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The user's ``(x, y)`` arrays, or ``None`` for generated data."""
        return None if isinstance(self.data, str) else self.data

    # ------------------------------------------------------------------ grid
    @property
    def axes(self) -> dict[str, tuple]:
        """Every axis as a tuple of its values, in canonical grid order."""
        return dict(self._axes)

    @property
    def swept(self) -> tuple[str, ...]:
        """Names of axes with more than one value."""
        return tuple(k for k, v in self._axes.items() if len(v) > 1)

    @property
    def shape(self) -> tuple[int, ...]:
        """Number of values of each axis, in canonical order."""
        return tuple(len(v) for v in self._axes.values())

    @property
    def n_trajectories(self) -> int:
        """Number of trajectories in the grid."""
        return math.prod(self.shape)

    def axis_array(self, name: str) -> np.ndarray:
        """Values of axis ``name`` as a read-only array (float64 or int64), built once.

        String axes give object arrays. Converting a million-value axis (a
        tuple of Python numbers) takes ~25 ms, so the runner asks here.
        """
        arr = self._cache.get(name)
        if arr is None:
            values = self.axes[name]
            kind = AXES[name][0]
            dtype = bool if isinstance(kind, Boolean) else {"int": np.int64, "float": np.float64}.get(
                getattr(kind, "kind", ""), object)
            arr = np.asarray(values, dtype=dtype)
            arr.setflags(write=False)
            self._cache[name] = arr
        return arr

    def steps(self, n_samples: int) -> int:
        """Steps of a trajectory with ``n_samples`` samples per epoch."""
        return self.epochs * n_samples

    # ------------------------------------------------------------ (de)serialise
    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description (axes as lists, user data as lists)."""
        d: dict[str, Any] = {}
        for name in AXES:
            vals = list(self._axes[name])
            if name in FEATURE_AXES and vals == [AXES[name][1]]:
                continue  # the one-feature model: its configs (and grid hashes) stay as before issue 15
            d[name] = vals
        if self.user_data is not None:  # n_samples and n_features come from the arrays
            d.pop("n_samples")
            d.pop("n_features", None)
            d["data"] = {"x": self.data[0].tolist(), "y": self.data[1].tolist()}
        else:
            d["data"] = self.data
        for name in SETTINGS:
            d[name] = getattr(self, name)
        d["lr_multipliers"] = None if self.lr_multipliers is None else self.lr_multipliers.tolist()
        d["memory_limit"] = self.memory_limit
        if self.coefficients is not None:
            d["coefficients"] = self.coefficients.tolist()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SweepConfig:
        """Inverse of :meth:`to_dict`."""
        kw = dict(d)
        data = kw.get("data", "gaussian")
        if isinstance(data, Mapping):
            kw["data"] = (np.asarray(data["x"], dtype=np.float64), np.asarray(data["y"], dtype=np.float64))
        return cls(**kw)

    def to_json(self) -> str:
        """Canonical JSON of :meth:`to_dict` (sorted keys, exact float repr)."""
        return json.dumps(self.to_dict(), sort_keys=True, allow_nan=False)

    def grid_hash(self) -> str:
        """SHA-256 of the canonical JSON, less settings that do not change results.

        Computed once per (immutable) config: for a million-value axis the JSON
        takes about a second, and checkpoints and tasks ask for it repeatedly.
        """
        h = self._cache.get("grid_hash")
        if h is None:
            d = self.to_dict()
            d.pop("memory_limit", None)
            h = self._cache["grid_hash"] = hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()
        return h

    def replace(self, **changes: Any) -> SweepConfig:
        """A copy with some fields changed (validated again)."""
        kw = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        if self.user_data is not None:
            kw["n_samples"] = AXES["n_samples"][1]
            kw["n_features"] = AXES["n_features"][1]
        kw.update(changes)
        return SweepConfig(**kw)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SweepConfig):
            return NotImplemented
        return self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]


def _msg(name: str, allowed: str, value: object) -> str:
    from ._validation import message

    return message(name, "SweepConfig", allowed, value)


__all__ += ["ParameterError", "ParameterTypeError"]
