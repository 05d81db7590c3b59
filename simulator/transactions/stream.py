"""The feed: ``generate_transactions`` compiles profile, knobs and market state into plain arrays once,
then walks the horizon window by window (hour by hour, split when large) and yields Arrow record
batches in time order.

Randomness: one user seed -> ``SeedSequence`` -> an independent child stream per purpose and window,
keyed by ``spawn_key + (purpose, day, hour, sub-window)`` (and per typology for fraud cases). Window
boundaries depend only on the profile, population and market state, never on ``batch_rows``, so the
same seed gives the same rows whatever the batch size. Legitimate arrivals use their own streams,
so changing fraud knobs leaves the legitimate traffic unchanged.
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
from .market import daily_multipliers, market_from_scenario, validate_market
from .population import build_population
from .profiles import Elasticities, TransactionProfile, get_profile
from .schema import schema_for

__all__ = ["generate_transactions", "TransactionStream", "KNOBS"]

#: Keyword knobs accepted by :func:`generate_transactions` (besides the named parameters).
KNOBS = {
    "fraud_rates": "dict typology -> cases per customer-day (overrides the profile's rates)",
    "fraud_scale": "float >= 0 multiplying every typology rate (0 = no fraud)",
    "overlap": "class-overlap probability in [0, 1] (fraud that mimics normal behaviour)",
    "elasticities": "dict or Elasticities overriding the market elasticities",
    "segment_fraud": "dict segment -> configured fraud-rate multiplier",
    "decline_rate": "base probability that a legitimate transaction is declined",
    "n_merchants": "number of merchants / agents in the population",
    "start": "first day of the feed (ISO date string or datetime.date), UTC midnight",
}

_TAG_POPULATION, _TAG_NORMAL, _TAG_FRAUD, _TAG_AFTER = 1, 2, 3, 4
_CHANNELS = pa.array(["pos", "online", "atm"])
_DEST_TYPES = pa.array(["customer", "agent", "merchant", "bank"])
_DEST_OF_ACTION = np.array([1, 1, 3, 2, 0], dtype=np.int8)  # CASH_IN, CASH_OUT, DEBIT, PAYMENT, TRANSFER
_TS = pa.timestamp("ms", tz="UTC")


def _seed_sequence(seed) -> np.random.SeedSequence:
    if seed is None:
        return np.random.SeedSequence()
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence(int(seed.integers(0, 2**63)))
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        return np.random.SeedSequence(int(seed))
    raise TypeError(f"seed must be None, a non-negative int, numpy.random.SeedSequence or Generator; "
                    f"got {type(seed).__name__}")


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


def _apply_knobs(profile: TransactionProfile, knobs: Mapping[str, Any]) -> tuple[TransactionProfile, dict]:
    unknown = sorted(set(knobs) - set(KNOBS))
    if unknown:
        raise TypeError(f"generate_transactions() got unknown knob(s) {unknown}; valid knobs: {', '.join(KNOBS)}")
    fraud = profile.fraud
    extra = {"fraud_scale": 1.0, "start": "2024-01-01", "n_merchants": None}
    if "fraud_rates" in knobs:
        rates = knobs["fraud_rates"]
        if not isinstance(rates, Mapping):
            raise TypeError(f"fraud_rates must be a dict typology -> rate, got {type(rates).__name__}")
        bad = [k for k in rates if k not in profile.typologies]
        if bad:
            raise ValueError(f"fraud_rates: typologies {bad} do not apply to profile {profile.name!r}; "
                             f"valid: {', '.join(profile.typologies)}")
        fraud = replace(fraud, rates={**fraud.rates, **rates})
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
        sf = knobs["segment_fraud"]
        if not isinstance(sf, Mapping):
            raise TypeError(f"segment_fraud must be a dict segment -> multiplier, got {type(sf).__name__}")
        names = [s.name for s in profile.segments]
        bad = [k for k in sf if k not in names]
        if bad:
            raise ValueError(f"segment_fraud: unknown segments {bad}; valid: {', '.join(names)}")
        changes["segments"] = tuple(replace(s, fraud_multiplier=sf.get(s.name, s.fraud_multiplier))
                                    for s in profile.segments)
    if "decline_rate" in knobs:
        changes["base_decline_rate"] = knobs["decline_rate"]
    if "fraud_scale" in knobs:
        fs = knobs["fraud_scale"]
        if not isinstance(fs, (int, float)) or isinstance(fs, bool) or not math.isfinite(fs) or fs < 0:
            raise ValueError(f"fraud_scale must be a finite number >= 0, got {fs!r}")
        extra["fraud_scale"] = float(fs)
    if "n_merchants" in knobs:
        nm = knobs["n_merchants"]
        if not isinstance(nm, (int, np.integer)) or isinstance(nm, bool) or nm < 1:
            raise ValueError(f"n_merchants must be a positive integer, got {nm!r}")
        extra["n_merchants"] = int(nm)
    if "start" in knobs:
        extra["start"] = knobs["start"]
    return replace(profile, **changes), extra


def _logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return math.log(p / (1 - p))


class TransactionStream:
    """Iterator of ``pyarrow.RecordBatch`` in time order (see :func:`generate_transactions`).

    Attributes
    ----------
    profile : TransactionProfile
        The effective profile (knobs applied).
    schema : pyarrow.Schema
    customers, days, batch_rows : int
    seed_entropy, seed_spawn_key
        What is needed to replay the stream.
    market : dict
        The per-day market state used (``drawdown``, ``vol_ratio`` lists).
    expected_rows : float
        Expected number of legitimate rows (fraud adds a small fraction).
    rows_emitted : int
    """

    def __init__(self, profile, *, customers, days, seed, market, batch_rows, fraud_scale, start, n_merchants,
                 n_threads=1):
        self.profile = profile
        self.n_threads = n_threads
        self.schema = schema_for(profile.kind)
        self.customers, self.days, self.batch_rows = customers, days, batch_rows
        self._ss = _seed_sequence(seed)
        self.seed_entropy = self._ss.entropy
        self.seed_spawn_key = tuple(self._ss.spawn_key)
        self.start = _parse_start(start)
        dd, vr = validate_market(market, days)
        self.market = {"drawdown": dd.tolist(), "vol_ratio": vr.tolist()}
        mult = daily_multipliers(profile, dd, vr)
        pop = build_population(profile, customers, self._rng(_TAG_POPULATION), salt=int(self._ss.generate_state(1, np.uint64)[0]),
                               n_merchants=n_merchants)
        cats, segs = profile.categories, profile.segments
        shares = np.array([c.share for c in cats], dtype=float)
        names = profile.category_names
        self.ctx = Context(
            profile=profile, pop=pop, days=days, start_dow=self.start.weekday(), shares=shares / shares.sum(),
            hour_w=np.array([c.hour_weights for c in cats]), dow_w=np.array([c.dow_weights for c in cats]),
            mu=np.array([c.amount_mu for c in cats]), sigma=np.array([c.amount_sigma for c in cats]),
            online=np.array([c.online_share for c in cats]), round_to=np.array([c.round_to for c in cats]),
            seg_act=np.array([s.activity for s in segs]), seg_amt=np.array([s.amount_scale for s in segs]),
            seg_online=np.array([s.online_multiplier for s in segs]),
            seg_fraud=np.array([s.fraud_multiplier for s in segs]),
            volume=mult.volume, ticket=mult.ticket, decline_shift=mult.decline_shift, fraud_mult=mult.fraud,
            fraud_rates=dict(profile.fraud.rates), fraud_scale=fraud_scale, overlap=profile.fraud.overlap,
            base_logit=_logit(profile.base_decline_rate),
            atm_cat=names.index("atm_cash") if "atm_cash" in names else -1,
            is_mobile=profile.kind == "mobile-money",
        )
        self.expected_rows = float(sum(self.ctx.expected_window(d, h).sum() for d in range(days) for h in range(24)))
        self._mcc = np.array([c.code for c in cats], dtype=np.int16)
        self.rows_emitted = 0
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
        for d in range(self.days):
            for h in range(24):
                n_sub = self.ctx.n_subwindows(d, h)
                for k in range(n_sub):
                    yield d, h, k, n_sub

    def _normal(self, key) -> dict:
        d, h, k, n_sub = key
        return normal_events(self.ctx, self._rng(_TAG_NORMAL, d, h, k), d, h, k, n_sub)

    def _windows(self) -> Iterator[dict]:
        """Window columns in time order. Legitimate arrivals (independent streams) are generated one or
        two windows ahead on a helper thread when ``n_threads > 1``; the stateful part (fraud queue,
        balances, ids) runs in order on the calling thread, so results do not depend on threading."""
        ctx = self.ctx
        state = FraudState()
        balance = ctx.pop.initial_balance.copy()
        next_id = 0
        typ_index = {t: i for i, t in enumerate(self.profile.typologies)}
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

            day_started = -1
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
                    start_cases(ctx, lambda typ, d=d: self._rng(_TAG_FRAUD, d, typ_index[typ]), d, state)
                    day_started = d
                rng = self._rng(_TAG_AFTER, d, h, k)
                if not ctx.is_mobile:
                    state.push(misuse_from_hits(ctx, rng, ev, state))
                t_end = d * SECONDS_PER_DAY + h * 3600.0 + (k + 1) * 3600.0 / n_sub
                if d == self.days - 1 and h == 23 and k == n_sub - 1:
                    t_end = math.inf
                fr = state.pop_before(t_end)
                ev = _merge_sorted(ev, fr)
                n = ev["t"].size
                if n == 0:
                    continue
                yield self._columns(ev, rng, balance, next_id, d)
                next_id += n
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def _columns(self, ev: dict, rng, balance: np.ndarray, first_id: int, day: int) -> dict:
        """Output columns of one window as NumPy arrays (dictionary columns as int8 codes, nulls as masks)."""
        ctx, pop = self.ctx, self.ctx.pop
        n = ev["t"].size
        t = ev["t"]
        logit = ctx.base_logit + ctx.decline_shift[day] + ev["decl"].astype(np.float64)
        declined = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
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
            from ._kernels import apply_balances

            amount = np.empty(n)
            dec = np.empty(n, dtype=np.bool_)
            ob, oa, db, da = (np.empty(n) for _ in range(4))
            apply_balances(ev["cat"], cust, ev["dest"], ev["amount"], ev["amode"], declined, balance,
                           amount, dec, ob, oa, db, da)
            cat = ev["cat"]
            is_tr = ev["dest"] >= 0
            cols.update({
                "step": (t // 3600.0).astype(np.int32),
                "type": cat.astype(np.int8),
                "dest_id": np.where(is_tr, pop.customer_id[np.maximum(ev["dest"], 0)],
                                    pop.merchant_id[np.maximum(ev["merch"], 0)]),
                "dest_type": _DEST_OF_ACTION[cat],
                "device_id": ev["dev"],
                "amount": amount,
                "balance_orig_before": ob, "balance_orig_after": oa,
                "balance_dest_before": db, "balance_dest_after": da,
                "declined": dec,
            })
        else:
            cat = ev["cat"]
            term = ev["term"]
            cols.update({
                "card_id": pop.card_id[ev["card"]],
                "merchant_id": pop.merchant_id[ev["merch"]],
                "mcc": self._mcc[cat],
                "category": cat.astype(np.int8),
                "channel": ev["chan"],
                "terminal_id": np.where(term >= 0, pop.terminal_id[np.maximum(term, 0)], -1),
                "device_id": ev["dev"],
                "amount": ev["amount"],
                "declined": declined,
            })
        cols.update({
            "is_fraud": fraud,
            "fraud_type": np.maximum(ftype - 1, 0).astype(np.int8),
            "case_id": ev["case"],
            "label_available_at": (start_ms + np.floor(ev["label_t"] * 1000.0)).astype(np.int64),
        })
        return cols

    def _arrow(self, cols: dict) -> pa.RecordBatch:
        """Build a record batch from NumPy columns (one Arrow construction per output batch)."""
        prof = self.profile
        fraud = cols["is_fraud"]
        dicts = {"segment": pa.array([s.name for s in prof.segments]), "type": pa.array(list(prof.category_names)),
                 "category": pa.array(list(prof.category_names)), "channel": _CHANNELS, "dest_type": _DEST_TYPES,
                 "fraud_type": pa.array(list(prof.typologies))}
        arrays = []
        for f in self.schema:
            v = cols[f.name]
            if f.name in ("ts", "label_available_at"):
                arr = pa.array(v).view(_TS)
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
        Horizon in days.
    seed : None, int, numpy.random.SeedSequence or numpy.random.Generator
        Same seed, same stream (whatever ``batch_rows``).
    scenario, model : optional
        A scenario and a market model: the feed is coupled to ``simulator.run_scenario(scenario, model)``
        through :func:`market_state_from_returns`. Give both or neither.
    market : pandas.DataFrame or dict of 1-D arrays, optional
        Per-day market state with ``drawdown`` (fraction >= 0) and ``vol_ratio`` (1.0 = calm) of length
        >= ``days``. Mutually exclusive with ``scenario``/``model``.
    batch_rows : int, default 262144
        Rows per yielded batch (the last may be shorter). Memory is bounded by this and by the
        generation window (at most about 131k expected rows).
    n_threads : int, optional
        Threads in use (default 1): with 2 or more, legitimate arrivals of the next windows are generated
        on helper threads while the ordered part runs. The output does not depend on it; the gain is
        small (much of the NumPy work holds the GIL), so a second core is better spent writing Parquet.
    **knobs
        See :data:`KNOBS`: ``fraud_rates``, ``fraud_scale``, ``overlap``, ``elasticities``,
        ``segment_fraud``, ``decline_rate``, ``n_merchants``, ``start``.

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
    if scenario is not None:
        market = market_from_scenario(scenario, model)
    return TransactionStream(prof, customers=int(customers), days=int(days), seed=seed, market=market,
                             batch_rows=int(batch_rows), n_threads=int(n_threads), **extra)
