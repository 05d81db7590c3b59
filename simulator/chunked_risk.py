"""Scenario risk chunk by chunk: what a run's result files need from its paths, computed where each chunk ran.

A scenario run (``stress-sim run``, :func:`simulator.run_scenario`) stores per-path files (``summary.parquet``,
``pnl.parquet``) and figures over paths (VaR and ES, value-fan quantiles, drawdowns, Euler contributions, the
worst-window liquidity-adjusted ES, targets, book revaluation, curves). This module splits that work in two so
that the daily paths never have to be gathered in one place:

* :func:`reduce_chunk` runs where a chunk of paths was simulated (a local thread, a Dask worker, the host of a
  GPU). From the chunk's daily paths it computes each path's **row**: the few numbers of that path the figures
  need (table below), and drops the paths.
* :class:`ChunkedRisk` holds the rows of every chunk in path order, and :meth:`ChunkedRisk.reduction` reduces
  them over paths on the client with the same code an in-memory run uses (quantiles, means, ES, ...).

Every entry of a row is computed from its own path alone, by row-wise operations only (elementwise arithmetic,
cumulative sums along the days, sums over the path's own assets or positions; no BLAS, no reduction across
paths), so the rows of a chunk are, bit for bit, the rows of the same paths in any other chunking. With the
engine's per-path random streams this makes every result file independent of the backend, of ``chunk_paths``,
of the worker count and of which chunks came back from a checkpoint after a kill: local, Dask and a resumed run
write byte-identical files (the CUDA backend's paths differ from the CPU's within
:data:`simulator.backends.cuda.RTOL`, and so do its figures). An in-memory run (:func:`reduce_run` on kept
paths, ``write_results`` on a run that kept its paths) computes the same rows over blocks of paths, so it gives
the same bytes too.

A row (``a`` assets, ``h`` days, ``n_h`` P&L horizons, ``S = h - 9`` ten-day windows, ``c <= 5`` distinct
FRTB liquidity classes, ``P`` book positions), by what the run keeps:

==============================  ========================  ===================================================
key                             shape per path            used for
==============================  ========================  ===================================================
``cum_return``, ``max_drawdown`` ``(a,)``, ``(a,)``        summary.parquet, per-asset table, summary-mode P&L
``stressed_days``               ``()``                    regime share
``target_<i>``, ``history``     ``()`` / ``(day,)``,      the scenario's targets and history checks (median
                                ``(a,)``                  and its s.e. over paths; the peak-volatility target
                                                          needs the day's volatility of every path up to day)
*daily paths kept*:
``s1``, ``s2``                  ``(a,)``, ``(a, a)``      realised correlation (pooled moments of daily returns)
``asset_pnl``, ``pnl``          ``(n_h, a)``, ``(n_h,)``  pnl.parquet, VaR/ES, Euler contributions
``value``                       ``(h + 1,)``              fan.parquet: quantiles and mean of the value per day
``dd``, ``dd_rel``, ``dd_ok``   ``()``                    portfolio drawdowns (relative ones when positive)
``window``                      ``(c, S)``                worst 10-day window, its MAR33.4 cascade per class
``asset_cum_hr``, ``..._mdd_hr`` ``(a,)``                  per-asset table at a reporting horizon ``< h``
``book_pnl``, ``book_fan``,     ``(n_h, P)``, ``(~26,)``,  book: full revaluation at every horizon, value fan,
``book_attr``, ``curve``        ``(classes,)``, (days, r) attribution by factor class, curve quantiles
``returns``, ``sigma``          ``(h, a)``                paths.parquet, only when the scenario keeps its paths
==============================  ========================  ===================================================

Memory. A worker holds one chunk's daily paths (``chunk_paths x h x a`` returns and volatilities) and
temporaries of :data:`BLOCK_PATHS` paths at a time, whatever the number of paths. The client holds the rows:
``8 x (h + 1 + c S + n_h (a + 1) + a^2 + 4 a + 6)`` bytes a path with daily paths kept (for ``gfc-2008`` on
``builtin:us-markets``, 130 days, 3 assets, 2 classes: about 3.3 KB a path, against 6.2 KB of daily returns and
volatilities), ``8 x (2 a + 1)`` bytes a path with summaries only, plus what summary.parquet and pnl.parquet
store anyway. The daily value per path (``h + 1`` floats) is kept because the fan stores exact per-day quantiles
of the value; a run keeps daily paths only up to ``--max-path-cells`` cells (``paths x days x assets``), which
bounds it. Larger runs simulate summaries only (P&L at the whole horizon), as before.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Mapping, Sequence

import numpy as np

from simulator.exceptions import NonFiniteResultError

__all__ = ["RiskSpec", "ChunkedRisk", "reduce_chunk", "merge_rows", "rows_of_simulation", "simulate_chunked",
           "WindowRows", "window_rows", "default_chunk_paths", "BLOCK_PATHS", "ROWS_VERSION"]

#: Version of the rows' recipe (part of a checkpoint's identity: a checkpoint of other rows is not resumed).
ROWS_VERSION = 1
#: Paths per block inside a chunk (bounds the float64 temporaries to a few times ``BLOCK_PATHS x h x a``).
BLOCK_PATHS = 2048
#: The FRTB base horizon: the window length of the liquidity-adjusted ES.
WINDOW = 10


def default_chunk_paths(n_paths: int, horizon: int, n_assets: int, keep: str) -> int:
    """Paths per chunk of a scenario run when none is given: the engine's default, but at most 1/16 of the run
    (and at least 1,024 paths), so that a cluster has tasks to share and a killed run has chunks to resume.
    It depends only on the run's sizes, never on the backend, so a run killed on one backend resumes on any."""
    from simulator.engine import default_chunk_paths as engine_default

    return int(min(engine_default(n_paths, horizon, n_assets, keep), max(1024, -(-int(n_paths) // 16))))


# ---------------------------------------------------------------------------------------------
# what a run's rows hold
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RiskSpec:
    """What :func:`reduce_chunk` computes for each path of a scenario run.

    Built by :meth:`for_run` from the run's scenario, portfolio or book and output settings; its
    :meth:`describe` is part of the checkpoint identity (a checkpoint written for other settings is refused).
    """

    asset_names: tuple[str, ...]
    horizon: int
    keep: str                                      # "paths" (daily paths simulated) or "summary"
    horizons: tuple[int, ...]                      # P&L horizons (simulator.scenario_risk.pnl_horizons)
    report_horizon: int
    positions: tuple[float, ...] | None = None
    liquidity_horizons: tuple[int, ...] | None = None
    targets: tuple[tuple[str, int, int], ...] = ()  # (measure, model column, day)
    history_days: tuple[int, ...] | None = None     # 0-based days the replays cover (None: no replay)
    paths_file: bool = False
    book: Any = field(default=None, compare=False)
    model: Any = field(default=None, compare=False)  # the model (a book is revalued from its factor levels)

    @property
    def n_assets(self) -> int:
        return len(self.asset_names)

    @property
    def has_portfolio(self) -> bool:
        return self.positions is not None and self.keep == "paths"

    @property
    def window_classes(self) -> tuple[int, ...]:
        """The FRTB liquidity horizons whose class of assets (those with a horizon >= it) is not empty."""
        if self.liquidity_horizons is None or self.positions is None or self.keep != "paths" or \
                self.horizon < WINDOW:
            return ()
        from simulator.risk import FRTB_LIQUIDITY_HORIZONS

        lh = np.asarray(self.liquidity_horizons)
        return tuple(int(x) for x in FRTB_LIQUIDITY_HORIZONS if (lh >= x).any())

    @property
    def book_days(self) -> tuple[int, ...]:
        """Days (> 0) of a book's value fan."""
        from simulator.book_risk import _fan_days

        return tuple(d for d in _fan_days(self.horizon, self.horizons) if d > 0)

    def describe(self) -> dict[str, Any]:
        """JSON description of what the rows hold (a checkpoint's identity)."""
        book = None
        if self.book is not None:
            dump = self.book.model_dump(mode="json") if hasattr(self.book, "model_dump") else repr(self.book)
            book = hashlib.sha256(json.dumps(dump, sort_keys=True, default=str).encode()).hexdigest()
        return {
            "rows_version": ROWS_VERSION, "assets": list(self.asset_names), "horizon": self.horizon,
            "keep": self.keep, "horizons": list(self.horizons), "report_horizon": self.report_horizon,
            "positions": None if self.positions is None else [float(x) for x in self.positions],
            "liquidity_horizons": None if self.liquidity_horizons is None else list(self.liquidity_horizons),
            "targets": [list(t) for t in self.targets],
            "history_days": None if self.history_days is None else list(self.history_days),
            "paths_file": self.paths_file, "book_sha256": book,
        }

    @classmethod
    def for_run(cls, *, model, horizon: int, keep: str, risk_horizons: Sequence[int],
                extra_horizons: Sequence[int] = (), reporting_horizon: int | None = None,
                positions: np.ndarray | None = None, liquidity_horizons: np.ndarray | None = None,
                targets: Sequence[tuple[str, int, int]] = (), history_days: np.ndarray | None = None,
                paths_file: bool = False, book=None) -> "RiskSpec":
        """The spec of a run, with the horizons :func:`simulator.results.write_results` stores: the reporting
        horizon (default the simulated one; the whole horizon when only summaries are simulated) and the P&L
        horizons of :func:`simulator.scenario_risk.pnl_horizons` with ``extra_horizons``."""
        from simulator.scenario_risk import pnl_horizons

        h = int(horizon)
        hr = int(reporting_horizon) if reporting_horizon is not None else h
        if not 1 <= hr <= h:
            raise ValueError(f"reporting_horizon {hr} must lie in 1..{h} (the simulated days)")
        if keep != "paths":
            hr = h
        if book is not None and keep != "paths":
            raise ValueError("a book is revalued from the daily paths: run it with keep='paths'")
        hs = pnl_horizons(risk_horizons, h, extra=[*extra_horizons, hr])
        hist = None
        if history_days is not None:
            hist = tuple(int(d) for d in np.flatnonzero(np.asarray(history_days, dtype=bool)))
        return cls(asset_names=tuple(model.assets), horizon=h, keep=keep, horizons=tuple(hs), report_horizon=hr,
                   positions=None if positions is None else tuple(float(x) for x in positions),
                   liquidity_horizons=None if liquidity_horizons is None else tuple(int(x) for x in liquidity_horizons),
                   targets=tuple((str(m), int(c), int(d)) for m, c, d in targets), history_days=hist,
                   paths_file=bool(paths_file), book=book, model=model if book is not None else None)


class _ChunkView:
    """The attributes :func:`simulator.targets.target_sample` and friends read, for one chunk."""

    def __init__(self, horizon: int, out: Mapping[str, np.ndarray], keep_paths: bool) -> None:
        self.horizon = horizon
        self.returns = out.get("returns") if keep_paths else None
        self.sigma = out.get("sigma") if keep_paths else None
        self.cum_return = out["cum_return"]
        self.max_drawdown = out["max_drawdown"]


# ---------------------------------------------------------------------------------------------
# where a chunk ran
# ---------------------------------------------------------------------------------------------
def reduce_chunk(spec: RiskSpec, out: Mapping[str, np.ndarray], start: int, stop: int) -> dict[str, np.ndarray]:
    """The rows of paths ``start..stop-1`` from their simulated outputs ``out`` (see the module docstring).

    Runs where the chunk was simulated; the daily paths are dropped unless the scenario keeps them.

    Raises
    ------
    NonFiniteResultError
        A path's portfolio value overflows float64 (names the path).
    """
    from simulator.targets import history_sample, target_sample

    paths = spec.keep == "paths"
    if paths and (out.get("returns") is None or out["returns"].shape[0] != stop - start):
        raise ValueError("reduce_chunk needs the chunk's daily paths (keep='paths')")
    rows: dict[str, np.ndarray] = {
        "cum_return": np.asarray(out["cum_return"], dtype=np.float64),
        "max_drawdown": np.asarray(out["max_drawdown"], dtype=np.float64),
        "stressed_days": np.asarray(out["stressed_days"], dtype=np.int64),
    }
    view = _ChunkView(spec.horizon, out, paths)
    for i, (measure, col, day) in enumerate(spec.targets):
        sample, _ = target_sample(measure, view, col, day)
        if sample is not None:
            rows[f"target_{i}"] = np.asarray(sample, dtype=np.float64)
    if spec.history_days is not None:
        mask = np.zeros(spec.horizon, dtype=bool)
        mask[list(spec.history_days)] = True
        hs = history_sample(view, mask)
        if hs is not None:
            rows["history"] = np.asarray(hs, dtype=np.float64)
    if not paths:
        return rows
    r = out["returns"]
    if spec.paths_file:
        rows["returns"] = np.asarray(r)
        rows["sigma"] = np.asarray(out["sigma"])
    parts = [_path_rows(spec, r[lo:min(r.shape[0], lo + BLOCK_PATHS)], out, start + lo, lo)
             for lo in range(0, r.shape[0], BLOCK_PATHS)]
    for key in parts[0] if parts else ():
        rows[key] = np.concatenate([p[key] for p in parts])
    if spec.book is not None:
        rows.update(_book_rows(spec, np.asarray(r, dtype=np.float64)))
    return rows


def _path_rows(spec: RiskSpec, r: np.ndarray, out: Mapping[str, np.ndarray], first_path: int,
               offset: int) -> dict[str, np.ndarray]:
    """The daily-path entries of the rows of one block of paths (returns ``r`` of shape (n, h, a))."""
    from simulator.risk import value_drawdown

    r = np.asarray(r, dtype=np.float64)
    n, h, a = r.shape
    cum = np.cumsum(r, axis=1)                       # sequential along the days, per path and asset
    s2 = np.zeros((n, a, a))
    for d in range(h):                               # pooled second moments, day after day
        x = r[:, d, :]
        s2 += x[:, :, None] * x[:, None, :]
    rows: dict[str, np.ndarray] = {"s1": cum[:, -1, :].copy(), "s2": s2}
    hr = spec.report_horizon
    if hr != h:                                      # per-asset table at the reporting horizon
        c = cum[:, :hr, :]
        peak = np.maximum(np.maximum.accumulate(c, axis=1), 0.0)
        rows["asset_cum_hr"] = c[:, -1, :].copy()
        rows["asset_mdd_hr"] = -np.expm1(-np.max(peak - c, axis=1) / 100.0)
    if not spec.has_portfolio:
        return rows
    pos = np.asarray(spec.positions, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        growth = np.expm1(cum / 100.0)               # simple growth of each asset since day 0
        gains = growth * pos                         # per-asset P&L after each day
        path_pnl = gains.sum(axis=-1)                # (n, h)
    bad = ~np.isfinite(path_pnl).all(axis=1)
    if bad.any():
        row = int(np.argmax(bad))
        raise NonFiniteResultError(_explosion_message(spec, out, offset + row, first_path + row), first_path + row)
    idx = np.asarray(spec.horizons, dtype=np.int64) - 1
    v0 = float(pos.sum())
    value = np.empty((n, h + 1))
    value[:, 0] = v0
    value[:, 1:] = v0 + path_pnl
    vals = value[:, :hr + 1]
    ok = (vals > 0.0).all(axis=1) if v0 > 0.0 else np.zeros(n, dtype=bool)
    dd_rel = np.full(n, np.nan)
    if ok.any():
        dd_rel[ok] = value_drawdown(vals[ok], relative=True)
    rows.update({"asset_pnl": gains[:, idx, :], "pnl": path_pnl[:, idx], "value": value,
                 "dd": value_drawdown(vals), "dd_rel": dd_rel, "dd_ok": ok})
    classes = spec.window_classes
    if classes:
        rows["window"] = window_rows(r, pos, np.asarray(spec.liquidity_horizons), classes, cum=cum).pnl
    return rows


def _explosion_message(spec: RiskSpec, out: Mapping[str, np.ndarray], row: int, path: int) -> str:
    cum = np.asarray(out["cum_return"][row])
    a = int(np.argmax(np.abs(cum))) if np.all(np.isfinite(cum)) else 0
    msg = (f"path {path}: the portfolio value overflows float64 (exp of a cumulative log return beyond about "
           f"70,000 %); asset {spec.asset_names[a]!r} ends with a cumulative log return of {cum[a]:,.0f} %")
    sigma = out.get("sigma")
    if sigma is not None and np.size(sigma):
        day = int(np.argmax(sigma[row, :, a]))
        msg += f" and reaches a daily volatility of {sigma[row, day, a]:,.0f} % on day {day + 1}"
    return msg + ("; the simulated dynamics exploded (look at the scenario's shocks: heavy-tailed jumps feeding "
                  "the volatility recursion, volatility multipliers with feedback)")


def _book_rows(spec: RiskSpec, r: np.ndarray) -> dict[str, np.ndarray]:
    """A book's rows: per-position P&L at every horizon, the book's P&L on the fan's days, its attribution by
    factor class at the reporting horizon and the curves' par yields (full revaluation, path by path)."""
    from simulator.book_risk import book_attribution, book_pnl_by_horizon, curve_level_rows

    book, model = spec.book, spec.model
    days = spec.book_days
    per = book_pnl_by_horizon(book, model, r, sorted(set(spec.horizons) | set(days)))
    attr = book_attribution(book, model, r, spec.report_horizon)
    rows = {"book_pnl": np.stack([per[h] for h in spec.horizons], axis=1),
            "book_fan": np.stack([per[d].sum(axis=1) for d in days], axis=1),
            "book_attr": np.stack(list(attr.values()), axis=1)}
    levels = curve_level_rows(model, r, spec.report_horizon)
    if levels is not None:
        rows["curve"] = levels
    return rows


def _same_rows(spec: RiskSpec, stored: Mapping[str, np.ndarray], raw: Mapping[str, np.ndarray]) -> bool:
    """Whether a resumed chunk's rows are, bit for bit, the rows of its recomputed outputs ``raw`` (the check
    :func:`simulator.engine.execute_plan` makes on a sample of the chunks a checkpoint holds)."""
    n = int(np.asarray(raw["cum_return"]).shape[0])
    want = reduce_chunk(spec, raw, 0, n)
    if set(stored) != set(want):
        return False
    for key, arr in want.items():
        got = np.asarray(stored[key])
        arr = np.asarray(arr)
        if got.dtype != arr.dtype or got.shape != arr.shape or got.tobytes() != arr.tobytes():
            return False
    return True


def merge_rows(parts: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The rows of every chunk, in chunk (path) order, as one array per key."""
    if not parts:
        raise ValueError("no chunks to merge")
    keys = sorted(parts[0])
    for p in parts[1:]:
        if sorted(p) != keys:
            raise ValueError("the chunks' rows hold different entries (a checkpoint of another run?)")
    return {k: np.concatenate([np.asarray(p[k]) for p in parts]) if len(parts) > 1 else np.asarray(parts[0][k])
            for k in keys}


def rows_of_simulation(sim, spec: RiskSpec, *, block_paths: int = BLOCK_PATHS) -> dict[str, np.ndarray]:
    """The rows of an in-memory run (a :class:`~simulator.engine.SimulationResult`), block by block: the same
    bytes as the chunks of any run of the same paths."""
    if spec.keep == "paths" and sim.returns is None:
        raise ValueError("the run kept no daily paths; its rows need them (keep='paths')")
    parts = []
    for lo in range(0, sim.n_paths, block_paths):
        hi = min(sim.n_paths, lo + block_paths)
        out = {"cum_return": sim.cum_return[lo:hi], "max_drawdown": sim.max_drawdown[lo:hi],
               "stressed_days": sim.stressed_days[lo:hi]}
        if sim.returns is not None:
            out["returns"], out["sigma"] = sim.returns[lo:hi], sim.sigma[lo:hi]
        parts.append(reduce_chunk(spec, out, lo, hi))
    return merge_rows(parts)


# ---------------------------------------------------------------------------------------------
# the worst ten-day window from rows
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WindowRows:
    """Ten-day P&L of each FRTB liquidity class for every window start: ``pnl[i, j, s]`` is path ``i``'s P&L
    over days ``s + 1 .. s + 10`` with only the positions of liquidity horizon ``>= classes[j]`` (the first
    class, 10 days, holds every position: the portfolio)."""

    classes: tuple[int, ...]
    pnl: np.ndarray = field(repr=False)

    def cascade(self, start: int, level: float) -> dict[int, float]:
        """``{LH_j: ES_T(P, j)}`` on the window starting after day ``start`` (as
        :func:`simulator.risk.frtb_es_cascade`: 0 for a class without positions, ES floored at 0)."""
        from simulator.risk import FRTB_LIQUIDITY_HORIZONS, var_es

        out: dict[int, float] = {}
        for lh in FRTB_LIQUIDITY_HORIZONS:
            if lh not in self.classes:
                out[lh] = 0.0
                continue
            x = self.pnl[:, self.classes.index(lh), start]
            out[lh] = max(var_es(x, level)[level].es, 0.0)
        return out

    def worst(self, level: float, horizon: int | None = None):
        """The :class:`simulator.risk.WorstWindow` (largest 10-day ES of the portfolio, earliest on ties) among the
        windows ending by day ``horizon`` (default every window), with its cascade."""
        from simulator.risk import WorstWindow, _check_enough, _es_columns, check_level, frtb_es

        level = check_level(level)
        total = self.pnl[:, 0, :]
        n = total.shape[0]
        if n < 2:
            raise ValueError(f"returns needs at least 2 paths, got {n}")
        _check_enough(n, level)
        es_by = _es_columns(total, level)
        k = es_by.size if horizon is None else int(horizon) - WINDOW + 1
        if k < 1:
            raise ValueError(f"horizon {horizon} is shorter than the {WINDOW}-day window")
        s = int(np.argmax(es_by[:k]))
        cascade = self.cascade(s, level)
        return WorstWindow(WINDOW, level, s + 1, s + WINDOW, float(es_by[s]), es_by, cascade, frtb_es(cascade))


def window_rows(returns: np.ndarray, positions: np.ndarray, liquidity_horizons: np.ndarray,
                classes: Sequence[int] | None = None, *, cum: np.ndarray | None = None) -> WindowRows:
    """:class:`WindowRows` of paths ``returns`` (n_paths, horizon, n_assets), row by row (exact revaluation:
    ``pos_a (exp(sum of the window's log returns / 100) - 1)``, summed over the class's assets)."""
    from simulator.risk import FRTB_LIQUIDITY_HORIZONS

    r = np.asarray(returns, dtype=np.float64)
    n, h, a = r.shape
    lh = np.asarray(liquidity_horizons)
    pos = np.asarray(positions, dtype=np.float64)
    if classes is None:
        classes = tuple(int(x) for x in FRTB_LIQUIDITY_HORIZONS if (lh >= x).any())
    out = np.empty((n, len(classes), h - WINDOW + 1))
    for lo in range(0, n, BLOCK_PATHS):
        hi = min(n, lo + BLOCK_PATHS)
        c0 = np.zeros((hi - lo, h + 1, a))
        if cum is None:
            np.cumsum(r[lo:hi], axis=1, out=c0[:, 1:, :])
        else:
            c0[:, 1:, :] = cum[lo:hi]
        with np.errstate(over="ignore", invalid="ignore"):
            growth = np.expm1((c0[:, WINDOW:, :] - c0[:, :-WINDOW, :]) / 100.0)   # (n, S, a)
            for j, c in enumerate(classes):
                m = lh >= c
                out[lo:hi, j, :] = (growth[:, :, m] * pos[m]).sum(axis=-1)
    return WindowRows(tuple(int(c) for c in classes), out)


# ---------------------------------------------------------------------------------------------
# on the client
# ---------------------------------------------------------------------------------------------
@dataclass
class ChunkedRisk:
    """The rows of a scenario run (:func:`reduce_chunk` on every chunk, in path order) and what reduces them.

    Attributes
    ----------
    spec : RiskSpec
    rows : dict of str to ndarray
        One array per entry, first axis the path.
    """

    spec: RiskSpec
    rows: dict[str, np.ndarray] = field(repr=False)

    @property
    def n_paths(self) -> int:
        return int(self.rows["cum_return"].shape[0])

    def target_samples(self) -> list[np.ndarray | None]:
        """Each target's per-path sample (None where the run cannot compute it)."""
        return [self.rows.get(f"target_{i}") for i in range(len(self.spec.targets))]

    @property
    def history(self) -> np.ndarray | None:
        return self.rows.get("history")

    @property
    def nbytes(self) -> int:
        return int(sum(v.nbytes for v in self.rows.values()))

    def check(self, horizons: Sequence[int], report_horizon: int) -> None:
        """Refuse to report horizons the rows were not computed for."""
        if tuple(int(h) for h in horizons) != self.spec.horizons or int(report_horizon) != self.spec.report_horizon:
            raise ValueError(
                f"the run was reduced chunk by chunk for P&L horizons {list(self.spec.horizons)} and reporting "
                f"horizon {self.spec.report_horizon}; writing it asks for {list(horizons)} and {report_horizon}: pass "
                "the same extra_horizons and reporting_horizon to run_scenario as to write_results")

    def reduction(self, *, model=None):
        """The :class:`simulator.scenario_risk.Reduction` of the run, reduced over paths from the rows."""
        from simulator.scenario_risk import FAN_QUANTILES, Reduction, _corr_from_moments, _qkey, _reduce_summary

        spec, rows = self.spec, self.rows
        if spec.keep != "paths":
            summary = _Summary(spec.horizon, rows["cum_return"], spec.asset_names)
            pos = None if spec.positions is None else np.asarray(spec.positions, dtype=np.float64)
            return _reduce_summary(summary, pos)
        import pandas as pd

        n, h = self.n_paths, spec.horizon
        corr = _corr_from_moments(rows["s1"].sum(axis=0), rows["s2"].sum(axis=0), n * h)
        basis = "daily percent log returns pooled over paths and days (Pearson)"
        stats = (rows["asset_cum_hr"], rows["asset_mdd_hr"]) if "asset_cum_hr" in rows else None
        if spec.book is not None:
            return self._book_reduction(corr, basis, stats, model if model is not None else spec.model)
        pnl = apnl = fan = dd = dd_rel = windows = None
        if spec.has_portfolio:
            pnl = {hz: rows["pnl"][:, j] for j, hz in enumerate(spec.horizons)}
            apnl = {hz: rows["asset_pnl"][:, j, :] for j, hz in enumerate(spec.horizons)}
            values = rows["value"]
            q = np.quantile(values, FAN_QUANTILES, axis=0)
            fan = pd.DataFrame({"day": np.arange(h + 1, dtype=np.int32), "mean": values.mean(axis=0),
                                **{_qkey(p): q[i] for i, p in enumerate(FAN_QUANTILES)}})
            dd = rows["dd"]
            dd_rel = rows["dd_rel"] if bool(rows["dd_ok"].all()) else None
            if "window" in rows:
                windows = WindowRows(spec.window_classes, rows["window"])
        return Reduction(list(spec.horizons), pnl, apnl, fan, dd, dd_rel, corr, basis, asset_stats=stats,
                         windows=windows)

    def _book_reduction(self, corr, basis, stats, model):
        import pandas as pd

        from simulator.book_risk import as_of_book_value, attribution_classes, curve_factor_names
        from simulator.scenario_risk import FAN_QUANTILES, Reduction, _qkey

        spec, rows, book = self.spec, self.rows, self.spec.book
        per = {hz: rows["book_pnl"][:, j, :] for j, hz in enumerate(spec.horizons)}
        for h, m in per.items():
            if not np.all(np.isfinite(m)):
                path, j = (int(v) for v in np.argwhere(~np.isfinite(m))[0])
                raise NonFiniteResultError(f"path {path}: position {book.positions[j].id!r} has a non-finite value "
                                           f"at {h} days (look at the simulated factor levels)", path)
        v0 = as_of_book_value(book, model)
        days = [0, *spec.book_days]
        values = np.column_stack([np.full(self.n_paths, v0), v0 + rows["book_fan"]])
        q = np.quantile(values, FAN_QUANTILES, axis=0)
        fan = pd.DataFrame({"day": np.asarray(days, dtype=np.int32), "mean": values.mean(axis=0),
                            **{_qkey(p): q[i] for i, p in enumerate(FAN_QUANTILES)}})
        classes = attribution_classes(book, model)
        attribution = {c: rows["book_attr"][:, i] for i, c in enumerate(classes)}
        curves = None
        if "curve" in rows:
            curves = {a: rows["curve"][:, i, :] for i, a in enumerate(curve_factor_names(model))}
        return Reduction(list(spec.horizons), {h: m.sum(axis=1) for h, m in per.items()}, per, fan, None, None, corr,
                         basis, contribution_names=[p.id for p in book.positions], asset_stats=stats,
                         book_attribution=attribution, curve_levels=curves)


@dataclass
class _Summary:
    horizon: int
    cum_return: np.ndarray
    asset_names: tuple[str, ...]
    sigma: Any = None


# ---------------------------------------------------------------------------------------------
# a run, chunk by chunk, on any backend
# ---------------------------------------------------------------------------------------------
def simulate_chunked(model, n_paths: int, horizon: int, seed, spec: RiskSpec, *, schedule=None,
                     chunk_paths: int | None = None, backend: str = "local", client=None, n_workers: int | None = None,
                     n_threads: int | None = None, progress: bool = False, run_dir: str | os.PathLike | None = None,
                     resume: bool = False):
    """Simulate a scenario run and reduce every chunk to its rows where it ran.

    Returns ``(simulation, ChunkedRisk)``: a :class:`~simulator.engine.SimulationResult` holding the per-path
    summaries (and the daily paths only when ``spec.paths_file``) and the run's rows. ``run_dir`` / ``resume``
    make the run resumable (every chunk's rows committed there; see :mod:`simulator.runstore`).
    """
    from simulator.engine import SimulationResult, execute_plan, plan_run

    if spec.horizon != int(horizon) or spec.asset_names != tuple(model.assets):
        raise ValueError("the risk spec was built for another horizon or asset list than this run")
    if chunk_paths is None:
        chunk_paths = default_chunk_paths(n_paths, horizon, model.n_assets, spec.keep)
    plan = plan_run(model, n_paths, horizon, seed, chunk_paths=chunk_paths, keep=spec.keep, schedule=schedule)
    parts: list[Any] = [None] * len(plan.tasks)

    def consume(index: int, value: Any) -> None:
        parts[index] = value

    meta = execute_plan(plan, store_paths=spec.keep == "paths", consume=consume,
                        reducer=lambda index: partial(reduce_chunk, spec), backend=backend, client=client,
                        n_workers=n_workers, n_threads=n_threads, progress=progress, run_dir=run_dir, resume=resume,
                        spec={"kind": "scenario-risk", "risk": spec.describe()},
                        verify_resumed=partial(_same_rows, spec))
    rows = merge_rows(parts)
    meta["reduced"] = "chunk by chunk where each chunk ran (simulator.chunked_risk)"
    kept = spec.paths_file and "returns" in rows
    sim = SimulationResult(
        asset_names=tuple(model.assets), n_paths=plan.n_paths, horizon=plan.horizon,
        keep="paths" if kept else "summary", cum_return=rows["cum_return"], max_drawdown=rows["max_drawdown"],
        stressed_days=rows["stressed_days"], returns=rows.pop("returns", None), sigma=rows.pop("sigma", None),
        seed=plan.keys.to_dict(), model_sha256=plan.model_sha256, meta=meta)
    return sim, ChunkedRisk(spec, rows)
