"""Train NPE posteriors: ``train_npe`` (tensors in, posterior out) and ``fit_posterior``."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import lightning
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from torch import Tensor

from cardiosbi.errors import ConfigError
from cardiosbi.inference.config import NPEConfig
from cardiosbi.inference.data import NPEDataModule, TensorDataModule
from cardiosbi.inference.ensemble import EnsemblePosterior
from cardiosbi.inference.estimators import check_estimator_options
from cardiosbi.inference.module import LR_SCHEDULES, NPELightningModule
from cardiosbi.inference.network import NPENetwork
from cardiosbi.inference.npe_posterior import NPEPosterior
from cardiosbi.inference.posterior import Posterior
from cardiosbi.nn.factory import resolve_kind
from cardiosbi.utils.seeding import child_seeds

log = logging.getLogger(__name__)


def train_npe(
    theta: Tensor,
    x: Tensor,
    names: Sequence[str],
    low: Tensor,
    high: Tensor,
    config: NPEConfig | None = None,
    status: Tensor | None = None,
    units: Sequence[str] | None = None,
) -> Posterior:
    """Train an NPE posterior on in-memory simulations.

    ``theta`` (N, k) in physical units inside ``[low, high]`` (use +-inf for unbounded
    dimensions); ``x`` (N, D) vectors or (N, C, T) series; ``status`` (N,) 0 = ok. Rows with a
    failed status or NaN/inf values never reach training (counted and logged). Returns an
    :class:`NPEPosterior`, or an :class:`EnsemblePosterior` when ``model.ensemble_size`` > 1.
    """
    config = config or NPEConfig()
    x = torch.as_tensor(x)
    check_config(config, tuple(x.shape[1:]))
    datamodule = TensorDataModule(
        theta, x, names, low, high, status=status,
        val_fraction=config.trainer.val_fraction, batch_size=config.trainer.batch_size,
        seed=config.seed, allow_missing_x=config.model.embedding.missing_mask,
        num_workers=config.trainer.num_workers,
    )
    return fit_posterior(datamodule, config, units=units)


def check_config(config: NPEConfig, x_shape: tuple[int, ...]) -> None:
    """Raise :class:`ConfigError` for settings that cannot work, before any data is touched."""
    resolve_kind(config.model.embedding, x_shape)
    check_estimator_options(config.model.estimator)
    if config.trainer.lr_schedule not in LR_SCHEDULES:
        raise ConfigError(f"trainer.lr_schedule={config.trainer.lr_schedule!r} is unknown; "
                          f"use one of {', '.join(LR_SCHEDULES)}")
    counts = {"model.ensemble_size": config.model.ensemble_size,
              "trainer.batch_size": config.trainer.batch_size,
              "trainer.max_epochs": config.trainer.max_epochs}
    for key, value in counts.items():
        if value < 1:
            raise ConfigError(f"{key} must be >= 1, got {value}")
    if not 0 <= config.seed < 2**32:
        raise ConfigError(f"seed must be in [0, 2**32), got {config.seed}")


def fit_posterior(
    datamodule: NPEDataModule, config: NPEConfig, units: Sequence[str] | None = None
) -> Posterior:
    """Train ``model.ensemble_size`` members on ``datamodule`` and calibrate the reject threshold."""
    check_config(config, datamodule.x_shape)
    units = units if units is not None else getattr(datamodule, "units", None)
    size = config.model.ensemble_size
    # Lightning seeds NumPy too, which takes 32-bit seeds only.
    seeds = [config.seed] if size == 1 else [s % 2**32 for s in child_seeds(config.seed, size, key=5)]
    members = [_fit_member(datamodule, config, seed, units) for seed in seeds]
    posterior: Posterior = members[0] if size == 1 else EnsemblePosterior(members)
    posterior.reject_width90 = calibrate_reject_threshold(posterior, datamodule, config)
    posterior.input_spec = getattr(datamodule, "input_spec", None)
    return posterior


def _fit_member(datamodule, config: NPEConfig, seed: int, units) -> NPEPosterior:
    lightning.seed_everything(seed, workers=True, verbose=False)
    network = NPENetwork(
        datamodule.x_shape, datamodule.low, datamodule.high,
        config.model.embedding, config.model.estimator,
    )
    theta_sample, x_sample = datamodule.normalization_sample()
    network.fit_standardization(theta_sample, x_sample)
    module = NPELightningModule(network, config.trainer)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        checkpoint_dir = Path(config.trainer.checkpoint_dir or scratch) / f"seed{seed}"
        trainer, best = _trainer(config, checkpoint_dir)
        trainer.fit(module, datamodule=datamodule)
        if not best.best_model_path:
            raise RuntimeError("training produced no checkpoint (no validation epoch ran)")
        state = torch.load(best.best_model_path, map_location="cpu", weights_only=True)["state_dict"]
        # Under DDP every rank reads rank 0's checkpoint; keep it until all have read it.
        trainer.strategy.barrier("best-checkpoint-loaded")
    module.load_state_dict(state)
    summary = {
        "seed": seed,
        "epochs": int(trainer.current_epoch),
        "best_val_loss": float(best.best_model_score),
        "train_seconds": round(time.perf_counter() - started, 2),
        "rows_dropped": datamodule.rows_dropped,
        "rows_used": datamodule.rows_used,
        # Share of training windows with missing samples: a mask channel only means something
        # to a model that saw gaps (NPEPosterior.reads_gaps).
        "windows_with_gaps": gap_share(x_sample),
        "history": next(c for c in trainer.callbacks if isinstance(c, LossHistory)).rows,
    }
    log.info("trained seed %d: %d epochs, best val loss %.4f", seed, summary["epochs"], summary["best_val_loss"])
    network = module.network.cpu().eval()
    return NPEPosterior(network, config, datamodule.parameter_names, units, training=summary)


def gap_share(x: Tensor) -> float:
    """Share of the rows of ``x`` (N, ...) with at least one NaN sample."""
    return float(torch.isnan(torch.as_tensor(x)).reshape(len(x), -1).any(dim=1).float().mean())


class LossHistory(Callback):
    """Records the epoch-mean training and validation losses (saved in the training summary).

    ``on_train_epoch_end`` runs after the epoch's validation, so both losses are this epoch's.
    """

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        metrics = trainer.callback_metrics
        row = {"epoch": int(trainer.current_epoch)}
        for name in ("train_loss", "val_loss"):
            if name in metrics:
                row[name] = round(float(metrics[name]), 6)
        self.rows.append(row)


def _trainer(config: NPEConfig, checkpoint_dir: Path):
    settings = config.trainer
    best = ModelCheckpoint(dirpath=checkpoint_dir, monitor="val_loss", mode="min",
                           save_top_k=1, save_weights_only=True, filename="best")
    stop = EarlyStopping(monitor="val_loss", mode="min", patience=settings.patience)
    trainer = lightning.Trainer(
        max_epochs=settings.max_epochs,
        min_epochs=settings.min_epochs,
        accelerator=settings.accelerator,
        devices=settings.devices,
        strategy=settings.strategy,
        gradient_clip_val=settings.gradient_clip,
        deterministic=settings.deterministic,
        callbacks=[best, stop, LossHistory()],
        logger=False,
        enable_progress_bar=settings.progress_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    return trainer, best


@torch.no_grad()
def calibrate_reject_threshold(posterior: Posterior, datamodule, config: NPEConfig) -> Tensor:
    """Per-parameter reject threshold: the ``reject_quantile`` of 90 % interval widths on
    validation simulations. A window wider than that is less informative than
    ``reject_quantile`` of the simulations the model was trained for."""
    settings = config.trainer
    _, x = datamodule.validation_tensors()
    x = x[: settings.reject_calibration_rows]
    generator = torch.Generator().manual_seed(config.seed)
    draws = posterior.sample((settings.reject_calibration_samples,), x=x, generator=generator).double()
    bounds = torch.quantile(draws, torch.tensor([0.05, 0.95], dtype=torch.float64), dim=0)
    widths = bounds[1] - bounds[0]
    return torch.quantile(widths, settings.reject_quantile, dim=0)
