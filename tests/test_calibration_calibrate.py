"""calibrate end to end on the bundled real data, stressed windows, the simulate → refit round trip, and the CLI."""
from __future__ import annotations

import contextlib
import json
import math

import numpy as np
import pandas as pd
import pytest

from calibration.calibrate import calibrate, calibrate_detailed, fit_returns
from calibration.data import load_prices, log_returns
from simulator.model import MarketModel


@pytest.fixture(scope="module")
def us_markets():
    return calibrate_detailed("builtin:us-markets")


def _next_variance(vol: dict, sigma2: float, e: float) -> float:
    """One step of the arch variance recursion, written out independently of the code under test."""
    if vol["type"] == "garch":
        return vol["omega"] + vol["alpha"] * e * e + vol["beta"] * sigma2
    if vol["type"] == "gjr":
        return vol["omega"] + (vol["alpha"] + vol["gamma"] * (e < 0)) * e * e + vol["beta"] * sigma2
    z = e / math.sqrt(sigma2)
    return math.exp(vol["omega"] + vol["alpha"] * (abs(z) - math.sqrt(2 / math.pi)) + vol["gamma"] * z
                    + vol["beta"] * math.log(sigma2))


def test_us_markets_end_to_end(us_markets):
    res = us_markets
    model = res.model
    assert isinstance(model, MarketModel)
    assert model.assets == ("SP500", "NASDAQ", "WTI")
    prices = load_prices("builtin:us-markets")
    rets = log_returns(prices)
    pd.testing.assert_frame_equal(res.returns, rets)
    # residuals: date × asset, standardised
    assert res.residuals.shape == (5029, 3)
    assert res.residuals.index.equals(rets.index) and list(res.residuals.columns) == list(model.assets)
    np.testing.assert_allclose(res.residuals.std().to_numpy(), 1.0, atol=0.05)
    assert ((res.pit.to_numpy() > 0) & (res.pit.to_numpy() < 1)).all()
    # equity indices: leverage effect and fat tails are selected by BIC on this data
    for a in ("SP500", "NASDAQ"):
        m = res.marginals[a]
        assert m.vol in ("gjr", "egarch") and m.dist in ("t", "skewt")
        assert m.converged and m.stationary
    # S&P 500 and NASDAQ move together far more than either with oil
    tau = res.copula.tau
    assert tau[0, 1] > 0.6 and tau[0, 2] < 0.2
    assert res.copula.family == "t" and model.copula.type == "t"
    # start state: the last observation's variance and residual, consistent with the recursion
    for j, a in enumerate(model.assets):
        f = res.marginals[a]
        spec = model.marginals[j]
        assert model.start.sigma2[j] == f.sigma2.iloc[-1]
        assert model.start.resid[j] == pytest.approx(rets[a].iloc[-1] - spec.mean.mu, abs=1e-12)
        vol = spec.vol.to_dict()
        expected = _next_variance(vol, f.sigma2.iloc[-2], f.resid.iloc[-2])
        assert model.start.sigma2[j] == pytest.approx(expected, rel=1e-8)


def test_provenance_is_complete_and_strict_json(us_markets):
    model = us_markets.model
    prov = model.provenance
    json.dumps(prov, allow_nan=False)
    _, rep = load_prices("builtin:us-markets", report=True)
    assert prov["data"]["source"] == "builtin:us-markets"
    assert prov["data"]["input_sha256"] == rep.input_sha256
    assert prov["data"]["prices_sha256"] == rep.data_sha256
    assert prov["data"]["n_obs"] == 5029
    assert prov["data"]["window_start"] == "1999-01-05" and prov["data"]["window_end"] == "2018-12-28"
    assert prov["data"]["cleaning"]["forward_filled"]["WTI"][0] == "1999-12-31"
    assert prov["options"]["vol"] == "auto" and prov["options"]["copula"] == "auto"
    assert set(prov["versions"]) >= {"python", "numpy", "arch", "scipy"}
    for a in model.assets:
        m = prov["marginals"][a]
        assert {"params", "std_err", "loglik", "aic", "bic", "ljung_box", "persistence", "half_life_days",
                "converged", "candidates"} <= set(m)
        assert len(m["candidates"]) == 12  # 3 vols x (normal, t, skewt, evt)
    c = prov["copula"]
    assert {x["family"] for x in c["candidates"]} == {"gaussian", "t", "clayton", "gumbel", "frank", "independent"}
    assert len(c["tau_empirical"]) == 3 and len(c["tail_dependence_lower"]) == 3
    # the model file round-trips exactly, provenance included
    again = MarketModel.from_json(model.to_json())
    assert again == model and again.provenance == model.provenance


