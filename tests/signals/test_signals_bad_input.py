"""Bad signals end as per-window rejection reasons or clear errors, never as crashes."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from cardiosbi.errors import ConfigError, SignalError
from cardiosbi.io import Channel, load_recording
from cardiosbi.signals import make_windows, ppg_clean, signal_lowpass
from cardiosbi.signals.abp import abp_onsets
from cardiosbi.signals.ecg import ecg_peaks
from cardiosbi.signals.ppg import ppg_quality


@pytest.fixture(scope="module")
def minute():
    """The first 80 s of v292s (a clean record: nearly every window accepted)."""
    from tests.conftest import REAL_RECORDS as REAL

    rec = load_recording(REAL / "v292s")
    for channel in rec.channels.values():
        channel.signal = channel.signal[: 80 * 250]
    return rec


def _with(rec, kind, signal, fs=None):
    changed = copy.deepcopy(rec)
    old = changed.channels[kind]
    changed.channels[kind] = Channel(kind, signal, fs or old.fs, old.unit, old.raw_name)
    return changed


def _reasons(quality):
    return set(";".join(quality["reason"]).split(";")) - {""}


def test_clean_minute_is_accepted(minute):
    windows, quality = make_windows(minute)
    assert quality["accepted"].mean() >= 0.8 and len(windows) == quality["accepted"].sum()


@pytest.mark.parametrize("kind", ["abp", "ppg"])
def test_all_nan_channel_rejects_every_window(minute, kind):
    windows, quality = make_windows(_with(minute, kind, np.full(80 * 250, np.nan)))
    assert len(windows) == 0 and not quality["accepted"].any()
    assert (quality["reason"].str.contains(f"missing:{kind}")).all()


def test_constant_abp_is_flat(minute):
    windows, quality = make_windows(_with(minute, "abp", np.full(80 * 250, 90.0)))
    assert len(windows) == 0 and (quality["reason"].str.contains("flat:abp")).all()


def test_saturated_abp_is_clipped(minute):
    abp = minute.channels["abp"].signal
    top = np.percentile(abp, 70)
    _w, quality = make_windows(_with(minute, "abp", np.minimum(abp, top)))
    assert not quality["accepted"].any()
    assert (quality["reason"].str.contains("clipped:abp")).all()


def test_saturated_ppg_is_clipped(minute):
    ppg = minute.channels["ppg"].signal
    _w, quality = make_windows(_with(minute, "ppg", np.clip(ppg, *np.percentile(ppg, [20, 80]))))
    assert not quality["accepted"].any() and "clipped:ppg" in _reasons(quality)


def test_damped_abp_is_rejected(minute):
    abp = minute.channels["abp"].signal
    damped = signal_lowpass(abp, 250.0, 1.2, order=2)
    _w, quality = make_windows(_with(minute, "abp", damped))
    assert quality["accepted"].mean() < 0.2
    assert _reasons(quality) & {"damped:abp", "implausible_pulse_pressure:abp"}


def test_wrong_declared_sampling_rate_is_rejected(minute):
    # Declaring 25 Hz for 250 Hz samples slows every beat tenfold.
    wrong = copy.deepcopy(minute)
    for key, channel in wrong.channels.items():
        wrong.channels[key] = Channel(key, channel.signal, 25.0, channel.unit, channel.raw_name)
    _w, quality = make_windows(wrong)
    assert not quality["accepted"].any()
    assert _reasons(quality) & {"implausible_hr:abp", "too_few_beats:abp", "implausible_hr:ppg",
                                "too_few_beats:ppg"}


def test_noise_instead_of_ppg_is_rejected(minute):
    noise = np.random.default_rng(0).normal(size=80 * 250)
    _w, quality = make_windows(_with(minute, "ppg", noise))
    assert not quality["accepted"].any()
    assert _reasons(quality) & {"low_quality:ppg", "misaligned:ppg_abp", "irregular_beats:ppg"}


def test_ppg_delay_is_measured_and_removed(minute):
    shift = 50  # 0.2 s at 250 Hz
    ppg = np.concatenate([np.full(shift, minute.channels["ppg"].signal[0]),
                          minute.channels["ppg"].signal[:-shift]])
    _w, base = make_windows(minute)
    _w, delayed = make_windows(_with(minute, "ppg", ppg))
    moved = (delayed["ppg_abp_lag_s"] - base["ppg_abp_lag_s"]).iloc[1:-1]
    assert np.median(moved) == pytest.approx(0.2, abs=0.02)


def test_missing_model_channel_is_a_clear_error(minute):
    rec = copy.deepcopy(minute)
    del rec.channels["ppg"]
    with pytest.raises(SignalError, match="no 'ppg' channel"):
        make_windows(rec)
    windows, _quality = make_windows(rec, channels=["abp"])
    assert windows.shape[1] == 1


def test_recording_shorter_than_a_window_gives_an_empty_table(minute):
    rec = copy.deepcopy(minute)
    for channel in rec.channels.values():
        channel.signal = channel.signal[:1000]
    windows, quality = make_windows(rec)
    assert windows.shape == (0, 2, 1000) and len(quality) == 0


def test_detectors_survive_degenerate_input():
    fs = 125.0
    for x in (np.zeros(1000), np.full(1000, np.nan), np.zeros(10)):
        assert abp_onsets(np.nan_to_num(x), fs).size == 0
        assert ecg_peaks(np.nan_to_num(x), fs).size == 0
        assert ppg_quality(np.nan_to_num(x), np.empty(0, int), fs).shape == x.shape


@pytest.mark.parametrize("call", [
    lambda: ppg_clean(np.zeros(1000), 125.0, method="magic"),
    lambda: abp_onsets(np.zeros(1000), 125.0, method="magic"),
    lambda: ppg_quality(np.zeros(1000), np.arange(3), 125.0, method="magic"),
])
def test_unknown_method_lists_valid_choices(call):
    with pytest.raises(ConfigError, match="unknown method 'magic'; valid: "):
        call()


def test_bad_window_config_is_a_config_error(minute):
    with pytest.raises(ConfigError, match="model channels"):
        make_windows(minute, channels=["ecg"])
    with pytest.raises(ConfigError, match="> 0"):
        make_windows(minute, window_s=0.0)


def test_channel_starting_late_is_missing_until_it_starts(minute):
    rec = copy.deepcopy(minute)
    abp = rec.channels["abp"]
    rec.channels["abp"] = Channel("abp", abp.signal[20 * 250:], 250.0, "mmHg", "ABP",
                                  start_s=20.0)
    _w, quality = make_windows(rec)
    _w, original = make_windows(minute)
    early = quality[quality["start_s"] + 8 <= 20]
    late = quality[quality["start_s"] >= 20]
    assert early["reason"].str.contains("missing:abp").all()
    assert late["accepted"].mean() >= 0.8
    # Beats and samples are timed from the channel's own start: same results as unshifted.
    same = original.set_index("start_s").loc[late["start_s"]]
    np.testing.assert_allclose(late["map_abp"], same["map_abp"], rtol=1e-9)
    np.testing.assert_allclose(late["ppg_abp_lag_s"], same["ppg_abp_lag_s"], atol=1e-9)


@pytest.mark.parametrize("option", [
    {"ppg_method": "msptdfast"}, {"ecg_method": "kalidas2017"},
    {"ecg_method": "pantompkins1985"}, {"ppg_quality_method": "dissimilarity"},
    {"ppg_quality_method": "neurokit_templatematch"},
])
def test_every_offered_method_runs_end_to_end(minute, option):
    from cardiosbi.signals import WindowConfig

    _w, quality = make_windows(minute, config=WindowConfig(**option))
    accepted = quality[quality["accepted"] & quality["hr_ecg"].notna()]
    assert len(accepted) >= 5
    assert (accepted["hr_ppg"] - accepted["hr_ecg"]).abs().mean() < 1.0
