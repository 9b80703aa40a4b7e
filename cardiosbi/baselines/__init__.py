"""Baselines that our posteriors are compared against: point-estimate inverse maps on
simulations, a supervised regressor on real labels, and the classical methods clinicians use —
pulse-contour stroke volume from arterial pressure (Liljestrand–Zander, systolic area,
Windkessel) and PPG morphology features with gradient-boosted regressors."""

from cardiosbi.baselines.ppg_features import (
    FEATURES,
    GBRConfig,
    PPGFeatureRegressor,
    ppg_feature_table,
    ppg_features,
)
from cardiosbi.baselines.pulse_contour import (
    POPULATION_SCALE,
    SV_METHODS,
    PulseBeats,
    PulseContour,
    abp_pulse_beats,
    abp_stroke_volume,
    abp_stroke_volume_index,
    abp_windkessel_tau,
)
from cardiosbi.baselines.regression_cnn import (
    RegressionCNN,
    RegressionCNNConfig,
    RegressionEstimator,
    load_regression_cnn,
    train_regression_cnn,
)
from cardiosbi.baselines.supervised import SupervisedConfig, SupervisedRegressor, train_supervised

__all__ = ["FEATURES", "POPULATION_SCALE", "SV_METHODS", "GBRConfig", "PPGFeatureRegressor", "PulseBeats",
           "PulseContour", "RegressionCNN", "RegressionCNNConfig", "RegressionEstimator",
           "SupervisedConfig", "SupervisedRegressor", "abp_pulse_beats", "abp_stroke_volume",
           "abp_stroke_volume_index", "abp_windkessel_tau", "load_regression_cnn",
           "ppg_feature_table", "ppg_features", "train_regression_cnn", "train_supervised"]