def test_stressed_window_calibration():
    full = calibrate("builtin:us-markets", assets=["SP500", "NASDAQ"], vol="gjr", dist="normal", copula="gaussian")
    res = calibrate_detailed("builtin:us-markets", assets=["SP500", "NASDAQ"], start="2008-09-01",
                             end="2009-03-31", vol="gjr", dist="normal", copula="gaussian")
    assert res.returns.index[0] == pd.Timestamp("2008-09-02")
    assert res.returns.index[-1] == pd.Timestamp("2009-03-31")
    assert len(res.returns) == 146
    prov = res.model.provenance["data"]
    assert prov["window"] == {"start": "2008-09-01", "end": "2009-03-31"}
    assert prov["n_obs"] == 146
    # the crisis window's conditional variance dwarfs the full-sample long-run variance
    stress_var = res.marginals["SP500"].sigma2.mean()
    assert stress_var > 5 * full.marginals[0].unconditional_variance
    # crisis correlation of the two equity indices is at least as high as over 20 years
    assert res.model.copula.corr_matrix(2)[0, 1] > 0.9


def test_parallel_fits_give_identical_models():
    kw = dict(assets=["SP500", "WTI"], end="2004-12-31", vol=["garch", "gjr"], dist=["normal", "t"], copula="t")
    a = calibrate("builtin:us-markets", n_jobs=1, **kw).to_dict()
    b = calibrate("builtin:us-markets", n_jobs=2, **kw).to_dict()
    for d in (a, b):
        d["provenance"].pop("created_utc")
    assert a == b


def test_empirical_pit_and_per_asset_choices():
    rets = log_returns(load_prices("builtin:us-markets")).loc["2010":"2013"]
    res = fit_returns(rets, vol={"SP500": "gjr", "WTI": "garch"}, dist="t", copula=["gaussian", "t"],
                      pit="empirical")
    assert len(res.marginals["NASDAQ"].candidates) == 3  # vol "auto" for the unnamed asset, dist fixed
    assert res.marginals["SP500"].vol == "gjr" and res.marginals["WTI"].vol == "garch"
    ranks = res.pit.rank().to_numpy() / (len(rets) + 1)
    np.testing.assert_allclose(res.pit.to_numpy(), ranks)
    assert res.model.provenance["options"]["pit"] == "empirical"
    assert res.model.provenance["data"]["source"] == "returns frame"


def test_calibration_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"window 2008-10-01 to 2008-11-28 holds 42 returns; at least 100"):
        calibrate("builtin:us-markets", start="2008-10-01", end="2008-11-30")
    with pytest.raises(ValueError, match="start 2009-01-01 is after end 2008-01-01"):
        calibrate("builtin:us-markets", start="2009-01-01", end="2008-01-01")
    with pytest.raises(ValueError, match="no returns between 2030-01-01 and the end; the data cover 1999-01-05"):
        calibrate("builtin:us-markets", start="2030-01-01")
    with pytest.raises(ValueError, match="'GOLD' not found"):
        calibrate("builtin:us-markets", assets=["GOLD"])
    with pytest.raises(ValueError, match="vol must be 'auto' or one of"):
        calibrate("builtin:us-markets", vol="arch")
    rng = np.random.default_rng(0)
    broken = pd.DataFrame({"X": np.r_[rng.normal(0, 1, 1500), rng.normal(0, 5, 1500)],
                           "Y": rng.normal(0, 1, 3000)})
    with pytest.warns(UserWarning), pytest.raises(ValueError, match=r"asset 'X': no covariance-stationary fit"):
        fit_returns(broken, vol="garch", dist="normal")


