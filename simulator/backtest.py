"""VaR and ES backtesting: coverage tests, the Basel traffic light, Acerbi–Szekely ES tests and a rolling
out-of-sample backtest of GARCH-family models re-fitted with ``arch`` on a real return series.

Conventions
-----------
* ``p`` is the **exception probability** ``1 - VaR level`` (0.01 for 99% VaR).
* An exception (violation) on day ``t`` is ``X_t < -VaR_t``: the realised P&L (or return) loses more
  than the VaR forecast, VaR being a positive loss.
* Likelihood-ratio statistics use the convention ``0 * log 0 = 0`` (``scipy.special.xlogy``), so zero
  exceptions, all exceptions and empty transition classes give finite statistics, never NaN.

Every test returns a :class:`HypothesisTestResult` (statistic, critical value, p-value, reject flag,
number of observations and exceptions) with ``to_dict()``; :func:`rolling_var_backtest` collects them
into a :class:`BacktestResult` whose ``.table`` looks like MATLAB's ``varbacktest`` summary.
"""
from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
from scipy import integrate, special, stats

from simulator.families import VOL_FAMILIES

__all__ = [
    "HypothesisTestResult",
    "TrafficLight",
    "AcerbiSzekelyResult",
    "BacktestResult",
    "BASEL_MULTIPLIERS",
    "exceedances",
    "kupiec_pof",
    "christoffersen_independence",
    "conditional_coverage",
    "traffic_light",
    "acerbi_szekely",
    "location_scale_sampler",
    "rolling_var_backtest",
    "evaluate_forecasts",
]

#: Basel multiplier by number of exceptions in 250 days at 99% (green 0-4, amber 5-9, red 10+).
BASEL_MULTIPLIERS: dict[int, float] = {
    0: 1.50, 1: 1.50, 2: 1.50, 3: 1.50, 4: 1.50,
    5: 1.70, 6: 1.76, 7: 1.83, 8: 1.88, 9: 1.92,
}
_RED_MULTIPLIER = 2.00
_GREEN_CDF = 0.95
_RED_CDF = 0.9999

_DISTS = {"normal": "normal", "t": "t", "skewt": "skewt", "ged": "ged"}
_MEANS = {"constant": "Constant", "zero": "Zero"}


# --------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------
def _py(x: Any) -> Any:
    """Plain Python scalar for JSON."""
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    return x


