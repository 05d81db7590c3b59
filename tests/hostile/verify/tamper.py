"""The tamper corpus of ``stress-sim verify``: the prepared result folders, a forger's tools and one edit per
kind of forgery.

Each case of ``tamper.toml`` names a prepared folder (``base``), copied afresh for the case into a temporary
folder ``ROOT`` (so the copy is ``ROOT/<base>``), and an ``edit``: the function below of that name (``-`` read
as ``_``), called with ``ROOT``, which edits the copy as a forger would: a figure changed, a Parquet column
scaled, a CSV cell or the HTML report changed, the stored model, scenario, book or manifest edited. With
``rehash = true`` the runner then rewrites the ``manifest.json`` of every folder holding an edited file with
the edited files' sha256 (:func:`rehash`), as a careful forger would, so that only the re-derivation can
catch the edit. ``tests/test_hostile_verify.py`` runs ``stress-sim verify`` on the case's folder and checks
the exit status and that each expected fragment appears on one ``differs:`` line (file, key and values).

Prepared folders (small sizes; each built once per test module, when a selected case needs it):

- ``runs``: ``stress-sim run baseline covid-2020 svb-paths`` on ``builtin:us-markets``, 200 paths, seed 5
  (``svb-paths`` is the library's ``svb-2023`` keeping its daily paths, so its figures are re-derived from the
  stored ``paths.parquet``; ``covid-2020`` is compared with the baseline and has targets);
- ``book``: ``stress-sim run rates-shock-2022 --model builtin:us-markets-rates --book examples/book.csv``,
  200 paths (``book.json`` stored with the run);
- ``demo``: ``stress-sim demo`` on the baseline (as-of start) and ``covid-2020`` only, 100 paths, 40 backtest
  days, 2,000 paths per backtest refit, seed 5 (``summary.json``, ``tables/*.csv``, ``backtest.json``,
  ``reverse.json``, ``report.html``);
- ``reverse``: ``stress-sim reverse baseline --model builtin:us-markets --loss-quantile 0.99``, 100 paths;
- ``sim``: ``stress-sim simulate builtin:us-markets --positions ...`` twice: ``sim/summary`` (``--keep
  summary``: ``tail.json`` re-derived from ``summary.parquet``) and ``sim/tail`` (``--keep tail``: no per-path
  file, every path recomputed).

The tools below use only the standard library and pyarrow (never stress-sim's own writers), as a forger would.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[3]


# ---------------------------------------------------------------------------------------------
# a forger's tools (independent of stress-sim's own code)
# ---------------------------------------------------------------------------------------------
def rehash(directory: Path) -> None:
    """Rewrite ``manifest.json`` with the current sha256 of every file it lists."""
    man_path = directory / "manifest.json"
    man = json.loads(man_path.read_text())
    man["outputs"] = {rel: hashlib.sha256((directory / rel).read_bytes()).hexdigest() for rel in man["outputs"]}
    man_path.write_text(json.dumps(man, indent=2, sort_keys=True) + "\n")


def run_folder(path: Path) -> Path:
    """The nearest folder at or above ``path`` holding ``manifest.json`` (whose hashes vouch for ``path``)."""
    for d in (path, *path.parents):
        if (d / "manifest.json").is_file():
            return d
    raise FileNotFoundError(f"no manifest.json above {path}")


def edit_json(path: Path, change: Callable[[Any], None]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def scale_parquet(path: Path, column: str, factor: float) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    t = pq.read_table(path)
    i = t.schema.get_field_index(column)
    t = t.set_column(i, column, pc.multiply(t.column(column), pa.scalar(factor)))
    pq.write_table(t, path)


def nudge_parquet(path: Path, column: str, row: int) -> None:
    """One value of a float column moved by one unit in the last place."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = pq.read_table(path)
    values = t.column(column).to_numpy().copy()
    values[row] = np.nextafter(values[row], np.inf)
    pq.write_table(t.set_column(t.schema.get_field_index(column), column, pa.array(values)), path)


def read_csv(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text())))


def write_csv(path: Path, rows: list[list[str]]) -> None:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path.write_text(out.getvalue())


def edit_csv(path: Path, row: int, column: str, change: Callable[[str], str]) -> None:
    rows = read_csv(path)
    j = rows[0].index(column)
    rows[row + 1][j] = change(rows[row + 1][j])
    write_csv(path, rows)


