"""Measurement model: multi-beat windows, exogenous effects and sensor effects, seeded per window.

Window normalisation is not here: simulated and real windows both go through
``cardiosbi.signals.normalize_window`` when the dataset is read.
"""

from simulators.measurement.config import MeasurementConfig
from simulators.measurement.model import Measured, MeasurementModel, channel_key

__all__ = ["MeasurementConfig", "MeasurementModel", "Measured", "channel_key"]
