"""Benchmark: the stress-sim Monte Carlo engine vs arch vs a hand-written numpy simulator.

One run measures, side by side, for one market model (10 assets, t copula with equicorrelation
0.5 and nu=5, GJR(1,1,1) omega=0.02 alpha=0.03 gamma=0.10 beta=0.88 with standardised
Student-t(nu=6) innovations, 250 days):

1. stress-sim ``simulate`` in ``keep="summary"`` and ``keep="paths"`` mode, after a warm-up call
   that compiles (or loads from the numba cache) the kernel;
2. ``arch``: per asset, ``arch_model(...).forecast(method="simulation")`` from the last
   observation, the nearest thing a user has today (univariate: no copula, so it does less work);
3. plain numpy: the same model vectorised over paths x assets with a loop over days (Cholesky
   normals, chi-square mixing, ``scipy.special.stdtr`` / ``stdtrit`` for the copula-to-marginal
   map, GJR recursion); its output distribution is checked against the engine's with
   two-sample KS tests so the comparison is of the same model;
4. memory: ``keep="summary"`` for 1,000,000 paths in a child process, wall time and peak RSS;
5. a breakdown of the engine's cost by model component (simpler models through the same public
   API) and its scaling from one thread to all;
6. a breakdown by kernel stage on one thread: each stage of the lockstep kernel timed alone through the
   kernel's own compiled functions (normals, copula draws, gamma mixing, quantile tables) against the full
   kernel, in ns per path-asset-step; the normals alone are the RNG bound.

Throughput is in path-asset-steps per second: paths x assets x days / seconds. Every timing is the
best of ``--repeats`` calls (other work on a shared machine only ever slows a call down).

Usage::

    python benchmarks/engine.py            # full run, writes benchmarks/results/engine.json
    python benchmarks/engine.py --quick    # small sizes for smoke testing (engine-quick.json)
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(HERE.parent))
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _common import (  # noqa: E402
    RESULTS_DIR,
    Timing,
    best_of,
    format_table,
    interleaved_best,
    machine_info,
    run_measured,
    self_peak_rss_bytes,
    write_json,
)

N_ASSETS = 10
RHO = 0.5
COPULA_NU = 5.0
GJR = {"omega": 0.02, "alpha": 0.03, "gamma": 0.10, "beta": 0.88}
MARGINAL_NU = 6.0
MU = 0.03
HORIZON = 250
TARGETS = {"engine_over_arch": 20.0, "engine_over_numpy": 5.0, "memory_peak_bytes": 2 * 10**9}

FULL = {"paths": 100_000, "arch_paths": 20_000, "numpy_paths": 10_000, "memory_paths": 1_000_000,
        "breakdown_paths": 25_000, "stage_paths": 25_600, "horizon": HORIZON, "repeats": 3}
QUICK = {"paths": 2_000, "arch_paths": 500, "numpy_paths": 1_000, "memory_paths": 20_000,
         "breakdown_paths": 1_000, "stage_paths": 256, "horizon": 50, "repeats": 1}


# ---------------------------------------------------------------------------------------- model
def model_dict(n_assets: int = N_ASSETS, *, vol: dict | None = None, dist: dict | None = None,
               copula: dict | None = None) -> dict:
    """The benchmark model as a stress-sim model dict (homogeneous assets ``A0 .. A{n-1}``)."""
    vol = vol or {"type": "gjr", **GJR}
    dist = dist or {"type": "t", "nu": MARGINAL_NU}
    if copula is None:
        copula = {"type": "t", "corr": equicorrelation(n_assets, RHO).tolist(), "nu": COPULA_NU}
    return {
        "assets": [f"A{i}" for i in range(n_assets)],
        "marginals": [{"mean": {"mu": MU}, "vol": dict(vol), "dist": dict(dist)} for _ in range(n_assets)],
        "copula": copula,
    }


def equicorrelation(n: int, rho: float) -> np.ndarray:
    """``n x n`` correlation matrix with every off-diagonal entry ``rho``."""
    c = np.full((n, n), float(rho))
    np.fill_diagonal(c, 1.0)
    return c


def build_model(**kwargs):
    from simulator import MarketModel

    return MarketModel.from_dict(model_dict(**kwargs))


# ------------------------------------------------------------------------------- stress-sim engine
class Case:
    """One contender: ``call()`` runs the timed work; ``figures(timing)`` gives its JSON entry;
    ``result`` holds the output of the latest call."""

    def __init__(self, call, info: dict, cells: int):
        self._call, self.info, self.cells, self.result = call, info, cells, None

    def __call__(self) -> None:
        self.result = None  # free the previous result first: keep="paths" holds gigabytes
        self.result = self._call()

    def figures(self, timing: Timing) -> dict:
        return {**self.info, **timing.to_dict(), "path_asset_steps_per_s": self.cells / timing.best}


def engine_case(model, n_paths: int, horizon: int, *, keep: str, n_threads: int | None = None,
                seed: int = 20240601) -> Case:
    """``simulate(model, n_paths, horizon, seed, keep=keep)``, after a warm-up call that compiles the
    kernel (or loads it from numba's cache) and whose time is recorded as ``warmup_s``."""
    from simulator import simulate

    t0 = time.perf_counter()
    simulate(model, min(n_paths, 256), horizon, seed, keep=keep, n_threads=n_threads)
    warmup = time.perf_counter() - t0
    info = {"n_paths": n_paths, "horizon": horizon, "n_assets": model.n_assets, "keep": keep,
            "n_threads": n_threads if n_threads is not None else _numba_threads(), "warmup_s": warmup}
    return Case(lambda: simulate(model, n_paths, horizon, seed, keep=keep, n_threads=n_threads), info,
                n_paths * horizon * model.n_assets)


def bench_engine(model, n_paths: int, horizon: int, *, keep: str, repeats: int,
                 n_threads: int | None = None) -> dict:
    """Best-of-``repeats`` figures of one engine configuration."""
    case = engine_case(model, n_paths, horizon, keep=keep, n_threads=n_threads)
    return case.figures(best_of(case, repeats=repeats))


def _numba_threads() -> int:
    import numba

    return int(numba.get_num_threads())


# ------------------------------------------------------------------------------------------- arch
def arch_params() -> np.ndarray:
    """arch's parameter vector for ConstantMean + GJR(1,1,1) + StudentsT: mu, omega, alpha, gamma, beta, nu."""
    return np.array([MU, GJR["omega"], GJR["alpha"], GJR["gamma"], GJR["beta"], MARGINAL_NU])


def arch_models(n_assets: int, *, n_obs: int = 1000, seed: int = 7) -> list:
    """One arch model per asset, each on its own series simulated from the benchmark marginal."""
    from arch import arch_model
    from arch.univariate import StudentsT

    params = arch_params()
    root = np.random.SeedSequence(seed)
    models = []
    for child in root.spawn(n_assets):
        gen_seed, sim_seed = child.spawn(2)
        gen = arch_model(None, mean="Constant", vol="GARCH", p=1, o=1, q=1, dist="t")
        gen.distribution = StudentsT(seed=np.random.default_rng(gen_seed))
        y = gen.simulate(params, n_obs, burn=500)["data"].to_numpy()
        mod = arch_model(y, mean="Constant", vol="GARCH", p=1, o=1, q=1, dist="t")
        mod.distribution = StudentsT(seed=np.random.default_rng(sim_seed))
        models.append(mod)
    return models


def arch_case(n_paths: int, horizon: int, n_assets: int) -> Case:
    """``forecast(method="simulation")`` for every asset; throughput counts all assets."""
    params = arch_params()
    models = arch_models(n_assets)
    last = len(models[0]._y) - 1  # noqa: SLF001 - arch exposes no public length

    def call():
        for mod in models:
            fc = mod.forecast(params=params, horizon=horizon, method="simulation", simulations=n_paths,
                              start=last, reindex=False)
            assert fc.simulations.values.shape == (1, n_paths, horizon)

    info = {"n_paths": n_paths, "horizon": horizon, "n_assets": n_assets,
            "note": "univariate per asset (no copula), so it does less work than the engine"}
    return Case(call, info, n_paths * horizon * n_assets)


# ------------------------------------------------------------------------------------ plain numpy
def numpy_simulate(model, n_paths: int, horizon: int, seed) -> dict[str, np.ndarray]:
    """The copula-GJR model, vectorised over paths x assets, one Python iteration per day.

    What a quant would write by hand with numpy and scipy: correlated normals through the Cholesky
    factor, chi-square mixing for the t copula, ``u = stdtr(nu_c, x)`` and the standardised
    Student-t quantile ``eps = sqrt((nu - 2) / nu) * stdtrit(nu, u)`` (both evaluated on the lower
    tail, using symmetry, so upper-tail draws keep their precision), the GJR recursion, and the same
    per-path summaries as ``keep="summary"``.

    Supports the benchmark's model family only: t copula, GJR volatility, Student-t marginals.

    Returns
    -------
    dict with ``cum_return`` and ``max_drawdown``, arrays of shape (n_paths, n_assets): cumulative
    percent log return and largest fall from the running peak as a fraction of the peak price.
    """
    from scipy import special

    if model.copula.type != "t":
        raise ValueError(f"numpy_simulate supports copula type 't' only, got {model.copula.type!r}")
    for name, m in zip(model.assets, model.marginals):
        if m.vol.type != "gjr" or m.dist.type != "t":
            raise ValueError(f"numpy_simulate supports gjr volatility with t innovations only; "
                             f"asset {name!r} has vol {m.vol.type!r}, dist {m.dist.type!r}")
    n_assets = model.n_assets
    mu = np.array([m.mean.mu for m in model.marginals])
    omega = np.array([m.vol.omega for m in model.marginals])
    alpha = np.array([m.vol.alpha for m in model.marginals])
    gamma = np.array([m.vol.gamma for m in model.marginals])
    beta = np.array([m.vol.beta for m in model.marginals])
    nu_m = np.array([m.dist.nu for m in model.marginals])
    scale_m = np.sqrt((nu_m - 2.0) / nu_m)
    nu_c = float(model.copula.nu)
    chol_t = np.linalg.cholesky(model.copula.corr_matrix(n_assets)).T
    start = model.start_state()

    rng = np.random.default_rng(seed)
    s2 = np.broadcast_to(np.array(start.sigma2, float), (n_paths, n_assets)).copy()
    e = np.broadcast_to(np.array(start.resid, float), (n_paths, n_assets)).copy()
    cum = np.zeros((n_paths, n_assets))
    peak = np.zeros((n_paths, n_assets))
    dd = np.zeros((n_paths, n_assets))
    for _ in range(horizon):
        s2 = omega + (alpha + gamma * (e < 0.0)) * (e * e) + beta * s2
        x = rng.standard_normal((n_paths, n_assets)) @ chol_t
        x /= np.sqrt(rng.chisquare(nu_c, n_paths) / nu_c)[:, None]
        u_low = special.stdtr(nu_c, -np.abs(x))  # the smaller tail probability, computed directly
        eps = np.copysign(-scale_m * special.stdtrit(nu_m, u_low), x)
        e = np.sqrt(s2) * eps
        cum += mu + e
        np.maximum(peak, cum, out=peak)
        np.maximum(dd, peak - cum, out=dd)
    return {"cum_return": cum, "max_drawdown": -np.expm1(-dd / 100.0)}


def numpy_case(model, n_paths: int, horizon: int, *, seed: int = 11) -> Case:
    info = {"n_paths": n_paths, "horizon": horizon, "n_assets": model.n_assets}
    return Case(lambda: numpy_simulate(model, n_paths, horizon, seed), info, n_paths * horizon * model.n_assets)


def same_model_check(engine_res, numpy_res: dict) -> dict:
    """Two-sample KS tests, engine vs numpy, on asset 0's cumulative return and max drawdown, and
    the correlation of cumulative returns between assets 0 and 1 (the copula at work)."""
    from scipy import stats

    out = {}
    for key in ("cum_return", "max_drawdown"):
        a = np.asarray(getattr(engine_res, key)[:, 0])
        b = np.asarray(numpy_res[key][:, 0])
        ks = stats.ks_2samp(a, b)
        out[f"ks_{key}_asset0"] = {"statistic": float(ks.statistic), "pvalue": float(ks.pvalue),
                                   "n_engine": int(a.size), "n_numpy": int(b.size),
                                   "mean_engine": float(a.mean()), "mean_numpy": float(b.mean()),
                                   "std_engine": float(a.std()), "std_numpy": float(b.std())}
    corr_e = float(np.corrcoef(engine_res.cum_return[:, 0], engine_res.cum_return[:, 1])[0, 1])
    corr_n = float(np.corrcoef(numpy_res["cum_return"][:, 0], numpy_res["cum_return"][:, 1])[0, 1])
    n_n = numpy_res["cum_return"].shape[0]
    out["corr_cum_return_asset0_asset1"] = {
        "engine": corr_e, "numpy": corr_n,
        # Fisher z difference in standard errors
        "z": (math.atanh(corr_e) - math.atanh(corr_n))
        / math.sqrt(1.0 / (engine_res.n_paths - 3) + 1.0 / (n_n - 3)),
    }
    out["agree"] = bool(out["ks_cum_return_asset0"]["pvalue"] > 1e-3 and out["ks_max_drawdown_asset0"]["pvalue"] > 1e-3
                        and abs(out["corr_cum_return_asset0_asset1"]["z"]) < 3.3)
    return out


# ----------------------------------------------------------------------------------------- memory
def memory_child(n_paths: int, horizon: int, n_threads: int | None) -> None:
    """Child-process body: one ``keep="summary"`` run; prints its figures as one JSON line."""
    from simulator import simulate

    model = build_model()
    simulate(model, 256, horizon, 1, keep="summary", n_threads=n_threads)  # compile / load cache
    rss_ready = self_peak_rss_bytes()
    t0 = time.perf_counter()
    res = simulate(model, n_paths, horizon, 1, keep="summary", n_threads=n_threads)
    sim_s = time.perf_counter() - t0
    print(json.dumps({
        "simulate_s": sim_s, "peak_rss_before_run_bytes": rss_ready,
        "chunk_paths": res.meta.get("chunk_paths"), "n_chunks": res.meta.get("n_chunks"),
        "mean_cum_return_asset0": float(res.cum_return[:, 0].mean()),
    }))


def bench_memory(n_paths: int, horizon: int, n_threads: int | None) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--memory-child", "--memory-paths", str(n_paths),
           "--horizon", str(horizon)]
    if n_threads is not None:
        cmd += ["--threads", str(n_threads)]
    run = run_measured(cmd)
    if run.returncode != 0:
        raise RuntimeError(f"memory child failed (exit {run.returncode}):\n{run.stderr[-4000:]}")
    child = json.loads(run.stdout.strip().splitlines()[-1])
    cells = n_paths * horizon * N_ASSETS
    return {
        "n_paths": n_paths, "horizon": horizon, "n_assets": N_ASSETS, "keep": "summary",
        "wall_s": run.wall_s, "peak_rss_bytes": run.peak_rss_bytes,
        "path_asset_steps_per_s": cells / child["simulate_s"], **child,
    }


