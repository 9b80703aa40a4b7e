"""Building blocks: normalisation, resampling, lag estimation, heart rate from beats."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cardiosbi.errors import ConfigError
from cardiosbi.signals import beats_rate, normalize_window, signal_resample, signals_lag


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, (3, 2, 64), elements=st.floats(-1e4, 1e4)))
def test_normalize_window_is_a_per_channel_zscore(x):
    out, mean, std = normalize_window(x, return_stats=True)
    assert out.dtype == np.float32 and out.shape == x.shape and np.isfinite(out).all()
    np.testing.assert_allclose(mean, x.mean(axis=-1))
    flat = std < 1e-6
    assert np.all(out[flat] == 0.0)
    np.testing.assert_allclose(out.std(axis=-1)[~flat], 1.0, atol=1e-3)


def test_resample_keeps_a_sine_and_its_gaps():
    fs_in, fs_out, f = 250.0, 125.0, 1.3
    t = np.arange(int(20 * fs_in)) / fs_in
    x = np.sin(2 * np.pi * f * t)
    x[1000:1100] = np.nan
    y = signal_resample(x, fs_in, fs_out)
    assert y.size == int(20 * fs_out)
    t_out = np.arange(y.size) / fs_out
    good = np.isfinite(y)
    assert np.isnan(y[500:550]).all() and good.sum() == y.size - 50
    interior = good & (t_out > 1) & (t_out < 19)
    np.testing.assert_allclose(y[interior], np.sin(2 * np.pi * f * t_out[interior]), atol=0.02)
    with pytest.raises(ConfigError, match="sampling_rate"):
        signal_resample(x, 0.0, 125.0)


def test_lag_recovers_a_known_delay_within_range():
    fs = 125.0
    rng = np.random.default_rng(1)
    base = np.convolve(rng.normal(size=2000), np.ones(15) / 15, mode="same")
    delayed = np.roll(base, 20)
    lag, corr = signals_lag(base[100:1100], delayed[100:1100], fs, max_lag_s=1.0)
    assert lag == pytest.approx(20 / fs) and corr > 0.95
    lag, _corr = signals_lag(base[100:1100], np.roll(base, -40)[100:1100], fs, max_lag_s=0.2)
    assert abs(lag) <= 0.2  # the true lag (-0.32 s) lies outside the search range
    assert np.isnan(signals_lag(np.zeros(100), base[:100], fs)[0])


def test_beats_rate_ignores_a_missed_beat():
    times = np.arange(0, 8, 0.75)
    assert beats_rate(times) == pytest.approx(80.0)
    assert beats_rate(np.delete(times, 4)) == pytest.approx(80.0)
    assert np.isnan(beats_rate(np.array([1.0])))
