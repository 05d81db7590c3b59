"""Validation of synthetic data against the real series: is the model faithful where it matters?

Method
------
The comparison is made like for like. The real series has ``T`` daily returns; the model simulates
``n_paths`` independent histories of the same ``T`` days from its unconditional state (the calibrated
start state is dropped, so no history is favoured by starting in the real series' last regime). Every
statistic is computed with the same code for the real series and for each simulated history, and the
real value is placed in the ensemble's distribution of that statistic: a check passes when the real
value lies inside the band the model itself produces for a series of that length.

Statistics (``calibration.stylized``), per asset: mean, standard deviation, skewness, excess kurtosis;
the 1, 5, 95 and 99 % quantiles; Kolmogorov–Smirnov and Wasserstein-1 distances to the pooled simulated
returns (one-sided: only "too far" fails); left and right Hill tail indices; the ACF of returns (lag 1,
and the Box–Pierce statistic ``T sum rho_k^2`` over lags 1..L, one-sided), of ``|r|`` and ``r^2`` (mean
ACF over lags 1–10 and 11–L: level and slow decay); the leverage correlation ``corr(r_t, r_{t+k}^2)``
averaged over k = 1–10; the excess kurtosis of 5- and 20-day sums (aggregational Gaussianity); the
maximum and time-averaged drawdown. Per pair: Kendall's tau and the empirical lower / upper tail
dependence at ``tail_q``. Jointly: the Frobenius distance of the Kendall's tau matrix to the ensemble's
mean matrix (one-sided). ``L = min(max_lag, T // 10)``.

Bands
-----
For each check the ensemble gives its median ``m`` and its 2.5 % and 97.5 % quantiles; the real value's
robust score is its distance from ``m`` in units of the half-range on its side (``q97.5 - m`` above,
``m - q2.5`` below), so a score of 1 is the edge of the ensemble's pointwise 95 % band. With
``simultaneous=True`` (default) one critical score ``c`` is used for every check: the ``level`` quantile,
over the simulated histories, of each history's largest score across all checks (a max-statistic band, as
in Westfall–Young). The bands ``[m - c (m - q2.5), m + c (q97.5 - m)]`` (the pointwise 95 % band widened
about the median by ``c``) then hold *all together* with probability ``level`` for a series drawn from the
model, so a correct model passes the whole report with probability about ``level`` however many checks
there are; the share of simulated histories that pass every check is reported as ``ensemble_pass_rate``.
With ``simultaneous=False`` each check has its own ``level`` band (the ensemble's quantiles), and about
``(1 - level)`` of the checks of a correct model fail by chance.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd

from calibration import stylized as sf
from simulator.checks import check_int, check_real

if TYPE_CHECKING:  # pragma: no cover
    from simulator.model import MarketModel

__all__ = ["Check", "ValidationReport", "validate", "validate_returns"]

MIN_OBS = 100
MIN_PATHS = 100
SCALE_QUANTILES = (0.025, 0.975)
AGG_MIN_SUMS = 25
SHORT_LAGS = 10

POS = (0.0, math.inf)
UNIT = (0.0, 1.0)
CORR = (-1.0, 1.0)
KURT = (-2.0, math.inf)  # excess kurtosis of any distribution is >= -2

@dataclass(frozen=True)
class Check:
    """One comparison of a real statistic with the simulated ensemble.

    Attributes
    ----------
    name : str
        Statistic identifier (e.g. ``"excess_kurtosis"``, ``"acf_abs_short"``, ``"tau"``).
    group : str
        One of ``moments, quantiles, distance, tails, autocorrelation, leverage, aggregation, drawdown,
        dependence``.
    asset : str or None
        The asset for per-asset checks.
    pair : tuple of str or None
        The two assets for pairwise checks (``None`` for per-asset and whole-matrix checks).
    metric : str
        What is measured, with units.
    real : float
        The statistic of the real series (NaN when undefined).
    synthetic : float
        Median of the statistic over the simulated histories.
    band : tuple of float
        ``(low, high)``: the real value must lie inside (``low = -inf`` for one-sided checks).
    sided : {"two-sided", "upper"}
        ``upper``: only values above the band fail (distances).
    threshold : str
        The pass rule in words.
    passed : bool
    score : float
        Robust score of the real value (see the module docstring); ``inf`` when undefined.
    ensemble_exceedance : float
        Share of simulated histories that fall outside this check's band.
    """

    name: str
    group: str
    asset: str | None
    pair: tuple[str, str] | None
    metric: str
    real: float
    synthetic: float
    band: tuple[float, float]
    sided: str
    threshold: str
    passed: bool
    score: float
    ensemble_exceedance: float

    @property
    def label(self) -> str:
        """``name[asset]`` / ``name[A~B]`` / ``name``."""
        if self.asset is not None:
            return f"{self.name}[{self.asset}]"
        if self.pair is not None:
            return f"{self.name}[{self.pair[0]}~{self.pair[1]}]"
        return self.name

    def to_dict(self) -> dict:
        d = asdict(self)
        d["pair"] = list(self.pair) if self.pair is not None else None
        d["band"] = [_num(self.band[0]), _num(self.band[1])]
        for k in ("real", "synthetic", "score", "ensemble_exceedance"):
            d[k] = _num(d[k])
        d["label"] = self.label
        return d


def _num(v: Any) -> float | None:
    """Float for JSON; NaN and infinities become None (strict JSON has no NaN)."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return _num(obj)
    return obj


