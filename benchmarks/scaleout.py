"""Benchmark: scale-out of exact tail risk over Dask workers, and peak memory per worker.

Workload: ``simulate_tail`` (exact 97.5% / 99% VaR and ES with 95% intervals, memory bounded by the
tail and one chunk) for one market model: 10 assets, t copula with equicorrelation 0.5 and nu=5,
GJR(1,1,1) omega=0.02 alpha=0.03 gamma=0.10 beta=0.88 with Student-t(nu=6) innovations (the
model of ``benchmarks/engine.py``), a 10-day horizon and a long/short portfolio.

For the local backend (numba threads over all usable cores) and for local Dask clusters of
1, 2, 4, ... single-threaded worker processes (up to the usable cores, or ``--workers``) it measures:

* cluster start-up time, and a warm-up run (each worker loads the kernel from the numba cache);
* the best of ``--repeats`` timed runs: paths/s and path-asset-steps/s, speed-up over one worker and
  parallel efficiency;
* peak resident memory of every worker process (``VmHWM`` read on the worker after the runs) and
  its resident memory before the timed runs, plus the driver's own peak;
* CPU seconds spent in the workers per run (paths per CPU-second: the cost of distribution,
  independent of how busy the machine is) and in the driver (scheduling and the tail merge);
* that every configuration gives the same numbers as the local backend (``TailResult`` equality).

Usage::

    python benchmarks/scaleout.py                  # writes benchmarks/results/scaleout.json
    python benchmarks/scaleout.py --quick          # small sizes (scaleout-quick.json)
    python benchmarks/scaleout.py --workers 1,2,4 --paths 4000000
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(HERE.parent))
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _common import best_of, format_table, machine_info, run_measured, self_peak_rss_bytes, write_json  # noqa: E402

N_ASSETS = 10
HORIZON = 10
LEVELS = (0.975, 0.99)


def build_model():
    from simulator import MarketModel

    corr = [[1.0 if i == j else 0.5 for j in range(N_ASSETS)] for i in range(N_ASSETS)]
    return MarketModel.from_dict({
        "assets": [f"A{i}" for i in range(N_ASSETS)],
        "marginals": [{"mean": {"mu": 0.03},
                       "vol": {"type": "gjr", "omega": 0.02, "alpha": 0.03, "gamma": 0.10, "beta": 0.88},
                       "dist": {"type": "t", "nu": 6.0}} for _ in range(N_ASSETS)],
        "copula": {"type": "t", "corr": corr, "nu": 5.0},
    })


def positions(model) -> dict[str, float]:
    # long the first seven assets, short the last three: a hedged book with a fat left tail
    return {a: (1e6 if i < 7 else -1.5e6) for i, a in enumerate(model.assets)}


def _peak_rss_bytes() -> int:
    """This process's peak resident memory: VmHWM (Linux; reset by exec, unlike ru_maxrss, which a
    worker process inherits from the driver that forked it), else ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return self_peak_rss_bytes()


def _worker_memory() -> dict:
    import psutil

    proc = psutil.Process()
    cpu = proc.cpu_times()
    return {"rss_bytes": proc.memory_info().rss, "cpu_s": cpu.user + cpu.system, "peak_rss_bytes": _peak_rss_bytes()}


def _own_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def measure_dask(model, n_workers: int, args, reference) -> dict:
    from distributed import Client, LocalCluster

    from simulator.tail import simulate_tail

    pos = positions(model)
    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None,
                           scheduler_kwargs={"dashboard_address": ":0"}, silence_logs=logging.ERROR)
    client = Client(cluster)
    start_s = time.perf_counter() - t0
    try:
        run = dict(positions=pos, levels=LEVELS, chunk_paths=args.chunk_paths, backend="dask", client=client)
        t0 = time.perf_counter()
        simulate_tail(model, max(4 * n_workers * 1000, 4000), HORIZON, 1, **{**run, "chunk_paths": 1000})
        warm_s = time.perf_counter() - t0
        before = client.run(_worker_memory)
        driver_cpu0 = _own_cpu_s()
        results = []
        timing = best_of(lambda: results.append(simulate_tail(model, args.paths, HORIZON, args.seed, **run)),
                         repeats=args.repeats)
        driver_cpu = (_own_cpu_s() - driver_cpu0) / args.repeats
        after = client.run(_worker_memory)
    finally:
        client.close()
        cluster.close()
    same = all(r == reference and (r.largest_losses == reference.largest_losses).all() for r in results)
    peaks = [after[w]["peak_rss_bytes"] for w in after]
    worker_cpu = sum(after[w]["cpu_s"] - before[w]["cpu_s"] for w in after) / args.repeats
    return {
        "backend": "dask", "workers": n_workers, "cluster_start_s": start_s, "warmup_s": warm_s,
        "timing": timing.to_dict(), "paths_per_s": args.paths / timing.best,
        "cells_per_s": args.paths * HORIZON * N_ASSETS / timing.best,
        "worker_rss_before_bytes": [before[w]["rss_bytes"] for w in before],
        "worker_peak_rss_bytes": peaks, "max_worker_peak_rss_bytes": max(peaks),
        "max_worker_run_increase_bytes": max(after[w]["peak_rss_bytes"] - before[w]["rss_bytes"] for w in after),
        "worker_cpu_s_per_run": worker_cpu, "driver_cpu_s_per_run": driver_cpu,
        "paths_per_worker_cpu_s": args.paths / worker_cpu,
        "losses_received": results[-1].meta["losses_received"], "identical_to_local": bool(same),
    }


