"""The Monte Carlo engine: chunks of paths through the fused kernel, on a backend.

``simulate(model, n_paths, horizon, seed)`` is the public entry point. Paths are split into chunks
(memory is bounded by the chunk for ``keep="summary"``); each chunk runs the numba kernel in
parallel over paths, on local threads (``backend="local"``) or as tasks on a Dask cluster
(``backend="dask"``, see :mod:`simulator.backends`). Path ``i``'s random stream depends only on
(seed, i), so the numbers are identical for any ``chunk_paths``, thread count, worker count and
backend. With ``run_dir`` every completed chunk is committed to disk (:mod:`simulator.runstore`) and
an interrupted run continues with ``resume=True``, computing only the missing chunks.

:func:`plan_run` and :func:`execute_plan` are the shared driver of :func:`simulate` and
:func:`simulator.tail.simulate_tail`: the plan is the compiled kernel inputs and the chunk list, the
execution streams chunk results (raw outputs or a per-chunk reduction) from the backend and the run
store to a consumer.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from simulator.backends import ChunkTask, check_backend, get_backend
from simulator.backends import run_chunk as run_chunk  # noqa: F401 - its old home; the CPU chunk is a backend's
from simulator.checks import check_int
from simulator.exceptions import NonFiniteResultError
from simulator.model import MarketModel
from simulator.rng import StreamKeys, resolve_seed
from simulator.schedule import KernelArrays, Schedule

KEEP_CHOICES = ("paths", "summary")
DEFAULT_CHUNK_CELLS = 8_000_000  # path × day × asset cells per chunk when keeping paths
#: Largest cumulative percent log return a price can carry: ``exp(x / 100)`` overflows float64 beyond ~70,978 %.
MAX_CUM_LOG_RETURN = 70_000.0


@dataclass
class SimulationResult:
    """Simulated paths or per-path summaries.

    Attributes
    ----------
    asset_names : tuple of str
    returns : ndarray (n_paths, horizon, n_assets) or None
        Percent log returns (``keep="paths"`` only).
    sigma : ndarray (n_paths, horizon, n_assets) or None
        Conditional volatility in percent used on each day (shock multipliers included).
    cum_return : ndarray (n_paths, n_assets)
        Cumulative percent log return over the horizon.
    max_drawdown : ndarray (n_paths, n_assets)
        Largest fall of the price from its running peak (start included), as a fraction in [0, 1).
    stressed_days : ndarray (n_paths,)
        Days each path spent outside the base regime (regime switching only).
    """

    asset_names: tuple[str, ...]
    n_paths: int
    horizon: int
    keep: str
    cum_return: np.ndarray
    max_drawdown: np.ndarray
    stressed_days: np.ndarray
    returns: np.ndarray | None = None
    sigma: np.ndarray | None = None
    seed: dict = field(default_factory=dict)
    model_sha256: str = ""
    meta: dict = field(default_factory=dict)

    def to_frame(self):
        """Long pandas DataFrame: (path, day, asset, log_return_pct, sigma_pct) for paths, or
        (path, asset, cum_log_return_pct, max_drawdown) for summaries. Days are 1-based; returns are
        percent log returns."""
        import pandas as pd

        n, h, a = self.n_paths, self.horizon, len(self.asset_names)
        assets = pd.Categorical.from_codes(np.tile(np.arange(a), n * (h if self.returns is not None else 1)),
                                           categories=list(self.asset_names))
        if self.returns is not None:
            return pd.DataFrame({
                "path": np.repeat(np.arange(n), h * a),
                "day": np.tile(np.repeat(np.arange(1, h + 1), a), n),
                "asset": assets,
                "log_return_pct": self.returns.reshape(-1),
                "sigma_pct": self.sigma.reshape(-1),
            })
        return pd.DataFrame({
            "path": np.repeat(np.arange(n), a),
            "asset": assets,
            "cum_log_return_pct": self.cum_return.reshape(-1),
            "max_drawdown": self.max_drawdown.reshape(-1),
        })

    def summary_frame(self):
        """Per-asset table of the distribution of cumulative returns and drawdowns."""
        import pandas as pd

        simple = np.expm1(self.cum_return / 100.0) * 100.0
        q = np.percentile(simple, [1, 5, 50, 95, 99], axis=0)
        return pd.DataFrame({
            "mean_cum_return_pct": simple.mean(axis=0),
            "p01_pct": q[0], "p05_pct": q[1], "median_pct": q[2], "p95_pct": q[3], "p99_pct": q[4],
            "mean_max_drawdown_pct": self.max_drawdown.mean(axis=0) * 100.0,
            "p99_max_drawdown_pct": np.percentile(self.max_drawdown, 99, axis=0) * 100.0,
        }, index=pd.Index(self.asset_names, name="asset"))


def default_chunk_paths(n_paths: int, horizon: int, n_assets: int, keep: str) -> int:
    """Chunk size: whole runs when small; ~8M cells per chunk when keeping paths; 65,536 for summaries."""
    if keep == "paths":
        return max(1, min(n_paths, DEFAULT_CHUNK_CELLS // max(1, horizon * n_assets)))
    return min(n_paths, 65_536)


def iter_chunks(n_paths: int, chunk_paths: int) -> Iterator[tuple[int, int]]:
    """(start, stop) path ranges of the chunks."""
    for start in range(0, n_paths, chunk_paths):
        yield start, min(n_paths, start + chunk_paths)


@dataclass(frozen=True)
class RunPlan:
    """A compiled run: kernel inputs, stream keys and the chunk list (see :func:`plan_run`)."""

    n_paths: int
    horizon: int
    chunk_paths: int
    keep: str
    keys: StreamKeys
    arrays: KernelArrays
    tasks: tuple[ChunkTask, ...]
    asset_names: tuple[str, ...]
    model_sha256: str
    #: the scenario as compiled (:func:`simulator.runstore.schedule_sha256`); None for the plain model
    schedule_sha256: str | None = None

    @property
    def n_assets(self) -> int:
        return len(self.asset_names)


def plan_run(model: MarketModel, n_paths: int, horizon: int, seed=None, *, chunk_paths: int | None = None,
             keep: str = "paths", schedule: Schedule | None = None) -> RunPlan:
    """Validate a run's arguments and compile it into kernel arrays, stream keys and chunks."""
    if not isinstance(model, MarketModel):
        raise TypeError(f"model must be a MarketModel (see MarketModel.from_json), got {type(model).__name__}")
    from simulator.limits import check_memory, check_sizes, model_bytes

    n_paths = check_int(n_paths, "n_paths")
    horizon = check_int(horizon, "horizon")
    if keep not in KEEP_CHOICES:
        raise ValueError(f"keep must be one of {', '.join(map(repr, KEEP_CHOICES))}, got {keep!r}")
    if chunk_paths is None:
        chunk_paths = default_chunk_paths(n_paths, horizon, model.n_assets, keep)
    chunk_paths = check_int(chunk_paths, "chunk_paths")
    check_sizes(n_paths=n_paths, horizon=horizon, what="simulation")
    n_chunks = -(-n_paths // chunk_paths)
    check_memory(n_chunks * 200 + 12 * 8 * horizon * model.n_assets + model_bytes(model.n_assets), "simulation",
                 f"{n_chunks:,} chunks of {chunk_paths:,} paths, {horizon:,} days x {model.n_assets:,} assets of "
                 "schedule and the model", "use fewer paths, larger chunks or a shorter horizon")
    keys = resolve_seed(seed)
    if schedule is None:
        schedule = Schedule.from_model(model, horizon)
    elif not isinstance(schedule, Schedule):
        raise TypeError(f"schedule must be a Schedule (see simulator.shocks), got {type(schedule).__name__}")
    elif schedule.horizon != horizon or schedule.assets != model.assets:
        raise ValueError("schedule was compiled for a different horizon or asset list than this simulation")
    tasks = tuple(ChunkTask(i, start, stop) for i, (start, stop) in enumerate(iter_chunks(n_paths, chunk_paths)))
    from simulator.runstore import schedule_sha256

    return RunPlan(n_paths=n_paths, horizon=horizon, chunk_paths=chunk_paths, keep=keep, keys=keys,
                   arrays=schedule.kernel_arrays(), tasks=tasks, asset_names=tuple(model.assets),
                   model_sha256=model.sha256(), schedule_sha256=schedule_sha256(schedule, model))


def execute_plan(plan: RunPlan, *, store_paths: bool, consume: Callable[[int, Any], None],
                 reducer: Callable[[int], Callable] | None = None, into: dict[str, np.ndarray] | None = None,
                 backend: str = "local", client=None, n_workers: int | None = None, n_threads: int | None = None,
                 progress: bool = False, run_dir: str | os.PathLike | None = None, resume: bool = False,
                 spec: Mapping[str, Any] | None = None,
                 verify_resumed: Callable[[Any, dict[str, np.ndarray]], bool] | None = None) -> dict:
    """Run every chunk of ``plan`` and hand each result to ``consume(index, value)``.

    Chunks already complete in ``run_dir`` (with ``resume=True``) are loaded instead of computed;
    the others run on ``backend`` and, with ``run_dir``, are committed there before being consumed.
    ``value`` is the chunk's raw outputs (written into ``into`` when given) or the reducer's output.
    ``spec`` adds the consumer's settings (reducer parameters) to the run directory's identity.
    Resumed chunks are re-verified: a random sample of them is recomputed from the run's inputs and compared
    with what the checkpoint holds (bytes for raw outputs; ``verify_resumed(stored, raw)`` for a reducer's,
    whose output may depend on the order chunks completed in); a mismatch refuses the checkpoint.

    Returns
    -------
    dict
        Execution details for ``meta``: chunking, backend, chunks computed and resumed.
    """
    backend = check_backend(backend)
    if backend != "dask" and (client is not None or n_workers is not None):
        raise ValueError("client and n_workers apply to backend='dask' only; pass backend='dask' to run on a cluster")
    if n_threads is not None:
        n_threads = check_int(n_threads, "n_threads")
    if not isinstance(resume, bool):
        raise TypeError(f"resume must be True or False, got {resume!r}")
    if resume and run_dir is None:
        raise ValueError("resume=True needs run_dir, the directory of the interrupted run")
    meta: dict[str, Any] = {"chunk_paths": plan.chunk_paths, "n_chunks": len(plan.tasks), "backend": backend}
    if reducer is not None:  # every chunk is checked where it ran, before it is reduced
        inner = reducer
        reducer = lambda index: partial(_checked_reduce, inner(index))  # noqa: E731
    store = None
    if run_dir is not None:
        from simulator.runstore import RunStore, resume_identity, run_identity

        identity = run_identity(plan, store_paths=store_paths, spec=spec)
        if resume:
            identity = resume_identity(run_dir, identity)
        store = RunStore(run_dir, identity, resume=resume)
        meta["run_dir"] = str(run_dir)
        if store.n_unsigned:
            meta["chunks_unsigned"] = store.n_unsigned
    try:
        if store is not None and store.completed:
            _verify_resumed(plan, store, store_paths=store_paths, check=verify_resumed)
        todo = []
        for task in plan.tasks:
            rec = store.completed.get(task.index) if store is not None else None
            if rec is None or (rec.start, rec.stop) != (task.start, task.stop):
                todo.append(task)
                continue
            value = store.load(task.index)
            if reducer is None:
                _check_resumed_shapes(value, into, task, store)
                _check_chunk(value, task.start, where=f"resumed chunk {task.index}")
            if into is not None:
                views = {}
                for name, arr in value.items():
                    views[name] = into[name][task.start:task.stop]
                    views[name][...] = arr
                value = views
            consume(task.index, value)
        meta["chunks_resumed"] = len(plan.tasks) - len(todo)
        meta["chunks_computed"] = len(todo)
        options: dict[str, Any] = {"n_threads": n_threads}
        if backend == "dask":
            options.update(client=client, n_workers=n_workers)
        run = get_backend(backend).run_chunks(plan.arrays, plan.keys, plan.horizon, todo, store_paths=store_paths,
                                              reducer=reducer, into=into, progress=progress, **options)
        try:
            for index, value in run:
                if reducer is None:
                    _check_chunk(value, plan.tasks[index].start)
                if store is not None:
                    task = plan.tasks[index]
                    store.save(index, task.start, task.stop, value)
                consume(index, value)
        except NonFiniteResultError as exc:
            raise _with_day(exc, plan) from None
    finally:
        if store is not None:
            store.close()
    return meta


def _first_blowup(values: dict[str, np.ndarray]) -> tuple[int, str] | None:
    """``(row, what)`` of the first path of a chunk's outputs that blew up, or None."""
    bad = None
    cum = values.get("cum_return")
    if cum is not None and cum.size:
        with np.errstate(invalid="ignore"):
            rows = ~np.isfinite(cum).all(axis=1) | (np.abs(cum) > MAX_CUM_LOG_RETURN).any(axis=1)
        if rows.any():
            bad = int(np.argmax(rows))
    for name in ("max_drawdown", "returns", "sigma"):
        arr = values.get(name)
        if arr is None or not arr.size:
            continue
        rows = ~np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1)
        if rows.any():
            first = int(np.argmax(rows))
            bad = first if bad is None else min(bad, first)
    if bad is None:
        return None
    return bad, "a value that is not a finite number"


