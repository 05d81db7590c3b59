"""``stress-sim run`` and :mod:`simulator.results`: what a scenario run writes, that the stored figures are
the documented estimators applied to the simulated paths (exact revaluation, VaR/ES, Euler, drawdowns, stress
loss), and that bad input exits with status 2 leaving existing outputs untouched."""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulator import risk
from simulator.builtin import load_builtin_model
from simulator.io import sha256_file
from simulator.results import (
    NonFiniteResultError,
    compare_to_baseline,
    load_results,
    load_results_tree,
    pnl_horizons,
    write_results,
)
from simulator import run_scenario

N_PATHS = 300


@pytest.fixture
def cli_main():
    """``simulator.cli.main``, as the ``stress-sim`` script calls it."""
    import simulator.cli as cli

    return cli.main


@pytest.fixture(scope="module")
def us_model():
    return load_builtin_model("us-markets")


@pytest.fixture(scope="module")
def library_run(tmp_path_factory):
    """baseline + svb-2023 (17 days, jump/correlation break/Poisson jumps) through the CLI."""
    import simulator.cli as cli

    out = tmp_path_factory.mktemp("run") / "results"
    rc = cli.main(["run", "svb-2023", "baseline", "--model", "builtin:us-markets", "--out", str(out),
                   "--paths", str(N_PATHS)])
    assert rc == 0
    return out


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()}


def test_run_writes_every_file_with_a_manifest(library_run, us_model):
    assert sorted(p.name for p in library_run.iterdir()) == ["baseline", "svb-2023"]  # no temporary leftovers
    d = library_run / "svb-2023"
    names = {p.name for p in d.iterdir()}
    assert names == {"manifest.json", "summary.parquet", "pnl.parquet", "fan.parquet", "risk.json", "model.json",
                     "scenario.json"}  # svb-2023 keeps summaries: no paths.parquet
    m = json.loads((d / "manifest.json").read_text())
    assert m["kind"] == "scenario-run"
    assert m["model_sha256"] == us_model.sha256()
    assert m["scenario"] == "svb-2023" and len(m["scenario_sha256"]) == 64
    assert m["seed"]["entropy"] and "spawn_key" in m["seed"]
    assert m["command"][:3] == ["stress-sim", "run", "svb-2023"]
    assert {"numpy", "arch", "numba", "python"} <= set(m["versions"])
    assert m["inputs"]["scenario_file"]["sha256"] == sha256_file(m["inputs"]["scenario_file"]["path"])
    assert m["inputs"]["calibration_data"]["source"] == "builtin:us-markets"
    for rel, digest in m["outputs"].items():
        assert sha256_file(d / rel) == digest
    assert m["baseline"]["name"] == "baseline"
    summary = pd.read_parquet(d / "summary.parquet")
    assert list(summary.columns) == ["path", "asset", "cum_log_return_pct", "max_drawdown"]
    assert m["format"] == "stress-sim-results/2"
    assert len(summary) == N_PATHS * 3


