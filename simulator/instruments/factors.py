"""Risk factors of a book's market: from factor levels to :class:`MarketState`, sensitivities and the
attribution of P&L to factor classes.

Factor kinds (the model's asset kinds): ``price`` and ``fx`` (levels; positions see their relative
move), ``rate`` (a par yield in percent at a ``tenor_years`` on a named ``curve``), ``spread`` (basis
points), ``vol`` (an implied volatility in percent). A curve is the bootstrapped zero curve of its rate
factors (:func:`simulator.instruments.curves.bootstrap_par_curve`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from simulator.instruments.curves import bootstrap_par_curve
from simulator.instruments.revalue import MarketState, book_pnl, position_value

__all__ = ["FACTOR_KINDS", "FACTOR_CLASSES", "Factor", "market_state", "sensitivities", "attribute_pnl"]

FACTOR_KINDS = ("price", "rate", "spread", "fx", "vol")
#: Attribution classes, in the order of the sequential attribution: time first (carry, theta, coupons),
#: then each factor class.
FACTOR_CLASSES = ("time", "equity", "rates", "spreads", "fx", "vol")
_CLASS_OF_KIND = {"price": "equity", "rate": "rates", "spread": "spreads", "fx": "fx", "vol": "vol"}


@dataclass(frozen=True)
class Factor:
    """One risk factor: its name, kind and, for rates, its curve and tenor (years)."""

    name: str
    kind: str = "price"
    curve: str | None = None
    tenor_years: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in FACTOR_KINDS:
            raise ValueError(f"factor {self.name!r}: kind {self.kind!r} is not one of {', '.join(FACTOR_KINDS)}")
        if self.kind == "rate" and (self.curve is None or self.tenor_years is None or self.tenor_years <= 0):
            raise ValueError(f"rate factor {self.name!r} needs a curve and a positive tenor_years")

    @property
    def factor_class(self) -> str:
        return _CLASS_OF_KIND[self.kind]


def market_state(factors: Sequence[Factor], levels: Mapping[str, np.ndarray], asof: Mapping[str, float],
                 day: int) -> MarketState:
    """The market of ``day`` from factor ``levels`` (per path) and the ``asof`` levels (scalars).

    Price and FX factors become relatives ``level / asof``; the rate factors of each curve, sorted by
    tenor, are bootstrapped into its zero curve; spreads and volatilities pass through."""
    rel, spreads, vols = {}, {}, {}
    by_curve: dict[str, list[Factor]] = {}
    for f in factors:
        x = np.asarray(levels[f.name], dtype=float)
        if f.kind in ("price", "fx"):
            rel[f.name] = x / float(asof[f.name])
        elif f.kind == "spread":
            spreads[f.name] = x
        elif f.kind == "vol":
            vols[f.name] = x
        else:
            by_curve.setdefault(f.curve, []).append(f)
    curves = {}
    for name, fs in by_curve.items():
        fs = sorted(fs, key=lambda f: f.tenor_years)
        par = np.stack([np.asarray(levels[f.name], dtype=float) for f in fs], axis=-1)
        curves[name] = bootstrap_par_curve([f.tenor_years for f in fs], par)
    return MarketState(day=day, relatives=rel, curves=curves, spreads_bp=spreads, vols_pct=vols)


def sensitivities(book, factors: Sequence[Factor], asof: Mapping[str, float]) -> list[dict]:
    """Sensitivities of every position at the as-of date, by full revaluation with central bumps.

    Rows: ``position``, ``factor``, ``measure`` and ``value`` (book currency):

    - rate factors: ``dv01``, the value change for a 1 bp fall of that tenor's par yield (positive
      for a long bond), ``(V(y - 1bp) - V(y + 1bp)) / 2``;
    - price / FX factors: ``delta_1pct`` (value change for a +1 % move, central) and ``gamma_1pct``
      (the second difference: ``V(+1 %) - 2 V + V(-1 %)``);
    - spread factors: ``cs01`` (a 1 bp fall, like dv01); vol factors: ``vega`` (a 1 vol-point rise,
      central).
    Zero sensitivities are omitted. Book totals are rows with ``position = "book"``."""
    base_levels = {f.name: np.array([float(asof[f.name])]) for f in factors}

    def values(levels) -> dict[str, float]:
        st = market_state(factors, levels, asof, 0)
        return {p.id: float(np.asarray(position_value(p, st)).ravel()[0]) for p in book.positions}

    rows = []
    for f in factors:
        x = float(asof[f.name])
        # bumps: +-1 % of a price, +-1 bp of a par yield (percent), +-1 bp of a spread, +-1 vol point
        bump = {"price": 0.01 * x, "fx": 0.01 * x, "rate": 0.01, "spread": 1.0, "vol": 1.0}[f.kind]
        up, dn = x + bump, x - bump
        v_up = values({**base_levels, f.name: np.array([up])})
        v_dn = values({**base_levels, f.name: np.array([dn])})
        v_0 = values(base_levels) if f.kind in ("price", "fx") else None
        for p in book.positions:
            if f.kind in ("price", "fx"):
                meas = {"delta_1pct": (v_up[p.id] - v_dn[p.id]) / 2.0,
                        "gamma_1pct": v_up[p.id] - 2.0 * v_0[p.id] + v_dn[p.id]}
            elif f.kind == "rate":
                meas = {"dv01": (v_dn[p.id] - v_up[p.id]) / 2.0}
            elif f.kind == "spread":
                meas = {"cs01": (v_dn[p.id] - v_up[p.id]) / 2.0}
            else:
                meas = {"vega": (v_up[p.id] - v_dn[p.id]) / 2.0}
            for m, v in meas.items():
                if abs(v) > 1e-9:
                    rows.append({"position": p.id, "factor": f.name, "measure": m, "value": v})
    totals: dict[tuple[str, str], float] = {}
    for r in rows:
        totals[(r["factor"], r["measure"])] = totals.get((r["factor"], r["measure"]), 0.0) + r["value"]
    rows += [{"position": "book", "factor": f, "measure": m, "value": v} for (f, m), v in totals.items()]
    return rows


def attribute_pnl(book, factors: Sequence[Factor], levels_at: Callable[[int], Mapping[str, np.ndarray]],
                  asof: Mapping[str, float], horizon_days: int) -> dict[str, np.ndarray]:
    """The book's P&L to ``horizon_days`` split by factor class, per path, by sequential full revaluation.

    Starting from the as-of market with time advanced (class ``time``: carry, theta, coupons and the
    fixings of resets, with every factor at its as-of level), the factor classes of
    :data:`FACTOR_CLASSES` move to their simulated levels one after another; each class gets the
    change of the book's P&L it causes. ``unexplained`` is the full revaluation's P&L minus their sum:
    zero up to rounding, since the steps telescope (the order matters for cross effects, e.g. an
    option's delta-vega term lands in the later class). Returns class -> ndarray (n_paths,)."""
    n = len(np.atleast_1d(next(iter(levels_at(horizon_days).values()))))
    classes = [c for c in FACTOR_CLASSES if c == "time" or any(f.factor_class == c for f in factors)]
    frozen = {f.name: np.full(n, float(asof[f.name])) for f in factors}

    def total(moved: set[str]) -> np.ndarray:
        def state_at(day: int) -> MarketState:
            lv = levels_at(day)
            mixed = {f.name: (np.asarray(lv[f.name], dtype=float) if f.factor_class in moved or day == 0
                              else frozen[f.name]) for f in factors}
            return market_state(factors, mixed, asof, day)
        return sum(book_pnl(book, state_at, horizon_days).values())

    out: dict[str, np.ndarray] = {}
    moved: set[str] = set()
    prev = np.zeros(n)
    for c in classes:
        if c != "time":
            moved.add(c)
        cur = total(moved)
        out[c] = cur - prev
        prev = cur

    def full_at(day: int) -> MarketState:
        return market_state(factors, levels_at(day), asof, day)

    out["unexplained"] = sum(book_pnl(book, full_at, horizon_days).values()) - prev
    return out
