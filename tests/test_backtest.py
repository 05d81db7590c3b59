"""Tests of simulator.backtest: coverage tests against hand-computed cases, Basel traffic light,
Acerbi–Szekely ES tests, and the rolling out-of-sample backtest on real S&P 500 data."""
from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from simulator import backtest as bt
from simulator.families import VOL_FAMILIES


# ------------------------------------------------------------------------------------------
# Kupiec POF
# ------------------------------------------------------------------------------------------
def _kupiec_by_hand(x: int, T: int, p: float) -> float:
    def term(k, q):  # k * ln(q) with 0 * ln 0 = 0
        return 0.0 if k == 0 else k * math.log(q)

    return -2.0 * (term(T - x, 1 - p) + term(x, p)) + 2.0 * (term(T - x, 1 - x / T) + term(x, x / T))


@pytest.mark.parametrize("x", [0, 1, 2, 5, 8, 12, 250])
def test_kupiec_pof_hand_computed(x):
    T, p = 250, 0.01
    flags = np.zeros(T, dtype=bool)
    flags[np.linspace(0, T - 1, x).astype(int)] = True
    res = bt.kupiec_pof(flags, p)
    expected = _kupiec_by_hand(x, T, p)
    assert res.statistic == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert res.p_value == pytest.approx(stats.chi2.sf(expected, 1), rel=1e-10)
    assert res.critical_value == pytest.approx(3.841459, abs=1e-6)
    assert res.reject == (expected > 3.841459)
    assert (res.n, res.exceptions) == (T, x)
    assert np.isfinite([res.statistic, res.p_value]).all()
    # count form gives the same answer
    assert bt.kupiec_pof(x, p, n=T).statistic == res.statistic


def test_kupiec_pof_known_values():
    # zero exceptions in 250 days at 99%: LR = -2 * 250 * ln(0.99) = 5.025
    assert bt.kupiec_pof(0, 0.01, n=250).statistic == pytest.approx(-500 * math.log(0.99), rel=1e-14)
    assert bt.kupiec_pof(0, 0.01, n=250).reject
    # exactly the expected number (2.5 -> 2 or 3) is accepted; 8 exceptions rejected
    assert not bt.kupiec_pof(3, 0.01, n=250).reject
    assert bt.kupiec_pof(8, 0.01, n=250).reject
    # all exceptions: LR = -2 T ln p
    assert bt.kupiec_pof(np.ones(20), 0.05).statistic == pytest.approx(-40 * math.log(0.05), rel=1e-14)


# ------------------------------------------------------------------------------------------
# Christoffersen
# ------------------------------------------------------------------------------------------
def _ind_by_hand(n00, n01, n10, n11):
    def term(k, q):
        return 0.0 if k == 0 else k * math.log(q)

    pi0 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi1 = n11 / (n10 + n11) if n10 + n11 else 0.0
    pi = (n01 + n11) / (n00 + n01 + n10 + n11)
    l0 = term(n00 + n10, 1 - pi) + term(n01 + n11, pi)
    l1 = term(n00, 1 - pi0) + term(n01, pi0) + term(n10, 1 - pi1) + term(n11, pi1)
    return -2.0 * (l0 - l1)


def test_christoffersen_short_sequence_with_explicit_counts():
    seq = [0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 1, 0]
    # transitions (t-1 -> t): 00 01 11 10 00 00 01 10 00 01 10  =>  n00=4, n01=3, n10=3, n11=1
    n00, n01, n10, n11 = 4, 3, 3, 1
    res = bt.christoffersen_independence(seq)
    assert (res.details["n00"], res.details["n01"], res.details["n10"], res.details["n11"]) == (n00, n01, n10, n11)
    # by hand: pi0 = 3/7, pi1 = 1/4, pi = 4/11
    expected = -2 * (7 * math.log(7 / 11) + 4 * math.log(4 / 11)) + 2 * (
        4 * math.log(4 / 7) + 3 * math.log(3 / 7) + 3 * math.log(3 / 4) + 1 * math.log(1 / 4)
    )
    assert expected == pytest.approx(_ind_by_hand(n00, n01, n10, n11), rel=1e-14)
    assert res.statistic == pytest.approx(expected, rel=1e-12)
    assert res.p_value == pytest.approx(stats.chi2.sf(expected, 1), rel=1e-10)
    cc = bt.conditional_coverage(seq, 0.05)
    assert cc.statistic == pytest.approx(_kupiec_by_hand(4, 12, 0.05) + expected, rel=1e-12)
    assert cc.critical_value == pytest.approx(5.991465, abs=1e-6)
    assert cc.p_value == pytest.approx(stats.chi2.sf(cc.statistic, 2), rel=1e-10)


