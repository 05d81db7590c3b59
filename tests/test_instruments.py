"""Pricers against QuantLib (to 1e-8 relative) and closed forms: zero curves, bullet bonds, vanilla swaps,
European options (Black-Scholes, Black-76), FX forwards, and the par-yield bootstrap.

QuantLib runs with ``SimpleDayCounter`` on dates with the same day of the month, so a cash flow ``k``
months away is at ``k / 12`` years exactly: the convention of :mod:`simulator.instruments`."""
from __future__ import annotations

import math

import numpy as np
import pytest

from simulator.instruments import (ZeroCurve, black76, black_scholes, bond_cash, bond_value, bootstrap_par_curve,
                                   coupon_times, fx_forward_value, swap_value)

ql = pytest.importorskip("QuantLib")

REF = ql.Date(15, 1, 2020)
DC = ql.SimpleDayCounter()
CAL = ql.NullCalendar()
NODES_M = [3, 6, 12, 24, 36, 60, 84, 120, 240, 360, 480]
RTOL = 1e-8


@pytest.fixture(autouse=True)
def _eval_date():
    ql.Settings.instance().evaluationDate = REF
    yield


def _curves():
    """Zero-rate node sets: upward, inverted, negative front end, all negative (percent)."""
    return [np.array([1.0, 1.2, 1.5, 1.9, 2.2, 2.6, 2.9, 3.1, 3.4, 3.5, 3.5]),
            np.array([5.2, 5.1, 4.9, 4.6, 4.4, 4.2, 4.1, 4.0, 4.1, 4.2, 4.2]),
            np.array([-0.6, -0.55, -0.5, -0.35, -0.2, 0.1, 0.3, 0.5, 0.8, 0.9, 1.0]),
            np.array([-0.9, -0.85, -0.8, -0.75, -0.7, -0.6, -0.55, -0.5, -0.45, -0.4, -0.4])]


def _ql_curve(z_pct):
    dates = [REF] + [REF + ql.Period(m, ql.Months) for m in NODES_M]
    rates = [z_pct[0] / 100] + [r / 100 for r in z_pct]  # flat from the as-of date to the first node
    c = ql.ZeroCurve(dates, rates, DC, CAL, ql.Linear(), ql.Continuous)
    c.enableExtrapolation()
    return ql.YieldTermStructureHandle(c)


def _ours(z_pct):
    return ZeroCurve(np.array(NODES_M) / 12.0, np.asarray(z_pct) / 100.0)


@pytest.mark.parametrize("k", range(4))
def test_zero_curve_discount_factors_match_quantlib(k):
    z = _curves()[k]
    h, ours = _ql_curve(z), _ours(z)
    months = np.arange(1, 481)
    got = ours.discount(months / 12.0)
    ref = np.array([h.discount(REF + ql.Period(int(m), ql.Months)) for m in months])
    np.testing.assert_allclose(got, ref, rtol=RTOL, atol=0)
    # vectorised over curves: a stack of the four curves gives each one's factors
    stack = ZeroCurve(np.array(NODES_M) / 12.0, np.stack(_curves()) / 100.0)
    assert stack.discount(2.5).shape == (4,) and stack.discount(2.5)[k] == pytest.approx(float(ours.discount(2.5)))