def measure_local(model, args):
    from simulator.tail import simulate_tail

    run = dict(positions=positions(model), levels=LEVELS, chunk_paths=args.chunk_paths)
    simulate_tail(model, 4000, HORIZON, 1, **run)  # compile / load the kernel cache
    results = []
    cpu0 = _own_cpu_s()
    timing = best_of(lambda: results.append(simulate_tail(model, args.paths, HORIZON, args.seed, **run)),
                     repeats=args.repeats)
    cpu = (_own_cpu_s() - cpu0) / args.repeats
    res = results[-1]
    row = {"backend": "local", "workers": None, "threads": _threads(), "timing": timing.to_dict(),
           "paths_per_s": args.paths / timing.best, "cells_per_s": args.paths * HORIZON * N_ASSETS / timing.best,
           "cpu_s_per_run": cpu, "paths_per_cpu_s": args.paths / cpu,
           "driver_peak_rss_bytes": _peak_rss_bytes(), "losses_received": res.meta["losses_received"]}
    return row, res


def big_child(n_paths: int) -> None:
    """Child process of ``--big-paths``: one exact tail run of ``n_paths`` 1-day paths of the first two
    assets, local backend; prints the result as JSON (the parent measures this process's peak RSS)."""
    import json

    from simulator import MarketModel
    from simulator.tail import simulate_tail

    full = build_model().to_dict()
    two = MarketModel.from_dict({
        "assets": full["assets"][:2], "marginals": full["marginals"][:2],
        "copula": {"type": "t", "corr": [[1.0, 0.5], [0.5, 1.0]], "nu": 5.0},
    })
    pos = {"A0": 1e6, "A1": -5e5}
    simulate_tail(two, 10_000, 1, 7, positions=pos, levels=LEVELS)  # compile / load the kernel cache
    hwm_warm = _peak_rss_bytes()
    rss_warm = _current_rss_bytes()
    reset = _reset_peak_rss()  # so that the peak below is the run's, not the compiler's
    t0 = time.perf_counter()
    res = simulate_tail(two, n_paths, 1, 7, positions=pos, levels=LEVELS)
    print(json.dumps({"wall_s": time.perf_counter() - t0, "k": res.k, "losses_received": res.meta["losses_received"],
                      "n_chunks": res.meta["n_chunks"], "var_99": res[0.99].var, "es_99": res[0.99].es,
                      "es_975": res[0.975].es, "rss_after_warmup_bytes": rss_warm,
                      "peak_rss_warmup_bytes": hwm_warm, "peak_reset": reset,
                      "vm_hwm_bytes": _peak_rss_bytes()}))


