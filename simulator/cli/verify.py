"""``stress-sim verify DIR``: prove that a result directory is intact and reproduces.

The checks are :func:`simulator.jobs.verify.verify_directory` (see that module for what is compared);
this command prints one line per run directory with its notes and differences.

Exit status: 0 when everything is intact and reproduces, 1 when something differs (each difference is
listed), 2 when the directory cannot be verified (no manifest, unreadable manifest, model not found).
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
        "verify", help="re-check a result directory's hashes and recompute a sample of its paths",
        description="Verify a results directory: every output's sha256 against manifest.json, then a sample of "
                    "path chunks recomputed from the recorded model, seed and scenario and compared bit for bit. "
                    "Exit 0: intact and reproduced; 1: something differs; 2: cannot be verified.")
    p.add_argument("directory", metavar="DIR", help="a run directory (with manifest.json) or a folder of them")
    p.add_argument("--model", default=None, metavar="MODEL",
                   help="model JSON or builtin:NAME when the directory has no model.json (default: the manifest's "
                        "model_source)")
    p.add_argument("--chunks", type=positive_int, default=DEFAULT_CHUNKS, metavar="K",
                   help=f"path chunks to recompute per run: the first, the last and K-2 at random "
                        f"(default {DEFAULT_CHUNKS})")
    p.add_argument("--chunk-paths", type=positive_int, default=DEFAULT_CHUNK_PATHS, metavar="N",
                   help=f"paths per recomputed chunk (default {DEFAULT_CHUNK_PATHS})")
    p.add_argument("--all", action="store_true", help="recompute every path (slow for large runs)")
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
            line += f", {rc.recomputed_paths:,} path(s) recomputed, {rc.compared_values:,} values identical" \
                if rc.ok else f", {rc.recomputed_paths:,} path(s) recomputed"
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
    print(f"verified: {len(results)} run(s) intact" + ("" if args.hashes_only else " and reproduced"))
    return 0
