"""Arrow schemas of the two feed kinds and their documentation.

Label columns (``is_fraud``, ``fraud_type``, ``case_id``, ``reported_at``, ``label_observed``,
``label_available_at``) are targets: a model must never use them as features. ``is_fraud`` is the
truth; ``label_observed`` is what a bank's labels say once final (reported as fraud: chargebacks,
claims and disputes, including friendly fraud; unreported fraud stays false); ``reported_at`` is when
that report came; ``label_available_at`` is when the row's label is final (the end of its dispute
window, the same law for every row), so that training sets can be cut realistically ("train on rows
whose labels are final by date X, plus the reports known by then").
"""
from __future__ import annotations

import pyarrow as pa

__all__ = ["cards_schema", "mobile_schema", "schema_for", "COLUMN_DOCS", "LABEL_COLUMNS"]

_TS = pa.timestamp("ms", tz="UTC")
_DICT = pa.dictionary(pa.int8(), pa.string())

LABEL_COLUMNS = ("is_fraud", "fraud_type", "case_id", "reported_at", "label_observed", "label_available_at")

_COMMON_HEAD = [
    pa.field("txn_id", pa.int64(), nullable=False),
    pa.field("ts", _TS, nullable=False),
    pa.field("day", pa.int32(), nullable=False),
]
_LABELS = [
    pa.field("is_fraud", pa.bool_(), nullable=False),
    pa.field("fraud_type", _DICT),
    pa.field("case_id", pa.int64()),
    pa.field("reported_at", _TS),
    pa.field("label_observed", pa.bool_(), nullable=False),
    pa.field("label_available_at", _TS, nullable=False),
]

cards_schema = pa.schema(_COMMON_HEAD + [
    pa.field("customer_id", pa.int64(), nullable=False),
    pa.field("segment", _DICT, nullable=False),
    pa.field("card_id", pa.int64(), nullable=False),
    pa.field("card_bin", pa.int32(), nullable=False),
    pa.field("merchant_id", pa.int64(), nullable=False),
    pa.field("mcc", pa.int16(), nullable=False),
    pa.field("category", _DICT, nullable=False),
    pa.field("channel", _DICT, nullable=False),
    pa.field("terminal_id", pa.int64()),
    pa.field("device_id", pa.int64()),
    pa.field("region", pa.int16(), nullable=False),
    pa.field("amount", pa.float64(), nullable=False),
    pa.field("declined", pa.bool_(), nullable=False),
] + _LABELS, metadata={"stress-sim.feed": "cards"})

mobile_schema = pa.schema(_COMMON_HEAD + [
    pa.field("step", pa.int32(), nullable=False),
    pa.field("type", _DICT, nullable=False),
    pa.field("customer_id", pa.int64(), nullable=False),
    pa.field("segment", _DICT, nullable=False),
    pa.field("dest_id", pa.int64(), nullable=False),
    pa.field("dest_type", _DICT, nullable=False),
    pa.field("device_id", pa.int64(), nullable=False),
    pa.field("region", pa.int16(), nullable=False),
    pa.field("amount", pa.float64(), nullable=False),
    pa.field("balance_orig_before", pa.float64(), nullable=False),
    pa.field("balance_orig_after", pa.float64(), nullable=False),
    pa.field("balance_dest_before", pa.float64()),
    pa.field("balance_dest_after", pa.float64()),
    pa.field("declined", pa.bool_(), nullable=False),
] + _LABELS, metadata={"stress-sim.feed": "mobile-money"})


def schema_for(kind: str) -> pa.Schema:
    return cards_schema if kind == "cards" else mobile_schema


COLUMN_DOCS = {
    "txn_id": "Transaction number, increasing with time within a stream (carries no label).",
    "ts": "Transaction time, UTC, millisecond resolution.",
    "day": "Day index since the stream start (0-based); Parquet files are partitioned by the calendar date (date=YYYY-MM-DD).",
    "step": "Mobile money: hour index since the stream start (0-based), as PaySim's step minus one.",
    "customer_id": "Originating customer (62-bit salted hash of an internal index).",
    "segment": "Customer segment (from the profile).",
    "card_id": "Cards: the card used (a customer holds 1-3 cards).",
    "card_bin": "Cards: the card's issuer BIN (6-digit prefix of the card number).",
    "merchant_id": "Cards: merchant (hashed id).",
    "mcc": "Cards: merchant category code.",
    "category": "Cards: merchant category group.",
    "channel": "Cards: pos (card present), online (card not present) or atm.",
    "terminal_id": "Cards: point-of-sale / ATM terminal; null for online.",
    "device_id": "Device used: cards online only (null in person); mobile money always (the phone).",
    "region": "Region where the transaction happens (merchant / agent region, or geolocated device).",
    "type": "Mobile money action: CASH_IN, CASH_OUT, DEBIT, PAYMENT, TRANSFER, or DEPOSIT (external income).",
    "dest_id": "Mobile money: destination account (customer for TRANSFER, agent / merchant / bank otherwise).",
    "dest_type": "Mobile money: customer, agent, merchant or bank (DEBIT and DEPOSIT).",
    "amount": "Amount in currency units (cents; ATM cash in notes of 20).",
    "balance_orig_before": "Mobile money: originator wallet balance before the row.",
    "balance_orig_after": "Mobile money: originator wallet balance after the row (unchanged if declined).",
    "balance_dest_before": "Mobile money: destination wallet balance before (transfers; null otherwise).",
    "balance_dest_after": "Mobile money: destination wallet balance after (transfers; null otherwise).",
    "declined": "The transaction was declined (risk rules, technical, or insufficient funds); balances unchanged.",
    "is_fraud": "Label: the row belongs to a fraud / money-laundering case.",
    "fraud_type": "Label: typology of the case (null for legitimate rows).",
    "case_id": "Label: opaque case identifier (salted hash) shared by the rows of one case (null for legitimate rows).",
    "reported_at": "Label: when the row was reported as fraud (chargeback, claim or dispute, friendly fraud included); null if never.",
    "label_observed": "Label: the label a bank records once final: reported as fraud by label_available_at (noisy version of is_fraud).",
    "label_available_at": "Label: when the row's label is final (end of its dispute window; the same law for every row).",
}
