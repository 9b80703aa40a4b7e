"""`cardiosbi train` end to end: tensor files, bad files, DDP on two CPU processes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from cardiosbi.cli.main import run
from cardiosbi.inference import load_posterior
from cardiosbi.inference.tasks import LinearGaussianTask

TINY = ["trainer.max_epochs=2", "trainer.reject_calibration_samples=50"]


def _write(path, task, n=300, status=True):
    theta, x = task.sample_joint(n, torch.Generator().manual_seed(0))
    low, high = task.bounds()
    content = {"theta": theta, "x": x, "names": ["pft", "rfv"], "low": low * 0 + torch.tensor([40.0, 0.0]),
               "high": torch.tensor([200.0, 10.0])}
    content["theta"] = content["low"] + (content["high"] - content["low"]) * (theta + 2) / 4
    if status:
        content["status"] = torch.zeros(n, dtype=torch.int64)
        content["status"][:7] = 2
    if path.suffix == ".npz":
        np.savez(path, **{k: np.asarray(v) for k, v in content.items()})
    else:
        torch.save(content, path)


@pytest.mark.parametrize("suffix", [".pt", ".npz"])
def test_train_from_tensor_file(tmp_path, monkeypatch, suffix, capsys):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / f"sims{suffix}"
    _write(path, LinearGaussianTask(dim=2, prior="uniform", prior_scale=2.0))
    code = run(["train", "--out", str(tmp_path / "out"), "data=tensor_file", f"data.path={path}", *TINY])
    assert code == 0, capsys.readouterr().err
    posterior = load_posterior(tmp_path / "out" / "posterior.pt")
    assert posterior.parameter_names == ["pft", "rfv"] and posterior.units == ["ms", "mL"]
    assert posterior.training["rows_dropped"]["failed_simulation"] == 7


def test_series_data_and_fmpe_from_the_command_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = run(["train", "--out", "o", "model=fmpe", "data.series_length=64", "data.num_simulations=200",
                "model.embedding.kind=tcn", "model.embedding.channels=[4,4]", *TINY])
    assert code == 0
    posterior = load_posterior(tmp_path / "o" / "posterior.pt")
    assert posterior.sample((3,), x=torch.zeros(1, 1, 64)).shape == (3, 1, 2)


@pytest.mark.parametrize(("args", "message"), [
    (["data=tensor_file", "data.path=absent.pt"], "not found"),
    (["data=tensor_file", "data.path=bad.pt"], "cannot read"),
    (["data=tensor_file", "data.path=partial.pt"], "lacks key(s) x, names"),
    (["data.num_simulations=50", "model.estimator.kind=realnvp"], "model.estimator.kind"),
    (["data.num_simulations=50", "model.embedding.kind=tcn"], "does not fit"),
    (["data.num_simulations=50", "trainer.lr_schedule=warp"], "lr_schedule"),
    (["model.embedding.featurez=3"], "featurez"),
    (["device=tpu"], "device"),
])
def test_user_errors_exit_2_with_one_line(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.pt").write_text("not a torch file")
    torch.save({"theta": torch.zeros(3, 1), "low": torch.zeros(1), "high": torch.ones(1)}, tmp_path / "partial.pt")
    assert run(["train", *TINY, *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


@pytest.mark.slow
def test_ddp_trainer_config_on_two_cpu_processes(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "cardiosbi", "train", "--out", str(tmp_path / "ddp"), "trainer=ddp",
         "trainer.accelerator=cpu", "trainer.devices=2", "data.num_simulations=300", *TINY],
        capture_output=True, text=True, cwd=tmp_path, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "GLOBAL_RANK: 1" in result.stderr + result.stdout
    assert load_posterior(tmp_path / "ddp" / "posterior.pt").parameter_names == ["theta0", "theta1"]
