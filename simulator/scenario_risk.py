"""Risk figures of a simulated scenario: P&L, value fan, drawdowns, VaR/ES, contributions, correlations,
the FRTB liquidity-adjusted ES, targets and the stress loss against a baseline.

:func:`reduce_run` makes one pass over a run's paths (exact revaluation with :mod:`simulator.risk`'s
primitives) and :func:`risk_document` turns the reduction into the document ``risk.json`` stores;
:func:`compare_to_baseline` compares two stored runs. Storage (the directory layout, Parquet tables,
manifests, reading back) is :mod:`simulator.results`, which calls this module.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np

from simulator.exceptions import NonFiniteResultError  # its home since 0.4; re-exported here

from simulator.constants import ES_LEVEL
from simulator.risk import (
    FRTB_BASE_HORIZON,
    FRTB_LIQUIDITY_HORIZONS,
    WorstWindow,
    drawdown_summary,
    es_contributions,
    frtb_es,
    frtb_es_cascade,
    n_distinct,
    stress_loss,
    var_es,
)

if TYPE_CHECKING:
    from simulator.results import StoredScenario

__all__ = [
    "DISCRETE_OUTCOMES_MIN",
    "HEADLINE_ES_LEVEL",
    "FRTB_ES_LEVEL",
    "FAN_QUANTILES",
    "TRUNCATION_NOTE",
    "Reduction",
    "reduce_run",
    "risk_document",
    "compare_to_baseline",
    "copula_correlation",
    "headline_levels",
    "pnl_horizons",
    "replay_scaling_of",
    "model_parameters_sha256",
    "NonFiniteResultError",
]

#: Below this many distinct P&L outcomes at a horizon the report shows the count instead of a Monte Carlo
#: confidence interval (the sample is a handful of replayed outcomes, not a random sample of a continuum).
DISCRETE_OUTCOMES_MIN = 1000
#: The ES level of the headline comparisons (FRTB's 97.5 %).
HEADLINE_ES_LEVEL = ES_LEVEL

#: Quantiles of the portfolio value stored in ``fan.parquet``.
FAN_QUANTILES: tuple[float, ...] = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
#: Paths per block when reducing kept daily paths (bounds the float64 temporaries).
_BLOCK_PATHS = 2048



def _qkey(q: float) -> str:
    """Column / key name of a probability: 0.01 -> ``q01``, 0.5 -> ``q50``, 0.999 -> ``q99.9``."""
    return f"q{100 * q:02g}" if 100 * q >= 10 else f"q0{100 * q:g}"



def replay_scaling_of(shocks: Sequence[Mapping[str, Any]] | None) -> str | None:
    """The replay scaling of a scenario's shocks (as stored in risk.json or scenario.json): ``"historical"``,
    ``"filtered"``, ``"mixed"``, or None without a ``historical_replay``. A replay without a ``scaling`` key
    was written before the key existed (stress-sim <= 0.2.0) and was filtered."""
    kinds = {str(s.get("scaling") or "filtered") for s in (shocks or [])
             if isinstance(s, Mapping) and s.get("type") == "historical_replay"}
    if not kinds:
        return None
    return kinds.pop() if len(kinds) == 1 else "mixed"



def headline_levels(levels: Sequence[float]) -> tuple[float, float]:
    """The (VaR level, ES level) of the Basel and FRTB conventions: 99 % VaR and 97.5 % ES when computed,
    else the highest level for both. Kept for callers of 0.2; the report and ``stress-sim run`` show VaR and
    ES side by side at every computed level instead, never one level's VaR next to another's ES."""
    lv = [float(x) for x in levels]
    var_level = 0.99 if any(math.isclose(x, 0.99) for x in lv) else max(lv)
    es_level = 0.975 if any(math.isclose(x, 0.975) for x in lv) else max(lv)
    return var_level, es_level


def pnl_horizons(risk_horizons: Iterable[int], horizon: int, *, extra: Iterable[int] = ()) -> list[int]:
    """Holding periods (days) at which a run stores portfolio P&L.

    The scenario's ``outputs.horizons``, 1 and 10 days, the FRTB liquidity horizons (10, 20, 40, 60,
    120) and ``extra``, each kept when ``<= horizon``, plus the whole scenario ``horizon``; sorted.
    """
    hs = {int(h) for h in (*risk_horizons, 1, 10, *FRTB_LIQUIDITY_HORIZONS, *extra) if 1 <= int(h) <= horizon}
    hs.add(int(horizon))
    return sorted(hs)



def copula_correlation(model) -> tuple[np.ndarray, str]:
    """The model copula's correlation matrix and how it was obtained.

    Gaussian and t copulas: their correlation parameter. Exchangeable Archimedean copulas: the
    elliptical-equivalent correlation ``sin(pi tau / 2)`` of their Kendall's tau. Independent: the
    identity. Each family's own rule (:meth:`simulator.families.CopulaFamily.equivalent_correlation`).
    """
    from simulator.families import copula_family, spec_params

    return copula_family(model.copula.type).equivalent_correlation(spec_params(model.copula), model.n_assets)




def _explosion_message(sim, path: int) -> str:
    """Describe an overflowing path: where its cumulative log return and volatility went."""
    a = int(np.argmax(np.abs(sim.cum_return[path]))) if np.all(np.isfinite(sim.cum_return[path])) else 0
    msg = (f"path {path}: the portfolio value overflows float64 (exp of a cumulative log return beyond about "
           f"70,000 %); asset {sim.asset_names[a]!r} ends with a cumulative log return of "
           f"{sim.cum_return[path, a]:,.0f} %")
    if sim.sigma is not None:
        day = int(np.argmax(sim.sigma[path, :, a]))
        msg += f" and reaches a daily volatility of {sim.sigma[path, day, a]:,.0f} % on day {day + 1}"
    return msg + ("; the simulated dynamics exploded (look at the scenario's shocks: heavy-tailed jumps feeding "
                  "the volatility recursion, volatility multipliers with feedback)")


def _corr_from_moments(s1: np.ndarray, s2: np.ndarray, count: int) -> np.ndarray:
    mean = s1 / count
    cov = s2 / count - np.outer(mean, mean)
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(sd, sd)
    corr[~np.isfinite(corr)] = 0.0
    np.fill_diagonal(corr, np.where(sd > 0, 1.0, 0.0))
    return np.clip(corr, -1.0, 1.0)


def _matrix(m: np.ndarray, names: Sequence[str]) -> dict[str, Any]:
    return {"assets": list(names), "matrix": [[float(v) for v in row] for row in m]}



# ---------------------------------------------------------------------------------------------
# the reduction of one run
# ---------------------------------------------------------------------------------------------
@dataclass
class Reduction:
    """One run reduced to what its risk figures need (see :func:`reduce_run`)."""

    horizons: list[int]
    pnl: dict[int, np.ndarray] | None           # portfolio P&L per horizon, (n_paths,)
    asset_pnl: dict[int, np.ndarray] | None     # per-asset P&L per horizon, (n_paths, n_assets)
    fan: Any | None                             # pandas DataFrame
    drawdown: np.ndarray | None                 # portfolio max drawdown per path, currency
    drawdown_rel: np.ndarray | None             # relative to the running peak, when defined
    corr: np.ndarray
    corr_basis: str
    #: names of ``asset_pnl``'s columns when they are not the model's assets (a book: its position ids)
    contribution_names: list[str] | None = None
    #: per path and asset at the reporting horizon: cumulative log return and max drawdown (None: the engine's
    #: own at the whole horizon, or computed from the daily paths)
    asset_stats: tuple[np.ndarray, np.ndarray] | None = None
    #: ten-day window P&L per liquidity class (:class:`simulator.chunked_risk.WindowRows`), or None
    windows: Any = None
    #: a book's P&L at the reporting horizon by factor class (:func:`simulator.book_risk.book_attribution`)
    book_attribution: dict[str, np.ndarray] | None = None
    #: a book run's par yields per rate factor (:func:`simulator.book_risk.curve_level_rows` columns)
    curve_levels: dict[str, np.ndarray] | None = None


def _reduce_paths(sim, positions: np.ndarray | None, horizons: list[int], dd_horizon: int | None = None) -> Reduction:
    """One pass over kept daily paths, row by row (:mod:`simulator.chunked_risk`): horizon P&L (exact
    revaluation), value fan, portfolio drawdowns over days ``0..dd_horizon`` (default the whole horizon) and the
    pooled correlation of daily returns; the same bytes as a run reduced chunk by chunk where it ran."""
    from simulator.chunked_risk import ChunkedRisk, RiskSpec, rows_of_simulation

    h = sim.returns.shape[1]
    spec = RiskSpec(asset_names=tuple(sim.asset_names), horizon=h, keep="paths",
                    horizons=tuple(int(x) for x in horizons), report_horizon=h if dd_horizon is None else int(dd_horizon),
                    positions=None if positions is None else tuple(float(x) for x in positions))
    red = ChunkedRisk(spec, rows_of_simulation(sim, spec)).reduction()
    red.asset_stats = None  # risk_document computes them at its own reporting horizon
    return red


def _reduce_summary(sim, positions: np.ndarray | None) -> Reduction:
    """Reduction when only per-path summaries were simulated: P&L at the whole horizon only."""
    import pandas as pd

    h = sim.horizon
    cum = sim.cum_return
    if positions is not None:
        with np.errstate(over="ignore", invalid="ignore"):
            gains = np.expm1(cum / 100.0) * positions  # pnl_from_cum_returns without its finiteness check
        total = gains.sum(axis=1)
        if not np.all(np.isfinite(total)):
            raise NonFiniteResultError(_explosion_message(sim, int(np.argwhere(~np.isfinite(total))[0, 0])))
    corr = _corr_from_moments(cum.sum(axis=0), cum.T @ cum, cum.shape[0])
    if positions is None:
        return Reduction([h], None, None, None, None, None, corr,
                         "cumulative returns over the horizon across paths (Pearson; daily paths not kept)")
    v0 = float(positions.sum())
    values = np.column_stack([np.full(total.shape, v0), v0 + total])
    q = np.quantile(values, FAN_QUANTILES, axis=0)
    fan = pd.DataFrame({"day": np.array([0, h], dtype=np.int32), "mean": values.mean(axis=0),
                        **{_qkey(p): q[i] for i, p in enumerate(FAN_QUANTILES)}})
    return Reduction([h], {h: total}, {h: gains}, fan, None, None, corr,
                     "cumulative returns over the horizon across paths (Pearson; daily paths not kept)")


def _asset_horizon(sim, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Per path and asset over days ``1..horizon``: the cumulative percent log return and the largest fall
    of the price from its running peak (fraction), as the engine's summaries define them; the engine's own
    arrays at the whole horizon."""
    if horizon == sim.horizon or sim.returns is None:
        return sim.cum_return, sim.max_drawdown
    n, _, a = sim.returns.shape
    cum_out, mdd = np.empty((n, a)), np.empty((n, a))
    for lo in range(0, n, _BLOCK_PATHS):
        hi = min(n, lo + _BLOCK_PATHS)
        cum = np.cumsum(np.asarray(sim.returns[lo:hi, :horizon], dtype=np.float64), axis=1)
        peak = np.maximum(np.maximum.accumulate(cum, axis=1), 0.0)
        cum_out[lo:hi] = cum[:, -1]
        mdd[lo:hi] = -np.expm1(-np.max(peak - cum, axis=1) / 100.0)
    return cum_out, mdd


