"""Bundled example models (package data), loadable offline as ``builtin:NAME``, and :func:`load_model`
for a model named on a command line or in a scenario (a JSON path or ``builtin:NAME``)."""
from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from simulator.exceptions import UserInputError
from simulator.model import MarketModel


def builtin_model_names() -> list[str]:
    """Names of the bundled models."""
    files = resources.files("simulator") / "data"
    return sorted(p.name.removesuffix(".json") for p in files.iterdir() if p.name.endswith(".json"))


def load_builtin_model(name: str) -> MarketModel:
    """Load bundled model ``name`` (see :func:`builtin_model_names`)."""
    names = builtin_model_names()
    if name not in names:
        raise ValueError(f"unknown builtin model {name!r}; available: {', '.join(names)}")
    text = (resources.files("simulator") / "data" / f"{name}.json").read_text(encoding="utf-8")
    return MarketModel.from_json(text)


def load_model(spec: str | os.PathLike) -> MarketModel:
    """Load a model from a JSON path or a ``builtin:NAME`` bundled model.

    Raises
    ------
    UserInputError
        One line naming the file or the bundled names: no such file, or an invalid model.
    """
    spec = str(spec)
    try:
        if spec.startswith("builtin:"):
            return load_builtin_model(spec.split(":", 1)[1])
        path = Path(spec)
        if not path.exists():
            raise UserInputError(f"model file {spec!r} not found (give a model JSON path or builtin:NAME)")
        from simulator.safeio import check_regular_file

        check_regular_file(path, "model file")  # a directory, a device (/dev/zero) or a FIFO: one line, not a read
        return MarketModel.from_json(path)
    except UserInputError:
        raise
    except (ValueError, TypeError) as exc:
        raise UserInputError(str(exc)) from None
