"""Full revaluation of an instrument book on simulated markets: per-position P&L on every path.

A :class:`MarketState` holds, for one simulated day and every path, the price relatives of price and
FX factors (level / as-of level), the curves, spreads and implied volatilities. :func:`book_pnl`
values each position at the as-of date (day 0) and at the horizon on every path, adds the cash it
paid or received in between (bond coupons and principal; swap net coupons, each floating rate fixed
from the simulated curve on its reset day) and returns ``value(horizon) + cash - value(0)``: exact
revaluation, no sensitivities. Cash is not reinvested. Times are ``days / 252`` years.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from simulator.instruments._kernels import discounted_flows, flow_schedule
from simulator.instruments.curves import TRADING_DAYS_PER_YEAR, ZeroCurve
from simulator.instruments.pricing import (black76, black_scholes, bond_cash, bond_value, coupon_times,
                                           fx_forward_value, swap_value)

__all__ = ["MarketState", "position_value", "book_values", "as_of_values", "book_pnl", "book_pnl_matrix",
           "days_needed"]


@dataclass(frozen=True)
class MarketState:
    """The simulated market on one day, for ``n`` paths.

    Attributes
    ----------
    day : int
        Trading days after the as-of date (0 = as-of).
    relatives : mapping factor -> ndarray (n,)
        Price / FX factors: level divided by the as-of level.
    curves : mapping curve -> ZeroCurve with leading axis (n,)
    spreads_bp : mapping factor -> ndarray (n,)
        Spread factors in basis points.
    vols_pct : mapping factor -> ndarray (n,)
        Implied-volatility factors in percent.
    """

    day: int
    relatives: Mapping[str, np.ndarray] = field(default_factory=dict)
    curves: Mapping[str, ZeroCurve] = field(default_factory=dict)
    spreads_bp: Mapping[str, np.ndarray] = field(default_factory=dict)
    vols_pct: Mapping[str, np.ndarray] = field(default_factory=dict)

    @property
    def years(self) -> float:
        return self.day / TRADING_DAYS_PER_YEAR


def _rate_and_df(p, state: MarketState, t: float):
    """Domestic continuously compounded rate (percent) and discount factor to ``t`` for an option or FX
    forward: from its curve when it names one, else its fixed ``rate_pct``."""
    if p.curve is not None:
        df = state.curves[p.curve].discount(t)
        rate = -np.log(df) / t * 100.0 if t > 0 else np.zeros_like(df)
        return rate, df
    return np.asarray(p.rate_pct, dtype=float), np.exp(-p.rate_pct / 100.0 * t)


def position_value(p, state: MarketState, fixing_pct=None) -> np.ndarray:
    """Value of position ``p`` (a :mod:`scenarios.book` row) in ``state``, per path."""
    e = state.years
    if p.kind == "linear":
        return p.amount * state.relatives[p.factor]
    if p.kind == "bond":
        spread = p.spread_bp + (state.spreads_bp[p.spread_factor] if p.spread_factor else 0.0)
        return bond_value(state.curves[p.curve], notional=p.notional, coupon_pct=p.coupon_pct, freq=p.freq,
                          maturity=p.maturity_years, elapsed=e, spread_bp=spread)
    if p.kind == "swap":
        if p.maturity_years <= e + 1e-12:
            return np.zeros(state.curves[p.curve].zero.shape[:-1])
        return swap_value(state.curves[p.curve], notional=p.notional, fixed_pct=p.fixed_pct, freq=p.freq,
                          maturity=p.maturity_years, payer=p.side == "payer", elapsed=e, fixing_pct=fixing_pct)
    if p.kind == "option":
        s = p.spot * state.relatives[p.factor]
        vol = state.vols_pct[p.vol_factor] if p.vol_factor else p.vol_pct
        t = max(p.expiry_years - e, 0.0)
        rate, df = _rate_and_df(p, state, t)
        call = p.option_type == "call"
        if p.style == "futures":
            return p.quantity * black76(s, p.strike, vol, t, df, call=call)
        return p.quantity * black_scholes(s, p.strike, vol, t, rate, p.div_pct, call=call)
    if p.kind == "fx_forward":
        s = p.spot * state.relatives[p.factor]
        t = max(p.maturity_years - e, 0.0)
        _, df_d = _rate_and_df(p, state, t)
        return fx_forward_value(s, p.strike, p.notional, t, df_d, np.exp(-p.foreign_rate_pct / 100.0 * t))
    raise ValueError(f"position {p.id!r}: unknown kind {p.kind!r}")


def _resets(p, horizon_years: float) -> list[float]:
    """Reset times (years) of a swap's floating periods that start before ``horizon_years``."""
    pay = coupon_times(p.maturity_years, p.freq)
    starts = np.concatenate([[0.0], pay[:-1]])
    return [float(s) for s in starts if s < horizon_years - 1e-12]