def _asset_table(sim, red: Reduction, positions: np.ndarray | None, es_level: float, horizon: int,
                 asset_stats: tuple[np.ndarray, np.ndarray], model=None) -> list[dict[str, Any]]:
    """Per-asset stress table at ``horizon`` days (simple returns and drawdowns in percent; position figures
    in currency, ``mean_loss`` and ES losses positive, ``mean_pnl`` gains positive). A rate or spread factor
    (absolute changes) gets its level change in basis points (``*_change_bp``) instead of returns and
    drawdowns, and ``unit = "bp"``."""
    cum, mdd = asset_stats
    with np.errstate(over="ignore"):
        simple = np.expm1(cum / 100.0) * 100.0
    q = np.percentile(simple, [1, 5, 50, 95, 99], axis=0)
    mdd = mdd * 100.0
    rows = []
    h = horizon
    contrib = None
    if positions is not None:
        contrib = es_contributions(red.asset_pnl[h], level=es_level, asset_names=sim.asset_names)
    for j, name in enumerate(sim.asset_names):
        row = {
            "asset": name,
            "horizon_days": int(h),
            "mean_return_pct": float(simple[:, j].mean()),
            "p01_return_pct": float(q[0, j]), "p05_return_pct": float(q[1, j]), "median_return_pct": float(q[2, j]),
            "p95_return_pct": float(q[3, j]), "p99_return_pct": float(q[4, j]),
            "mean_max_drawdown_pct": float(mdd[:, j].mean()),
            "p99_max_drawdown_pct": float(np.percentile(mdd[:, j], 99)),
            "worst_max_drawdown_pct": float(mdd[:, j].max()),
            "unit": "pct",
        }
        if model is not None and model.kind(name) in ("rate", "spread"):
            qc = np.percentile(cum[:, j], [1, 5, 50, 95, 99])
            row = {"asset": name, "horizon_days": int(h), "unit": "bp", "kind": model.kind(name),
                   "mean_change_bp": float(cum[:, j].mean()), "p01_change_bp": float(qc[0]),
                   "p05_change_bp": float(qc[1]), "median_change_bp": float(qc[2]), "p95_change_bp": float(qc[3]),
                   "p99_change_bp": float(qc[4])}
        if positions is not None:
            ap = red.asset_pnl[h][:, j]
            alone = var_es(ap, es_level)[es_level]
            row.update({
                "position": float(positions[j]),
                "mean_pnl": float(ap.mean()),
                "mean_loss": float(-ap.mean()),
                "es_level": es_level,
                "standalone_es": alone.es,
                "es_contribution": float(contrib.contributions[j]),
                "es_share": float(contrib.shares[j]),
            })
        rows.append(row)
    return rows


