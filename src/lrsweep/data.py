"""Datasets and sample orders: pure, documented functions of their keys.

A dataset is a pure function of its *data key* (seed, n_samples, x_scale,
noise, outlier kind, fraction and scale, coefficients): the same key gives the
same bits whatever else is in the grid, the chunk size, the thread count or
the machine. Everything is reproducible with plain NumPy:

``data="gaussian"`` (default), for ``m`` samples::

    z  = np.random.default_rng([seed, 0]).standard_normal(m)   # stream 0: x
    x  = x_scale * z
    u  = np.random.default_rng([seed, 2]).random(m)            # stream 2: outliers
    out = np.sort(np.argsort(u, kind="stable")[:k])            # k = floor(frac*m + 1/2)
    x[out] *= outlier_scale                                    # leverage only
    y  = coef * x + intercept + noise * np.random.default_rng([seed, 1]).standard_normal(m)
    y[out] += outlier_scale * sqrt((coef*x_scale)**2 + noise**2)  # response only

Each quantity has its own stream, so for one seed the dataset of n samples is
a prefix of the dataset of N > n samples (x and noise; the outlier choice
depends on n by construction). ``data="lecture"`` reproduces the seed's
generator exactly, the lecture's legacy global-state calls
(lecture: ``np.random.seed(seed); x = np.random.normal(0, x_scale, (m, 1))``,
then lecture: ``noise_z = np.random.normal(0, 1, (m, 1))``), done with a
private ``RandomState``, never NumPy's global state.

Leverage outliers are points with a large x *on* the regression line (plus
noise): they change the stability of SGD (the epoch multiplier), not the
least-squares fit. Response outliers keep x and shift y by ``outlier_scale``
population standard deviations of y: they make theta jump and move the fit,
but cannot cause divergence.

Sample orders (how step k = 0, 1, ... picks its sample index ``i(k)``):
``fixed`` ``i = k mod n``; ``shuffle`` a fresh permutation per epoch from
``np.random.default_rng([seed, 3]).permuted(np.tile(np.arange(n), (epochs, 1)),
axis=1).ravel()``; ``replacement`` ``np.random.default_rng([seed, 3]).integers(0,
n, epochs * n)``; ``online`` a fresh sample every step: the dataset has
``epochs * n`` samples used once each in order, and ``n`` only sets the epoch
length. Trajectories with the same seed see the same stream.

``make_features_dataset`` (d features, y = w . x + b) generalises the recipe;
with ``n_features=1``, no bias and no explicit scales it gives exactly the bits
of ``make_dataset`` (``x[:, 0]``, ``y`` and ``w_ref[0] == theta_ref``)::

    s  = x_scale * r                # r_j = kappa ** (j / (2 (d - 1))) (condition kappa; r = [1.0] if
                                    # d == 1), or the given feature_scales: feature j has SD s_j
    z  = np.random.default_rng([seed, 0]).standard_normal(m * d).reshape(m, d)   # row-major
    x  = z * s                      # (m, d); the first n rows of m > n samples are the n-sample x
    x[out, :] *= outlier_scale      # leverage: whole rows (same out as above, stream 2)
    y  = a[0] * x[:, 0]             # a = coefficients, default np.full(d, coef)
    for j in range(1, d):           # left to right, elementwise: the same bits on every machine
        y = y + a[j] * x[:, j]      # (x @ a through BLAS may round the last bit differently)
    y  = y + intercept + noise * np.random.default_rng([seed, 1]).standard_normal(m)
    y[out] += outlier_scale * sqrt(var)   # response; var = sum_j (a[j] * s[j]) ** 2 (summed left to
                                          # right from 0.0) + noise ** 2: the population variance of y

``kind="lecture"`` follows the lecture's ``dataset_generator`` with
``feature_dim = d``: a private legacy ``RandomState(seed)`` (seeded as the
lecture's global ``np.random.seed(seed)`` call is) draws ``x = normal(0, s, (m, d))`` (per-feature SDs
broadcast along rows; row-major) and then ``noise_z = normal(0, 1, (m, 1))``;
y as above. The sample orders do not depend on d.

Reference solution: ``(w_ref, b_ref)`` is the least-squares fit of
``y ~ x w (+ b)``, ``numpy.linalg.lstsq`` (SVD, ``rcond=None``) on ``x`` (with a
column of ones appended when ``fit_intercept``; without, ``b_ref = 0`` and no
column of ones). When that matrix has rank below its column count (``n < d``,
``n < d + 1`` with a bias, repeated or zeroed rows) the fit is not unique and
lstsq returns the *minimum-norm* solution (of ``(w, b)`` together), the one
SGD from zero reaches; ``d = 1`` without a bias keeps today's formula
``sum(x y) / sum(x x)`` (0 if x = 0, which is the minimum-norm fit too). For an
``online`` stream the reference is the population fit: ``w_ref = a`` and
``b_ref = intercept`` (0 without a bias; E x = 0, so w_ref = a either way).

The functions here are the NumPy reference. ``sweep`` builds the same bits
faster: :mod:`lrsweep._rng` ports NumPy's ``SeedSequence``, ``PCG64``,
``random``, ``standard_normal``, ``permuted`` and ``integers`` to numba and
generates all ``"gaussian"`` datasets and sample orders of a chunk in one call
(``tests/test_rng.py`` and ``tests/test_data.py`` check them against this module
bit for bit).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._validation import (
    Array,
    Boolean,
    Described,
    Interval,
    NoneOr,
    OneOf,
    ParameterError,
    message,
    validate_params,
)
from .config import AXES, DATA_KINDS, MAX_CONDITION, MAX_SCALE, ORDERS, SETTINGS, SweepConfig

__all__ = ["Dataset", "FeaturesDataset", "make_dataset", "make_features_dataset", "sample_order"]

STREAM_X, STREAM_NOISE, STREAM_OUTLIER, STREAM_ORDER = 0, 1, 2, 3


@dataclass(frozen=True, eq=False)
class Dataset:
    """One dataset: samples, the least-squares reference and the outliers.

    Attributes
    ----------
    x, y : ndarray of float64, shape (m,)
        Samples (read-only).
    theta_ref : float
        Reference theta for the error ``e = theta - theta_ref``: the
        least-squares fit ``sum(x*y) / sum(x*x)`` of this dataset (0 if all
        x are 0), or, for an ``online`` stream, the population fit ``coef``.
    outliers : ndarray of int64
        Sorted indices of the outlier samples.
    """

    x: np.ndarray
    y: np.ndarray
    theta_ref: float
    outliers: np.ndarray

    def __len__(self) -> int:
        return len(self.x)


def least_squares(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of ``y ~ theta * x`` (no intercept); 0 if ``x == 0``."""
    sxx = float(np.dot(x, x))
    return float(np.dot(x, y)) / sxx if sxx > 0 else 0.0


