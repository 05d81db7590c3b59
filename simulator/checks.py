"""Argument checks at the public boundary (DESIGN conventions 6 and 13): one place, one wording.

``TypeError`` for a wrong type, ``ValueError`` for a bad value, each naming the argument, what it got
and what would be valid. Booleans are never numbers here (``True`` is not a path count).
"""
from __future__ import annotations

import numbers
from typing import Any

__all__ = ["check_int", "check_real", "check_level", "check_levels"]


def check_int(value: Any, name: str, *, lo: int | None = 1, hi: int | None = None) -> int:
    """An integer (Python or numpy) in ``[lo, hi]`` (either bound optional), as ``int``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    v = int(value)
    if lo is not None and v < lo:
        raise ValueError(f"{name} must be >= {lo}, got {v}")
    if hi is not None and v > hi:
        raise ValueError(f"{name} must be <= {hi}, got {v}")
    return v


def check_real(value: Any, name: str, *, lo: float | None = None, hi: float | None = None) -> float:
    """A real number (Python or numpy) strictly between ``lo`` and ``hi`` (either bound optional), as ``float``.

    NaN is outside every interval; without bounds any float, infinities included, passes."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    v = float(value)
    if (lo is not None and not v > lo) or (hi is not None and not v < hi):
        lo_s = "-inf" if lo is None else f"{lo:g}"
        hi_s = "inf" if hi is None else f"{hi:g}"
        raise ValueError(f"{name} must lie in ({lo_s}, {hi_s}), got {v!r}")
    return v


def check_level(level: Any, name: str = "level") -> float:
    """A confidence level in (0, 1), such as 0.975 or 0.99."""
    if isinstance(level, bool) or not isinstance(level, numbers.Real):
        raise TypeError(f"{name} must be a float in (0, 1), got {type(level).__name__}")
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"{name} must be in (0, 1) (e.g. 0.975 or 0.99), got {level}")
    return level


def check_levels(levels: Any, name: str = "levels") -> tuple[float, ...]:
    """One confidence level or a non-empty sequence of them, as a tuple of floats."""
    if isinstance(levels, numbers.Real):
        levels = (levels,)
    try:
        out = tuple(check_level(lv, name) for lv in levels)
    except TypeError as exc:
        if "iterable" in str(exc):
            raise TypeError(f"{name} must be a float or a sequence of floats, got {type(levels).__name__}") from None
        raise
    if not out:
        raise ValueError(f"{name} must contain at least one confidence level, e.g. (0.975, 0.99)")
    return out
