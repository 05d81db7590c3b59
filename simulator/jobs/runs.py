"""Plan and execute scenario runs: every check before any simulation, then one results folder per scenario.

This is the library behind ``stress-sim run`` and ``stress-sim demo`` (the CLI parses arguments and prints):

* :func:`plan_runs` loads and checks every scenario, resolves its model, validates role overrides and
  compiles its shocks, so a bad input fails before anything is simulated or written;
* :func:`execute_runs` simulates each :class:`PlannedRun` and writes ``OUT/<scenario>/`` (see
  :mod:`simulator.results`), baseline first; :func:`results_table` summarises what was written.

When a scenario named ``baseline`` is among those planned, it runs first, its horizon is extended to the
longest horizon of the others (it has no shocks, so a longer run only adds days, and its first h days are a
baseline run of h days) and every other scenario's ``risk.json`` gets its stress loss against it at the shared
holding periods, headlined at the scenario's own horizon; the baseline's own figures are reported at its
file's horizon. ``baseline_start`` chooses the baseline's start state: the model's as-of state (``start``,
the last calibration day; the default), its long-run (unconditional) volatility state, or both (the long-run
one as a second folder, ``baseline-long-run``).

:func:`execute_runs` runs the scenarios on any backend (``backend``, ``client``, ``n_workers``, ``chunk_paths``:
one Dask client serves them all) and, with ``checkpoint=True`` (``stress-sim run``), commits each scenario's
chunks to ``OUT/<scenario>/checkpoint/`` as they complete, so that ``resume=True`` continues a killed run: the
checkpoints sit in the scenarios' destination folders, not in the staged output that a killed run loses, and
each scenario finds its own by name. Results are the same bytes whatever the backend, chunking or resumption.
"""
from __future__ import annotations

import contextlib
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from simulator.builtin import load_model
from simulator.constants import DEFAULT_LEVELS, ES_LEVEL
from simulator.exceptions import UserInputError
from simulator.jobs.scenario import compile_scenario, run_scenario
from simulator.roles import DEFAULT_ROLES

__all__ = ["BASELINE_STARTS", "LONG_RUN_BASELINE", "PlannedRun", "parse_roles", "plan_runs", "execute_runs",
           "results_table"]

_ROLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: ``baseline_start`` choices (``--baseline-start``).
BASELINE_STARTS = ("as-of", "long-run", "both")
#: Name (and folder) of the baseline run from the long-run state when ``baseline_start="both"``.
LONG_RUN_BASELINE = "baseline-long-run"


# ---------------------------------------------------------------------------------------------
# planning: every check before any simulation
# ---------------------------------------------------------------------------------------------
@dataclass
class PlannedRun:
    """One scenario ready to run."""

    scenario: Any                   # scenarios.spec.Scenario
    model: Any                      # MarketModel
    model_source: str
    n_paths: int
    keep: str                       # what the engine keeps: "paths" or "summary"
    paths_file: bool                # write paths.parquet
    extra_horizons: list[int] = field(default_factory=list)
    notes: dict = field(default_factory=dict)
    #: horizon of the headline figures (a baseline extended for comparisons: its file's horizon)
    reporting_horizon: int | None = None
    #: "as-of" (the model's start) or "long-run" (its unconditional state; the model is then long_run_model(...))
    start_state: str = "as-of"
    #: an instrument book revalued instead of the scenario's [portfolio] (scenarios.book.Book), or None
    book: Any = None

    @property
    def name(self) -> str:
        return self.scenario.name


def parse_roles(items: Sequence[str]) -> dict[str, str]:
    """``["oil=BRENT", ...]`` -> ``{"oil": "BRENT"}``; :class:`UserInputError` on a malformed item."""
    roles: dict[str, str] = {}
    for item in items:
        role, sep, asset = item.partition("=")
        role, asset = role.strip(), asset.strip()
        if not sep or not role or not asset:
            raise UserInputError(f"--role {item!r}: expected ROLE=ASSET, e.g. --role oil=BRENT")
        if not _ROLE_RE.match(role):
            raise UserInputError(f"--role {item!r}: role {role!r} must be a name of letters, digits and '_' "
                                 "(e.g. equity, tech_equity, oil)")
        if role in roles and roles[role] != asset:
            raise UserInputError(f"--role {role} is given twice ({roles[role]!r} and {asset!r})")
        roles[role] = asset
    return roles


def _extend_horizon(sc, horizon: int):
    """The scenario with ``horizon_days`` raised to ``horizon`` (re-validated)."""
    from scenarios.loader import scenario_from_dict

    data = sc.model_dump(mode="json", exclude_none=True)
    data["horizon_days"] = int(horizon)
    return scenario_from_dict(data, source=str(sc.path or sc.name), path=sc.path)


