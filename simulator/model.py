"""The market model: per-asset marginals (mean × volatility × innovation law) joined by a copula.

A :class:`MarketModel` is data. It serialises to human-readable JSON and back exactly, with
parameter names and meanings as in ``arch`` (returns are log returns in percent):

- mean: ``{"mu": float}`` (constant mean, percent per day);
- vol: a volatility family of :data:`simulator.families.VOL_FAMILIES` with its parameters, e.g. ``garch``
  (omega, alpha, beta), ``gjr`` (omega, alpha, gamma, beta) or ``egarch`` (omega, alpha, gamma, beta;
  ``ln s2_t = omega + alpha (|z| - sqrt(2/pi)) + gamma z + beta ln s2_{t-1}``); each entry of
  :mod:`simulator.families.volatility` documents its recursion and constraints;
- dist: an innovation law of :data:`simulator.families.LAWS`: ``normal``, ``t`` (standardised Student-t,
  nu), ``skewt`` (Hansen's skewed t as arch's ``SkewStudent``: nu, lambda), ``evt`` (GARCH-EVT: skew-t body
  with generalised Pareto tails) or ``fhs`` (filtered historical: a Gaussian-kernel law of the standardised
  residuals); see :class:`DistSpec` for their parameters;
- copula: a family of :data:`simulator.families.COPULA_FAMILIES`: ``independent``, ``gaussian`` (corr),
  ``t`` (corr, nu), or the exchangeable Archimedean ``clayton`` / ``gumbel`` / ``frank`` (theta), any dimension;
- start (optional): ``sigma2`` and ``resid`` of the last observed day, per asset; the first simulated
  variance is the recursion applied to them. Default: unconditional variance and zero residual.
- factors (optional): what each asset is, by asset name: ``{"kind": "price"|"fx"|"vol"|"rate"|"spread",
  "level": as-of level, "curve": name, "tenor_years": years, "floor": level}`` (see :class:`FactorSpec`).
  An asset not listed is a ``price``. The kind fixes the units of the simulated "returns": ``price``,
  ``fx`` and ``vol`` move in percent log returns; ``rate`` (a yield in percent) and ``spread`` (basis
  points) in absolute daily changes, in **basis points**.
- provenance (optional): free-form JSON, preserved as is.
"""
from __future__ import annotations

import copy
import json
import math
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from simulator.exceptions import brief
from simulator.families import COPULA_FAMILIES, LAWS, VOL_FAMILIES, VolFamily, variance_path
from simulator.families._values import check_keys as _check_keys
from simulator.families._values import choices as _choices
from simulator.families._values import number as _number
from simulator.families.copulas import spec_params
from simulator.families.laws import (  # noqa: F401  (re-exported)
    EVT_TAIL_PARAMS,
    EVT_XI_LIMIT,
    FHS_MAX_ABS_CENTRE,
    FHS_MAX_BANDWIDTH,
    FHS_MAX_CENTRES,
)

#: Parameter names of every registered family (views of the registries in :mod:`simulator.families`).
VOL_PARAMS: dict[str, tuple[str, ...]] = {name: f.params for name, f in VOL_FAMILIES.items()}
DIST_PARAMS: dict[str, tuple[str, ...]] = {name: law.params for name, law in LAWS.items()}
COPULA_PARAMS: dict[str, tuple[str, ...]] = {name: f.params for name, f in COPULA_FAMILIES.items()}
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
#: Largest daily mean a model may hold (percent per day; basis points for rate and spread factors).
MAX_ABS_MU = 100.0
#: Largest daily variance (long-run or start) a model may hold: a daily volatility of 100 (percent or bp).
MAX_VARIANCE = 1e4
#: Largest start residual ``r - mu`` (percent or bp).
MAX_ABS_RESID = 1e3


#: Longest asset name (characters): a ticker, an index or a curve tenor, never a document.
MAX_ASSET_NAME = 128


@dataclass(frozen=True)
class MeanSpec:
    """Constant mean ``mu`` in percent per day."""

    mu: float = 0.0

    def to_dict(self) -> dict:
        return {"mu": self.mu}


