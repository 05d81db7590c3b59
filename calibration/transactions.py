"""Calibrate a transaction profile from aggregates (or from rows, aggregated first).

The input is the form banks can share without personal data: one row per category x hourly step
with ``count``, ``mean`` (``avg``) and ``std`` of amounts, e.g. the PaySim aggregates in
``shared/data/paysim/aggregatedTransactions.csv``. Raw rows (``type``/``category``, ``step`` or
``ts``, ``amount``) are accepted too and reduced to that form before fitting, so the fitted profile
holds aggregates only.

What is learned, per category ``c``:

* the hourly arrival rate ``lambda_c`` with an hour-of-day profile ``H_c`` and a day-of-week profile
  ``W_c`` (both mean one): the Poisson maximum-likelihood fit of ``count[step] ~ lambda_c H_c[hour]
  W_c[dow]`` over the observed steps, by iterative proportional fitting (its margins match the data:
  the summed fitted counts per hour of day equal the observed ones);
* the amount law per hour of day: log-normal with the pooled mean and variance of all transactions of
  that category and hour (exact parallel-variance pooling of the per-step ``count``/``mean``/``std``),
  less the variance of the per-customer spending level; hours with fewer than ``min_rows``
  transactions use the category's pooled law.

``FittedTransactionProfile.calibration_report()`` simulates the feed from the fitted profile with
:func:`simulator.transactions.generate_transactions` and returns the normalised RMSE of simulated vs
target hourly count, mean and standard deviation per category (see its docstring for the
normalisation).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from simulator.transactions.profiles import MOBILE_ACTIONS, Category, Segment, TransactionProfile, get_profile

__all__ = ["fit_transactions", "FittedTransactionProfile", "aggregate_rows", "load_aggregates"]

_CAT_COLS = ("category", "action", "type")
_MEAN_COLS = ("mean", "avg")


def load_aggregates(path: str | os.PathLike) -> pd.DataFrame:
    """Read an aggregate or row table from CSV or Parquet (by extension)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"transaction table not found: {str(p)!r}")
    if p.is_dir():
        raise IsADirectoryError(f"transaction table {str(p)!r} is a directory; expected a .csv or .parquet file")
    if p.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(p)
    if p.suffix.lower() in (".csv", ".txt"):
        return pd.read_csv(p)
    raise ValueError(f"transaction table {str(p)!r}: unsupported extension {p.suffix!r}; use .csv or .parquet")


def _category_column(df: pd.DataFrame, where: str) -> str:
    for c in _CAT_COLS:
        if c in df.columns:
            return c
    raise ValueError(f"{where}: no category column; expected one of {list(_CAT_COLS)}, got {list(df.columns)}")