def test_christoffersen_clustered_exceptions_are_rejected():
    # 500 days, 10 exceptions in 5 back-to-back pairs
    seq = np.zeros(500, dtype=int)
    for start in (50, 140, 230, 320, 410):
        seq[start:start + 2] = 1
    counts = {"n00": 0, "n01": 0, "n10": 0, "n11": 0}
    for a, b in zip(seq[:-1], seq[1:]):
        counts[f"n{a}{b}"] += 1
    assert counts == {"n00": 484, "n01": 5, "n10": 5, "n11": 5}
    res = bt.christoffersen_independence(seq)
    assert res.statistic == pytest.approx(_ind_by_hand(**counts), rel=1e-12)
    assert res.reject and res.p_value < 1e-4
    # the same 10 exceptions spread out are not rejected
    spread = np.zeros(500, dtype=int)
    spread[::50] = 1
    assert not bt.christoffersen_independence(spread).reject


@pytest.mark.parametrize("seq", [np.zeros(250, int), np.ones(250, int), np.r_[np.zeros(249, int), 1], np.r_[1, np.zeros(249, int)]])
def test_christoffersen_edge_cases_are_finite(seq):
    ind = bt.christoffersen_independence(seq)
    cc = bt.conditional_coverage(seq, 0.01)
    for r in (ind, cc):
        assert np.isfinite([r.statistic, r.p_value, r.critical_value]).all()
    n00, n01, n10, n11 = (ind.details[k] for k in ("n00", "n01", "n10", "n11"))
    assert ind.statistic == pytest.approx(_ind_by_hand(n00, n01, n10, n11), abs=1e-12)
    if seq.sum() in (0, seq.size):
        assert ind.statistic == 0.0 and ind.p_value == 1.0


@pytest.mark.parametrize(
    "call, exc, msg",
    [
        (lambda: bt.kupiec_pof([0, 1, 2], 0.01), ValueError, "found 2 at position 2"),
        (lambda: bt.kupiec_pof([0, 1], 0.99), ValueError, "looks like a confidence level"),
        (lambda: bt.kupiec_pof(3, 0.01), ValueError, "n .* is required"),
        (lambda: bt.christoffersen_independence([1]), ValueError, "at least 2"),
        (lambda: bt.kupiec_pof("0101", 0.01), TypeError, "1-D array of 0/1"),
    ],
)
def test_coverage_input_errors(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()


# ------------------------------------------------------------------------------------------
# Traffic light
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "x, zone, mult",
    [(0, "green", 1.50), (4, "green", 1.50), (5, "amber", 1.70), (6, "amber", 1.76), (7, "amber", 1.83),
     (8, "amber", 1.88), (9, "amber", 1.92), (10, "red", 2.00), (25, "red", 2.00)],
)
def test_traffic_light_basel_boundaries(x, zone, mult):
    tl = bt.traffic_light(x)
    assert (tl.zone, tl.multiplier, tl.standard) == (zone, mult, True)
    assert tl.plus_factor == pytest.approx(mult - 1.5)
    json.dumps(tl.to_dict())


def test_traffic_light_binomial_rule_reproduces_basel_table_and_generalises():
    tl = bt.traffic_light(0)
    assert (tl.green_max, tl.amber_max) == (4, 9)
    # the binomial rule: green iff F(x) <= 0.95, red iff F(x) > 0.9999
    for n, p in ((500, 0.01), (250, 0.025), (1000, 0.01)):
        for x in range(0, 40):
            cdf = stats.binom.cdf(x, n, p)
            expected = "green" if cdf <= 0.95 else ("red" if cdf > 0.9999 else "amber")
            tl = bt.traffic_light(x, n=n, p=p)
            assert tl.zone == expected, (n, p, x)
            assert not tl.standard
            assert tl.multiplier == {"green": 1.5, "amber": None, "red": 2.0}[expected]
    flags = np.zeros(250, bool)
    flags[:5] = True
    assert bt.traffic_light(flags).zone == "amber"
    with pytest.raises(ValueError, match="between 0 and n = 250"):
        bt.traffic_light(251)


# ------------------------------------------------------------------------------------------
# Acerbi–Szekely
# ------------------------------------------------------------------------------------------
def _t_var_es(nu, alpha):
    s = math.sqrt((nu - 2) / nu)  # unit-variance Student-t
    q = stats.t.ppf(alpha, nu)
    return -q * s, s * (nu + q * q) / (nu - 1) * stats.t.pdf(q, nu) / alpha


