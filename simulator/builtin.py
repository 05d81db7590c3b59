"""Bundled example models (package data), loadable offline as ``builtin:NAME``."""
from __future__ import annotations

from importlib import resources

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
