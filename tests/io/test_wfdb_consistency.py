"""A WFDB header is checked against its data: checksums, file sizes, sampling rates, segments."""

from __future__ import annotations

import re
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
import wfdb

from cardiosbi.errors import ConfigError, InputFileError, SignalError
from cardiosbi.io import load_recording
from cardiosbi.io.tabular import load_table
from tests.io.synthetic import FS, write_pulse_record


def _records(real_dir, repo_root):
    return [real_dir / "v292s", real_dir / "041s" / "041s", real_dir / "mixedsignals" /
            "mixedsignals", repo_root / "cardiosbi" / "assets" / "samples" / "v136s"]


def test_shipped_records_pass_the_checks_and_read_as_wfdb_reads_them(real_dir, repo_root):
    for path in _records(real_dir, repo_root):
        rec = load_recording(path)
        plain = wfdb.rdrecord(str(path), smooth_frames=False, physical=True)
        for raw_name, signal in zip(plain.sig_name, plain.e_p_signal, strict=True):
            channel = next(c for c in rec.channels.values() if c.raw_name == raw_name)
            np.testing.assert_array_equal(channel.signal, signal)


def _three_signals_over_two(tmp_path):
    """A valid 2 × 7500-sample record whose header then declares 3 × 5000 samples."""
    header = write_pulse_record(tmp_path, "rec")
    lines = header.read_text().splitlines()
    header.write_text("\n".join(["rec 3 125 5000", *lines[1:],
                                 lines[2].replace("PLETH", "PLETH2")]) + "\n")
    return header


def test_more_signals_declared_than_stored_is_caught_by_the_checksums(tmp_path):
    header = _three_signals_over_two(tmp_path)
    assert header.with_suffix(".dat").stat().st_size == 3 * 5000 * 2  # sizes agree
    scrambled = wfdb.rdrecord(str(tmp_path / "rec"))  # wfdb alone reads it without complaint
    assert scrambled.n_sig == 3
    with pytest.raises(InputFileError, match=r"record .*rec: channel 'ABP' fails its checksum"):
        load_recording(header)


def test_fewer_signals_declared_than_stored_is_caught_by_the_checksums(tmp_path):
    header = write_pulse_record(tmp_path, "rec")
    lines = header.read_text().splitlines()
    header.write_text(f"rec 1 125 15000\n{lines[1]}\n")
    with pytest.raises(InputFileError, match="channel 'ABP' fails its checksum"):
        load_recording(header)


def test_more_data_than_declared_is_refused_without_checksums(tmp_path):
    header = write_pulse_record(tmp_path, "rec")
    lines = header.read_text().splitlines()
    stripped = [" ".join(line.split()[:5] + line.split()[-1:]) for line in lines[1:]]
    header.write_text("\n".join(["rec 2 125 5000", *stripped]) + "\n")
    assert wfdb.rdheader(str(tmp_path / "rec")).checksum in (None, [None, None])
    with pytest.raises(InputFileError, match=r"rec\.dat holds 30000 bytes, more than the 20000"):
        load_recording(header)


def test_a_corrupt_segment_names_the_segment(real_dir, tmp_path):
    for f in (real_dir / "041s").iterdir():
        shutil.copy(f, tmp_path / f.name)
    data = tmp_path / "041s02.dat"
    content = bytearray(data.read_bytes())
    content[100:140] = bytes(40)
    data.write_bytes(bytes(content))
    with pytest.raises(InputFileError, match=r"segment 041s02\): channel '\w+' fails its checksum"):
        load_recording(tmp_path / "041s.hea")


@pytest.mark.parametrize("written, message", [
    ("-125", "must be a finite number > 0 Hz, got '-125'"),
    ("0", "must be a finite number > 0 Hz, got '0'"),
    ("nan", "must be a finite number > 0 Hz, got 'nan'"),
    ("abc", "'abc' is not a number"),
    ("1e9", "1e+09 Hz is above the plausible 10000 Hz"),
    ("1e3", "'1e3' would be read as 1 Hz"),
    ("12.5", "12.5 Hz is outside the plausible range 20-10000 Hz"),
])
def test_implausible_header_sampling_rates_are_refused(tmp_path, written, message):
    header = write_pulse_record(tmp_path, "rec", seconds=10)
    header.write_text(header.read_text().replace("rec 2 125 ", f"rec 2 {written} ", 1))
    with pytest.raises((InputFileError, SignalError), match=re.escape(message)):
        load_recording(header)