def test_acerbi_szekely_correct_model_gives_z_near_zero():
    rng = np.random.default_rng(123)
    T, nu, alpha = 2000, 5.0, 0.025
    sigma = np.exp(rng.normal(0, 0.3, T))  # time-varying volatility known to the model
    s = math.sqrt((nu - 2) / nu)
    x = sigma * rng.standard_t(nu, T) * s
    v, e = _t_var_es(nu, alpha)
    sampler = bt.location_scale_sampler(0.0, sigma, lambda u: stats.t.ppf(u, nu) * s)
    res = bt.acerbi_szekely(x, v * sigma, e * sigma, alpha, sampler=sampler, n_sim=1000, seed=1)
    for z in res:
        assert abs(z.details["mean_simulated"]) < 3 * z.details["sd_simulated"] / math.sqrt(1000) + 0.01
        assert abs(z.statistic) < 3 * z.details["sd_simulated"]
        assert not z.reject and z.p_value > 0.05
    json.dumps(res.to_dict())


def test_acerbi_szekely_rejects_thin_tailed_model():
    rng = np.random.default_rng(7)
    T, alpha = 2000, 0.025
    x = rng.standard_t(3, T) * math.sqrt(1 / 3)  # unit-variance t(3) data
    z = stats.norm.ppf(alpha)
    sampler = bt.location_scale_sampler(0.0, 1.0, stats.norm.ppf, n_days=T)  # normal model, same variance
    res = bt.acerbi_szekely(x, -z, stats.norm.pdf(z) / alpha, alpha, sampler=sampler, n_sim=1000, seed=2)
    assert res.z1.reject and res.z1.p_value < 0.01 and res.z1.statistic < res.z1.critical_value
    # a model that also understates the scale (sigma 0.8) fails the unconditional test too
    res2 = bt.acerbi_szekely(x, -0.8 * z, 0.8 * stats.norm.pdf(z) / alpha, alpha,
                             sampler=bt.location_scale_sampler(0.0, 0.8, stats.norm.ppf, n_days=T), n_sim=1000, seed=2)
    assert res2.z2.reject and res2.z1.reject


def test_acerbi_szekely_size_under_the_null():
    """Rejection rate of Z2 at 5% under a correct model over 300 independent histories."""
    rng = np.random.default_rng(99)
    T, alpha, reps = 250, 0.025, 300
    z = stats.norm.ppf(alpha)
    v, e = -z, stats.norm.pdf(z) / alpha
    sampler = bt.location_scale_sampler(0.0, 1.0, stats.norm.ppf, n_days=T)
    rejections = sum(
        bt.acerbi_szekely(rng.standard_normal(T), v, e, alpha, sampler=sampler, n_sim=199, seed=rng).z2.reject
        for _ in range(reps)
    )
    assert abs(rejections / reps - 0.05) <= 3.5 * math.sqrt(0.05 * 0.95 / reps)


def test_acerbi_szekely_no_exceptions_is_finite():
    sampler = bt.location_scale_sampler(0.0, 1.0, stats.norm.ppf, n_days=50)
    res = bt.acerbi_szekely(np.full(50, 0.1), 2.0, 2.5, 0.025, sampler=sampler, n_sim=200, seed=0)
    assert res.z1.statistic == 0.0 and res.z2.statistic == 1.0 and res.z1.exceptions == 0
    with pytest.raises(ValueError, match="alpha is the ES tail probability"):
        bt.acerbi_szekely(np.zeros(50), 2.0, 2.5, 0.975, sampler=sampler)


# ------------------------------------------------------------------------------------------
# Rolling backtest on real data
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sp500_returns() -> pd.Series:
    from arch.data import sp500

    px = sp500.load()["Adj Close"]
    return (100.0 * np.log(px).diff()).dropna()


@pytest.fixture(scope="module")
def small_backtest(sp500_returns):
    return bt.rolling_var_backtest(sp500_returns, window=500, refit_every=50, n_oos=300, n_sim=200, seed=3)


def test_standardized_tail_numeric_matches_closed_forms():
    from arch.univariate import GeneralizedError, Normal, SkewStudent, StudentsT

    q_t, e_t = bt._standardized_tail(StudentsT(), np.array([6.0]), 0.025)
    q_s, e_s = bt._standardized_tail(SkewStudent(), np.array([6.0, 0.0]), 0.025)  # numerical path
    assert q_s == pytest.approx(q_t, rel=1e-8) and e_s == pytest.approx(e_t, rel=1e-7)
    q_n, e_n = bt._standardized_tail(Normal(), np.empty(0), 0.01)
    q_g, e_g = bt._standardized_tail(GeneralizedError(), np.array([2.0]), 0.01)  # GED(2) = normal
    assert q_n == pytest.approx(stats.norm.ppf(0.01)) and e_n == pytest.approx(-stats.norm.pdf(q_n) / 0.01)
    assert q_g == pytest.approx(q_n, rel=1e-7) and e_g == pytest.approx(e_n, rel=1e-7)


