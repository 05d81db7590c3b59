"""Re-derive every figure a result folder publishes and compare it with what the folder stores.

This is the second half of ``stress-sim verify`` (:mod:`simulator.jobs.verify`): once the per-path files of a
run are hash-checked and reproduced, every figure computed from them is computed again, from those paths and
the run's recorded model, scenario, portfolio or book and settings, **by the code that wrote it**, and each
stored value is compared with its re-derivation:

* a scenario run (``stress-sim run``; :func:`derive_scenario_run`, :func:`check_scenario_outputs`):
  ``risk.json`` (VaR, ES and their intervals, distinct outcomes, Euler contributions, the per-asset stress
  table, drawdowns, correlations, targets, the liquidity-adjusted ES, the stress loss against the baseline,
  the instrument book's ``book`` and ``curves`` sections) through :mod:`simulator.scenario_risk` and
  :mod:`simulator.book_risk`, ``pnl.parquet`` and ``fan.parquet``;
* ``stress-sim simulate --positions``: ``tail.json`` from the stored summaries, or every path recomputed
  (:func:`check_tail`);
* a demo folder (``stress-sim demo``): ``summary.json``, ``tables/*.csv`` and ``report.html`` (rendered again:
  its text exactly, its charts byte for byte under the recorded matplotlib) through
  :mod:`simulator.report.render` from the re-derived scenario figures and the re-derived backtests and reverse
  stress test (:func:`check_report_tables`, :func:`check_report_html`); ``backtest.json``'s tests from its
  stored daily forecasts on the realised returns read again from the bundled data (:func:`check_backtests`);
  ``reverse.json`` (:func:`check_reverse`);
* a reverse stress test (``stress-sim reverse``): ``reverse.json``, re-run from the recorded model, scenario,
  threshold, book, paths and seed (:func:`check_reverse`).

Tolerance: a value matches when it is bit-identical, or within :data:`REL_TOL` of the larger magnitude (with
:data:`ABS_TOL` for values near zero). Within one stress-sim version on one machine every re-derived figure is
bit-identical (the computations are deterministic functions of the paths); the tolerance absorbs the last-digit
differences of another version's summation order or another CPU's BLAS, and the number of values that matched
only within it is reported. Not re-derived: the backtests' VaR/ES forecasts (they need the rolling refits) and
the Acerbi-Szekely p-values and critical values (simulated from the refitted laws; their statistics are
re-derived), summary.json's ``created_utc`` and the folder paths it recorded, report.html's rendering time and
folders (:data:`_HTML_VOLATILE`), and its charts when the manifest does not record the matplotlib that drew them.

Each mismatch is one line naming the file, the key (list entries by their identifying fields, e.g.
``risk[horizon_days=10].levels[level=0.975].es``) and both values.
"""
from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from simulator.exceptions import UserInputError

__all__ = ["REL_TOL", "ABS_TOL", "Tally", "compare_documents", "compare_arrays", "DerivedRun",
           "derive_scenario_run", "check_scenario_outputs", "check_backtests", "check_reverse",
           "check_report_tables", "check_report_html", "read_stored_paths", "book_for_run", "check_tail",
           "tail_settings"]

#: Relative tolerance of a re-derived value (of the larger magnitude of the two values).
REL_TOL = 1e-9
#: Absolute tolerance for values near zero.
ABS_TOL = 1e-9
#: Differences listed per file (the rest are counted).
MAX_PER_FILE = 12
#: Keys results format 2 gained after stress-sim 0.3.0 wrote its first results (``unit`` of the per-asset stress
#: rows and of the shocks); a stored format-2 file without them is not a difference.
ADDED_AFTER_0_3_0 = frozenset({"unit"})
#: Fields that identify an entry of a list of objects in messages, in this order (at most two are used).
_ID_KEYS = ("horizon_days", "level", "measure", "position", "asset", "id", "name", "test", "scenario", "factor",
            "liquidity_horizon_days", "start_day")


# ---------------------------------------------------------------------------------------------
# comparing values
# ---------------------------------------------------------------------------------------------
@dataclass
class Tally:
    """What one file's comparison found: differences beyond the tolerance (``problems``), values compared,
    values equal only within the tolerance, and keys one side lacks that are not differences (``notes``)."""

    file: str
    legacy: bool = False
    compared: int = 0
    close: int = 0
    problems: list[str] = field(default_factory=list)
    n_problems: int = 0
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    text_skipped: int = 0

    def differ(self, message: str) -> None:
        self.n_problems += 1
        if len(self.problems) < MAX_PER_FILE:
            self.problems.append(f"{self.file}{message}" if message[:1] in (" ", ":") else f"{self.file} {message}")

    def finish(self, problems: list[str], notes: list[str]) -> None:
        """Append this file's problems and notes to a check's lists."""
        problems.extend(self.problems)
        if self.n_problems > len(self.problems):
            problems.append(f"{self.file}: ... and {self.n_problems - len(self.problems)} more difference(s)")
        if self.close:
            notes.append(f"{self.file}: {self.close:,} of {self.compared:,} values equal within {REL_TOL:g} relative, "
                         "not bit for bit (another version's or machine's summation order)")
        if self.missing:
            notes.append(f"{self.file}: {len(self.missing)} figure(s) this version computes are not in the stored file "
                         f"(written by an earlier version): {', '.join(self.missing[:6])}"
                         + (" ..." if len(self.missing) > 6 else ""))
        if self.extra:
            notes.append(f"{self.file}: {len(self.extra)} stored key(s) of an earlier results format are not re-derived: "
                         f"{', '.join(self.extra[:6])}" + (" ..." if len(self.extra) > 6 else ""))
        if self.text_skipped:
            notes.append(f"{self.file}: {self.text_skipped} text value(s) of an earlier results format differ from "
                         "today's wording (numbers compared, text not)")


