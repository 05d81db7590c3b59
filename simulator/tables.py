"""Tabulated quantile maps: copula scale → standardised marginal innovation.

The kernel never calls scipy per draw. For each (copula scale, asset) pair we tabulate once the
monotone map ``x -> F^{-1}(G(x))`` where ``G`` is the copula's scale CDF (standard normal, or
Student-t with the copula's nu) and ``F`` the asset's standardised innovation law, together with
its exact derivative ``g(x) / f(F^{-1}(G(x)))``. The kernel evaluates the cubic Hermite interpolant
through these nodes from per-segment polynomial coefficients (:func:`segment_coefficients`: four
doubles per segment, 32 contiguous bytes, so one lookup is one aligned load and three multiply-adds).

Layout (one array per table): a centre segment uniform in ``x`` on ``[-xc, xc]`` (``N_CENTER``
points; the only one touched by ~99.9% of draws, no transcendental call), then two tail segments
uniform in ``log|x|`` on ``[log xc, log xmax]`` (``N_TAIL`` points each: right tail, then left tail).
``xc`` is the source law's quantile with two-sided tail probability 1e-5; ``xmax`` its quantile of tail probability 1e-30. Beyond ``xmax`` the
map continues linearly in ``log|x|``. Tail probabilities are computed from the near side
(``q = 1 - u`` directly) so the upper tail keeps full relative precision.

Laws (``marginal_ppf``, ``marginal_cdf_pair``, ``marginal_logpdf``/``marginal_pdf``, vectorised):
``normal``, ``t``, ``skewt`` in closed form; ``evt`` (skew-t body, generalised Pareto tails, see
:class:`simulator.model.DistSpec`) in closed form piece by piece, re-standardised by its exact mean and
standard deviation; ``fhs`` (Gaussian kernels on the asinh scale) with closed-form CDF, density and moments
and quantiles by safeguarded Newton on the log-CDF (relative error ~1e-13). ``evt``'s density jumps at its
two splice points, so its quantile map has a kink there: in the one centre segment holding a splice the
Hermite error is at most ``0.1474 h D`` (``h`` the segment width, ``D`` the jump of the map's slope),
elsewhere it is as for the smooth laws (tests/test_tables.py states the bounds and the measured errors).
``marginal_partial_moments``, ``marginal_abs_mean`` and ``marginal_tail_mean`` (the standardised expected
shortfall ``E[Z | Z <= F^-1(alpha)]``) serve every law.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import special

N_CENTER = 2049
N_TAIL = 513
N_GRID = N_CENTER + 2 * N_TAIL
CENTER_TAIL_PROB = 1e-5  # two-sided probability outside the centre segment
TAIL_PROB = 1e-30

# table kind codes used by the kernel
TABLE_IDENTITY = 0
TABLE_HERMITE = 1


# ---------------------------------------------------------------------- standardised marginal laws
def _t_scale(nu: float) -> float:
    return math.sqrt((nu - 2.0) / nu)


def _skewt_consts(nu: float, lam: float) -> tuple[float, float, float]:
    c = math.exp(special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2)) / math.sqrt(math.pi * (nu - 2))
    a = 4 * lam * c * (nu - 2) / (nu - 1)
    b = math.sqrt(1 + 3 * lam * lam - a * a)
    return a, b, c


def _skewt_ppf(u: np.ndarray, q: np.ndarray, nu: float, lam: float) -> np.ndarray:
    a, b, _ = _skewt_consts(nu, lam)
    k = _t_scale(nu)
    split = (1 - lam) / 2  # P(z < -a/b)
    left = u < split
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = (1 - lam) / b * k * special.stdtrit(nu, u / (1 - lam)) - a / b
        # upper branch: t^{-1}(1 - q/(1+lam)) computed from the upper tail
        hi = (1 + lam) / b * k * -special.stdtrit(nu, q / (1 + lam)) - a / b
    return np.where(left, lo, hi)


def _skewt_logpdf(z: np.ndarray, nu: float, lam: float) -> np.ndarray:
    a, b, c = _skewt_consts(nu, lam)
    s = np.where(z < -a / b, 1 - lam, 1 + lam)
    return math.log(b * c) - (nu + 1) / 2 * np.log1p(((b * z + a) / s) ** 2 / (nu - 2))


def _skewt_cdf_pair(z: np.ndarray, nu: float, lam: float) -> tuple[np.ndarray, np.ndarray]:
    a, b, _ = _skewt_consts(nu, lam)
    k = _t_scale(nu)
    y = b * z + a
    left = z < -a / b
    lo = (1 - lam) * special.stdtr(nu, y / ((1 - lam) * k))
    hi_q = (1 + lam) * special.stdtr(nu, -y / ((1 + lam) * k))
    return np.where(left, lo, 1 - hi_q), np.where(left, 1 - lo, hi_q)


def _t_upper_first_moment(w: np.ndarray, nu: float) -> np.ndarray:
    """``int_w^inf x g(x) dx`` for the unit-variance Student-t density ``g`` (closed form)."""
    k = _t_scale(nu)
    t = np.asarray(w, float) / k
    return k * (nu + t * t) / (nu - 1) * np.exp(_t_logpdf(t, nu))


def _skewt_pm1(y: np.ndarray, nu: float, lam: float) -> np.ndarray:
    """``int_{-inf}^y z f(z) dz`` of Hansen's skewed t (closed form: it is a two-piece scaled t)."""
    y = np.asarray(y, float)
    a, b, _ = _skewt_consts(nu, lam)
    k = _t_scale(nu)
    left = y < -a / b
    wl = (b * y + a) / (1 - lam)
    lo = (1 - lam) / b * (-(1 - lam) * _t_upper_first_moment(-wl, nu) - a * special.stdtr(nu, wl / k))
    wr = (b * y + a) / (1 + lam)
    hi = -(1 + lam) / b * ((1 + lam) * _t_upper_first_moment(wr, nu) - a * special.stdtr(nu, -wr / k))
    return np.where(left, lo, hi)


