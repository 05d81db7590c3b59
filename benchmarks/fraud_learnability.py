"""Benchmark: how learnable is the fraud in a generated feed? (docs/transactions.md, "Learnability")

For each profile and class-overlap setting, generates a feed, computes a fixed set of features a fraud
team would compute from history (no label columns, no identifiers), trains scikit-learn's
``HistGradientBoostingClassifier`` on the first two thirds of the days and scores the last third
(temporal split), and reports ROC AUC and average precision (PR AUC) overall and per typology (the
typology's test rows against the legitimate test rows), plus the same model on trivial features
(amount, hour, channel/type, category) as a floor. A change to the generator that moves these figures
changes how learnable the feed is.

Features (cards): log amount, hour, weekday, channel, MCC, card-present flags, per-card counts in the
previous 1 h and 24 h, log gap since the card's previous row, amount over the card's running mean,
first time the customer uses this device / terminal / merchant, away from the customer's most common
region so far, declined. Mobile money: log amount, hour, type, per-account counts in 1 h / 24 h, log
gap, amount over the running mean, first use of the device and of the counterparty, amount over the
balance before, balance after, destination balance before, declined.

Usage::

    python benchmarks/fraud_learnability.py            # full sizes -> benchmarks/results/fraud_learnability.json
    python benchmarks/fraud_learnability.py --quick    # small sizes (fraud_learnability-quick.json)
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def _velocity(entity: np.ndarray, t: np.ndarray, window: float) -> np.ndarray:
    """Rows of the same entity in the ``window`` seconds before each row (rows sorted by time)."""
    order = np.lexsort((t, entity))
    ent_rank = np.unique(entity[order], return_inverse=True)[1].astype(np.float64)
    key = ent_rank * 1e12 + t[order]
    first = np.searchsorted(key, key - window, side="left")
    counts = np.empty(t.size)
    counts[order] = np.arange(t.size) - first
    return counts


def _history(df: pd.DataFrame, entity: str) -> pd.DataFrame:
    t = df["ts"].astype("int64").to_numpy() / 1e9
    ent = df[entity].to_numpy()
    g = df.groupby(entity, sort=False)
    prev_t = g["ts"].shift(1).astype("int64").where(g["ts"].shift(1).notna()) / 1e9
    gap = np.log1p(np.clip(t - prev_t.to_numpy(dtype=float), 0, 1e7))
    gap = np.where(np.isnan(gap), np.log1p(1e7), gap)
    csum = g["amount"].cumsum() - df["amount"]
    cnt = g.cumcount()
    run_mean = (csum / cnt.where(cnt > 0)).to_numpy(dtype=float)
    rel = np.where(np.isnan(run_mean), 1.0, df["amount"].to_numpy() / np.maximum(run_mean, 0.01))
    return pd.DataFrame({"n_1h": _velocity(ent, t, 3600.0), "n_24h": _velocity(ent, t, 86_400.0), "log_gap": gap,
                         "amount_vs_mean": np.log1p(rel), "n_before": cnt.to_numpy()}, index=df.index)


def _first_use(df: pd.DataFrame, who: str, what: str) -> np.ndarray:
    v = df[what]
    ok = v.notna().to_numpy()
    key = pd.Series(list(zip(df[who], v.fillna(-1))), index=df.index)
    return (ok & ~key.duplicated().to_numpy()).astype(float)


def card_features(df: pd.DataFrame, trivial: bool = False) -> pd.DataFrame:
    df = df.sort_values("txn_id").reset_index(drop=True)
    out = pd.DataFrame({"log_amount": np.log1p(df["amount"]), "hour": df["ts"].dt.hour,
                        "online": (df["channel"] == "online").astype(float),
                        "atm": (df["channel"] == "atm").astype(float), "mcc": df["mcc"].astype(float)})
    if trivial:
        return out
    h = _history(df, "card_id")
    out = pd.concat([out, h.drop(columns="n_before")], axis=1)
    out["weekday"] = df["ts"].dt.day_of_week
    out["new_device"] = _first_use(df, "customer_id", "device_id")
    out["new_terminal"] = _first_use(df, "customer_id", "terminal_id")
    out["new_merchant"] = _first_use(df, "customer_id", "merchant_id")
    # most common region of the customer so far (expanding mode approximated by the first region seen)
    first_region = df.groupby("customer_id")["region"].transform("first")
    out["away"] = (df["region"] != first_region).astype(float)
    out["declined"] = df["declined"].astype(float)
    return out


def mobile_features(df: pd.DataFrame, trivial: bool = False) -> pd.DataFrame:
    df = df.sort_values("txn_id").reset_index(drop=True)
    types = ["CASH_IN", "CASH_OUT", "DEBIT", "PAYMENT", "TRANSFER", "DEPOSIT"]
    out = pd.DataFrame({"log_amount": np.log1p(df["amount"]), "hour": df["ts"].dt.hour,
                        "type": pd.Categorical(df["type"].astype(str), categories=types).codes.astype(float)})
    if trivial:
        return out
    h = _history(df, "customer_id")
    out = pd.concat([out, h.drop(columns="n_before")], axis=1)
    out["new_device"] = _first_use(df, "customer_id", "device_id")
    out["new_counterparty"] = _first_use(df, "customer_id", "dest_id")
    before = df["balance_orig_before"].to_numpy()
    out["amount_vs_balance"] = np.where(before > 0, df["amount"].to_numpy() / np.maximum(before, 0.01), 10.0)
    out["log_balance_after"] = np.log1p(np.maximum(df["balance_orig_after"].to_numpy(), 0))
    out["log_dest_balance"] = np.log1p(np.maximum(df["balance_dest_before"].fillna(-1).to_numpy(), 0))
    out["declined"] = df["declined"].astype(float)
    return out


def evaluate(df: pd.DataFrame, features, seed: int = 0) -> dict:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import average_precision_score, roc_auc_score

    df = df.sort_values("txn_id").reset_index(drop=True)
    X = features(df)
    y = df["is_fraud"].to_numpy()
    day = df["day"].to_numpy()
    cut = int(np.ceil(day.max() * 2 / 3))
    tr, te = day < cut, day >= cut
    clf = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, random_state=seed)
    clf.fit(X[tr], y[tr])
    s = clf.predict_proba(X[te])[:, 1]
    yt = y[te]
    res = {"roc": float(roc_auc_score(yt, s)), "pr": float(average_precision_score(yt, s)),
           "base_rate": float(yt.mean()), "test_rows": int(te.sum()), "test_fraud_rows": int(yt.sum()),
           "per_typology": {}}
    ft = df.loc[te, "fraud_type"].astype(object).to_numpy()
    for t in sorted({x for x in ft if isinstance(x, str)}):
        m = (ft == t) | ~yt
        pos = int((ft == t).sum())
        if pos < 20:
            continue
        res["per_typology"][t] = {"roc": float(roc_auc_score(ft[m] == t, s[m])),
                                  "pr": float(average_precision_score(ft[m] == t, s[m])), "rows": pos,
                                  "cases": int(df.loc[te].loc[ft == t, "case_id"].nunique())}
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes for smoke testing")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    import pyarrow as pa

    from simulator.transactions import generate_transactions

    sizes = {"cards": (5_000, 21, 10.0), "mobile-money": (5_000, 21, 25.0)} if args.quick else \
        {"cards": (40_000, 30, 5.0), "mobile-money": (40_000, 30, 10.0)}
    overlaps = (0.0, 0.3, 0.9)
    results = {"machine": {"platform": platform.platform(), "python": platform.python_version()},
               "split": "train on the first two thirds of the days, test on the last third",
               "model": "sklearn HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1)", "runs": []}
    print(f"{'profile':<13}{'overlap':>8}{'features':>10}{'rows':>10}{'fraud %':>9}{'ROC':>8}{'PR':>8}   per typology ROC/PR")
    for profile, (customers, days, scale) in sizes.items():
        feats = card_features if profile == "cards" else mobile_features
        for overlap in overlaps:
            t0 = time.perf_counter()
            df = pa.Table.from_batches(list(generate_transactions(
                profile, customers=customers, days=days, seed=args.seed, fraud_scale=scale, overlap=overlap))).to_pandas()
            for kind in ("engineered", "trivial"):
                fn = feats if kind == "engineered" else (lambda d, f=feats: f(d, trivial=True))
                r = evaluate(df, fn)
                r.update({"profile": profile, "overlap": overlap, "features": kind, "customers": customers,
                          "days": days, "fraud_scale": scale, "rows": int(len(df)),
                          "fraud_share": float(df["is_fraud"].mean()), "seconds": time.perf_counter() - t0})
                results["runs"].append(r)
                per = ", ".join(f"{k} {v['roc']:.2f}/{v['pr']:.2f}" for k, v in r["per_typology"].items())
                print(f"{profile:<13}{overlap:>8.1f}{kind:>10}{len(df):>10,}{100 * r['fraud_share']:>8.2f}%"
                      f"{r['roc']:>8.3f}{r['pr']:>8.3f}   {per if kind == 'engineered' else ''}")
    out = REPO / "benchmarks" / "results" / ("fraud_learnability-quick.json" if args.quick else "fraud_learnability.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
