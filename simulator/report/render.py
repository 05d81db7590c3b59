"""The regulatory scenario report: one self-contained HTML file from a results folder.

``write_report(RESULTS_DIR, "report.html")`` reads every scenario directory written by
:func:`simulator.results.write_results` (plus ``backtest.json`` and the folder's own
``manifest.json`` when present) and renders ``templates/report.html`` with jinja2:

- an executive summary (scenario, VaR, ES with confidence intervals, stress loss vs the baseline);
- the VaR/ES backtests on real history with their Basel traffic light;
- per scenario: fan chart of the portfolio value, loss distribution with VaR/ES marked, correlation
  heatmaps (model copula vs realised under the scenario), risk by horizon, stress loss against the
  baseline, per-asset stress table, Euler ES contributions and drawdowns;
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

from simulator.io import MANIFEST_NAME, atomic_write_bytes, atomic_write_json, atomic_write_text
from simulator.results import ScenarioResults, compare_to_baseline, headline_levels, load_results_tree

__all__ = ["ReportInputs", "load_inputs", "report_tables", "summary_document", "render_html", "write_report",
           "require_report_dependencies", "BACKTEST_FILE"]

#: File of a results folder holding rolling VaR backtests (``{"backtests": [...]}``, see :func:`load_inputs`).
BACKTEST_FILE = "backtest.json"
TEMPLATES = Path(__file__).resolve().parent / "templates"
_ZONES = {"green": "green", "amber": "amber", "yellow": "amber", "red": "red"}


def require_report_dependencies() -> None:
    """Check that jinja2 and matplotlib (the ``report`` extra) are importable; a clear error if not."""
    import importlib.util

    from simulator.exceptions import UserInputError

    missing = [m for m in ("jinja2", "matplotlib") if importlib.util.find_spec(m) is None]
    if missing:
        raise UserInputError(f"the HTML report needs {' and '.join(missing)}: pip install 'stress-sim[report]'")


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
    results : list of ScenarioResults
        Baseline first, then by name.
    backtests : list of dict
        Entries of ``backtest.json``: ``name``, ``description`` and the fields of
        :meth:`simulator.backtest.BacktestResult.to_dict` (``include_series=True`` adds the chart).
    comparisons : dict of str to dict
        Stress loss of each scenario against the baseline (:func:`simulator.results.compare_to_baseline`).
    run_manifest : dict or None
        The folder's own ``manifest.json`` (e.g. written by ``stress-sim demo``).
    """

    root: Path
    results: list[ScenarioResults]
    backtests: list[dict] = field(default_factory=list)
    comparisons: dict[str, dict] = field(default_factory=dict)
    run_manifest: dict | None = None

    @property
    def baseline(self) -> ScenarioResults | None:
        return next((r for r in self.results if r.name == "baseline"), None)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
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


