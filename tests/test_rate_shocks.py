"""Shocks on rate factors (issue 16, item 6): units per factor kind, ``curve_shift`` (the BCBS IRRBB shapes),
anchored rate paths, the ``median_change_bp`` target and the library's rates scenarios.

Facts checked:

- the six IRRBB shapes are BCBS d368's formulas (Annex 2: ``S_short = exp(-t/4)``, ``S_long = 1 - exp(-t/4)``,
  steepener ``-0.65 |short| + 0.9 |long|``, flattener ``+0.8 |short| - 0.6 |long|``, USD sizes 200 / 300 / 150);
- a compiled ``curve_shift`` is a level shift: with the same seed, every path of the shocked run is the
  unshocked path plus the shift on the shifted days, to rounding (the model's own noise and volatility are
  untouched), so the mean change over the shocked days is the model's drift plus the shift;
- anchored rate paths (``unit = "bp"`` knots or daily returns, ``unit = "level"`` knots) are followed exactly
  without noise, and in expectation with noise;
- bad input gives one clear error naming the shock and the asset (units against kinds, a missing curve,
  rate roles on a model without rates, anchors that cannot combine, targets of the wrong kind);
- the rates scenarios of the library meet their targets at their default settings on
  ``builtin:us-markets-rates``, and ``treasury-curve-2022`` replays the shipped Treasury data.

The library runs here take about 10 s on 2 cores.
"""
from __future__ import annotations

import io
import math
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from scenarios.loader import list_scenarios, load_scenario, parse_scenario
from scenarios.spec import IRRBB_SHAPES, IRRBB_USD_BP, AnchoredPathShock, CurveShiftShock, irrbb_shift
from simulator.exceptions import UserInputError
from simulator.roles import resolve_assets

RATES_MODEL = "builtin:us-markets-rates"
RATES_SCENARIOS = ["parallel-up-200", "severely-adverse-rates", "treasury-curve-2022"]
TENORS = {"UST_3M": 0.25, "UST_2Y": 2.0, "UST_5Y": 5.0, "UST_10Y": 10.0, "UST_30Y": 30.0}
HEAD = 'name = "t"\ndescription = "d"\nsource = "s"\nhorizon_days = {h}\nn_paths = 100\nseed = 1\n'


@lru_cache(maxsize=None)
def _model(name: str = "us-markets-rates"):
    from simulator.builtin import load_builtin_model

    return load_builtin_model(name)


def _scenario(body: str, horizon: int = 20):
    return parse_scenario(HEAD.format(h=horizon) + body, source="t.toml")


def _compile(body: str, model=None, horizon: int = 20):
    from simulator.jobs import compile_scenario

    return compile_scenario(_scenario(body, horizon), model or _model())


def _run(body: str, *, n_paths: int, horizon: int = 20, seed: int = 7, model=None):
    from simulator import run_scenario

    return run_scenario(_scenario(body, horizon), model or _model(), n_paths=n_paths, seed=seed, keep="paths")


def _col(asset: str) -> int:
    return _model().assets.index(asset)


# ------------------------------------------------------------------------------------------ IRRBB shapes
def _bcbs(shape: str, t: float, parallel=200.0, short=300.0, long=150.0) -> float:
    """BCBS d368, Annex 2, written out independently of the code under test."""
    d_short = short * math.exp(-t / 4.0)
    d_long = long * (1.0 - math.exp(-t / 4.0))
    return {"parallel_up": parallel, "parallel_down": -parallel, "short_up": d_short, "short_down": -d_short,
            "steepener": -0.65 * abs(d_short) + 0.9 * abs(d_long),
            "flattener": 0.8 * abs(d_short) - 0.6 * abs(d_long)}[shape]


@pytest.mark.parametrize("shape", IRRBB_SHAPES)
def test_irrbb_shapes_are_the_bcbs_formulas(shape):
    assert IRRBB_USD_BP == {"parallel": 200.0, "short": 300.0, "long": 150.0}  # d368 Table 1, USD
    for t in (1 / 12, 0.25, 0.5, 1.0, 2.0, 5.0, 7.0, 10.0, 20.0, 30.0):
        assert irrbb_shift(shape, t) == pytest.approx(_bcbs(shape, t), rel=1e-14, abs=1e-12)
        assert irrbb_shift(shape, t, parallel_bp=250, short_bp=400, long_bp=100) == pytest.approx(
            _bcbs(shape, t, 250.0, 400.0, 100.0), rel=1e-14, abs=1e-12)


