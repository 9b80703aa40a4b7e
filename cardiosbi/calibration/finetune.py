"""Step 2 of RoPE: fine-tune a copy g of the NPE embedding h on a labelled real calibration set.

Loss (plain, not squared, Euclidean norm, as in the paper): mean over pairs of
‖g(x_o^i) − h(x_s^i)‖₂ with x_s^i a simulation at the pair's θ_i. On-the-fly simulation draws a
fresh x_s every step; when simulating is too costly, :class:`NearestSimulation` returns the
pre-computed simulation whose θ is closest (in prior-range units). Only g is trained (h and
the flow stay frozen); the checkpoint with the best loss on a held-out 20 % is kept.
"""

from __future__ import annotations

import copy
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import lightning
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from cardiosbi.errors import ConfigError
from cardiosbi.utils.progress import progress_bar

log = logging.getLogger(__name__)

# (θ (B, k) physical, generator) -> x_s (B, ...): one simulation per row.
Simulator = Callable[[Tensor, torch.Generator], Tensor]


@dataclass
class FineTuneConfig:
    learning_rate: float = 1e-4
    max_steps: int = 2000
    batch_size: int = 100
    val_fraction: float = 0.2
    val_every_steps: int = 50
    seed: int = 0

    def __post_init__(self) -> None:
        for key in ("max_steps", "batch_size", "val_every_steps"):
            if getattr(self, key) < 1:
                raise ConfigError(f"rope.fine_tuning.{key} must be >= 1, got {getattr(self, key)}")
        if not self.learning_rate > 0 or not 0 < self.val_fraction < 1:
            raise ConfigError("rope.fine_tuning.learning_rate must be > 0 and val_fraction in "
                              f"(0, 1); got {self.learning_rate}, {self.val_fraction}")


class NearestSimulation:
    """A simulator stand-in: the pre-computed simulation with the nearest θ (box-scaled L2)."""

    def __init__(self, theta_pool: Tensor, x_pool: Tensor, low: Tensor, high: Tensor) -> None:
        self.scale = (torch.as_tensor(high) - torch.as_tensor(low)).float()
        self.theta_pool = theta_pool.float() / self.scale
        self.x_pool = x_pool

    def __call__(self, theta: Tensor, generator: torch.Generator) -> Tensor:
        nearest = torch.cdist(theta.float().cpu() / self.scale, self.theta_pool).argmin(1)
        return self.x_pool[nearest]


class EncoderFineTuning(lightning.LightningModule):
    """Trains g to map real x onto the frozen embedding h of matching simulations."""

    def __init__(self, encoder: nn.Module, target_encoder: nn.Module, simulator: Simulator,
                 val_targets: Tensor, config: FineTuneConfig) -> None:
        super().__init__()
        self.encoder = encoder
        self.target_encoder = target_encoder.eval().requires_grad_(False)
        self.simulator = simulator
        self.register_buffer("val_targets", val_targets)
        self.config = config
        self.generator = torch.Generator().manual_seed(config.seed)

    def training_step(self, batch, batch_idx):
        theta, x_real = batch
        with torch.no_grad():
            target = self.target_encoder(self.simulator(theta, self.generator).to(x_real))
        loss = (self.encoder(x_real) - target).norm(dim=1).mean()
        self.log("train_loss", loss, prog_bar=False)
        return loss

    def validation_step(self, batch, batch_idx):
        index, x_real = batch
        loss = (self.encoder(x_real) - self.val_targets[index]).norm(dim=1).mean()
        self.log("val_loss", loss, batch_size=len(index))

    def configure_optimizers(self):
        return torch.optim.Adam(self.encoder.parameters(), lr=self.config.learning_rate)


