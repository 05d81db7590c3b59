"""Fraud and money-laundering typologies as generative stories.

Each typology has its own rate knob (cases per customer-day for a customer of average activity, times
the market fraud multiplier, the configured segment ``fraud_multiplier`` and the ``drift`` multiplier
of the day). A customer's exposure is proportional to its activity: on each day ``n_cases ~
Poisson(rate x total activity of the segment)`` cases start per segment, victims drawn by activity; a case produces a small
set of events (rows) whose timestamps may run into later days; they wait in a time-ordered queue
until their window is generated.

Fraud draws its amounts, counterparties, regions and timing from the laws of legitimate traffic
except where the typology itself differs: regions away from home follow the population's regional
shares (:func:`~simulator.transactions.population.away_region`, also the law of legitimate travel);
transfers go to accounts chosen by the counterparty law of legitimate transfers (same segment with
``same_segment_share``); amounts are cents drawn from continuous laws (no exact fractions, no constant
ratios); case identifiers are salted hashes. Every row's label is final at the end of its dispute
window, drawn from the same law for fraudulent and legitimate rows.

Cards
    ``card_testing``: a burst of micro-amount card-not-present payments at one online merchant within
    minutes, often declined, sometimes followed by a larger purchase.
    ``account_takeover``: remote purchases from a new device and another region with escalating amounts.
    ``compromised_terminal``: a point-of-sale terminal skims every card used there during a window;
    each skimmed card is misused days later (remote or in another region) with probability
    ``compromise_probability``.
    ``merchant_breach``: an online merchant's stored card data is breached; cards used there during
    ``breach_window_days`` are misused online (card not present) days later with ``breach_probability``.
    ``bin_attack``: an enumeration attack on one issuer BIN: many of its cards get micro authorisation
    attempts at one online merchant from one device within an hour, mostly declined; cards that pass
    are misused later.
    ``lost_stolen``: a burst of in-person / ATM transactions in a region new to the card, within hours.
    ``bust_out``: an account older than ``trust_days`` maxes out its card over two days on high-ticket
    categories (first-party fraud: own devices, home region).

Fraudsters adapt: a declined attempt is retried with probability ``adapt_probability`` minutes later,
for a smaller amount at another merchant of the same kind (at most twice).

Mobile money (accounts on one shared graph; mules persist across cases)
    ``account_takeover``: new device and region; the balance is moved by one to three transfers of a
    random share of what is left to mule accounts, each mule cashes out most of what it received.
    Laundering (AMLSim's typologies): ``fan_in``, ``fan_out``, ``cycle``, ``scatter_gather``,
    ``gather_scatter``, ``bipartite``, ``stack`` (layers of mules, fully connected from one layer to
    the next), ``random_walk`` (hops through random mules), with structured cash deposits under the
    reporting threshold and a fee taken at every hop.

Mule network: when the feed starts ``mule_share`` of the customers already act as mules (recruited in
the past); each case takes an active mule with probability ``mule_reuse`` (else recruits a new one);
a mule stops being used once a case it served is reported (account frozen).

Class overlap: with probability ``overlap`` a case is *stealthy*: it keeps the victim's device and
home region, normal amounts, hours and spacing, so part of the fraud looks like normal behaviour.

Labels: a case is reported (``rep_t``) with probability ``report_probability`` (micro-amount testing:
half of it), raised to one as ``label_noise`` goes to 0, after a log-normal delay.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .behaviour import (SECONDS_PER_DAY, Context, concat_events, customer_devices, draw_amounts, empty_events,
                        fresh_ids, label_final_times, other_region, round_amounts, take_events)
from .population import counterparty_segments, pick_customers, pick_merchants, scramble_ids
from .profiles import AML_TYPOLOGIES, CARD_TYPOLOGIES, MOBILE_TYPOLOGIES

__all__ = ["FraudState", "start_cases", "misuse_from_hits", "typology_code"]

# Fraud happens more at night than normal activity does.
_FRAUD_HOURS = np.array([0.9, 1.0, 1.0, 0.95, 0.8, 0.6, 0.5, 0.55, 0.7, 0.85, 0.95, 1.0,
                         1.0, 1.0, 0.95, 0.95, 0.95, 1.0, 1.0, 1.0, 1.0, 1.0, 0.95, 0.9])
_FRAUD_HOURS = _FRAUD_HOURS / _FRAUD_HOURS.sum()
_MICRO = ("card_testing", "bin_attack")
_CASH_IN, _CASH_OUT, _DEBIT, _PAYMENT, _TRANSFER = range(5)


def typology_code(kind: str, name: str) -> int:
    names = CARD_TYPOLOGIES if kind == "cards" else MOBILE_TYPOLOGIES
    return names.index(name) + 1


@dataclass
class FraudState:
    """Mutable fraud state carried across windows (deterministic given the seed)."""

    case_salt: int = 0
    n_cases: int = 0
    pending: dict = field(default_factory=empty_events)  # future fraud events, sorted by t
    # compromised points: terminals (card present) and online merchants (card not present)
    term_from: np.ndarray | None = None
    term_until: np.ndarray | None = None
    term_case: np.ndarray | None = None
    merch_from: np.ndarray | None = None
    merch_until: np.ndarray | None = None
    merch_case: np.ndarray | None = None
    any_compromised: bool = False
    # mule network (mobile money): recruitment and retirement times per customer (inf: never)
    mule_since: np.ndarray | None = None
    mule_until: np.ndarray | None = None
    mule_list: list = field(default_factory=list)
    mule_cases: np.ndarray | None = None

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

    def new_case_ids(self, n: int) -> np.ndarray:
        """Opaque case identifiers (salted 62-bit hashes of a running counter)."""
        ids = scramble_ids(np.arange(self.n_cases, self.n_cases + n, dtype=np.uint64), self.case_salt)
        self.n_cases += n
        return ids


# ---------------------------------------------------------------------- helpers
def _expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Case index of every event and the event's position inside its case."""
    counts = np.asarray(counts, dtype=np.int64)
    case = np.repeat(np.arange(counts.size), counts)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(case.size) - start[case]
    return case, pos


