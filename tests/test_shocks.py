"""Each shock's effect, measured against its definition (same seeds, fixed tolerances from sample size)."""
import math

import numpy as np
import pytest
from scipy import stats

from scenarios.loader import scenario_from_dict
from simulator import MarketModel, simulate
from simulator import run_scenario
from simulator.jobs import compile_scenario
from tests.conftest import make_model

H = 30


def _scenario(shocks, horizon=H, n_paths=2000, **extra):
    d = {"name": "unit-test", "description": "test", "source": "unit test", "horizon_days": horizon,
         "n_paths": n_paths, "seed": 42, "shocks": shocks}
    d.update(extra)
    return scenario_from_dict(d)


def _model(n=3, **kw):
    return MarketModel.from_dict(make_model(n, **kw))


def _run(model, shocks, n_paths=2000, horizon=H, seed=42):
    sc = _scenario(shocks, horizon=horizon, n_paths=n_paths)
    return simulate(model, n_paths, horizon, seed, schedule=compile_scenario(sc, model))


def test_no_shocks_equals_plain_simulation():
    m = _model()
    a = _run(m, [])
    b = simulate(m, 2000, H, 42)
    assert np.array_equal(a.returns, b.returns)


@pytest.mark.parametrize("half_life", [None, 3.0])
def test_vol_spike_scales_sigma_by_k(half_life):
    m = _model()
    spike = {"type": "vol_spike", "day": 10, "days": 5, "multiplier": 3.0, "assets": ["A0", "A2"]}
    if half_life:
        spike["half_life"] = half_life
    base = _run(m, [])
    shocked = _run(m, [spike])
    days = np.arange(9, 14)
    k = np.full(days.size, 3.0) if half_life is None else 1 + 2.0 * 0.5 ** ((days - 9) / half_life)
    ratio = shocked.sigma[:, days][:, :, [0, 2]] / base.sigma[:, days][:, :, [0, 2]]
    np.testing.assert_allclose(ratio, np.broadcast_to(k[None, :, None], ratio.shape), rtol=1e-12)
    # realised sigma of the residual on spike days: cross-sectional sd ratio is k (same innovations)
    mu = 0.03
    realised = (shocked.returns[:, days, 0] - mu).std(axis=0) / (base.returns[:, days, 0] - mu).std(axis=0)
    np.testing.assert_allclose(realised, k, rtol=1e-9)
    # untouched asset and days, and no feedback: identical paths elsewhere
    assert np.array_equal(shocked.returns[:, :, 1], base.returns[:, :, 1])
    assert np.array_equal(shocked.returns[:, 14:, 0], base.returns[:, 14:, 0])


def test_vol_spike_with_feedback_raises_later_variance():
    m = _model()
    base = _run(m, [])
    fb = _run(m, [{"type": "vol_spike", "day": 5, "days": 3, "multiplier": 2.0, "feedback": True}])
    after = np.s_[:, 8]
    assert (fb.sigma[after] >= base.sigma[after] - 1e-12).all()
    assert fb.sigma[after].mean() > 1.2 * base.sigma[after].mean()


def test_certain_jump_moves_day_d_by_its_size():
    m = _model()
    base = _run(m, [])
    jumped = _run(m, [{"type": "jump", "day": 7, "assets": ["A1"], "size": -20.0, "unit": "percent"}])
    diff = jumped.returns[:, 6, 1] - base.returns[:, 6, 1]
    np.testing.assert_allclose(diff, 100 * math.log(0.8), rtol=1e-12)
    assert np.array_equal(jumped.returns[:, :6], base.returns[:, :6])
    # the jump feeds the variance recursion: next day's sigma rises (GJR, negative residual)
    assert (jumped.sigma[:, 7, 1] > base.sigma[:, 7, 1]).all()


