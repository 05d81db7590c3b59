"""A scenario run with an instrument book (``stress-sim run --book``, ``run_scenario(..., book=)``) on the
bundled rates model: P&L by full revaluation, the book's sections of risk.json, the report, and errors."""
from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scenarios.book import load_book, parse_book_csv

REPO = Path(__file__).resolve().parents[1]
BOOK = REPO / "examples" / "book.csv"


@lru_cache(maxsize=None)
def _rates_model():
    from simulator.builtin import load_builtin_model

    return load_builtin_model("us-markets-rates")


def test_a_linear_book_gives_the_linear_portfolio_pnl():
    # the library portfolio written as a book of linear positions: the same P&L, path by path
    from simulator.jobs import run_scenario

    book = parse_book_csv("id,kind,factor,amount\neq,linear,SP500,600000\ntech,linear,NASDAQ,250000\n"
                          "oil,linear,WTI,150000\n")
    from simulator.book_risk import book_pnl_by_horizon

    lin = run_scenario("svb-2023", _rates_model(), n_paths=300, keep="paths")
    per = book_pnl_by_horizon(book, _rates_model(), lin.simulation.returns, [1, 17])
    pos = np.zeros(_rates_model().n_assets)
    pos[:3] = [600000.0, 250000.0, 150000.0]
    for h in (1, 17):
        direct = np.expm1(lin.simulation.returns[:, :h, :].sum(axis=1) / 100.0) @ pos
        np.testing.assert_allclose(per[h].sum(axis=1), direct, rtol=1e-10, atol=1e-6)


def test_a_bond_is_revalued_on_the_curve_of_the_simulated_yields():
    from simulator.book_risk import book_pnl_by_horizon
    from simulator.instruments import bond_value, bootstrap_par_curve
    from simulator.jobs import run_scenario

    model = _rates_model()
    book = parse_book_csv("id,kind,notional,coupon_pct,freq,maturity_years,curve\n"
                          "b,bond,1000000,3.0,2,7.5,UST\n")
    res = run_scenario("baseline", model, n_paths=200, keep="paths")
    r = res.simulation.returns
    h = 60
    per = book_pnl_by_horizon(book, model, r, [h])[h][:, 0]
    # independently: par yields = as-of level + cumulative bp / 100, bootstrapped, the bond priced on them
    ust = [a for a in model.assets if model.kind(a) == "rate"]
    tenors = [model.factor(a).tenor_years for a in ust]
    cols = [model.assets.index(a) for a in ust]
    y0 = np.array([model.factor(a).level for a in ust])
    yh = y0 + r[:, :h, cols].sum(axis=1) / 100.0
    v0 = float(bond_value(bootstrap_par_curve(tenors, y0), notional=1e6, coupon_pct=3.0, freq=2, maturity=7.5))
    vh = bond_value(bootstrap_par_curve(tenors, yh), notional=1e6, coupon_pct=3.0, freq=2, maturity=7.5,
                    elapsed=h / 252)
    cash = 0.0  # coupons every half year from 0.5 years: none paid within 60 trading days (0.24 years)
    np.testing.assert_allclose(per, vh + cash - v0, rtol=1e-9, atol=1e-4)
    # rates up: the bond loses (duration)
    d10 = r[:, :h, model.assets.index("UST_10Y")].sum(axis=1)
    assert np.corrcoef(per, d10)[0, 1] < -0.8


@pytest.fixture(scope="module")
def book_run(tmp_path_factory):
    from simulator.cli import main

    out = tmp_path_factory.mktemp("book") / "runs"
    rc = main(["run", "rates-shock-2022", "--model", "builtin:us-markets-rates", "--book", str(BOOK),
               "--paths", "400", "--out", str(out)])
    return rc, out


