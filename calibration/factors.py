"""Risk factors of several kinds: their real data, their daily changes and a joint calibration.

A model's assets can be prices, FX rates, implied volatilities (percent log changes), interest rates and
credit spreads (absolute daily changes in basis points): see :class:`simulator.model.FactorSpec`.
:func:`factor_changes` turns levels into the changes the GARCH family is fitted to;
:func:`calibrate_factors` calibrates marginals and one copula across all of them jointly and records each
asset's kind, as-of level and, for rates, its curve and tenor in the model.

Bundled data set ``builtin:us-markets-rates`` (:func:`load_factor_levels`): the S&P 500, NASDAQ Composite
and WTI of ``builtin:us-markets`` and the US Treasury par yield curve at 3 months, 2, 5, 10 and 30 years
(U.S. Department of the Treasury, Daily Treasury Par Yield Curve Rates, shipped in the package), on the
dates all of them share: from 9 Feb 2006 (the 30-year was not issued from Feb 2002 to Feb 2006) to
28 Dec 2018.
"""
from __future__ import annotations

import hashlib
from importlib import resources
from typing import Any, Mapping

import numpy as np
import pandas as pd

__all__ = ["FACTOR_DATA", "UST_TENORS", "load_factor_levels", "factor_changes", "calibrate_factors"]

#: Treasury tenors shipped (column name -> years).
UST_TENORS: dict[str, float] = {"UST_3M": 0.25, "UST_2Y": 2.0, "UST_5Y": 5.0, "UST_10Y": 10.0, "UST_30Y": 30.0}
FACTOR_DATA = {
    "us-markets-rates": "S&P 500, NASDAQ Composite and WTI (builtin:us-markets) with the US Treasury par yield "
                        "curve at 3M, 2Y, 5Y, 10Y and 30Y (percent), daily, 2006-02-09 to 2018-12-28",
}
ABSOLUTE = ("rate", "spread")
#: Specification choices of a bundled data set, with the reason (used unless the caller chooses).
DATA_SET_CHOICES: dict[str, dict[str, Any]] = {
    "us-markets-rates": {
        "vol": {"UST_3M": "egarch"}, "dist": {"UST_3M": "normal"},
        "why": "the 3-month bill barely moved in 2009-2015 (zero rates: daily changes of about 1 bp), so GARCH and "
               "GJR fits are integrated (persistence 1) and the EGARCH-t fit BIC prefers explodes in simulation "
               "(one-year changes beyond 600 percentage points in 1 path of 20,000); EGARCH with normal "
               "innovations is stationary and stays within -611 / +318 bp at the 0.01 % / 99.99 % quantiles "
               "of one-year changes over 50,000 paths",
    },
}


def _ust_par_yields() -> pd.DataFrame:
    text = (resources.files("simulator") / "data" / "ust-par-yields.csv").read_text(encoding="utf-8")
    from io import StringIO

    frame = pd.read_csv(StringIO(text), comment="#", parse_dates=["date"], index_col="date")
    frame.index = pd.DatetimeIndex(frame.index).as_unit("ns")
    return frame


def load_factor_levels(name: str = "us-markets-rates") -> tuple[pd.DataFrame, dict[str, dict], dict[str, Any]]:
    """Levels, factor descriptions and provenance of a bundled multi-kind data set.

    Returns
    -------
    levels : DataFrame (dates x factors)
        Prices in their currency, yields in percent.
    factors : dict asset -> {"kind", "curve", "tenor_years"}
    provenance : dict
        Source, hashes, window and notes.
    """
    if name != "us-markets-rates":
        raise ValueError(f"unknown factor data set {name!r}; available: {', '.join(FACTOR_DATA)}")
    from calibration.data import frame_sha256, load_prices

    prices = load_prices("builtin:us-markets")
    ust = _ust_par_yields()[list(UST_TENORS)]
    joined = prices.join(ust, how="inner")
    joined = joined.loc["2006-02-09":].dropna()
    factors: dict[str, dict] = {a: {"kind": "price"} for a in prices.columns}
    factors.update({c: {"kind": "rate", "curve": "UST", "tenor_years": t} for c, t in UST_TENORS.items()})
    h = hashlib.sha256()
    h.update(frame_sha256(joined).encode())
    prov = {
        "source": f"builtin:{name}", "input_sha256": h.hexdigest(), "prices_sha256": frame_sha256(joined),
        "prices_start": str(joined.index[0].date()), "prices_end": str(joined.index[-1].date()),
        "n_prices": int(len(joined)),
        "notes": [FACTOR_DATA[name],
                  "US Treasury par yields: U.S. Department of the Treasury, Daily Treasury Par Yield Curve Rates "
                  "(public domain), percent, bond-equivalent basis; dates the equity calendar and the Treasury "
                  "both have; the window starts when the 30-year was issued again (9 Feb 2006)"],
    }
    return joined, factors, prov


