"""Normal (legitimate) behaviour: arrivals from a non-homogeneous Poisson process and their attributes.

Arrivals are generated window by window (one hour of one day, split into equal sub-windows when the
expected count is large). In a window the intensity of segment ``g`` and category ``c`` is

    lambda[g, c] = A_g * rate * act_g * s_c * H[c, hour] * W[c, dow] * V[day, c] / 24   (per hour)

with ``A_g`` the total activity of the segment's customers, ``s_c`` the category share, ``H``/``W``
the hour-of-day / day-of-week profiles (mean one), ``V`` the market volume multiplier. By the
superposition property of Poisson processes the window's events are drawn exactly as
``n[g, c] ~ Poisson(lambda[g, c] * window_hours)`` with iid uniform times inside the window and a
customer drawn proportionally to activity, which costs O(rows) rather than O(customers x windows).

Times ``t`` are seconds since the first emitted day's midnight; burn-in days (generated, not
emitted) have negative times. Every event carries its own uniform ``u_decl`` for the decline draw and
its label times, drawn from the stream that created it, so fraud knobs cannot change legitimate rows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .population import Population, away_region, counterparty_segments, pick_customers, pick_merchants
from .profiles import TransactionProfile

__all__ = ["Context", "EVENT_FIELDS", "empty_events", "concat_events", "normal_events", "CHANNELS", "DEPOSIT"]

CHANNELS = ("pos", "online", "atm")
#: Internal code of the mobile-money ``DEPOSIT`` action (after the five PaySim actions).
DEPOSIT = 5
#: Internal per-event fields and dtypes (shared by normal and fraud events).
EVENT_FIELDS = {
    "t": np.float64, "cust": np.int64, "card": np.int64, "cat": np.int16, "chan": np.int8, "merch": np.int64,
    "term": np.int64, "dev": np.int64, "region": np.int16, "amount": np.float64, "ftype": np.int8,
    "case": np.int64, "label_t": np.float64, "rep_t": np.float64, "dest": np.int64, "amode": np.int8,
    "decl": np.float32, "u_decl": np.float64,
}
SECONDS_PER_DAY = 86_400.0
#: Expected rows per generation window above which an hour is split (fixed: streams must not
#: depend on the caller's batch size).
WINDOW_TARGET_ROWS = 1 << 17
#: Hour-of-day weights of external income (deposits): office hours.
_DEPOSIT_HOURS = np.array([0.1] * 7 + [0.6, 1.5, 2.0, 2.0, 1.8, 1.5, 1.8, 2.0, 1.8, 1.5, 1.0] + [0.3] * 6)
_DEPOSIT_HOURS = _DEPOSIT_HOURS / _DEPOSIT_HOURS.mean()


def empty_events(n: int = 0) -> dict:
    return {k: np.empty(n, dtype=v) for k, v in EVENT_FIELDS.items()}


def concat_events(parts: list[dict]) -> dict:
    parts = [p for p in parts if p["t"].size]
    if not parts:
        return empty_events()
    if len(parts) == 1:
        return parts[0]
    return {k: np.concatenate([p[k] for p in parts]) for k in EVENT_FIELDS}


def take_events(ev: dict, idx) -> dict:
    return {k: v[idx] for k, v in ev.items()}


@dataclass
class Context:
    """Everything a window needs, compiled once from the profile, the knobs and the market state.

    Per-day arrays (``volume``, ``ticket``, ``decline_shift``, ``fraud_mult``) cover the burn-in days
    first: day ``d`` (negative during burn-in) is at index ``d + burn_in``.
    """

    profile: TransactionProfile
    pop: Population
    days: int
    burn_in: int
    start_dow: int
    shares: np.ndarray        # (n_cat,)
    hour_w: np.ndarray        # (n_cat, 24)
    dow_w: np.ndarray         # (n_cat, 7)
    mu: np.ndarray            # (n_cat, 24)
    sigma: np.ndarray         # (n_cat, 24)
    online: np.ndarray        # (n_cat,)
    round_to: np.ndarray      # (n_cat,)
    seg_act: np.ndarray       # (n_seg,)
    seg_amt: np.ndarray       # (n_seg,)
    seg_online: np.ndarray    # (n_seg,)
    seg_fraud: np.ndarray     # (n_seg,)
    region_p: np.ndarray      # (n_regions,) population shares
    volume: np.ndarray        # (burn_in + days, n_cat)
    ticket: np.ndarray        # (burn_in + days,)
    decline_shift: np.ndarray  # (burn_in + days,)
    fraud_mult: np.ndarray    # (burn_in + days,)
    fraud_rates: dict         # typology -> cases per customer-day
    fraud_scale: float
    overlap: float
    label_noise: float
    base_logit: float
    atm_cat: int              # category index of ATM cash (-1 if none)
    is_mobile: bool

    def di(self, day) -> np.ndarray | int:
        """Index of ``day`` (scalar or array, clipped to the horizon) into the per-day arrays."""
        return np.clip(day, -self.burn_in, self.days - 1) + self.burn_in

    @property
    def deposit_rate(self) -> float:
        """Deposit events per customer per hour (mobile money; 0 when deposits are off)."""
        k = self.profile.deposit_interval_days
        return 0.0 if (not self.is_mobile or k <= 0) else 1.0 / (24.0 * k)

    def expected_window(self, day: int, hour: int) -> np.ndarray:
        """Expected arrivals per (segment, category) in hour ``hour`` of ``day``, shape (n_seg, n_cat)."""
        dow = (self.start_dow + day) % 7
        per_cat = (self.profile.rate_per_customer_day / 24.0) * self.shares * self.hour_w[:, hour] \
            * self.dow_w[:, dow] * self.volume[self.di(day)]
        return np.outer(self.pop.seg_activity * self.seg_act, per_cat)

    def expected_deposits(self, hour: int) -> float:
        """Expected deposit events (before the need test) in one hour of the day."""
        return self.pop.n_customers * self.deposit_rate * float(_DEPOSIT_HOURS[hour])

    def n_subwindows(self, day: int, hour: int) -> int:
        lam = float(self.expected_window(day, hour).sum()) + self.expected_deposits(hour)
        return max(1, int(np.ceil(lam / WINDOW_TARGET_ROWS)))

    def decline_probability(self, t: np.ndarray, boost) -> np.ndarray:
        """Probability that a row at time ``t`` with extra decline log-odds ``boost`` is declined by risk
        rules (the same law for every row; insufficient funds come on top, in the balance kernel)."""
        day = np.floor(np.asarray(t) / SECONDS_PER_DAY).astype(np.int64)
        logit = self.base_logit + self.decline_shift[self.di(day)] + np.asarray(boost, dtype=np.float64)
        return 1.0 / (1.0 + np.exp(-logit))


def sorted_uniform(rng: np.random.Generator, n: int, lo: float, hi: float) -> np.ndarray:
    """``n`` sorted iid uniform times in [lo, hi) (normalised exponential spacings, no sort needed)."""
    if n == 0:
        return np.empty(0)
    e = rng.standard_exponential(n + 1)
    c = np.cumsum(e)
    return lo + (hi - lo) * (c[:-1] / c[-1])


def draw_amounts(ctx: Context, rng: np.random.Generator, cat: np.ndarray, hour: np.ndarray, cust: np.ndarray,
                 day: int | np.ndarray, factor=1.0) -> np.ndarray:
    """Heavy-tailed amounts: log-normal law of (category, hour) x segment x customer x market scales."""
    pop = ctx.pop
    z = rng.standard_normal(cat.size)
    log_a = ctx.mu[cat, hour] + ctx.sigma[cat, hour] * z
    scale = ctx.seg_amt[pop.segment[cust]] * pop.amount_scale[cust] * ctx.ticket[ctx.di(day)] * factor
    a = np.exp(log_a) * scale
    return round_amounts(a, ctx.round_to[cat])


def round_amounts(a: np.ndarray, step) -> np.ndarray:
    """Round to a multiple of ``step`` (at least one step); cents are the nearest doubles."""
    step = np.broadcast_to(np.asarray(step, dtype=np.float64), np.shape(a))
    q = np.maximum(np.round(a / step), 1.0)
    # divide by 1/step for sub-unit steps so cents are the nearest doubles (651.81, not 651.8100000000001)
    inv = np.round(1.0 / step)
    return np.where(inv > 1.0, q / np.maximum(inv, 1.0), q * step)


def customer_devices(ctx: Context, rng: np.random.Generator, cust: np.ndarray, new_rate: float) -> np.ndarray:
    """A device of each customer (public id); with probability ``new_rate`` a never-seen device."""
    pop = ctx.pop
    u = rng.random(cust.size)
    dev = pop.device_id[pop.dev_start[cust] + (u * pop.n_devices[cust]).astype(np.int64)]
    new = rng.random(cust.size) < new_rate
    if new.any():
        dev[new] = fresh_ids(rng, int(new.sum()))
    return dev


def fresh_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """Identifiers of entities not in the population (new devices): uniform 62-bit integers."""
    return rng.integers(0, 1 << 62, size=n, dtype=np.int64)


def other_region(ctx: Context, rng: np.random.Generator, home: np.ndarray) -> np.ndarray:
    """A region other than ``home``, by population share (one law for travel and for fraud away from home)."""
    return away_region(ctx.region_p, home, rng.random(np.size(home)))


def label_final_times(ctx: Context, rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """When each row's label is final: the end of its dispute window, the same law for every row."""
    f = ctx.profile.fraud
    extra = rng.exponential(f.label_window_jitter_days, t.size) if f.label_window_jitter_days > 0 else 0.0
    return t + (f.label_window_days + extra) * SECONDS_PER_DAY


