"""Loading and cleaning daily price histories, and turning them into percent log returns.

:func:`load_prices` accepts a CSV or Parquet file, a pandas DataFrame / Series, or the bundled real data
set ``"builtin:us-markets"``, in *wide* (one row per date, one column per asset) or *long* (columns
``date``, ``asset``, ``price``) layout, and returns a clean wide frame of strictly positive float64 prices
indexed by date. The cleaning rules are fixed, stated here and recorded in a :class:`CleaningReport`:

1. **Layout.** Long if the (case-insensitive) columns include ``date``, ``asset`` and ``price``; otherwise
   wide, with dates taken from a ``date`` column (case-insensitive), else a ``DatetimeIndex``, else the
   first column. Asset names must be unique and non-empty. Dates must all parse, in **one** format: ISO
   (``2008-09-15``, with or without a time), ``YYYY/MM/DD``, ``YYYYMMDD``, or another single format pandas
   reads (``15 Sep 2008``). Numeric day/month dates (``01/02/2018``) read day-first in some places and
   month-first in others: they are refused, naming the ambiguous rows, unless ``date_format`` (``--date-format``,
   e.g. ``%d/%m/%Y``) says which; so are files that mix formats.
2. **Sorting.** Rows are sorted by date (a stable sort: file order is kept among equal dates).
3. **Duplicate dates.** ``duplicates="error"`` (default) raises ``ValueError`` naming the asset and the date;
   ``duplicates="last"`` keeps the last occurrence in file order and reports what was dropped.
4. **Values.** Empty cells and the missing markers ``NA``, ``NaN``, ``null``, ``N/A``, ``#N/A``, ``.`` (FRED)
   are missing values. Anything else that is not a finite number, and any price ``<= 0`` (log returns need
   strictly positive prices), raises ``ValueError`` naming the asset and the date.
5. **Gaps.** Rows where every asset is missing are dropped (non-trading days in a shared calendar). The
   sample is trimmed to the dates where every asset has started and not yet ended (leading / trailing
   missing values). Inside it, runs of at most ``max_gap`` consecutive missing values are forward filled
   (the price is carried, the return on those days is zero); a longer run raises ``ValueError`` naming the
   asset and the first and last missing dates.
6. **Length.** Fewer than ``min_obs`` (default 250) dates after cleaning raises ``ValueError``.

The bundled data set needs no network: ``builtin:us-markets`` is the S&P 500 and NASDAQ Composite adjusted
closes (``arch.data.sp500`` / ``arch.data.nasdaq``) and the WTI Cushing spot price (``arch.data.wti``,
FRED series DCOILWTICO) from 1999 to 2018 on the US equity trading calendar (the dates both indices
trade). WTI quotes on days the equity markets were closed (e.g. 2001-09-11 to 09-14) are dropped; equity
trading days with no WTI assessment (FRED's missing marker, 19 days such as 1999-12-31) go through rule 5:
18 are forward filled, and the last, 2018-12-31, is trimmed, so the cleaned data run from 1999-01-04 to
2018-12-28 (5,030 dates, 5,029 returns). The WTI series in this window has no non-positive values (the
negative settlement of April 2020 lies outside it); rule 4 would reject one.
"""
from __future__ import annotations

import hashlib
import io
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, NoReturn, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "BUILTIN_SOURCES",
    "window_timestamp",
    "CLEANING_RULES",
    "CleaningReport",
    "load_prices",
    "log_returns",
    "frame_sha256",
]

BUILTIN_SOURCES = {
    "us-markets": "S&P 500 (SP500) and NASDAQ Composite (NASDAQ) adjusted closes and WTI spot (WTI), "
    "daily, 1999-01-04 to 2018-12-28, from the arch package's bundled data",
}

CLEANING_RULES = (
    "layout: long if columns date/asset/price exist, else wide (date column, DatetimeIndex or first column)",
    "rows sorted by date (stable)",
    "duplicate dates: error (default) or keep the last occurrence in file order",
    "empty/NA/NaN/null/N/A/#N/A/. are missing; other non-numeric, non-finite or non-positive prices are errors",
    "rows missing for every asset dropped; sample trimmed to the span where every asset has data",
    "interior gaps of at most max_gap consecutive missing values forward filled, longer gaps are errors",
    "fewer than min_obs dates after cleaning is an error",
)

_MISSING = {"", "na", "nan", "null", "none", "n/a", "#n/a", "."}
_DATE_NAMES = ("date", "dates", "timestamp", "time", "datetime")


