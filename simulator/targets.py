"""Scenario targets: the simulated value of each magnitude a scenario file says it is calibrated to.

A scenario's ``[[targets]]`` (see :class:`scenarios.spec.Target`) state a historical or supervisory
magnitude, the measure that compares it (median return, median drawdown, median annualised
volatility on a day, or its peak; for rate and spread factors the median change in basis points on a
day), a tolerance and why. :func:`evaluate_targets` computes each
measure on simulated paths, with the Monte Carlo standard error of the median, and says whether it
lies within the tolerance. Runs store the rows in ``risk.json`` (``targets``) and the report shows
them; the library's tests hold every scenario to its own targets.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from simulator.constants import TRADING_DAYS_PER_YEAR

__all__ = ["TRADING_DAYS_PER_YEAR", "HISTORY_TOLERANCE_PP", "median_se", "evaluate_targets", "history_checks",
           "target_sample", "target_unavailable", "history_days", "history_sample"]

#: How close a replay of history's own moves must come to the historical move (percentage points).
HISTORY_TOLERANCE_PP = 2.0



def median_se(x: np.ndarray) -> float:
    """Distribution-free standard error of a sample median: half the width of the order-statistic
    interval that holds the median with about 68 % probability (``n / 2 +- sqrt(n) / 2``)."""
    s = np.sort(np.asarray(x, dtype=float).ravel())
    n = s.size
    if n < 2:
        return float("nan")
    k = int(math.ceil(0.5 * math.sqrt(n)))
    return 0.5 * float(s[min(n - 1, n // 2 + k)] - s[max(0, n // 2 - k)])


def _drawdown_pct(log_returns: np.ndarray) -> np.ndarray:
    """Largest fall from the running peak of ``exp(cumsum(r / 100))`` (start included), percent, per path.

    ``log_returns`` has shape (n_paths, days), percent log returns."""
    cum = np.cumsum(log_returns, axis=1)
    peak = np.maximum.accumulate(np.concatenate([np.zeros((cum.shape[0], 1)), cum], axis=1), axis=1)[:, 1:]
    return -100.0 * np.expm1(np.minimum((cum - peak).min(axis=1), 0.0) / 100.0)


def target_sample(measure: str, sim, col: int, day: int) -> tuple[np.ndarray | None, str | None]:
    """What a target's measure needs from the paths: ``(sample, None)`` or ``(None, why it is unavailable)``.

    The sample has one row per path, computed from that path alone, so the rows of a chunk of paths are the
    rows of the whole run whatever the chunking (:mod:`simulator.chunked_risk` computes them where each chunk
    runs): shape (n_paths,) for the median measures, (n_paths, day) of daily volatilities for
    ``peak_median_vol_pct``. ``sim`` needs ``horizon``, ``cum_return``, ``max_drawdown``, ``returns`` and
    ``sigma`` (None when the daily paths were not kept)."""
    h = sim.horizon
    missing = target_unavailable(measure, day, h, sim.returns is not None)
    if missing is not None:
        return None, missing
    if measure == "median_change_bp":  # rate and spread factors simulate changes in basis points
        if day == h:
            return np.asarray(sim.cum_return[:, col], dtype=float), None
        return sim.returns[:, :day, col].sum(axis=1), None
    if measure == "median_return_pct":
        if day == h:
            return 100.0 * np.expm1(sim.cum_return[:, col] / 100.0), None
        return 100.0 * np.expm1(sim.returns[:, :day, col].sum(axis=1) / 100.0), None
    if measure == "median_drawdown_pct":
        if sim.returns is None:  # day == h: the engine's own drawdown
            return 100.0 * sim.max_drawdown[:, col], None
        return _drawdown_pct(sim.returns[:, :day, col]), None
    if measure == "median_vol_pct":
        return math.sqrt(TRADING_DAYS_PER_YEAR) * sim.sigma[:, day - 1, col], None
    return np.array(sim.sigma[:, :day, col], dtype=float), None  # peak_median_vol_pct


def target_unavailable(measure: str, day: int, horizon: int, have_paths: bool) -> str | None:
    """Why a target's measure cannot be computed from a run (None when it can): measures before the horizon
    need the daily paths, volatility measures the daily conditional volatilities."""
    if measure in ("median_change_bp", "median_return_pct", "median_drawdown_pct"):
        return None if day == horizon or have_paths else "needs the daily paths (day before the horizon)"
    if measure in ("median_vol_pct", "peak_median_vol_pct"):
        return None if have_paths else "needs the daily conditional volatilities (daily paths kept)"
    raise ValueError(f"unknown target measure {measure!r}")


def _target_value(measure: str, sample: np.ndarray) -> tuple[float, float | None]:
    """``(simulated value, Monte Carlo s.e. of the median or None)`` of a target from its :func:`target_sample`."""
    if measure == "peak_median_vol_pct":
        med = np.median(sample, axis=0) * math.sqrt(TRADING_DAYS_PER_YEAR)
        return float(med.max()), None
    return float(np.median(sample)), median_se(sample)


def evaluate_targets(targets: Sequence[Any], sim, mapping: Mapping[str, int], *,
                     samples: Sequence[np.ndarray | None] | None = None) -> list[dict[str, Any]]:
    """Each target's simulated value next to the target.

    Parameters
    ----------
    targets : sequence of scenarios.spec.Target (or dicts with the same keys)
    sim : simulator.engine.SimulationResult
        The scenario's simulation (daily paths needed for measures before the horizon and for
        volatilities).
    mapping : mapping of str to int
        Role or asset name -> model asset index (:func:`simulator.roles.resolve_assets`).
    samples : sequence of ndarray or None, optional
        Each target's :func:`target_sample`, already computed (chunk by chunk where the paths were simulated);
        ``sim`` then needs only ``horizon`` and ``asset_names``.

    Returns
    -------
    list of dict
        Per target: ``measure``, ``asset`` (as written), ``model_asset``, ``day``, ``value``,
        ``tolerance``, ``simulated``, ``mc_se`` (of a median; None for the peak measure),
        ``difference`` (simulated - value), ``within`` (bool, or None when not computable),
        ``source``, ``why`` and ``unavailable`` (the reason, when not computable). Units: percent, or basis
        points for ``median_change_bp``.
    """
    rows = []
    for i, t in enumerate(targets):
        def get(k, _t=t):
            return _t[k] if isinstance(_t, Mapping) else getattr(_t, k)

        measure, asset = str(get("measure")), str(get("asset"))
        col = int(mapping[asset])
        day = int(get("day") or sim.horizon)
        if samples is None:
            sample, missing = target_sample(measure, sim, col, day)
        else:
            sample = samples[i]
            missing = None if sample is not None else target_unavailable(measure, day, sim.horizon, False)
        value = se = None
        if sample is not None:
            value, se = _target_value(measure, sample)
        target, tol = float(get("value")), float(get("tolerance"))
        row = {"measure": measure, "asset": asset, "model_asset": sim.asset_names[col], "day": day,
               "value": target, "tolerance": tol, "simulated": value, "mc_se": se,
               "difference": None if value is None else value - target,
               "within": None if value is None else bool(abs(value - target) <= tol),
               "source": str(get("source")), "why": str(get("why"))}
        if missing:
            row["unavailable"] = missing
        rows.append(row)
    return rows


def history_checks(scenario, model, sim, replay_data=None, *, sample: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Each asset's simulated median move over a scenario's replayed days against history's move.

    For every ``historical_replay`` the replayed days' historical log returns are summed (a sequence:
    its window's days as replayed; a bootstrap: the window's mean day times the days replayed, the
    expected sum); the simulated median of each asset's log return summed over the same days must lie
    within :data:`HISTORY_TOLERANCE_PP` of it, both as simple returns in percent. Rows have the keys of
    :func:`evaluate_targets` plus ``kind = "history"``, one per model asset; with filtered (FHS) scaling
    the comparison is shown but not judged (``within`` is None): FHS gives magnitudes in the model's
    volatility regime by design. Empty without replays. ``replay_data`` maps each replay's ``data`` to its
    percent log returns (as for :func:`simulator.shocks.compile_shocks`). ``sample``: the run's
    :func:`history_sample`, already computed (chunk by chunk where the paths were simulated).
    """
    reps = [s for s in scenario.shocks if s.type == "historical_replay"]
    if not reps:
        return []
    days, hist, windows, scalings = _replayed(reps, model, sim.horizon, replay_data)
    if sample is None:
        sample = history_sample(sim, days)
    judged = scalings == {"historical"}
    rows = []
    for col in range(model.n_assets):
        target = float(100.0 * np.expm1(hist[col] / 100.0))
        row = {"measure": "median_return_pct", "kind": "history", "asset": model.assets[col],
               "model_asset": model.assets[col], "day": int(np.flatnonzero(days)[-1] + 1), "value": target,
               "tolerance": HISTORY_TOLERANCE_PP, "simulated": None, "mc_se": None, "difference": None,
               "within": None, "source": f"history: the move of {data_label(reps)} over {', '.join(windows)}",
               "why": "a replay of history's own moves reproduces the window's move; the paths differ only "
                      "through bootstrapped days and other shocks"}
        if sample is None:
            row["unavailable"] = "needs the daily paths (the replays do not cover every day)"
        else:
            x = 100.0 * np.expm1(sample[:, col] / 100.0)
            med = float(np.median(x))
            row.update({"simulated": med, "mc_se": median_se(x), "difference": med - target})
            if judged:
                row["within"] = bool(abs(med - target) <= HISTORY_TOLERANCE_PP)
            else:
                row["unavailable"] = "filtered (FHS) scaling: the episode's surprises in the model's volatility, " \
                                     "not history's moves"
        rows.append(row)
    return rows