def _model_info(model, model_source: str | None) -> dict[str, Any]:
    data = (model.provenance or {}).get("data") if isinstance(model.provenance, Mapping) else None
    data = data if isinstance(data, Mapping) else {}
    return {
        "sha256": model.sha256(), "source": model_source,
        "as_of": data.get("window_end"),
        "as_of_definition": "last date of the model's calibration window (provenance.data.window_end)",
        "calibration_window": {"start": data.get("window_start"), "end": data.get("window_end"),
                               "n_obs": data.get("n_obs")},
        "data_source": data.get("source"),
    }


def _start_state_info(model, start_state: str, as_of: str | None) -> dict[str, Any]:
    st = model.start_state()
    names = list(model.assets)
    if start_state == "long-run":
        text = ("long-run state: each asset starts at its unconditional (long-run) variance with a zero residual, "
                "not at the volatility of the as-of date")
    elif model.start is None:
        text = "the model stores no start state, so each asset starts at its unconditional (long-run) variance"
    else:
        text = (f"as-of state: the conditional variance and residual of the last calibration day"
                f"{f' ({as_of})' if as_of else ''}")
    return {
        "kind": start_state, "description": text,
        "start_daily_vol_pct": {a: float(math.sqrt(v)) for a, v in zip(names, st.sigma2)},
        "long_run_daily_vol_pct": {a: float(math.sqrt(m.unconditional_variance)) for a, m in zip(names, model.marginals)},
    }


