"""Transaction profiles: what a synthetic feed looks like, as plain, JSON-serialisable data.

A :class:`TransactionProfile` holds only aggregates (rates, hour-of-day and day-of-week profiles,
amount laws per category, segment mix, fraud-typology rates, market elasticities, label delays),
never individual records. Two profiles are built in:

``cards``
    Card payments: 14 merchant-category groups (MCC), point-of-sale, online and ATM channels.
``mobile-money``
    Mobile-money wallet actions ``CASH_IN``, ``CASH_OUT``, ``DEBIT``, ``PAYMENT``, ``TRANSFER``
    with per-account balances (amount laws and hour profile shaped on the PaySim aggregates).

Profiles serialise to JSON and back exactly (:meth:`TransactionProfile.to_json`,
:meth:`TransactionProfile.from_json`); fitting
(``calibration.fit_transactions``) returns a profile of the same type, wrapped with its targets.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Mapping

import numpy as np

__all__ = [
    "Category",
    "Segment",
    "Elasticities",
    "FraudConfig",
    "TransactionProfile",
    "get_profile",
    "PROFILE_NAMES",
    "CARD_TYPOLOGIES",
    "MOBILE_TYPOLOGIES",
]

HOURS = 24
DAYS_OF_WEEK = 7

#: Fraud typologies per profile kind (code = position + 1; code 0 means "not fraud").
CARD_TYPOLOGIES = ("card_testing", "account_takeover", "compromised_terminal", "lost_stolen", "bust_out",
                   "merchant_breach", "bin_attack")
MOBILE_TYPOLOGIES = ("account_takeover", "fan_in", "fan_out", "cycle", "scatter_gather", "gather_scatter",
                     "bipartite", "stack", "random_walk")
#: Money-laundering typologies (AMLSim's checklist: fan-in, fan-out, cycle, scatter-gather, gather-scatter,
#: bipartite, stack, random); their labels come from investigations, later than fraud reports.
AML_TYPOLOGIES = ("fan_in", "fan_out", "cycle", "scatter_gather", "gather_scatter", "bipartite", "stack",
                  "random_walk")
ALL_TYPOLOGIES = tuple(dict.fromkeys(CARD_TYPOLOGIES + MOBILE_TYPOLOGIES))

KINDS = ("cards", "mobile-money")
#: Mobile-money actions and the sign of their effect on the originator's balance.
MOBILE_ACTIONS = ("CASH_IN", "CASH_OUT", "DEBIT", "PAYMENT", "TRANSFER")
#: Wallet actions of a mobile-money feed: the five above plus ``DEPOSIT``, the external income that keeps
#: wallets funded (see ``TransactionProfile.deposit_interval_days``).
MOBILE_FEED_ACTIONS = MOBILE_ACTIONS + ("DEPOSIT",)


def _tuple(values, n: int, what: str) -> tuple[float, ...]:
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size != n:
        raise ValueError(f"{what} must have {n} values, got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} must be finite, got {arr.tolist()}")
    return tuple(float(v) for v in arr)


def _check_pos(value: float, what: str, *, allow_zero: bool = False) -> None:
    ok = (value >= 0) if allow_zero else (value > 0)
    if not (isinstance(value, (int, float)) and math.isfinite(value) and ok):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{what} must be a finite number {bound}, got {value!r}")


def _check_prob(value: float, what: str) -> None:
    if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
        raise ValueError(f"{what} must be a probability in [0, 1], got {value!r}")


@dataclass(frozen=True)
class Category:
    """One merchant category (cards) or wallet action (mobile money).

    Parameters
    ----------
    name : str
        Category name (``grocery``, ``PAYMENT``, ...).
    code : int
        MCC code (cards) or action code (mobile money).
    share : float
        Share of the transaction volume of an average customer (shares are normalised over categories).
    online_share : float
        Probability that a transaction of this category is card-not-present / remote.
    amount_mu, amount_sigma : tuple of 24 floats
        Log-normal amount law by hour of day: ``log(amount)`` has mean ``amount_mu[h]`` and standard
        deviation ``amount_sigma[h]`` before the per-customer and per-segment scale (currency units).
    hour_weights : tuple of 24 floats
        Relative arrival intensity by hour of day (normalised to mean 1).
    dow_weights : tuple of 7 floats
        Relative arrival intensity by day of week, Monday first (normalised to mean 1).
    market_sensitivity : float
        Multiplies the volume elasticities for this category (essentials < 1 < discretionary).
    round_to : float
        Amounts are rounded to a multiple of this (0.01 for cents, 20 for ATM notes).
    """

    name: str
    code: int
    share: float
    online_share: float
    amount_mu: tuple[float, ...]
    amount_sigma: tuple[float, ...]
    hour_weights: tuple[float, ...]
    dow_weights: tuple[float, ...] = (1.0,) * DAYS_OF_WEEK
    market_sensitivity: float = 1.0
    round_to: float = 0.01

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"category name must be a non-empty string, got {self.name!r}")
        where = f"category {self.name!r}"
        object.__setattr__(self, "code", int(self.code))
        _check_pos(float(self.share), f"{where}: share", allow_zero=True)
        _check_prob(float(self.online_share), f"{where}: online_share")
        object.__setattr__(self, "amount_mu", _tuple(self.amount_mu, HOURS, f"{where}: amount_mu"))
        sig = _tuple(self.amount_sigma, HOURS, f"{where}: amount_sigma")
        if min(sig) < 0:
            raise ValueError(f"{where}: amount_sigma must be >= 0, got {sig}")
        object.__setattr__(self, "amount_sigma", sig)
        for attr, n in (("hour_weights", HOURS), ("dow_weights", DAYS_OF_WEEK)):
            w = np.asarray(_tuple(getattr(self, attr), n, f"{where}: {attr}"))
            if w.min() < 0 or w.sum() <= 0:
                raise ValueError(f"{where}: {attr} must be >= 0 with a positive sum, got {w.tolist()}")
            if abs(w.mean() - 1.0) > 1e-12:  # idempotent, so JSON round trips are exact
                w = w / w.mean()
            object.__setattr__(self, attr, tuple(float(v) for v in w))
        _check_pos(float(self.market_sensitivity), f"{where}: market_sensitivity", allow_zero=True)
        _check_pos(float(self.round_to), f"{where}: round_to")

    def mean_amount(self) -> np.ndarray:
        """Mean amount by hour of day (before customer/segment/market scale), shape (24,)."""
        mu, sig = np.asarray(self.amount_mu), np.asarray(self.amount_sigma)
        return np.exp(mu + 0.5 * sig**2)


@dataclass(frozen=True)
class Segment:
    """A customer segment.

    Parameters
    ----------
    name : str
    share : float
        Share of customers (normalised over segments).
    activity : float
        Multiplier of the per-customer transaction rate.
    amount_scale : float
        Multiplier of transaction amounts.
    online_multiplier : float
        Multiplier of the online share of each category (probabilities are clipped to [0, 1]).
    fraud_multiplier : float
        Configured multiplier of every fraud-typology case rate for this segment's customers
        (1.0: no segment effect). The fairness check flags segment effects not configured here.
    """

    name: str
    share: float
    activity: float = 1.0
    amount_scale: float = 1.0
    online_multiplier: float = 1.0
    fraud_multiplier: float = 1.0

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"segment name must be a non-empty string, got {self.name!r}")
        for attr in ("share", "activity", "amount_scale", "online_multiplier", "fraud_multiplier"):
            _check_pos(float(getattr(self, attr)), f"segment {self.name!r}: {attr}", allow_zero=attr != "amount_scale")


@dataclass(frozen=True)
class Elasticities:
    """Response of the feed to the market state (per day: drawdown ``dd`` and volatility ratio ``vr``).

    With ``s`` the category's ``market_sensitivity``:

    * volume multiplier ``exp(volume_drawdown * s * dd) * vr ** (volume_vol * s)``
    * ticket-size multiplier ``exp(ticket_drawdown * dd) * vr ** ticket_vol``
    * decline log-odds shift ``decline_drawdown * dd + decline_vol * log(vr)``
    * fraud-intensity multiplier ``exp(fraud_drawdown * dd) * vr ** fraud_vol``

    ``dd`` is a fraction (0.2 = 20 % below the running peak), ``vr`` is 1.0 in a calm market.
    The defaults give, for a 30 % drawdown with doubled volatility: volume -31 % (s = 1), tickets
    -17 %, declines 1.9x in odds, fraud cases 2.2x.
    """

    volume_drawdown: float = -1.0
    volume_vol: float = -0.10
    ticket_drawdown: float = -0.6
    ticket_vol: float = 0.0
    decline_drawdown: float = 1.5
    decline_vol: float = 0.3
    fraud_drawdown: float = 2.0
    fraud_vol: float = 0.3

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                raise ValueError(f"elasticity {f.name!r} must be a finite number, got {v!r}")
            object.__setattr__(self, f.name, float(v))


@dataclass(frozen=True)
class FraudConfig:
    """Fraud typologies, their case rates, the generative-story settings and the label lifecycle.

    Parameters
    ----------
    rates : dict
        Cases per customer per day for each typology (before the market multiplier, the segment
        ``fraud_multiplier`` and ``drift``). For ``compromised_terminal`` a case is one compromised
        terminal, for ``merchant_breach`` one breached online merchant, for ``bin_attack`` one attack.
    overlap : float
        Class-overlap knob in [0, 1]: the probability that a fraud case mimics the victim's normal
        behaviour (usual device and region, normal amount law and hours), so the feed is not
        trivially separable.
    compromise_window_days, compromise_probability : float
        How long a compromised terminal skims cards; probability that a card used there is later misused.
    breach_window_days, breach_probability : float
        The same for an online merchant whose stored card data is breached (card-not-present misuse).
    bin_attack_cards : float
        Mean number of the BIN's cards an enumeration attack hits.
    trust_days : float
        Bust-out: minimum account tenure (days since the account was opened) before the max-out.
    report_delay_median_days, report_delay_sigma : float
        Fraud report (chargeback / claim) delay after the case starts: log-normal with this median
        (days) and log-sd.
    aml_report_delay_median_days : float
        Median report delay for the money-laundering typologies (found by investigation, later).
    label_window_days, label_window_jitter_days : float
        Every row's label is final ``label_window_days`` plus an exponential extra of mean
        ``label_window_jitter_days`` (processing, delivery dates) after the transaction: the end of
        the dispute (chargeback) window, the same law for legitimate and fraudulent rows. A report
        after it does not count (``label_observed`` stays false).
    report_probability : float
        Probability that a fraud case is ever reported (micro-amount testing cases: half of it).
    friendly_fraud_rate : float
        Probability that a legitimate, approved row is disputed as fraud by its own customer
        (first-party "friendly fraud"): observed label true, ``is_fraud`` false.
    friendly_delay_median_days : float
        Median delay of such disputes (log-normal, log-sd ``report_delay_sigma``).
    adapt_probability : float
        Probability that a fraudster whose attempt was declined retries (smaller amount, another
        merchant, after minutes); retries can be declined and retried again (at most twice).
    drift : dict
        Concept drift: typology -> rate multiplier reached on the last day of the feed (log-linear
        from 1 on day 0); typologies not named keep their rate.
    aml_threshold : float
        Reporting threshold that structured AML transfers stay below (currency units).
    mule_share : float
        Share of customers already acting as money mules when the feed starts (pre-existing network).
    mule_reuse : float
        Probability that a case takes an active mule from the network rather than recruiting a new one.
    """

    rates: Mapping[str, float]
    overlap: float = 0.3
    compromise_window_days: float = 14.0
    compromise_probability: float = 0.3
    breach_window_days: float = 30.0
    breach_probability: float = 0.2
    bin_attack_cards: float = 25.0
    trust_days: float = 60.0
    report_delay_median_days: float = 12.0
    report_delay_sigma: float = 0.7
    aml_report_delay_median_days: float = 45.0
    label_window_days: float = 120.0
    label_window_jitter_days: float = 10.0
    report_probability: float = 0.9
    friendly_fraud_rate: float = 2e-4
    friendly_delay_median_days: float = 30.0
    adapt_probability: float = 0.5
    drift: Mapping[str, float] = field(default_factory=dict)
    aml_threshold: float = 10_000.0
    mule_share: float = 0.002
    mule_reuse: float = 0.7

    def __post_init__(self):
        if not isinstance(self.rates, Mapping):
            raise TypeError(f"fraud rates must be a mapping typology -> rate, got {type(self.rates).__name__}")
        rates = {}
        for k, v in self.rates.items():
            if k not in ALL_TYPOLOGIES:
                raise ValueError(f"unknown fraud typology {k!r}; valid: {', '.join(ALL_TYPOLOGIES)}")
            _check_prob(float(v), f"fraud rate {k!r} (cases per customer-day)")
            rates[k] = float(v)
        object.__setattr__(self, "rates", dict(sorted(rates.items())))
        if not isinstance(self.drift, Mapping):
            raise TypeError(f"fraud drift must be a mapping typology -> end-of-feed multiplier, got "
                            f"{type(self.drift).__name__}")
        drift = {}
        for k, v in self.drift.items():
            if k not in ALL_TYPOLOGIES:
                raise ValueError(f"drift: unknown fraud typology {k!r}; valid: {', '.join(ALL_TYPOLOGIES)}")
            _check_pos(float(v), f"drift multiplier of {k!r}")
            drift[k] = float(v)
        object.__setattr__(self, "drift", dict(sorted(drift.items())))
        for attr in ("overlap", "compromise_probability", "breach_probability", "report_probability",
                     "friendly_fraud_rate", "adapt_probability", "mule_share", "mule_reuse"):
            _check_prob(float(getattr(self, attr)), attr)
            object.__setattr__(self, attr, float(getattr(self, attr)))
        for attr in ("compromise_window_days", "breach_window_days", "bin_attack_cards", "trust_days",
                     "report_delay_median_days", "report_delay_sigma", "aml_report_delay_median_days",
                     "label_window_days", "label_window_jitter_days", "friendly_delay_median_days",
                     "aml_threshold"):
            _check_pos(float(getattr(self, attr)), attr,
                       allow_zero=attr in ("trust_days", "report_delay_sigma", "label_window_jitter_days"))
            object.__setattr__(self, attr, float(getattr(self, attr)))


@dataclass(frozen=True)
class TransactionProfile:
    """Everything that defines a synthetic feed except the population size, horizon and seed.

    Parameters
    ----------
    name : str
    kind : {"cards", "mobile-money"}
    categories : tuple of Category
    segments : tuple of Segment
    rate_per_customer_day : float
        Expected transactions per customer per day for an average customer (activity 1).
    activity_shape : float
        Shape of the gamma law of per-customer activity (mean 1); smaller = more heterogeneous.
    customer_amount_sigma : float
        Log-sd of the per-customer amount scale (mean-one log-normal), the spending level.
    n_regions : int
        Number of regions (home regions of customers, locations of merchants).
    merchants_per_customer : float
        Merchants (and agents) in the population per customer.
    base_decline_rate : float
        Probability that a normal transaction is declined in a calm market.
    travel_rate : float
        Probability that a normal in-person transaction happens outside the home region.
    new_device_rate : float
        Probability that a normal remote transaction comes from a device not seen before.
    full_balance_share : float
        Mobile money: probability that a normal outgoing transfer or cash-out takes whatever is left
        when the wallet holds less than the wanted amount (so an emptied wallet does not reveal fraud).
    balance_days : float
        Mobile money: median initial balance in days of the customer's expected outflow; also the
        customer's usual balance that ``DEPOSIT`` rows top the wallet up to.
    deposit_interval_days : float
        Mobile money: mean days between a customer's external income events (salary, remittance from a
        bank). Each event tops the wallet up to the customer's usual balance when it is below it, as a
        ``DEPOSIT`` row (none when the wallet is full), so wallets neither drain nor grow without
        bound. 0 disables deposits.
    same_segment_share : float
        Mobile money: probability that a transfer goes to a customer of the sender's own segment (else
        to anyone, by activity). Legitimate and fraudulent transfers (mules) follow the same law.
    mean_tenure_days : float
        Mean account age when the feed starts (exponential law); the KYC table records it.
    n_bins : int
        Cards: number of issuer BINs (6-digit card-number prefixes) the cards are spread over (Zipf shares).
    fraud : FraudConfig
    elasticities : Elasticities
    provenance : dict
        Where the numbers come from (built-in, or the fitted table's hash and fit settings).
    """

    name: str
    kind: str
    categories: tuple[Category, ...]
    segments: tuple[Segment, ...]
    rate_per_customer_day: float
    fraud: FraudConfig
    elasticities: Elasticities = field(default_factory=Elasticities)
    activity_shape: float = 2.0
    customer_amount_sigma: float = 0.5
    n_regions: int = 12
    merchants_per_customer: float = 0.1
    base_decline_rate: float = 0.02
    travel_rate: float = 0.02
    new_device_rate: float = 0.01
    full_balance_share: float = 0.25
    balance_days: float = 10.0
    deposit_interval_days: float = 0.0
    same_segment_share: float = 0.8
    mean_tenure_days: float = 1460.0
    n_bins: int = 40
    provenance: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"profile kind must be one of {KINDS}, got {self.kind!r}")
        cats = tuple(self.categories)
        if not cats or not all(isinstance(c, Category) for c in cats):
            raise TypeError("profile categories must be a non-empty sequence of Category")
        names = [c.name for c in cats]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate category names in profile {self.name!r}: {names}")
        if sum(c.share for c in cats) <= 0:
            raise ValueError(f"profile {self.name!r}: category shares must have a positive sum")
        if self.kind == "mobile-money" and tuple(names) != MOBILE_ACTIONS:
            raise ValueError(f"mobile-money profile categories must be exactly {MOBILE_ACTIONS} in this order, got {tuple(names)}")
        object.__setattr__(self, "categories", cats)
        segs = tuple(self.segments)
        if not segs or not all(isinstance(s, Segment) for s in segs):
            raise TypeError("profile segments must be a non-empty sequence of Segment")
        if len({s.name for s in segs}) != len(segs):
            raise ValueError(f"duplicate segment names in profile {self.name!r}")
        if sum(s.share for s in segs) <= 0:
            raise ValueError(f"profile {self.name!r}: segment shares must have a positive sum")
        object.__setattr__(self, "segments", segs)
        if not isinstance(self.fraud, FraudConfig):
            raise TypeError("profile fraud must be a FraudConfig")
        valid = CARD_TYPOLOGIES if self.kind == "cards" else MOBILE_TYPOLOGIES
        bad = [k for k in self.fraud.rates if k not in valid]
        if bad:
            raise ValueError(f"typologies {bad} do not apply to a {self.kind} profile; valid: {', '.join(valid)}")
        if not isinstance(self.elasticities, Elasticities):
            raise TypeError("profile elasticities must be an Elasticities")
        _check_pos(float(self.rate_per_customer_day), "rate_per_customer_day")
        _check_pos(float(self.activity_shape), "activity_shape")
        _check_pos(float(self.customer_amount_sigma), "customer_amount_sigma", allow_zero=True)
        _check_pos(float(self.merchants_per_customer), "merchants_per_customer")
        _check_pos(float(self.balance_days), "balance_days")
        if not isinstance(self.n_regions, (int, np.integer)) or not 1 <= int(self.n_regions) <= 1000:
            raise ValueError(f"n_regions must be an integer in [1, 1000], got {self.n_regions!r}")
        object.__setattr__(self, "n_regions", int(self.n_regions))
        if not isinstance(self.n_bins, (int, np.integer)) or not 1 <= int(self.n_bins) <= 10_000:
            raise ValueError(f"n_bins must be an integer in [1, 10000], got {self.n_bins!r}")
        object.__setattr__(self, "n_bins", int(self.n_bins))
        _check_pos(float(self.deposit_interval_days), "deposit_interval_days", allow_zero=True)
        _check_pos(float(self.mean_tenure_days), "mean_tenure_days")
        for attr in ("deposit_interval_days", "mean_tenure_days"):
            object.__setattr__(self, attr, float(getattr(self, attr)))
        for attr in ("base_decline_rate", "travel_rate", "new_device_rate", "full_balance_share",
                     "same_segment_share"):
            _check_prob(float(getattr(self, attr)), attr)
            object.__setattr__(self, attr, float(getattr(self, attr)))
        for attr in ("rate_per_customer_day", "activity_shape", "customer_amount_sigma", "merchants_per_customer",
                     "balance_days"):
            object.__setattr__(self, attr, float(getattr(self, attr)))
        object.__setattr__(self, "provenance", dict(self.provenance))

    # ------------------------------------------------------------------ helpers
    @property
    def typologies(self) -> tuple[str, ...]:
        """Typologies that apply to this profile's kind, in code order (code = index + 1)."""
        return CARD_TYPOLOGIES if self.kind == "cards" else MOBILE_TYPOLOGIES

    @property
    def category_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.categories)

    def with_knobs(self, **changes) -> "TransactionProfile":
        """A copy with top-level fields replaced (``dataclasses.replace`` with validation)."""
        return replace(self, **changes)

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict:
        d = asdict(self)
        d["format"] = "stress-sim/transaction-profile/1"
        return d

    def to_json(self) -> str:
        """Human-readable JSON (round-trips exactly through :meth:`from_json`)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TransactionProfile":
        if not isinstance(d, Mapping):
            raise TypeError(f"a transaction profile must be a JSON object, got {type(d).__name__}")
        d = dict(d)
        fmt = d.pop("format", "stress-sim/transaction-profile/1")
        if fmt != "stress-sim/transaction-profile/1":
            raise ValueError(f"unsupported transaction profile format {fmt!r}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown transaction profile keys {unknown}; valid: {sorted(known)}")
        try:
            d["categories"] = tuple(Category(**c) for c in d["categories"])
            d["segments"] = tuple(Segment(**s) for s in d["segments"])
            fr = dict(d["fraud"])
            if "legit_maturity_days" in fr:  # profiles written by 0.3 and earlier
                fr.setdefault("label_window_days", fr.pop("legit_maturity_days"))
            d["fraud"] = FraudConfig(**fr)
            if "elasticities" in d:
                d["elasticities"] = Elasticities(**d["elasticities"])
            return cls(**d)
        except KeyError as exc:
            raise ValueError(f"transaction profile is missing key {exc.args[0]!r}") from None
        except TypeError as exc:
            raise ValueError(f"malformed transaction profile: {exc}") from None

    @classmethod
    def from_json(cls, text: str) -> "TransactionProfile":
        return cls.from_dict(json.loads(text))


# ---------------------------------------------------------------------- built-ins
def _bumps(peaks: list[tuple[float, float, float]], floor: float) -> np.ndarray:
    """Hour-of-day weights: ``floor`` plus circular Gaussian bumps (centre hour, width hours, height)."""
    h = np.arange(HOURS) + 0.5
    w = np.full(HOURS, floor)
    for centre, width, height in peaks:
        d = np.abs(h - centre)
        d = np.minimum(d, HOURS - d)
        w += height * np.exp(-0.5 * (d / width) ** 2)
    return w


_SHAPES = {
    "shop": _bumps([(12.5, 2.0, 0.8), (17.5, 2.5, 1.0)], 0.03),
    "meals": _bumps([(12.7, 1.2, 1.0), (19.7, 1.6, 1.1)], 0.03),
    "commute": _bumps([(8.0, 1.2, 1.0), (17.8, 1.5, 0.9)], 0.04),
    "office": _bumps([(13.0, 3.5, 1.0)], 0.04),
    "evening": _bumps([(21.0, 2.5, 1.0), (13.0, 3.0, 0.4)], 0.08),
}
_WEEK = {"weekday": (1.1, 1.1, 1.1, 1.1, 1.05, 0.8, 0.75), "weekend": (0.9, 0.9, 0.9, 0.95, 1.1, 1.3, 1.2),
         "flat": (1.0,) * 7}


def _cat(name, code, share, online, median, sigma, shape, week, sens, round_to=0.01):
    return Category(name=name, code=code, share=share, online_share=online,
                    amount_mu=(math.log(median),) * HOURS, amount_sigma=(sigma,) * HOURS,
                    hour_weights=tuple(_SHAPES[shape]), dow_weights=_WEEK[week],
                    market_sensitivity=sens, round_to=round_to)


def _cards_profile() -> TransactionProfile:
    cats = (
        _cat("grocery", 5411, 0.24, 0.08, 35.0, 0.8, "shop", "weekend", 0.3),
        _cat("restaurants", 5812, 0.16, 0.15, 25.0, 0.7, "meals", "weekend", 1.2),
        _cat("fuel", 5541, 0.08, 0.0, 45.0, 0.5, "commute", "weekday", 0.5),
        _cat("retail", 5651, 0.10, 0.35, 55.0, 0.9, "shop", "weekend", 1.3),
        _cat("electronics", 5732, 0.03, 0.55, 150.0, 1.0, "shop", "weekend", 1.6),
        _cat("airlines", 4511, 0.02, 0.80, 300.0, 0.9, "office", "weekday", 1.8),
        _cat("hotels", 7011, 0.015, 0.60, 180.0, 0.7, "office", "flat", 1.6),
        _cat("digital_goods", 5818, 0.08, 1.0, 8.0, 1.0, "evening", "flat", 0.6),
        _cat("utilities", 4900, 0.05, 0.90, 70.0, 0.6, "office", "weekday", 0.1),
        _cat("pharmacy", 5912, 0.05, 0.15, 22.0, 0.8, "shop", "flat", 0.2),
        _cat("entertainment", 7832, 0.05, 0.50, 30.0, 0.8, "evening", "weekend", 1.4),
        _cat("jewellery", 5944, 0.007, 0.30, 250.0, 1.1, "shop", "weekend", 1.8),
        _cat("atm_cash", 6011, 0.06, 0.0, 80.0, 0.6, "shop", "flat", 0.4, round_to=20.0),
        _cat("transport", 4111, 0.068, 0.30, 6.0, 0.6, "commute", "weekday", 0.6),
    )
    segs = (
        Segment("mass", 0.60, activity=1.0, amount_scale=1.0, online_multiplier=1.0),
        Segment("affluent", 0.15, activity=1.4, amount_scale=2.2, online_multiplier=1.2),
        Segment("student", 0.15, activity=0.8, amount_scale=0.5, online_multiplier=1.5),
        Segment("senior", 0.10, activity=0.7, amount_scale=1.0, online_multiplier=0.5),
    )
    fraud = FraudConfig(rates={"card_testing": 1.2e-4, "account_takeover": 1e-4, "compromised_terminal": 8e-6,
                               "lost_stolen": 1e-4, "bust_out": 3e-5, "merchant_breach": 2e-6,
                               "bin_attack": 2e-6})
    return TransactionProfile(
        name="cards", kind="cards", categories=cats, segments=segs, rate_per_customer_day=1.5, fraud=fraud,
        provenance={"source": "built-in", "notes": "category mix, tickets and hour shapes are stylised from public "
                    "card-spending statistics; not fitted to any individual records"},
    )


# Hour-of-day profile of the PaySim aggregates (mean count per hourly step, all actions pooled).
_PAYSIM_HOURS = (54489.0, 12628.0, 4148.0, 656.0, 167.0, 315.0, 3528.0, 21715.0, 58649.0, 85850.0, 32053.0,
                 50140.0, 40541.0, 38313.0, 60169.0, 68016.0, 75277.0, 142680.0, 129896.0, 158985.0, 131903.0,
                 104888.0, 83787.0, 66761.0)


def _mm_cat(name, code, share, online, mean, cv):
    sigma = math.sqrt(math.log1p(cv * cv))
    mu = math.log(mean) - 0.5 * sigma * sigma
    return Category(name=name, code=code, share=share, online_share=online, amount_mu=(mu,) * HOURS,
                    amount_sigma=(sigma,) * HOURS, hour_weights=_PAYSIM_HOURS, market_sensitivity=1.0)


def _mobile_profile() -> TransactionProfile:
    # Shares, means and coefficients of variation of the five actions are the pooled PaySim aggregates
    # (shared/data/paysim/aggregatedTransactions.csv, 24.5 M transactions): their outflows exceed their
    # inflows (CASH_OUT and PAYMENT against CASH_IN), the gap being income the table does not show
    # (PaySim's clientsProfiles.csv lists a DEPOSIT action); weekly DEPOSIT rows top wallets up to
    # their usual balance, so balances stay stationary over any horizon.
    cats = (
        _mm_cat("CASH_IN", 1, 0.2000, 0.0, 166_187.0, 0.751),
        _mm_cat("CASH_OUT", 2, 0.3650, 0.0, 171_651.0, 0.757),
        _mm_cat("DEBIT", 3, 0.0046, 1.0, 5_163.0, 2.566),
        _mm_cat("PAYMENT", 4, 0.3491, 0.5, 12_807.0, 0.962),
        _mm_cat("TRANSFER", 5, 0.0813, 1.0, 869_735.0, 2.424),
    )
    segs = (
        Segment("retail", 0.75, activity=1.0, amount_scale=1.0),
        Segment("merchant_owner", 0.10, activity=1.8, amount_scale=1.8),
        Segment("rural", 0.15, activity=0.6, amount_scale=0.7),
    )
    fraud = FraudConfig(rates={"account_takeover": 8e-5, **{t: 5e-6 for t in AML_TYPOLOGIES}},
                        report_delay_median_days=3.0, label_window_days=180.0, aml_threshold=200_000.0,
                        friendly_fraud_rate=2e-5)
    return TransactionProfile(
        name="mobile-money", kind="mobile-money", categories=cats, segments=segs, rate_per_customer_day=1.0,
        fraud=fraud, customer_amount_sigma=0.4, merchants_per_customer=0.02, base_decline_rate=0.01,
        deposit_interval_days=7.0, balance_days=20.0,
        provenance={"source": "built-in", "notes": "action shares, means and coefficients of variation and the "
                    "hour profile are the pooled PaySim aggregates (shared/data/paysim); weekly DEPOSIT rows "
                    "fund the outflows the aggregates' inflows do not cover"},
    )


_BUILTIN = {"cards": _cards_profile, "mobile-money": _mobile_profile}
PROFILE_NAMES = tuple(_BUILTIN)


def get_profile(profile: "str | TransactionProfile") -> TransactionProfile:
    """Return a built-in profile by name (``"cards"``, ``"mobile-money"``) or pass a profile through."""
    if isinstance(profile, TransactionProfile):
        return profile
    if isinstance(profile, str):
        try:
            return _BUILTIN[profile]()
        except KeyError:
            raise ValueError(f"unknown transaction profile {profile!r}; valid: {', '.join(PROFILE_NAMES)} "
                             "or a TransactionProfile (e.g. from calibration.fit_transactions)") from None
    # a fitted-profile wrapper exposes .profile
    inner = getattr(profile, "profile", None)
    if isinstance(inner, TransactionProfile):
        return inner
    raise TypeError(f"profile must be a name or a TransactionProfile, got {type(profile).__name__}")