# -------------------------------------------------------------------------------------- breakdown
BREAKDOWN = (
    ("independent normals, GARCH, normal marginals",
     {"copula": {"type": "independent"}, "vol": {"type": "garch", "omega": 0.02, "alpha": 0.08, "beta": 0.88},
      "dist": {"type": "normal"}}),
    ("+ gaussian copula (Cholesky)",
     {"copula": {"type": "gaussian", "corr": None}, "vol": {"type": "garch", "omega": 0.02, "alpha": 0.08,
                                                           "beta": 0.88}, "dist": {"type": "normal"}}),
    ("+ t copula (chi-square mixing, t->normal table)",
     {"copula": {"type": "t", "corr": None, "nu": COPULA_NU},
      "vol": {"type": "garch", "omega": 0.02, "alpha": 0.08, "beta": 0.88}, "dist": {"type": "normal"}}),
    ("+ GJR, Student-t marginals (the benchmark model)", {}),
)


def bench_breakdown(n_paths: int, horizon: int, *, repeats: int) -> list[dict]:
    """Engine throughput (keep="summary") on models that add one component at a time."""
    rows = []
    for label, kw in BREAKDOWN:
        kw = {k: (dict(v) if isinstance(v, dict) else v) for k, v in kw.items()}
        if "copula" in kw and "corr" in kw["copula"]:
            kw["copula"]["corr"] = equicorrelation(N_ASSETS, RHO).tolist()
        model = build_model(**kw)
        fig = bench_engine(model, n_paths, horizon, keep="summary", repeats=repeats)
        fig["label"] = label
        fig["ns_per_path_asset_step_per_thread"] = 1e9 * fig["n_threads"] / fig["path_asset_steps_per_s"]
        rows.append(fig)
    return rows