def test_calibrate_simulate_refit_round_trip():
    simulate = pytest.importorskip("simulator").__dict__.get("simulate")
    if simulate is None:
        pytest.skip("simulator.simulate is not available yet")
    true = MarketModel.from_dict({
        "assets": ["EQ", "FX"],
        "marginals": [
            {"mean": {"mu": 0.05}, "vol": {"type": "gjr", "omega": 0.02, "alpha": 0.03, "gamma": 0.10, "beta": 0.88},
             "dist": {"type": "t", "nu": 6.0}},
            {"mean": {"mu": 0.03}, "vol": {"type": "garch", "omega": 0.03, "alpha": 0.08, "beta": 0.90},
             "dist": {"type": "skewt", "nu": 7.0, "lambda": -0.1}},
        ],
        "copula": {"type": "t", "corr": [[1.0, 0.6], [0.6, 1.0]], "nu": 6.0},
    })
    sim = simulate(true, 1, 20000, 20240501)
    rets = pd.DataFrame(sim.returns[0], columns=list(true.assets),
                        index=pd.bdate_range("2000-01-03", periods=20000))
    res = fit_returns(rets, vol={"EQ": "gjr", "FX": "garch"}, dist={"EQ": "t", "FX": "skewt"}, copula="t")
    for j, a in enumerate(true.assets):
        spec = true.marginals[j].to_dict()
        truth = {"mu": spec["mean"]["mu"], **{k: v for k, v in spec["vol"].items() if k != "type"},
                 **{k: v for k, v in spec["dist"].items() if k != "type"}}
        f = res.marginals[a]
        for k, v in truth.items():
            assert abs(f.params[k] - v) < 3 * f.std_err[k], (a, k, f.params[k], v, f.std_err[k])
    rho = res.copula.params["corr"][0, 1]
    assert rho == pytest.approx(0.6, abs=0.03)
    assert 4.5 < res.copula.params["nu"] < 8.0
    assert res.copula.family == "t"


# ---------------------------------------------------------------------- CLI
@pytest.fixture()
def cli():
    import simulator.cli as cli_mod

    return cli_mod.main


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory):
    p = load_prices("builtin:us-markets", assets=["SP500", "WTI"]).loc[:"2003-12-31"]
    path = tmp_path_factory.mktemp("data") / "prices.csv"
    p.reset_index().assign(date=lambda f: f["date"].dt.strftime("%Y-%m-%d")).to_csv(path, index=False)
    return path


def test_cli_writes_model_and_summary(cli, small_csv, tmp_path, capsys):
    out = tmp_path / "model.json"
    resid = tmp_path / "resid.parquet"
    rc = cli(["calibrate", str(small_csv), "--out", str(out), "--vol", "garch", "--dist", "t", "--copula", "t",
              "--residuals", str(resid)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "garch/t" in text and "copula: t" in text and "AIC by family" in text
    model = MarketModel.from_json(out)
    assert model.assets == ("SP500", "WTI")
    assert model.provenance["data"]["source"] == str(small_csv)
    frame = pd.read_parquet(resid)
    assert list(frame.columns) == ["date", "SP500", "WTI"] and len(frame) == len(load_prices(small_csv)) - 1


def _bad_csv(tmp_path, small_csv):
    text = small_csv.read_text().splitlines()
    row = text[100].split(",")
    row[2] = "oops"
    text[100] = ",".join(row)
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(text) + "\n")
    return path, row[0]


@pytest.mark.parametrize("case", ["missing", "bad-value", "asset", "window", "choice", "out-dir", "out-ext"])
def test_cli_bad_input_exits_2_and_keeps_existing_output(cli, small_csv, tmp_path, capsys, case):
    from simulator.builtin import load_builtin_model

    out = tmp_path / "model.json"
    load_builtin_model("example").to_json(out)  # an earlier model: calibrate may replace it, never another file
    previous = out.read_bytes()
    args = ["calibrate", str(small_csv), "--out", str(out)]
    expect = None
    if case == "missing":
        args[1] = str(tmp_path / "none.csv")
        expect = "does not exist"
    elif case == "bad-value":
        path, date = _bad_csv(tmp_path, small_csv)
        args[1] = str(path)
        expect = f"asset 'WTI': non-numeric price 'oops' on {date}"
    elif case == "asset":
        args += ["--assets", "SP500,GOLD"]
        expect = "'GOLD' not found"
    elif case == "window":
        args += ["--start", "2010-01-01"]
        expect = "no returns between 2010-01-01"
    elif case == "choice":
        args += ["--vol", "figarch"]
        expect = "invalid choice: 'figarch'"
    elif case == "out-dir":
        args[3] = str(tmp_path)
        expect = "is a directory"
    elif case == "out-ext":
        args[3] = str(tmp_path / "model.txt")
        expect = "must end in .json"
    with pytest.raises(SystemExit) if case == "choice" else contextlib.nullcontext() as exc:
        rc = cli(args)
    if case == "choice":
        rc = exc.value.code
    assert rc == 2
    err = capsys.readouterr().err
    assert "stress-sim: error:" in err and expect in err
    assert "Traceback" not in err
    assert out.read_bytes() == previous
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind
