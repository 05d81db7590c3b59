"""Run a scenario: load it, compile its shocks, simulate, and attach the portfolio.

``run_scenario(scenario, model)`` is the public entry point; ``write_scenario_result`` stores a run
as Parquet + ``manifest.json`` for the report.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simulator.engine import SimulationResult, simulate
from simulator.exceptions import UserInputError
from simulator.model import MarketModel


@dataclass
class ScenarioResult:
    """A simulated scenario: the paths, the scenario, and the portfolio positions per model asset."""

    name: str
    description: str
    simulation: SimulationResult
    positions: np.ndarray | None  # (n_assets,) currency amounts, or None without a portfolio
    currency: str = "USD"
    #: (n_assets,) FRTB liquidity horizon of each asset in days (10 where no position), or None
    liquidity_horizons: np.ndarray | None = None
    var_levels: tuple[float, ...] = (0.975, 0.99)
    risk_horizons: tuple[int, ...] = (1, 10)
    scenario_sha256: str = ""
    scenario_source: str = ""
    shocks: list = field(default_factory=list)
    #: the scenario's ``[[targets]]`` against the simulation (:func:`simulator.targets.evaluate_targets`), then
    #: for replays each asset's move against history's (:func:`simulator.targets.history_checks`)
    targets: list = field(default_factory=list)

    @property
    def asset_names(self) -> tuple[str, ...]:
        return self.simulation.asset_names

    @property
    def returns(self):
        return self.simulation.returns

    @property
    def sigma(self):
        return self.simulation.sigma


def run_scenario(scenario, model: MarketModel | str | None = None, *, n_paths: int | None = None, seed=None,
                 roles=None, keep: str | None = None, chunk_paths: int | None = None, progress: bool = False,
                 n_threads: int | None = None, replay_scaling: str | None = None) -> ScenarioResult:
    """Simulate ``scenario`` (a path, a library name, or a ``Scenario``) on ``model``.

    Parameters
    ----------
    scenario : str, path or scenarios.schema.Scenario
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
    """
    from scenarios.loader import load_scenario, scenario_sha256, with_replay_scaling
    from simulator.shocks import compile_shocks

    sc = load_scenario(scenario)
    if replay_scaling is not None:
        if not sc.has_replay():
            raise UserInputError(f"replay_scaling={replay_scaling!r}: scenario {sc.name!r} has no historical_replay shock")
        sc = with_replay_scaling(sc, replay_scaling)
    model = _resolve_model(model, sc)
    schedule = compile_shocks(sc, model, roles=roles)
    from scenarios.roles import resolve_assets

    positions = horizons = None
    mapping = resolve_assets(sc, model, roles=roles)
    if sc.portfolio is not None:
        positions = np.zeros(model.n_assets)
        for name, amount in sc.portfolio.positions.items():
            positions[mapping[name]] += amount
        if sc.portfolio.liquidity_horizons:
            horizons = _asset_liquidity_horizons(sc.portfolio.liquidity_horizons, mapping, model)
    sim = simulate(model, n_paths or sc.n_paths, sc.horizon_days, sc.seed if seed is None else seed,
                   keep=keep or sc.outputs.keep, chunk_paths=chunk_paths, progress=progress, n_threads=n_threads,
                   schedule=schedule)
    from simulator.targets import evaluate_targets, history_checks

    return ScenarioResult(
        name=sc.name, description=sc.description, simulation=sim, positions=positions,
        currency=sc.portfolio.currency if sc.portfolio else "USD", liquidity_horizons=horizons,
        var_levels=tuple(sc.outputs.var_levels), risk_horizons=tuple(sc.outputs.horizons),
        scenario_sha256=scenario_sha256(sc), scenario_source=str(sc.path) if sc.path else sc.name,
        shocks=[s.model_dump(mode="json") for s in sc.shocks],
        targets=evaluate_targets(sc.targets, sim, mapping) + history_checks(sc, model, sim),
    )


def _asset_liquidity_horizons(by_name: dict, mapping: dict, model: MarketModel) -> np.ndarray:
    """Per-asset liquidity horizons (days) from the portfolio's per-position ones (each asset holds at
    most one position, see :func:`scenarios.roles.resolve_assets`); 10 for assets with no position."""
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
