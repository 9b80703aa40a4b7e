"""``cardiosbi train``: compose data, model and trainer configs, train, write the posterior."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from cardiosbi.errors import ConfigError
from cardiosbi.inference.config import NPEConfig
from cardiosbi.inference.sources import build_datamodule
from cardiosbi.inference.training import fit_posterior
from cardiosbi.utils.logging import quiet_lightning
from cardiosbi.utils.rundir import atomic_write_text, write_run_info

log = logging.getLogger(__name__)

_ACCELERATORS = {"auto": None, "cpu": "cpu", "cuda": "gpu", "gpu": "gpu"}


def npe_config(cfg: DictConfig) -> NPEConfig:
    """The typed :class:`NPEConfig` from the composed ``model``, ``trainer`` and ``seed``."""
    trainer = OmegaConf.to_container(cfg.trainer, resolve=True)
    device = str(cfg.get("device", "auto"))
    if device not in _ACCELERATORS:
        raise ConfigError(f"device={device!r} is unknown; use auto, cpu or cuda")
    if _ACCELERATORS[device] is not None:
        trainer["accelerator"] = _ACCELERATORS[device]
    model = OmegaConf.to_container(cfg.model, resolve=True)
    return NPEConfig.from_dict({"model": model, "trainer": trainer, "seed": int(cfg.seed)})


def train(cfg: DictConfig) -> int:
    """Train a posterior and write ``<out>/posterior.pt`` with config and training summary."""
    quiet_lightning()
    config = npe_config(cfg)
    out = Path(cfg.out)
    if config.trainer.checkpoint_dir is None:
        config.trainer.checkpoint_dir = str(out / "checkpoints")
    posterior = fit_posterior(build_datamodule(cfg.data, config), config)
    if rank_zero_only.rank != 0:
        return 0  # under DDP every rank trains; only rank 0 writes
    out.mkdir(parents=True, exist_ok=True)
    write_run_info(out, cfg, "train")
    posterior.save(out / "posterior.pt")
    summary = _summary(posterior)
    atomic_write_text(out / "training.json", json.dumps(summary, indent=2))
    print(f"posterior over {', '.join(posterior.parameter_names)} written to {out / 'posterior.pt'} "
          f"({summary['members'][0]['rows_used']} rows used)")
    return 0


def _summary(posterior) -> dict:
    members = getattr(posterior, "members", [posterior])
    return {
        "parameters": posterior.parameter_names,
        "units": posterior.units,
        "reject_width90": posterior.reject_width90.tolist(),
        "members": [m.training for m in members],
    }
