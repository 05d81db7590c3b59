"""Copula fitting on pseudo-observations: Gaussian, Student-t, exchangeable Clayton / Gumbel / Frank, independence.

Estimators
----------
- **gaussian**: normal scores ``z = Phi^-1(u)``; ``R`` = their second-moment matrix scaled to unit diagonal,
  projected to the nearest correlation matrix (Higham 2002) with eigenvalues floored at ``min_eig``.
- **t**: ``R = sin(pi tau / 2)`` from the Kendall's tau matrix (nearest correlation matrix as above), then
  ``nu`` by profile maximum likelihood over (2, 200].
- **clayton**, **gumbel**, **frank**: one ``theta`` shared by every pair (exchangeable), by maximum
  likelihood. The ``d``-dimensional density is ``c(u) = |psi^(d)(sum_i psi^-1(u_i))| prod_i |psi^-1'(u_i)|``
  with the generator's ``d``-th derivative in closed form: Clayton's is a power; Gumbel's is
  ``exp(-s) t^-d P_d(s)``, ``s = t^(1/theta)``, with ``P_d`` a polynomial of positive coefficients built
  by recursion (no cancellation); Frank's is a polylogarithm of negative order, a positive sum of
  Stirling-number terms. All evaluated in logs.
- **independent**: no parameter, log-likelihood 0.

Selection (``family="auto"``) is by AIC. Every fit reports its log-likelihood, AIC, BIC, the empirical
and implied Kendall's tau matrices and the lower / upper tail-dependence coefficients.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import integrate, optimize, special, stats

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

COPULA_FAMILIES = ("gaussian", "t", "clayton", "gumbel", "frank", "independent")
ARCHIMEDEAN = ("clayton", "gumbel", "frank")
N_PARAMS_FIXED = {"clayton": 1, "gumbel": 1, "frank": 1, "independent": 0}
NU_BOUNDS = (2.05, 200.0)
# theta search ranges (exchangeable, any dimension): tau from ~0 to ~0.98
THETA_BOUNDS = {"clayton": (1e-6, 100.0), "gumbel": (1.0, 60.0), "frank": (1e-6, 200.0)}
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


def nearest_correlation(a: np.ndarray, *, min_eig: float = 1e-6, tol: float = 1e-10,
                        max_iter: int = 500) -> np.ndarray:
    """Nearest correlation matrix in Frobenius norm (Higham 2002, alternating projections with
    Dykstra's correction), then eigenvalues floored at ``min_eig`` and rescaled to unit diagonal so the
    result is strictly positive definite.

    Parameters
    ----------
    a : array of shape (d, d)
        Symmetric matrix with unit diagonal (approximately).

    Returns
    -------
    ndarray of shape (d, d)
    """
    a = np.asarray(a, dtype=float)
    y = (a + a.T) / 2.0
    np.fill_diagonal(y, 1.0)
    w = np.linalg.eigvalsh(y)
    if w.min() >= min_eig:
        return y
    ds = np.zeros_like(y)
    for _ in range(max_iter):
        r = y - ds
        vals, vecs = np.linalg.eigh(r)
        x = (vecs * np.maximum(vals, 0.0)) @ vecs.T
        x = (x + x.T) / 2.0
        ds = x - r
        y_new = x.copy()
        np.fill_diagonal(y_new, 1.0)
        done = np.linalg.norm(y_new - y) / max(np.linalg.norm(y_new), 1.0) < tol
        y = y_new
        if done:
            break
    vals, vecs = np.linalg.eigh(y)
    x = (vecs * np.maximum(vals, min_eig)) @ vecs.T
    s = 1.0 / np.sqrt(np.diag(x))
    x = x * s[:, None] * s[None, :]
    x = (x + x.T) / 2.0
    np.fill_diagonal(x, 1.0)
    return x


def _debye1(theta: float) -> float:
    """Debye function ``D_1(theta) = (1/theta) int_0^theta t / (e^t - 1) dt`` (theta > 0)."""
    if theta == 0:
        return 1.0
    val, _ = integrate.quad(lambda t: t / math.expm1(t) if t > 0 else 1.0, 0.0, abs(theta))
    d = val / abs(theta)
    return d if theta > 0 else d + abs(theta) / 2.0  # D_1(-x) = D_1(x) + x/2


def theta_to_tau(family: str, theta: float) -> float:
    """Kendall's tau of a bivariate Archimedean copula: Clayton ``theta/(theta+2)``, Gumbel ``1 - 1/theta``,
    Frank ``1 + 4 (D_1(theta) - 1) / theta``."""
    if family == "clayton":
        return theta / (theta + 2.0)
    if family == "gumbel":
        return 1.0 - 1.0 / theta
    if family == "frank":
        if abs(theta) < 1e-8:
            return theta / 9.0
        return 1.0 + 4.0 * (_debye1(theta) - 1.0) / theta
    raise ValueError(f"family must be one of {', '.join(map(repr, ARCHIMEDEAN))}; got {family!r}")


def tau_to_theta(family: str, tau: float) -> float:
    """Inverse of :func:`theta_to_tau` (tau clipped into the family's range, positive dependence)."""
    lo, hi = THETA_BOUNDS[family]
    tau = float(np.clip(tau, 1e-6, 0.98))
    if family == "clayton":
        th = 2.0 * tau / (1.0 - tau)
    elif family == "gumbel":
        th = 1.0 / (1.0 - tau)
    elif family == "frank":
        th = optimize.brentq(lambda t: theta_to_tau("frank", t) - tau, 1e-8, 500.0, xtol=1e-12)
    else:
        raise ValueError(f"family must be one of {', '.join(map(repr, ARCHIMEDEAN))}; got {family!r}")
    return float(np.clip(th, lo, hi))


def tail_dependence(family: str, params: dict[str, Any], d: int) -> dict[str, np.ndarray]:
    """Coefficients of lower and upper tail dependence, each a (d, d) matrix with unit diagonal.

    t: ``2 t_{nu+1}(-sqrt((nu+1)(1-rho)/(1+rho)))`` (both tails); Clayton: lower ``2^(-1/theta)``;
    Gumbel: upper ``2 - 2^(1/theta)``; Gaussian, Frank, independence: 0.
    """
    lower = np.zeros((d, d))
    upper = np.zeros((d, d))
    if family == "t":
        rho = np.clip(np.asarray(params["corr"], dtype=float), -1.0, 1.0)
        nu = float(params["nu"])
        with np.errstate(divide="ignore", invalid="ignore"):
            arg = -np.sqrt((nu + 1.0) * (1.0 - rho) / np.maximum(1.0 + rho, 1e-300))
        lam = 2.0 * stats.t.cdf(arg, nu + 1.0)
        lower, upper = lam.copy(), lam.copy()
    elif family == "clayton":
        lower[:] = 2.0 ** (-1.0 / params["theta"])
    elif family == "gumbel":
        upper[:] = 2.0 - 2.0 ** (1.0 / params["theta"])
    np.fill_diagonal(lower, 1.0)
    np.fill_diagonal(upper, 1.0)
    return {"lower": lower, "upper": upper}


def implied_tau(family: str, params: dict[str, Any], d: int) -> np.ndarray:
    """Kendall's tau matrix implied by a fitted copula (elliptical: ``2 arcsin(rho) / pi``)."""
    if family in ("gaussian", "t"):
        tau = 2.0 / np.pi * np.arcsin(np.clip(np.asarray(params["corr"], dtype=float), -1, 1))
    elif family in ARCHIMEDEAN:
        tau = np.full((d, d), theta_to_tau(family, params["theta"]))
    else:
        tau = np.zeros((d, d))
    np.fill_diagonal(tau, 1.0)
    return tau


# ---------------------------------------------------------------------- log densities
def _logdet_and_solve(corr: np.ndarray, x: np.ndarray) -> tuple[float, np.ndarray]:
    """``log|R|`` and the quadratic forms ``x_i' R^-1 x_i`` for rows of x."""
    chol = np.linalg.cholesky(corr)
    logdet = 2.0 * float(np.log(np.diag(chol)).sum())
    from scipy.linalg import solve_triangular

    y = solve_triangular(chol, x.T, lower=True)
    return logdet, np.einsum("ij,ij->j", y, y)


def _gaussian_logpdf(u: np.ndarray, corr: np.ndarray) -> np.ndarray:
    z = special.ndtri(u)
    logdet, q = _logdet_and_solve(corr, z)
    return -0.5 * logdet - 0.5 * (q - np.einsum("ij,ij->i", z, z))


def _t_logpdf_from_x(x: np.ndarray, corr: np.ndarray, nu: float, logdet_q=None) -> np.ndarray:
    d = x.shape[1]
    logdet, q = logdet_q if logdet_q is not None else _logdet_and_solve(corr, x)
    const = (special.gammaln((nu + d) / 2.0) + (d - 1) * special.gammaln(nu / 2.0)
             - d * special.gammaln((nu + 1.0) / 2.0) - 0.5 * logdet)
    return const - (nu + d) / 2.0 * np.log1p(q / nu) + (nu + 1.0) / 2.0 * np.log1p(x * x / nu).sum(axis=1)


def _t_logpdf(u: np.ndarray, corr: np.ndarray, nu: float) -> np.ndarray:
    return _t_logpdf_from_x(stats.t.ppf(u, nu), corr, nu)


def _clayton_logpdf(u: np.ndarray, theta: float) -> np.ndarray:
    d = u.shape[1]
    lu = np.log(u)
    x = -lu  # > 0
    tx = theta * x
    k = np.arange(d)
    const = float(np.log1p(k * theta).sum())
    mx = tx.max(axis=1)
    if np.all(mx < 700.0):
        s = np.log1p(np.expm1(tx).sum(axis=1))
    else:  # 1 + sum(e^{tx} - 1) = e^{m} (sum e^{tx - m} - (d - 1) e^{-m})
        s = mx + np.log(np.exp(tx - mx[:, None]).sum(axis=1) - (d - 1) * np.exp(-mx))
    return const - (1.0 + theta) * lu.sum(axis=1) - (1.0 / theta + d) * s


@lru_cache(maxsize=256)
def _gumbel_poly_logcoef(d: int, alpha: float) -> tuple[float, ...]:
    """log of the coefficients a_1..a_d of P_d(s) = sum_k a_k s^k, psi^(d)(t) = (-1)^d e^{-s} t^{-d} P_d(s)."""
    # c_j = |alpha (alpha - 1) ... (alpha - j + 1)|
    c = np.empty(d + 1)
    c[0] = 1.0
    for j in range(1, d + 1):
        c[j] = c[j - 1] * abs(alpha - (j - 1))
    polys = [np.array([1.0])]
    for n in range(d):
        acc = np.zeros(n + 2)
        for k in range(n + 1):
            p = polys[n - k]
            acc[1:p.size + 1] += math.comb(n, k) * c[k + 1] * p
        polys.append(acc)
    coef = polys[d]
    with np.errstate(divide="ignore"):
        return tuple(np.log(coef).tolist())


def _gumbel_logpdf(u: np.ndarray, theta: float) -> np.ndarray:
    d = u.shape[1]
    x = -np.log(u)  # > 0
    lx = np.log(x)
    alpha = 1.0 / theta
    lt = special.logsumexp(theta * lx, axis=1)  # log t, t = sum x_i^theta
    ls = alpha * lt  # log s
    s = np.exp(ls)
    logc = np.array(_gumbel_poly_logcoef(d, float(alpha)))
    k = np.arange(d + 1)
    ok = np.isfinite(logc)
    log_poly = special.logsumexp(logc[ok][None, :] + k[ok][None, :] * ls[:, None], axis=1)
    log_psi_d = -s - d * lt + log_poly
    log_jac = d * math.log(theta) + ((theta - 1.0) * lx + x).sum(axis=1)
    return log_psi_d + log_jac


@lru_cache(maxsize=64)
def _polylog_neg_logcoef(n: int) -> tuple[float, ...]:
    """log of k! S(n+1, k+1), k = 0..n: Li_{-n}(w) = sum_k k! S(n+1, k+1) r^{k+1}, r = w / (1 - w)."""
    # Stirling numbers of the second kind by the triangle recurrence, exact integers
    m = n + 1
    s = [[0] * (m + 1) for _ in range(m + 1)]
    s[0][0] = 1
    for i in range(1, m + 1):
        for j in range(1, i + 1):
            s[i][j] = j * s[i - 1][j] + s[i - 1][j - 1]
    return tuple(math.log(math.factorial(k) * s[m][k + 1]) for k in range(n + 1))


def _frank_logpdf(u: np.ndarray, theta: float) -> np.ndarray:
    d = u.shape[1]
    # log w = (1 - d) log(1 - e^-theta) + sum log(1 - e^{-theta u_i})
    l1 = math.log(-math.expm1(-theta))
    lw = (1 - d) * l1 + np.log(-np.expm1(-theta * u)).sum(axis=1)
    lr = lw - np.log(-np.expm1(lw))  # log(w / (1 - w)), w < 1
    logc = np.array(_polylog_neg_logcoef(d - 1))
    k = np.arange(d)
    log_li = special.logsumexp(logc[None, :] + (k[None, :] + 1.0) * lr[:, None], axis=1)
    # log |expm1(theta u)| = theta u + log(1 - e^{-theta u})
    log_em1 = theta * u + np.log(-np.expm1(-theta * u))
    return (d - 1) * math.log(theta) + log_li - log_em1.sum(axis=1)


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
    params = params or {}
    if family == "independent":
        return np.zeros(u.shape[0])
    if family == "gaussian":
        return _gaussian_logpdf(u, np.asarray(params["corr"], dtype=float))
    if family == "t":
        return _t_logpdf(u, np.asarray(params["corr"], dtype=float), float(params["nu"]))
    if family == "clayton":
        return _clayton_logpdf(u, float(params["theta"]))
    if family == "gumbel":
        return _gumbel_logpdf(u, float(params["theta"]))
    if family == "frank":
        return _frank_logpdf(u, float(params["theta"]))
    raise ValueError(f"family must be one of {', '.join(map(repr, COPULA_FAMILIES))}; got {family!r}")


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
        out: dict[str, Any] = {"type": self.family}
        if self.family in ("gaussian", "t"):
            corr = np.asarray(self.params["corr"], dtype=float)
            out["corr"] = [[float(v) for v in row] for row in corr]
        if self.family == "t":
            out["nu"] = float(self.params["nu"])
        if self.family in ARCHIMEDEAN:
            out["theta"] = float(self.params["theta"])
        return out

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


def _fit_gaussian(u: np.ndarray, notes: list[str]) -> tuple[dict, float]:
    z = special.ndtri(u)
    m = z.T @ z / z.shape[0]
    s = 1.0 / np.sqrt(np.diag(m))
    r = m * s[:, None] * s[None, :]
    r_pd = nearest_correlation(r)
    if np.max(np.abs(r_pd - r)) > 1e-12:
        notes.append(f"gaussian: normal-score correlation corrected to the nearest positive-definite "
                     f"correlation matrix (max change {np.max(np.abs(r_pd - r)):.2g})")
    ll = float(_gaussian_logpdf(u, r_pd).sum())
    return {"corr": r_pd}, ll


def _fit_t(u: np.ndarray, tau: np.ndarray, notes: list[str]) -> tuple[dict, float]:
    r = np.sin(np.pi * tau / 2.0)
    r_pd = nearest_correlation(r)
    if np.max(np.abs(r_pd - r)) > 1e-12:
        notes.append(f"t: sin(pi tau / 2) corrected to the nearest positive-definite correlation matrix "
                     f"(max change {np.max(np.abs(r_pd - r)):.2g})")

    def negll(log_nu: float) -> float:
        nu = math.exp(log_nu)
        val = _t_logpdf(u, r_pd, nu).sum()
        return -float(val) if np.isfinite(val) else 1e300

    lo, hi = math.log(NU_BOUNDS[0]), math.log(NU_BOUNDS[1])
    res = optimize.minimize_scalar(negll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-5})
    nu = float(math.exp(res.x))
    if res.x > hi - 1e-3:
        notes.append(f"t: nu at the upper search bound {NU_BOUNDS[1]:g} (tails close to Gaussian)")
    if res.x < lo + 1e-3:
        notes.append(f"t: nu at the lower search bound {NU_BOUNDS[0]:g}")
    return {"corr": r_pd, "nu": nu}, -float(res.fun)


def _fit_archimedean(u: np.ndarray, family: str, tau_bar: float, notes: list[str]) -> tuple[dict, float]:
    lo, hi = THETA_BOUNDS[family]
    logpdf = {"clayton": _clayton_logpdf, "gumbel": _gumbel_logpdf, "frank": _frank_logpdf}[family]
    shift = 1.0 if family == "gumbel" else 0.0
    # optimise on log(theta - shift) so the search is scale free
    a = math.log(max(lo - shift, 1e-6))
    b = math.log(hi - shift)

    def negll(x: float) -> float:
        th = shift + math.exp(x)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            val = logpdf(u, th).sum()
        return -float(val) if np.isfinite(val) else 1e300

    # bounded Brent search on the whole range, then a local search around the tau inversion as a guard
    res = optimize.minimize_scalar(negll, bounds=(a, b), method="bounded", options={"xatol": 1e-7})
    x0 = math.log(max(tau_to_theta(family, max(tau_bar, 1e-4)) - shift, 1e-6))
    if negll(x0) < res.fun:  # guard against a local optimum of the bounded search
        res2 = optimize.minimize_scalar(negll, bounds=(max(a, x0 - 1.0), min(b, x0 + 1.0)), method="bounded",
                                        options={"xatol": 1e-7})
        if res2.fun < res.fun:
            res = res2
    theta = shift + math.exp(res.x)
    if res.x < a + 1e-3:
        notes.append(f"{family}: theta at the independence bound (no positive dependence to capture)")
    if res.x > b - 1e-3:
        notes.append(f"{family}: theta at the upper search bound {hi:g}")
    return {"theta": float(theta)}, -float(res.fun)


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
    tau_bar = float(tau[np.triu_indices(d, 1)].mean()) if d > 1 else 0.0
    fits: list[tuple[str, dict, float, int]] = []
    for fam in fams:
        if fam == "gaussian":
            p, ll = _fit_gaussian(arr, notes)
            k = d * (d - 1) // 2
        elif fam == "t":
            p, ll = _fit_t(arr, tau, notes)
            k = d * (d - 1) // 2 + 1
        elif fam in ARCHIMEDEAN:
            p, ll = _fit_archimedean(arr, fam, tau_bar, notes)
            k = 1
        else:
            p, ll = {}, 0.0
            k = 0
        fits.append((fam, p, ll, k))
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
