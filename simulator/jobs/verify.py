"""Verify a result directory: prove that it is intact and that every figure it publishes reproduces (the library
behind ``stress-sim verify``).

:func:`verify_directory` returns one :class:`RunCheck` per run directory found; the CLI prints them.

Three checks per run directory (``DIR`` itself when it holds ``manifest.json``, and each sub-directory that
does, e.g. the ``OUT/<scenario>/`` folders written by ``stress-sim run``):

1. **integrity**: every file listed under ``outputs`` in ``manifest.json`` exists and has the recorded
   sha256; the model and scenario stored with a run have the recorded ``model_sha256`` / ``scenario_sha256``
   (an edited ``model.json`` or ``scenario.json`` is a difference, even when its file hash was updated);
2. **reproduction of the paths**: for simulation results (``stress-sim simulate``: kind ``simulation``;
   ``stress-sim run``: kind ``scenario-run``) a sample of path chunks (every path with ``all_paths``) is
   recomputed from the recorded model, seed entropy, horizon and (for scenario runs) the stored scenario with
   its shocks, and compared **bit for bit** with the stored per-path summaries (``summary.parquet``) and, when
   present, the daily paths (``paths.parquet``). Path ``i`` depends only on (seed, i), so any chunk can be
   recomputed alone. Column names follow the manifest's results format
   (:func:`simulator.results.result_columns`);
3. **re-derivation of the figures** (:mod:`simulator.jobs.rederive`): a scenario run's ``risk.json``,
   ``pnl.parquet`` and ``fan.parquet`` are computed again from every path by the code that wrote them and
   compared value by value. The paths are the stored per-path files once hash-checked and sampled, or, with
   ``all_paths``, when the run did not store what its figures need (daily paths, regime days), or when a
   sampled chunk differs, every path recomputed. ``stress-sim simulate --positions``'s ``tail.json``, a demo
   folder's ``summary.json``, ``tables/*.csv``, ``report.html``, ``backtest.json`` and ``reverse.json`` and a
   reverse stress test's ``reverse.json`` are re-derived too.

A file of a run folder that its kind does not publish (:data:`PUBLISHED`), or a result file the manifest does not
list, is a difference: a manifest relabelled (e.g. as a validation, which is hash-checked only) or stripped of
an output cannot hide an edited figure.

The model is the directory's ``model.json`` when there is one, else ``--model``, else the manifest's
``model_source`` (a ``builtin:NAME``, or a file path tried as given and relative to ``DIR``); its hash must
equal the recorded ``model_sha256``. Other kinds of directories (e.g. ``stress-sim validate`` output) get
the integrity check only.

A directory that cannot be verified at all (no manifest, unreadable manifest, a malformed seed or size
record, a model given or named that is not the run's, an unknown results format) raises
:class:`simulator.exceptions.UserInputError`; differences are listed in each check's ``problems``.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simulator.exceptions import UserInputError

__all__ = ["RunCheck", "RunDiffers", "verify_directory", "find_runs", "check_hashes", "recompute", "verify_scenario_run",
           "verify_demo", "verify_reverse", "choose_chunks", "columns_for", "SIM_KINDS", "DEFAULT_CHUNKS",
           "DEFAULT_CHUNK_PATHS", "PUBLISHED", "model_record_sha256"]

SIM_KINDS = ("simulation", "scenario-run")
DEFAULT_CHUNKS = 4
DEFAULT_CHUNK_PATHS = 64
MAX_LISTED = 20
MAX_DEPTH = 3


@dataclass
class RunCheck:
    """Outcome of verifying one run directory."""

    directory: Path
    kind: str
    n_files: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    recomputed_paths: int = 0
    compared_values: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


# ---------------------------------------------------------------------- discovery
def _read_manifest(path: Path) -> dict:
    from simulator.safeio import read_input_text

    try:
        data = json.loads(read_input_text(path, "manifest.json"))  # a regular file within the input size limit
    except OSError as exc:
        raise UserInputError(f"{path}: cannot read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise UserInputError(f"{path}: not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})") from None
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: expected a JSON object")
    return data


def find_runs(directory: str | Path, *, max_depth: int = MAX_DEPTH) -> list[Path]:
    """Every directory holding ``manifest.json``: ``directory`` itself and its non-hidden sub-directories down to
    ``max_depth`` levels (``stress-sim run`` writes ``OUT/<scenario>/``; a validation may sit inside a run)."""
    from simulator.io import MANIFEST_NAME

    root = Path(directory)
    if not root.exists():
        raise UserInputError(f"{root}: no such directory")
    if not root.is_dir():
        raise UserInputError(f"{root}: not a directory (give a results directory holding manifest.json)")
    found: list[Path] = []

    def walk(d: Path, depth: int) -> None:
        if (d / MANIFEST_NAME).is_file():
            found.append(d)
        if depth >= max_depth:
            return
        for p in sorted(d.iterdir()):
            if p.is_dir() and not p.is_symlink() and not p.name.startswith("."):
                walk(p, depth + 1)

    walk(root, 0)
    subs = found
    if not subs:
        raise UserInputError(f"{root}: no manifest.json here or in its sub-directories; not a stress-sim result "
                             "directory")
    return subs


# ---------------------------------------------------------------------- integrity
def check_hashes(directory: Path, manifest: dict, rc: RunCheck, *, nested: tuple[Path, ...] = ()) -> None:
    """Compare every output's sha256 with the manifest (missing, changed and escaping paths are problems)."""
    from simulator.io import MANIFEST_NAME, safe_join, sha256_file

    outputs = manifest.get("outputs")
    if not isinstance(outputs, dict) or not outputs:
        rc.problems.append("manifest.json lists no outputs with their sha256")
        return
    for rel, digest in sorted(outputs.items()):
        try:
            p = safe_join(directory, rel)
        except ValueError as exc:
            rc.problems.append(f"{rel}: {exc}")
            continue
        if not p.is_file():
            if p.exists() or p.is_symlink():
                rc.problems.append(f"{rel}: listed in manifest.json but not a regular file (replaced after the run)")
            else:
                rc.problems.append(f"{rel}: listed in manifest.json but missing")
            continue
        actual = sha256_file(p)
        rc.n_files += 1
        if actual != digest:
            rc.problems.append(f"{rel}: sha256 {actual[:16]}... differs from the recorded {str(digest)[:16]}... "
                               "(file modified after the run)")
    listed = {str(Path(k)) for k in outputs} | {MANIFEST_NAME}
    extra = sorted(str(p.relative_to(directory)) for p in directory.rglob("*")
                   if p.is_file() and not p.name.startswith(".") and str(p.relative_to(directory)) not in listed
                   and not any(n in p.parents for n in nested))
    kind = str(manifest.get("kind", "unknown"))
    own = PUBLISHED.get(kind)
    for rel in sorted(str(Path(k)) for k in outputs):
        if own is not None and not _published_by(rel, own):
            rc.problems.append(f"{rel}: listed in manifest.json, but {kind!r} results do not publish it (they "
                               f"publish {', '.join(own)}; the manifest's kind or outputs were edited)")
        elif own is None and _published_by(rel, ALL_PUBLISHED):
            rc.problems.append(f"{rel}: a file that stress-sim results publish, in a folder whose manifest.json has "
                               f"kind {_cut(repr(kind), 60)}, which this version does not write (the kind was edited?)")
    figures = [rel for rel in extra if _published_by(rel, ALL_PUBLISHED)]
    for rel in figures[:MAX_LISTED]:
        rc.problems.append(f"{rel}: a result file in the folder that manifest.json does not list (removed from the "
                           "manifest or added after the run), so nothing vouches for it")
    if len(figures) > MAX_LISTED:
        rc.problems.append(f"... and {len(figures) - MAX_LISTED} more result files that manifest.json does not list")
    extra = [rel for rel in extra if rel not in figures]
    if extra:
        rc.notes.append(f"files not covered by the manifest (not verified): {', '.join(extra[:MAX_LISTED])}"
                        + (" ..." if len(extra) > MAX_LISTED else ""))


