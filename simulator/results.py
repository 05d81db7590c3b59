"""Scenario run results on disk: one directory per scenario, self-describing and reloadable.

:func:`write_results` stores one :class:`~simulator.runner.SimulatedScenario` under
``RESULTS_DIR/<scenario-name>/``; :func:`load_results` reads it back and :func:`load_results_tree`
reads every scenario directory below a results folder (what ``stress-sim report`` consumes). The risk
figures themselves (P&L, VaR/ES, drawdowns, the baseline comparison) are computed by
:mod:`simulator.scenario_risk`; this module stores and reads them.

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
    (stress-sim <= 0.2.0) name the first column ``cum_return_pct``; :meth:`StoredScenario.summary`
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
``book.json``
    Only for a run on an instrument book (``stress-sim run --book``): the book revalued (every position),
    so ``stress-sim verify`` re-derives the book figures from the directory alone; its hash is the manifest's
    ``book_sha256`` (:func:`book_sha256`).
``paths.parquet``
    Only when the scenario asks ``outputs.keep = "paths"``: one row per (path, day, asset) with
    ``log_return_pct`` (daily percent log return) and ``sigma_pct`` (conditional volatility, percent per
    day); format ``stress-sim-results/1`` names the first ``return_pct``.

A directory is written completely in a staging folder of ``RESULTS_DIR`` and then swapped in by renames
(:mod:`simulator.outdir`), so a failed or killed run leaves an existing result untouched (and never a partial
one); it replaces only an earlier ``stress-sim run`` result of the scenario, never a folder of other files.
"""
from __future__ import annotations

