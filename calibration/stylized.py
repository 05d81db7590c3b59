"""Stylized facts of asset returns, computed for many series at once.

Every function takes percent log returns as an array whose **last axis is time**: shape ``(T,)`` for one
series or ``(n, T)`` for ``n`` series (e.g. ``n`` simulated histories of one asset), and returns one
value per series (shape ``()`` or ``(n,)``), or one row per series for curves (``(..., L)``). The same
code computes a statistic for the real series and for every simulated history, which is what makes the
comparison in :func:`calibration.validate.validate` fair.

Conventions (all stated so the numbers can be reproduced by hand):

- moments: sample mean; standard deviation with ``ddof=1``; skewness ``m3 / m2^1.5`` and excess kurtosis
  ``m4 / m2^2 - 3`` from central moments ``m_k`` with divisor ``T`` (``scipy.stats`` ``bias=True``);
- quantiles: ``numpy.quantile``'s default (linear interpolation, "type 7");
- ACF: the standard biased estimator ``sum_t (x_t - xbar)(x_{t+k} - xbar) / sum_t (x_t - xbar)^2``;
- leverage: ``corr(r_t, r_{t+k}^2)`` with the same normalisation (full-sample means and variances);
- Hill: ``1 / (mean(log L_(i), i <= k) - log L_(k+1))`` on the ``k = floor(fraction * T)`` largest losses
  (left tail, ``L = -r``) or gains (right tail); a larger index means a thinner tail;
- tail dependence: ``lambda_L(q)`` is the share of days on which both pseudo-observations ``rank / (T + 1)``
  are ``<= q``, divided by ``q`` (``lambda_U(q)``: both ``> 1 - q``); about ``q`` under independence;
- drawdown: ``1 - P_t / max_{s <= t} P_s`` with ``P_t = exp(cumsum(r) / 100)`` and the start price 1
  included in the running peak, a fraction in ``[0, 1)``.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import stats

__all__ = [
    "QUANTILE_PROBS",
    "AGG_HORIZONS",
    "moments",
    "quantiles",
    "ks_distance",
    "wasserstein_distance",
    "hill_tail_index",
    "acf",
    "leverage",
    "aggregated_kurtosis",
    "kendall_tau",
    "kendall_tau_matrix",
    "tail_dependence",
    "drawdowns",
    "drawdown_stats",
]

QUANTILE_PROBS = (0.01, 0.05, 0.95, 0.99)
AGG_HORIZONS = (1, 5, 20)


def _as_series(x, name: str = "x", min_len: int = 2) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if a.ndim == 0:
        raise ValueError(f"{name} must be an array with time on the last axis, got a scalar")
    if a.shape[-1] < min_len:
        raise ValueError(f"{name} has {a.shape[-1]} observations on its time axis; at least {min_len} are needed")
    return a


# ---------------------------------------------------------------------- marginal statistics
def moments(x) -> dict[str, np.ndarray]:
    """Mean, standard deviation (ddof=1), skewness and excess kurtosis along the last axis.

    Parameters
    ----------
    x : array of shape (..., T)
        Percent log returns.

    Returns
    -------
    dict with keys ``mean``, ``std`` (percent), ``skewness``, ``excess_kurtosis`` (unitless), each of shape (...)
    """
    a = _as_series(x, min_len=3)
    mean = a.mean(axis=-1)
    d = a - mean[..., None]
    m2 = np.mean(d * d, axis=-1)
    m3 = np.mean(d * d * d, axis=-1)
    m4 = np.mean((d * d) ** 2, axis=-1)
    n = a.shape[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        skew = m3 / m2**1.5
        kurt = m4 / (m2 * m2) - 3.0
    return {"mean": mean, "std": np.sqrt(m2 * n / (n - 1)), "skewness": skew, "excess_kurtosis": kurt}


def quantiles(x, probs: Sequence[float] = QUANTILE_PROBS) -> np.ndarray:
    """Empirical quantiles (linear interpolation) along the last axis: shape (..., len(probs))."""
    a = _as_series(x)
    p = np.asarray(probs, dtype=float)
    if p.ndim != 1 or np.any((p < 0) | (p > 1)):
        raise ValueError(f"probs must be a 1-d sequence of probabilities in [0, 1], got {probs!r}")
    return np.moveaxis(np.quantile(a, p, axis=-1), 0, -1)


def ks_distance(x, reference_sorted: np.ndarray) -> np.ndarray:
    """Two-sample Kolmogorov–Smirnov distance ``sup_t |F_x(t) - G(t)|`` of each series to a reference sample.

    Exact: the supremum is attained at (or just before) a point of ``x``, where both empirical CDFs and
    their left limits are evaluated by binary search in the sorted reference.

    Parameters
    ----------
    x : array of shape (..., T)
    reference_sorted : array of shape (M,)
        The reference sample (e.g. all simulated returns pooled), sorted ascending.

    Returns
    -------
    ndarray of shape (...), in [0, 1]
    """
    a = np.sort(_as_series(x, min_len=1), axis=-1)
    ref = np.asarray(reference_sorted, dtype=float)
    t = a.shape[-1]
    m = ref.size
    if m == 0:
        raise ValueError("reference sample is empty")
    g_right = np.searchsorted(ref, a, side="right") / m
    g_left = np.searchsorted(ref, a, side="left") / m
    flat = a.reshape(-1, t)
    f_right = np.empty_like(flat)
    f_left = np.empty_like(flat)
    for i, row in enumerate(flat):  # ties within a series: its own CDF at and just before each point
        f_right[i] = np.searchsorted(row, row, side="right") / t
        f_left[i] = np.searchsorted(row, row, side="left") / t
    f_right = f_right.reshape(a.shape)
    f_left = f_left.reshape(a.shape)
    return np.maximum(np.abs(f_right - g_right).max(axis=-1), np.abs(f_left - g_left).max(axis=-1))


def wasserstein_distance(x, reference_sorted: np.ndarray) -> np.ndarray:
    """Wasserstein-1 distance (percent) of each series' empirical law to a pooled reference sample.

    ``W1 = int_0^1 |Q_x(u) - Q_ref(u)| du``, exact. When the reference size ``M`` is a multiple of ``T``
    (``n_paths`` pooled histories of length ``T``) the ``i``-th order statistic of ``x`` faces the ``i``-th
    block of ``M / T`` sorted reference values, whose absolute deviations are summed with prefix sums in
    ``O(T log M)`` per series; otherwise ``scipy.stats.wasserstein_distance`` is called per series.

    Parameters
    ----------
    x : array of shape (..., T)
    reference_sorted : array of shape (M,), sorted ascending

    Returns
    -------
    ndarray of shape (...), percent
    """
    a = np.sort(_as_series(x, min_len=1), axis=-1)
    ref = np.asarray(reference_sorted, dtype=float)
    t = a.shape[-1]
    if ref.size == 0:
        raise ValueError("reference sample is empty")
    if ref.size % t:
        flat = a.reshape(-1, t)
        out = np.array([stats.wasserstein_distance(row, ref) for row in flat])
        return out.reshape(a.shape[:-1])
    k = ref.size // t
    csum = np.concatenate([[0.0], np.cumsum(ref)])
    lo = (np.arange(t) * k)
    hi = lo + k
    pos = np.clip(np.searchsorted(ref, a, side="left"), lo, hi)
    below_n = pos - lo
    below_s = csum[pos] - csum[lo]
    above_s = csum[hi] - csum[pos]
    total = (below_n * a - below_s) + (above_s - (k - below_n) * a)
    return total.sum(axis=-1) / ref.size


def hill_tail_index(x, *, tail: str = "left", fraction: float = 0.05) -> np.ndarray:
    """Hill estimator of the tail index on the ``k = max(2, floor(fraction * T))`` most extreme returns.

    Parameters
    ----------
    x : array of shape (..., T)
        Percent log returns.
    tail : {"left", "right"}
        Losses (``-r``) or gains (``r``).
    fraction : float in (0, 0.5)
        Share of observations in the tail.

    Returns
    -------
    ndarray of shape (...)
        Tail index ``alpha`` (larger = thinner tail); NaN when the ``(k+1)``-th largest value is not positive.
    """
    if tail not in ("left", "right"):
        raise ValueError(f"tail must be 'left' or 'right', got {tail!r}")
    if not 0 < fraction < 0.5:
        raise ValueError(f"fraction must lie in (0, 0.5), got {fraction!r}")
    a = _as_series(x, min_len=10)
    t = a.shape[-1]
    k = max(2, int(math.floor(fraction * t)))
    v = -a if tail == "left" else a
    part = np.partition(v, t - k - 1, axis=-1)[..., t - k - 1:]
    thr = part[..., 0]
    top = part[..., 1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.mean(np.log(np.where(thr[..., None] > 0, top, np.nan)), axis=-1) - np.log(np.where(thr > 0, thr, np.nan))
        return 1.0 / h


# ---------------------------------------------------------------------- temporal dependence
def _nfft(t: int) -> int:
    return 1 << int(math.ceil(math.log2(max(2, 2 * t))))


def _check_lag(a: np.ndarray, max_lag: int) -> int:
    """Series length, after checking ``1 <= max_lag < length``."""
    t = a.shape[-1]
    if not 1 <= max_lag < t:
        raise ValueError(f"max_lag must lie in [1, {t - 1}] for series of length {t}, got {max_lag!r}")
    return t


def acf(x, max_lag: int) -> np.ndarray:
    """Sample autocorrelations at lags ``1..max_lag`` along the last axis (FFT, biased estimator).

    Returns
    -------
    ndarray of shape (..., max_lag)
    """
    a = _as_series(x)
    t = _check_lag(a, max_lag)
    d = a - a.mean(axis=-1, keepdims=True)
    n = _nfft(t)
    f = np.fft.rfft(d, n, axis=-1)
    acov = np.fft.irfft(f * np.conj(f), n, axis=-1)[..., : max_lag + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return acov[..., 1:] / acov[..., :1]


def leverage(x, max_lag: int) -> np.ndarray:
    """Leverage correlation ``corr(r_t, r_{t+k}^2)`` at lags ``k = 1..max_lag`` (negative for equities).

    Returns
    -------
    ndarray of shape (..., max_lag)
    """
    a = _as_series(x)
    t = _check_lag(a, max_lag)
    r = a - a.mean(axis=-1, keepdims=True)
    s = a * a
    s = s - s.mean(axis=-1, keepdims=True)
    n = _nfft(t)
    cross = np.fft.irfft(np.conj(np.fft.rfft(r, n, axis=-1)) * np.fft.rfft(s, n, axis=-1), n, axis=-1)
    norm = np.sqrt(np.sum(r * r, axis=-1) * np.sum(s * s, axis=-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return cross[..., 1 : max_lag + 1] / norm[..., None]


def aggregated_kurtosis(x, horizons: Sequence[int] = AGG_HORIZONS) -> np.ndarray:
    """Excess kurtosis of non-overlapping ``h``-day sums of returns, per horizon (aggregational Gaussianity).

    The series is trimmed from the start to a multiple of ``h``. Returns shape (..., len(horizons)).
    """
    a = _as_series(x)
    t = a.shape[-1]
    out = []
    for h in horizons:
        h = int(h)
        m = t // h
        if h < 1 or m < 4:
            raise ValueError(f"horizon {h} leaves {m} non-overlapping sums in {t} observations; at least 4 are needed")
        agg = a[..., t - m * h:].reshape(*a.shape[:-1], m, h).sum(axis=-1)
        out.append(moments(agg)["excess_kurtosis"])
    return np.stack(out, axis=-1)


# ---------------------------------------------------------------------- cross-sectional dependence
def kendall_tau(x, y) -> np.ndarray:
    """Kendall's tau-b of paired series along the last axis: shape (...)."""
    a = _as_series(x)
    b = _as_series(y)
    if a.shape != b.shape:
        raise ValueError(f"x and y must have the same shape, got {a.shape} and {b.shape}")
    fa = a.reshape(-1, a.shape[-1])
    fb = b.reshape(-1, b.shape[-1])
    out = np.empty(fa.shape[0])
    for i in range(fa.shape[0]):
        out[i] = stats.kendalltau(fa[i], fb[i]).statistic
    return out.reshape(a.shape[:-1])


