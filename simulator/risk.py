"""Portfolio risk from simulated returns: exact-revaluation P&L, VaR/ES with Monte Carlo confidence
intervals, Euler ES contributions, drawdowns, stress losses and the FRTB expected-shortfall formulas.

Units and conventions
---------------------
* Simulated returns are **percent log returns** of shape ``(n_paths, horizon, n_assets)`` (axis order
  path, time, asset; the ``arch`` convention).
* Positions are **currency amounts** per asset, shape ``(n_assets,)``; negative means short.
* P&L is in the currency of the positions. A position ``pos_a`` held over ``h`` days makes
  ``pos_a * (exp(sum_{t<h} r_{t,a} / 100) - 1)``: exact revaluation, no delta approximation.
* Risk measures are reported on the **loss** ``L = -P&L``, as positive numbers when the portfolio
  loses money. ``level`` is the confidence level (0.975, 0.99); ``1 - level`` is the tail probability.

Empirical estimators (the definitions every backend must reproduce)
-------------------------------------------------------------------
Let ``L_(1) <= ... <= L_(n)`` be the sorted losses of ``n`` scenarios, ``a`` the level and
``m = ceil(n a)``.

* ``VaR_a = L_(m)``: the lower ``a``-quantile of the empirical loss distribution,
  ``inf{x : F_n(x) >= a}``.
* ``ES_a = [ (m - n a) L_(m) + sum_{i > m} L_(i) ] / (n (1 - a))``: the expected shortfall of the
  empirical distribution, ``(1 / (1 - a)) * integral_a^1 VaR_u du`` (the Acerbi & Tasche (2002)
  definition applied to the sample). When ``n a`` is an integer it is the plain mean of the
  ``n (1 - a)`` largest losses. It is coherent (sub-additive) for every ``n``.

Both use only the ``n - m + 1`` largest losses, so a distributed backend can keep the ``k`` largest
losses of each chunk, merge them exactly and call :func:`var_es_from_tail` (``k`` from
:func:`tail_size`, which also covers the confidence-interval order statistics). Euler contributions
(:func:`es_contributions`) use the same scenario weights, so they sum exactly to this ES.

Confidence intervals
--------------------
* VaR: distribution-free order-statistic interval ``[L_(l), L_(u)]`` with
  ``l = Bin^{-1}((1-ci)/2; n, a)`` and ``u = Bin^{-1}(1-(1-ci)/2; n, a) + 1``; its coverage is
  ``P(l <= B <= u - 1) >= ci`` for ``B ~ Binomial(n, a)`` (exact, conservative because of
  discreteness).
* ES (``method="asymptotic"``, default): normal interval ``ES +- z se`` with the influence-function
  variance ``se^2 = Var((L - VaR)^+) / (n (1 - a)^2)``, estimated from the tail only (equivalently
  ``[Var(L | L > VaR) + a (ES - VaR)^2] / (n (1 - a))``).
* ES (``method="bootstrap"``): percentile interval from ``n_boot`` nonparametric bootstrap
  resamples of the whole sample (needs all losses in memory; not available from a merged tail).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from scipy import stats

from simulator.checks import check_level, check_levels
from simulator.constants import DEFAULT_LEVELS, ES_LEVEL

__all__ = [
    "FRTB_LIQUIDITY_HORIZONS",
    "FRTB_BASE_HORIZON",
    "portfolio_pnl",
    "pnl_paths",
    "asset_pnl",
    "pnl_from_cum_returns",
    "tail_size",
    "var_es",
    "var_es_from_tail",
    "TailRisk",
    "RiskMeasures",
    "es_contributions",
    "ESContributions",
    "max_drawdown",
    "drawdown_summary",
    "stress_loss",
    "StressLoss",
    "frtb_es",
    "frtb_es_cascade",
    "window_pnl",
    "worst_window_es",
    "WorstWindow",
    "n_distinct",
    "stressed_es",
]

#: FRTB liquidity horizons LH_j in days (MAR33.12), in cascade order.
FRTB_LIQUIDITY_HORIZONS: tuple[int, ...] = (10, 20, 40, 60, 120)
#: FRTB base horizon T in days.
FRTB_BASE_HORIZON: int = 10

_ES_CI_METHODS = ("asymptotic", "bootstrap")


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------
def _float_array(x: Any, name: str, ndim: int | tuple[int, ...]) -> np.ndarray:
    """Return ``x`` as a finite float64 array with the expected number of dimensions."""
    if isinstance(x, (str, bytes, Mapping)) or x is None:
        raise TypeError(f"{name} must be a numeric array, got {type(x).__name__}")
    arr = np.asarray(x)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real-valued, got dtype {arr.dtype}")
    ndims = (ndim,) if isinstance(ndim, int) else ndim
    if arr.ndim not in ndims:
        want = " or ".join(f"{d}-D" for d in ndims)
        raise ValueError(f"{name} must be a {want} array, got shape {arr.shape}")
    arr = arr.astype(np.float64, copy=False)
    if arr.size and not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{name} contains a non-finite value ({arr[tuple(bad)]}) at index {tuple(int(i) for i in bad)}")
    return arr


def _returns_positions(returns: Any, positions: Any) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(returns)
    if r.ndim != 3:
        raise ValueError(
            f"returns must have shape (n_paths, horizon, n_assets), got shape {r.shape}; "
            "add an axis for a single asset or a single path"
        )
    if r.dtype not in (np.float32, np.float64):
        r = _float_array(r, "returns", 3)
    elif not np.all(np.isfinite(r)):
        bad = np.argwhere(~np.isfinite(r))[0]
        raise ValueError(f"returns contains a non-finite value at (path, day, asset) = {tuple(int(i) for i in bad)}")
    pos = _float_array(positions, "positions", 1)
    if pos.shape[0] != r.shape[2]:
        raise ValueError(
            f"positions has {pos.shape[0]} entries but returns has {r.shape[2]} assets (last axis); "
            "give one currency amount per asset"
        )
    if r.shape[0] == 0 or r.shape[1] == 0:
        raise ValueError(f"returns must have at least one path and one day, got shape {r.shape}")
    return r, pos


def _check_horizon(h: Any, n_days: int, name: str = "horizon") -> int:
    if isinstance(h, bool) or not isinstance(h, numbers.Integral):
        raise TypeError(f"{name} must be an integer number of days, got {h!r}")
    h = int(h)
    if h < 1:
        raise ValueError(f"{name} must be >= 1 day, got {h}")
    if h > n_days:
        frtb = " (an FRTB liquidity horizon)" if h in FRTB_LIQUIDITY_HORIZONS else ""
        raise ValueError(
            f"{name} {h}{frtb} exceeds the {n_days} simulated days in returns; "
            f"simulate a horizon of at least {h} days or use horizons <= {n_days}"
        )
    return h


def _min_scenarios(level: float) -> int:
    """Smallest ``n`` with ``n (1 - level) >= 1`` (one scenario beyond the VaR order statistic)."""
    x = 1.0 / (1.0 - level)
    return math.ceil(x - 1e-9 * x)


def _order_index(n: int, level: float) -> int:
    """``m = ceil(n * level)`` guarded against floating-point noise (``100 * 0.99 = 99.00000000000001``)."""
    x = n * level
    m = math.ceil(x - 1e-12 * max(1.0, x))
    return min(max(m, 1), n)


# --------------------------------------------------------------------------------------------
# P&L by exact revaluation
# --------------------------------------------------------------------------------------------
def portfolio_pnl(returns: Any, positions: Any, *, horizons: Iterable[int] = (1, 10)) -> dict[int, np.ndarray]:
    """Portfolio P&L per path at several holding horizons, by exact revaluation.

    Parameters
    ----------
    returns : array of shape (n_paths, horizon, n_assets)
        Simulated percent log returns (float32 or float64).
    positions : array of shape (n_assets,)
        Currency amount held in each asset at time 0 (negative = short).
    horizons : iterable of int, default (1, 10)
        Holding periods in days, each ``<= horizon``. Use :data:`FRTB_LIQUIDITY_HORIZONS`
        ``(10, 20, 40, 60, 120)`` for the FRTB liquidity horizons (needs 120 simulated days).

    Returns
    -------
    dict of int to ndarray of shape (n_paths,)
        ``{h: P&L_h}`` with ``P&L_h = sum_a pos_a * (exp(sum_{t<h} r_{t,a} / 100) - 1)`` in currency.

    Raises
    ------
    ValueError
        If a horizon exceeds the simulated days, or shapes/values are invalid.
    """
    r, pos = _returns_positions(returns, positions)
    if isinstance(horizons, numbers.Integral):
        horizons = (horizons,)
    hs = [_check_horizon(h, r.shape[1], "horizons entry") for h in horizons]
    if not hs:
        raise ValueError("horizons must contain at least one holding period in days, e.g. (1, 10)")
    out: dict[int, np.ndarray] = {}
    cum = np.zeros((r.shape[0], r.shape[2]), dtype=np.float64)
    prev = 0
    for h in sorted(set(hs)):
        cum = _accumulate(cum, r, prev, h)
        prev = h
        out[h] = (np.expm1(cum / 100.0) * pos).sum(axis=-1)
    return {h: out[h] for h in hs}


def _accumulate(cum: np.ndarray, r: np.ndarray, start: int, stop: int) -> np.ndarray:
    """``cum`` plus the returns of days ``start..stop-1``, added one day at a time in float64.

    Sequential along the days and row-wise over paths (no pairwise or BLAS reduction), so each path's figure
    is bit-identical to the chunk-by-chunk reduction of :mod:`simulator.chunked_risk` (a ``cumsum`` per path).
    """
    for d in range(start, stop):
        cum = cum + r[:, d, :]
    return cum


def asset_pnl(returns: Any, positions: Any, *, horizon: int | None = None) -> np.ndarray:
    """Per-asset P&L per path at one horizon, by exact revaluation.

    Parameters
    ----------
    returns : array of shape (n_paths, horizon, n_assets)
        Simulated percent log returns.
    positions : array of shape (n_assets,)
        Currency amounts (negative = short).
    horizon : int, optional
        Holding period in days; default the whole simulated horizon.

    Returns
    -------
    ndarray of shape (n_paths, n_assets)
        ``pos_a * (exp(sum_{t<h} r_{t,a} / 100) - 1)``; rows sum to :func:`portfolio_pnl`.
    """
    r, pos = _returns_positions(returns, positions)
    h = r.shape[1] if horizon is None else _check_horizon(horizon, r.shape[1])
    cum = _accumulate(np.zeros((r.shape[0], r.shape[2]), dtype=np.float64), r, 0, h)
    return np.expm1(cum / 100.0) * pos


def pnl_from_cum_returns(cum_return: Any, positions: Any, *, per_asset: bool = False) -> np.ndarray:
    """P&L by exact revaluation from cumulative percent log returns over the horizon.

    For engine summaries (``SimulationResult.cum_return``) where the daily paths were not kept.

    Parameters
    ----------
    cum_return : array of shape (n_paths, n_assets)
        Cumulative percent log return of each asset over the holding period.
    positions : array of shape (n_assets,)
        Currency amounts (negative = short).
    per_asset : bool, default False
        Return per-asset P&L (n_paths, n_assets) instead of the portfolio P&L (n_paths,).

    Returns
    -------
    ndarray of shape (n_paths,) or (n_paths, n_assets)
        ``pos_a * (exp(cum_a / 100) - 1)``, summed over assets unless ``per_asset``.
    """
    cum = _float_array(cum_return, "cum_return", 2)
    pos = _float_array(positions, "positions", 1)
    if pos.shape[0] != cum.shape[1]:
        raise ValueError(
            f"positions has {pos.shape[0]} entries but cum_return has {cum.shape[1]} assets (columns); "
            "give one currency amount per asset"
        )
    growth = np.expm1(cum / 100.0)
    return growth * pos if per_asset else (growth * pos).sum(axis=-1)


def pnl_paths(returns: Any, positions: Any) -> np.ndarray:
    """Cumulative portfolio P&L path (portfolio value minus initial value) for fan charts.

    Parameters
    ----------
    returns : array of shape (n_paths, horizon, n_assets)
        Simulated percent log returns.
    positions : array of shape (n_assets,)
        Currency amounts at time 0 (negative = short), held without rebalancing.

    Returns
    -------
    ndarray of shape (n_paths, horizon)
        Column ``t`` is the P&L after ``t + 1`` days, ``sum_a pos_a (exp(sum_{s<=t} r_{s,a}/100) - 1)``;
        the value path is ``initial value + P&L`` (time 0, P&L 0, is not included).

    Notes
    -----
    Uses one float64 temporary of the size of ``returns``; chunk over paths for very large inputs.
    """
    r, pos = _returns_positions(returns, positions)
    return growth_paths(r) @ pos


def growth_paths(returns: Any) -> np.ndarray:
    """Simple growth of each asset since time 0 along each path: ``exp(sum_{s<=t} r_{s,a} / 100) - 1``.

    Parameters
    ----------
    returns : array of shape (n_paths, horizon, n_assets)
        Simulated percent log returns (validated by the caller).

    Returns
    -------
    ndarray of shape (n_paths, horizon, n_assets), float64
        Column ``t`` is the growth after ``t + 1`` days; times a position it is that position's P&L (exact
        revaluation, see :func:`pnl_paths`). Overflowing paths give ``inf`` (the caller decides).
    """
    cum = np.cumsum(returns, axis=1, dtype=np.float64)
    cum /= 100.0
    np.expm1(cum, out=cum)
    return cum


def value_drawdown(values: Any, *, relative: bool = False) -> np.ndarray:
    """Largest fall from the running peak along each value path.

    Parameters
    ----------
    values : array of shape (n_paths, n_times)
        Value paths, time 0 included (``V_0, V_1, ...``).
    relative : bool, default False
        False: ``max_t (peak_t - V_t)`` in the values' unit. True: ``max_t (peak_t - V_t) / peak_t``, a
        fraction (meaningful for positive value paths; the caller checks).

    Returns
    -------
    ndarray of shape (n_paths,)
    """
    peak = np.maximum.accumulate(values, axis=1)
    if relative:
        return np.max((peak - values) / peak, axis=1)
    return np.max(peak - values, axis=1)


# --------------------------------------------------------------------------------------------
# VaR and ES
# --------------------------------------------------------------------------------------------
def _var_ci_indices(n: int, level: float, ci: float) -> tuple[int, int]:
    """1-based order-statistic indices ``(l, u)`` of the distribution-free VaR interval."""
    a = 1.0 - ci
    lo = int(stats.binom.ppf(a / 2.0, n, level))
    hi = int(stats.binom.ppf(1.0 - a / 2.0, n, level)) + 1
    return min(max(lo, 1), n), min(max(hi, 1), n)


def tail_size(n: int, level: float, *, ci: float | None = 0.95) -> int:
    """Number ``k`` of largest losses needed to compute VaR, ES and their intervals exactly.

    A chunked or distributed backend keeps the ``k`` largest losses of each chunk, merges them
    (the ``k`` largest of the union are exact) and calls :func:`var_es_from_tail`.

    Parameters
    ----------
    n : int
        Total number of scenarios.
    level : float
        Confidence level in (0, 1); for several levels use the smallest.
    ci : float or None, default 0.95
        Confidence of the intervals (the VaR interval's lower order statistic needs a few more
        losses); ``None`` for the point estimates only.

    Returns
    -------
    int
        ``n - m + 1`` with ``m = ceil(n level)``, or ``n - l + 1`` with ``l`` the lower index of the
        order-statistic VaR interval; at most ``n``.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive integer number of scenarios, got {n!r}")
    level = check_level(level)
    m = _order_index(int(n), level)
    if ci is None:
        return int(n) - m + 1
    lo, _ = _var_ci_indices(int(n), level, check_level(ci, "ci"))
    return int(n) - min(lo, m) + 1


