"""Scenario runs on Dask and resumed runs write the local run's files, byte for byte.

Facts checked, on a 2-worker local cluster (processes, one thread each):

* ``run_scenario(..., backend="dask")`` then ``write_results`` writes the same bytes as the plain local run
  (daily paths in memory) for every file of the result folder, for a run keeping daily paths, one keeping
  per-path summaries, one writing ``paths.parquet`` and a run revaluing the example book on the rates model;
  other ``chunk_paths`` give the same bytes too. ``manifest.json`` differs only in ``created_utc`` (the time
  of writing) and ``engine`` (where and in how many chunks the run went), which it records on purpose.
* A run with ``run_dir`` interrupted after three chunks were checkpointed and continued with ``resume=True`` (on
  Dask) writes the uninterrupted run's bytes and computes only the missing chunks; a checkpoint whose rows were
  altered (and re-signed) is refused.
* ``stress-sim run baseline gfc-2008 --model builtin:us-markets --backend dask --workers 2`` writes the local run's
  output tree (every file; in ``manifest.json`` also the ``command`` and the ``simulate_s`` timing differ), and
  ``stress-sim report`` renders the same page from it (but for the folder, the command and the times). The same
  Dask run killed with SIGKILL (its process group: client, scheduler and workers) once 11 chunks were committed
  (the baseline's 8 and 3 of gfc-2008) and continued with ``--resume`` (on another cluster) writes the
  uninterrupted local run's files; resuming with other settings and bad combinations of the scale-out flags
  exit with status 2 and one error line. A scenario that blows up leaves its folder as it was: no checkpoint in
  an earlier result, no folder where there was none.
* ``--backend cuda`` through the whole run on numba's CUDA simulator agrees with the local run within the
  backend's stated tolerance (on the simulator the numbers are in fact equal; a run on a real GPU is not tested
  here).
"""
from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")

from simulator import _faults  # noqa: E402
from simulator.builtin import load_model  # noqa: E402
from simulator.jobs.scenario import run_scenario  # noqa: E402
from simulator.results import write_results  # noqa: E402
from simulator.runstore import INDEX_FILE  # noqa: E402
from tests.conftest import REPO  # noqa: E402

BOOK = REPO / "examples" / "book.csv"
#: manifest fields that record when and where a run went, not what it computed
RUN_RECORD = ("created_utc", "engine")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                       scheduler_kwargs={"dashboard_address": ":0"}, silence_logs=logging.ERROR)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def us_model():
    return load_model("builtin:us-markets")


@pytest.fixture(scope="module")
def rates_model():
    return load_model("builtin:us-markets-rates")


def tree(root: Path, *, drop: tuple[str, ...] = RUN_RECORD) -> dict[str, bytes | dict]:
    """Every file under ``root`` by relative path: its bytes, or for a ``manifest.json`` its fields less ``drop``
    (the ``outputs`` hashes stay: they pin every other file's bytes too)."""
    out: dict[str, bytes | dict] = {}
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        rel = str(p.relative_to(root))
        if p.name == "manifest.json":
            m = json.loads(p.read_text())
            out[rel] = {k: v for k, v in m.items() if k not in drop}
        else:
            out[rel] = p.read_bytes()
    return out


def assert_same_tree(got: Path, want: Path, drop: tuple[str, ...] = RUN_RECORD) -> None:
    a, b = tree(got, drop=drop), tree(want, drop=drop)
    assert sorted(a) == sorted(b)
    for rel in b:
        assert a[rel] == b[rel], rel


def _write(result, root: Path, model, **kw) -> Path:
    write_results(result, root, model=model, command=["test"], model_source="test", **kw)
    return root


