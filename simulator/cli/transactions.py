"""``stress-sim transactions --profile cards --customers N --days D [--scenario S --model M] --out DIR``.

Writes a labelled synthetic transaction feed as Parquet partitioned by day (``day=K/part-NNNNN.parquet``)
with ``manifest.json`` (seed, effective profile, knobs, market state, file hashes), or streams JSON
lines to stdout with ``--format jsonl --out -``. The directory is built under a temporary name and
swapped into place at the end, so a failing run leaves an existing output untouched.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from simulator.cli.common import non_negative_int as _non_negative_int
from simulator.cli.common import positive_int as _positive_int
from simulator.exceptions import UserInputError


def _fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return v


def _non_negative_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not v >= 0.0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return v


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "transactions", help="generate a labelled synthetic transaction feed (fraud-model training data)",
        description="Generate a synthetic card or mobile-money transaction feed with fraud labels, optionally "
                    "coupled to a market scenario; writes Parquet partitioned by day plus manifest.json, or JSON "
                    "lines to stdout.")
    p.add_argument("--profile", default="cards",
                   help="cards, mobile-money, or a profile JSON file (TransactionProfile or fitted profile)")
    p.add_argument("--customers", type=_positive_int, required=True, help="customers in the population")
    p.add_argument("--days", type=_positive_int, required=True, help="days to generate")
    p.add_argument("--seed", type=_non_negative_int, default=0, help="random seed (default 0)")
    p.add_argument("--scenario", help="scenario TOML / library name to couple the feed to (needs --model)")
    p.add_argument("--model", help="market model JSON or builtin:NAME (with --scenario)")
    p.add_argument("--market", help="CSV/Parquet per-day market state with columns drawdown, vol_ratio")
    p.add_argument("--fraud-scale", type=_non_negative_float, default=None,
                   help="multiply every fraud-typology rate (0 = no fraud)")
    p.add_argument("--overlap", type=_fraction, default=None, help="class-overlap probability in [0, 1]")
    p.add_argument("--start", default=None, help="first day, ISO date (default 2024-01-01)")
    p.add_argument("--batch-rows", type=_positive_int, default=262_144, help="rows per batch / Parquet part")
    p.add_argument("--format", choices=["parquet", "jsonl"], default="parquet", help="output format")
    p.add_argument("--out", required=True, help="output directory, or - for stdout (jsonl only)")
    p.set_defaults(func=run)


def load_profile(spec: str):
    """A built-in profile name or a profile JSON file (plain or fitted), with user-facing errors."""
    from simulator.transactions import PROFILE_NAMES, TransactionProfile, get_profile

    if spec in PROFILE_NAMES:
        return get_profile(spec)
    path = Path(spec)
    if not path.is_file():
        raise UserInputError(f"--profile {spec!r} is neither a built-in profile ({', '.join(PROFILE_NAMES)}) "
                             "nor a profile JSON file")
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserInputError(f"profile file {spec!r} is not valid JSON: {exc}") from None
    try:
        if isinstance(data, dict) and data.get("format") == "stress-sim/fitted-transaction-profile/1":
            return TransactionProfile.from_dict(data["profile"])
        return TransactionProfile.from_dict(data)
    except (ValueError, TypeError, KeyError) as exc:
        raise UserInputError(f"profile file {spec!r}: {exc}") from None


def load_market(spec: str):
    import pandas as pd

    path = Path(spec)
    if not path.is_file():
        raise UserInputError(f"--market file {spec!r} not found")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - reader errors become a user-facing message
        raise UserInputError(f"--market file {spec!r} could not be read: {exc}") from None


def _stream(args):
    from simulator.transactions import generate_transactions

    if (args.scenario is None) != (args.model is None):
        raise UserInputError("--scenario and --model must be given together")
    if args.market is not None and args.scenario is not None:
        raise UserInputError("give either --market or --scenario/--model, not both")
    knobs = {}
    if args.fraud_scale is not None:
        knobs["fraud_scale"] = args.fraud_scale
    if args.overlap is not None:
        knobs["overlap"] = args.overlap
    if args.start is not None:
        knobs["start"] = args.start
    profile = load_profile(args.profile)
    market = load_market(args.market) if args.market else None
    scenario = model = None
    if args.scenario is not None:
        scenario = args.scenario
        if args.model.startswith("builtin:") or Path(args.model).is_file():
            model = args.model
        else:
            raise UserInputError(f"--model {args.model!r} not found (give a model JSON path or builtin:NAME)")
    try:
        return generate_transactions(profile, customers=args.customers, days=args.days, seed=args.seed,
                                     scenario=scenario, model=model, market=market, batch_rows=args.batch_rows,
                                     **knobs)
    except (ValueError, TypeError) as exc:
        raise UserInputError(str(exc)) from None


def _jsonl(stream, fh) -> int:
    import pyarrow as pa

    n = 0
    for batch in stream:
        table = pa.Table.from_batches([batch])
        for row in table.to_pylist():
            for k in ("ts", "label_available_at"):
                row[k] = row[k].isoformat().replace("+00:00", "Z")
            fh.write(json.dumps(row, separators=(",", ":")))
            fh.write("\n")
            n += 1
    fh.flush()
    return n


def _manifest_fields(stream, args, n_rows: int, n_fraud: int) -> dict:
    prof = stream.profile
    return {
        "seed": stream.seed_record(), "profile": prof.to_dict(), "customers": stream.customers, "days": stream.days,
        "start": stream.start.date().isoformat(), "rows": n_rows, "fraud_rows": n_fraud,
        "knobs": {"fraud_scale": args.fraud_scale, "overlap": args.overlap, "batch_rows": args.batch_rows},
        "market": stream.market, "scenario": args.scenario, "model": args.model, "market_file": args.market,
        "schema": [f"{f.name}: {f.type}" for f in stream.schema],
    }


def run(args) -> int:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from simulator.io import build_manifest, write_manifest

    if args.out == "-":
        if args.format != "jsonl":
            raise UserInputError("--out - (stdout) needs --format jsonl")
        stream = _stream(args)
        try:
            _jsonl(stream, sys.stdout)
        except BrokenPipeError:  # the reader closed the pipe (e.g. `| head`): stop quietly
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserInputError(f"--out {args.out!r} exists and is not a directory")
    stream = _stream(args)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        files = []
        n_rows = n_fraud = 0
        part = {}
        if args.format == "jsonl":
            with open(tmp / "transactions.jsonl", "w", encoding="utf-8") as fh:
                n_rows = _jsonl(stream, fh)
            files.append("transactions.jsonl")
        else:
            # Parquet encoding and compression release the GIL: write on a second thread while the
            # next batches are generated (at most two batches in flight, so memory stays bounded)
            from concurrent.futures import ThreadPoolExecutor

            pending = []
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="stress-sim-parquet") as pool:
                for batch in stream:
                    day = batch.column("day").to_numpy()
                    n_rows += batch.num_rows
                    n_fraud += int(pc.sum(batch.column("is_fraud")).as_py() or 0)
                    # batches are in time order, so each day is a contiguous run
                    cuts = [0] + [int(i) + 1 for i in (day[1:] != day[:-1]).nonzero()[0]] + [batch.num_rows]
                    for a, b in zip(cuts[:-1], cuts[1:]):
                        d = int(day[a])
                        k = part.get(d, 0)
                        part[d] = k + 1
                        rel = f"day={d}/part-{k:05d}.parquet"
                        (tmp / f"day={d}").mkdir(exist_ok=True)
                        pending.append(pool.submit(pq.write_table, pa_table(batch.slice(a, b - a)), tmp / rel,
                                                   compression="zstd"))
                        files.append(rel)
                    while len(pending) > 2:
                        pending.pop(0).result()
                for f in pending:
                    f.result()
        manifest = build_manifest(kind="transactions", **_manifest_fields(stream, args, n_rows, n_fraud))
        write_manifest(tmp, manifest, files=files)
        _swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print(f"wrote {n_rows} transactions ({n_fraud} fraud) to {out}", file=sys.stderr)
    return 0


def pa_table(batch):
    import pyarrow as pa

    return pa.Table.from_batches([batch])


def _swap_into_place(tmp: Path, out: Path) -> None:
    """Replace ``out`` by the finished ``tmp`` directory (old content removed only after the swap)."""
    if out.exists():
        old = out.with_name(f".{out.name}.old-{tmp.name}")
        out.rename(old)
        try:
            tmp.rename(out)
        except BaseException:
            old.rename(out)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(out)
