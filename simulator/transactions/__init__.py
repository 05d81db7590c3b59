"""Synthetic, labelled transaction feeds for fraud-model training, coupled to market scenarios.

Public entry points:

* :func:`generate_transactions` - the feed, as ``pyarrow.RecordBatch`` es in time order;
* :func:`market_state_from_returns` - simulated returns -> per-day market state (drawdown, vol ratio);
* :func:`market_from_scenario` - a scenario run on a model -> the per-feed-day market state;
* :func:`get_profile` / :class:`TransactionProfile` - the built-in ``cards`` and ``mobile-money``
  profiles, and the type that ``calibration.fit_transactions`` returns;
* :func:`leak_audit` - small models on every column and flag that should carry no label.

See ``docs/transactions.md`` for the schema, profiles, knobs and elasticities.
"""
from .audit import leak_audit
from .market import market_from_scenario, market_state_from_returns
from .profiles import (AML_TYPOLOGIES, CARD_TYPOLOGIES, MOBILE_TYPOLOGIES, PROFILE_NAMES, Category, Elasticities, FraudConfig,
                       Segment, TransactionProfile, get_profile)
from .schema import COLUMN_DOCS, LABEL_COLUMNS, cards_schema, mobile_schema
from .stream import KNOBS, TransactionStream, generate_transactions

__all__ = [
    "generate_transactions", "TransactionStream", "market_state_from_returns", "market_from_scenario", "leak_audit",
    "get_profile", "TransactionProfile", "Category", "Segment", "Elasticities", "FraudConfig", "PROFILE_NAMES",
    "CARD_TYPOLOGIES", "MOBILE_TYPOLOGIES", "AML_TYPOLOGIES",
    "KNOBS", "cards_schema", "mobile_schema", "COLUMN_DOCS", "LABEL_COLUMNS",
]
