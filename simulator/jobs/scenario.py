"""Run a scenario: load it, read its replay data, compile its shocks, simulate, attach the portfolio.

:func:`run_scenario` is the public entry point (also ``simulator.run_scenario``). It sits above the
scenarios package (scenario files) and calibration (price data), which the simulator's lower layers never
import: :func:`load_replay_data` reads the returns a scenario's ``historical_replay`` shocks need and
:func:`compile_scenario` hands them to :func:`simulator.shocks.compile_shocks`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

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
                 n_threads: int | None = None, replay_scaling: str | None = None, book=None,
                 backend: str = "local", client=None, n_workers: int | None = None,
                 run_dir: str | os.PathLike | None = None, resume: bool = False, chunked: bool | None = None,
                 extra_horizons: Sequence[int] = (), reporting_horizon: int | None = None,
                 keep_paths: bool | None = None) -> SimulatedScenario:
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
        Override the scenario's ``outputs.keep``: simulate the daily paths (P&L at every horizon, fan, drawdowns,
        the worst-window liquidity-adjusted ES) or per-path summaries only.
    replay_scaling : {"filtered", "historical"}, optional
        Override the ``scaling`` of every ``historical_replay`` shock (the result records the
        scenario as run).
    book : scenarios.book.Book, optional
        Positions revalued in full instead of the scenario's linear ``[portfolio]`` (the daily paths are
        simulated; see :mod:`simulator.book_risk`).
    backend : {"local", "dask", "cuda", "auto"}, default "local"
        Where the chunks of paths run (see :func:`simulator.simulate`): local numba threads, a Dask cluster or
        an NVIDIA GPU. Local and Dask give bit-identical results; CUDA's paths agree with them within
        :data:`simulator.backends.cuda.RTOL`.
    client : distributed.Client or str, optional
        Dask only: a client or a scheduler address ``"tcp://HOST:PORT"``; default a local cluster.
    n_workers : int, optional
        Dask only, without ``client``: worker processes of the local cluster.
    run_dir : str or os.PathLike, optional
        Resumable run directory: every chunk's result is committed there as it completes (see
        :mod:`simulator.runstore`); with ``resume=True`` an interrupted run computes only its missing chunks and
        gives results identical to an uninterrupted run.
    resume : bool, default False
        Continue the interrupted run in ``run_dir``.
    chunked : bool, optional
        Reduce every chunk to what the risk figures need of its paths, where the chunk ran
        (:mod:`simulator.chunked_risk`), instead of gathering the daily paths: memory per worker is bounded by
        one chunk and the daily paths never reach this process (``result.simulation`` holds per-path summaries,
        ``result.chunked`` the rows). :func:`simulator.results.write_results` writes the same bytes either way.
        Default: True for every backend but ``"local"`` and whenever ``run_dir`` is given; a plain local run
        keeps its daily paths in memory (``result.returns``) as before.
    extra_horizons, reporting_horizon : optional
        Chunked runs only: the ``extra_horizons`` and ``reporting_horizon`` that ``write_results`` will be given
        (their P&L is computed while the chunks run).
    keep_paths : bool, optional
        Chunked runs only: also gather the daily paths, for ``paths.parquet`` (default: the scenario's
        ``outputs.keep == "paths"``).
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
    if chunked is None:
        chunked = backend != "local" or run_dir is not None
    if not isinstance(chunked, bool):
        raise TypeError(f"chunked must be True, False or None, got {chunked!r}")

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
    keep = keep or sc.outputs.keep
    n = n_paths or sc.n_paths
    seed = sc.seed if seed is None else seed
    engine = dict(chunk_paths=chunk_paths, progress=progress, n_threads=n_threads, backend=backend, client=client,
                  n_workers=n_workers, run_dir=run_dir, resume=resume)
    ch = None
    if chunked:
        from simulator.chunked_risk import RiskSpec, simulate_chunked
        from simulator.targets import history_days

        h = sc.horizon_days
        spec = RiskSpec.for_run(
            model=model, horizon=h, keep=keep, risk_horizons=sc.outputs.horizons, extra_horizons=extra_horizons,
            reporting_horizon=reporting_horizon, positions=positions, liquidity_horizons=horizons,
            targets=[(t.measure, mapping[t.asset], t.day or h) for t in sc.targets],
            history_days=history_days(sc, model, h, replay_data),
            paths_file=sc.outputs.keep == "paths" if keep_paths is None else keep_paths, book=book)
        sim, ch = simulate_chunked(model, n, h, seed, spec, schedule=schedule, **engine)
        targets = evaluate_targets(sc.targets, sim, mapping, samples=ch.target_samples()) + \
            history_checks(sc, model, sim, replay_data, sample=ch.history)
    else:
        sim = simulate(model, n, sc.horizon_days, seed, keep=keep, schedule=schedule, **engine)
        targets = evaluate_targets(sc.targets, sim, mapping) + history_checks(sc, model, sim, replay_data)
    return SimulatedScenario(
        name=sc.name, description=sc.description, simulation=sim, positions=positions,
        currency=book.currency if book is not None else (sc.portfolio.currency if sc.portfolio else "USD"),
        liquidity_horizons=horizons,
        var_levels=tuple(sc.outputs.var_levels), risk_horizons=tuple(sc.outputs.horizons),
        scenario_sha256=scenario_sha256(sc), scenario_source=str(sc.path) if sc.path else sc.name,
        shocks=[s.model_dump(mode="json") for s in sc.shocks],
        targets=targets, book=book, chunked=ch,
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
