"""The regulatory scenario report: one self-contained HTML file from a results folder.

``write_report(RESULTS_DIR, "report.html")`` reads every scenario directory written by
:func:`simulator.results.write_results` (plus ``backtest.json`` and the folder's own
``manifest.json`` when present) and renders ``templates/report.html`` with jinja2:

- a header with the as-of date (the last day of the model's calibration window), the portfolio's value
  and currency and the model's source;
- an executive summary: per scenario its horizon, replay scaling and start state, the mean loss, VaR and
  ES side by side at each confidence level (with Monte Carlo intervals, or the number of distinct
  outcomes when the loss distribution is a handful of replayed outcomes), the baseline's ES at the
  scenario's own horizon, the stress loss and ratio against it, and its targets met; a chart of the
  stress-to-baseline ES ratios (each at the scenario's own horizon);
- notes that say how to read every figure (levels, horizons, units, the baseline's horizon and start
  state, filtered vs historical replay scaling, discrete outcomes, the scenario liquidity-adjusted ES);
- the VaR/ES backtests on real history with their Basel traffic light;
- per scenario: its key facts, the headline figures next to the baseline's at the same horizon, its
  targets, fan chart of the portfolio value, loss distribution with VaR/ES marked, correlation
  heatmaps (model copula vs realised under the scenario), risk by horizon, stress loss against the
  baseline, per-asset stress table, Euler ES contributions, the liquidity-adjusted ES over the worst
  10-day window and drawdowns;
- the model card (data, window, marginal specs with parameters and standard errors, copula,
  diagnostics) from the calibration provenance stored in the model;
- the reproducibility manifest (versions, seeds, hashes, command lines).

Security: the environment autoescapes every value (``autoescape=True``; no ``|safe`` anywhere), the
page carries a Content-Security-Policy that forbids scripts and every remote fetch, and charts are
inline PNG data URIs, so the file is self-contained and a hostile asset or scenario name in a results
folder is shown as text. :func:`report_tables` and :func:`summary_document` give the same figures
as CSV tables and ``summary.json`` for machines.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from simulator.constants import DEFAULT_LEVELS, ES_LEVEL
from simulator.io import MANIFEST_NAME, atomic_write_bytes, atomic_write_json, atomic_write_text
from simulator.results import StoredScenario, load_results_tree
from simulator.scenario_risk import (
    DISCRETE_OUTCOMES_MIN,
    HEADLINE_ES_LEVEL,
    TRUNCATION_NOTE,
    compare_to_baseline,
    replay_scaling_of,
)

__all__ = ["ReportInputs", "load_inputs", "report_tables", "report_table_bytes", "summary_document", "render_html",
           "write_report", "require_report_dependencies", "BACKTEST_FILE"]

#: File of a results folder holding rolling VaR backtests (``{"backtests": [...]}``, see :func:`load_inputs`).
BACKTEST_FILE = "backtest.json"
TEMPLATES = Path(__file__).resolve().parent / "templates"
_ZONES = {"green": "green", "amber": "amber", "yellow": "amber", "red": "red"}


def require_report_dependencies() -> None:
    """Check that jinja2 and matplotlib (dependencies of stress-sim) are importable; a clear error if not."""
    import importlib.util

    from simulator.exceptions import UserInputError

    missing = [m for m in ("jinja2", "matplotlib") if importlib.util.find_spec(m) is None]
    if missing:
        raise UserInputError(f"the HTML report needs {' and '.join(missing)} (dependencies of stress-sim, missing "
                             f"from this environment): pip install {' '.join(missing)}")


# ---------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------
@dataclass
class ReportInputs:
    """Everything a report shows.

    Attributes
    ----------
    root : Path
        The results folder.
    results : list of StoredScenario
        Baseline first, then by name.
    backtests : list of dict
        Entries of ``backtest.json``: ``name``, ``description`` and the fields of
        :meth:`simulator.backtest.BacktestResult.to_dict` (``include_series=True`` adds the chart).
    comparisons : dict of str to dict
        Stress loss of each scenario against the baseline (:func:`simulator.results.compare_to_baseline`).
    comparisons_long_run : dict of str to dict
        The same against the baseline run from the model's long-run state (``baseline-long-run``), when the
        folder has one besides the as-of baseline.
    run_manifest : dict or None
        The folder's own ``manifest.json`` (e.g. written by ``stress-sim demo``).
    backtest_model : dict or None
        ``backtest.json``'s ``model_backtest``: what was backtested (specification, window, refits).
    """

    root: Path
    results: list[StoredScenario]
    backtests: list[dict] = field(default_factory=list)
    backtest_model: dict | None = None
    reverse: dict | None = None
    comparisons: dict[str, dict] = field(default_factory=dict)
    comparisons_long_run: dict[str, dict] = field(default_factory=dict)
    run_manifest: dict | None = None

    @property
    def baseline(self) -> StoredScenario | None:
        return next((r for r in self.results if r.name == "baseline"), None)

    @property
    def long_run_baseline(self) -> StoredScenario | None:
        """The baseline run from the long-run state beside an as-of ``baseline`` (``--baseline-start both``)."""
        base = self.baseline
        return next((r for r in self.results if r is not base and r.start_state == "long-run"
                     and str(r.name).startswith("baseline")), None)

    def is_baseline(self, r: StoredScenario) -> bool:
        return r is self.baseline or r is self.long_run_baseline


def _read_json(path: Path) -> Any:
    from simulator.safeio import read_input_text

    text = read_input_text(path, path.name)  # a regular file (a FIFO is never opened) within the size limit
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None


def _check_backtests(data: Any, path: Path) -> list[dict]:
    if not isinstance(data, Mapping) or not isinstance(data.get("backtests"), list):
        raise ValueError(f"{path}: expected an object {{\"backtests\": [...]}}")
    out = []
    for i, b in enumerate(data["backtests"]):
        if not isinstance(b, Mapping):
            raise ValueError(f"{path}: backtests[{i}] must be an object")
        for key, kind in (("spec", Mapping), ("table", list), ("traffic_light", Mapping)):
            if not isinstance(b.get(key), kind):
                raise ValueError(f"{path}: backtests[{i}].{key} is missing or of the wrong type "
                                 "(write it with BacktestResult.to_dict())")
        out.append(dict(b))
    return out


def load_inputs(results_dir: str | os.PathLike, *, verify: bool = True,
                results: list[StoredScenario] | None = None) -> ReportInputs:
    """Read a results folder for the report.

    Parameters
    ----------
    results_dir : path
        A folder of scenario result directories (or one scenario directory); ``backtest.json`` and a
        ``manifest.json`` of the folder itself are read when present.
    verify : bool, default True
        Check the sha256 of every result file against its manifest.
    results : list of StoredScenario, optional
        The scenario runs to report instead of those read from the folder (``stress-sim verify`` passes the
        runs it re-derived); baseline first, then by name, as :func:`~simulator.results.load_results_tree`
        orders them.
    """
    root = Path(results_dir)
    if results is None:
        results = load_results_tree(root, verify=verify)
    else:
        results = sorted(results, key=lambda r: (r.name != "baseline", r.name))
    backtests: list[dict] = []
    backtest_model = None
    bt = root / BACKTEST_FILE
    if bt.is_file():
        raw_bt = _read_json(bt)
        backtests = _check_backtests(raw_bt, bt)
        spec = raw_bt.get("model_backtest") if isinstance(raw_bt, Mapping) else None
        backtest_model = dict(spec) if isinstance(spec, Mapping) else None
    run_manifest = None
    mf = root / MANIFEST_NAME
    if mf.is_file():
        m = _read_json(mf)
        if isinstance(m, Mapping) and m.get("kind") != "scenario-run":
            run_manifest = dict(m)
    if run_manifest is not None and isinstance(run_manifest.get("scenarios"), list):
        # a folder written by one run (e.g. stress-sim demo): show that run's scenarios, not stale ones
        listed = {str(x) for x in run_manifest["scenarios"]}
        results = [r for r in results if r.name in listed]
    reverse = None
    rv = root / "reverse.json"
    if rv.is_file():
        data = _read_json(rv)
        if isinstance(data, Mapping) and data.get("kind") == "reverse-stress-test" \
                and isinstance(data.get("most_likely_breach"), Mapping):
            reverse = dict(data)
    inputs = ReportInputs(root=root, results=results, backtests=backtests, run_manifest=run_manifest,
                          backtest_model=backtest_model, reverse=reverse)
    base = inputs.baseline
    lr = inputs.long_run_baseline
    for r in results:
        cmp = None
        if base is not None and r is not base:
            cmp = compare_to_baseline(r, base)
        if cmp is None and isinstance(r.risk.get("stress_vs_baseline"), Mapping):
            cmp = dict(r.risk["stress_vs_baseline"])
        if cmp is not None:
            inputs.comparisons[r.name] = cmp
        if lr is not None and r is not lr and r is not base:
            cmp_lr = compare_to_baseline(r, lr)
            if cmp_lr is not None:
                inputs.comparisons_long_run[r.name] = cmp_lr
    return inputs


# ---------------------------------------------------------------------------------------------
# formatting helpers (jinja filters; they return plain text, escaped by the template engine)
# ---------------------------------------------------------------------------------------------
def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool) and math.isfinite(float(x))


def fmt_money(x: Any, digits: int = 0) -> str:
    if not _is_num(x):
        return "–"
    return f"{float(x):,.{digits}f}"


def fmt_num(x: Any, digits: int = 4) -> str:
    if not _is_num(x):
        return "–" if x is None else str(x)
    v = float(x)
    if v != 0 and (abs(v) < 10 ** -(digits - 1) or abs(v) >= 1e7):
        return f"{v:.{max(digits - 1, 1)}e}"
    return f"{v:.{digits}f}"


def fmt_fixed(x: Any, digits: int = 2) -> str:
    """Fixed-point with ``digits`` decimals (no exponent), "–" for a missing value."""
    if not _is_num(x):
        return "–"
    return f"{float(x):,.{digits}f}"


def fmt_pct(x: Any, digits: int = 1) -> str:
    if not _is_num(x):
        return "–"
    return f"{float(x):.{digits}f}%"


def fmt_level(x: Any) -> str:
    if not _is_num(x):
        return "–"
    return f"{100 * float(x):g}%"


def fmt_p(x: Any) -> str:
    if not _is_num(x):
        return "–"
    v = float(x)
    return "<0.0001" if 0 <= v < 1e-4 else f"{v:.4f}"


def _first_line(text: Any) -> str:
    s = str(text or "").strip()
    return s.splitlines()[0] if s else ""


def _anchor(name: str) -> str:
    """HTML id of a scenario's section."""
    return "sc-" + "".join(c if c.isalnum() or c == "-" else "_" for c in str(name))


