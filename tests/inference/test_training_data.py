"""Failed or corrupt simulations never reach training; training is reproducible."""

from __future__ import annotations

import math

import pytest
import torch

from cardiosbi.errors import ConfigError
from cardiosbi.inference import TensorDataModule, filter_rows, train_npe
from cardiosbi.inference.module import NPELightningModule
from tests.inference._tiny import tiny_config, tiny_task

POISON = 1.75  # theta value carried only by rows that must be dropped


def _poisoned(n: int = 300, seed: int = 0):
    task = tiny_task()
    theta, x = task.sample_joint(n, torch.Generator().manual_seed(seed))
    status = torch.zeros(n, dtype=torch.int64)
    bad = {"failed_simulation": 0, "theta_not_finite": 1, "theta_out_of_bounds": 2,
           "x_inf": 3, "x_nan": 4}
    theta[list(bad.values())] = POISON
    status[0] = 3  # e.g. a "not_periodic" failure
    theta[1, 1] = math.nan
    theta[2, 0] = 5.0  # outside the box [-2, 2]
    x[3, 0] = math.inf
    x[4, 1] = math.nan
    return task, theta, x, status, bad


def test_filter_counts_each_bad_row_once_under_its_reason():
    task, theta, x, status, bad = _poisoned()
    low, high = task.bounds()
    result = filter_rows(theta, x, low, high, status)
    assert result.counts == dict.fromkeys(bad, 1)
    assert not result.keep[list(bad.values())].any() and result.keep[5:].all()
    assert "dropped 5 of 300 rows" in result.message()


def test_bad_rows_never_reach_a_training_or_validation_batch(monkeypatch):
    task, theta, x, status, _ = _poisoned()
    low, high = task.bounds()
    seen = []
    original = NPELightningModule.training_step

    def spy(self, batch, batch_idx):
        seen.append(batch)
        return original(self, batch, batch_idx)

    monkeypatch.setattr(NPELightningModule, "training_step", spy)
    posterior = train_npe(theta, x, task.names, low, high, tiny_config("nsf", epochs=2), status=status)
    assert seen
    for theta_batch, x_batch in seen:
        assert torch.isfinite(theta_batch).all() and torch.isfinite(x_batch).all()
        assert not (theta_batch == POISON).any()
    assert posterior.training["rows_used"] == 295
    assert sum(posterior.training["rows_dropped"].values()) == 5

    datamodule = TensorDataModule(theta, x, task.names, low, high, status=status)
    for theta_batch, x_batch in datamodule.val_dataloader():
        assert not (theta_batch == POISON).any() and torch.isfinite(x_batch).all()


def test_nan_in_x_is_kept_as_missing_data_when_the_embedding_masks_it():
    task, theta, x, status, _ = _poisoned()
    low, high = task.bounds()
    result = filter_rows(theta, x, low, high, status, allow_missing_x=True)
    assert result.keep[4] and result.counts["x_nan"] == 0
    x[6] = math.nan  # an all-missing row is still useless
    assert not filter_rows(theta, x, low, high, status, allow_missing_x=True).keep[6]


def test_same_seed_same_weights_and_different_seed_different_weights():
    task = tiny_task()
    theta, x = task.sample_joint(300, torch.Generator().manual_seed(1))
    low, high = task.bounds()

    def weights(seed: int):
        posterior = train_npe(theta, x, task.names, low, high, tiny_config("nsf", epochs=2, seed=seed))
        return posterior.network.state_dict()

    first, second, other = weights(11), weights(11), weights(12)
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert any(not torch.equal(first[k], other[k]) for k in first)


@pytest.mark.parametrize(("theta_shape", "x_shape", "names"), [
    ((10, 2), (9, 2), ["a", "b"]),
    ((10, 2), (10, 2), ["a"]),
    ((10,), (10, 2), ["a"]),
    ((10, 2), (10, 2, 3, 4), ["a", "b"]),
])
def test_inconsistent_shapes_are_config_errors(theta_shape, x_shape, names):
    k = len(names)
    with pytest.raises(ConfigError):
        TensorDataModule(torch.zeros(theta_shape), torch.zeros(x_shape), names,
                         torch.full((k,), -1.0), torch.full((k,), 1.0))
