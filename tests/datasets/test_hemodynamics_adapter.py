"""The 1D-simulator adapter against the SimulationResult layout of simulators.hemodynamics.

A stand-in ``simulate`` returns WK3 beats laid out like the 1D solver's output (common time
grid, shorter beats continued periodically, a terminal and a non-terminal site), so the
adapter's beat cutting, volume-PPG branches and failure handling are checked exactly and fast.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from cardiosbi.datasets import simulation
from cardiosbi.datasets.simulation import HemodynamicsSimulator, SimulatorConfig
from cardiosbi.errors import ConfigError
from simulators import windkessel
from simulators.hemodynamics import NetworkError
from simulators.hemodynamics.errors import NoValidSubjectError
from simulators.ppg import volume_ppg

FS = 500.0


def _radial_pressure(wk):
    """A distal, amplified pressure, so the resistor branch differs from the stored volume."""
    return (1.3 * wk.waveforms["aortic_root"]["P"] - 0.3 * 33.2 * 133.322
            + 2e3 * torch.sin(2 * torch.pi * wk.phase))


def _fake_simulate(params, network, sites, fs, n_beats, device, dtype, dx, max_cycles, compile,
                   viscoelastic):
    hr = torch.as_tensor(params["hr"], dtype=torch.float64)
    wk = windkessel.simulate({"hr": hr}, n_phase=2000)
    period = wk.period
    t = torch.arange(int(round(float(period.max()) * fs)), dtype=torch.float64) / fs
    phase = torch.remainder(t[None, :], period[:, None]) / period[:, None]

    def on_grid(beat):  # periodic continuation on the common grid, like the solver's output
        index = (phase * beat.shape[1]).long() % beat.shape[1]
        return torch.gather(beat, 1, index)

    root = wk.waveforms["aortic_root"]
    digital = {k: on_grid(v) for k, v in root.items()}
    radial = {"P": on_grid(_radial_pressure(wk)), "Q": on_grid(root["Q"])}
    labels = {"hr": hr, "sv": wk.labels["sv"], "map_radial": wk.labels["map"]}
    status = torch.tensor([0 if h < 200 else 6 for h in hr.tolist()])
    reason = ["" if s == 0 else "invalid_parameters" for s in status.tolist()]
    return SimpleNamespace(
        fs=fs, t=t, waveforms={"radial": radial, "digital": digital},
        site_info={"radial": {"terminal": False},
                   "digital": {"terminal": True, "p_out": torch.full_like(hr, 33.2 * 133.322)}},
        labels=labels, status=status, reason=reason, root=wk)


@pytest.fixture
def adapter(monkeypatch):
    sim = HemodynamicsSimulator(SimulatorConfig(name="hemodynamics", n_phase=400,
                                                channels=["radial/P", "radial/PPG", "digital/PPG"]), "cpu")
    calls = []
    sim._simulate = lambda *a, **k: calls.append(k) or _fake_simulate(*a, **k)
    sim.calls = calls
    return sim


def test_each_subject_gets_exactly_its_own_beat(adapter):
    out = adapter.run({"hr": np.array([60.0, 95.0]), "p_out": np.array([33.2, 33.2])})
    np.testing.assert_allclose(out.period, [1.0, 60 / 95])
    wk = windkessel.simulate({"hr": torch.tensor([60.0, 95.0])}, n_phase=400)
    expected = _radial_pressure(wk).numpy() / 133.322
    # cut from the 500-Hz grid and resampled to 400 phases: within interpolation error
    np.testing.assert_allclose(out.beats["radial/P"], expected, rtol=2e-3)


def test_ppg_branches_follow_the_site_kind(adapter):
    out = adapter.run({"hr": np.array([70.0]), "p_out": np.array([33.2])})
    wk = windkessel.simulate({"hr": torch.tensor([70.0])}, n_phase=400)
    root = wk.waveforms["aortic_root"]
    dt = wk.period / 400
    terminal, _ = volume_ppg({"Q": root["Q"], "Q_out": root["Q_out"]}, dt)
    resistor, _ = volume_ppg({"Q": root["Q"], "P": _radial_pressure(wk)}, dt, 33.2 * 133.322)
    np.testing.assert_allclose(out.beats["digital/PPG"][0], terminal[0].numpy(), atol=1e-2)
    np.testing.assert_allclose(out.beats["radial/PPG"][0], resistor[0].numpy(), atol=1e-2)
    assert np.abs(out.beats["radial/PPG"][0] - terminal[0].numpy()).max() > 0.05


def test_failed_subjects_stay_nan_and_flagged(adapter):
    out = adapter.run({"hr": np.array([70.0, 250.0])})
    assert out.status.tolist() == [0, 6] and out.reason[1] == "invalid_parameters"
    assert np.isfinite(out.beats["radial/P"][0]).all() and np.isnan(out.beats["radial/P"][1]).all()


def test_a_batch_without_any_valid_subject_is_all_failed(adapter):
    def raises(*_a, **_k):
        raise NoValidSubjectError("no subject has valid parameters")

    adapter._simulate = raises
    out = adapter.run({"hr": np.array([70.0, 80.0])})
    assert out.status.tolist() == [1, 1] and np.isnan(out.beats["digital/PPG"]).all()


def test_a_network_error_is_a_config_error_not_a_sample_failure(adapter):
    def raises(*_a, **_k):
        raise NetworkError("network not found: nope")

    adapter._simulate = raises
    with pytest.raises(ConfigError, match="network not found"):
        adapter.run({"hr": np.array([70.0, 80.0])})


def test_batches_are_concatenated_in_order():
    a = simulation.Beats({"s/P": np.zeros((2, 3))}, np.ones(2), {"hr": np.array([1.0, 2.0])},
                         np.zeros(2, dtype=int), ["", ""])
    b = simulation.Beats({"s/P": np.ones((1, 3))}, np.ones(1), {}, np.ones(1, dtype=int), ["x"])
    both = simulation.concat([a, b])
    assert both.beats["s/P"].shape == (3, 3) and both.reason == ["", "", "x"]
    assert np.isnan(both.labels["hr"][2])


def test_simulate_stops_with_a_reason_when_no_candidate_succeeds(tmp_path, monkeypatch, capsys):
    from cardiosbi.cli.main import run

    monkeypatch.chdir(tmp_path)
    # the adult prior draws k3, which only the PWDB network accepts: every candidate fails
    assert run(["simulate", "simulator.network=adan56", "n=2", "device=cpu", "out=bad"]) == 2
    assert "all 2 candidates of round 1 failed (invalid_parameters" in capsys.readouterr().err


def test_solver_compilation_follows_the_config(adapter):
    adapter.run({"hr": np.array([70.0]), "p_out": np.array([33.2])})
    assert adapter.calls[-1]["compile"] is True  # default, on the CPU too
    adapter.config.compile = False
    adapter.run({"hr": np.array([70.0]), "p_out": np.array([33.2])})
    assert adapter.calls[-1]["compile"] is False


def test_viscoelastic_wall_follows_the_config(adapter):
    adapter.run({"hr": np.array([70.0]), "p_out": np.array([33.2])})
    assert adapter.calls[-1]["viscoelastic"] is False
    adapter.config.viscoelastic = True
    adapter.run({"hr": np.array([70.0]), "p_out": np.array([33.2])})
    assert adapter.calls[-1]["viscoelastic"] is True
