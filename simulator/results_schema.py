"""One validated schema for reading result folders: ``manifest.json``, ``risk.json`` and the Parquet files.

Every reader of a results folder (:func:`simulator.results.load_results`, so ``stress-sim report``; ``stress-sim
verify``) goes through :func:`read_manifest`, :func:`read_risk` and :func:`check_parquet`, so a folder that
was edited by hand, truncated or written by something else is refused with one line naming the **file** and the
**key** that is wrong (``risk.json: risk[0].levels[1].es: expected a number, got 'abc'``), never with a
``KeyError`` or ``TypeError`` from deep inside the report.

The models (pydantic, as the scenario schema) state the keys and types the readers use; keys they do not use
are kept as they are (``extra="allow"``), so a result written by a newer stress-sim with more keys still reads.
JSON files are read through :mod:`simulator.safeio` (size and nesting limits, one-line syntax errors).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from simulator.exceptions import UserInputError

__all__ = ["ResultsSchemaError", "RunManifest", "RiskDocument", "ModelRecord", "ScenarioFile", "read_manifest",
           "read_risk", "read_model_record", "read_scenario_file", "read_json_object", "check_parquet",
           "read_parquet_frame",
           "PARQUET_COLUMNS", "format_error"]


class ResultsSchemaError(UserInputError):
    """A file of a results folder does not hold what stress-sim writes there (names the file and the key)."""


class _Strict(BaseModel):
    """Numbers are finite numbers (not strings holding digits), booleans are booleans; other keys are kept."""

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)


# ---------------------------------------------------------------------------------------------- manifest
class EngineRecord(_Strict):
    chunk_paths: Optional[int] = Field(default=None, ge=1)
    n_chunks: Optional[int] = Field(default=None, ge=1)


class RunManifest(_Strict):
    """``manifest.json`` of ``OUT/<scenario>/`` (kind ``scenario-run``)."""

    kind: Literal["scenario-run"]
    format: Optional[str] = None
    scenario: str = Field(min_length=1)
    n_paths: int = Field(ge=1)
    horizon_days: int = Field(ge=1)
    seed: dict[str, Any]
    assets: list[str] = Field(min_length=1)
    outputs: dict[str, str]
    model_sha256: Optional[str] = None
    scenario_sha256: Optional[str] = None
    var_levels: Optional[list[float]] = None
    pnl_horizons: Optional[list[int]] = None
    reporting_horizon_days: Optional[int] = Field(default=None, ge=1)
    simulated: Optional[Literal["paths", "summary"]] = None
    paths_file: Optional[bool] = None
    start_state: Optional[str] = None
    engine: Optional[EngineRecord] = None
    baseline: Optional[dict[str, Any]] = None
    command: Optional[list[Any]] = None

    @field_validator("outputs")
    @classmethod
    def _hashes(cls, v: dict[str, str]) -> dict[str, str]:
        import re

        for name, digest in v.items():
            if not re.fullmatch(r"[0-9a-f]{64}", digest):
                raise ValueError(f"the sha256 of {name!r} is not 64 hexadecimal digits")
        return v

    @field_validator("var_levels")
    @classmethod
    def _levels(cls, v):
        if v is not None and not all(0.0 < x < 1.0 for x in v):
            raise ValueError("levels must lie in (0, 1)")
        return v


# ---------------------------------------------------------------------------------------------- risk.json
class LevelRisk(_Strict):
    level: float = Field(gt=0.0, lt=1.0)
    var: float
    es: float
    ci: Optional[float] = None
    var_ci_low: Optional[float] = None
    var_ci_high: Optional[float] = None
    es_ci_low: Optional[float] = None
    es_ci_high: Optional[float] = None
    n: Optional[int] = None


class HorizonRisk(_Strict):
    horizon_days: int = Field(ge=1)
    levels: list[LevelRisk]


class ScenarioRecord(_Strict):
    name: str
    horizon_days: int = Field(ge=1)
    n_paths: int = Field(ge=1)
    description: Optional[str] = None
    reporting_horizon_days: Optional[int] = Field(default=None, ge=1)
    shock_types: Optional[list[str]] = None


class PortfolioRecord(_Strict):
    positions: Optional[dict[str, float]] = None
    currency: Optional[str] = None
    initial_value: Optional[float] = None
    gross_value: Optional[float] = None


class Headline(_Strict):
    es_level: Optional[float] = Field(default=None, gt=0.0, lt=1.0)
    horizon_days: Optional[int] = Field(default=None, ge=1)
    levels: Optional[list[float]] = None


class Matrix(_Strict):
    assets: list[str]
    matrix: list[list[float]]


class CorrelationRecord(_Strict):
    copula: Optional[Matrix] = None
    realised: Optional[Matrix] = None


class Contribution(_Strict):
    horizon_days: int = Field(ge=1)
    level: float
    es: Optional[float] = None
    contributions: Optional[dict[str, float]] = None
    shares: Optional[dict[str, float]] = None


class AssetRow(_Strict):
    asset: str


class Target(_Strict):
    measure: str
    value: float
    tolerance: Optional[float] = None


class RiskDocument(_Strict):
    """``risk.json`` of a scenario run: the keys the report and the baseline comparison read."""

    format: Optional[str] = None
    levels: Optional[list[float]] = None
    scenario: ScenarioRecord
    risk: list[HorizonRisk] = Field(default_factory=list)
    portfolio: Optional[PortfolioRecord] = None
    currency: Optional[str] = None
    headline: Optional[Headline] = None
    pnl_horizons: Optional[list[int]] = None
    assets: Optional[list[str]] = None
    assets_table: Optional[list[AssetRow]] = None
    es_contributions: Optional[list[Contribution]] = None
    correlation: Optional[CorrelationRecord] = None
    drawdown: Optional[dict[str, Any]] = None
    targets: Optional[list[Target]] = None
    start_state: Optional[dict[str, Any]] = None
    frtb_es: Optional[dict[str, Any]] = None
    stress_vs_baseline: Optional[dict[str, Any]] = None
    daily_paths_kept: Optional[bool] = None
    model: Optional[dict[str, Any]] = None
    book: Optional[dict[str, Any]] = None
    curves: Optional[dict[str, Any]] = None
    n_distinct_pnl: Optional[dict[str, Any]] = None

    @field_validator("levels")
    @classmethod
    def _levels(cls, v):
        if v is not None and not all(0.0 < x < 1.0 for x in v):
            raise ValueError("levels must lie in (0, 1)")
        return v


# ---------------------------------------------------------------------------------------------- model.json, scenario.json
class StartRecord(_Strict):
    sigma2: Optional[list[float]] = None
    resid: Optional[list[float]] = None


class ModelRecord(_Strict):
    """``model.json`` of a scenario run: the keys the report's model card reads (``stress-sim verify`` re-checks the
    model itself)."""

    assets: list[str] = Field(min_length=1)
    marginals: list[dict[str, Any]]
    copula: dict[str, Any]
    start: Optional[StartRecord] = None
    provenance: Optional[dict[str, Any]] = None
    factors: Optional[dict[str, dict[str, Any]]] = None

    @model_validator(mode="after")
    def _one_per_asset(self):
        n = len(self.assets)
        if len(self.marginals) != n:
            raise ValueError(f"marginals has {len(self.marginals)} entries for {n} assets")
        if self.start is not None:
            for key in ("sigma2", "resid"):
                vals = getattr(self.start, key)
                if vals is not None and len(vals) != n:
                    raise ValueError(f"start.{key} has {len(vals)} values for {n} assets")
        return self


class ScenarioFile(_Strict):
    """``scenario.json`` of a scenario run (the validated scenario): the keys the report reads."""

    name: str = Field(min_length=1)
    description: Optional[str] = None
    source: Optional[str] = None
    notes: Optional[str] = None
    shocks: Optional[list[dict[str, Any]]] = None


# ---------------------------------------------------------------------------------------------- reading
def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def format_error(exc: ValidationError, where: str) -> str:
    """The first problem of a pydantic error as ``FILE: key: problem`` (and how many more)."""
    errs = exc.errors()
    e = errs[0]
    # pydantic reports every alternative of an Optional; the deepest location names the key best
    loc = _loc(tuple(p for p in e["loc"] if not (isinstance(p, str) and p in ("function-after",))))
    msg = e["msg"].replace("Input should be", "expected").replace("Value error, ", "")
    got = f", got {_short(e['input'])}" if e["type"] != "missing" else ""
    more = f" (and {len(errs) - 1} more problem{'s' if len(errs) > 2 else ''})" if len(errs) > 1 else ""
    return f"{where}: {loc}: {msg}{got}{more}"


def read_json_object(path: str | os.PathLike, what: str | None = None) -> dict:
    """A results folder's JSON file as a dict (size and nesting limits; one line naming the file otherwise)."""
    from simulator.safeio import loads_json, read_input_text

    p = Path(path)
    if not p.exists():
        raise ResultsSchemaError(f"{p}: missing (not a complete stress-sim results directory)")
    try:
        data = loads_json(read_input_text(p, what or p.name), str(p))
    except UserInputError as exc:
        raise ResultsSchemaError(str(exc)) from None
    if not isinstance(data, dict):
        raise ResultsSchemaError(f"{p}: expected a JSON object, got {type(data).__name__}")
    return data


