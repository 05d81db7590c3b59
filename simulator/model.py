"""The market model: per-asset marginals (mean × volatility × innovation law) joined by a copula.

A :class:`MarketModel` is data. It serialises to human-readable JSON and back exactly, with
parameter names and meanings as in ``arch`` (returns are log returns in percent):

- mean: ``{"mu": float}`` (constant mean, percent per day);
- vol: ``garch`` (omega, alpha, beta), ``gjr`` (omega, alpha, gamma, beta) or ``egarch``
  (omega, alpha, gamma, beta; ``ln s2_t = omega + alpha (|z| - sqrt(2/pi)) + gamma z + beta ln s2_{t-1}``);
- dist: ``normal``, ``t`` (standardised Student-t, nu), ``skewt`` (Hansen's skewed t as arch's
  ``SkewStudent``: nu, lambda), ``evt`` (GARCH-EVT: skew-t body with generalised Pareto tails) or
  ``fhs`` (filtered historical: a Gaussian-kernel law of the standardised residuals); see
  :class:`DistSpec` for their parameters;
- copula: ``independent``, ``gaussian`` (corr), ``t`` (corr, nu), or the exchangeable Archimedean
  ``clayton`` / ``gumbel`` / ``frank`` (theta), any dimension;
- start (optional): ``sigma2`` and ``resid`` of the last observed day, per asset; the first simulated
  variance is the recursion applied to them. Default: unconditional variance and zero residual.
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

VOL_PARAMS: dict[str, tuple[str, ...]] = {
    "garch": ("omega", "alpha", "beta"),
    "gjr": ("omega", "alpha", "gamma", "beta"),
    "egarch": ("omega", "alpha", "gamma", "beta"),
}
EVT_TAIL_PARAMS: tuple[str, ...] = (
    "threshold_left", "tail_prob_left", "xi_left", "beta_left",
    "threshold_right", "tail_prob_right", "xi_right", "beta_right",
)
DIST_PARAMS: dict[str, tuple[str, ...]] = {
    "normal": (),
    "t": ("nu",),
    "skewt": ("nu", "lambda"),
    "evt": ("nu", "lambda", *EVT_TAIL_PARAMS),
    "fhs": ("centres", "bandwidth"),
}
#: GPD shapes a model accepts, [0, EVT_XI_LIMIT): a GPD tail has a finite variance only for xi < 1/2
EVT_XI_LIMIT = 0.5
#: most kernel centres an ``fhs`` law may hold (a compact summary of the residuals, never the data)
FHS_MAX_CENTRES = 1000
FHS_MAX_ABS_CENTRE = 100.0
FHS_MAX_BANDWIDTH = 2.0
COPULA_PARAMS: dict[str, tuple[str, ...]] = {
    "independent": (),
    "gaussian": ("corr",),
    "t": ("corr", "nu"),
    "clayton": ("theta",),
    "gumbel": ("theta",),
    "frank": ("theta",),
}
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def _choices(d: Mapping) -> str:
    return ", ".join(repr(k) for k in d)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{where} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{where} must be finite, got {value!r}")
    return value


def _check_keys(obj: Any, allowed: tuple[str, ...], required: tuple[str, ...], where: str) -> None:
    if not isinstance(obj, Mapping):
        raise TypeError(f"{where} must be a JSON object, got {type(obj).__name__}")
    unknown = [k for k in obj if k not in allowed]
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(map(repr, allowed))}")
    missing = [k for k in required if k not in obj]
    if missing:
        raise ValueError(f"{where}: missing key(s) {', '.join(map(repr, missing))}")


@dataclass(frozen=True)
class MeanSpec:
    """Constant mean ``mu`` in percent per day."""

    mu: float = 0.0

    def to_dict(self) -> dict:
        return {"mu": self.mu}


@dataclass(frozen=True)
class VolSpec:
    """Order-1 conditional variance process, parameters as in arch (variance in percent squared)."""

    type: str
    omega: float
    alpha: float
    beta: float
    gamma: float = 0.0

    def to_dict(self) -> dict:
        return {"type": self.type, **{name: getattr(self, name) for name in VOL_PARAMS[self.type]}}

    def next_variance(self, sigma2: float, resid: float) -> float:
        """Tomorrow's conditional variance from today's ``sigma2`` (percent^2) and residual ``r - mu``
        (percent): arch's recursion, the one the kernel runs (GJR's gamma on negative residuals;
        EGARCH ``ln s2' = omega + alpha (|z| - sqrt(2/pi)) + gamma z + beta ln s2``, ``z = resid / sqrt(s2)``)."""
        if self.type == "egarch":
            z = resid / math.sqrt(sigma2)
            return math.exp(self.omega + self.alpha * (abs(z) - SQRT_2_OVER_PI) + self.gamma * z
                            + self.beta * math.log(sigma2))
        lev = self.gamma if (self.type == "gjr" and resid < 0.0) else 0.0
        return self.omega + (self.alpha + lev) * resid * resid + self.beta * sigma2


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
        for name in DIST_PARAMS[self.type]:
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
        """Variance persistence (GARCH/GJR: alpha + gamma E[z^2 1{z<0}] + beta; EGARCH: beta)."""
        v = self.vol
        if v.type == "garch":
            return v.alpha + v.beta
        if v.type == "gjr":
            return v.alpha + v.gamma * self.dist.neg_sq_mass() + v.beta
        return abs(v.beta)

    def filter(self, returns: np.ndarray, sigma2: float | None = None, resid: float = 0.0) -> np.ndarray:
        """One-step-ahead conditional variances (percent^2) of each day of ``returns`` (percent log
        returns, shape (T,)): day t's variance uses the returns before it only. The state before the
        first day is ``sigma2`` and ``resid`` (default: the unconditional variance and 0)."""
        x = np.asarray(returns, dtype=float)
        out = np.empty(x.size)
        s2 = self.unconditional_variance if sigma2 is None else float(sigma2)
        e = float(resid)
        for t in range(x.size):
            s2 = self.vol.next_variance(s2, e)
            out[t] = s2
            e = x[t] - self.mean.mu
        return out

    @property
    def unconditional_variance(self) -> float:
        """Long-run variance (percent^2). EGARCH: ``exp(omega / (1 - beta))`` (arch's start value)."""
        v = self.vol
        if v.type == "egarch":
            return math.exp(v.omega / (1.0 - v.beta))
        return v.omega / (1.0 - self.persistence)


