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
"""
from __future__ import annotations

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
    nu, lam = dist.nu, dist.lam
    a, b, _ = _skewt_consts(nu, lam)
    k = _t_scale(nu)
    split = (1 - lam) / 2  # P(z < -a/b)
    left = u < split
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = (1 - lam) / b * k * special.stdtrit(nu, u / (1 - lam)) - a / b
        # upper branch: t^{-1}(1 - q/(1+lam)) computed from the upper tail
        hi = (1 + lam) / b * k * -special.stdtrit(nu, q / (1 + lam)) - a / b
    return np.where(left, lo, hi)


def _t_logpdf(x: np.ndarray, nu: float) -> np.ndarray:
    logc = special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2) - 0.5 * math.log(nu * math.pi)
    return logc - (nu + 1) / 2 * np.log1p(x * x / nu)


def marginal_logpdf(z: np.ndarray, dist) -> np.ndarray:
    """Log density of a standardised innovation law (arch's Normal, StudentsT, SkewStudent)."""
    z = np.asarray(z, float)
    if dist.type == "normal":
        return -0.5 * z * z - 0.5 * math.log(2 * math.pi)
    if dist.type == "t":
        k = _t_scale(dist.nu)
        return _t_logpdf(z / k, dist.nu) - math.log(k)
    nu, lam = dist.nu, dist.lam
    a, b, c = _skewt_consts(nu, lam)
    s = np.where(z < -a / b, 1 - lam, 1 + lam)
    return math.log(b * c) - (nu + 1) / 2 * np.log1p(((b * z + a) / s) ** 2 / (nu - 2))


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
    nu, lam = dist.nu, dist.lam
    a, b, _ = _skewt_consts(nu, lam)
    k = _t_scale(nu)
    y = b * z + a
    left = z < -a / b
    lo = (1 - lam) * special.stdtr(nu, y / ((1 - lam) * k))
    hi_q = (1 + lam) * special.stdtr(nu, -y / ((1 + lam) * k))
    return np.where(left, lo, 1 - hi_q), np.where(left, 1 - lo, hi_q)


def marginal_cdf(z: np.ndarray, dist) -> np.ndarray:
    """CDF of a standardised innovation law."""
    return marginal_cdf_pair(z, dist)[0]


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


def build_table(scale: Scale, dist) -> QuantileTable:
    """Tabulate the copula-scale → innovation map ``x -> F^{-1}(G(x))`` for one asset."""
    if scale.nu is None and dist.type == "normal":
        z = np.zeros(N_GRID)
        return QuantileTable(TABLE_IDENTITY, 0.0, 1.0, 1.0, z, z)
    xc, xmax = _bounds(scale.ppf_pair)
    x, dxds, inv_hc, inv_ht = _grid(xc, xmax)
    u, q = scale.cdf_pair(x)
    eps = marginal_ppf(u, q, dist)
    slopes = np.exp(scale.logpdf(x) - marginal_logpdf(eps, dist)) * dxds
    return QuantileTable(TABLE_HERMITE, xc, inv_hc, inv_ht, eps, slopes)


def build_inverse_table(scale: Scale, dist) -> QuantileTable:
    """Tabulate the inverse map ``eps -> G^{-1}(F(eps))`` (innovation → copula scale), for anchoring."""
    if scale.nu is None and dist.type == "normal":
        z = np.zeros(N_GRID)
        return QuantileTable(TABLE_IDENTITY, 0.0, 1.0, 1.0, z, z)
    xc, xmax = _bounds(lambda u, q: marginal_ppf(u, q, dist))
    eps, deds, inv_hc, inv_ht = _grid(xc, xmax)
    u, q = marginal_cdf_pair(eps, dist)
    x = scale.ppf_pair(u, q)
    slopes = np.exp(marginal_logpdf(eps, dist) - scale.logpdf(x)) * deds
    return QuantileTable(TABLE_HERMITE, xc, inv_hc, inv_ht, x, slopes)


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