def _short(value: Any, limit: int = 60) -> str:
    """A value for a message: numbers in full (repr), text and structures cut to ``limit`` characters with
    their length."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (Mapping, list)):
        text = json.dumps(value, sort_keys=True, default=str)
    elif isinstance(value, str):
        text = value
        if len(text) <= limit:
            return repr(text)
        return f"{text[:limit]!r}... ({len(text):,} characters)"
    else:
        return repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_))


def _same_number(a: float, b: float) -> int:
    """2: bit-identical (or both NaN), 1: within the tolerance, 0: different."""
    if a == b or (math.isnan(a) and math.isnan(b)):
        return 2
    if math.isfinite(a) and math.isfinite(b) and math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL):
        return 1
    return 0


def _label(entry: Any, index: int) -> str:
    if isinstance(entry, Mapping):
        parts = [f"{k}={entry[k]}" for k in _ID_KEYS  # a position is named by its id, not by its amount
                 if k in entry and (isinstance(entry[k], str) or (_is_number(entry[k]) and k != "position"))][:2]
        if parts:
            return "[" + ",".join(parts) + "]"
    return f"[{index}]"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else str(key)


def compare_documents(stored: Any, derived: Any, tally: Tally, path: str = "",
                      ignore: Callable[[str], bool] | None = None) -> None:
    """Compare a stored JSON document with its re-derivation, recording every difference in ``tally``.

    Objects key by key, lists entry by entry, numbers within the tolerance, everything else exactly. For a
    file of an earlier results format (``tally.legacy``) keys one side lacks and differing text are notes, not
    differences; for the current format a stored key that is not re-derived, or a re-derived one missing from
    the file (other than :data:`ADDED_AFTER_0_3_0`), is a difference. ``ignore(path)`` skips keys."""
    if ignore is not None and path and ignore(path):
        return
    if isinstance(stored, Mapping) and isinstance(derived, Mapping):
        for k in derived:
            p = _join(path, str(k))
            if ignore is not None and ignore(p):
                continue
            if k not in stored:
                if tally.legacy or k in ADDED_AFTER_0_3_0:
                    tally.missing.append(p)
                else:
                    tally.differ(f"{p}: missing from the stored file (re-derived {_short(derived[k])})")
                continue
            compare_documents(stored[k], derived[k], tally, p, ignore)
        for k in stored:
            if k in derived:
                continue
            p = _join(path, str(k))
            if ignore is not None and ignore(p):
                continue
            if tally.legacy:
                tally.extra.append(p)
            else:
                tally.differ(f"{p}: stored {_short(stored[k])}, which this run does not produce")
        return
    if isinstance(stored, list) and isinstance(derived, list):
        if len(stored) != len(derived):
            tally.differ(f"{path}: {len(stored)} entries stored, {len(derived)} re-derived")
        for i, (s, d) in enumerate(zip(stored, derived)):
            compare_documents(s, d, tally, f"{path}{_label(d, i)}", ignore)
        return
    if _is_number(stored) and _is_number(derived):
        tally.compared += 1
        same = _same_number(float(stored), float(derived))
        if same == 1:
            tally.close += 1
        elif same == 0:
            tally.differ(f"{path}: stored {_short(stored)}, re-derived {_short(derived)}")
        return
    tally.compared += 1
    if type(stored) is type(derived) and stored == derived:
        return
    if tally.legacy and isinstance(stored, str) and isinstance(derived, str):
        tally.text_skipped += 1
        return
    if isinstance(stored, str) and isinstance(derived, str) and max(len(stored), len(derived)) > 60:
        i = next((k for k, (a, b) in enumerate(zip(stored, derived)) if a != b), min(len(stored), len(derived)))
        start = max(0, i - 20)
        tally.differ(f"{path}: text differs from character {i + 1}: stored {_short(stored[start:], 50)}, "
                     f"re-derived {_short(derived[start:], 50)}")
        return
    tally.differ(f"{path}: stored {_short(stored)}, re-derived {_short(derived)}")


def compare_arrays(stored: np.ndarray, derived: np.ndarray, tally: Tally, what: str,
                   where: Callable[[int], str]) -> None:
    """Compare two float arrays of the same length value by value; one message with the count of differing
    values and the first of them (``where(i)`` names entry ``i``)."""
    s = np.asarray(stored, dtype=np.float64)
    d = np.asarray(derived, dtype=np.float64)
    tally.compared += s.size
    exact = (s.view(np.uint64) == d.view(np.uint64)) | (np.isnan(s) & np.isnan(d))
    with np.errstate(invalid="ignore", over="ignore"):
        close = np.isfinite(s) & np.isfinite(d) & (np.abs(s - d) <= np.maximum(ABS_TOL, REL_TOL * np.maximum(
            np.abs(s), np.abs(d))))
    ok = exact | close
    tally.close += int((close & ~exact).sum())
    bad = np.flatnonzero(~ok)
    if bad.size:
        i = int(bad[0])
        tally.differ(f"{what}: {bad.size:,} of {s.size:,} value(s) differ; first at {where(i)}: stored {float(s[i])!r}, "
                     f"re-derived {float(d[i])!r}")


def _json_normal(obj: Any) -> Any:
    """``obj`` as the JSON writer stores it and a reader reads it back (numpy scalars, NaN, tuples)."""
    from simulator.io import _json_default

    return json.loads(json.dumps(obj, sort_keys=True, default=_json_default))


def _file_error(exc: Exception, path: Path, name: str) -> str:
    """safeio's message about the file ``path`` (``name 'PATH' is a FIFO ...``) without the name and the path:
    the difference names the file itself."""
    text = str(exc).replace(f" {str(path)!r}", "")
    return (text[len(name) + 1:] if text.startswith(f"{name} ") else text)[:160]


def _read_json(path: Path, tally: Tally) -> Any:
    """A stored JSON file (a regular file within the input size limit); a difference in ``tally`` otherwise."""
    from simulator.safeio import read_input_text

    if not path.exists() and not path.is_symlink():
        tally.differ(": missing")
        return None
    try:
        return json.loads(read_input_text(path, path.name))
    except UserInputError as exc:  # not a regular file, too large, not UTF-8
        tally.differ(f": {_file_error(exc, path, path.name)}")
    except (OSError, ValueError) as exc:
        tally.differ(f": not readable JSON ({type(exc).__name__}: {_short(str(exc), 120)})")
    return None


# ---------------------------------------------------------------------------------------------
# scenario runs
# ---------------------------------------------------------------------------------------------
@dataclass
class DerivedRun:
    """A scenario run's figures re-derived: what ``write_results`` would store for the same paths.

    ``stored`` is a :class:`simulator.results.StoredScenario` holding the re-derived ``risk``, ``pnl`` and
    ``fan`` with the run's stored manifest, model and scenario (what the report and a scenario's baseline
    comparison read)."""

    risk: dict
    pnl: dict[int, np.ndarray]
    fan: Any
    stored: Any
    source: str


def read_stored_paths(directory: Path, manifest: Mapping, assets: Sequence[str], n_paths: int, horizon: int,
                      cols: Mapping[str, str], *, daily: bool):
    """The per-path arrays of the stored files: ``cum_return`` and ``max_drawdown`` (n_paths, assets) from
    ``summary.parquet`` and, with ``daily``, ``returns`` and ``sigma`` (n_paths, horizon, assets) from
    ``paths.parquet``; a ``ValueError`` naming the file when a cell is missing or stored twice."""
    import pyarrow.parquet as pq

    from simulator.jobs.verify import _asset_codes

    a = len(assets)
    out: dict[str, np.ndarray] = {}
    t = pq.read_table(directory / "summary.parquet", columns=["path", "asset", cols["cum_log_return"],
                                                               cols["max_drawdown"]])
    p = t.column("path").to_numpy().astype(np.int64)
    codes = _asset_codes(t, tuple(assets), "summary.parquet")
    flat = p * a + codes
    if (t.num_rows != n_paths * a or p.min(initial=0) < 0 or p.max(initial=0) >= n_paths
            or np.bincount(flat, minlength=n_paths * a).max(initial=1) != 1):
        raise ValueError("summary.parquet: not every path and asset is stored exactly once")
    for col, key in ((cols["cum_log_return"], "cum_return"), (cols["max_drawdown"], "max_drawdown")):
        arr = np.empty(n_paths * a)
        arr[flat] = t.column(col).to_numpy()
        out[key] = arr.reshape(n_paths, a)
    if daily:
        t = pq.read_table(directory / "paths.parquet", columns=["path", "day", "asset", cols["log_return"],
                                                                 cols["sigma"]])
        p = t.column("path").to_numpy().astype(np.int64)
        day = t.column("day").to_numpy().astype(np.int64)
        codes = _asset_codes(t, tuple(assets), "paths.parquet")
        flat = (p * horizon + (day - 1)) * a + codes
        if (t.num_rows != n_paths * horizon * a or p.min(initial=0) < 0 or p.max(initial=0) >= n_paths
                or day.min(initial=1) < 1 or day.max(initial=1) > horizon
                or np.bincount(flat, minlength=n_paths * horizon * a).max(initial=1) != 1):
            raise ValueError("paths.parquet: not every path, day and asset is stored exactly once")
        for col, key in ((cols["log_return"], "returns"), (cols["sigma"], "sigma")):
            arr = np.empty(n_paths * horizon * a)
            arr[flat] = t.column(col).to_numpy()
            out[key] = arr.reshape(n_paths, horizon, a)
    return out


def book_for_run(directory: Path, manifest: Mapping, stored_risk: Any, notes: list[str]):
    """The instrument book a run revalued: ``book.json`` stored with the run, or (runs written before the book
    was stored) the book file its ``risk.json`` names, read again (its content was not recorded); None for a
    linear portfolio. :class:`UserInputError` when a book run's book cannot be found."""
    from scenarios.book import Book, load_book
    from simulator.jobs.verify import RunDiffers
    from simulator.results import book_sha256
    from simulator.safeio import read_input_text

    outputs = manifest.get("outputs") or {}
    if "book.json" in outputs or (directory / "book.json").is_file():
        recorded = manifest.get("book_sha256")
        try:
            data = json.loads(read_input_text(directory / "book.json", "book.json"))
        except (OSError, ValueError) as exc:  # missing, not a regular file, too large, not JSON
            raise RunDiffers(f"book.json: not readable JSON ({_short(str(exc), 120)}); the run's book cannot be "
                             "rebuilt") from None
        if not recorded:
            raise RunDiffers("book.json: stored, but manifest.json records no book_sha256 for it (the manifest or the "
                             "book was edited after the run)")
        sha = book_sha256(data) if isinstance(data, Mapping) else "(not a JSON object)"
        if sha != recorded:
            raise RunDiffers(f"book.json: the book's sha256 {sha[:16]}... differs from the recorded book_sha256 "
                             f"{str(recorded)[:16]}... (the book was edited after the run)")
        try:
            return Book.model_validate(data)
        except (ValueError, TypeError) as exc:  # the recorded book, written by a version whose books this one cannot read
            raise UserInputError(f"{directory / 'book.json'}: not a book this version reads "
                                 f"({_short(str(exc), 160)})") from None
    section = stored_risk.get("book") if isinstance(stored_risk, Mapping) else None
    portfolio = stored_risk.get("portfolio") if isinstance(stored_risk, Mapping) else None
    source = None
    if isinstance(section, Mapping) and isinstance(section.get("source"), str):
        source = section["source"]
    elif isinstance(portfolio, Mapping) and isinstance(portfolio.get("book"), str):
        source = portfolio["book"]
    if source is None:
        return None
    for cand in (Path(source), directory / source):
        if cand.is_file():
            notes.append(f"the book is not stored with this run (written before book.json): re-read from {cand}, "
                         "whose content the run did not record")
            return load_book(cand)
    raise UserInputError(f"{directory}: a book run whose book is neither stored (book.json) nor readable at "
                         f"{_short(source)}; its figures cannot be re-derived")


