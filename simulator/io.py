"""Atomic, self-describing outputs: atomic file writes, hashing and ``manifest.json``.

Every result directory carries a manifest saying what produced it (package versions, seed entropy,
model and scenario hashes, input data hashes, command line), so any figure can be reproduced.
Writes go to a temporary file in the destination directory and are renamed into place, so a killed
run never leaves a partial file under a final name.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterable

MANIFEST_NAME = "manifest.json"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()


def _named(exc: OSError, path: Path) -> OSError:
    """``exc`` naming ``path`` (a failed ``write()`` carries no file name)."""
    if exc.filename is not None or not exc.errno:
        return exc
    return OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(path))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same directory, fsync, rename)."""
    from simulator._faults import fault_point

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        fault_point("write", path)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise _named(exc, path) from None
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented, key-sorted JSON to ``path`` atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def atomic_write_parquet(path: str | os.PathLike, table) -> Path:
    """Write a ``pyarrow.Table`` (or pandas DataFrame) to Parquet atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from simulator._faults import fault_point

    if not isinstance(table, pa.Table):
        table = pa.Table.from_pandas(table, preserve_index=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, _FILE_MODE)
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        fault_point("write", path)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise _parquet_error(exc, path) from None
        raise
    return path


def _parquet_error(exc: OSError, path: Path) -> OSError:
    """pyarrow's write errors as an ``OSError`` naming ``path`` (pyarrow puts the errno in its message)."""
    import re

    if exc.errno:
        return OSError(exc.errno, os.strerror(exc.errno), str(path))
    m = re.search(r"\[errno (\d+)\]", str(exc), re.IGNORECASE)
    if m:
        code = int(m.group(1))
        return OSError(code, os.strerror(code), str(path))
    return OSError(0, str(exc).splitlines()[0] if str(exc) else "write failed", str(path))


def _json_default(obj: Any):
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (Path,)):
        return str(obj)
    if isinstance(obj, (_dt.date, _dt.datetime)):
        return obj.isoformat()
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serialisable")


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike, *, block: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(block), b""):
            h.update(chunk)
    return h.hexdigest()


def package_versions(extra: Iterable[str] = ()) -> dict[str, str]:
    """Versions of Python, stress-sim and the numerical stack (for manifests and model cards)."""
    from importlib import metadata

    names = ["stress-sim", "numpy", "scipy", "pandas", "arch", "numba", "pyarrow", *extra]
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def build_manifest(*, kind: str, command: list[str] | None = None, **fields: Any) -> dict:
    """A manifest dict: what produced a result (kind, versions, command, time) plus ``fields``."""
    manifest = {
        "kind": kind,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "versions": package_versions(),
        "command": list(sys.argv) if command is None else list(command),
        "platform": platform.platform(),
    }
    manifest.update(fields)
    return manifest


def write_manifest(directory: str | os.PathLike, manifest: dict, *, files: Iterable[str | os.PathLike] = ()) -> Path:
    """Write ``manifest.json`` in ``directory`` atomically, adding sha256 of the listed output files."""
    directory = Path(directory)
    manifest = dict(manifest)
    hashes = dict(manifest.get("outputs", {}))
    for f in files:
        p = Path(f)
        full = p if p.is_absolute() else directory / p
        hashes[str(full.relative_to(directory))] = sha256_file(full)
    if hashes:
        manifest["outputs"] = hashes
    return atomic_write_json(directory / MANIFEST_NAME, manifest)


def safe_join(root: str | os.PathLike, relative: str) -> Path:
    """Join ``relative`` under ``root``, refusing absolute paths and ``..`` escapes (paths from config files)."""
    root_p = Path(root).resolve()
    rel = Path(relative)
    if rel.is_absolute():
        raise ValueError(f"path {relative!r} must be relative to the output directory {str(root_p)!r}")
    full = (root_p / rel).resolve()
    if full != root_p and root_p not in full.parents:
        raise ValueError(f"path {relative!r} escapes the output directory {str(root_p)!r}")
    return full
