"""Heart rate and rhythm regularity from beat times (any modality: R peaks, PPG peaks, ABP feet)."""

from __future__ import annotations

import numpy as np


def beats_rate(beat_times_s: np.ndarray) -> float:
    """Heart rate [bpm] from beat times: 60 / mean of the intervals within 20 % of the median.

    Dropping intervals far from the median ignores a missed or extra beat; averaging the rest
    keeps the sub-sample precision that a plain median of quantised intervals loses.
    """
    intervals = np.diff(np.asarray(beat_times_s, dtype=np.float64))
    if intervals.size == 0:
        return float("nan")
    median = float(np.median(intervals))
    if median <= 0:
        return float("nan")
    typical = intervals[np.abs(intervals - median) <= 0.2 * median]
    return 60.0 / float(typical.mean()) if typical.size else float("nan")


def beats_variability(beat_times_s: np.ndarray) -> float:
    """Coefficient of variation of the beat intervals (0 for a perfectly regular rhythm)."""
    intervals = np.diff(np.asarray(beat_times_s, dtype=np.float64))
    if intervals.size < 2 or intervals.mean() <= 0:
        return float("nan")
    return float(intervals.std() / intervals.mean())