# ---------------------------------------------------------------------- GARCH-EVT law (McNeil and Frey 2000)
def _gpd_logsf(w: np.ndarray, xi: float, beta: float) -> np.ndarray:
    """Log survival function of the generalised Pareto law GPD(xi, beta) at ``w >= 0``."""
    if xi == 0.0:
        return -np.asarray(w, float) / beta
    return -np.log1p(xi * np.asarray(w, float) / beta) / xi


def _gpd_logpdf(w: np.ndarray, xi: float, beta: float) -> np.ndarray:
    if xi == 0.0:
        return -math.log(beta) - np.asarray(w, float) / beta
    return -math.log(beta) - (1.0 / xi + 1.0) * np.log1p(xi * np.asarray(w, float) / beta)


def _gpd_isf(p: np.ndarray, xi: float, beta: float) -> np.ndarray:
    """The ``w`` with survival probability ``p`` in (0, 1] (inverse survival function)."""
    with np.errstate(divide="ignore"):
        lp = np.log(np.asarray(p, float))
    if xi == 0.0:
        return -beta * lp
    return beta * np.expm1(-xi * lp) / xi


def _gpd_excess_moments(w0: float, xi: float, beta: float) -> tuple[float, float]:
    """``E[W | W > w0]`` and ``E[W^2 | W > w0]``: beyond ``w0`` the excess is GPD(xi, beta + xi w0)."""
    b = beta + xi * w0
    e1 = b / (1.0 - xi)
    e2 = 2.0 * b * b / ((1.0 - xi) * (1.0 - 2.0 * xi))
    return w0 + e1, w0 * w0 + 2.0 * w0 * e1 + e2


