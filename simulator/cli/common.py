"""Helpers shared by CLI subcommands: argument checks and loading models with user-facing errors."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

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


def load_model(spec: str):
    """Load a model from a JSON path or a ``builtin:NAME`` bundled model, as a UserInputError on failure."""
    from simulator.model import MarketModel

    try:
        if spec.startswith("builtin:"):
            from simulator.builtin import load_builtin_model

            return load_builtin_model(spec.split(":", 1)[1])
        path = Path(spec)
        if not path.is_file():
            raise UserInputError(f"model file {spec!r} not found (give a model JSON path or builtin:NAME)")
        return MarketModel.from_json(path)
    except UserInputError:
        raise
    except (ValueError, TypeError) as exc:
        raise UserInputError(str(exc)) from None


def output_dir(path: str) -> Path:
    """Check an output directory argument (it may exist; it must not be a file)."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UserInputError(f"--out {path!r} exists and is not a directory")
    return out


def show_progress() -> bool:
    """Progress bars only on an interactive terminal."""
    return sys.stderr.isatty()
