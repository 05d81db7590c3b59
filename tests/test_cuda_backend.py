"""The CUDA backend: the GPU kernels against the CPU backend, and the fallbacks when no GPU is present.

The GPU-vs-CPU equivalence tests run where a GPU can run them:

* on a machine with a usable NVIDIA GPU (numba-cuda installed, ``pip install -e ".[cuda]"``): in this
  process, on the real GPU;
* elsewhere, with numba's built-in CUDA simulator: the simulator must be switched on before
  ``numba.cuda`` is first imported, so the GPU runs happen in one child process
  (``NUMBA_ENABLE_CUDASIM=1``) that executes the same GPU driver, launch configuration, chunk merging
  and per-path device functions as a real GPU, and saves its outputs;
* with numba-cuda installed but no GPU they skip (numba-cuda's simulator is too slow, see below).

This process computes the CPU reference and compares within the backend's stated tolerance
(``simulator.backends.cuda.RTOL`` / ``ATOL``). Sizes are tiny: the simulator runs each GPU thread as Python.
"""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # when run as the simulator child: python tests/test_cuda_backend.py OUT
    sys.path.insert(0, str(REPO))

from simulator.backends import cuda as cuda_backend  # noqa: E402

N_PATHS, HORIZON, SEED = 64, 20, 2024
#: numba-cuda's simulator (once that package is installed, numba.cuda is numba-cuda's) takes a lock on
#: every device-function call, which made the child below run over 10 minutes instead of ~17 s; with
#: numba-cuda present the equivalence tests need the real GPU.
SLOW_SIMULATOR = ("numba-cuda is installed but no GPU is usable, and numba-cuda's CUDA simulator is too slow "
                  "for these runs (they run on a GPU, or on numba's built-in simulator without numba-cuda)")
NUMBA_CUDA_INSTALLED = importlib.util.find_spec("numba_cuda") is not None
#: a real, usable GPU in this process (the simulator is switched on only in the child below)
REAL_GPU = cuda_backend.gpu_status()[0] and not cuda_backend._is_simulator()
needs_a_gpu_or_the_builtin_simulator = pytest.mark.skipif(NUMBA_CUDA_INSTALLED and not REAL_GPU,
                                                          reason=SLOW_SIMULATOR)
OUTPUTS = ("returns", "sigma", "cum_return", "max_drawdown", "stressed_days")
VOLS = [
    {"type": "garch", "omega": 0.03, "alpha": 0.08, "beta": 0.90},
    {"type": "gjr", "omega": 0.02, "alpha": 0.03, "gamma": 0.10, "beta": 0.88},
    {"type": "egarch", "omega": 0.01, "alpha": 0.12, "gamma": -0.08, "beta": 0.97},
]
DISTS = [{"type": "normal"}, {"type": "t", "nu": 6.0}, {"type": "skewt", "nu": 7.0, "lambda": -0.2}]
CORR = [[1.0, 0.5, 0.3], [0.5, 1.0, 0.4], [0.3, 0.4, 1.0]]
COPULAS = {
    "independent": {"type": "independent"}, "gaussian": {"type": "gaussian", "corr": CORR},
    "t": {"type": "t", "corr": CORR, "nu": 5.0}, "clayton": {"type": "clayton", "theta": 2.0},
    "gumbel": {"type": "gumbel", "theta": 1.7}, "frank": {"type": "frank", "theta": 5.0},
}
ALL_SHOCKS = [
    {"type": "regime_switch", "p_enter": 0.05, "p_exit": 0.2, "stress": {"vol_multiplier": 1.8, "rho": 0.7}},
    {"type": "correlation_break", "day": 3, "days": 4, "rho": 0.85, "nu": 4.0},
    {"type": "vol_spike", "day": 2, "days": 6, "multiplier": 2.0, "half_life": 2.0},
    {"type": "vol_spike", "day": 9, "days": 3, "multiplier": 1.5, "feedback": True},
    {"type": "jump", "day": 4, "assets": ["SP500"], "size": -7.0, "unit": "percent", "probability": 0.5},
    {"type": "jump", "day": 5, "assets": ["WTI"], "size": -3.0, "unit": "sigma"},
    {"type": "historical_replay", "day": 12, "window": ["2008-10-06", "2008-10-08"]},
    {"type": "historical_replay", "day": 19, "window": ["2008-10-09", "2008-10-10"], "scaling": "historical"},
    {"type": "historical_replay", "day": 16, "window": ["2008-10-06", "2008-10-31"], "mode": "bootstrap",
     "days": 3},
    {"type": "poisson_jumps", "intensity": 30.0, "law": "pareto", "scale": 2.0, "alpha": 3.0,
     "loadings": {"SP500": 1.0, "WTI": 2.0}},
    {"type": "poisson_jumps", "intensity": 40.0, "law": "double_exponential", "p_up": 0.3, "eta_up": 1.0,
     "eta_down": 2.0, "loadings": {"WTI": 1.0}},
    {"type": "poisson_jumps", "intensity": 40.0, "law": "normal", "mean": -1.0, "sd": 2.0,
     "loadings": {"SP500": 0.5}},
    {"type": "anchored_path", "assets": ["NASDAQ"], "knots": [[8, -12.0]], "noise": 0.3},
]


