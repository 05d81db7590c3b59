"""Synthetic-vs-real validation: the stylized-fact statistics against references, the self-consistency of the
bands, the power against deliberately wrong models, the report formats and the ``stress-sim validate`` CLI."""
from __future__ import annotations

import copy
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from calibration import stylized as sf
from calibration.validate import ValidationReport, validate, validate_returns
from simulator.engine import simulate
from simulator.model import MarketModel

T_REAL = 2000
N_PATHS = 300

TRUE = {
    "assets": ["EQ", "TECH"],
    "marginals": [
        {"mean": {"mu": 0.03}, "vol": {"type": "garch", "omega": 0.04, "alpha": 0.10, "beta": 0.85},
         "dist": {"type": "t", "nu": 6.0}},
        {"mean": {"mu": 0.04}, "vol": {"type": "garch", "omega": 0.06, "alpha": 0.10, "beta": 0.85},
         "dist": {"type": "t", "nu": 6.0}},
    ],
    "copula": {"type": "t", "corr": [[1.0, 0.7], [0.7, 1.0]], "nu": 5.0},
}
PER_ASSET = {"mean", "std", "skewness", "excess_kurtosis", "q01", "q05", "q95", "q99", "ks", "wasserstein",
             "hill_left", "hill_right", "acf_r_lag1", "acf_r_box_pierce", "acf_abs_short", "acf_abs_long",
             "acf_sq_short", "acf_sq_long", "leverage", "kurtosis_5d", "kurtosis_20d", "max_drawdown",
             "mean_drawdown"}
JOINT = {"tau", "tail_dep_lower", "tail_dep_upper", "tau_matrix_distance"}


@pytest.fixture(scope="module")
def true_model():
    return MarketModel.from_dict(copy.deepcopy(TRUE))


@pytest.fixture(scope="module")
def real_returns(true_model):
    """A 'real' series drawn from the true model (so the truth is known)."""
    r = simulate(true_model, 1, T_REAL, 20240607).returns[0]
    return pd.DataFrame(r, index=pd.bdate_range("2015-01-02", periods=T_REAL, name="date"),
                        columns=list(true_model.assets))


def _prices(returns: pd.DataFrame) -> pd.DataFrame:
    """Prices whose percent log returns are exactly ``returns`` (first price 100 the day before)."""
    idx = returns.index.insert(0, returns.index[0] - pd.offsets.BDay(1))
    level = np.vstack([np.zeros(returns.shape[1]), np.cumsum(returns.to_numpy(), axis=0)])
    return pd.DataFrame(100.0 * np.exp(level / 100.0), index=idx, columns=returns.columns)


# ---------------------------------------------------------------------- statistics against references
def test_moments_quantiles_acf_leverage_match_direct_formulas():
    rng = np.random.default_rng(1)
    x = rng.standard_t(5, size=(6, 400))
    m = sf.moments(x)
    np.testing.assert_allclose(m["mean"], x.mean(axis=1), rtol=0, atol=1e-14)
    np.testing.assert_allclose(m["std"], x.std(axis=1, ddof=1), rtol=1e-13)
    np.testing.assert_allclose(m["skewness"], stats.skew(x, axis=1), rtol=1e-12)
    np.testing.assert_allclose(m["excess_kurtosis"], stats.kurtosis(x, axis=1), rtol=1e-12)
    np.testing.assert_allclose(sf.quantiles(x, (0.01, 0.99)), np.quantile(x, [0.01, 0.99], axis=1).T, rtol=1e-14)
    lags = 7
    for row, a, lev in zip(x, sf.acf(x, lags), sf.leverage(x, lags)):
        d = row - row.mean()
        s = row**2 - np.mean(row**2)
        for k in range(1, lags + 1):
            assert a[k - 1] == pytest.approx(np.sum(d[:-k] * d[k:]) / np.sum(d * d), abs=1e-13)
            assert lev[k - 1] == pytest.approx(np.sum(d[:-k] * s[k:]) / math.sqrt(np.sum(d * d) * np.sum(s * s)),
                                               abs=1e-13)
    # one-dimensional input gives scalars
    assert np.ndim(sf.moments(x[0])["std"]) == 0 and sf.acf(x[0], 3).shape == (3,)


