"""The ``stress-sim`` command line: one subcommand per module in this package.

Each subcommand module defines ``add_parser(subparsers)`` and ``run(args) -> int``. The dispatcher is the one
error boundary of the command line: whatever goes wrong, the user reads one line ``stress-sim: error: ...``
on stderr (no traceback) and the exit status says what kind of failure it was:

- **0**: done (``validate``: every check passed);
- **1**: the environment failed or the work could not complete: an operating-system error (permission
  denied, read-only or full file system, file too large, I/O error; the line names the path and the
  cause), out of memory, a scenario of ``run`` that blew up (the others are written), a failed check of
  ``validate``, or an internal error (``STRESS_SIM_TRACEBACK=1`` shows its traceback);
- **2**: bad input: a missing or malformed file, an invalid model or scenario, a bad argument, a
  destination that holds files stress-sim did not write, or work larger than the memory limit
  (``--max-memory``); nothing was written;
- **130**: interrupted by SIGINT (Ctrl-C); **143**: terminated by SIGTERM. Earlier results are untouched and
  nothing partial is left under a final name (see :mod:`simulator.outdir`).
"""
from __future__ import annotations

import argparse
import errno
import importlib
import os
import signal
import sys
import warnings

SUBCOMMANDS = [
    "simulate",
    "calibrate",
    "scenarios",
    "run",
    "report",
    "demo",
    "validate",
    "verify",
    "transactions",
    "validate_transactions",
    "reverse",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors: one line, exit 2
        self.exit(2, f"stress-sim: error: {one_line(message)} (see '{self.prog} --help')\n")


#: An unbroken run of characters longer than this in an error message is an echoed input value: cut.
_ECHO_RUN = 120
#: Longest error message printed (characters); the middle of a longer one is cut.
_MAX_MESSAGE = 2000


def one_line(message: object) -> str:
    """An error message as the CLI prints it: one line (whitespace runs and line breaks folded), every unbroken
    run of more than 120 characters (an input value echoed by the message: a 5 MB cell, a 10 MB argument) cut to
    its first 60 with its length, and at most 2,000 characters in all."""
    import re

    text = " ".join(str(message).split()) or "(no message)"
    text = re.sub(r"\S{%d,}" % (_ECHO_RUN + 1), lambda m: f"{m.group(0)[:60]}... ({len(m.group(0)):,} characters)",
                  text)
    if len(text) > _MAX_MESSAGE:
        text = f"{text[:1200]} ... ({len(text) - 1700:,} characters cut) ... {text[-500:]}"
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="stress-sim", description="Financial stress-scenario simulator.")
    from simulator import __version__

    parser.add_argument("--version", action="version", version=f"stress-sim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in SUBCOMMANDS:
        importlib.import_module(f"simulator.cli.{name}").add_parser(sub)
    for p in sub.choices.values():  # one memory limit for every subcommand (simulator.limits)
        p.add_argument("--max-memory", default=None, metavar="SIZE", type=_size,
                       help="refuse work estimated to need more memory than SIZE (e.g. 16G; default 80%% of the "
                            "available memory, or STRESS_SIM_MAX_MEMORY)")
    return parser


def _size(text: str) -> int:
    from simulator.limits import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C (outputs rolled back), reported with status 143."""


def _on_sigterm(signum, frame):
    raise Terminated()


#: errno -> what to do about it, appended to the one-line message
_OS_HINTS = {
    errno.ENOSPC: "free some space or write elsewhere",
    errno.EDQUOT: "the disk quota is exhausted; free some space or write elsewhere",
    errno.EROFS: "the file system is read-only; write elsewhere",
    errno.EACCES: "check the permissions",
    errno.EPERM: "check the permissions",
    errno.EFBIG: "the file exceeds the size limit of this file system or process (ulimit -f)",
    errno.EIO: "the storage device reported an error",
    errno.EMFILE: "too many open files (ulimit -n)",
    errno.ENAMETOOLONG: "give a shorter path",
}


def os_error_message(exc: OSError) -> str:
    """One line naming the path(s) and the cause of an operating-system error."""
    cause = exc.strerror or (os.strerror(exc.errno) if exc.errno else str(exc).splitlines()[0] if str(exc) else
                             type(exc).__name__)
    where = ""
    if exc.filename is not None:
        where = f"{os.fsdecode(exc.filename)!r}"
        if exc.filename2 is not None:
            where += f" -> {os.fsdecode(exc.filename2)!r}"
        where += ": "
    hint = _OS_HINTS.get(exc.errno or -1)
    return f"{where}{cause}" + (f" ({hint})" if hint else "")


def main(argv: list[str] | None = None) -> int:
    from simulator._faults import reset

    reset()  # fault-test counts are per command, also when commands run one after another in one process
    try:
        status = _main(argv)
        sys.stdout.flush()  # inside the try: a closed pipe surfaces here, not at interpreter exit
        return status
    except BrokenPipeError:
        return _closed_pipe()


def _closed_pipe() -> int:
    """The reader of our output went away (``stress-sim scenarios list | head``): end quietly.

    Python's own recipe: point stdout at devnull so the interpreter's final flush cannot raise
    again, and exit as a process killed by SIGPIPE does (128 + 13), like other Unix tools."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (captured in tests)
        pass
    return 141


def _say(message: object) -> None:
    print(f"stress-sim: error: {one_line(message)}", file=sys.stderr)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning during a command: one line on stderr (no source line, no file and line number of the code)."""
    what = " (a numerical warning from the computation)" if issubclass(category, RuntimeWarning) else ""
    print(f"stress-sim: warning: {one_line(message)}{what}", file=sys.stderr if file is None else file)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from simulator.exceptions import InterruptedAfterCommit, NonFiniteResultError, UserInputError
    from simulator.limits import format_bytes, set_memory_limit

    set_memory_limit(getattr(args, "max_memory", None))
    old_term = None
    old_show, warnings.showwarning = warnings.showwarning, _show_warning
    try:
        old_term = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (tests may call main() from a worker thread)
        pass
    try:
        return int(args.func(args) or 0)
    except (UserInputError, FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
        _say(exc if not isinstance(exc, OSError) or exc.filename is None else os_error_message(exc))
        return 2
    except NonFiniteResultError as exc:  # the model or scenario makes the dynamics explode: bad input
        _say(exc)
        return 2
    except ValueError as exc:  # validation errors raised at a public boundary
        _say(exc)
        return 2
    except InterruptedAfterCommit as exc:  # the signal came during the final renames, which were finished first
        term = exc.signum == signal.SIGTERM
        print(f"stress-sim: {'terminated (SIGTERM)' if term else 'interrupted'} while the results were being swapped "
              "in; the swap was finished first, so the new results are complete", file=sys.stderr)
        return 143 if term else 130
    except Terminated:
        print("stress-sim: terminated (SIGTERM); earlier results are untouched", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("stress-sim: interrupted; earlier results are untouched", file=sys.stderr)
        return 130
    except MemoryError:
        from simulator.limits import memory_limit

        limit, how = memory_limit()
        _say("out of memory" + (f" (limit {format_bytes(limit)}, {how})" if limit else "")
             + "; use fewer paths, a shorter horizon or fewer customers, or a machine with more memory")
        return 1
    except BrokenPipeError:  # the reader of our output went away: main() ends quietly
        raise
    except OSError as exc:  # the environment: permissions, full or read-only disk, I/O errors
        _say(os_error_message(exc))
        return 1
    except RecursionError:
        _say("an input is nested too deeply to process")
        return 2
    except Exception as exc:  # noqa: BLE001 - the one boundary: an internal error is one line too
        if os.environ.get("STRESS_SIM_TRACEBACK"):
            raise
        _say(f"internal error ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no message'}); "
             "please report it with the command line (STRESS_SIM_TRACEBACK=1 shows the traceback)")
        return 1
    finally:
        warnings.showwarning = old_show
        set_memory_limit(None)
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