def test_irrbb_shapes_limits_and_the_curve_shift_shock():
    # short end: the short scalar -> 1; long end: the long scalar -> 1
    assert irrbb_shift("steepener", 1e-9) == pytest.approx(-0.65 * 300, abs=1e-6)
    assert irrbb_shift("steepener", 200.0) == pytest.approx(0.9 * 150, abs=1e-6)
    assert irrbb_shift("flattener", 1e-9) == pytest.approx(0.8 * 300, abs=1e-6)
    assert irrbb_shift("flattener", 200.0) == pytest.approx(-0.6 * 150, abs=1e-6)
    assert irrbb_shift("short_up", 4.0) == pytest.approx(300 / math.e)
    assert irrbb_shift("parallel", 7.0, size=-35.0) == -35.0
    shock = CurveShiftShock(type="curve_shift", curve="UST", shape="flattener", long_bp=100.0, days=4)
    assert shock.change_bp(10.0) == pytest.approx(_bcbs("flattener", 10.0, long=100.0))
    assert shock.daily_fractions() == [0.25] * 4 and shock.last_day(20) == 4
    with pytest.raises(ValueError, match="tenor_years must be > 0"):
        irrbb_shift("parallel_up", 0.0)


# --------------------------------------------------------------------------------- compiled curve shifts
def test_curve_shift_compiles_to_level_shifts_on_the_curve():
    model = _model()
    sched = _compile('[[shocks]]\ntype = "curve_shift"\ncurve = "UST"\nshape = "steepener"\nday = 3\ndays = 4\n'
                     '[[shocks]]\ntype = "curve_shift"\ncurve = "UST"\nshape = "parallel"\nsize = -10.0\nday = 5\n')
    expected = np.zeros((20, model.n_assets))
    for asset, t in TENORS.items():
        expected[2:6, _col(asset)] += _bcbs("steepener", t) / 4.0
        expected[4, _col(asset)] += -10.0
    np.testing.assert_allclose(sched.shift, expected, rtol=1e-14, atol=1e-12)
    assert not sched.shift[:, :3].any()  # the price factors are not on the curve
    assert not sched.ev_day.size and not sched.anc_day.any()  # no jump events, no anchoring


def test_curve_shift_is_a_level_shift_on_top_of_the_models_own_paths():
    # same seed with and without the shift: the paths differ by the shift exactly (the shift draws no random
    # numbers and does not feed the variance recursion), so the model's noise and volatility carry on
    body = '[[shocks]]\ntype = "curve_shift"\ncurve = "UST"\nshape = "short_down"\nday = 2\ndays = 5\n'
    shocked = _run(body, n_paths=4000).simulation
    plain = _run("", n_paths=4000).simulation
    shift = _compile(body).shift
    np.testing.assert_allclose(shocked.returns - plain.returns, np.broadcast_to(shift, plain.returns.shape),
                               rtol=0, atol=1e-9)
    np.testing.assert_array_equal(shocked.sigma, plain.sigma)
    # hence the mean change over the shocked days is the model's drift plus the shift (Monte Carlo error only)
    for asset, t in TENORS.items():
        a = _col(asset)
        x = shocked.returns[:, 1:6, a].sum(axis=1)
        mu = _model().marginals[a].mean.mu
        se = x.std(ddof=1) / math.sqrt(x.size)
        assert abs(x.mean() - (5 * mu + _bcbs("short_down", t))) <= 4.0 * se, (asset, x.mean(), se)


def test_jump_in_basis_points_on_a_rate_factor():
    sched = _compile('[[shocks]]\ntype = "jump"\nassets = ["rate_10y", "rate_2y"]\nday = 4\nsize = [25.0, -5.0]\n'
                     'unit = "bp"\n')
    row = np.zeros(_model().n_assets)
    row[_col("UST_10Y")], row[_col("UST_2Y")] = 25.0, -5.0
    np.testing.assert_array_equal(sched.ev_size, [row])
    assert list(sched.ev_day) == [3] and not sched.ev_sigma.any()
    # a jump is a surprise: on its day the change is the plain draw plus the jump (and it feeds the recursion)
    res = _run('[[shocks]]\ntype = "jump"\nassets = ["rate_10y"]\nday = 4\nsize = 25.0\nunit = "bp"\n',
               n_paths=400).simulation
    plain = _run("", n_paths=400).simulation
    a = _col("UST_10Y")
    np.testing.assert_allclose(res.returns[:, 3, a] - plain.returns[:, 3, a], 25.0, atol=1e-9)
    assert np.all(res.sigma[:, 4, a] != plain.sigma[:, 4, a])