@dataclass
class ValidationReport:
    """Result of :func:`validate`.

    Attributes
    ----------
    passed : bool
        Every check passed.
    checks : list of Check
    assets : tuple of str
    n_obs : int
        Length ``T`` of the real series and of every simulated history (days).
    n_paths : int
        Simulated histories.
    level : float
        Confidence level of the bands.
    simultaneous : bool
        Whether the bands are simultaneous (one critical score for all checks) or per check.
    critical_value : float
        The common critical score ``c`` (simultaneous bands; NaN otherwise).
    ensemble_pass_rate : float
        Share of simulated histories that pass every check (about ``level`` for simultaneous bands).
    seed : dict
        The seed record of the simulation (entropy, spawn key), enough to replay it.
    model_sha256 : str
        Hash of the validated model's parameters.
    data : dict
        Description of the real data (source, window, hashes).
    settings : dict
        Tail fraction, tail-dependence level, lags, horizons.
    details : dict
        Curves and matrices behind the checks (QQ, ACF, leverage, kurtosis by horizon, tau matrices).
    """

    checks: list[Check]
    assets: tuple[str, ...]
    n_obs: int
    n_paths: int
    level: float
    simultaneous: bool
    critical_value: float
    ensemble_pass_rate: float
    seed: dict
    model_sha256: str
    data: dict = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        """The checks that failed."""
        return [c for c in self.checks if not c.passed]

    def check(self, name: str, asset: str | None = None, pair: Sequence[str] | None = None) -> Check:
        """The check called ``name`` (for ``asset`` or ``pair`` when given)."""
        for c in self.checks:
            if c.name != name:
                continue
            if asset is not None and c.asset != asset:
                continue
            if pair is not None and (c.pair is None or set(c.pair) != set(pair)):
                continue
            return c
        names = sorted({c.name for c in self.checks})
        raise KeyError(f"no check {name!r}" + (f" for asset {asset!r}" if asset else "")
                       + (f" for pair {tuple(pair)!r}" if pair else "") + f"; checks: {', '.join(names)}")

    def frame(self) -> pd.DataFrame:
        """The checks as a table (one row per check)."""
        rows = []
        for c in self.checks:
            rows.append({"group": c.group, "check": c.name, "asset": c.asset,
                         "pair": "~".join(c.pair) if c.pair else None, "real": c.real, "synthetic": c.synthetic,
                         "band_low": c.band[0], "band_high": c.band[1], "sided": c.sided, "score": c.score,
                         "passed": c.passed})
        return pd.DataFrame(rows)

    def summary_dict(self) -> dict:
        """Short summary for manifests: verdict, counts and the failed checks."""
        return {
            "passed": self.passed,
            "n_checks": len(self.checks),
            "n_failed": len(self.failed),
            "failed": [c.label for c in self.failed],
            "level": self.level,
            "simultaneous": self.simultaneous,
            "n_paths": self.n_paths,
            "n_obs": self.n_obs,
        }

    def to_dict(self) -> dict:
        """Everything as a strict-JSON-ready dict (NaN and infinities as null)."""
        return _jsonable({
            "passed": self.passed,
            "summary": self.summary_dict(),
            "assets": list(self.assets),
            "n_obs": self.n_obs,
            "n_paths": self.n_paths,
            "level": self.level,
            "simultaneous": self.simultaneous,
            "critical_value": self.critical_value,
            "ensemble_pass_rate": self.ensemble_pass_rate,
            "seed": self.seed,
            "model_sha256": self.model_sha256,
            "data": self.data,
            "settings": self.settings,
            "method": _METHOD_TEXT,
            "checks": [c.to_dict() for c in self.checks],
            "details": self.details,
        })

    def to_json(self, *, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False) + "\n"

    def summary(self) -> str:
        """A plain-text table of the checks and the verdict."""
        head = f"{'check':<34} {'real':>11} {'synthetic':>11} {'band':>25} {'score':>7}  result"
        lines = [head, "-" * len(head)]
        for c in self.checks:
            lo = "-inf" if not math.isfinite(c.band[0]) else f"{c.band[0]:.4g}"
            band = f"[{lo}, {c.band[1]:.4g}]"
            lines.append(f"{c.label[:34]:<34} {c.real:>11.4g} {c.synthetic:>11.4g} {band:>25} "
                         f"{c.score:>7.2f}  {'pass' if c.passed else 'FAIL'}")
        kind = "simultaneous" if self.simultaneous else "per-check"
        lines.append("")
        lines.append(f"{len(self.checks) - len(self.failed)}/{len(self.checks)} checks passed "
                     f"({kind} {self.level:.0%} bands from {self.n_paths} simulated histories of {self.n_obs} days"
                     + (f", critical score {self.critical_value:.3g}" if self.simultaneous else "") + ")")
        lines.append("PASSED" if self.passed else "FAILED: " + ", ".join(c.label for c in self.failed))
        return "\n".join(lines)

    def to_html(self, *, title: str | None = None, collapse=None, extra: dict | None = None) -> str:
        """A self-contained HTML report: verdict, check table, QQ / ACF / leverage / aggregation plots and
        Kendall's tau and tail-dependence heatmaps (PNG embedded as base64; jinja2 with autoescape).

        Parameters
        ----------
        title : str, optional
        collapse : calibration.collapse.CollapseReport, optional
            Adds the model-collapse section.
        extra : dict, optional
            Key/value pairs shown in the run information table (e.g. the command line).
        """
        from simulator.report.validation import render_validation_html

        return render_validation_html(self, title=title, collapse=collapse, extra=extra or {}, method=_METHOD_TEXT)


