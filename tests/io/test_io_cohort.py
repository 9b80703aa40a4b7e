"""Cohort runs: discovery, per-record error isolation, resume, parallel workers, the CLI."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from cardiosbi.cli.main import run
from cardiosbi.errors import InputFileError
from cardiosbi.io import load_recording
from cardiosbi.io.cohort import discover_records, record_id
from cardiosbi.signals.cohort import preprocess_cohort
from cardiosbi.signals.windows import WindowConfig


def _short_record(src, folder, name, seconds=40):
    """A renamed copy of ``src`` cut to ``seconds`` (written with wfdb, as a derived file)."""
    import wfdb

    record = wfdb.rdrecord(str(src), sampto=int(seconds * 250))
    wfdb.wrsamp(name, fs=record.fs, units=record.units, sig_name=record.sig_name,
                p_signal=record.p_signal, fmt=["16"] * len(record.sig_name),
                write_dir=str(folder))
    return folder / f"{name}.hea"


@pytest.fixture
def cohort(tmp_path, v292s, v136s):
    folder = tmp_path / "cohort"
    folder.mkdir()
    _short_record(v292s, folder, "good_a")
    _short_record(v136s, folder, "good_b")
    bad = _short_record(v292s, folder, "truncated")
    data = bad.with_suffix(".dat")
    data.write_bytes(data.read_bytes()[:1000])
    (folder / "garbage.vital").write_bytes(b"\x00" * 64)
    flat = pd.DataFrame({"PLETH": np.zeros(5000), "ABP [mmHg]": np.full(5000, 80.0)})
    flat.to_csv(folder / "flat.csv", index=False)
    empty = pd.DataFrame({"PLETH": np.full(5000, np.nan), "ABP [mmHg]": np.full(5000, np.nan)})
    empty.to_csv(folder / "all_nan.csv", index=False)
    pd.DataFrame({"PLETH": np.ones(5000), "ABP [bar·s]": np.ones(5000)}).to_csv(
        folder / "units.csv", index=False)
    pd.DataFrame({"ABP [mmHg]": np.full(5000, 80.0)}).to_csv(folder / "no_ppg.csv", index=False)
    return folder


def test_discovery_skips_segments_numerics_and_layouts(real_dir, tmp_path):
    refs = discover_records(real_dir)
    names = sorted(record_id(r, real_dir) for r in refs)
    assert names == ["041s__041s", "mixedsignals__mixedsignals", "v292s"]
    listing = tmp_path / "records.txt"
    listing.write_text(f"# cohort\n{real_dir / 'v292s'}\n{real_dir / '041s' / '041s.hea'}\n")
    # the listing names records outside its own folder: only with the explicit opt-in
    outside = discover_records(listing, allow_outside_paths=True)
    assert [r.endswith(".hea") for r in outside] == [True, True]
    assert len(discover_records(str(real_dir / "*" / "*.hea"))) == 2
    cases = tmp_path / "cases.csv"
    cases.write_text("caseid\n1\n25\n")
    assert discover_records(cases) == ["vitaldb:1", "vitaldb:25"]
    with pytest.raises(InputFileError, match="not found"):
        discover_records(tmp_path / "absent")
    with pytest.raises(InputFileError, match="no file matches"):
        discover_records(str(tmp_path / "*.hea"))


def test_cohort_isolates_failures_and_reports_them(cohort, tmp_path):
    out = tmp_path / "out"
    summary = preprocess_cohort(cohort, out, fs=100.0, table_format="csv").set_index("record")
    assert set(summary.index) == {"good_a", "good_b", "truncated", "garbage", "flat", "all_nan",
                                  "units", "no_ppg"}
    assert summary.loc["good_a", "status"] == "ok" and summary.loc["good_b", "status"] == "ok"
    assert summary.loc["truncated", "status"] == "failed"
    assert "truncated" in summary.loc["truncated", "reason"]
    assert summary.loc["garbage", "status"] == "failed"
    # A flat recording is read fine; every window is rejected with a reason.
    assert summary.loc["flat", "status"] == "ok" and summary.loc["flat", "n_accepted"] == 0
    assert "unknown unit 'bar·s'" in summary.loc["units", "reason"]
    assert "no 'ppg' channel" in summary.loc["no_ppg", "reason"]
    assert summary.loc["all_nan", "n_accepted"] == 0
    table = pd.read_csv(out / "records" / "good_a.csv")
    assert table["accepted"].any() and {"hr_ppg", "hr_ecg", "map_abp"} <= set(table.columns)
    flat = pd.read_csv(out / "records" / "flat.csv")
    assert flat["reason"].str.contains("flat:abp").all()
    assert pd.read_csv(out / "records" / "all_nan.csv")["reason"].str.contains("missing:abp").all()
    with np.load(out / "windows" / "good_a.npz") as saved:
        assert saved["windows"].shape[0] == table["accepted"].sum()
        assert list(saved["channels"]) == ["ppg", "abp"]
    totals = json.loads((out / "summary.json").read_text())
    assert totals["records"] == 8 and totals["records_failed"] == 4
    assert totals["windows_accepted"] == int(summary["n_accepted"].sum())


def test_cohort_resumes_after_interruption(cohort, tmp_path):
    out = tmp_path / "out"
    first = preprocess_cohort(cohort, out, fs=100.0)
    failed = {f"{r}.json" for r in first.loc[first["status"] == "failed", "record"]}
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "status").glob("*.json")}
    (out / "status" / "good_b.json").unlink()  # as if killed before good_b finished
    summary = preprocess_cohort(cohort, out, fs=100.0)
    after = {p.name: p.stat().st_mtime_ns for p in (out / "status").glob("*.json")}
    assert after.keys() == stamps.keys()
    changed = {name for name in after if after[name] != stamps.get(name)}
    assert changed == {"good_b.json"} | failed  # failures are retried, finished ones kept
    assert len(summary) == 8 and summary.set_index("record").loc["good_b", "status"] == "ok"


def test_parallel_workers_give_the_same_tables(cohort, tmp_path):
    serial = preprocess_cohort(cohort, tmp_path / "serial", fs=100.0, save_windows=False)
    parallel = preprocess_cohort(cohort, tmp_path / "parallel", fs=100.0, workers=2,
                                 save_windows=False)
    pd.testing.assert_frame_equal(serial.drop(columns="source"), parallel.drop(columns="source"))
    a = pd.read_parquet(tmp_path / "serial" / "records" / "good_a.parquet")
    b = pd.read_parquet(tmp_path / "parallel" / "records" / "good_a.parquet")
    pd.testing.assert_frame_equal(a, b)


def test_cli_preprocess_single_record_and_failure_exit_code(v292s, tmp_path, capsys):
    out = tmp_path / "one"
    assert run(["preprocess", str(v292s.with_suffix(".hea")), "--out", str(out),
                "window.window_s=10", "format=csv"]) == 0
    assert "1/1 records processed" in capsys.readouterr().out
    table = pd.read_csv(out / "records" / "v292s.csv")
    assert (table["duration_s"] == 10).all() and (out / "config.yaml").exists()
    broken = tmp_path / "broken.csv"
    broken.write_text("ABP [mmHg]\n1\n2\n")
    assert run(["preprocess", str(broken), "--out", str(tmp_path / "two")]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("cardiosbi preprocess: error: no record could be processed")
    assert "sampling rate" in last


def test_cli_rejects_bad_window_settings(v292s, tmp_path, capsys):
    assert run(["preprocess", str(v292s), "--out", str(tmp_path), "window.channels=[ecg]"]) == 2
    assert "model channels" in capsys.readouterr().err
    assert run(["preprocess", str(v292s), "--out", str(tmp_path), "format=xlsx"]) == 2


def test_window_config_defaults_match_the_yaml(repo_root):
    from omegaconf import OmegaConf

    from cardiosbi.cli.preprocess import PreprocessConfig
    from cardiosbi.utils.config import to_dataclass

    yaml = OmegaConf.load(repo_root / "cardiosbi" / "conf" / "preprocess.yaml")
    yaml.pop("defaults")
    yaml.input = "x"
    assert to_dataclass(yaml, PreprocessConfig).window == WindowConfig()
    shutil.rmtree(repo_root / "does-not-exist", ignore_errors=True)


def test_mimic_style_records_files_are_followed(real_dir, tmp_path):
    top = tmp_path / "mimic"
    patient = top / "p00" / "p000041"
    patient.mkdir(parents=True)
    for f in (real_dir / "041s").iterdir():
        shutil.copy(f, patient / f.name)
    (top / "RECORDS").write_text("p00/p000041/\n")
    (patient / "RECORDS").write_text("041s\n041sn\n")
    import wfdb

    wfdb.wrsamp("041sn", fs=1, units=["bpm"], sig_name=["HR"], p_signal=np.full((16, 1), 80.0),
                fmt=["16"], write_dir=str(patient))
    refs = discover_records(top)
    assert refs == [str(patient / "041s.hea")]  # the numerics record is attached, not listed
    assert "hr" in load_recording(refs[0]).numerics


def _dies_on_b(ref: str, rid: str) -> dict:
    """A record function whose worker process dies (as if killed for memory) on record b."""
    import os

    if ref == "b":
        os._exit(1)
    if ref == "c":
        raise ValueError("bad values")
    return {"ref": ref}


def test_a_dying_worker_fails_only_its_records():
    from cardiosbi.io.cohort import iter_results

    refs = [(name, name) for name in "abcdef"]
    results = {r.ref: r for r in iter_results(refs, _dies_on_b, workers=2)}
    assert set(results) == set("abcdef")
    assert not results["b"].ok and results["b"].error == "worker process died"
    assert not results["c"].ok and results["c"].error == "ValueError: bad values"
    for name in "adef":  # in flight with b or after it: retried, not failed
        assert results[name].ok and results[name].payload == {"ref": name}


def test_resume_redoes_records_made_with_other_settings(cohort, tmp_path):
    out = tmp_path / "out"
    preprocess_cohort(cohort, out, fs=100.0, save_windows=False)
    stamp = (out / "status" / "good_a.json").stat().st_mtime_ns
    preprocess_cohort(cohort, out, WindowConfig(window_s=10.0, hop_s=10.0), fs=100.0,
                      save_windows=False)
    assert (out / "status" / "good_a.json").stat().st_mtime_ns != stamp
    assert (pd.read_parquet(out / "records" / "good_a.parquet")["duration_s"] == 10.0).all()
