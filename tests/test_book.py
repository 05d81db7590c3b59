"""Instrument books: the file format's errors (one line, row and column), and full revaluation of each
position kind on constructed markets against hand computations."""
from __future__ import annotations

import math

import numpy as np
import pytest

from scenarios.book import BOOK_COLUMNS, load_book, parse_book_csv, parse_book_toml
from simulator.exceptions import UserInputError
from simulator.instruments import ZeroCurve, bond_value, swap_value
from simulator.instruments.revalue import MarketState, book_pnl, days_needed

CSV = """id,kind,factor,amount,notional,coupon_pct,freq,maturity_years,curve,side,fixed_pct,quantity,option_type,strike,expiry_years,spot,vol_pct,vol_factor
eq,linear,equity,600000,,,,,,,,,,,,,,
ust10,bond,,,1000000,2.5,2,9.5,UST,,,,,,,,,
irs,swap,,,5000000,,2,5,UST,payer,2.6,,,,,,,
put,option,equity,,,,,,,,,-10,put,2300,0.5,2506.85,18,
call,option,equity,,,,,,,,,5,call,2600,0.25,2506.85,,VIX
"""


def test_a_csv_book_parses_into_typed_positions(tmp_path):
    f = tmp_path / "book.csv"
    f.write_text(CSV)
    book = load_book(f)
    assert [p.kind for p in book.positions] == ["linear", "bond", "swap", "option", "option"]
    assert book.positions[1].freq == 2 and book.positions[1].maturity_years == 9.5
    assert book.factors()["call"] == ["equity", "VIX"]
    toml = parse_book_toml('currency = "EUR"\n[[positions]]\nid = "b"\nkind = "bond"\nnotional = 100.0\n'
                           'coupon_pct = 1.0\nfreq = 1\nmaturity_years = 3.0\ncurve = "BUND"\n', source="b.toml")
    assert toml.currency == "EUR" and toml.positions[0].curve == "BUND"


@pytest.mark.parametrize("text, message", [
    ("id,kind\nx,future\n", "row 1 (id 'x'): column 'kind': 'future' is not a position kind"),
    ("id,kind,notional,freq,maturity_years,curve\nb,bond,100,2,5,UST\n", "column 'coupon_pct' is required for a bond"),
    ("id,kind,factor,amount\na,linear,eq,abc\n", "column 'amount': 'abc' is not a number"),
    ("id,kind,factor,amount\na,linear,eq,inf\n", "is not a finite number"),
    ("id,kind,factor,amount,zz\na,linear,eq,1,2\n", "unknown column 'zz'"),
    ("id,kind,notional,coupon_pct,freq,maturity_years,curve\nb,bond,100,2,3,5,UST\n", "column 'freq'"),
    ("id,kind,notional,coupon_pct,freq,maturity_years,curve\nb,bond,100,2,2,-1,UST\n", "column 'maturity_years'"),
    ("id,kind,factor,quantity,option_type,strike,expiry_years,spot\no,option,eq,1,call,100,1,100\n",
     "needs vol_factor"),
    ("id,kind,factor,amount\na,linear,eq,1\na,linear,eq,2\n", "id 'a' is also row 1"),
    ("id,kind,factor,amount,coupon_pct\na,linear,eq,1,2\n", "column 'coupon_pct' does not apply to a linear position"),
    ("kind\nlinear\n", "no column 'id'"),
])
def test_bad_rows_give_one_line_naming_row_and_column(text, message):
    with pytest.raises(UserInputError) as exc:
        parse_book_csv(text, source="book.csv")
    msg = str(exc.value)
    assert message in msg and msg.startswith("book.csv") and "\n" not in msg


def test_every_documented_column_is_accepted_somewhere():
    import scenarios.book as b

    for col in BOOK_COLUMNS:
        assert f"\n{col} " in b.__doc__ or f"\n{col}\n" in b.__doc__, col


