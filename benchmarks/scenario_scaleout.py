"""Benchmark: ``stress-sim run`` on Dask workers: wall time and peak memory per worker and on the client.

Workload: the pipeline of ``stress-sim run --backend dask --workers N`` (:func:`simulator.jobs.runs.plan_runs` and
:func:`~simulator.jobs.runs.execute_runs`, checkpointing every chunk as the CLI does, writing every result file)
for one 250-day scenario on a 10-asset model (``benchmarks/scaleout.py``'s: t copula rho=0.5 nu=5, GJR(1,1,1)
with Student-t(6) innovations) with a volatility spike, a jump and a correlation break, and a long/short
portfolio of the ten assets with FRTB liquidity horizons of 10 and 20 days.

Two modes, as ``stress-sim run`` picks them by size (``--max-path-cells``, 25 million cells):

* ``summary``: per-path summaries simulated (the kernel keeps no daily paths; P&L at the whole horizon) - what a
  run of 10^7 paths x 250 days x 10 assets does. Each worker reduces its chunk to 8 x (2a + 1) bytes a path
  (:mod:`simulator.chunked_risk`), the client gathers those rows and writes summary.parquet (one row per path
  and asset) from them;
* ``paths``: the daily paths are simulated and reduced on the worker that simulated them (P&L at every horizon,
  value fan, drawdowns, the worst 10-day window per liquidity class, correlations), at the cell limit.

For each configuration it measures, on a local cluster of ``--workers`` single-threaded worker processes:

* wall time of the run (simulation, reduction, checkpoint and result files) and paths/s;
* every worker's peak resident memory during the run (``VmHWM`` reset right before it through
  ``/proc/self/clear_refs`` and read after it, with ``client.run``) and its resident memory before;
* the client's peak resident memory during the run (the same reset; the LocalCluster's scheduler lives in the
  client process) and its increase over the resident memory before the run, per path;
* for the smallest run of each mode, that a local run (numba threads in this process) writes byte-identical
  result files (``manifest.json`` less its ``created_utc``, ``engine`` and ``simulate_s`` records).

The worker peaks should not grow with the number of paths (a worker holds one chunk); the client's grows with
it, by the rows and the per-path files. ``--full`` runs the 10^7 x 250 x 10 configuration of issue 17 (summary
mode).

Usage::

    python benchmarks/scenario_scaleout.py             # writes benchmarks/results/scenario_scaleout.json
    python benchmarks/scenario_scaleout.py --quick     # small sizes (scenario_scaleout-quick.json)
    python benchmarks/scenario_scaleout.py --full --workers 8
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(HERE.parent))
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _common import format_table, machine_info, write_json  # noqa: E402
from scaleout import _current_rss_bytes, _peak_rss_bytes, _reset_peak_rss, build_model  # noqa: E402

HORIZON = 250
N_ASSETS = 10
SEED = 20240917
#: manifest fields that record when and how a run went, not what it computed
RUN_RECORD = ("created_utc", "engine", "simulate_s", "command")
FULL_PATHS = 10_000_000


def scenario(n_paths: int):
    """The benchmark scenario (250 days, three shock types, a ten-asset portfolio)."""
    from scenarios.loader import scenario_from_dict

    assets = [f"A{i}" for i in range(N_ASSETS)]
    return scenario_from_dict({
        "name": "bench-scaleout", "description": "Benchmark: 250 days of stress on a 10-asset book.",
        "source": "Synthetic benchmark scenario: no historical episode; sizes chosen to stress the run, not to match data.",
        "horizon_days": HORIZON, "n_paths": int(n_paths), "seed": SEED,
        "portfolio": {"positions": {a: (1e6 if i < 7 else -1.5e6) for i, a in enumerate(assets)},
                      "liquidity_horizons": {a: (10 if i < 5 else 20) for i, a in enumerate(assets)}},
        "outputs": {"var_levels": [0.975, 0.99], "horizons": [1, 10, 60, 250]},
        "shocks": [
            {"type": "vol_spike", "label": "spike", "day": 20, "days": 60, "multiplier": 1.8, "half_life": 20.0,
             "assets": assets[:5]},
            {"type": "jump", "label": "gap", "day": 21, "assets": assets[:5], "size": -8.0, "unit": "percent"},
            {"type": "correlation_break", "label": "contagion", "day": 20, "days": 120, "rho": 0.85, "nu": 4.0},
        ],
    }, source="benchmarks/scenario_scaleout.py")


def plans_for(model, n_paths: int, mode: str):
    from simulator.jobs.runs import plan_runs

    cells = n_paths * HORIZON * N_ASSETS
    limit = cells if mode == "paths" else min(cells - 1, 25_000_000)
    plans = plan_runs([scenario(n_paths)], model=model, model_spec="benchmark:10-assets", cell_limit=limit)
    assert plans[0].keep == mode, (plans[0].keep, mode)
    return plans


def _worker_state() -> dict:
    return {"rss_bytes": _current_rss_bytes(), "peak_rss_bytes": _peak_rss_bytes()}


def _worker_reset() -> bool:
    return _reset_peak_rss()


def run_once(model, n_paths: int, mode: str, out: Path, **engine) -> dict:
    """One ``execute_runs`` of the benchmark scenario into ``out``; wall time and what it computed."""
    from simulator.jobs.runs import execute_runs

    plans = plans_for(model, n_paths, mode)
    t0 = time.perf_counter()
    stored = execute_runs(plans, out, checkpoint=engine.pop("checkpoint", True), command=["benchmark"], **engine)
    wall = time.perf_counter() - t0
    manifest = stored[0].manifest
    return {"wall_s": wall, "simulate_s": manifest.get("simulate_s"), "engine": manifest["engine"],
            "headline": stored[0].risk.get("headline")}


def tree(root: Path) -> dict:
    """Every result file's bytes (a manifest: its fields less :data:`RUN_RECORD`)."""
    out: dict = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            rel = str(p.relative_to(root))
            if p.name == "manifest.json":
                m = json.loads(p.read_text())
                out[rel] = {k: v for k, v in m.items() if k not in RUN_RECORD}
            else:
                out[rel] = p.read_bytes()
    return out


