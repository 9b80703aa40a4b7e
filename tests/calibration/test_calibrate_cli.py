"""`cardiosbi calibrate` with fine-tuning (the default path) on windows from a simulated store."""

from __future__ import annotations

import json
import shutil

import numpy as np
import torch

from cardiosbi.calibration import RopePosterior
from cardiosbi.cli.main import run
from cardiosbi.datasets.reader import data_module_from_config
from cardiosbi.default_models import calibration_advice, default_model_path
from cardiosbi.inference import load_posterior


def _write_pairs(path, theta, x, module):
    np.savez(path, theta=theta.numpy(), x=x.numpy(), names=np.array(module.parameter_names),
             low=module.low.numpy(), high=module.high.numpy())


def test_calibrate_fine_tunes_and_writes_a_rope_posterior(tmp_path, monkeypatch, repo_root):
    monkeypatch.chdir(tmp_path)
    assert run(["simulate", "simulator=windkessel", "out=sim", "n=80", "shard_size=40",
                "plots=false"]) == 0
    module = data_module_from_config({"source": "zarr", "path": "sim", "parameters": ["hr", "sv"]})
    theta_ref, x_ref = module.normalization_sample()
    theta_cal, x_cal = module.validation_tensors()
    generator = torch.Generator().manual_seed(0)
    x_cal = x_cal + 0.3 * torch.randn(x_cal.shape, generator=generator)  # a "real" sensor
    _write_pairs("reference.npz", theta_ref, x_ref, module)
    _write_pairs("calibration.npz", theta_cal, x_cal, module)
    posterior = repo_root / "tests/data/infer/hr_sv_windkessel_posterior.pt"
    assert run(["calibrate", f"posterior={posterior}", "calibration=calibration.npz",
                "reference=reference.npz", "rope.fine_tuning.max_steps=5",
                "rope.fine_tuning.val_every_steps=5", "rope.fine_tuning.batch_size=4",
                "rope.mode=single", "--out", "cal"]) == 0
    rope = load_posterior(tmp_path / "cal" / "posterior.pt")
    assert isinstance(rope, RopePosterior)
    assert rope.input_spec == load_posterior(posterior).input_spec  # `infer` can use it
    draws = rope.sample((7,), x=x_cal[:3], generator=generator)
    assert draws.shape == (7, 3, 2) and torch.isfinite(draws).all()
    # the calibrated file is accepted by `cardiosbi infer` like any posterior
    record = repo_root / "tests/data/real/041s/041s.hea"
    assert run(["infer", str(record), "posterior=cal/posterior.pt", "n_samples=20",
                "--out", "inf"]) == 0
    assert (tmp_path / "inf" / "estimates" / "041s.csv").exists()


def test_calibrate_accepts_labels_for_some_parameters(tmp_path, repo_root):
    """Real recordings are labelled for a few quantities: θ0 only here, θ1 stays a nuisance."""
    data = dict(np.load(repo_root / "tests/data/calibration/calibration.npz"))
    np.savez(tmp_path / "theta0.npz", theta=data["theta"][:, :1], x=data["x"],
             names=data["names"][:1], low=data["low"][:1], high=data["high"][:1])
    np.savez(tmp_path / "unknown.npz", theta=data["theta"][:, :1], x=data["x"],
             names=np.array(["sv"]), low=data["low"][:1], high=data["high"][:1])
    common = [f"posterior={repo_root}/tests/data/diagnostics/linear_gaussian_posterior.pt",
              f"reference={repo_root}/tests/data/calibration/reference.npz",
              "rope.fine_tune=false", "rope.gamma_grid=[0.1,1.0]"]  # identity embedding
    assert run(["calibrate", f"calibration={tmp_path}/theta0.npz", *common,
                "--out", str(tmp_path / "cal")]) == 0
    rope = load_posterior(tmp_path / "cal" / "posterior.pt")
    assert isinstance(rope, RopePosterior) and rope.transport.gamma in (0.1, 1.0)
    assert rope.num_parameters == 2  # the calibrated posterior still covers every parameter
    # reject thresholds come from the held-out calibration windows, not the uncalibrated model
    summary = json.loads((tmp_path / "cal" / "calibration.json").read_text())
    assert "held-out calibration windows" in summary["reject_thresholds_from"]
    assert list(summary["reject_width90"]) == rope.parameter_names
    table = rope.summarize(torch.from_numpy(data["x"]).float(), levels=(0.9,), n=300,
                           generator=torch.Generator().manual_seed(1))
    too_wide = table["reject_reason"].str.contains("interval too wide")
    assert 0.0 < too_wide.mean() < 0.2  # about 5 % by construction, never nearly all
    assert run(["calibrate", f"calibration={tmp_path}/unknown.npz", *common,
                "--out", str(tmp_path / "bad")]) == 2


