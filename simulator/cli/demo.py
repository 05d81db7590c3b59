"""``stress-sim demo [--out DIR] [--paths N]``: the whole pipeline on the bundled real data.

1. calibrates a copula-GARCH model on ``builtin:us-markets`` (S&P 500, NASDAQ Composite, WTI daily
   closes 1999-2018) and saves it as ``DIR/model.json`` with its provenance;
2. runs the whole scenario library on the library's sample multi-asset portfolio (USD 1m: 60 %
   broad equity, 25 % tech equity, 15 % oil), baseline first (from the as-of state and, labelled
   ``baseline-long-run``, from the long-run volatility state), each scenario's stress loss measured
   against the baseline at the scenario's own horizon (``DIR/<scenario>/``, see :mod:`simulator.results`).
   Scenarios written for another model that the calibrated model cannot run (the rates scenarios,
   which declare ``model = "builtin:us-markets-rates"`` and need its Treasury curve) are not run: the
   demo prints them with the reason and lists them in the manifest (``not_run``);
3. backtests the model it simulates: rolling out-of-sample one-day 99 % VaR and 97.5 % ES of the
   calibrated copula-GARCH specification, re-fitted every 20 days on the trailing 1,000 days, for the
   portfolio (constant weights; VaR/ES from 100,000 engine paths per refit) and each asset (closed
   form), plus a univariate GJR-GARCH-t on the portfolio series as a labelled benchmark: Kupiec,
   Christoffersen, Basel traffic light, Acerbi-Szekely (``DIR/backtest.json``);
4. a reverse stress test of the baseline: the most likely one-year moves that cost its 99 % loss
   quantile, and the simulated paths that do (``DIR/reverse.json``);
5. writes ``DIR/report.html``, ``DIR/summary.json`` and ``DIR/tables/*.csv`` and a ``DIR/manifest.json``
   with versions, seed, timings and the hash of every output.

Progress goes to stderr as plain timestamped lines.
"""
from __future__ import annotations

import os
import sys
import time
import warnings

from simulator.cli.common import non_negative_int, output_dir, positive_int, show_progress
from simulator.jobs.runs import BASELINE_STARTS
from simulator.constants import ES_LEVEL
from simulator.exceptions import UserInputError

DATA = "builtin:us-markets"
BACKTEST_WINDOW = 1000
BACKTEST_REFIT_EVERY = 20
BACKTEST_PATHS = 100_000


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "demo", help="calibrate on the bundled real data, run the scenario library and write the report",
        description="End-to-end demonstration: calibration on bundled real data (S&P 500, NASDAQ, WTI 1999-2018), "
                    "the whole scenario library on a sample portfolio, rolling VaR/ES backtests and the HTML report.")
    p.add_argument("--out", default="demo-out", metavar="DIR", help="output folder (default: demo-out)")
    p.add_argument("--paths", type=positive_int, default=None, metavar="N",
                   help="Monte Carlo paths per scenario (default: each scenario's n_paths, 10,000 in the library)")
    p.add_argument("--seed", type=non_negative_int, default=None, metavar="S",
                   help="one seed for every scenario (default: each scenario's own seed)")
    p.add_argument("--threads", type=positive_int, default=None, metavar="N", help="numba threads (default: all cores)")
    p.add_argument("--baseline-start", choices=BASELINE_STARTS, default="both",
                   help="start state of the baseline: the model's as-of state (the last calibration day), its "
                        "long-run (unconditional) volatility, or both, labelled (default: both)")
    p.add_argument("--backtest-days", type=positive_int, default=None, metavar="N",
                   help="out-of-sample days of the VaR backtests (default: every day after the first "
                        f"{BACKTEST_WINDOW}-day window, 2002-2018)")
    p.set_defaults(func=run)


def _runnable(names, model) -> tuple[list[str], list[dict]]:
    """The library scenarios ``model`` runs, and those it does not: a scenario that declares another model
    (``model = "builtin:us-markets-rates"``) and does not compile on ``model`` (e.g. it needs a curve or rate
    factors the model lacks), with the reason. A scenario without a declared model must run: its errors
    propagate."""
    from scenarios.loader import load_scenario
    from simulator.jobs.scenario import compile_scenario

    run, not_run = [], []
    for name in names:
        sc = load_scenario(name)
        if sc.model is not None:
            try:
                compile_scenario(sc, model)
            except ValueError as exc:
                not_run.append({"scenario": name, "model": sc.model, "reason": str(exc)})
                continue
        run.append(name)
    return run, not_run


