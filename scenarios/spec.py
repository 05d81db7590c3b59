"""The scenario file schema: pydantic v2 models for a stress scenario written in TOML.

A scenario says *what* to simulate (horizon, number of paths, seed, model), *which* assets it talks
about (roles such as ``equity`` mapped to model asset names), *what to inject* (a list of shocks) and
*what to keep* (portfolio, outputs). Every table rejects unknown keys, every value is type-checked
strictly (``horizon_days = 10.0`` and ``seed = "1"`` are errors; an integer is accepted where a
number is expected) and non-finite numbers (``inf``, ``nan``) are rejected.

Conventions and units
---------------------
- **Days** are trading days, 1-based: day 1 is the first simulated day (day 0 is the start state, the
  close before the scenario starts). Every day a shock names must lie within ``horizon_days``.
- **Returns** inside models are log returns in percent (the ``arch`` convention). Where a shock takes
  a *price change* it is a simple price change in percent (``-20.47`` means the price falls by
  20.47 %, i.e. a log return of ``100 * ln(1 - 0.2047)``); each field says which.
- **Rates and spreads** (model factors of kind ``rate`` or ``spread``, see
  :class:`simulator.model.FactorSpec`) move by absolute daily changes in **basis points**, so shocks on
  them are written in basis points: a ``jump`` with ``unit = "bp"``, an ``anchored_path`` with
  ``unit = "bp"`` (cumulative changes, or daily changes) or ``unit = "level"`` (levels in the factor's
  own unit, e.g. a yield of ``1.8`` percent), and ``curve_shift`` (the BCBS IRRBB shapes on a named
  curve). ``unit = "percent"`` on a rate factor, or ``"bp"`` / ``"level"`` on a price, is an error when
  the scenario is compiled against a model (:mod:`simulator.shocks` documents each shock per kind).
- **Years** have :data:`TRADING_DAYS_PER_YEAR` = 252 trading days (Poisson intensities).
- **Assets** are referred to by *role* (``equity``, ``tech_equity``, ``oil``; see
  :mod:`scenarios.roles`) or by model asset name; an ``assets`` field is a list of such names or the
  string ``"all"`` (every model asset).

Shock types (the ``type`` key of each ``[[shocks]]`` table): ``jump``, ``vol_spike``,
``correlation_break``, ``regime_switch``, ``historical_replay``, ``poisson_jumps``,
``anchored_path`` and ``curve_shift``; see each model's docstring. How shocks are compiled into kernel arrays and the
order in which overlapping shocks combine is documented in :mod:`simulator.shocks`. Note that
``vol_spike`` multiplies the path's *current* conditional sigma, and so does a ``historical_replay``
with ``scaling = "filtered"`` (filtered historical simulation): both give magnitudes in the simulated
model's volatility regime, which depends on its start state, not in history's. A replay with
``scaling = "historical"`` (the default) replays history's own returns.

Use :func:`scenarios.loader.load_scenario` to read a file: it turns a pydantic ``ValidationError``
into one readable :class:`simulator.exceptions.UserInputError` of the form
``<file>: <key.path>: <problem> (allowed: ...)``. Cross-field problems raised here carry their key
path in the error context (``key`` relative to the failing table, or ``issues`` for scenario-wide
checks) so the loader can point at the exact key.
"""
from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, model_validator
from pydantic_core import PydanticCustomError

from simulator.constants import DEFAULT_LEVELS, TRADING_DAYS_PER_YEAR

__all__ = [
    "MAX_HORIZON_DAYS",
    "TRADING_DAYS_PER_YEAR",
    "BUILTIN_DATA",
    "SHOCK_TYPES",
    "POISSON_LAW_PARAMS",
    "Scenario",
    "Portfolio",
    "Outputs",
    "JumpShock",
    "VolSpikeShock",
    "CorrelationBreakShock",
    "StressSet",
    "RegimeSwitchShock",
    "HistoricalReplayShock",
    "PoissonJumpsShock",
    "AnchoredPathShock",
    "CurveShiftShock",
    "IRRBB_SHAPES",
    "IRRBB_USD_BP",
    "irrbb_shift",
    "Shock",
    "TARGET_MEASURES",
    "Target",
]

#: Longest horizon a scenario may ask for: 10 years of 252 trading days.
MAX_HORIZON_DAYS = 2520
#: Largest volatility multiplier (vol_spike ``multiplier``, regime ``vol_multiplier``): a hundred times the model's
#: daily volatility is beyond any episode; larger ones only overflow prices.
MAX_VOL_MULTIPLIER = 100.0
#: Largest jump sizes by unit: +10,000 % (a price times 101), 100 conditional sigmas, 100,000 bp.
MAX_JUMP = {"percent": 1e4, "sigma": 100.0, "bp": 1e5}
#: Largest ``poisson_jumps`` intensity (events a year): 100 events a trading day on average. The kernel draws every
#: event, so a larger intensity is work without end rather than a scenario.
MAX_POISSON_INTENSITY = 25_200.0
#: Trading days per year (converts annual Poisson intensities to daily ones).
#: Bundled historical data sets for ``historical_replay``: name -> (first date, last date) covered.
#: ``us-markets``: S&P 500 and NASDAQ Composite daily closes (``arch.data.sp500`` / ``nasdaq``,
#: 1999-01-04..2018-12-31) and WTI spot (``arch.data.wti``, 1986-2019), on their common dates.
BUILTIN_DATA: dict[str, tuple[_dt.date, _dt.date]] = {
    "us-markets": (_dt.date(1999, 1, 4), _dt.date(2018, 12, 31)),
}
#: Default risk horizons (trading days) of ``[outputs]``.
DEFAULT_RISK_HORIZONS = (1, 10)
#: The shock types, in the order they are documented.
SHOCK_TYPES = (
    "jump",
    "vol_spike",
    "correlation_break",
    "regime_switch",
    "historical_replay",
    "poisson_jumps",
    "anchored_path",
    "curve_shift",
)
#: Jump-size law of ``poisson_jumps`` -> its parameters (``sign`` of ``pareto`` is optional).
POISSON_LAW_PARAMS: dict[str, tuple[str, ...]] = {
    "normal": ("mean", "sd"),
    "double_exponential": ("p_up", "eta_up", "eta_down"),
    "pareto": ("scale", "alpha", "sign"),
}
_OPTIONAL_LAW_PARAMS = {"sign"}

_SLUG = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
_SLUG_ALLOWED = "lowercase letters, digits and single hyphens, e.g. 'gfc-2008'"
_ROLE = r"^[A-Za-z_][A-Za-z0-9_]*$"
_ASSETS_ALLOWED = 'a list of roles or model asset names, e.g. ["equity", "oil"], or the string "all"'
_REF_ALLOWED = "a file path (relative to the scenario file) or 'builtin:<name>'"


def _fail(message: str, *, key: str | None = None, allowed: str | None = None,
          sub: str | None = None) -> PydanticCustomError:
    """A validation error located at ``key`` below the failing table, or at the entry ``sub``
    (e.g. ``"[1]"``) of the failing field (the loader turns these into key paths)."""
    ctx: dict[str, Any] = {}
    if key is not None:
        ctx["key"] = key
    if sub is not None:
        ctx["sub"] = sub
    if allowed is not None:
        ctx["allowed"] = allowed
    # braces would be read as format fields by pydantic-core
    return PydanticCustomError("scenario_value", message.replace("{", "(").replace("}", ")"), ctx)


def _toml_type(x: Any) -> str:
    """The TOML name of a parsed value's type, for error messages."""
    if isinstance(x, bool):
        return "boolean"
    if isinstance(x, int):
        return "integer"
    if isinstance(x, float):
        return "float"
    if isinstance(x, str):
        return "string"
    if isinstance(x, _dt.datetime):
        return "datetime"
    if isinstance(x, _dt.date):
        return "date"
    if isinstance(x, _dt.time):
        return "time"
    if isinstance(x, (list, tuple)):
        return "array"
    if isinstance(x, dict):
        return "table"
    return type(x).__name__


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