def bench_threads(model, n_paths: int, horizon: int, *, repeats: int) -> list[dict]:
    """Engine throughput (keep="summary") on 1 thread and on all numba threads."""
    rows = []
    for n in sorted({1, _numba_threads()}):
        fig = bench_engine(model, n_paths, horizon, keep="summary", repeats=repeats, n_threads=n)
        rows.append(fig)
    return rows


# --------------------------------------------------------------------------------- kernel stages
def _stage_functions():
    """Compiled loops that run one stage of :func:`simulator.kernels.paths.simulate_block` alone over ``n_blocks``
    blocks x ``horizon`` days, through the kernel's own functions and compile options (the lane count is a
    run-time value, as in the kernel: a constant would let LLVM unroll the lane loops and change the code)."""
    from numba import njit

    from simulator.kernels import paths
    from simulator.kernels._targets import CPU_OPTIONS
    from simulator.kernels.rng import gamma_lanes, lane_store, normal_lanes, seed_stream

    jit = njit(**CPU_OPTIONS)
    # positions in the work tuple (paths.WORK), frozen into the compiled loops as constants
    i_S, i_st, i_word, i_flag, i_idx = (paths.WORK.index(n) for n in ("S", "st", "word", "flag", "idx"))
    i_cl, i_sl, i_g0, i_g1, i_g2, i_g3 = (paths.WORK.index(n) for n in ("cl", "sl", "g0", "g1", "g2", "g3"))
    i_z, i_x, i_eps = (paths.WORK.index(n) for n in ("z", "x", "eps"))

    @jit
    def seed(S, st, block, n_lanes):
        for lane in range(n_lanes):
            seed_stream(st, np.uint64(1), np.uint64(2), block * n_lanes + lane)
            lane_store(S, st, lane)

    @jit
    def normals(work, n_blocks, horizon, n_lanes):
        S, st, word, flag = work[i_S], work[i_st], work[i_word], work[i_flag]
        z = work[i_z]
        acc = 0.0
        for block in range(n_blocks):
            seed(S, st, block, n_lanes)
            for _ in range(horizon):
                for a in range(z.shape[0]):
                    normal_lanes(S, st, word, flag, z[a], n_lanes)
                acc += z[0, 0]
        return acc

    @jit
    def gammas(work, n_blocks, horizon, n_lanes, nu):
        S, st, word, flag = work[i_S], work[i_st], work[i_word], work[i_flag]
        g0, g1, g2, g3 = work[i_g0], work[i_g1], work[i_g2], work[i_g3]
        acc = 0.0
        for block in range(n_blocks):
            seed(S, st, block, n_lanes)
            for _ in range(horizon):
                for lane in range(n_lanes):
                    g3[lane] = 0.5 * nu
                gamma_lanes(S, st, word, flag, g0, g1, g2, g3, n_lanes)
                acc += g2[0]
        return acc

    @jit
    def copula(work, n_blocks, horizon, n_lanes, model, tilt, logw, chunk_z):
        S, st, word, flag, idx, cl = work[i_S], work[i_st], work[i_word], work[i_flag], work[i_idx], work[i_cl]
        g0, g1, g2, g3 = work[i_g0], work[i_g1], work[i_g2], work[i_g3]
        z, x, w = work[i_z], work[i_x], work[i_eps]
        acc = 0.0
        for block in range(n_blocks):
            seed(S, st, block, n_lanes)
            for lane in range(n_lanes):
                cl[lane] = 0
            for t in range(horizon):
                paths._elliptical_lanes(S, st, word, flag, idx, g0, g1, g2, g3, 0, cl, n_lanes, z.shape[0], model, z,
                                        x, w, tilt, t, logw, 0, chunk_z)
                acc += x[0, 0]
        return acc

    @jit
    def tables(work, n_blocks, horizon, n_lanes, tabs, xs, anchored):
        flag, idx, sl, g0, g1, eps = work[i_flag], work[i_idx], work[i_sl], work[i_g0], work[i_g1], work[i_eps]
        acc = 0.0
        for _ in range(n_blocks):
            for lane in range(n_lanes):
                sl[lane] = 0
            for t in range(horizon):
                paths._tables(tabs.tab_c, tabs.tab_kind, tabs.tab_xc, tabs.tab_ihc, tabs.tab_iht, 0, sl, flag, idx, g0,
                              g1, n_lanes, eps.shape[0], xs[t % xs.shape[0]], eps, 0, anchored)
                acc += eps[0, 0]
        return acc

    return normals, gammas, copula, tables


