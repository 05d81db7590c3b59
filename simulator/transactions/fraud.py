"""Fraud typologies as generative stories.

Each typology has its own rate knob (cases per customer-day, times the market fraud multiplier and
the configured segment ``fraud_multiplier``). On each day ``n_cases ~ Binomial(n_customers_in_segment,
rate)`` cases start per segment; a case produces a small set of events (rows) whose timestamps may run
into later days; they wait in a time-ordered queue until their window is generated.

Cards
    ``card_testing``: a burst of micro-amount card-not-present payments at one or two online merchants
    within minutes, often declined, sometimes followed by a larger purchase.
    ``account_takeover``: remote purchases from a new device and another region with escalating amounts.
    ``compromised_terminal``: a point-of-sale terminal skims every card used there during a window;
    each skimmed card is misused days later (remote or in another region) with probability
    ``compromise_probability``.
    ``lost_stolen``: a burst of in-person / ATM transactions in a region new to the card, within hours.
    ``bust_out``: after a trust period of normal use, the customer maxes out the card over two days
    on high-ticket categories.

Mobile money
    ``account_takeover``: new device and region, the balance is drained through transfers to one to
    three mule accounts (other customers), each mule then cashes out everything it holds.
    ``fan_in`` / ``fan_out``: many accounts deposit cash under the reporting threshold and transfer it
    to one sink, or one account deposits in structured amounts and transfers them to many.
    ``cycle``: money goes round a loop of accounts and returns to the origin (less small fees).
    ``scatter_gather``: one source scatters to intermediaries who forward to one sink that cashes out.

Class overlap: with probability ``overlap`` a case is *stealthy*: it keeps the victim's device and
home region, normal amounts, hours and spacing, so part of the fraud looks like normal behaviour.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .behaviour import (SECONDS_PER_DAY, Context, concat_events, customer_devices, empty_events, fresh_ids,
                        other_region, take_events)
from .population import pick_merchants
from .profiles import CARD_TYPOLOGIES, MOBILE_TYPOLOGIES

__all__ = ["FraudState", "start_cases", "misuse_from_hits", "typology_code"]

# Fraud happens more at night than normal activity does.
_FRAUD_HOURS = np.array([0.9, 1.0, 1.0, 0.95, 0.8, 0.6, 0.5, 0.55, 0.7, 0.85, 0.95, 1.0,
                         1.0, 1.0, 0.95, 0.95, 0.95, 1.0, 1.0, 1.0, 1.0, 1.0, 0.95, 0.9])
_FRAUD_HOURS = _FRAUD_HOURS / _FRAUD_HOURS.sum()


def typology_code(kind: str, name: str) -> int:
    names = CARD_TYPOLOGIES if kind == "cards" else MOBILE_TYPOLOGIES
    return names.index(name) + 1


@dataclass
class FraudState:
    """Mutable fraud state carried across windows (deterministic given the seed)."""

    pending: dict = field(default_factory=empty_events)  # future fraud events, sorted by t
    term_from: np.ndarray | None = None
    term_until: np.ndarray | None = None
    term_case: np.ndarray | None = None
    any_compromised: bool = False

    def push(self, ev: dict) -> None:
        if not ev["t"].size:
            return
        merged = concat_events([self.pending, ev])
        order = np.argsort(merged["t"], kind="stable")
        self.pending = take_events(merged, order)

    def pop_before(self, t_end: float) -> dict:
        k = int(np.searchsorted(self.pending["t"], t_end, side="left"))
        if k == 0:
            return empty_events()
        out = take_events(self.pending, slice(0, k))
        self.pending = take_events(self.pending, slice(k, None))
        return out


# ---------------------------------------------------------------------- helpers
def _expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Case index of every event and the event's position inside its case."""
    counts = np.asarray(counts, dtype=np.int64)
    case = np.repeat(np.arange(counts.size), counts)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(case.size) - start[case]
    return case, pos


