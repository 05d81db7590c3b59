"""The HTML report: escaping of hostile names, traffic-light colours, model card, machine tables, the
``stress-sim report`` CLI, and a real render in headless Chromium (charts decoded, page not blank)."""
from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulator.backtest import rolling_var_backtest, traffic_light
from simulator.builtin import load_builtin_model
from simulator.report import load_inputs, render_html, report_tables, write_report
from simulator.report.render import fmt_num

HOSTILE = "<script>alert(1)</script>"
HOSTILE_DESC = 'Hostile <img src=x onerror=alert(2)> description & "quotes"'


@pytest.fixture
def cli_main():
    import simulator.cli as cli

    return cli.main


def _run(argv):
    import simulator.cli as cli

    return cli.main(argv)


SCENARIO = """
name = "{name}"
description = '''{desc}'''
source = "test fixture: {name}"
horizon_days = 20
n_paths = 200
seed = 11

[roles]
equity = "{hostile}"

[portfolio]
positions = {{ equity = 500000.0, "A&B" = 300000.0, "cost $5$" = 200000.0 }}
liquidity_horizons = {{ equity = 10, "A&B" = 20, "cost $5$" = 60 }}

[outputs]
horizons = [1, 10]
{shocks}
"""
SHOCKS = """
[[shocks]]
type = "vol_spike"
label = "spike <b>bold</b>"
day = 3
days = 10
multiplier = 3.0
assets = "all"

[[shocks]]
type = "correlation_break"
day = 3
days = 15
rho = 0.9

[[targets]]
measure = "median_return_pct"
asset = "equity"
value = 0.0
tolerance = 60.0
source = "wide target <i>met</i>"
why = "test"

[[targets]]
measure = "median_drawdown_pct"
asset = "equity"
value = 90.0
tolerance = 0.5
source = "impossible target <script>x</script>"
why = "test"
"""


@pytest.fixture(scope="module")
def hostile_results(tmp_path_factory):
    """Results of a model whose asset names are hostile (script tag, ampersand, mathtext dollars), with a
    baseline and backtests whose traffic lights are green/amber/red."""
    root = tmp_path_factory.mktemp("report")
    model = {
        "assets": [HOSTILE, "A&B", "cost $5$"],
        "marginals": [{"mean": {"mu": 0.03}, "vol": {"type": "gjr", "omega": 0.02, "alpha": 0.05, "gamma": 0.08,
                                                     "beta": 0.88}, "dist": {"type": "t", "nu": 6.0}}] * 3,
        "copula": {"type": "t", "corr": [[1.0, 0.6, 0.3], [0.6, 1.0, 0.2], [0.3, 0.2, 1.0]], "nu": 6.0},
    }
    (root / "model.json").write_text(json.dumps(model))
    for name, desc, shocks in (("hostile-names", HOSTILE_DESC, SHOCKS), ("baseline", "No shocks.", "")):
        (root / f"{name}.toml").write_text(SCENARIO.format(name=name, desc=desc, hostile=HOSTILE, shocks=shocks))
    out = root / "results"
    assert _run(["run", str(root / "hostile-names.toml"), str(root / "baseline.toml"), "--model",
                 str(root / "model.json"), "--out", str(out)]) == 0
    # backtests: one real, and the same with the traffic light of 5 and of 10 exceptions in 250 days
    from calibration.data import load_prices, log_returns

    r = log_returns(load_prices("builtin:us-markets"))["SP500"]
    bt = rolling_var_backtest(r.iloc[-800:], window=500, refit_every=50, n_oos=260, n_sim=200, seed=1)
    real = bt.to_dict(include_series=True)
    entries = [{**real, "name": f"real {HOSTILE}", "description": HOSTILE_DESC}]
    for k in (5, 10):
        tl = traffic_light(k, 250, 0.01)
        table = [dict(row, result=tl.zone, exceptions=k) if str(row["test"]).startswith("Basel") else row
                 for row in real["table"]]
        entries.append({**real, "name": f"forced-{k}", "traffic_light": tl.to_dict(), "table": table})
    (out / "backtest.json").write_text(json.dumps({"backtests": entries}))
    return out, bt


@pytest.fixture(scope="module")
def hostile_html(hostile_results, tmp_path_factory):
    out, _ = hostile_results
    target = tmp_path_factory.mktemp("html") / "report.html"
    written = write_report(out, target, tables_dir=target.parent)
    assert written["report"] == target
    page = _Page(target.read_text(encoding="utf-8"))
    page.tables_dir = str(target.parent)
    return page


