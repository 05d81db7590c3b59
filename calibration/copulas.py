"""Copula fitting on pseudo-observations: Gaussian, Student-t, exchangeable Clayton / Gumbel / Frank, independence.

Each family's estimator, log density, Kendall's tau and tail dependence belong to its registry entry
(:mod:`simulator.families.copulas`, where the estimators are described); this module turns data into
pseudo-observations, runs every requested family's estimator and selects by AIC.

Selection (``family="auto"``) is by AIC. Every fit reports its log-likelihood, AIC, BIC, the empirical
and implied Kendall's tau matrices and the lower / upper tail-dependence coefficients.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from simulator.families import copulas as _registry
from simulator.families.copulas import NU_BOUNDS, THETA_BOUNDS, nearest_correlation  # noqa: F401  (re-exported)

__all__ = [
    "COPULA_FAMILIES",
    "CopulaFit",
    "fit_copula",
    "copula_logpdf",
    "kendall_tau_matrix",
    "nearest_correlation",
    "pseudo_observations",
    "tau_to_theta",
    "theta_to_tau",
    "tail_dependence",
]

#: every family :func:`fit_copula` can fit, in the order it fits them (the registry's)
COPULA_FAMILIES: tuple[str, ...] = tuple(_registry.COPULA_FAMILIES)
ARCHIMEDEAN = tuple(n for n, f in _registry.COPULA_FAMILIES.items() if isinstance(f, _registry._Archimedean))
U_CLIP = 1e-12


# ---------------------------------------------------------------------- utilities
def pseudo_observations(x: np.ndarray | pd.DataFrame) -> np.ndarray:
    """Rank-based pseudo-observations ``rank / (n + 1)`` column by column (average ranks for ties).

    Parameters
    ----------
    x : array of shape (n, d)

    Returns
    -------
    ndarray of shape (n, d) in (0, 1)
    """
    a = np.asarray(x, dtype=float)
    if a.ndim == 1:
        a = a[:, None]
    return stats.rankdata(a, axis=0) / (a.shape[0] + 1.0)


def kendall_tau_matrix(u: np.ndarray) -> np.ndarray:
    """Kendall's tau-b matrix of the columns of ``u`` (shape (d, d), unit diagonal)."""
    u = np.asarray(u, dtype=float)
    d = u.shape[1]
    tau = np.eye(d)
    for i in range(d):
        for j in range(i + 1, d):
            t = stats.kendalltau(u[:, i], u[:, j]).statistic
            tau[i, j] = tau[j, i] = 0.0 if not np.isfinite(t) else float(t)
    return tau


def _archimedean(family: str) -> "_registry._Archimedean":
    f = _registry.COPULA_FAMILIES.get(family)
    if not isinstance(f, _registry._Archimedean):
        raise ValueError(f"family must be one of {', '.join(map(repr, ARCHIMEDEAN))}; got {family!r}")
    return f


def theta_to_tau(family: str, theta: float) -> float:
    """Kendall's tau of a bivariate Archimedean copula: Clayton ``theta/(theta+2)``, Gumbel ``1 - 1/theta``,
    Frank ``1 + 4 (D_1(theta) - 1) / theta`` (the registry entry's :meth:`tau`)."""
    return _archimedean(family).tau(theta)


def tau_to_theta(family: str, tau: float) -> float:
    """Inverse of :func:`theta_to_tau` (tau clipped into the family's range, positive dependence)."""
    return _archimedean(family).theta_of_tau(tau)


def tail_dependence(family: str, params: dict[str, Any], d: int) -> dict[str, np.ndarray]:
    """Coefficients of lower and upper tail dependence, each a (d, d) matrix with unit diagonal.

    t: ``2 t_{nu+1}(-sqrt((nu+1)(1-rho)/(1+rho)))`` (both tails); Clayton: lower ``2^(-1/theta)``;
    Gumbel: upper ``2 - 2^(1/theta)``; Gaussian, Frank, independence: 0.
    """
    return _registry.copula_family(family).tail_dependence(params, d)


