"""Property-based tests (hypothesis) of the three readers of user files (issue 15): the model loader, the scenario
loader and the results reader. Whatever the bytes, each gives a valid object or the project's own clean error
(:class:`simulator.exceptions.UserInputError`, exit status 2 on the command line), never another exception.

Inputs are drawn three ways: valid documents with one value replaced by an arbitrary JSON value (so every key
meets wrong types, huge and non-finite numbers, nesting and text), arbitrary documents, and the valid file's text
or bytes edited at random (torn, spliced, garbage inserted). Results folders get one file edited and the
manifest's sha256 updated, so the schema, not the hash check, must catch it.
"""
from __future__ import annotations

import copy
import json
import math
import shutil
import tempfile
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.exceptions import UserInputError

REPO = Path(__file__).resolve().parents[1]
SETTINGS = settings(max_examples=50, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ---------------------------------------------------------------------------------------------- strategies
SCALARS = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(10 ** 30), max_value=10 ** 30), st.integers(min_value=-(10 ** 400), max_value=10 ** 400),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, 1e-300, 1e300, 1.7e308, -1.0, 0.5]),
    st.text(max_size=20), st.sampled_from(["", "nan", "1e6", "<script>x</script>", "=cmd|' /C calc'!A0", "../..",
                                           "garch", "t", "gaussian", "price", "rate"]),
)
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)


def _paths(obj, prefix=()):
    """Every key path of a JSON document (the document itself first)."""
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


@st.composite
def mutated(draw, doc):
    """``doc`` with one value (or key) replaced, deleted or added."""
    doc = copy.deepcopy(doc)
    paths = list(_paths(doc))
    path = draw(st.sampled_from(paths))
    action = draw(st.sampled_from(["replace", "delete", "add"] if path else ["replace"]))
    if not path:
        return draw(JSON_VALUES) if action == "replace" else doc
    parent = doc
    for p in path[:-1]:
        parent = parent[p]
    last = path[-1]
    if action == "replace":
        parent[last] = draw(JSON_VALUES)
    elif action == "delete":
        del parent[last]
    elif isinstance(parent, dict):
        parent[draw(st.text(max_size=8))] = draw(JSON_VALUES)
    else:
        parent.insert(draw(st.integers(0, len(parent))), draw(JSON_VALUES))
    return doc


@st.composite
def edited(draw, data: bytes):
    """``data`` torn, spliced or with arbitrary bytes inserted."""
    n = len(data)
    i = draw(st.integers(0, n))
    j = draw(st.integers(i, min(n, i + 64)))
    action = draw(st.sampled_from(["truncate", "delete", "insert", "replace"]))
    if action == "truncate":
        return data[:i]
    if action == "delete":
        return data[:i] + data[j:]
    junk = draw(st.binary(max_size=16) | st.sampled_from([b"[" * 100, b"\xff\xfe", b"NaN", b"1" * 400, b"\x00"]))
    return data[:i] + junk + (data[i:] if action == "insert" else data[j:])


def _dumps(doc) -> bytes:
    return json.dumps(doc, allow_nan=True).encode()


# ---------------------------------------------------------------------------------------------- the model loader
def _example_model() -> dict:
    from simulator.builtin import load_builtin_model

    d = load_builtin_model("example").to_dict()
    d.pop("provenance", None)
    return d


MODEL = _example_model()
MODEL_BYTES = json.dumps(MODEL, indent=1).encode()


def _load_model_bytes(data: bytes) -> None:
    from simulator.builtin import load_model
    from simulator.model import MarketModel

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "model.json"
        p.write_bytes(data)
        try:
            model = load_model(str(p))
        except UserInputError as exc:
            assert str(exc).strip(), "an error without a message"
            return
    assert isinstance(model, MarketModel)
    # a model that loads is one the engine accepts: its own JSON loads to the same model
    assert MarketModel.from_json(model.to_json()) == model
    assert all(math.isfinite(s) and s > 0 for s in model.start_state().sigma2)


@SETTINGS
@given(mutated(MODEL))
def test_model_loader_mutated_documents(doc):
    _load_model_bytes(_dumps(doc))


@SETTINGS
@given(JSON_VALUES)
def test_model_loader_arbitrary_documents(doc):
    _load_model_bytes(_dumps(doc))


@SETTINGS
@given(edited(MODEL_BYTES))
def test_model_loader_edited_bytes(data):
    _load_model_bytes(data)


# ---------------------------------------------------------------------------------------------- the scenario loader
SCENARIO_TEXT = (REPO / "scenarios" / "library" / "covid-2020.toml").read_bytes()
SCENARIO = tomllib.loads(SCENARIO_TEXT.decode())


def _toml_key(k: str) -> str:
    return json.dumps(k)


def _toml_value(v) -> str:
    if v is None:
        return '""'  # TOML has no null
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"


