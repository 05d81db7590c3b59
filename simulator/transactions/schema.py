"""Arrow schemas of the two feed kinds and their documentation.

Label columns (``is_fraud``, ``fraud_type``, ``case_id``, ``label_available_at``) are targets: a model
must never use them as features. ``label_available_at`` says when the label becomes known (fraud
reported, or the dispute window closed for a legitimate row) so that training sets can be cut
realistically ("train only on labels available by date X").
"""
from __future__ import annotations

import pyarrow as pa

__all__ = ["cards_schema", "mobile_schema", "schema_for", "COLUMN_DOCS", "LABEL_COLUMNS"]

_TS = pa.timestamp("ms", tz="UTC")
_DICT = pa.dictionary(pa.int8(), pa.string())

LABEL_COLUMNS = ("is_fraud", "fraud_type", "case_id", "label_available_at")

_COMMON_HEAD = [
    pa.field("txn_id", pa.int64(), nullable=False),
    pa.field("ts", _TS, nullable=False),
    pa.field("day", pa.int32(), nullable=False),
]
_LABELS = [
    pa.field("is_fraud", pa.bool_(), nullable=False),
    pa.field("fraud_type", _DICT),
    pa.field("case_id", pa.int64()),
    pa.field("label_available_at", _TS, nullable=False),
]

cards_schema = pa.schema(_COMMON_HEAD + [
    pa.field("customer_id", pa.int64(), nullable=False),
    pa.field("segment", _DICT, nullable=False),
    pa.field("card_id", pa.int64(), nullable=False),
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
    "day": "Day index since the stream start (0-based); the Parquet partition key.",
    "step": "Mobile money: hour index since the stream start (0-based), as PaySim's step minus one.",
    "customer_id": "Originating customer (62-bit salted hash of an internal index).",
    "segment": "Customer segment (from the profile).",
    "card_id": "Cards: the card used (a customer holds 1-3 cards).",
    "merchant_id": "Cards: merchant (hashed id).",
    "mcc": "Cards: merchant category code.",
    "category": "Cards: merchant category group.",
    "channel": "Cards: pos (card present), online (card not present) or atm.",
    "terminal_id": "Cards: point-of-sale / ATM terminal; null for online.",
    "device_id": "Device used: cards online only (null in person); mobile money always (the phone).",
    "region": "Region where the transaction happens (merchant / agent region, or geolocated device).",
    "type": "Mobile money action: CASH_IN, CASH_OUT, DEBIT, PAYMENT, TRANSFER.",
    "dest_id": "Mobile money: destination account (customer for TRANSFER, agent / merchant / bank otherwise).",
    "dest_type": "Mobile money: customer, agent, merchant or bank.",
    "amount": "Amount in currency units (cents; ATM cash in notes of 20).",
    "balance_orig_before": "Mobile money: originator wallet balance before the row.",
    "balance_orig_after": "Mobile money: originator wallet balance after the row (unchanged if declined).",
    "balance_dest_before": "Mobile money: destination wallet balance before (transfers; null otherwise).",
    "balance_dest_after": "Mobile money: destination wallet balance after (transfers; null otherwise).",
    "declined": "The transaction was declined (risk rules, technical, or insufficient funds); balances unchanged.",
    "is_fraud": "Label: the row belongs to a fraud / money-laundering case.",
    "fraud_type": "Label: typology of the case (null for legitimate rows).",
    "case_id": "Label: case identifier shared by the rows of one case (null for legitimate rows).",
    "label_available_at": "Label: when the label becomes known (report time for fraud, end of the dispute window otherwise).",
}
