"""End-to-end calibration: prices → percent log returns → marginals → PIT → copula → :class:`MarketModel`.

Three entry points, from the common case down:

- :func:`calibrate` returns the :class:`simulator.model.MarketModel` (what the engine simulates);
- :func:`calibrate_detailed` takes the same arguments and returns a :class:`CalibrationResult` with the
  model and everything behind it: the returns used, the standardised residuals (date × asset, needed by
  historical-replay shocks), the PITs, each :class:`~calibration.marginals.MarginalFit` and the
  :class:`~calibration.copulas.CopulaFit`;
- :func:`fit_returns` does the same from a frame of percent log returns (e.g. synthetic data).

The estimation window (``start``/``end``, inclusive, on return dates) allows a *stressed calibration*,
e.g. ``start="2008-09-01", end="2009-03-31"``. The model's ``start`` state is the conditional variance and
the residual ``r - mu`` of the window's last day, so a simulation continues from there.
"""
from __future__ import annotations

import datetime as _dt
import math
import multiprocessing
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import pandas as pd

from calibration.copulas import COPULA_FAMILIES, CopulaFit, fit_copula
from calibration.data import CleaningReport, frame_sha256, load_prices, log_returns
from calibration.marginals import (
    AUTO_DIST_TYPES,
    AUTO_VOL_TYPES,
    DIST_TYPES,
    EVT_TAIL_FRACTION,
    FHS_CENTRES,
    INIT_TYPES,
    VOL_TYPES,
    MarginalFit,
    _check_law_options,
    _choices,
    _finish,
    _fit_arrays,
    _jsonable,
)

if TYPE_CHECKING:  # pragma: no cover
    from simulator.model import MarketModel

__all__ = ["CalibrationResult", "calibrate", "calibrate_detailed", "fit_returns"]

PIT_METHODS = ("parametric", "empirical")
PIT_CLIP = 1e-12
MIN_WINDOW_OBS = 100


@dataclass(frozen=True)
class CalibrationResult:
    """Everything a calibration produced.

    Attributes
    ----------
    model : MarketModel
        The fitted model (marginals, copula, start state, provenance).
    returns : DataFrame of shape (n_obs, n_assets)
        Percent log returns used for the fit (date index).
    residuals : DataFrame of shape (n_obs, n_assets)
        Standardised residuals ``z_t = (r_t - mu) / sigma_t`` per asset (date index).
    pit : DataFrame of shape (n_obs, n_assets)
        The pseudo-observations the copula was fitted to.
    marginals : dict of str to MarginalFit
    copula : CopulaFit
    cleaning : CleaningReport or None
        How the prices were cleaned (None when fitted from returns).
    """

    model: "MarketModel"
    returns: pd.DataFrame
    residuals: pd.DataFrame
    pit: pd.DataFrame
    marginals: dict[str, MarginalFit]
    copula: CopulaFit
    cleaning: CleaningReport | None = None

    @property
    def assets(self) -> list[str]:
        return list(self.returns.columns)

    def summary(self) -> str:
        """A plain-text table of the fitted marginals and the copula selection."""
        head = (f"{'asset':<12} {'model':<13} {'mu':>8} {'omega':>8} {'alpha':>7} {'gamma':>8} {'beta':>7} "
                f"{'nu':>6} {'lambda':>7} {'persist':>8} {'half-life':>9} {'LB z2(10) p':>11} {'conv':>4}")
        lines = [head, "-" * len(head)]

        def fmt(v: float | None, w: int, p: int) -> str:
            return f"{'-':>{w}}" if v is None else f"{v:>{w}.{p}f}"

        for a, f in self.marginals.items():
            p = f.params
            lb = f.ljung_box["z2"]
            lbp = lb["pvalue"][lb["lags"].index(10)] if 10 in lb["lags"] else float("nan")
            hl = f"{f.half_life:>9.1f}" if math.isfinite(f.half_life) else f"{'inf':>9}"
            lines.append(
                f"{a[:12]:<12} {f.vol + '/' + f.dist:<13} {fmt(p['mu'], 8, 4)} {fmt(p['omega'], 8, 4)} "
                f"{fmt(p['alpha'], 7, 4)} {fmt(p.get('gamma'), 8, 4)} {fmt(p['beta'], 7, 4)} "
                f"{fmt(p.get('nu'), 6, 2)} {fmt(p.get('lambda'), 7, 3)} {f.persistence:>8.4f} {hl} "
                f"{lbp:>11.3f} {'yes' if f.converged else 'NO':>4}"
            )
        c = self.copula
        par = ", ".join(f"{k}={v:.4g}" for k, v in c.params.items() if k != "corr")
        lines.append("")
        lines.append(f"copula: {c.family}{' (' + par + ')' if par else ''}, loglik {c.loglik:.1f}, AIC {c.aic:.1f}")
        ranked = sorted(c.candidates, key=lambda x: x["aic"])
        lines.append("  AIC by family: " + ", ".join(f"{x['family']} {x['aic']:.1f}" for x in ranked))
        r0, r1 = self.returns.index[0], self.returns.index[-1]
        lines.append(f"window: {_iso(r0)} to {_iso(r1)}, {len(self.returns)} returns")
        return "\n".join(lines)


