"""CUDA backend: chunks of paths on an NVIDIA GPU, one thread per path, through ``numba.cuda``.

The GPU runs the same source as the CPU (:func:`simulator.kernels.paths.simulate_block`, on a block of
one path per thread, compiled for both targets, see :mod:`simulator.kernels._targets`), with the same per-path random
streams (xoshiro256** seeded from (seed, path index)), in float64. Consecutive chunks are merged
into launches of up to ``launch_paths`` paths (a GPU needs hundreds of thousands of threads in
flight; the results are still handed back chunk by chunk), and two launches are kept in flight on
two streams so the host copies and consumes one while the GPU computes the next.

Agreement with the CPU backend
------------------------------
Not bit-for-bit: the GPU's math library (libdevice: ``exp``, ``log``, ``log1p``, ``expm1``, ``pow``,
``sin``; within 2 ulp) and the compiler's fused multiply-adds round differently from the CPU's libm
and unfused arithmetic. The variance recursions are contractions and the quantile tables are smooth,
so these differences stay at the level of a few ulp per day; the stated tolerance, tested through
numba's CUDA simulator and checked by ``benchmarks/gpu.py`` on real hardware, is::

    |gpu - cpu| <= RTOL * |cpu| + ATOL     (RTOL = 1e-9, ATOL = 1e-9 in the output's units)

for returns, sigmas and cumulative returns (percent) and drawdowns (fraction) over a 250-day
horizon; regime-day counts are equal. A path can leave that tolerance only if a rounding difference
flips a discrete decision (a ziggurat or gamma rejection test, a regime, jump-count or jump-probability
threshold) and its stream desynchronises; each such decision has a chance of order 1e-16, so this is
not expected even in 10^9 paths, and ``benchmarks/gpu.py`` counts such paths rather than assuming none.

Without a GPU
-------------
``backend="cuda"`` raises :class:`CudaUnavailableError` (a :class:`~simulator.exceptions.UserInputError`,
so the CLI prints one line and exits with status 2); ``backend="auto"`` (:func:`resolve_auto`) logs
the reason through :mod:`logging` and runs on the CPU (``"local"``).

Set ``NUMBA_ENABLE_CUDASIM=1`` before ``numba.cuda`` is first imported to run this backend on
numba's CUDA simulator (pure Python: thousands of times slower, for tests only).
"""
from __future__ import annotations

import functools
import importlib
import logging
from collections import deque
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from simulator.backends import ChunkReducer, ChunkTask, progress_bar
from simulator.exceptions import UserInputError

log = logging.getLogger(__name__)

#: Documented GPU-versus-CPU tolerance (see the module docstring).
RTOL = 1e-9
ATOL = 1e-9
THREADS_PER_BLOCK = 128
#: Paths per kernel launch (consecutive chunks are merged up to this many; summaries only).
LAUNCH_PATHS = 1 << 20
#: Path x day x asset cells per launch when paths are kept (returns + sigma: 16 bytes a cell).
LAUNCH_CELLS = 1 << 26

NO_GPU_MESSAGE = ("backend='cuda' needs an NVIDIA GPU with a working CUDA driver; none was found "
                  "(use backend='local' or 'auto')")


class CudaUnavailableError(UserInputError, RuntimeError):
    """``backend="cuda"`` was asked for but no usable CUDA GPU (or no CUDA compiler for it) is present."""


def import_cuda():
    """Import ``numba.cuda`` (the module, real or numba's simulator).

    numba-cuda releases that still reference ``numpy.row_stack`` (removed in NumPy 2.4+) get it as an
    alias of ``numpy.vstack``, set before the import.
    """
    if not hasattr(np, "row_stack"):
        np.row_stack = np.vstack
    return importlib.import_module("numba.cuda")


