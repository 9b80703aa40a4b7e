"""The LightningModule that trains an :class:`NPENetwork`."""

from __future__ import annotations

import lightning
import torch

from cardiosbi.errors import ConfigError
from cardiosbi.inference.config import TrainerConfig
from cardiosbi.inference.network import NPENetwork

LR_SCHEDULES = ("plateau", "cosine", "none")


class NPELightningModule(lightning.LightningModule):
    """Minimises the estimator loss (NLL for flows, flow-matching loss for FMPE)."""

    def __init__(self, network: NPENetwork, config: TrainerConfig) -> None:
        super().__init__()
        if config.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(
                f"trainer.lr_schedule={config.lr_schedule!r} is unknown; use one of {', '.join(LR_SCHEDULES)}"
            )
        self.network = network
        self.config = config

    def training_step(self, batch, batch_idx):
        theta, x = batch
        loss = self.network.loss(theta, x)
        if not torch.isfinite(loss):
            # Stop instead of corrupting the weights (BayesFlow #23, normflows #73).
            raise FloatingPointError(f"non-finite training loss at step {self.global_step}")
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=len(theta), sync_dist=True)
        return loss

    def validation_step(self, batch, batch_idx):
        theta, x = batch
        loss = self.network.loss(theta, x)
        self.log("val_loss", loss, on_epoch=True, prog_bar=True, batch_size=len(theta), sync_dist=True)

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(
            self.parameters(), lr=self.config.learning_rate, weight_decay=self.config.weight_decay
        )
        if self.config.lr_schedule == "none":
            return optimizer
        if self.config.lr_schedule == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.config.max_epochs)
            return {"optimizer": optimizer, "lr_scheduler": scheduler}
        patience = max(1, self.config.patience // 2)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=patience)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": "val_loss"}}
