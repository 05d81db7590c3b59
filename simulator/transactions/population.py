"""Synthetic population: customers, cards, devices, merchants (or agents) and terminals.

Everything is a struct of NumPy arrays indexed by an internal position. Customers are stored
sorted by segment so that a customer of a given segment can be drawn with one ``searchsorted`` on
the cumulative activity. Public identifiers are salted 64-bit hashes of the internal position
(:func:`scramble_ids`), so no identifier reveals a segment, an activity level or a fraud label.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .profiles import TransactionProfile

__all__ = ["Population", "build_population", "scramble_ids", "ID_MASK"]

ID_MASK = np.uint64((1 << 62) - 1)

# Entity salts (mixed with the seed): identifiers of different entities never coincide by construction.
_SALT = {"customer": 0x9E3779B97F4A7C15, "card": 0xBF58476D1CE4E5B9, "device": 0x94D049BB133111EB,
         "merchant": 0xD6E8FEB86659FD93, "terminal": 0xA0761D6478BD642F, "case": 0x2545F4914F6CDD1D,
         "bank": 0x61C8864680B583EB}
#: KYC levels of the accounts table (simplified tiers: phone-only, ID checked, enhanced due diligence).
KYC_LEVELS = ("basic", "standard", "enhanced")
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")


def _splitmix64(x: np.ndarray) -> np.ndarray:
    z = x.astype(np.uint64, copy=True)
    z += np.uint64(0x9E3779B97F4A7C15)
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


def scramble_ids(index: np.ndarray, salt: int) -> np.ndarray:
    """Map internal positions to 62-bit pseudo-random public identifiers (int64), one-to-one in practice."""
    with np.errstate(over="ignore"):
        h = _splitmix64(np.asarray(index, dtype=np.uint64) ^ np.uint64(salt & 0xFFFFFFFFFFFFFFFF))
    return (h & ID_MASK).astype(np.int64)


@dataclass
class Population:
    """Struct-of-arrays population (internal positions; public ids in ``*_id`` arrays)."""

    n_customers: int
    segment: np.ndarray          # (n_customers,) int8, sorted ascending
    seg_start: np.ndarray        # (n_segments + 1,) int64 offsets into customers
    activity: np.ndarray         # (n_customers,) mean-one gamma activity
    cum_activity: np.ndarray     # (n_customers,) cumulative activity
    seg_activity: np.ndarray     # (n_segments,) total activity per segment
    amount_scale: np.ndarray     # (n_customers,) spending level (mean one over activity)
    home_region: np.ndarray      # (n_customers,) int16
    customer_id: np.ndarray      # (n_customers,) int64
    card_start: np.ndarray       # (n_customers,) int64
    n_cards: np.ndarray          # (n_customers,) int64
    card_id: np.ndarray          # (n_cards_total,) int64
    dev_start: np.ndarray        # (n_customers,) int64
    n_devices: np.ndarray        # (n_customers,) int64
    device_id: np.ndarray        # (n_devices_total,) int64
    # merchants sorted by group g = category * (n_regions + 1) + (region | n_regions for online)
    merch_cat: np.ndarray        # (n_merchants,) int16
    merch_region: np.ndarray     # (n_merchants,) int16 (n_regions for online merchants)
    merch_online: np.ndarray     # (n_merchants,) bool
    merch_cum: np.ndarray        # (n_merchants,) cumulative popularity
    group_lo: np.ndarray         # (n_groups,) cumulative popularity at group start
    group_w: np.ndarray          # (n_groups,) total popularity of the group (0: empty)
    group_first: np.ndarray      # (n_groups,) first merchant position of the group
    group_count: np.ndarray      # (n_groups,) merchants in the group
    merchant_id: np.ndarray      # (n_merchants,) int64
    merch_risk: np.ndarray       # (n_merchants,) float, latent compromise risk
    term_start: np.ndarray       # (n_merchants,) int64
    n_terminals: np.ndarray      # (n_merchants,) int64
    terminal_id: np.ndarray      # (n_terminals_total,) int64
    terminal_merchant: np.ndarray  # (n_terminals_total,) int64
    initial_balance: np.ndarray  # (n_customers,) float (mobile money; zeros for cards)
    target_balance: np.ndarray   # (n_customers,) usual balance that deposits top up to (mobile money)
    tenure_days: np.ndarray      # (n_customers,) account age at the feed start, days
    kyc_level: np.ndarray        # (n_customers,) int8 code into KYC_LEVELS
    age_band: np.ndarray         # (n_customers,) int8 code into AGE_BANDS
    card_bin: np.ndarray         # (n_cards_total,) int32 6-digit BIN
    card_bin_code: np.ndarray    # (n_cards_total,) int32 index of the BIN
    bin_values: np.ndarray       # (n_bins,) int32
    card_owner: np.ndarray       # (n_cards_total,) int64 customer position
    cust_prob: np.ndarray = None   # alias tables of customers by activity inside each segment
    cust_alias: np.ndarray = None
    merch_prob: np.ndarray = None  # alias tables of merchants by popularity inside each group
    merch_alias: np.ndarray = None

    def __post_init__(self):
        from ._kernels import build_alias

        seg_count = np.diff(self.seg_start)
        self.cust_prob = np.empty(self.n_customers)
        self.cust_alias = np.empty(self.n_customers, np.int64)
        build_alias(self.activity, self.seg_start[:-1].copy(), seg_count, self.cust_prob, self.cust_alias)
        pop_w = np.diff(np.r_[0.0, self.merch_cum])
        self.merch_prob = np.empty(pop_w.size)
        self.merch_alias = np.empty(pop_w.size, np.int64)
        build_alias(pop_w, self.group_first, self.group_count, self.merch_prob, self.merch_alias)

    @property
    def n_regions(self) -> int:
        return int(self.merch_region.max(initial=0))

    def group_of(self, cat: np.ndarray, region: np.ndarray, n_regions: int) -> np.ndarray:
        return cat.astype(np.int64) * (n_regions + 1) + region.astype(np.int64)


def region_shares(n_regions: int) -> np.ndarray:
    """Population share of each region (Zipf-like: a capital, a few cities, rural areas)."""
    w = 1.0 / np.arange(1, n_regions + 1) ** 0.8
    return w / w.sum()


def away_region(shares: np.ndarray, home: np.ndarray, u: np.ndarray) -> np.ndarray:
    """A region other than ``home`` drawn by population share (the law of both legitimate travel and
    fraud away from home), from uniforms ``u``; ``home`` itself when there is one region."""
    R = shares.size
    home = np.asarray(home, dtype=np.int64)
    if R == 1:
        return home.astype(np.int16)
    cdf = np.cumsum(shares)
    # mass below home and of home: draw in the cdf with home's slice removed
    lo = np.where(home > 0, cdf[np.maximum(home - 1, 0)], 0.0)
    p_home = shares[home]
    x = u * (1.0 - p_home)
    x = np.where(x >= lo, x + p_home, x)
    r = np.minimum(np.searchsorted(cdf, x, side="right"), R - 1)
    r = np.where(r == home, np.where(home + 1 < R, home + 1, home - 1), r)  # rounding at the edges
    return r.astype(np.int16)


def build_population(profile: TransactionProfile, n_customers: int, rng: np.random.Generator, *,
                     salt: int, n_merchants: int | None = None) -> Population:
    """Draw a population for ``profile`` (``rng`` is a dedicated stream, ``salt`` personalises ids)."""
    R = profile.n_regions
    segs = profile.segments
    seg_share = np.array([s.share for s in segs], dtype=float)
    seg_share /= seg_share.sum()
    seg_counts = rng.multinomial(n_customers, seg_share)
    segment = np.repeat(np.arange(len(segs), dtype=np.int8), seg_counts)
    seg_start = np.concatenate([[0], np.cumsum(seg_counts)]).astype(np.int64)
    k = profile.activity_shape
    activity = rng.gamma(k, 1.0 / k, size=n_customers)
    cum_activity = np.cumsum(activity)
    # a trailing zero keeps every start index in range when the last segments drew no customer
    seg_activity = np.add.reduceat(np.append(activity, 0.0), seg_start[:-1]) if n_customers else np.zeros(len(segs))
    seg_activity = np.where(seg_counts > 0, seg_activity, 0.0)
    sig = profile.customer_amount_sigma
    amount_scale = np.exp(sig * rng.standard_normal(n_customers) - 0.5 * sig * sig)
    if n_customers:
        # exact mean one over transactions (activity-weighted), so amount laws keep their calibrated mean
        amount_scale /= np.dot(activity, amount_scale) / activity.sum()
    home_region = rng.choice(R, size=n_customers, p=region_shares(R)).astype(np.int16)
    # pre-existing histories: account age (exponential), KYC tier and age band (documented assumptions)
    tenure_days = rng.exponential(profile.mean_tenure_days, size=n_customers)
    kyc_level = rng.choice(3, size=n_customers, p=[0.25, 0.65, 0.10]).astype(np.int8)
    age_band = rng.choice(6, size=n_customers, p=[0.12, 0.20, 0.19, 0.18, 0.15, 0.16]).astype(np.int8)
    order = np.arange(n_customers, dtype=np.uint64)
    customer_id = scramble_ids(order, salt ^ _SALT["customer"])

    n_cards = 1 + rng.binomial(2, 0.25, size=n_customers) if profile.kind == "cards" else np.ones(n_customers, np.int64)
    card_start = np.concatenate([[0], np.cumsum(n_cards)[:-1]]).astype(np.int64)
    card_id = scramble_ids(np.arange(int(n_cards.sum()), dtype=np.uint64), salt ^ _SALT["card"])
    n_bins = profile.n_bins
    bin_values = np.sort(rng.choice(np.arange(400_000, 560_000), size=n_bins, replace=False)).astype(np.int32)
    bin_w = 1.0 / np.arange(1, n_bins + 1) ** 0.9
    card_bin_code = rng.choice(n_bins, size=int(n_cards.sum()), p=bin_w / bin_w.sum()).astype(np.int32)
    card_bin = bin_values[card_bin_code]
    card_owner = np.repeat(np.arange(n_customers, dtype=np.int64), n_cards)
    n_devices = 1 + rng.binomial(1, 0.3, size=n_customers)
    dev_start = np.concatenate([[0], np.cumsum(n_devices)[:-1]]).astype(np.int64)
    device_id = scramble_ids(np.arange(int(n_devices.sum()), dtype=np.uint64), salt ^ _SALT["device"])

    # --- merchants: at least one per needed (category, region|online) group, the rest by share
    cats = profile.categories
    n_cat = len(cats)
    n_groups = n_cat * (R + 1)
    has_merchant = np.array([not (profile.kind == "mobile-money" and c.name == "TRANSFER") for c in cats])
    need = np.zeros(n_groups, dtype=bool)
    gw = np.zeros(n_groups)
    rs = region_shares(R)
    share = np.array([c.share for c in cats], dtype=float)
    share = share / share.sum()
    for ci, c in enumerate(cats):
        if not has_merchant[ci]:
            continue
        base = ci * (R + 1)
        if c.online_share < 1.0:
            need[base:base + R] = True
            gw[base:base + R] = share[ci] * (1.0 - c.online_share) * rs
        if c.online_share > 0.0:
            need[base + R] = True
            gw[base + R] = share[ci] * c.online_share
    target = int(n_merchants) if n_merchants is not None else int(round(n_customers * profile.merchants_per_customer))
    extra = max(target - int(need.sum()), 0)
    counts = need.astype(np.int64) + (rng.multinomial(extra, gw / gw.sum()) if extra and gw.sum() > 0 else 0)
    merch_group = np.repeat(np.arange(n_groups), counts)
    merch_cat = (merch_group // (R + 1)).astype(np.int16)
    merch_region = (merch_group % (R + 1)).astype(np.int16)
    merch_online = merch_region == R
    pop = rng.lognormal(0.0, 1.0, size=merch_group.size)
    merch_cum = np.cumsum(pop)
    group_first = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    group_w = np.zeros(n_groups)
    nz = counts > 0
    group_w[nz] = np.add.reduceat(pop, group_first[nz])
    group_lo = np.concatenate([[0.0], np.cumsum(group_w)[:-1]])
    merchant_id = scramble_ids(np.arange(merch_group.size, dtype=np.uint64), salt ^ _SALT["merchant"])
    merch_risk = rng.beta(1.0, 9.0, size=merch_group.size)
    n_terminals = np.where(merch_online, 0, 1 + rng.poisson(1.5, size=merch_group.size)).astype(np.int64)
    term_start = np.concatenate([[0], np.cumsum(n_terminals)[:-1]]).astype(np.int64)
    n_term_total = int(n_terminals.sum())
    terminal_id = scramble_ids(np.arange(n_term_total, dtype=np.uint64), salt ^ _SALT["terminal"])
    terminal_merchant = np.repeat(np.arange(merch_group.size), n_terminals)

    initial_balance = np.zeros(n_customers)
    target_balance = np.zeros(n_customers)
    if profile.kind == "mobile-money":
        means = np.array([np.exp(np.asarray(c.amount_mu) + 0.5 * np.asarray(c.amount_sigma) ** 2).mean()
                          for c in cats])
        outflow = float(np.sum(share[1:] * means[1:]))  # per transaction, CASH_IN excluded
        seg_act = np.array([s.activity for s in segs])[segment]
        seg_amt = np.array([s.amount_scale for s in segs])[segment]
        daily_out = profile.rate_per_customer_day * activity * seg_act * seg_amt * amount_scale * outflow
        target_balance = np.round(profile.balance_days * daily_out, 2)
        # close to the stationary spread of balance / usual balance under weekly deposits (measured)
        initial_balance = np.round(target_balance * rng.lognormal(math.log(1.2), 0.8, n_customers), 2)

    return Population(
        n_customers=n_customers, segment=segment, seg_start=seg_start, activity=activity,
        cum_activity=cum_activity, seg_activity=seg_activity, amount_scale=amount_scale,
        home_region=home_region, customer_id=customer_id, card_start=card_start, n_cards=n_cards.astype(np.int64),
        card_id=card_id, dev_start=dev_start, n_devices=n_devices.astype(np.int64), device_id=device_id,
        merch_cat=merch_cat, merch_region=merch_region, merch_online=merch_online, merch_cum=merch_cum,
        group_lo=group_lo, group_w=group_w, group_first=group_first, group_count=counts,
        merchant_id=merchant_id, merch_risk=merch_risk, term_start=term_start, n_terminals=n_terminals,
        terminal_id=terminal_id, terminal_merchant=terminal_merchant, initial_balance=initial_balance,
        target_balance=target_balance, tenure_days=tenure_days, kyc_level=kyc_level, age_band=age_band,
        card_bin=card_bin, card_bin_code=card_bin_code, bin_values=bin_values, card_owner=card_owner,
    )


def _alias_draw(prob, alias, first, count, u):
    """Alias-method draw: ``u`` uniform in [0, 1) carries both the slot and the acceptance coin."""
    x = u * count
    slot = np.minimum(x.astype(np.int64), count - 1)
    j = first + slot
    keep = (x - slot) < prob[j]
    return np.where(keep, j, alias[j])


def pick_merchants(pop: Population, group: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Merchant positions drawn by popularity inside each ``group`` (``u`` uniform in [0, 1))."""
    count = np.maximum(pop.group_count[group], 1)
    return _alias_draw(pop.merch_prob, pop.merch_alias, pop.group_first[group], count, u)


def pick_customers(pop: Population, seg: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Customer positions drawn proportionally to activity inside segment ``seg`` (exact, O(1) per draw)."""
    count = np.maximum(pop.seg_start[seg + 1] - pop.seg_start[seg], 1)
    return _alias_draw(pop.cust_prob, pop.cust_alias, pop.seg_start[seg], count, u)


def counterparty_segments(pop: Population, same_share: float, sender_seg: np.ndarray, u_same: np.ndarray,
                          u_seg: np.ndarray) -> np.ndarray:
    """Segment of each transfer's counterparty: the sender's own with probability ``same_share``, else
    any segment in proportion to its total activity (so it can be the sender's too). One law for
    legitimate transfers and for the accounts fraud and laundering send to."""
    w = np.where(np.diff(pop.seg_start) > 0, pop.seg_activity, 0.0)
    cdf = np.cumsum(w) / w.sum()
    anyseg = np.minimum(np.searchsorted(cdf, u_seg, side="right"), w.size - 1)
    return np.where(u_same < same_share, sender_seg, anyseg).astype(np.int64)
