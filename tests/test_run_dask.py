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
"""
from __future__ import annotations

import json
import logging
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