@dataclass
class CleaningReport:
    """What :func:`load_prices` read and what it changed.

    Attributes
    ----------
    source : str
        Path, ``"DataFrame"``, ``"Series"`` or the ``builtin:`` name.
    layout : {"wide", "long"}
    input_sha256 : str or None
        sha256 of the input file's bytes (files and builtin data), else None.
    data_sha256 : str
        sha256 of the cleaned price frame (:func:`frame_sha256`).
    assets : list of str
    n_input_rows : int
        Rows (wide) or records (long) read.
    n_obs : int
        Dates in the cleaned frame.
    start, end : str
        First and last date (ISO format).
    duplicates_dropped : dict
        ``{asset or "*": [ISO dates]}`` of dropped duplicate entries (``duplicates="last"`` only).
    empty_rows_dropped : list of str
        Dates where every asset was missing.
    trimmed_leading, trimmed_trailing : int
        Rows dropped before the last asset starts / after the first asset ends.
    forward_filled : dict
        ``{asset: [ISO dates]}`` whose missing price was carried forward.
    rules : dict
        The settings used (``max_gap``, ``duplicates``, ``min_obs``) and the rule list.
    notes : list of str
        Source-specific remarks (e.g. how the builtin data set was aligned).
    """

    source: str
    layout: str
    input_sha256: str | None
    data_sha256: str
    assets: list[str]
    n_input_rows: int
    n_obs: int
    start: str
    end: str
    duplicates_dropped: dict[str, list[str]] = field(default_factory=dict)
    empty_rows_dropped: list[str] = field(default_factory=list)
    trimmed_leading: int = 0
    trimmed_trailing: int = 0
    forward_filled: dict[str, list[str]] = field(default_factory=dict)
    rules: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready dict of the report."""
        return asdict(self)

    def summary(self) -> str:
        """One line per change, for terminal output."""
        lines = [f"{self.source}: {len(self.assets)} assets, {self.n_obs} dates {self.start} .. {self.end} ({self.layout})"]
        for k, v in self.duplicates_dropped.items():
            lines.append(f"  duplicates dropped ({k}): {len(v)}")
        if self.empty_rows_dropped:
            lines.append(f"  empty rows dropped: {len(self.empty_rows_dropped)}")
        if self.trimmed_leading or self.trimmed_trailing:
            lines.append(f"  trimmed to common span: {self.trimmed_leading} leading, {self.trimmed_trailing} trailing rows")
        for k, v in self.forward_filled.items():
            lines.append(f"  forward filled {k}: {len(v)} dates")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


# ---------------------------------------------------------------------- public API
def load_prices(
    source: str | os.PathLike | pd.DataFrame | pd.Series,
    *,
    assets: Sequence[str] | None = None,
    max_gap: int = 5,
    duplicates: str = "error",
    min_obs: int = 250,
    report: bool = False,
    date_format: str | None = None,
) -> pd.DataFrame | tuple[pd.DataFrame, CleaningReport]:
    """Load daily prices and clean them by the module's stated rules.

    Parameters
    ----------
    source : str, path-like, DataFrame or Series
        ``"builtin:us-markets"``, a ``.csv`` / ``.parquet`` file, or an in-memory table (wide or long).
    assets : sequence of str, optional
        Keep only these assets, in this order (selected before cleaning, so other columns cannot fail it).
    max_gap : int, default 5
        Longest run of consecutive missing prices forward filled inside the sample.
    duplicates : {"error", "last"}, default "error"
        What to do with repeated dates (per asset in long layout).
    min_obs : int, default 250
        Fewest dates accepted after cleaning.
    report : bool, default False
        Also return the :class:`CleaningReport`.
    date_format : str, optional
        The ``strptime`` format of every date (e.g. ``"%d/%m/%Y"``); needed for numeric day/month dates, which
        are ambiguous (rule 1). Default: recognised from the dates, refusing ambiguous or mixed formats.

    Returns
    -------
    prices : DataFrame of shape (n_obs, n_assets)
        float64 prices > 0, ``DatetimeIndex`` named ``"date"`` (sorted, unique), one column per asset.
        ``prices.attrs["cleaning"]`` holds the report as a dict.
    report : CleaningReport
        Only with ``report=True``.

    Raises
    ------
    ValueError
        Unknown builtin, bad layout, unparseable date, duplicate date, non-numeric or non-positive price,
        a gap longer than ``max_gap``, or too few observations; the message names the asset and the date.
    TypeError
        ``source`` of an unsupported type.
    FileNotFoundError
        A path that does not exist.
    """
    if duplicates not in ("error", "last"):
        raise ValueError(f"duplicates must be 'error' or 'last', got {duplicates!r}")
    if date_format is not None and (not isinstance(date_format, str) or "%" not in date_format
                                    or len(date_format) > MAX_DATE_CHARS):
        raise ValueError(f"date format {short_text(date_format)} is not a strptime format such as '%d/%m/%Y' or "
                         f"'%m/%d/%Y' (at most {MAX_DATE_CHARS} characters)")
    if isinstance(max_gap, bool) or not isinstance(max_gap, (int, np.integer)) or max_gap < 0:
        raise ValueError(f"max_gap must be an integer >= 0, got {max_gap!r}")
    if isinstance(min_obs, bool) or not isinstance(min_obs, (int, np.integer)) or min_obs < 2:
        raise ValueError(f"min_obs must be an integer >= 2, got {min_obs!r}")
    if assets is not None:
        if isinstance(assets, str) or not all(isinstance(a, str) for a in assets):
            raise TypeError("assets must be a sequence of asset names (str)")
        assets = list(assets)
        if not assets:
            raise ValueError("assets must name at least one asset")
        if len(set(assets)) != len(assets):
            raise ValueError(f"assets lists a name twice: {assets!r}")

    notes: list[str] = []
    input_sha = None
    if isinstance(source, str) and source.startswith("builtin:"):
        name = source.split(":", 1)[1]
        if name not in BUILTIN_SOURCES:
            raise ValueError(f"unknown builtin data set {source!r}; available: "
                             + ", ".join(f"'builtin:{k}'" for k in BUILTIN_SOURCES))
        raw, input_sha, notes = _load_builtin(name)
        label = source
    elif isinstance(source, (str, os.PathLike)):
        raw, input_sha = _read_file(Path(source))
        label = str(source)
    elif isinstance(source, pd.Series):
        raw = source.to_frame(name=str(source.name) if source.name is not None else "asset")
        label = "Series"
    elif isinstance(source, pd.DataFrame):
        raw = source
        label = "DataFrame"
    else:
        raise TypeError(
            f"source must be a path, 'builtin:<name>', a pandas DataFrame or Series; got {type(source).__name__}"
        )

    prices, rep = _clean(raw, label=label, assets=assets, max_gap=int(max_gap), duplicates=duplicates,
                         min_obs=int(min_obs), date_format=date_format)
    rep.input_sha256 = input_sha
    rep.notes.extend(notes)
    prices.attrs["cleaning"] = rep.to_dict()
    return (prices, rep) if report else prices


def log_returns(prices: pd.DataFrame) -> pd.DataFrame:
    """Percent log returns ``100 * ln(P_t / P_{t-1})``.

    Parameters
    ----------
    prices : DataFrame of shape (n_obs, n_assets)
        Strictly positive prices (as returned by :func:`load_prices`).

    Returns
    -------
    DataFrame of shape (n_obs - 1, n_assets)
        Indexed by the date of the second price of each pair.
    """
    values = prices.to_numpy(dtype=float)
    r = 100.0 * np.diff(np.log(values), axis=0)
    return pd.DataFrame(r, index=prices.index[1:], columns=prices.columns)


def frame_sha256(frame: pd.DataFrame) -> str:
    """sha256 of a numeric frame's content: column names, ISO dates and float64 values (little endian)."""
    h = hashlib.sha256()
    h.update("\x1f".join(map(str, frame.columns)).encode())
    h.update(b"\x1e")
    h.update("\x1f".join(pd.DatetimeIndex(frame.index).strftime("%Y-%m-%dT%H:%M:%S")).encode())
    h.update(b"\x1e")
    h.update(np.ascontiguousarray(frame.to_numpy(dtype="<f8")).tobytes())
    return h.hexdigest()


