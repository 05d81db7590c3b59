"""Normal (legitimate) behaviour: arrivals from a non-homogeneous Poisson process and their attributes.

Arrivals are generated window by window (one hour of one day, split into equal sub-windows when the
expected count is large). In a window the intensity of segment ``g`` and category ``c`` is

    lambda[g, c] = A_g * rate * act_g * s_c * H[c, hour] * W[c, dow] * V[day, c] / 24   (per hour)

with ``A_g`` the total activity of the segment's customers, ``s_c`` the category share, ``H``/``W``
the hour-of-day / day-of-week profiles (mean one), ``V`` the market volume multiplier. By the
superposition property of Poisson processes the window's events are drawn exactly as
``n[g, c] ~ Poisson(lambda[g, c] * window_hours)`` with iid uniform times inside the window and a
customer drawn proportionally to activity, which costs O(rows) rather than O(customers x windows).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .population import Population, pick_customers, pick_merchants
from .profiles import TransactionProfile

__all__ = ["Context", "EVENT_FIELDS", "empty_events", "concat_events", "normal_events", "CHANNELS"]

CHANNELS = ("pos", "online", "atm")
#: Internal per-event fields and dtypes (shared by normal and fraud events).
EVENT_FIELDS = {
    "t": np.float64, "cust": np.int64, "card": np.int64, "cat": np.int16, "chan": np.int8, "merch": np.int64,
    "term": np.int64, "dev": np.int64, "region": np.int16, "amount": np.float64, "ftype": np.int8,
    "case": np.int64, "label_t": np.float64, "dest": np.int64, "amode": np.int8, "decl": np.float32,
}
SECONDS_PER_DAY = 86_400.0
#: Expected rows per generation window above which an hour is split (fixed: streams must not
#: depend on the caller's batch size).
WINDOW_TARGET_ROWS = 1 << 17


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
    """Everything a window needs, compiled once from the profile, the knobs and the market state."""

    profile: TransactionProfile
    pop: Population
    days: int
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
    volume: np.ndarray        # (days, n_cat)
    ticket: np.ndarray        # (days,)
    decline_shift: np.ndarray  # (days,)
    fraud_mult: np.ndarray    # (days,)
    fraud_rates: dict         # typology -> cases per customer-day
    fraud_scale: float
    overlap: float
    base_logit: float
    atm_cat: int              # category index of ATM cash (-1 if none)
    is_mobile: bool

    def expected_window(self, day: int, hour: int) -> np.ndarray:
        """Expected arrivals per (segment, category) in hour ``hour`` of ``day``, shape (n_seg, n_cat)."""
        dow = (self.start_dow + day) % 7
        per_cat = (self.profile.rate_per_customer_day / 24.0) * self.shares * self.hour_w[:, hour] \
            * self.dow_w[:, dow] * self.volume[day]
        return np.outer(self.pop.seg_activity * self.seg_act, per_cat)

    def n_subwindows(self, day: int, hour: int) -> int:
        lam = float(self.expected_window(day, hour).sum())
        return max(1, int(np.ceil(lam / WINDOW_TARGET_ROWS)))


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
    scale = ctx.seg_amt[pop.segment[cust]] * pop.amount_scale[cust] * ctx.ticket[day] * factor
    a = np.exp(log_a) * scale
    step = ctx.round_to[cat]
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
    """A region different from ``home`` (uniform), or ``home`` if there is one region."""
    R = ctx.profile.n_regions
    if R == 1:
        return home.copy()
    r = rng.integers(0, R - 1, size=home.size)
    return (r + (r >= home)).astype(np.int16)


def normal_events(ctx: Context, rng: np.random.Generator, day: int, hour: int, sub: int, n_sub: int) -> dict:
    """Legitimate events of one generation window, sorted by time."""
    prof, pop = ctx.profile, ctx.pop
    lam = ctx.expected_window(day, hour) / n_sub
    counts = rng.poisson(lam)
    n = int(counts.sum())
    ev = empty_events(0)
    if n == 0:
        return ev
    n_seg, n_cat = counts.shape
    lo = day * SECONDS_PER_DAY + hour * 3600.0 + sub * 3600.0 / n_sub
    t = sorted_uniform(rng, n, lo, lo + 3600.0 / n_sub)
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
            # transfers go to another customer, mostly in the same segment (family, friends, co-workers)
            k = int(is_tr.sum())
            d = pick_customers(pop, seg[is_tr], rng.random(k))
            same = d == cust[is_tr]
            d[same] = (d[same] + 1) % pop.n_customers
            dest[is_tr] = d
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
              case=np.full(n, -1, np.int64),
              label_t=t + prof.fraud.legit_maturity_days * SECONDS_PER_DAY,
              dest=dest, amode=amode, decl=np.zeros(n, np.float32))
    return ev
