"""The CV-SBI 2023 study (experiments/cv_sbi_2023/study.py) and the Sobol wrapper
(cardiosbi/diagnostics/sensitivity.py): coverage and Sobol indices on cases with known answers,
then the study end to end at tiny size (Windkessel), its tables recomputed from its raw rows."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from cardiosbi.diagnostics.sensitivity import run_sobol, sobol_design
from cardiosbi.errors import ConfigError
from tests.conftest import REPO_ROOT
from tests.experiments.study_scripts import imported_script

pytestmark = pytest.mark.usefixtures("one_torch_thread")

STUDY_DIR = REPO_ROOT / "experiments" / "cv_sbi_2023"


@pytest.fixture(scope="module")
def study():
    with imported_script(STUDY_DIR) as module:
        yield module


@pytest.mark.parametrize("level", [0.5, 0.9])
def test_coverage_of_calibrated_intervals_is_the_level_and_biased_ones_fall_short(study, level):
    rng = np.random.default_rng(3)
    n = 5000
    truth = rng.normal(size=n)
    z = norm.ppf(0.5 + level / 2)
    got = study.coverage(truth, np.full(n, -z), np.full(n, z))
    assert abs(got - level) < 4 * math.sqrt(level * (1 - level) / n)
    assert study.coverage(truth + 1.0, np.full(n, -z), np.full(n, z)) < level - 0.1
    with pytest.raises(ValueError, match="no intervals"):
        study.coverage([], [], [])


def test_sobol_indices_of_an_additive_model_match_the_analytic_values():
    # y = a + 2 b with a, b ~ U(0, 1): Var = 1/12 + 4/12, S_a = 0.2, S_b = 0.8, no interaction;
    # c does not enter y (index ~0)
    table = run_sobol(["a", "b", "c"], [0, 0, 1], [1, 1, 10], [False, False, True],
                      lambda p: {"y": p["a"] + 2 * p["b"]}, n=1024, seed=0).set_index("parameter")
    assert table.loc["a", "S1"] == pytest.approx(0.2, abs=0.03)
    assert table.loc["b", "ST"] == pytest.approx(0.8, abs=0.03)
    assert abs(table.loc["c", "ST"]) < 0.01


def test_sobol_design_respects_log_bounds_and_rejects_bad_settings():
    _, points = sobol_design(["x", "k"], [0.0, 1e2], [1.0, 1e4], [False, True], 64, seed=1)
    assert points.shape == (64 * 4, 2)
    assert points[:, 1].min() >= 1e2 and points[:, 1].max() <= 1e4
    assert np.median(np.log10(points[:, 1])) == pytest.approx(3.0, abs=0.2)   # uniform in log
    with pytest.raises(ConfigError, match="power of two"):
        sobol_design(["x"], [0.0], [1.0], [False], 100, seed=0)
    with pytest.raises(ConfigError, match="low > 0"):
        sobol_design(["x"], [0.0], [1.0], [True], 64, seed=0)


def test_clusters_find_the_parameter_that_drives_wide_posteriors(study):
    # widths of every biomarker grow with θ "stiff" and ignore θ "noise": two clusters, split by it
    rng = np.random.default_rng(0)
    n = 200
    stiff = np.r_[np.zeros(n // 2), np.ones(n // 2)] + rng.normal(0, 0.1, n)
    subjects = pd.DataFrame({"subject": np.arange(n), "split": "test", "ok": True,
                             "theta_stiff": stiff, "theta_noise": rng.normal(size=n),
                             "label_hr": rng.uniform(50, 100, n)})
    spread = study.prior_spread(subjects.assign(split="train"), ["hr"])
    width = np.where(stiff > 0.5, 20.0, 2.0) * rng.lognormal(0, 0.05, n)
    rows = pd.DataFrame({"subject": subjects["subject"], "biomarker": "hr", "modality": "m",
                         "snr_db": 40.0, "truth": 70.0, "ci90_low": 70 - width / 2,
                         "ci90_high": 70 + width / 2})
    portrait, assignment = study.clusters(rows, subjects, spread, 2, seed=0)
    assert portrait["size"].tolist() == [n // 2, n // 2]
    assert portrait["drivers"].str.startswith("stiff").all()
    assert portrait["z_stiff"].iloc[0] < -0.9 < 0.9 < portrait["z_stiff"].iloc[1]   # narrow first


def test_config_errors(study):
    with pytest.raises(ConfigError, match="unknown config key"):
        study.load_config(["n_subjectz=10"])
    with pytest.raises(ConfigError, match="biomarkers"):
        study.load_config(["biomarkers=[spo2]"])
    with pytest.raises(ConfigError, match="preset"):
        study.load_config(["preset=nonexistent"])
    assert set(study.load_config(["tiny=true"]).modalities) == {"aortic_pressure", "aortic_volume_ppg"}


def test_tiny_study_runs_and_its_tables_come_back_from_the_rows(study, tmp_path):
    result = study.main(["tiny=true", f"out={tmp_path}", "threads=1"])
    table = result["summary"]
    assert len(table) == 2 * 2 * 4            # modalities x noise levels x biomarkers
    assert table["cov90"].between(0, 1).all() and (table["width90"] > 0).all()
    assert {"rows.csv.gz", "subjects.csv.gz", "sobol.csv", "summary.csv", "clusters.csv",
            "results.md", "width_coverage_heatmap.png", "sobol_vs_contraction.png",
            "cluster_portrait.png"} <= {p.name for p in tmp_path.iterdir()}
    sobol = result["sobol"].set_index(["output", "parameter"])
    # the beat period is 60 / HR: HR carries (nearly) all of its variance (N = 16: loose bound)
    period = sobol.loc["period"]
    assert period["S1"].idxmax() == "hr" and period.loc["hr", "S1"] > 0.7
    again = study.main(["tiny=true", f"out={tmp_path}", "from_rows=true"])
    pd.testing.assert_frame_equal(table, again["summary"])
    pd.testing.assert_frame_equal(result["clusters"], again["clusters"])