@dataclass(frozen=True)
class _EvtLaw:
    """The spliced law Y (skew-t body, GPD tails) and its exact mean ``m`` and standard deviation ``s``."""

    nu: float
    lam: float
    uL: float
    pL: float
    xiL: float
    bL: float
    uR: float
    pR: float
    xiR: float
    bR: float
    HL: float  # skew-t H(uL)
    QR: float  # skew-t 1 - H(uR)
    r: float  # body density multiplier (1 - pL - pR) / (H(uR) - H(uL))
    m: float = 0.0
    s: float = 1.0

    def body_moment(self, lo: float, hi: float, power: int) -> float:
        """``int_lo^hi y^power h(y) dy`` of the skew-t body (closed form for powers 0 and 1)."""
        if hi <= lo:
            return 0.0
        if power == 0:
            return float(_skewt_cdf_pair(np.array(hi), self.nu, self.lam)[0]
                         - _skewt_cdf_pair(np.array(lo), self.nu, self.lam)[0])
        if power == 1:
            return float(_skewt_pm1(np.array(hi), self.nu, self.lam) - _skewt_pm1(np.array(lo), self.nu, self.lam))
        from scipy import integrate

        a, b, _ = _skewt_consts(self.nu, self.lam)
        mode = -a / b
        pts = [mode] if lo < mode < hi else None
        val, _ = integrate.quad(lambda y: y ** power * math.exp(float(_skewt_logpdf(np.array(y), self.nu, self.lam))),
                                lo, hi, points=pts, epsabs=1e-14, epsrel=1e-13, limit=200)
        return float(val)

    def partial(self, c: float) -> tuple[float, float, float]:
        """``(int_{-inf}^c y^k f_Y(y) dy for k = 0, 1, 2)`` of the raw spliced law."""
        if c <= self.uL:
            w0 = self.uL - c
            sf = self.pL * math.exp(float(_gpd_logsf(np.array(w0), self.xiL, self.bL)))
            e1, e2 = _gpd_excess_moments(w0, self.xiL, self.bL)
            return sf, sf * (self.uL - e1), sf * (self.uL ** 2 - 2 * self.uL * e1 + e2)
        e1, e2 = _gpd_excess_moments(0.0, self.xiL, self.bL)
        out = [self.pL, self.pL * (self.uL - e1), self.pL * (self.uL ** 2 - 2 * self.uL * e1 + e2)]
        hi = min(c, self.uR)
        for k in range(3):
            out[k] += self.r * self.body_moment(self.uL, hi, k)
        if c > self.uR:
            tot1, tot2 = _gpd_excess_moments(0.0, self.xiR, self.bR)
            u = self.uR
            out[0] += self.pR
            out[1] += self.pR * (u + tot1)
            out[2] += self.pR * (u * u + 2 * u * tot1 + tot2)
            if math.isfinite(c):  # less the part beyond c
                w0 = c - self.uR
                sf = self.pR * math.exp(float(_gpd_logsf(np.array(w0), self.xiR, self.bR)))
                b1, b2 = _gpd_excess_moments(w0, self.xiR, self.bR)
                out[0] -= sf
                out[1] -= sf * (u + b1)
                out[2] -= sf * (u * u + 2 * u * b1 + b2)
        return out[0], out[1], out[2]

    # raw (unstandardised) law
    def cdf_pair(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = np.asarray(y, float)
        H, Q = _skewt_cdf_pair(y, self.nu, self.lam)
        F = self.pL + self.r * (H - self.HL)
        G = self.pR + self.r * (Q - self.QR)
        with np.errstate(invalid="ignore", over="ignore"):
            lt = self.pL * np.exp(_gpd_logsf(np.maximum(self.uL - y, 0.0), self.xiL, self.bL))
            rt = self.pR * np.exp(_gpd_logsf(np.maximum(y - self.uR, 0.0), self.xiR, self.bR))
        left, right = y < self.uL, y > self.uR
        F = np.where(left, lt, np.where(right, 1.0 - rt, F))
        G = np.where(left, 1.0 - lt, np.where(right, rt, G))
        return F, G

    def logpdf(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, float)
        body = math.log(self.r) + _skewt_logpdf(y, self.nu, self.lam)
        with np.errstate(invalid="ignore", divide="ignore"):
            lt = math.log(self.pL) + _gpd_logpdf(np.maximum(self.uL - y, 0.0), self.xiL, self.bL)
            rt = math.log(self.pR) + _gpd_logpdf(np.maximum(y - self.uR, 0.0), self.xiR, self.bR)
        return np.where(y < self.uL, lt, np.where(y > self.uR, rt, body))

    def ppf(self, u: np.ndarray, q: np.ndarray) -> np.ndarray:
        u = np.asarray(u, float)
        q = np.asarray(q, float)
        lower = u <= q
        with np.errstate(divide="ignore", invalid="ignore"):
            lt = self.uL - _gpd_isf(np.minimum(u / self.pL, 1.0), self.xiL, self.bL)
            rt = self.uR + _gpd_isf(np.minimum(q / self.pR, 1.0), self.xiR, self.bR)
            w = np.where(lower, self.HL + (u - self.pL) / self.r, 1.0 - (self.QR + (q - self.pR) / self.r))
            wq = np.where(lower, 1.0 - w, self.QR + (q - self.pR) / self.r)
            body = _skewt_ppf(np.clip(w, 0.0, 1.0), np.clip(wq, 0.0, 1.0), self.nu, self.lam)
        return np.where(lower & (u < self.pL), lt, np.where(~lower & (q < self.pR), rt, body))


@functools.lru_cache(maxsize=256)
def _evt_law(dist) -> _EvtLaw:
    nu, lam = dist.nu, dist.lam
    uL, uR = dist.threshold_left, dist.threshold_right
    HL = float(_skewt_cdf_pair(np.array(uL), nu, lam)[0])
    QR = float(_skewt_cdf_pair(np.array(uR), nu, lam)[1])
    pL, pR = dist.tail_prob_left, dist.tail_prob_right
    law = _EvtLaw(nu, lam, uL, pL, dist.xi_left, dist.beta_left, uR, pR, dist.xi_right, dist.beta_right,
                  HL, QR, (1.0 - pL - pR) / (1.0 - HL - QR))
    _, m1, m2 = law.partial(math.inf)
    return dataclasses.replace(law, m=m1, s=math.sqrt(m2 - m1 * m1))


# ---------------------------------------------------------------------- FHS law (smoothed residual law)
@dataclass(frozen=True)
class _FhsLaw:
    """``Y = sinh(X)``, ``X`` the equal-weight mixture of ``N(a_i, h^2)``, ``a_i = asinh(c_i)``; ``Z = (Y - m) / s``."""

    a: np.ndarray
    h: float
    m: float
    s: float

    def raw_partial(self, y: float) -> tuple[float, float, float]:
        """``(P(Y <= y), E[Y 1{Y <= y}], E[Y^2 1{Y <= y}])`` in closed form (log-normal-type pieces)."""
        a, h = self.a, self.h
        x = math.asinh(y) if math.isfinite(y) else y

        def cut(shift):  # P(X + shift h^2 <= x) for X ~ N(a, h^2), i.e. Phi((x - a - shift h^2) / h)
            return special.ndtr((x - a - shift * h * h) / h)

        p0 = cut(0.0)
        e_pos, e_neg = np.exp(a + 0.5 * h * h) * cut(1.0), np.exp(-a + 0.5 * h * h) * cut(-1.0)
        e2_pos, e2_neg = np.exp(2 * a + 2 * h * h) * cut(2.0), np.exp(-2 * a + 2 * h * h) * cut(-2.0)
        p1 = 0.5 * (e_pos - e_neg)
        p2 = 0.25 * (e2_pos + e2_neg) - 0.5 * p0  # sinh^2 = (cosh 2x - 1) / 2
        return float(p0.mean()), float(p1.mean()), float(p2.mean())


@functools.lru_cache(maxsize=256)
def _fhs_law(dist) -> _FhsLaw:
    a = np.arcsinh(np.asarray(dist.centres, float))
    a.setflags(write=False)
    h = float(dist.bandwidth)
    law = _FhsLaw(a, h, 0.0, 1.0)
    _, m1, m2 = law.raw_partial(math.inf)
    return _FhsLaw(a, h, m1, math.sqrt(m2 - m1 * m1))


_FHS_BLOCK = 4096


def _fhs_apply(x: np.ndarray, fn, n_out: int):
    """Evaluate ``fn(block) -> tuple of arrays`` over ``x`` flattened in blocks (bounded memory)."""
    x = np.asarray(x, float)
    flat = x.reshape(-1)
    outs = [np.empty(flat.size) for _ in range(n_out)]
    for i in range(0, flat.size, _FHS_BLOCK):
        res = fn(flat[i:i + _FHS_BLOCK])
        for o, r in zip(outs, res):
            o[i:i + _FHS_BLOCK] = r
    return tuple(o.reshape(x.shape) for o in outs)


def _fhs_cdf_pair(z: np.ndarray, law: _FhsLaw) -> tuple[np.ndarray, np.ndarray]:
    x = np.arcsinh(law.m + law.s * np.asarray(z, float))

    def fn(v):
        t = (v[:, None] - law.a[None, :]) / law.h
        return special.ndtr(t).mean(axis=1), special.ndtr(-t).mean(axis=1)

    return _fhs_apply(x, fn, 2)


def _fhs_logpdf(z: np.ndarray, law: _FhsLaw) -> np.ndarray:
    y = law.m + law.s * np.asarray(z, float)
    x = np.arcsinh(y)

    def fn(v):
        t = (v[:, None] - law.a[None, :]) / law.h
        return (special.logsumexp(-0.5 * t * t, axis=1),)

    (lse,) = _fhs_apply(x, fn, 1)
    return (lse - math.log(law.a.size) - math.log(law.h) - 0.5 * math.log(2 * math.pi)
            - 0.5 * np.log1p(y * y) + math.log(law.s))


def _mixture_logcdf_logpdf(x: np.ndarray, c: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray]:
    """``log F`` and ``log f`` of the equal-weight mixture of ``N(c_i, h^2)`` at ``x`` (1-d).

    Direct sums where every point lies within 30 kernel widths below the largest centre (no term
    underflows there; 3x faster), log-sum-exp of ``log_ndtr`` otherwise."""
    lF, lf = np.empty(x.size), np.empty(x.size)
    near = x > float(c.max()) - 30.0 * h
    if near.any():
        t = (x[near, None] - c[None, :]) / h
        lF[near] = np.log(special.ndtr(t).mean(axis=1))
        lf[near] = np.log(np.exp(-0.5 * t * t).mean(axis=1) / (h * math.sqrt(2 * math.pi)))
    if not near.all():
        t = (x[~near, None] - c[None, :]) / h
        logn = math.log(c.size)
        lF[~near] = special.logsumexp(special.log_ndtr(t), axis=1) - logn
        lf[~near] = special.logsumexp(-0.5 * t * t, axis=1) - logn - math.log(h) - 0.5 * math.log(2 * math.pi)
    return lF, lf


def _mixture_lower_quantile(p: np.ndarray, c: np.ndarray, h: float) -> np.ndarray:
    """Solve ``mean_i Phi((x - c_i) / h) = p`` for ``x`` (p in [0, 1/2]).

    The root lies in ``[c_min + h Phi^-1(p), c_max + h Phi^-1(p)]``; the start is interpolated from
    ``log F`` on a 2049-point grid of that range, then Newton steps on ``log F`` (bisection when a step
    leaves the bracket) until a step is below 1e-13 (1 + |x|): quadratic convergence makes the last
    step's error negligible. Points are dropped from the iteration as they converge.
    """
    p = np.asarray(p, float)
    out = np.full(p.shape, -np.inf)
    ok = p > 0
    if not ok.any():
        return out
    pp = p[ok]
    zp = special.ndtri(pp)
    lo, hi = c.min() + h * zp, c.max() + h * zp
    logp = np.log(pp)
    grid = np.linspace(lo.min(), hi.max(), 2049)
    lg, _ = _mixture_logcdf_logpdf(grid, c, h)
    y = np.clip(np.interp(logp, lg, grid), lo, hi)
    act = np.arange(pp.size)
    for _ in range(100):
        ya = y[act]
        lF, lf = _mixture_logcdf_logpdf(ya, c, h)
        g = lF - logp[act]
        lo[act] = np.where(g < 0, ya, lo[act])
        hi[act] = np.where(g > 0, ya, hi[act])
        ynew = ya - g * np.exp(lF - lf)
        bad = ~((ynew >= lo[act]) & (ynew <= hi[act]))
        ynew = np.where(bad, 0.5 * (lo[act] + hi[act]), ynew)
        ynew = np.where(g == 0, ya, ynew)
        y[act] = ynew
        done = (np.abs(ynew - ya) <= 1e-13 * (1.0 + np.abs(ya))) & ~bad
        done |= hi[act] - lo[act] <= 4e-16 * (1.0 + np.abs(ynew))
        act = act[~done]
        if act.size == 0:
            break
    out[ok] = y
    return out


def _fhs_ppf(u: np.ndarray, q: np.ndarray, law: _FhsLaw) -> np.ndarray:
    u = np.asarray(u, float)
    q = np.asarray(q, float)
    shape = np.broadcast(u, q).shape
    lower = np.broadcast_to(u <= q, shape).reshape(-1)
    p = np.broadcast_to(np.minimum(u, q), shape).reshape(-1)
    x = np.empty(p.size)
    for i in range(0, p.size, _FHS_BLOCK):
        sl = slice(i, i + _FHS_BLOCK)
        pl, lw = p[sl], lower[sl]
        res = np.empty(pl.size)
        if lw.any():
            res[lw] = _mixture_lower_quantile(pl[lw], law.a, law.h)
        if (~lw).any():
            res[~lw] = -_mixture_lower_quantile(pl[~lw], -law.a, law.h)
        x[sl] = res
    return ((np.sinh(x) - law.m) / law.s).reshape(shape)


def _fhs_partial(z: float, law: _FhsLaw) -> tuple[float, float, float]:
    y = law.m + law.s * z
    p0, p1, p2 = law.raw_partial(y)
    return p0, (p1 - law.m * p0) / law.s, (p2 - 2 * law.m * p1 + law.m ** 2 * p0) / law.s ** 2


# ---------------------------------------------------------------------- law-agnostic entry points
def marginal_ppf(u: np.ndarray, q: np.ndarray, dist) -> np.ndarray:
    """Quantile of a standardised innovation law at lower-tail prob ``u`` with ``q = 1 - u`` given exactly.

    ``dist`` is a :class:`simulator.model.DistSpec`. Arrays of any shape; the side with the smaller
    probability is used, so extreme upper quantiles keep full precision.
    """
    u = np.asarray(u, float)
    q = np.asarray(q, float)
    lower = u <= q
    if dist.type == "normal":
        return np.where(lower, special.ndtri(u), -special.ndtri(q))
    if dist.type == "t":
        nu = dist.nu
        return _t_scale(nu) * np.where(lower, special.stdtrit(nu, u), -special.stdtrit(nu, q))
    if dist.type == "evt":
        law = _evt_law(dist)
        return (law.ppf(u, q) - law.m) / law.s
    if dist.type == "fhs":
        return _fhs_ppf(u, q, _fhs_law(dist))
    return _skewt_ppf(u, q, dist.nu, dist.lam)


def _t_logpdf(x: np.ndarray, nu: float) -> np.ndarray:
    logc = special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2) - 0.5 * math.log(nu * math.pi)
    return logc - (nu + 1) / 2 * np.log1p(x * x / nu)


