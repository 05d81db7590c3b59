"""``stress-sim demo`` end to end on tiny sizes: calibration on the bundled real data, the whole scenario
library (baseline first, stress loss of each against it), rolling VaR backtests on real history, report,
summary.json, CSV tables and a manifest whose hashes match the files."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from scenarios.loader import list_scenarios
from simulator.io import sha256_file
from simulator.model import MarketModel

N_PATHS = 200
BACKTEST_DAYS = 260
#: The library scenarios written for builtin:us-markets-rates (they need its Treasury curve): the demo's
#: model of the three price assets does not run them, and says so.
RATES_SCENARIOS = ["parallel-up-200", "severely-adverse-rates", "treasury-curve-2022"]


def _demo_library() -> list[str]:
    return [n for n in list_scenarios() if n not in RATES_SCENARIOS]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    import simulator.cli as cli

    out = tmp_path_factory.mktemp("demo") / "demo-out"
    import contextlib
    import io

    err = io.StringIO()
    stdout = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(stdout):
        rc = cli.main(["demo", "--out", str(out), "--paths", str(N_PATHS), "--backtest-days", str(BACKTEST_DAYS)])
    return {"rc": rc, "out": out, "stderr": err.getvalue(), "stdout": stdout.getvalue()}


def test_demo_runs_the_whole_library(demo):
    assert demo["rc"] == 0, demo["stderr"][-3000:]
    out = demo["out"]
    library = _demo_library()
    assert len(library) >= 13 and "baseline" in library
    assert set(RATES_SCENARIOS) <= set(list_scenarios())
    for name in RATES_SCENARIOS:  # listed as not run, with how to run them; no folder
        assert not (out / name).exists(), name
        assert f"not run: {name}, written for builtin:us-markets-rates" in demo["stderr"]
        assert f"stress-sim run {name} --model builtin:us-markets-rates" in demo["stdout"]
    for name in [*library, "baseline-long-run"]:
        assert (out / name / "manifest.json").is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    names = [s["scenario"] for s in summary["scenarios"]]
    assert names[0] == "baseline" and sorted(names) == sorted([*library, "baseline-long-run"])
    for s in summary["scenarios"][1:]:
        assert s["n_paths"] == N_PATHS
        if not s["scenario"].startswith("baseline"):
            assert s["stress_loss_es"] is not None and s["stress_at_scenario_horizon"], s["scenario"]
        for t in ("97.5", "99"):  # VaR and ES at the same level, side by side
            assert s[f"es_{t}"] >= s[f"var_{t}"] * (1 - 1e-12), s["scenario"]
    # the baseline ran long enough for every scenario's own horizon, and reports at its own 252 days
    longest = max(s["horizon_days"] for s in summary["scenarios"])
    assert summary["scenarios"][0]["simulated_horizon_days"] == longest
    assert summary["scenarios"][0]["horizon_days"] == 252
    # what the demo prints: the as-of date and portfolio value, VaR and ES at matching levels, targets
    # and the replays against history, one backtest line per series
    out_text = demo["stdout"]
    assert "as of 2018-12-28 (the last day of the calibration window); portfolio USD 1,000,000" in out_text
    assert "VaR 97.5%" in out_text and "ES 97.5%" in out_text and "VaR 99%" in out_text and "ES 99%" in out_text
    assert "scenario targets met; replays of history's moves:" in out_text
    assert "reverse stress test: a 252-day loss of at least" in out_text
    assert out_text.count("backtest ") >= 5
    # progress shown, one line per scenario
    for i, name in enumerate(names, 1):
        assert f"[{i}/{len(names)}] {name}:" in demo["stderr"]


def test_demo_model_backtests_and_report(demo):
    out = demo["out"]
    model = MarketModel.from_json(out / "model.json")
    assert model.assets == ("SP500", "NASDAQ", "WTI")
    assert model.provenance["data"]["source"] == "builtin:us-markets"
    doc = json.loads((out / "backtest.json").read_text())
    bt = doc["backtests"]
    assert [b["name"] for b in bt] == ["portfolio", "SP500", "NASDAQ", "WTI", "portfolio, univariate benchmark"]
    assert [b["kind"] for b in bt] == ["model"] * 4 + ["univariate"]
    for b in bt:
        assert b["spec"]["n_oos"] == BACKTEST_DAYS and b["traffic_light"]["n"] == 250
        assert b["traffic_light"]["zone"] in ("green", "amber", "red")
        assert {t["test"] for t in b["tests"]} >= {"pof", "cci", "cc", "as_z1", "as_z2"}
    # the backtested model is the simulated one: the calibrated families and copula
    spec = doc["model_backtest"]
    assert spec["families"] == {a: f"{m.vol.type}/{m.dist.type}" for a, m in zip(model.assets, model.marginals)}
    assert spec["copula"] == model.copula.type and spec["window"] == 1000 and spec["refit_every"] == 20
    # the portfolio backtest is on the constant-mix 60/25/15 portfolio's real daily log returns
    from calibration.data import load_prices, log_returns

    r = log_returns(load_prices("builtin:us-markets"))[list(model.assets)]
    w = np.array([0.60, 0.25, 0.15])
    port = 100.0 * np.log(np.exp(r.to_numpy() / 100.0) @ w)
    np.testing.assert_allclose(bt[0]["series"]["return"], port[-BACKTEST_DAYS:], rtol=1e-12)
    page = (out / "report.html").read_text()
    assert "<script" not in page.lower()
    for name in _demo_library():
        assert f'id="sc-{name}"' in page
    assert page.count('<span class="zone zone-') == 5
    # the report says which model was backtested and gives the verdict in its summary
    assert "Model backtested: the model that is simulated" in page and "Model backtest." in page
    assert 'id="reverse"' in page and "most likely breach point" in page
    verdict = json.loads((out / "summary.json").read_text())["backtest_verdict"]
    import html

    assert verdict["text"] in html.unescape(page)
    assert len(verdict["rows"]) == 5 and verdict["all_accepted"] == (not verdict["rejected"])
    for table in ("executive_summary", "risk_measures", "stress_vs_baseline", "asset_stress", "backtests",
                  "model_marginals"):
        assert not pd.read_csv(out / "tables" / f"{table}.csv").empty, table


def test_demo_manifest_hashes_every_output(demo):
    out = demo["out"]
    m = json.loads((out / "manifest.json").read_text())
    assert m["kind"] == "demo" and m["command"][:2] == ["stress-sim", "demo"]
    assert set(m["timings_s"]) >= {"calibrate", "scenarios", "backtests", "report", "total"}
    assert {"report.html", "summary.json", "model.json", "backtest.json", "reverse.json",
            "tables/executive_summary.csv"} <= set(m["outputs"])
    for rel, digest in m["outputs"].items():
        assert sha256_file(out / rel) == digest, rel
    assert m["failed"] == []
    assert sorted(s["scenario"] for s in m["not_run"]) == sorted(RATES_SCENARIOS)
    assert all(s["model"] == "builtin:us-markets-rates" and s["reason"] for s in m["not_run"])


def test_demo_refuses_a_file_as_output(tmp_path, capsys):
    import simulator.cli as cli

    f = tmp_path / "file"
    f.write_text("keep me")
    assert cli.main(["demo", "--out", str(f), "--paths", "100"]) == 2
    assert "is not a directory" in capsys.readouterr().err
    assert f.read_text() == "keep me"
