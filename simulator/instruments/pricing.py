"""Full-revaluation pricers, vectorised over paths: bonds, swaps, European options, FX forwards.

Units: amounts in the book's currency; rates, yields, strikes of rates and volatilities in percent
where the book gives them (converted to decimals here); time in years (see
:mod:`simulator.instruments.curves` for the conventions). Every pricer takes an ``elapsed`` time:
the valuation is at ``elapsed`` years after the as-of date (a risk horizon), on the market of that
date, with the instrument's remaining cash flows; cash paid out before ``elapsed`` is returned
separately (``*_cash``) so that P&L = value at the horizon + cash received - value at the as-of date.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import special

from simulator.instruments.curves import ZeroCurve

__all__ = [
    "coupon_times", "bond_value", "bond_cash", "swap_value", "swap_cash", "black_scholes", "black76",
    "fx_forward_value",
]


def coupon_times(maturity: float, freq: int) -> np.ndarray:
    """Payment times (years from the as-of date) of a bullet schedule: every ``1 / freq`` years counting
    back from ``maturity``, the first at most ``1 / freq`` after the as-of date."""
    if maturity <= 0:
        raise ValueError(f"maturity must be in the future, got {maturity!r} years")
    n = int(math.ceil(maturity * freq - 1e-9))
    return maturity - np.arange(n - 1, -1, -1) / freq


def _remaining(times: np.ndarray, elapsed: float) -> np.ndarray:
    return times[times > elapsed + 1e-12] - elapsed


def bond_value(curve: ZeroCurve, *, notional: float, coupon_pct: float, freq: int, maturity: float,
               elapsed: float = 0.0, spread_bp=0.0) -> np.ndarray:
    """Dirty value of a fixed-rate bullet bond: ``sum_i c / freq N DF(t_i) + N DF(T)``.

    ``coupon_pct`` is the annual coupon in percent, paid ``freq`` times a year; the discount factor of
    a flow at ``t`` years is the curve's times ``exp(-s t)`` with ``s = spread_bp / 1e4`` (a credit
    spread on the zero rate, scalar or per curve). Shape: the curve's leading axes."""
    t = _remaining(coupon_times(maturity, freq), elapsed)
    if t.size == 0:
        return np.zeros(curve.zero.shape[:-1])
    cf = np.full(t.size, notional * coupon_pct / 100.0 / freq)
    cf[-1] += notional
    s = np.asarray(spread_bp, dtype=float)[..., None] / 1e4
    return (curve.discount(t) * np.exp(-s * t) * cf).sum(axis=-1)


def bond_cash(*, notional: float, coupon_pct: float, freq: int, maturity: float, elapsed: float) -> float:
    """Coupons and principal paid between the as-of date (excluded) and ``elapsed`` (included)."""
    t = coupon_times(maturity, freq)
    paid = t[(t > 1e-12) & (t <= elapsed + 1e-12)]
    cash = paid.size * notional * coupon_pct / 100.0 / freq
    if maturity <= elapsed + 1e-12:
        cash += notional
    return float(cash)


def swap_value(curve: ZeroCurve, *, notional: float, fixed_pct: float, freq: int, maturity: float,
               payer: bool, elapsed: float = 0.0, fixing_pct=None) -> np.ndarray:
    """Value of a plain-vanilla fixed-vs-floating swap on one curve (forwarding = discounting).

    The swap starts at the as-of date; both legs pay every ``1 / freq`` years to ``maturity``; the
    floating rate of each period is fixed at its start from the curve of that date. At ``elapsed`` the
    fixed leg is ``K / freq N sum_i DF(t_i)``; the floating leg is the next payment, fixed at
    ``fixing_pct`` (percent, simple, for the current period; needed unless a period starts exactly at
    ``elapsed``, when the leg is at par), plus the remaining periods at par:
    ``N DF(t_next) (1 + L tau) - N DF(T)`` with ``tau = 1 / freq``; a fresh swap's floating leg is
    ``N (1 - DF(T))``. Receiver (``payer=False``): fixed minus floating; payer: the opposite."""
    t_all = coupon_times(maturity, freq)
    t = _remaining(t_all, elapsed)
    lead = curve.zero.shape[:-1]
    if t.size == 0:
        return np.zeros(lead)
    df = curve.discount(t)
    fixed = notional * fixed_pct / 100.0 / freq * df.sum(axis=-1)
    tau = 1.0 / freq
    start = (t[0] - tau)  # the current period's start relative to elapsed (<= 0)
    if start >= -1e-12:
        floating = notional * (1.0 - df[..., -1])
    elif fixing_pct is None:
        raise ValueError(f"valuing the swap {elapsed:.4f} years after the as-of date, inside a floating period, needs "
                         "that period's fixing (fixing_pct)")
    else:
        fix = np.asarray(fixing_pct, dtype=float) / 100.0
        floating = notional * (df[..., 0] * (1.0 + fix * tau) - df[..., -1])
    value = fixed - floating
    return -value if payer else value