def marginal_logpdf(z: np.ndarray, dist) -> np.ndarray:
    """Log density of a standardised innovation law (arch's Normal, StudentsT, SkewStudent; evt; fhs)."""
    z = np.asarray(z, float)
    if dist.type == "normal":
        return -0.5 * z * z - 0.5 * math.log(2 * math.pi)
    if dist.type == "t":
        k = _t_scale(dist.nu)
        return _t_logpdf(z / k, dist.nu) - math.log(k)
    if dist.type == "evt":
        law = _evt_law(dist)
        return law.logpdf(law.m + law.s * z) + math.log(law.s)
    if dist.type == "fhs":
        return _fhs_logpdf(z, _fhs_law(dist))
    return _skewt_logpdf(z, dist.nu, dist.lam)


def marginal_pdf(z: np.ndarray, dist) -> np.ndarray:
    """Density of a standardised innovation law."""
    return np.exp(marginal_logpdf(z, dist))


def marginal_cdf_pair(z: np.ndarray, dist) -> tuple[np.ndarray, np.ndarray]:
    """``(F(z), 1 - F(z))`` of a standardised innovation law, each computed from its own side."""
    z = np.asarray(z, float)
    if dist.type == "normal":
        return special.ndtr(z), special.ndtr(-z)
    if dist.type == "t":
        k = _t_scale(dist.nu)
        return special.stdtr(dist.nu, z / k), special.stdtr(dist.nu, -z / k)
    if dist.type == "evt":
        law = _evt_law(dist)
        return law.cdf_pair(law.m + law.s * z)
    if dist.type == "fhs":
        return _fhs_cdf_pair(z, _fhs_law(dist))
    return _skewt_cdf_pair(z, dist.nu, dist.lam)