def test_rolling_backtest_structure_and_table(small_backtest, sp500_returns):
    res = small_backtest
    f = res.forecasts
    assert len(f) == 300 and f.index.equals(sp500_returns.index[-300:])
    assert (f["var_99"] > 0).all() and (f["es_97.5"] > f["var_97.5"]).all() and (f["var_99"] > f["var_97.5"]).all()
    np.testing.assert_array_equal(f["exception_99"].to_numpy(), (f["return"] < -f["var_99"]).to_numpy())
    assert res.spec["n_refits"] == 6 and res.spec["exceptions"] == int(f["exception_99"].sum())
    table = res.table
    assert list(table.columns) == ["test", "level", "statistic", "critical_value", "p_value", "result", "n",
                                   "exceptions", "test_level", "reference"]
    assert len(table) == 9
    assert set(table["result"].iloc[1:]) <= {"accept", "reject"}
    tl = res.traffic_light
    assert tl.n == 250 and tl.exceptions == int(f["exception_99"].iloc[-250:].sum())
    assert table["result"].iloc[0] == tl.zone
    pof = res.test("pof", 0.99)
    assert pof.statistic == pytest.approx(_kupiec_by_hand(pof.exceptions, 300, 0.01), rel=1e-12)
    json.dumps(res.to_dict(include_series=True))


def test_rolling_forecasts_match_independent_gjr_t_recursion(small_backtest, sp500_returns):
    """First block: refit on the window alone and filter the GJR-t recursion by hand."""
    from arch import arch_model

    y = sp500_returns.to_numpy()
    s = y.size - 300
    fit = arch_model(y[s - 500:s], mean="Constant", vol="GARCH", p=1, o=1, q=1, dist="t").fit(disp="off")
    mu, omega, a, g, b, nu = fit.params.to_numpy()
    sig2 = fit.conditional_volatility[-1] ** 2
    expected = []
    for t in range(s, s + 50):
        e_prev = y[t - 1] - mu
        sig2 = omega + (a + g * (e_prev < 0)) * e_prev**2 + b * sig2
        expected.append(math.sqrt(sig2))
    f = small_backtest.forecasts.iloc[:50]
    np.testing.assert_allclose(f["sigma"].to_numpy(), expected, rtol=1e-6)
    q = stats.t.ppf(0.01, nu) * math.sqrt((nu - 2) / nu)
    np.testing.assert_allclose(f["var_99"].to_numpy(), -(mu + np.array(expected) * q), rtol=1e-6)
    tq = stats.t.ppf(0.025, nu)
    es_z = math.sqrt((nu - 2) / nu) * (nu + tq**2) / (nu - 1) * stats.t.pdf(tq, nu) / 0.025
    np.testing.assert_allclose(f["es_97.5"].to_numpy(), -mu + np.array(expected) * es_z, rtol=1e-6)


def test_rolling_forecasts_use_no_future_data(small_backtest, sp500_returns):
    shocked = sp500_returns.copy()
    k = shocked.size - 300 + 20  # 21st out-of-sample day, inside the first re-fit block
    shocked.iloc[k] = -25.0
    res = bt.rolling_var_backtest(shocked, window=500, refit_every=50, n_oos=300, n_sim=200, seed=3)
    base = small_backtest.forecasts
    # forecasts up to and including day k use data up to k-1 only: unchanged
    np.testing.assert_array_equal(res.forecasts["sigma"].to_numpy()[:21], base["sigma"].to_numpy()[:21])
    # the shock enters the forecast of the next day
    assert res.forecasts["sigma"].iloc[21] > 2 * base["sigma"].iloc[21]


@pytest.mark.parametrize(
    "kwargs, msg",
    [
        ({"vol": "figarch"}, re.escape(f"vol must be one of {sorted(VOL_FAMILIES)}")),  # every registered family
        ({"dist": "cauchy"}, r"dist must be one of"),
        ({"n_oos": 10_000}, r"need window \(500\)"),
        ({"window": 50}, "window must be an integer >= 100"),
    ],
)
def test_rolling_backtest_input_errors(sp500_returns, kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        bt.rolling_var_backtest(sp500_returns, **{"window": 500, **kwargs})


def test_rolling_backtest_reports_missing_data_date(sp500_returns):
    r = sp500_returns.iloc[:700].copy()
    r.iloc[600] = np.nan
    with pytest.raises(ValueError, match=r"missing or non-finite value at 2001-\d\d-\d\d"):
        bt.rolling_var_backtest(r, window=500)


def test_rolling_backtest_warns_on_decimal_returns(sp500_returns):
    with pytest.warns(UserWarning, match="Decimal returns must be multiplied by 100"):
        bt.rolling_var_backtest(sp500_returns.iloc[-560:] / 100.0, window=500, refit_every=60, n_sim=100)