# ---------------------------------------------------------------------- readers
def _read_file(path: Path) -> tuple[pd.DataFrame, str]:
    from simulator.safeio import read_input_bytes

    if not path.exists() and not path.is_symlink():
        raise FileNotFoundError(f"price file {str(path)!r} does not exist")
    if path.is_dir():
        raise ValueError(f"price source {str(path)!r} is a directory; give a .csv or .parquet file")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".txt", ".parquet", ".pq"):
        raise ValueError(f"{path}: unsupported file type {suffix!r}; use .csv or .parquet (or 'builtin:us-markets')")
    # a FIFO, a device or a socket is refused before it is opened (a FIFO would block, a device never end), and
    # a file over the input size limit before it is read; the bytes parsed are the bytes hashed
    data = read_input_bytes(path, "price file")
    sha = hashlib.sha256(data).hexdigest()
    if suffix in (".csv", ".txt"):
        try:
            table = pd.read_csv(io.BytesIO(data), header=None, dtype=str, keep_default_na=False,
                                skipinitialspace=True)
        except pd.errors.EmptyDataError:
            raise ValueError(f"{path}: the file is empty") from None
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: not a readable CSV file ({exc})") from None
        if len(table) < 1:
            raise ValueError(f"{path}: the file is empty")
        _check_cell_sizes(table, str(path))
        header = [str(h).strip() for h in table.iloc[0]]
        frame = table.iloc[1:].reset_index(drop=True)
        frame.columns = range(len(header))
        _check_names(header, where=str(path))
        frame.columns = header
        return frame, sha
    try:
        frame = pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise ValueError(f"{path}: not a readable Parquet file ({short_text(str(exc), 160)})") from None
    return frame, sha