def test_sigma_jump_and_probability():
    m = _model()
    n = 4000
    shocks = [{"type": "jump", "day": 3, "assets": "all", "size": -4.0, "unit": "sigma", "probability": 0.25}]
    r = _run(m, shocks, n_paths=n)
    base = _run(m, [], n_paths=n)
    # day 3 innovations are drawn before the jump's uniform, so day 3 differs only by the jump
    d = (r.returns[:, 2] - base.returns[:, 2]) / r.sigma[:, 2]
    hit = np.isclose(d, -4.0, rtol=1e-9).all(axis=1)
    miss = np.isclose(d, 0.0, atol=1e-12).all(axis=1)
    assert (hit | miss).all()
    p_hat = hit.mean()
    assert abs(p_hat - 0.25) < 4 * math.sqrt(0.25 * 0.75 / n)


def test_correlation_break_raises_kendall_tau_to_crisis_level():
    cop = {"type": "gaussian", "corr": [[1, 0.2, 0.2], [0.2, 1, 0.2], [0.2, 0.2, 1]]}
    m = _model(copula=cop, dist={"type": "normal"})
    n = 6000
    r = _run(m, [{"type": "correlation_break", "day": 5, "days": 2, "rho": 0.9, "nu": 3.0}], n_paths=n, horizon=8)
    tol = 4.5 * math.sqrt(4 / (9 * n))
    crisis = stats.kendalltau(r.returns[:, 4, 0], r.returns[:, 4, 2]).statistic
    calm = stats.kendalltau(r.returns[:, 7, 0], r.returns[:, 7, 2]).statistic
    assert abs(crisis - 2 / math.pi * math.asin(0.9)) < tol
    assert abs(calm - 2 / math.pi * math.asin(0.2)) < tol
    # t(3) crisis copula: joint lower-tail exceedances far above the Gaussian copula's at rho = 0.9
    u = stats.rankdata(r.returns[:, 4:6].reshape(-1, 3), axis=0) / (2 * n + 1)
    q = 0.01
    joint = np.mean((u[:, 0] < q) & (u[:, 1] < q) & (u[:, 2] < q)) / q
    expected_t = stats.multivariate_t(loc=np.zeros(3), shape=np.full((3, 3), 0.9) + 0.1 * np.eye(3), df=3).cdf(
        np.full(3, stats.t.ppf(q, 3))) / q
    assert abs(joint - expected_t) < 4 * math.sqrt(expected_t / q / (2 * n)) + 0.02


def test_historical_replay_default_is_history_returns():
    # no scaling key: the window's own returns, exactly (the default since 0.3.0)
    model = MarketModel.from_json(str(_bundled("us-markets")))
    window = ["2008-10-01", "2008-10-31"]
    res = _run(model, [{"type": "historical_replay", "day": 4, "window": window}], n_paths=20, horizon=30)
    x = _bundled_returns(model, window)
    np.testing.assert_allclose(res.returns[:, 3:26], np.broadcast_to(x, (20,) + x.shape), rtol=1e-12, atol=1e-12)


def test_historical_replay_reproduces_residual_sequence():
    from simulator.jobs import replay_residuals

    model = MarketModel.from_json(str(_bundled("us-markets")))
    window = ["2008-10-01", "2008-10-31"]
    z = replay_residuals(model, "builtin:us-markets", [np.datetime64(d).astype(object) for d in window])
    assert z.shape[0] == 23  # October 2008 trading days
    sc = {"type": "historical_replay", "day": 4, "window": window, "scaling": "filtered"}
    res = _run(model, [sc], n_paths=50, horizon=40)
    mu = np.array([m.mean.mu for m in model.marginals])
    eps = (res.returns - mu) / res.sigma
    np.testing.assert_allclose(eps[:, 3:26], np.broadcast_to(z, (50,) + z.shape), rtol=1e-9, atol=1e-12)
    assert not np.allclose(eps[:, 26:], eps[0, 26:])  # random again after the window
    # October 2008 for equities: a strongly negative residual sum and a < -2 sigma day
    assert z[:, 0].sum() < -4 and z[:, 0].min() < -2.0