def _get(d: Any, *keys: str, default: Any = None) -> Any:
    """Nested lookup that tolerates missing keys and wrong types (provenance is free-form JSON)."""
    for k in keys:
        if not isinstance(d, Mapping) or k not in d:
            return default
        d = d[k]
    return d


# ---------------------------------------------------------------------------------------------
# tables (shared by the HTML, the CSV files and summary.json)
# ---------------------------------------------------------------------------------------------
#: What the replay scalings mean, in the report's words.
REPLAY_LABELS = {
    "historical": "historical: history's own daily price moves",
    "filtered": "filtered (FHS): history's standardized surprises times the model's current volatility",
    "mixed": "mixed: some replays historical, some filtered (see the shocks)",
}
START_LABELS = {
    "as-of": "as-of: the model's volatility on the as-of date",
    "long-run": "long-run: each asset's unconditional (long-run) volatility",
    "default": "the model stores no start state: each asset starts at its unconditional (long-run) volatility",
}


def _start_key(r: StoredScenario) -> str:
    """``as-of``, ``long-run``, or ``default`` for an as-of run of a model that stores no start state."""
    if r.start_state == "as-of" and isinstance(r.model, Mapping) and r.model.get("start") is None:
        return "default"
    return r.start_state


def _tag(level: Any) -> str:
    """Key suffix of a confidence level: 0.975 -> ``97.5``, 0.99 -> ``99``."""
    return f"{100 * float(level):g}"


def report_levels(inputs: ReportInputs) -> list[float]:
    """Every confidence level of the results, ascending (VaR and ES are shown at each, side by side)."""
    lv = {round(float(x), 10) for r in inputs.results for x in (r.risk.get("levels") or DEFAULT_LEVELS)}
    return sorted(lv)


def _es_level(levels: list[float]) -> float:
    return HEADLINE_ES_LEVEL if any(math.isclose(x, HEADLINE_ES_LEVEL) for x in levels) else max(levels)


def _n_distinct(r: StoredScenario, h: int) -> int | None:
    """Distinct P&L outcomes at ``h`` days: from risk.json, or counted from pnl.parquet (format 1)."""
    entry = r.risk_at(h) or {}
    n = entry.get("n_distinct_pnl")
    if isinstance(n, int):
        return n
    if h in r.pnl:
        return int(np.unique(np.round(r.pnl[h], 6)).size)
    return None


def _discrete(n: int | None, n_paths: int | None = None) -> bool:
    """Whether a loss distribution is a handful of outcomes: fewer than :data:`DISCRETE_OUTCOMES_MIN` distinct
    values, shared by several paths (a run of fewer paths whose outcomes all differ is a continuous sample)."""
    return n is not None and n < DISCRETE_OUTCOMES_MIN and (n_paths is None or n < int(n_paths))


def _n_paths(r: StoredScenario) -> int | None:
    n = r.risk.get("scenario", {}).get("n_paths")
    return int(n) if isinstance(n, int) else None


def _replay_scaling(r: StoredScenario) -> str | None:
    sc = r.risk.get("scenario") or {}
    if "replay_scaling" in sc:
        return sc.get("replay_scaling")
    return replay_scaling_of(sc.get("shocks") or r.scenario.get("shocks"))


def _targets(r: StoredScenario) -> list[dict[str, Any]]:
    return [dict(t) for t in r.risk.get("targets") or [] if isinstance(t, Mapping)]


def _target_counts(r: StoredScenario) -> tuple[int, int, int]:
    """(met, evaluated, not computable) of the scenario's targets."""
    ts = _targets(r)
    met = sum(1 for t in ts if t.get("within") is True)
    evaluated = sum(1 for t in ts if t.get("within") is not None)
    return met, evaluated, len(ts) - evaluated


def _start_state(r: StoredScenario) -> str:
    return r.start_state


def _as_of(model: Mapping) -> str | None:
    v = _get(model, "provenance", "data", "window_end")
    return None if v is None else str(v)


