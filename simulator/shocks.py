"""Compile a validated scenario's shocks into the kernel's schedule arrays, once per run.

Shocks combine and may overlap. Per simulated day the kernel applies them in this fixed order
(see :mod:`simulator.kernels.paths`):

1. ``regime_switch`` moves each path's Markov chain; the day's parameter set follows the regime;
2. the variance recursion of that parameter set runs;
3. innovations: a ``historical_replay`` day uses the window's standardised residual vector, or with
   ``scaling = "historical"`` the innovation that reproduces the day's historical return; an
   ``anchored_path`` day pins the anchored assets and draws the others conditionally; otherwise the
   copula draws — a ``correlation_break`` day uses the crisis copula, overriding the regime's;
4. ``vol_spike`` multipliers scale the day's conditional sigma (several spikes multiply);
5. scheduled ``jump`` events, then ``poisson_jumps``, add to the return (anchored assets excepted), then
   the day's ``curve_shift`` level shift;
6. the residual (jumps included, level shifts not; spikes only with ``feedback = true``) feeds the next
   variance.

Days in scenario files are 1-based; arrays here are 0-based.

Factor kinds. A model's assets are prices, FX rates or implied volatilities (percent log returns) or
rates and spreads (absolute daily changes in basis points; :class:`simulator.model.FactorSpec`). Each
shock applies to them as follows, checked here against the model, with an error naming the shock, the
asset and the valid choice:

- ``jump``: ``unit = "percent"`` (a simple price change, turned into a log return) on price, FX and vol
  factors only; ``unit = "bp"`` (an absolute change in basis points, added as is) on rate and spread
  factors only; ``unit = "sigma"`` on any kind (multiples of the day's sigma, in the factor's own unit).
  A jump is a surprise: it feeds the variance recursion.
- ``anchored_path``: ``unit = "percent"`` on price, FX and vol factors (knots are price changes,
  linear in log price); ``unit = "bp"`` (knots are cumulative changes, linear in the level; returns are
  daily changes) or ``unit = "level"`` (knots are levels, day 0 the model's as-of level) on rate and
  spread factors. Several anchored paths may anchor different assets over the same days.
- ``curve_shift``: moves the rate factors of the named curve by the shape's change at each tenor, in
  basis points, as a level shift (``shift``: added to the day's change, not to the residual that feeds
  the variance recursion, so the model's own noise and volatility carry on around the shifted level and
  the expected change is exact). The curve must exist in the model.
- ``poisson_jumps``: each event moves asset ``a`` by ``loading * J`` in the asset's own unit (percent
  log return for a price, basis points for a rate or spread).
- ``vol_spike``, ``correlation_break`` and ``regime_switch``: unchanged (they scale the conditional
  sigma or change the copula, whatever its unit).
- ``historical_replay``: its data are read as prices (percent log returns), so a model with rate or
  spread factors cannot replay them (an error): replay rates with an ``anchored_path`` of their daily
  changes in basis points instead.

``[[targets]]``: the price measures (``median_return_pct`` and the rest) apply to price, FX and vol
factors, ``median_change_bp`` to rate and spread factors; a mismatch is an error here.

A scenario whose rate shocks name a curve (``curve_shift``) or rate roles (``rate_10y``: see
:mod:`simulator.roles`) that the model lacks does not run on it: the error names the curve or role, the
model's assets and, when the scenario declares one (``model = "builtin:us-markets-rates"``), its model.

A ``historical_replay`` needs the returns of its data set: the caller loads them and passes them as
``replay_data`` (:func:`simulator.jobs.load_replay_data` reads them for a scenario, and
:func:`simulator.jobs.compile_scenario` does both), so this module reads no files of prices.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from simulator.constants import TRADING_DAYS_PER_YEAR
from simulator.model import ABSOLUTE_KINDS, CopulaSpec, MarginalSpec, MarketModel, MeanSpec, VolSpec
from simulator.roles import DEFAULT_ROLES, asset_indices, resolve_assets
from simulator.schedule import LAW_CODES, Schedule



def compile_shocks(scenario, model: MarketModel, *, horizon: int | None = None, roles=None,
                   replay_data: Mapping[str, Any] | None = None) -> Schedule:
    """Build the :class:`~simulator.schedule.Schedule` for ``scenario`` (a validated
    ``scenarios.spec.Scenario``) on ``model``; ``horizon`` defaults to the scenario's.

    ``replay_data`` maps each ``historical_replay``'s ``data`` (as written in the scenario) to that data
    set's percent log returns (a DataFrame indexed by date, one column per asset); it is needed only when
    the scenario has replays (see :func:`simulator.jobs.compile_scenario`)."""
    horizon = int(horizon or scenario.horizon_days)
    sched = Schedule.from_model(model, horizon)
    where = str(scenario.path) if getattr(scenario, "path", None) is not None else f"scenario {scenario.name!r}"
    declared = getattr(scenario, "model", None)
    try:
        mapping = resolve_assets(scenario, model, roles=roles)
    except ValueError as exc:
        if declared:
            raise type(exc)(f"{exc}; this scenario is written for model {declared}") from None
        raise
    n = model.n_assets
    kinds = [model.kind(a) for a in model.assets]
    names = {i: name for name, i in mapping.items()}  # a name the scenario uses for each asset, for messages
    n_anchored_days = 0

    def idx(selector):
        return asset_indices(selector, mapping, n)

    def label(a: int) -> str:
        name = names.get(a)
        return f"{model.assets[a]!r}" + (f" (role {name!r})" if name and name != model.assets[a] else "")

    def check_units(key: str, cols, unit: str, on_rates: str, on_prices: str) -> None:
        """Sizes in percent on a rate or spread, or in basis points / levels on a price, are errors."""
        for a in cols:
            absolute = kinds[a] in ABSOLUTE_KINDS
            if unit == "percent" and absolute:
                raise ValueError(
                    f"{key}: {label(a)} is a {kinds[a]} factor, which moves by absolute changes in basis points, "
                    f"so unit = \"percent\" (a price change) does not apply to it (allowed on rate and spread "
                    f"factors: {on_rates})")
            if unit in ("bp", "level") and not absolute:
                raise ValueError(
                    f"{key}: {label(a)} is a {kinds[a]} factor, which moves by percent log returns, so "
                    f"unit = \"{unit}\" (of a rate or spread) does not apply to it (allowed on price, fx and vol "
                    f"factors: {on_prices})")

    for i, shock in enumerate(scenario.shocks):
        key = f"{where}: shocks[{i}] ({shock.type})"
        kind = shock.type
        if kind == "regime_switch":
            _add_regime(sched, shock, model, scenario, key)
        elif kind == "correlation_break":
            _add_correlation_break(sched, shock, model, idx(shock.assets), key)
        elif kind == "vol_spike":
            days = np.arange(shock.day - 1, min(horizon, shock.day - 1 + shock.days))
            if shock.half_life is None:
                m = np.full(days.size, shock.multiplier)
            else:
                m = 1.0 + (shock.multiplier - 1.0) * 0.5 ** ((days - (shock.day - 1)) / shock.half_life)
            cols = idx(shock.assets)
            sched.vol_mult[np.ix_(days, cols)] *= m[:, None]
            if shock.feedback:
                sched.vol_feedback[cols] = True
        elif kind == "jump":
            cols = idx(shock.assets)
            check_units(key, cols, shock.unit, 'unit = "bp" or "sigma"', 'unit = "percent" or "sigma"')
            sizes = shock.sizes() if shock.assets != "all" else [float(shock.size)] * n
            row = np.zeros(n)
            for a, size in zip(cols, sizes):
                row[a] = 100.0 * math.log1p(size / 100.0) if shock.unit == "percent" else size
            sched.ev_day = np.append(sched.ev_day, shock.day - 1)
            sched.ev_prob = np.append(sched.ev_prob, shock.probability)
            sched.ev_size = np.vstack([sched.ev_size, row])
            sched.ev_sigma = np.append(sched.ev_sigma, shock.unit == "sigma")
        elif kind == "poisson_jumps":
            load = np.zeros(n)
            for name, value in shock.loadings.items():
                load[mapping[name]] = value
            if shock.law == "normal":
                par = (shock.mean if shock.mean is not None else 0.0, shock.sd, 0.0)
            elif shock.law == "double_exponential":
                par = (shock.p_up, shock.eta_up, shock.eta_down)
            else:
                par = (shock.scale, shock.alpha, float(shock.jump_sign))
            sched.pj_rate = np.append(sched.pj_rate, shock.intensity / TRADING_DAYS_PER_YEAR)
            sched.pj_law = np.append(sched.pj_law, LAW_CODES[shock.law])
            sched.pj_par = np.vstack([sched.pj_par, par])
            sched.pj_load = np.vstack([sched.pj_load, load])
            sched.pj_from = np.append(sched.pj_from, shock.from_day - 1)
            sched.pj_to = np.append(sched.pj_to, min(horizon, shock.end_day(horizon)))
        elif kind == "historical_replay":
            absolute = [model.assets[a] for a in range(n) if kinds[a] in ABSOLUTE_KINDS]
            if absolute:
                raise ValueError(
                    f"{key}: a replay reads its data as prices (percent log returns), but the model's "
                    f"{', '.join(map(repr, absolute))} move by basis points (rate or spread factors); replaying "
                    f"data on such a model is not supported (allowed: a model of price, fx and vol factors, or "
                    f"an anchored_path with unit = \"bp\" and the rates' daily changes as returns)")
            scaling = shock.scaling
            eps = replay_vectors(model, replay_returns(replay_data, shock.data, key), shock.window, data=shock.data,
                                 key=key, scaling=scaling)
            mode = getattr(shock, "mode", "sequence")
            start = shock.day - 1
            length = eps.shape[0] if mode == "sequence" else getattr(shock, "days", None) or eps.shape[0]
            stop = min(horizon, start + length)
            if sched.anc_day[start:stop].any() or sched.replay_days[start:stop].any():
                raise ValueError(f"{key}: replay days overlap another replay or an anchored_path; "
                                 f"each day takes one source of innovations")
            base = sched.rep_pool.shape[0]
            sched.rep_pool = np.vstack([sched.rep_pool, eps])
            sched.rep_raw = np.append(sched.rep_raw, np.full(eps.shape[0], scaling == "historical"))
            days = np.arange(start, stop)
            if mode == "sequence":
                sched.rep_lo[days] = base + (days - start)
                sched.rep_hi[days] = base + (days - start) + 1
            else:
                sched.rep_lo[days] = base
                sched.rep_hi[days] = base + eps.shape[0]
        elif kind == "anchored_path":
            cols = idx(shock.assets)
            if n_anchored_days and shock.n_days != n_anchored_days:
                raise ValueError(
                    f"{key}: anchors days 1..{shock.n_days}, but an earlier anchored_path anchors days "
                    f"1..{n_anchored_days}; every anchored asset is pinned on the same days, with the others drawn "
                    f"conditional on all of them (allowed: a last knot day, or a number of returns, of {n_anchored_days})")
            twice = [a for a in cols if sched.anc_asset[a]]
            if twice:
                raise ValueError(f"{key}: {label(twice[0])} is already anchored by an earlier anchored_path "
                                 f"(allowed: each asset in one anchored_path)")
            check_units(key, cols, shock.unit, 'unit = "bp" or "level"', 'unit = "percent"')
            n_anchored_days = shock.n_days
            for a in cols:
                if shock.unit == "level":
                    spec = model.factor(model.assets[a])
                    if spec.level is None:
                        raise ValueError(f"{key}: unit = \"level\" needs the as-of level of {label(a)}, which the "
                                         f"model does not give (factors.{model.assets[a]}.level; allowed: "
                                         f"unit = \"bp\" with changes)")
                    path = shock.daily_changes(spec.level, 100.0 if kinds[a] == "rate" else 1.0)
                else:
                    path = shock.daily_changes()
                rets = np.asarray(path, float)[:horizon]
                if sched.replay_days[: rets.size].any():
                    raise ValueError(f"{key}: anchored days overlap a historical_replay; anchor or replay each day")
                sched.anc_day[: rets.size] = True
                sched.anc_asset[a] = True
                sched.anc_ret[: rets.size, a] = rets
                sched.anc_noise[a] = shock.noise
        elif kind == "curve_shift":
            _add_curve_shift(sched, shock, model, key, declared)
        else:  # pragma: no cover - the schema admits no other type
            raise ValueError(f"{key}: unknown shock type {kind!r}")
    assert sched.shift is not None  # from_model sets it
    pinned = sched.shift[np.ix_(sched.anc_day, sched.anc_asset)]
    if np.any(pinned != 0.0):
        d_i, a_i = np.argwhere(pinned != 0.0)[0]
        a = int(np.flatnonzero(sched.anc_asset)[a_i])
        d = int(np.flatnonzero(sched.anc_day)[d_i]) + 1
        raise ValueError(f"{where}: a curve_shift moves {label(a)} on day {d}, which an anchored_path pins on days "
                         f"1..{n_anchored_days} (allowed: shift days after {n_anchored_days}, or anchor other factors)")
    _check_targets(scenario, mapping, model, kinds, where, label)
    if sched.anc_day.any():
        for spec in sched.copulas:
            if spec.type in ("clayton", "gumbel", "frank"):
                raise ValueError(
                    f"{where}: anchored_path draws the other assets from the copula conditional on the anchored ones, "
                    f"which stress-sim supports for gaussian, t and independent copulas; this run uses a {spec.type} "
                    f"copula (allowed: recalibrate with --copula t or gaussian)")
    return sched


# ---------------------------------------------------------------------- rates
def model_curves(model: MarketModel) -> dict[str, list[tuple[float, int]]]:
    """The model's curves: name -> ``(tenor_years, asset index)`` of its rate factors, by tenor."""
    out: dict[str, list[tuple[float, int]]] = {}
    for a, name in enumerate(model.assets):
        spec = model.factor(name)
        if spec.kind == "rate" and spec.curve is not None and spec.tenor_years is not None:
            out.setdefault(spec.curve, []).append((float(spec.tenor_years), a))
    return {c: sorted(v) for c, v in out.items()}


