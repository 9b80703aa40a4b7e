"""`cardiosbi simulate` then `cardiosbi train data=zarr`: the store feeds training end to end."""

from __future__ import annotations

from cardiosbi.cli.main import run
from cardiosbi.inference import load_posterior


def test_train_streams_a_simulated_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run(["simulate", "simulator=windkessel", "out=sim", "n=60", "shard_size=30",
                "measurement.window_s=2", "plots=false"]) == 0
    assert run(["train", "data=zarr", "data.path=sim", "trainer.max_epochs=1",
                "trainer.reject_calibration_samples=20", "--out", "trained"]) == 0
    posterior = load_posterior(tmp_path / "trained" / "posterior.pt")
    assert "hr" in posterior.parameter_names and "sv" in posterior.parameter_names
    assert posterior.units[posterior.parameter_names.index("hr")] == "bpm"
