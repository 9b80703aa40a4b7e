"""Supervised baseline on real labels: PPG window → Gaussian (mean, SD) per reference label.

The hybrid model's strongest competitor where labels exist (HR from the ECG, MAP/SBP/DBP from
an arterial line): the same residual CNN embedding as the NPE (:class:`ResNet1dEmbedding`), a
linear head giving a mean and a log-SD per label, trained by the Gaussian negative
log-likelihood on the labels that are finite (a window without an ECG still teaches pressure).
Its 90 % interval is mean ± 1.645 SD. It needs real labels for every quantity it predicts, so
it has nothing to say about SV, CO, SVR or LVET.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass

import lightning
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from cardiosbi.errors import ConfigError
from cardiosbi.nn.resnet1d import ResNet1dEmbedding

_Z90 = 1.6448536269514722  # standard normal 95th percentile


@dataclass
class SupervisedConfig:
    channels: tuple[int, ...] = (16, 32, 64, 64)
    features: int = 64
    kernel_size: int = 7
    learning_rate: float = 1e-3
    batch_size: int = 64
    max_epochs: int = 60
    patience: int = 10
    seed: int = 0


class _Network(nn.Module):
    def __init__(self, n_labels: int, config: SupervisedConfig) -> None:
        super().__init__()
        self.embedding = ResNet1dEmbedding(1, config.features, config.channels, config.kernel_size)
        self.head = nn.Linear(config.features, 2 * n_labels)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mean, log_sd = self.head(self.embedding(x)).chunk(2, dim=-1)
        return mean, log_sd.clamp(-6.0, 3.0)


def _masked_nll(mean: Tensor, log_sd: Tensor, y: Tensor) -> Tensor:
    """Mean Gaussian NLL over the finite labels of the batch."""
    finite = torch.isfinite(y)
    z = (torch.where(finite, y, mean) - mean) / log_sd.exp()
    nll = 0.5 * z**2 + log_sd
    return (nll * finite).sum() / finite.sum().clamp_min(1)


class _Module(lightning.LightningModule):
    def __init__(self, network: _Network, learning_rate: float) -> None:
        super().__init__()
        self.network, self.learning_rate = network, learning_rate

    def _loss(self, batch) -> Tensor:
        x, y = batch
        return _masked_nll(*self.network(x), y)

    def training_step(self, batch, _index):
        loss = self._loss(batch)
        self.log("train_loss", loss, on_epoch=True, on_step=False)
        return loss

    def validation_step(self, batch, _index):
        self.log("val_loss", self._loss(batch), on_epoch=True, on_step=False)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.learning_rate)


class SupervisedRegressor:
    """A trained baseline: ``predict`` gives per-label mean, SD and the 90 % interval."""

    def __init__(self, network: _Network, names: list[str], label_mean: Tensor,
                 label_std: Tensor, training: dict) -> None:
        self.network = network.eval()
        self.names, self.training = list(names), training
        self.label_mean, self.label_std = label_mean, label_std

    @torch.no_grad()
    def predict(self, ppg: np.ndarray, batch_size: int = 512) -> dict[str, np.ndarray]:
        """``ppg`` (N, T) z-scored windows -> {'mean', 'sd', 'low90', 'high90'}: (N, k) arrays
        in the labels' units."""
        x = torch.as_tensor(ppg, dtype=torch.float32)[:, None]
        means, sds = [], []
        for block in x.split(batch_size):
            mean, log_sd = self.network(block)
            means.append(mean * self.label_std + self.label_mean)
            sds.append(log_sd.exp() * self.label_std)
        mean, sd = torch.cat(means).numpy(), torch.cat(sds).numpy()
        return {"mean": mean, "sd": sd, "low90": mean - _Z90 * sd, "high90": mean + _Z90 * sd}


def train_supervised(ppg: np.ndarray, labels: np.ndarray, names: list[str],
                     val_ppg: np.ndarray, val_labels: np.ndarray,
                     config: SupervisedConfig | None = None) -> SupervisedRegressor:
    """Fit on ``ppg`` (N, T) z-scored windows and ``labels`` (N, k, NaN = missing); early
    stopping on the validation windows (take them from other records than the training ones)."""
    config = config or SupervisedConfig()
    labels = np.asarray(labels, dtype=np.float32)
    if labels.ndim != 2 or labels.shape[1] != len(names) or len(labels) != len(ppg):
        raise ConfigError(f"labels must be (N, {len(names)}) for N = {len(ppg)} windows")
    if np.isfinite(labels).sum(axis=0).min() < 10:
        raise ConfigError("each label needs at least 10 finite training values")
    lightning.seed_everything(config.seed, workers=True, verbose=False)
    mean = torch.from_numpy(np.nanmean(labels, axis=0))
    std = torch.from_numpy(np.nanstd(labels, axis=0)).clamp_min(1e-6)

    def loader(x, y, shuffle):
        y_std = (torch.from_numpy(np.asarray(y, np.float32)) - mean) / std
        data = TensorDataset(torch.as_tensor(x, dtype=torch.float32)[:, None], y_std)
        return DataLoader(data, batch_size=config.batch_size, shuffle=shuffle,
                          generator=torch.Generator().manual_seed(config.seed))

    module = _Module(_Network(len(names), config), config.learning_rate)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        best = ModelCheckpoint(dirpath=scratch, monitor="val_loss", save_top_k=1,
                               save_weights_only=True, filename="best")
        trainer = lightning.Trainer(
            max_epochs=config.max_epochs, accelerator="cpu", logger=False,
            callbacks=[best, EarlyStopping("val_loss", patience=config.patience)],
            enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
        trainer.fit(module, loader(ppg, labels, True), loader(val_ppg, val_labels, False))
        state = torch.load(best.best_model_path, map_location="cpu", weights_only=True)
    module.load_state_dict(state["state_dict"])
    training = {"epochs": int(trainer.current_epoch), "best_val_nll": float(best.best_model_score),
                "train_seconds": round(time.perf_counter() - started, 1), "rows": len(ppg)}
    return SupervisedRegressor(module.network, names, mean, std, training)