def _executive_rows(inputs: ReportInputs) -> list[dict[str, Any]]:
    """One row per scenario at its reporting horizon: VaR and ES at every level side by side (``var_97.5``,
    ``es_97.5``, ``var_99``, ``es_99`` and their ``_ci_low`` / ``_ci_high``), the mean loss, the baseline's ES at
    the same horizon, the stress loss and ratio, the replay scaling, the start state and the targets met.
    ``var`` / ``es`` (with ``var_level`` = ``es_level`` = 97.5 %) repeat the headline level."""
    levels = report_levels(inputs)
    es_level = _es_level(levels)
    rows = []
    for r in inputs.results:
        h = r.reporting_horizon
        at_h = r.risk_at(h) or {}
        cmp = (inputs.comparisons.get(r.name) or {}).get("headline") or {}
        cmp_lr = (inputs.comparisons_long_run.get(r.name) or {}).get("headline") or {}
        nd = _n_distinct(r, h)
        n_paths = int(r.risk.get("scenario", {}).get("n_paths", 0)) or None
        met, evaluated, unavailable = _target_counts(r)
        frtb = r.risk.get("frtb_es") if isinstance(r.risk.get("frtb_es"), Mapping) else {}
        portfolio = r.risk.get("portfolio") or {}
        scaling = _replay_scaling(r)
        row: dict[str, Any] = {
            "scenario": r.name,
            "anchor": _anchor(r.name),
            "description": _first_line(r.risk.get("scenario", {}).get("description")),
            "baseline": inputs.is_baseline(r),
            "start_state": _start_state(r),
            "start_label": START_LABELS.get(_start_key(r), r.start_state),
            "horizon_days": h,
            "simulated_horizon_days": r.horizon,
            "n_paths": int(r.risk.get("scenario", {}).get("n_paths", 0)),
            "shocks": ", ".join(dict.fromkeys(str(t) for t in r.risk.get("scenario", {}).get("shock_types", []))) or "none",
            "replay_scaling": scaling,
            "currency": r.risk.get("currency", ""),
            "initial_value": portfolio.get("initial_value"),
            "as_of": _as_of(r.model),
            "has_portfolio": bool(portfolio),
            "mean_loss": None if at_h.get("mean_pnl") is None else -float(at_h["mean_pnl"]),
            "prob_loss": at_h.get("prob_loss"),
            "n_distinct_pnl": nd,
            "discrete": _discrete(nd, n_paths),
        }
        for lv in levels:
            t = r.tail(h, lv) or {}
            k = _tag(lv)
            row.update({f"var_{k}": t.get("var"), f"var_{k}_ci_low": t.get("var_ci_low"),
                        f"var_{k}_ci_high": t.get("var_ci_high"), f"es_{k}": t.get("es"),
                        f"es_{k}_ci_low": t.get("es_ci_low"), f"es_{k}_ci_high": t.get("es_ci_high")})
        k = _tag(es_level)
        row.update({
            "var_level": es_level, "es_level": es_level,
            "var": row.get(f"var_{k}"), "var_ci_low": row.get(f"var_{k}_ci_low"), "var_ci_high": row.get(f"var_{k}_ci_high"),
            "es": row.get(f"es_{k}"), "es_ci_low": row.get(f"es_{k}_ci_low"), "es_ci_high": row.get(f"es_{k}_ci_high"),
            "baseline_name": (inputs.comparisons.get(r.name) or {}).get("baseline"),
            "baseline_horizon_days": cmp.get("horizon_days"),
            "baseline_es": cmp.get("es_baseline"),
            "stress_loss_es": cmp.get("es_stress_loss"), "stress_loss_es_se": cmp.get("es_stress_loss_se"),
            "stress_loss_mean": cmp.get("mean_stress_loss"), "stress_ratio_es": cmp.get("es_ratio"),
            "stress_horizon_days": cmp.get("horizon_days"),
            "stress_at_scenario_horizon": cmp.get("at_scenario_horizon"),
            "long_run_baseline_es": cmp_lr.get("es_baseline"), "long_run_ratio_es": cmp_lr.get("es_ratio"),
            "targets_met": met if _targets(r) else None, "targets_evaluated": evaluated if _targets(r) else None,
            "targets_unavailable": unavailable if _targets(r) else None,
            "la_es_worst_window": frtb.get("liquidity_adjusted_es") if "worst_window" in frtb else None,
            "la_es_window_start_day": _get(frtb, "worst_window", "start_day"),
            "la_es_window_end_day": _get(frtb, "worst_window", "end_day"),
        })
        rows.append(row)
    return rows


def _ratio_se(row: Mapping) -> float | None:
    """Delta-method standard error of an ES ratio ``S / B`` from the two ES standard errors (independent)."""
    s, b, ses, seb = (row.get(k) for k in ("scenario", "baseline", "se_scenario", "se_baseline"))
    if not all(_is_num(v) for v in (s, b, ses, seb)) or b == 0 or s == 0:
        return None
    return abs(s / b) * math.sqrt((ses / s) ** 2 + (seb / b) ** 2)


def report_tables(inputs: ReportInputs) -> dict[str, Any]:
    """The report's figures as pandas DataFrames (written as CSV next to ``summary.json``).

    Keys: ``executive_summary``, ``risk_measures`` (one row per scenario, horizon and level: VaR and ES at the
    same level), ``stress_vs_baseline``, ``asset_stress``, ``es_contributions``, ``frtb_es``, ``targets``,
    ``drawdowns``, ``backtests``, ``model_marginals`` and, for runs of an instrument book, ``book_positions``
    (per-position and per-kind P&L), ``book_sensitivities`` (as-of DV01, CS01, delta, gamma, vega),
    ``book_attribution`` (P&L by factor class) and ``curves`` (simulated curve quantiles at the horizon and
    along the way). Losses are positive in ``mean_loss``, ``var``, ``es``; ``mean_pnl`` and ``pnl_*`` are
    gains positive.
    """
    import pandas as pd

    risk_rows, stress_rows, asset_rows, contrib_rows, dd_rows, frtb_rows, target_rows = [], [], [], [], [], [], []
    for r in inputs.results:
        currency = r.risk.get("currency", "")
        for entry in r.risk.get("risk", []):
            nd = _n_distinct(r, entry["horizon_days"])
            for e in entry["levels"]:
                risk_rows.append({"scenario": r.name, "horizon_days": entry["horizon_days"], "currency": currency,
                                  "reporting_horizon": entry["horizon_days"] == r.reporting_horizon,
                                  "mean_loss": -float(entry["mean_pnl"]), "mean_pnl": entry["mean_pnl"],
                                  "prob_loss": entry["prob_loss"], "n_distinct_pnl": nd,
                                  "mc_interval_meaningful": not _discrete(nd, _n_paths(r)), **e})
        cmp_all = inputs.comparisons.get(r.name) or {}
        for h in cmp_all.get("horizons", []):
            for row in h["rows"]:
                stress_rows.append({
                    "scenario": r.name, "baseline": cmp_all["baseline"], "currency": currency,
                    "horizon_days": h["horizon_days"], "measure": row["measure"], "level": row["level"],
                    "scenario_value": row["scenario"], "baseline_value": row["baseline"],
                    "stress_loss": row["stress_loss"], "se": row["se"], "ratio": row["ratio"]})
        for row in r.risk.get("assets_table", []):
            asset_rows.append({"scenario": r.name, "horizon_days": row.get("horizon_days", r.reporting_horizon),
                               "currency": currency, **row})
        for c in r.risk.get("es_contributions", []):
            for a, v in c["contributions"].items():
                contrib_rows.append({"scenario": r.name, "horizon_days": c["horizon_days"], "level": c["level"],
                                     "asset": a, "contribution": v, "share": c["shares"].get(a), "portfolio_es": c["es"]})
        frtb = r.risk.get("frtb_es")
        if isinstance(frtb, Mapping) and "classes" in frtb:
            ww = frtb.get("worst_window") or {"start_day": 1, "end_day": frtb.get("base_horizon_days", 10)}
            for c in frtb["classes"]:
                frtb_rows.append({"scenario": r.name, "figure": "scenario liquidity-adjusted ES (not a capital figure)",
                                  "level": frtb["level"], "window_start_day": ww.get("start_day"),
                                  "window_end_day": ww.get("end_day"),
                                  "window": "worst 10-day window" if "worst_window" in frtb else "first 10 days",
                                  "liquidity_horizon_days": c["liquidity_horizon_days"], "es_base_horizon": c["es_base"],
                                  "scale": c["scale"], "scaled_es": c["scaled_es"], "assets": " ".join(c["assets"]),
                                  "liquidity_adjusted_es": frtb["liquidity_adjusted_es"], "currency": currency})
        for t in _targets(r):
            target_rows.append({"scenario": r.name, **{k: v for k, v in t.items()}})
        dd = r.risk.get("drawdown") or {}
        dd_h = dd.get("horizon_days", r.reporting_horizon)
        for kind, s in dd.items():
            if not isinstance(s, Mapping):
                continue
            if kind == "per_asset_relative":
                for a, d in s.items():
                    dd_rows.append({"scenario": r.name, "horizon_days": dd_h, "measure": "asset_max_drawdown_fraction",
                                    "asset": a, **d})
            else:
                dd_rows.append({"scenario": r.name, "horizon_days": dd_h, "measure": f"{kind}_max_drawdown",
                                "asset": None, **s})
    bt_rows = []
    for b in inputs.backtests:
        for row in b.get("table", []):
            if isinstance(row, Mapping):
                bt_rows.append({"backtest": b.get("name", ""), **row})
    marg_rows = []
    for card in _model_cards(inputs):
        for m in card["marginals"]:
            base = {"model_sha256": card["sha256"], "asset": m["asset"], "spec": m["model"],
                    "persistence": m["persistence"], "half_life_days": m["half_life"], "converged": m["converged"]}
            for name, value, se in m["params"]:
                marg_rows.append({**base, "parameter": name, "value": value, "std_err": se})
    book = _book_tables(inputs)
    return {
        "executive_summary": pd.DataFrame(_executive_rows(inputs)),
        "risk_measures": pd.DataFrame(risk_rows),
        "stress_vs_baseline": pd.DataFrame(stress_rows),
        "asset_stress": pd.DataFrame(asset_rows),
        "es_contributions": pd.DataFrame(contrib_rows),
        "frtb_es": pd.DataFrame(frtb_rows),
        "targets": pd.DataFrame(target_rows),
        "drawdowns": pd.DataFrame(dd_rows),
        "backtests": pd.DataFrame(bt_rows),
        "model_marginals": pd.DataFrame(marg_rows),
        **{name: pd.DataFrame(rows) for name, rows in book.items()},
    }


