"""Small helpers shared by the benchmarks: timing, peak memory of a child process, tables, JSON.

Nothing here is part of the stress-sim package; the benchmarks run from a checkout
(``python benchmarks/engine.py``) and import ``simulator`` from it.
"""
from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "benchmarks" / "results"


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of repeated calls: ``best`` (the figure we report), ``all`` (every repeat)."""

    best: float
    all: tuple[float, ...]

    def to_dict(self) -> dict:
        return {"best_s": self.best, "repeats_s": list(self.all)}


def best_of(fn: Callable[[], Any], *, repeats: int = 3) -> Timing:
    """Call ``fn`` ``repeats`` times and return the timings; the best one is the least disturbed
    by other processes on a shared machine."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return Timing(min(times), tuple(times))


@dataclass(frozen=True)
class ChildRun:
    """A finished child process: wall seconds, peak resident set size in bytes, exit code, output."""

    wall_s: float
    peak_rss_bytes: int
    returncode: int
    stdout: str
    stderr: str


def run_measured(cmd: Sequence[str], *, cwd: Path | None = None, env: dict | None = None) -> ChildRun:
    """Run ``cmd`` in a subprocess and measure its wall time and peak RSS.

    The peak comes from the child's own ``rusage`` (``ru_maxrss``, as
    ``resource.getrusage(RUSAGE_CHILDREN)`` would report it), collected with ``os.wait4`` on the
    child's pid so that earlier children of this process cannot inflate it.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(cmd), stdout=out, stderr=err, cwd=cwd, env=env)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # already reaped: keep Popen consistent
        out.seek(0)
        err.seek(0)
        return ChildRun(wall, _maxrss_bytes(usage.ru_maxrss), proc.returncode, out.read(), err.read())


def _maxrss_bytes(maxrss: int) -> int:
    # ru_maxrss is in kilobytes on Linux and in bytes on macOS.
    return int(maxrss) if sys.platform == "darwin" else int(maxrss) * 1024


def self_peak_rss_bytes() -> int:
    """Peak RSS of the current process so far, in bytes."""
    return _maxrss_bytes(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def machine_info() -> dict:
    """What the figures were measured on."""
    import numpy

    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "numpy": numpy.__version__,
    }
    try:
        info["memory_gib"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    try:
        info["load_average_1m"] = os.getloadavg()[0]
    except OSError:
        pass
    for line in _read_lines("/proc/cpuinfo"):
        if line.startswith("model name"):
            info["cpu_model"] = line.split(":", 1)[1].strip()
            break
    return info


def _read_lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers]] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule] + [line(r) for r in cells[1:]])


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if v == 0.0:
            return "0"
        if abs(v) >= 1e5:
            return f"{v:,.0f}"
        if abs(v) >= 100:
            return f"{v:.0f}"
        if abs(v) >= 1:
            return f"{v:.2f}"
        return f"{v:.3g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def write_json(path: str | os.PathLike, payload: dict) -> Path:
    """Write ``payload`` as indented JSON to ``path`` atomically (temporary file + rename).

    Parent folders are created. A relative name without folder goes to ``benchmarks/results/``.
    """
    target = Path(path)
    if target.parent == Path("."):
        target = RESULTS_DIR / target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(payload, fh, indent=2, allow_nan=True)
            fh.write("\n")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