def _outlier_index(seed: int, m: int, frac: float) -> np.ndarray:
    k = math.floor(frac * m + 0.5)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    u = np.random.default_rng([seed, STREAM_OUTLIER]).random(m)
    return np.sort(np.argsort(u, kind="stable")[:k]).astype(np.int64)


@validate_params({
    **{name: AXES[name][0] for name in ("seed", "n_samples", "x_scale", "noise", "outlier_frac",
                                        "outlier_scale", "outlier_kind")},
    "coef": SETTINGS["coef"][0],
    "intercept": SETTINGS["intercept"][0],
    "kind": OneOf(DATA_KINDS),
    "online_epochs": NoneOr(Interval("int", 1, 2**62, "both")),
})
def make_dataset(
    seed: int = 0,
    n_samples: int = 100,
    *,
    x_scale: float = 1.0,
    noise: float = 0.0,
    outlier_frac: float = 0.0,
    outlier_scale: float = 10.0,
    outlier_kind: str = "leverage",
    coef: float = 5.0,
    intercept: float = 0.0,
    kind: str = "gaussian",
    online_epochs: int | None = None,
) -> Dataset:
    """Generate the dataset of one data key (see the module docstring).

    Parameters
    ----------
    seed, n_samples, x_scale, noise, outlier_frac, outlier_scale, outlier_kind
        The data axes of :class:`~lrsweep.SweepConfig`, with the same constraints.
    coef, intercept : float
        True slope and intercept.
    kind : {"gaussian", "lecture"}
        Generator: NumPy's default generator keyed by ``[seed, stream]``, or the
        seed's legacy generator (the lecture's ``np.random.seed(seed)``).
    online_epochs : int, optional
        For ``order="online"``: generate a stream of ``online_epochs * n_samples``
        fresh samples whose reference is the population fit ``coef``.

    Returns
    -------
    Dataset

    Examples
    --------
    The seed's dataset (lecture generator, seed 0, y = 5x):

    >>> ds = make_dataset(0, 100, kind="lecture")
    >>> ds.x.shape, float(ds.theta_ref)
    ((100,), 5.0)
    """
    # Validated (by the decorator) with the constraint tables of SweepConfig.
    return _generate(seed, n_samples, float(x_scale), float(noise), outlier_kind, float(outlier_frac),
                     float(outlier_scale), float(coef), float(intercept), kind, online_epochs)


