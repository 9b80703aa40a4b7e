"""The classical-baselines study (experiments/baselines/compare.py) end to end at tiny size, on
synthetic held-out files (exact Windkessel pressure, synthetic PPG) and one shipped real record."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cardiosbi.errors import ConfigError, InputFileError
from tests.baselines.test_ppg_features import ppg_window
from tests.baselines.test_pulse_contour import P_OUT, wk3_window
from tests.experiments.study_scripts import imported_script

pytestmark = pytest.mark.usefixtures("one_torch_thread")

STUDY_DIR = Path(__file__).resolve().parents[2] / "experiments" / "baselines"
N = 40


@pytest.fixture(scope="module")
def compare():
    with imported_script(STUDY_DIR, "compare") as module:
        yield module


@pytest.fixture(scope="module")
def heldout(tmp_path_factory) -> tuple[Path, Path, pd.DataFrame]:
    """Held-out files in the layout of runs/heldout (one arterial tree, random heart states)."""
    rng = np.random.default_rng(5)
    hr, sv, lvet = rng.uniform(55, 100, N), rng.uniform(40, 100, N), rng.uniform(240, 280, N)
    radial, labels = [], []
    for h, s, e in zip(hr, sv, lvet, strict=True):
        window, _, label = wk3_window(h, s, e, offset=rng.uniform(0, 1))
        radial.append(window + rng.normal(0, 0.3, window.size))
        labels.append({"hr": h, "sv": label["sv"], "co": label["co"], "map_radial": label["map"]})
    labels = pd.DataFrame(labels)
    digital = np.stack([ppg_window(h, 0.03 + s / 2000) for h, s in zip(hr, sv, strict=True)])
    common = {"seed": rng.integers(0, 2**63, N, dtype=np.uint64), "status": np.zeros(N, np.int8),
              **{f"label_{k}": labels[k].to_numpy(np.float32) for k in labels}}
    folder = tmp_path_factory.mktemp("heldout")
    np.savez(folder / "radial.npz", x_radial_P=np.stack(radial).astype(np.float16), **common)
    np.savez(folder / "digital.npz", x_digital_PPG=digital.astype(np.float16), **common)
    return folder / "radial.npz", folder / "digital.npz", labels.assign(seed=common["seed"])


def test_every_method_is_scored_in_silico_and_on_a_real_record(compare, heldout, real_dir,
                                                                tmp_path):
    radial, digital, labels = heldout
    table = compare.main(["tiny=true", f"out={tmp_path}", f"heldout_radial={radial}",
                          f"heldout_digital={digital}", f"records=[{real_dir / 'v292s.hea'}]",
                          f"outflow_pressure={P_OUT}"])
    for name in ("rows.csv", "metrics.csv", "constants.csv", "baselines_mae.png", "results.md"):
        assert (tmp_path / name).is_file(), name
    methods = {domain: set(g["method"]) for domain, g in table.groupby("domain")}
    assert methods["in_silico"] == {"npe_apw", "npe_ppg", "pc_liljestrand", "pc_systolic_area",
                                    "pc_windkessel", "abp_beats", "ppg_gbr", "ppg_gbr_quantile",
                                    "population"}
    assert methods["real"] == {"npe_apw", "npe_ppg", "ppg_gbr", "ppg_gbr_quantile",
                               "ppg_beats", "abp_beats"}
    rows = pd.read_csv(tmp_path / "rows.csv")
    simulated = rows[rows["domain"] == "in_silico"]
    test = np.flatnonzero(labels["seed"].to_numpy() % 100 >= 50)
    assert set(simulated["window"]) == set(test)          # the fitting half is never scored
    for parameter in ("hr", "sv", "co", "map_radial"):
        part = simulated[simulated["parameter"] == parameter]
        np.testing.assert_allclose(part["reference"], labels[parameter].to_numpy()[part["window"]],
                                   rtol=1e-6)
    # one arterial tree: the uncalibrated Windkessel constant is the same for every window,
    # so the population-fitted method nearly recovers SV, far better than the population mean
    sv = table[(table["domain"] == "in_silico") & (table["parameter"] == "sv")].set_index("method")
    assert sv.loc["pc_windkessel", "mae"] < 0.2 * sv.loc["population", "mae"]
    interval = table["method"].isin(["npe_apw", "npe_ppg", "ppg_gbr_quantile", "population"])
    assert table.loc[interval, "cov90"].between(0, 1).all()
    assert table.loc[~interval, "cov90"].isna().all()
    real = rows[rows["domain"] == "real"]
    assert set(real["parameter"]) == {"hr", "map_radial"} and real["reference"].notna().all()
    assert (real["record"] == "v292s").all() and real["start_s"].notna().all()
    constants = pd.read_csv(tmp_path / "constants.csv")
    assert len(constants) == 3 and (constants["scale"] > 0).all()


def test_tiny_overlay_sets_the_test_size_and_arguments_win_over_it(compare):
    tiny = compare.load_config(["tiny=true", "gbr.max_iter=7"])
    assert (tiny.n_samples, tiny.gbr.max_iter, tiny.gbr.min_samples_leaf) == (50, 7, 3)
    assert tiny.gbr.learning_rate == compare.load_config([]).gbr.learning_rate


def test_bad_settings_and_missing_files_are_user_errors(compare, heldout, tmp_path):
    radial, digital, _ = heldout
    with pytest.raises(ConfigError, match="fit_percent"):
        compare.load_config(["fit_percent=0"])
    with pytest.raises(ConfigError, match="sv_methods is empty"):
        compare.load_config(["sv_methods=[]"])
    with pytest.raises(InputFileError, match="held-out radial file not found"):
        compare.main([f"out={tmp_path}", f"heldout_radial={tmp_path / 'none.npz'}",
                      f"heldout_digital={digital}", "records=[]", "tiny=true"])
