"""Importance sampling for portfolio tail risk: a mean shift of the copula normals toward the loss.

Plain Monte Carlo spends ``1 - a`` of its paths beyond the ``a`` quantile: 1,000 of 10^6 at 99.9 %. Here
every simulated day's vector of **independent** standard normals ``z_t`` (those the Gaussian and t copulas
turn into correlated draws, before the Cholesky product and before the t copula's chi-square mixing) is
drawn from ``N(theta_t, I)`` instead of ``N(0, I)``, and each path carries its likelihood ratio

    ``log w = sum_t ( -theta_t . z_t + |theta_t|^2 / 2 )``   (``z_t`` the shifted draw),

computed in the kernel (:func:`simulator.kernels.paths._tilt_lanes`). Everything else a path draws (regime
chain, the t copula's mixing variable, jumps, replay rows) keeps its law, so ``E_tilt[w f(path)] = E[f(path)]``
exactly for any ``f``: the estimators below are unbiased (VaR/ES: consistent, like plain Monte Carlo's).
Archimedean copulas do not draw through independent normals and are refused. Days that draw no copula
normals (historical replay) or draw them conditionally (``anchored_path``) are not shifted.

The shift (:func:`design_tilt`) comes from the reverse stress test's most likely breach point: a pilot run
of plain paths (independent streams derived from the run seed), its loss quantile as the threshold, and
:func:`simulator.reverse.reverse_stress`'s point ``z*`` (normal scores of the horizon moves, correlation
``R``). A horizon move's normal score is about ``sum_t L u_t / sqrt(H)`` for daily independent normals
``u_t`` and the copula's Cholesky factor ``L``; the most likely daily normals behind ``z*`` are then
``u_t = L^{-1} z* / sqrt(H)`` on each of the ``H`` shifted days. The direction is the design point's; its
length (the Mahalanobis distance of the whole shift) is ``Phi^{-1}(design_level)``, by default 2.58
(``design_level`` 0.995). For a linear loss of Gaussian moves the 99.9 % quantile would call for 3.09, but with
GARCH marginals and a t copula the tail is reached with smaller normals. On the bundled model
(``benchmarks/importance.py --sweep``) the variance of the 99.9 % and 99.97 % ES was flat within its noise for
lengths 1.96-3.43, but one run at 3.09 met heavy weights (a variance reduction of 11 instead of 40-60, stated
errors a third too small); the shorter default keeps the weights lighter.

Estimators (:func:`weighted_var_es`), for losses ``L_i`` with weights ``w_i`` over ``n`` paths: the tail
probability ``P(L > x) ~ (1/n) sum w_i 1{L_i > x}``; VaR is the smallest ``x`` with that at most ``1 - a``
(plain Monte Carlo's order statistic when every ``w_i = 1``), ES the weighted mean of the losses beyond it
with the fractional share of the VaR (again :func:`simulator.risk.var_es`'s value with unit weights).
Standard errors: ES from its influence function, ``sd(w (L - VaR)^+) / (sqrt(n) (1 - a))``; VaR from the
confidence interval of the tail probability at the VaR, mapped through the weighted quantile.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Mapping, Sequence

import numpy as np
from scipy import linalg, special, stats

from simulator.checks import check_int, check_level, check_levels
from simulator.tail import resolve_positions, revalue

__all__ = ["TAIL_LEVELS", "WeightedTailRisk", "TiltDesign", "ImportanceResult", "weighted_var_es", "design_tilt",
           "tilt_from_point", "simulate_importance"]

#: the levels the tail estimators report by default
TAIL_LEVELS: tuple[float, ...] = (0.99, 0.999, 0.9997)
#: copula family codes that draw through independent normals (independent, gaussian, t)
_ELLIPTICAL = (0, 1, 2)


@dataclass(frozen=True)
class WeightedTailRisk:
    """VaR and ES of the loss at one level from weighted paths, with standard errors.

    ``tail_mass``: the estimated probability beyond the VaR; ``n_beyond``: paths beyond it."""

    level: float
    var: float
    es: float
    var_se: float
    es_se: float
    var_ci: tuple[float, float]
    es_ci: tuple[float, float]
    tail_mass: float
    n_beyond: int
    n: int
    ci: float

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}


def _as_1d(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains a value that is not a finite number (index {int(np.argmin(np.isfinite(arr)))})")
    return arr


def weighted_var_es(losses: Any, log_weights: Any = None, levels: float | Sequence[float] = TAIL_LEVELS, *,
                    ci: float = 0.95) -> tuple[WeightedTailRisk, ...]:
    """Weighted VaR/ES of ``losses`` (positive = loss) at each level, with standard errors.

    Parameters
    ----------
    losses : array (n,)
    log_weights : array (n,), optional
        Log likelihood ratios of the paths (default: every weight 1, plain Monte Carlo).
    levels : float or sequence of float
    ci : float
        Confidence of the intervals (normal, ``estimate -/+ z se``; the VaR interval is that of the tail
        probability mapped through the weighted quantile).
    """
    loss = _as_1d(losses, "losses")
    n = loss.size
    if n < 2:
        raise ValueError(f"weighted VaR/ES needs at least 2 paths, got {n}")
    w = np.ones(n) if log_weights is None else np.exp(_as_1d(log_weights, "log_weights"))
    if w.shape != loss.shape:
        raise ValueError(f"log_weights has shape {w.shape}, losses {loss.shape}: one weight per loss")
    levels = check_levels(levels)
    ci = check_level(ci, "ci")
    zc = float(stats.norm.ppf(0.5 + ci / 2.0))
    order = np.argsort(-loss, kind="stable")
    desc, wd = loss[order], w[order]
    above = np.cumsum(wd) / n  # above[j]: estimated P(L >= desc[j]) (mass of the j + 1 largest)

    def split(p: float) -> int:
        """Paths strictly beyond the weighted (1 - p) quantile: the most whose mass is at most p."""
        return int(np.searchsorted(above, p * (1.0 + 1e-12), side="right"))

    out = []
    for lv in levels:
        p = 1.0 - lv
        m = split(p)
        if m >= n:
            raise ValueError(f"level {lv}: the paths' total weight {above[-1]:.3g} does not reach the tail mass {p:.3g}"
                             "; use more paths or a smaller shift")
        var = float(desc[m])
        mass = float(above[m - 1]) if m else 0.0
        es = (float(np.dot(wd[:m], desc[:m])) / n + var * (p - mass)) / p
        es = max(es, var)
        y = wd * np.maximum(desc - var, 0.0)
        es_se = float(np.std(y) / math.sqrt(n) / p)
        ind = wd[:m]
        p_se = math.sqrt(max(float(np.dot(ind, ind)) / n - mass * mass, 0.0) / n)
        lo = float(desc[min(split(p + zc * p_se), n - 1)])
        hi = float(desc[min(split(max(p - zc * p_se, 0.0)), n - 1)])
        out.append(WeightedTailRisk(level=lv, var=var, es=es, var_se=(hi - lo) / (2.0 * zc), es_se=es_se,
                                    var_ci=(lo, hi), es_ci=(es - zc * es_se, es + zc * es_se), tail_mass=mass,
                                    n_beyond=m, n=n, ci=ci))
    return tuple(out)


@dataclass(frozen=True)
class TiltDesign:
    """The mean shift of the copula normals and where it came from.

    Attributes
    ----------
    theta : ndarray (horizon, n_assets)
        Shift of each day's independent normals (zero on days that draw none).
    point : ndarray (n_assets,) or None
        The reverse stress test's most likely breach point (normal scores of the horizon moves).
    threshold : float or None
        The pilot's loss threshold it was found for (currency).
    distance : float
        Mahalanobis length of the whole shift, ``sqrt(sum theta^2)``.
    pilot_paths : int
    """

    theta: np.ndarray = field(repr=False)
    point: np.ndarray | None
    threshold: float | None
    distance: float
    pilot_paths: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"point": None if self.point is None else [float(v) for v in self.point],
                "threshold": self.threshold, "distance": self.distance, "pilot_paths": self.pilot_paths,
                "theta_first_day": [float(v) for v in self.theta[0]] if self.theta.size else []}


def _check_tiltable(arrays) -> None:
    bad = sorted({int(c) for c in np.asarray(arrays.model.cop_type) if int(c) not in _ELLIPTICAL})
    if bad:
        from simulator.families import COPULA_FAMILIES

        names = [name for name, fam in COPULA_FAMILIES.items() if fam.code in bad]
        raise ValueError(f"importance sampling shifts the independent normals of Gaussian, t and independent copulas; "
                         f"this model or scenario uses {', '.join(names) or bad} (Archimedean copulas draw no such "
                         "normals): run it without importance sampling")


def _shifted_days(arrays, horizon: int) -> np.ndarray:
    """Days whose copula normals the kernel shifts: no replay, no anchoring."""
    sh = arrays.shocks
    replay = np.asarray(sh.rep_hi[:horizon]) > np.asarray(sh.rep_lo[:horizon])
    return ~(replay | np.asarray(arrays.anchors.anc_day[:horizon], dtype=bool))


def tilt_from_point(arrays, horizon: int, point: Any, distance: float | None = None) -> np.ndarray:
    """The daily shift ``theta`` (horizon, n_assets) behind a point ``z*`` in the normal scores of the horizon
    moves: ``L_t^{-1} z* / sqrt(H)`` on each of the ``H`` shifted days (``L_t``: the Cholesky factor of the day's
    copula set, the first regime's when the day has no override), rescaled to Mahalanobis length ``distance``
    when given."""
    z = np.asarray(point, dtype=np.float64)
    n = arrays.n_assets
    if z.shape != (n,) or not np.all(np.isfinite(z)):
        raise ValueError(f"the design point must be {n} finite normal scores, got {z!r}")
    days = _shifted_days(arrays, horizon)
    n_days = int(days.sum())
    theta = np.zeros((horizon, n))
    if n_days == 0:
        raise ValueError("no day of this scenario draws copula normals (every day replays history or is anchored): "
                         "importance sampling has nothing to shift")
    day_cop = np.asarray(arrays.model.day_copula)
    for t in np.flatnonzero(days):
        c = int(day_cop[t]) if day_cop[t] >= 0 else 0
        theta[t] = linalg.solve_triangular(np.asarray(arrays.model.cop_chol[c]), z, lower=True) / math.sqrt(n_days)
    length = math.sqrt(float(np.sum(theta * theta)))
    if distance is not None:
        if length == 0.0:
            raise ValueError("the design point is the origin: no loss direction to shift toward")
        theta *= float(distance) / length
    return theta


def design_tilt(model, horizon: int, positions: Any, seed=None, *, schedule=None, design_level: float = 0.995,
                pilot_paths: int = 20_000, pilot_quantile: float = 0.99) -> TiltDesign:
    """The importance-sampling shift of a portfolio from the reverse stress test's most likely breach point.

    Parameters
    ----------
    model : MarketModel
    horizon : int
    positions : mapping or array
        Currency amount per asset (as :func:`simulator.tail.simulate_tail`).
    seed
        The run's seed; the pilot runs on independent streams derived from it (so the shift does not depend
        on the paths it weights).
    schedule : Schedule, optional
        Compiled shocks; default the plain model.
    design_level : float
        The shift's Mahalanobis length is ``Phi^{-1}(design_level)`` (2.58 at the default 0.995).
    pilot_paths : int
        Plain paths of the pilot run.
    pilot_quantile : float
        The pilot's loss quantile used as the reverse stress threshold.
    """
    from simulator.engine import plan_run, simulate
    from simulator.reverse import reverse_stress
    from simulator.seeding import resolve_seed

    design_level = check_level(design_level, "design_level")
    pilot_quantile = check_level(pilot_quantile, "pilot_quantile")
    pilot_paths = check_int(pilot_paths, "pilot_paths", lo=100)
    pos = resolve_positions(positions, model.assets)
    plan = plan_run(model, pilot_paths, horizon, seed, keep="summary", schedule=schedule)
    _check_tiltable(plan.arrays)
    keys = plan.keys
    pilot_seed = np.random.SeedSequence(keys.entropy, spawn_key=(*keys.spawn_key, 0x7117))
    assert resolve_seed(pilot_seed).key0 != keys.key0
    sim = simulate(model, pilot_paths, horizon, pilot_seed, keep="summary", schedule=schedule)
    moves = sim.cum_return

    def loss_fn(x: np.ndarray) -> np.ndarray:
        return -(np.expm1(np.atleast_2d(x) / 100.0) @ pos)

    losses = loss_fn(moves)
    threshold = float(np.quantile(losses, pilot_quantile))
    res = reverse_stress(moves, loss_fn, threshold, factors=model.assets, n_clusters=1)
    dist = float(special.ndtri(design_level))
    theta = tilt_from_point(plan.arrays, horizon, res.point.z, dist)
    return TiltDesign(theta=theta, point=np.asarray(res.point.z, dtype=float), threshold=threshold, distance=dist,
                      pilot_paths=pilot_paths)


@dataclass(frozen=True)
class ImportanceResult:
    """Portfolio VaR/ES from importance-sampled paths.

    Attributes
    ----------
    risk : tuple of WeightedTailRisk
        One per level; ``result[0.999].es``.
    n : int
        Paths.
    mean_loss, mean_loss_se : float
        Weighted mean loss (-P&L) and its standard error.
    weight_mean, weight_mean_se : float
        Mean likelihood ratio (1 in expectation) and its standard error.
    ess : float
        Kish effective sample size ``(sum w)^2 / sum w^2``.
    design : TiltDesign
    losses, log_weights : ndarray (n,)
        Every path's loss and log likelihood ratio, in path order.
    """

    risk: tuple[WeightedTailRisk, ...]
    n: int
    horizon: int
    mean_loss: float
    mean_loss_se: float
    weight_mean: float
    weight_mean_se: float
    ess: float
    design: TiltDesign
    positions: tuple[float, ...]
    asset_names: tuple[str, ...]
    losses: np.ndarray = field(repr=False, compare=False)
    log_weights: np.ndarray = field(repr=False, compare=False)
    seed: dict = field(default_factory=dict)
    model_sha256: str = ""
    meta: dict = field(default_factory=dict, compare=False)

    def __getitem__(self, level: float) -> WeightedTailRisk:
        for r in self.risk:
            if math.isclose(r.level, float(level), rel_tol=0.0, abs_tol=1e-12):
                return r
        raise KeyError(f"level {level} not computed; levels: {[r.level for r in self.risk]}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "importance sampling: mean shift of the copula's independent normals (likelihood ratio per path)",
            "n_paths": self.n, "horizon_days": self.horizon,
            "positions": dict(zip(self.asset_names, self.positions)),
            "mean_loss": self.mean_loss, "mean_loss_se": self.mean_loss_se,
            "weight_mean": self.weight_mean, "weight_mean_se": self.weight_mean_se, "ess": self.ess,
            "risk": [r.to_dict() for r in self.risk], "design": self.design.to_dict(),
            "seed": self.seed, "model_sha256": self.model_sha256,
            "units": {"loss": "currency of the positions, positive = loss"},
        }


def _chunk_losses(out: Mapping[str, np.ndarray], start: int, stop: int, *, positions: np.ndarray) -> dict:
    """A chunk's losses and log weights (runs where the chunk ran)."""
    return {"start": np.array([start], np.int64), "loss": -revalue(out["cum_return"], positions),
            "log_weight": np.asarray(out["log_weight"], dtype=np.float64).copy()}


