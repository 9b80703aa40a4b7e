"""The optical sensor through the 1D-simulator adapter (its stand-in solver, so it is fast):
the same channels and labels as the Windkessel path, and per-subject failures kept apart."""

from __future__ import annotations

import numpy as np

from cardiosbi.datasets.simulation import HemodynamicsSimulator, SimulatorConfig
from tests.datasets.test_hemodynamics_adapter import _fake_simulate

CHANNELS = ["radial/P", "digital/660nm/OPPG", "digital/940nm/OPPG"]


def test_hemodynamics_sensor_channels_labels_and_failure_reasons():
    sim = HemodynamicsSimulator(SimulatorConfig(name="hemodynamics", n_phase=200, channels=CHANNELS), "cpu")
    sim._simulate = _fake_simulate
    params = {"hr": np.array([60.0, 80.0, 210.0, 70.0]), "p_out": np.full(4, 33.2),
              "melanin": np.array([0.02, 0.3, 0.1, 0.1]), "blood_fraction": np.full(4, 0.02),
              "pulsatile_fraction": np.full(4, 0.05), "spo2": np.array([0.98, 0.8, 0.9, 0.9]),
              "dermis_thickness": np.array([1.5, 1.5, 1.5, 0.2])}
    out = sim.run(params)
    # subject 2 fails in the solver (its reason stays), subject 3 in the optics
    assert out.reason == ["", "", "invalid_parameters", "optical_diffusion_layer_thinner_than_transport_mean_free_path"]
    assert out.status.tolist() == [0, 0, 6, 1]  # the solver keeps its own status code
    for channel in CHANNELS[1:]:
        beats = out.beats[channel]
        assert np.isfinite(beats[:2]).all() and np.isnan(beats[2:]).all()
        assert beats[:2].min() == 0.0 and beats[:2].max() == 1.0
    assert set(sim.label_names()) >= {"dc_530", "pi_660", "ac_940", "spo2_ratio", "map_radial"}
    assert out.labels["spo2_ratio"][1] > out.labels["spo2_ratio"][0]  # lower saturation, larger R
    assert np.isnan(out.labels["pi_940"][2:]).all()
