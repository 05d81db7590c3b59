"""The evt (GARCH-EVT) and fhs (smoothed filtered-historical) innovation laws: the laws against independent
references (scipy's genpareto, arch's SkewStudent, quadrature), the engine against direct inverse-CDF
sampling and the GJR long-run variance, and their calibration on the bundled S&P 500 returns.

Two-sample KS tests use n = m = 20,000 draws and the critical value at alpha = 0.001,
1.949 * sqrt(2 / n) = 0.0195; every seed is fixed.
"""
import json
import math
import warnings

import numpy as np
import pytest
from scipy import integrate, stats

from simulator import MarketModel, simulate
from simulator.model import DistSpec
from simulator.tables import marginal_cdf_pair, marginal_pdf, marginal_ppf

N_KS = 20_000
KS_CRIT = 1.949 * math.sqrt(2.0 / N_KS)

EVT = {"type": "evt", "nu": 7.0, "lambda": -0.12,
       "threshold_left": -1.25, "tail_prob_left": 0.1, "xi_left": 0.3, "beta_left": 0.6,
       "threshold_right": 1.2, "tail_prob_right": 0.08, "xi_right": 0.05, "beta_right": 0.45}
EVT0 = {**EVT, "xi_left": 0.0, "xi_right": 0.0, "lambda": 0.1}  # the exponential (xi = 0) limit
# fhs centres: the midpoint quantiles of a unit-variance t(5), 200 of them
FHS = {"type": "fhs", "bandwidth": 0.13,
       "centres": list(stats.t.ppf((np.arange(200) + 0.5) / 200, 5) * math.sqrt(3 / 5))}
LAWS = {"evt": EVT, "evt-xi0": EVT0, "fhs": FHS}


# ---------------------------------------------------------------------- an independent evt reference
class EvtReference:
    """The spliced law rebuilt from scipy's genpareto and arch's SkewStudent, moments by quadrature."""

    def __init__(self, d):
        from arch.univariate import SkewStudent

        self.sk, self.par = SkewStudent(), np.array([d["nu"], d["lambda"]])
        self.uL, self.uR = d["threshold_left"], d["threshold_right"]
        self.pL, self.pR = d["tail_prob_left"], d["tail_prob_right"]
        self.gL = stats.genpareto(c=d["xi_left"], scale=d["beta_left"])
        self.gR = stats.genpareto(c=d["xi_right"], scale=d["beta_right"])
        self.HL, self.HR = (float(np.asarray(self.sk.cdf(np.array([u]), self.par)).ravel()[0])
                            for u in (self.uL, self.uR))
        self.r = (1 - self.pL - self.pR) / (self.HR - self.HL)
        body = lambda y, k: y**k * self.r * float(self._h(y)[0])  # noqa: E731
        m = []
        for k in (1, 2):
            left = integrate.quad(lambda w, k=k: (self.uL - w) ** k * self.pL * self.gL.pdf(w), 0, np.inf)[0]
            mid = integrate.quad(body, self.uL, self.uR, args=(k,), limit=200, epsabs=1e-13)[0]
            right = integrate.quad(lambda w, k=k: (self.uR + w) ** k * self.pR * self.gR.pdf(w), 0, np.inf)[0]
            m.append(left + mid + right)
        self.m, self.s = m[0], math.sqrt(m[1] - m[0] ** 2)

    def _h(self, y):
        y = np.atleast_1d(np.asarray(y, float))
        return np.exp(self.sk.loglikelihood(self.par, y, np.ones_like(y), individual=True))

    def ppf(self, u):
        """Quantile of the standardised law at lower-tail probability u (array)."""
        u = np.asarray(u, float)
        y = np.where(u < self.pL, self.uL - self.gL.isf(np.minimum(u / self.pL, 1)),
                     np.where(u > 1 - self.pR, self.uR + self.gR.isf(np.minimum((1 - u) / self.pR, 1)),
                              self.sk.ppf(np.clip(self.HL + (u - self.pL) / self.r, 1e-12, 1 - 1e-12), self.par)))
        return (y - self.m) / self.s


# ---------------------------------------------------------------------- the laws
def _pieces(d):
    """Breakpoints of a law's density (evt: its splice points) for piecewise quadrature."""
    spec = DistSpec.from_dict(d)
    pts = [-np.inf, np.inf]
    if d["type"] == "evt":
        pts[1:1] = [float(marginal_ppf(np.array(p), np.array(1 - p), spec))
                    for p in (d["tail_prob_left"], 1 - d["tail_prob_right"])]
    else:
        pts[1:1] = [-3.0, 0.0, 3.0]
    return spec, pts