def _bundled_returns(model, window):
    from calibration.data import load_prices, log_returns

    r = log_returns(load_prices("builtin:us-markets"))[list(model.assets)]
    return r.loc[window[0]:window[1]].to_numpy(float)


def test_historical_scaling_replays_the_window_returns_exactly():
    model = MarketModel.from_json(str(_bundled("us-markets")))
    window = ["2018-01-29", "2018-02-28"]  # Volmageddon: a calm-start window, far from the model's state
    hist = _bundled_returns(model, window)
    assert hist.shape[0] == 22
    shocks = [{"type": "historical_replay", "day": 3, "window": window, "scaling": "historical"},
              {"type": "vol_spike", "day": 10, "days": 1, "multiplier": 2.0, "assets": ["equity"]}]
    res = _run(model, shocks, n_paths=40, horizon=30)
    got = res.returns[:, 2:24]
    mu = np.array([m.mean.mu for m in model.marginals])
    expected = np.broadcast_to(hist, got.shape).copy()
    expected[:, 7, 0] = mu[0] + 2.0 * (hist[7, 0] - mu[0])  # the spike multiplies history's residual
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    assert not np.allclose(res.returns[:, 24:], res.returns[0, 24:])  # random again after the window
    # the variance recursion is fed history's residuals: on the day after the window every path's
    # variance is the model's recursion run over them from the path's own state
    m0 = model.marginals[0]
    v = m0.vol
    s2, e = res.sigma[:, 23, 0] ** 2, res.returns[:, 23, 0] - mu[0]
    z = e / np.sqrt(s2)
    s2_next = np.exp(v.omega + v.alpha * (np.abs(z) - math.sqrt(2 / math.pi)) + v.gamma * z + v.beta * np.log(s2))
    np.testing.assert_allclose(res.sigma[:, 24, 0] ** 2, s2_next, rtol=1e-10)
    # and the filtered replay of the same window is a different, larger shock from this start state
    fhs = _run(model, [dict(shocks[0], scaling="filtered")], n_paths=40, horizon=30)
    assert fhs.returns[0, 2:24, 0].sum() < 3 * hist[:, 0].sum() < 0


def test_historical_scaling_is_exact_in_a_stress_regime_with_its_own_mean(tmp_path):
    import json

    model = MarketModel.from_json(str(_bundled("us-markets")))
    stress = json.loads(_bundled("us-markets").read_text())
    for m in stress["marginals"]:
        m["mean"]["mu"] = -0.5  # the stress regime drifts down 0.5 %/day
    (tmp_path / "stress.json").write_text(json.dumps(stress))
    window = ["2018-01-29", "2018-02-28"]
    hist = _bundled_returns(model, window)
    regime = {"type": "regime_switch", "p_enter": 0.5, "p_exit": 0.0, "start": "stress",
              "stress_model": str(tmp_path / "stress.json")}
    replay = {"type": "historical_replay", "day": 1, "window": window, "scaling": "historical"}
    n = 400
    stressed = _run(model, [replay, regime], n_paths=n, horizon=30)
    assert (stressed.stressed_days == 30).all()
    np.testing.assert_allclose(stressed.returns[:, :22], np.broadcast_to(hist, (n,) + hist.shape), rtol=1e-12,
                               atol=1e-12)
    # after the window the stress regime's own mean drives the drift again
    calm = _run(model, [replay], n_paths=n, horizon=30)
    diff = calm.returns[:, 22:] - stressed.returns[:, 22:]
    assert diff.mean() > 0.5 - 4 * diff.mean(axis=1).std() / math.sqrt(n)