def _generate(seed, n, x_scale, noise, kind_out, frac, scale, coef, intercept, kind, online_epochs):
    m = n if online_epochs is None else n * online_epochs
    if kind == "lecture":
        # lecture mode: legacy Mersenne Twister seeded like the lecture's np.random.seed(seed).
        legacy = np.random.RandomState(seed)
        x = legacy.normal(0, x_scale, size=(m, 1))[:, 0].copy()
        z = legacy.normal(0, 1, size=(m, 1))[:, 0].copy()
    else:
        x = x_scale * np.random.default_rng([seed, STREAM_X]).standard_normal(m)
        z = np.random.default_rng([seed, STREAM_NOISE]).standard_normal(m)
    out = _outlier_index(seed, m, frac) if frac > 0 else np.zeros(0, dtype=np.int64)
    if kind_out == "leverage" and out.size:
        x[out] *= scale
    y = coef * x + intercept + noise * z
    if kind_out == "response" and out.size:
        y[out] += scale * math.sqrt((coef * x_scale) ** 2 + noise**2)
    theta_ref = coef if online_epochs is not None else least_squares(x, y)
    x.setflags(write=False)
    y.setflags(write=False)
    out.setflags(write=False)
    return Dataset(x, y, theta_ref, out)


def user_dataset(x: np.ndarray, y: np.ndarray) -> Dataset:
    """Wrap user-supplied arrays (already validated by ``SweepConfig``)."""
    return Dataset(x, y, least_squares(x, y), np.zeros(0, dtype=np.int64))


def dataset_for(config: SweepConfig, key: tuple, order: str) -> Dataset:
    """The dataset of one data key of ``config`` (``key`` in ``DATA_AXES`` order).

    One feature without a bias only (the feature axes at their defaults, or a
    key of the seven one-feature data axes); :func:`features_dataset_for`
    gives every key.
    """
    if config.user_data is not None:
        return user_dataset(*config.user_data)
    seed, n, x_scale, noise, kind_out, frac, scale, *feat = key
    if feat and (feat[0] != 1 or feat[2]):
        raise ValueError(f"dataset_for: a key of {feat[0]} features (fit_intercept={feat[2]}) needs "
                         "features_dataset_for")
    return _generate(seed, n, x_scale, noise, kind_out, frac, scale, config.coef,
                     config.intercept, config.data,
                     config.epochs if order == "online" else None)


@validate_params({"order": OneOf(ORDERS), "n_samples": AXES["n_samples"][0], "epochs": SETTINGS["epochs"][0],
                  "seed": AXES["seed"][0]})
