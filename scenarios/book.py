"""Instrument books: the positions a run revalues in full, read from CSV (one row per position) or TOML.

A book replaces a scenario's linear ``[portfolio]``. Every position names the risk factors it depends
on (model asset names, or roles); amounts are in the book's currency, rates and volatilities in
percent, times in years from the as-of date (see :mod:`simulator.instruments`).

Columns (CSV header; TOML: ``currency = "USD"`` and one ``[[positions]]`` table per row, same keys):

============== ====================================================================================
column         meaning
============== ====================================================================================
id             unique name of the position (required)
kind           ``linear``, ``bond``, ``swap``, ``option`` or ``fx_forward`` (required)
factor         linear / option / fx_forward: the price or FX factor (FX: reporting currency per unit)
amount         linear: value of the position at the as-of date (negative = short)
notional       bond, swap: face amount; fx_forward: foreign-currency amount bought (negative: sold)
coupon_pct     bond: annual coupon, percent
fixed_pct      swap: fixed rate, percent
freq           bond, swap: payments a year (1, 2, 4 or 12)
maturity_years bond, swap, fx_forward: years from the as-of date to maturity (> 0)
curve          bond, swap: the curve (rate factors with tenors) discounting the flows; option and
               fx_forward: optional domestic curve for discounting (else ``rate_pct``)
spread_factor  bond: optional spread factor (basis points) added to the curve's zero rates
spread_bp      bond: optional fixed spread in basis points (default 0)
side           swap: ``payer`` (pays fixed) or ``receiver``; a swap starts at the as-of date, so its
               maturity is a whole number of periods
quantity       option: units of the underlying (negative = written)
option_type    option: ``call`` or ``put``
strike         option: strike price; fx_forward: contracted rate (reporting per foreign unit)
expiry_years   option: years to expiry (> 0)
spot           option, fx_forward: the underlying's price / FX rate on the as-of date
vol_factor     option: optional implied-volatility factor (level in percent)
vol_pct        option: implied volatility in percent, held fixed when there is no vol_factor
style          option: ``spot`` (Black-Scholes, default) or ``futures`` (Black-76 on the underlying)
rate_pct       option, fx_forward: domestic continuously compounded rate in percent when no curve is
               named (default 0)
div_pct        option: dividend or convenience yield, percent (default 0)
foreign_rate_pct fx_forward: foreign continuously compounded rate, percent (default 0)
============== ====================================================================================

Errors name the file, the row (1-based data row, and the id) and the column, and say what is valid.
"""
from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from simulator.exceptions import UserInputError

__all__ = ["BOOK_KINDS", "BOOK_COLUMNS", "Book", "Position", "load_book", "parse_book_csv", "parse_book_toml"]

BOOK_KINDS = ("linear", "bond", "swap", "option", "fx_forward")
#: Largest book file read (bytes): a book of 100,000 positions is about 15 MB of CSV.
MAX_BOOK_BYTES = 64 * 1024 * 1024


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    id: Annotated[str, Field(min_length=1, max_length=120)]


Name = Annotated[str, Field(min_length=1, max_length=120)]
Years = Annotated[float, Field(gt=0.0, le=100.0)]
Freq = Literal[1, 2, 4, 12]


class LinearPosition(_Row):
    kind: Literal["linear"]
    factor: Name
    amount: float


class BondPosition(_Row):
    kind: Literal["bond"]
    notional: float
    coupon_pct: Annotated[float, Field(ge=-10.0, le=100.0)]
    freq: Freq
    maturity_years: Years
    curve: Name
    spread_factor: Optional[Name] = None
    spread_bp: float = 0.0


class SwapPosition(_Row):
    kind: Literal["swap"]
    notional: float
    fixed_pct: Annotated[float, Field(ge=-10.0, le=100.0)]
    freq: Freq
    maturity_years: Years
    curve: Name
    side: Literal["payer", "receiver"]

    @model_validator(mode="after")
    def _whole_periods(self) -> "SwapPosition":
        periods = self.maturity_years * self.freq
        if abs(periods - round(periods)) > 1e-9:
            raise ValueError(f"a swap starts at the as-of date, so maturity_years must be a whole number of "
                             f"{12 // self.freq}-month periods (got {self.maturity_years} years at freq {self.freq})")
        return self