def _iso(ts: Any) -> str:
    if isinstance(ts, (pd.Timestamp, _dt.datetime, _dt.date)):
        ts = pd.Timestamp(ts)
        return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat()
    return str(ts)


# ---------------------------------------------------------------------- option validation
def _per_asset(value: Any, allowed: tuple[str, ...], name: str, assets: list[str],
               auto: tuple[str, ...] | None = None) -> dict[str, tuple[str, ...]]:
    if isinstance(value, Mapping):
        unknown = [k for k in value if k not in assets]
        if unknown:
            raise ValueError(f"{name}: unknown asset(s) {', '.join(map(repr, unknown))}; assets: "
                             f"{', '.join(map(repr, assets))}")
        return {a: _choices(value.get(a, "auto"), allowed, f"{name}[{a!r}]", auto) for a in assets}
    choice = _choices(value, allowed, name, auto)
    return {a: choice for a in assets}


def _n_workers(n_jobs: int | None, n_tasks: int) -> int:
    if n_jobs is None:
        return 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs must be a positive integer, -1 (all cores) or None; got {n_jobs!r}")
    if n_jobs == -1:
        n_jobs = os.cpu_count() or 1
    return max(1, min(int(n_jobs), n_tasks))


# ---------------------------------------------------------------------- core
def _fit_asset(asset: str, *args: Any) -> dict[str, Any]:
    """:func:`calibration.marginals._fit_arrays` for one asset; a ``ValueError`` names the asset."""
    try:
        return _fit_arrays(*args)
    except ValueError as exc:
        raise ValueError(f"asset {asset!r}: {exc}") from None


