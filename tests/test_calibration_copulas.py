"""Copula densities against closed forms and finite differences; fits recover known tau / theta / nu."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from calibration.copulas import (
    copula_logpdf,
    fit_copula,
    kendall_tau_matrix,
    nearest_correlation,
    pseudo_observations,
    tail_dependence,
    tau_to_theta,
    theta_to_tau,
)

# ---------------------------------------------------------------------- samplers (written here, independently)


def sample_gaussian(rng, n, corr):
    z = rng.multivariate_normal(np.zeros(len(corr)), corr, size=n)
    return stats.norm.cdf(z)


def sample_t(rng, n, corr, nu):
    z = rng.multivariate_normal(np.zeros(len(corr)), corr, size=n)
    w = rng.chisquare(nu, size=n) / nu
    return stats.t.cdf(z / np.sqrt(w)[:, None], nu)


def sample_clayton(rng, n, d, theta):
    """Marshall–Olkin: gamma frailty V ~ Gamma(1/theta), U_i = (1 + E_i / V)^(-1/theta)."""
    v = rng.gamma(1.0 / theta, 1.0, size=(n, 1))
    return (1.0 + rng.exponential(size=(n, d)) / v) ** (-1.0 / theta)


def sample_gumbel(rng, n, d, theta):
    """Marshall–Olkin with a positive stable frailty (Kanter's representation), Laplace transform exp(-t^a)."""
    a = 1.0 / theta
    w_u = rng.uniform(0.0, math.pi, size=n)
    w_e = rng.exponential(size=n)
    v = (np.sin(a * w_u) / np.sin(w_u) ** (1.0 / a)) * (np.sin((1.0 - a) * w_u) / w_e) ** ((1.0 - a) / a)
    return np.exp(-((rng.exponential(size=(n, d)) / v[:, None]) ** a))


def sample_frank(rng, n, d, theta):
    """Marshall–Olkin with a logarithmic frailty, p = 1 - exp(-theta)."""
    v = stats.logser.rvs(-math.expm1(-theta), size=n, random_state=rng).astype(float)
    e = rng.exponential(size=(n, d))
    return -np.log1p(np.exp(-e / v[:, None]) * math.expm1(-theta)) / theta


def equicorr(d, rho):
    r = np.full((d, d), rho)
    np.fill_diagonal(r, 1.0)
    return r


# ---------------------------------------------------------------------- closed forms
def cdf_archimedean(u, family, th):
    if family == "clayton":
        return ((u**-th).sum(-1) - u.shape[-1] + 1.0) ** (-1.0 / th)
    if family == "gumbel":
        return np.exp(-(((-np.log(u)) ** th).sum(-1)) ** (1.0 / th))
    t = -np.log((1 - np.exp(-th * u)) / (1 - math.exp(-th))).sum(-1)
    return -np.log(1 - (1 - math.exp(-th)) * np.exp(-t)) / th


@pytest.mark.parametrize("theta", [0.3, 2.0, 7.5])
def test_bivariate_archimedean_densities_match_closed_forms(theta):
    rng = np.random.default_rng(0)
    u = rng.uniform(0.01, 0.99, size=(50, 2))
    a, b = u[:, 0], u[:, 1]
    clayton = np.log((1 + theta) * (a * b) ** (-theta - 1) * (a**-theta + b**-theta - 1) ** (-2 - 1 / theta))
    np.testing.assert_allclose(copula_logpdf(u, "clayton", {"theta": theta}), clayton, rtol=1e-10, atol=1e-10)
    g = 1.0 + theta  # Gumbel needs theta >= 1
    x, y = -np.log(a), -np.log(b)
    s = (x**g + y**g) ** (1 / g)
    gumbel = np.log(np.exp(-s) / (a * b) * (x * y) ** (g - 1) / (x**g + y**g) ** (2 - 1 / g) * (s + g - 1))
    np.testing.assert_allclose(copula_logpdf(u, "gumbel", {"theta": g}), gumbel, rtol=1e-10, atol=1e-10)
    e = math.exp(-theta)
    frank = np.log(theta * (1 - e) * np.exp(-theta * (a + b))
                   / ((1 - e) - (1 - np.exp(-theta * a)) * (1 - np.exp(-theta * b))) ** 2)
    np.testing.assert_allclose(copula_logpdf(u, "frank", {"theta": theta}), frank, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("family, theta", [("clayton", 1.7), ("gumbel", 2.2), ("frank", 4.0)])
@pytest.mark.parametrize("d", [3, 4])
def test_d_dimensional_densities_are_the_mixed_partials_of_the_cdf(family, theta, d):
    rng = np.random.default_rng(d)
    u = rng.uniform(0.15, 0.85, size=(6, d))
    h = 2e-3
    dens = np.zeros(len(u))
    for signs in itertools.product((-1.0, 1.0), repeat=d):
        dens += np.prod(signs) * cdf_archimedean(u + np.array(signs) * h / 2, family, theta)
    dens /= h**d
    np.testing.assert_allclose(copula_logpdf(u, family, {"theta": theta}), np.log(dens), atol=3e-3)


def test_elliptical_densities_match_scipy_multivariate():
    rng = np.random.default_rng(1)
    corr = np.array([[1.0, 0.5, -0.2], [0.5, 1.0, 0.3], [-0.2, 0.3, 1.0]])
    u = rng.uniform(0.01, 0.99, size=(40, 3))
    z = stats.norm.ppf(u)
    ref = stats.multivariate_normal(np.zeros(3), corr).logpdf(z) - stats.norm.logpdf(z).sum(1)
    np.testing.assert_allclose(copula_logpdf(u, "gaussian", {"corr": corr}), ref, rtol=1e-9, atol=1e-10)
    nu = 4.5
    x = stats.t.ppf(u, nu)
    ref = stats.multivariate_t(np.zeros(3), corr, df=nu).logpdf(x) - stats.t.logpdf(x, nu).sum(1)
    np.testing.assert_allclose(copula_logpdf(u, "t", {"corr": corr, "nu": nu}), ref, rtol=1e-9, atol=1e-10)


def test_independence_limits():
    u = np.random.default_rng(2).uniform(0.05, 0.95, size=(20, 5))
    np.testing.assert_allclose(copula_logpdf(u, "gumbel", {"theta": 1.0}), 0.0, atol=1e-12)
    np.testing.assert_allclose(copula_logpdf(u, "clayton", {"theta": 1e-7}), 0.0, atol=1e-5)
    np.testing.assert_allclose(copula_logpdf(u, "frank", {"theta": 1e-6}), 0.0, atol=1e-5)
    np.testing.assert_allclose(copula_logpdf(u, "independent"), 0.0)


def test_kendall_tau_relations():
    # Frank: theta = 5.7363 gives tau = 0.5 (Genest 1987); Clayton and Gumbel closed forms
    assert theta_to_tau("frank", 5.7363) == pytest.approx(0.5, abs=1e-4)
    assert theta_to_tau("clayton", 2.0) == pytest.approx(0.5)
    assert theta_to_tau("gumbel", 2.0) == pytest.approx(0.5)
    for fam in ("clayton", "gumbel", "frank"):
        for tau in (0.1, 0.4, 0.7):
            assert theta_to_tau(fam, tau_to_theta(fam, tau)) == pytest.approx(tau, abs=1e-9)


def test_tail_dependence_coefficients():
    # t copula: McNeil, Frey & Embrechts (2005), Table 5.2 (two decimals)
    for nu, rho, lam in [(2, 0.5, 0.39), (4, 0.0, 0.08), (4, 0.5, 0.25), (4, 0.9, 0.63), (10, 0.9, 0.46)]:
        td = tail_dependence("t", {"corr": equicorr(2, rho), "nu": nu}, 2)
        assert td["lower"][0, 1] == pytest.approx(lam, abs=0.006)
        assert td["upper"][0, 1] == td["lower"][0, 1]
    # Archimedean: the limits of the closed-form CDF on the diagonal
    th = 1.5
    u = 1e-10
    c = cdf_archimedean(np.array([[u, u]]), "clayton", th)[0]
    assert tail_dependence("clayton", {"theta": th}, 2)["lower"][0, 1] == pytest.approx(c / u, rel=1e-6)
    g = 2.5
    u = 1 - 1e-7
    c = cdf_archimedean(np.array([[u, u]]), "gumbel", g)[0]
    assert tail_dependence("gumbel", {"theta": g}, 2)["upper"][0, 1] == pytest.approx((1 - 2 * u + c) / (1 - u),
                                                                                      rel=1e-5)
    assert tail_dependence("frank", {"theta": 5.0}, 3)["upper"][0, 1] == 0.0


def test_nearest_correlation_higham_example():
    """Higham (2002), section 4 example: the nearest correlation matrix to tridiag(-1, 2, -1)."""
    a = np.array([[2.0, -1, 0, 0], [-1, 2, -1, 0], [0, -1, 2, -1], [0, 0, -1, 2]])
    expected = np.array([
        [1.0000, -0.8084, 0.1916, 0.1068],
        [-0.8084, 1.0000, -0.6562, 0.1916],
        [0.1916, -0.6562, 1.0000, -0.8084],
        [0.1068, 0.1916, -0.8084, 1.0000],
    ])
    x = nearest_correlation(a)
    np.testing.assert_allclose(x, expected, atol=1e-4)
    np.testing.assert_array_equal(np.diag(x), 1.0)
    np.testing.assert_array_equal(x, x.T)
    np.linalg.cholesky(x)
    ok = equicorr(3, 0.4)
    np.testing.assert_array_equal(nearest_correlation(ok), ok)


def _se(u, family, params, key):
    """Standard error of one scalar parameter from the observed information (numerical second derivative)."""
    p0 = params[key]
    h = 1e-3 * max(abs(p0), 1.0)

    def ll(v):
        return copula_logpdf(u, family, {**params, key: v}).sum()

    d2 = (ll(p0 + h) - 2 * ll(p0) + ll(p0 - h)) / h**2
    return 1.0 / math.sqrt(-d2)


@pytest.mark.parametrize(
    "family, theta, sampler",
    [("clayton", 2.0, sample_clayton), ("gumbel", 1.8, sample_gumbel), ("frank", 5.0, sample_frank)],
)
def test_archimedean_fit_recovers_theta_and_tau(family, theta, sampler):
    rng = np.random.default_rng(11)
    u = sampler(rng, 2000, 4, theta)
    fit = fit_copula(pseudo_observations(u))
    assert fit.family == family
    est = fit.params["theta"]
    assert abs(est - theta) < 3 * _se(pseudo_observations(u), family, fit.params, "theta")
    tau = theta_to_tau(family, theta)
    off = fit.tau[np.triu_indices(4, 1)]
    assert np.all(np.abs(off - tau) < 0.045)  # 3 sd of Kendall's tau at n = 2000
    assert fit.implied_tau[0, 1] == pytest.approx(theta_to_tau(family, est))
    assert {c["family"] for c in fit.candidates} == {"gaussian", "t", "clayton", "gumbel", "frank", "independent"}
    assert fit.spec() == {"type": family, "theta": est}


def test_t_fit_recovers_corr_and_nu():
    rng = np.random.default_rng(5)
    corr = np.array([[1.0, 0.6, 0.3, 0.2], [0.6, 1.0, 0.4, 0.1], [0.3, 0.4, 1.0, 0.5], [0.2, 0.1, 0.5, 1.0]])
    nu = 5.0
    u = pseudo_observations(sample_t(rng, 3000, corr, nu))
    fit = fit_copula(u)
    assert fit.family == "t"
    assert abs(fit.params["nu"] - nu) < 3 * _se(u, "t", fit.params, "nu")
    np.testing.assert_allclose(fit.implied_tau, 2 / np.pi * np.arcsin(fit.params["corr"]), atol=1e-12)
    np.testing.assert_allclose(fit.params["corr"], corr, atol=0.06)
    np.testing.assert_allclose(fit.tau, 2 / np.pi * np.arcsin(corr), atol=0.04)
    lam = tail_dependence("t", {"corr": corr, "nu": nu}, 4)["lower"]
    np.testing.assert_allclose(fit.tail_dependence["lower"], lam, atol=0.06)
    spec = fit.spec()
    assert spec["type"] == "t" and spec["nu"] == fit.params["nu"] and len(spec["corr"]) == 4


def test_gaussian_fit_and_selection():
    rng = np.random.default_rng(9)
    corr = equicorr(3, 0.5)
    u = pseudo_observations(sample_gaussian(rng, 3000, corr))
    fit = fit_copula(u, family=["gaussian", "clayton", "gumbel", "frank", "independent"])
    assert fit.family == "gaussian"
    np.testing.assert_allclose(fit.params["corr"], corr, atol=3 * (1 - 0.25) / math.sqrt(3000))
    only = fit_copula(u, family="independent")
    assert only.loglik == 0.0 and only.aic == 0.0


def test_independent_data_selects_few_parameters():
    u = pseudo_observations(np.random.default_rng(4).uniform(size=(1500, 3)))
    fit = fit_copula(u)
    aics = {c["family"]: c["aic"] for c in fit.candidates}
    assert aics["independent"] < aics["gaussian"] and aics["independent"] < aics["t"]


def test_kendall_tau_matrix_matches_scipy():
    u = np.random.default_rng(0).uniform(size=(300, 3))
    u[:, 1] = 0.5 * u[:, 0] + 0.5 * u[:, 1]
    tau = kendall_tau_matrix(u)
    assert tau[0, 1] == pytest.approx(stats.kendalltau(u[:, 0], u[:, 1]).statistic)
    np.testing.assert_array_equal(tau, tau.T)


def test_input_validation_names_the_bad_value():
    u = np.full((50, 2), 0.5)
    u[7, 1] = 1.0
    with pytest.raises(ValueError, match=r"u\[7, 'u1'\] = 1.0; pseudo-observations must lie in \(0, 1\)"):
        fit_copula(u)
    with pytest.raises(ValueError, match="copula family must be 'auto' or one of"):
        fit_copula(np.full((50, 2), 0.5), family="joe")
    with pytest.raises(ValueError, match="at least 10"):
        fit_copula(np.full((5, 2), 0.5))
    with pytest.raises(ValueError, match="one asset has no dependence"):
        fit_copula(np.random.default_rng(0).uniform(size=(50, 1)), family="t")
    assert fit_copula(np.random.default_rng(0).uniform(size=(50, 1))).family == "independent"
