"""Run identity: a run is its canonical model, scenario as compiled, seed and options, not the bytes of the kernel's
inputs; what earlier versions wrote keeps verifying and resuming.

Fixtures (written by stress-sim 0.3.0 before run identity 2, i.e. with kernel-byte checkpoint identities and
the 0.3.0 scenario-hash recipe):

- ``tests/data/run-0.3.0``: ``stress-sim run covid-2020 rates-shock-2022 --model builtin:us-markets --paths 100``
  and ``stress-sim run volmageddon-2018 ... --paths 100 --replay-scaling filtered`` (results format
  ``stress-sim-results/2``; every shock type but jump-only scenarios, a filtered replay without targets);
- ``tests/data/checkpoint-0.3.0/{simulate,paths,tail}``: run directories of ``simulate(builtin:us-markets, 48
  paths, 12 days, seed 20240607, chunk_paths=16, keep="summary" / "paths", run_dir=...)`` and ``simulate_tail``
  (120 paths, positions 1e5, 1e5, 5e4, chunk_paths=40), each with its last chunk removed (an interrupted run).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from simulator import __version__
from simulator.builtin import load_builtin_model
from simulator.engine import plan_run, simulate
from simulator.runstore import IDENTITY_VERSION, LEGACY_KEY, run_identity, schedule_sha256

DATA = Path(__file__).parent / "data"
RUNS_030 = DATA / "run-0.3.0"
CHECKPOINTS_030 = DATA / "checkpoint-0.3.0"
SEED = 20240607


@pytest.fixture(scope="module")
def us_model():
    return load_builtin_model("us-markets")


def _copy(name: str, tmp_path: Path) -> Path:
    d = tmp_path / name
    shutil.copytree(CHECKPOINTS_030 / name, d)
    return d


def test_results_written_by_0_3_0_verify_bit_for_bit(capsys):
    import simulator.cli as cli

    assert cli.main(["verify", str(RUNS_030), "--all"]) == 0
    out = capsys.readouterr().out
    assert "3 run(s) intact and reproduced" in out and out.count("[scenario-run]") == 3
    # the filtered replay's hash is the 0.3.0 recipe's (no empty targets, no filtered scaling), accepted as such
    from scenarios.loader import record_sha256, record_sha256s

    d = RUNS_030 / "volmageddon-2018"
    record = json.loads((d / "scenario.json").read_text())
    recorded = json.loads((d / "manifest.json").read_text())["scenario_sha256"]
    assert record["targets"] == [] and {s["scaling"] for s in record["shocks"]} == {"filtered"}
    assert recorded != record_sha256(record) and recorded in record_sha256s(record)


def test_new_runs_record_the_canonical_scenario_hash(us_model):
    from scenarios.loader import load_scenario, record_sha256, scenario_sha256, with_replay_scaling

    sc = with_replay_scaling(load_scenario("volmageddon-2018"), "filtered")
    assert scenario_sha256(sc) == record_sha256(json.loads(json.dumps(sc.model_dump(mode="json"))))


@pytest.mark.parametrize("name,keep", [("simulate", "summary"), ("paths", "paths")])
def test_checkpoints_written_by_0_3_0_resume(tmp_path, us_model, name, keep):
    d = _copy(name, tmp_path)
    old = json.loads((d / "run.json").read_text())
    assert LEGACY_KEY in old and "identity" not in old
    if old["stress_sim_version"] != __version__:  # checkpoints resume within one version, as they always did
        with pytest.raises(ValueError, match="different settings"):
            simulate(us_model, 48, 12, seed=SEED, chunk_paths=16, keep=keep, run_dir=d, resume=True)
        return
    res = simulate(us_model, 48, 12, seed=SEED, chunk_paths=16, keep=keep, run_dir=d, resume=True)
    assert (res.meta["chunks_resumed"], res.meta["chunks_computed"]) == (2, 1)
    fresh = simulate(us_model, 48, 12, seed=SEED, chunk_paths=16, keep=keep)
    assert np.array_equal(res.cum_return, fresh.cum_return) and np.array_equal(res.max_drawdown, fresh.max_drawdown)
    if keep == "paths":
        assert np.array_equal(res.returns, fresh.returns) and np.array_equal(res.sigma, fresh.sigma)
    # another run in the same directory is still refused, naming what differs
    with pytest.raises(ValueError, match="n_paths"):
        simulate(us_model, 64, 12, seed=SEED, chunk_paths=16, keep=keep, run_dir=d, resume=True)


def test_tail_checkpoint_written_by_0_3_0_resumes(tmp_path, us_model):
    from simulator.tail import simulate_tail

    d = _copy("tail", tmp_path)
    if json.loads((d / "run.json").read_text())["stress_sim_version"] != __version__:
        pytest.skip("checkpoints resume within one version")
    kw = dict(seed=SEED, positions=[1e5, 1e5, 5e4], chunk_paths=40)
    res = simulate_tail(us_model, 120, 12, run_dir=d, resume=True, **kw)
    assert res.meta["chunks_resumed"] == 2
    assert res.to_dict() == simulate_tail(us_model, 120, 12, **kw).to_dict()


def test_a_0_3_0_checkpoint_cannot_be_resumed_with_shocks(tmp_path, us_model):
    from scenarios.loader import load_scenario
    from simulator.jobs import compile_scenario

    d = _copy("simulate", tmp_path)
    sched = compile_scenario(load_scenario("svb-2023"), us_model, horizon=12)
    with pytest.raises(ValueError, match="bytes of the kernel's inputs"):
        simulate(us_model, 48, 12, seed=SEED, chunk_paths=16, keep="summary", schedule=sched, run_dir=d, resume=True)


def test_identity_names_the_run_not_the_kernel_packing(tmp_path, us_model, monkeypatch):
    """A run directory resumes after the kernel's inputs change shape (a wider parameter array, as a new
    volatility family's extra parameter makes it): the identity holds no kernel bytes."""
    import simulator.schedule as schedule

    d = tmp_path / "run"
    first = simulate(us_model, 30, 9, seed=3, chunk_paths=10, keep="summary", run_dir=d)
    ident = json.loads((d / "run.json").read_text())
    assert ident["identity"] == IDENTITY_VERSION and LEGACY_KEY not in ident
    assert ident["schedule_sha256"] is None and ident["model_sha256"] == us_model.sha256()
    lines = (d / "index.jsonl").read_text().splitlines()
    (d / "index.jsonl").write_text("\n".join(lines[:1]) + "\n")  # interrupted after one chunk
    width = schedule.kernel_width()
    monkeypatch.setattr(schedule, "kernel_width", lambda: width + 2)
    plan = plan_run(us_model, 30, 9, 3, chunk_paths=10, keep="summary")
    assert plan.arrays.model.vpar.shape[-1] == width + 2
    again = simulate(us_model, 30, 9, seed=3, chunk_paths=10, keep="summary", run_dir=d, resume=True)
    assert again.meta["chunks_resumed"] == 1
    assert np.array_equal(again.cum_return, first.cum_return)


