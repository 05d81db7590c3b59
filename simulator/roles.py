"""Asset roles: how a scenario's generic names (``equity``, ``oil``) map onto a model's assets.

Library scenarios never name a model asset; they speak of *roles* so that one file applies to any
model. A name used in a scenario (in ``assets`` lists, ``loadings`` and ``portfolio.positions``) is
resolved in this order:

1. a role of the effective role table: :data:`DEFAULT_ROLES`, updated by the scenario's ``[roles]``
   table, updated by the caller's ``roles`` (e.g. ``--role oil=BRENT`` on the command line);
   the role's target must be a model asset;
2. otherwise a model asset name.

A role therefore shadows a model asset of the same name. Anything else is an error naming the file,
the key path and the valid names.
"""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence, Union

from simulator.exceptions import UserInputError

if TYPE_CHECKING:  # annotations only: the simulator never imports the scenarios package at run time
    from scenarios.spec import Scenario

__all__ = ["DEFAULT_ROLES", "LIBRARY_ROLES", "effective_roles", "resolve_assets", "asset_indices"]

#: Default role -> asset mapping, matching the asset names of the bundled ``us-markets`` data and
#: model (S&P 500 as ``SP500``, NASDAQ Composite as ``NASDAQ``, WTI spot as ``WTI``) and the rate factors
#: of ``us-markets-rates`` (the reference government curve's par yields at 3 months, 2, 5, 10 and 30 years:
#: the US Treasury's ``UST_3M`` .. ``UST_30Y``). A scenario that uses a rate role runs only on a model that
#: has the factor (or maps the role to one with ``[roles]`` / ``--role``): on ``builtin:us-markets`` it is
#: an error naming the role.
DEFAULT_ROLES: dict[str, str] = {"equity": "SP500", "tech_equity": "NASDAQ", "oil": "WTI",
                                 "rate_3m": "UST_3M", "rate_2y": "UST_2Y", "rate_5y": "UST_5Y",
                                 "rate_10y": "UST_10Y", "rate_30y": "UST_30Y"}
#: The roles library scenarios may use.
LIBRARY_ROLES: tuple[str, ...] = tuple(DEFAULT_ROLES)


