"""Privacy and fairness checks for synthetic transaction feeds (NumPy and SciPy only: no scikit-learn,
so ``stress-sim validate-transactions`` works on a plain install).

Privacy (for a profile calibrated on real rows): the synthetic rows are compared with the real rows the
profile was fitted on (``real``, the members) and with real rows held out of the fit (``holdout``).
Every comparison is invariant to shifting time by whole days and to renaming nothing else, so a copy
of the real rows moved in time is caught:

* **exact matches**: share of synthetic rows equal to a real row on (category, hour of day, amount in
  cents), against the same share for held-out rows (chance collisions happen: small amounts repeat);
* **sequences**: share of an account's runs of three consecutive (category, amount) rows that occur
  in the real data, against held-out rows (needs an account column, ``customer_id``);
* **counterparties**: share of (account, counterparty) pairs (``customer_id``, ``dest_id``) that
  occur in the real data, and of accounts whose identifier occurs there, against held-out rows;
* **balances**: share of (balance before, amount) pairs in cents that occur in the real data
  (mobile money), against held-out rows;
* **distance to closest record (DCR)**: distance from each synthetic row to its nearest real row,
  compared with the same distance for held-out rows (``dcr_ratio = median DCR(synthetic) / median
  DCR(holdout)``; memorising data sits much closer);
* **membership-inference AUC**: an attacker scores each real row by minus its distance to the nearest
  synthetic row and tries to tell members (``real``) from non-members (``holdout``); about 0.5 means
  the synthetic data does not reveal who was in the fitting set.

A match share is flagged when it exceeds the held-out rows' share by more than 1 percentage point and
3 standard errors. Rows are embedded as (one-hot category, hour of day on the unit circle,
standardised log1p(amount), and standardised log1p(balance before) when both sides have it); nearest
neighbours come from ``scipy.spatial.cKDTree`` and the AUC from ranks.

Fairness: fraud-case rates and key feature distributions by customer segment, compared with the
segment effects the profile configures (activity, amount scale, online multiplier, fraud multiplier);
any other significant segment effect is flagged.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["privacy_report", "fairness_report", "embed_rows", "leak_audit"]

_CAT_COLS = ("category", "type", "action")


def leak_audit(feed, **kwargs) -> dict:
    """The feed's leak audit (:func:`simulator.transactions.audit.leak_audit`)."""
    from simulator.transactions.audit import leak_audit as _audit

    return _audit(feed, **kwargs)


def _cat_col(df: pd.DataFrame, where: str) -> str:
    for c in _CAT_COLS:
        if c in df.columns:
            return c
    raise ValueError(f"{where}: no category column; expected one of {list(_CAT_COLS)}, got {list(df.columns)}")


