"""Model-collapse check: what happens when a model is refitted, generation after generation, to its own output.

Loop (per chain, per share ``f`` of real data)::

    generation 0:  the given model, or a fit to the last n_obs real returns
    generation g:  training sample = a contiguous block of round(f * n_obs) of those real returns (random
                   start) followed by n_obs - round(f * n_obs) days simulated from model g-1, continuing from
                   the block's last day (the model's variance filter run over the block; unconditional start
                   when f = 0); refit with the model families selected at generation 0

Fitted on purely synthetic data (``f = 0``), estimation error compounds: every generation inherits the
previous one's error and adds its own, and the small-sample biases of the estimators (the Student-t
``nu`` and GARCH persistence are biased towards thinner tails and weaker clustering in short samples)
push in one direction, so the tails shrink and the dependence structure drifts ("model collapse",
Shumailov et al., 2024, *Nature* 631: 755–759). Real data mixed into every generation anchor the fits
(Bertrand et al., 2024, "On the stability of iterative retraining of generative models on their own
data", ICLR).

Each generation's model is summarised by statistics of a fixed evaluation ensemble (``n_eval`` histories
of ``n_obs`` days simulated with the *same* seed for every generation, so differences between
generations are not simulation noise): per asset the variance, the kurtosis and the Hill tail index of
losses (medians over the histories), per pair Kendall's tau and the empirical lower tail dependence at
5 % (means). The same statistics of each generation's training sample are recorded too, with every fitted
parameter, including the tail parameters (innovation ``nu``, copula ``nu``). The drift of a statistic at
generation ``g`` is its change from generation 0 in logs (a difference for Kendall's tau), averaged over
assets or pairs, and reported as a relative change: per run the median over chains (the direction:
thinner tails show as a rising tail index or ``nu`` and a falling kurtosis), the median absolute drift
(the typical distance from generation 0) and the mean, its standard error and the root mean square (which
a single runaway chain dominates). A run is *stable* when every chain completes and the median absolute
drift of each headline statistic (tail index, variance, lower tail dependence) at the last generation is
within ``tolerance``.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from calibration import stylized as sf
from simulator.seeding import seed_sequence

__all__ = ["CollapseReport", "CollapseRun", "collapse_check", "collapse_check_returns"]

#: statistics whose drift decides stability (tail dependence only with two or more assets)
HEADLINE_KEYS = ("tail_index", "variance", "tail_dep_lower")
#: statistics tracked per generation when defined: of the model's simulated returns (tail index, kurtosis,
#: variance, Kendall's tau, lower tail dependence) and its tail parameters (innovation and copula nu);
#: drifts of all but tau are measured in logs
TRACKED_KEYS = ("tail_index", "kurtosis", "variance", "tail_dep_lower", "tau", "nu", "copula_nu")
POSITIVE_KEYS = ("tail_index", "kurtosis", "variance", "tail_dep_lower", "nu", "copula_nu")
TAIL_FRACTION = 0.05
TAIL_Q = 0.05

_METHOD = (
    "Generation 0 is the given model or, without one, a fit to the last n_obs real returns. Each later generation "
    "is refitted (same model families) to n_obs days: a random contiguous block of those real returns making up "
    "the stated share, then days simulated from the previous generation's model continuing from the block's last "
    "day. Statistics of each generation's model come from a fixed evaluation ensemble (same seed every "
    "generation). Drift = change from generation 0 at the last generation (in logs, shown as a relative change; "
    "averaged over assets or pairs): median over chains (direction) and median absolute drift (typical "
    "distance); stable = every chain completes and the typical distance of the tail index, the variance and the "
    "lower tail dependence stays within the tolerance."
)


@dataclass
class CollapseRun:
    """The loop for one share of real data.

    Attributes
    ----------
    real_fraction : float
        Share of each training sample taken from real data (0 = synthetic only).
    generations : list of dict
        Per generation ``g = 0..G``: ``generation``, ``model_stats`` and ``data_stats`` (headline statistics
        averaged over assets/pairs and chains), ``drift`` (relative change from generation 0, chain mean),
        ``params`` (fitted parameters per asset and of the copula, chain means), ``n_chains`` (chains still
        running).
    chains : list of list of dict
        Per chain, per generation: the full record (parameters, per-asset / per-pair statistics of the model
        and of the training sample).
    drift : dict
        Statistic -> mean relative drift at the last generation (direction: e.g. a rising tail index and a
        falling kurtosis mean thinner tails).
    drift_se : dict
        Statistic -> standard error of that mean across chains (NaN with one chain).
    drift_rms : dict
        Statistic -> root-mean-square drift at the last generation over chains: the distance from generation
        0, counting both a common trend and chains wandering apart (sensitive to a single runaway chain).
    drift_median : dict
        Statistic -> median drift over chains at the last generation (a robust direction).
    drift_median_abs : dict
        Statistic -> median absolute drift over chains at the last generation (a robust distance).
    stable : bool
        Every chain ran to the end and every headline median absolute drift is within the tolerance.
    failures : list of str
        Chains that stopped early (every retry of a refit failed), with the generation and reason.
    retries : int
        Refits that had to be redone on a fresh sample (no stationary solution, or a degenerate model).
    """

    real_fraction: float
    generations: list[dict]
    chains: list[list[dict]]
    drift: dict[str, float]
    drift_se: dict[str, float]
    drift_rms: dict[str, float]
    drift_median: dict[str, float]
    drift_median_abs: dict[str, float]
    stable: bool
    failures: list[str] = field(default_factory=list)
    retries: int = 0

    def to_dict(self) -> dict:
        from calibration.validate import _jsonable

        return _jsonable({
            "real_fraction": self.real_fraction, "stable": self.stable, "drift": self.drift,
            "drift_se": self.drift_se, "drift_rms": self.drift_rms, "drift_median": self.drift_median,
            "drift_median_abs": self.drift_median_abs, "generations": self.generations,
            "failures": self.failures, "retries": self.retries, "chains": self.chains,
        })


@dataclass
class CollapseReport:
    """Result of :func:`collapse_check`: one :class:`CollapseRun` per real-data share."""

    runs: list[CollapseRun]
    assets: tuple[str, ...]
    n_obs: int
    n_generations: int
    n_chains: int
    n_eval: int
    tolerance: float
    families: dict
    seed: dict
    data: dict = field(default_factory=dict)
    method: str = _METHOD

    @property
    def headline_keys(self) -> tuple[str, ...]:
        """Statistics whose drift decides stability."""
        return tuple(k for k in HEADLINE_KEYS if len(self.assets) > 1 or k != "tail_dep_lower")

    @property
    def reported_keys(self) -> tuple[str, ...]:
        """Statistics shown in summaries: the headline ones, the kurtosis and the tail parameters present."""
        present = set(self.runs[0].drift) if self.runs else set()
        return tuple(k for k in POSITIVE_KEYS if k in present)

    @property
    def stable_fraction(self) -> float | None:
        """The smallest real-data share tested whose loop stayed stable (None if none did)."""
        ok = [r.real_fraction for r in self.runs if r.stable]
        return min(ok) if ok else None

    def run(self, real_fraction: float) -> CollapseRun:
        for r in self.runs:
            if math.isclose(r.real_fraction, real_fraction, abs_tol=1e-12):
                return r
        raise KeyError(f"no run with real_fraction {real_fraction!r}; runs: {[r.real_fraction for r in self.runs]}")

    def conclusion(self) -> str:
        parts = []
        for r in self.runs:
            d = ", ".join(f"{k} {r.drift_median.get(k, float('nan')):+.1%} (typical |drift| "
                          f"{r.drift_median_abs.get(k, float('nan')):.1%})" for k in self.reported_keys)
            broke = (f", {len(r.failures)} chain(s) stopped" if r.failures else "") + \
                (f", {r.retries} refit(s) retried" if r.retries else "")
            parts.append(f"real share {r.real_fraction:.0%}: {'stable' if r.stable else 'drifts'} ({d}{broke})")
        sf_ = self.stable_fraction
        tail = (f"Smallest real-data share tested that keeps it stable (every chain completes and the median "
                f"absolute drift of {', '.join(self.headline_keys)} stays within {self.tolerance:.0%} "
                f"after {self.n_generations} generations): {sf_:.0%}." if sf_ is not None else
                f"No tested share of real data kept {', '.join(self.headline_keys)} within {self.tolerance:.0%} after "
                f"{self.n_generations} generations.")
        return "; ".join(parts) + ". " + tail

    def summary_dict(self) -> dict:
        return {"stable_fraction": self.stable_fraction, "tolerance": self.tolerance,
                "generations": self.n_generations, "n_obs": self.n_obs, "n_chains": self.n_chains,
                "runs": {f"{r.real_fraction:g}": {"stable": r.stable, "drift_median": r.drift_median,
                                                  "drift_median_abs": r.drift_median_abs, "drift_mean": r.drift,
                                                  "drift_rms": r.drift_rms, "failures": len(r.failures),
                                                  "retries": r.retries}
                         for r in self.runs}}

    def summary(self) -> str:
        keys = self.reported_keys
        head = f"{'real share':>10} {'gen':>4} " + " ".join(f"{k:>15}" for k in keys)
        lines = [f"model collapse: {self.n_generations} generations of {self.n_obs} days, {self.n_chains} chain(s), "
                 f"families {self.families}", head, "-" * len(head)]
        for r in self.runs:
            for g in r.generations:
                vals = " ".join(f"{g['model_stats'].get(k, float('nan')):>8.4g} "
                                f"({g['drift_median'].get(k, 0.0):+5.0%})" for k in keys)
                lines.append(f"{r.real_fraction:>10.0%} {g['generation']:>4} {vals}")
        lines.append(self.conclusion())
        return "\n".join(lines)

    def to_dict(self) -> dict:
        from calibration.validate import _jsonable

        return _jsonable({
            "summary": self.summary_dict(), "conclusion": self.conclusion(), "method": self.method,
            "assets": list(self.assets), "n_obs": self.n_obs, "generations": self.n_generations,
            "n_chains": self.n_chains, "n_eval": self.n_eval, "tolerance": self.tolerance,
            "headline_keys": list(self.headline_keys), "reported_keys": list(self.reported_keys),
            "families": self.families, "seed": self.seed,
            "data": self.data, "runs": [r.to_dict() for r in self.runs],
        })


# ---------------------------------------------------------------------- helpers
def _fractions(real_fraction: Any) -> list[float]:
    vals = [real_fraction] if isinstance(real_fraction, (int, float, np.integer, np.floating)) else real_fraction
    if isinstance(vals, (str, bytes)) or not hasattr(vals, "__iter__"):
        raise TypeError(f"real_fraction must be a number in [0, 1] or a sequence of them, got {real_fraction!r}")
    out = []
    for v in vals:
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise TypeError(f"real_fraction values must be numbers in [0, 1], got {v!r}")
        if not 0.0 <= float(v) <= 1.0:
            raise ValueError(f"real_fraction must lie in [0, 1], got {v!r}")
        out.append(float(v))
    if not out:
        raise ValueError("real_fraction is an empty sequence; give at least one share in [0, 1]")
    return sorted(set(out))


def _pairs(assets: Sequence[str]) -> list[tuple[int, int]]:
    return [(i, j) for i in range(len(assets)) for j in range(i + 1, len(assets))]


def _stats(x: np.ndarray, assets: Sequence[str]) -> dict[str, dict[str, float]]:
    """Per-asset / per-pair statistics of histories ``x`` of shape (n, T, A): medians (means for dependence)."""
    out: dict[str, dict[str, float]] = {"variance": {}, "kurtosis": {}, "tail_index": {}, "tau": {},
                                        "tail_dep_lower": {}}
    for j, a in enumerate(assets):
        r = np.ascontiguousarray(x[:, :, j])
        m = sf.moments(r)
        out["variance"][a] = float(np.median(m["std"] ** 2))
        out["kurtosis"][a] = float(np.median(m["excess_kurtosis"] + 3.0))
        hill = sf.hill_tail_index(r, tail="left", fraction=TAIL_FRACTION)
        out["tail_index"][a] = float(np.median(hill[np.isfinite(hill)])) if np.isfinite(hill).any() else float("nan")
    for i, j in _pairs(assets):
        key = f"{assets[i]}~{assets[j]}"
        xi, xj = np.ascontiguousarray(x[:, :, i]), np.ascontiguousarray(x[:, :, j])
        out["tau"][key] = float(np.mean(sf.kendall_tau(xi, xj)))
        out["tail_dep_lower"][key] = float(np.mean(sf.tail_dependence(xi, xj, q=TAIL_Q)["lower"]))
    return out


def _params(model) -> dict:
    out: dict[str, Any] = {}
    for a, m in zip(model.assets, model.marginals):
        # scalar law parameters only (an fhs law's centres are a list; its bandwidth is kept)
        p = {"mu": m.mean.mu, **{k: v for k, v in m.vol.to_dict().items() if k != "type"},
             **{k: v for k, v in m.dist.to_dict().items() if k != "type" and isinstance(v, (int, float))},
             "persistence": m.persistence}
        out[a] = p
    c = model.copula
    cp: dict[str, float] = {}
    if c.nu is not None:
        cp["nu"] = c.nu
    if c.theta is not None:
        cp["theta"] = c.theta
    if c.corr is not None and model.n_assets > 1:
        r = np.asarray(c.corr)
        cp["mean_corr"] = float(r[np.triu_indices(model.n_assets, 1)].mean())
    out["copula"] = cp
    return out


def _fit(frame: pd.DataFrame, *, vol, dist, copula, init: str):
    from calibration.calibrate import fit_returns

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_returns(frame, vol=vol, dist=dist, copula=copula, init=init, min_obs=100)


def _end_state(model, block: np.ndarray) -> dict:
    """Start state (variance and residual of the last day) after filtering ``block`` (T, A) through ``model``.

    The variance recursion of each marginal (:func:`simulator.families.variance_path`, the kernel's own)
    runs from the unconditional variance over the block, so a simulation started from the returned state
    continues the block without a jump in the volatility level.
    """
    from simulator.families import variance_path

    sigma2, resid = [], []
    for j, m in enumerate(model.marginals):
        e = block[:, j] - m.mean.mu
        path = np.r_[m.unconditional_variance, variance_path(m.vol.family, m.vol.values, m.unconditional_variance,
                                                                 e[:-1])]
        bad = np.flatnonzero(~(np.isfinite(path) & (path > 0)))
        if bad.size:
            raise ArithmeticError(f"variance filter of asset {model.assets[j]!r} left (0, inf) at day {int(bad[0])}")
        sigma2.append(float(path[-1]))
        resid.append(float(e[-1]))
    return {"sigma2": sigma2, "resid": resid}


def _frame(values: np.ndarray, assets: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame(values, index=pd.bdate_range("2000-01-03", periods=values.shape[0], name="date"),
                        columns=list(assets))


def _avg(stats: dict[str, dict[str, float]], key: str) -> float:
    vals = list(stats.get(key, {}).values())
    return float(np.mean(vals)) if vals else float("nan")


def _mean_params(records: list[dict]) -> dict:
    out: dict[str, dict[str, float]] = {}
    for name in records[0]:
        keys = records[0][name].keys()
        out[name] = {k: float(np.mean([r[name][k] for r in records if k in r[name]])) for k in keys}
    return out


# ---------------------------------------------------------------------- public API
def collapse_check_returns(
    returns: pd.DataFrame,
    *,
    generations: int = 5,
    real_fraction: float | Sequence[float] = 0.0,
    n_obs: int | None = None,
    n_chains: int = 1,
    n_eval: int = 200,
    tolerance: float = 0.2,
    seed=None,
    vol: Any = "auto",
    dist: Any = "auto",
    copula: Any = "auto",
    init: str = "arch",
    model=None,
    max_retries: int = 3,
    data_info: dict | None = None,
) -> CollapseReport:
    """Run the collapse loop on real percent log returns (see :func:`collapse_check`).

    ``returns`` is a DataFrame of shape (n_obs_total, n_assets) of percent log returns; with ``model`` its
    columns must include the model's assets (used in the model's order).
    """
    from simulator.engine import simulate
    from simulator.model import MarketModel

    if not isinstance(returns, pd.DataFrame):
        raise TypeError(f"returns must be a pandas DataFrame (date × asset), got {type(returns).__name__}")
    for name, v, lo in (("generations", generations, 1), ("n_chains", n_chains, 1), ("n_eval", n_eval, 10),
                        ("max_retries", max_retries, 0)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{name} must be an integer, got {type(v).__name__} {v!r}")
        if v < lo:
            raise ValueError(f"{name} must be >= {lo}, got {v}")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance > 0:
        raise ValueError(f"tolerance must be a positive number (relative drift, e.g. 0.2), got {tolerance!r}")
    fractions = _fractions(real_fraction)
    if model is not None:
        if not isinstance(model, MarketModel):
            raise TypeError(f"model must be a MarketModel or None, got {type(model).__name__}")
        cols = [str(c) for c in returns.columns]
        missing = [a for a in model.assets if a not in cols]
        if missing:
            raise ValueError(f"the data have no column for model asset(s) {', '.join(map(repr, missing))}; data "
                             f"columns: {', '.join(map(repr, cols))}")
        returns = returns.set_axis(cols, axis=1)[list(model.assets)]
    values = returns.to_numpy(dtype=float, na_value=np.nan)
    if not np.all(np.isfinite(values)):
        i, j = (int(v) for v in np.argwhere(~np.isfinite(values))[0])
        raise ValueError(f"asset {returns.columns[j]!r}: non-finite return on {returns.index[i]}")
    total = values.shape[0]
    if n_obs is None:
        n_obs = total
    if isinstance(n_obs, bool) or not isinstance(n_obs, (int, np.integer)):
        raise TypeError(f"n_obs must be an integer, got {type(n_obs).__name__} {n_obs!r}")
    if not 100 <= n_obs <= total:
        raise ValueError(f"n_obs must lie between 100 and the {total} real returns available, got {n_obs}")
    n_obs = int(n_obs)
    assets = [str(c) for c in returns.columns]
    root = seed_sequence(seed)
    eval_ss, chain_root = root.spawn(2)
    chain_seeds = chain_root.spawn(int(n_chains))
    eval_entropy = eval_ss  # the same evaluation stream for every generation: common random numbers
    headline = [k for k in HEADLINE_KEYS if len(assets) > 1 or k != "tail_dep_lower"]

    def model_stats(m) -> dict:
        sim = simulate(m.with_changes(start=None), int(n_eval), n_obs, eval_entropy, keep="paths")
        out = _stats(sim.returns, assets)
        # evt: its skew-t body's nu (its tails are the GPD's, which the simulated Hill index tracks); fhs: none
        nus = {a: mg.dist.nu for a, mg in zip(assets, m.marginals) if mg.dist.nu is not None}
        if nus:
            out["nu"] = nus
        if m.copula.nu is not None:
            out["copula_nu"] = {"copula": m.copula.nu}
        return out

    window = values[-n_obs:]
    if model is None:
        try:
            model0 = _fit(_frame(window, assets), vol=vol, dist=dist, copula=copula, init=init).model
        except ValueError as exc:
            raise ValueError(f"generation 0 (the fit to the last {n_obs} real returns) failed: {exc}") from None
    else:
        model0 = model
    fixed_vol = {a: m.vol.type for a, m in zip(assets, model0.marginals)}
    fixed_dist = {a: m.dist.type for a, m in zip(assets, model0.marginals)}
    fixed_cop = model0.copula.type
    rec0 = {"generation": 0, "params": _params(model0), "model": model_stats(model0),
            "data": _stats(window[None], assets), "n_real": n_obs}

    runs = []
    for f in fractions:
        n_real = int(round(f * n_obs))
        chains: list[list[dict]] = []
        failures: list[str] = []
        for c, css in enumerate(chain_seeds):
            recs = [rec0]
            current = model0
            gen_seeds = css.spawn(int(generations))
            for g in range(1, int(generations) + 1):
                attempts = gen_seeds[g - 1].spawn(int(max_retries) + 1)
                errors = []
                for attempt, att_ss in enumerate(attempts):  # noqa: B007 - ``attempt`` is read after the loop
                    sim_ss, block_ss = att_ss.spawn(2)
                    try:
                        parts = []
                        if n_real:
                            start = int(np.random.default_rng(block_ss).integers(0, n_obs - n_real + 1))
                            parts.append(window[start:start + n_real])
                        if n_obs - n_real:
                            start_state = _end_state(current, parts[0]) if parts else None
                            parts.append(simulate(current.with_changes(start=start_state), 1, n_obs - n_real,
                                                  sim_ss, keep="paths").returns[0])
                        train = np.concatenate(parts, axis=0)
                        fitted = _fit(_frame(train, assets), vol=fixed_vol, dist=fixed_dist, copula=fixed_cop,
                                      init=init).model
                        stats_g = model_stats(fitted)
                        bad = [k for k in headline if not np.isfinite(_avg(stats_g, k))]
                        if bad:
                            raise ArithmeticError(f"degenerate fitted model: {', '.join(bad)} undefined")
                    except (ValueError, ArithmeticError, SystemError, np.linalg.LinAlgError) as exc:
                        # no stationary solution, or a degenerate model whose simulation overflows
                        errors.append(f"{type(exc).__name__}: {exc}")
                        continue
                    break
                else:
                    failures.append(f"chain {c}, generation {g}: every refit failed ({'; '.join(errors[-2:])})")
                    break
                current = fitted
                recs.append({"generation": g, "params": _params(current), "model": stats_g,
                             "data": _stats(train[None], assets), "n_real": n_real, "retries": attempt,
                             "retry_reasons": errors})
            chains.append(recs)
        runs.append(_summarise(f, chains, failures, int(generations), tolerance, assets))
    return CollapseReport(
        runs=runs, assets=tuple(assets), n_obs=n_obs, n_generations=int(generations), n_chains=int(n_chains),
        n_eval=int(n_eval), tolerance=float(tolerance),
        families={"vol": fixed_vol, "dist": fixed_dist, "copula": fixed_cop},
        seed={"entropy": str(root.entropy) if isinstance(root.entropy, int) else [str(v) for v in root.entropy],
              "spawn_key": list(root.spawn_key)},
        data=dict(data_info or {}),
    )


def _change(rec: dict, base: dict, key: str) -> float:
    """Log-ratio (positive statistics) or difference (tau) of ``key`` from ``base``, averaged over assets/pairs."""
    vals = rec.get(key, {})
    ref = base.get(key, {})
    out = []
    for name, v in vals.items():
        b = ref.get(name, float("nan"))
        if key in POSITIVE_KEYS:
            out.append(math.log(v / b) if v > 0 and b > 0 and math.isfinite(v) and math.isfinite(b) else float("nan"))
        else:
            out.append(v - b)
    return float(np.mean(out)) if out else float("nan")


def _drifts(changes: np.ndarray, key: str) -> dict[str, float]:
    """Summaries over chains of per-chain changes (log-ratios for positive statistics, reported as relative
    changes): mean and its standard error, median, RMS and median absolute drift."""
    c = changes[np.isfinite(changes)]
    if c.size == 0:
        nan = float("nan")
        return {"mean": nan, "se": nan, "median": nan, "rms": nan, "median_abs": nan}
    out = {"mean": float(np.mean(c)),
           "se": float(np.std(c, ddof=1) / math.sqrt(c.size)) if c.size > 1 else float("nan"),
           "median": float(np.median(c)), "rms": float(np.sqrt(np.mean(c * c))),
           "median_abs": float(np.median(np.abs(c)))}
    if key in POSITIVE_KEYS:
        m = out["mean"]
        out = {"mean": math.expm1(m), "se": math.exp(m) * out["se"], "median": math.expm1(out["median"]),
               "rms": math.expm1(out["rms"]), "median_abs": math.expm1(out["median_abs"])}
    return out


def _summarise(f: float, chains: list[list[dict]], failures: list[str], n_gen: int, tol: float,
               assets: Sequence[str]) -> CollapseRun:
    multi = len(assets) > 1
    keys = [k for k in HEADLINE_KEYS if multi or k != "tail_dep_lower"]
    tracked = [k for k in TRACKED_KEYS if k in chains[0][0]["model"] and chains[0][0]["model"][k]]
    gens = []
    for g in range(n_gen + 1):
        alive = [ch for ch in chains if len(ch) > g]
        if not alive:
            break
        ms = {k: float(np.mean([_avg(ch[g]["model"], k) for ch in alive])) for k in tracked}
        ds = {k: float(np.mean([_avg(ch[g]["data"], k) for ch in alive])) for k in tracked if k in alive[0][g]["data"]}
        dr = {k: _drifts(np.array([_change(ch[g]["model"], ch[0]["model"], k) for ch in alive]), k) for k in tracked}
        gens.append({"generation": g, "n_chains": len(alive), "model_stats": ms, "data_stats": ds,
                     "drift": {k: v["mean"] for k, v in dr.items()},
                     "drift_median": {k: v["median"] for k, v in dr.items()},
                     "drift_rms": {k: v["rms"] for k, v in dr.items()},
                     "params": _mean_params([ch[g]["params"] for ch in alive])})
    complete = [ch for ch in chains if len(ch) == n_gen + 1]
    final = {k: _drifts(np.array([_change(ch[-1]["model"], ch[0]["model"], k) for ch in complete]), k)
             for k in tracked}
    stable = bool(not failures and all(np.isfinite(final[k]["median_abs"]) and final[k]["median_abs"] <= tol
                                       for k in keys))
    retries = int(sum(rec.get("retries", 0) for ch in chains for rec in ch[1:]))
    return CollapseRun(real_fraction=f, generations=gens, chains=chains,
                       drift={k: v["mean"] for k, v in final.items()},
                       drift_se={k: v["se"] for k, v in final.items()},
                       drift_rms={k: v["rms"] for k, v in final.items()},
                       drift_median={k: v["median"] for k, v in final.items()},
                       drift_median_abs={k: v["median_abs"] for k, v in final.items()},
                       stable=stable, failures=failures, retries=retries)


def collapse_check(
    prices: Any,
    *,
    generations: int = 5,
    real_fraction: float | Sequence[float] = 0.0,
    n_obs: int | None = None,
    n_chains: int = 1,
    n_eval: int = 200,
    tolerance: float = 0.2,
    seed=None,
    assets: Sequence[str] | None = None,
    vol: Any = "auto",
    dist: Any = "auto",
    copula: Any = "auto",
    init: str = "arch",
    model=None,
    max_retries: int = 3,
) -> CollapseReport:
    """Fit → simulate → refit on synthetic data, ``generations`` times, and measure the drift.

    Parameters
    ----------
    prices : str, path-like or DataFrame
        Real daily prices, anything :func:`calibration.load_prices` accepts.
    generations : int, default 5
        Refits after the first fit.
    real_fraction : float or sequence of float in [0, 1], default 0.0
        Share of every training sample drawn from the real window (a random contiguous block); several values
        give one run each, so the report says which share keeps the loop stable.
    n_obs : int, optional
        Days per training sample (default: every real return). Small samples collapse faster.
    n_chains : int, default 1
        Independent repetitions of the loop per share (drifts are averaged, with standard errors).
    n_eval : int, default 200
        Histories of ``n_obs`` days simulated to measure each generation's model (same seed every generation).
    tolerance : float, default 0.2
        Largest relative drift of a headline statistic (tail index, kurtosis, variance, lower tail dependence)
        at the last generation for the run to count as stable.
    seed : None, int, SeedSequence or Generator
    assets : sequence of str, optional
        Assets to use (default: all in ``prices``).
    vol, dist, copula, init
        Model families for generation 0 (see :func:`calibration.calibrate`); later generations keep the
        families selected there.
    model : MarketModel, optional
        Use this model as generation 0 instead of fitting one (e.g. the model being validated); later
        generations are refitted with its families.
    max_retries : int, default 3
        A refit with no stationary solution (or a degenerate fitted model) is retried on a fresh training
        sample up to this many times; the retries are counted in the report and a chain whose every retry
        fails stops there (counted as a failure).

    Returns
    -------
    CollapseReport
    """
    from calibration.data import load_prices, log_returns

    if model is not None and assets is None:
        assets = list(model.assets)
    frame, rep = load_prices(prices, assets=assets, report=True, min_obs=101)
    info = {"source": rep.source, "input_sha256": rep.input_sha256, "prices_sha256": rep.data_sha256}
    return collapse_check_returns(log_returns(frame), generations=generations, real_fraction=real_fraction,
                                  n_obs=n_obs, n_chains=n_chains, n_eval=n_eval, tolerance=tolerance, seed=seed,
                                  vol=vol, dist=dist, copula=copula, init=init, model=model,
                                  max_retries=max_retries, data_info=info)
