"""Exception and warning classes shared by every stress-sim package.

Bad values raise :class:`ValueError`, wrong types :class:`TypeError`. :class:`UserInputError`
is a ``ValueError`` raised at the CLI / file boundary whose message is shown to the user as is
(the CLI prints it on one line and exits with status 2).
"""


class UserInputError(ValueError):
    """Bad input from a user-facing boundary (file, CLI argument, config key)."""


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
