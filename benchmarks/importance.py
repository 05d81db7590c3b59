"""Benchmark: importance sampling (and quasi-Monte Carlo) against plain Monte Carlo for portfolio tail risk.

Model ``builtin:us-markets`` (S&P 500, NASDAQ Composite, WTI: GARCH-family marginals fitted to 1999-2018, a t
copula), horizon 10 days, USD 1,000,000 portfolios:

* ``demo``: 60 % SP500, 25 % NASDAQ, 15 % WTI (the demo's and the ``baseline`` scenario's portfolio);
* ``diversified``: one third in each asset.

For each portfolio, side by side in one run:

1. the importance-sampling shift is designed once (:func:`simulator.importance.design_tilt`: a pilot of
   ``--pilot`` plain paths on streams of their own, the reverse stress test's most likely breach point);
2. ``--reps`` independent replications of ``--paths`` paths each, plain Monte Carlo and importance sampling
   (same number of paths, different seeds per replication): VaR/ES at 99 %, 99.9 %, 99.97 % with the same
   weighted estimators (unit weights for plain Monte Carlo), the variance of each estimate across the
   replications, and the variance-reduction factor ``var_plain / var_is`` (target: >= 10 for the 99.9 % ES);
3. the bias check: the pooled importance-sampling estimate (all replications, ``reps x paths`` paths) against a
   large plain run (``--big`` paths through :func:`simulator.tail.simulate_tail`), in units of their combined
   standard error;
4. quasi-Monte Carlo (``--qmc``): scrambled Sobol normals, the same replications, the variance-reduction
   factor for the mean loss and the 99 % VaR (see :mod:`simulator.qmc`).

Usage: ``python benchmarks/importance.py [--quick] [--paths N] [--reps R] [--big N] [--out FILE]`` -> prints a
table, writes ``benchmarks/results/importance.json`` (``importance-quick.json`` with ``--quick``).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
for p in (HERE.parent, HERE):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from _common import RESULTS_DIR, format_table, machine_info, write_json  # noqa: E402

LEVELS = (0.99, 0.999, 0.9997)
PORTFOLIOS = {
    "demo": {"SP500": 600_000.0, "NASDAQ": 250_000.0, "WTI": 150_000.0},
    "diversified": {"SP500": 1e6 / 3, "NASDAQ": 1e6 / 3, "WTI": 1e6 / 3},
}


def _stats(values: list[float]) -> dict:
    a = np.asarray(values, dtype=float)
    return {"mean": float(a.mean()), "var": float(a.var(ddof=1)), "sd": float(a.std(ddof=1))}


def replications(model, horizon: int, pos: dict, design, *, n: int, reps: int, seed0: int, qmc: bool) -> dict:
    """Estimates of every replication: plain, importance sampling and (optionally) quasi-Monte Carlo."""
    from simulator.engine import simulate
    from simulator.importance import simulate_importance, weighted_var_es
    from simulator.tail import resolve_positions, revalue

    w = resolve_positions(pos, model.assets)
    out: dict[str, dict[str, list]] = {"plain": {}, "is": {}}
    if qmc:
        out["qmc"] = {}
    times = {k: 0.0 for k in out}
    pooled_loss, pooled_logw = [], []

    def record(kind: str, risk, mean_loss: float, se: dict) -> None:
        d = out[kind]
        d.setdefault("mean_loss", []).append(mean_loss)
        for r in risk:
            d.setdefault(f"var_{r.level}", []).append(r.var)
            d.setdefault(f"es_{r.level}", []).append(r.es)
            d.setdefault(f"var_se_{r.level}", []).append(r.var_se)
            d.setdefault(f"es_se_{r.level}", []).append(r.es_se)
        for k, v in se.items():
            d.setdefault(k, []).append(v)

    for i in range(reps):
        t0 = time.perf_counter()
        sim = simulate(model, n, horizon, seed0 + 2 * i, keep="summary")
        loss = -revalue(sim.cum_return, w)
        times["plain"] += time.perf_counter() - t0
        record("plain", weighted_var_es(loss, None, LEVELS), float(loss.mean()),
               {"mean_loss_se": float(loss.std() / math.sqrt(n))})
        t0 = time.perf_counter()
        res = simulate_importance(model, n, horizon, seed0 + 2 * i + 1, positions=w, levels=LEVELS, tilt=design)
        times["is"] += time.perf_counter() - t0
        record("is", res.risk, res.mean_loss, {"mean_loss_se": res.mean_loss_se, "weight_mean": res.weight_mean})
        pooled_loss.append(res.losses)
        pooled_logw.append(res.log_weights)
        if qmc:
            t0 = time.perf_counter()
            sq = simulate(model, n, horizon, seed0 + 2 * i + 1, keep="summary", qmc=True)
            lq = -revalue(sq.cum_return, w)
            times["qmc"] += time.perf_counter() - t0
            record("qmc", weighted_var_es(lq, None, LEVELS), float(lq.mean()), {})
    return {"estimates": out, "seconds": times,
            "pooled": (np.concatenate(pooled_loss), np.concatenate(pooled_logw))}


def sweep(model, horizon: int, design_levels: list[float], *, n: int, reps: int, pilot: int) -> list[dict]:
    """Importance-sampling spread of the ES estimates on the demo portfolio for several shift lengths (the same
    direction; seeds of their own)."""
    import dataclasses

    from scipy import special

    from simulator.engine import simulate
    from simulator.importance import design_tilt, simulate_importance, weighted_var_es
    from simulator.tail import resolve_positions, revalue

    pos = PORTFOLIOS["demo"]
    w = resolve_positions(pos, model.assets)
    base = design_tilt(model, horizon, pos, seed=1_000, pilot_paths=pilot)
    plain = []
    for i in range(reps):
        sim = simulate(model, n, horizon, 70_000 + i, keep="summary")
        plain.append([r.es for r in weighted_var_es(-revalue(sim.cum_return, w), None, (0.999, 0.9997))])
    plain_var = np.var(np.asarray(plain), axis=0, ddof=1)
    out = []
    for lv in design_levels:
        d = float(special.ndtri(lv))
        design = dataclasses.replace(base, theta=base.theta * (d / base.distance), distance=d)
        es, se = [], []
        for i in range(reps):
            res = simulate_importance(model, n, horizon, 80_000 + i, positions=w, levels=(0.999, 0.9997), tilt=design)
            es.append([r.es for r in res.risk])
            se.append([r.es_se for r in res.risk])
        e, s = np.asarray(es), np.asarray(se)
        doc: dict = {"design_level": lv, "distance": d}
        for j, key in enumerate(("es_0.999", "es_0.9997")):
            doc[key] = {"sd": float(e[:, j].std(ddof=1)), "stated_se": float(s[:, j].mean()),
                        "plain_sd": float(math.sqrt(plain_var[j])), "vrf": float(plain_var[j] / e[:, j].var(ddof=1))}
        out.append(doc)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    ap.add_argument("--paths", type=int, default=None, help="paths per replication (default 16,384 = 2^14)")
    ap.add_argument("--reps", type=int, default=None, help="independent replications (default 40)")
    ap.add_argument("--pilot", type=int, default=None, help="pilot paths of the shift's design (default 20,000)")
    ap.add_argument("--big", type=int, default=None, help="paths of the plain reference run (default 20,000,000)")
    ap.add_argument("--horizon", type=int, default=10)
    ap.add_argument("--no-qmc", action="store_true", help="skip the quasi-Monte Carlo comparison")
    ap.add_argument("--portfolios", default=",".join(PORTFOLIOS), help="which portfolios (comma separated)")
    ap.add_argument("--sweep", default=None, metavar="L1,L2",
                    help="also: the importance-sampling variance on the demo portfolio for these design levels "
                         "(shift lengths Phi^-1(L)), e.g. 0.975,0.99,0.995,0.999,0.9997")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    n = args.paths or (4_096 if args.quick else 16_384)  # powers of two: Sobol balance
    reps = args.reps or (4 if args.quick else 40)
    pilot = args.pilot or (2_000 if args.quick else 20_000)
    big = args.big or (50_000 if args.quick else 20_000_000)
    out_path = Path(args.out) if args.out else RESULTS_DIR / ("importance-quick.json" if args.quick else "importance.json")

    from simulator.builtin import load_model
    from simulator.importance import design_tilt, weighted_var_es
    from simulator.tail import simulate_tail

    try:
        import simulator.qmc  # noqa: F401
        has_qmc = not args.no_qmc
    except ImportError:
        has_qmc = False

    model = load_model("builtin:us-markets")
    h = args.horizon
    load_start = os.getloadavg()
    t_start = time.perf_counter()
    result: dict = {"quick": args.quick, "model": "builtin:us-markets", "horizon_days": h, "levels": list(LEVELS),
                    "paths_per_replication": n, "replications": reps, "pilot_paths": pilot, "big_paths": big,
                    "machine": machine_info(), "loadavg_start": list(load_start), "portfolios": {}}
    rows = []
    bias_rows = []
    for name in args.portfolios.split(","):
        pos = PORTFOLIOS[name]
        t0 = time.perf_counter()
        design = design_tilt(model, h, pos, seed=1_000, pilot_paths=pilot)
        t_design = time.perf_counter() - t0
        rep = replications(model, h, pos, design, n=n, reps=reps, seed0=10_000, qmc=has_qmc)
        est = rep["estimates"]
        doc: dict = {"positions": pos, "design": design.to_dict(), "design_seconds": t_design,
                     "seconds": rep["seconds"], "estimators": {}}
        for key in est["plain"]:
            if key.startswith(("var_se", "es_se", "mean_loss_se", "weight_mean")):
                continue
            entry = {kind: _stats(est[kind][key]) for kind in est if key in est[kind]}
            entry["vrf_is"] = entry["plain"]["var"] / entry["is"]["var"]
            if "qmc" in entry:
                entry["vrf_qmc"] = entry["plain"]["var"] / entry["qmc"]["var"]
            se_key = key.replace("var_", "var_se_").replace("es_", "es_se_") if key != "mean_loss" else "mean_loss_se"
            entry["stated_se_is"] = float(np.mean(est["is"][se_key]))
            entry["stated_se_plain"] = float(np.mean(est["plain"][se_key]))
            doc["estimators"][key] = entry
            rows.append([name, key, f"{entry['plain']['mean']:,.0f}", f"{entry['plain']['sd']:,.0f}",
                         f"{entry['is']['sd']:,.0f}", f"{entry['stated_se_is']:,.0f}", f"{entry['vrf_is']:.1f}",
                         f"{entry['vrf_qmc']:.2f}" if "vrf_qmc" in entry else "-"])
        # bias check: pooled importance sampling vs a large plain run
        loss, logw = rep["pooled"]
        pooled = weighted_var_es(loss, logw, LEVELS)
        t0 = time.perf_counter()
        ref = simulate_tail(model, big, h, 777, positions=pos, levels=LEVELS)
        t_big = time.perf_counter() - t0
        bias = {"pooled_paths": int(loss.size), "big_seconds": t_big, "levels": {}}
        for r, b in zip(pooled, ref.risk):
            var_se_ref = (b.var_ci[1] - b.var_ci[0]) / (2.0 * 1.959963984540054)
            z_var = (r.var - b.var) / math.hypot(r.var_se, var_se_ref)
            z_es = (r.es - b.es) / math.hypot(r.es_se, b.es_se)
            bias["levels"][str(r.level)] = {
                "is_var": r.var, "is_var_se": r.var_se, "is_es": r.es, "is_es_se": r.es_se,
                "plain_var": b.var, "plain_var_se": var_se_ref, "plain_es": b.es, "plain_es_se": b.es_se,
                "z_var": z_var, "z_es": z_es}
            bias_rows.append([name, f"{r.level:g}", f"{r.es:,.0f} ± {r.es_se:,.0f}", f"{b.es:,.0f} ± {b.es_se:,.0f}",
                              f"{z_es:+.2f}", f"{r.var:,.0f} ± {r.var_se:,.0f}", f"{b.var:,.0f} ± {var_se_ref:,.0f}",
                              f"{z_var:+.2f}"])
        doc["bias_check"] = bias
        doc["target_es_999_vrf"] = {"target": 10.0, "measured": doc["estimators"]["es_0.999"]["vrf_is"],
                                    "met": doc["estimators"]["es_0.999"]["vrf_is"] >= 10.0}
        result["portfolios"][name] = doc
    if args.sweep:
        result["sweep"] = sweep(model, h, [float(x) for x in args.sweep.split(",")], n=n, reps=reps, pilot=pilot)
    result["loadavg_end"] = list(os.getloadavg())
    result["total_seconds"] = time.perf_counter() - t_start
    print(f"builtin:us-markets, {h} days; {reps} replications x {n:,} paths each (plain, importance sampling"
          f"{', quasi-Monte Carlo' if has_qmc else ''}); pilot {pilot:,} paths; load average "
          f"{load_start[0]:.1f} at start")
    print(format_table(["portfolio", "estimate", "mean (plain)", "sd plain", "sd IS", "stated se IS", "VRF IS",
                        "VRF QMC"], rows))
    print(f"\nbias check: pooled importance sampling ({reps * n:,} paths) vs plain simulate_tail ({big:,} paths)")
    print(format_table(["portfolio", "level", "ES IS", "ES plain", "z", "VaR IS", "VaR plain", "z"], bias_rows))
    if args.sweep:
        print("\nshift length sweep (demo portfolio, importance sampling only; VRF against the plain replications above)")
        print(format_table(["design level", "length", "sd ES 99.9%", "stated se", "VRF", "sd ES 99.97%", "VRF"],
                           [[f"{s['design_level']:g}", f"{s['distance']:.2f}", f"{s['es_0.999']['sd']:,.0f}",
                             f"{s['es_0.999']['stated_se']:,.0f}", f"{s['es_0.999']['vrf']:.1f}",
                             f"{s['es_0.9997']['sd']:,.0f}", f"{s['es_0.9997']['vrf']:.1f}"] for s in result["sweep"]]))
    write_json(out_path, result)
    print(f"wrote {out_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
