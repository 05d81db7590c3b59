"""One output transaction for every command that writes: stage beside, check ownership, swap in at the end.

Rules (the README's "Output folders"):

1. **A command never deletes what it did not write.** Before any work, every destination it would replace
   is checked: a folder must be absent, empty, or a stress-sim result of the kind the command writes whose
   every file is listed in its manifest (``manifest.json``, or ``_manifest.json`` for a transaction feed;
   sub-folders with their own manifest, a resumable ``checkpoint/`` and stress-sim's own temporary files
   count as its own); a file must be absent or a file of the kind the command writes. Anything else is
   refused (exit status 2) and left alone.
2. **The previous result stays intact and consistent until the new one is complete.** Everything is
   written into a fresh hidden staging folder ``ROOT/.stress-sim-<token>.stage/`` beside the destination
   (same file system); the new result replaces the old one only once complete, by renames (an atomic
   exchange, ``renameat2(RENAME_EXCHANGE)``, where the system has it), with SIGINT and SIGTERM held back
   meanwhile. A run that fails (bad input, a full disk, a write error), is interrupted or is killed leaves
   the old result byte for byte as it was, and no file of an earlier run can end up beside a new manifest:
   a new result is always a fresh folder.
3. **Leftovers are ours to clean.** A staging folder left by a killed run holds nothing a user wrote; the next
   transaction on the same folder removes it (or, when the kill hit the renames themselves, which its journal
   ``COMMIT`` records, finishes them).

:class:`OutputTransaction` implements this for a set of *members* (names) of one root folder:
:func:`directory_transaction` (a whole ``--out DIR``), :func:`members_transaction` (``run``'s
``OUT/<scenario>/`` folders) and :func:`file_transaction` (``calibrate --out model.json``, ``report --out``).
"""
from __future__ import annotations

import ctypes
import errno
import json
import os
import secrets
import shutil
import signal
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from simulator.exceptions import UserInputError

__all__ = ["OutputTransaction", "OutputLocationError", "DirRule", "FileRule", "directory_transaction", "members_transaction",
           "file_transaction", "foreign_entries", "MANIFEST_NAMES", "STAGE_SUFFIX"]

#: Names of the manifest that makes a folder a stress-sim result.
MANIFEST_NAMES = ("manifest.json", "_manifest.json")
STAGE_PREFIX = ".stress-sim-"
STAGE_SUFFIX = ".stage"
_COMMIT = "COMMIT"
_LOCK = ".lock"
_OLD = ".old"
#: Walk at most this many entries when checking who owns a folder.
_MAX_SCAN = 200_000
_RENAME_EXCHANGE = 2


class OutputLocationError(OSError):
    """The destination folder cannot be created or written (exit status 1: the environment, not the input).

    A subclass, so that ``ENOENT`` under ``/proc`` is not taken for a missing input file."""


# ---------------------------------------------------------------------------------------------
# ownership
# ---------------------------------------------------------------------------------------------
def _our_temp(name: str) -> bool:
    """Temporary names of stress-sim's atomic writes (``.NAME.<random>.tmp``, ``.chunk-*.tmp``)."""
    return name.startswith(".") and name.endswith(".tmp")


def _read_manifest(d: Path) -> tuple[str | None, dict | None]:
    for name in MANIFEST_NAMES:
        p = d / name
        if p.is_file() and not p.is_symlink():
            try:
                if p.stat().st_size > 64 << 20:
                    return name, None
                data = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return name, None
            return name, data if isinstance(data, dict) else None
    return None, None


def _is_checkpoint(d: Path) -> bool:
    return (d / "run.json").is_file() or (d / "chunks").is_dir() or (d / "index.jsonl").is_file()


def _result_manifest(d: Path) -> tuple[str | None, dict | None]:
    """``(name, data)`` of the folder's manifest when it is a stress-sim result (a manifest with a ``kind``)."""
    name, data = _read_manifest(d)
    if name is not None and data is not None and isinstance(data.get("kind"), str):
        return name, data
    return None, None


def _empty_dir(d: Path) -> bool:
    try:
        return not any(os.scandir(d))
    except OSError:
        return False


