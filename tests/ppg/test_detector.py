"""simulators.ppg.detector: shot noise grows with the light, the floor does not."""

from __future__ import annotations

import numpy as np
import pytest

from simulators.ppg.detector import detect, detector_noise_sd


@pytest.mark.parametrize(("intensity", "floor", "photons"), [
    (1e-2, 0.0, 1e8),      # shot-noise limited: sd = sqrt(I / N) = 1e-5
    (1e-2, 1e-4, 1e12),    # floor limited: sd ~ 1e-4
    (1e-4, 1e-6, 1e8),     # both comparable
])
def test_empirical_noise_matches_the_model(intensity, floor, photons):
    rng = np.random.default_rng(0)
    clean = np.full((4, 20_000), intensity)
    noisy = detect(clean, floor, photons, rng)
    expected = np.sqrt(intensity / photons + floor**2)
    # the sample SD of 80,000 Gaussian draws is within 1 % of the truth (5 standard errors)
    assert noisy.std() == pytest.approx(expected, rel=0.01)
    assert abs(noisy.mean() - intensity) < 5 * expected / np.sqrt(clean.size)


def test_a_ten_times_lower_floor_is_a_ten_times_stronger_led_in_snr():
    beat = 1e-3 * (1.0 + 0.01 * np.sin(np.linspace(0, 2 * np.pi, 100)))
    photons = 1e30  # shot noise off
    weak = np.ptp(beat) / detector_noise_sd(beat.mean(), 1e-5, photons)
    strong_led = np.ptp(10 * beat) / detector_noise_sd(10 * beat.mean(), 1e-5, photons)
    low_floor = np.ptp(beat) / detector_noise_sd(beat.mean(), 1e-6, photons)
    assert strong_led == pytest.approx(low_floor) == pytest.approx(10 * weak)


@pytest.mark.parametrize(("floor", "photons"), [(-1e-6, 1e10), (np.nan, 1e10), (1e-6, 0.0)])
def test_rejects_unphysical_noise(floor, photons):
    with pytest.raises(ValueError):
        detector_noise_sd(np.ones(3), floor, photons)
