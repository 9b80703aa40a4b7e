"""Real recordings in: WFDB, VitalDB and CSV/Parquet loaders, and cohort iteration."""

from cardiosbi.io.loader import load_recording
from cardiosbi.io.recording import Channel, Numeric, Recording

__all__ = ["Channel", "Numeric", "Recording", "load_recording"]