def test_run_with_the_example_book(book_run):
    rc, out = book_run
    assert rc == 0
    d = out / "rates-shock-2022"
    risk = json.loads((d / "risk.json").read_text())
    book = risk["book"]
    assert book["n_positions"] == len(load_book(BOOK).positions) == 32
    assert {p["kind"] for p in book["positions"]} == {"linear", "bond", "swap", "option"}
    # the attribution sums to the book's mean P&L at the reporting horizon
    h = risk["headline"]["horizon_days"]
    pnl = pd.read_parquet(d / "pnl.parquet")
    mean_h = pnl[pnl.horizon_days == h]["pnl"].mean()
    assert sum(c["mean_pnl"] for c in book["attribution"]["classes"].values()) == pytest.approx(mean_h, rel=1e-9)
    assert sum(p["mean_pnl"] for p in book["positions"]) == pytest.approx(mean_h, rel=1e-9)
    # DV01s per tenor, deltas per equity factor; the ES contributions are per position and add up
    sens = {(s["factor"], s["measure"]) for s in book["sensitivities"] if s["position"] == "book"}
    assert ("UST_10Y", "dv01") in sens and ("SP500", "delta_1pct") in sens
    contrib = next(c for c in risk["es_contributions"] if c["horizon_days"] == h and math.isclose(c["level"], 0.975))
    assert set(contrib["contributions"]) == {p["id"] for p in book["positions"]}
    assert sum(contrib["contributions"].values()) == pytest.approx(contrib["es"], rel=1e-9)
    # the simulated curve and the rate factors' changes in basis points
    curve = risk["curves"]["UST"]
    assert curve["factors"] == ["UST_3M", "UST_2Y", "UST_5Y", "UST_10Y", "UST_30Y"]
    assert curve["as_of"] == pytest.approx([2.40, 2.52, 2.56, 2.72, 3.04])
    row = next(a for a in risk["assets_table"] if a["asset"] == "UST_10Y")
    assert row["unit"] == "bp" and "median_change_bp" in row
    assert risk["portfolio"]["initial_value"] == pytest.approx(book["value_as_of"])


def test_the_report_shows_the_book(book_run, tmp_path):
    from simulator.cli import main

    _, out = book_run
    assert main(["report", str(out), "--out", str(tmp_path / "r.html")]) == 0
    page = (tmp_path / "r.html").read_text()
    for text in ("Instrument book: 32 positions", "P&amp;L by factor class", "Sensitivities of the book",
                 "Curve UST: par yields", "basis points"):
        assert text in page, text


def test_the_book_tables_are_written_as_csv(book_run, tmp_path):
    """--tables writes the book's per-position P&L, sensitivities, attribution and curve quantiles as CSV,
    consistent with the run's own P&L file and the as-of curve."""
    from simulator.cli import main

    _, out = book_run
    assert main(["report", str(out), "--out", str(tmp_path / "r.html"), "--tables", str(tmp_path / "t")]) == 0
    tables = tmp_path / "t" / "tables"
    positions = pd.read_csv(tables / "book_positions.csv")
    d = out / "rates-shock-2022"
    pnl = pd.read_parquet(d / "pnl.parquet")
    h = int(positions["horizon_days"].iloc[0])
    mean_h = pnl[pnl.horizon_days == h]["pnl"].mean()
    per_position = positions[positions.level == "position"]
    assert len(per_position) == 32 and per_position["mean_pnl"].sum() == pytest.approx(mean_h, rel=1e-9)
    by_kind = positions[positions.level == "kind"].set_index("kind")
    assert by_kind["n_positions"].sum() == 32
    for kind, rows in per_position.groupby("kind"):
        assert by_kind.loc[kind, "mean_pnl"] == pytest.approx(rows["mean_pnl"].sum(), rel=1e-9)
    attribution = pd.read_csv(tables / "book_attribution.csv")
    assert attribution["mean_pnl"].sum() == pytest.approx(mean_h, rel=1e-9)
    sens = pd.read_csv(tables / "book_sensitivities.csv")
    assert {"dv01", "delta_1pct"} <= set(sens["measure"]) and "book" in set(sens["position"])
    curves = pd.read_csv(tables / "curves.csv")
    day0 = curves[curves.day == 0].set_index("factor")
    assert day0.loc["UST_10Y", "tenor_years"] == 10 and day0.loc["UST_10Y", "q0.5"] == pytest.approx(2.72)
    assert curves.day.max() == h


@pytest.mark.parametrize("rows, model, message", [
    ("id,kind,factor,amount\nx,linear,GOLD,1\n", "builtin:us-markets-rates", "'GOLD' is not a model asset"),
    ("id,kind,factor,amount\nx,linear,UST_10Y,1\n", "builtin:us-markets-rates", "is a rate factor"),
    ("id,kind,notional,coupon_pct,freq,maturity_years,curve\nb,bond,1,2,2,5,UST\n", "builtin:us-markets",
     "the model has no curve 'UST'"),
])
def test_books_that_do_not_fit_the_model_are_refused(tmp_path, capsys, rows, model, message):
    from simulator.cli import main

    f = tmp_path / "b.csv"
    f.write_text(rows)
    rc = main(["run", "svb-2023", "--model", model, "--book", str(f), "--paths", "100", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