class _Page(str):
    """The report text, with the folder its tables were written to."""

    tables_dir: str = ""


def test_hostile_names_are_escaped_everywhere(hostile_html):
    page = hostile_html
    assert "<script" not in page.lower()  # no script tag at all, from any source
    assert html.escape(HOSTILE, quote=False) in page  # the asset name is shown, as text
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "<img src=x" not in page and "<b>bold</b>" not in page and "spike &lt;b&gt;bold&lt;/b&gt;" in page
    assert "A&amp;B" in page and "cost $5$" in page
    # the liquidity-adjusted ES block lists the positions of each liquidity horizon class by name, escaped
    assert "Scenario liquidity-adjusted ES 97.5% over the worst 10-day window" in page
    assert f"{html.escape(HOSTILE, quote=False)} 10d, A&amp;B 20d, cost $5$ 60d" in page
    # target sources from the scenario file are shown, as text
    assert "wide target &lt;i&gt;met&lt;/i&gt;" in page and "impossible target &lt;script&gt;x&lt;/script&gt;" in page
    # self-contained: every image is an inline PNG, links stay on the page, scripts and fetches are forbidden
    srcs = re.findall(r'<img[^>]*\ssrc="([^"]*)"', page)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert all(h.startswith("#") for h in re.findall(r'href="([^"]*)"', page))
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert not re.search(r"https?://", page)


def test_report_sections_charts_and_stress_loss(hostile_results, hostile_html):
    out, _ = hostile_results
    page = hostile_html
    for section in ('id="summary"', 'id="backtest"', 'id="model"', 'id="manifest"', 'id="sc-hostile-names"',
                    'id="sc-baseline"'):
        assert section in page
    # per scenario: fan, loss distribution, correlation heatmaps; plus the ratio chart and 3 backtest charts
    assert page.count("<img ") == 2 * 3 + 1 + 3
    assert "Stress-to-baseline ES 97.5% ratio, each scenario at its own horizon" in page
    inputs = load_inputs(out)
    cmp = inputs.comparisons["hostile-names"]["headline"]
    assert cmp["horizon_days"] == 20
    assert f"{cmp['es_stress_loss']:,.0f}" in page
    # the baseline's ES at the scenario's horizon stands next to the scenario's
    assert f"{cmp['es_baseline']:,.0f}<br><span class=\"muted\">at 20 days</span>" in page
    # the model has no provenance: the card says so instead of inventing standard errors
    assert "No calibration provenance is stored" in page


def test_traffic_light_colours(hostile_results, hostile_html):
    _, bt = hostile_results
    zones = re.findall(r'<span class="zone zone-(\w+)">(\w+)</span>', hostile_html)
    assert zones == [(bt.traffic_light.zone, bt.traffic_light.zone), ("amber", "amber"), ("red", "red")]
    assert '<td class="zone-red">red</td>' in hostile_html
    assert '<td class="zone-amber">amber</td>' in hostile_html


def test_machine_tables_match_the_results(hostile_results, hostile_html):
    out, _ = hostile_results
    tables_dir = Path(hostile_html.tables_dir)
    summary = json.loads((tables_dir / "summary.json").read_text())
    assert [s["scenario"] for s in summary["scenarios"]] == ["baseline", "hostile-names"]
    ex = pd.read_csv(tables_dir / "tables" / "executive_summary.csv")
    inputs = load_inputs(out)
    res = {r.name: r for r in inputs.results}
    for _, row in ex.iterrows():
        r = res[row["scenario"]]
        for lv, tag in ((0.975, "97.5"), (0.99, "99")):
            assert row[f"es_{tag}"] == pytest.approx(r.tail(r.horizon, lv)["es"])
            assert row[f"var_{tag}"] == pytest.approx(r.tail(r.horizon, lv)["var"])
        assert row["var_level"] == row["es_level"] == 0.975
        assert row["mean_loss"] == pytest.approx(-r.risk_at(r.horizon)["mean_pnl"])
    assert "mean_pnl" not in ex.columns  # the executive summary is losses positive throughout
    tables = report_tables(inputs)
    assert set(tables) == {"executive_summary", "risk_measures", "stress_vs_baseline", "asset_stress",
                           "es_contributions", "frtb_es", "targets", "drawdowns", "backtests", "model_marginals"}
    for name in tables:
        assert (tables_dir / "tables" / f"{name}.csv").is_file()
    sl = tables["stress_vs_baseline"]
    assert set(sl["scenario"]) == {"hostile-names"} and set(sl["horizon_days"]) == {1, 10, 20}
    frtb = tables["frtb_es"]
    for name, rows in frtb.groupby("scenario"):
        want = res[name].risk["frtb_es"]
        assert list(rows["liquidity_horizon_days"]) == [10, 20, 40, 60, 120]
        assert rows["liquidity_adjusted_es"].iloc[0] == pytest.approx(want["liquidity_adjusted_es"])
        # MAR33.4: root sum of squares of the scaled class ES
        assert float(np.sqrt((rows["scaled_es"] ** 2).sum())) == pytest.approx(want["liquidity_adjusted_es"])
        ww = want["worst_window"]
        assert list(rows["window_start_day"].unique()) == [ww["start_day"]]
        assert rows["es_base_horizon"].iloc[0] == pytest.approx(
            want["es_10d_by_start_day"][ww["start_day"] - 1], rel=1e-9)
        assert (rows["figure"] == "scenario liquidity-adjusted ES (not a capital figure)").all()
    targets = tables["targets"]
    assert list(targets["within"]) == [True, False] and set(targets["scenario"]) == {"hostile-names"}
    row = summary["scenarios"][1]
    assert (row["targets_met"], row["targets_evaluated"]) == (1, 2)
    assert len(tables["backtests"]) == 3 * len(hostile_results[1].table)


