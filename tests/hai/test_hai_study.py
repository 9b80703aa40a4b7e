"""The HAI study at tiny size: key=value settings, every method, tidy rows and a table
rebuildable from them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pandas as pd
import pytest

from cardiosbi.errors import ConfigError

STUDY = Path(__file__).resolve().parents[2] / "experiments" / "hai" / "study.py"


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("hai_study", STUDY)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def test_tiny_settings_come_from_tiny_yaml_and_arguments_win(study):
    cfg = study.load_config(["tiny=true", "n_test=7"])
    assert cfg.n_sim == 400 and cfg.n_test == 7 and cfg.seeds == [0]
    assert study.load_config([]).n_sim == 3000


@pytest.mark.parametrize(("argv", "message"), [(["methods=[hai,magic]"], "magic"),
                                               (["conditions=[moon]"], "moon"),
                                               (["--tiny"], "key=value")])
def test_bad_settings_are_refused_by_name(study, argv, message):
    with pytest.raises(ConfigError, match=message):
        study.load_config(argv)


def test_tiny_study_writes_rows_and_a_rebuildable_table(study, tmp_path):
    table = study.main(["tiny=true", f"out={tmp_path}"])
    rows = pd.read_csv(tmp_path / "rows.csv")
    assert set(rows.method) == {"hai", "rope", "simulation_only", "real_only"}
    assert set(rows.condition) == {"ideal", "sensor_skin"}
    assert rows[rows.method == "hai"].flow_epochs.between(1, 20).all()
    assert rows[rows.method == "rope"].rope_gamma.isin([0.2, 1.0]).all()
    assert rows.pearson_r.between(-1, 1).all() and rows.coverage90.between(0, 1).all()
    pd.testing.assert_frame_equal(study.summary_table(rows).reset_index(drop=True),
                                  table.reset_index(drop=True), check_dtype=False)
    assert (tmp_path / "estimate_vs_truth.png").stat().st_size > 0
