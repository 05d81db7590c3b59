"""``stress-sim validate-transactions --feed DIR [--leaks] [--real ROWS --holdout ROWS] [--out report.json]``.

Runs the fairness checks on a feed written by ``stress-sim transactions`` (against the profile stored
in its manifest), with ``--leaks`` the leak audit (small models on every column and derived flag that
should carry no label, :func:`simulator.transactions.audit.leak_audit`) and, given real rows used for a
row-level calibration and real held-out rows, the privacy checks (exact, sequence, counterparty and
balance matches, distance to closest record, membership-inference AUC). NumPy and SciPy only: a plain
install runs it. Prints a summary, optionally writes the full report as JSON; exits 0 when every check
passes, 1 when a check flags something, 2 on bad input.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from simulator.exceptions import UserInputError


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "validate-transactions", help="privacy and fairness checks of a synthetic transaction feed",
        description="Fairness checks (segment effects vs the configured profile) of a feed directory and, with "
                    "--real/--holdout, privacy checks against the real rows of a row-level calibration.")
    p.add_argument("--feed", required=True, help="feed directory written by 'stress-sim transactions'")
    p.add_argument("--real", help="CSV/Parquet real rows the profile was fitted on (type|category, step|ts, amount)")
    p.add_argument("--holdout", help="CSV/Parquet real rows held out of the fit (same columns)")
    p.add_argument("--leaks", action="store_true", help="run the leak audit (fails when a column or flag that should "
                   "carry no label scores ROC AUC above --bound)")
    p.add_argument("--bound", type=float, default=None, help="leak audit: largest acceptable ROC AUC (default 0.60)")
    p.add_argument("--engine", choices=["auto", "sklearn", "numpy"], default="auto",
                   help="leak audit models: scikit-learn when installed (auto) or the NumPy implementation")
    p.add_argument("--alpha", type=float, default=1e-3, help="test level of the fairness checks (default 1e-3)")
    p.add_argument("--max-rows", type=int, default=20_000, help="rows sampled for the privacy distances")
    p.add_argument("--out", help="write the full report to this JSON file")
    p.set_defaults(func=run)


def read_feed(directory: str | Path):
    """Read a feed directory (checks every file against the manifest's sha256); returns (DataFrame, manifest)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from simulator.io import sha256_file

    d = Path(directory)
    if not d.is_dir():
        raise UserInputError(f"--feed {str(d)!r} is not a directory")
    mpath = d / "_manifest.json"
    if not mpath.is_file():
        mpath = d / "manifest.json"  # feeds written by 0.3 and earlier
    if not mpath.is_file():
        raise UserInputError(f"--feed {str(d)!r} has no _manifest.json (write it with 'stress-sim transactions')")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UserInputError(f"{str(mpath)!r} is not valid JSON: {exc}") from None
    if manifest.get("kind") != "transactions":
        raise UserInputError(f"{str(mpath)!r} is not a transaction-feed manifest (kind {manifest.get('kind')!r})")
    outputs = manifest.get("outputs", {})
    tables = []
    for rel, digest in sorted(outputs.items()):
        f = d / rel
        if not f.is_file():
            raise UserInputError(f"feed file {rel!r} listed in the manifest is missing")
        if sha256_file(f) != digest:
            raise UserInputError(f"feed file {rel!r} does not match its sha256 in the manifest (modified?)")
        if rel.startswith("_"):
            continue  # side tables
        if rel.endswith(".parquet"):
            tables.append(pq.read_table(f))
        elif rel.endswith(".jsonl"):
            tables.append(pa.Table.from_pandas(pd.read_json(f, lines=True), preserve_index=False))
    if not tables:
        raise UserInputError(f"--feed {str(d)!r} holds no rows")
    df = pa.concat_tables(tables, promote_options="default").to_pandas()
    for col in ("ts", "label_available_at", "reported_at"):
        if col in df.columns:
            df[col] = pd.to_datetime(df[col], utc=True)
    return df, manifest


def _read_rows(spec: str, flag: str):
    from calibration.transactions import load_aggregates

    try:
        return load_aggregates(spec)
    except (FileNotFoundError, IsADirectoryError, ValueError) as exc:
        raise UserInputError(f"{flag}: {exc}") from None


def run(args) -> int:
    if (args.real is None) != (args.holdout is None):
        raise UserInputError("--real and --holdout must be given together")
    if not 0 < args.alpha < 1:
        raise UserInputError(f"--alpha must be in (0, 1), got {args.alpha}")
    if args.max_rows < 100:
        raise UserInputError(f"--max-rows must be >= 100, got {args.max_rows}")
    txs = []
    if args.out:  # checked before the work: an existing --out must be a report of this command
        from simulator.outdir import FileRule, OutputTransaction, is_json_with

        out = Path(args.out)
        if out.name in ("", ".", ".."):
            raise UserInputError(f"--out {args.out!r} is not a file name; give e.g. report.json")
        txs.append(OutputTransaction(out.parent, {out.name: FileRule(
            is_json_with("feed", "fairness", "passed"), "--out", "a validate-transactions report")}))
    try:
        return _validate(args, txs)
    except BaseException:
        for tx in txs:
            tx.abort()
        raise


def _validate(args, txs) -> int:
    from calibration.privacy import fairness_report, privacy_report
    from simulator.io import atomic_write_json
    from simulator.transactions import TransactionProfile

    feed, manifest = read_feed(args.feed)
    try:
        profile = TransactionProfile.from_dict(manifest["profile"])
    except (KeyError, ValueError, TypeError) as exc:
        raise UserInputError(f"the feed manifest holds no valid profile: {exc}") from None
    report = {"feed": str(args.feed), "rows": len(feed),
              "fairness": fairness_report(feed, profile, days=manifest.get("days"), alpha=args.alpha)}
    if args.leaks:
        from simulator.transactions.audit import DEFAULT_BOUND, leak_audit

        bound = DEFAULT_BOUND if args.bound is None else args.bound
        if not 0.5 < bound <= 1.0:
            raise UserInputError(f"--bound must be in (0.5, 1], got {bound}")
        report["leaks"] = leak_audit(feed, bound=bound, engine=args.engine)
    if args.real is not None:
        real = _read_rows(args.real, "--real")
        holdout = _read_rows(args.holdout, "--holdout")
        try:
            report["privacy"] = privacy_report(real, feed, holdout, max_rows=args.max_rows)
        except (ValueError, TypeError) as exc:
            raise UserInputError(str(exc)) from None
    flags = (report["fairness"]["flags"] + report.get("privacy", {}).get("flags", [])
             + [f"leak: {m}" for m in report.get("leaks", {}).get("failures", [])])
    report["passed"] = not flags
    if args.out:
        atomic_write_json(txs[0].path(Path(args.out).name), report)
        txs[0].commit()
    fair = report["fairness"]
    print(f"feed {args.feed}: {len(feed)} rows, {int(feed['is_fraud'].sum())} fraud")
    for seg in fair["segments"]:
        print(f"  segment {seg['segment']:>16}: {seg['customers']:>8} customers, "
              f"{seg['fraud_cases_per_customer_day']:.2e} cases/customer-day "
              f"(configured x{seg['configured_fraud_multiplier']:g}), decline {seg['legit_decline_rate']:.3%}")
    if "leaks" in report:
        lk = report["leaks"]
        worst = sorted(lk["worst"].items(), key=lambda kv: -kv[1])[:5]
        print(f"  leak audit ({lk['engine']}, bound {lk['bound']:.2f}): {len(lk['checks'])} checks, highest ROC AUC "
              + ", ".join(f"{k} {v:.3f}" for k, v in worst))
    if "privacy" in report:
        pr = report["privacy"]
        extra = ", ".join(f"{k} {v['synthetic']:.2%} (held-out {v['holdout']:.2%})"
                          for k, v in pr["matches"].items() if k != "rows")
        print(f"  privacy: exact matches {pr['exact_match_rate']:.4%} (held-out {pr['holdout_exact_match_rate']:.4%})"
              f"{', ' + extra if extra else ''}; DCR ratio {pr['dcr_ratio']:.3f}, "
              f"membership-inference AUC {pr['mia_auc']:.3f}")
    for f in flags:
        print(f"  FLAG: {f}")
    print("PASSED" if not flags else f"FLAGGED ({len(flags)})", file=sys.stdout)
    return 0 if not flags else 1
