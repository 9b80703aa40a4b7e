"""The HAI study at tiny size: key=value settings, every method, tidy rows and a table
rebuildable from them; the labelled-set sweep (n_labelled as a list)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

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


def test_n_labelled_is_one_size_or_a_sorted_list_of_sizes(study):
    assert study.load_config(["tiny=true"]).n_labelled == [40]
    assert study.load_config(["n_labelled=[50,10,25,10]"]).n_labelled == [10, 25, 50]
    for bad in ("n_labelled=[10,abc]", "n_labelled=[2,10]", "n_labelled=[]"):
        with pytest.raises(ConfigError, match="n_labelled"):
            study.load_config([bad])


def test_small_labelled_sets_keep_two_held_out_windows_and_real_only_works(study):
    assert study.flow_val_fraction(0.2, 100) == pytest.approx(0.2)
    for n in (4, 5, 8, 10):  # 0.2 of 5 would hold out 1 window: raised to 2
        assert round(study.flow_val_fraction(0.2, n) * n) == 2
    assert study.flow_val_fraction(0.2, 3) == 0.0 and study.flow_val_fraction(0.0, 50) == 0.0
    generator = torch.Generator().manual_seed(0)
    theta = study.draw_theta(14, generator)
    x = study.features(theta, study.WORLDS["sensor"], generator)
    draws = study.real_only(x[:4], theta[:4], x[4:], 20, generator)  # 2 folds at n = 4
    assert draws.shape == (20, 10, 4) and torch.isfinite(draws).all()


def test_tiny_study_writes_rows_and_a_rebuildable_table(study, tmp_path):
    table = study.main(["tiny=true", f"out={tmp_path}"])  # a single n_labelled (40) still works
    rows = pd.read_csv(tmp_path / "rows.csv")
    assert (rows.n_labelled == 40).all() and (table.n_labelled == 40).all()
    assert set(rows.method) == {"hai", "rope", "simulation_only", "real_only"}
    assert set(rows.condition) == {"ideal", "sensor_skin"}
    assert rows[rows.method == "hai"].flow_epochs.between(1, 20).all()
    assert rows[rows.method == "rope"].rope_gamma.isin([0.2, 1.0]).all()
    assert rows.pearson_r.between(-1, 1).all() and rows.coverage90.between(0, 1).all()
    pd.testing.assert_frame_equal(study.summary_table(rows).reset_index(drop=True),
                                  table.reset_index(drop=True), check_dtype=False)
    assert (tmp_path / "estimate_vs_truth.png").stat().st_size > 0
    assert (tmp_path / "mape_vs_labels.png").stat().st_size > 0


def test_label_sweep_shares_test_windows_and_simulation_only_across_sizes(study, tmp_path):
    table = study.main(["tiny=true", "n_labelled=[8,16]", f"out={tmp_path}"])
    rows = pd.read_csv(tmp_path / "rows.csv")
    points = pd.read_csv(tmp_path / "points.csv")
    counts = rows.groupby(["condition", "n_labelled", "method"]).size()
    assert len(counts) == 2 * 2 * len(study.METHODS) and (counts == len(study.NAMES)).all()
    assert len(table) == len(counts)
    metrics = ["parameter", "pearson_r", "mape_pct", "coverage90", "width90"]
    for condition in ("ideal", "sensor_skin"):
        at = {n: points[(points.condition == condition) & (points.n_labelled == n)]
              for n in (8, 16)}
        for method in study.METHODS:  # the same test windows for every size and method
            truth = [at[n][at[n].method == method].truth.to_numpy() for n in (8, 16)]
            np.testing.assert_array_equal(truth[0], truth[1])
        sim = [rows[(rows.condition == condition) & (rows.n_labelled == n)
                    & (rows.method == "simulation_only")][metrics].reset_index(drop=True)
               for n in (8, 16)]
        pd.testing.assert_frame_equal(sim[0], sim[1])
        hai = rows[(rows.condition == condition) & (rows.method == "hai")]
        assert hai.flow_epochs.between(1, 20).all()
    assert (tmp_path / "mape_vs_labels.png").stat().st_size > 0
    # a method's numbers depend neither on the other methods nor on the other sizes
    alone = study.main(["tiny=true", "n_labelled=16", "methods=[real_only]",
                        "conditions=[sensor_skin]", f"out={tmp_path / 'alone'}"])
    swept = table[(table.condition == "sensor_skin") & (table.n_labelled == 16)
                  & (table.method == "real_only")]
    pd.testing.assert_frame_equal(alone.reset_index(drop=True), swept.reset_index(drop=True))
