"""Exogenous and sensor effects applied to a clean multi-beat window (numpy, one window).

Amplitudes are relative to the channel's pulse amplitude (max - min of its clean beat), so one
prior fits pressure in mmHg and PPG in arbitrary units alike.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from scipy import signal


@cache
def _butter(order: int, low: float, high: float, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Second-order sections and their unit-step initial state (designed once per setting)."""
    high = min(high, 0.45 * fs)
    if low > 0:
        sos = signal.butter(order, [low, high], btype="bandpass", fs=fs, output="sos")
    else:
        sos = signal.butter(order, high, btype="lowpass", fs=fs, output="sos")
    return sos, signal.sosfilt_zi(sos)


def respiratory_modulation(x: np.ndarray, t: np.ndarray, pulse: float, rate_hz: float,
                           phase: float, baseline: float, amplitude: float) -> np.ndarray:
    """Respiratory baseline shift and amplitude modulation (AM) around the window mean."""
    breath = np.sin(2.0 * np.pi * rate_hz * t + phase)
    mean = x.mean()
    return mean + (x - mean) * (1.0 + amplitude * breath) + baseline * pulse * breath


def baseline_wander(t: np.ndarray, pulse: float, amplitude: float, max_hz: float,
                    rng: np.random.Generator, n_components: int = 5) -> np.ndarray:
    """Slow drift: a sum of random low-frequency sinusoids with SD ``amplitude * pulse``."""
    freqs = rng.uniform(0.01, max_hz, n_components)
    phases = rng.uniform(0.0, 2.0 * np.pi, n_components)
    weights = rng.standard_normal(n_components)
    drift = (weights[:, None] * np.sin(2.0 * np.pi * freqs[:, None] * t + phases[:, None])).sum(0)
    return amplitude * pulse * drift / max(drift.std(), 1e-12)


def colored_noise(n: int, pink_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance mix of white and 1/f (pink) noise; ``pink_fraction`` is the pink power share."""
    white = rng.standard_normal(n)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n)
    spectrum[1:] /= np.sqrt(freqs[1:])
    spectrum[0] = 0.0
    pink = np.fft.irfft(spectrum, n)
    pink /= max(pink.std(), 1e-12)
    return np.sqrt(1.0 - pink_fraction) * white + np.sqrt(pink_fraction) * pink


def sensor_noise(clean: np.ndarray, snr_db: float, pink_fraction: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Noise whose power is var(clean) / 10^(snr_db / 10) (SNR of the pulsatile signal)."""
    sd = np.sqrt(clean.var() / 10.0 ** (snr_db / 10.0))
    return sd * colored_noise(clean.shape[-1], pink_fraction, rng)


def motion_bursts(t: np.ndarray, fs: float, pulse: float, rate_per_min: float,
                  amplitude: tuple[float, float], duration_s: tuple[float, float],
                  rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Poisson number of Hann-windowed, 0.3-5 Hz band-limited noise bursts; returns (x, count)."""
    count = int(rng.poisson(rate_per_min * (t[-1] - t[0] + 1.0 / fs) / 60.0))
    out = np.zeros_like(t)
    sos, _zi = _butter(2, 0.3, 5.0, fs)
    for _ in range(count):
        length = max(int(rng.uniform(*duration_s) * fs), 4)
        start = int(rng.integers(0, t.shape[0]))
        burst = signal.sosfilt(sos, rng.standard_normal(length))
        burst *= rng.uniform(*amplitude) * pulse / max(burst.std(), 1e-12) * np.hanning(length)
        stop = min(start + length, t.shape[0])
        out[start:stop] += burst[: stop - start]
    return out, count


def monitor_filter(x: np.ndarray, fs: float, band: list[float], order: int) -> np.ndarray:
    """Causal Butterworth band-pass (or low-pass when band[0] == 0), started in steady state,
    like a monitor's display/export filter (causal: real devices cannot look ahead)."""
    sos, zi = _butter(order, float(band[0]), float(band[1]), fs)
    filtered, _ = signal.sosfilt(sos, x, zi=zi * x[0])
    return filtered


def quantize(x: np.ndarray, pulse: float, levels: float) -> np.ndarray:
    """Round to an ADC step of ``pulse / levels``."""
    step = pulse / levels
    return np.round(x / step) * step