@dataclass(frozen=True)
class VolSpec:
    """Order-1 conditional variance process, parameters as in arch (variance in percent squared).

    ``params`` holds the family's parameters in its order (:attr:`simulator.families.VolFamily.params`);
    each is also an attribute (``vol.omega``, ``vol.beta``, ...). Build one with :meth:`of` or from a model file.
    """

    type: str
    params: tuple[tuple[str, float], ...]

    @classmethod
    def of(cls, type: str, **params: float) -> "VolSpec":
        """``VolSpec.of("gjr", omega=0.02, alpha=0.03, gamma=0.1, beta=0.88)`` (no validation: see
        :class:`MarketModel` for checked construction)."""
        fam = VOL_FAMILIES[type]
        return cls(type, tuple((name, float(params[name])) for name in fam.params))

    @property
    def family(self) -> VolFamily:
        """The registry entry of :attr:`type`."""
        return VOL_FAMILIES[self.type]

    @property
    def values(self) -> dict[str, float]:
        """The parameters as a dict."""
        return dict(self.params)

    def __getattr__(self, name: str) -> float:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            params = object.__getattribute__(self, "params")
        except AttributeError:
            raise AttributeError(name) from None
        for key, value in params:
            if key == name:
                return value
        raise AttributeError(f"{object.__getattribute__(self, 'type')} volatility has no parameter {name!r} "
                             f"(it has {', '.join(k for k, _ in params)})")

    def to_dict(self) -> dict:
        return {"type": self.type, **dict(self.params)}

    def next_variance(self, sigma2: float, resid: float) -> float:
        """Tomorrow's conditional variance from today's ``sigma2`` (percent^2) and residual ``r - mu``
        (percent): the kernel's recursion (:func:`simulator.kernels.variance.variance_step`)."""
        return float(variance_path(self.family, self.values, sigma2, np.array([resid], dtype=float))[0])


