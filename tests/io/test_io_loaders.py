"""Loaders on real records: WFDB (.mat, FLAC mixed-rate, multi-segment), .vital, CSV/Parquet."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import wfdb

from cardiosbi.errors import InputFileError, SignalError
from cardiosbi.io import Numeric, load_recording
from cardiosbi.io.channels import canonical_name, numeric_name
from cardiosbi.io.vital import load_vital, write_vital


def test_cinc_record_loads_with_rates_units_and_names(v292s):
    rec = load_recording(v292s.with_suffix(".hea"))
    assert set(rec.channels) == {"ecg", "ecg_v", "ppg", "abp"}
    assert {c.fs for c in rec.channels.values()} == {250.0}
    assert rec.channels["abp"].unit == "mmHg" and rec.channels["ecg"].unit == "mV"
    assert rec.channels["ppg"].raw_name == "PLETH" and rec.channels["ecg"].raw_name == "II"
    assert rec.duration_s == pytest.approx(300.0)
    raw = wfdb.rdrecord(str(v292s)).p_signal
    np.testing.assert_array_equal(rec.channels["abp"].signal, raw[:, 3])
    assert 40 < np.median(rec.channels["abp"].signal) < 150


def test_flac_mixed_rate_record_keeps_each_channel_at_its_rate(real_dir):
    rec = load_recording(real_dir / "mixedsignals" / "mixedsignals.hea")
    frame = 62.4725
    assert rec.channels["ecg"].fs == pytest.approx(4 * frame)
    assert rec.channels["abp"].fs == pytest.approx(2 * frame)
    assert rec.channels["ppg"].fs == pytest.approx(2 * frame)
    assert rec.channels["resp"].fs == pytest.approx(frame)
    assert rec.channels["abp"].signal.size == 28800 and rec.channels["ecg"].signal.size == 57600
    assert rec.channels["abp"].unit == "mmHg"
    abp = rec.channels["abp"].signal
    assert 60 < np.nanpercentile(abp, 1) and np.nanpercentile(abp, 99) < 180
    assert np.isnan(rec.channels["ecg"].signal).any()  # the documented ECG gaps survive
    assert rec.duration_s == pytest.approx(14400 / frame)


def test_multisegment_record_is_the_concatenation_of_its_segments(real_dir):
    folder = real_dir / "041s"
    rec = load_recording(folder / "041s.hea")
    assert rec.start_time is not None and rec.start_time.isoformat() == "1994-10-26T08:26:04"
    assert rec.channels["abp"].fs == 125 and rec.channels["ecg_i"].fs == 500
    assert rec.duration_s == pytest.approx(16.0)
    parts = [wfdb.rdrecord(str(folder / s), smooth_frames=False) for s in ("041s01", "041s02")]
    index = parts[0].sig_name.index("ABP")
    expected = np.concatenate([p.e_p_signal[index] for p in parts])
    np.testing.assert_allclose(rec.channels["abp"].signal, expected)


@pytest.mark.parametrize("raw, name", [
    ("PLETH", "ppg"), ("Pleth", "ppg"), ("PPG", "ppg"), ("SpO2", "ppg"), ("SNUADC/PLETH", "ppg"),
    ("ABP", "abp"), ("ART", "abp"), ("AOBP", "abp"), ("SNUADC/ART", "abp"), ("II", "ecg"),
    ("ECG_II", "ecg"), ("SNUADC/ECG_II", "ecg"), ("V", "ecg_v"), ("Resp", "resp"),
    ("ST II", "st_ii"),
])
def test_channel_names_are_normalised(raw, name):
    assert canonical_name(raw) == name


def test_numeric_names_are_normalised():
    assert [numeric_name(n) for n in ("EV1000/CO", "EV1000/SV", "EV1000/SVR", "Vigileo/CO")] == [
        "co", "sv", "svr", "co_vigileo"]


def _frame(v292s, seconds=60):
    rec = load_recording(v292s)
    n = int(seconds * 250)
    return rec, pd.DataFrame({
        "time": np.arange(n) / 250.0,
        "PLETH": rec.channels["ppg"].signal[:n],
        "ABP [kPa]": rec.channels["abp"].signal[:n] / 7.500617,
        "II (uV)": rec.channels["ecg"].signal[:n] * 1000.0,
    })


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_table_recording_converts_units(v292s, tmp_path, suffix):
    rec, frame = _frame(v292s)
    path = tmp_path / f"rec{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)
    loaded = load_recording(path, fs=250.0)
    assert set(loaded.channels) == {"ppg", "abp", "ecg"}
    n = frame.shape[0]
    np.testing.assert_allclose(loaded.channels["abp"].signal, rec.channels["abp"].signal[:n],
                               atol=1e-6)
    np.testing.assert_allclose(loaded.channels["ecg"].signal, rec.channels["ecg"].signal[:n],
                               atol=1e-9)
    assert loaded.channels["abp"].unit == "mmHg" and loaded.channels["ecg"].unit == "mV"


def test_table_needs_a_sampling_rate_that_matches_its_time_column(v292s, tmp_path):
    _rec, frame = _frame(v292s, 10)
    path = tmp_path / "rec.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(SignalError, match="sampling rate"):
        load_recording(path)
    with pytest.raises(SignalError, match="declared fs=500"):
        load_recording(path, fs=500.0)


def test_unknown_pressure_unit_is_a_clear_error(tmp_path):
    path = tmp_path / "rec.csv"
    pd.DataFrame({"ABP [furlongs]": np.full(1000, 90.0)}).to_csv(path, index=False)
    with pytest.raises(SignalError, match="unknown unit 'furlongs'.*mmHg"):
        load_recording(path, fs=100.0)


def test_pressure_in_the_wrong_unit_fails_the_range_check(tmp_path):
    path = tmp_path / "rec.csv"
    pd.DataFrame({"ABP [mmHg]": np.full(1000, 12000.0)}).to_csv(path, index=False)  # Pa really
    with pytest.raises(SignalError, match="physical range"):
        load_recording(path, fs=100.0)


def _copy_record(v292s, tmp_path):
    for suffix in (".hea", ".mat"):
        shutil.copy(v292s.with_suffix(suffix), tmp_path / f"rec{suffix}")
    header = tmp_path / "rec.hea"
    header.write_text(header.read_text().replace("v292s", "rec"))
    return tmp_path / "rec"


def test_truncated_signal_file_is_a_clear_error(v292s, tmp_path):
    path = _copy_record(v292s, tmp_path)
    data = path.with_suffix(".mat").read_bytes()
    path.with_suffix(".mat").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError, match=r"rec\.mat holds 300012 bytes.*truncated"):
        load_recording(path.with_suffix(".hea"))


def test_header_sample_count_mismatch_is_a_clear_error(v292s, tmp_path):
    path = _copy_record(v292s, tmp_path)
    header = path.with_suffix(".hea")
    header.write_text(header.read_text().replace("250 75000", "250 90000", 1))
    with pytest.raises(InputFileError, match="header declares 90000 samples"):
        load_recording(header)


def test_unknown_file_type_and_missing_file(tmp_path):
    (tmp_path / "x.edf").write_text("")
    with pytest.raises(InputFileError, match="unknown recording type"):
        load_recording(tmp_path / "x.edf")
    with pytest.raises(InputFileError, match="not found"):
        load_recording(tmp_path / "absent.hea")


def test_vital_file_written_from_a_real_record_reads_back_identically(v292s, tmp_path):
    rec = load_recording(v292s)
    for key in ("ecg_v",):
        del rec.channels[key]
    # A monitor-style numeric track (values made up for the round trip, every 20 s).
    times = np.arange(0.0, 300.0, 20.0)
    rec.numerics["co"] = Numeric("co", times, 4.0 + 0.01 * times, "L/min", "EV1000/CO")
    path = write_vital(rec, tmp_path / "v292s_derived.vital")
    back = load_vital(path)
    assert set(back.channels) == {"ppg", "abp", "ecg"}
    assert back.channels["abp"].raw_name == "SNUADC/ART"
    for key, channel in rec.channels.items():
        got = back.channels[key]
        assert got.fs == channel.fs and got.unit == channel.unit and got.start_s == 0.0
        np.testing.assert_array_equal(got.signal, channel.signal.astype(np.float32))
    np.testing.assert_allclose(back.numerics["co"].times_s, times, atol=1e-6)
    np.testing.assert_allclose(back.numerics["co"].values, 4.0 + 0.01 * times, rtol=1e-6)


def test_corrupt_vital_file_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.vital"
    path.write_bytes(b"not a vital file at all")
    with pytest.raises(InputFileError, match="bad.vital"):
        load_recording(path)


def test_mimic_numerics_record_is_attached_by_time(v292s, tmp_path):
    path = _copy_record(v292s, tmp_path)
    values = np.column_stack([np.full(300, 72.0), np.linspace(80, 90, 300)])
    wfdb.wrsamp("recn", fs=1, units=["bpm", "mmHg"], sig_name=["HR", "ABPMean"],
                p_signal=values, fmt=["16", "16"], adc_gain=[10.0, 10.0], baseline=[0, 0],
                write_dir=str(tmp_path))
    rec = load_recording(path.with_suffix(".hea"))
    assert set(rec.numerics) == {"hr", "abpmean"}
    np.testing.assert_allclose(rec.numerics["abpmean"].values, values[:, 1], atol=0.05)
    np.testing.assert_allclose(rec.numerics["hr"].times_s, np.arange(300.0))


def test_variable_layout_multisegment_record_fills_gaps_with_nan(v292s, tmp_path):
    """MIMIC-III style: a layout header, segments with different channels, a gap segment."""
    source = wfdb.rdrecord(str(v292s), sampto=5000)
    first, second = source.p_signal[:2000, 2:4], source.p_signal[3000:5000][:, [3, 0]]
    wfdb.wrsamp("rec_0001", fs=250, units=["NU", "mmHg"], sig_name=["PLETH", "ABP"],
                p_signal=first, fmt=["16", "16"], write_dir=str(tmp_path))
    wfdb.wrsamp("rec_0002", fs=250, units=["mmHg", "mV"], sig_name=["ABP", "II"],
                p_signal=second, fmt=["16", "16"], write_dir=str(tmp_path))
    (tmp_path / "rec_layout.hea").write_text(
        "rec_layout 3 250 0\n~ 16 6640/NU 16 0 0 0 0 PLETH\n~ 16 48.78/mmHg 16 0 0 0 0 ABP\n"
        "~ 16 5221/mV 16 0 0 0 0 II\n")
    (tmp_path / "rec.hea").write_text(
        "rec/4 3 250 5000\nrec_layout 0\nrec_0001 2000\n~ 1000\nrec_0002 2000\n")
    rec = load_recording(tmp_path / "rec.hea")
    abp = rec.channels["abp"].signal
    assert abp.size == 5000 and np.isnan(abp[2000:3000]).all()
    np.testing.assert_allclose(abp[:2000], first[:, 1], atol=0.03)
    np.testing.assert_allclose(abp[3000:], second[:, 0], atol=0.03)
    assert np.isnan(rec.channels["ppg"].signal[2000:]).all()
    assert np.isnan(rec.channels["ecg"].signal[:3000]).all()


def test_vital_tracks_with_gaps_and_late_starts(v292s, tmp_path):
    import vitaldb

    rec = load_recording(v292s)
    abp = rec.channels["abp"].signal.astype(np.float32)
    ppg = rec.channels["ppg"].signal.astype(np.float32)
    t0 = 1_700_000_000.0
    vf = vitaldb.VitalFile()
    vf.add_track("SNUADC/ART", [{"dt": t0, "val": abp[:2500]},
                                {"dt": t0 + 20.0, "val": abp[5000:7500]}], srate=250, unit="mmHg")
    vf.add_track("SNUADC/PLETH", [{"dt": t0 + 5.0, "val": ppg[:5000]}], srate=250, unit="")
    vf.add_track("EV1000/SV", [{"dt": t0 + 3.0, "val": 70.0}, {"dt": t0 + 23.0, "val": 72.0}],
                 unit="mL")
    path = tmp_path / "gaps.vital"
    vf.to_vital(str(path))
    back = load_recording(path)
    art = back.channels["abp"].signal
    assert back.channels["abp"].start_s == 0.0 and back.channels["ppg"].start_s == 5.0
    np.testing.assert_array_equal(art[:2500], abp[:2500])
    assert np.isnan(art[2500:5000]).all()
    np.testing.assert_array_equal(art[5000:7500], abp[5000:7500])
    np.testing.assert_allclose(back.numerics["sv"].times_s, [3.0, 23.0])
    assert back.numerics["sv"].unit == "mL"
