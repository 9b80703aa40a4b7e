"""Optical PPG model: exact limits, known physics, differentiability."""

from __future__ import annotations

import math

import pytest
import torch

from simulators.ppg import optical


def _drive(batch=2, n=120):
    phase = torch.linspace(0, 2 * math.pi, n, dtype=torch.float64)
    return ((1 - torch.cos(phase)) / 2)[None, :].repeat(batch, 1)


def test_homogeneous_two_layer_equals_closed_form_dipole():
    area = optical._boundary_coefficient()
    for rho in (0.1, 0.3, 1.0):
        two = optical.two_layer_reflectance(0.2, 20.0, 0.2, 20.0, 0.15, rho)
        dipole = optical.semi_infinite_fluence(0.2, 20.0, rho) / (2 * area)
        assert math.isclose(two.item(), dipole.item(), rel_tol=1e-12)


def test_equal_layers_match_the_dipole_also_with_a_lossy_surface():
    reflection = 0.2  # the effective internal reflection under an absorbing epidermis
    area = optical._boundary_coefficient(reflection=reflection)
    rho = torch.tensor([0.1, 0.3, 1.0])
    two = optical.two_layer_reflectance(0.2, 20.0, 0.2, 20.0, 0.15, rho, reflection)
    dipole = optical.semi_infinite_fluence(0.2, 20.0, rho, reflection) / (2 * area)
    assert torch.allclose(two, dipole, rtol=1e-12)
    # a less reflective surface lets light out sooner: more near the source, less far away
    bare = optical.semi_infinite_fluence(0.2, 20.0, rho) / (2 * optical._boundary_coefficient())
    assert two[0] > bare[0] and two[-1] < bare[-1]


def test_two_layer_far_field_decays_with_the_bottom_layer_mu_eff():
    # a thin, strongly absorbing top layer on a clear bottom: far away light travels below it
    rho = torch.tensor([2.0, 3.0])
    r = optical.two_layer_reflectance(1.0, 25.0, 0.05, 15.0, 0.1, rho)
    slope = torch.log(r[1] * rho[1] ** 2 / (r[0] * rho[0] ** 2)).item()
    mu_eff_bottom = math.sqrt(0.05 * 3 * (0.05 + 15.0))
    assert slope == pytest.approx(-mu_eff_bottom, rel=0.1)


def test_quadrature_is_converged():
    coarse = optical.two_layer_reflectance(0.3, 20.0, 0.1, 12.0, 0.15, torch.tensor([0.2, 0.5, 1.0]))
    grid = optical._frequency_grid
    try:
        optical._frequency_grid = lambda d: grid(d, n=4096)
        fine = optical.two_layer_reflectance(0.3, 20.0, 0.1, 12.0, 0.15, torch.tensor([0.2, 0.5, 1.0]))
    finally:
        optical._frequency_grid = grid
    assert torch.allclose(coarse, fine, rtol=1e-6)


@pytest.mark.parametrize("geometry", ["reflectance", "transmission"])
def test_no_blood_pulse_means_no_ac(geometry):
    out = optical.optical_ppg(_drive(), optical.SkinParameters(pulsatile_fraction=0.0), geometry)
    assert torch.all(out.ac == 0) and torch.all(out.dc > 0)
    out = optical.optical_ppg(_drive(), optical.SkinParameters(blood_fraction=0.0), geometry)
    assert torch.all(out.ac == 0)


def test_more_blood_means_less_light_and_waveform_follows_drive():
    drive = _drive()
    out = optical.optical_ppg(drive, optical.SkinParameters())
    assert torch.all(out.ac > 0)
    peak = drive[0].argmax()
    assert out.intensity[0, peak] == out.intensity[0].min()  # most blood, least light
    assert torch.corrcoef(torch.stack([out.waveform[0], drive[0]]))[0, 1] > 0.999
    assert out.waveform.min() >= 0 and out.waveform.max() <= 1
    assert torch.allclose(out.perfusion_index, 100 * out.ac / out.dc)


def test_melanin_attenuates_green_more_than_infrared():
    def dc(wavelength, melanin):
        p = optical.SkinParameters(wavelength_nm=wavelength, melanin=melanin)
        return optical.optical_ppg(_drive(1), p).dc.item()

    green = dc(530.0, 0.30) / dc(530.0, 0.02)
    infrared = dc(940.0, 0.30) / dc(940.0, 0.02)
    assert green < infrared < 1.0


def test_gain_and_ambient_keep_physical_meaning():
    base = optical.optical_ppg(_drive(), optical.SkinParameters())
    lit = optical.optical_ppg(_drive(), optical.SkinParameters(gain=2.0, ambient=0.5))
    assert torch.allclose(lit.ac, 2 * base.ac)
    assert torch.allclose(lit.dc, 2 * base.dc + 0.5)
    assert torch.all(lit.perfusion_index < base.perfusion_index)  # ambient dilutes the PI
    assert torch.allclose(lit.waveform, base.waveform)


def test_modified_beer_lambert_holds_for_a_small_pulsatile_absorber():
    """Delta OD = L_partial * Delta mu_a, with the dermal partial pathlength from autograd."""
    mua_dermis = torch.tensor(0.25, dtype=torch.float64, requires_grad=True)
    r = optical.two_layer_reflectance(mua_dermis, 20.0, 0.1, 12.0, 0.15, 0.3)
    (grad,) = torch.autograd.grad(-torch.log(r), mua_dermis)
    partial_path = grad.item()  # cm
    for delta in (1e-3, 1e-2):
        r2 = optical.two_layer_reflectance(0.25 + delta, 20.0, 0.1, 12.0, 0.15, 0.3)
        delta_od = -math.log(r2.item() / r.item())
        assert delta_od == pytest.approx(partial_path * delta, rel=5 * delta)
    # the partial pathlength exceeds the source-detector distance (differential pathlength > 1)
    assert partial_path > 0.3


def test_epidermis_is_a_filter_plus_a_lossy_surface():
    def dc(epidermis_mm):
        p = optical.SkinParameters(wavelength_nm=660.0, melanin=0.2, epidermis_mm=epidermis_mm,
                                   pulsatile_fraction=0.0)  # DC = the light at rest
        return optical.optical_ppg(_drive(1), p, "transmission").dc.item()

    # no epidermis: exactly the bare dermis slab with the tissue-air boundary
    bare = optical.layer_properties(optical.SkinParameters(wavelength_nm=660.0))
    slab = optical.slab_transmittance(bare["dermis"], bare["musp_skin"], 1.0, 0.3)
    assert dc(0.0) == pytest.approx(slab.item(), rel=1e-12)
    # a thicker epidermis loses more than Beer-Lambert's two passes: internally reflected light
    # crosses it again, so the surface returns less light to the dermis
    mua = optical.layer_properties(optical.SkinParameters(wavelength_nm=660.0, melanin=0.2))["epidermis"]
    ratio = dc(0.12) / dc(0.06)
    assert ratio < math.exp(-4 * mua.item() * 0.006)
    assert dc(0.0) > dc(0.06) > dc(0.12)


def test_outputs_are_differentiable_in_optical_parameters():
    spo2 = torch.tensor([0.9, 0.98], dtype=torch.float64, requires_grad=True)
    out = optical.optical_ppg(_drive(), optical.SkinParameters(spo2=spo2))
    out.perfusion_index.sum().backward()
    assert spo2.grad is not None and torch.all(torch.isfinite(spo2.grad)) and torch.all(spo2.grad != 0)


def test_wavelength_outside_tables_is_rejected():
    with pytest.raises(ValueError, match="wavelength outside"):
        optical.blood_absorption(1200.0, 0.97)
