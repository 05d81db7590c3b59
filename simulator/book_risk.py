"""Risk of an instrument book on a simulated run: full revaluation at every horizon, sensitivities,
P&L attribution by factor class and the simulated curves.

A run with a book (``stress-sim run --book FILE``, ``run_scenario(..., book=)``) keeps its daily paths;
each factor's level on a day is its as-of level moved by the simulated changes to that day
(:meth:`simulator.model.FactorSpec.levels`), each curve is bootstrapped per path from its rate factors,
and every position is revalued in full (:mod:`simulator.instruments`). The portfolio P&L at a horizon is
the sum over positions; Euler ES contributions are per position. Everything is in the book's currency,
gains positive, over trading days.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from simulator.exceptions import UserInputError
from simulator.instruments.factors import FACTOR_CLASSES, Factor, attribute_pnl, market_state, sensitivities
from simulator.instruments.revalue import as_of_values, book_pnl_matrix

__all__ = ["validate_book", "model_factors", "book_levels", "book_pnl_by_horizon", "book_fan_pnl", "as_of_book_value",
           "book_document", "curve_document", "book_attribution", "attribution_classes", "curve_factor_names",
           "curve_level_rows"]

#: Paths revalued at a time (bounds the memory of the per-path curves).
BLOCK_PATHS = 20_000
#: Days of the value fan of a book run (revaluing every day costs a revaluation per day).
FAN_POINTS = 26
_KIND_OF = {"linear": ("price", "fx"), "option": ("price", "fx"), "fx_forward": ("fx", "price")}


def model_factors(model) -> list[Factor]:
    """The model's assets as :class:`simulator.instruments.factors.Factor` (kind, curve, tenor)."""
    out = []
    for a in model.assets:
        f = model.factor(a)
        out.append(Factor(a, f.kind, f.curve, f.tenor_years))
    return out


def validate_book(book, model) -> None:
    """Every position's factors exist in the model with the right kind and an as-of level; one line
    naming the position, the column and what the model has."""
    kinds = {a: model.kind(a) for a in model.assets}
    curves = sorted({model.factor(a).curve for a in model.assets if kinds[a] == "rate"})
    where = book.source

    def need(p, column: str, name: str, allowed: tuple[str, ...]) -> None:
        if name not in kinds:
            raise UserInputError(f"{where}: position {p.id!r}: column {column!r}: {name!r} is not a model asset "
                                 f"(model assets: {', '.join(model.assets)})")
        if kinds[name] not in allowed:
            raise UserInputError(f"{where}: position {p.id!r}: column {column!r}: {name!r} is a {kinds[name]} factor; "
                                 f"a {p.kind} position needs a {' or '.join(allowed)} factor")
        if model.factor(name).level is None:
            raise UserInputError(f"{where}: position {p.id!r}: the model gives no as-of level for {name!r} "
                                 "(model.factors); a book is revalued from levels")

    for p in book.positions:
        if p.kind in _KIND_OF:
            need(p, "factor", p.factor, _KIND_OF[p.kind])
        if getattr(p, "curve", None) is not None and p.curve not in curves:
            raise UserInputError(f"{where}: position {p.id!r}: column 'curve': the model has no curve {p.curve!r} "
                                 f"(its curves: {', '.join(curves) or 'none: it has no rate factors'})")
        if p.kind in ("bond", "swap", "option", "fx_forward") and getattr(p, "curve", None) is not None:
            for a in model.assets:
                if kinds[a] == "rate" and model.factor(a).curve == p.curve and model.factor(a).level is None:
                    raise UserInputError(f"{where}: position {p.id!r}: rate factor {a!r} has no as-of level")
        if getattr(p, "spread_factor", None):
            need(p, "spread_factor", p.spread_factor, ("spread",))
        if getattr(p, "vol_factor", None):
            need(p, "vol_factor", p.vol_factor, ("vol",))
    for p in book.positions:
        if p.kind == "option" and p.spot <= 0:
            raise UserInputError(f"{where}: position {p.id!r}: spot must be > 0")


def book_levels(model, returns: np.ndarray, day: int) -> dict[str, np.ndarray]:
    """Each factor's level on ``day`` (0 = as-of) per path, from simulated daily changes (paths, days, assets)."""
    n = returns.shape[0]
    cum = returns[:, :day, :].sum(axis=1) if day > 0 else np.zeros((n, returns.shape[2]))
    out = {}
    for j, a in enumerate(model.assets):
        spec = model.factor(a)
        out[a] = spec.levels(cum[:, j]) if spec.level is not None else np.full(n, np.nan)
    return out


def _asof(model) -> dict[str, float]:
    return {a: float(model.factor(a).level) for a in model.assets if model.factor(a).level is not None}


