"""Quantile tables and kernel special functions against scipy / arch, with the error bound stated."""
import math

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
    marginal_pdf,
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
    got = _kernel_eval(segment_coefficients(table).reshape(1, 1, -1), table.kind, table.xc, table.inv_hc,
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


# ---------------------------------------------------------------------- evt and fhs laws
EVT = DistSpec.from_dict({"type": "evt", "nu": 7.0, "lambda": -0.12,
                          "threshold_left": -1.25, "tail_prob_left": 0.1, "xi_left": 0.25, "beta_left": 0.6,
                          "threshold_right": 1.2, "tail_prob_right": 0.08, "xi_right": 0.05, "beta_right": 0.45})
EVT0 = DistSpec.from_dict({"type": "evt", "nu": 5.0, "lambda": 0.1,
                           "threshold_left": -1.3, "tail_prob_left": 0.1, "xi_left": 0.0, "beta_left": 0.5,
                           "threshold_right": 1.3, "tail_prob_right": 0.1, "xi_right": 0.0, "beta_right": 0.5})
# fhs centres: the midpoint quantiles of a unit-variance t(5), 200 of them
FHS = DistSpec.from_dict({"type": "fhs", "bandwidth": 0.13,
                          "centres": list(stats.t.ppf((np.arange(200) + 0.5) / 200, 5) * math.sqrt(3 / 5))})
NEW_LAWS = [EVT, EVT0, FHS]

# Stated bounds, lower-tail probabilities in [1e-15, 1 - 1e-15]:
# - evt: |table - exact| <= TABLE_RTOL (1 + |exact|) everywhere except the one centre segment holding each
#   splice point (copula-scale x_s = G^-1(tail_prob)). There the density jumps, the quantile map has a kink
#   of slope jump D = g(x_s) |1/f(z_s+) - 1/f(z_s-)|, and a cubic Hermite with exact end values and slopes
#   is off by at most 0.1474 h D (h the centre spacing; the worst case over the kink's position, computed
#   for (t - t*)_+ on [0, 1]): the test asserts 0.15 h D + TABLE_RTOL (1 + |exact|). Measured, law EVT:
#   4.6e-5 (normal scale, h = 0.0043), 2.8e-4 (t(3) scale, h = 0.059), 6.2e-5 (t(12)); law EVT0 (larger
#   jumps): up to 1.3e-3 on the t(3) scale; outside the splice segments <= 2.5e-9 relative;
# - fhs: FHS_RTOL relative (measured 2.2e-10 normal scale, 4.4e-6 t(3) scale, 1.4e-9 t(12) scale).
FHS_RTOL = 1e-5


def _law_id(d):
    return d.type + ("" if d.type == "fhs" else f"-xi{d.xi_left}")


@pytest.mark.parametrize("scale", SCALES, ids=lambda s: f"scale-{s.nu or 'normal'}")
@pytest.mark.parametrize("dist", NEW_LAWS, ids=_law_id)
def test_new_law_table_interpolation_error_bound(scale, dist):
    table = build_table(scale, dist)
    p = np.concatenate([np.logspace(-15, -1, 3000), np.linspace(0.05, 0.95, 4000)])
    p = np.concatenate([p, 1 - p])
    q = np.concatenate([1 - p[: p.size // 2], p[: p.size // 2]])
    x = np.where(p < 0.5, scale.ppf(np.minimum(p, q)), -scale.ppf(np.minimum(p, q)))
    if dist.type == "evt":  # add a dense sweep of the 10 centre segments around each splice point
        h = 1.0 / table.inv_hc
        for xs in (scale.ppf(dist.tail_prob_left), -scale.ppf(dist.tail_prob_right)):
            x = np.concatenate([x, np.linspace(xs - 5 * h, xs + 5 * h, 20001)])
    u, uq = scale.cdf_pair(x)
    exact = marginal_ppf(u, uq, dist)
    err = np.abs(eval_table_numpy(table, x) - exact) / (1 + np.abs(exact))
    if dist.type == "fhs":
        assert err.max() <= FHS_RTOL, f"max relative error {err.max():.2e} at x={x[err.argmax()]:.4g}"
        return
    seg = np.floor((x + table.xc) * table.inv_hc)
    h = 1.0 / table.inv_hc
    kinked = np.zeros(x.size, bool)
    abs_err = np.abs(eval_table_numpy(table, x) - exact)
    for p, xs in ((dist.tail_prob_left, scale.ppf(dist.tail_prob_left)),
                  (1 - dist.tail_prob_right, -scale.ppf(dist.tail_prob_right))):
        here = seg == np.floor((xs + table.xc) * table.inv_hc)
        zs = float(marginal_ppf(np.array(p), np.array(1 - p), dist))
        f_lo, f_hi = (float(marginal_pdf(np.array(zs + e), dist)) for e in (-1e-9, 1e-9))
        jump = math.exp(float(scale.logpdf(np.array(xs)))) * abs(1 / f_hi - 1 / f_lo)
        bound = 0.15 * h * jump + TABLE_RTOL * (1 + np.abs(exact[here]))
        assert here.sum() > 1000 and np.all(abs_err[here] <= bound), \
            f"splice at p={p}: max error {abs_err[here].max():.2e}, bound {bound.max():.2e}"
        kinked |= here
    assert err[~kinked].max() <= TABLE_RTOL, f"max {err[~kinked].max():.2e} at x={x[~kinked][err[~kinked].argmax()]:.4g}"


@pytest.mark.parametrize("dist", NEW_LAWS, ids=_law_id)
def test_new_law_inverse_table_round_trips(dist):
    from simulator.tables import build_inverse_table

    scale = Scale(5.0)
    fwd, inv = build_table(scale, dist), build_inverse_table(scale, dist)
    x = np.linspace(-6, 6, 200001)
    back = eval_table_numpy(inv, eval_table_numpy(fwd, x))
    # evt: the forward and the inverse table each have a kinked segment at each splice (bound above);
    # measured round-trip error 3.7e-4 (EVT) and 1.1e-3 (EVT0) there, 1.8e-9 for fhs
    np.testing.assert_allclose(back, x, atol=2e-3 if dist.type == "evt" else 1e-7)


ALPHAS = [0.001, 0.01, 0.025, 0.3, 0.7]


def test_tail_mean_closed_forms_normal_and_t():
    from simulator.tables import marginal_tail_mean

    for a in ALPHAS:
        q = stats.norm.ppf(a)
        assert marginal_tail_mean(a, DistSpec("normal")) == pytest.approx(-stats.norm.pdf(q) / a, rel=1e-12)
        for nu in (3.5, 6.0, 30.0):
            # ES of the unit-variance t: -sqrt((nu-2)/nu) (nu + t^2) / (nu - 1) f_nu(t) / alpha, t = t_nu^-1(alpha)
            t = stats.t.ppf(a, nu)
            ref = -math.sqrt((nu - 2) / nu) * (nu + t * t) / (nu - 1) * stats.t.pdf(t, nu) / a
            assert marginal_tail_mean(a, DistSpec("t", nu)) == pytest.approx(ref, rel=1e-10)
    got = marginal_tail_mean(np.array(ALPHAS), DistSpec("t", 5.0))
    assert got.shape == (len(ALPHAS),) and np.all(np.diff(got) > 0)
    with pytest.raises(ValueError, match=r"alpha must lie in \(0, 1\)"):
        marginal_tail_mean(0.0, DistSpec("normal"))


@pytest.mark.parametrize("nu,lam", [(5.0, -0.4), (8.0, 0.3), (30.0, 0.0)])
def test_tail_mean_skewt_matches_arch_partial_moments(nu, lam):
    from arch.univariate import SkewStudent

    from simulator.tables import marginal_tail_mean

    for a in ALPHAS:
        q = float(SkewStudent().ppf(a, np.array([nu, lam])))
        ref = float(SkewStudent().partial_moment(1, q, np.array([nu, lam]))) / a
        assert marginal_tail_mean(a, DistSpec("skewt", nu, lam)) == pytest.approx(ref, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("dist", NEW_LAWS, ids=_law_id)
def test_tail_mean_new_laws_match_numerical_integration(dist):
    from scipy import integrate

    from simulator.tables import marginal_pdf, marginal_tail_mean

    for a in ALPHAS:
        q = float(marginal_ppf(np.array(a), np.array(1 - a), dist))
        cuts = sorted({float(marginal_ppf(np.array(p), np.array(1 - p), dist)) for p in (0.08, 0.1, 0.9, 0.92)})
        pts = [-math.inf] + [c for c in cuts if c < q] + [q]
        val = sum(integrate.quad(lambda z: z * marginal_pdf(z, dist), lo, hi, limit=200, epsabs=1e-13)[0]
                  for lo, hi in zip(pts[:-1], pts[1:]))
        assert marginal_tail_mean(a, dist) == pytest.approx(val / a, rel=1e-8)
