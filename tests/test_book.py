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
    ("id,kind,notional,fixed_pct,freq,maturity_years,curve,side\ns,swap,1,2,2,0.75,UST,payer\n", "whole number"),
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


def _factors():
    from simulator.instruments.factors import Factor

    return [Factor("equity", "price"), Factor("VIX", "vol")] + [
        Factor(f"UST_{t}", "rate", "UST", y) for t, y in (("3M", 0.25), ("2Y", 2.0), ("5Y", 5.0), ("10Y", 10.0),
                                                         ("30Y", 30.0))]


ASOF = {"equity": 2506.85, "VIX": 25.4, "UST_3M": 2.45, "UST_2Y": 2.48, "UST_5Y": 2.51, "UST_10Y": 2.69,
        "UST_30Y": 3.02}


def test_sensitivities_by_bumping_match_closed_forms():
    from scipy import stats

    from simulator.instruments.factors import sensitivities

    book = parse_book_csv(CSV)
    rows = sensitivities(book, _factors(), ASOF)
    get = {(r["position"], r["factor"], r["measure"]): r["value"] for r in rows}
    assert get[("eq", "equity", "delta_1pct")] == pytest.approx(6000.0)  # 1 % of 600,000
    assert abs(get.get(("eq", "equity", "gamma_1pct"), 0.0)) < 1e-6
    # the bond's rate risk sits at the tenors around its 9.5-year maturity, long (positive dv01)
    dv = {f: get.get(("ust10", f"UST_{f}", "dv01"), 0.0) for f in ("3M", "2Y", "5Y", "10Y", "30Y")}
    assert dv["10Y"] > dv["5Y"] > 0 and abs(dv["30Y"]) < 1e-6
    # the sum over tenors against the closed-form zero-rate DV01 1e-4 sum_i t_i CF_i DF_i of the bond on a
    # flat 2.6 % curve (a par shift moves zero rates about one for one)
    from simulator.instruments import coupon_times

    t = coupon_times(9.5, 2)
    cf = np.full(t.size, 1e6 * 0.025 / 2)
    cf[-1] += 1e6
    assert sum(dv.values()) == pytest.approx(1e-4 * float((t * cf * np.exp(-0.026 * t)).sum()), rel=0.05)
    # the payer swap is short duration; the written put is long delta (short put), short vega
    assert sum(get.get(("irs", f"UST_{f}", "dv01"), 0.0) for f in ("2Y", "5Y")) < 0
    assert get[("put", "equity", "delta_1pct")] > 0
    # a fixed-vol option has no vega to the VIX factor; the vix-linked call's vega is the BS vega
    assert ("put", "VIX", "vega") not in get
    s, k, t, sig = 2506.85, 2600.0, 0.25, 0.254
    d1 = (math.log(s / k) + 0.5 * sig * sig * t) / (sig * math.sqrt(t))
    assert get[("call", "VIX", "vega")] == pytest.approx(5 * s * stats.norm.pdf(d1) * math.sqrt(t) / 100, rel=2e-3)
    assert get[("book", "equity", "delta_1pct")] == pytest.approx(
        sum(v for (p, f, m), v in get.items() if p != "book" and f == "equity" and m == "delta_1pct"))


def test_attribution_sums_to_the_full_revaluation_pnl():
    from simulator.instruments.factors import attribute_pnl

    book = parse_book_csv(CSV)
    rng = np.random.default_rng(3)
    n = 50
    base = {k: np.full(n, v) for k, v in ASOF.items()}
    moved = {k: v * np.exp(rng.normal(0, 0.05, n)) if k in ("equity", "VIX") else v + rng.normal(0, 0.3, n)
             for k, v in base.items()}

    def levels_at(day):
        return base if day == 0 else moved

    parts = attribute_pnl(book, _factors(), levels_at, ASOF, 20)
    assert set(parts) == {"time", "equity", "rates", "vol", "unexplained"}
    from simulator.instruments.factors import market_state

    full = sum(book_pnl(book, lambda d: market_state(_factors(), levels_at(d), ASOF, d), 20).values())
    explained = sum(v for k, v in parts.items() if k != "unexplained")
    np.testing.assert_allclose(explained + parts["unexplained"], full, rtol=1e-12)
    assert np.abs(parts["unexplained"]).max() < 1e-6
    # equity moves explain the linear position's P&L on every path
    eq_pnl = 600000 * (moved["equity"] / ASOF["equity"] - 1)
    assert np.corrcoef(parts["equity"], eq_pnl)[0, 1] > 0.99


def test_batched_values_equal_position_by_position():
    from simulator.instruments.factors import market_state
    from simulator.instruments.revalue import book_values, position_value

    rows = ["id,kind,notional,coupon_pct,freq,maturity_years,curve,spread_bp,fixed_pct,side"]
    rng = np.random.default_rng(5)
    for i in range(30):
        m = float(rng.choice([0.75, 2.0, 5.5, 9.5, 29.0]))
        if not i % 2:
            m = float(rng.choice([1.0, 2.5, 5.0, 10.0, 30.0]))
        if i % 2:
            rows.append(f"b{i},bond,{rng.uniform(1e5, 1e6):.2f},{rng.uniform(0, 6):.3f},{rng.choice([1, 2, 4])},{m},UST,"
                        f"{rng.uniform(0, 200):.1f},,")
        else:
            rows.append(f"s{i},swap,{rng.uniform(1e5, 1e6):.2f},,2,{m},UST,,{rng.uniform(0, 4):.3f},"
                        f"{'payer' if i % 4 else 'receiver'}")
    book = parse_book_csv("\n".join(rows) + "\n")
    levels = {k: v + rng.normal(0, 0.5, 40) if k.startswith("UST") else np.full(40, v) for k, v in ASOF.items()}
    for day, fix in ((0, None), (63, {p.id: rng.uniform(1, 3, 40) for p in book.positions if p.kind == "swap"})):
        st = market_state(_factors(), levels, ASOF, day)
        got = book_values(book.positions, st, fix)
        for j, p in enumerate(book.positions):
            ref = position_value(p, st, fixing_pct=None if fix is None else fix.get(p.id))
            np.testing.assert_allclose(got[:, j], ref, rtol=1e-12, atol=1e-6)