_METHOD_TEXT = (
    "Each statistic is computed identically for the real series and for each of n_paths simulated histories "
    "of the same length from the model's unconditional state. Robust score = distance of a value from the "
    "ensemble median in units of the 2.5-97.5% half-range on its side (1 = edge of the pointwise 95% band). "
    "Simultaneous bands: one critical score, the level-quantile over simulated histories of their largest score "
    "across all checks, so that a series drawn from the model passes every check with probability about `level`. "
    "One-sided ('upper') checks fail only above the band."
)


# ---------------------------------------------------------------------- inputs
def _returns_array(returns: Any, assets: Sequence[str]) -> tuple[np.ndarray, pd.Index | None]:
    """(T, A) float array of percent log returns in the model's asset order, and the date index if any."""
    if isinstance(returns, pd.Series):
        returns = returns.to_frame()
    if isinstance(returns, pd.DataFrame):
        cols = [str(c) for c in returns.columns]
        missing = [a for a in assets if a not in cols]
        if missing:
            raise ValueError(f"the data have no column for model asset(s) {', '.join(map(repr, missing))}; "
                             f"data columns: {', '.join(map(repr, cols))}")
        frame = returns.copy()
        frame.columns = cols
        arr = frame[list(assets)].to_numpy(dtype=float, na_value=np.nan)
        index = returns.index
    elif isinstance(returns, np.ndarray):
        arr = np.asarray(returns, dtype=float)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[1] != len(assets):
            raise ValueError(f"returns array must have shape (T, {len(assets)}) (time × model asset), got {arr.shape}")
        index = None
    else:
        raise TypeError(f"returns must be a pandas DataFrame (date × asset) or an array (T, A), got "
                        f"{type(returns).__name__}")
    bad = ~np.isfinite(arr)
    if bad.any():
        i, j = (int(v) for v in np.argwhere(bad)[0])
        when = f"row {i}"
        if index is not None:
            ts = index[i]
            when = str(ts.date()) if isinstance(ts, pd.Timestamp) and ts == ts.normalize() else str(ts)
        raise ValueError(f"asset {assets[j]!r}: non-finite return {arr[i, j]!r} on {when}")
    if arr.shape[0] < MIN_OBS:
        raise ValueError(f"only {arr.shape[0]} returns to validate against; at least {MIN_OBS} are needed")
    return np.ascontiguousarray(arr), index