#: Longest cell of a price CSV (characters): a date, a number or an asset name is far shorter; a longer cell is
#: refused before any parsing (date parsing is not linear in a cell's length).
MAX_CELL_CHARS = 256
#: Longest date string parsed (characters), whatever the source (CSV, Parquet or a DataFrame).
MAX_DATE_CHARS = 64


def short_text(value: Any, limit: int = 40) -> str:
    """``repr`` of ``value`` for a message, cut to ``limit`` characters with its full length when longer."""
    text = str(value)
    if len(text) <= limit:
        return repr(text) if isinstance(value, str) else text
    return f"{text[:limit]!r}... ({len(text):,} characters)"


def _check_cell_sizes(table: pd.DataFrame, where: str) -> None:
    """Refuse a CSV whose cells exceed :data:`MAX_CELL_CHARS` (one linear pass), naming the row and column."""
    for j in range(table.shape[1]):
        lengths = table.iloc[:, j].str.len().to_numpy()
        if lengths.size and lengths.max() > MAX_CELL_CHARS:
            i = int(np.argmax(lengths))
            what = "the header" if i == 0 else f"row {i}"
            raise ValueError(f"{where}: {what}, column {j + 1} holds a cell of {int(lengths[i]):,} characters "
                             f"(starting {str(table.iat[i, j])[:40]!r}); a date, price or asset name has at most "
                             f"{MAX_CELL_CHARS}")


def _load_builtin(name: str) -> tuple[pd.DataFrame, str, list[str]]:
    assert name == "us-markets"
    import arch
    from arch.data import nasdaq, sp500, wti

    spx = sp500.load()["Adj Close"]
    ndq = nasdaq.load()["Adj Close"]
    oil = wti.load()["DCOILWTICO"]
    cal = spx.index.intersection(ndq.index)
    cal = cal[(cal >= "1999-01-01") & (cal <= "2018-12-31")]
    oil_window = oil.loc["1999-01-01":"2018-12-31"].dropna()
    off_calendar = oil_window.index.difference(cal)
    frame = pd.DataFrame({"SP500": spx.reindex(cal), "NASDAQ": ndq.reindex(cal), "WTI": oil.reindex(cal)})
    frame.index = pd.DatetimeIndex(frame.index).as_unit("ns")
    frame.index.name = "date"
    h = hashlib.sha256()
    h.update(f"arch {arch.__version__} {name}\n".encode())
    h.update(frame_sha256(frame.fillna(-1.0)).encode())
    notes = [
        "builtin:us-markets: calendar = dates on which both the S&P 500 and the NASDAQ Composite trade "
        f"({len(cal)} dates, {cal[0].date()} to {cal[-1].date()})",
        "SP500 and NASDAQ: adjusted closes (arch.data.sp500 / arch.data.nasdaq); WTI: Cushing spot, "
        "US$/bbl (arch.data.wti, FRED DCOILWTICO)",
        f"WTI quotes on {len(off_calendar)} dates when US equity markets were closed were dropped: "
        + ", ".join(str(d.date()) for d in off_calendar),
    ]
    return frame, h.hexdigest(), notes


# ---------------------------------------------------------------------- cleaning
def _check_names(names: Iterable[Any], *, where: str) -> None:
    names = [str(n) for n in names]
    empty = [i for i, n in enumerate(names) if not n.strip()]
    if empty:
        raise ValueError(f"{where}: column {empty[0] + 1} has an empty name; every asset column needs a name")
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise ValueError(f"{where}: column name {n!r} appears more than once; asset names must be unique")
        seen.add(n)


def _iso(ts: pd.Timestamp) -> str:
    ts = pd.Timestamp(ts)
    return ts.date().isoformat() if ts == ts.normalize() else ts.isoformat()


#: Date shapes recognised without a format: (name, regex). Year-first shapes are unambiguous.
_DATE_SHAPES: tuple[tuple[str, str], ...] = (
    ("ISO (YYYY-MM-DD)", r"\d{4}-\d{1,2}-\d{1,2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"),
    ("YYYY/MM/DD", r"\d{4}[/.]\d{1,2}[/.]\d{1,2}"),
    ("YYYYMMDD", r"\d{8}"),
    ("day/month or month/day", r"\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}"),
)
_DM = "day/month or month/day"


