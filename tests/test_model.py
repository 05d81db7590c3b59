"""MarketModel: exact JSON round trip and clear errors for invalid models."""
import json
import math

import pytest

from simulator import MarketModel


def test_json_round_trip_is_exact(example_dict):
    example_dict["provenance"] = {"source": "unit test", "nested": {"x": [1, 2.5]}}
    example_dict["marginals"][0]["mean"]["mu"] = 0.1 + 0.2  # a float with a long repr
    model = MarketModel.from_dict(example_dict)
    text = model.to_json()
    again = MarketModel.from_json(text)
    assert again == model
    assert again.to_json() == text
    assert json.loads(text) == example_dict
    assert again.marginals[0].mean.mu == 0.1 + 0.2
    assert again.provenance == example_dict["provenance"]


def test_from_json_path_and_to_json_file(tmp_path, example_model):
    path = tmp_path / "model.json"
    example_model.to_json(path)
    assert MarketModel.from_json(str(path)) == example_model
    assert MarketModel.from_json(path) == example_model


def test_start_is_optional_and_defaults_to_unconditional(example_dict):
    del example_dict["start"]
    model = MarketModel.from_dict(example_dict)
    assert "start" not in model.to_dict()
    st = model.start_state()
    # GJR with t innovations: persistence alpha + gamma/2 + beta
    assert st.sigma2[0] == pytest.approx(0.02 / (1 - 0.03 - 0.05 - 0.88))
    assert st.sigma2[1] == pytest.approx(0.03 / (1 - 0.08 - 0.90))
    assert st.resid == (0.0, 0.0)


def test_gjr_persistence_uses_skewt_negative_mass(example_dict):
    m = example_dict["marginals"][0]
    m["dist"] = {"type": "skewt", "nu": 7.0, "lambda": -0.3}
    model = MarketModel.from_dict(example_dict)
    from scipy import integrate

    from simulator.tables import marginal_pdf

    spec = model.marginals[0]
    mass = integrate.quad(lambda z: z * z * marginal_pdf(z, spec.dist), -math.inf, 0)[0]
    assert mass > 0.5  # negative skew puts more variance below zero
    assert spec.persistence == pytest.approx(0.03 + 0.10 * mass + 0.88, abs=1e-10)


def _mutate(d, path, value):
    obj = d
    for k in path[:-1]:
        obj = obj[k]
    if value is _DELETE:
        del obj[path[-1]]
    else:
        obj[path[-1]] = value


_DELETE = object()

BAD = [
    (("marginals", 1, "vol", "beta"), 0.95, "NDX", "stationary"),
    (("marginals", 0, "vol", "alpha"), -0.1, "SPX", "alpha"),
    (("marginals", 0, "vol", "type"), "figarch", "SPX", "'garch', 'gjr', 'egarch'"),
    (("marginals", 0, "dist", "nu"), 2.0, "SPX", "nu must be > 2"),
    (("marginals", 1, "dist", "lambda"), 1.5, "NDX", "lambda"),
    (("marginals", 0, "dist", "type"), "cauchy", "SPX", "'normal', 't', 'skewt'"),
    (("marginals", 0, "mean", "mu"), float("nan"), "SPX", "mean.mu"),
    (("marginals", 1, "vol", "omega"), float("inf"), "NDX", "omega"),
    (("copula", "corr"), [[1.0, 1.2], [1.2, 1.0]], "copula.corr", "[-1, 1]"),
    (("copula", "corr"), [[1.0, 0.5], [0.5, 0.9]], "copula.corr[1][1]", "unit diagonal"),
    (("copula", "corr"), [[1.0, 0.5], [0.4, 1.0]], "copula.corr", "symmetric"),
    (("copula", "corr"), [[1.0, 0.5, 0.1], [0.5, 1.0, 0.1], [0.1, 0.1, 1.0]], "copula.corr", "2x2"),
    (("copula", "nu"), 1.5, "copula.nu", "> 2"),
    (("copula", "type"), "vine", "copula.type", "'gaussian'"),
    (("start", "sigma2"), [1.0], "start.sigma2", "2 numbers"),
    (("start", "sigma2"), [1.0, -1.0], "NDX", "> 0"),
    (("assets",), ["SPX", "SPX"], "duplicate", "SPX"),
    (("assets",), ["SPX", "NDX", "WTI"], "marginals", "match"),
    (("marginals", 0, "vol", "kappa"), 0.1, "SPX", "unknown key"),
]


@pytest.mark.parametrize("path,value,where,what", BAD, ids=[f"{'.'.join(map(str, b[0]))}={b[1]!r}"[:60] for b in BAD])
def test_invalid_models_name_asset_and_field(example_dict, path, value, where, what):
    _mutate(example_dict, list(path), value)
    with pytest.raises((ValueError, TypeError)) as info:
        MarketModel.from_dict(example_dict)
    msg = str(info.value)
    assert where in msg and what in msg, msg


def test_non_positive_definite_correlation():
    from tests.conftest import make_model

    d = make_model(3, copula={"type": "gaussian",
                              "corr": [[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]]})
    with pytest.raises(ValueError, match="not positive definite"):
        MarketModel.from_dict(d)


def test_archimedean_theta_bounds():
    from tests.conftest import make_model

    for fam, theta in [("clayton", 0.0), ("gumbel", 0.9), ("frank", -1.0)]:
        with pytest.raises(ValueError, match=f"exchangeable {fam}"):
            MarketModel.from_dict(make_model(3, copula={"type": fam, "theta": theta}))


def test_from_json_errors_name_the_file(tmp_path, example_dict):
    example_dict["marginals"][0]["dist"]["nu"] = 1.0
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(example_dict))
    with pytest.raises(ValueError, match="bad.json.*SPX.*nu"):
        MarketModel.from_json(p)
    p.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: invalid JSON at line 1"):
        MarketModel.from_json(p)
    with pytest.raises(FileNotFoundError):
        MarketModel.from_json(str(tmp_path / "missing.json"))