def _is_float(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return "." in cell or "e" in cell.lower()


def last_float_column(path: Path) -> str:
    """The last column of ``path`` whose first row holds a non-zero decimal number (a figure, not a count)."""
    rows = read_csv(path)
    cols = [c for c, cell in zip(rows[0], rows[1]) if _is_float(cell) and float(cell) != 0.0]
    return cols[-1]


def halve_every_es(risk: dict) -> None:
    for entry in risk["risk"]:
        for lv in entry["levels"]:
            lv["es"] /= 2.0


def times(factor: float) -> Callable[[str], str]:
    return lambda cell: repr(float(cell) * factor)


# ---------------------------------------------------------------------------------------------
# prepared folders
# ---------------------------------------------------------------------------------------------
def _svb_paths(folder: Path) -> Path:
    toml = (REPO / "scenarios" / "library" / "svb-2023.toml").read_text()
    toml = toml.replace('name = "svb-2023"', 'name = "svb-paths"').replace("[outputs]", '[outputs]\nkeep = "paths"', 1)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "svb-paths.toml").write_text(toml)
    return folder / "svb-paths.toml"


def build_runs(root: Path, cli: Callable[..., int]) -> None:
    sc = _svb_paths(root / "inputs")
    assert cli("run", "baseline", "covid-2020", str(sc), "--model", "builtin:us-markets", "--paths", "200", "--seed",
               "5", "--out", str(root / "runs")) == 0


def build_book(root: Path, cli: Callable[..., int]) -> None:
    assert cli("run", "rates-shock-2022", "--model", "builtin:us-markets-rates", "--book",
               str(REPO / "examples" / "book.csv"), "--paths", "200", "--seed", "3", "--out", str(root / "book")) == 0


def build_demo(root: Path, cli: Callable[..., int]) -> None:
    import simulator.cli.demo as demo

    runnable, paths = demo._runnable, demo.BACKTEST_PATHS
    demo._runnable = lambda names, model: runnable(["baseline", "covid-2020"], model)
    demo.BACKTEST_PATHS = 2000
    try:
        assert cli("demo", "--out", str(root / "demo"), "--paths", "100", "--backtest-days", "40", "--seed", "5",
                   "--baseline-start", "as-of") == 0
    finally:
        demo._runnable, demo.BACKTEST_PATHS = runnable, paths


def build_reverse(root: Path, cli: Callable[..., int]) -> None:
    assert cli("reverse", "baseline", "--model", "builtin:us-markets", "--loss-quantile", "0.99", "--paths", "100",
               "--seed", "5", "--out", str(root / "reverse")) == 0


def build_sim(root: Path, cli: Callable[..., int]) -> None:
    for keep, n in (("summary", "300"), ("tail", "400")):
        assert cli("simulate", "builtin:us-markets", "--paths", n, "--horizon", "10", "--seed", "3", "--keep", keep,
                   "--positions", "SP500=1e6,NASDAQ=5e5,WTI=-2e5", "--out", str(root / "sim" / keep)) == 0


BASES: dict[str, Callable[[Path, Callable[..., int]], None]] = {
    "runs": build_runs, "book": build_book, "demo": build_demo, "reverse": build_reverse, "sim": build_sim}


# ---------------------------------------------------------------------------------------------
# the edits (a case's ``edit`` with "-" read as "_"); each edits the copied folder under ``root``
# ---------------------------------------------------------------------------------------------
COVID = "runs/covid-2020"


def untouched(root: Path) -> None:
    pass


# risk.json of a scenario run
def risk_es_halved(root: Path) -> None:
    edit_json(root / COVID / "risk.json", halve_every_es)


def risk_var_interval(root: Path) -> None:
    def change(r: dict) -> None:
        r["risk"][-1]["levels"][1]["var_ci_low"] *= 0.9
    edit_json(root / COVID / "risk.json", change)


def risk_worst_loss(root: Path) -> None:
    def change(r: dict) -> None:
        r["risk"][0]["worst_loss"] *= 0.5
    edit_json(root / COVID / "risk.json", change)