@dataclass(frozen=True)
class HypothesisTestResult:
    """Outcome of one backtest.

    Attributes
    ----------
    test : str
        Machine name (``"pof"``, ``"cci"``, ``"cc"``, ``"as_z1"``, ``"as_z2"``).
    name : str
        Human-readable name.
    statistic : float
        Test statistic.
    critical_value : float
        Critical value at ``test_level`` (reject when the statistic is beyond it).
    p_value : float
        p-value (asymptotic chi-square, or simulation under the model).
    reject : bool
        True when the null (correct model) is rejected at ``test_level``.
    n : int
        Number of observations.
    exceptions : int
        Number of VaR exceptions.
    test_level : float
        Confidence of the test (0.95 = 5% significance).
    level : float or None
        Confidence level of the VaR / ES under test.
    reference : str
        Null distribution used (``"chi2(1)"``, ``"chi2(2)"``, ``"simulation (n_sim=...)"``).
    details : dict
        Extra figures (e.g. transition counts ``n00``, ``n01``, ``n10``, ``n11``).
    """

    test: str
    name: str
    statistic: float
    critical_value: float
    p_value: float
    reject: bool
    n: int
    exceptions: int
    test_level: float
    level: float | None = None
    reference: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def result(self) -> str:
        """``"reject"`` or ``"accept"``."""
        return "reject" if self.reject else "accept"

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict."""
        return {
            "test": self.test,
            "name": self.name,
            "level": self.level,
            "statistic": float(self.statistic),
            "critical_value": float(self.critical_value),
            "p_value": float(self.p_value),
            "result": self.result,
            "reject": bool(self.reject),
            "n": int(self.n),
            "exceptions": int(self.exceptions),
            "test_level": float(self.test_level),
            "reference": self.reference,
            "details": {k: _py(v) for k, v in self.details.items()},
        }


@dataclass(frozen=True)
class TrafficLight:
    """Basel traffic-light zone of a VaR backtest.

    Attributes
    ----------
    zone : str
        ``"green"``, ``"amber"`` or ``"red"``.
    multiplier : float or None
        Capital multiplier (1.50 green; 1.70/1.76/1.83/1.88/1.92 amber for 5..9 exceptions; 2.00 red).
        Defined by Basel for 250 days at 99% only; for other samples green gives 1.50, red 2.00 and
        amber None (no published scale).
    plus_factor : float or None
        ``multiplier - 1.50``.
    exceptions, n : int
        Exceptions and observations.
    p : float
        Exception probability under the null.
    cumulative_probability : float
        ``F(exceptions | n, p)``, the binomial CDF.
    green_max, amber_max : int
        Largest exception counts in the green and amber zones for this ``(n, p)``.
    standard : bool
        True for the Basel setting ``n = 250, p = 0.01`` (zones and multipliers from the table).
    """

    zone: str
    multiplier: float | None
    plus_factor: float | None
    exceptions: int
    n: int
    p: float
    cumulative_probability: float
    green_max: int
    amber_max: int
    standard: bool

    def to_dict(self) -> dict[str, Any]:
        return {k: _py(getattr(self, k)) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class AcerbiSzekelyResult:
    """Acerbi–Szekely (2014) ES backtests: ``z1`` (conditional on exceptions) and ``z2`` (unconditional)."""

    z1: HypothesisTestResult
    z2: HypothesisTestResult

    def __iter__(self):
        return iter((self.z1, self.z2))

    def to_dict(self) -> dict[str, Any]:
        return {"z1": self.z1.to_dict(), "z2": self.z2.to_dict()}


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------
def _check_p(p: Any) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"p must be a float (the exception probability 1 - VaR level), got {type(p).__name__}")
    p = float(p)
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if p > 0.5:
        raise ValueError(
            f"p = {p} looks like a confidence level; p is the exception probability 1 - level "
            f"(e.g. 0.01 for 99% VaR, so p = {1 - p:g} here)"
        )
    return p


def _check_test_level(test_level: Any) -> float:
    if isinstance(test_level, bool) or not isinstance(test_level, numbers.Real) or not 0.0 < float(test_level) < 1.0:
        raise ValueError(f"test_level must be in (0, 1) (e.g. 0.95 for a 5% test), got {test_level!r}")
    return float(test_level)


def _indicator(exceptions: Any, name: str = "exceptions") -> np.ndarray:
    """Validate a 0/1 (or bool) exception sequence; returns int8 array."""
    if isinstance(exceptions, (str, bytes, Mapping)) or exceptions is None:
        raise TypeError(f"{name} must be a 1-D array of 0/1 or booleans, got {type(exceptions).__name__}")
    arr = np.asarray(exceptions)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of daily 0/1 exception flags, got shape {arr.shape}")
    if arr.dtype == bool:
        return arr.astype(np.int8)
    if not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must be numeric 0/1 or boolean, got dtype {arr.dtype}")
    bad = ~np.isin(arr, (0, 1))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name} must contain only 0/1 (or booleans); found {arr[i].item()!r} at position {i}")
    return arr.astype(np.int8)


def _count_and_n(exceptions: Any, n: int | None) -> tuple[int, int]:
    if isinstance(exceptions, numbers.Integral) and not isinstance(exceptions, bool):
        if n is None:
            raise ValueError("n (number of observations) is required when exceptions is a count")
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"n must be a positive integer number of observations, got {n!r}")
        x, n = int(exceptions), int(n)
        if not 0 <= x <= n:
            raise ValueError(f"exceptions must be between 0 and n = {n}, got {x}")
        return x, n
    ind = _indicator(exceptions)
    if ind.size == 0:
        raise ValueError("exceptions is empty; need at least one observation")
    if n is not None and int(n) != ind.size:
        raise ValueError(f"n = {n} disagrees with the {ind.size} exception flags given")
    return int(ind.sum()), int(ind.size)


def exceedances(pnl: Any, var: Any) -> np.ndarray:
    """Daily exception flags ``pnl_t < -var_t`` (VaR as a positive loss).

    Parameters
    ----------
    pnl : array of shape (T,)
        Realised P&L or returns.
    var : float or array of shape (T,)
        VaR forecasts in the same units, positive for a loss.

    Returns
    -------
    ndarray of bool, shape (T,)
    """
    x = np.asarray(pnl, dtype=float)
    v = np.broadcast_to(np.asarray(var, dtype=float), x.shape)
    if x.ndim != 1:
        raise ValueError(f"pnl must be 1-D, got shape {x.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(v))):
        raise ValueError("pnl and var must be finite")
    return x < -v


# --------------------------------------------------------------------------------------------
# coverage tests
# --------------------------------------------------------------------------------------------
def _lr_pof(x: int, n: int, p: float) -> float:
    phat = x / n
    ll0 = special.xlogy(n - x, 1.0 - p) + special.xlogy(x, p)
    ll1 = special.xlogy(n - x, 1.0 - phat) + special.xlogy(x, phat)
    return max(float(-2.0 * (ll0 - ll1)), 0.0)


def kupiec_pof(exceptions: Any, p: float, *, n: int | None = None, test_level: float = 0.95) -> HypothesisTestResult:
    """Kupiec (1995) proportion-of-failures test of unconditional coverage.

    ``LR_pof = -2 ln[(1-p)^(T-x) p^x] + 2 ln[(1-x/T)^(T-x) (x/T)^x] ~ chi2(1)``.

    Parameters
    ----------
    exceptions : array of 0/1 or bool, shape (T,), or int
        Daily exception flags, or the exception count ``x`` (then ``n`` is required).
    p : float
        Exception probability under the null, ``1 - VaR level``.
    n : int, optional
        Number of observations ``T`` when ``exceptions`` is a count.
    test_level : float, default 0.95
        Test confidence; the critical value is ``chi2.ppf(test_level, 1)`` (3.841 at 0.95).

    Returns
    -------
    HypothesisTestResult
    """
    p = _check_p(p)
    test_level = _check_test_level(test_level)
    x, n = _count_and_n(exceptions, n)
    lr = _lr_pof(x, n, p)
    return HypothesisTestResult(
        test="pof", name="Kupiec POF", statistic=lr, critical_value=float(stats.chi2.ppf(test_level, 1)),
        p_value=float(stats.chi2.sf(lr, 1)), reject=bool(lr > stats.chi2.ppf(test_level, 1)), n=n, exceptions=x,
        test_level=test_level, level=1.0 - p, reference="chi2(1)",
        details={"expected_exceptions": n * p, "exception_rate": x / n},
    )


def _transition_counts(ind: np.ndarray) -> tuple[int, int, int, int]:
    prev, cur = ind[:-1].astype(bool), ind[1:].astype(bool)
    n11 = int(np.count_nonzero(prev & cur))
    n10 = int(np.count_nonzero(prev & ~cur))
    n01 = int(np.count_nonzero(~prev & cur))
    n00 = int(prev.size - n11 - n10 - n01)
    return n00, n01, n10, n11


def _lr_ind(n00: int, n01: int, n10: int, n11: int) -> float:
    n_all = n00 + n01 + n10 + n11
    pi = (n01 + n11) / n_all
    pi0 = n01 / (n00 + n01) if n00 + n01 > 0 else 0.0
    pi1 = n11 / (n10 + n11) if n10 + n11 > 0 else 0.0
    ll0 = special.xlogy(n00 + n10, 1.0 - pi) + special.xlogy(n01 + n11, pi)
    ll1 = (special.xlogy(n00, 1.0 - pi0) + special.xlogy(n01, pi0)
           + special.xlogy(n10, 1.0 - pi1) + special.xlogy(n11, pi1))
    return max(float(-2.0 * (ll0 - ll1)), 0.0)


def christoffersen_independence(exceptions: Any, *, test_level: float = 0.95) -> HypothesisTestResult:
    """Christoffersen (1998) test of independence of exceptions (first-order Markov alternative).

    With transition counts ``n_ij`` (day ``t-1`` in state ``i``, day ``t`` in state ``j``),
    ``pi0 = n01/(n00+n01)``, ``pi1 = n11/(n10+n11)``, ``pi = (n01+n11)/(T-1)``:
    ``LR_ind = -2 ln[(1-pi)^(n00+n10) pi^(n01+n11)] + 2 ln[(1-pi0)^n00 pi0^n01 (1-pi1)^n10 pi1^n11]
    ~ chi2(1)``. Empty classes (no exceptions, or no day after an exception) use ``0 log 0 = 0``.

    Parameters
    ----------
    exceptions : array of 0/1 or bool, shape (T,)
        Daily exception flags in time order, ``T >= 2``.
    test_level : float, default 0.95

    Returns
    -------
    HypothesisTestResult
        ``details`` holds ``n00, n01, n10, n11, pi0, pi1``.
    """
    test_level = _check_test_level(test_level)
    ind = _indicator(exceptions)
    if ind.size < 2:
        raise ValueError(f"the independence test needs at least 2 daily flags, got {ind.size}")
    n00, n01, n10, n11 = _transition_counts(ind)
    lr = _lr_ind(n00, n01, n10, n11)
    cv = float(stats.chi2.ppf(test_level, 1))
    return HypothesisTestResult(
        test="cci", name="Christoffersen independence", statistic=lr, critical_value=cv,
        p_value=float(stats.chi2.sf(lr, 1)), reject=bool(lr > cv), n=int(ind.size), exceptions=int(ind.sum()),
        test_level=test_level, reference="chi2(1)",
        details={"n00": n00, "n01": n01, "n10": n10, "n11": n11,
                 "pi0": n01 / (n00 + n01) if n00 + n01 else 0.0, "pi1": n11 / (n10 + n11) if n10 + n11 else 0.0},
    )


def conditional_coverage(exceptions: Any, p: float, *, test_level: float = 0.95) -> HypothesisTestResult:
    """Christoffersen (1998) conditional coverage test, ``LR_cc = LR_pof + LR_ind ~ chi2(2)``.

    ``LR_pof`` uses all ``T`` days, ``LR_ind`` the ``T - 1`` transitions.

    Parameters
    ----------
    exceptions : array of 0/1 or bool, shape (T,)
        Daily exception flags in time order, ``T >= 2``.
    p : float
        Exception probability ``1 - VaR level``.
    test_level : float, default 0.95
        The critical value is ``chi2.ppf(test_level, 2)`` (5.991 at 0.95).

    Returns
    -------
    HypothesisTestResult
    """
    p = _check_p(p)
    test_level = _check_test_level(test_level)
    ind = _indicator(exceptions)
    if ind.size < 2:
        raise ValueError(f"the conditional coverage test needs at least 2 daily flags, got {ind.size}")
    x, n = int(ind.sum()), int(ind.size)
    counts = _transition_counts(ind)
    lr_pof = _lr_pof(x, n, p)
    lr_ind = _lr_ind(*counts)
    lr = lr_pof + lr_ind
    cv = float(stats.chi2.ppf(test_level, 2))
    return HypothesisTestResult(
        test="cc", name="Christoffersen conditional coverage", statistic=lr, critical_value=cv,
        p_value=float(stats.chi2.sf(lr, 2)), reject=bool(lr > cv), n=n, exceptions=x, test_level=test_level,
        level=1.0 - p, reference="chi2(2)", details={"lr_pof": lr_pof, "lr_ind": lr_ind},
    )


# --------------------------------------------------------------------------------------------
# traffic light
# --------------------------------------------------------------------------------------------
def _zone_bounds(n: int, p: float) -> tuple[int, int]:
    """Largest counts with ``F(x) <= 0.95`` (green) and ``F(x) <= 0.9999`` (amber)."""
    xs = np.arange(n + 1)
    cdf = stats.binom.cdf(xs, n, p)
    green = int(np.flatnonzero(cdf <= _GREEN_CDF)[-1]) if cdf[0] <= _GREEN_CDF else -1
    amber = int(np.flatnonzero(cdf <= _RED_CDF)[-1]) if cdf[0] <= _RED_CDF else -1
    return green, amber


def traffic_light(exceptions_count: Any, n: int = 250, p: float = 0.01) -> TrafficLight:
    """Basel traffic-light zone and capital multiplier of a VaR backtest.

    For ``n = 250`` days at 99% (``p = 0.01``): green 0–4 exceptions (multiplier 1.50), amber 5–9
    (1.70, 1.76, 1.83, 1.88, 1.92), red 10+ (2.00). For any other ``(n, p)`` the zones follow the
    binomial rule behind the Basel table: green if ``F(x | n, p) <= 0.95``, red if ``F(x | n, p) > 0.9999``,
    amber in between (the rule reproduces the table at ``n = 250, p = 0.01``).

    Parameters
    ----------
    exceptions_count : int or array of 0/1 flags
        Number of exceptions over the ``n`` days (or the flags themselves, then ``n = len``).
    n : int, default 250
        Number of days.
    p : float, default 0.01
        Exception probability ``1 - VaR level``.

    Returns
    -------
    TrafficLight
    """
    p = _check_p(p)
    if isinstance(exceptions_count, numbers.Integral) and not isinstance(exceptions_count, bool):
        x, n = _count_and_n(int(exceptions_count), n)
    else:
        x, n = _count_and_n(exceptions_count, None)
    standard = n == 250 and math.isclose(p, 0.01, rel_tol=1e-12)
    cdf = float(stats.binom.cdf(x, n, p))
    green_max, amber_max = _zone_bounds(n, p)
    if x <= green_max:
        zone = "green"
    elif x <= amber_max:
        zone = "amber"
    else:
        zone = "red"
    if standard:
        mult = BASEL_MULTIPLIERS.get(x, _RED_MULTIPLIER)
    else:
        mult = {"green": 1.50, "red": _RED_MULTIPLIER}.get(zone)
    return TrafficLight(
        zone=zone, multiplier=mult, plus_factor=None if mult is None else round(mult - 1.50, 10), exceptions=x, n=n, p=p,
        cumulative_probability=cdf, green_max=green_max, amber_max=amber_max, standard=standard,
    )


# --------------------------------------------------------------------------------------------
# Acerbi–Szekely
# --------------------------------------------------------------------------------------------
def location_scale_sampler(
    mu: Any, sigma: Any, ppf: Callable[[np.ndarray], np.ndarray], *, n_days: int | None = None
) -> Callable:
    """Sampler of model P&L ``X_t = mu_t + sigma_t Z_t`` for :func:`acerbi_szekely`.

    Parameters
    ----------
    mu, sigma : float or array of shape (T,)
        Conditional mean and standard deviation (scale) of each day's P&L, ``sigma > 0``.
    ppf : callable
        Quantile function of the standardized innovation, mapping an array of uniforms of shape
        (n_sim, T) to draws of the same shape (e.g. ``scipy.stats.norm.ppf``).
    n_days : int, optional
        Number of days ``T``; required when ``mu`` and ``sigma`` are both scalars.

    Returns
    -------
    callable ``(rng, n_sim) -> ndarray of shape (n_sim, T)``
    """
    mu_a = np.atleast_1d(np.asarray(mu, dtype=float))
    sig_a = np.atleast_1d(np.asarray(sigma, dtype=float))
    if np.any(sig_a <= 0) or not np.all(np.isfinite(sig_a)) or not np.all(np.isfinite(mu_a)):
        raise ValueError("sigma must be finite and > 0 and mu finite")
    if not callable(ppf):
        raise TypeError(f"ppf must be a callable mapping uniforms to standardized draws, got {type(ppf).__name__}")
    try:
        T = int(np.broadcast(mu_a, sig_a).shape[0])
    except ValueError:
        raise ValueError(f"mu and sigma have incompatible lengths {mu_a.size} and {sig_a.size}") from None
    if n_days is not None:
        if isinstance(n_days, bool) or not isinstance(n_days, numbers.Integral) or n_days < 1:
            raise ValueError(f"n_days must be a positive integer, got {n_days!r}")
        if T not in (1, int(n_days)):
            raise ValueError(f"mu/sigma have {T} days but n_days = {n_days}")
        T = int(n_days)
    elif mu_a.size == 1 and sig_a.size == 1:
        raise ValueError("n_days is required when mu and sigma are scalars")

    def sampler(rng: np.random.Generator, n_sim: int) -> np.ndarray:
        u = rng.random((n_sim, T))
        return mu_a + sig_a * np.asarray(ppf(u), dtype=float)

    return sampler


def _as_stats(x: np.ndarray, var: np.ndarray, es: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Z1, Z2 and N_T for rows of ``x`` (shape (..., T))."""
    hit = x < -var
    n_t = hit.sum(axis=-1)
    s = np.where(hit, x / es, 0.0).sum(axis=-1)
    T = x.shape[-1]
    z1 = np.where(n_t > 0, s / np.maximum(n_t, 1) + 1.0, 0.0)
    z2 = s / (T * alpha) + 1.0
    return z1, z2, n_t