def _renamed(sc, name: str, description: str):
    """The scenario under another name and description (re-validated; the file path is kept)."""
    from scenarios.loader import scenario_from_dict

    data = sc.model_dump(mode="json", exclude_none=True)
    data["name"], data["description"] = name, description
    return scenario_from_dict(data, source=str(sc.path or sc.name), path=sc.path)


def plan_runs(refs: Sequence[Any], *, model: Any = None, model_spec: str | None = None, n_paths: int | None = None,
              roles: Mapping[str, str] | None = None, cell_limit: int | None = None,
              replay_scaling: str | None = None, baseline_start: str = "as-of", book: Any = None) -> list[PlannedRun]:
    """Load and check every scenario, resolve its model, validate roles and compile its shocks.

    Parameters
    ----------
    refs : sequence of str, path or Scenario
        Scenario files or library names.
    model : MarketModel, optional
        Use this model for every scenario (``model_spec`` then only names its source).
    model_spec : str, optional
        A model JSON path or ``builtin:NAME`` for every scenario; default: each scenario's ``model`` key.
    n_paths : int, optional
        Paths per scenario (default: the scenario's ``n_paths``).
    roles : mapping, optional
        Role -> model asset overrides.
    cell_limit : int, optional
        Keep daily paths up to this many cells (default :data:`simulator.results.PATH_CELL_LIMIT`).
    replay_scaling : {"filtered", "historical"}, optional
        Set the ``scaling`` of every ``historical_replay`` shock; at least one scenario must have one.
    book : scenarios.book.Book, optional
        Revalue this book of positions in full instead of each scenario's linear ``[portfolio]``; checked
        against every scenario's model (factors, kinds, curves, as-of levels).
    baseline_start : {"as-of", "long-run", "both"}, default "as-of"
        Start state of the scenario named ``baseline``: the model's ``start`` (as-of the last calibration
        day), the model's long-run state (:func:`simulator.results.long_run_model`), or both, the long-run one
        as a second run named ``baseline-long-run`` (compared with the as-of baseline like any scenario).

    Returns
    -------
    list of PlannedRun
        Baseline first (horizon extended to the longest, reported at its own), the long-run baseline next
        (with ``both``), then in the order given.

    Raises
    ------
    UserInputError
        Unknown scenario, bad file, duplicate names, missing or bad model, bad role.
    """
    from scenarios.loader import load_scenario, with_replay_scaling
    from simulator.limits import check_simulation
    from simulator.results import PATH_CELL_LIMIT, keep_for_run, long_run_model
    from simulator.scenario_risk import pnl_horizons

    if baseline_start not in BASELINE_STARTS:
        raise UserInputError(f"baseline start {baseline_start!r} is not one of {', '.join(BASELINE_STARTS)}")
    cell_limit = PATH_CELL_LIMIT if cell_limit is None else int(cell_limit)
    roles = dict(roles or {})
    scenarios = [load_scenario(r) for r in refs]
    if baseline_start != "as-of" and not any(sc.name == "baseline" for sc in scenarios):
        raise UserInputError(f"--baseline-start {baseline_start}: no scenario named 'baseline' is given "
                             f"({', '.join(sc.name for sc in scenarios)})")
    if replay_scaling is not None:
        if not any(sc.has_replay() for sc in scenarios):
            raise UserInputError(f"--replay-scaling {replay_scaling}: no scenario given has a historical_replay shock "
                                 f"({', '.join(sc.name for sc in scenarios)})")
        scenarios = [with_replay_scaling(sc, replay_scaling) for sc in scenarios]
    seen: dict[str, int] = {}
    for i, sc in enumerate(scenarios):
        if sc.name in seen:
            raise UserInputError(f"scenario {sc.name!r} is given twice (arguments {seen[sc.name] + 1} and {i + 1}); "
                                 "each scenario writes OUT/<name>/, so names must differ")
        seen[sc.name] = i
    if roles:
        known = set(DEFAULT_ROLES)
        for sc in scenarios:
            known |= set(sc.roles) | {name for name, _ in sc.asset_references()}
        for role in roles:
            if role not in known:
                raise UserInputError(f"--role {role}={roles[role]}: no scenario uses role {role!r} "
                                     f"(roles in use: {', '.join(sorted(known))})")
    cache: dict[str, Any] = {}

    def model_for(sc):
        if model is not None:
            return model, model_spec or "<in-memory model>"
        ref = model_spec or sc.model
        if ref is None:
            raise UserInputError(f"scenario {sc.name!r} names no model; give --model MODEL.json or builtin:NAME")
        source = str(ref) if model_spec else str(sc.resolve_ref(ref))
        if source not in cache:
            cache[source] = load_model(source)
        return cache[source], source

    if baseline_start == "both" and LONG_RUN_BASELINE in seen:
        raise UserInputError(f"--baseline-start both writes OUT/{LONG_RUN_BASELINE}/, but a scenario of that name "
                             "is given too; rename it")
    ordered = sorted(scenarios, key=lambda s: s.name != "baseline")
    others = [s for s in ordered if s.name != "baseline"]
    jobs: list[tuple[Any, str]] = []
    for sc in ordered:
        if sc.name != "baseline":
            jobs.append((sc, "as-of"))
            continue
        if baseline_start in ("as-of", "both"):
            jobs.append((sc, "as-of"))
        if baseline_start in ("long-run", "both"):
            lr = sc if baseline_start == "long-run" else _renamed(
                sc, LONG_RUN_BASELINE, "Baseline from the model's long-run (unconditional) volatility state, not the "
                f"as-of state. {sc.description}")
            jobs.append((lr, "long-run"))
    plans: list[PlannedRun] = []
    for sc, start in jobs:
        m, source = model_for(sc)
        if start == "long-run":
            m = long_run_model(m)
        notes: dict[str, Any] = {}
        extra: list[int] = []
        reporting = None
        if sc.name == "baseline" or start == "long-run":  # a baseline: long enough for every other scenario
            if others:
                longest = max(s.horizon_days for s in others)
                if longest > sc.horizon_days:
                    notes["horizon_extended_from"] = sc.horizon_days
                    reporting = sc.horizon_days
                    sc = _extend_horizon(sc, longest)
                for s in others:
                    extra.extend(pnl_horizons(s.outputs.horizons, s.horizon_days))
        for role, asset in roles.items():
            if asset not in m.assets:
                raise UserInputError(f"--role {role}={asset}: the model has no asset {asset!r} "
                                     f"(model assets: {', '.join(m.assets)})")
        try:
            compile_scenario(sc, m, roles=roles or None)
        except UserInputError:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise UserInputError(f"scenario {sc.name!r} cannot run on this model: {exc}") from None
        if book is not None:
            from simulator.book_risk import validate_book

            validate_book(book, m)
        n = int(n_paths or sc.n_paths)
        if sc.portfolio is not None or book is not None:
            need = max(math.ceil(1.0 / (1.0 - lv) - 1e-9) for lv in sc.outputs.var_levels)
            if n < need:
                raise UserInputError(
                    f"scenario {sc.name!r}: {n} paths are too few for VaR/ES at "
                    f"{', '.join(f'{100 * lv:g}%' for lv in sc.outputs.var_levels)}; give at least {need} "
                    "(--paths) so that one path lies beyond every VaR level")
        keep = keep_for_run(n, sc.horizon_days, m.n_assets, requested=sc.outputs.keep, cell_limit=cell_limit)
        if book is not None:
            if n * sc.horizon_days * m.n_assets > cell_limit:
                raise UserInputError(f"scenario {sc.name!r}: a book is revalued from the daily paths, and "
                                     f"{n:,} paths x {sc.horizon_days} days x {m.n_assets} factors exceed the "
                                     f"{cell_limit:,} cells kept in memory (fewer --paths, or --max-path-cells)")
            keep = "paths"
        # memory: the engine's arrays, paths.parquet's table when written, and the P&L at every horizon
        n_h = len(pnl_horizons(sc.outputs.horizons, sc.horizon_days, extra=extra)) + 1
        check_simulation(n, sc.horizon_days, m.n_assets, keep=keep, what=f"scenario {sc.name!r}",
                         per_cell=16 + (40 if sc.outputs.keep == "paths" else 0),
                         per_path_asset=16 + 8 * n_h, extra=8 * n * (n_h + 6),
                         knobs="use fewer --paths" + (" or a scenario that does not keep its paths"
                                                      if sc.outputs.keep == "paths" else ""))
        plans.append(PlannedRun(scenario=sc, model=m, model_source=source, n_paths=n, keep=keep,
                                paths_file=sc.outputs.keep == "paths", extra_horizons=sorted(set(extra)), notes=notes,
                                reporting_horizon=reporting, start_state=start, book=book))
    return plans