@dataclass(frozen=True)
class DistSpec:
    """Standardised (zero mean, unit variance) innovation law.

    ``normal``; ``t`` (``nu``); ``skewt`` (``nu``, ``lambda``: arch's ``SkewStudent``); and two laws
    estimated from a GARCH filter's standardised residuals, stored as parameters only (no residual
    and no return is ever stored):

    ``evt``: GARCH-EVT (McNeil and Frey 2000, *J. Empirical Finance* 7: 271-300)::

        {"type": "evt", "nu": 7.9, "lambda": -0.13,
         "threshold_left": -1.27, "tail_prob_left": 0.1, "xi_left": 0.12, "beta_left": 0.55,
         "threshold_right": 1.22, "tail_prob_right": 0.1, "xi_right": 0.0, "beta_right": 0.42}

      A raw law ``Y`` on the residuals' scale, spliced from three pieces into a continuous CDF:
      below ``u_L = threshold_left`` it has mass ``p_L = tail_prob_left`` and
      ``P(Y < y) = p_L (1 + xi_L (u_L - y) / beta_L)^(-1/xi_L)`` (the exceedances ``u_L - Y`` are
      GPD(xi_L, beta_L); ``xi = 0`` is the exponential limit); above ``u_R = threshold_right``
      likewise with mass ``p_R``; in between, the skew-t density (``nu``, ``lambda``) restricted to
      ``[u_L, u_R]`` and scaled to mass ``1 - p_L - p_R``. The law simulated is ``Z = (Y - m) / s``
      with ``m`` and ``s`` the exact mean and standard deviation of ``Y`` (GPD moments and the skew-t
      body's first moment in closed form, its second by quadrature on ``[u_L, u_R]``), derived from
      the parameters, never stored. Valid: ``nu > 2``, ``-1 < lambda < 1``, ``threshold_left <
      threshold_right``, tail probabilities in ``(0, 0.5)``, ``beta_* > 0``, ``0 <= xi_* < 0.5``.
      Why ``xi < 0.5``: a GPD tail has a finite variance only for ``xi < 1/2``, and every use of the
      law needs it: the law is standardised to unit variance, GARCH/GJR covariance stationarity and
      long-run variance are statements about ``E[z^2]`` (GJR's persistence about
      ``E[z^2 1{z<0}]``), and EGARCH's long-run level needs ``E|z|`` (finite for ``xi < 1``). Why
      ``xi >= 0``: a negative shape gives the tail a finite end point (no loss beyond it, which a
      stress simulator must not assume) with a density vanishing there.

    ``fhs``: filtered historical simulation (Barone-Adesi, Giannopoulos and Vosper 1999), smoothed::

        {"type": "fhs", "centres": [-4.18, -2.96, ..., 3.12], "bandwidth": 0.127}

      A kernel law of the residuals on the asinh scale (a transformation kernel estimate, Wand,
      Marron and Ruppert 1991): ``Y = sinh(asinh(c_I) + bandwidth * e)`` with ``I`` uniform on the
      centres (residual-scale values, non-decreasing, 2 to 1000 of them) and ``e`` standard normal.
      On the asinh scale a kernel's width in ``z`` grows like ``|z|``, so the law reaches the
      sample's extremes instead of thinning to a Gaussian tail beyond the outermost centre. The law
      simulated is ``Z = (Y - m) / s`` with ``m`` and ``s`` the exact mean and standard deviation of
      ``Y`` (closed form: ``E sinh(X) = sinh(a) e^(h^2/2)`` for ``X ~ N(a, h^2)``), so the kernel
      does not inflate the variance. Valid: centres in ``[-100, 100]``, ``0 < bandwidth <= 2``.
    """

    type: str
    nu: float | None = None
    lam: float | None = None
    threshold_left: float | None = None
    tail_prob_left: float | None = None
    xi_left: float | None = None
    beta_left: float | None = None
    threshold_right: float | None = None
    tail_prob_right: float | None = None
    xi_right: float | None = None
    beta_right: float | None = None
    centres: tuple[float, ...] | None = None
    bandwidth: float | None = None

    @classmethod
    def from_dict(cls, d: Mapping, *, where: str = "model") -> "DistSpec":
        """Validate one ``dist`` object (the JSON format above); errors start with ``where + ".dist"``."""
        return _parse_dist(d, where)

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"type": self.type}
        for name in LAWS[self.type].params:
            value = getattr(self, "lam" if name == "lambda" else name)
            out[name] = list(value) if name == "centres" else value
        return out

    def neg_sq_mass(self) -> float:
        """``E[z^2 1{z<0}]``: the weight of gamma in GJR persistence (1/2 for symmetric laws)."""
        if self.type in ("evt", "fhs"):
            from simulator.tables import marginal_partial_moments

            return marginal_partial_moments(0.0, self)[2]
        if self.type != "skewt" or self.lam == 0.0:
            return 0.5
        from scipy import integrate

        from simulator.tables import marginal_pdf

        val, _ = integrate.quad(lambda z: z * z * marginal_pdf(np.array([z]), self)[0], -np.inf, 0.0)
        return float(val)

    def abs_mean(self) -> float:
        """``E|z|`` (EGARCH's long-run log variance needs it)."""
        from simulator.tables import marginal_abs_mean

        return float(marginal_abs_mean(self))

    def expect(self, fn) -> float:
        """``E[fn(z)]`` for a scalar function ``fn``, by adaptive quadrature on each half-line."""
        from scipy import integrate

        from simulator.tables import marginal_pdf

        def g(z: float) -> float:
            return fn(z) * float(marginal_pdf(np.array([z]), self)[0])

        lo, _ = integrate.quad(g, -np.inf, 0.0, limit=200, epsabs=1e-12, epsrel=1e-10)
        hi, _ = integrate.quad(g, 0.0, np.inf, limit=200, epsabs=1e-12, epsrel=1e-10)
        return float(lo + hi)


