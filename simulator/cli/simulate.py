"""``stress-sim simulate MODEL.json --paths N --horizon H --seed S --out DIR``."""
from __future__ import annotations

import numpy as np

from simulator.cli.common import load_model, non_negative_int, output_dir, positive_int, show_progress


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("simulate", help="simulate Monte Carlo paths from a model JSON",
                              description="Simulate copula-GARCH paths; writes Parquet and manifest.json.")
    p.add_argument("model", help="model JSON file or builtin:NAME")
    p.add_argument("--paths", type=positive_int, required=True, help="number of paths")
    p.add_argument("--horizon", type=positive_int, required=True, help="days to simulate")
    p.add_argument("--seed", type=non_negative_int, required=True, help="random seed (non-negative integer)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--keep", choices=["paths", "summary"], default="paths",
                   help="paths: daily returns and sigmas; summary: per-path cumulative return and drawdown")
    p.add_argument("--chunk-paths", type=positive_int, default=None, help="paths per kernel call (memory)")
    p.add_argument("--threads", type=positive_int, default=None, help="numba threads (default: all cores)")
    p.set_defaults(func=run)


def paths_table(result):
    """Long Arrow table (path, day, asset, return_pct, sigma_pct) of a ``keep='paths'`` result."""
    import pyarrow as pa

    n, h, a = result.returns.shape
    return pa.table({
        "path": pa.array(np.repeat(np.arange(n, dtype=np.int64), h * a)),
        "day": pa.array(np.tile(np.repeat(np.arange(1, h + 1, dtype=np.int32), a), n)),
        "asset": pa.DictionaryArray.from_arrays(np.tile(np.arange(a, dtype=np.int32), n * h),
                                                list(result.asset_names)),
        "return_pct": pa.array(result.returns.reshape(-1)),
        "sigma_pct": pa.array(result.sigma.reshape(-1)),
    })


def summary_table(result):
    """Long Arrow table (path, asset, cum_return_pct, max_drawdown) of any result."""
    import pyarrow as pa

    n, a = result.cum_return.shape
    return pa.table({
        "path": pa.array(np.repeat(np.arange(n, dtype=np.int64), a)),
        "asset": pa.DictionaryArray.from_arrays(np.tile(np.arange(a, dtype=np.int32), n), list(result.asset_names)),
        "cum_return_pct": pa.array(result.cum_return.reshape(-1)),
        "max_drawdown": pa.array(result.max_drawdown.reshape(-1)),
    })


def run(args) -> int:
    from simulator.engine import simulate
    from simulator.io import atomic_write_parquet, build_manifest, write_manifest

    model = load_model(args.model)
    out = output_dir(args.out)
    result = simulate(model, args.paths, args.horizon, args.seed, keep=args.keep, chunk_paths=args.chunk_paths,
                      n_threads=args.threads, progress=show_progress())
    files = ["summary.parquet"]
    atomic_write_parquet(out / "summary.parquet", summary_table(result))
    if args.keep == "paths":
        atomic_write_parquet(out / "paths.parquet", paths_table(result))
        files.append("paths.parquet")
    manifest = build_manifest(
        kind="simulation", seed={"value": args.seed, **result.seed}, model_sha256=result.model_sha256,
        model_source=args.model, n_paths=args.paths, horizon=args.horizon, keep=args.keep,
        assets=list(model.assets), units={"return_pct": "percent log return", "sigma_pct": "percent per day",
                                           "max_drawdown": "fraction of running peak"},
    )
    write_manifest(out, manifest, files=files)
    print(result.summary_frame().round(3).to_string())
    print(f"wrote {', '.join(files)} and manifest.json to {out}")
    return 0
