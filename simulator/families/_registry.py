"""The registry type shared by the family modules: a dict of entries by name, filled by a class decorator."""
from __future__ import annotations

from typing import Any, TypeVar

from simulator.exceptions import brief

T = TypeVar("T", bound=type)


class Registry(dict):
    """``name -> entry`` (an instance of each registered class), in registration order.

    Parameters
    ----------
    unknown : str
        The error for an unknown name, formatted with ``name`` (its repr) and ``valid`` (the names).
    unique_code : bool
        Entries carry a kernel ``code`` that must be unique.
    """

    def __init__(self, unknown: str, *, unique_code: bool = False) -> None:
        super().__init__()
        self._unknown = unknown
        self._unique_code = unique_code

    def register(self, cls: T) -> T:
        """Class decorator: add an instance of ``cls`` (its ``name``, and ``code``, must be new)."""
        entry = cls()
        if entry.name in self or (self._unique_code and any(e.code == entry.code for e in self.values())):
            raise ValueError(f"{entry!r} is registered twice (name {entry.name!r}"
                             + (f", code {entry.code})" if self._unique_code else ")"))
        self[entry.name] = entry
        return cls

    def __contains__(self, name: object) -> bool:
        """``name in registry``: False for a name that cannot be one (a dict or list read from JSON, unhashable)."""
        try:
            return super().__contains__(name)
        except TypeError:
            return False

    def lookup(self, name: Any) -> Any:
        """The entry of ``name``; ``ValueError`` listing the valid names."""
        try:
            return self[name]
        except (KeyError, TypeError):
            raise ValueError(self._unknown.format(name=brief(name), valid=", ".join(map(repr, self)))) from None