def _validate(model: type[BaseModel], data: dict, where: str) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ResultsSchemaError(format_error(exc, where)) from None


def read_manifest(path: str | os.PathLike) -> dict:
    """``manifest.json`` of a scenario run, validated (:class:`RunManifest`); the dict as written."""
    data = read_json_object(path, "manifest.json")
    if data.get("kind") != "scenario-run":
        raise ResultsSchemaError(f"{path}: kind is {_short(data.get('kind'))}, expected 'scenario-run' (a directory "
                                 "written by stress-sim run)")
    _validate(RunManifest, data, str(path))
    return data


def read_risk(path: str | os.PathLike) -> dict:
    """``risk.json`` of a scenario run, validated (:class:`RiskDocument`); the dict as written."""
    data = read_json_object(path, "risk.json")
    _validate(RiskDocument, data, str(path))
    return data


def read_model_record(path: str | os.PathLike) -> dict:
    """``model.json`` of a scenario run, validated (:class:`ModelRecord`); the dict as written."""
    data = read_json_object(path, "model.json")
    _validate(ModelRecord, data, str(path))
    return data


def read_scenario_file(path: str | os.PathLike) -> dict:
    """``scenario.json`` of a scenario run, validated (:class:`ScenarioFile`); the dict as written."""
    data = read_json_object(path, "scenario.json")
    _validate(ScenarioFile, data, str(path))
    return data