def execute_runs(plans: Sequence[PlannedRun], out: str | Path, *, seed: int | None = None,
                 roles: Mapping[str, str] | None = None, n_threads: int | None = None, progress: bool = False,
                 command: Sequence[str] | None = None, say: Callable[[str], None] | None = None,
                 failures: list | None = None, backend: str = "local", client: Any = None,
                 n_workers: int | None = None, chunk_paths: int | None = None, checkpoint: bool = False,
                 resume: bool = False):
    """Simulate each planned scenario and write its results directory (baseline first).

    Parameters
    ----------
    failures : list, optional
        When given, a scenario whose simulated values overflow
        (:class:`simulator.results.NonFiniteResultError`) is appended to it as ``(name, message)``, its
        directory is left as it was, and the other scenarios still run; otherwise the error propagates.
    backend, client, n_workers, chunk_paths : optional
        Where and in which chunks the paths run (see :func:`simulator.run_scenario`). On ``"dask"`` one client
        serves every scenario: ``client`` (a ``distributed.Client`` or a scheduler address), or a local cluster of
        ``n_workers`` processes started here and closed at the end. Every backend and chunking writes the same
        bytes (only ``manifest.json``'s ``engine`` record, ``created_utc`` and timing notes differ).
    checkpoint : bool, default False
        Commit every completed chunk of a scenario to ``OUT/<scenario>/checkpoint/`` (see
        :mod:`simulator.runstore`) while it runs, so a run that is killed can be continued with ``resume=True``.
        The checkpoint lives in the scenario's destination folder, outside the staged output (which a killed run
        loses), and goes with the old folder when the new results are swapped in; a scenario that fails has its
        checkpoint removed.
    resume : bool, default False
        Continue a killed run with the same arguments: each scenario's chunks found in its checkpoint are loaded
        (verified) instead of computed; a scenario without one starts afresh. Needs ``checkpoint=True``.

    Returns
    -------
    list of simulator.results.StoredScenario
    """
    from simulator.outdir import members_transaction
    from simulator.results import NonFiniteResultError

    if resume and not checkpoint:
        raise ValueError("resume=True needs checkpoint=True (the chunks of the killed run are in its checkpoints)")
    say = say or (lambda _m: None)
    stored: list[Any] = []
    baseline = None
    # every OUT/<scenario>/ is checked before anything runs (only earlier results of stress-sim run may be
    # replaced), the new folders are staged in OUT and swapped in together once every scenario is written
    tx = members_transaction(out, [p.name for p in plans], kinds=("scenario-run",))
    try:
        with _cluster(backend, client, n_workers) as engine_client:
            engine = dict(backend=backend, client=engine_client, chunk_paths=chunk_paths, resume=resume)
            for i, p in enumerate(plans, 1):
                tag = f"[{i}/{len(plans)}] {p.name}"
                run_dir = checkpoint_dir(out, p.name) if checkpoint else None
                existed = run_dir is not None and run_dir.parent.exists()
                try:
                    res = _execute_one(p, tx.stage, tag=tag, seed=seed, roles=roles, n_threads=n_threads,
                                       progress=progress, command=command, say=say, baseline=baseline,
                                       run_dir=run_dir, **engine)
                except NonFiniteResultError as exc:
                    if failures is None:
                        raise
                    failures.append((p.name, str(exc)))
                    say(f"{tag}: FAILED: {exc}")
                    if run_dir is not None:  # the folder is left as it was: without this run's checkpoint
                        _drop_checkpoint(run_dir, keep_parent=existed)
                    continue
                if p.name == "baseline":
                    baseline = res
                stored.append(res)
        tx.commit()
    except BaseException:
        tx.abort()
        raise
    for res in stored:
        res.directory = Path(out) / res.name
    return stored


