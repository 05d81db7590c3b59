"""Tests of simulator.risk: exact revaluation, VaR/ES against closed forms, intervals, Euler
contributions, drawdowns, stress losses and the FRTB formulas."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from simulator import risk


# ------------------------------------------------------------------------------------------
# exact revaluation
# ------------------------------------------------------------------------------------------
def test_portfolio_pnl_matches_hand_calculation():
    # 2 paths, 3 days, 2 assets; percent log returns
    r = np.array(
        [
            [[1.0, -2.0], [0.5, 3.0], [-4.0, 1.0]],
            [[-10.0, 0.0], [2.0, -1.0], [0.0, 0.0]],
        ]
    )
    pos = np.array([1_000_000.0, -250_000.0])  # long 1m of asset 0, short 250k of asset 1
    out = risk.portfolio_pnl(r, pos, horizons=(1, 3, 2))
    assert list(out) == [1, 3, 2]
    for p in range(2):
        for h in (1, 2, 3):
            expected = 0.0
            for a in range(2):
                cum = sum(r[p, t, a] for t in range(h)) / 100.0
                expected += pos[a] * (math.exp(cum) - 1.0)
            assert out[h][p] == pytest.approx(expected, rel=1e-13, abs=1e-8)
    # path 0, day 1 by hand: 1e6 (e^0.01 - 1) - 250000 (e^-0.02 - 1)
    assert out[1][0] == pytest.approx(1e6 * (math.exp(0.01) - 1) - 250_000 * (math.exp(-0.02) - 1), rel=1e-14)
    # exact revaluation is not the linear approximation: a -10% log return loses 1 - e^-0.1 = 9.516%
    assert out[1][1] == pytest.approx(1e6 * (math.exp(-0.1) - 1.0), rel=1e-14)
    assert out[1][1] != pytest.approx(-1e6 * 0.10, rel=1e-3)


def test_pnl_paths_and_asset_pnl_are_consistent():
    rng = np.random.default_rng(3)
    r = rng.normal(0.0, 1.5, size=(50, 12, 4)).astype(np.float32)
    pos = np.array([3.0, -1.0, 2.5, 0.0])
    paths = risk.pnl_paths(r, pos)
    assert paths.shape == (50, 12)
    by_h = risk.portfolio_pnl(r, pos, horizons=range(1, 13))
    for h in range(1, 13):
        np.testing.assert_allclose(paths[:, h - 1], by_h[h], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(risk.asset_pnl(r, pos, horizon=h).sum(axis=1), by_h[h], rtol=1e-12, atol=1e-12)
    assert risk.asset_pnl(r, pos).shape == (50, 4)
    cum = r.sum(axis=1, dtype=np.float64)  # what the engine keeps in summary mode
    np.testing.assert_allclose(risk.pnl_from_cum_returns(cum, pos), by_h[12], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(risk.pnl_from_cum_returns(cum, pos, per_asset=True), risk.asset_pnl(r, pos), rtol=1e-12)


def test_frtb_liquidity_horizons_need_enough_simulated_days():
    rng = np.random.default_rng(0)
    r = rng.normal(size=(20, 120, 2))
    out = risk.portfolio_pnl(r, [1.0, 1.0], horizons=risk.FRTB_LIQUIDITY_HORIZONS)
    assert sorted(out) == [10, 20, 40, 60, 120]
    with pytest.raises(ValueError, match=r"120 \(an FRTB liquidity horizon\) exceeds the 60 simulated days"):
        risk.portfolio_pnl(r[:, :60], [1.0, 1.0], horizons=risk.FRTB_LIQUIDITY_HORIZONS)


@pytest.mark.parametrize(
    "returns, positions, exc, msg",
    [
        (np.zeros((5, 3)), [1.0, 1.0, 1.0], ValueError, r"shape \(n_paths, horizon, n_assets\)"),
        (np.zeros((5, 3, 2)), [1.0, 1.0, 1.0], ValueError, "positions has 3 entries but returns has 2 assets"),
        (np.zeros((5, 3, 2)), "abc", TypeError, "positions must be a numeric array"),
    ],
)
def test_pnl_input_errors(returns, positions, exc, msg):
    with pytest.raises(exc, match=msg):
        risk.portfolio_pnl(returns, positions)


def test_nonfinite_returns_are_located():
    r = np.zeros((4, 3, 2))
    r[2, 1, 0] = np.nan
    with pytest.raises(ValueError, match=r"\(path, day, asset\) = \(2, 1, 0\)"):
        risk.pnl_paths(r, [1.0, 1.0])


# ------------------------------------------------------------------------------------------
# VaR / ES estimators
# ------------------------------------------------------------------------------------------
def test_estimator_definitions_on_a_tiny_sample():
    losses = np.arange(1.0, 11.0)  # 1..10
    pnl = -losses[::-1]
    rm = risk.var_es(pnl, (0.75, 0.8))
    # level 0.75: m = ceil(7.5) = 8, VaR = L_(8) = 8, ES = [(8 - 7.5) * 8 + 9 + 10] / (10 * 0.25) = 9.2
    assert rm[0.75].var == 8.0
    assert rm[0.75].es == pytest.approx(9.2, rel=1e-14)
    assert rm[0.75].n_tail == 3
    # level 0.8: n * level = 8 exactly (despite 10 * 0.8 rounding), ES = mean of the two largest
    assert rm[0.8].var == 8.0
    assert rm[0.8].es == pytest.approx(9.5, rel=1e-14)
    # 100 * 0.99 = 99.00000000000001 in floating point: must still give m = 99
    rm99 = risk.var_es(-np.arange(1.0, 101.0), 0.99)
    assert rm99[0.99].var == 99.0 and rm99[0.99].es == pytest.approx(100.0)


def _half_width_se(ci, ci_level=0.95):
    return (ci[1] - ci[0]) / 2.0 / stats.norm.ppf(0.5 + ci_level / 2.0)


def test_var_es_normal_closed_form():
    rng = np.random.default_rng(20240501)
    mu, sigma, n = 0.3, 2.0, 400_000
    pnl = rng.normal(mu, sigma, n)
    rm = risk.var_es(pnl, (0.975, 0.99))
    for level in (0.975, 0.99):
        z = stats.norm.ppf(level)
        var_true = -mu + sigma * z
        es_true = -mu + sigma * stats.norm.pdf(z) / (1.0 - level)
        e = rm[level]
        # VaR: order-statistic interval must cover the truth; error within 4 interval-implied standard errors
        assert e.var_ci[0] <= e.var <= e.var_ci[1]
        assert abs(e.var - var_true) <= 4.0 * _half_width_se(e.var_ci)
        assert abs(e.es - es_true) <= 4.0 * e.es_se
        # asymptotic ES standard error against its closed form for the normal law
        tail_var = sigma**2 * (1 + z * stats.norm.pdf(z) / (1 - level) - (stats.norm.pdf(z) / (1 - level)) ** 2)
        se_true = math.sqrt((tail_var + level * (es_true - var_true) ** 2) / (n * (1 - level)))
        assert e.es_se == pytest.approx(se_true, rel=0.1)


def test_var_es_student_t_closed_form():
    rng = np.random.default_rng(11)
    nu, loc, scale, n = 4.0, -0.1, 1.5, 400_000
    pnl = loc + scale * rng.standard_t(nu, n)
    rm = risk.var_es(pnl, (0.975, 0.99))
    for level in (0.975, 0.99):
        tq = stats.t.ppf(level, nu)
        var_true = -loc + scale * tq
        es_true = -loc + scale * (nu + tq**2) / (nu - 1.0) * stats.t.pdf(tq, nu) / (1.0 - level)
        e = rm[level]
        assert abs(e.var - var_true) <= 4.0 * _half_width_se(e.var_ci)
        assert abs(e.es - es_true) <= 4.0 * e.es_se
        assert e.es > e.var > 0


def test_confidence_interval_coverage():
    """Both intervals cover the true normal VaR/ES about 95% of the time (300 replications)."""
    rng = np.random.default_rng(5)
    reps, n, level = 300, 20_000, 0.99
    z = stats.norm.ppf(level)
    var_true, es_true = z, stats.norm.pdf(z) / (1 - level)
    hit_var = hit_es = 0
    for _ in range(reps):
        e = risk.var_es(rng.standard_normal(n), level)[level]
        hit_var += e.var_ci[0] <= var_true <= e.var_ci[1]
        hit_es += e.es_ci[0] <= es_true <= e.es_ci[1]
    tol = 3.5 * math.sqrt(0.95 * 0.05 / reps)  # binomial sampling error of a 95% coverage
    assert hit_var / reps >= 0.95 - tol  # order-statistic interval is conservative
    assert abs(hit_es / reps - 0.95) <= tol


def test_bootstrap_interval_agrees_with_asymptotic():
    rng = np.random.default_rng(9)
    pnl = rng.standard_normal(20_000)
    a = risk.var_es(pnl, 0.975)[0.975]
    b = risk.var_es(pnl, 0.975, method="bootstrap", n_boot=200, seed=1)[0.975]
    assert b.es == a.es and b.var == a.var and b.es_ci_method == "bootstrap"
    assert b.es_se == pytest.approx(a.es_se, rel=0.25)
    assert b.es_ci[0] < a.es < b.es_ci[1]
    # reproducible
    assert risk.var_es(pnl, 0.975, method="bootstrap", n_boot=200, seed=1)[0.975] == b


def test_tail_merge_reproduces_full_sample_exactly():
    rng = np.random.default_rng(2)
    pnl = rng.standard_t(5, 100_003)
    levels = (0.975, 0.99)
    full = risk.var_es(pnl, levels)
    k = risk.tail_size(pnl.size, min(levels), ci=0.95)
    assert k > pnl.size * 0.025
    # chunked: keep the k largest losses of each chunk, merge, keep the k largest overall
    chunks = np.array_split(-pnl, 7)
    kept = np.concatenate([np.sort(c)[-k:] for c in chunks])
    merged = np.sort(kept)[-k:]
    assert risk.var_es_from_tail(merged, pnl.size, levels) == full
    with pytest.raises(ValueError, match="need the .* largest losses"):
        risk.var_es_from_tail(merged[1:], pnl.size, levels)


def test_var_es_results_are_json_friendly():
    rm = risk.var_es(np.random.default_rng(0).standard_normal(1000))
    d = rm.to_dict()
    json.dumps(d)
    assert [x["level"] for x in d["levels"]] == [0.975, 0.99]
    assert set(rm.to_frame().columns) >= {"level", "var", "es", "var_ci_low", "es_ci_high", "n_tail"}
    with pytest.raises(KeyError, match="available levels"):
        rm[0.95]


@pytest.mark.parametrize(
    "kwargs, exc, msg",
    [
        ({"levels": 1.5}, ValueError, r"levels must be in \(0, 1\)"),
        ({"levels": "0.99"}, TypeError, "levels"),
        ({"method": "jackknife"}, ValueError, r"method must be one of \('asymptotic', 'bootstrap'\)"),
        ({"levels": 0.9999}, ValueError, "needs at least 10000 scenarios"),
    ],
)
def test_var_es_input_errors(kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        risk.var_es(np.linspace(-1, 1, 500), **kwargs)


def test_var_es_rejects_nan():
    x = np.ones(100)
    x[17] = np.nan
    with pytest.raises(ValueError, match=r"pnl contains a non-finite value \(nan\) at index \(17,\)"):
        risk.var_es(x)


# ------------------------------------------------------------------------------------------
# Euler contributions
# ------------------------------------------------------------------------------------------
def test_es_contributions_sum_to_es_and_match_gaussian_closed_form():
    rng = np.random.default_rng(42)
    n, level = 400_000, 0.975
    mu = np.array([0.5, -0.2, 0.1])
    corr = np.array([[1.0, 0.6, -0.3], [0.6, 1.0, 0.2], [-0.3, 0.2, 1.0]])
    sd = np.array([3.0, 1.0, 2.0])
    cov = corr * np.outer(sd, sd)
    x = rng.multivariate_normal(mu, cov, size=n)  # per-asset P&L in currency
    res = risk.es_contributions(x, None, level, asset_names=["eq", "fx", "rates"])
    # exact additivity and consistency with var_es
    assert res.contributions.sum() == pytest.approx(res.es, rel=1e-12)
    assert res.es == pytest.approx(risk.var_es(x.sum(axis=1), level)[level].es, rel=1e-12)
    # closed form: C_a = -mu_a + (Sigma 1)_a / sigma_p * phi(z) / (1 - level)
    sig_p = math.sqrt(cov.sum())
    z = stats.norm.ppf(level)
    k = stats.norm.pdf(z) / (1 - level)
    c_true = -mu + cov.sum(axis=1) / sig_p * k
    es_true = -mu.sum() + sig_p * k
    assert res.es == pytest.approx(es_true, rel=0.01)
    # tolerance from the influence-function variance of each contribution
    loss = -x.sum(axis=1)
    tail = loss >= res.var
    v_true = -mu.sum() + sig_p * z
    g = -mu + cov.sum(axis=1) / sig_p**2 * (v_true + mu.sum())  # E[l_a | L = VaR]
    var_tail = (-x[tail]).var(axis=0)
    se = np.sqrt((var_tail + level * (c_true - g) ** 2) / (n * (1 - level)))
    assert np.all(np.abs(res.contributions - c_true) <= 4.5 * se), (res.contributions, c_true, se)
    d = res.to_dict()
    json.dumps(d)
    assert list(d["contributions"]) == ["eq", "fx", "rates"]
    assert sum(d["shares"].values()) == pytest.approx(1.0)


def test_es_contributions_from_returns_equals_asset_pnl_form():
    rng = np.random.default_rng(8)
    r = rng.normal(0, 1.2, size=(5000, 10, 3))
    pos = np.array([1e6, -4e5, 2e5])
    a = risk.es_contributions(r, pos, 0.99, horizon=10)
    b = risk.es_contributions(risk.asset_pnl(r, pos, horizon=10), None, 0.99)
    np.testing.assert_allclose(a.contributions, b.contributions, rtol=1e-12)
    assert a.es == pytest.approx(risk.var_es(risk.portfolio_pnl(r, pos, horizons=(10,))[10], 0.99)[0.99].es, rel=1e-12)
    with pytest.raises(ValueError, match="positions must be None"):
        risk.es_contributions(risk.asset_pnl(r, pos), pos, 0.99)
    with pytest.raises(ValueError, match="positions is required"):
        risk.es_contributions(r, None, 0.99)


# ------------------------------------------------------------------------------------------
# drawdowns and stress losses
# ------------------------------------------------------------------------------------------
def test_max_drawdown_hand_calculation():
    # value 100 -> 110 -> 99 -> 105: max drawdown 11 (currency), 11/110 = 10% (relative)
    r = 100.0 * np.log(np.array([110 / 100, 99 / 110, 105 / 99]))[None, :, None]
    r = np.concatenate([r, -r], axis=0)  # second path 100 -> 90.9 -> 101.0 -> 95.24
    dd = risk.max_drawdown(r, [100.0])
    assert dd[0] == pytest.approx(11.0, rel=1e-12)
    v = 100.0 * np.exp(np.cumsum(r[1, :, 0]) / 100.0)
    assert dd[1] == pytest.approx(max(100 - v[0], v[1] - v[2]), rel=1e-12)
    rel = risk.max_drawdown(r, [100.0], relative=True)
    assert rel[0] == pytest.approx(0.1, rel=1e-12)
    # monotone gains: no drawdown
    assert risk.max_drawdown(np.full((1, 5, 1), 0.5), [10.0])[0] == 0.0
    s = risk.drawdown_summary(dd)
    assert set(s) == {"mean", "q50", "q95", "q99", "max"} and s["max"] == pytest.approx(11.0)
    with pytest.raises(ValueError, match="positive initial portfolio value"):
        risk.max_drawdown(r, [-100.0], relative=True)


def test_stress_loss_of_a_shifted_distribution_is_the_shift():
    rng = np.random.default_rng(4)
    base = rng.normal(0, 1e5, 50_000)
    scen = base - 2.5e4  # every path loses 25,000 more
    sl = risk.stress_loss(scen, base)
    for row in sl.rows:
        assert row["stress_loss"] == pytest.approx(2.5e4, rel=1e-9)
    assert sl.get("ES", 0.975)["scenario"] > sl.get("ES", 0.975)["baseline"]
    assert sl.get("mean_loss")["se"] > 0 and sl.get("VaR", 0.99)["se"] is None
    json.dumps(sl.to_dict())
    assert len(sl.to_frame()) == 5


# ------------------------------------------------------------------------------------------
# FRTB
# ------------------------------------------------------------------------------------------
def test_frtb_es_cascade_formula():
    es = {10: 100.0, 20: 60.0, 40: 30.0, 60: 20.0, 120: 10.0}
    expected = math.sqrt(100**2 + (60 * math.sqrt(1.0)) ** 2 + (30 * math.sqrt(2.0)) ** 2
                         + (20 * math.sqrt(2.0)) ** 2 + (10 * math.sqrt(6.0)) ** 2)
    assert risk.frtb_es(es) == pytest.approx(expected, rel=1e-14)
    assert risk.frtb_es({10: 100.0}) == 100.0  # only 10-day factors
    assert risk.frtb_es({10: 100.0, 20: 50.0}) == pytest.approx(math.sqrt(100**2 + 50**2))
    with pytest.raises(ValueError, match="liquidity horizon 40 is missing while 60 is given"):
        risk.frtb_es({10: 100.0, 20: 50.0, 60: 10.0})
    with pytest.raises(ValueError, match="not one of the FRTB horizons"):
        risk.frtb_es({10: 1.0, 30: 1.0})
    with pytest.raises(ValueError, match="under key 10"):
        risk.frtb_es({20: 1.0})


def test_frtb_es_cascade_from_asset_pnl():
    rng = np.random.default_rng(6)
    ap = rng.normal(0, [1.0, 2.0, 3.0], size=(20_000, 3))
    out = risk.frtb_es_cascade(ap, [10, 40, 120], level=0.975)
    assert out[10] == pytest.approx(risk.var_es(ap.sum(axis=1), 0.975)[0.975].es)
    assert out[20] == out[40] == pytest.approx(risk.var_es(ap[:, 1:].sum(axis=1), 0.975)[0.975].es)
    assert out[60] == out[120] == pytest.approx(risk.var_es(ap[:, 2], 0.975)[0.975].es)
    assert risk.frtb_es(out) > out[10]
    with pytest.raises(ValueError, match="valid FRTB horizons"):
        risk.frtb_es_cascade(ap, [10, 15, 120])


def test_stressed_es():
    assert risk.stressed_es(120.0, 90.0, 60.0) == pytest.approx(180.0)
    assert risk.stressed_es(120.0, 50.0, 60.0) == pytest.approx(100.0)
    assert risk.stressed_es(120.0, 50.0, 60.0, floor_ratio=True) == pytest.approx(120.0)
    with pytest.raises(ValueError, match="es_reduced_current must be > 0"):
        risk.stressed_es(1.0, 1.0, 0.0)


# ------------------------------------------------------------------------------------------
# scenario windows, discreteness
# ------------------------------------------------------------------------------------------
def _crash_paths(n_paths=400, horizon=60, seed=3):
    """Paths of 2 assets with small noise; on 10 % of the paths asset 0 falls 10 % (log) on day 38 and again
    on day 47, and asset 1 falls 6 % on day 40. Only the window of days 38-47 holds both falls of asset 0."""
    rng = np.random.default_rng(seed)
    r = rng.normal(0.0, 0.05, size=(n_paths, horizon, 2))
    hit = np.arange(n_paths) % 10 == 0
    r[hit, 37, 0] -= 10.0
    r[hit, 46, 0] -= 10.0
    r[hit, 39, 1] -= 6.0
    return r


def test_window_pnl_revalues_the_initial_positions_over_each_window():
    r = _crash_paths(n_paths=50, horizon=50)[:, :30]
    pos = np.array([600_000.0, -150_000.0])
    w = risk.window_pnl(r, pos, window=10)
    assert w.shape == (50, 21)
    np.testing.assert_allclose(w[:, 0], risk.portfolio_pnl(r, pos, horizons=(10,))[10], rtol=1e-12)
    s = 7  # days 8..17
    by_hand = (np.expm1(r[:, s:s + 10, :].sum(axis=1) / 100.0) * pos).sum(axis=1)
    np.testing.assert_allclose(w[:, s], by_hand, rtol=1e-12)
    per = risk.window_pnl(r, pos, window=10, per_asset=True, starts=[s])
    np.testing.assert_allclose(per[:, 0, :].sum(axis=1), by_hand, rtol=1e-12)
    with pytest.raises(ValueError, match="window starts must lie in 0..20"):
        risk.window_pnl(r, pos, window=10, starts=[21])


def test_worst_window_is_the_known_crash_window_and_gets_the_cascade():
    r = _crash_paths()
    pos = np.array([600_000.0, 400_000.0])
    lh = np.array([10, 20])
    ww = risk.worst_window_es(r, pos, lh, window=10, level=0.975)
    # the only window holding both falls of asset 0 (and the fall of asset 1): days 38..47
    assert (ww.start_day, ww.end_day) == (38, 47)
    assert ww.es_by_start.shape == (51,) and int(np.argmax(ww.es_by_start)) == 37
    # ES of each window is the var_es estimator on that window's P&L
    w = risk.window_pnl(r, pos, window=10)
    for s in (0, 30, 37, 50):
        assert ww.es_by_start[s] == pytest.approx(risk.var_es(w[:, s], 0.975)[0.975].es, rel=1e-12)
    assert ww.es == pytest.approx(ww.es_by_start[37])
    # the first 10 days (what a first-window figure shows) are calm
    assert ww.es_by_start[0] < 0.1 * ww.es
    # the MAR33.4 cascade on that window, by hand
    ap = np.expm1(r[:, 37:47, :].sum(axis=1) / 100.0) * pos
    es = lambda x: risk.var_es(x, 0.975)[0.975].es  # noqa: E731
    assert ww.cascade[10] == pytest.approx(es(ap.sum(axis=1)), rel=1e-12)
    assert ww.cascade[20] == pytest.approx(es(ap[:, 1]), rel=1e-12)
    assert ww.liquidity_adjusted_es == pytest.approx(math.hypot(es(ap.sum(axis=1)), es(ap[:, 1])), rel=1e-12)
    # restricted to the first 45 days, the worst window holds the first fall of both assets only
    early = ww.within(45, r, pos, lh)
    assert early.end_day <= 45 and early.start_day <= 38 <= early.end_day and 40 <= early.end_day
    assert early.es < ww.es and early.liquidity_adjusted_es is not None
    assert risk.worst_window_es(r, pos).cascade is None  # no liquidity horizons: no cascade


def test_distinct_outcomes_and_es_not_below_var_with_ties():
    x = np.repeat([-100.0, 0.0, 50.0], [30, 940, 30])
    assert risk.n_distinct(x) == 3
    assert risk.n_distinct(x + 1e-9) == 3  # values equal to 1e-6 count once
    for e in risk.var_es(x, (0.975, 0.99)):
        assert e.var == 100.0 and e.es >= e.var  # a flat tail: ES equals VaR, never a rounding below it
    y = np.full(1000, -74_828.123456789)  # every path the same loss
    e = risk.var_es(y, 0.975)[0.975]
    assert e.es >= e.var
