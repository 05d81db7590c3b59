"""fit_marginal against the published GARCH benchmark, arch's own simulations, and its diagnostics."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from arch.univariate import EGARCH, GARCH, ConstantMean, Normal, SkewStudent, StudentsT

from calibration.marginals import fit_marginal, innovation_cdf, ljung_box
from simulator.exceptions import ConvergenceWarning, StationarityWarning
from tests.conftest import SHARED_DATA

DEM2GBP = SHARED_DATA / "dem2gbp.csv"


def _dem2gbp() -> pd.Series:
    if not DEM2GBP.exists():
        pytest.skip(f"reference data {DEM2GBP} not present")
    return pd.read_csv(DEM2GBP).iloc[:, 0]


def test_fcp_garch11_benchmark_dem2gbp():
    """Fiorentini, Calzolari & Panattoni (1996) / McCullough & Renfro (1998): constant mean, GARCH(1,1),
    normal, recursion started at the sample variance of the demeaned series."""
    y = _dem2gbp()
    assert len(y) == 1974
    fit = fit_marginal(y, vol="garch", dist="normal", init="sample")
    expected = {"mu": -0.00619041, "omega": 0.0107613, "alpha": 0.153134, "beta": 0.805974}
    for k, v in expected.items():
        assert fit.params[k] == pytest.approx(v, abs=1e-4), k
    assert fit.converged and fit.stationary
    assert fit.backcast == pytest.approx(float(np.mean((y - y.mean()) ** 2)))
    assert fit.persistence == pytest.approx(fit.params["alpha"] + fit.params["beta"])
    assert fit.half_life == pytest.approx(math.log(0.5) / math.log(fit.persistence))
    # the model-file view uses arch's meanings and nothing else
    assert fit.spec() == {
        "mean": {"mu": fit.params["mu"]},
        "vol": {"type": "garch", "omega": fit.params["omega"], "alpha": fit.params["alpha"],
                "beta": fit.params["beta"]},
        "dist": {"type": "normal"},
    }
    # arch's default backcast gives a different (still close) optimum: init is honoured
    other = fit_marginal(y, vol="garch", dist="normal", init="arch")
    assert other.backcast is None
    assert other.params["beta"] != pytest.approx(fit.params["beta"], abs=1e-7)


_CASES = {
    ("gjr", "t"): (lambda: GARCH(p=1, o=1, q=1), StudentsT, [0.05, 0.02, 0.03, 0.10, 0.88, 6.0]),
    ("egarch", "skewt"): (lambda: EGARCH(p=1, o=1, q=1), SkewStudent, [0.04, 0.01, 0.12, -0.08, 0.97, 7.0, -0.15]),
    ("garch", "normal"): (lambda: GARCH(p=1, q=1), Normal, [0.03, 0.05, 0.08, 0.90]),
}


@pytest.mark.parametrize("vol, dist", list(_CASES))
def test_parameter_recovery_from_arch_simulation(vol, dist):
    volp, dist_cls, true = _CASES[(vol, dist)]
    model = ConstantMean(None, volatility=volp(), distribution=dist_cls(seed=np.random.default_rng(0)))
    y = model.simulate(true, nobs=12000, burn=500)["data"]
    fit = fit_marginal(y, vol=vol, dist=dist)
    est = np.array(list(fit.params.values()))
    se = np.array(list(fit.std_err.values()))
    assert np.all(np.isfinite(se)) and np.all(se > 0)
    z = (est - np.array(true)) / se
    assert np.all(np.abs(z) < 3.0), dict(zip(fit.params, np.round(z, 2)))
    assert fit.converged and fit.stationary
    # residual series line up with the input and are standardised
    assert fit.std_resid.index.equals(y.index)
    assert fit.std_resid.std() == pytest.approx(1.0, abs=0.05)
    np.testing.assert_allclose(fit.resid.to_numpy(), y.to_numpy() - fit.params["mu"], rtol=1e-12)
    # PIT through the fitted law is close to uniform
    u = fit.pit().to_numpy()
    assert 0 < u.min() and u.max() < 1
    assert abs(u.mean() - 0.5) < 4 * math.sqrt(1 / 12 / len(u))


def test_auto_selection_by_bic_picks_the_innovation_law():
    model = ConstantMean(None, volatility=GARCH(p=1, q=1), distribution=StudentsT(seed=np.random.default_rng(7)))
    y = model.simulate([0.02, 0.03, 0.07, 0.90, 5.0], nobs=5000, burn=500)["data"]
    fit = fit_marginal(y, vol="garch", dist="auto")
    assert (fit.vol, fit.dist) == ("garch", "t")
    assert [c["dist"] for c in fit.candidates] == ["normal", "t", "skewt", "evt"]  # fhs only when named
    assert sum(c["selected"] for c in fit.candidates) == 1
    full = fit_marginal(y)  # all twelve combinations (evt built on each skew-t fit)
    assert len(full.candidates) == 12
    eligible = [c for c in full.candidates if c["converged"] and c["stationary"]]
    best = min(eligible, key=lambda c: c["bic"])
    assert (full.vol, full.dist) == (best["vol"], best["dist"])
    assert full.bic == pytest.approx(best["bic"], abs=1e-3)


def test_gjr_persistence_uses_the_skewed_negative_mass():
    model = ConstantMean(None, volatility=GARCH(p=1, o=1, q=1), distribution=SkewStudent(seed=np.random.default_rng(3)))
    y = model.simulate([0.03, 0.02, 0.03, 0.1, 0.87, 7.0, -0.2], nobs=4000, burn=500)["data"]
    fit = fit_marginal(y, vol="gjr", dist="skewt")
    p = fit.params
    kappa = SkewStudent().partial_moment(2, 0.0, [p["nu"], p["lambda"]])
    assert kappa > 0.5  # negative skew puts more than half of the variance below zero
    assert fit.persistence == pytest.approx(p["alpha"] + kappa * p["gamma"] + p["beta"], rel=1e-12)
    from simulator.model import MarketModel

    m = MarketModel.from_dict({"assets": ["X"], "marginals": [fit.spec()], "copula": {"type": "independent"}})
    assert m.marginals[0].persistence == pytest.approx(fit.persistence, rel=1e-8)


def test_ljung_box_matches_statsmodels():
    from statsmodels.stats.diagnostic import acorr_ljungbox

    x = np.random.default_rng(0).standard_t(5, size=800)
    x[1:] += 0.2 * x[:-1]
    ours = ljung_box(x, lags=(1, 5, 10))
    ref = acorr_ljungbox(x, lags=[1, 5, 10])
    np.testing.assert_allclose(ours["stat"], ref["lb_stat"].to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(ours["pvalue"], ref["lb_pvalue"].to_numpy(), rtol=1e-8, atol=1e-300)


def test_diagnostics_flag_remaining_arch_effects():
    y = _dem2gbp()
    fit = fit_marginal(y, vol="garch", dist="normal")
    # raw squared returns are strongly autocorrelated; the standardised ones are not (at 1%)
    raw = ljung_box((y - y.mean()) ** 2, lags=(10,))
    assert raw["pvalue"][0] < 1e-6
    assert fit.ljung_box["z2"]["pvalue"][fit.ljung_box["z2"]["lags"].index(10)] > 0.01
    d = fit.to_dict()
    import json

    json.dumps(d, allow_nan=False)  # strict JSON
    assert d["std_err_type"].startswith("robust")


def test_innovation_cdf_matches_scipy_for_standardised_t():
    from scipy import stats

    z = np.linspace(-4, 4, 9)
    nu = 6.0
    expected = stats.t.cdf(z * math.sqrt(nu / (nu - 2)), nu)
    np.testing.assert_allclose(innovation_cdf(z, "t", {"nu": nu}), expected, rtol=1e-12)
    np.testing.assert_allclose(innovation_cdf(z, "skewt", {"nu": nu, "lambda": 0.0}), expected, rtol=1e-8)


def test_non_stationary_fit_warns_loudly():
    rng = np.random.default_rng(0)
    y = np.r_[rng.normal(0, 1, 1500), rng.normal(0, 5, 1500)]  # a variance break looks integrated
    with pytest.warns(StationarityWarning, match="not covariance-stationary"):
        fit = fit_marginal(y, vol="garch", dist="normal")
    assert not fit.stationary and fit.issues


def test_non_convergence_warns_loudly():
    y = np.random.default_rng(1).standard_t(5, 3000)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        fit = fit_marginal(y, vol="egarch", dist="skewt", max_iter=2)
    assert not fit.converged


def test_input_validation():
    with pytest.raises(ValueError, match="at least 100"):
        fit_marginal(np.ones(50))
    with pytest.raises(ValueError, match="non-finite return nan at 3"):
        fit_marginal(np.r_[np.zeros(3), np.nan, np.random.default_rng(0).normal(size=200)])
    with pytest.raises(ValueError, match="vol must be 'auto' or one of 'garch', 'gjr', 'egarch'"):
        fit_marginal(np.random.default_rng(0).normal(size=200), vol="figarch")
    with pytest.raises(ValueError, match="init must be one of 'arch', 'sample'"):
        fit_marginal(np.random.default_rng(0).normal(size=200), init="zero")
    with pytest.raises(ValueError, match="2 columns"):
        fit_marginal(pd.DataFrame(np.zeros((200, 2))))
