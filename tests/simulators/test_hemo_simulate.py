"""simulate(): contract shapes, labels, batch consistency, per-subject failure isolation."""

from __future__ import annotations

import pytest
import torch

from simulators.hemodynamics import NetworkError, simulate
from simulators.hemodynamics.inflow import aortic_inflow, inflow_validity

FAST = {"network": "cca", "sites": ("carotid", "outlet"), "dx": 8e-3, "max_cycles": 1,
        "samples_per_beat": 256, "compile": False}  # one beat: compiling would dominate


def test_inflow_has_requested_volumes_and_timings():
    hr = torch.tensor([60.0, 75.0, 90.0])
    sv = torch.tensor([50.0, 70.0, 90.0])
    lvet, pft, rfv = torch.tensor([250.0, 300.0, 280.0]), torch.tensor([70.0, 100.0, 90.0]), torch.tensor([0.0, 0.73, 2.0])
    t, q = aortic_inflow(hr, sv, lvet, pft, rfv)
    assert torch.allclose(t[:, -1], 60.0 / hr.double())
    assert torch.allclose(torch.trapezoid(q, t, dim=1) * 1e6, sv.double(), rtol=1e-6)
    reverse = torch.trapezoid(q.clamp_max(0.0), t, dim=1) * -1e6
    assert torch.allclose(reverse, rfv.double(), atol=1e-6)
    peak_time = t.gather(1, q.argmax(dim=1, keepdim=True)).squeeze(1) * 1e3
    assert torch.allclose(peak_time, pft.double(), atol=1.5)
    assert inflow_validity(torch.tensor([200.0]), torch.tensor([300.0]), torch.tensor([80.0])).tolist() == [False]


def test_result_follows_the_contract():
    r = simulate({"hr": [70.0, 80.0], "sv": [60.0, 70.0], "pvr": [2.0e9, 2.5e9]}, fs=250.0, **FAST)
    B, T = 2, int(round(60.0 / 70.0 * 250.0))
    assert r.t.shape == (T,) and r.t[0] == 0.0
    assert set(r.waveforms) == {"carotid", "outlet"}
    assert set(r.waveforms["outlet"]) == {"P", "Q", "A", "Pc", "Q_out"}
    assert set(r.waveforms["carotid"]) == {"P", "Q", "A"}
    assert all(v.shape == (B, T) for site in r.waveforms.values() for v in site.values())
    assert r.site_info["outlet"]["terminal"] and r.site_info["outlet"]["R1"].shape == (B,)
    assert r.status.tolist() == [5, 5] and r.reason == ["not_periodic"] * 2  # 1-cycle cap
    assert torch.allclose(r.labels["hr"], torch.tensor([70.0, 80.0], dtype=torch.float64))
    assert torch.allclose(r.labels["sv"], torch.tensor([60.0, 70.0], dtype=torch.float64), rtol=1e-4)
    assert (r.labels["sbp_carotid"] > r.labels["map_carotid"]).all()
    assert (r.labels["map_carotid"] > r.labels["dbp_carotid"]).all()


def test_subject_alone_equals_subject_inside_a_batch():
    g = torch.Generator().manual_seed(0)
    params = {"hr": 60 + 30 * torch.rand(64, generator=g), "pvc_scale": 0.5 + torch.rand(64, generator=g)}
    batch = simulate(params, **FAST)
    for k in (0, 17, 63):
        alone = simulate({n: v[k:k + 1] for n, v in params.items()}, **FAST)
        for site in FAST["sites"]:
            got, want = batch.waveforms[site]["P"][k], alone.waveforms[site]["P"][0]
            n = want.shape[0]  # alone has its own (possibly shorter) output length
            torch.testing.assert_close(got[:n], want, rtol=1e-5, atol=1e-3)


def test_a_failing_subject_does_not_affect_the_others():
    params = {"sv": [60.0, -3000.0, 70.0], "lvet": [280.0, 280.0, 2000.0]}  # backward ejection drains the artery
    r = simulate(params, **FAST)
    assert r.status[0] == 5 and r.reason[0] == "not_periodic"
    assert r.status[1] != 0 and r.reason[1] in {"nan", "negative_area", "cfl", "junction_not_converged"}
    assert r.reason[2] == "invalid_parameters"  # LVET longer than the beat
    alone = simulate({"sv": [60.0], "lvet": [280.0]}, **FAST)
    torch.testing.assert_close(r.waveforms["carotid"]["P"][0], alone.waveforms["carotid"]["P"][0])


def test_unknown_parameter_or_site_is_rejected():
    with pytest.raises(NetworkError, match="unknown parameter"):
        simulate({"heart_rate": [70.0]}, **FAST)
    with pytest.raises(NetworkError, match="unknown site"):
        simulate({"hr": [70.0]}, **{**FAST, "sites": ("nowhere",)})


@pytest.mark.gpu
def test_cpu_and_cuda_agree():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    params = {"hr": [65.0, 80.0], "pvc_scale": [0.8, 1.2]}
    cpu = simulate(params, dtype=torch.float64, **FAST)
    gpu = simulate(params, dtype=torch.float64, device="cuda", **FAST)
    for site in FAST["sites"]:
        torch.testing.assert_close(gpu.waveforms[site]["P"].cpu(), cpu.waveforms[site]["P"], rtol=1e-9, atol=1e-6)
    assert gpu.reason == cpu.reason
