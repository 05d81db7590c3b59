"""Calibration benchmark: 10 assets × 5,000 days, full "auto" selection (12 marginal candidates per asset by
BIC: 9 arch fits, vol × normal/t/skew-t, plus a GARCH-EVT law on each skew-t fit's residuals; 6 copula
families by AIC), marginal fits parallel across assets. The filtered-historical law (``fhs``) is never an
"auto" candidate, so it is not timed here.

Run: ``python benchmarks/calibration.py [--assets 10] [--days 5000] [--jobs N]``. Prints a table and writes
``benchmarks/results/calibration.json``. Target: under 60 s on 2 cores.

The data are simulated here with plain numpy (so the benchmark does not depend on the engine under test):
a t copula (equicorrelation 0.4, nu = 6) joining GJR-t, EGARCH-skew-t and GARCH-normal marginals.
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from calibration.calibrate import fit_returns  # noqa: E402
from calibration.copulas import fit_copula  # noqa: E402
from simulator.families import VOL_FAMILIES, variance_path  # noqa: E402
from simulator.io import atomic_write_json, package_versions  # noqa: E402
from simulator.model import DistSpec  # noqa: E402

TEMPLATES = [
    ("gjr", "t", dict(mu=0.05, omega=0.02, alpha=0.03, gamma=0.10, beta=0.88, nu=6.0)),
    ("egarch", "skewt", dict(mu=0.04, omega=0.01, alpha=0.12, gamma=-0.08, beta=0.97, nu=7.0, lam=-0.15)),
    ("garch", "normal", dict(mu=0.03, omega=0.05, alpha=0.08, beta=0.90)),
]


def _skewt_ppf(u: np.ndarray, nu: float, lam: float) -> np.ndarray:
    from arch.univariate import SkewStudent

    return np.asarray(SkewStudent().ppf(u, [nu, lam]))


def simulate_market(n_assets: int, n_days: int, seed: int = 2024) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Percent log returns (n_days × n_assets) from a t copula and GARCH-family marginals."""
    from scipy import stats

    rng = np.random.default_rng(seed)
    burn = 500
    n = n_days + burn
    corr = np.full((n_assets, n_assets), 0.4)
    np.fill_diagonal(corr, 1.0)
    nu_c = 6.0
    g = rng.standard_normal((n, n_assets)) @ np.linalg.cholesky(corr).T
    w = rng.chisquare(nu_c, size=(n, 1)) / nu_c
    u = stats.t.cdf(g / np.sqrt(w), nu_c)
    out = np.empty((n, n_assets))
    truth = []
    for j in range(n_assets):
        vol, dist, p = TEMPLATES[j % len(TEMPLATES)]
        truth.append((vol, dist))
        if dist == "normal":
            z = stats.norm.ppf(u[:, j])
        elif dist == "t":
            z = stats.t.ppf(u[:, j], p["nu"]) * math.sqrt((p["nu"] - 2) / p["nu"])
        else:
            z = _skewt_ppf(u[:, j], p["nu"], p["lam"])
        # the model's own recursion and start state (its registry entry), one day at a time
        fam = VOL_FAMILIES[vol]
        par = {k: p[k] for k in fam.params}
        s2 = fam.start_variance(par, DistSpec(dist, p.get("nu"), p.get("lam")))
        for t in range(n):
            e = math.sqrt(s2) * z[t]
            out[t, j] = p["mu"] + e
            s2 = float(variance_path(fam, par, s2, np.array([e]))[0])
    cols = [f"A{j:02d}" for j in range(n_assets)]
    idx = pd.bdate_range("2000-01-03", periods=n_days)
    return pd.DataFrame(out[burn:], index=idx, columns=cols), truth


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--assets", type=int, default=10)
    ap.add_argument("--days", type=int, default=5000)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "calibration.json"))
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    rets, truth = simulate_market(args.assets, args.days)
    t_data = time.perf_counter() - t0

    t0 = time.perf_counter()
    par = fit_returns(rets, n_jobs=args.jobs)
    t_par = time.perf_counter() - t0

    t0 = time.perf_counter()
    seq = fit_returns(rets, n_jobs=1)
    t_seq = time.perf_counter() - t0

    t0 = time.perf_counter()
    cop = fit_copula(par.pit)
    t_cop = time.perf_counter() - t0

    a, b = par.model.to_dict(), seq.model.to_dict()
    for d in (a, b):
        d["provenance"].pop("created_utc")
    identical = a == b

    rows = []
    for (vol, dist), (name, f) in zip(truth, par.marginals.items()):
        rows.append({"asset": name, "true": f"{vol}/{dist}", "selected": f"{f.vol}/{f.dist}",
                     "persistence": f.persistence, "converged": f.converged})
    n_fits = sum(len(f.candidates) for f in par.marginals.values())
    n_evt = sum(c["dist"] == "evt" for f in par.marginals.values() for c in f.candidates)
    result = {
        "benchmark": "calibration",
        "n_assets": args.assets,
        "n_days": args.days,
        "n_jobs": args.jobs,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "versions": package_versions(),
        "marginal_candidates_fitted": n_fits,
        "arch_fits": n_fits - n_evt,
        "evt_tail_fits": n_evt,
        "copula_families_fitted": len(cop.candidates),
        "seconds": {
            "simulate_data": round(t_data, 3),
            "calibrate_parallel": round(t_par, 3),
            "calibrate_sequential": round(t_seq, 3),
            "copula_auto_only": round(t_cop, 3),
        },
        "speedup_parallel": round(t_seq / t_par, 2),
        "target_seconds": 60.0,
        "meets_target": t_par < 60.0,
        "parallel_equals_sequential": identical,
        "copula_selected": par.copula.family,
        "copula_params": {k: v for k, v in par.copula.params.items() if k != "corr"},
        "assets": rows,
    }
    atomic_write_json(args.out, result)

    print(f"calibration benchmark: {args.assets} assets x {args.days} days, full auto "
          f"({n_fits - n_evt} GARCH fits + {n_evt} GPD tail pairs + {len(cop.candidates)} copula families)")
    print(f"{'step':<34}{'seconds':>10}")
    print("-" * 44)
    print(f"{'calibrate, n_jobs=%d' % args.jobs:<34}{t_par:>10.2f}")
    print(f"{'calibrate, n_jobs=1':<34}{t_seq:>10.2f}")
    print(f"{'  of which copula auto (6 families)':<34}{t_cop:>10.2f}")
    print(f"{'speed-up':<34}{t_seq / t_par:>10.2f}")
    print(f"target < 60 s on 2 cores: {'met' if t_par < 60 else 'MISSED'}; "
          f"parallel == sequential: {identical}")
    print()
    print(f"{'asset':<7}{'true':<15}{'selected':<15}{'persistence':>12}")
    for r in rows:
        print(f"{r['asset']:<7}{r['true']:<15}{r['selected']:<15}{r['persistence']:>12.4f}")
    print(f"copula: {par.copula.family} {result['copula_params']}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
