"""The quickstart's printed tables: a flagged number cannot pass for a sound one, runs written
before infer recorded validity still read, and a circular check says so."""

from __future__ import annotations

import pandas as pd
from rich.console import Console

from cardiosbi.cli.quickstart import (
    SUMMARY_COLUMNS,
    _check,
    agreement_table,
    flag_reasons,
    record_summary,
    summary_table,
)
from cardiosbi.utils.paths import sample_record

UNVALIDATED = "not validated on real data (in silico only): LVET was never compared with a reference"
ALL_REJECTED = "all 30 windows rejected (most often: interval too wide; at prior bound (median 349 ms))"


def _render(table) -> str:
    console = Console(width=200, record=True)
    console.print(table)
    return console.export_text()


def _summary(**columns) -> pd.DataFrame:
    base = {"model": ["apw", "apw", "hybrid"], "record": "v136s", "parameter": ["hr", "lvet", "co"],
            "unit": ["bpm", "ms", "L/min"], "median": [81.25, 349.6, float("nan")],
            "ci90_low": [76.0, 310.0, float("nan")], "ci90_high": [86.0, 350.0, float("nan")],
            "windows": [30, 2, 0]}
    return pd.DataFrame({**base, **columns})


def test_flagged_rows_are_bracketed_or_withheld_with_their_reasons():
    summary = _summary(validity=["validated", "in silico only", "validated"],
                       flag=["", f"{UNVALIDATED}; only 2 windows (< 3)", ALL_REJECTED])
    text = _render(summary_table(summary, "v136s"))
    lines = {line.split("│")[2].strip(): line for line in text.splitlines() if line.count("│") > 6}
    assert "81.25" in lines["hr"] and "[" not in lines["hr"]  # sound: shown plainly
    assert "[349.6]" in lines["lvet"] and "[310 – 350]" in lines["lvet"] and "a,b" in lines["lvet"]
    assert "withheld" in lines["co"] and "nan" not in lines["co"] and " c " in lines["co"]
    footnotes = " ".join(text.split())
    assert f"a: {UNVALIDATED}" in footnotes and "b: only 2 windows (< 3)" in footnotes
    assert f"c: {ALL_REJECTED}" in footnotes  # the reason quoting "a; b" stays one footnote
    assert "[brackets] / withheld" in footnotes


def test_an_unflagged_table_has_no_footnotes():
    text = _render(summary_table(_summary(median=[81.25, 300.0, 5.0], flag=["", "", ""],
                                          validity=["validated"] * 3), "v136s"))
    assert "[" not in text and "withheld" not in text


def test_runs_without_validity_columns_read_as_validated(tmp_path):
    _summary().drop(columns="model").to_csv(tmp_path / "summary.csv", index=False)
    summary = record_summary(tmp_path, "scratch")
    assert list(summary.columns) == SUMMARY_COLUMNS
    assert set(summary["validity"]) == {"validated"} and set(summary["flag"]) == {""}
    assert set(summary["model"]) == {"scratch"}


def test_empty_flags_read_back_from_csv_as_blank(tmp_path):
    # an all-empty text column reads back from CSV as NaN: it must not print as a reason "nan"
    _summary(validity="validated", flag="").to_csv(tmp_path / "summary.csv", index=False)
    summary = record_summary(tmp_path, "apw")
    assert set(summary["flag"]) == {""}


def test_flag_reasons_split_only_at_the_top_level():
    assert flag_reasons(f"{UNVALIDATED}; {ALL_REJECTED}") == [UNVALIDATED, ALL_REJECTED]
    assert flag_reasons("") == [] and flag_reasons(" ; ") == []


def test_a_pressure_check_of_the_pressure_model_is_marked_circular():
    assert _check("abp", frozenset({"abp"})) == "circular (model reads ABP)"
    assert _check("abp", frozenset({"ppg"})) == "independent"
    assert _check("ecg", frozenset({"abp"})) == "independent"
    assert _check("abp", None).startswith("possibly circular")
    agreement = pd.DataFrame([{"comparison": "MAP vs ABP", "estimate": "apw posterior",
                               "check": _check("abp", frozenset({"abp"})), "windows": 20,
                               "mean_abs_difference": 3.0, "bias": 1.0,
                               "reference_inside_90": 0.9}])
    assert "circular (model reads ABP)" in _render(agreement_table(agreement))


def test_the_sample_record_is_package_data():
    record = sample_record()
    assert record.parent.parts[-2:] == ("assets", "samples")
    assert record.with_suffix(".hea").is_file() and record.with_suffix(".mat").is_file()
    assert (record.parent / "README.md").read_text().count("PhysioNet") >= 2
