"""ECG cleaning and R-peak detection through neurokit2 (reference heart rate per window)."""

from __future__ import annotations

import numpy as np

from cardiosbi.signals._methods import check_method, check_sampling_rate
from cardiosbi.signals.filters import fill_gaps

CLEAN_METHODS = ("neurokit", "biosppy", "pantompkins1985", "hamilton2002", "elgendi2010")
PEAK_METHODS = ("neurokit", "pantompkins1985", "hamilton2002", "elgendi2010", "kalidas2017")


def ecg_clean(ecg_signal: np.ndarray, sampling_rate: float, method: str = "neurokit"
              ) -> np.ndarray:
    """Filtered ECG (``nk.ecg_clean``); NaN gaps are bridged before filtering."""
    import neurokit2 as nk

    fs = check_sampling_rate(sampling_rate, "ecg_clean")
    method = check_method(method, CLEAN_METHODS, "ecg_clean")
    return np.asarray(nk.ecg_clean(fill_gaps(np.asarray(ecg_signal, dtype=np.float64)),
                                   sampling_rate=fs, method=method), dtype=np.float64)


def ecg_peaks(ecg_cleaned: np.ndarray, sampling_rate: float, method: str = "neurokit"
              ) -> np.ndarray:
    """Indices of R peaks (``nk.ecg_findpeaks``), sorted and unique."""
    import neurokit2 as nk

    fs = check_sampling_rate(sampling_rate, "ecg_peaks")
    method = check_method(method, PEAK_METHODS, "ecg_peaks")
    if ecg_cleaned.size < 2 * fs or not np.ptp(ecg_cleaned) > 0:
        return np.empty(0, dtype=np.int64)
    info = nk.ecg_findpeaks(ecg_cleaned, sampling_rate=fs, method=method)
    return np.unique(np.asarray(info["ECG_R_Peaks"], dtype=np.int64))