def window_timestamp(value: Any, name: str) -> pd.Timestamp | None:
    """An estimation-window bound (``start``/``end``) as a timezone-naive timestamp, like the price index.

    A timezone-aware bound keeps its wall-clock date and time (as the loader does with timezone-aware dates);
    anything that is not a date is a ``ValueError`` naming ``name``."""
    if value is None:
        return None
    try:
        out = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        raise ValueError(f"{name} {str(value)[:40]!r} is not a date (use ISO format, e.g. 2008-09-01)") from None
    if out is pd.NaT or pd.isna(out):
        raise ValueError(f"{name} {str(value)[:40]!r} is not a date (use ISO format, e.g. 2008-09-01)")
    if out.tzinfo is not None:
        out = out.tz_localize(None)
    return out


def _rows(idx: np.ndarray, vals: pd.Series, limit: int = 3) -> str:
    shown = ", ".join(f"row {int(i) + 1} {short_text(str(vals.iloc[int(i)]), 32)}" for i in idx[:limit])
    return shown + (f" and {len(idx) - limit:,} more" if len(idx) > limit else "")


def _parse_with_format(as_str: pd.Series, vals: pd.Series, where: str, date_format: str) -> pd.DatetimeIndex:
    try:
        parsed = pd.to_datetime(as_str, format=date_format, errors="coerce")
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{where}: date format {date_format!r} cannot be used ({exc})") from None
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if bad.size:
        raise ValueError(f"{where}: dates do not match the date format {date_format!r}: {_rows(bad, vals)}")
    return pd.DatetimeIndex(parsed)


def _classify(as_str: pd.Series) -> np.ndarray:
    """Index into :data:`_DATE_SHAPES` of each date string (``len(_DATE_SHAPES)``: another shape)."""
    shape = np.full(len(as_str), len(_DATE_SHAPES), dtype=np.int64)
    for k in range(len(_DATE_SHAPES) - 1, -1, -1):
        hit = as_str.str.fullmatch(_DATE_SHAPES[k][1]).to_numpy(dtype=bool, na_value=False)
        shape[hit] = k
    return shape


def _parse_day_month(as_str: pd.Series, vals: pd.Series, where: str) -> pd.DatetimeIndex:
    """Numeric d/m/y or m/d/y dates: accepted only when no row is ambiguous and the rows agree on the order."""
    parts = as_str.str.split(r"[/.-]", regex=True, expand=True).astype(np.int64)
    a, b = parts[0].to_numpy(), parts[1].to_numpy()
    day_first = a > 12
    month_first = b > 12
    if day_first.any() and month_first.any():
        i, j = int(np.argmax(day_first)), int(np.argmax(month_first))
        raise ValueError(f"{where}: mixed date formats: {_rows(np.array([i]), vals)} is day/month/year and "
                         f"{_rows(np.array([j]), vals)} is month/day/year; use one format throughout")
    short_year = np.flatnonzero(parts[2].to_numpy() < 100)
    ambiguous = np.flatnonzero(~day_first & ~month_first & (a != b))
    sep = as_str.str.extract(r"\d([/.-])", expand=False).iloc[0]
    year = "%y" if short_year.size == len(as_str) else "%Y"  # the hint must parse the years as written
    dmy, mdy = f"%d{sep}%m{sep}{year}", f"%m{sep}%d{sep}{year}"
    if ambiguous.size or short_year.size:
        hint = (f"the other rows read day-first: --date-format '{dmy}'" if day_first.any() else
                f"the other rows read month-first: --date-format '{mdy}'" if month_first.any() else
                f"--date-format '{dmy}' (day first) or '{mdy}' (month first)")
        what = (f"{_rows(ambiguous, vals)} read either day-first or month-first" if ambiguous.size else
                f"{_rows(short_year, vals)} have two-digit years")
        if ambiguous.size and short_year.size:
            what += " (and two-digit years)" if year == "%y" else f", and {_rows(short_year, vals)} have two-digit years"
        raise ValueError(f"{where}: ambiguous dates: {what}; name the format ({hint})")
    fmt = dmy if day_first.any() else mdy
    return _parse_with_format(as_str, vals, where, fmt)


_OFFSET = r"(?:Z|[+-]\d{2}:?\d{2}|UTC|GMT)$"


def _refuse_mixed_offsets(as_str: pd.Series, vals: pd.Series, where: str, exc: Exception) -> NoReturn:
    """Dates whose timezone offsets differ (or that have an offset on some rows only): one line naming two rows."""
    offset = as_str.str.extract(f"({_OFFSET})", expand=False)
    has = offset.notna().to_numpy()
    if has.any() and not has.all():
        i, j = int(np.argmax(has)), int(np.argmax(~has))
        raise ValueError(f"{where}: mixed date formats: {_rows(np.array([i]), vals)} has a timezone offset and "
                         f"{_rows(np.array([j]), vals)} has none; use one format throughout (ISO dates such as "
                         "2008-09-15)") from None
    if has.any():
        first = offset.iloc[0]
        j = int(np.argmax((offset != first).to_numpy()))
        raise ValueError(f"{where}: dates carry different timezone offsets ({_rows(np.array([0]), vals)} and "
                         f"{_rows(np.array([j]), vals)}); give every date in one timezone (daily closes are "
                         "read at their local wall-clock date)") from None
    raise ValueError(f"{where}: the dates cannot be read ({str(exc).splitlines()[0][:120]}); use ISO dates such as "
                     "2008-09-15, or name the format with --date-format") from None