def test_historical_scaling_bootstrap_draws_whole_historical_days():
    model = MarketModel.from_json(str(_bundled("us-markets")))
    window = ["2008-10-01", "2008-10-31"]
    hist = _bundled_returns(model, window)
    res = _run(model, [{"type": "historical_replay", "day": 1, "window": window, "mode": "bootstrap",
                        "days": 10, "scaling": "historical"}], n_paths=300, horizon=12)
    got = res.returns[:, :10].reshape(-1, model.n_assets)
    dist = np.abs(got[:, None, :] - hist[None, :, :]).max(axis=2)  # (draws, window days)
    assert dist.min(axis=1).max() < 1e-10  # every replayed day is one historical day, all assets together
    counts = np.bincount(dist.argmin(axis=1), minlength=hist.shape[0])
    n, p = got.shape[0], 1.0 / hist.shape[0]
    assert np.all(np.abs(counts - n * p) <= 5.0 * math.sqrt(n * p * (1 - p))), counts


def _bundled(name):
    from importlib import resources

    return resources.files("simulator") / "data" / f"{name}.json"


def test_regime_occupancy_matches_stationary_law():
    m = _model(n=2)
    pe, px = 0.05, 0.2
    shock = {"type": "regime_switch", "p_enter": pe, "p_exit": px, "start": "stationary",
             "stress": {"vol_multiplier": 2.0, "rho": 0.8}}
    n, h = 3000, 200
    res = _run(m, [shock], n_paths=n, horizon=h)
    occ = res.stressed_days / h
    pi = pe / (pe + px)
    lam = 1 - pe - px
    sd = math.sqrt(pi * (1 - pi) * (1 + lam) / (1 - lam) / h / n)  # chain-mean sd across paths
    assert abs(occ.mean() - pi) < 4.5 * sd
    # paths that spend more days in the stress regime (vol x 2) are more volatile
    realised = (res.sigma**2).mean(axis=(1, 2))
    assert stats.spearmanr(res.stressed_days, realised).statistic > 0.3


def test_regime_stress_set_scales_long_run_vol():
    m = _model(n=1, copula={"type": "independent"}, dist={"type": "normal"})
    shock = {"type": "regime_switch", "p_enter": 0.0, "p_exit": 0.0, "start": "stress",
             "stress": {"vol_multiplier": 2.0}}
    res = _run(m, [shock], n_paths=2000, horizon=400)
    late = res.sigma[:, 200:, 0] ** 2
    target = 4 * m.marginals[0].unconditional_variance
    assert abs(late.mean() - target) < 0.05 * target


def test_poisson_jumps_rate():
    # no ARCH effect (alpha = 0), so a jump does not raise later volatility and days are independent
    m = _model(n=2, copula={"type": "independent"}, dist={"type": "normal"},
               vol={"type": "garch", "omega": 0.5, "alpha": 0.0, "beta": 0.5})
    intensity, n, h = 25.2, 2000, 50  # 0.1 per day
    shock = {"type": "poisson_jumps", "intensity": intensity, "law": "normal", "mean": -40.0, "sd": 0.01,
             "loadings": {"A0": 1.0, "A1": 0.5}}
    res = _run(m, [shock], n_paths=n, horizon=h)
    r0 = res.returns[:, :, 0]
    counts = (r0 < -25).astype(float)  # sigma = 1: a day below -25 % holds at least one jump
    lam = intensity / 252
    p1 = 1 - math.exp(-lam)
    rate = counts.mean()
    assert abs(rate - p1) < 4.5 * math.sqrt(p1 * (1 - p1) / counts.size)
    hit = r0 < -25
    # loading 0.5 on the second asset: its jump days move by about -20
    assert np.all(res.returns[:, :, 1][hit] < -12)


