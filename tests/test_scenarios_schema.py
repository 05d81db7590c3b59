"""Scenario schema, loader, roles, the built-in library and ``stress-sim scenarios``.

Library magnitudes are checked against the bundled real data (``arch.data``) for replayed windows
(the replay windows must reproduce the documented moves); the shock-built scenarios' magnitudes are
their [[targets]], held in tests/test_library_magnitudes.py.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from scenarios.loader import (LIBRARY_DIR, library_path, list_scenarios, load_scenario, parse_scenario,
                              scenario_from_dict, scenario_text)
from simulator.roles import DEFAULT_ROLES, LIBRARY_ROLES, asset_indices, effective_roles, resolve_assets
from scenarios.spec import (BUILTIN_DATA, MAX_HORIZON_DAYS, POISSON_LAW_PARAMS, SHOCK_TYPES,
                              AnchoredPathShock, HistoricalReplayShock, JumpShock, PoissonJumpsShock,
                              RegimeSwitchShock, Scenario, VolSpikeShock)
from simulator.exceptions import UserInputError

MODEL_ASSETS = ["SP500", "NASDAQ", "WTI"]
EPISODES = [
    "baseline", "black-monday-1987", "ltcm-russia-1998", "dotcom-2000-2002", "gfc-2008", "flash-crash-2010",
    "us-downgrade-2011", "china-deval-2015", "volmageddon-2018", "covid-2020", "rates-shock-2022", "svb-2023",
    "severely-adverse",
]
#: Episodes whose window lies inside the bundled data: they must replay it.
REPLAYED = ["dotcom-2000-2002", "gfc-2008", "gfc-2007-2009", "flash-crash-2010", "us-downgrade-2011",
            "china-deval-2015", "volmageddon-2018"]
#: Episodes outside the bundled data (1987, 1998, 2020, 2022, 2023, hypothetical): built from shocks.
SYNTHETIC = ["black-monday-1987", "ltcm-russia-1998", "covid-2020", "rates-shock-2022", "svb-2023",
             "severely-adverse"]
#: Scenarios written for the model with the Treasury curve (they declare it; rate roles and curve_shift).
RATES_MODEL = "builtin:us-markets-rates"
RATES_SCENARIOS = ["treasury-curve-2022", "parallel-up-200", "severely-adverse-rates"]
VIX_LONG_RUN_MEAN = 19.5  # the library's (documented) normalisation of VIX levels into long-run vol multipliers

HEAD = """
name = "unit-test"
description = "test"
source = "test"
horizon_days = 100
n_paths = 10
seed = 1
"""


def _parse(extra: str = "", **kw) -> Scenario:
    return parse_scenario(HEAD + extra, source="t.toml", **kw)


def _error(extra: str) -> str:
    with pytest.raises(UserInputError) as info:
        _parse(extra)
    return str(info.value)


def _nyse_days(start: str, end: str, holidays: list[str]) -> int:
    """Trading days after ``start`` up to and including ``end`` (weekdays minus NYSE holidays)."""
    return int(np.busday_count(np.datetime64(start) + 1, np.datetime64(end) + 1, holidays=holidays))


@pytest.fixture(scope="module")
def us_markets():
    """Daily percent log returns of the bundled S&P 500 and NASDAQ closes (arch.data)."""
    import arch.data.nasdaq
    import arch.data.sp500

    out = {}
    for key, mod in (("equity", arch.data.sp500), ("tech_equity", arch.data.nasdaq)):
        close = mod.load()["Adj Close"]
        out[key] = 100.0 * np.log(close).diff().dropna()
    return out


# ------------------------------------------------------------------------------------------ library
def test_every_listed_episode_exists():
    names = list_scenarios()
    missing = [e for e in EPISODES if e not in names]
    assert not missing
    assert len(names) >= 13
    assert set(REPLAYED + SYNTHETIC) <= set(names)


@pytest.mark.parametrize("name", list_scenarios())
def test_library_scenario_loads_and_is_documented(name):
    s = load_scenario(name)
    assert s.name == name == library_path(name).stem
    assert s.path == (LIBRARY_DIR / f"{name}.toml").resolve()
    assert s.description.strip() and s.source.strip() and s.notes and s.notes.strip()
    assert 1 <= s.n_paths <= 10_000 and 1 <= s.horizon_days <= 756
    if name != "baseline":
        assert s.shocks  # sources cite primary public sources (tests/test_package_self_contained.py)
    # roles only, never model asset names, so the file applies to any model
    names = {n for n, _ in s.asset_references()}
    assert names <= set(LIBRARY_ROLES), names - set(LIBRARY_ROLES)
    assert not s.roles
    # the library runs on the three price assets, except the rates scenarios, which say which model they need
    assert s.model == (RATES_MODEL if name in RATES_SCENARIOS else None)
    if name in RATES_SCENARIOS:
        from simulator.builtin import load_builtin_model

        assets = load_builtin_model(RATES_MODEL.split(":", 1)[1]).assets
        mapping = resolve_assets(s, assets)
        assert set(mapping) == names
    else:
        mapping = resolve_assets(s, MODEL_ASSETS)
        assert set(mapping) == names and set(mapping.values()) <= {0, 1, 2}
    # outputs stay within the horizon; labels present and unique
    assert max(s.outputs.horizons) <= s.horizon_days
    labels = [sh.label for sh in s.shocks]
    assert None not in labels and len(set(labels)) == len(labels)
    # the JSON view round-trips exactly
    again = Scenario.model_validate(json.loads(json.dumps(s.model_dump(mode="json"))))
    assert again.model_dump() == s.model_dump()


def test_library_resolves_against_the_bundled_model():
    from simulator.builtin import load_builtin_model

    model = load_builtin_model("us-markets")
    for name in list_scenarios():
        if name in RATES_SCENARIOS:  # their rate roles have no asset in us-markets: an error naming the role
            with pytest.raises(UserInputError, match="role 'rate_"):
                resolve_assets(load_scenario(name), model)
            continue
        mapping = resolve_assets(load_scenario(name), model)
        assert {model.assets[i] for i in mapping.values()} <= set(DEFAULT_ROLES.values())


def test_library_uses_every_shock_type_and_law():
    shocks = [sh for n in list_scenarios() for sh in load_scenario(n).shocks]
    assert {sh.type for sh in shocks} == set(SHOCK_TYPES)
    laws = {sh.law for sh in shocks if isinstance(sh, PoissonJumpsShock)}
    assert laws == set(POISSON_LAW_PARAMS)


def _episode_window(name: str) -> list:
    """[first, last] date replayed by a library scenario (its replays tile one window)."""
    replays = sorted((sh for sh in load_scenario(name).shocks if isinstance(sh, HistoricalReplayShock)),
                     key=lambda sh: sh.day)
    return [replays[0].window[0], replays[-1].window[1]]


@pytest.mark.parametrize("name", REPLAYED)
def test_in_data_episodes_replay_their_window(name, us_markets):
    s = load_scenario(name)
    replays = sorted((sh for sh in s.shocks if isinstance(sh, HistoricalReplayShock)), key=lambda sh: sh.day)
    assert replays and len(replays) == len(s.shocks)  # replay only: nothing else moves the paths
    lo, hi = BUILTIN_DATA["us-markets"]
    dates = us_markets["equity"].index
    # the replays tile one episode window: consecutive trading days, one data day per simulated day,
    # from day 1 to the horizon (bootstrap phases last their window's length: no `days` override)
    day = 1
    for k, rp in enumerate(replays):
        assert rp.data == "builtin:us-markets" and lo <= rp.window[0] <= rp.window[1] <= hi
        assert rp.day == day, f"replay {k} starts on day {rp.day}, expected {day}"
        assert rp.days is None
        n = len(us_markets["equity"][str(rp.window[0]):str(rp.window[1])])
        if k > 0:  # no trading day between consecutive windows
            prev_end = np.datetime64(replays[k - 1].window[1])
            assert not ((dates > prev_end) & (dates < np.datetime64(rp.window[0]))).any()
        day += n
    assert day - 1 == s.horizon_days
    # every scenario has dispersion (a bootstrap phase) and keeps the crisis order (a sequence phase)
    assert {rp.mode for rp in replays} == {"bootstrap", "sequence"}
    assert replays[0].mode == "bootstrap" and replays[-1].mode == "sequence"
    # the notes state the FHS property: magnitudes in the model's current volatility regime
    assert "current* conditional" in s.notes and "history shows" in s.notes


@pytest.mark.parametrize("name", SYNTHETIC)
def test_out_of_data_episodes_do_not_replay(name):
    s = load_scenario(name)
    assert not any(isinstance(sh, HistoricalReplayShock) for sh in s.shocks)


@pytest.mark.parametrize("name, move", [
    ("dotcom-2000-2002", -49.1),      # REFERENCES: S&P 500 -49.1 %, 24 Mar 2000 - 9 Oct 2002
    ("gfc-2007-2009", -56.8),         # REFERENCES: -56.8 %, 9 Oct 2007 - 9 Mar 2009
    ("us-downgrade-2011", -19.4),     # REFERENCES: -19.4 %, May - 3 Oct 2011
])
def test_replay_windows_reproduce_documented_drawdowns(name, move, us_markets):
    w = _episode_window(name)
    r = us_markets["equity"][str(w[0]):str(w[1])]
    simple = 100.0 * math.expm1(r.sum() / 100.0)
    assert simple == pytest.approx(move, abs=0.05)  # the reference is rounded to 0.1 pp


def test_replay_windows_contain_the_documented_days(us_markets):
    # China 2015: -3.9 % on 24 Aug (day 65 of the replay), -11 % from the May high
    w = _episode_window("china-deval-2015")
    r = us_markets["equity"][str(w[0]):str(w[1])]
    assert r.index[64].date().isoformat() == "2015-08-24"
    assert 100 * math.expm1(r.iloc[64] / 100) == pytest.approx(-3.9, abs=0.05)
    assert 100 * math.expm1(r.iloc[:65].sum() / 100) == pytest.approx(-11.0, abs=0.5)
    # Volmageddon: about -4 % on 5 Feb 2018 (day 6)
    w = _episode_window("volmageddon-2018")
    r = us_markets["equity"][str(w[0]):str(w[1])]
    assert r.index[5].date().isoformat() == "2018-02-05"
    assert 100 * math.expm1(r.iloc[5] / 100) == pytest.approx(-4.0, abs=0.2)
    # dot-com: NASDAQ about -78 %
    w = _episode_window("dotcom-2000-2002")
    t = us_markets["tech_equity"][str(w[0]):str(w[1])]
    assert 100 * math.expm1(t.sum() / 100) == pytest.approx(-78.0, abs=1.0)


def test_black_monday_is_anchored_to_the_documented_closes():
    s = load_scenario("black-monday-1987")
    holidays = ["1987-09-07", "1987-11-26"]  # Labor Day, Thanksgiving
    days = [_nyse_days("1987-08-25", d, holidays) for d in ("1987-10-13", "1987-10-16", "1987-10-19", "1987-12-04")]
    assert days == [34, 37, 38, 71] and s.horizon_days == days[-1]
    anchor = next(sh for sh in s.shocks if isinstance(sh, AnchoredPathShock))
    assert anchor.assets == ["equity"] and [d for d, _ in anchor.knots] == days
    assert not any(isinstance(sh, JumpShock) for sh in s.shocks)  # the crash is the anchored 19 Oct
    # the crash day's anchored move is the -20.47 % of 19 Oct (knots are median-calibrated, see the file)
    k = dict(anchor.knots)
    assert 100 * ((1 + k[38] / 100) / (1 + k[37] / 100) - 1) == pytest.approx(-20.47, abs=0.1)
    targets = {(t.measure, t.day): t.value for t in s.targets}
    assert targets[("median_return_pct", 38)] == pytest.approx(100 * (224.84 / 336.77 - 1), abs=0.005)
    assert targets[("median_return_pct", 71)] == pytest.approx(100 * (223.92 / 336.77 - 1), abs=0.005)


def test_covid_and_supervisory_magnitudes():
    s = load_scenario("covid-2020")
    anchor = next(sh for sh in s.shocks if isinstance(sh, AnchoredPathShock))
    trough = _nyse_days("2020-02-19", "2020-03-23", [])
    assert [d for d, _ in anchor.knots] == [trough]
    assert s.horizon_days == _nyse_days("2020-02-19", "2020-04-20", ["2020-04-10"])  # to the oil collapse
    assert any(isinstance(sh, JumpShock) and sh.assets == ["oil"] for sh in s.shocks)
    assert any(isinstance(sh, PoissonJumpsShock) and "oil" in sh.loadings for sh in s.shocks)
    # the VIX peak's spike starts on its day (16 Mar) and does not feed the variance recursion;
    # its level is a [[targets]] entry, held in tests/test_library_magnitudes.py
    spikes = [sh for sh in s.shocks if isinstance(sh, VolSpikeShock)]
    vix_day = _nyse_days("2020-02-19", "2020-03-16", [])
    assert [(sh.day, sh.feedback) for sh in spikes] == [(vix_day, False)]
    targets = {(t.measure, t.day): t.value for t in s.targets}
    assert targets[("median_return_pct", trough)] == pytest.approx(100 * (2237.40 / 3386.15 - 1), abs=0.005)
    assert targets[("median_vol_pct", vix_day)] == 82.69

    s = load_scenario("severely-adverse")
    anchor = next(sh for sh in s.shocks if isinstance(sh, AnchoredPathShock))
    # Fed 2025 severely adverse, Table 3A: quarter-end equity levels over four quarters, -50 % at the trough
    assert anchor.assets == ["equity"] and [d for d, _ in anchor.knots] == [63, 126, 189, 252] == \
        sorted(t.day for t in s.targets if t.measure == "median_return_pct")
    assert s.horizon_days == 252
    levels = [34508.6, 30792.3, 29730.5, 29199.6]
    got = [t.value for t in sorted((t for t in s.targets if t.measure == "median_return_pct"), key=lambda t: t.day)]
    assert got == pytest.approx([100 * (x / 58399.3 - 1) for x in levels], abs=0.005)
    assert {t.value for t in s.targets if t.measure == "peak_median_vol_pct"} == {60.0, 65.0}
    spikes = [sh for sh in s.shocks if isinstance(sh, VolSpikeShock)]
    assert [sh.day for sh in spikes] == [1, 64] and not any(sh.feedback for sh in spikes)
    assert any(sh.type == "correlation_break" for sh in s.shocks)

    s = load_scenario("rates-shock-2022")
    anchor = next(sh for sh in s.shocks if isinstance(sh, AnchoredPathShock))
    holidays = ["2022-01-17", "2022-02-21", "2022-04-15", "2022-05-30", "2022-06-20", "2022-07-04", "2022-09-05"]
    day = _nyse_days("2022-01-03", "2022-10-12", holidays)
    assert [d for d, _ in anchor.knots] == [day]
    assert [(t.day, t.value) for t in s.targets] == [(day, pytest.approx(100 * (3577.03 / 4796.56 - 1), abs=0.005))]
    regime = next(sh for sh in s.shocks if isinstance(sh, RegimeSwitchShock))
    assert regime.stress.vol_multiplier == pytest.approx(34 / VIX_LONG_RUN_MEAN, abs=0.01)


# ------------------------------------------------------------------------------------------- schema
def test_minimal_scenario_defaults():
    s = _parse()
    assert s.shocks == [] and s.portfolio is None and s.roles == {} and s.model is None and s.notes is None
    assert s.outputs.keep == "summary" and s.outputs.var_levels == [0.975, 0.99] and s.outputs.horizons == [1, 10]
    assert s.path is None


def test_shock_defaults():
    s = _parse("""
