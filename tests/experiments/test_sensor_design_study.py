"""experiments/sensor_design: the tiny run end to end, its resume, tables recomputed from the
rows, and settings that cannot work."""

from __future__ import annotations

import matplotlib.image
import pandas as pd
import pytest

from cardiosbi.errors import ConfigError
from cardiosbi.sensor_design import TARGETS
from tests.conftest import REPO_ROOT
from tests.experiments.study_scripts import imported_script

pytestmark = pytest.mark.usefixtures("one_torch_thread")

STUDY_DIR = REPO_ROOT / "experiments" / "sensor_design"
DESIGNS = ("green_3mm", "red_ir_3mm")
CELLS = 3 * 2 * 12  # skin tones x perfusion levels x n_per_cell (tiny.yaml)


@pytest.fixture(scope="module")
def study():
    with imported_script(STUDY_DIR) as module:
        yield module


@pytest.fixture(scope="module")
def ran(study, tmp_path_factory):
    out = tmp_path_factory.mktemp("sensor_design")
    return out, study.main(["tiny=true", f"out={out}"])


def test_tiny_run_writes_rows_table_figures_and_summary(ran):
    out, results = ran
    rows = results["rows"]
    for design in DESIGNS:
        own = rows[rows["design"] == design]
        assert len(own) == CELLS * 2 * len(TARGETS)  # x test noise floors x quantities
        assert (own["lo90"] <= own["median"]).all() and (own["median"] <= own["hi90"]).all()
    assert "snr_db_530" in rows and rows.loc[rows["design"] == "green_3mm", "snr_db_660"].isna().all()
    table = pd.read_csv(out / "identifiability.csv")
    assert len(table) == len(DESIGNS) * 3 * 2 * 2 * len(TARGETS)
    assert table["coverage90"].between(0, 1).all() and (table["relative_width"] > 0).all()
    for name in ("identifiability_low.png", "identifiability_normal.png", "pulse_snr.png"):
        height, width, _ = matplotlib.image.imread(out / name).shape
        assert height > 200 and width > 500, name
    summary = (out / "summary.md").read_text()
    assert all(f"| {d} |" in summary for d in DESIGNS) and "Fitzpatrick V-VI" in summary
    spo2 = pd.read_csv(out / "spo2_vs_ratio_of_ratios.csv")
    assert set(spo2["design"]) == {"red_ir_3mm"}  # green has no red/infrared pair
    assert len(spo2) == 3 * 2 * 2 and (spo2[["rmse_npe", "rmse_ratio_of_ratios"]] > 0).all().all()
    assert "ratio-of-ratios" in summary


def test_rerun_resumes_without_retraining_and_from_rows_matches(study, ran, capsys):
    out, results = ran
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "rows").iterdir()}
    study.main(["tiny=true", f"out={out}"])
    assert {p.name: p.stat().st_mtime_ns for p in (out / "rows").iterdir()} == stamps
    assert "rows," not in capsys.readouterr().out  # no design was trained again
    again = study.main(["tiny=true", f"out={out}", "from_rows=true"])
    pd.testing.assert_frame_equal(again["table"], results["table"])


def test_from_rows_without_rows_says_what_to_do(study, tmp_path):
    with pytest.raises(Exception, match="run without from_rows=true first"):
        study.main(["tiny=true", f"out={tmp_path}", "from_rows=true"])


@pytest.mark.parametrize(("argv", "message"), [
    (["colour=red"], "unknown config key"),
    (["summary_perfusion=high"], "summary_perfusion"),
    (["train_noise_floor=[1e-3,1e-7]"], "train_noise_floor"),
    (["designs={uv: {wavelengths_nm: [200]}}"], "coefficient tables"),
    (["n_draws=5"], "n_draws"),
    (["windows={fs: 50}"], "unknown config key"),
])
def test_bad_settings_fail_before_simulating(study, tmp_path, argv, message):
    with pytest.raises(ConfigError, match=message):
        study.main(["tiny=true", f"out={tmp_path}", *argv])
    assert not (tmp_path / "rows").exists()