def _add_curve_shift(sched: Schedule, shock, model: MarketModel, key: str, declared: str | None) -> None:
    """Add a ``curve_shift``'s level shifts (basis points) to ``sched.shift`` on its days."""
    curves = model_curves(model)
    if shock.curve not in curves:
        have = ", ".join(f"{c!r} ({', '.join(model.assets[a] for _, a in v)})" for c, v in curves.items())
        raise ValueError(
            f"{key}: the model has no curve {shock.curve!r}: a curve is the rate factors whose "
            f"factors.<asset>.curve names it (the model's curves: {have or 'none, its assets are ' + ', '.join(model.assets)})"
            + (f"; this scenario is written for model {declared}" if declared else "")
            + f" (allowed: curve = {' or '.join(map(repr, curves)) or 'the name of a curve of the model'})")
    assert sched.shift is not None  # from_model sets it
    start = shock.day - 1
    fractions = np.asarray(shock.daily_fractions(), float)
    stop = min(sched.horizon, start + fractions.size)
    for tenor, a in curves[shock.curve]:
        sched.shift[start:stop, a] += shock.change_bp(tenor) * fractions[: stop - start]


def _check_targets(scenario, mapping, model: MarketModel, kinds, where: str, label) -> None:
    """Price measures on price, fx and vol factors; ``median_change_bp`` on rate and spread factors."""
    for j, t in enumerate(getattr(scenario, "targets", ()) or ()):
        if t.asset not in mapping:
            continue
        a = mapping[t.asset]
        absolute = kinds[a] in ABSOLUTE_KINDS
        if absolute and t.measure != "median_change_bp":
            raise ValueError(f"{where}: targets[{j}]: {label(a)} is a {kinds[a]} factor (changes in basis points), "
                             f"so measure {t.measure!r} (a price measure) does not apply to it (allowed: "
                             f"measure = \"median_change_bp\")")
        if not absolute and t.measure == "median_change_bp":
            raise ValueError(f"{where}: targets[{j}]: {label(a)} is a {kinds[a]} factor (percent log returns), so "
                             f"measure \"median_change_bp\" (a rate or spread measure) does not apply to it "
                             f"(allowed: median_return_pct, median_drawdown_pct, median_vol_pct, peak_median_vol_pct)")