def acerbi_szekely(
    x: Any,
    var: Any,
    es: Any,
    alpha: float,
    *,
    sampler: Callable[[np.random.Generator, int], np.ndarray],
    n_sim: int = 1000,
    seed: int | np.random.SeedSequence | np.random.Generator | None = 0,
    test_level: float = 0.95,
) -> AcerbiSzekelyResult:
    """Acerbi–Szekely (2014) expected-shortfall backtests Z1 and Z2 with simulated p-values.

    With ``I_t = 1{X_t < -VaR_t}`` and ``N_T = sum_t I_t``:

    * ``Z1 = (1/N_T) sum_t X_t I_t / ES_t + 1`` (conditional on exceptions; set to 0 when
      ``N_T = 0``, in the data and in the simulations alike);
    * ``Z2 = sum_t X_t I_t / (T alpha ES_t) + 1`` (unconditional).

    Both have expectation 0 under the model and are negative when risk is underestimated. The
    p-value is ``(1 + #{Z_sim <= Z_obs}) / (1 + n_sim)`` from ``n_sim`` P&L histories drawn from the
    model by ``sampler`` and scored against the same VaR/ES forecasts; the critical value is the
    ``1 - test_level`` quantile of the simulated statistics. Reject when ``p < 1 - test_level``.

    Parameters
    ----------
    x : array of shape (T,)
        Realised P&L (or returns), gains positive.
    var, es : float or array of shape (T,)
        VaR at level ``1 - alpha`` and ES forecasts, positive losses in the units of ``x``.
    alpha : float
        Tail probability of the ES (0.025 for 97.5% ES).
    sampler : callable ``(rng, n_sim) -> ndarray of shape (n_sim, T)``
        Draws P&L histories from the model's 1-day predictive distributions (see
        :func:`location_scale_sampler`).
    n_sim : int, default 1000
        Number of simulated histories.
    seed : None, int, SeedSequence or Generator, default 0
        Randomness of the simulation.
    test_level : float, default 0.95

    Returns
    -------
    AcerbiSzekelyResult
    """
    xa = np.asarray(x, dtype=float)
    if xa.ndim != 1 or xa.size == 0:
        raise ValueError(f"x must be a non-empty 1-D array of daily P&L, got shape {xa.shape}")
    T = xa.size
    va = np.broadcast_to(np.asarray(var, dtype=float), (T,))
    ea = np.broadcast_to(np.asarray(es, dtype=float), (T,))
    for name, a in (("x", xa), ("var", va), ("es", ea)):
        if not np.all(np.isfinite(a)):
            i = int(np.argmax(~np.isfinite(a)))
            raise ValueError(f"{name} has a non-finite value at position {i}")
    if np.any(ea <= 0):
        i = int(np.argmax(ea <= 0))
        raise ValueError(f"es must be > 0 (a positive loss); got {ea[i]} at position {i}")
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0.0 < float(alpha) < 0.5:
        raise ValueError(f"alpha is the ES tail probability in (0, 0.5), e.g. 0.025 for 97.5% ES; got {alpha!r}")
    alpha = float(alpha)
    test_level = _check_test_level(test_level)
    if not callable(sampler):
        raise TypeError(f"sampler must be a callable (rng, n_sim) -> array (n_sim, T), got {type(sampler).__name__}")
    if isinstance(n_sim, bool) or not isinstance(n_sim, numbers.Integral) or n_sim < 100:
        raise ValueError(f"n_sim must be an integer >= 100, got {n_sim!r}")
    rng = np.random.default_rng(seed)
    z1_obs, z2_obs, nt_obs = _as_stats(xa, va, ea, alpha)
    chunk = 256
    z1s, z2s = [], []
    done = 0
    while done < n_sim:
        m = min(chunk, n_sim - done)
        sims = np.asarray(sampler(rng, m), dtype=float)
        if sims.shape != (m, T):
            raise ValueError(f"sampler returned shape {sims.shape}, expected (n_sim, T) = ({m}, {T})")
        a, b, _ = _as_stats(sims, va, ea, alpha)
        z1s.append(a)
        z2s.append(b)
        done += m
    z1s, z2s = np.concatenate(z1s), np.concatenate(z2s)
    q = 1.0 - test_level

    def make(test, name, obs, sims):
        pv = (1.0 + np.count_nonzero(sims <= obs)) / (1.0 + n_sim)
        return HypothesisTestResult(
            test=test, name=name, statistic=float(obs), critical_value=float(np.quantile(sims, q)),
            p_value=float(pv), reject=bool(pv < q), n=T, exceptions=int(nt_obs), test_level=test_level,
            level=1.0 - alpha, reference=f"simulation (n_sim={n_sim})",
            details={"mean_simulated": float(sims.mean()), "sd_simulated": float(sims.std(ddof=1))},
        )

    return AcerbiSzekelyResult(
        z1=make("as_z1", "Acerbi-Szekely Z1 (conditional)", z1_obs, z1s),
        z2=make("as_z2", "Acerbi-Szekely Z2 (unconditional)", z2_obs, z2s),
    )