@dataclass(frozen=True)
class CopulaSpec:
    """Dependence across assets. ``corr`` is a tuple of row tuples (gaussian, t)."""

    type: str
    corr: tuple[tuple[float, ...], ...] | None = None
    nu: float | None = None
    theta: float | None = None

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"type": self.type}
        if self.type in ("gaussian", "t"):
            out["corr"] = [list(row) for row in self.corr]
        if self.type == "t":
            out["nu"] = self.nu
        if self.type in ("clayton", "gumbel", "frank"):
            out["theta"] = self.theta
        return out

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

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, data: Mapping) -> "MarketModel":
        """Validate a model dict (the JSON format) and build the model; ``ValueError`` names asset and field."""
        _check_keys(data, ("assets", "marginals", "copula", "start", "provenance"), ("assets", "marginals", "copula"), "model")
        assets = data["assets"]
        if not isinstance(assets, list) or not assets or not all(isinstance(a, str) and a for a in assets):
            raise ValueError("model.assets must be a non-empty list of non-empty asset names")
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
        return cls(tuple(assets), marginals, copula, start, copy.deepcopy(dict(prov)) if prov is not None else None)

    @classmethod
    def from_json(cls, path_or_text: str | os.PathLike) -> "MarketModel":
        """Load a model from a JSON file path or a JSON string."""
        text, where = _read_json_source(path_or_text)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
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
def _read_json_source(path_or_text: str | os.PathLike) -> tuple[str, str]:
    if isinstance(path_or_text, os.PathLike):
        p = Path(path_or_text)
        return p.read_text(encoding="utf-8"), str(p)
    if not isinstance(path_or_text, str):
        raise TypeError(f"expected a path or JSON text, got {type(path_or_text).__name__}")
    if path_or_text.lstrip().startswith("{"):
        return path_or_text, "model JSON text"
    p = Path(path_or_text)
    if not p.exists():
        raise FileNotFoundError(f"model file {path_or_text!r} does not exist")
    return p.read_text(encoding="utf-8"), str(p)


