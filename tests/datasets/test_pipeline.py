"""Dataset generation: layout, determinism across shard order, resume, torn shards, failures."""

from __future__ import annotations

import json

import numpy as np
import pytest
import zarr

from cardiosbi.datasets import store
from cardiosbi.datasets.build import build_dataset
from cardiosbi.datasets.generate import Pipeline, run_shard
from cardiosbi.datasets.reader import SimulatedStore
from cardiosbi.errors import ConfigError, InputFileError
from tests.datasets.conftest import small_spec


def _arrays(root):
    group = zarr.open_group(root / store.STORE_NAME, mode="r")
    paths = ["theta", "seed", "status", "labels/hr", "labels/map", "x/aortic_root/P",
             "x/aortic_root/PPG", "nuisance/snr_db_aortic_root_P"]
    return {p: group[p][:] for p in paths}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("reference")
    summary = build_dataset(root, small_spec(), device="cpu", show_progress=False)
    return root, summary


def test_store_layout_and_contents(reference):
    root, summary = reference
    group = zarr.open_group(root / store.STORE_NAME, mode="r")
    attrs = group.attrs
    assert attrs["parameter_names"][:3] == ["hr", "sv", "lvet"] and "height" not in attrs["parameter_names"]
    assert attrs["fs"] == 125.0 and attrs["window_s"] == 4.0 and attrs["simulator"] == "windkessel"
    assert attrs["channel_units"]["aortic_root/P"] == "mmHg" and "dataset_config" in attrs
    assert group["theta"].shape == (40, len(attrs["parameter_names"]))
    assert group["x/aortic_root/P"].shape == (40, 500) and group["x/aortic_root/P"].chunks == (10, 500)
    data = _arrays(root)
    assert np.isfinite(data["theta"]).all() and np.isfinite(data["x/aortic_root/P"]).all()
    assert np.all(data["status"] == 0) and len(np.unique(data["seed"])) == 40
    hr = data["theta"][:, attrs["parameter_names"].index("hr")]
    np.testing.assert_allclose(data["labels/hr"], hr, rtol=1e-6)
    # measured pressure keeps its physical level: window mean near the beat's MAP label
    assert np.median(np.abs(data["x/aortic_root/P"].mean(1) - data["labels/map"]) / data["labels/map"]) < 0.1
    assert summary["accepted"] == 40 and summary["shards_done"] == 4
    assert 0 < summary["prior_rejected_fraction"] < 1
    for name in ("summary.json", "failures.csv", "labels.png", "examples.png"):
        assert (root / "summary" / name).stat().st_size > 0


def test_shards_are_identical_whatever_the_order_and_after_resume(reference, tmp_path):
    spec = small_spec()
    pipeline = Pipeline(spec, "cpu")
    store.create_store(tmp_path, pipeline.layout(), pipeline.attrs())
    spec_json = json.dumps(spec.to_dict(), sort_keys=True)  # key order must not matter
    for shard in (3, 1):  # out of order, then "crash"
        run_shard(str(tmp_path), spec_json, shard, "cpu")
    with pytest.raises(InputFileError, match="incomplete"):
        SimulatedStore(tmp_path)
    build_dataset(tmp_path, spec, device="cpu", show_progress=False, plots=False)  # resumes shards 0 and 2
    expected, got = _arrays(reference[0]), _arrays(tmp_path)
    for path in expected:
        np.testing.assert_array_equal(got[path], expected[path], err_msg=path)


def test_a_torn_shard_without_marker_is_rewritten(reference, tmp_path):
    spec = small_spec()
    build_dataset(tmp_path, spec, device="cpu", show_progress=False, plots=False)
    group = zarr.open_group(tmp_path / store.STORE_NAME, mode="r+")
    group["x/aortic_root/P"][10:20] = np.nan  # half-written shard 1 ...
    group["seed"][10:20] = 0
    store.marker_path(tmp_path, 1).unlink()  # ... whose marker never got written
    build_dataset(tmp_path, spec, device="cpu", show_progress=False, plots=False)
    expected, got = _arrays(reference[0]), _arrays(tmp_path)
    np.testing.assert_array_equal(got["x/aortic_root/P"], expected["x/aortic_root/P"])
    np.testing.assert_array_equal(got["seed"], expected["seed"])


def test_resuming_with_another_config_is_refused(reference):
    with pytest.raises(ConfigError, match="different config"):
        build_dataset(reference[0], small_spec(40, 10, "seed=1"), device="cpu", show_progress=False, plots=False)


def test_failed_simulations_are_replaced_and_counted(tmp_path):
    # without the systolic-fraction constraint some draws eject longer than the beat lasts
    spec = small_spec(30, 10, "~prior.constraints.systolic_fraction", "prior.parameters.hr.low=140",
                      "prior.parameters.lvet.low=380", "prior.parameters.lvet.high=440")
    summary = build_dataset(tmp_path, spec, device="cpu", show_progress=False, plots=False)
    assert summary["accepted"] == 30
    assert summary["failures_by_reason"].get("lvet_exceeds_period", 0) > 0
    failed = sum(summary["failures_by_reason"].values())
    assert summary["attempted"] == 30 + failed + summary["surplus"]
    assert summary["failure_rate"] == pytest.approx(failed / summary["attempted"])
    rows = (tmp_path / "summary" / "failures.csv").read_text().splitlines()
    assert len(rows) == 1 + sum(summary["failures_by_reason"].values())
    seeds = zarr.open_group(tmp_path / store.STORE_NAME, mode="r")["seed"][:]
    failed = {int(r.split(",")[1]) for r in rows[1:]}
    assert not failed & set(seeds.tolist())


def test_unknown_simulator_and_bad_channel_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="simulator.name"):
        build_dataset(tmp_path, small_spec(10, 10, "simulator.name=lumped"), device="cpu")
    with pytest.raises(ConfigError, match="aortic_root"):
        build_dataset(tmp_path, small_spec(10, 10, "simulator.channels=[radial/P]"), device="cpu")
