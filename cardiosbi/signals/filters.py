"""Resampling and zero-phase filtering shared by the modality modules (scipy.signal)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from scipy import signal as sps

from cardiosbi.signals._methods import check_method, check_sampling_rate


def signal_resample(x: np.ndarray, sampling_rate: float, desired_sampling_rate: float,
                    method: str = "polyphase") -> np.ndarray:
    """Resample ``x`` from ``sampling_rate`` to ``desired_sampling_rate`` Hz.

    ``polyphase`` (anti-aliased, scipy ``resample_poly`` with a rational ratio) or ``linear``
    interpolation. NaN gaps are bridged by interpolation for filtering and restored afterwards,
    so missing data stays missing.
    """
    fs_in = check_sampling_rate(sampling_rate, "signal_resample")
    fs_out = check_sampling_rate(desired_sampling_rate, "signal_resample")
    method = check_method(method, ("polyphase", "linear"), "signal_resample")
    x = np.asarray(x, dtype=np.float64)
    if fs_in == fs_out or x.size == 0:
        return x.copy()
    n_out = int(np.floor(x.size * fs_out / fs_in))
    missing = ~np.isfinite(x)
    filled = fill_gaps(x)
    if method == "linear":
        t_out = np.arange(n_out) / fs_out
        out = np.interp(t_out, np.arange(x.size) / fs_in, filled)
    else:
        ratio = Fraction(fs_out / fs_in).limit_denominator(1000)
        out = sps.resample_poly(filled, ratio.numerator, ratio.denominator, padtype="line")
        out = out[:n_out] if out.size >= n_out else np.pad(out, (0, n_out - out.size), "edge")
    if missing.any():
        idx = np.minimum((np.arange(n_out) * fs_in / fs_out).astype(np.int64), x.size - 1)
        out[missing[idx]] = np.nan
    return out


def fill_gaps(x: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaN/inf samples (edges held); all-missing input gives zeros."""
    good = np.isfinite(x)
    if good.all():
        return x
    if not good.any():
        return np.zeros_like(x)
    idx = np.arange(x.size)
    return np.interp(idx, idx[good], x[good])


def signal_lowpass(x: np.ndarray, sampling_rate: float, cutoff: float, order: int = 2
                   ) -> np.ndarray:
    """Zero-phase Butterworth low-pass (second-order sections, forward-backward)."""
    fs = check_sampling_rate(sampling_rate, "signal_lowpass")
    cutoff = min(cutoff, 0.45 * fs)
    sos = sps.butter(order, cutoff, btype="lowpass", fs=fs, output="sos")
    return sps.sosfiltfilt(sos, x)


def signal_bandpass(x: np.ndarray, sampling_rate: float, low: float, high: float,
                    order: int = 2) -> np.ndarray:
    """Zero-phase Butterworth band-pass (second-order sections, forward-backward)."""
    fs = check_sampling_rate(sampling_rate, "signal_bandpass")
    sos = sps.butter(order, [low, min(high, 0.45 * fs)], btype="bandpass", fs=fs, output="sos")
    return sps.sosfiltfilt(sos, x)
