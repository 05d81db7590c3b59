"""Names that moved keep working from their old homes (with a DeprecationWarning where users may have them)."""
from __future__ import annotations

import importlib
import sys

import pytest


@pytest.mark.parametrize("old,new", [("scenarios.schema", "scenarios.spec"), ("scenarios.roles", "simulator.roles")])
def test_moved_modules_warn_and_reexport(old, new):
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=new):
        mod = importlib.import_module(old)
    target = importlib.import_module(new)
    for name in target.__all__:
        assert getattr(mod, name) is getattr(target, name), name


@pytest.mark.parametrize("module,old,new", [
    ("simulator", "ScenarioResult", "simulator.runner:SimulatedScenario"),
    ("simulator.runner", "ScenarioResult", "simulator.runner:SimulatedScenario"),
    ("simulator.runner", "run_scenario", "simulator.jobs.scenario:run_scenario"),
    ("simulator.results", "ScenarioResults", "simulator.results:StoredScenario"),
    ("simulator.shocks", "replay_residuals", "simulator.jobs.scenario:replay_residuals"),
])
def test_renamed_names_warn(module, old, new):
    mod_name, attr = new.split(":")
    with pytest.warns(DeprecationWarning):
        got = getattr(importlib.import_module(module), old)
    assert got is getattr(importlib.import_module(mod_name), attr)


@pytest.mark.parametrize("module,name,new", [
    ("simulator.engine", "run_chunk", "simulator.backends:run_chunk"),
    ("simulator.rng", "resolve_seed", "simulator.seeding:resolve_seed"),
    ("simulator.rng", "seed_sequence", "simulator.seeding:seed_sequence"),
    ("simulator.cli.run", "plan_runs", "simulator.jobs.runs:plan_runs"),
    ("simulator.cli.run", "execute_runs", "simulator.jobs.runs:execute_runs"),
    ("simulator.cli.run", "PlannedRun", "simulator.jobs.runs:PlannedRun"),
    ("simulator.cli.verify", "verify_directory", "simulator.jobs.verify:verify_directory"),
    ("simulator.cli.common", "load_model", "simulator.builtin:load_model"),
    ("simulator.results", "compare_to_baseline", "simulator.scenario_risk:compare_to_baseline"),
    ("simulator.results", "copula_correlation", "simulator.scenario_risk:copula_correlation"),
])
def test_old_homes_still_import(module, name, new):
    mod_name, attr = new.split(":")
    assert getattr(importlib.import_module(module), name) is getattr(importlib.import_module(mod_name), attr)


def test_the_public_api():
    import simulator

    assert set(simulator.__all__) >= {"MarketModel", "simulate", "run_scenario", "SimulatedScenario",
                                      "generate_transactions"}
    for name in simulator.__all__:
        assert getattr(simulator, name) is not None