def foreign_entries(path: Path, kinds: Iterable[str] | None = None, *, limit: int = 3,
                    extra_ok: Callable[[str], bool] | None = None) -> list[str]:
    """Entries under the folder ``path`` that the command may not delete (relative names; at most ``limit``).

    Empty when ``path`` is absent or empty, or is a stress-sim result whose manifest's ``kind`` is one of
    ``kinds`` (any kind when None) and lists every file. Inside a result, sub-folders with their own manifest
    are checked the same way (any kind); a folder that is not a result may hold results of ``kinds`` only. A
    ``checkpoint/`` run folder, empty folders and the temporary files of atomic writes count as ours;
    ``extra_ok(rel)`` accepts more relative paths (e.g. the tables ``report`` writes)."""
    path = Path(path)
    if not (path.exists() or path.is_symlink()):
        return []
    if path.is_symlink() or not path.is_dir():
        return [path.name]
    wanted = None if kinds is None else set(kinds)
    found: list[str] = []
    budget = [_MAX_SCAN]

    def entries(d: Path, rel: str) -> list[os.DirEntry]:
        try:
            return sorted(os.scandir(d), key=lambda e: e.name)
        except OSError as exc:
            found.append(f"{rel or '.'} ({exc.strerror})")
            return []

    def spend() -> bool:
        budget[0] -= 1
        if budget[0] < 0:
            found.append("... (too many files to check)")
            return False
        return len(found) < limit

    def result(d: Path, prefix: str, kinds_here: set[str] | None) -> None:
        mname, mdata = _result_manifest(d)
        assert mname is not None and mdata is not None
        if kinds_here is not None and mdata["kind"] not in kinds_here:
            found.append(f"{prefix}{mname} (a {mdata['kind']!r} result, not {' or '.join(map(repr, sorted(kinds_here)))})")
            return
        outs = mdata.get("outputs")
        listed(d, prefix, "", set(outs) if isinstance(outs, dict) else set(), mname)

    def listed(d: Path, prefix: str, sub: str, outputs: set[str], mname: str) -> None:
        for e in entries(d, prefix + sub):
            if not spend():
                return
            rel = sub + e.name
            if e.is_symlink():
                found.append(prefix + rel)
            elif e.is_dir():
                p = Path(e.path)
                if _result_manifest(p)[0] is not None:
                    result(p, prefix + rel + "/", None)
                elif (e.name == "checkpoint" and sub == "" and _is_checkpoint(p)) or _empty_dir(p):
                    continue
                else:
                    listed(p, prefix, rel + "/", outputs, mname)
            elif (sub == "" and e.name == mname) or rel in outputs or _our_temp(e.name):
                continue
            elif extra_ok is None or not extra_ok(prefix + rel):
                found.append(prefix + rel)

    def plain(d: Path, prefix: str) -> None:
        for e in entries(d, prefix):
            if not spend():
                return
            rel = prefix + e.name
            if e.is_symlink():
                found.append(rel)
            elif e.is_dir():
                p = Path(e.path)
                if _result_manifest(p)[0] is not None:
                    result(p, rel + "/", wanted)
                elif (e.name == "checkpoint" and prefix == "" and _is_checkpoint(p)) or _empty_dir(p):
                    continue
                else:
                    plain(p, rel + "/")
            elif _our_temp(e.name):
                continue
            elif extra_ok is None or not extra_ok(rel):
                found.append(rel)

    if _result_manifest(path)[0] is not None:
        result(path, "", wanted)
    else:
        mname, _ = _read_manifest(path)
        if mname is not None:
            found.append(f"{mname} (not a readable stress-sim manifest)")
        else:
            plain(path, "")
    return found[:limit]


@dataclass(frozen=True)
class DirRule:
    """What may be replaced at a folder destination: nothing, or a result of one of ``kinds``."""

    kinds: tuple[str, ...] | None
    what: str = "--out"
    extra_ok: Callable[[str], bool] | None = None

    def problem(self, path: Path) -> str | None:
        if path.is_symlink():
            return f"{self.what} {str(path)!r} is a symbolic link; give a real folder"
        if path.exists() and not path.is_dir():
            return f"{self.what} {str(path)!r} exists and is not a directory"
        foreign = foreign_entries(path, self.kinds, extra_ok=self.extra_ok)
        if foreign:
            return (f"{self.what} {str(path)!r} holds files stress-sim did not write ({', '.join(foreign)}); "
                    "stress-sim replaces only its own results: give an empty or new folder")
        return None