# ------------------------------------------------------------------------------------------ cases
def _grid_model(rotation: int, copula: str):
    """3 assets: vols garch/gjr/egarch with the innovation laws rotated, so the three rotations put
    every vol with every law; one model per copula family."""
    from simulator import MarketModel
    from tests.conftest import make_model

    d = make_model(3, copula=COPULAS[copula])
    for a, m in enumerate(d["marginals"]):
        m["vol"] = dict(VOLS[a])
        m["dist"] = dict(DISTS[(a + rotation) % 3])
    return MarketModel.from_dict(d)


def _aparch_model():
    """A family added through the registry (APARCH: its own branch of the variance step), every law."""
    from simulator import MarketModel
    from tests.conftest import make_model

    vol = {"type": "aparch", "omega": 0.03, "alpha": 0.07, "gamma": 0.4, "beta": 0.91, "delta": 1.4}
    d = make_model(3, vol=vol, copula=COPULAS["t"])
    for a, m in enumerate(d["marginals"]):
        m["dist"] = dict(DISTS[a])
    return MarketModel.from_dict(d)


def _shock_case():
    """The bundled us-markets model (3 assets) under every shock type at once."""
    from scenarios.loader import scenario_from_dict
    from simulator import MarketModel
    from simulator.jobs import compile_scenario

    model = MarketModel.from_json(str(REPO / "simulator" / "data" / "us-markets.json"))
    sc = scenario_from_dict({"name": "cuda-all-shocks", "description": "test", "source": "unit test",
                             "horizon_days": HORIZON, "n_paths": N_PATHS, "seed": SEED, "shocks": ALL_SHOCKS})
    return model, compile_scenario(sc, model)


def cases():
    """name -> (model, schedule, simulate keyword arguments)."""
    out = {}
    for copula in COPULAS:
        for rot in range(3):
            out[f"grid-{copula}-{rot}"] = (_grid_model(rot, copula), None, {"keep": "paths"})
    out["aparch"] = (_aparch_model(), None, {"keep": "paths"})
    model, sched = _shock_case()
    out["all-shocks"] = (model, sched, {"keep": "paths"})
    # summaries in 7 chunks of 10 paths: merged into launches, results handed back per chunk
    out["summary-chunked"] = (model, sched, {"keep": "summary", "chunk_paths": 10})
    return out


def _run(case, backend):
    from simulator import simulate

    model, sched, kw = case
    res = simulate(model, N_PATHS, HORIZON, SEED, schedule=sched, backend=backend, **kw)
    return {k: getattr(res, k) for k in OUTPUTS if getattr(res, k) is not None}, res.meta


def _tail_kwargs():
    return {"positions": np.array([1e6, -5e5, 2e5]), "levels": (0.9, 0.95), "chunk_paths": 16}


def _direct_run(arrays, keys, tasks, **kw):
    """The backend's run_chunks on explicit tasks (merging by launch_paths, a reducer)."""
    red = lambda index: (lambda out, start, stop: (index, start, stop, out["cum_return"].sum(axis=1)))  # noqa: E731
    return {i: v for i, v in cuda_backend.run_chunks(arrays, keys, HORIZON, tasks, store_paths=False, reducer=red,
                                                      **kw)}


