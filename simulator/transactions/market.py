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

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from .profiles import Elasticities, TransactionProfile

__all__ = ["market_state_from_returns", "validate_market", "daily_multipliers", "MarketMultipliers",
           "market_from_scenario"]


def market_state_from_returns(returns, *, weights=None, calm_vol: float | None = None, smooth_days: int = 5):
    """Reduce simulated asset returns to a per-day market state.

    The index is a portfolio rebalanced daily to ``weights`` (equal weights by default): its daily
    simple return on path ``p`` is ``sum_a w_a (exp(r[p, t, a] / 100) - 1)``, its level the running
    product from 1.0 at the start. Then, for each day ``t``:

    * ``drawdown[t]`` is the cross-path **median** of ``1 - level[p, t] / max(1, max_{s<=t} level[p, s])``
      (the drawdown of the typical path, robust to a few extreme paths);
    * ``vol_ratio[t] = vol[t] / calm_vol`` where ``vol[t]`` is the cross-path scale of the index's daily
      log return on day ``t`` (percent), i.e. the conditional volatility of the scenario on that day,
      measured robustly as 1.4826 x the median absolute deviation (the standard deviation for normal
      returns; insensitive to a few exploding paths), smoothed by a centred moving average of
      ``smooth_days`` days. Log returns beyond +-2000 % are clipped. ``calm_vol`` defaults to
      the minimum of the smoothed ``vol`` over the horizon (the calmest stretch of the scenario); pass
      the model's calm daily volatility (percent) when the whole horizon is stressed.

    Parameters
    ----------
    returns : array_like of shape (n_paths, horizon, n_assets)
        Percent log returns. A 2-D array is taken as one asset (n_paths, horizon).
    weights : array_like of shape (n_assets,), optional
        Index weights (normalised to sum to 1); equal weights by default.
    calm_vol : float, optional
        Calm daily volatility of the index in percent.
    smooth_days : int, default 5
        Width of the moving average applied to the daily volatility.

    Returns
    -------
    pandas.DataFrame
        Columns ``day`` (0..horizon-1), ``drawdown`` (fraction), ``vol_ratio``, ``index_median``
        (median index level), ``vol_pct`` (smoothed daily volatility, percent).
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
    if weights is None:
        w = np.full(n_assets, 1.0 / n_assets)
    else:
        w = np.asarray(weights, dtype=float).ravel()
        if w.size != n_assets:
            raise ValueError(f"weights has {w.size} values but returns have {n_assets} assets")
        if not np.all(np.isfinite(w)) or w.sum() == 0:
            raise ValueError("weights must be finite with a non-zero sum")
        w = w / w.sum()
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
    if n_paths > 1:
        # robust cross-path scale (1.4826 x median absolute deviation = sd for normal returns), so a
        # few extreme paths do not set the volatility of the typical path
        med = np.median(daily_log, axis=0)
        vol = 1.4826 * np.median(np.abs(daily_log - med), axis=0)
    else:
        vol = np.abs(daily_log[0])
    k = min(int(smooth_days), horizon)
    kernel = np.ones(k) / k
    padded = np.pad(vol, (k // 2, k - 1 - k // 2), mode="edge")
    vol_s = np.convolve(padded, kernel, mode="valid")
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


def market_from_scenario(scenario, model, **kwargs):
    """Run ``simulator.run_scenario(scenario, model, keep="paths")`` and reduce its ``.returns``
    (percent log returns, shape (n_paths, horizon, n_assets)) to a market state."""
    import simulator  # lazy: the engine is heavy and optional for plain feeds

    try:
        result = simulator.run_scenario(scenario, model, keep="paths")  # daily returns are needed
    except TypeError:
        result = simulator.run_scenario(scenario, model)
    returns = getattr(result, "returns", None)
    if returns is None:
        raise ValueError("the scenario result holds no daily returns (run it with keep='paths')")
    return market_state_from_returns(returns, **kwargs)


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