def _es_level(levels: Sequence[float]) -> float:
    return HEADLINE_ES_LEVEL if any(math.isclose(x, HEADLINE_ES_LEVEL) for x in levels) else max(levels)


def _risk_document(result, model, red: Reduction, *, ci: float, keep: str, report_horizon: int,
                   model_source: str | None = None, start_state: str = "as-of",
                   horizon_extended_from: int | None = None) -> dict[str, Any]:
    sim = result.simulation
    levels = tuple(float(x) for x in result.var_levels)
    es_level = _es_level(levels)
    positions = result.positions
    names = list(sim.asset_names)
    hr = int(report_horizon)
    copula_corr, copula_basis = copula_correlation(model)
    minfo = _model_info(model, model_source)
    asset_stats = red.asset_stats if red.asset_stats is not None else _asset_horizon(sim, hr)
    doc: dict[str, Any] = {
        "scenario": {
            "name": result.name, "description": result.description,
            "horizon_days": int(sim.horizon), "reporting_horizon_days": hr, "n_paths": int(sim.n_paths),
            "shocks": result.shocks, "shock_types": [s.get("type") for s in result.shocks],
            "replay_scaling": replay_scaling_of(result.shocks),
        },
        "units": {
            "pnl": f"{result.currency}; gains positive, exact revaluation of buy-and-hold positions",
            "mean_loss": f"{result.currency}; losses positive (minus the mean P&L)",
            "var_es": f"{result.currency}; losses positive",
            "returns": "percent; simple price change unless the name says log (cum_log_return_pct, log_return_pct: "
                       "percent log returns)",
            "drawdown": f"{result.currency} from the running peak of the portfolio value; *_relative as a fraction",
            "horizons": "trading days",
        },
        "definitions": {
            "reporting_horizon_days": "horizon of the headline figures: the scenario's own horizon, or for a "
                                      "baseline extended to the longest scenario horizon, its file's horizon",
            "n_distinct_pnl": f"number of distinct portfolio P&L outcomes across paths at the horizon (values equal "
                              f"to 1e-6 {result.currency} count once); below {DISCRETE_OUTCOMES_MIN} the loss "
                              "distribution is a few replayed outcomes and Monte Carlo intervals are not shown",
        },
        "model": minfo,
        "as_of": minfo["as_of"],
        "start_state": _start_state_info(model, start_state, minfo["as_of"]),
        "assets": names,
        "currency": result.currency,
        "levels": list(levels),
        "headline": {"levels": list(levels), "es_level": es_level, "horizon_days": hr},
        "ci": ci,
        "daily_paths_kept": keep == "paths",
        "pnl_horizons": red.horizons,
        "portfolio": None,
        "risk": [],
        "es_contributions": [],
        "drawdown": {"horizon_days": hr},
        "correlation": {
            "realised": _matrix(red.corr, names), "realised_basis": red.corr_basis,
            "copula": _matrix(copula_corr, names), "copula_basis": copula_basis, "copula_type": model.copula.type,
        },
        "assets_table": _asset_table(sim, red, positions, es_level, hr, asset_stats, model),
    }
    if horizon_extended_from is not None:
        doc["scenario"]["horizon_extended_from"] = int(horizon_extended_from)
    book = getattr(result, "book", None)
    if red.pnl is not None and (positions is not None or book is not None):
        if positions is not None:
            doc["portfolio"] = {
                "positions": {a: float(p) for a, p in zip(names, positions)},
                "initial_value": float(positions.sum()),
                "gross_value": float(np.abs(positions).sum()),
                "currency": result.currency,
            }
        else:
            doc["portfolio"] = {"book": book.source, "n_positions": len(book.positions), "currency": result.currency,
                                "initial_value": None, "revaluation": "full revaluation of every position"}
        for hz in red.horizons:
            x = red.pnl[hz]
            rm = var_es(x, levels, ci=ci)
            doc["risk"].append({
                "horizon_days": hz, "mean_pnl": float(x.mean()), "mean_loss": float(-x.mean()),
                "sd_pnl": float(x.std(ddof=1)) if x.size > 1 else 0.0,
                "prob_loss": float(np.mean(x < 0.0)), "worst_loss": float(-x.min()),
                "n_distinct_pnl": n_distinct(x),
                "levels": [e.to_dict() for e in rm],
            })
            for lv in levels:
                doc["es_contributions"].append({"horizon_days": hz, **es_contributions(
                    red.asset_pnl[hz], level=lv, asset_names=red.contribution_names or names).to_dict()})
        if result.liquidity_horizons is not None:
            doc["frtb_es"] = _frtb_document(result, red, names, hr)
        if red.drawdown is not None:
            doc["drawdown"]["portfolio"] = drawdown_summary(red.drawdown)
            if red.drawdown_rel is not None:
                doc["drawdown"]["portfolio_relative"] = drawdown_summary(red.drawdown_rel)
    doc["drawdown"]["per_asset_relative"] = {
        a: drawdown_summary(asset_stats[1][:, j]) for j, a in enumerate(names)}
    if getattr(result, "targets", None):
        doc["targets"] = [dict(t) for t in result.targets]
    if sim.stressed_days is not None and np.any(sim.stressed_days):
        doc["regime"] = {"mean_stressed_days": float(np.mean(sim.stressed_days)),
                         "share_of_days_stressed": float(np.mean(sim.stressed_days) / sim.horizon)}
    return doc