def swap_cash(*, notional: float, fixed_pct: float, freq: int, maturity: float, payer: bool, elapsed: float,
              fixings_pct) -> np.ndarray:
    """Net coupons exchanged between the as-of date (excluded) and ``elapsed`` (included).

    ``fixings_pct`` (shape ``(..., k)``) are the floating rates of the ``k`` periods paid by then, in
    percent (each fixed at its period's start)."""
    t = coupon_times(maturity, freq)
    k = int(np.count_nonzero((t > 1e-12) & (t <= elapsed + 1e-12)))
    if k == 0:
        return np.zeros(np.shape(fixings_pct)[:-1] if np.ndim(fixings_pct) else ())
    fix = np.asarray(fixings_pct, dtype=float)[..., :k] / 100.0
    net = notional / freq * (fixed_pct / 100.0 * k - fix.sum(axis=-1))
    return -net if payer else net


def _norm_cdf(x):
    return special.ndtr(x)


def black_scholes(spot, strike: float, vol_pct, t: float, rate_pct=0.0, div_pct=0.0, *, call: bool) -> np.ndarray:
    """Black-Scholes-Merton price of a European option on one unit of the underlying.

    ``spot`` and ``strike`` in price units; ``vol_pct``, ``rate_pct`` (continuously compounded risk-free
    rate) and ``div_pct`` (continuous dividend or convenience yield) in percent a year; ``t`` years to
    expiry. At or after expiry the payoff. Array arguments broadcast."""
    s = np.asarray(spot, dtype=float)
    if t <= 0:
        return np.maximum(s - strike, 0.0) if call else np.maximum(strike - s, 0.0)
    df = np.exp(-np.asarray(rate_pct, dtype=float) / 100.0 * t)
    fwd = s * np.exp((np.asarray(rate_pct, dtype=float) - np.asarray(div_pct, dtype=float)) / 100.0 * t)
    return black76(fwd, strike, vol_pct, t, df, call=call)


def black76(forward, strike: float, vol_pct, t: float, discount, *, call: bool) -> np.ndarray:
    """Black (1976) price of a European option on a forward (futures-style underlying):
    ``DF (F N(d1) - K N(d2))`` for a call, ``DF (K N(-d2) - F N(-d1))`` for a put."""
    f = np.asarray(forward, dtype=float)
    df = np.asarray(discount, dtype=float)
    if t <= 0:
        return df * (np.maximum(f - strike, 0.0) if call else np.maximum(strike - f, 0.0))
    sd = np.asarray(vol_pct, dtype=float) / 100.0 * math.sqrt(t)
    with np.errstate(divide="ignore", invalid="ignore"):
        d1 = (np.log(f / strike) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    if call:
        return df * (f * _norm_cdf(d1) - strike * _norm_cdf(d2))
    return df * (strike * _norm_cdf(-d2) - f * _norm_cdf(-d1))


def fx_forward_value(spot, strike: float, notional_foreign: float, t: float, discount_domestic, discount_foreign
                     ) -> np.ndarray:
    """Value in the reporting currency of buying ``notional_foreign`` units of a foreign currency at
    ``strike`` (reporting currency per foreign unit) at ``t``: ``N (S DF_f(t) - K DF_d(t))``
    (covered interest parity); at or after ``t`` nothing remains (settled)."""
    if t <= 0:
        return np.zeros(np.shape(spot))
    s = np.asarray(spot, dtype=float)
    return notional_foreign * (s * np.asarray(discount_foreign, dtype=float) - strike * np.asarray(discount_domestic,
                                                                                                   dtype=float))