# ---------------------------------------------------------------------------------- anchored rate paths
def test_anchored_rate_paths_are_followed_in_every_unit():
    model = _model()
    body = ('[[shocks]]\ntype = "anchored_path"\nassets = ["rate_10y"]\nunit = "bp"\nknots = [[4, -40.0], [10, 20.0]]\n'
            '[[shocks]]\ntype = "anchored_path"\nassets = ["rate_3m"]\nunit = "level"\nknots = [[6, 1.9], [10, 0.1]]\n'
            '[[shocks]]\ntype = "anchored_path"\nassets = ["equity"]\nknots = [[10, -20.0]]\nnoise = 0.5\n'
            '[[shocks]]\ntype = "anchored_path"\nassets = ["rate_30y"]\nunit = "bp"\n'
            'returns = [1.0, -2.0, 3.0, 0.5, 0.0, -7.0, 2.0, 2.0, 1.0, 4.0]\n')
    res = _run(body, n_paths=500, horizon=15).simulation
    ten = np.r_[np.full(4, -10.0), np.full(6, 10.0)]  # linear in the level between knots
    three = np.r_[np.full(6, 100.0 * (1.9 - 2.40) / 6), np.full(4, 100.0 * (0.1 - 1.9) / 4)]  # as-of 2.40 %
    assert model.factor("UST_3M").level == 2.40
    for asset, path in (("UST_10Y", ten), ("UST_3M", three),
                        ("UST_30Y", [1.0, -2.0, 3.0, 0.5, 0.0, -7.0, 2.0, 2.0, 1.0, 4.0])):
        np.testing.assert_allclose(res.returns[:, :10, _col(asset)], np.broadcast_to(path, (500, 10)), atol=1e-9)
    np.testing.assert_allclose(res.returns[:, :10, _col("UST_3M")].sum(axis=1), -230.0, atol=1e-9)
    # the equity path (percent) with noise: its log-return mean is the path, within Monte Carlo error
    eq = res.returns[:, :10, 0].sum(axis=1)
    assert abs(eq.mean() - 100.0 * math.log(0.8)) <= 4.0 * eq.std(ddof=1) / math.sqrt(eq.size)
    # the free factors are drawn conditionally (they move, and with the anchored ones)
    assert res.returns[:, :10, _col("UST_5Y")].std() > 0.5
    assert np.median(res.returns[:, :4, _col("UST_5Y")].sum(axis=1)) < -10.0  # follows the 10-year's fall


def test_anchored_rate_path_with_noise_is_exact_in_expectation():
    body = '[[shocks]]\ntype = "anchored_path"\nassets = ["rate_2y"]\nunit = "bp"\nknots = [[20, 100.0]]\nnoise = 1.0\n'
    res = _run(body, n_paths=4000).simulation
    x = res.returns[:, :, _col("UST_2Y")].sum(axis=1)
    assert abs(x.mean() - 100.0) <= 4.0 * x.std(ddof=1) / math.sqrt(x.size)
    assert x.std() > 5.0  # the noise is the model's conditional sigma a day


def test_level_knots_on_a_spread_factor_are_basis_points():
    model = _model().with_changes(factors={**{a: f.to_dict() for a, f in _model().factors.items()},
                                           "WTI": {"kind": "spread", "level": 150.0}})
    sched = _compile('[[shocks]]\ntype = "anchored_path"\nassets = ["oil"]\nunit = "level"\nknots = [[5, 170.0]]\n',
                     model=model)
    np.testing.assert_allclose(sched.anc_ret[:5, 2], 4.0)  # (170 - 150) bp over 5 days
    shock = AnchoredPathShock(type="anchored_path", assets=["x"], unit="level", knots=[[5, 170.0]])
    with pytest.raises(ValueError, match="as-of level"):
        shock.daily_changes()


