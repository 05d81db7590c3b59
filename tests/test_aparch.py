"""APARCH(1,1,1), added as one registry entry and one kernel branch, end to end.

Its paths are tested against arch's own ``forecast(method="simulation")`` of ``APARCH(p=1, o=1, q=1)`` with
the other families in tests/test_engine_reference.py (two-sample KS, 20,000 paths, normal / t / skew-t).
Here: the long-run level of ``sigma^delta`` against the closed form of Ding, Granger and Engle (1993) for
normal innovations; calibration through arch (the estimates equal arch's own fit); scenarios with every
shock type on a calibrated APARCH model; the model file's constraints.
"""
import json
import math

import numpy as np
import pytest
from scipy import special

from simulator import MarketModel, simulate

VOL = {"type": "aparch", "omega": 0.03, "alpha": 0.07, "gamma": 0.4, "beta": 0.91, "delta": 1.4}


def test_aparch_long_run_power_variance_matches_closed_form():
    """Normal z: E(|z| - g z)^d = E|z|^d ((1 - g)^d + (1 + g)^d) / 2, E|z|^d = 2^(d/2) Gamma((d+1)/2) / sqrt(pi);
    E[sigma^d] = omega / (1 - alpha kappa - beta)."""
    w, a, g, b, d = (VOL[k] for k in ("omega", "alpha", "gamma", "beta", "delta"))
    kappa = 2 ** (d / 2) * special.gamma((d + 1) / 2) / math.sqrt(math.pi) * ((1 - g) ** d + (1 + g) ** d) / 2
    target = w / (1 - a * kappa - b)
    model = MarketModel.from_dict({"assets": ["X"], "marginals": [{"mean": {"mu": 0.0}, "vol": VOL,
                                                                   "dist": {"type": "normal"}}],
                                   "copula": {"type": "independent"}})
    m = model.marginals[0]
    assert m.persistence == pytest.approx(a * kappa + b, rel=1e-9)
    assert m.unconditional_variance == pytest.approx(target ** (2 / d), rel=1e-9)
    res = simulate(model, 4000, 1200, seed=3, keep="paths")
    per_path = (res.sigma[:, 200:, 0] ** d).mean(axis=1)  # independent across paths
    se = per_path.std(ddof=1) / math.sqrt(per_path.size)
    assert abs(per_path.mean() - target) < 4.5 * se, (per_path.mean(), target, se)


def test_aparch_model_file_constraints(example_dict):
    def with_vol(**vol):
        d = dict(example_dict)
        d["marginals"] = [dict(example_dict["marginals"][0], vol={**VOL, **vol})] + example_dict["marginals"][1:]
        return d

    m = MarketModel.from_dict(with_vol())
    assert m.marginals[0].vol.delta == 1.4 and m.to_dict()["marginals"][0]["vol"] == VOL
    assert MarketModel.from_json(m.to_json()) == m
    with pytest.raises(ValueError, match=r"vol.gamma must lie in \(-1, 1\)"):
        MarketModel.from_dict(with_vol(gamma=1.2))
    with pytest.raises(ValueError, match=r"vol.delta must lie in \[0.05, 4\]"):
        MarketModel.from_dict(with_vol(delta=5.0))
    with pytest.raises(ValueError, match="not covariance-stationary"):
        MarketModel.from_dict(with_vol(beta=0.95))
    no_delta = with_vol()
    del no_delta["marginals"][0]["vol"]["delta"]
    with pytest.raises(ValueError, match="missing key.*'delta'"):
        MarketModel.from_dict(no_delta)


@pytest.fixture(scope="module")
def sp500():
    from calibration.data import load_prices, log_returns

    return log_returns(load_prices("builtin:us-markets"))["SP500"]


def test_aparch_calibration_is_arch_fit(sp500):
    from arch import arch_model

    from calibration import fit_marginal

    fit = fit_marginal(sp500, vol="aparch", dist="t")
    ref = arch_model(sp500.to_numpy(), mean="Constant", vol="APARCH", p=1, o=1, q=1, dist="t",
                     rescale=False).fit(disp="off")
    names = {"mu": "mu", "omega": "omega", "alpha[1]": "alpha", "gamma[1]": "gamma", "beta[1]": "beta",
             "delta": "delta", "nu": "nu"}
    for k, v in ref.params.items():
        assert fit.params[names[k]] == pytest.approx(v, rel=1e-6, abs=1e-8), k
    assert fit.loglik == pytest.approx(ref.loglikelihood, abs=1e-6)
    assert fit.vol == "aparch" and fit.stationary and 0 < fit.persistence < 1
    spec = fit.spec()
    assert list(spec["vol"]) == ["type", "omega", "alpha", "gamma", "beta", "delta"]
    # "auto" keeps the three families it always compared; APARCH is fitted when named
    assert "aparch" not in {c["vol"] for c in fit_marginal(sp500.iloc[-1500:], dist="normal").candidates}


def test_aparch_end_to_end_calibrate_scenarios_verify(tmp_path, capsys):
    """stress-sim calibrate --vol aparch, then library scenarios with every shock type run on it and verify."""
    import simulator.cli as cli

    model_file = tmp_path / "aparch.json"
    assert cli.main(["calibrate", "builtin:us-markets", "--vol", "aparch", "--dist", "t", "--copula", "t",
                     "--start", "2008-01-01", "--out", str(model_file)]) == 0
    model = MarketModel.from_json(model_file)
    assert {m.vol.type for m in model.marginals} == {"aparch"}
    assert json.loads(model_file.read_text())["marginals"][0]["vol"]["delta"] > 0
    out = tmp_path / "runs"
    # regime switch (the stress regime scales omega by k^delta), anchored path, vol spike, correlation
    # break, jumps, Poisson jumps, and a historical replay in both scalings (the replay filter)
    assert cli.main(["run", "rates-shock-2022", "covid-2020", "volmageddon-2018", "--model", str(model_file),
                     "--paths", "200", "--out", str(out)]) == 0
    assert cli.main(["run", "gfc-2008", "--model", str(model_file), "--paths", "200", "--out", str(out),
                     "--replay-scaling", "filtered"]) == 0
    capsys.readouterr()
    assert cli.main(["verify", str(out), "--all"]) == 0
    assert "4 run(s) intact and reproduced" in capsys.readouterr().out
    import pyarrow.parquet as pq

    for name in ("rates-shock-2022", "covid-2020", "volmageddon-2018", "gfc-2008"):
        summary = pq.read_table(out / name / "summary.parquet").to_pandas()
        assert len(summary) == 200 * 3 and np.isfinite(summary["cum_log_return_pct"]).all(), name