def test_distances_match_scipy_exactly():
    rng = np.random.default_rng(2)
    x = rng.standard_t(4, size=(5, 250))
    pool = np.sort(rng.standard_t(4, size=250 * 40))  # a multiple of T: the block algorithm
    other = np.sort(rng.normal(size=999))              # not a multiple: scipy per series
    for ref in (pool, other):
        ks = sf.ks_distance(x, ref)
        w1 = sf.wasserstein_distance(x, ref)
        for i, row in enumerate(x):
            assert ks[i] == pytest.approx(stats.ks_2samp(row, ref).statistic, abs=1e-15)
            assert w1[i] == pytest.approx(stats.wasserstein_distance(row, ref), rel=1e-12, abs=1e-14)
    ties = np.round(x, 1)  # ties inside the series and with the reference
    ref = np.sort(np.round(pool, 1))
    for row in ties:
        assert sf.ks_distance(row, ref) == pytest.approx(stats.ks_2samp(row, ref).statistic, abs=1e-15)


def test_hill_recovers_the_pareto_index():
    # exact Pareto(alpha) tail: the Hill estimator on k order statistics is 1/alpha with sd alpha/sqrt(k)
    rng = np.random.default_rng(3)
    alpha, n, frac = 3.0, 200_000, 0.05
    k = int(n * frac)
    x = rng.pareto(alpha, size=(2, n)) + 1.0
    est = sf.hill_tail_index(x, tail="right", fraction=frac)
    np.testing.assert_allclose(est, alpha, atol=4 * alpha / math.sqrt(k))
    np.testing.assert_allclose(sf.hill_tail_index(-x, tail="left", fraction=frac), est, rtol=0, atol=0)
    # thinner tails give larger indices
    normal = sf.hill_tail_index(rng.normal(size=20_000), fraction=frac)
    t3 = sf.hill_tail_index(rng.standard_t(3, size=20_000), fraction=frac)
    assert normal > t3


