"""Resumable run directories: every completed chunk on disk, atomically, with its sha256.

Layout of a run directory::

    run.json              what the run computes (model and schedule hashes, seed keys, sizes,
                          chunking, reducer settings); a resumed run must match it exactly
    index.jsonl           one JSON line per completed chunk: index, path range, file, size, sha256
    chunks/chunk-000012.npz
                          the chunk's arrays (numeric ``.npy`` members, written and read with
                          ``allow_pickle=False``; deterministic bytes: stored, fixed timestamps)
    .lock                 ``flock``-ed while a process owns the run

Commit protocol for one chunk: the ``.npz`` bytes are hashed in memory, written to a temporary name
(``.chunk-000012.npz.*.tmp``), fsynced and renamed into place, the directory is fsynced, and only then
is the index line appended (and fsynced). A chunk counts as complete only when its index line is
whole and the file's size and sha256 match it, so a process killed at any instant (SIGKILL, power
loss) never leaves a partial chunk that is taken as complete. On resume the index is read, every
listed chunk is verified, the index is rewritten atomically with the verified entries only, and
stray temporary or unindexed files are removed; the run then computes only the missing chunks.

Integrity: every index line carries an HMAC-SHA256 (``mac``) of its fields under a key derived from the run's
identity (``run.json``), so an index line whose chunk was replaced together with a recomputed sha256 is not
taken (the chunk is recomputed) unless the forger also derives the key; and on resume the engine recomputes a
random sample of the resumed chunks from the run's inputs and refuses the checkpoint if one differs
(:func:`simulator.engine.execute_plan`). Run directories of the identity recipe before this one (0.3.0) carry
no ``mac``; their chunks are checked by the sample only.

Run identity
------------
What identifies a run: its canonical model, its scenario as compiled, its seed, the options that change its
numbers, and the identity's version; never the bytes of the kernel's inputs.

A run directory records :func:`run_identity` in ``run.json`` and a resumed run must present the same one.
The parts:

- ``model_sha256``: :meth:`simulator.model.MarketModel.sha256`, the canonical JSON of the model's parameters;
- ``schedule_sha256``: :func:`schedule_sha256`, the scenario as compiled against the model (its parameter
  sets, copula sets, regime chain and shock arrays), ``None`` for the plain model. It describes what the
  kernel is asked to simulate, not how the kernel's inputs are packed: quantile tables, type codes,
  parameter slots and input groups can change without changing any run's identity;
- ``seed`` and ``seed_keys``: the seed record and the two stream keys derived from it;
- ``n_paths``, ``horizon``, ``chunk_paths`` (chunk boundaries are where a run resumes), ``store_paths`` and
  the consumer's settings (``kind``, ``keep``, a reducer's parameters); not the backend, thread count or
  worker count, which never change the numbers;
- ``stress_sim_version``: results are reproducible bit for bit within one version;
- ``identity``: :data:`IDENTITY_VERSION`, the version of this recipe.

Run directories written before this recipe (stress-sim 0.3.0 and earlier, identified by a sha256 over the
kernel's input arrays, ``kernel_arrays_sha256``) resume where they did: :func:`resume_identity` accepts one
when everything else it records matches and the run simulates the plain model, whose kernel inputs are a
function of the model, the horizon and the version, all of which it records. A run of a custom schedule
started by such a version cannot be matched without its kernel bytes and is refused with the reason.
"""
from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import re
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from simulator.io import _json_default, atomic_write_bytes, atomic_write_json, sha256_bytes

FORMAT = "stress-sim-run/1"
RUN_FILE = "run.json"
INDEX_FILE = "index.jsonl"
CHUNK_DIR = "chunks"
LOCK_FILE = ".lock"
#: The name of a command's run directory inside its output folder (``OUT/checkpoint``, ``OUT/<scenario>/checkpoint``;
#: :mod:`simulator.outdir` counts a folder of this name holding a run as stress-sim's own)
CHECKPOINT_DIR = "checkpoint"
_CHUNK_RE = re.compile(r"^chunk-(\d{6,})\.npz$")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class ChunkRecord:
    """Index entry of one completed chunk."""

    index: int
    start: int
    stop: int
    file: str
    n_bytes: int
    sha256: str


def chunk_file_name(index: int) -> str:
    """File name (relative to the run directory) of chunk ``index``."""
    return f"{CHUNK_DIR}/chunk-{index:06d}.npz"