def measure(model, client, n_paths: int, mode: str, work: Path, *, check_local: bool, checkpoint: bool) -> dict:
    out = work / f"{mode}-{n_paths}"
    before = client.run(_worker_state)
    resets = client.run(_worker_reset)
    own_before = _current_rss_bytes()
    own_reset = _reset_peak_rss()
    rec = run_once(model, n_paths, mode, out, backend="dask", client=client, checkpoint=checkpoint)
    own_peak = _peak_rss_bytes()
    after = client.run(_worker_state)
    workers = sorted(after)
    row = {
        "mode": mode, "n_paths": n_paths, "horizon": HORIZON, "n_assets": N_ASSETS,
        "n_chunks": rec["engine"]["n_chunks"], "chunk_paths": rec["engine"]["chunk_paths"],
        "wall_s": rec["wall_s"], "simulate_s": rec["simulate_s"], "paths_per_s": n_paths / rec["wall_s"],
        "worker_rss_before_bytes": [before[w]["rss_bytes"] for w in workers],
        "worker_peak_rss_bytes": [after[w]["peak_rss_bytes"] for w in workers],
        "max_worker_peak_rss_bytes": max(after[w]["peak_rss_bytes"] for w in workers),
        "max_worker_increase_bytes": max(after[w]["peak_rss_bytes"] - before[w]["rss_bytes"] for w in workers),
        "peak_reset": bool(own_reset and all(resets.values())),
        "client_rss_before_bytes": own_before, "client_peak_rss_bytes": own_peak,
        "client_increase_bytes": own_peak - own_before,
        "client_increase_bytes_per_path": (own_peak - own_before) / n_paths,
        "result_bytes": sum(p.stat().st_size for p in out.rglob("*") if p.is_file()),
        "headline": rec["headline"],
    }
    if check_local:
        ref = work / f"local-{mode}-{n_paths}"
        t0 = time.perf_counter()
        run_once(model, n_paths, mode, ref, checkpoint=checkpoint)
        row["local_wall_s"] = time.perf_counter() - t0
        row["identical_to_local"] = tree(out) == tree(ref)
        shutil.rmtree(ref, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=2, help="worker processes of the local cluster (default 2)")
    p.add_argument("--summary-paths", default="250000,1000000",
                   help="comma-separated path counts of the summary-mode runs (default 250000,1000000)")
    p.add_argument("--paths-paths", default="2500,10000",
                   help="comma-separated path counts of the daily-path runs (default 2500,10000: up to the "
                        "25-million-cell limit at 250 days x 10 assets)")
    p.add_argument("--full", action="store_true", help=f"summary mode at {FULL_PATHS:,} paths only (issue 17's size)")
    p.add_argument("--quick", action="store_true", help="small sizes for a smoke test")
    p.add_argument("--no-check-local", action="store_true", help="skip the local run that checks identical files")
    p.add_argument("--no-checkpoint", action="store_true", help="do not checkpoint chunks (the CLI always does)")
    p.add_argument("--work", default=None, help="scratch folder for the result files (default a temporary one)")
    p.add_argument("--out", default=None, help="JSON output (default benchmarks/results/scenario_scaleout[-quick|-full].json)")
    args = p.parse_args(argv)
    if args.full:
        runs = [("summary", FULL_PATHS)]
    elif args.quick:
        runs = [("summary", 20_000), ("summary", 40_000), ("paths", 500), ("paths", 1000)]
    else:
        runs = [("summary", int(n)) for n in args.summary_paths.split(",") if n] + \
               [("paths", int(n)) for n in args.paths_paths.split(",") if n]
    from distributed import Client, LocalCluster

    machine = machine_info()
    model = build_model()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="stress-sim-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None,
                           scheduler_kwargs={"dashboard_address": ":0"}, silence_logs=logging.ERROR)
    client = Client(cluster)
    start_s = time.perf_counter() - t0
    rows = []
    try:
        t0 = time.perf_counter()  # warm-up: every worker loads the kernel from the numba cache
        run_once(model, 128 * args.workers, "paths", work / "warmup", backend="dask", client=client,
                 chunk_paths=32, checkpoint=False)
        run_once(model, 128, "paths", work / "warmup-local", checkpoint=False)
        warm_s = time.perf_counter() - t0
        checked = set()
        for mode, n in runs:
            check = not args.no_check_local and not args.full and mode not in checked
            checked.add(mode)
            rows.append(measure(model, client, n, mode, work, check_local=check, checkpoint=not args.no_checkpoint))
            r = rows[-1]
            print(f"  {mode} {n:,} paths: {r['wall_s']:.1f} s, worker peak "
                  f"{r['max_worker_peak_rss_bytes'] / 2**20:.0f} MiB, client +{r['client_increase_bytes'] / 2**20:.0f} "
                  "MiB", file=sys.stderr, flush=True)
    finally:
        client.close()
        cluster.close()
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)

    mib = 1 / 2**20
    table = format_table(
        ["mode", "paths", "chunks x paths", "wall s", "paths/s", "peak RSS/worker MiB", "worker +MiB",
         "client peak MiB", "client +MiB", "client B/path", "identical"],
        [[r["mode"], r["n_paths"], f"{r['n_chunks']} x {r['chunk_paths']:,}", r["wall_s"], r["paths_per_s"],
          r["max_worker_peak_rss_bytes"] * mib, r["max_worker_increase_bytes"] * mib,
          r["client_peak_rss_bytes"] * mib, r["client_increase_bytes"] * mib, r["client_increase_bytes_per_path"],
          {True: "yes", False: "NO"}.get(r.get("identical_to_local"), "-")] for r in rows],
    )
    print(f"stress-sim run on Dask: {args.workers} single-threaded worker processes; {HORIZON} days x {N_ASSETS} "
          f"assets; checkpointing {'off' if args.no_checkpoint else 'on'}; cluster start {start_s:.1f} s, "
          f"warm-up {warm_s:.1f} s; load average at start {machine.get('load_average_1m', float('nan')):.1f}")
    print(table)
    print("peak RSS/worker: VmHWM of each worker process during the run (reset right before it); worker +MiB: that "
          "peak over its resident memory before the run; client: the same for this process (client and scheduler)")
    payload = {
        "benchmark": "scenario_scaleout", "machine": machine, "load_average_1m_at_end": os.getloadavg()[0],
        "workers": args.workers, "cluster_start_s": start_s, "warmup_s": warm_s,
        "checkpoint": not args.no_checkpoint,
        "workload": {"horizon": HORIZON, "n_assets": N_ASSETS, "seed": SEED,
                     "model": "10 assets, t copula rho=0.5 nu=5, GJR(0.02, 0.03, 0.10, 0.88), t(6) innovations",
                     "scenario": scenario(1).model_dump(mode="json")},
        "results": rows,
    }
    out = args.out or ("scenario_scaleout-full.json" if args.full else "scenario_scaleout-quick.json" if args.quick
                       else "scenario_scaleout.json")
    print(f"wrote {write_json(out, payload)}")
    return 0 if all(r.get("identical_to_local", True) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