def marginal_cdf(z: np.ndarray, dist) -> np.ndarray:
    """CDF of a standardised innovation law."""
    return marginal_cdf_pair(z, dist)[0]


def marginal_partial_moments(c: float, dist) -> tuple[float, float, float]:
    """``(P(Z <= c), E[Z 1{Z <= c}], E[Z^2 1{Z <= c}])`` of a standardised innovation law at a scalar ``c``.

    Closed forms for normal, t and skew-t (first moment), GPD tails and the kernel mixture; the second
    moment of a t or skew-t piece by adaptive quadrature on a bounded interval (or the whole line).
    """
    c = float(c)
    if dist.type == "evt":
        law = _evt_law(dist)
        y = law.m + law.s * c
        p0, p1, p2 = law.partial(y)
        return p0, (p1 - law.m * p0) / law.s, (p2 - 2 * law.m * p1 + law.m ** 2 * p0) / law.s ** 2
    if dist.type == "fhs":
        return _fhs_partial(c, _fhs_law(dist))
    p0 = float(marginal_cdf(np.array(c), dist))
    if dist.type == "normal":
        phi = math.exp(-0.5 * c * c) / math.sqrt(2 * math.pi) if math.isfinite(c) else 0.0
        return p0, -phi, p0 - (c * phi if math.isfinite(c) else 0.0)
    if dist.type == "t":
        p1 = -float(_t_upper_first_moment(np.array(-c), dist.nu)) if math.isfinite(c) else 0.0
    else:
        p1 = float(_skewt_pm1(np.array(c), dist.nu, dist.lam)) if math.isfinite(c) else 0.0
    from scipy import integrate

    p2, _ = integrate.quad(lambda x: x * x * math.exp(float(marginal_logpdf(np.array(x), dist))), -np.inf, c,
                           epsabs=1e-13, epsrel=1e-12, limit=200)
    return p0, p1, float(p2)