def test_stored_figures_are_the_estimators_on_the_simulated_paths(library_run, us_model):
    res = load_results(library_run / "svb-2023")
    # the same run again, from the recorded seed: identical paths
    again = run_scenario("svb-2023", us_model, n_paths=N_PATHS, keep="paths")
    assert again.simulation.seed == res.manifest["seed"]
    r, pos = again.returns, again.positions
    h = again.simulation.horizon
    assert res.risk["pnl_horizons"] == pnl_horizons(again.risk_horizons, h)
    assert {1, 10, h, *again.risk_horizons} == set(res.risk["pnl_horizons"])  # 10 is the only FRTB horizon <= 17
    exact = risk.portfolio_pnl(r, pos, horizons=res.risk["pnl_horizons"])
    for hz, x in exact.items():
        np.testing.assert_allclose(res.pnl[hz], x, rtol=1e-12, atol=1e-6)
    for entry in res.risk["risk"]:
        rm = risk.var_es(exact[entry["horizon_days"]], res.risk["levels"])
        for got in entry["levels"]:
            want = rm[got["level"]].to_dict()
            for key in ("var", "es", "var_ci_low", "var_ci_high", "es_ci_low", "es_ci_high", "es_se"):
                assert got[key] == pytest.approx(want[key], rel=1e-9, abs=1e-6), (entry["horizon_days"], key)
    for c in res.risk["es_contributions"]:
        want = risk.es_contributions(r, pos, c["level"], horizon=c["horizon_days"], asset_names=again.asset_names)
        assert sum(c["contributions"].values()) == pytest.approx(c["es"], rel=1e-9)
        assert c["es"] == pytest.approx(want.es, rel=1e-9)
    dd = risk.max_drawdown(r, pos)
    assert res.risk["drawdown"]["portfolio"] == pytest.approx(risk.drawdown_summary(dd), rel=1e-9)
    # the fan: value quantiles per day, day 0 = initial value, ordered bands
    fan = res.fan
    assert list(fan["day"]) == list(range(h + 1))
    v0 = float(pos.sum())
    assert np.allclose(fan.loc[0, ["mean", "q01", "q50", "q99"]].to_numpy(float), v0)
    qs = fan[["q01", "q05", "q25", "q50", "q75", "q95", "q99"]].to_numpy()
    assert np.all(np.diff(qs, axis=1) >= -1e-9)
    np.testing.assert_allclose(fan["q50"].to_numpy()[1:], v0 + np.median(risk.pnl_paths(r, pos), axis=0), rtol=1e-12)
    # realised correlation: pooled Pearson of the daily returns
    flat = r.reshape(-1, r.shape[2])
    np.testing.assert_allclose(res.risk["correlation"]["realised"]["matrix"], np.corrcoef(flat, rowvar=False),
                               atol=1e-9)
    np.testing.assert_allclose(res.risk["correlation"]["copula"]["matrix"], us_model.copula.corr_matrix(3))
    # per-asset stress table: Euler contributions add up to the portfolio ES
    table = res.risk["assets_table"]
    assert [row["asset"] for row in table] == list(us_model.assets)
    assert sum(row["es_contribution"] for row in table) == pytest.approx(res.tail(h, 0.975)["es"], rel=1e-9)


def test_stress_loss_against_the_extended_baseline(library_run):
    base = load_results(library_run / "baseline")
    svb = load_results(library_run / "svb-2023")
    # the baseline keeps its own 252 days and also stores P&L at svb-2023's horizons
    assert base.horizon == 252 and {1, 10, 17} <= set(base.pnl)
    cmp = svb.risk["stress_vs_baseline"]
    assert cmp["baseline"] == "baseline" and cmp["same_model"] is True
    assert cmp["headline"]["horizon_days"] == 17 and cmp["headline"]["at_scenario_horizon"]
    for entry in cmp["horizons"]:
        want = risk.stress_loss(svb.pnl[entry["horizon_days"]], base.pnl[entry["horizon_days"]], levels=(0.975, 0.99))
        for got, ref in zip(entry["rows"], want.rows):
            assert got["measure"] == ref["measure"]
            assert got["stress_loss"] == pytest.approx(ref["stress_loss"], rel=1e-9, abs=1e-6)
    again = compare_to_baseline(svb, base)["headline"]
    for key in ("horizon_days", "es_level", "es_stress_loss", "es_stress_loss_se", "es_ratio", "es_scenario",
                "es_baseline", "mean_stress_loss"):
        assert again[key] == pytest.approx(cmp["headline"][key]), key
    # the headline rows put the baseline's figures at the scenario's horizon next to the scenario's, level by level
    rows = {(r["measure"], r["level"]): r for r in cmp["headline"]["rows"]}
    for lv in (0.975, 0.99):
        for measure, key in (("VaR", "var"), ("ES", "es")):
            assert rows[(measure, lv)]["scenario"] == pytest.approx(svb.tail(17, lv)[key])
            assert rows[(measure, lv)]["baseline"] == pytest.approx(base.tail(17, lv)[key])
    assert cmp["baseline_start_state"] == "as-of" and "law of a baseline run" in cmp["truncation_note"]
    assert [r.name for r in load_results_tree(library_run)] == ["baseline", "svb-2023"]