def implied_tau(family: str, params: dict[str, Any], d: int) -> np.ndarray:
    """Kendall's tau matrix implied by a fitted copula (elliptical: ``2 arcsin(rho) / pi``)."""
    return _registry.copula_family(family).kendall_tau(params, d)


def copula_logpdf(u: np.ndarray, family: str, params: dict[str, Any] | None = None) -> np.ndarray:
    """Log density of a copula at the rows of ``u``.

    Parameters
    ----------
    u : array of shape (n, d)
        Points in (0, 1)^d.
    family : {"gaussian", "t", "clayton", "gumbel", "frank", "independent"}
    params : dict
        ``corr`` (d×d) for gaussian/t, ``nu`` for t, ``theta`` for the Archimedean families.

    Returns
    -------
    ndarray of shape (n,)
    """
    u = np.asarray(u, dtype=float)
    if u.ndim != 2:
        raise ValueError(f"u must have shape (n, d), got {u.shape}")
    return _registry.copula_family(family).logpdf(u, params or {})


# ---------------------------------------------------------------------- fits
@dataclass(frozen=True)
class CopulaFit:
    """A fitted copula and its diagnostics.

    Attributes
    ----------
    family : str
    params : dict
        ``corr`` (ndarray (d, d)), ``nu``, ``theta`` as applicable.
    loglik, aic, bic : float
    n_params, nobs, dim : int
    names : list of str
        Asset names of the columns.
    tau : ndarray of shape (d, d)
        Empirical Kendall's tau of the pseudo-observations.
    implied_tau : ndarray of shape (d, d)
        Kendall's tau implied by the fitted copula.
    tail_dependence : dict
        ``{"lower": (d, d), "upper": (d, d)}`` of the fitted copula.
    candidates : list of dict
        Every family fitted: family, loglik, AIC, BIC, n_params, scalar parameters, notes.
    notes : list of str
        Remarks (parameter at a search bound, clipping, nearest-correlation corrections).
    """

    family: str
    params: dict[str, Any]
    loglik: float
    aic: float
    bic: float
    n_params: int
    nobs: int
    dim: int
    names: list[str]
    tau: np.ndarray
    implied_tau: np.ndarray
    tail_dependence: dict[str, np.ndarray]
    candidates: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def spec(self) -> dict:
        """The copula in the model-file format."""
        return _registry.copula_family(self.family).to_dict(self.params)

    def to_dict(self) -> dict:
        """Diagnostics as a JSON-ready dict, for the model's provenance."""
        from calibration.marginals import _jsonable

        return _jsonable({
            "family": self.family,
            "loglik": self.loglik,
            "aic": self.aic,
            "bic": self.bic,
            "n_params": self.n_params,
            "nobs": self.nobs,
            "dim": self.dim,
            "assets": self.names,
            "selection": "AIC",
            "tau_empirical": np.round(self.tau, 12),
            "tau_implied": np.round(self.implied_tau, 12),
            "tail_dependence_lower": np.round(self.tail_dependence["lower"], 12),
            "tail_dependence_upper": np.round(self.tail_dependence["upper"], 12),
            "candidates": self.candidates,
            "notes": self.notes,
        })


def _validate_u(u: Any) -> tuple[np.ndarray, list[str]]:
    if isinstance(u, pd.DataFrame):
        names = [str(c) for c in u.columns]
        index = list(u.index)
        arr = u.to_numpy(dtype=float)
    else:
        try:
            arr = np.asarray(u, dtype=float)
        except (TypeError, ValueError):
            raise TypeError("u must be an array or DataFrame of shape (n, d) with numbers in (0, 1)") from None
        if arr.ndim != 2:
            raise ValueError(f"u must have shape (n, d), got {arr.shape}")
        names = [f"u{j}" for j in range(arr.shape[1])]
        index = list(range(arr.shape[0]))
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise ValueError(f"u must have shape (n, d) with d >= 1, got {arr.shape}")
    if arr.shape[0] < 10:
        raise ValueError(f"u has {arr.shape[0]} rows; at least 10 observations are needed to fit a copula")
    bad = ~((arr > 0.0) & (arr < 1.0))
    if bad.any():
        i, j = (int(v) for v in np.argwhere(bad)[0])
        raise ValueError(f"u[{index[i]!s}, {names[j]!r}] = {float(arr[i, j])!r}; pseudo-observations must lie in (0, 1)")
    return arr, names