@dataclass(frozen=True)
class MarginalSpec:
    """One asset's law: mean × volatility × innovation distribution."""

    mean: MeanSpec
    vol: VolSpec
    dist: DistSpec

    def to_dict(self) -> dict:
        return {"mean": self.mean.to_dict(), "vol": self.vol.to_dict(), "dist": self.dist.to_dict()}

    @cached_property
    def persistence(self) -> float:
        """Variance persistence (GARCH/GJR: alpha + gamma E[z^2 1{z<0}] + beta; EGARCH: |beta|; see
        :meth:`simulator.families.VolFamily.persistence`)."""
        return self.vol.family.persistence(self.vol.values, self.dist)

    def filter(self, returns: np.ndarray, sigma2: float | None = None, resid: float = 0.0) -> np.ndarray:
        """One-step-ahead conditional variances (percent^2) of each day of ``returns`` (percent log
        returns, shape (T,)): day t's variance uses the returns before it only. The state before the
        first day is ``sigma2`` and ``resid`` (default: the unconditional variance and 0)."""
        x = np.asarray(returns, dtype=float)
        s2 = self.unconditional_variance if sigma2 is None else float(sigma2)
        e = np.empty(x.size)
        if x.size:
            e[0] = float(resid)
            e[1:] = x[:-1] - self.mean.mu
        return variance_path(self.vol.family, self.vol.values, s2, e)

    @property
    def unconditional_variance(self) -> float:
        """Long-run variance (percent^2), the default start state. EGARCH: ``exp(omega / (1 - beta))``
        (arch's start value); see :meth:`simulator.families.VolFamily.start_variance`."""
        return self.vol.family.start_variance(self.vol.values, self.dist)


@dataclass(frozen=True)
class CopulaSpec:
    """Dependence across assets. ``corr`` is a tuple of row tuples (gaussian, t)."""

    type: str
    corr: tuple[tuple[float, ...], ...] | None = None
    nu: float | None = None
    theta: float | None = None

    def to_dict(self) -> dict:
        return COPULA_FAMILIES[self.type].to_dict(spec_params(self))

    def corr_matrix(self, n_assets: int) -> np.ndarray:
        """Correlation matrix of shape (n_assets, n_assets) (identity for non-elliptical copulas)."""
        if self.corr is None:
            return np.eye(n_assets)
        return np.array(self.corr, dtype=float)


@dataclass(frozen=True)
class StartState:
    """Conditional variance (percent^2) and residual ``r - mu`` (percent) of the last observed day, per asset."""

    sigma2: tuple[float, ...]
    resid: tuple[float, ...]

    def to_dict(self) -> dict:
        return {"sigma2": list(self.sigma2), "resid": list(self.resid)}


FACTOR_KINDS = ("price", "fx", "vol", "rate", "spread")
#: Kinds whose daily changes are absolute, in basis points (the others: percent log returns).
ABSOLUTE_KINDS = ("rate", "spread")


@dataclass(frozen=True)
class FactorSpec:
    """What one modelled asset is: its kind, as-of level and, for rates, its curve and tenor.

    ``price`` (a price level, > 0), ``fx`` (units of the reporting currency per foreign unit, > 0) and
    ``vol`` (an implied-volatility level in percent, > 0) move by percent log returns:
    ``level_t = level_0 exp(sum r / 100)``. ``rate`` (a yield in percent, e.g. a par yield of the curve
    ``curve`` at ``tenor_years``) and ``spread`` (basis points) move by absolute daily changes in basis
    points: ``level_t = level_0 + sum r / 100`` for a rate, ``level_0 + sum r`` for a spread. Simulated
    rates may go negative; ``floor`` (optional, in the level's unit) caps levels from below when levels
    are formed (the dynamics are not changed).
    """

    kind: str = "price"
    level: float | None = None
    curve: str | None = None
    tenor_years: float | None = None
    floor: float | None = None

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"kind": self.kind}
        for k in ("level", "curve", "tenor_years", "floor"):
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        return out

    def levels(self, cum_changes: np.ndarray) -> np.ndarray:
        """Levels from cumulative simulated changes (percent log returns, or basis points for absolute kinds)."""
        if self.level is None:
            raise ValueError("the factor has no as-of level")
        x = np.asarray(cum_changes, dtype=float)
        if self.kind == "rate":
            out = self.level + x / 100.0
        elif self.kind == "spread":
            out = self.level + x
        else:
            out = self.level * np.exp(x / 100.0)
        return np.maximum(out, self.floor) if self.floor is not None else out