def test_model_card_shows_parameters_with_standard_errors(tmp_path):
    out = tmp_path / "r"
    assert _run(["run", "svb-2023", "--model", "builtin:us-markets", "--out", str(out), "--paths", "100"]) == 0
    page = render_html(load_inputs(out), charts=False)
    prov = load_builtin_model("us-markets").provenance
    for asset in ("SP500", "NASDAQ", "WTI"):
        d = prov["marginals"][asset]
        for name in ("omega", "alpha", "beta", "nu"):
            assert f"{name} = {fmt_num(d['params'][name], 4)} ({fmt_num(d['std_err'][name], 4)})" in page
    assert prov["data"]["prices_sha256"] in page and prov["data"]["window_start"] in page
    assert "Copula: t" in page and "robust (Bollerslev-Wooldridge)" in page


def test_report_cli(hostile_results, cli_main, tmp_path, capsys):
    out, _ = hostile_results
    target = tmp_path / "r.html"
    assert cli_main(["report", str(out), "--out", str(target), "--no-charts"]) == 0
    assert target.read_text().count("<img ") == 0
    assert cli_main(["report", str(tmp_path / "missing"), "--out", str(target)]) == 2
    assert "not found" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli_main(["report", str(empty), "--out", str(tmp_path / "x.html")]) == 2
    assert "no scenario results" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()
    # a modified result file is refused (and the previous report kept)
    bad = tmp_path / "tampered"
    shutil.copytree(out, bad)
    risk_file = bad / "hostile-names" / "risk.json"
    risk_file.write_text(risk_file.read_text().replace('"es": ', '"es": 1', 1))
    before = target.read_bytes()
    assert cli_main(["report", str(bad), "--out", str(target)]) == 2
    assert "sha256 differs" in capsys.readouterr().err
    assert target.read_bytes() == before