def days_needed(book, horizon_days: int) -> list[int]:
    """Trading days whose simulated market :func:`book_pnl` reads: 0, the horizon and every swap reset
    before it (rounded to the nearest trading day)."""
    days = {0, int(horizon_days)}
    for p in book.positions:
        if p.kind == "swap":
            days |= {int(round(s * TRADING_DAYS_PER_YEAR)) for s in _resets(p, horizon_days / TRADING_DAYS_PER_YEAR)}
    return sorted(d for d in days if 0 <= d <= horizon_days)


def _fixing(curve: ZeroCurve, freq: int) -> np.ndarray:
    """The simple rate of a ``1 / freq``-year period starting now, percent: ``(1 / DF(tau) - 1) / tau``."""
    tau = 1.0 / freq
    return (1.0 / curve.discount(tau) - 1.0) / tau * 100.0


def book_values(positions, state: MarketState, fixings: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
    """Values of many positions in ``state`` at once: an array (n_paths, n_positions).

    Bonds and swaps on the same curve (and spread factor) are valued in one numba pass over paths and
    their cash flows (:func:`simulator.instruments._kernels.discounted_flows`: no flows-by-paths
    temporary); options, FX forwards and linear positions one by one (each is a few array operations).
    Equals :func:`position_value` column by column. ``fixings`` holds the current
    period's floating rate (percent, per path) of swaps valued inside a period."""
    fixings = fixings or {}
    e = state.years
    n = _n_paths(state)
    out = np.zeros((n, len(positions)), order="F")  # column-major: each position's values contiguous
    groups: dict[tuple, list[tuple[int, object]]] = {}
    for j, p in enumerate(positions):
        if p.kind in ("bond", "swap"):
            groups.setdefault((p.curve, getattr(p, "spread_factor", None)), []).append((j, p))
        else:
            out[:, j] = position_value(p, state)
    for (curve_name, spread_factor), members in groups.items():
        curve = state.curves[curve_name]
        zero = np.ascontiguousarray(np.broadcast_to(curve.zero.reshape(-1, curve.times.size), (n, curve.times.size)))
        spread = (np.ascontiguousarray(np.broadcast_to(np.asarray(state.spreads_bp[spread_factor], dtype=float), (n,))) / 1e4
                  if spread_factor is not None else np.zeros(n))
        ts, amts, cols = [], [], []
        first_col: dict[int, int] = {}  # member -> column holding DF(first payment) (swaps inside a period)
        n_cols = len(members)
        for k, (_j, p) in enumerate(members):
            t = coupon_times(p.maturity_years, p.freq)
            t = t[t > e + 1e-12] - e
            if t.size == 0:
                continue
            if p.kind == "bond":
                cf = np.full(t.size, p.notional * p.coupon_pct / 100.0 / p.freq)
                cf[-1] += p.notional
                ts.append(t), amts.append(cf * np.exp(-p.spread_bp / 1e4 * t)), cols.append(np.full(t.size, k))
            else:  # receiver: fixed leg + N DF(T) (the floating leg's final term); the rest below
                cf = np.full(t.size, p.notional * p.fixed_pct / 100.0 / p.freq)
                cf[-1] += p.notional
                ts.append(t), amts.append(cf), cols.append(np.full(t.size, k))
                if t[0] - 1.0 / p.freq < -1e-12:  # inside a floating period: DF of its payment, in its own column
                    first_col[k] = n_cols
                    ts.append(t[:1]), amts.append(np.ones(1)), cols.append(np.full(1, n_cols))
                    n_cols += 1
        acc = np.zeros((n, n_cols), order="F")
        if ts:
            lo, hi, w, tu, start, order = flow_schedule(curve.times, np.concatenate(ts))
            discounted_flows(zero, lo, hi, w, tu, start, np.concatenate(amts)[order],
                             np.concatenate(cols).astype(np.int64)[order], spread, acc)
        for k, (j, p) in enumerate(members):
            v = acc[:, k]
            if p.kind == "swap" and p.maturity_years > e + 1e-12:
                if k not in first_col:
                    v = v - p.notional
                elif p.id in fixings:
                    v = v - p.notional * acc[:, first_col[k]] * (1.0 + np.asarray(fixings[p.id]) / 100.0 / p.freq)
                else:
                    raise ValueError(f"swap {p.id!r}: valued inside a floating period without its fixing")
                if p.side == "payer":
                    v = -v
            out[:, j] = v
    return out


def _n_paths(state: MarketState) -> int:
    for group in (state.relatives, state.spreads_bp, state.vols_pct):
        for x in group.values():
            return int(np.size(x))
    for c in state.curves.values():
        return int(np.prod(c.zero.shape[:-1])) if c.zero.ndim > 1 else 1
    return 1


def book_pnl(book, state_at: Callable[[int], MarketState], horizon_days: int) -> dict[str, np.ndarray]:
    """P&L of every position from the as-of date to ``horizon_days``, per path, by full revaluation.

    ``state_at(day)`` gives the simulated market on each day :func:`days_needed` lists. Returns a dict
    position id -> ndarray (n_paths,), gains positive, in the book's currency."""
    pnl = book_pnl_matrix(book, state_at, horizon_days)
    return {p.id: pnl[:, j] for j, p in enumerate(book.positions)}


def book_pnl_matrix(book, state_at: Callable[[int], MarketState], horizon_days: int, *,
                    values0: np.ndarray | None = None) -> np.ndarray:
    """:func:`book_pnl` as an array (n_paths, n_positions), columns in the book's order.

    ``values0`` (the as-of values, :func:`book_values` of day 0) saves their computation when several
    horizons are revalued on the same paths."""
    h_years = horizon_days / TRADING_DAYS_PER_YEAR
    cache: dict[int, MarketState] = {}

    def at(day: int) -> MarketState:
        if day not in cache:
            cache[day] = state_at(day)
        return cache[day]

    sh = at(int(horizon_days))
    cash = np.zeros((_n_paths(sh), len(book.positions)), order="F")
    fixing_h: dict[str, np.ndarray] = {}
    for j, p in enumerate(book.positions):
        if p.kind == "bond":
            cash[:, j] = bond_cash(notional=p.notional, coupon_pct=p.coupon_pct, freq=p.freq,
                                   maturity=p.maturity_years, elapsed=h_years)
        elif p.kind == "swap":
            resets = _resets(p, h_years)
            fixings = [_fixing(at(int(round(r * TRADING_DAYS_PER_YEAR))).curves[p.curve], p.freq) for r in resets]
            pay = coupon_times(p.maturity_years, p.freq)
            paid = [i for i, t in enumerate(pay) if t <= h_years + 1e-12]
            sign = -1.0 if p.side == "payer" else 1.0
            for i in paid:
                cash[:, j] += sign * p.notional / p.freq * (p.fixed_pct - fixings[i]) / 100.0
            if len(fixings) > len(paid):
                fixing_h[p.id] = fixings[len(paid)]  # the period running at the horizon
    if values0 is None:
        values0 = as_of_values(book, at(0))
    return book_values(book.positions, sh, fixing_h) + cash - values0


def as_of_values(book, state: MarketState) -> np.ndarray:
    """:func:`book_values` of the as-of market: computed once and broadcast over the paths when every path
    holds the same as-of market (the usual case: a read-only view, no copy per path), else path by path.
    Shape (n_paths, n_positions)."""
    n = _n_paths(state)
    arrays = [*state.relatives.values(), *state.spreads_bp.values(), *state.vols_pct.values(),
              *(c.zero for c in state.curves.values())]
    same = all(np.ndim(a) == 0 or np.all(np.asarray(a) == np.asarray(a).reshape(-1, *np.shape(a)[1:])[:1])
               for a in arrays)
    if not same or n == 1:
        return book_values(book.positions, state)
    one = MarketState(day=state.day,
                      relatives={k: np.asarray(v).reshape(-1)[:1] for k, v in state.relatives.items()},
                      curves={k: ZeroCurve(c.times, c.zero.reshape(-1, c.times.size)[:1]) for k, c in state.curves.items()},
                      spreads_bp={k: np.asarray(v).reshape(-1)[:1] for k, v in state.spreads_bp.items()},
                      vols_pct={k: np.asarray(v).reshape(-1)[:1] for k, v in state.vols_pct.items()})
    return np.broadcast_to(book_values(book.positions, one), (n, len(book.positions)))
