"""``stress-sim verify DIR``: prove that a result directory is intact, reproduces, and that every figure it
publishes re-derives.

The checks are :func:`simulator.jobs.verify.verify_directory` (see that module and
:mod:`simulator.jobs.rederive` for what is compared); this command prints one line per run directory with
its notes and differences (each naming the file, the key and both values).

Exit status: 0 when everything is intact, reproduces and re-derives; 1 when something differs (a file's hash,
a path value, a re-derived figure, an edited ``model.json`` or ``scenario.json``; each difference is listed);
2 when the input is unusable (no manifest, unreadable manifest, malformed seed or size records, a model given
or named that is not the run's, an unknown results format).
"""
from __future__ import annotations

import sys

import numpy as np

from simulator.cli.common import non_negative_int, positive_int
# the library behind this command; names kept importable from here
from simulator.jobs.verify import (  # noqa: F401
    DEFAULT_CHUNK_PATHS,
    DEFAULT_CHUNKS,
    MAX_LISTED,
    SIM_KINDS,
    RunCheck,
    check_hashes,
    choose_chunks,
    columns_for,
    find_runs,
    recompute,
    verify_directory,
)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "verify", help="re-check a result directory's hashes, recompute its paths and re-derive every figure",
        description="Verify a results directory: every output's sha256 against manifest.json and the stored "
                    "model and scenario against their recorded hashes; a sample of path chunks (every path with "
                    "--all) recomputed from the recorded model, seed and scenario and compared bit for bit; then "
                    "every published figure re-derived from the paths by the code that wrote it and compared "
                    "within 1e-9 relative (bit-identical within one version): risk.json (VaR, ES, intervals, "
                    "contributions, stress vs baseline, liquidity-adjusted ES, targets, book and curves), "
                    "pnl.parquet, fan.parquet, simulate's tail.json, a demo's summary.json, tables/*.csv, "
                    "report.html and backtest.json tests, and reverse.json. Exit status 0: intact, reproduced and "
                    "re-derived; 1: something differs (each difference names the file, the key and both values; an "
                    "edited model.json, scenario.json, book.json or manifest too); 2: unusable input (no or "
                    "unreadable manifest, malformed records, a model that is not the run's).")
    p.add_argument("directory", metavar="DIR", help="a run directory (with manifest.json) or a folder of them")
    p.add_argument("--model", default=None, metavar="MODEL",
                   help="model JSON or builtin:NAME when the directory has no model.json (default: the manifest's "
                        "model_source)")
    p.add_argument("--chunks", type=positive_int, default=DEFAULT_CHUNKS, metavar="K",
                   help=f"path chunks to recompute per run: the first, the last and K-2 at random "
                        f"(default {DEFAULT_CHUNKS})")
    p.add_argument("--chunk-paths", type=positive_int, default=DEFAULT_CHUNK_PATHS, metavar="N",
                   help=f"paths per recomputed chunk (default {DEFAULT_CHUNK_PATHS})")
    p.add_argument("--all", action="store_true",
                   help="recompute every path and re-derive the figures from them (default: the figures are "
                        "re-derived from the stored per-path files once hash-checked and sampled)")
    p.add_argument("--sample-seed", type=non_negative_int, default=None, metavar="S",
                   help="seed of the random chunk choice (default: fresh entropy, printed)")
    p.add_argument("--hashes-only", action="store_true", help="only check the output hashes")
    p.set_defaults(func=run)


def run(args) -> int:
    sample_seed = args.sample_seed
    if sample_seed is None and not args.all and not args.hashes_only:
        sample_seed = int(np.random.SeedSequence().entropy % (1 << 63))
    results = verify_directory(args.directory, model=args.model, chunks=args.chunks, chunk_paths=args.chunk_paths,
                               all_paths=args.all, sample_seed=sample_seed, hashes_only=args.hashes_only)
    n_bad = 0
    for rc in results:
        status = "OK" if rc.ok else "MISMATCH"
        line = f"{status}  {rc.directory}  [{rc.kind}]  {rc.n_files} file hash(es) checked"
        if rc.recomputed_paths:
            line += f", {rc.recomputed_paths:,} path(s) recomputed"
        if rc.compared_values:
            line += f", {rc.compared_values:,} values compared"
        print(line)
        for note in rc.notes:
            print(f"    note: {note}")
        for prob in rc.problems[:MAX_LISTED]:
            print(f"    differs: {prob}")
        if len(rc.problems) > MAX_LISTED:
            print(f"    ... and {len(rc.problems) - MAX_LISTED} more")
        n_bad += not rc.ok
    if sample_seed is not None and not args.all:
        print(f"(chunk sample seed {sample_seed}; rerun with --sample-seed {sample_seed} to repeat it, or --all)")
    if n_bad:
        print(f"verification FAILED: {n_bad} of {len(results)} run(s) differ from their manifest or do not reproduce",
              file=sys.stderr)
        return 1
    print(f"verified: {len(results)} run(s) intact" + ("" if args.hashes_only else " and reproduced; every published "
                                                       "figure re-derived"))
    return 0