def _blowup_day(returns: np.ndarray, sigma: np.ndarray | None) -> int | None:
    """First day (1-based) of one path ``returns (horizon, assets)`` where a value is not finite or the cumulative
    log return leaves the range of a price."""
    with np.errstate(invalid="ignore", over="ignore"):
        cum = np.cumsum(returns, axis=0)
        bad = ~np.isfinite(returns).all(axis=1) | ~np.isfinite(cum).all(axis=1) | \
            (np.abs(cum) > MAX_CUM_LOG_RETURN).any(axis=1)
        if sigma is not None:
            bad |= ~np.isfinite(sigma).all(axis=1)
    return int(np.argmax(bad)) + 1 if bad.any() else None


def _blowup_error(path: int, day: int | None, where: str = "") -> NonFiniteResultError:
    at = f"path {path}" + (f", day {day}" if day is not None else "")
    return NonFiniteResultError(
        f"the simulation blew up at {at}{' (' + where + ')' if where else ''}: a return or volatility is not a "
        f"finite number or a cumulative log return passes {MAX_CUM_LOG_RETURN:,.0f} % (beyond what a price can "
        "hold); the model's parameters or the scenario's shocks make the dynamics explode (check omega, mu, "
        "the start variance and volatility multipliers)", path, day)


def _check_chunk(values: Mapping[str, np.ndarray], start: int, *, where: str = "") -> None:
    """Raise :class:`NonFiniteResultError` naming the first path (and day, when the paths are kept) that blew up."""
    found = _first_blowup(dict(values))
    if found is None:
        return
    row, _ = found
    day = None
    if values.get("returns") is not None and values["returns"].size:
        day = _blowup_day(values["returns"][row], values.get("sigma")[row] if values.get("sigma") is not None else None)
    raise _blowup_error(start + row, day, where)