[[shocks]]
type = "jump"
day = 5
assets = "all"
size = 2
unit = "sigma"
[[shocks]]
type = "vol_spike"
day = 1
days = 3
multiplier = 2
[[shocks]]
type = "correlation_break"
day = 1
days = 3
rho = 0.9
[[shocks]]
type = "regime_switch"
p_enter = 0.1
p_exit = 0.3
stress_model = "builtin:stressed"
[[shocks]]
type = "historical_replay"
window = ["2008-09-02", 2009-03-09]
[[shocks]]
type = "poisson_jumps"
intensity = 2
law = "pareto"
scale = 5
alpha = 3
loadings = { equity = 1 }
[[shocks]]
type = "anchored_path"
assets = ["oil"]
returns = [-1.0, 2.0, -3.5]
[[shocks]]
type = "curve_shift"
curve = "UST"
shape = "steepener"
""")
    jump, vol, corr, regime, replay, poisson, anchor, shift = s.shocks
    assert jump.probability == 1.0 and jump.size == 2.0 and isinstance(jump.size, float) and jump.sizes() == [2.0]
    assert vol.assets == "all" and vol.feedback is False and vol.half_life is None and vol.multipliers() == [2.0] * 3
    assert corr.assets == "all" and corr.nu is None
    assert regime.start == "calm" and regime.stress is None
    assert regime.stationary_stress_probability() == pytest.approx(0.25)
    assert replay.day == 1 and replay.data == "builtin:us-markets"
    assert replay.mode == "sequence" and replay.days is None and replay.last_day(100) == 100
    assert [d.isoformat() for d in replay.window] == ["2008-09-02", "2009-03-09"]
    assert poisson.from_day == 1 and poisson.to_day is None and poisson.end_day(100) == 100
    assert poisson.jump_sign == -1 and poisson.daily_intensity() == pytest.approx(2 / 252)
    assert anchor.noise == 0.0 and anchor.n_days == 3 and anchor.daily_log_returns() == [-1.0, 2.0, -3.5]
    assert anchor.unit == "percent" and anchor.daily_changes() == [-1.0, 2.0, -3.5]
    assert shift.day == 1 and shift.days == 1 and shift.size is None and shift.last_day(100) == 1
    assert shift.parallel_bp is shift.short_bp is shift.long_bp is None and shift.daily_fractions() == [1.0]
    assert s.shock_types() == list(SHOCK_TYPES)


def test_vol_spike_half_life_decay_closed_form():
    s = _parse('[[shocks]]\ntype = "vol_spike"\nday = 10\ndays = 21\nmultiplier = 5.0\nhalf_life = 4.0\n')
    m = np.array(s.shocks[0].multipliers())
    t = np.arange(21)
    np.testing.assert_allclose(m, 1 + 4.0 * 0.5 ** (t / 4.0), rtol=1e-15)
    assert m[0] == 5.0 and m[4] == pytest.approx(3.0) and m[8] == pytest.approx(2.0)
    assert s.shocks[0].last_day(100) == 30


def test_anchored_knots_interpolate_linearly_in_log_price():
    s = _parse('[[shocks]]\ntype = "anchored_path"\nassets = ["equity"]\nknots = [[10, -20], [30, 10.0]]\n')
    r = np.array(s.shocks[0].daily_log_returns())
    assert r.shape == (30,)
    cum = np.cumsum(r)
    assert cum[9] == pytest.approx(100 * math.log(0.8))
    assert cum[29] == pytest.approx(100 * math.log(1.1))
    assert np.all(r[:10] == r[0]) and np.all(r[10:] == r[10])  # constant log steps between knots
    assert cum[19] == pytest.approx((100 * math.log(0.8) + 100 * math.log(1.1)) / 2)


def test_replay_modes_and_days():
    s = _parse('[[shocks]]\ntype = "historical_replay"\nwindow = [2008-09-02, 2008-10-02]\nmode = "bootstrap"\n'
               '[[shocks]]\ntype = "historical_replay"\nday = 41\nwindow = [2008-09-02, 2008-10-02]\n'
               'mode = "bootstrap"\ndays = 60\n')
    a, b = s.shocks
    assert (a.mode, a.days, a.last_day(100)) == ("bootstrap", None, 100)  # window length known with the data
    assert (b.mode, b.days, b.last_day(100)) == ("bootstrap", 60, 100)
    assert "shocks[0].days: days is only used with mode = \"bootstrap\"" in _error(
        '[[shocks]]\ntype = "historical_replay"\nwindow = [2008-09-02, 2008-10-02]\ndays = 5\n')
    assert "shocks[0].days: days is only used" in _error(
        '[[shocks]]\ntype = "historical_replay"\nwindow = [2008-09-02, 2008-10-02]\nmode = "sequence"\ndays = 5\n')
    assert "shocks[0].days: the bootstrap replay of days 41..101 ends beyond horizon_days = 100" in _error(
        '[[shocks]]\ntype = "historical_replay"\nday = 41\nwindow = [2008-09-02, 2008-10-02]\n'
        'mode = "bootstrap"\ndays = 61\n')
    assert "shocks[0].days: must be greater than or equal to 1" in _error(
        '[[shocks]]\ntype = "historical_replay"\nwindow = [2008-09-02, 2008-10-02]\nmode = "bootstrap"\ndays = 0\n')
    msg = _error('[[shocks]]\ntype = "historical_replay"\nwindow = [2008-09-02, 2008-10-02]\nmode = "random"\n')
    assert "shocks[0].mode:" in msg and '"sequence"' in msg and '"bootstrap"' in msg


def test_types_are_strict():
    # an integer where a number is expected is fine; a boolean or a string is not
    assert _parse('[[shocks]]\ntype = "vol_spike"\nday = 1\ndays = 2\nmultiplier = 3\n').shocks[0].multiplier == 3.0
    assert "expected a number, got boolean true" in _error(
        '[[shocks]]\ntype = "vol_spike"\nday = 1\ndays = 2\nmultiplier = true\n')
    assert "shocks[0].day: expected an integer, got float 1.0" in _error(
        '[[shocks]]\ntype = "vol_spike"\nday = 1.0\ndays = 2\nmultiplier = 3\n')
    assert "shocks[0].window[1]: end must be a date without a time" in _error(
        '[[shocks]]\ntype = "historical_replay"\nwindow = [2008-09-02, 2009-03-09T10:00:00]\n')
    assert "shocks[0].size[1]: must be a finite number" in _error(
        '[[shocks]]\ntype = "jump"\nday = 1\nassets = ["a", "b"]\nsize = [1.0, nan]\nunit = "sigma"\n')
    assert "shocks[0].knots[0]: must be a [day, percent] pair" in _error(
        '[[shocks]]\ntype = "anchored_path"\nassets = ["a"]\nknots = [[1, 2, 3]]\n')


def test_error_message_names_file_key_path_and_allowed_values():
    spike = '[[shocks]]\ntype = "vol_spike"\nday = 1\ndays = 2\nmultiplier = {}\n'
    msg = _error(spike.format(2) + spike.format(3) + spike.format(-0.5))
    assert msg == "t.toml: shocks[2].multiplier: must be greater than 0, got -0.5 (allowed: a number > 0 and <= 100)"


def test_several_errors_one_line_each():
    msg = _error('[outputs]\nkeep = "all"\n[[shocks]]\ntype = "jump"\n')
    lines = msg.splitlines()
    assert all(line.startswith("t.toml: ") and "(allowed: " in line for line in lines)
    joined = "\n".join(lines)
    assert "outputs.keep:" in joined and "shocks[0].day: required key is missing" in joined
    assert "shocks[0].unit: required key is missing (allowed: \"percent\", \"sigma\", \"bp\")" in joined


def test_cross_field_rules():
    assert "shocks[0].size: a list of sizes needs an explicit assets list" in _error(
        '[[shocks]]\ntype = "jump"\nday = 1\nassets = "all"\nsize = [1.0, 2.0]\nunit = "sigma"\n')
    assert "shocks[0].start: the stationary law is undefined" in _error(
        '[[shocks]]\ntype = "regime_switch"\np_enter = 0.0\np_exit = 0.0\nstart = "stationary"\n'
        '[shocks.stress]\nvol_multiplier = 2.0\n')
    assert "shocks[0].p_enter: with start = 'calm' and p_enter = 0" in _error(
        '[[shocks]]\ntype = "regime_switch"\np_enter = 0.0\np_exit = 0.1\n[shocks.stress]\nvol_multiplier = 2.0\n')
    assert "shocks[0].to_day: 3 is before from_day 5" in _error(
        '[[shocks]]\ntype = "poisson_jumps"\nintensity = 1.0\nlaw = "normal"\nmean = 0.0\nsd = 1.0\n'
        'loadings = { equity = 1.0 }\nfrom_day = 5\nto_day = 3\n')
    assert "shocks[0].loadings: every loading is 0" in _error(
        '[[shocks]]\ntype = "poisson_jumps"\nintensity = 1.0\nlaw = "normal"\nmean = 0.0\nsd = 1.0\n'
        'loadings = { equity = 0.0 }\n')
    anchored = '[[shocks]]\ntype = "anchored_path"\nassets = {}\nknots = [[50, -10.0]]\n'
    assert "shocks[1].assets: 'all' is already anchored by shocks[0]" in _error(
        anchored.format('["equity"]') + anchored.format('"all"'))
    assert "shocks[1].loadings.equity: 'equity' follows the anchored path of shocks[0]" in _error(
        anchored.format('["equity"]') + '[[shocks]]\ntype = "poisson_jumps"\nintensity = 1.0\nlaw = "normal"\n'
        'mean = 0.0\nsd = 1.0\nloadings = { equity = 1.0 }\n')
    # allowed: Poisson jumps after the anchor ends, a jump after the anchor, jumps on other assets
    _parse(anchored.format('["equity"]') + '[[shocks]]\ntype = "poisson_jumps"\nintensity = 1.0\nlaw = "normal"\n'
           'mean = 0.0\nsd = 1.0\nloadings = { equity = 1.0 }\nfrom_day = 51\n'
           '[[shocks]]\ntype = "jump"\nday = 51\nassets = ["equity"]\nsize = -5.0\nunit = "percent"\n'
           '[[shocks]]\ntype = "jump"\nday = 20\nassets = ["oil"]\nsize = -5.0\nunit = "percent"\n')
    assert "shocks[0].returns: 101 daily returns but horizon_days = 100" in _error(
        '[[shocks]]\ntype = "anchored_path"\nassets = ["a"]\nreturns = [' + ", ".join(["0.1"] * 101) + "]\n")
    assert "shocks[0].day: day 101 is beyond horizon_days = 100" in _error(
        '[[shocks]]\ntype = "historical_replay"\nday = 101\nwindow = [2008-09-02, 2008-10-02]\n')
    assert "shocks[0].window: 2008-09-06..2008-09-07 contains no trading day" in _error(
        '[[shocks]]\ntype = "historical_replay"\nwindow = [2008-09-06, 2008-09-07]\n')
    assert "shocks[0].from_day: day 200 is beyond" in _error(
        '[[shocks]]\ntype = "poisson_jumps"\nintensity = 1.0\nlaw = "normal"\nmean = 0.0\nsd = 1.0\n'
        'loadings = { equity = 1.0 }\nfrom_day = 200\n')
    assert "outputs.horizons: duplicate value(s) 10" in _error('[outputs]\nhorizons = [1, 10, 10]\n')
    assert "outputs.horizons: the list is empty" in _error('[outputs]\nhorizons = []\n')
    long = HEAD.replace("horizon_days = 100", f"horizon_days = {MAX_HORIZON_DAYS}")
    assert parse_scenario(long).horizon_days == MAX_HORIZON_DAYS


def test_scenario_from_dict_and_programmatic_validation():
    data = {"name": "x", "description": "d", "source": "s", "horizon_days": 5, "n_paths": 1, "seed": 0,
            "shocks": [{"type": "jump", "day": 6, "assets": ["equity"], "size": 1.0, "unit": "sigma"}]}
    with pytest.raises(UserInputError, match=r"^dict: shocks\[0\]\.day: day 6 is beyond horizon_days = 5"):
        scenario_from_dict(data, source="dict")
    data["shocks"][0]["day"] = 5
    s = scenario_from_dict(data)
    assert s.shocks[0].day == 5
    assert s.outputs.horizons == [1]  # the default [1, 10] is clipped to a 5-day horizon
    data["outputs"] = {"horizons": [1, 10]}  # an explicit one is not
    with pytest.raises(UserInputError, match=r"outputs\.horizons\[1\]: 10 days is beyond horizon_days = 5"):
        scenario_from_dict(data)
    with pytest.raises(TypeError):
        parse_scenario(b"name = 'x'")


# ------------------------------------------------------------------------------------------- loader
def test_load_by_name_and_by_path(tmp_path):
    by_name = load_scenario("gfc-2008")
    by_path = load_scenario(LIBRARY_DIR / "gfc-2008.toml")
    by_str = load_scenario(str(LIBRARY_DIR / "gfc-2008.toml"))
    assert by_name == by_path == by_str
    assert load_scenario(by_name) is by_name
    assert by_name.sha256() == by_path.sha256() == Scenario.model_validate(by_name.model_dump()).sha256()
    assert by_name.sha256() != by_name.model_copy(update={"seed": by_name.seed + 1}).sha256()
    assert scenario_text("gfc-2008") == (LIBRARY_DIR / "gfc-2008.toml").read_text()
    with pytest.raises(UserInputError, match=r"unknown scenario 'gfc-2009'.*library: baseline, "):
        load_scenario("gfc-2009")
    with pytest.raises(UserInputError, match="scenario file not found"):
        load_scenario(tmp_path / "nope.toml")
    with pytest.raises(UserInputError, match="is a directory"):
        load_scenario(tmp_path)
    bad = tmp_path / "latin1.toml"
    bad.write_bytes("name = 'caf\xe9'\n".encode("latin-1"))
    with pytest.raises(UserInputError, match="not UTF-8"):
        load_scenario(bad)
    with pytest.raises(TypeError):
        load_scenario(42)


def test_relative_references_resolve_against_the_file(tmp_path):
    (tmp_path / "sub").mkdir()
    f = tmp_path / "sub" / "s.toml"
    f.write_text(HEAD + 'model = "models/m.json"\n[[shocks]]\ntype = "regime_switch"\np_enter = 0.1\n'
                 'p_exit = 0.1\nstress_model = "builtin:stressed"\n')
    s = load_scenario(f)
    assert s.resolve_ref(s.model) == tmp_path / "sub" / "models" / "m.json"
    assert s.resolve_ref(s.shocks[0].stress_model) == "builtin:stressed"
    assert _parse().resolve_ref("m.json") == Path("m.json")


# -------------------------------------------------------------------------------------------- roles
ROLE_TEXT = """
[portfolio]
positions = { equity = 1.0, WTI = -2.0 }
[[shocks]]
type = "jump"
day = 1
assets = ["tech_equity", "equity"]
size = -5
unit = "percent"
[[shocks]]
type = "poisson_jumps"
intensity = 1.0
law = "normal"
mean = -1.0
sd = 1.0
loadings = { oil = 1.0 }
"""


def test_resolve_default_roles_and_asset_names():
    s = _parse(ROLE_TEXT)
    assert DEFAULT_ROLES == {"equity": "SP500", "tech_equity": "NASDAQ", "oil": "WTI", "rate_3m": "UST_3M",
                             "rate_2y": "UST_2Y", "rate_5y": "UST_5Y", "rate_10y": "UST_10Y", "rate_30y": "UST_30Y"}
    assert resolve_assets(s, MODEL_ASSETS) == {"tech_equity": 1, "equity": 0, "oil": 2, "WTI": 2}
    assert asset_indices(s.shocks[0].assets, resolve_assets(s, MODEL_ASSETS), 3) == [1, 0]
    assert asset_indices("all", {}, 3) == [0, 1, 2]

    class Model:  # anything with .assets (a MarketModel) works too
        assets = ("NASDAQ", "WTI", "SP500")

    assert resolve_assets(s, Model()) == {"tech_equity": 0, "equity": 2, "oil": 1, "WTI": 1}


def test_roles_overrides():
    s = _parse('roles = { equity = "EUROSTOXX" }\n' + ROLE_TEXT)
    assets = ["EUROSTOXX", "NASDAQ", "WTI", "SP500"]
    assert resolve_assets(s, assets)["equity"] == 0
    assert effective_roles(s, {"oil": "BRENT"})["oil"] == "BRENT"
    assert resolve_assets(s, assets + ["BRENT"], roles={"oil": "BRENT", "equity": "SP500"})["oil"] == 4
    assert resolve_assets(s, assets + ["BRENT"], roles={"oil": "BRENT", "equity": "SP500"})["equity"] == 3


def test_role_errors_name_key_and_valid_names(tmp_path):
    s = _parse(ROLE_TEXT)
    with pytest.raises(UserInputError) as info:
        resolve_assets(s, ["SP500", "NASDAQ"])
    assert str(info.value) == (
        "scenario 'unit-test': shocks[1].loadings.oil: role 'oil' maps to asset 'WTI' (the default roles), which "
        "the model does not have (allowed: map it to a model asset with [roles] oil = \"<asset>\", "
        "model assets: SP500, NASDAQ)")
    f = tmp_path / "gold.toml"
    f.write_text(HEAD + '[[shocks]]\ntype = "jump"\nday = 1\nassets = ["equity", "gold"]\nsize = -5\nunit = "percent"\n')
    with pytest.raises(UserInputError) as info:
        resolve_assets(load_scenario(f), MODEL_ASSETS)
    assert str(info.value) == (f"{f.resolve()}: shocks[0].assets: unknown asset or role 'gold' (allowed: roles "
                               "equity, oil, tech_equity or model assets SP500, NASDAQ, WTI)")
    alias = _parse('[[shocks]]\ntype = "jump"\nday = 1\nassets = ["equity", "SP500"]\nsize = -5\nunit = "percent"\n')
    with pytest.raises(UserInputError, match=r"shocks\[0\]\.assets: 'equity' and 'SP500' both resolve to model asset 'SP500'"):
        resolve_assets(alias, MODEL_ASSETS)
    with pytest.raises(UserInputError, match=r"portfolio\.positions: 'equity' and 'SP500' both resolve"):
        resolve_assets(_parse('[portfolio]\npositions = { equity = 1.0, SP500 = 2.0 }\n'), MODEL_ASSETS)
    with pytest.raises(TypeError):
        resolve_assets(s, "SP500")
    with pytest.raises(ValueError, match="missing must be"):
        resolve_assets(s, MODEL_ASSETS, missing="drop")


def test_missing_roles_can_be_ignored():
    s = _parse(ROLE_TEXT.replace("WTI = -2.0", "NASDAQ = -2.0").replace('"tech_equity", ', ""))
    with pytest.warns(UserWarning, match=r"no asset for role\(s\) 'oil' \(-> 'WTI', used at shocks\[1\]\.loadings\.oil\)"):
        mapping = resolve_assets(s, ["SP500", "NASDAQ"], missing="ignore")
    assert mapping == {"equity": 0, "NASDAQ": 1}
    assert asset_indices(["oil", "equity"], mapping, 2, skip_missing=True) == [0]
    with pytest.raises(KeyError, match="resolve_assets"):
        asset_indices(["oil"], mapping, 2)
    # unknown names stay errors
    with pytest.raises(UserInputError, match="unknown asset or role 'gold'"):
        resolve_assets(_parse('[portfolio]\npositions = { gold = 1.0 }\n'), ["SP500"], missing="ignore")


# ---------------------------------------------------------------------------------------------- CLI
@pytest.fixture
def cli_main():
    """``simulator.cli.main``, as the ``stress-sim`` script calls it."""
    import simulator.cli as cli

    return cli.main


def test_cli_list(cli_main, capsys):
    assert cli_main(["scenarios", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["NAME", "DAYS", "SHOCKS", "DESCRIPTION"]
    assert [line.split()[0] for line in out[1:]] == list_scenarios()
    assert cli_main(["scenarios", "list", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    gfc = next(r for r in rows if r["name"] == "gfc-2008")
    assert gfc["shocks"] == ["historical_replay"] and gfc["horizon_days"] == 130


def test_cli_show(cli_main, capsys, tmp_path):
    assert cli_main(["scenarios", "show", "covid-2020"]) == 0
    assert capsys.readouterr().out == scenario_text("covid-2020")
    assert cli_main(["scenarios", "show", "covid-2020", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert Scenario.model_validate(data).model_dump() == load_scenario("covid-2020").model_dump()
    f = tmp_path / "mine.toml"
    f.write_text(HEAD)
    assert cli_main(["scenarios", "show", str(f)]) == 0
    assert capsys.readouterr().out == HEAD
    assert cli_main(["scenarios", "show", "no-such-scenario"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("stress-sim: error: unknown scenario 'no-such-scenario'") and "covid-2020" in err
