"""cardiosbi.report.cohort: an infer run folder read back as per-window and per-record tables.

The run folders are written by hand (the files ``cardiosbi infer`` writes), so every expected
number is known: window numbering, the reference joined to each biomarker, which checks are
circular, and the record-level error and coverage over the windows that were not rejected.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cardiosbi.errors import InputFileError
from cardiosbi.report.cohort import RECORD_COLUMNS, WINDOW_COLUMNS, record_table, window_table

# Record r1: three 8-s windows, the middle one rejected by the quality checks.
QUALITY = pd.DataFrame({
    "record": "r1", "window": [0, -1, 1], "start_s": [0.0, 8.0, 16.0], "duration_s": 8.0,
    "accepted": [True, False, True], "reason": ["", "irregular_beats:abp", ""],
    "hr_ecg": [60.0, 61.0, np.nan], "hr_ppg": [59.0, 60.0, 70.0], "hr_abp": [60.0, 61.0, 71.0],
    "map_abp": [90.0, 91.0, 80.0], "sbp_abp": 120.0, "dbp_abp": 70.0,
})


def estimate_rows(window: int, start_s: float, hr: tuple, map_: tuple) -> list[dict]:
    """Two biomarkers of one window: (median, low, high, status) each."""
    rows = []
    for parameter, unit, (median, low, high, status), validity in (
            ("hr", "bpm", hr, "validated"), ("map_radial", "mmHg", map_, "validated")):
        rows.append({"record": "r1", "window": window, "start_s": start_s, "duration_s": 8.0,
                     "accepted": True, "reason": "", "parameter": parameter, "unit": unit,
                     "median": median, "ci90_low": low, "ci90_high": high,
                     "width90": high - low, "reject": status == "rejected",
                     "reject_reason": "interval too wide" if status == "rejected" else "",
                     "validity": validity, "validity_note": "", "status": status})
    return rows


ESTIMATES = pd.DataFrame(
    estimate_rows(0, 0.0, (62.0, 58.0, 66.0, "ok"), (85.0, 80.0, 88.0, "ok"))
    + [{"record": "r1", "window": -1, "start_s": 8.0, "duration_s": 8.0, "accepted": False,
        "reason": "irregular_beats:abp"}]
    # window 2: the ECG is missing (HR falls back to the PPG beat rate) and MAP is rejected
    + estimate_rows(1, 16.0, (69.0, 60.0, 72.0, "ok"), (10.0, 0.0, 200.0, "rejected")))


def write_run(folder: Path, posterior: str = "apw") -> Path:
    """A single-model infer run with record r1 (estimated) and r2 (failed to load)."""
    (folder / "preprocess" / "records").mkdir(parents=True)
    (folder / "estimates").mkdir()
    (folder / "config.yaml").write_text(f"posterior: {posterior}\n")
    (folder / "run.json").write_text(json.dumps({"command": "infer"}))
    pd.DataFrame({"record": ["r1", "r2"], "source": ["r1.hea", "r2.hea"],
                  "status": ["ok", "failed"], "reason": ["", "unreadable header"]}).to_csv(
        folder / "preprocess" / "summary.csv", index=False)
    QUALITY.to_csv(folder / "preprocess" / "records" / "r1.csv", index=False)
    ESTIMATES.to_csv(folder / "estimates" / "r1.csv", index=False)
    return folder


@pytest.fixture
def run(tmp_path) -> Path:
    return write_run(tmp_path / "run")


def test_window_table_has_every_window_and_its_reference(run):
    table = window_table(run)
    assert list(table.columns) == WINDOW_COLUMNS
    assert set(table["model"]) == {"apw"}  # named after the run's posterior
    assert sorted(table["window"].unique()) == [0, 1, 2]  # place in the record, not run count
    rejected = table[table["start_s"] == 8.0]
    assert len(rejected) == 1 and rejected["parameter"].isna().all()
    assert rejected["reason"].iloc[0] == "irregular_beats:abp"
    rows = table.set_index(["window", "parameter"])
    assert rows.loc[(0, "hr"), "reference"] == 60.0
    assert rows.loc[(0, "hr"), "check"] == "independent"  # the ECG: no model reads it
    # No ECG in window 2: the fallback is the PPG beat rate, which apw does not read.
    assert rows.loc[(2, "hr"), "reference"] == 70.0
    assert rows.loc[(2, "hr"), "reference_source"] == "HR vs PPG beat rate"
    assert rows.loc[(0, "map_radial"), "reference"] == 90.0
    assert rows.loc[(0, "map_radial"), "check"].startswith("circular")  # apw reads the ABP


def test_record_table_scores_only_windows_that_were_not_rejected(run):
    table = record_table(run)
    assert list(table.columns) == RECORD_COLUMNS
    r1 = table[table["record"] == "r1"].set_index("parameter")
    assert (r1["windows"] == 3).all() and (r1["windows_accepted"] == 2).all()
    assert r1["acceptance_rate"].iloc[0] == pytest.approx(2 / 3)
    hr = r1.loc["hr"]
    assert hr["windows_used"] == 2 and hr["windows_compared"] == 2
    assert hr["median"] == pytest.approx(65.5)
    assert hr["mae"] == pytest.approx((2.0 + 1.0) / 2)
    assert hr["coverage90"] == pytest.approx(1.0)
    map_ = r1.loc["map_radial"]  # window 2's MAP is rejected: only window 0 counts
    assert map_["windows_used"] == 1 and map_["median"] == 85.0
    assert map_["mae"] == pytest.approx(5.0) and map_["coverage90"] == 0.0
    assert map_["check"].startswith("circular")


def test_failed_record_keeps_one_row_with_its_reason(run):
    failed = record_table(run).query("record == 'r2'")
    assert len(failed) == 1
    assert failed["record_status"].iloc[0] == "failed"
    assert failed["record_reason"].iloc[0] == "unreadable header"
    assert pd.isna(failed["parameter"].iloc[0]) and failed["windows"].iloc[0] == 0


def test_multi_model_run_has_one_block_per_model(tmp_path):
    for name in ("apw", "hybrid"):
        write_run(tmp_path / "cohort" / name, posterior="default")
    pd.DataFrame({"record": ["r1"]}).to_csv(tmp_path / "cohort" / "summary.csv", index=False)
    table = window_table(tmp_path / "cohort")
    assert set(table["model"]) == {"apw", "hybrid"}
    checks = table[table["parameter"] == "map_radial"].groupby("model")["check"].first()
    # The hybrid reads the PPG only, so the arterial line checks it independently.
    assert checks["apw"].startswith("circular") and checks["hybrid"] == "independent"
    records = record_table(tmp_path / "cohort")
    assert len(records.query("model == 'hybrid' and record == 'r1'")) == 2


def test_a_folder_that_is_no_run_is_one_clear_error(tmp_path):
    with pytest.raises(InputFileError, match="not a `cardiosbi infer` output folder"):
        window_table(tmp_path)