#: The files each kind of result folder publishes (``tables/*.csv``: any CSV in ``tables/``); a file of a results
#: folder that its kind does not publish, or that the manifest does not list, is a difference.
PUBLISHED: dict[str, tuple[str, ...]] = {
    "simulation": ("summary.parquet", "paths.parquet", "tail.json"),
    "scenario-run": ("summary.parquet", "paths.parquet", "pnl.parquet", "fan.parquet", "risk.json", "model.json",
                     "scenario.json", "book.json"),
    "demo": ("model.json", "backtest.json", "reverse.json", "report.html", "summary.json", "tables/*.csv"),
    "reverse-stress-test": ("reverse.json",),
    "validation": ("validation.json", "report.html"),
}
ALL_PUBLISHED = tuple(dict.fromkeys(f for files in PUBLISHED.values() for f in files))


def _published_by(rel: str, names: tuple[str, ...]) -> bool:
    import fnmatch

    rel = Path(rel).as_posix()
    return any(fnmatch.fnmatchcase(rel, pattern) if "*" in pattern else rel == pattern for pattern in names)


# ---------------------------------------------------------------------- reproduction
class RunDiffers(Exception):
    """An input stored with the run (``model.json``, ``scenario.json``) is not the one that produced it: a
    difference of the run (exit status 1), not an unusable input."""


def _file_as_recorded(directory: Path, manifest: dict, name: str) -> bool:
    """Whether ``name`` has the sha256 the manifest records for it."""
    from simulator.io import sha256_file

    digest = (manifest.get("outputs") or {}).get(name)
    try:
        return bool(digest) and sha256_file(directory / name) == digest
    except OSError:
        return False


def _load_model_for(directory: Path, manifest: dict, override: str | None):
    """The run's model and where it came from. The directory's own ``model.json`` must be the recorded model
    (:class:`RunDiffers` otherwise); a model given with ``--model`` or named by ``model_source`` that is not is
    a :class:`UserInputError` (the wrong model was given, or its file changed since)."""
    from simulator.builtin import load_model
    from simulator.model import MarketModel

    recorded = manifest.get("model_sha256")
    own = directory / "model.json"
    if override is None and (own.is_file() or "model.json" in (manifest.get("outputs") or {})):
        data = _stored_record(directory, manifest, "model.json", "model", recorded)
        raw_sha = model_record_sha256(data)
        try:
            model = MarketModel.from_dict(data)
        except (ValueError, TypeError) as exc:
            if recorded and raw_sha == recorded:  # the run's own model, which this version cannot read
                raise UserInputError(f"{own}: the run's model cannot be read by this version ({_cut(str(exc))})") \
                    from None
            if recorded or not _file_as_recorded(directory, manifest, "model.json"):
                raise RunDiffers(f"model.json: not a valid model ({_cut(str(exc))}); the file was edited after "
                                 "the run") from None
            raise UserInputError(f"{own}: {_cut(str(exc))}") from None
        if recorded and recorded not in (raw_sha, model.sha256()):
            raise RunDiffers(f"model.json: the model's sha256 {model.sha256()[:16]}... differs from the recorded "
                             f"model_sha256 {str(recorded)[:16]}... (the model was edited after the run)")
        return model, str(own)
    src = override or manifest.get("model_source")
    if not src:
        raise UserInputError(f"{directory}: the manifest names no model_source and there is no model.json; "
                             "pass --model MODEL.json")
    src = str(src)
    if not src.startswith("builtin:") and not Path(src).is_file() and (directory / src).is_file():
        src = str(directory / src)
    try:
        model = load_model(src)
    except UserInputError as exc:
        raise UserInputError(f"{directory}: cannot load the run's model ({exc}); pass --model MODEL.json") from None
    if recorded and model.sha256() != recorded:
        raise UserInputError(f"{directory}: model {src} has sha256 {model.sha256()[:16]}... but the run recorded "
                             f"{str(recorded)[:16]}...; pass the model that produced the run with --model")
    return model, src


