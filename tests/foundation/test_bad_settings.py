"""Settings that cannot work end the command with exit code 2 and one line, before any work."""

from __future__ import annotations

import pytest

from cardiosbi.cli.main import run

POSTERIOR = "posterior={repo}/tests/data/diagnostics/linear_gaussian_posterior.pt"

CASES = [
    (["simulate", "simulator=windkessel", "n=4", "measurement.window_s=0"], "window_s must be positive"),
    (["simulate", "simulator=windkessel", "n=4", "device=gpu"], "unknown device 'gpu'"),
    (["simulate", "simulator.network=nope", "n=1", "device=cpu"], "network not found: nope"),
    (["train", "trainer.batch_size=0"], "trainer.batch_size must be >= 1"),
    (["train", "data.num_simulations=0"], "data.num_simulations must be >= 1"),
    (["evaluate", POSTERIOR, "diagnostics.batch_size=0"], "batch_size and ppc_replicates"),
    (["preprocess", "{repo}/tests/data/real/041s/041s.hea", "window.ppg_method=foo"],
     "window.ppg_method='foo' is unknown"),
    (["run-network", "{repo}/simulators/hemodynamics/networks/cca.yaml", "--cycles", "0"],
     "max_cycles (--cycles) must be >= 1"),
    (["train", "trainer.learning_rate=-1"], "trainer.learning_rate must be > 0"),
    (["infer", "{repo}/tests/data/real/041s/041s.hea", "posterior="], "no posterior given"),
    (["calibrate", "posterior=ppg", "calibration={repo}/tests/data/real/041s/041s.hea",
      "rope.fine_tuning.max_steps=-1"], "rope.fine_tuning.max_steps must be >= 1"),
    (["train-hybrid", "{repo}/tests/data/real/041s/041s.hea", "cvae.latent_dim=-1"],
     "cvae.latent_dim must be >= 0"),
    (["train-hybrid", "{repo}/tests/data/real/041s/041s.hea", "apw_posterior=absent.pt"],
     "posterior file not found"),
]


def test_non_numeric_network_value_exits_2(tmp_path, monkeypatch, capsys, repo_root):
    source = repo_root / "tests/data/hemodynamics/boileau2015/cca"
    (tmp_path / "cca.yaml").write_text((source / "cca.yaml").read_text().replace("R0: 2.6485e-3", "R0: abc"))
    (tmp_path / "cca_inlet.dat").write_text((source / "cca_inlet.dat").read_text())
    monkeypatch.chdir(tmp_path)
    assert run(["run-network", "cca.yaml", "--out", "o"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "could not convert string to float: 'abc'" in err


@pytest.mark.parametrize(("argv", "message"), CASES, ids=lambda v: v[0] if isinstance(v, list) else "")
def test_bad_setting_exits_2_with_one_line(argv, message, tmp_path, monkeypatch, capsys, repo_root):
    monkeypatch.chdir(tmp_path)
    assert run([a.format(repo=repo_root) for a in argv] + ["--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not (tmp_path / "o").exists()  # nothing half-written


def test_report_refuses_a_missing_recordings_folder(tmp_path, capsys, repo_root):
    run_dir = repo_root / "tests/data/report/v136s_run"
    assert run(["report", str(run_dir), "recordings=/nonexistent", "--out",
                str(tmp_path / "r.html")]) == 2
    assert "recordings folder not found" in capsys.readouterr().err
