"""The shipped packages are self-contained: no file refers to material outside them.

Everything a user installs (``simulator/``, ``scenarios/``, ``calibration/``: code, scenario files,
bundled models and data, report templates) must stand on its own: citations name public primary
sources, never a working note of the development environment. This walks the package folders as
shipped (source, TOML, JSON, CSV and HTML files; caches such as ``__pycache__`` are not shipped).
"""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("simulator", "scenarios", "calibration")
SHIPPED_SUFFIXES = {".py", ".toml", ".json", ".csv", ".html"}
FORBIDDEN = ("REFERENCES.md", "/work/", "../shared")


def _shipped_files() -> list[Path]:
    out = []
    for pkg in PACKAGES:
        for p in sorted((ROOT / pkg).rglob("*")):
            if p.is_file() and p.suffix.lower() in SHIPPED_SUFFIXES and "__pycache__" not in p.parts:
                out.append(p)
    return out


def test_the_walk_finds_the_shipped_files():
    files = {p.relative_to(ROOT).as_posix() for p in _shipped_files()}
    # the walk sees code, the scenario library and the bundled models (so the check below bites)
    assert "simulator/runner.py" in files
    assert "scenarios/library/covid-2020.toml" in files
    assert "simulator/data/us-markets.json" in files
    assert sum(p.endswith(".toml") for p in files) >= 10


@pytest.mark.parametrize("path", _shipped_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_reference_outside_the_package(path):
    text = path.read_text(encoding="utf-8", errors="replace")
    hits = [s for s in FORBIDDEN if s in text]
    assert not hits, f"{path.relative_to(ROOT)} mentions {', '.join(map(repr, hits))}"
