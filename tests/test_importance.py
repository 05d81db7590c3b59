"""Importance sampling for tail risk (simulator/importance.py and the kernel's tilt): the weighted estimators
against closed forms, the kernel's likelihood ratio against the draws it weights, and the default run untouched."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import stats

from simulator import MarketModel
from simulator.backends import run_chunk
from simulator.engine import plan_run
from simulator.importance import (
    TiltDesign,
    design_tilt,
    simulate_importance,
    tilt_from_point,
    weighted_var_es,
)
from simulator.risk import var_es
from tests.conftest import make_model

H = 10
SIGMA = 1.0  # percent per day


def _gaussian_model() -> MarketModel:
    """One asset, constant 1 % daily volatility, normal innovations: the horizon log return is exactly
    N(0, H) (percent^2), so the loss quantiles of a long position have a closed form."""
    d = make_model(1, vol={"type": "garch", "omega": SIGMA ** 2, "alpha": 0.0, "beta": 0.0}, dist={"type": "normal"},
                   copula={"type": "gaussian", "corr": [[1.0]]}, mu=0.0)
    d["start"] = {"sigma2": [SIGMA ** 2], "resid": [0.0]}
    return MarketModel.from_dict(d)


def _tilted(plan, theta):
    return plan.arrays._replace(shocks=plan.arrays.shocks._replace(tilt=np.ascontiguousarray(theta, float)))


def test_unit_weights_give_plain_monte_carlo_var_es():
    """With every weight 1 the weighted estimators are risk.var_es's order statistic and ES."""
    rng = np.random.default_rng(3)
    for n in (1_000, 10_007, 33_333):
        pnl = rng.standard_t(4, n) * 1000.0
        plain = var_es(pnl, (0.99, 0.999))
        weighted = weighted_var_es(-pnl, None, (0.99, 0.999))
        for p, w in zip(plain, weighted):
            assert w.var == p.var
            assert w.es == pytest.approx(p.es, rel=1e-12)
            assert w.es_se == pytest.approx(p.es_se, rel=1e-9)


def test_weighted_quantile_and_es_of_shifted_normal_draws_match_the_closed_form():
    """Draws of N(theta, 1) weighted by the likelihood ratio estimate N(0, 1)'s tail: VaR and ES at 99.9 % and
    99.97 % within 4 of their stated standard errors of scipy's values, which are much smaller than plain
    Monte Carlo's with the same draws would be."""
    theta = 3.2
    n = 200_000
    x = np.random.default_rng(11).standard_normal(n) + theta
    logw = -theta * x + 0.5 * theta * theta
    for r in weighted_var_es(x, logw, (0.99, 0.999, 0.9997)):
        q = stats.norm.ppf(r.level)
        es = stats.norm.pdf(q) / (1.0 - r.level)
        assert abs(r.var - q) < 4.0 * r.var_se, (r.level, r.var, q, r.var_se)
        assert abs(r.es - es) < 4.0 * r.es_se, (r.level, r.es, es, r.es_se)
        # plain Monte Carlo's ES standard error for the same n: sd((X - q)^+) / (sqrt(n) (1 - a)), closed form
        p = 1.0 - r.level
        m1 = stats.norm.pdf(q) - q * p
        m2 = (1.0 + q * q) * p - q * stats.norm.pdf(q)
        plain_se = math.sqrt(m2 - m1 * m1) / math.sqrt(n) / p
        assert r.es_se < plain_se / 3.0


def test_kernel_log_weight_is_the_likelihood_ratio_of_the_shifted_normals():
    """One Gaussian asset with constant volatility: the day's innovation is the shifted normal itself, so the
    kernel's log weight must equal sum_t (-theta_t z_t + theta_t^2 / 2) recomputed from the returns."""
    model = _gaussian_model()
    plan = plan_run(model, 257, H, 5, keep="paths")
    theta = np.linspace(-0.8, -0.2, H)[:, None]
    out = run_chunk(_tilted(plan, theta), plan.keys, 0, 257, H, True)
    z = out["returns"][:, :, 0] / SIGMA
    expect = (-theta[None, :, 0] * z + 0.5 * theta[None, :, 0] ** 2).sum(axis=1)
    np.testing.assert_allclose(out["log_weight"], expect, rtol=0, atol=1e-9)
    # the shift moved the draws: their mean is the shift, within sampling error
    assert abs(z.mean() - theta.mean()) < 4.0 / math.sqrt(z.size)


