"""The ``stress-sim`` command line: one subcommand per module in this package.

Each subcommand module defines ``add_parser(subparsers)`` and ``run(args) -> int``. Bad input raises
:class:`simulator.exceptions.UserInputError` (or ``ValueError``/``FileNotFoundError`` from a boundary
check); the dispatcher prints a one-line ``stress-sim: error: ...`` and exits with status 2.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

SUBCOMMANDS = [
    "simulate",
    "calibrate",
    "scenarios",
    "run",
    "report",
    "demo",
    "validate",
    "verify",
    "transactions",
    "validate_transactions",
    "reverse",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors: one line, exit 2
        self.exit(2, f"stress-sim: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="stress-sim", description="Financial stress-scenario simulator.")
    from simulator import __version__

    parser.add_argument("--version", action="version", version=f"stress-sim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in SUBCOMMANDS:
        importlib.import_module(f"simulator.cli.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        status = _main(argv)
        sys.stdout.flush()  # inside the try: a closed pipe surfaces here, not at interpreter exit
        return status
    except BrokenPipeError:
        return _closed_pipe()


def _closed_pipe() -> int:
    """The reader of our output went away (``stress-sim scenarios list | head``): end quietly.

    Python's own recipe: point stdout at devnull so the interpreter's final flush cannot raise
    again, and exit as a process killed by SIGPIPE does (128 + 13), like other Unix tools."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (captured in tests)
        pass
    return 141


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from simulator.exceptions import UserInputError

    try:
        return int(args.func(args) or 0)
    except (UserInputError, FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
        print(f"stress-sim: error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # validation errors raised at a public boundary
        print(f"stress-sim: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stress-sim: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
