"""Exact portfolio tail risk from any number of paths, in memory bounded by the tail and one chunk.

VaR and ES at level ``a`` of ``n`` scenarios only use the ``k = tail_size(n, min(levels), ci=ci)``
largest losses (see :mod:`simulator.risk`). Each chunk of paths is revalued exactly
(``P&L = sum_a pos_a (exp(cum_a / 100) - 1)``, :func:`revalue`) where it was simulated and reduced to its losses that
can still be among the ``k`` largest of the whole run; the driver merges them into a buffer of at
most ``k`` values (plus a batch of at most ``k`` + one chunk waiting to be merged) and calls
:func:`simulator.risk.var_es_from_tail`. The result is **identical**, bit for bit, to
:func:`simulator.risk.var_es` on the full vector of P&L, for any chunking, worker count or order of
completion.

Pruning. Once the driver holds ``k`` losses, their minimum ``floor`` is the ``k``-th largest of ``k``
losses of the run, hence ``floor <= L_(n-k+1)`` (the smallest loss the estimators use); chunks
dispatched afterwards send back only losses ``>= floor``. Ties at the floor are kept, so every loss
``>= L_(n-k+1)`` reaches the driver whatever the timing, and the merged top ``k`` is exact.

Mean and standard deviation of the P&L are exact too: each chunk returns its sum (and sum of squares)
as a short array of non-overlapping float64 terms whose exact sum is the exact sum of the chunk
(computed with integer arithmetic on the mantissas); the driver adds them as Python integers and
rounds once, so ``mean_pnl`` is the correctly rounded mean of all ``n`` P&L values.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from fractions import Fraction
from functools import partial
from typing import Any, Mapping, Sequence

import numpy as np

from simulator.checks import check_level, check_levels
from simulator.constants import DEFAULT_LEVELS
from simulator.risk import (
    RiskMeasures,
    TailRisk,
    _check_enough,
    tail_size,
    var_es_from_tail,
)

__all__ = ["TailResult", "TailAccumulator", "simulate_tail", "tail_risk", "resolve_positions", "revalue",
           "chunk_tail", "exact_sum_terms"]

# Every float64 is an integer multiple of 2**-1074; scaling by 2**_SCALE_BITS makes every mantissa
# times its power of two an integer (frexp exponents go down to -1073, mantissas carry 53 bits).
_SCALE_BITS = 1127


# --------------------------------------------------------------------------------------------
# exact sums
# --------------------------------------------------------------------------------------------
def _exact_scaled_sum(x: np.ndarray) -> int:
    """``sum(x) * 2**_SCALE_BITS`` exactly, as a Python int (vectorised over the mantissas)."""
    x = np.ascontiguousarray(x, dtype=np.float64).ravel()
    if x.size == 0:
        return 0
    m, e = np.frexp(x)
    mant = (m * 9007199254740992.0).astype(np.int64)  # m * 2**53: exact integer, |mant| < 2**53
    hi = mant >> 26  # floor division keeps mant == hi * 2**26 + lo with 0 <= lo < 2**26
    lo = mant & ((1 << 26) - 1)
    order = np.argsort(e, kind="stable")
    es = e[order]
    starts = np.flatnonzero(np.concatenate(([True], es[1:] != es[:-1])))
    # |hi| < 2**27, lo < 2**26: int64 group sums are exact for fewer than 2**36 values
    hs = np.add.reduceat(hi[order], starts)
    ls = np.add.reduceat(lo[order], starts)
    total = 0
    for ex, h, l in zip(es[starts].tolist(), hs.tolist(), ls.tolist()):
        # x = mant * 2**(e - 53)  ->  x * 2**1127 = mant << (e + 1074)
        total += ((h << 26) + l) << (ex + 1074)
    return total


def _terms_from_scaled(total: int) -> np.ndarray:
    """Non-overlapping float64 terms whose exact sum is ``total / 2**_SCALE_BITS``."""
    denom = 1 << _SCALE_BITS
    terms = []
    while total:
        d = total / denom  # int / int is correctly rounded in Python
        num, den = d.as_integer_ratio()
        total -= num * (denom // den)
        terms.append(d)
    return np.array(terms, dtype=np.float64)


def _scaled_from_terms(terms: np.ndarray) -> int:
    denom = 1 << _SCALE_BITS
    total = 0
    for d in np.asarray(terms, dtype=np.float64).tolist():
        num, den = d.as_integer_ratio()
        total += num * (denom // den)
    return total


def exact_sum_terms(x: Any) -> np.ndarray:
    """The exact sum of ``x`` as a few float64 terms (their exact sum equals that of ``x``).

    Parameters
    ----------
    x : array of float64
        Finite values.

    Returns
    -------
    ndarray of shape (m,)
        Non-overlapping terms, largest first (``m`` is at most ~20); ``math.fsum`` of them is the
        correctly rounded sum of ``x``, and terms of several arrays can be merged exactly.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.size and not np.all(np.isfinite(x)):
        raise ValueError("exact_sum_terms needs finite values")
    return _terms_from_scaled(_exact_scaled_sum(x))


