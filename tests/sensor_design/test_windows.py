"""What a design records: the windows carry the pulse, its rate and the DC level, and the
photodetector makes dark skin and long distances cost green SNR."""

from __future__ import annotations

import numpy as np
import pytest

from cardiosbi.datasets.prior import prior_group
from cardiosbi.sensor_design import (
    SKIN_TONES,
    TARGETS,
    SensorDesign,
    WindowSettings,
    design_windows,
    simulate_subjects,
    stratified_subjects,
)

SETTINGS = WindowSettings(window_s=8.0, n_phase=128)
NO_NOISE = 1e-12
RGB = SensorDesign("rgb", (530.0, 660.0, 940.0), distance_mm=3.0)


@pytest.fixture(scope="module")
def prior():
    return prior_group("wearable")


@pytest.fixture(scope="module")
def subjects(prior):
    return simulate_subjects(prior, np.arange(64), RGB.optics, RGB.wavelengths_nm, SETTINGS)


def test_windows_carry_shape_relative_pulse_and_level(subjects):
    windows = design_windows(subjects, RGB, np.full(64, NO_NOISE), SETTINGS, seed=0)
    assert windows.x.shape == (64, 10, SETTINGS.n_samples) and windows.x.dtype == np.float32
    assert subjects.ok.all() and windows.theta.shape == (64, len(TARGETS))
    shape, relative, level = windows.x[:, :3], windows.x[:, 3:6], windows.x[:, 6:9]
    assert np.allclose(windows.x[:, 9], np.log10(NO_NOISE))  # the device's own noise floor
    assert np.allclose(shape.mean(axis=2), 0, atol=1e-4) and np.allclose(shape.std(axis=2), 1, atol=1e-3)
    assert np.allclose(relative, relative[..., :1]) and np.allclose(level, level[..., :1])
    dc = subjects.beats.mean(axis=2)
    assert np.allclose(level[..., 0], np.log10(dc), atol=0.01)
    # without noise the window's relative pulse SD is the beat's, up to partial beats and jitter
    beat_relative = np.log10(subjects.beats.std(axis=2) / dc)
    assert np.abs(relative[..., 0] - beat_relative).max() < 0.05


def test_ratio_of_relative_pulses_falls_with_spo2(subjects):
    """log10 (AC/DC)_660 - log10 (AC/DC)_940 is log10 of the ratio of ratios: it must fall as
    SpO2 rises (the oximeter's calibration curve), across every other parameter."""
    windows = design_windows(subjects, RGB, np.full(64, 1e-6), SETTINGS, seed=0)
    log_ratio = windows.x[:, 4, 0] - windows.x[:, 5, 0]
    spo2 = windows.theta[:, TARGETS.index("spo2")]
    assert np.corrcoef(log_ratio, spo2)[0, 1] < -0.9


def test_window_repeats_at_the_heart_rate(subjects):
    windows = design_windows(subjects, RGB, np.full(64, NO_NOISE), SETTINGS, seed=0)
    infrared = windows.x[:, 2] - windows.x[:, 2].mean(axis=1, keepdims=True)
    spectrum = np.abs(np.fft.rfft(infrared, n=8 * SETTINGS.n_samples, axis=1))
    freqs = np.fft.rfftfreq(8 * SETTINGS.n_samples, 1 / SETTINGS.sampling_rate)
    band = (freqs > 0.5) & (freqs < 4.0)
    peak_bpm = 60 * freqs[band][spectrum[:, band].argmax(axis=1)]
    hr = windows.theta[:, TARGETS.index("hr")]
    # the fundamental or (for sharp beats) a harmonic of HR; beat jitter is 3 %
    ratio = peak_bpm / hr
    assert np.mean(np.abs(ratio - np.round(ratio)) < 0.08) > 0.9
    assert np.mean(np.round(ratio) == 1) > 0.7


def test_led_power_raises_snr_by_its_factor_when_the_floor_dominates(subjects):
    floor = np.full(64, 1e-4)
    weak = design_windows(subjects, RGB, floor, SETTINGS, seed=0).table
    strong = design_windows(subjects, SensorDesign("rgb10", RGB.wavelengths_nm, 3.0, led_power=10.0),
                            floor, SETTINGS, seed=0).table
    gain = strong["snr_db_940"] - weak["snr_db_940"]
    assert gain.between(19.0, 20.01).all()  # 20 dB, less where shot noise starts to count


def test_dark_skin_costs_green_more_than_infrared(prior):
    subjects = stratified_subjects(prior, RGB.optics, RGB.wavelengths_nm, SETTINGS, 16,
                                   {"normal": [0.03, 0.1]}, first_seed=100)
    assert list(subjects.strata["skin_tone"].unique()) == list(SKIN_TONES)
    table = design_windows(subjects, RGB, np.full(len(subjects.ok), 1e-5), SETTINGS, seed=0).table
    snr = table.groupby("skin_tone")[["snr_db_530", "snr_db_940"]].median()
    assert snr["snr_db_530"].is_monotonic_decreasing  # infrared hardly sees melanin: no order at 16 a cell
    green_loss = snr.loc["I-II", "snr_db_530"] - snr.loc["V-VI", "snr_db_530"]
    infrared_loss = snr.loc["I-II", "snr_db_940"] - snr.loc["V-VI", "snr_db_940"]
    assert green_loss > infrared_loss + 10.0
    melanin = subjects.theta[:, TARGETS.index("melanin")]
    for tone, (low, high) in SKIN_TONES.items():
        inside = melanin[(subjects.strata["skin_tone"] == tone).to_numpy()]
        assert ((inside >= low) & (inside <= high)).all()


def test_a_design_needs_simulated_wavelengths(subjects):
    with pytest.raises(ValueError, match="850"):
        design_windows(subjects, SensorDesign("x", (850.0,)), np.full(64, 1e-6), SETTINGS, seed=0)


def test_same_seed_same_windows(subjects):
    first = design_windows(subjects, RGB, np.full(64, 1e-5), SETTINGS, seed=3).x
    again = design_windows(subjects, RGB, np.full(64, 1e-5), SETTINGS, seed=3).x
    other = design_windows(subjects, RGB, np.full(64, 1e-5), SETTINGS, seed=4).x
    assert np.array_equal(first, again) and not np.array_equal(first, other)
