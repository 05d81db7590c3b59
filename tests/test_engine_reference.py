"""The engine against references: arch's own simulation, closed forms, copula laws.

Two-sample KS tests use n = m = 20,000 paths and the critical value at alpha = 0.001,
1.949 * sqrt(2 / n) = 0.0195; all seeds are fixed, so the outcome is deterministic. arch's
simulation draws from its distribution's own generator (``forecast(random_state=...)`` only
feeds the bootstrap method), so the reference seeds that generator.
"""
import math

import numpy as np
import pytest
from scipy import integrate, stats

from simulator import MarketModel, simulate
from tests.conftest import make_model

N_KS = 20_000
KS_CRIT = 1.949 * math.sqrt(2.0 / N_KS)
HORIZON = 10

VOLS = {
    "garch": {"type": "garch", "omega": 0.03, "alpha": 0.09, "beta": 0.89},
    "gjr": {"type": "gjr", "omega": 0.02, "alpha": 0.03, "gamma": 0.12, "beta": 0.88},
    "egarch": {"type": "egarch", "omega": 0.01, "alpha": 0.15, "gamma": -0.08, "beta": 0.97},
    "aparch": {"type": "aparch", "omega": 0.03, "alpha": 0.07, "gamma": 0.4, "beta": 0.91, "delta": 1.4},
}
DISTS = {
    "normal": {"type": "normal"},
    "t": {"type": "t", "nu": 5.0},
    "skewt": {"type": "skewt", "nu": 6.0, "lambda": -0.2},
}


def _arch_reference(vol, dist, n, seed):
    """arch's forecast(method='simulation') paths and the start state it used."""
    from arch import arch_model

    rng = np.random.default_rng(123)
    y = rng.standard_t(6, size=800) * 1.1
    am_kw = {"garch": dict(vol="GARCH", p=1, o=0, q=1), "gjr": dict(vol="GARCH", p=1, o=1, q=1),
             "egarch": dict(vol="EGARCH", p=1, o=1, q=1), "aparch": dict(vol="APARCH", p=1, o=1, q=1)}[vol["type"]]
    dist_kw = {"normal": "normal", "t": "t", "skewt": "skewt"}[dist["type"]]
    am = arch_model(y, mean="Constant", dist=dist_kw, rescale=False, **am_kw)
    am.distribution = type(am.distribution)(seed=np.random.default_rng(seed))
    vp = [vol[k] for k in ("omega", "alpha", "gamma", "beta", "delta") if k in vol]
    dp = [dist[k] for k in ("nu", "lambda") if k in dist]
    params = np.array([0.04, *vp, *dp])
    res = am.fix(params)
    start = {"sigma2": [float(res.conditional_volatility[-1] ** 2)], "resid": [float(res.resid[-1])]}
    f = am.forecast(params=params, horizon=HORIZON, method="simulation", simulations=n, start=len(y) - 1,
                    reindex=False)
    r = f.simulations.values[-1]  # (n, horizon)
    v = f.simulations.residual_variances[-1]
    return r, v, start


@pytest.mark.parametrize("vname", list(VOLS))
@pytest.mark.parametrize("dname", list(DISTS))
def test_univariate_paths_match_arch_simulation(vname, dname):
    vol, dist = VOLS[vname], DISTS[dname]
    r_arch, v_arch, start = _arch_reference(vol, dist, N_KS, seed=7)
    model = MarketModel.from_dict({
        "assets": ["X"], "marginals": [{"mean": {"mu": 0.04}, "vol": vol, "dist": dist}],
        "copula": {"type": "independent"}, "start": start})
    res = simulate(model, N_KS, HORIZON, seed=11)
    r = res.returns[:, :, 0]
    checks = {
        "day-1 return": (r[:, 0], r_arch[:, 0]),
        "day-10 return": (r[:, -1], r_arch[:, -1]),
        "10-day cumulative return": (r.sum(axis=1), r_arch.sum(axis=1)),
        "day-10 variance": (res.sigma[:, -1, 0] ** 2, v_arch[:, -1]),
    }
    for name, (ours, ref) in checks.items():
        ks = stats.ks_2samp(ours, ref).statistic
        assert ks < KS_CRIT, f"{vname}/{dname} {name}: KS {ks:.4f} >= {KS_CRIT:.4f}"
    # day-1 variance is deterministic given the start state: exact agreement
    np.testing.assert_allclose(res.sigma[:, 0, 0] ** 2, v_arch[:, 0], rtol=1e-12)


