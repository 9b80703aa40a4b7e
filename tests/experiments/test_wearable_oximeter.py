"""The wearable posterior beside the classical oximeter (experiments/wearable_oximeter/)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cardiosbi.cli.main import run
from cardiosbi.errors import ConfigError
from tests.conftest import REPO_ROOT
from tests.experiments.study_scripts import imported_script

pytestmark = pytest.mark.usefixtures("one_torch_thread")

STUDY_DIR = REPO_ROOT / "experiments" / "wearable_oximeter"


@pytest.fixture(scope="module")
def script():
    with imported_script(STUDY_DIR, "spo2_vs_ratio") as module:
        yield module


def test_log_ratio_is_the_log_of_the_red_over_infrared_pulse(script):
    t = np.linspace(0, 8 * np.pi, 400)
    x = np.stack([5.0 + 0.03 * np.sin(t), 3.0 + 0.01 * np.sin(t)])[None]
    assert script.log_ratio(x, 0, 1)[0] == pytest.approx(np.log(3.0), rel=1e-6)


def test_too_few_clean_training_windows_is_a_config_error(script):
    n = 30
    split = script.Split(np.ones((n, 2, 10)), pd.DataFrame({"spo2": np.full(n, 0.9)}),
                         pd.DataFrame({"r": np.full(n, 12.0), "i": np.full(n, 40.0)}), np.zeros(n))
    with pytest.raises(ConfigError, match="calibration_snr_db"):
        script.fit_classical(split, 0, 1, ["r", "i"], 30.0)


@pytest.fixture(scope="module")
def outputs(script, tmp_path_factory):
    """A noise-free store, a posterior trained for two epochs, and the comparison on its test split."""
    root = tmp_path_factory.mktemp("oximeter")
    assert run(["simulate", "simulator=windkessel", "prior=wearable", "measurement=clean",
                "simulator.channels=[aortic_root/660nm/OPPG,aortic_root/940nm/OPPG]",
                "simulator.optical_wavelengths=[660,940]", "simulator.optical_signal=density",
                "measurement.window_s=2", f"out={root / 'sim'}", "n=300", "shard_size=150",
                "plots=false"]) == 0
    assert run(["train", "data=zarr", f"data.path={root / 'sim'}", "data.parameters=[spo2,hr]",
                "data.normalize=window+logspread", "trainer.max_epochs=2",
                "trainer.reject_calibration_samples=20", "model.embedding.channels=[8,8]",
                "model.embedding.features=8", "--out", str(root / "npe")]) == 0
    table = script.main([f"store={root / 'sim'}", f"posterior={root / 'npe' / 'posterior.pt'}",
                         f"out={root / 'out'}", "n_draws=50"])
    return root / "out", table


def test_the_comparison_writes_rows_table_and_figure(outputs):
    out, table = outputs
    rows = pd.read_csv(out / "rows.csv")
    assert (out / "spo2_vs_truth.png").stat().st_size > 0
    assert set(rows["group"]) <= {"I-II", "III-IV", "V-VI"} and len(rows) > 10
    assert rows["classical_spo2"].between(0, 1).all()
    assert (rows["spo2_low90"] <= rows["spo2_median"]).all() and (rows["spo2_median"] <= rows["spo2_high90"]).all()
    assert set(table["method"]) == {"NPE (median)", "ratio of ratios"}
    assert table.loc[table["method"] == "NPE (median)", "spo2_cov90"].between(0, 1).all()


def test_on_noise_free_windows_the_ratio_of_ratios_curve_reads_spo2(outputs):
    out, _table = outputs
    rows = pd.read_csv(out / "rows.csv")
    error = 100 * (rows["classical_spo2"] - rows["spo2_truth"])
    # the prior spans 70-100 % (SD 8.7 points); skin and geometry move R only a little
    assert np.sqrt((error**2).mean()) < 3.0
