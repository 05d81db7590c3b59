"""Scenario run results on disk: one directory per scenario, self-describing and reloadable.

:func:`write_results` stores one :class:`~simulator.runner.ScenarioResult` under
``RESULTS_DIR/<scenario-name>/``; :func:`load_results` reads it back and :func:`load_results_tree`
reads every scenario directory below a results folder (what ``stress-sim report`` consumes).

Layout of ``RESULTS_DIR/<scenario-name>/``
------------------------------------------
``manifest.json``
    What produced the run: package versions, seed entropy, model and scenario hashes, input file
    hashes (model file, scenario file, calibration data), the command line, the run settings, and the
    sha256 of every other file of the directory.
``summary.parquet``
    One row per (path, asset): ``cum_log_return_pct`` (cumulative percent **log** return over the
    simulated horizon; ``exp(x / 100) - 1`` is the simple return) and ``max_drawdown`` (largest fall of
    the asset's price from its running peak, fraction). Results of format ``stress-sim-results/1``
    (stress-sim <= 0.2.0) name the first column ``cum_return_pct``; :meth:`ScenarioResults.summary`
    gives both under the new name (see :func:`result_columns`).
``pnl.parquet``
    One row per (path, horizon): ``pnl`` of the portfolio held ``horizon_days`` days, by exact
    revaluation ``sum_a pos_a (exp(sum_{t<h} r_{t,a} / 100) - 1)`` (currency; gains positive).
    Written when the scenario has a portfolio.
``fan.parquet``
    One row per day ``0..horizon``: mean and quantiles of the portfolio value ``V_0 + P&L_t``
    across paths (for the fan chart); days 0 and ``horizon`` only when the daily paths were not kept.
``risk.json``
    VaR / ES with Monte Carlo confidence intervals per level and horizon, the number of distinct P&L
    outcomes per horizon (``n_distinct_pnl``), Euler ES contributions per asset, the drawdown
    distribution, the realised correlation matrix of daily returns next to the model copula's, the
    per-asset stress table, the model's as-of date and start state, the replay scaling, the scenario's
    targets, the liquidity-adjusted ES over the scenario's worst 10-day window and, when a baseline was
    given, the stress loss against it (see :func:`compare_to_baseline`). ``reporting_horizon_days`` is
    the horizon of the headline figures: the scenario's own, except for a baseline extended to the
    longest scenario horizon, whose figures are reported at its file's horizon.
``model.json``, ``scenario.json``
    The model (with its calibration provenance) and the validated scenario, so the run can be
    reproduced and the report's model card written from the directory alone.
``paths.parquet``
    Only when the scenario asks ``outputs.keep = "paths"``: one row per (path, day, asset) with
    ``log_return_pct`` (daily percent log return) and ``sigma_pct`` (conditional volatility, percent per
    day); format ``stress-sim-results/1`` names the first ``return_pct``.

A directory is written completely under a temporary name in ``RESULTS_DIR`` and then swapped in
by renames, so a failed or killed run leaves an existing result untouched (and never a partial one).
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from simulator.io import (
    MANIFEST_NAME,
    atomic_write_json,
    atomic_write_parquet,
    build_manifest,
    safe_join,
    sha256_file,
    write_manifest,
)
from simulator.risk import (
    FRTB_BASE_HORIZON,
    FRTB_LIQUIDITY_HORIZONS,
    drawdown_summary,
    es_contributions,
    WorstWindow,
    frtb_es,
    frtb_es_cascade,
    n_distinct,
    stress_loss,
    var_es,
    worst_window_es,
)

__all__ = [
    "RESULTS_FORMAT",
    "RESULTS_FORMATS",
    "result_columns",
    "DISCRETE_OUTCOMES_MIN",
    "HEADLINE_ES_LEVEL",
    "START_STATES",
    "long_run_model",
    "model_parameters_sha256",
    "replay_scaling_of",
    "TRUNCATION_NOTE",
    "PATH_CELL_LIMIT",
    "FAN_QUANTILES",
    "ScenarioResults",
    "pnl_horizons",
    "keep_for_run",
    "write_results",
    "load_results",
    "load_results_tree",
    "compare_to_baseline",
    "headline_levels",
    "copula_correlation",
    "NonFiniteResultError",
]

#: Format tag written into every manifest and risk.json (bump on incompatible layout changes).
#: ``/2`` (stress-sim 0.3): log-return columns named ``cum_log_return_pct`` / ``log_return_pct``; headline
#: figures at ``reporting_horizon_days``; ``n_distinct_pnl``; the worst-window liquidity-adjusted ES.
RESULTS_FORMAT = "stress-sim-results/2"
#: Column names of the per-path files by format: role -> column. ``cum_log_return`` (summary.parquet) and
#: ``log_return`` (paths.parquet) are percent log returns in every format; only their names changed.
_COLUMNS: dict[str, dict[str, str]] = {
    "stress-sim-results/1": {"cum_log_return": "cum_return_pct", "max_drawdown": "max_drawdown",
                             "log_return": "return_pct", "sigma": "sigma_pct"},
    "stress-sim-results/2": {"cum_log_return": "cum_log_return_pct", "max_drawdown": "max_drawdown",
                             "log_return": "log_return_pct", "sigma": "sigma_pct"},
}
#: Every results format this version reads and verifies, oldest first.
RESULTS_FORMATS: tuple[str, ...] = tuple(_COLUMNS)
#: Below this many distinct P&L outcomes at a horizon the report shows the count instead of a Monte Carlo
#: confidence interval (the sample is a handful of replayed outcomes, not a random sample of a continuum).
DISCRETE_OUTCOMES_MIN = 1000
#: The ES level of the headline comparisons (FRTB's 97.5 %).
HEADLINE_ES_LEVEL = 0.975
#: Start states of a baseline: the model's ``start`` (the last calibration day) or its long-run state.
START_STATES = ("as-of", "long-run")
#: Largest number of simulated cells (paths x days x assets) a run keeps in memory to build fan charts
#: and horizon P&L; above it only per-path summaries are simulated. 25M cells hold 400 MB of float64
#: returns and volatilities.
PATH_CELL_LIMIT = 25_000_000
#: Quantiles of the portfolio value stored in ``fan.parquet``.
FAN_QUANTILES: tuple[float, ...] = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
#: Paths per block when reducing kept daily paths (bounds the float64 temporaries).
_BLOCK_PATHS = 2048


def _dir_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o777 & ~mask


#: Mode of result directories (``mkdtemp`` creates them 0o700).
_DIR_MODE = _dir_mode()
_FILES_REQUIRED = ("risk.json", "summary.parquet", "fan.parquet", "model.json", "scenario.json")


# ---------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------
def _qkey(q: float) -> str:
    """Column / key name of a probability: 0.01 -> ``q01``, 0.5 -> ``q50``, 0.999 -> ``q99.9``."""
    return f"q{100 * q:02g}" if 100 * q >= 10 else f"q0{100 * q:g}"


def result_columns(fmt: str | None) -> dict[str, str]:
    """Column names of ``summary.parquet`` and ``paths.parquet`` in results of format ``fmt``.

    Keys: ``cum_log_return``, ``max_drawdown`` (summary) and ``log_return``, ``sigma`` (paths). A missing
    format (hand-made manifests) reads as ``stress-sim-results/1``; an unknown one is a ``ValueError``.
    """
    key = "stress-sim-results/1" if fmt is None else str(fmt)
    if key not in _COLUMNS:
        raise ValueError(f"results format {key!r} is not one this stress-sim reads ({', '.join(RESULTS_FORMATS)}); "
                         "use the stress-sim version that wrote it")
    return dict(_COLUMNS[key])


def replay_scaling_of(shocks: Sequence[Mapping[str, Any]] | None) -> str | None:
    """The replay scaling of a scenario's shocks (as stored in risk.json or scenario.json): ``"historical"``,
    ``"filtered"``, ``"mixed"``, or None without a ``historical_replay``. A replay without a ``scaling`` key
    was written before the key existed (stress-sim <= 0.2.0) and was filtered."""
    kinds = {str(s.get("scaling") or "filtered") for s in (shocks or [])
             if isinstance(s, Mapping) and s.get("type") == "historical_replay"}
    if not kinds:
        return None
    return kinds.pop() if len(kinds) == 1 else "mixed"


def long_run_model(model):
    """``model`` started from its long-run state: each asset's unconditional variance and a zero residual
    (the state a model without ``start`` begins in), written explicitly as the model's ``start`` so the run's
    ``model.json`` says what was simulated; parameters and provenance are kept."""
    sigma2 = [float(m.unconditional_variance) for m in model.marginals]
    return model.with_changes(start={"sigma2": sigma2, "resid": [0.0] * model.n_assets})


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


def keep_for_run(n_paths: int, horizon: int, n_assets: int, *, requested: str = "summary",
                 cell_limit: int = PATH_CELL_LIMIT) -> str:
    """What a run simulates: ``"paths"`` when the scenario asks for them or when the daily paths fit in
    ``cell_limit`` cells (so fan charts and horizon P&L exist), else ``"summary"``."""
    if requested == "paths":
        return "paths"
    return "paths" if n_paths * horizon * n_assets <= cell_limit else "summary"


def copula_correlation(model) -> tuple[np.ndarray, str]:
    """The model copula's correlation matrix and how it was obtained.

    Gaussian and t copulas: their correlation parameter. Exchangeable Archimedean copulas: the
    elliptical-equivalent correlation ``sin(pi tau / 2)`` of their Kendall's tau. Independent: the
    identity. Each family's own rule (:meth:`simulator.families.CopulaFamily.equivalent_correlation`).
    """
    from simulator.families import copula_family, spec_params

    return copula_family(model.copula.type).equivalent_correlation(spec_params(model.copula), model.n_assets)


class NonFiniteResultError(ValueError):
    """A simulated price path overflowed (the portfolio value is not a finite number)."""


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
class _Reduced:
    horizons: list[int]
    pnl: dict[int, np.ndarray] | None           # portfolio P&L per horizon, (n_paths,)
    asset_pnl: dict[int, np.ndarray] | None     # per-asset P&L per horizon, (n_paths, n_assets)
    fan: Any | None                             # pandas DataFrame
    drawdown: np.ndarray | None                 # portfolio max drawdown per path, currency
    drawdown_rel: np.ndarray | None             # relative to the running peak, when defined
    corr: np.ndarray
    corr_basis: str


def _reduce_paths(sim, positions: np.ndarray | None, horizons: list[int], dd_horizon: int | None = None) -> _Reduced:
    """One pass over kept daily paths, in blocks of paths: horizon P&L (exact revaluation), value fan,
    portfolio drawdowns over days ``0..dd_horizon`` (default the whole horizon) and the pooled correlation
    of daily returns."""
    import pandas as pd

    r = sim.returns
    n, h, a = r.shape
    hd = h if dd_horizon is None else int(dd_horizon)
    s1 = np.zeros(a)
    s2 = np.zeros((a, a))
    have_pf = positions is not None
    pnl = {hz: np.empty(n) for hz in horizons} if have_pf else None
    apnl = {hz: np.empty((n, a)) for hz in horizons} if have_pf else None
    values = np.empty((n, h + 1)) if have_pf else None
    dd = np.empty(n) if have_pf else None
    v0 = float(positions.sum()) if have_pf else 0.0
    rel_ok = have_pf and v0 > 0.0
    dd_rel = np.empty(n) if rel_ok else None
    idx = np.asarray(horizons) - 1
    for lo in range(0, n, _BLOCK_PATHS):
        hi = min(n, lo + _BLOCK_PATHS)
        block = np.asarray(r[lo:hi], dtype=np.float64)
        flat = block.reshape(-1, a)
        s1 += flat.sum(axis=0)
        s2 += flat.T @ flat
        if not have_pf:
            continue
        cum = np.cumsum(block, axis=1)
        cum /= 100.0
        with np.errstate(over="ignore", invalid="ignore"):
            np.expm1(cum, out=cum)                  # simple growth per asset and day
            path_pnl = cum @ positions              # (paths, days)
        if not np.all(np.isfinite(path_pnl)):
            bad = lo + int(np.argwhere(~np.isfinite(path_pnl))[0, 0])
            raise NonFiniteResultError(_explosion_message(sim, bad))
        gains = cum[:, idx, :] * positions          # (paths, n_horizons, assets)
        for j, hz in enumerate(horizons):
            apnl[hz][lo:hi] = gains[:, j, :]
            pnl[hz][lo:hi] = path_pnl[:, hz - 1]
        values[lo:hi, 0] = v0
        values[lo:hi, 1:] = v0 + path_pnl
        vals = values[lo:hi, :hd + 1]
        peak = np.maximum.accumulate(vals, axis=1)
        dd[lo:hi] = np.max(peak - vals, axis=1)
        if rel_ok:
            if np.any(vals <= 0.0):
                rel_ok, dd_rel = False, None
            else:
                dd_rel[lo:hi] = np.max((peak - vals) / peak, axis=1)
    corr = _corr_from_moments(s1, s2, n * h)
    fan = None
    if have_pf:
        q = np.quantile(values, FAN_QUANTILES, axis=0)
        fan = pd.DataFrame({"day": np.arange(h + 1, dtype=np.int32), "mean": values.mean(axis=0),
                            **{_qkey(p): q[i] for i, p in enumerate(FAN_QUANTILES)}})
    return _Reduced(horizons, pnl, apnl, fan, dd, dd_rel if rel_ok else None, corr,
                    "daily percent log returns pooled over paths and days (Pearson)")


def _reduce_summary(sim, positions: np.ndarray | None) -> _Reduced:
    """Reduction when only per-path summaries were simulated: P&L at the whole horizon only."""
    import pandas as pd

    h = sim.horizon
    cum = sim.cum_return
    if positions is not None:
        with np.errstate(over="ignore", invalid="ignore"):
            total = (np.expm1(cum / 100.0) * positions).sum(axis=1)
        if not np.all(np.isfinite(total)):
            raise NonFiniteResultError(_explosion_message(sim, int(np.argwhere(~np.isfinite(total))[0, 0])))
    corr = _corr_from_moments(cum.sum(axis=0), cum.T @ cum, cum.shape[0])
    if positions is None:
        return _Reduced([h], None, None, None, None, None, corr,
                        "cumulative returns over the horizon across paths (Pearson; daily paths not kept)")
    gains = np.expm1(cum / 100.0) * positions
    total = gains.sum(axis=1)
    v0 = float(positions.sum())
    values = np.column_stack([np.full(total.shape, v0), v0 + total])
    q = np.quantile(values, FAN_QUANTILES, axis=0)
    fan = pd.DataFrame({"day": np.array([0, h], dtype=np.int32), "mean": values.mean(axis=0),
                        **{_qkey(p): q[i] for i, p in enumerate(FAN_QUANTILES)}})
    return _Reduced([h], {h: total}, {h: gains}, fan, None, None, corr,
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


def _asset_table(sim, red: _Reduced, positions: np.ndarray | None, es_level: float, horizon: int,
                 asset_stats: tuple[np.ndarray, np.ndarray]) -> list[dict[str, Any]]:
    """Per-asset stress table at ``horizon`` days (simple returns and drawdowns in percent; position figures
    in currency, ``mean_loss`` and ES losses positive, ``mean_pnl`` gains positive)."""
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
        }
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


def _risk_document(result, model, red: _Reduced, *, ci: float, keep: str, report_horizon: int,
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
    asset_stats = _asset_horizon(sim, hr)
    doc: dict[str, Any] = {
        "format": RESULTS_FORMAT,
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
        "assets_table": _asset_table(sim, red, positions, es_level, hr, asset_stats),
    }
    if horizon_extended_from is not None:
        doc["scenario"]["horizon_extended_from"] = int(horizon_extended_from)
    if positions is not None:
        doc["portfolio"] = {
            "positions": {a: float(p) for a, p in zip(names, positions)},
            "initial_value": float(positions.sum()),
            "gross_value": float(np.abs(positions).sum()),
            "currency": result.currency,
        }
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
                    red.asset_pnl[hz], level=lv, asset_names=names).to_dict()})
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


FRTB_ES_LEVEL = 0.975


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


def _frtb_document(result, red: _Reduced, names: list[str], report_horizon: int) -> dict[str, Any]:
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
    if base is None or sim.returns is None or report_horizon < T:
        doc["unavailable"] = (f"needs the daily paths of at least {T} days: horizon_days >= {T} and the daily paths "
                              f"kept (outputs.keep = \"paths\", or few enough paths that they are kept)")
        return doc
    first = frtb_es_cascade(base, lh, level=FRTB_ES_LEVEL)
    doc["first_window"] = {"start_day": 1, "end_day": T, "es_base_horizon": first[T],
                           "classes": _cascade_rows(first, names, lh, positions),
                           "liquidity_adjusted_es": frtb_es(first)}
    full = worst_window_es(sim.returns, positions, lh, window=T, level=FRTB_ES_LEVEL)
    by_h = []
    cache: dict[int, WorstWindow] = {full.start_day: full}
    for hz in sorted({h for h in red.horizons if h >= T} | {int(report_horizon)}):
        w = full.within(hz)
        if w.start_day not in cache:
            cache[w.start_day] = full.within(hz, sim.returns, positions, lh)
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
# the result object
# ---------------------------------------------------------------------------------------------
@dataclass
class ScenarioResults:
    """One scenario's stored results (what :func:`write_results` wrote / :func:`load_results` read).

    Attributes
    ----------
    name : str
        Scenario name (the directory name).
    directory : Path
    manifest, risk : dict
        ``manifest.json`` and ``risk.json``.
    pnl : dict of int to ndarray of shape (n_paths,)
        Portfolio P&L per holding period in days (empty without a portfolio).
    fan : pandas.DataFrame or None
        Value quantiles per day (``day``, ``mean``, ``q01`` ... ``q99``).
    model : dict
        The model JSON (with provenance) the run used.
    scenario : dict
        The validated scenario.
    """

    name: str
    directory: Path
    manifest: dict
    risk: dict
    pnl: dict[int, np.ndarray] = field(repr=False)
    fan: Any = field(repr=False)
    model: dict = field(repr=False)
    scenario: dict = field(repr=False)

    @property
    def horizon(self) -> int:
        return int(self.risk["scenario"]["horizon_days"])

    @property
    def reporting_horizon(self) -> int:
        """Horizon (days) of the headline figures: the scenario's own; for a baseline whose run was extended to
        the longest scenario horizon, its file's horizon (results of format 1 read it from the manifest)."""
        sc = self.risk.get("scenario", {})
        h = sc.get("reporting_horizon_days")
        if h is None:
            ext = self.manifest.get("horizon_extended_from")
            h = ext if isinstance(ext, int) and ext in self.pnl else self.horizon
        return int(h)

    @property
    def format(self) -> str:
        """The results format tag (``stress-sim-results/1`` for results that record none)."""
        return str(self.manifest.get("format") or self.risk.get("format") or "stress-sim-results/1")

    @property
    def start_state(self) -> str:
        """``"as-of"`` or ``"long-run"``: the volatility state the run started from."""
        return str((self.risk.get("start_state") or {}).get("kind") or "as-of")

    @property
    def has_paths_file(self) -> bool:
        return (self.directory / "paths.parquet").is_file()

    def summary(self):
        """``summary.parquet`` as a DataFrame (path, asset, cum_log_return_pct, max_drawdown); results of format 1
        have their ``cum_return_pct`` column renamed to ``cum_log_return_pct`` (the same percent log return)."""
        import pandas as pd

        cols = result_columns(self.format)
        t = pd.read_parquet(self.directory / "summary.parquet")
        return t.rename(columns={cols["cum_log_return"]: _COLUMNS[RESULTS_FORMAT]["cum_log_return"]})

    def paths(self):
        """``paths.parquet`` as a DataFrame (path, day, asset, log_return_pct, sigma_pct), when the scenario kept
        its paths; results of format 1 have ``return_pct`` renamed to ``log_return_pct``."""
        import pandas as pd

        p = self.directory / "paths.parquet"
        if not p.is_file():
            raise FileNotFoundError(f"{p}: the run did not keep its daily paths (outputs.keep = \"paths\" keeps them)")
        cols = result_columns(self.format)
        return pd.read_parquet(p).rename(columns={cols["log_return"]: _COLUMNS[RESULTS_FORMAT]["log_return"]})

    def risk_at(self, horizon: int) -> dict | None:
        """The ``risk.json`` entry for ``horizon`` days (None if not computed)."""
        for r in self.risk.get("risk", []):
            if r["horizon_days"] == horizon:
                return r
        return None

    def tail(self, horizon: int, level: float) -> dict | None:
        """VaR/ES dict (``TailRisk.to_dict()``) at ``horizon`` and ``level``."""
        r = self.risk_at(horizon)
        if r is None:
            return None
        for e in r["levels"]:
            if math.isclose(e["level"], level):
                return e
        return None


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


