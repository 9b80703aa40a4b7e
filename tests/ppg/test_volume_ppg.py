"""Volume PPG (PWDB recipe) on synthetic beats with known answers and on the WK3 model."""

from __future__ import annotations

import math

import torch

from simulators import windkessel
from simulators.ppg import normalise_beat, resistor_bed_volume, volume_ppg, windkessel_volume


def _beat(n=400, period=0.8, batch=3):
    t = torch.arange(n, dtype=torch.float64) / n * period
    phase = 2 * math.pi * t / period
    amp = torch.linspace(1.0, 2.0, batch, dtype=torch.float64)[:, None]
    flow = 1e-5 * (1.2 + amp * torch.sin(phase) + 0.3 * torch.cos(2 * phase))
    pressure = 1.2e4 + 2e3 * amp * torch.sin(phase - 0.4)
    return t, flow, pressure, period / n


def test_resistor_bed_volume_closes_exactly_over_the_beat():
    _t, flow, pressure, dt = _beat()
    p_out = 33.2 * 133.322
    volume = resistor_bed_volume(pressure, flow, p_out, dt)
    net = volume[:, -1]  # sum of (Q - Q_out) over the whole beat
    assert torch.allclose(net, torch.zeros_like(net), atol=1e-15)
    # the fitted bed carries the mean flow: mean((P - P_out) / R_d) == mean(Q)
    resistance = (pressure - p_out).sum(1) / flow.sum(1)
    assert torch.allclose(((pressure - p_out) / resistance[:, None]).mean(1), flow.mean(1))


def test_windkessel_volume_removes_linear_drift():
    t, flow, _p, dt = _beat()
    leak = 2e-7  # a constant imbalance makes the raw cumulative volume drift
    closed = windkessel_volume(flow + leak, flow.clone(), dt)
    raw_span = leak * dt * flow.shape[1]
    # a pure imbalance is pure drift: after closure the stored volume is flat
    assert (closed.amax(1) - closed.amin(1)).max() < 1e-9 * raw_span
    # a real beat plus drift: closure recovers the drift-free beat up to a constant
    signal = 1e-6 * torch.sin(2 * math.pi * t / t[-1].item() * (1 - 1 / flow.shape[1]))[None, :]
    clean = windkessel_volume(signal + flow, flow.clone(), dt)
    drifting = windkessel_volume(signal + flow + leak, flow.clone(), dt)
    offset = (drifting - clean).mean(1, keepdim=True)
    assert torch.allclose(drifting - offset, clean, atol=1e-6 * raw_span)


def test_windkessel_branch_equals_compliance_times_pc():
    result = windkessel.simulate({"hr": torch.tensor([60.0, 90.0]), "sv": torch.tensor([70.0, 50.0])})
    site = result.waveforms["aortic_root"]
    dt = result.period / result.phase.shape[0]
    ppg, scale = volume_ppg(site, dt)
    pc = torch.roll(site["Pc"], -1, dims=1)  # V_k sums flows through sample k
    expected = (pc - pc.amin(1, keepdim=True)) / (pc.amax(1, keepdim=True) - pc.amin(1, keepdim=True))
    assert torch.allclose(ppg, expected, atol=1e-2)  # rectangle rule, 512 samples
    compliance = result.site_info["aortic_root"]["C"]
    volume_range = compliance * (pc.amax(1) - pc.amin(1))
    assert torch.allclose(1.0 / scale, volume_range, rtol=5e-3)


def test_normalised_beat_starts_at_minimum_in_unit_range():
    _t, flow, pressure, dt = _beat()
    volume = resistor_bed_volume(pressure, flow, 4000.0, dt)
    ppg, scale, shift = normalise_beat(volume)
    assert torch.all(ppg[:, 0] == 0) and torch.allclose(ppg.amax(1), torch.ones(3, dtype=ppg.dtype))
    assert ppg.min() >= 0 and ppg.max() <= 1
    span = volume.amax(1) - volume.amin(1)
    assert torch.allclose(scale * span, torch.ones_like(span))
    # rotation only: sample 0 of the PPG is the minimum of the raw volume
    assert torch.equal(shift, volume.argmin(1))


def test_volume_ppg_needs_outflow_or_pressure():
    _t, flow, _p, dt = _beat()
    try:
        volume_ppg({"Q": flow}, dt)
    except ValueError as exc:
        assert "Q_out" in str(exc)
    else:
        raise AssertionError("expected a ValueError")
