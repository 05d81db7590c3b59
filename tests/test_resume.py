"""Resumable runs: chunks committed atomically with their sha256; SIGKILL + --resume = uninterrupted run.

Facts checked: a run killed with SIGKILL mid-way and restarted with ``--resume`` writes byte-identical
outputs to an uninterrupted run and computes only the missing chunks; at the moment of the kill every
indexed chunk is complete and matches its recorded sha256; torn index lines, temporary files,
unindexed and corrupted chunk files are never taken as complete; a resumed run must have the same
settings; chunk files hold numeric arrays only (no pickle).
"""
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from simulator import MarketModel, simulate
from simulator.cli import main
from simulator.io import sha256_file
from simulator.runstore import INDEX_FILE, RunStore, decode_arrays, encode_arrays
from simulator.tail import simulate_tail
from tests.conftest import REPO, make_model

POS = "SPX=1e6,NDX=-2e5"


def _index_lines(run_dir: Path) -> list[dict]:
    try:
        data = (run_dir / INDEX_FILE).read_bytes()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in data.split(b"\n")[:-1]]


# ------------------------------------------------------------------------------------------------
# chunk files
# ------------------------------------------------------------------------------------------------
def test_chunk_encoding_is_deterministic_numeric_and_pickle_free():
    arrays = {"cum_return": np.arange(12.0).reshape(6, 2), "stressed_days": np.arange(6, dtype=np.int64),
              "top": np.array([3.5, -1.0])}
    data = encode_arrays(arrays)
    assert encode_arrays(arrays) == data  # fixed timestamps, sorted members: same bytes, same sha256
    back = decode_arrays(data)
    assert set(back) == set(arrays)
    for k in arrays:
        assert np.array_equal(back[k], arrays[k]) and back[k].dtype == arrays[k].dtype
    with pytest.raises(TypeError, match="only numeric arrays"):
        encode_arrays({"x": np.array([{"a": 1}], dtype=object)})
    # a file smuggling a pickled object array is refused on read
    buf = io.BytesIO()
    np.savez(buf, x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        decode_arrays(buf.getvalue())
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert sorted(zf.namelist()) == ["cum_return.npy", "stressed_days.npy", "top.npy"]


def _store_with_chunks(tmp_path, n=4, spec=None):
    store = RunStore(tmp_path / "run", spec or {"kind": "test", "n": n})
    for i in range(n):
        store.save(i, 10 * i, 10 * i + 10, {"x": np.full(10, float(i)), "i": np.array([i])})
    return store


def test_only_complete_hash_verified_chunks_are_listed(tmp_path):
    store = _store_with_chunks(tmp_path)
    store.close()
    run = tmp_path / "run"
    # chunk 1 corrupted in place (same size), chunk 3's file deleted, a torn index line, a
    # temporary file of an interrupted write and a renamed-but-unindexed chunk file
    p1 = run / "chunks" / "chunk-000001.npz"
    raw = bytearray(p1.read_bytes())
    raw[-40] ^= 0xFF
    p1.write_bytes(bytes(raw))
    (run / "chunks" / "chunk-000003.npz").unlink()
    with open(run / INDEX_FILE, "ab") as fh:
        fh.write(b'{"index": 4, "start": 40, "stop": 5')
    (run / "chunks" / ".chunk-000004.npz.abc123.tmp").write_bytes(b"partial")
    (run / "chunks" / "chunk-000005.npz").write_bytes(encode_arrays({"x": np.zeros(3)}))

    store = RunStore(run, {"kind": "test", "n": 4}, resume=True)
    assert sorted(store.completed) == [0, 2]
    assert store.n_resumed == 2 and store.n_discarded == 2
    # the index now lists exactly the verified chunks, and only their files remain
    assert [d["index"] for d in _index_lines(run)] == [0, 2]
    assert sorted(p.name for p in (run / "chunks").iterdir()) == ["chunk-000000.npz", "chunk-000002.npz"]
    for d in _index_lines(run):
        assert sha256_file(run / d["file"]) == d["sha256"]
    assert np.array_equal(store.load(2)["x"], np.full(10, 2.0))
    with pytest.raises(KeyError, match="chunk 1 is not complete"):
        store.load(1)
    store.close()


def test_resume_requires_the_same_settings_and_the_lock(tmp_path):
    store = _store_with_chunks(tmp_path, spec={"kind": "test", "n_paths": 40, "seed": {"entropy": "1"}})
    with pytest.raises(ValueError, match="in use by another running stress-sim process"):
        RunStore(tmp_path / "run", {"kind": "test"}, resume=True)
    store.close()
    with pytest.raises(ValueError, match=r"n_paths: run has 40, now 41"):
        RunStore(tmp_path / "run", {"kind": "test", "n_paths": 41, "seed": {"entropy": "1"}}, resume=True)
    with pytest.raises(ValueError, match=r"seed.entropy"):
        RunStore(tmp_path / "run", {"kind": "test", "n_paths": 40, "seed": {"entropy": "2"}}, resume=True)
    # without resume a new run discards the old chunks
    fresh = RunStore(tmp_path / "run", {"kind": "test", "n_paths": 41})
    assert fresh.completed == {} and _index_lines(tmp_path / "run") == []
    assert list((tmp_path / "run" / "chunks").iterdir()) == []
    fresh.destroy()
    assert not (tmp_path / "run").exists()


def test_api_resume_recomputes_only_missing_chunks(tmp_path):
    model = MarketModel.from_dict(make_model(3))
    ref = simulate(model, 3000, 15, 9, chunk_paths=400)
    run = tmp_path / "sim"
    simulate(model, 3000, 15, 9, chunk_paths=400, run_dir=run)
    lines = (run / INDEX_FILE).read_bytes().split(b"\n")
    (run / INDEX_FILE).write_bytes(b"\n".join(lines[:3]) + b"\n" + lines[3][:20])  # "killed" after 3 chunks
    res = simulate(model, 3000, 15, 9, chunk_paths=400, run_dir=run, resume=True)
    assert res.meta["chunks_resumed"] == 3 and res.meta["chunks_computed"] == 5
    for name in ("returns", "sigma", "cum_return", "max_drawdown", "stressed_days"):
        assert np.array_equal(getattr(res, name), getattr(ref, name))
    with pytest.raises(ValueError, match="horizon: run has 15, now 16"):
        simulate(model, 3000, 16, 9, chunk_paths=400, run_dir=run, resume=True)

    # the same for the tail reduction, with a corrupted chunk recomputed
    pos = {"A0": 1e6, "A2": -5e5}
    tref = simulate_tail(model, 3000, 15, 9, positions=pos, chunk_paths=400)
    trun = tmp_path / "tail"
    simulate_tail(model, 3000, 15, 9, positions=pos, chunk_paths=400, run_dir=trun)
    victim = trun / _index_lines(trun)[4]["file"]
    raw = bytearray(victim.read_bytes())
    raw[len(raw) // 2] ^= 0x01  # one flipped bit in the data
    victim.write_bytes(bytes(raw))
    tres = simulate_tail(model, 3000, 15, 9, positions=pos, chunk_paths=400, run_dir=trun, resume=True)
    assert tres.meta["chunks_resumed"] == 7 and tres.meta["chunks_computed"] == 1
    assert tres == tref and np.array_equal(tres.largest_losses, tref.largest_losses)
    with pytest.raises(ValueError, match="resume=True needs run_dir"):
        simulate(model, 100, 5, 1, resume=True)


# ------------------------------------------------------------------------------------------------
# SIGKILL and --resume through the command line
# ------------------------------------------------------------------------------------------------
def _cli_args(out: Path, keep: str) -> list[str]:
    return ["simulate", "builtin:example", "--paths", "40000", "--horizon", "20", "--seed", "17",
            "--out", str(out), "--keep", keep, "--positions", POS, "--chunk-paths", "1000", "--threads", "1"]


def _kill_mid_run(out: Path, keep: str, min_chunks: int = 3) -> int:
    """Start the CLI in a subprocess, SIGKILL it once ``min_chunks`` chunks are indexed."""
    code = "import sys; from simulator.cli import main; sys.exit(main(sys.argv[1:]))"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-c", code, *_cli_args(out, keep)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    run = out / "checkpoint"
    deadline = time.monotonic() + 120
    try:
        while len(_index_lines(run)) < min_chunks:
            if proc.poll() is not None:
                raise AssertionError(f"run ended before it could be killed: {proc.stderr.read().decode()}")
            if time.monotonic() > deadline:
                raise AssertionError("no chunk was committed within 120 s")
            time.sleep(0.002)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return len(_index_lines(run))


@pytest.mark.parametrize("keep", ["summary", "tail"])
def test_sigkill_then_resume_gives_the_uninterrupted_outputs(tmp_path, keep, capsys):
    ref_out, out = tmp_path / "ref", tmp_path / "killed"
    assert main(_cli_args(ref_out, keep)) == 0
    n_done = _kill_mid_run(out, keep)
    run = out / "checkpoint"
    lines = _index_lines(run)
    assert 3 <= n_done < 40, "the kill must land mid-run"
    # at the kill: no output yet, and every indexed chunk is whole and matches its sha256
    assert not (out / "tail.json").exists() and not (out / "summary.parquet").exists()
    for d in lines:
        assert sha256_file(run / d["file"]) == d["sha256"]
        assert (run / d["file"]).stat().st_size == d["n_bytes"]
    capsys.readouterr()
    assert main([*_cli_args(out, keep), "--resume"]) == 0
    err = capsys.readouterr().err
    n_resumed = int(err.split("resumed ")[1].split(" of ")[0])
    assert n_done <= n_resumed < 40  # a chunk written but not yet indexed at the kill is recomputed
    files = ["tail.json"] + (["summary.parquet"] if keep == "summary" else [])
    for name in files:
        assert (out / name).read_bytes() == (ref_out / name).read_bytes(), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["execution"]["chunks_resumed"] == n_resumed
    assert manifest["outputs"] == json.loads((ref_out / "manifest.json").read_text())["outputs"]
    assert not run.exists()  # the checkpoint goes once the outputs are written


def test_cli_rejects_bad_scale_out_arguments(tmp_path, capsys):
    base = ["simulate", "builtin:example", "--paths", "100", "--horizon", "5", "--seed", "1", "--out", str(tmp_path)]
    cases = [
        (["--keep", "tail"], "--keep tail needs --positions"),
        (["--positions", "SPX=1e6,DAX=3"], "'DAX'.*valid assets: SPX, NDX"),
        (["--positions", "SPX:1e6"], "not NAME=AMOUNT"),
        (["--positions", "{bad json"], "invalid JSON"),
        (["--positions", "SPX=1", "--var-levels", "0.99,1.2"], r"1.2 is not in \(0, 1\)"),
        (["--var-levels", "0.99"], "--var-levels needs --positions"),
        (["--backend", "local", "--workers", "2"], "need --backend dask"),
        (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "give only one"),
    ]
    for extra, pattern in cases:
        assert main(base + extra) == 2, extra
        assert re.search(pattern, capsys.readouterr().err), (extra, pattern)
    assert not any(tmp_path.iterdir())  # nothing written by a rejected run
