"""Errors of the hemodynamics simulator (independent of ``cardiosbi``)."""


class NetworkError(ValueError):
    """A network definition is invalid or cannot be read; the message says what to change."""
