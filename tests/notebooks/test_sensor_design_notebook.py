"""notebooks/sensor_design.py: two designs compared end to end at tiny size."""

from __future__ import annotations

import os
import subprocess
import sys

import matplotlib.image
import pandas as pd
import pytest

from cardiosbi.sensor_design import SKIN_TONES, TARGETS
from tests.conftest import REPO_ROOT
from tests.notebooks.percent_format import checked_prose

NOTEBOOK = REPO_ROOT / "notebooks" / "sensor_design.py"
DESIGNS = {"green_2mm", "red_ir_3.5mm"}


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    out = tmp_path_factory.mktemp("sensor_design_nb")
    env = os.environ | {
        "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "CARDIOSBI_NB_TRAIN": "300",
        "CARDIOSBI_NB_PER_CELL": "10", "CARDIOSBI_NB_EPOCHS": "2", "CARDIOSBI_NB_SAMPLES": "40",
        "CARDIOSBI_NB_OUT": str(out), "CARDIOSBI_NB_SEED": "0",
    }
    result = subprocess.run([sys.executable, str(NOTEBOOK)], env=env, capture_output=True, text=True,
                            timeout=300, cwd=REPO_ROOT)
    assert result.returncode == 0, f"notebook failed:\n{result.stdout}\n{result.stderr}"
    return out, result.stdout


def test_table_covers_both_designs_every_skin_tone_noise_and_quantity(executed):
    out, _stdout = executed
    table = pd.read_csv(out / "identifiability.csv")
    assert set(table["design"]) == DESIGNS and set(table["skin_tone"]) == set(SKIN_TONES)
    assert set(table["target"]) == set(TARGETS) and table["noise_floor"].nunique() == 2
    assert (table["windows"] == 10).all()
    assert table["coverage90"].between(0, 1).all() and (table["relative_width"] > 0).all()


def test_writes_figures_and_the_printed_summary(executed):
    out, stdout = executed
    for name in ("recorded_windows", "pulse_snr", "identifiability_normal", "one_subject"):
        height, width, _ = matplotlib.image.imread(out / f"{name}.png").shape
        assert height > 200 and width > 500, name
    summary = (out / "summary.md").read_text()
    assert summary.splitlines()[0] in stdout and all(f"| {d} |" in summary for d in DESIGNS)


def test_converts_to_a_valid_notebook():
    prose = checked_prose(NOTEBOOK, markdown=7, code=8)
    assert "experiments/sensor_design/study.py" in prose and "identifiable" in prose