def risk_contribution(root: Path) -> None:
    def change(r: dict) -> None:
        r["es_contributions"][-1]["contributions"]["WTI"] *= 2.0
    edit_json(root / COVID / "risk.json", change)


def risk_asset_table(root: Path) -> None:
    def change(r: dict) -> None:
        row = next(x for x in r["assets_table"] if x["asset"] == "NASDAQ")
        row["p01_return_pct"] = -5.0
    edit_json(root / COVID / "risk.json", change)


def risk_correlation(root: Path) -> None:
    def change(r: dict) -> None:
        m = r["correlation"]["realised"]["matrix"]
        m[0][2] = m[2][0] = 0.1
    edit_json(root / COVID / "risk.json", change)


def risk_stress_vs_baseline(root: Path) -> None:
    def change(r: dict) -> None:
        r["stress_vs_baseline"]["headline"]["es_stress_loss"] *= 0.5
    edit_json(root / COVID / "risk.json", change)


def risk_liquidity_es(root: Path) -> None:
    def change(r: dict) -> None:
        r["frtb_es"]["liquidity_adjusted_es"] *= 0.8
    edit_json(root / COVID / "risk.json", change)


def risk_target_met(root: Path) -> None:
    def change(r: dict) -> None:
        t = r["targets"][0]
        t["simulated"], t["within"] = t["value"], True
    edit_json(root / COVID / "risk.json", change)


def risk_section_removed(root: Path) -> None:
    edit_json(root / COVID / "risk.json", lambda r: r.pop("frtb_es"))


def risk_drawdown(root: Path) -> None:
    def change(r: dict) -> None:
        r["drawdown"]["portfolio"]["mean"] *= 0.5
    edit_json(root / COVID / "risk.json", change)


def risk_text(root: Path) -> None:
    def change(r: dict) -> None:
        r["as_of"] = "2020-02-19"
    edit_json(root / COVID / "risk.json", change)


def _fifo(path: Path) -> None:
    """``path`` replaced by a named pipe: verify must not block reading it."""
    import os

    path.unlink()
    os.mkfifo(path)


def risk_json_fifo(root: Path) -> None:
    _fifo(root / COVID / "risk.json")


def fan_fifo(root: Path) -> None:
    _fifo(root / COVID / "fan.parquet")


def demo_table_fifo(root: Path) -> None:
    _fifo(root / "demo/tables/risk_measures.csv")


def svb_risk_es_halved(root: Path) -> None:
    edit_json(root / "runs/svb-paths/risk.json", halve_every_es)


# the per-path and P&L files of a scenario run
def pnl_scaled(root: Path) -> None:
    scale_parquet(root / COVID / "pnl.parquet", "pnl", 0.5)


def baseline_pnl_scaled(root: Path) -> None:
    scale_parquet(root / "runs/baseline/pnl.parquet", "pnl", 2.0)


def fan_scaled(root: Path) -> None:
    scale_parquet(root / COVID / "fan.parquet", "q01", 1.1)


def summary_nudged(root: Path) -> None:
    nudge_parquet(root / COVID / "summary.parquet", "cum_log_return_pct", 4)


def paths_nudged(root: Path) -> None:
    nudge_parquet(root / "runs/svb-paths/paths.parquet", "log_return_pct", 7)


# the stored model and scenario
def _model_mu(root: Path, folder: str) -> None:
    def change(m: dict) -> None:
        m["marginals"][0]["mean"]["mu"] += 0.01
    edit_json(root / folder / "model.json", change)


def model_edited(root: Path) -> None:
    _model_mu(root, COVID)


def model_edited_resigned(root: Path) -> None:
    """The model edited, its file hash and the manifest's model_sha256 both updated: the paths give it away."""
    model_edited(root)
    d = root / COVID
    data = json.loads((d / "model.json").read_text())
    data.pop("provenance", None)
    sha = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    edit_json(d / "manifest.json", lambda m: m.update(model_sha256=sha))
    rehash(d)


def model_unreadable(root: Path) -> None:
    (root / COVID / "model.json").write_text('{"assets": ["SP500"], "marginals": {}}')


def scenario_edited(root: Path) -> None:
    def change(s: dict) -> None:
        s["shocks"][0]["knots"][0][1] = -20.0
    edit_json(root / COVID / "scenario.json", change)


