"""``stress-sim run SCENARIO.toml|NAME [...] --model MODEL.json|builtin:NAME --out DIR``.

Runs each scenario on the model and writes ``DIR/<scenario-name>/`` (see :mod:`simulator.results`; the
planning and execution are :mod:`simulator.jobs.runs`, which this module calls):
manifest, per-path summaries, portfolio P&L at the risk horizons, the value fan, VaR/ES with
confidence intervals, Euler contributions, drawdowns, correlations and the per-asset stress table.

Every input is checked before anything is simulated (scenario files, model, ``--role`` overrides,
shock compilation), so a bad input exits with status 2 and leaves ``DIR`` untouched; each scenario's
directory is replaced as a whole only once its run is complete. A scenario whose simulated prices
overflow (explosive dynamics) is reported and skipped, its old directory kept, and the command exits
with status 1 after running the others.

When a scenario named ``baseline`` is among those run, it runs first, its horizon is extended to
the longest horizon of the others (it has no shocks, so a longer run only adds days, and its first h days
are a baseline run of h days) and every other scenario's ``risk.json`` gets its stress loss against it at
the shared holding periods, headlined at the scenario's own horizon; the baseline's own figures are
reported at its file's horizon. ``--baseline-start`` chooses the baseline's start state: the model's
as-of state (``start``, the last calibration day; the default), its long-run (unconditional) volatility
state, or both (the long-run one as a second folder, ``baseline-long-run``).

The daily paths are simulated (for fan charts and P&L at every horizon) when
``paths x days x assets <= --max-path-cells``; above that only per-path summaries are simulated and
P&L is reported at the whole horizon. Each chunk of paths is reduced to the per-path figures the results
need where it ran (:mod:`simulator.chunked_risk`), so the daily paths are never gathered in one place.

Scale-out and resuming (the flags of ``stress-sim simulate``): ``--backend dask`` with ``--workers N`` (a local
cluster of N processes) or ``--scheduler tcp://HOST:PORT`` (a running cluster), ``--backend cuda|auto`` for a GPU,
``--chunk-paths`` for the chunking; none of them changes a result file (``manifest.json`` records where the run
went). Every completed chunk is committed to ``OUT/<scenario>/checkpoint/`` as the run goes; a run that was killed
continues with ``--resume`` (same arguments; any backend) and writes the same files as an uninterrupted run. The
checkpoints go once the new results are swapped in.
"""
from __future__ import annotations

import sys
import time

from scenarios.loader import REPLAY_SCALINGS
from simulator.cli.common import (
    add_scale_out_arguments,
    backend_options,
    connect_scheduler,
    load_model,
    non_negative_int,
    output_dir,
    positive_int,
    show_progress,
)
# the library behind this command (simulator.jobs.runs); names kept importable from here
from simulator.jobs.runs import (  # noqa: F401
    BASELINE_STARTS,
    LONG_RUN_BASELINE,
    PlannedRun,
    execute_runs,
    parse_roles,
    plan_runs,
    results_table,
)