# --------------------------------------------------------------------------------------------
# positions
# --------------------------------------------------------------------------------------------
def resolve_positions(positions: Any, asset_names: Sequence[str]) -> np.ndarray:
    """Positions as a float64 array of shape (n_assets,) in the model's asset order.

    Parameters
    ----------
    positions : mapping of str to float, or array of shape (n_assets,)
        Currency amount held in each asset at time 0 (negative = short). A mapping may omit assets
        (held at 0); its keys must be asset names of the model.
    asset_names : sequence of str
        The model's assets, in order.
    """
    names = list(asset_names)
    if isinstance(positions, Mapping):
        out = np.zeros(len(names))
        for key, val in positions.items():
            if key not in names:
                raise ValueError(f"positions names asset {key!r}, which is not in the model; valid assets: "
                                 f"{', '.join(names)}")
            if isinstance(val, bool) or not isinstance(val, numbers.Real):
                raise TypeError(f"position of {key!r} must be a number (currency amount), got {val!r}")
            if not math.isfinite(float(val)):
                raise ValueError(f"position of {key!r} must be finite, got {val!r}")
            _check_size(float(val), key)
            out[names.index(key)] = float(val)
        return out
    if positions is None or isinstance(positions, (str, bytes)):
        raise TypeError("positions must be a mapping {asset: amount} or an array of one amount per asset, "
                        f"got {type(positions).__name__}")
    arr = np.asarray(positions)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number)) or np.iscomplexobj(arr):
        raise TypeError(f"positions must be real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if arr.shape != (len(names),):
        raise ValueError(f"positions must have shape ({len(names)},), one amount per asset "
                         f"({', '.join(names)}), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise ValueError(f"position of {names[bad]!r} must be finite, got {arr[bad]}")
    for name, val in zip(names, arr.tolist()):
        _check_size(val, name)
    return arr


def _check_size(value: float, name: str) -> None:
    """A position beyond :data:`simulator.constants.MAX_POSITION` (its P&L squared would overflow)."""
    from simulator.constants import MAX_POSITION

    if abs(value) > MAX_POSITION:
        raise ValueError(f"position of {name!r} is {value:.6g}; a position must lie within +-{MAX_POSITION:.0e} "
                         "(a currency amount)")


def revalue(cum_return: Any, positions: Any) -> np.ndarray:
    """Portfolio P&L per path by exact revaluation, the same bits whatever the chunking.

    ``P&L = sum_a pos_a (exp(cum_a / 100) - 1)``, summed over assets in asset order with elementwise
    IEEE operations. The value of :func:`simulator.risk.pnl_from_cum_returns`, but that function uses a
    BLAS matrix-vector product whose rounding depends on how the rows are blocked (measured: with 8 or
    more assets a path's P&L can differ in the last bits between a chunk and the full array), which
    would break the bit-identity of chunked tail measures.

    Parameters
    ----------
    cum_return : array of shape (n_paths, n_assets)
        Cumulative percent log returns over the holding period.
    positions : array of shape (n_assets,)
        Currency amounts (negative = short).

    Returns
    -------
    ndarray of shape (n_paths,)
        P&L in the currency of the positions.
    """
    cum = np.asarray(cum_return, dtype=np.float64)
    pos = np.asarray(positions, dtype=np.float64)
    if cum.ndim != 2 or pos.shape != (cum.shape[1],):
        raise ValueError(f"cum_return must have shape (n_paths, n_assets) and positions (n_assets,); got "
                         f"{cum.shape} and {pos.shape}")
    if cum.size and not np.all(np.isfinite(cum)):
        bad = np.argwhere(~np.isfinite(cum))[0]
        raise ValueError(f"cum_return contains a non-finite value at (path, asset) = {tuple(int(i) for i in bad)}")
    growth = np.expm1(cum / 100.0)
    pnl = np.zeros(cum.shape[0])
    for a in range(cum.shape[1]):
        pnl += growth[:, a] * pos[a]
    return pnl


# --------------------------------------------------------------------------------------------
# per-chunk reduction (runs where the chunk ran) and the driver-side merge
# --------------------------------------------------------------------------------------------
def chunk_tail(out: Mapping[str, np.ndarray], start: int, stop: int, *, positions: np.ndarray, k: int,
               floor: float) -> dict[str, np.ndarray]:
    """Reduce one chunk's outputs to what the tail merge needs.

    Parameters
    ----------
    out : mapping with ``"cum_return"`` of shape (n_chunk, n_assets)
        The chunk's cumulative percent log returns.
    start, stop : int
        The chunk's path range (unused; part of the reducer contract).
    positions : ndarray of shape (n_assets,)
        Currency amounts.
    k : int
        Losses the whole run needs (``tail_size``).
    floor : float
        Losses below it cannot be among the ``k`` largest of the run (``-inf`` before the driver
        holds ``k`` losses).

    Returns
    -------
    dict
        ``top``: at most ``k`` largest losses ``>= floor`` (unsorted); ``pnl_sum``, ``pnl_sumsq``: exact
        sum terms of the P&L and of its squares; ``n``: (1,) int64 path count.
    """
    pnl = revalue(out["cum_return"], positions)
    losses = -pnl
    if floor > -math.inf:
        losses = losses[losses >= floor]
    if losses.size > k:
        losses = np.partition(losses, losses.size - k)[losses.size - k:]
    return {
        "top": np.ascontiguousarray(losses, dtype=np.float64),
        "pnl_sum": exact_sum_terms(pnl),
        "pnl_sumsq": exact_sum_terms(pnl * pnl),
        "n": np.array([pnl.shape[0]], dtype=np.int64),
    }


class TailAccumulator:
    """Merge chunk reductions (:func:`chunk_tail`) into the exact ``k`` largest losses and exact moments.

    Memory: at most ``k`` merged losses plus a batch of at most ``k`` + one chunk's losses waiting to be
    merged (merging in batches keeps the cost linear in the number of losses received); a merge briefly
    holds their concatenation and a copy of the ``k`` kept values.

    Parameters
    ----------
    n : int
        Total number of paths of the run.
    k : int
        Losses to keep (``tail_size(n, min(levels), ci=ci)``).
    """

    def __init__(self, n: int, k: int) -> None:
        self.n = int(n)
        self.k = int(k)
        self._top = np.empty(0)
        self._batch: list[np.ndarray] = []
        self._batch_size = 0
        self._floor = -math.inf
        self._sum = 0
        self._sumsq = 0
        self._count = 0
        self.n_received = 0  # losses received from chunks (after pruning)

    @property
    def floor(self) -> float:
        """Losses below this value can no longer be among the ``k`` largest (``-inf`` until ``k`` are held)."""
        return self._floor

    @property
    def count(self) -> int:
        """Paths merged so far."""
        return self._count

    def add(self, record: Mapping[str, np.ndarray]) -> None:
        """Merge one chunk's reduction."""
        top = np.asarray(record["top"], dtype=np.float64)
        self._sum += _scaled_from_terms(record["pnl_sum"])
        self._sumsq += _scaled_from_terms(record["pnl_sumsq"])
        self._count += int(np.asarray(record["n"])[0])
        self.n_received += top.size
        if top.size:
            self._batch.append(top)
            self._batch_size += top.size
        if self._batch_size >= self.k or self._top.size < self.k:
            self._merge()

    def _merge(self) -> None:
        if not self._batch:
            return
        allv = np.concatenate([self._top, *self._batch])
        self._top, self._batch, self._batch_size = allv[:0], [], 0  # release the inputs before partitioning
        if allv.size > self.k:
            allv.partition(allv.size - self.k)  # in place
            allv = allv[allv.size - self.k:].copy()  # own the k values, not a view of the whole batch
        self._top = allv
        if self._top.size == self.k:
            self._floor = float(self._top.min())

    def largest_losses(self) -> np.ndarray:
        """The merged largest losses, sorted in descending order (at most ``k``)."""
        self._merge()
        return -np.sort(-self._top)

    def mean_std(self) -> tuple[float, float]:
        """Correctly rounded mean of the P&L and its sample standard deviation (ddof=1)."""
        n = self._count
        if n == 0:
            raise ValueError("no paths merged")
        denom = 1 << _SCALE_BITS
        s1 = Fraction(self._sum, denom)
        s2 = Fraction(self._sumsq, denom)
        mean = s1 / n
        var = (s2 - s1 * s1 / n) / (n - 1) if n > 1 else Fraction(0)
        return float(mean), math.sqrt(max(float(var), 0.0))


# --------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TailResult:
    """Exact VaR/ES of a portfolio over a simulated horizon.

    Attributes
    ----------
    risk : RiskMeasures
        VaR and ES per level with confidence intervals (loss = -P&L, currency); ``result[0.99].es``.
    n : int
        Number of paths.
    k : int
        Largest losses kept (``tail_size``): all the estimators need.
    mean_pnl, std_pnl : float
        Mean (correctly rounded) and sample standard deviation of the portfolio P&L (currency).
    levels : tuple of float
    ci : float
        Confidence of the intervals.
    positions : tuple of float
        Currency amount per asset.
    asset_names : tuple of str
    horizon : int
        Holding period in days (the simulated horizon).
    largest_losses : ndarray of shape (k,)
        The ``k`` largest losses, descending.
    seed : dict
        Seed entropy and spawn key (replay with :func:`simulator.rng.seed_from_record`).
    model_sha256 : str
    meta : dict
        Chunking, backend and resume details (not part of the numbers).
    """

    risk: RiskMeasures
    n: int
    k: int
    mean_pnl: float
    std_pnl: float
    levels: tuple[float, ...]
    ci: float
    positions: tuple[float, ...]
    asset_names: tuple[str, ...]
    horizon: int
    largest_losses: np.ndarray = field(repr=False, compare=False)
    seed: dict = field(default_factory=dict)
    model_sha256: str = ""
    meta: dict = field(default_factory=dict, compare=False)

    def __getitem__(self, level: float) -> TailRisk:
        return self.risk[level]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict of the numbers and what produced them (no run-specific timing)."""
        return {
            "n_paths": self.n,
            "horizon_days": self.horizon,
            "tail_size": self.k,
            "ci": self.ci,
            "positions": dict(zip(self.asset_names, self.positions)),
            "mean_pnl": self.mean_pnl,
            "std_pnl": self.std_pnl,
            "risk": self.risk.to_dict(),
            "seed": self.seed,
            "model_sha256": self.model_sha256,
            "units": {"pnl": "currency of the positions", "var_es": "loss (-P&L), positive = loss"},
        }

    def to_frame(self):
        """``pandas.DataFrame`` with one row per level."""
        return self.risk.to_frame()


def _tail_k(n: int, levels: tuple[float, ...], ci: float) -> int:
    return max(tail_size(n, lv, ci=ci) for lv in levels)


def _finish(acc: TailAccumulator, *, levels, ci, positions, asset_names, horizon, seed, model_sha256,
            meta) -> TailResult:
    if acc.count != acc.n:
        raise RuntimeError(f"tail merge saw {acc.count} paths, expected {acc.n}")
    desc = acc.largest_losses()
    risk = var_es_from_tail(desc, acc.n, levels, ci=ci)
    mean, std = acc.mean_std()
    return TailResult(
        risk=risk, n=acc.n, k=acc.k, mean_pnl=mean, std_pnl=std, levels=tuple(levels), ci=ci,
        positions=tuple(float(p) for p in positions), asset_names=tuple(asset_names), horizon=int(horizon),
        largest_losses=desc, seed=dict(seed), model_sha256=model_sha256, meta=dict(meta),
    )


def tail_risk(cum_return: Any, positions: Any, *, levels: float | Sequence[float] = DEFAULT_LEVELS, ci: float = 0.95,
              asset_names: Sequence[str] | None = None, horizon: int = 0, seed: dict | None = None,
              model_sha256: str = "") -> TailResult:
    """:class:`TailResult` of paths already in memory (e.g. ``SimulationResult.cum_return``).

    Same numbers as :func:`simulate_tail` on the same paths.

    Parameters
    ----------
    cum_return : array of shape (n_paths, n_assets)
        Cumulative percent log returns over the holding period.
    positions : mapping or array of shape (n_assets,)
        Currency amounts (see :func:`resolve_positions`).
    levels, ci
        Confidence levels and interval confidence.
    asset_names : sequence of str, optional
        Asset labels (default ``asset_0, ...``).
    """
    cum = np.asarray(cum_return, dtype=np.float64)
    if cum.ndim != 2:
        raise ValueError(f"cum_return must have shape (n_paths, n_assets), got {cum.shape}")
    names = tuple(asset_names) if asset_names is not None else tuple(f"asset_{i}" for i in range(cum.shape[1]))
    pos = resolve_positions(positions, names)
    levels = check_levels(levels)
    ci = check_level(ci, "ci")
    n = cum.shape[0]
    if n < 2:
        raise ValueError(f"tail risk needs at least 2 paths, got {n}")
    k = _tail_k(n, levels, ci)
    acc = TailAccumulator(n, k)
    acc.add(chunk_tail({"cum_return": cum}, 0, n, positions=pos, k=k, floor=-math.inf))
    return _finish(acc, levels=levels, ci=ci, positions=pos, asset_names=names, horizon=horizon,
                   seed=seed or {}, model_sha256=model_sha256, meta={})


def simulate_tail(model, n_paths: int, horizon: int, seed=None, *, positions: Any,
                  levels: float | Sequence[float] = DEFAULT_LEVELS, ci: float = 0.95, schedule=None,
                  chunk_paths: int | None = None, backend: str = "local", client=None, n_workers: int | None = None,
                  n_threads: int | None = None, progress: bool = False, run_dir=None,
                  resume: bool = False, qmc: bool = False, importance: str | None = None, **importance_options):
    """Exact portfolio VaR/ES over ``horizon`` days from ``n_paths`` paths, without keeping the paths.

    Memory is bounded by the tail (``k = tail_size(n_paths, min(levels), ci=ci)`` losses, 8 bytes each:
    ~20 MB for 10^8 paths at 97.5%) and one chunk, so 10^8 paths run on a laptop or a cluster. The
    numbers equal :func:`simulator.risk.var_es` on the full P&L vector of :func:`simulator.simulate`
    with the same seed, for any backend, chunking or worker count.

    Parameters
    ----------
    model : MarketModel
    n_paths, horizon : int
        Paths and holding period in days.
    seed : None, int, SeedSequence or Generator
        As for :func:`simulator.simulate` (same seed, same paths).
    positions : mapping of str to float, or array of shape (n_assets,)
        Currency amount held in each asset (negative = short). P&L per path is
        ``sum_a pos_a (exp(cum_a / 100) - 1)`` (exact revaluation, buy and hold).
    levels : float or sequence of float, default (0.975, 0.99)
        VaR/ES confidence levels.
    ci : float, default 0.95
        Confidence of the intervals (order-statistic for VaR, asymptotic for ES).
    schedule : Schedule, optional
        Compiled shocks; default the plain model.
    chunk_paths : int, optional
        Paths per chunk (default 65,536); never changes the numbers.
    backend : {"local", "dask", "cuda", "auto"}
        Where the chunks run; see :func:`simulator.simulate`.
    client, n_workers, n_threads, progress
        As for :func:`simulator.simulate`.
    run_dir : path, optional
        Resumable run directory (every completed chunk's reduction is committed there).
    resume : bool
        Reuse the verified chunks in ``run_dir`` of an interrupted run with the same settings.
    qmc : bool
        Quasi-Monte Carlo normals (see :func:`simulator.simulate`).
    importance : {None, "tilt"}
        ``"tilt"``: importance sampling (:func:`simulator.importance.simulate_importance`, which takes
        ``importance_options`` such as ``tilt``, ``design_level``, ``pilot_paths``): the copula normals are
        shifted toward the loss and the paths weighted; returns an
        :class:`~simulator.importance.ImportanceResult` (weighted VaR/ES with standard errors). No
        ``run_dir``/``resume``.

    Returns
    -------
    TailResult (ImportanceResult with ``importance="tilt"``)
    """
    if importance is not None or importance_options:
        if importance != "tilt":
            raise ValueError(f"importance must be None or 'tilt', got {importance!r}")
        if run_dir is not None or resume:
            raise ValueError("importance sampling keeps no resumable run directory; drop run_dir/resume")
        from simulator.importance import simulate_importance

        return simulate_importance(model, n_paths, horizon, seed, positions=positions, levels=levels, ci=ci,
                                   schedule=schedule, chunk_paths=chunk_paths, backend=backend, client=client,
                                   n_workers=n_workers, n_threads=n_threads, progress=progress, qmc=qmc,
                                   **importance_options)
    from simulator.engine import execute_plan, plan_run, with_qmc_plan

    plan = plan_run(model, n_paths, horizon, seed, chunk_paths=chunk_paths, keep="summary", schedule=schedule)
    plan = with_qmc_plan(plan) if qmc else plan
    pos = resolve_positions(positions, model.assets)
    levels = check_levels(levels)
    ci = check_level(ci, "ci")
    if plan.n_paths < 2:
        raise ValueError(f"tail risk needs at least 2 paths, got n_paths = {plan.n_paths}")
    for lv in levels:  # before simulating anything
        _check_enough(plan.n_paths, lv)
    k = _tail_k(plan.n_paths, levels, ci)
    acc = TailAccumulator(plan.n_paths, k)

    def reducer(index: int):
        return partial(chunk_tail, positions=pos, k=k, floor=acc.floor)

    def verify(stored, raw) -> bool:
        """A resumed chunk's reduction against its recomputed outputs: the same path count and exact sums, and
        its losses the largest of the chunk's (how many depends on when the chunk completed)."""
        full = chunk_tail(raw, 0, 0, positions=pos, k=k, floor=-math.inf)
        try:
            top = np.sort(np.asarray(stored["top"], dtype=np.float64))
            same_sums = all(np.array_equal(np.asarray(stored[key]), full[key]) for key in ("n", "pnl_sum", "pnl_sumsq"))
        except (KeyError, TypeError, ValueError):
            return False
        expect = np.sort(full["top"])[len(full["top"]) - top.size:] if top.size <= full["top"].size else None
        return same_sums and expect is not None and np.array_equal(top, expect)

    meta = execute_plan(
        plan, store_paths=False, reducer=reducer, consume=lambda index, value: acc.add(value),
        backend=backend, client=client, n_workers=n_workers, n_threads=n_threads, progress=progress,
        run_dir=run_dir, resume=resume,
        spec={"kind": "tail", "positions": pos.tolist(), "levels": list(levels), "ci": ci, "k": k,
              **({"qmc": True} if qmc else {})},
        verify_resumed=verify,
    )
    meta["losses_received"] = acc.n_received
    return _finish(acc, levels=levels, ci=ci, positions=pos, asset_names=model.assets, horizon=plan.horizon,
                   seed=plan.keys.to_dict(), model_sha256=plan.model_sha256, meta=meta)