def kendall_tau_matrix(x) -> np.ndarray:
    """Kendall's tau matrices of multivariate series.

    Parameters
    ----------
    x : array of shape (..., T, A)
        Time on the second-to-last axis, assets on the last (the project's (path, time, asset) order).

    Returns
    -------
    ndarray of shape (..., A, A) with unit diagonal
    """
    a = np.asarray(x, dtype=float)
    if a.ndim < 2:
        raise ValueError(f"x must have shape (..., T, A), got {a.shape}")
    n_assets = a.shape[-1]
    out = np.broadcast_to(np.eye(n_assets), (*a.shape[:-2], n_assets, n_assets)).copy()
    for i in range(n_assets):
        for j in range(i + 1, n_assets):
            tau = kendall_tau(a[..., i], a[..., j])
            out[..., i, j] = tau
            out[..., j, i] = tau
    return out


def _ranks(a: np.ndarray) -> np.ndarray:
    """Ranks 1..T along the last axis (ties broken by position; continuous data have none)."""
    order = np.argsort(a, axis=-1, kind="stable")
    r = np.empty_like(order)
    np.put_along_axis(r, order, np.arange(1, a.shape[-1] + 1), axis=-1)
    return r


def tail_dependence(x, y, *, q: float = 0.05) -> dict[str, np.ndarray]:
    """Empirical lower and upper tail-dependence coefficients at level ``q`` of paired series.

    ``lower = #{t: U_t <= q and V_t <= q} / (q T)``, ``upper = #{t: U_t > 1 - q and V_t > 1 - q} / (q T)``
    with pseudo-observations ``U = rank(x) / (T + 1)``. Independence gives about ``q``; comonotonicity 1.

    Returns
    -------
    dict with ``lower`` and ``upper``, each of shape (...)
    """
    if not 0 < q < 0.5:
        raise ValueError(f"q must lie in (0, 0.5), got {q!r}")
    a = _as_series(x)
    b = _as_series(y)
    if a.shape != b.shape:
        raise ValueError(f"x and y must have the same shape, got {a.shape} and {b.shape}")
    t = a.shape[-1]
    u = _ranks(a) / (t + 1.0)
    v = _ranks(b) / (t + 1.0)
    lower = np.sum((u <= q) & (v <= q), axis=-1) / (q * t)
    upper = np.sum((u > 1 - q) & (v > 1 - q), axis=-1) / (q * t)
    return {"lower": lower, "upper": upper}


# ---------------------------------------------------------------------- drawdowns
def drawdowns(x) -> np.ndarray:
    """Drawdown series ``1 - P_t / max(1, max_{s<=t} P_s)`` of percent log returns: shape (..., T)."""
    a = _as_series(x, min_len=1)
    c = np.cumsum(a, axis=-1) / 100.0
    peak = np.maximum(np.maximum.accumulate(c, axis=-1), 0.0)
    return -np.expm1(c - peak)


def drawdown_stats(x) -> dict[str, np.ndarray]:
    """Maximum and time-averaged drawdown (fractions), each of shape (...)."""
    d = drawdowns(x)
    return {"max_drawdown": d.max(axis=-1), "mean_drawdown": d.mean(axis=-1)}
