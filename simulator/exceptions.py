"""Exception and warning classes shared by every stress-sim package.

Bad values raise :class:`ValueError`, wrong types :class:`TypeError`. :class:`UserInputError`
is a ``ValueError`` raised at the CLI / file boundary whose message is shown to the user as is
(the CLI prints it on one line and exits with status 2).
"""


class UserInputError(ValueError):
    """Bad input from a user-facing boundary (file, CLI argument, config key)."""


class ConvergenceWarning(UserWarning):
    """An optimiser did not converge; the estimates may be unreliable."""


class StationarityWarning(UserWarning):
    """A fitted or supplied model is close to (or beyond) the stationarity boundary."""


class ApproximationWarning(UserWarning):
    """A numerical approximation was used where an exact method was not available."""