def _checked_reduce(reduce: Callable, out: dict[str, np.ndarray], start: int, stop: int) -> Any:
    """A chunk reducer that checks the raw outputs first (runs where the chunk ran)."""
    found = _first_blowup(out)
    if found is not None:
        raise _blowup_error(start + found[0], None)
    return reduce(out, start, stop)


def _check_resumed_shapes(value: Mapping[str, np.ndarray], into: Mapping[str, np.ndarray] | None, task,
                          store) -> None:
    """A resumed chunk holds the arrays of the run's outputs, one row per path of its range."""
    if into is None:
        return
    n = task.stop - task.start
    for name, full in into.items():
        if full.shape[0] == 0:
            continue
        arr = value.get(name)
        want = (n, *full.shape[1:])
        if arr is None or arr.shape != want or arr.dtype != full.dtype:
            got = "missing" if arr is None else f"{arr.dtype}{list(arr.shape)}"
            raise ValueError(f"checkpoint {str(store.directory)!r}: chunk {task.index} holds {name} {got}, expected "
                             f"{full.dtype}{list(want)} (a forged or damaged checkpoint); delete it or run again "
                             "without resume")


#: Resumed chunks recomputed to re-verify a checkpoint against the run's inputs.
RESUME_SAMPLE = 2


def _verify_resumed(plan: "RunPlan", store, *, store_paths: bool,
                    check: Callable[[Any, dict[str, np.ndarray]], bool] | None) -> None:
    """Recompute a random sample of the checkpoint's resumed chunks and compare (see :func:`execute_plan`).

    The sample is drawn from the operating system's entropy, so a forger cannot know which chunks are checked."""
    import secrets

    from simulator.backends import compute_chunk
    from simulator.runstore import encode_arrays
    from simulator.io import sha256_bytes

    done = [t for t in plan.tasks if t.index in store.completed
            and (store.completed[t.index].start, store.completed[t.index].stop) == (t.start, t.stop)]
    for task in secrets.SystemRandom().sample(done, min(RESUME_SAMPLE, len(done))):
        raw = compute_chunk(plan.arrays, plan.keys, task, plan.horizon, store_paths)
        stored = store.load(task.index)
        if check is None:
            same = sha256_bytes(encode_arrays(raw)) == store.completed[task.index].sha256 or (
                set(raw) == set(stored) and all(raw[k].shape == stored[k].shape and raw[k].dtype == stored[k].dtype
                                                and np.allclose(raw[k], stored[k], rtol=1e-9, atol=0.0) for k in raw))
        else:
            same = bool(check(stored, raw))
        if not same:
            raise ValueError(f"checkpoint {str(store.directory)!r}: chunk {task.index} (paths {task.start}..{task.stop - 1}) "
                             "does not reproduce from the run's inputs: the checkpoint was altered; delete it or "
                             "run again without resume")