# ------------------------------------------------------------------------------------------------
# the library: run_scenario on Dask
# ------------------------------------------------------------------------------------------------
CASES = {
    # scenario, model fixture, run_scenario options, write_results options
    "daily-paths": ("gfc-2008", "us_model", {"keep": "paths"}, {}),
    "summaries": ("gfc-2008", "us_model", {}, {}),  # the scenario's own outputs.keep
    "paths-file": ("covid-2020", "us_model", {"keep": "paths", "keep_paths": True}, {"keep_paths": True}),
    "book": ("treasury-curve-2022", "rates_model", {"book": "example"}, {}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_dask_run_writes_the_local_files(case, client, request, tmp_path):
    scenario, model_name, opts, write_opts = CASES[case]
    model = request.getfixturevalue(model_name)
    opts = dict(opts)
    if opts.get("book") == "example":
        from scenarios.book import load_book

        opts["book"] = load_book(BOOK)
    plain = {k: v for k, v in opts.items() if k != "keep_paths"}
    ref = run_scenario(scenario, model, n_paths=400, **plain)
    assert ref.chunked is None and ref.simulation.meta["backend"] == "local"  # the in-memory run, paths and all
    want = _write(ref, tmp_path / "local", model, **write_opts)
    res = run_scenario(scenario, model, n_paths=400, backend="dask", client=client, chunk_paths=150, **opts)
    assert res.chunked is not None and res.simulation.meta["n_chunks"] == 3
    if case != "paths-file":  # the daily paths stay on the workers
        assert res.simulation.returns is None
    assert_same_tree(_write(res, tmp_path / "dask", model, **write_opts), want)
    manifest = json.loads((tmp_path / "dask" / scenario / "manifest.json").read_text())
    assert manifest["engine"]["backend"] == "dask" and manifest["engine"]["n_chunks"] == 3
    if case == "daily-paths":  # any chunking, local and chunked: the same bytes
        other = run_scenario(scenario, model, n_paths=400, chunked=True, chunk_paths=97, **opts)
        assert other.simulation.meta["n_chunks"] == 5
        assert_same_tree(_write(other, tmp_path / "chunked", model, **write_opts), want)


def _interrupted(run_dir: Path, monkeypatch, **kw) -> None:
    """Run gfc-2008 in chunks of 50 paths with ``run_dir``, interrupted (SIGINT) once the third chunk is committed."""
    monkeypatch.setenv("STRESS_SIM_FAULT", "chunk@3=int")
    monkeypatch.setattr(_faults, "_counts", {})
    with pytest.raises(KeyboardInterrupt):
        run_scenario("gfc-2008", n_paths=400, keep="paths", chunk_paths=50, run_dir=run_dir, **kw)
    monkeypatch.delenv("STRESS_SIM_FAULT")


def test_an_interrupted_run_resumes_on_dask_to_the_same_files(client, us_model, tmp_path, monkeypatch):
    want = _write(run_scenario("gfc-2008", us_model, n_paths=400, keep="paths"), tmp_path / "ref", us_model)
    run_dir = tmp_path / "checkpoint"
    _interrupted(run_dir, monkeypatch, model=us_model)
    lines = (run_dir / INDEX_FILE).read_bytes().split(b"\n")[:-1]
    assert len(lines) == 3
    res = run_scenario("gfc-2008", us_model, n_paths=400, keep="paths", chunk_paths=50, run_dir=run_dir,
                       resume=True, backend="dask", client=client)
    meta = res.simulation.meta
    assert (meta["chunks_resumed"], meta["chunks_computed"], meta["n_chunks"]) == (3, 5, 8)
    assert_same_tree(_write(res, tmp_path / "resumed", us_model), want)


def test_altered_checkpoint_rows_are_refused(us_model, tmp_path, monkeypatch):
    from simulator.runstore import RunStore

    run_dir = tmp_path / "checkpoint"
    _interrupted(run_dir, monkeypatch, model=us_model)
    # re-sign every stored chunk with one P&L figure changed (index and hashes consistent: only recomputing the
    # chunk from the run's inputs shows the change)
    spec = json.loads((run_dir / "run.json").read_text())
    store = RunStore(run_dir, spec, resume=True)
    try:
        assert len(store.completed) == 3
        for idx, rec in list(store.completed.items()):
            rows = store.load(idx)
            rows["pnl"] = rows["pnl"].copy()
            rows["pnl"][0, 0] += 1.0
            store.save(idx, rec.start, rec.stop, rows)
    finally:
        store.close()
    with pytest.raises(ValueError, match="does not reproduce from the run's inputs"):
        run_scenario("gfc-2008", us_model, n_paths=400, keep="paths", chunk_paths=50, run_dir=run_dir, resume=True)


# ------------------------------------------------------------------------------------------------
# the command line: stress-sim run --backend dask --workers N | --scheduler ADDR, --resume
# ------------------------------------------------------------------------------------------------
RUN = ["run", "baseline", "gfc-2008", "--model", "builtin:us-markets", "--paths", "400"]
#: manifest fields of a CLI run that record the run itself (the command holds --out and the backend flags)
CLI_RECORD = (*RUN_RECORD, "command", "simulate_s")


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    from simulator.cli import main

    out = tmp_path_factory.mktemp("local") / "A"
    assert main([*RUN, "--out", str(out)]) == 0
    return out


def _report(results: Path, page: Path) -> str:
    from simulator.cli import main

    assert main(["report", str(results), "--out", str(page)]) == 0
    html = page.read_text()
    html = re.sub(r"Generated \S+ by", "Generated by", html)
    for d in sorted(results.iterdir()):
        m = json.loads((d / "manifest.json").read_text())
        html = html.replace(m["created_utc"], "CREATED")
    html = re.sub(r"stress-sim run [^<]*</td>", "COMMAND</td>", html)
    return html.replace(str(results), "RESULTS")


def test_cli_dask_run_writes_the_local_tree(local_run, tmp_path, capsys):
    from simulator.cli import main

    out = tmp_path / "B"
    assert main([*RUN, "--backend", "dask", "--workers", "2", "--out", str(out)]) == 0
    assert "on dask" in capsys.readouterr().err
    assert_same_tree(out, local_run, drop=CLI_RECORD)
    for name in ("baseline", "gfc-2008"):
        m = json.loads((out / name / "manifest.json").read_text())
        assert m["engine"]["backend"] == "dask" and m["command"][-4:] == ["--backend", "dask", "--workers", "2"]
    assert not list(out.glob("*/checkpoint")) and not list(out.glob(".stress-sim-*"))
    # the report renders from results produced on Dask: the local run's page
    assert _report(out, tmp_path / "b.html") == _report(local_run, tmp_path / "a.html")


def _index_lines(run_dir: Path) -> int:
    try:
        return len((run_dir / INDEX_FILE).read_bytes().split(b"\n")[:-1])
    except FileNotFoundError:
        return 0


def test_cli_dask_run_killed_then_resumed(local_run, client, tmp_path, capsys):
    from simulator.cli import main

    out = tmp_path / "K"
    args = [*RUN, "--chunk-paths", "50", "--out", str(out)]
    # the driver SIGKILLs itself right after its 11th checkpointed chunk (simulator._faults), then the rest of
    # its process group (the local cluster's scheduler lives in it, its worker processes are its children)
    code = "import sys; from simulator.cli import main; sys.exit(main(sys.argv[1:]))"
    env = dict(os.environ, PYTHONPATH=str(REPO), STRESS_SIM_FAULT="chunk@11=kill")
    proc = subprocess.Popen([sys.executable, "-c", code, *args, "--workers", "2"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert proc.returncode == -signal.SIGKILL, err.decode()
    assert (_index_lines(out / "baseline" / "checkpoint"), _index_lines(out / "gfc-2008" / "checkpoint")) == (8, 3)
    assert not list(out.glob("*/manifest.json"))  # nothing was committed
    # other settings cannot resume it (and leave it resumable)
    capsys.readouterr()
    assert main([*RUN, "--chunk-paths", "40", "--out", str(out), "--scheduler", client.scheduler.address,
                 "--resume"]) == 2
    err = capsys.readouterr().err
    assert len(re.findall("stress-sim: error:", err)) == 1 and "cannot resume the run" in err and "chunk_paths" in err
    assert main([*args, "--scheduler", client.scheduler.address, "--resume"]) == 0
    err = capsys.readouterr().err
    assert "resumed 8 of 8 chunks" in err and "resumed 3 of 8 chunks" in err
    assert_same_tree(out, local_run, drop=CLI_RECORD)  # no checkpoint or staging folder is left either
    m = json.loads((out / "gfc-2008" / "manifest.json").read_text())
    assert (m["engine"]["chunks_resumed"], m["engine"]["chunks_computed"]) == (3, 5)


@pytest.mark.parametrize("extra, message", [
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "give only one"),
    (["--backend", "local", "--workers", "2"], "need --backend dask"),
    (["--backend", "auto", "--scheduler", "tcp://127.0.0.1:1"], "need --backend dask"),
    (["--scheduler", "127.0.0.1:8786"], "must be an address such as tcp://HOST:8786"),
    (["--workers", "0"], "expected a positive integer"),
    (["--chunk-paths", "-5"], "expected a positive integer"),
    (["--backend", "spark"], "invalid choice"),
])
def test_cli_bad_scale_out_flags_exit_2_with_one_line(extra, message, tmp_path, capsys):
    from simulator.cli import main

    out = tmp_path / "out"
    try:
        status = main([*RUN, "--out", str(out), *extra])
    except SystemExit as exc:  # argparse's usage errors
        status = exc.code
    assert status == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("stress-sim: error:") and message in err, err
    assert not out.exists()


def test_cli_cuda_without_a_gpu_exits_2(tmp_path, capsys):
    from simulator.backends.cuda import gpu_status
    from simulator.cli import main

    if gpu_status()[0]:
        pytest.skip("a usable GPU is present")
    assert main([*RUN, "--out", str(tmp_path / "out"), "--backend", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "backend='cuda'" in err and not (tmp_path / "out").exists()



BOOM = """
name = "boom"
description = "A volatility multiplier that makes the equity paths explode (or not)."
source = "test"
horizon_days = 20
n_paths = 200
seed = 1

[portfolio]
positions = {{ equity = 600000.0, tech_equity = 250000.0, oil = 150000.0 }}

[[shocks]]
type = "vol_spike"
label = "spike"
day = 1
days = 20
multiplier = {multiplier}
assets = ["equity"]
"""


def test_a_scenario_refused_leaves_its_folder_without_a_checkpoint(tmp_path, capsys):
    """A multiplier of 5,000 (which made the paths overflow before magnitudes were bounded) is refused as bad
    input before any chunk runs: no folder where there was none, and an earlier result left as it was, with no
    checkpoint in it. (Paths that overflow in a run are reported by test_run_cli's NonFiniteResultError test.)"""
    from simulator.cli import main

    scenario, out = tmp_path / "boom.toml", tmp_path / "out"
    argv = ["run", str(scenario), "--model", "builtin:us-markets", "--chunk-paths", "50", "--out", str(out)]
    scenario.write_text(BOOM.format(multiplier=5000.0))
    assert main(argv) == 2  # no earlier result: no folder is left for it
    assert "multiplier" in capsys.readouterr().err and not (out / "boom").exists()
    scenario.write_text(BOOM.format(multiplier=1.0))
    assert main(argv) == 0
    before = tree(out)
    scenario.write_text(BOOM.format(multiplier=5000.0))
    assert main(argv) == 2  # the earlier result stays as it was, with no checkpoint in it
    listed = json.loads((out / "boom" / "manifest.json").read_text())["outputs"]
    assert tree(out) == before and sorted(p.name for p in (out / "boom").iterdir()) == sorted([*listed, "manifest.json"])


def test_cli_cuda_run_on_numbas_gpu_simulator_agrees_with_local(tmp_path):
    """``--backend cuda`` through the whole run (the GPU driver, chunk by chunk reduction on the host, the
    checkpoint), on numba's CUDA simulator: the local run's files within :data:`simulator.backends.cuda.RTOL`."""
    import numpy as np
    import pandas as pd

    from simulator.backends.cuda import RTOL
    from simulator.cli import main

    args = ["run", "svb-2023", "--model", "builtin:us-markets", "--paths", "100"]
    code = "import sys; from simulator.cli import main; sys.exit(main(sys.argv[1:]))"
    env = dict(os.environ, PYTHONPATH=str(REPO), NUMBA_ENABLE_CUDASIM="1", PYTHONWARNINGS="ignore::RuntimeWarning")
    gpu, cpu = tmp_path / "gpu", tmp_path / "cpu"
    proc = subprocess.run([sys.executable, "-c", code, *args, "--backend", "cuda", "--chunk-paths", "50",
                           "--out", str(gpu)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert main([*args, "--out", str(cpu)]) == 0
    assert sorted(tree(gpu)) == sorted(tree(cpu))
    assert json.loads((gpu / "svb-2023" / "manifest.json").read_text())["engine"]["backend"] == "cuda"
    for name, col in (("pnl.parquet", "pnl"), ("summary.parquet", "cum_log_return_pct")):
        a, b = pd.read_parquet(gpu / "svb-2023" / name), pd.read_parquet(cpu / "svb-2023" / name)
        assert a.shape == b.shape and np.allclose(a[col], b[col], rtol=RTOL, atol=1e-9), name
