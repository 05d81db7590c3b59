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


def interleaved_best(calls: dict[str, Callable[[], Any]], *, repeats: int = 3) -> dict[str, Timing]:
    """Time several contenders in rounds (A, B, C, A, B, C, ...) and keep each one's timings.

    On a shared machine, load from other processes comes and goes; interleaving exposes every
    contender to the same conditions, so ratios of the best times are fair.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, fn in calls.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: Timing(min(ts), tuple(ts)) for name, ts in times.items()}


@dataclass(frozen=True)
class ChildRun:
    """A finished child process: wall seconds, peak resident set size in bytes, exit code, output."""

    wall_s: float
    peak_rss_bytes: int
    returncode: int
    stdout: str
    stderr: str


# Runs the measured command and reports its wall time and RUSAGE_CHILDREN peak RSS as JSON. A
# child's ru_maxrss starts from the high-water mark of the process that spawned it (Linux keeps it
# across fork and exec), so the command must be spawned by this small launcher, not by a benchmark
# process that may have held gigabytes of paths a moment ago.
_LAUNCHER = """\
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
rc = subprocess.call(sys.argv[2:])
wall = time.perf_counter() - t0
with open(sys.argv[1], "w") as fh:
    json.dump({"returncode": rc, "wall_s": wall,
               "ru_maxrss": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}, fh)
"""


def run_measured(cmd: Sequence[str], *, cwd: Path | None = None, env: dict | None = None) -> ChildRun:
    """Run ``cmd`` in a subprocess and measure its wall time and peak RSS.

    The command is started by a minimal Python launcher that waits for it and reads
    ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``: the peak resident set size of the command
    itself (and of any children it waited for), unaffected by this process's own memory use.
    """
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "rusage.json"
        out_path, err_path = Path(tmp) / "stdout", Path(tmp) / "stderr"
        with open(out_path, "w") as out, open(err_path, "w") as err:
            proc = subprocess.Popen([sys.executable, "-c", _LAUNCHER, str(report), *cmd], stdout=out, stderr=err,
                                    cwd=cwd, env=env, start_new_session=True)
            try:
                proc.wait()
            except BaseException:
                os.killpg(proc.pid, 9)
                proc.wait()
                raise
        stdout, stderr = out_path.read_text(), err_path.read_text()
        if proc.returncode != 0 or not report.exists():
            raise RuntimeError(f"launcher failed (exit {proc.returncode}) running {list(cmd)!r}:\n{stderr[-4000:]}")
        rep = json.loads(report.read_text())
    return ChildRun(rep["wall_s"], _maxrss_bytes(rep["ru_maxrss"]), rep["returncode"], stdout, stderr)


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
