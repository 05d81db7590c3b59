"""The feed: ``generate_transactions`` compiles profile, knobs and market state into plain arrays once,
then walks the horizon window by window (hour by hour, split when large) and yields Arrow record
batches in time order.

Randomness: one user seed, normalised by :func:`simulator.seeding.seed_sequence` (the convention of the
whole package: ``None`` draws fresh OS entropy, recorded so the feed can be replayed; an int, a
``SeedSequence`` or a ``Generator`` as for ``simulate``), then an independent child stream per purpose
and window, keyed by ``spawn_key + (purpose, day, hour, sub-window)`` (and per typology for fraud
cases). Window boundaries depend only on the profile, population and market state, never on
``batch_rows``, so the same seed gives the same rows whatever the batch size. Legitimate arrivals,
their decline draws and label times use their own streams, so changing fraud knobs leaves the
legitimate traffic unchanged (on mobile money, balances and insufficient-funds declines of accounts
that fraud touches do change: money moved by fraud is gone).

Burn-in: ``burn_in_days`` days before day 0 are generated with a calm market and not emitted, so
balances, compromised points, the mule network and cases in flight are in their steady state when
the feed starts.
"""
from __future__ import annotations

import datetime as _dt
import math
from dataclasses import replace
from typing import Any, Iterator, Mapping

import numpy as np
import pyarrow as pa

from .behaviour import SECONDS_PER_DAY, Context, normal_events
from .fraud import FraudState, misuse_from_hits, start_cases
from .market import MARKET_AFTER, MARKET_CALENDARS, daily_multipliers, market_from_scenario, validate_market
from .population import AGE_BANDS, KYC_LEVELS, _SALT, build_population, scramble_ids
from .profiles import MOBILE_FEED_ACTIONS, Elasticities, TransactionProfile, get_profile
from .schema import schema_for

__all__ = ["generate_transactions", "TransactionStream", "KNOBS"]

#: Keyword knobs accepted by :func:`generate_transactions` (besides the named parameters).
KNOBS = {
    "fraud_rates": "dict typology -> cases per customer-day (overrides the profile's rates)",
    "fraud_scale": "float >= 0 multiplying every typology rate (0 = no fraud); at most one fraud case per "
                   "customer-day in all (MAX_CASES_PER_CUSTOMER_DAY)",
    "overlap": "class-overlap probability in [0, 1] (fraud that mimics normal behaviour)",
    "drift": "dict typology -> rate multiplier reached on the last day (concept drift, log-linear)",
    "label_noise": "float >= 0 scaling unreported fraud and friendly-fraud disputes (0 = observed label is the truth)",
    "elasticities": "dict or Elasticities overriding the market elasticities",
    "segment_fraud": "dict segment -> configured fraud-rate multiplier",
    "decline_rate": "base probability that a legitimate transaction is declined",
    "n_merchants": "number of merchants / agents in the population",
    "start": "first day of the feed (ISO date string or datetime.date), UTC midnight",
    "burn_in_days": "days generated before the start and not emitted (default 7)",
    "market_calendar": "scenario coupling: 'trading' (weekends keep Friday's state, default) or 'daily'",
    "market_after": "scenario coupling after the scenario's last day: 'hold' (default) or 'calm'",
}

_TAG_POPULATION, _TAG_NORMAL, _TAG_FRAUD, _TAG_AFTER = 1, 2, 3, 4
#: Largest fraud case rate a feed may have: one new case per customer per day, all typologies together (the
#: ``fraud_scale`` knob is bounded by it, so that the labels keep describing fraud among legitimate activity).
MAX_CASES_PER_CUSTOMER_DAY = 1.0
#: A feed's last day must fall before this year: its report and label dates (log-normal and exponential delays after
#: it) must stay calendar dates (Python's end at 9999-12-31), whatever the draw.
LAST_YEAR = 9000
_DAY_KEY = 1 << 20  # day d is keyed d + _DAY_KEY: burn-in days (negative) get their own streams
_CHANNELS = pa.array(["pos", "online", "atm"])
_DEST_TYPES = pa.array(["customer", "agent", "merchant", "bank"])
# CASH_IN, CASH_OUT, DEBIT, PAYMENT, TRANSFER, DEPOSIT
_DEST_OF_ACTION = np.array([1, 1, 3, 2, 0, 3], dtype=np.int8)
_TS = pa.timestamp("ms", tz="UTC")
_N_BANKS = 24