def book_pnl_by_horizon(book, model, returns: np.ndarray, horizons: Sequence[int]) -> dict[int, np.ndarray]:
    """Per-position P&L (paths, positions) at each horizon (trading days), by full revaluation, in blocks of
    paths."""
    factors = [f for f in model_factors(model) if model.factor(f.name).level is not None]
    asof = _asof(model)
    n = returns.shape[0]
    out = {int(h): np.empty((n, len(book.positions))) for h in horizons}
    for lo in range(0, n, BLOCK_PATHS):
        hi = min(n, lo + BLOCK_PATHS)
        block = returns[lo:hi]

        def state_at(day: int, block=block):
            return market_state(factors, book_levels(model, block, day), asof, day)

        v0 = as_of_values(book, state_at(0))
        for h in horizons:
            out[int(h)][lo:hi] = book_pnl_matrix(book, state_at, int(h), values0=v0)
    return out


def as_of_book_value(book, model) -> float:
    """The book's value at the as-of date (its positions on the model's as-of levels), in its currency."""
    factors = [f for f in model_factors(model) if model.factor(f.name).level is not None]
    asof = _asof(model)
    return float(as_of_values(book, market_state(factors, {a: np.array([v]) for a, v in asof.items()}, asof, 0)).sum())


def _fan_days(horizon: int, horizons: Sequence[int]) -> list[int]:
    grid = np.unique(np.round(np.linspace(0, horizon, FAN_POINTS)).astype(int))
    return sorted({0, int(horizon), *[int(d) for d in grid], *[int(h) for h in horizons if h <= horizon]})


def book_fan_pnl(book, model, returns: np.ndarray, horizon: int, horizons: Sequence[int]) -> dict[int, np.ndarray]:
    """Book P&L (paths,) on the fan's days (about :data:`FAN_POINTS` days from 0 to ``horizon``)."""
    days = [d for d in _fan_days(horizon, horizons) if d > 0]
    per = book_pnl_by_horizon(book, model, returns, days)
    return {0: np.zeros(returns.shape[0]), **{d: per[d].sum(axis=1) for d in days}}


def _tail_mean(x: np.ndarray, total: np.ndarray, level: float) -> float:
    """Mean of ``x`` over the paths in the worst ``1 - level`` of ``total`` (the ES tail)."""
    k = max(1, int(np.ceil((1.0 - level) * total.size)))
    idx = np.argsort(total)[:k]
    return float(np.mean(x[idx]))


def book_attribution(book, model, returns: np.ndarray, horizon: int) -> dict[str, np.ndarray]:
    """The book's P&L to ``horizon`` days split by factor class, per path (class -> (n_paths,); see
    :func:`simulator.instruments.factors.attribute_pnl`), path by path in blocks."""
    factors = [f for f in model_factors(model) if model.factor(f.name).level is not None]
    asof = _asof(model)
    att: dict[str, list[np.ndarray]] = {}
    for lo in range(0, returns.shape[0], BLOCK_PATHS):
        hi = min(returns.shape[0], lo + BLOCK_PATHS)
        block = returns[lo:hi]
        parts = attribute_pnl(book, factors, lambda d, block=block: book_levels(model, block, d), asof, int(horizon))
        for k, v in parts.items():
            att.setdefault(k, []).append(v)
    return {k: np.concatenate(v) for k, v in att.items()}


def attribution_classes(book, model) -> list[str]:
    """The factor classes :func:`book_attribution` returns, in its order (they depend on the model's factors)."""
    return list(book_attribution(book, model, np.zeros((1, 1, model.n_assets)), 1))