@functools.lru_cache(maxsize=1)
def gpu_status() -> tuple[bool, str]:
    """``(usable, reason)``: whether this process can compile for and run on a CUDA GPU, and if not why.

    Checked once per process: ``numba.cuda`` imports, a driver and a supported device are found
    (``numba.cuda.is_available()``), and the CUDA compiler library (NVVM) loads.
    """
    try:
        cuda = import_cuda()
    except Exception as exc:  # pragma: no cover - numba always ships numba.cuda or numba-cuda
        return False, f"numba.cuda cannot be imported ({type(exc).__name__}: {exc})"
    if _is_simulator():
        return True, "numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1)"
    try:
        if not cuda.is_available():
            return False, "no CUDA driver or no supported NVIDIA GPU (numba.cuda.is_available() is False)"
    except Exception as exc:  # pragma: no cover - driver errors on a GPU machine
        return False, f"CUDA driver error: {' '.join(str(exc).split())}"
    try:
        nvvm = importlib.import_module(cuda.__name__ + ".cudadrv.nvvm")
        nvvm.NVVM()
    except Exception as exc:  # pragma: no cover - a GPU machine without the CUDA toolkit
        return False, (f"a GPU is present but numba cannot load the CUDA compiler (NVVM): "
                       f"{' '.join(str(exc).split())[:300]}")
    try:
        name = cuda.get_current_device().name
        name = name.decode() if isinstance(name, bytes) else str(name)
    except Exception:  # pragma: no cover
        name = "CUDA GPU"
    return True, name


def _is_simulator() -> bool:
    from numba import config

    return bool(getattr(config, "ENABLE_CUDASIM", False))


def require_gpu():
    """The ``numba.cuda`` module, or :class:`CudaUnavailableError` (one line) when no GPU is usable."""
    usable, reason = gpu_status()
    if not usable:
        log.debug("backend='cuda' unavailable: %s", reason)
        if reason.startswith("a GPU is present"):
            raise CudaUnavailableError(f"backend='cuda': {reason} (install the CUDA toolkit, e.g. "
                                       f"'pip install numba-cuda[cu12]', or use backend='local' or 'auto')")
        raise CudaUnavailableError(NO_GPU_MESSAGE)
    return import_cuda()


def resolve_auto() -> str:
    """``"cuda"`` when a usable GPU is present, else ``"local"`` (the fallback is logged at INFO)."""
    usable, reason = gpu_status()
    if usable:
        log.info("backend='auto': running on the GPU (%s)", reason)
        return "cuda"
    log.info("backend='auto': no usable CUDA GPU (%s); running on the CPU (backend='local')", reason)
    return "local"