def encode_arrays(arrays: Mapping[str, np.ndarray]) -> bytes:
    """``.npz`` bytes of numeric arrays: stored (uncompressed) members with fixed timestamps, so the
    same arrays always give the same bytes and sha256. Object arrays are refused (no pickle)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name in sorted(arrays):
            if not re.fullmatch(r"[A-Za-z0-9_]+", name):
                raise ValueError(f"array name {name!r} must be letters, digits and underscores")
            arr = np.ascontiguousarray(arrays[name])
            if arr.dtype.hasobject:
                raise TypeError(f"array {name!r} has dtype {arr.dtype}; only numeric arrays can be stored")
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, arr, allow_pickle=False)
    return buf.getvalue()


def decode_arrays(data: bytes) -> dict[str, np.ndarray]:
    """Arrays from :func:`encode_arrays` bytes (``allow_pickle=False``)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return {name: z[name] for name in z.files}


def canonical_spec(spec: Mapping[str, Any]) -> dict:
    """``spec`` as plain JSON types (the form stored in ``run.json`` and compared on resume)."""
    return json.loads(json.dumps(dict(spec), sort_keys=True, default=_json_default))


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _spec_differences(old: Mapping, new: Mapping, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key, "<missing>"), new.get(key, "<missing>")
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += _spec_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            sa, sb = json.dumps(a)[:60], json.dumps(b)[:60]
            out.append(f"{prefix}{key}: run has {sa}, now {sb}")
    return out


