"""Conventions stated once: the trading year and the default risk levels (:mod:`simulator.constants`),
argument checks (:mod:`simulator.checks`), seeds (:func:`simulator.seeding.seed_sequence`). A second copy
would drift; these tests find one."""
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



def test_argument_checks_speak_one_language():
    import numpy as np
    import pytest

    from simulator.checks import check_int, check_level, check_levels, check_real

    assert check_int(np.int64(3), "n") == 3 and type(check_int(np.int64(3), "n")) is int
    with pytest.raises(TypeError, match=r"n_paths must be an integer, got bool True"):
        check_int(True, "n_paths")
    with pytest.raises(ValueError, match=r"n_paths must be >= 1, got 0"):
        check_int(0, "n_paths")
    with pytest.raises(ValueError, match=r"k must be <= 5, got 6"):
        check_int(6, "k", hi=5)
    assert check_real(np.float32(0.25), "q", lo=0.0, hi=0.5) == 0.25
    with pytest.raises(ValueError, match=r"q must lie in \(0, 0.5\), got nan"):
        check_real(float("nan"), "q", lo=0.0, hi=0.5)
    with pytest.raises(TypeError, match="q must be a number"):
        check_real("0.1", "q")
    assert check_levels(0.99) == (0.99,) and check_levels([0.975, 0.99]) == (0.975, 0.99)
    with pytest.raises(ValueError, match=r"ci must be in \(0, 1\)"):
        check_level(1.0, "ci")
    with pytest.raises(ValueError, match="at least one"):
        check_levels([])


def test_public_functions_use_the_shared_checks():
    """No module keeps a private copy of the shared checks (they were written about 15 times)."""
    names = {"_check_count", "_check_positive", "_check_level", "_check_levels", "_check_int", "_check_prob",
             "_check_ci"}
    found = []
    for path, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name in names:
                found.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}")
    # not yet switched by their owners (the CUDA backend with the kernel interface work; transaction profiles)
    allowed = {"simulator/backends/cuda.py", "simulator/transactions/profiles.py"}
    assert [f for f in found if f.split(":")[0] not in allowed] == []


def test_one_seed_normaliser():
    """Only simulator.seeding turns a ``Generator`` into a seed (numpy's conventions, DESIGN convention 4)."""
    found = []
    for path, tree in _sources():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "isinstance"
                    and len(node.args) == 2 and "Generator" in ast.unparse(node.args[1])
                    and "seed" in ast.unparse(node.args[0])):
                found.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert [f.split(":")[0] for f in found] == ["simulator/seeding.py"], found
