"""Quantile tables and kernel special functions against scipy / arch, with the error bound stated."""
import numpy as np
import pytest
from numba import njit
from scipy import special, stats

from simulator.kernels.special import hermite_eval, ndtri_pq
from simulator.model import DistSpec
from simulator.tables import (
    N_CENTER,
    N_TAIL,
    Scale,
    build_table,
    eval_table_numpy,
    marginal_cdf,
    marginal_ppf,
    segment_coefficients,
)

DISTS = [DistSpec("normal"), DistSpec("t", 4.0), DistSpec("t", 30.0), DistSpec("skewt", 5.0, -0.4),
         DistSpec("skewt", 8.0, 0.3)]
SCALES = [Scale(None), Scale(3.0), Scale(12.0)]

# The stated bound: |table - exact| <= 5e-7 * (1 + |exact|) for lower-tail probabilities in [1e-15, 1 - 1e-15]
# (skew-t's density has a kink at its mode, where cubic Hermite converges at second order only).
TABLE_RTOL = 5e-7


def test_marginal_ppf_matches_arch():
    from arch.univariate import SkewStudent, StudentsT

    u = np.linspace(1e-4, 1 - 1e-4, 2001)
    ours = marginal_ppf(u, 1 - u, DistSpec("skewt", 6.0, -0.25))
    np.testing.assert_allclose(ours, SkewStudent().ppf(u, np.array([6.0, -0.25])), rtol=1e-9, atol=1e-9)
    ours = marginal_ppf(u, 1 - u, DistSpec("t", 5.0))
    np.testing.assert_allclose(ours, StudentsT().ppf(u, np.array([5.0])), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("dist", DISTS, ids=lambda d: f"{d.type}{d.nu or ''}{d.lam or ''}")
def test_ppf_cdf_inverse_and_unit_variance(dist):
    z = np.linspace(-8, 8, 801)
    u = marginal_cdf(z, dist)
    ok = (u > 1e-9) & (u < 1 - 1e-9)  # 1 - u keeps ~7 digits there
    np.testing.assert_allclose(marginal_ppf(u, 1 - u, dist)[ok], z[ok], atol=1e-6)
    from scipy import integrate

    from simulator.tables import marginal_pdf

    m1 = integrate.quad(lambda x: x * marginal_pdf(x, dist), -np.inf, np.inf)[0]
    m2 = integrate.quad(lambda x: x * x * marginal_pdf(x, dist), -np.inf, np.inf)[0]
    assert abs(m1) < 1e-7 and abs(m2 - 1) < 1e-6  # standardised: zero mean, unit variance


@pytest.mark.parametrize("scale", SCALES, ids=lambda s: f"scale-{s.nu or 'normal'}")
@pytest.mark.parametrize("dist", DISTS, ids=lambda d: f"{d.type}{d.nu or ''}{d.lam or ''}")
def test_table_interpolation_error_bound(scale, dist):
    table = build_table(scale, dist)
    # probabilities log-spaced into both tails plus a dense centre
    p = np.concatenate([np.logspace(-15, -1, 3000), np.linspace(0.05, 0.95, 4000)])
    p = np.concatenate([p, 1 - p])
    q = np.concatenate([1 - p[: p.size // 2], p[: p.size // 2]])
    x = np.where(p < 0.5, scale.ppf(np.minimum(p, q)), -scale.ppf(np.minimum(p, q)))
    exact = marginal_ppf(p, q, dist)
    approx = eval_table_numpy(table, x)
    err = np.abs(approx - exact) / (1 + np.abs(exact))
    assert err.max() <= TABLE_RTOL, f"max relative error {err.max():.2e} at x={x[err.argmax()]:.4g}"


@njit
def _kernel_eval(coef, kind, xc, ihc, iht, xs):
    out = np.empty(xs.size)
    for i in range(xs.size):
        out[i] = hermite_eval(coef, 0, 0, kind, xc, ihc, iht, N_CENTER, N_TAIL, xs[i])
    return out


def test_kernel_table_eval_equals_numpy_twin():
    table = build_table(Scale(4.0), DistSpec("skewt", 5.0, -0.3))
    xs = np.concatenate([np.linspace(-50, 50, 5001), [-1e40, -1e6, 1e6, 1e40, 0.0]])
    got = _kernel_eval(segment_coefficients(table)[None, None], table.kind, table.xc, table.inv_hc,
                       table.inv_ht, xs)
    np.testing.assert_allclose(got, eval_table_numpy(table, xs), rtol=1e-13, atol=1e-13)
    assert np.all(np.diff(got[:5001]) > 0)  # monotone


@njit
def _ndtri_many(p):
    out = np.empty(p.size)
    for i in range(p.size):
        out[i] = ndtri_pq(p[i], 1.0 - p[i])
    return out


def test_ndtri_matches_scipy():
    p = np.concatenate([np.logspace(-300, -1, 2000), np.linspace(0.01, 0.99, 2000)])
    np.testing.assert_allclose(_ndtri_many(p), special.ndtri(p), rtol=1e-14, atol=1e-15)
    # upper tail given exactly through q
    q = np.logspace(-300, -2, 500)

    @njit
    def upper(q):
        out = np.empty(q.size)
        for i in range(q.size):
            out[i] = ndtri_pq(1.0 - q[i], q[i])
        return out

    np.testing.assert_allclose(upper(q), -special.ndtri(q), rtol=1e-14)


def test_rng_draws_match_their_laws():
    from simulator.kernels.rng import gamma, logarithmic, normal, positive_stable, seed_stream

    @njit
    def draws(n):
        st = np.empty(4, np.uint64)
        seed_stream(st, np.uint64(11), np.uint64(22), 5)
        out = np.empty((4, n))
        for i in range(n):
            out[0, i] = normal(st)
            out[1, i] = gamma(st, 2.5)
            out[2, i] = logarithmic(st, -3.0)
            out[3, i] = positive_stable(st, 0.5)
        return out

    n = 100_000
    d = draws(n)
    crit = 1.95 / np.sqrt(n)  # KS critical value at alpha = 0.001
    assert stats.kstest(d[0], "norm").statistic < crit
    assert stats.kstest(d[1], stats.gamma(2.5).cdf).statistic < crit
    # positive 1/2-stable with Laplace transform exp(-sqrt(t)) is Levy with scale 1/2
    assert stats.kstest(d[3], stats.levy(scale=0.5).cdf).statistic < crit
    p = -np.expm1(-3.0)
    k = np.arange(1, 8)
    pmf = p**k / (-k * np.log1p(-p))
    freq = np.array([(d[2] == kk).mean() for kk in k])
    assert np.all(np.abs(freq - pmf) <= 4 * np.sqrt(pmf * (1 - pmf) / n))
