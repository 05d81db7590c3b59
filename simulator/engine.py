"""The Monte Carlo engine: chunks of paths through the fused kernel, on local threads.

``simulate(model, n_paths, horizon, seed)`` is the public entry point. Paths are split into chunks
(memory is bounded by the chunk for ``keep="summary"``); each chunk runs the numba kernel in
parallel over paths. Path ``i``'s random stream depends only on (seed, i), so the numbers are
identical for any ``chunk_paths`` and thread count.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from simulator.model import MarketModel
from simulator.rng import StreamKeys, resolve_seed
from simulator.schedule import KernelArrays, Schedule

KEEP_CHOICES = ("paths", "summary")
DEFAULT_CHUNK_CELLS = 8_000_000  # path × day × asset cells per chunk when keeping paths


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
        """Long pandas DataFrame: (path, day, asset, return_pct, sigma_pct) for paths, or
        (path, asset, cum_return_pct, max_drawdown) for summaries. Days are 1-based."""
        import pandas as pd

        n, h, a = self.n_paths, self.horizon, len(self.asset_names)
        assets = pd.Categorical.from_codes(np.tile(np.arange(a), n * (h if self.returns is not None else 1)),
                                           categories=list(self.asset_names))
        if self.returns is not None:
            return pd.DataFrame({
                "path": np.repeat(np.arange(n), h * a),
                "day": np.tile(np.repeat(np.arange(1, h + 1), a), n),
                "asset": assets,
                "return_pct": self.returns.reshape(-1),
                "sigma_pct": self.sigma.reshape(-1),
            })
        return pd.DataFrame({
            "path": np.repeat(np.arange(n), a),
            "asset": assets,
            "cum_return_pct": self.cum_return.reshape(-1),
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


def _check_count(value: Any, name: str, lo: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < lo:
        raise ValueError(f"{name} must be >= {lo}, got {value}")
    return int(value)


def default_chunk_paths(n_paths: int, horizon: int, n_assets: int, keep: str) -> int:
    """Chunk size: whole runs when small; ~8M cells per chunk when keeping paths; 65,536 for summaries."""
    if keep == "paths":
        return max(1, min(n_paths, DEFAULT_CHUNK_CELLS // max(1, horizon * n_assets)))
    return min(n_paths, 65_536)


def iter_chunks(n_paths: int, chunk_paths: int) -> Iterator[tuple[int, int]]:
    """(start, stop) path ranges of the chunks."""
    for start in range(0, n_paths, chunk_paths):
        yield start, min(n_paths, start + chunk_paths)


def run_chunk(arrays: KernelArrays, keys: StreamKeys, start: int, stop: int, horizon: int, store_paths: bool,
              out: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Simulate paths ``start..stop-1`` on the local CPU; returns (or fills) the output arrays."""
    from simulator.kernels.paths import simulate_chunk

    n = stop - start
    a = arrays.s2_start.shape[0]
    if out is None:
        shape = (n, horizon, a) if store_paths else (0, 0, a)
        out = {
            "returns": np.empty(shape), "sigma": np.empty(shape),
            "cum_return": np.empty((n, a)), "max_drawdown": np.empty((n, a)),
            "stressed_days": np.empty(n, np.int64),
        }
    simulate_chunk(keys.key0, keys.key1, np.int64(start), np.int64(n), np.int64(horizon), *arrays.as_tuple(),
                   store_paths, out["returns"], out["sigma"], out["cum_return"], out["max_drawdown"],
                   out["stressed_days"])
    return out


def simulate(model: MarketModel, n_paths: int, horizon: int, seed=None, *, chunk_paths: int | None = None,
             keep: str = "paths", n_threads: int | None = None, progress: bool = False,
             schedule: Schedule | None = None) -> SimulationResult:
    """Simulate ``n_paths`` copula-GARCH paths of ``horizon`` days from ``model``.

    Parameters
    ----------
    model : MarketModel
    n_paths, horizon : int
        Number of paths and of simulated days.
    seed : None, int, numpy.random.SeedSequence or numpy.random.Generator
        One seed for the run; path ``i`` uses a stream derived from (seed, i).
    chunk_paths : int, optional
        Paths per kernel call; changes memory use, never the numbers.
    keep : {"paths", "summary"}
        ``"paths"`` keeps returns and sigmas (n_paths, horizon, n_assets); ``"summary"`` keeps only
        cumulative returns and max drawdowns per path and asset (memory independent of horizon).
    n_threads : int, optional
        Numba threads (default: all cores). Never changes the numbers.
    progress : bool
        Show a progress bar over chunks (tqdm).
    schedule : Schedule, optional
        Compiled shocks (see :func:`simulator.run_scenario`); default: the plain model.

    Returns
    -------
    SimulationResult
    """
    if not isinstance(model, MarketModel):
        raise TypeError(f"model must be a MarketModel (see MarketModel.from_json), got {type(model).__name__}")
    n_paths = _check_count(n_paths, "n_paths")
    horizon = _check_count(horizon, "horizon")
    if keep not in KEEP_CHOICES:
        raise ValueError(f"keep must be one of {', '.join(map(repr, KEEP_CHOICES))}, got {keep!r}")
    if chunk_paths is None:
        chunk_paths = default_chunk_paths(n_paths, horizon, model.n_assets, keep)
    chunk_paths = _check_count(chunk_paths, "chunk_paths")
    keys = resolve_seed(seed)
    if schedule is None:
        schedule = Schedule.from_model(model, horizon)
    elif schedule.horizon != horizon or schedule.assets != model.assets:
        raise ValueError("schedule was compiled for a different horizon or asset list than this simulation")
    arrays = schedule.kernel_arrays()
    store = keep == "paths"
    a = model.n_assets
    shape = (n_paths, horizon, a) if store else (0, 0, a)
    out = {
        "returns": np.empty(shape), "sigma": np.empty(shape),
        "cum_return": np.empty((n_paths, a)), "max_drawdown": np.empty((n_paths, a)),
        "stressed_days": np.empty(n_paths, np.int64),
    }
    import numba

    old_threads = numba.get_num_threads()
    if n_threads is not None:
        numba.set_num_threads(_check_count(n_threads, "n_threads"))
    try:
        chunks = list(iter_chunks(n_paths, chunk_paths))
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=n_paths, unit="path", unit_scale=True, desc="simulating", leave=False)
        for start, stop in chunks:
            view = {k: (v[start:stop] if (store or k not in ("returns", "sigma")) else v) for k, v in out.items()}
            run_chunk(arrays, keys, start, stop, horizon, store, view)
            if bar is not None:
                bar.update(stop - start)
        if bar is not None:
            bar.close()
    finally:
        numba.set_num_threads(old_threads)
    return SimulationResult(
        asset_names=model.assets, n_paths=n_paths, horizon=horizon, keep=keep,
        cum_return=out["cum_return"], max_drawdown=out["max_drawdown"], stressed_days=out["stressed_days"],
        returns=out["returns"] if store else None, sigma=out["sigma"] if store else None,
        seed=keys.to_dict(), model_sha256=model.sha256(),
        meta={"chunk_paths": chunk_paths, "n_chunks": len(chunks)},
    )