def _delay(ctx: Context, rng, n: int, aml: bool) -> np.ndarray:
    f = ctx.profile.fraud
    med = f.aml_report_delay_median_days if aml else f.report_delay_median_days
    return med * SECONDS_PER_DAY * np.exp(f.report_delay_sigma * rng.standard_normal(n))


def _normal_hour_cdf(ctx: Context) -> np.ndarray:
    w = (ctx.shares[:, None] * ctx.hour_w).sum(axis=0)
    return np.cumsum(w / w.sum())


def _case_start(ctx: Context, rng, day: int, n: int, stealth: np.ndarray) -> np.ndarray:
    cdf_f = np.cumsum(_FRAUD_HOURS)
    cdf_n = _normal_hour_cdf(ctx)
    u = rng.random(n)
    h = np.where(stealth, np.searchsorted(cdf_n, u * cdf_n[-1], side="right"),
                 np.searchsorted(cdf_f, u * cdf_f[-1], side="right"))
    h = np.minimum(h, 23)
    return day * SECONDS_PER_DAY + (h + rng.random(n)) * 3600.0


def _victims(ctx: Context, rng, typ: str, day: int) -> np.ndarray:
    """Customers starting a ``typ`` case on ``day`` (Binomial per segment, uniform inside the segment)."""
    rate = ctx.fraud_rates.get(typ, 0.0) * ctx.fraud_scale * ctx.fraud_mult[day]
    if rate <= 0:
        return np.empty(0, np.int64)
    pop = ctx.pop
    out = []
    for g in range(len(ctx.seg_fraud)):
        n_g = int(pop.seg_start[g + 1] - pop.seg_start[g])
        if n_g == 0:
            continue
        k = rng.binomial(n_g, min(1.0, rate * ctx.seg_fraud[g]))
        if k:
            out.append(pop.seg_start[g] + rng.integers(0, n_g, size=k))
    return np.concatenate(out).astype(np.int64) if out else np.empty(0, np.int64)


def _cat_index(ctx: Context, names) -> np.ndarray:
    idx = [ctx.profile.category_names.index(n) for n in names if n in ctx.profile.category_names]
    return np.array(idx if idx else list(range(len(ctx.profile.categories))), dtype=np.int16)


def _normal_cats(ctx: Context, rng, n: int) -> np.ndarray:
    cdf = np.cumsum(ctx.shares)
    return np.minimum(np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right"),
                      len(ctx.shares) - 1).astype(np.int16)


def _case_ids(day: int, code: int, n: int, offset: int = 0) -> np.ndarray:
    return (np.int64(day) << np.int64(32)) | (np.int64(code) << np.int64(24)) | (np.arange(n, dtype=np.int64) + offset)


def _card_events(ctx: Context, rng, *, t, cust, card, cat, online, region, amount, dev, ftype, case, label_t, decl):
    """Assemble card fraud events (merchant, terminal and channel from category / online / region)."""
    pop, R = ctx.pop, ctx.profile.n_regions
    n = t.size
    online = online & (ctx.online[cat] > 0)
    online |= ctx.online[cat] >= 1.0
    chan = online.astype(np.int8)
    if ctx.atm_cat >= 0:
        chan[cat == ctx.atm_cat] = 2
    grp = cat.astype(np.int64) * (R + 1) + np.where(online, R, region)
    merch = pick_merchants(pop, grp, rng.random(n))
    term = np.full(n, -1, np.int64)
    pos = ~online
    if pos.any():
        m = merch[pos]
        term[pos] = pop.term_start[m] + (rng.random(int(pos.sum())) * pop.n_terminals[m]).astype(np.int64)
    dev = np.where(online, dev, -1)
    ev = empty_events(0)
    ev.update(t=t, cust=cust.astype(np.int64), card=card.astype(np.int64), cat=cat.astype(np.int16), chan=chan,
              merch=merch, term=term, dev=dev.astype(np.int64), region=region.astype(np.int16),
              amount=amount.astype(np.float64), ftype=np.full(n, ftype, np.int8), case=case.astype(np.int64),
              label_t=np.maximum(label_t, t), dest=np.full(n, -1, np.int64), amode=np.zeros(n, np.int8),
              decl=decl.astype(np.float32))
    return ev


