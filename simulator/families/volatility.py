"""Volatility families: one registry entry each (GARCH, GJR-GARCH, EGARCH, ...).

An entry (a :class:`VolFamily` subclass registered with :func:`register`) owns everything about its
process: its parameters (model-file names, in arch's order), their constraints, its persistence and
long-run variance, how a regime's stress multiplies its volatility, its calibration hook into ``arch``
(the ``arch_model`` arguments, arch's parameter names, which smaller family it nests) and its packing
into the kernel's parameter array. The recursion itself is the family's branch of
:func:`simulator.kernels.variance.variance_step`, which the path kernel runs compiled and
:func:`variance_path` (the numpy filter every other module uses) runs as plain Python.

Parameters arrive as a mapping ``name -> float`` (:attr:`simulator.model.VolSpec.params`); moments of
the innovation law that a family needs (``E[z^2 1{z<0}]``, ``E|z|``, ``E[g(z)]``) come from ``law``, an
object with :meth:`neg_sq_mass`, :meth:`abs_mean` and :meth:`expect` (a :class:`simulator.model.DistSpec`,
or calibration's view of an arch fit), so the model and calibration each keep their own way of computing
them.
"""
from __future__ import annotations

import math
from typing import Any, ClassVar, Mapping, Protocol

import numpy as np

from simulator.families._registry import Registry

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


class LawMoments(Protocol):
    """The moments of a standardised innovation law that volatility families use."""

    def neg_sq_mass(self) -> float:
        """``E[z^2 1{z<0}]``."""

    def abs_mean(self) -> float:
        """``E|z|``."""

    def expect(self, fn) -> float:
        """``E[fn(z)]`` for a scalar function ``fn``."""


class VolFamily:
    """Base class of a volatility family's registry entry (subclass it and decorate with :func:`register`).

    Class attributes
    ----------------
    name : str
        The model-file ``vol.type``.
    code : int
        The branch of :func:`simulator.kernels.variance.variance_step` that runs it.
    params : tuple of str
        Model-file parameter names, in arch's order (also the kernel's slot order after ``mu``).
    title : str
        Human name, e.g. ``"GJR-GARCH(1,1,1)"``.
    arch : dict
        Keyword arguments of ``arch.arch_model`` selecting the process (``vol``, ``p``, ``o``, ``q``).
    arch_names : dict
        arch's parameter name -> model-file name: arch indexes the lag parameters ``alpha``, ``gamma`` and
        ``beta`` of an order-1 process ``alpha[1]`` and so on (:attr:`arch_lags`).
    auto : bool
        Whether ``vol="auto"`` (calibration's default) tries it.
    nests : tuple of str
        Smaller families this one contains with its extra parameters at :attr:`null` (calibration
        refits this one from the smaller one's estimates when it fits worse).
    null : dict
        Values of the parameters this family adds to those it nests, at which it equals them.
    stationarity : str
        The covariance-stationarity condition in words (for errors), or ``""`` when :meth:`check` states it.
    """

    name: ClassVar[str]
    code: ClassVar[int]
    params: ClassVar[tuple[str, ...]]
    title: ClassVar[str]
    arch: ClassVar[dict[str, Any]]
    arch_lags: ClassVar[tuple[str, ...]] = ("alpha", "gamma", "beta")
    auto: ClassVar[bool] = True
    nests: ClassVar[tuple[str, ...]] = ()
    null: ClassVar[dict[str, float]] = {}
    stationarity: ClassVar[str] = ""

    # ------------------------------------------------------------------ model
    def check(self, p: Mapping[str, float], where: str) -> None:
        """Constraints that do not involve the innovation law; ``ValueError`` naming ``where`` (e.g.
        ``"asset 'SPX' (marginals[0]).vol"``) and the parameter."""

    def persistence(self, p: Mapping[str, float], law: LawMoments) -> float:
        """How much of today's variance (or its transform) carries into tomorrow's, on average."""
        raise NotImplementedError

    def is_stationary(self, p: Mapping[str, float], law: LawMoments) -> bool:
        """Whether a model file may hold these parameters (covariance-stationary)."""
        return self.persistence(p, law) < 1.0

    def start_variance(self, p: Mapping[str, float], law: LawMoments) -> float:
        """The default first-day state (percent^2) of a model without ``start``: its long-run variance."""
        return p["omega"] / (1.0 - self.persistence(p, law))

    def long_run_variance(self, p: Mapping[str, float], law: LawMoments) -> float:
        """Long-run variance reported by calibration (``inf`` when not stationary)."""
        pers = self.persistence(p, law)
        return p["omega"] / (1.0 - pers) if pers < 1.0 else math.inf

    def scaled(self, p: Mapping[str, float], k: float) -> dict[str, float]:
        """Parameters of the same process with its volatility level multiplied by ``k`` (a stress regime)."""
        return {**p, "omega": p["omega"] * k * k}

    # ------------------------------------------------------------------ kernel
    def kernel_params(self, p: Mapping[str, float]) -> tuple[float, ...]:
        """The values of ``vpar[k, a, 1:]`` that :func:`~simulator.kernels.variance.variance_step` reads."""
        return tuple(float(p[name]) for name in self.params)

    # ------------------------------------------------------------------ calibration (arch)
    @property
    def arch_names(self) -> dict[str, str]:
        """arch's parameter name -> model-file name."""
        return {(f"{name}[1]" if name in self.arch_lags else name): name for name in self.params}

    def arch_vector(self, p: Mapping[str, float]) -> list[float]:
        """The process's part of arch's parameter vector; a parameter ``p`` lacks takes its :attr:`null`."""
        return [float(p[name]) if name in p else float(self.null[name]) for name in self.params]

    def __repr__(self) -> str:
        return f"<volatility family {self.name!r}: {self.title}>"