def _book_tables(inputs: ReportInputs) -> dict[str, list[dict[str, Any]]]:
    """Rows of the instrument-book tables (``risk.json``'s ``book`` and ``curves`` sections), only for runs
    that have them: per-position and per-kind P&L over the run's horizon, as-of sensitivities, the factor-class
    attribution and the simulated curves' quantiles (percent)."""
    tables: dict[str, list[dict[str, Any]]] = {"book_positions": [], "book_sensitivities": [],
                                                "book_attribution": [], "curves": []}
    for r in inputs.results:
        book = r.risk.get("book")
        if isinstance(book, Mapping):
            base = {"scenario": r.name, "horizon_days": book.get("horizon_days"), "currency": book.get("currency"),
                    "es_level": book.get("es_level")}
            for p in book.get("positions") or []:
                if isinstance(p, Mapping):
                    tables["book_positions"].append({
                        **base, "level": "position", "position": p.get("id"), "kind": p.get("kind"),
                        "factors": " ".join(map(str, p.get("factors") or [])), "n_positions": 1,
                        "value_as_of": p.get("value_as_of"), "mean_pnl": p.get("mean_pnl"),
                        "pnl_in_es_tail": p.get("pnl_in_es_tail"), "standalone_es": p.get("standalone_es")})
            for kind, k in (book.get("by_kind") or {}).items():
                if isinstance(k, Mapping):
                    tables["book_positions"].append({
                        **base, "level": "kind", "position": None, "kind": kind, "factors": None,
                        "n_positions": k.get("n"), "value_as_of": None, "mean_pnl": k.get("mean_pnl"),
                        "pnl_in_es_tail": k.get("pnl_in_es_tail"), "standalone_es": None})
            for row in book.get("sensitivities") or []:
                if isinstance(row, Mapping):
                    tables["book_sensitivities"].append({"scenario": r.name, "currency": book.get("currency"),
                                                         **row})
            att = book.get("attribution")
            if isinstance(att, Mapping):
                for cls, v in (att.get("classes") or {}).items():
                    if isinstance(v, Mapping):
                        tables["book_attribution"].append({
                            **base, "horizon_days": att.get("horizon_days"), "factor_class": cls,
                            "mean_pnl": v.get("mean_pnl"), "pnl_in_es_tail": v.get("pnl_in_es_tail"),
                            "method": att.get("method")})
        for curve, c in (r.risk.get("curves") or {}).items():
            if not isinstance(c, Mapping):
                continue
            qs = c.get("quantiles") or []
            for i, factor in enumerate(c.get("factors") or []):
                fan = (c.get("fan") or {}).get(factor) or {}
                days = fan.get("days") or []
                for d, row in zip(days, fan.get("quantiles") or []):
                    tables["curves"].append({
                        "scenario": r.name, "curve": curve, "factor": factor,
                        "tenor_years": (c.get("tenors_years") or [None] * (i + 1))[i], "day": d,
                        "units": c.get("units"), **{f"q{q:g}": v for q, v in zip(qs, row)}})
    return {name: rows for name, rows in tables.items() if rows}


#: First characters that make a spreadsheet read a cell as a formula (OWASP, "CSV Injection")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe_text(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula (``=HYPERLINK(...)``, ``@SUM(...)``, ``-2+3``) with a
    leading ``'``, as OWASP recommends, so it is shown as the text it is; numbers and other cells as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def report_table_bytes(inputs: ReportInputs) -> dict[str, bytes]:
    """The bytes of each ``tables/<name>.csv`` file (:func:`report_tables` as CSV): what :func:`write_report`
    writes and ``stress-sim verify`` re-derives. Text cells and column names from user input (asset, scenario and
    portfolio names) that a spreadsheet would take for a formula are neutralised (:func:`csv_safe_text`)."""
    out = {}
    for name, frame in report_tables(inputs).items():
        frame = frame.rename(columns=csv_safe_text)
        for col in frame.columns:
            if frame[col].dtype == object or str(frame[col].dtype) in ("string", "str"):
                frame[col] = frame[col].map(csv_safe_text)
        out[name] = frame.to_csv(index=False).encode("utf-8")
    return out


def _distinct(values) -> list:
    return list(dict.fromkeys(v for v in values if v is not None))


def header_document(inputs: ReportInputs) -> dict[str, Any]:
    """What the report's header states: the as-of date (last day of the calibration window), the portfolio's
    initial value and currency, the model's source, sha256 and calibration window, the baseline's start state."""
    base = inputs.baseline or (inputs.results[0] if inputs.results else None)
    as_of = _distinct(_as_of(r.model) for r in inputs.results)
    values = _distinct((_get(r.risk, "portfolio", "initial_value"), r.risk.get("currency"))
                       for r in inputs.results if r.risk.get("portfolio"))
    sources = _distinct(r.manifest.get("model_source") for r in inputs.results)
    data = _get(base.model, "provenance", "data", default={}) if base is not None else {}
    data = data if isinstance(data, Mapping) else {}
    return {
        "as_of": as_of[0] if len(as_of) == 1 else (None if not as_of else ", ".join(map(str, as_of))),
        "as_of_definition": "last date of the model's calibration window (provenance.data.window_end)",
        "portfolio_value": values[0][0] if len(values) == 1 else None,
        "currency": values[0][1] if len(values) == 1 else None,
        "portfolio_values": [{"initial_value": v, "currency": c} for v, c in values],
        "model_source": sources[0] if len(sources) == 1 else ", ".join(map(str, sources)),
        "model_sha256": None if base is None else base.manifest.get("model_sha256"),
        "data_source": data.get("source"),
        "calibration_window": {"start": data.get("window_start"), "end": data.get("window_end")},
        "baseline_start_states": _distinct(r.start_state for r in inputs.results if inputs.is_baseline(r)),
    }


def summary_document(inputs: ReportInputs) -> dict[str, Any]:
    """``summary.json``: the header (as-of date, portfolio value and currency, model source), the executive
    summary, the backtest verdicts and where every result lives."""
    head = header_document(inputs)
    return {
        "kind": "stress-sim-report-summary",
        "created_utc": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "results_dir": str(inputs.root),
        "as_of": head["as_of"],
        "portfolio": {"initial_value": head["portfolio_value"], "currency": head["currency"]},
        "model_source": head["model_source"],
        "header": head,
        "levels": report_levels(inputs),
        "units": "losses positive in the portfolio currency; VaR and ES at the level in their key (var_97.5: "
                 "97.5% VaR); each row at its horizon_days (trading days)",
        "baseline": None if inputs.baseline is None else inputs.baseline.name,
        "scenarios": _executive_rows(inputs),
        "stress_vs_baseline": inputs.comparisons,
        "stress_vs_long_run_baseline": inputs.comparisons_long_run,
        "backtest_verdict": backtest_verdicts(inputs),
        "backtests": [{
            "name": b.get("name"), "kind": b.get("kind"), "spec": b.get("spec"), "traffic_light": b.get("traffic_light"),
            "tests": [{k: t.get(k) for k in ("test", "name", "level", "statistic", "critical_value", "p_value",
                                             "reject", "n", "exceptions")} for t in b.get("tests", [])
                      if isinstance(t, Mapping)],
        } for b in inputs.backtests],
        "results": {r.name: {"directory": str(r.directory), "scenario_sha256": r.manifest.get("scenario_sha256"),
                             "model_sha256": r.manifest.get("model_sha256"), "seed": r.manifest.get("seed"),
                             "format": r.format}
                    for r in inputs.results},
        "run": inputs.run_manifest,
    }


