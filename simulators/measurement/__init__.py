"""Measurement model: multi-beat windows, exogenous effects and sensor effects, seeded per window."""

from simulators.measurement.config import MeasurementConfig
from simulators.measurement.model import Measured, MeasurementModel, channel_key
from simulators.measurement.normalize import normalize_window

__all__ = ["MeasurementConfig", "MeasurementModel", "Measured", "channel_key", "normalize_window"]
