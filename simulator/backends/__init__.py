"""Execution backends: where the chunks of a simulation run.

Every backend module exposes the same function::

    run_chunks(arrays, keys, horizon, tasks, *, store_paths, reducer=None, into=None,
               progress=False, ordered=False, **options) -> Iterator[tuple[int, Any]]

* ``arrays`` (:class:`simulator.schedule.KernelArrays`) and ``keys`` (:class:`simulator.seeding.StreamKeys`)
  are the compiled kernel inputs of the run (plain numpy arrays, picklable);
* ``tasks`` is a sequence of :class:`ChunkTask` (index, first path, one past the last path);
* ``reducer`` is ``None`` (the chunk's raw outputs come back) or a callable ``reducer(index)``
  evaluated on the driver right before chunk ``index`` is dispatched; it returns a picklable
  function ``f(out, start, stop)`` that runs where the chunk ran (a worker for Dask) and turns the
  raw outputs into what is sent back (e.g. the chunk's largest portfolio losses). Calling the
  factory at dispatch time lets it use what earlier chunks returned (a pruning threshold);
* ``into`` (with ``reducer=None`` only) is a dict of full-size output arrays, path axis first; each
  chunk's outputs are written into their slice (the local backend writes in place, without a copy)
  and the yielded value is the dict of slices;
* results are yielded as ``(index, value)`` when they complete (``ordered=True``: in task order,
  buffering at most the chunks in flight). Consumers that place results by index or merge them
  with an order-free rule (all of stress-sim's) should leave ``ordered=False`` so that results
  reach disk as soon as they exist.

The numbers never depend on the backend: path ``i``'s random stream depends only on (seed, i).
Backends: ``"local"`` (numba threads in this process), ``"dask"`` (a ``dask.distributed`` cluster),
``"cuda"`` (an NVIDIA GPU through numba.cuda: equal to the CPU within a stated float tolerance, see
:mod:`simulator.backends.cuda`) and ``"auto"`` (``"cuda"`` when a GPU is usable, else ``"local"``).
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, NamedTuple

import numpy as np

BACKENDS = ("local", "dask", "cuda", "auto")

#: ``f(out, start, stop) -> value``: turns one chunk's raw outputs into what is sent back.
ChunkReducer = Callable[[dict[str, np.ndarray], int, int], Any]


class ChunkTask(NamedTuple):
    """One chunk of a run: its position in the run and its path range ``[start, stop)``."""

    index: int
    start: int
    stop: int


def check_backend(name: Any) -> str:
    """Validate a backend name, with the valid choices in the error.

    ``"auto"`` resolves to ``"cuda"`` or ``"local"``; ``"cuda"`` without a usable GPU raises
    :class:`simulator.backends.cuda.CudaUnavailableError` (a one-line ``ValueError``).
    """
    if not isinstance(name, str):
        raise TypeError(f"backend must be a string, one of {', '.join(map(repr, BACKENDS))}; got {type(name).__name__}")
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))}, got {name!r}")
    if name in ("cuda", "auto"):  # resolved / checked here, before any work starts
        from simulator.backends import cuda as _cuda

        if name == "auto":
            return _cuda.resolve_auto()
        _cuda.require_gpu()
    return name


def get_backend(name: str):
    """The backend module ``simulator.backends.<name>`` (exposes ``run_chunks``)."""
    return importlib.import_module(f"simulator.backends.{check_backend(name)}")


def run_chunk(arrays, keys, start: int, stop: int, horizon: int, store_paths: bool,
              out: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Simulate paths ``start..stop-1`` on this process's CPU; returns (or fills) the output arrays.

    ``arrays`` are the run's :class:`~simulator.schedule.KernelArrays`, ``keys`` its
    :class:`~simulator.seeding.StreamKeys`; ``out`` (optional) holds arrays of the output shapes to fill.
    """
    from simulator.kernels.paths import simulate_chunk
    from simulator.qmc import chunk_normals

    n = stop - start
    a = arrays.n_assets
    if out is None:
        shape = (n, horizon, a) if store_paths else (0, 0, a)
        out = {
            "returns": np.empty(shape), "sigma": np.empty(shape),
            "cum_return": np.empty((n, a)), "max_drawdown": np.empty((n, a)),
            "stressed_days": np.empty(n, np.int64),
        }
    tilted = arrays.shocks.tilt.shape[0] > 0  # importance sampling: one log likelihood ratio per path
    if tilted and "log_weight" not in out:
        out["log_weight"] = np.empty(n)
    simulate_chunk(keys.key0, keys.key1, np.int64(start), np.int64(n), np.int64(horizon), *arrays.as_tuple(),
                   store_paths, out["returns"], out["sigma"], out["cum_return"], out["max_drawdown"],
                   out["stressed_days"], out["log_weight"] if tilted else np.empty(0), chunk_normals(arrays, start, n))
    return out


def compute_chunk(arrays, keys, task: ChunkTask, horizon: int, store_paths: bool,
                  reduce: ChunkReducer | None = None, out: dict[str, np.ndarray] | None = None) -> Any:
    """Run one chunk on this process's CPU and apply ``reduce`` (the unit of work of every backend).

    Without ``store_paths`` the empty ``returns``/``sigma`` placeholders are dropped from the outputs.
    """
    res = run_chunk(arrays, keys, task.start, task.stop, horizon, store_paths, out)
    if not store_paths:
        res = {k: v for k, v in res.items() if k not in ("returns", "sigma")}
    return res if reduce is None else reduce(res, task.start, task.stop)


def chunk_views(into: dict[str, np.ndarray], task: ChunkTask) -> dict[str, np.ndarray]:
    """Slices ``[start:stop]`` (path axis) of the full-size outputs for one chunk."""
    return {k: v[task.start:task.stop] for k, v in into.items()}


def progress_bar(total_paths: int, enabled: bool, desc: str = "simulating"):
    """A tqdm bar over paths, or ``None`` when progress is off."""
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total_paths, unit="path", unit_scale=True, desc=desc, leave=False)