@pytest.mark.parametrize("name", list(LAWS))
def test_density_integrates_to_one_with_zero_mean_and_unit_variance(name):
    spec, pts = _pieces(LAWS[name])
    mom = [sum(integrate.quad(lambda z, k=k: z**k * marginal_pdf(z, spec), a, b, limit=200, epsabs=1e-12)[0]
               for a, b in zip(pts[:-1], pts[1:])) for k in range(3)]
    assert mom[0] == pytest.approx(1.0, abs=1e-9)
    assert mom[1] == pytest.approx(0.0, abs=1e-9)
    assert mom[2] == pytest.approx(1.0, abs=1e-8)


@pytest.mark.parametrize("name", list(LAWS))
def test_ppf_inverts_cdf_from_both_sides(name):
    spec = DistSpec.from_dict(LAWS[name])
    p = np.concatenate([np.logspace(-14, -1.01, 300), np.linspace(0.1, 0.5, 200)])
    z_lo = marginal_ppf(p, 1 - p, spec)
    z_hi = marginal_ppf(1 - p, p, spec)  # upper quantiles given exactly through q
    assert np.all(np.diff(z_lo) > 0) and np.all(np.diff(z_hi) < 0)
    F, _ = marginal_cdf_pair(z_lo, spec)
    _, Q = marginal_cdf_pair(z_hi, spec)
    np.testing.assert_allclose(F, p, rtol=1e-10)
    np.testing.assert_allclose(Q, p, rtol=1e-10)
    # the CDF is continuous at evt's splice points
    if spec.type == "evt":
        for p0 in (spec.tail_prob_left, 1 - spec.tail_prob_right):
            z0 = float(marginal_ppf(np.array(p0), np.array(1 - p0), spec))
            lo, hi = marginal_cdf_pair(np.array([z0 - 1e-10, z0 + 1e-10]), spec)[0]
            assert abs(hi - lo) < 1e-9 and lo <= p0 + 1e-12 <= hi + 2e-12


@pytest.mark.parametrize("name", ["evt", "evt-xi0"])
def test_evt_quantiles_match_the_scipy_genpareto_reference(name):
    d = LAWS[name]
    ref = EvtReference(d)
    spec = DistSpec.from_dict(d)
    u = np.concatenate([np.logspace(-12, -1.05, 200), np.linspace(0.1, 0.9, 200), 1 - np.logspace(-12, -1.2, 200)])
    ours = marginal_ppf(u, 1 - u, spec)
    np.testing.assert_allclose(ours, ref.ppf(u), rtol=1e-7, atol=1e-9)
    # deep in each tail the law is exactly the genpareto's: P(Z <= z) = p_L * sf((u_L - (m + s z)))
    z = np.array([-4.0, -8.0, -30.0])
    F, _ = marginal_cdf_pair(z, spec)
    # (rtol: the reference m and s come from quadrature, ~1e-9, amplified ~30x at z = -30)
    np.testing.assert_allclose(F, ref.pL * ref.gL.sf(ref.uL - (ref.m + ref.s * z)), rtol=1e-6)


def test_gpd_fit_recovers_xi_within_its_standard_error():
    from calibration.marginals import _evt_tails

    # a sample from a GPD-tailed law (true xi 0.3 left, 0.05 right), tails 12 % so the fitted 10 %
    # thresholds lie inside them, where exceedances are GPD with the same shape (threshold stability)
    d = {**EVT, "tail_prob_left": 0.12, "tail_prob_right": 0.12}
    u = np.random.default_rng(2024).random(20_000)
    z = EvtReference(d).ppf(u)
    law, se, diag = _evt_tails(z, d["nu"], d["lambda"], 0.10)
    assert diag["exceedances_per_tail"] == 2000
    assert abs(law["xi_left"] - 0.3) < 3 * se["xi_left"], (law["xi_left"], se["xi_left"])
    assert abs(law["xi_right"] - 0.05) < 3 * se["xi_right"], (law["xi_right"], se["xi_right"])
    assert se["xi_left"] == pytest.approx(1.3 / math.sqrt(2000), rel=0.05)  # (1 + xi) / sqrt(k)
    assert law["tail_prob_left"] == law["tail_prob_right"] == 0.1
    assert not np.isin([law["threshold_left"], law["threshold_right"]], z).any()  # midpoints, not observations


def test_gpd_shape_is_capped_below_one_half():
    from calibration.marginals import EVT_XI_MAX, _gpd_fit

    w = stats.genpareto(c=0.8, scale=1.0).rvs(size=3000, random_state=np.random.default_rng(1))
    fit = _gpd_fit(w)
    assert fit["xi"] == pytest.approx(EVT_XI_MAX) and fit["capped"] and EVT_XI_MAX < 0.5
    # an exponential sample: xi stays at its lower bound 0 or close to it, beta near 1
    w = np.random.default_rng(2).exponential(size=3000)
    fit = _gpd_fit(w)
    assert 0.0 <= fit["xi"] < 3 * fit["se_xi"] and fit["beta"] == pytest.approx(1.0, abs=4 * fit["se_beta"])


