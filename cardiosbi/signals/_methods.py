"""Validation of ``method=`` arguments with an error that lists the valid choices."""

from __future__ import annotations

from collections.abc import Iterable

from cardiosbi.errors import ConfigError


def check_method(method: str, valid: Iterable[str], function: str) -> str:
    """Return ``method`` lower-cased if it is one of ``valid``, else raise ConfigError."""
    choices = list(valid)
    key = str(method).lower()
    if key not in choices:
        raise ConfigError(f"{function}: unknown method {method!r}; valid: {', '.join(choices)}")
    return key


def check_sampling_rate(sampling_rate: float, function: str) -> float:
    """Return ``sampling_rate`` as float if positive and finite, else raise ConfigError."""
    value = float(sampling_rate)
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{function}: sampling_rate must be > 0 Hz, got {sampling_rate}")
    return value