def scenario_edited_resigned(root: Path) -> None:
    """The scenario edited, its file hash and the manifest's scenario_sha256 updated: the paths give it away."""
    scenario_edited(root)
    d = root / COVID
    sha = hashlib.sha256(json.dumps(json.loads((d / "scenario.json").read_text()), sort_keys=True).encode()).hexdigest()
    edit_json(d / "manifest.json", lambda m: m.update(scenario_sha256=sha))
    rehash(d)


# the manifest of a scenario run (not hashed: only what it records can give it away)
def _manifest(root: Path, change: Callable[[dict], None], folder: str = COVID) -> None:
    edit_json(root / folder / "manifest.json", change)


def manifest_seed(root: Path) -> None:
    _manifest(root, lambda m: m["seed"].update(entropy=str(int(m["seed"]["entropy"]) + 1)))


def manifest_n_paths(root: Path) -> None:
    _manifest(root, lambda m: m.update(n_paths=100))


def manifest_model_sha(root: Path) -> None:
    _manifest(root, lambda m: m.update(model_sha256="0" * 64))


def manifest_scenario_sha(root: Path) -> None:
    _manifest(root, lambda m: m.update(scenario_sha256="0" * 64))


def manifest_assets(root: Path) -> None:
    _manifest(root, lambda m: m.update(assets=list(reversed(m["assets"]))))


def manifest_ci(root: Path) -> None:
    _manifest(root, lambda m: m.update(ci=0.9))


def manifest_pnl_horizons(root: Path) -> None:
    _manifest(root, lambda m: m.update(pnl_horizons=m["pnl_horizons"][1:]))


def manifest_baseline(root: Path) -> None:
    _manifest(root, lambda m: m["baseline"].update(name="svb-paths"))


def manifest_output_dropped(root: Path) -> None:
    """risk.json edited and dropped from the manifest's outputs, so that no hash is recorded for it."""
    risk_es_halved(root)
    _manifest(root, lambda m: m["outputs"].pop("risk.json"))


def manifest_kind(root: Path) -> None:
    """The run relabelled a validation (integrity only) after its figures were edited and re-hashed."""
    risk_es_halved(root)
    rehash(root / COVID)
    _manifest(root, lambda m: m.update(kind="validation"))


def manifest_unknown_kind(root: Path) -> None:
    risk_es_halved(root)
    rehash(root / COVID)
    _manifest(root, lambda m: m.update(kind="audited-run"))


def manifest_removed(root: Path) -> None:
    (root / COVID / "manifest.json").unlink()


def manifest_not_json(root: Path) -> None:
    (root / COVID / "manifest.json").write_text('{"kind": "scenario-run", ')


# an instrument book
BOOK = "book/rates-shock-2022"


def book_json_edited(root: Path) -> None:
    def change(b: dict) -> None:
        p = next(x for x in b["positions"] if x["id"] == "ust_10y")
        p["notional"] *= 0.5
    edit_json(root / BOOK / "book.json", change)


def book_json_resigned(root: Path) -> None:
    """The book edited and the manifest's book_sha256 updated too: the book figures give it away."""
    book_json_edited(root)
    data = json.loads((root / BOOK / "book.json").read_text())
    sha = hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    _manifest(root, lambda m: m.update(book_sha256=sha), BOOK)
    rehash(root / BOOK)


def book_position_es(root: Path) -> None:
    def change(r: dict) -> None:
        p = next(x for x in r["book"]["positions"] if x["id"] == "ust_2y")
        p["standalone_es"] *= 0.5
    edit_json(root / BOOK / "risk.json", change)


def book_dv01(root: Path) -> None:
    def change(r: dict) -> None:
        row = next(s for s in r["book"]["sensitivities"] if s["measure"] == "dv01")
        row["value"] *= 0.1
    edit_json(root / BOOK / "risk.json", change)


def book_curve(root: Path) -> None:
    def change(r: dict) -> None:
        r["curves"]["UST"]["at_horizon"][3][0] -= 1.0
    edit_json(root / BOOK / "risk.json", change)


# the demo folder
def demo_summary(root: Path) -> None:
    def change(s: dict) -> None:
        row = next(x for x in s["scenarios"] if x["scenario"] == "covid-2020")
        row["es_97.5"] *= 0.5
    edit_json(root / "demo/summary.json", change)


