"""Synthetic, labelled transaction feeds for fraud-model training, coupled to market scenarios.

Public entry points:

* :func:`generate_transactions` - the feed, as ``pyarrow.RecordBatch`` es in time order;
* :func:`market_state_from_returns` - simulated returns -> per-day market state (drawdown, vol ratio);
* :func:`get_profile` / :class:`TransactionProfile` - the built-in ``cards`` and ``mobile-money``
  profiles, and the type that ``calibration.fit_transactions`` returns.

See ``docs/transactions.md`` for the schema, profiles, knobs and elasticities.
"""
from .market import market_state_from_returns
from .profiles import (CARD_TYPOLOGIES, MOBILE_TYPOLOGIES, PROFILE_NAMES, Category, Elasticities, FraudConfig,
                       Segment, TransactionProfile, get_profile)
from .schema import COLUMN_DOCS, LABEL_COLUMNS, cards_schema, mobile_schema
from .stream import KNOBS, TransactionStream, generate_transactions

__all__ = [
    "generate_transactions", "TransactionStream", "market_state_from_returns", "get_profile", "TransactionProfile",
    "Category", "Segment", "Elasticities", "FraudConfig", "PROFILE_NAMES", "CARD_TYPOLOGIES", "MOBILE_TYPOLOGIES",
    "KNOBS", "cards_schema", "mobile_schema", "COLUMN_DOCS", "LABEL_COLUMNS",
]
