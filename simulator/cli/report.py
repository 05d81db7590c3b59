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


def _report_table_file(rel: str) -> bool:
    """What ``report --tables DIR`` writes (an existing DIR holding only these may be replaced)."""
    return rel == "summary.json" or (rel.startswith("tables/") and rel.endswith(".csv") and rel.count("/") == 1)


def _is_report_html(path: Path) -> bool:
    from simulator.outdir import starts_with

    return starts_with(b'<meta name="generator" content="stress-sim')(path)


def run(args) -> int:
    from simulator.outdir import FileRule, OutputTransaction, abort_all, commit_all, directory_transaction
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
    # destinations: an existing --out must be a stress-sim report, --tables only what report writes there
    tables = Path(args.tables) if args.tables is not None else None
    txs: list[OutputTransaction] = []
    try:
        if tables is not None:
            inside = out.resolve().parent == tables.resolve()
            if not inside and tables.resolve() in out.resolve().parents:
                raise UserInputError(f"--out {args.out!r} lies in a sub-folder of --tables {args.tables!r}; put the "
                                     "report in the tables folder itself or elsewhere")

            def ours(rel: str) -> bool:
                return _report_table_file(rel) or (inside and rel == out.name and _is_report_html(tables / rel))

            txs.append(directory_transaction(tables, kinds=(), what="--tables", extra_ok=ours))
            tables_stage = txs[0].out()
            html = tables_stage / out.name if inside else None
        if tables is None or html is None:
            txs.append(OutputTransaction(out.parent, {out.name: FileRule(_is_report_html, "--out",
                                                                          "a stress-sim HTML report")}))
            html = txs[-1].path(out.name)
        written = write_report(root, html, tables_dir=tables_stage if tables is not None else None,
                               title=args.title, charts=not args.no_charts, verify=not args.no_verify,
                               progress=(lambda m: print(m, file=sys.stderr, flush=True)) if sys.stderr.isatty()
                               else None)
        commit_all(txs)
    except BaseException:
        abort_all(txs)
        raise
    print(f"wrote {out}" + (f", {Path(args.tables) / 'summary.json'} and {len(written) - 2} CSV tables"
                            if "summary" in written else ""))
    return 0
