"""Layers point one way (DESIGN convention 12), checked on the source's import statements.

From the top down, a module may import modules of its own layer and of any layer below, never above::

    simulator (the package: the public API façade, re-exports from every layer)
    cli           simulator.cli, simulator.backends.cuda_build (a build tool run as a script)
    jobs          simulator.jobs: application logic the CLI calls (run a scenario, plan and execute
                  runs, verify a folder); the only simulator modules that read scenario files or prices
    calibration | scenarios   beside each other (neither imports the other); they import the layers below
    report        simulator.report
    runner/risk/results       runner, risk, results, tail, targets, backtest, transactions, instruments,
                              reverse, importance
    engine        simulator.engine (plans a run, hands its chunks to a backend), simulator.runstore
    backends      simulator.backends: where a chunk runs (the CPU chunk ``run_chunk``, Dask, CUDA); simulator.qmc
                  (the chunk's quasi-Monte Carlo points)
    model/schedule            model, schedule, shocks, roles, builtin, families
    kernels       simulator.kernels and simulator.tables (the quantile-table layout the kernels read)

The shared modules (exceptions, io, rng/seeding, constants, checks, and the hardening boundary: safeio for
input files, limits for the size estimator, outdir for the output transaction, _faults for the fault tests)
import no project module outside that set and may be imported from anywhere. Every import counts, also those
inside functions (a lazy import is still a dependency), except imports under ``if TYPE_CHECKING:`` (annotations only) and the deprecated aliases that a
module-level ``__getattr__`` resolves for old names. From the façade ``simulator`` a lower module may import
only ``__version__``.

The DESIGN map lists ``engine <- backends``; the code has it the other way round: ``simulate`` chooses a
backend, so the engine imports the backends, and the chunk function every backend runs (``run_chunk``)
lives in the backends, which import nothing of the engine.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("simulator", "scenarios", "calibration")

#: top to bottom: (layer, rank, module prefixes); a module belongs to the layer of its longest matching prefix.
#: Equal ranks are side by side: neither may import the other.
LAYERS: list[tuple[str, int, tuple[str, ...]]] = [
    ("api", 10, ("simulator",)),  # the package __init__ only (every submodule matches a longer prefix)
    ("cli", 9, ("simulator.cli", "simulator.backends.cuda_build")),
    ("jobs", 8, ("simulator.jobs",)),
    ("calibration", 7, ("calibration",)),
    ("scenarios", 7, ("scenarios",)),
    ("report", 6, ("simulator.report",)),
    ("runner/risk/results", 5, ("simulator.runner", "simulator.risk", "simulator.scenario_risk", "simulator.results",
                                "simulator.results_schema", "simulator.tail", "simulator.chunked_risk",
                                "simulator.targets", "simulator.backtest", "simulator.transactions",
                                "simulator.instruments", "simulator.reverse", "simulator.book_risk",
                                "simulator.importance")),
    ("engine", 4, ("simulator.engine", "simulator.runstore")),
    ("backends", 3, ("simulator.backends", "simulator.qmc")),
    ("model/schedule", 2, ("simulator.model", "simulator.schedule", "simulator.shocks", "simulator.roles",
                           "simulator.builtin", "simulator.families")),
    ("kernels", 1, ("simulator.kernels", "simulator.tables")),
]
RANK = {name: rank for name, rank, _ in LAYERS}
#: importable from every layer; they import no other project module
SHARED = ("simulator.exceptions", "simulator.io", "simulator.rng", "simulator.seeding", "simulator.constants",
          "simulator.checks", "simulator.safeio", "simulator.limits", "simulator.outdir", "simulator._faults")

#: (importer, imported) pairs not yet moved, each with the work that removes it. Keep this short.
KNOWN = {
    ("simulator.transactions.market", "simulator"):
        "market_from_scenario runs a scenario through the public API; it belongs with the jobs (transactions owner)",
}


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer_of(module: str) -> str | None:
    """The layer of a module, or None for a shared module."""
    if any(_within(module, s) for s in SHARED):
        return None
    best, best_len = None, -1
    for name, _, prefixes in LAYERS:
        for p in prefixes:
            if _within(module, p) and len(p) > best_len:
                best, best_len = name, len(p)
    if best is None or (best == "api" and module != "simulator"):
        raise AssertionError(f"{module} is in no layer: add it to LAYERS or SHARED in tests/test_layers.py")
    return best


def violation(importer: str, imported: str, name: str = "") -> str | None:
    """Why ``importer`` may not import ``imported`` (``name`` from it), or None when it may."""
    src, dst = layer_of(importer), layer_of(imported)
    if src is None:
        return None if dst is None else f"shared module {importer} imports {imported} ({dst})"
    if dst is None or src == dst or src == "api":
        return None
    if dst == "api":
        return None if name == "__version__" else f"{importer} imports {name or 'the package'} from the façade"
    if RANK[dst] < RANK[src]:
        return None
    where = "beside it" if RANK[dst] == RANK[src] else "above it"
    return f"{importer} ({src}) imports {imported} ({dst}, {where})"


def _module_name(path: Path, root: Path = REPO) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _is_module(name: str, root: Path) -> bool:
    p = root / Path(*name.split("."))
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def project_imports(path: Path, root: Path = REPO) -> list[tuple[str, str, int]]:
    """``(imported module, imported name or "", line)`` for every project import in ``path`` that runs at some
    point: at module level and inside functions; not under ``if TYPE_CHECKING:``, not in a module-level
    ``__getattr__`` (the lazy deprecated aliases of moved names)."""
    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skip: set[int] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
            skip |= {id(n) for n in ast.walk(node)}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            skip |= {id(n) for b in node.body for n in ast.walk(b)}
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(a.name, "", node.lineno) for a in node.names if a.name.split(".")[0] in PACKAGES]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] not in PACKAGES:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if _is_module(sub, root):
                    out.append((sub, "", node.lineno))  # ``from package import submodule``
                else:
                    out.append((target, alias.name, node.lineno))
    return out


def _sources() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py"))


def violations() -> list[str]:
    """Every import that points up or sideways, as ``file:line: why``."""
    found = []
    for path in _sources():
        importer = _module_name(path)
        for imported, name, line in project_imports(path):
            why = violation(importer, imported, name)
            if why and (importer, imported) not in KNOWN:
                found.append(f"{path.relative_to(REPO)}:{line}: {why}")
    return found


def test_every_import_points_down():
    assert violations() == []


def test_every_module_has_a_layer():
    for path in _sources():
        layer_of(_module_name(path))  # raises for a module in no layer


def test_known_exceptions_name_real_modules():
    for importer, imported in KNOWN:
        assert _is_module(importer, REPO) and _is_module(imported, REPO), (importer, imported)


@pytest.mark.parametrize("importer,imported,name,bad", [
    ("simulator.engine", "simulator.results", "", True),               # engine -> results: up
    ("simulator.model", "simulator.engine", "", True),
    ("simulator.backends", "simulator.engine", "", True),              # the cycle run_chunk used to make
    ("simulator.shocks", "calibration.data", "", True),                # simulator -> calibration
    ("simulator.runner", "scenarios.loader", "", True),                # simulator -> scenarios
    ("simulator.report.render", "scenarios.loader", "", True),
    ("scenarios.loader", "calibration.data", "", True),                # side by side
    ("calibration.validate", "scenarios.loader", "", True),
    ("calibration.validate", "simulator.jobs", "", True),
    ("simulator.kernels.paths", "simulator.model", "", True),
    ("simulator.io", "simulator.model", "", True),                     # shared -> project
    ("simulator.engine", "simulator", "run_scenario", True),           # the façade, from below
    ("simulator.cli.run", "simulator", "run_scenario", True),
    ("simulator.engine", "simulator", "__version__", False),
    ("simulator.engine", "simulator.backends", "", False),
    ("simulator.kernels.paths", "simulator.tables", "", False),
    ("simulator.cli.run", "simulator.jobs.runs", "", False),
    ("simulator.jobs.scenario", "scenarios.loader", "", False),
    ("simulator.jobs.scenario", "calibration.data", "", False),
    ("calibration.validate", "simulator.engine", "", False),
    ("scenarios.loader", "simulator.io", "", False),
    ("simulator", "simulator.jobs.scenario", "", False),                # the façade re-exports
])
def test_the_rule(importer, imported, name, bad):
    assert (violation(importer, imported, name) is not None) is bad


def test_the_import_reader(tmp_path):
    """Lazy imports count; TYPE_CHECKING imports and ``__getattr__`` aliases do not; relative imports and
    ``from package import submodule`` resolve to modules."""
    (tmp_path / "simulator" / "jobs").mkdir(parents=True)
    (tmp_path / "simulator" / "__init__.py").write_text("")
    (tmp_path / "simulator" / "jobs" / "__init__.py").write_text("")
    (tmp_path / "simulator" / "io.py").write_text("")
    mod = tmp_path / "simulator" / "engine.py"
    mod.write_text(
        "from typing import TYPE_CHECKING\n"
        "from . import io\n"
        "from .model import MarketModel\n"
        "if TYPE_CHECKING:\n    from scenarios.spec import Scenario\n"
        "def f():\n    from simulator.results import write_results\n"
        "def __getattr__(name):\n    from simulator.jobs import run_scenario\n"
        "import numpy\n")
    got = [(m, n) for m, n, _ in project_imports(mod, tmp_path)]
    assert got == [("simulator.io", ""), ("simulator.model", "MarketModel"), ("simulator.results", "write_results")]
