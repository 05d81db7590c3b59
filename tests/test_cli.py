"""The ``stress-sim`` command line as a whole: its registry of subcommands, help, closed pipes, and
the install hints it prints.

The registry is tested here once; other test files call ``simulator.cli.main`` as users do, without
patching ``SUBCOMMANDS`` (a dropped subcommand then fails their tests too, instead of being re-added).
"""
from __future__ import annotations

import importlib
import pkgutil
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import simulator.cli as cli

REPO = Path(__file__).resolve().parents[1]

#: what users type: the README (or docs/transactions.md) documents each of these
EXPECTED = ["simulate", "calibrate", "scenarios", "run", "report", "demo", "validate", "verify", "transactions",
            "validate-transactions", "reverse"]


def _command_modules() -> list[str]:
    """Modules of ``simulator.cli`` that define a subcommand (``add_parser`` and ``run``)."""
    out = []
    for info in pkgutil.iter_modules(cli.__path__):
        mod = importlib.import_module(f"simulator.cli.{info.name}")
        if hasattr(mod, "add_parser") and hasattr(mod, "run"):
            out.append(info.name)
    return out


def test_every_subcommand_module_is_registered_once():
    assert sorted(cli.SUBCOMMANDS) == sorted(_command_modules())
    assert len(set(cli.SUBCOMMANDS)) == len(cli.SUBCOMMANDS)


def test_the_parser_offers_exactly_the_documented_subcommands():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(EXPECTED)
    docs = (REPO / "README.md").read_text() + (REPO / "docs" / "transactions.md").read_text()
    for name in EXPECTED:
        assert f"stress-sim {name}" in docs, name


@pytest.mark.parametrize("name", EXPECTED)
def test_every_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([name, "--help"])
    assert exc.value.code == 0
    assert f"stress-sim {name}" in capsys.readouterr().out


def test_unknown_subcommand_is_one_line_and_status_2(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["simulat"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("stress-sim: error:") and err.count("\n") == 1


def test_a_closed_pipe_ends_quietly():
    """``stress-sim scenarios list | head`` with the reader gone before anything is written: no traceback."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from simulator.cli import main; sys.exit(main())",
                             "scenarios", "list"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader leaves at once (the child is still importing)
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 141  # as if killed by SIGPIPE
    assert err == ""


def test_install_hints_name_extras_that_exist():
    """Every ``pip install 'stress-sim[EXTRA]'`` the code prints names an extra of pyproject.toml."""
    extras = set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    found = []
    for package in ("simulator", "scenarios", "calibration"):
        for path in (REPO / package).rglob("*.py"):
            for extra in re.findall(r"stress-sim\[([\w,-]+)\]", path.read_text()):
                found.append(extra)
                for name in extra.split(","):
                    assert name in extras, f"{path.relative_to(REPO)} names extra [{name}]; pyproject has {sorted(extras)}"
    assert found  # the check looks at something


def test_report_dependency_hint_is_installable(monkeypatch):
    import importlib.util

    from simulator.exceptions import UserInputError
    from simulator.report.render import require_report_dependencies

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jinja2" else real(name, *a))
    with pytest.raises(UserInputError, match=r"pip install jinja2") as exc:
        require_report_dependencies()
    assert "[report]" not in str(exc.value)
