"""SpO2 from the red/infrared ratio of ratios, with a calibration curve derived from the model.

R = (AC_red / DC_red) / (AC_ir / DC_ir). A pulse oximeter maps R to SpO2 with an empirical
curve fitted on volunteers; here the curve is fitted on the model itself: a sweep of arterial
saturation over :data:`CALIBRATION_SPO2` (0.70-1.00, the ISO 80601-2-61 accuracy range) at
nominal skin (``SkinParameters()``: melanin 5 %, dermal blood 2 %, dermis 1.5 mm) under the
nominal reflectance sensor (660/940 nm, 3 mm), fitted by least squares with
SpO2 = c0 + c1 R + c2 R^2 (the usual quadratic form of oximeter calibrations).
:data:`CALIBRATION` holds the result of :func:`fit_calibration` with those defaults (a test
re-derives it); refit it for another sensor with ``fit_calibration(sensor=...)``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from simulators.ppg.optical import SkinParameters
from simulators.ppg.sensor import Sensor, sensor_ppg

RED_BAND_NM = (600.0, 750.0)
INFRARED_BAND_NM = (800.0, 1000.0)
CALIBRATION_SPO2 = tuple(np.linspace(0.70, 1.00, 13))
# SpO2 = c0 + c1 R + c2 R^2 from fit_calibration() at nominal skin, 660/940 nm, 3 mm reflectance
CALIBRATION = (1.107603, -0.331166, 0.033655)


def ratio_of_ratios(ac_red, dc_red, ac_infrared, dc_infrared) -> torch.Tensor:
    """R = (AC_red / DC_red) / (AC_ir / DC_ir)."""
    return (torch.as_tensor(ac_red) / torch.as_tensor(dc_red)) / (
        torch.as_tensor(ac_infrared) / torch.as_tensor(dc_infrared))


def red_infrared_pair(wavelengths_nm) -> tuple[float, float] | None:
    """The red (600-750 nm) and infrared (800-1000 nm) wavelengths closest to 660 and 940 nm,
    or None when the sensor lacks either."""
    red = [float(w) for w in wavelengths_nm if RED_BAND_NM[0] <= float(w) <= RED_BAND_NM[1]]
    infrared = [float(w) for w in wavelengths_nm if INFRARED_BAND_NM[0] <= float(w) <= INFRARED_BAND_NM[1]]
    if not red or not infrared:
        return None
    return min(red, key=lambda w: abs(w - 660.0)), min(infrared, key=lambda w: abs(w - 940.0))


def sweep_ratio(spo2, skin: SkinParameters | None = None, sensor: Sensor | None = None) -> torch.Tensor:
    """R of the model at each arterial saturation in ``spo2`` (one subject per value)."""
    spo2 = torch.as_tensor(spo2, dtype=torch.float64).reshape(-1)
    sensor = sensor or Sensor(wavelengths_nm=(660.0, 940.0))
    pair = red_infrared_pair(sensor.wavelengths_nm)
    if pair is None:
        raise ValueError(f"sensor wavelengths {sensor.wavelengths_nm} lack a red or an infrared one")
    skin = skin or SkinParameters()
    phase = torch.linspace(0.0, 2.0 * math.pi, 64, dtype=torch.float64)
    drive = ((1.0 - torch.cos(phase)) / 2.0).expand(len(spo2), -1)
    out = sensor_ppg(drive, _with(skin, spo2=spo2), sensor)
    red, infrared = out.at(pair[0]), out.at(pair[1])
    return ratio_of_ratios(red.ac, red.dc, infrared.ac, infrared.dc)


def fit_calibration(skin: SkinParameters | None = None, sensor: Sensor | None = None,
                    spo2=CALIBRATION_SPO2) -> tuple[float, float, float]:
    """(c0, c1, c2) of SpO2 = c0 + c1 R + c2 R^2, least squares over a sweep of the model."""
    ratio = sweep_ratio(spo2, skin, sensor).numpy()
    c2, c1, c0 = np.polyfit(ratio, np.asarray(spo2, dtype=np.float64), 2)
    return float(c0), float(c1), float(c2)


def spo2_from_ratio(ratio, coefficients=CALIBRATION) -> torch.Tensor:
    """SpO2 (fraction) from R with the calibration curve, clipped to [0, 1] as oximeters
    display it; the curve is fitted on R of saturations 0.70-1.00 only."""
    r = torch.as_tensor(ratio, dtype=torch.float64)
    c0, c1, c2 = coefficients
    return (c0 + c1 * r + c2 * r**2).clamp(0.0, 1.0)


def _with(skin: SkinParameters, **fields) -> SkinParameters:
    from dataclasses import replace
    return replace(skin, **fields)