def test_correlation_break_without_rho_keeps_the_models_correlations():
    sched = _compile('[[shocks]]\ntype = "correlation_break"\nday = 2\ndays = 3\n')
    crisis = sched.copulas[-1]
    assert crisis.type == "gaussian" and _model().copula.type == "t"
    np.testing.assert_array_equal(crisis.corr_matrix(8), _model().copula.corr_matrix(8))
    assert list(sched.day_copula[:6]) == [-1, 1, 1, 1, -1, -1]
    with_nu = _compile('[[shocks]]\ntype = "correlation_break"\nday = 2\ndays = 3\nnu = 4.0\n').copulas[-1]
    assert with_nu.type == "t" and with_nu.nu == 4.0


# ----------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("body, model, text", [
    ('[[shocks]]\ntype = "jump"\nassets = ["rate_10y"]\nday = 2\nsize = 50.0\nunit = "percent"\n', None,
     "shocks[0] (jump): 'UST_10Y' (role 'rate_10y') is a rate factor, which moves by absolute changes in basis "
     "points, so unit = \"percent\" (a price change) does not apply to it (allowed on rate and spread factors: "
     "unit = \"bp\" or \"sigma\")"),
    ('[[shocks]]\ntype = "jump"\nassets = "all"\nday = 2\nsize = 5.0\nunit = "percent"\n', None,
     "shocks[0] (jump): 'UST_3M' is a rate factor"),
    ('[[shocks]]\ntype = "jump"\nassets = ["equity"]\nday = 2\nsize = 5.0\nunit = "bp"\n', None,
     "shocks[0] (jump): 'SP500' (role 'equity') is a price factor, which moves by percent log returns, so "
     "unit = \"bp\""),
    ('[[shocks]]\ntype = "anchored_path"\nassets = ["rate_10y"]\nknots = [[5, 50.0]]\n', None,
     "shocks[0] (anchored_path): 'UST_10Y' (role 'rate_10y') is a rate factor, which moves by absolute changes in "
     "basis points, so unit = \"percent\" (a price change) does not apply to it (allowed on rate and spread factors: "
     "unit = \"bp\" or \"level\")"),
    ('[[shocks]]\ntype = "anchored_path"\nassets = ["oil"]\nunit = "level"\nknots = [[5, 50.0]]\n', None,
     "shocks[0] (anchored_path): 'WTI' (role 'oil') is a price factor, which moves by percent log returns, so "
     "unit = \"level\""),
    ('[[shocks]]\ntype = "curve_shift"\ncurve = "GILT"\nshape = "parallel_up"\n', None,
     "shocks[0] (curve_shift): the model has no curve 'GILT': a curve is the rate factors whose "
     "factors.<asset>.curve names it (the model's curves: 'UST' (UST_3M, UST_2Y, UST_5Y, UST_10Y, UST_30Y)) "
     "(allowed: curve = 'UST')"),
    ('model = "builtin:us-markets-rates"\n[[shocks]]\ntype = "curve_shift"\ncurve = "UST"\nshape = "flattener"\n',
     "us-markets", "shocks[0] (curve_shift): the model has no curve 'UST': a curve is the rate factors whose "
     "factors.<asset>.curve names it (the model's curves: none, its assets are SP500, NASDAQ, WTI); this scenario "
     "is written for model builtin:us-markets-rates"),
    ('model = "builtin:us-markets-rates"\n[[shocks]]\ntype = "anchored_path"\nassets = ["rate_10y"]\nunit = "bp"\n'
     'knots = [[5, 50.0]]\n', "us-markets",
     "shocks[0].assets: role 'rate_10y' maps to asset 'UST_10Y' (the default roles), which the model does not have "
     "(allowed: map it to a model asset with [roles] rate_10y = \"<asset>\", model assets: SP500, NASDAQ, WTI); "
     "this scenario is written for model builtin:us-markets-rates"),
    ('[[shocks]]\ntype = "anchored_path"\nassets = ["equity"]\nknots = [[5, -5.0]]\n[[shocks]]\n'
     'type = "anchored_path"\nassets = ["rate_10y"]\nunit = "level"\nknots = [[6, 2.0]]\n', None,
     "shocks[1] (anchored_path): anchors days 1..6, but an earlier anchored_path anchors days 1..5"),
    ('[[shocks]]\ntype = "anchored_path"\nassets = ["equity"]\nknots = [[5, -5.0]]\n[[shocks]]\n'
     'type = "anchored_path"\nassets = ["SP500"]\nknots = [[5, 2.0]]\n', None,
     "shocks[1] (anchored_path): 'SP500' is already anchored by an earlier anchored_path"),
    ('[[shocks]]\ntype = "anchored_path"\nassets = ["rate_10y"]\nunit = "bp"\nknots = [[5, -5.0]]\n[[shocks]]\n'
     'type = "curve_shift"\ncurve = "UST"\nshape = "parallel_up"\nday = 3\n', None,
     "a curve_shift moves 'UST_10Y' (role 'rate_10y') on day 3, which an anchored_path pins on days 1..5"),
    ('[[targets]]\nmeasure = "median_return_pct"\nasset = "rate_10y"\nvalue = 1.0\ntolerance = 1.0\nsource = "s"\n'
     'why = "w"\n', None, "targets[0]: 'UST_10Y' (role 'rate_10y') is a rate factor (changes in basis points), so "
     "measure 'median_return_pct' (a price measure) does not apply to it (allowed: measure = \"median_change_bp\")"),
    ('[[targets]]\nmeasure = "median_change_bp"\nasset = "equity"\nvalue = 1.0\ntolerance = 1.0\nsource = "s"\n'
     'why = "w"\n', None, "targets[0]: 'SP500' (role 'equity') is a price factor (percent log returns), so measure "
     "\"median_change_bp\""),
    ('[[shocks]]\ntype = "historical_replay"\nwindow = ["2008-01-02", "2008-02-01"]\n', None,
     "shocks[0] (historical_replay): a replay reads its data as prices (percent log returns), but the model's "
     "'UST_3M', 'UST_2Y', 'UST_5Y', 'UST_10Y', 'UST_30Y' move by basis points"),
])
def test_compile_errors_name_the_shock_and_the_asset(body, model, text):
    with pytest.raises(ValueError) as info:
        _compile(body, model=_model(model) if model else None)
    message = str(info.value)
    assert text in message and "\n" not in message and message.startswith("scenario 't': ")


