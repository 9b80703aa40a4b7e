"""Baselines that our posteriors are compared against (point-estimate inverse maps)."""

from cardiosbi.baselines.regression_cnn import (
    RegressionCNN,
    RegressionCNNConfig,
    RegressionEstimator,
    load_regression_cnn,
    train_regression_cnn,
)

__all__ = ["RegressionCNN", "RegressionCNNConfig", "RegressionEstimator", "load_regression_cnn",
           "train_regression_cnn"]