def _amount(ctx, rng, cat, t, cust, factor):
    from .behaviour import draw_amounts

    day = np.minimum((t // SECONDS_PER_DAY).astype(np.int64), ctx.days - 1)
    hour = ((t % SECONDS_PER_DAY) // 3600).astype(np.int64)
    return draw_amounts(ctx, rng, cat, hour, cust, day, factor)


# ---------------------------------------------------------------------- card typologies
def _victim_cards(ctx, rng, victims):
    """One of each victim's cards, uniformly (global card ids, shape (n,))."""
    pop = ctx.pop
    return pop.card_start[victims] + (rng.random(victims.size) * pop.n_cards[victims]).astype(np.int64)


def _burst_times(rng, t0, ci, pos, mean_gap):
    """Event times of bursts: case start ``t0[ci]`` then exponential gaps of mean ``mean_gap`` (seconds)."""
    gaps = rng.exponential(mean_gap)
    gaps[pos == 0] = 0.0
    return t0[ci] + _group_cumsum(gaps, ci)


def _card_testing(ctx, rng, day, victims):
    n = victims.size
    code = typology_code("cards", "card_testing")
    stealth = rng.random(n) < ctx.overlap
    k = np.where(stealth, 1 + rng.poisson(1.0, n), 2 + rng.poisson(5.0, n))
    ci, pos = _expand(k)
    t0 = _case_start(ctx, rng, day, n, stealth)
    t = _burst_times(rng, t0, ci, pos, np.where(stealth[ci], 1800.0, 90.0))
    cust = victims[ci]
    pop = ctx.pop
    card = _victim_cards(ctx, rng, victims)[ci]
    cat = np.full(ci.size, _cat_index(ctx, ["digital_goods"])[0], np.int16)
    micro = np.round(rng.uniform(0.5, 4.99, ci.size), 2)
    amount = np.where(stealth[ci], _amount(ctx, rng, cat, t, cust, 1.0), micro)
    # a successful test is sometimes followed by a real purchase
    last = pos == k[ci] - 1
    big = last & (~stealth[ci]) & (rng.random(ci.size) < 0.5)
    if big.any():
        cat[big] = rng.choice(_cat_index(ctx, ["electronics", "retail", "jewellery"]), int(big.sum()))
        amount[big] = _amount(ctx, rng, cat[big], t[big], cust[big], 2.0)
    dev_case = np.where(stealth, customer_devices(ctx, rng, victims, 0.0), fresh_ids(rng, n))
    reg_case = np.where(stealth, pop.home_region[victims], other_region(ctx, rng, pop.home_region[victims]))
    case = _case_ids(day, code, n)
    label = (t0 + _delay(ctx, rng, n, False))[ci]
    return _card_events(ctx, rng, t=t, cust=cust, card=card, cat=cat, online=np.ones(ci.size, bool),
                        region=reg_case[ci], amount=amount, dev=dev_case[ci], ftype=code, case=case[ci],
                        label_t=label, decl=np.where(stealth[ci], 0.0, 2.0))


def _group_cumsum(x: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Cumulative sum of ``x`` restarting at every new (contiguous) group."""
    c = np.cumsum(x)
    if not c.size:
        return c
    start = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    base = np.repeat(c[start] - x[start], np.diff(np.r_[start, c.size]))
    return c - base


def _account_takeover_cards(ctx, rng, day, victims):
    n = victims.size
    code = typology_code("cards", "account_takeover")
    pop = ctx.pop
    stealth = rng.random(n) < ctx.overlap
    k = 2 + rng.poisson(2.0, n)
    ci, pos = _expand(k)
    t0 = _case_start(ctx, rng, day, n, stealth)
    t = _burst_times(rng, t0, ci, pos, np.where(stealth[ci], 6 * 3600.0, 40 * 60.0))
    cust = victims[ci]
    card = _victim_cards(ctx, rng, victims)[ci]
    hot = _cat_index(ctx, ["electronics", "digital_goods", "retail", "jewellery", "airlines"])
    cat = np.where(stealth[ci], _normal_cats(ctx, rng, ci.size), rng.choice(hot, ci.size)).astype(np.int16)
    growth = rng.uniform(1.3, 1.8, n)
    # escalating story: one base ticket per case, multiplied by growth ** step (small noise)
    base = _amount(ctx, rng, cat[pos == 0], t[pos == 0], victims, 1.0)
    escalating = base[ci] * growth[ci] ** pos * np.exp(0.1 * rng.standard_normal(ci.size))
    amount = np.where(stealth[ci], _amount(ctx, rng, cat, t, cust, 1.0), np.round(escalating, 2))
    dev_case = np.where(stealth, customer_devices(ctx, rng, victims, 0.0), fresh_ids(rng, n))
    reg_case = np.where(stealth, pop.home_region[victims], other_region(ctx, rng, pop.home_region[victims]))
    label = (t0 + _delay(ctx, rng, n, False))[ci]
    return _card_events(ctx, rng, t=t, cust=cust, card=card, cat=cat, online=np.ones(ci.size, bool),
                        region=reg_case[ci], amount=amount, dev=dev_case[ci], ftype=code,
                        case=_case_ids(day, code, n)[ci], label_t=label, decl=np.where(stealth[ci], 0.0, 0.7))


def _lost_stolen(ctx, rng, day, victims):
    n = victims.size
    code = typology_code("cards", "lost_stolen")
    pop = ctx.pop
    stealth = rng.random(n) < ctx.overlap
    k = 2 + rng.poisson(3.0, n)
    ci, pos = _expand(k)
    t0 = _case_start(ctx, rng, day, n, stealth)
    t = _burst_times(rng, t0, ci, pos, np.where(stealth[ci], 4 * 3600.0, 25 * 60.0))
    cust = victims[ci]
    card = _victim_cards(ctx, rng, victims)[ci]
    hot = _cat_index(ctx, ["electronics", "jewellery", "retail", "atm_cash", "fuel", "grocery"])
    cat = np.where(stealth[ci], _normal_cats(ctx, rng, ci.size), rng.choice(hot, ci.size)).astype(np.int16)
    amount = _amount(ctx, rng, cat, t, cust, np.where(stealth[ci], 1.0, 1.6))
    reg_case = np.where(stealth, pop.home_region[victims], other_region(ctx, rng, pop.home_region[victims]))
    label = (t0 + _delay(ctx, rng, n, False) * 0.3)[ci]  # cardholders notice a lost card quickly
    return _card_events(ctx, rng, t=t, cust=cust, card=card, cat=cat, online=np.zeros(ci.size, bool),
                        region=reg_case[ci], amount=amount, dev=np.full(ci.size, -1, np.int64), ftype=code,
                        case=_case_ids(day, code, n)[ci], label_t=label, decl=np.where(stealth[ci], 0.0, 0.5))


def _bust_out(ctx, rng, day, victims):
    if day < ctx.profile.fraud.trust_days:
        return empty_events()
    n = victims.size
    code = typology_code("cards", "bust_out")
    pop = ctx.pop
    stealth = rng.random(n) < ctx.overlap
    k = 6 + rng.poisson(6.0, n)
    ci, pos = _expand(k)
    t0 = _case_start(ctx, rng, day, n, stealth)
    t = t0[ci] + rng.uniform(0.0, 2 * SECONDS_PER_DAY, ci.size)
    order = np.lexsort((t, ci))
    t = t[order]
    cust = victims[ci]
    card = _victim_cards(ctx, rng, victims)[ci]
    hot = _cat_index(ctx, ["electronics", "jewellery", "airlines", "retail", "hotels"])
    cat = rng.choice(hot, ci.size).astype(np.int16)
    amount = _amount(ctx, rng, cat, t, cust, np.where(stealth[ci], 1.5, 3.0))
    online = rng.random(ci.size) < ctx.online[cat]
    dev = customer_devices(ctx, rng, cust, 0.0)  # first-party fraud: own devices, home region
    label = (t0 + 2 * SECONDS_PER_DAY + _delay(ctx, rng, n, False) * 2.0)[ci]
    return _card_events(ctx, rng, t=t, cust=cust, card=card, cat=cat, online=online,
                        region=pop.home_region[cust], amount=amount, dev=dev, ftype=code,
                        case=_case_ids(day, code, n)[ci], label_t=label, decl=np.full(ci.size, 0.3))


def _compromise_terminals(ctx, rng, day, state: FraudState, n_cases: int) -> None:
    pop = ctx.pop
    n_term = pop.terminal_id.size
    if n_cases == 0 or n_term == 0:
        return
    if state.term_from is None:
        state.term_from = np.full(n_term, np.inf)
        state.term_until = np.full(n_term, -np.inf)
        state.term_case = np.full(n_term, -1, np.int64)
    w = pop.merch_risk[pop.terminal_merchant]
    cdf = np.cumsum(w)
    terms = np.minimum(np.searchsorted(cdf, rng.random(n_cases) * cdf[-1], side="right"), n_term - 1)
    code = typology_code("cards", "compromised_terminal")
    t0 = day * SECONDS_PER_DAY + rng.random(n_cases) * SECONDS_PER_DAY
    state.term_from[terms] = t0
    state.term_until[terms] = t0 + ctx.profile.fraud.compromise_window_days * SECONDS_PER_DAY
    state.term_case[terms] = _case_ids(day, code, n_cases)
    state.any_compromised = True


def misuse_from_hits(ctx: Context, rng, ev: dict, state: FraudState) -> dict:
    """Schedule the later misuse of cards skimmed at compromised terminals in ``ev`` (normal events)."""
    if not state.any_compromised or not ev["t"].size:
        return empty_events()
    term = ev["term"]
    has = term >= 0
    if not has.any():
        return empty_events()
    tt = np.where(has, term, 0)
    hit = has & (state.term_from[tt] <= ev["t"]) & (ev["t"] < state.term_until[tt])
    hit &= rng.random(hit.size) < ctx.profile.fraud.compromise_probability
    idx = np.flatnonzero(hit)
    n = idx.size
    if n == 0:
        return empty_events()
    pop = ctx.pop
    code = typology_code("cards", "compromised_terminal")
    stealth = rng.random(n) < ctx.overlap
    victims = ev["cust"][idx]
    k = 1 + rng.poisson(1.5, n)
    ci, pos = _expand(k)
    t0 = ev["t"][idx] + (1.0 + rng.exponential(4.0, n)) * SECONDS_PER_DAY
    gaps = rng.exponential(2 * 3600.0, ci.size)
    gaps[pos == 0] = 0.0
    t = t0[ci] + _group_cumsum(gaps, ci)
    keep = t < ctx.days * SECONDS_PER_DAY
    cust = victims[ci]
    hot = _cat_index(ctx, ["electronics", "retail", "jewellery", "atm_cash", "digital_goods"])
    cat = np.where(stealth[ci], _normal_cats(ctx, rng, ci.size), rng.choice(hot, ci.size)).astype(np.int16)
    online = np.where(stealth[ci], rng.random(ci.size) < ctx.online[cat], rng.random(ci.size) < 0.5)
    amount = _amount(ctx, rng, cat, np.minimum(t, ctx.days * SECONDS_PER_DAY - 1), cust,
                     np.where(stealth[ci], 1.0, 2.0))
    dev_case = np.where(stealth, customer_devices(ctx, rng, victims, 0.0), fresh_ids(rng, n))
    reg_case = np.where(stealth, pop.home_region[victims], other_region(ctx, rng, pop.home_region[victims]))
    label = (t0 + _delay(ctx, rng, n, False))[ci]
    out = _card_events(ctx, rng, t=t, cust=cust, card=ev["card"][idx][ci], cat=cat, online=online,
                       region=reg_case[ci], amount=amount, dev=dev_case[ci], ftype=code,
                       case=state.term_case[term[idx]][ci], label_t=label,
                       decl=np.where(stealth[ci], 0.0, 0.5))
    return take_events(out, keep)


# ---------------------------------------------------------------------- mobile-money typologies
_CASH_IN, _CASH_OUT, _DEBIT, _PAYMENT, _TRANSFER = range(5)


def _mm_events(ctx, rng, *, t, cust, cat, dest, amount, amode, dev, region, ftype, case, label_t, decl):
    pop, R = ctx.pop, ctx.profile.n_regions
    n = t.size
    merch = np.full(n, -1, np.int64)
    has_m = cat != _TRANSFER
    if has_m.any():
        grp = cat[has_m].astype(np.int64) * (R + 1) + region[has_m]
        merch[has_m] = pick_merchants(pop, grp, rng.random(int(has_m.sum())))
    ev = empty_events(0)
    ev.update(t=t, cust=cust.astype(np.int64), card=np.full(n, -1, np.int64), cat=cat.astype(np.int16),
              chan=np.ones(n, np.int8), merch=merch, term=np.full(n, -1, np.int64), dev=dev.astype(np.int64),
              region=region.astype(np.int16), amount=amount.astype(np.float64),
              ftype=np.full(n, ftype, np.int8), case=case.astype(np.int64), label_t=np.maximum(label_t, t),
              dest=dest.astype(np.int64), amode=amode.astype(np.int8), decl=decl.astype(np.float32))
    return ev


def _random_others(ctx, rng, avoid: np.ndarray, n_per: np.ndarray) -> np.ndarray:
    """``n_per[i]`` random customers (by activity, any segment) per case, avoiding ``avoid[i]``."""
    pop = ctx.pop
    ci = np.repeat(np.arange(avoid.size), n_per)
    u = rng.random(ci.size) * pop.cum_activity[-1]
    c = np.minimum(np.searchsorted(pop.cum_activity, u, side="right"), pop.n_customers - 1)
    same = c == avoid[ci]
    c[same] = (c[same] + 1) % pop.n_customers
    return c


def _ato_mobile(ctx, rng, day, victims):
    n = victims.size
    code = typology_code("mobile-money", "account_takeover")
    pop = ctx.pop
    stealth = rng.random(n) < ctx.overlap
    m = 1 + rng.binomial(2, 0.5, n)
    mules = _random_others(ctx, rng, victims, m)
    ci, pos = _expand(m)
    t0 = _case_start(ctx, rng, day, n, stealth)
    gaps = rng.exponential(np.where(stealth[ci], 3 * 3600.0, 600.0))
    gaps[pos == 0] = 0.0
    t_tr = t0[ci] + _group_cumsum(gaps, ci)
    # transfer j takes 1/(m - j) of what is left: the last one empties the wallet
    frac = 1.0 / (m[ci] - pos)
    amount_tr = np.where(stealth[ci], _amount(ctx, rng, np.full(ci.size, _TRANSFER, np.int16), t_tr,
                                              victims[ci], 1.0), frac)
    amode_tr = np.where(stealth[ci], 0, 1)
    dev_case = np.where(stealth, customer_devices(ctx, rng, victims, 0.0), fresh_ids(rng, n))
    reg_case = np.where(stealth, pop.home_region[victims], other_region(ctx, rng, pop.home_region[victims]))
    delay = _delay(ctx, rng, n, False)
    case = _case_ids(day, code, n)
    tr = _mm_events(ctx, rng, t=t_tr, cust=victims[ci], cat=np.full(ci.size, _TRANSFER, np.int16), dest=mules,
                    amount=amount_tr, amode=amode_tr, dev=dev_case[ci], region=reg_case[ci], ftype=code,
                    case=case[ci], label_t=(t0 + delay)[ci], decl=np.where(stealth[ci], 0.0, 0.3))
    t_co = t_tr + rng.exponential(np.where(stealth[ci], 12 * 3600.0, 2 * 3600.0)) + 1.0
    co = _mm_events(ctx, rng, t=t_co, cust=mules, cat=np.full(ci.size, _CASH_OUT, np.int16),
                    dest=np.full(ci.size, -1), amount=np.ones(ci.size), amode=np.ones(ci.size, np.int8),
                    dev=customer_devices(ctx, rng, mules, 0.0), region=pop.home_region[mules], ftype=code,
                    case=case[ci], label_t=(t0 + delay)[ci], decl=np.zeros(ci.size))
    return concat_events([tr, co])


def _structured(ctx, rng, stealth_rows, cust, t):
    """Amounts kept under the reporting threshold (structuring), or normal transfer amounts if stealthy."""
    size = cust.size
    thr = ctx.profile.fraud.aml_threshold
    legit = _amount(ctx, rng, np.full(size, _TRANSFER, np.int16), t, cust, 1.0)
    return np.where(stealth_rows, legit, np.round(thr * rng.uniform(0.5, 0.98, size), 2))


def _aml(ctx, rng, day, sources, typ):
    """fan_in, fan_out, cycle and scatter_gather cases started by ``sources``."""
    n = sources.size
    code = typology_code("mobile-money", typ)
    pop = ctx.pop
    stealth = rng.random(n) < ctx.overlap
    spread = np.where(stealth, 3.0, 1.0)
    t0 = _case_start(ctx, rng, day, n, stealth)
    label = t0 + _delay(ctx, rng, n, True)
    case = _case_ids(day, code, n)
    parts = []

    def ev(t, cust, cat, dest, amount, amode, ci, decl=0.0):
        cust = np.asarray(cust, np.int64)
        parts.append(_mm_events(
            ctx, rng, t=t, cust=cust, cat=np.full(t.size, cat, np.int16), dest=np.asarray(dest, np.int64),
            amount=amount, amode=np.full(t.size, amode, np.int8), dev=customer_devices(ctx, rng, cust, 0.0),
            region=pop.home_region[cust], ftype=code, case=case[ci], label_t=label[ci],
            decl=np.full(t.size, decl)))

    if typ in ("fan_in", "fan_out", "scatter_gather"):
        k = (5 if typ != "scatter_gather" else 4) + rng.poisson(5.0 if typ != "scatter_gather" else 4.0, n)
        others = _random_others(ctx, rng, sources, k)
        ci, pos = _expand(k)
        amt = _structured(ctx, rng, stealth[ci], sources[ci], t0[ci])
        t_in = t0[ci] + rng.uniform(0, 1.0, ci.size) * SECONDS_PER_DAY * spread[ci]
        t_tr = t_in + rng.exponential(3600.0 * spread[ci]) + 1.0
        fwd = np.round(amt * rng.uniform(0.9, 0.99, ci.size), 2)
        if typ == "fan_in":
            # many mules deposit cash and transfer it to one sink, which cashes out
            ev(t_in, others, _CASH_IN, -np.ones(ci.size), amt, 0, ci)
            ev(t_tr, others, _TRANSFER, sources[ci], fwd, 0, ci)
            t_end = np.full(n, -np.inf)
            np.maximum.at(t_end, ci, t_tr)
            ev(t_end + rng.exponential(6 * 3600.0, n) + 1.0, sources, _CASH_OUT, -np.ones(n), np.ones(n), 1,
               np.arange(n))
        elif typ == "fan_out":
            ev(t_in, sources[ci], _CASH_IN, -np.ones(ci.size), amt, 0, ci)
            t_out = t0[ci] + SECONDS_PER_DAY * spread[ci] + rng.uniform(0, 1.0, ci.size) * SECONDS_PER_DAY * spread[ci]
            ev(t_out, sources[ci], _TRANSFER, others, fwd, 0, ci)
        else:  # scatter_gather: source -> intermediaries -> sink -> cash out
            sink = _random_others(ctx, rng, sources, np.ones(n, np.int64))
            ev(t_in, sources[ci], _CASH_IN, -np.ones(ci.size), amt, 0, ci)
            t_sc = t0[ci] + SECONDS_PER_DAY * spread[ci] + rng.uniform(0, 0.5, ci.size) * SECONDS_PER_DAY * spread[ci]
            ev(t_sc, sources[ci], _TRANSFER, others, fwd, 0, ci)
            fwd2 = np.round(fwd * rng.uniform(0.95, 0.99, ci.size), 2)
            t_ga = t_sc + rng.exponential(6 * 3600.0 * spread[ci]) + 1.0
            ev(t_ga, others, _TRANSFER, sink[ci], fwd2, 0, ci)
            t_end = np.full(n, -np.inf)
            np.maximum.at(t_end, ci, t_ga)
            ev(t_end + rng.exponential(6 * 3600.0, n) + 1.0, sink, _CASH_OUT, -np.ones(n), np.ones(n), 1,
               np.arange(n))
    elif typ == "cycle":
        k = 3 + rng.poisson(2.0, n)
        others = _random_others(ctx, rng, sources, k - 1)
        # ring of k accounts: source, others..., back to source
        ring_ci, ring_pos = _expand(k)
        members = np.empty(ring_ci.size, np.int64)
        first = ring_pos == 0
        members[first] = sources
        members[~first] = others
        nxt = np.where(ring_pos == k[ring_ci] - 1, sources[ring_ci], np.r_[members[1:], 0])
        a0 = _structured(ctx, rng, stealth, sources, t0)
        ev(t0, sources, _CASH_IN, -np.ones(n), a0, 0, np.arange(n))
        gaps = rng.exponential(3 * 3600.0 * spread[ring_ci]) + 1.0
        t_hop = t0[ring_ci] + _group_cumsum(gaps, ring_ci)
        amt = np.round(a0[ring_ci] * 0.98 ** (ring_pos + 1), 2)
        ev(t_hop, members, _TRANSFER, nxt, amt, 0, ring_ci)
    return concat_events(parts)


# ---------------------------------------------------------------------- daily case start
def start_cases(ctx: Context, rng_for, day: int, state: FraudState) -> None:
    """Start the day's fraud cases; their events go into ``state.pending``.

    ``rng_for(name)`` returns the dedicated generator of typology ``name`` for this day.
    """
    parts = []
    for typ in ctx.profile.typologies:
        if ctx.fraud_rates.get(typ, 0.0) <= 0:
            continue
        rng = rng_for(typ)
        victims = _victims(ctx, rng, typ, day)
        if typ == "compromised_terminal":
            _compromise_terminals(ctx, rng, day, state, victims.size)
            continue
        if not victims.size:
            continue
        if ctx.is_mobile:
            ev = _ato_mobile(ctx, rng, day, victims) if typ == "account_takeover" else _aml(ctx, rng, day, victims, typ)
        else:
            ev = {"card_testing": _card_testing, "account_takeover": _account_takeover_cards,
                  "lost_stolen": _lost_stolen, "bust_out": _bust_out}[typ](ctx, rng, day, victims)
        end = ctx.days * SECONDS_PER_DAY
        parts.append(take_events(ev, ev["t"] < end))
    state.push(concat_events(parts))