def _flat(rate_pct: float, n: int = 3) -> ZeroCurve:
    return ZeroCurve(np.array([0.25, 1.0, 5.0, 30.0]), np.full((n, 4), rate_pct / 100.0))


def _states(curves: dict[int, ZeroCurve], rel: dict[int, np.ndarray], vix: dict[int, np.ndarray] | None = None):
    def at(day: int) -> MarketState:
        return MarketState(day=day, relatives={"equity": rel[day]}, curves={"UST": curves[day]},
                           vols_pct={"VIX": (vix or {}).get(day, np.full(3, 20.0))})
    return at


def test_linear_bond_and_option_pnl_by_hand():
    book = parse_book_csv(CSV)
    rel = {0: np.ones(3), 10: np.array([0.9, 1.0, 1.1])}
    curves = {0: _flat(3.0), 10: _flat(3.0).shifted(np.array([100.0, 0.0, -50.0]))}
    pnl = book_pnl(book, _states(curves, rel), 10)
    np.testing.assert_allclose(pnl["eq"], 600000 * (rel[10] - 1))
    h = 10 / 252
    v0 = bond_value(curves[0], notional=1e6, coupon_pct=2.5, freq=2, maturity=9.5)
    vh = bond_value(curves[10], notional=1e6, coupon_pct=2.5, freq=2, maturity=9.5, elapsed=h)
    np.testing.assert_allclose(pnl["ust10"], vh - v0)
    assert pnl["ust10"][0] < 0 < pnl["ust10"][2]  # rates up: bond loses
    # the written put: short 10 puts; spot down 10 % -> it loses
    assert pnl["put"][0] < 0 < pnl["put"][2]


def test_swap_pnl_with_a_reset_inside_the_horizon():
    # a 5-year semi-annual payer swap over 130 trading days: coupon of the first period paid at 0.5 years
    # (fixed at day 0 on the day-0 curve), the second period fixed on day 126 on that day's curve
    book = parse_book_csv("id,kind,notional,fixed_pct,freq,maturity_years,curve,side\nirs,swap,1000000,3.0,2,5,UST,payer\n")
    assert days_needed(book, 130) == [0, 126, 130]
    curves = {0: _flat(3.0), 126: _flat(4.0), 130: _flat(4.5)}
    pnl = book_pnl(book, _states(curves, {0: np.ones(3), 126: np.ones(3), 130: np.ones(3)}), 130)["irs"]
    fix0 = (1 / float(curves[0].discount(0.5)[0]) - 1) / 0.5 * 100
    fix1 = (1 / float(curves[126].discount(0.5)[0]) - 1) / 0.5 * 100
    cash = -1e6 / 2 * (3.0 - fix0) / 100  # payer: receives floating, pays fixed
    v0 = swap_value(curves[0], notional=1e6, fixed_pct=3.0, freq=2, maturity=5.0, payer=True)
    vh = swap_value(curves[130], notional=1e6, fixed_pct=3.0, freq=2, maturity=5.0, payer=True, elapsed=130 / 252,
                    fixing_pct=fix1)
    np.testing.assert_allclose(pnl, vh + cash - v0, rtol=1e-12)
    assert np.all(pnl > 0)  # rates up 150 bp: the payer gains


def test_option_vol_factor_and_time_decay():
    book = parse_book_csv(CSV)
    rel = {0: np.ones(3), 10: np.ones(3)}
    curves = {0: _flat(2.0), 10: _flat(2.0)}
    vix = {0: np.full(3, 20.0), 10: np.array([20.0, 30.0, 15.0])}
    pnl = book_pnl(book, _states(curves, rel, vix), 10)["call"]
    assert pnl[0] < 0  # same vol, 10 days less: theta
    assert pnl[1] > 0 > pnl[2]  # vega: long calls gain when implied vol rises
    with pytest.raises(KeyError):
        book_pnl(book, lambda d: MarketState(day=d, relatives={"equity": np.ones(3)}, curves={"UST": _flat(2.0)}), 10)
    assert math.isfinite(float(pnl.sum()))
