"""The Recording type every loader returns: named channels, each with its own rate and unit."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

import numpy as np

from cardiosbi.errors import SignalError


@dataclass
class Channel:
    """One waveform: samples in standard physical units at a constant sampling rate.

    ``start_s`` is the offset of the first sample from the recording's start (segments of a
    multi-segment record, or tracks of a .vital file, need not start together).
    """

    name: str
    signal: np.ndarray
    fs: float
    unit: str
    raw_name: str
    start_s: float = 0.0

    def __post_init__(self) -> None:
        self.signal = np.asarray(self.signal, dtype=np.float64)
        if self.signal.ndim != 1:
            raise SignalError(f"channel {self.raw_name!r}: expected a 1-D signal, got shape "
                              f"{self.signal.shape}")
        if not np.isfinite(self.fs) or self.fs <= 0:
            raise SignalError(f"channel {self.raw_name!r}: sampling rate must be > 0, got {self.fs}")

    @property
    def duration_s(self) -> float:
        return self.signal.size / self.fs


@dataclass
class Numeric:
    """An irregular numeric track (monitor value such as CO or SV): times [s] from start, values."""

    name: str
    times_s: np.ndarray
    values: np.ndarray
    unit: str
    raw_name: str


@dataclass
class Recording:
    """A recording from any source; ``channels`` are keyed by normalised names (ppg, abp, ecg…)."""

    name: str
    channels: dict[str, Channel]
    source: str
    format: str
    start_time: _dt.datetime | None = None
    numerics: dict[str, Numeric] = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        """Time covered by the longest channel (0 for a recording without channels)."""
        return max((c.start_s + c.duration_s for c in self.channels.values()), default=0.0)

    def of_kind(self, kind: str) -> Channel | None:
        """The channel named ``kind`` or else the first of that kind (``ecg`` → ``ecg_v``)."""
        if kind in self.channels:
            return self.channels[kind]
        return next((c for k, c in self.channels.items() if k.split("_")[0] == kind), None)

    def channel(self, name: str) -> Channel:
        """The channel ``name``; a SignalError lists the channels present when it is absent."""
        try:
            return self.channels[name]
        except KeyError:
            present = ", ".join(f"{c.name} ({c.raw_name})" for c in self.channels.values())
            raise SignalError(
                f"record {self.name}: no {name!r} channel; channels present: {present or 'none'}"
            ) from None
