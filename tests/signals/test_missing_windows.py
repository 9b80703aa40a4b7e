"""Windows with gaps: the 2 % rule with interpolation, and gaps kept for a missing-mask posterior
(through `infer`'s window_config and model_input).

A posterior trained with ``model.embedding.missing_mask`` reads missing samples as NaN, so its
model channels may miss up to ``max_missing_fraction_masked`` (experiments/missing_data); every
other posterior (the shipped models) keeps the 2 % rule and interpolated windows.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from cardiosbi.estimate import estimate_recording, model_input, window_config
from cardiosbi.inference import load_posterior, train_npe
from cardiosbi.io import Channel, load_recording
from cardiosbi.signals import make_windows
from cardiosbi.signals.windows import QualityConfig, WindowConfig, _beat_stats
from tests.conftest import REAL_RECORDS
from tests.inference._tiny import tiny_config, with_gaps

FS_MODEL = 125.0
# window start [s] -> gap (start offset, length) [s] inside it: 4.4 %, 18.75 % and 1.25 % missing
GAPS = {16.0: (3.0, 0.35), 32.0: (2.0, 1.5), 48.0: (5.0, 0.1)}


@pytest.fixture(scope="module")
def clean():
    """The first 80 s of v292s (a clean record: nearly every window accepted)."""
    rec = load_recording(REAL_RECORDS / "v292s")
    for channel in rec.channels.values():
        channel.signal = channel.signal[: 80 * 250]
    return rec


def gapped(rec, kind: str):
    out = copy.deepcopy(rec)
    old = out.channels[kind]
    signal = old.signal.astype(np.float64).copy()
    for start, (offset, length) in GAPS.items():
        i0 = int(round((start + offset) * old.fs))
        signal[i0:i0 + int(round(length * old.fs))] = np.nan
    out.channels[kind] = Channel(kind, signal, old.fs, old.unit, old.raw_name)
    return out


def windows_of(rec, channels, mask: bool):
    config = WindowConfig(channels=channels, sampling_rate=FS_MODEL, normalize=False,
                          quality=QualityConfig(missing_mask=mask))
    return make_windows(rec, config=config)


def row(quality, start: float):
    return quality.loc[quality["start_s"] == start].iloc[0]


@pytest.fixture(scope="module")
def reference(clean):
    """Quality of the gap-free record: which windows pass without gaps."""
    _windows, quality = windows_of(clean, ["abp"], mask=False)
    assert all(row(quality, start)["accepted"] for start in GAPS)
    return quality


def test_defaults_keep_the_two_percent_rule():
    q = QualityConfig()
    assert q.max_missing_fraction == 0.02 and not q.missing_mask
    assert 0.02 < q.max_missing_fraction_masked < 0.5


def test_without_mask_gaps_over_two_percent_reject_and_short_ones_are_interpolated(clean, reference):
    windows, quality = windows_of(gapped(clean, "abp"), ["abp"], mask=False)
    for start in (16.0, 32.0):
        assert "missing:abp" in row(quality, start)["reason"]
    short = row(quality, 48.0)
    assert short["accepted"] and np.isfinite(windows[short["window"]]).all()
    # windows without a gap are judged exactly as in the gap-free record
    others = ~quality["start_s"].isin(list(GAPS))
    assert (quality.loc[others, "accepted"].to_numpy()
            == reference.loc[others, "accepted"].to_numpy()).all()
    assert np.isfinite(windows).all()


def test_with_mask_gaps_up_to_the_limit_reach_the_model_as_nan(clean, reference):
    windows, quality = windows_of(gapped(clean, "abp"), ["abp"], mask=True)
    limit = QualityConfig().max_missing_fraction_masked
    for start, (offset, length) in GAPS.items():
        r = row(quality, start)
        if length / 8.0 > limit:
            assert "missing:abp" in r["reason"] and not r["accepted"]
            continue
        assert r["accepted"], r["reason"]
        window = windows[r["window"]]
        missing = np.flatnonzero(~np.isfinite(window[0])) / FS_MODEL
        # the NaN samples are the gap, at the model rate (one sample of resampling slack)
        assert missing.size == pytest.approx(length * FS_MODEL, abs=2)
        assert missing.min() == pytest.approx(offset, abs=2 / FS_MODEL)
        # the unseen beats in the gap do not make the rhythm look irregular or the rate wrong
        clean_row = row(reference, start)
        assert r["hr_abp"] == pytest.approx(clean_row["hr_abp"], abs=2.0)
        assert r["abp_beat_variability"] <= clean_row["abp_beat_variability"] + 0.02


def test_reference_channel_keeps_the_two_percent_rule_under_a_mask(clean):
    """Gaps are kept only in the model's channels: a gapped reference PPG gives no labels."""
    _windows, quality = windows_of(gapped(clean, "ppg"), ["abp"], mask=True)
    r = row(quality, 16.0)
    assert r["accepted"] and np.isnan(r["hr_ppg"])