@dataclass(frozen=True)
class TailRisk:
    """VaR and ES of the loss at one confidence level, with Monte Carlo confidence intervals.

    Attributes
    ----------
    level : float
        Confidence level (e.g. 0.99).
    var, es : float
        Value-at-Risk and Expected Shortfall of the loss (currency; positive = loss).
    var_ci, es_ci : tuple of float
        ``(low, high)`` confidence intervals at confidence ``ci``.
    es_se : float
        Standard error of the ES estimate (asymptotic, or bootstrap standard deviation).
    n : int
        Number of scenarios.
    n_tail : int
        Number of scenarios entering the ES (``n - ceil(n level) + 1``, VaR scenario included).
    ci : float
        Confidence of the intervals.
    es_ci_method : str
        ``"asymptotic"`` or ``"bootstrap"``.
    """

    level: float
    var: float
    es: float
    var_ci: tuple[float, float]
    es_ci: tuple[float, float]
    es_se: float
    n: int
    n_tail: int
    ci: float
    es_ci_method: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (plain floats, ints and strings)."""
        return {
            "level": self.level,
            "var": self.var,
            "es": self.es,
            "var_ci_low": self.var_ci[0],
            "var_ci_high": self.var_ci[1],
            "es_ci_low": self.es_ci[0],
            "es_ci_high": self.es_ci[1],
            "es_se": self.es_se,
            "n": self.n,
            "n_tail": self.n_tail,
            "ci": self.ci,
            "var_ci_method": "order-statistic",
            "es_ci_method": self.es_ci_method,
        }


@dataclass(frozen=True)
class RiskMeasures:
    """VaR/ES estimates at several levels; index by level (``rm[0.99].es``)."""

    estimates: tuple[TailRisk, ...]

    @property
    def levels(self) -> tuple[float, ...]:
        return tuple(e.level for e in self.estimates)

    def __getitem__(self, level: float) -> TailRisk:
        for e in self.estimates:
            if math.isclose(e.level, float(level), rel_tol=0.0, abs_tol=1e-12):
                return e
        raise KeyError(f"level {level} not computed; available levels: {list(self.levels)}")

    def __iter__(self):
        return iter(self.estimates)

    def __len__(self) -> int:
        return len(self.estimates)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict: ``{"levels": [TailRisk.to_dict(), ...]}`` plus the estimator definitions."""
        return {
            "var_definition": "ceil(n*level)-th smallest loss",
            "es_definition": "empirical ES: integral of the empirical loss quantile above level / (1 - level)",
            "levels": [e.to_dict() for e in self.estimates],
        }

    def to_frame(self):
        """``pandas.DataFrame`` with one row per level."""
        import pandas as pd

        return pd.DataFrame([e.to_dict() for e in self.estimates])


