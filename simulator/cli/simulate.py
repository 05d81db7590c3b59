"""``stress-sim simulate MODEL.json --paths N --horizon H --seed S --out DIR``.

Runs on local numba threads or a Dask cluster (``--backend dask``, ``--scheduler tcp://HOST:PORT`` or
``--workers N``). Completed chunks are committed to ``DIR/checkpoint/`` as the run goes; a run that was
killed continues with ``--resume`` and writes the same output files as an uninterrupted run. The
checkpoint is removed once the outputs are written.

``--keep tail --positions ...`` computes exact portfolio VaR/ES (``tail.json``) from any number of
paths without keeping them; with ``--keep paths|summary`` the same ``tail.json`` is computed from the
kept paths when ``--positions`` is given.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from simulator.constants import DEFAULT_LEVELS
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
from simulator.exceptions import UserInputError

from simulator.runstore import CHECKPOINT_DIR  # OUT/checkpoint
TAIL_FILE = "tail.json"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("simulate", help="simulate Monte Carlo paths from a model JSON",
                              description="Simulate copula-GARCH paths; writes Parquet (or tail.json) and manifest.json. "
                                          "Interrupted runs continue with --resume.")
    p.add_argument("model", help="model JSON file or builtin:NAME")
    p.add_argument("--paths", type=positive_int, required=True, help="number of paths")
    p.add_argument("--horizon", type=positive_int, required=True, help="days to simulate")
    p.add_argument("--seed", type=non_negative_int, required=True, help="random seed (non-negative integer)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--keep", choices=["paths", "summary", "tail"], default="paths",
                   help="paths: daily returns and sigmas; summary: per-path cumulative return and drawdown; "
                        "tail: only the portfolio VaR/ES (needs --positions; memory independent of --paths)")
    add_scale_out_arguments(
        p, resume_help="continue an interrupted run in --out (same arguments): only missing chunks are computed")
    p.add_argument("--positions", default=None, metavar="SPEC",
                   help="portfolio for VaR/ES: A=1e6,B=-2e5 or a JSON object {\"A\": 1e6} / list, or a .json file")
    p.add_argument("--var-levels", default=None, metavar="L1,L2",
                   help="VaR/ES confidence levels (default 0.975,0.99)")
    p.add_argument("--ci", type=float, default=0.95, help="confidence of the VaR/ES intervals (default 0.95)")
    p.add_argument("--importance", choices=["none", "tilt"], default="none",
                   help="with --keep tail: tilt = importance sampling, the copula normals shifted toward the "
                        "portfolio's most likely breach point and the paths weighted (VaR/ES with standard errors; "
                        "default levels 0.99,0.999,0.9997; no --resume)")
    p.set_defaults(func=run)


# ------------------------------------------------------------------------------------------------
# argument parsing helpers
# ------------------------------------------------------------------------------------------------
def parse_levels(text: str | None) -> tuple[float, ...]:
    """``"0.975,0.99"`` → (0.975, 0.99), each in (0, 1)."""
    if text is None:
        return DEFAULT_LEVELS
    out = []
    for part in text.split(","):
        part = part.strip()
        try:
            lv = float(part)
        except ValueError:
            raise UserInputError(f"--var-levels: {part!r} is not a number; give levels in (0, 1) such as 0.975,0.99") from None
        if not 0.0 < lv < 1.0:
            raise UserInputError(f"--var-levels: {part} is not in (0, 1); give levels such as 0.975,0.99")
        out.append(lv)
    if not out:
        raise UserInputError("--var-levels is empty; give levels such as 0.975,0.99")
    return tuple(out)


def parse_positions(text: str, assets) -> np.ndarray:
    """Positions from ``A=1e6,B=-2e5``, a JSON object/list, or a ``.json`` file, as an array in asset order."""
    from simulator.tail import resolve_positions

    text = text.strip()
    if not text:
        raise UserInputError("--positions is empty; give e.g. " + ",".join(f"{a}=1e6" for a in list(assets)[:2]))
    from simulator.safeio import loads_json, read_json_file

    if text[0] in "{[":
        obj = loads_json(text, "--positions")
    elif text.endswith(".json"):
        path = Path(text)
        if not path.exists():
            raise UserInputError(f"--positions file {text!r} not found")
        obj = read_json_file(path, "--positions file")
    else:
        obj = {}
        for part in text.split(","):
            name, sep, val = part.partition("=")
            name, val = name.strip(), val.strip()
            if not sep or not name:
                raise UserInputError(f"--positions: {part.strip()!r} is not NAME=AMOUNT (e.g. {list(assets)[0]}=1e6)")
            if name in obj:
                raise UserInputError(f"--positions: asset {name!r} is given twice")
            try:
                obj[name] = float(val)
            except ValueError:
                raise UserInputError(f"--positions: amount {val!r} of {name!r} is not a number") from None
    if isinstance(obj, list) and not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in obj):
        raise UserInputError("--positions: a JSON list must hold one number per asset, in the model's asset order")
    try:
        return resolve_positions(obj, assets)
    except (TypeError, ValueError) as exc:
        raise UserInputError(f"--positions: {exc}") from None


# ------------------------------------------------------------------------------------------------
# output tables
# ------------------------------------------------------------------------------------------------
def paths_table(result):
    """Long Arrow table (path, day, asset, log_return_pct, sigma_pct) of a ``keep='paths'`` result (percent log
    returns; stress-sim <= 0.2 named the column ``return_pct``)."""
    import pyarrow as pa

    n, h, a = result.returns.shape
    return pa.table({
        "path": pa.array(np.repeat(np.arange(n, dtype=np.int64), h * a)),
        "day": pa.array(np.tile(np.repeat(np.arange(1, h + 1, dtype=np.int32), a), n)),
        "asset": pa.DictionaryArray.from_arrays(np.tile(np.arange(a, dtype=np.int32), n * h),
                                                list(result.asset_names)),
        "log_return_pct": pa.array(result.returns.reshape(-1)),
        "sigma_pct": pa.array(result.sigma.reshape(-1)),
    })


def summary_table(result):
    """Long Arrow table (path, asset, cum_log_return_pct, max_drawdown) of any result (cumulative percent log
    return; stress-sim <= 0.2 named the column ``cum_return_pct``)."""
    import pyarrow as pa

    n, a = result.cum_return.shape
    return pa.table({
        "path": pa.array(np.repeat(np.arange(n, dtype=np.int64), a)),
        "asset": pa.DictionaryArray.from_arrays(np.tile(np.arange(a, dtype=np.int32), n), list(result.asset_names)),
        "cum_log_return_pct": pa.array(result.cum_return.reshape(-1)),
        "max_drawdown": pa.array(result.max_drawdown.reshape(-1)),
    })


def _tail_text(tail) -> str:
    if hasattr(tail, "weight_mean"):  # importance sampling (simulator.importance.ImportanceResult)
        rows = [f"portfolio loss over {tail.horizon} days, {tail.n:,} importance-sampled paths: mean "
                f"{tail.mean_loss:,.2f} (se {tail.mean_loss_se:,.2f}); mean weight {tail.weight_mean:.3f} "
                f"(se {tail.weight_mean_se:.3f})"]
        for e in tail.risk:
            rows.append(f"  level {e.level:g}: VaR {e.var:,.2f} (se {e.var_se:,.2f})  ES {e.es:,.2f} "
                        f"(se {e.es_se:,.2f})")
        return "\n".join(rows)
    rows = [f"portfolio P&L over {tail.horizon} days, {tail.n:,} paths: mean {tail.mean_pnl:,.2f}, "
            f"sd {tail.std_pnl:,.2f}"]
    for e in tail.risk:
        rows.append(f"  level {e.level:g}: VaR {e.var:,.2f} [{e.var_ci[0]:,.2f}, {e.var_ci[1]:,.2f}]  "
                    f"ES {e.es:,.2f} [{e.es_ci[0]:,.2f}, {e.es_ci[1]:,.2f}]  ({e.ci:g} CI)")
    return "\n".join(rows)


# ------------------------------------------------------------------------------------------------
# run
# ------------------------------------------------------------------------------------------------
def run(args) -> int:
    from simulator.limits import check_simulation
    from simulator.outdir import directory_transaction

    model = load_model(args.model)
    out = output_dir(args.out)
    backend, opts = backend_options(args)
    positions = parse_positions(args.positions, model.assets) if args.positions is not None else None
    if args.var_levels is not None and positions is None:
        raise UserInputError("--var-levels needs --positions (the portfolio whose VaR/ES to compute)")
    if args.keep == "tail" and positions is None:
        raise UserInputError("--keep tail needs --positions, e.g. --positions "
                             + ",".join(f"{a}=1e6" for a in model.assets[:2]))
    if not 0.0 < args.ci < 1.0:
        raise UserInputError(f"--ci must be in (0, 1), got {args.ci}")
    importance = getattr(args, "importance", "none") == "tilt"
    if importance and args.keep != "tail":
        raise UserInputError("--importance tilt needs --keep tail (it estimates the portfolio's VaR/ES)")
    if importance and args.resume:
        raise UserInputError("--importance tilt runs keep no checkpoint; run again without --resume")
    if importance and args.var_levels is None:
        from simulator.importance import TAIL_LEVELS

        levels = TAIL_LEVELS
    else:
        levels = parse_levels(args.var_levels)
    if positions is not None and args.paths < 2:
        raise UserInputError("VaR/ES need at least 2 paths (--paths)")
    # memory: the engine's arrays plus the long Parquet table built from them (32 bytes a row, and its encoding)
    check_simulation(args.paths, args.horizon, model.n_assets, keep=args.keep, what="simulate",
                     chunk_paths=args.chunk_paths, per_cell=64, per_path_asset=60,
                     knobs="use fewer --paths, a shorter --horizon or --keep summary (or tail with --positions)"
                     if args.keep == "paths" else "use fewer --paths or --keep tail with --positions"
                     if args.keep == "summary" else "use fewer --paths or a shorter --horizon")
    # the destination is checked (and refused if it holds files stress-sim did not write) before any work
    tx = directory_transaction(out, kinds=("simulation",))
    try:
        return _simulate_into(args, model, out, tx, backend, opts, positions, levels)
    except BaseException:
        tx.abort()
        raise


def _simulate_into(args, model, out: Path, tx, backend: str, opts: dict, positions, levels) -> int:
    """Simulate and write into the transaction's staged folder; the checkpoint stays in ``OUT/checkpoint``."""
    from simulator.engine import simulate
    from simulator.io import atomic_write_json, atomic_write_parquet, build_manifest, write_manifest
    from simulator.tail import simulate_tail, tail_risk

    client = connect_scheduler(args.scheduler) if args.scheduler is not None else None
    run_dir = out / CHECKPOINT_DIR
    common = dict(chunk_paths=args.chunk_paths, n_threads=args.threads, progress=show_progress(), backend=backend,
                  client=client, run_dir=run_dir, resume=args.resume, **opts)
    try:
        if args.keep == "tail" and getattr(args, "importance", "none") == "tilt":
            common.pop("run_dir")
            common.pop("resume")
            tail = simulate_tail(model, args.paths, args.horizon, args.seed, positions=positions, levels=levels,
                                 ci=args.ci, importance="tilt", **common)
            result, meta, seed_record, model_sha = None, tail.meta, tail.seed, tail.model_sha256
            meta["chunks_resumed"] = 0
        elif args.keep == "tail":
            tail = simulate_tail(model, args.paths, args.horizon, args.seed, positions=positions, levels=levels,
                                 ci=args.ci, **common)
            result, meta, seed_record, model_sha = None, tail.meta, tail.seed, tail.model_sha256
        else:
            result = simulate(model, args.paths, args.horizon, args.seed, keep=args.keep, **common)
            meta, seed_record, model_sha = result.meta, result.seed, result.model_sha256
            tail = None
            if positions is not None:
                tail = tail_risk(result.cum_return, positions, levels=levels, ci=args.ci, asset_names=model.assets,
                                 horizon=args.horizon, seed=result.seed, model_sha256=result.model_sha256)
    finally:
        if client is not None:
            client.close()
    if args.resume:
        print(f"resumed {meta['chunks_resumed']} of {meta['n_chunks']} chunks from {run_dir}", file=sys.stderr)
        if meta.get("chunks_unsigned"):
            print(f"stress-sim: warning: {meta['chunks_unsigned']} checkpoint chunk(s) in {run_dir} failed their "
                  "signature (altered, or written by another version) and were computed again", file=sys.stderr)

    files = []
    stage = tx.out()
    if result is not None:
        atomic_write_parquet(stage / "summary.parquet", summary_table(result))
        files.append("summary.parquet")
        if args.keep == "paths":
            atomic_write_parquet(stage / "paths.parquet", paths_table(result))
            files.append("paths.parquet")
    if tail is not None:
        atomic_write_json(stage / TAIL_FILE, tail.to_dict())
        files.append(TAIL_FILE)
    manifest = build_manifest(
        kind="simulation", seed={"value": args.seed, **seed_record}, model_sha256=model_sha,
        model_source=args.model, n_paths=args.paths, horizon=args.horizon, keep=args.keep,
        assets=list(model.assets),
        execution={"backend": meta.get("backend", backend), "scheduler": args.scheduler, "workers": args.workers,
                   "chunk_paths": meta["chunk_paths"], "n_chunks": meta["n_chunks"],
                   "chunks_resumed": meta["chunks_resumed"]},
        units={"log_return_pct": "percent log return", "cum_log_return_pct": "percent log return over the horizon",
               "sigma_pct": "percent per day",
               "max_drawdown": "fraction of running peak", "var_es": "loss in the currency of the positions"},
        **({"portfolio": {"positions": dict(zip(model.assets, positions.tolist())), "levels": list(levels),
                          "ci": args.ci}} if positions is not None else {}),
        **({"importance": {"method": "tilt", **tail.design.to_dict()}}
           if getattr(args, "importance", "none") == "tilt" else {}),
    )
    write_manifest(stage, manifest, files=files)
    # the outputs are complete: swap them in; the old folder goes, with the checkpoint that is no longer needed
    tx.commit()
    if result is not None:
        print(result.summary_frame().round(3).to_string())
    if tail is not None:
        print(_tail_text(tail))
    print(f"wrote {', '.join(files)} and manifest.json to {out}")
    return 0
