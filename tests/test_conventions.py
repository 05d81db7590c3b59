"""Conventions stated once: the trading year and the default risk levels (:mod:`simulator.constants`).
A second copy would drift; these tests find one."""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("simulator", "scenarios", "calibration")


def _sources():
    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            yield path, ast.parse(path.read_text(encoding="utf-8"))


def _literal(node):
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def test_default_levels_are_written_once():
    found = []
    for path, tree in _sources():
        if path.name == "constants.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Tuple, ast.List)) and _literal(node) in ((0.975, 0.99), [0.975, 0.99]):
                found.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert found == [], "use simulator.constants.DEFAULT_LEVELS"


def test_the_trading_year_is_defined_once():
    found = []
    for path, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and _literal(node.value) == 252:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                found += [f"{path.relative_to(REPO)}:{node.lineno}" for t in targets if isinstance(t, ast.Name)]
    assert found == ["simulator/constants.py:12"]

