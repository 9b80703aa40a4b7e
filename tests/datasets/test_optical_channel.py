"""Optical PPG channels in a simulated dataset: skin parameters as prior dimensions."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from cardiosbi.datasets import store
from cardiosbi.datasets.build import build_dataset
from cardiosbi.datasets.generate import Pipeline
from cardiosbi.errors import ConfigError
from tests.datasets.conftest import small_spec

CHANNELS = "simulator.channels=[aortic_root/P,aortic_root/OPPG]"


def test_optical_channel_stores_waveform_skin_parameters_and_perfusion_index(tmp_path):
    spec = small_spec(12, 6, "prior=wearable", CHANNELS, "simulator.optical_wavelength_nm=530")
    build_dataset(tmp_path, spec, device="cpu", show_progress=False, plots=False)
    group = zarr.open_group(tmp_path / store.STORE_NAME, mode="r")
    names = group.attrs["parameter_names"]
    assert {"melanin", "blood_fraction", "pulsatile_fraction", "spo2"} <= set(names)
    pi = group["labels/perfusion_index_aortic_root"][:]
    assert np.all(np.isfinite(pi)) and np.all(pi > 0)
    # more pulsatile blood, larger perfusion index (all else drawn independently)
    pulsatile = group["theta"][:][:, names.index("pulsatile_fraction")]
    assert np.corrcoef(pulsatile, pi)[0, 1] > 0.3
    assert np.isfinite(group["x/aortic_root/OPPG"][:]).all()


def test_optical_channel_without_skin_priors_is_a_config_error():
    pipeline = Pipeline(small_spec(2, 2, CHANNELS), "cpu")
    with pytest.raises(ConfigError, match="wearable"):
        pipeline.candidates([1, 2], pipeline.theta_names)
