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
        plausibility, the simulated breach probability, mean move and breach types.
    """
    from simulator.jobs.scenario import run_scenario
    from simulator.reverse import reverse_stress

    if (loss is None) == (loss_quantile is None):
        raise UserInputError("give exactly one of a loss threshold (--loss) or a loss quantile (--loss-quantile)")
    if loss_quantile is not None and not 0.5 < float(loss_quantile) < 1.0:
        raise UserInputError(f"the loss quantile must lie in (0.5, 1), e.g. 0.99; got {loss_quantile!r}")
    res = run_scenario(scenario, model, n_paths=n_paths, seed=seed, roles=roles, keep="summary")
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
    }


def write_reverse(doc: dict[str, Any], out: str | Path, *, command=None, model_source: str | None = None) -> Path:
    """Write ``reverse.json`` and a manifest into the folder ``out`` (atomically)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserInputError(f"{out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    path = atomic_write_json(out / REVERSE_FILE, doc)
    manifest = build_manifest(kind="reverse-stress-test", command=command, model_source=model_source,
                              model_sha256=doc.get("model_sha256"), scenario=doc.get("scenario"),
                              seed=doc.get("seed"), loss_threshold=doc.get("loss_threshold"))
    existing = out / "manifest.json"
    if existing.is_file():
        try:
            prior = json.loads(existing.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            prior = {}
        if isinstance(prior, dict) and prior.get("kind") not in (None, "reverse-stress-test"):
            # a results folder of another job: add reverse.json beside its outputs, keep its manifest
            return path
    write_manifest(out, manifest, files=[REVERSE_FILE])
    return path