def _direct_plan():
    from simulator.engine import plan_run

    model, sched, _ = cases()["all-shocks"]
    return plan_run(model, N_PATHS, HORIZON, SEED, chunk_paths=12, keep="summary", schedule=sched)


# ------------------------------------------------------------------- the GPU runs (GPU or simulator)
def _gpu_outputs() -> tuple[dict, dict]:
    """Every case on backend='cuda' in this process: ``(outputs by "case|key", meta by case)``."""
    from simulator.tail import simulate_tail

    status = cuda_backend.gpu_status()
    assert status[0], status
    saved, meta = {}, {}
    for name, case in cases().items():
        outs, meta[name] = _run(case, "cuda")
        for k, v in outs.items():
            saved[f"{name}|{k}"] = v
    model, sched, _ = cases()["all-shocks"]
    tail = simulate_tail(model, N_PATHS, HORIZON, SEED, schedule=sched, backend="cuda", **_tail_kwargs())
    saved["tail|largest_losses"] = tail.largest_losses
    meta["tail"] = tail.meta
    plan = _direct_plan()
    direct = _direct_run(plan.arrays, plan.keys, plan.tasks, launch_paths=30, threads_per_block=8)
    for i, (index, start, stop, sums) in direct.items():
        saved[f"direct|{i}"] = np.array([index, start, stop] + list(sums))
    meta["direct_order"] = list(direct)
    return saved, meta


def _child(out_path: str) -> None:
    """The simulator child: every case on backend='cuda' (numba's CUDA simulator), outputs saved."""
    warnings.simplefilter("ignore", RuntimeWarning)  # numpy scalar uint64 wrap-around in the RNG
    assert "simulator" in cuda_backend.gpu_status()[1]
    saved, meta = _gpu_outputs()
    np.savez(out_path, **saved)
    Path(out_path + ".json").write_text(json.dumps(meta, default=str))


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """Outputs of every GPU run of this module: on the real GPU in this process, else from one
    simulator child process."""
    if REAL_GPU:
        saved, meta = _gpu_outputs()
        return saved, json.loads(json.dumps(meta, default=str))  # the child's JSON round trip
    if NUMBA_CUDA_INSTALLED:
        pytest.skip(SLOW_SIMULATOR)
    out = tmp_path_factory.mktemp("cudasim") / "gpu.npz"
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), str(out)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"simulator child failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    data = np.load(out)
    meta = json.loads(Path(str(out) + ".json").read_text())
    return {k: data[k] for k in data.files}, meta


def _assert_close(name, key, gpu, cpu):
    assert gpu.shape == cpu.shape, (name, key, gpu.shape, cpu.shape)
    if key == "stressed_days":
        np.testing.assert_array_equal(gpu, cpu, err_msg=f"{name}: {key}")
    else:
        np.testing.assert_allclose(gpu, cpu, rtol=cuda_backend.RTOL, atol=cuda_backend.ATOL,
                                   err_msg=f"{name}: {key} differs beyond the stated GPU tolerance")


# ------------------------------------------------------------------------------ GPU vs CPU tests
@pytest.mark.parametrize("name", list(cases()))
def test_gpu_kernels_match_cpu_within_tolerance(simulated, name):
    gpu, meta = simulated
    cpu, _ = _run(cases()[name], "local")
    assert meta[name]["backend"] == "cuda"
    for key, ref in cpu.items():
        _assert_close(name, key, gpu[f"{name}|{key}"], ref)
    # the tolerance is not vacuous: these runs move (non-zero, finite returns of a few percent)
    assert np.isfinite(cpu["cum_return"]).all() and np.abs(cpu["cum_return"]).max() > 1.0