@dataclass(frozen=True)
class FileRule:
    """What may be replaced at a file destination: nothing, or a file ``looks_ours`` accepts."""

    looks_ours: Callable[[Path], bool]
    what: str = "--out"
    description: str = "a file of the kind this command writes"

    def problem(self, path: Path) -> str | None:
        if path.is_symlink():
            return f"{self.what} {str(path)!r} is a symbolic link; give a regular file name"
        if not path.exists():
            return None
        if path.is_dir():
            return f"{self.what} {str(path)!r} is a directory; give a file name"
        if not path.is_file():
            return f"{self.what} {str(path)!r} is not a regular file"
        try:
            ours = self.looks_ours(path)
        except (OSError, ValueError):
            ours = False
        if not ours:
            return (f"{self.what} {str(path)!r} exists and is not {self.description}; stress-sim does not overwrite "
                    "files it did not write: remove it or choose another name")
        return None


# ---------------------------------------------------------------------------------------------
# the transaction
# ---------------------------------------------------------------------------------------------
def _libc_renameat2():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_renameat2 = _libc_renameat2()
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange ``a`` and ``b``; False when the system cannot (then the caller renames)."""
    if _renameat2 is None or os.environ.get("STRESS_SIM_NO_EXCHANGE"):
        return False
    rc = _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _lock_dir(path: Path, *, blocking: bool = True) -> int | None:
    """``flock`` the folder (or file) ``path`` itself (no lock file is left behind); None when not acquired."""
    import fcntl

    fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if path.is_dir() else 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except OSError:
        os.close(fd)
        if blocking:
            raise
        return None
    return fd


def _unlock(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)


def _remove(path: Path) -> None:
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


_held: dict = {"depth": 0, "got": [], "old": {}}


def _record_signal(signum, frame) -> None:
    _held["got"].append(signum)


class _HoldSignals:
    """Defer SIGINT and SIGTERM while renames swap results in (main thread only; re-entrant). Python's handlers are
    replaced by one that records the signal (blocking it in this thread would not do: the kernel hands a signal sent
    to the process to any thread that does not block it, and Python runs its handlers in the main thread anyway);
    at the outermost exit they are restored and, when a signal came and the swaps finished, the command stops with
    :class:`~simulator.exceptions.InterruptedAfterCommit`. Ignored signals stay ignored."""

    def __enter__(self):
        self._active = threading.current_thread() is threading.main_thread()
        if not self._active:
            return self
        if _held["depth"] == 0:
            _held["got"], _held["old"] = [], {}
            for signum in (signal.SIGINT, signal.SIGTERM):
                old = signal.getsignal(signum)
                if old is signal.SIG_IGN or old is None:
                    continue
                _held["old"][signum] = old
                signal.signal(signum, _record_signal)
        _held["depth"] += 1
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if not self._active:
            return False
        _held["depth"] -= 1
        if _held["depth"] > 0:
            return False
        for signum, old in _held["old"].items():
            signal.signal(signum, old)
        got, _held["got"], _held["old"] = _held["got"], [], {}
        if got and exc_type is None:
            from simulator.exceptions import InterruptedAfterCommit

            raise InterruptedAfterCommit(got[0])
        return False


@dataclass
class OutputTransaction:
    """Stage ``members`` of the folder ``root`` and swap them in at :meth:`commit`.

    Parameters
    ----------
    root : Path
        The folder holding the destinations (created when missing, removed again on abort if still empty).
    rules : mapping of str to DirRule or FileRule
        Each destination name and what may be replaced there; checked now and again at commit.

    Write member ``name`` at :meth:`path` ``(name)`` (a folder is created there for a :class:`DirRule`);
    members never written are left as they are at commit. Use as a context manager: commit on success,
    abort (everything staged removed) on any exception, ``KeyboardInterrupt`` included.
    """

    root: Path
    rules: Mapping[str, DirRule | FileRule]
    stage: Path = field(init=False)
    _lock_fd: int | None = field(init=False, default=None)
    _created: list[Path] = field(init=False, default_factory=list)
    _done: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        for name in self.rules:
            if not name or "/" in name or name in (".", "..") or name.startswith(STAGE_PREFIX):
                raise UserInputError(f"{name!r} cannot be written below {str(self.root)!r}")
        if self.root.exists() and not self.root.is_dir():
            raise UserInputError(f"{str(self.root)!r} exists and is not a directory")
        self._check()  # before creating anything: a refused destination leaves no trace
        missing = []
        p = self.root
        while not p.exists():
            missing.append(p)
            if p.parent == p:
                break
            p = p.parent
        if p.exists() and not p.is_dir():
            raise UserInputError(f"{str(p)!r} is not a directory (in {str(self.root)!r})")
        try:
            for d in reversed(missing):
                try:
                    d.mkdir()
                except FileExistsError:  # 'a/missing/..' names a folder that exists once 'a/missing' does
                    if not d.is_dir():
                        raise
                    continue
                self._created.append(d)
            recover(self.root)
            self.stage = self.root / f"{STAGE_PREFIX}{os.getpid()}-{secrets.token_hex(4)}{STAGE_SUFFIX}"
            try:
                self.stage.mkdir(mode=0o700)
            except OSError as exc:  # name the user's folder, not our staging name inside it
                raise OutputLocationError(exc.errno, f"cannot write in this folder: {exc.strerror}",
                                          str(self.root)) from None
            os.chmod(self.stage, _dir_mode())
            (self.stage / _LOCK).touch()
            self._lock_fd = _lock_dir(self.stage / _LOCK)  # the stage's own lock: its folder may be a nested root
        except OSError as exc:
            self._remove_created()
            if isinstance(exc, OutputLocationError):
                raise
            # where the destination cannot be created (/proc, a read-only or full file system): an environment fault
            raise OutputLocationError(exc.errno, exc.strerror, exc.filename, None, exc.filename2) from None
        except BaseException:
            self._remove_created()
            raise

    # ---------------------------------------------------------------- checks
    def _check(self) -> None:
        for name, rule in self.rules.items():
            problem = rule.problem(self.root / name)
            if problem:
                raise UserInputError(problem)

    # ---------------------------------------------------------------- staging
    def path(self, name: str) -> Path:
        """Where to write member ``name`` (a folder, created, for a :class:`DirRule`)."""
        if name not in self.rules:
            raise KeyError(f"{name!r} is not a destination of this transaction")
        p = self.stage / name
        if isinstance(self.rules[name], DirRule) and not p.exists():
            p.mkdir()
            os.chmod(p, _dir_mode())
        return p

    def out(self) -> Path:
        """The staged folder of a one-member transaction (:func:`directory_transaction`)."""
        if len(self.rules) != 1:
            raise ValueError("out() is for a transaction of one destination; use path(name)")
        return self.path(next(iter(self.rules)))

    def staged(self) -> list[str]:
        return [n for n in self.rules if (self.stage / n).exists() or (self.stage / n).is_symlink()]

    # ---------------------------------------------------------------- commit / abort
    def commit(self) -> None:
        """Swap every staged member into place (the old ones are removed after), then remove the stage."""
        commit_all([self])

    def _prepare(self) -> None:
        """Before any rename (an interrupt here leaves the destinations as they were): check the destinations
        again, under the lock of ``root`` (they may have changed while we worked)."""
        from simulator._faults import fault_point

        names = self.staged()
        fault_point("commit", self.root / names[0] if names else self.root)
        self._check()

    def _swap(self) -> None:
        """Swap the staged members in, with a journal; between renames an error puts the old members back."""
        from simulator._faults import fault_point

        names = self.staged()
        journal = {n: _ident(self.stage / n) for n in names}
        _write_journal(self.stage, journal)
        swapped: list[str] = []
        try:
            for i, n in enumerate(names):
                if i:
                    fault_point("commit-member", self.root / n)
                _swap_in(self.stage, self.root, n)
                swapped.append(n)
        except BaseException:
            # an error between renames (EIO, a vanished folder): put the old members back, so the earlier
            # result set stays whole; the journal goes first, so a later recovery does not redo the swap
            (self.stage / _COMMIT).unlink(missing_ok=True)
            for n in reversed(swapped):
                _swap_out(self.stage, self.root, n)
            raise
        _fsync_dir(self.root)
        self._done = True

    def abort(self) -> None:
        """Remove everything staged; the destinations are as they were."""
        if self._done:
            return
        self._done = True
        self._finish()
        self._remove_created()

    def _finish(self) -> None:
        _unlock(self._lock_fd)
        self._lock_fd = None
        shutil.rmtree(self.stage, ignore_errors=True)

    def _remove_created(self) -> None:
        for d in sorted(self._created, key=lambda p: len(p.parts), reverse=True):
            try:
                d.rmdir()
            except OSError:
                break

    def __enter__(self) -> "OutputTransaction":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                self.commit()
            except BaseException:
                self.abort()
                raise
        else:
            self.abort()


def _dir_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o777 & ~mask


def _ident(p: Path) -> list[int]:
    st = os.lstat(p)
    return [st.st_dev, st.st_ino]


def _write_journal(stage: Path, journal: Mapping[str, list[int]]) -> None:
    from simulator.io import atomic_write_text

    atomic_write_text(stage / _COMMIT, json.dumps(journal, sort_keys=True))
    _fsync_dir(stage)


def _swap_in(stage: Path, root: Path, name: str) -> None:
    src, dst = stage / name, root / name
    if not (dst.exists() or dst.is_symlink()):
        os.rename(src, dst)
        return
    old_dir = stage / _OLD
    old_dir.mkdir(exist_ok=True)
    if _exchange(src, dst):
        os.rename(src, old_dir / name)  # src now holds the old member
        return
    os.rename(dst, old_dir / name)
    os.rename(src, dst)


def _swap_out(stage: Path, root: Path, name: str) -> None:
    """Undo :func:`_swap_in` of ``name``: the new member back into the stage, the old one (if any) into place."""
    dst, old = root / name, stage / _OLD / name
    if old.exists() or old.is_symlink():
        if not _exchange(old, dst):
            os.rename(dst, stage / name)
            os.rename(old, dst)
            return
        os.rename(old, stage / name)  # after the exchange ``old`` holds the new member
    else:
        os.rename(dst, stage / name)


def recover(root: Path) -> None:
    """Clean up after transactions on ``root`` that were killed: finish those whose journal says they were
    swapping, remove the others' staging folders. Staging folders still locked by a live process are left."""
    try:
        entries = [e for e in os.scandir(root) if e.name.startswith(STAGE_PREFIX) and e.name.endswith(STAGE_SUFFIX)
                   and e.is_dir(follow_symlinks=False)]
    except OSError:
        return
    if not entries:
        return
    root_fd = _lock_dir(root)
    try:
        for e in entries:
            stage = Path(e.path)
            if not (stage / _LOCK).exists():
                continue  # not one of ours
            fd = _lock_dir(stage / _LOCK, blocking=False)
            if fd is None:
                continue  # a live transaction
            try:
                journal_path = stage / _COMMIT
                if journal_path.is_file():
                    try:
                        journal = json.loads(journal_path.read_text(encoding="utf-8"))
                    except (OSError, ValueError):
                        journal = {}
                    for name, ident in journal.items():
                        src, dst = stage / name, root / name
                        if (dst.exists() or dst.is_symlink()) and _ident(dst) == list(ident):
                            continue  # already in place
                        if (src.exists() or src.is_symlink()) and _ident(src) == list(ident):
                            _swap_in(stage, root, name)
                        elif (stage / _OLD / name).exists() and not (dst.exists() or dst.is_symlink()):
                            pass  # the new one is lost: nothing to finish (cannot happen with the order above)
                _fsync_dir(root)
            finally:
                _unlock(fd)
            shutil.rmtree(stage, ignore_errors=True)
    finally:
        _unlock(root_fd)