def load_inputs(results_dir: str | os.PathLike, *, verify: bool = True) -> ReportInputs:
    """Read a results folder for the report.

    Parameters
    ----------
    results_dir : path
        A folder of scenario result directories (or one scenario directory); ``backtest.json`` and a
        ``manifest.json`` of the folder itself are read when present.
    verify : bool, default True
        Check the sha256 of every result file against its manifest.
    """
    root = Path(results_dir)
    results = load_results_tree(root, verify=verify)
    backtests: list[dict] = []
    bt = root / BACKTEST_FILE
    if bt.is_file():
        backtests = _check_backtests(_read_json(bt), bt)
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
    inputs = ReportInputs(root=root, results=results, backtests=backtests, run_manifest=run_manifest)
    base = inputs.baseline
    for r in results:
        cmp = None
        if base is not None and r is not base:
            cmp = compare_to_baseline(r, base)
        if cmp is None and isinstance(r.risk.get("stress_vs_baseline"), Mapping):
            cmp = dict(r.risk["stress_vs_baseline"])
        if cmp is not None:
            inputs.comparisons[r.name] = cmp
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
def _executive_rows(inputs: ReportInputs) -> list[dict[str, Any]]:
    rows = []
    for r in inputs.results:
        levels = r.risk.get("levels") or [0.975, 0.99]
        var_level, es_level = headline_levels(levels)
        h = r.horizon
        t_var = r.tail(h, var_level) or {}
        t_es = r.tail(h, es_level) or {}
        t10 = r.tail(10, es_level) if r.risk_at(10) else None
        at_h = r.risk_at(h) or {}
        cmp = (inputs.comparisons.get(r.name) or {}).get("headline") or {}
        rows.append({
            "scenario": r.name,
            "anchor": _anchor(r.name),
            "description": _first_line(r.risk.get("scenario", {}).get("description")),
            "baseline": r.name == "baseline",
            "horizon_days": h,
            "n_paths": int(r.risk.get("scenario", {}).get("n_paths", 0)),
            "shocks": ", ".join(dict.fromkeys(str(t) for t in r.risk.get("scenario", {}).get("shock_types", []))) or "none",
            "currency": r.risk.get("currency", ""),
            "has_portfolio": bool(r.risk.get("portfolio")),
            "mean_pnl": at_h.get("mean_pnl"),
            "prob_loss": at_h.get("prob_loss"),
            "var_level": var_level,
            "var": t_var.get("var"), "var_ci_low": t_var.get("var_ci_low"), "var_ci_high": t_var.get("var_ci_high"),
            "es_level": es_level,
            "es": t_es.get("es"), "es_ci_low": t_es.get("es_ci_low"), "es_ci_high": t_es.get("es_ci_high"),
            "es_10d": None if not t10 else t10.get("es"),
            "stress_loss_es": cmp.get("es_stress_loss"), "stress_loss_es_se": cmp.get("es_stress_loss_se"),
            "stress_loss_mean": cmp.get("mean_stress_loss"), "stress_ratio_es": cmp.get("es_ratio"),
            "stress_horizon_days": cmp.get("horizon_days"),
            "stress_at_scenario_horizon": cmp.get("at_scenario_horizon"),
        })
    return rows


def report_tables(inputs: ReportInputs) -> dict[str, Any]:
    """The report's figures as pandas DataFrames (written as CSV next to ``summary.json``).

    Keys: ``executive_summary``, ``risk_measures``, ``stress_vs_baseline``, ``asset_stress``,
    ``es_contributions``, ``frtb_es``, ``drawdowns``, ``backtests`` and ``model_marginals``.
    """
    import pandas as pd

    risk_rows, stress_rows, asset_rows, contrib_rows, dd_rows, frtb_rows = [], [], [], [], [], []
    for r in inputs.results:
        for entry in r.risk.get("risk", []):
            for e in entry["levels"]:
                risk_rows.append({"scenario": r.name, "horizon_days": entry["horizon_days"],
                                  "mean_pnl": entry["mean_pnl"], "prob_loss": entry["prob_loss"], **e})
        for h in (inputs.comparisons.get(r.name) or {}).get("horizons", []):
            for row in h["rows"]:
                stress_rows.append({
                    "scenario": r.name, "baseline": inputs.comparisons[r.name]["baseline"],
                    "horizon_days": h["horizon_days"], "measure": row["measure"], "level": row["level"],
                    "scenario_value": row["scenario"], "baseline_value": row["baseline"],
                    "stress_loss": row["stress_loss"], "se": row["se"], "ratio": row["ratio"]})
        for row in r.risk.get("assets_table", []):
            asset_rows.append({"scenario": r.name, "horizon_days": r.horizon, **row})
        for c in r.risk.get("es_contributions", []):
            for a, v in c["contributions"].items():
                contrib_rows.append({"scenario": r.name, "horizon_days": c["horizon_days"], "level": c["level"],
                                     "asset": a, "contribution": v, "share": c["shares"].get(a), "portfolio_es": c["es"]})
        frtb = r.risk.get("frtb_es")
        if isinstance(frtb, Mapping) and "classes" in frtb:
            for c in frtb["classes"]:
                frtb_rows.append({"scenario": r.name, "level": frtb["level"], "liquidity_horizon_days":
                                  c["liquidity_horizon_days"], "es_base_horizon": c["es_base"], "scale": c["scale"],
                                  "scaled_es": c["scaled_es"], "assets": " ".join(c["assets"]),
                                  "liquidity_adjusted_es": frtb["liquidity_adjusted_es"]})
        for kind, s in (r.risk.get("drawdown") or {}).items():
            if kind == "per_asset_relative":
                for a, d in s.items():
                    dd_rows.append({"scenario": r.name, "measure": "asset_max_drawdown_fraction", "asset": a, **d})
            else:
                dd_rows.append({"scenario": r.name, "measure": f"{kind}_max_drawdown", "asset": None, **s})
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
    return {
        "executive_summary": pd.DataFrame(_executive_rows(inputs)),
        "risk_measures": pd.DataFrame(risk_rows),
        "stress_vs_baseline": pd.DataFrame(stress_rows),
        "asset_stress": pd.DataFrame(asset_rows),
        "es_contributions": pd.DataFrame(contrib_rows),
        "frtb_es": pd.DataFrame(frtb_rows),
        "drawdowns": pd.DataFrame(dd_rows),
        "backtests": pd.DataFrame(bt_rows),
        "model_marginals": pd.DataFrame(marg_rows),
    }