# --------------------------------------------------------------------------------------------
# rolling out-of-sample backtest
# --------------------------------------------------------------------------------------------
def _standardized_tail(dist, dparams: np.ndarray, tail: float) -> tuple[float, float]:
    """``(q, e)``: the ``tail``-quantile and the tail mean ``E[Z | Z <= q]`` of arch's standardized law."""
    q = float(np.asarray(dist.ppf(tail, dparams if dparams.size else None)).ravel()[0])
    name = dist.name
    if name == "Normal":
        return q, -float(stats.norm.pdf(q)) / tail
    if name == "Standardized Student's t":
        nu = float(dparams[0])
        s = math.sqrt((nu - 2.0) / nu)
        tq = q / s
        e_t = -(nu + tq * tq) / (nu - 1.0) * float(stats.t.pdf(tq, nu)) / tail
        return q, s * e_t

    def pdf(z: float) -> float:
        ll = dist.loglikelihood(dparams, np.array([z]), np.ones(1), individual=True)
        return float(np.exp(np.asarray(ll).ravel()[0]))

    val, _ = integrate.quad(lambda z: z * pdf(z), -np.inf, q, limit=200, epsabs=1e-12, epsrel=1e-10)
    return q, val / tail


@dataclass(frozen=True)
class BacktestResult:
    """Rolling out-of-sample VaR/ES backtest.

    Attributes
    ----------
    spec : dict
        Model and backtest settings (vol, dist, mean, window, refit_every, levels, dates, counts).
    forecasts : pandas.DataFrame
        Indexed by date: ``return`` (realised, percent log return), ``mu``, ``sigma`` (one-step
        conditional mean and volatility, percent), ``var_<lvl>``, ``es_<es_lvl>`` (positive losses,
        percent) and ``exception_<lvl>`` flags, for every out-of-sample day.
    tests : tuple of HypothesisTestResult
        Kupiec POF, Christoffersen independence and conditional coverage at each VaR level over the
        whole out-of-sample period, and the Acerbi–Szekely Z1/Z2 ES tests.
    traffic_light : TrafficLight
        Zone over the last ``traffic_light_days`` days at ``level``.
    refits : pandas.DataFrame
        One row per re-fit: first forecast date, estimation window dates, parameters, log-likelihood,
        convergence flag, which start was kept (``fresh`` or ``warm``) and the log-likelihood of each.
    """

    spec: dict[str, Any]
    forecasts: pd.DataFrame = field(repr=False)
    tests: tuple[HypothesisTestResult, ...]
    traffic_light: TrafficLight
    refits: pd.DataFrame = field(repr=False)

    @property
    def table(self) -> pd.DataFrame:
        """Summary table like MATLAB ``varbacktest``: one row per test.

        Columns: ``test``, ``level``, ``statistic``, ``critical_value``, ``p_value``, ``result``
        (accept/reject, or the traffic-light zone), ``n``, ``exceptions``, ``test_level``, ``reference``.
        The traffic-light row has the exception count as statistic, the largest green count as
        critical value and ``P(X >= exceptions)`` under ``Binomial(n, p)`` as p-value.
        """
        tl = self.traffic_light
        rows = [{
            "test": f"Basel traffic light (last {tl.n} days)", "level": 1.0 - tl.p, "statistic": float(tl.exceptions),
            "critical_value": float(tl.green_max), "p_value": float(stats.binom.sf(tl.exceptions - 1, tl.n, tl.p)),
            "result": tl.zone, "n": tl.n, "exceptions": tl.exceptions, "test_level": _GREEN_CDF,
            "reference": "binomial; multiplier " + ("n/a" if tl.multiplier is None else f"{tl.multiplier:.2f}"),
        }]
        for t in self.tests:
            rows.append({
                "test": t.name, "level": t.level, "statistic": t.statistic, "critical_value": t.critical_value,
                "p_value": t.p_value, "result": t.result, "n": t.n, "exceptions": t.exceptions,
                "test_level": t.test_level, "reference": t.reference,
            })
        return pd.DataFrame(rows)

    def test(self, name: str, level: float | None = None) -> HypothesisTestResult:
        """The test with machine name ``name`` (``"pof"``, ``"cci"``, ``"cc"``, ``"as_z1"``, ``"as_z2"``)."""
        for t in self.tests:
            if t.test == name and (level is None or (t.level is not None and math.isclose(t.level, level))):
                return t
        raise KeyError(f"no test {name!r} at level {level}; available: {[(t.test, t.level) for t in self.tests]}")

    def to_dict(self, *, include_series: bool = False) -> dict[str, Any]:
        """JSON-friendly dict: spec, tests, traffic light, refits; the daily series when asked."""
        out: dict[str, Any] = {
            "spec": {k: _py(v) for k, v in self.spec.items()},
            "tests": [t.to_dict() for t in self.tests],
            "traffic_light": self.traffic_light.to_dict(),
            "table": self.table.to_dict(orient="records"),
            "refits": _frame_records(self.refits),
        }
        if include_series:
            f = self.forecasts
            out["series"] = {"date": [_label(i) for i in f.index], **{c: [_py(v) for v in f[c].tolist()] for c in f.columns}}
        return out