def test_anchored_path_follows_path_and_draws_others_conditionally():
    cop = {"type": "gaussian", "corr": [[1, 0.7, 0.3], [0.7, 1, 0.5], [0.3, 0.5, 1]]}
    m = _model(copula=cop, dist={"type": "normal"})
    n, h = 4000, 20
    res = _run(m, [{"type": "anchored_path", "assets": ["A0"], "knots": [[20, -30.0]]}], n_paths=n, horizon=h)
    daily = 100 * math.log(0.7) / 20
    np.testing.assert_allclose(res.returns[:, :, 0], daily, rtol=1e-12)
    # the anchored asset's standardised residual x_a is known per path-day; normal marginals + gaussian copula
    mu = 0.03
    x = (res.returns - mu) / res.sigma
    xa, x1, x2 = x[..., 0].ravel(), x[..., 1].ravel(), x[..., 2].ravel()
    b1, b2 = 0.7, 0.3
    # E[x_f | x_a] = rho_fa x_a; conditional covariance R_ff - r r'
    assert np.polyfit(xa, x1, 1)[0] == pytest.approx(b1, abs=0.03)
    assert np.polyfit(xa, x2, 1)[0] == pytest.approx(b2, abs=0.03)
    e1, e2 = x1 - b1 * xa, x2 - b2 * xa
    cond = np.cov(e1, e2)
    expected = np.array([[1 - b1**2, 0.5 - b1 * b2], [0.5 - b1 * b2, 1 - b2**2]])
    np.testing.assert_allclose(cond, expected, atol=0.03)


def test_anchored_path_t_copula_conditional_scale():
    nu, rho = 5.0, 0.6
    cop = {"type": "t", "corr": [[1, rho], [rho, 1]], "nu": nu}
    m = _model(n=2, copula=cop, dist={"type": "t", "nu": 6.0})
    n, h = 6000, 10
    res = _run(m, [{"type": "anchored_path", "assets": ["A0"], "returns": [-3.0] * h}], n_paths=n, horizon=h)
    from simulator.model import DistSpec
    from simulator.tables import Scale, build_inverse_table, eval_table_numpy

    inv = build_inverse_table(Scale(nu), DistSpec("t", 6.0))
    eps = (res.returns - 0.03) / res.sigma
    xa = eval_table_numpy(inv, eps[..., 0].ravel())
    xf = eval_table_numpy(inv, eps[..., 1].ravel())
    # X_f | x_a ~ t_{nu+1}(rho x_a, (nu + x_a^2)/(nu + 1) (1 - rho^2)): standardise and check the t_{nu+1} law
    scale = np.sqrt((nu + xa**2) / (nu + 1) * (1 - rho**2))
    w = (xf - rho * xa) / scale
    ks = stats.kstest(w, stats.t(nu + 1).cdf).statistic
    assert ks < 1.95 / math.sqrt(w.size)


def test_anchored_path_rejects_archimedean_copula():
    m = _model(copula={"type": "clayton", "theta": 2.0})
    sc = _scenario([{"type": "anchored_path", "assets": ["A0"], "knots": [[10, -10.0]]}])
    with pytest.raises(ValueError, match="gaussian, t and independent"):
        compile_scenario(sc, m)


def test_run_scenario_library_end_to_end():
    res = run_scenario("severely-adverse", "builtin:us-markets", n_paths=200)
    assert res.positions is not None and res.positions.sum() > 0
    assert res.simulation.cum_return.shape == (200, 3)
    again = run_scenario("severely-adverse", "builtin:us-markets", n_paths=200)
    assert np.array_equal(res.simulation.cum_return, again.simulation.cum_return)


def test_all_shock_types_together_are_reproducible_across_chunks():
    model = MarketModel.from_json(str(_bundled("us-markets")))
    shocks = [
        {"type": "regime_switch", "p_enter": 0.02, "p_exit": 0.1, "stress": {"vol_multiplier": 1.8, "rho": 0.7}},
        {"type": "correlation_break", "day": 3, "days": 4, "rho": 0.85, "nu": 4.0},
        {"type": "vol_spike", "day": 2, "days": 6, "multiplier": 2.0, "half_life": 2.0},
        {"type": "jump", "day": 4, "assets": ["SP500"], "size": -7.0, "unit": "percent", "probability": 0.5},
        {"type": "historical_replay", "day": 12, "window": ["2008-10-06", "2008-10-10"]},
        {"type": "poisson_jumps", "intensity": 3.0, "law": "pareto", "scale": 2.0, "alpha": 3.0,
         "loadings": {"SP500": 1.0, "WTI": 2.0}},
        {"type": "anchored_path", "assets": ["NASDAQ"], "knots": [[8, -12.0]], "noise": 0.3},
    ]
    sc = _scenario(shocks, horizon=25, n_paths=500)
    sched = compile_scenario(sc, model)
    a = simulate(model, 500, 25, 1, schedule=sched)
    b = simulate(model, 500, 25, 1, schedule=sched, chunk_paths=33)
    assert np.array_equal(a.returns, b.returns)
    assert np.isfinite(a.returns).all()