def fit_returns(
    returns: pd.DataFrame,
    *,
    vol: str | Sequence[str] | Mapping[str, str] = "auto",
    dist: str | Sequence[str] | Mapping[str, str] = "auto",
    copula: str | Sequence[str] = "auto",
    init: str = "arch",
    pit: str = "parametric",
    n_jobs: int | None = None,
    tol: float | None = None,
    data_provenance: Mapping[str, Any] | None = None,
    min_obs: int = MIN_WINDOW_OBS,
    warm_start: Mapping[str, MarginalFit] | None = None,
    evt_tail_fraction: float = EVT_TAIL_FRACTION,
    fhs_centres: int = FHS_CENTRES,
) -> CalibrationResult:
    """Calibrate a market model to percent log returns.

    Parameters
    ----------
    returns : DataFrame of shape (n_obs, n_assets)
        Percent log returns, one column per asset, finite, at least ``min_obs`` rows.
    vol, dist : str, list of str, or dict asset -> str
        Volatility process / innovation law per asset ("auto": all by BIC; for dist normal, t, skewt and
        evt, while fhs is used only when named); see :func:`calibration.fit_marginal`.
    copula : str or list of str, default "auto"
        Copula families to compare by AIC; see :func:`calibration.fit_copula`.
    init : {"arch", "sample"}, default "arch"
        Variance-recursion start (see :func:`calibration.fit_marginal`).
    pit : {"parametric", "empirical"}, default "parametric"
        Pseudo-observations for the copula: each fitted innovation CDF at the standardised residuals, or
        their ranks / (n + 1).
    n_jobs : int or None, default None
        Processes for the marginal fits (one task per asset); None or 1 fits in this process, -1 uses
        every core. Results do not depend on it.
    tol : float, optional
        Optimiser tolerance for the GARCH fits (default: arch's).
    data_provenance : dict, optional
        Stored as ``provenance["data"]`` (callers pass the data description; default: a hash of ``returns``).
    min_obs : int, default 100
        Fewest returns accepted.
    warm_start : dict of str to MarginalFit, optional
        Earlier fits per asset (e.g. of the previous rolling window): each asset's candidate of the
        same vol/dist is also fitted from those estimates and the better of the fresh and the warm
        fit is kept (see :func:`calibration.fit_marginal`).
    evt_tail_fraction : float, default 0.10
        evt: share of each asset's residuals beyond each GPD threshold (see :func:`calibration.fit_marginal`).
    fhs_centres : int, default 200
        fhs: number of kernel centres (see :func:`calibration.fit_marginal`).

    Returns
    -------
    CalibrationResult
    """
    if not isinstance(returns, pd.DataFrame):
        raise TypeError(f"returns must be a pandas DataFrame (date × asset), got {type(returns).__name__}")
    if returns.shape[1] < 1:
        raise ValueError("returns has no asset columns")
    assets = [str(c) for c in returns.columns]
    if len(set(assets)) != len(assets):
        raise ValueError(f"returns has duplicate asset columns: {assets!r}")
    values = returns.to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        i, j = (int(v) for v in np.argwhere(bad)[0])
        raise ValueError(f"asset {assets[j]!r}: non-finite return {float(values[i, j])!r} on {_iso(returns.index[i])}")
    if len(returns) < min_obs:
        raise ValueError(f"only {len(returns)} returns to fit; at least {min_obs} are needed")
    flat = np.flatnonzero(np.ptp(values, axis=0) == 0.0)
    if flat.size:  # no variance to model (the likelihoods take the log of zero; the copula's ranks all tie)
        j = int(flat[0])
        raise ValueError(f"asset {assets[j]!r}: its price does not move between {_iso(returns.index[0])} and "
                         f"{_iso(returns.index[-1])} (every return is {float(values[0, j]):g} percent); a volatility "
                         "model needs prices that move: leave the asset out (--assets; assets= in the Python API) "
                         "or choose a window in which it trades")
    vols = _per_asset(vol, VOL_TYPES, "vol", assets, AUTO_VOL_TYPES)
    dists = _per_asset(dist, DIST_TYPES, "dist", assets, AUTO_DIST_TYPES)
    law_options = _check_law_options(evt_tail_fraction, fhs_centres)
    if init not in INIT_TYPES:
        raise ValueError(f"init must be one of {', '.join(map(repr, INIT_TYPES))}; got {init!r}")
    if pit not in PIT_METHODS:
        raise ValueError(f"pit must be one of {', '.join(map(repr, PIT_METHODS))}; got {pit!r}")
    if isinstance(copula, str) and copula != "auto" and copula not in COPULA_FAMILIES:
        raise ValueError(f"copula must be 'auto' or one of {', '.join(map(repr, COPULA_FAMILIES))}; got {copula!r}")
    workers = _n_workers(n_jobs, len(assets))
    returns = pd.DataFrame(values, index=returns.index, columns=assets)

    # marginals (parallel across assets)
    from calibration.marginals import MAX_ITER, _arch_vector

    warm = {a: {(f.vol, f.dist): _arch_vector(f.vol, f.dist, f.params)} for a, f in (warm_start or {}).items()}
    tasks = [(values[:, j].copy(), vols[a], dists[a], init, tol, MAX_ITER, warm.get(a), law_options)
             for j, a in enumerate(assets)]
    if workers > 1:
        # fork where the platform has it: no re-import of the caller's script (which spawn would need
        # to be guarded by ``if __name__ == "__main__"``) and no start-up cost; the workers only run
        # arch's compiled recursions and scipy, never threads inherited from the parent.
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        ctx = multiprocessing.get_context(method)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                raws = list(pool.map(_fit_asset, assets, *zip(*tasks)))
    else:
        raws = [_fit_asset(a, *t) for a, t in zip(assets, tasks)]
    marginals: dict[str, MarginalFit] = {}
    for a, raw in zip(assets, raws):
        marginals[a] = _finish(raw, returns.index, a, init)
    for a, f in marginals.items():
        if not f.stationary:
            tried = ", ".join(f"{c['vol']}/{c['dist']}" for c in f.candidates)
            raise ValueError(
                f"asset {a!r}: no covariance-stationary fit among {tried} (selected {f.vol}/{f.dist} has persistence "
                f"{f.persistence:.6g} >= 1); use a longer or calmer window, or other vol/dist choices"
            )

    # PIT and copula
    resid = pd.DataFrame({a: f.std_resid.to_numpy() for a, f in marginals.items()}, index=returns.index)
    if pit == "parametric":
        u = np.column_stack([marginals[a].cdf(resid[a].to_numpy()) for a in assets])
    else:
        from calibration.copulas import pseudo_observations

        u = pseudo_observations(resid.to_numpy())
    n_clipped = int(((u < PIT_CLIP) | (u > 1 - PIT_CLIP)).sum())
    u = np.clip(u, PIT_CLIP, 1.0 - PIT_CLIP)
    u_frame = pd.DataFrame(u, index=returns.index, columns=assets)
    cop = fit_copula(u_frame, family=copula)
    if n_clipped:
        cop.notes.append(f"{n_clipped} PIT values clipped into [{PIT_CLIP:g}, 1 - {PIT_CLIP:g}]")

    from simulator.io import package_versions
    from simulator.model import MarketModel

    options = {
        "vol": vol if isinstance(vol, (str, Mapping)) else list(vol),
        "dist": dist if isinstance(dist, (str, Mapping)) else list(dist),
        "copula": copula if isinstance(copula, str) else list(copula),
        "init": init, "pit": pit, "tol": tol, "mean": "constant", "returns": "percent log returns",
        **law_options,
    }
    data_prov = dict(data_provenance) if data_provenance is not None else {
        "source": "returns frame", "returns_sha256": frame_sha256(returns),
    }
    data_prov.setdefault("returns_sha256", frame_sha256(returns))
    data_prov.update({
        "window_start": _iso(returns.index[0]),
        "window_end": _iso(returns.index[-1]),
        "n_obs": int(len(returns)),
    })
    provenance = {
        "created_by": "calibration.calibrate",
        "created_utc": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "data": data_prov,
        "options": options,
        "marginals": {a: f.to_dict() for a, f in marginals.items()},
        "copula": cop.to_dict(),
        "versions": package_versions(),
    }
    model_dict = {
        "assets": assets,
        "marginals": [marginals[a].spec() for a in assets],
        "copula": cop.spec(),
        "start": {
            "sigma2": [marginals[a].last_sigma2 for a in assets],
            "resid": [marginals[a].last_resid for a in assets],
        },
        "provenance": _jsonable(provenance),
    }
    model = MarketModel.from_dict(_jsonable(model_dict))
    return CalibrationResult(model=model, returns=returns, residuals=resid, pit=u_frame, marginals=marginals,
                             copula=cop)


