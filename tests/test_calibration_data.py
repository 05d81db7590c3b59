"""load_prices: layouts, the bundled real data set and every cleaning rule (errors name asset and date)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from calibration.data import frame_sha256, load_prices, log_returns


def _wide(n=300, assets=("A", "B"), start="2010-01-01", seed=0):
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range(start, periods=n)
    data = {a: 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n))) for a in assets}
    return pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), **data})


def test_builtin_us_markets_is_aligned_real_data():
    prices, rep = load_prices("builtin:us-markets", report=True)
    assert list(prices.columns) == ["SP500", "NASDAQ", "WTI"]
    assert prices.index.is_monotonic_increasing and prices.index.is_unique
    assert prices.index[0] == pd.Timestamp("1999-01-04")
    # 2018-12-31 has no WTI assessment and is the last date: trimmed by the trailing rule
    assert prices.index[-1] == pd.Timestamp("2018-12-28")
    assert rep.trimmed_trailing == 1
    assert len(prices) == 5030 and rep.n_obs == 5030
    assert (prices.to_numpy() > 0).all() and np.isfinite(prices.to_numpy()).all()
    # known closes from the arch data (S&P 500 adjusted close, WTI spot)
    assert prices.loc["2008-10-15", "SP500"] == pytest.approx(907.84, abs=0.01)
    assert prices.loc["2008-07-03", "WTI"] == pytest.approx(145.31, abs=1e-9)  # the all-time spot high
    # WTI holidays on equity trading days are forward filled and reported
    assert "1999-12-31" in rep.forward_filled["WTI"]
    assert prices.loc["1999-12-31", "WTI"] == prices.loc["1999-12-30", "WTI"]
    assert len(rep.forward_filled["WTI"]) == 18
    assert "SP500" not in rep.forward_filled
    # WTI days when the equity markets were closed (9/11) are not in the calendar
    assert pd.Timestamp("2001-09-12") not in prices.index
    assert any("2001-09-11" in n for n in rep.notes)
    assert rep.input_sha256 and len(rep.input_sha256) == 64
    assert rep.data_sha256 == frame_sha256(prices)
    assert prices.attrs["cleaning"]["n_obs"] == 5030


def test_builtin_asset_selection_and_unknown_builtin():
    p = load_prices("builtin:us-markets", assets=["WTI", "SP500"])
    assert list(p.columns) == ["WTI", "SP500"]
    with pytest.raises(ValueError, match="builtin:us-markets"):
        load_prices("builtin:eu-markets")
    with pytest.raises(ValueError, match="'XX' not found.*'SP500'"):
        load_prices("builtin:us-markets", assets=["XX"])


def test_wide_csv_long_csv_parquet_and_frame_agree(tmp_path):
    wide = _wide()
    wide.to_csv(tmp_path / "w.csv", index=False)
    long = wide.melt(id_vars="date", var_name="asset", value_name="price").sample(frac=1.0, random_state=1)
    long.to_csv(tmp_path / "l.csv", index=False)
    frame = wide.set_index(pd.DatetimeIndex(pd.to_datetime(wide["date"]))).drop(columns="date")
    frame.to_parquet(tmp_path / "w.parquet")
    a = load_prices(tmp_path / "w.csv")
    b = load_prices(str(tmp_path / "l.csv"))
    c = load_prices(tmp_path / "w.parquet")
    d = load_prices(frame)
    pd.testing.assert_frame_equal(a, b[["A", "B"]], check_freq=False)
    pd.testing.assert_frame_equal(a, c, check_freq=False)
    pd.testing.assert_frame_equal(a, d, check_freq=False)
    _, rep = load_prices(tmp_path / "l.csv", report=True)
    assert rep.layout == "long"
    assert len(rep.input_sha256) == 64


def test_sorting_and_log_returns(tmp_path):
    wide = _wide(n=260)
    shuffled = wide.sample(frac=1.0, random_state=3)
    p = load_prices(shuffled)
    assert p.index.is_monotonic_increasing
    r = log_returns(p)
    assert r.shape == (259, 2)
    expected = 100 * np.log(p["A"].iloc[1] / p["A"].iloc[0])
    assert r["A"].iloc[0] == pytest.approx(expected, rel=1e-13)
    assert r.index[0] == p.index[1]


def test_duplicate_dates_error_or_keep_last():
    wide = _wide()
    dup = pd.concat([wide.iloc[:10], wide.iloc[[5]].assign(A=999.0), wide.iloc[10:]], ignore_index=True)
    with pytest.raises(ValueError, match=r"date 2010-01-08 appears more than once"):
        load_prices(dup)
    p, rep = load_prices(dup, duplicates="last", report=True)
    assert p.loc["2010-01-08", "A"] == 999.0
    assert rep.duplicates_dropped == {"*": ["2010-01-08"]}
    long = wide.melt(id_vars="date", var_name="asset", value_name="price")
    long = pd.concat([long, pd.DataFrame({"date": ["2010-01-05"], "asset": ["B"], "price": [5.0]})])
    with pytest.raises(ValueError, match=r"asset 'B' has more than one price on 2010-01-05"):
        load_prices(long)
    p = load_prices(long, duplicates="last")
    assert p.loc["2010-01-05", "B"] == 5.0


@pytest.mark.parametrize(
    "value, pattern",
    [
        ("abc", r"asset 'B': non-numeric price 'abc' on 2010-02-01"),
        ("-3.5", r"asset 'B': non-positive price -3.5 on 2010-02-01"),
        ("0", r"asset 'B': non-positive price 0.0 on 2010-02-01"),
        ("inf", r"asset 'B': non-finite price inf on 2010-02-01"),
    ],
)
def test_bad_values_name_asset_and_date(tmp_path, value, pattern):
    wide = _wide().astype({"B": object})
    i = int(np.flatnonzero(wide["date"] == "2010-02-01")[0])
    wide.loc[i, "B"] = value
    path = tmp_path / "bad.csv"
    wide.to_csv(path, index=False)
    with pytest.raises(ValueError, match=pattern):
        load_prices(path)
    with pytest.raises(ValueError, match=pattern):
        load_prices(wide)


def test_gaps_forward_filled_up_to_limit_else_error():
    wide = _wide()
    wide.loc[20:22, "A"] = np.nan  # 3 missing days
    p, rep = load_prices(wide, report=True)
    assert p["A"].iloc[20] == p["A"].iloc[19] == p["A"].iloc[22]
    assert len(rep.forward_filled["A"]) == 3
    with pytest.raises(ValueError, match=r"asset 'A' has 3 consecutive missing prices from 2010-01-29 to 2010-02-02"):
        load_prices(wide, max_gap=2)
    # FRED-style "." markers are missing values too
    w2 = _wide().astype({"B": object})
    w2.loc[30, "B"] = "."
    assert load_prices(w2)["B"].iloc[30] == load_prices(w2)["B"].iloc[29]


def test_leading_trailing_trim_and_empty_rows():
    wide = _wide(n=320)
    wide.loc[:9, "A"] = np.nan  # A starts 10 rows later
    wide.loc[315:, "B"] = np.nan  # B ends 5 rows earlier
    p, rep = load_prices(wide, report=True)
    assert rep.trimmed_leading == 10 and rep.trimmed_trailing == 5
    assert len(p) == 305 and not p.isna().any().any()
    wide2 = _wide()
    wide2.loc[40, ["A", "B"]] = np.nan
    p2, rep2 = load_prices(wide2, report=True)
    assert len(p2) == 299 and rep2.empty_rows_dropped == [wide2.loc[40, "date"]]


def test_too_few_observations_and_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match=r"only 200 price observations .* at least 250"):
        load_prices(_wide(n=200))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_prices(tmp_path / "nope.csv")
    (tmp_path / "x.xlsx").write_text("x")
    with pytest.raises(ValueError, match="unsupported file type '.xlsx'"):
        load_prices(tmp_path / "x.xlsx")
    with pytest.raises(TypeError, match="source must be"):
        load_prices(42)
    w = _wide()
    w.loc[3, "date"] = "not-a-date"
    with pytest.raises(ValueError, match=r"row 4 has an unparseable date 'not-a-date'"):
        load_prices(w)
    (tmp_path / "dup.csv").write_text("date,A,A\n2020-01-01,1,2\n")
    with pytest.raises(ValueError, match="'A' appears more than once"):
        load_prices(tmp_path / "dup.csv")
    with pytest.raises(ValueError, match="duplicates must be"):
        load_prices(_wide(), duplicates="first")