class OptionPosition(_Row):
    kind: Literal["option"]
    factor: Name
    quantity: float
    option_type: Literal["call", "put"]
    strike: Annotated[float, Field(gt=0.0)]
    expiry_years: Years
    spot: Annotated[float, Field(gt=0.0)]
    vol_factor: Optional[Name] = None
    vol_pct: Optional[Annotated[float, Field(gt=0.0, le=1000.0)]] = None
    style: Literal["spot", "futures"] = "spot"
    curve: Optional[Name] = None
    rate_pct: float = 0.0
    div_pct: float = 0.0

    @model_validator(mode="after")
    def _vol(self) -> "OptionPosition":
        if self.vol_factor is None and self.vol_pct is None:
            raise ValueError("needs vol_factor (an implied-volatility factor) or vol_pct (a fixed volatility)")
        return self


class FxForwardPosition(_Row):
    kind: Literal["fx_forward"]
    factor: Name
    notional: float
    strike: Annotated[float, Field(gt=0.0)]
    maturity_years: Years
    spot: Annotated[float, Field(gt=0.0)]
    curve: Optional[Name] = None
    rate_pct: float = 0.0
    foreign_rate_pct: float = 0.0


Position = Annotated[Union[LinearPosition, BondPosition, SwapPosition, OptionPosition, FxForwardPosition],
                     Field(discriminator="kind")]
_BY_KIND = {"linear": LinearPosition, "bond": BondPosition, "swap": SwapPosition, "option": OptionPosition,
            "fx_forward": FxForwardPosition}
BOOK_COLUMNS: tuple[str, ...] = tuple(dict.fromkeys(
    ["id", "kind"] + [f for cls in _BY_KIND.values() for f in cls.model_fields if f not in ("id", "kind")]))
_INT = {"freq"}
_FLOAT = {"amount", "notional", "coupon_pct", "fixed_pct", "maturity_years", "spread_bp", "quantity", "strike",
          "expiry_years", "spot", "vol_pct", "rate_pct", "div_pct", "foreign_rate_pct"}


