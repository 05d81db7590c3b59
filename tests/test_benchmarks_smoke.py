"""Smoke test of the engine benchmark: it runs end to end at tiny sizes and writes the documented JSON.

Speeds are not asserted (performance is measured in benchmarks, not in unit tests).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "engine.py"


def test_engine_benchmark_quick_writes_expected_json(tmp_path):
    out = tmp_path / "engine.json"
    cmd = [sys.executable, str(SCRIPT), "--quick", "--paths", "400", "--arch-paths", "200", "--numpy-paths", "300",
           "--memory-paths", "2000", "--breakdown-paths", "200", "--horizon", "20", "--repeats", "1",
           "--threads", "1", "--out", str(out)]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "speed-up engine(summary)/arch" in proc.stdout
    data = json.loads(out.read_text())

    assert data["quick"] is True and data["horizon"] == 20
    tp = data["throughput"]
    assert set(tp) == {"engine_summary", "engine_paths", "arch", "numpy"}
    assert all(v > 0 for v in tp.values())
    # each ratio is the quotient of the throughputs it names, each target compares what it names
    assert set(data["ratios"]) == {"engine_summary_over_arch", "engine_paths_over_arch",
                                   "engine_summary_over_numpy", "engine_paths_over_numpy"}
    for name, value in data["ratios"].items():
        num, den = name.split("_over_")
        assert value == pytest.approx(tp[num] / tp[den], rel=1e-12), name
    targets = data["targets"]
    assert set(targets) == {"engine_over_arch", "engine_over_numpy", "memory_peak_bytes"}
    assert targets["engine_over_arch"]["measured"] == data["ratios"]["engine_summary_over_arch"]
    assert targets["engine_over_numpy"]["measured"] == data["ratios"]["engine_summary_over_numpy"]
    for name in ("engine_over_arch", "engine_over_numpy"):
        assert targets[name]["met"] is (targets[name]["measured"] >= targets[name]["target"])
    mem_target = targets["memory_peak_bytes"]
    assert mem_target["met"] is (mem_target["measured"] <= mem_target["target"])
    for section, n_paths in (("engine_summary", 400), ("engine_paths", 400), ("arch", 200), ("numpy", 300)):
        fig = data[section]
        assert fig["n_paths"] == n_paths and fig["horizon"] == 20 and fig["n_assets"] == 10
        assert len(fig["repeats_s"]) == 1 and fig["best_s"] > 0
        assert fig["path_asset_steps_per_s"] == n_paths * 20 * 10 / fig["best_s"]
    assert data["engine_summary"]["n_threads"] == 1

    # the engine and the plain-numpy simulation of the same model agree (fixed seeds: a fact, not luck)
    check = data["same_model_check"]
    for key in ("ks_cum_return_asset0", "ks_max_drawdown_asset0"):
        c = check[key]
        assert (c["n_engine"], c["n_numpy"]) == (400, 300)
        assert 1e-3 < c["pvalue"] <= 1.0 and 0.0 < c["statistic"] < 1.0
        se = (c["std_engine"] ** 2 / c["n_engine"] + c["std_numpy"] ** 2 / c["n_numpy"]) ** 0.5
        assert abs(c["mean_engine"] - c["mean_numpy"]) < 4 * se, key
    corr = check["corr_cum_return_asset0_asset1"]
    assert 0.2 < corr["engine"] < 0.8 and 0.2 < corr["numpy"] < 0.8  # the copula's rho = 0.5 at work
    assert abs(corr["z"]) < 3.3
    assert check["agree"] is True
    assert "DISAGREE" not in proc.stdout
    dd = check["ks_max_drawdown_asset0"]
    assert 0.0 < dd["mean_engine"] < 1.0 and 0.0 < dd["mean_numpy"] < 1.0  # drawdowns are fractions

    mem = data["memory"]
    assert mem["n_paths"] == 2000 and mem["keep"] == "summary"
    # the child imported numpy, scipy and numba: tens of MiB at the very least
    assert mem["peak_rss_bytes"] >= mem["peak_rss_before_run_bytes"] > 30 * 2**20
    assert [r["label"] for r in data["breakdown"]][-1].endswith("(the benchmark model)")
    assert [r["n_threads"] for r in data["threads"]][0] == 1
    assert data["model"]["copula"]["nu"] == 5.0 and len(data["model"]["assets"]) == 10


def _run_measured():
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from _common import run_measured
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    return run_measured


def test_run_measured_reports_the_child_peak_rss():
    run_measured = _run_measured()
    big = run_measured([sys.executable, "-c", "b = bytearray(200 * 2**20); print(len(b))"])
    small = run_measured([sys.executable, "-c", "print(1)"])
    assert big.returncode == 0 and big.stdout.strip() == str(200 * 2**20)
    assert big.peak_rss_bytes >= 200 * 2**20
    assert small.peak_rss_bytes < 100 * 2**20
    assert big.wall_s > 0


def test_run_measured_ignores_the_parent_high_water_mark():
    # Linux carries a process's peak RSS into the children it spawns; a benchmark that held
    # gigabytes of paths must still measure a small child as small.
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from _common import run_measured\n"
        "b = bytearray(400 * 2**20); del b\n"
        "print(run_measured([sys.executable, '-c', 'print(1)']).peak_rss_bytes)"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(REPO / "benchmarks")], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert int(proc.stdout.split()[-1]) < 100 * 2**20


def test_shocks_benchmark_quick_writes_overhead(tmp_path):
    out = tmp_path / "shocks.json"
    cmd = [sys.executable, str(REPO / "benchmarks" / "shocks.py"), "--quick", "--paths", "300", "--out", str(out)]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    assert set(data["timings"]) == {"plain", "every shock"}
    assert data["overhead"] == data["timings"]["every shock"]["best_s"] / data["timings"]["plain"]["best_s"] - 1
    assert "shock overhead" in proc.stdout


def test_same_model_check_tells_models_apart():
    """The benchmark's engine-vs-numpy check agrees on the same model and rejects a different one
    (twice the long-run volatility in the numpy simulation), so its ``agree`` carries information."""
    import importlib.util

    from simulator import MarketModel, simulate

    saved = list(sys.path)  # the script puts benchmarks/ first on sys.path (benchmarks/calibration.py!)
    try:
        spec = importlib.util.spec_from_file_location("benchmarks_engine", SCRIPT)
        bench = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(bench)
    finally:
        sys.path[:] = saved
    model = MarketModel.from_dict(bench.model_dict(4))
    wider = MarketModel.from_dict(bench.model_dict(4, vol={"type": "gjr", **bench.GJR, "omega": 4 * bench.GJR["omega"]}))
    res = simulate(model, 2000, 20, 5, keep="summary")
    assert bench.same_model_check(res, bench.numpy_simulate(model, 2000, 20, 6))["agree"] is True
    other = bench.same_model_check(res, bench.numpy_simulate(wider, 2000, 20, 6))
    assert other["agree"] is False
    assert other["ks_cum_return_asset0"]["pvalue"] < 1e-6


def test_importance_benchmark_quick_writes_expected_json(tmp_path):
    out = tmp_path / "importance.json"
    cmd = [sys.executable, str(REPO / "benchmarks" / "importance.py"), "--quick", "--paths", "2048", "--reps", "3",
           "--pilot", "1000", "--big", "20000", "--portfolios", "demo", "--out", str(out)]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "bias check" in proc.stdout
    data = json.loads(out.read_text())
    demo = data["portfolios"]["demo"]
    assert data["paths_per_replication"] == 2048 and data["replications"] == 3
    est = demo["estimators"]["es_0.999"]
    assert est["vrf_is"] == pytest.approx(est["plain"]["var"] / est["is"]["var"], rel=1e-12)
    assert est["vrf_qmc"] == pytest.approx(est["plain"]["var"] / est["qmc"]["var"], rel=1e-12)
    assert demo["target_es_999_vrf"]["met"] is (est["vrf_is"] >= 10.0)
    assert set(demo["bias_check"]["levels"]) == {"0.99", "0.999", "0.9997"}
    assert demo["bias_check"]["pooled_paths"] == 3 * 2048