def _current_rss_bytes() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def _reset_peak_rss() -> bool:
    """Reset this process's VmHWM to its current RSS (Linux >= 4.0: write 5 to /proc/self/clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def measure_big(n_paths: int) -> dict:
    import json

    child = run_measured([sys.executable, str(Path(__file__).resolve()), "--child-big", str(n_paths)], cwd=HERE.parent)
    out = json.loads(child.stdout.strip().splitlines()[-1])
    out.update(n_paths=n_paths, horizon=1, n_assets=2, peak_rss_bytes=out["vm_hwm_bytes"],
               run_increase_bytes=out["vm_hwm_bytes"] - out["rss_after_warmup_bytes"],
               tail_bytes=8 * out["k"], chunk_paths=65_536)
    return out


def _print_big(big: dict) -> None:
    mib = 1 / 2**20
    print(f"memory at scale: {big['n_paths']:,} paths (1 day, 2 assets, chunks of 65,536) in {big['wall_s']:.0f} s; "
          f"process RSS {big['rss_after_warmup_bytes'] * mib:.0f} MiB after warm-up, peak during the run "
          f"{big['peak_rss_bytes'] * mib:.0f} MiB (+{big['run_increase_bytes'] * mib:.0f} MiB) with k = {big['k']:,} "
          f"losses kept ({big['tail_bytes'] * mib:.0f} MiB); {big['losses_received']:,} losses sent back by chunks")


def _threads() -> int:
    import numba

    return numba.get_num_threads()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--paths", type=int, default=2_000_000)
    p.add_argument("--chunk-paths", type=int, default=65_536)
    p.add_argument("--seed", type=int, default=20240601)
    p.add_argument("--workers", default=None, help="comma-separated worker counts (default 1, 2, 4, ... <= cores)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="small sizes for a smoke test")
    p.add_argument("--out", default=None, help="JSON output (default benchmarks/results/scaleout[-quick].json)")
    p.add_argument("--big-paths", type=int, default=0,
                   help="also run one exact tail run of this many 1-day, 2-asset paths in a child process and "
                        "report its peak memory (e.g. 100000000)")
    p.add_argument("--only-big", action="store_true",
                   help="run only the --big-paths measurement and update memory_at_scale in the existing JSON")
    p.add_argument("--child-big", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child_big:
        big_child(args.child_big)
        return 0
    if args.only_big:
        import json

        if not args.big_paths:
            p.error("--only-big needs --big-paths N")
        target = Path(args.out) if args.out else HERE / "results" / "scaleout.json"
        payload = json.loads(target.read_text()) if target.exists() else {"benchmark": "scaleout"}
        payload["memory_at_scale"] = big = measure_big(args.big_paths)
        payload["memory_at_scale"]["machine"] = machine_info()
        _print_big(big)
        print(f"wrote {write_json(target, payload)}")
        return 0
    if args.quick:
        args.paths, args.chunk_paths, args.repeats = 100_000, 10_000, 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if args.workers:
        counts = [int(w) for w in args.workers.split(",")]
    else:
        counts, w = [], 1
        while w <= max(cores, 2):
            counts.append(w)
            w *= 2
    machine = machine_info()
    model = build_model()
    local_row, reference = measure_local(model, args)
    rows = [local_row]
    for w in counts:
        rows.append(measure_dask(model, w, args, reference))
    base = next((r for r in rows if r["workers"] == 1), None)
    for r in rows:
        if base is not None and r["backend"] == "dask":
            r["speedup_vs_1_worker"] = r["paths_per_s"] / base["paths_per_s"]
            r["parallel_efficiency"] = r["speedup_vs_1_worker"] / r["workers"]

    mib = 1 / 2**20
    table = format_table(
        ["backend", "workers", "best s", "paths/s", "cells/s", "speed-up", "efficiency", "paths/CPU-s",
         "driver CPU s", "peak RSS/worker MiB", "run +MiB/worker", "start s", "identical"],
        [[r["backend"] if r["backend"] == "dask" else f"local ({r['threads']} threads)", r["workers"],
          r["timing"]["best_s"], r["paths_per_s"], r["cells_per_s"], r.get("speedup_vs_1_worker"),
          r.get("parallel_efficiency"), r.get("paths_per_worker_cpu_s", r.get("paths_per_cpu_s")),
          r.get("driver_cpu_s_per_run"),
          r["max_worker_peak_rss_bytes"] * mib if "max_worker_peak_rss_bytes" in r else None,
          r["max_worker_run_increase_bytes"] * mib if "max_worker_run_increase_bytes" in r else None,
          r.get("cluster_start_s"), "yes" if r.get("identical_to_local", True) else "NO"] for r in rows],
    )
    print(f"exact tail VaR/ES: {args.paths:,} paths x {HORIZON} days x {N_ASSETS} assets, chunks of "
          f"{args.chunk_paths:,}; k = {reference.k:,} largest losses kept; {cores} usable cores")
    print(table)
    print("paths/CPU-s: paths per CPU-second spent in the workers (local: in this process), a load-independent "
          f"measure of distribution overhead; load average at start {machine['load_average_1m']:.1f}")
    print(f"driver peak RSS {_peak_rss_bytes() * mib:.0f} MiB; 99% ES {reference[0.99].es:,.0f} "
          f"[{reference[0.99].es_ci[0]:,.0f}, {reference[0.99].es_ci[1]:,.0f}]")
    big = None
    if args.big_paths:
        big = measure_big(args.big_paths)
        _print_big(big)
    payload = {
        "benchmark": "scaleout", "machine": machine, "load_average_1m_at_end": os.getloadavg()[0],
        "workload": {"n_paths": args.paths, "horizon": HORIZON, "n_assets": N_ASSETS, "chunk_paths": args.chunk_paths,
                     "levels": list(LEVELS), "tail_size_k": reference.k, "seed": args.seed, "repeats": args.repeats,
                     "model": "10 assets, t copula rho=0.5 nu=5, GJR(0.02, 0.03, 0.10, 0.88), t(6) innovations"},
        "results": rows, "driver_peak_rss_bytes": _peak_rss_bytes(), "memory_at_scale": big,
        "reference": reference.to_dict(),
    }
    out = args.out or ("scaleout-quick.json" if args.quick else "scaleout.json")
    print(f"wrote {write_json(out, payload)}")
    return 0 if all(r.get("identical_to_local", True) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
