"""Lost samples (simulators/measurement/gaps.py): exact fractions, detection, and the effect in
the measurement model that lets a store teach a masked posterior what a gap is."""

from __future__ import annotations

import numpy as np
import pytest

from simulators.measurement import MeasurementConfig, MeasurementModel
from simulators.measurement.gaps import detect_missing, gap_mask, lose_samples, with_gaps


def stretches(mask: np.ndarray) -> list[int]:
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(int), [0]])))
    return list(edges[1::2] - edges[::2])


def pulse_wave(n: int = 500, fs: float = 62.5, seed: int = 2) -> np.ndarray:
    t = np.arange(n) / fs
    return 90 + 20 * np.sin(2 * np.pi * 1.2 * t) + np.random.default_rng(seed).normal(0, 0.5, n)


@pytest.mark.parametrize("fraction", [0.0, 0.02, 0.05, 0.1, 0.2, 0.3])
def test_gap_mask_has_the_exact_fraction_in_few_long_stretches(fraction):
    rng = np.random.default_rng(0)
    for _ in range(200):
        mask = gap_mask(500, fraction, rng, max_stretches=3, min_stretch=16)
        assert mask.sum() == round(fraction * 500)
        runs = stretches(mask)
        assert len(runs) <= 3
        if fraction * 500 >= 16:
            assert min(runs) >= 16 or len(runs) == 1


def test_gap_positions_cover_the_whole_window():
    rng = np.random.default_rng(1)
    hits = sum(gap_mask(500, 0.1, rng, 3, 16).astype(int) for _ in range(2000)) / 2000
    # away from the edges every position is about equally likely to be missing; the first and
    # last samples are hit less often (a stretch must fit inside the window) but not never
    # (5 binomial standard errors, 0.0067 each, around 0.1 for 300 positions)
    assert hits[100:400].min() > 0.066 and hits[100:400].max() < 0.134
    assert hits[0] > 0 and hits[-1] > 0 and hits.mean() == pytest.approx(0.1)


def test_clipped_stretch_is_detected_and_a_natural_peak_is_not():
    x = pulse_wave()
    assert not detect_missing(x, min_run=6).any()
    mask = np.zeros(500, dtype=bool)
    mask[100:140] = True
    assert np.array_equal(detect_missing(with_gaps(x, mask, "clipped"), min_run=6), mask)
    assert np.array_equal(detect_missing(with_gaps(x, mask, "dropout"), min_run=6), mask)
    with pytest.raises(ValueError, match="dropout, clipped"):
        with_gaps(x, mask, "flatline")


@pytest.mark.parametrize("pattern", ["dropout", "clipped"])
def test_lost_samples_are_nan_exactly_where_they_were_lost(pattern):
    rng = np.random.default_rng(3)
    x = pulse_wave()
    out = lose_samples(x, 0.1, pattern, rng, max_stretches=2, min_stretch=16, min_clip_run=6)
    assert np.isnan(out).sum() == 50
    kept = ~np.isnan(out)
    np.testing.assert_array_equal(out[kept], x[kept])


def gap_config(**gaps) -> MeasurementConfig:
    cfg = MeasurementConfig(random_start=False)
    for name in ("hrv", "respiration", "wander", "noise", "motion", "bandpass", "quantization"):
        getattr(cfg, name).enabled = False
    cfg.gaps.enabled = True
    for key, value in gaps.items():
        setattr(cfg.gaps, key, value)
    return cfg


def test_measurement_gaps_hit_the_configured_share_of_windows_with_drawn_fractions():
    beat = 80 + 40 * np.exp(-((np.arange(512) / 512 - 0.2) / 0.08) ** 2)
    n = 400
    out = MeasurementModel(gap_config(probability=0.5, fraction=[0.05, 0.3])).apply(
        {"radial/P": np.stack([beat] * n)}, np.full(n, 0.8), list(range(n)))
    lost = np.isnan(out.windows["radial/P"]).mean(axis=1)
    gapped = lost > 0
    # a binomial(400, 0.5) share: 5 standard errors are 0.125
    assert abs(gapped.mean() - 0.5) < 0.125
    assert lost[gapped].min() >= 0.04 and lost[gapped].max() <= 0.31
    np.testing.assert_allclose(out.nuisance["gap_fraction_radial_P"], lost, atol=1e-6)
    assert not np.isinf(out.windows["radial/P"]).any()


def test_gaps_are_off_by_default_and_bad_settings_name_the_key():
    beat = np.sin(np.linspace(0, 2 * np.pi, 256)) + 2
    out = MeasurementModel().apply({"radial/P": beat[None]}, np.array([0.8]), [0])
    assert np.isfinite(out.windows["radial/P"]).all() and "gap_fraction_radial_P" not in out.nuisance
    with pytest.raises(ValueError, match="measurement.gaps.patterns"):
        MeasurementModel(gap_config(patterns=["flatline"]))
    with pytest.raises(ValueError, match="measurement.gaps.fraction"):
        MeasurementModel(gap_config(fraction=[0.2, 1.0]))
