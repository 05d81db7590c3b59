"""Read scenario files (TOML) and the built-in library, with errors that point at the key.

>>> from scenarios.loader import load_scenario, list_scenarios
>>> "gfc-2008" in list_scenarios()
True
>>> load_scenario("gfc-2008").horizon_days > 0
True

Every problem is reported as one :class:`simulator.exceptions.UserInputError` whose message has one
line per problem, ``<file>: <key.path>: <problem> (allowed: <valid values>)``, e.g.::

    my.toml: shocks[2].multiplier: must be greater than 0, got -1.5 (allowed: a number > 0)

Key paths follow the file: tables are joined with ``.``, array entries are 0-based ``[i]`` (so
``shocks[2]`` is the third ``[[shocks]]`` table). TOML syntax errors name the line and column.
"""
from __future__ import annotations

import difflib
import datetime as _dt
import os
import re
import tomllib
import typing
from pathlib import Path
from typing import Any, Union

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from scenarios.spec import SHOCK_TYPES, Scenario, _toml_type
from simulator.exceptions import UserInputError

__all__ = [
    "LIBRARY_DIR",
    "list_scenarios",
    "library_path",
    "scenario_text",
    "load_scenario",
    "parse_scenario",
    "scenario_from_dict",
    "scenario_from_record",
    "scenario_sha256",
    "record_sha256",
    "record_sha256s",
    "format_validation_error",
]

#: Directory of the built-in scenario library (``<name>.toml`` files).
LIBRARY_DIR = Path(__file__).resolve().parent / "library"
_MAX_REPORTED = 12


# ---------------------------------------------------------------------------------------- library
def list_scenarios() -> list[str]:
    """Names of the built-in library scenarios, sorted."""
    return sorted(p.stem for p in LIBRARY_DIR.glob("*.toml"))


def library_path(name: str) -> Path:
    """The file of library scenario ``name``; :class:`UserInputError` listing the names if unknown."""
    p = LIBRARY_DIR / f"{name}.toml"
    if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", name) or not p.is_file():
        raise UserInputError(
            f"unknown scenario {name!r}: not a scenario file and not a library scenario "
            f"(library: {', '.join(list_scenarios())})")
    return p


def _locate(path_or_name: Union[str, os.PathLike]) -> Path:
    """A scenario file path from a path or a library name."""
    if isinstance(path_or_name, os.PathLike):
        p = Path(path_or_name)
    elif isinstance(path_or_name, str):
        if not path_or_name:
            raise UserInputError("empty scenario name (give a .toml file or a library name)")
        p = Path(path_or_name).expanduser()
        looks_like_path = p.suffix == ".toml" or os.sep in path_or_name or "/" in path_or_name
        if not looks_like_path and not p.is_file():
            return library_path(path_or_name)
    else:
        raise TypeError(f"scenario must be a file path or a library name, got {type(path_or_name).__name__}")
    if p.is_dir():
        raise UserInputError(f"{p}: is a directory, not a scenario file")
    if p.exists() and not p.is_file():
        from simulator.safeio import check_regular_file

        check_regular_file(p, "scenario file")  # a device or a FIFO: says which
    if not p.is_file():
        raise UserInputError(f"{p}: scenario file not found")
    return p


def scenario_text(name_or_path: Union[str, os.PathLike]) -> str:
    """The TOML text of a library scenario (by name) or of a scenario file."""
    p = _locate(name_or_path)
    return _read_text(p)


def _read_text(p: Path) -> str:
    from simulator.safeio import read_input_bytes

    try:
        data = read_input_bytes(p, "scenario file")  # a regular file, within the input size limit
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserInputError(f"{p}: not UTF-8 text (byte {exc.start}); TOML files must be UTF-8") from None
    except PermissionError:
        raise UserInputError(f"{p}: permission denied") from None