class Book(BaseModel):
    """A validated book: its currency and positions (ids unique)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    positions: list[Position]
    source: str = "<book>"

    def factors(self) -> dict[str, list[str]]:
        """Factor and curve names each position depends on, by position id."""
        out = {}
        for p in self.positions:
            names = [getattr(p, k) for k in ("factor", "curve", "spread_factor", "vol_factor")
                     if getattr(p, k, None) is not None]
            out[p.id] = names
        return out


def _short(value: Any, limit: int = 40) -> str:
    text = str(value)
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} characters)"


def _convert(column: str, raw: str, where: str) -> Any:
    """A CSV cell as the type its column holds (empty cells are absent)."""
    if column in _INT:
        try:
            return int(raw)
        except ValueError:
            raise UserInputError(f"{where}: column {column!r}: {_short(raw)} is not an integer "
                                 "(allowed: 1, 2, 4 or 12)") from None
    if column in _FLOAT:
        try:
            v = float(raw)
        except ValueError:
            raise UserInputError(f"{where}: column {column!r}: {_short(raw)} is not a number") from None
        if not math.isfinite(v):
            raise UserInputError(f"{where}: column {column!r}: {_short(raw)} is not a finite number")
        return v
    return raw


def _validate_row(data: dict[str, Any], where: str):
    kind = data.get("kind")
    if kind not in _BY_KIND:
        raise UserInputError(f"{where}: column 'kind': {_short(kind)} is not a position kind "
                             f"(allowed: {', '.join(BOOK_KINDS)})")
    cls = _BY_KIND[kind]
    unknown = [k for k in data if k not in cls.model_fields]
    if unknown:
        raise UserInputError(f"{where}: column {unknown[0]!r} does not apply to a {kind} position "
                             f"(its columns: {', '.join(cls.model_fields)})")
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        col = ".".join(str(x) for x in err.get("loc", ())) or "row"
        if err["type"] == "missing":
            raise UserInputError(f"{where}: column {col!r} is required for a {kind} position") from None
        msg = err.get("msg", "invalid").removeprefix("Value error, ")
        got = f" (got {_short(err['input'])})" if "input" in err and not isinstance(err["input"], dict) else ""
        raise UserInputError(f"{where}: column {col!r}: {msg}{got}") from None


def _finish(rows: list[Any], currency: Any, source: str) -> Book:
    seen: dict[str, int] = {}
    for i, p in enumerate(rows, 1):
        if p.id in seen:
            raise UserInputError(f"{source}: row {i}: id {p.id!r} is also row {seen[p.id]}; ids must be unique")
        seen[p.id] = i
    if not rows:
        raise UserInputError(f"{source}: the book has no positions")
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isupper() or not currency.isalpha():
        raise UserInputError(f"{source}: currency {_short(currency)} is not a 3-letter ISO 4217 code (e.g. 'USD')")
    return Book(currency=currency, positions=rows, source=source)


def parse_book_csv(text: str, *, source: str = "<book.csv>", currency: str = "USD") -> Book:
    """Validate a CSV book (header row, one position per row; see the module docstring)."""
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    if not header:
        raise UserInputError(f"{source}: empty file; expected a header row with at least 'id' and 'kind'")
    header = [h.strip() for h in header]
    for col in ("id", "kind"):
        if col not in header:
            raise UserInputError(f"{source}: the header has no column {col!r} (columns: {', '.join(BOOK_COLUMNS)})")
    bad = [h for h in header if h not in BOOK_COLUMNS]
    if bad:
        raise UserInputError(f"{source}: unknown column {_short(bad[0])} (allowed: {', '.join(BOOK_COLUMNS)})")
    rows = []
    for i, raw in enumerate(reader, 1):
        if None in raw:
            raise UserInputError(f"{source}: row {i}: more cells than header columns")
        cells = {k.strip(): (v or "").strip() for k, v in raw.items()}
        where = f"{source}: row {i}" + (f" (id {cells.get('id')!r})" if cells.get("id") else "")
        data = {k: _convert(k, v, where) for k, v in cells.items() if v != ""}
        rows.append(_validate_row(data, where))
    return _finish(rows, currency, source)


def parse_book_toml(text: str, *, source: str = "<book.toml>") -> Book:
    """Validate a TOML book: ``currency`` (optional) and ``[[positions]]`` tables."""
    from simulator.safeio import loads_toml

    data = loads_toml(text, source)  # nesting checked before parsing; one line on a syntax error
    extra = [k for k in data if k not in ("currency", "positions")]
    if extra:
        raise UserInputError(f"{source}: unknown key {extra[0]!r} (allowed: currency, positions)")
    pos = data.get("positions")
    if not isinstance(pos, list) or not all(isinstance(p, dict) for p in pos):
        raise UserInputError(f"{source}: expected [[positions]] tables, one per position")
    rows = []
    for i, p in enumerate(pos, 1):
        where = f"{source}: positions[{i - 1}]" + (f" (id {p.get('id')!r})" if p.get("id") else "")
        if isinstance(p.get("freq"), float):
            raise UserInputError(f"{where}: column 'freq': {p['freq']!r} is not an integer (allowed: 1, 2, 4 or 12)")
        rows.append(_validate_row(dict(p), where))
    return _finish(rows, data.get("currency", "USD"), source)


def load_book(path: str | os.PathLike, *, currency: str = "USD") -> Book:
    """Read a book file: ``.csv`` (with ``currency``) or ``.toml``; one-line errors naming row and column."""
    p = Path(path)
    if not p.is_file():
        raise UserInputError(f"book {str(p)!r} is not a file")
    size = p.stat().st_size
    if size > MAX_BOOK_BYTES:
        raise UserInputError(f"{p}: {size:,} bytes is larger than the {MAX_BOOK_BYTES:,} bytes a book may have")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserInputError(f"{p}: not UTF-8 text") from None
    if p.suffix.lower() == ".toml":
        return parse_book_toml(text, source=str(p))
    if p.suffix.lower() == ".csv":
        return parse_book_csv(text, source=str(p), currency=currency)
    raise UserInputError(f"{p}: a book is a .csv or .toml file")
