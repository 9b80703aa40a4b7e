"""notebooks/patient.py: one patient in depth, run end to end at tiny size on the shipped sample.

Executed as a plain script (jupytext percent cells are comments) with 50 posterior draws per
window: what it writes (figures, quality and estimate tables, the agreement with the monitor
and the trust table) and what it tells the reader (circular and in-sample checks) are checked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pandas as pd
import pytest

from cardiosbi.inference.validity import STATUSES
from tests.notebooks.percent_format import checked_prose

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "patient.py"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
N_WINDOWS = 37  # 300 s of v136s in 8-s windows


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> tuple[Path, str]:
    """The notebook run once at tiny size: (its output folder, its printed output)."""
    out = tmp_path_factory.mktemp("patient")
    env = os.environ | {"MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "CARDIOSBI_NB_OUT": str(out),
                        "CARDIOSBI_NB_SAMPLES": "50", "CARDIOSBI_NB_SEED": "0"}
    for name in ("CARDIOSBI_NB_RECORD", "CARDIOSBI_NB_WINDOW_START"):
        env.pop(name, None)  # the shipped sample, its first window both models accepted
    result = subprocess.run([sys.executable, str(NOTEBOOK)], env=env, capture_output=True,
                            text=True, timeout=300, cwd=NOTEBOOK.parents[1])
    assert result.returncode == 0, f"notebook failed:\n{result.stdout}\n{result.stderr}"
    return out, result.stdout


def test_writes_every_figure_as_png(executed):
    out, _stdout = executed
    names = {p.name for p in out.glob("*.png")}
    assert names == {"quality.png", "posteriors_over_time.png", "window_draws.png"}
    for name in names:
        path = out / name
        assert path.read_bytes().startswith(PNG_MAGIC), path
        height, width, _channels = matplotlib.image.imread(path).shape
        assert height > 300 and width > 600, (path, height, width)


def test_quality_and_estimates_cover_every_window_of_both_models(executed):
    out, stdout = executed
    for name in ("apw", "hybrid"):
        quality = pd.read_csv(out / f"quality_{name}.csv")
        assert len(quality) == N_WINDOWS
        accepted = quality[quality["accepted"]]
        assert 0 < len(accepted) < N_WINDOWS  # v136s has irregular stretches on both channels
        assert quality.loc[~quality["accepted"], "reason"].notna().all()
        estimates = pd.read_csv(out / f"estimates_{name}.csv").dropna(subset=["parameter"])
        assert set(estimates["start_s"]) == set(accepted["start_s"])
        assert f"{name} (reads" in stdout and f"{len(accepted)} of {N_WINDOWS}" in stdout
    assert "rejected for irregular beats (ABP)" in stdout


def test_agreement_says_which_checks_are_circular(executed):
    out, _stdout = executed
    scores = pd.read_csv(out / "agreement.csv").set_index(["reference", "estimator"])
    apw_hr = scores.loc[("HR vs ECG", "hr [apw] (posterior median)")]
    assert apw_hr["check"] == "independent"
    assert apw_hr["windows"] >= 15 and apw_hr["mean_abs_difference"] < 5.0  # bpm
    assert scores.loc[("MAP vs ABP", "map_radial [apw] (posterior median)"), "check"].startswith(
        "circular")
    assert scores.loc[("MAP vs ABP", "map_radial [hybrid] (posterior median)"),
                      "check"] == "independent"
    assert scores["coverage90"].between(0, 1).all()


def test_trust_table_accounts_for_every_estimate(executed):
    out, stdout = executed
    trust = pd.read_csv(out / "trust.csv")
    for name in ("apw", "hybrid"):
        estimates = pd.read_csv(out / f"estimates_{name}.csv").dropna(subset=["parameter"])
        own = trust[trust["model"] == name].set_index("biomarker")
        assert set(own.index) == set(estimates["parameter"])
        rejected = estimates[estimates["status"] == "rejected"].groupby("parameter").size()
        assert own["withheld"].to_dict() == rejected.reindex(own.index, fill_value=0).to_dict()
    assert set(trust["validity"]) <= set(STATUSES)
    # v136s is one of the hybrid's training records: its agreement there is no test
    assert "hybrid" in stdout.split("trained on this record: ", 1)[1].splitlines()[0]
    assert "in-sample: the model was trained on this record" in stdout
    assert "circular: the model reads this signal" in stdout
    assert "What each number can be trusted for" in stdout


def test_converts_to_a_valid_notebook():
    prose = checked_prose(NOTEBOOK, markdown=8, code=8)
    assert "circular" in prose and "What to trust" in prose