@pytest.mark.parametrize("vname,dname", [("garch", "normal"), ("gjr", "t"), ("gjr", "skewt")])
def test_long_run_variance_matches_closed_form(vname, dname):
    d = make_model(1, vol=VOLS[vname], dist=DISTS[dname], copula={"type": "independent"})
    model = MarketModel.from_dict(d)
    spec = model.marginals[0]
    target = spec.unconditional_variance
    if vname == "gjr" and dname == "skewt":
        from arch.univariate import SkewStudent

        # E[z^2 1{z<0}] of the standardised skew-t from arch's implementation, not the model's own
        mass = SkewStudent().partial_moment(2, 0.0, [DISTS["skewt"]["nu"], DISTS["skewt"]["lambda"]])
        assert target == pytest.approx(0.02 / (1 - 0.03 - 0.12 * mass - 0.88), rel=1e-9)
    res = simulate(model, 4000, 1000, seed=3)
    late = res.returns[:, 200:, 0] - 0.03  # after the start-up transient
    per_path = (late**2).mean(axis=1)  # independent across paths
    se = per_path.std(ddof=1) / math.sqrt(per_path.size)
    assert abs(per_path.mean() - target) < 4.5 * se, (per_path.mean(), target, se)
    s2 = (res.sigma[:, 200:, 0] ** 2).mean(axis=1)
    assert abs(s2.mean() - target) < 4.5 * s2.std(ddof=1) / math.sqrt(s2.size)


def _tau_closed_form(cop):
    t = cop["type"]
    if t in ("gaussian", "t"):
        return 2 / math.pi * math.asin(cop["corr"][0][1])
    th = cop["theta"]
    if t == "clayton":
        return th / (th + 2)
    if t == "gumbel":
        return 1 - 1 / th
    debye1 = integrate.quad(lambda x: x / math.expm1(x), 0, th)[0] / th
    return 1 - 4 / th * (1 - debye1)


def _corr(n, rho):
    return [[1.0 if i == j else rho for j in range(n)] for i in range(n)]


COPULAS = [
    {"type": "gaussian", "corr": _corr(3, 0.6)},
    {"type": "t", "corr": _corr(3, -0.3 + 0.9), "nu": 4.0},
    {"type": "clayton", "theta": 2.5},
    {"type": "gumbel", "theta": 1.8},
    {"type": "frank", "theta": 6.0},
    {"type": "independent"},
]


@pytest.mark.parametrize("cop", COPULAS, ids=lambda c: c["type"])
def test_copula_kendall_tau_matches_closed_form(cop):
    n = 20_000
    model = MarketModel.from_dict(make_model(3, copula=cop, dist={"type": "skewt", "nu": 6.0, "lambda": 0.2}))
    r = simulate(model, n, 1, seed=5).returns[:, 0, :]
    expected = 0.0 if cop["type"] == "independent" else _tau_closed_form(cop)
    tol = 4.5 * math.sqrt(4.0 / (9.0 * n))  # 4.5 sd of tau-hat under independence (an upper bound)
    for i, j in [(0, 1), (0, 2), (1, 2)]:
        tau = stats.kendalltau(r[:, i], r[:, j]).statistic
        assert abs(tau - expected) < tol, f"{cop['type']} ({i},{j}): tau {tau:.4f} vs {expected:.4f}"