def bench_stages(model, n_paths: int, horizon: int, *, repeats: int) -> dict:
    """ns per path-asset-step of each kernel stage alone and of the full kernel, one thread, the benchmark model.

    Stages (the kernel's own compiled functions, on blocks of :data:`simulator.kernels.paths.LANES` lanes):
    ``normals`` draws one standard normal per path, asset and day (:func:`~simulator.kernels.rng.normal_lanes`:
    the RNG bound, the time to draw the normals alone); ``copula`` the whole copula draw (normals, Cholesky
    product, the t copula's gamma mixing and scaling: ``_elliptical_lanes``), of which ``gamma`` is the
    Marsaglia-Tsang draw alone (one per path-day, spread over the assets); ``tables`` the quantile tables on
    t(5)-copula values (``_tables``); ``kernel`` :func:`~simulator.kernels.paths.simulate_chunk` itself (via
    :func:`simulator.backends.run_chunk`); ``rest`` = kernel - copula - tables: the variance recursion, returns,
    summaries and per-day bookkeeping. Each figure is the best of ``max(repeats, 5)`` rounds, interleaved.
    """
    import numba

    from simulator.backends import run_chunk
    from simulator.kernels.paths import LANES
    from simulator.schedule import Schedule
    from simulator.seeding import resolve_seed

    arrays = Schedule.from_model(model, horizon).kernel_arrays()
    n_assets = arrays.n_assets
    n_blocks = max(1, n_paths // LANES)
    n_lanes = np.int64(LANES)
    # the work arrays in the order of paths.WORK: lane states, scalar state, word, flag, five per-lane int64
    # (kl, cl, sl, stressed, idx), four per-lane float64 (g0..g3), eleven (asset, lane) float64
    work = (np.zeros((4, LANES), np.uint64), np.zeros(4, np.uint64), np.zeros(LANES, np.uint64),
            np.zeros(LANES, np.uint8), *[np.zeros(LANES, np.int64) for _ in range(5)],
            *[np.zeros(LANES) for _ in range(4)], *[np.zeros((n_assets, LANES)) for _ in range(11)])
    rng = np.random.default_rng(5)
    chol = np.linalg.cholesky(model.copula.corr_matrix(n_assets))
    days = 8  # copula-scale values the table stage cycles through (the t copula's law; 20 KB, in L1 as in the kernel)
    xs = np.einsum("ab,dbl->dal", chol, rng.standard_normal((days, n_assets, LANES)))
    xs /= np.sqrt(rng.chisquare(COPULA_NU, (days, 1, LANES)) / COPULA_NU)
    normals, gammas, copula, tables = _stage_functions()
    keys = resolve_seed(1)
    stages = {
        "normals": lambda: normals(work, n_blocks, horizon, n_lanes),
        "copula": lambda: copula(work, n_blocks, horizon, n_lanes, arrays.model, arrays.shocks.tilt, np.zeros(0),
                                 np.zeros((0, 0, n_assets))),
        "gamma": lambda: gammas(work, n_blocks, horizon, n_lanes, COPULA_NU),
        "tables": lambda: tables(work, n_blocks, horizon, n_lanes, arrays.tables, xs, arrays.anchors.anc_asset),
        "kernel": lambda: run_chunk(arrays, keys, 0, n_blocks * LANES, horizon, False),
    }
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        for call in stages.values():  # compile
            call()
        timings = interleaved_best(stages, repeats=max(repeats, 5))
    finally:
        numba.set_num_threads(threads)
    cells = n_blocks * LANES * horizon * n_assets
    ns = {name: 1e9 * tm.best / cells for name, tm in timings.items()}
    ns["rest"] = ns["kernel"] - ns["copula"] - ns["tables"]
    return {"n_paths": n_blocks * LANES, "horizon": horizon, "n_assets": n_assets, "n_threads": 1, "lanes": LANES,
            "ns_per_path_asset_step": ns, "kernel_over_rng_bound": ns["kernel"] / ns["normals"],
            "repeats_s": {name: list(tm.all) for name, tm in timings.items()}}


# ------------------------------------------------------------------------------------------- main
def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes and one repeat, for smoke testing")
    p.add_argument("--paths", type=int, help=f"engine paths per timed call (default {FULL['paths']:,})")
    p.add_argument("--arch-paths", type=int, help=f"arch simulations per asset (default {FULL['arch_paths']:,})")
    p.add_argument("--numpy-paths", type=int, help=f"plain-numpy paths (default {FULL['numpy_paths']:,})")
    p.add_argument("--memory-paths", type=int, help=f"paths of the memory run (default {FULL['memory_paths']:,})")
    p.add_argument("--breakdown-paths", type=int, help=f"paths per breakdown run (default {FULL['breakdown_paths']:,})")
    p.add_argument("--stage-paths", type=int, help=f"paths per kernel-stage run (default {FULL['stage_paths']:,})")
    p.add_argument("--horizon", type=int, help=f"days (default {FULL['horizon']})")
    p.add_argument("--repeats", type=int, help=f"timed calls per figure, best reported (default {FULL['repeats']})")
    p.add_argument("--threads", type=int, default=None, help="numba threads for the engine (default: all)")
    p.add_argument("--skip", action="append", default=[], choices=["memory", "breakdown", "threads", "stages"],
                   help="leave out a section (repeatable)")
    p.add_argument("--out", type=Path, default=None,
                   help="JSON output file (default benchmarks/results/engine.json, engine-quick.json with --quick)")
    p.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    for key, default in sizes.items():
        if getattr(args, key) is None:
            setattr(args, key, default)
        if getattr(args, key) < 1:
            p.error(f"--{key.replace('_', '-')} must be >= 1, got {getattr(args, key)}")
    if args.threads is not None and args.threads < 1:
        p.error(f"--threads must be >= 1, got {args.threads}")
    return args


def _loadavg() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("nan")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.memory_child:
        memory_child(args.memory_paths, args.horizon, args.threads)
        return 0
    import numba

    if args.threads is not None:
        numba.set_num_threads(args.threads)
    h, rep = args.horizon, args.repeats
    model = build_model()
    info = machine_info()
    print(f"stress-sim engine benchmark: {N_ASSETS} assets, t copula (rho={RHO}, nu={COPULA_NU:g}), "
          f"GJR + t({MARGINAL_NU:g}) marginals, {h} days; best of {rep}; "
          f"{info.get('usable_cpus')} CPUs, numba threads {_numba_threads()}", flush=True)

    cases = {
        "engine_summary": engine_case(model, args.paths, h, keep="summary"),
        "engine_paths": engine_case(model, args.paths, h, keep="paths"),
        "arch": arch_case(args.arch_paths, h, N_ASSETS),
        "numpy": numpy_case(model, args.numpy_paths, h),
    }
    timings = interleaved_best(cases, repeats=rep)
    figs = {name: case.figures(timings[name]) for name, case in cases.items()}
    load = _loadavg()
    if load is not None and load > 0.5 * (info.get("usable_cpus") or 1):
        print(f"  note: load average {load:.1f} on {info.get('usable_cpus')} CPUs: other work is running, "
              "figures are pessimistic (the parallel engine suffers most)", flush=True)
    eng_sum, eng_paths, arch_fig, np_fig = (figs[k] for k in ("engine_summary", "engine_paths", "arch", "numpy"))
    for name, fig in figs.items():
        print(f"  {name:15s} best {fig['best_s']:.2f} s of {', '.join(f'{t:.2f}' for t in fig['repeats_s'])}",
              flush=True)
    check = same_model_check(cases["engine_summary"].result, cases["numpy"].result)
    del cases

    mem = None
    if "memory" not in args.skip:
        mem = bench_memory(args.memory_paths, h, args.threads)
        print(f"  memory run:     {mem['wall_s']:.2f} s", flush=True)
    breakdown = [] if "breakdown" in args.skip else bench_breakdown(args.breakdown_paths, h, repeats=rep)
    threads = [] if "threads" in args.skip else bench_threads(model, args.breakdown_paths, h, repeats=rep)
    stages = None if "stages" in args.skip else bench_stages(model, args.stage_paths, h, repeats=rep)

    tp = {"engine_summary": eng_sum["path_asset_steps_per_s"], "engine_paths": eng_paths["path_asset_steps_per_s"],
          "arch": arch_fig["path_asset_steps_per_s"], "numpy": np_fig["path_asset_steps_per_s"]}
    ratios = {
        "engine_summary_over_arch": _ratio(tp["engine_summary"], tp["arch"]),
        "engine_paths_over_arch": _ratio(tp["engine_paths"], tp["arch"]),
        "engine_summary_over_numpy": _ratio(tp["engine_summary"], tp["numpy"]),
        "engine_paths_over_numpy": _ratio(tp["engine_paths"], tp["numpy"]),
    }
    targets = {
        "engine_over_arch": {"target": TARGETS["engine_over_arch"], "measured": ratios["engine_summary_over_arch"],
                             "met": ratios["engine_summary_over_arch"] >= TARGETS["engine_over_arch"]},
        "engine_over_numpy": {"target": TARGETS["engine_over_numpy"], "measured": ratios["engine_summary_over_numpy"],
                              "met": ratios["engine_summary_over_numpy"] >= TARGETS["engine_over_numpy"]},
    }
    if mem is not None:
        targets["memory_peak_bytes"] = {"target": TARGETS["memory_peak_bytes"], "measured": mem["peak_rss_bytes"],
                                        "met": mem["peak_rss_bytes"] < TARGETS["memory_peak_bytes"],
                                        "n_paths": mem["n_paths"]}

    print()
    def speedups(this: float) -> tuple[float, float]:
        return _ratio(tp["engine_summary"], this), _ratio(tp["engine_paths"], this)

    rows = [
        ("stress-sim keep=summary", eng_sum["n_paths"], eng_sum["best_s"], tp["engine_summary"] / 1e6,
         *speedups(tp["engine_summary"])),
        ("stress-sim keep=paths", eng_paths["n_paths"], eng_paths["best_s"], tp["engine_paths"] / 1e6,
         *speedups(tp["engine_paths"])),
        ("arch forecast(simulation), per asset*", arch_fig["n_paths"], arch_fig["best_s"], tp["arch"] / 1e6,
         *speedups(tp["arch"])),
        ("plain numpy/scipy, same model", np_fig["n_paths"], np_fig["best_s"], tp["numpy"] / 1e6,
         *speedups(tp["numpy"])),
    ]
    print(format_table(["implementation", "paths", "best s", "M path-asset-steps/s", "summary x", "paths x"],
                       rows))
    print("  * univariate, no copula: does less work than the others.")
    print()
    print(f"speed-up engine(summary)/arch  = {ratios['engine_summary_over_arch']:6.1f}x  "
          f"(paths: {ratios['engine_paths_over_arch']:.1f}x)  target >= {TARGETS['engine_over_arch']:g}x: "
          f"{'met' if targets['engine_over_arch']['met'] else 'MISSED'}")
    print(f"speed-up engine(summary)/numpy = {ratios['engine_summary_over_numpy']:6.1f}x  "
          f"(paths: {ratios['engine_paths_over_numpy']:.1f}x)  target >= {TARGETS['engine_over_numpy']:g}x: "
          f"{'met' if targets['engine_over_numpy']['met'] else 'MISSED'}")
    if mem is not None:
        print(f"memory: keep='summary', {mem['n_paths']:,} paths x {h} days x {N_ASSETS} assets: "
              f"{mem['wall_s']:.1f} s wall ({mem['simulate_s']:.1f} s simulating), peak RSS "
              f"{mem['peak_rss_bytes'] / 2**20:,.0f} MiB (after import and warm-up: "
              f"{mem['peak_rss_before_run_bytes'] / 2**20:,.0f} MiB); target < 2 GB: "
              f"{'met' if targets['memory_peak_bytes']['met'] else 'MISSED'}")
    ks_c, ks_d = check["ks_cum_return_asset0"], check["ks_max_drawdown_asset0"]
    cc = check["corr_cum_return_asset0_asset1"]
    print(f"same model? engine vs numpy, asset 0, {ks_c['n_engine']:,} vs {ks_c['n_numpy']:,} paths: "
          f"KS {h}-day cumulative return D={ks_c['statistic']:.4f} p={ks_c['pvalue']:.3f}; "
          f"KS max drawdown D={ks_d['statistic']:.4f} p={ks_d['pvalue']:.3f}; "
          f"corr(cum A0, cum A1) {cc['engine']:.3f} vs {cc['numpy']:.3f} (z={cc['z']:+.2f}) -> "
          f"{'agree' if check['agree'] else 'DISAGREE'}")
    if breakdown:
        print()
        print(format_table(
            ["engine breakdown (keep=summary)", "M path-asset-steps/s", "ns/step/thread"],
            [(r["label"], r["path_asset_steps_per_s"] / 1e6, r["ns_per_path_asset_step_per_thread"])
             for r in breakdown]))
    if threads:
        print()
        base = threads[0]["path_asset_steps_per_s"]
        print(format_table(["engine threads (keep=summary)", "M path-asset-steps/s", "scaling"],
                           [(str(r["n_threads"]), r["path_asset_steps_per_s"] / 1e6,
                             r["path_asset_steps_per_s"] / base) for r in threads]))
    if stages:
        print()
        ns = stages["ns_per_path_asset_step"]
        labels = (("normals", "normals alone (the RNG bound)"),
                  ("copula", "copula draws: normals, Cholesky, t mixing"),
                  ("gamma", "  of which the gamma draw of the t mixing"),
                  ("tables", "quantile tables"),
                  ("rest", "variance, returns, summaries (kernel - above)"),
                  ("kernel", "full kernel (simulate_chunk)"))
        print(format_table([f"kernel stages, 1 thread, {stages['n_paths']:,} paths", "ns/path-asset-step"],
                           [(label, ns[key]) for key, label in labels]))
        print(f"kernel / RNG bound = {stages['kernel_over_rng_bound']:.2f}")

    import arch
    import scipy

    import simulator

    payload = {
        "benchmark": "engine",
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "quick": bool(args.quick),
        "machine": {**info, "numba_threads": _numba_threads(), "load_average_1m_end": _loadavg()},
        "versions": {"stress_sim": simulator.__version__, "arch": arch.__version__, "numba": numba.__version__,
                     "scipy": scipy.__version__, "numpy": np.__version__},
        "model": model_dict(),
        "horizon": h, "repeats": rep,
        "unit": "path-asset-steps per second (paths x assets x days / best wall seconds)",
        "throughput": tp,
        "ratios": ratios,
        "targets": targets,
        "engine_summary": eng_sum, "engine_paths": eng_paths, "arch": arch_fig, "numpy": np_fig,
        "same_model_check": check,
        "memory": mem,
        "breakdown": breakdown,
        "threads": threads,
        "stages": stages,
    }
    out = args.out if args.out is not None else RESULTS_DIR / ("engine-quick.json" if args.quick else "engine.json")
    path = write_json(out, payload)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
