"""notebooks/quickstart.py: runs end to end at tiny size, writes what it shows, is a notebook.

The notebook is executed as a plain Python script (jupytext percent cells are comments), the
way a user may also run it; its environment parameters shrink it to the first minute of the
sample record and 50 posterior draws per window.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pandas as pd
import pytest

from cardiosbi.default_models import model_card
from tests.notebooks.percent_format import checked_prose

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "quickstart.py"
SECONDS = 60
WINDOW_S = 8
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> tuple[Path, str]:
    """The notebook run once at tiny size: (its output folder, its printed output)."""
    out = tmp_path_factory.mktemp("quickstart")
    env = os.environ | {
        "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "CARDIOSBI_NB_OUT": str(out),
        "CARDIOSBI_NB_SAMPLES": "50", "CARDIOSBI_NB_SECONDS": str(SECONDS),
        "CARDIOSBI_NB_SEED": "0",
    }
    env.pop("CARDIOSBI_NB_RECORD", None)  # the shipped sample record
    result = subprocess.run([sys.executable, str(NOTEBOOK)], env=env, capture_output=True,
                            text=True, timeout=300, cwd=NOTEBOOK.parents[1])
    assert result.returncode == 0, f"notebook failed:\n{result.stdout}\n{result.stderr}"
    return out, result.stdout


def test_writes_every_figure_as_png(executed):
    out, _stdout = executed
    figures = sorted(out.glob("*.png"))
    assert {p.name for p in figures} == {"raw_signals.png", "posteriors_over_time.png"}
    for path in figures:
        assert path.read_bytes().startswith(PNG_MAGIC), path
        height, width, _channels = matplotlib.image.imread(path).shape
        assert height > 200 and width > 400, (path, height, width)


def test_tables_cover_the_cropped_minute_for_both_models(executed):
    out, _stdout = executed
    n_windows = (SECONDS - WINDOW_S) // WINDOW_S + 1
    for name in ("apw", "ppg"):
        quality = pd.read_csv(out / f"quality_{name}.csv")
        estimates = pd.read_csv(out / f"estimates_{name}.csv")
        assert len(quality) == n_windows
        assert quality["start_s"].max() + WINDOW_S <= SECONDS
        accepted = set(quality.loc[quality["accepted"], "start_s"])
        assert accepted, name
        assert set(estimates.dropna(subset=["parameter"])["start_s"]) == accepted
        inferred = set(estimates["parameter"].dropna())
        assert {"hr", "sv", "co"} <= inferred and any(p.startswith("map") for p in inferred)


def test_apw_heart_rate_within_10_bpm_of_ecg(executed):
    out, _stdout = executed
    estimates = pd.read_csv(out / "estimates_apw.csv")
    quality = pd.read_csv(out / "quality_apw.csv")
    hr = estimates[estimates["parameter"] == "hr"].merge(
        quality[["start_s", "hr_ecg"]], on="start_s").dropna(subset=["hr_ecg"])
    assert len(hr) >= 5  # v136s's first minute is clean: nearly every window is compared
    assert (hr["median"] - hr["hr_ecg"]).abs().max() <= 10.0, hr[["start_s", "median", "hr_ecg"]]


def test_prints_the_model_cards_limits(executed):
    _out, stdout = executed
    card = model_card().splitlines()
    heading = next(i for i, line in enumerate(card)
                   if line.startswith("#") and "limit" in line.lower())
    body = next(line for line in card[heading + 1:] if line.strip())
    assert card[heading] in stdout and body in stdout


def test_converts_to_a_valid_notebook():
    prose = checked_prose(NOTEBOOK, markdown=6, code=6)
    assert "cardiosbi infer" in prose and "cardiosbi report" in prose