def _window(returns: pd.DataFrame, start: Any, end: Any) -> pd.DataFrame:
    from calibration.data import window_timestamp as ts

    s, e = ts(start, "start"), ts(end, "end")
    if s is not None and e is not None and s > e:
        raise ValueError(f"start {_iso(s)} is after end {_iso(e)}")
    idx = returns.index
    mask = np.ones(len(idx), dtype=bool)
    if s is not None:
        mask &= idx >= s
    if e is not None:
        mask &= idx <= e
    out = returns.loc[mask]
    if out.empty:
        raise ValueError(f"no returns between {_iso(s) if s is not None else 'the start'} and "
                         f"{_iso(e) if e is not None else 'the end'}; the data cover {_iso(idx[0])} to {_iso(idx[-1])}")
    if len(out) < MIN_WINDOW_OBS:
        raise ValueError(
            f"the window {_iso(out.index[0])} to {_iso(out.index[-1])} holds {len(out)} returns; at least "
            f"{MIN_WINDOW_OBS} are needed for a GARCH fit (the data cover {_iso(idx[0])} to {_iso(idx[-1])})"
        )
    return out


def _factor_sets() -> tuple[str, ...]:
    from calibration.factors import FACTOR_DATA

    return tuple(FACTOR_DATA)


def calibrate_detailed(
    prices: Any,
    *,
    assets: Sequence[str] | None = None,
    start: Any = None,
    end: Any = None,
    vol: str | Sequence[str] | Mapping[str, str] = "auto",
    dist: str | Sequence[str] | Mapping[str, str] = "auto",
    copula: str | Sequence[str] = "auto",
    init: str = "arch",
    pit: str = "parametric",
    n_jobs: int | None = None,
    max_gap: int = 5,
    duplicates: str = "error",
    evt_tail_fraction: float = EVT_TAIL_FRACTION,
    fhs_centres: int = FHS_CENTRES,
    date_format: str | None = None,
) -> CalibrationResult:
    """Calibrate from prices and return the model with everything behind it.

    Parameters
    ----------
    prices : str, path-like or DataFrame
        Anything :func:`calibration.load_prices` accepts (``"builtin:us-markets"``, CSV, Parquet, frame).
    assets : sequence of str, optional
        Assets to model, in this order (default: all).
    start, end : date-like, optional
        Inclusive estimation window on return dates (at least 100 returns), e.g. a stressed window.
    vol, dist, copula, init, pit, n_jobs, evt_tail_fraction, fhs_centres
        See :func:`fit_returns`.
    max_gap, duplicates, date_format
        Cleaning options, see :func:`calibration.load_prices`.

    Returns
    -------
    CalibrationResult
    """
    if isinstance(prices, str) and prices.startswith("builtin:") and prices.split(":", 1)[1] in _factor_sets():
        if any(v is not None for v in (assets, start, end)):
            raise ValueError(f"{prices}: a multi-factor data set is calibrated on its whole window and all its "
                             "factors (assets, start and end are not supported)")
        from calibration.factors import calibrate_factors

        return calibrate_factors(prices, vol=vol, dist=dist, copula=copula, n_jobs=n_jobs)
    frame, report = load_prices(prices, assets=assets, max_gap=max_gap, duplicates=duplicates, report=True,
                                date_format=date_format)
    rets = _window(log_returns(frame), start, end)
    data_prov = {
        "source": report.source,
        "input_sha256": report.input_sha256,
        "prices_sha256": report.data_sha256,
        "prices_start": report.start,
        "prices_end": report.end,
        "n_prices": report.n_obs,
        "window": {"start": _iso(start) if start is not None else None,
                   "end": _iso(end) if end is not None else None},
        "cleaning": report.to_dict(),
    }
    res = fit_returns(rets, vol=vol, dist=dist, copula=copula, init=init, pit=pit, n_jobs=n_jobs,
                      data_provenance=data_prov, evt_tail_fraction=evt_tail_fraction, fhs_centres=fhs_centres)
    return CalibrationResult(model=res.model, returns=res.returns, residuals=res.residuals, pit=res.pit,
                             marginals=res.marginals, copula=res.copula, cleaning=report)