@pytest.mark.parametrize("body, text", [
    ('[[shocks]]\ntype = "curve_shift"\ncurve = "UST"\nshape = "parallel_up"\nsize = 3.0\n',
     "shocks[0].size: is not used by shape 'parallel_up' (it sizes 'parallel') (allowed: shape 'parallel_up' "
     "takes parallel_bp)"),
    ('[[shocks]]\ntype = "curve_shift"\ncurve = "UST"\nshape = "short_up"\nlong_bp = 3.0\n',
     "shocks[0].long_bp: is not used by shape 'short_up'"),
    ('[[shocks]]\ntype = "curve_shift"\ncurve = "UST"\nshape = "parallel"\n',
     'shocks[0].size: shape = "parallel" needs size, the change in basis points at every tenor'),
    ('[[shocks]]\ntype = "curve_shift"\ncurve = "UST"\nshape = "twist"\n',
     'shocks[0].shape: "twist" is not an allowed value (allowed: "parallel_up", "parallel_down", "steepener", '
     '"flattener", "short_up", "short_down", "parallel")'),
    ('[[shocks]]\ntype = "curve_shift"\ncurve = "UST"\nshape = "steepener"\nday = 15\ndays = 10\n',
     "shocks[0].days: the window days 15..24 ends beyond horizon_days = 20"),
    ('[[shocks]]\ntype = "curve_shift"\ncurve = "UST"\nshape = "parallel_up"\nparallel_bp = -200.0\n',
     "shocks[0].parallel_bp: must be greater than 0"),
    ('[[shocks]]\ntype = "anchored_path"\nassets = ["rate_3m"]\nunit = "level"\nreturns = [1.0]\n',
     'shocks[0].unit: unit = "level" takes knots (levels at given days), not daily returns'),
    ('[[shocks]]\ntype = "anchored_path"\nassets = ["equity"]\nknots = [[10, -120.0]]\n',
     "shocks[0].knots[0]: a cumulative price change must be > -100 (percent), got -120.0"),
])
def test_schema_errors_for_rate_shocks(body, text):
    with pytest.raises(UserInputError) as info:
        _scenario(body)
    assert text in str(info.value)


def test_basis_point_knots_may_fall_below_minus_100():
    shock = _scenario('[[shocks]]\ntype = "anchored_path"\nassets = ["rate_3m"]\nunit = "bp"\n'
                      'knots = [[2, -120.0], [4, -430.0]]\n').shocks[0]
    assert shock.daily_changes() == [-60.0, -60.0, -155.0, -155.0]
    with pytest.raises(ValueError, match="daily_log_returns"):
        shock.daily_log_returns()