def test_zero_tilt_and_default_runs_are_bit_identical_and_the_default_has_no_weights(example_model):
    plan = plan_run(example_model, 100, 7, 9, keep="paths")
    plain = run_chunk(plan.arrays, plan.keys, 0, 100, 7, True)
    assert "log_weight" not in plain
    zero = run_chunk(_tilted(plan, np.zeros((7, 2))), plan.keys, 0, 100, 7, True)
    for k in plain:
        np.testing.assert_array_equal(plain[k], zero[k])
    np.testing.assert_array_equal(zero["log_weight"], np.zeros(100))


def test_importance_run_recovers_the_exact_gaussian_tail_and_weights_average_to_one():
    """Closed form: loss = -P (exp(X / 100) - 1) with X ~ N(0, H); VaR_a = -P expm1(sqrt(H) Phi^-1(1 - a) / 100).
    The importance run (design shift found by the reverse stress test) agrees within 4 standard errors at
    every level; its weights average to 1 within 4 standard errors."""
    model = _gaussian_model()
    pos = 1_000_000.0
    res = simulate_importance(model, 60_000, H, 21, positions=[pos], pilot_paths=5_000)
    assert res.design.theta.shape == (H, 1) and np.all(res.design.theta < 0)  # toward the loss of a long position
    sd = math.sqrt(H) * SIGMA
    for r in res.risk:
        var = -pos * math.expm1(sd * stats.norm.ppf(1 - r.level) / 100.0)
        x = stats.norm(0, sd)
        # ES by quadrature of the loss beyond the VaR quantile of X
        xs = np.linspace(x.ppf(1e-12), x.ppf(1 - r.level), 20_001)
        es = float(np.trapezoid(-pos * np.expm1(xs / 100.0) * x.pdf(xs), xs)) / (1 - r.level)
        assert abs(r.var - var) < 4.0 * r.var_se, (r.level, r.var, var, r.var_se)
        assert abs(r.es - es) < 4.0 * r.es_se, (r.level, r.es, es, r.es_se)
    assert res.ess < res.n  # the weights do vary


def test_weights_average_to_one_within_their_standard_error(example_model):
    """E[w] = 1 under the shifted law (t copula with its chi-square mixing, GARCH marginals). With a shift of
    Mahalanobis length 1 the weights are lognormal with log-variance 1, so their sample mean is well behaved
    (a length of 3, the tail design, has weight variance e^9 - 1: a sample mean dominated by rare paths, and a
    sample standard error that understates it)."""
    theta = np.zeros((6, 2))
    theta[:, 0] = -1.0 / math.sqrt(6.0)
    res = simulate_importance(example_model, 40_000, 6, 17, positions=[1.0, 1.0], tilt=theta, levels=(0.99,))
    assert res.weight_mean_se == pytest.approx(math.sqrt(math.e - 1.0) / math.sqrt(40_000), rel=0.2)
    assert abs(res.weight_mean - 1.0) < 4.0 * res.weight_mean_se
    lw = res.log_weights  # log w ~ N(-1/2, 1) exactly under the shifted law
    assert abs(lw.mean() + 0.5) < 4.0 / math.sqrt(lw.size)
    assert abs(lw.var() - 1.0) < 4.0 * math.sqrt(2.0 / lw.size)


def test_importance_results_do_not_depend_on_chunking(example_model):
    design = TiltDesign(theta=np.full((5, 2), -0.3), point=None, threshold=None, distance=0.0)
    a = simulate_importance(example_model, 3_000, 5, 4, positions=[1.0, 1.0], tilt=design, chunk_paths=3_000)
    b = simulate_importance(example_model, 3_000, 5, 4, positions=[1.0, 1.0], tilt=design, chunk_paths=700)
    np.testing.assert_array_equal(a.losses, b.losses)
    np.testing.assert_array_equal(a.log_weights, b.log_weights)
    assert a.risk == b.risk