def _portfolio_weights(plans) -> tuple[dict[str, float], str]:
    """Constant weights of the library portfolio on the model assets (from the baseline scenario)."""
    from simulator.roles import resolve_assets

    p = next(p for p in plans if p.scenario.portfolio is not None)
    sc, model = p.scenario, p.model
    mapping = resolve_assets(sc, model)
    amounts = {a: 0.0 for a in model.assets}
    for name, amount in sc.portfolio.positions.items():
        amounts[model.assets[mapping[name]]] += float(amount)
    total = sum(amounts.values())
    if total <= 0:
        raise UserInputError(f"scenario {sc.name!r}: the portfolio's net value must be positive for the backtest")
    return {a: v / total for a, v in amounts.items()}, sc.portfolio.currency


def _backtests(returns, weights: dict[str, float], model, *, n_oos: int | None, say) -> tuple[dict, list[dict]]:
    """Rolling VaR/ES backtests on real returns: the simulated copula-GARCH model (portfolio and each
    asset), then a univariate GJR-GARCH-t fitted to the portfolio's own return series as a benchmark."""
    import numpy as np
    import pandas as pd
    from arch.utility.exceptions import StartingValueWarning

    from calibration.backtest import portfolio_log_return, rolling_model_backtest
    from simulator.backtest import rolling_var_backtest

    t0 = time.perf_counter()
    mb = rolling_model_backtest(returns, weights=weights, model=model, window=BACKTEST_WINDOW,
                                refit_every=BACKTEST_REFIT_EVERY, level=0.99, es_level=ES_LEVEL, n_oos=n_oos,
                                n_paths=BACKTEST_PATHS, seed=0, progress=say)
    out = mb.to_list(include_series=True)
    for d in out:
        d["kind"] = "model"
        d["description"] = d["spec"]["series"] + "; forecasts from " + d["spec"]["model"]
    say(f"model backtest: {mb.spec['n_refits']} refits in {time.perf_counter() - t0:.1f} s")
    assets = list(returns.columns)
    w = np.array([weights[a] for a in assets])
    port = pd.Series(portfolio_log_return(returns.to_numpy(), w), index=returns.index)
    with warnings.catch_warnings():
        # arch ignores a warm start outside its constraints and starts from its own values: not a problem
        warnings.simplefilter("ignore", StartingValueWarning)
        bt = rolling_var_backtest(port, window=BACKTEST_WINDOW, refit_every=BACKTEST_REFIT_EVERY, level=0.99,
                                  es_level=ES_LEVEL, vol="gjr", dist="t", n_oos=n_oos, seed=0)
    d = bt.to_dict(include_series=True)
    d.update({"name": "portfolio, univariate benchmark", "kind": "univariate",
              "description": "Benchmark, not the simulated model: a GJR-GARCH(1,1,1) with Student-t innovations "
                             "fitted to the constant-mix portfolio's own daily log return series."})
    out.append(d)
    for b in out:
        tl = b["traffic_light"]
        verdict = "accepted" if not any(t["reject"] for t in b["tests"] if t["test"] in ("pof", "cc")
                                        and abs(t["level"] - 0.99) < 1e-12) else "REJECTED"
        say(f"backtest {b['name']}: {b['spec']['exceptions']} exceptions in {b['spec']['n_oos']} days at 99% "
            f"(expected {b['spec']['expected_exceptions']:.1f}), Kupiec/Christoffersen {verdict}; traffic light "
            f"{tl['zone']} ({tl['exceptions']} in the last {tl['n']} days)")
    return mb.spec, out


def _portfolio_value(plans) -> float:
    """Net initial value of the library portfolio (the baseline scenario's positions)."""
    p = next(p for p in plans if p.scenario.portfolio is not None)
    return float(sum(p.scenario.portfolio.positions.values()))


