"""The photodetector: what a sensor's front end adds to the light that reaches it.

Two independent noise sources, in the units of the optical model's detected intensity (light
per unit source power and detector area, 1/cm^2, times the LED gain; see
:mod:`simulators.ppg.optical`):

* **shot noise**: photon counting, variance I / N where N (``photons_per_unit``) is the number
  of photons one sample collects at unit intensity; it grows with the signal;
* **the front-end noise floor** (``noise_floor``, standard deviation per sample): amplifier,
  dark current and ADC noise, independent of the light.

Because the floor is fixed while the signal scales with LED power, dividing the floor by k is
the same as driving the LED k times harder (shot noise aside): a design study can read one noise
axis as "front-end noise" or as "LED power". A dark skin at a long source-detector distance
returns so little green light that its pulse sinks below the floor; this is the mechanism that
makes identifiability depend on skin tone and design.
"""

from __future__ import annotations

import numpy as np


def detector_noise_sd(intensity: np.ndarray, noise_floor, photons_per_unit: float) -> np.ndarray:
    """Standard deviation of the detected sample at ``intensity`` (>= 0; any shape)."""
    if photons_per_unit <= 0:
        raise ValueError(f"photons_per_unit must be > 0, got {photons_per_unit}")
    floor = np.asarray(noise_floor, dtype=np.float64)
    if np.any(floor < 0) or not np.all(np.isfinite(floor)):
        raise ValueError("noise_floor must be finite and >= 0")
    return np.sqrt(np.clip(intensity, 0.0, None) / photons_per_unit + floor**2)


def detect(intensity: np.ndarray, noise_floor, photons_per_unit: float,
           rng: np.random.Generator) -> np.ndarray:
    """``intensity`` (..., T) as the detector samples it: plus Gaussian shot and floor noise.

    ``noise_floor`` is a float or broadcasts against ``intensity`` (e.g. (B, 1, 1) per window).
    """
    sd = detector_noise_sd(intensity, noise_floor, photons_per_unit)
    return intensity + sd * rng.standard_normal(np.shape(intensity))
