"""Optical PPG channels in a simulated dataset: a multi-wavelength sensor, skin and sensor
parameters as prior dimensions, per-wavelength labels, per-sample rejection with a reason."""

from __future__ import annotations

import json

import numpy as np
import pytest
import zarr

from cardiosbi import registry
from cardiosbi.datasets import store
from cardiosbi.datasets.build import build_dataset
from cardiosbi.datasets.generate import Pipeline
from cardiosbi.errors import ConfigError
from tests.datasets.conftest import small_spec

CHANNELS = "simulator.channels=[aortic_root/P,aortic_root/530nm/OPPG,aortic_root/940nm/OPPG]"


def test_sensor_channels_store_waveforms_skin_parameters_and_per_wavelength_labels(tmp_path):
    spec = small_spec(16, 8, "prior=wearable", CHANNELS)
    build_dataset(tmp_path, spec, device="cpu", show_progress=False, plots=False)
    group = zarr.open_group(tmp_path / store.STORE_NAME, mode="r")
    names = group.attrs["parameter_names"]
    assert {"melanin", "dermis_thickness", "sensor_distance", "contact_pressure", "led_gain",
            "tissue_saturation", "epidermis_thickness", "deep_pulsatile_share"} <= set(names)
    for channel in ("aortic_root/530nm/OPPG", "aortic_root/940nm/OPPG"):
        assert np.isfinite(group[f"x/{channel}"][:]).all()
    labels = {k: group[f"labels/{k}"][:] for k in group["labels"].keys()}
    for nm in (530, 660, 940):  # every LED of the sensor, stored waveform or not
        assert np.all(labels[f"dc_{nm}"] > 0) and np.all(labels[f"ac_{nm}"] > 0)
        assert np.allclose(labels[f"pi_{nm}"], 100 * labels[f"ac_{nm}"] / labels[f"dc_{nm}"], rtol=1e-4)
        assert registry.quantity_of(f"pi_{nm}").unit == "%"
    theta = group["theta"][:]
    # the ratio of ratios falls with arterial saturation, whatever the other draws
    assert np.corrcoef(theta[:, names.index("spo2")], labels["spo2_ratio"])[0, 1] < -0.8


def test_an_unphysical_draw_fails_alone_with_its_reason(tmp_path):
    thin = "prior.parameters.dermis_thickness={dist:uniform,low:0.3,high:0.9}"
    spec = small_spec(10, 10, "prior=wearable", CHANNELS, thin)
    build_dataset(tmp_path, spec, device="cpu", show_progress=False, plots=False)
    (marker_file,) = (tmp_path / "shards").glob("*.json")
    marker = json.loads(marker_file.read_text())
    reason = "optical_diffusion_layer_thinner_than_transport_mean_free_path"
    assert marker["failures"].get(reason, 0) > 0 and set(marker["failures"]) == {reason}
    group = zarr.open_group(tmp_path / store.STORE_NAME, mode="r")
    dermis = group["theta"][:, group.attrs["parameter_names"].index("dermis_thickness")]
    assert len(dermis) == 10 and dermis.min() > 0.5  # the accepted rows are the thick ones


def test_optical_channel_without_skin_priors_is_a_config_error():
    pipeline = Pipeline(small_spec(2, 2, CHANNELS), "cpu")
    with pytest.raises(ConfigError, match="wearable"):
        pipeline.candidates([1, 2], pipeline.theta_names)


@pytest.mark.parametrize(("overrides", "message"), [
    (["simulator.channels=[aortic_root/OPPG]"], "aortic_root/660nm/OPPG"),
    (["simulator.channels=[aortic_root/700nm/OPPG]"], r"OPPG at \[700\] nm"),
    ([CHANNELS, "simulator.optical_wavelengths=[530,940,1300]"], "450-1000 nm"),
    ([CHANNELS, "simulator.optical_geometry=sideways"], "reflectance or transmission"),
    (["simulator.channels=[aortic_root/530/OPPG]"], "site/<nm>nm/OPPG"),
])
def test_a_sensor_the_model_cannot_simulate_is_a_config_error(overrides, message):
    with pytest.raises(ConfigError, match=message):
        Pipeline(small_spec(2, 2, "prior=wearable", *overrides), "cpu")
