"""Yield curves from par yields: bootstrapped zero rates, vectorised over paths.

Conventions (every pricer in :mod:`simulator.instruments` uses them):

- **Time** is in years. Schedules run in whole months from the valuation date, so a cash flow ``k``
  months away is at ``t = k / 12`` (QuantLib's ``SimpleDayCounter`` on dates with the same day of the
  month gives the same fractions, which the tests use). A horizon of ``d`` trading days is
  ``d / 252`` years.
- **Par yields** are in percent, bond-equivalent with ``freq`` coupons a year (2 for US Treasuries):
  a tenor of at most ``1 / freq`` years is a zero-coupon bill, ``DF(T) = (1 + y / freq)^(-freq T)``;
  a longer tenor is a bond paying ``y / freq`` every ``1 / freq`` years that prices at par.
- **Bootstrap**: par yields at the coupon grid ``1/freq, 2/freq, ...`` up to the longest tenor are
  interpolated linearly in maturity between the quoted tenors (flat outside them), then
  ``DF(t_k) = (1 - y_k / freq * sum_{i<k} DF(t_i)) / (1 + y_k / freq)``.
- **Zero rates** are continuously compounded, ``z(t) = -ln DF(t) / t``; between nodes they are
  interpolated linearly in ``t`` (monotone: no overshoot between nodes), flat before the first node
  and after the last. Rates may be negative (the simulated curves can go below zero; nothing here
  floors them).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.constants import TRADING_DAYS_PER_YEAR

__all__ = ["ZeroCurve", "bootstrap_par_curve", "TRADING_DAYS_PER_YEAR"]


@dataclass(frozen=True)
class ZeroCurve:
    """Continuously compounded zero rates at node times, for one or many curves.

    Attributes
    ----------
    times : ndarray of shape (m,)
        Node times in years, increasing, > 0.
    zero : ndarray of shape (..., m)
        Zero rates as decimals (0.03 = 3 %), continuously compounded; leading axes are curves
        (e.g. one per simulated path).
    """

    times: np.ndarray
    zero: np.ndarray

    def __post_init__(self) -> None:
        t = np.asarray(self.times, dtype=float)
        z = np.asarray(self.zero, dtype=float)
        if t.ndim != 1 or t.size < 1 or np.any(t <= 0) or np.any(np.diff(t) <= 0):
            raise ValueError("times must be increasing positive years, shape (m,)")
        if z.shape[-1] != t.size:
            raise ValueError(f"zero rates have {z.shape[-1]} nodes, times {t.size}")
        if not np.all(np.isfinite(z)):
            raise ValueError("zero rates must be finite")
        object.__setattr__(self, "times", t)
        object.__setattr__(self, "zero", z)

    def zero_rate(self, t) -> np.ndarray:
        """Zero rates at times ``t`` (years; scalar or shape (k,)): shape ``(..., k)`` or ``(...,)``."""
        tt = np.atleast_1d(np.asarray(t, dtype=float))
        m = self.times.size
        idx = np.clip(np.searchsorted(self.times, tt, side="right") - 1, 0, m - 1)
        nxt = np.minimum(idx + 1, m - 1)
        t0, t1 = self.times[idx], self.times[nxt]
        w = np.where(t1 > t0, (np.clip(tt, self.times[0], self.times[-1]) - t0) / np.where(t1 > t0, t1 - t0, 1.0), 0.0)
        z = self.zero[..., idx] * (1.0 - w) + self.zero[..., nxt] * w
        return z if np.ndim(t) else z[..., 0]

    def discount(self, t) -> np.ndarray:
        """Discount factors ``exp(-z(t) t)`` at times ``t`` (years; 1 at ``t <= 0``)."""
        tt = np.asarray(t, dtype=float)
        z = self.zero_rate(tt)
        if np.all(tt > 0.0):
            z *= -tt
            return np.exp(z, out=z)
        return np.where(tt > 0.0, np.exp(-z * np.maximum(tt, 0.0)), 1.0)

    def discount_matrix(self, t) -> np.ndarray:
        """Discount factors at many times for many curves, laid out (k times, n curves): the fast
        layout for revaluing many cash flows (row gathers of the transposed rates, no fancy indexing
        along the last axis). ``t`` (k,) > 0 years; the curves are the flattened leading axes."""
        tt = np.asarray(t, dtype=float)
        m = self.times.size
        idx = np.clip(np.searchsorted(self.times, tt, side="right") - 1, 0, m - 1)
        nxt = np.minimum(idx + 1, m - 1)
        t0, t1 = self.times[idx], self.times[nxt]
        w = np.where(t1 > t0, (np.clip(tt, self.times[0], self.times[-1]) - t0) / np.where(t1 > t0, t1 - t0, 1.0), 0.0)
        zt = np.ascontiguousarray(self.zero.reshape(-1, m).T)  # (m, n)
        z = zt[idx] * (1.0 - w)[:, None]
        z += zt[nxt] * w[:, None]
        z *= -np.maximum(tt, 0.0)[:, None]
        return np.exp(z, out=z)

    def shifted(self, bp) -> "ZeroCurve":
        """The curve with every zero rate moved by ``bp`` basis points (scalar or shape ``(...,)``)."""
        return ZeroCurve(self.times, self.zero + np.asarray(bp, dtype=float)[..., None] / 1e4)


def bootstrap_par_curve(tenors, par_pct, *, freq: int = 2) -> ZeroCurve:
    """Zero curve(s) from par yields at ``tenors`` (see the module conventions).

    Parameters
    ----------
    tenors : sequence of float, shape (q,)
        Maturities in years, increasing (e.g. 0.25, 2, 5, 10, 30).
    par_pct : array of shape (..., q)
        Par yields in percent; leading axes are curves (paths).
    freq : int, default 2
        Coupons per year.

    Returns
    -------
    ZeroCurve
        Nodes at the bill tenors and at every coupon date up to the longest tenor.
    """
    ten = np.asarray(tenors, dtype=float)
    y = np.asarray(par_pct, dtype=float) / 100.0
    if ten.ndim != 1 or np.any(np.diff(ten) <= 0) or np.any(ten <= 0):
        raise ValueError("tenors must be increasing positive years")
    if y.shape[-1] != ten.size:
        raise ValueError(f"par yields have {y.shape[-1]} tenors, expected {ten.size}")
    if not np.all(np.isfinite(y)):
        raise ValueError("par yields must be finite")
    if not isinstance(freq, int) or freq < 1:
        raise ValueError(f"freq must be a positive integer, got {freq!r}")
    step = 1.0 / freq
    bills = ten[ten < step - 1e-12]
    n_cpn = int(round(ten[-1] * freq))
    grid = step * np.arange(1, max(n_cpn, 1) + 1)
    lead = y.shape[:-1]
    # par yields on the coupon grid: linear in maturity, flat outside the quoted tenors
    y_grid = _interp_last_axis(grid, ten, y)
    df = np.empty(lead + (grid.size,))
    annuity = np.zeros(lead)
    for k in range(grid.size):
        c = y_grid[..., k] / freq
        df[..., k] = (1.0 - c * annuity) / (1.0 + c)
        annuity = annuity + df[..., k]
    if np.any(df <= 0):
        raise ValueError("par yields imply a non-positive discount factor (an arbitrage): check the curve")
    z_grid = -np.log(df) / grid
    if bills.size:
        yb = y[..., : bills.size]
        z_bill = freq * np.log1p(yb / freq)  # (1 + y/f)^(-f T) = exp(-z T)
        times = np.concatenate([bills, grid])
        zero = np.concatenate([z_bill, z_grid], axis=-1)
    else:
        times, zero = grid, z_grid
    return ZeroCurve(times, zero)


def _interp_last_axis(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """``np.interp(x, xp, row)`` for every row of ``fp`` (last axis), flat outside ``xp``."""
    xc = np.clip(x, xp[0], xp[-1])
    i1 = np.clip(np.searchsorted(xp, xc, side="left"), 1, xp.size - 1) if xp.size > 1 else np.zeros(x.size, int)
    if xp.size == 1:
        return np.repeat(fp[..., :1], x.size, axis=-1)
    i0 = i1 - 1
    w = (xc - xp[i0]) / (xp[i1] - xp[i0])
    return fp[..., i0] * (1.0 - w) + fp[..., i1] * w