def aggregate_rows(rows: pd.DataFrame, *, where: str = "rows") -> pd.DataFrame:
    """Reduce transaction rows to the aggregate form (category, step, day, hour, count, mean, std).

    ``rows`` needs a category column (``category``/``action``/``type``), ``amount`` and either ``step``
    (hour index, PaySim convention: step ``s`` is day ``s // 24``, hour ``s % 24``) or ``ts`` (timestamps;
    step counted in hours from the first midnight).
    """
    cat = _category_column(rows, where)
    if "amount" not in rows.columns:
        raise ValueError(f"{where}: raw rows need an 'amount' column, got {list(rows.columns)}")
    if "step" in rows.columns:
        step = rows["step"].to_numpy()
    elif "ts" in rows.columns:
        ts = pd.to_datetime(rows["ts"], utc=True)
        t0 = ts.min().normalize()
        step = ((ts - t0) // pd.Timedelta(hours=1)).to_numpy()
    else:
        raise ValueError(f"{where}: raw rows need a 'step' or 'ts' column, got {list(rows.columns)}")
    amount = pd.to_numeric(rows["amount"], errors="coerce").to_numpy(dtype=float)
    if not np.all(np.isfinite(amount)):
        raise ValueError(f"{where}: column 'amount' has missing or non-numeric values")
    df = pd.DataFrame({"category": rows[cat].astype(str).to_numpy(), "step": step.astype(np.int64),
                       "amount": amount})
    g = df.groupby(["category", "step"], sort=True)["amount"]
    agg = g.agg(count="size", mean="mean", std="std").reset_index()
    agg["std"] = agg["std"].fillna(0.0)
    agg["day"] = agg["step"] // 24
    agg["hour"] = agg["step"] % 24
    return agg


def _normalise_aggregates(table: pd.DataFrame, where: str) -> pd.DataFrame:
    cat = _category_column(table, where)
    mean_col = next((c for c in _MEAN_COLS if c in table.columns), None)
    missing = [c for c in ("count", "std") if c not in table.columns] + ([] if mean_col else ["mean|avg"])
    if missing:
        raise ValueError(f"{where}: aggregate table is missing columns {missing}; expected category|action|type, "
                         f"step (or day and hour), count, mean|avg, std; got {list(table.columns)}")
    out = pd.DataFrame({"category": table[cat].astype(str).to_numpy()})
    for c, src in (("count", "count"), ("mean", mean_col), ("std", "std")):
        v = pd.to_numeric(table[src], errors="coerce").to_numpy(dtype=float)
        if not np.all(np.isfinite(v)):
            bad = int(np.flatnonzero(~np.isfinite(v))[0])
            raise ValueError(f"{where}: column {src!r} is missing or not numeric at row {bad}")
        out[c] = v
    if "day" in table.columns and "hour" in table.columns:
        out["day"] = table["day"].to_numpy(dtype=np.int64)
        out["hour"] = table["hour"].to_numpy(dtype=np.int64)
    elif "step" in table.columns:
        s = table["step"].to_numpy(dtype=np.int64)
        out["day"], out["hour"] = s // 24, s % 24
    else:
        raise ValueError(f"{where}: aggregate table needs 'step' or 'day' and 'hour' columns")
    if (out["hour"] < 0).any() or (out["hour"] > 23).any() or (out["day"] < 0).any():
        raise ValueError(f"{where}: hours must be in 0..23 and days >= 0")
    if (out["count"] < 0).any() or (out["std"] < 0).any() or (out["count"] != np.round(out["count"])).any():
        raise ValueError(f"{where}: counts must be non-negative integers and std >= 0")
    if (out["mean"] < 0).any():
        raise ValueError(f"{where}: mean amounts must be >= 0")
    out["step"] = out["day"] * 24 + out["hour"]
    out = out[out["count"] > 0]
    if out.duplicated(["category", "step"]).any():
        raise ValueError(f"{where}: duplicate (category, step) rows")
    return out.sort_values(["category", "step"]).reset_index(drop=True)


def _is_aggregate(table: pd.DataFrame) -> bool:
    return "count" in table.columns and "amount" not in table.columns


def _pooled(n: np.ndarray, mean: np.ndarray, std: np.ndarray) -> tuple[float, float, float]:
    """Exact pooled count, mean and (ddof=1) variance of groups given their count / mean / std (ddof=1)."""
    N = float(n.sum())
    if N <= 0:
        return 0.0, float("nan"), float("nan")
    M = float(np.dot(n, mean) / N)
    ss = float(np.dot(np.maximum(n - 1, 0), std**2) + np.dot(n, (mean - M) ** 2))
    return N, M, ss / max(N - 1, 1)


def _ipf(count: np.ndarray, hour: np.ndarray, dow: np.ndarray, weekly: bool, n_iter: int = 500):
    """Poisson main-effects fit count ~ lam * H[hour] * W[dow] (observed steps only)."""
    H = np.ones(24)
    W = np.ones(7)
    for _ in range(n_iter):
        num = np.bincount(hour, count, 24)
        den = np.bincount(hour, W[dow], 24)
        H_new = np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)
        if weekly:
            num_w = np.bincount(dow, count, 7)
            den_w = np.bincount(dow, H_new[hour], 7)
            W_new = np.where(den_w > 0, num_w / np.where(den_w > 0, den_w, 1), 1.0)
        else:
            W_new = W
        done = np.allclose(H_new, H, rtol=1e-10, atol=1e-12) and np.allclose(W_new, W, rtol=1e-10)
        H, W = H_new, W_new
        if done:
            break
    seen_w = np.bincount(dow, minlength=7) > 0
    w_mean = W[seen_w].mean() if seen_w.any() else 1.0
    W = np.where(seen_w, W / w_mean, 1.0)
    H = H * w_mean
    lam = H.mean()
    if lam <= 0:
        return 0.0, np.ones(24), W
    return float(lam), H / lam, W


