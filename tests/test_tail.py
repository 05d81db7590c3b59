"""Exact tail measures from chunks: the merged tail equals the full sort, bit for bit.

Facts checked: the k-largest merge with floor pruning, under random chunkings, completion orders
and dispatch lags, gives exactly ``risk.var_es`` of the full P&L vector; the per-chunk exact sums give
the correctly rounded mean; the P&L revaluation does not depend on how paths are chunked.
"""
import json
import math
from fractions import Fraction

import numpy as np
import pytest

from simulator import MarketModel, simulate
from simulator.risk import pnl_from_cum_returns, tail_size, var_es, var_es_from_tail
from simulator.tail import (
    TailAccumulator,
    chunk_tail,
    exact_sum_terms,
    resolve_positions,
    revalue,
    simulate_tail,
    tail_risk,
)
from tests.conftest import make_model

POS3 = {"A0": 1.0e6, "A1": -2.5e5, "A2": 4.0e5}


def _exact(x) -> Fraction:
    return sum(map(Fraction, np.asarray(x, dtype=float).ravel().tolist()), Fraction(0))


@pytest.fixture(scope="module")
def model3():
    return MarketModel.from_dict(make_model(3))


# ------------------------------------------------------------------------------------------------
# exact sums
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["wide", "cancel", "tiny", "zeros", "pnl"])
def test_exact_sum_terms_sum_exactly(case):
    rng = np.random.default_rng(11)
    x = {
        "wide": rng.standard_normal(5000) * 10.0 ** rng.integers(-300, 300, 5000),
        "cancel": np.array([1e16, 1.0, -1e16, 3.0e-300, -1.0, 2.0 ** -1074]),
        "tiny": rng.standard_normal(300) * 2.0 ** -1060,
        "zeros": np.array([0.0, -0.0, 0.0]),
        "pnl": rng.standard_t(3, 100_000) * 1e5,
    }[case]
    terms = exact_sum_terms(x)
    assert _exact(terms) == _exact(x)
    assert math.fsum(terms) == math.fsum(x)
    # terms of parts merge exactly into the whole
    cut = len(x) // 3
    assert _exact(np.concatenate([exact_sum_terms(x[:cut]), exact_sum_terms(x[cut:])])) == _exact(x)


def test_exact_sum_terms_rejects_non_finite():
    with pytest.raises(ValueError, match="finite"):
        exact_sum_terms(np.array([1.0, np.inf]))


# ------------------------------------------------------------------------------------------------
# revaluation
# ------------------------------------------------------------------------------------------------
def test_revalue_is_the_exact_revaluation_and_chunk_invariant():
    rng = np.random.default_rng(5)
    n, a = 4001, 12
    cum = rng.standard_t(4, (n, a)) * 8.0
    pos = rng.standard_normal(a) * 1e6
    pnl = revalue(cum, pos)
    growth = np.expm1(cum / 100.0)
    for i in rng.integers(0, n, 20):  # left-to-right sum over assets, in IEEE double
        acc = 0.0
        for j in range(a):
            acc += float(growth[i, j]) * float(pos[j])
        assert pnl[i] == acc
    for _ in range(30):
        i = int(rng.integers(0, n))
        j = int(rng.integers(i + 1, n + 1))
        assert np.array_equal(revalue(cum[i:j], pos), pnl[i:j])
    # the same value as risk.pnl_from_cum_returns up to BLAS rounding
    np.testing.assert_allclose(pnl, pnl_from_cum_returns(cum, pos), rtol=1e-12, atol=1e-6)


def test_resolve_positions_errors_name_the_assets():
    names = ("SPX", "NDX")
    assert resolve_positions({"NDX": -2.0}, names).tolist() == [0.0, -2.0]
    assert resolve_positions([1, 2], names).tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="'DAX'.*valid assets: SPX, NDX"):
        resolve_positions({"DAX": 1.0}, names)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        resolve_positions([1.0, 2.0, 3.0], names)
    with pytest.raises(ValueError, match="'NDX' must be finite"):
        resolve_positions({"NDX": float("nan")}, names)
    with pytest.raises(TypeError, match="mapping"):
        resolve_positions("SPX=1", names)
    with pytest.raises(TypeError, match="number"):
        resolve_positions({"SPX": "1e6"}, names)


# ------------------------------------------------------------------------------------------------
# merge == full sort
# ------------------------------------------------------------------------------------------------
def _random_chunked_merge(cum, pos, k, rng):
    """Emulate a backend: random chunk boundaries, a dispatch window, random completion order;
    each chunk is reduced with the floor the driver had when the chunk was dispatched."""
    n = cum.shape[0]
    n_cuts = int(rng.integers(0, min(n - 1, 60) + 1))
    cuts = np.unique(rng.integers(1, n, n_cuts)) if n_cuts else np.array([], int)
    bounds = np.concatenate(([0], cuts, [n]))
    chunks = list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))
    acc = TailAccumulator(n, k)
    window = int(rng.integers(1, 8))
    pending, in_flight = list(chunks), []
    while pending or in_flight:
        while pending and len(in_flight) < window:
            s, e = pending.pop(0)
            in_flight.append(chunk_tail({"cum_return": cum[s:e]}, s, e, positions=pos, k=k, floor=acc.floor))
        acc.add(in_flight.pop(int(rng.integers(0, len(in_flight)))))
    return acc, len(chunks)


