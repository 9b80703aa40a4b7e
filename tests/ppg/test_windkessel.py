"""The WK3 lumped model: exact periodic steady state, mass balance, limits with known answers."""

from __future__ import annotations

import math

import torch

from simulators import windkessel


def _params(**overrides):
    base = {"hr": torch.tensor([50.0, 75.0, 140.0]), "sv": torch.tensor([90.0, 70.0, 35.0]),
            "lvet": torch.tensor([330.0, 290.0, 210.0])}
    base.update(overrides)
    return base


def test_inflow_integrates_to_stroke_volume():
    result = windkessel.simulate(_params())
    assert torch.allclose(result.labels["sv"], torch.tensor([90.0, 70.0, 35.0], dtype=torch.float64),
                          rtol=1e-3)


def test_beat_is_periodic_and_mean_pressure_obeys_ohms_law():
    result = windkessel.simulate(_params())
    site = result.waveforms["aortic_root"]
    pc = site["Pc"]
    n = pc.shape[1]
    q, rp = site["Q"], result.site_info["aortic_root"]["R2"]
    tau = rp * result.site_info["aortic_root"]["C"]
    # one more exact step from the last sample must land on the first: periodic steady state
    h = result.period / n
    x_last = pc[:, -1] - 33.2 * windkessel.MMHG
    x_next = windkessel._exact_step(x_last, q[:, -1], q[:, 0], h, tau, rp)
    assert torch.allclose(x_next + 33.2 * windkessel.MMHG, pc[:, 0], rtol=1e-9)
    # mass balance over the beat: mean outflow equals mean inflow
    assert torch.allclose(site["Q_out"].mean(1), q.mean(1), rtol=1e-3)
    # MAP - P_out = CO * (R_c + R_p) = CO * pvr
    mean_flow = q.mean(1)
    expected = 33.2 + mean_flow * windkessel.DEFAULTS["pvr"] / windkessel.MMHG
    assert torch.allclose(result.labels["map"], expected, rtol=1e-3)


def test_svr_label_matches_registry_definition():
    result = windkessel.simulate(_params())
    assert torch.allclose(result.labels["svr"],
                          torch.full((3,), windkessel.DEFAULTS["pvr"] / 1e5, dtype=torch.float64),
                          rtol=1e-3)


def test_large_compliance_flattens_the_pulse_like_rc_theory():
    stiff = windkessel.simulate(_params(pvc_scale=torch.tensor(0.5)))
    soft = windkessel.simulate(_params(pvc_scale=torch.tensor(3.0)))
    assert torch.all(soft.labels["pp"] < stiff.labels["pp"])


def test_diastolic_decay_has_time_constant_rp_c():
    result = windkessel.simulate({"hr": torch.tensor([40.0]), "lvet": torch.tensor([300.0])},
                                 n_phase=1500)
    site, info = result.waveforms["aortic_root"], result.site_info["aortic_root"]
    t = result.phase * result.period[0]
    x = site["Pc"][0] - 33.2 * windkessel.MMHG
    diastole = t > 0.4
    log_x = torch.log(x[diastole])
    tt = t[diastole]
    fitted = -((tt - tt.mean()) * (log_x - log_x.mean())).sum() / ((tt - tt.mean()) ** 2).sum()
    tau = (info["R2"] * info["C"])[0]
    assert math.isclose(1.0 / fitted.item(), tau.item(), rel_tol=1e-6)


def test_invalid_subjects_are_flagged_not_raised():
    result = windkessel.simulate({"hr": torch.tensor([75.0, 200.0, 75.0]),
                                  "lvet": torch.tensor([290.0, 400.0, 290.0]),
                                  "pft": torch.tensor([80.0, 80.0, 300.0])})
    assert result.status.tolist() == [0, 1, 1]
    assert result.reason == ["", "lvet_exceeds_period", "pft_after_lvet"]
    assert torch.isfinite(result.waveforms["aortic_root"]["P"]).all()


def test_characteristic_impedance_is_clamped_below_total_resistance():
    result = windkessel.simulate({"pvr": torch.tensor([1.5e7, 1e8]), "k3": torch.tensor([4e6, 4e6])})
    info = result.site_info["aortic_root"]
    assert torch.all(info["R2"] > 0)
    assert info["rc_clamped"].tolist() == [True, False]
