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
    from arch.univariate import SkewStudent

    spec = model.marginals[0]
    # E[z^2 1{z<0}] from arch's own skew-t (an independent implementation of Hansen's law)
    mass = SkewStudent().partial_moment(2, 0.0, [7.0, -0.3])
    assert mass > 0.5  # negative skew puts more variance below zero
    assert spec.dist.neg_sq_mass() == pytest.approx(mass, abs=1e-10)
    assert spec.persistence == pytest.approx(0.03 + 0.10 * mass + 0.88, abs=1e-10)


@pytest.mark.parametrize("dist,params", [({"type": "normal"}, []), ({"type": "t", "nu": 6.0}, [6.0])])
def test_gjr_persistence_of_symmetric_laws_against_arch(example_dict, dist, params):
    from arch.univariate import Normal, StudentsT

    example_dict["marginals"][0]["dist"] = dist
    spec = MarketModel.from_dict(example_dict).marginals[0]
    law = Normal() if dist["type"] == "normal" else StudentsT()
    mass = law.partial_moment(2, 0.0, params)
    assert mass == pytest.approx(0.5, abs=1e-12)  # symmetric: half the unit variance below zero
    assert spec.dist.neg_sq_mass() == pytest.approx(mass, abs=1e-10)
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


# ---------------------------------------------------------------------- evt and fhs laws
EVT_LAW = {"type": "evt", "nu": 7.0, "lambda": -0.12,
           "threshold_left": -1.25, "tail_prob_left": 0.1, "xi_left": 0.25, "beta_left": 0.6,
           "threshold_right": 1.2, "tail_prob_right": 0.1, "xi_right": 0.05, "beta_right": 0.45}
FHS_LAW = {"type": "fhs", "centres": [-3.9, -2.1, -1.2, -0.5, 0.1 + 0.2, 0.4, 1.0, 1.9, 3.3], "bandwidth": 0.13}


@pytest.mark.parametrize("law", [EVT_LAW, FHS_LAW], ids=lambda d: d["type"])
def test_new_laws_json_round_trip_is_exact(example_dict, law):
    example_dict["marginals"][0]["dist"] = dict(law)
    model = MarketModel.from_dict(example_dict)
    text = model.to_json()
    again = MarketModel.from_json(text)
    assert again == model and again.to_json() == text
    assert json.loads(text)["marginals"][0]["dist"] == law  # same keys, every digit kept
    assert hash(again.marginals[0].dist) == hash(model.marginals[0].dist)  # usable as a table-cache key


BAD_LAWS = [
    ("evt", "xi_left", 0.5, "xi_left must lie in [0, 0.5)"),
    ("evt", "xi_right", -0.1, "xi_right must lie in [0, 0.5)"),
    ("evt", "beta_left", 0.0, "beta_left must be > 0"),
    ("evt", "tail_prob_right", 0.5, "tail_prob_right must lie in (0, 0.5)"),
    ("evt", "threshold_left", 1.3, "threshold_left must be below threshold_right"),
    ("evt", "nu", 2.0, "nu must be > 2"),
    ("evt", "lambda", -1.0, "lambda must lie in (-1, 1)"),
    ("evt", "xi_left", _DELETE, "missing key(s) 'xi_left'"),
    ("fhs", "centres", [0.3, 0.2, 0.5], "centres must be non-decreasing: centres[0] = 0.3 > centres[1] = 0.2"),
    ("fhs", "centres", [0.1], "centres must be a list of 2 to 1000 numbers"),
    ("fhs", "centres", [0.0] * 1001, "centres must be a list of 2 to 1000 numbers"),
    ("fhs", "centres", [0.0, 1e3], "centres[1] must lie in [-100, 100]"),
    ("fhs", "centres", [0.0, float("nan")], "centres[1] must be finite"),
    ("fhs", "bandwidth", 0.0, "bandwidth must lie in (0, 2]"),
    ("fhs", "nu", 5.0, "unknown key(s) 'nu'; allowed: 'type', 'centres', 'bandwidth'"),
]


@pytest.mark.parametrize("law,key,value,what", BAD_LAWS, ids=[f"{b[0]}.{b[1]}" + ("-missing" if b[2] is _DELETE else f"={b[2]!r}"[:30])
                                                        for b in BAD_LAWS])
def test_invalid_new_laws_name_asset_field_and_valid_range(example_dict, law, key, value, what):
    d = dict(EVT_LAW if law == "evt" else FHS_LAW)
    _mutate(d, [key], value)
    example_dict["marginals"][1]["dist"] = d
    with pytest.raises((ValueError, TypeError)) as info:
        MarketModel.from_dict(example_dict)
    msg = str(info.value)
    assert "asset 'NDX' (marginals[1]).dist" in msg and what in msg, msg


def test_unknown_law_lists_the_new_ones(example_dict):
    example_dict["marginals"][0]["dist"] = {"type": "gpd"}
    with pytest.raises(ValueError, match="valid types: 'normal', 't', 'skewt', 'evt', 'fhs'"):
        MarketModel.from_dict(example_dict)


@pytest.mark.parametrize("law", [EVT_LAW, FHS_LAW], ids=lambda d: d["type"])
def test_gjr_persistence_uses_the_new_laws_negative_mass(example_dict, law):
    from scipy import integrate

    from simulator.tables import marginal_pdf, marginal_ppf

    example_dict["marginals"][0]["dist"] = dict(law)
    spec = MarketModel.from_dict(example_dict).marginals[0]
    # E[z^2 1{z<0}] by quadrature of the density, split where the evt law splices
    cuts = sorted(float(marginal_ppf(p, 1 - p, spec.dist)) for p in (0.1,))
    pts = [-math.inf, *[c for c in cuts if c < 0], 0.0]
    mass = sum(integrate.quad(lambda z: z * z * marginal_pdf(z, spec.dist), a, b, limit=200)[0]
               for a, b in zip(pts[:-1], pts[1:]))
    assert spec.dist.neg_sq_mass() == pytest.approx(mass, abs=1e-8)
    assert spec.persistence == pytest.approx(0.03 + 0.10 * mass + 0.88, abs=1e-8)
