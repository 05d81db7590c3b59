"""The HTML scenario report (``stress-sim report``): jinja2 templates with autoescaping and
matplotlib charts embedded as PNG data URIs, so the output is one self-contained file.

``write_report(results_dir, out)`` is the entry point; see :mod:`simulator.report.render`.
"""
from simulator.report.render import (  # noqa: F401
    BACKTEST_FILE,
    ReportInputs,
    load_inputs,
    render_html,
    report_tables,
    summary_document,
    write_report,
)

__all__ = ["BACKTEST_FILE", "ReportInputs", "load_inputs", "render_html", "report_tables", "summary_document",
           "write_report"]
