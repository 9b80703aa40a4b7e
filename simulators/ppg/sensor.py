"""A multi-wavelength PPG sensor over layered skin, batched over subjects.

One blood-volume waveform (the "drive", e.g. the simulated volume PPG at the site) feeds every
wavelength of the sensor; per wavelength the detected intensity, its DC, AC, perfusion index and
normalised waveform come from :func:`simulators.ppg.optical.optical_ppg`. Each skin or sensor
parameter may be a float or a (B,) tensor. Unphysical subjects are rejected one by one with a
reason (:func:`simulators.ppg.validation.validate_optical`) and come back as NaN; detector noise
is not added here (the measurement model does that).

Contact pressure of the sensor on the skin (an assumption-laden, documented model):

* it squeezes the collapsible (venous and capillary) share of the dermal blood out:
  B_eff = B (1 - s (1 - exp(-P_c / P_v))) with s = :data:`COLLAPSIBLE_SHARE` and
  P_v = :data:`VENOUS_PRESSURE_MMHG`, since veins collapse once the contact pressure exceeds
  their distending pressure;
* it lowers the arterial transmural pressure MAP - P_c, where the wall is more compliant, so the
  pulsatile arterial volume grows by C(MAP - P_c) / C(MAP) with the Lorentzian compliance
  C(P) = 1 / (1 + (P / W)^2), W = :data:`COMPLIANCE_WIDTH_MMHG`; this is the oscillometric
  principle (pulse amplitude largest near P_c = MAP; Drzewiecki et al., Ann. Biomed. Eng. 22, 88
  (1994)) and the measured rise of PPG amplitude with moderate contact force (Teng and Zhang,
  Physiol. Meas. 25, 1323 (2004)).

Melanin: :data:`FITZPATRICK_MELANIN` maps skin types to epidermal melanosome volume fractions
after Jacques ("Skin optics", OMLC News 1998): light-skinned adults 1.3-6.3 %, moderately
pigmented 11-16 %, darkly pigmented 18-43 %. Jacques gives three groups; assigning them to the
Fitzpatrick pairs I-II, III-IV and V-VI is ours.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from simulators.ppg.optical import OpticalPPG, SkinParameters, optical_ppg
from simulators.ppg.validation import validate_optical

COLLAPSIBLE_SHARE = 0.7  # venous/capillary share of dermal blood (cutaneous venous plexus)
VENOUS_PRESSURE_MMHG = 15.0  # distending pressure scale of the dermal veins
COMPLIANCE_WIDTH_MMHG = 40.0  # width of the arterial compliance peak around zero transmural pressure
NOMINAL_MAP_MMHG = 93.0  # mean arterial pressure when none is given
SUBJECTS_PER_EVALUATION = 64  # bounds the memory of one transport evaluation (B x levels x grid)

FITZPATRICK_MELANIN = {  # melanosome volume fraction of the epidermis, (low, high)
    "I": (0.013, 0.063), "II": (0.013, 0.063),
    "III": (0.11, 0.16), "IV": (0.11, 0.16),
    "V": (0.18, 0.43), "VI": (0.18, 0.43),
}


@dataclass
class Sensor:
    """The device: its LEDs, geometry and coupling to the skin; tensors are (B,), lengths in mm.

    ``led_gain`` scales the detected light (LED power times detector responsivity, 1 = nominal);
    ``ambient`` adds light in the same units as the intensity; ``slab_mm`` is the tissue
    thickness crossed in ``transmission`` (where ``distance_mm`` is the lateral offset).
    """

    wavelengths_nm: tuple[float, ...] = (530.0, 660.0, 940.0)
    geometry: str = "reflectance"
    distance_mm: float | torch.Tensor = 3.0
    slab_mm: float | torch.Tensor = 10.0
    led_gain: float | torch.Tensor = 1.0
    ambient: float | torch.Tensor = 0.0
    contact_pressure_mmhg: float | torch.Tensor = 0.0


@dataclass
class SensorPPG:
    """Per subject and wavelength: intensity (B, W, T), DC, AC and perfusion index [%] (B, W),
    normalised waveform (B, W, T); ``ok`` (B,) and ``reason`` per subject (NaN where rejected)."""

    wavelengths_nm: tuple[float, ...]
    intensity: torch.Tensor
    dc: torch.Tensor
    ac: torch.Tensor
    perfusion_index: torch.Tensor
    waveform: torch.Tensor
    ok: torch.Tensor
    reason: list[str]

    def at(self, wavelength_nm: float) -> OpticalPPG:
        """The single-wavelength view of one of the sensor's wavelengths."""
        wavelengths = [float(x) for x in self.wavelengths_nm]
        if float(wavelength_nm) not in wavelengths:
            raise ValueError(f"{wavelength_nm} nm is not one of the sensor's wavelengths {wavelengths}")
        w = wavelengths.index(float(wavelength_nm))
        return OpticalPPG(self.intensity[:, w], self.dc[:, w], self.ac[:, w],
                          self.perfusion_index[:, w], self.waveform[:, w])