def model_record_sha256(record: Any) -> str | None:
    """The ``model_sha256`` a run records for the stored model record ``record`` (``model.json`` as read): the
    canonical JSON without ``provenance``, as :meth:`simulator.model.MarketModel.sha256` hashes the model's
    dict; None for a record that is not a JSON object."""
    from simulator.io import sha256_bytes

    if not isinstance(record, dict):
        return None
    return sha256_bytes(json.dumps({k: v for k, v in record.items() if k != "provenance"}, sort_keys=True).encode())


def _stored_record(directory: Path, manifest: dict, name: str, what: str, recorded: Any) -> Any:
    """The JSON record ``name`` (``model.json``, ``scenario.json``) stored with a run. A file that is missing,
    not a regular file, too large or not JSON cannot be the one whose hash the run recorded: a difference
    (:class:`RunDiffers`); without a recorded hash an unusable input (:class:`UserInputError`)."""
    from simulator.safeio import read_json_file

    try:
        data = read_json_file(directory / name, name)
    except UserInputError as exc:
        if recorded or not _file_as_recorded(directory, manifest, name):
            raise RunDiffers(f"{name}: {_cut(_strip_path(str(exc), directory / name))}; not the {what} the run "
                             "recorded (the file was edited or replaced after the run)") from None
        raise
    if not isinstance(data, dict):
        if recorded or not _file_as_recorded(directory, manifest, name):
            raise RunDiffers(f"{name}: a JSON {type(data).__name__}, not the {what} (an object) the run recorded "
                             "(the file was edited after the run)")
        raise UserInputError(f"{directory / name}: expected a JSON object, got {type(data).__name__}")
    return data


def _strip_path(message: str, path: Path) -> str:
    """``message`` about the file ``path`` with the path left out (the difference names the file itself)."""
    text = message.replace(f"{path}: ", "").replace(f" {str(path)!r}", "")
    return text[len(path.name) + 1:] if text.startswith(f"{path.name} ") else text


