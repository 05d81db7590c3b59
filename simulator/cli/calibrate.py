"""``stress-sim calibrate PRICES|builtin:us-markets --out model.json``: fit a market model to real prices.

Prints a summary table (per-asset model, parameters, persistence, half-life, Ljung–Box p-value on squared
standardised residuals, convergence; copula selection by AIC) and writes the model JSON atomically.
Bad input (missing file, malformed prices, unknown asset, empty window) exits with status 2 and leaves any
existing output untouched.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from simulator.exceptions import UserInputError
from simulator.families import COPULA_FAMILIES, LAWS, VOL_FAMILIES

VOL_CHOICES = ("auto", *VOL_FAMILIES)
DIST_CHOICES = ("auto", *LAWS)
COPULA_CHOICES = ("auto", *COPULA_FAMILIES)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "calibrate",
        help="fit a copula-GARCH market model to daily prices",
        description="Fit per-asset GARCH-family marginals (via arch) and a copula to daily prices and write "
        "the model JSON. PRICES is a CSV or Parquet file (wide: date + one column per asset; long: date, "
        "asset, price) or builtin:us-markets (S&P 500, NASDAQ Composite, WTI, 1999-2018).",
    )
    p.add_argument("prices", metavar="PRICES", help="price file (.csv/.parquet) or builtin:us-markets")
    p.add_argument("--out", required=True, metavar="MODEL.json", help="where to write the model (atomically)")
    p.add_argument("--assets", metavar="A,B,...", help="comma-separated assets to model (default: all)")
    p.add_argument("--start", metavar="DATE", help="first return date of the estimation window (inclusive)")
    p.add_argument("--end", metavar="DATE", help="last return date of the estimation window (inclusive)")
    p.add_argument("--vol", default="auto", choices=VOL_CHOICES,
                   help="volatility process: " + ", ".join(f"{n} ({f.title})" for n, f in VOL_FAMILIES.items())
                   + " (default: auto, " + "/".join(n for n, f in VOL_FAMILIES.items() if f.auto) + " by BIC)")
    p.add_argument("--dist", default="auto", choices=DIST_CHOICES,
                   help="innovation law: normal, t, skewt, evt (GARCH-EVT: skew-t body, generalised Pareto "
                   "tails), fhs (smoothed filtered-historical residual law; only when named) (default: auto, "
                   "normal/t/skewt/evt by BIC)")
    p.add_argument("--copula", default="auto", choices=COPULA_CHOICES, help="copula family (default: auto, by AIC)")
    p.add_argument("--init", default="arch", choices=("arch", "sample"),
                   help="variance-recursion start: arch's backcast or the sample variance (default: arch)")
    p.add_argument("--max-gap", type=int, default=5, metavar="N",
                   help="longest run of missing prices forward filled (default: 5)")
    p.add_argument("--duplicates", default="error", choices=("error", "last"),
                   help="repeated dates: error, or keep the last (default: error)")
    p.add_argument("--date-format", default=None, metavar="FMT",
                   help="strptime format of the price file's dates, e.g. %%d/%%m/%%Y or %%m/%%d/%%Y (needed for numeric "
                        "day/month dates, which are ambiguous; default: ISO and other unambiguous formats)")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="processes for the per-asset fits (-1: all cores; default: 1)")
    p.add_argument("--residuals", metavar="FILE.parquet",
                   help="also write the standardised residuals (date × asset) to this Parquet file")
    p.add_argument("--quiet", action="store_true", help="do not print the summary table")
    p.set_defaults(func=run)


def _check_out(path: str, suffix: str, what: str) -> Path:
    out = Path(path)
    if out.exists() and out.is_dir():
        raise UserInputError(f"{what} {path!r} is a directory; give a file name such as {'model' + suffix!r}")
    if out.suffix.lower() != suffix:
        raise UserInputError(f"{what} {path!r} must end in {suffix}")
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise UserInputError(f"{what} {path!r}: {str(parent)!r} is not a directory")
    return out


def _is_model_file(path: Path) -> bool:
    from simulator.outdir import is_json_with

    return is_json_with("assets", "marginals", "copula")(path)


def _is_residuals_file(path: Path) -> bool:
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
    except Exception:  # noqa: BLE001 - anything pyarrow cannot read is not our residuals file
        return False
    return bool(names) and names[0] == "date"


def run(args: argparse.Namespace) -> int:
    from calibration.calibrate import calibrate_detailed
    from simulator.io import atomic_write_parquet
    from simulator.outdir import FileRule, abort_all, commit_all, file_transaction, staged_path

    out = _check_out(args.out, ".json", "--out")
    res_path = _check_out(args.residuals, ".parquet", "--residuals") if args.residuals else None
    if res_path is not None and res_path.resolve() == out.resolve():
        raise UserInputError("--out and --residuals name the same file")
    assets = None
    if args.assets is not None:
        assets = [a.strip() for a in args.assets.split(",")]
        if not all(assets):
            raise UserInputError(f"--assets {args.assets!r} has an empty name; give comma-separated asset names")
    if args.max_gap < 0:
        raise UserInputError(f"--max-gap must be >= 0, got {args.max_gap}")
    if args.jobs == 0 or args.jobs < -1:
        raise UserInputError(f"--jobs must be a positive integer or -1 (all cores), got {args.jobs}")
    src = args.prices
    if not src.startswith("builtin:"):
        if not Path(src).exists():
            raise UserInputError(f"price file {src!r} does not exist (or use builtin:us-markets)")
        from simulator.safeio import check_regular_file

        check_regular_file(src, "price file")
    # the destinations: an existing --out must be a model file, --residuals a residuals file (never another file)
    rules = {out: FileRule(_is_model_file, "--out", "a stress-sim model file")}
    if res_path is not None:
        rules[res_path] = FileRule(_is_residuals_file, "--residuals", "a residuals Parquet file of stress-sim calibrate")
    txs = file_transaction(rules)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = calibrate_detailed(  # ValueError on bad data: the dispatcher prints it and exits 2
                src, assets=assets, start=args.start, end=args.end, vol=args.vol, dist=args.dist,
                copula=args.copula, init=args.init, n_jobs=args.jobs, max_gap=args.max_gap,
                duplicates=args.duplicates, date_format=args.date_format,
            )
        if res_path is not None:
            frame = result.residuals.copy()
            frame.index.name = "date"
            atomic_write_parquet(staged_path(txs, res_path), frame.reset_index())
        result.model.to_json(staged_path(txs, out))
        commit_all(txs)  # both files replaced together, once both are written
    except BaseException:
        abort_all(txs)
        raise
    seen = set()
    for w in caught:
        msg = str(w.message)
        if msg not in seen and issubclass(w.category, UserWarning):
            seen.add(msg)
            print(f"stress-sim: warning: {msg}", file=sys.stderr)
    if not args.quiet:
        if result.cleaning is not None:
            print(result.cleaning.summary())
            print()
        print(result.summary())
        print()
    print(f"wrote {out}" + (f" and {res_path}" if res_path is not None else ""))
    return 0
