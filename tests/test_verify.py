"""``stress-sim verify``: untouched runs reproduce bit for bit; tampered files are caught by their hash, tampered
and re-hashed outputs by the recomputation; unverifiable input exits 2."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from simulator.jobs.verify import choose_chunks, verify_directory
from simulator.io import MANIFEST_NAME, atomic_write_parquet, write_manifest


def _cli(monkeypatch, *argv: str) -> int:
    import simulator.cli as cli

    return cli.main(list(argv))


def _rehash(directory: Path) -> None:
    """Rewrite manifest.json with fresh hashes of its listed outputs (what a careful forger would do)."""
    man = json.loads((directory / MANIFEST_NAME).read_text())
    files = list(man.pop("outputs"))
    write_manifest(directory, man, files=files)


def _nudge(path: Path, column: str, row: int) -> None:
    """Change one float of a Parquet column by one unit in the last place."""
    t = pq.read_table(path)
    values = t.column(column).to_numpy().copy()
    values[row] = np.nextafter(values[row], np.inf)
    atomic_write_parquet(path, t.set_column(t.schema.get_field_index(column), column, pa.array(values)))


@pytest.fixture
def sim_run(tmp_path, monkeypatch, example_model):
    model_path = tmp_path / "model.json"
    example_model.to_json(model_path)
    out = tmp_path / "sim"
    assert _cli(monkeypatch, "simulate", str(model_path), "--paths", "300", "--horizon", "25", "--seed", "7",
                "--out", str(out)) == 0
    return out, model_path


def test_untouched_simulation_verifies(sim_run, monkeypatch, capsys):
    out, _ = sim_run
    assert _cli(monkeypatch, "verify", str(out), "--sample-seed", "1") == 0
    text = capsys.readouterr().out
    assert "OK" in text and "reproduced" in text
    res = verify_directory(out, all_paths=True)
    assert len(res) == 1 and res[0].ok and res[0].recomputed_paths == 300
    # summaries (2 x 300 x 2) and daily paths (2 x 300 x 25 x 2) compared value by value
    assert res[0].compared_values == 2 * 300 * 2 + 2 * 300 * 25 * 2
    assert not res[0].notes[1:]  # nothing in the directory escapes the manifest
    # a directory with its own manifest inside the run (e.g. a validation stored with it) is verified too
    nested = out / "validation"
    nested.mkdir()
    (nested / "validation.json").write_text("{}")
    write_manifest(nested, {"kind": "validation"}, files=["validation.json"])
    res = verify_directory(out)
    assert [r.directory for r in res] == [out, nested] and all(r.ok for r in res)
    assert not any("not covered" in n for n in res[0].notes)
    (nested / "validation.json").write_text('{"passed": true}')
    assert _cli(monkeypatch, "verify", str(out)) == 1


def test_a_run_from_another_version_is_flagged_in_a_note(sim_run):
    out, _ = sim_run
    assert not any("written by stress-sim" in n for n in verify_directory(out)[0].notes)
    man = json.loads((out / MANIFEST_NAME).read_text())
    man["versions"]["stress-sim"] = "0.0.1"
    (out / MANIFEST_NAME).write_text(json.dumps(man))
    res = verify_directory(out)[0]
    assert res.ok  # same build: the values still reproduce; the note says why they might not
    assert any("written by stress-sim 0.0.1" in n and "differ in the last digits" in n for n in res.notes)


def test_tampered_file_fails_its_hash(sim_run, monkeypatch, capsys):
    out, _ = sim_run
    with open(out / "summary.parquet", "ab") as fh:
        fh.write(b"\0")
    assert _cli(monkeypatch, "verify", str(out), "--hashes-only") == 1
    assert "summary.parquet: sha256" in capsys.readouterr().out
    (out / "paths.parquet").unlink()
    assert _cli(monkeypatch, "verify", str(out)) == 1
    text = capsys.readouterr().out
    assert "paths.parquet: listed in manifest.json but missing" in text


def test_tampered_and_rehashed_output_fails_the_recomputation(sim_run, monkeypatch, capsys):
    out, _ = sim_run
    _nudge(out / "paths.parquet", "log_return_pct", 2 * 25 * 2 + 3)  # path 2, day 2, asset 1: one ulp
    _rehash(out)
    assert _cli(monkeypatch, "verify", str(out), "--hashes-only") == 0  # the hashes alone are fooled
    capsys.readouterr()
    assert _cli(monkeypatch, "verify", str(out)) == 1  # the first chunk (paths 0-63) is always recomputed
    text = capsys.readouterr().out
    assert "paths.parquet log_return_pct: 1 value(s) differ" in text and "first at path 2, day 2" in text
    # a summary value changed far from the first and last chunks is found with --all
    _nudge(out / "summary.parquet", "max_drawdown", 2 * 150)
    _rehash(out)
    res = verify_directory(out, all_paths=True)
    assert any("summary.parquet max_drawdown" in p and "path 150" in p for p in res[0].problems)
    # a dropped row is reported too
    t = pq.read_table(out / "summary.parquet")
    atomic_write_parquet(out / "summary.parquet", t.slice(0, t.num_rows - 1))
    _rehash(out)
    res = verify_directory(out, hashes_only=False)
    assert any("rows, expected 300 paths x 2 assets" in p for p in res[0].problems)


def test_model_resolution_and_unverifiable_input(sim_run, monkeypatch, capsys, tmp_path, example_dict):
    out, model_path = sim_run
    moved = tmp_path / "kept-model.json"
    model_path.rename(moved)
    assert _cli(monkeypatch, "verify", str(out)) == 2
    assert "--model" in capsys.readouterr().err
    assert _cli(monkeypatch, "verify", str(out), "--model", str(moved)) == 0
    other = dict(example_dict, copula={"type": "gaussian", "corr": [[1.0, 0.3], [0.3, 1.0]]})
    (tmp_path / "other.json").write_text(json.dumps(other))
    assert _cli(monkeypatch, "verify", str(out), "--model", str(tmp_path / "other.json")) == 2
    assert "sha256" in capsys.readouterr().err
    assert _cli(monkeypatch, "verify", str(tmp_path / "nope")) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _cli(monkeypatch, "verify", str(empty)) == 2
    (empty / MANIFEST_NAME).write_text("{not json")
    assert _cli(monkeypatch, "verify", str(empty)) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_chunk_choice():
    rng = np.random.default_rng(0)
    assert choose_chunks(1000, chunks=4, chunk_paths=64, all_paths=False, rng=rng)[0] == (0, 64)
    picks = choose_chunks(1000, chunks=4, chunk_paths=64, all_paths=False, rng=rng)
    assert len(picks) == 4 and picks[-1] == (960, 1000) and len(set(picks)) == 4
    every = choose_chunks(1000, chunks=4, chunk_paths=64, all_paths=True, rng=rng)
    assert every[0] == (0, 64) and every[-1] == (960, 1000)
    assert sum(b - a for a, b in every) == 1000 and all(every[i][1] == every[i + 1][0] for i in range(len(every) - 1))
    assert choose_chunks(10, chunks=4, chunk_paths=64, all_paths=False, rng=rng) == [(0, 10)]


@pytest.mark.skipif(importlib.util.find_spec("simulator.cli.run") is None, reason="stress-sim run not available")
def test_scenario_runs_with_shocks_verify_and_tampering_is_localised(tmp_path, monkeypatch, capsys):
    out = tmp_path / "runs"
    assert _cli(monkeypatch, "run", "svb-2023", "covid-2020", "--model", "builtin:us-markets", "--paths", "150",
                "--seed", "3", "--out", str(out)) == 0
    capsys.readouterr()
    assert _cli(monkeypatch, "verify", str(out), "--all") == 0
    text = capsys.readouterr().out
    assert text.count("[scenario-run]") == 2 and "2 run(s) intact and reproduced" in text
    _nudge(out / "covid-2020" / "summary.parquet", "cum_log_return_pct", 5)
    _rehash(out / "covid-2020")
    assert _cli(monkeypatch, "verify", str(out)) == 1
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("MISMATCH") and "covid-2020" in line for line in lines)
    assert any(line.startswith("OK") and "svb-2023" in line for line in lines)
    # a single scenario directory verifies on its own
    assert _cli(monkeypatch, "verify", str(out / "svb-2023")) == 0


def test_results_written_before_replay_scaling_keep_their_scenario_hash():
    # tests/data/run-0.2.0-volmageddon: scenario.json and manifest.json of `stress-sim run volmageddon-2018
    # --paths 100` written by stress-sim 0.2.0 before historical_replay had a `scaling` key
    from scenarios.loader import (
        record_sha256,
        scenario_from_dict,
        scenario_from_record,
        scenario_sha256,
        with_replay_scaling,
    )
    from simulator.builtin import load_builtin_model
    from simulator.jobs.verify import _schedule_for

    d = Path(__file__).parent / "data" / "run-0.2.0-volmageddon"
    stored = json.loads((d / "scenario.json").read_text())
    manifest = json.loads((d / "manifest.json").read_text())
    assert all("scaling" not in s for s in stored["shocks"])
    sc = scenario_from_record(stored)  # a record without the key meant filtered scaling, then the only one
    assert [s.scaling for s in sc.shocks] == ["filtered", "filtered"]
    assert record_sha256(stored) == manifest["scenario_sha256"]  # the hash names the stored record
    # read with today's default (historical) it would be another scenario, with another hash
    assert scenario_sha256(scenario_from_dict(stored)) != manifest["scenario_sha256"]
    sched, _ = _schedule_for(d, manifest, load_builtin_model("us-markets"), 22)  # the check verify runs
    assert not sched.rep_raw.any()
    # the scaling counts as soon as it is not the default
    assert scenario_sha256(with_replay_scaling(sc, "historical")) != manifest["scenario_sha256"]


FIXTURE_020 = Path(__file__).parent / "data" / "run-0.2.0-volmageddon"


def test_results_written_by_0_2_0_still_verify_and_read(monkeypatch, capsys):
    # the complete output of `stress-sim run volmageddon-2018 --model builtin:us-markets --paths 100` written by
    # stress-sim 0.2.0 (format stress-sim-results/1: summary.parquet's log-return column is cum_return_pct)
    from simulator.results import load_results

    manifest = json.loads((FIXTURE_020 / "manifest.json").read_text())
    assert manifest["format"] == "stress-sim-results/1"
    assert "cum_return_pct" in pq.read_schema(FIXTURE_020 / "summary.parquet").names
    assert _cli(monkeypatch, "verify", str(FIXTURE_020), "--all") == 0
    assert "1 run(s) intact and reproduced" in capsys.readouterr().out
    res = load_results(FIXTURE_020)
    assert res.format == "stress-sim-results/1" and res.reporting_horizon == 22
    summary = res.summary()
    assert list(summary.columns) == ["path", "asset", "cum_log_return_pct", "max_drawdown"]
    assert len(summary) == 300


def test_paths_columns_follow_the_format_and_tampering_is_caught(tmp_path, monkeypatch, capsys):
    # a format-2 run that keeps its paths: log_return_pct / sigma_pct are recomputed and compared bit for bit
    from simulator.results import load_results

    toml = (Path(__file__).resolve().parents[1] / "scenarios" / "library" / "svb-2023.toml").read_text()
    toml = toml.replace('name = "svb-2023"', 'name = "svb-paths"').replace("[outputs]", '[outputs]\nkeep = "paths"', 1)
    (tmp_path / "svb-paths.toml").write_text(toml)
    out = tmp_path / "runs"
    assert _cli(monkeypatch, "run", str(tmp_path / "svb-paths.toml"), "--model", "builtin:us-markets", "--paths",
                "100", "--out", str(out)) == 0
    d = out / "svb-paths"
    assert pq.read_schema(d / "paths.parquet").names == ["path", "day", "asset", "log_return_pct", "sigma_pct"]
    assert list(load_results(d).paths().columns) == ["path", "day", "asset", "log_return_pct", "sigma_pct"]
    capsys.readouterr()
    assert _cli(monkeypatch, "verify", str(d), "--all") == 0
    _nudge(d / "paths.parquet", "log_return_pct", 3 * 17 * 3 + 4)
    _rehash(d)
    assert _cli(monkeypatch, "verify", str(d), "--all") == 1
    assert "paths.parquet log_return_pct: 1 value(s) differ" in capsys.readouterr().out
    # a format-2 manifest whose files carry the format-1 names is a mismatch, named
    man = json.loads((d / MANIFEST_NAME).read_text())
    t = pq.read_table(d / "summary.parquet")
    atomic_write_parquet(d / "summary.parquet", t.rename_columns(["path", "asset", "cum_return_pct", "max_drawdown"]))
    _rehash(d)
    assert _cli(monkeypatch, "verify", str(d)) == 1
    assert "summary.parquet: no column 'cum_log_return_pct'" in capsys.readouterr().out
    # an unknown format cannot be verified (exit 2), naming the formats this version reads
    man = json.loads((d / MANIFEST_NAME).read_text())
    man["format"] = "stress-sim-results/99"
    (d / MANIFEST_NAME).write_text(json.dumps(man))
    assert _cli(monkeypatch, "verify", str(d)) == 2
    assert "stress-sim-results/99" in capsys.readouterr().err
