"""``cardiosbi simulate``: the hydra config in, a sharded resumable Zarr store out."""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from cardiosbi.datasets.build import build_dataset
from cardiosbi.datasets.generate import DatasetSpec
from cardiosbi.datasets.launcher import LauncherConfig
from cardiosbi.datasets.prior import PriorConfig
from cardiosbi.datasets.simulation import SimulatorConfig
from cardiosbi.errors import ConfigError
from cardiosbi.utils.config import to_dataclass
from cardiosbi.utils.rundir import write_run_info
from simulators.measurement import MeasurementConfig

log = logging.getLogger(__name__)


def spec_from_config(cfg: DictConfig) -> DatasetSpec:
    """The typed dataset spec of a composed ``simulate`` config (unknown keys -> ConfigError)."""
    return DatasetSpec(
        seed=int(cfg.seed), n=int(cfg.n), shard_size=int(cfg.shard_size),
        oversample=float(cfg.oversample),
        prior=to_dataclass(cfg.prior, PriorConfig, "prior"),
        simulator=to_dataclass(cfg.simulator, SimulatorConfig, "simulator"),
        measurement=to_dataclass(cfg.measurement, MeasurementConfig, "measurement"),
    )


def simulate(cfg: DictConfig) -> int:
    """Handler of ``cardiosbi simulate``; prints where the store and its summary are."""
    spec = spec_from_config(cfg)
    if spec.oversample < 0:
        raise ConfigError(f"oversample={spec.oversample}: must be >= 0")
    launcher = to_dataclass(cfg.launcher, LauncherConfig, "launcher")
    root = Path(str(cfg.out))
    summary = build_dataset(root, spec, launcher, device=str(cfg.device), plots=bool(cfg.plots),
                            on_ready=lambda: write_run_info(root, cfg, "simulate"))
    reasons = ", ".join(f"{k} {v}" for k, v in summary["failures_by_reason"].items()) or "none"
    print(f"store: {summary['store']} ({summary['accepted']} samples, "
          f"{len(OmegaConf.to_container(cfg.simulator.channels))} channels)")
    print(f"failed candidates: {sum(summary['failures_by_reason'].values())} of "
          f"{summary['attempted']} ({reasons}); prior draws rejected by constraints: "
          f"{100 * summary['prior_rejected_fraction']:.1f}%")
    print(f"summary: {root / 'summary'}")
    return 0