# ----------------------------------------------------------------------------------------------- targets
def test_median_change_bp_target():
    from simulator.targets import evaluate_targets

    res = _run('[[shocks]]\ntype = "curve_shift"\ncurve = "UST"\nshape = "parallel_up"\nday = 5\n'
               '[[targets]]\nmeasure = "median_change_bp"\nasset = "rate_10y"\nday = 5\nvalue = 200.0\n'
               'tolerance = 1.0\nsource = "s"\nwhy = "w"\n', n_paths=2000)
    sim = res.simulation
    x = sim.returns[:, :5, _col("UST_10Y")].sum(axis=1)
    (row,) = res.targets
    assert row["measure"] == "median_change_bp" and row["model_asset"] == "UST_10Y"
    assert row["simulated"] == pytest.approx(float(np.median(x)), abs=1e-12) and row["within"] is True
    # at the horizon the per-path summaries suffice; before it the daily paths are needed
    summary = type("S", (), {"horizon": 20, "returns": None, "cum_return": sim.cum_return, "asset_names": sim.asset_names})
    t = {"measure": "median_change_bp", "asset": "x", "day": None, "value": 0.0, "tolerance": 1.0, "source": "s",
         "why": "w"}
    (at_h,) = evaluate_targets([t], summary, {"x": _col("UST_10Y")})
    assert at_h["simulated"] == pytest.approx(float(np.median(sim.cum_return[:, _col("UST_10Y")])))
    (before,) = evaluate_targets([{**t, "day": 5}], summary, {"x": _col("UST_10Y")})
    assert before["simulated"] is None and "daily paths" in before["unavailable"]


# ------------------------------------------------------------------------------------- library scenarios
@lru_cache(maxsize=None)
def _library_run(name: str):
    from simulator import run_scenario
    from simulator.results import keep_for_run

    sc = load_scenario(name)
    assert sc.model == RATES_MODEL
    keep = keep_for_run(sc.n_paths, sc.horizon_days, _model().n_assets, requested=sc.outputs.keep)
    return run_scenario(name, keep=keep)  # the scenario's own model, paths and seed


def test_the_rates_scenarios_are_in_the_library_and_need_their_model():
    from simulator.cli.demo import _runnable

    assert set(RATES_SCENARIOS) <= set(list_scenarios())
    us = _model("us-markets")
    run, not_run = _runnable(list_scenarios(), us)
    assert sorted(s["scenario"] for s in not_run) == RATES_SCENARIOS and set(run).isdisjoint(RATES_SCENARIOS)
    for s in not_run:
        assert "this scenario is written for model builtin:us-markets-rates" in s["reason"]
        assert "'UST'" in s["reason"] or "role 'rate_" in s["reason"]


@pytest.mark.parametrize("name", RATES_SCENARIOS)
def test_rates_scenario_targets_at_default_settings(name):
    sc = load_scenario(name)
    res = _library_run(name)
    sim = res.simulation
    assert sim.n_paths == sc.n_paths and sim.returns is not None
    assert any(t.measure == "median_change_bp" for t in sc.targets)
    mapping = resolve_assets(sc, _model())
    for t, row in zip(sc.targets, res.targets, strict=True):
        col, day = mapping[t.asset], t.day or sc.horizon_days
        x = sim.returns[:, :day, col].sum(axis=1)  # recomputed here from the paths
        if t.measure == "median_change_bp":
            mine = float(np.median(x))
        elif t.measure == "median_return_pct":
            mine = float(np.median(100.0 * np.expm1(x / 100.0)))
        else:
            assert t.measure == "peak_median_vol_pct"
            mine = float((np.median(sim.sigma[:, :day, col], axis=0) * math.sqrt(252)).max())
        assert row["simulated"] == pytest.approx(mine, abs=1e-9)
        assert abs(mine - t.value) <= t.tolerance and row["within"] is True, (name, t.asset, day, mine, t.value)
    assert np.isfinite(sim.cum_return).all() and np.abs(sim.cum_return).max() < 1000.0


