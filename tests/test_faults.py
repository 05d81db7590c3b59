"""Fault tests (issue 15): a command killed (SIGKILL), interrupted (SIGINT), out of disk space or hit by a write error
at several points never damages the earlier result in its ``--out``, and a re-run (``--resume`` where the command
has it) gives the output of an uninterrupted run.

Each command first writes an earlier result (seed A) into ``--out``; the same command with seed B is then stopped
at a fault point of :mod:`simulator._faults` (``STRESS_SIM_FAULT``: the N-th atomic write, checkpoint chunk, the
swap of an output transaction or between two of its members); kills and interrupts run in a subprocess (the
signal is real), disk errors in this process. Afterwards the earlier result is byte for byte what it was, nothing
new looks complete, and the re-run equals a reference run of seed B written elsewhere. Sizes are tiny, so a
subprocess costs its imports only.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_hostile import run_cli

REPO = Path(__file__).resolve().parents[1]
PRICES = REPO / "tests" / "hostile" / "prices" / "prices_same_offset_accepted.csv"
CODE = "import sys; from simulator.cli import main; sys.exit(main(sys.argv[1:]))"


def _simulate(out: Path, seed: int) -> list[str]:
    return ["simulate", "builtin:example", "--paths", "400", "--horizon", "10", "--seed", str(seed), "--chunk-paths",
            "100", "--threads", "1", "--out", str(out)]


def _run(out: Path, seed: int) -> list[str]:
    return ["run", "baseline", "gfc-2008", "--model", "builtin:us-markets", "--paths", "200", "--seed", str(seed),
            "--chunk-paths", "100", "--threads", "1", "--out", str(out)]


def _calibrate(out: Path, seed: int) -> list[str]:  # the seed picks the window (a different model from the same data)
    return ["calibrate", str(PRICES), "--out", str(out / "model.json"), "--vol", "garch", "--dist", "normal",
            "--copula", "gaussian", "--quiet", "--start", f"2017-01-{2 + seed:02d}"]


def _transactions(out: Path, seed: int) -> list[str]:
    return ["transactions", "--customers", "40", "--days", "3", "--seed", str(seed), "--no-progress", "--out",
            str(out)]


COMMANDS = {"simulate": (_simulate, True), "run": (_run, True), "calibrate": (_calibrate, False),
            "transactions": (_transactions, False)}


# ---------------------------------------------------------------------------------------------- helpers
def _ok(argv: list[str], env: dict[str, str] | None = None) -> str:
    code, _, err = run_cli(argv, env)
    assert code == 0, err
    return err


def _files(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` except checkpoints (kept for --resume) and hidden staging folders
    (what a killed transaction leaves; the next one removes it)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if "checkpoint" in rel.parts or any(part.startswith(".stress-sim-") for part in rel.parts):
            continue
        out[str(rel)] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
    return out


def _strip(obj):
    """A JSON document without what differs between two runs of the same result: the time and durations, the
    command line, the checkpoint's path and how many chunks a resumed run loaded instead of computing."""
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items()
                if k not in ("created_utc", "command", "platform", "chunks_resumed", "chunks_computed", "run_dir")
                and not (k.endswith("_s") and isinstance(v, (int, float)))}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def _result(folder: Path) -> dict[str, object]:
    """What must equal between a re-run and the uninterrupted reference: every output file's bytes, and the
    manifests and model files as documents without their times and command lines."""
    out: dict[str, object] = {}
    for rel, digest in _files(folder).items():
        p = folder / rel
        if p.name in ("manifest.json", "_manifest.json", "model.json"):
            out[rel] = _strip(json.loads(p.read_text()))
        elif digest != "dir":
            out[rel] = digest
    return out