def _parse_start(start) -> _dt.datetime:
    if isinstance(start, _dt.datetime):
        d = start.date()
    elif isinstance(start, _dt.date):
        d = start
    elif isinstance(start, str):
        try:
            d = _dt.date.fromisoformat(start)
        except ValueError:
            raise ValueError(f"start must be an ISO date like '2024-01-01', got {start!r}") from None
    else:
        raise TypeError(f"start must be an ISO date string or datetime.date, got {type(start).__name__}")
    return _dt.datetime(d.year, d.month, d.day, tzinfo=_dt.timezone.utc)


def _check_mapping(value, what: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} must be a dict, got {type(value).__name__}")
    return value


def _apply_knobs(profile: TransactionProfile, knobs: Mapping[str, Any]) -> tuple[TransactionProfile, dict]:
    unknown = sorted(set(knobs) - set(KNOBS))
    if unknown:
        raise TypeError(f"generate_transactions() got unknown knob(s) {unknown}; valid knobs: {', '.join(KNOBS)}")
    fraud = profile.fraud
    extra = {"fraud_scale": 1.0, "start": "2024-01-01", "n_merchants": None, "label_noise": 1.0,
             "burn_in_days": 7, "market_calendar": "trading", "market_after": "hold"}
    if "fraud_rates" in knobs:
        rates = _check_mapping(knobs["fraud_rates"], "fraud_rates (typology -> rate)")
        bad = [k for k in rates if k not in profile.typologies]
        if bad:
            raise ValueError(f"fraud_rates: typologies {bad} do not apply to profile {profile.name!r}; "
                             f"valid: {', '.join(profile.typologies)}")
        fraud = replace(fraud, rates={**fraud.rates, **rates})
    if "drift" in knobs:
        drift = _check_mapping(knobs["drift"], "drift (typology -> end-of-feed multiplier)")
        bad = [k for k in drift if k not in profile.typologies]
        if bad:
            raise ValueError(f"drift: typologies {bad} do not apply to profile {profile.name!r}; "
                             f"valid: {', '.join(profile.typologies)}")
        fraud = replace(fraud, drift={**fraud.drift, **drift})
    if "overlap" in knobs:
        fraud = replace(fraud, overlap=knobs["overlap"])
    changes: dict[str, Any] = {"fraud": fraud}
    if "elasticities" in knobs:
        e = knobs["elasticities"]
        if isinstance(e, Elasticities):
            changes["elasticities"] = e
        elif isinstance(e, Mapping):
            bad = [k for k in e if k not in Elasticities.__dataclass_fields__]
            if bad:
                raise ValueError(f"elasticities: unknown keys {bad}; valid: {', '.join(Elasticities.__dataclass_fields__)}")
            changes["elasticities"] = replace(profile.elasticities, **e)
        else:
            raise TypeError(f"elasticities must be a dict or Elasticities, got {type(e).__name__}")
    if "segment_fraud" in knobs:
        sf = _check_mapping(knobs["segment_fraud"], "segment_fraud (segment -> multiplier)")
        names = [s.name for s in profile.segments]
        bad = [k for k in sf if k not in names]
        if bad:
            raise ValueError(f"segment_fraud: unknown segments {bad}; valid: {', '.join(names)}")
        changes["segments"] = tuple(replace(s, fraud_multiplier=sf.get(s.name, s.fraud_multiplier))
                                    for s in profile.segments)
    if "decline_rate" in knobs:
        changes["base_decline_rate"] = knobs["decline_rate"]
    for name in ("fraud_scale", "label_noise"):
        if name in knobs:
            v = knobs[name]
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
            extra[name] = float(v)
    total_rate = float(sum(fraud.rates.values()))  # the rates in effect (fraud_rates knob included)
    if total_rate > 0 and extra["fraud_scale"] * total_rate > MAX_CASES_PER_CUSTOMER_DAY:
        top = MAX_CASES_PER_CUSTOMER_DAY / total_rate
        raise ValueError(f"fraud_scale {extra['fraud_scale']:g} would start {extra['fraud_scale'] * total_rate:.3g} fraud "
                         f"cases per customer per day (the profile's typology rates sum to {total_rate:.3g}); at most "
                         f"{MAX_CASES_PER_CUSTOMER_DAY:g} keeps the labels meaningful: use a fraud_scale <= {top:,.0f}")
    # label noise scales probabilities (a fraud case going unreported, a legitimate row disputed): beyond the value
    # where every case of the best-reported typology goes unreported, or every legitimate row is disputed, the
    # observed labels carry no information about fraud
    f = fraud
    caps = [1.0 / (1.0 - f.report_probability)] if f.report_probability < 1 else []
    caps += [1.0 / f.friendly_fraud_rate] if f.friendly_fraud_rate > 0 else []
    if caps and extra["label_noise"] > min(caps):
        top = min(caps)
        raise ValueError(f"label_noise {extra['label_noise']:g} would leave every fraud case unreported or every "
                         f"legitimate row disputed (report probability {f.report_probability:g}, friendly-fraud "
                         f"rate {f.friendly_fraud_rate:g}); use a label_noise <= {top:,.4g}")
    for name, lo in (("n_merchants", 1), ("burn_in_days", 0)):
        if name in knobs:
            v = knobs[name]
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
            extra[name] = int(v)
    if extra["burn_in_days"] > 365:
        raise ValueError(f"burn_in_days must be <= 365, got {extra['burn_in_days']}")
    for name, valid in (("market_calendar", MARKET_CALENDARS), ("market_after", MARKET_AFTER)):
        if name in knobs:
            if knobs[name] not in valid:
                raise ValueError(f"{name} must be one of {valid}, got {knobs[name]!r}")
            extra[name] = knobs[name]
    if "start" in knobs:
        extra["start"] = knobs["start"]
    return replace(profile, **changes), extra


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