# ---------------------------------------------------------------------------------------- field types
def _check_assets(value: Any) -> Any:
    if isinstance(value, str):
        if value == "all":
            return value
        raise _fail(f'a single name must be written as a list: ["{value}"]', allowed=_ASSETS_ALLOWED)
    if not isinstance(value, list):
        raise _fail(f"expected a list of names or \"all\", got {_toml_type(value)}", allowed=_ASSETS_ALLOWED)
    if not value:
        raise _fail("the list of assets is empty", allowed=_ASSETS_ALLOWED)
    for i, name in enumerate(value):
        if not isinstance(name, str) or not name.strip():
            raise _fail(f"must be a non-empty name, got {name!r}", allowed=_ASSETS_ALLOWED, sub=f"[{i}]")
        if name == "all":
            raise _fail('"all" cannot be mixed with names; write assets = "all"', allowed=_ASSETS_ALLOWED)
    dup = sorted({n for n in value if value.count(n) > 1})
    if dup:
        raise _fail(f"duplicate name(s) {', '.join(map(repr, dup))}", allowed=_ASSETS_ALLOWED)
    return value


#: ``"all"`` or a non-empty list of distinct role / asset names.
AssetSelector = Annotated[
    Union[Literal["all"], list[str]],
    BeforeValidator(_check_assets),
    Field(json_schema_extra={"allowed": _ASSETS_ALLOWED}),
]

_SIZE_ALLOWED = "a number, or a list of numbers with one entry per name in assets"


def _check_size(value: Any) -> Any:
    if _is_number(value):
        if not math.isfinite(value):
            raise _fail(f"must be finite, got {value!r}", allowed=_SIZE_ALLOWED)
        return float(value)
    if isinstance(value, list) and value:
        for i, v in enumerate(value):
            if not _is_number(v) or not math.isfinite(v):
                raise _fail(f"must be a finite number, got {v!r}", allowed=_SIZE_ALLOWED, sub=f"[{i}]")
        return [float(v) for v in value]
    raise _fail(f"expected a number or a non-empty list of numbers, got {_toml_type(value)} {value!r}", allowed=_SIZE_ALLOWED)


_WINDOW_ALLOWED = 'two ISO dates [start, end] with start <= end, e.g. ["2008-09-02", "2009-03-09"]'


def _check_window(value: Any) -> Any:
    if not isinstance(value, list) or len(value) != 2:
        raise _fail(f"expected a list of two dates, got {_toml_type(value)} {value!r}", allowed=_WINDOW_ALLOWED)
    out = []
    for k, (which, v) in enumerate(zip(("start", "end"), value)):
        if isinstance(v, _dt.datetime):
            raise _fail(f"{which} must be a date without a time, got {v.isoformat()}", allowed=_WINDOW_ALLOWED, sub=f"[{k}]")
        if isinstance(v, _dt.date):
            out.append(v)
        elif isinstance(v, str):
            try:
                out.append(_dt.date.fromisoformat(v))
            except ValueError:
                raise _fail(f"{which} date {v!r} is not a valid ISO date YYYY-MM-DD", allowed=_WINDOW_ALLOWED, sub=f"[{k}]") from None
        else:
            raise _fail(f"{which} must be a date, got {_toml_type(v)} {v!r}", allowed=_WINDOW_ALLOWED, sub=f"[{k}]")
    if out[0] > out[1]:
        raise _fail(f"start {out[0]} is after end {out[1]}", allowed=_WINDOW_ALLOWED)
    return out


_KNOTS_ALLOWED = (
    "a list of [day, value] pairs with strictly increasing integer days >= 1: cumulative percent price "
    "changes > -100 (unit = \"percent\", e.g. [[63, -25.0], [189, -50.0]]), cumulative changes in basis "
    "points (unit = \"bp\") or levels (unit = \"level\")"
)


def _check_knots(value: Any) -> Any:
    if value is None:
        return value
    if not isinstance(value, list) or not value:
        raise _fail(f"expected a non-empty list of [day, percent] pairs, got {_toml_type(value)} {value!r}", allowed=_KNOTS_ALLOWED)
    out = []
    prev = 0
    for i, pair in enumerate(value):
        if not isinstance(pair, list) or len(pair) != 2:
            raise _fail(f"must be a [day, percent] pair, got {pair!r}", allowed=_KNOTS_ALLOWED, sub=f"[{i}]")
        day, pct = pair
        if not isinstance(day, int) or isinstance(day, bool) or day < 1:
            raise _fail(f"day must be an integer >= 1, got {day!r}", allowed=_KNOTS_ALLOWED, sub=f"[{i}]")
        if not _is_number(pct) or not math.isfinite(pct):
            raise _fail(f"the value must be a finite number, got {pct!r}", allowed=_KNOTS_ALLOWED, sub=f"[{i}]")
        if day <= prev:
            raise _fail(f"day {day} is not after the previous knot's day {prev}", allowed=_KNOTS_ALLOWED, sub=f"[{i}]")
        prev = day
        out.append((day, float(pct)))
    return out