def _point_from_desc(desc: np.ndarray, n: int, level: float) -> tuple[float, float, int]:
    """VaR, ES and tail count from the largest losses sorted in descending order."""
    m = _order_index(n, level)
    k = n - m + 1
    var = float(desc[k - 1])
    w = min(max(m - n * level, 0.0), 1.0)
    es = (w * var + float(desc[: k - 1].sum())) / (n * (1.0 - level))
    # ES is a weighted mean of losses >= VaR, so ES >= VaR; summation rounding can put it a few ulps below
    # when the tail losses are all equal (replays with few distinct outcomes)
    return var, max(es, var), k


def var_es_from_tail(
    largest_losses: Any,
    n: int,
    levels: float | Sequence[float] = DEFAULT_LEVELS,
    *,
    ci: float = 0.95,
) -> RiskMeasures:
    """VaR/ES (asymptotic ES interval) from the ``k`` largest losses of ``n`` scenarios.

    This is the exact-tail merge entry point for chunked / distributed backends: the result is
    identical to :func:`var_es` on the full sample when ``k >= tail_size(n, min(levels), ci=ci)``.

    Parameters
    ----------
    largest_losses : array of shape (k,)
        The ``k`` largest **losses** (``-P&L``), in any order.
    n : int
        Total number of scenarios (``k <= n``).
    levels : float or sequence of float, default (0.975, 0.99)
        Confidence levels.
    ci : float, default 0.95
        Confidence of the intervals.

    Returns
    -------
    RiskMeasures
    """
    tail = _float_array(largest_losses, "largest_losses", 1)
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive integer number of scenarios, got {n!r}")
    n = int(n)
    levels = check_levels(levels)
    ci = check_level(ci, "ci")
    for lv in levels:
        _check_enough(n, lv)
    if tail.shape[0] > n:
        raise ValueError(f"largest_losses has {tail.shape[0]} values but n = {n} scenarios")
    need = max(tail_size(n, lv, ci=ci) for lv in levels)
    if tail.shape[0] < need:
        raise ValueError(
            f"largest_losses has {tail.shape[0]} values; n = {n} scenarios at levels {list(levels)} "
            f"with ci = {ci} need the {need} largest losses (see tail_size)"
        )
    desc = -np.sort(-tail)
    return RiskMeasures(tuple(_tail_risk(desc, n, lv, ci) for lv in levels))


