"""Risk factors of several kinds: the bundled Treasury curve, factor changes, the joint calibration of
``builtin:us-markets-rates`` and levels from simulated changes."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from calibration.factors import UST_TENORS, factor_changes, load_factor_levels
from simulator.model import FactorSpec, MarketModel


@pytest.fixture(scope="module")
def data():
    return load_factor_levels("us-markets-rates")


def test_the_shipped_curve_matches_the_treasury_file(shared_data, data):
    levels, factors, prov = data
    raw = pd.read_csv(shared_data / "ust" / "ust_par_yields_daily.csv", parse_dates=["date"], index_col="date")
    cols = {"UST_3M": "BC_3MONTH", "UST_2Y": "BC_2YEAR", "UST_5Y": "BC_5YEAR", "UST_10Y": "BC_10YEAR",
            "UST_30Y": "BC_30YEAR"}
    for ours, theirs in cols.items():
        np.testing.assert_allclose(levels[ours].to_numpy(), raw.loc[levels.index, theirs].to_numpy(), atol=1e-12)
    # the window the series share: the 30-year resumed on 9 Feb 2006 (0.0 marks its gap in the raw file)
    assert levels.index[0] == pd.Timestamp("2006-02-09") and levels.index[-1] == pd.Timestamp("2018-12-28")
    assert (raw.loc["2002-02-19":"2006-02-08", "BC_30YEAR"] == 0).all()
    assert not levels.isna().any().any() and (levels["UST_30Y"] > 0).all()
    # genuine zero yields of the 3-month bill are kept
    assert (levels["UST_3M"] == 0).sum() >= 10
    assert factors["UST_10Y"] == {"kind": "rate", "curve": "UST", "tenor_years": 10.0}
    assert factors["SP500"]["kind"] == "price" and prov["prices_end"] == "2018-12-28"


def test_factor_changes_are_basis_points_for_rates_and_log_returns_for_prices(data):
    levels, factors, _ = data
    ch = factor_changes(levels, {a: f["kind"] for a, f in factors.items()})
    assert ch.index[0] == levels.index[1]
    np.testing.assert_allclose(ch["UST_10Y"], 100 * np.diff(levels["UST_10Y"].to_numpy()), atol=1e-9)
    np.testing.assert_allclose(ch["SP500"], 100 * np.diff(np.log(levels["SP500"].to_numpy())), atol=1e-12)
    # 10-year daily changes of a few basis points (the data's own figure over 2006-2018)
    assert 4.0 < ch["UST_10Y"].std() < 8.0
    with pytest.raises(ValueError, match="non-positive level"):
        factor_changes(levels[["UST_3M"]], {"UST_3M": "price"})


def test_the_bundled_rates_model_is_the_calibration_of_the_bundled_data(data):
    from calibration import calibrate
    from simulator.builtin import load_builtin_model

    bundled = load_builtin_model("us-markets-rates")
    fresh = calibrate("builtin:us-markets-rates")
    assert fresh.sha256() == bundled.sha256()
    levels = data[0]
    for a in bundled.assets:
        spec = bundled.factor(a)
        assert spec.level == pytest.approx(float(levels[a].iloc[-1]))
        assert spec.kind == ("rate" if a in UST_TENORS else "price")
    assert bundled.factor("UST_5Y").tenor_years == 5.0 and bundled.factor("UST_5Y").curve == "UST"
    assert bundled.marginals[bundled.assets.index("UST_3M")].dist.type == "normal"
    assert "3-month bill" in bundled.provenance["data"]["specification_choices"]["why"]


def test_levels_from_simulated_changes_and_the_floor():
    r = FactorSpec("rate", 2.5, "UST", 10.0)
    np.testing.assert_allclose(r.levels(np.array([-300.0, 0.0, 50.0])), [-0.5, 2.5, 3.0])  # may go negative
    floored = FactorSpec("rate", 2.5, "UST", 10.0, floor=0.0)
    np.testing.assert_allclose(floored.levels(np.array([-300.0, 50.0])), [0.0, 3.0])
    p = FactorSpec("price", 100.0)
    np.testing.assert_allclose(p.levels(np.array([100 * math.log(1.1)])), [110.0])
    assert FactorSpec("spread", 120.0).levels(np.array([-20.0]))[0] == pytest.approx(100.0)


@pytest.mark.parametrize("factors, message", [
    ({"X": {"kind": "rate"}}, "not a model asset"),
    ({"A": {"kind": "yield"}}, "valid kinds"),
    ({"A": {"kind": "rate", "tenor_years": 10}}, "needs a curve"),
    ({"A": {"kind": "rate", "curve": "UST"}}, "needs tenor_years"),
    ({"A": {"kind": "price", "curve": "UST"}}, "apply to rate factors only"),
    ({"A": {"kind": "price", "level": -1.0}}, "must be > 0"),
    ({"A": {"kind": "rate", "curve": "UST", "tenor_years": 2}, "B": {"kind": "rate", "curve": "UST", "tenor_years": 2}},
     "both curve"),
])
def test_bad_factor_entries_are_refused(factors, message):
    base = {"assets": ["A", "B"], "marginals": [{"vol": {"type": "garch", "omega": 0.1, "alpha": 0.1, "beta": 0.8},
                                                  "dist": {"type": "normal"}}] * 2,
            "copula": {"type": "independent"}}
    with pytest.raises(ValueError, match=message):
        MarketModel.from_dict({**base, "factors": factors})


def test_models_without_factors_keep_their_hash():
    from simulator.builtin import load_builtin_model

    m = load_builtin_model("us-markets")
    assert m.factors is None and "factors" not in m.to_dict() and m.kind("SP500") == "price"