def factor_changes(levels: pd.DataFrame, kinds: Mapping[str, str]) -> pd.DataFrame:
    """Daily changes as the model simulates them: percent log returns ``100 ln(x_t / x_{t-1})`` for prices,
    FX and volatilities; basis points for rates (``100 (y_t - y_{t-1})``, yields in percent) and spreads
    (``s_t - s_{t-1}``, spreads in basis points). The first date is dropped."""
    out = {}
    for c in levels.columns:
        kind = kinds.get(c, "price")
        x = levels[c].to_numpy(dtype=float)
        if kind == "rate":
            d = 100.0 * np.diff(x)
        elif kind == "spread":
            d = np.diff(x)
        else:
            if np.any(x <= 0):
                raise ValueError(f"factor {c!r} of kind {kind!r} has a non-positive level; a {kind} needs levels > 0 "
                                 "(a rate or spread moves in absolute changes: give its kind)")
            d = 100.0 * np.diff(np.log(x))
        out[c] = d
    return pd.DataFrame(out, index=levels.index[1:])


def calibrate_factors(levels: Any = "builtin:us-markets-rates", *, factors: Mapping[str, Mapping] | None = None,
                      vol: Any = "auto", dist: Any = "auto", copula: Any = "auto", n_jobs: int | None = None,
                      floors: Mapping[str, float] | None = None):
    """Calibrate a model of factors of several kinds jointly (marginals by BIC, one copula across all).

    Parameters
    ----------
    levels : "builtin:us-markets-rates" or DataFrame (dates x factors)
        Levels: prices, FX rates, volatilities, yields in percent, spreads in basis points.
    factors : mapping asset -> {"kind", "curve", "tenor_years"}, optional
        Required with a DataFrame (assets not listed are prices).
    vol, dist, copula, n_jobs
        See :func:`calibration.fit_returns`.
    floors : mapping asset -> level, optional
        Floors recorded on rate factors (e.g. ``{"UST_3M": 0.0}``) for users who want no negative rates.

    Returns
    -------
    calibration.CalibrationResult
        Its model's ``factors`` hold each asset's kind, as-of level (the window's last), curve and tenor.
    """
    from calibration.calibrate import CalibrationResult, fit_returns
    from simulator.model import MarketModel

    if isinstance(levels, str):
        if not levels.startswith("builtin:"):
            raise ValueError(f"levels must be 'builtin:<name>' or a DataFrame, got {levels!r}")
        frame, desc, prov = load_factor_levels(levels.split(":", 1)[1])
    else:
        if not isinstance(levels, pd.DataFrame):
            raise TypeError(f"levels must be a DataFrame or 'builtin:<name>', got {type(levels).__name__}")
        frame = levels.astype(float)
        desc = {str(c): dict((factors or {}).get(str(c), {"kind": "price"})) for c in frame.columns}
        from calibration.data import frame_sha256

        prov = {"source": "levels frame", "prices_sha256": frame_sha256(frame), "n_prices": int(len(frame))}
    kinds = {a: d.get("kind", "price") for a, d in desc.items()}
    changes = factor_changes(frame, kinds)
    if isinstance(levels, str):  # a bundled data set's documented choices, where the caller left "auto"
        choices = DATA_SET_CHOICES.get(levels.split(":", 1)[1], {})
        vol = _with_choices(vol, choices.get("vol", {}), changes.columns)
        dist = _with_choices(dist, choices.get("dist", {}), changes.columns)
        if choices.get("why"):
            prov = {**prov, "specification_choices": {"vol": choices.get("vol"), "dist": choices.get("dist"),
                                                      "why": choices["why"]}}
    res = fit_returns(changes, vol=vol, dist=dist, copula=copula, n_jobs=n_jobs, data_provenance=prov)
    last = frame.iloc[-1]
    spec = {}
    for a in changes.columns:
        d = {k: v for k, v in desc[a].items() if k in ("kind", "curve", "tenor_years")}
        d["level"] = float(last[a])
        if floors and a in floors:
            d["floor"] = float(floors[a])
        spec[a] = d
    model_dict = res.model.to_dict()
    model_dict["factors"] = spec
    prov_all = model_dict.setdefault("provenance", {})
    prov_all["units"] = {a: ("basis points a day (absolute changes)" if kinds[a] in ABSOLUTE
                             else "percent log returns") for a in changes.columns}
    model = MarketModel.from_dict(model_dict)
    return CalibrationResult(model=model, returns=res.returns, residuals=res.residuals, pit=res.pit,
                             marginals=res.marginals, copula=res.copula)


def _with_choices(value: Any, choices: Mapping[str, str], assets) -> Any:
    """``value`` ("auto", a type, a list or a per-asset dict) with ``choices`` for the assets left on auto."""
    if not choices:
        return value
    if isinstance(value, Mapping):
        return {a: (choices[a] if value.get(a, "auto") == "auto" and a in choices else value.get(a, "auto"))
                for a in assets}
    if value == "auto":
        return {a: choices.get(a, "auto") for a in assets}
    return value