def _check_enough(n: int, level: float) -> None:
    if n < _min_scenarios(level):
        raise ValueError(
            f"level {level} needs at least {_min_scenarios(level)} scenarios to have one in the "
            f"tail, got n = {n}"
        )


def _tail_risk(desc: np.ndarray, n: int, level: float, ci: float) -> TailRisk:
    _check_enough(n, level)
    var, es, k = _point_from_desc(desc, n, level)
    lo, hi = _var_ci_indices(n, level, ci)
    var_ci = (float(desc[n - lo]), float(desc[n - hi]))
    excess = desc[desc > var] - var
    s1 = excess.sum() / n
    s2 = np.dot(excess, excess) / n
    se = math.sqrt(max(s2 - s1 * s1, 0.0) / n) / (1.0 - level)
    z = float(stats.norm.ppf(0.5 + ci / 2.0))
    return TailRisk(
        level=level,
        var=var,
        es=float(es),
        var_ci=var_ci,
        es_ci=(float(es - z * se), float(es + z * se)),
        es_se=float(se),
        n=n,
        n_tail=k,
        ci=ci,
        es_ci_method="asymptotic",
    )


def var_es(
    pnl: Any,
    levels: float | Sequence[float] = DEFAULT_LEVELS,
    *,
    ci: float = 0.95,
    method: str = "asymptotic",
    n_boot: int = 500,
    seed: int | np.random.SeedSequence | np.random.Generator | None = None,
) -> RiskMeasures:
    """Value-at-Risk and Expected Shortfall of the loss ``-pnl`` with Monte Carlo confidence intervals.

    Estimators (see the module docstring): ``VaR = L_(m)``, ``m = ceil(n level)``;
    ``ES = [(m - n level) L_(m) + sum_{i>m} L_(i)] / (n (1 - level))``.

    Parameters
    ----------
    pnl : array of shape (n_paths,)
        Simulated P&L in currency (gains positive).
    levels : float or sequence of float, default (0.975, 0.99)
        Confidence levels.
    ci : float, default 0.95
        Confidence of the intervals.
    method : {"asymptotic", "bootstrap"}, default "asymptotic"
        ES interval: normal interval from the influence-function standard error (computable from the
        tail alone), or percentile bootstrap over ``n_boot`` resamples (costs ``n_boot`` passes over the
        sample). The VaR interval is always the exact order-statistic (binomial) interval.
    n_boot : int, default 500
        Bootstrap resamples (``method="bootstrap"`` only).
    seed : None, int, SeedSequence or Generator
        Bootstrap randomness (``method="bootstrap"`` only).

    Returns
    -------
    RiskMeasures
        One :class:`TailRisk` per level; ``.to_dict()`` for JSON.
    """
    x = _float_array(pnl, "pnl", 1)
    n = x.shape[0]
    levels = check_levels(levels)
    ci = check_level(ci, "ci")
    if method not in _ES_CI_METHODS:
        raise ValueError(f"method must be one of {_ES_CI_METHODS}, got {method!r}")
    if n < 2:
        raise ValueError(f"pnl needs at least 2 scenarios, got {n}")
    for lv in levels:
        _check_enough(n, lv)
    losses = -x
    k = max(tail_size(n, lv, ci=ci) for lv in levels)
    top = losses if k >= n else np.partition(losses, n - k)[n - k:]
    desc = -np.sort(-top)
    est = [_tail_risk(desc, n, lv, ci) for lv in levels]
    if method == "bootstrap":
        if isinstance(n_boot, bool) or not isinstance(n_boot, numbers.Integral) or n_boot < 10:
            raise ValueError(f"n_boot must be an integer >= 10, got {n_boot!r}")
        rng = np.random.default_rng(seed)
        boot = np.empty((int(n_boot), len(levels)))
        for b in range(int(n_boot)):
            sample = losses[rng.integers(0, n, size=n)]
            top_b = np.partition(sample, n - k)[n - k:] if k < n else sample
            desc_b = -np.sort(-top_b)
            for j, lv in enumerate(levels):
                boot[b, j] = _point_from_desc(desc_b, n, lv)[1]
        a = (1.0 - ci) / 2.0
        est = [
            TailRisk(
                level=e.level, var=e.var, es=e.es, var_ci=e.var_ci,
                es_ci=(float(np.quantile(boot[:, j], a)), float(np.quantile(boot[:, j], 1.0 - a))),
                es_se=float(boot[:, j].std(ddof=1)), n=e.n, n_tail=e.n_tail, ci=e.ci, es_ci_method="bootstrap",
            )
            for j, e in enumerate(est)
        ]
    return RiskMeasures(tuple(est))


