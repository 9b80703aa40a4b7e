"""Multi-wavelength sensor: limits, known physics, batching, per-subject rejection."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from simulators.ppg import optical, sensor
from simulators.ppg.optical import SkinParameters
from simulators.ppg.sensor import Sensor, sensor_ppg


def _drive(batch=1, n=96):
    phase = torch.linspace(0, 2 * math.pi, n, dtype=torch.float64)
    return ((1 - torch.cos(phase)) / 2)[None, :].repeat(batch, 1)


def _dc(skin=None, device=None, wavelength=None):
    out = sensor_ppg(_drive(), skin or SkinParameters(), device or Sensor())
    return out.dc[0] if wavelength is None else out.at(wavelength).dc[0]


def test_each_wavelength_is_the_single_wavelength_model_with_the_sensor_fields():
    skin = SkinParameters(melanin=0.1, pulsatile_fraction=0.04)
    device = Sensor(distance_mm=4.0, led_gain=1.5, ambient=1e-4)
    out = sensor_ppg(_drive(2), skin, device)
    for nm in device.wavelengths_nm:
        single = optical.optical_ppg(_drive(2), replace(skin, wavelength_nm=nm, distance_mm=4.0, gain=1.5,
                                                        ambient=1e-4))
        assert torch.allclose(out.at(nm).intensity, single.intensity, rtol=1e-12)
        assert torch.allclose(out.at(nm).perfusion_index, single.perfusion_index, rtol=1e-12)


def test_batched_equals_looped():
    skin = SkinParameters(melanin=torch.tensor([0.02, 0.2, 0.4], dtype=torch.float64),
                          dermis_mm=torch.tensor([1.0, 1.5, 2.4], dtype=torch.float64),
                          spo2=torch.tensor([0.75, 0.9, 0.99], dtype=torch.float64))
    device = Sensor(distance_mm=torch.tensor([2.0, 3.5, 6.0], dtype=torch.float64),
                    contact_pressure_mmhg=torch.tensor([0.0, 20.0, 55.0], dtype=torch.float64))
    batched = sensor_ppg(_drive(3), skin, device)
    for i in range(3):
        one = sensor_ppg(_drive(1), _row(skin, i), _row(device, i))
        # the quadrature grid follows the batch's shortest decay length: agreement to ~1e-9
        assert torch.allclose(batched.intensity[i], one.intensity[0], rtol=1e-8)
        assert torch.allclose(batched.perfusion_index[i], one.perfusion_index[0], rtol=1e-6)


def _row(params, i):
    return replace(params, **{k: v[i].item() for k, v in vars(params).items() if torch.is_tensor(v)})


def test_no_blood_means_no_ac_at_every_wavelength():
    for geometry in ("reflectance", "transmission"):
        out = sensor_ppg(_drive(), SkinParameters(blood_fraction=0.0), Sensor(geometry=geometry))
        assert torch.all(out.ac == 0) and torch.all(out.dc > 0)


def test_melanin_removes_more_green_than_infrared():
    light, dark = SkinParameters(melanin=0.02), SkinParameters(melanin=0.4)
    green = _dc(dark, wavelength=530.0) / _dc(light, wavelength=530.0)
    infrared = _dc(dark, wavelength=940.0) / _dc(light, wavelength=940.0)
    assert green < infrared < 1.0


def test_dc_falls_with_source_detector_distance():
    dc = torch.stack([_dc(device=Sensor(distance_mm=d)) for d in (1.5, 3.0, 6.0, 10.0)])
    assert torch.all(dc[1:] < dc[:-1])


def test_transmission_through_a_finger_is_dimmer_than_reflectance_and_falls_with_thickness():
    reflected = _dc(device=Sensor(distance_mm=3.0))
    through = torch.stack([_dc(device=Sensor(geometry="transmission", distance_mm=0.0, slab_mm=t))
                           for t in (8.0, 12.0)])
    assert torch.all(through[0] < reflected) and torch.all(through[1] < through[0])
    # infrared crosses tissue best: the transmitted 940/530 ratio exceeds the reflected one
    assert through[0, 2] / through[0, 0] > reflected[2] / reflected[0]


def test_led_gain_scales_light_but_not_perfusion_index():
    base = sensor_ppg(_drive(), SkinParameters(), Sensor())
    bright = sensor_ppg(_drive(), SkinParameters(), Sensor(led_gain=3.0))
    assert torch.allclose(bright.dc, 3 * base.dc) and torch.allclose(bright.ac, 3 * base.ac)
    assert torch.allclose(bright.perfusion_index, base.perfusion_index)


def test_contact_pressure_squeezes_blood_and_peaks_pulsatility_at_mean_pressure():
    pressures = torch.tensor([0.0, 20.0, 60.0, 93.0, 140.0], dtype=torch.float64)
    gain = sensor.contact_pulsatility_gain(pressures, 93.0)
    assert gain[0] == 1.0 and gain.argmax() == 3 and gain[4] < gain[3]
    blood = sensor.contact_blood_fraction(0.02, pressures)
    assert torch.all(blood[1:] < blood[:-1]) and blood[-1] >= 0.02 * (1 - sensor.COLLAPSIBLE_SHARE)
    # through the optics: moderate pressure raises the perfusion index at every wavelength
    loose = sensor_ppg(_drive(), SkinParameters(), Sensor(contact_pressure_mmhg=0.0))
    firm = sensor_ppg(_drive(), SkinParameters(), Sensor(contact_pressure_mmhg=40.0))
    assert torch.all(firm.perfusion_index > loose.perfusion_index)


def test_an_unphysical_subject_is_rejected_alone():
    skin = SkinParameters(dermis_mm=torch.tensor([1.5, -1.0, 1.2], dtype=torch.float64))
    out = sensor_ppg(_drive(3), skin, Sensor())
    assert out.ok.tolist() == [True, False, True]
    assert out.reason == ["", "nonpositive_dermis_mm", ""]
    assert torch.isnan(out.waveform[1]).all() and torch.isfinite(out.waveform[[0, 2]]).all()
    alone = sensor_ppg(_drive(1), SkinParameters(dermis_mm=1.2), Sensor())
    assert torch.allclose(out.intensity[2], alone.intensity[0], rtol=1e-12)


def test_fitzpatrick_table_follows_jacques():
    assert sensor.FITZPATRICK_MELANIN["I"] == (0.013, 0.063)
    assert sensor.FITZPATRICK_MELANIN["VI"] == (0.18, 0.43)
    lows = [sensor.FITZPATRICK_MELANIN[t][0] for t in ("I", "III", "V")]
    assert lows == sorted(lows)


@pytest.mark.parametrize("shape", [(2,), (4, 1)])
def test_parameters_of_the_wrong_shape_are_refused(shape):
    with pytest.raises(ValueError, match="floats or"):
        sensor_ppg(_drive(3), SkinParameters(melanin=torch.full(shape, 0.1, dtype=torch.float64)), Sensor())


def test_a_deeper_pulse_is_seen_less_by_green_than_by_infrared_light():
    shares = (0.0, 0.5, 1.0)
    pi = torch.stack([sensor_ppg(_drive(), SkinParameters(deep_pulsatile_share=s), Sensor()).perfusion_index[0]
                      for s in shares])
    assert torch.all(pi[1:] < pi[:-1])  # the subcutis is reached by less light than the dermis
    green_over_infrared = pi[:, 0] / pi[:, 2]
    assert torch.all(green_over_infrared[1:] < green_over_infrared[:-1])
    assert green_over_infrared[0] > 10 and green_over_infrared[-1] < 5
