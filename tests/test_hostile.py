"""The hostile corpus (``tests/hostile/``, see its README): every case gives its exit status and one-line
message, no traceback, and leaves what it must leave untouched.

Cases run in-process through ``simulator.cli.main`` (a subprocess per case would cost a second of imports each);
the results folders, simulations, feeds and checkpoints that cases tamper with are built once per module.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import tomllib
from pathlib import Path

import pytest

from simulator import cli

HERE = Path(__file__).resolve().parent / "hostile"
CLASSES = {"output-dir", "size", "invalid-model", "results-schema", "dates", "os-error", "parser-limits",
           "injection", "labels", "bad-input", "interrupt", "tamper"}
KEYS = {"id", "class", "args", "file", "exit", "message", "setup", "patch", "mkdir", "write", "symlink", "env",
        "untouched", "absent", "stdout", "note", "exact", "contains", "lacks"}


def load_cases() -> list[dict]:
    cases = []
    for table in sorted(HERE.glob("*/cases.toml")):
        data = tomllib.loads(table.read_text(encoding="utf-8"))
        for case in data.get("case", []):
            cases.append({**case, "_area": table.parent})
    return cases


CASES = load_cases()


def test_the_corpus_is_large_and_well_formed():
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    assert len(CASES) >= 150
    for c in CASES:
        assert set(c) - {"_area"} <= KEYS, (c["id"], set(c) - KEYS - {"_area"})
        assert c["class"] in CLASSES, (c["id"], c["class"])
        assert isinstance(c["exit"], int) and c["args"], c["id"]
        if "file" in c:
            assert (c["_area"] / c["file"]).exists(), (c["id"], c["file"])
    # every case file is used by a case (no orphans)
    for area in {c["_area"] for c in CASES}:
        used = {c["file"] for c in CASES if c["_area"] == area and "file" in c}
        files = {p.name for p in area.iterdir() if p.is_file() and p.name not in ("cases.toml", "README.md")}
        assert files <= used | {p for p in files if p.startswith("_")}, (area.name, sorted(files - used))


# ---------------------------------------------------------------------------------------------- running
def run_cli(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """``stress-sim ARGV`` in this process: (exit status, stdout, stderr)."""
    from simulator import _faults

    _faults._counts.clear()
    old = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(argv)
            except SystemExit as exc:  # argparse
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return int(code), out.getvalue(), err.getvalue()


SETUP_COMMANDS = {
    "model": None,
    "sim": [["simulate", "builtin:example", "--paths", "40", "--horizon", "5", "--seed", "1", "--out", "{d}/sim"]],
    "results": [["run", "baseline", "gfc-2008", "--model", "builtin:us-markets", "--paths", "200", "--seed", "3",
                 "--out", "{d}/results"]],
    "feed": [["transactions", "--customers", "30", "--days", "2", "--seed", "1", "--no-progress", "--out", "{d}/feed"]],
    "checkpoint": [["simulate", "builtin:example", "--paths", "60", "--horizon", "4", "--seed", "5", "--chunk-paths",
                    "10", "--out", "{d}/ck"]],
}


@pytest.fixture(scope="module")
def setups(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile-setups")
    built: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in built:
            d = root / name
            d.mkdir()
            if name == "model":
                from simulator.builtin import load_builtin_model

                load_builtin_model("example").to_json(d / "model.json")
            elif name == "checkpoint":  # interrupted after three of six chunks: OUT/checkpoint holds them
                argv = [a.replace("{d}", str(d)) for a in SETUP_COMMANDS[name][0]]
                code, _, err = run_cli(argv, {"STRESS_SIM_FAULT": "chunk@3=int"})
                assert code == 130, err
                assert (d / "ck" / "checkpoint" / "index.jsonl").is_file()
            else:
                for argv in SETUP_COMMANDS[name]:
                    code, _, err = run_cli([a.replace("{d}", str(d)) for a in argv])
                    assert code == 0, err
            built[name] = d
        return built[name]

    return get


def _sub(text: str, case: dict, tmp: Path) -> str:
    area = case["_area"]
    out = text.replace("{tmp}", str(tmp)).replace("{here}", str(area))
    if "file" in case:
        out = out.replace("{case}", str(area / case["file"]))
    return out


def _snapshot(path: Path):
    """sha256 of a file, or of every file of a folder (by relative path). In a folder, ``checkpoint/`` folders are
    left out: an interrupted or failed ``simulate`` (``run``) leaves its checkpoint in ``OUT/checkpoint``
    (``OUT/<scenario>/checkpoint``) for ``--resume``; snapshot the checkpoint folder itself to compare it."""
    if path.is_symlink():
        return ("link", os.readlink(path))
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    if path.is_dir():
        return {str(p.relative_to(path)): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir")
                for p in sorted(path.rglob("*")) if "checkpoint" not in p.relative_to(path).parts}
    return None


def _set(obj, dotted: str, value, *, delete: bool = False) -> None:
    """Set (or delete) the dotted key path ``dotted`` of ``obj``; numbers index lists, and a key holding dots
    (``outputs.risk.json``) is matched whole, the longest existing key first; a missing last key is created."""
    parts = dotted.split(".")
    i = 0
    while True:
        if isinstance(obj, list):
            key, i = int(parts[i]), i + 1
        else:
            key = None
            for j in range(len(parts), i, -1):
                if ".".join(parts[i:j]) in obj:
                    key, i = ".".join(parts[i:j]), j
                    break
            if key is None:
                key, i = ".".join(parts[i:]), len(parts)
        if i == len(parts):
            break
        obj = obj[key]
    if delete:
        del obj[key]
    else:
        obj[key] = value


def _rehash(target: Path, stop: Path) -> None:
    d = target.parent
    while True:
        for name in ("manifest.json", "_manifest.json"):
            m = d / name
            if m.is_file() and m != target:
                data = json.loads(m.read_text(encoding="utf-8"))
                rel = str(target.relative_to(d))
                if rel in (data.get("outputs") or {}):
                    data["outputs"][rel] = hashlib.sha256(target.read_bytes()).hexdigest()
                    m.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
                    return
        if d == stop or d.parent == d:
            return
        d = d.parent


def _apply_patch(patch: dict, case: dict, tmp: Path) -> None:
    target = Path(_sub(patch["file"], case, tmp))
    if patch.get("from_case"):
        shutil.copyfile(case["_area"] / case["file"], target)
    elif "raw" in patch:
        target.write_text(patch["raw"], encoding="utf-8")
    elif "raw_bytes_hex" in patch:
        target.write_bytes(bytes.fromhex(patch["raw_bytes_hex"]))
    else:
        data = json.loads(target.read_text(encoding="utf-8"))
        for key in patch.get("delete", []):
            _set(data, key, None, delete=True)
        for key, value in (patch.get("set") or {}).items():
            if isinstance(value, str) and value.startswith("json:"):
                value = json.loads(value[5:])
            if key == "":
                data = value
            else:
                _set(data, key, value)
        target.write_text(json.dumps(data, indent=1), encoding="utf-8")
    if patch.get("rehash"):
        _rehash(target, tmp)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case, tmp_path, setups):
    tmp = tmp_path
    if "setup" in case:
        names = case["setup"] if isinstance(case["setup"], list) else [case["setup"]]
        for name in names:
            src = setups(name)
            for p in src.iterdir():
                (shutil.copytree if p.is_dir() else shutil.copy2)(p, tmp / p.name)
    for d in case.get("mkdir", []):
        Path(_sub(d, case, tmp)).mkdir(parents=True, exist_ok=True)
    for w in case.get("write", []):
        p = Path(_sub(w["path"], case, tmp))
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(_sub(w.get("text", ""), case, tmp), encoding="utf-8")
    for link in case.get("symlink", []):
        p = Path(_sub(link["path"], case, tmp))
        p.parent.mkdir(parents=True, exist_ok=True)
        if p.is_symlink() or p.is_file():  # replaces a file of the setup
            p.unlink()
        p.symlink_to(_sub(link["target"], case, tmp))
    patches = case.get("patch", [])
    for patch in patches if isinstance(patches, list) else [patches]:
        _apply_patch(patch, case, tmp)
    untouched = {p: _snapshot(Path(_sub(p, case, tmp))) for p in case.get("untouched", [])}
    env = {k: _sub(str(v), case, tmp) for k, v in (case.get("env") or {}).items()}

    code, out, err = run_cli([_sub(a, case, tmp) for a in case["args"]], env)

    assert "Traceback" not in err and "internal error" not in err, err
    assert code == case["exit"], f"exit {code}, expected {case['exit']}: {err.strip()[-600:]}"
    if code not in (0, 130, 143):
        lines = [ln for ln in err.splitlines() if ln.startswith("stress-sim: error:")]
        assert len(lines) == 1, err
        tail = err[err.index(lines[0]):].strip()
        assert tail == lines[0], f"the error is not the last line: {err!r}"
    if "message" in case:
        assert case["message"].lower() in (err + out).lower(), f"{case['message']!r} not in: {err.strip()[-800:]}"
    if "stdout" in case:
        assert case["stdout"] in out
    for p, before in untouched.items():
        assert _snapshot(Path(_sub(p, case, tmp))) == before, f"{p} changed"
    for p in case.get("absent", []):
        assert not Path(_sub(p, case, tmp)).exists(), f"{p} exists"
    for check in case.get("contains", []):  # {path, text}: a written file holds the text (escaped user text)
        text = Path(_sub(check["path"], case, tmp)).read_text(encoding="utf-8")
        assert _sub(check["text"], case, tmp) in text, f"{check['text']!r} not in {check['path']}"
    for check in case.get("lacks", []):  # {path, text}: ... and not the raw payload
        text = Path(_sub(check["path"], case, tmp)).read_text(encoding="utf-8")
        assert _sub(check["text"], case, tmp) not in text, f"{check['text']!r} in {check['path']}"
    # no staging folder is ever left behind by a finished command
    leftovers = [str(p) for p in tmp.rglob(".stress-sim-*.stage")]
    assert not leftovers, leftovers


def test_day_first_dates_named_give_the_model_of_iso_dates(tmp_path):
    """Class 5: the same prices with day-first dates (and --date-format) give byte for byte the ISO model."""
    prices = HERE / "prices"
    outs = []
    for name, extra in (("prices_day_first_with_format.csv", ["--date-format", "%d/%m/%Y"]),
                        ("prices_same_offset_accepted.csv", [])):
        out = tmp_path / f"{len(outs)}.json"
        code, _, err = run_cli(["calibrate", str(prices / name), "--out", str(out), "--vol", "garch", "--dist",
                                "normal", "--copula", "gaussian", "--quiet", *extra])
        assert code == 0, err
        outs.append(json.loads(out.read_text()))
    iso = tmp_path / "iso.csv"
    text = (prices / "prices_same_offset_accepted.csv").read_text()
    iso.write_text(text.replace("T16:00:00-05:00", ""))
    code, _, err = run_cli(["calibrate", str(iso), "--out", str(tmp_path / "iso.json"), "--vol", "garch", "--dist",
                            "normal", "--copula", "gaussian", "--quiet"])
    assert code == 0, err
    reference = json.loads((tmp_path / "iso.json").read_text())
    for model in outs:
        for m in (model, reference):
            m.pop("provenance", None)
        assert model == reference