def compare_to_baseline(scenario: ScenarioResults, baseline: ScenarioResults, *,
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
# writing
# ---------------------------------------------------------------------------------------------
def _summary_table(sim):
    import pyarrow as pa

    n, a = sim.cum_return.shape
    return pa.table({
        "path": pa.array(np.repeat(np.arange(n, dtype=np.int64), a)),
        "asset": pa.DictionaryArray.from_arrays(np.tile(np.arange(a, dtype=np.int32), n), list(sim.asset_names)),
        _COLUMNS[RESULTS_FORMAT]["cum_log_return"]: pa.array(sim.cum_return.reshape(-1)),
        _COLUMNS[RESULTS_FORMAT]["max_drawdown"]: pa.array(sim.max_drawdown.reshape(-1)),
    })


def _paths_table(sim):
    import pyarrow as pa

    n, h, a = sim.returns.shape
    return pa.table({
        "path": pa.array(np.repeat(np.arange(n, dtype=np.int64), h * a)),
        "day": pa.array(np.tile(np.repeat(np.arange(1, h + 1, dtype=np.int32), a), n)),
        "asset": pa.DictionaryArray.from_arrays(np.tile(np.arange(a, dtype=np.int32), n * h), list(sim.asset_names)),
        _COLUMNS[RESULTS_FORMAT]["log_return"]: pa.array(sim.returns.reshape(-1)),
        _COLUMNS[RESULTS_FORMAT]["sigma"]: pa.array(sim.sigma.reshape(-1)),
    })


def _pnl_table(pnl: Mapping[int, np.ndarray]):
    import pyarrow as pa

    hs = sorted(pnl)
    n = pnl[hs[0]].shape[0]
    return pa.table({
        "path": pa.array(np.tile(np.arange(n, dtype=np.int64), len(hs))),
        "horizon_days": pa.array(np.repeat(np.asarray(hs, dtype=np.int32), n)),
        "pnl": pa.array(np.concatenate([pnl[h] for h in hs])),
    })


def _input_hashes(result, model, model_source: str | None) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    if model_source and not str(model_source).startswith("builtin:") and Path(model_source).is_file():
        inputs["model_file"] = {"path": str(model_source), "sha256": sha256_file(model_source)}
    src = result.scenario_source
    if src and Path(src).is_file():
        inputs["scenario_file"] = {"path": str(src), "sha256": sha256_file(src)}
    data = (model.provenance or {}).get("data") if model.provenance else None
    if isinstance(data, Mapping):
        inputs["calibration_data"] = {k: data[k] for k in ("source", "input_sha256", "prices_sha256", "returns_sha256",
                                                           "window_start", "window_end", "n_obs") if k in data}
    return inputs


def _swap_into_place(tmp: Path, final: Path) -> None:
    """Replace directory ``final`` by ``tmp`` with renames (``final`` keeps its old content until then)."""
    old = None
    if final.exists():
        if not final.is_dir():
            raise ValueError(f"{final} exists and is not a directory; remove it or choose another --out")
        old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
        os.rmdir(old)
        os.replace(final, old)
    try:
        os.replace(tmp, final)
    except BaseException:
        if old is not None:
            os.replace(old, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    try:
        fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # pragma: no cover - platforms without directory fsync
        pass


def write_results(
    result,
    root: str | os.PathLike,
    *,
    model,
    baseline: ScenarioResults | None = None,
    extra_horizons: Iterable[int] = (),
    keep_paths: bool | None = None,
    ci: float = 0.95,
    command: Sequence[str] | None = None,
    model_source: str | None = None,
    scenario: Any = None,
    notes: Mapping[str, Any] | None = None,
    reporting_horizon: int | None = None,
    start_state: str = "as-of",
) -> ScenarioResults:
    """Write one scenario run to ``root/<scenario-name>/`` (atomically, as a whole directory).

    Parameters
    ----------
    result : simulator.runner.ScenarioResult
        The run. With daily paths (``keep="paths"``) every P&L horizon of :func:`pnl_horizons`, the
        daily value fan and portfolio drawdowns are computed; with summaries only, the P&L at the whole
        horizon.
    root : path
        The results folder; the scenario's directory name is its (validated) name, joined with
        :func:`simulator.io.safe_join` so it cannot leave ``root``.
    model : MarketModel
        The model the run used (its copula for the correlation comparison, saved as ``model.json``).
    baseline : ScenarioResults, optional
        The baseline's stored results: adds ``stress_vs_baseline`` to ``risk.json``.
    extra_horizons : iterable of int
        More holding periods to store P&L at (e.g. the other scenarios' horizons, for a baseline).
    keep_paths : bool, optional
        Write ``paths.parquet``; default: when the scenario asked ``outputs.keep = "paths"``.
    ci : float, default 0.95
        Confidence of the VaR / ES intervals.
    command : sequence of str, optional
        The command line (default ``sys.argv``).
    model_source : str, optional
        Where the model came from (file path or ``builtin:NAME``), hashed into the manifest.
    scenario : scenarios.schema.Scenario, optional
        The validated scenario (saved as ``scenario.json``; default: a record of the result's fields).
    notes : mapping, optional
        Extra manifest fields (e.g. a baseline's horizon extension ``horizon_extended_from``).
    reporting_horizon : int, optional
        Horizon (days) of the headline figures (default: ``notes["horizon_extended_from"]`` when given, else the
        simulated horizon). A baseline run longer than its file's horizon for comparisons reports its own
        figures at the file's horizon; P&L is also stored there. Needs the daily paths when shorter than the
        simulated horizon (otherwise the simulated horizon is used).
    start_state : {"as-of", "long-run"}, default "as-of"
        The volatility state the run started from, recorded in ``risk.json`` for the report: the model's
        ``start`` (the last calibration day) or its long-run state (:func:`long_run_model`).

    Returns
    -------
    ScenarioResults
        What was written (as :func:`load_results` would read it).
    """
    from simulator.model import MarketModel

    if not isinstance(model, MarketModel):
        raise TypeError(f"model must be a MarketModel, got {type(model).__name__}")
    sim = result.simulation
    if tuple(model.assets) != tuple(sim.asset_names):
        raise ValueError(f"model assets {list(model.assets)} differ from the simulated assets {list(sim.asset_names)}")
    positions = None if result.positions is None else np.asarray(result.positions, dtype=np.float64)
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise ValueError(f"results folder {str(root)!r} exists and is not a directory")
    final = safe_join(root, result.name)
    if final == root.resolve():
        raise ValueError(f"scenario name {result.name!r} does not name a directory below {str(root)!r}")
    if keep_paths is None:
        keep_paths = bool(scenario is not None and getattr(getattr(scenario, "outputs", None), "keep", None) == "paths")
    keep = "paths" if sim.returns is not None else "summary"
    if keep_paths and keep != "paths":
        raise ValueError(f"scenario {result.name!r} asks to keep its paths but the run simulated summaries only")

    if start_state not in START_STATES:
        raise ValueError(f"start_state must be one of {', '.join(START_STATES)}, got {start_state!r}")
    extended_from = (notes or {}).get("horizon_extended_from")
    hr = int(reporting_horizon if reporting_horizon is not None else (extended_from or sim.horizon))
    if not 1 <= hr <= sim.horizon:
        raise ValueError(f"reporting_horizon {hr} must lie in 1..{sim.horizon} (the simulated days)")
    if keep != "paths":
        hr = sim.horizon
    horizons = pnl_horizons(result.risk_horizons, sim.horizon, extra=[*extra_horizons, hr])
    try:
        red = (_reduce_paths(sim, positions, horizons, dd_horizon=hr) if keep == "paths"
               else _reduce_summary(sim, positions))
    except NonFiniteResultError as exc:
        raise NonFiniteResultError(f"scenario {result.name!r}: {exc}") from None
    risk = _risk_document(result, model, red, ci=ci, keep=keep, report_horizon=hr, model_source=model_source,
                          start_state=start_state,
                          horizon_extended_from=extended_from if isinstance(extended_from, int) else None)
    model_dict = model.to_dict()
    scenario_dict = (scenario.model_dump(mode="json") if scenario is not None and hasattr(scenario, "model_dump")
                     else {"name": result.name, "description": result.description, "shocks": result.shocks,
                           "horizon_days": sim.horizon})

    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=root))
    try:
        os.chmod(tmp, _DIR_MODE)
        files = ["summary.parquet", "fan.parquet", "risk.json", "model.json", "scenario.json"]
        atomic_write_parquet(tmp / "summary.parquet", _summary_table(sim))
        if red.pnl is not None:
            atomic_write_parquet(tmp / "pnl.parquet", _pnl_table(red.pnl))
            files.append("pnl.parquet")
            atomic_write_parquet(tmp / "fan.parquet", red.fan)
        else:
            import pandas as pd

            atomic_write_parquet(tmp / "fan.parquet", pd.DataFrame({"day": np.array([], dtype=np.int32)}))
        if keep_paths:
            atomic_write_parquet(tmp / "paths.parquet", _paths_table(sim))
            files.append("paths.parquet")
        atomic_write_json(tmp / "model.json", model_dict)
        atomic_write_json(tmp / "scenario.json", scenario_dict)
        stored = ScenarioResults(name=result.name, directory=final, manifest={}, risk=risk,
                                 pnl=dict(red.pnl or {}), fan=red.fan, model=model_dict, scenario=scenario_dict)
        if baseline is not None and baseline.name != result.name:
            stored.manifest = {"model_sha256": sim.model_sha256}
            cmp = compare_to_baseline(stored, baseline)
            if cmp is not None:
                risk["stress_vs_baseline"] = cmp
        atomic_write_json(tmp / "risk.json", risk)
        manifest = build_manifest(
            kind="scenario-run", command=command, format=RESULTS_FORMAT,
            scenario=result.name, scenario_sha256=result.scenario_sha256, scenario_source=result.scenario_source,
            model_sha256=sim.model_sha256, model_source=model_source,
            seed=dict(sim.seed), n_paths=int(sim.n_paths), horizon_days=int(sim.horizon),
            simulated=keep, paths_file=bool(keep_paths), assets=list(sim.asset_names),
            var_levels=list(result.var_levels), pnl_horizons=horizons, reporting_horizon_days=hr, ci=ci,
            start_state=start_state,
            inputs=_input_hashes(result, model, model_source),
            baseline=None if baseline is None else {"name": baseline.name,
                                                    "scenario_sha256": baseline.manifest.get("scenario_sha256")},
            engine=dict(sim.meta), **dict(notes or {}),
        )
        write_manifest(tmp, manifest, files=files)
        stored.manifest = json.loads((tmp / MANIFEST_NAME).read_text(encoding="utf-8"))
        _swap_into_place(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return stored


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------
def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: missing (not a complete stress-sim results directory)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def load_results(directory: str | os.PathLike, *, verify: bool = True) -> ScenarioResults:
    """Read one scenario's results directory written by :func:`write_results`.

    Parameters
    ----------
    directory : path
        ``RESULTS_DIR/<scenario-name>``.
    verify : bool, default True
        Check every file's sha256 against ``manifest.json`` (a modified or truncated file is an error).

    Returns
    -------
    ScenarioResults

    Raises
    ------
    FileNotFoundError, ValueError
        Missing files, a manifest of another kind, or a hash mismatch (naming the file).
    """
    import pandas as pd

    d = Path(directory)
    if not d.is_dir():
        raise FileNotFoundError(f"{d}: results directory not found")
    manifest = _read_json(d / MANIFEST_NAME)
    if manifest.get("kind") != "scenario-run":
        raise ValueError(f"{d / MANIFEST_NAME}: kind is {manifest.get('kind')!r}, expected 'scenario-run' "
                         "(a directory written by stress-sim run)")
    outputs = manifest.get("outputs") or {}
    for name in _FILES_REQUIRED:
        if name not in outputs:
            raise ValueError(f"{d / MANIFEST_NAME}: lists no {name}; the directory is incomplete")
    if verify:
        for rel, digest in outputs.items():
            p = safe_join(d, rel)
            if not p.is_file():
                raise FileNotFoundError(f"{p}: listed in the manifest but missing")
            if sha256_file(p) != digest:
                raise ValueError(f"{p}: sha256 differs from manifest.json; the file was modified after the run")
    risk = _read_json(d / "risk.json")
    pnl: dict[int, np.ndarray] = {}
    if "pnl.parquet" in outputs:
        t = pd.read_parquet(d / "pnl.parquet")
        for h, g in t.groupby("horizon_days", sort=True):
            pnl[int(h)] = g.sort_values("path")["pnl"].to_numpy(dtype=np.float64)
    fan = pd.read_parquet(d / "fan.parquet")
    if fan.empty:
        fan = None
    name = str(manifest.get("scenario") or d.name)
    return ScenarioResults(name=name, directory=d, manifest=manifest, risk=risk, pnl=pnl, fan=fan,
                           model=_read_json(d / "model.json"), scenario=_read_json(d / "scenario.json"))


def load_results_tree(root: str | os.PathLike, *, verify: bool = True) -> list[ScenarioResults]:
    """Every scenario results directory in ``root`` (or ``root`` itself if it is one).

    Order: the baseline first (a scenario named ``baseline``), then by name. Hidden directories
    (temporary ones of a run in progress) are skipped.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: results folder not found")
    if (root / MANIFEST_NAME).is_file():
        m = _read_json(root / MANIFEST_NAME)
        if m.get("kind") == "scenario-run":
            return [load_results(root, verify=verify)]
    out = []
    for sub in sorted(root.iterdir()):
        if sub.name.startswith(".") or not sub.is_dir() or not (sub / MANIFEST_NAME).is_file():
            continue
        if _read_json(sub / MANIFEST_NAME).get("kind") != "scenario-run":
            continue
        out.append(load_results(sub, verify=verify))
    if not out:
        raise ValueError(f"{root}: no scenario results found (expected <scenario>/manifest.json written by "
                         "stress-sim run or stress-sim demo)")
    out.sort(key=lambda r: (r.name != "baseline", r.name))
    return out