@dataclass(frozen=True)
class MarketModel:
    """Marginals × copula for ``assets``; see the module docstring for the JSON format.

    Build one with :meth:`from_dict`, :meth:`from_json` or ``calibration.calibrate``.
    """

    assets: tuple[str, ...]
    marginals: tuple[MarginalSpec, ...]
    copula: CopulaSpec
    start: StartState | None = None
    provenance: dict | None = field(default=None, compare=False)
    factors: Mapping[str, FactorSpec] | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, data: Mapping) -> "MarketModel":
        """Validate a model dict (the JSON format) and build the model; ``ValueError`` names asset and field."""
        _check_keys(data, ("assets", "marginals", "copula", "start", "provenance", "factors"),
                    ("assets", "marginals", "copula"), "model")
        assets = data["assets"]
        if not isinstance(assets, list) or not assets or not all(isinstance(a, str) and a for a in assets):
            raise ValueError("model.assets must be a non-empty list of non-empty asset names")
        long = [i for i, a in enumerate(assets) if len(a) > MAX_ASSET_NAME]
        if long:
            raise ValueError(f"model.assets[{long[0]}] is a name of {len(assets[long[0]]):,} characters "
                             f"({brief(assets[long[0]], 40)}); an asset name has at most {MAX_ASSET_NAME}")
        if len(set(assets)) != len(assets):
            dup = sorted({a for a in assets if assets.count(a) > 1})
            raise ValueError(f"model.assets has duplicate names: {', '.join(map(repr, dup))}")
        n = len(assets)
        margs = data["marginals"]
        if not isinstance(margs, list):
            raise TypeError("model.marginals must be a list with one entry per asset")
        if len(margs) != n:
            raise ValueError(f"model.marginals has {len(margs)} entries but model.assets names {n} assets; they must match")
        marginals = tuple(_parse_marginal(m, i, assets[i]) for i, m in enumerate(margs))
        copula = _parse_copula(data["copula"], n)
        start = None
        if data.get("start") is not None:
            start = _parse_start(data["start"], assets)
        prov = data.get("provenance")
        if prov is not None and not isinstance(prov, Mapping):
            raise TypeError("model.provenance must be a JSON object")
        factors = _parse_factors(data["factors"], assets) if data.get("factors") is not None else None
        return cls(tuple(assets), marginals, copula, start, copy.deepcopy(dict(prov)) if prov is not None else None,
                   factors)

    @classmethod
    def from_json(cls, path_or_text: str | os.PathLike) -> "MarketModel":
        """Load a model from a JSON file path or a JSON string."""
        from simulator.safeio import loads_json

        text, where = _read_json_source(path_or_text)
        data = loads_json(text, where)
        try:
            return cls.from_dict(data)
        except (ValueError, TypeError) as exc:
            if where == "model JSON text":
                raise
            raise type(exc)(f"{where}: {exc}") from None

    def to_dict(self) -> dict:
        """The model as a JSON-ready dict (inverse of :meth:`from_dict`)."""
        out: dict[str, Any] = {
            "assets": list(self.assets),
            "marginals": [m.to_dict() for m in self.marginals],
            "copula": self.copula.to_dict(),
        }
        if self.start is not None:
            out["start"] = self.start.to_dict()
        if self.factors is not None:
            out["factors"] = {a: f.to_dict() for a, f in self.factors.items()}
        if self.provenance is not None:
            out["provenance"] = copy.deepcopy(self.provenance)
        return out

    def to_json(self, path: str | os.PathLike | None = None, *, indent: int = 2) -> str:
        """Serialise to JSON text (floats keep every digit); with ``path``, also write it atomically."""
        text = json.dumps(self.to_dict(), indent=indent) + "\n"
        if path is not None:
            from simulator.io import atomic_write_text

            atomic_write_text(path, text)
        return text

    # ------------------------------------------------------------------ derived views
    @property
    def n_assets(self) -> int:
        return len(self.assets)

    def factor(self, asset: str) -> FactorSpec:
        """The asset's :class:`FactorSpec` (a ``price`` with no level when the model does not say)."""
        if self.factors is not None and asset in self.factors:
            return self.factors[asset]
        return FactorSpec()

    def kind(self, asset: str) -> str:
        """The asset's kind: ``price`` unless ``factors`` says otherwise."""
        return self.factor(asset).kind

    def start_state(self) -> StartState:
        """The explicit start state, or the default: unconditional variance and zero residual."""
        if self.start is not None:
            return self.start
        return StartState(tuple(m.unconditional_variance for m in self.marginals), tuple(0.0 for _ in self.marginals))

    def sha256(self) -> str:
        """Hash of the model's parameters (provenance excluded), for manifests."""
        from simulator.io import sha256_bytes

        d = self.to_dict()
        d.pop("provenance", None)
        return sha256_bytes(json.dumps(d, sort_keys=True).encode())

    def with_changes(self, **changes: Any) -> "MarketModel":
        """A copy with fields replaced, re-validated through :meth:`from_dict`."""
        d = self.to_dict()
        d.update(changes)
        return MarketModel.from_dict(d)


