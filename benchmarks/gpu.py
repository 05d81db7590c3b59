"""Benchmark: the stress-sim engine on an NVIDIA GPU (``backend="cuda"``) beside the CPU, same run.

The model is the engine benchmark's (``benchmarks/engine.py``): 10 assets, t copula (equicorrelation
0.5, nu=5), GJR(1,1,1) with standardised Student-t(6) innovations, 250 days, ``keep="summary"``.
Throughput is path-asset-steps per second (paths x assets x days / best wall seconds). Measured:

1. ``gpu_kernel``: the CUDA backend's ``run_chunks`` on a prebuilt plan (kernel launches, the
   summaries copied back to the host), for each ``--threads-per-block``; the best is the headline;
2. ``gpu_simulate``: ``simulate(..., backend="cuda")`` end to end (plan and quantile tables built,
   inputs copied to the GPU, every chunk handed back);
3. ``cpu``: ``simulate(..., backend="local")`` on all numba threads of the same machine, same model;
4. agreement: the first ``--check-paths`` paths on both backends (summaries), and ``keep="paths"``
   for a few hundred paths (every daily return and sigma), against the backend's stated tolerance
   ``|gpu - cpu| <= RTOL |cpu| + ATOL`` (``simulator.backends.cuda``), counting the paths outside it;
5. a breakdown by model component (simpler models through the same API), GPU and CPU.

Target (issue 9): >= 60 billion path-asset-steps per second on one H100, float64.

Usage (on a machine with a GPU; see benchmarks/README.md, "GPU", for the device tool)::

    python benchmarks/gpu.py                 # full run, writes benchmarks/results/gpu.json
    python benchmarks/gpu.py --quick         # tiny sizes (smoke test; also runs on numba's simulator
                                             # with NUMBA_ENABLE_CUDASIM=1), writes gpu-quick.json

Exit status 2 (and no JSON) when no usable CUDA GPU is found.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(HERE.parent))
if str(HERE) not in sys.path:  # appended: benchmarks/calibration.py must not shadow the calibration package
    sys.path.append(str(HERE))

from _common import RESULTS_DIR, best_of, format_table, machine_info, write_json  # noqa: E402
from engine import (  # noqa: E402
    BREAKDOWN,
    COPULA_NU,
    HORIZON,
    MARGINAL_NU,
    N_ASSETS,
    RHO,
    build_model,
    equicorrelation,
    model_dict,
)

TARGET = 60e9
SEED = 20240601
FULL = {"paths": 1 << 24, "cpu_paths": 200_000, "check_paths": 100_000, "check_store_paths": 500,
        "breakdown_paths": 1 << 22, "horizon": HORIZON, "repeats": 3, "launch_paths": 1 << 21}
QUICK = {"paths": 48, "cpu_paths": 48, "check_paths": 24, "check_store_paths": 8, "breakdown_paths": 16,
         "horizon": 5, "repeats": 1, "launch_paths": 32}


def gpu_info(cuda) -> dict:
    """Name, compute capability, memory and versions of the current CUDA device (what is readable)."""
    from numba import config

    info: dict = {"simulator": bool(getattr(config, "ENABLE_CUDASIM", False)), "numba_cuda_module": cuda.__name__}
    try:
        dev = cuda.get_current_device()
        name = dev.name
        info["name"] = name.decode() if isinstance(name, bytes) else str(name)
        info["compute_capability"] = list(dev.compute_capability)
        info["multiprocessors"] = int(getattr(dev, "MULTIPROCESSOR_COUNT", 0)) or None
    except Exception as exc:  # pragma: no cover - depends on the driver
        info["device_error"] = str(exc)
    try:
        ctx = cuda.current_context()
        _, total = ctx.get_memory_info()
        info["memory_total_bytes"] = int(total)
    except Exception:  # pragma: no cover
        pass
    try:
        info["driver_version"] = list(cuda.cudadrv.driver.driver.get_version())
    except Exception:  # pragma: no cover
        pass
    try:
        info["runtime_version"] = list(cuda.runtime.get_version())
    except Exception:  # pragma: no cover
        pass
    try:
        import importlib.metadata as md

        info["numba_cuda_package"] = md.version("numba-cuda")
    except Exception:
        info["numba_cuda_package"] = None
    return info


def throughput(n_paths: int, horizon: int, n_assets: int, seconds: float) -> float:
    return n_paths * horizon * n_assets / seconds


def bench_gpu_kernel(model, n_paths: int, horizon: int, *, tpb: int, launch_paths: int, repeats: int) -> dict:
    """Kernel launches on a prebuilt plan (tables built and keys derived once, outside the timing)."""
    from simulator.backends import cuda as backend
    from simulator.engine import plan_run

    plan = plan_run(model, n_paths, horizon, SEED, keep="summary", chunk_paths=min(n_paths, launch_paths))
    sums = {}

    def call():
        sums.clear()
        for idx, out in backend.run_chunks(plan.arrays, plan.keys, horizon, plan.tasks, store_paths=False,
                                           threads_per_block=tpb, launch_paths=launch_paths):
            sums[idx] = float(out["cum_return"][:, 0].sum())

    call()  # compile (first size class) and warm up
    timing = best_of(call, repeats=repeats)
    return {"n_paths": n_paths, "horizon": horizon, "n_assets": model.n_assets, "threads_per_block": tpb,
            "launch_paths": launch_paths, **timing.to_dict(),
            "path_asset_steps_per_s": throughput(n_paths, horizon, model.n_assets, timing.best),
            "mean_cum_return_asset0": sum(sums.values()) / n_paths}


def kernel_resources(cuda, n_assets: int) -> dict:
    """Registers, local (stack) bytes, shared bytes per thread / block of the compiled chunk kernel, as
    the driver reports them (compare with ``python -m simulator.backends.cuda_build``); {} on the simulator."""
    from simulator.kernels.cuda_chunk import chunk_kernel

    kernel = chunk_kernel(cuda, n_assets)
    out = {}
    for key, getter in (("registers_per_thread", "get_regs_per_thread"),
                        ("local_bytes_per_thread", "get_local_mem_per_thread"),
                        ("shared_bytes_per_block", "get_shared_mem_per_block"),
                        ("max_threads_per_block", "get_max_threads_per_block")):
        try:
            value = getattr(kernel, getter)()
        except Exception:  # numba's simulator, or an API this numba-cuda lacks
            continue
        out[key] = value if isinstance(value, (int, float)) else {str(k): v for k, v in dict(value).items()}
    return out


def bench_simulate(model, n_paths: int, horizon: int, *, backend: str, repeats: int, chunk_paths=None) -> tuple:
    from simulator import simulate

    t0 = time.perf_counter()
    simulate(model, min(n_paths, 1024), horizon, SEED, keep="summary", backend=backend)
    warmup = time.perf_counter() - t0
    box = {}

    def call():
        box["res"] = simulate(model, n_paths, horizon, SEED, keep="summary", backend=backend, chunk_paths=chunk_paths)

    timing = best_of(call, repeats=repeats)
    res = box["res"]
    return {"n_paths": n_paths, "horizon": horizon, "n_assets": model.n_assets, "backend": backend,
            "warmup_s": warmup, **timing.to_dict(),
            "path_asset_steps_per_s": throughput(n_paths, horizon, model.n_assets, timing.best),
            "mean_cum_return_asset0": float(res.cum_return[:, 0].mean()),
            "std_cum_return_asset0": float(res.cum_return[:, 0].std())}, res


def _compare(gpu: dict, cpu: dict, rtol: float, atol: float) -> dict:
    """Per output: largest absolute and relative difference, and paths outside the tolerance."""
    out = {}
    bad_any = None
    for key, c in cpu.items():
        g = gpu[key]
        if key == "stressed_days":
            bad = g != c
        else:
            diff = np.abs(g - c)
            bad = diff > atol + rtol * np.abs(c)
            bad = bad.reshape(bad.shape[0], -1).any(axis=1)
            rel = diff / np.maximum(np.abs(c), 1e-300)
            out[key] = {"max_abs_diff": float(diff.max()), "max_rel_diff_where_abs_gt_1e-6":
                        float(rel[np.abs(c) > 1e-6].max()) if (np.abs(c) > 1e-6).any() else 0.0}
        out.setdefault(key, {})["paths_outside_tolerance"] = int(bad.sum())
        bad_any = bad if bad_any is None else (bad_any | bad)
    out["paths"] = int(next(iter(cpu.values())).shape[0])
    out["paths_outside_tolerance"] = int(bad_any.sum())
    return out


def agreement(model, n_summary: int, n_paths_kept: int, horizon: int) -> dict:
    """GPU vs CPU on the same paths, against the backend's stated tolerance."""
    from simulator import simulate
    from simulator.backends.cuda import ATOL, RTOL

    res = {"rtol": RTOL, "atol": ATOL}
    keys_sum = ("cum_return", "max_drawdown", "stressed_days")
    g = simulate(model, n_summary, horizon, SEED, keep="summary", backend="cuda")
    c = simulate(model, n_summary, horizon, SEED, keep="summary", backend="local")
    res["summary"] = _compare({k: getattr(g, k) for k in keys_sum}, {k: getattr(c, k) for k in keys_sum}, RTOL, ATOL)
    keys_all = ("returns", "sigma") + keys_sum
    g = simulate(model, n_paths_kept, horizon, SEED, keep="paths", backend="cuda")
    c = simulate(model, n_paths_kept, horizon, SEED, keep="paths", backend="local")
    res["paths"] = _compare({k: getattr(g, k) for k in keys_all}, {k: getattr(c, k) for k in keys_all}, RTOL, ATOL)
    res["agree"] = res["summary"]["paths_outside_tolerance"] == 0 and res["paths"]["paths_outside_tolerance"] == 0
    return res


