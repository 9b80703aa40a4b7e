"""Errors of the hemodynamics simulator (independent of ``cardiosbi``)."""


class NetworkError(ValueError):
    """A network definition is invalid or cannot be read; the message says what to change."""


class NoValidSubjectError(NetworkError):
    """Every subject of a batch has invalid parameters: a per-sample failure, not a config error."""