def add_parser(subparsers) -> None:
    from simulator.results import PATH_CELL_LIMIT

    p = subparsers.add_parser(
        "run", help="run stress scenarios on a model and write their risk results",
        description="Run scenarios (files or library names) on a model; writes OUT/<scenario>/ with manifest.json, "
                    "summary.parquet, pnl.parquet, fan.parquet and risk.json (paths.parquet when the scenario "
                    "keeps paths). A scenario named 'baseline' runs first and the others are compared with it.")
    p.add_argument("scenarios", nargs="+", metavar="SCENARIO", help="scenario .toml file or library name "
                   "(see 'stress-sim scenarios list')")
    p.add_argument("--model", default=None, metavar="MODEL",
                   help="model JSON file or builtin:NAME (default: the scenario's own 'model' key)")
    p.add_argument("--out", required=True, metavar="DIR", help="results folder (one sub-directory per scenario)")
    p.add_argument("--paths", type=positive_int, default=None, metavar="N",
                   help="Monte Carlo paths per scenario (default: each scenario's n_paths)")
    p.add_argument("--seed", type=non_negative_int, default=None, metavar="S",
                   help="seed for every scenario (default: each scenario's seed)")
    p.add_argument("--role", action="append", default=[], metavar="ROLE=ASSET",
                   help="map a scenario role to a model asset, e.g. --role oil=BRENT (repeatable)")
    p.add_argument("--replay-scaling", choices=REPLAY_SCALINGS, default=None,
                   help="size of every historical_replay: 'historical' (history's own price moves) or 'filtered' "
                        "(history's standardized residuals times the model's current volatility, FHS); "
                        "default: each shock's scaling key, 'historical' when it has none")
    p.add_argument("--baseline-start", choices=BASELINE_STARTS, default="as-of",
                   help="start state of the baseline: 'as-of' (the model's start, the last calibration day; default), "
                        "'long-run' (each asset's unconditional variance) or 'both' (the long-run run is written as "
                        f"OUT/{LONG_RUN_BASELINE}/)")
    p.add_argument("--book", default=None, metavar="FILE",
                   help="an instrument book (CSV or TOML: linear, bond, swap, option, fx_forward rows) revalued in full "
                        "instead of each scenario's [portfolio]; see the README's book format")
    add_scale_out_arguments(
        p, resume_help="continue a killed run into the same --out with the same arguments: each scenario's chunks "
                       "checkpointed in OUT/<scenario>/checkpoint/ are loaded, only the missing ones computed")
    p.add_argument("--max-path-cells", type=positive_int, default=PATH_CELL_LIMIT, metavar="N",
                   help=f"keep daily paths in memory up to N = paths x days x assets cells (default {PATH_CELL_LIMIT:,})")
    p.set_defaults(func=run)


def command_line(args) -> list[str]:
    """The ``stress-sim run`` command equivalent to ``args`` (for manifests)."""
    cmd = ["stress-sim", "run", *[str(s) for s in args.scenarios]]
    if args.model:
        cmd += ["--model", args.model]
    cmd += ["--out", str(args.out)]
    for flag, value in (("--paths", args.paths), ("--seed", args.seed), ("--threads", args.threads),
                        ("--replay-scaling", args.replay_scaling), ("--book", getattr(args, "book", None)),
                        ("--chunk-paths", getattr(args, "chunk_paths", None)),
                        ("--backend", getattr(args, "backend", None)),
                        ("--scheduler", getattr(args, "scheduler", None)),
                        ("--workers", getattr(args, "workers", None))):
        if value is not None:
            cmd += [flag, str(value)]
    if getattr(args, "resume", False):
        cmd += ["--resume"]
    if getattr(args, "baseline_start", "as-of") != "as-of":
        cmd += ["--baseline-start", args.baseline_start]
    for item in args.role:
        cmd += ["--role", item]
    return cmd


def run(args) -> int:
    out = output_dir(args.out)
    backend, opts = backend_options(args)
    roles = parse_roles(args.role)
    model = load_model(args.model) if args.model else None
    book = None
    if args.book:
        from scenarios.book import load_book

        book = load_book(args.book)
    plans = plan_runs(args.scenarios, model=model, model_spec=args.model, n_paths=args.paths, roles=roles,
                      cell_limit=args.max_path_cells, replay_scaling=args.replay_scaling,
                      baseline_start=args.baseline_start, book=book)
    t0 = time.perf_counter()

    def say(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:7.1f}s] {msg}", file=sys.stderr, flush=True)

    failures: list[tuple[str, str]] = []
    client = connect_scheduler(args.scheduler) if args.scheduler is not None else None
    try:
        stored = execute_runs(plans, out, seed=args.seed, roles=roles, n_threads=args.threads,
                              progress=show_progress(), command=command_line(args), say=say, failures=failures,
                              backend=backend, client=client, chunk_paths=args.chunk_paths, checkpoint=True,
                              resume=args.resume, **opts)
    finally:
        if client is not None:
            client.close()
    if stored:
        print(results_table(stored))
        print(f"wrote {len(stored)} result folder(s) to {out}; render them with: stress-sim report {out} --out report.html")
    for name, message in failures:
        print(f"stress-sim: scenario {name} failed (its folder was left as it was): {message}", file=sys.stderr)
    if failures:  # the one closing line of a failed command (simulator.cli): which scenarios, and what was written
        names = ", ".join(name for name, _ in failures)
        print(f"stress-sim: error: {len(failures)} of {len(plans)} scenario(s) failed ({names}); "
              f"{len(stored) if stored else 0} written", file=sys.stderr)
    return 1 if failures else 0