def _scenario_result(sc, model, sim, roles, book, replay_data):
    """The :class:`~simulator.runner.SimulatedScenario` :func:`simulator.jobs.scenario.run_scenario` builds for
    this scenario, model, book and simulation."""
    from scenarios.loader import scenario_sha256
    from simulator.jobs.scenario import _asset_liquidity_horizons
    from simulator.roles import resolve_assets
    from simulator.runner import SimulatedScenario
    from simulator.targets import evaluate_targets, history_checks

    positions = horizons = None
    mapping = resolve_assets(sc, model, roles=roles)
    if book is not None:
        from simulator.book_risk import validate_book

        validate_book(book, model)
    elif sc.portfolio is not None:
        positions = np.zeros(model.n_assets)
        for name, amount in sc.portfolio.positions.items():
            positions[mapping[name]] += amount
        if sc.portfolio.liquidity_horizons:
            horizons = _asset_liquidity_horizons(sc.portfolio.liquidity_horizons, mapping, model)
    return SimulatedScenario(
        name=sc.name, description=sc.description, simulation=sim, positions=positions,
        currency=book.currency if book is not None else (sc.portfolio.currency if sc.portfolio else "USD"),
        liquidity_horizons=horizons, var_levels=tuple(sc.outputs.var_levels),
        risk_horizons=tuple(sc.outputs.horizons), scenario_sha256=scenario_sha256(sc),
        scenario_source=str(sc.path) if sc.path else sc.name, shocks=[s.model_dump(mode="json") for s in sc.shocks],
        targets=evaluate_targets(sc.targets, sim, mapping) + history_checks(sc, model, sim, replay_data),
        book=book)


