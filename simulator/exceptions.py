"""Exception and warning classes shared by every stress-sim package.

Bad values raise :class:`ValueError`, wrong types :class:`TypeError`. :class:`UserInputError`
is a ``ValueError`` raised at the CLI / file boundary whose message is shown to the user as is
(the CLI prints it on one line and exits with status 2).
:func:`brief` shows an offending input value in a message without echoing all of it.
"""
from typing import Any

#: Longest echo of an input value in a message (characters); longer values are cut, with their length.
BRIEF_CHARS = 60


def brief(value: Any, limit: int = BRIEF_CHARS) -> str:
    """``repr(value)`` for an error message: numpy scalars as the Python numbers they hold (``0.5``, not
    ``np.float64(0.5)``), and anything longer than ``limit`` characters cut to a prefix with its full length
    (a 5 MB cell is named, not printed)."""
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        value = value.item()
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f"{len(value):,} characters" if isinstance(value, (str, bytes)) else f"{len(text):,} characters as text"
    return f"{text[:limit]}... ({size})"


class UserInputError(ValueError):
    """Bad input from a user-facing boundary (file, CLI argument, config key)."""


class InterruptedAfterCommit(KeyboardInterrupt):
    """SIGINT or SIGTERM (``signum``) arrived while results were being swapped into place: the swap was finished
    first, so the new results are whole; the command stops as interrupted."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class NonFiniteResultError(ValueError):
    """A simulated path blew up: a value is not finite, or a cumulative log return is beyond what a price can
    hold (``exp`` overflows float64). ``path`` and ``day`` (1-based) name the first blow-up when known."""

    def __init__(self, message: str, path: int | None = None, day: int | None = None) -> None:
        super().__init__(message, path, day)
        self.path = path
        self.day = day

    def __str__(self) -> str:
        return str(self.args[0])


class ConvergenceWarning(UserWarning):
    """An optimiser did not converge; the estimates may be unreliable."""


class StationarityWarning(UserWarning):
    """A fitted or supplied model is close to (or beyond) the stationarity boundary."""


class ApproximationWarning(UserWarning):
    """A numerical approximation was used where an exact method was not available."""
