"""Per-asset marginal fits: constant mean × GARCH / GJR / EGARCH (order 1) × normal / t / skew-t (via ``arch``),
GARCH-EVT (``evt``) or filtered-historical (``fhs``) innovations.

Parameter names and meanings follow ``arch`` with returns in percent (see :mod:`simulator.model`):
``mu``; ``omega``, ``alpha``, ``gamma``, ``beta``; ``nu`` (Student-t degrees of freedom, arch's ``nu`` or
SkewStudent's ``eta``) and ``lambda`` (SkewStudent's skewness).

:func:`fit_marginal` fits one series. With ``vol="auto"`` and/or ``dist="auto"`` it fits every combination
and keeps the one with the lowest BIC among those that converged and are covariance-stationary; every
candidate is reported. ``init="sample"`` starts the variance recursion at the sample variance of the
demeaned series (the convention of the Fiorentini-Calzolari-Panattoni benchmark); ``init="arch"`` keeps
arch's default backcast (an exponentially weighted average of the first squared residuals).

``evt`` and ``fhs`` are estimated in two steps (McNeil and Frey 2000): the same volatility's skew-t fit by
arch is the filter, and the law is estimated on its standardised residuals ``z_t``. ``evt`` keeps the
skew-t as the body and replaces each tail beyond a threshold (``evt_tail_fraction`` of the residuals,
0.10 as in McNeil-Frey) by a generalised Pareto law fitted by maximum likelihood to the exceedances,
shape capped at ``EVT_XI_MAX`` = 0.45 (a GPD has a finite variance only for xi < 1/2; the cap keeps the
re-standardisation away from that edge). Its log-likelihood is the model's own, so it joins the BIC
comparison (see :func:`_derive_law` for the parameter count). ``fhs`` is a Gaussian-kernel law of
``fhs_centres`` residual bin means; it is chosen only explicitly (see :func:`fit_marginal`). Both are
stored as parameters only, re-standardised exactly (:class:`simulator.model.DistSpec`).

Non-convergence and non-stationarity are never silent: :class:`simulator.exceptions.ConvergenceWarning`
and :class:`simulator.exceptions.StationarityWarning` are emitted, and the flags are stored in the result.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from simulator.exceptions import ConvergenceWarning, StationarityWarning
from simulator.families import LAWS, VOL_FAMILIES

__all__ = [
    "VOL_TYPES",
    "DIST_TYPES",
    "AUTO_DIST_TYPES",
    "MarginalFit",
    "fit_marginal",
    "ljung_box",
    "innovation_cdf",
]

#: every volatility family a fit accepts (:data:`simulator.families.VOL_FAMILIES`), and those ``vol="auto"`` tries
VOL_TYPES = tuple(VOL_FAMILIES)
AUTO_VOL_TYPES = tuple(name for name, f in VOL_FAMILIES.items() if f.auto)
#: every innovation law a fit accepts (:data:`simulator.families.LAWS`; fhs only when named), and those
#: ``dist="auto"`` compares by BIC
DIST_TYPES = tuple(LAWS)
AUTO_DIST_TYPES = tuple(name for name, law in LAWS.items() if law.auto)
#: laws estimated on the standardised residuals of an arch fit (two steps), and that fit's law
DERIVED_DIST_TYPES = tuple(name for name, law in LAWS.items() if law.base)
_BASE_DIST = {name: law.base for name, law in LAWS.items() if law.base}
EVT_TAIL_FRACTION = 0.10  # McNeil and Frey (2000): k = 100 of n = 1000
EVT_XI_MAX = 0.45  # GPD shape cap, below the finite-variance limit 1/2
EVT_MIN_EXCEEDANCES = 10
EVT_EXTRA_PARAMS = 6  # per tail: threshold, xi, beta
FHS_CENTRES = 200
FHS_MIN_PER_CENTRE = 10
INIT_TYPES = ("arch", "sample")
LB_LAGS = (5, 10, 20)
MAX_ITER = 1000
NEAR_INTEGRATED = 0.999  # persistence above this (half-life > 693 days) triggers a StationarityWarning


# ---------------------------------------------------------------------- arch, through the registries
def _arch_model(y: np.ndarray, vol: str, dist: str):
    """arch's constant-mean model of ``vol`` (its registry entry's ``arch`` arguments) and arch law ``dist``."""
    from arch import arch_model

    return arch_model(y, mean="Constant", dist=LAWS[dist].arch, rescale=False, **VOL_FAMILIES[vol].arch)


def _model_names(res_params: pd.Series, vol: str, dist: str) -> dict[str, float]:
    """arch's estimates under the model-file names (``mu``, the family's, the law's)."""
    names = {"mu": "mu", **VOL_FAMILIES[vol].arch_names, **LAWS[dist].arch_names}
    return {names[k]: float(v) for k, v in res_params.items()}


def _arch_distribution(dist: str):
    import arch.univariate

    return getattr(arch.univariate, LAWS[dist].arch_class)()


def _dist_params(dist: str, params: dict[str, float]) -> list[float]:
    return [params[name] for name in LAWS[dist].params]


class _FitLaw:
    """The moments of a fitted innovation law that volatility families need (:class:`simulator.families.LawMoments`):
    arch's own for arch's laws, the model's (:class:`simulator.model.DistSpec`) for evt and fhs."""

    def __init__(self, dist: str, params: dict[str, float]) -> None:
        self.dist, self.params = dist, params

    def neg_sq_mass(self) -> float:
        return _neg_sq_mass(self.dist, self.params)

    def abs_mean(self) -> float:
        if self.dist in DERIVED_DIST_TYPES:
            from simulator.tables import marginal_abs_mean

            return float(marginal_abs_mean(_law_spec(self.dist, self.params)))
        d = _arch_distribution(self.dist)
        dp = _dist_params(self.dist, self.params) or None
        return float(d.moment(1, dp) - 2.0 * d.partial_moment(1, 0.0, dp))

    def expect(self, fn) -> float:
        return _law_spec(self.dist, self.params).expect(fn)


