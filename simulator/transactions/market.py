"""Coupling of the transaction feed to a market scenario.

The feed reads a per-day *market state* with two columns:

``drawdown``
    Fraction (>= 0) by which a market / portfolio index is below its running peak (0.25 = 25 %).
``vol_ratio``
    Conditional volatility divided by calm volatility (1.0 = calm, 2.0 = twice as volatile).

:func:`market_state_from_returns` reduces simulated returns of shape (n_paths, horizon, n_assets)
(percent log returns, what ``simulator.simulate(...).returns`` holds) to that state;
:func:`daily_multipliers` turns the state into per-day multipliers through the profile's
:class:`~simulator.transactions.profiles.Elasticities`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from .profiles import Elasticities, TransactionProfile

__all__ = ["market_state_from_returns", "validate_market", "daily_multipliers", "MarketMultipliers",
           "market_from_scenario", "scenario_days", "calm_index_volatility", "MARKET_CALENDARS", "MARKET_AFTER"]


def market_state_from_returns(returns, *, weights=None, calm_vol: float | None = None, smooth_days: int = 5):
    """Reduce simulated asset returns to a per-day market state.

    The index is a portfolio rebalanced daily to ``weights`` (equal weights by default): its daily
    simple return on path ``p`` is ``sum_a w_a (exp(r[p, t, a] / 100) - 1)``, its level the running
    product from 1.0 at the start. Then, for each day ``t``:

    * ``drawdown[t]`` is the cross-path **median** of ``1 - level[p, t] / max(1, max_{s<=t} level[p, s])``
      (the drawdown of the typical path, robust to a few extreme paths);
    * ``vol_ratio[t] = vol[t] / calm_vol`` where ``vol[t]`` is the **realised volatility level of the
      paths**: the root mean square of the index's daily log return (percent) over the paths and over
      a centred window of ``smooth_days`` days. It measures how much the index moves on the typical path,
      so a replayed day (the same move on every path) counts with its own size; it is not the spread
      across paths (which vanishes on replayed days). Paths whose return on a day lies more than 10
      robust scales (1.4826 x the median absolute deviation) from the day's median are left out of
      that day's mean, so a few exploding paths cannot set it; log returns beyond +-2000 % are clipped.
      ``calm_vol`` defaults to the minimum of ``vol`` over the horizon (the calmest stretch); pass the
      model's calm daily volatility of the index (percent), as :func:`market_from_scenario` does.

    Parameters
    ----------
    returns : array_like of shape (n_paths, horizon, n_assets)
        Percent log returns. A 2-D array is taken as one asset (n_paths, horizon).
    weights : array_like of shape (n_assets,), optional
        Index weights (normalised to sum to 1); equal weights by default.
    calm_vol : float, optional
        Calm daily volatility of the index in percent.
    smooth_days : int, default 5
        Width of the centred window of the realised volatility.

    Returns
    -------
    pandas.DataFrame
        Columns ``day`` (0..horizon-1), ``drawdown`` (fraction), ``vol_ratio``, ``index_median``
        (median index level), ``vol_pct`` (realised daily volatility, percent).
    """
    import pandas as pd

    r = np.asarray(returns, dtype=float)
    if r.ndim == 2:
        r = r[:, :, None]
    if r.ndim != 3:
        raise ValueError(f"returns must have shape (n_paths, horizon, n_assets), got shape {r.shape}")
    n_paths, horizon, n_assets = r.shape
    if n_paths < 1 or horizon < 1 or n_assets < 1:
        raise ValueError(f"returns must be non-empty, got shape {r.shape}")
    if not np.all(np.isfinite(r)):
        raise ValueError("returns contain NaN or infinite values")
    w = _index_weights(weights, n_assets)
    if not isinstance(smooth_days, (int, np.integer)) or smooth_days < 1:
        raise ValueError(f"smooth_days must be a positive integer, got {smooth_days!r}")
    # clip absurd log returns (|r| > 2000 %) so one exploding path cannot overflow the index
    simple = np.expm1(np.clip(r / 100.0, -20.0, 20.0)) @ w  # (n_paths, horizon)
    simple = np.maximum(simple, -0.999999)
    log_idx = np.cumsum(np.log1p(simple), axis=1)
    peak = np.maximum(np.maximum.accumulate(log_idx, axis=1), 0.0)
    dd = -np.expm1(log_idx - peak)
    drawdown = np.median(dd, axis=0)
    daily_log = 100.0 * np.log1p(simple)
    med = np.median(daily_log, axis=0)
    scale = 1.4826 * np.median(np.abs(daily_log - med), axis=0)
    # (a floor of 1e-9 for replayed days, where every path moves the same up to rounding)
    keep = np.abs(daily_log - med) <= 10.0 * scale + 1e-9 * (1.0 + np.abs(med))
    sq = np.where(keep, daily_log ** 2, 0.0).sum(axis=0)
    cnt = keep.sum(axis=0).astype(float)
    k = min(int(smooth_days), horizon)
    lo, hi = k // 2, k - 1 - k // 2
    pad = lambda x: np.pad(x, (lo, hi), mode="edge")  # noqa: E731
    kernel = np.ones(k)
    var = np.convolve(pad(sq), kernel, mode="valid") / np.maximum(np.convolve(pad(cnt), kernel, mode="valid"), 1.0)
    vol_s = np.sqrt(var)
    if calm_vol is None:
        calm = float(vol_s.min())
    else:
        calm = float(calm_vol)
        if not np.isfinite(calm) or calm <= 0:
            raise ValueError(f"calm_vol must be a positive daily volatility in percent, got {calm_vol!r}")
    ratio = vol_s / calm if calm > 0 else np.ones(horizon)
    return pd.DataFrame({"day": np.arange(horizon), "drawdown": np.clip(drawdown, 0.0, 1.0),
                         "vol_ratio": np.maximum(ratio, 1e-6), "index_median": np.exp(np.median(log_idx, axis=0)),
                         "vol_pct": vol_s})


def _index_weights(weights, n_assets: int) -> np.ndarray:
    if weights is None:
        return np.full(n_assets, 1.0 / n_assets)
    w = np.asarray(weights, dtype=float).ravel()
    if w.size != n_assets:
        raise ValueError(f"weights has {w.size} values but returns have {n_assets} assets")
    if not np.all(np.isfinite(w)) or w.sum() == 0:
        raise ValueError("weights must be finite with a non-zero sum")
    return w / w.sum()


def calm_index_volatility(model, weights=None) -> float:
    """Long-run (calm) daily volatility of the equal-weight index of ``model``'s assets, percent:
    ``sqrt(w' D C D w)`` with ``D`` the marginals' unconditional volatilities and ``C`` the copula's
    correlation matrix (identity for the Archimedean copulas, a documented approximation)."""
    n = len(model.assets)
    w = _index_weights(weights, n)
    sd = np.array([math.sqrt(m.unconditional_variance) for m in model.marginals])
    try:
        corr = np.asarray(model.copula.corr_matrix(n), dtype=float)
    except Exception:  # noqa: BLE001 - a copula without a correlation matrix: independence
        corr = np.eye(n)
    return float(math.sqrt(max(w @ (np.outer(sd, sd) * corr) @ w, 1e-12)))


def _load_model(model):
    """A MarketModel from a model, a JSON path or ``builtin:NAME``."""
    from simulator.model import MarketModel

    if isinstance(model, MarketModel):
        return model
    ref = str(model)
    if ref.startswith("builtin:"):
        from simulator.builtin import load_builtin_model

        return load_builtin_model(ref.split(":", 1)[1])
    return MarketModel.from_json(ref)


#: How feed days map to scenario days (``market_calendar``).
MARKET_CALENDARS = ("trading", "daily")
#: What the feed does after the scenario's last day (``market_after``).
MARKET_AFTER = ("hold", "calm")


def scenario_days(days: int, start_weekday: int, calendar: str = "trading") -> np.ndarray:
    """Scenario (trading) day of each feed (calendar) day.

    ``"trading"``: scenario days are trading days; feed day ``d`` takes the scenario day of the last
    weekday on or before it (Saturday and Sunday keep Friday's state; public holidays are not
    modelled), so a 42-trading-day scenario covers about 59 calendar days. A feed starting on a
    weekend uses scenario day 0 until the first Monday. ``"daily"``: feed day ``d`` is scenario day ``d``.
    """
    if calendar not in MARKET_CALENDARS:
        raise ValueError(f"market_calendar must be one of {MARKET_CALENDARS}, got {calendar!r}")
    d = np.arange(days)
    if calendar == "daily":
        return d
    weekday = (start_weekday + d) % 7 < 5
    return np.maximum(np.cumsum(weekday) - 1, 0)


def market_from_scenario(scenario, model, *, days: int | None = None, start_weekday: int = 0,
                         calendar: str = "trading", after: str = "hold", n_paths: int | None = None, seed=None,
                         **kwargs):
    """Run ``simulator.run_scenario(scenario, model, keep="paths")`` and reduce its ``.returns``
    (percent log returns, shape (n_paths, horizon, n_assets)) to a market state per feed day.

    The volatility ratio is relative to the model's calm (long-run) volatility of the equal-weight
    index (:func:`calm_index_volatility`) unless ``calm_vol`` is given. With ``days`` the state is
    mapped to feed days (see :func:`scenario_days`); after the scenario's last day ``after="hold"``
    keeps its last state (the crisis level persists), ``after="calm"`` returns to a calm market
    (drawdown 0, volatility ratio 1). The columns are ``day``, ``scenario_day`` (-1 after the
    scenario), ``drawdown``, ``vol_ratio``.
    """
    import pandas as pd

    import simulator  # lazy: the engine is heavy and optional for plain feeds

    if after not in MARKET_AFTER:
        raise ValueError(f"market_after must be one of {MARKET_AFTER}, got {after!r}")
    kw = {"keep": "paths"}
    if n_paths is not None:
        kw["n_paths"] = n_paths
    if seed is not None:
        kw["seed"] = seed
    result = simulator.run_scenario(scenario, model, **kw)  # daily returns are needed
    returns = getattr(result, "returns", None)
    if returns is None:
        raise ValueError("the scenario result holds no daily returns (run it with keep='paths')")
    if "calm_vol" not in kwargs:
        try:
            kwargs["calm_vol"] = calm_index_volatility(_load_model(model), kwargs.get("weights"))
        except (AttributeError, TypeError, ValueError, OSError, ImportError):
            pass  # fall back to the calmest stretch of the scenario
    state = market_state_from_returns(returns, **kwargs)
    if days is None:
        return state
    sd = scenario_days(days, start_weekday, calendar)
    horizon = len(state)
    inside = sd < horizon
    idx = np.minimum(sd, horizon - 1)
    dd = state["drawdown"].to_numpy()[idx]
    vr = state["vol_ratio"].to_numpy()[idx]
    if after == "calm":
        dd = np.where(inside, dd, 0.0)
        vr = np.where(inside, vr, 1.0)
    return pd.DataFrame({"day": np.arange(days), "scenario_day": np.where(inside, sd, -1),
                         "drawdown": dd, "vol_ratio": vr})


def validate_market(market: Any, days: int) -> tuple[np.ndarray, np.ndarray]:
    """Check a market state and return ``(drawdown, vol_ratio)`` arrays of length ``days``.

    Accepts a pandas DataFrame or a mapping with 1-D array columns ``drawdown`` and ``vol_ratio`` of
    length >= ``days`` (extra days are ignored).
    """
    if market is None:
        return np.zeros(days), np.ones(days)
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover
        pd = None
    if pd is not None and isinstance(market, pd.DataFrame):
        cols = {c: market[c].to_numpy() for c in market.columns}
    elif isinstance(market, Mapping):
        cols = dict(market)
    else:
        raise TypeError(f"market must be a pandas DataFrame or a mapping of 1-D arrays, got {type(market).__name__}")
    out = []
    for name in ("drawdown", "vol_ratio"):
        if name not in cols:
            raise ValueError(f"market state is missing column {name!r}; required: 'drawdown', 'vol_ratio', "
                             f"got {sorted(map(str, cols))}")
        try:
            a = np.asarray(cols[name], dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"market column {name!r} must be numeric") from None
        if a.ndim != 1:
            raise ValueError(f"market column {name!r} must be 1-D, got shape {a.shape}")
        if a.size < days:
            raise ValueError(f"market column {name!r} has {a.size} days but the feed needs {days}")
        a = a[:days]
        if not np.all(np.isfinite(a)):
            bad = int(np.flatnonzero(~np.isfinite(a))[0])
            raise ValueError(f"market column {name!r} is not finite on day {bad}")
        out.append(a)
    dd, vr = out
    if dd.size and (dd.min() < 0 or dd.max() >= 1):
        bad = int(np.flatnonzero((dd < 0) | (dd >= 1))[0])
        raise ValueError(f"market drawdown must be a fraction in [0, 1), got {dd[bad]!r} on day {bad}")
    if vr.size and vr.min() <= 0:
        bad = int(np.flatnonzero(vr <= 0)[0])
        raise ValueError(f"market vol_ratio must be > 0 (1.0 = calm), got {vr[bad]!r} on day {bad}")
    return dd.copy(), vr.copy()


@dataclass(frozen=True)
class MarketMultipliers:
    """Per-day responses: ``volume`` (days, n_categories), ``ticket``, ``decline_shift``, ``fraud`` (days,)."""

    volume: np.ndarray
    ticket: np.ndarray
    decline_shift: np.ndarray
    fraud: np.ndarray


def daily_multipliers(profile: TransactionProfile, drawdown: np.ndarray, vol_ratio: np.ndarray,
                      elasticities: Elasticities | None = None) -> MarketMultipliers:
    """Apply the elasticities (see :class:`Elasticities`) to a validated market state."""
    e = elasticities or profile.elasticities
    dd = np.asarray(drawdown, dtype=float)
    lvr = np.log(np.asarray(vol_ratio, dtype=float))
    sens = np.array([c.market_sensitivity for c in profile.categories])
    volume = np.exp(np.outer(e.volume_drawdown * dd + e.volume_vol * lvr, sens))
    ticket = np.exp(e.ticket_drawdown * dd + e.ticket_vol * lvr)
    decline = e.decline_drawdown * dd + e.decline_vol * lvr
    fraud = np.exp(e.fraud_drawdown * dd + e.fraud_vol * lvr)
    return MarketMultipliers(volume=volume, ticket=ticket, decline_shift=decline, fraud=fraud)
