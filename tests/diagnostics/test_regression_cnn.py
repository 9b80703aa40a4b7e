"""Regression-CNN baseline: architecture, learning on FitzHugh–Nagumo, save/load, bad rows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cardiosbi.baselines import (
    RegressionCNN,
    RegressionCNNConfig,
    load_regression_cnn,
    train_regression_cnn,
)
from cardiosbi.diagnostics.accuracy import point_metrics
from cardiosbi.errors import ConfigError
from simulators import fhn


def test_architecture_matches_the_published_cnn():
    model = RegressionCNN(1, 200, 2, RegressionCNNConfig())
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv1d)]
    dense = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [c.out_channels for c in convs] == [8, 16, 32]
    assert [d.out_features for d in dense] == [32, 32, 2]
    assert model(torch.zeros(5, 1, 200)).shape == (5, 2)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    theta = fhn.sample_prior(900, rng)
    x = fhn.simulate(theta, rng)
    x[0, 5] = np.nan  # a failed simulation must be dropped, not trained on
    config = RegressionCNNConfig(max_epochs=40, patience=8, batch_size=32, seed=1)
    return train_regression_cnn(theta[:800], x[:800], list(fhn.PARAMETERS), config), theta[800:], x[800:]


def test_cnn_learns_the_fhn_inverse_map(trained):
    estimator, theta_test, x_test = trained
    metrics = point_metrics(estimator.predict(x_test).numpy(), theta_test)
    # Far better than predicting the prior mean (R² = 0); the full study is in experiments/fhn/study.py.
    assert np.all(metrics["r2"] > 0.95), metrics
    assert estimator.training["rows_dropped"] == 1


def test_save_load_round_trip(trained, tmp_path):
    estimator, _, x_test = trained
    estimator.save(tmp_path / "cnn.pt")
    again = load_regression_cnn(tmp_path / "cnn.pt")
    assert torch.equal(again.predict(x_test), estimator.predict(x_test))
    assert again.parameter_names == ["theta0", "theta1"]


def test_too_few_rows_and_bad_shapes_are_user_errors():
    with pytest.raises(ConfigError, match="at least 10"):
        train_regression_cnn(np.zeros((5, 2)), np.zeros((5, 64)), ["a", "b"])
    with pytest.raises(ConfigError, match="shape"):
        train_regression_cnn(np.zeros((20, 2)), np.zeros((20, 1, 1, 64)), ["a", "b"])