# ---------------------------------------------------------------------------------------------
# constructors
# ---------------------------------------------------------------------------------------------
def _given(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a Path; an empty string (an unset shell variable, say) is refused, not read as the current folder."""
    if not str(os.fspath(path)).strip():
        raise UserInputError(f"{what} is empty; give a folder such as results/ (or . for the current folder)")
    return Path(path)


def directory_transaction(out: str | os.PathLike, *, kinds: Sequence[str], what: str = "--out",
                          extra_ok: Callable[[str], bool] | None = None) -> OutputTransaction:
    """A whole output folder ``out``: staged beside it, swapped in whole. Write into ``tx.path(out.name)``."""
    out = _given(out, what)
    if out.name in ("", ".", ".."):
        out = Path(os.path.abspath(out))
    if out.name in ("", "/"):
        raise UserInputError(f"{what} {str(out)!r} cannot be replaced; give a folder such as results/")
    return OutputTransaction(out.parent, {out.name: DirRule(tuple(kinds), what, extra_ok)})


def members_transaction(root: str | os.PathLike, names: Iterable[str], *, kinds: Sequence[str],
                        what: str = "--out") -> OutputTransaction:
    """Folders ``root/<name>`` (``run``'s scenario folders), each replaced only by a result of ``kinds``."""
    root = _given(root, what)
    return OutputTransaction(root, {n: DirRule(tuple(kinds), f"{what} entry") for n in names})


def file_transaction(files: Mapping[str | os.PathLike, FileRule]) -> list[OutputTransaction]:
    """One transaction per folder holding the given files (commit them together with :func:`commit_all`)."""
    by_root: dict[Path, dict[str, FileRule]] = {}
    for f, rule in files.items():
        p = _given(f, rule.what)
        if p.name in ("", ".", ".."):
            raise UserInputError(f"{rule.what} {str(f)!r} is not a file name")
        by_root.setdefault(p.parent, {})[p.name] = rule
    out: list[OutputTransaction] = []
    try:
        for root, rules in by_root.items():
            out.append(OutputTransaction(root, rules))
    except BaseException:
        for tx in out:
            tx.abort()
        raise
    return out


def staged_path(txs: Sequence[OutputTransaction], target: str | os.PathLike) -> Path:
    """Where to write ``target`` among the transactions of :func:`file_transaction`."""
    p = Path(target)
    for tx in txs:
        if tx.root == p.parent and p.name in tx.rules:
            return tx.path(p.name)
    raise KeyError(str(target))


def commit_all(txs: Sequence[OutputTransaction]) -> None:
    """Commit every transaction: each is locked and checked, then all are swapped in with SIGINT and SIGTERM
    deferred until the last swap is done (a Ctrl-C never leaves some files new and others old), then their stages
    are removed. If one fails, the rest are aborted."""
    todo = [tx for tx in txs if not tx._done]
    locks: list[int | None] = []
    try:
        try:
            # each destination folder locked once, in one order for every process (no lock-order deadlock)
            for _, root in sorted({os.path.realpath(tx.root): tx.root for tx in todo}.items()):
                locks.append(_lock_dir(root))
            for tx in todo:
                tx._prepare()
            with _HoldSignals():
                for tx in todo:
                    tx._swap()
        finally:
            for fd in locks:
                _unlock(fd)
    except BaseException:
        for tx in todo:
            if tx._done:
                tx._finish()
            else:
                tx.abort()
        raise
    for tx in todo:
        tx._finish()


def abort_all(txs: Sequence[OutputTransaction]) -> None:
    for tx in txs:
        tx.abort()


def is_json_with(*keys: str) -> Callable[[Path], bool]:
    """A ``looks_ours`` test: a JSON object (at most 256 MiB) holding every key of ``keys``."""

    def check(path: Path) -> bool:
        if path.stat().st_size > 256 << 20:
            return False
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(data, dict) and all(k in data for k in keys)

    return check


def starts_with(*prefixes: bytes, within: int = 4096) -> Callable[[Path], bool]:
    """A ``looks_ours`` test: one of ``prefixes`` occurs in the file's first ``within`` bytes."""

    def check(path: Path) -> bool:
        with open(path, "rb") as fh:
            head = fh.read(within)
        return any(p in head for p in prefixes)

    return check


def is_regular_nonlink(path: Path) -> bool:
    st = os.lstat(path)
    return stat.S_ISREG(st.st_mode)
