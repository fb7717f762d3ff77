"""Tests of lrsweep.theory.features, features_population, features_ms and features_lyapunov (d features).

Every prediction is checked against a simulation written here from the
update rule (``w <- w + (2 lr / B) sum_batch x (y - w.x - b)``, ``b <- b + (2
lr / B) sum_batch (y - w.x - b)``) or against an independent method (the
existing one-feature theory, closed forms, Gauss-Hermite cubature, a finer
scan), with fixed seeds. Noise-free runs use ``y = 0`` so that ``(w, b)`` *is*
the error and the update is linear in it: the simulators rescale it by exact
powers of two to run any number of epochs. Each tolerance is stated with
the reason for its size.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from lrsweep import theory as T
from lrsweep._validation import ParameterError
from lrsweep.theory import features as F
from lrsweep.theory import features_population as P

EPS = float(np.finfo(np.float64).eps)


# --------------------------------------------------------------------------- simulators


def sgd_epochs(x, lr, batch_size, fit_intercept, epochs, e0):
    """Plain fixed-order SGD on ``y = 0``: ``log ||e||`` after every epoch (exact power-of-two rescaling)."""
    n, d = x.shape
    w = np.array(e0[:d], dtype=np.float64)
    b = float(e0[d]) if fit_intercept else 0.0
    shift, out = 0.0, []
    for _ in range(epochs):
        for s in range(0, n, batch_size):
            xb = x[s:s + batch_size]
            r = 0.0 - xb @ w - b  # residuals y - w.x - b
            w = w + (2.0 * lr / len(xb)) * (xb.T @ r)
            if fit_intercept:
                b = b + (2.0 * lr / len(xb)) * r.sum()
        e = np.append(w, b) if fit_intercept else w
        big = np.frexp(np.abs(e).max())[1]
        w, b, shift = np.ldexp(w, -big), math.ldexp(b, int(-big)), shift + big * math.log(2.0)
        out.append(math.log(np.linalg.norm(np.append(w, b) if fit_intercept else w)) + shift)
    return np.array(out)


def epoch_map_by_simulation(x, lr, batch_size, fit_intercept):
    """The epoch map: one simulated epoch from each basis vector (columns)."""
    p = x.shape[1] + int(fit_intercept)
    cols = []
    for j in range(p):
        n, d = x.shape
        w, b = np.eye(p)[j][:d].copy(), (np.eye(p)[j][d] if fit_intercept else 0.0)
        for s in range(0, n, batch_size):
            xb = x[s:s + batch_size]
            r = 0.0 - xb @ w - b
            w = w + (2.0 * lr / len(xb)) * (xb.T @ r)
            if fit_intercept:
                b = b + (2.0 * lr / len(xb)) * r.sum()
        cols.append(np.append(w, b) if fit_intercept else w)
    return np.stack(cols, axis=1)


# --------------------------------------------------------------------------- per dataset


@pytest.mark.parametrize(("d", "batch_size", "fit_intercept"), [(1, 1, True), (3, 1, False), (3, 2, True),
                                                                (5, 4, False)])
def test_epoch_product_is_the_simulated_epoch_map(d, batch_size, fit_intercept):
    x = np.random.default_rng(10 + d).standard_normal((11, d))  # n = 11: a short last batch for B = 2, 4
    lrs = [0.01, 0.1, 0.4]
    prod = T.feature_epoch_product(x, lrs, batch_size, fit_intercept)
    assert prod.matrix.shape == (3, d + fit_intercept, d + fit_intercept)
    for i, lr in enumerate(lrs):
        sim = epoch_map_by_simulation(x, lr, batch_size, fit_intercept)
        # the same products in another association: n_b eps relative to the largest entry
        np.testing.assert_allclose(np.exp(prod.log_scale[i]) * prod.matrix[i], sim, rtol=0,
                                   atol=1e-13 * np.abs(sim).max())


def test_the_error_of_sgd_with_targets_and_a_bias_follows_the_epoch_product():
    # y = X a + b (noise-free, b != 0), SGD on (w, b) from 0: e = (w - a, b_hat - b) obeys e_q = M^q e_0
    rng = np.random.default_rng(15)
    x = rng.standard_normal((9, 3))
    a, b_true, lr, q = np.array([5.0, -2.0, 0.5]), 1.5, 0.08, 6
    y = x @ a + b_true
    w, b = np.zeros(3), 0.0
    for _ in range(q):
        for s in range(0, 9, 2):
            xb, yb = x[s:s + 2], y[s:s + 2]
            r = yb - xb @ w - b
            w, b = w + (2.0 * lr / len(xb)) * (xb.T @ r), b + (2.0 * lr / len(xb)) * r.sum()
    prod = T.feature_epoch_product(x, lr, batch_size=2, fit_intercept=True)
    m = np.exp(prod.log_scale) * prod.matrix
    want = np.linalg.matrix_power(m, q) @ np.append(-a, -b_true)
    # rounding of 30 steps on numbers of size |a| = 5: 1e-12 absolute
    np.testing.assert_allclose(np.append(w - a, b - b_true), want, rtol=0, atol=1e-12)


@pytest.mark.parametrize(("d", "batch_size", "fit_intercept"), [(2, 1, False), (2, 1, True), (3, 3, False),
                                                                (5, 1, True), (5, 2, False)])
def test_log_error_grows_by_log_rho_per_epoch(d, batch_size, fit_intercept):
    rng = np.random.default_rng(20 + d)
    x = rng.standard_normal((12, d))
    e0 = rng.standard_normal(d + fit_intercept)
    lr0 = float(T.feature_critical_lr(x, batch_size, fit_intercept))
    lrs = lr0 * np.array([0.3, 0.9, 1.1, 1.6])
    growth = T.feature_epoch_growth(x, lrs, batch_size, fit_intercept)
    assert growth[1] < 0 < growth[2]  # the sign changes at the critical lr
    q = 400
    for lr, g in zip(lrs, growth, strict=True):
        logs = sgd_epochs(x, lr, batch_size, fit_intercept, q, e0)
        m = epoch_map_by_simulation(x, lr, batch_size, fit_intercept)
        vec = np.linalg.eig(m)[1]
        # ||M^k e|| = ||V diag(lam)^k V^-1 e||: once the other eigenvalues have died out its log is
        # k log rho within log cond(V) + |log of the start's dominant component| (fixed): the slope over
        # epochs q/2..q is within 2 log(cond V) / (q/2) of log rho, plus the rounding of 400 epochs
        slope = (logs[-1] - logs[q // 2 - 1]) / (q - q // 2)
        tol = 2.0 * math.log(np.linalg.cond(vec)) / (q // 2) + 1e-10
        assert abs(slope - g) <= tol, (lr, slope, g, tol)


def test_a_complex_dominant_pair_oscillates_around_log_rho():
    # d = 2: a learning rate whose epoch map has a complex dominant pair (found by a scan of this dataset)
    x = np.random.default_rng(32).standard_normal((6, 2))
    lrs = np.linspace(0.02, 1.5, 400)
    mats = T.feature_epoch_product(x, lrs).matrix
    lam = np.linalg.eigvals(mats)
    complex_pair = np.abs(lam.imag).max(axis=1) > 1e-3 * np.abs(lam).max(axis=1)
    assert complex_pair.sum() > 50
    lr = float(lrs[np.flatnonzero(complex_pair)[len(np.flatnonzero(complex_pair)) // 2]])
    g = float(T.feature_epoch_growth(x, lr))
    logs = sgd_epochs(x, lr, 1, False, 400, np.array([1.0, 0.3]))
    inc = np.diff(logs)
    # the per-epoch increment does not converge: it keeps oscillating around log rho ...
    assert inc[200:].max() - inc[200:].min() > 1e-3
    # ... but log ||e_q|| - q log rho stays bounded (the slope over 300 epochs is log rho within
    # 2 log cond(V) / 300)
    vec = np.linalg.eig(epoch_map_by_simulation(x, lr, 1, False))[1]
    assert abs((logs[-1] - logs[99]) / 300 - g) <= 2 * math.log(np.linalg.cond(vec)) / 300


@pytest.mark.parametrize("batch_size", [1, 2, 5])
def test_one_feature_reduces_to_the_one_feature_theory(batch_size):
    rng = np.random.default_rng(40)
    x = rng.standard_normal((3, 13))
    lr = np.geomspace(1e-3, 3.0, 80)
    c = np.array([[np.mean(np.square(xi[k:k + batch_size])) for k in range(0, 13, batch_size)] for xi in x])
    far = np.min(np.abs(1.0 - 2.0 * lr[None, :, None] * c[:, None, :]), axis=2) > 1e-6  # away from poles
    got = T.feature_epoch_growth(x[..., None], lr, batch_size)
    want = T.batch_log_multiplier(x, lr, batch_size)
    # a product of n_b scalar factors against the sum of their logs: a few n_b eps relative
    np.testing.assert_allclose(got[far], want[far], rtol=1e-12, atol=1e-13)
    # the critical lr is the exact pole method's, the same float
    np.testing.assert_array_equal(T.feature_critical_lr(x[..., None], batch_size),
                                  T.batch_critical_lr(x, batch_size))


def test_the_scan_at_one_feature_finds_the_exact_critical_lr_or_misses_a_narrow_window():
    # the scan itself (used for d > 1) on d = 1 data, against the exact pole method; with n = 100 the
    # first diverging interval is sometimes narrower than the scan's grid step (4 of these 200 datasets)
    x = np.random.default_rng(42).standard_normal((200, 100))
    scan = F._critical_scan(x[..., None], 1, 64)
    exact = T.critical_lr(x)
    same = np.abs(scan / exact - 1.0) < 1e-11  # the bracket is 1e-13 wide; S's rounding near its root
    step = 2.0 ** (1 / 64) - 1.0
    assert 0.95 < same.mean() < 1.0
    for i in np.flatnonzero(~same):
        # a miss: every diverging interval below the scan's answer is narrower than one grid step, and
        # the answer is where a later one starts
        intervals = T.diverging_intervals(x[i], 0.0, float(scan[i]) * 1.01)
        starts = np.array([lo for lo, _ in intervals])
        k = int(np.argmin(np.abs(starts / scan[i] - 1.0)))
        assert abs(starts[k] / scan[i] - 1.0) < 1e-11 and k > 0
        assert all((hi - lo) / lo < step for lo, hi in intervals[:k])


@pytest.mark.parametrize(("d", "batch_size", "fit_intercept"), [(2, 1, False), (2, 1, True), (4, 2, True),
                                                                (8, 1, False)])
def test_critical_lr_against_a_sixteen_times_finer_scan(d, batch_size, fit_intercept):
    x = np.random.default_rng(50 + d).standard_normal((4, 30, d))
    lr_c = T.feature_critical_lr(x, batch_size, fit_intercept)
    for xi, lc in zip(x, lr_c, strict=True):
        below = np.geomspace(F._stable_below(F._design(xi[None], fit_intercept), batch_size)[0], lc, 2048)
        g = T.feature_epoch_growth(xi, below[:-1], batch_size, fit_intercept)
        assert np.all(g < 0)  # nothing diverges below lr_c, on a grid 16 x finer than the scan's
        # a sign change at lr_c, within the bracket's relative width 1e-13 (and g's rounding ~1e-13)
        near = T.feature_epoch_growth(xi, lc * np.array([1 - 1e-11, 1 + 1e-11]), batch_size, fit_intercept)
        assert near[0] < 0 <= near[1]


def test_samples_that_do_not_span_the_space():
    # n = 2 samples of d = 4 features: the error orthogonal to their span never changes
    rng = np.random.default_rng(60)
    x = rng.standard_normal((2, 4))
    lr = np.array([0.05, 0.5, 2.0])
    growth = T.feature_epoch_growth(x, lr)
    prod = T.feature_epoch_product(x, lr)
    rho = np.abs(np.linalg.eigvals(prod.matrix)).max(axis=-1) * np.exp(prod.log_scale)
    np.testing.assert_allclose(np.log(rho), np.maximum(growth, 0.0), atol=1e-12)
    # the growth is that of the 2 x 2 map in an orthonormal basis of the span
    q = np.linalg.qr(x.T)[0]
    for lr_i, g in zip(lr, growth, strict=True):
        m = q.T @ epoch_map_by_simulation(x, lr_i, 1, False) @ q
        assert g == pytest.approx(math.log(np.abs(np.linalg.eigvals(m)).max()), abs=1e-12)
    assert T.feature_epoch_growth(np.zeros((3, 2)), 0.5) == 0.0
    assert T.feature_critical_lr(np.zeros((3, 2))) == math.inf


def test_many_epochs_and_large_products_do_not_overflow():
    # 400 copies of a dataset: M = M_1^400 overflows (rho ~ e^4 per copy) but its log-scale form does not
    x = np.random.default_rng(61).standard_normal((5, 3))
    g1 = float(T.feature_epoch_growth(x, 3.0, fit_intercept=True))
    assert g1 > 2.0
    g400 = float(T.feature_epoch_growth(np.tile(x, (400, 1)), 3.0, fit_intercept=True))
    assert g400 == pytest.approx(400 * g1, rel=1e-10)
    prod = T.feature_epoch_product(np.tile(x, (400, 1)), 3.0, fit_intercept=True)
    assert prod.log_scale > 709 and np.all(np.isfinite(prod.matrix)) and 0.5 <= np.abs(prod.matrix).max() < 1


def test_shapes():
    x = np.random.default_rng(62).standard_normal((3, 7, 2))
    assert T.feature_epoch_growth(x, [[0.1], [0.2]]).shape == (3, 2, 1)
    assert np.ndim(T.feature_epoch_growth(x[0], 0.1)) == 0
    assert T.feature_epoch_product(x, [0.1, 0.2], fit_intercept=True).matrix.shape == (3, 2, 3, 3)
    assert T.feature_critical_lr(x).shape == (3,)
    assert T.feature_epoch_growth(x, []).shape == (3, 0)


# --------------------------------------------------------------------------- population: almost sure


def test_isotropic_exponent_at_one_feature_is_the_population_exponent():
    lr = np.array([1e-9, 3e-8, 1e-4, 0.1, 0.29273, 0.5, 1.0, 1.2106, 3.0, 1e3, 1e7])
    # both are quadratures of log|1 - 2 lr x^2| written independently (different variables): 1e-12
    np.testing.assert_allclose(T.isotropic_log_multiplier(lr, 1), T.population_log_multiplier(lr),
                               rtol=1e-12, atol=1e-12)
    assert T.isotropic_as_threshold(1) == pytest.approx(float(T.as_threshold()), rel=1e-10)
    want = float(T.population_log_multiplier(0.1, 2.0))
    assert T.isotropic_log_multiplier(0.1, 1, 2.0) == pytest.approx(want, abs=1e-12)


def _quad(f, a, b):
    from scipy.integrate import quad

    return quad(f, a, b, epsabs=1e-14, epsrel=1e-13, limit=400)[0]


@pytest.mark.parametrize("ell", [1e-3, 0.1, 0.25, 0.4, 0.5, 1.0, 10.0, 1e4])
def test_isotropic_exponent_at_two_features_against_its_closed_form(ell):
    # d = 2: the angle is uniform on the circle and E log(sin^2 + a cos^2) = 2 log((1 + sqrt a)/2), so
    # lambda = E log((1 + |1 - 2 l r|)/2) with r ~ chi2_2 (exponential, mean 2): log(1 - l r) below
    # r0 = 1/(2 l), log(l r) above
    r0 = 0.5 / ell
    want = (_quad(lambda r: math.log1p(-ell * r) * math.exp(-r / 2) / 2, 0.0, r0)
            + _quad(lambda r: math.log(ell * r) * math.exp(-r / 2) / 2, r0, math.inf))
    assert T.isotropic_log_multiplier(ell, 2) == pytest.approx(want, abs=1e-11)


@pytest.mark.parametrize("ell", [0.05, 0.2, 0.3, 0.6])
def test_isotropic_exponent_at_three_features_against_the_angle_integral(ell):
    # d = 3: cos(angle) is uniform on [-1, 1], so with a = (1 - 2u)^2 and k^2 = 1 - a
    # E log(1 - c (1 - a)) = log a - 2 + (1/k) log((1 + k)/(1 - k))  (k -> i kappa: (2/kappa) atan kappa);
    # lambda = (1/2) E_r of it, r ~ chi2_3: a different representation from the module's (xi, q) one
    def inner(r):
        u = ell * r
        a = (1.0 - 2.0 * u) ** 2
        if a < 1.0:  # 2 atanh(k) / k = log((1 + k)^2 / a) / k, without 1 - k
            k = math.sqrt(1.0 - a)
            return math.log(a) - 2.0 + (2.0 * math.log1p(k) - math.log(a)) / k
        kap = math.sqrt(a - 1.0)
        return math.log(a) - 2.0 + 2.0 * math.atan(kap) / kap if kap > 0 else 0.0

    def dens(r):
        return math.sqrt(r) * math.exp(-r / 2) / math.sqrt(2 * math.pi)

    r0 = 0.5 / ell  # u = 1/2: a = 0, an integrable log singularity of the inner value
    want = 0.5 * (_quad(lambda r: dens(r) * inner(r), 0.0, r0)
                  + _quad(lambda r: dens(r) * inner(r), r0, 200.0))
    assert T.isotropic_log_multiplier(ell, 3) == pytest.approx(want, abs=1e-9)  # the reference's quad


@pytest.mark.parametrize("d", [2, 5, 10, 32, 64])
def test_isotropic_as_threshold_is_the_single_crossing(d):
    lr_as = T.isotropic_as_threshold(d)
    assert T.isotropic_ms_threshold(d) < lr_as < 2.0 / (d + 2)  # above the MS threshold, below 2x it
    assert abs(T.isotropic_log_multiplier(lr_as, d)) < 1e-12
    grid = np.geomspace(1e-3, 20.0, 30) * lr_as
    lam = T.isotropic_log_multiplier(grid, d)
    assert np.all((lam < 0) == (grid < lr_as))  # one sign change, at lr_as
    # x_scale only rescales lr
    assert T.isotropic_as_threshold(d, 0.5) == pytest.approx(4 * lr_as, rel=1e-14)


def test_isotropic_exponent_series_meet_the_quadrature():
    for d in (2, 7):
        for ell in (P._L_SMALL, P._L_BIG):
            inside = P._lyap(ell * (1 - 1e-9), d)
            other = P._lyap(ell * (1 + 1e-9), d)
            # small l: the series is exact to O(l^3) ~ 1e-21, the quadrature to its absolute 1e-15 there;
            # large l: the limit is within O(1/l) = 1e-8
            assert abs(inside - other) <= (1e-15 if ell == P._L_SMALL else 3e-8)


# --------------------------------------------------------------------------- population: mean square


def _second_moment_map(lr, scales, batch_size, fit_intercept):
    """E[F (x) F] (p^2 x p^2) by Gauss-Hermite cubature: 3 nodes per coordinate, exact to degree 5.

    Its entries are polynomials of degree 4 in the batch's Gaussian coordinates, so the cubature is
    exact (up to rounding), and it acts on all of vec(Sigma), not only the diagonal.
    """
    nodes, weights = np.polynomial.hermite_e.hermegauss(3)
    weights = weights / weights.sum()
    d = len(scales)
    p = d + int(fit_intercept)
    out = np.zeros((p * p, p * p))
    for idx in itertools.product(range(3), repeat=d * batch_size):
        w = np.prod(weights[list(idx)])
        xs = nodes[list(idx)].reshape(batch_size, d) * scales
        z = np.concatenate([xs, np.ones((batch_size, 1))], axis=1) if fit_intercept else xs
        f = np.eye(p) - (2.0 * lr / batch_size) * z.T @ z
        out += w * np.kron(f, f)
    return out


@pytest.mark.parametrize(("scales", "batch_size", "fit_intercept"),
                         [([1.0], 1, False), ([1.0], 1, True), ([1.0, 1.0, 1.0], 1, False),
                          ([0.5, 2.0], 1, True), ([1.0, 3.0], 2, False), ([0.7, 1.5], 2, True)])
def test_ms_radius_and_threshold_against_the_exact_second_moment_recursion(scales, batch_size, fit_intercept):
    scales = np.array(scales)
    lr_ms = T.feature_ms_threshold(scales, batch_size, fit_intercept)
    for lr in (0.3 * lr_ms, 0.8 * lr_ms, lr_ms, 1.25 * lr_ms):
        full = _second_moment_map(lr, scales, batch_size, fit_intercept)
        rho_full = np.abs(np.linalg.eigvals(full)).max()
        # the Perron root of the p x p diagonal map is the spectral radius of the whole map
        rho = T.feature_ms_radius(lr, scales, batch_size, fit_intercept)
        assert rho == pytest.approx(rho_full, abs=1e-12)
        # E ||e_t||^2 by the exact recursion Sigma <- E[F Sigma F] over 200 steps: it shrinks below
        # lr_ms and grows above it
        p = scales.size + fit_intercept
        sigma = np.eye(p).ravel()
        tr0 = np.trace(sigma.reshape(p, p))
        for _ in range(200):
            sigma = full @ sigma
        tr = np.trace(sigma.reshape(p, p))
        if lr < lr_ms:
            assert tr < tr0
        elif lr > lr_ms:
            assert tr > tr0
        else:
            assert rho_full == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(("scales", "batch_size", "fit_intercept"), [([1.0, 1.0, 1.0], 1, True),
                                                                     ([0.7, 1.0, 1.4], 2, False)])
def test_mean_square_error_by_monte_carlo_on_both_sides_of_the_threshold(scales, batch_size, fit_intercept):
    # fresh-sample SGD from e_0 = sqrt(v) * random signs, v the Perron vector of the p x p diagonal map K:
    # E e_0 e_0^T = diag(v), so E ||e_t||^2 = rho^t exactly (rho = feature_ms_radius). A few steps only:
    # above the threshold E ||e_t||^2 is carried by rarer and rarer draws as t grows (the error converges
    # almost surely while its mean square diverges) and a sample mean of a long run says nothing about it
    scales = np.array(scales)
    rng = np.random.default_rng(90 + batch_size)
    p = scales.size + fit_intercept
    lr_ms = T.feature_ms_threshold(scales, batch_size, fit_intercept)
    m = np.append(np.square(scales), 1.0) if fit_intercept else np.square(scales)
    g = np.append(np.ones(scales.size), 0.0) if fit_intercept else np.ones(scales.size)
    n_chains, steps = 100_000, 4
    for lr in (0.8 * lr_ms, 1.2 * lr_ms):
        c = 4.0 * lr * lr / batch_size
        k = np.diag(np.square(1.0 - 2.0 * lr * m) + c * (2.0 * g - 1.0) * m * m) + c * np.outer(m, m)
        lam, vec = np.linalg.eig(k)
        v = np.abs(vec[:, np.argmax(lam.real)].real)
        v /= v.sum()
        rho = float(T.feature_ms_radius(lr, scales, batch_size, fit_intercept))
        assert rho == pytest.approx(lam.real.max(), rel=1e-13)
        e = np.sqrt(v) * rng.choice([-1.0, 1.0], size=(n_chains, p))
        for _ in range(steps):
            z = rng.standard_normal((n_chains, batch_size, scales.size)) * scales
            if fit_intercept:
                z = np.concatenate([z, np.ones((n_chains, batch_size, 1))], axis=2)
            e = e - (2.0 * lr / batch_size) * np.einsum("cbp,cb->cp", z, np.einsum("cbp,cp->cb", z, e))
        sq = np.square(e).sum(axis=1)
        se = sq.std() / math.sqrt(n_chains)
        # a sample mean of a skewed, finite-variance sample: within 5 standard errors (within 1.9 for
        # six other seeds), and on the side of 1 that the threshold says by more than 3 (4.7 to 12 above
        # and 88 to 230 below the threshold for those seeds)
        assert abs(sq.mean() - rho**steps) < 5 * se
        assert (sq.mean() - 1.0) * (1 if lr > lr_ms else -1) > 3 * se


@pytest.mark.parametrize("batch_size", [1, 2, 7])
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_isotropic_ms_closed_forms(batch_size, fit_intercept):
    for d in (1, 2, 5, 64):
        for s in (0.3, 1.0, 2.0):
            want = T.feature_ms_threshold(np.full(d, s), batch_size, fit_intercept)
            got = T.isotropic_ms_threshold(d, batch_size, fit_intercept, s)
            assert got == pytest.approx(want, rel=1e-13)
    if not fit_intercept:  # d = 1: the mini-batch theory; B = 1: 1/(d + 2)
        want = float(T.batch_ms_threshold(batch_size))
        assert T.isotropic_ms_threshold(1, batch_size) == pytest.approx(want, rel=1e-15)
        assert T.isotropic_ms_threshold(10, 1) == pytest.approx(1 / 12, rel=1e-15)


def test_ms_threshold_with_unequal_scales():
    scales = T.condition_scales(10, [1.0, 10.0, 100.0])
    assert scales.shape == (3, 10) and scales[2, -1] ** 2 == pytest.approx(100.0)
    lr = T.feature_ms_threshold(scales)
    assert lr[0] == pytest.approx(1 / 12, rel=1e-14) and lr[0] > lr[1] > lr[2]
    rho = T.feature_ms_radius(lr[:, None] * np.array([1 - 1e-9, 1 + 1e-9]), scales)
    assert rho.shape == (3, 3, 2)
    for i in range(3):
        assert rho[i, i, 0] < 1 < rho[i, i, 1]


# --------------------------------------------------------------------------- with noise: stationary error


@pytest.mark.parametrize(("scales", "batch_size", "fit_intercept"),
                         [([1.0], 1, False), ([1.0], 2, True), ([1.0, 1.0, 1.0], 1, False),
                          ([0.5, 2.0], 1, True), ([1.0, 3.0], 2, False), ([0.7, 1.5], 2, True)])
def test_stationary_mse_against_the_exact_second_moment_recursion(scales, batch_size, fit_intercept):
    # the fixed point of vec(Sigma) <- E[F (x) F] vec(Sigma) + vec(4 lr^2 sigma^2 D / B) solved with the whole
    # p^2 x p^2 map (Gauss-Hermite, exact for these polynomials): the Sherman-Morrison trace to rounding
    scales = np.array(scales)
    sigma = 0.7
    p = scales.size + fit_intercept
    lr_ms = T.feature_ms_threshold(scales, batch_size, fit_intercept)
    m = np.append(np.square(scales), 1.0) if fit_intercept else np.square(scales)
    for lr in (0.1 * lr_ms, 0.5 * lr_ms, 0.95 * lr_ms):
        full = _second_moment_map(lr, scales, batch_size, fit_intercept)
        force = (4.0 * lr * lr * sigma * sigma / batch_size) * np.diag(m).ravel()
        fixed = np.linalg.solve(np.eye(p * p) - full, force).reshape(p, p)
        got = T.feature_stationary_mse(lr, scales, sigma, batch_size, fit_intercept)
        assert got == pytest.approx(np.trace(fixed), rel=1e-9)
    assert T.feature_stationary_mse(lr_ms * (1 + 1e-9), scales, sigma, batch_size, fit_intercept) == math.inf
    assert T.feature_stationary_mse(0.0, scales, sigma, batch_size, fit_intercept) == 0.0


@pytest.mark.parametrize("batch_size", [1, 3])
def test_stationary_mse_closed_forms_and_the_isotropic_closure(batch_size):
    lr = np.array([0.001, 0.01, 0.03])
    for d in (1, 2, 10):
        for s in (0.5, 1.0):
            got = T.feature_stationary_mse(lr, np.full(d, s), 0.3, batch_size)
            want = 0.09 * lr * d / (batch_size - (batch_size + d + 1) * lr * s * s)
            want = np.where(lr < T.isotropic_ms_threshold(d, batch_size, x_scale=s), want, np.inf)
            np.testing.assert_allclose(got, want, rtol=1e-12)
            # the closure of stationary_mse on the population's moments E||x||^2, E||x||^4, E r^2 ||x||^2
            closure = T.stationary_mse(d * s**2, d * (d + 2) * s**4, 0.09 * d * s**2, lr, batch_size,
                                       coordinates=d)
            np.testing.assert_allclose(closure, want, rtol=1e-12)
        # one feature: the one-feature population formula
        np.testing.assert_allclose(T.feature_stationary_mse(lr, [1.0], 0.3, batch_size),
                                   T.population_stationary_mse(lr, 0.3, batch_size=batch_size), rtol=1e-12)
    # one coordinate: the closure is the one-coordinate formula to the bit
    m2, m4, m2r2 = 1.3, 4.1, 0.2
    assert T.stationary_mse(m2, m4, m2r2, lr, batch_size, 0.5, coordinates=1).tobytes() == T.stationary_mse(
        m2, m4, m2r2, lr, batch_size, 0.5).tobytes()


@pytest.mark.parametrize(("n_features", "condition", "fit_intercept"), [(10, 1.0, False), (4, 10.0, True)])
def test_stationary_mse_against_the_kernel_on_fresh_samples(n_features, condition, fit_intercept):
    # the engine's online order (fresh samples, reference = the true weights): the last epoch's mean
    # ||e||^2 of 200 independent streams against the exact value. Each lane's last epoch (1000 steps
    # after 2000 that forget e_0 by a factor below 1e-20) averages ~30-60 decorrelation times, so lane
    # means are near normal; within 4 standard errors of the 200 lanes' mean (a 1-in-15,000 event
    # for an unbiased estimate; the SE is about 1.5 % of the value here).
    import lrsweep

    scales = T.condition_scales(n_features, condition)
    lr_ms = float(T.feature_ms_threshold(scales, 1, fit_intercept))
    lr = 0.3 * lr_ms
    cfg = lrsweep.SweepConfig(n_features=n_features, condition=condition, fit_intercept=fit_intercept,
                              lr=lr, seed=range(200), n_samples=1000, epochs=3, noise=1.0, order="online")
    frame = lrsweep.sweep(cfg, progress=False).frame
    mse = frame["rms_error_last_epoch"].to_numpy() ** 2
    want = float(T.feature_stationary_mse(lr, scales, 1.0, 1, fit_intercept))
    se = mse.std(ddof=1) / math.sqrt(mse.size)
    assert abs(mse.mean() - want) < 4 * se, (mse.mean(), want, se)
    # the engine's noise floor: the isotropic closure on each stream's own moments. Exact in the
    # isotropic population: each stream's value is within 20 % of it (sampling error of mean ||x||^4 and
    # mean r^2 ||x||^2 over 3000 rows, a few per cent; 8.7 % at most over these 200), their mean within
    # 1 %; otherwise it is the scale
    noise_rms = frame["noise_rms"].to_numpy()
    if condition == 1.0 and not fit_intercept:
        np.testing.assert_allclose(noise_rms**2, want, rtol=0.2)
        assert np.mean(noise_rms**2) == pytest.approx(want, rel=0.01)
    else:
        assert np.all((noise_rms**2 > want / 3) & (noise_rms**2 < 3 * want))
    assert (frame["status"] == "noise_floor").mean() > 0.9


# --------------------------------------------------------------------------- population: Monte Carlo


@pytest.mark.parametrize("d", [3, 10])
def test_lyapunov_estimate_against_the_quadrature(d):
    lr = T.isotropic_as_threshold(d) * np.array([0.4, 1.0, 1.5])
    est = T.feature_lyapunov_exponent(lr, np.ones(d), n_steps=3000, n_chains=48, rng=70 + d)
    exact = T.isotropic_log_multiplier(lr, d)
    # within 4 standard errors (the O(1/n_steps) bias of the burn-in is ~1e-4 of it)
    assert np.all(np.abs(est.exponent - exact) < 4 * est.standard_error)
    assert np.all(est.standard_error < 0.01 * np.abs(exact).max())


def test_lyapunov_estimate_of_batches_at_one_feature():
    lr = np.array([0.3, 1.0, 1.6])
    est = T.feature_lyapunov_exponent(lr, [1.0], batch_size=2, n_steps=3000, n_chains=48, rng=71)
    exact = T.batch_population_log_multiplier(lr, 2)
    assert np.all(np.abs(est.exponent - exact) < 4 * est.standard_error)


def test_as_threshold_estimate():
    est = T.feature_as_threshold(np.ones(5), n_steps=2000, n_chains=32, rng=72)
    assert abs(est.exponent - T.isotropic_as_threshold(5)) < 4 * est.standard_error
    assert est.standard_error < 0.01 * est.exponent
    # with a bias and unequal scales: above the (exact) mean-square threshold
    scales = T.condition_scales(3, 10.0)
    biased = T.feature_as_threshold(scales, fit_intercept=True, n_steps=1000, n_chains=16, rng=73)
    assert biased.exponent > T.feature_ms_threshold(scales, fit_intercept=True)


def test_lyapunov_estimate_is_reproducible_and_uses_no_global_state():
    a = T.feature_lyapunov_exponent([0.1, 0.2], [1.0, 2.0], fit_intercept=True, n_steps=50, n_chains=4, rng=5)
    np.random.seed(0)  # noqa: NPY002 - the legacy global state must not matter
    b = T.feature_lyapunov_exponent([0.1, 0.2], [1.0, 2.0], fit_intercept=True, n_steps=50, n_chains=4,
                                    rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a.exponent, b.exponent)
    np.testing.assert_array_equal(a.standard_error, b.standard_error)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: T.feature_epoch_growth([1.0, 2.0], 0.1),
         "The 'x' parameter of feature_epoch_growth must be a 2-D array (n, d) (one dataset) or a 3-D "
         "array (n_datasets, n, d) of floats in the range [-(2**510), 2**510]. Got an array of shape (2,) "
         "instead."),
        (lambda: T.feature_epoch_product(np.ones((3, 2)), -0.5),
         "The 'lr' parameter of feature_epoch_product must be a scalar or an array of floats in the range "
         "[0, inf). Got -0.5 instead."),
        (lambda: T.feature_critical_lr(np.ones((3, 2)), points_per_octave=2),
         "The 'points_per_octave' parameter of feature_critical_lr must be an int in the range [4, 4096]. "
         "Got 2 instead."),
        (lambda: T.feature_critical_lr(np.ones((3, 2)), batch_size=0),
         "The 'batch_size' parameter of feature_critical_lr must be an int in the range [1, inf). "
         "Got 0 instead."),
        (lambda: T.feature_ms_threshold([1.0, 0.0]),
         "The 'scales' parameter of feature_ms_threshold must be a 1-D array of per-feature scales (d,) or "
         "a 2-D array (n_models, d) of floats in the range (0, inf). Got 0.0 instead."),
        (lambda: T.isotropic_log_multiplier(0.1, 0),
         "The 'n_features' parameter of isotropic_log_multiplier must be a scalar or an array of integers in "
         "the range [1, 1048576]. Got 0.0 instead."),
        (lambda: T.condition_scales(3, 0.5),
         "The 'condition_number' parameter of condition_scales must be a scalar or an array of floats in the "
         "range [1, inf). Got 0.5 instead."),
        (lambda: T.feature_lyapunov_exponent(0.1, [1.0], rng=None),
         "The 'rng' parameter of feature_lyapunov_exponent must be an int seed >= 0 or a "
         "numpy.random.Generator. Got None instead."),
        (lambda: T.isotropic_ms_threshold([1, 2], [1, 2, 3]),
         "The 'batch_size' parameter of isotropic_ms_threshold must be a scalar or an array of integers in "
         "the range [1, 2**53] broadcastable against 'n_features' of shape (2,). Got an array of shape (3,) "
         "instead."),
    ],
)
def test_validation_messages(call, message):
    with pytest.raises(ParameterError, match=__import__("re").escape(message)):
        call()