VOL_FAMILIES: Registry = Registry("unknown volatility type {name}; valid types: {valid}", unique_code=True)
register = VOL_FAMILIES.register


def vol_family(name: str) -> VolFamily:
    """The registry entry of ``name``; ``ValueError`` listing the valid types."""
    return VOL_FAMILIES.lookup(name)


def kernel_width() -> int:
    """Length of ``vpar``'s last axis: ``mu`` plus the most parameters of any family."""
    return 1 + max(len(f.params) for f in VOL_FAMILIES.values())


def variance_path(family: VolFamily, p: Mapping[str, float], s2: float, resid: np.ndarray) -> np.ndarray:
    """Conditional variances after each residual: ``out[t]`` is the variance that follows ``resid[t]``.

    The recursion of :func:`simulator.kernels.variance.variance_step` (its plain-Python source, so the
    numbers are those of the numpy code it replaced) started from variance ``s2``:
    ``out[0] = step(s2, resid[0])``, ``out[t] = step(out[t-1], resid[t])``.
    """
    from simulator.kernels.variance import variance_step

    step = variance_step.py_func  # type: ignore[attr-defined]  # the numba dispatcher's Python source
    vpar = np.zeros((1, 1, kernel_width()))
    vpar[0, 0, 1:1 + len(family.params)] = family.kernel_params(p)
    code = family.code
    r = np.asarray(resid, dtype=float)
    out = np.empty(r.size)
    v = float(s2)
    for t in range(r.size):
        v = step(code, vpar, 0, 0, v, r[t])
        out[t] = v
    return out


# ---------------------------------------------------------------------------------------------- entries
def _check_garch_like(p: Mapping[str, float], where: str) -> None:
    if p["omega"] <= 0:
        raise ValueError(f"{where}.omega must be > 0, got {p['omega']!r}")
    if p["alpha"] < 0 or p["beta"] < 0:
        bad = "alpha" if p["alpha"] < 0 else "beta"
        raise ValueError(f"{where}.{bad} must be >= 0, got {p[bad]!r}")


@register
class Garch(VolFamily):
    """GARCH(1,1): ``s2' = omega + alpha e^2 + beta s2``."""

    name = "garch"
    code = 0
    params = ("omega", "alpha", "beta")
    title = "GARCH(1,1)"
    arch = {"vol": "GARCH", "p": 1, "o": 0, "q": 1}
    stationarity = "alpha + beta must be < 1"

    def check(self, p, where):
        _check_garch_like(p, where)

    def persistence(self, p, law):
        return p["alpha"] + p["beta"]


@register
class Gjr(VolFamily):
    """GJR-GARCH(1,1,1): ``s2' = omega + (alpha + gamma 1{e<0}) e^2 + beta s2``."""

    name = "gjr"
    code = 1
    params = ("omega", "alpha", "gamma", "beta")
    title = "GJR-GARCH(1,1,1)"
    arch = {"vol": "GARCH", "p": 1, "o": 1, "q": 1}
    nests = ("garch",)
    null = {"gamma": 0.0}
    stationarity = "alpha + gamma*E[z^2 1{z<0}] + beta must be < 1"

    def check(self, p, where):
        _check_garch_like(p, where)
        if p["alpha"] + p["gamma"] < 0:
            raise ValueError(f"{where}: alpha + gamma must be >= 0, got {p['alpha'] + p['gamma']!r}")

    def persistence(self, p, law):
        return p["alpha"] + p["gamma"] * law.neg_sq_mass() + p["beta"]