def summary_document(inputs: ReportInputs) -> dict[str, Any]:
    """``summary.json``: the executive summary, the backtest verdicts and where every result lives."""
    return {
        "kind": "stress-sim-report-summary",
        "created_utc": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "results_dir": str(inputs.root),
        "baseline": None if inputs.baseline is None else inputs.baseline.name,
        "scenarios": _executive_rows(inputs),
        "stress_vs_baseline": inputs.comparisons,
        "backtests": [{
            "name": b.get("name"), "spec": b.get("spec"), "traffic_light": b.get("traffic_light"),
            "tests": [{k: t.get(k) for k in ("test", "name", "level", "statistic", "critical_value", "p_value",
                                             "reject", "n", "exceptions")} for t in b.get("tests", [])
                      if isinstance(t, Mapping)],
        } for b in inputs.backtests],
        "results": {r.name: {"directory": str(r.directory), "scenario_sha256": r.manifest.get("scenario_sha256"),
                             "model_sha256": r.manifest.get("model_sha256"), "seed": r.manifest.get("seed")}
                    for r in inputs.results},
        "run": inputs.run_manifest,
    }


# ---------------------------------------------------------------------------------------------
# model card
# ---------------------------------------------------------------------------------------------
def _model_cards(inputs: ReportInputs) -> list[dict[str, Any]]:
    cards: dict[str, dict] = {}
    for r in inputs.results:
        sha = str(r.manifest.get("model_sha256", ""))
        if sha in cards:
            cards[sha]["used_by"].append(r.name)
            continue
        cards[sha] = _model_card(r.model, sha)
        cards[sha]["used_by"] = [r.name]
        cards[sha]["source"] = r.manifest.get("model_source")
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
        values.update({k: v for k, v in (spec.get("dist") or {}).items() if k != "type"})
        se = d.get("std_err") if isinstance(d.get("std_err"), Mapping) else {}
        for k, v in values.items():
            params.append((k, v, se.get(k)))
        lb = d.get("ljung_box") if isinstance(d.get("ljung_box"), Mapping) else {}

        def lb_p(series: str, lag: int = 10) -> Any:
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
def _scenario_context(r: ScenarioResults, inputs: ReportInputs, charts: bool) -> dict[str, Any]:
    from simulator.report import charts as ch

    risk = r.risk
    levels = risk.get("levels") or [0.975, 0.99]
    var_level, es_level = headline_levels(levels)
    h = r.horizon
    currency = risk.get("currency", "")
    names = list(risk.get("assets", []))
    ctx: dict[str, Any] = {
        "name": r.name, "anchor": _anchor(r.name),
        "description": risk.get("scenario", {}).get("description", ""),
        "source": r.scenario.get("source"), "notes": r.scenario.get("notes"),
        "horizon": h, "n_paths": risk.get("scenario", {}).get("n_paths"), "currency": currency,
        "daily_paths_kept": risk.get("daily_paths_kept"),
        "shocks": [], "risk_rows": [], "assets_table": risk.get("assets_table", []),
        "portfolio": risk.get("portfolio"), "drawdown": risk.get("drawdown") or {},
        "var_level": var_level, "es_level": es_level, "stress": inputs.comparisons.get(r.name),
        "contributions": [c for c in risk.get("es_contributions", []) if c["horizon_days"] == h],
        "corr_basis": _get(risk, "correlation", "realised_basis"), "copula_basis": _get(risk, "correlation", "copula_basis"),
        "regime": risk.get("regime"), "charts": {}, "assets": names,
        "dd_keys": [], "frtb": risk.get("frtb_es") if isinstance(risk.get("frtb_es"), Mapping) else None,
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
        for e in entry["levels"]:
            ctx["risk_rows"].append({"horizon_days": entry["horizon_days"], "mean_pnl": entry["mean_pnl"],
                                     "prob_loss": entry["prob_loss"], **e})
    if not charts:
        return ctx
    if r.fan is not None and risk.get("portfolio"):
        ctx["charts"]["fan"] = ch.fan_chart(
            r.fan, currency=currency, initial_value=float(risk["portfolio"]["initial_value"]),
            title=f"{r.name}: portfolio value over {h} trading days" + ("" if risk.get("daily_paths_kept")
                                                                        else " (start and end only)"))
    t_var, t_es = r.tail(h, var_level), r.tail(h, es_level)
    if h in r.pnl and t_var and t_es:
        ctx["charts"]["loss"] = ch.loss_chart(
            r.pnl[h], var=t_var["var"], es=t_es["es"], var_label=f"VaR {100 * var_level:g}%",
            es_label=f"ES {100 * es_level:g}%", currency=currency,
            title=f"{r.name}: loss over {h} days ({len(r.pnl[h]):,} paths)")
    corr = risk.get("correlation") or {}
    if _get(corr, "copula", "matrix") is not None and _get(corr, "realised", "matrix") is not None and names:
        ctx["charts"]["corr"] = ch.correlation_chart(
            np.asarray(corr["copula"]["matrix"], dtype=float), np.asarray(corr["realised"]["matrix"], dtype=float),
            names, base_title="base: model copula", stressed_title=f"stressed: realised under {r.name}")
    return ctx


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


def _manifest_context(r: ScenarioResults) -> dict[str, Any]:
    m = r.manifest
    cmd = m.get("command")
    return {
        "name": r.name, "created_utc": m.get("created_utc"), "versions": m.get("versions") or {},
        "seed": m.get("seed") or {}, "model_sha256": m.get("model_sha256"), "model_source": m.get("model_source"),
        "scenario_sha256": m.get("scenario_sha256"), "scenario_source": m.get("scenario_source"),
        "command": shlex.join(str(c) for c in cmd) if isinstance(cmd, list) else str(cmd or ""),
        "inputs": m.get("inputs") or {}, "outputs": m.get("outputs") or {}, "platform": m.get("platform"),
        "n_paths": m.get("n_paths"), "horizon_days": m.get("horizon_days"), "simulated": m.get("simulated"),
        "notes": {k: m[k] for k in ("horizon_extended_from",) if k in m},
        "directory": str(r.directory),
    }


def _environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update({"money": fmt_money, "num": fmt_num, "pct": fmt_pct, "level": fmt_level, "pval": fmt_p,
                        "tojson_text": lambda v: json.dumps(v, sort_keys=True, default=str)})
    return env


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
    overview = None
    if charts and any(row["es"] is not None for row in exec_rows):
        currency = next((row["currency"] for row in exec_rows if row["currency"]), "")
        es_levels = {row["es_level"] for row in exec_rows if row["es"] is not None}
        label = f"ES {100 * es_levels.pop():g}%" if len(es_levels) == 1 else "ES"
        overview = ch.overview_chart([{"name": row["scenario"], "es": row["es"], "es_ci_low": row["es_ci_low"],
                                       "es_ci_high": row["es_ci_high"], "baseline": row["baseline"]}
                                      for row in exec_rows], currency=currency, es_label=label)
    run = inputs.run_manifest or {}
    failed = [f for f in run.get("failed", []) or [] if isinstance(f, Mapping)]
    env = _environment()
    return env.get_template("report.html").render(
        title=title or "Stress scenario risk report",
        generated_utc=_dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        version=__version__, root=str(inputs.root), exec_rows=exec_rows, overview=overview,
        baseline=None if inputs.baseline is None else inputs.baseline.name,
        scenarios=scen, backtests=backtests, model_cards=_model_cards(inputs),
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
        for name, frame in report_tables(inputs).items():
            written[name] = atomic_write_bytes(tdir / "tables" / f"{name}.csv", frame.to_csv(index=False).encode("utf-8"))
        written["summary"] = atomic_write_json(tdir / "summary.json", summary_document(inputs))
    written["report"] = atomic_write_text(out, html)
    return written