def toml_dumps(doc) -> str:
    """A TOML document of ``doc`` (top-level scalars, tables and arrays of tables; anything deeper inline)."""
    if not isinstance(doc, dict):
        return f"value = {_toml_value(doc)}\n"
    head, tail = [], []
    for k, v in doc.items():
        if isinstance(v, dict):
            tail.append(f"[{_toml_key(k)}]")
            tail += [f"{_toml_key(a)} = {_toml_value(b)}" for a, b in v.items()]
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for x in v:
                tail.append(f"[[{_toml_key(k)}]]")
                tail += [f"{_toml_key(a)} = {_toml_value(b)}" for a, b in x.items()]
        else:
            head.append(f"{_toml_key(k)} = {_toml_value(v)}")
    return "\n".join(head + tail) + "\n"


def _load_scenario_bytes(data: bytes) -> None:
    from scenarios.loader import load_scenario

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "scenario.toml"
        p.write_bytes(data)
        try:
            sc = load_scenario(p)
        except UserInputError:
            return
    assert sc.horizon_days >= 1 and sc.n_paths >= 1 and sc.name


def test_toml_writer_round_trips_the_library_scenario():
    assert tomllib.loads(toml_dumps(SCENARIO)) == SCENARIO


@SETTINGS
@given(mutated(SCENARIO))
def test_scenario_loader_mutated_documents(doc):
    _load_scenario_bytes(toml_dumps(doc).encode())


@SETTINGS
@given(edited(SCENARIO_TEXT))
def test_scenario_loader_edited_bytes(data):
    _load_scenario_bytes(data)


@SETTINGS
@given(st.dictionaries(st.sampled_from(["name", "description", "source", "horizon_days", "n_paths", "seed",
                                        "shocks", "portfolio", "outputs", "targets", "roles", "model"]),
                       JSON_VALUES, max_size=8))
def test_scenario_loader_arbitrary_documents(doc):
    _load_scenario_bytes(toml_dumps(doc).encode())


# ---------------------------------------------------------------------------------------------- the results reader
@pytest.fixture(scope="module")
def results_folder(tmp_path_factory):
    from tests.test_hostile import run_cli

    root = tmp_path_factory.mktemp("property-results") / "results"
    code, _, err = run_cli(["run", "baseline", "gfc-2008", "--model", "builtin:us-markets", "--paths", "100",
                            "--seed", "3", "--out", str(root)])
    assert code == 0, err
    return root


RESULT_JSON = ["gfc-2008/risk.json", "gfc-2008/manifest.json", "gfc-2008/model.json", "gfc-2008/scenario.json",
               "baseline/risk.json", "baseline/manifest.json"]
RESULT_PARQUET = ["gfc-2008/summary.parquet", "gfc-2008/pnl.parquet", "gfc-2008/fan.parquet",
                  "baseline/summary.parquet"]


def _rehash(folder: Path, rel: str) -> None:
    """Record the edited file's sha256 in its folder's manifest (when the manifest still reads)."""
    from simulator.io import sha256_file

    scen, name = rel.split("/")
    m = folder / scen / "manifest.json"
    try:
        data = json.loads(m.read_text())
        if name in data["outputs"]:
            data["outputs"][name] = sha256_file(folder / rel)
            m.write_text(json.dumps(data))
    except (ValueError, KeyError, TypeError, OSError):
        pass


def _read_results(folder: Path, *, report: bool = False) -> None:
    from simulator.results import load_results_tree

    try:
        runs = load_results_tree(folder)
        if report:
            from simulator.report.render import write_report

            write_report(folder, folder.parent / "report.html", tables_dir=folder.parent / "tables", charts=False)
    except UserInputError:
        return
    assert {r.name for r in runs} <= {"baseline", "gfc-2008"} and runs


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_results_reader_edited_files(results_folder, data):
    rel = data.draw(st.sampled_from(RESULT_JSON + RESULT_PARQUET))
    original = (results_folder / rel).read_bytes()
    if rel.endswith(".json") and data.draw(st.booleans()):
        new = _dumps(data.draw(mutated(json.loads(original))))
    else:
        new = data.draw(edited(original))
    rehash = not rel.endswith("manifest.json") and data.draw(st.booleans())
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d) / "results"
        shutil.copytree(results_folder, folder)
        (folder / rel).write_bytes(new)
        if rehash:
            _rehash(folder, rel)
        _read_results(folder)


@settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_report_renders_or_refuses_edited_results(results_folder, data):
    """The consumer of the reader: an edited results folder renders or is refused, one clean error."""
    rel = data.draw(st.sampled_from(["gfc-2008/risk.json", "gfc-2008/scenario.json", "gfc-2008/model.json"]))
    original = json.loads((results_folder / rel).read_bytes())
    new = _dumps(data.draw(mutated(original)))
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d) / "results"
        shutil.copytree(results_folder, folder)
        (folder / rel).write_bytes(new)
        _rehash(folder, rel)
        _read_results(folder, report=True)