def sample_order(order: str, n_samples: int, epochs: int, seed: int) -> np.ndarray | None:
    """Sample index of every step, or ``None`` where it is implicit.

    Parameters
    ----------
    order : {"fixed", "shuffle", "replacement", "online"}
    n_samples, epochs, seed : int

    Returns
    -------
    ndarray of int32 or int64, shape (epochs * n_samples,), or None
        ``None`` for ``fixed`` (step k uses sample ``k mod n``) and ``online``
        (step k uses sample ``k`` of the stream).
    """
    if order in ("fixed", "online"):
        return None
    dtype = np.int32 if n_samples < 2**31 else np.int64
    rng = np.random.default_rng([seed, STREAM_ORDER])
    if order == "shuffle":
        base = np.broadcast_to(np.arange(n_samples, dtype=dtype), (epochs, n_samples))
        return rng.permuted(base, axis=1).ravel()
    return rng.integers(0, n_samples, size=epochs * n_samples, dtype=dtype)


#: Most features of :func:`make_features_dataset` (the issue asks for 1..64; the kernel's vector
#: state is per lane, so its own limit may be lower).
MAX_FEATURES = 1024


@dataclass(frozen=True, eq=False)
class FeaturesDataset:
    """One dataset of d features: samples, the least-squares reference and the outliers.

    Attributes
    ----------
    x : ndarray of float64, shape (m, d)
        Samples, one row each (read-only, C order).
    y : ndarray of float64, shape (m,)
        Responses (read-only).
    w_ref : ndarray of float64, shape (d,)
        Reference weights: the least-squares fit of this dataset (minimum-norm
        if it is not unique), or the population fit ``coefficients`` for an
        ``online`` stream (see the module docstring).
    b_ref : float
        Reference bias: 0 without ``fit_intercept``.
    outliers : ndarray of int64
        Sorted indices of the outlier rows.
    coefficients : ndarray of float64, shape (d,)
        The true weights ``a``.
    intercept : float
        The true intercept ``b``.
    scales : ndarray of float64, shape (d,)
        The population standard deviation ``s_j`` of each feature (before outliers).
    fit_intercept : bool
        Whether the model learns a bias (and ``b_ref`` is fitted).
    """

    x: np.ndarray
    y: np.ndarray
    w_ref: np.ndarray
    b_ref: float
    outliers: np.ndarray
    coefficients: np.ndarray
    intercept: float
    scales: np.ndarray
    fit_intercept: bool

    def __len__(self) -> int:
        return len(self.y)

    @property
    def n_features(self) -> int:
        """d, the number of features (the bias not counted)."""
        return self.x.shape[1]

    @property
    def theta_ref(self) -> np.ndarray:
        """The reference of the whole parameter vector: ``w_ref``, then ``b_ref`` if a bias is learned."""
        return np.append(self.w_ref, self.b_ref) if self.fit_intercept else self.w_ref.copy()


def least_squares_features(x: np.ndarray, y: np.ndarray, fit_intercept: bool) -> tuple[np.ndarray, float]:
    """Least-squares ``(w, b)`` of ``y ~ x w (+ b)``: minimum-norm when not unique (module docstring)."""
    m, d = x.shape
    if d == 1 and not fit_intercept:
        return np.array([least_squares(np.ascontiguousarray(x[:, 0]), y)]), 0.0
    a = np.hstack([x, np.ones((m, 1))]) if fit_intercept else x
    sol = np.linalg.lstsq(a, y, rcond=None)[0]
    return (sol[:d].copy(), float(sol[d])) if fit_intercept else (sol, 0.0)


def _feature_scales(d, x_scale, condition, feature_scales):
    if feature_scales is not None:
        if condition != 1.0:
            got = Described(f"feature_scales together with condition={condition!r}")
            raise ParameterError(message("condition", "make_features_dataset",
                                         "1.0 when feature_scales is given", got))
        if feature_scales.shape != (d,):
            got = Described(f"{feature_scales.size} scales")
            raise ParameterError(message("feature_scales", "make_features_dataset",
                                         f"None or one scale per feature ({d})", got))
        r, name = feature_scales, "feature_scales"
    elif d == 1:
        r, name = np.ones(1), "condition"
    else:
        r, name = np.array([condition ** (j / (2 * (d - 1))) for j in range(d)]), "condition"
    s = x_scale * r
    if s.max() > MAX_SCALE:
        got = Described(f"a feature standard deviation of {s.max()!r}")
        raise ParameterError(message(name, "make_features_dataset",
                                     f"such that every x_scale * scale is at most {MAX_SCALE:g}", got))
    return s