def book_document(book, model, returns: np.ndarray | None, pnl: Mapping[int, np.ndarray], *, horizon: int,
                  es_level: float, attribution: Mapping[str, np.ndarray] | None = None) -> dict[str, Any]:
    """``risk.json``'s ``book`` section: positions (as-of value, mean P&L, P&L in the ES tail, standalone ES),
    sensitivities at the as-of date, and the attribution of the P&L at ``horizon`` to factor classes (mean and
    ES-tail mean per class, the unexplained remainder). ``attribution``: :func:`book_attribution`, already
    computed (chunk by chunk where the paths ran); otherwise it is computed from ``returns``."""
    from simulator.risk import var_es

    factors = [f for f in model_factors(model) if model.factor(f.name).level is not None]
    asof = _asof(model)
    v0 = as_of_values(book, market_state(factors, {a: np.array([v]) for a, v in asof.items()}, asof, 0))[0]
    p = pnl[int(horizon)]
    total = p.sum(axis=1)
    positions = []
    for j, pos in enumerate(book.positions):
        positions.append({
            "id": pos.id, "kind": pos.kind,
            "factors": [getattr(pos, k) for k in ("factor", "curve", "spread_factor", "vol_factor")
                        if getattr(pos, k, None)],
            "value_as_of": float(v0[j]), "mean_pnl": float(p[:, j].mean()),
            "pnl_in_es_tail": _tail_mean(p[:, j], total, es_level),
            "standalone_es": float(var_es(p[:, j], [es_level])[es_level].es),
        })
    classes: dict[str, list[str]] = {}
    for pos in book.positions:
        classes.setdefault(pos.kind, []).append(pos.id)
    by_kind = {k: {"n": len(ids), "mean_pnl": float(p[:, [j for j, q in enumerate(book.positions) if q.kind == k]]
                                                    .sum(axis=1).mean()),
                   "pnl_in_es_tail": _tail_mean(p[:, [j for j, q in enumerate(book.positions) if q.kind == k]]
                                                .sum(axis=1), total, es_level)}
               for k, ids in classes.items()}
    sens = sensitivities(book, factors, asof)
    if attribution is None:
        if returns is None:
            raise ValueError("book_document needs the daily paths (returns) or the attribution")
        attribution = book_attribution(book, model, returns, int(horizon))
    att_full = dict(attribution)
    attribution = {k: {"mean_pnl": float(v.mean()), "pnl_in_es_tail": _tail_mean(v, total, es_level)}
                   for k, v in att_full.items()}
    return {
        "source": book.source, "currency": book.currency, "n_positions": len(book.positions),
        "value_as_of": float(np.sum(v0)), "horizon_days": int(horizon), "es_level": es_level,
        "positions": positions, "by_kind": by_kind, "sensitivities": sens,
        "attribution": {"horizon_days": int(horizon), "order": [c for c in FACTOR_CLASSES if c in att_full],
                        "classes": attribution,
                        "method": "sequential full revaluation: time (carry, theta, coupons, fixings) first, then "
                                  "each factor class moved to its simulated level in this order; unexplained is the "
                                  "full revaluation's P&L minus their sum"},
        "definitions": {
            "pnl_in_es_tail": f"mean P&L over the paths whose book P&L is in the worst {100 * (1 - es_level):g}% "
                              f"(the ES {100 * es_level:g}% tail) at {int(horizon)} days; gains positive",
            "dv01": "value change for a 1 bp fall of the tenor's par yield", "cs01": "same for a spread",
            "delta_1pct": "value change for a +1% move of the factor (central difference)",
            "gamma_1pct": "V(+1%) - 2 V + V(-1%)", "vega": "value change for +1 volatility point",
        },
    }


def curve_factor_names(model) -> list[str]:
    """The rate factors with an as-of level, in model order (the columns of :func:`curve_level_rows`)."""
    return [a for a in model.assets if model.factor(a).kind == "rate" and model.factor(a).level is not None]


def curve_level_rows(model, returns: np.ndarray, horizon: int) -> np.ndarray | None:
    """Par yields (percent) of every rate factor of :func:`curve_factor_names` per path at ``horizon`` and on the
    fan's days > 0: shape (n_paths, n_rate_factors, 1 + n_days), path by path; None without rate factors."""
    names = curve_factor_names(model)
    if not names:
        return None
    days = [int(horizon), *[d for d in _fan_days(horizon, ()) if d > 0]]
    cum = np.cumsum(returns, axis=1)
    out = np.empty((returns.shape[0], len(names), len(days)))
    for i, a in enumerate(names):
        j = model.assets.index(a)
        spec = model.factor(a)
        for k, d in enumerate(days):
            out[:, i, k] = spec.levels(cum[:, d - 1, j])
    return out


def curve_document(model, returns: np.ndarray | None, horizon: int,
                   quantiles: Sequence[float] = (0.01, 0.05, 0.5, 0.95, 0.99), *,
                   levels: Mapping[str, np.ndarray] | None = None) -> dict[str, Any]:
    """Each curve's par yields (percent) at the as-of date and their quantiles across paths at ``horizon``,
    and every rate factor's daily quantile fan (``fan``: day -> quantiles). ``levels``: each rate factor's
    :func:`curve_level_rows` columns (factor -> (n_paths, 1 + n_days)), already computed; otherwise they are
    computed from ``returns``."""
    out: dict[str, Any] = {}
    curves: dict[str, list[tuple[float, str]]] = {}
    for a in model.assets:
        f = model.factor(a)
        if f.kind == "rate" and f.level is not None:
            curves.setdefault(f.curve, []).append((f.tenor_years, a))
    if not curves:
        return out
    if levels is None:
        if returns is None:
            raise ValueError("curve_document needs the daily paths (returns) or the curve levels")
        rows = curve_level_rows(model, returns, horizon)
        levels = {a: rows[:, i, :] for i, a in enumerate(curve_factor_names(model))}
    days = _fan_days(horizon, ())
    for name, members in curves.items():
        members.sort()
        tenors = [t for t, _ in members]
        at_h = {}
        fan = {}
        for _t, a in members:
            spec = model.factor(a)
            lv = levels[a]
            at_h[a] = [float(v) for v in np.quantile(lv[:, 0], quantiles)]
            fan[a] = {"days": days, "quantiles": [[float(v) for v in np.quantile(
                lv[:, 1 + [x for x in days if x > 0].index(d)] if d > 0 else np.full(1, spec.level), quantiles)]
                for d in days]}
        out[name] = {"tenors_years": tenors, "factors": [a for _, a in members],
                     "as_of": [float(model.factor(a).level) for _, a in members], "quantiles": list(quantiles),
                     "at_horizon": [at_h[a] for _, a in members], "horizon_days": int(horizon), "fan": fan,
                     "units": "percent (par yield)"}
    return out