@dataclass(frozen=True)
class FittedTransactionProfile:
    """A profile fitted to aggregates, with the aggregates it was fitted to (its calibration targets).

    Attributes
    ----------
    profile : TransactionProfile
        Use it with ``generate_transactions(profile=fitted, ...)`` (the wrapper is accepted too).
    targets : pandas.DataFrame
        The aggregate table (category, step, day, hour, count, mean, std): aggregates only.
    population : int
        Customers implied by the fitted volume at ``profile.rate_per_customer_day``.
    start_weekday : int
        Weekday (0 = Monday) of day 0 of the targets.
    """

    profile: TransactionProfile
    targets: pd.DataFrame
    population: int
    start_weekday: int = 0

    @property
    def days(self) -> int:
        return int(self.targets["day"].max()) + 1

    # ------------------------------------------------------------------ report
    def calibration_report(self, *, rows_per_category: int = 20_000, seed=0,
                           full_balance_share: float | None = None) -> dict:
        """Simulate the profile as it generates and compare with the targets hour of day by hour of day.

        One feed of the fitted profile with every category at once, its own behaviour settings (for
        mobile money the wallets, ``full_balance_share`` and the ``DEPOSIT`` income that keeps wallets
        funded) and fraud off, over the targets' days from the targets' weekday, with enough customers
        that the rarest category has about ``rows_per_category`` rows (counts are divided by the
        realised scale, customers / implied population). The feed is aggregated exactly like the
        targets, on the observed steps only: for each hour of day ``h``, ``count[h]`` is the mean count
        per observed step, ``mean[h]`` / ``std[h]`` the pooled mean / standard deviation of all amounts in
        those steps (declined rows included: the targets count attempted transactions). ``DEPOSIT``
        rows have no target; their share of rows is reported.

        ``full_balance_share`` replaces the profile's value of that knob for the report (``None``, the
        default, keeps it: the error reported is the error of the feed users get).

        Normalisation (per category): ``nrmse_count = sqrt(mean_h (sim - target)^2) / mean_h(target)``;
        ``nrmse_mean`` and ``nrmse_std`` are RMSEs weighted by the target's share of transactions per
        hour, divided by the weighted mean of the target: ``sqrt(sum_h w_h (sim - target)^2) /
        sum_h w_h target``. The headline ``nrmse_*`` are the worst over categories, ``mean_nrmse_*``
        the mean over categories.

        Returns
        -------
        dict
            ``nrmse_count``, ``nrmse_mean``, ``nrmse_std`` (worst over categories), ``mean_nrmse_*``,
            ``per_category`` (the same per category plus ``rows_target``, ``rows_simulated``),
            ``scale``, ``customers``, ``days``, ``rows_simulated``, ``deposit_share``,
            ``decline_rate_by_week``, ``normalisation``, ``settings``, ``seed``.
        """
        from simulator.transactions import generate_transactions

        if not isinstance(rows_per_category, (int, np.integer)) or rows_per_category < 1000:
            raise ValueError(f"rows_per_category must be an integer >= 1000, got {rows_per_category!r}")
        cats = list(self.profile.category_names)
        n_cat = len(cats)
        n_steps = self.days * 24
        cat_col = "type" if self.profile.kind == "mobile-money" else "category"
        start = pd.Timestamp("2024-01-01") + pd.Timedelta(days=self.start_weekday % 7)
        start_ms = int(pd.Timestamp(start, tz="UTC").value // 1_000_000)
        shares = np.array([c.share for c in self.profile.categories])
        shares = shares / shares.sum()
        min_share = shares[shares > 0].min()
        customers = max(2, int(math.ceil(rows_per_category / (self.profile.rate_per_customer_day * self.days
                                                                * min_share))))
        scale = customers / self.population
        prof = self.profile
        if full_balance_share is not None:
            prof = replace(prof, full_balance_share=full_balance_share)
        names = list(prof.category_names) + (["DEPOSIT"] if prof.kind == "mobile-money" else [])
        n_all = len(names)
        cnt = np.zeros((n_all, n_steps))
        s1 = np.zeros((n_all, n_steps))
        s2 = np.zeros((n_all, n_steps))
        dec_n = np.zeros(self.days)
        dec_k = np.zeros(self.days)
        stream = generate_transactions(prof, customers=customers, days=self.days, seed=seed,
                                       start=start.date().isoformat(), fraud_scale=0.0, batch_rows=1 << 20)
        n_rows = 0
        for b in stream:
            codes = b.column(cat_col).indices.to_numpy(zero_copy_only=False).astype(np.int64)
            ts = b.column("ts").cast("int64").to_numpy()
            step = (ts - start_ms) // 3_600_000
            a = b.column("amount").to_numpy()
            idx = codes * n_steps + step
            cnt.ravel()[:] += np.bincount(idx, minlength=n_all * n_steps)
            s1.ravel()[:] += np.bincount(idx, a, minlength=n_all * n_steps)
            s2.ravel()[:] += np.bincount(idx, a * a, minlength=n_all * n_steps)
            day = b.column("day").to_numpy()
            dec_n += np.bincount(day, minlength=self.days)[:self.days]
            dec_k += np.bincount(day, b.column("declined").to_numpy(zero_copy_only=False).astype(float),
                                 minlength=self.days)[:self.days]
            n_rows += b.num_rows
        eff = np.full(n_cat, scale)
        per = {}
        t = self.targets
        for ci, c in enumerate(cats):
            tc = t[t["category"] == c]
            if tc.empty:
                continue
            steps = tc["step"].to_numpy()
            hrs = tc["hour"].to_numpy()
            tgt_cnt, tgt_mean, tgt_std, sim_cnt, sim_mean, sim_std, w = ([] for _ in range(7))
            for h in np.unique(hrs):
                m = hrs == h
                st = steps[m]
                N, M, V = _pooled(tc["count"].to_numpy()[m], tc["mean"].to_numpy()[m], tc["std"].to_numpy()[m])
                tgt_cnt.append(N / m.sum())
                tgt_mean.append(M)
                tgt_std.append(math.sqrt(V))
                w.append(N)
                n_s = cnt[ci, st].sum()
                sim_cnt.append(n_s / eff[ci] / m.sum())
                if n_s >= 2:
                    mu = s1[ci, st].sum() / n_s
                    var = max(s2[ci, st].sum() - n_s * mu * mu, 0.0) / (n_s - 1)
                    sim_mean.append(mu)
                    sim_std.append(math.sqrt(var))
                else:
                    sim_mean.append(np.nan)
                    sim_std.append(np.nan)
            tgt_cnt, tgt_mean, tgt_std = map(np.asarray, (tgt_cnt, tgt_mean, tgt_std))
            sim_cnt, sim_mean, sim_std, w = map(np.asarray, (sim_cnt, sim_mean, sim_std, w))
            ok = np.isfinite(sim_mean)
            wn = np.where(ok, w, 0.0)
            wn = wn / wn.sum() if wn.sum() > 0 else wn
            per[c] = {
                "nrmse_count": float(np.sqrt(np.mean((sim_cnt - tgt_cnt) ** 2)) / np.mean(tgt_cnt)),
                "nrmse_mean": float(np.sqrt(np.nansum(wn * (sim_mean - tgt_mean) ** 2)) / np.sum(wn * tgt_mean)),
                "nrmse_std": float(np.sqrt(np.nansum(wn * (sim_std - tgt_std) ** 2)) / np.sum(wn * tgt_std)),
                "rows_target": int(tc["count"].sum()),
                "rows_simulated": int(cnt[ci, steps].sum()),
                "hours_without_simulated_amounts": int((~ok).sum()),
            }
        keys = ("nrmse_count", "nrmse_mean", "nrmse_std")
        worst = {k: max(v[k] for v in per.values()) for k in keys}
        means = {f"mean_{k}": float(np.mean([v[k] for v in per.values()])) for k in keys}
        weeks = [float(dec_k[w:w + 7].sum() / max(dec_n[w:w + 7].sum(), 1)) for w in range(0, self.days, 7)]
        return {
            **worst, **means, "per_category": per, "days": self.days, "rows_simulated": n_rows,
            "customers": customers, "scale": float(scale),
            "deposit_share": float(cnt[n_cat:].sum() / max(cnt.sum(), 1)) if n_all > n_cat else 0.0,
            "decline_rate_by_week": weeks,
            "seed": seed if isinstance(seed, int) else None, "rows_per_category": int(rows_per_category),
            "settings": {"fraud": "off", "full_balance_share": prof.full_balance_share,
                         "deposit_interval_days": prof.deposit_interval_days, "market": "calm (no coupling)"},
            "normalisation": ("per category over hours of day on the observed steps: count RMSE / mean target "
                              "count; mean and std RMSE weighted by target transaction share / weighted mean "
                              "target; headline = worst category, mean_* = mean over categories"),
        }

    # ------------------------------------------------------------------ JSON
    def to_json(self) -> str:
        t = self.targets
        return json.dumps({
            "format": "stress-sim/fitted-transaction-profile/1",
            "profile": self.profile.to_dict(), "population": self.population, "start_weekday": self.start_weekday,
            "targets": {c: t[c].tolist() for c in ("category", "step", "day", "hour", "count", "mean", "std")},
        }, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "FittedTransactionProfile":
        d = json.loads(text)
        if d.get("format") != "stress-sim/fitted-transaction-profile/1":
            raise ValueError(f"not a fitted transaction profile (format {d.get('format')!r})")
        return cls(profile=TransactionProfile.from_dict(d["profile"]), targets=pd.DataFrame(d["targets"]),
                   population=int(d["population"]), start_weekday=int(d["start_weekday"]))


def fit_transactions(table, *, kind: str = "auto", rate_per_customer_day: float = 1.0, weekly: bool = True,
                     start_weekday: int = 0, min_rows: int = 50, customer_amount_sigma: float | None = None,
                     base: "str | TransactionProfile | None" = None, name: str = "fitted") -> FittedTransactionProfile:
    """Fit a transaction profile to an aggregate table (category x hourly step) or to raw rows.

    Parameters
    ----------
    table : pandas.DataFrame, str or path
        Aggregates with columns ``category|action|type``, ``step`` (or ``day`` and ``hour``), ``count``,
        ``mean|avg`` and ``std`` (amounts in currency units; extra columns such as ``sum`` are ignored),
        or raw rows with a category column, ``amount`` and ``step`` or ``ts``. A path is read as CSV or
        Parquet.
    kind : {"auto", "mobile-money", "cards"}
        ``auto``: mobile money if the categories are the five wallet actions, cards otherwise. ``DEPOSIT``
        rows (a stress-sim mobile-money feed's external income) are left out of a mobile-money fit: the
        fitted profile generates its own deposits.
    rate_per_customer_day : float
        Transactions per customer per day assumed in the profile; the implied population is the fitted
        daily volume divided by it.
    weekly : bool
        Fit a day-of-week profile (needs at least two weeks of steps; flat otherwise).
    start_weekday : int
        Weekday (0 = Monday) of day 0 of the table.
    min_rows : int
        Hours of a category with fewer transactions use the category's pooled amount law.
    customer_amount_sigma : float, optional
        Log-sd of the per-customer spending level; by default ``min(0.4, sqrt(0.5 * smallest fitted
        log-variance))`` so that the amount laws stay fit.
    base : str or TransactionProfile, optional
        Profile whose non-fitted settings (fraud typologies, elasticities, behaviour knobs) are kept;
        the built-in profile of the same kind by default.
    name : str

    Returns
    -------
    FittedTransactionProfile
    """
    where = "fit_transactions"
    if isinstance(table, (str, os.PathLike)):
        where = f"fit_transactions({str(table)!r})"
        table = load_aggregates(table)
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table must be a pandas DataFrame or a path, got {type(table).__name__}")
    if table.empty:
        raise ValueError(f"{where}: the table is empty")
    if kind not in ("auto", "mobile-money", "cards"):
        raise ValueError(f"kind must be 'auto', 'mobile-money' or 'cards', got {kind!r}")
    if not isinstance(start_weekday, (int, np.integer)) or not 0 <= start_weekday <= 6:
        raise ValueError(f"start_weekday must be an integer 0 (Monday) .. 6 (Sunday), got {start_weekday!r}")
    if not (isinstance(rate_per_customer_day, (int, float)) and rate_per_customer_day > 0):
        raise ValueError(f"rate_per_customer_day must be > 0, got {rate_per_customer_day!r}")
    source = "aggregates" if _is_aggregate(table) else "rows"
    agg = _normalise_aggregates(table, where) if source == "aggregates" else aggregate_rows(table, where=where)
    cats_found = sorted(agg["category"].unique())
    if "DEPOSIT" in cats_found and set(cats_found) <= set(MOBILE_ACTIONS) | {"DEPOSIT"} and kind != "cards":
        # a stress-sim mobile-money feed: its DEPOSIT rows are the wallets' external income, which the
        # fitted profile generates itself (deposit_interval_days), not an action with an amount law
        agg = agg[agg["category"] != "DEPOSIT"].reset_index(drop=True)
        cats_found = [c for c in cats_found if c != "DEPOSIT"]
    if kind == "auto":
        kind = "mobile-money" if set(cats_found) <= set(MOBILE_ACTIONS) else "cards"
    if kind == "mobile-money":
        bad = sorted(set(cats_found) - set(MOBILE_ACTIONS))
        if bad:
            raise ValueError(f"{where}: mobile-money categories must be among {MOBILE_ACTIONS}, got {bad}")
        cats = list(MOBILE_ACTIONS)
    else:
        cats = cats_found
    base_prof = get_profile(base if base is not None else kind)
    if base_prof.kind != kind:
        raise ValueError(f"base profile kind {base_prof.kind!r} does not match the fitted kind {kind!r}")
    n_days = int(agg["day"].max()) + 1
    weekly_ok = weekly and n_days >= 14

    # rates and seasonality
    fits = {}
    log_var = []
    for c in cats:
        a = agg[agg["category"] == c]
        if a.empty:
            fits[c] = (0.0, np.ones(24), np.ones(7), None)
            continue
        dow = ((a["day"].to_numpy() + start_weekday) % 7).astype(np.int64)
        lam, H, W = _ipf(a["count"].to_numpy(), a["hour"].to_numpy().astype(np.int64), dow, weekly_ok)
        n, m, s, hr = (a[k].to_numpy() for k in ("count", "mean", "std", "hour"))
        N_all, M_all, V_all = _pooled(n, m, s)
        law = np.empty((24, 2))
        for h in range(24):
            sel = hr == h
            N, M, V = _pooled(n[sel], m[sel], s[sel]) if sel.any() else (0.0, M_all, V_all)
            if N < min_rows or not M > 0:
                M, V = M_all, V_all
            law[h] = (M, V)
            log_var.append(math.log1p(V / (M * M)))
        fits[c] = (lam, H, W, law)
    if not all(f[3] is None or np.all(f[3][:, 0] > 0) for f in fits.values()):
        raise ValueError(f"{where}: a category has a zero mean amount; amount laws are log-normal")
    if all(f[0] == 0 for f in fits.values()):
        raise ValueError(f"{where}: no transactions in the table")
    if customer_amount_sigma is None:
        cust_sig = min(0.4, math.sqrt(0.5 * min(log_var))) if log_var else 0.4
    else:
        cust_sig = float(customer_amount_sigma)
        if not 0 <= cust_sig or cust_sig * cust_sig >= min(log_var):
            raise ValueError(f"customer_amount_sigma={cust_sig} is too large for the fitted amount laws "
                             f"(log-variance as small as {min(log_var):.3f})")
    categories = []
    for ci, c in enumerate(cats):
        lam, H, W, law = fits[c]
        if law is None:
            mu = np.zeros(24)
            sig = np.full(24, 0.5)
        else:
            M, V = law[:, 0], law[:, 1]
            s2 = np.log1p(V / (M * M))
            sig = np.sqrt(np.maximum(s2 - cust_sig**2, 0.0))
            # amount = exp(mu + sig Z) * C with C the mean-one customer scale (log-sd cust_sig):
            # log(amount) is normal with variance sig^2 + cust_sig^2 = s2 and mean exp(mu + sig^2 / 2) = M
            mu = np.log(M) - 0.5 * sig**2
        tmpl = next((x for x in base_prof.categories if x.name == c), None)
        categories.append(Category(
            name=c, code=tmpl.code if tmpl else ci + 1, share=lam, online_share=tmpl.online_share if tmpl else 0.5,
            amount_mu=tuple(mu), amount_sigma=tuple(sig), hour_weights=tuple(H) if lam > 0 else (1.0,) * 24,
            dow_weights=tuple(W), market_sensitivity=tmpl.market_sensitivity if tmpl else 1.0,
            round_to=0.01))
    total_per_hour = sum(f[0] for f in fits.values())
    population = max(2, int(round(24.0 * total_per_hour / rate_per_customer_day)))
    canon = agg[["category", "step", "count", "mean", "std"]].to_csv(index=False).encode()
    profile = replace(
        base_prof, name=name, categories=tuple(categories), segments=(Segment("all", 1.0),),
        rate_per_customer_day=float(rate_per_customer_day), customer_amount_sigma=cust_sig,
        provenance={"source": f"fit_transactions from {source}", "table_sha256": hashlib.sha256(canon).hexdigest(),
                    "n_categories": len(cats), "n_steps": int(agg["step"].nunique()), "days": n_days,
                    "rows_total": int(agg["count"].sum()), "weekly": bool(weekly_ok), "min_rows": int(min_rows),
                    "start_weekday": int(start_weekday), "implied_population": population,
                    "base_profile": base_prof.name},
    )
    targets = agg[["category", "step", "day", "hour", "count", "mean", "std"]].reset_index(drop=True)
    return FittedTransactionProfile(profile=profile, targets=targets, population=population,
                                    start_weekday=int(start_weekday))
