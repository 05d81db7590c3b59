"""Calibration: turn real price history into a :class:`simulator.MarketModel`, and validate synthetic data.

Public API: :func:`load_prices`, :func:`fit_marginal`, :func:`fit_copula`, :func:`calibrate`
(plus :func:`calibrate_detailed` for diagnostics and residuals), and :func:`rolling_model_backtest`
(the rolling VaR/ES backtest of the calibrated, simulated model).
"""
from calibration.data import CleaningReport, load_prices, log_returns
from calibration.marginals import MarginalFit, fit_marginal
from calibration.copulas import CopulaFit, fit_copula
from calibration.calibrate import CalibrationResult, calibrate, calibrate_detailed, fit_returns
from calibration.transactions import fit_transactions
from calibration.validate import ValidationReport, validate
from calibration.collapse import CollapseReport, collapse_check
from calibration.backtest import ModelBacktest, rolling_model_backtest

__all__ = ["load_prices", "log_returns", "CleaningReport", "fit_marginal", "MarginalFit", "fit_copula",
           "CopulaFit", "calibrate", "calibrate_detailed", "fit_returns", "CalibrationResult", "fit_transactions",
           "validate", "ValidationReport", "collapse_check", "CollapseReport", "rolling_model_backtest",
           "ModelBacktest"]
