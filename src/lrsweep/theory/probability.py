r"""Probability that a random Gaussian dataset diverges under repeated epochs.

``S`` of a dataset of ``n`` fresh samples is a sum of ``n`` i.i.d. copies of
``log|1 - 2 lr X^2|`` (mean ``L``, variance ``V``), so by the central limit
theorem ``P(S > 0) ~ Phi(sqrt(n) L / sqrt(V))``
(:func:`divergence_probability`, which also has an exact Monte Carlo mode).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .._validation import (
    Interval,
    NoneOr,
    OneOf,
    ParameterError,
    RandomSource,
    message,
    validate_params,
)
from ._common import _BLOCK_ELEMENTS, _TINY, LR, _scalar_or_array
from .dataset import _epoch_log_multiplier
from .population import _log_moments, _u_of

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import ArrayLike

__all__ = ["DivergenceProbability", "divergence_probability"]


class DivergenceProbability(NamedTuple):
    """Result of :func:`divergence_probability`.

    Attributes
    ----------
    probability : float or ndarray of float
        Probability that a random dataset diverges, ``P(S(lr) > 0)``.
    standard_error : float or ndarray of float
        Monte Carlo standard error ``sqrt(p (1 - p) / n_datasets)``; 0 for
        the (deterministic) normal approximation, whose approximation error
        is not quantified by it.
    """

    probability: Any
    standard_error: Any


_POSITIVE_INT = Interval("int", 1, math.inf, "left")


@validate_params({
    "n": _POSITIVE_INT,
    "lr": LR,
    "x_scale": Interval("float", 0.0, math.inf, "neither"),
    "method": OneOf(("normal", "montecarlo")),
    "n_datasets": _POSITIVE_INT,
    "rng": NoneOr(RandomSource()),
})
def divergence_probability(
    n: int,
    lr: ArrayLike,
    x_scale: float = 1.0,
    method: str = "normal",
    n_datasets: int = 10_000,
    rng: int | np.random.Generator | None = None,
) -> DivergenceProbability:
    r"""Probability that a random Gaussian dataset of ``n`` samples diverges at ``lr``.

    ``P(S(lr) > 0)`` for ``x_1..x_n`` i.i.d. ``N(0, s^2)`` and
    ``S = sum_i log|1 - 2 lr x_i^2|``.

    Parameters
    ----------
    n : int
        Dataset size, ``>= 1``.
    lr : array_like of float
        Learning rates, finite and ``>= 0``.
    x_scale : float, optional
        Standard deviation ``s`` of the feature (default 1), ``> 0``.
    method : {"normal", "montecarlo"}, optional
        ``"normal"`` (default): central limit approximation
        ``S ~ N(n L, n V)`` with ``L`` and ``V`` the mean and variance of
        ``log|1 - 2 lr X^2|`` (:func:`~lrsweep.theory.population.population_log_multiplier`,
        :func:`~lrsweep.theory.population.population_log_multiplier_variance`), giving

        .. math:: P(S > 0) \approx \Phi\!\left(\frac{\sqrt{n}\,L}{\sqrt{V}}\right)

        (0 at ``lr = 0`` where ``S = 0``). The summands have a log-singular
        left tail, so the approximation is poorest far in the tails of
        ``P`` and for small ``n``. ``"montecarlo"``: draw ``n_datasets``
        datasets (the same ones for every ``lr``) and count ``S > 0``.
    n_datasets : int, optional
        Number of Monte Carlo datasets (default 10000).
    rng : int, numpy.random.Generator or None
        Seed or generator for ``"montecarlo"`` (required there: there is no
        silent default); ignored by ``"normal"``.

    Returns
    -------
    DivergenceProbability
        ``(probability, standard_error)``, each a float or an array shaped
        like ``lr``.
    """
    n_, lra, s = n, lr, float(x_scale)  # the default x_scale arrives as given
    if method == "normal":
        from scipy.special import ndtr

        u = _u_of(lra, np.asarray(s)).ravel()
        p = np.zeros(u.size)
        for i, v in enumerate(u):
            if v > 0:
                m1, m2 = _log_moments(float(v))
                var = max(m2 - m1 * m1, _TINY)
                p[i] = ndtr(math.sqrt(n_) * m1 / math.sqrt(var))
        p = p.reshape(lra.shape)
        return DivergenceProbability(_scalar_or_array(p), _scalar_or_array(np.zeros(lra.shape)))
    if rng is None:
        allowed = f"{RandomSource().description} when method='montecarlo'"
        raise ParameterError(message("rng", "divergence_probability", allowed, rng))
    nd, gen = n_datasets, rng
    lrf = lra.reshape(-1)
    count = np.zeros(lrf.size, dtype=np.int64)
    block = max(1, _BLOCK_ELEMENTS // (n_ * max(1, lrf.size)))
    done = 0
    while done < nd:
        b = min(block, nd - done)
        x = s * gen.standard_normal((b, n_))
        count += np.count_nonzero(_epoch_log_multiplier(x, lrf).reshape(b, -1) > 0, axis=0)
        done += b
    p = count / nd
    se = np.sqrt(p * (1.0 - p) / nd)
    return DivergenceProbability(
        _scalar_or_array(p.reshape(lra.shape)), _scalar_or_array(se.reshape(lra.shape))
    )