# ---------------------------------------------------------------------------------------- loading
def load_scenario(path_or_name: Union[str, os.PathLike, Scenario]) -> Scenario:
    """Read and validate a scenario.

    Parameters
    ----------
    path_or_name : str, os.PathLike or Scenario
        A ``.toml`` file path, or the name of a library scenario (see :func:`list_scenarios`);
        a :class:`Scenario` is returned as is.

    Returns
    -------
    Scenario
        The validated scenario; ``scenario.path`` is the file it came from.

    Raises
    ------
    UserInputError
        Unknown name, missing file, bad TOML or a schema violation; the message names the file,
        the key path and the allowed values.
    """
    if isinstance(path_or_name, Scenario):
        return path_or_name
    p = _locate(path_or_name)
    # name the file as the user wrote it; a library name by its file
    source = path_or_name if isinstance(path_or_name, str) and Path(path_or_name).expanduser() == p else str(p)
    return parse_scenario(_read_text(p), source=source, path=p)


def parse_scenario(text: str, *, source: str = "<scenario>", path: Union[str, os.PathLike, None] = None) -> Scenario:
    """Validate scenario TOML ``text``; ``source`` names it in errors, ``path`` anchors relative paths."""
    if not isinstance(text, str):
        raise TypeError(f"scenario text must be str, got {type(text).__name__}")
    from simulator.safeio import MAX_NESTING, nesting_depth

    if nesting_depth(text, toml=True, stop=MAX_NESTING) > MAX_NESTING:  # before the parser recurses
        raise UserInputError(f"{source}: arrays or tables are nested more than {MAX_NESTING} levels deep; no scenario "
                             "nests that deep")
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise UserInputError(f"{source}: nested too deeply to parse") from None
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)$", msg)
        where = f"line {m.group(1)}, column {m.group(2)}" if m else "TOML"
        problem = msg[: m.start()].strip() if m else msg
        raise UserInputError(f"{source}: {where}: invalid TOML: {problem} "
                             "(allowed: TOML 1.0 syntax, https://toml.io/en/v1.0.0)") from None
    except ValueError:  # an integer literal beyond Python's digit limit
        raise UserInputError(f"{source}: an integer literal has more digits than a number can hold") from None
    return scenario_from_dict(data, source=source, path=path)


def scenario_from_dict(data: Any, *, source: str = "<scenario>", path: Union[str, os.PathLike, None] = None) -> Scenario:
    """Validate a parsed scenario (the dict ``tomllib`` returns); errors as :func:`load_scenario`."""
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise UserInputError(format_validation_error(exc, source=source)) from None
    if path is not None:
        scenario._path = Path(path).resolve()
    return scenario


REPLAY_SCALINGS = ("historical", "filtered")


def scenario_sha256(scenario: Scenario) -> str:
    """sha256 of the scenario's canonical JSON: every key, defaults included, sorted. A run stores that JSON as
    ``scenario.json``, so this is also :func:`record_sha256` of the stored record."""
    return record_sha256(scenario.model_dump(mode="json"))


def record_sha256(record: Any) -> str:
    """sha256 of a stored scenario record (``scenario.json`` as read) in canonical JSON, as it was written."""
    import json

    from simulator.io import sha256_bytes

    return sha256_bytes(json.dumps(record, sort_keys=True).encode())


def record_sha256s(record: Any) -> tuple[str, ...]:
    """Every hash a run may have recorded (``scenario_sha256``) for its stored scenario ``record``.

    The record's own canonical hash (:func:`record_sha256`): how stress-sim 0.2.x hashed it and how every
    version hashes it now, so a schema that gains keys never changes the hash of a stored record. And the
    recipe of stress-sim 0.3.0 before run identity 2, kept to verify what it wrote: the record without an
    empty ``targets`` list and without ``historical_replay.scaling = "filtered"``."""
    import copy

    out = [record_sha256(record)]
    if isinstance(record, dict):
        legacy = copy.deepcopy(record)
        if not legacy.get("targets"):
            legacy.pop("targets", None)
        for shock in legacy.get("shocks") or []:
            if (isinstance(shock, dict) and shock.get("type") == "historical_replay"
                    and shock.get("scaling") == "filtered"):
                del shock["scaling"]
        out.append(record_sha256(legacy))
    return tuple(dict.fromkeys(out))