def innovation_cdf(z: np.ndarray, dist: str, params: dict[str, float]) -> np.ndarray:
    """CDF of the standardised innovation law at ``z`` (arch's ``Distribution.cdf``).

    Parameters
    ----------
    z : ndarray
        Standardised residuals.
    dist : {"normal", "t", "skewt", "evt", "fhs"}
    params : dict
        Must hold ``nu`` (t, skewt) and ``lambda`` (skewt); evt and fhs: their model-file parameters
        (:class:`simulator.model.DistSpec`), evaluated by :func:`simulator.tables.marginal_cdf`.
    """
    if dist in DERIVED_DIST_TYPES:
        from simulator.tables import marginal_cdf

        return np.asarray(marginal_cdf(np.asarray(z, dtype=float), _law_spec(dist, params)), dtype=float)
    return np.asarray(_arch_distribution(dist).cdf(np.asarray(z, dtype=float), _dist_params(dist, params) or None),
                      dtype=float)


def _neg_sq_mass(dist: str, params: dict[str, float]) -> float:
    """``E[z^2 1{z<0}]`` under the innovation law (1/2 for symmetric laws)."""
    if dist in DERIVED_DIST_TYPES:
        return float(_law_spec(dist, params).neg_sq_mass())
    if dist != "skewt":
        return 0.5
    return float(_arch_distribution(dist).partial_moment(2, 0.0, _dist_params(dist, params)))


def _persistence(vol: str, dist: str, params: dict[str, float]) -> float:
    return VOL_FAMILIES[vol].persistence(params, _FitLaw(dist, params))


def ljung_box(x: np.ndarray, lags: Iterable[int] = LB_LAGS) -> dict[str, list[float]]:
    """Ljung–Box portmanteau test ``Q(h) = n (n + 2) sum_{k<=h} rho_k^2 / (n - k)``, chi-square with h dof.

    Parameters
    ----------
    x : ndarray of shape (n,)
    lags : iterable of int

    Returns
    -------
    dict with ``lags``, ``stat`` and ``pvalue`` lists (one entry per lag).
    """
    x = np.asarray(x, dtype=float)
    lags = [int(h) for h in lags]
    n = x.size
    xc = x - x.mean()
    denom = float(xc @ xc)
    hmax = max(lags)
    if n <= hmax + 1 or denom == 0.0:
        return {"lags": lags, "stat": [float("nan")] * len(lags), "pvalue": [float("nan")] * len(lags)}
    acf = np.array([float(xc[k:] @ xc[:-k]) / denom for k in range(1, hmax + 1)])
    terms = np.cumsum(acf**2 / (n - np.arange(1, hmax + 1))) * n * (n + 2)
    stat = [float(terms[h - 1]) for h in lags]
    pval = [float(stats.chi2.sf(s, h)) for s, h in zip(stat, lags)]
    return {"lags": lags, "stat": stat, "pvalue": pval}


@dataclass(frozen=True)
class MarginalFit:
    """A fitted marginal: the selected model, its diagnostics and its residual series.

    Attributes
    ----------
    vol, dist : str
        Selected volatility process and innovation law.
    params, std_err : dict of str to float
        Estimates and robust (Bollerslev–Wooldridge) standard errors, model parameter names
        (``mu``, ``omega``, ``alpha``, [``gamma``], ``beta``, [``nu``], [``lambda``]); percent units.
        evt adds its tail parameters (GPD ``xi_*``/``beta_*`` with asymptotic standard errors,
        thresholds and tail probabilities without); fhs has ``centres`` (a list) and ``bandwidth``
        instead of ``nu``/``lambda`` (the filter's skew-t values are in ``law_fit["filter_law"]``).
    loglik, aic, bic : float
    nobs, n_params : int
    converged : bool
        The optimiser reported success.
    optimizer_message : str
    persistence : float
        GARCH: alpha + beta; GJR: alpha + gamma E[z^2 1{z<0}] + beta; EGARCH: |beta|.
    half_life : float
        Days for a variance shock to halve, ``ln(0.5) / ln(persistence)`` (inf if persistence >= 1).
    long_run_variance : float
        GARCH/GJR: ``omega / (1 - persistence)`` (percent^2); EGARCH: ``exp(E[ln sigma2])``.
    stationary : bool
    ljung_box : dict
        ``{"z": ..., "z2": ...}`` Ljung–Box results on standardised and squared standardised residuals.
    init : {"arch", "sample"}
    backcast : float or None
        The variance used to start the recursion (None: arch's default).
    std_resid, sigma2, resid : Series of shape (nobs,)
        Standardised residuals ``z_t``, conditional variances and residuals ``r_t - mu``, indexed as the input.
    candidates : list of dict
        Every (vol, dist) fitted, with loglik, AIC, BIC, convergence, persistence, stationarity, selection.
    issues : list of str
        Warnings raised during the fit (also emitted as Python warnings).
    """

    vol: str
    dist: str
    params: dict[str, float]
    std_err: dict[str, float]
    loglik: float
    aic: float
    bic: float
    nobs: int
    n_params: int
    converged: bool
    optimizer_message: str
    persistence: float
    half_life: float
    long_run_variance: float
    stationary: bool
    ljung_box: dict[str, Any]
    init: str
    backcast: float | None
    std_resid: pd.Series
    sigma2: pd.Series
    resid: pd.Series
    candidates: list[dict[str, Any]] = field(default_factory=list)
    issues: list[str] = field(default_factory=list)
    #: log-likelihood reached from each start tried (``fresh``: arch's starting values; ``warm``: the
    #: ``warm_start`` fit's estimates), and which one was kept
    starts: dict[str, float] = field(default_factory=dict)
    start: str = "fresh"
    #: evt / fhs: how the law was estimated on the filter's residuals (filter, exceedances, GPD fits,
    #: the spliced law's mean and sd before re-standardisation); empty for arch's own laws
    law_fit: dict[str, Any] = field(default_factory=dict)

    def spec(self) -> dict:
        """The marginal in the model-file format: ``{"mean": ..., "vol": ..., "dist": ...}``."""
        p = self.params
        vol = {"type": self.vol, **{k: p[k] for k in VOL_FAMILIES[self.vol].params}}
        dist = {"type": self.dist, **{k: p[k] for k in LAWS[self.dist].params}}
        return {"mean": {"mu": p["mu"]}, "vol": vol, "dist": dist}

    def cdf(self, z: np.ndarray) -> np.ndarray:
        """CDF of the fitted innovation law at standardised residuals ``z`` (the PIT)."""
        return innovation_cdf(z, self.dist, self.params)

    def pit(self) -> pd.Series:
        """Probability integral transform of the fitted standardised residuals, in (0, 1)."""
        return pd.Series(self.cdf(self.std_resid.to_numpy()), index=self.std_resid.index, name=self.std_resid.name)

    @property
    def last_sigma2(self) -> float:
        """Conditional variance of the last observation (percent^2)."""
        return float(self.sigma2.iloc[-1])

    @property
    def last_resid(self) -> float:
        """Residual ``r - mu`` of the last observation (percent)."""
        return float(self.resid.iloc[-1])

    def to_dict(self) -> dict:
        """Diagnostics as a JSON-ready dict (no series), for the model's provenance."""
        return _jsonable({
            "vol": self.vol,
            "dist": self.dist,
            "params": self.params,
            "std_err": self.std_err,
            "std_err_type": "robust (Bollerslev-Wooldridge)",
            "loglik": self.loglik,
            "aic": self.aic,
            "bic": self.bic,
            "nobs": self.nobs,
            "n_params": self.n_params,
            "converged": self.converged,
            "optimizer_message": self.optimizer_message,
            "persistence": self.persistence,
            "half_life_days": self.half_life,
            "long_run_variance": self.long_run_variance,
            "stationary": self.stationary,
            "ljung_box": self.ljung_box,
            "init": self.init,
            "backcast": self.backcast,
            "selection": "BIC among converged candidates with persistence < 0.9999",
            "candidates": self.candidates,
            "issues": self.issues,
            **({"law_fit": self.law_fit} if self.law_fit else {}),
        })