# ------------------------------------------------------------------------------------------- base
class _Table(BaseModel):
    """Base of every table: unknown keys are errors, types are strict, numbers must be finite."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False,
                              use_attribute_docstrings=True)


Day = Annotated[int, Field(ge=1, le=MAX_HORIZON_DAYS)]
Label = Annotated[str, Field(min_length=1, max_length=80)]


class _ShockBase(_Table):
    """Fields common to every shock."""

    label: Optional[Label] = None
    """Optional free-text name of the shock, unique within the scenario (used in reports)."""

    def last_day(self, horizon_days: int) -> int:
        """The last simulated day (1-based) this shock touches, for a scenario of ``horizon_days``."""
        raise NotImplementedError

    def asset_names(self) -> list[tuple[str, str]]:
        """``(name, key)`` for every role / asset name this shock refers to (``"all"`` excluded)."""
        assets = getattr(self, "assets", "all")
        return [] if assets == "all" else [(a, "assets") for a in assets]


class JumpShock(_ShockBase):
    """A move on one day: ``type = "jump"``.

    On day ``day`` the listed assets' returns are moved by ``size`` (on top of the model draw), in
    every path (``probability = 1``) or independently per path with probability ``probability``.
    A jump is a surprise: it is part of the day's residual, which feeds the variance recursion (a
    level shift that does not is a ``curve_shift``). Price, FX and volatility factors take
    ``unit = "percent"`` (or ``"sigma"``), rate and spread factors ``unit = "bp"`` (or ``"sigma"``):
    checked against the model's factor kinds when the scenario is compiled.
    """

    type: Literal["jump"]
    day: Day
    """Day of the move (1-based trading day, <= horizon_days)."""
    assets: AssetSelector
    """Assets that move: list of roles / asset names, or ``"all"``."""
    size: Annotated[Union[float, list[float]], BeforeValidator(_check_size), Field(json_schema_extra={"allowed": _SIZE_ALLOWED})]
    """Size of the move: one number for every asset, or one per entry of ``assets`` (in that order)."""
    unit: Literal["percent", "sigma", "bp"]
    """``"percent"``: simple price change in percent (``-20.47`` = the price falls 20.47 %, must be
    > -100); ``"bp"``: absolute change in basis points, for rate and spread factors (``+50`` = the
    yield rises by 0.50 percentage points); ``"sigma"``: multiples of the path's conditional standard
    deviation on that day (any kind)."""
    probability: float = Field(1.0, gt=0.0, le=1.0)
    """Probability in (0, 1] that the jump happens in a given path (independent across paths)."""

    @model_validator(mode="after")
    def _check(self) -> "JumpShock":
        if isinstance(self.size, list):
            if self.assets == "all":
                raise _fail('a list of sizes needs an explicit assets list (with assets = "all" give one number)',
                            key="size", allowed="one number")
            if len(self.size) != len(self.assets):
                raise _fail(f"has {len(self.size)} entries but assets names {len(self.assets)}",
                            key="size", allowed=f"one number, or a list of {len(self.assets)} numbers")
        sizes = self.size if isinstance(self.size, list) else [self.size]
        if self.unit == "percent":
            bad = [s for s in sizes if s <= -100.0]
            if bad:
                raise _fail(f"a price cannot fall by 100 % or more, got {bad[0]!r}", key="size",
                            allowed='numbers > -100 with unit = "percent"')
        top = MAX_JUMP[self.unit]
        big = [s for s in sizes if (s if self.unit == "percent" else abs(s)) > top]
        if big:
            raise _fail(f"a jump of {big[0]:g} {self.unit} is beyond what a price or rate can move in a day",
                        key="size", allowed=f"sizes up to {'+' if self.unit == 'percent' else '+-'}{top:g} with unit = "
                        f"{self.unit!r}")
        return self

    def last_day(self, horizon_days: int) -> int:
        return self.day

    def sizes(self) -> list[float]:
        """The size for each entry of ``assets`` (a single size repeated); for ``assets = "all"``,
        a one-element list holding the size every asset takes."""
        if isinstance(self.size, list):
            return list(self.size)
        n = 1 if self.assets == "all" else len(self.assets)
        return [float(self.size)] * n


class VolSpikeShock(_ShockBase):
    """Conditional volatility multiplied by ``k``: ``type = "vol_spike"``.

    On days ``day .. day + days - 1`` the conditional standard deviation of the listed assets is
    multiplied by ``m_t``: ``m_t = k`` (constant) or, with ``half_life`` set,
    ``m_t = 1 + (k - 1) * 0.5 ** ((t - day) / half_life)`` (``m = k`` on the first day, decaying to 1).
    """

    type: Literal["vol_spike"]
    day: Day
    """First spiked day (1-based)."""
    days: int = Field(ge=1, le=MAX_HORIZON_DAYS)
    """Number of spiked days (>= 1); the window must end within horizon_days."""
    multiplier: float = Field(gt=0.0, le=MAX_VOL_MULTIPLIER)
    """``k`` in (0, 100], the multiplier of the conditional standard deviation (not the variance) on ``day``."""
    half_life: Optional[float] = Field(None, gt=0.0)
    """Decay half-life of ``k - 1`` in trading days (> 0); absent: constant ``k`` over the window."""
    assets: AssetSelector = "all"
    """Assets whose volatility is spiked (default ``"all"``)."""
    feedback: bool = False
    """``true``: the spiked residual feeds the GARCH recursion (volatility stays high after the
    window, as in a real episode); ``false``: the recursion sees the unspiked residual."""

    def last_day(self, horizon_days: int) -> int:
        return self.day + self.days - 1

    def multipliers(self) -> list[float]:
        """``m_t`` for ``t = day .. day + days - 1`` (volatility multipliers, length ``days``)."""
        k = self.multiplier
        if self.half_life is None:
            return [k] * self.days
        return [1.0 + (k - 1.0) * 0.5 ** (j / self.half_life) for j in range(self.days)]


class CorrelationBreakShock(_ShockBase):
    """The copula becomes a crisis copula: ``type = "correlation_break"``.

    On days ``day .. day + days - 1`` the dependence among the listed assets is an equicorrelated
    Gaussian copula with correlation ``rho`` for every pair, or a Student-t copula with that
    correlation and ``nu`` degrees of freedom when ``nu`` is given. (Whether the matrix is positive
    definite for the model's assets is checked when the scenario is compiled against a model.)
    Without ``rho`` every pair keeps the model's correlation and only the copula's family changes: a
    Gaussian copula (no ``nu``) or a Student-t with ``nu`` degrees of freedom.
    """

    type: Literal["correlation_break"]
    day: Day
    """First crisis day (1-based)."""
    days: int = Field(ge=1, le=MAX_HORIZON_DAYS)
    """Number of crisis days (>= 1); the window must end within horizon_days."""
    rho: Optional[float] = Field(None, gt=-1.0, lt=1.0)
    """Crisis correlation for every pair of the listed assets, in (-1, 1); absent: the model's correlations."""
    nu: Optional[float] = Field(None, gt=2.0)
    """Degrees of freedom (> 2) of a Student-t crisis copula; absent: Gaussian crisis copula."""
    assets: AssetSelector = "all"
    """Assets whose dependence breaks (at least two; default ``"all"``)."""

    @model_validator(mode="after")
    def _check(self) -> "CorrelationBreakShock":
        if self.assets != "all" and len(self.assets) < 2:
            raise _fail("a correlation needs at least two assets", key="assets",
                        allowed='a list of two or more names, or "all"')
        return self

    def last_day(self, horizon_days: int) -> int:
        return self.day + self.days - 1


class StressSet(_Table):
    """The stress regime's parameters relative to the calm (calibrated) model.

    ``vol_multiplier`` scales every asset's long-run (unconditional) volatility; ``rho`` and ``nu``,
    when given, replace the copula by an equicorrelated Gaussian (``rho``) or Student-t
    (``rho``, ``nu``) copula while in stress.
    """

    vol_multiplier: float = Field(gt=0.0, le=MAX_VOL_MULTIPLIER)
    """``k`` in (0, 100]: the stress regime's long-run volatility is ``k`` times the calm one."""
    rho: Optional[float] = Field(None, gt=-1.0, lt=1.0)
    """Stress-regime correlation for every pair, in (-1, 1); absent: the model's copula."""
    nu: Optional[float] = Field(None, gt=2.0)
    """Degrees of freedom (> 2) of a Student-t stress copula; absent: as the model's copula."""


class RegimeSwitchShock(_ShockBase):
    """Markov switching between the calm model and a stress parameter set: ``type = "regime_switch"``.

    Each path runs its own two-state chain over the whole horizon: from calm it enters stress with
    probability ``p_enter`` per day, from stress it returns to calm with probability ``p_exit``. The
    stress regime is either another model (``stress_model``, e.g. calibrated on a stressed window)
    or ``[shocks.stress]`` scalings of the calm model; exactly one of the two.
    """

    type: Literal["regime_switch"]
    p_enter: float = Field(ge=0.0, le=1.0)
    """Daily probability of calm -> stress, in [0, 1]."""
    p_exit: float = Field(ge=0.0, le=1.0)
    """Daily probability of stress -> calm, in [0, 1]."""
    start: Literal["calm", "stress", "stationary"] = "calm"
    """Regime on day 1's eve: ``"calm"``, ``"stress"``, or drawn from the stationary law
    (stress with probability ``p_enter / (p_enter + p_exit)``)."""
    stress_model: Optional[Annotated[str, Field(min_length=1)]] = Field(
        None, json_schema_extra={"allowed": _REF_ALLOWED})
    """Model JSON for the stress regime: a path (relative to the scenario file) or ``builtin:<name>``."""
    stress: Optional[StressSet] = None
    """The ``[shocks.stress]`` table (alternative to ``stress_model``)."""

    @model_validator(mode="after")
    def _check(self) -> "RegimeSwitchShock":
        if (self.stress_model is None) == (self.stress is None):
            both = "both are given" if self.stress is not None else "neither is given"
            raise _fail(f"give exactly one of stress_model and [shocks.stress]; {both}", key="stress",
                        allowed="stress_model = '<path or builtin:name>' or a [shocks.stress] table with "
                                "vol_multiplier (and optional rho, nu)")
        if self.start == "stationary" and self.p_enter + self.p_exit == 0.0:
            raise _fail("the stationary law is undefined when p_enter = p_exit = 0", key="start",
                        allowed="'calm' or 'stress' (or make p_enter + p_exit > 0)")
        if self.start == "calm" and self.p_enter == 0.0:
            raise _fail("with start = 'calm' and p_enter = 0 the stress regime is never visited", key="p_enter",
                        allowed="a number in (0, 1], or start = 'stress'")
        return self

    def last_day(self, horizon_days: int) -> int:
        return horizon_days

    def stationary_stress_probability(self) -> float:
        """Long-run fraction of days in stress, ``p_enter / (p_enter + p_exit)``."""
        s = self.p_enter + self.p_exit
        return self.p_enter / s if s > 0 else (1.0 if self.start == "stress" else 0.0)


class HistoricalReplayShock(_ShockBase):
    """A historical window replayed: ``type = "historical_replay"``.

    The trading days in ``window`` (``data``'s daily log returns dated ``start .. end`` inclusive)
    replace the model's innovations from day ``day`` on, one whole cross-asset vector per day, so the
    co-movement of each historical day is kept. ``scaling`` says at what size:

    - ``scaling = "historical"`` (default): each day's return ``r_t`` as it happened, so a sequence
      replay reproduces the window's returns exactly, whatever the path's volatility or regime: the
      historical price moves applied to today's portfolio (a ``vol_spike`` on the day multiplies
      the residual ``r_t - mu``, and jumps add to it). The model's variance recursion is fed these
      residuals, so volatility after the window carries the episode.
    - ``scaling = "filtered"`` (filtered historical simulation, FHS): each day's standardized
      residual ``z_t = (r_t - mu) / sigma_t``, from filtering the data through the simulated model's
      own marginals (its mean and variance recursion run over the data), is rescaled by the path's
      conditional sigma on the replayed day: the historical surprise in today's volatility regime.

    Two modes:

    - ``mode = "sequence"`` (default): the window's vectors in their historical order, one trading day
      per simulated day, from ``day`` to the window's end or the horizon, whichever comes first.
      Given the start state this is deterministic: every path replays the same sequence of surprises
      (paths differ only through other shocks).
    - ``mode = "bootstrap"``: each replayed day draws one of the window's vectors uniformly at random,
      independently per path and day (with filtered scaling, filtered historical simulation with
      dispersion, Barone-Adesi et al. 1999), for ``days`` days (default: the window's length),
      ending within the horizon.

    With ``scaling = "filtered"`` magnitudes are the shock *in the simulated vol regime*, not the
    historical price moves: a replayed day moves the price by ``z_t`` times the path's *current*
    conditional sigma (the model's start state and its own recursion), so a window replayed from a
    high-volatility start state produces larger moves than history, and from a calm one smaller.
    The historical cumulative move is reproduced only when the simulated sigma matches the
    historical one along the window. This is the method's defining property ("the historical shock
    in today's volatility regime"), so it must be asked for by name (files written by stress-sim
    0.2.x and earlier, which had filtered scaling as the default, state it in their stored
    ``scenario.json`` or are read with it, see :func:`scenarios.loader.scenario_from_record`).
    """

    type: Literal["historical_replay"]
    day: Day = 1
    """First replayed day (1-based, default 1)."""
    window: Annotated[list[_dt.date], BeforeValidator(_check_window), Field(json_schema_extra={"allowed": _WINDOW_ALLOWED})]
    """``[start, end]``: the historical dates (inclusive) whose residuals are replayed."""
    data: Annotated[str, Field(min_length=1)] = Field("builtin:us-markets", json_schema_extra={
        "allowed": "'builtin:" + "', 'builtin:".join(BUILTIN_DATA) + "' or a path to a price file"})
    """Historical data: ``builtin:us-markets`` (the default) or a path to a price file."""
    mode: Literal["sequence", "bootstrap"] = "sequence"
    """``"sequence"`` (default): the window's residual vectors in historical order;
    ``"bootstrap"``: each replayed day draws a residual vector of the window uniformly, per path."""
    scaling: Literal["historical", "filtered"] = "historical"
    """``"historical"`` (default): history's own returns, the window's price moves as they happened;
    ``"filtered"``: standardized residuals times the path's current sigma (FHS)."""
    days: Optional[int] = Field(None, ge=1, le=MAX_HORIZON_DAYS)
    """``mode = "bootstrap"`` only: number of replayed days (>= 1, ending within horizon_days;
    default: the number of trading days in the window)."""

    @model_validator(mode="after")
    def _check(self) -> "HistoricalReplayShock":
        if self.days is not None and self.mode == "sequence":
            raise _fail("days is only used with mode = \"bootstrap\"; a sequence replay lasts as long as its window",
                        key="days", allowed='mode = "bootstrap" with days, or no days (shorten the window instead)')
        if self.data.startswith("builtin:"):
            name = self.data[len("builtin:"):]
            if name not in BUILTIN_DATA:
                raise _fail(f"unknown builtin data set {name!r}", key="data",
                            allowed=", ".join(f"'builtin:{k}'" for k in BUILTIN_DATA) + " or a path to a price file")
            lo, hi = BUILTIN_DATA[name]
            start, end = self.window
            if start < lo or end > hi:
                raise _fail(f"{start}..{end} is not covered by builtin:{name}, which holds {lo}..{hi}", key="window",
                            allowed=f"dates within {lo}..{hi}")
        start, end = self.window
        # at least one weekday in the window (exchange holidays are only known with the data)
        n_weekdays = sum(1 for k in range((end - start).days + 1) if (start + _dt.timedelta(k)).weekday() < 5)
        if n_weekdays == 0:
            raise _fail(f"{start}..{end} contains no trading day", key="window", allowed=_WINDOW_ALLOWED)
        return self

    def last_day(self, horizon_days: int) -> int:
        if self.days is not None:
            return self.day + self.days - 1
        # the number of window days is known only with the data: the horizon bounds it
        return horizon_days


class PoissonJumpsShock(_ShockBase):
    """Rare jumps arriving as a Poisson process: ``type = "poisson_jumps"``.

    On each day of ``from_day .. to_day`` a path has ``N ~ Poisson(intensity / 252)`` events; each
    event draws one size ``J`` (percent log return) from ``law`` and moves asset ``a``'s return by
    ``loadings[a] * J``. Laws and their parameters (sizes in percent log-return units):

    - ``normal``: ``mean``, ``sd`` (> 0): ``J ~ N(mean, sd^2)``;
    - ``double_exponential`` (Kou): ``p_up`` in [0, 1], ``eta_up``, ``eta_down`` (> 0, the mean
      sizes of up and down moves): ``J = +E(mean eta_up)`` with probability ``p_up``, else
      ``-E(mean eta_down)``;
    - ``pareto``: ``scale`` (``x_m`` > 0), ``alpha`` (> 0), ``sign`` (-1 or 1, default -1):
      ``J = sign * X`` with ``P(X > x) = (x_m / x) ** alpha`` for ``x >= x_m``.
    """

    type: Literal["poisson_jumps"]
    intensity: float = Field(gt=0.0, le=MAX_POISSON_INTENSITY)
    """Expected number of events per year (> 0, at most 25,200: 100 a day; a year is 252 trading days)."""
    law: Literal["normal", "double_exponential", "pareto"]
    """Jump-size law; its parameters are the keys below (only those of the chosen law)."""
    mean: Optional[float] = None
    """``normal``: mean jump size (percent log return)."""
    sd: Optional[float] = Field(None, gt=0.0)
    """``normal``: standard deviation of the jump size (percent, > 0)."""
    p_up: Optional[float] = Field(None, ge=0.0, le=1.0)
    """``double_exponential``: probability that a jump is upward, in [0, 1]."""
    eta_up: Optional[float] = Field(None, gt=0.0)
    """``double_exponential``: mean size of an upward jump (percent, > 0)."""
    eta_down: Optional[float] = Field(None, gt=0.0)
    """``double_exponential``: mean size of a downward jump (percent, > 0)."""
    scale: Optional[float] = Field(None, gt=0.0)
    """``pareto``: minimum absolute jump size ``x_m`` (percent, > 0)."""
    alpha: Optional[float] = Field(None, gt=0.0)
    """``pareto``: tail index (> 0; the mean is infinite for alpha <= 1)."""
    sign: Optional[Literal[-1, 1]] = None
    """``pareto``: direction of the jumps, -1 (down, default) or 1 (up)."""
    loadings: dict[str, float]
    """Table role / asset name -> loading (dimensionless) applied to each event's size."""
    from_day: Day = 1
    """First day events can occur (1-based, default 1)."""
    to_day: Optional[Day] = None
    """Last day events can occur (default: horizon_days)."""

    @model_validator(mode="after")
    def _check(self) -> "PoissonJumpsShock":
        own = POISSON_LAW_PARAMS[self.law]
        allowed = f"law {self.law!r} takes " + ", ".join(own)
        for law, params in POISSON_LAW_PARAMS.items():
            for p in params:
                if p not in own and getattr(self, p) is not None:
                    raise _fail(f"is a parameter of law {law!r}, not of law {self.law!r}", key=p, allowed=allowed)
        for p in own:
            if p not in _OPTIONAL_LAW_PARAMS and getattr(self, p) is None:
                raise _fail(f"missing, and required by law {self.law!r}", key=p, allowed=allowed)
        if not self.loadings:
            raise _fail("needs at least one role or asset", key="loadings",
                        allowed="a table of name = loading, e.g. { equity = 1.0, tech_equity = 1.3 }")
        if all(v == 0.0 for v in self.loadings.values()):
            raise _fail("every loading is 0, so the jumps would have no effect", key="loadings",
                        allowed="at least one non-zero loading")
        if self.to_day is not None and self.to_day < self.from_day:
            raise _fail(f"{self.to_day} is before from_day {self.from_day}", key="to_day",
                        allowed=f"an integer >= from_day ({self.from_day}) and <= horizon_days")
        return self

    @property
    def jump_sign(self) -> int:
        """``sign`` with its default (-1) filled in (pareto only)."""
        return -1 if self.sign is None else int(self.sign)

    def daily_intensity(self) -> float:
        """Expected events per trading day, ``intensity / 252``."""
        return self.intensity / TRADING_DAYS_PER_YEAR

    def end_day(self, horizon_days: int) -> int:
        """``to_day`` with its default (the horizon) filled in."""
        return horizon_days if self.to_day is None else self.to_day

    def last_day(self, horizon_days: int) -> int:
        return self.end_day(horizon_days)

    def asset_names(self) -> list[tuple[str, str]]:
        return [(a, f"loadings.{a}") for a in self.loadings]


class AnchoredPathShock(_ShockBase):
    """A prescribed path for some assets, the others conditional on it: ``type = "anchored_path"``.

    The anchored assets follow a regulator-style path from day 1: either ``knots`` (values at given
    days, interpolated linearly between them from day 0) or ``returns`` (the daily changes of days 1,
    2, ...), plus optional noise of ``noise`` conditional sigmas. The anchor lasts until the last knot
    day (or ``len(returns)``); the other assets are drawn from the copula conditional on the anchored
    ones. Exactly one of ``knots`` and ``returns``. ``unit`` says what the numbers are:

    - ``"percent"`` (default; price, FX and volatility factors): knots are cumulative simple price
      changes in percent (day 0 is 0 %, > -100), interpolated linearly in log price; returns are daily
      percent log returns;
    - ``"bp"`` (rate and spread factors): knots are cumulative changes in basis points (day 0 is 0),
      interpolated linearly in the level; returns are daily changes in basis points;
    - ``"level"`` (rate and spread factors, knots only): knots are levels in the factor's unit (a yield
      in percent, a spread in basis points); day 0 is the model's as-of level of each anchored factor
      (``factors.<asset>.level``), so each asset's path in basis points is its own.

    Several ``anchored_path`` shocks may anchor different assets (e.g. an equity index in percent and
    two yields in levels) when they cover the same days (the kernel anchors every anchored asset on
    the same days).
    """

    type: Literal["anchored_path"]
    assets: AssetSelector
    """Anchored assets: list of roles / asset names (each follows the same path), or ``"all"``."""
    knots: Optional[Annotated[list[tuple[int, float]], BeforeValidator(_check_knots)]] = Field(
        None, json_schema_extra={"allowed": _KNOTS_ALLOWED})
    """``[[day, value], ...]`` with strictly increasing days >= 1; values in ``unit``."""
    returns: Optional[list[float]] = None
    """Daily changes for days 1..len(returns) (length <= horizon_days): percent log returns
    (``unit = "percent"``) or basis points (``unit = "bp"``)."""
    unit: Literal["percent", "bp", "level"] = "percent"
    """``"percent"`` (default): price changes; ``"bp"``: changes in basis points; ``"level"``: levels
    in the factor's unit (knots only). See the class docstring."""
    noise: float = Field(0.0, ge=0.0)
    """Standard deviation of noise added to the anchored returns, in units of the path's
    conditional sigma (>= 0, default 0: the path is followed exactly)."""

    @model_validator(mode="after")
    def _check(self) -> "AnchoredPathShock":
        if (self.knots is None) == (self.returns is None):
            both = "both are given" if self.knots is not None else "neither is given"
            raise _fail(f"give exactly one of knots and returns; {both}", key="knots",
                        allowed="knots = [[day, percent], ...] or returns = [r1, r2, ...]")
        if self.returns is not None and not self.returns:
            raise _fail("the list of returns is empty", key="returns",
                        allowed="a non-empty list of daily percent log returns")
        if self.unit == "level" and self.returns is not None:
            raise _fail('unit = "level" takes knots (levels at given days), not daily returns', key="unit",
                        allowed='unit = "bp" with daily changes in basis points, or knots with unit = "level"')
        if self.unit == "percent" and self.knots is not None:
            for i, (_, pct) in enumerate(self.knots):
                if pct <= -100.0:
                    raise _fail(f"a cumulative price change must be > -100 (percent), got {pct!r}",
                                key="knots", sub=f"[{i}]", allowed=_KNOTS_ALLOWED)
        return self

    @property
    def n_days(self) -> int:
        """Number of anchored days (last knot day, or ``len(returns)``)."""
        return self.knots[-1][0] if self.knots is not None else len(self.returns)

    def last_day(self, horizon_days: int) -> int:
        return self.n_days

    def daily_log_returns(self) -> list[float]:
        """The anchored path as daily percent log returns for days ``1 .. n_days`` (``unit = "percent"``).

        Knots are interpolated linearly in log price: between knots ``(d0, c0)`` and ``(d1, c1)``
        (``c`` = cumulative simple change in percent, day 0 = 0 %) each day's log return is
        ``100 * (ln(1 + c1/100) - ln(1 + c0/100)) / (d1 - d0)``.
        """
        if self.unit != "percent":
            raise ValueError(f"daily_log_returns() is for unit = 'percent'; this path is in {self.unit!r} "
                             f"(use daily_changes)")
        if self.returns is not None:
            return list(self.returns)
        return _linear_steps([(d, 100.0 * math.log1p(c / 100.0)) for d, c in self.knots])

    def daily_changes(self, start_level: float | None = None, bp_per_unit: float = 100.0) -> list[float]:
        """The anchored path as daily changes in the factor's simulated unit for days ``1 .. n_days``:
        percent log returns (``unit = "percent"``, as :meth:`daily_log_returns`) or basis points.

        ``unit = "bp"``: knots (cumulative changes in basis points, day 0 = 0) interpolated linearly,
        ``(c1 - c0) / (d1 - d0)`` a day; returns as given. ``unit = "level"``: knot ``L`` is the cumulative
        change ``bp_per_unit * (L - start_level)`` (``start_level``: the factor's as-of level; ``bp_per_unit``
        100 for a yield in percent, 1 for a spread in basis points), then as for ``"bp"``.
        """
        if self.unit == "percent":
            return self.daily_log_returns()
        if self.returns is not None:
            return list(self.returns)
        if self.unit == "bp":
            return _linear_steps(list(self.knots))
        if start_level is None:
            raise ValueError('unit = "level" needs the factor\'s as-of level (start_level)')
        return _linear_steps([(d, bp_per_unit * (v - start_level)) for d, v in self.knots])


def _linear_steps(knots: list[tuple[int, float]]) -> list[float]:
    """Daily steps of the path through ``(0, 0)`` and ``knots`` (cumulative values), linear between knots."""
    out: list[float] = []
    d0, l0 = 0, 0.0
    for d1, l1 in knots:
        out.extend([(l1 - l0) / (d1 - d0)] * (d1 - d0))
        d0, l0 = d1, l1
    return out


#: The six standardised interest rate shock scenarios of the BCBS IRRBB standard (BCBS d368, April 2016,
#: Annex 2): parallel up and down, steepener, flattener, short rates up and down.
IRRBB_SHAPES = ("parallel_up", "parallel_down", "steepener", "flattener", "short_up", "short_down")
#: BCBS d368, Annex 2, Table 1: the specified shock sizes for USD, basis points.
IRRBB_USD_BP: dict[str, float] = {"parallel": 200.0, "short": 300.0, "long": 150.0}
#: BCBS d368, Annex 2: the decay parameter x (years) of the short- and long-rate scalars.
IRRBB_DECAY_YEARS = 4.0
#: Which sizes each shape uses (``shape = "parallel"`` takes ``size``, a signed user-given size).
_SHAPE_SIZES: dict[str, tuple[str, ...]] = {
    "parallel_up": ("parallel_bp",), "parallel_down": ("parallel_bp",),
    "steepener": ("short_bp", "long_bp"), "flattener": ("short_bp", "long_bp"),
    "short_up": ("short_bp",), "short_down": ("short_bp",), "parallel": ("size",),
}


def irrbb_shift(shape: str, tenor_years: float, *, parallel_bp: float = IRRBB_USD_BP["parallel"],
                short_bp: float = IRRBB_USD_BP["short"], long_bp: float = IRRBB_USD_BP["long"],
                size: float | None = None) -> float:
    """The rate change (basis points) of an IRRBB shock scenario at tenor ``tenor_years`` (BCBS d368, Annex 2).

    With the short-rate scalar ``S_short(t) = exp(-t / 4)`` and the long-rate scalar
    ``S_long(t) = 1 - exp(-t / 4)``, ``short = short_bp * S_short(t)`` and ``long = long_bp * S_long(t)``:

    - ``parallel_up`` / ``parallel_down``: ``+parallel_bp`` / ``-parallel_bp`` at every tenor;
    - ``short_up`` / ``short_down``: ``+short`` / ``-short``;
    - ``steepener``: ``-0.65 |short| + 0.9 |long|`` (short rates down, long rates up);
    - ``flattener``: ``+0.8 |short| - 0.6 |long|`` (short rates up, long rates down);
    - ``parallel``: ``size`` at every tenor (a user-given signed size).
    """
    if tenor_years <= 0:
        raise ValueError(f"tenor_years must be > 0, got {tenor_years!r}")
    s_short = math.exp(-tenor_years / IRRBB_DECAY_YEARS)
    short = short_bp * s_short
    long = long_bp * (1.0 - s_short)
    if shape == "parallel_up":
        return float(parallel_bp)
    if shape == "parallel_down":
        return -float(parallel_bp)
    if shape == "short_up":
        return short
    if shape == "short_down":
        return -short
    if shape == "steepener":
        return -0.65 * abs(short) + 0.9 * abs(long)
    if shape == "flattener":
        return 0.8 * abs(short) - 0.6 * abs(long)
    if shape == "parallel":
        if size is None:
            raise ValueError('shape "parallel" needs size (basis points)')
        return float(size)
    raise ValueError(f"unknown shape {shape!r} (allowed: {', '.join((*IRRBB_SHAPES, 'parallel'))})")


class CurveShiftShock(_ShockBase):
    """A yield-curve move in basis points on a named curve: ``type = "curve_shift"``.

    Every rate factor of the model on curve ``curve`` (``factors.<asset>.curve``) moves by the shape's
    change at its ``tenor_years`` (:func:`irrbb_shift`): one of the six BCBS IRRBB standard shapes
    (BCBS d368, April 2016, Annex 2) with the USD sizes of its Table 1 unless ``parallel_bp``,
    ``short_bp`` or ``long_bp`` say otherwise, or ``shape = "parallel"`` with a signed ``size``. The move
    is added on day ``day``, or ramped linearly over ``days`` days (``1 / days`` of it on each of days
    ``day .. day + days - 1``). It is a level shift: it adds to the factors' daily changes on top of the
    model's own noise, but not to the residual that feeds the variance recursion (a 200 bp move is not
    a 40-sigma surprise to the model's volatility), so the expected change over the shocked days is
    the model's drift plus the shift, exactly. The curve must exist in the model when the scenario is
    compiled (an error otherwise, naming the curve and the model's curves). The BCBS shocks apply to
    zero rates; here they move whatever the curve's factors are (par yields for ``builtin:us-markets-rates``).
    """

    type: Literal["curve_shift"]
    curve: Annotated[str, Field(min_length=1)]
    """Name of a curve of the model (its rate factors' ``curve``, e.g. ``"UST"``)."""
    shape: Literal["parallel_up", "parallel_down", "steepener", "flattener", "short_up", "short_down", "parallel"]
    """One of the six IRRBB shapes, or ``"parallel"`` with a user-given ``size``."""
    size: Optional[float] = None
    """``shape = "parallel"`` only (and required there): the change in basis points at every tenor (signed)."""
    parallel_bp: Optional[float] = Field(None, gt=0.0)
    """Parallel shock size in basis points (> 0) for ``parallel_up`` / ``parallel_down``; default 200
    (BCBS d368 Table 1, USD)."""
    short_bp: Optional[float] = Field(None, gt=0.0)
    """Short-rate shock size in basis points (> 0) for ``short_up``, ``short_down``, ``steepener`` and
    ``flattener``; default 300 (BCBS d368 Table 1, USD)."""
    long_bp: Optional[float] = Field(None, gt=0.0)
    """Long-rate shock size in basis points (> 0) for ``steepener`` and ``flattener``; default 150
    (BCBS d368 Table 1, USD)."""
    day: Day = 1
    """The day of the move, or the first day of the ramp (1-based, default 1)."""
    days: int = Field(1, ge=1, le=MAX_HORIZON_DAYS)
    """Number of days the move is spread over, linearly (default 1: all of it on ``day``); the ramp
    must end within horizon_days."""

    @model_validator(mode="after")
    def _check(self) -> "CurveShiftShock":
        own = _SHAPE_SIZES[self.shape]
        allowed = f"shape {self.shape!r} takes " + (", ".join(own))
        for key in ("size", "parallel_bp", "short_bp", "long_bp"):
            if key not in own and getattr(self, key) is not None:
                users = [sh for sh, keys in _SHAPE_SIZES.items() if key in keys]
                raise _fail(f"is not used by shape {self.shape!r} (it sizes {', '.join(map(repr, users))})",
                            key=key, allowed=allowed)
        if self.shape == "parallel" and self.size is None:
            raise _fail('shape = "parallel" needs size, the change in basis points at every tenor', key="size",
                        allowed="a number of basis points, e.g. size = 200.0 (or a BCBS shape such as "
                                "shape = \"parallel_up\")")
        return self

    def last_day(self, horizon_days: int) -> int:
        return self.day + self.days - 1

    def change_bp(self, tenor_years: float) -> float:
        """The total change (basis points) at ``tenor_years`` (:func:`irrbb_shift` with this shock's sizes)."""
        sizes = {k: v for k in ("parallel_bp", "short_bp", "long_bp") if (v := getattr(self, k)) is not None}
        return irrbb_shift(self.shape, tenor_years, size=self.size, **sizes)

    def daily_fractions(self) -> list[float]:
        """The share of the move added on each of days ``day .. day + days - 1`` (``1 / days`` each)."""
        return [1.0 / self.days] * self.days


#: One ``[[shocks]]`` table; ``type`` selects the model.
Shock = Annotated[
    Union[JumpShock, VolSpikeShock, CorrelationBreakShock, RegimeSwitchShock,
          HistoricalReplayShock, PoissonJumpsShock, AnchoredPathShock, CurveShiftShock],
    Field(discriminator="type"),
]


class Portfolio(_Table):
    """Positions held through the scenario (for P&L, VaR and ES)."""

    positions: dict[str, float]
    """Table role / asset name -> position value in ``currency`` at the start (negative = short)."""
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = Field(
        "USD", json_schema_extra={"allowed": "a 3-letter upper-case ISO 4217 code, e.g. 'USD'"})
    """Currency of the amounts, ISO 4217 code (default ``"USD"``)."""
    liquidity_horizons: dict[str, Literal[10, 20, 40, 60, 120]] = Field(default_factory=dict)
    """Position name -> FRTB liquidity horizon in days (MAR33.12: e.g. large-cap equity 10, small-cap
    equity and energy commodities 20, IG credit spreads 40, HY 60). Optional; when given, one for
    every position, and the run reports the liquidity-adjusted 97.5 % ES (MAR33.4)."""

    @model_validator(mode="after")
    def _check(self) -> "Portfolio":
        if not self.positions:
            raise _fail("needs at least one position", key="positions",
                        allowed="a table of name = amount, e.g. { equity = 1000000.0 }")
        from simulator.constants import MAX_POSITION

        for name, amount in self.positions.items():
            if not math.isfinite(amount) or abs(amount) > MAX_POSITION:
                raise _fail(f"position {name!r} is {amount:.6g}", key="positions",
                            allowed=f"a finite currency amount within +-{MAX_POSITION:.0e}")
        if self.liquidity_horizons:
            extra = sorted(set(self.liquidity_horizons) - set(self.positions))
            if extra:
                raise _fail(f"liquidity horizon for {', '.join(map(repr, extra))}, which is not a position",
                            key="liquidity_horizons",
                            allowed=f"names of positions: {', '.join(map(repr, self.positions))}")
            missing = [name for name in self.positions if name not in self.liquidity_horizons]
            if missing:
                raise _fail(f"no liquidity horizon for position(s) {', '.join(map(repr, missing))}",
                            key="liquidity_horizons",
                            allowed="one of 10, 20, 40, 60, 120 (days) for every position, or no "
                                    "liquidity_horizons table at all")
        return self


class Outputs(_Table):
    """What a run keeps and which risk figures it reports."""

    keep: Literal["paths", "summary"] = "summary"
    """``"summary"`` (default): risk figures and per-path horizon results only; ``"paths"``: also
    every simulated path (large: n_paths x horizon_days x n_assets)."""
    var_levels: list[Annotated[float, Field(gt=0.5, lt=1.0)]] = Field(default_factory=lambda: list(DEFAULT_LEVELS))
    """Confidence levels for VaR / ES, each in (0.5, 1) (default [0.975, 0.99])."""
    horizons: list[Annotated[int, Field(ge=1, le=MAX_HORIZON_DAYS)]] = Field(
        default_factory=lambda: list(DEFAULT_RISK_HORIZONS))
    """Holding periods in trading days for the risk figures, each <= horizon_days (default [1, 10],
    keeping those within horizon_days)."""

    @model_validator(mode="after")
    def _check(self) -> "Outputs":
        for key, values in (("var_levels", self.var_levels), ("horizons", self.horizons)):
            if not values:
                raise _fail("the list is empty", key=key, allowed="a non-empty list")
            dup = sorted({v for v in values if values.count(v) > 1})
            if dup:
                raise _fail(f"duplicate value(s) {', '.join(map(repr, dup))}", key=key, allowed="distinct values")
        return self


#: What a ``[[targets]]`` entry compares, each over the simulated paths of one asset (see :class:`Target`).
TARGET_MEASURES: dict[str, str] = {
    "median_return_pct": "median simple return from day 0 to `day`, percent",
    "median_drawdown_pct": "median largest fall of the price from its running peak over days 1..`day`, "
                           "percent (positive)",
    "median_vol_pct": "median conditional volatility on `day`, annualised (sigma x sqrt(252)), percent "
                      "(comparable with an implied-volatility index such as the VIX)",
    "peak_median_vol_pct": "highest daily median conditional volatility over days 1..`day`, annualised, percent",
    "median_change_bp": "median change of a rate or spread factor from day 0 to `day`, basis points",
}


class Target(_Table):
    """A magnitude the scenario is calibrated to: one ``[[targets]]`` table.

    A stress scenario built from shocks says which historical or supervisory magnitudes it aims at
    (peak-to-trough move, volatility peak, over which horizon) and how close its simulated median
    must come; runs report each target next to the simulated value and its Monte Carlo standard
    error, and the library's tests hold every scenario to its own targets. The tolerance belongs in
    the file, with its reasons (``why``), not in code.
    """

    measure: Literal["median_return_pct", "median_drawdown_pct", "median_vol_pct", "peak_median_vol_pct",
                     "median_change_bp"] = Field(
        json_schema_extra={"allowed": ", ".join(TARGET_MEASURES)})
    """What is compared (see :data:`TARGET_MEASURES`)."""
    asset: Annotated[str, Field(min_length=1)]
    """The role or model asset name measured (e.g. ``"equity"``)."""
    day: Optional[Day] = None
    """The day (1-based) the measure refers to; default: ``horizon_days``."""
    value: float
    """The target in the measure's unit (percent; basis points for ``median_change_bp``)."""
    tolerance: float = Field(gt=0.0)
    """Largest accepted distance between the simulated measure and ``value`` (percentage points; basis
    points for ``median_change_bp``). The price measures apply to price, FX and volatility factors,
    ``median_change_bp`` to rate and spread factors (checked when the scenario is compiled)."""
    source: Annotated[str, Field(min_length=1)]
    """Where ``value`` comes from: a primary public source with its date."""
    why: Annotated[str, Field(min_length=1)]
    """Why the tolerance is what it is (Monte Carlo error at the scenario's path count, and any
    structural gap the scenario's design accepts, with its reason)."""


class Scenario(_Table):
    """A stress scenario: the top level of a scenario TOML file.

    See the module docstring for units and conventions and :mod:`scenarios.loader` to read files.
    """

    name: Annotated[str, Field(pattern=_SLUG, max_length=64)] = Field(json_schema_extra={"allowed": _SLUG_ALLOWED})
    """Identifier (slug); for library scenarios, the file name without ``.toml``."""
    description: Annotated[str, Field(min_length=1)]
    """What the scenario represents (first line: a one-line summary)."""
    source: Annotated[str, Field(min_length=1)]
    """Where the magnitudes come from (publications, data windows)."""
    notes: Optional[str] = None
    """Free text: calibration choices, assumptions, limitations."""
    horizon_days: int = Field(ge=1, le=MAX_HORIZON_DAYS)
    """Number of simulated trading days, 1..2520."""
    n_paths: int = Field(ge=1)
    """Number of Monte Carlo paths (>= 1)."""
    seed: int = Field(ge=0)
    """Seed (>= 0) of the ``numpy.random.SeedSequence`` behind every random stream."""
    model: Optional[Annotated[str, Field(min_length=1)]] = Field(None, json_schema_extra={"allowed": _REF_ALLOWED})
    """Market model: a model JSON path (relative to the scenario file) or ``builtin:<name>``;
    absent: the model is given on the command line / to ``run_scenario``."""
    roles: dict[Annotated[str, Field(pattern=_ROLE)], Annotated[str, Field(min_length=1)]] = Field(default_factory=dict)
    """Table role -> model asset name, overriding :data:`scenarios.roles.DEFAULT_ROLES`."""
    portfolio: Optional[Portfolio] = None
    """The ``[portfolio]`` table (optional)."""
    outputs: Outputs = Field(default_factory=Outputs)
    """The ``[outputs]`` table (optional; defaults as documented in :class:`Outputs`)."""
    shocks: list[Shock] = Field(default_factory=list)
    """The ``[[shocks]]`` tables, in file order (indices in error messages are 0-based)."""
    targets: list[Target] = Field(default_factory=list)
    """The ``[[targets]]`` tables: magnitudes the scenario is calibrated to (optional)."""

    _path: Optional[Path] = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _default_horizons(cls, data: Any) -> Any:
        """Default risk horizons [1, 10] are clipped to ``horizon_days`` (explicit ones are checked)."""
        if isinstance(data, dict):
            h = data.get("horizon_days")
            out = data.get("outputs", {})
            if isinstance(h, int) and not isinstance(h, bool) and 1 <= h <= MAX_HORIZON_DAYS \
                    and isinstance(out, dict) and "horizons" not in out:
                kept = [x for x in DEFAULT_RISK_HORIZONS if x <= h] or [h]
                data = {**data, "outputs": {**out, "horizons": kept}}
        return data

    @model_validator(mode="after")
    def _check(self) -> "Scenario":
        issues = self.horizon_issues()
        if issues:
            text = "; ".join(f"{p}: {m} (allowed: {a})" for p, m, a in issues)
            raise PydanticCustomError("scenario_issues", text.replace("{", "(").replace("}", ")"), {"issues": issues})
        return self

    # -------------------------------------------------------------------- scenario-wide checks
    def horizon_issues(self) -> list[tuple[str, str, str]]:
        """Cross-field problems as ``(key path, problem, allowed)``: days beyond the horizon,
        duplicate labels, several regime switches, conflicting anchors and jumps."""
        h = self.horizon_days
        out: list[tuple[str, str, str]] = []
        within = f"an integer from 1 to horizon_days ({h})"
        for i, s in enumerate(self.shocks):
            where = f"shocks[{i}]"
            if isinstance(s, (JumpShock, HistoricalReplayShock)) and s.day > h:
                out.append((f"{where}.day", f"day {s.day} is beyond horizon_days = {h}", within))
            elif isinstance(s, HistoricalReplayShock) and s.days is not None and s.last_day(h) > h:
                out.append((f"{where}.days", f"the bootstrap replay of days {s.day}..{s.last_day(h)} ends beyond "
                            f"horizon_days = {h}", f"an integer from 1 to {h - s.day + 1}"))
            elif isinstance(s, (VolSpikeShock, CorrelationBreakShock, CurveShiftShock)):
                if s.day > h:
                    out.append((f"{where}.day", f"day {s.day} is beyond horizon_days = {h}", within))
                elif s.last_day(h) > h:
                    out.append((f"{where}.days", f"the window days {s.day}..{s.last_day(h)} ends beyond "
                                f"horizon_days = {h}", f"an integer from 1 to {h - s.day + 1}"))
            elif isinstance(s, PoissonJumpsShock):
                if s.from_day > h:
                    out.append((f"{where}.from_day", f"day {s.from_day} is beyond horizon_days = {h}", within))
                elif s.to_day is not None and s.to_day > h:
                    out.append((f"{where}.to_day", f"day {s.to_day} is beyond horizon_days = {h}", within))
            elif isinstance(s, AnchoredPathShock):
                if s.knots is not None and s.n_days > h:
                    k = next(j for j, (d, _) in enumerate(s.knots) if d > h)
                    out.append((f"{where}.knots[{k}]", f"day {s.knots[k][0]} is beyond horizon_days = {h}",
                                f"knot days from 1 to {h}"))
                elif s.returns is not None and s.n_days > h:
                    out.append((f"{where}.returns", f"{s.n_days} daily returns but horizon_days = {h}",
                                f"at most {h} returns"))
        seen: dict[str, int] = {}
        for i, s in enumerate(self.shocks):
            if s.label is not None:
                if s.label in seen:
                    out.append((f"shocks[{i}].label", f"duplicate label {s.label!r} (also shocks[{seen[s.label]}])",
                                "a label not used by another shock"))
                else:
                    seen[s.label] = i
        regimes = [i for i, s in enumerate(self.shocks) if isinstance(s, RegimeSwitchShock)]
        if len(regimes) > 1:
            out.append((f"shocks[{regimes[1]}].type", f"a second regime_switch (the first is shocks[{regimes[0]}])",
                        "at most one regime_switch per scenario"))
        # an asset can follow one anchored path at a time, and an anchored day takes no jump
        anchored: dict[str, tuple[int, int]] = {}
        for i, s in enumerate(self.shocks):
            if isinstance(s, AnchoredPathShock):
                names = ["all"] if s.assets == "all" else list(s.assets)
                for n in names:
                    clash = [m for m in anchored if m == n or "all" in (m, n)]
                    if clash:
                        out.append((f"shocks[{i}].assets", f"{n!r} is already anchored by shocks[{anchored[clash[0]][0]}]",
                                    "names not anchored by another anchored_path"))
                        break
                    anchored[n] = (i, s.n_days)
        for i, s in enumerate(self.shocks):
            if isinstance(s, JumpShock):
                names = ["all"] if s.assets == "all" else list(s.assets)
                for n in names:
                    for m, (j, n_days) in anchored.items():
                        if (m == n or "all" in (m, n)) and s.day <= n_days:
                            out.append((f"shocks[{i}].day", f"{n!r} follows the anchored path of shocks[{j}] "
                                        f"on days 1..{n_days}, so it cannot also jump on day {s.day}",
                                        f"a day after {n_days}, or assets not anchored"))
                            break
                    else:
                        continue
                    break
            elif isinstance(s, PoissonJumpsShock):
                for n, loading in s.loadings.items():
                    hit = [(j, n_days) for m, (j, n_days) in anchored.items()
                           if (m == n or m == "all") and loading != 0.0 and s.from_day <= n_days]
                    if hit:
                        j, n_days = hit[0]
                        out.append((f"shocks[{i}].loadings.{n}", f"{n!r} follows the anchored path of shocks[{j}] "
                                    f"on days 1..{n_days}, so it cannot take Poisson jumps from day {s.from_day}",
                                    f"from_day > {n_days}, or a loading of 0 for anchored assets"))
                        break
        for j, t in enumerate(self.targets):
            if t.day is not None and t.day > h:
                out.append((f"targets[{j}].day", f"day {t.day} is beyond horizon_days = {h}", within))
        for j, hz in enumerate(self.outputs.horizons):
            if hz > h:
                out.append((f"outputs.horizons[{j}]", f"{hz} days is beyond horizon_days = {h}",
                            f"integers from 1 to {h}"))
        return out

    # -------------------------------------------------------------------- helpers for callers
    @property
    def path(self) -> Optional[Path]:
        """The file the scenario was read from (``None`` when built from text or a dict)."""
        return self._path

    def resolve_ref(self, ref: str) -> Union[str, Path]:
        """A ``model`` / ``stress_model`` / ``data`` reference: ``builtin:<name>`` as is, a relative
        path resolved against the scenario file's directory (or the working directory)."""
        if ref.startswith("builtin:"):
            return ref
        p = Path(ref).expanduser()
        if not p.is_absolute() and self._path is not None:
            p = self._path.parent / p
        return p

    def has_replay(self) -> bool:
        """Whether any shock is a ``historical_replay``."""
        return any(s.type == "historical_replay" for s in self.shocks)

    def asset_references(self) -> list[tuple[str, str]]:
        """``(name, key path)`` for every role / asset name the scenario uses, in file order
        (shock assets and loadings, then portfolio positions); ``"all"`` is not listed."""
        out: list[tuple[str, str]] = []
        for i, s in enumerate(self.shocks):
            out.extend((name, f"shocks[{i}].{key}") for name, key in s.asset_names())
        if self.portfolio is not None:
            out.extend((name, f"portfolio.positions.{name}") for name in self.portfolio.positions)
        out.extend((t.asset, f"targets[{j}].asset") for j, t in enumerate(self.targets))
        return out

    def sha256(self) -> str:
        """Hash of the validated scenario (defaults filled in, file location excluded), for manifests."""
        import hashlib
        import json

        text = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def shock_types(self) -> list[str]:
        """The ``type`` of each shock, in file order."""
        return [s.type for s in self.shocks]