def _parse_unnamed(as_str: pd.Series, vals: pd.Series, where: str) -> pd.DatetimeIndex:
    """Dates without a named format: every row must parse, all in one recognised format, none ambiguous."""
    try:
        parsed = pd.to_datetime(as_str, errors="coerce", format="mixed")
    except (ValueError, TypeError) as exc:  # pandas refuses offsets that differ between rows
        _refuse_mixed_offsets(as_str, vals, where, exc)
    bad = parsed.isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{where}: row {i + 1} has an unparseable date {short_text(str(vals.iloc[i]))} "
                         "(use ISO dates such as 2008-09-15, or name the format with --date-format)")
    shape = _classify(as_str)
    kinds = np.unique(shape)
    if len(kinds) > 1:
        first = [int(np.argmax(shape == k)) for k in kinds[:2]]
        names = [_DATE_SHAPES[k][0] if k < len(_DATE_SHAPES) else "another format" for k in kinds[:2]]
        raise ValueError(
            f"{where}: mixed date formats: {_rows(np.array([first[0]]), vals)} is {names[0]} and "
            f"{_rows(np.array([first[1]]), vals)} is {names[1]}; use one format throughout (ISO dates "
            "such as 2008-09-15), or name it with --date-format")
    kind = int(kinds[0]) if len(kinds) else 0
    if kind < len(_DATE_SHAPES) and _DATE_SHAPES[kind][0] == _DM:
        return _parse_day_month(as_str, vals, where)
    if kind == 2:  # YYYYMMDD
        return _parse_with_format(as_str, vals, where, "%Y%m%d")
    if kind == len(_DATE_SHAPES):  # another single shape: its digits and words must line up row by row
        sig = as_str.str.replace(r"\d+", "9", regex=True).str.replace(r"[A-Za-z]+", "a", regex=True)
        if sig.nunique() > 1:
            j = int(np.argmax((sig != sig.iloc[0]).to_numpy()))
            raise ValueError(f"{where}: mixed date formats: {_rows(np.array([0]), vals)} and "
                             f"{_rows(np.array([j]), vals)} are written differently; use one format "
                             "throughout (ISO dates such as 2008-09-15), or name it with --date-format")
    return pd.DatetimeIndex(parsed)


def _parse_dates(values: pd.Series | pd.Index, where: str, date_format: str | None = None) -> pd.DatetimeIndex:
    if isinstance(values, pd.DatetimeIndex):
        idx = values
    else:
        vals = pd.Series(values).reset_index(drop=True)
        if pd.api.types.is_datetime64_any_dtype(vals):
            idx = pd.DatetimeIndex(vals)
        else:
            as_str = vals.astype(str).str.strip()
            lengths = as_str.str.len().to_numpy()
            if lengths.size and lengths.max() > MAX_DATE_CHARS:  # before any parser sees it (not linear)
                i = int(np.argmax(lengths))
                raise ValueError(f"{where}: row {i + 1} has an unparseable date {short_text(as_str.iloc[i])} "
                                 f"(a date has at most {MAX_DATE_CHARS} characters; use ISO dates such as 2008-09-15)")
            if date_format is not None:
                idx = _parse_with_format(as_str, vals, where, date_format)
            else:
                idx = _parse_unnamed(as_str, vals, where)
    if idx.hasnans:
        i = int(np.flatnonzero(idx.isna())[0])
        raise ValueError(f"{where}: row {i + 1} has a missing date")
    if idx.tz is not None:
        idx = idx.tz_localize(None)  # keep local wall-clock dates (daily closes)
    return pd.DatetimeIndex(idx).as_unit("ns")