def test_tail_dependence_tau_aggregation_and_drawdowns():
    rng = np.random.default_rng(4)
    n, q = 20_000, 0.05
    x = rng.normal(size=n)
    y = rng.normal(size=n)
    assert sf.tail_dependence(x, 2 * x + 1, q=q)["lower"] == pytest.approx(1.0)
    assert sf.tail_dependence(x, -x, q=q)["lower"] == 0.0
    ind = sf.tail_dependence(x, y, q=q)
    sd = math.sqrt(q * q * (1 - q * q) / n) / q  # binomial count of joint exceedances, divided by q n
    assert ind["lower"] == pytest.approx(q, abs=4 * sd) and ind["upper"] == pytest.approx(q, abs=4 * sd)
    assert sf.kendall_tau(x[:500], y[:500]) == pytest.approx(stats.kendalltau(x[:500], y[:500]).statistic, abs=1e-15)
    mat = sf.kendall_tau_matrix(np.stack([x[:300], y[:300], x[:300] + y[:300]], axis=-1))
    assert mat.shape == (3, 3) and np.allclose(np.diag(mat), 1.0) and np.allclose(mat, mat.T)
    # iid normal: aggregated kurtosis near 0 at every horizon (sd of sample kurtosis ~ sqrt(24/m))
    ak = sf.aggregated_kurtosis(rng.normal(size=100_000), (1, 5, 20))
    assert np.all(np.abs(ak) < 4 * np.sqrt(24 / (100_000 // np.array([1, 5, 20]))))
    # drawdowns by hand: +10 %, -20 %, +5 % in log terms
    r = np.array([10.0, -20.0, 5.0])
    dd = sf.drawdowns(r)
    np.testing.assert_allclose(dd, [0.0, 1 - math.exp(-0.2), 1 - math.exp(-0.15)], rtol=1e-14)
    assert sf.drawdown_stats(r)["max_drawdown"] == pytest.approx(1 - math.exp(-0.2))
    assert sf.drawdowns(np.array([-5.0]))[0] == pytest.approx(1 - math.exp(-0.05))  # start price in the peak


# ---------------------------------------------------------------------- the bands
def test_model_validated_against_its_own_output_passes_every_check(true_model, real_returns):
    rep = validate_returns(true_model, real_returns, n_paths=N_PATHS, seed=11, level=0.99)
    assert isinstance(rep, ValidationReport)
    assert rep.passed, rep.summary()
    names = {c.name for c in rep.checks}
    assert names == PER_ASSET | JOINT
    assert len(rep.checks) == 2 * len(PER_ASSET) + 3 + 1
    # simultaneous bands: by construction about `level` of the simulated histories pass every check
    assert 0.99 <= rep.ensemble_pass_rate <= 0.99 + 3 / N_PATHS
    for c in rep.checks:
        assert c.band[0] <= c.synthetic <= c.band[1]
        assert (c.sided == "upper") == (c.name in {"ks", "wasserstein", "acf_r_box_pierce", "tau_matrix_distance"})
        if c.sided == "upper":
            assert c.band[0] == -math.inf
    assert rep.n_obs == T_REAL and rep.n_paths == N_PATHS
    assert rep.data["window_start"] == "2015-01-02"


def test_same_seed_same_report_and_pointwise_bands(true_model, real_returns):
    a = validate_returns(true_model, real_returns, n_paths=120, seed=5)
    b = validate_returns(true_model, real_returns, n_paths=120, seed=5)
    assert a.to_dict() == b.to_dict()
    p = validate_returns(true_model, real_returns, n_paths=120, seed=5, simultaneous=False)
    assert math.isnan(p.critical_value)
    for cs, cp in zip(a.checks, p.checks):
        assert cs.real == cp.real and cs.synthetic == cp.synthetic
        # simultaneous bands contain the pointwise 95% ones (critical score >= 1)
        assert cs.band[1] >= cp.band[1] - 1e-12
        if cs.sided == "two-sided":
            assert cs.band[0] <= cp.band[0] + 1e-12
    assert a.critical_value >= 1.0


def test_no_volatility_clustering_fails_kurtosis_and_acf_of_abs_returns(true_model, real_returns):
    # same unconditional variance and copula, but iid normal returns (GARCH alpha = beta = 0)
    d = copy.deepcopy(TRUE)
    for m, spec in zip(d["marginals"], true_model.marginals):
        m["vol"] = {"type": "garch", "omega": spec.unconditional_variance, "alpha": 0.0, "beta": 0.0}
        m["dist"] = {"type": "normal"}
    wrong = MarketModel.from_dict(d)
    rep = validate_returns(wrong, real_returns, n_paths=N_PATHS, seed=12, level=0.99)
    assert not rep.passed
    failed = {(c.name, c.asset) for c in rep.failed}
    for a in true_model.assets:
        assert ("excess_kurtosis", a) in failed
        assert ("acf_abs_short", a) in failed
    # unrelated checks still pass: the copula, the mean, linear autocorrelation. (Not the leverage correlation:
    # it is zero for both models, but volatility clustering widens its sampling spread, so an iid model's band
    # is rightly too narrow for it.)
    for c in rep.checks:
        if c.group == "dependence" or c.name in ("mean", "acf_r_lag1"):
            assert c.passed, c
    kurt = rep.check("excess_kurtosis", asset="EQ")
    assert kurt.real > kurt.band[1] and abs(kurt.synthetic) < 0.5  # normal: excess kurtosis about 0


def test_independent_copula_fails_the_dependence_checks_only(true_model, real_returns):
    wrong = true_model.with_changes(copula={"type": "independent"})
    rep = validate_returns(wrong, real_returns, n_paths=N_PATHS, seed=13, level=0.99)
    failed = {c.name for c in rep.failed}
    assert {"tau", "tau_matrix_distance"} <= failed
    assert failed & {"tail_dep_lower", "tail_dep_upper"}
    assert all(c.passed for c in rep.checks if c.asset is not None), [c.label for c in rep.failed]
    tau = rep.check("tau", pair=("EQ", "TECH"))
    assert abs(tau.synthetic) < 0.03 and tau.real > 0.4  # t copula rho 0.7: tau = 2 asin(0.7) / pi = 0.494


# ---------------------------------------------------------------------- entry points, formats, errors
def test_validate_from_prices_windows_and_errors(true_model, real_returns):
    prices = _prices(real_returns)
    full = validate(true_model, prices, n_paths=100, seed=3)
    direct = validate_returns(true_model, real_returns, n_paths=100, seed=3)
    for a, b in zip(full.checks, direct.checks):
        assert a.real == pytest.approx(b.real, rel=1e-9, abs=1e-12) and a.synthetic == pytest.approx(b.synthetic)
    win = validate(true_model, prices, n_paths=100, seed=3, start="2016-01-01", end="2016-12-30")
    assert win.n_obs == len(real_returns.loc["2016-01-01":"2016-12-30"])
    assert validate(true_model, prices, n_paths=100, seed=3, horizon=300).n_obs == 300
    with pytest.raises(ValueError, match="'TECH'"):
        validate(true_model, prices[["EQ"]], n_paths=100)
    with pytest.raises(ValueError, match="at least 100"):
        validate(true_model, prices, n_paths=100, start="2015-01-05", end="2015-02-27")
    with pytest.raises(ValueError, match="horizon"):
        validate(true_model, prices, n_paths=100, horizon=10_000)
    with pytest.raises(ValueError, match="n_paths"):
        validate_returns(true_model, real_returns, n_paths=10)
    with pytest.raises(TypeError, match="n_paths"):
        validate_returns(true_model, real_returns, n_paths=100.0)
    with pytest.raises(TypeError, match="MarketModel"):
        validate_returns(TRUE, real_returns)
    bad = real_returns.copy()
    bad.iloc[7, 1] = np.nan
    with pytest.raises(ValueError, match="'TECH'.*2015-01-13"):
        validate_returns(true_model, bad, n_paths=100)
    with pytest.raises(ValueError, match="level"):
        validate_returns(true_model, real_returns, n_paths=100, level=1.5)


def test_json_and_html_are_complete_and_escaped():
    name = "<script>alert(1)</script>"
    model = MarketModel.from_dict({
        "assets": [name],
        "marginals": [{"mean": {"mu": 0.0}, "vol": {"type": "garch", "omega": 0.05, "alpha": 0.05, "beta": 0.9},
                       "dist": {"type": "t", "nu": 8.0}}],
        "copula": {"type": "independent"},
    })
    real = simulate(model, 1, 300, 9).returns[0]
    rep = validate_returns(model, real, n_paths=100, seed=1)
    doc = json.loads(json.dumps(rep.to_dict(), allow_nan=False))
    assert doc["passed"] == rep.passed and len(doc["checks"]) == len(rep.checks)
    assert doc["checks"][0]["band"][0] is not None
    ks = next(c for c in doc["checks"] if c["name"] == "ks")
    assert ks["band"][0] is None  # -inf of a one-sided band is null in strict JSON
    assert set(doc["details"]["assets"][name]) >= {"qq", "acf_r", "acf_abs", "acf_sq", "leverage",
                                                   "kurtosis_by_horizon"}
    html = rep.to_html()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("data:image/png;base64,") == 3  # QQ, ACF, aggregation (one asset: no heatmaps)
    assert "PASSED" in html or "FAILED" in html
    assert "checks passed" in rep.summary()


# ---------------------------------------------------------------------- CLI
def _cli(monkeypatch, *argv: str) -> int:
    import simulator.cli as cli

    return cli.main(list(argv))


def test_cli_writes_report_json_and_manifest(tmp_path, monkeypatch, capsys, true_model, real_returns):
    model_path = tmp_path / "model.json"
    true_model.to_json(model_path)
    data = _prices(real_returns).iloc[:401]
    data.index.name = "date"
    csv = tmp_path / "prices.csv"
    data.reset_index().to_csv(csv, index=False, date_format="%Y-%m-%d")
    out = tmp_path / "val"
    rc = _cli(monkeypatch, "validate", str(model_path), "--data", str(csv), "--paths", "100", "--seed", "4",
              "--out", str(out))
    doc = json.loads((out / "validation.json").read_text())
    assert rc == (0 if doc["passed"] else 1)
    assert {p.name for p in out.iterdir()} == {"report.html", "validation.json", "manifest.json"}
    man = json.loads((out / "manifest.json").read_text())
    assert man["kind"] == "validation" and man["model_sha256"] == true_model.sha256()
    assert man["seed"]["entropy"] == "4" and man["n_obs"] == 400 and man["n_paths"] == 100
    assert man["inputs"]["data"]["input_sha256"] and man["validation"]["n_checks"] == len(doc["checks"])
    assert set(man["outputs"]) == {"report.html", "validation.json"}
    assert man["command"][:2] == ["stress-sim", "validate"]
    assert "checks passed" in capsys.readouterr().out
    # the directory verifies (integrity only: nothing simulated is stored)
    assert _cli(monkeypatch, "verify", str(out)) == 0
    # bad input: exit 2, existing outputs untouched
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert _cli(monkeypatch, "validate", str(model_path), "--data", str(tmp_path / "missing.csv"),
                "--out", str(out)) == 2
    data[["EQ"]].reset_index().to_csv(tmp_path / "one.csv", index=False, date_format="%Y-%m-%d")
    assert _cli(monkeypatch, "validate", str(model_path), "--data", str(tmp_path / "one.csv"), "--out", str(out)) == 2
    assert _cli(monkeypatch, "validate", str(model_path), "--data", str(csv), "--paths", "50", "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert "missing.csv" in err and "TECH" in err and "--paths" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
