"""Instruments: yield curves bootstrapped from simulated par yields and full-revaluation pricers
(bonds, interest-rate swaps, European options, FX forwards), vectorised over paths."""
from simulator.instruments.curves import ZeroCurve, bootstrap_par_curve
from simulator.instruments.pricing import (black76, black_scholes, bond_cash, bond_value, coupon_times,
                                           fx_forward_value, swap_cash, swap_value)

__all__ = ["ZeroCurve", "bootstrap_par_curve", "coupon_times", "bond_value", "bond_cash", "swap_value", "swap_cash",
           "black_scholes", "black76", "fx_forward_value"]
