"""Measurement model: exact limits, reproducibility and statistical checks of each effect."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import signal

from simulators.measurement import MeasurementConfig, MeasurementModel, effects
from simulators.measurement.warping import beat_onsets, beat_phase, sample_beat


def _beat(n=512):
    phase = np.arange(n) / n
    return 80 + 40 * np.exp(-((phase - 0.2) / 0.08) ** 2) + 10 * np.exp(-((phase - 0.5) / 0.1) ** 2)


def _all_off() -> MeasurementConfig:
    cfg = MeasurementConfig(random_start=False)
    for name in ("hrv", "respiration", "wander", "noise", "motion", "bandpass", "quantization"):
        getattr(cfg, name).enabled = False
    return cfg


def test_without_effects_the_window_is_the_periodic_beat_resampled():
    cfg = _all_off()
    beat = _beat()
    out = MeasurementModel(cfg).apply({"radial/P": beat[None]}, np.array([0.8]), [7])
    t = (np.arange(cfg.n_samples) + cfg.lead_s * cfg.fs) / cfg.fs  # the lead-in is dropped
    expected = sample_beat(beat, (t / 0.8) % 1.0)
    np.testing.assert_allclose(out.windows["radial/P"][0], expected, rtol=1e-6)
    assert out.windows["radial/P"].shape == (1, 1000) and out.fs == 125.0


def test_same_seed_same_window_different_seed_different_window():
    model = MeasurementModel()
    beats = {"radial/P": np.stack([_beat()] * 2), "digital/PPG": np.stack([_beat() / 100] * 2)}
    a = model.apply(beats, np.array([0.8, 0.8]), [11, 12])
    b = model.apply({k: v[:1] for k, v in beats.items()}, np.array([0.8]), [11])
    np.testing.assert_array_equal(a.windows["radial/P"][0], b.windows["radial/P"][0])
    assert not np.allclose(a.windows["radial/P"][0], a.windows["radial/P"][1])
    assert set(a.nuisance) >= {"start_phase", "hrv_sd", "snr_db_radial_P", "snr_db_digital_PPG"}


def test_beat_interval_variability_matches_its_prior():
    rng = np.random.default_rng(0)
    onsets = beat_onsets(0.8, 2000.0, 0.0, 0.05, 0.0, 0.2, 0.0, rng)
    intervals = np.diff(onsets) / 0.8
    assert abs(intervals.mean() - 1.0) < 4 * 0.05 / math.sqrt(len(intervals))
    assert intervals.std() == pytest.approx(0.05, rel=0.06)  # N ~ 2500 beats


def test_respiratory_sinus_arrhythmia_modulates_intervals_at_the_breathing_rate():
    rng = np.random.default_rng(1)
    onsets = beat_onsets(1.0, 300.0, 0.0, 0.0, 0.05, 0.25, 0.0, rng)
    intervals = np.diff(onsets)
    expected = 1.0 - 0.05 * np.sin(2 * np.pi * 0.25 * onsets[:-1])
    np.testing.assert_allclose(intervals, expected, rtol=1e-12)
    phase = beat_phase(np.array([onsets[3], 0.5 * (onsets[3] + onsets[4])]), onsets)
    np.testing.assert_allclose(phase, [0.0, 0.5])


def test_sensor_noise_has_the_drawn_snr_and_a_one_over_f_spectrum():
    rng = np.random.default_rng(2)
    clean = np.sin(np.linspace(0, 400 * np.pi, 2**16))
    noise = effects.sensor_noise(clean, 20.0, 0.0, rng)
    assert 10 * np.log10(clean.var() / noise.var()) == pytest.approx(20.0, abs=0.2)
    pink = effects.colored_noise(2**16, 1.0, rng)
    freqs, power = signal.welch(pink, nperseg=4096)
    band = (freqs > 0.002) & (freqs < 0.2)
    slope = np.polyfit(np.log(freqs[band]), np.log(power[band]), 1)[0]
    assert slope == pytest.approx(-1.0, abs=0.15)


def test_motion_burst_count_is_poisson_at_the_configured_rate():
    rng = np.random.default_rng(3)
    t = np.arange(1000) / 125.0
    counts = [effects.motion_bursts(t, 125.0, 1.0, 6.0, (1, 2), (0.5, 1), rng)[1] for _ in range(800)]
    expected = 6.0 * 8.0 / 60.0  # per 8-s window
    assert abs(np.mean(counts) - expected) < 4 * math.sqrt(expected / 800)
    assert np.var(counts) == pytest.approx(expected, rel=0.25)


def test_quantisation_rounds_to_the_adc_step():
    x = effects.quantize(np.linspace(0, 1, 1000), pulse=1.0, levels=64)
    np.testing.assert_allclose(x * 64, np.round(x * 64), atol=1e-9)
    assert len(np.unique(x)) == 65


def test_monitor_filter_keeps_pressure_level_and_removes_ppg_baseline():
    fs, t = 125.0, np.arange(4000) / 125.0
    x = 90 + 20 * np.sin(2 * np.pi * 1.25 * t)  # whole cycles in 1000 samples
    lowpass = effects.monitor_filter(x, fs, [0.0, 16.0], 2)
    assert lowpass[-1000:].mean() == pytest.approx(90.0, abs=0.1)
    bandpass = effects.monitor_filter(x, fs, [0.5, 8.0], 2)
    assert abs(bandpass[-1000:].mean()) < 0.5
    assert bandpass[-1000:].std() == pytest.approx(20 / math.sqrt(2), rel=0.1)


def test_each_effect_switches_off_independently():
    beats = {"radial/P": _beat()[None]}
    base = MeasurementModel(_all_off()).apply(beats, np.array([0.8]), [5]).windows["radial/P"]
    for name in ("hrv", "respiration", "wander", "noise", "bandpass", "quantization"):
        cfg = _all_off()
        getattr(cfg, name).enabled = True
        out = MeasurementModel(cfg).apply(beats, np.array([0.8]), [5]).windows["radial/P"]
        assert not np.allclose(out, base, atol=1e-6), name