# ---------------------------------------------------------------------- regimes and copulas
def _scaled_marginal(m: MarginalSpec, k: float) -> MarginalSpec:
    """The same marginal with long-run volatility multiplied by ``k``."""
    v = m.vol
    scaled = v.family.scaled(v.values, k)
    return MarginalSpec(MeanSpec(m.mean.mu), VolSpec(v.type, tuple(scaled.items())), m.dist)


def _elliptical_corr(model: MarketModel) -> np.ndarray:
    """Correlation of the model's copula; Archimedean copulas by Kendall-tau equivalence, sin(pi tau / 2)."""
    from simulator.families import copula_family, spec_params

    return copula_family(model.copula.type).equivalent_correlation(spec_params(model.copula), model.n_assets)[0]


def _crisis_copula(model: MarketModel, rho: float | None, nu: float | None, cols, key: str) -> CopulaSpec:
    corr = _elliptical_corr(model)
    if rho is not None:
        for i in cols:
            for j in cols:
                if i != j:
                    corr[i, j] = rho
    if np.linalg.eigvalsh(corr).min() <= 1e-10:
        raise ValueError(f"{key}: rho = {rho} makes the crisis correlation matrix not positive definite "
                         f"(allowed: rho > {-1 / (len(cols) - 1):.3f} for {len(cols)} equicorrelated assets, "
                         f"and compatible with the other assets' correlations)")
    if nu is None and model.copula.type == "t" and rho is not None:
        nu = model.copula.nu
    corr_t = tuple(tuple(float(v) for v in row) for row in corr)
    if nu is not None:
        return CopulaSpec("t", corr_t, float(nu))
    return CopulaSpec("gaussian", corr_t)


