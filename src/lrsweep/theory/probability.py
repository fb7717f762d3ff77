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
from .population import _mean_var, _u_of

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
#: Largest dataset size of the Monte Carlo method (one dataset is 2**27 bytes).
_MAX_MC_SAMPLES = 1 << 24


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
        Dataset size, ``>= 1`` (at most ``2**24`` with ``"montecarlo"``, which
        draws each dataset in memory; any size with ``"normal"``).
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

        u, log_u = (a.ravel() for a in _u_of(lra, np.asarray(s)))
        p = np.zeros(u.size)
        for i, v in enumerate(u):
            if v > 0:  # (n < 2**1000: the validator compares ints beyond as inf)
                m1, var = _mean_var(float(v), float(log_u[i]))
                p[i] = ndtr(math.sqrt(n_) * m1 / math.sqrt(max(var, _TINY)))
        p = p.reshape(lra.shape)
        return DivergenceProbability(_scalar_or_array(p), _scalar_or_array(np.zeros(lra.shape)))
    if rng is None:
        allowed = f"{RandomSource().description} when method='montecarlo'"
        raise ParameterError(message("rng", "divergence_probability", allowed, rng))
    if n_ > _MAX_MC_SAMPLES:
        raise ParameterError(message("n", "divergence_probability",
                                     "an int in the range [1, 2**24] when method='montecarlo' "
                                     "(each dataset is drawn in memory)", n_))
    # a feature scale far from 1 stays out of x (s * z could overflow): S is evaluated at
    # lr * 2**(2 e) on x = m z, with s = m 2**e
    m_s, e_s = math.frexp(s)
    scaled = not 2.0**-300 < s < 2.0**300
    nd, gen = n_datasets, rng
    lrf = lra.reshape(-1)
    count = np.zeros(lrf.size, dtype=np.int64)
    block = max(1, _BLOCK_ELEMENTS // (n_ * max(1, lrf.size)))
    done = 0
    while done < nd:
        b = min(block, nd - done)
        z = gen.standard_normal((b, n_))
        s_b = _epoch_log_multiplier(m_s * z, lrf, 2 * e_s) if scaled else _epoch_log_multiplier(s * z, lrf)
        count += np.count_nonzero(s_b.reshape(b, -1) > 0, axis=0)
        done += b
    p = count / nd
    se = np.sqrt(p * (1.0 - p) / nd)
    return DivergenceProbability(
        _scalar_or_array(p.reshape(lra.shape)), _scalar_or_array(se.reshape(lra.shape))
    )

