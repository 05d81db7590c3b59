"""One home per model family: the registries of volatility families, copula families and innovation laws.

Each family is one registry entry (a small class) that owns everything about it; the rest of the code
asks the registry instead of branching on type names:

========================  ==========================================  ==========================================
registry                  an entry owns                               its kernel step
========================  ==========================================  ==========================================
:data:`VOL_FAMILIES`      parameters and constraints, persistence,    its branch of
(:mod:`.volatility`)      long-run variance, stress scaling, arch     :func:`simulator.kernels.variance.variance_step`
                          model and names, nesting, kernel packing
:data:`COPULA_FAMILIES`   parameters and constraints, Kendall's tau,  its branch of
(:mod:`.copulas`)         equivalent correlation, tail dependence,    :func:`simulator.kernels.paths._draw_innovations`
                          log density and estimator, kernel packing
:data:`LAWS`              parameters and constraints, arch law and    none: quantile tables
(:mod:`.laws`)            names, two-step base, nesting               (:mod:`simulator.tables`)
========================  ==========================================  ==========================================

:func:`variance_path` is the numpy filter (the kernel's own recursion run as Python) that the shocks,
the collapse loop, the backtests and :meth:`simulator.model.MarginalSpec.filter` use. ``docs/developing.md``
lists the files a new family touches.
"""
from simulator.families.copulas import COPULA_FAMILIES, CopulaFamily, copula_family, spec_params
from simulator.families.laws import LAWS, Law, law
from simulator.families.volatility import VOL_FAMILIES, LawMoments, VolFamily, kernel_width, variance_path, vol_family

__all__ = [
    "VOL_FAMILIES", "VolFamily", "vol_family", "variance_path", "kernel_width", "LawMoments",
    "COPULA_FAMILIES", "CopulaFamily", "copula_family", "spec_params",
    "LAWS", "Law", "law",
]