def scenario_from_record(data: Any, *, source: str = "<scenario.json>") -> Scenario:
    """Validate a scenario stored by a run (``scenario.json``) as the run meant it.

    Runs store the validated scenario with every key, defaults included, except those written before
    ``historical_replay.scaling`` existed (stress-sim < 0.2.0): their replays had the only behaviour
    of the time, filtered scaling, which is filled in here (the default became ``"historical"`` in
    0.3.0, so reading such a record with today's default would re-run another scenario)."""
    if isinstance(data, dict) and isinstance(data.get("shocks"), list):
        shocks = []
        for shock in data["shocks"]:
            if isinstance(shock, dict) and shock.get("type") == "historical_replay" and "scaling" not in shock:
                shock = {**shock, "scaling": "filtered"}
            shocks.append(shock)
        data = {**data, "shocks": shocks}
    return scenario_from_dict(data, source=source)


def with_replay_scaling(scenario: Scenario, scaling: str) -> Scenario:
    """``scenario`` with every ``historical_replay`` shock's ``scaling`` set to ``scaling`` (re-validated;
    the file path is kept). Scenarios without a replay come back unchanged."""
    if scaling not in REPLAY_SCALINGS:
        raise UserInputError(f"replay scaling {scaling!r} is not one of {', '.join(map(repr, REPLAY_SCALINGS))}")
    if not scenario.has_replay():
        return scenario
    data = scenario.model_dump(mode="json", exclude_none=True)
    for shock in data["shocks"]:
        if shock["type"] == "historical_replay":
            shock["scaling"] = scaling
    return scenario_from_dict(data, source=str(scenario.path or scenario.name), path=scenario.path)


# ---------------------------------------------------------------------------------------- errors
def format_validation_error(exc: ValidationError, *, source: str) -> str:
    """One line per problem: ``<source>: <key.path>: <problem> (allowed: ...)``."""
    lines: list[str] = []
    for err in exc.errors(include_url=False):
        ctx = err.get("ctx") or {}
        if err["type"] == "scenario_issues":
            for path, problem, allowed in ctx["issues"]:
                lines.append(f"{source}: {path}: {problem} (allowed: {allowed})")
            continue
        lines.append(f"{source}: " + _describe_error(err))
    if len(lines) > _MAX_REPORTED:
        lines = lines[:_MAX_REPORTED] + [f"{source}: ... and {len(lines) - _MAX_REPORTED} more problem(s)"]
    return "\n".join(lines)


def _describe_error(err: dict) -> str:
    loc = tuple(err["loc"])
    etype = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    if etype in ("union_tag_invalid", "union_tag_not_found"):
        path, _ = _walk(loc)
        allowed = "type = " + ", ".join(f'"{t}"' for t in SHOCK_TYPES)
        if etype == "union_tag_invalid":
            return f"{_join(path, 'type')}: unknown shock type {_toml_repr(ctx.get('tag'))} (allowed: {allowed})"
        return f"{_join(path, 'type')}: required key is missing (allowed: {allowed})"
    if etype == "scenario_value":
        key = ctx.get("key")
        path, target = _walk(loc + ((key,) if key else ()))
        path += ctx.get("sub") or ""
        allowed = ctx.get("allowed") or _allowed(target)
        return f"{path or '(top level)'}: {err['msg']} (allowed: {allowed})"
    path, target = _walk(loc)
    if etype == "extra_forbidden":
        parent_path, parent = _walk(loc[:-1])
        keys = list(parent.model.model_fields) if parent.model is not None else []
        keys.sort(key=lambda k: k != "type")  # a shock's type first
        hint = ""
        close = difflib.get_close_matches(str(loc[-1]), keys, n=1, cutoff=0.6)
        if close:
            hint = f" (did you mean {close[0]!r}?)"
        where = "the top level" if not parent_path else parent_path
        return f"{path}: unknown key{hint} (allowed: keys of {where}: {', '.join(keys)})"
    if etype == "missing":
        return f"{path}: required key is missing (allowed: {_allowed(target)})"
    problem = _problem(etype, err["msg"], value)
    return f"{path or '(top level)'}: {problem} (allowed: {_allowed(target)})"


