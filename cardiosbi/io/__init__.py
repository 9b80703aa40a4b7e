"""Real recordings in: WFDB, VitalDB and CSV/Parquet loaders, and cohort iteration.

>>> from cardiosbi.io import load_recording
>>> rec = load_recording("cardiosbi/assets/samples/v136s.hea")  # or .vital, or .csv with sampling_rate=…
>>> sorted(rec.channels)                                 # normalised names
['abp', 'ecg', 'ecg_v', 'ppg']
>>> rec.channels["abp"].fs, rec.channels["abp"].unit
(250.0, 'mmHg')

Cohorts: :func:`cardiosbi.io.cohort.discover_records` (folder, glob, list file, case list) and
:func:`cardiosbi.signals.cohort.preprocess_cohort` (what ``cardiosbi preprocess`` runs).
"""

from cardiosbi.io.loader import load_recording
from cardiosbi.io.recording import Channel, Numeric, Recording

__all__ = ["Channel", "Numeric", "Recording", "load_recording"]