# ---------------------------------------------------------------------- parsing helpers
def _parse_factors(raw: Any, assets: list[str]) -> dict[str, FactorSpec]:
    where = "model.factors"
    if not isinstance(raw, Mapping):
        raise TypeError(f"{where} must be a JSON object: asset name -> {{kind, level, ...}}")
    out: dict[str, FactorSpec] = {}
    for a, f in raw.items():
        w = f"{where}.{a}"
        if a not in assets:
            raise ValueError(f"{where}: {brief(a)} is not a model asset (assets: {', '.join(assets)})")
        _check_keys(f, ("kind", "level", "curve", "tenor_years", "floor"), ("kind",), w)
        kind = f["kind"]
        if kind not in FACTOR_KINDS:
            raise ValueError(f"{w}.kind is {brief(kind)}; valid kinds: {', '.join(map(repr, FACTOR_KINDS))}")
        level = None if f.get("level") is None else _number(f["level"], f"{w}.level")
        if level is not None and kind in ("price", "fx", "vol") and level <= 0:
            raise ValueError(f"{w}.level must be > 0 for a {kind} factor, got {level!r}")
        curve = f.get("curve")
        tenor = None if f.get("tenor_years") is None else _number(f["tenor_years"], f"{w}.tenor_years")
        if kind == "rate":
            if not isinstance(curve, str) or not curve:
                raise ValueError(f"{w}: a rate factor needs a curve name (e.g. \"UST\")")
            if tenor is None or not 0 < tenor <= 100:
                raise ValueError(f"{w}: a rate factor needs tenor_years in (0, 100], got {tenor!r}")
        elif curve is not None or tenor is not None:
            raise ValueError(f"{w}: curve and tenor_years apply to rate factors only (this one is {kind!r})")
        floor = None if f.get("floor") is None else _number(f["floor"], f"{w}.floor")
        out[a] = FactorSpec(kind, level, curve, tenor, floor)
    tenors: dict[tuple[str | None, float | None], str] = {}
    for a, spec in out.items():
        if spec.kind == "rate":
            key = (spec.curve, spec.tenor_years)
            if key in tenors:
                raise ValueError(f"{where}: {a!r} and {tenors[key]!r} are both curve {spec.curve!r} at "
                                 f"{spec.tenor_years} years")
            tenors[key] = a
    return out


def _read_json_source(path_or_text: str | os.PathLike) -> tuple[str, str]:
    from simulator.safeio import read_input_text

    if isinstance(path_or_text, os.PathLike):
        p = Path(path_or_text)
        return read_input_text(p, "model file"), str(p)
    if not isinstance(path_or_text, str):
        raise TypeError(f"expected a path or JSON text, got {type(path_or_text).__name__}")
    if path_or_text.lstrip().startswith("{"):
        return path_or_text, "model JSON text"
    p = Path(path_or_text)
    if not p.exists():
        raise FileNotFoundError(f"model file {path_or_text!r} does not exist")
    return read_input_text(p, "model file"), str(p)


def _parse_marginal(m: Any, i: int, asset: str) -> MarginalSpec:
    where = f"asset {asset!r} (marginals[{i}])"
    _check_keys(m, ("mean", "vol", "dist"), ("vol", "dist"), where)
    mean_d = m.get("mean", {"mu": 0.0})
    _check_keys(mean_d, ("mu",), ("mu",), f"{where}.mean")
    mean = MeanSpec(_number(mean_d["mu"], f"{where}.mean.mu"))

    vol_d = m["vol"]
    if not isinstance(vol_d, Mapping) or vol_d.get("type") not in VOL_FAMILIES:
        got = vol_d.get("type") if isinstance(vol_d, Mapping) else vol_d
        raise ValueError(f"{where}.vol.type is {brief(got)}; valid types: {_choices(VOL_FAMILIES)}")
    fam = VOL_FAMILIES[vol_d["type"]]
    _check_keys(vol_d, ("type", *fam.params), ("type", *fam.params), f"{where}.vol")
    p = {k: _number(vol_d[k], f"{where}.vol.{k}") for k in fam.params}
    dist = _parse_dist(m["dist"], where)
    fam.check(p, f"{where}.vol")
    spec = MarginalSpec(mean, VolSpec(fam.name, tuple(p.items())), dist)
    if not fam.is_stationary(p, dist):
        raise ValueError(f"{where}.vol is not covariance-stationary: persistence {spec.persistence:.6g} >= 1 "
                         f"({fam.stationarity})")
    _check_scale(spec, where)
    return spec


