"""Verify a result directory: prove that it is intact and reproduces (the library behind ``stress-sim verify``).

:func:`verify_directory` returns one :class:`RunCheck` per run directory found; the CLI prints them.

Two independent checks per run directory (``DIR`` itself when it holds ``manifest.json``, otherwise each
sub-directory that does, e.g. the ``OUT/<scenario>/`` folders written by ``stress-sim run``):

1. **integrity**: every file listed under ``outputs`` in ``manifest.json`` exists and has the recorded
   sha256;
2. **reproduction**: for simulation results (``stress-sim simulate``: kind ``simulation``; ``stress-sim
   run``: kind ``scenario-run``) a sample of path chunks is recomputed from the recorded model, seed
   entropy, horizon and (for scenario runs) the stored scenario with its shocks, and compared **bit for
   bit** with the stored per-path summaries (``summary.parquet``) and, when present, the daily paths
   (``paths.parquet``). Path ``i`` depends only on (seed, i), so any chunk can be recomputed alone.
   Column names follow the manifest's results format (:func:`simulator.results.result_columns`):
   ``stress-sim-results/2`` and ``stress-sim simulate`` (0.3.0 and later) store ``cum_log_return_pct`` and
   ``log_return_pct``; results format 1 and simulate output of stress-sim <= 0.2.0 ``cum_return_pct`` and
   ``return_pct``.

The model is the directory's ``model.json`` when there is one, else ``--model``, else the manifest's
``model_source`` (a ``builtin:NAME``, or a file path tried as given and relative to ``DIR``); its hash must
equal the recorded ``model_sha256``. Other kinds of directories (e.g. ``stress-sim validate`` output) get
the integrity check only.

A directory that cannot be verified at all (no manifest, unreadable manifest, model not found) raises
:class:`simulator.exceptions.UserInputError`; differences are listed in each check's ``problems``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simulator.exceptions import UserInputError

__all__ = ["RunCheck", "verify_directory", "find_runs", "check_hashes", "recompute", "choose_chunks", "columns_for",
           "SIM_KINDS", "DEFAULT_CHUNKS", "DEFAULT_CHUNK_PATHS"]

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
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
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
    if extra:
        rc.notes.append(f"files not covered by the manifest (not verified): {', '.join(extra[:MAX_LISTED])}"
                        + (" ..." if len(extra) > MAX_LISTED else ""))


# ---------------------------------------------------------------------- reproduction
def _load_model_for(directory: Path, manifest: dict, override: str | None):
    from simulator.builtin import load_model
    from simulator.model import MarketModel

    if (directory / "model.json").is_file() and override is None:
        try:
            model, where = MarketModel.from_json(directory / "model.json"), str(directory / "model.json")
        except (ValueError, TypeError) as exc:
            raise UserInputError(f"{directory / 'model.json'}: {exc}") from None
    else:
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
        where = src
    recorded = manifest.get("model_sha256")
    if recorded and model.sha256() != recorded:
        raise UserInputError(f"{directory}: model {where} has sha256 {model.sha256()[:16]}... but the run recorded "
                             f"{str(recorded)[:16]}...; pass the model that produced the run with --model")
    return model, where


def _schedule_for(directory: Path, manifest: dict, model, horizon: int):
    from simulator.schedule import Schedule

    if manifest.get("kind") != "scenario-run":
        return Schedule.from_model(model, horizon), None
    path = directory / "scenario.json"
    if not path.is_file():
        raise UserInputError(f"{directory}: scenario run without scenario.json; cannot rebuild its shocks")
    from scenarios.loader import record_sha256s, scenario_from_record
    from simulator.jobs.scenario import compile_scenario

    data = json.loads(path.read_text(encoding="utf-8"))
    try:
        sc = scenario_from_record(data, source=str(path))
    except (ValueError, TypeError) as exc:
        raise UserInputError(f"{path}: {exc}") from None
    recorded = manifest.get("scenario_sha256")
    hashes = record_sha256s(data)  # the stored record's hash (and the 0.3.0 recipe's)
    if recorded and recorded not in hashes:
        raise UserInputError(f"{path}: scenario hash {hashes[0][:16]}... differs from the recorded "
                             f"{str(recorded)[:16]}...")
    roles = manifest.get("roles") or None
    try:
        sched = compile_scenario(sc, model, horizon=horizon, roles=roles)
    except (ValueError, TypeError, KeyError) as exc:
        raise UserInputError(f"{directory}: cannot rebuild the scenario's shocks ({exc})") from None
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


def recompute(directory: Path, manifest: dict, rc: RunCheck, *, model_override: str | None, chunks: int,
              chunk_paths: int, all_paths: bool, rng: np.random.Generator) -> None:
    """Recompute sampled path chunks and compare them bit for bit with the stored outputs."""
    from simulator.seeding import resolve_seed, seed_from_record

    seed = manifest.get("seed")
    if not isinstance(seed, dict) or "entropy" not in seed:
        raise UserInputError(f"{directory}: manifest.json has no seed record (entropy); cannot recompute the paths")
    n_paths = manifest.get("n_paths")
    horizon = manifest.get("horizon", manifest.get("horizon_days"))
    if not isinstance(n_paths, int) or not isinstance(horizon, int) or n_paths < 1 or horizon < 1:
        raise UserInputError(f"{directory}: manifest.json lacks a valid n_paths / horizon")
    model, where = _load_model_for(directory, manifest, model_override)
    recorded_assets = manifest.get("assets")
    if recorded_assets is not None and list(recorded_assets) != list(model.assets):
        raise UserInputError(f"{directory}: the run's assets {recorded_assets} differ from the model's "
                             f"{list(model.assets)}")
    sched, _ = _schedule_for(directory, manifest, model, horizon)
    arrays = sched.kernel_arrays()
    try:
        keys = resolve_seed(seed_from_record(seed))
    except (ValueError, TypeError, KeyError) as exc:
        raise UserInputError(f"{directory}: malformed seed record {seed!r} ({exc})") from None
    outputs = manifest.get("outputs") or {}
    have_paths = "paths.parquet" in outputs and (directory / "paths.parquet").is_file()
    if "summary.parquet" not in outputs or not (directory / "summary.parquet").is_file():
        rc.problems.append("summary.parquet: missing, so no per-path output can be compared")
        return
    cols = columns_for(manifest, directory)
    rc.notes.append(f"model {where}; seed entropy {seed.get('entropy')}; {n_paths:,} paths x {horizon} days")
    try:
        _compare(directory, manifest, rc, model, arrays, keys, n_paths, horizon, have_paths, chunks=chunks,
                 chunk_paths=chunk_paths, all_paths=all_paths, rng=rng, cols=cols)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid / ArrowIOError are ValueError / OSError
        if isinstance(exc, UserInputError):
            raise
        rc.problems.append(f"cannot read the stored outputs to compare them ({type(exc).__name__}: {exc})")


def _compare(directory: Path, manifest: dict, rc: RunCheck, model, arrays, keys, n_paths: int, horizon: int,
             have_paths: bool, *, chunks: int, chunk_paths: int, all_paths: bool, rng: np.random.Generator,
             cols: dict[str, str] | None = None) -> None:
    import pyarrow.parquet as pq

    from simulator.backends import run_chunk

    cols = cols or columns_for(manifest, directory)
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
    for start, stop in choose_chunks(n_paths, chunks=chunks, chunk_paths=chunk_paths, all_paths=all_paths, rng=rng):
        n = stop - start
        fresh = run_chunk(arrays, keys, start, stop, horizon, have_paths)
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


def _running_version() -> str:
    """This stress-sim's version as manifests record it (the installed distribution's)."""
    from simulator.io import package_versions

    return package_versions()["stress-sim"]


def verify_directory(directory: str | Path, *, model: str | None = None, chunks: int = DEFAULT_CHUNKS,
                     chunk_paths: int = DEFAULT_CHUNK_PATHS, all_paths: bool = False, sample_seed: int | None = None,
                     hashes_only: bool = False) -> list[RunCheck]:
    """Verify every run under ``directory`` (see the module docstring); :class:`UserInputError` if unverifiable."""
    from simulator.io import MANIFEST_NAME

    runs = find_runs(directory)
    rng = np.random.default_rng(sample_seed)
    out = []
    for d in runs:
        manifest = _read_manifest(d / MANIFEST_NAME)
        kind = str(manifest.get("kind", "unknown"))
        rc = RunCheck(directory=d, kind=kind)
        check_hashes(d, manifest, rc, nested=tuple(r for r in runs if r != d and d in r.parents))
        if hashes_only:
            rc.notes.append("hashes only (no recomputation requested)")
        elif kind in SIM_KINDS:
            recompute(d, manifest, rc, model_override=model, chunks=chunks, chunk_paths=chunk_paths,
                      all_paths=all_paths, rng=rng)
            written_by, running = (manifest.get("versions") or {}).get("stress-sim"), _running_version()
            if written_by and written_by != running:
                rc.notes.append(f"written by stress-sim {written_by}, recomputed with {running}: path values "
                                f"are reproducible within one version; across versions they may differ in the "
                                f"last digits (0.2.0 changed how quantile tables are evaluated)")
        else:
            rc.notes.append(f"kind {kind!r}: integrity check only (no simulated paths to recompute)")
        out.append(rc)
    return out