# --------------------------------------------------------------------------------------------
# Euler allocation
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ESContributions:
    """Euler allocation of the portfolio ES to assets.

    Attributes
    ----------
    level : float
        Confidence level.
    es : float
        Portfolio ES (same estimator as :func:`var_es`).
    var : float
        Portfolio VaR.
    contributions : ndarray of shape (n_assets,)
        ES contribution of each asset (currency); sums to ``es``.
    asset_names : tuple of str
        Asset labels (``"asset_0"``, ... when not given).
    """

    level: float
    es: float
    var: float
    contributions: np.ndarray = field(repr=False)
    asset_names: tuple[str, ...]

    @property
    def shares(self) -> np.ndarray:
        """Contributions as fractions of the portfolio ES (nan-free: 0 when ES is 0)."""
        if self.es == 0.0:
            return np.zeros_like(self.contributions)
        return self.contributions / self.es

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict with per-asset contributions and shares."""
        shares = self.shares
        return {
            "level": self.level,
            "es": self.es,
            "var": self.var,
            "contributions": {a: float(c) for a, c in zip(self.asset_names, self.contributions)},
            "shares": {a: float(s) for a, s in zip(self.asset_names, shares)},
        }

    def to_frame(self):
        """``pandas.DataFrame`` indexed by asset with columns ``contribution`` and ``share``."""
        import pandas as pd

        return pd.DataFrame(
            {"contribution": self.contributions, "share": self.shares},
            index=pd.Index(self.asset_names, name="asset"),
        )


def es_contributions(
    returns_or_asset_pnl: Any,
    positions: Any = None,
    level: float = ES_LEVEL,
    *,
    horizon: int | None = None,
    asset_names: Sequence[str] | None = None,
) -> ESContributions:
    """Euler allocation of ES: each asset's mean loss in the portfolio's tail scenarios.

    With the empirical ES of :func:`var_es`, the contribution of asset ``a`` is
    ``C_a = [ (m - n level) l_{(m),a} + sum_{i>m} l_{(i),a} ] / (n (1 - level))`` where ``l_{(i),a}``
    is asset ``a``'s loss in the scenario with the ``i``-th smallest portfolio loss. This is the
    sample version of ``E[-X_a | L >= VaR]`` (the gradient of ES in the positions, Tasche 1999) and
    ``sum_a C_a = ES`` exactly.

    Parameters
    ----------
    returns_or_asset_pnl : array
        Either simulated percent log returns of shape (n_paths, horizon, n_assets) (then
        ``positions`` is required and P&L is revalued exactly over ``horizon`` days), or per-asset
        P&L in currency of shape (n_paths, n_assets) (then ``positions`` must be None).
    positions : array of shape (n_assets,), optional
        Currency amounts, for the returns form.
    level : float, default 0.975
        Confidence level.
    horizon : int, optional
        Holding period in days for the returns form; default the whole simulated horizon.
    asset_names : sequence of str, optional
        Labels for the output.

    Returns
    -------
    ESContributions
    """
    arr = np.asarray(returns_or_asset_pnl)
    if arr.ndim == 3:
        if positions is None:
            raise ValueError("positions is required when returns of shape (n_paths, horizon, n_assets) are given")
        ap = asset_pnl(arr, positions, horizon=horizon)
    elif arr.ndim == 2:
        if positions is not None:
            raise ValueError(
                "positions must be None when per-asset P&L of shape (n_paths, n_assets) is given "
                "(positions are already applied); pass returns of shape (n_paths, horizon, n_assets) to revalue"
            )
        if horizon is not None:
            raise ValueError("horizon applies only to returns of shape (n_paths, horizon, n_assets)")
        ap = _float_array(arr, "asset P&L", 2)
    else:
        raise ValueError(
            "returns_or_asset_pnl must be returns of shape (n_paths, horizon, n_assets) or per-asset P&L of "
            f"shape (n_paths, n_assets), got shape {arr.shape}"
        )
    level = check_level(level)
    n, n_assets = ap.shape
    _check_enough(n, level)
    if asset_names is None:
        names = tuple(f"asset_{i}" for i in range(n_assets))
    else:
        names = tuple(str(a) for a in asset_names)
        if len(names) != n_assets:
            raise ValueError(f"asset_names has {len(names)} names for {n_assets} assets")
    loss = -ap.sum(axis=1)
    m = _order_index(n, level)
    k = n - m + 1
    idx = np.argpartition(loss, n - k)[n - k:] if k < n else np.arange(n)
    idx = idx[np.argsort(-loss[idx], kind="stable")]  # descending; idx[k-1] is the VaR scenario
    w = np.ones(k)
    w[k - 1] = min(max(m - n * level, 0.0), 1.0)
    denom = n * (1.0 - level)
    contrib = -(w @ ap[idx]) / denom
    es = float(w @ loss[idx]) / denom
    return ESContributions(level=level, es=es, var=float(loss[idx[k - 1]]), contributions=contrib, asset_names=names)


# --------------------------------------------------------------------------------------------
# drawdowns and stress losses
# --------------------------------------------------------------------------------------------
def max_drawdown(
    returns: Any,
    positions: Any,
    *,
    relative: bool = False,
    initial_value: float | None = None,
) -> np.ndarray:
    """Maximum drawdown of the portfolio value along each simulated path.

    The value path is ``V_t = V_0 + P&L_t`` for ``t = 0..horizon`` (``P&L_0 = 0``, buy-and-hold
    positions, exact revaluation). The drawdown at ``t`` is ``max_{s<=t} V_s - V_t``.

    Parameters
    ----------
    returns : array of shape (n_paths, horizon, n_assets)
        Simulated percent log returns.
    positions : array of shape (n_assets,)
        Currency amounts at time 0 (negative = short).
    relative : bool, default False
        False: drawdown in currency (independent of ``V_0``). True: drawdown as a fraction of the
        running peak, ``max_t (peak_t - V_t) / peak_t``, which needs a positive value path.
    initial_value : float, optional
        ``V_0`` for ``relative=True``; default the net position value ``sum(positions)`` (must be
        > 0). Use e.g. the capital of a leveraged or long-short book.

    Returns
    -------
    ndarray of shape (n_paths,)
        Maximum drawdown per path, >= 0 (currency, or fraction in [0, 1] when ``relative``).
    """
    paths = pnl_paths(returns, positions)
    n_paths = paths.shape[0]
    if not relative:  # the value path less V_0: P&L 0 at time 0, then the P&L path
        return value_drawdown(np.concatenate([np.zeros((n_paths, 1)), paths], axis=1))
    v0 = float(np.sum(_float_array(positions, "positions", 1))) if initial_value is None else float(initial_value)
    if not v0 > 0.0:
        raise ValueError(
            f"relative drawdowns need a positive initial portfolio value, got {v0}"
            + (" (net sum of positions); pass initial_value=" if initial_value is None else "")
        )
    value = np.concatenate([np.full((n_paths, 1), v0), v0 + paths], axis=1)
    if np.any(value <= 0.0):
        p = int(np.argwhere(value <= 0.0)[0, 0])
        raise ValueError(
            f"portfolio value falls to or below zero on path {p}; relative drawdowns are undefined, "
            "use relative=False (currency drawdowns) or a larger initial_value"
        )
    return value_drawdown(value, relative=True)


def drawdown_summary(drawdowns: Any, *, quantiles: Sequence[float] = (0.5, 0.95, 0.99)) -> dict[str, float]:
    """Mean, quantiles and maximum of a drawdown distribution (JSON-friendly dict).

    Parameters
    ----------
    drawdowns : array of shape (n_paths,)
        Output of :func:`max_drawdown`.
    quantiles : sequence of float
        Probabilities; keys are ``"q50"``, ``"q95"``, ``"q99"``, ...
    """
    dd = _float_array(drawdowns, "drawdowns", 1)
    if dd.size == 0:
        raise ValueError("drawdowns is empty")
    out = {"mean": float(dd.mean())}
    for q in quantiles:
        q = check_level(q, "quantiles")
        out[f"q{100 * q:g}"] = float(np.quantile(dd, q))
    out["max"] = float(dd.max())
    return out


@dataclass(frozen=True)
class StressLoss:
    """Risk measures of a stress scenario against the baseline (losses positive, currency).

    ``rows`` holds one dict per measure: ``measure`` (``"mean_loss"``, ``"VaR"``, ``"ES"``),
    ``level`` (None for the mean), ``scenario``, ``baseline``, ``stress_loss = scenario - baseline``,
    ``se`` (standard error of the difference for the mean and ES, assuming independent samples;
    None for VaR) and ``ratio = scenario / baseline`` (None when the baseline is 0).
    """

    rows: tuple[dict[str, Any], ...]

    def get(self, measure: str, level: float | None = None) -> dict[str, Any]:
        """The row for ``measure`` (``"mean_loss"``, ``"VaR"``, ``"ES"``) at ``level``."""
        for r in self.rows:
            if r["measure"] == measure and (level is None or (r["level"] is not None and math.isclose(r["level"], level))):
                return r
        raise KeyError(f"no row for measure {measure!r} at level {level}")

    def to_dict(self) -> dict[str, Any]:
        return {"definition": "stress_loss = measure(scenario loss) - measure(baseline loss)", "rows": [dict(r) for r in self.rows]}

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(list(self.rows))


def stress_loss(
    pnl_scenario: Any,
    pnl_baseline: Any,
    *,
    levels: float | Sequence[float] = DEFAULT_LEVELS,
) -> StressLoss:
    """Stress loss of a scenario against the baseline, for the mean loss, VaR and ES.

    Definition: for each measure ``rho`` of the loss ``L = -P&L`` (mean, ``VaR_level``,
    ``ES_level``, estimators of :func:`var_es`), ``stress_loss = rho(L_scenario) - rho(L_baseline)``.
    Positive means the scenario loses more than the baseline. The mean row is the expected extra
    loss caused by the scenario.

    The standard errors assume independent scenario and baseline samples; with common random numbers
    the estimates are usually positively correlated and the stated errors are conservative.

    Parameters
    ----------
    pnl_scenario, pnl_baseline : arrays of shape (n_paths,)
        Simulated portfolio P&L (currency) under the stress scenario and the baseline, at the same
        horizon. The numbers of paths may differ.
    levels : float or sequence of float, default (0.975, 0.99)
        Confidence levels for VaR and ES.

    Returns
    -------
    StressLoss
    """
    xs = _float_array(pnl_scenario, "pnl_scenario", 1)
    xb = _float_array(pnl_baseline, "pnl_baseline", 1)
    levels = check_levels(levels)
    rs = var_es(xs, levels)
    rb = var_es(xb, levels)

    def row(measure, level, s, b, se):
        return {
            "measure": measure,
            "level": level,
            "scenario": float(s),
            "baseline": float(b),
            "stress_loss": float(s - b),
            "se": None if se is None else float(se),
            "ratio": None if b == 0.0 else float(s / b),
        }

    se_mean = math.sqrt(xs.var(ddof=1) / xs.size + xb.var(ddof=1) / xb.size)
    rows = [row("mean_loss", None, -xs.mean(), -xb.mean(), se_mean)]
    for lv in levels:
        rows.append(row("VaR", lv, rs[lv].var, rb[lv].var, None))
    for lv in levels:
        rows.append(row("ES", lv, rs[lv].es, rb[lv].es, math.hypot(rs[lv].es_se, rb[lv].es_se)))
    return StressLoss(tuple(rows))


# --------------------------------------------------------------------------------------------
# FRTB
# --------------------------------------------------------------------------------------------
def frtb_es(es_by_horizon_class: Mapping[int, float], *, base_horizon: int = FRTB_BASE_HORIZON) -> float:
    """Liquidity-adjusted FRTB expected shortfall (MAR33.4 cascade).

    ``ES = sqrt( ES_T(P)^2 + sum_{j>=2} ( ES_T(P, j) sqrt((LH_j - LH_{j-1}) / T) )^2 )``
    with ``LH = (10, 20, 40, 60, 120)`` and ``T = 10``.

    Parameters
    ----------
    es_by_horizon_class : mapping of int to float
        ``{LH_j: ES_T(P, j)}``: the base-horizon (``T``-day) ES of the portfolio when only the risk
        factors with liquidity horizon **at least** ``LH_j`` are shocked (the others held at their
        current values). Key 10 (``ES_T(P)``, all factors shocked) is required. Classes above the
        longest horizon present may be omitted (no factors there, contribution 0); a gap below a
        present class is an error, since its ES also includes the longer-horizon factors.
    base_horizon : int, default 10
        ``T`` in days.

    Returns
    -------
    float
        The liquidity-adjusted ES (same currency as the inputs).
    """
    if not isinstance(es_by_horizon_class, Mapping):
        raise TypeError(f"es_by_horizon_class must be a mapping {{liquidity horizon: ES}}, got {type(es_by_horizon_class).__name__}")
    vals: dict[int, float] = {}
    for key, val in es_by_horizon_class.items():
        if isinstance(key, bool) or not isinstance(key, numbers.Integral) or int(key) not in FRTB_LIQUIDITY_HORIZONS:
            raise ValueError(f"liquidity horizon {key!r} is not one of the FRTB horizons {FRTB_LIQUIDITY_HORIZONS}")
        if isinstance(val, bool) or not isinstance(val, numbers.Real) or not math.isfinite(float(val)) or float(val) < 0:
            raise ValueError(f"ES for liquidity horizon {key} must be a finite number >= 0, got {val!r}")
        vals[int(key)] = float(val)
    if FRTB_LIQUIDITY_HORIZONS[0] not in vals:
        raise ValueError(f"es_by_horizon_class needs ES_T(P) under key {FRTB_LIQUIDITY_HORIZONS[0]} (all risk factors shocked)")
    present = [lh for lh in FRTB_LIQUIDITY_HORIZONS if lh in vals]
    longest = present[-1]
    for lh in FRTB_LIQUIDITY_HORIZONS:
        if lh < longest and lh not in vals:
            raise ValueError(
                f"ES for liquidity horizon {lh} is missing while {longest} is given: ES_T(P, {lh}) shocks every factor "
                f"with liquidity horizon >= {lh} (including the {longest}-day ones); give it explicitly"
            )
    if isinstance(base_horizon, bool) or not isinstance(base_horizon, numbers.Integral) or base_horizon < 1:
        raise ValueError(f"base_horizon must be a positive integer number of days, got {base_horizon!r}")
    total = vals[FRTB_LIQUIDITY_HORIZONS[0]] ** 2
    for prev, lh in zip(FRTB_LIQUIDITY_HORIZONS[:-1], FRTB_LIQUIDITY_HORIZONS[1:]):
        total += vals.get(lh, 0.0) ** 2 * (lh - prev) / base_horizon
    return math.sqrt(total)


def frtb_es_cascade(
    asset_pnl_base: Any,
    liquidity_horizons: Any,
    *,
    level: float = ES_LEVEL,
) -> dict[int, float]:
    """``ES_T(P, j)`` for each FRTB liquidity horizon class from per-asset base-horizon P&L.

    Each asset is one risk factor with its liquidity horizon; under exact revaluation an asset whose
    factor is not shocked contributes zero P&L, so ``ES_T(P, j)`` is the ES of the sum of the P&L of
    the assets with liquidity horizon ``>= LH_j``.

    Parameters
    ----------
    asset_pnl_base : array of shape (n_paths, n_assets)
        Per-asset P&L over the base horizon ``T = 10`` days (e.g. :func:`asset_pnl` with
        ``horizon=10``).
    liquidity_horizons : array of int, shape (n_assets,)
        Each asset's FRTB liquidity horizon (10, 20, 40, 60 or 120).
    level : float, default 0.975
        ES confidence level.

    Returns
    -------
    dict of int to float
        ``{LH_j: ES_T(P, j)}`` for all five classes (0 where no asset qualifies); feed to :func:`frtb_es`.
    """
    ap = _float_array(asset_pnl_base, "asset_pnl_base", 2)
    lh = np.asarray(liquidity_horizons)
    if lh.shape != (ap.shape[1],):
        raise ValueError(f"liquidity_horizons must have shape ({ap.shape[1]},) (one per asset), got {lh.shape}")
    bad = [int(x) if float(x).is_integer() else x for x in lh.tolist() if x not in FRTB_LIQUIDITY_HORIZONS]
    if bad:
        raise ValueError(f"liquidity_horizons contains {bad[0]!r}; valid FRTB horizons are {FRTB_LIQUIDITY_HORIZONS}")
    level = check_level(level)
    out: dict[int, float] = {}
    for h in FRTB_LIQUIDITY_HORIZONS:
        mask = lh >= h
        if not mask.any():
            out[h] = 0.0
            continue
        pnl = ap[:, mask].sum(axis=1)
        out[h] = max(var_es(pnl, level)[level].es, 0.0)
    return out


def stressed_es(
    es_reduced_stressed: float,
    es_full_current: float,
    es_reduced_current: float,
    *,
    floor_ratio: bool = False,
) -> float:
    """FRTB stress-calibrated ES: ``ES = ES_R,S * ES_F,C / ES_R,C``.

    Parameters
    ----------
    es_reduced_stressed : float
        ES of the reduced set of risk factors over the stress period (``ES_R,S``).
    es_full_current : float
        ES of the full set of risk factors over the current 12 months (``ES_F,C``).
    es_reduced_current : float
        ES of the reduced set over the current 12 months (``ES_R,C``), > 0.
    floor_ratio : bool, default False
        Floor the ratio ``ES_F,C / ES_R,C`` at 1 (as in the Basel text MAR33.5, not verified in this
        project's references; off by default so the result is the formula above).

    Returns
    -------
    float
    """
    vals = {"es_reduced_stressed": es_reduced_stressed, "es_full_current": es_full_current, "es_reduced_current": es_reduced_current}
    for k, v in vals.items():
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(float(v)) or float(v) < 0:
            raise ValueError(f"{k} must be a finite number >= 0, got {v!r}")
    if float(es_reduced_current) == 0.0:
        raise ValueError("es_reduced_current must be > 0 (it divides the full-set ES)")
    ratio = float(es_full_current) / float(es_reduced_current)
    if floor_ratio:
        ratio = max(ratio, 1.0)
    return float(es_reduced_stressed) * ratio


# --------------------------------------------------------------------------------------------
# scenario windows and discreteness
# --------------------------------------------------------------------------------------------
def n_distinct(pnl: Any, *, decimals: int = 6) -> int:
    """Number of distinct outcomes of a simulated P&L sample (values equal after rounding to ``decimals``
    currency decimals count once).

    Replays of a historical window in sequence give every path the same P&L on the days before any random
    element enters, so a sample of 10,000 paths can hold only a handful of outcomes; a Monte Carlo
    confidence interval of a quantile of such a sample says nothing about the scenario."""
    x = _float_array(pnl, "pnl", 1)
    return int(np.unique(np.round(x, decimals)).size)


def window_pnl(returns: Any, positions: Any, *, window: int = FRTB_BASE_HORIZON, per_asset: bool = False,
               starts: Sequence[int] | None = None, block_paths: int = 2048) -> np.ndarray:
    """P&L of the initial positions over every ``window``-day window of the simulated paths.

    For a window starting after day ``s`` (covering days ``s + 1 .. s + window``, ``s = 0 .. horizon -
    window``) the P&L of asset ``a`` is ``pos_a (exp(sum_{t=s}^{s+window-1} r_{t,a} / 100) - 1)``: the
    position amount held at time 0 bought again at the window's start (the FRTB convention of applying a
    shock over the liquidity horizon to today's positions), by exact revaluation.

    Parameters
    ----------
    returns : array of shape (n_paths, horizon, n_assets)
        Simulated percent log returns.
    positions : array of shape (n_assets,)
        Currency amounts (negative = short).
    window : int, default 10
        Window length in days (``<= horizon``).
    per_asset : bool, default False
        Return per-asset P&L ``(n_paths, n_starts, n_assets)`` instead of the portfolio's ``(n_paths, n_starts)``.
    starts : sequence of int, optional
        Only these window starts ``s`` (0-based: the window covers days ``s + 1 .. s + window``); default all
        ``horizon - window + 1`` of them.
    block_paths : int, default 2048
        Paths per block (bounds the float64 temporaries).

    Returns
    -------
    ndarray of shape (n_paths, n_starts) or (n_paths, n_starts, n_assets)
        Column ``j`` is the window starting after day ``starts[j]``.
    """
    r, pos = _returns_positions(returns, positions)
    n, h, a = r.shape
    window = _check_horizon(window, h, "window")
    if starts is None:
        idx = np.arange(h - window + 1)
    else:
        idx = np.asarray([int(s) for s in starts], dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() > h - window):
            raise ValueError(f"window starts must lie in 0..{h - window} for a {window}-day window in {h} days")
    out = np.empty((n, idx.size, a) if per_asset else (n, idx.size))
    for lo in range(0, n, block_paths):
        hi = min(n, lo + block_paths)
        cum = np.zeros((hi - lo, h + 1, a))
        np.cumsum(r[lo:hi], axis=1, dtype=np.float64, out=cum[:, 1:, :])
        growth = np.expm1((cum[:, idx + window, :] - cum[:, idx, :]) / 100.0)
        out[lo:hi] = growth * pos if per_asset else growth @ pos
    return out


@dataclass(frozen=True)
class WorstWindow:
    """The ``window``-day window of a scenario with the largest ES, and the MAR33.4 cascade on it.

    Attributes
    ----------
    window : int
        Window length in days (10, the FRTB base horizon).
    level : float
        ES confidence level.
    start_day, end_day : int
        First and last simulated day of the worst window (1-based, inclusive).
    es : float
        Its ``window``-day ES of the whole portfolio (currency, losses positive).
    es_by_start : ndarray of shape (n_starts,)
        ES of the window starting after day ``s`` for ``s = 0 .. horizon - window``.
    cascade : dict of int to float or None
        ``{LH_j: ES_T(P, j)}`` on the worst window (see :func:`frtb_es_cascade`); None without liquidity horizons.
    liquidity_adjusted_es : float or None
        :func:`frtb_es` of ``cascade``.
    """

    window: int
    level: float
    start_day: int
    end_day: int
    es: float
    es_by_start: np.ndarray = field(repr=False)
    cascade: dict[int, float] | None
    liquidity_adjusted_es: float | None

    def within(self, horizon: int, returns: Any = None, positions: Any = None,
               liquidity_horizons: Any = None) -> "WorstWindow":
        """The worst window among those ending by day ``horizon`` (cascade recomputed when ``returns`` and
        ``positions`` are given and the window changes)."""
        k = int(horizon) - self.window + 1
        if k < 1:
            raise ValueError(f"horizon {horizon} is shorter than the {self.window}-day window")
        es_by = self.es_by_start[:k]
        s = int(np.argmax(es_by))
        if s + 1 == self.start_day or returns is None:
            cascade, la = (self.cascade, self.liquidity_adjusted_es) if s + 1 == self.start_day else (None, None)
        else:
            cascade, la = _cascade_at(returns, positions, liquidity_horizons, s, self.window, self.level)
        return WorstWindow(self.window, self.level, s + 1, s + self.window, float(es_by[s]), es_by, cascade, la)


def _es_columns(pnl: np.ndarray, level: float) -> np.ndarray:
    """ES at ``level`` of the loss ``-pnl[:, j]`` for every column ``j`` (the :func:`var_es` point estimate)."""
    n = pnl.shape[0]
    m = _order_index(n, level)
    k = n - m + 1
    top = np.sort(np.partition(-pnl, n - k, axis=0)[n - k:], axis=0)[::-1]  # (k, cols): largest losses, descending
    var = top[k - 1]
    w = min(max(m - n * level, 0.0), 1.0)
    es = (w * var + top[: k - 1].sum(axis=0)) / (n * (1.0 - level))
    return np.maximum(es, var)


def _cascade_at(returns, positions, liquidity_horizons, start: int, window: int, level: float):
    if liquidity_horizons is None:
        return None, None
    ap = window_pnl(returns, positions, window=window, per_asset=True, starts=[start])[:, 0, :]
    cascade = frtb_es_cascade(ap, liquidity_horizons, level=level)
    return cascade, frtb_es(cascade)


def worst_window_es(
    returns: Any,
    positions: Any,
    liquidity_horizons: Any = None,
    *,
    window: int = FRTB_BASE_HORIZON,
    level: float = ES_LEVEL,
) -> WorstWindow:
    """The scenario's worst ``window``-day window and the liquidity-adjusted ES on it.

    For each start ``s = 0 .. horizon - window``, the ``window``-day P&L of the initial positions over days
    ``s + 1 .. s + window`` (:func:`window_pnl`) and its ES at ``level``; the window with the largest ES is
    the worst (the earliest on ties). With ``liquidity_horizons`` the MAR33.4 cascade
    (:func:`frtb_es_cascade`, :func:`frtb_es`) is applied to that window's per-asset P&L.

    This is a scenario figure: the FRTB formula applied to the simulated stress window, not the
    regulatory capital of the portfolio (which needs the bank's full risk-factor set, the reduced-set
    stress calibration of MAR33.5 and the 12-month stress period).

    Parameters
    ----------
    returns : array of shape (n_paths, horizon, n_assets)
        Simulated percent log returns (``horizon >= window``).
    positions : array of shape (n_assets,)
        Currency amounts at time 0.
    liquidity_horizons : array of int of shape (n_assets,), optional
        Each asset's FRTB liquidity horizon (10, 20, 40, 60 or 120).
    window : int, default 10
        Window length in days (the FRTB base horizon).
    level : float, default 0.975
        ES confidence level.

    Returns
    -------
    WorstWindow
    """
    level = check_level(level)
    pnl = window_pnl(returns, positions, window=window)
    n = pnl.shape[0]
    if n < 2:
        raise ValueError(f"returns needs at least 2 paths, got {n}")
    _check_enough(n, level)
    es_by = _es_columns(pnl, level)
    s = int(np.argmax(es_by))
    cascade, la = _cascade_at(returns, positions, liquidity_horizons, s, window, level)
    return WorstWindow(int(window), level, s + 1, s + int(window), float(es_by[s]), es_by, cascade, la)