def marginal_abs_mean(dist) -> float:
    """``E|Z|`` of a standardised innovation law (EGARCH's long-run log variance needs it)."""
    return -2.0 * marginal_partial_moments(0.0, dist)[1]


def marginal_tail_mean(alpha, dist):
    """``E[Z | Z <= F^{-1}(alpha)]``, the standardised expected shortfall at lower-tail level ``alpha``.

    Any law (normal, t, skewt, evt, fhs); closed forms throughout (normal ``-phi(q)/alpha``; Student-t
    ``-k (nu + t^2) / (nu - 1) f_nu(t) / alpha``; skew-t piecewise from the t; GPD mean excess
    ``(beta + xi w) / (1 - xi)``; Gaussian-kernel partial moments); the skew-t body of ``evt`` below
    ``F^{-1}(alpha)`` is closed form too. ``alpha`` is a float or an array of floats in (0, 1).
    """
    a = np.asarray(alpha, float)
    if not np.all((a > 0) & (a < 1)):
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    q = marginal_ppf(a, 1.0 - a, dist)
    if dist.type == "normal":
        out = -np.exp(-0.5 * q * q) / math.sqrt(2 * math.pi) / a
    elif dist.type == "t":
        out = -_t_upper_first_moment(-q, dist.nu) / a
    elif dist.type == "skewt":
        out = _skewt_pm1(q, dist.nu, dist.lam) / a
    else:
        out = np.vectorize(lambda qq, aa: marginal_partial_moments(qq, dist)[1] / aa, otypes=[float])(q, a)
    return float(out) if np.ndim(out) == 0 else out


