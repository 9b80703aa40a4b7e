"""Per-record summaries of `cardiosbi infer` for records without usable windows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cardiosbi.estimate import record_summary


def test_record_without_accepted_windows_summarises_to_zero_windows():
    table = pd.DataFrame({"record": ["r", "r"], "window": [-1, -1], "start_s": [0.0, 8.0],
                          "duration_s": [8.0, 8.0], "accepted": [False, False],
                          "reason": ["flat:abp", "flat:abp"], "parameter": [np.nan, np.nan]})
    summary = record_summary("r", table)
    assert summary["windows"].tolist() == [0] and summary["record"].tolist() == ["r"]


def test_rejected_estimates_are_left_out_of_the_summary():
    table = pd.DataFrame({"record": "r", "window": [0, 0, 1, 1], "accepted": True,
                          "parameter": ["hr", "sv", "hr", "sv"], "unit": ["bpm", "mL"] * 2,
                          "median": [70.0, 60.0, 80.0, 90.0], "ci90_low": [60.0, 40, 70, 50],
                          "ci90_high": [80.0, 80, 90, 130], "reject": [False, False, False, True]})
    summary = record_summary("r", table).set_index("parameter")
    assert summary.loc["hr", "windows"] == 2 and summary.loc["hr", "median"] == 75.0
    assert summary.loc["sv", "windows"] == 1 and summary.loc["sv", "median"] == 60.0


def test_summary_flags_thin_evidence_unvalidated_biomarkers_and_all_rejected():
    table = pd.DataFrame({
        "record": "r", "window": [0, 0, 0, 1, 1, 1, 2, 2, 2], "accepted": True,
        "parameter": ["hr", "sv", "lvet"] * 3, "unit": ["bpm", "mL", "ms"] * 3,
        "median": [70.0, 60, 390, 71, 61, 395, 72, 62, 399],
        "ci90_low": 0.0, "ci90_high": 1.0,
        "reject": [False, False, True, False, True, True, False, True, True],
        "reject_reason": ["", "", "at prior bound", "", "interval too wide", "at prior bound",
                          "", "interval too wide", "at prior bound"],
        "validity": ["validated", "in silico only", "known bias"] * 3,
        "validity_note": ["", "no real label", "near the prior edge"] * 3,
    })
    summary = record_summary("r", table).set_index("parameter")
    assert summary.loc["hr", "flag"] == "" and summary.loc["hr", "windows"] == 3
    assert "only 1 window (< 3)" in summary.loc["sv", "flag"]
    assert "not validated on real data (in silico only): no real label" in summary.loc["sv", "flag"]
    assert np.isnan(summary.loc["lvet", "median"])
    assert "all 3 windows rejected (most often: at prior bound)" in summary.loc["lvet", "flag"]
    assert summary.loc["lvet", "windows_rejected"] == 3