def test_every_shock_case_exercises_its_shocks(simulated):
    gpu, _ = simulated
    cpu, _ = _run(cases()["all-shocks"], "local")
    assert cpu["stressed_days"].max() > 0  # the regime switch happened on some paths
    np.testing.assert_array_equal(gpu["all-shocks|stressed_days"], cpu["stressed_days"])
    # NASDAQ (asset 1) is anchored: its mean cumulative return over days 1..8 is near -12 %... on GPU too
    r = gpu["all-shocks|returns"]
    assert abs(r[:, :8, 1].sum(axis=1).mean() - 100 * np.log(0.88)) < 3.0


def test_tail_reducer_on_gpu_matches_cpu(simulated):
    from simulator.tail import simulate_tail

    gpu, meta = simulated
    model, sched, _ = cases()["all-shocks"]
    cpu = simulate_tail(model, N_PATHS, HORIZON, SEED, schedule=sched, backend="local", **_tail_kwargs())
    assert meta["tail"]["backend"] == "cuda"
    np.testing.assert_allclose(gpu["tail|largest_losses"], cpu.largest_losses, rtol=cuda_backend.RTOL,
                               atol=cuda_backend.ATOL * np.abs(_tail_kwargs()["positions"]).sum())


def test_merged_launches_hand_back_every_chunk_in_order(simulated):
    from simulator.backends import run_chunk

    gpu, meta = simulated
    plan = _direct_plan()
    assert meta["direct_order"] == [t.index for t in plan.tasks]  # 6 chunks of 12 in 3 launches of <= 30
    for t in plan.tasks:
        row = gpu[f"direct|{t.index}"]
        assert tuple(row[:3].astype(int)) == (t.index, t.start, t.stop)
        ref = run_chunk(plan.arrays, plan.keys, t.start, t.stop, HORIZON, False)["cum_return"].sum(axis=1)
        np.testing.assert_allclose(row[3:], ref, rtol=cuda_backend.RTOL, atol=cuda_backend.ATOL)


# ---------------------------------------------------------------------------- no-GPU behaviour
needs_no_gpu = pytest.mark.skipif(cuda_backend.gpu_status()[0], reason="this machine has a usable CUDA GPU")


@needs_no_gpu
def test_cuda_without_gpu_is_a_one_line_error():
    from simulator import MarketModel, simulate
    from simulator.exceptions import UserInputError
    from tests.conftest import make_model

    model = MarketModel.from_dict(make_model(2))
    with pytest.raises(cuda_backend.CudaUnavailableError) as info:
        simulate(model, 10, 5, 1, backend="cuda")
    msg = str(info.value)
    assert msg == ("backend='cuda' needs an NVIDIA GPU with a working CUDA driver; none was found "
                   "(use backend='local' or 'auto')")
    assert "\n" not in msg
    assert isinstance(info.value, UserInputError) and isinstance(info.value, RuntimeError)


@needs_no_gpu
def test_cuda_without_gpu_leaves_run_dir_untouched(tmp_path):
    from simulator import MarketModel, simulate
    from tests.conftest import make_model

    model = MarketModel.from_dict(make_model(2))
    run_dir = tmp_path / "run"
    with pytest.raises(cuda_backend.CudaUnavailableError):
        simulate(model, 10, 5, 1, backend="cuda", run_dir=run_dir)
    assert not run_dir.exists()


@needs_no_gpu
def test_auto_falls_back_to_cpu_with_a_log_record(caplog):
    from simulator import MarketModel, simulate
    from tests.conftest import make_model

    model = MarketModel.from_dict(make_model(2))
    with caplog.at_level(logging.INFO, logger="simulator.backends.cuda"):
        res = simulate(model, 50, 5, 3, backend="auto")
    assert res.meta["backend"] == "local"
    assert any("backend='auto'" in r.getMessage() and "running on the CPU" in r.getMessage() for r in caplog.records)
    ref = simulate(model, 50, 5, 3)
    assert np.array_equal(res.returns, ref.returns)


