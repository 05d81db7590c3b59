"""Copula families: one registry entry each (independent, Gaussian, Student-t, Clayton, Gumbel, Frank).

An entry (a :class:`CopulaFamily` subclass registered with :func:`register`) owns its parameters and
their constraints, its Kendall's tau and elliptical-equivalent correlation, its tail dependence, its
log density and estimator (the calibration hook :func:`calibration.fit_copula` calls), and its packing
into the kernel's copula arrays. The draw itself is the family's branch of
:func:`simulator.kernels.paths._draw_innovations` (by :attr:`CopulaFamily.code`).

Parameters travel as a dict: ``corr`` (ndarray (d, d)) for the elliptical families, ``nu`` for t,
``theta`` for the exchangeable Archimedean ones (any dimension).

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
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, ClassVar, Mapping

import numpy as np
from scipy import integrate, optimize, special, stats

from simulator.families._registry import Registry
from simulator.families._values import number

NU_BOUNDS = (2.05, 200.0)
# theta search ranges (exchangeable, any dimension): from ~independence to the largest theta the kernel samples
# exactly (THETA_MAX; Kendall's tau 0.91 Clayton, 0.95 Gumbel, 0.89 Frank)
THETA_MAX = {"clayton": 20.0, "gumbel": 20.0, "frank": 35.0}
THETA_BOUNDS = {"clayton": (1e-6, THETA_MAX["clayton"]), "gumbel": (1.0, THETA_MAX["gumbel"]),
                "frank": (1e-6, THETA_MAX["frank"])}
#: Gumbel's positive-stable frailty is drawn exactly for theta = 1 (independence) and theta >= this value; in
#: between, sin(u) ** (theta / (theta - 1)) underflows with a probability above 1e-16 per draw.
GUMBEL_THETA_GAP = 1.05


# ---------------------------------------------------------------------------------------------- helpers
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
        done = float(np.linalg.norm(y_new - y)) / max(float(np.linalg.norm(y_new)), 1.0) < tol
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


def _exchangeable(value: float, d: int) -> np.ndarray:
    m = np.full((d, d), float(value))
    np.fill_diagonal(m, 1.0)
    return m


def _logdet_and_solve(corr: np.ndarray, x: np.ndarray) -> tuple[float, np.ndarray]:
    """``log|R|`` and the quadratic forms ``x_i' R^-1 x_i`` for rows of x."""
    chol = np.linalg.cholesky(corr)
    logdet = 2.0 * float(np.log(np.diag(chol)).sum())
    from scipy.linalg import solve_triangular

    y = solve_triangular(chol, x.T, lower=True)
    return logdet, np.einsum("ij,ij->j", y, y)


