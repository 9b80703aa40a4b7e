"""Small dataset specs shared by the dataset tests (windkessel simulator: fast and exact;
the 1D solver, the default of `cardiosbi simulate`, takes CPU-minutes per subject)."""

from __future__ import annotations

from cardiosbi.cli.main import compose
from cardiosbi.datasets.cli import spec_from_config


def small_spec(n=40, shard_size=10, *overrides, simulator="windkessel"):
    """A composed `simulate` spec with 4-s windows, 256-phase beats and extra overrides."""
    cfg = compose("simulate", [f"n={n}", f"shard_size={shard_size}", f"simulator={simulator}",
                               "measurement.window_s=4", "simulator.n_phase=256", *overrides])
    return spec_from_config(cfg)
