"""Synthetic transaction feeds: reproducibility, fraud rates and signatures, seasonality, market coupling,
learnability without label leakage, and the kernels."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from simulator.transactions import (CARD_TYPOLOGIES, MOBILE_TYPOLOGIES, cards_schema, generate_transactions,
                                    get_profile, market_state_from_returns, mobile_schema)


def feed(profile="cards", **kw) -> pd.DataFrame:
    return pa.Table.from_batches(list(generate_transactions(profile, **kw))).to_pandas()


@pytest.fixture(scope="module")
def cards_df():
    return feed("cards", customers=4000, days=30, seed=11, fraud_scale=10)


@pytest.fixture(scope="module")
def cards_clear():
    """No class overlap: every case follows its typology's story (no burn-in: every compromised card's
    skimming is in the feed)."""
    return feed("cards", customers=6000, days=24, seed=5, fraud_scale=10, overlap=0.0, burn_in_days=0)


@pytest.fixture(scope="module")
def mobile_clear():
    return feed("mobile-money", customers=6000, days=20, seed=3, fraud_scale=20, overlap=0.0)


# ---------------------------------------------------------------------- stream basics
def test_schema_time_order_and_reproducibility():
    kw = dict(customers=1500, days=3, seed=np.random.SeedSequence(42))
    a = pa.Table.from_batches(list(generate_transactions("cards", batch_rows=1000, **kw)))
    b = pa.Table.from_batches(list(generate_transactions("cards", batch_rows=77_777, n_threads=3, **kw)))
    one = pa.Table.from_batches(list(generate_transactions("cards", n_threads=1, **kw)))
    assert one.equals(b), "threading must not change the stream"
    assert a.schema == cards_schema
    assert a.equals(b), "the same seed must give the same stream whatever the batch size and threads"
    ts = a.column("ts").cast("int64").to_numpy()
    assert np.all(np.diff(ts) >= 0)
    assert np.array_equal(a.column("txn_id").to_numpy(), np.arange(a.num_rows))
    c = pa.Table.from_batches(list(generate_transactions("cards", customers=1500, days=3, seed=43)))
    assert not c.equals(a)
    batches = list(generate_transactions("cards", batch_rows=1000, **kw))
    assert all(x.num_rows == 1000 for x in batches[:-1]) and 0 < batches[-1].num_rows <= 1000
    m = pa.Table.from_batches(list(generate_transactions("mobile-money", customers=500, days=2, seed=1)))
    assert m.schema == mobile_schema


def test_fraud_knobs_leave_legitimate_traffic_unchanged():
    """Issue 18 defect 6: fraud_scale 0 -> 10 flipped `declined` on 4 % of legitimate card rows."""
    a = feed("cards", customers=1500, days=4, seed=9, fraud_scale=0.0)
    b = feed("cards", customers=1500, days=4, seed=9, fraud_scale=20.0, overlap=0.9, drift={"card_testing": 3.0})
    assert a["is_fraud"].sum() == 0 and b["is_fraud"].sum() > 0
    legit = b[~b["is_fraud"]]
    cols = ["ts", "customer_id", "card_id", "merchant_id", "terminal_id", "device_id", "region", "amount", "declined",
            "reported_at", "label_observed", "label_available_at"]
    # fraud only adds rows; every legitimate row, its decline and its labels are the same draws
    pd.testing.assert_frame_equal(a[cols].reset_index(drop=True), legit[cols].reset_index(drop=True))
    # mobile money: the same rows and counterparties; balances (and what they decide) may differ where
    # fraud moved money, and deposits top wallets up by what is missing
    a = feed("mobile-money", customers=1500, days=4, seed=9, fraud_scale=0.0)
    b = feed("mobile-money", customers=1500, days=4, seed=9, fraud_scale=50.0)
    la = a[a["type"] != "DEPOSIT"]
    lb = b[~b["is_fraud"] & (b["type"] != "DEPOSIT")]
    cols = ["ts", "customer_id", "type", "dest_id", "device_id", "region", "label_available_at"]
    pd.testing.assert_frame_equal(la[cols].reset_index(drop=True), lb[cols].reset_index(drop=True))
    untouched = ~la["customer_id"].isin(set(b.loc[b["is_fraud"], "customer_id"]) | set(b.loc[b["is_fraud"], "dest_id"]))
    assert untouched.mean() > 0.5
    assert (la.loc[untouched, "declined"].to_numpy() == lb.loc[untouched.to_numpy(), "declined"].to_numpy()).mean() > 0.99


def test_volume_matches_rate():
    s = generate_transactions("cards", customers=3000, days=7, seed=2, fraud_scale=0.0)
    n = sum(b.num_rows for b in s)
    # total count is Poisson given the population: 6 sd tolerance
    assert abs(n - s.expected_rows) < 6 * math.sqrt(s.expected_rows)


# ---------------------------------------------------------------------- fraud rates and signatures
@pytest.mark.parametrize("profile,typologies,rate", [
    ("cards", ("card_testing", "account_takeover", "lost_stolen"), 4e-4),
    ("mobile-money", ("account_takeover", "cycle"), 4e-4),
])
def test_configured_case_rates_hold_within_poisson_tolerance(profile, typologies, rate):
    """Cases per customer-day for an average customer: per segment Poisson(rate x the segment's total
    activity x its activity multiplier) a day (docs/transactions.md, Fraud typologies)."""
    N, D = 8000, 12
    prof = get_profile(profile)
    rates = {t: (rate if t in typologies else 0.0) for t in prof.typologies}
    s = generate_transactions(profile, customers=N, days=D, seed=21, fraud_rates=rates)
    df = pa.Table.from_batches(list(s)).to_pandas()
    exposure = float(np.dot(s.ctx.pop.seg_activity, [g.activity for g in prof.segments]))
    assert exposure == pytest.approx(N * np.dot([g.share for g in prof.segments], [g.activity for g in prof.segments])
                                     / sum(g.share for g in prof.segments), rel=0.05)
    for t in typologies:
        first_day = df[df["fraud_type"] == t].groupby("case_id")["day"].min()
        cases = int((first_day >= 1).sum())  # cases started on days 1..D-1 (day 0 also has burn-in spill-over)
        mean = (D - 1) * rate * exposure
        assert abs(cases - mean) < 4 * math.sqrt(mean) + 0.03 * mean, f"{t}: {cases} cases, expected {mean:.0f}"
    assert set(df.loc[df["is_fraud"], "fraud_type"].astype(str)) <= set(typologies)


def test_card_testing_signature(cards_clear):
    df = cards_clear
    ct = df[df["fraud_type"] == "card_testing"]
    assert ct["case_id"].nunique() > 20
    per = ct.groupby("case_id")
    assert (per.size() >= 2).all()
    assert (ct["channel"] == "online").all()
    micro = ct[ct["amount"] < 5]
    assert len(micro) / len(ct) > 0.7
    span = per["ts"].agg(lambda s: (s.max() - s.min()).total_seconds())
    assert span.median() < 30 * 60
    legit = df[~df["is_fraud"]]
    assert ct["declined"].mean() > 3 * legit["declined"].mean()
    # micro amounts are not constant, and legitimate micro payments are common too
    assert micro["amount"].value_counts().iloc[0] < 0.02 * len(micro)
    assert (legit["amount"] < 5).sum() > 10 * len(micro)


def _legit_devices(df):
    legit = df[~df["is_fraud"] & df["device_id"].notna()]
    return set(zip(legit["customer_id"], legit["device_id"].astype(np.int64)))


def test_account_takeover_signature_cards(cards_clear):
    df = cards_clear
    ato = df[df["fraud_type"] == "account_takeover"]
    known = _legit_devices(df)
    new_dev = [(c, int(d)) not in known for c, d in zip(ato["customer_id"], ato["device_id"])]
    assert np.mean(new_dev) > 0.95
    home = df[~df["is_fraud"]].groupby("customer_id")["region"].agg(lambda r: r.value_counts().index[0])
    assert (ato["region"].to_numpy() != ato["customer_id"].map(home).to_numpy()).mean() > 0.9
    first_last = ato.sort_values("ts").groupby("case_id")["amount"].agg(["first", "last", "size"])
    first_last = first_last[first_last["size"] >= 3]
    # escalating amounts: the last purchase is larger than the first in most cases
    assert (first_last["last"] > first_last["first"]).mean() > 0.75


def test_lost_stolen_signature(cards_clear):
    df = cards_clear
    ls = df[df["fraud_type"] == "lost_stolen"]
    assert ls["channel"].isin(["pos", "atm"]).all() and ls["device_id"].isna().all()
    home = df[~df["is_fraud"]].groupby("customer_id")["region"].agg(lambda r: r.value_counts().index[0])
    assert (ls["region"].to_numpy() != ls["customer_id"].map(home).to_numpy()).mean() > 0.9
    span = ls.groupby("case_id")["ts"].agg(lambda s: (s.max() - s.min()).total_seconds() / 3600)
    assert span.median() < 6


def test_compromised_terminal_signature(cards_clear):
    df = cards_clear
    ct = df[df["fraud_type"] == "compromised_terminal"]
    assert ct["case_id"].nunique() >= 3
    legit = df[~df["is_fraud"] & df["terminal_id"].notna()]
    checked = 0
    for case, rows in ct.groupby("case_id"):
        cards = rows["card_id"].unique()
        if len(cards) < 2:
            continue
        first = rows.groupby("card_id")["ts"].min()
        used = [set(legit.loc[(legit["card_id"] == c) & (legit["ts"] < first[c]), "terminal_id"]) for c in cards]
        # every skimmed card was used at the compromised terminal before its misuse
        assert set.intersection(*used), f"case {case}: cards share no terminal"
        checked += 1
    assert checked >= 1


def test_bust_out_signature(cards_clear):
    df = cards_clear
    bo = df[df["fraud_type"] == "bust_out"]
    assert bo["case_id"].nunique() >= 3
    # issue 18 defect 9: bust-out could not start before day 14 (trust counted from the feed start);
    # now the trust period is the account's tenure, known from the KYC table
    assert bo["day"].min() < 7
    legit = df[~df["is_fraud"]]
    daily = legit.groupby("customer_id")["amount"].sum() / df["day"].nunique()
    case_sum = bo.groupby("case_id").agg(amount=("amount", "sum"), customer=("customer_id", "first"))
    ratio = case_sum["amount"] / case_sum["customer"].map(daily)
    assert ratio.median() > 5
    assert bo.groupby("case_id").size().min() >= 2


def test_mobile_typologies_signatures(mobile_clear):
    df = mobile_clear
    assert set(df.loc[df["is_fraud"], "fraud_type"].astype(str)) == set(MOBILE_TYPOLOGIES)
    thr = get_profile("mobile-money").fraud.aml_threshold
    ato = df[df["fraud_type"] == "account_takeover"]
    received = df[(df["type"] == "TRANSFER") & ~df["declined"]]
    checked = 0
    for _, rows in list(ato.groupby("case_id"))[:80]:
        tr = rows[(rows["type"] == "TRANSFER") & ~rows["declined"]]
        co = rows[(rows["type"] == "CASH_OUT") & ~rows["declined"]]
        assert tr["customer_id"].nunique() <= 1
        if rows["day"].min() > 0:  # (a case that started in the burn-in may show only its tail)
            assert set(co["customer_id"]) <= set(rows.loc[rows["type"] == "TRANSFER", "dest_id"])
        for _, c in co.iterrows():  # each mule cashes out 85-99 % of the last transfer it received (or what is left)
            got = received.loc[(received["dest_id"] == c["customer_id"]) & (received["txn_id"] < c["txn_id"]), "amount"]
            if len(got) and c["amount"] < c["balance_orig_before"]:
                assert 0.85 * got.iloc[-1] - 0.01 <= c["amount"] <= 0.99 * got.iloc[-1] + 0.01
                checked += 1
    assert checked > 10
    fan_in = df[(df["fraud_type"] == "fan_in") & (df["type"] == "TRANSFER")]
    g = fan_in.groupby("case_id")
    # (cases cut by the end of the horizon may have fewer senders)
    assert (g["dest_id"].nunique() == 1).all() and (g["customer_id"].nunique() >= 3).mean() > 0.8
    assert (fan_in["amount"] < thr).all()
    fan_out = df[(df["fraud_type"] == "fan_out") & (df["type"] == "TRANSFER")]
    g = fan_out.groupby("case_id")
    assert (g["customer_id"].nunique() == 1).all() and (g["dest_id"].nunique() >= 3).mean() > 0.8
    cyc = df[df["fraud_type"] == "cycle"].sort_values("ts")
    rings = 0
    for _, rows in cyc.groupby("case_id"):
        hops = rows[rows["type"] == "TRANSFER"]
        if rows["type"].iloc[0] != "CASH_IN" or len(hops) < 3:
            continue  # started in the burn-in
        origin = rows["customer_id"].iloc[0]
        assert hops["customer_id"].iloc[0] == origin
        assert list(hops["dest_id"].iloc[:-1]) == list(hops["customer_id"].iloc[1:])
        if hops["day"].max() <= df["day"].max() - 3:  # the ring closed well inside the horizon
            assert hops["dest_id"].iloc[-1] == origin
            rings += 1
    assert rings >= 3
    sg = df[(df["fraud_type"] == "scatter_gather") & (df["type"] == "TRANSFER")]
    for _, rows in sg.groupby("case_id"):
        src = rows.sort_values("ts")["customer_id"].iloc[0]
        mids = set(rows.loc[rows["customer_id"] == src, "dest_id"])
        gather = rows[rows["customer_id"] != src]
        assert set(gather["customer_id"]) <= mids and gather["dest_id"].nunique() <= 1


# ---------------------------------------------------------------------- seasonality
def test_hour_and_weekday_seasonality():
    s = generate_transactions("cards", customers=6000, days=14, seed=8, fraud_scale=0.0)
    df = pa.Table.from_batches(list(s)).to_pandas()
    ctx = s.ctx
    hours = df["ts"].dt.hour.to_numpy()
    counts = np.bincount(hours, minlength=24)
    expected = np.array([sum(ctx.expected_window(d, h).sum() for d in range(14)) for h in range(24)])
    z = (counts - expected) / np.sqrt(expected)
    assert np.abs(z).max() < 5, z
    assert counts[17:20].sum() > 5 * counts[2:5].sum()  # evening peak vs night trough
    rest = df[df["category"] == "restaurants"]
    dow = rest["ts"].dt.day_of_week
    per_day = rest.groupby(rest["ts"].dt.date).size()
    weekend = per_day[[d.weekday() >= 5 for d in per_day.index]].mean()
    weekday = per_day[[d.weekday() < 5 for d in per_day.index]].mean()
    prof = get_profile("cards").categories[1]
    w = np.array(prof.dow_weights)
    assert weekend / weekday == pytest.approx(w[5:].mean() / w[:5].mean(), rel=0.08)
    assert dow.nunique() == 7


# ---------------------------------------------------------------------- market coupling
def _stress_market(days, start, dd=0.3, vr=2.0):
    drawdown = np.where(np.arange(days) >= start, dd, 0.0)
    vol = np.where(np.arange(days) >= start, vr, 1.0)
    return {"drawdown": drawdown, "vol_ratio": vol}


def test_market_coupling_moves_volume_tickets_declines_and_fraud():
    days, start = 28, 14
    market = _stress_market(days, start)
    s = generate_transactions("cards", customers=5000, days=days, seed=4, market=market, fraud_scale=10)
    df = pa.Table.from_batches(list(s)).to_pandas()
    calm, stress = df[df["day"] < start], df[df["day"] >= start]
    legit_c, legit_s = calm[~calm["is_fraud"]], stress[~stress["is_fraud"]]
    e = get_profile("cards").elasticities
    # volume: the documented direction and size (expected from the intensities, Poisson tolerance)
    exp_c = sum(s.ctx.expected_window(d, h).sum() for d in range(start) for h in range(24))
    exp_s = sum(s.ctx.expected_window(d, h).sum() for d in range(start, days) for h in range(24))
    assert exp_s < exp_c
    assert abs(len(legit_s) - exp_s) < 5 * math.sqrt(exp_s)
    assert abs(len(legit_c) - exp_c) < 5 * math.sqrt(exp_c)
    # ticket size: log-amount shift = ticket_drawdown * dd (+ vol term) within sampling error, same category mix
    shift = np.log(legit_s["amount"]).groupby(legit_s["category"], observed=True).mean() \
        - np.log(legit_c["amount"]).groupby(legit_c["category"], observed=True).mean()
    big = legit_c["category"].value_counts().index[:5]
    expected_shift = e.ticket_drawdown * 0.3 + e.ticket_vol * math.log(2.0)
    assert shift[big].mean() == pytest.approx(expected_shift, abs=0.05)
    assert legit_s["declined"].mean() > 1.3 * legit_c["declined"].mean()
    cases_c = calm["case_id"].nunique()
    cases_s = stress["case_id"].nunique()
    assert cases_s > 1.5 * cases_c
    # a positive volume elasticity reverses the volume direction
    up = generate_transactions("cards", customers=5000, days=days, seed=4, market=market, fraud_scale=0.0,
                               elasticities={"volume_drawdown": 1.0, "volume_vol": 0.0})
    exp_up = sum(up.ctx.expected_window(d, h).sum() for d in range(start, days) for h in range(24))
    assert exp_up > exp_c


def test_market_state_from_returns_closed_forms():
    n_paths, horizon = 400, 60
    r = np.zeros((n_paths, horizon, 2))
    r[:, 10:20, :] = -1.0  # -1 % log return a day on both assets for 10 days
    state = market_state_from_returns(r)
    expected = 1 - np.exp(-0.01 * np.clip(np.arange(horizon) - 9, 0, 10))
    np.testing.assert_allclose(state["drawdown"].to_numpy(), expected, atol=1e-12)
    rng = np.random.default_rng(0)
    sd = np.where(np.arange(horizon) < 30, 1.0, 2.0)
    r = rng.standard_normal((4000, horizon, 1)) * sd[None, :, None]
    st = market_state_from_returns(r, calm_vol=1.0, smooth_days=1)
    vr = st["vol_ratio"].to_numpy()
    # MAD-based scale of 4000 normals: relative se ~ 1.166 / sqrt(2 * 4000); 5 se over 60 days
    tol = 5 * 1.166 / math.sqrt(8000)
    assert np.abs(vr[:30] - 1).max() < tol
    assert np.abs(vr[30:] / 2 - 1).max() < tol
    # a few exploding paths move neither the median drawdown nor the robust volatility much
    wild = r.copy()
    wild[:20, 45, 0] = 5e4
    np.testing.assert_allclose(market_state_from_returns(wild, calm_vol=1.0, smooth_days=1)["vol_ratio"], vr,
                               rtol=0.03)
    auto = market_state_from_returns(r, smooth_days=5)["vol_ratio"].to_numpy()
    assert auto.min() == pytest.approx(1.0) and auto[40:].mean() == pytest.approx(2.0, rel=0.05)
    w = market_state_from_returns(np.stack([r[..., 0], np.zeros_like(r[..., 0])], -1), weights=[1, 0])
    np.testing.assert_allclose(w["drawdown"], market_state_from_returns(r)["drawdown"])
    with pytest.raises(ValueError, match="weights has 3 values"):
        market_state_from_returns(r, weights=[1, 1, 1])
    with pytest.raises(ValueError, match="shape"):
        market_state_from_returns(np.zeros(5))


# ---------------------------------------------------------------------- learnability and leakage
def card_features(df: pd.DataFrame) -> pd.DataFrame:
    """Features a fraud team computes from history (no label columns, no identifiers)."""
    df = df.sort_values("txn_id")
    home = df.groupby(["customer_id", "region"]).size().groupby(level=0).idxmax().str[1]
    dev = df["device_id"].fillna(-1).astype(np.int64)
    new_dev = (~pd.Series(list(zip(df["customer_id"], dev)), index=df.index).duplicated()) & (dev >= 0)
    t = df["ts"].astype("int64") // 10**9
    g = t.groupby(df["card_id"])
    gap = (t - g.shift(1)).fillna(1e6).clip(upper=1e6)
    burst = ((t - g.shift(3)) < 3600).fillna(False)
    return pd.DataFrame({
        "log_amount": np.log1p(df["amount"]), "online": (df["channel"] == "online").astype(float),
        "atm": (df["channel"] == "atm").astype(float), "away": (df["region"] != df["customer_id"].map(home)).astype(float),
        "new_device": new_dev.astype(float), "burst": burst.astype(float), "log_gap": np.log1p(gap),
        "night": (df["ts"].dt.hour < 6).astype(float), "declined": df["declined"].astype(float),
        "micro": (df["amount"] < 5).astype(float),
    })


def _auc(df):
    pytest.importorskip("sklearn")
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    X, y = card_features(df), df.sort_values("txn_id")["is_fraud"].to_numpy()
    day = df.sort_values("txn_id")["day"].to_numpy()
    tr, te = day < 20, day >= 20
    clf = LogisticRegression(max_iter=2000).fit(X[tr], y[tr])
    return roc_auc_score(y[te], clf.predict_proba(X[te])[:, 1])


def test_simple_classifier_detects_fraud_but_not_perfectly(cards_df):
    auc = _auc(cards_df)
    assert 0.75 < auc < 0.99, auc
    hard = feed("cards", customers=3000, days=30, seed=11, fraud_scale=10, overlap=0.9)
    assert _auc(hard) < auc - 0.05


def test_no_label_leak_through_identifiers_or_amounts(cards_df):
    from simulator.transactions.audit import rank_auc as roc_auc_score

    df = cards_df
    y = df["is_fraud"].to_numpy()
    n1 = y.sum()
    se = math.sqrt((len(y) + 1) / (12 * n1 * (len(y) - n1)))  # sd of the AUC of an uninformative score
    for col in ("customer_id", "card_id"):
        auc = roc_auc_score(y, df[col].to_numpy())
        assert abs(auc - 0.5) < 5 * se + 0.01, (col, auc)
    # identifiers of fraudulent activity come from the same space as everyone else's
    assert df["txn_id"].is_monotonic_increasing
    assert (df.loc[df["is_fraud"], "customer_id"].isin(set(df.loc[~df["is_fraud"], "customer_id"]))).mean() > 0.99
    # no amount value is a fraud marker
    counts = df.groupby("amount")["is_fraud"].agg(["mean", "size"])
    assert counts.loc[counts["size"] >= 20, "mean"].max() < 0.5
    assert df.loc[df["is_fraud"], "amount"].nunique() > 0.5 * n1


def test_balances_consistent_for_every_row(mobile_clear):
    """Balances follow one rule for every row: no PaySim-style leak through inconsistent balances."""
    df = mobile_clear.sort_values("txn_id")
    orig = pd.DataFrame({"acct": df["customer_id"], "txn": df["txn_id"], "before": df["balance_orig_before"],
                         "after": df["balance_orig_after"], "fraud": df["is_fraud"]})
    is_dest = df["balance_dest_before"].notna()
    dest = pd.DataFrame({"acct": df.loc[is_dest, "dest_id"], "txn": df.loc[is_dest, "txn_id"],
                         "before": df.loc[is_dest, "balance_dest_before"],
                         "after": df.loc[is_dest, "balance_dest_after"], "fraud": df.loc[is_dest, "is_fraud"]})
    ev = pd.concat([orig, dest]).sort_values(["acct", "txn"])
    prev_after = ev.groupby("acct")["after"].shift(1)
    ok = prev_after.isna() | np.isclose(ev["before"], prev_after, atol=0.006)
    assert ok.all()
    assert (ev["after"] >= -1e-9).all()
    out = df[df["type"].isin(["CASH_OUT", "TRANSFER"]) & ~df["declined"]]
    drained = out["amount"] == out["balance_orig_before"]
    assert drained.sum() > 0
    # emptying the wallet is ordinary behaviour too: it does not reveal fraud (issue 18 defect 1: every
    # fraud CASH_OUT emptied the wallet, 2.9 % of legitimate ones did)
    assert out.loc[drained, "is_fraud"].mean() < 2 * out["is_fraud"].mean()


# ---------------------------------------------------------------------- kernels and validation
def test_balance_kernel_matches_python():
    from simulator.transactions._kernels import apply_balances, apply_balances_python

    rng = np.random.default_rng(1)
    n, k = 3000, 50
    cat = rng.integers(0, 6, n).astype(np.int16)
    cust = rng.integers(0, k, n)
    dest = np.where(cat == 4, (cust + 1 + rng.integers(0, k - 1, n)) % k, -1)
    amode = rng.choice([0, 1, 2, 4], n, p=[0.7, 0.1, 0.1, 0.1]).astype(np.int8)
    amode[cat == 5] = 3
    amount = np.where((amode == 1) | (amode == 4), rng.uniform(0.1, 1, n), np.round(rng.lognormal(4, 1, n), 2))
    pre = (rng.random(n) < 0.05) & (cat != 5)  # deposits are never declined by risk rules
    target = np.full(k, 400.0)
    outs = []
    for fn in (apply_balances, apply_balances_python):
        bal = np.full(k, 500.0)
        last_in = np.zeros(k)
        arrs = [np.empty(n), np.empty(n, bool), np.empty(n), np.empty(n), np.empty(n), np.empty(n), np.empty(n, bool)]
        fn(cat, cust, dest, amount, amode, pre, bal, target, last_in, *arrs)
        outs.append((bal, last_in, *arrs))
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a, b)
    bal, last_in, amt, dec, ob, oa, db, da, keep = outs[0]
    dep = cat == 5
    # deposits top the wallet up to its usual balance, and do not exist when it is full
    assert np.all(keep[dep] == (np.floor((400.0 - ob[dep]) * 100) / 100 >= 1.0))
    np.testing.assert_allclose(oa[dep & keep], 400.0, atol=0.011)


def test_alias_sampling_is_exact():
    from scipy.stats import chisquare

    from simulator.transactions._kernels import build_alias
    from simulator.transactions.population import _alias_draw

    rng = np.random.default_rng(3)
    w = np.r_[rng.gamma(0.5, size=20), rng.gamma(2.0, size=7)]
    first, count = np.array([0, 20]), np.array([20, 7])
    prob, alias = np.empty(w.size), np.empty(w.size, np.int64)
    build_alias(w, first, count, prob, alias)
    for g in range(2):
        n = 400_000
        draw = _alias_draw(prob, alias, np.full(n, first[g]), np.full(n, count[g]), rng.random(n))
        obs = np.bincount(draw - first[g], minlength=count[g])
        p = w[first[g]:first[g] + count[g]] / w[first[g]:first[g] + count[g]].sum()
        assert chisquare(obs, n * p).pvalue > 1e-4


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="unknown transaction profile 'atm'.*cards"):
        generate_transactions("atm")
    with pytest.raises(TypeError, match="unknown knob.*fraud_rate"):
        generate_transactions("cards", fraud_rate=0.1)
    with pytest.raises(ValueError, match="do not apply to profile 'cards'"):
        generate_transactions("cards", fraud_rates={"fan_in": 0.1})
    with pytest.raises(ValueError, match="customers must be >= 1"):
        generate_transactions("cards", customers=0)
    with pytest.raises(TypeError, match="days must be an integer"):
        generate_transactions("cards", days=2.5)
    with pytest.raises(ValueError, match="given together"):
        generate_transactions("cards", scenario="covid")
    with pytest.raises(ValueError, match="drawdown.*day 1"):
        generate_transactions("cards", days=3, market={"drawdown": [0, -0.1, 0], "vol_ratio": [1, 1, 1]})
    with pytest.raises(ValueError, match="has 2 days but the feed needs 3"):
        generate_transactions("cards", days=3, market={"drawdown": [0, 0], "vol_ratio": [1, 1]})
    with pytest.raises(ValueError, match="missing column 'vol_ratio'"):
        generate_transactions("cards", days=1, market={"drawdown": [0]})
    with pytest.raises(ValueError, match="overlap"):
        generate_transactions("cards", overlap=1.5)
    with pytest.raises(ValueError, match="seed must be a non-negative"):
        generate_transactions("cards", seed=-1)
    with pytest.raises(ValueError, match="start must be an ISO date"):
        generate_transactions("cards", start="yesterday")


def test_profile_json_round_trip():
    from simulator.transactions import TransactionProfile

    for name in ("cards", "mobile-money"):
        p = get_profile(name)
        q = TransactionProfile.from_json(p.to_json())
        assert q == p
    with pytest.raises(ValueError, match="unknown transaction profile keys"):
        TransactionProfile.from_dict({**get_profile("cards").to_dict(), "colour": 1})
    assert set(get_profile("cards").fraud.rates) == set(CARD_TYPOLOGIES)
