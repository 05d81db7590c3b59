"""Calibration of transaction profiles from aggregates / rows, and the privacy and fairness checks."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from calibration.privacy import fairness_report, privacy_report
from calibration.transactions import FittedTransactionProfile, aggregate_rows, fit_transactions
from simulator.transactions import generate_transactions, get_profile
from tests.conftest import SHARED_DATA

PAYSIM = SHARED_DATA / "paysim" / "aggregatedTransactions.csv"
needs_paysim = pytest.mark.skipif(not PAYSIM.is_file(), reason=f"PaySim aggregates not found at {PAYSIM} "
                                  "(STRESS_SIM_SHARED_DATA, default: the shared/data folder beside the checkout)")


@pytest.fixture(scope="module")
def paysim_fit():
    return fit_transactions(PAYSIM)


def _pooled_from_table(raw: pd.DataFrame) -> pd.DataFrame:
    """Per action: share of rows, pooled mean and coefficient of variation, computed from the table."""
    out = {}
    for act, g in raw.groupby("action"):
        n, m, s = (g[c].to_numpy(float) for c in ("count", "avg", "std"))
        N = n.sum()
        M = (n * m).sum() / N
        V = ((n - 1) * s**2 + n * (m - M) ** 2).sum() / (N - 1)
        out[act] = {"share": N / raw["count"].sum(), "mean": M, "cv": math.sqrt(V) / M}
    return pd.DataFrame(out).T


@needs_paysim
def test_paysim_calibration_report_measures_the_profile_as_it_generates(paysim_fit):
    """Issue 18 defect 7: the report switched off full_balance_share; with it the mean NRMSE was 0.151."""
    rep = paysim_fit.calibration_report(rows_per_category=5_000, seed=1)
    assert rep["settings"]["full_balance_share"] == paysim_fit.profile.full_balance_share > 0
    assert set(rep["per_category"]) == {"CASH_IN", "CASH_OUT", "DEBIT", "PAYMENT", "TRANSFER"}
    worst = max(v["nrmse_count"] for v in rep["per_category"].values())
    assert rep["nrmse_count"] == worst
    pooled = _pooled_from_table(pd.read_csv(PAYSIM))
    for cat, v in rep["per_category"].items():
        # sampling error of an hourly mean of n_h rows is cv / sqrt(n_h); 4 of them plus 3 % for what the
        # wallets change (amounts capped at what is left); the count error is Poisson
        n_h = v["rows_simulated"] / 24
        assert v["nrmse_mean"] <= 4 * pooled.loc[cat, "cv"] / math.sqrt(n_h) + 0.03, (cat, v)
        assert v["nrmse_count"] <= 4 / math.sqrt(n_h) + 0.03, (cat, v)
    assert rep["mean_nrmse_mean"] <= 0.10
    # the fitted profile keeps its wallets funded: declines do not climb over the month (were 4.3 % -> 12.1 %)
    weeks = rep["decline_rate_by_week"]
    assert max(weeks) < 1.3 * min(weeks), weeks
    assert 0 < rep["deposit_share"] < 0.1


@needs_paysim
def test_builtin_mobile_profile_follows_the_paysim_aggregates():
    """Issue 18 defect 7: the built-in TRANSFER mean was 130 k against PaySim's 870 k."""
    pooled = _pooled_from_table(pd.read_csv(PAYSIM))
    prof = get_profile("mobile-money")
    shares = np.array([c.share for c in prof.categories])
    for c, sh in zip(prof.categories, shares / shares.sum()):
        mean = float(np.exp(np.asarray(c.amount_mu) + 0.5 * np.asarray(c.amount_sigma) ** 2).mean())
        assert mean == pytest.approx(pooled.loc[c.name, "mean"], rel=1e-3)
        assert sh == pytest.approx(pooled.loc[c.name, "share"], abs=1e-3)


@needs_paysim
def test_paysim_fit_reproduces_margins_and_holds_aggregates_only(paysim_fit):
    raw = pd.read_csv(PAYSIM)
    prof = paysim_fit.profile
    assert prof.kind == "mobile-money" and prof.category_names == ("CASH_IN", "CASH_OUT", "DEBIT", "PAYMENT", "TRANSFER")
    # Poisson MLE property: fitted counts summed per hour of day equal the observed ones
    for c in prof.categories:
        a = raw[raw["action"] == c.name]
        dow = (a["day"].to_numpy() + paysim_fit.start_weekday) % 7
        lam = c.share
        fitted = lam * np.asarray(c.hour_weights)[a["hour"].to_numpy()] * np.asarray(c.dow_weights)[dow]
        obs = np.bincount(a["hour"], a["count"], 24)
        fit = np.bincount(a["hour"], fitted, 24)
        np.testing.assert_allclose(fit, obs, rtol=1e-6, atol=1e-6)
    # amount law means are the pooled hourly means (log-normal mean = exp(mu + sigma^2/2) * E[customer scale] = 1)
    pay = raw[(raw["action"] == "PAYMENT") & (raw["hour"] == 19)]
    pooled = pay["sum"].sum() / pay["count"].sum()
    c = prof.categories[3]
    assert np.exp(c.amount_mu[19] + c.amount_sigma[19] ** 2 / 2) == pytest.approx(pooled, rel=1e-9)
    assert set(paysim_fit.targets.columns) == {"category", "step", "day", "hour", "count", "mean", "std"}
    again = FittedTransactionProfile.from_json(paysim_fit.to_json())
    assert again.profile == prof and again.population == paysim_fit.population
    assert prof.provenance["rows_total"] == int(raw["count"].sum())