def test_baseline_horizon_is_extended_to_the_longest_scenario(tmp_path, cli_main, us_model):
    out = tmp_path / "r"
    assert cli_main(["run", "baseline", "dotcom-2000-2002", "--model", "builtin:us-markets", "--out", str(out),
                     "--paths", "100", "--seed", "3"]) == 0
    base = load_results(out / "baseline")
    assert base.horizon == 637 and base.manifest["horizon_extended_from"] == 252
    # the baseline's own figures are at its file's horizon, not the extension
    assert base.reporting_horizon == 252 == base.risk["scenario"]["reporting_horizon_days"]
    assert base.risk["headline"]["horizon_days"] == 252 and 252 in base.pnl
    assert {row["horizon_days"] for row in base.risk["assets_table"]} == {252}
    assert base.risk["drawdown"]["horizon_days"] == 252
    dot = load_results(out / "dotcom-2000-2002")
    assert dot.risk["stress_vs_baseline"]["headline"]["horizon_days"] == 637
    assert dot.manifest["seed"] == base.manifest["seed"]  # --seed: common random numbers
    # truncating the long baseline run to h days is a baseline run of h days: the same paths, the same P&L
    short = run_scenario("baseline", us_model, n_paths=100, seed=3, keep="paths")
    np.testing.assert_array_equal(base.pnl[252], risk.portfolio_pnl(short.returns, short.positions, horizons=(252,))[252])
    stored = write_results(short, tmp_path / "short", model=us_model)
    assert stored.tail(252, 0.975) == pytest.approx(base.tail(252, 0.975))
    # per-asset returns and drawdowns at 252 days from the long run equal the short run's own summaries
    for row, again in zip(base.risk["assets_table"], stored.risk["assets_table"]):
        for key in ("mean_return_pct", "median_return_pct", "p01_return_pct", "mean_max_drawdown_pct"):
            assert row[key] == pytest.approx(again[key], rel=1e-9, abs=1e-9), key


def test_keep_paths_and_summary_only_modes(tmp_path, cli_main, us_model):
    toml = (Path(__file__).resolve().parents[1] / "scenarios" / "library" / "svb-2023.toml").read_text()
    toml = toml.replace('name = "svb-2023"', 'name = "svb-paths"')
    if "[outputs]" in toml:
        toml = toml.replace("[outputs]", '[outputs]\nkeep = "paths"', 1)
    else:
        toml += '\n[outputs]\nkeep = "paths"\n'
    f = tmp_path / "svb-paths.toml"
    f.write_text(toml)
    out = tmp_path / "r"
    assert cli_main(["run", str(f), "--model", "builtin:us-markets", "--out", str(out), "--paths", "100"]) == 0
    paths = pd.read_parquet(out / "svb-paths" / "paths.parquet")
    assert list(paths.columns) == ["path", "day", "asset", "log_return_pct", "sigma_pct"]
    assert len(paths) == 100 * 17 * 3
    # above the cell limit only summaries are simulated: P&L at the whole horizon, a two-point fan
    assert cli_main(["run", "svb-2023", "--model", "builtin:us-markets", "--out", str(out), "--paths", "100",
                     "--max-path-cells", "1000"]) == 0
    res = load_results(out / "svb-2023")
    assert res.manifest["simulated"] == "summary" and not res.risk["daily_paths_kept"]
    assert sorted(res.pnl) == [17] and list(res.fan["day"]) == [0, 17]
    again = run_scenario("svb-2023", us_model, n_paths=100, keep="summary")
    np.testing.assert_allclose(res.pnl[17], risk.pnl_from_cum_returns(again.simulation.cum_return, again.positions),
                               rtol=1e-12)


@pytest.mark.parametrize("argv, message", [
    (["run", "no-such-scenario"], "unknown scenario 'no-such-scenario'"),
    (["run", "svb-2023", "--role", "oil"], "expected ROLE=ASSET"),
    (["run", "svb-2023", "--role", "oil=BRENT"], "the model has no asset 'BRENT'"),
    (["run", "svb-2023", "--role", "oill=WTI"], "no scenario uses role 'oill'"),
    (["run", "svb-2023", "svb-2023"], "is given twice"),
    (["run", "svb-2023", "--paths", "50"], "give at least 100"),
    (["run", "svb-2023", "--replay-scaling", "historical"], "no scenario given has a historical_replay shock"),
], ids=["unknown-scenario", "malformed-role", "role-to-missing-asset", "unused-role", "duplicate", "too-few-paths",
        "replay-scaling-without-replay"])
def test_bad_input_exits_2_and_leaves_outputs_untouched(library_run, cli_main, capsys, argv, message):
    before = _digest(library_run)
    rc = cli_main([*argv, "--model", "builtin:us-markets", "--out", str(library_run)])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err
    assert err.startswith("stress-sim: error: ") and len(err.strip().splitlines()) == 1
    assert _digest(library_run) == before


