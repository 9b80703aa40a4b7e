"""Train the PPG→APW CVAE with Lightning: record-level validation, KL warm-up, resumable.

Validation windows come from whole records held out of training (never a neighbouring window
of a training record). With ``checkpoint_dir`` set, Lightning writes ``last.ckpt`` every epoch
and a re-run resumes from it (weights, optimiser, early-stopping state and epoch), so a killed
training loses at most one epoch.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import lightning
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

from cardiosbi.errors import ConfigError
from cardiosbi.hybrid.model import CVAEConfig, PressureCVAE
from cardiosbi.hybrid.pairs import PairSet

log = logging.getLogger(__name__)


@dataclass
class HybridTrainerConfig:
    """Optimisation settings (hydra key ``training`` of ``train_hybrid``)."""

    max_epochs: int = 150
    min_epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 1e-5
    patience: int = 20
    val_records: float = 0.15     # fraction of records held out for validation
    kl_warmup_epochs: int = 10    # KL weight rises linearly from 0 to 1 (avoids early collapse)
    gradient_clip: float = 5.0
    accelerator: str = "auto"
    progress_bar: bool = True

    def check(self) -> None:
        for key in ("max_epochs", "batch_size", "patience"):
            if getattr(self, key) < 1:
                raise ConfigError(f"training.{key} must be >= 1, got {getattr(self, key)}")
        if not 0 < self.val_records < 1:
            raise ConfigError(f"training.val_records must be in (0, 1), got {self.val_records}")
        if self.learning_rate <= 0 or self.kl_warmup_epochs < 0:
            raise ConfigError("training.learning_rate must be > 0 and kl_warmup_epochs >= 0")


class CVAEModule(lightning.LightningModule):
    """-ELBO per window (NLL + beta * KL, beta warmed up), Adam with a plateau schedule."""

    def __init__(self, cvae: PressureCVAE, config: HybridTrainerConfig) -> None:
        super().__init__()
        self.cvae, self.config = cvae, config

    def _beta(self) -> float:
        warmup = self.config.kl_warmup_epochs
        return 1.0 if warmup == 0 else min(1.0, (self.current_epoch + 1) / warmup)

    def _step(self, batch, stage: str) -> torch.Tensor:
        ppg, apw = batch
        terms = self.cvae.loss_terms(ppg, apw)
        beta = self._beta() if stage == "train" else 1.0
        loss = (terms["nll"] + beta * terms["kl"]).mean()
        size = len(ppg)
        self.log(f"{stage}_loss", loss, on_epoch=True, on_step=False, batch_size=size,
                 prog_bar=stage == "val")
        self.log(f"{stage}_kl", terms["kl"].mean(), on_epoch=True, on_step=False, batch_size=size)
        self.log(f"{stage}_rmse_mmhg", terms["rmse"].mean(), on_epoch=True, on_step=False,
                 batch_size=size, prog_bar=stage == "val")
        return loss

    def training_step(self, batch, _index):
        return self._step(batch, "train")

    def validation_step(self, batch, _index):
        return self._step(batch, "val")

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=self.config.learning_rate,
                                      weight_decay=self.config.weight_decay)
        schedule = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=0.5, patience=max(1, self.config.patience // 3))
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": schedule, "monitor": "val_loss"}}


class _History(Callback):
    """Epoch rows of the logged losses (kept in the model file's training summary)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []

    def on_train_epoch_end(self, trainer, _module) -> None:
        row = {"epoch": int(trainer.current_epoch)}
        for key in ("train_loss", "val_loss", "val_kl", "val_rmse_mmhg"):
            if key in trainer.callback_metrics:
                row[key] = round(float(trainer.callback_metrics[key]), 4)
        self.rows.append(row)


def split_records(records: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Bool mask of pairs whose record is held out for validation (at least one record)."""
    unique = np.unique(records)
    if len(unique) < 2:
        raise ConfigError("the hybrid needs pairs from at least 2 records (one for validation)")
    rng = np.random.default_rng(seed)
    n_val = min(len(unique) - 1, max(1, int(round(fraction * len(unique)))))
    held = set(rng.permutation(unique)[:n_val])
    return np.array([r in held for r in records])


def _loader(ppg: np.ndarray, apw: np.ndarray, batch_size: int, shuffle: bool, seed: int):
    data = TensorDataset(torch.from_numpy(ppg[:, None]).float(), torch.from_numpy(apw[:, None]).float())
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle, generator=generator)


def fit_cvae(pairs: PairSet, model: CVAEConfig, trainer: HybridTrainerConfig, seed: int = 0,
             checkpoint_dir: str | Path | None = None, initial: PressureCVAE | None = None,
             validation: PairSet | None = None) -> tuple[PressureCVAE, dict]:
    """Train a CVAE on ``pairs``; returns the best-validation network and a training summary.

    ``validation``: pairs to validate on; by default ``training.val_records`` of the records
    in ``pairs`` are held out. ``initial``: a network to start from (fine-tuning after
    pre-training on simulated pairs); its pressure standardisation is kept.
    """
    trainer.check()
    if validation is None:
        held = split_records(pairs.records, trainer.val_records, seed)
        validation, pairs = pairs.subset(held), pairs.subset(~held)
    lightning.seed_everything(seed, workers=True, verbose=False)
    if initial is not None:
        cvae = initial
    else:
        cvae = PressureCVAE(pairs.apw.shape[1], model, float(pairs.apw.mean()), float(pairs.apw.std()))
    module = CVAEModule(cvae.train(), trainer)  # a pre-trained network comes back in eval mode
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(checkpoint_dir or scratch)
        best = ModelCheckpoint(dirpath=directory, monitor="val_loss", mode="min", save_top_k=1,
                               filename="best", save_last=True)
        history = _History()
        fit = lightning.Trainer(
            max_epochs=trainer.max_epochs, min_epochs=min(trainer.min_epochs, trainer.max_epochs),
            accelerator=trainer.accelerator, devices=1, gradient_clip_val=trainer.gradient_clip,
            callbacks=[best, EarlyStopping("val_loss", patience=trainer.patience), history],
            logger=False, enable_progress_bar=trainer.progress_bar, enable_model_summary=False,
            num_sanity_val_steps=0)
        last = directory / "last.ckpt"
        resume = str(last) if checkpoint_dir is not None and last.exists() else None
        if resume:
            log.info("resuming the CVAE training from %s", last)
        fit.fit(module, _loader(pairs.ppg, pairs.apw, trainer.batch_size, True, seed),
                _loader(validation.ppg, validation.apw, 256, False, seed), ckpt_path=resume)
        state = torch.load(best.best_model_path, map_location="cpu", weights_only=True)["state_dict"]
    module.load_state_dict(state)
    summary = {"seed": seed, "epochs": int(fit.current_epoch), "resumed": bool(resume),
               "best_val_loss": float(best.best_model_score),
               "train_pairs": len(pairs), "val_pairs": len(validation),
               "train_records": sorted(set(map(str, pairs.records))),
               "val_records": sorted(set(map(str, validation.records))),
               "train_seconds": round(time.perf_counter() - started, 1), "history": history.rows}
    return module.cvae.cpu().eval(), summary