import json
import math
import os
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
    sha256_bytes,
    sha256_file,
    write_manifest,
)
# the risk figures of a run (re-exported here: their home before 0.4)
from simulator.scenario_risk import (  # noqa: F401
    DISCRETE_OUTCOMES_MIN,
    FAN_QUANTILES,
    HEADLINE_ES_LEVEL,
    TRUNCATION_NOTE,
    NonFiniteResultError,
    compare_to_baseline,
    copula_correlation,
    headline_levels,
    model_parameters_sha256,
    pnl_horizons,
    reduce_run,
    replay_scaling_of,
    risk_document,
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
    "StoredScenario",
    "pnl_horizons",
    "keep_for_run",
    "write_results",
    "book_sha256",
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
#: Start states of a baseline: the model's ``start`` (the last calibration day) or its long-run state.
START_STATES = ("as-of", "long-run")
#: Largest number of simulated cells (paths x days x assets) a run keeps in memory to build fan charts
#: and horizon P&L; above it only per-path summaries are simulated. 25M cells hold 400 MB of float64
#: returns and volatilities.
PATH_CELL_LIMIT = 25_000_000


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


def long_run_model(model):
    """``model`` started from its long-run state: each asset's unconditional variance and a zero residual
    (the state a model without ``start`` begins in), written explicitly as the model's ``start`` so the run's
    ``model.json`` says what was simulated; parameters and provenance are kept."""
    sigma2 = [float(m.unconditional_variance) for m in model.marginals]
    return model.with_changes(start={"sigma2": sigma2, "resid": [0.0] * model.n_assets})


def keep_for_run(n_paths: int, horizon: int, n_assets: int, *, requested: str = "summary",
                 cell_limit: int = PATH_CELL_LIMIT) -> str:
    """What a run simulates: ``"paths"`` when the scenario asks for them or when the daily paths fit in
    ``cell_limit`` cells (so fan charts and horizon P&L exist), else ``"summary"``."""
    if requested == "paths":
        return "paths"
    return "paths" if n_paths * horizon * n_assets <= cell_limit else "summary"


# ---------------------------------------------------------------------------------------------
# the result object
# ---------------------------------------------------------------------------------------------
@dataclass
class StoredScenario:
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
        from simulator.results_schema import read_parquet_frame

        cols = result_columns(self.format)
        t = read_parquet_frame(self.directory / "summary.parquet")
        return t.rename(columns={cols["cum_log_return"]: _COLUMNS[RESULTS_FORMAT]["cum_log_return"]})

    def paths(self):
        """``paths.parquet`` as a DataFrame (path, day, asset, log_return_pct, sigma_pct), when the scenario kept
        its paths; results of format 1 have ``return_pct`` renamed to ``log_return_pct``."""
        p = self.directory / "paths.parquet"
        if not p.is_file():
            raise FileNotFoundError(f"{p}: the run did not keep its daily paths (outputs.keep = \"paths\" keeps them)")
        from simulator.results_schema import read_parquet_frame

        cols = result_columns(self.format)
        return read_parquet_frame(p).rename(columns={cols["log_return"]: _COLUMNS[RESULTS_FORMAT]["log_return"]})

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


def book_sha256(record: Mapping[str, Any]) -> str:
    """Hash of a book's JSON record (``book.json``; key order and layout do not count), for manifests."""
    return sha256_bytes(json.dumps(record, sort_keys=True, separators=(",", ":")).encode())


def _book_reduction(sim, model, book, horizons: list[int], report_horizon: int):
    """The run reduced for a book: per-position P&L by full revaluation at every horizon, the value fan on
    about 26 days, the pooled correlation of daily changes (no drawdowns: they need every day revalued);
    row by row (:mod:`simulator.chunked_risk`), the same bytes as a run reduced chunk by chunk where it ran."""
    from simulator.chunked_risk import ChunkedRisk, RiskSpec, rows_of_simulation

    if sim.returns is None:
        raise ValueError("a book is revalued from the daily paths: run it with keep='paths'")
    spec = RiskSpec(asset_names=tuple(sim.asset_names), horizon=int(sim.horizon), keep="paths",
                    horizons=tuple(int(h) for h in horizons), report_horizon=int(report_horizon), book=book,
                    model=model)
    red = ChunkedRisk(spec, rows_of_simulation(sim, spec)).reduction(model=model)
    red.asset_stats = None  # risk_document computes them at its own reporting horizon
    return red


def write_results(
    result,
    root: str | os.PathLike,
    *,
    model,
    baseline: StoredScenario | None = None,
    extra_horizons: Iterable[int] = (),
    keep_paths: bool | None = None,
    ci: float = 0.95,
    command: Sequence[str] | None = None,
    model_source: str | None = None,
    scenario: Any = None,
    notes: Mapping[str, Any] | None = None,
    reporting_horizon: int | None = None,
    start_state: str = "as-of",
) -> StoredScenario:
    """Write one scenario run to ``root/<scenario-name>/`` (atomically, as a whole directory).

    Parameters
    ----------
    result : simulator.runner.SimulatedScenario
        The run. With daily paths (``keep="paths"``) every P&L horizon of :func:`pnl_horizons`, the
        daily value fan and portfolio drawdowns are computed; with summaries only, the P&L at the whole
        horizon.
    root : path
        The results folder; the scenario's directory name is its (validated) name, joined with
        :func:`simulator.io.safe_join` so it cannot leave ``root``.
    model : MarketModel
        The model the run used (its copula for the correlation comparison, saved as ``model.json``).
    baseline : StoredScenario, optional
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
    scenario : scenarios.spec.Scenario, optional
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
    StoredScenario
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
    if final == root.resolve() or final.parent != root.resolve():
        raise ValueError(f"scenario name {result.name!r} does not name a directory below {str(root)!r}")
    if keep_paths is None:
        keep_paths = bool(scenario is not None and getattr(getattr(scenario, "outputs", None), "keep", None) == "paths")
    chunked = getattr(result, "chunked", None)  # reduced chunk by chunk where the paths ran (simulator.chunked_risk)
    keep = chunked.spec.keep if chunked is not None else "paths" if sim.returns is not None else "summary"
    if keep_paths and sim.returns is None:
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
    book = getattr(result, "book", None)
    try:
        if chunked is not None:
            chunked.check(horizons, hr)
            red = chunked.reduction(model=model)
        else:
            red = reduce_run(sim, positions, horizons, report_horizon=hr) if book is None else \
                _book_reduction(sim, model, book, horizons, hr)
    except NonFiniteResultError as exc:
        raise NonFiniteResultError(f"scenario {result.name!r}: {exc}") from None
    risk = risk_document(result, model, red, ci=ci, keep=keep, report_horizon=hr, model_source=model_source,
                         start_state=start_state,
                         horizon_extended_from=extended_from if isinstance(extended_from, int) else None)
    if book is not None:
        from simulator.book_risk import book_document, curve_document

        es_level = risk["headline"]["es_level"]
        risk["book"] = book_document(book, model, sim.returns, red.asset_pnl, horizon=hr, es_level=es_level,
                                     attribution=red.book_attribution)
        risk["portfolio"]["initial_value"] = risk["book"]["value_as_of"]
        curves = curve_document(model, sim.returns, hr, levels=red.curve_levels)
        if curves:
            risk["curves"] = curves
    risk["format"] = RESULTS_FORMAT
    model_dict = model.to_dict()
    scenario_dict = (scenario.model_dump(mode="json") if scenario is not None and hasattr(scenario, "model_dump")
                     else {"name": result.name, "description": result.description, "shocks": result.shocks,
                           "horizon_days": sim.horizon})

    from simulator.outdir import members_transaction

    # the scenario's folder may only replace an earlier stress-sim run of it (checked before anything is written)
    tx = members_transaction(root, [final.name], kinds=("scenario-run",))
    try:
        tmp = tx.path(final.name)
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
        book_fields: dict[str, Any] = {}
        if book is not None:
            book_dict = book.model_dump(mode="json")
            atomic_write_json(tmp / "book.json", book_dict)
            files.append("book.json")
            book_fields["book_sha256"] = book_sha256(book_dict)
        stored = StoredScenario(name=result.name, directory=final, manifest={}, risk=risk,
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
            engine=dict(sim.meta), **book_fields, **dict(notes or {}),
        )
        write_manifest(tmp, manifest, files=files)
        stored.manifest = json.loads((tmp / MANIFEST_NAME).read_text(encoding="utf-8"))
        tx.commit()
    except BaseException:
        tx.abort()
        raise
    return stored


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------
def _read_json(path: Path) -> dict:
    """A JSON object of a results folder (size and nesting limits; one line naming the file otherwise)."""
    from simulator.results_schema import read_json_object

    return read_json_object(path)


def load_results(directory: str | os.PathLike, *, verify: bool = True) -> StoredScenario:
    """Read one scenario's results directory written by :func:`write_results`.

    Parameters
    ----------
    directory : path
        ``RESULTS_DIR/<scenario-name>``.
    verify : bool, default True
        Check every file's sha256 against ``manifest.json`` (a modified or truncated file is an error).

    Returns
    -------
    StoredScenario

    Raises
    ------
    FileNotFoundError
        ``directory`` is not a folder.
    simulator.results_schema.ResultsSchemaError
        (a ``UserInputError``) A file missing, unreadable, of another kind or schema, or whose sha256 differs
        from the manifest's, naming the file and the key.
    """
    import pandas as pd

    d = Path(directory)
    if not d.is_dir():
        raise FileNotFoundError(f"{d}: results directory not found")
    from simulator.results_schema import (
        ResultsSchemaError,
        check_parquet,
        read_manifest,
        read_model_record,
        read_parquet_frame,
        read_risk,
        read_scenario_file,
    )

    manifest = read_manifest(d / MANIFEST_NAME)  # validated: names the file and key that is wrong
    outputs = manifest.get("outputs") or {}
    for name in _FILES_REQUIRED:
        if name not in outputs:
            raise ResultsSchemaError(f"{d / MANIFEST_NAME}: outputs lists no {name}; the directory is incomplete")
    if verify:
        for rel, digest in outputs.items():
            p = safe_join(d, rel)
            if not p.is_file():
                raise ResultsSchemaError(f"{p}: listed in the manifest but missing")
            if sha256_file(p) != digest:
                raise ResultsSchemaError(f"{p}: sha256 differs from manifest.json; the file was modified after the run")
    risk = read_risk(d / "risk.json")
    cols = result_columns(manifest.get("format"))
    check_parquet(d / "summary.parquet", {"path": "integer", "asset": "label", cols["cum_log_return"]: "float",
                                          cols["max_drawdown"]: "float"})
    check_parquet(d / "fan.parquet", {"day": "integer"})
    pnl: dict[int, np.ndarray] = {}
    if "pnl.parquet" in outputs:
        check_parquet(d / "pnl.parquet")
        t = read_parquet_frame(d / "pnl.parquet")
        for h, g in t.groupby("horizon_days", sort=True):
            pnl[int(h)] = g.sort_values("path")["pnl"].to_numpy(dtype=np.float64)
    if "paths.parquet" in outputs:
        check_parquet(d / "paths.parquet", {"path": "integer", "day": "integer", "asset": "label",
                                            cols["log_return"]: "float", cols["sigma"]: "float"})
    fan = read_parquet_frame(d / "fan.parquet")
    if fan.empty:
        fan = None
    elif not all(pd.api.types.is_numeric_dtype(fan[c]) for c in fan.columns):
        raise ResultsSchemaError(f"{d / 'fan.parquet'}: every column must hold numbers")
    name = str(manifest.get("scenario") or d.name)
    return StoredScenario(name=name, directory=d, manifest=manifest, risk=risk, pnl=pnl, fan=fan,
                           model=read_model_record(d / "model.json"), scenario=read_scenario_file(d / "scenario.json"))


def load_results_tree(root: str | os.PathLike, *, verify: bool = True) -> list[StoredScenario]:
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


def __getattr__(name: str):
    """Deprecated name: ``ScenarioResults`` is :class:`StoredScenario` (one scenario's stored results; the
    in-memory run is :class:`simulator.runner.SimulatedScenario`)."""
    if name == "ScenarioResults":
        import warnings

        warnings.warn("simulator.results.ScenarioResults is now StoredScenario", DeprecationWarning, stacklevel=2)
        return StoredScenario
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
