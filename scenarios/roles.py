"""Deprecated location: asset roles live in :mod:`simulator.roles` (the simulator applies a scenario's
roles to a model; the scenarios package holds scenario files, their schema and loader).

``from scenarios.roles import ...`` keeps working and warns.
"""
from __future__ import annotations

import warnings

from simulator.roles import DEFAULT_ROLES, LIBRARY_ROLES, asset_indices, effective_roles, resolve_assets

__all__ = ["DEFAULT_ROLES", "LIBRARY_ROLES", "effective_roles", "resolve_assets", "asset_indices"]

warnings.warn("scenarios.roles has moved to simulator.roles", DeprecationWarning, stacklevel=2)
