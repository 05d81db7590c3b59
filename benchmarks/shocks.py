"""Benchmark: the cost of shocks — the engine with a scenario using every shock type vs the plain kernel.

Model: the engine benchmark's (10 assets, t copula rho=0.5 nu=5, GJR + Student-t(6), 250 days).
Scenario (every shock type, realistic coverage of the year):

- ``regime_switch`` every day (p_enter 0.02, p_exit 0.10, stress: vol x1.8, rho 0.8, nu 4);
- ``poisson_jumps`` every day (3 events a year, double-exponential sizes, loadings on 5 assets);
- ``vol_spike`` days 40-79 (x2.5, half-life 10), ``correlation_break`` days 40-59 (rho 0.9, t(3));
- ``jump`` on day 41 (-8 % on 4 assets, probability 0.5);
- ``anchored_path`` on A0 for days 1-60 (-25 %, noise 0.3 sigma), others conditional on it;
- ``historical_replay`` days 120-159 in bootstrap mode from a 60-day residual pool.

The replay pool is set directly on the compiled schedule (the benchmark assets A0..A9 have no
historical data); every other shock goes through the scenario schema and ``compile_scenario``.
Target (issue #4): shocks add at most 30 % to the plain kernel's time.

Usage: ``python benchmarks/shocks.py [--quick] [--paths N]`` → prints a table, writes
``benchmarks/results/shocks.json`` (``shocks-quick.json`` with ``--quick``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
for p in (HERE.parent, HERE):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from _common import RESULTS_DIR, format_table, interleaved_best, machine_info, write_json  # noqa: E402
from engine import build_model  # noqa: E402

TARGET_OVERHEAD = 0.30


def every_shock_scenario(horizon: int, n_paths: int):
    from scenarios.loader import scenario_from_dict

    def day(frac: float) -> int:  # the 250-day layout below, scaled to ``horizon``
        return max(1, round(frac * horizon))

    shocks = [
        {"type": "regime_switch", "p_enter": 0.02, "p_exit": 0.10,
         "stress": {"vol_multiplier": 1.8, "rho": 0.8, "nu": 4.0}},
        {"type": "poisson_jumps", "intensity": 3.0, "law": "double_exponential", "p_up": 0.3, "eta_up": 2.0,
         "eta_down": 4.0, "loadings": {f"A{i}": 1.0 for i in range(5, 10)}},
        {"type": "vol_spike", "day": day(0.16), "days": day(0.16), "multiplier": 2.5, "half_life": 10.0},
        {"type": "correlation_break", "day": day(0.16), "days": day(0.08), "rho": 0.9, "nu": 3.0},
        {"type": "jump", "day": day(0.16) + 1, "assets": ["A6", "A7", "A8", "A9"], "size": -8.0, "unit": "percent",
         "probability": 0.5},
        {"type": "anchored_path", "assets": ["A0"], "knots": [[day(0.24), -25.0]], "noise": 0.3},
    ]
    return scenario_from_dict({"name": "every-shock", "description": "benchmark", "source": "benchmark",
                               "horizon_days": horizon, "n_paths": n_paths, "seed": 1, "shocks": shocks})


def compile_every_shock(model, horizon: int, n_paths: int):
    from simulator.jobs import compile_scenario

    sched = compile_scenario(every_shock_scenario(horizon, n_paths), model)
    pool = np.random.default_rng(5).standard_t(5, size=(60, model.n_assets)) * np.sqrt(3 / 5)
    start, stop = int(horizon * 0.48), int(horizon * 0.64)
    sched.rep_pool = pool
    sched.rep_raw = np.zeros(pool.shape[0], np.bool_)
    sched.rep_lo[start:stop] = 0
    sched.rep_hi[start:stop] = pool.shape[0]
    return sched


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes for smoke testing")
    p.add_argument("--paths", type=int, default=None)
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    from simulator import simulate

    horizon = 60 if args.quick else 250
    n_paths = args.paths or (2_000 if args.quick else 50_000)
    repeats = args.repeats or (1 if args.quick else 3)
    model = build_model()
    sched = compile_every_shock(model, horizon, n_paths)
    simulate(model, 64, horizon, 1, keep="summary")  # compile / load the kernel once
    simulate(model, 64, horizon, 1, keep="summary", schedule=sched)
    timings = interleaved_best({
        "plain": lambda: simulate(model, n_paths, horizon, 1, keep="summary"),
        "every shock": lambda: simulate(model, n_paths, horizon, 1, keep="summary", schedule=sched),
    }, repeats=repeats)
    cells = n_paths * horizon * model.n_assets
    plain, shocked = timings["plain"].best, timings["every shock"].best
    overhead = shocked / plain - 1.0
    rows = [[name, f"{t.best:.3f}", f"{cells / t.best / 1e6:.1f}"] for name, t in timings.items()]
    print(format_table(["kernel", "best s", "M path-asset-steps/s"], rows))
    verdict = "meets" if overhead <= TARGET_OVERHEAD else "MISSES"
    print(f"shock overhead: {overhead * 100:+.1f} % ({verdict} the <= {TARGET_OVERHEAD * 100:.0f} % target)")
    out = Path(args.out) if args.out else RESULTS_DIR / ("shocks-quick.json" if args.quick else "shocks.json")
    write_json(out, {
        "machine": machine_info(), "n_paths": n_paths, "horizon": horizon, "n_assets": model.n_assets,
        "timings": {k: v.to_dict() for k, v in timings.items()},
        "path_asset_steps_per_s": {k: cells / v.best for k, v in timings.items()},
        "overhead": overhead, "target_overhead": TARGET_OVERHEAD, "meets_target": overhead <= TARGET_OVERHEAD,
    })
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
