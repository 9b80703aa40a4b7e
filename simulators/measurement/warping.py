"""Multi-beat windows from one periodic beat: beat-to-beat variability by time warping.

The simulators return one periodic beat per subject, sampled on a uniform phase grid. A window
of length ``duration`` is built by laying out successive beats whose intervals vary (random
beat-to-beat variability and respiratory sinus arrhythmia) and evaluating the beat at each
output sample's phase within its beat: each beat is the periodic beat stretched to its own
interval. Evaluating the finely sampled beat directly at the output times is also the
resampling to the model rate.
"""

from __future__ import annotations

import numpy as np


def beat_onsets(period: float, duration: float, start_phase: float, interval_sd: float,
                rsa_depth: float, resp_hz: float, resp_phase: float,
                rng: np.random.Generator) -> np.ndarray:
    """Onset times [s] of the beats covering [0, duration]; the first onset is <= 0.

    Interval i = period * (1 + interval_sd * e_i) * (1 - rsa_depth * sin(2 pi f_r t_i + phi)),
    with e_i standard normal clipped to +-3 so that no interval is negative.
    """
    onsets = [-start_phase * period]
    while onsets[-1] <= duration:
        t = onsets[-1]
        jitter = 1.0 + interval_sd * float(np.clip(rng.standard_normal(), -3.0, 3.0))
        rsa = 1.0 - rsa_depth * np.sin(2.0 * np.pi * resp_hz * t + resp_phase)
        onsets.append(t + period * jitter * rsa)
    return np.asarray(onsets)


def beat_phase(times: np.ndarray, onsets: np.ndarray) -> np.ndarray:
    """Phase in [0, 1) of each time within its beat (onsets must cover the times)."""
    index = np.searchsorted(onsets, times, side="right") - 1
    return (times - onsets[index]) / (onsets[index + 1] - onsets[index])


def sample_beat(beat: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Periodic linear interpolation of a beat sampled uniformly over [0, 1) at ``phase``."""
    n = beat.shape[-1]
    position = phase * n
    lower = np.floor(position).astype(np.int64) % n
    weight = position - np.floor(position)
    return beat[..., lower] * (1.0 - weight) + beat[..., (lower + 1) % n] * weight
