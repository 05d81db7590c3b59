"""One size estimator: work that would exhaust memory is refused up front, with the figure and the knob.

Every command that allocates in proportion to its inputs (paths x days x assets for ``simulate``, ``run``,
``validate``, ``reverse`` and ``verify``; customers x days for ``transactions``; assets squared for a model's
copula) asks :func:`check_memory` before it allocates. The estimate is the bytes of the arrays the job holds
at once (see :func:`simulation_bytes`); it is compared with the **memory limit**:

- ``--max-memory SIZE`` (every subcommand) or the environment variable ``STRESS_SIM_MAX_MEMORY`` (``SIZE``
  such as ``64G``, ``512M`` or a number of bytes) when given;
- otherwise 80 % of the memory available when the command starts (``MemAvailable`` of ``/proc/meminfo``,
  or the cgroup's remaining allowance when lower).

A job over the limit raises :class:`ResourceLimitError` (a :class:`~simulator.exceptions.UserInputError`:
exit status 2 on the command line), e.g. ``simulate needs about 74.5 GiB of memory (1,000,000,000 paths x
250 days x 3 assets of daily paths), more than the limit of 12.1 GiB (80% of the available memory); use fewer
--paths, a shorter --horizon or --keep summary, or raise the limit with --max-memory``.
"""
from __future__ import annotations

import math
import os
import re

from simulator.exceptions import UserInputError

__all__ = ["ResourceLimitError", "parse_size", "format_bytes", "available_memory", "memory_limit",
           "set_memory_limit", "check_memory", "simulation_bytes", "check_simulation", "check_sizes",
           "MAX_HORIZON", "MAX_PATHS", "DEFAULT_FRACTION"]

