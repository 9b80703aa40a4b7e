"""`cardiosbi evaluate`: diagnostics folder from a posterior file and held-out test data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from cardiosbi.cli.main import run

POSTERIOR = "tests/data/diagnostics/linear_gaussian_posterior.pt"
SMALL = ["diagnostics.n_samples=200", "diagnostics.joint_hpd_draws=20", "diagnostics.ppc_replicates=50"]


def test_evaluate_on_fresh_simulations(tmp_path, repo_root, capsys):
    out = tmp_path / "ev"
    code = run(["evaluate", f"posterior={repo_root / POSTERIOR}", "data.num_simulations=400",
                f"out={out}", *SMALL])
    assert code == 0
    assert "evaluated 400 test cases" in capsys.readouterr().out
    for name in ("summary.csv", "coverage.csv", "sbc_ranks.csv", "tarp.csv", "rejection.csv",
                 "ppc.csv", "coverage.png", "sbc.png", "tarp.png", "rejection.png", "ppc.png",
                 "evaluation.json", "config.yaml"):
        assert (out / name).stat().st_size > 0, name
    summary = pd.read_csv(out / "summary.csv").set_index("parameter")
    # The shipped posterior is a trained NSF on an easy task: near-nominal 90 % coverage
    # (±0.06 ≈ 4 binomial standard errors at 400 cases) and a good fit.
    assert np.all(np.abs(summary.loc[["theta0", "theta1"], "coverage90"] - 0.9) < 0.06)
    assert np.all(summary.loc[["theta0", "theta1"], "r2"] > 0.6)


def test_evaluate_drops_failed_and_broken_rows(tmp_path, repo_root):
    rng = np.random.default_rng(0)
    theta = rng.standard_normal((60, 2))
    x = theta + 0.5 * rng.standard_normal((60, 2))
    status = np.zeros(60, dtype=np.int64)
    status[:3] = 1
    x[10] = np.nan
    path = tmp_path / "test.npz"
    np.savez(path, theta=theta, x=x, names=np.array(["theta0", "theta1"]), low=np.full(2, -np.inf),
             high=np.full(2, np.inf), status=status)
    out = tmp_path / "ev"
    assert run(["evaluate", f"posterior={repo_root / POSTERIOR}", "data=tensor_file",
                f"data.path={path}", f"out={out}", *SMALL]) == 0
    info = json.loads((out / "evaluation.json").read_text())
    assert info["cases"] == 56
    assert info["rows_dropped"] == {"failed_simulation": 3, "theta_not_finite": 0, "x_unusable": 1}
    assert not (out / "ppc.csv").exists()  # a tensor file names no simulator


def test_parameter_mismatch_is_a_one_line_user_error(tmp_path, repo_root, capsys):
    path = tmp_path / "other.pt"
    torch.save({"theta": torch.zeros(5, 3), "x": torch.zeros(5, 3), "names": ["a", "b", "c"],
                "low": torch.full((3,), -1.0), "high": torch.ones(3)}, path)
    code = run(["evaluate", f"posterior={repo_root / POSTERIOR}", "data=tensor_file",
                f"data.path={path}", f"out={tmp_path / 'ev'}"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "differ from the posterior" in err


@pytest.mark.parametrize("override", ["diagnostics.n_samples=1", "diagnostics.bogus=3", "device=tpu"])
def test_bad_settings_exit_2(tmp_path, repo_root, override):
    assert run(["evaluate", f"posterior={repo_root / POSTERIOR}", f"out={tmp_path / 'ev'}", override]) == 2
