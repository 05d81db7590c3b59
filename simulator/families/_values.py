"""Checks shared by the registry entries and the model parser: numbers and JSON keys, with errors that say where."""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from simulator.exceptions import brief


def choices(d: Mapping) -> str:
    """``'a', 'b', 'c'``: the keys of ``d`` for an error message."""
    return ", ".join(repr(k) for k in d)


def number(value: Any, where: str) -> float:
    """``value`` as a finite float; ``TypeError`` / ``ValueError`` naming ``where`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{where} must be a number, got {type(value).__name__} {brief(value)}")
    try:
        value = float(value)
    except OverflowError:  # an integer beyond the range of a float
        digits = int(int(value).bit_length() * 0.30103) + 1
        raise ValueError(f"{where} is an integer of about {digits} digits, beyond the range of a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{where} must be finite, got {value!r}")
    return value


def check_keys(obj: Any, allowed: tuple[str, ...], required: tuple[str, ...], where: str) -> None:
    """``obj`` is a mapping with only ``allowed`` keys and every ``required`` one."""
    if not isinstance(obj, Mapping):
        raise TypeError(f"{where} must be a JSON object, got {type(obj).__name__}")
    unknown = [k for k in obj if k not in allowed]
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(map(repr, allowed))}")
    missing = [k for k in required if k not in obj]
    if missing:
        raise ValueError(f"{where}: missing key(s) {', '.join(map(repr, missing))}")