def _check_scale(spec: MarginalSpec, where: str) -> None:
    """Magnitudes a daily model in percent (or basis points) can hold: the mean and the long-run variance."""
    mu = spec.mean.mu
    if abs(mu) > MAX_ABS_MU:
        raise ValueError(f"{where}.mean.mu is {mu!r}: a daily mean must lie within +-{MAX_ABS_MU:g} (percent per day, "
                         "or basis points for rates and spreads); larger drifts overflow prices")
    try:
        with np.errstate(over="raise", invalid="raise"):
            var = float(spec.unconditional_variance)
    except (OverflowError, FloatingPointError, ZeroDivisionError):
        var = math.inf
    if not (math.isfinite(var) and var <= MAX_VARIANCE):
        params = ", ".join(f"{k}={v!r}" for k, v in spec.vol.params)
        raise ValueError(f"{where}.vol: the long-run variance is {var:.4g} (from {params}), above the {MAX_VARIANCE:g} "
                         "(a daily volatility of 100 percent, or basis points) a model may hold; omega is on the "
                         "scale of daily percent returns squared (e.g. 0.02)")


def _parse_dist(d: Any, where: str) -> DistSpec:
    if not isinstance(d, Mapping) or d.get("type") not in LAWS:
        got = d.get("type") if isinstance(d, Mapping) else d
        raise ValueError(f"{where}.dist.type is {brief(got)}; valid types: {_choices(LAWS)}")
    law = LAWS[d["type"]]
    _check_keys(d, ("type", *law.params), ("type", *law.params), f"{where}.dist")
    return DistSpec(law.name, **law.parse(d, where))


def _parse_copula(c: Any, n: int) -> CopulaSpec:
    where = "model.copula"
    if not isinstance(c, Mapping) or c.get("type") not in COPULA_FAMILIES:
        got = c.get("type") if isinstance(c, Mapping) else c
        raise ValueError(f"{where}.type is {brief(got)}; valid types: {_choices(COPULA_FAMILIES)}")
    fam = COPULA_FAMILIES[c["type"]]
    _check_keys(c, ("type", *fam.params), ("type", *fam.params), where)
    p = fam.parse(c, n, where)
    return CopulaSpec(fam.name, p.get("corr"), p.get("nu"), p.get("theta"))


def _parse_start(s: Any, assets: list[str]) -> StartState:
    where = "model.start"
    _check_keys(s, ("sigma2", "resid"), ("sigma2",), where)
    n = len(assets)
    out = {}
    for key in ("sigma2", "resid"):
        vals = s.get(key, [0.0] * n)
        if not isinstance(vals, list) or len(vals) != n:
            raise ValueError(f"{where}.{key} must be a list of {n} numbers (one per asset)")
        out[key] = tuple(_number(v, f"{where}.{key} for asset {assets[i]!r}") for i, v in enumerate(vals))
    for i, v in enumerate(out["sigma2"]):
        if v <= 0:
            raise ValueError(f"{where}.sigma2 for asset {assets[i]!r} must be > 0, got {v!r}")
        if v > MAX_VARIANCE:
            raise ValueError(f"{where}.sigma2 for asset {assets[i]!r} is {v!r}, above the {MAX_VARIANCE:g} (a daily "
                             "volatility of 100 percent, or basis points) a model may start from")
    for i, v in enumerate(out["resid"]):
        if abs(v) > MAX_ABS_RESID:
            raise ValueError(f"{where}.resid for asset {assets[i]!r} is {v!r}, beyond the +-{MAX_ABS_RESID:g} (percent, or "
                             "basis points) a last day's residual may have")
    return StartState(out["sigma2"], out["resid"])
