"""A simulated scenario: :class:`SimulatedScenario`, the paths with the scenario and its portfolio.

:func:`simulator.run_scenario` (:mod:`simulator.jobs.scenario`) produces it; :func:`simulator.results.write_results`
stores it as Parquet + ``manifest.json`` for the report.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator.constants import DEFAULT_LEVELS
from simulator.engine import SimulationResult


@dataclass
class SimulatedScenario:
    """A simulated scenario: the paths, the scenario, and the portfolio positions per model asset."""

    name: str
    description: str
    simulation: SimulationResult
    positions: np.ndarray | None  # (n_assets,) currency amounts, or None without a portfolio
    currency: str = "USD"
    #: (n_assets,) FRTB liquidity horizon of each asset in days (10 where no position), or None
    liquidity_horizons: np.ndarray | None = None
    var_levels: tuple[float, ...] = DEFAULT_LEVELS
    risk_horizons: tuple[int, ...] = (1, 10)
    scenario_sha256: str = ""
    scenario_source: str = ""
    shocks: list = field(default_factory=list)
    #: the scenario's ``[[targets]]`` against the simulation (:func:`simulator.targets.evaluate_targets`), then
    #: for replays each asset's move against history's (:func:`simulator.targets.history_checks`)
    targets: list = field(default_factory=list)
    #: the instrument book revalued instead of a linear portfolio (:class:`scenarios.book.Book`), or None
    book: Any = None
    #: the run's risk rows when it was reduced chunk by chunk where its paths ran
    #: (:class:`simulator.chunked_risk.ChunkedRisk`; ``simulation`` then holds per-path summaries only), or None
    chunked: Any = None

    @property
    def asset_names(self) -> tuple[str, ...]:
        return self.simulation.asset_names

    @property
    def returns(self):
        return self.simulation.returns

    @property
    def sigma(self):
        return self.simulation.sigma


def __getattr__(name: str):
    """Deprecated names: ``ScenarioResult`` is :class:`SimulatedScenario` (the in-memory run; the stored one is
    :class:`simulator.results.StoredScenario`); ``simulator.runner.run_scenario`` is ``simulator.run_scenario``
    (it loads scenario files, so it lives above the scenarios package, in :mod:`simulator.jobs.scenario`)."""
    if name == "ScenarioResult":
        import warnings

        warnings.warn("ScenarioResult is now SimulatedScenario", DeprecationWarning, stacklevel=2)
        return SimulatedScenario
    if name == "run_scenario":
        import warnings

        from simulator.jobs.scenario import run_scenario

        warnings.warn("simulator.runner.run_scenario has moved: use simulator.run_scenario", DeprecationWarning,
                      stacklevel=2)
        return run_scenario
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