# ---------------------------------------------------------------------- statistics
@dataclass
class _Stat:
    name: str
    group: str
    metric: str
    sided: str
    values: np.ndarray  # (1 + n_paths,): row 0 is the real series
    asset: str | None = None
    pair: tuple[str, str] | None = None
    floor: float = 0.0  # smallest meaningful half-range (resolution of a discrete statistic)
    bounds: tuple[float, float] = (-math.inf, math.inf)  # natural range: band edges are clipped to it


def _settings(t: int, max_lag: int) -> dict:
    lags = int(min(max_lag, t // 10))
    horizons = [h for h in sf.AGG_HORIZONS if h > 1 and t // h >= AGG_MIN_SUMS]
    return {"max_lag": lags, "agg_horizons": horizons}


def _compute_stats(x: np.ndarray, assets: Sequence[str], *, tail_fraction: float, tail_q: float, max_lag: int,
                   horizons: Sequence[int]) -> tuple[list[_Stat], dict]:
    """Statistics of every row of ``x`` (shape (1 + n, T, A); row 0 real), and plot details."""
    rows, t, n_assets = x.shape
    ens = slice(1, None)
    stats_out: list[_Stat] = []
    details: dict[str, Any] = {"assets": {}, "pairs": {}}
    lo_p, hi_p = 0.025, 0.975

    def band_curve(v: np.ndarray) -> dict:
        e = v[ens]
        return {"real": v[0], "median": np.nanmedian(e, axis=0), "low": np.nanquantile(e, lo_p, axis=0),
                "high": np.nanquantile(e, hi_p, axis=0)}

    for j, a in enumerate(assets):
        r = np.ascontiguousarray(x[:, :, j])
        pool = np.sort(r[ens].reshape(-1))

        def add(name, group, metric, sided, values, floor=0.0, bounds=(-math.inf, math.inf), a=a):
            stats_out.append(_Stat(name, group, metric, sided, np.asarray(values, float), asset=a, floor=floor,
                                   bounds=bounds))

        m = sf.moments(r)
        add("mean", "moments", "mean daily return (%)", "two-sided", m["mean"])
        add("std", "moments", "standard deviation of daily returns (%)", "two-sided", m["std"], bounds=POS)
        add("skewness", "moments", "skewness of daily returns", "two-sided", m["skewness"])
        add("excess_kurtosis", "moments", "excess kurtosis of daily returns", "two-sided", m["excess_kurtosis"],
            bounds=KURT)
        q = sf.quantiles(r, sf.QUANTILE_PROBS)
        for k, p in enumerate(sf.QUANTILE_PROBS):
            add(f"q{round(p * 100):02d}", "quantiles", f"{p:.0%} quantile of daily returns (%)", "two-sided", q[:, k])
        add("ks", "distance", "Kolmogorov-Smirnov distance to the pooled simulated returns", "upper",
            sf.ks_distance(r, pool), bounds=UNIT)
        add("wasserstein", "distance", "Wasserstein-1 distance to the pooled simulated returns (%)", "upper",
            sf.wasserstein_distance(r, pool))
        add("hill_left", "tails", f"Hill tail index of losses (top {tail_fraction:.0%})", "two-sided",
            sf.hill_tail_index(r, tail="left", fraction=tail_fraction), bounds=POS)
        add("hill_right", "tails", f"Hill tail index of gains (top {tail_fraction:.0%})", "two-sided",
            sf.hill_tail_index(r, tail="right", fraction=tail_fraction), bounds=POS)
        a_r = sf.acf(r, max_lag)
        a_abs = sf.acf(np.abs(r), max_lag)
        a_sq = sf.acf(r * r, max_lag)
        lev = sf.leverage(r, max_lag)
        short = min(SHORT_LAGS, max_lag)
        add("acf_r_lag1", "autocorrelation", "ACF of returns at lag 1", "two-sided", a_r[:, 0], bounds=CORR)
        add("acf_r_box_pierce", "autocorrelation", f"Box-Pierce T*sum(rho_k^2), returns, lags 1-{max_lag}", "upper",
            t * np.sum(a_r * a_r, axis=1))
        add("acf_abs_short", "autocorrelation", f"mean ACF of |r|, lags 1-{short}", "two-sided",
            a_abs[:, :short].mean(axis=1), bounds=CORR)
        add("acf_sq_short", "autocorrelation", f"mean ACF of r^2, lags 1-{short}", "two-sided",
            a_sq[:, :short].mean(axis=1), bounds=CORR)
        if max_lag > short:
            add("acf_abs_long", "autocorrelation", f"mean ACF of |r|, lags {short + 1}-{max_lag}", "two-sided",
                a_abs[:, short:].mean(axis=1), bounds=CORR)
            add("acf_sq_long", "autocorrelation", f"mean ACF of r^2, lags {short + 1}-{max_lag}", "two-sided",
                a_sq[:, short:].mean(axis=1), bounds=CORR)
        add("leverage", "leverage", f"mean corr(r_t, r_(t+k)^2), k = 1-{short}", "two-sided",
            lev[:, :short].mean(axis=1), bounds=CORR)
        all_h = [1, *horizons]
        ak = sf.aggregated_kurtosis(r, all_h)
        for k, h in enumerate(all_h):
            if h > 1:
                add(f"kurtosis_{h}d", "aggregation", f"excess kurtosis of non-overlapping {h}-day returns",
                    "two-sided", ak[:, k], bounds=KURT)
        dd = sf.drawdown_stats(r)
        add("max_drawdown", "drawdown", "maximum drawdown (fraction of running peak)", "two-sided",
            dd["max_drawdown"], bounds=UNIT)
        add("mean_drawdown", "drawdown", "time-averaged drawdown (fraction of running peak)", "two-sided",
            dd["mean_drawdown"], bounds=UNIT)

        # plot details
        probs = _qq_probs(t)
        per_path_q = sf.quantiles(r, probs)
        dd_q = (0.05, 0.25, 0.5, 0.75, 0.95)
        details["assets"][a] = {
            "qq": {"probs": probs, "real": per_path_q[0], "synthetic": np.quantile(pool, probs),
                   "low": np.quantile(per_path_q[ens], lo_p, axis=0),
                   "high": np.quantile(per_path_q[ens], hi_p, axis=0)},
            "acf_r": band_curve(a_r), "acf_abs": band_curve(a_abs), "acf_sq": band_curve(a_sq),
            "leverage": band_curve(lev),
            "kurtosis_by_horizon": {"horizons": all_h, **band_curve(ak)},
            "max_drawdown": {"real": dd["max_drawdown"][0], "probs": list(dd_q),
                             "synthetic_quantiles": np.quantile(dd["max_drawdown"][ens], dd_q)},
        }

    if n_assets > 1:
        taus = []
        for i in range(n_assets):
            for j in range(i + 1, n_assets):
                pair = (assets[i], assets[j])
                xi = np.ascontiguousarray(x[:, :, i])
                xj = np.ascontiguousarray(x[:, :, j])
                tau = sf.kendall_tau(xi, xj)
                taus.append(tau)
                td = sf.tail_dependence(xi, xj, q=tail_q)
                step = 1.0 / (tail_q * t)
                stats_out.append(_Stat("tau", "dependence", "Kendall's tau of daily returns", "two-sided", tau,
                                       pair=pair, bounds=CORR))
                stats_out.append(_Stat("tail_dep_lower", "dependence",
                                       f"empirical lower tail dependence at {tail_q:.0%}", "two-sided",
                                       td["lower"], pair=pair, floor=step, bounds=(0.0, 1.0 / tail_q)))
                stats_out.append(_Stat("tail_dep_upper", "dependence",
                                       f"empirical upper tail dependence at {tail_q:.0%}", "two-sided",
                                       td["upper"], pair=pair, floor=step, bounds=(0.0, 1.0 / tail_q)))
                details["pairs"][f"{pair[0]}~{pair[1]}"] = {
                    "tau": {"real": tau[0], "median": float(np.median(tau[ens]))},
                    "tail_dep_lower": {"real": td["lower"][0], "median": float(np.median(td["lower"][ens]))},
                    "tail_dep_upper": {"real": td["upper"][0], "median": float(np.median(td["upper"][ens]))},
                }
        tau_arr = np.stack(taus, axis=1)  # (rows, n_pairs)
        mean_tau = tau_arr[ens].mean(axis=0)
        dist = np.sqrt(2.0 * np.sum((tau_arr - mean_tau) ** 2, axis=1))
        stats_out.append(_Stat("tau_matrix_distance", "dependence",
                               "Frobenius distance of the Kendall's tau matrix to the ensemble mean", "upper", dist))
        iu = np.triu_indices(n_assets, 1)

        def mat(vals: np.ndarray) -> np.ndarray:
            m_ = np.eye(n_assets)
            m_[iu] = vals
            m_.T[iu] = vals
            return m_

        pairs = list(details["pairs"].values())
        details["tau_matrix"] = {"real": mat(tau_arr[0]), "synthetic": mat(mean_tau)}
        details["tail_dep_matrix"] = {
            side: {"real": mat(np.array([p[f"tail_dep_{side}"]["real"] for p in pairs])),
                   "synthetic": mat(np.array([p[f"tail_dep_{side}"]["median"] for p in pairs]))}
            for side in ("lower", "upper")
        }
    return stats_out, details


def _qq_probs(t: int, n: int = 99) -> np.ndarray:
    """Probabilities for QQ plots, evenly spaced in normal scores between 1/(2T) and 1 - 1/(2T)."""
    from scipy import stats

    zmax = stats.norm.ppf(1.0 - 0.5 / t)
    return stats.norm.cdf(np.linspace(-zmax, zmax, n))


# ---------------------------------------------------------------------- bands
def _scores(v: np.ndarray, med: np.ndarray, s_lo: np.ndarray, s_hi: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Robust scores of values ``v`` (..., m) given per-check medians and half-ranges; NaN -> inf."""
    with np.errstate(invalid="ignore", divide="ignore"):
        above = (v - med) / s_hi
        below = (med - v) / s_lo
        z = np.where(v >= med, above, np.where(upper, 0.0, below))
    return np.where(np.isnan(v), np.inf, np.maximum(z, 0.0))


def _bands(stats_list: list[_Stat], level: float, simultaneous: bool) -> tuple[list[Check], float, float]:
    vals = np.stack([s.values for s in stats_list], axis=1)  # (rows, m)
    real, ens = vals[0], vals[1:]
    upper = np.array([s.sided == "upper" for s in stats_list])
    floor = np.array([s.floor for s in stats_list])
    med = np.nanmedian(ens, axis=0)
    q_lo, q_hi = np.nanquantile(ens, SCALE_QUANTILES, axis=0)
    s_hi, s_lo = q_hi - med, med - q_lo
    # degenerate sides: borrow the other side, then a floor, then a relative epsilon
    s_hi = np.where(s_hi > 0, s_hi, s_lo)
    s_lo = np.where(s_lo > 0, s_lo, s_hi)
    eps = 1e-12 * np.maximum(1.0, np.abs(med))
    s_hi = np.maximum(np.maximum(s_hi, floor), eps)
    s_lo = np.maximum(np.maximum(s_lo, floor), eps)
    if simultaneous:
        z_ens = _scores(ens, med, s_lo, s_hi, upper)
        crit = float(np.quantile(z_ens.max(axis=1), level, method="higher"))
        low = np.where(upper, -np.inf, med - crit * s_lo)
        high = med + crit * s_hi
        how = f"simultaneous {level:.0%} band (critical score {crit:.3g})"
    else:
        crit = float("nan")
        a = 1.0 - level
        low = np.where(upper, -np.inf, np.nanquantile(ens, a / 2, axis=0))
        high = np.where(upper, np.nanquantile(ens, level, axis=0), np.nanquantile(ens, 1 - a / 2, axis=0))
        how = f"per-check {level:.0%} band"
    lo_b = np.array([s.bounds[0] for s in stats_list])
    hi_b = np.array([s.bounds[1] for s in stats_list])
    low = np.where(upper, low, np.maximum(low, lo_b))  # clip to the statistic's natural range
    high = np.minimum(high, hi_b)
    inside_ens = (ens >= low) & (ens <= high)
    pass_rate = float(np.mean(inside_ens.all(axis=1)))
    z_real = _scores(real[None, :], med, s_lo, s_hi, upper)[0]
    checks = []
    for k, s in enumerate(stats_list):
        ok = bool(np.isfinite(real[k]) and low[k] <= real[k] <= high[k])
        rule = (f"real <= {high[k]:.4g} ({how})" if upper[k]
                else f"{low[k]:.4g} <= real <= {high[k]:.4g} ({how})")
        checks.append(Check(
            name=s.name, group=s.group, asset=s.asset, pair=s.pair, metric=s.metric, real=float(real[k]),
            synthetic=float(med[k]), band=(float(low[k]), float(high[k])), sided=s.sided, threshold=rule,
            passed=ok, score=float(z_real[k]), ensemble_exceedance=float(1.0 - np.mean(inside_ens[:, k])),
        ))
    return checks, crit, pass_rate


# ---------------------------------------------------------------------- public API
def validate_returns(
    model: "MarketModel",
    returns: Any,
    *,
    n_paths: int = 500,
    seed=None,
    level: float = 0.95,
    simultaneous: bool = True,
    tail_fraction: float = 0.05,
    tail_q: float = 0.05,
    max_lag: int = 50,
    data_info: dict | None = None,
) -> ValidationReport:
    """Validate ``model`` against real percent log returns (see :func:`validate` for the parameters).

    Parameters
    ----------
    returns : DataFrame of shape (T, n_assets) or ndarray
        Percent log returns with a column per model asset (extra columns are ignored; arrays must be in the
        model's asset order), at least 100 rows, all finite.
    data_info : dict, optional
        Description of the data stored in the report (source, hashes, window).
    """
    from simulator.engine import simulate
    from simulator.model import MarketModel

    if not isinstance(model, MarketModel):
        raise TypeError(f"model must be a MarketModel (see MarketModel.from_json), got {type(model).__name__}")
    n_paths = check_int(n_paths, "n_paths", lo=MIN_PATHS)
    level = check_real(level, "level", lo=0.0, hi=1.0)
    tail_fraction = check_real(tail_fraction, "tail_fraction", lo=0.0, hi=0.5)
    tail_q = check_real(tail_q, "tail_q", lo=0.0, hi=0.5)
    max_lag = check_int(max_lag, "max_lag", lo=1)
    if not isinstance(simultaneous, bool):
        raise TypeError(f"simultaneous must be True or False, got {simultaneous!r}")
    assets = model.assets
    real, index = _returns_array(returns, assets)
    t = real.shape[0]
    cfg = _settings(t, max_lag)

    sim = simulate(model.with_changes(start=None), n_paths, t, seed, keep="paths")
    x = np.concatenate([real[None], sim.returns], axis=0)
    stats_list, details = _compute_stats(x, assets, tail_fraction=tail_fraction, tail_q=tail_q,
                                         max_lag=cfg["max_lag"], horizons=cfg["agg_horizons"])
    checks, crit, pass_rate = _bands(stats_list, level, simultaneous)
    data = dict(data_info or {})
    if index is not None and len(index):
        data.setdefault("window_start", str(pd.Timestamp(index[0]).date()) if _is_date(index[0]) else str(index[0]))
        data.setdefault("window_end", str(pd.Timestamp(index[-1]).date()) if _is_date(index[-1]) else str(index[-1]))
    data.setdefault("n_obs", t)
    settings = {"tail_fraction": tail_fraction, "tail_q": tail_q, "max_lag": cfg["max_lag"],
                "short_lags": min(SHORT_LAGS, cfg["max_lag"]), "agg_horizons": cfg["agg_horizons"],
                "quantiles": list(sf.QUANTILE_PROBS), "scale_quantiles": list(SCALE_QUANTILES),
                "start": "unconditional (model start state dropped)"}
    return ValidationReport(
        checks=checks, assets=tuple(assets), n_obs=t, n_paths=n_paths, level=level, simultaneous=simultaneous,
        critical_value=crit, ensemble_pass_rate=pass_rate, seed=sim.seed, model_sha256=model.sha256(),
        data=data, settings=settings, details=_jsonable(details),
    )


def _is_date(v: Any) -> bool:
    return isinstance(v, (pd.Timestamp, np.datetime64)) or hasattr(v, "isoformat")


def validate(
    model: "MarketModel",
    prices: Any,
    *,
    n_paths: int = 500,
    seed=None,
    horizon: int | None = None,
    start: Any = None,
    end: Any = None,
    level: float = 0.95,
    simultaneous: bool = True,
    tail_fraction: float = 0.05,
    tail_q: float = 0.05,
    max_lag: int = 50,
) -> ValidationReport:
    """Compare synthetic data from ``model`` with real prices, statistic by statistic.

    Parameters
    ----------
    model : MarketModel
    prices : str, path-like or DataFrame
        Real daily prices, anything :func:`calibration.load_prices` accepts (``"builtin:us-markets"``, a CSV
        or Parquet file, a frame); it must hold every model asset.
    n_paths : int, default 500
        Simulated histories (at least 100; a few hundred give stable bands).
    seed : None, int, SeedSequence or Generator
        Seed of the simulation (recorded in the report).
    horizon : int, optional
        Use only the last ``horizon`` real returns (default: all in the window); every simulated history has
        the same length as the real series.
    start, end : date-like, optional
        Inclusive window on return dates (e.g. an out-of-sample period).
    level : float, default 0.95
        Confidence level of the bands.
    simultaneous : bool, default True
        One critical score for all checks (a correct model passes the whole report with probability about
        ``level``) or a ``level`` band per check.
    tail_fraction : float, default 0.05
        Share of observations in each tail for the Hill estimator.
    tail_q : float, default 0.05
        Level of the empirical tail-dependence coefficients.
    max_lag : int, default 50
        Longest ACF / leverage lag (capped at ``T // 10``).

    Returns
    -------
    ValidationReport
        ``.passed``, ``.checks``, ``.to_dict()``, ``.to_html()``, ``.summary()``.

    Examples
    --------
    >>> from calibration import calibrate                        # doctest: +SKIP
    >>> model = calibrate("builtin:us-markets")                  # doctest: +SKIP
    >>> rep = validate(model, "builtin:us-markets", seed=1)      # doctest: +SKIP
    >>> rep.passed, [c.label for c in rep.failed]                # doctest: +SKIP
    """
    from calibration.data import load_prices, log_returns
    from simulator.model import MarketModel

    if not isinstance(model, MarketModel):
        raise TypeError(f"model must be a MarketModel (see MarketModel.from_json), got {type(model).__name__}")
    frame, rep = load_prices(prices, assets=list(model.assets), report=True, min_obs=MIN_OBS + 1)
    rets = log_returns(frame)
    rets = _window(rets, start, end)
    if horizon is not None:
        horizon = check_int(horizon, "horizon", lo=MIN_OBS)
        if horizon > len(rets):
            raise ValueError(f"horizon {horizon} is longer than the {len(rets)} real returns available "
                             f"({rets.index[0].date()} to {rets.index[-1].date()})")
        rets = rets.iloc[-horizon:]
    info = {"source": rep.source, "input_sha256": rep.input_sha256, "prices_sha256": rep.data_sha256,
            "window": {"start": None if start is None else str(pd.Timestamp(start).date()),
                       "end": None if end is None else str(pd.Timestamp(end).date()), "horizon": horizon}}
    return validate_returns(model, rets, n_paths=n_paths, seed=seed, level=level, simultaneous=simultaneous,
                            tail_fraction=tail_fraction, tail_q=tail_q, max_lag=max_lag, data_info=info)


def _window(rets: pd.DataFrame, start: Any, end: Any) -> pd.DataFrame:
    from calibration.data import window_timestamp as ts

    s, e = ts(start, "start"), ts(end, "end")
    if s is not None and e is not None and s > e:
        raise ValueError(f"start {s.date()} is after end {e.date()}")
    mask = np.ones(len(rets), bool)
    if s is not None:
        mask &= rets.index >= s
    if e is not None:
        mask &= rets.index <= e
    out = rets.loc[mask]
    if len(out) < MIN_OBS:
        lo = s.date() if s is not None else "the start"
        hi = e.date() if e is not None else "the end"
        raise ValueError(f"the window {lo} to {hi} holds {len(out)} returns; at least {MIN_OBS} are needed "
                         f"(the data cover {rets.index[0].date()} to {rets.index[-1].date()})")
    return out