# ------------------------------------------------------------------------------------------------
# headless Chromium
# ------------------------------------------------------------------------------------------------
def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _browser(exe: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
           "--no-first-run", "--no-default-browser-check", f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_report_renders_in_headless_chromium(hostile_html, tmp_path):
    exe = _chromium()
    if exe is None:
        pytest.skip("chromium not found on PATH (Debian: apt-get install chromium; `make test` installs it)")
    import matplotlib.image as mpimg

    page = tmp_path / "report.html"
    page.write_text(hostile_html, encoding="utf-8")
    shot = tmp_path / "shot.png"
    proc = _browser(exe, tmp_path / "profile1", f"--screenshot={shot}", "--window-size=1280,1600",
                    "--virtual-time-budget=1000", page.as_uri())
    assert shot.is_file(), f"chromium wrote no screenshot: {proc.stderr[-2000:]}"
    img = mpimg.imread(shot)[..., :3]
    assert img.shape[0] >= 1000 and img.shape[1] >= 1000
    rgb = np.round(img * 255).astype(np.int32)
    # not blank: many distinct colours, and the ratio chart's bars (blue #1f5fa8 below the baseline, red #c0392b
    # above it) are on screen
    colours = np.unique(rgb.reshape(-1, 3) // 8, axis=0)
    assert len(colours) > 50
    bars = sum(np.all(np.abs(rgb - np.array(c)) <= 12, axis=2).mean() for c in ([0x1F, 0x5F, 0xA8], [0xC0, 0x39, 0x2B]))
    assert bars > 0.002, f"chart colours cover only {bars:.4%} of the screenshot"
    # every embedded chart decodes: a copy with a probe script (the report itself forbids scripts by CSP)
    probe = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", hostile_html)
    probe = probe.replace("</body>", "<script>window.addEventListener('load', () => { const i = "
                          "Array.from(document.images); document.body.setAttribute('data-images', i.length); "
                          "document.body.setAttribute('data-decoded', i.filter(x => x.complete && "
                          "x.naturalWidth > 100).length); });</script></body>")
    probe_file = tmp_path / "probe.html"
    probe_file.write_text(probe, encoding="utf-8")
    proc = _browser(exe, tmp_path / "profile2", "--dump-dom", "--virtual-time-budget=1000", probe_file.as_uri())
    m = re.search(r'data-images="(\d+)" data-decoded="(\d+)"', proc.stdout)
    assert m, f"no probe result in the DOM dump: {proc.stderr[-2000:]}"
    n_images, n_decoded = int(m.group(1)), int(m.group(2))
    assert n_images == hostile_html.count("<img ") > 0
    assert n_decoded == n_images
    # the hostile asset name is in the rendered DOM as text, not as an element
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in proc.stdout


# ------------------------------------------------------------------------------------------------
# a report a risk committee can read: library scenarios on the bundled model
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def library_report(tmp_path_factory):
    """baseline (as-of and long-run), volmageddon-2018 (22 days, a historical replay with few distinct outcomes)
    and dotcom-2000-2002 (637 days: the baseline is extended to it) on builtin:us-markets, 200 paths."""
    root = tmp_path_factory.mktemp("lib")
    out = root / "results"
    assert _run(["run", "baseline", "volmageddon-2018", "dotcom-2000-2002", "--model", "builtin:us-markets",
                 "--out", str(out), "--paths", "200", "--baseline-start", "both"]) == 0
    target = root / "report.html"
    write_report(out, target, tables_dir=root)
    page = _Page(target.read_text(encoding="utf-8"))
    page.tables_dir = str(root)
    return out, page


def test_header_states_as_of_portfolio_and_model(library_report):
    out, page = library_report
    header = page[page.index("<header>"):page.index("</header>")]
    assert "2018-12-28" in header and "last day of the model's calibration window" in header
    assert "USD 1,000,000" in header and "builtin:us-markets" in header
    summary = json.loads((Path(page.tables_dir) / "summary.json").read_text())
    assert summary["as_of"] == "2018-12-28"
    assert summary["portfolio"] == {"initial_value": 1_000_000.0, "currency": "USD"}
    assert summary["model_source"] == "builtin:us-markets"


def test_var_and_es_are_paired_by_level_in_every_exported_table(library_report, hostile_results):
    _, page = library_report
    tables = Path(page.tables_dir) / "tables"
    ex = pd.read_csv(tables / "executive_summary.csv")
    for tag in ("97.5", "99"):
        assert (ex[f"es_{tag}"] >= ex[f"var_{tag}"]).all(), tag
        assert (ex[f"es_{tag}_ci_high"] >= ex[f"es_{tag}"]).all()
    assert (ex["es"] >= ex["var"]).all() and (ex["var_level"] == ex["es_level"]).all()
    rm = pd.read_csv(tables / "risk_measures.csv")
    assert len(rm) > 0 and (rm["es"] >= rm["var"]).all()
    sl = pd.read_csv(tables / "stress_vs_baseline.csv")
    for who in ("scenario_value", "baseline_value"):
        wide = sl[sl["measure"] != "mean_loss"].pivot_table(index=["scenario", "horizon_days", "level"],
                                                             columns="measure", values=who)
        assert (wide["ES"] >= wide["VaR"]).all(), who
    # the summary header no longer puts 99 % VaR next to 97.5 % ES
    assert "VaR 97.5%</th><th>ES 97.5%</th><th>VaR 99%</th><th>ES 99%</th>" in page
    # and the hostile fixture's tables hold the same
    out, _ = hostile_results
    for frame in (report_tables(load_inputs(out))["risk_measures"],):
        assert (frame["es"] >= frame["var"]).all()


def test_baseline_is_compared_at_each_scenarios_horizon(library_report):
    out, page = library_report
    inputs = load_inputs(out)
    ex = {r["scenario"]: r for r in json.loads((Path(page.tables_dir) / "summary.json").read_text())["scenarios"]}
    base = next(r for r in inputs.results if r.name == "baseline")
    # the baseline's own row is at its file's horizon, not the 637-day extension
    assert ex["baseline"]["horizon_days"] == 252 and ex["baseline"]["simulated_horizon_days"] == 637
    assert ex["baseline"]["es_97.5"] == pytest.approx(base.tail(252, 0.975)["es"])
    assert "simulated 637 days for the comparisons, reported at its own 252 days" in page
    for name, h in (("volmageddon-2018", 22), ("dotcom-2000-2002", 637)):
        assert ex[name]["baseline_horizon_days"] == h
        assert ex[name]["baseline_es"] == pytest.approx(base.tail(h, 0.975)["es"])
        assert f"{base.tail(h, 0.975)['es']:,.0f}<br><span class=\"muted\">at {h} days</span>" in page
    assert "gives exactly the law of a baseline run at that horizon" in page
    # the chart compares like with like: ratios at each scenario's own horizon; no bar chart of raw ES
    assert "Expected shortfall by scenario" not in page and "ES 97.5% ratio, each scenario at its own horizon" in page
    assert ex["dotcom-2000-2002"]["stress_ratio_es"] == pytest.approx(
        next(r for r in inputs.results if r.name == "dotcom-2000-2002").tail(637, 0.975)["es"]
        / base.tail(637, 0.975)["es"])


def test_losses_are_positive_under_losses_positive_headers(library_report):
    _, page = library_report
    assert "mean P&amp;L" not in page and "mean_pnl" not in page
    assert "mean loss<br><span class=\"unit\">USD</span>" in page
    assert "simple return over 22 days, % (gains positive)" in page
    ex = pd.read_csv(Path(page.tables_dir) / "tables" / "executive_summary.csv")
    assert "mean_pnl" not in ex.columns and "mean_loss" in ex.columns


def test_few_distinct_outcomes_show_their_count_and_no_interval(library_report):
    out, page = library_report
    inputs = load_inputs(out)
    vol = next(r for r in inputs.results if r.name == "volmageddon-2018")
    n = vol.risk_at(22)["n_distinct_pnl"]
    assert n < 200  # a replay in sequence: many paths share each outcome
    row = next(r for r in json.loads((Path(page.tables_dir) / "summary.json").read_text())["scenarios"]
               if r["scenario"] == "volmageddon-2018")
    assert row["discrete"] and row["n_distinct_pnl"] == n
    section = page[page.index('id="sc-volmageddon-2018"'):]
    section = section[:section.index("</section>")]
    assert f"none: {n} distinct outcomes" in section and f"{n} (fewer than 1,000: no Monte Carlo intervals)" in section
    # a continuous sample (every path its own outcome) keeps its intervals
    dot = page[page.index('id="sc-dotcom-2000-2002"'):]
    assert "none:" not in dot[:dot.index("</section>")]
    rm = pd.read_csv(Path(page.tables_dir) / "tables" / "risk_measures.csv")
    assert not rm[(rm["scenario"] == "volmageddon-2018")]["mc_interval_meaningful"].any()


def test_replay_scaling_start_state_and_notes_are_shown(library_report):
    out, page = library_report
    summary = page[page.index('id="summary"'):page.index('id="notes"')]
    assert "<td class=\"l\">historical</td>" in summary  # volmageddon and dotcom replay history's own moves
    assert "historical: history&#39;s own daily price moves" in page
    # the long-run baseline: its own folder and row, labelled, compared with the as-of baseline
    assert 'id="sc-baseline-long-run"' in page
    assert "long-run: each asset&#39;s unconditional (long-run) volatility" in page
    assert "long-run baseline, same days" in page
    notes = page[page.index('id="notes"'):page.index('id="notes"') + 6000]
    for text in ("filtered historical simulation", "history's own daily returns", "Start state",
                 "its confidence level, its horizon in trading days and its unit", "not the bank's FRTB capital"):
        assert text in notes, text
    # one model card: the two baselines differ only in their start state
    assert page.count("<h2>Model card</h2>") == 1 and page.count('<h3>Model <span class="mono">') == 1


def test_results_of_format_1_still_render(tmp_path):
    fixture = Path(__file__).parent / "data" / "run-0.2.0-volmageddon"
    page = render_html(load_inputs(fixture), charts=False)
    assert "2018-12-28" in page and "USD 1,000,000" in page
    assert "filtered (FHS)" in page  # 0.2.0 replays were filtered
    assert "over the first 10 days" in page  # the format-1 liquidity-adjusted ES, labelled as what it is
