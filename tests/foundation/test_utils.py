from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch

from cardiosbi.errors import ConfigError
from cardiosbi.utils.config import to_dataclass
from cardiosbi.utils.logging import configure
from cardiosbi.utils.rundir import atomic_write_text, make_run_dir, write_run_info
from cardiosbi.utils.seeding import child_seeds, seed_everything


def test_seed_everything_reproduces_all_generators():
    seed_everything(7)
    first = (np.random.rand(3), torch.rand(3))
    seed_everything(7)
    second = (np.random.rand(3), torch.rand(3))
    np.testing.assert_array_equal(first[0], second[0])
    torch.testing.assert_close(first[1], second[1])


def test_child_seeds_are_stable_distinct_and_prefix_consistent():
    seeds = child_seeds(11, 100)
    assert len(set(seeds)) == 100
    assert child_seeds(11, 10) == seeds[:10]
    assert child_seeds(11, 10, key=1) != seeds[:10]
    assert all(0 <= s < 2**63 for s in seeds)


@dataclass
class _Schema:
    lr: float = 1e-3
    layers: list[int] = field(default_factory=lambda: [64, 64])


def test_to_dataclass_accepts_known_keys():
    assert to_dataclass({"lr": 0.1}, _Schema) == _Schema(lr=0.1)


def test_to_dataclass_rejects_unknown_keys_and_lists_valid_ones():
    with pytest.raises(ConfigError, match="unknown config key.*lrr.*valid keys: lr, layers"):
        to_dataclass({"lrr": 0.1}, _Schema, where="model")


def test_to_dataclass_rejects_wrong_types():
    with pytest.raises(ConfigError, match="invalid config"):
        to_dataclass({"lr": "fast"}, _Schema)


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    atomic_write_text(tmp_path / "a" / "b.txt", "hello")
    assert (tmp_path / "a" / "b.txt").read_text() == "hello"
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["b.txt"]


def test_run_dir_records_config_and_provenance(tmp_path):
    from omegaconf import OmegaConf

    run_dir = make_run_dir(tmp_path, "train")
    assert make_run_dir(tmp_path, "train") != run_dir
    write_run_info(run_dir, OmegaConf.create({"seed": 3}), "train")
    assert "seed: 3" in (run_dir / "config.yaml").read_text()
    assert '"command": "train"' in (run_dir / "run.json").read_text()


def test_verbose_switch_sets_debug_level():
    configure(verbose=True)
    assert logging.getLogger("cardiosbi").level == logging.DEBUG
    configure(verbose=False)
    assert logging.getLogger("cardiosbi").level == logging.INFO