def _add_correlation_break(sched: Schedule, shock, model: MarketModel, cols, key: str) -> None:
    spec = _crisis_copula(model, shock.rho, shock.nu, cols, key)
    sched.copulas.append(spec)
    c = len(sched.copulas) - 1
    start = shock.day - 1
    sched.day_copula[start:min(sched.horizon, start + shock.days)] = c


def _add_regime(sched: Schedule, shock, model: MarketModel, scenario, key: str) -> None:
    if len(sched.regimes) > 1:
        raise ValueError(f"{key}: only one regime_switch per scenario")
    if shock.stress_model is not None:
        from simulator.builtin import load_builtin_model

        ref = shock.stress_model
        if ref.startswith("builtin:"):
            stress = load_builtin_model(ref.split(":", 1)[1])
        else:
            base = Path(scenario.path).parent if getattr(scenario, "path", None) else Path.cwd()
            stress = MarketModel.from_json(str(base / ref))
        missing = [a for a in model.assets if a not in stress.assets]
        if missing:
            raise ValueError(f"{key}: stress_model {ref!r} lacks asset(s) {', '.join(missing)} of the model "
                             f"(it has {', '.join(stress.assets)})")
        order = [stress.assets.index(a) for a in model.assets]
        marginals = tuple(stress.marginals[i] for i in order)
        if stress.copula.type in ("gaussian", "t"):
            corr = stress.copula.corr_matrix(stress.n_assets)[np.ix_(order, order)]
            copula = CopulaSpec(stress.copula.type, tuple(tuple(map(float, r)) for r in corr), stress.copula.nu)
        else:
            copula = stress.copula
    else:
        st = shock.stress
        marginals = tuple(_scaled_marginal(m, st.vol_multiplier) for m in model.marginals)
        if st.rho is None and st.nu is None:
            copula = model.copula
        else:
            copula = _crisis_copula(model, st.rho, st.nu, list(range(model.n_assets)), key)
    # copula set k belongs to regime k: insert at 1 and shift correlation-break overrides up by one
    sched.regimes.append(marginals)
    sched.copulas.insert(1, copula)
    sched.day_copula = np.where(sched.day_copula >= 1, sched.day_copula + 1, sched.day_copula)
    pe, px = shock.p_enter, shock.p_exit
    sched.regime_transition = np.array([[1.0 - pe, pe], [px, 1.0 - px]])
    if shock.start == "calm":
        sched.regime_initial = np.array([1.0, 0.0])
    elif shock.start == "stress":
        sched.regime_initial = np.array([0.0, 1.0])
    else:
        p = pe / (pe + px)
        sched.regime_initial = np.array([1.0 - p, p])