def _in_subprocess(argv: list[str], fault: str) -> tuple[int, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), STRESS_SIM_FAULT=fault)
    env.pop("STRESS_SIM_TRACEBACK", None)
    proc = subprocess.run([sys.executable, "-c", CODE, *argv], cwd=REPO, env=env, capture_output=True, timeout=300)
    return proc.returncode, proc.stderr.decode(errors="replace")


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    """Uninterrupted runs of seed B (2) of every command, each in its own folder."""
    root = tmp_path_factory.mktemp("fault-references")
    built: dict[str, dict] = {}

    def get(command: str) -> dict:
        if command not in built:
            make, _ = COMMANDS[command]
            out = root / command
            _ok(make(out, 2))
            built[command] = _result(out)
        return built[command]

    return get


def _earlier(command: str, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    make, _ = COMMANDS[command]
    out = tmp_path / "out"
    _ok(make(out, 1))
    return out, _files(out)


def _check_rerun(command: str, out: Path, references, *, resume: bool) -> None:
    make, can_resume = COMMANDS[command]
    argv = make(out, 2) + (["--resume"] if resume and can_resume else [])
    _ok(argv)
    assert _result(out) == references(command)
    assert not list(out.parent.rglob(".stress-sim-*.stage")), "a staging folder outlived the re-run"
    assert not (out / "checkpoint").exists()


# ---------------------------------------------------------------------------------------------- kills and interrupts
KILLS = [
    ("simulate", "chunk@2=kill"),   # half the chunks committed
    ("simulate", "commit=kill"),    # outputs complete, not yet swapped in
    ("run", "chunk@3=kill"),
    ("run", "commit-member=kill"),  # between the renames of two scenario folders: the journal finishes the swap
    ("calibrate", "write@1=kill"),
    ("calibrate", "commit=kill"),
    ("transactions", "write@1=kill"),
    ("transactions", "commit=kill"),
]
INTERRUPTS = [
    ("simulate", "chunk@3=int"),
    ("run", "write@5=int"),
    ("calibrate", "write@1=int"),   # the staged model, before the swap
    ("transactions", "commit=int"),
]
#: signals that arrive during the final renames: deferred until the swap is done
IN_SWAP = [
    ("calibrate", "write@2=int", 130),        # the swap's journal
    ("run", "commit-member=int", 130),        # between the renames of two scenario folders
    ("run", "commit-member=term", 143),
]


@pytest.mark.parametrize("command,fault", KILLS, ids=[f"{c}-{f}" for c, f in KILLS])
def test_sigkill_keeps_the_earlier_result_and_a_rerun_completes(command, fault, tmp_path, references):
    out, before = _earlier(command, tmp_path)
    make, can_resume = COMMANDS[command]
    rc, err = _in_subprocess(make(out, 2), fault)
    assert rc == -signal.SIGKILL, err
    if fault == "commit-member=kill":
        # killed between two renames: the journal (COMMIT) of the stage says which members are swapped; the next
        # transaction on the folder finishes the swap, so the new result set is whole (never a mix)
        stages = list(out.glob(".stress-sim-*.stage"))
        assert len(stages) == 1 and (stages[0] / "COMMIT").is_file()
    else:
        assert _files(out) == before, "the earlier result changed"
    _check_rerun(command, out, references, resume=True)


@pytest.mark.parametrize("command,fault", INTERRUPTS, ids=[f"{c}-{f}" for c, f in INTERRUPTS])
def test_sigint_exits_130_keeps_the_earlier_result_and_a_rerun_completes(command, fault, tmp_path, references):
    out, before = _earlier(command, tmp_path)
    make, _ = COMMANDS[command]
    rc, err = _in_subprocess(make(out, 2), fault)
    assert rc == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("stress-sim: interrupted"), err
    assert _files(out) == before, "the earlier result changed"
    assert not list(out.parent.rglob(".stress-sim-*.stage")), "an interrupted run left its staging folder"
    _check_rerun(command, out, references, resume=True)


@pytest.mark.parametrize("command,fault,status", IN_SWAP, ids=[f"{c}-{f}" for c, f, _ in IN_SWAP])
def test_a_signal_during_the_swap_waits_for_it_and_says_the_new_result_is_complete(command, fault, status, tmp_path,
                                                                                    references):
    """Ctrl-C or SIGTERM between the renames that swap a result in: the swap finishes first (never a mix of old
    and new files), the command stops with the signal's status and says the new results are complete, and they are
    the same as an uninterrupted run's."""
    out, before = _earlier(command, tmp_path)
    make, _ = COMMANDS[command]
    rc, err = _in_subprocess(make(out, 2), fault)
    assert rc == status, err
    assert "Traceback" not in err and "the new results are complete" in err.strip().splitlines()[-1], err
    assert _files(out) != before
    assert _result(out) == references(command)
    assert not list(out.parent.rglob(".stress-sim-*.stage")), "a staging folder outlived the swap"


def test_sigint_before_any_result_leaves_nothing_that_looks_complete(tmp_path):
    out = tmp_path / "new"
    rc, err = _in_subprocess(_simulate(out, 2), "chunk@2=int")
    assert rc == 130, err
    assert not (out / "manifest.json").exists() and not list(out.glob("*.parquet"))
    # (run: the corpus case cli-interrupt-run-in-chunk)


# ---------------------------------------------------------------------------------------------- disk errors
DISK = [
    ("simulate", "write@9=eio"),      # midway through the outputs
    ("simulate", "commit=enospc"),
    ("run", "write@7=enospc"),
    ("run", "commit-member=eio"),     # the first scenario already swapped in: it is swapped back
    ("calibrate", "commit=efbig"),
    ("transactions", "write@1=eio"),
]


@pytest.mark.parametrize("command,fault", DISK, ids=[f"{c}-{f}" for c, f in DISK])
def test_disk_errors_exit_1_keep_the_earlier_result_and_a_rerun_completes(command, fault, tmp_path, references):
    out, before = _earlier(command, tmp_path)
    make, _ = COMMANDS[command]
    code, _, err = run_cli(make(out, 2), {"STRESS_SIM_FAULT": fault})
    assert code == 1, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("stress-sim: error: ") and str(tmp_path)[:40] in last, last  # names the path (long ones cut)
    assert _files(out) == before, "the earlier result changed"
    assert not list(out.parent.rglob(".stress-sim-*.stage")), "a failed run left its staging folder"
    _check_rerun(command, out, references, resume=True)


@contextlib.contextmanager
def _small_tmpfs(path: Path, size: str):
    path.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True,
                       capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        pytest.skip("a small file system cannot be mounted here (not root); the injected ENOSPC tests stand in")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


def test_a_really_full_disk(tmp_path):
    """A tmpfs of 512 KiB: a small simulation fits, a larger one into the same --out does not. The earlier result
    stays byte for byte, the staging folder is gone (its space freed) and the error names the path."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a small tmpfs; the injected ENOSPC tests stand in")
    with _small_tmpfs(tmp_path / "disk", "512k") as disk:
        out = disk / "sim"
        small = ["simulate", "builtin:example", "--paths", "20", "--horizon", "5", "--seed", "1", "--out", str(out)]
        _ok(small)
        before = _files(out)
        big = ["simulate", "builtin:example", "--paths", "4000", "--horizon", "60", "--seed", "2", "--chunk-paths",
               "4000", "--out", str(out)]
        code, _, err = run_cli(big)
        assert code == 1, err
        last = err.strip().splitlines()[-1]
        assert "No space left on device" in last and str(disk) in last, last
        assert _files(out) == before
        assert not list(disk.glob(".stress-sim-*.stage"))
        # a user who frees the space (here: a smaller run) writes again
        code, _, err = run_cli(["simulate", "builtin:example", "--paths", "30", "--horizon", "5", "--seed", "2",
                                "--out", str(out)])
        assert code == 0, err
