"""``stress-sim report RESULTS_DIR --out report.html``: the HTML risk report of a results folder.

Reads every scenario directory written by ``stress-sim run`` / ``stress-sim demo`` below RESULTS_DIR
(and ``backtest.json`` when present) and writes one self-contained HTML file: a header with the as-of
date, the portfolio's value and currency and the model's source; the executive summary (VaR and ES side
by side at each level, the baseline at each scenario's own horizon, replay scaling, targets met); notes
on how to read every figure; backtests with their traffic light; per-scenario charts and tables; model
card and the reproducibility manifest. ``--tables DIR`` also writes ``summary.json`` (with the same
header fields) and ``tables/*.csv``. Results of format ``stress-sim-results/1`` (stress-sim <= 0.2.0)
render too.
"""
from __future__ import annotations

import sys
from pathlib import Path

from simulator.exceptions import UserInputError


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "report", help="render the HTML risk report of a results folder",
        description="Render RESULTS_DIR (written by 'stress-sim run' or 'stress-sim demo') as one self-contained "
                    "HTML report; optionally write summary.json and CSV tables for machines.")
    p.add_argument("results", metavar="RESULTS_DIR", help="results folder (or one scenario's result directory)")
    p.add_argument("--out", required=True, metavar="FILE", help="HTML file to write, e.g. report.html")
    p.add_argument("--tables", default=None, metavar="DIR", help="also write DIR/summary.json and DIR/tables/*.csv")
    p.add_argument("--title", default=None, help="report title")
    p.add_argument("--no-charts", action="store_true", help="tables only (faster)")
    p.add_argument("--no-verify", action="store_true",
                   help="do not check result files against the sha256 in their manifests")
    p.set_defaults(func=run)


def run(args) -> int:
    from simulator.report.render import require_report_dependencies, write_report

    require_report_dependencies()
    root = Path(args.results)
    if not root.is_dir():
        raise UserInputError(f"results folder {args.results!r} not found (write one with 'stress-sim run' or "
                             "'stress-sim demo')")
    out = Path(args.out)
    if out.is_dir():
        raise UserInputError(f"--out {args.out!r} is a directory; give the HTML file name, e.g. report.html")
    if args.tables is not None and Path(args.tables).exists() and not Path(args.tables).is_dir():
        raise UserInputError(f"--tables {args.tables!r} exists and is not a directory")
    written = write_report(root, out, tables_dir=args.tables, title=args.title, charts=not args.no_charts,
                           verify=not args.no_verify,
                           progress=(lambda m: print(m, file=sys.stderr, flush=True)) if sys.stderr.isatty() else None)
    print(f"wrote {written['report']}" + (f", {written['summary']} and {len(written) - 2} CSV tables"
                                          if "summary" in written else ""))
    return 0