# ---------------------------------------------------------------------------------------------- base
class CopulaFamily:
    """Base class of a copula family's registry entry (subclass it and decorate with :func:`register`).

    Class attributes
    ----------------
    name : str
        The model-file ``copula.type``.
    code : int
        The branch of the kernel's draw (:func:`simulator.kernels.paths._draw_innovations`).
    params : tuple of str
        Model-file keys besides ``type``.
    title : str
    t_scale : bool
        The kernel draws on the Student-t scale (quantile tables are built for ``nu``), else on the
        standard normal scale.
    conditional : bool
        The kernel can draw the other assets conditional on anchored ones (``anchored_path``).
    """

    name: ClassVar[str]
    code: ClassVar[int]
    params: ClassVar[tuple[str, ...]] = ()
    title: ClassVar[str]
    t_scale: ClassVar[bool] = False
    conditional: ClassVar[bool] = False

    def n_params(self, d: int) -> int:
        """Free parameters in ``d`` dimensions (for AIC / BIC)."""
        return 0

    def parse(self, c: Mapping[str, Any], n: int, where: str) -> dict[str, Any]:
        """Validated parameters of a model-file copula object (keys already checked)."""
        return {}

    def to_dict(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The model-file object (``{"type": ..., params...}``) of parameters ``params``."""
        out: dict[str, Any] = {"type": self.name}
        for key in self.params:
            value = params[key]
            out[key] = [[float(v) for v in row] for row in np.asarray(value, dtype=float)] if key == "corr" \
                else float(value)
        return out

    def kendall_tau(self, params: Mapping[str, Any], d: int) -> np.ndarray:
        """Kendall's tau matrix (d, d), unit diagonal."""
        return np.eye(d)

    def equivalent_correlation(self, params: Mapping[str, Any], d: int) -> tuple[np.ndarray, str]:
        """A correlation matrix (d, d) standing for the copula's dependence, and how it was obtained."""
        return np.eye(d), "independence copula"

    def tail_dependence(self, params: Mapping[str, Any], d: int) -> dict[str, np.ndarray]:
        """Coefficients of lower and upper tail dependence, each (d, d) with unit diagonal."""
        return {"lower": np.eye(d), "upper": np.eye(d)}

    def logpdf(self, u: np.ndarray, params: Mapping[str, Any]) -> np.ndarray:
        """Log density at the rows of ``u`` (n, d) in (0, 1)^d."""
        return np.zeros(u.shape[0])

    def fit(self, u: np.ndarray, tau: np.ndarray, notes: list[str]) -> tuple[dict[str, Any], float]:
        """Estimate on pseudo-observations ``u`` (n, d) given their Kendall's tau matrix; returns the
        parameters and the log-likelihood; remarks go to ``notes``."""
        return {}, 0.0

    def kernel_params(self, params: Mapping[str, Any], n: int) -> tuple[np.ndarray, float, float]:
        """``(cop_chol (n, n), cop_nu, cop_theta)`` of one kernel copula set."""
        corr = params.get("corr")
        corr = np.eye(n) if corr is None else np.asarray(corr, dtype=float)
        return np.linalg.cholesky(corr), float(params.get("nu") or 0.0), float(params.get("theta") or 0.0)

    def __repr__(self) -> str:
        return f"<copula family {self.name!r}: {self.title}>"


#: the registered families, in the order calibration fits and lists them (``family="auto"``)
COPULA_FAMILIES: Registry = Registry("family must be one of {valid}; got {name}", unique_code=True)
register = COPULA_FAMILIES.register


def copula_family(name: str) -> CopulaFamily:
    """The registry entry of ``name``; ``ValueError`` listing the valid families."""
    return COPULA_FAMILIES.lookup(name)


def spec_params(spec) -> dict[str, Any]:
    """The parameter dict of a :class:`simulator.model.CopulaSpec`."""
    out: dict[str, Any] = {}
    if spec.corr is not None:
        out["corr"] = np.array(spec.corr, dtype=float)
    if spec.nu is not None:
        out["nu"] = float(spec.nu)
    if spec.theta is not None:
        out["theta"] = float(spec.theta)
    return out


# ---------------------------------------------------------------------------------------------- elliptical
def validate_corr(raw: Any, n: int, where: str) -> tuple[tuple[float, ...], ...]:
    """Check a correlation matrix (square n×n, symmetric, unit diagonal, positive definite)."""
    if not isinstance(raw, (list, tuple, np.ndarray)) or len(raw) != n or any(
        not isinstance(row, (list, tuple, np.ndarray)) or len(row) != n for row in raw
    ):
        raise ValueError(f"{where} must be a {n}x{n} matrix (one row per asset)")
    m = np.array([[number(v, f"{where}[{i}][{j}]") for j, v in enumerate(row)] for i, row in enumerate(raw)])
    bad_diag = np.flatnonzero(np.abs(np.diag(m) - 1.0) > 1e-12)
    if bad_diag.size:
        i = int(bad_diag[0])
        raise ValueError(f"{where}[{i}][{i}] must be 1 (unit diagonal), got {float(m[i, i])!r}")
    asym = np.argwhere(np.abs(m - m.T) > 1e-12)
    if asym.size:
        i, j = map(int, asym[0])
        raise ValueError(f"{where} must be symmetric: [{i}][{j}]={float(m[i, j])!r} but [{j}][{i}]={float(m[j, i])!r}")
    if np.any(np.abs(m) > 1):
        i, j = map(int, np.argwhere(np.abs(m) > 1)[0])
        raise ValueError(f"{where}[{i}][{j}] must lie in [-1, 1], got {float(m[i, j])!r}")
    try:
        np.linalg.cholesky(m)
    except np.linalg.LinAlgError:
        eig = float(np.linalg.eigvalsh(m).min())
        raise ValueError(f"{where} is not positive definite (smallest eigenvalue {eig:.3g})") from None
    return tuple(tuple(float(v) for v in row) for row in m)


class _Elliptical(CopulaFamily):
    conditional = True

    def parse(self, c, n, where):
        return {"corr": validate_corr(c["corr"], n, f"{where}.corr")}

    def kendall_tau(self, params, d):
        tau = 2.0 / np.pi * np.arcsin(np.clip(np.asarray(params["corr"], dtype=float), -1, 1))
        np.fill_diagonal(tau, 1.0)
        return tau

    def equivalent_correlation(self, params, d):
        return np.array(params["corr"], dtype=float), f"{self.name} copula correlation parameter"


@register
class Gaussian(_Elliptical):
    """Gaussian copula with correlation matrix ``corr``."""

    name = "gaussian"
    code = 1
    params = ("corr",)
    title = "Gaussian"

    def n_params(self, d):
        return d * (d - 1) // 2

    def logpdf(self, u, params):
        z = special.ndtri(u)
        logdet, q = _logdet_and_solve(np.asarray(params["corr"], dtype=float), z)
        return -0.5 * logdet - 0.5 * (q - np.einsum("ij,ij->i", z, z))

    def fit(self, u, tau, notes):
        z = special.ndtri(u)
        m = z.T @ z / z.shape[0]
        s = 1.0 / np.sqrt(np.diag(m))
        r = m * s[:, None] * s[None, :]
        r_pd = nearest_correlation(r)
        if np.max(np.abs(r_pd - r)) > 1e-12:
            notes.append(f"gaussian: normal-score correlation corrected to the nearest positive-definite "
                         f"correlation matrix (max change {np.max(np.abs(r_pd - r)):.2g})")
        return {"corr": r_pd}, float(self.logpdf(u, {"corr": r_pd}).sum())


def _t_logpdf_from_x(x: np.ndarray, corr: np.ndarray, nu: float, logdet_q=None) -> np.ndarray:
    d = x.shape[1]
    logdet, q = logdet_q if logdet_q is not None else _logdet_and_solve(corr, x)
    const = (special.gammaln((nu + d) / 2.0) + (d - 1) * special.gammaln(nu / 2.0)
             - d * special.gammaln((nu + 1.0) / 2.0) - 0.5 * logdet)
    return const - (nu + d) / 2.0 * np.log1p(q / nu) + (nu + 1.0) / 2.0 * np.log1p(x * x / nu).sum(axis=1)


@register
class StudentT(_Elliptical):
    """Student-t copula with correlation matrix ``corr`` and ``nu`` degrees of freedom."""

    name = "t"
    code = 2
    params = ("corr", "nu")
    title = "Student-t"
    t_scale = True

    def n_params(self, d):
        return d * (d - 1) // 2 + 1

    def parse(self, c, n, where):
        out = super().parse(c, n, where)
        nu = number(c["nu"], f"{where}.nu")
        if nu <= 2:
            raise ValueError(f"{where}.nu must be > 2, got {nu!r}")
        from simulator.families.laws import MAX_NU

        if nu > MAX_NU:
            raise ValueError(f"{where}.nu is {nu!r}, above {MAX_NU:g}: the copula is a Gaussian one to many digits "
                             "there and its constants lose their precision (use type \"gaussian\")")
        return {**out, "nu": nu}

    def tail_dependence(self, params, d):
        rho = np.clip(np.asarray(params["corr"], dtype=float), -1.0, 1.0)
        nu = float(params["nu"])
        with np.errstate(divide="ignore", invalid="ignore"):
            arg = -np.sqrt((nu + 1.0) * (1.0 - rho) / np.maximum(1.0 + rho, 1e-300))
        lam = 2.0 * stats.t.cdf(arg, nu + 1.0)
        lower, upper = lam.copy(), lam.copy()
        np.fill_diagonal(lower, 1.0)
        np.fill_diagonal(upper, 1.0)
        return {"lower": lower, "upper": upper}

    def logpdf(self, u, params):
        nu = float(params["nu"])
        return _t_logpdf_from_x(stats.t.ppf(u, nu), np.asarray(params["corr"], dtype=float), nu)

    def fit(self, u, tau, notes):
        r = np.sin(np.pi * tau / 2.0)
        r_pd = nearest_correlation(r)
        if np.max(np.abs(r_pd - r)) > 1e-12:
            notes.append(f"t: sin(pi tau / 2) corrected to the nearest positive-definite correlation matrix "
                         f"(max change {np.max(np.abs(r_pd - r)):.2g})")

        def negll(log_nu: float) -> float:
            val = self.logpdf(u, {"corr": r_pd, "nu": math.exp(log_nu)}).sum()
            return -float(val) if np.isfinite(val) else 1e300

        lo, hi = math.log(NU_BOUNDS[0]), math.log(NU_BOUNDS[1])
        res = optimize.minimize_scalar(negll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-5})
        nu = float(math.exp(res.x))
        if res.x > hi - 1e-3:
            notes.append(f"t: nu at the upper search bound {NU_BOUNDS[1]:g} (tails close to Gaussian)")
        if res.x < lo + 1e-3:
            notes.append(f"t: nu at the lower search bound {NU_BOUNDS[0]:g}")
        return {"corr": r_pd, "nu": nu}, -float(res.fun)