def simulate_importance(model, n_paths: int, horizon: int, seed=None, *, positions: Any,
                        levels: float | Sequence[float] = TAIL_LEVELS, ci: float = 0.95,
                        tilt: Any = "design", schedule=None, design_level: float = 0.995, pilot_paths: int = 20_000,
                        chunk_paths: int | None = None, backend: str = "local", client=None,
                        n_workers: int | None = None, n_threads: int | None = None,
                        progress: bool = False, qmc: bool = False) -> ImportanceResult:
    """Portfolio VaR/ES over ``horizon`` days from ``n_paths`` importance-sampled paths.

    Parameters
    ----------
    model, n_paths, horizon, seed, positions, levels, ci, schedule, chunk_paths, backend, client, n_workers,
    n_threads, progress
        As :func:`simulator.tail.simulate_tail` (``levels`` default 99 %, 99.9 %, 99.97 %). Path ``i``'s
        numbers depend on (seed, i) and the shift only: identical for any chunking, thread count or backend.
    tilt : "design", TiltDesign or array (horizon, n_assets)
        The shift: ``"design"`` (default) finds it with :func:`design_tilt`; or a design, or the shift itself.
    design_level, pilot_paths
        See :func:`design_tilt`.
    qmc : bool
        Quasi-Monte Carlo normals (:mod:`simulator.qmc`), shifted like the pseudo-random ones.

    Memory: 16 bytes per path (its loss and log weight) plus one chunk.
    """
    from simulator.engine import execute_plan, plan_run, with_qmc_plan

    plan = plan_run(model, n_paths, horizon, seed, chunk_paths=chunk_paths, keep="summary", schedule=schedule)
    plan = with_qmc_plan(plan) if qmc else plan
    _check_tiltable(plan.arrays)
    pos = resolve_positions(positions, model.assets)
    levels = check_levels(levels)
    ci = check_level(ci, "ci")
    if isinstance(tilt, str):
        if tilt != "design":
            raise ValueError(f"tilt must be 'design', a TiltDesign or an array (horizon, n_assets); got {tilt!r}")
        run_seed = np.random.SeedSequence(plan.keys.entropy, spawn_key=plan.keys.spawn_key)  # the run's own seed
        design = design_tilt(model, horizon, pos, seed=run_seed, schedule=schedule, design_level=design_level,
                             pilot_paths=pilot_paths)
    elif isinstance(tilt, TiltDesign):
        design = tilt
    else:
        theta = np.asarray(tilt, dtype=np.float64)
        design = TiltDesign(theta=theta, point=None, threshold=None, distance=math.sqrt(float(np.sum(theta * theta))))
    theta = np.ascontiguousarray(design.theta, dtype=np.float64)
    if theta.shape != (plan.horizon, plan.n_assets) or not np.all(np.isfinite(theta)):
        raise ValueError(f"the shift must be a finite array of shape (horizon, n_assets) = "
                         f"({plan.horizon}, {plan.n_assets}), got shape {theta.shape}")
    shifted = _shifted_days(plan.arrays, plan.horizon)
    if np.any(theta[~shifted] != 0.0):
        raise ValueError("the shift is non-zero on a day that replays history or is anchored (it draws no free "
                         "copula normals); set those days' rows to zero")
    arrays = plan.arrays._replace(shocks=plan.arrays.shocks._replace(tilt=theta))
    plan = dataclasses.replace(plan, arrays=arrays)
    loss = np.empty(plan.n_paths)
    logw = np.empty(plan.n_paths)

    def consume(index: int, value: dict) -> None:
        s = int(value["start"][0])
        loss[s:s + value["loss"].size] = value["loss"]
        logw[s:s + value["loss"].size] = value["log_weight"]

    meta = execute_plan(plan, store_paths=False, reducer=lambda index: partial(_chunk_losses, positions=pos),
                        consume=consume, backend=backend, client=client, n_workers=n_workers, n_threads=n_threads,
                        progress=progress)
    risk = weighted_var_es(loss, logw, levels, ci=ci)
    w = np.exp(logw)
    n = plan.n_paths
    wl = w * loss
    return ImportanceResult(
        risk=risk, n=n, horizon=plan.horizon, mean_loss=float(wl.mean()),
        mean_loss_se=float(wl.std() / math.sqrt(n)), weight_mean=float(w.mean()),
        weight_mean_se=float(w.std() / math.sqrt(n)), ess=float(w.sum() ** 2 / np.dot(w, w)), design=design,
        positions=tuple(float(p) for p in pos), asset_names=tuple(model.assets), losses=loss, log_weights=logw,
        seed=plan.keys.to_dict(), model_sha256=plan.model_sha256, meta=meta)
