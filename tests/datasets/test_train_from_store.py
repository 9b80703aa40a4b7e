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
    # evaluation reads the store's held-out test split
    assert run(["evaluate", "data=zarr", "data.path=sim", "posterior=trained/posterior.pt",
                "diagnostics.n_samples=20", "diagnostics.joint_hpd_draws=0", "--out", "ev"]) == 0
    assert (tmp_path / "ev" / "summary.csv").exists()


def test_a_tensor_file_with_mismatched_rows_is_a_user_error(tmp_path, monkeypatch, capsys,
                                                             repo_root):
    import numpy as np

    monkeypatch.chdir(tmp_path)
    np.savez("bad.npz", theta=np.zeros((10, 2)), x=np.zeros((60, 2)), names=np.array(["a", "b"]),
             low=np.zeros(3), high=np.ones(2))
    posterior = repo_root / "tests/data/diagnostics/linear_gaussian_posterior.pt"
    assert run(["evaluate", f"posterior={posterior}", "data=tensor_file", "data.path=bad.npz",
                "--out", "ev"]) == 2
    err = capsys.readouterr().err
    assert "x must have N=10 rows" in err and "low must have k=2 entries" in err


def test_infer_refuses_a_posterior_without_input_spec(tmp_path, monkeypatch, capsys, repo_root):
    monkeypatch.chdir(tmp_path)
    code = run(["infer", str(repo_root / "tests/data/real/041s/041s.hea"), "--out", "inf",
                f"posterior={repo_root / 'tests/data/diagnostics/linear_gaussian_posterior.pt'}"])
    assert code == 2
    assert "no input spec" in capsys.readouterr().err


def test_a_store_with_gaps_trains_only_a_masked_posterior_which_then_reads_gaps(tmp_path, monkeypatch,
                                                                               capsys):
    monkeypatch.chdir(tmp_path)
    assert run(["simulate", "simulator=windkessel", "out=sim", "n=60", "shard_size=60",
                "measurement.window_s=2", "measurement=gaps", "plots=false"]) == 0
    common = ["train", "data=zarr", "data.path=sim", "trainer.max_epochs=1",
              "trainer.reject_calibration_samples=20"]
    assert run([*common, "--out", "plain"]) == 2
    assert "model.embedding.missing_mask=true" in capsys.readouterr().err
    assert run([*common, "model.embedding.missing_mask=true", "--out", "masked"]) == 0
    posterior = load_posterior(tmp_path / "masked" / "posterior.pt")
    # about 3 in 4 windows lose samples (measurement.gaps.probability 0.75)
    assert 0.4 < posterior.training["windows_with_gaps"] < 1.0
    assert posterior.reads_gaps


def test_a_mask_channel_without_gaps_in_training_does_not_read_gaps(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run(["simulate", "simulator=windkessel", "out=sim", "n=60", "shard_size=60",
                "measurement.window_s=2", "plots=false"]) == 0
    assert run(["train", "data=zarr", "data.path=sim", "trainer.max_epochs=1",
                "trainer.reject_calibration_samples=20", "model.embedding.missing_mask=true",
                "--out", "masked"]) == 0
    posterior = load_posterior(tmp_path / "masked" / "posterior.pt")
    assert posterior.training["windows_with_gaps"] == 0.0 and not posterior.reads_gaps
