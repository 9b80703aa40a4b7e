"""Per-sample checks of optical parameters: which subjects the optical model can simulate, and why not.

A batch of skin and sensor parameters is checked subject by subject; the first failed check
names the reason, so one unphysical draw is rejected on its own instead of sinking the batch.
Wavelengths belong to the sensor (the same for every subject): :func:`check_wavelengths` raises
for a configuration that asks for one outside the coefficient tables.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import torch

from simulators.ppg import optical

if TYPE_CHECKING:
    from simulators.ppg.sensor import Sensor

FRACTIONS = ("melanin", "blood_fraction", "pulsatile_fraction", "spo2", "tissue_saturation",
             "water_fraction", "subcutis_blood_fraction", "deep_pulsatile_share")
GEOMETRIES = ("reflectance", "transmission")


def wavelength_range_nm() -> tuple[float, float]:
    """The wavelengths [nm] covered by every coefficient table (haemoglobin and water)."""
    low, high = -float("inf"), float("inf")
    for name in ("hemoglobin_prahl.csv", "water_hale_querry.csv"):
        table = optical._table(name)
        low, high = max(low, float(table[0, 0])), min(high, float(table[-1, 0]))
    return low, high


def check_wavelengths(wavelengths_nm) -> None:
    """Raise ValueError (one line) unless every wavelength lies inside the coefficient tables."""
    low, high = wavelength_range_nm()
    outside = [w for w in wavelengths_nm if not low <= float(w) <= high]
    if outside or not len(wavelengths_nm):
        raise ValueError(f"optical wavelengths {outside or 'empty'} nm: the coefficient tables "
                         f"cover {low:.0f}-{high:.0f} nm")


def validate_optical(skin: optical.SkinParameters, sensor: Sensor | None = None,
                     batch: int | None = None) -> tuple[torch.Tensor, list[str]]:
    """``(ok, reasons)``: an ok mask (B,) and per subject "" or the first failed check.

    Checks, in order: finite values; fractions in [0, 1]; dermal blood at its pulse peak plus
    water at most the whole dermis; positive layer thicknesses; positive source-detector
    distance (reflectance; transmission allows a zero lateral offset); positive LED gain,
    non-negative ambient light and contact pressure; wavelengths inside the coefficient tables;
    the diffusion layer (dermis, or the slab in transmission) thicker than one transport mean
    free path at every wavelength, which the diffusion solution needs.
    """
    sensor_fields = _sensor_fields(sensor, skin)
    values = {**{k: v for k, v in vars(skin).items() if k != "wavelength_nm"}, **sensor_fields}
    size = batch or max(torch.as_tensor(v).numel() for v in values.values())
    column = {k: _column(k, v, size) for k, v in values.items()}
    checks = [(~torch.isfinite(v), f"nonfinite_{k}") for k, v in column.items()]
    checks += [((column[k] < 0) | (column[k] > 1), f"{k}_outside_0_1") for k in FRACTIONS]
    peak_blood = column["blood_fraction"] * (1.0 + column["pulsatile_fraction"])
    checks.append((peak_blood + column["water_fraction"] > 1.0, "dermis_fractions_sum_above_1"))
    checks += [(column[k] <= 0, f"nonpositive_{k}") for k in ("epidermis_mm", "dermis_mm", "slab_mm")]
    geometry = sensor.geometry if sensor is not None else "reflectance"
    distance_bad = column["distance_mm"] <= 0 if geometry == "reflectance" else column["distance_mm"] < 0
    checks.append((distance_bad, "nonpositive_distance_mm" if geometry == "reflectance" else "negative_distance_mm"))
    checks += [(column["gain"] <= 0, "nonpositive_led_gain"), (column["ambient"] < 0, "negative_ambient"),
               (column["contact_pressure_mmhg"] < 0, "negative_contact_pressure")]
    reasons = [""] * size
    _apply(reasons, checks)
    wavelengths = _wavelengths(skin, sensor)
    low, high = wavelength_range_nm()
    if any(not low <= w <= high for w in wavelengths):
        _apply(reasons, [(torch.ones(size, dtype=torch.bool), "wavelength_outside_tables")])
    else:
        _apply(reasons, [(_thinner_than_mean_free_path(skin, column, wavelengths, geometry, reasons),
                          "diffusion_layer_thinner_than_transport_mean_free_path")])
    ok = torch.tensor([r == "" for r in reasons], dtype=torch.bool)
    return ok, reasons


def _column(name: str, value, size: int) -> torch.Tensor:
    tensor = torch.as_tensor(value, dtype=torch.float64)
    if tensor.numel() != 1 and tensor.shape != (size,):
        raise ValueError(f"optical parameters must be floats or ({size},) tensors; {name} has shape "
                         f"{tuple(tensor.shape)}")
    return tensor.reshape(-1).expand(size)


def _sensor_fields(sensor: Sensor | None, skin: optical.SkinParameters) -> dict:
    if sensor is None:
        return {"contact_pressure_mmhg": 0.0}
    if sensor.geometry not in GEOMETRIES:
        raise ValueError(f"sensor geometry must be one of {', '.join(GEOMETRIES)}, not {sensor.geometry!r}")
    return {"distance_mm": sensor.distance_mm, "slab_mm": sensor.slab_mm, "gain": sensor.led_gain,
            "ambient": sensor.ambient, "contact_pressure_mmhg": sensor.contact_pressure_mmhg}


def _wavelengths(skin: optical.SkinParameters, sensor: Sensor | None) -> list[float]:
    if sensor is not None:
        return [float(w) for w in sensor.wavelengths_nm]
    return [float(w) for w in torch.as_tensor(skin.wavelength_nm).reshape(-1).unique()]


def _thinner_than_mean_free_path(skin, column, wavelengths, geometry, reasons) -> torch.Tensor:
    """(B,) True where the diffusion layer is not thicker than 1 / (mu_a + mu_s') at its most
    absorbing (pulse peak); subjects already rejected are evaluated at nominal values."""
    valid = torch.tensor([r == "" for r in reasons])
    nominal = optical.SkinParameters()
    safe = {k: torch.where(valid, v, torch.as_tensor(float(getattr(nominal, k, 0.0)), dtype=torch.float64))
            for k, v in column.items() if hasattr(nominal, k)}
    layer = safe["dermis_mm"] if geometry == "reflectance" else safe["slab_mm"]
    thin = torch.zeros_like(valid)
    for wavelength in wavelengths:
        p = replace(skin, **{k: safe[k] for k in vars(skin) if k in safe}, wavelength_nm=wavelength)
        props = optical.layer_properties(p, p.blood_fraction * p.pulsatile_fraction)
        mean_free_path_mm = 10.0 / (props["dermis"] + props["musp_skin"])
        thin |= valid & (layer <= mean_free_path_mm)
    return thin


def _apply(reasons: list[str], checks) -> None:
    """Give each subject without a reason yet the first failed check's name."""
    for bad, name in checks:
        for i in torch.nonzero(bad).flatten().tolist():
            reasons[i] = reasons[i] or name