def _steps(df: pd.DataFrame, where: str) -> np.ndarray:
    if "step" in df.columns:
        return df["step"].to_numpy(dtype=np.int64)
    if "ts" in df.columns:
        ts = pd.to_datetime(df["ts"], utc=True)
        return ((ts - ts.min().normalize()) // pd.Timedelta(hours=1)).to_numpy(dtype=np.int64)
    raise ValueError(f"{where}: rows need a 'step' or 'ts' column, got {list(df.columns)}")


def _frame(df: pd.DataFrame, where: str) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{where} must be a pandas DataFrame, got {type(df).__name__}")
    if df.empty:
        raise ValueError(f"{where} is empty")
    if "amount" not in df.columns:
        raise ValueError(f"{where}: rows need an 'amount' column, got {list(df.columns)}")
    amount = pd.to_numeric(df["amount"], errors="coerce").to_numpy(dtype=float)
    if not np.all(np.isfinite(amount)):
        raise ValueError(f"{where}: column 'amount' has missing or non-numeric values")
    out = pd.DataFrame({"category": df[_cat_col(df, where)].astype(str).to_numpy(), "step": _steps(df, where),
                        "amount": amount})
    if "ts" in df.columns:
        out["order"] = pd.to_datetime(df["ts"], utc=True).astype("int64").to_numpy()
    else:
        out["order"] = out["step"].to_numpy()
    for col in ("customer_id", "dest_id", "balance_orig_before"):
        if col in df.columns:
            out[col] = df[col].to_numpy()
    return out


def embed_rows(frames: list[pd.DataFrame], categories: list[str]) -> list[np.ndarray]:
    """Embed normalised row frames in a common, time-shift-invariant feature space (module docstring)."""
    la = np.concatenate([np.log1p(np.maximum(f["amount"].to_numpy(), 0)) for f in frames])
    mu, sd = la.mean(), la.std() or 1.0
    with_bal = all("balance_orig_before" in f.columns for f in frames)
    if with_bal:
        lb = np.concatenate([np.log1p(np.maximum(np.nan_to_num(f["balance_orig_before"].to_numpy(dtype=float)), 0))
                             for f in frames])
        mb, sb = lb.mean(), lb.std() or 1.0
    out = []
    for f in frames:
        cat = pd.Categorical(f["category"], categories=categories).codes
        onehot = np.zeros((len(f), len(categories)))
        onehot[np.arange(len(f)), cat] = 1.0
        hour = (f["step"].to_numpy() % 24) * (2 * np.pi / 24)
        cols = [onehot, np.cos(hour), np.sin(hour), (np.log1p(np.maximum(f["amount"].to_numpy(), 0)) - mu) / sd]
        if with_bal:
            b = np.log1p(np.maximum(np.nan_to_num(f["balance_orig_before"].to_numpy(dtype=float)), 0))
            cols.append((b - mb) / sb)
        out.append(np.column_stack(cols))
    return out


def _cents(x) -> np.ndarray:
    return np.round(np.asarray(x, dtype=float) * 100.0).astype(np.int64)


def _row_keys(f: pd.DataFrame) -> pd.Series:
    return pd.Series(list(zip(f["category"], f["step"].to_numpy() % 24, _cents(f["amount"]))))


def _seq_keys(f: pd.DataFrame) -> pd.Series:
    """Runs of three consecutive (category, amount) rows of each account, in time order."""
    g = f.sort_values(["customer_id", "order"], kind="stable")
    key = list(zip(g["category"], _cents(g["amount"])))
    acct = g["customer_id"].to_numpy()
    same = (acct[2:] == acct[1:-1]) & (acct[1:-1] == acct[:-2]) if len(g) >= 3 else np.zeros(0, bool)
    trip = [(key[i], key[i + 1], key[i + 2]) for i in np.flatnonzero(same)]
    return pd.Series(trip, dtype=object)


def _share_in(keys: pd.Series, ref: set) -> float:
    return float(np.mean([k in ref for k in keys])) if len(keys) else 0.0


def _match(name: str, syn_keys: pd.Series, hold_keys: pd.Series, real_keys: set, flags: list) -> dict:
    s = _share_in(syn_keys, real_keys)
    h = _share_in(hold_keys, real_keys)
    n_s, n_h = max(len(syn_keys), 1), max(len(hold_keys), 1)
    p = (s * n_s + h * n_h) / (n_s + n_h)
    se = math.sqrt(max(p * (1 - p), 1e-12) * (1 / n_s + 1 / n_h))
    flagged = len(syn_keys) > 0 and s - h > max(0.01, 3 * se)
    if flagged:
        flags.append(f"{name}: {s:.2%} of synthetic ones occur in the real rows against {h:.2%} of held-out "
                     "ones: the feed copies real data")
    return {"synthetic": s, "holdout": h, "excess": s - h, "n_synthetic": int(len(syn_keys)),
            "n_holdout": int(len(hold_keys)), "flagged": bool(flagged)}


def privacy_report(real: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame, *,
                   max_rows: int = 20_000, seed=0, mia_auc_max: float = 0.6, dcr_ratio_min: float = 0.8) -> dict:
    """Exact, sequence, counterparty and balance matches, distance to closest record and
    membership-inference AUC (see the module docstring).

    Parameters
    ----------
    real : pandas.DataFrame
        The real rows the profile was fitted on (category|type|action, step or ts, amount; optional
        customer_id, dest_id, balance_orig_before).
    synthetic : pandas.DataFrame
        Synthetic rows (same columns; a feed's ``type``/``category``, ``step``/``ts``, ``amount``, ...).
    holdout : pandas.DataFrame
        Real rows of the same population not used in the fit.
    max_rows : int
        Rows sampled from each table for the distance computations.
    mia_auc_max, dcr_ratio_min : float
        Pass thresholds.

    Returns
    -------
    dict
        ``exact_match_rate`` (and ``holdout_exact_match_rate``), ``matches`` (per kind: shares for the
        synthetic and held-out rows, excess, flagged), ``dcr_synthetic_median``, ``dcr_holdout_median``,
        ``dcr_ratio``, ``share_closer_than_holdout_p5``, ``mia_auc``, ``passed``, ``flags``, ``n_*``.
    """
    from scipy.spatial import cKDTree

    from simulator.transactions.audit import rank_auc

    r = _frame(real, "real")
    s = _frame(synthetic, "synthetic")
    h = _frame(holdout, "holdout")
    rng = np.random.default_rng(seed)
    flags: list[str] = []
    matches = {"rows": _match("rows (category, hour of day, amount)", _row_keys(s), _row_keys(h),
                              set(_row_keys(r)), flags)}
    if all("customer_id" in f.columns for f in (r, s, h)):
        matches["sequences"] = _match("runs of three consecutive rows of an account", _seq_keys(s), _seq_keys(h),
                                      set(_seq_keys(r)), flags)
        matches["accounts"] = _match("account identifiers", pd.Series(s["customer_id"].unique()),
                                     pd.Series(h["customer_id"].unique()), set(r["customer_id"].unique()), flags)
        if all("dest_id" in f.columns for f in (r, s, h)):
            pairs = lambda f: pd.Series(list(zip(f["customer_id"], f["dest_id"]))).drop_duplicates()  # noqa: E731
            matches["counterparties"] = _match("(account, counterparty) pairs", pairs(s), pairs(h), set(pairs(r)),
                                               flags)
    if all("balance_orig_before" in f.columns for f in (r, s, h)):
        bal = lambda f: pd.Series(list(zip(_cents(np.nan_to_num(f["balance_orig_before"].to_numpy(dtype=float))),  # noqa: E731
                                           _cents(f["amount"]))))
        matches["balances"] = _match("(balance before, amount) pairs", bal(s), bal(h), set(bal(r)), flags)

    def sample(f):
        return f.iloc[rng.choice(len(f), size=min(len(f), max_rows), replace=False)].reset_index(drop=True)

    rs, ss, hs = sample(r), sample(s), sample(h)
    cats = sorted(set(rs["category"]) | set(ss["category"]) | set(hs["category"]))
    xr, xs, xh = embed_rows([rs, ss, hs], cats)
    tree_real = cKDTree(xr)
    dcr_s = tree_real.query(xs, k=1)[0]
    dcr_h = tree_real.query(xh, k=1)[0]
    p5 = float(np.quantile(dcr_h, 0.05))
    med_h = float(np.median(dcr_h))
    med_s = float(np.median(dcr_s))
    ratio = float(med_s / med_h) if med_h > 0 else (1.0 if med_s == 0 else float("inf"))
    tree_syn = cKDTree(xs)
    d_members = tree_syn.query(xr, k=1)[0]
    d_non = tree_syn.query(xh, k=1)[0]
    y = np.r_[np.ones(d_members.size, bool), np.zeros(d_non.size, bool)]
    auc = rank_auc(y, -np.r_[d_members, d_non])
    if ratio < dcr_ratio_min:
        flags.append(f"synthetic rows are closer to the real rows than held-out real rows are "
                     f"(median DCR ratio {ratio:.3f} < {dcr_ratio_min})")
    if auc > mia_auc_max:
        flags.append(f"membership-inference AUC {auc:.3f} > {mia_auc_max}: the feed reveals who was in the fit")
    return {
        "exact_match_rate": matches["rows"]["synthetic"], "holdout_exact_match_rate": matches["rows"]["holdout"],
        "matches": matches, "dcr_synthetic_median": med_s, "dcr_holdout_median": med_h,
        "dcr_ratio": ratio, "share_closer_than_holdout_p5": float(np.mean(dcr_s < p5)), "mia_auc": auc,
        "n_real": len(r), "n_synthetic": len(s), "n_holdout": len(h), "passed": not flags, "flags": flags,
    }


# ---------------------------------------------------------------------- fairness
# typologies whose first row belongs to the customer drawn by the configured case rate (others start
# with a skimmed card, a breached merchant, an attacked BIN, or a mule's deposit)
_RATE_DRIVEN = {"card_testing", "account_takeover", "lost_stolen", "bust_out", "fan_out", "cycle", "scatter_gather",
                "random_walk"}


def _z_crit(alpha: float, m: int) -> float:
    from scipy.stats import norm

    return float(norm.isf(alpha / (2 * max(m, 1))))


def fairness_report(feed: pd.DataFrame, profile, *, days: int | None = None, alpha: float = 1e-3,
                    min_effect: float = 0.05) -> dict:
    """Segment effects in a feed vs those configured in ``profile``.

    Checks (each a test at level ``alpha``, Bonferroni-corrected over segments / categories, and a
    practical-size threshold ``min_effect`` so that huge feeds do not flag negligible effects):

    * fraud cases per customer-day by segment (rate-driven typologies), against the configured
      ``fraud_multiplier`` (exposure: customers x the segment's configured activity): chi-square test
      of the case counts against their expected split;
    * legitimate decline rate by segment (no segment effect is configured): chi-square test (mobile
      money: declines for insufficient funds excluded, they follow the configured activity);
    * amount level: mean of ``log(amount) - log(amount_scale)`` of legitimate rows per category and
      segment against the category's mean (z test with a variance robust to the clustering of rows
      by customer, effect in log points);
    * cards: online share per category and segment against ``online_share * online_multiplier``.

    Parameters
    ----------
    feed : pandas.DataFrame
        The feed (``customer_id``, ``segment``, ``amount``, ``declined``, ``is_fraud``, ``fraud_type``,
        ``case_id``, ``ts``, and ``category`` + ``channel`` or ``type``).
    profile : TransactionProfile
        The profile the feed was generated with (its configured segment effects).
    days : int, optional
        Horizon in days (default: from ``ts``).

    Returns
    -------
    dict
        ``segments`` (per-segment table as a list of dicts), ``tests`` (name, statistic, p-value or z,
        flagged), ``flags`` (messages), ``passed``.
    """
    from scipy.stats import chi2

    need = {"customer_id", "segment", "amount", "declined", "is_fraud", "fraud_type", "case_id", "ts"}
    missing = sorted(need - set(feed.columns))
    if missing:
        raise ValueError(f"fairness_report: the feed lacks columns {missing}")
    segs = {s.name: s for s in profile.segments}
    seg = feed["segment"].astype(str)
    unknown = sorted(set(seg) - set(segs))
    if unknown:
        raise ValueError(f"fairness_report: segments {unknown} are not in profile {profile.name!r} "
                         f"({', '.join(segs)})")
    if days is None:
        ts = pd.to_datetime(feed["ts"], utc=True)
        days = max(1, int(math.ceil((ts.max() - ts.min().normalize()) / pd.Timedelta(days=1))))
    names = [s for s in segs if (seg == s).any()]
    n_cust = feed.groupby(seg, observed=True)["customer_id"].nunique().reindex(names).to_numpy(dtype=float)
    tests, flags = [], []
    # --- fraud case rates (case owner = customer of the case's first row)
    fr = feed[feed["is_fraud"].to_numpy(dtype=bool)]
    fr = fr[fr["fraud_type"].astype(str).isin(_RATE_DRIVEN)]
    owners = fr.sort_values("ts").groupby("case_id", observed=True).first()
    cases = owners["segment"].astype(str).value_counts().reindex(names, fill_value=0).to_numpy(dtype=float)
    mult = np.array([segs[s].fraud_multiplier for s in names])
    # exposure grows with the configured activity (a customer's case rate is proportional to it)
    expo = n_cust * np.array([segs[s].activity for s in names])
    table = []
    if cases.sum() > 0 and len(names) > 1:
        expected = cases.sum() * expo * mult / np.sum(expo * mult)
        ok = expected > 0
        stat = float(np.sum((cases[ok] - expected[ok]) ** 2 / expected[ok]))
        p = float(chi2.sf(stat, ok.sum() - 1))
        rate = cases / np.maximum(expo * days, 1)
        base = cases.sum() / np.sum(expo * mult) / days
        rel = rate / (base * np.where(mult > 0, mult, 1))
        flagged = p < alpha and np.max(np.abs(rel - 1)[ok]) > min_effect
        tests.append({"test": "fraud case rate by segment (vs configured fraud_multiplier)", "chi2": stat,
                      "p_value": p, "flagged": bool(flagged)})
        if flagged:
            worst = names[int(np.argmax(np.abs(rel - 1)))]
            flags.append(f"fraud case rate differs by segment beyond the configured multipliers "
                         f"(chi2 p = {p:.2e}; segment {worst!r} at {rel[names.index(worst)]:.2f}x configured)")
    # --- decline rate of legitimate rows (mobile money: declines for insufficient funds follow the wallet
    # state, itself driven by the configured activity, so only the other declines are tested)
    legit = feed[~feed["is_fraud"].to_numpy(dtype=bool)]
    if "balance_orig_before" in legit.columns:
        funds = legit["declined"].to_numpy(dtype=bool) & (legit["amount"].to_numpy() > legit["balance_orig_before"].to_numpy())
        legit = legit.assign(declined=legit["declined"].to_numpy(dtype=bool) & ~funds)
    lseg = legit["segment"].astype(str)
    dec = legit.groupby(lseg, observed=True)["declined"].agg(["sum", "count"]).reindex(names).fillna(0)
    if len(names) > 1 and dec["sum"].sum() > 0:
        k, n = dec["sum"].to_numpy(float), dec["count"].to_numpy(float)
        p_all = k.sum() / n.sum()
        exp1, exp0 = n * p_all, n * (1 - p_all)
        stat = float(np.sum((k - exp1) ** 2 / np.maximum(exp1, 1e-12) + ((n - k) - exp0) ** 2 / np.maximum(exp0, 1e-12)))
        p = float(chi2.sf(stat, len(names) - 1))
        eff = np.max(np.abs(k / np.maximum(n, 1) / p_all - 1))
        flagged = p < alpha and eff > min_effect
        tests.append({"test": "legitimate decline rate by segment (none configured)", "chi2": stat, "p_value": p,
                      "flagged": bool(flagged)})
        if flagged:
            flags.append(f"decline rate differs by segment (chi2 p = {p:.2e}, up to {eff:.1%} relative); "
                         "no segment effect on declines is configured")
    # --- amount level per category
    cat_col = "category" if "category" in feed.columns else "type"
    scale = lseg.map({s: segs[s].amount_scale for s in names}).to_numpy(dtype=float)
    amt = legit["amount"].to_numpy(dtype=float)
    # amounts quantised to notes (ATM cash) are excluded: rounding up small withdrawals is a mechanical effect
    coarse = {c.name for c in profile.categories if c.round_to >= 1.0}
    # deposits (not a profile category) top wallets up to what each one lacks: not an amount law
    own = legit[cat_col].astype(str).isin({c.name for c in profile.categories}).to_numpy()
    pos = (amt > 0) & own & ~legit[cat_col].astype(str).isin(coarse).to_numpy()
    adj = pd.DataFrame({"cat": legit[cat_col].astype(str).to_numpy()[pos], "seg": lseg.to_numpy()[pos],
                        "cust": legit["customer_id"].to_numpy()[pos],
                        "x": np.log(amt[pos]) - np.log(scale[pos])})
    g = adj.groupby(["cat", "seg"], observed=True)["x"].agg(["mean", "count"]).reset_index()
    # amounts of one customer share a spending level: cluster-robust variance of the segment mean
    # (sum over customers of their summed residuals squared, over n^2)
    adj = adj.merge(g[["cat", "seg", "mean"]], on=["cat", "seg"])
    adj["r"] = adj["x"] - adj["mean"]
    clus = adj.groupby(["cat", "seg", "cust"], observed=True)["r"].sum().pow(2).groupby(level=[0, 1]).sum()
    g["var_mean"] = clus.reindex(pd.MultiIndex.from_frame(g[["cat", "seg"]])).to_numpy() / g["count"] ** 2
    overall = adj.groupby("cat", observed=True)["x"].mean()
    g = g[g["count"] >= 30]
    zc = _z_crit(alpha, max(len(g), 1))
    worst_amt = 0.0
    for _, row in g.iterrows():
        d = row["mean"] - overall[row["cat"]]
        z = d / math.sqrt(max(row["var_mean"], 1e-18))
        if abs(z) > zc and abs(d) > min_effect:
            flags.append(f"amount level of segment {row['seg']!r} in {row['cat']!r} differs by {d:+.3f} log points "
                         f"from the configured amount_scale (z = {z:.1f})")
        worst_amt = max(worst_amt, abs(d))
    tests.append({"test": "amount level by segment and category (vs configured amount_scale)",
                  "max_abs_log_effect": worst_amt, "z_crit": zc,
                  "flagged": any("amount level" in f for f in flags)})
    # --- online share (cards)
    if "channel" in feed.columns and "category" in feed.columns:
        cats = {c.name: c for c in profile.categories}
        ch = legit.assign(online=(legit["channel"].astype(str) == "online").to_numpy(),
                          seg=lseg.to_numpy(), cat=legit["category"].astype(str).to_numpy())
        og = ch.groupby(["cat", "seg"], observed=True)["online"].agg(["sum", "count"]).reset_index()
        og = og[og["count"] >= 30]
        zc = _z_crit(alpha, max(len(og), 1))
        for _, row in og.iterrows():
            c = cats.get(row["cat"])
            if c is None or row["cat"] == "atm_cash":
                continue
            p0 = min(1.0, c.online_share * segs[row["seg"]].online_multiplier)
            phat = row["sum"] / row["count"]
            se = math.sqrt(max(p0 * (1 - p0), 1e-12) / row["count"])
            z = (phat - p0) / se
            if abs(z) > zc and abs(phat - p0) > min_effect * max(p0, 0.05):
                flags.append(f"online share of segment {row['seg']!r} in {row['cat']!r} is {phat:.3f}, configured "
                             f"{p0:.3f} (z = {z:.1f})")
        tests.append({"test": "online share by segment and category (vs configured)", "z_crit": zc,
                      "flagged": any("online share" in f for f in flags)})
    for i, s in enumerate(names):
        table.append({"segment": s, "customers": int(n_cust[i]), "fraud_cases": int(cases[i]),
                      "fraud_cases_per_customer_day": float(cases[i] / max(n_cust[i] * days, 1)),
                      "configured_fraud_multiplier": float(mult[i]),
                      "legit_decline_rate": float(dec["sum"].iloc[i] / max(dec["count"].iloc[i], 1)),
                      "rows": int((seg == s).sum()), "fraud_rows": int(((seg == s) & feed["is_fraud"]).sum())})
    return {"segments": table, "tests": tests, "flags": flags, "passed": not flags, "days": days}
