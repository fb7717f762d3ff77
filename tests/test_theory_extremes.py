"""Property tests of every public lrsweep.theory function over extreme finite floats.

Inputs range over the whole float64 line: ``|x|`` and ``x_scale`` from the
smallest subnormal to the largest float, ``lr`` from 0 to the largest float.
Each function must return its documented value or raise a
``ParameterError``; any other exception fails the test, and so does any
warning (``filterwarnings = error``). The values are checked against exact
references where one exists: ``2 lr x^2`` and ``|1 - 2 lr x^2|`` as
``fractions.Fraction`` (exact), their logs as ``log(numerator) -
log(denominator)`` of Python integers (no overflow), so ``S`` is checked
term by term with a tolerance derived from the rounding of ``v = 2 lr x^2``.

Hypothesis runs derandomized (fixed examples), without a deadline or a
database, so every run draws the same cases.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lrsweep import theory as T
from lrsweep._validation import ParameterError

EPS = 2.0**-52
HUGE = float(np.finfo(np.float64).max)
X_BOUND = 2.0**510  # the roots functions refuse larger |x|
EULER_GAMMA = 0.57721566490153286061

SETTINGS = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(SETTINGS, max_examples=25)

EDGES = [0.0, 5e-324, 1e-320, 2.2250738585072014e-308, 1e-300, 1e-200, 5.3e-155, 1e-154, 7.5e-155,
         1e-100, 1e-10, 0.5, 1.0, 1.2106, 3.0, 1e10, 1e100, 1e154, 2.0**510, 1e200, 1e300, HUGE]


def magnitudes(lo: int = -1074, hi: int = 1023) -> st.SearchStrategy[float]:
    """Non-negative finite floats spread over every binade, plus edge values."""
    return st.one_of(
        st.sampled_from(EDGES),
        st.builds(math.ldexp, st.floats(0.5, 1.0, exclude_max=True), st.integers(lo, hi)),
        st.floats(0.0, HUGE, allow_nan=False, allow_infinity=False),
        st.floats(0.01, 10.0),
    )


def signed(m: st.SearchStrategy[float]) -> st.SearchStrategy[float]:
    return st.builds(lambda v, s: -v if s else v, m, st.booleans())


XS = st.lists(signed(magnitudes()), min_size=1, max_size=6)
XS_ROOTS = st.one_of(
    st.lists(signed(magnitudes().filter(lambda v: v <= X_BOUND)), min_size=1, max_size=6),
    # ordinary samples with a few extreme ones mixed in, and repeated values
    st.lists(st.one_of(st.floats(-3.0, 3.0), signed(magnitudes().filter(lambda v: v <= X_BOUND)),
                       st.sampled_from([0.5, -0.5, 1.0])), min_size=2, max_size=24),
)
LRS = magnitudes()
SCALES = magnitudes().filter(lambda v: v > 0.0)


# --------------------------------------------------------------------------- exact references


def log_frac(q: Fraction) -> float:
    """``log q`` of a positive Fraction of any size."""
    return math.log(q.numerator) - math.log(q.denominator)


def to_float(q: Fraction) -> float:
    """The float nearest ``q >= 0`` (``inf`` beyond the largest float)."""
    try:
        return float(q)
    except OverflowError:
        return math.inf


def exact_v(x: float, lr: float) -> Fraction:
    return 2 * Fraction(lr) * Fraction(x) ** 2


def exact_terms(x, lr: float) -> tuple[list[float], list[float], list[Fraction]]:
    """``log|1 - v_i|`` (``-inf`` at an exact pole), the sensitivities ``v_i/|1 - v_i|`` and ``v_i``."""
    terms, sens, vs = [], [], []
    for xi in x:
        v = exact_v(xi, lr)
        d = abs(1 - v)
        vs.append(v)
        if d == 0:
            terms.append(-math.inf)
            sens.append(math.inf)
            continue
        terms.append(math.log1p(-float(v)) if v < Fraction(1, 2) else log_frac(d))
        sens.append(to_float(v / d))
    return terms, sens, vs


def exact_s(x, t: float) -> tuple[float, float]:
    """``S(t)`` from exact terms and its rounding allowance (relative error 8 eps in each v)."""
    terms, sens, _ = exact_terms(x, t)
    s = math.fsum(terms) if all(math.isfinite(v) for v in terms) else -math.inf
    tol = 8 * EPS * (math.fsum(sens) + math.fsum(abs(v) for v in terms)) * (len(x) + 2) + 1e-300
    return s, tol


def near_pole(x, r: float, ulps: int = 4) -> bool:
    """``r`` within a few ulps of an exact pole ``1/(2 x_i^2)`` (the dip narrower than an ulp)."""
    spacing = Fraction(math.ulp(r))
    return any(xi != 0 and abs(Fraction(r) - 1 / (2 * Fraction(xi) ** 2)) <= ulps * spacing for xi in x)


def is_root(x, r: float) -> bool:
    """S vanishes at ``r`` to within what a relative change of 1e-11 of ``r`` explains."""
    if near_pole(x, r):
        return True
    terms, sens, _ = exact_terms(x, r)
    s = math.fsum(terms)
    return abs(s) <= 1e-11 * (1.0 + math.fsum(sens)) + 1e-12 * math.fsum(abs(v) for v in terms)


def pole_bounds(x) -> tuple[Fraction, Fraction]:
    """``1/(2 max x^2)`` and ``1/min_{x != 0} x^2``, exactly."""
    nz = [Fraction(v) ** 2 for v in x if v != 0]
    return 1 / (2 * max(nz)), 1 / min(nz)


# --------------------------------------------------------------------------- one dataset


@SETTINGS
@given(XS, LRS)
def test_epoch_log_multiplier_is_the_exact_sum(x, lr):
    s = T.epoch_log_multiplier(x, lr)
    _, _, vs = exact_terms(x, lr)
    if s == -math.inf:  # a pole: some 2 lr x_i^2 rounds to 1
        assert any(abs(v - 1) <= 4 * EPS for v in vs)
        return
    assert math.isfinite(s)
    ref, tol = exact_s(x, lr)
    assert abs(s - ref) <= tol, (s, ref, tol)
    # the stack gives the same row
    assert T.epoch_log_multiplier(np.array([x, x]), [lr, lr])[1, 0] == s


@SETTINGS
@given(XS, LRS)
def test_step_counts_are_the_exact_counts(x, lr):
    _, _, vs = exact_terms(x, lr)
    for func, level in ((T.overshoot_count, 1), (T.amplify_count, 2)):
        got = func(x, lr)
        want = sum(v > level for v in vs)
        ambiguous = sum(abs(v - level) <= 4 * EPS * level for v in vs)  # rounding of v decides
        assert abs(got - want) <= ambiguous


@SETTINGS
@given(XS)
def test_poles_and_gd_threshold_are_correctly_rounded(x):
    p = T.poles(x)
    want = sorted(math.inf if v == 0 else to_float(1 / (2 * Fraction(v) ** 2)) for v in x)
    for got, ref in zip(p, want, strict=True):
        if math.isinf(ref) or ref < 2.0**-1022:  # inf, or subnormal: the absolute grid
            assert got == ref or abs(got - ref) <= 2 * 5e-324
        else:
            assert abs(got - ref) <= 2 * EPS * ref
    g = T.gd_threshold(x)
    mean2 = sum(Fraction(v) ** 2 for v in x) / len(x)
    ref = math.inf if mean2 == 0 else to_float(1 / mean2)
    if math.isinf(ref) or ref < 2.0**-1022:
        assert g == ref or abs(g - ref) <= 2 * 5e-324
    else:
        assert abs(g - ref) <= (len(x) + 3) * EPS * ref


@SLOW
@given(XS, LRS, signed(magnitudes()), st.integers(1, 3))
def test_predicted_error_follows_s(x, lr, e0, epochs):
    n = len(x)
    log_abs, sign = T.predicted_error(x, lr, e0=e0, epochs=epochs)
    assert log_abs.shape == sign.shape == (epochs * n + 1,)
    assert not np.isnan(log_abs).any() and not np.isposinf(log_abs).any()
    assert set(np.unique(sign)) <= {-1, 0, 1}
    np.testing.assert_array_equal(sign == 0, np.isneginf(log_abs))
    log_e0 = math.log(abs(e0)) if e0 != 0 else -math.inf
    assert log_abs[0] == log_e0
    s = T.epoch_log_multiplier(x, lr)
    if math.isfinite(s) and e0 != 0:
        _, tol = exact_s(x, lr)
        allowed = epochs * (tol + 1e-12 * abs(s)) + 1e-12 * abs(log_e0)
        assert abs(log_abs[-1] - (log_e0 + epochs * s)) <= allowed
    # steps to tolerance: one past the last step above tol, from the same expression (e0 = 1)
    rel, _ = T.predicted_error(x, lr, e0=1.0, epochs=epochs)
    for tol_ in (1e-300, 1e-3, 1.0, 1e300):
        steps = T.predicted_steps_to_tol(x, lr, tol_, epochs)
        viol = np.flatnonzero(rel > math.log(tol_))
        assert steps == (0 if viol.size == 0 else (-1 if viol[-1] == epochs * n else viol[-1] + 1))


@SLOW
@given(XS, LRS)
def test_steps_to_tol_for_huge_epoch_counts(x, lr):
    n = len(x)
    epochs = (2**62 - 1) // n
    steps = T.predicted_steps_to_tol(x, lr, 0.5, epochs)
    assert -1 <= steps <= epochs * n
    s = T.epoch_log_multiplier(x, lr)
    if s > 0:
        assert steps == -1  # |e| grows without bound: never within tol at the end
    with pytest.raises(ParameterError, match="epochs \\* n < 2\\*\\*62"):
        T.predicted_steps_to_tol(x, lr, 0.5, 2**62)


@SETTINGS
@given(XS, LRS)
def test_tail_index_dataset_solves_its_equation(x, lr):
    alpha = T.tail_index_dataset(x, lr)
    terms, sens, _ = exact_terms(x, lr)
    finite = [v for v in terms if math.isfinite(v)]
    lmax = max(terms)
    mean = math.fsum(terms) / len(x) if len(finite) == len(terms) else -math.inf
    # what the rounding of v = 2 lr x^2 can do to a log|m| near 0 and to the mean
    slack = 8 * EPS * (1.0 + max((c for c in sens if math.isfinite(c)), default=0.0))
    mean_slack = 8 * EPS * (len(x) + 2) * (1.0 + math.fsum(abs(v) for v in finite)
                                            + math.fsum(c for c in sens if math.isfinite(c)))
    if alpha == math.inf:  # no multiplier above 1 in modulus (or the index overflows)
        assert lmax <= slack or lmax < 1e-290
    elif math.isnan(alpha):  # S >= 0: no stationary law
        assert mean >= -mean_slack
    else:
        assert alpha > 0 and lmax > -slack and mean <= mean_slack
        z = [alpha * v for v in finite]
        zmax = max(z)
        h = zmax + math.log(math.fsum(math.exp(v - zmax) for v in z)) - math.log(len(x))
        assert abs(h) <= 1e-9 * (1.0 + alpha * max(abs(v) for v in finite))
    if lmax <= -slack or (lmax <= 0 and slack == 8 * EPS):
        assert alpha == math.inf
    elif mean > mean_slack and lmax > slack:
        assert math.isnan(alpha)


# --------------------------------------------------------------------------- roots


def _check_root_set(x, rts, ivs):
    p_lo, p_hi = pole_bounds(x)
    assert np.all(np.diff(rts) > 0)
    for r in rts:
        assert math.isfinite(r) and 0 < r <= HUGE
        assert Fraction(r) >= p_lo * (1 - 4 * Fraction(EPS)) and Fraction(r) <= p_hi * (1 + 4 * Fraction(EPS))
        assert is_root(x, r), r
    # the intervals: positive inside, ends are roots, every root is an end (or a tangent root)
    ends = sorted({e for iv in ivs for e in iv if math.isfinite(e)})
    assert set(ends) <= set(rts.tolist())
    for a, b in ivs:
        assert a < b
        mid = 2 * a if math.isinf(b) and a <= HUGE / 2 else (HUGE if math.isinf(b) else 0.5 * a + 0.5 * b)
        s, tol = exact_s(x, mid)
        assert s > -tol, (a, b, s)
    # S < 0 in every gap between intervals (at its midpoint and near its ends)
    lows = [0.0] + [b for _, b in ivs]
    highs = [a for a, _ in ivs] + [math.inf]
    for lo, hi in zip(lows, highs, strict=True):
        if math.isinf(hi):
            hi = HUGE
        if not lo < hi:
            continue
        for t in (0.5 * lo + 0.5 * hi, lo + (hi - lo) * 1e-3, hi - (hi - lo) * 1e-3):
            if lo < t < hi and not near_pole(x, t, ulps=64):
                s, tol = exact_s(x, t)
                assert s < tol, (lo, hi, t, s)


@SETTINGS
@given(XS_ROOTS)
def test_roots_intervals_and_critical_lr_agree_with_exact_s(x):
    crit = T.critical_lr(x)
    rts = T.roots(x)
    ivs = T.diverging_intervals(x)
    if not any(x):
        assert crit == math.inf and rts.size == 0 and ivs == []
        return
    _check_root_set(x, rts, ivs)
    if math.isinf(crit):
        # every root beyond the largest float: S < 0 on all of it
        assert rts.size == 0 and ivs == []
        assert exact_s(x, HUGE)[0] < exact_s(x, HUGE)[1]
        assert min(abs(v) for v in x if v != 0) < 7.5e-155
        return
    assert crit == rts[0]
    if ivs[0][0] != crit:  # a tangent root (maximum exactly 0): no window opens there
        assert ivs[0][0] > crit and exact_s(x, crit)[0] <= exact_s(x, crit)[1]
    assert Fraction(crit) > pole_bounds(x)[0] * (1 - 4 * Fraction(EPS))
    # S < 0 below the critical lr
    for t in [crit * (k / 16) for k in range(1, 16)] + [crit * (1 - 2.0**-k) for k in range(4, 40, 5)]:
        if 0 < t < crit and not near_pole(x, t, ulps=64):
            s, tol = exact_s(x, t)
            assert s < tol, (t, s)
    assert T.critical_lr(np.array([x, x]))[1] == crit


@SETTINGS
@given(XS_ROOTS, LRS, LRS)
def test_roots_in_a_range_are_the_clipped_full_set(x, a, b):
    lo, hi = min(a, b), max(a, b)
    full = T.roots(x)
    np.testing.assert_array_equal(T.roots(x, lo, hi), full[(full >= lo) & (full <= hi)])
    clipped = [(max(u, lo), min(v, hi)) for u, v in T.diverging_intervals(x)]
    assert T.diverging_intervals(x, lo, hi) == [(u, v) for u, v in clipped if u < v]


@SETTINGS
@given(st.lists(signed(magnitudes()), min_size=1, max_size=4), signed(magnitudes(511, 1023)))
def test_roots_functions_refuse_samples_beyond_2_510(x, big):
    if abs(big) <= X_BOUND:
        return
    xb = [*x, big]
    for call in (lambda: T.critical_lr(xb), lambda: T.roots(xb), lambda: T.diverging_intervals(xb)):
        with pytest.raises(ParameterError, match=r"\|x\| <= 2\*\*510"):
            call()


# --------------------------------------------------------------------------- population


def exact_u(lr: float, s: float) -> Fraction:
    return 2 * Fraction(lr) * Fraction(s) ** 2


U_AS = 2.0 * float(T.as_threshold())
U_MIN = 0.58546  # L decreases below, increases above


@SETTINGS
@given(LRS, SCALES)
def test_population_log_multiplier_and_variance(lr, s):
    u = exact_u(lr, s)
    L = T.population_log_multiplier(lr, s)
    V = T.population_log_multiplier_variance(lr, s)
    assert math.isfinite(L) and math.isfinite(V)
    assert 0.0 <= V <= 0.5 * math.pi**2 + 1e-12
    uf = to_float(u)
    if u == 0:
        assert L == 0.0 and V == 0.0
    elif u < Fraction(1, 10**8):  # L = -u - 3u^2/2 - ..., V = 2u^2 + ...
        assert abs(L + uf) <= 1e-7 * uf + 1e-320
        assert 3 * uf * uf + 1e-300 >= V
    elif u > 10**9:  # L = log u - gamma - log 2 + 1/u + O(u^-2)
        assert abs(L - (log_frac(u) - EULER_GAMMA - math.log(2.0) + 1 / uf)) <= 1e-12 * abs(L) + 1e-12
        assert abs(V - 0.5 * math.pi**2) <= 8.0 / math.sqrt(uf) + 1e-12
    if u < Fraction(U_AS) * (1 - Fraction(1, 10**6)):
        assert L <= 0.0
    elif u > Fraction(U_AS) * (1 + Fraction(1, 10**6)):
        assert L > 0.0
    if math.isfinite(uf) and uf > 0:  # only u matters
        assert abs(T.population_log_multiplier(uf / 2.0) - L) <= 1e-12 * (1.0 + abs(L))


@SETTINGS
@given(LRS, LRS)
def test_population_quantities_are_monotone(a, b):
    lo, hi = sorted((a, b))
    u1, u2 = 2 * Fraction(lo), 2 * Fraction(hi)  # x_scale = 1
    L1, L2 = T.population_log_multiplier([lo, hi])
    if u2 <= Fraction(U_MIN):  # L decreases from 0 to its minimum at u = 0.5855
        assert L1 >= L2 - 1e-12
    elif u1 >= Fraction(U_MIN) + Fraction(1, 1000):  # and increases after
        assert L1 <= L2 + 1e-12
    V1, V2 = T.population_log_multiplier_variance([lo, hi])
    assert V1 <= V2 + 1e-12  # V increases from 0 to pi^2/2


@SETTINGS
@given(SCALES)
def test_thresholds_are_correctly_rounded(s):
    s2 = Fraction(s) ** 2
    for got, num in ((T.ms_threshold(s), Fraction(1) / (3 * s2)), (T.mean_threshold(s), 1 / s2),
                     (T.as_threshold(s), Fraction(U_AS) / (2 * s2))):
        ref = to_float(num)
        if math.isinf(ref) or ref < 2.0**-1022:
            assert got == ref or abs(got - ref) <= 2 * 5e-324
        else:
            assert abs(got - ref) <= 2 * EPS * ref
    ms, mean, as_ = T.ms_threshold(s), T.mean_threshold(s), T.as_threshold(s)
    if ms > 0 and as_ < math.inf:
        assert ms <= mean <= as_


@SLOW
@given(LRS, SCALES)
def test_tail_index(lr, s):
    u = exact_u(lr, s)
    a = T.tail_index(lr, s)
    if u >= Fraction(U_AS) * (1 + Fraction(1, 10**6)):
        assert math.isnan(a)
    elif u <= Fraction(U_AS) * (1 - Fraction(1, 10**6)):
        assert a > 0
        if u < Fraction(1, 10**7):
            assert a == math.inf  # above 1e6: reported as inf
        if u == 0:
            assert a == math.inf


@SLOW
@given(st.integers(1, 2**1000 - 1), LRS, SCALES)
def test_divergence_probability_normal(n, lr, s):
    res = T.divergence_probability(n, lr, s)
    assert 0.0 <= res.probability <= 1.0 and res.standard_error == 0.0
    if lr == 0:
        assert res.probability == 0.0
    with pytest.raises(ParameterError, match="'n' parameter"):  # beyond float: refused by name
        T.divergence_probability(2**1000, lr, s)


@SLOW
@given(st.integers(1, 12), st.lists(LRS, min_size=1, max_size=3), SCALES)
def test_divergence_probability_montecarlo(n, lrs, s):
    res = T.divergence_probability(n, lrs, s, method="montecarlo", n_datasets=40, rng=0)
    p = np.asarray(res.probability)
    assert np.all((p >= 0) & (p <= 1))
    np.testing.assert_allclose(res.standard_error, np.sqrt(p * (1 - p) / 40))
    # the same draws through epoch_log_multiplier at lr s^2 (only u = 2 lr s^2 matters)
    z = np.random.default_rng(0).standard_normal((40, n))
    lr_eff = [to_float(Fraction(v) * Fraction(s) ** 2) for v in lrs]
    if all(math.isfinite(v) and (v == 0 or v >= 2.0**-1000) for v in lr_eff):
        want = (T.epoch_log_multiplier(z, lr_eff) > 0).mean(axis=0)
        # rounding of lr s^2 can flip a dataset sitting on S = 0: allow one of 40
        np.testing.assert_allclose(p, want, atol=1.5 / 40)


# --------------------------------------------------------------------------- trajectories


@SLOW
@given(st.lists(signed(magnitudes()), min_size=2, max_size=5), st.lists(LRS, min_size=1, max_size=3))
def test_trajectory_predictions_with_user_data(x, lrs):
    import pandas as pd

    import lrsweep

    try:
        cfg = lrsweep.SweepConfig(lr=[0.1], data=(np.array(x), np.ones(len(x))), epochs=2)
    except ParameterError:  # the config's own rules (not the theory's)
        return
    pred = T.trajectory_predictions(pd.DataFrame({"lr": lrs}), cfg)
    np.testing.assert_array_equal(pred["S"], T.epoch_log_multiplier(x, lrs))
    np.testing.assert_array_equal(pred["predicted_sign_changes"], 2 * T.overshoot_count(x, lrs))
    assert not pred["S"].isna().any()
