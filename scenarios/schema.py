"""Deprecated location: the scenario file's schema is :mod:`scenarios.spec` (renamed so that it no longer
shares a name with :mod:`simulator.transactions.schema`, the transaction table's columns).

``from scenarios.schema import ...`` keeps working and warns.
"""
from __future__ import annotations

import warnings

from scenarios.spec import *  # noqa: F401,F403
from scenarios.spec import __all__ as __all__  # noqa: F401

warnings.warn("scenarios.schema has moved to scenarios.spec", DeprecationWarning, stacklevel=2)