class RunStore:
    """A resumable run directory (see the module docstring for the layout and the commit protocol).

    Parameters
    ----------
    directory : str or os.PathLike
        The run directory (created if needed).
    spec : mapping
        JSON-serialisable description of what the run computes. A resumed run must have the same
        spec, otherwise :class:`ValueError` says which fields differ.
    resume : bool, default False
        Keep the verified chunks of a previous run with the same spec. ``False`` discards any
        previous chunks in ``directory`` and starts afresh. Resuming a directory that holds no run
        simply starts one.

    Attributes
    ----------
    completed : dict of int to ChunkRecord
        The complete, hash-verified chunks.
    n_resumed : int
        Chunks found complete when the store was opened.
    n_discarded : int
        Index entries dropped on opening (file missing, wrong size or wrong sha256).
    """

    def __init__(self, directory: str | os.PathLike, spec: Mapping[str, Any], *, resume: bool = False) -> None:
        if not isinstance(directory, (str, os.PathLike)):
            raise TypeError(f"run directory must be a path, got {type(directory).__name__}")
        if not isinstance(resume, bool):
            raise TypeError(f"resume must be True or False, got {resume!r}")
        self.directory = Path(directory)
        if self.directory.exists() and not self.directory.is_dir():
            raise ValueError(f"run directory {str(self.directory)!r} exists and is not a directory")
        self.spec = {"format": FORMAT, **canonical_spec(spec)}
        # index lines are signed under a key derived from the run's identity (not for 0.3.0 directories)
        self._key = _mac_key(self.spec) if "identity" in self.spec else None
        self.completed: dict[int, ChunkRecord] = {}
        self.n_resumed = 0
        self.n_discarded = 0
        #: index lines whose signature was missing or wrong (their chunks are recomputed)
        self.n_unsigned = 0
        self._lock_fd: int | None = None
        (self.directory / CHUNK_DIR).mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            if resume and (self.directory / RUN_FILE).is_file():
                self._open_existing()
            else:
                self._start_fresh()
        except BaseException:
            self.close()
            raise

    # ---------------------------------------------------------------- opening
    def _lock(self) -> None:
        self._lock_fd = _acquire_lock(self.directory)

    def _start_fresh(self) -> None:
        # run.json goes first: without it nothing below can be resumed, whatever state a kill leaves
        for name in (RUN_FILE, INDEX_FILE):
            try:
                (self.directory / name).unlink()
            except FileNotFoundError:
                pass
        self._clean_chunk_dir(keep=set())
        atomic_write_bytes(self.directory / INDEX_FILE, b"")
        atomic_write_json(self.directory / RUN_FILE, self.spec)
        _fsync_dir(self.directory)

    def _open_existing(self) -> None:
        from simulator.safeio import read_json_file

        try:
            old = read_json_file(self.directory / RUN_FILE, "checkpoint record")
        except (OSError, ValueError) as exc:
            raise ValueError(f"{self.directory / RUN_FILE} is unreadable ({exc}); start the run without resume "
                             "to discard it") from None
        if not isinstance(old, dict):
            raise ValueError(f"{self.directory / RUN_FILE} holds a JSON {type(old).__name__}, not a checkpoint record; "
                             "start the run without resume to discard it")
        if old != self.spec:
            diffs = _spec_differences(old, self.spec)
            raise ValueError(
                f"cannot resume the run in {str(self.directory)!r}: it was started with different settings "
                f"({'; '.join(diffs[:4])}{'; ...' if len(diffs) > 4 else ''}); rerun with the original settings, "
                "or without resume to start afresh"
            )
        entries: dict[int, ChunkRecord] = {}
        for rec in self._read_index():
            entries[rec.index] = rec  # a later line for the same chunk supersedes an earlier one
        good: dict[int, ChunkRecord] = {}
        for idx, rec in sorted(entries.items()):
            if self._verify(rec):
                good[idx] = rec
            else:
                self.n_discarded += 1
        self.completed = good
        self.n_resumed = len(good)
        self._rewrite_index()
        self._clean_chunk_dir(keep={Path(r.file).name for r in good.values()})

    def _read_index(self) -> Iterable[ChunkRecord]:
        from simulator.exceptions import UserInputError
        from simulator.safeio import read_input_bytes

        path = self.directory / INDEX_FILE
        if not (path.exists() or path.is_symlink()):
            return []
        try:  # a regular file of at most the input size limit (a link to /dev/zero would be read forever)
            data = read_input_bytes(path, "checkpoint index")
        except UserInputError as exc:
            raise UserInputError(f"{exc}; delete the checkpoint or run again without resume") from None
        out = []
        for line in data.split(b"\n")[:-1]:  # a last line without its newline was torn by a kill
            try:
                d = json.loads(line)
                rec = ChunkRecord(int(d["index"]), int(d["start"]), int(d["stop"]), str(d["file"]),
                                  int(d["n_bytes"]), str(d["sha256"]))
                mac = d.get("mac")
            except (ValueError, KeyError, TypeError, AttributeError, RecursionError):  # a torn or forged line
                self.n_discarded += 1
                continue
            if rec.file != chunk_file_name(rec.index):
                self.n_discarded += 1
                continue
            if self._key is not None and not (isinstance(mac, str) and hmac.compare_digest(mac, self._mac(rec))):
                self.n_discarded += 1
                self.n_unsigned += 1
                continue
            out.append(rec)
        return out

    def _mac(self, rec: ChunkRecord) -> str:
        assert self._key is not None
        return hmac.new(self._key, json.dumps(asdict(rec), sort_keys=True).encode("utf-8"), hashlib.sha256).hexdigest()

    def _line(self, rec: ChunkRecord) -> str:
        d: dict[str, Any] = asdict(rec)
        if self._key is not None:
            d["mac"] = self._mac(rec)
        return json.dumps(d, sort_keys=True) + "\n"

    def _verify(self, rec: ChunkRecord) -> bool:
        path = self.directory / rec.file
        try:
            if path.stat().st_size != rec.n_bytes:
                return False
            return sha256_bytes(path.read_bytes()) == rec.sha256
        except OSError:
            return False

    def _rewrite_index(self) -> None:
        lines = "".join(self._line(r) for _, r in sorted(self.completed.items()))
        atomic_write_bytes(self.directory / INDEX_FILE, lines.encode("utf-8"))

    def _clean_chunk_dir(self, keep: set[str]) -> None:
        """Remove temporary files and chunk files that are not complete, indexed chunks. A chunk name that is not
        a regular file (a folder, a link) was not written by stress-sim: refused, never followed or removed."""
        from simulator.exceptions import UserInputError

        for p in (self.directory / CHUNK_DIR).iterdir():
            if _CHUNK_RE.match(p.name) and (p.is_symlink() or not p.is_file()):
                raise UserInputError(f"{str(p)!r} in the checkpoint is not a regular file (stress-sim writes none "
                                     "there); delete the checkpoint or choose another --out")
            if p.name in keep or not p.is_file():
                continue
            if _CHUNK_RE.match(p.name) or (p.name.startswith(".chunk-") and p.name.endswith(".tmp")):
                p.unlink()
        for p in self.directory.iterdir():  # torn atomic writes of run.json / index.jsonl
            if p.is_file() and p.name.startswith((f".{RUN_FILE}.", f".{INDEX_FILE}.")) and p.name.endswith(".tmp"):
                p.unlink()

    # ---------------------------------------------------------------- chunks
    def load(self, index: int) -> dict[str, np.ndarray]:
        """The arrays of completed chunk ``index`` (sha256 checked again on read)."""
        rec = self.completed.get(index)
        if rec is None:
            raise KeyError(f"chunk {index} is not complete in {str(self.directory)!r}")
        data = (self.directory / rec.file).read_bytes()
        if len(data) != rec.n_bytes or sha256_bytes(data) != rec.sha256:
            raise ValueError(f"chunk file {str(self.directory / rec.file)!r} changed after it was verified "
                             "(sha256 mismatch); rerun with resume to recompute it")
        try:
            return decode_arrays(data)
        except Exception:  # noqa: BLE001 - zipfile and numpy raise several types for a file that is not a chunk
            raise ValueError(f"chunk file {str(self.directory / rec.file)!r} is not a stress-sim chunk (a forged or "
                             "damaged checkpoint); delete the checkpoint or run again without resume") from None

    def save(self, index: int, start: int, stop: int, arrays: Mapping[str, np.ndarray]) -> ChunkRecord:
        """Commit chunk ``index`` (paths ``start..stop-1``): file written atomically, then indexed."""
        if self._lock_fd is None:
            raise ValueError("the run store is closed")
        data = encode_arrays(arrays)
        rec = ChunkRecord(int(index), int(start), int(stop), chunk_file_name(int(index)), len(data), sha256_bytes(data))
        atomic_write_bytes(self.directory / rec.file, data)
        _fsync_dir(self.directory / CHUNK_DIR)
        line = self._line(rec).encode("utf-8")
        fd = os.open(self.directory / INDEX_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        self.completed[rec.index] = rec
        from simulator._faults import fault_point

        fault_point("chunk", self.directory / rec.file)
        return rec

    # ---------------------------------------------------------------- lifetime
    def close(self) -> None:
        """Release the directory lock (the chunks stay for a later resume)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def destroy(self) -> None:
        """Delete the run's files (once its results were written elsewhere) and release the lock."""
        _remove_run_files(self.directory)
        self.completed = {}
        self.close()
        try:
            self.directory.rmdir()
        except OSError:  # not empty: the user keeps other files there
            pass

    @staticmethod
    def remove(directory: str | os.PathLike) -> None:
        """Delete the run directory ``directory`` (if it holds a run) once no other process uses it."""
        d = Path(directory)
        if not (d / RUN_FILE).exists() and not (d / CHUNK_DIR).is_dir():
            return
        fd = _acquire_lock(d)
        try:
            _remove_run_files(d)
        finally:
            os.close(fd)
        try:
            d.rmdir()
        except OSError:
            pass

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RunStore({str(self.directory)!r}, completed={len(self.completed)})"


def _mac_key(spec: Mapping[str, Any]) -> bytes:
    """The key that signs a run directory's index lines: derived from the run's canonical identity."""
    return hashlib.sha256(b"stress-sim-checkpoint-key/1\0" + json.dumps(dict(spec), sort_keys=True).encode()).digest()


def _acquire_lock(directory: Path) -> int:
    """``flock`` the run directory's lock file (non-blocking); the kernel releases it if we die."""
    import fcntl

    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise ValueError(f"run directory {str(directory)!r} is in use by another running stress-sim process; "
                         "wait for it to finish or use another directory") from None
    return fd


def _remove_run_files(directory: Path) -> None:
    """Remove what a run directory holds (run.json first, so a kill midway leaves nothing resumable)."""
    for name in (RUN_FILE, INDEX_FILE):
        try:
            (directory / name).unlink()
        except FileNotFoundError:
            pass
    chunk_dir = directory / CHUNK_DIR
    if chunk_dir.is_dir():
        for p in chunk_dir.iterdir():
            if p.is_file() and (_CHUNK_RE.match(p.name) or (p.name.startswith(".chunk-") and p.name.endswith(".tmp"))):
                p.unlink()
        try:
            chunk_dir.rmdir()
        except OSError:
            pass
    try:
        (directory / LOCK_FILE).unlink()
    except FileNotFoundError:
        pass


# ---------------------------------------------------------------- run identity
#: the recipe of :func:`run_identity` (recorded as ``run.json``'s ``identity``)
IDENTITY_VERSION = "stress-sim-run-identity/2"
#: the key that marks a run directory identified by the recipe before this one
LEGACY_KEY = "kernel_arrays_sha256"

def _array(a: Any) -> dict:
    a = np.asarray(a)
    return {"dtype": a.dtype.str, "shape": list(a.shape), "values": a.reshape(-1).tolist()}


def schedule_description(schedule, model) -> dict | None:
    """The canonical description of what ``schedule`` asks beyond the plain ``model`` (``None``: nothing).

    Parameter sets and copula sets in their model-file form, then every other field of the
    :class:`~simulator.schedule.Schedule` (regime chain, start state, shock arrays) that differs from the plain
    model's schedule of the same horizon: fields at their plain values are left out, so a run that does not use
    a shock type is not described by it, and a new shock type's fields need no change here."""
    import dataclasses

    from simulator.schedule import Schedule

    plain = Schedule.from_model(model, schedule.horizon)
    out: dict[str, Any] = {}
    regimes = [[m.to_dict() for m in margs] for margs in schedule.regimes]
    if regimes != [[m.to_dict() for m in margs] for margs in plain.regimes]:
        out["regimes"] = regimes
    copulas = [c.to_dict() for c in schedule.copulas]
    if copulas != [c.to_dict() for c in plain.copulas]:
        out["copulas"] = copulas
    for f in dataclasses.fields(Schedule):
        if f.name in ("assets", "horizon", "regimes", "copulas"):  # the model's, the run's, and above
            continue
        name = f.name
        mine, base = np.asarray(getattr(schedule, name)), np.asarray(getattr(plain, name))
        if mine.shape != base.shape or mine.dtype != base.dtype or not np.array_equal(mine, base):
            out[name] = _array(mine)
    return out or None


def canonical_sha256(obj: Any) -> str:
    """sha256 of ``obj``'s canonical JSON (sorted keys; floats as Python writes them, exactly)."""
    return sha256_bytes(json.dumps(obj, sort_keys=True).encode())


def schedule_sha256(schedule, model) -> str | None:
    """sha256 of :func:`schedule_description` (``None`` for the plain model's schedule)."""
    desc = None if schedule is None else schedule_description(schedule, model)
    return None if desc is None else canonical_sha256(desc)


def run_identity(plan, *, store_paths: bool, spec: Mapping[str, Any] | None = None) -> dict:
    """The identity of the run ``plan`` (a :class:`simulator.engine.RunPlan`) as ``run.json`` records it."""
    from simulator import __version__

    return {
        "identity": IDENTITY_VERSION,
        "stress_sim_version": __version__,
        "model_sha256": plan.model_sha256,
        "schedule_sha256": plan.schedule_sha256,
        "seed_keys": [str(int(plan.keys.key0)), str(int(plan.keys.key1))],
        "seed": plan.keys.to_dict(),
        "n_paths": plan.n_paths,
        "horizon": plan.horizon,
        "chunk_paths": plan.chunk_paths,
        "store_paths": bool(store_paths),
        **dict(spec or {}),
    }


def resume_identity(run_dir: str | os.PathLike, identity: Mapping[str, Any]) -> dict:
    """The identity to resume ``run_dir`` with: ``identity``, or the directory's own record when it was written
    by the recipe before this one and matches this run (see the module docstring); a ``ValueError`` when it
    was written by that recipe for a custom schedule."""
    from simulator.safeio import read_json_file

    try:  # size, file type and nesting checked first: a run.json linked to /dev/zero is not read
        old = read_json_file(Path(run_dir) / RUN_FILE, "checkpoint record")
    except (OSError, ValueError):
        return dict(identity)  # no record (or an unreadable one, which RunStore reports)
    if not isinstance(old, dict) or LEGACY_KEY not in old or "identity" in old:
        return dict(identity)
    if identity.get("schedule_sha256") is not None:
        raise ValueError(f"cannot resume the run in {str(run_dir)!r}: it was started by a stress-sim that identified "
                         f"runs by the bytes of the kernel's inputs, which cannot be matched for a run with shocks; "
                         f"rerun without resume to start afresh")
    ours = canonical_spec({k: v for k, v in identity.items() if k not in ("identity", "schedule_sha256")})
    theirs = {k: v for k, v in old.items() if k not in (LEGACY_KEY, "format")}
    if theirs != ours:
        return dict(identity)  # another run: RunStore lists the differences
    return {k: v for k, v in old.items() if k != "format"}  # the directory's own record, so RunStore matches it
