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
    # the file says how its windows were made, so `cardiosbi infer` can prepare real ones alike
    assert posterior.input_spec == {"channels": ["aortic_root/P", "aortic_root/PPG"],
                                    "sampling_rate": 125.0, "window_s": 2.0, "normalize": "window"}


def test_infer_refuses_a_posterior_without_input_spec(tmp_path, monkeypatch, capsys, repo_root):
    monkeypatch.chdir(tmp_path)
    code = run(["infer", str(repo_root / "tests/data/real/041s/041s.hea"), "--out", "inf",
                f"posterior={repo_root / 'tests/data/diagnostics/linear_gaussian_posterior.pt'}"])
    assert code == 2
    assert "no input spec" in capsys.readouterr().err
