"""Benchmark: full revaluation of an instrument book against the simulation of the same paths.

Market: 10 risk factors simulated by the engine in one run: 3 equity prices (the bundled model's
S&P 500, NASDAQ and WTI marginals), the US Treasury par curve at 3M, 2Y, 5Y, 10Y and 30Y (daily changes
in basis points, GARCH(1,1)-t with about 5 bp a day), an EUR/USD rate and an implied-volatility index
(log changes); a t copula. Book: 1,000 positions: 100 linear, 300 bullet bonds (0.5-30 years), 200
swaps (1-30 years, payer and receiver), 300 European options (spot and futures style, fixed or
index-linked volatility) and 100 FX forwards. Revaluation at 3 horizons (1, 10 and 60 trading days)
on every path: each position's value at the as-of date and at the horizon from the curve bootstrapped
per path, plus cash.

Target (issue 16): the revaluation takes less than the simulation of the same paths.

Usage: ``python benchmarks/revaluation.py [--quick] [--paths N]`` -> prints a table, writes
``benchmarks/results/revaluation.json`` (``revaluation-quick.json`` with ``--quick``).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
for p in (HERE.parent, HERE):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from _common import RESULTS_DIR, format_table, machine_info, write_json  # noqa: E402

HORIZONS = (1, 10, 60)
RATES = (("UST_3M", 0.25), ("UST_2Y", 2.0), ("UST_5Y", 5.0), ("UST_10Y", 10.0), ("UST_30Y", 30.0))
ASOF = {"SP500": 2506.85, "NASDAQ": 6635.28, "WTI": 45.15, "EURUSD": 1.1450, "VIX": 25.42,
        "UST_3M": 2.45, "UST_2Y": 2.48, "UST_5Y": 2.51, "UST_10Y": 2.69, "UST_30Y": 3.02}


def build_market():
    """The 10-factor model (percent log changes for prices, FX and the vol index; basis points for rates)."""
    from simulator.builtin import load_builtin_model
    from simulator.instruments.factors import Factor
    from simulator.model import MarketModel

    us = load_builtin_model("us-markets").to_dict()
    names = ["SP500", "NASDAQ", "WTI"] + [r for r, _ in RATES] + ["EURUSD", "VIX"]
    rate = {"mean": {"mu": 0.0}, "vol": {"type": "garch", "omega": 0.5, "alpha": 0.05, "beta": 0.93},
            "dist": {"type": "t", "nu": 6.0}}
    fx = {"mean": {"mu": 0.0}, "vol": {"type": "garch", "omega": 0.005, "alpha": 0.04, "beta": 0.95},
          "dist": {"type": "t", "nu": 8.0}}
    vix = {"mean": {"mu": 0.0}, "vol": {"type": "gjr", "omega": 2.0, "alpha": 0.10, "gamma": -0.05, "beta": 0.85},
           "dist": {"type": "t", "nu": 5.0}}
    margs = us["marginals"] + [rate] * 5 + [fx, vix]
    n = len(names)
    corr = np.full((n, n), 0.2) + 0.8 * np.eye(n)
    corr[3:8, 3:8] = 0.85
    corr[0:3, 0:3] = 0.7
    corr[0:3, 9] = corr[9, 0:3] = -0.5
    np.fill_diagonal(corr, 1.0)
    model = MarketModel.from_dict({"assets": names, "marginals": margs,
                                   "copula": {"type": "t", "corr": corr.tolist(), "nu": 6.0}})
    factors = ([Factor(a, "price") for a in names[:3]] + [Factor(r, "rate", "UST", t) for r, t in RATES]
               + [Factor("EURUSD", "fx"), Factor("VIX", "vol")])
    return model, factors


def build_book(n_positions: int = 1000, seed: int = 0, monthly: bool = False):
    """A mixed book; bond maturities uniform on 0.5-30 years (every flow time distinct) or, with ``monthly``,
    on whole months (as Treasury notes and bonds, which mature mid-month or at month-end: books share dates)."""
    from scenarios.book import parse_book_csv

    rng = np.random.default_rng(seed)
    rows = ["id,kind,factor,amount,notional,coupon_pct,freq,maturity_years,curve,spread_bp,fixed_pct,side,quantity,"
            "option_type,strike,expiry_years,spot,vol_pct,vol_factor,style,foreign_rate_pct"]
    counts = {"linear": n_positions // 10, "bond": 3 * n_positions // 10, "swap": n_positions // 5,
              "option": 3 * n_positions // 10}
    counts["fx_forward"] = n_positions - sum(counts.values())
    k = 0
    for kind, c in counts.items():
        for _ in range(c):
            k += 1
            f = rng.choice(["SP500", "NASDAQ", "WTI"])
            if kind == "linear":
                rows.append(f"p{k},linear,{f},{rng.uniform(-1e6, 2e6):.2f}" + "," * 17)
            elif kind == "bond":
                rows.append(f"p{k},bond,,,{rng.uniform(1e5, 5e6):.0f},{rng.uniform(0, 6):.3f},{rng.choice([1, 2, 4])},"
                            f"{_maturity(rng, monthly)},UST,{rng.uniform(0, 300):.1f}" + "," * 11)
            elif kind == "swap":
                rows.append(f"p{k},swap,,,{rng.uniform(1e6, 5e7):.0f},,2,{rng.integers(2, 61) / 2},UST,,"
                            f"{rng.uniform(1, 4):.3f},{rng.choice(['payer', 'receiver'])}" + "," * 9)
            elif kind == "option":
                vol = "" if rng.random() < 0.5 else f"{rng.uniform(12, 40):.1f}"
                rows.append(f"p{k},option,{f},,,,,,UST,,,,{rng.uniform(-50, 50):.1f},{rng.choice(['call', 'put'])},"
                            f"{ASOF[f] * rng.uniform(0.7, 1.3):.2f},{rng.uniform(0.1, 3):.3f},{ASOF[f]},{vol},"
                            f"{'VIX' if not vol else ''},{rng.choice(['spot', 'futures'])},")
            else:
                rows.append(f"p{k},fx_forward,EURUSD,,{rng.uniform(-2e7, 2e7):.0f},,,{rng.uniform(0.1, 3):.3f},UST,,,,,,"
                            f"{ASOF['EURUSD'] * rng.uniform(0.95, 1.05):.4f},,{ASOF['EURUSD']},,,,-0.3")
    return parse_book_csv("\n".join(rows) + "\n", source="benchmark book")


def _maturity(rng, monthly: bool) -> str:
    return repr(int(rng.integers(6, 361)) / 12) if monthly else f"{rng.uniform(0.5, 30):.4f}"


def levels_from(returns: np.ndarray, factors, day: int) -> dict[str, np.ndarray]:
    """Factor levels on ``day`` from the simulated daily changes (paths, days, factors)."""
    cum = returns[:, :day, :].sum(axis=1) if day else np.zeros((returns.shape[0], returns.shape[2]))
    out = {}
    for j, f in enumerate(factors):
        if f.kind == "rate":
            out[f.name] = ASOF[f.name] + cum[:, j] / 100.0  # basis points -> percent
        else:
            out[f.name] = ASOF[f.name] * np.exp(cum[:, j] / 100.0)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10,000 paths and 200 positions (a smoke run)")
    ap.add_argument("--paths", type=int, default=None)
    args = ap.parse_args(argv)
    n_paths = args.paths or (10_000 if args.quick else 100_000)
    n_pos = 200 if args.quick else 1000

    from simulator.engine import simulate
    from simulator.instruments.factors import market_state
    from simulator.instruments.pricing import coupon_times
    from simulator.instruments.revalue import book_pnl_matrix, days_needed

    model, factors = build_market()
    books = {"continuous": build_book(n_pos), "monthly": build_book(n_pos, monthly=True)}
    simulate(model, 100, max(HORIZONS), seed=1, keep="paths")  # compile outside the timing
    from simulator.instruments.revalue import as_of_values, book_values
    book_values(books["continuous"].positions,
                market_state(factors, {k: np.full(2, v) for k, v in ASOF.items()}, ASOF, 0))
    t0 = time.perf_counter()
    sim = simulate(model, n_paths, max(HORIZONS), seed=7, keep="paths")
    t_sim = time.perf_counter() - t0
    state_at = lambda d: market_state(factors, levels_from(sim.returns, factors, d), ASOF, d)  # noqa: E731

    rows, out = [], {"books": {}}
    for label, book in books.items():
        n_flows = sum(len(coupon_times(p.maturity_years, p.freq)) for p in book.positions if p.kind in ("bond", "swap"))
        res: dict = {"horizons": {}, "cash_flows": n_flows}
        t0 = time.perf_counter()
        values0 = as_of_values(book, state_at(0))  # the as-of values, shared by the horizons
        t_total = time.perf_counter() - t0
        for h in HORIZONS:
            t0 = time.perf_counter()
            pnl = book_pnl_matrix(book, state_at, h, values0=values0)
            dt = time.perf_counter() - t0
            t_total += dt
            q = np.quantile(-pnl.sum(axis=1), [0.975, 0.99])
            res["horizons"][h] = {"seconds": dt, "days_read": days_needed(book, h), "var_97.5": float(q[0]),
                                  "var_99": float(q[1]), "finite": bool(np.isfinite(pnl).all())}
            rows.append([f"{label} maturities: revaluation, {h}-day horizon", f"{dt:.2f}",
                         f"{n_paths * n_pos / dt / 1e6:.2f}", f"{q[1]:,.0f}"])
        res.update({"revalue_s": t_total, "ratio": t_total / t_sim, "target_met": t_total < t_sim})
        rows.append([f"{label} maturities ({n_flows:,} bond and swap flows): 3 horizons / simulation",
                     f"{t_total / t_sim:.2f}", "", ""])
        out["books"][label] = res
    rows.append([f"simulation, {n_paths:,} paths x {max(HORIZONS)} days x {model.n_assets} factors", f"{t_sim:.2f}",
                 "", ""])
    print(format_table(["step", "seconds (ratio)", "M position-paths/s", "99% VaR (USD)"], rows))
    for label, res in out["books"].items():
        print(f"target ({label} maturities): revaluation under the simulation time -> "
              f"{'met' if res['target_met'] else 'NOT met'} ({res['ratio']:.2f}x)")
    out.update({"n_paths": n_paths, "n_positions": n_pos, "simulate_s": t_sim, "machine": machine_info()})
    write_json(RESULTS_DIR / ("revaluation-quick.json" if args.quick else "revaluation.json"), out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