def _group_cumsum(x: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Cumulative sum of ``x`` restarting at every new (contiguous) group."""
    c = np.cumsum(x)
    if not c.size:
        return c
    start = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    base = np.repeat(c[start] - x[start], np.diff(np.r_[start, c.size]))
    return c - base


def _report_times(ctx: Context, rng, t0: np.ndarray, typ: str, factor: float = 1.0) -> np.ndarray:
    """When each case is reported (NaN: never). Delay log-normal with the typology's median."""
    f = ctx.profile.fraud
    n = t0.size
    med = f.aml_report_delay_median_days if typ in AML_TYPOLOGIES else f.report_delay_median_days
    delay = med * factor * SECONDS_PER_DAY * np.exp(f.report_delay_sigma * rng.standard_normal(n))
    p_rep = f.report_probability * (0.5 if typ in _MICRO else 1.0)
    miss = ctx.label_noise * (1.0 - p_rep)
    reported = rng.random(n) >= miss
    return np.where(reported, t0 + delay, np.nan)


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


def day_rate(ctx: Context, typ: str, day: int) -> float:
    """Cases per customer-day of ``typ`` on ``day`` (configured rate x scale x market x drift)."""
    rate = ctx.fraud_rates.get(typ, 0.0) * ctx.fraud_scale * ctx.fraud_mult[ctx.di(day)]
    m = ctx.profile.fraud.drift.get(typ)
    if m is not None and ctx.days > 1:
        rate *= m ** (min(max(day, 0), ctx.days - 1) / (ctx.days - 1))
    return rate


def _victims(ctx: Context, rng, typ: str, day: int, eligible=None) -> np.ndarray:
    """Customers starting a ``typ`` case on ``day``.

    Exposure grows with activity: a customer of activity ``a`` (mean one) in a segment of activity
    multiplier ``act_g`` and configured ``fraud_multiplier`` ``m_g`` starts cases at ``rate * a * act_g *
    m_g`` per day. Per segment the count is Poisson with the summed intensity and victims are drawn
    in proportion to activity (the law of legitimate rows), so a victim's segment, region or activity
    says no more about fraud than the rows themselves do. ``eligible`` restricts the draw (bust-out:
    accounts old enough)."""
    rate = day_rate(ctx, typ, day)
    if rate <= 0:
        return np.empty(0, np.int64)
    pop = ctx.pop
    out = []
    for g in range(len(ctx.seg_fraud)):
        lo, hi = int(pop.seg_start[g]), int(pop.seg_start[g + 1])
        if hi == lo:
            continue
        k = int(rng.poisson(rate * ctx.seg_fraud[g] * ctx.seg_act[g] * pop.seg_activity[g]))
        if not k:
            continue
        v = pick_customers(pop, np.full(k, g), rng.random(k))
        if eligible is not None:
            for _ in range(20):
                bad = ~eligible[v]
                if not bad.any():
                    break
                v[bad] = pick_customers(pop, np.full(int(bad.sum()), g), rng.random(int(bad.sum())))
            v = v[eligible[v]]
        out.append(v)
    return np.concatenate(out).astype(np.int64) if out else np.empty(0, np.int64)


def _cat_index(ctx: Context, names) -> np.ndarray:
    idx = [ctx.profile.category_names.index(n) for n in names if n in ctx.profile.category_names]
    return np.array(idx if idx else list(range(len(ctx.profile.categories))), dtype=np.int16)


def _normal_cats(ctx: Context, rng, n: int, online: bool = False) -> np.ndarray:
    """Categories by the normal mix (of online purchases with ``online``)."""
    cdf = np.cumsum(ctx.shares * ctx.online if online else ctx.shares)
    return np.minimum(np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right"),
                      len(ctx.shares) - 1).astype(np.int16)


def _amount(ctx, rng, cat, t, cust, factor):
    day = np.floor(t / SECONDS_PER_DAY).astype(np.int64)
    hour = ((t % SECONDS_PER_DAY) // 3600).astype(np.int64)
    return draw_amounts(ctx, rng, cat, hour, cust, day, factor)


def _fill_labels(ctx, rng, ev: dict, rep_case: np.ndarray, ci: np.ndarray) -> dict:
    """Label times of fraud events: final at the dispute window's end (the law of every row), reported
    at the case's report time (never before the row itself)."""
    ev["label_t"] = label_final_times(ctx, rng, ev["t"])
    rep = rep_case[ci]
    ev["rep_t"] = np.where(np.isnan(rep), np.nan, np.maximum(rep, ev["t"]))
    return ev


# ---------------------------------------------------------------------- card events
def _card_events(ctx: Context, rng, *, t, cust, card, cat, online, region, amount, dev, ftype, case, decl):
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
              label_t=t.copy(), rep_t=np.full(n, np.nan), dest=np.full(n, -1, np.int64),
              amode=np.zeros(n, np.int8), decl=np.asarray(decl, np.float32) * np.ones(n, np.float32),
              u_decl=rng.random(n))
    return ev


def _adapt(ctx: Context, rng, ev: dict) -> dict:
    """Fraudsters retry declined attempts: minutes later, a smaller amount at another merchant of the
    same kind, less conspicuous (half the extra decline log-odds); at most two retries per attempt."""
    p = ctx.profile.fraud.adapt_probability
    if p <= 0 or not ev["t"].size:
        return ev
    pop, R = ctx.pop, ctx.profile.n_regions
    parts = [ev]
    cur = ev
    for _ in range(2):
        declined = cur["u_decl"] < ctx.decline_probability(cur["t"], cur["decl"])
        retry = declined & (rng.random(declined.size) < p)
        k = int(retry.sum())
        if not k:
            break
        r = take_events(cur, retry)
        r["t"] = r["t"] + 5.0 + rng.exponential(300.0, k)
        step = ctx.round_to[r["cat"]]
        r["amount"] = round_amounts(r["amount"] * rng.uniform(0.3, 0.7, k), step)
        online = r["chan"] == 1
        grp = r["cat"].astype(np.int64) * (R + 1) + np.where(online, R, r["region"])
        r["merch"] = pick_merchants(pop, grp, rng.random(k))
        pos = r["term"] >= 0
        if pos.any():
            m = r["merch"][pos]
            r["term"][pos] = pop.term_start[m] + (rng.random(int(pos.sum())) * pop.n_terminals[m]).astype(np.int64)
        r["decl"] = (r["decl"] * 0.5).astype(np.float32)
        r["u_decl"] = rng.random(k)
        parts.append(r)
        cur = r
    out = concat_events(parts)
    return take_events(out, np.argsort(out["t"], kind="stable"))


def _victim_cards(ctx, rng, victims):
    """One of each victim's cards, uniformly (global card positions, shape (n,))."""
    pop = ctx.pop
    return pop.card_start[victims] + (rng.random(victims.size) * pop.n_cards[victims]).astype(np.int64)


def _burst_times(rng, t0, ci, pos, mean_gap):
    """Event times of bursts: case start ``t0[ci]`` then exponential gaps of mean ``mean_gap`` (seconds)."""
    gaps = rng.exponential(mean_gap)
    gaps[pos == 0] = 0.0
    return t0[ci] + _group_cumsum(gaps, ci)


def _card_testing(ctx, rng, day, victims, state):
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
    case = state.new_case_ids(n)
    ev = _card_events(ctx, rng, t=t, cust=cust, card=card, cat=cat, online=np.ones(ci.size, bool),
                      region=reg_case[ci], amount=amount, dev=dev_case[ci], ftype=code, case=case[ci],
                      decl=np.where(stealth[ci], 0.0, 3.5))
    return _fill_labels(ctx, rng, ev, _report_times(ctx, rng, t0, "card_testing"), ci)


def _account_takeover_cards(ctx, rng, day, victims, state):
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
    ev = _card_events(ctx, rng, t=t, cust=cust, card=card, cat=cat, online=np.ones(ci.size, bool),
                      region=reg_case[ci], amount=amount, dev=dev_case[ci], ftype=code,
                      case=state.new_case_ids(n)[ci], decl=np.where(stealth[ci], 0.0, 0.7))
    return _fill_labels(ctx, rng, ev, _report_times(ctx, rng, t0, "account_takeover"), ci)


def _lost_stolen(ctx, rng, day, victims, state):
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
    ev = _card_events(ctx, rng, t=t, cust=cust, card=card, cat=cat, online=np.zeros(ci.size, bool),
                      region=reg_case[ci], amount=amount, dev=np.full(ci.size, -1, np.int64), ftype=code,
                      case=state.new_case_ids(n)[ci], decl=np.where(stealth[ci], 0.0, 0.5))
    # cardholders notice a lost card quickly
    return _fill_labels(ctx, rng, ev, _report_times(ctx, rng, t0, "lost_stolen", 0.3), ci)


def _bust_out(ctx, rng, day, victims, state):
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
    ev = _card_events(ctx, rng, t=t, cust=cust, card=card, cat=cat, online=online,
                      region=pop.home_region[cust], amount=amount, dev=dev, ftype=code,
                      case=state.new_case_ids(n)[ci], decl=np.full(ci.size, 0.3))
    # the issuer finds out when the payments stop, after the max-out
    return _fill_labels(ctx, rng, ev, _report_times(ctx, rng, t0 + 2 * SECONDS_PER_DAY, "bust_out", 2.0), ci)


def _compromise_points(ctx, rng, day, state: FraudState, n_cases: int, online: bool, past: float = 0.0) -> None:
    """Compromise ``n_cases`` terminals (card present) or online merchants (breach), chosen by risk, at
    uniform times of ``day`` (or, with ``past`` > 0 days, of the ``past`` days before it: the points
    already compromised when generation starts)."""
    pop = ctx.pop
    f = ctx.profile.fraud
    if n_cases == 0:
        return
    if online:
        cand = np.flatnonzero(pop.merch_online)
        if cand.size == 0:
            return
        if state.merch_from is None:
            state.merch_from = np.full(pop.merchant_id.size, np.inf)
            state.merch_until = np.full(pop.merchant_id.size, -np.inf)
            state.merch_case = np.full(pop.merchant_id.size, -1, np.int64)
        w = pop.merch_risk[cand]
        pick = cand[np.minimum(np.searchsorted(np.cumsum(w), rng.random(n_cases) * w.sum(), side="right"),
                               cand.size - 1)]
        t0 = day * SECONDS_PER_DAY + (rng.random(n_cases) * past - past if past else rng.random(n_cases)) * SECONDS_PER_DAY
        state.merch_from[pick] = t0
        state.merch_until[pick] = t0 + f.breach_window_days * SECONDS_PER_DAY
        state.merch_case[pick] = state.new_case_ids(n_cases)
    else:
        n_term = pop.terminal_id.size
        if n_term == 0:
            return
        if state.term_from is None:
            state.term_from = np.full(n_term, np.inf)
            state.term_until = np.full(n_term, -np.inf)
            state.term_case = np.full(n_term, -1, np.int64)
        w = pop.merch_risk[pop.terminal_merchant]
        cdf = np.cumsum(w)
        terms = np.minimum(np.searchsorted(cdf, rng.random(n_cases) * cdf[-1], side="right"), n_term - 1)
        t0 = day * SECONDS_PER_DAY + (rng.random(n_cases) * past - past if past else rng.random(n_cases)) * SECONDS_PER_DAY
        state.term_from[terms] = t0
        state.term_until[terms] = t0 + f.compromise_window_days * SECONDS_PER_DAY
        state.term_case[terms] = state.new_case_ids(n_cases)
    state.any_compromised = True


def _misuse(ctx, rng, *, t_hit, cust, card, case, code, typ, online_only: bool) -> dict:
    """Later misuse of compromised cards: 1+Poisson(1.5) transactions starting 1-5 days after the
    compromise (remote or in another region; card not present only for ``online_only``)."""
    n = t_hit.size
    pop = ctx.pop
    stealth = rng.random(n) < ctx.overlap
    k = 1 + rng.poisson(1.5, n)
    ci, pos = _expand(k)
    t0 = t_hit + (1.0 + rng.exponential(4.0, n)) * SECONDS_PER_DAY
    gaps = rng.exponential(2 * 3600.0, ci.size)
    gaps[pos == 0] = 0.0
    t = t0[ci] + _group_cumsum(gaps, ci)
    cu = cust[ci]
    hot = (["electronics", "retail", "digital_goods", "airlines"] if online_only
           else ["electronics", "retail", "jewellery", "atm_cash", "digital_goods"])
    cat = np.where(stealth[ci], _normal_cats(ctx, rng, ci.size, online_only),
                   rng.choice(_cat_index(ctx, hot), ci.size)).astype(np.int16)
    if online_only:
        online = np.ones(ci.size, bool)
    else:
        online = np.where(stealth[ci], rng.random(ci.size) < ctx.online[cat], rng.random(ci.size) < 0.5)
    amount = _amount(ctx, rng, cat, np.minimum(t, ctx.days * SECONDS_PER_DAY - 1), cu,
                     np.where(stealth[ci], 1.0, 2.0))
    dev_case = np.where(stealth, customer_devices(ctx, rng, cust, 0.0), fresh_ids(rng, n))
    reg_case = np.where(stealth, pop.home_region[cust], other_region(ctx, rng, pop.home_region[cust]))
    ev = _card_events(ctx, rng, t=t, cust=cu, card=card[ci], cat=cat, online=online, region=reg_case[ci],
                      amount=amount, dev=dev_case[ci], ftype=code, case=case[ci],
                      decl=np.where(stealth[ci], 0.0, 0.5))
    ev = _fill_labels(ctx, rng, ev, _report_times(ctx, rng, t0, typ), ci)
    return take_events(ev, t < ctx.days * SECONDS_PER_DAY)


def misuse_from_hits(ctx: Context, rng, ev: dict, state: FraudState) -> dict:
    """Schedule the later misuse of cards used at compromised terminals or breached online merchants
    in ``ev`` (normal events of one window)."""
    if not state.any_compromised or not ev["t"].size:
        return empty_events()
    f = ctx.profile.fraud
    out = []
    for online in (False, True):
        if online:
            if state.merch_from is None:
                continue
            key = np.where(ev["chan"] == 1, ev["merch"], -1)
            frm, until, cases, prob = state.merch_from, state.merch_until, state.merch_case, f.breach_probability
            typ = "merchant_breach"
        else:
            if state.term_from is None:
                continue
            key = ev["term"]
            frm, until, cases, prob = state.term_from, state.term_until, state.term_case, f.compromise_probability
            typ = "compromised_terminal"
        has = key >= 0
        if not has.any():
            continue
        kk = np.where(has, key, 0)
        hit = has & (frm[kk] <= ev["t"]) & (ev["t"] < until[kk])
        hit &= rng.random(hit.size) < prob
        idx = np.flatnonzero(hit)
        if not idx.size:
            continue
        out.append(_misuse(ctx, rng, t_hit=ev["t"][idx], cust=ev["cust"][idx], card=ev["card"][idx],
                           case=cases[key[idx]], code=typology_code("cards", typ), typ=typ, online_only=online))
    if not out:
        return empty_events()
    res = concat_events(out)
    return _adapt(ctx, rng, take_events(res, np.argsort(res["t"], kind="stable")))


def _bin_attack(ctx, rng, day, n_cases, state) -> dict:
    """Enumeration attacks: each hits about ``bin_attack_cards`` cards of one BIN at one online merchant
    from one device, within an hour; approved cards are misused later."""
    pop = ctx.pop
    f = ctx.profile.fraud
    code = typology_code("cards", "bin_attack")
    parts = []
    n_cards_total = pop.card_id.size
    online_m = np.flatnonzero(pop.merch_online)
    if not n_cases or not online_m.size:
        return empty_events()
    cat_dg = _cat_index(ctx, ["digital_goods"])[0]
    dg = online_m[pop.merch_cat[online_m] == cat_dg]
    if not dg.size:
        dg = online_m
    t0 = day * SECONDS_PER_DAY + (np.searchsorted(np.cumsum(_FRAUD_HOURS), rng.random(n_cases), side="right")
                                   .clip(0, 23) + rng.random(n_cases)) * 3600.0
    cases = state.new_case_ids(n_cases)
    rep = _report_times(ctx, rng, t0, "bin_attack")
    for i in range(n_cases):
        b = int(pop.card_bin_code[rng.integers(0, n_cards_total)])  # a BIN, by its number of cards
        cards = np.flatnonzero(pop.card_bin_code == b)
        k = min(cards.size, 1 + int(rng.poisson(max(f.bin_attack_cards - 1.0, 0.0))))
        hit = rng.choice(cards, size=k, replace=False)
        m = int(dg[rng.integers(0, dg.size)])
        tries = 1 + rng.binomial(1, 0.3, k)
        ci, pos = _expand(tries)
        t = np.sort(t0[i] + rng.uniform(0.0, 3600.0, ci.size))
        card = hit[ci]
        cust = pop.card_owner[card]
        n = ci.size
        ev = empty_events(n)
        ev.update(t=t, cust=cust, card=card, cat=np.full(n, pop.merch_cat[m], np.int16), chan=np.ones(n, np.int8),
                  merch=np.full(n, m, np.int64), term=np.full(n, -1, np.int64),
                  dev=np.full(n, fresh_ids(rng, 1)[0], np.int64),
                  region=other_region(ctx, rng, np.full(1, pop.home_region[cust[0]]))[0] * np.ones(n, np.int16),
                  amount=np.round(rng.uniform(0.5, 4.99, n), 2), ftype=np.full(n, code, np.int8),
                  case=np.full(n, cases[i], np.int64), label_t=t.copy(), rep_t=np.full(n, np.nan),
                  dest=np.full(n, -1, np.int64), amode=np.zeros(n, np.int8), decl=np.full(n, 4.0, np.float32),
                  u_decl=rng.random(n))
        ev = _fill_labels(ctx, rng, ev, np.full(n, rep[i]), np.arange(n))
        approved = ev["u_decl"] >= ctx.decline_probability(ev["t"], ev["decl"])
        parts.append(ev)
        later = approved & (rng.random(n) < 0.5)
        if later.any():
            parts.append(_misuse(ctx, rng, t_hit=t[later], cust=cust[later], card=card[later],
                                 case=np.full(int(later.sum()), cases[i], np.int64), code=code, typ="bin_attack",
                                 online_only=True))
    out = concat_events(parts)
    return take_events(out, np.argsort(out["t"], kind="stable"))


# ---------------------------------------------------------------------- mobile money: the account graph
def _init_mules(ctx: Context, rng, state: FraudState) -> None:
    pop = ctx.pop
    n = pop.n_customers
    state.mule_since = np.full(n, np.inf)
    state.mule_until = np.full(n, np.inf)
    state.mule_cases = np.zeros(n, np.int64)
    k = int(rng.binomial(n, ctx.profile.fraud.mule_share))
    if k:
        seg = counterparty_segments(pop, 0.0, np.zeros(k, np.int64), np.ones(k), rng.random(k))
        m = np.unique(pick_customers(pop, seg, rng.random(k)))
        # recruited before the feed (and its burn-in) started, up to half a year earlier
        state.mule_since[m] = -(ctx.burn_in + rng.uniform(0.0, 180.0, m.size)) * SECONDS_PER_DAY
        state.mule_list.extend(int(x) for x in m)


class _Graph:
    """Collects the transfers of a batch of laundering / takeover cases (a Python loop per case: cases
    are few, each has a handful of rows)."""

    def __init__(self, ctx: Context, rng, state: FraudState):
        self.ctx, self.rng, self.state = ctx, rng, state
        self.cols: dict[str, list] = {k: [] for k in ("t", "cust", "cat", "dest", "amount", "amode", "case",
                                                        "rep", "stealth", "newdev")}

    def mule(self, sender: int, t: float, avoid=()) -> int:
        """An account ``sender`` sends to: its segment by the counterparty law of every transfer; an active
        mule of that segment with probability ``mule_reuse``, else a newly recruited customer."""
        ctx, rng, st = self.ctx, self.rng, self.state
        pop = ctx.pop
        seg = int(counterparty_segments(pop, ctx.profile.same_segment_share,
                                        np.array([pop.segment[sender]], np.int64), rng.random(1), rng.random(1))[0])
        if st.mule_list and rng.random() < ctx.profile.fraud.mule_reuse:
            ml = np.asarray(st.mule_list, np.int64)
            ok = (pop.segment[ml] == seg) & (st.mule_since[ml] <= t) & (st.mule_until[ml] > t) & (ml != sender)
            for a in avoid:
                ok &= ml != a
            cand = ml[ok]
            if cand.size:
                w = pop.activity[cand]
                return int(cand[min(np.searchsorted(np.cumsum(w), rng.random() * w.sum(), side="right"),
                                    cand.size - 1)])
        for _ in range(8):
            m = int(pick_customers(pop, np.array([seg]), rng.random(1))[0])
            if m != sender and m not in avoid:
                break
        else:
            m = (sender + 1) % pop.n_customers
        if not np.isfinite(st.mule_since[m]) or st.mule_since[m] > t:
            st.mule_since[m] = t
            st.mule_list.append(m)
        return m

    def add(self, t, cust, cat, dest, amount, amode, case, rep, stealth, newdev=False):
        for k, v in (("t", t), ("cust", cust), ("cat", cat), ("dest", dest), ("amount", amount),
                     ("amode", amode), ("case", case), ("rep", rep), ("stealth", stealth), ("newdev", newdev)):
            self.cols[k].append(v)

    def uses(self, accounts, rep: float) -> None:
        """Accounts used by a case are frozen (retired from the network) once the case is reported."""
        st = self.state
        for a in accounts:
            st.mule_cases[a] += 1
            if np.isfinite(rep):
                st.mule_until[a] = min(st.mule_until[a], rep)

    def events(self, code: int, ato_region=None) -> dict:
        ctx, rng = self.ctx, self.rng
        pop, R = ctx.pop, ctx.profile.n_regions
        c = {k: np.asarray(v) for k, v in self.cols.items()}
        n = c["t"].size
        if n == 0:
            return empty_events()
        cust = c["cust"].astype(np.int64)
        cat = c["cat"].astype(np.int16)
        newdev = c["newdev"].astype(bool)
        dev = customer_devices(ctx, rng, cust, 0.0)
        region = pop.home_region[cust].copy()
        if newdev.any():  # a takeover: the fraudster's phone, elsewhere
            dev[newdev] = fresh_ids(rng, int(newdev.sum()))
            region[newdev] = other_region(ctx, rng, region[newdev])
        merch = np.full(n, -1, np.int64)
        has_m = cat != _TRANSFER
        if has_m.any():
            grp = cat[has_m].astype(np.int64) * (R + 1) + region[has_m]
            merch[has_m] = pick_merchants(pop, grp, rng.random(int(has_m.sum())))
        ev = empty_events(0)
        t = c["t"].astype(np.float64)
        rep = c["rep"].astype(np.float64)
        ev.update(t=t, cust=cust, card=np.full(n, -1, np.int64), cat=cat, chan=np.ones(n, np.int8), merch=merch,
                  term=np.full(n, -1, np.int64), dev=dev, region=region.astype(np.int16),
                  amount=c["amount"].astype(np.float64), ftype=np.full(n, code, np.int8),
                  case=c["case"].astype(np.int64), label_t=label_final_times(ctx, rng, t),
                  rep_t=np.where(np.isnan(rep), np.nan, np.maximum(rep, t)), dest=c["dest"].astype(np.int64),
                  amode=c["amode"].astype(np.int8),
                  decl=np.where(c["stealth"].astype(bool), 0.0, 0.3).astype(np.float32), u_decl=rng.random(n))
        return take_events(ev, np.argsort(ev["t"], kind="stable"))


def _structured(ctx, rng, stealth: bool, cust: int, t: float) -> float:
    """An amount kept under the reporting threshold (structuring), or a normal transfer amount if stealthy."""
    if stealth:
        return float(_amount(ctx, rng, np.array([_TRANSFER], np.int16), np.array([t]), np.array([cust]), 1.0)[0])
    thr = ctx.profile.fraud.aml_threshold
    return round(float(thr * rng.uniform(0.5, 0.98)), 2)


def _fee(rng, amount: float) -> float:
    """What is forwarded after the hop's cut (0.5-3 %, varies by hop), in cents."""
    return round(amount * (1.0 - rng.uniform(0.005, 0.03)), 2)


def _split(rng, amount: float, k: int) -> np.ndarray:
    """Split ``amount`` into ``k`` random parts (cents)."""
    w = rng.dirichlet(np.full(k, 2.0))
    return np.round(amount * w, 2)


def _ato_mobile(ctx, rng, day, victims, state):
    code = typology_code("mobile-money", "account_takeover")
    g = _Graph(ctx, rng, state)
    n = victims.size
    stealth = rng.random(n) < ctx.overlap
    t0 = _case_start(ctx, rng, day, n, stealth)
    rep = _report_times(ctx, rng, t0, "account_takeover")
    cases = state.new_case_ids(n)
    for i in range(n):
        v, s, t = int(victims[i]), bool(stealth[i]), float(t0[i])
        m = 1 + int(rng.binomial(2, 0.5))
        used = [v]
        for _ in range(m):
            mule = g.mule(v, t, avoid=used)
            used.append(mule)
            if s:
                amt = float(_amount(ctx, rng, np.array([_TRANSFER], np.int16), np.array([t]), np.array([v]), 1.0)[0])
                g.add(t, v, _TRANSFER, mule, amt, 0, cases[i], rep[i], s, False)
            else:
                # a random share of what is left (transfer limits and fees leave a remainder)
                g.add(t, v, _TRANSFER, mule, float(rng.uniform(0.5, 0.95)), 1, cases[i], rep[i], s, True)
            t_co = t + 1.0 + rng.exponential(12 * 3600.0 if s else 2 * 3600.0)
            # the mule cashes out the bulk of what it received (it keeps a cut; its own savings stay)
            g.add(t_co, mule, _CASH_OUT, -1, float(rng.uniform(0.85, 0.99)), 4, cases[i], rep[i], s, False)
            t += 1.0 + rng.exponential(3 * 3600.0 if s else 600.0)
        g.uses(used[1:], rep[i])
    return g.events(code)


def _aml(ctx, rng, day, owners, typ, state):
    """Laundering cases of typology ``typ`` owned by ``owners`` (the criminal's own accounts)."""
    code = typology_code("mobile-money", typ)
    g = _Graph(ctx, rng, state)
    n = owners.size
    stealth = rng.random(n) < ctx.overlap
    t0 = _case_start(ctx, rng, day, n, stealth)
    rep = _report_times(ctx, rng, t0, typ)
    cases = state.new_case_ids(n)
    for i in range(n):
        used = _aml_case(ctx, rng, g, typ, int(owners[i]), bool(stealth[i]), float(t0[i]), cases[i], rep[i])
        g.uses(used, rep[i])
    return g.events(code)


def _aml_case(ctx, rng, g: _Graph, typ: str, o: int, s: bool, T: float, case, r) -> list:
    """The rows of one laundering case owned by account ``o`` (stealthy ``s``, starting at ``T``); returns
    the accounts it used."""
    spread = 3.0 if s else 1.0
    used = [o]

    def hop_gap():
        return 1.0 + rng.exponential(3 * 3600.0 * spread)

    def tr(t, a, b, amt):
        g.add(t, a, _TRANSFER, b, amt, 2, case, r, s)

    def cash_in(t, a, amt):
        g.add(t, a, _CASH_IN, -1, amt, 0, case, r, s)

    def cash_out(t, a, amt):
        g.add(t, a, _CASH_OUT, -1, round(amt * rng.uniform(0.9, 0.99), 2), 2, case, r, s)

    def mules(sender, k, t):
        out = []
        for _ in range(k):
            m = g.mule(sender, t, avoid=used)
            used.append(m)
            out.append(m)
        return out

    if typ == "fan_in":
        k = 5 + int(rng.poisson(5.0))
        total, t_last = 0.0, T
        for a in mules(o, k, T):
            t1 = T + rng.uniform(0, SECONDS_PER_DAY * spread)
            amt = _structured(ctx, rng, s, a, t1)
            cash_in(t1, a, amt)
            t2 = t1 + hop_gap()
            f1 = _fee(rng, amt)
            tr(t2, a, o, f1)
            total += f1
            t_last = max(t_last, t2)
        cash_out(t_last + hop_gap(), o, total)
    elif typ == "fan_out":
        k = 5 + int(rng.poisson(5.0))
        targets = mules(o, k, T)
        for a in targets:
            t1 = T + rng.uniform(0, SECONDS_PER_DAY * spread)
            amt = _structured(ctx, rng, s, o, t1)
            cash_in(t1, o, amt)
            t2 = T + SECONDS_PER_DAY * spread + rng.uniform(0, SECONDS_PER_DAY * spread)
            tr(t2, o, a, _fee(rng, amt))
            if rng.random() < 0.7:
                cash_out(t2 + hop_gap(), a, amt * 0.97)
    elif typ in ("scatter_gather", "gather_scatter"):
        k = 4 + int(rng.poisson(4.0))
        if typ == "scatter_gather":
            mids = mules(o, k, T)
            sink = mules(o, 1, T)[0]
            t_last = T
            total = 0.0
            for a in mids:
                t1 = T + rng.uniform(0, SECONDS_PER_DAY * spread)
                amt = _structured(ctx, rng, s, o, t1)
                cash_in(t1, o, amt)
                t2 = T + SECONDS_PER_DAY * spread + rng.uniform(0, 0.5 * SECONDS_PER_DAY * spread)
                f1 = _fee(rng, amt)
                tr(t2, o, a, f1)
                t3 = t2 + hop_gap() * 2
                f2 = _fee(rng, f1)
                tr(t3, a, sink, f2)
                total += f2
                t_last = max(t_last, t3)
            cash_out(t_last + hop_gap(), sink, total)
        else:
            srcs = mules(o, k, T)
            outs = mules(o, 2 + int(rng.poisson(3.0)), T)
            total = 0.0
            t_last = T
            for a in srcs:
                t1 = T + rng.uniform(0, SECONDS_PER_DAY * spread)
                amt = _structured(ctx, rng, s, a, t1)
                cash_in(t1, a, amt)
                t2 = t1 + hop_gap()
                f1 = _fee(rng, amt)
                tr(t2, a, o, f1)
                total += f1
                t_last = max(t_last, t2)
            parts = _split(rng, total * 0.97, len(outs))
            for b, p in zip(outs, parts):
                t3 = t_last + hop_gap()
                tr(t3, o, b, float(p))
                cash_out(t3 + hop_gap(), b, float(p))
    elif typ in ("bipartite", "stack"):
        layers = [[o] + mules(o, int(rng.integers(1, 4)), T)]
        for _ in range(1 if typ == "bipartite" else 2):
            layers.append(mules(o, int(rng.integers(2, 5)), T))
        held = {}
        t_layer = T
        for a in layers[0]:
            t1 = T + rng.uniform(0, SECONDS_PER_DAY * spread)
            amt = _structured(ctx, rng, s, a, t1)
            cash_in(t1, a, amt)
            held[a] = amt
            t_layer = max(t_layer, t1)
        for src_layer, dst_layer in zip(layers[:-1], layers[1:]):
            nxt = {b: 0.0 for b in dst_layer}
            t_next = t_layer
            for a in src_layer:
                parts = _split(rng, _fee(rng, held.get(a, 0.0)), len(dst_layer))
                for b, p in zip(dst_layer, parts):
                    if p < 1.0:
                        continue
                    t2 = t_layer + hop_gap()
                    tr(t2, a, b, float(p))
                    nxt[b] += float(p)
                    t_next = max(t_next, t2)
            held, t_layer = nxt, t_next
        for b, amt in held.items():
            if amt >= 1.0:
                cash_out(t_layer + hop_gap(), b, amt)
    elif typ == "cycle":
        k = 3 + int(rng.poisson(2.0))
        ring = [o]
        for _ in range(k - 1):
            ring += mules(ring[-1], 1, T)
        amt = _structured(ctx, rng, s, o, T)
        cash_in(T, o, amt)
        t = T
        for j in range(k):
            t += hop_gap()
            amt = _fee(rng, amt)
            tr(t, ring[j], ring[(j + 1) % k], amt)
    elif typ == "random_walk":
        h = 3 + int(rng.poisson(2.0))
        amt = _structured(ctx, rng, s, o, T)
        cash_in(T, o, amt)
        cur, t = o, T
        for _ in range(h):
            nxt = mules(cur, 1, t)[0]
            t += hop_gap()
            amt = _fee(rng, amt)
            tr(t, cur, nxt, amt)
            cur = nxt
        cash_out(t + hop_gap(), cur, amt)
    return used


# ---------------------------------------------------------------------- daily case start
def start_cases(ctx: Context, rng_for, day: int, state: FraudState) -> None:
    """Start the day's fraud cases; their events go into ``state.pending``.

    ``rng_for(name)`` returns the dedicated generator of typology ``name`` for this day.
    """
    parts = []
    end = ctx.days * SECONDS_PER_DAY
    pop = ctx.pop
    for typ in ctx.profile.typologies:
        if ctx.fraud_rates.get(typ, 0.0) <= 0:
            continue
        rng = rng_for(typ)
        if ctx.is_mobile and state.mule_since is None:
            _init_mules(ctx, rng_for("__mules__"), state)
        if typ == "bust_out":
            # accounts old enough to have built trust
            victims = _victims(ctx, rng, typ, day, eligible=pop.tenure_days + day >= ctx.profile.fraud.trust_days)
        else:
            victims = _victims(ctx, rng, typ, day)
        if typ in ("compromised_terminal", "merchant_breach"):
            online = typ == "merchant_breach"
            if day == -ctx.burn_in:
                # steady state from the first generated day: the points compromised in the window before it
                f = ctx.profile.fraud
                window = f.breach_window_days if online else f.compromise_window_days
                exposure = float(np.sum(ctx.seg_fraud * ctx.seg_act * pop.seg_activity))
                k = int(rng.poisson(day_rate(ctx, typ, day) * exposure * window))
                _compromise_points(ctx, rng, day, state, k, online=online, past=window)
            _compromise_points(ctx, rng, day, state, victims.size, online=online)
            continue
        if not victims.size:
            continue
        if ctx.is_mobile:
            ev = (_ato_mobile(ctx, rng, day, victims, state) if typ == "account_takeover"
                  else _aml(ctx, rng, day, victims, typ, state))
        elif typ == "bin_attack":
            ev = _bin_attack(ctx, rng, day, victims.size, state)
        else:
            ev = {"card_testing": _card_testing, "account_takeover": _account_takeover_cards,
                  "lost_stolen": _lost_stolen, "bust_out": _bust_out}[typ](ctx, rng, day, victims, state)
            ev = _adapt(ctx, rng, ev)
        parts.append(take_events(ev, ev["t"] < end))
    state.push(concat_events(parts))