@register
class Egarch(VolFamily):
    """EGARCH(1,1,1) as arch's ``EGARCH(p=1, o=1, q=1)``:
    ``ln s2' = omega + alpha (|z| - sqrt(2/pi)) + gamma z + beta ln s2``."""

    name = "egarch"
    code = 2
    params = ("omega", "alpha", "gamma", "beta")
    title = "EGARCH(1,1,1)"
    arch = {"vol": "EGARCH", "p": 1, "o": 1, "q": 1}
    null = {"gamma": 0.0}

    def check(self, p, where):
        if abs(p["beta"]) >= 1:
            raise ValueError(f"{where}.beta must satisfy |beta| < 1 for a stationary EGARCH, got {p['beta']!r}")

    def persistence(self, p, law):
        return abs(p["beta"])

    def is_stationary(self, p, law):
        return True  # |beta| < 1, checked by check()

    def start_variance(self, p, law):
        """``exp(omega / (1 - beta))`` (arch's start value)."""
        return math.exp(p["omega"] / (1.0 - p["beta"]))

    def long_run_variance(self, p, law):
        """``exp(E[ln s2])`` with ``E[ln s2] = (omega + alpha (E|z| - sqrt(2/pi))) / (1 - beta)``."""
        if abs(p["beta"]) >= 1:
            return math.inf
        log_lrv = (p["omega"] + p["alpha"] * (law.abs_mean() - SQRT_2_OVER_PI)) / (1.0 - p["beta"])
        return math.exp(log_lrv) if log_lrv < 700.0 else math.inf  # beta within ~1e-6 of 1: no finite level

    def scaled(self, p, k):
        return {**p, "omega": p["omega"] + (1.0 - p["beta"]) * 2.0 * math.log(k)}


@register
class Aparch(VolFamily):
    """APARCH(1,1,1) as arch's ``APARCH(p=1, o=1, q=1)`` (Ding, Granger and Engle 1993, *J. Empirical Finance*
    1: 83-106): ``s^delta' = omega + alpha (|e| - gamma e)^delta + beta s^delta`` with ``s = sqrt(s2)``.

    Constraints (arch's): ``omega > 0``, ``alpha, beta >= 0``, ``|gamma| < 1``, ``0.05 <= delta <= 4``.
    Persistence is ``alpha kappa + beta`` with ``kappa = E[(|z| - gamma z)^delta]`` under the innovation law,
    and ``E[s^delta] = omega / (1 - alpha kappa - beta)`` when it is below 1; the default start state is the
    variance at that level, ``E[s^delta]^(2/delta)`` (by Jensen, not ``E[s2]`` unless ``delta = 2``).
    Calibrated only when asked for (``vol="aparch"``): ``vol="auto"`` keeps GARCH, GJR and EGARCH.
    """

    name = "aparch"
    code = 3
    params = ("omega", "alpha", "gamma", "beta", "delta")
    title = "APARCH(1,1,1)"
    arch = {"vol": "APARCH", "p": 1, "o": 1, "q": 1}
    auto = False
    nests = ("garch",)
    null = {"gamma": 0.0, "delta": 2.0}
    stationarity = "alpha*E[(|z| - gamma z)^delta] + beta must be < 1"

    def check(self, p, where):
        _check_garch_like(p, where)
        if not -1.0 < p["gamma"] < 1.0:
            raise ValueError(f"{where}.gamma must lie in (-1, 1), got {p['gamma']!r}")
        if not 0.05 <= p["delta"] <= 4.0:
            raise ValueError(f"{where}.delta must lie in [0.05, 4] (arch's range for the power), got {p['delta']!r}")

    def persistence(self, p, law):
        gamma, delta = p["gamma"], p["delta"]
        kappa = law.expect(lambda z: (abs(z) - gamma * z) ** delta)
        return p["alpha"] * kappa + p["beta"]

    def start_variance(self, p, law):
        return (p["omega"] / (1.0 - self.persistence(p, law))) ** (2.0 / p["delta"])

    def long_run_variance(self, p, law):
        pers = self.persistence(p, law)
        return (p["omega"] / (1.0 - pers)) ** (2.0 / p["delta"]) if pers < 1.0 else math.inf

    def scaled(self, p, k):
        return {**p, "omega": p["omega"] * k ** p["delta"]}

