"""Helpers shared by CLI subcommands: argument checks and loading models with user-facing errors."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from simulator.builtin import load_model as load_model  # noqa: F401 - the CLI modules' model loader
from simulator.exceptions import UserInputError


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def output_dir(path: str) -> Path:
    """Check an output directory argument (it may exist; it must not be a file)."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UserInputError(f"--out {path!r} exists and is not a directory")
    return out


def show_progress() -> bool:
    """Progress bars only on an interactive terminal."""
    return sys.stderr.isatty()
