"""User-facing error types.

Anything raised as a :class:`CardiosbiError` is the user's to fix (a bad file, a bad config
value, a missing channel). The CLI prints its message on one line and exits with code 2;
everything else is a bug and keeps its traceback.
"""


class CardiosbiError(Exception):
    """Base class of errors a user can act on. The message must say what to change."""

    exit_code = 2


class ConfigError(CardiosbiError):
    """A configuration key is unknown, missing or has an invalid value."""


class InputFileError(CardiosbiError):
    """An input file is missing, unreadable or malformed."""


class SignalError(CardiosbiError):
    """A signal cannot be processed (absent channel, wrong sampling rate, unusable content)."""


class SimulationError(CardiosbiError):
    """A simulator input is invalid (network definition, parameter outside its support)."""


class NotAvailableError(CardiosbiError):
    """A command or feature that is not built yet."""

    exit_code = 1
