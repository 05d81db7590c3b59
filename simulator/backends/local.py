"""Local backend: chunks one after another in this process, each spread over numba threads."""
from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

import numpy as np

from simulator.backends import ChunkReducer, ChunkTask, chunk_views, compute_chunk, progress_bar


def run_chunks(arrays, keys, horizon: int, tasks: Sequence[ChunkTask], *, store_paths: bool,
               reducer: Callable[[int], ChunkReducer] | None = None, into: dict[str, np.ndarray] | None = None,
               progress: bool = False, ordered: bool = False, n_threads: int | None = None) -> Iterator[tuple[int, Any]]:
    """Run ``tasks`` in order on local numba threads; yield ``(index, value)`` per chunk.

    See :mod:`simulator.backends` for the common contract. Chunks always complete in task order
    here, so ``ordered`` has no effect.

    Parameters
    ----------
    n_threads : int, optional
        Numba threads for the duration of the run (default: numba's current setting, all cores).
    """
    import numba

    if into is not None and reducer is not None:
        raise ValueError("into= receives raw chunk outputs; it cannot be combined with a reducer")
    old = numba.get_num_threads()
    if n_threads is not None:
        numba.set_num_threads(min(int(n_threads), numba.config.NUMBA_NUM_THREADS))
    bar = progress_bar(sum(t.stop - t.start for t in tasks), progress)
    try:
        for task in tasks:
            task = ChunkTask(*task)
            reduce = None if reducer is None else reducer(task.index)
            out = None if into is None else chunk_views(into, task)
            value = compute_chunk(arrays, keys, task, horizon, store_paths, reduce, out)
            if bar is not None:
                bar.update(task.stop - task.start)
            yield task.index, value
    finally:
        if bar is not None:
            bar.close()
        numba.set_num_threads(old)