def derive_scenario_run(directory: Path, manifest: Mapping, model, sc, sim, *, roles, book, replay_data,
                        baseline=None, source: str = "") -> DerivedRun:
    """Every figure of a scenario run's directory from its simulation ``sim`` (recomputed, or read from the
    verified per-path files), as :func:`simulator.results.write_results` computes them.

    ``baseline`` is the :class:`~simulator.results.StoredScenario` of the baseline the run was compared with
    (re-derived when it was verified in the same pass), or None."""
    from simulator.results import RESULTS_FORMAT, StoredScenario, _book_reduction
    from simulator.scenario_risk import compare_to_baseline, reduce_run, risk_document

    result = _scenario_result(sc, model, sim, roles, book, replay_data)
    keep = "paths" if sim.returns is not None else "summary"
    extended = manifest.get("horizon_extended_from")
    extended = extended if isinstance(extended, int) and not isinstance(extended, bool) else None
    hr = manifest.get("reporting_horizon_days")
    if not isinstance(hr, int) or isinstance(hr, bool):
        hr = extended or sim.horizon
    if keep != "paths":
        hr = sim.horizon
    horizons = [int(h) for h in (manifest.get("pnl_horizons") or [])]
    if not horizons:
        from simulator.scenario_risk import pnl_horizons

        horizons = pnl_horizons(result.risk_horizons, sim.horizon, extra=[hr])
    red = (reduce_run(sim, result.positions, horizons, report_horizon=hr) if book is None
           else _book_reduction(sim, model, book, horizons, hr))
    start_state = str(manifest.get("start_state") or "as-of")
    risk = risk_document(result, model, red, ci=float(manifest.get("ci", 0.95)), keep=keep, report_horizon=hr,
                         model_source=manifest.get("model_source"), start_state=start_state,
                         horizon_extended_from=extended)
    if book is not None:
        from simulator.book_risk import book_document, curve_document

        es_level = risk["headline"]["es_level"]
        risk["book"] = book_document(book, model, sim.returns, red.asset_pnl or {}, horizon=hr, es_level=es_level)
        risk["portfolio"]["initial_value"] = risk["book"]["value_as_of"]
        curves = curve_document(model, sim.returns, hr)
        if curves:
            risk["curves"] = curves
    risk["format"] = RESULTS_FORMAT
    model_dict = _stored_json(directory / "model.json") or model.to_dict()
    scenario_dict = _stored_json(directory / "scenario.json") or sc.model_dump(mode="json")
    stored = StoredScenario(name=str(manifest.get("scenario") or directory.name), directory=directory,
                            manifest={"model_sha256": model.sha256()}, risk=risk, pnl=dict(red.pnl or {}),
                            fan=red.fan, model=model_dict, scenario=scenario_dict)
    if baseline is not None and baseline.name != stored.name:
        cmp = compare_to_baseline(stored, baseline)
        if cmp is not None:
            risk["stress_vs_baseline"] = cmp
    stored.manifest = dict(manifest)
    stored.risk = _json_normal(risk)
    return DerivedRun(risk=stored.risk, pnl=stored.pnl, fan=red.fan, stored=stored, source=source)


def _stored_json(path: Path) -> Any:
    from simulator.safeio import read_input_text

    try:
        data = json.loads(read_input_text(path, path.name))
    except (OSError, ValueError):  # missing, not a regular file, too large, not JSON (UserInputError included)
        return None
    return data if isinstance(data, dict) else None


def _legacy(manifest: Mapping, stored: Any) -> bool:
    from simulator.results import RESULTS_FORMAT

    fmt = manifest.get("format") or (stored.get("format") if isinstance(stored, Mapping) else None)
    return fmt != RESULTS_FORMAT


def check_scenario_outputs(directory: Path, manifest: Mapping, derived: DerivedRun, problems: list[str],
                           notes: list[str]) -> int:
    """Compare ``risk.json``, ``pnl.parquet`` and ``fan.parquet`` with their re-derivation; returns the number of
    values compared."""
    outputs = manifest.get("outputs") or {}
    n = 0
    t = Tally("risk.json")
    stored = _read_json(directory / "risk.json", t)
    if stored is not None:
        t.legacy = _legacy(manifest, stored)
        compare_documents(stored, derived.risk, t,
                          ignore=(lambda p: p == "format") if t.legacy else None)
    t.finish(problems, notes)
    n += t.compared
    n += _check_pnl(directory, outputs, derived, problems, notes)
    n += _check_fan(directory, derived, problems, notes)
    return n


def _check_pnl(directory: Path, outputs: Mapping, derived: DerivedRun, problems: list[str], notes: list[str]) -> int:
    import pyarrow.parquet as pq

    t = Tally("pnl.parquet")
    path = directory / "pnl.parquet"
    if not derived.pnl:
        if "pnl.parquet" in outputs or path.is_file():
            t.differ(": stored, but the run has no portfolio P&L to store")
        t.finish(problems, notes)
        return 0
    if not path.is_file():
        t.differ(": not a regular file (replaced after the run)" if path.exists()
                 else ": missing (the run's portfolio P&L)")
        t.finish(problems, notes)
        return 0
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:
        t.differ(f": not a readable Parquet file ({_short(str(exc), 120)})")
        t.finish(problems, notes)
        return 0
    if table.column_names != ["path", "horizon_days", "pnl"]:
        t.differ(f": columns {table.column_names}, expected ['path', 'horizon_days', 'pnl']")
        t.finish(problems, notes)
        return 0
    p = table.column("path").to_numpy().astype(np.int64)
    hz = table.column("horizon_days").to_numpy().astype(np.int64)
    values = table.column("pnl").to_numpy().astype(np.float64)
    stored_h = sorted(set(hz.tolist()))
    want = sorted(derived.pnl)
    if stored_h != want:
        t.differ(f": horizons {stored_h} stored, {want} re-derived")
    for h in want:
        if h not in stored_h:
            continue
        m = hz == h
        order = np.argsort(p[m], kind="stable")
        paths = p[m][order]
        fresh = derived.pnl[h]
        if paths.size != fresh.size or not np.array_equal(paths, np.arange(fresh.size)):
            t.differ(f" horizon_days={h}: {paths.size:,} rows, not paths 0..{fresh.size - 1} once each")
            continue
        compare_arrays(values[m][order], fresh, t, f"pnl at horizon_days={h}", lambda i: f"path {i}")
    t.finish(problems, notes)
    return t.compared


