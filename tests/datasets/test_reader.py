"""Streaming reader: splits by seed, each row once per epoch, chunk-wise reads, stored stats."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import zarr

from cardiosbi.datasets import store
from cardiosbi.datasets.build import build_dataset
from cardiosbi.datasets.reader import (
    SimulatedDataModule,
    SimulatedStore,
    StoreWindows,
    split_of_seeds,
)
from cardiosbi.errors import ConfigError
from tests.datasets.conftest import small_spec


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("reader")
    build_dataset(path, small_spec(60, 15), device="cpu", show_progress=False, plots=False)
    return path


def test_split_by_seed_is_stable_and_has_the_requested_fractions():
    seeds = np.arange(1, 200_001, dtype=np.uint64) * np.uint64(2654435761)
    split = split_of_seeds(seeds, (0.8, 0.1, 0.1))
    counts = np.bincount(split, minlength=3) / len(seeds)
    se = np.sqrt(0.1 * 0.9 / len(seeds))
    assert abs(counts[1] - 0.1) < 4 * se and abs(counts[2] - 0.1) < 4 * se
    np.testing.assert_array_equal(split[:1000], split_of_seeds(seeds[:1000], (0.8, 0.1, 0.1)))
    with pytest.raises(ConfigError, match="fractions"):
        split_of_seeds(seeds, (0.8, 0.3, 0.1))


def test_each_training_row_comes_once_per_epoch_in_a_new_order(root):
    data = SimulatedStore(root)
    dataset = StoreWindows(data, "train", normalize="none", seed=3)
    epochs = [torch.stack([theta for theta, _x in dataset]) for _ in range(2)]
    raw = zarr.open_group(root / store.STORE_NAME, mode="r")["theta"][:][data.rows("train")]
    for thetas in epochs:
        assert len(thetas) == len(raw) == len(dataset)
        assert sorted(map(tuple, thetas.numpy().tolist())) == sorted(map(tuple, raw.tolist()))
    assert not torch.equal(epochs[0], epochs[1])


def test_reads_are_one_chunk_at_a_time(root, monkeypatch):
    data = SimulatedStore(root)
    sizes = []
    original = data.read
    monkeypatch.setattr(data, "read", lambda a, b: sizes.append(b - a) or original(a, b))
    for _ in StoreWindows(data, "train"):
        pass
    assert sizes and max(sizes) == data.layout.shard_size


def test_data_module_follows_the_npe_batch_contract(root):
    module = SimulatedDataModule(root, batch_size=8)
    theta, x = next(iter(module.train_dataloader()))
    assert theta.dtype == torch.float32 and x.dtype == torch.float32
    assert theta.shape == (8, len(module.parameter_names)) and x.shape == (8, 2, 500)
    assert module.x_shape == (2, 500)
    assert torch.all(theta > module.low.float()) and torch.all(theta < module.high.float())
    # windows go through the shared per-window normalisation
    assert torch.allclose(x.mean(-1), torch.zeros(8, 2), atol=1e-4)
    val_theta, val_x = module.validation_tensors()
    assert len(val_theta) == len(module._datasets["val"])


def test_level_channels_and_stats_are_computed_once_and_stored(root):
    module = SimulatedDataModule(root, batch_size=4, normalize="window+level",
                                 channels=["aortic_root/P"], parameters=["hr", "sv"])
    _theta, x = next(iter(module.train_dataloader()))
    assert x.shape == (4, 3, 500) and module.parameter_names == ["hr", "sv"]
    attrs = zarr.open_group(root / store.STORE_NAME, mode="r").attrs
    key = [k for k in attrs if k.startswith("stats_")]
    assert key and attrs[key[0]]["n_train"] == len(module._datasets["train"])
    # the level channel carries the absolute pressure that the z-score removes
    raw_mean = zarr.open_group(root / store.STORE_NAME, mode="r")["x/aortic_root/P"][:].mean(1)
    assert attrs[key[0]]["level_mean"][0] == pytest.approx(
        raw_mean[SimulatedStore(root).rows("train")].mean(), rel=1e-4)


def test_unknown_channel_or_parameter_is_a_config_error(root):
    with pytest.raises(ConfigError, match="channels"):
        SimulatedStore(root, channels=["radial/P"])
    with pytest.raises(ConfigError, match="parameters"):
        SimulatedStore(root, parameters=["age"])


def test_npe_training_runs_on_the_streaming_module(root):
    """fit_posterior (NPE engineer's API) accepts the module; one epoch end to end."""
    from cardiosbi.inference.config import NPEConfig
    from cardiosbi.inference.training import fit_posterior

    module = SimulatedDataModule(root, batch_size=16, parameters=["hr", "sv"])
    assert module.rows_used == len(module._datasets["train"]) and module.rows_dropped
    config = NPEConfig.from_dict({"trainer": {"max_epochs": 1, "accelerator": "cpu",
                                              "reject_calibration_rows": 8,
                                              "reject_calibration_samples": 16}})
    posterior = fit_posterior(module, config, module.units)
    _theta, x = module.validation_tensors()
    assert posterior.sample((4,), x=x[:2]).shape == (4, 2, 2)


def test_data_config_builds_the_module_and_checks_the_path(root, tmp_path):
    from cardiosbi.cli.main import compose
    from cardiosbi.datasets.reader import data_module_from_config
    from cardiosbi.errors import InputFileError

    cfg = compose("train", ["data=zarr", f"data.path={root}", "data.batch_size=4"])
    module = data_module_from_config(cfg.data, seed=1)
    assert module.batch_size == 4 and module.x_shape == (2, 500)
    default = data_module_from_config(compose("train", ["data=zarr", f"data.path={root}"]).data,
                                      batch_size=32, num_workers=0)
    assert default.batch_size == 32
    with pytest.raises(InputFileError, match="not found"):
        data_module_from_config(compose("train", ["data=zarr", f"data.path={tmp_path}/none"]).data)
    with pytest.raises(ConfigError, match="unknown config key"):
        data_module_from_config({"source": "zarr", "path": str(root), "shuffle": True})


def test_rows_with_a_missing_or_out_of_range_target_are_dropped_and_counted(root, tmp_path):
    import shutil

    copy = tmp_path / "store"
    shutil.copytree(root, copy)
    labels = zarr.open_group(str(copy / store.STORE_NAME), mode="r+")["labels/map"]
    values = labels[:]
    values[0] = np.nan      # a label the simulator could not compute
    values[1] = 1e4         # outside the registry's bounds for MAP
    labels[:] = values
    opened = SimulatedStore(copy, parameters=["hr", "map"])
    assert opened.rows_dropped["theta_not_finite"] == 1
    assert opened.rows_dropped["theta_out_of_bounds"] == 1
    assert opened.split[0] == opened.split[1] == -1
    assert SimulatedStore(copy, parameters=["hr", "sv"]).rows_dropped["theta_not_finite"] == 0