# ---------------------------------------------------------------------------------------------- Archimedean
class _Archimedean(CopulaFamily):
    """Exchangeable Archimedean copula: one ``theta`` for every pair, any dimension."""

    params = ("theta",)
    #: lowest valid theta, and whether it is itself valid (the independence limit)
    theta_min: ClassVar[tuple[float, bool]] = (0.0, False)
    #: added to theta before the log-scale search (gumbel: theta - 1 > 0)
    shift: ClassVar[float] = 0.0

    def n_params(self, d):
        return 1

    def parse(self, c, n, where):
        theta = number(c["theta"], f"{where}.theta")
        lo, closed = self.theta_min
        if theta < lo or (theta == lo and not closed):
            raise ValueError(f"{where}.theta must be {'>=' if closed else '>'} {lo:g} for an exchangeable {self.name} "
                             f"copula in {n} dimensions, got {theta!r}")
        hi = THETA_MAX[self.name]
        if theta > hi:
            raise ValueError(f"{where}.theta is {theta!r}, above {hi:g} (Kendall's tau {self.tau(hi):.3f}), the largest "
                             f"{self.name} theta the simulation kernel samples exactly")
        self.check_sampler(theta, where)
        return {"theta": theta}

    def check_sampler(self, theta: float, where: str) -> None:
        """Family-specific gaps in the range the kernel samples exactly (none by default)."""

    def tau(self, theta: float) -> float:
        """Kendall's tau of the bivariate copula."""
        raise NotImplementedError

    def theta_of_tau(self, tau: float) -> float:
        """Inverse of :meth:`tau` (tau clipped into the family's range, positive dependence)."""
        raise NotImplementedError

    def kendall_tau(self, params, d):
        return _exchangeable(self.tau(params["theta"]), d)

    def equivalent_correlation(self, params, d):
        tau = self.tau(float(params["theta"]))
        return (_exchangeable(math.sin(math.pi * tau / 2.0), d),
                f"{self.name} copula: sin(pi tau / 2) of its Kendall's tau {tau:.4f}")

    def fit(self, u, tau, notes):
        d = u.shape[1]
        tau_bar = float(tau[np.triu_indices(d, 1)].mean()) if d > 1 else 0.0
        lo, hi = THETA_BOUNDS[self.name]
        shift = self.shift
        # optimise on log(theta - shift) so the search is scale free
        a = math.log(max(lo - shift, 1e-6))
        b = math.log(hi - shift)

        def negll(x: float) -> float:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                val = self.logpdf(u, {"theta": shift + math.exp(x)}).sum()
            return -float(val) if np.isfinite(val) else 1e300

        # bounded Brent search on the whole range, then a local search around the tau inversion as a guard
        res = optimize.minimize_scalar(negll, bounds=(a, b), method="bounded", options={"xatol": 1e-7})
        x0 = math.log(max(self.theta_of_tau(max(tau_bar, 1e-4)) - shift, 1e-6))
        if negll(x0) < res.fun:  # guard against a local optimum of the bounded search
            res2 = optimize.minimize_scalar(negll, bounds=(max(a, x0 - 1.0), min(b, x0 + 1.0)), method="bounded",
                                            options={"xatol": 1e-7})
            if res2.fun < res.fun:
                res = res2
        theta = shift + math.exp(res.x)
        if res.x < a + 1e-3:
            notes.append(f"{self.name}: theta at the independence bound (no positive dependence to capture)")
        if res.x > b - 1e-3:
            notes.append(f"{self.name}: theta at the upper search bound {hi:g}")
        return {"theta": float(theta)}, -float(res.fun)

    def _clip_theta(self, th: float) -> float:
        lo, hi = THETA_BOUNDS[self.name]
        return float(np.clip(th, lo, hi))