def _launch_groups(tasks: list[ChunkTask], *, store_paths: bool, horizon: int, n_assets: int,
                   launch_paths: int) -> list[list[ChunkTask]]:
    """Runs of consecutive chunks (each starts where the previous stops) merged up to the launch size."""
    max_paths = launch_paths
    if store_paths:
        max_paths = min(max_paths, max(1, LAUNCH_CELLS // max(1, horizon * n_assets)))
    groups: list[list[ChunkTask]] = []
    for t in tasks:
        if groups:
            g = groups[-1]
            if g[-1].stop == t.start and t.stop - g[0].start <= max_paths:
                g.append(t)
                continue
        groups.append([t])
    return groups


def _check_positive(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive integer, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def run_chunks(arrays, keys, horizon: int, tasks: Sequence[ChunkTask], *, store_paths: bool,
               reducer: Callable[[int], ChunkReducer] | None = None, into: dict[str, np.ndarray] | None = None,
               progress: bool = False, ordered: bool = False, n_threads: int | None = None,
               threads_per_block: int = THREADS_PER_BLOCK,
               launch_paths: int = LAUNCH_PATHS) -> Iterator[tuple[int, Any]]:
    """Run ``tasks`` on the GPU; yield ``(index, value)`` per chunk, in task order.

    See :mod:`simulator.backends` for the common contract. The reducer runs on the host on the
    chunk's outputs once they are back from the GPU (its factory is called then, so it sees every
    earlier chunk's result).

    Parameters
    ----------
    n_threads : int, optional
        Ignored (CPU threads of the local backend; accepted so the engine can pass it to any backend).
    threads_per_block : int, default 128
        CUDA block size.
    launch_paths : int, default 2**20
        Most paths per kernel launch when merging consecutive chunks (paths kept: also at most
        ``LAUNCH_CELLS`` path-day-asset cells).

    Raises
    ------
    CudaUnavailableError
        No usable CUDA GPU.
    """
    if into is not None and reducer is not None:
        raise ValueError("into= receives raw chunk outputs; it cannot be combined with a reducer")
    threads_per_block = _check_positive(threads_per_block, "threads_per_block")
    launch_paths = _check_positive(launch_paths, "launch_paths")
    tasks = [ChunkTask(*t) for t in tasks]
    if not tasks:
        return
    cuda = require_gpu()
    from simulator.kernels.cuda_chunk import chunk_kernel
    from simulator.qmc import chunk_normals

    n_assets = arrays.n_assets
    horizon = int(horizon)
    kernel = chunk_kernel(cuda, n_assets)
    d_in = arrays.map_arrays(lambda a: cuda.to_device(np.ascontiguousarray(a)))
    d_empty = cuda.to_device(np.zeros(0))
    groups = _launch_groups(tasks, store_paths=store_paths, horizon=horizon, n_assets=n_assets,
                            launch_paths=launch_paths)
    streams = (cuda.stream(), cuda.stream())
    bar = progress_bar(sum(t.stop - t.start for t in tasks), progress)

    def launch(g: int) -> tuple[list[ChunkTask], dict[str, Any], Any]:
        group = groups[g]
        start, n = group[0].start, group[-1].stop - group[0].start
        stream = streams[g % 2]
        shape = (n, horizon, n_assets) if store_paths else (0, 0, n_assets)
        dev = {
            "returns": cuda.device_array(shape, np.float64, stream=stream),
            "sigma": cuda.device_array(shape, np.float64, stream=stream),
            "cum_return": cuda.device_array((n, n_assets), np.float64, stream=stream),
            "max_drawdown": cuda.device_array((n, n_assets), np.float64, stream=stream),
            "stressed_days": cuda.device_array(n, np.int64, stream=stream),
        }
        if arrays.shocks.tilt.shape[0] > 0:  # importance sampling: one log likelihood ratio per path
            dev["log_weight"] = cuda.device_array(n, np.float64, stream=stream)
        blocks = (n + threads_per_block - 1) // threads_per_block
        kernel[blocks, threads_per_block, stream](
            keys.key0, keys.key1, np.int64(start), np.int64(n), np.int64(horizon), *d_in.as_tuple(), bool(store_paths),
            dev["returns"], dev["sigma"], dev["cum_return"], dev["max_drawdown"], dev["stressed_days"],
            dev.get("log_weight", d_empty), cuda.to_device(chunk_normals(arrays, start, n), stream=stream))
        return group, dev, stream

    def finish(group: list[ChunkTask], dev: dict[str, Any], stream) -> Iterator[tuple[int, Any]]:
        start, stop = group[0].start, group[-1].stop
        names = [k for k in dev if store_paths or k not in ("returns", "sigma")]
        if into is not None:
            host = {k: into[k][start:stop] for k in names}
        else:
            host = {k: np.empty(dev[k].shape, dev[k].dtype) for k in names}
        for k in names:
            dev[k].copy_to_host(host[k], stream=stream)
        stream.synchronize()
        for task in group:
            lo, hi = task.start - start, task.stop - start
            out = {k: v[lo:hi] for k, v in host.items()}
            value = out if reducer is None else reducer(task.index)(out, task.start, task.stop)
            if bar is not None:
                bar.update(task.stop - task.start)
            yield task.index, value

    inflight: deque = deque()
    try:
        for g in range(len(groups)):
            inflight.append(launch(g))
            if len(inflight) == 2:
                yield from finish(*inflight.popleft())
        while inflight:
            yield from finish(*inflight.popleft())
    finally:
        if bar is not None:
            bar.close()
