"""Per-subject rejection of unphysical optical parameters, and the coefficient tables' range."""

from __future__ import annotations

import pytest
import torch

from simulators.ppg.optical import SkinParameters
from simulators.ppg.sensor import Sensor
from simulators.ppg.validation import check_wavelengths, validate_optical, wavelength_range_nm


def _reasons(skin=None, sensor=None):
    return validate_optical(skin or SkinParameters(), sensor or Sensor())[1]


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("epidermis_mm", -0.1, "nonpositive_epidermis_mm"),
    ("dermis_mm", 0.0, "nonpositive_dermis_mm"),
    ("melanin", 1.2, "melanin_outside_0_1"),
    ("spo2", -0.01, "spo2_outside_0_1"),
    ("tissue_saturation", 1.5, "tissue_saturation_outside_0_1"),
    ("blood_fraction", 0.4, "dermis_fractions_sum_above_1"),
    ("melanin", float("nan"), "nonfinite_melanin"),
    ("dermis_mm", 0.3, "diffusion_layer_thinner_than_transport_mean_free_path"),
    ("deep_pulsatile_share", 1.1, "deep_pulsatile_share_outside_0_1"),
])
def test_each_unphysical_skin_parameter_is_named(field, value, reason):
    values = torch.tensor([getattr(SkinParameters(), field), value], dtype=torch.float64)
    ok, reasons = validate_optical(SkinParameters(**{field: values}), Sensor())
    assert ok.tolist() == [True, False]
    assert reasons == ["", reason]


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("distance_mm", 0.0, "nonpositive_distance_mm"),
    ("led_gain", 0.0, "nonpositive_led_gain"),
    ("ambient", -1.0, "negative_ambient"),
    ("contact_pressure_mmhg", -5.0, "negative_contact_pressure"),
])
def test_each_unphysical_sensor_parameter_is_named(field, value, reason):
    assert _reasons(sensor=Sensor(**{field: value})) == [reason]


def test_transmission_allows_a_zero_offset_but_needs_a_slab_thicker_than_a_mean_free_path():
    assert _reasons(sensor=Sensor(geometry="transmission", distance_mm=0.0)) == [""]
    assert _reasons(sensor=Sensor(geometry="transmission", distance_mm=-1.0)) == ["negative_distance_mm"]
    thin = _reasons(sensor=Sensor(geometry="transmission", slab_mm=0.2))
    assert thin == ["diffusion_layer_thinner_than_transport_mean_free_path"]


def test_a_wavelength_outside_the_tables_rejects_every_subject_and_fails_a_config_check():
    low, high = wavelength_range_nm()
    assert (low, high) == (450.0, 1000.0)
    skin = SkinParameters(melanin=torch.tensor([0.05, 0.2], dtype=torch.float64))
    ok, reasons = validate_optical(skin, Sensor(wavelengths_nm=(660.0, 1300.0)))
    assert not ok.any() and reasons == ["wavelength_outside_tables"] * 2
    with pytest.raises(ValueError, match=r"\[1300\.0\] nm.*450-1000 nm"):
        check_wavelengths([660.0, 1300.0])
    check_wavelengths([450, 530, 1000])


def test_nominal_skin_and_the_default_sensor_pass():
    ok, reasons = validate_optical(SkinParameters(), Sensor())
    assert ok.all() and reasons == [""]