def _parse_marginal(m: Any, i: int, asset: str) -> MarginalSpec:
    where = f"asset {asset!r} (marginals[{i}])"
    _check_keys(m, ("mean", "vol", "dist"), ("vol", "dist"), where)
    mean_d = m.get("mean", {"mu": 0.0})
    _check_keys(mean_d, ("mu",), ("mu",), f"{where}.mean")
    mean = MeanSpec(_number(mean_d["mu"], f"{where}.mean.mu"))

    vol_d = m["vol"]
    if not isinstance(vol_d, Mapping) or vol_d.get("type") not in VOL_PARAMS:
        got = vol_d.get("type") if isinstance(vol_d, Mapping) else vol_d
        raise ValueError(f"{where}.vol.type is {got!r}; valid types: {_choices(VOL_PARAMS)}")
    vtype = vol_d["type"]
    names = VOL_PARAMS[vtype]
    _check_keys(vol_d, ("type", *names), ("type", *names), f"{where}.vol")
    p = {k: _number(vol_d[k], f"{where}.vol.{k}") for k in names}
    dist = _parse_dist(m["dist"], where)
    vol = VolSpec(vtype, p["omega"], p["alpha"], p["beta"], p.get("gamma", 0.0))
    if vtype in ("garch", "gjr"):
        if vol.omega <= 0:
            raise ValueError(f"{where}.vol.omega must be > 0, got {vol.omega!r}")
        if vol.alpha < 0 or vol.beta < 0:
            bad = "alpha" if vol.alpha < 0 else "beta"
            raise ValueError(f"{where}.vol.{bad} must be >= 0, got {getattr(vol, bad)!r}")
        if vtype == "gjr" and vol.alpha + vol.gamma < 0:
            raise ValueError(f"{where}.vol: alpha + gamma must be >= 0, got {vol.alpha + vol.gamma!r}")
    else:
        if abs(vol.beta) >= 1:
            raise ValueError(f"{where}.vol.beta must satisfy |beta| < 1 for a stationary EGARCH, got {vol.beta!r}")
    spec = MarginalSpec(mean, vol, dist)
    if vtype in ("garch", "gjr") and spec.persistence >= 1:
        raise ValueError(
            f"{where}.vol is not covariance-stationary: persistence {spec.persistence:.6g} >= 1 "
            f"(alpha{' + gamma*E[z^2 1{z<0}]' if vtype == 'gjr' else ''} + beta must be < 1)"
        )
    return spec


def _parse_dist(d: Any, where: str) -> DistSpec:
    if not isinstance(d, Mapping) or d.get("type") not in DIST_PARAMS:
        got = d.get("type") if isinstance(d, Mapping) else d
        raise ValueError(f"{where}.dist.type is {got!r}; valid types: {_choices(DIST_PARAMS)}")
    dtype = d["type"]
    names = DIST_PARAMS[dtype]
    _check_keys(d, ("type", *names), ("type", *names), f"{where}.dist")
    nu = lam = None
    if "nu" in names:
        nu = _number(d["nu"], f"{where}.dist.nu")
        if nu <= 2:
            raise ValueError(f"{where}.dist.nu must be > 2 (finite variance), got {nu!r}")
    if "lambda" in names:
        lam = _number(d["lambda"], f"{where}.dist.lambda")
        if not -1 < lam < 1:
            raise ValueError(f"{where}.dist.lambda must lie in (-1, 1), got {lam!r}")
    if dtype == "evt":
        tails = {k: _number(d[k], f"{where}.dist.{k}") for k in EVT_TAIL_PARAMS}
        for side in ("left", "right"):
            p = tails[f"tail_prob_{side}"]
            if not 0 < p < 0.5:
                raise ValueError(f"{where}.dist.tail_prob_{side} must lie in (0, 0.5) (the probability beyond "
                                 f"the {side} threshold), got {p!r}")
            xi = tails[f"xi_{side}"]
            if not 0 <= xi < EVT_XI_LIMIT:
                raise ValueError(f"{where}.dist.xi_{side} must lie in [0, {EVT_XI_LIMIT}) (GPD shape: a finite "
                                 f"variance needs xi < 0.5; a negative shape would bound the tail), got {xi!r}")
            b = tails[f"beta_{side}"]
            if not b > 0:
                raise ValueError(f"{where}.dist.beta_{side} must be > 0 (GPD scale), got {b!r}")
        if not tails["threshold_left"] < tails["threshold_right"]:
            raise ValueError(f"{where}.dist.threshold_left must be below threshold_right, got "
                             f"{tails['threshold_left']!r} >= {tails['threshold_right']!r}")
        return DistSpec(dtype, nu, lam, **tails)
    if dtype == "fhs":
        raw = d["centres"]
        if (not isinstance(raw, (list, tuple)) or isinstance(raw, str)
                or not 2 <= len(raw) <= FHS_MAX_CENTRES):
            got = f"{len(raw)} entries" if isinstance(raw, (list, tuple)) else type(raw).__name__
            raise ValueError(f"{where}.dist.centres must be a list of 2 to {FHS_MAX_CENTRES} numbers (kernel "
                             f"centres on the standardised-residual scale), got {got}")
        centres = tuple(_number(v, f"{where}.dist.centres[{i}]") for i, v in enumerate(raw))
        for i, c in enumerate(centres):
            if abs(c) > FHS_MAX_ABS_CENTRE:
                raise ValueError(f"{where}.dist.centres[{i}] must lie in [-{FHS_MAX_ABS_CENTRE:g}, "
                                 f"{FHS_MAX_ABS_CENTRE:g}] (standardised-residual scale), got {c!r}")
        for i in range(len(centres) - 1):
            if centres[i + 1] < centres[i]:
                raise ValueError(f"{where}.dist.centres must be non-decreasing: centres[{i}] = {centres[i]!r} > "
                                 f"centres[{i + 1}] = {centres[i + 1]!r}")
        bw = _number(d["bandwidth"], f"{where}.dist.bandwidth")
        if not 0 < bw <= FHS_MAX_BANDWIDTH:
            raise ValueError(f"{where}.dist.bandwidth must lie in (0, {FHS_MAX_BANDWIDTH:g}] (kernel standard "
                             f"deviation on the asinh scale), got {bw!r}")
        return DistSpec(dtype, centres=centres, bandwidth=bw)
    return DistSpec(dtype, nu, lam)