#: The level of the liquidity-adjusted ES (FRTB MAR33).
FRTB_ES_LEVEL = ES_LEVEL


def _cascade_rows(cascade: Mapping[int, float], names, lh, positions) -> list[dict[str, Any]]:
    T = FRTB_BASE_HORIZON
    rows, prev = [], None
    for h in FRTB_LIQUIDITY_HORIZONS:
        weight = 1.0 if prev is None else math.sqrt((h - prev) / T)
        rows.append({"liquidity_horizon_days": h, "es_base": cascade[h], "scale": weight,
                     "scaled_es": cascade[h] * weight,
                     "assets": [a for a, x, p in zip(names, lh, positions) if x >= h and p != 0.0]})
        prev = h
    return rows


def _frtb_document(result, red: Reduction, names: list[str], report_horizon: int) -> dict[str, Any]:
    """Liquidity-adjusted ES (the MAR33.4 cascade) over the scenario's worst 10-day window.

    For each start day ``s`` the 10-day P&L of the initial positions over days ``s+1..s+10``; the window whose
    10-day 97.5 % ES is largest (within the reporting horizon) gets the cascade. The first 10 days' figure
    (what format 1 reported) is kept under ``first_window``; ``worst_window_by_horizon`` gives the worst window
    within each stored P&L horizon >= 10 days (for same-horizon comparisons with a baseline)."""
    T = FRTB_BASE_HORIZON
    lh = result.liquidity_horizons
    positions = result.positions
    sim = result.simulation
    doc: dict[str, Any] = {
        "level": FRTB_ES_LEVEL, "base_horizon_days": T,
        "kind": "scenario figure",
        "label": "scenario liquidity-adjusted ES over the worst 10-day window (MAR33.4 cascade applied to the "
                 "simulated scenario; not a regulatory capital figure)",
        "liquidity_horizons": {a: int(h) for a, h, p in zip(names, lh, positions) if p != 0.0},
        "definition": "ES = sqrt(ES_T(P)^2 + sum_{j>=2} (ES_T(P, j) sqrt((LH_j - LH_{j-1}) / T))^2), T = 10 days; "
                      "ES_T(P, j): 10-day ES with only the positions of liquidity horizon >= LH_j shocked",
        "window_rule": "for each start day s, the 10-day P&L of the initial position amounts over days s+1..s+10 "
                       "(exact revaluation); the window with the largest 10-day 97.5% ES of the whole portfolio is "
                       "the worst (earliest on ties), searched within the reporting horizon",
        "not_capital": "a scenario figure: the FRTB formula on this scenario's simulated worst window, not the "
                       "bank's FRTB capital (which needs the full risk-factor set, the MAR33.5 stress calibration "
                       "and a 12-month stress period)",
    }
    base = red.asset_pnl.get(T) if red.asset_pnl else None
    windows = red.windows
    if windows is None and sim.returns is not None and base is not None and report_horizon >= T:
        from simulator.chunked_risk import window_rows

        windows = window_rows(sim.returns, positions, lh)
    if base is None or windows is None or report_horizon < T:
        doc["unavailable"] = (f"needs the daily paths of at least {T} days: horizon_days >= {T} and the daily paths "
                              f"kept (outputs.keep = \"paths\", or few enough paths that they are kept)")
        return doc
    first = frtb_es_cascade(base, lh, level=FRTB_ES_LEVEL)
    doc["first_window"] = {"start_day": 1, "end_day": T, "es_base_horizon": first[T],
                           "classes": _cascade_rows(first, names, lh, positions),
                           "liquidity_adjusted_es": frtb_es(first)}
    full = windows.worst(FRTB_ES_LEVEL)
    by_h = []
    cache: dict[int, WorstWindow] = {full.start_day: full}
    for hz in sorted({h for h in red.horizons if h >= T} | {int(report_horizon)}):
        w = full.within(hz)
        if w.start_day not in cache:
            cache[w.start_day] = windows.worst(FRTB_ES_LEVEL, hz)
        w = cache[w.start_day]
        by_h.append({"horizon_days": hz, "start_day": w.start_day, "end_day": w.end_day, "es_base_horizon": w.es,
                     "liquidity_adjusted_es": w.liquidity_adjusted_es})
    worst = cache[full.within(report_horizon).start_day]
    doc.update({
        "search_horizon_days": int(report_horizon),
        "worst_window": {"start_day": worst.start_day, "end_day": worst.end_day},
        "classes": _cascade_rows(worst.cascade, names, lh, positions),
        "es_base_horizon": worst.cascade[T],
        "liquidity_adjusted_es": worst.liquidity_adjusted_es,
        "worst_window_by_horizon": by_h,
        "es_10d_by_start_day": [float(x) for x in full.es_by_start],
    })
    return doc