def _check_fan(directory: Path, derived: DerivedRun, problems: list[str], notes: list[str]) -> int:
    import pandas as pd
    import pyarrow.parquet as pq

    t = Tally("fan.parquet")
    path = directory / "fan.parquet"
    if path.exists() and not path.is_file():  # a FIFO would block the reader
        t.differ(": not a regular file (replaced after the run)")
        t.finish(problems, notes)
        return 0
    try:
        stored = pq.read_table(path).to_pandas()
    except FileNotFoundError:
        t.differ(": missing")
        t.finish(problems, notes)
        return 0
    except (OSError, ValueError) as exc:
        t.differ(f": not a readable Parquet file ({_short(str(exc), 120)})")
        t.finish(problems, notes)
        return 0
    fresh = derived.fan if derived.fan is not None else pd.DataFrame({"day": np.array([], dtype=np.int32)})
    if list(stored.columns) != list(fresh.columns):
        t.differ(f": columns {list(stored.columns)} stored, {list(fresh.columns)} re-derived")
    elif len(stored) != len(fresh):
        t.differ(f": {len(stored)} rows stored, {len(fresh)} re-derived")
    else:
        days = fresh["day"].to_numpy()
        if not np.array_equal(stored["day"].to_numpy(), days):
            t.differ(": the days differ")

        def on_day(i: int) -> str:
            return f"day {int(days[i])}"
        for col in fresh.columns:
            if col != "day":
                compare_arrays(stored[col].to_numpy(), fresh[col].to_numpy(), t, f"{col}", on_day)
    t.finish(problems, notes)
    return t.compared


# ---------------------------------------------------------------------------------------------
# stress-sim simulate --positions: tail.json
# ---------------------------------------------------------------------------------------------
def tail_settings(manifest: Mapping) -> tuple[dict[str, float], list[float], float]:
    """(positions by asset, levels, ci) that ``stress-sim simulate --positions`` recorded under ``portfolio``;
    ``ValueError`` naming the key when the record is malformed."""
    rec = manifest.get("portfolio")
    if not isinstance(rec, Mapping) or not isinstance(rec.get("positions"), Mapping):
        raise ValueError("manifest.json portfolio.positions: missing, so tail.json cannot be re-derived")
    try:
        positions = {str(k): float(v) for k, v in rec["positions"].items()}
        levels = [float(x) for x in rec.get("levels") or ()]
        ci = float(rec.get("ci", 0.95))
    except (TypeError, ValueError):
        raise ValueError(f"manifest.json portfolio: malformed ({_short(dict(rec), 120)})") from None
    if not levels:
        raise ValueError("manifest.json portfolio.levels: missing, so tail.json cannot be re-derived")
    return positions, levels, ci


def check_tail(path: Path, manifest: Mapping, fresh, problems: list[str], notes: list[str]) -> int:
    """Compare ``tail.json`` (``stress-sim simulate --positions``: exact portfolio VaR/ES) with ``fresh``, the
    :class:`simulator.tail.TailResult` re-derived from the run's paths."""
    t = Tally(path.name)
    doc = _read_json(path, t)
    if doc is not None:
        compare_documents(doc, _json_normal(fresh.to_dict()), t)
    t.finish(problems, notes)
    return t.compared


# ---------------------------------------------------------------------------------------------
# the report's tables (a demo folder)
# ---------------------------------------------------------------------------------------------
def _report_ignore(path: str) -> bool:
    """summary.json keys that are not figures: when and where it was written, and the run manifest's timings and
    file list (the demo rewrites its manifest after the report)."""
    return path in ("created_utc", "results_dir", "run.timings_s", "run.outputs", "run.created_utc")


def _paths_to_names(doc: Any) -> Any:
    """summary.json's per-scenario ``directory`` as the folder name (the folder may have moved since)."""
    if isinstance(doc, dict) and isinstance(doc.get("results"), dict):
        for v in doc["results"].values():
            if isinstance(v, dict) and isinstance(v.get("directory"), str):
                v["directory"] = Path(v["directory"]).name
    return doc


def check_report_tables(root: Path, manifest: Mapping, runs: Sequence[Any], problems: list[str],
                        notes: list[str], *, backtests: Mapping | None = None, reverse: Mapping | None = None) -> int:
    """Re-derive ``summary.json``, ``tables/*.csv`` and ``report.html`` of a folder (a demo's) from ``runs``, the
    re-derived scenario runs (:class:`~simulator.results.StoredScenario`), with :mod:`simulator.report.render`.

    ``backtests`` and ``reverse`` are ``backtest.json`` and ``reverse.json`` as re-derived by
    :func:`check_backtests` and :func:`check_reverse` (default: the stored files), so that an edited
    ``backtest.json`` is reported once, in that file, and not again in every table that shows it."""
    import pandas as pd

    from simulator.report.render import _check_backtests, load_inputs, report_table_bytes, summary_document
    from simulator.safeio import read_input_bytes

    outputs = manifest.get("outputs") or {}
    try:
        inputs = load_inputs(root, verify=False, results=list(runs))
        if backtests is not None:
            inputs.backtests = _check_backtests(backtests, root / "backtest.json")
            spec = backtests.get("model_backtest")
            inputs.backtest_model = dict(spec) if isinstance(spec, Mapping) else None
        if reverse is not None and isinstance(reverse.get("most_likely_breach"), Mapping):
            inputs.reverse = dict(reverse)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        problems.append(f"summary.json: the report's inputs cannot be read ({_short(str(exc), 160)})")
        return 0
    n = 0
    if "report.html" in outputs:
        n += check_report_html(root / "report.html", manifest, inputs, problems, notes)
    if "summary.json" in outputs:
        t = Tally("summary.json")
        stored = _read_json(root / "summary.json", t)
        if stored is not None:
            fresh = _paths_to_names(_json_normal(summary_document(inputs)))
            compare_documents(_paths_to_names(stored), fresh, t, ignore=_report_ignore)
        t.finish(problems, notes)
        n += t.compared
    tables = report_table_bytes(inputs)
    listed = {k for k in outputs if k.startswith("tables/") and k.endswith(".csv")}
    for name, data in tables.items():
        rel = f"tables/{name}.csv"
        if rel not in listed:
            continue
        t = Tally(rel)
        try:
            stored_df = pd.read_csv(io.BytesIO(read_input_bytes(root / rel, rel)), keep_default_na=True)
        except UserInputError as exc:  # not a regular file (a FIFO is never opened), or too large
            t.differ(f": {_file_error(exc, root / rel, rel)}")
            t.finish(problems, notes)
            continue
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            t.differ(f": not a readable CSV table ({_short(str(exc), 120)})")
            t.finish(problems, notes)
            continue
        except pd.errors.EmptyDataError:
            stored_df = pd.DataFrame()
        try:
            fresh_df = pd.read_csv(io.BytesIO(data), keep_default_na=True)
        except pd.errors.EmptyDataError:
            fresh_df = pd.DataFrame()
        _compare_frames(stored_df, fresh_df, t)
        t.finish(problems, notes)
        n += t.compared
    unknown = sorted(listed - {f"tables/{k}.csv" for k in tables})
    for rel in unknown:
        problems.append(f"{rel}: listed in manifest.json, but the report writes no such table")
    return n