@pytest.mark.parametrize("old, new, message", [
    ("rec 2 125 1250", "rec 0 125 1250", "number of signals '0' is not a whole number > 0"),
    ("rec 2 125 1250", "rec two 125 1250", "number of signals 'two' is not a whole number"),
    ("rec 2 125 1250", "rec 2 125 abc", "number of samples 'abc' is not a whole number"),
    ("rec.dat 16 100.0", "rec.dat 999 100.0", "channel 'ABP' has storage format '999'"),
])
def test_malformed_header_fields_are_named(tmp_path, old, new, message):
    header = write_pulse_record(tmp_path, "rec", seconds=10)
    header.write_text(header.read_text().replace(old, new, 1))
    with pytest.raises(InputFileError, match=re.escape(message)):
        load_recording(header)


def test_a_header_without_a_rate_gets_the_wfdb_default(tmp_path):
    header = write_pulse_record(tmp_path, "rec", seconds=10)
    lines = header.read_text().splitlines()
    header.write_text("\n".join(["rec 2", *lines[1:]]) + "\n")
    assert load_recording(header).channels["abp"].fs == 250.0


@pytest.mark.parametrize("segment", ["../other", "sub/other", "loop"])
def test_segments_outside_the_folder_or_looping_are_refused(tmp_path, segment):
    write_pulse_record(tmp_path, "part")
    (tmp_path / "loop.hea").write_text(f"loop/2 2 125 15000\npart 7500\n{segment} 7500\n")
    with pytest.raises(InputFileError, match="not a file name in the record's folder|cannot "
                                             "itself have segments"):
        load_recording(tmp_path / "loop.hea")


def test_binary_and_empty_headers_say_so(tmp_path):
    (tmp_path / "bin.hea").write_bytes(bytes(range(256)) * 2)
    with pytest.raises(InputFileError, match="not a text file"):
        load_recording(tmp_path / "bin.hea")
    (tmp_path / "empty.hea").write_text("# only a comment\n")
    with pytest.raises(InputFileError, match="is empty"):
        load_recording(tmp_path / "empty.hea")


def _table(tmp_path):
    path = tmp_path / "rec.csv"
    pd.DataFrame({"ABP [mmHg]": np.linspace(70, 120, 500), "PLETH": np.zeros(500)}).to_csv(
        path, index=False)
    return path


@pytest.mark.parametrize("rate, message", [
    (5.0, "outside the plausible range"), (1e6, "outside the plausible range"),
    (float("nan"), "finite number > 0"), (-125.0, "finite number > 0"), ("fast", "not a number"),
])
def test_table_sampling_rate_is_checked_before_reading(tmp_path, rate, message):
    with pytest.raises(SignalError, match=message):
        load_recording(_table(tmp_path), sampling_rate=rate)
    with pytest.raises(SignalError, match=message):  # not "cannot read": the file is not opened
        load_table(tmp_path / "absent.csv", sampling_rate=rate)


def test_a_table_without_rows_is_refused(tmp_path):
    path = tmp_path / "rec.csv"
    path.write_text("ABP [mmHg],PLETH\n")
    with pytest.raises(InputFileError, match="no samples"):
        load_recording(path, sampling_rate=FS)


def test_fs_keyword_is_deprecated_but_still_works(tmp_path):
    path = _table(tmp_path)
    with pytest.warns(DeprecationWarning, match="use sampling_rate="):
        old = load_recording(path, fs=FS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = load_recording(path, sampling_rate=FS)
    assert old.channels["abp"].fs == new.channels["abp"].fs == FS
    with pytest.raises(ConfigError, match="disagree"), pytest.warns(DeprecationWarning):
        load_recording(path, sampling_rate=FS, fs=250.0)
