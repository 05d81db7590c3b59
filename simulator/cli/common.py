"""Helpers shared by CLI subcommands: argument checks and loading models with user-facing errors."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from simulator.builtin import load_model as load_model  # noqa: F401 - the CLI modules' model loader
from simulator.exceptions import UserInputError


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def output_dir(path: str) -> Path:
    """Check an output directory argument (it may exist; it must not be a file; an empty string is refused, not
    read as the current folder)."""
    if not str(path).strip():
        raise UserInputError("--out is empty; give a folder such as results/ (or . for the current folder)")
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UserInputError(f"--out {path!r} exists and is not a directory")
    return out


def show_progress() -> bool:
    """Progress bars only on an interactive terminal."""
    return sys.stderr.isatty()


# ------------------------------------------------------------------------------------------------
# scale-out flags (simulate and run): where the chunks run, and resuming a killed run
# ------------------------------------------------------------------------------------------------
def add_scale_out_arguments(p: argparse.ArgumentParser, *, resume_help: str) -> None:
    """``--chunk-paths --threads --backend --scheduler --workers --resume``, the same for every command that
    simulates in chunks (read them back with :func:`backend_options`)."""
    p.add_argument("--chunk-paths", type=positive_int, default=None, metavar="N",
                   help="paths per kernel call / task (memory; never changes the numbers)")
    p.add_argument("--threads", type=positive_int, default=None, metavar="N",
                   help="numba threads (local: default all cores; dask: per task, default the worker's threads)")
    p.add_argument("--backend", choices=["local", "dask", "cuda", "auto"], default=None,
                   help="where chunks run: local threads, a Dask cluster, an NVIDIA GPU, or auto (GPU if usable, "
                        "else local) (default: local, or dask when --scheduler/--workers is given)")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="address of a running Dask scheduler (implies --backend dask)")
    p.add_argument("--workers", type=positive_int, default=None, metavar="N",
                   help="start a local Dask cluster of N worker processes (implies --backend dask)")
    p.add_argument("--resume", action="store_true", help=resume_help)


def backend_options(args) -> tuple[str, dict]:
    """``(backend, options)`` from the flags of :func:`add_scale_out_arguments`: the backend name (``auto``
    resolved, ``cuda`` checked) and ``{"n_workers": N}`` for a local Dask cluster; a :class:`UserInputError`
    for a combination that cannot run."""
    backend = args.backend
    if args.scheduler is not None and args.workers is not None:
        raise UserInputError("--scheduler uses a running cluster and --workers starts a local one; give only one")
    if backend is None:
        backend = "dask" if (args.scheduler is not None or args.workers is not None) else "local"
    if backend in ("local", "cuda", "auto") and (args.scheduler is not None or args.workers is not None):
        raise UserInputError("--scheduler and --workers need --backend dask")
    if args.scheduler is not None and "://" not in args.scheduler:
        raise UserInputError(f"--scheduler {args.scheduler!r} must be an address such as tcp://HOST:8786")
    opts: dict = {}
    if backend == "dask":
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise UserInputError("--backend dask needs dask.distributed: pip install 'stress-sim[distributed]'") from None
        if args.workers is not None:
            opts["n_workers"] = args.workers
    else:
        from simulator.backends import check_backend

        backend = check_backend(backend)  # "auto" resolved; "cuda" without a usable GPU refused (one line) now
    return backend, opts


def connect_scheduler(address: str):
    """A ``distributed.Client`` connected to the scheduler at ``address`` (one-line error when unreachable)."""
    from distributed import Client

    if "://" not in address:
        raise UserInputError(f"--scheduler {address!r} must be an address such as tcp://HOST:8786")
    try:
        return Client(address, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise UserInputError(f"could not connect to the Dask scheduler at {address}: {exc}") from None