def test_design_shift_points_toward_the_loss_and_has_the_asked_length(example_model):
    d = design_tilt(example_model, 5, [1000.0, 0.0], seed=1, pilot_paths=4_000, design_level=0.999)
    assert d.theta.shape == (5, 2)
    assert math.sqrt(float(np.sum(d.theta ** 2))) == pytest.approx(stats.norm.ppf(0.999))
    assert d.theta[:, 0].max() < 0  # a long position in the first asset loses when it falls
    plan = plan_run(example_model, 10, 5, 1)
    np.testing.assert_allclose(tilt_from_point(plan.arrays, 5, d.point, d.distance), d.theta)


def test_archimedean_copulas_and_misplaced_shifts_are_refused():
    clayton = MarketModel.from_dict(make_model(2, copula={"type": "clayton", "theta": 2.0}))
    with pytest.raises(ValueError, match="clayton"):
        simulate_importance(clayton, 1_000, 5, 1, positions=[1.0, 1.0], tilt=np.full((5, 2), -0.1))
    model = _gaussian_model()
    with pytest.raises(ValueError, match="shape"):
        simulate_importance(model, 1_000, 5, 1, positions=[1.0], tilt=np.zeros((4, 1)))


def test_plan_is_not_changed_by_the_tilt(example_model):
    """The shift travels in a copy of the plan's arrays; the default arrays keep their empty tilt."""
    plan = plan_run(example_model, 10, 5, 1)
    tilted = dataclasses.replace(plan, arrays=_tilted(plan, np.ones((5, 2))))
    assert plan.arrays.shocks.tilt.shape == (0, 2)
    assert tilted.arrays.shocks.tilt.shape == (5, 2)


def test_cli_simulate_keep_tail_importance_tilt(tmp_path, capsys):
    import json

    from simulator import cli

    out = tmp_path / "is"
    rc = cli.main(["simulate", "builtin:us-markets", "--paths", "20000", "--horizon", "5", "--seed", "2", "--out",
                   str(out), "--keep", "tail", "--positions", "SP500=6e5,NASDAQ=2.5e5,WTI=1.5e5", "--importance", "tilt"])
    assert rc == 0
    doc = json.loads((out / "tail.json").read_text())
    assert [r["level"] for r in doc["risk"]] == [0.99, 0.999, 0.9997]
    assert all(r["es"] >= r["var"] > 0 and r["es_se"] > 0 for r in doc["risk"])
    assert json.loads((out / "manifest.json").read_text())["importance"]["method"] == "tilt"
    assert "importance-sampled" in capsys.readouterr().out
    # stress-sim verify re-derives tail.json by importance sampling again: the same bits
    assert cli.main(["verify", str(out)]) == 0
    assert "re-derived by importance sampling" in capsys.readouterr().out
    assert cli.main(["simulate", "builtin:us-markets", "--paths", "100", "--horizon", "5", "--seed", "2", "--out",
                     str(tmp_path / "x"), "--importance", "tilt"]) == 2
    assert not (tmp_path / "x").exists()
    assert "--keep tail" in capsys.readouterr().err


def test_cuda_kernel_source_gives_the_same_weights_and_qmc_paths():
    """The GPU driver (run by numba's CUDA simulator, as tests/test_cuda_backend.py does) carries the shift, the
    log likelihood ratio and the quasi-Monte Carlo normals like the CPU (1e-9 relative: the CUDA tolerance)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = """
import json, sys
import numpy as np
from simulator import simulate
from simulator.builtin import load_model
from simulator.importance import TiltDesign, simulate_importance
m = load_model("builtin:us-markets")
d = TiltDesign(theta=np.full((3, 3), -0.2), point=None, threshold=None, distance=0.0)
out = {}
for backend in ("local", "cuda"):
    r = simulate_importance(m, 40, 3, 5, positions=[1.0, 1.0, 1.0], tilt=d, levels=(0.9,), backend=backend)
    q = simulate(m, 40, 3, 5, keep="summary", qmc=True, backend=backend)
    out[backend] = [r.log_weights.tolist(), r.losses.tolist(), q.cum_return.ravel().tolist()]
json.dump(out, sys.stdout)
"""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", PYTHONWARNINGS="ignore")
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    out = json.loads(proc.stdout)
    for cpu, gpu in zip(out["local"], out["cuda"]):
        np.testing.assert_allclose(gpu, cpu, rtol=1e-9, atol=1e-12)
    assert np.ptp(out["local"][0]) > 0  # the weights vary
