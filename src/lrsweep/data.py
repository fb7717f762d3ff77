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

The functions here are the NumPy reference. ``sweep`` builds the same bits
faster: :mod:`lrsweep._rng` ports NumPy's ``SeedSequence``, ``PCG64``,
``random``, ``standard_normal``, ``permuted`` and ``integers`` to numba and
generates all ``"gaussian"`` datasets and sample orders of a chunk in one call
(``tests/test_rng.py`` and ``tests/test_data.py`` check them against this module
bit for bit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._validation import Interval, NoneOr, OneOf, validate_params
from .config import AXES, DATA_KINDS, ORDERS, SETTINGS, SweepConfig

__all__ = ["Dataset", "make_dataset", "sample_order"]

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
    """The dataset of one data key of ``config`` (``key`` in ``DATA_AXES`` order)."""
    if config.user_data is not None:
        return user_dataset(*config.user_data)
    seed, n, x_scale, noise, kind_out, frac, scale = key
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