@pytest.mark.parametrize("seed", range(8))
def test_merge_equals_full_sort_for_random_chunkings(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(40, 30_000))
    levels = tuple(sorted(rng.choice([0.9, 0.95, 0.975, 0.99, 0.999], size=int(rng.integers(1, 4)), replace=False)))
    levels = tuple(lv for lv in levels if n * (1 - lv) >= 1) or (0.9,)
    ci = float(rng.choice([0.9, 0.95, 0.99]))
    # coarse grid of returns: many exactly tied losses, including at the VaR
    cum = np.round(rng.standard_t(3, (n, 3)) * 4.0, 1)
    pos = np.array([1e6, -3e5, 5e5])
    pnl = revalue(cum, pos)
    k = max(tail_size(n, lv, ci=ci) for lv in levels)
    acc, n_chunks = _random_chunked_merge(cum, pos, k, rng)
    assert acc.count == n
    merged = acc.largest_losses()
    assert merged.shape == (k,)
    assert np.array_equal(merged, np.sort(-pnl)[::-1][:k])
    assert var_es_from_tail(merged, n, levels, ci=ci) == var_es(pnl, levels, ci=ci)
    mean, std = acc.mean_std()
    assert mean == float(_exact(pnl) / n)  # correctly rounded mean
    assert std == pytest.approx(np.std(pnl, ddof=1), rel=1e-12)


def test_pruning_keeps_received_losses_near_the_tail():
    rng = np.random.default_rng(3)
    n, c = 200_000, 2_000
    cum = rng.standard_normal((n, 2)) * 3.0
    pos = np.array([1e6, 1e6])
    k = tail_size(n, 0.99, ci=0.95)
    acc = TailAccumulator(n, k)
    for s in range(0, n, c):
        acc.add(chunk_tail({"cum_return": cum[s:s + c]}, s, s + c, positions=pos, k=k, floor=acc.floor))
    # after the first k losses, a chunk sends back only losses >= the current k-th largest: a few
    # percent of its paths; the merged buffer never exceeds k
    assert acc.n_received < 0.1 * n
    assert acc.largest_losses().shape == (k,)
    assert var_es_from_tail(acc.largest_losses(), n, 0.99) == var_es(revalue(cum, pos), 0.99)


# ------------------------------------------------------------------------------------------------
# simulate_tail
# ------------------------------------------------------------------------------------------------
def test_simulate_tail_equals_var_es_of_the_simulated_paths(model3):
    n, h, seed = 12_345, 7, 2024
    full = simulate(model3, n, h, seed, keep="summary")
    pnl = revalue(full.cum_return, resolve_positions(POS3, model3.assets))
    ref = var_es(pnl, (0.975, 0.99), ci=0.95)
    results = [simulate_tail(model3, n, h, seed, positions=POS3, chunk_paths=cp) for cp in (n, 1000, 777, 64)]
    for res in results:
        assert res.risk == ref
        assert res.n == n and res.k == tail_size(n, 0.975, ci=0.95)
        assert res.mean_pnl == float(_exact(pnl) / n)
        assert res == results[0]
        assert np.array_equal(res.largest_losses, np.sort(-pnl)[::-1][:res.k])
    assert res[0.99].var == ref[0.99].var
    # tail_risk on paths in memory gives the same result as the streaming run
    assert tail_risk(full.cum_return, POS3, asset_names=model3.assets, horizon=h, seed=full.seed,
                     model_sha256=full.model_sha256) == results[0]
    d = json.loads(json.dumps(results[0].to_dict()))
    assert d["risk"]["levels"][1]["es"] == ref[0.99].es and d["n_paths"] == n


def test_simulate_tail_validates_inputs(model3):
    with pytest.raises(ValueError, match="needs at least 1000 scenarios"):
        simulate_tail(model3, 500, 5, 1, positions=POS3, levels=0.999)
    with pytest.raises(ValueError, match="valid assets"):
        simulate_tail(model3, 500, 5, 1, positions={"X": 1.0})
    with pytest.raises(ValueError, match="backend must be one of 'local', 'dask'"):
        simulate_tail(model3, 500, 5, 1, positions=POS3, backend="gpu")
    with pytest.raises(ValueError, match="level"):
        simulate_tail(model3, 500, 5, 1, positions=POS3, levels=(1.5,))