# ---------------------------------------------------------------------- historical replay
def replay_returns(replay_data: Mapping[str, Any] | None, data: str, key: str = "historical_replay"):
    """The returns frame of ``data`` in ``replay_data``, or a ``ValueError`` saying how to supply it."""
    if replay_data is None or data not in replay_data:
        raise ValueError(f"{key}: the returns of {data!r} were not supplied; compile a scenario with replays through "
                         f"simulator.jobs.compile_scenario (or pass replay_data={{{data!r}: returns}})")
    return replay_data[data]


def replay_vectors(model: MarketModel, returns, window, *, data: str = "<data>", key: str = "historical_replay",
                   scaling: str = "filtered") -> np.ndarray:
    """The replay vectors (n_days, n_assets) of ``window`` in ``returns``, one per trading day.

    ``returns`` holds the data set's percent log returns (DataFrame indexed by date, one column per asset,
    from its first day); ``data`` names it in messages. ``scaling="filtered"``: standardised residuals
    ``z_t = (r_t - mu) / sigma_t`` under the model's own marginals (filtered historical simulation); the
    variance recursion runs over the data from its first day (started at the unconditional variance) up
    to the window's end, so sigma_t is the model's conditional sigma on each date. ``scaling="historical"``:
    the percent log returns ``r_t`` themselves (the kernel takes their residual about the day's regime mean).
    """
    if scaling not in ("filtered", "historical"):
        raise ValueError(f"{key}: scaling {scaling!r} is not one of 'filtered', 'historical'")
    cols = _data_columns(model, list(returns.columns), data, key)
    start, end = (np.datetime64(str(d)) for d in window)
    r = returns.loc[: str(window[1])]
    in_window = (r.index >= start) & (r.index <= end)
    if not in_window.any():
        raise ValueError(f"{key}: window {window[0]}..{window[1]} has no trading day in {data}")
    z = np.empty((int(in_window.sum()), model.n_assets))
    for a, (m, col) in enumerate(zip(model.marginals, cols)):
        x = r[col].to_numpy(float)
        eps = _filter(m, x) if scaling == "filtered" else x
        z[:, a] = eps[in_window]
    return z


def _data_columns(model: MarketModel, columns: list[str], data: str, key: str) -> list[str]:
    out = []
    for asset in model.assets:
        if asset in columns:
            out.append(asset)
            continue
        role = next((r for r, a in DEFAULT_ROLES.items() if a == asset), None)
        raise ValueError(f"{key}: model asset {asset!r} has no column in {data} (columns: {', '.join(columns)})"
                         + (f"; role {role!r}" if role else ""))
    return out


def _filter(m: MarginalSpec, x: np.ndarray) -> np.ndarray:
    """Standardised residuals of percent returns ``x`` under marginal ``m`` (arch's recursion, started at
    the unconditional variance)."""
    return (x - m.mean.mu) / np.sqrt(m.filter(x))


def __getattr__(name: str):
    """Deprecated name: ``replay_residuals`` (which also loads the data) is now
    :func:`simulator.jobs.replay_residuals`."""
    if name == "replay_residuals":
        import warnings

        from simulator.jobs.scenario import replay_residuals

        warnings.warn("simulator.shocks.replay_residuals has moved to simulator.jobs.replay_residuals",
                      DeprecationWarning, stacklevel=2)
        return replay_residuals
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