@register
class Clayton(_Archimedean):
    """Clayton: generator ``psi(t) = (1 + t)^(-1/theta)``, ``theta > 0``; lower tail dependence."""

    name = "clayton"
    code = 3
    title = "Clayton"

    def tau(self, theta):
        return theta / (theta + 2.0)

    def theta_of_tau(self, tau):
        tau = float(np.clip(tau, 1e-6, 0.98))
        return self._clip_theta(2.0 * tau / (1.0 - tau))

    def tail_dependence(self, params, d):
        lower = np.zeros((d, d))
        lower[:] = 2.0 ** (-1.0 / params["theta"])
        np.fill_diagonal(lower, 1.0)
        return {"lower": lower, "upper": np.eye(d)}

    def logpdf(self, u, params):
        theta = float(params["theta"])
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


@register
class Gumbel(_Archimedean):
    """Gumbel: generator ``psi(t) = exp(-t^(1/theta))``, ``theta >= 1``; upper tail dependence."""

    name = "gumbel"
    code = 4
    title = "Gumbel"
    theta_min = (1.0, True)
    shift = 1.0

    def check_sampler(self, theta, where):
        if 1.0 < theta < GUMBEL_THETA_GAP:
            raise ValueError(f"{where}.theta is {theta!r}: a gumbel theta must be 1 (independence) or at least "
                             f"{GUMBEL_THETA_GAP:g} (Kendall's tau {self.tau(GUMBEL_THETA_GAP):.3f}); in between the "
                             "kernel's positive-stable draw underflows")

    def fit(self, u, tau, notes):
        params, ll = super().fit(u, tau, notes)
        theta = params["theta"]
        if 1.0 < theta < GUMBEL_THETA_GAP:  # the better of the two ends of the gap the kernel cannot sample
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                ends = [(float(self.logpdf(u, {"theta": t}).sum()), t) for t in (1.0, GUMBEL_THETA_GAP)]
            ll, theta = max(ends)
            notes.append(f"gumbel: theta {params['theta']:.4f} moved to {theta:g} (the kernel samples theta = 1 or "
                         f">= {GUMBEL_THETA_GAP:g} exactly)")
        return {"theta": float(theta)}, float(ll)

    def tau(self, theta):
        return 1.0 - 1.0 / theta

    def theta_of_tau(self, tau):
        tau = float(np.clip(tau, 1e-6, 0.98))
        return self._clip_theta(1.0 / (1.0 - tau))

    def tail_dependence(self, params, d):
        upper = np.zeros((d, d))
        upper[:] = 2.0 - 2.0 ** (1.0 / params["theta"])
        np.fill_diagonal(upper, 1.0)
        return {"lower": np.eye(d), "upper": upper}

    def logpdf(self, u, params):
        theta = float(params["theta"])
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


