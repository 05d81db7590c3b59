"""The reverse stress test as a job: simulate a scenario's horizon moves and find what breaks the portfolio.

:func:`reverse_stress_test` runs a scenario (the model's own dynamics by default: the library's
``baseline``) on a model, takes each path's move of every factor over the horizon, and asks which moves
give a loss of at least ``loss`` (currency) on the scenario's portfolio or on a book of positions on
price factors (see :mod:`simulator.reverse` for the method). :func:`write_reverse` stores the answer as
``reverse.json`` with a manifest; ``stress-sim report`` shows it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from simulator.exceptions import UserInputError
from simulator.io import atomic_write_json, build_manifest, write_manifest

__all__ = ["REVERSE_FILE", "reverse_stress_test", "write_reverse"]

#: The file a reverse stress test writes in its output folder.
REVERSE_FILE = "reverse.json"


def _book_loss(book, assets: tuple[str, ...], horizon: int):
    """Loss of a book of price-factor positions from horizon moves (percent log returns, (m, assets))."""
    from simulator.instruments.revalue import MarketState, book_pnl_matrix

    needed = {name for names in book.factors().values() for name in names}
    unknown = sorted(needed - set(assets))
    if unknown:
        raise UserInputError(f"{book.source}: factor {unknown[0]!r} is not a model asset ({', '.join(assets)}); "
                             "a reverse stress test on this model revalues positions on its price factors")
    if any(p.kind in ("bond", "swap") or getattr(p, "curve", None) for p in book.positions):
        raise UserInputError(f"{book.source}: bonds, swaps and curve-discounted positions need a model with rate "
                             "factors; this model has price factors only")
    col = {a: j for j, a in enumerate(assets)}

    def loss(moves: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(moves)
        n = x.shape[0]

        def state_at(day: int) -> MarketState:
            rel = {a: (np.ones(n) if day == 0 else np.exp(x[:, col[a]] / 100.0)) for a in needed}
            return MarketState(day=day, relatives=rel)
        return -book_pnl_matrix(book, state_at, horizon).sum(axis=1)
    return loss


def reverse_stress_test(model, *, scenario: Any = "baseline", loss: float | None = None,
                        loss_quantile: float | None = None, book=None, n_paths: int | None = None, seed=None,
                        roles=None, n_clusters: int = 3) -> dict[str, Any]:
    """Reverse stress test of a scenario's portfolio (or ``book``) on ``model``.

    Parameters
    ----------
    model : MarketModel
    scenario : str, path or Scenario, default "baseline"
        Its dynamics (shocks, horizon, paths, seed) and, without ``book``, its portfolio.
    loss : float, optional
        The loss threshold in the portfolio currency (losses positive).
    loss_quantile : float, optional
        Instead of ``loss``: the simulated loss quantile used as threshold (e.g. 0.99: the 99 % VaR).
    book : scenarios.book.Book, optional
        Positions on the model's price factors (linear, options) to revalue instead of the portfolio.

    Returns
    -------
    dict
        ``reverse.json``'s content: the scenario, horizon, currency, threshold, the most likely breach
        point (moves as percent log returns and as simple returns), its Mahalanobis distance and
        plausibility, the simulated breach probability, mean move and breach types; ``inputs``: the scenario
        as run, its hash, the book, the breach types asked for and the role overrides (what ``stress-sim
        verify`` re-runs it from, with the model, ``n_paths``, ``seed`` and the threshold recorded beside).
    """
    from scenarios.loader import load_scenario, scenario_sha256
    from simulator.jobs.scenario import run_scenario
    from simulator.reverse import reverse_stress

    if (loss is None) == (loss_quantile is None):
        raise UserInputError("give exactly one of a loss threshold (--loss) or a loss quantile (--loss-quantile)")
    if loss_quantile is not None and not 0.5 < float(loss_quantile) < 1.0:
        raise UserInputError(f"the loss quantile must lie in (0.5, 1), e.g. 0.99; got {loss_quantile!r}")
    sc = load_scenario(scenario)
    res = run_scenario(sc, model, n_paths=n_paths, seed=seed, roles=roles, keep="summary")
    sim = res.simulation
    moves = sim.cum_return
    if book is not None:
        loss_fn = _book_loss(book, sim.asset_names, sim.horizon)
        currency, portfolio = book.currency, {"book": book.source, "positions": len(book.positions)}
    else:
        if res.positions is None:
            raise UserInputError(f"scenario {res.name!r} has no [portfolio]; give a book (--book FILE)")
        pos = np.asarray(res.positions, dtype=float)

        def loss_fn(x):
            return -(np.expm1(np.atleast_2d(x) / 100.0) @ pos)
        currency = res.currency
        portfolio = {"positions": {a: float(p) for a, p in zip(sim.asset_names, pos)}}
    losses = loss_fn(moves)
    if loss_quantile is not None:
        threshold = float(np.quantile(losses, float(loss_quantile)))
    else:
        assert loss is not None  # one of the two is given (checked above)
        threshold = float(loss)
        if threshold > float(losses.max()):
            raise UserInputError(f"no simulated path loses {threshold:,.0f} {currency} (the largest loss is "
                                 f"{float(losses.max()):,.0f}); a lower threshold, more paths or another scenario")
    result = reverse_stress(moves, loss_fn, threshold, factors=sim.asset_names, n_clusters=n_clusters)
    doc = result.to_dict()
    simple = {a: float(100.0 * np.expm1(v / 100.0)) for a, v in doc["most_likely_breach"]["moves"].items()}
    doc["most_likely_breach"]["moves_simple_pct"] = simple
    return {
        "kind": "reverse-stress-test", "scenario": res.name, "horizon_days": int(sim.horizon),
        "n_paths": int(sim.n_paths), "currency": currency, "portfolio": portfolio,
        "loss_quantile": loss_quantile, "model_sha256": sim.model_sha256, "seed": dict(sim.seed),
        "units": {"moves": "percent log return over the horizon (moves_simple_pct: simple, percent)",
                  "loss": f"{currency}, losses positive"},
        "method": "most likely point: minimum Mahalanobis norm of the moves' normal scores with loss >= threshold "
                  "(Gaussian copula of the simulated horizon moves, empirical marginals); prob_as_extreme = "
                  "P(chi2_k >= d^2); simulated breaches: paths with loss >= threshold",
        **doc,
        # what stress-sim verify re-runs it from: the scenario as run, the book, the breach types asked for
        "inputs": {"scenario": sc.model_dump(mode="json"), "scenario_sha256": scenario_sha256(sc),
                   "book": None if book is None else book.model_dump(mode="json"), "n_clusters": int(n_clusters),
                   "roles": dict(roles) if roles else None},
    }


def write_reverse(doc: dict[str, Any], out: str | Path, *, command=None, model_source: str | None = None) -> Path:
    """Write ``reverse.json`` and a manifest into the folder ``out`` (staged, swapped in together).

    In a folder holding another job's result (its ``manifest.json`` of another kind, e.g. a demo), only
    ``reverse.json`` is written beside that result and its manifest is kept; a ``reverse.json`` that another
    job's manifest lists, or any existing file that is not a reverse stress test, is refused (never replaced)."""
    from simulator.outdir import FileRule, OutputTransaction, is_json_with

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserInputError(f"{out} exists and is not a directory")
    existing = out / "manifest.json"
    prior: Any = None
    if existing.is_file():
        try:
            prior = json.loads(existing.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise UserInputError(f"{existing} exists and is not a stress-sim manifest; write the reverse stress test to "
                                 "another folder") from None
    other = isinstance(prior, dict) and prior.get("kind") not in (None, "reverse-stress-test")
    if other and REVERSE_FILE in (prior.get("outputs") or {}):
        raise UserInputError(f"{out / REVERSE_FILE} belongs to the {prior.get('kind')!r} result in {str(out)!r} (its "
                             "manifest lists it); write the reverse stress test to another folder")
    rules = {REVERSE_FILE: FileRule(is_json_with("most_likely_breach"), "--out", "a reverse stress test (reverse.json)")}
    if not other:
        rules["manifest.json"] = FileRule(_is_reverse_manifest, "--out", "the manifest of a reverse stress test")
    tx = OutputTransaction(out, rules)
    try:
        stage = tx.stage
        atomic_write_json(stage / REVERSE_FILE, doc)
        if not other:
            manifest = build_manifest(kind="reverse-stress-test", command=command, model_source=model_source,
                                      model_sha256=doc.get("model_sha256"), scenario=doc.get("scenario"),
                                      seed=doc.get("seed"), loss_threshold=doc.get("loss_threshold"))
            write_manifest(stage, manifest, files=[REVERSE_FILE])
        tx.commit()
    except BaseException:
        tx.abort()
        raise
    return out / REVERSE_FILE


def _is_reverse_manifest(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("kind") == "reverse-stress-test"
