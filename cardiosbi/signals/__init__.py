"""Signal processing of real recordings: cleaning, beats, quality, alignment, model windows.

>>> from cardiosbi.io import load_recording
>>> from cardiosbi.signals import make_windows
>>> windows, quality = make_windows(load_recording("cardiosbi/assets/samples/v136s.hea"),
...                                 channels=("ppg", "abp"), sampling_rate=125.0, window_s=8.0)
>>> windows.shape[1:], int(quality["accepted"].sum()) == len(windows)
((2, 1000), True)

Functions follow NeuroKit2's style: ``<modality>_<verb>(signal, sampling_rate, method=...)``.
"""

from cardiosbi.signals.abp import abp_clean, abp_onsets, abp_peaks, abp_quality, abp_ssf
from cardiosbi.signals.align import signals_lag
from cardiosbi.signals.beats import beats_rate, beats_variability
from cardiosbi.signals.ecg import ecg_clean, ecg_peaks
from cardiosbi.signals.filters import signal_bandpass, signal_lowpass, signal_resample
from cardiosbi.signals.normalize import normalize_window
from cardiosbi.signals.ppg import ppg_clean, ppg_peaks, ppg_quality, ppg_upstrokes
from cardiosbi.signals.windows import QualityConfig, WindowConfig, acceptance_rate, make_windows

__all__ = [
    "QualityConfig", "WindowConfig", "abp_clean", "abp_onsets", "abp_peaks", "abp_quality",
    "abp_ssf", "acceptance_rate", "beats_rate", "beats_variability", "ecg_clean", "ecg_peaks",
    "make_windows", "normalize_window", "ppg_clean", "ppg_peaks", "ppg_quality", "ppg_upstrokes",
    "signal_bandpass", "signal_lowpass", "signal_resample", "signals_lag",
]
