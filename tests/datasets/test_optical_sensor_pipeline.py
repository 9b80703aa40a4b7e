"""`cardiosbi simulate prior=wearable` with a multi-wavelength sensor, then `cardiosbi train`:
posteriors over optical and physiological parameters through the ordinary path."""

from __future__ import annotations

from cardiosbi.cli.main import run
from cardiosbi.inference import load_posterior


def test_simulate_a_wearable_sensor_then_train_on_optical_and_physiological_targets(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    channels = "simulator.channels=[aortic_root/660nm/OPPG,aortic_root/940nm/OPPG]"
    assert run(["simulate", "simulator=windkessel", "prior=wearable", channels, "out=sim", "n=60",
                "shard_size=30", "measurement.window_s=2", "plots=false"]) == 0
    targets = "data.parameters=[hr,spo2,melanin,sensor_distance,spo2_ratio]"
    assert run(["train", "data=zarr", "data.path=sim", targets, "trainer.max_epochs=1",
                "trainer.reject_calibration_samples=20", "--out", "trained"]) == 0
    posterior = load_posterior(tmp_path / "trained" / "posterior.pt")
    assert posterior.parameter_names == ["hr", "spo2", "melanin", "sensor_distance", "spo2_ratio"]
    assert posterior.units[posterior.parameter_names.index("sensor_distance")] == "mm"
    assert posterior.input_spec["channels"] == ["aortic_root/660nm/OPPG", "aortic_root/940nm/OPPG"]
