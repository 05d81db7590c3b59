"""Numba kernel of the book revaluation: discounted cash flows on many curves at once.

Arrays in, array out. One pass per path: each flow's zero rate is interpolated linearly between its two
curve nodes (indices and weights precomputed per flow), discounted with ``exp(-(z + s) t)`` and added to
its position's column; no ``(flows x paths)`` temporary is formed. Parallel over paths.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def discounted_flows(zero, lo, hi, w, t, amount, column, spread, out):  # pragma: no cover - compiled
    """``out[i, column[f]] += amount[f] * exp(-(z_i(t_f) + spread[i]) * t[f])`` for every path ``i`` and flow ``f``.

    zero (n, m) node zero rates (decimal); lo, hi (F,) int64 node indices; w (F,) weight of ``hi``;
    t (F,) years; amount (F,); column (F,) int64; spread (n,) decimal; out (n, P) accumulated."""
    n = zero.shape[0]
    nf = t.shape[0]
    for i in prange(n):
        s = spread[i]
        for f in range(nf):
            z = zero[i, lo[f]] * (1.0 - w[f]) + zero[i, hi[f]] * w[f]
            out[i, column[f]] += amount[f] * math.exp(-(z + s) * t[f])


def node_weights(times: np.ndarray, t: np.ndarray):
    """Indices of the two curve nodes around each time and the weight of the upper one (flat outside)."""
    m = times.size
    lo = np.clip(np.searchsorted(times, t, side="right") - 1, 0, m - 1).astype(np.int64)
    hi = np.minimum(lo + 1, m - 1).astype(np.int64)
    t0, t1 = times[lo], times[hi]
    w = np.where(t1 > t0, (np.clip(t, times[0], times[-1]) - t0) / np.where(t1 > t0, t1 - t0, 1.0), 0.0)
    return lo, hi, w.astype(np.float64)