# ---------------------------------------------------------------------- copula scales
@dataclass(frozen=True)
class Scale:
    """A copula's scale: ``nu=None`` for the standard normal, else Student-t with ``nu`` dof."""

    nu: float | None = None

    def cdf_pair(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.nu is None:
            return special.ndtr(x), special.ndtr(-x)
        return special.stdtr(self.nu, x), special.stdtr(self.nu, -x)

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        if self.nu is None:
            return -0.5 * x * x - 0.5 * math.log(2 * math.pi)
        return _t_logpdf(x, self.nu)

    def ppf(self, u: np.ndarray) -> np.ndarray:
        if self.nu is None:
            return special.ndtri(u)
        return special.stdtrit(self.nu, u)

    def ppf_pair(self, u: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Quantile at lower-tail prob ``u`` given ``q = 1 - u``, from the near side."""
        return np.where(u <= q, self.ppf(np.minimum(u, q)), -self.ppf(np.minimum(u, q)))


@dataclass(frozen=True)
class QuantileTable:
    """Hermite table of ``x -> F^{-1}(G(x))`` (see module docstring for the layout)."""

    kind: int
    xc: float  # centre half-width
    inv_hc: float  # 1 / centre spacing (in x)
    inv_ht: float  # 1 / tail spacing (in log|x|)
    values: np.ndarray  # (N_GRID,)
    slopes: np.ndarray  # (N_GRID,) d value / d (segment coordinate)


def _grid(xc: float, xmax: float) -> tuple[np.ndarray, np.ndarray, float, float]:
    xs_t = np.exp(np.linspace(math.log(xc), math.log(xmax), N_TAIL))
    x = np.concatenate([np.linspace(-xc, xc, N_CENTER), xs_t, -xs_t])
    dxds = np.concatenate([np.ones(N_CENTER), xs_t, -xs_t])  # d x / d log|x| = x on the tails
    return x, dxds, (N_CENTER - 1) / (2 * xc), (N_TAIL - 1) / (math.log(xmax) - math.log(xc))


def _bounds(ppf_pair) -> tuple[float, float]:
    """Centre half-width (tail prob CENTER_TAIL_PROB / 2 each side) and outer reach (TAIL_PROB)."""
    def reach(p):
        lo = ppf_pair(np.array([p]), np.array([1 - p]))[0]
        hi = ppf_pair(np.array([1 - p]), np.array([p]))[0]
        return max(abs(lo), abs(hi))

    xc = max(reach(CENTER_TAIL_PROB / 2), 1.0)
    return xc, max(2.0 * xc, reach(TAIL_PROB))


def _frozen(table: QuantileTable) -> QuantileTable:
    table.values.setflags(write=False)
    table.slopes.setflags(write=False)
    return table


# Tables are pure functions of (scale, law), both frozen and hashable: each is built once per process (every
# asset with the same law shares it, and every later run reuses it; a scenario with regimes, correlation breaks and
# anchoring builds several sets per run, ~0.15 s of scipy quantiles each time). Their arrays are read-only.
@functools.lru_cache(maxsize=512)
def build_table(scale: Scale, dist) -> QuantileTable:
    """Tabulate the copula-scale → innovation map ``x -> F^{-1}(G(x))`` for one asset (cached; read-only arrays)."""
    if scale.nu is None and dist.type == "normal":
        z = np.zeros(N_GRID)
        return _frozen(QuantileTable(TABLE_IDENTITY, 0.0, 1.0, 1.0, z, z.copy()))
    xc, xmax = _bounds(scale.ppf_pair)
    x, dxds, inv_hc, inv_ht = _grid(xc, xmax)
    u, q = scale.cdf_pair(x)
    eps = marginal_ppf(u, q, dist)
    slopes = np.exp(scale.logpdf(x) - marginal_logpdf(eps, dist)) * dxds
    return _frozen(QuantileTable(TABLE_HERMITE, xc, inv_hc, inv_ht, eps, slopes))


@functools.lru_cache(maxsize=512)
def build_inverse_table(scale: Scale, dist) -> QuantileTable:
    """Tabulate the inverse map ``eps -> G^{-1}(F(eps))`` (innovation → copula scale), for anchoring (cached;
    read-only arrays)."""
    if scale.nu is None and dist.type == "normal":
        z = np.zeros(N_GRID)
        return _frozen(QuantileTable(TABLE_IDENTITY, 0.0, 1.0, 1.0, z, z.copy()))
    xc, xmax = _bounds(lambda u, q: marginal_ppf(u, q, dist))
    eps, deds, inv_hc, inv_ht = _grid(xc, xmax)
    u, q = marginal_cdf_pair(eps, dist)
    x = scale.ppf_pair(u, q)
    slopes = np.exp(marginal_logpdf(eps, dist) - scale.logpdf(x)) * deds
    return _frozen(QuantileTable(TABLE_HERMITE, xc, inv_hc, inv_ht, x, slopes))


def _hermite(values, slopes, off, n, pos, h):
    pos = np.asarray(pos, float)
    i = np.clip(np.floor(pos).astype(np.int64), 0, n - 2)
    t = pos - i
    v0, v1 = values[off + i], values[off + i + 1]
    d0, d1 = slopes[off + i] * h, slopes[off + i + 1] * h
    t2, t3 = t * t, t * t * t
    inner = (2 * t3 - 3 * t2 + 1) * v0 + (t3 - 2 * t2 + t) * d0 + (-2 * t3 + 3 * t2) * v1 + (t3 - t2) * d1
    beyond = values[off + n - 1] + slopes[off + n - 1] * (pos - (n - 1)) * h
    return np.where(pos > n - 1, beyond, inner)


def segment_coefficients(table: QuantileTable) -> np.ndarray:
    """Per-segment cubic coefficients ``(N_GRID, 4)`` of ``table``'s Hermite interpolant, for the kernel.

    Row ``off + i`` of a region of ``n`` nodes (centre: ``off = 0``, ``n = N_CENTER``; right tail:
    ``N_CENTER``, ``N_TAIL``; left tail: ``N_CENTER + N_TAIL``, ``N_TAIL``) holds ``c0..c3`` with
    ``value(i + t) = c0 + t (c1 + t (c2 + t c3))`` for ``0 <= t <= 1`` (``t`` in segment units) and
    ``i <= n - 2``; row ``off + n - 1`` is the linear continuation beyond the last node (``c2 = c3 = 0``,
    any ``t >= 0``). An identity table has all-zero rows (the kernel never reads them).
    """
    coef = np.zeros((N_GRID, 4))
    if table.kind == TABLE_IDENTITY:
        return coef
    for off, n, h in ((0, N_CENTER, 1.0 / table.inv_hc), (N_CENTER, N_TAIL, 1.0 / table.inv_ht),
                      (N_CENTER + N_TAIL, N_TAIL, 1.0 / table.inv_ht)):
        v = table.values[off:off + n]
        d = table.slopes[off:off + n] * h
        seg = coef[off:off + n]
        seg[:, 0] = v
        seg[:, 1] = d
        seg[:-1, 2] = 3.0 * (v[1:] - v[:-1]) - 2.0 * d[:-1] - d[1:]
        seg[:-1, 3] = 2.0 * (v[:-1] - v[1:]) + d[:-1] + d[1:]
    return coef


def eval_table_numpy(table: QuantileTable, x: np.ndarray) -> np.ndarray:
    """Pure-numpy twin of the kernel's table evaluation (for tests)."""
    x = np.asarray(x, float)
    if table.kind == TABLE_IDENTITY:
        return x.copy()
    centre = _hermite(table.values, table.slopes, 0, N_CENTER,
                      np.clip((x + table.xc) * table.inv_hc, 0.0, N_CENTER - 1.0), 1 / table.inv_hc)
    with np.errstate(divide="ignore", invalid="ignore"):
        lpos = np.maximum((np.log(np.abs(x)) - math.log(table.xc)) * table.inv_ht, 0.0)
        right = _hermite(table.values, table.slopes, N_CENTER, N_TAIL, lpos, 1 / table.inv_ht)
        left = _hermite(table.values, table.slopes, N_CENTER + N_TAIL, N_TAIL, lpos, 1 / table.inv_ht)
    return np.where(np.abs(x) <= table.xc, centre, np.where(x > 0, right, left))
