"""stress-sim: calibrate copula-GARCH market models, simulate stress scenarios, measure portfolio risk.

Public API, named for the user's job: :func:`simulate`, :class:`MarketModel`.
"""
__version__ = "0.1.0"

from simulator.model import MarketModel  # noqa: E402
from simulator.engine import SimulationResult, simulate  # noqa: E402

__all__ = ["MarketModel", "SimulationResult", "simulate", "__version__"]