def _ql_bond(months: int, coupon_pct: float, freq: int, notional: float = 100.0):
    period = 12 // freq
    n = -(-months // period)
    maturity = REF + ql.Period(months, ql.Months)
    start = maturity - ql.Period(n * period, ql.Months)  # issued before the as-of date: full coupons
    sched = ql.Schedule(start, maturity, ql.Period(period, ql.Months), CAL, ql.Unadjusted, ql.Unadjusted,
                        ql.DateGeneration.Backward, False)
    return ql.FixedRateBond(0, notional, sched, [coupon_pct / 100.0], DC)


@pytest.mark.parametrize("k", range(4))
@pytest.mark.parametrize("months, coupon, freq", [(6, 0.0, 2), (24, 1.5, 2), (61, 4.0, 2), (120, 8.0, 1),
                                                  (87, 2.25, 4), (360, 3.0, 2), (7, 5.0, 12)])
def test_bond_value_matches_quantlib(k, months, coupon, freq):
    z = _curves()[k]
    h = _ql_curve(z)
    bond = _ql_bond(months, coupon, freq, 1_000_000.0)
    bond.setPricingEngine(ql.DiscountingBondEngine(h))
    ours = bond_value(_ours(z), notional=1_000_000.0, coupon_pct=coupon, freq=freq, maturity=months / 12.0)
    assert float(ours) == pytest.approx(bond.NPV(), rel=RTOL)
    # with a credit spread of 125 bp on the zero rate (continuous)
    spread = ql.QuoteHandle(ql.SimpleQuote(0.0125))
    hs = ql.YieldTermStructureHandle(ql.ZeroSpreadedTermStructure(h, spread, ql.Continuous, ql.NoFrequency, DC))
    bond.setPricingEngine(ql.DiscountingBondEngine(hs))
    ours_s = bond_value(_ours(z), notional=1_000_000.0, coupon_pct=coupon, freq=freq, maturity=months / 12.0,
                        spread_bp=125.0)
    assert float(ours_s) == pytest.approx(bond.NPV(), rel=RTOL)


def test_zero_coupon_bond_is_the_discount_factor_and_cash_is_counted():
    c = _ours(_curves()[0])
    assert float(bond_value(c, notional=100.0, coupon_pct=0.0, freq=2, maturity=7.0)) == pytest.approx(
        100.0 * float(c.discount(7.0)), rel=1e-14)
    # a 2-year 4 % semi-annual bond after 13 months: two coupons paid, two flows left
    assert bond_cash(notional=100.0, coupon_pct=4.0, freq=2, maturity=2.0, elapsed=13 / 12) == pytest.approx(4.0)
    assert bond_cash(notional=100.0, coupon_pct=4.0, freq=2, maturity=2.0, elapsed=2.0) == pytest.approx(108.0)
    np.testing.assert_allclose(coupon_times(2.0, 2), [0.5, 1.0, 1.5, 2.0])
    np.testing.assert_allclose(coupon_times(1.25, 2), [0.25, 0.75, 1.25])


def _ql_swap(h, months: int, fixed_pct: float, freq: int, payer: bool, start_offset_m: int = 0, fixing=None):
    period = ql.Period(12 // freq, ql.Months)
    start = REF - ql.Period(start_offset_m, ql.Months)
    end = start + ql.Period(months, ql.Months)
    sched = ql.Schedule(start, end, period, CAL, ql.Unadjusted, ql.Unadjusted, ql.DateGeneration.Forward, False)
    index = ql.IborIndex("TESTIBOR", period, 0, ql.USDCurrency(), CAL, ql.Unadjusted, False, DC, h)
    if fixing is not None:
        index.addFixing(start, fixing / 100.0)
    kind = ql.VanillaSwap.Payer if payer else ql.VanillaSwap.Receiver
    swap = ql.VanillaSwap(kind, 1_000_000.0, sched, fixed_pct / 100.0, DC, sched, index, 0.0, DC)
    swap.setPricingEngine(ql.DiscountingSwapEngine(h))
    return swap


@pytest.mark.parametrize("k", range(4))
@pytest.mark.parametrize("months, fixed, freq, payer", [(24, 1.0, 2, True), (60, 2.5, 2, False), (120, 3.75, 4, True),
                                                        (360, 0.5, 1, False), (84, -0.25, 2, True)])
def test_fresh_swap_matches_quantlib(k, months, fixed, freq, payer):
    z = _curves()[k]
    h = _ql_curve(z)
    swap = _ql_swap(h, months, fixed, freq, payer)
    ours = swap_value(_ours(z), notional=1_000_000.0, fixed_pct=fixed, freq=freq, maturity=months / 12.0, payer=payer)
    assert float(ours) == pytest.approx(swap.NPV(), rel=RTOL, abs=1e-6)


@pytest.mark.parametrize("k", range(4))
def test_seasoned_swap_with_a_fixing_matches_quantlib(k):
    # a 5-year semi-annual swap that started 2 months ago, its first floating period fixed at 2.1 %
    z = _curves()[k]
    h = _ql_curve(z)
    swap = _ql_swap(h, 60, 2.0, 2, payer=False, start_offset_m=2, fixing=2.1)
    ours = swap_value(_ours(z), notional=1_000_000.0, fixed_pct=2.0, freq=2, maturity=5.0, payer=False,
                      elapsed=2 / 12, fixing_pct=2.1)
    assert float(ours) == pytest.approx(swap.NPV(), rel=RTOL)
    with pytest.raises(ValueError, match="fixing"):
        swap_value(_ours(z), notional=1.0, fixed_pct=2.0, freq=2, maturity=5.0, payer=False, elapsed=2 / 12)


def test_at_the_par_rate_a_fresh_swap_is_worth_nothing():
    c = _ours(_curves()[0])
    t = coupon_times(10.0, 2)
    par = 100.0 * 2 * (1.0 - float(c.discount(10.0))) / float(c.discount(t).sum())
    assert abs(float(swap_value(c, notional=1e6, fixed_pct=par, freq=2, maturity=10.0, payer=True))) < 1e-6


@pytest.mark.parametrize("call", [True, False])
@pytest.mark.parametrize("months, strike, vol, r, q", [(1, 80.0, 15.0, 2.0, 0.0), (6, 100.0, 25.0, -0.5, 1.0),
                                                       (12, 120.0, 40.0, 4.0, 2.5), (36, 60.0, 80.0, 1.0, 0.0),
                                                       (3, 150.0, 10.0, 0.0, 3.0)])
def test_black_scholes_matches_quantlib(call, months, strike, vol, r, q):
    spot = 100.0
    expiry = REF + ql.Period(months, ql.Months)
    payoff = ql.PlainVanillaPayoff(ql.Option.Call if call else ql.Option.Put, strike)
    opt = ql.EuropeanOption(payoff, ql.EuropeanExercise(expiry))
    flat = lambda x: ql.YieldTermStructureHandle(ql.FlatForward(REF, x / 100.0, DC, ql.Continuous))  # noqa: E731
    proc = ql.BlackScholesMertonProcess(ql.QuoteHandle(ql.SimpleQuote(spot)), flat(q), flat(r),
                                        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(REF, CAL, vol / 100.0, DC)))
    opt.setPricingEngine(ql.AnalyticEuropeanEngine(proc))
    ours = black_scholes(spot, strike, vol, months / 12.0, r, q, call=call)
    assert float(ours) == pytest.approx(opt.NPV(), rel=RTOL, abs=1e-12)


def test_put_call_parity_and_black76():
    s, k, t, r, q = np.array([70.0, 100.0, 140.0]), 100.0, 0.75, 3.0, 1.0
    c = black_scholes(s, k, 30.0, t, r, q, call=True)
    p = black_scholes(s, k, 30.0, t, r, q, call=False)
    np.testing.assert_allclose(c - p, s * math.exp(-q / 100 * t) - k * math.exp(-r / 100 * t), rtol=1e-12)
    for fwd, strike, vol, tt, df in [(100.0, 90.0, 20.0, 0.5, 0.98), (55.0, 70.0, 45.0, 2.0, 0.9), (10.0, 10.0, 5.0, 0.1, 1.0)]:
        sd = vol / 100 * math.sqrt(tt)
        for call in (True, False):
            ref = ql.blackFormula(ql.Option.Call if call else ql.Option.Put, strike, fwd, sd, df)
            assert float(black76(fwd, strike, vol, tt, df, call=call)) == pytest.approx(ref, rel=RTOL)
    assert float(black_scholes(120.0, 100.0, 30.0, 0.0, call=True)) == 20.0  # at expiry: the payoff


def test_fx_forward_matches_quantlib_and_covered_interest_parity():
    # buy EUR 1m at 1.12 USD in 18 months; USD and EUR zero curves flat (continuous)
    t_m, spot, strike = 18, 1.10, 1.12
    r_usd, r_eur = 2.0, -0.5
    usd = ql.YieldTermStructureHandle(ql.FlatForward(REF, r_usd / 100, DC, ql.Continuous))
    eur = ql.YieldTermStructureHandle(ql.FlatForward(REF, r_eur / 100, DC, ql.Continuous))
    fwd = ql.FxForward(1_000_000.0, ql.EURCurrency(), ql.USDCurrency(), strike, REF + ql.Period(t_m, ql.Months),
                       False, 0, CAL)
    fwd.setPricingEngine(ql.DiscountingFxForwardEngine(eur, usd, ql.QuoteHandle(ql.SimpleQuote(spot))))
    t = t_m / 12
    ours = fx_forward_value(spot, strike, 1_000_000.0, t, math.exp(-r_usd / 100 * t), math.exp(-r_eur / 100 * t))
    # QuantLib states the value in the source currency (EUR); ours is in the reporting currency (USD)
    assert float(ours) == pytest.approx(fwd.NPV() * spot, rel=RTOL)
    # at the forward rate it is worth nothing
    f = spot * math.exp((r_usd - r_eur) / 100 * t)
    assert abs(float(fx_forward_value(spot, f, 1e6, t, math.exp(-r_usd / 100 * t), math.exp(-r_eur / 100 * t)))) < 1e-6


def test_bootstrap_reproduces_par_bonds_and_quantlib_bootstrap():
    tenors = [0.25, 2.0, 5.0, 10.0, 30.0]
    par = np.array([[1.5, 1.8, 2.3, 2.9, 3.3], [-0.4, -0.2, 0.3, 0.8, 1.2], [5.0, 4.6, 4.3, 4.2, 4.4]])
    curve = bootstrap_par_curve(tenors, par)
    # flat par yield y: flat zero rate 2 ln(1 + y / 2)
    flat = bootstrap_par_curve(tenors, np.full(5, 3.0))
    np.testing.assert_allclose(flat.zero, 2 * math.log1p(0.015), rtol=1e-14)
    # every coupon-grid tenor's par bond prices at par under the bootstrapped curve
    for n in (1, 4, 10, 20, 60):
        y = np.array([np.interp(n / 2, tenors, row) for row in par])
        v = np.empty(par.shape[0])
        for i in range(par.shape[0]):
            v[i] = float(bond_value(ZeroCurve(curve.times, curve.zero[i]), notional=100.0, coupon_pct=y[i], freq=2,
                                    maturity=n / 2))
        np.testing.assert_allclose(v, 100.0, rtol=1e-12)
    # QuantLib's piecewise bootstrap of the same par bonds gives the same discount factors at the nodes
    row = par[1]
    helpers = []
    for n in range(1, 61):
        y = float(np.interp(n / 2, tenors, row))
        maturity = REF + ql.Period(6 * n, ql.Months)
        sched = ql.Schedule(REF, maturity, ql.Period(6, ql.Months), CAL, ql.Unadjusted, ql.Unadjusted,
                            ql.DateGeneration.Backward, False)
        helpers.append(ql.FixedRateBondHelper(ql.QuoteHandle(ql.SimpleQuote(100.0)), 0, 100.0, sched, [y / 100], DC))
    qc = ql.PiecewiseLogLinearDiscount(REF, helpers, DC)
    ours = ZeroCurve(curve.times, curve.zero[1])
    for n in (1, 3, 10, 25, 60):
        assert float(ours.discount(n / 2)) == pytest.approx(qc.discount(REF + ql.Period(6 * n, ql.Months)), rel=1e-10)
    # a 3-month bill: (1 + y / 2)^(-0.5)
    assert float(ours.discount(0.25)) == pytest.approx((1 + row[0] / 200) ** -0.5, rel=1e-14)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="increasing"):
        ZeroCurve(np.array([1.0, 0.5]), np.zeros(2))
    with pytest.raises(ValueError, match="tenors"):
        bootstrap_par_curve([0.25, 2.0], np.zeros(3))
    with pytest.raises(ValueError, match="maturity"):
        coupon_times(-1.0, 2)