def _jsonable(obj: Any) -> Any:
    """Plain-Python, strict-JSON copy: numpy scalars to Python, non-finite floats to None."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    return obj


# ---------------------------------------------------------------------- validation
def _choices(value: Any, allowed: tuple[str, ...], name: str,
             auto: tuple[str, ...] | None = None) -> tuple[str, ...]:
    if isinstance(value, str):
        if value == "auto":
            return allowed if auto is None else auto
        if value in allowed:
            return (value,)
        raise ValueError(f"{name} must be 'auto' or one of {', '.join(map(repr, allowed))}; got {value!r}")
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        bad = [v for v in value if v not in allowed]
        if bad:
            raise ValueError(f"{name}: unknown type(s) {', '.join(map(repr, bad))}; "
                             f"valid: {', '.join(map(repr, allowed))}")
        return tuple(dict.fromkeys(value))
    raise TypeError(f"{name} must be 'auto', a type name or a list of type names; got {value!r}")


def _validate_returns(returns: Any, name: str = "returns") -> tuple[np.ndarray, pd.Index, str]:
    if isinstance(returns, pd.DataFrame):
        if returns.shape[1] != 1:
            raise ValueError(f"{name} must be one series; got a DataFrame with {returns.shape[1]} columns")
        returns = returns.iloc[:, 0]
    if isinstance(returns, pd.Series):
        label = str(returns.name) if returns.name is not None else name
        index = returns.index
        values = returns.to_numpy(dtype=float, na_value=np.nan)
    else:
        try:
            values = np.asarray(returns, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a 1-d array or pandas Series of numbers") from None
        label = name
        index = pd.RangeIndex(values.shape[0] if values.ndim else 0)
    if values.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {values.shape}")
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{label}: non-finite return {float(values[i])!r} at {index[i]!s}")
    if values.size < 100:
        raise ValueError(f"{label}: {values.size} returns are too few for a GARCH fit; at least 100 are needed")
    if float(np.var(values)) == 0.0:
        raise ValueError(f"{label}: returns are constant; nothing to fit")
    return values, index, label


# ---------------------------------------------------------------------- core (arrays only; runs in workers)
def _fit_candidate(y: np.ndarray, vol: str, dist: str, backcast: float | None, tol: float | None,
                   want_cov: bool, starting_values: np.ndarray | None = None,
                   max_iter: int = MAX_ITER) -> dict[str, Any]:
    """Fit one (vol, dist) combination with arch; plain-data result (picklable).

    If SLSQP stops without success it is restarted once from where it stopped (with arch's default
    tolerance), which rescues most iteration-limit stops on short samples.
    """
    model = _arch_model(y, vol, dist)
    caught: list[str] = []
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        res = model.fit(disp="off", tol=tol, options={"maxiter": max_iter}, backcast=backcast,
                        starting_values=starting_values)
        if res.convergence_flag != 0:
            retry = model.fit(disp="off", tol=None, options={"maxiter": max_iter}, backcast=backcast,
                              starting_values=np.asarray(res.params))
            if retry.convergence_flag == 0 or retry.loglikelihood > res.loglikelihood:
                res = retry
        se = None
        if want_cov:
            try:
                se = res.std_err
            except np.linalg.LinAlgError:  # a singular Hessian (e.g. a parameter at its bound): no SEs
                se = pd.Series(np.nan, index=res.params.index)
                caught.append("singular Hessian: standard errors unavailable")
    for item in w:
        caught.append(f"{item.category.__name__}: {item.message}")
    params = _model_names(res.params, vol, dist)
    out: dict[str, Any] = {
        "vol": vol,
        "dist": dist,
        "params": params,
        "arch_params": np.asarray(res.params, dtype=float),
        "loglik": float(res.loglikelihood),
        "aic": float(res.aic),
        "bic": float(res.bic),
        "nobs": int(res.nobs),
        "n_params": int(res.num_params),
        "converged": bool(res.convergence_flag == 0 and np.isfinite(res.loglikelihood)),
        "optimizer_message": str(res.optimization_result.message),
        # arch's own ConvergenceWarning duplicates the converged flag, which is reported on its own
        "arch_warnings": [c for c in caught if not c.startswith("ConvergenceWarning")],
    }
    out["persistence"] = _persistence(vol, dist, params)
    if want_cov:
        out["std_err"] = _model_names(se, vol, dist)
    out["sigma2"] = np.asarray(res.conditional_volatility, dtype=float) ** 2
    out["resid"] = np.asarray(res.resid, dtype=float)
    return out


#: persistence from which a fit is unusable for forecasting (variance half-life above 6,900 days): an EGARCH
#: beta of 0.99999 on a calm window gave one-day 99 % VaRs of 87 % two windows later
USABLE_PERSISTENCE = 0.9999


def _usable(c: dict[str, Any], floor: float) -> bool:
    """A fit a forecast can rest on: finite, not below an i.i.d. normal's likelihood (which every model
    here nests: lower means the optimiser failed) and clearly stationary."""
    return bool(np.isfinite(c["loglik"]) and c["loglik"] >= floor and c["persistence"] < USABLE_PERSISTENCE)


def _rank(c: dict[str, Any], floor: float) -> tuple:
    """Sort key of fits of the same model: usable first, then the higher log-likelihood, then converged."""
    ll = c["loglik"] if np.isfinite(c["loglik"]) else -np.inf
    return (_usable(c, floor), ll, c["converged"])


def _better(a: dict[str, Any], b: dict[str, Any], floor: float = -np.inf) -> dict[str, Any]:
    """The better of two fits of the same model (see :func:`_rank`)."""
    return b if _rank(b, floor) > _rank(a, floor) else a


def _fit_from_starts(y: np.ndarray, vol: str, dist: str, backcast: float | None, tol: float | None,
                     want_cov: bool, warm: np.ndarray | None, max_iter: int) -> dict[str, Any]:
    """Fit from arch's own starting values (a grid search: the fresh start) and, when given, from
    ``warm`` (e.g. the previous window's estimates); keep the best usable fit, by log-likelihood.

    A warm start alone can stay in a poor local optimum for hundreds of refits (a Student-t nu stuck
    near 300 while a fresh fit finds 6-9), so it is never used alone. arch's optimiser also fails
    outright on some windows (EGARCH on calm 2003-2007 data: log-likelihoods of -5,000 to -1e11 where
    -1,050 is reached, from every start), and converges to near-unit-root EGARCH fits there. So the
    candidates are ranked usable first (:func:`_usable`); the warm estimates held fixed on this sample
    are a candidate too (kept when re-estimation fails: the last good estimates), and a fit still below
    an i.i.d. normal's likelihood goes through the nested smaller law (:func:`_nested_rescue`).
    """
    floor = _iid_normal_loglik(y)
    fit = _fit_candidate(y, vol, dist, backcast, tol, want_cov, max_iter=max_iter)
    fit["start"] = "fresh"
    starts = {"fresh": fit["loglik"]}
    if warm is not None:
        try:
            other = _fit_candidate(y, vol, dist, backcast, tol, want_cov, starting_values=warm, max_iter=max_iter)
        except (ValueError, np.linalg.LinAlgError):
            other = None
        if other is not None:
            other["start"] = "warm"
            starts["warm"] = other["loglik"]
            fit = _better(fit, other, floor)
        held = _held_candidate(y, vol, dist, warm, want_cov) if backcast is None else None
        if held is not None:
            starts["held"] = held["loglik"]
            fit = _better(fit, held, floor)
    if dist in _SMALLER_DIST and not _usable(fit, floor):
        rescue = _nested_rescue(y, vol, dist, backcast, tol, want_cov, max_iter)
        starts["nested"] = rescue["loglik"]
        fit = _better(fit, rescue, floor)
    fit["starts"] = starts
    return fit


#: the law each law nests (at nu = infinity, lambda = 0), for rescuing a failed optimisation
_SMALLER_DIST = {name: law.nests for name, law in LAWS.items() if law.nests}


def _iid_normal_loglik(y: np.ndarray) -> float:
    """Log-likelihood of an i.i.d. normal with the sample mean and variance: a floor every fit here nests."""
    v = float(np.var(y))
    return -0.5 * y.size * (math.log(2.0 * math.pi * v) + 1.0)


def _nested_rescue(y: np.ndarray, vol: str, dist: str, backcast: float | None, tol: float | None,
                   want_cov: bool, max_iter: int) -> dict[str, Any]:
    """Fit the nested smaller law (itself rescued if needed), start ``dist`` from its estimates, and if that
    optimisation ends lower still, hold the smaller law's estimates (extra parameters at their null), whose
    likelihood is the smaller law's."""
    small = _fit_from_starts(y, vol, _SMALLER_DIST[dist], backcast, tol, False, None, max_iter)
    pars = {"nu": 300.0, **small["params"]}
    pars["nu"] = min(pars["nu"], 300.0)  # arch's bounds: Student-t nu < 500, SkewStudent eta < 300
    start = _arch_vector(vol, dist, pars)
    big = _fit_candidate(y, vol, dist, backcast, tol, want_cov, starting_values=start, max_iter=max_iter)
    big["start"] = "nested"
    if (big["loglik"] >= small["loglik"] and _usable(big, _iid_normal_loglik(y))) or backcast is not None:
        return big
    held = _held_candidate(y, vol, dist, start, want_cov)
    held["start"] = "nested (held)"
    held["optimizer_message"] = (f"{vol}/{_SMALLER_DIST[dist]} estimates held with the extra parameters at their "
                                 f"null: every {vol}/{dist} optimisation ended at a lower likelihood")
    return held


def _refit_with_cov(y: np.ndarray, cand: dict[str, Any], backcast: float | None, tol: float | None,
                    max_iter: int) -> dict[str, Any]:
    """``cand`` again with standard errors and series: re-optimised from its own estimates, or, when that
    ends lower (the optimiser leaving the region, as in :func:`_fit_from_starts`), its estimates held."""
    refit = _fit_candidate(y, cand["vol"], cand["dist"], backcast, tol, want_cov=True,
                           starting_values=cand["arch_params"], max_iter=max_iter)
    if refit["loglik"] >= cand["loglik"] - 1e-6 or backcast is not None:
        return refit
    held = _held_candidate(y, cand["vol"], cand["dist"], cand["arch_params"], want_cov=True)
    held["optimizer_message"] = cand.get("optimizer_message", held["optimizer_message"])
    return held


def _held_candidate(y: np.ndarray, vol: str, dist: str, params: np.ndarray, want_cov: bool) -> dict[str, Any]:
    """``params`` held fixed on ``y`` (arch's ``fix``, with arch's default backcast): a candidate with their
    log-likelihood, marked not converged (no optimisation ran)."""
    res = _arch_model(y, vol, dist).fix(np.asarray(params, dtype=float))
    names = list(res.params.index)
    pars = _model_names(res.params, vol, dist)
    out: dict[str, Any] = {
        "vol": vol, "dist": dist, "params": pars, "arch_params": np.asarray(res.params, dtype=float),
        "loglik": float(res.loglikelihood), "aic": float(res.aic), "bic": float(res.bic), "nobs": int(res.nobs),
        "n_params": len(names), "converged": False,
        "optimizer_message": "warm-start estimates held: both optimisations ended at a lower likelihood",
        "arch_warnings": [], "start": "held", "persistence": _persistence(vol, dist, pars),
    }
    if want_cov:
        out["std_err"] = {k: float("nan") for k in pars}
        out["sigma2"] = np.asarray(res.conditional_volatility, dtype=float) ** 2
        out["resid"] = np.asarray(res.resid, dtype=float)
    return out


def _nested_start(small: dict[str, Any], big_vol: str, big_dist: str) -> np.ndarray:
    """Starting values for a model that nests ``small`` (same fit plus the extra parameter at its null)."""
    return _arch_vector(big_vol, big_dist, small["params"])


# (smaller, larger) pairs where the larger model contains the smaller one: the laws each law nests, within
# every family, then the families each family nests, for every arch law (from the registries)
_ARCH_LAWS = tuple(name for name, law in LAWS.items() if law.arch)
_NESTED = [((v, LAWS[d].nests), (v, d)) for v in VOL_FAMILIES for d in _ARCH_LAWS if LAWS[d].nests] + [
    ((small, d), (v, d)) for v, fam in VOL_FAMILIES.items() for small in fam.nests for d in _ARCH_LAWS]


# ---------------------------------------------------------------------- evt and fhs: the second step
def _law_options(options: dict[str, Any] | None) -> dict[str, Any]:
    out = {"evt_tail_fraction": EVT_TAIL_FRACTION, "fhs_centres": FHS_CENTRES}
    out.update(options or {})
    return out


def _check_law_options(evt_tail_fraction: Any, fhs_centres: Any) -> dict[str, Any]:
    """Validate the evt / fhs settings at the boundary (fit_marginal, fit_returns)."""
    f = evt_tail_fraction
    if isinstance(f, bool) or not isinstance(f, (int, float, np.floating)) or not 0.0 < float(f) < 0.5:
        raise ValueError(f"evt_tail_fraction must be a number in (0, 0.5) (share of residuals beyond each "
                         f"threshold; McNeil-Frey use 0.10); got {f!r}")
    n = fhs_centres
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 2 <= int(n) <= 1000:
        raise ValueError(f"fhs_centres must be an integer from 2 to 1000; got {n!r}")
    return {"evt_tail_fraction": float(f), "fhs_centres": int(n)}


def _base_warm(warm: dict[tuple[str, str], np.ndarray]) -> dict[tuple[str, str], np.ndarray]:
    """Warm starts keyed by the arch fits actually run: an evt/fhs fit's estimates warm its skew-t filter."""
    out = dict(warm)
    for (v, d), vec in warm.items():
        if d in _BASE_DIST:
            out.setdefault((v, _BASE_DIST[d]), vec)
    return out


def _law_spec(dist: str, params: dict[str, Any], where: str = "fitted marginal"):
    """The :class:`simulator.model.DistSpec` of a fitted law (validated as a model file would be)."""
    from simulator.model import DistSpec

    return DistSpec.from_dict({"type": dist, **{k: params[k] for k in LAWS[dist].params}}, where=where)


def _gpd_nll(theta: np.ndarray, w: np.ndarray) -> float:
    xi, log_beta = float(theta[0]), float(theta[1])
    y = w / math.exp(log_beta)
    if xi == 0.0:
        return w.size * log_beta + float(y.sum())
    return w.size * log_beta + (1.0 + 1.0 / xi) * float(np.log1p(xi * y).sum())


def _gpd_fit(w: np.ndarray, xi_max: float = EVT_XI_MAX) -> dict[str, Any]:
    """Maximum-likelihood GPD(xi, beta) fit to exceedances ``w >= 0`` with ``0 <= xi <= xi_max``.

    L-BFGS-B on ``(xi, ln beta)`` from two starts, compared with the exponential (``xi = 0``) fit, whose
    MLE is closed form (``beta = mean(w)``); the lowest negative log-likelihood is kept. Standard errors
    are the asymptotic ones of Smith (1987): ``var(xi) = (1 + xi)^2 / k``, ``var(beta) = 2 beta^2 (1 + xi) / k``.
    """
    from scipy import optimize

    w = np.asarray(w, dtype=float)
    k = w.size
    mean_w = float(w.mean())
    if not mean_w > 0.0:  # every exceedance is zero: the tail is one repeated value, no GPD has a scale for it
        raise ValueError(f"evt: the {k} residuals beyond a tail's threshold all equal it (the returns take too few "
                         "distinct values for a tail fit); use another law (t or skewt)")
    best = (_gpd_nll(np.array([0.0, math.log(mean_w)]), w), 0.0, mean_w, True)
    for xi0 in (0.1, 0.3):
        res = optimize.minimize(_gpd_nll, np.array([xi0, math.log(mean_w * (1.0 - xi0))]), args=(w,),
                                method="L-BFGS-B", bounds=[(0.0, xi_max), (None, None)])
        if np.isfinite(res.fun) and res.fun < best[0]:
            best = (float(res.fun), float(res.x[0]), math.exp(float(res.x[1])), bool(res.success))
    nll, xi, beta, ok = best
    return {"xi": xi, "beta": beta, "loglik": -nll, "n": k, "converged": ok, "capped": xi >= xi_max - 1e-9,
            "se_xi": (1.0 + xi) / math.sqrt(k), "se_beta": beta * math.sqrt(2.0 * (1.0 + xi) / k)}


def _evt_tails(z: np.ndarray, nu: float, lam: float, fraction: float) -> tuple[dict, dict, dict]:
    """Peaks over threshold on both tails of the standardised residuals ``z`` (McNeil-Frey step two).

    ``k = round(fraction n)`` residuals lie beyond each threshold, placed midway between the k-th and
    (k+1)-th order statistics (so no stored number is an observation); the tail probability is ``k / n``;
    the exceedances get a GPD by maximum likelihood. Returns (law parameters, standard errors, diagnostics).
    """
    zs = np.sort(np.asarray(z, dtype=float))
    n = zs.size
    k = int(round(fraction * n))
    if k < EVT_MIN_EXCEEDANCES or 2 * k >= n:
        raise ValueError(f"evt: {k} residuals per tail ({fraction:g} of {n}) are too few for a GPD fit; at least "
                         f"{EVT_MIN_EXCEEDANCES} are needed (raise evt_tail_fraction or use more data)")
    u_left = 0.5 * (zs[k - 1] + zs[k])
    u_right = 0.5 * (zs[n - k - 1] + zs[n - k])
    left = _gpd_fit(u_left - zs[:k])
    right = _gpd_fit(zs[n - k:] - u_right)
    law = {"nu": float(nu), "lambda": float(lam),
           "threshold_left": float(u_left), "tail_prob_left": k / n, "xi_left": left["xi"], "beta_left": left["beta"],
           "threshold_right": float(u_right), "tail_prob_right": k / n, "xi_right": right["xi"],
           "beta_right": right["beta"]}
    se = {"xi_left": left["se_xi"], "beta_left": left["se_beta"], "xi_right": right["se_xi"],
          "beta_right": right["se_beta"]}
    diag = {"tail_fraction": fraction, "exceedances_per_tail": k, "xi_max": EVT_XI_MAX,
            "gpd_loglik": {"left": left["loglik"], "right": right["loglik"]},
            "gpd_converged": {"left": left["converged"], "right": right["converged"]},
            "xi_capped": {"left": left["capped"], "right": right["capped"]}}
    return law, se, diag


def _fhs_centres(z: np.ndarray, n_centres: int) -> tuple[dict, dict]:
    """Kernel centres and bandwidth of the fhs law from the standardised residuals ``z``.

    The sorted residuals are cut into ``m = min(n_centres, n // 10)`` equal-count bins and each centre is
    its bin's mean (so every centre averages at least 10 residuals and no stored number is an observation). The bandwidth, on the asinh scale the kernel works on,
    is Silverman's rule of thumb for the ``n`` residuals the law summarises,
    ``0.9 min(sd, IQR / 1.349) n^(-1/5)`` of ``asinh(z)``.
    """
    zs = np.sort(np.asarray(z, dtype=float))
    n = zs.size
    m = min(int(n_centres), n // FHS_MIN_PER_CENTRE)
    if m < 2:
        raise ValueError(f"fhs: {n} residuals are too few for 2 centres of at least {FHS_MIN_PER_CENTRE} residuals")
    edges = np.round(np.linspace(0, n, m + 1)).astype(np.int64)
    centres = np.add.reduceat(zs, edges[:-1]) / np.diff(edges)
    xs = np.arcsinh(zs)
    q75, q25 = np.percentile(xs, [75.0, 25.0])
    h = 0.9 * min(float(xs.std()), float(q75 - q25) / 1.349) * n ** -0.2
    law = {"centres": [float(c) for c in centres], "bandwidth": float(h)}
    return law, {"n_centres": m, "residuals_per_centre": [int(np.diff(edges).min()), int(np.diff(edges).max())],
                 "bandwidth_rule": "Silverman 0.9 min(sd, IQR/1.349) n^-1/5 of asinh(z), n = residuals"}


def _filter_arrays(y: np.ndarray, base: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Conditional variances and residuals of an arch fit (recomputed with arch's ``fix`` if not stored)."""
    if "sigma2" in base:
        return base["sigma2"], base["resid"]
    res = _arch_model(y, base["vol"], base["dist"]).fix(np.asarray(base["arch_params"], dtype=float))
    return np.asarray(res.conditional_volatility, dtype=float) ** 2, np.asarray(res.resid, dtype=float)


def _derive_law(y: np.ndarray, base: dict[str, Any], dist: str, opts: dict[str, Any]) -> dict[str, Any]:
    """The evt or fhs candidate built on ``base``, the same volatility's skew-t fit (two-step estimation).

    The mean and variance parameters are the skew-t fit's; the law is estimated on its standardised
    residuals ``z_t``. The log-likelihood is the model's own, ``sum_t [ln f(z_t) - ln sigma_t]`` with ``f``
    the standardised law simulated (arch's definition, so it compares with every arch candidate).
    Parameters counted for AIC/BIC: the skew-t fit's (mean, volatility, ``nu``, ``lambda``) plus, for evt,
    per tail the threshold, ``xi`` and ``beta`` (6; the tail probabilities are fixed by the design,
    ``k / n``); for fhs, the volatility fit's mean and variance parameters plus every centre and the
    bandwidth (fhs is never compared by BIC: see :func:`fit_marginal`).
    """
    from simulator.tables import _evt_law, _fhs_law, marginal_logpdf

    sigma2, resid = _filter_arrays(y, base)
    z = resid / np.sqrt(sigma2)
    bp = base["params"]
    garch = {k: v for k, v in bp.items() if k not in ("nu", "lambda")}
    if dist == "evt":
        law, se, diag = _evt_tails(z, bp["nu"], bp["lambda"], opts["evt_tail_fraction"])
        n_params = base["n_params"] + EVT_EXTRA_PARAMS
        ok = all(diag["gpd_converged"].values())
    else:
        law, diag = _fhs_centres(z, opts["fhs_centres"])
        se = {}
        n_params = base["n_params"] - 2 + len(law["centres"]) + 1
        ok = True
    params = {**garch, **law}
    spec = _law_spec(dist, params)
    std = _evt_law(spec) if dist == "evt" else _fhs_law(spec)
    loglik = float(np.sum(marginal_logpdf(z, spec)) - 0.5 * np.sum(np.log(sigma2)))
    nobs = int(base["nobs"])
    out = dict(base)
    out.update({
        "dist": dist, "params": params, "loglik": loglik, "n_params": n_params,
        "aic": -2.0 * loglik + 2.0 * n_params, "bic": -2.0 * loglik + n_params * math.log(nobs),
        "converged": bool(base["converged"] and ok and np.isfinite(loglik)),
        "persistence": _persistence(base["vol"], dist, params), "filter": f"{base['vol']}/skewt",
        "sigma2": sigma2, "resid": resid,
        "law_fit": {"filter": f"{base['vol']}/skewt (arch maximum likelihood)", "filter_loglik": base["loglik"],
                    "filter_law": {"nu": bp["nu"], "lambda": bp["lambda"]},
                    "standardisation": {"mean": std.m, "sd": std.s}, **diag},
    })
    if not ok:
        out["optimizer_message"] = f"{base['optimizer_message']}; a GPD tail fit did not converge"
    if "std_err" in base:
        out["std_err"] = {k: v for k, v in base["std_err"].items() if k in params} | se
    return out


def _fit_arrays(y: np.ndarray, vols: tuple[str, ...], dists: tuple[str, ...], init: str,
                tol: float | None, max_iter: int = MAX_ITER,
                warm: dict[tuple[str, str], np.ndarray] | None = None,
                law_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Fit every candidate, select by BIC, redo the selected fit with covariance. Arrays in, plain data out.

    Each candidate is fitted from arch's fresh starting values and, when ``warm`` holds estimates for
    it, from those too; the better fit is kept. A nested pair fitted side by side is checked: when
    the larger model's log-likelihood falls below the smaller one's (a local optimum), the larger is
    refitted from the smaller one's estimates. evt and fhs candidates are built on the final skew-t fit
    of the same volatility (:func:`_derive_law`).
    """
    backcast = float(np.mean((y - y.mean()) ** 2)) if init == "sample" else None
    combos = [(v, d) for v in vols for d in dists]
    single = len(combos) == 1
    warm = _base_warm(warm or {})
    # the arch fits to run: evt and fhs are estimated on the residuals of the same volatility's skew-t fit
    base = [(v, d) for v in vols for d in dict.fromkeys(_BASE_DIST.get(d, d) for d in dists)]
    fits = {(v, d): _fit_from_starts(y, v, d, backcast, tol, single, warm.get((v, d)), max_iter) for v, d in base}
    for small, big in _NESTED:
        if small in fits and big in fits and fits[big]["loglik"] < fits[small]["loglik"] - 1e-6:
            refit = _fit_candidate(y, *big, backcast, tol, want_cov=single,
                                   starting_values=_nested_start(fits[small], *big), max_iter=max_iter)
            if refit["loglik"] > fits[big]["loglik"]:
                refit["refit_from"] = f"{small[0]}/{small[1]}"
                fits[big] = refit
    opts = _law_options(law_options)
    unfit = []
    for v, d in combos:
        if d in DERIVED_DIST_TYPES:
            try:
                fits[(v, d)] = _derive_law(y, fits[(v, _BASE_DIST[d])], d, opts)
            except ValueError:  # the data cannot carry this law (e.g. tails of one repeated value)
                if len(dists) == 1:  # the law was asked for by name: say why it cannot be fitted
                    raise
                unfit.append((v, d))
    combos = [c for c in combos if c not in unfit]
    cands = [fits[c] for c in combos]
    for c in cands:
        c["stationary"] = bool(c["persistence"] < 1.0)
        # eligible: converged and clearly stationary (a persistence within 1e-4 of 1, e.g. a GJR fit to the
        # 3-month bill's near-zero changes of 2009-2015, has no usable long-run level)
        c["eligible"] = bool(c["converged"] and c["persistence"] < USABLE_PERSISTENCE)
    eligible = [c for c in cands if c["eligible"]]
    pool = eligible or cands
    best = min(pool, key=lambda c: c["bic"])
    if not single:
        start, starts = best.get("start", "fresh"), best.get("starts", {})
        if best["dist"] in DERIVED_DIST_TYPES:
            base_fit = fits[(best["vol"], _BASE_DIST[best["dist"]])]
            filt = _refit_with_cov(y, base_fit, backcast, tol, max_iter)
            best = _derive_law(y, filt, best["dist"], opts)
        else:
            best = _refit_with_cov(y, best, backcast, tol, max_iter)
        best["start"], best["starts"] = start, starts
        best["stationary"] = bool(best["persistence"] < 1.0)
        best["eligible"] = bool(best["converged"] and best["persistence"] < USABLE_PERSISTENCE)
    table = [
        {k: c[k] for k in ("vol", "dist", "loglik", "aic", "bic", "converged", "persistence", "stationary")}
        | {"selected": (c["vol"], c["dist"]) == (best["vol"], best["dist"])}
        | ({"refit_from": c["refit_from"]} if "refit_from" in c else {})
        | ({"filter": c["filter"], "n_params": c["n_params"]} if "filter" in c else {})
        for c in cands
    ]
    best["candidates"] = table
    best["any_eligible"] = bool(eligible)
    best["backcast"] = backcast
    return best


def _finish(raw: dict[str, Any], index: pd.Index, label: str, init: str, *, emit: bool = True) -> MarginalFit:
    """Build the :class:`MarginalFit` (diagnostics, series) and emit warnings for what is wrong."""
    vol, dist, p = raw["vol"], raw["dist"], raw["params"]
    sigma2 = raw["sigma2"]
    resid = raw["resid"]
    z = resid / np.sqrt(sigma2)
    pers = raw["persistence"]
    half_life = math.log(0.5) / math.log(pers) if 0.0 < pers < 1.0 else (0.0 if pers <= 0 else math.inf)
    lrv = VOL_FAMILIES[vol].long_run_variance(p, _FitLaw(dist, p))
    issues: list[str] = []
    where = f"asset {label!r}"
    if not raw["converged"]:
        issues.append(f"{where}: {vol}/{dist} fit did not converge ({raw['optimizer_message']})")
    if not raw["stationary"]:
        issues.append(f"{where}: {vol}/{dist} fit is not covariance-stationary (persistence {pers:.8f} >= 1)")
    elif pers > NEAR_INTEGRATED:
        issues.append(f"{where}: {vol}/{dist} persistence {pers:.6f} is near 1 (half-life {half_life:.0f} days)")
    if len(raw["candidates"]) > 1 and not raw["any_eligible"]:
        issues.append(f"{where}: no candidate both converged and is stationary; kept the lowest BIC anyway")
    for msg in raw["arch_warnings"]:
        issues.append(f"{where}: arch: {msg}")
    if emit:
        for msg in issues:
            cat = StationarityWarning if ("stationary" in msg or "persistence" in msg) else ConvergenceWarning
            warnings.warn(msg, cat, stacklevel=3)
    lb = {"z": ljung_box(z), "z2": ljung_box(z**2)}
    name = label
    return MarginalFit(
        vol=vol,
        dist=dist,
        params=p,
        std_err=raw["std_err"],
        loglik=raw["loglik"],
        aic=raw["aic"],
        bic=raw["bic"],
        nobs=raw["nobs"],
        n_params=raw["n_params"],
        converged=raw["converged"],
        optimizer_message=raw["optimizer_message"],
        persistence=float(pers),
        half_life=float(half_life),
        long_run_variance=float(lrv),
        stationary=raw["stationary"],
        ljung_box=lb,
        init=init,
        backcast=raw["backcast"],
        std_resid=pd.Series(z, index=index, name=name),
        sigma2=pd.Series(sigma2, index=index, name=name),
        resid=pd.Series(resid, index=index, name=name),
        candidates=raw["candidates"],
        issues=issues,
        starts={k: float(v) for k, v in (raw.get("starts") or {}).items()},
        start=str(raw.get("start", "fresh")),
        law_fit=dict(raw.get("law_fit") or {}),
    )


def fit_marginal(
    returns: pd.Series | np.ndarray | Sequence[float],
    *,
    vol: str | Sequence[str] = "auto",
    dist: str | Sequence[str] = "auto",
    init: str = "arch",
    tol: float | None = None,
    max_iter: int = MAX_ITER,
    warm_start: "MarginalFit | None" = None,
    evt_tail_fraction: float = EVT_TAIL_FRACTION,
    fhs_centres: int = FHS_CENTRES,
) -> MarginalFit:
    """Fit a constant-mean GARCH-family model to one return series with ``arch``.

    Parameters
    ----------
    returns : Series or array of shape (n_obs,)
        Log returns in percent (at least 100, all finite). A Series' name and index label the result.
    vol : "auto", a family of :data:`simulator.families.VOL_FAMILIES` ("garch", "gjr", "egarch", ...) or a list of them
        Volatility process(es) to try; several are compared by BIC. "auto" tries the families marked ``auto``
        in the registry (garch, gjr, egarch).
    dist : {"auto", "normal", "t", "skewt", "evt", "fhs"} or list of them, default "auto"
        Innovation law(s) to try; "auto" compares normal, t, skewt and evt by BIC. ``evt`` (GARCH-EVT)
        and ``fhs`` (smoothed filtered-historical residual law) are estimated on the residuals of the
        same volatility's skew-t fit (see the module docstring). ``fhs`` is never an "auto" candidate:
        a kernel law of the sample's own residuals is fitted to, and then scored on, the same points,
        so its in-sample likelihood favours itself (it grows without bound as the bandwidth shrinks),
        and its centres are not free maximum-likelihood parameters, so no BIC penalty makes the
        comparison fair. Name it to get it.
    init : {"arch", "sample"}, default "arch"
        How the variance recursion starts: arch's default backcast, or the sample variance of the
        demeaned series (the published-benchmark convention).
    tol : float, optional
        Optimiser (SLSQP) tolerance; default arch's (1e-6 relative change in the log-likelihood).
    max_iter : int, default 1000
        Optimiser iteration limit per attempt (a stopped fit is restarted once from where it stopped).
    warm_start : MarginalFit, optional
        An earlier fit (e.g. of the previous rolling window): the candidate of the same vol/dist is
        also fitted from its estimates, and the better of the fresh and the warm fit is kept
        (converged first, then the higher log-likelihood).
    evt_tail_fraction : float in (0, 0.5), default 0.10
        evt: share of the residuals beyond each threshold (peaks over threshold; McNeil-Frey's 0.10).
    fhs_centres : int, default 200
        fhs: number of kernel centres (residual bin means; at most one per 10 residuals).

    Returns
    -------
    MarginalFit

    Warns
    -----
    ConvergenceWarning
        The selected fit did not converge (or arch reported a problem).
    StationarityWarning
        The selected fit is non-stationary or near-integrated (persistence > 0.999).
    """
    y, index, label = _validate_returns(returns)
    vols = _choices(vol, VOL_TYPES, "vol", auto=AUTO_VOL_TYPES)
    dists = _choices(dist, DIST_TYPES, "dist", auto=AUTO_DIST_TYPES)
    law_options = _check_law_options(evt_tail_fraction, fhs_centres)
    if init not in INIT_TYPES:
        raise ValueError(f"init must be one of {', '.join(map(repr, INIT_TYPES))}; got {init!r}")
    if tol is not None and not (isinstance(tol, (float, int)) and 0 < tol < 1):
        raise ValueError(f"tol must be None or a number in (0, 1); got {tol!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer; got {max_iter!r}")
    warm = None
    if warm_start is not None:
        if not isinstance(warm_start, MarginalFit):
            raise TypeError(f"warm_start must be a MarginalFit, got {type(warm_start).__name__}")
        warm = {(warm_start.vol, warm_start.dist): _arch_vector(warm_start.vol, warm_start.dist, warm_start.params)}
    raw = _fit_arrays(y, vols, dists, init, None if tol is None else float(tol), int(max_iter), warm=warm,
                      law_options=law_options)
    return _finish(raw, index, label, init)


def _arch_vector(vol: str, dist: str, params: dict[str, float]) -> np.ndarray:
    """The parameter vector in arch's order (mu, the family's, the law's; a two-step law's filter law's); a
    parameter ``params`` lacks takes its null value (:attr:`simulator.families.VolFamily.null`, e.g. gamma 0;
    :attr:`simulator.families.Law.null`, nu 30, lambda 0)."""
    return np.array([params["mu"], *VOL_FAMILIES[vol].arch_vector(params), *LAWS[dist].arch_vector(params)],
                    dtype=float)
