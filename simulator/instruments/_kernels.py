"""Numba kernel of the book revaluation: discounted cash flows on many curves at once.

Arrays in, array out. Paths are taken in blocks of :data:`LANES` and every block is processed in
lockstep, so the inner loops run across the paths of the block and vectorise: for each distinct flow
time, the zero rate is interpolated linearly between its two curve nodes (indices and weights
precomputed per time), the discount factor ``exp(-(z + s) t)`` is evaluated by :func:`_exp` (a
branch-free exponential that the compiler vectorises), and every flow paid at that time is added to its
position's column. No ``(flows x paths)`` temporary is formed. Parallel over blocks of paths.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

LANES = 64
"""Paths processed in lockstep by one iteration of :func:`discounted_flows`."""

# exp(x) = 2**k * exp(r), k = round(x / ln 2), r = x - k ln 2 (ln 2 split in two so that k times its first
# part is exact), |r| <= ln(2) / 2
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_X_MAX = 708.0  # |x| beyond this is clamped: exp(-708) = 3e-308, exp(708) = 3e307
_K_OFFSET = 1024
_POW2 = np.ldexp(1.0, np.arange(-_K_OFFSET, _K_OFFSET)).astype(np.float64)  # 2**k, k = -1024..1023
# 1 / j! for j = 0..13: the Taylor series of exp(r) on |r| <= ln(2) / 2 to 13th order (truncation 5e-18)
_INV_FACT = np.array([1.0 / math.factorial(j) for j in range(14)])


@njit(inline="always", cache=True)
def _exp(x, pow2, c):  # pragma: no cover - compiled
    """``exp(x)`` to within 1 ulp for ``|x| <= 708`` (clamped beyond), without branches or library calls, so
    that loops calling it vectorise. Estrin's scheme: short dependency chains."""
    x = min(max(x, -_X_MAX), _X_MAX)
    k = math.floor(x * _LOG2E + 0.5)
    r = (x - k * _LN2_HI) - k * _LN2_LO
    r2 = r * r
    r4 = r2 * r2
    r8 = r4 * r4
    p01 = c[0] + c[1] * r
    p23 = c[2] + c[3] * r
    p45 = c[4] + c[5] * r
    p67 = c[6] + c[7] * r
    p89 = c[8] + c[9] * r
    p1011 = c[10] + c[11] * r
    p1213 = c[12] + c[13] * r
    p03 = p01 + p23 * r2
    p47 = p45 + p67 * r2
    p811 = p89 + p1011 * r2
    p = (p03 + p47 * r4) + (p811 + p1213 * r4) * r8
    return p * pow2[int(k) + _K_OFFSET]


@njit(parallel=True, cache=True)
def discounted_flows(zero, lo, hi, w, t, start, amount, column, spread, out):  # pragma: no cover - compiled
    """``out[i, column[f]] += amount[f] * exp(-(z_i(t_u) + spread[i]) * t_u)`` for every path ``i`` and
    flow ``f`` paid at the ``u``-th distinct time.

    zero (n, m) node zero rates (decimal); lo, hi (U,) int64 node indices of each distinct time; w (U,)
    weight of ``hi``; t (U,) distinct times in years; start (U + 1,) int64: the flows paid at time ``u``
    are ``start[u]:start[u + 1]``; amount (F,); column (F,) int64; spread (n,) decimal; out (n, P)
    accumulated."""
    n, m = zero.shape
    n_cols = out.shape[1]
    pow2 = _POW2
    c = _INV_FACT
    n_blocks = (n + LANES - 1) // LANES
    for blk in prange(n_blocks):
        i0 = blk * LANES
        nb = min(LANES, n - i0)
        zt = np.zeros((m, LANES))
        s = np.zeros(LANES)
        for b in range(nb):
            s[b] = spread[i0 + b]
            for k in range(m):
                zt[k, b] = zero[i0 + b, k]
        acc = np.zeros((n_cols, LANES))
        df = np.empty(LANES)
        for u in range(t.shape[0]):
            tu = t[u]
            wh = w[u]
            wl = 1.0 - wh
            zl = zt[lo[u]]
            zh = zt[hi[u]]
            for b in range(LANES):
                df[b] = _exp(-(zl[b] * wl + zh[b] * wh + s[b]) * tu, pow2, c)
            for f in range(start[u], start[u + 1]):
                a = amount[f]
                row = acc[column[f]]
                for b in range(LANES):
                    row[b] += a * df[b]
        for col in range(n_cols):  # out is column-major (see book_values): contiguous per column
            for b in range(nb):
                out[i0 + b, col] += acc[col, b]


TIME_RESOLUTION = 1e-12
"""Flow times (years) closer than this are discounted as one (the first): 30 microseconds, so that the same
date reached by different schedules (``10.5 - 0.5`` and ``10.0``) costs one exponential."""


def flow_schedule(times: np.ndarray, t: np.ndarray):
    """Group flows by time for :func:`discounted_flows`: ``(lo, hi, w, tu, start, order)`` where ``tu`` are the
    distinct times (within :data:`TIME_RESOLUTION`), ``lo, hi, w`` their curve nodes and weights (see
    :func:`node_weights`), ``order`` sorts the flows by time and ``start`` (len(tu) + 1) delimits each time's
    flows in that order."""
    order = np.argsort(t, kind="stable")
    ts = t[order]
    new = np.ones(ts.size, dtype=bool)
    new[1:] = np.diff(ts) > TIME_RESOLUTION
    first = np.flatnonzero(new)
    start = np.append(first, ts.size).astype(np.int64)
    tu = ts[first]
    lo, hi, w = node_weights(times, tu)
    return lo, hi, w, tu, start, order


def node_weights(times: np.ndarray, t: np.ndarray):
    """Indices of the two curve nodes around each time and the weight of the upper one (flat outside)."""
    m = times.size
    lo = np.clip(np.searchsorted(times, t, side="right") - 1, 0, m - 1).astype(np.int64)
    hi = np.minimum(lo + 1, m - 1).astype(np.int64)
    t0, t1 = times[lo], times[hi]
    w = np.where(t1 > t0, (np.clip(t, times[0], times[-1]) - t0) / np.where(t1 > t0, t1 - t0, 1.0), 0.0)
    return lo, hi, w.astype(np.float64)
