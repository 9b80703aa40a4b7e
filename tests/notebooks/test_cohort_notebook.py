"""notebooks/cohort.py: a retrospective cohort, run end to end at tiny size.

The cohort is a folder of two real 300-s ICU records (the shipped sample v136s and the test
record v292s) and one unreadable record; 50 posterior draws per window. Checked: the notebook
runs `cardiosbi infer` and its re-run reuses every record, writes the per-window and per-record
tables as Parquet consistent with the run folder, keeps the failed record with its reason, and
writes every cohort figure and one trend plot per record.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pandas as pd
import pytest

from cardiosbi.default_models import load_default_posterior
from tests.notebooks.percent_format import checked_prose

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "cohort.py"
RECORDS = ("v136s", "v292s")
N_WINDOWS = 37  # 300 s in 8-s windows
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> tuple[Path, Path, str]:
    """The notebook run once on the tiny cohort: (run folder, output folder, printed output)."""
    base = tmp_path_factory.mktemp("cohort")
    cohort = base / "records"
    cohort.mkdir()
    for source in (REPO / "cardiosbi" / "assets" / "samples" / "v136s",
                   REPO / "tests" / "data" / "real" / "v292s"):
        for suffix in (".hea", ".mat"):
            shutil.copy(source.with_suffix(suffix), cohort)
    (cohort / "broken.hea").write_text("not a WFDB header\n")
    run, out = base / "run", base / "out"
    env = os.environ | {
        "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "CARDIOSBI_NB_COHORT": str(cohort),
        "CARDIOSBI_NB_RUN": str(run), "CARDIOSBI_NB_OUT": str(out),
        "CARDIOSBI_NB_SAMPLES": "50", "CARDIOSBI_NB_WORKERS": "1",
        "CARDIOSBI_NB_TRENDS_SHOWN": "1", "CARDIOSBI_NB_SEED": "0",
    }
    result = subprocess.run([sys.executable, str(NOTEBOOK)], env=env, capture_output=True,
                            text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, f"notebook failed:\n{result.stdout}\n{result.stderr}"
    return run, out, result.stdout


def test_infer_run_is_resumed_without_redoing_a_record(executed):
    run, _out, stdout = executed
    assert {p.name for p in run.iterdir() if p.is_dir()} == {"apw", "hybrid"}
    assert "re-run took" in stdout
    assert f"{2 * len(RECORDS)} of {2 * len(RECORDS)} record estimates reused untouched" in stdout


def test_window_table_has_every_window_of_every_model_and_record(executed):
    _run, out, _stdout = executed
    windows = pd.read_parquet(out / "windows.parquet")
    assert set(windows["model"]) == {"apw", "hybrid"}
    assert set(windows["record"]) == set(RECORDS)
    per_record = windows.groupby(["model", "record"])["window"].nunique()
    assert (per_record == N_WINDOWS).all(), per_record
    rejected = windows[~windows["accepted"]]
    assert rejected["parameter"].isna().all() and rejected["reason"].str.len().gt(0).all()
    training = load_default_posterior("hybrid").training
    trained = {*training["train_records"], *training["val_records"]}
    hybrid = windows[windows["model"] == "hybrid"]
    assert (hybrid["in_sample"] == hybrid["record"].isin(trained)).all()
    assert not windows.loc[windows["model"] == "apw", "in_sample"].any()


def test_record_table_matches_the_run_and_keeps_the_failed_record(executed):
    run, out, _stdout = executed
    records = pd.read_parquet(out / "records.parquet")
    for model in ("apw", "hybrid"):
        own = records[records["model"] == model].drop_duplicates("record").set_index("record")
        summary = pd.read_csv(run / model / "preprocess" / "summary.csv").set_index("record")
        assert set(own.index) == {*RECORDS, "broken"}
        assert own.loc["broken", "record_status"] == summary.loc["broken", "status"] != "ok"
        assert own.loc["broken", "record_reason"]
        for record in RECORDS:
            assert own.loc[record, "acceptance_rate"] == pytest.approx(
                summary.loc[record, "acceptance_rate"])
    hr = records[(records["model"] == "apw") & (records["parameter"] == "hr")]
    assert len(hr) == len(RECORDS)
    assert (hr["mae"] < 5.0).all() and hr["coverage90"].between(0, 1).all()  # bpm vs the ECG


def test_cohort_summary_separates_circular_checks(executed):
    _run, out, _stdout = executed
    summary = pd.read_csv(out / "cohort_summary.csv")
    apw = summary[summary["model"] == "apw"].set_index("parameter")
    assert apw.loc["hr", "check"] == "independent"
    assert apw.loc["map_radial", "check"].startswith("circular")
    assert (summary["windows"] > 0).all() and summary["coverage90"].between(0, 1).all()


def test_writes_cohort_figures_and_a_trend_plot_per_record(executed):
    _run, out, _stdout = executed
    figures = [out / f"{name}.png" for name in
               ("records_vs_reference", "acceptance_rate", "error_vs_width")]
    figures += [out / "trends" / f"{record}.png" for record in RECORDS]
    assert sorted((out / "trends").iterdir()) == sorted(figures[3:])
    for path in figures:
        assert path.read_bytes().startswith(PNG_MAGIC), path
        height, width, _channels = matplotlib.image.imread(path).shape
        assert height > 200 and width > 400, (path, height, width)


def test_converts_to_a_valid_notebook():
    prose = checked_prose(NOTEBOOK, markdown=8, code=8)
    assert "cardiosbi infer" in prose and "cardiosbi report" in prose and "Parquet" in prose
