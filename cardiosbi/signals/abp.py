"""Arterial blood pressure: cleaning, pulse onsets (slope sum function), systolic peaks, quality.

Onsets follow Zong W, Heldt T, Moody GB, Mark RG, "An open-source algorithm to detect onset of
arterial blood pressure pulses", Computers in Cardiology 2003;30:259-262 (the algorithm behind
WFDB's ``wabp``): the slope sum function (SSF) sums the positive first differences of the
low-passed pressure over a 128 ms window, so it rises sharply at each systolic upstroke; a pulse
is an SSF maximum above 60 % of an adaptive threshold base (initialised at three times the mean
SSF of the first 10 s and moved towards each accepted pulse's SSF maximum), with a 250 ms
eye-closing period; its onset is where the SSF starts rising. Our deviations, all documented
here: a zero-phase Butterworth low-pass (16 Hz) instead of the causal integer filter, and a
threshold base that decays after 2 s without a pulse so detection recovers after an artefact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal as sps

from cardiosbi.io.channels import PHYSICAL_RANGE
from cardiosbi.signals._methods import check_method, check_sampling_rate
from cardiosbi.signals.filters import fill_gaps, signal_lowpass

ONSET_METHODS = ("zong2003",)
_SSF_WINDOW_S = 0.128
_EYE_CLOSING_S = 0.25
_ONSET_SEARCH_S = 0.3


@dataclass
class AbpBeats:
    """Beat positions (sample indices) and per-beat pressures [mmHg] of an ABP signal."""

    onsets: np.ndarray
    peaks: np.ndarray
    sbp: np.ndarray
    dbp: np.ndarray


def abp_clean(abp_signal: np.ndarray, sampling_rate: float) -> np.ndarray:
    """Low-passed ABP (16 Hz, zero phase; the band of Zong et al.); NaN gaps bridged."""
    fs = check_sampling_rate(sampling_rate, "abp_clean")
    return signal_lowpass(fill_gaps(np.asarray(abp_signal, dtype=np.float64)), fs, 16.0)


def abp_ssf(abp_cleaned: np.ndarray, sampling_rate: float) -> np.ndarray:
    """Slope sum function: sum of positive first differences over the preceding 128 ms."""
    fs = check_sampling_rate(sampling_rate, "abp_ssf")
    rises = np.clip(np.diff(abp_cleaned, prepend=abp_cleaned[:1]), 0.0, None)
    width = max(1, int(round(_SSF_WINDOW_S * fs)))
    cumulative = np.cumsum(rises)
    ssf = cumulative.copy()
    ssf[width:] -= cumulative[:-width]
    return ssf


def abp_onsets(abp_cleaned: np.ndarray, sampling_rate: float, method: str = "zong2003"
               ) -> np.ndarray:
    """Sample indices of pulse onsets (feet) by the slope sum function of Zong et al. 2003."""
    fs = check_sampling_rate(sampling_rate, "abp_onsets")
    check_method(method, ONSET_METHODS, "abp_onsets")
    if abp_cleaned.size < 2 * fs:
        return np.empty(0, dtype=np.int64)
    ssf = abp_ssf(abp_cleaned, fs)
    candidates, _ = sps.find_peaks(ssf, distance=max(1, int(round(_EYE_CLOSING_S * fs))))
    base = 3.0 * float(np.mean(ssf[: int(10 * fs)]))
    search = int(round(_ONSET_SEARCH_S * fs))
    onsets: list[int] = []
    last = -np.inf
    for peak in candidates:
        height = ssf[peak]
        if height < 0.6 * base or height <= 0:
            if peak - last > 2.0 * fs:  # long without a pulse: let the threshold come down
                base *= 0.8
            continue
        base += 0.25 * (height - base)
        start = max(0, peak - search)
        segment = ssf[start:peak + 1]
        low = np.flatnonzero(segment <= 0.01 * height)
        onset = start + (int(low[-1]) if low.size else int(np.argmin(segment)))
        if onsets and onset <= onsets[-1]:
            continue
        onsets.append(onset)
        last = peak
    return np.asarray(onsets, dtype=np.int64)


def abp_peaks(abp_signal: np.ndarray, onsets: np.ndarray, sampling_rate: float,
              abp_cleaned: np.ndarray | None = None) -> AbpBeats:
    """Systolic peak, SBP and DBP [mmHg] of each beat starting at ``onsets``.

    The peak is located on the cleaned signal (maximum from the onset to the next onset, at
    most 0.6 s); pressures are read on the unfiltered signal so the low-pass does not shave
    the systolic peak: SBP is the maximum within ±20 ms of the located peak, DBP the minimum from
    0.1 s before the onset to the peak.
    """
    fs = check_sampling_rate(sampling_rate, "abp_peaks")
    raw = fill_gaps(np.asarray(abp_signal, dtype=np.float64))
    located = abp_clean(raw, fs) if abp_cleaned is None else abp_cleaned
    n = raw.size
    ends = np.minimum(np.append(onsets[1:], n), onsets + int(round(0.6 * fs)))
    peaks = np.array([o + int(np.argmax(located[o:e])) if e > o else o
                      for o, e in zip(onsets, ends, strict=True)], dtype=np.int64)
    near, lead = max(1, int(round(0.02 * fs))), int(round(0.1 * fs))
    sbp = np.array([raw[max(0, p - near):p + near + 1].max() for p in peaks])
    dbp = np.array([raw[max(0, o - lead):p + 1].min() for o, p in zip(onsets, peaks, strict=True)])
    return AbpBeats(onsets=onsets, peaks=peaks, sbp=sbp, dbp=dbp)


def abp_quality(abp_window: np.ndarray, beats: AbpBeats, sampling_rate: float) -> dict:
    """Quality indices of one ABP window (raw values in mmHg, beats of this window).

    ``flat_fraction``: share of 0.5 s blocks whose range is < 1 mmHg (flat line, flushing);
    ``clip_fraction``: share of samples at the window's extreme values (saturated transducer);
    ``pulse_pressure``: median SBP − DBP; ``rise_time_s``: median onset-to-peak time (a damped
    line rises slowly); ``range_fraction``: share of samples outside the physical ABP range
    (−20…300 mmHg).
    """
    fs = check_sampling_rate(sampling_rate, "abp_quality")
    low, high = PHYSICAL_RANGE["abp"]
    finite = abp_window[np.isfinite(abp_window)]
    if finite.size == 0:
        return {"flat_fraction": 1.0, "clip_fraction": 0.0, "pulse_pressure": np.nan,
                "rise_time_s": np.nan, "range_fraction": 0.0}
    return {
        "flat_fraction": flat_fraction(abp_window, fs, tolerance=1.0),
        "clip_fraction": clip_fraction(finite),
        "pulse_pressure": float(np.median(beats.sbp - beats.dbp)) if beats.sbp.size else np.nan,
        "rise_time_s": float(np.median(beats.peaks - beats.onsets) / fs) if beats.sbp.size
        else np.nan,
        "range_fraction": float(np.mean((finite < low) | (finite > high))),
    }


def flat_fraction(x: np.ndarray, sampling_rate: float, tolerance: float) -> float:
    """Share of 0.5 s blocks of ``x`` whose peak-to-peak range is below ``tolerance``."""
    block = max(2, int(round(0.5 * sampling_rate)))
    n_blocks = x.size // block
    if n_blocks == 0:
        return 1.0
    blocks = x[: n_blocks * block].reshape(n_blocks, block)
    finite = np.isfinite(blocks)
    high = np.where(finite, blocks, -np.inf).max(axis=1)
    low = np.where(finite, blocks, np.inf).min(axis=1)
    spread = np.where(finite.any(axis=1), high - low, 0.0)  # an all-missing block counts as flat
    return float(np.mean(spread < tolerance))


def clip_fraction(x: np.ndarray) -> float:
    """Share of samples equal (to 1e-6 of the range) to the maximum or minimum of ``x``.

    A natural waveform touches its extremes in a few samples; a saturated one sits on them.
    """
    span = float(np.ptp(x))
    if span == 0:
        return 1.0
    tol = 1e-6 * span
    return float(np.mean((x >= x.max() - tol) | (x <= x.min() + tol)))