#: Parts of report.html that are not figures: when, by which version and from which folder it was rendered, the
#: folder run's creation time and wall times (the demo rewrites its manifest after the report), and the folder
#: of each scenario (compared by name: the folder may have moved).
_HTML_VOLATILE = (
    (r'(<p>Generated )[^<]*( from <span class="mono">)[^<]*(</span>)', r"\1...\2...\3"),
    (r"(<tr><td>created</td><td>)[^<]*(</td></tr>)", r"\1...\2"),
    (r'(<tr><td>wall time \(s\)</td><td class="mono">)[^<]*(</td></tr>)', r"\1...\2"),
)
_PNG = r"data:image/png;base64,[A-Za-z0-9+/=]*"


def _html_normal(html: str) -> str:
    import re

    for pattern, repl in _HTML_VOLATILE:
        html = re.sub(pattern, repl, html)
    return re.sub(r'(<tr><td>directory</td><td class="mono">)([^<]*)(</td></tr>)',
                  lambda m: m.group(1) + m.group(2).rstrip("/").rsplit("/", 1)[-1] + m.group(3), html)


def _html_section(html: str, at: int) -> str:
    """The heading of the report section that holds position ``at`` (its text, tags removed)."""
    import html as _html
    import re

    heads = list(re.finditer(r"<h([1-4])[^>]*>(.*?)</h\1>", html[:at], flags=re.S))
    if not heads:
        return "the page header"
    text = _html.unescape(re.sub(r"<[^>]+>", "", heads[-1].group(2)))
    return repr(" ".join(text.split())[:80])


def _html_text_near(html: str, at: int, width: int = 60) -> str:
    import html as _html
    import re

    start = html.rfind(">", 0, at) + 1
    end = html.find("<", at)
    piece = html[start:end if end >= 0 else len(html)]
    if not piece.strip():  # a difference in the markup: show the tag
        start, end = html.rfind("<", 0, at + 1), html.find(">", at)
        piece = html[max(start, 0):(end + 1 if end >= 0 else len(html))]
    else:
        piece = _html.unescape(re.sub(r"\s+", " ", piece))
    return _short(piece.strip(), width)


def check_report_html(path: Path, manifest: Mapping, inputs: Any, problems: list[str], notes: list[str]) -> int:
    """Render the report again from ``inputs`` (the re-derived runs, the verified backtests and reverse stress
    test) and compare it with the stored ``report.html``: its text (every figure, label and table) exactly,
    except the rendering time, version and folders (:data:`_HTML_VOLATILE`); its charts byte for byte when
    rendered by the same stress-sim and matplotlib versions (``report_versions`` in the manifest), else
    noted."""
    import html as _html
    import re

    from simulator.io import package_versions
    from simulator.report.render import render_html

    t = Tally(path.name)
    from simulator.safeio import read_input_text

    try:
        stored = read_input_text(path, "report.html")
    except UserInputError as exc:
        t.differ(f": {_short(str(exc), 160)}")
        t.finish(problems, notes)
        return 0
    m = re.search(r"<title>(.*?)</title>", stored[:4096], flags=re.S)
    title = _html.unescape(m.group(1)) if m else None
    try:
        fresh = render_html(inputs, title=title, charts=True)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        t.differ(f": cannot be rendered again from the verified figures ({_short(str(exc), 160)})")
        t.finish(problems, notes)
        return 0
    a, b = _html_normal(stored), _html_normal(fresh)
    charts_a, charts_b = re.findall(_PNG, a), re.findall(_PNG, b)
    text_a, text_b = re.sub(_PNG, "data:image/png;base64,...", a), re.sub(_PNG, "data:image/png;base64,...", b)
    t.compared += 1 + len(charts_b)
    if text_a != text_b:
        i = next((k for k, (x, y) in enumerate(zip(text_a, text_b)) if x != y), min(len(text_a), len(text_b)))
        t.differ(f" section {_html_section(text_b, i)}: stored {_html_text_near(text_a, i)}, re-rendered "
                 f"{_html_text_near(text_b, i)} (the report's text differs from the verified figures)")
    if charts_a != charts_b:
        bad = [k + 1 for k, (x, y) in enumerate(zip(charts_a, charts_b)) if x != y]
        what = (f"{len(charts_a)} charts stored, {len(charts_b)} re-rendered" if len(charts_a) != len(charts_b)
                else f"chart(s) {', '.join(map(str, bad[:8]))}{' ...' if len(bad) > 8 else ''} of {len(charts_b)} "
                     "differ from their re-rendering")
        recorded = manifest.get("report_versions")
        running = package_versions(["matplotlib"])
        same = (isinstance(recorded, Mapping) and recorded.get("matplotlib") == running.get("matplotlib")
                and (manifest.get("versions") or {}).get("stress-sim") == running.get("stress-sim"))
        if same or len(charts_a) != len(charts_b):
            t.differ(f": {what}")
        else:
            notes.append(f"report.html: {what}; charts are compared byte for byte only when rendered by the same "
                         "stress-sim and matplotlib versions, which the manifest does not record as these")
    t.finish(problems, notes)
    return t.compared


def _row_label(df, i: int) -> str:
    keys = [c for c in ("scenario", "backtest", "asset", "horizon_days", "level", "measure", "test", "parameter")
            if c in df.columns]
    parts = [f"{c}={df[c].iloc[i]}" for c in keys[:3]]
    return f"row {i + 1}" + (f" ({', '.join(parts)})" if parts else "")


def _compare_frames(stored, fresh, t: Tally) -> None:
    import pandas as pd

    if list(stored.columns) != list(fresh.columns):
        t.differ(f": columns {_short(list(stored.columns), 200)} stored, {_short(list(fresh.columns), 200)} re-derived")
        return
    if len(stored) != len(fresh):
        t.differ(f": {len(stored)} rows stored, {len(fresh)} re-derived")
        return
    def row(i: int) -> str:
        return _row_label(fresh, i)
    for col in fresh.columns:
        s, f = stored[col], fresh[col]
        if pd.api.types.is_numeric_dtype(s) and pd.api.types.is_numeric_dtype(f) \
                and not pd.api.types.is_bool_dtype(s) and not pd.api.types.is_bool_dtype(f):
            compare_arrays(s.to_numpy(dtype=np.float64), f.to_numpy(dtype=np.float64), t, f"column {col}", row)
            continue
        sv = s.astype(object).where(s.notna(), None).tolist()
        fv = f.astype(object).where(f.notna(), None).tolist()
        t.compared += len(fv)
        for i, (a, b) in enumerate(zip(sv, fv)):
            if (a is None) != (b is None) or (a is not None and str(a) != str(b)):
                t.differ(f" {_row_label(fresh, i)} column {col}: stored {_short(a)}, re-derived {_short(b)}")
                break