def test_schedule_identity_describes_the_scenario_as_compiled(us_model):
    from scenarios.loader import load_scenario, with_replay_scaling
    from simulator.jobs import compile_scenario
    from simulator.schedule import Schedule

    assert schedule_sha256(Schedule.from_model(us_model, 22), us_model) is None
    sc = load_scenario("volmageddon-2018")
    a = schedule_sha256(compile_scenario(sc, us_model), us_model)
    assert a is not None and a == schedule_sha256(compile_scenario(sc, us_model), us_model)
    assert a != schedule_sha256(compile_scenario(with_replay_scaling(sc, "filtered"), us_model), us_model)
    svb = compile_scenario(load_scenario("svb-2023"), us_model, horizon=22)
    other = svb.copy(vol_mult=svb.vol_mult * 1.01)
    assert schedule_sha256(svb, us_model) != schedule_sha256(other, us_model)
    plan = plan_run(us_model, 10, 22, 1, schedule=svb)
    ident = run_identity(plan, store_paths=False, spec={"kind": "simulate"})
    assert ident["schedule_sha256"] == schedule_sha256(svb, us_model)
    assert set(ident) == {"identity", "stress_sim_version", "model_sha256", "schedule_sha256", "seed_keys", "seed",
                          "n_paths", "horizon", "chunk_paths", "store_paths", "kind"}
