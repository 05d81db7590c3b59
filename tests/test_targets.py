"""simulator.targets: each measure on constructed paths with known answers, and the replay history checks
against the bundled closes."""
from __future__ import annotations

import math

import numpy as np
import pytest

from simulator.engine import SimulationResult
from simulator.targets import evaluate_targets, history_checks, median_se


def _sim(returns: np.ndarray, sigma: np.ndarray | None = None) -> SimulationResult:
    n, h, a = returns.shape
    cum = returns.sum(axis=1)
    lvl = np.concatenate([np.zeros((n, 1, a)), np.cumsum(returns, axis=1)], axis=1)
    dd = 1.0 - np.exp((lvl - np.maximum.accumulate(lvl, axis=1)).min(axis=1) / 100.0)
    return SimulationResult(asset_names=tuple(f"A{i}" for i in range(a)), n_paths=n, horizon=h, keep="paths",
                            cum_return=cum, max_drawdown=dd, stressed_days=np.zeros(n), returns=returns,
                            sigma=np.ones_like(returns) if sigma is None else sigma)


def _target(measure, value, day=None, tol=1.0):
    return {"measure": measure, "asset": "equity", "day": day, "value": value, "tolerance": tol,
            "source": "constructed", "why": "test"}


def test_measures_on_known_paths():
    # path k: +10 % log on day 1, then -(k+1) % log on days 2-3; sigma 1 %/day except day 2: 2 (k+1) %/day
    n = 101
    k = np.arange(n, dtype=float)
    r = np.zeros((n, 3, 1))
    r[:, 0, 0] = 10.0
    r[:, 1, 0] = r[:, 2, 0] = -(k + 1)
    sig = np.ones_like(r)
    sig[:, 1, 0] = 2.0 * (k + 1)
    sim = _sim(r, sig)
    rows = evaluate_targets([_target("median_return_pct", 0.0, day=1), _target("median_return_pct", 0.0),
                             _target("median_drawdown_pct", 0.0, day=3), _target("median_vol_pct", 0.0, day=2),
                             _target("peak_median_vol_pct", 0.0)], sim, {"equity": 0})
    med_k = 50.0  # the median path
    assert rows[0]["simulated"] == pytest.approx(100 * math.expm1(0.10))
    assert rows[1]["simulated"] == pytest.approx(100 * math.expm1((10 - 2 * (med_k + 1)) / 100))
    # drawdown from the day-1 peak: 2 (k + 1) % log
    assert rows[2]["simulated"] == pytest.approx(-100 * math.expm1(-2 * (med_k + 1) / 100))
    assert rows[3]["simulated"] == pytest.approx(2 * (med_k + 1) * math.sqrt(252))
    assert rows[4]["simulated"] == pytest.approx(2 * (med_k + 1) * math.sqrt(252)) and rows[4]["mc_se"] is None
    assert [r["within"] for r in rows] == [False] * 5
    ok = evaluate_targets([_target("median_return_pct", 10.5, day=1, tol=0.1)], sim, {"equity": 0})[0]
    assert ok["within"] and ok["difference"] == pytest.approx(100 * math.expm1(0.10) - 10.5)


def test_measures_needing_daily_paths_say_so():
    r = np.zeros((5, 4, 1))
    sim = _sim(r)
    sim.returns = sim.sigma = None
    rows = evaluate_targets([_target("median_return_pct", 0.0, day=2), _target("median_return_pct", 0.0),
                             _target("median_vol_pct", 0.0, day=1)], sim, {"equity": 0})
    assert rows[0]["within"] is None and "daily paths" in rows[0]["unavailable"]
    assert rows[1]["within"] is True
    assert rows[2]["within"] is None and "volatilit" in rows[2]["unavailable"]


def test_median_se_is_the_order_statistic_half_width():
    x = np.random.default_rng(0).standard_normal(40_000)
    # normal median: SE = sqrt(pi / 2) / sqrt(n)
    assert median_se(x) == pytest.approx(math.sqrt(math.pi / 2 / x.size), rel=0.1)


def test_replays_reproduce_history_and_fhs_is_not_judged():
    from calibration.data import load_prices
    from simulator.builtin import load_builtin_model
    from simulator import run_scenario

    model = load_builtin_model("us-markets")
    prices = load_prices("builtin:us-markets")[list(model.assets)]
    res = run_scenario("volmageddon-2018", model, n_paths=500, keep="summary")
    rows = [t for t in res.targets if t.get("kind") == "history"]
    assert [t["model_asset"] for t in rows] == list(model.assets)
    # the window 29 Jan - 28 Feb 2018: the close before it (26 Jan) to 28 Feb, straight from the closes
    before = prices.loc[:"2018-01-26"].iloc[-1]
    after = prices.loc[:"2018-02-28"].iloc[-1]
    for t in rows:
        assert t["value"] == pytest.approx(100 * (after[t["model_asset"]] / before[t["model_asset"]] - 1), abs=1e-9)
        assert t["within"] is True and t["day"] == 22
    fhs = run_scenario("volmageddon-2018", model, n_paths=500, keep="summary", replay_scaling="filtered")
    t = next(t for t in fhs.targets if t.get("kind") == "history" and t["model_asset"] == "SP500")
    assert t["within"] is None and "FHS" in t["unavailable"] and t["simulated"] < t["value"] - 10
    # scenarios without replays have no history rows
    assert not history_checks(type("S", (), {"shocks": []})(), model, res.simulation)
