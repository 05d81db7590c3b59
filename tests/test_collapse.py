"""The model-collapse loop: synthetic-only refits on small samples thin the tails; real data mixed in keeps the
model where it started; bookkeeping, errors and the ``stress-sim validate --generations`` path."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from calibration.collapse import CollapseReport, collapse_check, collapse_check_returns
from simulator.engine import simulate
from simulator.model import MarketModel

ONE = {
    "assets": ["A"],
    "marginals": [{"mean": {"mu": 0.03}, "vol": {"type": "garch", "omega": 0.05, "alpha": 0.10, "beta": 0.85},
                   "dist": {"type": "t", "nu": 5.0}}],
    "copula": {"type": "independent"},
}
TWO = {
    "assets": ["A", "B"],
    "marginals": [{"mean": {"mu": 0.03}, "vol": {"type": "garch", "omega": 0.05, "alpha": 0.10, "beta": 0.85},
                   "dist": {"type": "t", "nu": 5.0}}] * 2,
    "copula": {"type": "t", "corr": [[1.0, 0.6], [0.6, 1.0]], "nu": 4.0},
}


def _returns(model_dict: dict, n: int, seed: int) -> pd.DataFrame:
    m = MarketModel.from_dict(model_dict)
    x = simulate(m, 1, n, seed).returns[0]
    return pd.DataFrame(x, index=pd.bdate_range("2010-01-04", periods=n, name="date"), columns=list(m.assets))


def test_small_sample_synthetic_refits_thin_the_tails_and_real_data_keeps_them():
    # 500 days of a GARCH(1,1)-t(5) series; generation 0 is fitted to them, then 8 generations x 8 chains.
    # Synthetic-only refits inherit the small-sample upward bias of the t's nu at every step, so the fitted
    # innovations and the model's returns lose their tails; with half the sample real, the fits stay anchored.
    rets = _returns(ONE, 500, 2025)
    rep = collapse_check_returns(rets, generations=8, real_fraction=[0.0, 0.5], n_chains=8, n_eval=60,
                                 tolerance=0.25, seed=1, vol="garch", dist="t", copula="independent")
    assert isinstance(rep, CollapseReport)
    synth, mixed = rep.run(0.0), rep.run(0.5)
    # tail shrinkage without real data: nu up, Hill tail index of the returns up, kurtosis down (chain medians)
    assert synth.drift_median["nu"] > 0.25
    assert synth.drift_median["tail_index"] > 0.05
    assert synth.drift_median["kurtosis"] < -0.1
    assert synth.drift_median_abs["tail_index"] > 0.15
    assert not synth.stable
    # half real data: typical drifts stay small, every chain completes, the run is stable
    assert mixed.stable and not mixed.failures
    assert mixed.drift_median_abs["tail_index"] < 0.5 * synth.drift_median_abs["tail_index"]
    assert abs(mixed.drift_median["nu"]) < 0.5 * synth.drift_median["nu"]
    assert rep.stable_fraction == 0.5
    # bookkeeping
    for run in (synth, mixed):
        assert len(run.generations) == 9 and len(run.chains) == 8
        g0 = run.generations[0]
        assert all(v == 0.0 for v in g0["drift"].values())
        assert g0["params"]["A"]["nu"] == pytest.approx(run.chains[0][0]["params"]["A"]["nu"])
        assert set(g0["model_stats"]) == {"tail_index", "kurtosis", "variance", "nu"}
        assert all(rec["n_real"] == round(run.real_fraction * 500) for ch in run.chains for rec in ch[1:])
    assert rep.headline_keys == ("tail_index", "variance")
    text = rep.summary()
    assert "real share" in text and "0%" in text and "50%" in text
    json.dumps(rep.to_dict(), allow_nan=False)


def test_all_real_training_data_reproduces_generation_zero_and_tracks_dependence():
    rets = _returns(TWO, 300, 77)
    rep = collapse_check_returns(rets, generations=2, real_fraction=1.0, n_chains=1, n_eval=40, seed=3,
                                 vol="garch", dist="t", copula="t")
    run = rep.run(1.0)
    # the training sample is the real window itself every time: the refit is generation 0 again, exactly
    assert run.stable and run.retries == 0
    for g in run.generations:
        assert all(v == 0.0 for v in g["drift"].values()), g["drift"]
    assert set(run.generations[0]["model_stats"]) == {"tail_index", "kurtosis", "variance", "tail_dep_lower", "tau",
                                                      "nu", "copula_nu"}
    assert rep.headline_keys == ("tail_index", "variance", "tail_dep_lower")
    assert rep.families == {"vol": {"A": "garch", "B": "garch"}, "dist": {"A": "t", "B": "t"}, "copula": "t"}
    lam = run.generations[0]["model_stats"]["tail_dep_lower"]
    assert 0.2 < lam < 0.8  # t copula rho 0.6, nu about 4: strong lower tail dependence at 5 %
    assert run.generations[0]["data_stats"]["tau"] == pytest.approx(
        float(pd.DataFrame(rets).corr(method="kendall").iloc[0, 1]), abs=1e-12)


def test_collapse_input_errors():
    rets = _returns(ONE, 200, 5)
    with pytest.raises(ValueError, match="real_fraction"):
        collapse_check_returns(rets, real_fraction=1.5)
    with pytest.raises(TypeError, match="real_fraction"):
        collapse_check_returns(rets, real_fraction="half")
    with pytest.raises(ValueError, match="n_obs"):
        collapse_check_returns(rets, n_obs=50)
    with pytest.raises(ValueError, match="n_obs"):
        collapse_check_returns(rets, n_obs=500)
    with pytest.raises(ValueError, match="generations"):
        collapse_check_returns(rets, generations=0)
    with pytest.raises(TypeError, match="DataFrame"):
        collapse_check_returns(rets.to_numpy())
    with pytest.raises(ValueError, match="'B'"):
        collapse_check_returns(rets, model=MarketModel.from_dict(TWO))
    bad = rets.copy()
    bad.iloc[3, 0] = np.inf
    with pytest.raises(ValueError, match="'A'"):
        collapse_check_returns(bad)


def _cli(monkeypatch, *argv: str) -> int:
    import simulator.cli as cli

    return cli.main(list(argv))


def test_collapse_from_prices_and_in_the_validate_cli(tmp_path, monkeypatch):
    model = MarketModel.from_dict(ONE)
    rets = _returns(ONE, 400, 11)
    level = np.vstack([np.zeros(1), np.cumsum(rets.to_numpy(), axis=0)])
    idx = rets.index.insert(0, rets.index[0] - pd.offsets.BDay(1))
    prices = pd.DataFrame(100.0 * np.exp(level / 100.0), index=idx, columns=["A"])
    rep = collapse_check(prices, generations=1, real_fraction=[0.0, 1.0], n_eval=40, seed=2, model=model)
    assert [r.real_fraction for r in rep.runs] == [0.0, 1.0]
    assert rep.runs[0].generations[0]["params"]["A"]["nu"] == 5.0  # generation 0 is the given model
    assert rep.data["prices_sha256"]

    prices.index.name = "date"
    csv = tmp_path / "prices.csv"
    prices.reset_index().to_csv(csv, index=False, date_format="%Y-%m-%d")
    mpath = tmp_path / "model.json"
    model.to_json(mpath)
    out = tmp_path / "out"
    rc = _cli(monkeypatch, "validate", str(mpath), "--data", str(csv), "--paths", "100", "--seed", "1",
              "--generations", "1", "--real-fraction", "0,1", "--out", str(out))
    assert rc in (0, 1)
    doc = json.loads((out / "validation.json").read_text())
    assert [r["real_fraction"] for r in doc["collapse"]["runs"]] == [0.0, 1.0]
    man = json.loads((out / "manifest.json").read_text())
    assert man["collapse"]["generations"] == 1 and set(man["collapse"]["runs"]) == {"0", "1"}
    assert "--generations" in man["command"]
    html = (out / "report.html").read_text()
    assert "Model-collapse check" in html and html.count("data:image/png;base64,") == 4
    # collapse options without --generations are a usage error
    assert _cli(monkeypatch, "validate", str(mpath), "--data", str(csv), "--real-fraction", "0.5",
                "--out", str(tmp_path / "x")) == 2
    assert not (tmp_path / "x").exists()