# ---------------------------------------------------------------------------------------------
# model card
# ---------------------------------------------------------------------------------------------
def _model_cards(inputs: ReportInputs) -> list[dict[str, Any]]:
    """One card per set of model parameters; runs that differ only in their start state (a long-run baseline)
    share the card, which lists each start state."""
    from simulator.scenario_risk import model_parameters_sha256

    cards: dict[str, dict] = {}
    for r in inputs.results:
        key = model_parameters_sha256(r.model) if isinstance(r.model, Mapping) else str(r.manifest.get("model_sha256", ""))
        sha = str(r.manifest.get("model_sha256", ""))
        st = r.risk.get("start_state") if isinstance(r.risk.get("start_state"), Mapping) else {}
        state = (_start_key(r), sha, st.get("description"), st.get("start_daily_vol_pct") or {})
        if key not in cards:
            cards[key] = _model_card(r.model, sha)
            cards[key]["used_by"] = []
            cards[key]["source"] = r.manifest.get("model_source")
            cards[key]["start_states"] = {}
        cards[key]["used_by"].append(r.name)
        entry = cards[key]["start_states"].setdefault(state[0], {"kind": state[0], "sha256": sha,
                                                                  "description": state[2], "vols": state[3],
                                                                  "used_by": []})
        entry["used_by"].append(r.name)
    for c in cards.values():
        c["start_states"] = list(c["start_states"].values())
    return list(cards.values())


def _model_card(model: Mapping, sha: str) -> dict[str, Any]:
    prov = model.get("provenance") if isinstance(model.get("provenance"), Mapping) else {}
    assets = [str(a) for a in model.get("assets", [])]
    data = _get(prov, "data", default={}) or {}
    cleaning = _get(data, "cleaning", default={}) or {}
    ffill = _get(cleaning, "forward_filled", default={}) or {}
    card: dict[str, Any] = {
        "sha256": sha,
        "assets": assets,
        "has_provenance": bool(prov),
        "created_by": _get(prov, "created_by"),
        "created_utc": _get(prov, "created_utc"),
        "data": [(k, _get(data, k)) for k in ("source", "prices_start", "prices_end", "n_prices", "window_start",
                                              "window_end", "n_obs", "input_sha256", "prices_sha256",
                                              "returns_sha256") if _get(data, k) is not None],
        "window_request": _get(data, "window", default=None),
        "cleaning_notes": [str(n) for n in (_get(cleaning, "notes", default=[]) or []) if n is not None],
        "forward_filled": [(str(a), len(v) if isinstance(v, list) else v) for a, v in ffill.items()]
        if isinstance(ffill, Mapping) else [],
        "options": [(str(k), v) for k, v in (_get(prov, "options", default={}) or {}).items()]
        if isinstance(_get(prov, "options"), Mapping) else [],
        "versions": [(str(k), v) for k, v in (_get(prov, "versions", default={}) or {}).items()]
        if isinstance(_get(prov, "versions"), Mapping) else [],
        "marginals": [],
        # rate and spread factors move in basis points a day (absolute changes): say so next to their parameters
        "absolute_factors": sorted(a for a, f in (model.get("factors") or {}).items()
                                   if isinstance(f, Mapping) and f.get("kind") in ("rate", "spread")),
    }
    margs = model.get("marginals", []) or []
    diag = _get(prov, "marginals", default={}) or {}
    start = model.get("start") or {}
    for i, a in enumerate(assets):
        spec = margs[i] if i < len(margs) and isinstance(margs[i], Mapping) else {}
        d = diag.get(a, {}) if isinstance(diag, Mapping) else {}
        d = d if isinstance(d, Mapping) else {}
        vol, dist = _get(spec, "vol", "type", default="?"), _get(spec, "dist", "type", default="?")
        params = []
        values = {"mu": _get(spec, "mean", "mu")}
        values.update({k: v for k, v in (spec.get("vol") or {}).items() if k != "type"})
        for k, v in (spec.get("dist") or {}).items():
            if k == "type":
                continue
            if isinstance(v, list):  # e.g. the fhs law's kernel centres: a summary, not 200 numbers
                nums = [float(x) for x in v if _is_num(x)]
                v = (f"{len(v)} values, {min(nums):.3g} to {max(nums):.3g}" if nums else f"{len(v)} values")
            values[k] = v
        se = d.get("std_err") if isinstance(d.get("std_err"), Mapping) else {}
        for k, v in values.items():
            params.append((k, v, se.get(k)))
        lb = d.get("ljung_box") if isinstance(d.get("ljung_box"), Mapping) else {}

        def lb_p(series: str, lag: int = 10, lb: Mapping = lb) -> Any:
            s = lb.get(series) if isinstance(lb.get(series), Mapping) else {}
            lags, pv = s.get("lags"), s.get("pvalue")
            if isinstance(lags, list) and isinstance(pv, list) and lag in lags and lags.index(lag) < len(pv):
                return pv[lags.index(lag)]
            return None

        cands = d.get("candidates") if isinstance(d.get("candidates"), list) else []
        card["marginals"].append({
            "asset": a, "model": f"{vol}/{dist}", "params": params,
            "std_err_type": d.get("std_err_type"),
            "persistence": d.get("persistence"), "half_life": d.get("half_life_days"),
            "long_run_variance": d.get("long_run_variance"),
            "lb_z": lb_p("z"), "lb_z2": lb_p("z2"),
            "converged": d.get("converged"), "nobs": d.get("nobs"), "loglik": d.get("loglik"),
            "aic": d.get("aic"), "bic": d.get("bic"), "selection": d.get("selection"),
            "issues": [str(x) for x in d.get("issues", []) or []],
            "candidates": [(f"{c.get('vol')}/{c.get('dist')}", c.get("bic"), bool(c.get("selected")),
                            c.get("converged"), c.get("stationary")) for c in cands if isinstance(c, Mapping)],
            "start_sigma2": (start.get("sigma2") or [None] * len(assets))[i] if isinstance(start, Mapping) else None,
            "start_resid": (start.get("resid") or [None] * len(assets))[i] if isinstance(start, Mapping) else None,
        })
    cop = model.get("copula") or {}
    cdiag = _get(prov, "copula", default={}) or {}
    cparams = [(k, v) for k, v in cop.items() if k not in ("type", "corr")]
    pairs = []
    tau_e, tau_i = _get(cdiag, "tau_empirical"), _get(cdiag, "tau_implied")
    tl, tu = _get(cdiag, "tail_dependence_lower"), _get(cdiag, "tail_dependence_upper")
    corr = cop.get("corr")

    def cell(m: Any, i: int, j: int) -> Any:
        try:
            return m[i][j]
        except (TypeError, IndexError, KeyError):
            return None

    for i in range(len(assets)):
        for j in range(i + 1, len(assets)):
            pairs.append((assets[i], assets[j], cell(corr, i, j), cell(tau_e, i, j), cell(tau_i, i, j),
                          cell(tl, i, j), cell(tu, i, j)))
    ccands = _get(cdiag, "candidates", default=[]) or []
    card["copula"] = {
        "family": cop.get("type"), "params": cparams, "pairs": pairs,
        "loglik": _get(cdiag, "loglik"), "aic": _get(cdiag, "aic"), "bic": _get(cdiag, "bic"),
        "nobs": _get(cdiag, "nobs"), "selection": _get(cdiag, "selection"),
        "candidates": sorted([(c.get("family"), c.get("loglik"), c.get("aic"), bool(c.get("selected")))
                              for c in ccands if isinstance(c, Mapping)],
                             key=lambda c: c[2] if _is_num(c[2]) else math.inf),
        "notes": [str(n) for n in (_get(cdiag, "notes", default=[]) or [])],
    }
    return card


# ---------------------------------------------------------------------------------------------
# per-scenario context with charts
# ---------------------------------------------------------------------------------------------
_MEASURE_LABELS = {"mean_loss": "mean loss", "VaR": "VaR", "ES": "ES"}


def _headline_rows(r: StoredScenario, inputs: ReportInputs, h: int, levels: list[float],
                   discrete: bool) -> list[dict[str, Any]]:
    """Mean loss, then VaR and ES at each level: the scenario at ``h`` days next to the baseline at ``h`` days."""
    cmp = inputs.comparisons.get(r.name) or {}
    hd = cmp.get("headline") or {}
    cmp_rows = hd.get("rows") if hd.get("horizon_days") == h else None
    if cmp_rows is None:  # format-1 comparisons: the rows of the entry at h
        entry = next((e for e in cmp.get("horizons", []) if e.get("horizon_days") == h), None)
        cmp_rows = entry["rows"] if entry else []
    lr = inputs.comparisons_long_run.get(r.name) or {}
    lr_entry = next((e for e in lr.get("horizons", []) if e.get("horizon_days") == h), None)
    lr_rows = lr_entry["rows"] if lr_entry else []

    def find(rows, measure, level):
        for x in rows:
            if x.get("measure") == measure and (level is None or (x.get("level") is not None
                                                                  and math.isclose(x["level"], level))):
                return x
        return {}

    at_h = r.risk_at(h) or {}
    out = [{"measure": "mean loss", "level": None, "value": None if at_h.get("mean_pnl") is None else -at_h["mean_pnl"],
            "ci_low": None, "ci_high": None, **_cmp_cells(find(cmp_rows, "mean_loss", None)),
            "long_run": find(lr_rows, "mean_loss", None).get("baseline")}]
    for lv in levels:
        t = r.tail(h, lv) or {}
        for measure in ("VaR", "ES"):
            key = measure.lower()
            out.append({"measure": measure, "level": lv, "value": t.get(key),
                        "ci_low": None if discrete else t.get(f"{key}_ci_low"),
                        "ci_high": None if discrete else t.get(f"{key}_ci_high"),
                        **_cmp_cells(find(cmp_rows, measure, lv)),
                        "long_run": find(lr_rows, measure, lv).get("baseline")})
    return out


def _cmp_cells(row: Mapping) -> dict[str, Any]:
    return {"baseline": row.get("baseline"), "stress_loss": row.get("stress_loss"), "se": row.get("se"),
            "ratio": row.get("ratio")}


def _scenario_context(r: StoredScenario, inputs: ReportInputs, charts: bool) -> dict[str, Any]:
    from simulator.report import charts as ch

    risk = r.risk
    levels = sorted(float(x) for x in (risk.get("levels") or DEFAULT_LEVELS))
    es_level = _es_level(levels)
    h = r.reporting_horizon
    currency = risk.get("currency", "")
    names = list(risk.get("assets", []))
    nd = _n_distinct(r, h)
    discrete = _discrete(nd, _n_paths(r))
    st = risk.get("start_state") if isinstance(risk.get("start_state"), Mapping) else {}
    start_vols = []
    for a in names:
        v0, vl = _get(st, "start_daily_vol_pct", a), _get(st, "long_run_daily_vol_pct", a)
        if v0 is not None or vl is not None:
            start_vols.append((a, v0, vl))
    scaling = _replay_scaling(r)
    replays = []
    for s in risk.get("scenario", {}).get("shocks", []) or []:
        if isinstance(s, Mapping) and s.get("type") == "historical_replay":
            replays.append({"label": s.get("label"), "window": " to ".join(str(x) for x in s.get("window") or []),
                            "mode": s.get("mode"), "day": s.get("day"),
                            "scaling": s.get("scaling") or "filtered"})
    cmp = inputs.comparisons.get(r.name)
    frtb = risk.get("frtb_es") if isinstance(risk.get("frtb_es"), Mapping) else None
    base_ww = _get(cmp or {}, "headline", "baseline_worst_window")
    ctx: dict[str, Any] = {
        "name": r.name, "anchor": _anchor(r.name),
        "description": risk.get("scenario", {}).get("description", ""),
        "source": r.scenario.get("source"), "notes": r.scenario.get("notes"),
        "horizon": h, "simulated_horizon": r.horizon, "extended": r.horizon != h,
        "n_paths": risk.get("scenario", {}).get("n_paths"), "currency": currency,
        "daily_paths_kept": risk.get("daily_paths_kept"),
        "is_baseline": inputs.is_baseline(r), "as_of": _as_of(r.model),
        "start_state": r.start_state, "start_label": START_LABELS.get(_start_key(r), r.start_state),
        "start_description": st.get("description"), "start_vols": start_vols,
        "replay_scaling": scaling, "replay_label": REPLAY_LABELS.get(scaling) if scaling else None, "replays": replays,
        "n_distinct": nd, "discrete": discrete, "discrete_min": DISCRETE_OUTCOMES_MIN,
        "levels": levels, "es_level": es_level,
        "headline": _headline_rows(r, inputs, h, levels, discrete) if risk.get("portfolio") else [],
        "has_long_run": r.name in inputs.comparisons_long_run,
        "shocks": [], "risk_rows": [],
        "assets_table": risk.get("assets_table", []),
        "portfolio": risk.get("portfolio"), "drawdown": risk.get("drawdown") or {},
        "drawdown_horizon": (risk.get("drawdown") or {}).get("horizon_days", r.horizon),
        "stress": cmp,
        "contributions": [c for c in risk.get("es_contributions", []) if c["horizon_days"] == h],
        "corr_basis": _get(risk, "correlation", "realised_basis"), "copula_basis": _get(risk, "correlation", "copula_basis"),
        "regime": risk.get("regime"), "charts": {}, "assets": names,
        "dd_keys": [], "frtb": frtb, "frtb_worst": bool(frtb and "worst_window" in frtb),
        "baseline_worst_window": base_ww if isinstance(base_ww, Mapping) else None,
        "targets": _targets(r), "targets_counts": _target_counts(r),
        "book": _book_context(risk, h), "curves": risk.get("curves") if isinstance(risk.get("curves"), Mapping) else {},
    }
    dd = _get(ctx["drawdown"], "portfolio")
    if isinstance(dd, Mapping):
        order = {"mean": 0, "max": 2}
        ctx["dd_keys"] = sorted(dd, key=lambda k: (order.get(k, 1), float(k[1:]) if k[1:].replace(".", "").isdigit() else 0))
    for s in risk.get("scenario", {}).get("shocks", []) or []:
        if isinstance(s, Mapping):
            rest = {k: v for k, v in s.items() if k not in ("type", "label") and v is not None}
            ctx["shocks"].append({"type": s.get("type"), "label": s.get("label"),
                                  "params": "; ".join(f"{k} = {json.dumps(v)}" for k, v in rest.items())})
    for entry in risk.get("risk", []):
        hz = entry["horizon_days"]
        n_hz = _n_distinct(r, hz)
        tails = []
        for lv in levels:
            e = next((x for x in entry["levels"] if math.isclose(x["level"], lv)), None) or {}
            tails.append(e)
        ctx["risk_rows"].append({"horizon_days": hz, "mean_loss": -float(entry["mean_pnl"]),
                                 "prob_loss": entry["prob_loss"], "n_distinct": n_hz,
                                 "discrete": _discrete(n_hz, _n_paths(r)),
                                 "reporting": hz == h, "tails": tails})
    if not charts:
        return ctx
    if r.fan is not None and risk.get("portfolio"):
        fan = r.fan[r.fan["day"] <= h] if r.horizon != h else r.fan
        ctx["charts"]["fan"] = ch.fan_chart(
            fan, currency=currency, initial_value=float(risk["portfolio"]["initial_value"]),
            title=f"{r.name}: portfolio value ({currency}) over {h} trading days; bands: quantiles across "
                  f"{int(risk.get('scenario', {}).get('n_paths', 0)):,} paths"
                  + ("" if risk.get("daily_paths_kept") else " (start and end only)"))
    marks = []
    for lv in levels:
        t = r.tail(h, lv)
        if t:
            marks.append((f"VaR {_tag(lv)}%", float(t["var"]), "var"))
            marks.append((f"ES {_tag(lv)}%", float(t["es"]), "es"))
    if h in r.pnl and marks:
        ctx["charts"]["loss"] = ch.loss_chart(
            r.pnl[h], marks=marks, currency=currency,
            title=f"{r.name}: loss over {h} days ({currency}, losses positive; {len(r.pnl[h]):,} paths"
                  + (f", {nd} distinct outcomes" if discrete else "") + ")")
    for cname, c in (ctx["curves"] or {}).items():
        if not isinstance(c, Mapping) or not isinstance(c.get("fan"), Mapping):
            continue
        probs = c.get("quantiles") or []
        long_end = (c.get("factors") or [None])[-2 if len(c.get("factors") or []) > 1 else -1]
        ten = next((f for f in c.get("factors", []) if f.endswith("10Y")), long_end)
        fan = c["fan"].get(ten) if ten else None
        if isinstance(fan, Mapping):
            ctx["charts"][f"curve_fan_{cname}"] = ch.rate_fan_chart(
                fan["days"], fan["quantiles"], probs, factor=ten,
                title=f"{r.name}: {ten} par yield (percent) over {c.get('horizon_days')} trading days; quantiles "
                      "across paths")
        ctx["charts"][f"curve_{cname}"] = ch.curve_chart(
            c["tenors_years"], c["as_of"], c["at_horizon"], probs,
            title=f"{r.name}: {cname} par curve as of and after {c.get('horizon_days')} trading days (percent)")
    corr = risk.get("correlation") or {}
    if _get(corr, "copula", "matrix") is not None and _get(corr, "realised", "matrix") is not None and names:
        ctx["charts"]["corr"] = ch.correlation_chart(
            np.asarray(corr["copula"]["matrix"], dtype=float), np.asarray(corr["realised"]["matrix"], dtype=float),
            names, base_title="base: model copula", stressed_title=f"stressed: realised under {r.name}")
    return ctx