@validate_params({
    **{name: AXES[name][0] for name in ("seed", "n_samples", "x_scale", "noise", "outlier_frac",
                                        "outlier_scale", "outlier_kind")},
    "n_features": Interval("int", 1, MAX_FEATURES),
    "condition": Interval("float", 1, MAX_CONDITION),
    "feature_scales": NoneOr(Array(0, MAX_SCALE, "right", ndim=(1,), what="a 1-D array")),
    "coefficients": NoneOr(Array(ndim=(1,), what="a 1-D array")),
    "coef": SETTINGS["coef"][0],
    "intercept": SETTINGS["intercept"][0],
    "fit_intercept": Boolean(),
    "kind": OneOf(DATA_KINDS),
    "online_epochs": NoneOr(Interval("int", 1, 2**62, "both")),
})
def make_features_dataset(
    seed: int = 0,
    n_samples: int = 100,
    n_features: int = 1,
    *,
    x_scale: float = 1.0,
    condition: float = 1.0,
    feature_scales: Sequence[float] | np.ndarray | None = None,
    coefficients: Sequence[float] | np.ndarray | None = None,
    coef: float = 5.0,
    intercept: float = 0.0,
    fit_intercept: bool = False,
    noise: float = 0.0,
    outlier_frac: float = 0.0,
    outlier_scale: float = 10.0,
    outlier_kind: str = "leverage",
    kind: str = "gaussian",
    online_epochs: int | None = None,
) -> FeaturesDataset:
    """Generate the d-feature dataset of one data key (the recipe is in the module docstring).

    Parameters
    ----------
    seed, n_samples, x_scale, noise, outlier_frac, outlier_scale, outlier_kind
        As in :func:`make_dataset`. Leverage outliers scale whole rows of x;
        response outliers shift y by ``outlier_scale`` population SDs of y,
        ``sqrt(sum_j (a_j s_j)^2 + noise^2)``.
    n_features : int
        d, in ``[1, 1024]``.
    condition : float
        kappa in ``[1, 1e16]``: feature j has standard deviation
        ``x_scale * kappa ** (j / (2 (d - 1)))``, so the population covariance
        has eigenvalues spread geometrically from ``x_scale^2`` to
        ``kappa x_scale^2``; 1 (default) is isotropic. No effect when d = 1.
    feature_scales : array_like of float, shape (d,), optional
        Explicit relative SDs instead of ``condition`` (feature j has SD
        ``x_scale * feature_scales[j]``).
    coefficients : array_like of float, shape (d,), optional
        The true weights ``a``, ``|a_j| <= 1e30``; default every ``a_j = coef``
        (so d = 1 is the seed's y = 5x, and each feature contributes equally).
    coef, intercept : float
        The default weight of every feature, and the true intercept b.
    fit_intercept : bool
        Fit a bias in the reference (``b_ref``); without it ``b_ref = 0``.
    kind : {"gaussian", "lecture"}
        NumPy's default generator keyed by ``[seed, stream]``, or the lecture's
        legacy generator.
    online_epochs : int, optional
        A stream of ``online_epochs * n_samples`` fresh samples whose reference
        is the population fit.

    Returns
    -------
    FeaturesDataset

    Examples
    --------
    >>> ds = make_features_dataset(0, 50, 3, condition=100.0)
    >>> ds.x.shape, ds.w_ref.round(12).tolist(), ds.b_ref
    ((50, 3), [5.0, 5.0, 5.0], 0.0)
    """
    owner = "make_features_dataset"
    d = n_features
    scales = _feature_scales(d, float(x_scale), float(condition), feature_scales)
    if coefficients is None:
        a = np.full(d, float(coef))
    else:
        a = np.array(coefficients, dtype=np.float64)
        if a.shape != (d,):
            got = Described(f"{a.size} coefficients")
            raise ParameterError(message("coefficients", owner, f"None or one coefficient per feature ({d})",
                                         got))
        if np.abs(a).max() > MAX_SCALE:
            raise ParameterError(message("coefficients", owner, f"None or values in [-{MAX_SCALE:g}, "
                                         f"{MAX_SCALE:g}]", a[np.abs(a) > MAX_SCALE][0]))
    m = n_samples if online_epochs is None else n_samples * online_epochs
    if kind == "lecture":
        legacy = np.random.RandomState(seed)  # the lecture's np.random.seed(seed), never the global state
        x = legacy.normal(0, scales, size=(m, d))
        z = legacy.normal(0, 1, size=(m, 1))[:, 0].copy()
    else:
        x = np.random.default_rng([seed, STREAM_X]).standard_normal(m * d).reshape(m, d) * scales
        z = np.random.default_rng([seed, STREAM_NOISE]).standard_normal(m)
    frac, scale = float(outlier_frac), float(outlier_scale)
    out = _outlier_index(seed, m, frac) if frac > 0 else np.zeros(0, dtype=np.int64)
    if outlier_kind == "leverage" and out.size:
        x[out, :] *= scale
    y = a[0] * x[:, 0]
    for j in range(1, d):
        y = y + a[j] * x[:, j]
    y = y + float(intercept) + float(noise) * z
    if outlier_kind == "response" and out.size:
        var = 0.0
        for j in range(d):
            var += (float(a[j]) * float(scales[j])) ** 2
        y[out] += scale * math.sqrt(var + float(noise) ** 2)
    x = np.ascontiguousarray(x)
    if online_epochs is not None:
        w_ref, b_ref = a.copy(), float(intercept) if fit_intercept else 0.0
    else:
        w_ref, b_ref = least_squares_features(x, y, fit_intercept)
    for arr in (x, y, w_ref, out, a, scales):
        arr.setflags(write=False)
    return FeaturesDataset(x, y, w_ref, b_ref, out, a, float(intercept), scales, bool(fit_intercept))


