"""PPG–ABP alignment: the lag that maximises their cross-correlation within a bounded range."""

from __future__ import annotations

import numpy as np
from scipy import signal as sps

from cardiosbi.signals._methods import check_sampling_rate


def signals_lag(reference: np.ndarray, delayed: np.ndarray, sampling_rate: float,
                max_lag_s: float = 1.0) -> tuple[float, float]:
    """Lag [s] of ``delayed`` behind ``reference`` and the correlation coefficient at that lag.

    Both inputs are equal-length windows (band-passed, so that a baseline does not dominate).
    The lag is searched within ±``max_lag_s``; a positive lag means ``delayed`` comes later.
    Returns (nan, nan) when either window has no spread or contains non-finite values.
    """
    fs = check_sampling_rate(sampling_rate, "signals_lag")
    a = np.asarray(reference, dtype=np.float64)
    b = np.asarray(delayed, dtype=np.float64)
    if a.size != b.size or a.size < 2 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return float("nan"), float("nan")
    a, b = a - a.mean(), b - b.mean()
    scale = np.sqrt((a * a).sum() * (b * b).sum())
    if scale == 0:
        return float("nan"), float("nan")
    corr = sps.correlate(b, a, mode="full", method="fft") / scale
    lags = sps.correlation_lags(b.size, a.size, mode="full")
    keep = np.abs(lags) <= int(round(max_lag_s * fs))
    best = int(np.argmax(corr[keep]))
    return float(lags[keep][best] / fs), float(corr[keep][best])
