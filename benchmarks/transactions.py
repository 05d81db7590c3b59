"""Benchmark: synthetic transaction feeds (``simulator.transactions.generate_transactions``).

Measures, pinned to 2 CPU cores (the target machine):

1. throughput in labelled rows per second of the default ``cards`` profile and of ``mobile-money``
   (Arrow record batches fully materialised, labels included), with 1 and 2 threads, best of
   ``--repeats`` after a warm-up that loads the numba kernels; rows per second count emitted rows, the
   seven burn-in days generated before them (not emitted) included in the time;
2. ``stress-sim transactions --out DIR`` end to end (Parquet zstd by day, manifest with hashes);
3. memory for a long run (``--memory-rows``, 100 million by default) in a child process: peak RSS
   reported at checkpoints while the stream is consumed batch by batch; it must stay flat (bounded
   by the batch size and the population, not by the number of rows).

Usage::

    python benchmarks/transactions.py           # full run -> benchmarks/results/transactions.json
    python benchmarks/transactions.py --quick   # small sizes (transactions-quick.json)
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

_MEMORY_CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {repo!r})
from simulator.transactions import generate_transactions
target, customers, batch_rows = {rows}, {customers}, {batch_rows}
days = max(1, int(round(target / (1.5 * customers))))
s = generate_transactions("cards", customers=customers, days=days, seed=1, batch_rows=batch_rows)
after_setup = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
n, marks, t0 = 0, [], time.perf_counter()
next_mark = target / 10
for b in s:
    n += b.num_rows
    if n >= next_mark:
        marks.append([n, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024])
        next_mark += target / 10
wall = time.perf_counter() - t0
print(json.dumps({{"rows": n, "days": days, "customers": customers, "wall_s": wall,
                  "rss_after_setup_bytes": after_setup, "checkpoints": marks,
                  "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}}))
"""


def pin_two_cores() -> list[int]:
    try:
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, set(cpus[:2]))
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return []


def throughput(profile: str, customers: int, days: int, n_threads: int, repeats: int) -> dict:
    from simulator.transactions import generate_transactions

    best, rows, fraud = None, 0, 0
    for _ in range(repeats):
        s = generate_transactions(profile, customers=customers, days=days, seed=7, n_threads=n_threads)
        t0 = time.perf_counter()
        rows = fraud = 0
        for b in s:
            rows += b.num_rows
            fraud += int(b.column("is_fraud").to_numpy(zero_copy_only=False).sum())
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return {"profile": profile, "customers": customers, "days": days, "threads": n_threads, "rows": rows,
            "fraud_rows": fraud, "best_s": best, "rows_per_s": rows / best}


def with_parquet(profile: str, customers: int, days: int, repeats: int) -> dict:
    """The CLI end to end (``stress-sim transactions ... --out DIR``): generation, day partitions,
    Parquet written on a second thread, manifest with file hashes."""
    import argparse

    from simulator.cli import transactions as cli

    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers())
    best, rows = None, 0
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            args = parser.parse_args(["transactions", "--profile", profile, "--customers", str(customers),
                                      "--days", str(days), "--seed", "7", "--no-progress",
                                      "--out", str(Path(tmp) / "feed")])
            t0 = time.perf_counter()
            with contextlib.redirect_stderr(io.StringIO()):
                args.func(args)
            dt = time.perf_counter() - t0
            rows = json.loads((Path(tmp) / "feed" / "_manifest.json").read_text())["rows"]
        best = dt if best is None else min(best, dt)
    return {"profile": profile, "rows": rows, "best_s": best, "rows_per_s": rows / best}


def memory(rows: int, customers: int, batch_rows: int) -> dict:
    code = _MEMORY_CHILD.format(repo=str(REPO), rows=rows, customers=customers, batch_rows=batch_rows)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes for smoke testing")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--memory-rows", type=float, default=1e8, help="rows of the memory run (default 1e8)")
    args = ap.parse_args(argv)
    cpus = pin_two_cores()
    import numpy as np
    import pyarrow

    from simulator.transactions import generate_transactions

    list(generate_transactions("mobile-money", customers=200, days=1, seed=0))  # warm-up: numba cache
    list(generate_transactions("cards", customers=200, days=1, seed=0))
    customers, days = (50_000, 7) if args.quick else (200_000, 14)
    mem_rows = int(1e6 if args.quick else args.memory_rows)
    results = {"machine": {"platform": platform.platform(), "python": platform.python_version(),
                           "numpy": np.__version__, "pyarrow": pyarrow.__version__, "cpus_pinned": cpus,
                           "cpu_count": os.cpu_count(), "load_average_at_start": list(os.getloadavg())},
               "throughput": [], "parquet": [], "memory": None}
    print(f"pinned to CPUs {cpus}; load average {os.getloadavg()[0]:.2f} (other processes slow every figure down)")
    print(f"{'profile':<14}{'threads':>8}{'rows':>12}{'fraud':>8}{'seconds':>10}{'rows/s':>14}")
    for profile in ("cards", "mobile-money"):
        for nt in (1, 2):
            r = throughput(profile, customers, days, nt, args.repeats)
            results["throughput"].append(r)
            print(f"{profile:<14}{nt:>8}{r['rows']:>12,}{r['fraud_rows']:>8,}{r['best_s']:>10.3f}{r['rows_per_s']:>14,.0f}")
    print("\nstress-sim transactions --out DIR (Parquet zstd by day, written on a second thread, manifest)")
    for profile in ("cards", "mobile-money"):
        r = with_parquet(profile, customers, days, max(1, args.repeats - 1))
        results["parquet"].append(r)
        print(f"{profile:<14}{r['rows']:>12,}{r['best_s']:>10.3f}{r['rows_per_s']:>14,.0f}")
    mem_customers = 100_000 if args.quick else 1_000_000
    m = memory(mem_rows, mem_customers, 262_144)
    results["memory"] = m
    print(f"\nmemory run: {m['rows']:,} rows, {m['customers']:,} customers x {m['days']} days, batch 262,144 rows, "
          f"{m['wall_s']:.1f} s ({m['rows'] / m['wall_s']:,.0f} rows/s)")
    print(f"  RSS after setup {m['rss_after_setup_bytes'] / 2**20:,.0f} MiB; peak RSS at checkpoints:")
    for n, rss in m["checkpoints"]:
        print(f"    {n:>14,} rows  {rss / 2**20:>8,.0f} MiB")
    results["machine"]["load_average_at_end"] = list(os.getloadavg())
    out = REPO / "benchmarks" / "results" / ("transactions-quick.json" if args.quick else "transactions.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