def test_treasury_curve_2022_replays_the_shipped_data():
    text = (resources.files("simulator") / "data" / "ust-par-yields-2022.csv").read_text(encoding="utf-8")
    levels = pd.read_csv(io.StringIO(text), comment="#", index_col="date")
    assert list(levels.columns) == list(TENORS) and levels.index[0] == "2021-12-31"
    assert levels.index[-1] == "2022-03-11" and len(levels) == 49
    changes = 100.0 * np.diff(levels.to_numpy(float), axis=0)  # basis points, 48 trading days
    sc = load_scenario("treasury-curve-2022")
    assert sc.horizon_days == changes.shape[0]
    roles = {"rate_3m": "UST_3M", "rate_2y": "UST_2Y", "rate_5y": "UST_5Y", "rate_10y": "UST_10Y", "rate_30y": "UST_30Y"}
    anchors = [s for s in sc.shocks if isinstance(s, AnchoredPathShock) and s.assets[0] in roles]
    assert sorted(roles[s.assets[0]] for s in anchors) == sorted(TENORS)
    sim = _library_run("treasury-curve-2022").simulation
    for s in anchors:
        asset = roles[s.assets[0]]
        j = list(TENORS).index(asset)
        assert s.unit == "bp" and s.noise == 0.0
        np.testing.assert_allclose(s.returns, changes[:, j], atol=1e-9)  # the file's path is the data's
        np.testing.assert_allclose(sim.returns[:, :, _col(asset)], np.broadcast_to(changes[:, j], (sim.n_paths, 48)),
                                   atol=1e-9)  # and every path follows it
        first, last = levels[asset].iloc[0], levels[asset].iloc[-1]
        assert f"{first:.2f} % to {last:.2f} %" in sc.source.replace("\n", " "), asset
        target = next(t for t in sc.targets if t.asset == s.assets[0])
        assert target.value == pytest.approx(100.0 * (last - first), abs=1e-9) and target.day == 48
    # the S&P 500 pinned to its month-end closes (S&P Dow Jones Indices), quoted in the source
    closes = {0: 4766.18, 20: 4515.55, 39: 4373.94, 48: 4204.31}
    (equity,) = [s for s in sc.shocks if isinstance(s, AnchoredPathShock) and s.assets == ["equity"]]
    assert equity.unit == "percent" and equity.noise == 0.0
    for close in closes.values():
        assert f"{close:,.2f}" in sc.source
    expected = [(day, 100.0 * (c / closes[0] - 1.0)) for day, c in closes.items() if day]
    assert [k[0] for k in equity.knots] == [d for d, _ in expected]
    np.testing.assert_allclose([k[1] for k in equity.knots], [v for _, v in expected], atol=1e-4)
    cum = 100.0 * np.expm1(np.cumsum(sim.returns[:, :, _col("SP500")], axis=1) / 100.0)
    for day, value in expected:
        np.testing.assert_allclose(cum[:, day - 1], value, atol=1e-4)  # every path closes on the data


def test_severely_adverse_rates_follows_the_fed_paths():
    sc = load_scenario("severely-adverse-rates")
    equity = load_scenario("severely-adverse")
    # the same published equity path and VIX figures as severely-adverse
    assert [(t.measure, t.day, t.value) for t in equity.targets] == \
        [(t.measure, t.day, t.value) for t in sc.targets if t.asset == "equity"]
    fed = {"rate_3m": [1.8, 0.1, 0.1, 0.1], "rate_10y": [1.4, 1.0, 1.0, 1.1]}  # Table 3A, 2025:Q1-Q4
    model = _model()
    sim = _library_run("severely-adverse-rates").simulation
    for role, path in fed.items():
        (shock,) = [s for s in sc.shocks if isinstance(s, AnchoredPathShock) and s.assets == [role]]
        assert shock.unit == "level" and shock.noise == 0.0 and shock.knots == list(zip((63, 126, 189, 252), path))
        asset = {"rate_3m": "UST_3M", "rate_10y": "UST_10Y"}[role]
        level0 = model.factor(asset).level
        cum = np.cumsum(sim.returns[:, :, _col(asset)], axis=1)
        for d, level in zip((63, 126, 189, 252), path):
            np.testing.assert_allclose(level0 + cum[:, d - 1] / 100.0, level, atol=1e-9)  # the Fed's level
            (t,) = [t for t in sc.targets if t.asset == role and t.day == d]
            assert t.value == pytest.approx(100.0 * (level - level0), abs=1e-9)
        assert ", ".join(f"{v:.1f}" for v in path) in sc.source.replace("\n", " ")