def _rows(seed, customers=400, days=10):
    df = pa.Table.from_batches(list(generate_transactions("mobile-money", customers=customers, days=days,
                                                          seed=seed, fraud_scale=0.0))).to_pandas()
    return df[["customer_id", "type", "step", "amount"]]


def test_fit_from_rows_matches_fit_from_their_aggregates():
    rows = _rows(1)
    a = fit_transactions(rows, weekly=False)
    b = fit_transactions(aggregate_rows(rows), weekly=False)
    assert a.profile.categories == b.profile.categories
    assert a.profile.provenance["source"] == "fit_transactions from rows"
    assert "amount" not in a.targets.columns  # aggregates only


def test_privacy_flags_a_copy_shifted_in_time():
    """Issue 18 defect 8: the training rows moved by one day passed (0 exact matches, DCR ratio 1.19, MIA 0.536)."""
    real = _rows(7, customers=600, days=10)
    real = real.assign(dest_id=np.arange(len(real)) % 97)
    ids = real["customer_id"].unique()
    train = real[real["customer_id"].isin(ids[::2])]
    holdout = real[~real["customer_id"].isin(ids[::2])]
    shifted = train.assign(step=train["step"] + 24)
    rep = privacy_report(train, shifted, holdout, max_rows=5000)
    assert not rep["passed"]
    assert rep["exact_match_rate"] == 1.0 and rep["matches"]["sequences"]["flagged"]
    assert rep["matches"]["counterparties"]["flagged"] and rep["matches"]["accounts"]["flagged"]
    assert rep["dcr_ratio"] < 0.1 and rep["mia_auc"] > 0.9


def test_privacy_checks_pass_for_aggregate_fit_and_flag_copies():
    real = _rows(7, customers=600, days=10)
    ids = real["customer_id"].unique()
    rng = np.random.default_rng(0)
    members = set(rng.choice(ids, size=len(ids) // 2, replace=False))
    train = real[real["customer_id"].isin(members)]
    holdout = real[~real["customer_id"].isin(members)]
    fit = fit_transactions(train, weekly=False)
    synth = pa.Table.from_batches(list(generate_transactions(fit, customers=300, days=10, seed=99))).to_pandas()
    rep = privacy_report(train, synth, holdout, max_rows=5000)
    assert rep["exact_match_rate"] <= rep["holdout_exact_match_rate"] + 0.01
    assert abs(rep["mia_auc"] - 0.5) < 0.06, rep
    assert rep["dcr_ratio"] > 0.8 and rep["passed"], rep
    # negative control: a "synthetic" feed that copies the training rows is caught
    leak = privacy_report(train, train, holdout, max_rows=5000)
    assert leak["exact_match_rate"] == 1.0 and leak["mia_auc"] > 0.9 and not leak["passed"]
    assert leak["matches"]["rows"]["flagged"] and any("copies real data" in f for f in leak["flags"])


@pytest.mark.parametrize("profile", ["cards", "mobile-money"])
def test_fairness_passes_as_configured_and_flags_unconfigured_segment_effects(profile):
    base = get_profile(profile)
    seg = base.segments[1].name
    kw = dict(customers=5_000, days=14, seed=5, fraud_scale=5 if profile == "cards" else 15)
    s = generate_transactions(profile, **kw)
    df = pa.Table.from_batches(list(s)).to_pandas()
    rep = fairness_report(df, s.profile, days=14)
    assert rep["passed"], rep["flags"]
    # the same configured effect passes when the profile states it, and is flagged when it does not
    s2 = generate_transactions(profile, segment_fraud={seg: 4.0}, **kw)
    df2 = pa.Table.from_batches(list(s2)).to_pandas()
    assert fairness_report(df2, s2.profile, days=14)["passed"]
    flagged = fairness_report(df2, base, days=14)
    assert not flagged["passed"] and any("fraud case rate" in f for f in flagged["flags"])


def test_fit_bad_inputs():
    with pytest.raises(ValueError, match="missing columns"):
        fit_transactions(pd.DataFrame({"action": ["PAYMENT"], "step": [1], "count": [3]}))
    with pytest.raises(ValueError, match="no category column"):
        fit_transactions(pd.DataFrame({"step": [1], "amount": [3.0]}))
    with pytest.raises(FileNotFoundError, match="not found"):
        fit_transactions("/nonexistent/table.csv")
    with pytest.raises(ValueError, match="counts must be non-negative integers"):
        fit_transactions(pd.DataFrame({"action": ["PAYMENT"], "step": [1], "count": [-3], "avg": [1.0], "std": [0.0]}))
    with pytest.raises(TypeError, match="DataFrame or a path"):
        fit_transactions([1, 2, 3])
