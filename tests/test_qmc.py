"""Quasi-Monte Carlo normals (simulator/qmc.py): the kernel uses the scrambled Sobol points of each path's global
index, whatever the chunking, leaves every other draw alone, and integrates smooth payoffs far better than
pseudo-random draws."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special
from scipy.stats import qmc as scipy_qmc

from simulator import simulate
from simulator.backends import run_chunk
from simulator.engine import plan_run
from simulator.qmc import chunk_normals, qmc_config, with_qmc
from tests.test_importance import SIGMA, _gaussian_model


def test_results_do_not_depend_on_chunking_and_differ_from_pseudo_random(example_model):
    a = simulate(example_model, 1_000, 6, 3, keep="summary", qmc=True, chunk_paths=1_000)
    b = simulate(example_model, 1_000, 6, 3, keep="summary", qmc=True, chunk_paths=96)
    c = simulate(example_model, 1_000, 6, 3, keep="summary")
    np.testing.assert_array_equal(a.cum_return, b.cum_return)
    np.testing.assert_array_equal(a.max_drawdown, b.max_drawdown)
    assert not np.array_equal(a.cum_return, c.cum_return)


def test_the_kernel_uses_the_sobol_point_of_each_path_and_leaves_the_other_days_alone():
    """One Gaussian asset with constant volatility: a day's return / sigma is its copula normal. With the budget
    of one dimension only day 1 is quasi-random: Phi^-1 of the scrambled Sobol point of the path's global index
    (scipy's sequence, seeded from the run seed); days 2.. are the pseudo-random run's own values."""
    model = _gaussian_model()
    h = 5
    plan = plan_run(model, 300, h, 8, keep="paths")
    arrays = with_qmc(plan.arrays, plan.keys, h, max_dims=1)
    seed, hq = (int(v) for v in qmc_config(plan.keys, h, 1, 1))
    assert hq == 1
    sobol = special.ndtri(scipy_qmc.Sobol(1, scramble=True, seed=seed).random(512)[:300, 0])
    got = run_chunk(arrays, plan.keys, 100, 300, h, True)  # paths 100..299: the sequence fast-forwarded
    plain = run_chunk(plan.arrays, plan.keys, 100, 300, h, True)
    np.testing.assert_allclose(got["returns"][:, 0, 0] / SIGMA, sobol[100:], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(got["returns"][:, 1:], plain["returns"][:, 1:])
    assert chunk_normals(plan.arrays, 0, 10).shape == (0, 0, 1)  # off: empty


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_quasi_random_mean_is_far_more_accurate_than_monte_carlo(seed):
    """E[exp(X / 100)] for X ~ N(0, 4 sigma^2) (4 days of one Gaussian asset) from 4,096 paths: the randomised
    QMC error is below a tenth of plain Monte Carlo's standard error (a smooth 4-dimensional integrand)."""
    model = _gaussian_model()
    n, h = 4_096, 4
    res = simulate(model, n, h, seed, keep="summary", qmc=True)
    g = np.exp(res.cum_return[:, 0] / 100.0)
    exact = math.exp(0.5 * h * (SIGMA / 100.0) ** 2)
    mc_se = math.sqrt(math.expm1(h * (SIGMA / 100.0) ** 2)) * exact / math.sqrt(n)
    assert abs(g.mean() - exact) < 0.1 * mc_se


def test_archimedean_copulas_are_refused():
    from simulator import MarketModel
    from tests.conftest import make_model

    clayton = MarketModel.from_dict(make_model(2, copula={"type": "clayton", "theta": 2.0}))
    with pytest.raises(ValueError, match="Archimedean"):
        simulate(clayton, 100, 5, 1, keep="summary", qmc=True)


def test_qmc_dimension_budget_is_checked(example_model):
    plan = plan_run(example_model, 10, 5, 1)
    with pytest.raises(ValueError, match="covers no whole day"):
        qmc_config(plan.keys, 5, 2, max_dims=1)
    assert int(qmc_config(plan.keys, 5, 2, max_dims=7)[1]) == 3
    assert int(qmc_config(plan.keys, 5, 2)[1]) == 5