def bench_breakdown(n_paths: int, cpu_paths: int, horizon: int, *, tpb: int, launch_paths: int,
                    repeats: int) -> list[dict]:
    rows = []
    for label, kw in BREAKDOWN:
        kw = {k: (dict(v) if isinstance(v, dict) else v) for k, v in kw.items()}
        if "copula" in kw and "corr" in kw["copula"]:
            kw["copula"]["corr"] = equicorrelation(N_ASSETS, RHO).tolist()
        model = build_model(**kw)
        gpu = bench_gpu_kernel(model, n_paths, horizon, tpb=tpb, launch_paths=launch_paths, repeats=repeats)
        cpu, _ = bench_simulate(model, cpu_paths, horizon, backend="local", repeats=repeats)
        rows.append({"label": label, "gpu_path_asset_steps_per_s": gpu["path_asset_steps_per_s"],
                     "cpu_path_asset_steps_per_s": cpu["path_asset_steps_per_s"], "gpu": gpu, "cpu": cpu})
    # one asset, independent copula, normal innovations: the bare GARCH recursion and its draws
    model = build_model(n_assets=1, copula={"type": "independent"}, dist={"type": "normal"},
                        vol={"type": "garch", "omega": 0.02, "alpha": 0.08, "beta": 0.88})
    gpu = bench_gpu_kernel(model, n_paths, horizon, tpb=tpb, launch_paths=launch_paths, repeats=repeats)
    cpu, _ = bench_simulate(model, cpu_paths, horizon, backend="local", repeats=repeats)
    rows.append({"label": "univariate GARCH, normal (1 asset)", "gpu_path_asset_steps_per_s":
                 gpu["path_asset_steps_per_s"], "cpu_path_asset_steps_per_s": cpu["path_asset_steps_per_s"],
                 "gpu": gpu, "cpu": cpu})
    return rows


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes and one repeat (smoke test)")
    p.add_argument("--paths", type=int, help=f"GPU paths per timed call (default {FULL['paths']:,})")
    p.add_argument("--cpu-paths", type=int, help=f"CPU paths per timed call (default {FULL['cpu_paths']:,})")
    p.add_argument("--check-paths", type=int, help=f"paths compared GPU vs CPU, summaries "
                                                  f"(default {FULL['check_paths']:,})")
    p.add_argument("--check-store-paths", type=int, help=f"paths compared with every daily value "
                                                        f"(default {FULL['check_store_paths']:,})")
    p.add_argument("--breakdown-paths", type=int,
                   help=f"GPU paths per breakdown row (default {FULL['breakdown_paths']:,})")
    p.add_argument("--horizon", type=int, help=f"days (default {FULL['horizon']})")
    p.add_argument("--repeats", type=int, help=f"timed calls per figure, best reported (default {FULL['repeats']})")
    p.add_argument("--launch-paths", type=int, help=f"paths per kernel launch (default {FULL['launch_paths']:,})")
    p.add_argument("--threads-per-block", type=str, default=None,
                   help="comma-separated CUDA block sizes to try (default 64,128,256; quick: 32)")
    p.add_argument("--skip", action="append", default=[], choices=["breakdown", "simulate", "check"],
                   help="leave out a section (repeatable)")
    p.add_argument("--out", type=Path, default=None,
                   help="JSON output (default benchmarks/results/gpu.json, gpu-quick.json with --quick)")
    args = p.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    for key, default in sizes.items():
        if getattr(args, key) is None:
            setattr(args, key, default)
        if getattr(args, key) < 1:
            p.error(f"--{key.replace('_', '-')} must be >= 1, got {getattr(args, key)}")
    tpb = args.threads_per_block or ("32" if args.quick else "64,128,256")
    try:
        args.tpb = [int(v) for v in tpb.split(",") if v.strip()]
    except ValueError:
        p.error(f"--threads-per-block must be comma-separated integers, got {tpb!r}")
    if not args.tpb or min(args.tpb) < 1 or max(args.tpb) > 1024:
        p.error(f"--threads-per-block values must lie in 1..1024, got {tpb!r}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from simulator.backends import cuda as backend

    usable, reason = backend.gpu_status()
    if not usable:
        print(f"gpu benchmark: no usable CUDA GPU ({reason}); nothing measured", file=sys.stderr)
        return 2
    import numba

    cuda = backend.import_cuda()
    h, rep = args.horizon, args.repeats
    model = build_model()
    info = machine_info()
    ginfo = gpu_info(cuda)
    print(f"stress-sim GPU benchmark: {N_ASSETS} assets, t copula (rho={RHO}, nu={COPULA_NU:g}), GJR + "
          f"t({MARGINAL_NU:g}) marginals, {h} days, float64; best of {rep}; GPU: {ginfo.get('name', reason)}; "
          f"{info.get('usable_cpus')} CPUs, numba threads {numba.get_num_threads()}", flush=True)

    kernel_rows = []
    for tpb in args.tpb:
        fig = bench_gpu_kernel(model, args.paths, h, tpb=tpb, launch_paths=args.launch_paths, repeats=rep)
        kernel_rows.append(fig)
        print(f"  gpu kernel, {tpb:4d} threads/block: {fig['best_s']:.3f} s "
              f"({fig['path_asset_steps_per_s'] / 1e9:.2f} G path-asset-steps/s)", flush=True)
    best = max(kernel_rows, key=lambda r: r["path_asset_steps_per_s"])
    resources = kernel_resources(cuda, N_ASSETS)
    if resources:
        print(f"  kernel resources on this GPU: {resources}", flush=True)
    gpu_sim = None
    if "simulate" not in args.skip:
        gpu_sim, _ = bench_simulate(model, args.paths, h, backend="cuda", repeats=rep, chunk_paths=args.launch_paths)
        print(f"  gpu simulate(): {gpu_sim['best_s']:.3f} s", flush=True)
    cpu, _ = bench_simulate(model, args.cpu_paths, h, backend="local", repeats=rep)
    print(f"  cpu simulate(): {cpu['best_s']:.3f} s for {args.cpu_paths:,} paths", flush=True)
    check = None if "check" in args.skip else agreement(model, args.check_paths, args.check_store_paths, h)
    breakdown = [] if "breakdown" in args.skip else bench_breakdown(
        args.breakdown_paths, args.cpu_paths, h, tpb=best["threads_per_block"], launch_paths=args.launch_paths,
        repeats=rep)

    tp = {"gpu_kernel": best["path_asset_steps_per_s"], "cpu": cpu["path_asset_steps_per_s"]}
    if gpu_sim is not None:
        tp["gpu_simulate"] = gpu_sim["path_asset_steps_per_s"]
    print()
    rows = [(f"GPU kernel ({best['threads_per_block']} thr/block)", best["n_paths"], best["best_s"],
             tp["gpu_kernel"] / 1e9, tp["gpu_kernel"] / tp["cpu"])]
    if gpu_sim is not None:
        rows.append(("GPU simulate() end to end", gpu_sim["n_paths"], gpu_sim["best_s"], tp["gpu_simulate"] / 1e9,
                     tp["gpu_simulate"] / tp["cpu"]))
    rows.append((f"CPU simulate() ({numba.get_num_threads()} threads)", cpu["n_paths"], cpu["best_s"],
                 tp["cpu"] / 1e9, 1.0))
    print(format_table(["run", "paths", "best s", "G path-asset-steps/s", "x CPU"], rows))
    met = tp["gpu_kernel"] >= TARGET
    print(f"target >= {TARGET / 1e9:g} G path-asset-steps/s on the GPU: {'met' if met else 'MISSED'}")
    if check is not None:
        s, pth = check["summary"], check["paths"]
        print(f"GPU vs CPU (rtol {check['rtol']:g}, atol {check['atol']:g}): {s['paths_outside_tolerance']} of "
              f"{s['paths']:,} paths outside tolerance (summaries, max |diff| cum return "
              f"{s['cum_return']['max_abs_diff']:.2e}); {pth['paths_outside_tolerance']} of {pth['paths']:,} "
              f"(every daily return/sigma, max |diff| {pth['returns']['max_abs_diff']:.2e}) -> "
              f"{'agree' if check['agree'] else 'DISAGREE'}")
    if breakdown:
        print()
        print(format_table(["breakdown (keep=summary)", "GPU G/s", "CPU G/s", "x CPU"],
                           [(r["label"], r["gpu_path_asset_steps_per_s"] / 1e9, r["cpu_path_asset_steps_per_s"] / 1e9,
                             r["gpu_path_asset_steps_per_s"] / r["cpu_path_asset_steps_per_s"]) for r in breakdown]))

    import simulator

    payload = {
        "benchmark": "gpu",
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "quick": bool(args.quick),
        "machine": {**info, "numba_threads": numba.get_num_threads(), "gpu": ginfo},
        "versions": {"stress_sim": simulator.__version__, "numba": numba.__version__, "numpy": np.__version__},
        "model": model_dict(), "horizon": h, "repeats": rep, "precision": "float64",
        "unit": "path-asset-steps per second (paths x assets x days / best wall seconds)",
        "throughput": tp,
        "target": {"gpu_path_asset_steps_per_s": TARGET, "measured": tp["gpu_kernel"], "met": met},
        "gpu_kernel": kernel_rows, "kernel_resources": resources, "gpu_simulate": gpu_sim, "cpu": cpu,
        "agreement": check, "breakdown": breakdown,
    }
    out = args.out if args.out is not None else RESULTS_DIR / ("gpu-quick.json" if args.quick else "gpu.json")
    path = write_json(out, payload)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
