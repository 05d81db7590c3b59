"""Reading the structured files a user hands us: size, file type and nesting checked before parsing.

Every JSON or TOML input (a model, a scenario, a book, a profile, ``--positions``, the files of a results
folder or a checkpoint) is read through :func:`read_input_text` and parsed by :func:`loads_json` /
:func:`loads_toml`, so that:

- a path that is not a regular file (``/dev/zero``, a FIFO, a socket) is refused before it is opened for
  reading (a device would be read until memory runs out, a FIFO would block);
- a file larger than :data:`MAX_INPUT_BYTES` (default 256 MiB; environment variable
  ``STRESS_SIM_MAX_INPUT_BYTES`` raises or lowers it) is refused before it is read;
- arrays and tables nested deeper than :data:`MAX_NESTING` (64) levels are refused before the parser
  recurses (``[[[[...`` would otherwise end in a ``RecursionError``);
- integers with more digits than a float can hold, bytes that are not UTF-8 and syntax errors give one line
  naming the file and where.

Errors are :class:`simulator.exceptions.UserInputError` (exit status 2 on the command line).
"""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from simulator.exceptions import UserInputError

__all__ = ["MAX_INPUT_BYTES", "MAX_NESTING", "max_input_bytes", "check_regular_file", "require_regular_file",
           "read_input_bytes",
           "read_input_text", "loads_json", "loads_toml", "read_json_file", "nesting_depth"]

#: Largest structured input file read (bytes), unless ``STRESS_SIM_MAX_INPUT_BYTES`` says otherwise.
MAX_INPUT_BYTES = 256 * 1024 * 1024
#: Deepest nesting of arrays / objects / tables accepted in a JSON or TOML input.
MAX_NESTING = 64
#: Longest integer literal (digits) accepted: a float holds up to about 1.8e308.
MAX_INT_DIGITS = 309
_ENV = "STRESS_SIM_MAX_INPUT_BYTES"


def max_input_bytes() -> int:
    """The input size cap in bytes: ``STRESS_SIM_MAX_INPUT_BYTES`` when set (an integer), else :data:`MAX_INPUT_BYTES`."""
    raw = os.environ.get(_ENV)
    if raw is None or not raw.strip():
        return MAX_INPUT_BYTES
    from simulator.limits import parse_size

    try:
        return parse_size(raw)
    except ValueError as exc:
        raise UserInputError(f"{_ENV}={raw!r}: {exc}") from None


def _human(n: int) -> str:
    from simulator.limits import format_bytes

    return format_bytes(n)


def check_regular_file(path: str | os.PathLike, what: str) -> os.stat_result:
    """``os.stat`` of ``path`` when it is a regular file; :class:`UserInputError` naming ``what`` otherwise."""
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise UserInputError(f"{what} {str(p)!r} not found") from None
    except NotADirectoryError:
        raise UserInputError(f"{what} {str(p)!r} not found (a parent is not a directory)") from None
    if stat.S_ISDIR(st.st_mode):
        raise UserInputError(f"{what} {str(p)!r} is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        kind = ("a character device" if stat.S_ISCHR(st.st_mode) else "a block device" if stat.S_ISBLK(st.st_mode)
                else "a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode)
                else "not a regular file")
        raise UserInputError(f"{what} {str(p)!r} is {kind}; give a regular file")
    return st


def require_regular_file(path: str | os.PathLike, what: str, *, hint: str = "") -> os.stat_result:
    """:func:`check_regular_file`, saying "not found" (with ``hint``) only when nothing is at ``path``: a folder,
    a device or a FIFO given where a file belongs is named as what it is."""
    p = Path(path)
    if not (p.exists() or p.is_symlink()):
        raise UserInputError(f"{what} {str(p)!r} not found" + (f" ({hint})" if hint else ""))
    return check_regular_file(p, what)


