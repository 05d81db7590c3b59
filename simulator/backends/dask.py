"""Dask backend: chunks become tasks on a ``dask.distributed`` cluster.

The compiled kernel inputs are scattered to every worker once; each chunk is one task
(``client.submit(..., retries=...)``) that runs the numba kernel on the worker with a bounded number of
numba threads and returns the chunk's outputs, or what the run's reducer keeps of them (for tail
risk: the chunk's largest portfolio losses, never the paths). Tasks are submitted through a sliding
window (a few per worker thread), so the driver's memory and the scheduler's task graph stay
bounded by the window, not by the number of paths.

A task whose worker dies is rescheduled by the scheduler on another worker; a task that raises is
retried ``retries`` times. Path ``i``'s random stream depends only on (seed, i), so the numbers are
bit-identical to the local backend whatever the number of workers or the order of completion.

Workers must be able to import ``simulator`` (same version as the driver).
"""
from __future__ import annotations

import contextlib
import logging
import uuid
from collections import deque
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from simulator.backends import ChunkReducer, ChunkTask, compute_chunk, progress_bar
from simulator.checks import check_int

DEFAULT_RETRIES = 2


@contextlib.contextmanager
def connect(client=None, *, n_workers: int | None = None):
    """Yield a ``distributed.Client``: ``client`` itself, a new connection to a scheduler address, or a
    fresh ``LocalCluster`` of ``n_workers`` single-threaded worker processes (closed on exit).

    Parameters
    ----------
    client : distributed.Client, str or None
        An existing client (left open), a scheduler address such as ``"tcp://10.0.0.5:8786"``
        (connected and closed here), or ``None`` for a local cluster.
    n_workers : int, optional
        Worker processes of the local cluster (default: one per CPU core). Only with ``client=None``.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - dask is an optional dependency
        raise ImportError("backend='dask' needs dask.distributed: pip install 'stress-sim[distributed]'") from None
    if client is not None and n_workers is not None:
        raise ValueError("n_workers starts a local cluster; it cannot be combined with an existing client or "
                         "scheduler address (size that cluster with its own tools)")
    if isinstance(client, Client):
        yield client
        return
    if isinstance(client, str):
        if not client.strip():
            raise ValueError("scheduler address is empty; give e.g. 'tcp://HOST:8786'")
        with Client(client) as c:
            yield c
        return
    if client is not None:
        raise TypeError(f"client must be a distributed.Client, a scheduler address string or None, "
                        f"got {type(client).__name__}")
    if n_workers is None:
        import os

        n_workers = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    n_workers = check_int(n_workers, "n_workers")
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None,
                           scheduler_kwargs={"dashboard_address": ":0"},  # no dashboard; health endpoint on a free port
                           silence_logs=logging.ERROR)
    try:
        with Client(cluster) as c:
            yield c
    finally:
        cluster.close()


def _worker_threads() -> int:
    try:
        from distributed import get_worker

        w = get_worker()
        state = getattr(w, "state", None)
        return int(getattr(state, "nthreads", None) or getattr(w, "nthreads", 1) or 1)
    except (ImportError, ValueError):
        return 1


def _chunk_task(arrays, keys, task: ChunkTask, horizon: int, store_paths: bool, reduce: ChunkReducer | None,
                numba_threads: int | None):
    """One chunk on a worker, with numba limited to the worker's share of the cores."""
    import numba

    n = numba_threads if numba_threads is not None else _worker_threads()
    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))
    return compute_chunk(arrays, keys, task, horizon, store_paths, reduce)


def run_chunks(arrays, keys, horizon: int, tasks: Sequence[ChunkTask], *, store_paths: bool,
               reducer: Callable[[int], ChunkReducer] | None = None, into: dict[str, np.ndarray] | None = None,
               progress: bool = False, ordered: bool = False, client=None, n_workers: int | None = None,
               n_threads: int | None = None, retries: int = DEFAULT_RETRIES,
               max_in_flight: int | None = None) -> Iterator[tuple[int, Any]]:
    """Run ``tasks`` as Dask tasks; yield ``(index, value)`` per chunk (see :mod:`simulator.backends`).

    Parameters
    ----------
    client : distributed.Client, str or None
        See :func:`connect`; ``None`` starts (and afterwards closes) a local cluster.
    n_workers : int, optional
        Worker processes of that local cluster.
    n_threads : int, optional
        Numba threads per task (default: the worker's thread count, 1 on the local cluster), so that
        workers sharing a machine do not oversubscribe its cores.
    retries : int, default 2
        Times a task that raised is resubmitted before the run fails.
    max_in_flight : int, optional
        Tasks submitted but not yet consumed (default: twice the cluster's worker threads, at least 4).
    """
    if into is not None and reducer is not None:
        raise ValueError("into= receives raw chunk outputs; it cannot be combined with a reducer")
    if n_threads is not None:
        n_threads = check_int(n_threads, "n_threads")
    if isinstance(retries, bool) or not isinstance(retries, (int, np.integer)) or retries < 0:
        raise ValueError(f"retries must be an integer >= 0, got {retries!r}")
    tasks = [ChunkTask(*t) for t in tasks]
    if not tasks:
        return
    from distributed import as_completed

    with connect(client, n_workers=n_workers) as c:
        window = max_in_flight
        if window is None:
            window = max(4, 2 * sum(c.nthreads().values()))
        window = check_int(window, "max_in_flight")
        token = uuid.uuid4().hex[:12]
        [arrays_f] = c.scatter([arrays], broadcast=True, hash=False)
        pending = deque(tasks)
        running: dict[str, tuple[ChunkTask, Any]] = {}
        done_buffer: dict[int, Any] = {}
        order = deque(t.index for t in tasks)
        ac = as_completed()
        bar = progress_bar(sum(t.stop - t.start for t in tasks), progress)

        def submit_one() -> None:
            task = pending.popleft()
            reduce = None if reducer is None else reducer(task.index)
            fut = c.submit(_chunk_task, arrays_f, keys, task, horizon, store_paths, reduce, n_threads,
                           key=f"stress-sim-chunk-{token}-{task.index}", retries=int(retries), pure=False)
            running[fut.key] = (task, fut)
            ac.add(fut)

        try:
            while pending and len(running) < window:
                submit_one()
            for fut in ac:
                task, _ = running.pop(fut.key)
                value = fut.result()
                fut.release()
                if into is not None:
                    views = {}
                    for name, arr in value.items():
                        views[name] = into[name][task.start:task.stop]
                        views[name][...] = arr
                    value = views
                if bar is not None:
                    bar.update(task.stop - task.start)
                if ordered:
                    done_buffer[task.index] = value
                    while order and order[0] in done_buffer:
                        idx = order.popleft()
                        yield idx, done_buffer.pop(idx)
                else:
                    yield task.index, value
                # top up after the consumer has taken the result: a reducer factory then sees it
                # (e.g. a tighter tail floor); the window leaves the workers busy meanwhile
                while pending and len(running) + len(done_buffer) < window:
                    submit_one()
        finally:
            if bar is not None:
                bar.close()
            if running:
                ac.clear()
                c.cancel([f for _, f in running.values()], force=True)
                running.clear()
            arrays_f.release()
