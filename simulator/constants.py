"""Conventions stated once: the trading year and the default risk levels.

Every module that annualises, turns a yearly intensity into a daily one or picks default VaR/ES levels
imports them from here.
"""
from __future__ import annotations

__all__ = ["TRADING_DAYS_PER_YEAR", "DEFAULT_LEVELS", "ES_LEVEL", "MAX_POSITION"]

#: Trading days in a year: annualised volatility is ``sigma x sqrt(252)``, a Poisson intensity of ``k`` a
#: year is ``k / 252`` a day, a horizon of ``d`` trading days is ``d / 252`` years.
TRADING_DAYS_PER_YEAR = 252

#: Default confidence levels of VaR and ES: 97.5 % (the FRTB's expected-shortfall level) and 99 %
#: (Basel's VaR level).
DEFAULT_LEVELS: tuple[float, ...] = (0.975, 0.99)

#: The expected-shortfall level headlined in reports and backtests (FRTB, MAR33).
ES_LEVEL = 0.975

#: Largest position (currency amount, either sign) a portfolio may hold: a thousand trillion, beyond any real
#: book, and far enough below float64's range that P&L, its square (for the standard deviation) and the sums over
#: paths stay finite.
MAX_POSITION = 1e15