def test_t_copula_tail_dependence():
    """Joint lower-tail frequency at q matches the bivariate t closed form C(q, q); Gaussian has less."""
    rho, nu, q, n = 0.5, 4.0, 0.02, 200_000
    cop = {"type": "t", "corr": _corr(2, rho), "nu": nu}
    model = MarketModel.from_dict(make_model(2, copula=cop, dist={"type": "normal"}))
    r = simulate(model, n, 1, seed=9, keep="paths").returns[:, 0, :]
    u = stats.rankdata(r, axis=0) / (n + 1)
    joint = np.mean((u[:, 0] < q) & (u[:, 1] < q))
    x = stats.t.ppf(q, nu)
    exact = stats.multivariate_t(loc=[0, 0], shape=[[1, rho], [rho, 1]], df=nu).cdf([x, x])
    se = math.sqrt(exact * (1 - exact) / n)
    assert abs(joint - exact) < 4.5 * se + 2 * q / n, (joint, exact)
    lam_t = 2 * stats.t.cdf(-math.sqrt((nu + 1) * (1 - rho) / (1 + rho)), nu + 1)
    gauss = stats.multivariate_normal(mean=[0, 0], cov=[[1, rho], [rho, 1]]).cdf([stats.norm.ppf(q)] * 2)
    assert exact / q > gauss / q  # fatter joint tail than the Gaussian at the same rho
    assert lam_t > 0.2 and joint / q > gauss / q + 5 * se / q


def test_reproducible_across_chunks_threads_and_seed_types(example_model):
    import numba

    base = simulate(example_model, 300, 20, seed=2024)
    for chunk in (1, 7, 64, 299):
        other = simulate(example_model, 300, 20, seed=2024, chunk_paths=chunk)
        assert np.array_equal(base.returns, other.returns)
        assert np.array_equal(base.sigma, other.sigma)
    for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
        other = simulate(example_model, 300, 20, seed=2024, n_threads=threads)
        assert np.array_equal(base.returns, other.returns)
    ss = simulate(example_model, 300, 20, seed=np.random.SeedSequence(2024))
    assert np.array_equal(base.returns, ss.returns)
    assert not np.array_equal(base.returns, simulate(example_model, 300, 20, seed=2025).returns)
    # path i does not depend on how many paths run
    assert np.array_equal(base.returns[:100], simulate(example_model, 100, 20, seed=2024).returns)


def test_summary_mode_agrees_with_paths(example_model):
    full = simulate(example_model, 500, 60, seed=1)
    summ = simulate(example_model, 500, 60, seed=1, keep="summary", chunk_paths=77)
    assert summ.returns is None and summ.sigma is None
    np.testing.assert_allclose(summ.cum_return, full.returns.sum(axis=1), rtol=1e-12, atol=1e-12)
    logp = np.concatenate([np.zeros((500, 1, 2)), np.cumsum(full.returns, axis=1)], axis=1) / 100
    mdd = 1 - np.exp(logp - np.maximum.accumulate(logp, axis=1))
    np.testing.assert_allclose(summ.max_drawdown, mdd.max(axis=1), rtol=1e-10, atol=1e-12)
    df = full.to_frame()
    assert list(df.columns) == ["path", "day", "asset", "log_return_pct", "sigma_pct"]
    assert len(df) == 500 * 60 * 2
    row = df[(df.path == 3) & (df.day == 5) & (df.asset == "NDX")].iloc[0]
    assert row.log_return_pct == full.returns[3, 4, 1]


def test_bad_arguments(example_model):
    with pytest.raises(ValueError, match="n_paths must be >= 1"):
        simulate(example_model, 0, 10, seed=1)
    with pytest.raises(TypeError, match="horizon must be an integer"):
        simulate(example_model, 10, 2.5, seed=1)
    with pytest.raises(ValueError, match="keep must be one of 'paths', 'summary'"):
        simulate(example_model, 10, 10, seed=1, keep="all")
    with pytest.raises(TypeError, match="seed must be"):
        simulate(example_model, 10, 10, seed="abc")
    with pytest.raises(TypeError, match="MarketModel"):
        simulate({"assets": []}, 10, 10, seed=1)