def _to_numeric(col: pd.Series, asset: str, dates: pd.DatetimeIndex) -> np.ndarray:
    """float64 values with NaN for missing markers; ValueError for anything else that is not a positive number."""
    if pd.api.types.is_bool_dtype(col):
        raise ValueError(f"asset {asset!r}: prices are booleans, expected numbers")
    if pd.api.types.is_numeric_dtype(col):
        out = col.to_numpy(dtype=float, na_value=np.nan)
    else:
        out = np.empty(len(col))
        for i, v in enumerate(col.tolist()):
            if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
                out[i] = np.nan
                continue
            if isinstance(v, (bool, np.bool_)):
                raise ValueError(f"asset {asset!r}: non-numeric price {short_text(v)} on {_iso(dates[i])}")
            if isinstance(v, (int, float, np.integer, np.floating)):
                out[i] = float(v)
                continue
            s = str(v).strip()
            if s.lower() in _MISSING:
                out[i] = np.nan
                continue
            try:
                out[i] = float(s.replace(",", "")) if _looks_thousands(s) else float(s)
            except ValueError:
                raise ValueError(f"asset {asset!r}: non-numeric price {short_text(v)} on {_iso(dates[i])}") from None
    inf = np.isinf(out)
    if inf.any():
        i = int(np.flatnonzero(inf)[0])
        raise ValueError(f"asset {asset!r}: non-finite price {float(out[i])!r} on {_iso(dates[i])}")
    nonpos = out <= 0
    if nonpos.any():
        i = int(np.flatnonzero(nonpos)[0])
        raise ValueError(
            f"asset {asset!r}: non-positive price {float(out[i])!r} on {_iso(dates[i])}; log returns need prices > 0 "
            "(for an instrument that can trade at or below zero, model a spread or a shifted level instead)"
        )
    return out


def _looks_thousands(s: str) -> bool:
    # "1,234.5" style thousands separators; a lone comma ("1,5") is not accepted as a decimal mark.
    parts = s.split(".")[0].lstrip("+-").split(",")
    return len(parts) > 1 and all(len(p) == 3 for p in parts[1:]) and 1 <= len(parts[0]) <= 3


