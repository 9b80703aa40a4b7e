"""The FitzHugh–Nagumo study (experiments/fhn/study.py): metrics on known rows, tiny run,
tables recomputed from the raw rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cardiosbi.errors import ConfigError, InputFileError
from tests.conftest import REPO_ROOT
from tests.experiments.study_scripts import imported_script

pytestmark = pytest.mark.usefixtures("one_torch_thread")

STUDY_DIR = REPO_ROOT / "experiments" / "fhn"


@pytest.fixture(scope="module")
def study():
    with imported_script(STUDY_DIR) as module:
        yield module


def test_metrics_on_known_rows(study):
    """A calibrated Gaussian posterior covers 90 % of truths; a too-narrow one far fewer."""
    rng = np.random.default_rng(0)
    n = 4000
    truth = rng.normal(size=n)
    mean = truth + rng.normal(size=n)  # posterior N(mean, 1) contains truth as a calibrated one
    frames = []
    for method, half in (("npe", 1.645), ("fmpe", 0.5)):
        frames.append(pd.DataFrame({
            "train": "noisy", "n_train": 100, "method": method, "test": "noisy", "trace": range(n),
            "parameter": "theta0", "truth": truth, "mean": mean, "lo90": mean - half,
            "hi90": mean + half, "lo50": mean - 0.674, "hi50": mean + 0.674, "epochs": 1,
            "train_s": 1.0}))
    table = study.metrics(pd.concat(frames)).set_index("method")
    assert table.loc["npe", "cov90"] == pytest.approx(0.9, abs=0.02)
    assert table.loc["npe", "cov50"] == pytest.approx(0.5, abs=0.03)
    assert table.loc["fmpe", "cov90"] < 0.5
    assert table.loc["npe", "rmse"] == pytest.approx(1.0, abs=0.05)
    assert table.loc["fmpe", "width90"] == pytest.approx(1.0)


def test_bad_settings_are_refused(study):
    with pytest.raises(ConfigError, match="methods"):
        study.load_config(["methods=[snle]"])
    with pytest.raises(ConfigError, match="ensemble_size"):
        study.load_config(["ensemble_size=1"])


def test_tiny_overlay_sets_the_test_size_and_arguments_win_over_it(study):
    tiny = study.load_config(["tiny=true"])
    assert (tiny.sizes, tiny.n_test, tiny.max_epochs, tiny.ensemble_size) == ([200], 40, 2, 2)
    assert tiny.embedding_channels == [4, 8] and tiny.methods == list(study.METHODS)
    overridden = study.load_config(["tiny=true", "n_test=20", "sizes=[300]"])
    assert (overridden.sizes, overridden.n_test, overridden.max_epochs) == ([300], 20, 2)


def test_tiny_study_and_from_rows(study, tmp_path):
    out = f"out={tmp_path}"
    table = study.main(["tiny=true", out, "train_conditions=[clean,noisy]"])
    assert set(table["method"]) == set(study.METHODS)
    assert len(table) == 2 * 2 * len(study.METHODS)
    assert table.loc[table["method"] == "cnn", "cov90"].isna().all()
    posterior = table[table["method"] != "cnn"]
    assert posterior["cov90"].between(0, 1).all() and (posterior["cov90"] >= posterior["cov50"]).all()
    assert (tmp_path / "fhn_npe_clean.pt").is_file() and (tmp_path / "fhn_rmse_coverage.png").is_file()
    again = study.main(["tiny=true", out, "from_rows=true"])
    pd.testing.assert_frame_equal(table, again)
    assert (tmp_path / "results.md").read_text().startswith("| train |")


def test_from_rows_needs_rows(study, tmp_path):
    with pytest.raises(InputFileError, match="rows.csv.gz"):
        study.main(["tiny=true", f"out={tmp_path}", "from_rows=true"])