_TYPE_ERRORS = {
    "int_type": "an integer",
    "int_from_float": "an integer",
    "int_parsing": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "an array",
    "tuple_type": "an array",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "date_type": "a date",
}


def _problem(etype: str, msg: str, value: Any) -> str:
    if etype in _TYPE_ERRORS:
        return f"expected {_TYPE_ERRORS[etype]}, got {_toml_type(value)} {_toml_repr(value)}"
    if etype == "literal_error":
        return f"{_toml_repr(value)} is not an allowed value"
    if etype == "finite_number":
        return f"must be a finite number, got {_toml_repr(value)}"
    if etype == "string_pattern_mismatch":
        return f"{_toml_repr(value)} is not in the required format"
    if etype == "string_too_short":
        return "must not be empty"
    text = re.sub(r"^Input should", "must", msg)
    text = re.sub(r"^Value error, ", "", text)
    if isinstance(value, (int, float, str, bool, _dt.date)):
        text += f", got {_toml_repr(value)}"
    return text


def _toml_repr(value: Any, limit: int = 60) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    elif isinstance(value, _dt.date):
        text = value.isoformat()
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ------------------------------------------------------------------------ locating a key in the schema
class _Target:
    """What a location in the file points to: a type, its constraints and its parent table."""

    def __init__(self, tp: Any = None, metadata: tuple = (), extra_allowed: str | None = None,
                 model: type[BaseModel] | None = None, required: bool = False):
        self.tp = tp
        self.metadata = metadata
        self.extra_allowed = extra_allowed
        self.model = model  # the table the key belongs to (or the table itself if tp is a model)
        self.required = required


def _unwrap(tp: Any) -> tuple[Any, list]:
    """Strip ``Annotated`` and ``Optional``, collecting the ``Annotated`` metadata."""
    meta: list = []
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            args = typing.get_args(tp)
            tp = args[0]
            meta.extend(args[1:])
            continue
        if origin is Union:
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) == 1:
                tp = args[0]
                continue
        return tp, meta


def _extra_allowed(meta: list) -> str | None:
    for m in meta:
        if isinstance(m, FieldInfo) and isinstance(m.json_schema_extra, dict) and "allowed" in m.json_schema_extra:
            return m.json_schema_extra["allowed"]
    return None


def _tag_models(tp: Any) -> dict[str, type[BaseModel]]:
    """For a discriminated union of models: tag -> model."""
    out = {}
    if typing.get_origin(tp) is Union:
        for a in typing.get_args(tp):
            if isinstance(a, type) and issubclass(a, BaseModel) and "type" in a.model_fields:
                for tag in typing.get_args(a.model_fields["type"].annotation):
                    out[tag] = a
    return out


def _walk(loc: tuple) -> tuple[str, _Target]:
    """Display path (``shocks[2].multiplier``) and target of a pydantic error location."""
    parts: list[str] = []
    tp: Any = Scenario
    meta: list = []
    extra: str | None = None
    model: type[BaseModel] | None = Scenario
    required = False
    dict_key_type: Any = None
    for elem in loc:
        tp, more = _unwrap(tp) if tp is not None else (None, [])
        meta = meta + more
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            model = tp
            if isinstance(elem, str) and elem in tp.model_fields:
                f = tp.model_fields[elem]
                parts.append(_key(elem, first=not parts))
                tp = f.annotation
                meta = list(f.metadata)
                extra = f.json_schema_extra.get("allowed") if isinstance(f.json_schema_extra, dict) else None
                required = f.is_required()
                continue
            parts.append(_key(str(elem), first=not parts))
            tp, meta, extra = None, [], None
            continue
        tags = _tag_models(tp)
        if tags and isinstance(elem, str) and elem in tags:
            tp, meta, extra = tags[elem], [], None  # the discriminator tag is not part of the key path
            continue
        origin = typing.get_origin(tp)
        if isinstance(elem, int) and origin in (list, tuple):
            parts.append(f"[{elem}]")
            tp, meta = typing.get_args(tp)[0], []
            extra = None
            continue
        if isinstance(elem, str) and origin is dict:
            parts.append(_key(elem, first=not parts))
            dict_key_type = typing.get_args(tp)[0]
            tp, meta, extra = typing.get_args(tp)[1], [], None
            continue
        if elem == "[key]" and dict_key_type is not None:  # the key itself of a table entry is invalid
            tp, meta, extra = dict_key_type, [], None
            continue
        parts.append(f"[{elem}]" if isinstance(elem, int) else _key(str(elem), first=not parts))
        tp, meta, extra = None, [], None
    if tp is not None:
        tp, more = _unwrap(tp)
        meta = meta + more
        extra = extra or _extra_allowed(more)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            model = tp
    return "".join(parts), _Target(tp, tuple(meta), extra, model, required)