# ---------------------------------------------------------------------- the engine
GJR = {"type": "gjr", "omega": 0.02, "alpha": 0.03, "gamma": 0.10, "beta": 0.88}


def _model(dist, start=None):
    d = {"assets": ["X"], "marginals": [{"mean": {"mu": 0.03}, "vol": dict(GJR), "dist": dict(dist)}],
         "copula": {"type": "independent"}}
    if start is not None:
        d["start"] = start
    return MarketModel.from_dict(d)


@pytest.mark.parametrize("name", ["evt", "fhs"])
def test_one_day_draws_match_inverse_cdf_sampling(name):
    model = _model(LAWS[name], start={"sigma2": [1.7], "resid": [-1.1]})
    r = simulate(model, N_KS, 1, seed=11).returns[:, 0, 0]
    s2 = 0.02 + (0.03 + 0.10) * 1.1**2 + 0.88 * 1.7  # the GJR step from the start state, by hand
    u = np.random.default_rng(99).random(N_KS)
    ref = 0.03 + math.sqrt(s2) * marginal_ppf(u, 1 - u, model.marginals[0].dist)
    ks = stats.ks_2samp(r, ref).statistic
    assert ks < KS_CRIT, f"{name}: KS {ks:.4f} >= {KS_CRIT:.4f}"
    # the standardised draws have the law's mean 0 and variance 1 (5 standard errors)
    z = (r - 0.03) / math.sqrt(s2)
    assert abs(z.mean()) < 5 / math.sqrt(N_KS)
    assert abs(z.var() - 1) < 5 * np.std(z**2) / math.sqrt(N_KS)


@pytest.mark.parametrize("name", ["evt", "fhs"])
def test_multi_day_paths_are_finite_with_the_closed_form_long_run_variance(name):
    model = _model(LAWS[name])
    spec = model.marginals[0]
    _, pts = _pieces(LAWS[name])
    neg = [p for p in pts if p < 0] + [0.0]
    mass = sum(integrate.quad(lambda z: z * z * marginal_pdf(z, spec.dist), a, b, limit=200)[0]
               for a, b in zip(neg[:-1], neg[1:]))
    target = 0.02 / (1 - 0.03 - 0.10 * mass - 0.88)
    assert spec.unconditional_variance == pytest.approx(target, rel=1e-8)
    res = simulate(model, 4000, 1000, seed=3)
    assert np.isfinite(res.returns).all() and np.isfinite(res.sigma).all()
    late = res.returns[:, 200:, 0] - 0.03
    per_path = (late**2).mean(axis=1)  # independent across paths
    se = per_path.std(ddof=1) / math.sqrt(per_path.size)
    assert abs(per_path.mean() - target) < 4.5 * se, (per_path.mean(), target, se)


# ---------------------------------------------------------------------- calibration on the bundled data
@pytest.fixture(scope="module")
def spx():
    from calibration.data import load_prices, log_returns

    return log_returns(load_prices("builtin:us-markets"))["SP500"]


@pytest.fixture(scope="module")
def spx_fits(spx):
    from calibration.marginals import fit_marginal

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {d: fit_marginal(spx, vol="egarch", dist=d) for d in ("skewt", "evt", "fhs")}


def test_evt_fit_on_sp500(spx_fits):
    f, base = spx_fits["evt"], spx_fits["skewt"]
    p = f.params
    assert f.dist == "evt" and f.converged and f.stationary
    assert {k: p[k] for k in ("mu", "omega", "alpha", "gamma", "beta", "nu", "lambda")} == pytest.approx(
        {k: base.params[k] for k in ("mu", "omega", "alpha", "gamma", "beta", "nu", "lambda")})  # the filter
    k = round(0.10 * f.nobs)
    assert p["tail_prob_left"] == p["tail_prob_right"] == k / f.nobs
    assert -2.0 < p["threshold_left"] < -0.8 and 0.8 < p["threshold_right"] < 2.0
    for side in ("left", "right"):
        assert 0.0 <= p[f"xi_{side}"] <= 0.45 and 0.2 < p[f"beta_{side}"] < 1.5
        assert f.std_err[f"xi_{side}"] > 0
    std = f.law_fit["standardisation"]
    assert abs(std["mean"]) < 0.05 and abs(std["sd"] - 1) < 0.05  # the spliced law was nearly standard
    assert f.n_params == base.n_params + 6
    assert f.bic == pytest.approx(-2 * f.loglik + f.n_params * math.log(f.nobs))
    # the model file round-trips and its law is the one fitted
    spec = DistSpec.from_dict(json.loads(json.dumps(f.spec()["dist"])))
    assert spec.to_dict() == f.spec()["dist"]
    u = f.pit().to_numpy()
    assert np.all((u > 0) & (u < 1))