#: Required columns and their kinds of the Parquet files of a scenario run, by results format role.
PARQUET_COLUMNS: dict[str, dict[str, str]] = {
    "summary.parquet": {"path": "integer", "asset": "label", "@cum_log_return": "float", "max_drawdown": "float"},
    "pnl.parquet": {"path": "integer", "horizon_days": "integer", "pnl": "float"},
    "fan.parquet": {"day": "integer"},
    "paths.parquet": {"path": "integer", "day": "integer", "asset": "label", "@log_return": "float",
                      "sigma_pct": "float"},
}


def read_parquet_frame(path: str | os.PathLike):
    """A Parquet file of a results folder as a DataFrame; a file whose footer reads but whose data pages do not
    (truncated, altered bytes) is a :class:`ResultsSchemaError` naming it, never pyarrow's own exception."""
    import pandas as pd

    p = Path(path)
    try:
        return pd.read_parquet(p)
    except MemoryError:
        raise
    except OSError as exc:
        if exc.errno is not None:  # the file system's error (exit 1); pyarrow's own OSErrors carry no errno
            raise
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ResultsSchemaError(f"{p}: not a readable Parquet file ({first[:120]})") from None
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for damaged data pages
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ResultsSchemaError(f"{p}: not a readable Parquet file ({first[:120]})") from None


def check_parquet(path: str | os.PathLike, columns: dict[str, str] | None = None) -> None:
    """Refuse a Parquet file of a results folder that is unreadable or lacks a column of the right kind.

    ``columns`` maps column names to ``"integer"``, ``"float"`` (any number) or ``"label"`` (string or
    dictionary); default :data:`PARQUET_COLUMNS` for the file's name (``@role`` names resolved by the caller)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = Path(path)
    if columns is None:
        columns = {k: v for k, v in PARQUET_COLUMNS.get(p.name, {}).items() if not k.startswith("@")}
    try:
        schema = pq.read_schema(p)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a file that is not Parquet
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ResultsSchemaError(f"{p}: not a readable Parquet file ({first[:120]})") from None
    for name, kind in columns.items():
        if name not in schema.names:
            raise ResultsSchemaError(f"{p}: column {name!r} is missing (columns: {', '.join(schema.names)})")
        t = schema.field(name).type
        if pa.types.is_dictionary(t):
            t = t.value_type
        ok = {"integer": pa.types.is_integer(t),
              "float": pa.types.is_floating(t) or pa.types.is_integer(t),
              "label": pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t)}[kind]
        if not ok:
            raise ResultsSchemaError(f"{p}: column {name!r} holds {t}, expected {kind} values")