# ---------------------------------------------------------------------------------------------
# stress loss against the baseline
# ---------------------------------------------------------------------------------------------

def model_parameters_sha256(model_dict: Mapping[str, Any]) -> str:
    """sha256 of a model dict's parameters: without its start state and provenance (a baseline run from the
    long-run state has the same parameters as the as-of run)."""
    from simulator.io import sha256_bytes

    d = {k: v for k, v in model_dict.items() if k not in ("provenance", "start")}
    return sha256_bytes(json.dumps(d, sort_keys=True).encode())


#: Why the baseline can be read at a shorter horizon than it was run.
TRUNCATION_NOTE = ("The baseline has no shocks, so its first h days are a baseline run of h days: truncating the "
                   "long baseline run to a scenario's horizon gives exactly the law of a baseline run at that "
                   "horizon (same model, same start state, same seed).")


def compare_to_baseline(scenario: StoredScenario, baseline: StoredScenario, *,
                        levels: Sequence[float] | None = None) -> dict[str, Any] | None:
    """Stress loss of ``scenario`` against ``baseline`` at every holding period both stored.

    ``stress_loss = rho(L_scenario) - rho(L_baseline)`` for the mean loss, VaR and ES of the loss
    ``L = -P&L`` at the same horizon (see :func:`simulator.risk.stress_loss`); positive means the
    scenario loses more. Returns None when either has no portfolio P&L or no horizon is shared.

    Returns
    -------
    dict
        ``{"baseline": name, "baseline_sha256": ..., "horizons": [{"horizon_days": h, "rows": [...]}],
        "headline": {...}}``. The headline is at the scenario's reporting horizon when the baseline reaches it,
        else at the longest shared horizon: ``rows`` (mean loss, VaR and ES at every level, scenario next to
        baseline), the 97.5 % ES stress loss with its standard error and ratio, and, when both have one, the
        baseline's worst-10-day-window liquidity-adjusted ES searched within the same horizon.
    """
    if not scenario.pnl or not baseline.pnl:
        return None
    common = sorted(set(scenario.pnl) & set(baseline.pnl))
    if not common:
        return None
    if levels is None:
        levels = scenario.risk["levels"]
    levels = tuple(float(x) for x in levels)
    es_level = _es_level(levels)
    out = {"baseline": baseline.name,
           "baseline_scenario_sha256": baseline.manifest.get("scenario_sha256"),
           "same_model": baseline.manifest.get("model_sha256") == scenario.manifest.get("model_sha256"),
           "same_model_parameters": model_parameters_sha256(baseline.model) == model_parameters_sha256(scenario.model),
           "baseline_start_state": baseline.start_state,
           "baseline_simulated_horizon_days": baseline.horizon,
           "definition": "stress_loss = measure(scenario loss) - measure(baseline loss), same horizon",
           "truncation_note": TRUNCATION_NOTE,
           "horizons": []}
    for h in common:
        sl = stress_loss(scenario.pnl[h], baseline.pnl[h], levels=levels)
        out["horizons"].append({"horizon_days": h, "rows": [dict(r) for r in sl.rows]})
    target = scenario.reporting_horizon
    h_main = target if target in common else common[-1]
    entry = next(x for x in out["horizons"] if x["horizon_days"] == h_main)
    es_row = next(r for r in entry["rows"] if r["measure"] == "ES" and math.isclose(r["level"], es_level))
    mean_row = next(r for r in entry["rows"] if r["measure"] == "mean_loss")
    out["headline"] = {"horizon_days": h_main, "es_level": es_level, "es_stress_loss": es_row["stress_loss"],
                       "es_stress_loss_se": es_row["se"], "es_ratio": es_row["ratio"],
                       "es_scenario": es_row["scenario"], "es_baseline": es_row["baseline"],
                       "mean_stress_loss": mean_row["stress_loss"], "mean_stress_loss_se": mean_row["se"],
                       "at_scenario_horizon": h_main == target,
                       "baseline_truncated": baseline.horizon > h_main,
                       "rows": [dict(r) for r in entry["rows"]]}
    ww = next((w for w in _get_list(baseline.risk, "frtb_es", "worst_window_by_horizon")
               if w.get("horizon_days") == h_main), None)
    if ww is not None:
        out["headline"]["baseline_worst_window"] = dict(ww)
    return out