def demo_every_table(root: Path) -> None:
    """One figure of the first row of every table tripled."""
    for path in sorted((root / "demo/tables").glob("*.csv")):
        edit_csv(path, 0, last_float_column(path), times(3.0))


def demo_backtests(root: Path) -> None:
    """Three backtests edited three ways: an exception count, a test's p-value and verdict, the realised returns."""
    def change(b: dict) -> None:
        by_name = {x["name"]: x for x in b["backtests"]}
        by_name["portfolio"]["spec"]["exceptions"] += 3
        t = next(x for x in by_name["SP500"]["tests"] if x["test"] == "pof")
        t["p_value"], t["reject"] = 0.9, False
        s = by_name["NASDAQ"]["series"]
        s["return"] = [max(x, -0.5) for x in s["return"]]
    edit_json(root / "demo/backtest.json", change)


def demo_reverse(root: Path) -> None:
    def change(r: dict) -> None:
        r["most_likely_breach"]["mahalanobis"] *= 1.5
    edit_json(root / "demo/reverse.json", change)


def demo_model(root: Path) -> None:
    def change(m: dict) -> None:
        m["copula"]["nu"] = m["copula"].get("nu", 5.0) + 1.0
    edit_json(root / "demo/model.json", change)


def demo_report_text(root: Path) -> None:
    """The covid-2020 section's ES 97.5% halved in report.html."""
    path = root / "demo/report.html"
    html = path.read_text()
    start = html.index('<section id="sc-covid-2020">')
    pattern = re.compile(r'(<td class="l">ES 97\.5%</td><td><b>)([\d,]+)(</b>)')
    m = pattern.search(html, start)
    assert m is not None
    value = int(m.group(2).replace(",", "")) // 2
    html = html[:m.start(2)] + f"{value:,}" + html[m.end(2):]
    path.write_text(html)


def demo_report_chart(root: Path) -> None:
    """The first two charts swapped (each still a valid picture, of the wrong figures)."""
    path = root / "demo/report.html"
    html = path.read_text()
    uris = list(re.finditer(r"data:image/png;base64,[A-Za-z0-9+/=]+", html))
    first, second = uris[0], uris[1]
    assert first.group(0) != second.group(0)
    html = (html[:first.start()] + second.group(0) + html[first.end():second.start()] + first.group(0)
            + html[second.end():])
    path.write_text(html)


def demo_every_file(root: Path) -> None:
    demo_summary(root)
    demo_every_table(root)
    demo_backtests(root)
    demo_reverse(root)
    demo_model(root)
    demo_report_text(root)


def demo_run_es_halved(root: Path) -> None:
    edit_json(root / "demo/covid-2020/risk.json", halve_every_es)


# a reverse stress test
def reverse_threshold(root: Path) -> None:
    def change(r: dict) -> None:
        r["loss_threshold"] *= 0.5
    edit_json(root / "reverse/reverse.json", change)


def reverse_breach_prob(root: Path) -> None:
    def change(r: dict) -> None:
        r["simulated_breaches"]["prob"] = 0.001
    edit_json(root / "reverse/reverse.json", change)


def reverse_moves(root: Path) -> None:
    def change(r: dict) -> None:
        moves = r["most_likely_breach"]["moves_simple_pct"]
        for k in moves:
            moves[k] *= 0.5
    edit_json(root / "reverse/reverse.json", change)


def reverse_scenario(root: Path) -> None:
    def change(r: dict) -> None:
        r["inputs"]["scenario"]["horizon_days"] = 100
    edit_json(root / "reverse/reverse.json", change)


# stress-sim simulate --positions
def tail_es_halved(root: Path) -> None:
    def change(t: dict) -> None:
        for lv in t["risk"]["levels"]:
            lv["es"] /= 2.0
    edit_json(root / "sim/summary/tail.json", change)


def tail_only_var(root: Path) -> None:
    def change(t: dict) -> None:
        t["risk"]["levels"][1]["var"] *= 0.8
    edit_json(root / "sim/tail/tail.json", change)


def tail_summary_nudged(root: Path) -> None:
    nudge_parquet(root / "sim/summary/summary.parquet", "cum_log_return_pct", 0)
