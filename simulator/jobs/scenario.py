"""Run a scenario: load it, read its replay data, compile its shocks, simulate, attach the portfolio.

:func:`run_scenario` is the public entry point (also ``simulator.run_scenario``). It sits above the
scenarios package (scenario files) and calibration (price data), which the simulator's lower layers never
import: :func:`load_replay_data` reads the returns a scenario's ``historical_replay`` shocks need and
:func:`compile_scenario` hands them to :func:`simulator.shocks.compile_shocks`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from simulator.engine import simulate
from simulator.exceptions import UserInputError
from simulator.model import MarketModel
from simulator.roles import resolve_assets
from simulator.runner import SimulatedScenario
from simulator.schedule import Schedule
from simulator.shocks import compile_shocks, replay_vectors


def replay_source(data: str, scenario=None) -> str:
    """Where a replay's ``data`` is read: ``builtin:NAME`` as is, a path relative to the scenario's file."""
    if not data.startswith("builtin:") and scenario is not None and getattr(scenario, "path", None):
        return str(Path(scenario.path).parent / data)
    return data


def load_returns(source: str | os.PathLike):
    """Percent log returns of a price source (``builtin:NAME``, CSV or Parquet), as
    :func:`calibration.data.load_prices` cleans it."""
    from calibration.data import load_prices, log_returns

    return log_returns(load_prices(source))


def load_replay_data(scenario) -> dict[str, Any]:
    """The returns of every data set the scenario's ``historical_replay`` shocks name, read once each.

    Returns
    -------
    dict
        The shock's ``data`` string (as written) -> percent log returns (DataFrame indexed by date, one
        column per asset); empty without replays.
    """
    out: dict[str, Any] = {}
    for shock in getattr(scenario, "shocks", ()):
        if shock.type == "historical_replay" and shock.data not in out:
            out[shock.data] = load_returns(replay_source(shock.data, scenario))
    return out


def replay_residuals(model: MarketModel, data: str, window, scenario=None, key: str = "historical_replay",
                     scaling: str = "filtered") -> np.ndarray:
    """The replay vectors (n_days, n_assets) of ``window`` in the data set ``data`` (read here), one per
    trading day; see :func:`simulator.shocks.replay_vectors` for ``scaling``."""
    returns = load_returns(replay_source(data, scenario))
    return replay_vectors(model, returns, window, data=data, key=key, scaling=scaling)


def compile_scenario(scenario, model: MarketModel, *, horizon: int | None = None, roles=None) -> Schedule:
    """:func:`simulator.shocks.compile_shocks` with the scenario's replay data read from its sources."""
    return compile_shocks(scenario, model, horizon=horizon, roles=roles, replay_data=load_replay_data(scenario))


def run_scenario(scenario, model: MarketModel | str | None = None, *, n_paths: int | None = None, seed=None,
                 roles=None, keep: str | None = None, chunk_paths: int | None = None, progress: bool = False,
                 n_threads: int | None = None, replay_scaling: str | None = None, book=None) -> SimulatedScenario:
    """Simulate ``scenario`` (a path, a library name, or a ``Scenario``) on ``model``.

    Parameters
    ----------
    scenario : str, path or scenarios.spec.Scenario
    model : MarketModel, str, optional
        The model, a model JSON path, or ``builtin:NAME``; default: the scenario's ``model`` key.
    n_paths, seed : optional
        Override the scenario's path count and seed.
    roles : mapping, optional
        Role → model asset overrides (e.g. ``{"oil": "BRENT"}``).
    keep : {"paths", "summary"}, optional
        Override the scenario's ``outputs.keep``.
    replay_scaling : {"filtered", "historical"}, optional
        Override the ``scaling`` of every ``historical_replay`` shock (the result records the
        scenario as run).
    book : scenarios.book.Book, optional
        Positions revalued in full instead of the scenario's linear ``[portfolio]`` (the daily paths are
        kept; see :mod:`simulator.book_risk`).
    """
    from scenarios.loader import load_scenario, scenario_sha256, with_replay_scaling
    from simulator.targets import evaluate_targets, history_checks

    sc = load_scenario(scenario)
    if replay_scaling is not None:
        if not sc.has_replay():
            raise UserInputError(f"replay_scaling={replay_scaling!r}: scenario {sc.name!r} has no historical_replay shock")
        sc = with_replay_scaling(sc, replay_scaling)
    model = _resolve_model(model, sc)
    replay_data = load_replay_data(sc)
    schedule = compile_shocks(sc, model, roles=roles, replay_data=replay_data)

    positions = horizons = None
    mapping = resolve_assets(sc, model, roles=roles)
    if book is not None:
        from simulator.book_risk import validate_book

        validate_book(book, model)
        keep = "paths"
    elif sc.portfolio is not None:
        positions = np.zeros(model.n_assets)
        for name, amount in sc.portfolio.positions.items():
            positions[mapping[name]] += amount
        if sc.portfolio.liquidity_horizons:
            horizons = _asset_liquidity_horizons(sc.portfolio.liquidity_horizons, mapping, model)
    sim = simulate(model, n_paths or sc.n_paths, sc.horizon_days, sc.seed if seed is None else seed,
                   keep=keep or sc.outputs.keep, chunk_paths=chunk_paths, progress=progress, n_threads=n_threads,
                   schedule=schedule)
    return SimulatedScenario(
        name=sc.name, description=sc.description, simulation=sim, positions=positions,
        currency=book.currency if book is not None else (sc.portfolio.currency if sc.portfolio else "USD"),
        liquidity_horizons=horizons,
        var_levels=tuple(sc.outputs.var_levels), risk_horizons=tuple(sc.outputs.horizons),
        scenario_sha256=scenario_sha256(sc), scenario_source=str(sc.path) if sc.path else sc.name,
        shocks=[s.model_dump(mode="json") for s in sc.shocks],
        targets=evaluate_targets(sc.targets, sim, mapping) + history_checks(sc, model, sim, replay_data),
        book=book,
    )


def _asset_liquidity_horizons(by_name: dict, mapping: dict, model: MarketModel) -> np.ndarray:
    """Per-asset liquidity horizons (days) from the portfolio's per-position ones (each asset holds at
    most one position, see :func:`simulator.roles.resolve_assets`); 10 for assets with no position."""
    out = np.full(model.n_assets, 10, dtype=np.int64)
    for name, lh in by_name.items():
        out[mapping[name]] = lh
    return out


def _resolve_model(model, sc) -> MarketModel:
    if isinstance(model, MarketModel):
        return model
    ref = model if model is not None else sc.model
    if ref is None:
        raise ValueError(f"scenario {sc.name!r} names no model; pass one (a MarketModel, a JSON path or builtin:NAME)")
    if not isinstance(ref, (str, Path)):
        raise TypeError(f"model must be a MarketModel, a path or 'builtin:NAME', got {type(ref).__name__}")
    ref = str(ref)
    if ref.startswith("builtin:"):
        from simulator.builtin import load_builtin_model

        return load_builtin_model(ref.split(":", 1)[1])
    path = Path(ref)
    if not path.is_absolute() and sc.path is not None and not path.exists():
        path = Path(sc.path).parent / path
    return MarketModel.from_json(str(path))