def test_beat_intervals_across_a_gap_are_left_out():
    beats = np.arange(0.0, 8.0, 0.8)                 # 75 bpm, perfectly regular
    seen = np.delete(beats, [4, 5])                  # two beats lost in a gap at 3.1-4.6 s
    gap = np.arange(3.1, 4.6, 0.008)
    n, hr, cv = _beat_stats(seen, 0.0, 8.0, gap)
    assert n == seen.size and hr == pytest.approx(75.0) and cv == pytest.approx(0.0, abs=1e-9)
    _n, _hr, cv_without = _beat_stats(seen, 0.0, 8.0)
    assert cv_without > 0.3                          # the 2.4-s interval counted as one beat


@pytest.fixture(scope="module")
def masked_posterior():
    """A tiny NPE with a missing-data mask that reads 8-s radial-pressure windows at 125 Hz."""
    generator = torch.Generator().manual_seed(0)
    theta = torch.rand(256, 2, generator=generator)
    x = with_gaps(80.0 + 20.0 * theta[:, :1, None] * torch.randn(256, 1, 1000, generator=generator),
                  generator)
    model = {"embedding": {"kind": "resnet1d", "channels": [4, 8], "features": 8,
                           "missing_mask": True}}
    posterior = train_npe(theta, x, ["a", "b"], torch.zeros(2), torch.ones(2),
                          tiny_config("nsf", model, epochs=1))
    posterior.input_spec = {"channels": ["radial/P"], "sampling_rate": FS_MODEL,
                            "window_s": 8.0, "normalize": "window"}
    return posterior


def test_infer_keeps_gaps_for_a_masked_posterior_and_rejects_them_otherwise(clean, masked_posterior):
    shipped_like = load_posterior(Path(__file__).parents[1] / "data/infer/hr_sv_windkessel_posterior.pt")
    assert not window_config(shipped_like).quality.missing_mask
    assert window_config(masked_posterior).quality.missing_mask
    quality, table = estimate_recording(gapped(clean, "abp"), masked_posterior, n=50,
                                        generator=torch.Generator().manual_seed(1))
    kept, too_long = row(quality, 16.0), row(quality, 32.0)   # 4.4 % and 18.75 % missing
    assert kept["accepted"] and not too_long["accepted"]
    estimates = table.loc[table["start_s"] == 16.0]
    assert (estimates["status"] != "rejected").all() and estimates["median"].notna().all()
    assert (table.loc[table["start_s"] == 32.0, "reason"].str.contains("missing:abp")).all()


def test_model_input_keeps_gaps_as_nan_and_standardises_the_observed_samples(clean, masked_posterior):
    windows, quality = make_windows(gapped(clean, "abp"), config=window_config(masked_posterior))
    raw = windows[row(quality, 16.0)["window"]]
    x = model_input(masked_posterior, raw[None]).numpy()[0, 0]
    gap = ~np.isfinite(raw[0])
    assert gap.any() and np.array_equal(np.isnan(x), gap)
    assert np.mean(x[~gap]) == pytest.approx(0.0, abs=1e-5)
    assert np.std(x[~gap]) == pytest.approx(1.0, abs=1e-4)
