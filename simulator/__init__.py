"""stress-sim: calibrate copula-GARCH market models, simulate stress scenarios, measure portfolio risk.

Public API, named for the user's job: :class:`MarketModel`, :func:`simulate`, :func:`run_scenario`,
:func:`generate_transactions`; calibration and validation live in the ``calibration`` package.
"""
__version__ = "0.3.0"

from simulator.model import MarketModel  # noqa: E402
from simulator.engine import SimulationResult, simulate  # noqa: E402
from simulator.runner import SimulatedScenario  # noqa: E402
from simulator.jobs.scenario import run_scenario  # noqa: E402
from simulator.tail import TailResult, simulate_tail  # noqa: E402
from simulator.transactions import generate_transactions  # noqa: E402

__all__ = ["MarketModel", "SimulationResult", "simulate", "SimulatedScenario", "run_scenario",
           "simulate_tail", "TailResult", "generate_transactions", "__version__"]


def __getattr__(name: str):
    """Deprecated name: ``ScenarioResult`` is :class:`SimulatedScenario`."""
    if name == "ScenarioResult":
        import warnings

        warnings.warn("simulator.ScenarioResult is now simulator.SimulatedScenario", DeprecationWarning, stacklevel=2)
        return SimulatedScenario
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