def test_replay_scaling_is_recorded_and_verifies(tmp_path, cli_main, us_model, capsys):
    out = tmp_path / "runs"
    assert cli_main(["run", "volmageddon-2018", "svb-2023", "--model", "builtin:us-markets", "--out", str(out),
                     "--paths", "200", "--replay-scaling", "filtered"]) == 0
    d = out / "volmageddon-2018"
    stored = json.loads((d / "scenario.json").read_text())
    assert [s["scaling"] for s in stored["shocks"]] == ["filtered", "filtered"]
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["command"][-2:] == ["--replay-scaling", "filtered"]
    # the stored figures are those of the scenario run at filtered scaling, not of the file's default
    direct = run_scenario("volmageddon-2018", us_model, n_paths=200, keep="summary", replay_scaling="filtered")
    default = run_scenario("volmageddon-2018", us_model, n_paths=200, keep="summary")
    summary = pd.read_parquet(d / "summary.parquet")
    cum = summary.pivot(index="path", columns="asset", values="cum_log_return_pct")[list(us_model.assets)].to_numpy()
    np.testing.assert_array_equal(cum, direct.simulation.cum_return)
    assert not np.allclose(cum, default.simulation.cum_return)
    capsys.readouterr()
    assert cli_main(["verify", str(d)]) == 0
    assert "reproduced" in capsys.readouterr().out
    from simulator.exceptions import UserInputError

    with pytest.raises(UserInputError, match="'svb-2023' has no historical_replay shock"):
        run_scenario("svb-2023", us_model, n_paths=100, replay_scaling="historical")
    with pytest.raises(SystemExit) as exc:  # argparse: a usage error
        cli_main(["run", "volmageddon-2018", "--replay-scaling", "raw", "--out", str(tmp_path / "x")])
    assert exc.value.code == 2 and "invalid choice: 'raw'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("model_text, message", [
    ("{not json", "invalid JSON"),
    ('{"assets": ["A"], "marginals": [], "copula": {"type": "gaussian", "corr": [[1.0]]}}', "marginals has 0 entries"),
], ids=["syntax", "schema"])
def test_bad_model_exits_2(tmp_path, library_run, cli_main, capsys, model_text, message):
    f = tmp_path / "model.json"
    f.write_text(model_text)
    before = _digest(library_run)
    assert cli_main(["run", "svb-2023", "--model", str(f), "--out", str(library_run)]) == 2
    assert message in capsys.readouterr().err
    assert cli_main(["run", "svb-2023", "--model", "builtin:nope", "--out", str(library_run)]) == 2
    assert cli_main(["run", "svb-2023", "--out", str(library_run)]) == 2  # library scenarios name no model
    assert "give --model" in capsys.readouterr().err
    assert _digest(library_run) == before


def test_result_names_cannot_escape_the_results_folder(tmp_path, us_model):
    res = run_scenario("svb-2023", us_model, n_paths=100, keep="paths")
    root = tmp_path / "root"
    root.mkdir()
    for name in ("../escaped", "/tmp/absolute", "a/../../escaped"):
        with pytest.raises(ValueError, match="escapes|relative"):
            write_results(dataclasses.replace(res, name=name), root, model=us_model)
    assert not (tmp_path / "escaped").exists() and list(root.iterdir()) == []