def _families(family: Any, d: int) -> tuple[str, ...]:
    if isinstance(family, str):
        if family == "auto":
            return COPULA_FAMILIES if d > 1 else ("independent",)
        if family in COPULA_FAMILIES:
            return (family,)
        raise ValueError(f"copula family must be 'auto' or one of {', '.join(map(repr, COPULA_FAMILIES))}; "
                         f"got {family!r}")
    if isinstance(family, (list, tuple)) and family and all(isinstance(f, str) for f in family):
        bad = [f for f in family if f not in COPULA_FAMILIES]
        if bad:
            raise ValueError(f"unknown copula family {', '.join(map(repr, bad))}; "
                             f"valid: {', '.join(map(repr, COPULA_FAMILIES))}")
        return tuple(dict.fromkeys(family))
    raise TypeError(f"family must be 'auto', a family name or a list of names; got {family!r}")


def fit_copula(
    u: np.ndarray | pd.DataFrame,
    *,
    family: str | Sequence[str] = "auto",
) -> CopulaFit:
    """Fit a copula to pseudo-observations and select the family by AIC.

    Parameters
    ----------
    u : array or DataFrame of shape (n, d)
        Pseudo-observations in the open unit cube (ranks / (n + 1), or PITs through fitted marginals).
        DataFrame columns name the assets.
    family : {"auto", "gaussian", "t", "clayton", "gumbel", "frank", "independent"} or list, default "auto"
        Families to fit; several (or "auto": all six) are compared by AIC. With d = 1 only
        "independent" applies.

    Returns
    -------
    CopulaFit
    """
    arr, names = _validate_u(u)
    n, d = arr.shape
    fams = _families(family, d)
    if d == 1 and fams != ("independent",):
        raise ValueError(f"one asset has no dependence to fit; copula family must be 'independent' or 'auto', "
                         f"got {family!r}")
    notes: list[str] = []
    clipped = int(((arr < U_CLIP) | (arr > 1 - U_CLIP)).sum())
    if clipped:
        notes.append(f"{clipped} values clipped into [{U_CLIP:g}, 1 - {U_CLIP:g}]")
    arr = np.clip(arr, U_CLIP, 1.0 - U_CLIP)
    tau = kendall_tau_matrix(arr) if d > 1 else np.eye(1)
    fits: list[tuple[str, dict, float, int]] = []
    for fam in fams:
        entry = _registry.copula_family(fam)
        p, ll = entry.fit(arr, tau, notes)
        fits.append((fam, p, ll, entry.n_params(d)))
    cands = []
    for fam, p, ll, k in fits:
        cands.append({
            "family": fam, "loglik": ll, "aic": 2.0 * k - 2.0 * ll, "bic": k * math.log(n) - 2.0 * ll,
            "n_params": k, **{key: v for key, v in p.items() if key != "corr"},
        })
    best_i = int(np.argmin([c["aic"] for c in cands]))
    for i, c in enumerate(cands):
        c["selected"] = i == best_i
    fam, p, ll, k = fits[best_i]
    return CopulaFit(
        family=fam,
        params=p,
        loglik=ll,
        aic=cands[best_i]["aic"],
        bic=cands[best_i]["bic"],
        n_params=k,
        nobs=n,
        dim=d,
        names=names,
        tau=tau,
        implied_tau=implied_tau(fam, p, d),
        tail_dependence=tail_dependence(fam, p, d),
        candidates=cands,
        notes=notes,
    )