# ---------------------------------------------------------------------------------------------
# backtests (a demo folder's backtest.json)
# ---------------------------------------------------------------------------------------------
#: spec keys :func:`simulator.backtest.evaluate_forecasts` computes from the series
_DERIVED_SPEC = ("level", "es_level", "n_oos", "first_oos", "last_oos", "exceptions", "expected_exceptions",
                 "exceptions_es_level", "traffic_light_days", "n_sim")
#: columns of a backtest's daily series that are derived from the others
_SERIES_DERIVED = ("date", "return")


def _backtest_ignore(path: str) -> bool:
    """Fields of the Acerbi-Szekely tests that come from simulating the refitted laws (not re-derived)."""
    import re

    return bool(re.search(r"\.(tests|table)\[[^\]]*Acerbi-Szekely[^\]]*\]\.(p_value|critical_value|reject|result|details)$",
                          path))


def _realised(name: str, spec: Mapping, dates: Sequence[str], returns, weights: Mapping | None):
    """The realised series a backtest of ``name`` tested: an asset's daily log returns, or the constant-mix
    portfolio's, on the backtest's dates (None when the data do not hold it)."""
    import pandas as pd

    from calibration.backtest import portfolio_log_return

    idx = pd.to_datetime(pd.Index(list(dates)))
    if not idx.isin(returns.index).all():
        return None
    rows = returns.loc[idx]
    if name in returns.columns:
        return rows[name].to_numpy(dtype=float)
    w = spec.get("weights") or weights
    if not isinstance(w, Mapping) or not set(w) <= set(returns.columns):
        return None
    assets = [a for a in returns.columns if a in w]
    return portfolio_log_return(rows[assets].to_numpy(dtype=float), np.array([float(w[a]) for a in assets]))


def _nth(items: Sequence[Any], i: int) -> str:
    return str(items[i])


def _no_draws(n_days: int, rng: Any, m: int) -> np.ndarray:
    """A stand-in for the refitted laws' sampler: the Acerbi-Szekely statistics are re-derived, their simulated
    p-values are not."""
    return np.zeros((m, n_days))


def check_backtests(path: Path, manifest: Mapping, problems: list[str], notes: list[str],
                    verified: dict | None = None) -> int:
    """Re-derive every test of ``backtest.json`` from its stored daily forecasts with
    :func:`simulator.backtest.evaluate_forecasts`, on the realised series re-derived from the bundled data it
    names (the stored one when the data cannot be read).

    ``verified``, when given, receives ``backtest.json`` with every re-derived value in place of the stored one
    (what the report's tables are re-derived from)."""
    import pandas as pd

    from simulator.backtest import evaluate_forecasts

    t = Tally(path.name)
    doc = _read_json(path, t)
    if doc is None:
        t.finish(problems, notes)
        return 0
    entries = doc.get("backtests") if isinstance(doc, Mapping) else None
    if not isinstance(entries, list):
        t.differ(": no list 'backtests'")
        t.finish(problems, notes)
        return 0
    returns = None
    data = doc.get("data")
    if isinstance(data, str):
        try:
            from simulator.jobs.scenario import load_returns

            returns = load_returns(data)
        except (UserInputError, ValueError, OSError) as exc:
            notes.append(f"{path.name}: the realised returns are not re-derived: data {_short(data)} cannot be read "
                         f"({_short(str(exc), 120)})")
    weights = manifest.get("portfolio_weights")
    fixed: list[Any] = []
    for i, b in enumerate(entries):
        fixed.append(b)
        label = f"backtests[{b.get('name', i)}]" if isinstance(b, Mapping) else f"backtests[{i}]"
        if not isinstance(b, Mapping) or not isinstance(b.get("series"), Mapping) or not isinstance(b.get("spec"), Mapping):
            t.differ(f" {label}: no spec and daily series to re-derive its tests from")
            continue
        spec, series = b["spec"], b["series"]
        try:
            level, es_level = float(spec["level"]), float(spec["es_level"])
            lt, et = f"{100 * level:g}", f"{100 * es_level:g}"
            x = np.asarray(series["return"], dtype=float)
            var = np.asarray(series[f"var_{lt}"], dtype=float)
            var_es = np.asarray(series.get(f"var_{et}", series[f"var_{lt}"]), dtype=float)
            es = np.asarray(series[f"es_{et}"], dtype=float)
            dates = list(series["date"])
            tests = [tt for tt in b.get("tests", []) if isinstance(tt, Mapping)]
            test_level = float(tests[0]["test_level"]) if tests else 0.95
            n_sim = int(spec.get("n_sim", 1000))
        except (KeyError, TypeError, ValueError) as exc:
            t.differ(f" {label}: its daily series or spec is incomplete ({_short(str(exc), 80)})")
            continue
        if not (x.shape == var.shape == var_es.shape == es.shape == (len(dates),)) or x.size < 2:
            t.differ(f" {label}: its daily series have different lengths")
            continue
        real = None
        if returns is not None:
            real = _realised(str(b.get("name")), spec, dates, returns, weights)
            if real is None:
                notes.append(f"{path.name} {label}: the realised series is not re-derived (the data lack its dates "
                             "or weights)")
            else:
                compare_arrays(x, real, t, f"{label}.series.return", partial(_nth, dates))
                x = np.asarray(real, dtype=float)  # the tests are re-derived on what was realised
        extra = {k: np.asarray(v) for k, v in series.items()
                 if k not in _SERIES_DERIVED and not k.startswith(("var_", "es_", "exception_"))}
        refits = pd.DataFrame(b.get("refits") or [])
        try:
            res = evaluate_forecasts(pd.Series(x, index=pd.Index(dates)), var, var_es, es, level=level,
                                     es_level=es_level, sampler=partial(_no_draws, x.size),
                                     spec={k: v for k, v in spec.items() if k not in _DERIVED_SPEC}, refits=refits,
                                     extra=extra, traffic_light_days=int(spec.get("traffic_light_days", 250)),
                                     test_level=test_level, n_sim=n_sim, seed=0)
        except (ValueError, TypeError) as exc:
            t.differ(f" {label}: its tests cannot be re-derived ({_short(str(exc), 120)})")
            continue
        fresh = _json_normal(res.to_dict(include_series=True))
        stored_part = {k: b[k] for k in fresh if k in b}

        def skip(p: str, _label: str = label, _real: bool = real is not None) -> bool:
            return _backtest_ignore(p) or (_real and p == f"{_label}.series.return")  # compared above
        compare_documents(stored_part, fresh, t, label, ignore=skip)
        fixed[-1] = {**b, **_overlay(stored_part, fresh, label, _backtest_ignore)}
    mb = doc.get("model_backtest")
    port = next((b for b in entries if isinstance(b, Mapping) and b.get("kind") == "model"
                 and isinstance(b.get("spec"), Mapping) and b["spec"].get("weights")), None)
    if isinstance(mb, Mapping) and port is not None:
        for k in ("n_oos", "first_oos", "last_oos", "level", "es_level"):
            if k in mb and k in port["spec"] and mb[k] != port["spec"][k]:
                t.differ(f" model_backtest.{k}: stored {_short(mb[k])}, its portfolio backtest has {_short(port['spec'][k])}")
    t.finish(problems, notes)
    notes.append(f"{path.name}: tests re-derived from the stored daily forecasts; the forecasts themselves (rolling "
                 "refits) and the Acerbi-Szekely p-values (simulated from the refitted laws) are not")
    if verified is not None:
        verified.clear()
        verified.update({**doc, "backtests": fixed})
    return t.compared