def contact_blood_fraction(blood_fraction, contact_pressure_mmhg) -> torch.Tensor:
    """Dermal blood volume fraction left under the sensor's contact pressure."""
    squeezed = 1.0 - torch.exp(-torch.as_tensor(contact_pressure_mmhg, dtype=torch.float64)
                               / VENOUS_PRESSURE_MMHG)
    return blood_fraction * (1.0 - COLLAPSIBLE_SHARE * squeezed)


def contact_pulsatility_gain(contact_pressure_mmhg, mean_pressure_mmhg=NOMINAL_MAP_MMHG) -> torch.Tensor:
    """Factor on the pulsatile arterial volume: compliance at MAP - P_c over compliance at MAP."""
    mean = torch.as_tensor(mean_pressure_mmhg, dtype=torch.float64)
    width = COMPLIANCE_WIDTH_MMHG
    return (1.0 + (mean / width) ** 2) / (1.0 + ((mean - contact_pressure_mmhg) / width) ** 2)


def sensor_ppg(drive: torch.Tensor, skin: SkinParameters, sensor: Sensor,
               mean_pressure_mmhg=NOMINAL_MAP_MMHG) -> SensorPPG:
    """Every wavelength of ``sensor`` over ``skin`` when the dermal arterial blood follows
    ``drive`` (B, T) in [0, 1]; ``skin.wavelength_nm`` and its distance, slab, gain and ambient
    are replaced by the sensor's. ``mean_pressure_mmhg`` (float or (B,)) sets the transmural
    pressure for the contact-pressure effect."""
    drive = torch.as_tensor(drive, dtype=torch.float64)
    if drive.ndim != 2:
        raise ValueError("drive must be (batch, time)")
    batch, n_time, n_wave = drive.shape[0], drive.shape[1], len(sensor.wavelengths_nm)
    ok, reason = validate_optical(skin, sensor, batch)
    ok = ok & torch.isfinite(drive).all(dim=1)
    reason = [r or ("" if k else "nonfinite_drive") for r, k in zip(reason, ok.tolist(), strict=True)]
    shape = (batch, n_wave)
    out = {name: torch.full(shape + (n_time,) * (name in ("intensity", "waveform")), torch.nan,
                            dtype=torch.float64)
           for name in ("intensity", "dc", "ac", "perfusion_index", "waveform")}
    rows = torch.nonzero(ok).flatten()
    for start in range(0, len(rows), SUBJECTS_PER_EVALUATION):
        index = rows[start:start + SUBJECTS_PER_EVALUATION]
        part = _effective_skin(_select(skin, index, batch), _select(sensor, index, batch),
                               _pick(mean_pressure_mmhg, index, batch))
        for w, wavelength in enumerate(sensor.wavelengths_nm):
            single = optical_ppg(drive[index], replace(part, wavelength_nm=float(wavelength)), sensor.geometry)
            for name in out:
                out[name][index, w] = getattr(single, name)
    return SensorPPG(tuple(float(w) for w in sensor.wavelengths_nm), out["intensity"], out["dc"],
                     out["ac"], out["perfusion_index"], out["waveform"], ok, reason)


def _effective_skin(skin: SkinParameters, sensor: Sensor, mean_pressure) -> SkinParameters:
    """The skin under the sensor: its geometry, gain and ambient, and contact-pressure blood."""
    blood = contact_blood_fraction(skin.blood_fraction, sensor.contact_pressure_mmhg)
    arterial_peak = (skin.blood_fraction * skin.pulsatile_fraction
                     * contact_pulsatility_gain(sensor.contact_pressure_mmhg, mean_pressure))
    # optical_ppg's peak arterial blood is blood_fraction * pulsatile_fraction
    pulsatile = torch.where(blood > 0, arterial_peak / torch.as_tensor(blood).clamp_min(1e-300),
                            torch.zeros_like(torch.as_tensor(blood)))
    return replace(skin, blood_fraction=blood, pulsatile_fraction=pulsatile,
                   distance_mm=sensor.distance_mm, slab_mm=sensor.slab_mm, gain=sensor.led_gain,
                   ambient=sensor.ambient)


def _pick(value, index: torch.Tensor, batch: int):
    """Rows ``index`` of a (B,) tensor; floats and one-element tensors pass through."""
    tensor = torch.as_tensor(value, dtype=torch.float64)
    if tensor.numel() == 1:
        return tensor.reshape(())
    if tensor.shape != (batch,):
        raise ValueError(f"optical parameters must be floats or ({batch},) tensors, got shape {tuple(tensor.shape)}")
    return tensor[index]


def _select(params, index: torch.Tensor, batch: int):
    """``params`` (skin or sensor) with every numeric field restricted to rows ``index``."""
    skip = {"wavelengths_nm", "geometry", "wavelength_nm"}
    return replace(params, **{k: _pick(v, index, batch) for k, v in vars(params).items() if k not in skip})
