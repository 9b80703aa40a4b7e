"""Baselines that our posteriors are compared against: point-estimate inverse maps on
simulations, and a supervised regressor on real labels."""

from cardiosbi.baselines.regression_cnn import (
    RegressionCNN,
    RegressionCNNConfig,
    RegressionEstimator,
    load_regression_cnn,
    train_regression_cnn,
)
from cardiosbi.baselines.supervised import SupervisedConfig, SupervisedRegressor, train_supervised

__all__ = ["RegressionCNN", "RegressionCNNConfig", "RegressionEstimator", "SupervisedConfig",
           "SupervisedRegressor", "load_regression_cnn", "train_regression_cnn",
           "train_supervised"]
