"""Reverse stress testing against the closed form of a Gaussian linear portfolio, and on the bundled model."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from simulator.reverse import breach_summary, gaussian_linear_breach, most_likely_breach, reverse_stress

MU = np.array([0.05, 0.02, -0.01])
SD = np.array([2.0, 3.0, 1.5])
R = np.array([[1.0, 0.6, 0.2], [0.6, 1.0, 0.3], [0.2, 0.3, 1.0]])
COV = R * np.outer(SD, SD)
W = np.array([600.0, 250.0, 150.0])  # currency per unit move
L = 4000.0


def _loss(x):
    return -np.asarray(x) @ W


def test_most_likely_point_matches_the_gaussian_closed_form():
    ppf = [lambda u, m=m, s=s: m + s * stats.norm.ppf(u) for m, s in zip(MU, SD)]
    p = most_likely_breach(_loss, L, R, ppf)
    x_star, d = gaussian_linear_breach(MU, COV, W, L)
    np.testing.assert_allclose(p.moves, x_star, rtol=1e-6, atol=1e-6)
    assert p.mahalanobis == pytest.approx(d, rel=1e-6) and p.loss == pytest.approx(L, rel=1e-6)
    assert p.prob_as_extreme == pytest.approx(stats.chi2.sf(d * d, 3), rel=1e-5)
    assert p.prob_halfspace == pytest.approx(stats.norm.sf(d), rel=1e-5)  # = P(-w'x >= L) here
    # the closed form itself: on the constraint, and the density is highest there along it
    assert -x_star @ W == pytest.approx(L)


def test_from_simulated_gaussian_moves():
    rng = np.random.default_rng(1)
    x = rng.multivariate_normal(MU, COV, size=200_000)
    res = reverse_stress(x, _loss, L, factors=["eq", "tech", "oil"])
    x_star, d = gaussian_linear_breach(MU, COV, W, L)
    # empirical marginals: the point within a few hundredths of a standard deviation of the exact one
    np.testing.assert_allclose(res.point.moves, x_star, atol=0.05 * SD.max())
    assert res.point.mahalanobis == pytest.approx(d, rel=0.02)
    # the simulated breach probability against the exact P(-w'x >= L) = Phi(-d) (linear Gaussian)
    b = res.breaches
    assert abs(b.prob - stats.norm.sf(d)) <= 4 * b.prob_se
    # the breaching paths' mean move: E[x | -w'x >= L] = mu - Sigma w / sqrt(w'Sigma w) * phi(d) / Phi(-d)
    s = math.sqrt(W @ COV @ W)
    cond = MU - COV @ W / s * stats.norm.pdf(d) / stats.norm.sf(d)
    np.testing.assert_allclose(b.mean_moves, cond, atol=6 * SD.max() / math.sqrt(b.n_breach))
    assert sum(c["share"] for c in b.clusters) == pytest.approx(1.0) and len(b.clusters) == 3
    doc = res.to_dict()
    assert set(doc["most_likely_breach"]["moves"]) == {"eq", "tech", "oil"}


def test_a_nonlinear_book_and_a_threshold_out_of_reach():
    # a written put on the first factor: the loss grows as it falls
    def put_loss(x):
        s = 100 * np.exp(np.asarray(x)[:, 0] / 100)
        return 1000 * np.maximum(95 - s, 0) - 50.0
    ppf = [lambda u, m=m, s=s: m + s * stats.norm.ppf(u) for m, s in zip(MU, SD)]
    p = most_likely_breach(put_loss, 3000.0, R, ppf)
    assert p.loss >= 3000.0 - 1e-3 and p.moves[0] < -7.0
    with pytest.raises(ValueError, match="no move found"):
        most_likely_breach(lambda x: np.minimum(-np.asarray(x) @ W, 10.0), 1e6, R, ppf)
    empty = breach_summary(np.zeros((10, 3)), np.zeros(10), 1.0)
    assert empty.n_breach == 0 and empty.mean_moves is None


def test_on_the_bundled_model():
    from simulator.builtin import load_builtin_model
    from simulator.engine import simulate

    model = load_builtin_model("us-markets")
    sim = simulate(model, 20_000, 10, seed=5, keep="summary")
    pos = np.array([600_000.0, 250_000.0, 150_000.0])

    def loss(x):
        return -(np.expm1(np.asarray(x) / 100) @ pos)

    losses = loss(sim.cum_return)
    var99 = float(np.quantile(losses, 0.99))
    res = reverse_stress(sim.cum_return, loss, var99, factors=list(model.assets))
    assert res.point.loss == pytest.approx(var99, rel=1e-3)
    assert 1.5 < res.point.mahalanobis < 4.0
    assert res.breaches.prob == pytest.approx(0.01, abs=4 * res.breaches.prob_se)
    # every factor falls at the breach point, the equity indices the most
    assert np.all(res.point.moves < 0)


def test_cli_reverse_writes_json_and_the_report_shows_it(tmp_path, capsys):
    import json

    from simulator.cli import main

    out = tmp_path / "rev"
    assert main(["reverse", "--model", "builtin:us-markets", "--loss-quantile", "0.99", "--paths", "4000",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "most likely breach" in text and "Mahalanobis distance" in text
    doc = json.loads((out / "reverse.json").read_text())
    assert doc["kind"] == "reverse-stress-test" and doc["horizon_days"] == 252
    assert set(doc["most_likely_breach"]["moves"]) == {"SP500", "NASDAQ", "WTI"}
    assert doc["simulated_breaches"]["n_breach"] == 40  # 1 % of 4,000 paths
    # bad input: one line, exit 2, nothing written
    for argv, msg in ((["--loss", "-5"], "positive"), (["--loss", "1e12"], "no simulated path loses"),
                      (["--loss-quantile", "0.3"], "loss quantile")):
        rc = main(["reverse", "--model", "builtin:us-markets", "--paths", "500", *argv, "--out", str(tmp_path / "x")])
        err = capsys.readouterr().err
        assert rc == 2 and msg in err and "Traceback" not in err
    # a book of price-factor positions instead of the scenario's portfolio
    book = tmp_path / "b.csv"
    book.write_text("id,kind,factor,amount,quantity,option_type,strike,expiry_years,spot,vol_pct\n"
                    "eq,linear,SP500,1000000,,,,,,\nput,option,SP500,,-200,put,2200,0.5,2485.74,20\n")
    assert main(["reverse", "--model", "builtin:us-markets", "--book", str(book), "--loss-quantile", "0.99",
                 "--paths", "2000", "--out", str(tmp_path / "rb")]) == 0
    capsys.readouterr()
