"""`cardiosbi preprocess` resumes only what is still true: a finished record is reused when its
source file content and the settings are unchanged, ids stay unique and stable when files of
the same name come from another folder or another format, and bad settings fail up front."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import yaml

from cardiosbi.cli.main import run
from cardiosbi.errors import ConfigError
from cardiosbi.io import load_recording
from cardiosbi.io.vital import write_vital
from cardiosbi.signals.cohort import preprocess_cohort, record_files, source_sha256


def _short_record(src, folder, name, seconds=24):
    """A renamed WFDB copy of ``src`` cut to ``seconds``."""
    import wfdb

    folder.mkdir(parents=True, exist_ok=True)
    record = wfdb.rdrecord(str(src), sampto=int(seconds * 250))
    wfdb.wrsamp(name, fs=record.fs, units=record.units, sig_name=record.sig_name,
                p_signal=record.p_signal, fmt=["16"] * len(record.sig_name),
                write_dir=str(folder))
    return folder / f"{name}.hea"


def _preprocess(source, out, *overrides):
    return run(["preprocess", str(source), "--out", str(out), "format=csv", *overrides])


def _summary(out):
    return pd.read_csv(out / "preprocess" / "summary.csv" if (out / "preprocess").exists()
                       else out / "summary.csv").set_index("record")


def _stamps(out):
    return {p.stem: p.stat().st_mtime_ns for p in (out / "status").glob("*.json")}


def test_a_changed_source_file_is_redone_or_refused_under_keep(tmp_path, v292s, v136s, capsys):
    folder = tmp_path / "cohort"
    _short_record(v292s, folder, "a")
    _short_record(v136s, folder, "b")
    out = tmp_path / "out"
    assert _preprocess(folder, out) == 0
    before = _stamps(out)
    _short_record(v136s, folder, "a", seconds=16)  # same name, other content
    capsys.readouterr()
    assert _preprocess(folder, out, "resume=keep") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "record a" in err[0] and "content of" in err[0]
    assert _stamps(out) == before  # nothing written
    assert _preprocess(folder, out) == 0
    after = _stamps(out)
    assert after["a"] != before["a"] and after["b"] == before["b"]
    assert _summary(out).loc["a", "n_windows"] == 2  # 16 s: two 8-s windows


def test_only_a_changed_signal_file_is_noticed(tmp_path, v292s):
    header = _short_record(v292s, tmp_path / "c", "a")
    digest = source_sha256(str(header))
    assert record_files(header) == [header, header.with_suffix(".dat")]
    data = header.with_suffix(".dat")
    raw = bytearray(data.read_bytes())
    raw[100] ^= 0xFF
    data.write_bytes(bytes(raw))
    assert source_sha256(str(header)) != digest


def test_multi_segment_records_hash_their_segments(tmp_path, real_dir):
    folder = tmp_path / "041s"
    shutil.copytree(real_dir / "041s", folder)
    header = folder / "041s.hea"
    names = {p.name for p in record_files(header)}
    assert names == {"041s.hea", "041s01.hea", "041s01.dat", "041s02.hea", "041s02.dat"}
    digest = source_sha256(str(header))
    (folder / "041s02.dat").write_bytes((folder / "041s02.dat").read_bytes()[::-1])
    assert source_sha256(str(header)) != digest


def test_changed_settings_are_named_under_keep(tmp_path, v292s, capsys):
    folder = tmp_path / "cohort"
    _short_record(v292s, folder, "a")
    out = tmp_path / "out"
    assert _preprocess(folder, out) == 0
    capsys.readouterr()
    assert _preprocess(folder, out, "window.hop_s=4", "resume=keep") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "record a" in err and "window.hop_s" in err
    assert _preprocess(folder, out, "resume=keep") == 0  # unchanged: kept


def test_a_same_named_record_of_another_folder_is_not_taken_for_the_first(tmp_path, v292s,
                                                                          v136s):
    first, second = tmp_path / "first", tmp_path / "second"
    _short_record(v292s, first, "rec", seconds=24)
    _short_record(v136s, second, "rec", seconds=16)
    out = tmp_path / "out"
    assert _preprocess(first, out) == 0
    assert _preprocess(second, out) == 0
    (row,) = _summary(out).itertuples()
    assert row.source == str(second / "rec.hea") and row.n_windows == 2
    assert row.Index != "rec"  # the first folder's record keeps its id and outputs
    assert json.loads((out / "status" / "rec.json").read_text())["source"] == str(first / "rec.hea")
    stamps = _stamps(out)
    assert _preprocess(first, out) == 0 and _preprocess(second, out) == 0
    assert _stamps(out) == stamps  # each reused under its own id, none done twice


def test_a_new_header_beside_a_processed_vital_file(tmp_path, v292s, v136s):
    folder = tmp_path / "cohort"
    write_vital(load_recording(_short_record(v292s, tmp_path / "src", "rec")), folder / "rec.vital")
    out = tmp_path / "out"
    assert _preprocess(folder, out) == 0
    vital_status = (out / "status" / "rec.json").stat().st_mtime_ns
    _short_record(v136s, folder, "rec", seconds=16)  # rec.hea + rec.dat appear
    assert _preprocess(folder, out) == 0
    summary = _summary(out)
    assert len(summary) == 2
    assert summary.loc["rec", "source"] == str(folder / "rec.vital")  # kept, not redone
    assert (out / "status" / "rec.json").stat().st_mtime_ns == vital_status
    (new,) = [rid for rid in summary.index if rid != "rec"]
    assert summary.loc[new, "source"] == str(folder / "rec.hea")
    assert summary.loc[new, "n_windows"] == 2 and summary.loc["rec", "n_windows"] == 3


def test_a_moved_folder_is_reused_and_its_new_place_recorded(tmp_path, v292s):
    folder = tmp_path / "cohort"
    _short_record(v292s, folder, "a")
    out = tmp_path / "out"
    preprocess_cohort(folder, out, table_format="csv")
    table = (out / "records" / "a.csv").stat().st_mtime_ns
    moved = tmp_path / "moved"
    folder.rename(moved)
    summary = preprocess_cohort(moved, out, table_format="csv").set_index("record")
    assert (out / "records" / "a.csv").stat().st_mtime_ns == table
    assert summary.loc["a", "source"] == str(moved / "a.hea")


def test_resume_false_redoes_everything(tmp_path, v292s):
    folder = tmp_path / "cohort"
    _short_record(v292s, folder, "a")
    out = tmp_path / "out"
    preprocess_cohort(folder, out, table_format="csv")
    before = _stamps(out)
    preprocess_cohort(folder, out, table_format="csv", resume="false")
    assert _stamps(out)["a"] != before["a"]
    with pytest.raises(ConfigError, match="resume='sometimes'"):
        preprocess_cohort(folder, out, resume="sometimes")


@pytest.mark.parametrize(("override", "message"), [
    ("workers=0", "workers must be >= 1"),
    ("sampling_rate=0", "sampling_rate=0.0: must be a positive number of Hz"),
    ("sampling_rate=inf", "must be a positive number of Hz"),
    ("fs=-125", "sampling_rate=-125.0: must be a positive number of Hz"),
    ("resume=maybe", "resume='maybe'"),
])
def test_bad_settings_fail_before_any_work(override, message, tmp_path, v292s, capsys):
    out = tmp_path / "out"
    assert _preprocess(v292s.with_suffix(".hea"), out, override) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and not out.exists()


def test_csv_sampling_rate_and_its_deprecated_name(tmp_path, capsys):
    csv = tmp_path / "rec.csv"
    pd.DataFrame({"PLETH": range(100), "ABP [mmHg]": range(100)}).to_csv(csv, index=False)
    out = tmp_path / "out"
    assert _preprocess(csv, out, "sampling_rate=100") == 0
    assert _preprocess(csv, out, "fs=100", "resume=keep") == 0  # the same rate: kept
    captured = capsys.readouterr()
    assert "fs= is deprecated; use sampling_rate=" in captured.err
    assert yaml.safe_load((out / "config.yaml").read_text())["sampling_rate"] == 100
    with pytest.warns(DeprecationWarning, match="sampling_rate"):
        preprocess_cohort(csv, tmp_path / "lib", fs=100.0, table_format="csv")