@needs_no_gpu
def test_cli_cuda_without_gpu_exits_2(tmp_path, capsys):
    from simulator.cli import main

    model = tmp_path / "model.json"
    from simulator import MarketModel
    from tests.conftest import make_model

    model.write_text(MarketModel.from_dict(make_model(2)).to_json())
    out = tmp_path / "out"
    code = main(["simulate", str(model), "--paths", "10", "--horizon", "5", "--seed", "1", "--out", str(out),
                 "--backend", "cuda"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [f"stress-sim: error: {cuda_backend.NO_GPU_MESSAGE}"]
    assert not (out / "summary.parquet").exists()


def test_backend_names_are_validated_with_choices():
    from simulator.backends import check_backend

    with pytest.raises(ValueError, match="'local', 'dask', 'cuda', 'auto'"):
        check_backend("gpu")
    with pytest.raises(TypeError):
        check_backend(1)


# ------------------------------------------------------------------------------ benchmark script
@needs_a_gpu_or_the_builtin_simulator
def test_gpu_benchmark_quick_runs(tmp_path):
    """``benchmarks/gpu.py --quick`` on the real GPU where there is one, else on numba's simulator."""
    out = tmp_path / "gpu.json"
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    if not REAL_GPU:
        env.update(NUMBA_ENABLE_CUDASIM="1", PYTHONWARNINGS="ignore::RuntimeWarning")
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu.py"), "--quick", "--skip", "breakdown",
                           "--out", str(out)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    data = json.loads(out.read_text())
    assert data["machine"]["gpu"]["simulator"] is (not REAL_GPU) and data["precision"] == "float64"
    assert data["agreement"]["agree"] and data["agreement"]["paths"]["paths"] == 8
    assert data["gpu_kernel"][0]["n_paths"] == 48 and data["throughput"]["gpu_kernel"] > 0
    assert data["cpu"]["backend"] == "local" and data["gpu_simulate"]["backend"] == "cuda"
    # same paths, same seed: the GPU run's summary statistic equals the CPU's at this size
    assert data["gpu_simulate"]["mean_cum_return_asset0"] == pytest.approx(
        data["gpu_kernel"][0]["mean_cum_return_asset0"], rel=1e-9)


@needs_no_gpu
def test_gpu_benchmark_without_gpu_exits_2(tmp_path):
    out = tmp_path / "gpu.json"
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu.py"), "--quick", "--out", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "no usable CUDA GPU" in proc.stderr
    assert not out.exists()


# ------------------------------------------------------------------------------------ pure units
def test_launch_groups_merge_consecutive_chunks_only():
    from simulator.backends import ChunkTask

    tasks = [ChunkTask(0, 0, 10), ChunkTask(1, 10, 20), ChunkTask(2, 20, 30), ChunkTask(4, 40, 50),
             ChunkTask(5, 50, 60)]
    groups = cuda_backend._launch_groups(tasks, store_paths=False, horizon=5, n_assets=2, launch_paths=20)
    assert [[t.index for t in g] for g in groups] == [[0, 1], [2], [4, 5]]
    # keeping paths caps a launch by cells: 2**26 // (1000 days * 100 assets) = 671 paths
    big = [ChunkTask(i, 400 * i, 400 * (i + 1)) for i in range(4)]
    groups = cuda_backend._launch_groups(big, store_paths=True, horizon=1000, n_assets=100, launch_paths=1 << 20)
    assert [len(g) for g in groups] == [1, 1, 1, 1]


def test_max_assets_class():
    from simulator.kernels.cuda_chunk import max_assets_class

    assert [max_assets_class(n) for n in (1, 3, 4, 5, 8, 9, 100)] == [4, 4, 4, 8, 8, 16, 128]
    with pytest.raises(ValueError):
        max_assets_class(0)


def test_kernel_functions_have_one_plain_source():
    """Every compiled kernel function is a numba dispatcher over a plain Python function that the
    GPU build reuses (no decorator, no allocation in the shared per-path code)."""
    import inspect

    from simulator.kernels import _targets, paths

    src = _targets.shared_sources()
    assert "simulator.kernels.paths.simulate_block" in src and "simulator.kernels.rng.normal" in src
    assert paths.simulate_block.py_func is src["simulator.kernels.paths.simulate_block"]
    for name, fn in src.items():
        assert "np.empty" not in inspect.getsource(fn), name
        assert not inspect.getsource(fn).lstrip().startswith("@"), name


if __name__ == "__main__":  # the simulator child (see the ``simulated`` fixture)
    _child(sys.argv[1])
