"""Small dataset specs shared by the dataset tests (windkessel simulator: fast and exact)."""

from __future__ import annotations

import pytest

from cardiosbi.cli.main import compose
from cardiosbi.datasets.cli import spec_from_config


def small_spec(n=40, shard_size=10, *overrides):
    cfg = compose("simulate", [f"n={n}", f"shard_size={shard_size}", "measurement.window_s=4",
                               "simulator.n_phase=256", *overrides])
    return spec_from_config(cfg)


@pytest.fixture
def spec():
    return small_spec()