def _targets_line(stored) -> str:
    """One line: the library's targets met, and how close the replays come to history."""
    rows = [(r.name, t) for r in stored for t in (r.risk.get("targets") or [])]
    own = [t for _, t in rows if t.get("kind") != "history" and t.get("within") is not None]
    hist = [(n, t) for n, t in rows if t.get("kind") == "history" and t.get("within") is not None]
    text = f"targets: {sum(t['within'] for t in own)} of {len(own)} scenario targets met"
    if hist:
        worst_name, worst = max(hist, key=lambda nt: abs(nt[1]["difference"]))
        missed = [f"{n} {t['model_asset']}" for n, t in hist if not t["within"]]
        text += (f"; replays of history's moves: {len(hist) - len(missed)} of {len(hist)} asset medians within "
                 f"{worst['tolerance']:g} pp of history (largest gap {abs(worst['difference']):.2f} pp, {worst_name} "
                 f"{worst['model_asset']})" + (f"; missed: {', '.join(missed)}" if missed else ""))
    return text


def run(args) -> int:
    from calibration.calibrate import calibrate_detailed
    from scenarios.loader import list_scenarios
    from simulator.jobs.runs import execute_runs, plan_runs, results_table
    from simulator.io import atomic_write_json, build_manifest, package_versions, write_manifest
    from simulator.report.render import require_report_dependencies, write_report

    require_report_dependencies()
    out = output_dir(args.out)
    start = time.perf_counter()
    timings: dict[str, float] = {}

    def say(msg: str) -> None:
        print(f"[{time.perf_counter() - start:7.1f}s] {msg}", file=sys.stderr, flush=True)

    command = ["stress-sim", "demo", "--out", str(args.out)]
    for flag, value in (("--paths", args.paths), ("--seed", args.seed), ("--threads", args.threads),
                        ("--backtest-days", args.backtest_days), ("--baseline-start", args.baseline_start)):
        if value is not None:
            command += [flag, str(value)]

    say(f"calibrating on {DATA} ...")
    t = time.perf_counter()
    cal = calibrate_detailed(DATA)
    model = cal.model
    timings["calibrate"] = round(time.perf_counter() - t, 2)
    cop = model.copula
    say(f"calibrated {', '.join(f'{a} {m.vol.type}/{m.dist.type}' for a, m in zip(model.assets, model.marginals))}; "
        f"{cop.type} copula; window {cal.returns.index[0].date()} to {cal.returns.index[-1].date()} "
        f"({len(cal.returns)} returns) in {timings['calibrate']:.1f} s")

    names, not_run = _runnable(list_scenarios(), model)
    for skip in not_run:
        say(f"not run: {skip['scenario']}, written for {skip['model']} (stress-sim run {skip['scenario']} "
            f"--model {skip['model']}): {skip['reason']}")
    plans = plan_runs(names, model=model, model_spec=str(out / "model.json"), n_paths=args.paths,
                      baseline_start=args.baseline_start)
    n_oos = args.backtest_days
    if n_oos is not None and n_oos > len(cal.returns) - BACKTEST_WINDOW:
        raise UserInputError(f"--backtest-days {n_oos}: the data hold {len(cal.returns) - BACKTEST_WINDOW} "
                             f"out-of-sample days after the {BACKTEST_WINDOW}-day estimation window")
    if n_oos is not None and n_oos < 2:
        raise UserInputError("--backtest-days must be at least 2")
    weights, currency = _portfolio_weights(plans)

    out.mkdir(parents=True, exist_ok=True)
    model.to_json(out / "model.json")
    say(f"running {len(plans)} library scenarios on the sample portfolio ({currency} "
        + ", ".join(f"{100 * w:.0f}% {a}" for a, w in weights.items()) + ")")
    t = time.perf_counter()
    failures: list[tuple[str, str]] = []
    stored = execute_runs(plans, out, seed=args.seed, n_threads=args.threads, progress=show_progress(),
                          command=command, say=say, failures=failures)
    timings["scenarios"] = round(time.perf_counter() - t, 2)

    say("rolling VaR/ES backtests on real history ...")
    t = time.perf_counter()
    model_spec, bts = _backtests(cal.returns, weights, model, n_oos=n_oos, say=say)
    atomic_write_json(out / "backtest.json", {"kind": "var-backtests", "data": DATA, "model_backtest": model_spec,
                                              "backtests": bts})
    timings["backtests"] = round(time.perf_counter() - t, 2)

    say("reverse stress test: the most likely one-year moves that cost the baseline's 99% loss quantile ...")
    t = time.perf_counter()
    from simulator.jobs.reverse import REVERSE_FILE, reverse_stress_test

    reverse = reverse_stress_test(model, scenario="baseline", loss_quantile=0.99, n_paths=args.paths, seed=args.seed)
    atomic_write_json(out / REVERSE_FILE, reverse)
    timings["reverse"] = round(time.perf_counter() - t, 2)

    fields = dict(
        data=DATA, model_sha256=model.sha256(), calibration_data=(model.provenance or {}).get("data", {}),
        scenarios=[r.name for r in stored], failed=[{"scenario": n, "error": m} for n, m in failures],
        not_run=not_run, seed=args.seed, n_paths=args.paths, portfolio_weights=weights,
        backtest={"window": BACKTEST_WINDOW, "refit_every": BACKTEST_REFIT_EVERY, "model": model_spec["model"],
                  "n_paths_per_refit": BACKTEST_PATHS, "n_oos": n_oos, "benchmark": "gjr/t/constant on the portfolio series"},
        # what renders report.html's charts (stress-sim verify compares them byte for byte when they match)
        report_versions={k: v for k, v in package_versions(["matplotlib"]).items() if k == "matplotlib"},
    )
    write_manifest(out, build_manifest(kind="demo", command=command, timings_s=dict(timings), **fields),
                   files=["model.json", "backtest.json", REVERSE_FILE])
    say("writing the report ...")
    t = time.perf_counter()
    written = write_report(out, out / "report.html", tables_dir=out, title="stress-sim demo: stress scenario risk report")
    timings["report"] = round(time.perf_counter() - t, 2)
    timings["total"] = round(time.perf_counter() - start, 2)
    files = ["model.json", "backtest.json", REVERSE_FILE] + [os.path.relpath(p, out) for p in written.values()]
    write_manifest(out, build_manifest(kind="demo", command=command, timings_s=dict(timings), **fields), files=files)

    as_of = (model.provenance or {}).get("data", {}).get("window_end", "unknown")
    print(f"as of {as_of} (the last day of the calibration window); portfolio {currency} "
          f"{_portfolio_value(plans):,.0f}: " + ", ".join(f"{100 * w:.0f}% {a}" for a, w in weights.items()))
    print(results_table(stored))
    print(_targets_line(stored))
    for b in bts:
        tl = b["traffic_light"]
        rejected = [t["name"] for t in b["tests"] if t["test"] in ("pof", "cc") and abs(t["level"] - 0.99) < 1e-12
                    and t["reject"]]
        print(f"backtest {b['name']:<32} {b['spec']['exceptions']:>3} exceptions at 99% in {b['spec']['n_oos']} days "
              f"(expected {b['spec']['expected_exceptions']:.1f}): "
              + (f"REJECTED by {' and '.join(rejected)}" if rejected else "Kupiec and Christoffersen accept")
              + f"; traffic light {tl['zone']} ({tl['exceptions']} in the last {tl['n']} days)")
    pt = reverse["most_likely_breach"]
    print(f"reverse stress test: a {reverse['horizon_days']}-day loss of at least {reverse['loss_threshold']:,.0f} "
          f"{reverse['currency']} is most likely reached by " + ", ".join(
              f"{a} {v:+.1f}%" for a, v in pt["moves_simple_pct"].items())
          + f" (Mahalanobis distance {pt['mahalanobis']:.2f})")
    if not_run:
        print(f"not run on this model ({len(not_run)}, written for another model): "
              + "; ".join(f"{s['scenario']} (stress-sim run {s['scenario']} --model {s['model']})" for s in not_run))
    print(f"report: {out / 'report.html'}   (total {timings['total']:.1f} s)")
    for name, message in failures:
        print(f"stress-sim: scenario {name} failed and is not in the report: {message}", file=sys.stderr)
    return 1 if failures else 0
