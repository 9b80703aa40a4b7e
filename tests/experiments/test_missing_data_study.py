"""The missing-data study (experiments/missing_data/study.py): metrics, safe fraction, tiny run.

The metrics are checked on inputs whose answer is known (the gap generator and the clipping
detector in tests/measurement/test_gaps.py); the study runs end to end at tiny size and its
tables are recomputed from its raw rows.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from cardiosbi.errors import ConfigError
from tests.conftest import REPO_ROOT
from tests.experiments.study_scripts import imported_script

pytestmark = pytest.mark.usefixtures("one_torch_thread")

STUDY_DIR = REPO_ROOT / "experiments" / "missing_data"


@pytest.fixture(scope="module")
def study():
    with imported_script(STUDY_DIR) as module:
        yield module


def test_strategy_inputs(study):
    x = np.array([[1.0, np.nan, np.nan, 4.0]])
    assert np.isnan(study.strategy_input("mask", x, 9.0)).sum() == 2
    assert study.strategy_input("zero_fill", x, 9.0).tolist() == [[1.0, 9.0, 9.0, 4.0]]
    assert study.strategy_input("interpolate", x, 9.0).tolist() == [[1.0, 2.0, 3.0, 4.0]]


def calibrated_rows(n: int, shift: float, seed: int = 0) -> pd.DataFrame:
    """Rows of a posterior N(m, 1) with truth ~ N(m + shift, 1): calibrated when shift is 0."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(shift, 1.0, n)
    z = norm.ppf(0.95)
    return pd.DataFrame({"seed": 0, "strategy": "mask", "pattern": "dropout", "fraction": 0.0,
                         "parameter": "hr", "window": np.arange(n), "truth": truth,
                         "median": 0.0, "ci90_low": -z, "ci90_high": z, "pit": norm.cdf(truth),
                         "width_flag": False, "estimated": True, "detected_fraction": 0.0})


def test_metrics_of_a_calibrated_posterior(study):
    n = 4000
    table = study.metrics(calibrated_rows(n, 0.0), {"hr": 10.0})
    r = table.iloc[0]
    se = math.sqrt(0.9 * 0.1 / n)
    assert abs(r["cov90"] - 0.9) < 4 * se
    assert abs(r["acauc"]) < 4 * math.sqrt(1 / 12 / n)     # |2U - 1| has variance 1/3
    assert r["nmae"] == pytest.approx(norm.ppf(0.75) / 10.0, rel=0.08)
    shifted = study.metrics(calibrated_rows(n, 1.5), {"hr": 10.0}).iloc[0]
    assert shifted["cov90"] < 0.8 and shifted["acauc"] > 0.1   # overconfident when biased


def summary_row(strategy, pattern, fraction, parameter, nmae, cov90):
    return {"strategy": strategy, "pattern": pattern, "fraction": fraction,
            "parameter": parameter, "nmae_mean": nmae, "cov90_mean": cov90}


def test_safe_fraction_is_the_last_fraction_before_the_first_failure(study):
    cfg = study.StudyConfig()
    rows = [summary_row("interpolate", "dropout", 0.0, "all", 0.10, 0.9)]
    # (fraction, error, coverage): 20 % fails on coverage, 30 % would pass again
    for fraction, error, coverage in [(0.0, 0.10, 0.90), (0.05, 0.105, 0.89), (0.1, 0.109, 0.88),
                                      (0.2, 0.12, 0.80), (0.3, 0.10, 0.90)]:
        for pattern in ("dropout", "clipped"):
            rows += [summary_row("mask", pattern, fraction, p, error, coverage)
                     for p in ("hr", "sv")]
            rows.append(summary_row("mask", pattern, fraction, "all", error, coverage))
    safe, checks = study.safe_fraction(pd.DataFrame(rows), cfg)
    assert safe == 0.1
    assert checks.loc[checks["fraction"] == 0.2, "ok"].eq(False).all()
    # an error 15 % above the gap-free model fails at 10 % with the default tolerance
    worse = pd.DataFrame(rows).assign(nmae_mean=lambda t: np.where(
        (t["strategy"] == "mask") & (t["fraction"] == 0.1), 0.115, t["nmae_mean"]))
    assert study.safe_fraction(worse, cfg)[0] == 0.05
    # one parameter losing 0.06 of coverage at 5 % fails, though the mean stays in the band
    dropped = pd.DataFrame(rows).assign(cov90_mean=lambda t: np.where(
        (t["strategy"] == "mask") & (t["fraction"] == 0.05) & (t["parameter"] == "hr"),
        0.84, t["cov90_mean"]))
    assert study.safe_fraction(dropped, cfg)[0] == 0.0


def test_config_errors(study):
    with pytest.raises(ConfigError, match="unknown config key"):
        study.load_config(["n_trian=10"])
    with pytest.raises(ConfigError, match="0.0"):
        study.load_config(["fractions=[0.1,0.2]"])
    with pytest.raises(ConfigError, match="patterns"):
        study.load_config(["patterns=[spikes]"])
    with pytest.raises(ConfigError, match="max_coverage_drop"):
        study.load_config(["max_coverage_drop=1.5"])


def test_tiny_overlay_sets_the_test_size_and_arguments_win_over_it(study):
    tiny = study.load_config(["tiny=true"])
    assert (tiny.seeds, tiny.n_train, tiny.fractions, tiny.max_epochs) == ([0], 400, [0.0, 0.02, 0.2], 2)
    assert study.load_config(["tiny=true", "seeds=[1,2]"]).seeds == [1, 2]


def test_tiny_study_runs_and_its_tables_come_back_from_the_rows(study, tmp_path):
    table = study.main(["tiny=true", f"out={tmp_path}", "threads=1"])
    assert set(table["strategy"]) == set(study.STRATEGIES)
    assert {"rows.csv.gz", "summary.csv", "metrics_per_seed.csv", "safe_fraction.csv",
            "results.md", "missing_data_overview.png",
            "missing_data_parameters.png"} <= {p.name for p in tmp_path.iterdir()}
    overall = table[table["parameter"] == "all"].set_index(["strategy", "pattern", "fraction"])
    for pattern in ("dropout", "clipped"):
        # today's rule: every window with 20 % missing is rejected, none with 2 %
        assert overall.loc[("reject", pattern, 0.2), "estimated_fraction_mean"] == 0.0
        assert overall.loc[("reject", pattern, 0.02), "estimated_fraction_mean"] == 1.0
        assert overall.loc[("mask", pattern, 0.2), "estimated_fraction_mean"] == 1.0
    rows = pd.read_csv(tmp_path / "rows.csv.gz")
    gapped = rows[rows["fraction"] == 0.2]
    assert gapped["detected_fraction"].between(0.19, 0.22).all()   # clipping found as missing
    again = study.main(["tiny=true", f"out={tmp_path}", "from_rows=true"])
    pd.testing.assert_frame_equal(table, again)


def test_a_finished_seed_is_reused_and_other_settings_redo_it(study, tmp_path, monkeypatch):
    study.main(["tiny=true", f"out={tmp_path}", "threads=1"])
    assert len(list((tmp_path / "seeds").glob("seed*.csv.gz"))) == 1

    def must_not_run(*_args):
        raise AssertionError("a finished seed was simulated again")

    monkeypatch.setattr(study, "run_seed", must_not_run)
    study.main(["tiny=true", f"out={tmp_path}", "threads=1"])     # resumes: nothing re-run
    with pytest.raises(AssertionError, match="simulated again"):
        study.main(["tiny=true", f"out={tmp_path}", "threads=1", "max_stretches=2"])