def _with_day(exc: NonFiniteResultError, plan: "RunPlan") -> NonFiniteResultError:
    """``exc`` with the day of its blow-up: found without the daily paths, it is located by simulating that one
    path again with its paths kept (its stream depends only on the seed and the path index)."""
    if exc.path is None or exc.day is not None:
        return exc
    from simulator.backends import run_chunk as _run_chunk

    one = _run_chunk(plan.arrays, plan.keys, exc.path, exc.path + 1, plan.horizon, True)
    return _blowup_error(exc.path, _blowup_day(one["returns"][0], one["sigma"][0]))


def with_qmc_plan(plan: RunPlan) -> RunPlan:
    """``plan`` with quasi-Monte Carlo normals switched on (:mod:`simulator.qmc`)."""
    import dataclasses

    from simulator.qmc import with_qmc

    return dataclasses.replace(plan, arrays=with_qmc(plan.arrays, plan.keys, plan.horizon))


def simulate(model: MarketModel, n_paths: int, horizon: int, seed=None, *, chunk_paths: int | None = None,
             keep: str = "paths", n_threads: int | None = None, progress: bool = False,
             schedule: Schedule | None = None, backend: str = "local", client=None, n_workers: int | None = None,
             run_dir: str | os.PathLike | None = None, resume: bool = False, qmc: bool = False) -> SimulationResult:
    """Simulate ``n_paths`` copula-GARCH paths of ``horizon`` days from ``model``.

    Parameters
    ----------
    model : MarketModel
    n_paths, horizon : int
        Number of paths and of simulated days.
    seed : None, int, numpy.random.SeedSequence or numpy.random.Generator
        One seed for the run; path ``i`` uses a stream derived from (seed, i).
    chunk_paths : int, optional
        Paths per kernel call (one task on Dask); changes memory use, never the numbers.
    keep : {"paths", "summary"}
        ``"paths"`` keeps returns and sigmas (n_paths, horizon, n_assets); ``"summary"`` keeps only
        cumulative returns and max drawdowns per path and asset (memory independent of horizon).
        For tail risk of very many paths without keeping them, see :func:`simulator.tail.simulate_tail`.
    n_threads : int, optional
        Numba threads: of this process (local backend, default all cores) or of each task (Dask,
        default the worker's thread count). Never changes the numbers.
    progress : bool
        Show a progress bar over completed chunks (tqdm).
    schedule : Schedule, optional
        Compiled shocks (see :func:`simulator.run_scenario`); default: the plain model.
    backend : {"local", "dask", "cuda", "auto"}, default "local"
        Where chunks run: numba threads in this process, or tasks on a ``dask.distributed`` cluster
        (bit-identical numbers).
    client : distributed.Client or str, optional
        Dask only: an existing client, or a scheduler address ``"tcp://HOST:PORT"``. Default: start a
        ``LocalCluster`` of single-threaded worker processes and close it afterwards.
    n_workers : int, optional
        Dask only, without ``client``: worker processes of that local cluster (default one per core).
    run_dir : str or os.PathLike, optional
        Resumable run directory: every completed chunk is committed there atomically with its sha256
        (see :mod:`simulator.runstore`); it is left in place after the run.
    resume : bool, default False
        Continue the interrupted run in ``run_dir`` (same model, schedule, seed, sizes and chunking):
        only missing chunks are computed and the result is identical to an uninterrupted run.
    qmc : bool, default False
        Quasi-Monte Carlo: the copula normals of the first days come from a scrambled Sobol sequence (seeded
        from ``seed``; point ``i`` for path ``i``, so still independent of chunking and backend), see
        :mod:`simulator.qmc`.

    Returns
    -------
    SimulationResult
    """
    from simulator.limits import check_simulation

    if isinstance(model, MarketModel) and keep in KEEP_CHOICES:  # before the full-size arrays are allocated
        check_simulation(check_int(n_paths, "n_paths"), check_int(horizon, "horizon"), model.n_assets, keep=keep,
                         what="simulate", chunk_paths=chunk_paths)
    plan = plan_run(model, n_paths, horizon, seed, chunk_paths=chunk_paths, keep=keep, schedule=schedule)
    plan = with_qmc_plan(plan) if qmc else plan
    store = keep == "paths"
    a = plan.n_assets
    shape = (plan.n_paths, horizon, a) if store else (0, 0, a)
    out = {
        "returns": np.empty(shape), "sigma": np.empty(shape),
        "cum_return": np.empty((plan.n_paths, a)), "max_drawdown": np.empty((plan.n_paths, a)),
        "stressed_days": np.empty(plan.n_paths, np.int64),
    }
    meta = execute_plan(plan, store_paths=store, into=out, consume=lambda index, value: None, backend=backend,
                        client=client, n_workers=n_workers, n_threads=n_threads, progress=progress,
                        run_dir=run_dir, resume=resume,
                        spec={"kind": "simulate", "keep": keep, **({"qmc": True} if qmc else {})})
    return SimulationResult(
        asset_names=model.assets, n_paths=plan.n_paths, horizon=plan.horizon, keep=keep,
        cum_return=out["cum_return"], max_drawdown=out["max_drawdown"], stressed_days=out["stressed_days"],
        returns=out["returns"] if store else None, sigma=out["sigma"] if store else None,
        seed=plan.keys.to_dict(), model_sha256=plan.model_sha256, meta=meta,
    )