def _parse_copula(c: Any, n: int) -> CopulaSpec:
    where = "model.copula"
    if not isinstance(c, Mapping) or c.get("type") not in COPULA_PARAMS:
        got = c.get("type") if isinstance(c, Mapping) else c
        raise ValueError(f"{where}.type is {got!r}; valid types: {_choices(COPULA_PARAMS)}")
    ctype = c["type"]
    names = COPULA_PARAMS[ctype]
    _check_keys(c, ("type", *names), ("type", *names), where)
    corr = nu = theta = None
    if "corr" in names:
        corr = validate_corr(c["corr"], n, f"{where}.corr")
    if "nu" in names:
        nu = _number(c["nu"], f"{where}.nu")
        if nu <= 2:
            raise ValueError(f"{where}.nu must be > 2, got {nu!r}")
    if "theta" in names:
        theta = _number(c["theta"], f"{where}.theta")
        lo = {"clayton": (0.0, "> 0"), "gumbel": (1.0, ">= 1"), "frank": (0.0, "> 0")}[ctype]
        if theta < lo[0] or (theta == lo[0] and ctype != "gumbel"):
            raise ValueError(
                f"{where}.theta must be {lo[1]} for an exchangeable {ctype} copula in {n} dimensions, got {theta!r}"
            )
    return CopulaSpec(ctype, corr, nu, theta)


def validate_corr(raw: Any, n: int, where: str) -> tuple[tuple[float, ...], ...]:
    """Check a correlation matrix (square n×n, symmetric, unit diagonal, positive definite)."""
    if not isinstance(raw, (list, tuple, np.ndarray)) or len(raw) != n or any(
        not isinstance(row, (list, tuple, np.ndarray)) or len(row) != n for row in raw
    ):
        raise ValueError(f"{where} must be a {n}x{n} matrix (one row per asset)")
    m = np.array([[_number(v, f"{where}[{i}][{j}]") for j, v in enumerate(row)] for i, row in enumerate(raw)])
    bad_diag = np.flatnonzero(np.abs(np.diag(m) - 1.0) > 1e-12)
    if bad_diag.size:
        i = int(bad_diag[0])
        raise ValueError(f"{where}[{i}][{i}] must be 1 (unit diagonal), got {m[i, i]!r}")
    asym = np.argwhere(np.abs(m - m.T) > 1e-12)
    if asym.size:
        i, j = map(int, asym[0])
        raise ValueError(f"{where} must be symmetric: [{i}][{j}]={m[i, j]!r} but [{j}][{i}]={m[j, i]!r}")
    if np.any(np.abs(m) > 1):
        i, j = map(int, np.argwhere(np.abs(m) > 1)[0])
        raise ValueError(f"{where}[{i}][{j}] must lie in [-1, 1], got {m[i, j]!r}")
    try:
        np.linalg.cholesky(m)
    except np.linalg.LinAlgError:
        eig = float(np.linalg.eigvalsh(m).min())
        raise ValueError(f"{where} is not positive definite (smallest eigenvalue {eig:.3g})") from None
    return tuple(tuple(float(v) for v in row) for row in m)


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
    return StartState(out["sigma2"], out["resid"])