def _key(name: str, *, first: bool) -> str:
    text = name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else '"' + name.replace('"', '\\"') + '"'
    return text if first else "." + text


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _allowed(target: _Target) -> str:
    """Human description of the valid values at ``target``."""
    if target.extra_allowed:
        return target.extra_allowed
    return _describe_type(target.tp, target.metadata) if target.tp is not None else "see the scenario schema"


def _bounds(meta: tuple) -> str:
    parts = []
    for m in _flat(meta):
        if isinstance(m, FieldInfo):
            continue
        for attr, sym in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            v = getattr(m, attr, None)
            if v is not None:
                parts.append(f"{sym} {v:g}" if isinstance(v, float) else f"{sym} {v}")
    return " and ".join(parts)


def _describe_type(tp: Any, meta: tuple = ()) -> str:
    tp, more = _unwrap(tp)
    meta = tuple(meta) + tuple(more)
    extra = _extra_allowed(list(meta))
    if extra:
        return extra
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return ", ".join(_toml_repr(a) for a in typing.get_args(tp))
    if tp is bool:
        return "true or false"
    if tp in (int, float):
        kind = "an integer" if tp is int else "a number"
        b = _bounds(meta)
        return f"{kind} {b}" if b else kind
    if tp is str:
        for m in _flat(meta):
            if getattr(m, "pattern", None) == r"^[A-Za-z_][A-Za-z0-9_]*$":
                return "a name of letters, digits and underscores, not starting with a digit"
        if any(getattr(m, "min_length", None) for m in _flat(meta)):
            return "a non-empty string"
        return "a string"
    if tp is _dt.date:
        return "an ISO date YYYY-MM-DD"
    if origin is list:
        return "an array of " + _plural(_describe_type(typing.get_args(tp)[0]))
    if origin is tuple:
        return "an array [" + ", ".join(_describe_type(a) for a in typing.get_args(tp) if a is not Ellipsis) + "]"
    if origin is dict:
        return "a table of name = " + _describe_type(typing.get_args(tp)[1])
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return "a table with keys " + ", ".join(tp.model_fields)
    if _tag_models(tp):
        return "a [[shocks]] table with type = " + ", ".join(f'"{t}"' for t in SHOCK_TYPES)
    return str(tp)


def _flat(meta: tuple) -> list:
    """Constraint objects, including those inside ``FieldInfo`` metadata."""
    out = []
    for m in meta:
        out.append(m)
        if isinstance(m, FieldInfo):
            out.extend(m.metadata)
    return out


def _plural(text: str) -> str:
    """'a number > 0' -> 'numbers > 0'; 'an integer' -> 'integers'; other text unchanged."""
    for article in ("a ", "an "):
        if text.startswith(article):
            first, _, rest = text[len(article):].partition(" ")
            if first.startswith("[[shocks]]"):
                return text[len(article):].replace("table", "tables", 1)
            if first in ("non-empty",):
                word, _, rest2 = rest.partition(" ")
                return f"{first} {word}s" + (f" {rest2}" if rest2 else "")
            return f"{first}s" + (f" {rest}" if rest else "")
    return text