def friendly_reports(ctx: Context, rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """Dispute times of legitimate rows (first-party "friendly fraud"), NaN for the rest."""
    f = ctx.profile.fraud
    rate = f.friendly_fraud_rate * ctx.label_noise
    rep = np.full(t.size, np.nan)
    hit = rng.random(t.size) < rate
    k = int(hit.sum())
    if k:
        rep[hit] = t[hit] + f.friendly_delay_median_days * SECONDS_PER_DAY * np.exp(
            f.report_delay_sigma * rng.standard_normal(k))
    return rep


def transfer_counterparties(ctx: Context, rng: np.random.Generator, sender: np.ndarray) -> np.ndarray:
    """Counterparties of transfers from ``sender`` (customer positions, never the sender itself)."""
    pop = ctx.pop
    k = sender.size
    seg = counterparty_segments(pop, ctx.profile.same_segment_share, pop.segment[sender].astype(np.int64),
                                rng.random(k), rng.random(k))
    d = pick_customers(pop, seg, rng.random(k))
    same = d == sender
    if same.any():  # the next customer of the same segment (wrapping inside the segment)
        lo, hi = pop.seg_start[seg[same]], pop.seg_start[seg[same] + 1]
        d[same] = lo + (d[same] - lo + 1) % np.maximum(hi - lo, 1)
        still = d == sender
        d[still] = (d[still] + 1) % pop.n_customers
    return d


def _deposit_events(ctx: Context, rng: np.random.Generator, day: int, hour: int, lo: float, hi: float,
                    n_sub: int) -> dict:
    pop = ctx.pop
    n = int(rng.poisson(ctx.expected_deposits(hour) / n_sub))
    ev = empty_events(n)
    if n == 0:
        return ev
    t = sorted_uniform(rng, n, lo, hi)
    cust = rng.integers(0, pop.n_customers, size=n)
    ev.update(t=t, cust=cust, card=np.full(n, -1, np.int64), cat=np.full(n, DEPOSIT, np.int16),
              chan=np.ones(n, np.int8), merch=np.full(n, -1, np.int64), term=np.full(n, -1, np.int64),
              dev=customer_devices(ctx, rng, cust, 0.0), region=pop.home_region[cust].copy(),
              amount=np.zeros(n), ftype=np.zeros(n, np.int8), case=np.full(n, -1, np.int64),
              label_t=label_final_times(ctx, rng, t), rep_t=np.full(n, np.nan), dest=np.full(n, -1, np.int64),
              amode=np.full(n, 3, np.int8), decl=np.full(n, -30.0, np.float32), u_decl=rng.random(n))
    return ev


def normal_events(ctx: Context, rng: np.random.Generator, day: int, hour: int, sub: int, n_sub: int) -> dict:
    """Legitimate events of one generation window, sorted by time."""
    prof, pop = ctx.profile, ctx.pop
    lam = ctx.expected_window(day, hour) / n_sub
    counts = rng.poisson(lam)
    n = int(counts.sum())
    lo = day * SECONDS_PER_DAY + hour * 3600.0 + sub * 3600.0 / n_sub
    hi = lo + 3600.0 / n_sub
    ev = empty_events(0)
    if n:
        n_seg, n_cat = counts.shape
        t = sorted_uniform(rng, n, lo, hi)
        flat = rng.permutation(np.repeat(np.arange(n_seg * n_cat), counts.ravel()))
        seg = flat // n_cat
        cat = (flat % n_cat).astype(np.int16)
        cust = pick_customers(pop, seg, rng.random(n))
        hours = np.full(n, hour)
        amount = draw_amounts(ctx, rng, cat, hours, cust, day)
        region = pop.home_region[cust].copy()
        R = prof.n_regions
        dest = np.full(n, -1, np.int64)
        amode = np.zeros(n, np.int8)
        if ctx.is_mobile:
            # every wallet action comes from the customer's phone; the counterparty depends on the action
            chan = np.ones(n, np.int8)
            p_on = np.clip(ctx.online[cat] * ctx.seg_online[seg], 0.0, 1.0)
            remote = rng.random(n) < p_on
            travel = rng.random(n) < prof.travel_rate
            if travel.any():
                region[travel] = other_region(ctx, rng, region[travel])
            dev = customer_devices(ctx, rng, cust, prof.new_device_rate)
            is_tr = cat == 4
            merch = np.full(n, -1, np.int64)
            has_m = ~is_tr
            grp = cat.astype(np.int64) * (R + 1) + np.where(remote, R, region)
            merch[has_m] = pick_merchants(pop, grp[has_m], rng.random(int(has_m.sum())))
            if is_tr.any():
                # transfers go to another customer: the sender's segment with probability
                # same_segment_share (family, friends, co-workers), else anyone by activity
                dest[is_tr] = transfer_counterparties(ctx, rng, cust[is_tr])
            out = (cat == 1) | (cat == 4)
            # some customers take whatever is left when the wallet holds less than they want, so an
            # emptied wallet is ordinary behaviour too (resolved by the balance kernel)
            amode[out & (rng.random(n) < prof.full_balance_share)] = 2
            term = np.full(n, -1, np.int64)
            card = np.full(n, -1, np.int64)
        else:
            p_on = np.clip(ctx.online[cat] * ctx.seg_online[seg], 0.0, 1.0)
            online = rng.random(n) < p_on
            chan = online.astype(np.int8)
            if ctx.atm_cat >= 0:
                chan[cat == ctx.atm_cat] = 2
            travel = (~online) & (rng.random(n) < prof.travel_rate)
            if travel.any():
                region[travel] = other_region(ctx, rng, region[travel])
            grp = cat.astype(np.int64) * (R + 1) + np.where(online, R, region)
            merch = pick_merchants(pop, grp, rng.random(n))
            term = np.full(n, -1, np.int64)
            pos = ~online
            npos = int(pos.sum())
            if npos:
                m = merch[pos]
                term[pos] = pop.term_start[m] + (rng.random(npos) * pop.n_terminals[m]).astype(np.int64)
            dev = np.full(n, -1, np.int64)
            non = int(online.sum())
            if non:
                dev[online] = customer_devices(ctx, rng, cust[online], prof.new_device_rate)
            card = pop.card_start[cust] + (rng.random(n) * pop.n_cards[cust]).astype(np.int64)
        ev.update(t=t, cust=cust.astype(np.int64), card=card, cat=cat, chan=chan, merch=merch, term=term, dev=dev,
                  region=region.astype(np.int16), amount=amount, ftype=np.zeros(n, np.int8),
                  case=np.full(n, -1, np.int64), label_t=label_final_times(ctx, rng, t),
                  rep_t=friendly_reports(ctx, rng, t), dest=dest, amode=amode, decl=np.zeros(n, np.float32),
                  u_decl=rng.random(n))
    if ctx.deposit_rate > 0:
        dep = _deposit_events(ctx, rng, day, hour, lo, hi, n_sub)
        if dep["t"].size:
            ev = concat_events([ev, dep])
            ev = take_events(ev, np.argsort(ev["t"], kind="stable"))
    return ev