def test_a_failed_write_keeps_the_previous_result(tmp_path, us_model, monkeypatch):
    import simulator.results as results

    res = run_scenario("svb-2023", us_model, n_paths=100, keep="paths")
    write_results(res, tmp_path, model=us_model)
    before = _digest(tmp_path)

    def boom(path, obj):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(results, "atomic_write_json", boom)
    with pytest.raises(OSError, match="disk full"):
        write_results(dataclasses.replace(res, description="changed"), tmp_path, model=us_model)
    assert _digest(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["svb-2023"]


def test_overflowing_paths_are_an_error_not_a_number(tmp_path, us_model):
    res = run_scenario("svb-2023", us_model, n_paths=100, keep="paths")
    sim = res.simulation
    r = sim.returns.copy()
    r[7, 3, 2] = 80_000.0  # a 800-fold log price move: exp overflows float64
    bad = dataclasses.replace(res, simulation=dataclasses.replace(sim, returns=r, cum_return=r.sum(axis=1)))
    with pytest.raises(NonFiniteResultError, match="path 7.*overflows"):
        write_results(bad, tmp_path, model=us_model)
    assert list(tmp_path.iterdir()) == []


def test_tampered_results_are_detected(tmp_path, us_model):
    res = run_scenario("svb-2023", us_model, n_paths=100, keep="paths")
    d = write_results(res, tmp_path, model=us_model).directory
    assert load_results(d).name == "svb-2023"
    risk_doc = json.loads((d / "risk.json").read_text())
    risk_doc["risk"][0]["levels"][0]["es"] = 0.0
    (d / "risk.json").write_text(json.dumps(risk_doc))
    with pytest.raises(ValueError, match="risk.json: sha256 differs"):
        load_results(d)
    assert load_results(d, verify=False).risk["risk"][0]["levels"][0]["es"] == 0.0
    os.remove(d / "fan.parquet")
    from simulator.results_schema import ResultsSchemaError

    with pytest.raises(ResultsSchemaError, match="fan.parquet: listed in the manifest but missing"):
        load_results(d)


@pytest.mark.parametrize("copula, tau", [
    ({"type": "clayton", "theta": 2.0}, 0.5),            # tau = theta / (theta + 2)
    ({"type": "gumbel", "theta": 2.0}, 0.5),             # tau = 1 - 1 / theta
    ({"type": "frank", "theta": 5.736276}, 0.5),         # Genest (1987): tau(5.7363) = 0.5
    ({"type": "gaussian", "corr": [[1.0, 0.3], [0.3, 1.0]]}, None),
])
def test_copula_correlation_of_every_family(example_dict, copula, tau):
    from simulator.model import MarketModel
    from simulator.results import copula_correlation

    m, basis = copula_correlation(MarketModel.from_dict({**example_dict, "copula": copula}))
    want = 0.3 if tau is None else np.sin(np.pi * tau / 2.0)
    assert m[0, 1] == m[1, 0] == pytest.approx(want, abs=2e-6)
    assert np.all(np.diag(m) == 1.0) and copula["type"] in basis


def test_stress_loss_falls_back_to_the_longest_shared_horizon(tmp_path, us_model):
    short = run_scenario("baseline", us_model, n_paths=100, keep="paths")
    r10 = short.returns[:, :10]
    base = write_results(dataclasses.replace(short, simulation=dataclasses.replace(
        short.simulation, returns=r10, sigma=short.sigma[:, :10], horizon=10, cum_return=r10.sum(axis=1))),
        tmp_path, model=us_model)
    svb = write_results(run_scenario("svb-2023", us_model, n_paths=100, keep="paths"), tmp_path / "s", model=us_model)
    cmp = compare_to_baseline(svb, base)
    assert cmp["headline"]["horizon_days"] == 10 and not cmp["headline"]["at_scenario_horizon"]
    assert sorted(h["horizon_days"] for h in cmp["horizons"]) == sorted(set(svb.pnl) & set(base.pnl))


# ---------------------------------------------------------------------------------------------
# FRTB liquidity-adjusted ES
# ---------------------------------------------------------------------------------------------
def test_frtb_liquidity_adjusted_es_over_the_worst_ten_day_window(library_run, us_model):
    """MAR33.4 by hand on the re-simulated paths: over the first 10 days (kept for reference) and over the worst
    10-day window (the headline), 10-day ES of all positions and of the 20-day ones."""
    import math

    res = load_results(library_run / "svb-2023")
    frtb = res.risk["frtb_es"]
    assert frtb["liquidity_horizons"] == {"SP500": 10, "NASDAQ": 10, "WTI": 20}  # the library's table
    assert frtb["kind"] == "scenario figure" and "not a regulatory capital figure" in frtb["label"]
    again = run_scenario("svb-2023", us_model, n_paths=N_PATHS, keep="paths")
    wti = list(again.asset_names).index("WTI")

    def es(x):
        return risk.var_es(x, 0.975)[0.975].es

    def cascade_by_hand(start):
        ap = np.expm1(again.returns[:, start:start + 10, :].sum(axis=1) / 100.0) * again.positions
        return es(ap.sum(axis=1)), es(ap[:, wti])

    es_all, es_20 = cascade_by_hand(0)
    first = frtb["first_window"]
    assert (first["start_day"], first["end_day"]) == (1, 10)
    assert first["es_base_horizon"] == pytest.approx(es_all, rel=1e-12)
    assert first["es_base_horizon"] == pytest.approx(res.tail(10, 0.975)["es"], rel=1e-12)
    # LH 20 scales by sqrt((20 - 10) / 10) = 1; no position has a longer horizon
    assert first["liquidity_adjusted_es"] == pytest.approx(math.hypot(es_all, es_20), rel=1e-12)
    # the worst window: the largest 10-day ES over every start within the 17 days
    by_start = [es(risk.window_pnl(again.returns, again.positions, window=10, starts=[s])[:, 0]) for s in range(8)]
    s = int(np.argmax(by_start))
    assert frtb["worst_window"] == {"start_day": s + 1, "end_day": s + 10}
    np.testing.assert_allclose(frtb["es_10d_by_start_day"], by_start, rtol=1e-12)
    w_all, w_20 = cascade_by_hand(s)
    assert frtb["es_base_horizon"] == pytest.approx(w_all, rel=1e-9)
    assert frtb["liquidity_adjusted_es"] == pytest.approx(math.hypot(w_all, w_20), rel=1e-9)
    assert frtb["liquidity_adjusted_es"] >= first["liquidity_adjusted_es"] * (1 - 1e-12) or s == 0
    classes = {c["liquidity_horizon_days"]: c for c in frtb["classes"]}
    assert classes[20]["assets"] == ["WTI"] and classes[20]["es_base"] == pytest.approx(w_20, rel=1e-9)
    assert [classes[h]["es_base"] for h in (40, 60, 120)] == [0.0, 0.0, 0.0]
    assert classes[120]["scale"] == pytest.approx(math.sqrt(6.0))
    assert [w["horizon_days"] for w in frtb["worst_window_by_horizon"]] == [10, 17]


def test_black_monday_worst_window_holds_the_crash(tmp_path, us_model):
    """Black Monday's -20 % day is day 38 of the scenario: the worst 10-day window contains it, and its
    liquidity-adjusted ES exceeds the first-10-days figure and the baseline's over the same 71 days."""
    res = run_scenario("black-monday-1987", us_model, n_paths=200, keep="paths")
    base = write_results(run_scenario("baseline", us_model, n_paths=200, keep="paths"), tmp_path / "b",
                         model=us_model, extra_horizons=[71])
    stored = write_results(res, tmp_path, model=us_model, baseline=base)
    f = stored.risk["frtb_es"]
    assert f["worst_window"]["start_day"] <= 38 <= f["worst_window"]["end_day"]
    assert f["liquidity_adjusted_es"] > 2 * f["first_window"]["liquidity_adjusted_es"]
    bw = stored.risk["stress_vs_baseline"]["headline"]["baseline_worst_window"]
    assert bw["horizon_days"] == 71 and f["liquidity_adjusted_es"] > bw["liquidity_adjusted_es"]


def test_frtb_es_needs_the_ten_day_pnl(tmp_path, us_model):
    """Summary-only runs revalue at the whole horizon only: the FRTB block says why it is missing."""
    res = run_scenario("svb-2023", us_model, n_paths=200, keep="summary")
    assert res.liquidity_horizons is not None and res.simulation.returns is None
    stored = write_results(res, tmp_path, model=us_model)
    assert "keep" in stored.risk["frtb_es"]["unavailable"] and "classes" not in stored.risk["frtb_es"]


def test_liquidity_horizons_follow_the_roles(us_model):
    """The portfolio's horizons are per position (role); the run maps them onto model assets."""
    res = run_scenario("svb-2023", us_model, n_paths=20, roles={"oil": "NASDAQ", "tech_equity": "WTI"})
    lh = dict(zip(res.asset_names, res.liquidity_horizons.tolist()))
    assert lh == {"SP500": 10, "NASDAQ": 20, "WTI": 10}


# ---------------------------------------------------------------------------------------------
# baseline start state, discreteness, replay scaling, as-of
# ---------------------------------------------------------------------------------------------
def test_baseline_start_both_writes_a_long_run_baseline(tmp_path, cli_main, us_model, capsys):
    out = tmp_path / "r"
    assert cli_main(["run", "svb-2023", "baseline", "--model", "builtin:us-markets", "--out", str(out),
                     "--paths", "100", "--baseline-start", "both"]) == 0
    assert "VaR 97.5%    ES 97.5%" in capsys.readouterr().out  # VaR and ES paired by level
    assert sorted(p.name for p in out.iterdir()) == ["baseline", "baseline-long-run", "svb-2023"]
    asof, lr = load_results(out / "baseline"), load_results(out / "baseline-long-run")
    assert asof.start_state == "as-of" and lr.start_state == "long-run"
    assert "--baseline-start" in lr.manifest["command"] and lr.manifest["start_state"] == "long-run"
    # the long-run run starts each asset at its unconditional variance, parameters unchanged
    start = lr.model["start"]
    assert start["sigma2"] == pytest.approx([m.unconditional_variance for m in us_model.marginals], rel=1e-15)
    assert start["resid"] == [0.0, 0.0, 0.0]
    assert {k: v for k, v in lr.model.items() if k != "start"} == {k: v for k, v in asof.model.items() if k != "start"}
    vols = lr.risk["start_state"]["start_daily_vol_pct"]
    assert vols == pytest.approx(lr.risk["start_state"]["long_run_daily_vol_pct"])
    assert asof.risk["start_state"]["start_daily_vol_pct"]["SP500"] > 1.5 * vols["SP500"]  # end of 2018: high vol
    # the scenarios are compared with the as-of baseline; the long-run baseline too, labelled
    svb = load_results(out / "svb-2023")
    assert svb.risk["stress_vs_baseline"]["baseline"] == "baseline"
    cmp = lr.risk["stress_vs_baseline"]
    assert cmp["same_model_parameters"] and not cmp["same_model"] and cmp["headline"]["horizon_days"] == 252
    assert lr.tail(252, 0.975)["es"] < asof.tail(252, 0.975)["es"]
    # both reproduce from their folders
    assert cli_main(["verify", str(out), "--all"]) == 0


def test_plan_runs_baseline_start(us_model):
    from simulator.jobs import plan_runs
    from simulator.exceptions import UserInputError

    plans = plan_runs(["baseline", "svb-2023"], model=us_model, n_paths=100, baseline_start="long-run")
    assert [(p.name, p.start_state) for p in plans] == [("baseline", "long-run"), ("svb-2023", "as-of")]
    assert plans[0].model.start.sigma2 != us_model.start.sigma2 and plans[1].model is us_model
    plans = plan_runs(["dotcom-2000-2002", "baseline"], model=us_model, n_paths=100, baseline_start="both")
    assert [(p.name, p.start_state, p.scenario.horizon_days, p.reporting_horizon) for p in plans] == [
        ("baseline", "as-of", 637, 252), ("baseline-long-run", "long-run", 637, 252),
        ("dotcom-2000-2002", "as-of", 637, None)]
    assert plans[1].scenario.description.startswith("Baseline from the model's long-run")
    assert plan_runs(["svb-2023"], model=us_model, n_paths=100)[0].start_state == "as-of"  # the default
    with pytest.raises(UserInputError, match="no scenario named 'baseline'"):
        plan_runs(["svb-2023"], model=us_model, baseline_start="both")
    with pytest.raises(UserInputError, match="is not one of"):
        plan_runs(["baseline"], model=us_model, baseline_start="long")


def test_risk_json_states_outcomes_scaling_and_as_of(tmp_path, us_model):
    # gfc-2008 bootstraps its first 9 days from 9 historical days and replays the rest in sequence
    res = run_scenario("gfc-2008", us_model, n_paths=300, keep="paths")
    stored = write_results(res, tmp_path, model=us_model, model_source="builtin:us-markets")
    doc = stored.risk
    distinct = {r["horizon_days"]: r["n_distinct_pnl"] for r in doc["risk"]}
    assert distinct[1] <= 9 and distinct[130] > 9
    assert distinct[1] == len(np.unique(np.round(stored.pnl[1], 6)))
    assert doc["scenario"]["replay_scaling"] == "historical"
    assert doc["as_of"] == "2018-12-28" == us_model.provenance["data"]["window_end"]
    assert doc["model"]["source"] == "builtin:us-markets" and doc["start_state"]["kind"] == "as-of"
    assert doc["format"] == "stress-sim-results/2" and doc["units"]["mean_loss"].startswith("USD; losses positive")
    for entry in doc["risk"]:
        assert entry["mean_loss"] == -entry["mean_pnl"]
        for e in entry["levels"]:
            assert e["es"] >= e["var"]
    fhs = write_results(run_scenario("gfc-2008", us_model, n_paths=100, keep="paths", replay_scaling="filtered"),
                        tmp_path / "f", model=us_model)
    assert fhs.risk["scenario"]["replay_scaling"] == "filtered"