def _cut(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def _scenario_for(directory: Path, manifest: dict, model, horizon: int):
    """(schedule, scenario or None, replay data) of a run: the plain model for ``stress-sim simulate`` output,
    the stored ``scenario.json`` compiled with its shocks for a scenario run (:class:`RunDiffers` when it is
    not the recorded scenario)."""
    from simulator.schedule import Schedule

    if manifest.get("kind") != "scenario-run":
        return Schedule.from_model(model, horizon), None, {}
    path = directory / "scenario.json"
    if not path.is_file():
        raise RunDiffers("scenario.json: missing, so the scenario's shocks cannot be rebuilt")
    from scenarios.loader import record_sha256s, scenario_from_record
    from simulator.jobs.scenario import load_replay_data
    from simulator.shocks import compile_shocks

    recorded = manifest.get("scenario_sha256")
    data = _stored_record(directory, manifest, "scenario.json", "scenario", recorded)
    hashes = record_sha256s(data)  # the stored record's hash (and the 0.3.0 recipe's)
    if recorded and recorded not in hashes:
        raise RunDiffers(f"scenario.json: the scenario's hash {hashes[0][:16]}... differs from the recorded "
                         f"scenario_sha256 {str(recorded)[:16]}... (the scenario was edited after the run)")
    try:
        sc = scenario_from_record(data, source=str(path))
    except (ValueError, TypeError) as exc:
        if recorded:  # the run's own scenario, which this version cannot read
            raise UserInputError(f"{path}: the run's scenario cannot be read by this version ({_cut(str(exc))})") \
                from None
        if not _file_as_recorded(directory, manifest, "scenario.json"):
            raise RunDiffers(f"scenario.json: not a valid scenario ({_cut(str(exc))}); the file was edited after "
                             "the run") from None
        raise UserInputError(f"{path}: {_cut(str(exc))}") from None
    roles = manifest.get("roles") or None
    try:
        replay = load_replay_data(sc)
        sched = compile_shocks(sc, model, horizon=horizon, roles=roles, replay_data=replay)
    except (ValueError, TypeError, KeyError) as exc:
        raise UserInputError(f"{directory}: cannot rebuild the scenario's shocks ({_cut(str(exc))})") from None
    return sched, sc, replay


def _schedule_for(directory: Path, manifest: dict, model, horizon: int):
    """(schedule, scenario or None) of a run (see :func:`_scenario_for`)."""
    sched, sc, _ = _scenario_for(directory, manifest, model, horizon)
    return sched, sc


def choose_chunks(n_paths: int, *, chunks: int, chunk_paths: int, all_paths: bool,
                  rng: np.random.Generator) -> list[tuple[int, int]]:
    """Path ranges to recompute: all of them, or the first and last chunk plus ``chunks - 2`` at random."""
    size = max(1, min(chunk_paths, n_paths))
    if all_paths:
        return [(s, min(n_paths, s + size)) for s in range(0, n_paths, size)]
    n_slots = -(-n_paths // size)
    picks = {0, n_slots - 1}
    others = [i for i in range(1, n_slots - 1)]
    k = max(0, min(len(others), chunks - len(picks)))
    if k:
        picks |= {int(i) for i in rng.choice(others, size=k, replace=False)}
    return [(i * size, min(n_paths, (i + 1) * size)) for i in sorted(picks)]


def columns_for(manifest: dict, directory: Path | None = None) -> dict[str, str]:
    """Per-path column names of a run directory: by its results format for ``scenario-run`` manifests (an
    unknown format is a :class:`UserInputError`: this version cannot say what its columns mean). Other kinds
    (``stress-sim simulate`` output) record no results format: the names are read off ``summary.parquet``,
    ``cum_log_return_pct`` (format 2 names) or else ``cum_return_pct`` (format 1 names)."""
    from simulator.results import RESULTS_FORMAT, result_columns

    if manifest.get("kind") != "scenario-run":
        new = result_columns(RESULTS_FORMAT)
        if directory is not None and (directory / "summary.parquet").is_file():
            import pyarrow.parquet as pq

            try:
                if new["cum_log_return"] in pq.read_schema(directory / "summary.parquet").names:
                    return new
            except (OSError, ValueError):  # unreadable: the comparison reports it
                pass
        return result_columns("stress-sim-results/1")
    try:
        return result_columns(manifest.get("format"))
    except ValueError as exc:
        raise UserInputError(f"manifest.json: {exc}") from None


def _read_rows(path: Path, start: int, stop: int, columns: list[str]):
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["path", *columns], filters=[("path", ">=", start), ("path", "<", stop)])
    return table


def _asset_codes(table, assets: tuple[str, ...], where: str) -> np.ndarray:
    """Model asset index of every row's ``asset`` (dictionary-encoded or plain strings)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names = pc.cast(table.column("asset"), pa.string()).to_numpy(zero_copy_only=False)
    uniq, inverse = np.unique(names.astype(str), return_inverse=True)
    lookup = {a: i for i, a in enumerate(assets)}
    unknown = [u for u in uniq if u not in lookup]
    if unknown:
        raise UserInputError(f"{where}: asset {unknown[0]!r} is not a model asset ({', '.join(assets)})")
    return np.array([lookup[u] for u in uniq], dtype=np.int64)[inverse]


def _first_difference(stored: np.ndarray, fresh: np.ndarray) -> tuple[int, tuple]:
    """Number of cells whose bits differ, and the index of the first one."""
    s = np.ascontiguousarray(stored, dtype=np.float64).view(np.uint64)
    f = np.ascontiguousarray(fresh, dtype=np.float64).view(np.uint64)
    diff = s != f
    n = int(diff.sum())
    return n, (tuple(int(v) for v in np.argwhere(diff)[0]) if n else ())


def _run_sizes(directory: Path, manifest: dict) -> tuple[dict, int, int]:
    seed = manifest.get("seed")
    if not isinstance(seed, dict) or "entropy" not in seed:
        raise UserInputError(f"{directory}: manifest.json has no seed record (entropy); cannot recompute the paths")
    n_paths = manifest.get("n_paths")
    horizon = manifest.get("horizon", manifest.get("horizon_days"))
    if (not isinstance(n_paths, int) or not isinstance(horizon, int) or isinstance(n_paths, bool)
            or isinstance(horizon, bool) or n_paths < 1 or horizon < 1):
        raise UserInputError(f"{directory}: manifest.json lacks a valid n_paths / horizon")
    return seed, n_paths, horizon


def _keys_for(directory: Path, seed: dict):
    from simulator.seeding import resolve_seed, seed_from_record

    try:
        return resolve_seed(seed_from_record(seed))
    except (ValueError, TypeError, KeyError) as exc:
        raise UserInputError(f"{directory}: malformed seed record {_cut(repr(seed), 120)} ({exc})") from None


def recompute(directory: Path, manifest: dict, rc: RunCheck, *, model_override: str | None, chunks: int,
              chunk_paths: int, all_paths: bool, rng: np.random.Generator) -> None:
    """Recompute sampled path chunks of ``stress-sim simulate`` output and compare them bit for bit with the
    stored per-path files (scenario runs: :func:`verify_scenario_run`)."""
    from simulator.backends import run_chunk

    seed, n_paths, horizon = _run_sizes(directory, manifest)
    model, where = _load_model_for(directory, manifest, model_override)
    _check_assets(directory, manifest, model)
    sched, _, _ = _scenario_for(directory, manifest, model, horizon)
    arrays = sched.kernel_arrays()
    keys = _keys_for(directory, seed)
    outputs = manifest.get("outputs") or {}
    have_paths = "paths.parquet" in outputs and (directory / "paths.parquet").is_file()
    has_tail = "tail.json" in outputs or (directory / "tail.json").is_file()
    rc.notes.append(f"model {where}; seed entropy {seed.get('entropy')}; {n_paths:,} paths x {horizon} days")
    if "summary.parquet" not in outputs or not (directory / "summary.parquet").is_file():
        if manifest.get("keep") == "tail" and has_tail and "summary.parquet" not in outputs:
            _verify_tail(directory, manifest, rc, model, sched, seed, n_paths, horizon, None)
            return
        rc.problems.append("summary.parquet: missing, so no per-path output can be compared")
        return
    cols = columns_for(manifest, directory)
    picks = choose_chunks(n_paths, chunks=chunks, chunk_paths=chunk_paths, all_paths=all_paths, rng=rng)
    before = len(rc.problems)
    _compare_guarded(directory, manifest, rc, model, lambda s, e: run_chunk(arrays, keys, s, e, horizon, have_paths),
                     picks, n_paths, horizon, have_paths, cols)
    if has_tail:
        cum = None
        if len(rc.problems) == before:
            try:
                from simulator.jobs.rederive import read_stored_paths

                cum = read_stored_paths(directory, manifest, model.assets, n_paths, horizon, cols,
                                        daily=False)["cum_return"]
            except (OSError, ValueError) as exc:
                rc.problems.append(f"summary.parquet: cannot be read in full ({_cut(str(exc))})")
        _verify_tail(directory, manifest, rc, model, sched, seed, n_paths, horizon, cum)


def _verify_tail(directory: Path, manifest: dict, rc: RunCheck, model, sched, seed: dict, n_paths: int, horizon: int,
                 cum_return) -> None:
    """Re-derive ``tail.json`` of ``stress-sim simulate --positions``: from the stored summaries (``cum_return``,
    hash-checked and sampled), or, when the run kept no per-path file (``--keep tail``) or they differ, from
    every path recomputed (memory bounded by the tail, as the run was)."""
    from simulator.jobs import rederive
    from simulator.seeding import seed_from_record
    from simulator.tail import simulate_tail, tail_risk

    try:
        positions, levels, ci = rederive.tail_settings(manifest)
    except ValueError as exc:
        rc.problems.append(f"tail.json: {exc}")
        return
    record = {k: v for k, v in seed.items() if k != "value"}
    try:
        if manifest.get("importance") is not None:  # --importance tilt: the pilot, the shift and every path again
            rc.notes.append("tail.json re-derived by importance sampling again (pilot, shift and every path)")
            fresh = simulate_tail(model, n_paths, horizon, seed_from_record(seed), positions=positions, levels=levels,
                                  ci=ci, schedule=sched, importance="tilt")
            rc.recomputed_paths += n_paths
        elif cum_return is None:
            rc.notes.append("tail.json re-derived from every path recomputed (the run kept no per-path file, or "
                            "its summaries differ)")
            fresh = simulate_tail(model, n_paths, horizon, seed_from_record(seed), positions=positions, levels=levels,
                                  ci=ci, schedule=sched)
            rc.recomputed_paths += n_paths
        else:
            rc.notes.append("tail.json re-derived from the stored summaries (hash-checked, sampled chunks reproduced)")
            fresh = tail_risk(cum_return, positions, levels=levels, ci=ci, asset_names=model.assets, horizon=horizon,
                              seed=record, model_sha256=model.sha256())
    except (ValueError, TypeError) as exc:
        if isinstance(exc, UserInputError):
            raise
        rc.problems.append(f"tail.json: its figures cannot be re-derived ({_cut(str(exc))})")
        return
    fresh = dataclasses.replace(fresh, seed=record, model_sha256=model.sha256())
    rc.compared_values += rederive.check_tail(directory / "tail.json", manifest, fresh, rc.problems, rc.notes)


def _check_assets(directory: Path, manifest: dict, model) -> None:
    recorded_assets = manifest.get("assets")
    if recorded_assets is not None and list(recorded_assets) != list(model.assets):
        raise RunDiffers(f"manifest.json assets: the run's assets {_cut(str(recorded_assets), 120)} differ from the "
                         f"model's {list(model.assets)}")


def _compare_guarded(directory, manifest, rc, model, fresh, picks, n_paths, horizon, have_paths, cols) -> None:
    try:
        _compare(directory, manifest, rc, model, fresh, picks, n_paths, horizon, have_paths, cols)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid / ArrowIOError are ValueError / OSError
        if isinstance(exc, UserInputError):
            raise
        rc.problems.append(f"cannot read the stored outputs to compare them ({type(exc).__name__}: {_cut(str(exc))})")


def verify_scenario_run(directory: Path, manifest: dict, rc: RunCheck, *, model_override: str | None, chunks: int,
                        chunk_paths: int, all_paths: bool, rng: np.random.Generator,
                        derived: dict[Path, Any]) -> None:
    """Reproduce a scenario run: its paths (sampled chunks, or every path) bit for bit, then every figure of
    ``risk.json``, ``pnl.parquet`` and ``fan.parquet`` re-derived (:mod:`simulator.jobs.rederive`). The re-derived
    run is kept in ``derived`` (by resolved directory) for the runs and reports that compare with it."""
    from simulator.backends import run_chunk
    from simulator.engine import SimulationResult, simulate
    from simulator.jobs import rederive
    from simulator.seeding import seed_from_record

    seed, n_paths, horizon = _run_sizes(directory, manifest)
    model, where = _load_model_for(directory, manifest, model_override)
    _check_assets(directory, manifest, model)
    sched, sc, replay = _scenario_for(directory, manifest, model, horizon)
    keys = _keys_for(directory, seed)
    outputs = manifest.get("outputs") or {}
    have_paths = "paths.parquet" in outputs and (directory / "paths.parquet").is_file()
    if "summary.parquet" not in outputs or not (directory / "summary.parquet").is_file():
        rc.problems.append("summary.parquet: missing, so no per-path output can be compared")
        return
    cols = columns_for(manifest, directory)
    simulated = manifest.get("simulated")
    daily = simulated == "paths" if simulated in ("paths", "summary") else have_paths
    regime = any(getattr(s, "type", None) == "regime_switch" for s in sc.shocks)
    stored_risk = _json_or_none(directory / "risk.json")
    book = rederive.book_for_run(directory, manifest, stored_risk, rc.notes)
    keep = "paths" if daily else "summary"
    rc.notes.append(f"model {where}; seed entropy {seed.get('entropy')}; {n_paths:,} paths x {horizon} days")
    _check_size(n_paths, horizon, model.n_assets, daily)

    def everything():
        return simulate(model, n_paths, horizon, seed_from_record(seed), keep=keep, schedule=sched)

    full = all_paths or regime or (daily and not have_paths)
    sim = None
    if full:
        sim = everything()
        why = ("--all" if all_paths else "the run's regime days are not stored" if regime
               else "the run did not store its daily paths")
        rc.notes.append(f"every path recomputed ({why}); figures re-derived from them")
        picks = choose_chunks(n_paths, chunks=chunks, chunk_paths=chunk_paths, all_paths=True, rng=rng)
        full_sim = sim

        def fresh(s: int, e: int) -> dict:
            out = {"cum_return": full_sim.cum_return[s:e], "max_drawdown": full_sim.max_drawdown[s:e]}
            if full_sim.returns is not None:
                out.update(returns=full_sim.returns[s:e], sigma=full_sim.sigma[s:e])
            return out
    else:
        arrays = sched.kernel_arrays()
        picks = choose_chunks(n_paths, chunks=chunks, chunk_paths=chunk_paths, all_paths=False, rng=rng)

        def fresh(s: int, e: int) -> dict:
            return run_chunk(arrays, keys, s, e, horizon, have_paths)
    before = len(rc.problems)
    _compare_guarded(directory, manifest, rc, model, fresh, picks, n_paths, horizon, have_paths, cols)
    if sim is None:
        if len(rc.problems) == before:
            try:
                got = rederive.read_stored_paths(directory, manifest, model.assets, n_paths, horizon, cols, daily=daily)
                sim = SimulationResult(asset_names=model.assets, n_paths=n_paths, horizon=horizon, keep=keep,
                                       cum_return=got["cum_return"], max_drawdown=got["max_drawdown"],
                                       stressed_days=np.zeros(n_paths, np.int64), returns=got.get("returns"),
                                       sigma=got.get("sigma"), seed=dict(seed), model_sha256=model.sha256())
                rc.notes.append("figures re-derived from the stored per-path files (hash-checked, sampled chunks "
                                "reproduced)")
            except (OSError, ValueError) as exc:
                rc.problems.append(f"the stored per-path files cannot be read in full ({_cut(str(exc))})")
        if sim is None:
            sim = everything()
            rc.notes.append("the stored per-path files differ from the recomputation: figures re-derived from every "
                            "path recomputed")
    baseline = _baseline_for(directory, manifest, derived, rc)
    try:
        run = rederive.derive_scenario_run(directory, manifest, model, sc, sim, roles=manifest.get("roles") or None,
                                           book=book, replay_data=replay, baseline=baseline)
    except UserInputError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        rc.problems.append(f"risk.json: the figures cannot be re-derived from the paths ({_cut(str(exc))})")
        return
    rc.compared_values += rederive.check_scenario_outputs(directory, manifest, run, rc.problems, rc.notes)
    derived[directory.resolve()] = run.stored


def _check_size(n_paths: int, horizon: int, n_assets: int, daily: bool) -> None:
    """Refuse (before allocating) a recomputation that the recorded sizes make too large for memory."""
    try:
        from simulator.limits import check_simulation
    except ImportError:  # pragma: no cover - the size estimator of 0.4
        return
    try:
        check_simulation(n_paths, horizon, n_assets, keep="paths" if daily else "summary", what="verify",
                         per_cell=32, knobs="verify --hashes-only checks the files without recomputing them")
    except TypeError:  # another signature: leave the check to the engine
        return


def _json_or_none(path: Path) -> Any:
    """A stored JSON file, or None when it is missing, not a regular file (never opened: a FIFO would block),
    too large or not JSON (the comparison of that file reports it)."""
    from simulator.safeio import read_input_text

    try:
        return json.loads(read_input_text(path, path.name))
    except (OSError, ValueError):  # UserInputError is a ValueError
        return None


def _baseline_for(directory: Path, manifest: dict, derived: dict[Path, Any], rc: RunCheck):
    """The baseline a run was compared with: re-derived in this pass when it was verified, else its stored
    results read (hash-checked) from the sibling folder; None when the run has none."""
    ref = manifest.get("baseline")
    if not isinstance(ref, dict) or not ref.get("name"):
        return None
    from simulator.io import safe_join
    from simulator.results import load_results

    try:
        bdir = safe_join(directory.parent, str(ref["name"]))
    except ValueError:
        rc.problems.append(f"manifest.json baseline.name: {_cut(repr(ref['name']), 80)} is not a folder beside the run")
        return None
    got = derived.get(bdir.resolve())
    if got is None:
        try:
            got = load_results(bdir, verify=True)
        except (OSError, ValueError) as exc:
            rc.problems.append(f"risk.json stress_vs_baseline: the baseline run {bdir.name!r} it was compared with "
                               f"cannot be read ({_cut(str(exc))}); verify the folder that holds both")
            return None
        rc.notes.append(f"baseline {bdir.name!r} read from its stored files (hash-checked; verify it too)")
    want = ref.get("scenario_sha256")
    if want and got.manifest.get("scenario_sha256") != want:
        rc.problems.append(f"manifest.json baseline: the baseline run {bdir.name!r} has scenario_sha256 "
                           f"{str(got.manifest.get('scenario_sha256'))[:16]}..., the run recorded {str(want)[:16]}...")
    return got


def _compare(directory: Path, manifest: dict, rc: RunCheck, model, fresh_chunk, picks, n_paths: int, horizon: int,
             have_paths: bool, cols: dict[str, str]) -> None:
    """Compare the stored per-path files with ``fresh_chunk(start, stop)`` (arrays ``cum_return``,
    ``max_drawdown`` and with ``have_paths`` ``returns``, ``sigma``) on every chunk of ``picks``, bit for bit."""
    import pyarrow.parquet as pq

    summary_cols = ((cols["cum_log_return"], "cum_return"), (cols["max_drawdown"], "max_drawdown"))
    path_cols = ((cols["log_return"], "returns"), (cols["sigma"], "sigma"))
    for name, wanted in (("summary.parquet", [c for c, _ in summary_cols]),
                         ("paths.parquet", [c for c, _ in path_cols] if have_paths else [])):
        if not wanted:
            continue
        present = set(pq.ParquetFile(directory / name).schema_arrow.names)
        missing = [c for c in wanted if c not in present]
        if missing:
            rc.problems.append(f"{name}: no column {', '.join(map(repr, missing))}, which results of format "
                               f"{manifest.get('format') or 'stress-sim-results/1'!r} store (columns: "
                               f"{', '.join(sorted(present))})")
            return
    a = model.n_assets
    n_rows = pq.ParquetFile(directory / "summary.parquet").metadata.num_rows
    if n_rows != n_paths * a:
        rc.problems.append(f"summary.parquet: {n_rows} rows, expected {n_paths} paths x {a} assets = {n_paths * a}")
    if have_paths:
        n_rows = pq.ParquetFile(directory / "paths.parquet").metadata.num_rows
        if n_rows != n_paths * horizon * a:
            rc.problems.append(f"paths.parquet: {n_rows} rows, expected {n_paths} x {horizon} days x {a} assets "
                               f"= {n_paths * horizon * a}")
    for start, stop in picks:
        n = stop - start
        fresh = fresh_chunk(start, stop)
        rc.recomputed_paths += n
        # per-path summaries
        t = _read_rows(directory / "summary.parquet", start, stop, ["asset", *[c for c, _ in summary_cols]])
        p = t.column("path").to_numpy()
        codes = _asset_codes(t, model.assets, "summary.parquet")
        if t.num_rows != n * a or not np.array_equal(np.sort(p * a + codes), np.arange(start * a, stop * a)):
            rc.problems.append(f"summary.parquet: paths {start}-{stop - 1} are not stored exactly once per asset")
            continue
        for col, key in summary_cols:
            stored = np.empty((n, a))
            stored[p - start, codes] = t.column(col).to_numpy()
            bad, first = _first_difference(stored, fresh[key])
            rc.compared_values += stored.size
            if bad:
                i, j = first
                rc.problems.append(
                    f"summary.parquet {col}: {bad} value(s) differ in paths {start}-{stop - 1}; first at path "
                    f"{start + i}, asset {model.assets[j]!r}: stored {float(stored[i, j])!r}, recomputed "
                    f"{float(fresh[key][i, j])!r}")
        if not have_paths:
            continue
        t = _read_rows(directory / "paths.parquet", start, stop, ["day", "asset", *[c for c, _ in path_cols]])
        p = t.column("path").to_numpy()
        d = t.column("day").to_numpy().astype(np.int64)
        codes = _asset_codes(t, model.assets, "paths.parquet")
        flat = ((p - start) * horizon + (d - 1)) * a + codes
        if (t.num_rows != n * horizon * a or d.min(initial=1) < 1 or d.max(initial=1) > horizon
                or not np.array_equal(np.sort(flat), np.arange(n * horizon * a))):
            rc.problems.append(f"paths.parquet: paths {start}-{stop - 1} are not stored exactly once per day and asset")
            continue
        for col, key in path_cols:
            stored = np.empty(n * horizon * a)
            stored[flat] = t.column(col).to_numpy()
            stored = stored.reshape(n, horizon, a)
            bad, first = _first_difference(stored, fresh[key])
            rc.compared_values += stored.size
            if bad:
                i, day, j = first
                rc.problems.append(
                    f"paths.parquet {col}: {bad} value(s) differ in paths {start}-{stop - 1}; first at path "
                    f"{start + i}, day {day + 1}, asset {model.assets[j]!r}: stored {float(stored[i, day, j])!r}, "
                    f"recomputed {float(fresh[key][i, day, j])!r}")


# ---------------------------------------------------------------------- demo folders and reverse stress tests
def verify_demo(directory: Path, manifest: dict, rc: RunCheck, *, model_override: str | None,
                derived: dict[Path, Any]) -> None:
    """A demo folder's own outputs: ``model.json`` against its recorded hash, ``backtest.json``'s tests,
    ``reverse.json`` re-run, and ``summary.json`` / ``tables/*.csv`` re-derived from the re-derived scenario runs
    (its scenario folders are verified as runs of their own)."""
    from simulator.jobs import rederive
    from simulator.results import load_results

    outputs = manifest.get("outputs") or {}
    model = None
    if "model.json" in outputs:
        model, _ = _load_model_for(directory, manifest, model_override)
    backtests: dict | None = None
    if "backtest.json" in outputs:
        backtests = {}
        rc.compared_values += rederive.check_backtests(directory / "backtest.json", manifest, rc.problems, rc.notes,
                                                       verified=backtests)
        backtests = backtests or None
    reverse: dict | None = None
    if "reverse.json" in outputs:
        if model is None:
            model, _ = _load_model_for(directory, manifest, model_override)
        reverse = {}
        rc.compared_values += rederive.check_reverse(directory / "reverse.json", manifest, model, rc.problems, rc.notes,
                                                     verified=reverse)
        reverse = reverse or None
    if ("summary.json" in outputs or "report.html" in outputs
            or any(k.startswith("tables/") for k in outputs)):
        runs = []
        for name in manifest.get("scenarios") or []:
            sub = directory / str(name)
            got = derived.get(sub.resolve())
            if got is None:
                try:
                    got = load_results(sub, verify=True)
                except (OSError, ValueError) as exc:
                    rc.problems.append(f"summary.json: scenario {str(name)!r} of the demo cannot be read "
                                       f"({_cut(str(exc))})")
                    continue
                rc.notes.append(f"scenario {str(name)!r}: the report tables use its stored figures (not re-derived)")
            runs.append(got)
        rc.compared_values += rederive.check_report_tables(directory, manifest, runs, rc.problems, rc.notes,
                                                           backtests=backtests, reverse=reverse)


def verify_reverse(directory: Path, manifest: dict, rc: RunCheck, *, model_override: str | None) -> None:
    """A reverse stress test's folder: ``reverse.json`` re-run from what it records."""
    from simulator.jobs import rederive

    if "reverse.json" not in (manifest.get("outputs") or {}):
        rc.problems.append("manifest.json lists no reverse.json")
        return
    model, where = _load_model_for(directory, manifest, model_override)
    rc.notes.append(f"model {where}")
    rc.compared_values += rederive.check_reverse(directory / "reverse.json", manifest, model, rc.problems, rc.notes)


def _running_version() -> str:
    """This stress-sim's version as manifests record it (the installed distribution's)."""
    from simulator.io import package_versions

    return package_versions()["stress-sim"]


def _order(runs: list[Path], manifests: dict[Path, dict]) -> list[Path]:
    """Verification order: the baselines others were compared with, the other scenario runs, then everything
    else (a demo folder's report tables use the re-derived scenario runs)."""
    baselines = set()
    for d, m in manifests.items():
        ref = m.get("baseline")
        if m.get("kind") == "scenario-run" and isinstance(ref, dict) and isinstance(ref.get("name"), str):
            baselines.add((d.parent / ref["name"]).resolve())

    def rank(d: Path) -> int:
        kind = manifests[d].get("kind")
        if kind == "scenario-run":
            return 0 if d.resolve() in baselines else 1
        return 2 if kind in SIM_KINDS else 3
    return sorted(runs, key=lambda d: (rank(d), runs.index(d)))


def verify_directory(directory: str | Path, *, model: str | None = None, chunks: int = DEFAULT_CHUNKS,
                     chunk_paths: int = DEFAULT_CHUNK_PATHS, all_paths: bool = False, sample_seed: int | None = None,
                     hashes_only: bool = False) -> list[RunCheck]:
    """Verify every run under ``directory`` (see the module docstring); :class:`UserInputError` if unverifiable.

    Returns
    -------
    list of RunCheck
        One per directory holding a manifest, in the order :func:`find_runs` lists them.
    """
    from simulator.io import MANIFEST_NAME

    runs = find_runs(directory)
    rng = np.random.default_rng(sample_seed)
    manifests = {d: _read_manifest(d / MANIFEST_NAME) for d in runs}
    derived: dict[Path, Any] = {}
    checks: dict[Path, RunCheck] = {}
    for d in _order(runs, manifests):
        manifest = manifests[d]
        kind = str(manifest.get("kind", "unknown"))
        rc = RunCheck(directory=d, kind=kind)
        check_hashes(d, manifest, rc, nested=tuple(r for r in runs if r != d and d in r.parents))
        try:
            if hashes_only:
                rc.notes.append("hashes only (no recomputation requested)")
            elif kind == "scenario-run":
                verify_scenario_run(d, manifest, rc, model_override=model, chunks=chunks, chunk_paths=chunk_paths,
                                    all_paths=all_paths, rng=rng, derived=derived)
            elif kind in SIM_KINDS:
                recompute(d, manifest, rc, model_override=model, chunks=chunks, chunk_paths=chunk_paths,
                          all_paths=all_paths, rng=rng)
            elif kind == "demo":
                verify_demo(d, manifest, rc, model_override=model, derived=derived)
            elif kind == "reverse-stress-test":
                verify_reverse(d, manifest, rc, model_override=model)
            else:
                rc.notes.append(f"kind {kind!r}: integrity check only (no simulated paths to recompute)")
        except RunDiffers as exc:
            rc.problems.append(str(exc))
        if kind in SIM_KINDS and not hashes_only:
            written_by, running = (manifest.get("versions") or {}).get("stress-sim"), _running_version()
            if written_by and written_by != running:
                rc.notes.append(f"written by stress-sim {written_by}, recomputed with {running}: path values "
                                f"are reproducible within one version; across versions they may differ in the "
                                f"last digits (0.2.0 changed how quantile tables are evaluated)")
        checks[d] = rc
    return [checks[d] for d in runs]