def fine_tune_encoder(embedding_net: nn.Module, theta: Tensor, x_real: Tensor,
                      simulator: Simulator, config: FineTuneConfig | None = None, *,
                      embeds: bool = False, initial: nn.Module | None = None) -> nn.Module:
    """Return g: a fine-tuned copy of ``initial`` (default: of ``embedding_net``, h); neither
    is changed.

    ``embeds``: the simulator returns the embeddings h(x_s) of its simulations (precomputed,
    e.g. a shipped reference set) instead of x_s. ``initial``: a g that reads other real
    windows than h does (e.g. PPG -> decoded pressure -> a copy of h for a hybrid posterior);
    the untuned g it is compared with at the end is then ``initial`` itself."""
    config = config or FineTuneConfig()
    train_idx, val_idx = calibration_split(len(theta), config)
    n_val = len(val_idx)
    target = copy.deepcopy(embedding_net).cpu().eval()
    untuned_encoder = target if initial is None else copy.deepcopy(initial).cpu().eval()
    encoder = copy.deepcopy(untuned_encoder).train()
    simulated_embedding = nn.Identity() if embeds else target
    if not any(p.requires_grad for p in encoder.parameters()):
        raise ConfigError("the posterior's embedding has no trainable parameters, so there is "
                          "nothing to fine-tune; run the OT-only variant (rope.fine_tune=false)")
    with torch.no_grad():
        val_generator = torch.Generator().manual_seed(config.seed + 1)
        val_sims = simulator(theta[val_idx], val_generator).to(x_real.dtype)
        val_targets = simulated_embedding(val_sims)
    module = EncoderFineTuning(encoder, simulated_embedding, simulator, val_targets, config)
    train = DataLoader(TensorDataset(theta[train_idx], x_real[train_idx]),
                       batch_size=min(config.batch_size, len(train_idx)), shuffle=True,
                       generator=torch.Generator().manual_seed(config.seed))
    val = DataLoader(TensorDataset(torch.arange(n_val), x_real[val_idx]), batch_size=1024)
    with tempfile.TemporaryDirectory() as scratch:
        best = ModelCheckpoint(dirpath=scratch, monitor="val_loss", mode="min", save_top_k=1,
                               save_weights_only=True, filename="best")
        trainer = lightning.Trainer(
            max_steps=config.max_steps, callbacks=[best, _StepProgress(config.max_steps)],
            logger=False, accelerator="cpu",
            enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
            limit_val_batches=1.0, deterministic=True,
            **_validation_schedule(config, len(train)),
        )
        lightning.seed_everything(config.seed % 2**32, verbose=False)
        trainer.fit(module, train, val)
        state = torch.load(Path(best.best_model_path), map_location="cpu", weights_only=True)
    with torch.no_grad():
        untuned = float((untuned_encoder(x_real[val_idx]) - val_targets).norm(dim=1).mean())
    if untuned <= float(best.best_model_score):
        log.info("fine-tuning did not beat the untuned encoder (validation distance %.4f); "
                 "keeping the untuned one", untuned)
        return untuned_encoder
    module.load_state_dict(state["state_dict"])
    log.info("fine-tuned encoder: validation distance %.4f -> %.4f", untuned,
             float(best.best_model_score))
    return module.encoder.eval()


class _StepProgress(lightning.Callback):
    """One progress bar over the fine-tuning steps (Lightning's own bar prints per epoch)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.bar = None

    def on_train_start(self, trainer, module) -> None:
        self.bar = progress_bar(total=self.total, desc="fine-tuning encoder", unit="step")

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.bar.update(1)

    def on_train_end(self, trainer, module) -> None:
        self.bar.close()


def calibration_split(n: int, config: FineTuneConfig) -> tuple[Tensor, Tensor]:
    """The seeded (fit, validation) index split of a calibration set of ``n`` pairs."""
    n_val = max(1, round(config.val_fraction * n))
    if n - n_val < 1:
        raise ConfigError(f"a calibration set of {n} pairs is too small to split")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(config.seed))
    return order[n_val:], order[:n_val]


def _validation_schedule(config: FineTuneConfig, batches_per_epoch: int) -> dict:
    """Validate every ``val_every_steps`` optimiser steps whatever the epoch length."""
    if config.val_every_steps <= batches_per_epoch:
        return {"val_check_interval": config.val_every_steps}
    epochs = round(config.val_every_steps / batches_per_epoch)
    # at least one validation must fall inside max_steps, or no checkpoint would exist
    epochs = max(1, min(epochs, config.max_steps // batches_per_epoch))
    return {"check_val_every_n_epoch": epochs}