def effective_roles(scenario: Scenario, roles: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    """The role table in force: defaults, then the scenario's ``[roles]``, then ``roles``."""
    out = dict(DEFAULT_ROLES)
    out.update(scenario.roles)
    if roles:
        for k, v in roles.items():
            if not isinstance(k, str) or not isinstance(v, str) or not k or not v:
                raise TypeError(f"roles must map role names to asset names (str -> str), got {k!r} -> {v!r}")
        out.update(roles)
    return out


def _model_asset_names(model_assets: Any) -> list[str]:
    assets = getattr(model_assets, "assets", model_assets)  # a MarketModel or a sequence of names
    if isinstance(assets, str) or not all(isinstance(a, str) for a in assets):
        raise TypeError("model_assets must be a sequence of asset names (or a model with .assets)")
    names = list(assets)
    if not names:
        raise ValueError("model_assets is empty")
    return names


def resolve_assets(scenario: Scenario, model_assets: Union[Sequence[str], Any], *,
                   roles: Optional[Mapping[str, str]] = None, missing: str = "error") -> dict[str, int]:
    """Map every role or asset name the scenario uses to a model asset index.

    Parameters
    ----------
    scenario : Scenario
        A validated scenario.
    model_assets : sequence of str, or a MarketModel
        The model's asset names, in model order (index = position).
    roles : mapping of str to str, optional
        Role overrides (role -> model asset name), applied on top of the scenario's ``[roles]``.
    missing : {"error", "ignore"}
        What to do with a *role* whose asset the model lacks (e.g. ``oil`` with an equity-only
        model): ``"error"`` (default) raises; ``"ignore"`` leaves the role out of the mapping and
        warns (:class:`UserWarning` naming the role and where it is used), so the caller can skip
        what refers to it. Unknown names are always errors.

    Returns
    -------
    dict of str to int
        Each name used in the scenario's shocks (``assets``, ``loadings``) and portfolio positions
        -> index into ``model_assets``. ``"all"`` is not a name and is not listed.

    Raises
    ------
    UserInputError
        A name that is neither a role nor a model asset, a role mapped to an asset the model lacks,
        or two names of one list (one ``assets`` list, the loadings, the positions) that resolve to
        the same asset. The message names the scenario file, the key path and the valid names.
    """
    if missing not in ("error", "ignore"):
        raise ValueError(f"missing must be 'error' or 'ignore', got {missing!r}")
    assets = _model_asset_names(model_assets)
    index = {a: i for i, a in enumerate(assets)}
    table = effective_roles(scenario, roles)
    where = str(scenario.path) if scenario.path is not None else f"scenario {scenario.name!r}"
    valid = (f"roles {', '.join(sorted(r for r, a in table.items() if a in index)) or '(none)'}"
             f" or model assets {', '.join(assets)}")
    out: dict[str, int] = {}
    ignored: dict[str, list[str]] = {}
    for name, key in scenario.asset_references():
        if name in out:
            continue
        if name in table:
            target = table[name]
            if target not in index and missing == "ignore":
                ignored.setdefault(name, []).append(key)
                continue
            if target not in index:
                origin = "the scenario's [roles]" if name in scenario.roles else "the default roles"
                if roles and name in roles:
                    origin = "the role overrides"
                raise UserInputError(
                    f"{where}: {key}: role {name!r} maps to asset {target!r} ({origin}), which the model "
                    f"does not have (allowed: map it to a model asset with [roles] {name} = \"<asset>\", "
                    f"model assets: {', '.join(assets)})")
            out[name] = index[target]
        elif name in index:
            out[name] = index[name]
        else:
            raise UserInputError(f"{where}: {key}: unknown asset or role {name!r} (allowed: {valid})")
    if ignored:
        warnings.warn(
            f"{where}: the model has no asset for role(s) "
            + "; ".join(f"{r!r} (-> {table[r]!r}, used at {', '.join(keys)})" for r, keys in ignored.items())
            + f"; they are left out (model assets: {', '.join(assets)})", UserWarning, stacklevel=2)
    _check_no_aliases(scenario, out, assets, where)
    return out


def _check_no_aliases(scenario: Scenario, mapping: dict[str, int], assets: list[str], where: str) -> None:
    """Within one list (one shock's assets, its loadings, the positions) each asset appears once."""
    groups: dict[str, list[str]] = {}
    for name, key in scenario.asset_references():
        group = key.rsplit(".", 1)[0] if (".loadings." in key or key.startswith("portfolio.")) else key
        groups.setdefault(group, []).append(name)
    for group, names in groups.items():
        seen: dict[int, str] = {}
        for name in names:
            if name not in mapping:  # an ignored role
                continue
            i = mapping[name]
            if i in seen and seen[i] != name:
                raise UserInputError(
                    f"{where}: {group}: {seen[i]!r} and {name!r} both resolve to model asset {assets[i]!r} "
                    f"(allowed: each asset once per list)")
            seen[i] = name


def asset_indices(selector: Union[str, Sequence[str]], mapping: Mapping[str, int], n_assets: int, *,
                  skip_missing: bool = False) -> list[int]:
    """Model asset indices of an ``assets`` field: ``"all"`` -> ``0..n_assets-1``, a list -> its
    names through ``mapping`` (from :func:`resolve_assets`), in list order; with ``skip_missing``,
    names absent from ``mapping`` (roles ignored by ``missing="ignore"``) are skipped."""
    if selector == "all":
        return list(range(n_assets))
    if skip_missing:
        return [mapping[name] for name in selector if name in mapping]
    try:
        return [mapping[name] for name in selector]
    except KeyError as exc:
        raise KeyError(f"{exc.args[0]!r} is not in the resolved mapping; call resolve_assets first") from None
