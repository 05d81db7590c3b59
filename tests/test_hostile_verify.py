"""The tamper corpus of ``stress-sim verify`` (``tests/hostile/verify/``: ``tamper.toml`` and ``tamper.py``).

Every published file of a scenario run, a book run, a demo folder, a reverse stress test and a ``simulate
--positions`` folder is edited as a forger would, with and without the manifest's sha256 updated to match, and
``stress-sim verify`` must exit 1 naming the file, the key and both values; untouched folders exit 0; folders
that cannot be verified at all exit 2. Cases run in-process (``simulator.cli.main``); each prepared folder is
built once per module, when a selected case needs it, and copied afresh for each case.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import inspect
import io
import shutil
import tomllib
from pathlib import Path
from typing import Callable

import pytest

from simulator import cli
from tests.conftest import within

HERE = Path(__file__).resolve().parent / "hostile" / "verify"
KEYS = {"id", "base", "edit", "files", "rehash", "verify", "exit", "message", "stdout"}


def _load_tamper():
    spec = importlib.util.spec_from_file_location("hostile_verify_tamper", HERE / "tamper.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tamper = _load_tamper()
CASES: list[dict] = tomllib.loads((HERE / "tamper.toml").read_text(encoding="utf-8"))["case"]


def _edit(name: str) -> Callable[[Path], None]:
    return getattr(tamper, name.replace("-", "_"))


def run_cli(*argv: str) -> tuple[int, str, str]:
    """``stress-sim ARGV`` in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(list(argv))
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
    return int(code), out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Callable[[str], Path]:
    """``prepared(base)``: the folder holding the prepared ``base`` (built on first use)."""
    built: dict[str, Path] = {}

    def get(base: str) -> Path:
        if base not in built:
            root = tmp_path_factory.mktemp(f"prepared-{base}")

            def call(*argv: str) -> int:
                code, out, err = run_cli(*argv)
                assert code == 0, (argv, out[-2000:], err[-2000:])
                return code
            tamper.BASES[base](root, call)
            built[base] = root
        return built[base]
    return get


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------- the corpus
def test_the_corpus_is_well_formed():
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    for c in CASES:
        assert set(c) <= KEYS, (c["id"], set(c) - KEYS)
        assert c["base"] in tamper.BASES, c["id"]
        assert callable(_edit(c["edit"])), c["id"]
        assert c["exit"] in (0, 1, 2), c["id"]
        assert c.get("message") or c.get("stdout"), c["id"]
        for f in c.get("files", []):
            assert f.startswith(c["base"] + "/"), (c["id"], f)
    # every edit of tamper.py is used by a case (no dead forgeries)
    edits = {n for n, f in vars(tamper).items() if inspect.isfunction(f) and f.__module__ == tamper.__name__
             and list(inspect.signature(f).parameters) == ["root"] and not n.startswith("_")}
    used = {c["edit"].replace("-", "_") for c in CASES}
    assert edits <= used, sorted(edits - used)


def _published(root: Path) -> set[str]:
    """Every file the manifests below ``root`` list, relative to its run folder (``risk.json``, ``tables/x.csv``),
    and ``manifest.json``."""
    import json

    names = {"manifest.json"}
    for man in root.rglob("manifest.json"):
        names |= set(json.loads(man.read_text())["outputs"])
    return names


def test_every_published_file_is_forged_with_and_without_a_rehash(prepared):
    published: set[str] = set()
    for base in tamper.BASES:
        published |= _published(prepared(base))
    covered: dict[bool, set[str]] = {True: set(), False: set()}
    for c in CASES:
        for f in c.get("files", []):
            folder = tamper.run_folder((prepared(c["base"]) / f).parent)
            covered[bool(c.get("rehash", False))].add((prepared(c["base"]) / f).relative_to(folder).as_posix())
    assert published - {"manifest.json"} <= covered[True], sorted(published - {"manifest.json"} - covered[True])
    assert published <= covered[False], sorted(published - covered[False])  # manifest.json: not hashed itself


# ---------------------------------------------------------------------------------------------- the cases
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_tamper_case(case, prepared, tmp_path):
    src = prepared(case["base"])
    shutil.copytree(src / case["base"], tmp_path / case["base"], symlinks=True)
    _edit(case["edit"])(tmp_path)
    for f in case.get("files", []):  # the forgery took effect
        edited, original = tmp_path / f, src / f
        assert not edited.is_file() or not original.is_file() or _sha(edited) != _sha(original), f
    if case.get("rehash"):
        for folder in dict.fromkeys(tamper.run_folder((tmp_path / f).parent) for f in case["files"]):
            tamper.rehash(folder)
    code, out, err = within(120, run_cli, "verify", str(tmp_path / case.get("verify", case["base"])),
                            "--sample-seed", "1")
    text = out + err
    assert "Traceback" not in text and "internal error" not in text, text[-3000:]
    assert code == case["exit"], (code, out[-3000:], err[-2000:])
    if code == 0:
        assert case["stdout"] in out, out[-3000:]
        assert "differs:" not in out and "MISMATCH" not in out
        return
    if code == 1:
        lines = [line.strip()[len("differs: "):] for line in out.splitlines() if line.strip().startswith("differs:")]
        assert "verification FAILED" in err
    else:
        lines = [line for line in err.splitlines() if line.startswith("stress-sim: error:")]
        assert len(lines) == 1 and err.strip() == lines[0], err
    for fragment in case["message"]:
        assert any(fragment in line for line in lines), (fragment, lines)