def test_calibrate_from_labelled_recordings(tmp_path, monkeypatch, repo_root):
    """Monitor recordings as the calibration set: HR labels from their ECG, nothing else to do."""
    monkeypatch.chdir(tmp_path)
    assert run(["simulate", "simulator=windkessel", "out=sim", "n=60", "shard_size=60",
                "plots=false"]) == 0
    module = data_module_from_config({"source": "zarr", "path": "sim", "parameters": ["hr", "sv"]})
    _write_pairs("reference.npz", *module.normalization_sample(), module)
    posterior = repo_root / "tests/data/infer/hr_sv_windkessel_posterior.pt"
    common = [f"posterior={posterior}", "reference=reference.npz", "until_s=100",
              "rope.fine_tuning.max_steps=5", "rope.fine_tuning.val_every_steps=5"]
    assert run(["calibrate", f"calibration={repo_root}/tests/data/real/v292s.hea", *common,
                "--out", "cal"]) == 0
    rope = load_posterior(tmp_path / "cal" / "posterior.pt")
    assert isinstance(rope, RopePosterior) and rope.parameter_names == ["hr", "sv"]
    assert run(["calibrate", f"calibration={tmp_path}/absent_folder", *common,
                "--out", "bad"]) == 2


def test_calibrate_a_shipped_model_on_recordings_with_its_shipped_references(tmp_path, repo_root):
    """The clinician's path: no simulator, no tensor files — recordings in, posterior out."""
    record = repo_root / "tests/data/real/v292s.hea"
    assert run(["calibrate", "posterior=ppg", f"calibration={record}", "until_s=150",
                "rope.transport.tau=0.5", "rope.fine_tuning.max_steps=5",
                "rope.fine_tuning.val_every_steps=5", "--out", str(tmp_path / "cal")]) == 0
    rope = load_posterior(tmp_path / "cal" / "posterior.pt")
    assert isinstance(rope, RopePosterior) and rope.reference_embeddings.shape == (4096, 64)
    assert run(["infer", str(record), f"posterior={tmp_path}/cal/posterior.pt",
                "n_samples=20", "--out", str(tmp_path / "inf")]) == 0
    estimates = tmp_path / "inf" / "estimates" / "v292s.csv"
    assert estimates.exists() and "map_radial" in estimates.read_text()
    own = repo_root / "tests/data/infer/hr_sv_windkessel_posterior.pt"
    assert run(["calibrate", f"posterior={own}", f"calibration={record}",
                "--out", str(tmp_path / "bad")]) == 2  # no shipped references for it


def test_the_card_advises_against_calibrating_apw_even_for_a_copy(tmp_path):
    assert "advises against calibrating apw" in calibration_advice(default_model_path("apw"))
    copy = shutil.copy(default_model_path("apw"), tmp_path / "mine.pt")
    assert calibration_advice(copy) == calibration_advice(default_model_path("apw"))
    assert calibration_advice(default_model_path("ppg")) == ""
