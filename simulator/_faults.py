"""Fault injection for the fault tests (``tests/test_faults.py``): kill, interrupt or fail at a named point.

``STRESS_SIM_FAULT="POINT[@N]=ACTION"`` (several separated by ``;``) makes the N-th (default first) call of
:func:`fault_point` ``(POINT)`` in this process perform ACTION:

- ``kill``: SIGKILL this process (nothing is cleaned up: what a power cut or the OOM killer leaves);
- ``int``: SIGINT (Ctrl-C: ``KeyboardInterrupt`` raised at the point itself, in the calling thread);
- ``term``: SIGTERM (the command line turns it into an interrupt reported with status 143);
- ``enospc`` / ``eio`` / ``efbig`` / ``erofs`` / ``eacces`` / ``edquot``: raise ``OSError`` (no space left on
  device / I/O error / file too large / read-only file system / permission denied / disk quota exceeded; tests run
  as root, where a read-only folder made with chmod would still be writable).

Points: ``write`` (an atomic file write, before its rename), ``chunk`` (a checkpoint chunk committed),
``commit`` (an output transaction about to swap its result in), ``commit-member`` (between two members of
one transaction's swap). Unset (always, outside the tests), :func:`fault_point` does nothing.
"""
from __future__ import annotations

import errno
import os
import signal

_ENV = "STRESS_SIM_FAULT"
_counts: dict[str, int] = {}
_ERRORS = {"enospc": errno.ENOSPC, "eio": errno.EIO, "efbig": errno.EFBIG, "erofs": errno.EROFS,
           "eacces": errno.EACCES, "edquot": errno.EDQUOT}


def reset() -> None:
    """Start counting the calls of every point afresh (each command, each test: the counts are per process)."""
    _counts.clear()


def fault_point(name: str, path: str | os.PathLike | None = None) -> None:
    """Perform the fault ``STRESS_SIM_FAULT`` sets for the current call of point ``name``, if any."""
    spec = os.environ.get(_ENV)
    if not spec:
        return
    _counts[name] = _counts.get(name, 0) + 1
    for item in spec.split(";"):
        where, _, action = item.strip().partition("=")
        point, _, nth = where.partition("@")
        if point != name or int(nth or 1) != _counts[name]:
            continue
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif action == "int":  # raised in this thread and handled before raise_signal returns: os.kill may
            signal.raise_signal(signal.SIGINT)  # hand it to another thread, late under load, after the commit
        elif action == "term":
            signal.raise_signal(signal.SIGTERM)
        elif action in _ERRORS:
            code = _ERRORS[action]
            raise OSError(code, os.strerror(code), None if path is None else str(path))