def test_the_revaluation_exponential_is_within_two_ulp_of_libm():
    from numba import njit

    from simulator.instruments._kernels import _INV_FACT, _POW2, _exp

    @njit
    def many(xs):
        out = np.empty_like(xs)
        for i in range(xs.size):
            out[i] = _exp(xs[i], _POW2, _INV_FACT)
        return out

    rng = np.random.default_rng(3)
    xs = np.concatenate([np.linspace(-708.0, 708.0, 200_001), rng.uniform(-20.0, 5.0, 200_000),
                         [0.0, -0.0, 1e-300, -1e-300, math.log(2.0), -math.log(2.0) / 2]])
    ref = np.exp(xs)
    ulp = np.spacing(ref)
    assert np.max(np.abs(many(xs) - ref) / ulp) <= 2.0
    # clamped beyond +-708 rather than overflowing: no discount factor of a real curve gets there
    np.testing.assert_allclose(many(np.array([-1e4, 1e4])), [math.exp(-708.0), math.exp(708.0)], rtol=5e-16)


def test_flow_schedule_discounts_the_same_date_once_and_the_kernel_matches_plain_numpy():
    from simulator.instruments._kernels import TIME_RESOLUTION, discounted_flows, flow_schedule

    times = np.array([0.25, 2.0, 5.0, 10.0, 30.0])
    t = np.array([10.5 - 0.5, 10.0, 0.1, 31.0, 7.0 / 12 - 0.5, 1.0 / 12, 3.0])  # 10.0 twice, 1/12 twice
    lo, hi, w, tu, start, order = flow_schedule(times, t)
    assert tu.size == 5 and np.all(np.diff(tu) > TIME_RESOLUTION) and start.tolist()[-1] == t.size
    rng = np.random.default_rng(5)
    n = 37  # not a multiple of the kernel's lanes
    zero = rng.normal(0.02, 0.02, (n, times.size))  # negative rates included
    spread = rng.uniform(0.0, 0.03, n)
    amount = rng.uniform(-1e6, 1e6, t.size)
    column = np.array([0, 1, 1, 2, 0, 2, 1])
    out = np.zeros((n, 3))
    discounted_flows(zero, lo, hi, w, tu, start, amount[order], column[order], spread, out)
    z = np.stack([np.interp(t, times, zero[i]) for i in range(n)])
    plain = amount * np.exp(-(z + spread[:, None]) * t)
    expected = np.stack([plain[:, column == c].sum(axis=1) for c in range(3)], axis=1)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-6)
