"""The HAI study at tiny size: it runs, writes tidy rows and a table rebuildable from them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

STUDY = Path(__file__).resolve().parents[2] / "experiments" / "hai" / "study.py"


def test_tiny_study_writes_rows_and_a_rebuildable_table(tmp_path):
    spec = importlib.util.spec_from_file_location("hai_study", STUDY)
    study = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(study)
    table = study.main(["--tiny", "--out", str(tmp_path)])
    rows = pd.read_csv(tmp_path / "rows.csv")
    assert set(rows.method) == {"hai", "simulation_only", "real_only"}
    assert rows.pearson_r.between(-1, 1).all() and rows.coverage90.between(0, 1).all()
    pd.testing.assert_frame_equal(study.summary_table(rows).reset_index(drop=True),
                                  table.reset_index(drop=True), check_dtype=False)
    assert (tmp_path / "estimate_vs_truth.png").stat().st_size > 0