def _get_list(d: Mapping, *keys: str) -> list:
    for k in keys:
        if not isinstance(d, Mapping):
            return []
        d = d.get(k)
    return [x for x in d if isinstance(x, Mapping)] if isinstance(d, list) else []


# ---------------------------------------------------------------------------------------------
# the public entry points
# ---------------------------------------------------------------------------------------------
def reduce_run(sim, positions: np.ndarray | None, horizons: list[int], *, report_horizon: int) -> Reduction:
    """One pass over a run: with daily paths, P&L at every horizon in ``horizons``, the daily value fan,
    portfolio drawdowns over days ``0..report_horizon`` and the pooled correlation of daily returns; with
    summaries only (``sim.returns is None``), the P&L at the whole horizon.

    Raises
    ------
    NonFiniteResultError
        A simulated price path overflowed float64.
    """
    if sim.returns is not None:
        return _reduce_paths(sim, positions, horizons, dd_horizon=report_horizon)
    return _reduce_summary(sim, positions)


def risk_document(result, model, red: Reduction, *, ci: float, keep: str, report_horizon: int,
                  model_source: str | None = None, start_state: str = "as-of",
                  horizon_extended_from: int | None = None) -> dict[str, Any]:
    """The risk figures of ``result`` (a :class:`~simulator.runner.SimulatedScenario`) as ``risk.json`` holds them,
    without the results format tag and the baseline comparison (which :func:`simulator.results.write_results`
    adds)."""
    return _risk_document(result, model, red, ci=ci, keep=keep, report_horizon=report_horizon,
                          model_source=model_source, start_state=start_state,
                          horizon_extended_from=horizon_extended_from)