def _label(x: Any) -> Any:
    if isinstance(x, (pd.Timestamp, np.datetime64)):
        return pd.Timestamp(x).date().isoformat() if pd.Timestamp(x) == pd.Timestamp(x).normalize() else pd.Timestamp(x).isoformat()
    return _py(x)


def _frame_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _label(v) for k, v in r.items()} for r in df.to_dict(orient="records")]


def _level_tag(level: float) -> str:
    return f"{100 * level:g}"


def rolling_var_backtest(
    returns: Any,
    *,
    window: int = 1000,
    refit_every: int = 20,
    level: float = 0.99,
    es_level: float = 0.975,
    vol: str = "gjr",
    dist: str = "t",
    mean: str = "constant",
    n_oos: int | None = None,
    traffic_light_days: int = 250,
    test_level: float = 0.95,
    n_sim: int = 1000,
    seed: int | np.random.SeedSequence | np.random.Generator | None = 0,
) -> BacktestResult:
    """Rolling out-of-sample 1-day VaR/ES backtest of a GARCH-family model on a real return series.

    Every ``refit_every`` days the model is re-estimated with ``arch.arch_model`` on the trailing
    ``window`` returns ``r_{s-window}, ..., r_{s-1}``, from arch's own starting values and from the
    previous window's estimates, keeping the better fit (converged, then higher likelihood); the parameters are then held fixed while the
    variance recursion filters the following days, and the forecast for day ``t`` (from
    ``ARCHModelResult.forecast``) uses returns up to ``t - 1`` only. The backcast comes from the
    estimation window; the only full-block quantity arch uses are its loose numerical variance
    bounds (a factor 1e6 around an EWMA variance), which do not bind for real data.

    VaR and ES are those of the fitted conditional law, ``VaR_t = -(mu_t + sigma_t q)`` and
    ``ES_t = -(mu_t + sigma_t E[Z | Z <= q])`` with ``q`` the standardized innovation quantile
    (closed forms for normal and Student-t, numerical integration for skew-t and GED).

    Tests: Kupiec POF, Christoffersen independence and conditional coverage at ``level`` and at
    ``es_level`` over all out-of-sample days; the Basel traffic light at ``level`` over the last
    ``traffic_light_days`` days; Acerbi–Szekely Z1 and Z2 for the ES at ``es_level`` with p-values from
    ``n_sim`` histories simulated from the fitted predictive distributions.

    Parameters
    ----------
    returns : pandas.Series or array of shape (n_obs,)
        Daily percent log returns (``100 * diff(log(price))``), oldest first; a Series with a
        DatetimeIndex gives dated output.
    window : int, default 1000
        Estimation window in days (>= 100).
    refit_every : int, default 20
        Days between re-fits (>= 1).
    level : float, default 0.99
        VaR confidence level of the main test (the Basel traffic light needs 0.99).
    es_level : float, default 0.975
        ES confidence level (VaR is also tested at this level).
    vol : str, default "gjr"
        A volatility family of :data:`simulator.families.VOL_FAMILIES` (arch's model of it): "garch"
        GARCH(1,1), "gjr" GJR-GARCH(1,1,1), "egarch" EGARCH(1,1,1), ...
    dist : {"normal", "t", "skewt", "ged"}, default "t"
        Innovation distribution.
    mean : {"constant", "zero"}, default "constant"
    n_oos : int, optional
        Backtest only the last ``n_oos`` days (default: every day after the first window).
    traffic_light_days : int, default 250
    test_level : float, default 0.95
    n_sim : int, default 1000
        Simulations for the Acerbi–Szekely p-values.
    seed : None, int, SeedSequence or Generator, default 0
        Randomness of those simulations (the fits are deterministic).

    Returns
    -------
    BacktestResult
    """
    from arch import arch_model
    from arch.utility.exceptions import ConvergenceWarning as ArchConvergenceWarning

    # ---- validation -------------------------------------------------------------------------
    if isinstance(returns, pd.DataFrame):
        if returns.shape[1] != 1:
            raise ValueError(f"returns must be one series; got a DataFrame with columns {list(returns.columns)}")
        returns = returns.iloc[:, 0]
    if isinstance(returns, pd.Series):
        series = returns.astype(float)
    else:
        arr = np.asarray(returns)
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.number):
            raise TypeError(f"returns must be a pandas Series or a 1-D numeric array, got {type(returns).__name__} {arr.shape}")
        series = pd.Series(arr.astype(float))
    y = series.to_numpy()
    if not np.all(np.isfinite(y)):
        i = int(np.argmax(~np.isfinite(y)))
        raise ValueError(f"returns has a missing or non-finite value at {_label(series.index[i])} (position {i}); drop or fill it")

    def _int(name, v, lo):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
        return int(v)

    window = _int("window", window, 100)
    refit_every = _int("refit_every", refit_every, 1)
    traffic_light_days = _int("traffic_light_days", traffic_light_days, 1)
    for nm, v in (("level", level), ("es_level", es_level)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0.5 < float(v) < 1.0:
            raise ValueError(f"{nm} must be a confidence level in (0.5, 1), e.g. 0.99, got {v!r}")
    level, es_level = float(level), float(es_level)
    test_level = _check_test_level(test_level)
    if vol not in VOL_FAMILIES:
        raise ValueError(f"vol must be one of {sorted(VOL_FAMILIES)}, got {vol!r}")
    if dist not in _DISTS:
        raise ValueError(f"dist must be one of {sorted(_DISTS)}, got {dist!r}")
    if mean not in _MEANS:
        raise ValueError(f"mean must be one of {sorted(_MEANS)}, got {mean!r}")
    n_obs = y.size
    if n_oos is None:
        start = window
    else:
        n_oos = _int("n_oos", n_oos, 2)
        start = n_obs - n_oos
    if start < window or start >= n_obs - 1:
        raise ValueError(
            f"returns has {n_obs} observations: need window ({window}) + at least 2 out-of-sample days"
            + ("" if n_oos is None else f", and n_oos ({n_oos}) <= {max(n_obs - window, 0)}")
        )
    sd_y = float(np.std(y))
    if sd_y == 0.0:
        raise ValueError("returns are constant; a volatility model cannot be fitted")
    if sd_y < 0.05 or sd_y > 50.0:
        warnings.warn(
            f"returns have standard deviation {sd_y:.3g}; rolling_var_backtest expects daily percent log "
            "returns (100 * diff(log(price)), typically 0.3-3). Decimal returns must be multiplied by 100.",
            UserWarning,
            stacklevel=2,
        )

    # ---- rolling fits -----------------------------------------------------------------------
    T = n_obs - start
    mu = np.empty(T)
    sig = np.empty(T)
    var_main = np.empty(T)
    var_es = np.empty(T)
    es_arr = np.empty(T)
    blocks: list[tuple[int, int, Any, np.ndarray]] = []  # (lo, hi, dist, dparams) in OOS index
    refit_rows = []
    prev_params = None
    for s in range(start, n_obs, refit_every):
        b = min(refit_every, n_obs - s)
        data = y[s - window: s + b - 1]
        am = arch_model(data, mean=_MEANS[mean], dist=_DISTS[dist], rescale=False, **VOL_FAMILIES[vol].arch)
        # a fresh start (arch's own starting values) and a warm start (the previous window's estimates):
        # keep the better, converged first, then the higher likelihood. A warm start alone can stay in a
        # poor optimum for hundreds of refits (a Student-t nu stuck near 300 where a fresh fit finds 6-9).
        res, chosen, lls = None, None, {}
        for start_kind, sv in (("fresh", None), ("warm", prev_params)):
            if start_kind == "warm" and sv is None:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ArchConvergenceWarning)
                warnings.simplefilter("ignore", RuntimeWarning)
                try:
                    attempt = am.fit(disp="off", last_obs=window, starting_values=sv, show_warning=False)
                except (ValueError, np.linalg.LinAlgError):
                    continue
            ll = float(attempt.loglikelihood) if np.isfinite(attempt.loglikelihood) else -np.inf
            lls[start_kind] = ll
            key = (attempt.convergence_flag == 0, ll)
            if res is None or key > (res.convergence_flag == 0, float(res.loglikelihood)):
                res, chosen = attempt, start_kind
        if res is None:
            raise RuntimeError(f"arch failed to fit the {vol}/{dist} model on the window ending {_label(series.index[s - 1])}")
        params = res.params.to_numpy()
        prev_params = params
        fc = res.forecast(horizon=1, start=window - 1, reindex=False)
        m_t = fc.mean.to_numpy()[:b, 0]
        v_t = fc.variance.to_numpy()[:b, 0]
        if m_t.shape[0] != b:
            raise RuntimeError(f"arch returned {m_t.shape[0]} one-step forecasts for a block of {b} days")
        d = am.distribution
        k = d.num_params
        dp = params[len(params) - k:] if k else np.empty(0)
        q_main, _ = _standardized_tail(d, dp, 1.0 - level)
        q_es, e_es = _standardized_tail(d, dp, 1.0 - es_level)
        lo, hi = s - start, s - start + b
        sd = np.sqrt(v_t)
        mu[lo:hi] = m_t
        sig[lo:hi] = sd
        var_main[lo:hi] = -(m_t + sd * q_main)
        var_es[lo:hi] = -(m_t + sd * q_es)
        es_arr[lo:hi] = -(m_t + sd * e_es)
        blocks.append((lo, hi, d, dp))
        refit_rows.append({
            "first_forecast": series.index[s], "window_start": series.index[s - window], "window_end": series.index[s - 1],
            **{str(k_): float(v) for k_, v in res.params.items()},
            "loglik": float(res.loglikelihood), "converged": bool(res.convergence_flag == 0),
            "start": chosen, "loglik_fresh": lls.get("fresh"), "loglik_warm": lls.get("warm"),
        })

    # ---- tests ------------------------------------------------------------------------------
    def sampler(rng: np.random.Generator, m: int) -> np.ndarray:
        z = np.empty((m, T))
        u = rng.random((m, T))
        for lo, hi, d, dp in blocks:
            z[:, lo:hi] = np.asarray(d.ppf(u[:, lo:hi].ravel(), dp if dp.size else None)).reshape(m, hi - lo)
        return mu + sig * z

    refits = pd.DataFrame(refit_rows)
    spec = {
        "model": f"{vol}/{dist}/{mean}", "vol": vol, "dist": dist, "mean": mean, "window": window,
        "refit_every": refit_every, "n_refits": len(refit_rows),
        "n_not_converged": int((~refits["converged"]).sum()),
        "units": "percent log returns; VaR/ES as positive losses",
    }
    return evaluate_forecasts(series.iloc[start:], var_main, var_es, es_arr, level=level, es_level=es_level,
                              sampler=sampler, spec=spec, refits=refits, extra={"mu": mu, "sigma": sig},
                              traffic_light_days=traffic_light_days, test_level=test_level, n_sim=n_sim, seed=seed)