def checkpoint_dir(out: str | Path, name: str) -> Path:
    """Where :func:`execute_runs` checkpoints scenario ``name`` of a run into ``out``: ``OUT/<name>/checkpoint``."""
    from simulator.io import safe_join
    from simulator.runstore import CHECKPOINT_DIR

    return safe_join(out, name) / CHECKPOINT_DIR


def _drop_checkpoint(run_dir: Path, *, keep_parent: bool) -> None:
    from simulator.runstore import RunStore

    RunStore.remove(run_dir)
    if not keep_parent:
        try:
            run_dir.parent.rmdir()
        except OSError:
            pass


@contextlib.contextmanager
def _cluster(backend: str, client: Any, n_workers: int | None) -> Iterator[Any]:
    """The Dask client every scenario of a run shares (``None`` for the other backends)."""
    if backend != "dask":
        if client is not None or n_workers is not None:
            raise ValueError("client and n_workers apply to backend='dask' only; pass backend='dask' to run on a "
                             "cluster")
        yield None
        return
    from simulator.backends.dask import connect

    with connect(client, n_workers=n_workers) as c:
        yield c


def _execute_one(p: PlannedRun, out, *, tag, seed, roles, n_threads, progress, command, say, baseline,
                 backend="local", client=None, chunk_paths=None, run_dir=None, resume=False):
    """Simulate one planned scenario and write its directory."""
    from simulator.results import write_results

    t0 = time.perf_counter()
    say(f"{tag}: {p.n_paths:,} paths x {p.scenario.horizon_days} days "
        f"({'daily paths' if p.keep == 'paths' else 'summaries only'}"
        f"{'; long-run start state' if p.start_state == 'long-run' else ''}"
        f"{'; on ' + backend if backend != 'local' else ''})")
    result = run_scenario(p.scenario, p.model, n_paths=p.n_paths, seed=seed, roles=dict(roles) if roles else None,
                          keep=p.keep, progress=progress, n_threads=n_threads, book=p.book, backend=backend,
                          client=client, chunk_paths=chunk_paths, run_dir=run_dir, resume=resume,
                          extra_horizons=p.extra_horizons, reporting_horizon=p.reporting_horizon,
                          keep_paths=p.paths_file)
    t1 = time.perf_counter()
    meta = result.simulation.meta
    if meta.get("chunks_resumed"):
        say(f"{tag}: resumed {meta['chunks_resumed']} of {meta['n_chunks']} chunks from {run_dir}")
    if meta.get("chunks_unsigned"):
        say(f"{tag}: warning: {meta['chunks_unsigned']} checkpoint chunk(s) failed their signature (altered, or "
            "written by another version) and were computed again")
    res = write_results(result, out, model=p.model, baseline=baseline, extra_horizons=p.extra_horizons,
                        keep_paths=p.paths_file, command=command, model_source=p.model_source, scenario=p.scenario,
                        notes={**p.notes, "roles": dict(roles or {}), "simulate_s": round(t1 - t0, 3)},
                        reporting_horizon=p.reporting_horizon, start_state=p.start_state)
    say(f"{tag}: simulated in {t1 - t0:.1f} s, written in {time.perf_counter() - t1:.1f} s")
    return res