#: Share of the available memory a job may plan to use when no explicit limit is given.
DEFAULT_FRACTION = 0.8
#: Bounds independent of memory: days in one run (4,000 years of trading days) and paths in one run.
MAX_HORIZON = 1_000_000
MAX_PATHS = 1 << 48
_ENV = "STRESS_SIM_MAX_MEMORY"
_explicit: int | None = None
_UNITS = {"": 1, "B": 1, "K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10, "M": 1 << 20, "MB": 1 << 20, "MIB": 1 << 20,
          "G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30, "T": 1 << 40, "TB": 1 << 40, "TIB": 1 << 40}


class ResourceLimitError(UserInputError):
    """The job would need more memory (or more of another resource) than the limit allows."""


def parse_size(text: str) -> int:
    """``"64G"``, ``"512 MiB"``, ``"1.5T"`` or ``"1000000"`` as bytes (binary units); ``ValueError`` otherwise."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([A-Za-z]*)\s*", str(text))
    if not m or m.group(2).upper() not in _UNITS:
        raise ValueError(f"{text!r} is not a size; give bytes or a number with K, M, G or T (e.g. 64G)")
    value = float(m.group(1)) * _UNITS[m.group(2).upper()]
    if not math.isfinite(value) or value < 1 or value > 1 << 62:
        raise ValueError(f"{text!r} is not a usable size (1 byte to 4 EiB)")
    return int(value)


def format_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    n = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:,.0f} bytes" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} EiB"  # pragma: no cover


def _read_int(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as fh:
            text = fh.read().strip()
    except (OSError, ValueError):
        return None
    return int(text) if text.isdigit() else None


def available_memory() -> int | None:
    """Bytes of memory available to this process now (``MemAvailable``, bounded by a cgroup v2/v1 limit), or None."""
    avail = None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        avail = None
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = None
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        lim, used = _read_int(limit_file), _read_int(usage_file)
        if lim is not None and used is not None and lim < 1 << 60:
            room = max(0, lim - used)
            avail = room if avail is None else min(avail, room)
            break
    return avail


def set_memory_limit(limit: int | None) -> None:
    """Set the explicit limit in bytes for this process (``--max-memory``); None: back to the default."""
    global _explicit
    _explicit = None if limit is None else int(limit)


def memory_limit() -> tuple[int | None, str]:
    """``(bytes, how it was set)``: the explicit limit, else :data:`DEFAULT_FRACTION` of the available memory
    (None when the machine does not say how much is available)."""
    if _explicit is not None:
        return _explicit, "--max-memory"
    raw = os.environ.get(_ENV)
    if raw is not None and raw.strip():
        try:
            return parse_size(raw), _ENV
        except ValueError as exc:
            raise UserInputError(f"{_ENV}: {exc}") from None
    avail = available_memory()
    if avail is None:
        return None, "unknown"
    return int(avail * DEFAULT_FRACTION), f"{100 * DEFAULT_FRACTION:.0f}% of the available memory"


def check_memory(need: float, what: str, detail: str, knobs: str) -> None:
    """Refuse (:class:`ResourceLimitError`) when ``need`` bytes exceed the memory limit.

    ``what`` is the job ("simulate"), ``detail`` the sizes behind the figure ("1,000 paths x 250 days x 3
    assets of daily paths") and ``knobs`` the arguments that shrink it ("fewer --paths")."""
    limit, how = memory_limit()
    if limit is None or need <= limit:
        return
    raise ResourceLimitError(
        f"{what} needs about {format_bytes(need)} of memory ({detail}), more than the limit of {format_bytes(limit)} "
        f"({how}); {knobs}, or raise the limit with --max-memory SIZE (or {_ENV})")


def _fmt(n: int) -> str:
    return f"{int(n):,}"


def model_bytes(n_assets: int, n_sets: int = 1) -> int:
    """Memory of a compiled model: the copula's correlation and Cholesky factors (float64, ``a x a``, a few
    copies while they are built) and the quantile tables (about 40 KiB per asset and parameter set)."""
    a = int(n_assets)
    return n_sets * (6 * a * a * 8 + a * 40_960)


def simulation_bytes(n_paths: int, horizon: int, n_assets: int, *, keep: str, chunk_paths: int | None = None,
                     per_cell: int = 16, per_path_asset: int = 16, extra: int = 0) -> int:
    """Peak bytes of a simulation held in memory.

    ``keep="paths"``: returns and volatilities of every cell (``per_cell`` bytes; 16 for the engine alone,
    more when a job also builds tables or P&L from them); ``"summary"``/``"tail"``: one chunk's worth of cells
    plus ``per_path_asset`` bytes per path and asset (cumulative return and drawdown); plus the schedule's
    per-day arrays, the model and ``extra``."""
    n, h, a = int(n_paths), int(horizon), int(n_assets)
    schedule = 12 * h * a * 8 + 8 * h
    chunk = min(n, int(chunk_paths or 65_536))
    if keep == "paths":
        body = n * h * a * per_cell + n * a * per_path_asset + 8 * n
    elif keep == "tail":
        body = chunk * (a * 16 + 64) + 3 * max(1, n // 40) * 8
    else:
        body = n * a * per_path_asset + 8 * n + chunk * a * 16
    return body + schedule + model_bytes(a) + int(extra)


def check_sizes(*, n_paths: int | None = None, horizon: int | None = None, what: str = "the run") -> None:
    """Bounds that hold whatever the memory: :data:`MAX_PATHS` paths and :data:`MAX_HORIZON` days."""
    if n_paths is not None and n_paths > MAX_PATHS:
        raise ResourceLimitError(f"{what}: {_fmt(n_paths)} paths is more than the {_fmt(MAX_PATHS)} one run can index")
    if horizon is not None and horizon > MAX_HORIZON:
        raise ResourceLimitError(f"{what}: a horizon of {_fmt(horizon)} days is more than the {_fmt(MAX_HORIZON)} days "
                                 "a run may simulate")


def check_simulation(n_paths: int, horizon: int, n_assets: int, *, keep: str, what: str = "the simulation",
                     chunk_paths: int | None = None, per_cell: int = 16, per_path_asset: int = 16, extra: int = 0,
                     knobs: str | None = None) -> int:
    """:func:`check_sizes` and :func:`check_memory` for a simulation; returns the estimate in bytes."""
    check_sizes(n_paths=n_paths, horizon=horizon, what=what)
    need = simulation_bytes(n_paths, horizon, n_assets, keep=keep, chunk_paths=chunk_paths, per_cell=per_cell,
                            per_path_asset=per_path_asset, extra=extra)
    kept = {"paths": "of daily paths", "summary": "of per-path summaries", "tail": "streamed for tail risk"}[keep]
    detail = f"{_fmt(n_paths)} paths x {_fmt(horizon)} days x {_fmt(n_assets)} assets {kept}"
    if knobs is None:
        knobs = ("use fewer paths, a shorter horizon or keep summaries only" if keep == "paths"
                 else "use fewer paths or a shorter horizon")
    check_memory(need, what, detail, knobs)
    return need
