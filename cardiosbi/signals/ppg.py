"""PPG cleaning, beat detection and quality, through neurokit2 (NeuroKit2 naming and arguments)."""

from __future__ import annotations

import numpy as np

from cardiosbi.signals._methods import check_method, check_sampling_rate
from cardiosbi.signals.filters import fill_gaps

CLEAN_METHODS = ("elgendi", "nabian2018")
PEAK_METHODS = ("elgendi", "msptdfast")
QUALITY_METHODS = ("templatematch", "neurokit_templatematch", "dissimilarity")


def ppg_clean(ppg_signal: np.ndarray, sampling_rate: float, method: str = "elgendi"
              ) -> np.ndarray:
    """Band-pass filtered PPG (``nk.ppg_clean``); NaN gaps are bridged before filtering."""
    import neurokit2 as nk

    fs = check_sampling_rate(sampling_rate, "ppg_clean")
    method = check_method(method, CLEAN_METHODS, "ppg_clean")
    return np.asarray(nk.ppg_clean(fill_gaps(np.asarray(ppg_signal, dtype=np.float64)),
                                   sampling_rate=fs, method=method), dtype=np.float64)


def ppg_peaks(ppg_cleaned: np.ndarray, sampling_rate: float, method: str = "elgendi"
              ) -> np.ndarray:
    """Indices of systolic PPG peaks (``nk.ppg_findpeaks``), sorted and unique."""
    import neurokit2 as nk

    fs = check_sampling_rate(sampling_rate, "ppg_peaks")
    method = check_method(method, PEAK_METHODS, "ppg_peaks")
    if ppg_cleaned.size < 2 * fs:
        return np.empty(0, dtype=np.int64)
    # NeuroKit2's MSPTD sizes its windows with range(), which needs an integer rate; the
    # rounding only changes those analysis windows, not the returned sample indices.
    rate = int(round(fs)) if method == "msptdfast" else fs
    info = nk.ppg_findpeaks(ppg_cleaned, sampling_rate=rate, method=method)
    return np.unique(np.asarray(info["PPG_Peaks"], dtype=np.int64))


def ppg_quality(ppg_cleaned: np.ndarray, peaks: np.ndarray, sampling_rate: float,
                method: str = "templatematch") -> np.ndarray:
    """Per-sample PPG quality in [0, 1]; 1 means beats shaped like the record's average beat.

    ``templatematch`` is NeuroKit2's template-matching index (after Orphanidou et al. 2015:
    correlation of each beat, segmented over one mean cycle centred on its peak, with the
    average beat; held from that peak to the next), computed here with array operations:
    ``nk.ppg_quality`` builds a pandas column per beat and processes ~250 s of PPG per second,
    far below the 1,000x real-time target, so it stays available as ``neurokit_templatematch``
    (the test suite checks that both agree). ``dissimilarity`` (``nk.ppg_quality``, Sabeti et
    al. 2019) is mapped to ``1 / (1 + dissimilarity)``.
    """
    fs = check_sampling_rate(sampling_rate, "ppg_quality")
    method = check_method(method, QUALITY_METHODS, "ppg_quality")
    peaks = np.asarray(peaks, dtype=np.int64)
    if peaks.size < 3 or ppg_cleaned.size < 4 * fs:
        return np.zeros(ppg_cleaned.size)
    if method == "templatematch":
        return _templatematch(ppg_cleaned, peaks, fs)
    import neurokit2 as nk

    nk_method = "templatematch" if method == "neurokit_templatematch" else method
    quality = np.asarray(nk.ppg_quality(ppg_cleaned, peaks=peaks, sampling_rate=fs,
                                        method=nk_method), dtype=np.float64)
    if method == "dissimilarity":
        quality = 1.0 / (1.0 + np.abs(quality))
    return np.nan_to_num(quality, nan=0.0)


def _templatematch(cleaned: np.ndarray, peaks: np.ndarray, fs: float) -> np.ndarray:
    """Template-match quality with array operations (same index as NeuroKit2's)."""
    cycle_s = (peaks[-1] - peaks[0]) / fs / (peaks.size - 1)  # time-averaged beat length
    length = max(2, int(cycle_s * fs))
    offsets = np.arange(length) - int(0.5 * cycle_s * fs)
    index = peaks[:, None] + offsets[None, :]
    inside = (index[:, 0] >= 0) & (index[:, -1] < cleaned.size)
    scored = peaks[inside][:-1] if inside[-1] else peaks[inside]
    if scored.size < 2:
        return np.zeros(cleaned.size)
    beats = cleaned[index[np.isin(peaks, scored)]]
    template = beats.mean(axis=0)
    beats = beats - beats.mean(axis=1, keepdims=True)
    template = template - template.mean()
    norms = np.linalg.norm(beats, axis=1) * np.linalg.norm(template)
    cc = np.divide(beats @ template, norms, out=np.zeros(len(beats)), where=norms > 0)
    held = np.searchsorted(scored, np.arange(cleaned.size), side="right") - 1
    return cc[np.clip(held, 0, cc.size - 1)]


def ppg_upstrokes(ppg_cleaned: np.ndarray, peaks: np.ndarray, sampling_rate: float,
                  search_s: float = 0.25) -> np.ndarray:
    """Index of the steepest upstroke (maximum first derivative) before each systolic peak.

    The rounded PPG peak is poorly localised in time; the maximum-slope point is the standard
    sharper fiducial for beat timing (e.g. pulse arrival time), so heart rate is timed on it.
    """
    fs = check_sampling_rate(sampling_rate, "ppg_upstrokes")
    if peaks.size == 0:
        return peaks.astype(np.int64)
    slope = np.gradient(ppg_cleaned)
    width = max(1, int(round(search_s * fs)))
    starts = np.maximum(peaks - width, 0)
    points = [s + int(np.argmax(slope[s:p + 1])) for s, p in zip(starts, peaks, strict=True)]
    return np.unique(np.asarray(points, dtype=np.int64))