def _debye1(theta: float) -> float:
    """Debye function ``D_1(theta) = (1/theta) int_0^theta t / (e^t - 1) dt`` (theta > 0)."""
    if theta == 0:
        return 1.0
    val, _ = integrate.quad(lambda t: t / math.expm1(t) if t > 0 else 1.0, 0.0, abs(theta))
    d = val / abs(theta)
    return d if theta > 0 else d + abs(theta) / 2.0  # D_1(-x) = D_1(x) + x/2


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


@register
class Frank(_Archimedean):
    """Frank: generator ``psi(t) = -log(1 - (1 - e^-theta) e^-t) / theta``, ``theta > 0``; no tail dependence."""

    name = "frank"
    code = 5
    title = "Frank"

    def tau(self, theta):
        """``1 + 4 (D_1(theta) - 1) / theta``."""
        if abs(theta) < 1e-8:
            return theta / 9.0
        return 1.0 + 4.0 * (_debye1(theta) - 1.0) / theta

    def theta_of_tau(self, tau):
        tau = float(np.clip(tau, 1e-6, 0.98))
        return self._clip_theta(optimize.brentq(lambda t: self.tau(t) - tau, 1e-8, 500.0, xtol=1e-12))

    def logpdf(self, u, params):
        theta = float(params["theta"])
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


@register
class Independent(CopulaFamily):
    """Independence: the product copula."""

    name = "independent"
    code = 0
    title = "independence"
    conditional = True