def read_input_bytes(path: str | os.PathLike, what: str, *, limit: int | None = None) -> bytes:
    """The bytes of the regular file ``path``, refused when larger than ``limit`` (default :func:`max_input_bytes`)."""
    limit = max_input_bytes() if limit is None else int(limit)
    st = check_regular_file(path, what)
    if st.st_size > limit:
        raise UserInputError(f"{what} {str(path)!r} is {_human(st.st_size)}, more than the {_human(limit)} an input "
                             f"file may have (set {_ENV} to raise the limit)")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped for a device between stat and open
            raise UserInputError(f"{what} {str(path)!r} is not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise UserInputError(f"{what} {str(path)!r} is larger than the {_human(limit)} an input file may have "
                             f"(set {_ENV} to raise the limit)")
    return data


def read_input_text(path: str | os.PathLike, what: str, *, limit: int | None = None) -> str:
    """:func:`read_input_bytes` decoded as UTF-8 (a BOM is dropped); one line naming the byte otherwise."""
    data = read_input_bytes(path, what, limit=limit)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserInputError(f"{what} {str(path)!r} is not UTF-8 text (byte {exc.start})") from None


def nesting_depth(text: str, *, toml: bool = False, stop: int | None = None) -> int:
    """Deepest nesting of ``[``/``{`` outside strings (and, for TOML, comments) in ``text``.

    A linear scan; stops early once ``stop`` is exceeded. TOML table headers (``[a.b]``, ``[[x]]``) open and
    close on one line and count as depth 1 or 2; their dotted keys do not nest."""
    depth = best = 0
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"' or c == "'":
            triple = text.startswith(c * 3, i)
            if triple:
                end = text.find(c * 3, i + 3)
                i = n if end < 0 else end + 3
                while i < n and text[i] == c:  # """a"""" : up to two quotes belong to the string
                    i += 1
                continue
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                if c == '"' and text[j] == "\\":
                    j += 1
                j += 1
            i = j + 1
            continue
        if toml and c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if c == "[" or c == "{":
            depth += 1
            if depth > best:
                best = depth
                if stop is not None and best > stop:
                    return best
        elif c == "]" or c == "}":
            depth = max(0, depth - 1)
        i += 1
    return best


def _check_depth(text: str, where: str, *, toml: bool) -> None:
    depth = nesting_depth(text, toml=toml, stop=MAX_NESTING)
    if depth > MAX_NESTING:
        raise UserInputError(f"{where}: arrays or tables are nested more than {MAX_NESTING} levels deep; "
                             "no stress-sim input nests that deep")


def _big_int(text: str) -> int:
    raise ValueError(f"an integer with {len(text)} digits is beyond the range of a number "
                     f"(at most {MAX_INT_DIGITS} digits)")


def loads_json(text: str, where: str) -> Any:
    """Parse JSON ``text`` (``where`` names it in errors) after the nesting check.

    Integers longer than :data:`MAX_INT_DIGITS` digits, ``NaN``/``Infinity`` literals are kept as the parser
    gives them (the validators reject non-finite numbers with the key); syntax errors give line and column."""
    _check_depth(text, where, toml=False)

    def parse_int(s: str) -> int:
        digits = len(s.lstrip("-"))
        if digits > MAX_INT_DIGITS:
            _big_int(s.lstrip("-"))
        return int(s)

    try:
        return json.loads(text, parse_int=parse_int)
    except json.JSONDecodeError as exc:
        raise UserInputError(f"{where}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise UserInputError(f"{where}: nested too deeply to parse") from None
    except ValueError as exc:
        raise UserInputError(f"{where}: {exc}") from None


def loads_toml(text: str, where: str) -> dict:
    """Parse TOML ``text`` after the nesting check; syntax errors name the line (tomllib's message)."""
    import tomllib

    _check_depth(text, where, toml=True)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserInputError(f"{where}: invalid TOML: {exc}") from None
    except RecursionError:
        raise UserInputError(f"{where}: nested too deeply to parse") from None
    except ValueError:  # an integer literal beyond Python's digit limit (4300 digits)
        raise UserInputError(f"{where}: an integer literal has more digits than a number can hold "
                             f"(at most {MAX_INT_DIGITS})") from None


def read_json_file(path: str | os.PathLike, what: str, *, limit: int | None = None) -> Any:
    """Read and parse the JSON file ``path`` (``what`` names it: "model file", "risk.json", ...)."""
    return loads_json(read_input_text(path, what, limit=limit), str(path))
