"""The hybrid cross-validation study (experiments/hybrid/cv.py) end to end at tiny size."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import SHARED_DATA

HYBRID_DIR = Path(__file__).resolve().parents[2] / "experiments" / "hybrid"
RECORDS = SHARED_DATA / "real" / "cinc2015_vtach"
FIVE = ["v136s", "v140s", "v166s", "v201l", "v218s"]


@pytest.fixture(scope="module")
def cv_module():
    sys.path.insert(0, str(HYBRID_DIR))
    import cv

    yield cv
    sys.path.remove(str(HYBRID_DIR))


def test_tiny_overlay_shrinks_the_networks_and_arguments_win_over_it(cv_module):
    full, tiny = cv_module.load_config([]), cv_module.load_config(["tiny=true", "folds=3"])
    assert (full.channels, full.hidden, full.supervised_features) == ([16, 32, 64, 64], 128, 64)
    assert (tiny.channels, tiny.hidden, tiny.latent_dim, tiny.folds) == ([4, 8], 16, 2, 3)
    assert cv_module.model_config(tiny, tiny.latent_dim).channels == [4, 8]


@pytest.mark.skipif(not RECORDS.is_dir(), reason="../shared/data/real not present")
def test_every_method_is_scored_on_held_out_records(cv_module, tmp_path):
    records = ",".join(str(RECORDS / f"{name}.hea") for name in FIVE)
    table = cv_module.main(["tiny=true", f"out={tmp_path}", f"records=[{records}]", "workers=1"])
    methods = {"hybrid_m1", "hybrid_m4", "deterministic", "supervised", "population",
               "direct_ppg", "apw_invasive"}
    assert set(table["method"]) == methods
    for name in ("rows.csv", "metrics.csv", "rejection.csv", "waveforms.csv", "results.md",
                 "hybrid_cv_mae.png", "hybrid_cv_rejection.png", "hybrid_cv_examples.png"):
        assert (tmp_path / name).is_file(), name
    rows = pd.read_csv(tmp_path / "rows.csv")
    # record-level folds: a record's windows are all in one fold
    assert (rows.groupby("record")["fold"].nunique() == 1).all()
    # the invasive posterior is the reference of SV/CO/SVR/LVET, so it is not scored on them
    invasive = table[table["method"] == "apw_invasive"]
    assert set(invasive["parameter"]) == {"hr", "map_radial", "sbp_radial", "dbp_radial"}
    hybrid = table[table["method"] == "hybrid_m4"].set_index("parameter")
    assert {"sv", "co", "svr", "lvet", "hr", "map_radial"} <= set(hybrid.index)
    assert hybrid["cov90"].between(0, 1).all() and (hybrid["mae"] >= 0).all()
    # the population floor: its interval is the training folds' 5-95 % range
    population = rows[rows["method"] == "population"]
    assert (population["ci90_low"] < population["ci90_high"]).all()
    waves = pd.read_csv(tmp_path / "waveforms.csv")
    assert np.isfinite(waves["rmse_mmhg"]).all()
    assert (waves.loc[waves["method"] == "deterministic", "map_draw_sd"] == 0).all()
