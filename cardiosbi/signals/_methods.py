"""Validation of ``method=`` arguments with an error that lists the valid choices."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from cardiosbi.errors import ConfigError, SignalError


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


def check_window(window, sampling_rate: float, what: str, min_seconds: float) -> np.ndarray:
    """One finite channel (T,) of at least ``min_seconds``, as float64; else a SignalError
    naming ``what`` (e.g. "PPG window")."""
    x = np.asarray(window, dtype=np.float64)
    if x.ndim != 1:
        raise SignalError(f"{what}: expected one channel (T,), got shape {x.shape}")
    if x.size < min_seconds * sampling_rate:
        raise SignalError(f"{what} too short: {x.size / sampling_rate:.2f} s, need at least "
                          f"{min_seconds:g} s")
    bad = int((~np.isfinite(x)).sum())
    if bad:
        raise SignalError(f"{what}: {bad} of {x.size} samples are NaN or infinite; drop or "
                          "bridge the gaps first")
    return x