def results_table(stored) -> str:
    """Plain-text summary of stored results: VaR and ES at each level side by side, at each scenario's reporting
    horizon, with the baseline's ES at the same horizon and the stress loss against it."""
    from simulator.scenario_risk import compare_to_baseline

    base = next((r for r in stored if r.name == "baseline"), None)
    levels = sorted({float(x) for r in stored for x in (r.risk.get("levels") or DEFAULT_LEVELS)})
    lines = []
    cols = "".join(f" {f'VaR {100 * lv:g}%':>11} {f'ES {100 * lv:g}%':>11}" for lv in levels)
    head = f"{'scenario':<22} {'days':>5} {'paths':>7}{cols} {'base ES':>11} {'stress ES':>11}"
    lines += [head, "-" * len(head)]
    es_level = ES_LEVEL if ES_LEVEL in levels else max(levels)
    for r in stored:
        h = r.reporting_horizon
        cells = ""
        for lv in levels:
            t = r.tail(h, lv)
            cells += f" {t['var']:>11,.0f} {t['es']:>11,.0f}" if t else f" {'-':>11} {'-':>11}"
        base_es, sl = ("(baseline)", "") if r is base else ("-", "-")
        if base is not None and r is not base:
            cmp = compare_to_baseline(r, base)
            if cmp is not None:
                hd = cmp["headline"]
                base_es = f"{hd['es_baseline']:,.0f}"
                sl = f"{hd['es_stress_loss']:,.0f}" + ("" if hd["at_scenario_horizon"] else f"@{hd['horizon_days']}d")
        lines.append(f"{r.name[:22]:<22} {h:>5} {int(r.risk['scenario']['n_paths']):>7,}{cells} {base_es:>11} {sl:>11}")
    if stored:
        cur = stored[0].risk.get("currency", "")
        note = (f"(loss over each scenario's own horizon in trading days ('days'), {cur}, losses positive; VaR and ES "
                f"side by side at each level; 'base ES': the baseline's ES {100 * es_level:g}% at the same horizon; "
                f"'stress ES': scenario ES {100 * es_level:g}% minus that")
        if base is not None and base.horizon != base.reporting_horizon:
            note += (f"; the baseline ran {base.horizon} days for the comparisons and is reported at its own "
                     f"{base.reporting_horizon} days")
        lines.append(note + ")")
    return "\n".join(lines)