def _replayed(reps, model, horizon: int, replay_data) -> tuple[np.ndarray, np.ndarray, list[str], set[str]]:
    """The replayed days (mask over days), history's summed log return per asset over them, the windows and
    the scalings of a scenario's replays."""
    from simulator.shocks import replay_returns, replay_vectors

    h = int(horizon)
    days = np.zeros(h, dtype=bool)
    hist = np.zeros(model.n_assets)
    windows, scalings = [], set()
    for s in reps:
        returns = replay_returns(replay_data, s.data)
        x = replay_vectors(model, returns, s.window, data=s.data, scaling="historical")  # percent log returns
        start = s.day - 1
        n = x.shape[0] if s.mode == "sequence" else (s.days or x.shape[0])
        stop = min(h, start + n)
        days[start:stop] = True
        hist += x[: stop - start].sum(axis=0) if s.mode == "sequence" else x.mean(axis=0) * (stop - start)
        windows.append(f"{s.window[0]}..{s.window[1]} ({s.mode})")
        scalings.add(s.scaling)
    return days, hist, windows, scalings


def history_days(scenario, model, horizon: int, replay_data=None) -> np.ndarray | None:
    """The days (bool mask of shape (horizon,)) a scenario's replays cover, or None without replays."""
    reps = [s for s in scenario.shocks if s.type == "historical_replay"]
    return None if not reps else _replayed(reps, model, horizon, replay_data)[0]


def history_sample(sim, days: np.ndarray) -> np.ndarray | None:
    """Per path and asset, the log return summed over the replayed ``days`` (n_paths, n_assets): the engine's
    cumulative return when they cover every day, else from the daily paths (None without them). Row by row,
    like :func:`target_sample`."""
    if days.all():
        return sim.cum_return
    if sim.returns is not None:
        return sim.returns[:, days, :].sum(axis=1)
    return None


def data_label(reps) -> str:
    """The replay data sets named once: e.g. ``builtin:us-markets``."""
    return ", ".join(dict.fromkeys(str(s.data) for s in reps))