def features_dataset_for(config: SweepConfig, key: tuple, order: str) -> FeaturesDataset:
    """The d-feature dataset of one data key of ``config`` (``key`` in ``DATA_AXES`` order).

    :func:`make_features_dataset` with the key's axes and the config's
    ``coefficients`` (the first d), ``coef``, ``intercept`` and ``data``; for
    the one-feature keys its bits are :func:`dataset_for`'s. User data: the
    config's arrays, ``x`` as ``(n, d)``, with the least-squares reference of
    :func:`least_squares_features` (with a bias if the key's
    ``fit_intercept``; one feature without a bias: :func:`dataset_for`'s bits,
    :func:`least_squares`); its true coefficients, intercept and scales are
    unknown (NaN).
    """
    seed, n, x_scale, noise, kind_out, frac, scale, d, condition, bias = key
    if config.user_data is not None:
        x, y = config.user_data
        x2 = x[:, None] if x.ndim == 1 else x
        w_ref, b_ref = least_squares_features(x2, y, bool(bias))
        nan = np.full(x2.shape[1], np.nan)
        w_ref.setflags(write=False)
        return FeaturesDataset(x2, y, w_ref, b_ref, np.zeros(0, dtype=np.int64), nan, math.nan, nan.copy(),
                               bool(bias))
    d = int(d)
    return make_features_dataset(
        int(seed), int(n), d, x_scale=float(x_scale), condition=float(condition),
        coefficients=config.feature_coefficients(d), intercept=config.intercept, fit_intercept=bool(bias),
        noise=float(noise), outlier_frac=float(frac), outlier_scale=float(scale), outlier_kind=str(kind_out),
        kind=config.data,
        online_epochs=config.epochs if order == "online" else None)