def evaluate_forecasts(
    realised: pd.Series,
    var: np.ndarray,
    var_es_level: np.ndarray,
    es: np.ndarray,
    *,
    level: float,
    es_level: float,
    sampler: Callable[[np.random.Generator, int], np.ndarray],
    spec: Mapping[str, Any],
    refits: pd.DataFrame,
    extra: Mapping[str, np.ndarray] | None = None,
    traffic_light_days: int = 250,
    test_level: float = 0.95,
    n_sim: int = 1000,
    seed: int | np.random.SeedSequence | np.random.Generator | None = 0,
) -> BacktestResult:
    """Backtest daily VaR/ES forecasts against realised returns: every test of :class:`BacktestResult`.

    Parameters
    ----------
    realised : pandas.Series of shape (T,)
        Realised returns (or P&L) of the out-of-sample days, gains positive.
    var, var_es_level, es : arrays of shape (T,)
        VaR at ``level``, VaR at ``es_level`` and ES at ``es_level``, positive losses in the units of
        ``realised``, each forecast with information up to the day before.
    level, es_level : float
        Confidence levels (e.g. 0.99 and 0.975).
    sampler : callable ``(rng, n_sim) -> ndarray of shape (n_sim, T)``
        Draws histories from the forecasting model's daily predictive laws (Acerbi-Szekely p-values).
    spec : mapping
        The model and settings; dates, counts and levels are added.
    refits : DataFrame
        One row per re-estimation.
    extra : mapping of str to array of shape (T,), optional
        More daily columns for ``forecasts`` (e.g. ``mu`` and ``sigma``).
    traffic_light_days, test_level, n_sim, seed
        As in :func:`rolling_var_backtest`.
    """
    x = realised.to_numpy(dtype=float)
    idx = realised.index
    T = x.size
    var_main, var_es, es_arr = (np.asarray(a, dtype=float) for a in (var, var_es_level, es))
    exc_main = x < -var_main
    exc_es = x < -var_es
    tests = [
        kupiec_pof(exc_main, 1.0 - level, test_level=test_level),
        christoffersen_independence(exc_main, test_level=test_level),
        conditional_coverage(exc_main, 1.0 - level, test_level=test_level),
    ]
    tests[1] = _with_level(tests[1], level)
    if not math.isclose(level, es_level):
        tests += [
            kupiec_pof(exc_es, 1.0 - es_level, test_level=test_level),
            _with_level(christoffersen_independence(exc_es, test_level=test_level), es_level),
            conditional_coverage(exc_es, 1.0 - es_level, test_level=test_level),
        ]
    tests += list(acerbi_szekely(x, var_es, es_arr, 1.0 - es_level, sampler=sampler, n_sim=n_sim, seed=seed,
                                 test_level=test_level))
    n_tl = min(traffic_light_days, T)
    tl = traffic_light(int(exc_main[-n_tl:].sum()), n=n_tl, p=1.0 - level)

    lt, et = _level_tag(level), _level_tag(es_level)
    cols: dict[str, Any] = {"return": x, **{k: np.asarray(v) for k, v in (extra or {}).items()}, f"var_{lt}": var_main}
    if not math.isclose(level, es_level):
        cols[f"var_{et}"] = var_es
    cols[f"es_{et}"] = es_arr
    cols[f"exception_{lt}"] = exc_main
    if not math.isclose(level, es_level):
        cols[f"exception_{et}"] = exc_es
    forecasts = pd.DataFrame(cols, index=idx)
    full = dict(spec)
    full.update({
        "level": level, "es_level": es_level, "n_oos": T, "first_oos": _label(idx[0]), "last_oos": _label(idx[-1]),
        "exceptions": int(exc_main.sum()), "expected_exceptions": T * (1.0 - level),
        "exceptions_es_level": int(exc_es.sum()), "traffic_light_days": n_tl, "n_sim": n_sim,
    })
    full.setdefault("units", "percent log returns; VaR/ES as positive losses")
    return BacktestResult(spec=full, forecasts=forecasts, tests=tuple(tests), traffic_light=tl, refits=refits)


def _with_level(t: HypothesisTestResult, level: float) -> HypothesisTestResult:
    from dataclasses import replace

    return replace(t, level=level)