def _book_context(risk: Mapping, h: int) -> dict[str, Any] | None:
    """The book's tables for the template: positions with their ES contribution at the reporting horizon,
    the sensitivities pivoted by factor, the attribution (None without a book)."""
    book = risk.get("book")
    if not isinstance(book, Mapping):
        return None
    es_level = book.get("es_level")
    contrib = next((c for c in risk.get("es_contributions", []) if c.get("horizon_days") == h
                    and _is_num(es_level) and math.isclose(float(c.get("level", 0)), float(es_level))), {})
    rows = []
    for p in book.get("positions", []) or []:
        if isinstance(p, Mapping):
            rows.append({**p, "es_contribution": (contrib.get("contributions") or {}).get(p.get("id")),
                         "es_share": (contrib.get("shares") or {}).get(p.get("id"))})
    pivot: dict[str, dict[str, float]] = {}
    for srow in book.get("sensitivities", []) or []:
        if isinstance(srow, Mapping) and srow.get("position") == "book":
            pivot.setdefault(str(srow.get("factor")), {})[str(srow.get("measure"))] = srow.get("value")
    per_pos: dict[str, dict[str, float]] = {}
    for srow in book.get("sensitivities", []) or []:
        if isinstance(srow, Mapping) and srow.get("position") != "book":
            key = f"{srow.get('position')}|{srow.get('factor')}"
            per_pos.setdefault(key, {})[str(srow.get("measure"))] = srow.get("value")
    att = book.get("attribution") if isinstance(book.get("attribution"), Mapping) else {}
    classes = att.get("classes") if isinstance(att.get("classes"), Mapping) else {}
    order = [c for c in [*(att.get("order") or []), "unexplained"] if c in classes]
    return {"doc": book, "positions": rows, "by_kind": book.get("by_kind") or {}, "sens": pivot,
            "sens_positions": [{"position": k.split("|")[0], "factor": k.split("|")[1], **v} for k, v in per_pos.items()],
            "attribution": [{"class": c, **classes[c]} for c in order], "es_level": es_level}


def _reverse_context(doc: Mapping | None) -> dict[str, Any] | None:
    """The reverse stress test's figures for the template (None without ``reverse.json``)."""
    if not doc:
        return None
    pt = doc.get("most_likely_breach") or {}
    br = doc.get("simulated_breaches") or {}
    moves = pt.get("moves") or {}
    simple = pt.get("moves_simple_pct") or {}
    rows = [{"factor": a, "log": v, "simple": simple.get(a), "mean": (br.get("mean_moves") or {}).get(a)}
            for a, v in moves.items()]
    clusters = [{"share": c.get("share"), "n": c.get("n"), "moves": c.get("moves") or {}}
                for c in br.get("clusters") or [] if isinstance(c, Mapping)]
    return {"doc": doc, "point": pt, "breaches": br, "rows": rows, "clusters": clusters,
            "factors": list(moves)}


def _bt_anchor(name: Any) -> str:
    """HTML id of a backtest's section."""
    return "bt-" + "".join(c if c.isalnum() or c == "-" else "_" for c in str(name))


def _find_test(b: Mapping, name: str, level: float | None) -> Mapping:
    for t in b.get("tests", []) or []:
        if isinstance(t, Mapping) and t.get("test") == name and (
                level is None or (_is_num(t.get("level")) and math.isclose(float(t["level"]), level))):
            return t
    return {}


def backtest_verdicts(inputs: ReportInputs) -> dict[str, Any] | None:
    """The backtests' verdicts in one table: per series the exceptions at the VaR level against the
    expected number, the Kupiec and Christoffersen conditional-coverage p-values and whether both
    accept, the 97.5 % figures, the Acerbi-Szekely Z2 p-value and the traffic light; which series of
    the simulated model are rejected; and one sentence saying so (None without backtests)."""
    if not inputs.backtests:
        return None
    rows = []
    for b in inputs.backtests:
        spec = b.get("spec") if isinstance(b.get("spec"), Mapping) else {}
        level = float(spec.get("level", 0.99)) if _is_num(spec.get("level")) else 0.99
        es_level = float(spec.get("es_level", ES_LEVEL)) if _is_num(spec.get("es_level")) else ES_LEVEL
        pof, cc = _find_test(b, "pof", level), _find_test(b, "cc", level)
        pof_es, z2 = _find_test(b, "pof", es_level), _find_test(b, "as_z2", None)
        tl = b.get("traffic_light") if isinstance(b.get("traffic_light"), Mapping) else {}
        known = bool(pof) and bool(cc)
        rows.append({
            "name": str(b.get("name", "")), "kind": str(b.get("kind") or spec.get("kind") or "univariate"),
            "anchor": _bt_anchor(b.get("name", "")), "level": level, "es_level": es_level,
            "n_oos": spec.get("n_oos"), "first_oos": spec.get("first_oos"), "last_oos": spec.get("last_oos"),
            "exceptions": spec.get("exceptions"), "expected": spec.get("expected_exceptions"),
            "pof_p": pof.get("p_value"), "cc_p": cc.get("p_value"),
            "accepted": (not pof.get("reject") and not cc.get("reject")) if known else None,
            "exceptions_es": spec.get("exceptions_es_level"), "pof_es_p": pof_es.get("p_value"),
            "as_z2_p": z2.get("p_value"), "zone": _ZONES.get(str(tl.get("zone", "")).lower(), "unknown"),
            "tl_exceptions": tl.get("exceptions"), "tl_n": tl.get("n"),
        })
    model_rows = [r for r in rows if r["kind"] == "model"] or rows
    rejected = [r["name"] for r in model_rows if r["accepted"] is False]
    level = model_rows[0]["level"]
    period = f"{model_rows[0]['first_oos']} to {model_rows[0]['last_oos']}"
    what = "the simulated model" if any(r["kind"] == "model" for r in rows) else "the backtested models"
    if rejected:
        text = (f"The {100 * level:g}% one-day VaR backtest of {what} ({period}) REJECTS "
                + ", ".join(rejected) + " (Kupiec or Christoffersen conditional coverage, p < 0.05): "
                "its VaR is not consistent with history there; read its figures with that in mind.")
    else:
        text = (f"The {100 * level:g}% one-day VaR backtest of {what} ({period}) accepts every series "
                f"({', '.join(r['name'] for r in model_rows)}): Kupiec and Christoffersen conditional "
                "coverage p >= 0.05.")
    counts = [(r["exceptions"], r["expected"]) for r in model_rows if _is_num(r["exceptions"]) and _is_num(r["expected"])]
    if counts and len(counts) == len(model_rows) and all(x > e for x, e in counts):
        lo, hi = min(x for x, _ in counts), max(x for x, _ in counts)
        text += (f" Every series exceeds its VaR more often than expected ({lo}" + (f"-{hi}" if hi != lo else "")
                 + f" exceptions against {counts[0][1]:.1f}): the VaR is on the light side"
                 + (", within what the tests accept." if not rejected else "."))
    return {"rows": rows, "rejected": rejected, "all_accepted": not rejected, "text": text, "level": level,
            "model": inputs.backtest_model}