def _overlay(stored: Any, fresh: Any, path: str, keep: Callable[[str], bool]) -> Any:
    """``fresh`` with the stored value wherever ``keep(path)`` (values that are not re-derived)."""
    if keep(path):
        return stored
    if isinstance(stored, Mapping) and isinstance(fresh, Mapping):
        return {k: _overlay(stored[k], v, _join(path, str(k)), keep) if k in stored else v for k, v in fresh.items()}
    if isinstance(stored, list) and isinstance(fresh, list) and len(stored) == len(fresh):
        return [_overlay(a, b, f"{path}{_label(b, i)}", keep) for i, (a, b) in enumerate(zip(stored, fresh))]
    return fresh


# ---------------------------------------------------------------------------------------------
# reverse stress tests
# ---------------------------------------------------------------------------------------------
def _reverse_inputs(doc: Mapping, manifest: Mapping, notes: list[str]):
    """(scenario, book, n_clusters, roles) of a reverse stress test: recorded in ``reverse.json``'s ``inputs``,
    or for files written before they were, the scenario named on the command line (else by name) and the book
    file named in ``portfolio``."""
    from scenarios.book import Book, load_book
    from scenarios.loader import load_scenario, record_sha256s, scenario_from_record

    rec = doc.get("inputs")
    if isinstance(rec, Mapping) and isinstance(rec.get("scenario"), Mapping):
        try:
            sc = scenario_from_record(dict(rec["scenario"]), source="reverse.json inputs.scenario")
        except (ValueError, TypeError) as exc:
            raise _Differs(f"reverse.json inputs.scenario: not a valid scenario ({_short(str(exc), 160)})") from None
        want = rec.get("scenario_sha256")
        if want and want not in record_sha256s(dict(rec["scenario"])):
            raise _Differs("reverse.json inputs.scenario: its hash differs from the recorded scenario_sha256 "
                           "(the scenario was edited)")
        book = None
        if isinstance(rec.get("book"), Mapping):
            try:
                book = Book.model_validate(dict(rec["book"]))
            except (ValueError, TypeError) as exc:
                raise _Differs(f"reverse.json inputs.book: not a valid book ({_short(str(exc), 160)})") from None
        n_clusters = rec.get("n_clusters", 3)
        roles = rec.get("roles") if isinstance(rec.get("roles"), Mapping) else None
        return sc, book, int(n_clusters) if isinstance(n_clusters, int) else 3, roles
    cmd = manifest.get("command")
    ref = doc.get("scenario")
    if isinstance(cmd, list) and len(cmd) > 2 and cmd[:2] == ["stress-sim", "reverse"] and not str(cmd[2]).startswith("-"):
        ref = cmd[2]
    sc = load_scenario(str(ref))
    notes.append(f"reverse.json records no inputs (written before 0.4): scenario {_short(str(ref))} read again")
    book = None
    portfolio = doc.get("portfolio")
    if isinstance(portfolio, Mapping) and isinstance(portfolio.get("book"), str):
        book = load_book(portfolio["book"])
    clusters = (doc.get("simulated_breaches") or {}).get("clusters") if isinstance(doc.get("simulated_breaches"),
                                                                                   Mapping) else None
    n_clusters = 3 if not isinstance(clusters, list) or len(clusters) < 3 else len(clusters)
    return sc, book, n_clusters, None


class _Differs(Exception):
    """An input recorded in a result file is not what produced it."""


def check_reverse(path: Path, manifest: Mapping, model, problems: list[str], notes: list[str],
                  verified: dict | None = None) -> int:
    """Re-run the reverse stress test ``reverse.json`` records (model, scenario, threshold, book, paths, seed,
    breach types) with :func:`simulator.jobs.reverse.reverse_stress_test` and compare every figure; ``verified``,
    when given, receives the re-run document."""
    from simulator.jobs.reverse import reverse_stress_test
    from simulator.seeding import seed_from_record

    t = Tally(path.name)
    doc = _read_json(path, t)
    if doc is None:
        t.finish(problems, notes)
        return 0
    if not isinstance(doc, Mapping) or doc.get("kind") != "reverse-stress-test":
        t.differ(": not a reverse stress test (kind 'reverse-stress-test')")
        t.finish(problems, notes)
        return 0
    if doc.get("model_sha256") != model.sha256():
        t.differ(f" model_sha256: stored {_short(doc.get('model_sha256'))}, the model's is {model.sha256()[:16]}...")
        t.finish(problems, notes)
        return t.compared
    try:
        sc, book, n_clusters, roles = _reverse_inputs(doc, manifest, notes)
    except _Differs as exc:
        problems.append(str(exc))
        return 0
    seed = doc.get("seed")
    n_paths = doc.get("n_paths")
    if not isinstance(seed, Mapping) or "entropy" not in seed or not isinstance(n_paths, int) or n_paths < 1:
        t.differ(": no seed record or path count to re-run it with")
        t.finish(problems, notes)
        return 0
    q = doc.get("loss_quantile")
    try:
        fresh = reverse_stress_test(model, scenario=sc, loss=None if q is not None else doc.get("loss_threshold"),
                                    loss_quantile=q, book=book, n_paths=n_paths,
                                    seed=seed_from_record(dict(seed)), roles=roles, n_clusters=n_clusters)
    except (UserInputError, ValueError, TypeError, KeyError) as exc:
        t.differ(f": cannot be re-run from what it records ({_short(str(exc), 160)})")
        t.finish(problems, notes)
        return 0
    fresh_doc = _json_normal(fresh)
    compare_documents(doc, fresh_doc, t, ignore=lambda p: p == "inputs" and "inputs" not in doc)
    t.finish(problems, notes)
    if verified is not None:
        verified.clear()
        verified.update(fresh_doc)
    return t.compared