def test_evt_one_percent_quantile_in_sample(spx_fits):
    """The share of standardised residuals below the evt law's 1 % quantile is within binomial error of 1 %.

    Bundled S&P 500, EGARCH filter: 51 of 5029 residuals (expected 50.3, binomial sd 7.05)."""
    f = spx_fits["evt"]
    z = f.std_resid.to_numpy()
    q = float(marginal_ppf(np.array(0.01), np.array(0.99), DistSpec.from_dict(f.spec()["dist"])))
    n, count = z.size, int((z < q).sum())
    sd = math.sqrt(n * 0.01 * 0.99)
    assert abs(count - 0.01 * n) < 3 * sd, (count, n)
    assert count == 51  # the figure quoted in the docstring (deterministic fit)


def test_fhs_fit_on_sp500(spx_fits):
    f = spx_fits["fhs"]
    p = f.params
    assert f.dist == "fhs" and "nu" not in p and "lambda" not in p
    c = np.asarray(p["centres"])
    assert c.size == 200 and np.all(np.diff(c) >= 0)
    z = np.sort(f.std_resid.to_numpy())
    assert c.mean() == pytest.approx(z.mean(), abs=1e-3)  # bin means (25 or 26 residuals each)
    assert not np.isin(c, z).any()  # every centre averages >= 25 residuals: no stored observation
    assert 0.05 < p["bandwidth"] < 0.3
    assert abs(f.law_fit["standardisation"]["sd"] - 1) < 0.06
    # as good in-sample as the skew-t it was filtered with (within 20 log-likelihood points of 5029 days)
    assert abs(f.loglik - spx_fits["skewt"].loglik) < 20
    spec = DistSpec.from_dict(json.loads(json.dumps(f.spec()["dist"])))
    assert spec.to_dict() == f.spec()["dist"]


def test_fhs_is_never_an_auto_candidate_and_options_are_checked(spx):
    from calibration.marginals import fit_marginal

    with pytest.raises(ValueError, match="evt_tail_fraction must be a number in"):
        fit_marginal(spx, vol="egarch", dist="evt", evt_tail_fraction=0.6)
    with pytest.raises(ValueError, match="fhs_centres must be an integer from 2 to 1000"):
        fit_marginal(spx, vol="egarch", dist="fhs", fhs_centres=1)
    with pytest.raises(ValueError, match="'fhs'"):
        fit_marginal(spx, vol="egarch", dist="gpd")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = fit_marginal(spx, vol="egarch", dist="auto", evt_tail_fraction=0.05)
    assert [c["dist"] for c in f.candidates] == ["normal", "t", "skewt", "evt"]
    evt = f.candidates[-1]
    assert evt["filter"] == "egarch/skewt" and evt["n_params"] == 7 + 6


def test_calibrate_with_evt_end_to_end_then_a_library_scenario():
    from calibration import calibrate
    from simulator import run_scenario

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = calibrate("builtin:us-markets", vol="egarch", dist="evt")
    assert [m.dist.type for m in model.marginals] == ["evt"] * 3
    assert MarketModel.from_json(model.to_json()) == model
    assert model.provenance["options"]["evt_tail_fraction"] == 0.10
    res = run_scenario("gfc-2008", model, n_paths=200, seed=1, keep="paths")
    assert np.isfinite(res.returns).all() and np.isfinite(res.sigma).all()
    assert res.returns.shape[0] == 200


def test_cli_calibrate_accepts_fhs(tmp_path):
    from simulator.cli import main

    out = tmp_path / "model.json"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rc = main(["calibrate", "builtin:us-markets", "--assets", "SP500", "--vol", "egarch", "--dist", "fhs",
                   "--out", str(out), "--quiet"])
    assert rc == 0
    model = MarketModel.from_json(out)
    assert model.marginals[0].dist.type == "fhs" and len(model.marginals[0].dist.centres) == 200


def test_collapse_loop_refits_the_new_laws():
    from calibration.collapse import collapse_check

    for dist in ("evt", "fhs"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rep = collapse_check("builtin:us-markets", assets=["SP500"], generations=1, n_obs=600, n_eval=10,
                                 seed=3, vol="egarch", dist=dist)
        run = rep.runs[0]
        assert not run.failures and len(run.generations) == 2
        params = run.generations[-1]["params"]["SP500"]
        assert all(isinstance(v, float) for v in params.values())  # scalar parameters only (no fhs centres)
        assert ("xi_left" in params) == (dist == "evt") and ("bandwidth" in params) == (dist == "fhs")