def _backtest_context(b: Mapping, charts: bool) -> dict[str, Any]:
    from simulator.report import charts as ch

    tl = b.get("traffic_light") or {}
    zone = _ZONES.get(str(tl.get("zone", "")).lower(), "unknown")
    rows = []
    for row in b.get("table", []):
        if not isinstance(row, Mapping):
            continue
        res = str(row.get("result", "")).lower()
        cls = "zone-" + _ZONES[res] if res in _ZONES else (res if res in ("accept", "reject") else "")
        rows.append({**row, "css": cls})
    spec = b.get("spec") or {}
    ctx = {"name": b.get("name", "backtest"), "description": b.get("description"), "spec": spec,
           "kind": str(b.get("kind") or spec.get("kind") or "univariate"), "anchor": _bt_anchor(b.get("name", "")),
           "traffic_light": tl, "zone": zone, "rows": rows, "chart": None}
    series = b.get("series")
    if charts and isinstance(series, Mapping) and isinstance(series.get("return"), list):
        level = spec.get("level", 0.99)
        tag = f"{100 * float(level):g}"
        var = series.get(f"var_{tag}")
        exc = series.get(f"exception_{tag}")
        if isinstance(var, list) and isinstance(exc, list) and len(var) == len(series["return"]) == len(exc):
            ctx["chart"] = ch.backtest_chart(
                series.get("date") or list(range(len(var))), np.asarray(series["return"], dtype=float),
                np.asarray(var, dtype=float), np.asarray(exc, dtype=bool), level=float(level),
                last_days=int(tl.get("n", 250) or 250), title=f"{b.get('name', 'backtest')}: 1-day VaR backtest")
    return ctx


def _manifest_context(r: StoredScenario) -> dict[str, Any]:
    m = r.manifest
    cmd = m.get("command")
    return {
        "name": r.name, "created_utc": m.get("created_utc"), "versions": m.get("versions") or {},
        "seed": m.get("seed") or {}, "model_sha256": m.get("model_sha256"), "model_source": m.get("model_source"),
        "scenario_sha256": m.get("scenario_sha256"), "scenario_source": m.get("scenario_source"),
        "command": shlex.join(str(c) for c in cmd) if isinstance(cmd, list) else str(cmd or ""),
        "inputs": m.get("inputs") or {}, "outputs": m.get("outputs") or {}, "platform": m.get("platform"),
        "n_paths": m.get("n_paths"), "horizon_days": m.get("horizon_days"), "simulated": m.get("simulated"),
        "notes": {k: m[k] for k in ("horizon_extended_from", "reporting_horizon_days", "start_state", "format")
                  if k in m},
        "directory": str(r.directory),
    }


def _environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update({"money": fmt_money, "num": fmt_num, "pct": fmt_pct, "level": fmt_level, "pval": fmt_p,
                        "fixed": fmt_fixed,
                        "tojson_text": lambda v: json.dumps(v, sort_keys=True, default=str)})
    return env


def ratio_rows(inputs: ReportInputs) -> list[dict[str, Any]]:
    """Per compared scenario: its ES at the headline level divided by the baseline's, both over the scenario's
    own horizon, with a delta-method standard error from the two ES standard errors (none when the scenario's
    loss distribution has fewer than :data:`DISCRETE_OUTCOMES_MIN` distinct outcomes)."""
    base = inputs.baseline
    out = []
    for r in inputs.results:
        cmp = (inputs.comparisons.get(r.name) or {}).get("headline") or {}
        if r is base or cmp.get("es_ratio") is None:
            continue
        h, lv = int(cmp["horizon_days"]), float(cmp.get("es_level", HEADLINE_ES_LEVEL))
        ts = r.tail(h, lv) or {}
        tb = base.tail(h, lv) if base is not None else None
        nd = _n_distinct(r, h)
        se = None
        if tb and not _discrete(nd, _n_paths(r)):
            se = _ratio_se({"scenario": ts.get("es"), "baseline": tb.get("es"), "se_scenario": ts.get("es_se"),
                            "se_baseline": tb.get("es_se")})
        out.append({"name": r.name, "horizon_days": h, "ratio": float(cmp["es_ratio"]), "se": se,
                    "discrete": _discrete(nd, _n_paths(r)), "baseline": inputs.is_baseline(r)})
    return out


def _baseline_context(inputs: ReportInputs) -> dict[str, Any] | None:
    base = inputs.baseline
    if base is None:
        return None
    return {"name": base.name, "horizon": base.reporting_horizon, "simulated": base.horizon,
            "extended": base.horizon != base.reporting_horizon, "start_state": base.start_state,
            "start_label": START_LABELS.get(_start_key(base), base.start_state),
            "long_run": None if inputs.long_run_baseline is None else inputs.long_run_baseline.name}


def render_html(inputs: ReportInputs, *, title: str | None = None, charts: bool = True,
                progress: Callable[[str], None] | None = None) -> str:
    """Render the report for ``inputs`` as one HTML string (charts embedded as PNG data URIs).

    Parameters
    ----------
    inputs : ReportInputs
    title : str, optional
        Page title (default "Stress scenario risk report").
    charts : bool, default True
        Draw the matplotlib charts (False: tables only, much faster).
    progress : callable, optional
        Called with a short message as each section is built.
    """
    from simulator import __version__
    from simulator.report import charts as ch

    say = progress or (lambda _m: None)
    exec_rows = _executive_rows(inputs)
    scen = []
    for r in inputs.results:
        say(f"report: {r.name}")
        scen.append(_scenario_context(r, inputs, charts))
    backtests = [_backtest_context(b, charts) for b in inputs.backtests]
    verdicts = backtest_verdicts(inputs)
    levels = report_levels(inputs)
    es_level = _es_level(levels)
    ratios = ratio_rows(inputs)
    overview = None
    if charts and ratios:
        overview = ch.ratio_chart(ratios, es_label=f"ES {_tag(es_level)}%",
                                  baseline=None if inputs.baseline is None else inputs.baseline.name)
    run = inputs.run_manifest or {}
    failed = [f for f in run.get("failed", []) or [] if isinstance(f, Mapping)]
    env = _environment()
    return env.get_template("report.html").render(
        title=title or "Stress scenario risk report",
        generated_utc=_dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        version=__version__, root=str(inputs.root), exec_rows=exec_rows, overview=overview,
        baseline=None if inputs.baseline is None else inputs.baseline.name,
        base=_baseline_context(inputs), header=header_document(inputs), levels=levels, es_level=es_level,
        level_tags=[_tag(lv) for lv in levels], discrete_min=DISCRETE_OUTCOMES_MIN, truncation_note=TRUNCATION_NOTE,
        replay_labels=REPLAY_LABELS, start_labels=START_LABELS, ratios=ratios,
        any_discrete=any(row["discrete"] for row in exec_rows if row["has_portfolio"]),
        any_targets=any(row["targets_met"] is not None for row in exec_rows),
        any_long_run=bool(inputs.comparisons_long_run),
        scenarios=scen, backtests=backtests, verdicts=verdicts, reverse=_reverse_context(inputs.reverse),
        model_cards=_model_cards(inputs),
        manifests=[_manifest_context(r) for r in inputs.results],
        run=run, failed=failed, run_command=shlex.join(str(c) for c in run["command"]) if isinstance(run.get("command"), list) else "",
    )


def write_report(results_dir: str | os.PathLike, out: str | os.PathLike, *, tables_dir: str | os.PathLike | None = None,
                 title: str | None = None, charts: bool = True, verify: bool = True,
                 progress: Callable[[str], None] | None = None) -> dict[str, Path]:
    """Render ``results_dir`` to the HTML file ``out`` (atomically); optionally write the machine tables.

    Parameters
    ----------
    results_dir : path
        Results folder (see :func:`load_inputs`).
    out : path
        The HTML file to write.
    tables_dir : path, optional
        Also write ``summary.json`` and ``tables/<name>.csv`` (see :func:`report_tables`) there.
    title, charts, progress
        See :func:`render_html`.
    verify : bool, default True
        Check result files against their manifests first.

    Returns
    -------
    dict of str to Path
        ``{"report": ..., "summary": ..., "<table>": ...}`` for every file written.
    """
    inputs = load_inputs(results_dir, verify=verify)
    html = render_html(inputs, title=title, charts=charts, progress=progress)
    written: dict[str, Path] = {}
    if tables_dir is not None:
        tdir = Path(tables_dir)
        for name, data in report_table_bytes(inputs).items():
            written[name] = atomic_write_bytes(tdir / "tables" / f"{name}.csv", data)
        written["summary"] = atomic_write_json(tdir / "summary.json", summary_document(inputs))
    written["report"] = atomic_write_text(out, html)
    return written
