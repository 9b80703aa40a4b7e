"""The supervised baseline on real labels: learns a label the PPG carries, honest intervals."""

from __future__ import annotations

import numpy as np
import pytest

from cardiosbi.baselines import train_supervised
from cardiosbi.baselines.supervised import SupervisedConfig
from cardiosbi.errors import ConfigError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _windows(n, seed):
    """PPG-like windows whose beat rate is the label (bpm); a second label is pure noise."""
    rng = np.random.default_rng(seed)
    hr = rng.uniform(50, 130, n)
    t = np.arange(256) / 32.0
    x = np.sin(2 * np.pi * (hr[:, None] / 60.0) * t + rng.uniform(0, 6, (n, 1)))
    x += 0.1 * rng.normal(size=x.shape)
    x = (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True)
    noise_label = rng.normal(80, 10, n)
    labels = np.stack([hr, noise_label], axis=1).astype(np.float32)
    labels[rng.random(n) < 0.2, 0] = np.nan          # missing ECG in a fifth of the windows
    return x.astype(np.float32), labels


def test_learns_rate_and_gives_the_noise_label_a_wide_calibrated_interval():
    x, y = _windows(600, 0)
    xv, yv = _windows(150, 1)
    config = SupervisedConfig(channels=(8, 16, 16), features=16, max_epochs=25, patience=5)
    model = train_supervised(x, y, ["hr", "noise"], xv, yv, config)
    xt, yt = _windows(300, 2)
    out = model.predict(xt)
    finite = np.isfinite(yt[:, 0])
    hr_error = np.abs(out["mean"][finite, 0] - yt[finite, 0]).mean()
    assert hr_error < 8.0                               # prior MAE would be 20 bpm
    inside = (yt[:, 1] >= out["low90"][:, 1]) & (yt[:, 1] <= out["high90"][:, 1])
    assert 0.8 <= inside.mean() <= 0.97                # unpredictable label: population spread
    assert np.median(out["sd"][:, 1]) == pytest.approx(10.0, rel=0.35)


def test_rejects_labels_of_the_wrong_shape():
    x, y = _windows(50, 0)
    with pytest.raises(ConfigError):
        train_supervised(x, y[:, :1], ["hr", "noise"], x, y)
