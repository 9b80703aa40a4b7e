"""A RoPE calibration set from labelled recordings: the windows infer would see, monitor labels."""

from __future__ import annotations

import numpy as np
import pytest

from cardiosbi.calibration.recordings import default_labels, labelled_windows
from cardiosbi.default_models import load_default_posterior
from cardiosbi.errors import ConfigError, InputFileError, SignalError
from cardiosbi.estimate import model_input, window_config
from cardiosbi.io import load_recording
from cardiosbi.signals.windows import make_windows


@pytest.fixture(scope="module")
def ppg():
    return load_default_posterior("ppg")


@pytest.fixture
def record(repo_root):
    return str(repo_root / "tests/data/real/v292s.hea")


def test_windows_and_labels_are_those_of_the_quality_table(ppg, record):
    data = labelled_windows([record], ppg, until_s=120.0)
    assert data.names == ["hr", "map_radial"] == list(default_labels(ppg))
    windows, quality = make_windows(load_recording(record), config=window_config(ppg))
    kept = quality[quality["accepted"] & (quality["start_s"] + quality["duration_s"] <= 120)]
    kept = kept[np.isfinite(kept[["hr_ecg", "map_abp"]]).all(axis=1)].sort_values("window")
    assert len(data.theta) == len(kept) > 5
    np.testing.assert_allclose(data.theta.numpy(), kept[["hr_ecg", "map_abp"]], rtol=1e-6)
    expected = model_input(ppg, windows[kept["window"].to_numpy()])
    np.testing.assert_array_equal(data.x.numpy(), expected.numpy())
    assert set(data.record) == {"v292s"}
    assert data.skipped["after_until_s"] == int((quality["start_s"] + 8 > 120).sum())


def test_bad_labels_and_recordings_are_reported(ppg, record, tmp_path):
    with pytest.raises(ConfigError, match="no parameter"):
        labelled_windows([record], ppg, {"pwv_cf": "hr_ecg"})
    with pytest.raises(ConfigError, match="no label column"):
        labelled_windows([record], ppg, {"hr": "hr_from_nowhere"})
    broken = tmp_path / "broken.csv"
    broken.write_text("not,a,recording\n")
    data = labelled_windows([str(broken), record], ppg, until_s=60.0)
    assert data.skipped["unreadable_recording"] == 1 and len(data.theta) > 0
    with pytest.raises(SignalError, match="no accepted window"):
        labelled_windows([record], ppg, until_s=4.0)


def test_shipped_reference_sets_belong_to_their_models(ppg, tmp_path, monkeypatch):
    import shutil

    from cardiosbi import default_models

    # the hybrid has no reference set of its own: RoPE on it uses its embedded apw's
    for name in ("apw", "ppg"):
        reference = default_models.load_default_reference(name)
        posterior = default_models.load_default_posterior(name)
        assert reference.names == posterior.parameter_names
        assert reference.embeddings.shape[0] == reference.theta.shape[0] == 4096
        assert bool(((reference.theta > posterior.low.float())
                     & (reference.theta < posterior.high.float())).float().mean() > 0.99)
    copy = tmp_path / "models"
    shutil.copytree(default_models.MODELS_DIR, copy)
    with open(copy / "ppg.pt", "ab") as stale:  # a retrained model: the set no longer fits
        stale.write(b"\0")
    monkeypatch.setattr(default_models, "MODELS_DIR", copy)
    with pytest.raises(InputFileError, match="another ppg.pt"):
        default_models.load_default_reference("ppg")