def calibrate(
    prices: Any,
    *,
    assets: Sequence[str] | None = None,
    start: Any = None,
    end: Any = None,
    vol: str | Sequence[str] | Mapping[str, str] = "auto",
    dist: str | Sequence[str] | Mapping[str, str] = "auto",
    copula: str | Sequence[str] = "auto",
    init: str = "arch",
    pit: str = "parametric",
    n_jobs: int | None = None,
    max_gap: int = 5,
    duplicates: str = "error",
    evt_tail_fraction: float = EVT_TAIL_FRACTION,
    fhs_centres: int = FHS_CENTRES,
) -> "MarketModel":
    """Calibrate a :class:`simulator.model.MarketModel` to daily prices.

    Percent log returns → per-asset constant-mean GARCH / GJR / EGARCH with normal / t / skew-t / GARCH-EVT
    innovations (BIC selection when "auto"; filtered-historical ``fhs`` when named) → PIT of the standardised residuals through each fitted innovation CDF →
    copula (AIC selection when "auto") → start state from the window's last day → provenance (data hashes,
    window, cleaning report, options, diagnostics, package versions).

    Parameters are those of :func:`calibrate_detailed`; use it to get residuals and diagnostics as objects.

    Returns
    -------
    MarketModel

    Examples
    --------
    >>> model = calibrate("builtin:us-markets", start="2008-09-01", end="2009-03-31")  # doctest: +SKIP
    """
    return calibrate_detailed(prices, assets=assets, start=start, end=end, vol=vol, dist=dist, copula=copula,
                              init=init, pit=pit, n_jobs=n_jobs, max_gap=max_gap, duplicates=duplicates,
                              evt_tail_fraction=evt_tail_fraction, fhs_centres=fhs_centres).model
