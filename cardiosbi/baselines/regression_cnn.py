"""Regression-CNN baseline: a direct inverse map x → θ̂ trained with MSE (no uncertainty).

The architecture is the CNN of Rudi, Bessac & Lenzi (2021) for FitzHugh–Nagumo parameter
estimation: three 1-D convolution layers with 8, 16 and 32 filters (each followed by ReLU and
max-pooling by 2), two dense layers of 32 units, and a linear output; the loss is the mean
squared error on standardised θ. It is the point-estimate reference our NPE posterior mean is
compared against in ``experiments/fhn/study.py``.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import lightning
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from cardiosbi.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass
class RegressionCNNConfig:
    """Architecture and training settings of the baseline."""

    filters: tuple[int, int, int] = (8, 16, 32)
    kernel_size: int = 5
    dense: tuple[int, int] = (32, 32)
    learning_rate: float = 1e-3
    batch_size: int = 64
    max_epochs: int = 200
    patience: int = 20
    val_fraction: float = 0.1
    seed: int = 0


class RegressionCNN(nn.Module):
    """Conv(8) → Conv(16) → Conv(32) → Dense(32) → Dense(32) → Linear(k), on (B, C, T) input."""

    def __init__(self, channels: int, length: int, n_outputs: int, config: RegressionCNNConfig):
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = channels
        for width in config.filters:
            layers += [nn.Conv1d(in_channels, width, config.kernel_size, padding=config.kernel_size // 2),
                       nn.ReLU(), nn.MaxPool1d(2)]
            in_channels = width
            length //= 2
        if length < 1:
            raise ConfigError("series too short for three pooling layers (need at least 8 samples)")
        dense: list[nn.Module] = [nn.Flatten()]
        features = in_channels * length
        for width in config.dense:
            dense += [nn.Linear(features, width), nn.ReLU()]
            features = width
        dense.append(nn.Linear(features, n_outputs))
        self.net = nn.Sequential(*layers, *dense)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class _RegressionModule(lightning.LightningModule):
    def __init__(self, model: RegressionCNN, learning_rate: float):
        super().__init__()
        self.model = model
        self.learning_rate = learning_rate

    def _loss(self, batch) -> Tensor:
        x, y = batch
        return nn.functional.mse_loss(self.model(x), y)

    def training_step(self, batch, batch_idx):
        loss = self._loss(batch)
        self.log("train_loss", loss, on_epoch=True, on_step=False)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", self._loss(batch), on_epoch=True, prog_bar=False)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.learning_rate)


class RegressionEstimator:
    """A trained baseline: standardisation statistics plus the network; ``predict`` gives θ̂."""

    def __init__(self, model: RegressionCNN, stats: dict[str, Tensor], names: list[str],
                 config: RegressionCNNConfig, training: dict | None = None):
        self.model = model.eval()
        self.stats = stats
        self.parameter_names = list(names)
        self.config = config
        self.training = training or {}

    @torch.no_grad()
    def predict(self, x: Tensor, batch_size: int = 4096) -> Tensor:
        """Point estimates θ̂ (B, k) in physical units for series ``x`` (B, T) or (B, C, T)."""
        x = _as_series(x)
        outputs = []
        for start in range(0, len(x), batch_size):
            xb = (x[start:start + batch_size] - self.stats["x_mean"]) / self.stats["x_std"]
            outputs.append(self.model(xb))
        return torch.cat(outputs) * self.stats["theta_std"] + self.stats["theta_mean"]

    def save(self, path: str | Path) -> None:
        """One file: weights, standardisation, names, config and the input shape."""
        torch.save({"state_dict": self.model.state_dict(), "stats": self.stats,
                    "names": self.parameter_names, "config": asdict(self.config),
                    "shape": self.training["input_shape"], "training": self.training}, path)


def load_regression_cnn(path: str | Path) -> RegressionEstimator:
    """Load a baseline saved with :meth:`RegressionEstimator.save`."""
    data = torch.load(path, map_location="cpu", weights_only=True)
    config = RegressionCNNConfig(**{k: tuple(v) if isinstance(v, list) else v
                                    for k, v in data["config"].items()})
    channels, length = data["shape"]
    model = RegressionCNN(channels, length, len(data["names"]), config)
    model.load_state_dict(data["state_dict"])
    return RegressionEstimator(model, data["stats"], data["names"], config, data["training"])


def _as_series(x) -> Tensor:
    x = torch.as_tensor(x, dtype=torch.float32)
    if x.ndim == 2:
        x = x[:, None, :]
    if x.ndim != 3:
        raise ConfigError(f"x must have shape (N, T) or (N, C, T); got {tuple(x.shape)}")
    return x


def train_regression_cnn(theta, x, names: list[str], config: RegressionCNNConfig | None = None,
                         ) -> RegressionEstimator:
    """Fit the baseline on simulations ``theta`` (N, k) and series ``x`` (N, T) or (N, C, T).

    Rows with non-finite values are dropped; early stopping on the validation MSE keeps the
    best epoch's weights.
    """
    config = config or RegressionCNNConfig()
    theta = torch.as_tensor(theta, dtype=torch.float32)
    x = _as_series(x)
    keep = torch.isfinite(theta).all(dim=1) & torch.isfinite(x).flatten(1).all(dim=1)
    theta, x = theta[keep], x[keep]
    if len(theta) < 10:
        raise ConfigError(f"need at least 10 valid simulations to train, got {len(theta)}")
    lightning.seed_everything(config.seed, workers=True, verbose=False)
    order = torch.randperm(len(theta), generator=torch.Generator().manual_seed(config.seed))
    n_val = max(1, int(round(config.val_fraction * len(theta))))
    val, train = order[:n_val], order[n_val:]
    stats = {
        "theta_mean": theta[train].mean(0), "theta_std": theta[train].std(0).clamp_min(1e-12),
        "x_mean": x[train].mean(dim=(0, 2), keepdim=True)[0],
        "x_std": x[train].std(dim=(0, 2), keepdim=True)[0].clamp_min(1e-12),
    }
    x_std = (x - stats["x_mean"]) / stats["x_std"]
    y_std = (theta - stats["theta_mean"]) / stats["theta_std"]
    loaders = [DataLoader(TensorDataset(x_std[idx], y_std[idx]), batch_size=config.batch_size,
                          shuffle=shuffle)
               for idx, shuffle in ((train, True), (val, False))]
    model = RegressionCNN(x.shape[1], x.shape[2], theta.shape[1], config)
    module = _RegressionModule(model, config.learning_rate)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        best = ModelCheckpoint(dirpath=scratch, monitor="val_loss", mode="min", save_top_k=1,
                               save_weights_only=True, filename="best")
        trainer = lightning.Trainer(
            max_epochs=config.max_epochs, accelerator="auto", deterministic=True, logger=False,
            callbacks=[best, EarlyStopping(monitor="val_loss", mode="min", patience=config.patience)],
            enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        )
        trainer.fit(module, *loaders)
        state = torch.load(best.best_model_path, map_location="cpu", weights_only=True)["state_dict"]
    module.load_state_dict(state)
    module.model.cpu()
    training = {"epochs": int(trainer.current_epoch), "best_val_mse": float(best.best_model_score),
                "train_seconds": round(time.perf_counter() - started, 2),
                "rows_used": int(len(theta)), "rows_dropped": int((~keep).sum()),
                "input_shape": [int(x.shape[1]), int(x.shape[2])]}
    log.info("regression CNN: %d epochs, best val MSE %.4f", training["epochs"], training["best_val_mse"])
    return RegressionEstimator(module.model, stats, names, config, training)