def _clean(raw: pd.DataFrame, *, label: str, assets: list[str] | None, max_gap: int, duplicates: str,
           min_obs: int, date_format: str | None = None) -> tuple[pd.DataFrame, CleaningReport]:
    if raw.shape[1] == 0 and not isinstance(raw.index, pd.DatetimeIndex):
        raise ValueError(f"{label}: no columns; expected a date column and one column per asset")
    lower = {str(c).strip().lower(): c for c in raw.columns}
    dup_report: dict[str, list[str]] = {}
    if {"date", "asset", "price"} <= set(lower):
        layout = "long"
        n_input = len(raw)
        dates = _parse_dates(raw[lower["date"]], label, date_format)
        names = raw[lower["asset"]].astype(str).str.strip().to_numpy()
        if len(names) and (names == "").any():
            i = int(np.flatnonzero(names == "")[0])
            raise ValueError(f"{label}: record {i + 1} ({_iso(dates[i])}) has an empty asset name")
        long = pd.DataFrame({"date": dates, "asset": names, "price": raw[lower["price"]].to_numpy()})
        if assets is not None:
            missing = [a for a in assets if a not in set(names)]
            if missing:
                raise ValueError(f"{label}: asset(s) {', '.join(map(repr, missing))} not found; "
                                 f"available: {', '.join(map(repr, sorted(set(names))))}")
            long = long[long["asset"].isin(assets)]
        long = long.sort_values("date", kind="stable")
        dup = long.duplicated(subset=["date", "asset"], keep="last")
        if dup.any():
            if duplicates == "error":
                row = long[dup].iloc[0]
                raise ValueError(f"{label}: asset {row['asset']!r} has more than one price on {_iso(row['date'])} "
                                 "(keep the last one with --duplicates last; duplicates='last' in the Python API)")
            for a, d in long.loc[dup, ["asset", "date"]].itertuples(index=False):
                dup_report.setdefault(a, []).append(_iso(d))
            long = long[~dup]
        order = assets if assets is not None else list(dict.fromkeys(long["asset"]))
        idx = pd.DatetimeIndex(sorted(set(long["date"])))
        cols = {}
        for a in order:
            sub = long[long["asset"] == a]
            sub_dates = pd.DatetimeIndex(sub["date"])
            vals = _to_numeric(sub["price"].reset_index(drop=True), a, sub_dates)
            cols[a] = pd.Series(vals, index=sub_dates).reindex(idx)
        frame = pd.DataFrame(cols, index=idx)
    else:
        layout = "wide"
        n_input = len(raw)
        date_col = next((lower[n] for n in _DATE_NAMES if n in lower), None)
        if date_col is not None:
            dates = _parse_dates(raw[date_col], label, date_format)
            body = raw.drop(columns=[date_col])
        elif isinstance(raw.index, pd.DatetimeIndex):
            dates = _parse_dates(raw.index, label)
            body = raw
        else:
            if raw.shape[1] < 2:
                raise ValueError(f"{label}: expected a date column followed by one column per asset "
                                 "(wide) or columns date, asset, price (long)")
            dates = _parse_dates(raw.iloc[:, 0], label, date_format)
            body = raw.iloc[:, 1:]
        body = body.copy()
        body.columns = [str(c).strip() for c in body.columns]
        _check_names(body.columns, where=label)
        if body.shape[1] == 0:
            raise ValueError(f"{label}: no asset columns besides the date")
        if assets is not None:
            missing = [a for a in assets if a not in body.columns]
            if missing:
                raise ValueError(f"{label}: asset(s) {', '.join(map(repr, missing))} not found; "
                                 f"available: {', '.join(map(repr, body.columns))}")
            body = body[assets]
        body = body.reset_index(drop=True)
        order = np.argsort(dates.to_numpy(), kind="stable")
        dates = dates[order]
        body = body.iloc[order].reset_index(drop=True)
        dup = dates.duplicated(keep="last")
        if dup.any():
            if duplicates == "error":
                d = dates[np.flatnonzero(dup)[0]]
                raise ValueError(f"{label}: date {_iso(d)} appears more than once (asset(s) "
                                 f"{', '.join(map(repr, body.columns))}); keep the last row with --duplicates last "
                                 "(duplicates='last' in the Python API)")
            dup_report["*"] = [_iso(d) for d in dates[dup]]
            keep = ~dup
            dates = dates[keep]
            body = body.loc[keep].reset_index(drop=True)
        cols = {a: _to_numeric(body[a], a, dates) for a in body.columns}
        frame = pd.DataFrame(cols, index=dates)

    frame.index.name = "date"
    frame.columns = [str(c) for c in frame.columns]
    if frame.shape[0] == 0:
        raise ValueError(f"{label}: no price observations")

    # rows missing for every asset
    values = frame.to_numpy()
    all_missing = np.isnan(values).all(axis=1)
    empty_rows = [_iso(d) for d in frame.index[all_missing]]
    frame = frame.loc[~all_missing]
    if frame.shape[0] == 0:
        raise ValueError(f"{label}: every price is missing")

    # trim to the span where every asset has data
    values = frame.to_numpy()
    valid = ~np.isnan(values)
    firsts = valid.argmax(axis=0)
    lasts = len(frame) - 1 - valid[::-1].argmax(axis=0)
    for j, a in enumerate(frame.columns):
        if not valid[:, j].any():
            raise ValueError(f"{label}: asset {a!r} has no prices")
    lo, hi = int(firsts.max()), int(lasts.min())
    if lo > hi:
        a_lo, a_hi = frame.columns[int(firsts.argmax())], frame.columns[int(lasts.argmin())]
        raise ValueError(f"{label}: assets do not overlap in time: {a_lo!r} starts {_iso(frame.index[lo])} "
                         f"after {a_hi!r} ends {_iso(frame.index[hi])}")
    trimmed_leading, trimmed_trailing = lo, len(frame) - 1 - hi
    frame = frame.iloc[lo:hi + 1]

    # interior gaps
    filled: dict[str, list[str]] = {}
    values = frame.to_numpy().copy()
    for j, a in enumerate(frame.columns):
        miss = np.isnan(values[:, j])
        if not miss.any():
            continue
        idx = np.flatnonzero(miss)
        # runs of consecutive missing rows
        breaks = np.flatnonzero(np.diff(idx) > 1)
        starts = np.r_[idx[0], idx[breaks + 1]]
        ends = np.r_[idx[breaks], idx[-1]]
        lengths = ends - starts + 1
        if (lengths > max_gap).any():
            k = int(np.flatnonzero(lengths > max_gap)[0])
            raise ValueError(
                f"{label}: asset {a!r} has {int(lengths[k])} consecutive missing prices from "
                f"{_iso(frame.index[starts[k]])} to {_iso(frame.index[ends[k]])}; at most max_gap={max_gap} "
                "are forward filled (raise max_gap, or choose a window without the gap)"
            )
        for i in idx:  # in order, so runs carry the last valid price
            values[i, j] = values[i - 1, j]
        filled[a] = [_iso(frame.index[i]) for i in idx]
    frame = pd.DataFrame(values, index=frame.index, columns=frame.columns)

    if len(frame) < min_obs:
        raise ValueError(
            f"{label}: only {len(frame)} price observations after cleaning "
            f"({_iso(frame.index[0])} to {_iso(frame.index[-1])}); at least {min_obs} are needed"
        )
    rep = CleaningReport(
        source=label,
        layout=layout,
        input_sha256=None,
        data_sha256=frame_sha256(frame),
        assets=list(frame.columns),
        n_input_rows=int(n_input),
        n_obs=int(len(frame)),
        start=_iso(frame.index[0]),
        end=_iso(frame.index[-1]),
        duplicates_dropped=dup_report,
        empty_rows_dropped=empty_rows,
        trimmed_leading=int(trimmed_leading),
        trimmed_trailing=int(trimmed_trailing),
        forward_filled=filled,
        rules={"max_gap": max_gap, "duplicates": duplicates, "min_obs": min_obs, "rules": list(CLEANING_RULES)},
    )
    return frame, rep
