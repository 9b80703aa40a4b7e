"""The full shared real-data set (25 CinC records + 2 wfdb samples); slow, skipped if absent."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from cardiosbi.signals.cohort import preprocess_cohort
from tests.conftest import SHARED_DATA

REAL = SHARED_DATA / "real"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not REAL.is_dir(), reason="../shared/data/real not present")]


@pytest.fixture(scope="module")
def cohort_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("shared_cohort")
    summary = preprocess_cohort(REAL, out, workers=2)
    return out, summary


def test_every_waveform_record_is_processed_and_the_index_csv_fails_alone(cohort_run):
    out, summary = cohort_run
    failed = summary[summary["status"] == "failed"]
    assert list(failed["record"]) == ["cinc2015_vtach__index"]
    assert "sampling rate" in failed["reason"].iloc[0]
    assert (summary["status"] == "ok").sum() == 27
    totals = json.loads((out / "summary.json").read_text())
    assert totals["acceptance_rate"] > 0.5


def test_ppg_hr_matches_ecg_hr_over_the_whole_set(cohort_run):
    out, summary = cohort_run
    tables = [pd.read_parquet(out / "records" / f"{r}.parquet")
              for r in summary.loc[summary["status"] == "ok", "record"]]
    table = pd.concat(tables, ignore_index=True)
    accepted = table[table["accepted"] & table["hr_ecg"].notna()]
    errors = (accepted["hr_ppg"] - accepted["hr_ecg"]).abs()
    assert len(accepted) > 400 and errors.mean() <= 1.0
    # ABP-derived HR agrees too: a third detector on a third channel.
    assert (accepted["hr_abp"] - accepted["hr_ecg"]).abs().mean() <= 1.0