def test_lanes_in_different_regimes_match_paths_run_alone():
    """The CPU kernel runs blocks of 32 paths in lockstep; when a block's paths are in different regimes (here on
    nearly every day: half the paths are stressed, with their own correlation, copula nu and so quantile tables),
    each copula/table set runs over its own lanes. A path's numbers must not depend on its neighbours: the same
    as with chunks of one path, where every block is a single lane in a single regime. Seven assets with two
    anchored: Cholesky rows and conditional sums take their four-terms-per-pass and remainder branches."""
    model = _model(n=7)
    shocks = [
        {"type": "regime_switch", "p_enter": 0.3, "p_exit": 0.3,
         "stress": {"vol_multiplier": 1.5, "rho": 0.8, "nu": 4.0}},
        {"type": "correlation_break", "day": 5, "days": 5, "rho": 0.9, "nu": 3.0},
        {"type": "anchored_path", "assets": ["A1", "A4"], "knots": [[12, -8.0], [20, -5.0]], "noise": 0.3},
    ]
    n, h = 160, 30
    sched = compile_scenario(_scenario(shocks, horizon=h, n_paths=n), model)
    blocks = simulate(model, n, h, 9, keep="paths", schedule=sched)
    alone = simulate(model, n, h, 9, keep="paths", schedule=sched, chunk_paths=1)
    uneven = simulate(model, n, h, 9, keep="paths", schedule=sched, chunk_paths=45)
    share = blocks.stressed_days.mean() / h
    assert 0.3 < share < 0.7, share  # both regimes in (nearly) every block of 32 on every day
    for res in (alone, uneven):
        for name in ("returns", "sigma", "cum_return", "max_drawdown", "stressed_days"):
            assert np.array_equal(getattr(blocks, name), getattr(res, name)), name
    assert np.isfinite(blocks.returns).all()


def test_volatility_only_regimes_share_the_copula_set():
    """A regime switch that stresses volatility only leaves both regimes the same copula: the kernel draws every
    day's copula values from set 0 (one Cholesky product for a block, whatever its lanes' regimes), and the paths
    are those drawn with each regime's own (equal) copula set."""
    from simulator.backends import run_chunk
    from simulator.seeding import resolve_seed

    model = _model(n=5)
    shocks = [{"type": "regime_switch", "p_enter": 0.3, "p_exit": 0.3, "stress": {"vol_multiplier": 2.0}},
              {"type": "correlation_break", "day": 4, "days": 3, "rho": 0.9, "nu": 3.0}]
    sched = compile_scenario(_scenario(shocks, horizon=12, n_paths=96), model)
    shared = sched.kernel_arrays()
    assert list(shared.model.day_copula) == [0, 0, 0, 2, 2, 2, 0, 0, 0, 0, 0, 0]
    own = shared._replace(model=shared.model._replace(day_copula=sched.day_copula.astype(np.int64)))
    keys = resolve_seed(3)
    a = run_chunk(shared, keys, 0, 96, 12, True)
    b = run_chunk(own, keys, 0, 96, 12, True)
    assert 0 < a["stressed_days"].mean() < 12
    for name in a:
        assert np.array_equal(a[name], b[name]), name

    stressed_rho = [{"type": "regime_switch", "p_enter": 0.3, "p_exit": 0.3, "stress": {"vol_multiplier": 1.0, "rho": 0.8}}]
    own_sets = compile_scenario(_scenario(stressed_rho, horizon=12, n_paths=96), model).kernel_arrays()
    assert list(own_sets.model.day_copula) == [-1] * 12  # a stressed correlation keeps the regime's own set
