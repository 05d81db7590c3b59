"""``stress-sim transactions --profile cards --customers N --days D [--scenario S --model M] --out DIR``.

Writes a labelled synthetic transaction feed as a hive-partitioned Parquet dataset
(``DIR/date=YYYY-MM-DD/part-NNNNN.parquet``) that ``pandas.read_parquet(DIR)``, ``pyarrow.dataset``,
polars and DuckDB open as it is, with the side tables and the manifest beside it under names the
dataset readers skip (``_manifest.json``, ``_accounts.parquet``, ``_devices.parquet``, and
``_cards.parquet`` or ``_edges.parquet``). The directory is built under a temporary name and swapped
into place at the end, so a failing run leaves an existing output untouched.

``--out -`` streams NDJSON (``--format ndjson``) or an Arrow IPC stream (``--format arrow``) to stdout,
optionally throttled to ``--rate`` rows per second, for a message broker's console producer.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from simulator.cli.common import output_dir
from simulator.cli.common import positive_int as _positive_int
from simulator.exceptions import UserInputError

#: Files beside the data in an output folder (skipped by dataset readers: leading underscore, not in
#: the ``date=*/*.parquet`` glob).
MANIFEST = "_manifest.json"
SIDE_TABLES = {"accounts": "_accounts.parquet", "devices": "_devices.parquet", "cards": "_cards.parquet",
               "edges": "_edges.parquet"}


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


def _positive_float(text: str) -> float:
    v = _non_negative_float(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return v


#: Slowest --rate: one row every 1,000 seconds (a slower stream is a stalled one; time.sleep overflows at ~1e-9)
MIN_RATE = 1e-3


def _rate(text: str) -> float:
    v = _positive_float(text)
    if v < MIN_RATE:
        raise argparse.ArgumentTypeError(f"expected at least {MIN_RATE:g} rows per second, got {text!r}")
    return v


def _seed(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return v


def _drift(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected TYPOLOGY=MULTIPLIER (e.g. card_testing=3), got {text!r}")
    return name.strip(), _positive_float(value)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "transactions", help="generate a labelled synthetic transaction feed (fraud-model training data)",
        description="Generate a synthetic card or mobile-money transaction feed with fraud labels, optionally "
                    "coupled to a market scenario; writes a hive-partitioned Parquet dataset (date=YYYY-MM-DD) "
                    "with _manifest.json and the account, device, card or edge tables, or streams NDJSON / "
                    "Arrow IPC to stdout.")
    p.add_argument("--profile", default="cards",
                   help="cards, mobile-money, or a profile JSON file (TransactionProfile or fitted profile)")
    p.add_argument("--customers", type=_positive_int, required=True, help="customers in the population")
    p.add_argument("--days", type=_positive_int, required=True, help="days to generate")
    p.add_argument("--seed", type=_seed, default=None,
                   help="random seed (default: fresh entropy, printed and recorded in the manifest, as the API's "
                        "seed=None)")
    p.add_argument("--scenario", help="scenario TOML / library name to couple the feed to (needs --model)")
    p.add_argument("--model", help="market model JSON or builtin:NAME (with --scenario)")
    p.add_argument("--market-calendar", choices=["trading", "daily"], default=None,
                   help="feed days to scenario days: trading (weekends keep Friday's state; default) or daily")
    p.add_argument("--market-after", choices=["hold", "calm"], default=None,
                   help="after the scenario's last day: hold its last state (default) or calm")
    p.add_argument("--market", help="CSV/Parquet per-day market state with columns drawdown, vol_ratio")
    p.add_argument("--fraud-scale", type=_non_negative_float, default=None,
                   help="multiply every fraud-typology rate (0 = no fraud)")
    p.add_argument("--overlap", type=_fraction, default=None, help="class-overlap probability in [0, 1]")
    p.add_argument("--label-noise", type=_non_negative_float, default=None,
                   help="scale unreported fraud and friendly-fraud disputes (0: observed labels are the truth)")
    p.add_argument("--drift", type=_drift, action="append", default=None, metavar="TYPOLOGY=MULT",
                   help="concept drift: the typology's rate reaches MULT times its rate on the last day (repeatable)")
    p.add_argument("--burn-in-days", type=int, default=None, help="days generated before the start, not emitted "
                   "(default 7)")
    p.add_argument("--start", default=None, help="first day, ISO date (default 2024-01-01)")
    p.add_argument("--batch-rows", type=_positive_int, default=262_144, help="rows per batch / Parquet part")
    p.add_argument("--format", choices=["parquet", "ndjson", "jsonl", "arrow"], default="parquet",
                   help="parquet (directory), ndjson (jsonl is an alias) or arrow (IPC stream)")
    p.add_argument("--rate", type=_rate, default=None, metavar="ROWS/S",
                   help="emit at most this many rows per second (streaming into a broker)")
    prog = p.add_mutually_exclusive_group()
    prog.add_argument("--progress", dest="progress", action="store_true", default=None,
                      help="show a progress bar on stderr (default: when stderr is a terminal)")
    prog.add_argument("--no-progress", dest="progress", action="store_false")
    p.add_argument("--out", required=True, help="output directory, or - for stdout (ndjson or arrow)")
    p.set_defaults(func=run)


def load_profile(spec: str):
    """A built-in profile name or a profile JSON file (plain or fitted), with user-facing errors."""
    from simulator.transactions import PROFILE_NAMES, TransactionProfile, get_profile

    if spec in PROFILE_NAMES:
        return get_profile(spec)
    path = Path(spec)
    from simulator.safeio import read_json_file, require_regular_file

    require_regular_file(path, "--profile", hint=f"give a built-in profile ({', '.join(PROFILE_NAMES)}) or a profile "
                         "JSON file")

    data = read_json_file(path, "profile file")  # size, file type and nesting checked; one line on bad JSON
    try:
        if isinstance(data, dict) and data.get("format") == "stress-sim/fitted-transaction-profile/1":
            return TransactionProfile.from_dict(data["profile"])
        return TransactionProfile.from_dict(data)
    except (ValueError, TypeError, KeyError) as exc:
        raise UserInputError(f"profile file {spec!r}: {exc}") from None


def load_market(spec: str):
    import pandas as pd

    from simulator.safeio import require_regular_file

    path = Path(spec)
    require_regular_file(path, "--market file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - reader errors become a user-facing message
        raise UserInputError(f"--market file {spec!r} could not be read: {exc}") from None


def _knobs(args) -> dict:
    knobs = {}
    for name in ("fraud_scale", "overlap", "label_noise", "start", "burn_in_days", "market_calendar", "market_after"):
        v = getattr(args, name, None)
        if v is not None:
            knobs[name] = v
    if args.drift:
        knobs["drift"] = dict(args.drift)
    return knobs


def _check_size(args) -> None:
    """Refuse a population that would not fit in memory (about 1 KiB of state per customer, measured, plus the
    batches in flight), before anything is generated."""
    from simulator.limits import check_memory

    need = args.customers * 1024 + 4 * args.batch_rows * 512 + (256 << 20)
    check_memory(need, "transactions", f"{args.customers:,} customers at about 1 KiB each and batches of "
                 f"{args.batch_rows:,} rows", "use fewer --customers (or a smaller --batch-rows)")


def _stream(args):
    from simulator.transactions import generate_transactions

    if (args.scenario is None) != (args.model is None):
        raise UserInputError("--scenario and --model must be given together")
    if args.market is not None and args.scenario is not None:
        raise UserInputError("give either --market or --scenario/--model, not both")
    if args.scenario is None and (args.market_calendar or args.market_after):
        raise UserInputError("--market-calendar and --market-after apply to --scenario")
    profile = load_profile(args.profile)
    market = load_market(args.market) if args.market else None
    scenario = model = None
    if args.scenario is not None:
        from scenarios.loader import load_scenario

        load_scenario(args.scenario)  # unknown names fail here, listing the library
        scenario = args.scenario
        if not args.model.startswith("builtin:"):
            from simulator.safeio import require_regular_file

            require_regular_file(args.model, "--model", hint="give a model JSON path or builtin:NAME")
        model = args.model
    try:
        return generate_transactions(profile, customers=args.customers, days=args.days, seed=args.seed,
                                     scenario=scenario, model=model, market=market, batch_rows=args.batch_rows,
                                     **_knobs(args))
    except (ValueError, TypeError) as exc:
        raise UserInputError(str(exc)) from None


class _Throttle:
    """Sleep so that at most ``rate`` rows per second go out (None: no limit)."""

    def __init__(self, rate: float | None):
        self.rate = rate
        self.t0 = time.monotonic()
        self.sent = 0

    def __call__(self, n: int) -> None:
        if self.rate is None:
            return
        self.sent += n
        ahead = self.sent / self.rate - (time.monotonic() - self.t0)
        if ahead > 0:
            time.sleep(ahead)


def _progress(stream, enabled: bool | None):
    """A tqdm bar over the expected rows (stderr), or a no-op."""
    from simulator.cli.common import show_progress

    if enabled is None:
        enabled = show_progress()
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=int(stream.expected_rows), unit="rows", unit_scale=True, file=sys.stderr,
                desc="transactions", smoothing=0.1)


def _rows_json(batch, fh, throttle, chunk: int = 2048) -> int:
    import pyarrow as pa

    table = pa.Table.from_batches([batch])
    n = 0
    for off in range(0, table.num_rows, chunk):
        rows = table.slice(off, chunk).to_pylist()
        out = []
        for row in rows:
            for k in ("ts", "label_available_at", "reported_at"):
                if row.get(k) is not None:
                    row[k] = row[k].isoformat().replace("+00:00", "Z")
            out.append(json.dumps(row, separators=(",", ":")))
        throttle(len(out))
        fh.write("\n".join(out))
        fh.write("\n")
        fh.flush()
        n += len(out)
    return n


def _to_stdout(stream, args, bar) -> int:
    """NDJSON or Arrow IPC on stdout; a closed pipe (``| head``) ends the run quietly."""
    import os

    throttle = _Throttle(args.rate)
    n = 0
    try:
        if args.format == "arrow":
            import pyarrow as pa

            sink = pa.output_stream(sys.stdout.buffer) if hasattr(sys.stdout, "buffer") else None
            if sink is None:
                raise UserInputError("--format arrow needs a binary stdout")
            with pa.ipc.new_stream(sink, stream.schema) as writer:
                for batch in stream:
                    step = max(1, min(batch.num_rows, int(args.rate) if args.rate else batch.num_rows))
                    for off in range(0, batch.num_rows, step):
                        part = batch.slice(off, step)
                        throttle(part.num_rows)
                        writer.write_batch(part)
                        sys.stdout.buffer.flush()
                    n += batch.num_rows
                    if bar is not None:
                        bar.update(batch.num_rows)
        else:
            for batch in stream:
                n += _rows_json(batch, sys.stdout, throttle)
                if bar is not None:
                    bar.update(batch.num_rows)
    except BrokenPipeError:  # the reader closed the pipe: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return n


def _manifest_fields(stream, args, n_rows: int, n_fraud: int, partitions: list[str]) -> dict:
    prof = stream.profile
    return {
        "seed": stream.seed_record(), "profile": prof.to_dict(), "customers": stream.customers, "days": stream.days,
        "start": stream.start.date().isoformat(), "rows": n_rows, "fraud_rows": n_fraud,
        "knobs": {**stream.knobs, "overlap": prof.fraud.overlap, "drift": dict(prof.fraud.drift),
                  "batch_rows": args.batch_rows},
        "market": stream.market, "scenario": args.scenario, "model": args.model, "market_file": args.market,
        "schema": [f"{f.name}: {f.type}" for f in stream.schema],
        "layout": {"partitioning": "hive", "partition_key": "date", "data_glob": "date=*/*.parquet",
                   "partitions": partitions, "side_tables": {k: v for k, v in SIDE_TABLES.items()
                                                             if k != ("edges" if prof.kind == "cards" else "cards")}},
    }


def run(args) -> int:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from simulator.io import atomic_write_json, build_manifest, sha256_file

    fmt = "ndjson" if args.format == "jsonl" else args.format
    args.format = fmt
    if args.out == "-":
        if fmt == "parquet":
            raise UserInputError("--out - (stdout) needs --format ndjson or --format arrow")
        _check_size(args)
        stream = _stream(args)
        _say_seed(stream, args)
        bar = _progress(stream, args.progress)
        try:
            _to_stdout(stream, args, bar)
        finally:
            if bar is not None:
                bar.close()
        return 0
    if fmt == "arrow":
        raise UserInputError("--format arrow streams to stdout (--out -); write a directory with --format parquet")
    from simulator.outdir import directory_transaction

    out = output_dir(args.out)
    _check_size(args)
    stream = _stream(args)  # every argument checked; nothing generated yet
    # checked before the feed is generated: --out may only replace an earlier feed (never the user's files)
    tx = directory_transaction(out, kinds=("transactions",))
    bar = None
    try:
        _say_seed(stream, args)
        tmp = tx.out()
        bar = _progress(stream, args.progress)
        throttle = _Throttle(args.rate)
        files = []
        n_rows = n_fraud = 0
        part: dict[int, int] = {}
        if fmt == "ndjson":
            with open(tmp / "transactions.jsonl", "w", encoding="utf-8") as fh:
                for batch in stream:
                    n_rows += _rows_json(batch, fh, throttle)
                    n_fraud += int(pc.sum(batch.column("is_fraud")).as_py() or 0)
                    if bar is not None:
                        bar.update(batch.num_rows)
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
                    throttle(batch.num_rows)
                    # batches are in time order, so each day is a contiguous run
                    cuts = [0] + [int(i) + 1 for i in (day[1:] != day[:-1]).nonzero()[0]] + [batch.num_rows]
                    for a, b in zip(cuts[:-1], cuts[1:]):
                        d = int(day[a])
                        k = part.get(d, 0)
                        part[d] = k + 1
                        folder = f"date={_date(stream, d)}"
                        rel = f"{folder}/part-{k:05d}.parquet"
                        (tmp / folder).mkdir(exist_ok=True)
                        pending.append(pool.submit(pq.write_table, pa_table(batch.slice(a, b - a)), tmp / rel,
                                                   compression="zstd"))
                        files.append(rel)
                    while len(pending) > 2:
                        pending.pop(0).result()
                    if bar is not None:
                        bar.update(batch.num_rows)
                for f in pending:
                    f.result()
        tables = {"accounts": stream.accounts_table(), "devices": stream.devices_table()}
        if stream.profile.kind == "cards":
            tables["cards"] = stream.cards_table()
        else:
            tables["edges"] = stream.edges_table()
        for name, table in tables.items():
            pq.write_table(table, tmp / SIDE_TABLES[name], compression="zstd")
            files.append(SIDE_TABLES[name])
        manifest = build_manifest(kind="transactions", **_manifest_fields(
            stream, args, n_rows, n_fraud, sorted({f.split("/")[0] for f in files if f.startswith("date=")})))
        manifest["outputs"] = {f: sha256_file(tmp / f) for f in files}
        atomic_write_json(tmp / MANIFEST, manifest)
        tx.commit()
    except BaseException:
        tx.abort()
        raise
    finally:
        if bar is not None:
            bar.close()
    print(f"wrote {n_rows} transactions ({n_fraud} fraud) to {out}", file=sys.stderr)
    return 0


def _say_seed(stream, args) -> None:
    if args.seed is None:
        ent = stream.seed_record()["entropy"]
        print(f"seed: fresh entropy {ent} (replay with --seed {ent})", file=sys.stderr)


def _date(stream, day: int) -> str:
    import datetime as _dt

    return (stream.start + _dt.timedelta(days=day)).date().isoformat()


def pa_table(batch):
    import pyarrow as pa

    return pa.Table.from_batches([batch])
