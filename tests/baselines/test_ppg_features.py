"""PPG morphology features and the gradient-boosted regressor (cardiosbi.baselines.ppg_features)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cardiosbi.baselines import (
    FEATURES,
    GBRConfig,
    PPGFeatureRegressor,
    ppg_feature_table,
    ppg_features,
)
from cardiosbi.errors import ConfigError, SignalError

FS = 125.0


def ppg_window(hr: float, width: float = 0.06, seconds: float = 8.0, offset: float = 0.1
               ) -> np.ndarray:
    """A synthetic PPG: per beat a systolic Gaussian (SD ``width`` s, 0.2 s after the beat
    starts) and a diastolic one 0.45 s after it, at 40 % height."""
    t = np.arange(int(seconds * FS)) / FS
    period = 60.0 / hr
    x = np.zeros_like(t)
    for k in range(-1, int(seconds / period) + 2):
        tau = t - k * period - offset
        x += np.exp(-0.5 * ((tau - 0.2) / width) ** 2) + 0.4 * np.exp(-0.5 * ((tau - 0.45) / 0.08) ** 2)
    return x


@pytest.mark.parametrize("hr", [45.0, 60.0, 90.0, 110.0])
def test_heart_rate_is_the_beat_rate(hr):
    assert ppg_features(ppg_window(hr), FS)["hr"] == pytest.approx(hr, abs=1.0)


def test_pulse_width_and_rise_follow_the_systolic_wave():
    narrow, wide = (ppg_features(ppg_window(60.0, width), FS) for width in (0.05, 0.08))
    for width, features in ((0.05, narrow), (0.08, wide)):
        # the half-maximum width of a Gaussian is 2.355 SD (filtering widens it slightly)
        assert features["width50"] == pytest.approx(2.355 * width, rel=0.15)
    assert wide["rise_time"] > narrow["rise_time"]
    assert wide["max_upslope"] < narrow["max_upslope"]
    assert narrow["beat_time"] == pytest.approx(1.0, abs=0.01)


def test_features_ignore_the_unit_and_offset_of_the_signal():
    x = ppg_window(72.0)
    a, b = ppg_features(x, FS), ppg_features(250.0 * x - 40.0, FS)
    assert list(a) == list(FEATURES)
    np.testing.assert_allclose([a[k] for k in FEATURES], [b[k] for k in FEATURES], atol=1e-9)


@pytest.mark.parametrize(("window", "message"), [
    (np.full(1000, np.nan), "NaN or infinite"),
    (np.zeros(1000), "flat"),
    (ppg_window(70.0, seconds=2.0), "too short"),
    (np.ones((2, 1000)), "one channel"),
])
def test_unusable_windows_raise_a_clear_signal_error(window, message):
    with pytest.raises(SignalError, match=message):
        ppg_features(window, FS)


def test_table_keeps_failed_windows_with_their_reason():
    table = ppg_feature_table(np.stack([ppg_window(70.0), np.zeros(1000)]), FS)
    assert list(table["window"]) == [0, 1]
    assert table.loc[0, "error"] == "" and np.isfinite(table.loc[0, list(FEATURES)]).all()
    assert "flat" in table.loc[1, "error"] and table.loc[1, list(FEATURES)].isna().all()


def synthetic_set(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Windows of random HR and systolic width; target = 1000 × width + N(0, 5) noise."""
    rng = np.random.default_rng(seed)
    hr, width = rng.uniform(50, 110, n), rng.uniform(0.04, 0.09, n)
    features = ppg_feature_table(np.stack([ppg_window(h, w, offset=rng.uniform(0, 0.5))
                                           for h, w in zip(hr, width, strict=True)]), FS)
    labels = pd.DataFrame({"hr": hr, "width_ms": 1000 * width + rng.normal(0, 5, n)})
    return features, labels


def test_regressor_learns_and_its_quantile_interval_covers():
    train_x, train_y = synthetic_set(300, 0)
    test_x, test_y = synthetic_set(200, 1)
    regressor = PPGFeatureRegressor(["hr", "width_ms"], GBRConfig(max_iter=150)).fit(train_x, train_y)
    rows = regressor.predict(test_x)
    assert set(rows["method"]) == {"ppg_gbr", "ppg_gbr_quantile"}
    for (method, target), g in rows.groupby(["method", "parameter"]):
        truth = test_y[target].to_numpy()[g["window"]]
        error = np.abs(g["median"].to_numpy() - truth)
        population = np.abs(train_y[target].mean() - truth).mean()
        assert error.mean() < 0.35 * population, (method, target)
    quantile = rows[(rows["method"] == "ppg_gbr_quantile") & (rows["parameter"] == "width_ms")]
    truth = test_y["width_ms"].to_numpy()[quantile["window"]]
    below, above = (truth < quantile["ci90_low"]).mean(), (truth > quantile["ci90_high"]).mean()
    # boosted quantiles are not calibrated: nominal 5 % per tail, 15 % each here and 0.73-0.77
    # coverage on the held-out simulations; with 200 windows a tail's binomial SD is <= 0.03
    assert 0.0 < below < 0.25 and 0.0 < above < 0.25
    width = (quantile["ci90_high"] - quantile["ci90_low"]).median()
    assert width < 0.6 * np.subtract(*np.quantile(train_y["width_ms"], [0.95, 0.05]))
    assert (quantile["ci90_low"] <= quantile["ci90_high"]).all()
    assert rows.loc[rows["method"] == "ppg_gbr", "ci90_low"].isna().all()


def test_regressor_predicts_nan_for_failed_windows_and_checks_its_inputs():
    train_x, train_y = synthetic_set(60, 2)
    regressor = PPGFeatureRegressor(["hr"], GBRConfig(max_iter=10, min_samples_leaf=5))
    with pytest.raises(ConfigError, match="call fit first"):
        regressor.predict(train_x)
    with pytest.raises(ConfigError, match="no label column"):
        PPGFeatureRegressor(["sv"]).fit(train_x, train_y)
    with pytest.raises(ConfigError, match="quantiles"):
        PPGFeatureRegressor(["hr"], GBRConfig(quantiles=(0.5, 0.95)))
    regressor.fit(train_x, train_y)
    rows = regressor.predict(ppg_feature_table(np.stack([ppg_window(80.0), np.zeros(1000)]), FS))
    assert rows.loc[rows["window"] == 1, "median"].isna().all()
    point = rows[(rows["window"] == 0) & (rows["method"] == "ppg_gbr")]["median"].item()
    assert point == pytest.approx(80.0, abs=5.0)