def _resolve_seed(seed) -> np.random.SeedSequence:
    """The package's one seeding convention (:func:`simulator.seeding.seed_sequence`)."""
    from simulator.seeding import seed_sequence

    return seed_sequence(seed)


class TransactionStream:
    """Iterator of ``pyarrow.RecordBatch`` in time order (see :func:`generate_transactions`).

    Attributes
    ----------
    profile : TransactionProfile
        The effective profile (knobs applied).
    schema : pyarrow.Schema
    customers, days, batch_rows, burn_in_days : int
    seed_entropy, seed_spawn_key
        What is needed to replay the stream (:meth:`seed_record`).
    market : dict
        The per-day market state used (``drawdown``, ``vol_ratio`` lists).
    expected_rows : float
        Expected number of legitimate rows excluding deposits (fraud adds a small fraction).
    rows_emitted : int

    After (or during) iteration, :meth:`accounts_table`, :meth:`cards_table`, :meth:`devices_table` and
    (mobile money) :meth:`edges_table` give the tables that sit beside the transactions.
    """

    def __init__(self, profile, *, customers, days, seed, market, batch_rows, fraud_scale, start, n_merchants,
                 n_threads=1, label_noise=1.0, burn_in_days=7, market_calendar="trading", market_after="hold"):
        self.profile = profile
        self.n_threads = n_threads
        self.schema = schema_for(profile.kind)
        self.customers, self.days, self.batch_rows = customers, days, batch_rows
        self.burn_in_days = int(burn_in_days)
        self.knobs = {"fraud_scale": fraud_scale, "label_noise": label_noise, "burn_in_days": self.burn_in_days,
                      "market_calendar": market_calendar, "market_after": market_after}
        self._ss = _resolve_seed(seed)
        self.seed_entropy = self._ss.entropy
        self.seed_spawn_key = tuple(self._ss.spawn_key)
        self.start = _parse_start(start)
        dd, vr = validate_market(market, days)
        self.market = {"drawdown": dd.tolist(), "vol_ratio": vr.tolist()}
        B = self.burn_in_days
        # burn-in days: a calm market
        mult = daily_multipliers(profile, np.r_[np.zeros(B), dd], np.r_[np.ones(B), vr])
        salt = int(self._ss.generate_state(1, np.uint64)[0])
        self._salt = salt
        pop = build_population(profile, customers, self._rng(_TAG_POPULATION), salt=salt, n_merchants=n_merchants)
        cats, segs = profile.categories, profile.segments
        shares = np.array([c.share for c in cats], dtype=float)
        names = profile.category_names
        from .population import region_shares

        # segment amount scales relative to their activity-weighted mean, so each category's amount law
        # is the population's (the fitted or documented mean) and segments differ by the configured ratios
        seg_w = pop.seg_activity * np.array([s.activity for s in segs])
        seg_amt = np.array([s.amount_scale for s in segs])
        seg_amt = seg_amt / (np.dot(seg_w, seg_amt) / seg_w.sum()) if seg_w.sum() > 0 else seg_amt

        self.ctx = Context(
            profile=profile, pop=pop, days=days, burn_in=B, start_dow=self.start.weekday(),
            shares=shares / shares.sum(),
            hour_w=np.array([c.hour_weights for c in cats]), dow_w=np.array([c.dow_weights for c in cats]),
            mu=np.array([c.amount_mu for c in cats]), sigma=np.array([c.amount_sigma for c in cats]),
            online=np.array([c.online_share for c in cats]), round_to=np.array([c.round_to for c in cats]),
            seg_act=np.array([s.activity for s in segs]), seg_amt=seg_amt,
            seg_online=np.array([s.online_multiplier for s in segs]),
            seg_fraud=np.array([s.fraud_multiplier for s in segs]), region_p=region_shares(profile.n_regions),
            volume=mult.volume, ticket=mult.ticket, decline_shift=mult.decline_shift, fraud_mult=mult.fraud,
            fraud_rates=dict(profile.fraud.rates), fraud_scale=fraud_scale, overlap=profile.fraud.overlap,
            label_noise=float(label_noise), base_logit=_logit(profile.base_decline_rate),
            atm_cat=names.index("atm_cash") if "atm_cash" in names else -1,
            is_mobile=profile.kind == "mobile-money",
        )
        self.expected_rows = float(sum(self.ctx.expected_window(d, h).sum() for d in range(days) for h in range(24)))
        self._mcc = np.array([c.code for c in cats], dtype=np.int16)
        self._bank_id = scramble_ids(np.arange(_N_BANKS, dtype=np.uint64), salt ^ _SALT["bank"])
        self.rows_emitted = 0
        self.fraud_state: FraudState | None = None
        self._edges: list = []
        self._edge_rows = 0
        self._it = self._batches()

    # -- randomness
    def _rng(self, *key: int) -> np.random.Generator:
        ss = np.random.SeedSequence(self._ss.entropy, spawn_key=self.seed_spawn_key + tuple(int(k) for k in key))
        return np.random.Generator(np.random.PCG64(ss))

    def seed_record(self) -> dict:
        ent = self.seed_entropy
        return {"entropy": str(ent) if isinstance(ent, int) else [str(v) for v in ent],
                "spawn_key": list(self.seed_spawn_key)}

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        return self

    def __next__(self) -> pa.RecordBatch:
        return next(self._it)

    # -- generation
    def _window_keys(self) -> Iterator[tuple[int, int, int, int]]:
        for d in range(-self.burn_in_days, self.days):
            for h in range(24):
                n_sub = self.ctx.n_subwindows(d, h)
                for k in range(n_sub):
                    yield d, h, k, n_sub

    def _normal(self, key) -> dict:
        d, h, k, n_sub = key
        return normal_events(self.ctx, self._rng(_TAG_NORMAL, d + _DAY_KEY, h, k), d, h, k, n_sub)

    def _windows(self) -> Iterator[dict]:
        """Window columns in time order. Legitimate arrivals (independent streams) are generated one or
        two windows ahead on a helper thread when ``n_threads > 1``; the stateful part (fraud queue,
        balances, ids) runs in order on the calling thread, so results do not depend on threading."""
        ctx = self.ctx
        state = FraudState(case_salt=(self._salt ^ _SALT["case"]) & 0xFFFFFFFFFFFFFFFF)
        self.fraud_state = state
        balance = ctx.pop.initial_balance.copy()
        last_in = np.zeros_like(balance)
        next_id = 0
        typ_index = {t: i for i, t in enumerate(self.profile.typologies)}
        typ_index["__mules__"] = len(typ_index)
        keys = self._window_keys()
        pool = None
        if self.n_threads > 1:
            from concurrent.futures import ThreadPoolExecutor

            pool = ThreadPoolExecutor(max_workers=self.n_threads - 1, thread_name_prefix="stress-sim-tx")
        try:
            ahead: list = []

            def fill():
                while len(ahead) < 2 * (self.n_threads - 1):
                    key = next(keys, None)
                    if key is None:
                        return
                    ahead.append((key, pool.submit(self._normal, key)))

            day_started = None
            while True:
                if pool is not None:
                    fill()
                    if not ahead:
                        break
                    key, fut = ahead.pop(0)
                    ev = fut.result()
                    fill()
                else:
                    key = next(keys, None)
                    if key is None:
                        break
                    ev = self._normal(key)
                d, h, k, n_sub = key
                if d != day_started:
                    start_cases(ctx, lambda typ, d=d: self._rng(_TAG_FRAUD, d + _DAY_KEY, typ_index[typ]), d, state)
                    day_started = d
                rng = self._rng(_TAG_AFTER, d + _DAY_KEY, h, k)
                if not ctx.is_mobile:
                    state.push(misuse_from_hits(ctx, rng, ev, state))
                t_end = d * SECONDS_PER_DAY + h * 3600.0 + (k + 1) * 3600.0 / n_sub
                if d == self.days - 1 and h == 23 and k == n_sub - 1:
                    t_end = math.inf
                fr = state.pop_before(t_end)
                ev = _merge_sorted(ev, fr)
                if ev["t"].size == 0:
                    continue
                cols = self._columns(ev, balance, last_in, next_id)
                if cols is None:
                    continue
                next_id += cols["txn_id"].size
                yield cols
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def _columns(self, ev: dict, balance: np.ndarray, last_in: np.ndarray, first_id: int) -> dict | None:
        """Output columns of one window as NumPy arrays (dictionary columns as int8 codes, nulls as masks);
        None for a burn-in window (balances are still updated)."""
        ctx, pop = self.ctx, self.ctx.pop
        n = ev["t"].size
        declined = ev["u_decl"] < ctx.decline_probability(ev["t"], ev["decl"])
        keep = None
        if ctx.is_mobile:
            from ._kernels import apply_balances

            amount = np.empty(n)
            dec = np.empty(n, dtype=np.bool_)
            ob, oa, db, da = (np.empty(n) for _ in range(4))
            keep = np.empty(n, dtype=np.bool_)
            apply_balances(ev["cat"], ev["cust"], ev["dest"], ev["amount"], ev["amode"], declined, balance,
                           pop.target_balance, last_in, amount, dec, ob, oa, db, da, keep)
        emit = ev["t"] >= 0.0
        if keep is not None:
            emit &= keep
        if not emit.any():
            return None
        if not emit.all():
            idx = np.flatnonzero(emit)
            ev = {k: v[idx] for k, v in ev.items()}
            declined = declined[idx]
            if ctx.is_mobile:
                amount, dec, ob, oa, db, da = (x[idx] for x in (amount, dec, ob, oa, db, da))
            n = idx.size
        t = ev["t"]
        start_ms = int(self.start.timestamp() * 1000)
        ftype = ev["ftype"]
        fraud = ftype > 0
        cust = ev["cust"]
        cols = {
            "txn_id": np.arange(first_id, first_id + n, dtype=np.int64),
            "ts": (start_ms + np.floor(t * 1000.0)).astype(np.int64),
            "day": (t // SECONDS_PER_DAY).astype(np.int32),
            "customer_id": pop.customer_id[cust],
            "segment": pop.segment[cust],
            "region": ev["region"],
        }
        if ctx.is_mobile:
            cat = ev["cat"]
            is_tr = ev["dest"] >= 0
            dest_id = np.where(is_tr, pop.customer_id[np.maximum(ev["dest"], 0)],
                               pop.merchant_id[np.maximum(ev["merch"], 0)])
            dep = cat == 5
            if dep.any():
                dest_id[dep] = self._bank_id[cust[dep] % _N_BANKS]
            cols.update({
                "step": (t // 3600.0).astype(np.int32),
                "type": cat.astype(np.int8),
                "dest_id": dest_id,
                "dest_type": _DEST_OF_ACTION[cat],
                "device_id": ev["dev"],
                "amount": amount,
                "balance_orig_before": ob, "balance_orig_after": oa,
                "balance_dest_before": db, "balance_dest_after": da,
                "declined": dec,
            })
            declined = dec
            if is_tr.any():
                self._track_edges(cols, is_tr, fraud)
        else:
            cat = ev["cat"]
            term = ev["term"]
            cols.update({
                "card_id": pop.card_id[ev["card"]],
                "card_bin": pop.card_bin[ev["card"]],
                "merchant_id": pop.merchant_id[ev["merch"]],
                "mcc": self._mcc[cat],
                "category": cat.astype(np.int8),
                "channel": ev["chan"],
                "terminal_id": np.where(term >= 0, pop.terminal_id[np.maximum(term, 0)], -1),
                "device_id": ev["dev"],
                "amount": ev["amount"],
                "declined": declined,
            })
        label_t = ev["label_t"]
        rep = ev["rep_t"].copy()
        rep[~fraud & declined] = np.nan  # declined rows are never disputed by their customer
        observed = ~np.isnan(rep) & (rep <= label_t)
        cols.update({
            "is_fraud": fraud,
            "fraud_type": np.maximum(ftype - 1, 0).astype(np.int8),
            "case_id": ev["case"],
            "reported_at": np.where(np.isnan(rep), 0, start_ms + np.floor(np.nan_to_num(rep) * 1000.0)).astype(np.int64),
            "_reported": ~np.isnan(rep),
            "label_observed": observed,
            "label_available_at": (start_ms + np.floor(label_t * 1000.0)).astype(np.int64),
        })
        return cols

    # -- side tables
    def _track_edges(self, cols: dict, is_tr: np.ndarray, fraud: np.ndarray) -> None:
        ok = is_tr & ~cols["declined"]
        if not ok.any():
            return
        self._edges.append((cols["customer_id"][ok], cols["dest_id"][ok], cols["amount"][ok], cols["ts"][ok],
                            fraud[ok]))
        self._edge_rows += int(ok.sum())
        if self._edge_rows > 2_000_000:
            self._edges = [self._reduce_edges()]
            self._edge_rows = self._edges[0][0].size

    def _reduce_edges(self):
        import pandas as pd

        if not self._edges:
            return (np.empty(0, np.int64),) * 2 + (np.empty(0),) + (np.empty(0, np.int64),) * 4
        parts = []
        for e in self._edges:
            if len(e) == 5:
                src, dst, amt, ts, fr = e
                parts.append(pd.DataFrame({"src": src, "dst": dst, "n": np.ones(src.size, np.int64), "amount": amt,
                                           "first": ts, "last": ts, "n_fraud": fr.astype(np.int64)}))
            else:
                parts.append(pd.DataFrame(dict(zip(("src", "dst", "n", "amount", "first", "last", "n_fraud"), e))))
        df = pd.concat(parts, ignore_index=True)
        g = df.groupby(["src", "dst"], sort=True).agg(n=("n", "sum"), amount=("amount", "sum"), first=("first", "min"),
                                                       last=("last", "max"), n_fraud=("n_fraud", "sum")).reset_index()
        return tuple(g[c].to_numpy() for c in ("src", "dst", "n", "amount", "first", "last", "n_fraud"))

    def edges_table(self) -> pa.Table:
        """Mobile money: the transfer graph of the emitted rows so far, one row per (sender, receiver)
        with approved transfers: ``src_id``, ``dst_id``, ``n_transfers``, ``amount_total``, ``first_ts``,
        ``last_ts`` and the labels ``n_laundering`` (transfers that belong to a case) and
        ``is_laundering``."""
        src, dst, n, amt, first, last, nf = self._reduce_edges()
        return pa.table({"src_id": pa.array(src, pa.int64()), "dst_id": pa.array(dst, pa.int64()),
                         "n_transfers": pa.array(n, pa.int64()), "amount_total": pa.array(np.round(amt, 2)),
                         "first_ts": pa.array(first.astype(np.int64)).view(_TS) if len(first) else pa.array([], _TS),
                         "last_ts": pa.array(last.astype(np.int64)).view(_TS) if len(last) else pa.array([], _TS),
                         "n_laundering": pa.array(nf, pa.int64()), "is_laundering": pa.array(nf > 0)})

    def accounts_table(self) -> pa.Table:
        """KYC table of every customer (one row per account), known before the feed starts:
        ``customer_id``, ``segment``, ``home_region``, ``opened_at`` (start minus the account's tenure),
        ``kyc_level``, ``age_band``, ``n_cards``, ``n_devices``; mobile money adds the labels
        ``is_mule`` (the account served a case by the end of what was generated so far) and ``mule_since``."""
        pop = self.ctx.pop
        prof = self.profile
        start_ms = int(self.start.timestamp() * 1000)
        opened = (start_ms - np.round(pop.tenure_days * SECONDS_PER_DAY * 1000.0)).astype(np.int64)
        cols = {
            "customer_id": pa.array(pop.customer_id),
            "segment": pa.DictionaryArray.from_arrays(pa.array(pop.segment.astype(np.int8)),
                                                      pa.array([s.name for s in prof.segments])),
            "home_region": pa.array(pop.home_region),
            "opened_at": pa.array(opened).view(_TS),
            "kyc_level": pa.DictionaryArray.from_arrays(pa.array(pop.kyc_level), pa.array(list(KYC_LEVELS))),
            "age_band": pa.DictionaryArray.from_arrays(pa.array(pop.age_band), pa.array(list(AGE_BANDS))),
            "n_cards": pa.array(pop.n_cards.astype(np.int16)),
            "n_devices": pa.array(pop.n_devices.astype(np.int16)),
        }
        if self.ctx.is_mobile:
            st = self.fraud_state
            n = pop.n_customers
            since = st.mule_since if st is not None and st.mule_since is not None else np.full(n, np.inf)
            used = st.mule_cases > 0 if st is not None and st.mule_cases is not None else np.zeros(n, bool)
            pre = np.isfinite(since) & (since < 0)
            is_mule = used | pre
            ms = np.where(np.isfinite(since), start_ms + np.floor(np.where(np.isfinite(since), since, 0) * 1000.0), 0)
            cols["is_mule"] = pa.array(is_mule)
            cols["mule_since"] = pa.array(ms.astype(np.int64), mask=~(is_mule & np.isfinite(since))).view(_TS)
        if self.ctx.is_mobile:
            cols.pop("n_cards")
        return pa.table(cols)

    def cards_table(self) -> pa.Table:
        """Cards: ``card_id``, ``customer_id``, ``card_bin`` (one row per card)."""
        pop = self.ctx.pop
        return pa.table({"card_id": pa.array(pop.card_id), "customer_id": pa.array(pop.customer_id[pop.card_owner]),
                         "card_bin": pa.array(pop.card_bin)})

    def devices_table(self) -> pa.Table:
        """Devices registered to each customer before the feed starts: ``device_id``, ``customer_id``
        (a device not in this table, and not seen before in the feed, is new to the customer)."""
        pop = self.ctx.pop
        owner = np.repeat(np.arange(pop.n_customers), pop.n_devices)
        return pa.table({"device_id": pa.array(pop.device_id), "customer_id": pa.array(pop.customer_id[owner])})

    def _arrow(self, cols: dict) -> pa.RecordBatch:
        """Build a record batch from NumPy columns (one Arrow construction per output batch)."""
        prof = self.profile
        fraud = cols["is_fraud"]
        types = list(MOBILE_FEED_ACTIONS) if self.ctx.is_mobile else list(prof.category_names)
        dicts = {"segment": pa.array([s.name for s in prof.segments]), "type": pa.array(types),
                 "category": pa.array(list(prof.category_names)), "channel": _CHANNELS, "dest_type": _DEST_TYPES,
                 "fraud_type": pa.array(list(prof.typologies))}
        arrays = []
        for f in self.schema:
            v = cols[f.name]
            if f.name in ("ts", "label_available_at"):
                arr = pa.array(v).view(_TS)
            elif f.name == "reported_at":
                arr = pa.array(v, mask=~cols["_reported"]).view(_TS)
            elif f.name == "fraud_type":
                arr = pa.DictionaryArray.from_arrays(pa.array(v, mask=~fraud), dicts[f.name])
            elif f.name in dicts:
                arr = pa.DictionaryArray.from_arrays(pa.array(v.astype(np.int8, copy=False)), dicts[f.name])
            elif f.name == "case_id":
                arr = pa.array(v, mask=~fraud)
            elif f.name in ("terminal_id", "device_id") and not self.ctx.is_mobile:
                arr = pa.array(v, mask=v < 0)
            elif f.name in ("balance_dest_before", "balance_dest_after"):
                arr = pa.array(v, mask=np.isnan(v))
            else:
                arr = pa.array(v)
            arrays.append(arr)
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def _batches(self) -> Iterator[pa.RecordBatch]:
        buf: list[dict] = []
        n_buf = 0
        target = self.batch_rows
        for cols in self._windows():
            buf.append(cols)
            n_buf += cols["txn_id"].size
            while n_buf >= target:
                joined = buf[0] if len(buf) == 1 else {k: np.concatenate([b[k] for b in buf]) for k in buf[0]}
                head = {k: v[:target] for k, v in joined.items()}
                rest = {k: v[target:] for k, v in joined.items()}
                n_buf -= target
                buf = [rest] if n_buf else []
                out = self._arrow(head)
                self.rows_emitted += out.num_rows
                yield out
        if n_buf:
            joined = buf[0] if len(buf) == 1 else {k: np.concatenate([b[k] for b in buf]) for k in buf[0]}
            out = self._arrow(joined)
            self.rows_emitted += out.num_rows
            yield out


def _merge_sorted(a: dict, b: dict) -> dict:
    """Merge two time-sorted event sets (``b`` small) into one sorted set (ties: ``a`` first)."""
    nb = b["t"].size
    if nb == 0:
        return a
    na = a["t"].size
    if na == 0:
        return b
    ins = np.searchsorted(a["t"], b["t"], side="right") + np.arange(nb)
    mask = np.zeros(na + nb, dtype=bool)
    mask[ins] = True
    out = {}
    for key, va in a.items():
        v = np.empty(na + nb, dtype=va.dtype)
        v[~mask] = va
        v[mask] = b[key]
        out[key] = v
    return out


def generate_transactions(profile="cards", *, customers: int = 10_000, days: int = 30, seed=None, scenario=None,
                          model=None, market=None, batch_rows: int = 262_144, n_threads: int | None = None,
                          **knobs) -> TransactionStream:
    """Generate a labelled synthetic transaction feed as Arrow record batches in time order.

    Parameters
    ----------
    profile : str or TransactionProfile, default "cards"
        ``"cards"``, ``"mobile-money"`` or a profile (e.g. ``calibration.fit_transactions(...)``).
    customers : int
        Number of customers in the synthetic population.
    days : int
        Horizon in days (emitted; ``burn_in_days`` more are generated before day 0).
    seed : None, int, numpy.random.SeedSequence or numpy.random.Generator
        The package's seeding convention (:func:`simulator.seeding.seed_sequence`): ``None`` draws fresh OS
        entropy, recorded in :meth:`TransactionStream.seed_record` (and the CLI's manifest) so the feed
        can be replayed; ``stress-sim transactions`` without ``--seed`` does the same. Same seed, same
        stream (whatever ``batch_rows`` and ``n_threads``).
    scenario, model : optional
        A scenario (library name or TOML path) and a market model: the feed is coupled to
        ``simulator.run_scenario(scenario, model)`` through :func:`market_from_scenario`: feed day
        ``d`` reads the scenario's trading day of the last weekday on or before it
        (``market_calendar="trading"``; ``"daily"`` maps day to day), and after the scenario's
        horizon the last state is held (``market_after="hold"``; ``"calm"`` returns to a calm market).
    market : pandas.DataFrame or dict of 1-D arrays, optional
        Per-day market state with ``drawdown`` (fraction >= 0) and ``vol_ratio`` (1.0 = calm) of length
        >= ``days``, one value per feed day. Mutually exclusive with ``scenario``/``model``.
    batch_rows : int, default 262144
        Rows per yielded batch (the last may be shorter). Memory is bounded by this and by the
        generation window (at most about 131k expected rows).
    n_threads : int, optional
        Threads in use (default 1): with 2 or more, legitimate arrivals of the next windows are generated
        on helper threads while the ordered part runs. The output does not depend on it.
    **knobs
        See :data:`KNOBS`.

    Returns
    -------
    TransactionStream
        An iterator of ``pyarrow.RecordBatch`` (schema :data:`simulator.transactions.schema.cards_schema`
        or ``mobile_schema``); arguments are validated before it is returned.
    """
    prof = get_profile(profile)
    for name, v, lo in (("customers", customers, 1), ("days", days, 1), ("batch_rows", batch_rows, 1)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
            raise TypeError(f"{name} must be an integer, got {type(v).__name__}")
        if v < lo:
            raise ValueError(f"{name} must be >= {lo}, got {v}")
    if customers < 2:
        raise ValueError(f"customers must be >= 2 (transfers need a counterparty), got {customers}")
    if days > 100_000:
        raise ValueError(f"days must be <= 100000, got {days}")
    if (scenario is None) != (model is None):
        raise ValueError("scenario and model must be given together (the feed couples to run_scenario(scenario, model))")
    if scenario is not None and market is not None:
        raise ValueError("give either market= or scenario=/model=, not both")
    if n_threads is None:
        n_threads = 1
    if not isinstance(n_threads, (int, np.integer)) or isinstance(n_threads, bool) or not 1 <= n_threads <= 64:
        raise ValueError(f"n_threads must be an integer in [1, 64], got {n_threads!r}")
    prof, extra = _apply_knobs(prof, knobs)
    first = _parse_start(extra["start"])
    try:
        last = first + _dt.timedelta(days=int(days) - 1)
    except OverflowError:
        last = None
    if last is None or last.year >= LAST_YEAR:
        raise ValueError(f"start {first.date().isoformat()} and {int(days):,} days run past the year {LAST_YEAR} (the "
                         "feed's dates, and the report and label dates months or years after them, must be calendar "
                         "dates); give an earlier start")
    if scenario is not None:
        market = market_from_scenario(scenario, model, days=int(days),
                                      start_weekday=_parse_start(extra["start"]).weekday(),
                                      calendar=extra["market_calendar"], after=extra["market_after"])
    return TransactionStream(prof, customers=int(customers), days=int(days), seed=seed, market=market,
                             batch_rows=int(batch_rows), n_threads=int(n_threads), **extra)
