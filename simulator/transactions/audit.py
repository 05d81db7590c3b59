"""Leak audit: does any column or simple derived flag that should carry no label predict it?

A synthetic feed leaks when an artefact of the generator, not the fraud story, tells fraud apart:
identifiers that encode the victim or the typology, a label time that is constant for one class,
amounts that are exact fractions of a balance, a constant ratio between hops, counterparties that
never cross segments for one class. :func:`leak_audit` trains a small model on each such column and
on each pair of such flags and measures its ROC AUC out of sample; it fails when any AUC exceeds
``bound`` (documented default 0.60).

Checks (each for all fraud against legitimate rows, and for each typology with enough rows):

* identifiers (``txn_id``, ``customer_id``, ``card_id``, ``merchant_id``, ``terminal_id``,
  ``device_id``, ``dest_id``): the raw value as a score (rank AUC) and a model on its eight bytes
  (``txn_id``, the time order, only the rank AUC: a stationary fraud rate);
  ``case_id`` among fraud rows, one typology against the others (an opaque id tells nothing);
* label timing: ``label_available_at - ts`` (a model on the value) and the flags "equal to its most
  common value" and "a whole number of days";
* structure: ``segment``, ``region``, the millisecond part of ``ts``;
* mobile money flags (over all rows, and within transfers and within cash-outs): ``cross_segment`` (a transfer to another segment), ``exact_fraction`` (the
  amount is 1/2 ... 1/5 of the balance before, to the cent), ``emptied_wallet`` (an approved
  outgoing row leaves zero), ``round_hop_ratio`` (the amount is a whole percentage of the last
  transfer the account received), ``constant_hop_ratio`` (that ratio equals the previous hop's to
  1e-4), and every pair of flags (over all rows and within transfers, for all fraud).

Identifier models are scored only on test rows whose value does not occur in the training half
(``case_id``: cases that start in the test half): a value must not encode the label, while an account
that recurs (a mule used again) is part of the story and a model may rightly learn it.

The model of a check is fitted on the first half of the days and scored on the second (temporal
split, as a fraud team would). With scikit-learn installed it is a decision tree (depth 4, at least
50 rows per leaf); otherwise, or with ``engine="numpy"``, the same idea in NumPy: per-cell fraud rates
(Laplace smoothed) over quantile bins, byte values or flag cells, summed as log-odds across bytes.
The raw-value AUC is computed from ranks on all rows (Mann-Whitney), ``max(auc, 1 - auc)``.

The bound: a check fails when its AUC exceeds ``bound`` (0.60) **and** exceeds 0.5 by more than
``z`` standard errors, ``z = Phi^-1(1 - alpha / n_checks)`` (Bonferroni over the checks, ``alpha`` 0.05:
about 3.7 for 500 checks). An uninformative score has AUC 0.5 with standard error about
``sqrt((n_pos + n_neg + 1) / (12 n_pos n_neg))`` (Hanley and McNeil 1982); the rows of one case are
not independent, so ``n_pos`` is the effective number of cases among the positive rows, Kish's
``(sum n_c)^2 / sum n_c^2`` over the cases' row counts ``n_c`` (a few large cases weigh as few). The leaks this audit
was written for score 0.62 (region of card fraud, hundreds of cases) to 1.0 (constant label gap,
typology code in ``case_id``, cycle hop ratio); a leak-free feed scores 0.5 up to noise. A smaller
model-agnostic bound would be noise on feeds of test size; a larger one would miss the region leak.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

__all__ = ["leak_audit", "DEFAULT_BOUND", "rank_auc", "leak_flags"]

DEFAULT_BOUND = 0.60
_ID_COLUMNS = ("txn_id", "customer_id", "card_id", "merchant_id", "terminal_id", "device_id", "dest_id")
_OUT = ("CASH_OUT", "TRANSFER", "PAYMENT", "DEBIT")


def rank_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of ``score`` for binary ``y`` from ranks (Mann-Whitney U, ties averaged)."""
    from scipy.stats import rankdata

    y = np.asarray(y, dtype=bool)
    n1 = int(y.sum())
    n0 = y.size - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    score = np.asarray(score)
    if score.dtype == bool:  # a flag: AUC = P(flag | pos) - P(flag | neg) halved, plus one half
        return float(0.5 + 0.5 * (score[y].mean() - score[~y].mean()))
    r = rankdata(np.asarray(score, dtype=float))
    return float((r[y].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def _n_eff(case_ids: np.ndarray) -> float:
    """Kish's effective sample size of rows clustered in cases: ``(sum n_c)^2 / sum n_c^2``."""
    if case_ids.size == 0:
        return 0.0
    _, n = np.unique(case_ids, return_counts=True)
    return float(n.sum()) ** 2 / float(np.sum(n.astype(float) ** 2))


def _auc_se(n1: float, n0: float) -> float:
    return math.sqrt((n1 + n0 + 1) / (12.0 * max(n1, 1) * max(n0, 1)))


def _to_frame(feed) -> pd.DataFrame:
    if isinstance(feed, pd.DataFrame):
        return feed
    import pyarrow as pa

    exact = {pa.int64(): pd.Int64Dtype()}.get  # 64-bit identifiers with nulls stay exact (not float64)
    if isinstance(feed, pa.Table):
        return feed.to_pandas(types_mapper=exact)
    batches = list(feed)
    if not batches:
        raise ValueError("leak_audit: the feed holds no rows")
    return pa.Table.from_batches(batches).to_pandas(types_mapper=exact)


def _int64(col: pd.Series) -> np.ndarray:
    return pd.to_numeric(col, errors="coerce").fillna(-1).to_numpy(dtype=np.int64)


def _ts_ms(col: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(col):
        return col.astype("datetime64[ms, UTC]").astype("int64").to_numpy() if col.dt.tz is not None \
            else col.astype("datetime64[ms]").astype("int64").to_numpy()
    return pd.to_numeric(col).to_numpy(dtype=np.int64)


def leak_flags(df: pd.DataFrame) -> pd.DataFrame:
    """The derived flags the audit checks (boolean columns), computed from the feed alone.

    Label timing: ``gap_is_mode``, ``gap_whole_days``. Mobile money adds ``cross_segment``,
    ``exact_fraction``, ``emptied_wallet``, ``round_hop_ratio``, ``constant_hop_ratio``, and the
    action indicators ``is_transfer`` and ``is_cash_out``.
    """
    out = pd.DataFrame(index=df.index)
    gap = _ts_ms(df["label_available_at"]) - _ts_ms(df["ts"])
    vals, counts = np.unique(gap, return_counts=True)
    out["gap_is_mode"] = gap == vals[np.argmax(counts)]
    out["gap_whole_days"] = gap % 86_400_000 == 0
    if "type" not in df.columns:
        return out
    typ = df["type"].astype(str).to_numpy()
    amount = df["amount"].to_numpy(dtype=float)
    declined = df["declined"].to_numpy(dtype=bool)
    before = df["balance_orig_before"].to_numpy(dtype=float)
    after = df["balance_orig_after"].to_numpy(dtype=float)
    cust = _int64(df["customer_id"])
    dest = _int64(df["dest_id"])
    is_tr = typ == "TRANSFER"
    outgoing = np.isin(typ, _OUT) & ~declined
    # segment of every account that originates rows; transfers to accounts never seen originating: unknown
    seg = df["segment"].astype(str).to_numpy()
    seg_of = pd.Series(seg, index=cust)
    seg_of = seg_of[~seg_of.index.duplicated()]
    dseg = pd.Series(dest).map(seg_of).to_numpy()
    known = pd.notna(dseg)
    out["cross_segment"] = is_tr & known & (dseg.astype(object) != seg.astype(object))
    frac = np.zeros(df.shape[0], bool)
    for k in (2, 3, 4, 5):
        frac |= np.abs(amount * k - before) <= 0.01 * k
    out["exact_fraction"] = outgoing & frac & (before > 0)
    out["emptied_wallet"] = outgoing & (after <= 0.005) & (amount > 0)
    # hop ratios: each outgoing row against the last approved transfer the account received before it
    order = np.argsort(_int64(df["txn_id"]), kind="stable")
    txn = _int64(df["txn_id"])
    inc_mask = is_tr & ~declined
    rows = pd.DataFrame({"acct": cust, "txn": txn, "amount": amount, "pos": np.arange(df.shape[0])}).iloc[order]
    inc = pd.DataFrame({"acct": dest[inc_mask], "txn": txn[inc_mask], "in_amt": amount[inc_mask],
                        "in_pos": np.flatnonzero(inc_mask)}).sort_values("txn")
    m = pd.merge_asof(rows, inc, on="txn", by="acct", allow_exact_matches=False)
    ratio = np.full(df.shape[0], np.nan)
    ratio[m["pos"].to_numpy()] = (m["amount"] / m["in_amt"]).to_numpy()
    in_pos = np.full(df.shape[0], -1, np.int64)
    in_pos[m["pos"].to_numpy()] = m["in_pos"].fillna(-1).to_numpy(dtype=np.int64)
    has = outgoing & np.isfinite(ratio) & (ratio > 0.5) & (ratio < 1.0)
    pct = ratio * 100.0
    out["round_hop_ratio"] = has & (np.abs(pct - np.round(pct)) < 0.005)
    prev_ratio = np.where(in_pos >= 0, ratio[np.maximum(in_pos, 0)], np.nan)
    out["constant_hop_ratio"] = has & np.isfinite(prev_ratio) & (np.abs(ratio - prev_ratio) < 1e-4)
    out["is_transfer"] = is_tr
    out["is_cash_out"] = typ == "CASH_OUT"
    return out


# ---------------------------------------------------------------------- small models
class _Models:
    def __init__(self, engine: str):
        if engine == "auto":
            try:
                import sklearn  # noqa: F401

                engine = "sklearn"
            except ImportError:
                engine = "numpy"
        if engine not in ("sklearn", "numpy"):
            raise ValueError(f"engine must be 'auto', 'sklearn' or 'numpy', got {engine!r}")
        self.engine = engine

    def fit_score(self, X_tr: np.ndarray, y_tr: np.ndarray, X_te: np.ndarray, kind: str) -> np.ndarray:
        """Scores of the test rows from a small model fitted on the training rows.

        ``kind``: ``"numeric"`` (one column), ``"categorical"`` (one column of codes), ``"bytes"`` (8 byte
        columns), ``"cells"`` (flag columns)."""
        if self.engine == "sklearn":
            from sklearn.tree import DecisionTreeClassifier

            depth = 2 if kind == "cells" else 4
            if kind == "categorical":
                n_cat = int(max(X_tr.max(initial=0), X_te.max(initial=0))) + 1
                X_tr, X_te = np.eye(n_cat)[X_tr[:, 0]], np.eye(n_cat)[X_te[:, 0]]
            clf = DecisionTreeClassifier(max_depth=depth, min_samples_leaf=50, random_state=0)
            clf.fit(X_tr, y_tr)
            p = clf.predict_proba(X_te)
            return p[:, 1] if p.shape[1] > 1 else np.zeros(X_te.shape[0])
        prior = (y_tr.sum() + 1.0) / (y_tr.size + 2.0)
        if kind == "numeric":
            edges = np.unique(np.quantile(X_tr[:, 0], np.linspace(0, 1, 33)[1:-1]))
            return self._encode(np.searchsorted(edges, X_tr[:, 0]), y_tr, np.searchsorted(edges, X_te[:, 0]),
                                edges.size + 1, prior)
        if kind == "categorical":
            n_cat = int(max(X_tr.max(initial=0), X_te.max(initial=0))) + 1
            return self._encode(X_tr[:, 0], y_tr, X_te[:, 0], n_cat, prior)
        if kind == "bytes":
            score = np.zeros(X_te.shape[0])
            lo = math.log(prior / (1 - prior))
            for j in range(X_tr.shape[1]):
                p = self._encode(X_tr[:, j].astype(np.int64), y_tr, X_te[:, j].astype(np.int64), 256, prior)
                score += np.log(p / (1 - p)) - lo
            return score
        codes_tr = (X_tr.astype(np.int64) << np.arange(X_tr.shape[1])).sum(axis=1)
        codes_te = (X_te.astype(np.int64) << np.arange(X_te.shape[1])).sum(axis=1)
        return self._encode(codes_tr, y_tr, codes_te, 1 << X_tr.shape[1], prior)

    @staticmethod
    def _encode(c_tr, y_tr, c_te, n_cells, prior, strength=20.0):
        pos = np.bincount(c_tr, weights=y_tr.astype(float), minlength=n_cells)
        cnt = np.bincount(c_tr, minlength=n_cells).astype(float)
        rate = (pos + strength * prior) / (cnt + strength)
        return rate[np.clip(c_te, 0, n_cells - 1)]


def _bytes(v: np.ndarray) -> np.ndarray:
    u = v.astype(np.int64).view(np.uint64)
    return np.stack([((u >> np.uint64(8 * k)) & np.uint64(0xFF)).astype(np.int64) for k in range(8)], axis=1)


# ---------------------------------------------------------------------- the audit
def leak_audit(feed, *, bound: float = DEFAULT_BOUND, engine: str = "auto", min_positives: int = 200,
               min_cases: int = 20, max_negatives: int = 100_000, alpha: float = 0.05, seed: int = 0) -> dict:
    """Train small models on columns and flags that should carry no label; fail above ``bound``.

    Parameters
    ----------
    feed : pandas.DataFrame, pyarrow.Table or iterable of record batches
        A feed as :func:`~simulator.transactions.generate_transactions` yields it (or read back from
        ``stress-sim transactions --out``).
    bound : float
        Largest acceptable ROC AUC (default 0.60; see the module docstring).
    engine : {"auto", "sklearn", "numpy"}
        Small models from scikit-learn when installed, else the NumPy implementation.
    min_positives : int
        Fraud rows a check needs (in the test half for models, in all rows for rank AUCs);
        typologies with fewer are reported as skipped.
    min_cases : int
        Cases a typology needs for the ``case_id`` check.
    alpha : float
        Family-wise level of the noise guard: a check fails only when its AUC is above ``bound`` and
        above 0.5 by more than ``z = Phi^-1(1 - alpha / n_checks)`` standard errors.
    max_negatives : int
        Legitimate rows kept (a random sample; the AUC is unbiased under it).

    Returns
    -------
    dict
        ``passed``, ``bound``, ``engine``, ``checks`` (one dict per check and positive set: ``check``,
        ``positives``, ``scope``, ``n_pos``, ``n_neg``, ``auc``, ``auc_kind``, ``se``, ``flagged``),
        ``worst`` (the highest AUC per check), ``failures`` (messages), ``skipped``.
    """
    if not (0.5 < bound <= 1.0):
        raise ValueError(f"bound must be in (0.5, 1], got {bound!r}")
    df = _to_frame(feed)
    need = {"is_fraud", "fraud_type", "ts", "label_available_at", "day", "txn_id"}
    missing = sorted(need - set(df.columns))
    if missing:
        raise ValueError(f"leak_audit: the feed lacks columns {missing}")
    df = df.reset_index(drop=True)
    models = _Models(engine)
    rng = np.random.default_rng(seed)
    y_all = df["is_fraud"].to_numpy(dtype=bool)
    ftype = df["fraud_type"].astype(object).where(df["fraud_type"].notna(), None).to_numpy()
    day = df["day"].to_numpy()
    split = np.median(np.unique(day))
    train = day < split
    if not train.any() or train.all():
        train = np.arange(df.shape[0]) < df.shape[0] // 2
    legit = np.flatnonzero(~y_all)
    if legit.size > max_negatives:
        legit = np.sort(rng.choice(legit, max_negatives, replace=False))
    case = _int64(df["case_id"]) if "case_id" in df.columns else np.arange(df.shape[0])
    pos_sets = {"all": np.flatnonzero(y_all)}
    for t in sorted({x for x in ftype if x is not None}):
        pos_sets[t] = np.flatnonzero(ftype == t)
    flags = leak_flags(df)
    checks: list[dict] = []
    skipped: list[str] = []

    def evaluate(name, kind, X, scope=None, rank_score=None, unseen=None, only_all=False, model=True):
        """``unseen``: identifier values; the model is scored only on test rows whose value does not occur
        in the training half (an identifier's value must not encode the label; recurring accounts, such
        as a mule used again, are the story, not a leak). ``only_all``: all fraud only (pairs of flags)."""
        for label, pos in pos_sets.items():
            if only_all and label != "all":
                continue
            idx = np.concatenate([pos, legit])
            if scope is not None:
                idx = idx[scope[idx]]
            y = y_all[idx]
            n1 = int(y.sum())
            if n1 < min_positives:
                skipped.append(f"{name} / {label}: {n1} positive rows in scope")
                continue
            row = {"check": name, "positives": label, "scope": "all rows" if scope is None else "scoped",
                   "n_pos": n1, "n_neg": int(y.size - n1)}
            if rank_score is not None:
                a = rank_auc(y, rank_score[idx])
                n_cases = np.unique(case[idx[y]]).size
                checks.append({**row, "n_cases": n_cases, "auc_kind": "rank", "auc": max(a, 1 - a),
                               "se": _auc_se(_n_eff(case[idx[y]]), y.size - n1)})
            if not model:
                continue
            tr, te = idx[train[idx]], idx[~train[idx]]
            if unseen is not None:
                te = te[~np.isin(unseen[te], unseen[tr])]
            ytr, yte = y_all[tr], y_all[te]
            if ytr.sum() < 10 or yte.sum() < min_positives // 2 or (~yte).sum() < 10:
                continue
            s = models.fit_score(X[tr], ytr, X[te], kind)
            n_cases = np.unique(case[te[yte]]).size
            checks.append({**row, "n_pos": int(yte.sum()), "n_neg": int((~yte).sum()), "n_cases": n_cases,
                           "auc_kind": "model", "auc": rank_auc(yte, s),
                           "se": _auc_se(_n_eff(case[te[yte]]), int((~yte).sum()))})

    # identifiers
    for col in _ID_COLUMNS:
        if col not in df.columns:
            continue
        v = _int64(df[col])
        present = v >= 0
        # txn_id is the time order: its rank AUC tests stationarity; a model on its bytes would only
        # rediscover time of day, a real signal
        evaluate(col, "bytes", _bytes(v), scope=present if not present.all() else None, rank_score=v.astype(float),
                 unseen=v, model=col != "txn_id")
    # opaque case ids: one row per case, one typology against the others
    if "case_id" in df.columns and y_all.sum():
        fr = np.flatnonzero(y_all)
        first = pd.DataFrame({"case": case[fr], "t": ftype[fr].astype(str), "half": train[fr]}).drop_duplicates("case")
        cid = first["case"].to_numpy()
        by = _bytes(cid)
        half = first["half"].to_numpy()
        for t in sorted(set(first["t"])):
            yt = first["t"].to_numpy() == t
            n1 = int(yt.sum())
            if n1 < min_cases or n1 == yt.size:
                skipped.append(f"case_id / {t}: {n1} cases")
                continue
            a = rank_auc(yt, cid.astype(float))
            row = {"check": "case_id", "positives": t, "scope": "one row per case", "n_pos": n1,
                   "n_neg": int(yt.size - n1), "n_cases": n1}
            checks.append({**row, "auc_kind": "rank", "auc": max(a, 1 - a), "se": _auc_se(n1, yt.size - n1)})
            if yt[half].sum() >= 5 and yt[~half].sum() >= 5 and (~yt[~half]).sum() >= 5:
                sc = models.fit_score(by[half], yt[half], by[~half], "bytes")
                n1t = int(yt[~half].sum())
                checks.append({**row, "n_pos": n1t, "n_neg": int((~yt[~half]).sum()), "n_cases": n1t,
                               "auc_kind": "model", "auc": rank_auc(yt[~half], sc),
                               "se": _auc_se(n1t, int((~yt[~half]).sum()))})
    # label timing
    gap = (_ts_ms(df["label_available_at"]) - _ts_ms(df["ts"])).astype(float)
    evaluate("label_available_at - ts", "numeric", gap[:, None], rank_score=gap)
    # structure
    ms = (_ts_ms(df["ts"]) % 1000).astype(float)
    evaluate("ts milliseconds", "numeric", ms[:, None], rank_score=ms)
    for col in ("segment", "region"):
        if col in df.columns:
            codes = pd.factorize(df[col].astype(str))[0].astype(np.int64)
            evaluate(col, "categorical", codes[:, None])
    # flags, alone and in pairs; mobile money also within each action (a flag must not tell fraud apart
    # among transfers, say, even though transfers themselves are more often fraud: that is the story)
    scopes = {"": None}
    if "is_transfer" in flags.columns:
        scopes["TRANSFER: "] = flags["is_transfer"].to_numpy(dtype=bool)
        scopes["CASH_OUT: "] = flags["is_cash_out"].to_numpy(dtype=bool)
    names = [c for c in flags.columns if c not in ("is_transfer", "is_cash_out")]
    F = flags[names].to_numpy(dtype=bool)
    for prefix, scope in scopes.items():
        for j, name in enumerate(names):
            evaluate(prefix + name, "cells", F[:, [j]].astype(np.int64), scope=scope, rank_score=F[:, j])
        if prefix == "CASH_OUT: ":
            continue
        for ja, jb in itertools.combinations(range(len(names)), 2):
            evaluate(f"{prefix}{names[ja]} & {names[jb]}", "cells", F[:, [ja, jb]].astype(np.int64), scope=scope,
                     only_all=True)
    from scipy.stats import norm

    z = float(norm.isf(alpha / max(len(checks), 1)))
    flagged = []
    for c in checks:
        c["z"] = (c["auc"] - 0.5) / c["se"] if c["se"] > 0 else float("inf")
        c["flagged"] = bool(c["auc"] > bound and c["z"] > z)
        if c["flagged"]:
            flagged.append(f"{c['check']} ({c['auc_kind']} AUC {c['auc']:.3f} > {bound} for {c['positives']} fraud, "
                           f"{c['n_cases']} cases, z = {c['z']:.1f})")
    if not checks:
        flagged.append(f"no check had enough fraud rows ({int(y_all.sum())} fraud rows; a check needs "
                       f"{min_positives}): generate the audited feed with a larger fraud_scale or more customers")
    worst: dict[str, float] = {}
    for c in checks:
        worst[c["check"]] = max(worst.get(c["check"], 0.0), c["auc"])
    return {"passed": not flagged, "bound": bound, "z_crit": z, "alpha": alpha, "engine": models.engine, "rows": int(df.shape[0]),
            "fraud_rows": int(y_all.sum()), "checks": checks, "worst": worst, "failures": flagged,
            "skipped": skipped, "flag_rates": {c: {"fraud": float(flags[c][y_all].mean()) if y_all.any() else 0.0,
                                                   "legit": float(flags[c][~y_all].mean())} for c in flags.columns}}

